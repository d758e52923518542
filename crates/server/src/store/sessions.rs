//! Admin-center sessions and one-time enrollment links: the rows behind
//! `web::session` (secrets are stored only as SHA-256 hashes; the caller
//! hashes them).

use crate::db::{get_i64, Db};
use crate::error::ApiResult;
use sqlx::Row;

/// A session row.
pub struct StoredSession {
    pub user_id: String,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// Stores a session (dropping expired ones in the same transaction).
pub async fn insert_session(
    db: &Db,
    id_hash: &str,
    tenant_id: &str,
    user_id: &str,
    csrf_token: &str,
    now: i64,
    expires_at: i64,
) -> ApiResult<()> {
    let mut tx = db.write().begin().await?;
    sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO web_sessions (id_hash, tenant_id, user_id, csrf_token, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id_hash)
    .bind(tenant_id)
    .bind(user_id)
    .bind(csrf_token)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The session `id_hash` of `tenant_id`, expired or not.
pub async fn find_session(
    db: &Db,
    id_hash: &str,
    tenant_id: &str,
) -> ApiResult<Option<StoredSession>> {
    let row = sqlx::query(
        "SELECT user_id, csrf_token, expires_at FROM web_sessions WHERE id_hash = $1 AND tenant_id = $2",
    )
    .bind(id_hash)
    .bind(tenant_id)
    .fetch_optional(db.read())
    .await?;
    Ok(match row {
        None => None,
        Some(r) => Some(StoredSession {
            user_id: r.try_get("user_id")?,
            csrf_token: r.try_get("csrf_token")?,
            expires_at: get_i64(&r, "expires_at")?,
        }),
    })
}

pub async fn delete_session(db: &Db, id_hash: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(db.write())
        .await?;
    Ok(())
}

/// An enrollment link's row.
pub struct StoredEnrollment {
    pub token_hash: String,
    pub tenant_id: String,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert_enrollment(db: &Db, e: &StoredEnrollment) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO admin_enrollments (token_hash, tenant_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&e.token_hash)
    .bind(&e.tenant_id)
    .bind(&e.user_id)
    .bind(e.created_at)
    .bind(e.expires_at)
    .execute(db.write())
    .await?;
    Ok(())
}

/// The link `token_hash` of `tenant_id`: (user id, expiry), left in place.
pub async fn find_enrollment(
    db: &Db,
    token_hash: &str,
    tenant_id: &str,
) -> ApiResult<Option<(String, i64)>> {
    let row = sqlx::query(
        "SELECT user_id, expires_at FROM admin_enrollments WHERE token_hash = $1 AND tenant_id = $2",
    )
    .bind(token_hash)
    .bind(tenant_id)
    .fetch_optional(db.read())
    .await?;
    Ok(match row {
        None => None,
        Some(r) => Some((r.try_get("user_id")?, get_i64(&r, "expires_at")?)),
    })
}

/// Takes the link `token_hash` out of the store (single use: one
/// `DELETE … RETURNING`, so two requests can never both take it).
pub async fn take_enrollment(
    db: &Db,
    token_hash: &str,
    tenant_id: &str,
) -> ApiResult<Option<StoredEnrollment>> {
    let row = sqlx::query(
        "DELETE FROM admin_enrollments WHERE token_hash = $1 AND tenant_id = $2 \
         RETURNING user_id, created_at, expires_at",
    )
    .bind(token_hash)
    .bind(tenant_id)
    .fetch_optional(db.write())
    .await?;
    Ok(match row {
        None => None,
        Some(r) => Some(StoredEnrollment {
            token_hash: token_hash.to_owned(),
            tenant_id: tenant_id.to_owned(),
            user_id: r.try_get("user_id")?,
            created_at: get_i64(&r, "created_at")?,
            expires_at: get_i64(&r, "expires_at")?,
        }),
    })
}

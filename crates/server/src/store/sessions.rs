//! Admin-center sessions and one-time enrollment links: the rows behind
//! `web::session` (secrets are stored only as SHA-256 hashes; the caller
//! hashes them).

use crate::db::Db;
use crate::error::ApiResult;
use crate::store::sql::{args, execute, fetch_optional, On};

/// A session row.
pub struct StoredSession {
    /// The signed-in user.
    pub user_id: String,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
}

/// Stores a session, dropping expired ones in the same write.
pub async fn insert_session(
    db: &Db,
    id_hash: &str,
    tenant_id: &str,
    user_id: &str,
    csrf_token: &str,
    now: i64,
    expires_at: i64,
) -> ApiResult<()> {
    let row = [id_hash, tenant_id, user_id, csrf_token].map(str::to_owned);
    db.write_job(None, move |ctx| {
        Box::pin(async move {
            let [id_hash, tenant_id, user_id, csrf_token] = &row;
            execute(
                On::Job(ctx),
                "DELETE FROM web_sessions WHERE expires_at < $1",
                args![now],
            )
            .await?;
            execute(
                On::Job(ctx),
                "INSERT INTO web_sessions (id_hash, tenant_id, user_id, csrf_token, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                args![id_hash, tenant_id, user_id, csrf_token, now, expires_at],
            )
            .await
            .map(drop)
        })
    })
    .await
}

/// The session `id_hash` of `tenant_id`, expired or not.
pub async fn find_session(
    db: &Db,
    id_hash: &str,
    tenant_id: &str,
) -> ApiResult<Option<StoredSession>> {
    fetch_optional(
        On::Read(db),
        "SELECT user_id, csrf_token, expires_at FROM web_sessions WHERE id_hash = $1 AND tenant_id = $2",
        args![id_hash, tenant_id],
        |r| {
            Ok(StoredSession {
                user_id: r.text("user_id")?,
                csrf_token: r.text("csrf_token")?,
                expires_at: r.int("expires_at")?,
            })
        },
    )
    .await
}

/// Ends a session (by the hash of its id).
pub async fn delete_session(db: &Db, id_hash: &str) -> ApiResult<()> {
    execute(
        On::Write(db),
        "DELETE FROM web_sessions WHERE id_hash = $1",
        args![id_hash],
    )
    .await
    .map(drop)
}

/// An enrollment link's row.
pub struct StoredEnrollment {
    /// SHA-256 of the link's token (the token itself is never stored).
    pub token_hash: String,
    /// The tenant.
    pub tenant_id: String,
    /// The user who may enroll.
    pub user_id: String,
    /// When it was issued (Unix seconds).
    pub created_at: i64,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
}

/// Stores an enrollment link.
pub async fn insert_enrollment(db: &Db, e: &StoredEnrollment) -> ApiResult<()> {
    execute(
        On::Write(db),
        "INSERT INTO admin_enrollments (token_hash, tenant_id, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
        args![
            &e.token_hash,
            &e.tenant_id,
            &e.user_id,
            e.created_at,
            e.expires_at
        ],
    )
    .await
    .map(drop)
}

/// The link `token_hash` of `tenant_id`: (user id, expiry), left in place.
pub async fn find_enrollment(
    db: &Db,
    token_hash: &str,
    tenant_id: &str,
) -> ApiResult<Option<(String, i64)>> {
    fetch_optional(
        On::Read(db),
        "SELECT user_id, expires_at FROM admin_enrollments WHERE token_hash = $1 AND tenant_id = $2",
        args![token_hash, tenant_id],
        |r| Ok((r.text("user_id")?, r.int("expires_at")?)),
    )
    .await
}

/// Takes the link `token_hash` out of the store (single use: one
/// `DELETE … RETURNING`, so two requests can never both take it).
pub async fn take_enrollment(
    db: &Db,
    token_hash: &str,
    tenant_id: &str,
) -> ApiResult<Option<StoredEnrollment>> {
    fetch_optional(
        On::Write(db),
        "DELETE FROM admin_enrollments WHERE token_hash = $1 AND tenant_id = $2 \
         RETURNING user_id, created_at, expires_at",
        args![token_hash, tenant_id],
        |r| {
            Ok(StoredEnrollment {
                token_hash: token_hash.to_owned(),
                tenant_id: tenant_id.to_owned(),
                user_id: r.text("user_id")?,
                created_at: r.int("created_at")?,
                expires_at: r.int("expires_at")?,
            })
        },
    )
    .await
}

//! Single-use, expiring challenges (registration) and sign-in flows. A
//! challenge is consumed by one `DELETE … RETURNING`, so two requests can
//! never both use it, whatever the number of server instances.

use crate::db::{get_i64, Db};
use crate::error::{ApiError, ApiResult};
use crate::time_util::now_unix;
use crate::writer::{Conn, JobCtx};
use sqlx::Row;

/// What a challenge was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Create,
    Get,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Create => "create",
            Purpose::Get => "get",
        }
    }
}

/// A consumed challenge.
#[derive(Debug, Clone)]
pub struct Issued {
    pub challenge: String,
    pub user_id: Option<String>,
}

/// A fresh random challenge: 32 random bytes, base64url-encoded into ASCII
/// text, and that text base64url-encoded again — the shape of Entra's
/// challenges (base64url of ASCII text, GRAPH_FIDO2_API.md §8). Base64 of
/// text drawn from `A–Z a–z 0–9 - _` never yields `-` or `_` (a sextet of
/// 62 or 63 would need a byte whose low six bits are 62 or 63), so public
/// clients that decode the challenge with *standard* base64 after padding
/// it read it right; the entropy stays 256 bits.
pub fn random_challenge() -> String {
    let text = webauthn::b64::encode(rand::random::<[u8; 32]>());
    webauthn::b64::encode(text.as_bytes())
}

/// Stores a challenge under `id` (the challenge itself for registrations,
/// the flow id for sign-ins).
pub async fn store(
    ctx: &mut JobCtx,
    id: &str,
    challenge: &str,
    tenant_id: &str,
    user_id: Option<&str>,
    purpose: Purpose,
    expires_at: i64,
) -> ApiResult<()> {
    let now = now_unix();
    // Sweep a few expired rows so the table does not grow without bound.
    const SWEEP: &str = "DELETE FROM challenges WHERE id IN (SELECT id FROM challenges WHERE expires_at < $1 LIMIT 16)";
    const INSERT: &str = "INSERT INTO challenges (id, challenge, tenant_id, user_id, purpose, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let conn = match ctx.conn() {
        Conn::Lite(c) => {
            c.prepare_cached(&crate::db::lite_sql(SWEEP))?
                .execute(rusqlite::params![now])?;
            c.prepare_cached(&crate::db::lite_sql(INSERT))?
                .execute(rusqlite::params![
                    id,
                    challenge,
                    tenant_id,
                    user_id,
                    purpose.as_str(),
                    expires_at,
                    now
                ])?;
            return Ok(());
        }
        Conn::Sqlx(conn) => conn,
    };
    sqlx::query(SWEEP).bind(now).execute(&mut *conn).await?;
    sqlx::query(INSERT)
        .bind(id)
        .bind(challenge)
        .bind(tenant_id)
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(expires_at)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// [`peek`], and the tenant's stored FIDO2 policy read by the same query.
pub async fn peek_with_policy(
    db: &Db,
    id: &str,
    tenant_id: &str,
    purpose: Purpose,
) -> ApiResult<(Issued, webauthn::graph::Fido2Policy)> {
    const SQL: &str = "SELECT challenge, user_id, expires_at, \
         (SELECT fido2 FROM policies WHERE tenant_id = $2) AS fido2 \
         FROM challenges WHERE id = $1 AND tenant_id = $2 AND purpose = $3";
    if let Some(found) = db.lite_read(|c| {
        use rusqlite::OptionalExtension;
        let row = c
            .prepare_cached(&crate::db::lite_sql(SQL))?
            .query_row(rusqlite::params![id, tenant_id, purpose.as_str()], |r| {
                Ok((
                    Issued {
                        challenge: r.get("challenge")?,
                        user_id: r.get("user_id")?,
                    },
                    r.get::<_, i64>("expires_at")?,
                    r.get::<_, Option<String>>("fido2")?,
                ))
            })
            .optional()?;
        let Some((issued, expires_at, policy)) = row else {
            return Err(unknown(purpose));
        };
        if expires_at < now_unix() {
            return Err(ApiError::bad_request("The challenge has expired."));
        }
        Ok((issued, crate::policy::from_stored(policy)?))
    }) {
        return found;
    }
    let row = sqlx::query(SQL)
        .bind(id)
        .bind(tenant_id)
        .bind(purpose.as_str())
        .fetch_optional(db.read())
        .await?;
    let policy = match &row {
        Some(r) => Some(r.try_get::<Option<String>, _>("fido2")?),
        None => None,
    };
    let issued = issued(row, purpose)?;
    Ok((issued, crate::policy::from_stored(policy.flatten())?))
}

/// Deletes the challenge `id` inside the caller's transaction; false if
/// another request consumed it first.
pub async fn take(ctx: &mut JobCtx, id: &str, tenant_id: &str) -> ApiResult<bool> {
    const TAKE: &str = "DELETE FROM challenges WHERE id = $1 AND tenant_id = $2";
    let conn = match ctx.conn() {
        Conn::Lite(c) => {
            return Ok(c
                .prepare_cached(&crate::db::lite_sql(TAKE))?
                .execute(rusqlite::params![id, tenant_id])?
                == 1)
        }
        Conn::Sqlx(conn) => conn,
    };
    let done = sqlx::query(TAKE)
        .bind(id)
        .bind(tenant_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Why a challenge (or sign-in flow) that is not stored is refused.
pub(crate) fn unknown_message(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Create => "The challenge is unknown or has already been used.",
        Purpose::Get => "The sign-in flow is unknown or has already been used.",
    }
}

fn unknown(purpose: Purpose) -> ApiError {
    ApiError::bad_request(unknown_message(purpose))
}

fn issued(row: Option<sqlx::any::AnyRow>, purpose: Purpose) -> ApiResult<Issued> {
    let Some(row) = row else {
        return Err(unknown(purpose));
    };
    if get_i64(&row, "expires_at")? < now_unix() {
        return Err(ApiError::bad_request("The challenge has expired."));
    }
    Ok(Issued {
        challenge: row.try_get("challenge")?,
        user_id: row.try_get("user_id")?,
    })
}

/// Consumes the challenge stored under `id`; unknown, used, expired, or of
/// the wrong purpose are all 400s.
pub async fn consume(db: &Db, id: &str, tenant_id: &str, purpose: Purpose) -> ApiResult<Issued> {
    let row = sqlx::query(
        "DELETE FROM challenges WHERE id = $1 AND tenant_id = $2 AND purpose = $3 RETURNING challenge, user_id, expires_at",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(purpose.as_str())
    .fetch_optional(db.write())
    .await?;
    issued(row, purpose)
}

#[cfg(test)]
mod shape_tests {
    use base64::Engine;

    #[test]
    fn challenges_decode_as_standard_base64_and_stay_random() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let c = super::random_challenge();
            assert!(!c.contains(['-', '_', '=']), "{c}");
            let padded = format!("{c}{}", "=".repeat((4 - c.len() % 4) % 4));
            let text = base64::engine::general_purpose::STANDARD
                .decode(&padded)
                .expect("standard base64 after padding");
            // The decoded text is itself 32 random bytes in base64url.
            let raw = webauthn::b64::decode(std::str::from_utf8(&text).unwrap()).unwrap();
            assert_eq!(raw.len(), 32);
            assert!(seen.insert(c), "a challenge repeated");
        }
    }
}

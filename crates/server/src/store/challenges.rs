//! Stored challenges and sign-in flows (see [`crate::challenge`]).

use crate::backend::Backend;
use crate::challenge::{unknown, Issued, Purpose};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::store::sql::{args, execute, fetch_optional, On};
use crate::time_util::now_unix;
use crate::writer::JobCtx;

/// Deletes up to 16 expired challenges (`$1`: now), in expiry order so
/// that the plan walks the expiry index: with a bare LIMIT, PostgreSQL's
/// generic plan scanned the whole table whenever fewer than 16 had
/// expired — on every issuance. On PostgreSQL the ids are gathered first
/// (an ARRAY subquery runs once), so the delete is at most 16 primary-key
/// lookups rather than a join the planner may cost as a scan.
pub(crate) fn purge_expired(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "DELETE FROM challenges WHERE id = ANY(ARRAY( \
             SELECT id FROM challenges WHERE expires_at < $1 ORDER BY expires_at LIMIT 16))"
        }
        Backend::Sqlite => {
            "DELETE FROM challenges WHERE id IN \
             (SELECT id FROM challenges WHERE expires_at < $1 ORDER BY expires_at LIMIT 16)"
        }
    }
}

/// Stores a challenge under `id` (the challenge itself for registrations,
/// the flow id for sign-ins), sweeping a few expired rows so that the
/// table does not grow without bound.
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
    let purge = purge_expired(ctx.backend);
    execute(On::Job(ctx), purge, args![now]).await?;
    execute(
        On::Job(ctx),
        "INSERT INTO challenges (id, challenge, tenant_id, user_id, purpose, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![id, challenge, tenant_id, user_id, purpose.as_str(), expires_at, now],
    )
    .await
    .map(drop)
}

/// The challenge stored under `id` for `purpose` (still stored: [`take`]
/// consumes it), and the tenant's stored FIDO2 policy read by the same
/// query; unknown, used, expired or of the wrong purpose are 400s.
pub async fn peek_with_policy(
    db: &Db,
    id: &str,
    tenant_id: &str,
    purpose: Purpose,
) -> ApiResult<(Issued, webauthn::graph::Fido2Policy)> {
    let row = fetch_optional(
        On::Read(db),
        "SELECT challenge, user_id, expires_at, \
         (SELECT fido2 FROM policies WHERE tenant_id = $2) AS fido2 \
         FROM challenges WHERE id = $1 AND tenant_id = $2 AND purpose = $3",
        args![id, tenant_id, purpose.as_str()],
        |r| {
            Ok((
                Issued {
                    challenge: r.text("challenge")?,
                    user_id: r.opt_text("user_id")?,
                },
                r.int("expires_at")?,
                r.opt_text("fido2")?,
            ))
        },
    )
    .await?;
    let Some((issued, expires_at, policy)) = row else {
        return Err(unknown(purpose));
    };
    if expires_at < now_unix() {
        return Err(ApiError::bad_request("The challenge has expired."));
    }
    Ok((issued, crate::store::policies::from_stored(policy)?))
}

/// Deletes the challenge `id` inside the caller's write; false if another
/// request took it first.
pub async fn take(ctx: &mut JobCtx, id: &str, tenant_id: &str) -> ApiResult<bool> {
    let n = execute(
        On::Job(ctx),
        "DELETE FROM challenges WHERE id = $1 AND tenant_id = $2",
        args![id, tenant_id],
    )
    .await?;
    Ok(n == 1)
}

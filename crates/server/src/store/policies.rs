//! The stored FIDO2 method policy, one JSON document per tenant (a tenant
//! without a row has [`crate::policy::default_policy`]).

use crate::backend::Backend;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::policy::default_policy;
use crate::store::sql::{args, execute, fetch_one, fetch_optional, On};
use crate::time_util::now_unix;
use crate::writer::JobCtx;
use webauthn::graph::Fido2Policy;

/// The tenant's policy.
pub async fn load(db: &Db, tenant_id: &str) -> ApiResult<Fido2Policy> {
    let stored = fetch_optional(
        On::Read(db),
        "SELECT fido2 FROM policies WHERE tenant_id = $1",
        args![tenant_id],
        |r| r.opt_text("fido2"),
    )
    .await?;
    from_stored(stored.flatten())
}

/// The policy from its stored JSON (`None`: the tenant never set one).
pub fn from_stored(text: Option<String>) -> ApiResult<Fido2Policy> {
    match text {
        Some(text) => serde_json::from_str(&text).map_err(ApiError::internal),
        None => Ok(default_policy()),
    }
}

/// Replaces the tenant's policy with `change(current)` inside a write job,
/// holding the policy row between the read and the write (SQLite: the
/// batch's write lock; PostgreSQL: `SELECT … FOR UPDATE`, the row created
/// first if the tenant has none), so that two concurrent changes of
/// different fields both land. Answers the policy stored.
pub async fn update(
    ctx: &mut JobCtx,
    tenant_id: &str,
    change: impl FnOnce(Fido2Policy) -> ApiResult<Fido2Policy>,
) -> ApiResult<Fido2Policy> {
    let now = now_unix();
    execute(
        On::Job(ctx),
        "INSERT INTO policies (tenant_id, fido2, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id) DO NOTHING",
        args![
            tenant_id,
            &serde_json::to_string(&default_policy()).expect("policy serialises"),
            now
        ],
    )
    .await?;
    let select = match ctx.backend {
        Backend::Postgres => "SELECT fido2 FROM policies WHERE tenant_id = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT fido2 FROM policies WHERE tenant_id = $1",
    };
    let current = fetch_one(On::Job(ctx), select, args![tenant_id], |r| {
        r.opt_text("fido2")
    })
    .await?;
    let policy = change(from_stored(current)?)?;
    execute(
        On::Job(ctx),
        "UPDATE policies SET fido2 = $2, updated_at = $3 WHERE tenant_id = $1",
        args![
            tenant_id,
            &serde_json::to_string(&policy).expect("policy serialises"),
            now
        ],
    )
    .await?;
    Ok(policy)
}

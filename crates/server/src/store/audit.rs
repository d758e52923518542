//! The audit trail's rows: events (one hash chain per tenant) and signed
//! checkpoints. The chain's rules — linking, MACs, what a checkpoint
//! proves — are [`crate::audit`]'s.

use crate::audit::chain::Head;
use crate::backend::Backend;
use crate::db::Db;
use crate::error::ApiResult;
use crate::store::sql::{
    args, execute, fetch_all, fetch_one, fetch_optional, placeholders, Arg, Fields, On,
};
use crate::writer::JobCtx;
use serde::{Deserialize, Serialize};

/// An event as stored (`id` is the database's; ignored on insert).
#[derive(Debug, Clone)]
pub struct EventRow {
    /// The database's row id.
    pub id: i64,
    /// The tenant whose chain it is in.
    pub tenant_id: String,
    /// When (Unix seconds).
    pub at: i64,
    /// Who acted.
    pub actor: String,
    /// What happened.
    pub activity: String,
    /// What it happened to.
    pub target: String,
    /// `success` or `failure`.
    pub result: String,
    /// Why it failed (empty on success).
    pub reason: String,
    /// The HTTP request that did it.
    pub request_id: String,
    /// Details (JSON text).
    pub details: String,
    /// The previous event's hash (the link).
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
    /// Its place in the chain.
    pub seq: i64,
    /// `None` on events an older version wrote.
    pub mac: Option<String>,
}

/// A signed statement that a tenant's chain had `seq` events ending in
/// `head_hash` at time `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The tenant.
    pub tenant_id: String,
    /// Events in the chain at that time.
    pub seq: i64,
    /// The hash of the last of them.
    pub head_hash: String,
    /// When (Unix seconds).
    pub at: i64,
    /// `periodic`, `manual`, or `legacy` (the events an older version
    /// wrote without MACs, vouched for once at the upgrade).
    pub kind: String,
    /// The KEK whose derived key made the MAC.
    pub kek_id: String,
    /// The MAC over the statement (hex).
    pub mac: String,
}

const COLS: &str = "id, tenant_id, at, actor, activity, target, result, reason, request_id, details, prev_hash, hash, seq, mac";

/// An [`EventRow`] from a row of `COLS`.
pub fn event_from(r: &dyn Fields) -> ApiResult<EventRow> {
    Ok(EventRow {
        id: r.int("id")?,
        tenant_id: r.text("tenant_id")?,
        at: r.int("at")?,
        actor: r.text("actor")?,
        activity: r.text("activity")?,
        target: r.text("target")?,
        result: r.text("result")?,
        reason: r.text("reason")?,
        request_id: r.text("request_id")?,
        details: r.text("details")?,
        prev_hash: r.text("prev_hash")?,
        hash: r.text("hash")?,
        seq: r.opt_int("seq")?.unwrap_or(0),
        mac: r.opt_text("mac")?,
    })
}

fn checkpoint_from(r: &dyn Fields) -> ApiResult<Checkpoint> {
    Ok(Checkpoint {
        tenant_id: r.text("tenant_id")?,
        seq: r.int("seq")?,
        head_hash: r.text("head_hash")?,
        at: r.int("at")?,
        kind: r.text("kind")?,
        kek_id: r.text("kek_id")?,
        mac: r.text("mac")?,
    })
}

/// Takes PostgreSQL's transaction-scoped advisory lock `key` (a tenant's
/// chain) inside the job; nothing on SQLite, whose batch holds the
/// database's write lock.
pub async fn lock_chain(ctx: &mut JobCtx, key: i64) -> ApiResult<()> {
    if ctx.backend == Backend::Postgres {
        // `execute`: the function returns `void`, which no row type reads.
        execute(On::Job(ctx), "SELECT pg_advisory_xact_lock($1)", args![key]).await?;
    }
    Ok(())
}

/// The newest event of a tenant's chain, inside the job.
pub async fn head(ctx: &mut JobCtx, tenant: &str) -> ApiResult<Option<Head>> {
    fetch_optional(
        On::Job(ctx),
        "SELECT hash, seq FROM audit_events WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1",
        args![tenant],
        |r| {
            Ok(Head {
                hash: r.text("hash")?,
                seq: r.int("seq")?,
            })
        },
    )
    .await
}

/// The columns of `audit_events` an appended event fills, in the order of
/// [`event_args`].
pub const EVENT_COLUMNS: &str =
    "tenant_id, at, actor, activity, target, result, reason, request_id, details, prev_hash, hash, seq, mac";

/// An event's values, in the order of [`EVENT_COLUMNS`] (for a statement
/// that stores an event together with the change it records).
pub fn event_args(e: &EventRow) -> [Arg<'_>; 13] {
    [
        Arg::from(&e.tenant_id),
        Arg::from(e.at),
        Arg::from(&e.actor),
        Arg::from(&e.activity),
        Arg::from(&e.target),
        Arg::from(&e.result),
        Arg::from(&e.reason),
        Arg::from(&e.request_id),
        Arg::from(&e.details),
        Arg::from(&e.prev_hash),
        Arg::from(&e.hash),
        Arg::from(e.seq),
        Arg::from(&e.mac),
    ]
}

/// Appends an event (already linked and authenticated) inside the job.
pub async fn insert_event(ctx: &mut JobCtx, e: &EventRow) -> ApiResult<()> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES ({})",
            placeholders(1, 13)
        )
    });
    execute(On::Job(ctx), &SQL, &event_args(e)).await.map(drop)
}

/// Stores a checkpoint inside the job (one already stored at that `seq`
/// stays).
pub async fn insert_checkpoint(ctx: &mut JobCtx, c: &Checkpoint) -> ApiResult<()> {
    execute(
        On::Job(ctx),
        "INSERT INTO audit_checkpoints (tenant_id, seq, head_hash, at, kind, kek_id, mac) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, seq) DO NOTHING",
        args![
            &c.tenant_id,
            c.seq,
            &c.head_hash,
            c.at,
            &c.kind,
            &c.kek_id,
            &c.mac
        ],
    )
    .await
    .map(drop)
}

/// The `seq` of a tenant's newest checkpoint, inside the job.
pub async fn last_checkpoint_seq(ctx: &mut JobCtx, tenant: &str) -> ApiResult<Option<i64>> {
    fetch_one(
        On::Job(ctx),
        "SELECT MAX(seq) AS s FROM audit_checkpoints WHERE tenant_id = $1",
        args![tenant],
        |r| r.opt_int("s"),
    )
    .await
}

/// Every checkpoint of a tenant, oldest first.
pub async fn checkpoints(db: &Db, tenant_id: &str) -> ApiResult<Vec<Checkpoint>> {
    fetch_all(
        On::Read(db),
        "SELECT tenant_id, seq, head_hash, at, kind, kek_id, mac FROM audit_checkpoints \
         WHERE tenant_id = $1 ORDER BY seq",
        args![tenant_id],
        checkpoint_from,
    )
    .await
}

/// Up to `limit` events of a tenant's chain after `seq`, in order.
pub async fn events_after(
    db: &Db,
    tenant_id: &str,
    seq: i64,
    limit: i64,
) -> ApiResult<Vec<EventRow>> {
    fetch_all(
        On::Read(db),
        &format!(
            "SELECT {COLS} FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ),
        args![tenant_id, seq, limit],
        event_from,
    )
    .await
}

/// A tenant's newest events (at most `top`), with optional filters on
/// activity and target (`""`: any) and a time floor.
pub async fn newest(
    db: &Db,
    tenant_id: &str,
    activity: &str,
    target: &str,
    since: i64,
    top: i64,
) -> ApiResult<Vec<EventRow>> {
    fetch_all(
        On::Read(db),
        &format!(
            "SELECT {COLS} FROM audit_events WHERE tenant_id = $1 \
             AND ($2 = '' OR activity = $2) AND ($3 = '' OR target = $3) AND at >= $4 \
             ORDER BY id DESC LIMIT $5"
        ),
        args![tenant_id, activity, target, since, top],
        event_from,
    )
    .await
}

/// A tenant's events with Keysmith's own filters, for
/// [`crate::store::query::fetch`].
pub fn listing(
    tenant_id: &str,
    activity: Option<&str>,
    target: Option<&str>,
    since: Option<i64>,
) -> crate::store::query::Listing<'static> {
    use crate::store::query::Bind;
    let mut scope = vec![("tenant_id = {}", Bind::Text(tenant_id.to_owned()))];
    if let Some(a) = activity {
        scope.push(("activity = {}", Bind::Text(a.to_owned())));
    }
    if let Some(t) = target {
        scope.push(("target = {}", Bind::Text(t.to_owned())));
    }
    if let Some(s) = since {
        scope.push(("at >= {}", Bind::Int(s)));
    }
    crate::store::query::Listing {
        from: "audit_events",
        alias: "",
        columns: COLS.to_owned(),
        scope,
    }
}

/// The ids of every tenant.
pub async fn tenant_ids(db: &Db) -> ApiResult<Vec<String>> {
    fetch_all(On::Read(db), "SELECT id FROM tenants", args![], |r| {
        r.text("id")
    })
    .await
}

/// Whether the upgrade to authenticated events left the vouching for the
/// older ones to do.
pub async fn adoption_pending(db: &Db) -> ApiResult<bool> {
    Ok(fetch_optional(
        On::Read(db),
        "SELECT value FROM keysmith_state WHERE key = 'audit_adoption'",
        args![],
        |_| Ok(()),
    )
    .await?
    .is_some())
}

/// Records that the vouching is done.
pub async fn adoption_done(db: &Db) -> ApiResult<()> {
    execute(
        On::Write(db),
        "DELETE FROM keysmith_state WHERE key = 'audit_adoption'",
        args![],
    )
    .await
    .map(drop)
}

/// Tenants with events written without a MAC.
pub async fn tenants_with_unauthenticated_events(db: &Db) -> ApiResult<Vec<String>> {
    fetch_all(
        On::Read(db),
        "SELECT DISTINCT tenant_id FROM audit_events WHERE mac IS NULL",
        args![],
        |r| r.text("tenant_id"),
    )
    .await
}

/// The `seq` of a tenant's newest event without a MAC.
pub async fn last_unauthenticated_seq(db: &Db, tenant_id: &str) -> ApiResult<Option<i64>> {
    fetch_one(
        On::Read(db),
        "SELECT MAX(seq) AS s FROM audit_events WHERE tenant_id = $1 AND mac IS NULL",
        args![tenant_id],
        |r| r.opt_int("s"),
    )
    .await
}

/// The hash of event `seq` of a tenant's chain, inside the job.
pub async fn hash_at(ctx: &mut JobCtx, tenant_id: &str, seq: i64) -> ApiResult<String> {
    fetch_one(
        On::Job(ctx),
        "SELECT hash FROM audit_events WHERE tenant_id = $1 AND seq = $2",
        args![tenant_id, seq],
        |r| r.text("hash"),
    )
    .await
}

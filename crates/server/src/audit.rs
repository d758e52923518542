//! The audit trail: one hash chain per tenant. Each row stores
//! `hash = sha256(prev_hash ‖ canonical row)`, so editing, deleting or
//! reordering a row breaks every later link; `verify_chain` walks it.

use crate::db::{get_i64, Backend, Db};
use crate::error::ApiResult;
use crate::time_util::{now_unix, rfc3339};
use crate::writer::{Conn, JobCtx};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;

/// The hash before a tenant's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event to record.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub tenant_id: &'a str,
    pub actor: &'a str,
    pub activity: &'a str,
    pub target: &'a str,
    /// `success` or `failure`.
    pub result: &'a str,
    pub reason: &'a str,
    pub request_id: &'a str,
    pub details: serde_json::Value,
}

struct Row_ {
    id: i64,
    tenant_id: String,
    at: i64,
    actor: String,
    activity: String,
    target: String,
    result: String,
    reason: String,
    request_id: String,
    details: String,
    prev_hash: String,
    hash: String,
}

#[allow(clippy::too_many_arguments)]
fn canonical(
    tenant_id: &str,
    at: i64,
    actor: &str,
    activity: &str,
    target: &str,
    result: &str,
    reason: &str,
    request_id: &str,
    details: &str,
) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!([
        tenant_id, at, actor, activity, target, result, reason, request_id, details
    ]))
    .expect("strings serialise")
}

fn link(prev_hash: &str, canonical: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(hex::decode(prev_hash).unwrap_or_default());
    h.update(canonical);
    hex::encode(h.finalize())
}

/// Appends an event to its tenant's chain (serialised per tenant: the
/// SQLite writer pool has one connection; PostgreSQL takes an advisory
/// transaction lock).
pub async fn record(db: &Db, ev: Event<'_>) -> ApiResult<()> {
    let ev = OwnedEvent::from(ev);
    let tenant = ev.tenant_id.clone();
    db.write_job(Some(&tenant), move |ctx| {
        Box::pin(async move { append_in(ctx, ev.as_event()).await })
    })
    .await
}

/// The audit event of a passkey sign-in attempt: `outcome` is who signed
/// in, or `Err(reason)` when it failed (the actor is then `anonymous`).
pub fn sign_in_event(
    tenant_id: &str,
    activity: &str,
    outcome: Result<&str, &str>,
    request_id: &str,
) -> OwnedEvent {
    let (result, reason, target) = match outcome {
        Ok(user_id) => ("success", "", user_id),
        Err(reason) => ("failure", reason, ""),
    };
    OwnedEvent::from(Event {
        tenant_id,
        actor: if target.is_empty() {
            "anonymous"
        } else {
            target
        },
        activity,
        target,
        result,
        reason,
        request_id,
        details: serde_json::json!({}),
    })
}

/// Records a passkey sign-in attempt (see [`sign_in_event`]).
pub async fn record_sign_in(
    db: &Db,
    tenant_id: &str,
    activity: &str,
    outcome: Result<&str, &str>,
    request_id: &str,
) -> ApiResult<()> {
    let ev = sign_in_event(tenant_id, activity, outcome, request_id);
    db.write_job(Some(tenant_id), move |ctx| {
        Box::pin(async move { append_in(ctx, ev.as_event()).await })
    })
    .await
}

/// An [`Event`] that owns its text (to hand to the writer task).
#[derive(Debug, Clone)]
pub struct OwnedEvent {
    pub tenant_id: String,
    pub actor: String,
    pub activity: String,
    pub target: String,
    pub result: String,
    pub reason: String,
    pub request_id: String,
    pub details: serde_json::Value,
}

impl From<Event<'_>> for OwnedEvent {
    fn from(e: Event<'_>) -> Self {
        OwnedEvent {
            tenant_id: e.tenant_id.to_owned(),
            actor: e.actor.to_owned(),
            activity: e.activity.to_owned(),
            target: e.target.to_owned(),
            result: e.result.to_owned(),
            reason: e.reason.to_owned(),
            request_id: e.request_id.to_owned(),
            details: e.details,
        }
    }
}

impl OwnedEvent {
    pub fn as_event(&self) -> Event<'_> {
        Event {
            tenant_id: &self.tenant_id,
            actor: &self.actor,
            activity: &self.activity,
            target: &self.target,
            result: &self.result,
            reason: &self.reason,
            request_id: &self.request_id,
            details: self.details.clone(),
        }
    }
}

/// Appends an event inside a group-commit job: the chain's head is read
/// once per batch (the batch's transaction holds the write lock, so no one
/// else can append meanwhile) and the PostgreSQL advisory lock taken once.
pub async fn append_in(ctx: &mut JobCtx, ev: Event<'_>) -> ApiResult<()> {
    if ctx.backend == Backend::Postgres && !ctx.holds_lock(ev.tenant_id) {
        if let Conn::Sqlx(conn) = ctx.conn() {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(crate::writer::audit_lock_key(ev.tenant_id))
                .execute(conn)
                .await?;
        }
        ctx.note_lock(ev.tenant_id);
    }
    let prev = match ctx.audit_head(ev.tenant_id) {
        Some(h) => h.to_owned(),
        None => match ctx.conn() {
            Conn::Sqlx(conn) => head(conn, ev.tenant_id).await?,
            Conn::Lite(c) => c
                .prepare_cached(&crate::db::lite_sql(HEAD))?
                .query_row(rusqlite::params![ev.tenant_id], |r| r.get::<_, String>(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?
                .unwrap_or_else(|| GENESIS.to_owned()),
        },
    };
    let hash = match ctx.conn() {
        Conn::Sqlx(conn) => insert(conn, &prev, &ev).await?,
        Conn::Lite(c) => {
            let row = Linked::new(&prev, &ev);
            c.prepare_cached(&crate::db::lite_sql(INSERT))?
                .execute(rusqlite::params![
                    ev.tenant_id,
                    row.at,
                    ev.actor,
                    ev.activity,
                    ev.target,
                    ev.result,
                    ev.reason,
                    ev.request_id,
                    row.details,
                    prev,
                    row.hash
                ])?;
            row.hash
        }
    };
    ctx.set_audit_head(ev.tenant_id, hash);
    Ok(())
}

const HEAD: &str = "SELECT hash FROM audit_events WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1";
const INSERT: &str = "INSERT INTO audit_events (tenant_id, at, actor, activity, target, result, reason, request_id, details, prev_hash, hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// The stored form of an event linked to `prev`: its time, its details as
/// text, and its hash (the same whichever connection stores it).
struct Linked {
    at: i64,
    details: String,
    hash: String,
}

impl Linked {
    fn new(prev: &str, ev: &Event<'_>) -> Linked {
        let at = now_unix();
        let details = ev.details.to_string();
        let hash = link(
            prev,
            &canonical(
                ev.tenant_id,
                at,
                ev.actor,
                ev.activity,
                ev.target,
                ev.result,
                ev.reason,
                ev.request_id,
                &details,
            ),
        );
        Linked { at, details, hash }
    }
}

async fn head(tx: &mut sqlx::AnyConnection, tenant_id: &str) -> ApiResult<String> {
    let prev: Option<String> = sqlx::query(HEAD)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?;
    Ok(prev.unwrap_or_else(|| GENESIS.to_owned()))
}

/// Appends an event inside the caller's transaction (so a change and its
/// audit record commit together, with one disk flush).
pub async fn append(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    ev: Event<'_>,
) -> ApiResult<()> {
    if backend == Backend::Postgres {
        let lock = i64::from_be_bytes(
            Sha256::digest(ev.tenant_id.as_bytes())[..8]
                .try_into()
                .expect("8 bytes"),
        );
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock)
            .execute(&mut *tx)
            .await?;
    }
    let prev = head(&mut *tx, ev.tenant_id).await?;
    insert(tx, &prev, &ev).await?;
    Ok(())
}

/// Inserts `ev` linked to `prev`; returns its hash.
async fn insert(tx: &mut sqlx::AnyConnection, prev: &str, ev: &Event<'_>) -> ApiResult<String> {
    let Linked { at, details, hash } = Linked::new(prev, ev);
    sqlx::query(INSERT)
        .bind(ev.tenant_id)
        .bind(at)
        .bind(ev.actor)
        .bind(ev.activity)
        .bind(ev.target)
        .bind(ev.result)
        .bind(ev.reason)
        .bind(ev.request_id)
        .bind(&details)
        .bind(prev)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    Ok(hash)
}

fn row_from(r: &AnyRow) -> Result<Row_, sqlx::Error> {
    Ok(Row_ {
        id: get_i64(r, "id")?,
        tenant_id: r.try_get("tenant_id")?,
        at: get_i64(r, "at")?,
        actor: r.try_get("actor")?,
        activity: r.try_get("activity")?,
        target: r.try_get("target")?,
        result: r.try_get("result")?,
        reason: r.try_get("reason")?,
        request_id: r.try_get("request_id")?,
        details: r.try_get("details")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

const COLS: &str =
    "id, tenant_id, at, actor, activity, target, result, reason, request_id, details, prev_hash, hash";

/// Filters for `GET /auditLogs/directoryAudits`.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub top: i64,
    pub activity: Option<String>,
    pub target: Option<String>,
    pub since: Option<i64>,
}

/// Newest first, as Graph's directoryAudit resources.
pub async fn list(db: &Db, tenant_id: &str, q: &Query) -> ApiResult<Vec<serde_json::Value>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM audit_events WHERE tenant_id = $1 \
         AND ($2 = '' OR activity = $2) AND ($3 = '' OR target = $3) AND at >= $4 \
         ORDER BY id DESC LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(q.activity.clone().unwrap_or_default())
    .bind(q.target.clone().unwrap_or_default())
    .bind(q.since.unwrap_or(0))
    .bind(q.top)
    .fetch_all(db.read())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let r = row_from(r)?;
        out.push(serde_json::json!({
            "id": r.id.to_string(),
            "activityDateTime": rfc3339(r.at),
            "activityDisplayName": r.activity,
            "initiatedBy": r.actor,
            "targetResources": [ { "id": r.target } ],
            "result": r.result,
            "resultReason": r.reason,
            "correlationId": r.request_id,
            "additionalDetails": serde_json::from_str::<serde_json::Value>(&r.details).unwrap_or_default(),
            "hash": r.hash,
        }));
    }
    Ok(out)
}

/// Result of walking a tenant's chain.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    pub valid: bool,
    pub events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken_id: Option<String>,
}

pub async fn verify_chain(db: &Db, tenant_id: &str) -> ApiResult<ChainReport> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM audit_events WHERE tenant_id = $1 ORDER BY id"
    ))
    .bind(tenant_id)
    .fetch_all(db.read())
    .await?;
    let mut prev = GENESIS.to_owned();
    let mut events = 0;
    for r in &rows {
        let r = row_from(r)?;
        events += 1;
        let expect = link(
            &prev,
            &canonical(
                &r.tenant_id,
                r.at,
                &r.actor,
                &r.activity,
                &r.target,
                &r.result,
                &r.reason,
                &r.request_id,
                &r.details,
            ),
        );
        if r.prev_hash != prev || r.hash != expect {
            return Ok(ChainReport {
                valid: false,
                events,
                first_broken_id: Some(r.id.to_string()),
            });
        }
        prev = r.hash;
    }
    Ok(ChainReport {
        valid: true,
        events,
        first_broken_id: None,
    })
}

//! The audit trail: one hash chain per tenant, tamper-evident against
//! someone with write access to the database.
//!
//! - Each row stores `hash = sha256(prev_hash ‖ canonical row)`, so editing,
//!   deleting or reordering a row breaks every later link.
//! - Rows are numbered per tenant without gaps (`seq` 1, 2, 3 …).
//! - Each row carries a MAC of (tenant, seq, hash) under a key derived from
//!   the key-encryption key, which is not in the database: rewriting an
//!   event and recomputing the later hashes is detected.
//! - Checkpoints (tenant, seq, head hash, time, MAC) are written every
//!   [`CHECKPOINT_EVERY`] events, periodically by the server, and on demand
//!   (`keysmith admin audit checkpoint`); exported
//!   (`keysmith admin audit export`) to a place the database's writers
//!   cannot reach, they prove truncation: a chain that ends before an
//!   exported checkpoint, or holds another hash at its `seq`, was cut or
//!   rewritten.
//!
//! What is stored is bounded: free text (reasons, targets) is cut to a few
//! hundred characters with control characters escaped, and failures of
//! unauthenticated callers are aggregated ([`failures`]).

pub mod chain;
pub mod failures;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::store::audit as rows;
use crate::time_util::{now_unix, rfc3339};
use crate::writer::JobCtx;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use crate::store::audit::{Checkpoint, EventRow};

pub use chain::{AuditKey, Head, GENESIS};
pub use failures::{Admit, AuthFailure, FailureLog};

/// The chain of events that belong to no tenant (requests whose token or
/// tenant could not be established).
pub const SERVER_CHAIN: &str = "_server";

/// A checkpoint is written in the same transaction as every event whose
/// `seq` is a multiple of this.
pub const CHECKPOINT_EVERY: i64 = 100;

/// Longest stored reason, target, actor (characters).
const MAX_TEXT: usize = 300;
/// Longest stored details document (bytes of JSON).
const MAX_DETAILS: usize = 4096;

impl AuditKey {
    fn checkpoint_mac(&self, c: &Checkpoint) -> String {
        self.mac(&[
            b"keysmith audit checkpoint v1",
            c.tenant_id.as_bytes(),
            &c.seq.to_be_bytes(),
            c.head_hash.as_bytes(),
            &c.at.to_be_bytes(),
            c.kind.as_bytes(),
        ])
    }

    fn verify_mac(expected: &str, given: &str) -> bool {
        use subtle::ConstantTimeEq;
        expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// The tenant whose chain it goes into.
    pub tenant_id: &'a str,
    /// Who acted: an app id, a user id, or `system`.
    pub actor: &'a str,
    /// What happened (`Register passkey`, …).
    pub activity: &'a str,
    /// What it happened to (a user, passkey or app id).
    pub target: &'a str,
    /// `success` or `failure`.
    pub result: &'a str,
    /// Why it failed (empty on success).
    pub reason: &'a str,
    /// The HTTP request that did it.
    pub request_id: &'a str,
    /// Activity-specific details (a JSON object).
    pub details: serde_json::Value,
}

/// Text as it is stored: control and bidirectional-override characters
/// escaped (`\u{202e}`), cut to `max` characters with an ellipsis.
pub fn bounded(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 8));
    for (n, c) in text.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        if c.is_control() || crate::names::is_bidi_control(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn bounded_details(details: &serde_json::Value) -> String {
    let text = details.to_string();
    if text.len() <= MAX_DETAILS {
        text
    } else {
        serde_json::json!({ "truncated": true, "excerpt": bounded(&text, 512) }).to_string()
    }
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

/// Appends an event to its tenant's chain (one group-commit job).
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
    /// The tenant whose chain it goes into.
    pub tenant_id: String,
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
    /// Activity-specific details.
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
    /// The event, borrowing this one's text.
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

async fn lock_tenant(ctx: &mut JobCtx, tenant: &str) -> ApiResult<()> {
    if !ctx.holds_lock(tenant) {
        rows::lock_chain(ctx, crate::writer::audit_lock_key(tenant)).await?;
        ctx.note_lock(tenant);
    }
    Ok(())
}

/// The chain's head inside the job's transaction (read once per batch).
async fn head_in(ctx: &mut JobCtx, tenant: &str) -> ApiResult<Head> {
    if let Some(h) = ctx.audit_head(tenant) {
        return Ok(h.clone());
    }
    Ok(rows::head(ctx, tenant).await?.unwrap_or_else(Head::genesis))
}

fn need_key(ctx: &JobCtx) -> ApiResult<std::sync::Arc<AuditKey>> {
    ctx.audit_key.clone().ok_or_else(|| {
        ApiError::internal("the audit trail needs the key-encryption key, which is not loaded")
    })
}

/// Appends an event inside a group-commit job: the chain's head is read
/// once per batch (the batch's transaction holds the write lock, so no one
/// else can append meanwhile) and the PostgreSQL advisory lock taken once.
pub async fn append_in(ctx: &mut JobCtx, ev: Event<'_>) -> ApiResult<()> {
    let row = prepare_in(ctx, ev).await?;
    rows::insert_event(ctx, &row).await?;
    appended_in(ctx, row).await
}

/// The stored form of `ev`, linked to the chain's head inside the job, for
/// a statement that inserts it together with the change it records; after
/// that statement stored it, [`appended_in`] makes it the head. Holds the
/// tenant's lock from here on (PostgreSQL's advisory lock: every later
/// statement of the batch sees every earlier append to the tenant).
pub async fn prepare_in(ctx: &mut JobCtx, ev: Event<'_>) -> ApiResult<rows::EventRow> {
    let key = need_key(ctx)?;
    lock_tenant(ctx, ev.tenant_id).await?;
    let prev = head_in(ctx, ev.tenant_id).await?;
    Ok(linked(&prev, &ev, &key))
}

/// Makes `row`, stored by the job, its tenant's head (with the periodic
/// checkpoint when one is due).
pub async fn appended_in(ctx: &mut JobCtx, row: rows::EventRow) -> ApiResult<()> {
    let head = Head {
        hash: row.hash,
        seq: row.seq,
    };
    if head.seq % CHECKPOINT_EVERY == 0 {
        let key = need_key(ctx)?;
        insert_checkpoint(ctx, &row.tenant_id, &head, row.at, "periodic", &key).await?;
    }
    ctx.set_audit_head(&row.tenant_id, head);
    Ok(())
}

async fn insert_checkpoint(
    ctx: &mut JobCtx,
    tenant: &str,
    head: &Head,
    at: i64,
    kind: &str,
    key: &AuditKey,
) -> ApiResult<Checkpoint> {
    let mut c = Checkpoint {
        tenant_id: tenant.to_owned(),
        seq: head.seq,
        head_hash: head.hash.clone(),
        at,
        kind: kind.to_owned(),
        kek_id: key.kek_id.clone(),
        mac: String::new(),
    };
    c.mac = key.checkpoint_mac(&c);
    rows::insert_checkpoint(ctx, &c).await?;
    Ok(c)
}

/// The stored form of an event linked to `prev`: its bounded text, time,
/// number, hash and MAC.
fn linked(prev: &Head, ev: &Event<'_>, key: &AuditKey) -> EventRow {
    let at = now_unix();
    let seq = prev.seq + 1;
    let actor = bounded(ev.actor, MAX_TEXT);
    let activity = bounded(ev.activity, 128);
    let target = bounded(ev.target, MAX_TEXT);
    let result = bounded(ev.result, 16);
    let reason = bounded(ev.reason, MAX_TEXT);
    let request_id = bounded(ev.request_id, 64);
    let details = bounded_details(&ev.details);
    let hash = link(
        &prev.hash,
        &canonical(
            ev.tenant_id,
            at,
            &actor,
            &activity,
            &target,
            &result,
            &reason,
            &request_id,
            &details,
        ),
    );
    let mac = Some(key.row_mac(ev.tenant_id, seq, &hash));
    EventRow {
        id: 0,
        tenant_id: ev.tenant_id.to_owned(),
        at,
        actor,
        activity,
        target,
        result,
        reason,
        request_id,
        details,
        prev_hash: prev.hash.clone(),
        hash,
        seq,
        mac,
    }
}

/// Filters for `GET /auditLogs/directoryAudits`.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Most events to return (`$top`).
    pub top: i64,
    /// Only this activity.
    pub activity: Option<String>,
    /// Only events about this target.
    pub target: Option<String>,
    /// Only events at or after this time (Unix seconds).
    pub since: Option<i64>,
}

/// Newest first, as Graph's directoryAudit resources.
pub async fn list(db: &Db, tenant_id: &str, q: &Query) -> ApiResult<Vec<serde_json::Value>> {
    let found = rows::newest(
        db,
        tenant_id,
        q.activity.as_deref().unwrap_or_default(),
        q.target.as_deref().unwrap_or_default(),
        q.since.unwrap_or(0),
        q.top,
    )
    .await?;
    Ok(found.into_iter().map(to_graph).collect())
}

/// An event as Graph's directoryAudit resource.
fn to_graph(r: EventRow) -> serde_json::Value {
    serde_json::to_value(webauthn::graph::DirectoryAudit {
        id: r.id.to_string(),
        sequence_number: r.seq,
        activity_date_time: rfc3339(r.at),
        activity_display_name: r.activity,
        initiated_by: r.actor,
        target_resources: vec![webauthn::graph::TargetResource { id: r.target }],
        result: r.result,
        result_reason: r.reason,
        correlation_id: r.request_id,
        additional_details: serde_json::from_str(&r.details).unwrap_or_default(),
        hash: r.hash,
    })
    .unwrap_or_default()
}

/// A tenant's events with Keysmith's own filters (`q`'s activity, target,
/// since), for [`crate::store::query::fetch`].
pub fn listing(tenant_id: &str, q: &Query) -> crate::store::query::Listing<'static> {
    rows::listing(
        tenant_id,
        q.activity.as_deref(),
        q.target.as_deref(),
        q.since,
    )
}

/// A page of a tenant's events for `GET /auditLogs/directoryAudits`:
/// Keysmith's own filters (`q`'s activity, target, since) and Graph's query
/// options; newest first unless `$orderby` says otherwise.
pub async fn page(
    db: &Db,
    tenant_id: &str,
    q: &Query,
    graph: &crate::store::query::GraphQuery,
    page: &crate::paging::PageRequest,
) -> ApiResult<(Vec<serde_json::Value>, Option<String>, Option<i64>)> {
    let listing = listing(tenant_id, q);
    let f = crate::store::query::fetch(db, &listing, graph, page).await?;
    let events = f
        .rows
        .iter()
        .map(|r| Ok(graph.project(to_graph(rows::event_from(r)?))))
        .collect::<ApiResult<_>>()?;
    Ok((events, f.next, f.count))
}

/// Every checkpoint of a tenant, oldest first.
pub async fn checkpoints(db: &Db, tenant_id: &str) -> ApiResult<Vec<Checkpoint>> {
    rows::checkpoints(db, tenant_id).await
}

/// Writes a checkpoint of the tenant's chain as it is now (`kind`:
/// `manual` or `periodic`); `None` when the chain is empty or already
/// checkpointed at its head.
pub async fn checkpoint_now(db: &Db, tenant_id: &str, kind: &str) -> ApiResult<Option<Checkpoint>> {
    let (tenant, kind) = (tenant_id.to_owned(), kind.to_owned());
    db.write_job(Some(tenant_id), move |ctx| {
        Box::pin(async move {
            let key = need_key(ctx)?;
            lock_tenant(ctx, &tenant).await?;
            let head = head_in(ctx, &tenant).await?;
            if head.seq == 0 {
                return Ok(None);
            }
            let last = rows::last_checkpoint_seq(ctx, &tenant).await?;
            if last == Some(head.seq) {
                return Ok(None);
            }
            Ok(Some(
                insert_checkpoint(ctx, &tenant, &head, now_unix(), &kind, &key).await?,
            ))
        })
    })
    .await
}

/// Checkpoints every chain whose head moved since its last checkpoint (the
/// server runs this periodically). Returns how many were written.
pub async fn checkpoint_all(db: &Db) -> ApiResult<usize> {
    let mut tenants = rows::tenant_ids(db).await?;
    tenants.push(SERVER_CHAIN.to_owned());
    let mut n = 0;
    for t in tenants {
        if checkpoint_now(db, &t, "periodic").await?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

/// Vouches, once, for the events an older version wrote without MACs:
/// when the upgrade to numbered, authenticated events left that work
/// pending, each tenant whose chain verifies gets a `legacy` checkpoint at
/// its last such event. Events without a MAC after it are reported.
pub async fn adopt_legacy(db: &Db) -> ApiResult<()> {
    if !rows::adoption_pending(db).await? {
        return Ok(());
    }
    for tenant in rows::tenants_with_unauthenticated_events(db).await? {
        let report = verify_chain(db, &tenant, None, &[]).await?;
        if !report.links_valid {
            tracing::error!(
                tenant,
                "the audit chain written before the upgrade does not verify; it is not vouched for"
            );
            continue;
        }
        let last = rows::last_unauthenticated_seq(db, &tenant).await?;
        let Some(last) = last else { continue };
        let t = tenant.clone();
        db.write_job(Some(&tenant), move |ctx| {
            Box::pin(async move {
                let key = need_key(ctx)?;
                lock_tenant(ctx, &t).await?;
                let hash = rows::hash_at(ctx, &t, last).await?;
                let head = Head { hash, seq: last };
                insert_checkpoint(ctx, &t, &head, now_unix(), "legacy", &key).await?;
                Ok(())
            })
        })
        .await?;
        tracing::info!(
            tenant,
            events = last,
            "vouched for the audit events of the older version"
        );
    }
    rows::adoption_done(db).await
}

/// One thing wrong with a chain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The event's sequence number, if the problem is at one.
    pub seq: Option<i64>,
    /// `brokenLink`, `gap`, `badMac`, `missingMac`, `badCheckpoint`,
    /// `checkpointMismatch`, `truncated`, `foreignCheckpoint`.
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

/// Result of walking a tenant's chain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    /// No problem was found.
    pub valid: bool,
    /// Events walked.
    pub events: u64,
    /// The last event's sequence number.
    pub last_seq: i64,
    /// The chain's head hash (what an exported checkpoint pins).
    pub head_hash: String,
    /// Checkpoints checked (the database's and any given from outside).
    pub checkpoints: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The newest checkpoint, if any.
    pub last_checkpoint: Option<Checkpoint>,
    /// Whether the rows' and checkpoints' MACs were checked (needs the key).
    pub macs_checked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The first event whose link or MAC is wrong.
    pub first_broken_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Its sequence number.
    pub first_broken_seq: Option<i64>,
    /// Everything wrong, in chain order.
    pub problems: Vec<Problem>,
    /// The hash links alone hold (what [`adopt_legacy`] needs).
    #[serde(skip)]
    #[schema(ignore)]
    pub links_valid: bool,
}

impl ChainReport {
    fn problem(&mut self, id: Option<i64>, seq: Option<i64>, kind: &'static str, message: String) {
        self.valid = false;
        if self.first_broken_seq.is_none() && seq.is_some() {
            self.first_broken_seq = seq;
            self.first_broken_id = id.map(|i| i.to_string());
        }
        if self.problems.len() < 100 {
            self.problems.push(Problem { seq, kind, message });
        }
    }
}

/// Walks a tenant's chain: hash links, numbering without gaps, each row's
/// MAC (with `key`), and every checkpoint — the database's and `external`
/// ones (an exported copy) — against the chain. A chain shorter than a
/// checkpoint says, or with another hash at its `seq`, was truncated or
/// rewritten.
pub async fn verify_chain(
    db: &Db,
    tenant_id: &str,
    key: Option<&AuditKey>,
    external: &[Checkpoint],
) -> ApiResult<ChainReport> {
    let mut stored = checkpoints(db, tenant_id).await?;
    let legacy_until = stored
        .iter()
        .filter(|c| c.kind == "legacy")
        .filter(|c| key.is_none_or(|k| AuditKey::verify_mac(&k.checkpoint_mac(c), &c.mac)))
        .map(|c| c.seq)
        .max()
        .unwrap_or(0);
    let mut report = ChainReport {
        valid: true,
        events: 0,
        last_seq: 0,
        head_hash: GENESIS.to_owned(),
        checkpoints: 0,
        last_checkpoint: None,
        macs_checked: key.is_some(),
        first_broken_id: None,
        first_broken_seq: None,
        problems: Vec::new(),
        links_valid: true,
    };
    // Hashes at the sequence numbers some checkpoint names.
    let wanted: std::collections::HashSet<i64> =
        stored.iter().chain(external).map(|c| c.seq).collect();
    let mut at_seq: std::collections::HashMap<i64, String> = Default::default();
    let mut prev = GENESIS.to_owned();
    let mut expected_seq = 1;
    let mut after: i64 = 0;
    loop {
        let batch = rows::events_after(db, tenant_id, after, 5000).await?;
        if batch.is_empty() {
            break;
        }
        for r in batch {
            after = r.seq;
            report.events += 1;
            if r.seq != expected_seq {
                report.problem(
                    Some(r.id),
                    Some(r.seq),
                    "gap",
                    format!(
                        "event {} follows event {}: events are missing",
                        r.seq,
                        expected_seq - 1
                    ),
                );
            }
            expected_seq = r.seq + 1;
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
                report.links_valid = false;
                report.problem(
                    Some(r.id),
                    Some(r.seq),
                    "brokenLink",
                    format!("event {} does not hash to its stored value or does not link to the one before", r.seq),
                );
            }
            match (&r.mac, key) {
                (Some(mac), Some(k))
                    if !AuditKey::verify_mac(&k.row_mac(&r.tenant_id, r.seq, &r.hash), mac) =>
                {
                    report.problem(
                        Some(r.id),
                        Some(r.seq),
                        "badMac",
                        format!(
                            "event {} was not written by this service (its MAC does not verify)",
                            r.seq
                        ),
                    );
                }
                (None, _) if r.seq > legacy_until => report.problem(
                    Some(r.id),
                    Some(r.seq),
                    "missingMac",
                    format!("event {} carries no MAC", r.seq),
                ),
                _ => {}
            }
            if wanted.contains(&r.seq) {
                at_seq.insert(r.seq, r.hash.clone());
            }
            prev = r.hash;
        }
        report.last_seq = after;
    }
    report.head_hash = prev;
    let mut all: Vec<(Checkpoint, &'static str)> =
        stored.drain(..).map(|c| (c, "database")).collect();
    all.extend(external.iter().cloned().map(|c| (c, "exported copy")));
    for (c, whence) in &all {
        report.checkpoints += 1;
        if c.tenant_id != tenant_id {
            report.problem(
                None,
                None,
                "foreignCheckpoint",
                format!(
                    "a checkpoint of the {whence} belongs to tenant {}",
                    bounded(&c.tenant_id, 64)
                ),
            );
            continue;
        }
        if let Some(k) = key {
            if c.kek_id != k.kek_id {
                report.problem(
                    None,
                    Some(c.seq),
                    "badCheckpoint",
                    format!("the checkpoint at event {} of the {whence} was made with another key (id {})", c.seq, bounded(&c.kek_id, 32)),
                );
                continue;
            }
            if !AuditKey::verify_mac(&k.checkpoint_mac(c), &c.mac) {
                report.problem(
                    None,
                    Some(c.seq),
                    "badCheckpoint",
                    format!("the checkpoint at event {} of the {whence} is forged (its MAC does not verify)", c.seq),
                );
                continue;
            }
        }
        match at_seq.get(&c.seq) {
            Some(h) if *h == c.head_hash => {}
            Some(_) => report.problem(
                None,
                Some(c.seq),
                "checkpointMismatch",
                format!(
                    "event {} differs from the checkpoint of {} in the {whence}: the chain was rewritten",
                    c.seq,
                    rfc3339(c.at)
                ),
            ),
            None => report.problem(
                None,
                Some(c.seq),
                "truncated",
                format!(
                    "the chain ends at event {} but the checkpoint of {} in the {whence} records {} events: it was truncated",
                    report.last_seq,
                    rfc3339(c.at),
                    c.seq
                ),
            ),
        }
        if report
            .last_checkpoint
            .as_ref()
            .is_none_or(|l| l.seq < c.seq)
        {
            report.last_checkpoint = Some(c.clone());
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bounded_text_is_short_and_escaped() {
        let long = "a".repeat(10_000);
        assert_eq!(super::bounded(&long, 300).chars().count(), 301);
        assert_eq!(
            super::bounded("x\u{1b}[2J\u{202e}y\0", 50),
            "x\\u{1b}[2J\\u{202e}y\\u{0}"
        );
    }
}

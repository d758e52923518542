//! `/auditLogs/directoryAudits` and `/auditLogs/verify`.

use crate::audit;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::query::{self, GraphQuery};
use crate::token::{perm, Caller};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::Value;
use std::collections::HashMap;
use webauthn::graph::Collection;

/// Keysmith's own filters of the audit log.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read from the query map by `list`; described here
struct AuditFilters {
    /// Only events of this activity (`Register passkey`, …).
    activity: Option<String>,
    /// Only events about this object id.
    target: Option<String>,
    /// Only events at or after this instant.
    #[param(format = DateTime)]
    since: Option<String>,
}

/// Newest first, paged (`$top`, default 100, at most 999; `$skiptoken`
/// from `@odata.nextLink`), with Graph's `$filter` / `$orderby` /
/// `$select` / `$count` and Keysmith's own filters `activity`, `target`,
/// `since` (RFC 3339).
#[utoipa::path(
    get,
    path = "/auditLogs/directoryAudits",
    operation_id = "listDirectoryAudits",
    tag = "audit",
    summary = "Audit events, newest first",
    description = super::openapi::permissions(perm::AUDIT_READ),
    params(super::openapi::AuditsQuery, AuditFilters),
    responses(
        (status = 200, description = "events", body = Collection<webauthn::graph::DirectoryAudit>)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    link: super::PageLink,
) -> ApiResult<Json<Collection<Value>>> {
    caller.require(perm::AUDIT_READ)?;
    let (graph, page) = GraphQuery::with_page(&query::DIRECTORY_AUDITS, &q, &headers)?;
    let since = match q.get("since") {
        None => None,
        Some(s) => Some(
            crate::time_util::parse_rfc3339(s)
                .ok_or_else(|| ApiError::bad_request("since must be an RFC 3339 date-time."))?,
        ),
    };
    let own = audit::Query {
        top: page.limit(),
        activity: q.get("activity").cloned(),
        target: q.get("target").cloned(),
        since,
    };
    let (events, next, count) =
        audit::page(&state.db, &caller.tenant_id, &own, &graph, &page).await?;
    Ok(link.collection(events, next, count))
}

#[utoipa::path(
    get,
    path = "/auditLogs/verify",
    operation_id = "verifyAuditChain",
    tag = "audit",
    summary = "Walk the tenant's audit hash chain",
    description = super::openapi::permissions(perm::AUDIT_READ),
    responses(
        (status = 200, description = "report", body = audit::ChainReport)
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<audit::ChainReport>> {
    caller.require(perm::AUDIT_READ)?;
    Ok(Json(
        audit::verify_chain(&state.db, &caller.tenant_id, Some(&state.audit_key), &[]).await?,
    ))
}

/// `GET /auditLogs/checkpoints`: the tenant's signed checkpoints, for an
/// outside copy (store it where the database's writers cannot reach;
/// `keysmith admin audit verify --checkpoints FILE` then proves
/// truncation).
#[utoipa::path(
    get,
    path = "/auditLogs/checkpoints",
    operation_id = "listAuditCheckpoints",
    tag = "audit",
    summary = "The tenant's signed audit checkpoints",
    description = super::openapi::permissions(perm::AUDIT_READ),
    responses(
        (status = 200, description = "checkpoints", body = Collection<audit::Checkpoint>)
    )
)]
pub async fn checkpoints(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Collection<audit::Checkpoint>>> {
    caller.require(perm::AUDIT_READ)?;
    let all = audit::checkpoints(&state.db, &caller.tenant_id).await?;
    Ok(Json(Collection::of(all)))
}

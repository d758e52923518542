//! `/auditLogs/directoryAudits` and `/auditLogs/verify`.

use crate::app::AppState;
use crate::audit;
use crate::error::{ApiError, ApiResult};
use crate::token::{perm, Caller};
use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Filters: `$top` (1..=1000, default 100), `activity`, `target`, `since`
/// (RFC 3339).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    caller.require(perm::AUDIT_READ)?;
    let top = match q.get("$top") {
        None => 100,
        Some(t) => t
            .parse::<i64>()
            .ok()
            .filter(|t| (1..=1000).contains(t))
            .ok_or_else(|| ApiError::bad_request("$top must be an integer from 1 to 1000."))?,
    };
    let since = match q.get("since") {
        None => None,
        Some(s) => Some(
            crate::time_util::parse_rfc3339(s)
                .ok_or_else(|| ApiError::bad_request("since must be an RFC 3339 date-time."))?,
        ),
    };
    let query = audit::Query {
        top,
        activity: q.get("activity").cloned(),
        target: q.get("target").cloned(),
        since,
    };
    let events = audit::list(&state.db, &caller.tenant_id, &query).await?;
    Ok(Json(json!({ "value": events })))
}

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
pub async fn checkpoints(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(perm::AUDIT_READ)?;
    let all = audit::checkpoints(&state.db, &caller.tenant_id).await?;
    Ok(Json(json!({ "value": all })))
}

//! `/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2`.

use super::parse_json;
use crate::audit::{self, Event};
use crate::error::ApiResult;
use crate::policy;
use crate::state::{AppState, RequestId};
use crate::token::{perm, Caller};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<webauthn::graph::Fido2Policy>> {
    caller.require(perm::POLICY_READ)?;
    Ok(Json(policy::load(&state.db, &caller.tenant_id).await?))
}

pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    caller.require(perm::POLICY_WRITE)?;
    let patch: serde_json::Value = parse_json(&body)?;
    let updated = policy::patch(&state.db, &caller.tenant_id, &patch).await?;
    audit::record(
        &state.db,
        Event {
            tenant_id: &caller.tenant_id,
            actor: &caller.actor(),
            activity: "Update FIDO2 policy",
            target: "Fido2",
            result: "success",
            reason: "",
            request_id: &rid.0,
            details: serde_json::to_value(&updated).unwrap_or_default(),
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

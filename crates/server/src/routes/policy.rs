//! `/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2`.

use super::parse_json;
use crate::error::ApiResult;
use crate::state::{AppState, RequestId};
use crate::store::policies;
use crate::token::{perm, Caller};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

#[utoipa::path(
    get,
    path = "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2",
    operation_id = "getFido2Policy",
    tag = "policy",
    summary = "The tenant's FIDO2 policy",
    description = super::openapi::permissions(perm::POLICY_READ),
    responses(
        (status = 200, description = "policy", body = webauthn::graph::Fido2Policy)
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<webauthn::graph::Fido2Policy>> {
    caller.require(perm::POLICY_READ)?;
    Ok(Json(policies::load(&state.db, &caller.tenant_id).await?))
}

#[utoipa::path(
    patch,
    path = "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2",
    operation_id = "updateFido2Policy",
    tag = "policy",
    summary = "Update the FIDO2 policy (partial object)",
    description = super::openapi::permissions(perm::POLICY_WRITE),
    request_body = webauthn::graph::Fido2Policy,
    responses(
        (status = 204, description = "updated")
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    caller.require(perm::POLICY_WRITE)?;
    let patch: serde_json::Value = parse_json(&body)?;
    crate::usecase::policy::update(&state, &caller.tenant_id, &patch, &caller.actor(), &rid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

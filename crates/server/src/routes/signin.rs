//! End-user passkey sign-in (no app token): `POST /{tenant}/passkey/signin/begin`
//! and `…/finish`, over `usecase::signin`.

use super::parse_json;
use crate::directory;
use crate::error::ApiResult;
use crate::ratelimit::{ClientAddr, Limited};
use crate::state::{AppState, RequestId};
use crate::usecase::signin;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use webauthn::signin::{BeginRequest, BeginResponse, FinishResponse};

#[utoipa::path(
    post,
    path = "/{tenant}/passkey/signin/begin",
    operation_id = "beginPasskeySignIn",
    tag = "signin",
    summary = "Start a passkey sign-in",
    description = "With a userPrincipalName: username first; with none (or no body): usernameless.",
    params(("tenant" = String, Path, description = "tenant name or id")),
    request_body = Option<webauthn::signin::BeginRequest>,
    security(()),
    responses(
        (status = 200, description = "request options", body = webauthn::signin::BeginResponse),
        (status = 400, response = super::openapi::GraphError),
        (status = 429, response = super::openapi::GraphError)
    )
)]
pub async fn begin(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Extension(client): Extension<ClientAddr>,
    body: Bytes,
) -> ApiResult<Json<BeginResponse>> {
    state.limits.check(Limited::SignIn, client.0, None)?;
    let tenant = directory::find_tenant(&state.db, &tenant).await?;
    let b: BeginRequest = if body.is_empty() {
        BeginRequest::default()
    } else {
        parse_json(&body)?
    };
    Ok(Json(
        signin::begin_flow(&state, &tenant, b.user_principal_name).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/{tenant}/passkey/signin/finish",
    operation_id = "finishPasskeySignIn",
    tag = "signin",
    summary = "Finish a passkey sign-in (assertion verified; counter updated)",
    params(("tenant" = String, Path, description = "tenant name or id")),
    request_body = webauthn::signin::FinishRequest,
    security(()),
    responses(
        (status = 200, description = "signed in", body = webauthn::signin::FinishResponse),
        (status = 400, response = super::openapi::GraphError),
        (status = 401, response = super::openapi::GraphError),
        (status = 403, response = super::openapi::GraphError),
        (status = 429, response = super::openapi::GraphError)
    )
)]
pub async fn finish(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Extension(rid): Extension<RequestId>,
    Extension(client): Extension<ClientAddr>,
    body: Bytes,
) -> ApiResult<Json<FinishResponse>> {
    state.limits.check(Limited::SignIn, client.0, None)?;
    let tenant = directory::find_tenant(&state.db, &tenant).await?;
    let audit = signin::SignInAudit {
        activity: "Sign in with passkey",
        request_id: &rid.0,
    };
    let outcome = signin::finish(&state, &tenant, &body, audit).await;
    state.metrics.signin(outcome.is_ok());
    Ok(Json(outcome?))
}

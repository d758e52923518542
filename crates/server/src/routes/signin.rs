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

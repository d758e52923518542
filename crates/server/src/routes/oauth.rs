//! `POST /{tenant}/oauth2/v2.0/token`: OAuth 2.0 client credentials.

use crate::audit::AuthFailure;
use crate::directory;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::{ClientAddr, Limited};
use crate::state::AppState;
use crate::time_util::now_unix;
use crate::token::{Claims, APP_TOKEN_SECONDS, GRAPH_AUDIENCE};
use axum::extract::{Path, State};
use axum::{Extension, Form, Json};
use std::collections::HashMap;
use webauthn::graph::TokenResponse;

/// Rate-limited per source address and per client id; every refusal is
/// audited (aggregated under a flood).
pub async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Extension(client): Extension<ClientAddr>,
    Form(form): Form<HashMap<String, String>>,
) -> ApiResult<Json<TokenResponse>> {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let actor = format!("app:{}", crate::audit::bounded(field("client_id"), 64));
    state
        .limits
        .check(Limited::Token, client.0, Some(field("client_id")))
        .map_err(|e| e.audited(AuthFailure::token(crate::audit::SERVER_CHAIN, &actor)))?;
    if field("grant_type") != "client_credentials" {
        return Err(ApiError::bad_request(
            "grant_type must be client_credentials.",
        ));
    }
    let scope = field("scope");
    if !scope.is_empty() && !scope.ends_with("/.default") {
        return Err(ApiError::bad_request(
            "scope must be '<resource>/.default'.",
        ));
    }
    let tenant = directory::find_tenant(&state.db, &tenant)
        .await
        .map_err(|e| e.audited(AuthFailure::token(crate::audit::SERVER_CHAIN, &actor)))?;
    let app = directory::authenticate_app(
        &state.db,
        &tenant.id,
        field("client_id"),
        field("client_secret"),
    )
    .await?
    .ok_or_else(|| {
        ApiError::unauthenticated("Invalid client_id or client_secret, or the app is disabled.")
            .audited(AuthFailure::token(&tenant.id, &actor))
    })?;
    let now = now_unix();
    let claims = Claims {
        aud: GRAPH_AUDIENCE.into(),
        iss: state.issuer(&tenant.id),
        iat: now,
        nbf: now,
        exp: now + APP_TOKEN_SECONDS,
        tid: tenant.id.clone(),
        appid: Some(app.client_id.clone()),
        sub: Some(app.client_id.clone()),
        roles: app.roles.clone(),
        upn: None,
    };
    tracing::info!(tenant = %tenant.name, app = %app.client_id, "issued app token");
    Ok(Json(TokenResponse {
        token_type: "Bearer".into(),
        expires_in: APP_TOKEN_SECONDS as u64,
        access_token: state.token_keys.sign(&claims),
    }))
}

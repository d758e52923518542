//! `POST /{tenant}/oauth2/v2.0/token`: OAuth 2.0 client credentials.

use crate::audit::AuthFailure;
use crate::directory;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::{ClientAddr, Limited};
use crate::state::AppState;
use crate::usecase::{tokens, DomainError};
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
    let answer =
        tokens::issue_app_token(&state, &tenant, field("client_id"), field("client_secret"))
            .await
            .map_err(|e| {
                let refused = matches!(e, DomainError::Unauthenticated { .. });
                let e = ApiError::from(e);
                if refused {
                    e.audited(AuthFailure::token(&tenant.id, &actor))
                } else {
                    e
                }
            })?;
    Ok(Json(answer))
}

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

/// A client-credentials token request (RFC 6749 §4.4), read from the form;
/// a field that is absent reads as empty.
#[derive(utoipa::ToSchema)]
struct TokenRequest {
    /// `client_credentials`, the one grant served.
    #[schema(schema_with = client_credentials)]
    grant_type: String,
    /// The app's client id.
    client_id: String,
    /// The app's secret.
    client_secret: String,
    /// `<resource>/.default` (empty: the default).
    #[schema(
        required = false,
        pattern = "(^$)|(/\\.default$)",
        example = "https://graph.microsoft.com/.default"
    )]
    scope: String,
}

fn client_credentials() -> utoipa::openapi::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["client_credentials"]))
        .build()
}

impl TokenRequest {
    fn from_form(form: &HashMap<String, String>) -> Self {
        let field = |k: &str| form.get(k).cloned().unwrap_or_default();
        TokenRequest {
            grant_type: field("grant_type"),
            client_id: field("client_id"),
            client_secret: field("client_secret"),
            scope: field("scope"),
        }
    }
}

/// Rate-limited per source address and per client id; every refusal is
/// audited (aggregated under a flood).
#[utoipa::path(
    post,
    path = "/{tenant}/oauth2/v2.0/token",
    operation_id = "getToken",
    tag = "auth",
    summary = "OAuth 2.0 client credentials",
    params(("tenant" = String, Path, description = "tenant name or id")),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security(()),
    responses(
        (status = 200, description = "token", body = TokenResponse),
        (status = 400, response = super::openapi::GraphError),
        (status = 401, response = super::openapi::GraphError),
        (status = 415, description = "the body is not application/x-www-form-urlencoded", body = webauthn::graph::ErrorResponse),
        (status = 429, response = super::openapi::GraphError)
    )
)]
pub async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Extension(client): Extension<ClientAddr>,
    Form(form): Form<HashMap<String, String>>,
) -> ApiResult<Json<TokenResponse>> {
    let req = TokenRequest::from_form(&form);
    let actor = format!("app:{}", crate::audit::bounded(&req.client_id, 64));
    state
        .limits
        .check(Limited::Token, client.0, Some(&req.client_id))
        .map_err(|e| e.audited(AuthFailure::token(crate::audit::SERVER_CHAIN, &actor)))?;
    if req.grant_type != "client_credentials" {
        return Err(ApiError::bad_request(
            "grant_type must be client_credentials.",
        ));
    }
    if !req.scope.is_empty() && !req.scope.ends_with("/.default") {
        return Err(ApiError::bad_request(
            "scope must be '<resource>/.default'.",
        ));
    }
    let tenant = directory::find_tenant(&state.db, &tenant)
        .await
        .map_err(|e| e.audited(AuthFailure::token(crate::audit::SERVER_CHAIN, &actor)))?;
    let answer = tokens::issue_app_token(&state, &tenant, &req.client_id, &req.client_secret)
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

//! `/healthz`, `/metrics`, `/openapi.json`.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

/// `/healthz`'s answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    /// `ok`, or `database unavailable`.
    #[schema(value_type = String)]
    status: &'static str,
}

#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "ops",
    summary = "Liveness and database check",
    security(()),
    responses(
        (status = 200, description = "ok", body = Health),
        (status = 503, description = "database unavailable", body = Health)
    )
)]
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(_) => (StatusCode::OK, axum::Json(Health { status: "ok" })),
        Err(e) => {
            tracing::warn!("health check: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(Health {
                    status: "database unavailable",
                }),
            )
        }
    }
}

/// `/metrics` on the main listener: only with the configured bearer token
/// (`metrics_token_file`); without one it is not served here (use
/// `metrics_listen` for a listener of its own).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "ops",
    summary = "Prometheus metrics",
    description = "With the bearer token of metrics_token_file; without one configured, metrics are served only on metrics_listen.",
    security(()),
    responses(
        (status = 200, description = "OpenMetrics text format", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "the metrics token is missing or wrong", body = webauthn::graph::ErrorResponse),
        (status = 404, description = "metrics are not served on this listener (no metrics_token_file)", body = webauthn::graph::ErrorResponse)
    )
)]
pub async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, crate::error::ApiError> {
    use secrecy::ExposeSecret;
    use subtle::ConstantTimeEq;
    let Some(expected) = &state.metrics_token else {
        return Err(crate::error::ApiError::not_found(
            "Metrics are not served on this listener: set metrics_token_file, or metrics_listen for a listener of their own.",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(crate::token::token_of_header)
        .unwrap_or("");
    if given.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.expose_secret().as_bytes()))
    {
        return Err(crate::error::ApiError::unauthenticated(
            "The metrics token is missing or wrong.",
        ));
    }
    Ok(metrics_text(&state).into_response())
}

/// The metrics document (also served by the metrics listener).
pub fn metrics_text(state: &AppState) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state
            .metrics
            .render(state.db.commit_stats(), &state.limits.snapshot()),
    )
}

/// `GET /{tenant}/discovery/v2.0/keys`: the public keys that verify this
/// server's tokens (JWKS, at the path Entra uses).
#[utoipa::path(
    get,
    path = "/{tenant}/discovery/v2.0/keys",
    operation_id = "getKeys",
    tag = "auth",
    summary = "The public keys of the server's tokens (JWKS)",
    params(("tenant" = String, Path, description = "tenant name or id")),
    security(()),
    responses(
        (status = 200, description = "JSON Web Key Set (RFC 7517)", body = Object)
    )
)]
pub async fn jwks(
    State(state): State<AppState>,
    axum::extract::Path(tenant): axum::extract::Path<String>,
) -> Result<axum::Json<jsonwebtoken::jwk::JwkSet>, crate::error::ApiError> {
    crate::directory::find_tenant(&state.db, &tenant).await?;
    Ok(axum::Json(state.token_keys.jwks()))
}

/// The discovery document's fields Keysmith serves (OpenID Connect
/// Discovery 1.0 §3).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OpenIdConfiguration {
    issuer: String,
    token_endpoint: String,
    jwks_uri: String,
    #[schema(value_type = Vec<String>)]
    grant_types_supported: [&'static str; 1],
    #[schema(value_type = Vec<String>)]
    id_token_signing_alg_values_supported: [&'static str; 1],
    #[schema(value_type = Vec<String>)]
    token_endpoint_auth_methods_supported: [&'static str; 1],
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`: where the
/// tenant's token endpoint and keys are, and which issuer its tokens name.
#[utoipa::path(
    get,
    path = "/{tenant}/v2.0/.well-known/openid-configuration",
    operation_id = "getOpenIdConfiguration",
    tag = "auth",
    summary = "Where the tenant's token endpoint and keys are (OpenID Connect Discovery)",
    params(("tenant" = String, Path, description = "tenant name or id")),
    security(()),
    responses(
        (status = 200, description = "discovery document", body = OpenIdConfiguration)
    )
)]
pub async fn openid_configuration(
    State(state): State<AppState>,
    axum::extract::Path(tenant): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::Json<OpenIdConfiguration>, crate::error::ApiError> {
    let t = crate::directory::find_tenant(&state.db, &tenant).await?;
    let base = format!("http://{}", super::host_of(&headers));
    Ok(axum::Json(OpenIdConfiguration {
        issuer: state.issuer(&t.id),
        token_endpoint: format!("{base}/{}/oauth2/v2.0/token", t.id),
        jwks_uri: format!("{base}/{}/discovery/v2.0/keys", t.id),
        grant_types_supported: ["client_credentials"],
        id_token_signing_alg_values_supported: ["ES256"],
        token_endpoint_auth_methods_supported: ["client_secret_post"],
    }))
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "ops",
    summary = "This document",
    security(()),
    responses(
        (status = 200, description = "OpenAPI 3.1 document", body = Object)
    )
)]
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
}

//! `/healthz`, `/metrics`, `/openapi.json`.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

/// `/healthz`'s answer.
#[derive(serde::Serialize)]
struct Health {
    status: &'static str,
}

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
pub async fn jwks(
    State(state): State<AppState>,
    axum::extract::Path(tenant): axum::extract::Path<String>,
) -> Result<axum::Json<jsonwebtoken::jwk::JwkSet>, crate::error::ApiError> {
    crate::directory::find_tenant(&state.db, &tenant).await?;
    Ok(axum::Json(state.token_keys.jwks()))
}

/// The discovery document's fields Keysmith serves (OpenID Connect
/// Discovery 1.0 §3).
#[derive(serde::Serialize)]
pub struct OpenIdConfiguration {
    issuer: String,
    token_endpoint: String,
    jwks_uri: String,
    grant_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [&'static str; 1],
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`: where the
/// tenant's token endpoint and keys are, and which issuer its tokens name.
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

pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
}

//! App tokens: the OAuth 2.0 client-credentials grant's decision — the app
//! registration and its secret — and the token it earns.

use super::DomainError;
use crate::directory::{self, Tenant};
use crate::state::AppState;
use crate::time_util::now_unix;
use crate::token::{Claims, APP_TOKEN_SECONDS, GRAPH_AUDIENCE};
use webauthn::graph::TokenResponse;

/// A signed app token for the app `client_id` of `tenant` if `secret` is
/// its secret and both are enabled; `Unauthenticated` otherwise (one
/// answer for an unknown app, a wrong secret and a disabled app).
pub async fn issue_app_token(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
    secret: &str,
) -> Result<TokenResponse, DomainError> {
    let refused = || DomainError::Unauthenticated {
        check: None,
        message: "Invalid client_id or client_secret, or the app is disabled.".into(),
    };
    // No client id holds a NUL (PostgreSQL could not even look it up).
    if client_id.contains('\0') {
        return Err(refused());
    }
    let app = directory::authenticate_app(&state.db, &tenant.id, client_id, secret)
        .await?
        .ok_or_else(refused)?;
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
        roles: app.roles,
        upn: None,
    };
    tracing::info!(tenant = %tenant.name, app = %app.client_id, "issued app token");
    Ok(TokenResponse {
        token_type: "Bearer".into(),
        expires_in: APP_TOKEN_SECONDS as u64,
        access_token: state.token_keys.sign(&claims),
    })
}

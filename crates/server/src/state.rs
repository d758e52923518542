//! The state every handler sees, and the caller of a Graph request as an
//! extractor over it. Below the HTTP layers (`app`, `routes`, `web`) and
//! the use cases: everything imports this, it imports none of them.

use crate::config::ServerConfig;
use crate::db::Db;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::registration::Verifier;
use crate::token::{
    token_of_header, AppStatusCache, Caller, Claims, TokenError, TokenKeys, GRAPH_AUDIENCE,
};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::sync::Arc;

/// State every handler sees.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The configuration the server started with.
    pub config: Arc<ServerConfig>,
    /// The keys that sign and verify tokens.
    pub token_keys: TokenKeys,
    /// The WebAuthn verifier, with its trust anchors and models.
    pub verifier: Arc<Verifier>,
    /// The counters `/metrics` shows.
    pub metrics: Arc<Metrics>,
    /// The key-encryption key (never in the database).
    pub kek: Arc<crate::kek::Kek>,
    /// Authenticates the audit trail (derived from the KEK).
    pub audit_key: Arc<crate::audit::AuditKey>,
    /// Aggregates failures of unauthenticated callers.
    pub failures: Arc<crate::audit::FailureLog>,
    /// The rate limiters of the unauthenticated endpoints.
    pub limits: Arc<crate::ratelimit::Limiters>,
    /// Whether an app (and its tenant) is enabled, cached briefly.
    pub app_status: AppStatusCache,
    /// The bearer token `/metrics` wants on the main listener, if any.
    pub metrics_token: Option<Arc<secrecy::SecretString>>,
}

impl AppState {
    /// The relying party of `tenant` (its own, else the server's).
    pub fn relying_party(
        &self,
        tenant: &crate::directory::Tenant,
    ) -> webauthn::graph::RelyingParty {
        webauthn::graph::RelyingParty {
            id: tenant
                .rp_id
                .clone()
                .unwrap_or_else(|| self.config.rp_id.clone()),
            name: tenant
                .rp_name
                .clone()
                .unwrap_or_else(|| self.config.rp_name.clone()),
        }
    }

    /// Origins accepted for a tenant whose RP ID is `rp_id`.
    pub fn origins(&self, rp_id: &str) -> Vec<String> {
        let mut o = vec![format!("https://{rp_id}")];
        o.extend(self.config.origins.iter().cloned());
        o
    }

    /// Whether an app registration and its tenant exist and are enabled
    /// (cached for a few seconds).
    pub async fn app_enabled(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> crate::error::ApiResult<bool> {
        self.app_status
            .enabled(&self.db, tenant_id, client_id)
            .await
    }

    /// The `iss` of tokens for a tenant (the configured issuer, else `https://{rp_id}`, with the tenant's path).
    pub fn issuer(&self, tenant_id: &str) -> String {
        let base = self
            .config
            .issuer
            .clone()
            .unwrap_or_else(|| format!("https://{}", self.config.rp_id));
        format!("{}/{tenant_id}/v2.0", base.trim_end_matches('/'))
    }
}

/// The id of the request being served (also sent as `request-id`).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The caller of a Graph request: a valid app token of an enabled app.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use crate::audit::AuthFailure;
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(token_of_header)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthenticated("Access token is empty.")
                    .audited(AuthFailure::graph(crate::audit::SERVER_CHAIN, "anonymous"))
            })?;
        let claims = state
            .token_keys
            .verify(&state.db, header, GRAPH_AUDIENCE, |tid| state.issuer(tid))
            .await
            .map_err(|e| {
                // Only a token whose signature held names a tenant we may
                // attribute the failure to.
                let tenant = jsonwebtoken::dangerous::insecure_decode::<Claims>(header)
                    .ok()
                    .filter(|_| {
                        matches!(
                            e,
                            TokenError::Expired
                                | TokenError::NotYetValid
                                | TokenError::TooLong
                                | TokenError::WrongAudience
                        )
                    })
                    .map(|d| d.claims.tid);
                ApiError::unauthenticated(e.message()).audited(AuthFailure::graph(
                    tenant.as_deref().unwrap_or(crate::audit::SERVER_CHAIN),
                    "anonymous",
                ))
            })?;
        let Some(app_id) = claims.appid.clone() else {
            return Err(
                ApiError::unauthenticated(TokenError::NotAnAppToken.message()).audited(
                    AuthFailure::graph(&claims.tid, claims.sub.as_deref().unwrap_or("anonymous")),
                ),
            );
        };
        if !state.app_enabled(&claims.tid, &app_id).await? {
            return Err(ApiError::unauthenticated(TokenError::AppDisabled.message())
                .audited(AuthFailure::graph(&claims.tid, &format!("app:{app_id}"))));
        }
        Ok(Caller {
            tenant_id: claims.tid,
            app_id,
            roles: claims.roles,
        })
    }
}

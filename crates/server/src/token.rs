//! Access tokens: ES256 JWTs signed with a P-256 key that lives in the
//! database (so every instance signs and checks with the same key), and
//! the permission check each endpoint makes (GRAPH_FIDO2_API.md §6).

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::time_util::now_unix;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// App tokens live this long (Entra's `expires_in`).
pub const APP_TOKEN_SECONDS: i64 = 3599;
/// Audience of app tokens (Graph's resource).
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
/// Audience of end-user sign-in tokens.
pub const SIGNIN_AUDIENCE: &str = "keysmith-signin";

/// The token signing key.
#[derive(Clone)]
pub struct TokenKey {
    pub kid: String,
    signing: SigningKey,
    verifying: VerifyingKey,
    /// Tokens whose signature already verified (an ES256 check per request
    /// would cost as much as verifying an attestation).
    verified: Arc<Mutex<HashMap<String, Claims>>>,
}

/// Seconds a token's `nbf` may lie in the future (clocks of instances
/// sharing the signing key differ a little).
pub const CLOCK_SKEW: i64 = 60;

/// Most tokens remembered as verified; the cache is cleared when full.
const VERIFIED_CACHE: usize = 4096;

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// Loads the signing key, creating it on first start. Instances racing
    /// at first start converge on the oldest row.
    pub async fn load_or_create(db: &Db) -> Result<TokenKey, sqlx::Error> {
        let select = "SELECT kid, secret FROM signing_keys ORDER BY created_at, kid LIMIT 1";
        if let Some(row) = sqlx::query(select).fetch_optional(db.read()).await? {
            return Self::from_row(&row);
        }
        let secret = p256::SecretKey::random(&mut rand::thread_rng());
        let kid = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query("INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3)")
            .bind(&kid)
            .bind(secret.to_bytes().to_vec())
            .bind(now_unix())
            .execute(db.write())
            .await?;
        let row = sqlx::query(select).fetch_one(db.write()).await?;
        Self::from_row(&row)
    }

    fn from_row(row: &sqlx::any::AnyRow) -> Result<TokenKey, sqlx::Error> {
        let kid: String = row.try_get("kid")?;
        let secret: Vec<u8> = row.try_get("secret")?;
        let secret = p256::SecretKey::from_slice(&secret)
            .map_err(|_| sqlx::Error::Decode("signing key is corrupt".into()))?;
        let signing = SigningKey::from(secret);
        let verifying = *signing.verifying_key();
        Ok(TokenKey {
            kid,
            signing,
            verifying,
            verified: Arc::default(),
        })
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let mut text = format!(
            "{}.{}",
            webauthn::b64::encode(header.to_string()),
            webauthn::b64::encode(serde_json::to_vec(claims).expect("claims serialise"))
        );
        let sig: Signature = self.signing.sign(text.as_bytes());
        text.push('.');
        text.push_str(&webauthn::b64::encode(sig.to_bytes()));
        text
    }

    /// Checks signature, validity window (`nbf`, with [`CLOCK_SKEW`]
    /// seconds of leeway for another instance's clock; `exp`) and audience.
    pub fn verify(&self, token: &str, audience: &str) -> Result<Claims, &'static str> {
        let cached = self
            .verified
            .lock()
            .ok()
            .and_then(|c| c.get(token).cloned());
        let claims = match cached {
            Some(c) => c,
            None => {
                let c = self.verify_signature(token)?;
                if let Ok(mut cache) = self.verified.lock() {
                    if cache.len() >= VERIFIED_CACHE {
                        cache.clear();
                    }
                    cache.insert(token.to_owned(), c.clone());
                }
                c
            }
        };
        let now = now_unix();
        if claims.exp <= now {
            return Err("The access token has expired.");
        }
        if claims.nbf > now + CLOCK_SKEW {
            return Err("The access token is not valid yet.");
        }
        if claims.aud != audience {
            return Err("The access token is not meant for this API.");
        }
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<Claims, &'static str> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("The access token is malformed.");
        };
        let sig = webauthn::b64::decode(s).map_err(|_| "The access token is malformed.")?;
        let sig =
            Signature::from_slice(&sig).map_err(|_| "The access token signature is invalid.")?;
        let signed_len = h.len() + 1 + c.len();
        self.verifying
            .verify(&token.as_bytes()[..signed_len], &sig)
            .map_err(|_| "The access token signature is invalid.")?;
        let claims = webauthn::b64::decode(c).map_err(|_| "The access token is malformed.")?;
        let claims: Claims =
            serde_json::from_slice(&claims).map_err(|_| "The access token is malformed.")?;
        Ok(claims)
    }
}

/// JWT claims Keysmith issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
}

/// The app calling an endpoint, from its bearer token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant_id: String,
    pub app_id: String,
    pub roles: Vec<String>,
}

impl Caller {
    /// Succeeds if the token carries any of `roles`.
    pub fn require(&self, roles: &[&str]) -> ApiResult<()> {
        if self.roles.iter().any(|r| roles.contains(&r.as_str())) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "Insufficient privileges: one of [{}] is required.",
                roles.join(", ")
            )))
        }
    }

    /// `app:<client id>` for audit records.
    pub fn actor(&self) -> String {
        format!("app:{}", self.app_id)
    }
}

/// Permission sets of GRAPH_FIDO2_API.md §6 (plus Directory.* supersets).
pub mod perm {
    pub const METHODS_WRITE: &[&str] = &[
        "UserAuthenticationMethod.ReadWrite.All",
        "UserAuthMethod-Passkey.ReadWrite.All",
    ];
    pub const METHODS_READ: &[&str] = &[
        "UserAuthenticationMethod.ReadWrite.All",
        "UserAuthMethod-Passkey.ReadWrite.All",
        "UserAuthenticationMethod.Read.All",
        "UserAuthMethod-Passkey.Read.All",
    ];
    pub const POLICY_WRITE: &[&str] = &["Policy.ReadWrite.AuthenticationMethod"];
    pub const POLICY_READ: &[&str] = &["Policy.ReadWrite.AuthenticationMethod", "Policy.Read.All"];
    pub const USERS_WRITE: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];
    pub const USERS_READ: &[&str] = &[
        "User.ReadWrite.All",
        "User.Read.All",
        "Directory.ReadWrite.All",
        "Directory.Read.All",
    ];
    pub const GROUPS_WRITE: &[&str] = &[
        "Group.ReadWrite.All",
        "GroupMember.ReadWrite.All",
        "Directory.ReadWrite.All",
    ];
    pub const GROUPS_READ: &[&str] = &[
        "Group.ReadWrite.All",
        "Group.Read.All",
        "GroupMember.ReadWrite.All",
        "GroupMember.Read.All",
        "Directory.ReadWrite.All",
        "Directory.Read.All",
    ];
    pub const AUDIT_READ: &[&str] = &["AuditLog.Read.All"];
}

impl FromRequestParts<crate::app::AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::app::AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthenticated("Access token is empty."))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthenticated("The Authorization header is not a bearer token.")
            })?;
        let claims = state
            .token_key
            .verify(token.trim(), GRAPH_AUDIENCE)
            .map_err(ApiError::unauthenticated)?;
        let app_id = claims
            .appid
            .ok_or_else(|| ApiError::unauthenticated("The access token is not an app token."))?;
        Ok(Caller {
            tenant_id: claims.tid,
            app_id,
            roles: claims.roles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn key() -> (tempfile::TempDir, TokenKey) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = crate::db::sqlite_url_for_dir(dir.path()).expect("data dir");
        let db = Db::connect(&url).await.expect("database");
        (dir, TokenKey::load_or_create(&db).await.expect("key"))
    }

    fn claims(nbf_from_now: i64, exp_from_now: i64) -> Claims {
        let now = now_unix();
        Claims {
            aud: GRAPH_AUDIENCE.into(),
            iss: "https://keysmith.test".into(),
            iat: now,
            nbf: now + nbf_from_now,
            exp: now + exp_from_now,
            tid: "t".into(),
            appid: Some("a".into()),
            sub: None,
            roles: vec![],
            upn: None,
        }
    }

    #[tokio::test]
    async fn validity_window_and_audience() {
        let (_dir, key) = key().await;
        let ok = key.sign(&claims(0, 600));
        assert!(key.verify(&ok, GRAPH_AUDIENCE).is_ok());
        assert_eq!(
            key.verify(&ok, SIGNIN_AUDIENCE).unwrap_err(),
            "The access token is not meant for this API."
        );
        // Within the clock-skew leeway, and beyond it.
        assert!(key
            .verify(&key.sign(&claims(CLOCK_SKEW / 2, 600)), GRAPH_AUDIENCE)
            .is_ok());
        assert_eq!(
            key.verify(&key.sign(&claims(CLOCK_SKEW + 300, 600)), GRAPH_AUDIENCE)
                .unwrap_err(),
            "The access token is not valid yet."
        );
        assert_eq!(
            key.verify(&key.sign(&claims(-600, -1)), GRAPH_AUDIENCE)
                .unwrap_err(),
            "The access token has expired."
        );
        // A signature over other claims does not verify.
        let mut parts: Vec<&str> = ok.split('.').collect();
        let other = webauthn::b64::encode(serde_json::to_vec(&claims(0, 7200)).unwrap());
        parts[1] = &other;
        assert_eq!(
            key.verify(&parts.join("."), GRAPH_AUDIENCE).unwrap_err(),
            "The access token signature is invalid."
        );
    }
}

//! Admin-center sessions and one-time enrollment links. Both live in the
//! database (the server stays stateless) as SHA-256 hashes of the secret
//! only the browser holds; a session carries its own CSRF token, compared
//! in constant time on every state-changing request.

use crate::db::Db;
use crate::directory::{self, Tenant, User};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::sessions::{self, StoredEnrollment};
use crate::time_util::now_unix;
use axum::http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Name of the session cookie.
pub const COOKIE: &str = "ks_session";
/// Header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long an enrollment link stays valid.
pub const ENROLL_SECONDS: i64 = 24 * 3600;

/// What an admin-center user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// View users, provision and delete passkeys, bulk deprovision.
    Helpdesk,
    /// Everything a helpdesk may, and edit the FIDO2 policy.
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "helpdesk" => Some(Role::Helpdesk),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Helpdesk => "helpdesk",
        }
    }
}

/// The strongest admin-center role among a user's directory roles.
pub fn role_of(roles: &[String]) -> Option<Role> {
    let parsed: Vec<Role> = roles.iter().filter_map(|r| Role::parse(r)).collect();
    if parsed.contains(&Role::Admin) {
        Some(Role::Admin)
    } else if parsed.contains(&Role::Helpdesk) {
        Some(Role::Helpdesk)
    } else {
        None
    }
}

/// A signed-in admin-center user.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub user: User,
    pub role: Role,
    pub csrf: String,
}

impl WebSession {
    /// Succeeds if the session's role covers `needed` (checked on the
    /// server for every action, whatever the page showed).
    pub fn require(&self, needed: Role) -> ApiResult<()> {
        match (needed, self.role) {
            (Role::Helpdesk, _) | (Role::Admin, Role::Admin) => Ok(()),
            _ => Err(ApiError::forbidden(
                "This action requires the admin role; a helpdesk account may not perform it.",
            )
            .audited(self.refusal())),
        }
    }

    /// Succeeds if this session may manage `target`'s passkeys: help desk
    /// manages ordinary users only; the passkeys of admin-center staff
    /// (admin and help-desk roles) are managed by admins only — as Entra
    /// keeps privileged users' methods to the Privileged Authentication
    /// Administrator.
    pub fn may_manage(&self, target: &User) -> ApiResult<()> {
        if target.is_staff() && self.role != Role::Admin {
            return Err(ApiError::forbidden(format!(
                "{} is admin-center staff: only an admin may manage their passkeys.",
                target.upn
            ))
            .audited(self.refusal()));
        }
        Ok(())
    }

    fn refusal(&self) -> crate::audit::AuthFailure {
        crate::audit::AuthFailure::admin_center(&self.user.tenant_id, &self.actor())
    }

    /// Checks the `X-CSRF-Token` header against the session's token.
    pub fn check_csrf(&self, headers: &HeaderMap) -> ApiResult<()> {
        let given = headers
            .get(CSRF_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !given.is_empty() && bool::from(given.ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(
                ApiError::forbidden("The CSRF token is missing or does not match the session.")
                    .audited(self.refusal()),
            )
        }
    }

    /// `user:<upn>` for audit records.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user.upn)
    }
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_secret() -> String {
    webauthn::b64::encode(rand::random::<[u8; 32]>())
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Creates a session for `user`; returns the `Set-Cookie` value.
pub async fn create(state: &AppState, tenant: &Tenant, user: &User) -> ApiResult<HeaderValue> {
    let secret = random_secret();
    let now = now_unix();
    let lifetime = state.config.session_minutes.clamp(1, 7 * 24 * 60) * 60;
    sessions::insert_session(
        &state.db,
        &hash(&secret),
        &tenant.id,
        &user.id,
        &random_secret(),
        now,
        now + lifetime,
    )
    .await?;
    let secure = if state.config.insecure_cookies {
        ""
    } else {
        "; Secure"
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={lifetime}{secure}"
    ))
    .map_err(ApiError::internal)
}

/// The cookie that clears the session in the browser.
pub fn clearing_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.config.insecure_cookies {
        ""
    } else {
        "; Secure"
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    ))
    .expect("static cookie text")
}

/// The session of this request for `tenant`, if any (expired, unknown,
/// other tenant's, or no longer privileged: none).
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
) -> ApiResult<Option<WebSession>> {
    let Some(secret) = cookie_value(headers) else {
        return Ok(None);
    };
    let Some(row) = sessions::find_session(&state.db, &hash(&secret), &tenant.id).await? else {
        return Ok(None);
    };
    if row.expires_at < now_unix() {
        return Ok(None);
    }
    let user = match directory::find_user(&state.db, &tenant.id, &row.user_id).await {
        Ok(u) => u,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    // Roles are read on every request: revoking a role ends its powers now.
    let Some(role) = role_of(&user.roles) else {
        return Ok(None);
    };
    if !user.account_enabled {
        return Ok(None);
    }
    Ok(Some(WebSession {
        user,
        role,
        csrf: row.csrf_token,
    }))
}

/// As [`current`], but a 401 when there is no session.
pub async fn required(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
) -> ApiResult<WebSession> {
    current(state, headers, tenant).await?.ok_or_else(|| {
        ApiError::unauthenticated("Sign in to the admin center first (no valid session).").audited(
            crate::audit::AuthFailure::admin_center(&tenant.id, "anonymous"),
        )
    })
}

/// Ends the session of this request.
pub async fn destroy(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    if let Some(secret) = cookie_value(headers) {
        sessions::delete_session(&state.db, &hash(&secret)).await?;
    }
    Ok(())
}

/// Stores a one-time enrollment token for `user_id`; returns the token.
pub async fn create_enrollment(
    db: &Db,
    tenant_id: &str,
    user_id: &str,
) -> ApiResult<(String, i64)> {
    let token = random_secret();
    let now = now_unix();
    let expires = now + ENROLL_SECONDS;
    sessions::insert_enrollment(
        db,
        &StoredEnrollment {
            token_hash: hash(&token),
            tenant_id: tenant_id.to_owned(),
            user_id: user_id.to_owned(),
            created_at: now,
            expires_at: expires,
        },
    )
    .await?;
    Ok((token, expires))
}

fn bad_link() -> ApiError {
    ApiError::bad_request("The enrollment link is unknown, expired or already used.")
}

/// The user an enrollment token is for, without using it up.
pub async fn peek_enrollment(db: &Db, tenant_id: &str, token: &str) -> ApiResult<String> {
    let (user_id, expires_at) = sessions::find_enrollment(db, &hash(token), tenant_id)
        .await?
        .ok_or_else(bad_link)?;
    if expires_at < now_unix() {
        return Err(bad_link());
    }
    Ok(user_id)
}

/// An enrollment token taken out of the store (single use).
pub type TakenEnrollment = StoredEnrollment;

pub async fn take_enrollment(db: &Db, tenant_id: &str, token: &str) -> ApiResult<TakenEnrollment> {
    let taken = sessions::take_enrollment(db, &hash(token), tenant_id)
        .await?
        .ok_or_else(bad_link)?;
    if taken.expires_at < now_unix() {
        return Err(bad_link());
    }
    Ok(taken)
}

/// Puts a token back after a registration that failed, so the admin can
/// retry with the same link.
pub async fn restore_enrollment(db: &Db, t: &TakenEnrollment) -> ApiResult<()> {
    sessions::insert_enrollment(db, t).await
}

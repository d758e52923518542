//! JSON endpoints the admin-center scripts call. Every state-changing call
//! made with a session checks the CSRF token and the role on the server;
//! registration, deletion, sign-in and policy go through the same code as
//! the Graph API and the sign-in API.

use super::session::{self, Role, WebSession};
use crate::audit;
use crate::directory::{self, Tenant};
use crate::error::parse_json;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::{ClientAddr, Limited};
use crate::state::{AppState, RequestId};
use crate::usecase::signin;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most UPNs one bulk deprovisioning takes.
const BULK_MAX: usize = 1000;

async fn tenant_of(state: &AppState, key: &str) -> ApiResult<Tenant> {
    directory::find_tenant(&state.db, key).await
}

/// Page APIs take JSON only: a cross-site form cannot post it, and a
/// cross-origin script cannot send it without a CORS preflight we refuse.
fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> ApiResult<T> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "badRequest",
            "The request body must be application/json.",
        ));
    }
    parse_json(body)
}

/// The session of a state-changing request: present, CSRF token matching,
/// role sufficient.
async fn acting(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    role: Role,
) -> ApiResult<WebSession> {
    let s = session::required(state, headers, tenant).await?;
    s.check_csrf(headers)?;
    s.require(role)?;
    Ok(s)
}

// The admin-center API's answers (read by the admin center's scripts,
// `assets/*.js`), typed here in one place.

/// A session was opened: who, with which passkey, where to go.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedInAnswer {
    user: webauthn::graph::User,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    method: webauthn::graph::Fido2Method,
    next: String,
}

/// Creation options for the browser (with the user when enrolling).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionsAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<webauthn::graph::User>,
    public_key: webauthn::graph::PublicKeyCredentialCreationOptions,
}

/// Where the browser goes next.
#[derive(Serialize)]
pub struct Next {
    next: String,
}

fn with_cookie(cookie: axum::http::HeaderValue, body: impl Serialize) -> Response {
    let mut r = Json(body).into_response();
    r.headers_mut().insert(header::SET_COOKIE, cookie);
    r
}

pub async fn login_begin(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Extension(client): Extension<ClientAddr>,
) -> ApiResult<Json<webauthn::signin::BeginResponse>> {
    state.limits.check(Limited::AdminLogin, client.0, None)?;
    let tenant = tenant_of(&state, &tenant).await?;
    Ok(Json(signin::begin_flow(&state, &tenant, None).await?))
}

pub async fn login_finish(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Extension(rid): Extension<RequestId>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    state.limits.check(Limited::AdminLogin, client.0, None)?;
    let tenant = tenant_of(&state, &tenant).await?;
    let _: Value = json_body(&headers, &body)?;
    let outcome = async {
        let signed = signin::verify_signin(&state, &tenant, &body, None).await?;
        let role = session::role_of(&signed.user.roles).ok_or_else(|| {
            ApiError::forbidden(format!(
                "{} is not an administrator of this tenant (needs the admin or helpdesk role).",
                signed.user.upn
            ))
        })?;
        Ok::<_, ApiError>((signed, role))
    }
    .await;
    const ACTIVITY: &str = "Sign in to admin center";
    let record = match &outcome {
        Ok(_) => true,
        Err(e) => signin::admit_failure(&state, &tenant.id, ACTIVITY, e),
    };
    if record {
        audit::record_sign_in(
            &state.db,
            &tenant.id,
            ACTIVITY,
            match &outcome {
                Ok((s, _)) => Ok(s.user.id.as_str()),
                Err(e) => Err(e.message.as_str()),
            },
            &rid.0,
        )
        .await?;
    }
    let (signed, role) = outcome?;
    let cookie = session::create(&state, &tenant, &signed.user).await?;
    Ok(with_cookie(
        cookie,
        SignedInAnswer {
            user: signed.user.to_graph(),
            role: Some(role.as_str()),
            method: signed.method.to_graph(),
            next: format!("/{}/admin", super::url_enc(&tenant.name)),
        },
    ))
}

#[derive(Deserialize)]
struct EnrollBody {
    token: String,
}

pub async fn enroll_begin(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<OptionsAnswer>> {
    let tenant = tenant_of(&state, &tenant).await?;
    let b: EnrollBody = json_body(&headers, &body)?;
    let user_id = session::peek_enrollment(&state.db, &tenant.id, &b.token).await?;
    let user = directory::find_user(&state.db, &tenant.id, &user_id).await?;
    let options = crate::usecase::methods::creation_options(
        &state,
        &tenant,
        &user,
        5,
        &format!("enrollment:{}", user.upn),
        &rid,
        &super::pages::host(&headers),
    )
    .await?;
    Ok(Json(OptionsAnswer {
        user: Some(user.to_graph()),
        public_key: options.public_key,
    }))
}

pub async fn enroll_finish(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let tenant = tenant_of(&state, &tenant).await?;
    let b: EnrollBody = json_body(&headers, &body)?;
    let taken = session::take_enrollment(&state.db, &tenant.id, &b.token).await?;
    let user = directory::find_user(&state.db, &tenant.id, &taken.user_id).await?;
    let actor = format!("enrollment:{}", user.upn);
    let method =
        match crate::usecase::register::register(&state, &tenant, &user, &body, &actor, &rid).await
        {
            Ok(m) => m,
            Err(e) => {
                session::restore_enrollment(&state.db, &taken).await?;
                return Err(e.into());
            }
        };
    let cookie = session::create(&state, &tenant, &user).await?;
    Ok(with_cookie(
        cookie,
        SignedInAnswer {
            user: user.to_graph(),
            role: None,
            method: method.to_graph(),
            next: format!("/{}/admin", super::url_enc(&tenant.name)),
        },
    ))
}

pub async fn logout(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let tenant = tenant_of(&state, &tenant).await?;
    acting(&state, &headers, &tenant, Role::Helpdesk).await?;
    session::destroy(&state, &headers).await?;
    let mut r = Json(Next {
        next: format!("/{}/admin/login", super::url_enc(&tenant.name)),
    })
    .into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session::clearing_cookie(&state));
    Ok(r)
}

pub async fn creation_options(
    State(state): State<AppState>,
    Path((tenant, user)): Path<(String, String)>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
) -> ApiResult<Json<OptionsAnswer>> {
    let tenant = tenant_of(&state, &tenant).await?;
    let s = acting(&state, &headers, &tenant, Role::Helpdesk).await?;
    let user = directory::find_user(&state.db, &tenant.id, &user).await?;
    s.may_manage(&user)?;
    let options = crate::usecase::methods::creation_options(
        &state,
        &tenant,
        &user,
        5,
        &s.actor(),
        &rid,
        &super::pages::host(&headers),
    )
    .await?;
    Ok(Json(OptionsAnswer {
        user: None,
        public_key: options.public_key,
    }))
}

pub async fn register(
    State(state): State<AppState>,
    Path((tenant, user)): Path<(String, String)>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let tenant = tenant_of(&state, &tenant).await?;
    let s = acting(&state, &headers, &tenant, Role::Helpdesk).await?;
    let _: Value = json_body(&headers, &body)?;
    let user = directory::find_user(&state.db, &tenant.id, &user).await?;
    s.may_manage(&user)?;
    let method =
        crate::usecase::register::register(&state, &tenant, &user, &body, &s.actor(), &rid).await?;
    Ok((StatusCode::CREATED, Json(method.to_graph())).into_response())
}

pub async fn delete_passkey(
    State(state): State<AppState>,
    Path((tenant, user, id)): Path<(String, String, String)>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let tenant = tenant_of(&state, &tenant).await?;
    let s = acting(&state, &headers, &tenant, Role::Helpdesk).await?;
    let user = directory::find_user(&state.db, &tenant.id, &user).await?;
    s.may_manage(&user)?;
    crate::usecase::methods::delete(&state, &tenant, &user, &id, &s.actor(), &rid).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn save_policy(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<webauthn::graph::Fido2Policy>> {
    let tenant = tenant_of(&state, &tenant).await?;
    let s = acting(&state, &headers, &tenant, Role::Admin).await?;
    let patch: Value = json_body(&headers, &body)?;
    let updated =
        crate::usecase::policy::update(&state, &tenant.id, &patch, &s.actor(), &rid).await?;
    Ok(Json(updated))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeprovisionBody {
    user_principal_names: Vec<String>,
    #[serde(default)]
    dry_run: bool,
}

/// Deletes every passkey of each listed user (or, on a dry run, says
/// what would be deleted).
pub async fn deprovision(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<crate::usecase::methods::DeprovisionAnswer>> {
    let tenant = tenant_of(&state, &tenant).await?;
    let s = acting(&state, &headers, &tenant, Role::Helpdesk).await?;
    let b: DeprovisionBody = json_body(&headers, &body)?;
    let upns: Vec<&str> = b
        .user_principal_names
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    if upns.len() > BULK_MAX {
        return Err(ApiError::bad_request(format!(
            "At most {BULK_MAX} users per request."
        )));
    }
    let answer = crate::usecase::methods::deprovision(
        &state,
        &tenant,
        &upns,
        b.dry_run,
        |user| s.may_manage(user),
        &s.actor(),
        &rid,
    )
    .await?;
    Ok(Json(answer))
}

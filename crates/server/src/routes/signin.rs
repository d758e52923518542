//! End-user passkey sign-in (no app token): `POST /{tenant}/passkey/signin/begin`
//! and `…/finish`.

use super::{b64_field, parse_json};
use crate::app::{AppState, RequestId};
use crate::audit::{self, Event};
use crate::challenge::{self, Purpose};
use crate::directory::{self, Tenant};
use crate::error::{ApiError, ApiResult};
use crate::methods;
use crate::policy;
use crate::time_util::now_unix;
use crate::token::{Claims, SIGNIN_AUDIENCE};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

/// How long a sign-in flow stays open.
const FLOW_SECONDS: i64 = 300;
/// Lifetime of a sign-in token.
const SIGNIN_TOKEN_SECONDS: i64 = 3600;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct BeginBody {
    user_principal_name: Option<String>,
}

fn rp_id(state: &AppState, tenant: &Tenant) -> String {
    tenant
        .rp_id
        .clone()
        .unwrap_or_else(|| state.config.rp_id.clone())
}

pub async fn begin(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let tenant = directory::find_tenant(&state.db, &tenant).await?;
    let b: BeginBody = if body.is_empty() {
        BeginBody::default()
    } else {
        parse_json(&body)?
    };
    let mut allow = Vec::new();
    let mut user_id = None;
    if let Some(upn) = b.user_principal_name.filter(|u| !u.is_empty()) {
        let user = directory::find_user(&state.db, &tenant.id, &upn).await?;
        allow = methods::list_for_user(&state.db, &tenant.id, &user.id)
            .await?
            .into_iter()
            .map(|m| json!({ "type": "public-key", "id": m.id }))
            .collect();
        user_id = Some(user.id);
    }
    let flow_id = uuid::Uuid::new_v4().to_string();
    let challenge = challenge::random_challenge();
    let mut tx = state.db.begin_write().await?;
    challenge::store(
        &mut tx,
        &flow_id,
        &challenge,
        &tenant.id,
        user_id.as_deref(),
        Purpose::Get,
        now_unix() + FLOW_SECONDS,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({
        "flowId": flow_id,
        "publicKey": {
            "challenge": challenge,
            "rpId": rp_id(&state, &tenant),
            "allowCredentials": allow,
            "userVerification": "required",
            "timeout": FLOW_SECONDS * 1000,
        }
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FinishBody {
    flow_id: String,
    credential: AssertionCredential,
}

#[derive(Deserialize)]
struct AssertionCredential {
    id: String,
    response: AssertionResponse,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssertionResponse {
    #[serde(rename = "clientDataJSON", alias = "clientDataJson")]
    client_data_json: String,
    authenticator_data: String,
    signature: String,
    #[serde(default)]
    user_handle: Option<String>,
}

pub async fn finish(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Extension(rid): Extension<RequestId>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let tenant = directory::find_tenant(&state.db, &tenant).await?;
    // Verify first; then consume the flow, record the use and audit in one
    // transaction.
    let mut flow_id: Option<String> = None;
    let mut outcome = finish_inner(&state, &tenant, &body, &mut flow_id).await;
    let base = Event {
        tenant_id: &tenant.id,
        actor: "anonymous",
        activity: "Sign in with passkey",
        target: "",
        result: "success",
        reason: "",
        request_id: &rid.0,
        details: json!({}),
    };
    if let Ok((_, user_id, method, count, at)) = &outcome {
        let mut tx = state.db.begin_write().await?;
        let stored = async {
            if !challenge::take(&mut tx, flow_id.as_deref().unwrap_or(""), &tenant.id).await? {
                return Err(ApiError::bad_request(
                    "The sign-in flow is unknown or has already been used.",
                ));
            }
            methods::record_use(&mut tx, method, *count, *at).await?;
            audit::append(
                &mut tx,
                state.db.backend,
                Event {
                    actor: user_id,
                    target: user_id,
                    ..base.clone()
                },
            )
            .await
        }
        .await;
        match stored {
            Ok(()) => tx.commit().await?,
            Err(e) => {
                tx.rollback().await?;
                outcome = Err(e);
            }
        }
    }
    if let Err(e) = &outcome {
        if e.status.is_server_error() {
            return Err(e.clone());
        }
        let mut tx = state.db.begin_write().await?;
        if let Some(id) = &flow_id {
            challenge::take(&mut tx, id, &tenant.id).await?;
        }
        audit::append(
            &mut tx,
            state.db.backend,
            Event {
                result: "failure",
                reason: &e.message,
                ..base.clone()
            },
        )
        .await?;
        tx.commit().await?;
    }
    state.metrics.count(
        "signins",
        if outcome.is_ok() {
            "success"
        } else {
            "failure"
        },
    );
    outcome.map(|(v, ..)| Json(v))
}

type Finished = (Value, String, methods::Method, i64, i64);

async fn finish_inner(
    state: &AppState,
    tenant: &Tenant,
    body: &[u8],
    flow_id: &mut Option<String>,
) -> ApiResult<Finished> {
    let b: FinishBody = parse_json(body)?;
    let r = &b.credential.response;
    let client_data = b64_field("clientDataJSON", &r.client_data_json)?;
    let auth_data = b64_field("authenticatorData", &r.authenticator_data)?;
    let signature = b64_field("signature", &r.signature)?;
    let cred_id = b64_field("credential.id", &b.credential.id)?;
    let flow = challenge::peek(&state.db, &b.flow_id, &tenant.id, Purpose::Get).await?;
    *flow_id = Some(b.flow_id.clone());
    let unknown = || ApiError::unauthenticated("The passkey is not registered in this tenant.");
    let method = methods::find(&state.db, &tenant.id, &webauthn::b64::encode(&cred_id))
        .await?
        .ok_or_else(unknown)?;
    if flow.user_id.as_ref().is_some_and(|u| *u != method.user_id) {
        return Err(unknown());
    }
    let user = directory::find_user(&state.db, &tenant.id, &method.user_id).await?;
    if let Some(handle) = r.user_handle.as_deref().filter(|h| !h.is_empty()) {
        if b64_field("userHandle", handle)? != user.user_handle {
            return Err(ApiError::unauthenticated(
                "The user handle does not match the passkey.",
            ));
        }
    }
    if !user.account_enabled {
        return Err(ApiError::forbidden("The account is disabled."));
    }
    let policy = policy::load(&state.db, &tenant.id).await?;
    let groups = directory::user_group_ids(&state.db, &user.id).await?;
    policy::check_targets(&policy, &groups)?;
    policy::check_aaguid(&policy, &method.aaguid)?;
    let rp_id = rp_id(state, tenant);
    let origins = state.origins(&rp_id);
    let verifier = state.verifier.clone();
    let public_key = method.public_key.clone();
    let stored = u32::try_from(method.sign_count).unwrap_or(u32::MAX);
    let ok = tokio::task::spawn_blocking(move || {
        verifier.verify_assertion(
            &client_data,
            &auth_data,
            &signature,
            &public_key,
            stored,
            &flow.challenge,
            &origins,
            &rp_id,
        )
    })
    .await
    .map_err(ApiError::internal)??;
    let now = now_unix();
    let claims = Claims {
        aud: SIGNIN_AUDIENCE.into(),
        iss: state.issuer(&tenant.id),
        iat: now,
        nbf: now,
        exp: now + SIGNIN_TOKEN_SECONDS,
        tid: tenant.id.clone(),
        appid: None,
        sub: Some(user.id.clone()),
        roles: Vec::new(),
        upn: Some(user.upn.clone()),
    };
    let mut m = method.clone();
    m.sign_count = i64::from(ok.new_sign_count);
    m.last_used_at = Some(now);
    Ok((
        json!({
            "token": state.token_key.sign(&claims),
            "tokenType": "Bearer",
            "expiresIn": SIGNIN_TOKEN_SECONDS,
            "userVerified": ok.user_verified,
            "user": user.to_json(),
            "method": m.to_graph(),
        }),
        user.id.clone(),
        method,
        i64::from(ok.new_sign_count),
        now,
    ))
}

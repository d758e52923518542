//! End-user passkey sign-in, for the sign-in API (`routes::signin`) and
//! the admin center's login: opening a flow (username first or not, without
//! telling who exists), checking the assertion against the flow, the policy
//! and the stored key, and the signed token.
//!
//! Failures are [`DomainError`]s: an unknown key or a refused assertion is
//! `Unauthenticated` (with the verifier's check), a disabled account or a
//! user outside the policy `Forbidden`, a used or expired flow `Challenge`.

use crate::audit;
use crate::challenge::{self, Purpose};
use crate::directory::{self, Tenant};
use crate::error::{b64_field, parse_json, ApiError};
use crate::policy;
use crate::state::AppState;
use crate::store::challenges;
use crate::store::methods;
use crate::time_util::now_unix;
use crate::token::{Claims, SIGNIN_AUDIENCE};
use crate::usecase::DomainError;
use webauthn::signin::{BeginResponse, FinishRequest, FinishResponse, RequestOptions};

/// How long a sign-in flow stays open.
const FLOW_SECONDS: i64 = 300;
/// Lifetime of a sign-in token.
const SIGNIN_TOKEN_SECONDS: i64 = 3600;

fn rp_id(state: &AppState, tenant: &Tenant) -> String {
    tenant
        .rp_id
        .clone()
        .unwrap_or_else(|| state.config.rp_id.clone())
}

/// Opens a sign-in flow (usernameless when `upn` is empty): shared by the
/// sign-in API and the admin center.
///
/// Username first does not tell who exists: a UPN that is not in the
/// directory gets the same answer as one that is — 200, a flow, and an
/// `allowCredentials` list holding one credential id that is derived from
/// the UPN with a key only the server has (the same every time, of the
/// length of the tenant's credential ids), so repeated or compared answers
/// give nothing away. Finishing such a flow fails like a key that is not
/// registered.
pub async fn begin_flow(
    state: &AppState,
    tenant: &Tenant,
    upn: Option<String>,
) -> Result<BeginResponse, DomainError> {
    let intent = state.db.announce_write();
    let mut allow = Vec::new();
    let mut user_id = None;
    if let Some(upn) = upn.filter(|u| !u.is_empty()) {
        // Per user, known or not (a refusal must not tell them apart).
        state
            .limits
            .check_user(&format!("{}/{}", tenant.id, crate::names::upn_key(&upn)))?;
        match directory::find_user(&state.db, &tenant.id, &upn).await {
            Ok(user) => {
                allow = methods::list_for_user(&state.db, &tenant.id, &user.id)
                    .await?
                    .into_iter()
                    .map(|m| descriptor(m.id))
                    .collect();
                user_id = Some(user.id);
            }
            Err(e) if e.is_not_found() => {
                let len = methods::sample_credential_id_len(&state.db, &tenant.id)
                    .await?
                    .unwrap_or(64);
                let decoy = decoy_credential_id(state, &tenant.id, &upn, len);
                allow = vec![descriptor(webauthn::b64::encode(&decoy))];
                // Bound to no user: no registered passkey can finish it.
                user_id = Some(format!("decoy:{}", webauthn::b64::encode(&decoy[..8])));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let flow_id = uuid::Uuid::new_v4().to_string();
    let challenge = challenge::random_challenge();
    let (id, stored, tenant_id) = (flow_id.clone(), challenge.clone(), tenant.id.clone());
    state
        .db
        .write_announced(intent, None, move |ctx| {
            Box::pin(async move {
                challenges::store(
                    ctx,
                    &id,
                    &stored,
                    &tenant_id,
                    user_id.as_deref(),
                    Purpose::Get,
                    now_unix() + FLOW_SECONDS,
                )
                .await
            })
        })
        .await?;
    Ok(BeginResponse {
        flow_id,
        public_key: RequestOptions {
            challenge,
            rp_id: rp_id(state, tenant),
            allow_credentials: allow,
            user_verification: Some("required".into()),
            timeout: Some(FLOW_SECONDS as u64 * 1000),
        },
    })
}

fn descriptor(id: String) -> webauthn::graph::CredentialDescriptor {
    webauthn::graph::CredentialDescriptor {
        type_: "public-key".into(),
        id,
        transports: Vec::new(),
    }
}

/// A credential id for a UPN that is not in the directory: HMAC of the
/// tenant and UPN under a key derived from the KEK, `len` bytes.
fn decoy_credential_id(state: &AppState, tenant_id: &str, upn: &str, len: usize) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let key = state.kek.derive("sign-in decoy v1");
    let mut out = Vec::with_capacity(len);
    let mut counter = 0u32;
    while out.len() < len {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&*key).expect("any key length");
        mac.update(tenant_id.as_bytes());
        mac.update(&[0]);
        mac.update(crate::names::upn_key(upn).as_bytes());
        mac.update(&counter.to_be_bytes());
        out.extend_from_slice(&mac.finalize().into_bytes());
        counter += 1;
    }
    out.truncate(len.clamp(16, 1023));
    out
}

/// The audit record [`verify_signin`] writes for the attempt, whatever its
/// outcome, in the same transaction as the flow's consumption.
pub struct SignInAudit<'a> {
    /// The audit activity (`Sign in with passkey`, …).
    pub activity: &'a str,
    /// The HTTP request.
    pub request_id: &'a str,
}

/// A verified passkey assertion: who, with which key.
pub struct SignedIn {
    /// The user.
    pub user: directory::User,
    /// The passkey used (its counter updated).
    pub method: methods::Method,
    /// Whether the key verified the user.
    pub user_verified: bool,
}

/// `POST …/signin/finish`: verifies the assertion, consumes the flow, audits, and issues a token.
pub async fn finish(
    state: &AppState,
    tenant: &Tenant,
    body: &[u8],
    audit: SignInAudit<'_>,
) -> Result<FinishResponse, DomainError> {
    let SignedIn {
        user,
        method: m,
        user_verified,
    } = verify_signin(state, tenant, body, Some(audit)).await?;
    let now = m.last_used_at.unwrap_or_else(now_unix);
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
    Ok(FinishResponse {
        token: state.token_keys.sign(&claims),
        token_type: "Bearer".into(),
        expires_in: SIGNIN_TOKEN_SECONDS,
        user_verified,
        user: user.to_json(),
        method: m.to_graph(),
    })
}

/// Checks a finish body (flow, credential, policy, signature, counter) and
/// records the key's use: shared by the sign-in API and the admin center.
/// With `audit`, the attempt's audit record (success or failure) is written
/// too, in the same group-commit job as the flow's consumption.
pub async fn verify_signin(
    state: &AppState,
    tenant: &Tenant,
    body: &[u8],
    audit: Option<SignInAudit<'_>>,
) -> Result<SignedIn, DomainError> {
    let intent = state.db.announce_write();
    let early = async {
        let b: FinishRequest = parse_json(body)?;
        let (flow, policy) =
            challenges::peek_with_policy(&state.db, &b.flow_id, &tenant.id, Purpose::Get).await?;
        Ok::<_, DomainError>((b, flow, policy))
    }
    .await;
    let (b, flow, policy) = match early {
        Ok(v) => v,
        Err(e) => {
            drop(intent);
            // Audited as the caller is answered.
            let answered = ApiError::from(e.clone());
            if let Some(a) =
                audit.filter(|a| admit_failure(state, &tenant.id, a.activity, &answered))
            {
                audit::record_sign_in(
                    &state.db,
                    &tenant.id,
                    a.activity,
                    Err(&answered.message),
                    a.request_id,
                )
                .await?;
            }
            return Err(e);
        }
    };
    let result = verify_peeked(state, tenant, &b, flow, policy).await;
    // The flow is single-use whatever the outcome: consume it together
    // with the key's new counter and the audit record (one group-commit
    // job, so one flush).
    let (flow_id, tenant_id) = (b.flow_id.clone(), tenant.id.clone());
    let used = result
        .as_ref()
        .ok()
        .map(|s| (s.method.clone(), s.method.sign_count, s.method.last_used_at));
    // Failures are aggregated under a flood (the flow is consumed all the
    // same).
    let answered = result.as_ref().map_err(|e| ApiError::from(e.clone()));
    let audited = audit
        .filter(|a| match &answered {
            Ok(_) => true,
            Err(e) => admit_failure(state, &tenant.id, a.activity, e),
        })
        .map(|a| {
            let outcome = match &answered {
                Ok(s) => Ok(s.user.id.clone()),
                Err(e) => Err(e.message.clone()),
            };
            (a.activity.to_owned(), a.request_id.to_owned(), outcome)
        });
    let taken = state
        .db
        .write_announced(intent, Some(&tenant.id), move |ctx| {
            Box::pin(async move {
                let taken = challenges::take(ctx, &flow_id, &tenant_id).await?;
                if let (true, Some((m, count, at))) = (taken, &used) {
                    methods::record_use(ctx, m, *count, at.unwrap_or_else(now_unix)).await?;
                }
                if let Some((activity, request_id, outcome)) = &audited {
                    // What the caller is answered.
                    let outcome = match outcome {
                        Ok(_) if !taken => Err(challenge::unknown_message(Purpose::Get)),
                        Ok(user) => Ok(user.as_str()),
                        Err(reason) => Err(reason.as_str()),
                    };
                    let ev = audit::sign_in_event(&tenant_id, activity, outcome, request_id);
                    audit::append_in(ctx, ev.as_event()).await?;
                }
                Ok(taken)
            })
        })
        .await?;
    match result {
        Ok(_) if !taken => Err(DomainError::Challenge(
            challenge::unknown_message(Purpose::Get).into(),
        )),
        other => other,
    }
}

/// Whether a failed sign-in of `activity` is recorded as its own event
/// (see [`crate::audit::failures`]).
pub fn admit_failure(state: &AppState, tenant_id: &str, activity: &str, e: &ApiError) -> bool {
    let class = format!("{} {}", e.status.as_u16(), e.code);
    state
        .failures
        .admit(tenant_id, activity, &class, &e.message)
        == audit::Admit::Write
}

async fn verify_peeked(
    state: &AppState,
    tenant: &Tenant,
    b: &FinishRequest,
    flow: challenge::Issued,
    policy: webauthn::graph::Fido2Policy,
) -> Result<SignedIn, DomainError> {
    let r = &b.credential.response;
    let (client_data, auth_data, signature) = (
        r.client_data_json.clone(),
        r.authenticator_data.clone(),
        r.signature.clone(),
    );
    let cred_id = b64_field("credential.id", &b.credential.id)?;
    let unknown = || DomainError::Unauthenticated {
        check: None,
        message: "The passkey is not registered in this tenant.".into(),
    };
    let method = methods::find(&state.db, &tenant.id, &webauthn::b64::encode(&cred_id))
        .await?
        .ok_or_else(unknown)?;
    if flow.user_id.as_ref().is_some_and(|u| *u != method.user_id) {
        return Err(unknown());
    }
    let user = directory::find_user(&state.db, &tenant.id, &method.user_id).await?;
    state.limits.check_user(&format!(
        "{}/{}",
        tenant.id,
        crate::names::upn_key(&user.upn)
    ))?;
    if let Some(handle) = r.user_handle.as_deref() {
        if handle != user.user_handle.as_slice() {
            return Err(DomainError::Unauthenticated {
                check: None,
                message: "The user handle does not match the passkey.".into(),
            });
        }
    }
    if !user.account_enabled {
        return Err(DomainError::Forbidden("The account is disabled.".into()));
    }
    policy::check_user(&state.db, &policy, &user.id).await?;
    policy::check_aaguid(&policy, &method.aaguid)?;
    let rp_id = rp_id(state, tenant);
    let origins = state.origins(&rp_id);
    let verifier = state.verifier.clone();
    let public_key = method.public_key.clone();
    let stored = u32::try_from(method.sign_count).unwrap_or(u32::MAX);
    // A counter that reached 2^32 − 1 can go no higher: the key's next
    // answer cannot be checked against it, so it is not held against the
    // key (it would otherwise be locked out for good).
    let stored = if stored == u32::MAX { 0 } else { stored };
    // One ES256 verification (~0.1 ms): cheaper inline than a hop to the
    // blocking pool and back.
    let ok = verifier.verify_assertion(
        &client_data,
        &auth_data,
        &signature,
        &public_key,
        stored,
        &flow.challenge,
        &origins,
        &rp_id,
    )?;
    let now = now_unix();
    let mut m = method;
    m.sign_count = i64::from(ok.new_sign_count);
    m.last_used_at = Some(now);
    Ok(SignedIn {
        user,
        method: m,
        user_verified: ok.user_verified,
    })
}

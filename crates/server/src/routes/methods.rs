//! `/users/{user}/authentication/fido2Methods…`: creation options,
//! registration, list, get, delete (GRAPH_FIDO2_API.md §1–3).

use super::{host_of, parse_json};
use crate::app::{AppState, RequestId};
use crate::audit::{self, Event};
use crate::challenge::{self, Purpose};
use crate::directory::{self, Tenant, User};
use crate::error::{ApiError, ApiResult};
use crate::methods::{self, Method};
use crate::time_util::{now_unix, rfc3339};
use crate::token::{perm, Caller};
use crate::{policy, time_util};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use std::collections::HashMap;
use webauthn::graph::{
    AuthenticatorSelection, CreationExtensions, CreationOptionsResponse, CredentialDescriptor,
    PubKeyCredParam, PublicKeyCredentialCreationOptions, RegisterRequest, RelyingParty, UserEntity,
};

const MIN_TIMEOUT: i64 = 5;
const MAX_TIMEOUT: i64 = 43200;

async fn tenant_and_user(
    state: &AppState,
    caller: &Caller,
    user: &str,
) -> ApiResult<(Tenant, User)> {
    directory::find_tenant_and_user(&state.db, &caller.tenant_id, user).await
}

/// Changing the methods of admin-center staff needs the privileged
/// permission besides the ordinary one (see
/// [`perm::PRIVILEGED_METHODS_WRITE`]).
pub(crate) fn require_privileged_if_staff(caller: &Caller, user: &User) -> ApiResult<()> {
    if user.is_staff() {
        caller
            .require(perm::PRIVILEGED_METHODS_WRITE)
            .map_err(|mut e| {
                e.message = format!(
                "{} is admin-center staff: managing their authentication methods needs {} as well.",
                user.upn,
                perm::PRIVILEGED_METHODS_WRITE.join(", ")
            );
                e
            })?;
    }
    Ok(())
}

fn rp_of(state: &AppState, tenant: &Tenant) -> RelyingParty {
    RelyingParty {
        id: tenant
            .rp_id
            .clone()
            .unwrap_or_else(|| state.config.rp_id.clone()),
        name: tenant
            .rp_name
            .clone()
            .unwrap_or_else(|| state.config.rp_name.clone()),
    }
}

/// `GET …/fido2Methods/{id}`: a method, or creation options when `{id}` is
/// `creationOptions` / `creationOptions(challengeTimeoutInMinutes=N)`.
pub async fn get_or_creation_options(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(rest) = id.strip_prefix("creationOptions") {
        let from_path = if rest.is_empty() {
            None
        } else {
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| ApiError::bad_request("Malformed creationOptions parameters."))?;
            match inner.split_once('=') {
                Some((k, v)) if k.trim() == "challengeTimeoutInMinutes" => {
                    let v = v.trim();
                    match v.strip_prefix('@') {
                        // An OData parameter alias, its value in the query
                        // (`?@alias=60`); the Graph Go SDK's URL template
                        // sends `?challengeTimeoutInMinutes=60` for it.
                        Some(alias) => Some(
                            query
                                .get(v)
                                .or_else(|| query.get(alias))
                                .cloned()
                                .ok_or_else(|| {
                                    ApiError::bad_request(format!(
                                        "The parameter alias {v} has no value in the query."
                                    ))
                                })?,
                        ),
                        None => Some(v.to_owned()),
                    }
                }
                _ if inner.trim().is_empty() => None,
                _ => return Err(ApiError::bad_request("Unknown creationOptions parameter.")),
            }
        };
        let minutes = from_path.or_else(|| query.get("challengeTimeoutInMinutes").cloned());
        return creation_options(state, caller, user, minutes, rid, headers).await;
    }
    caller.require(perm::METHODS_READ)?;
    let (tenant, user) = tenant_and_user(&state, &caller, &user).await?;
    match methods::find(&state.db, &tenant.id, &id).await? {
        Some(m) if m.user_id == user.id => Ok(Json(m.to_graph()).into_response()),
        _ => Err(ApiError::not_found(format!(
            "The FIDO2 method '{id}' does not exist."
        ))),
    }
}

async fn creation_options(
    state: AppState,
    caller: Caller,
    user: String,
    minutes: Option<String>,
    rid: RequestId,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require(perm::METHODS_WRITE)?;
    let minutes = match minutes {
        None => MIN_TIMEOUT,
        Some(m) => m
            .parse::<i64>()
            .ok()
            .filter(|m| (MIN_TIMEOUT..=MAX_TIMEOUT).contains(m))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "challengeTimeoutInMinutes must be an integer from {MIN_TIMEOUT} to {MAX_TIMEOUT}."
                ))
            })?,
    };
    let (tenant, user) = tenant_and_user(&state, &caller, &user).await?;
    require_privileged_if_staff(&caller, &user)?;
    let body = creation_options_for(
        &state,
        &tenant,
        &user,
        minutes,
        &caller.actor(),
        &rid,
        &host_of(&headers),
    )
    .await?;
    Ok(Json(body).into_response())
}

/// Creation options for `user` (challenge stored, audit written): shared
/// by the Graph endpoint and the admin center.
pub(crate) async fn creation_options_for(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    minutes: i64,
    actor: &str,
    rid: &RequestId,
    host: &str,
) -> ApiResult<CreationOptionsResponse> {
    let intent = state.db.announce_write();
    let policy = policy::load(&state.db, &tenant.id).await?;
    policy::check_user(&state.db, &policy, &user.id).await?;
    let existing = methods::list_for_user(&state.db, &tenant.id, &user.id).await?;
    // At the limit: refused before any key is touched.
    let limit = state.config.max_passkeys_per_user.max(1);
    if existing.len() >= limit as usize {
        return Err(methods::limit_reached(&user.upn, limit));
    }
    let challenge = challenge::random_challenge();
    let expires = now_unix() + minutes * 60;
    let ev = audit::OwnedEvent::from(Event {
        tenant_id: &tenant.id,
        actor,
        activity: "Get passkey creation options",
        target: &user.id,
        result: "success",
        reason: "",
        request_id: &rid.0,
        details: serde_json::json!({ "challengeTimeoutInMinutes": minutes }),
    });
    let (stored, user_id) = (challenge.clone(), user.id.clone());
    state
        .db
        .write_announced(intent, Some(&tenant.id), move |ctx| {
            Box::pin(async move {
                challenge::store(
                    ctx,
                    &stored,
                    &stored,
                    &ev.tenant_id,
                    Some(&user_id),
                    Purpose::Create,
                    expires,
                )
                .await?;
                audit::append_in(ctx, ev.as_event()).await
            })
        })
        .await?;
    let body = CreationOptionsResponse {
        odata_context: Some(format!(
            "https://{}/v1.0/$metadata#microsoft.graph.webauthnCredentialCreationOptions",
            host
        )),
        challenge_timeout_date_time: Some(rfc3339(expires)),
        public_key: PublicKeyCredentialCreationOptions {
            rp: rp_of(state, tenant),
            user: UserEntity {
                id: webauthn::b64::encode(&user.user_handle),
                name: user.upn.clone(),
                display_name: user.display_name.clone(),
            },
            challenge,
            pub_key_cred_params: [-7, -257, -8, -35]
                .into_iter()
                .map(|alg| PubKeyCredParam {
                    type_: "public-key".into(),
                    alg,
                })
                .collect(),
            timeout: Some(60_000),
            exclude_credentials: existing
                .iter()
                .map(|m| CredentialDescriptor {
                    type_: "public-key".into(),
                    id: m.id.clone(),
                    transports: vec!["usb".into()],
                })
                .collect(),
            authenticator_selection: Some(AuthenticatorSelection {
                authenticator_attachment: Some("cross-platform".into()),
                require_resident_key: true,
                resident_key: Some("required".into()),
                user_verification: Some("required".into()),
            }),
            attestation: Some("direct".into()),
            extensions: Some(CreationExtensions {
                hmac_create_secret: Some(true),
                enforce_credential_protection_policy: Some(true),
                credential_protection_policy: Some("userVerificationOptional".into()),
                ..Default::default()
            }),
        },
    };
    Ok(body)
}

/// `POST …/fido2Methods`.
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Extension(rid): Extension<RequestId>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(perm::METHODS_WRITE)?;
    let (tenant, user) = tenant_and_user(&state, &caller, &user).await?;
    require_privileged_if_staff(&caller, &user)?;
    let method = register_for(&state, &tenant, &user, &body, &caller.actor(), &rid).await?;
    let location = format!(
        "/v1.0/users/{}/authentication/fido2Methods/{}",
        user.id, method.id
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(method.to_graph()),
    )
        .into_response())
}

/// Verifies and stores a registration for `user`, with its audit event:
/// shared by the Graph endpoint and the admin center.
pub(crate) async fn register_for(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    body: &[u8],
    actor: &str,
    rid: &RequestId,
) -> ApiResult<Method> {
    let base = Event {
        tenant_id: &tenant.id,
        actor,
        activity: "Register passkey",
        target: &user.id,
        result: "success",
        reason: "",
        request_id: &rid.0,
        details: serde_json::json!({ "user": user.id }),
    };
    // Verify first; then consume the challenge, store the method and its
    // audit record as one job of the next group commit (one transaction
    // and one flush for every registration queued meanwhile; a job that
    // fails is rolled back alone).
    // Either outcome writes (the method, or the failure's audit record).
    let mut intent = Some(state.db.announce_write());
    let mut challenge_id: Option<String> = None;
    let mut outcome = register_inner(state, tenant, user, body, &mut challenge_id).await;
    if let Ok(method) = &outcome {
        let method = method.clone();
        let challenge = challenge_id.clone().unwrap_or_default();
        let ev = audit::OwnedEvent::from(Event {
            target: &method.id,
            details: serde_json::json!({ "user": user.id, "aaGuid": method.aaguid }),
            ..base.clone()
        });
        let intent = intent.take().expect("announced above");
        let (limit, upn, user_id) = (
            state.config.max_passkeys_per_user.max(1),
            user.upn.clone(),
            user.id.clone(),
        );
        let stored = state
            .db
            .write_announced(intent, Some(&tenant.id), move |ctx| {
                Box::pin(async move {
                    if !challenge::take(ctx, &challenge, &ev.tenant_id).await? {
                        return Err(ApiError::bad_request(
                            "The challenge is unknown or has already been used.",
                        ));
                    }
                    // Counted in the transaction that inserts: the limit
                    // holds under concurrent registrations.
                    if methods::count_for_user_in(ctx, &ev.tenant_id, &user_id).await?
                        >= i64::from(limit)
                    {
                        return Err(methods::limit_reached(&upn, limit));
                    }
                    methods::insert(ctx, &method).await?;
                    audit::append_in(ctx, ev.as_event()).await
                })
            })
            .await;
        if let Err(e) = stored {
            outcome = Err(e);
        }
    }
    if let Err(e) = &outcome {
        if e.status.is_server_error() {
            return Err(e.clone());
        }
        let challenge = challenge_id.clone();
        let ev = audit::OwnedEvent::from(Event {
            result: "failure",
            reason: &e.message,
            ..base.clone()
        });
        // The announcement is already spent if it was the store that failed.
        let intent = intent.take().unwrap_or_else(|| state.db.announce_write());
        state
            .db
            .write_announced(intent, Some(&tenant.id), move |ctx| {
                Box::pin(async move {
                    if let Some(id) = &challenge {
                        challenge::take(ctx, id, &ev.tenant_id).await?;
                    }
                    audit::append_in(ctx, ev.as_event()).await
                })
            })
            .await?;
    }
    state.metrics.count(
        "registrations",
        if outcome.is_ok() {
            "success"
        } else {
            "failure"
        },
    );
    outcome
}

async fn register_inner(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    body: &[u8],
    challenge_id: &mut Option<String>,
) -> ApiResult<Method> {
    // Entra refuses a body carrying `@odata.type`, and a body sent as a JSON
    // string, with this 400 (GRAPH_FIDO2_API.md §8); other properties it
    // ignores, and so does Keysmith.
    let missing = || {
        ApiError::bad_request(
            "The request is missing a fido2AuthenticationMethod entity with a displayName and publicKeyCredential in the request body. All other properties will be ignored.",
        )
    };
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::String(_)) => return Err(missing()),
        Ok(serde_json::Value::Object(o)) if o.contains_key("@odata.type") => return Err(missing()),
        _ => {}
    }
    let req: RegisterRequest = parse_json(body)?;
    // Entra's limit: 1 to 30 characters (GRAPH_FIDO2_API.md §8).
    let given_name = req
        .display_name
        .as_deref()
        .map(crate::names::passkey_name)
        .transpose()?;
    let cred = &req.public_key_credential;
    let client_data = cred.response.client_data_json.clone();
    let attestation = cred.response.attestation_object.clone();
    let parsed = webauthn::CollectedClientData::parse(&client_data)
        .map_err(|_| ApiError::bad_request("clientDataJSON is not valid client data."))?;
    // The challenge and the tenant's policy in one query.
    let (issued, policy) =
        challenge::peek_with_policy(&state.db, &parsed.challenge, &tenant.id, Purpose::Create)
            .await?;
    // Another user's challenge is refused without being used up: a
    // registration aimed at the wrong user must not cost that user theirs.
    if issued.user_id.as_deref() != Some(user.id.as_str()) {
        return Err(ApiError::bad_request(
            "The challenge was issued for another user.",
        ));
    }
    *challenge_id = Some(parsed.challenge.clone());
    policy::check_user(&state.db, &policy, &user.id).await?;
    let rp = rp_of(state, tenant);
    let verifier = state.verifier.clone();
    let origins = state.origins(&rp.id);
    let enforce = policy.is_attestation_enforced;
    // One ES256 verification (~0.1 ms; the attestation path is cached):
    // cheaper inline than a hop to the blocking pool and back.
    let accepted = verifier.verify_registration(
        &client_data,
        &attestation,
        &issued.challenge,
        &origins,
        &rp.id,
        enforce,
    )?;
    policy::check_aaguid(&policy, &accepted.aaguid)?;
    let id = webauthn::b64::encode(&accepted.verified.credential_id);
    if let Ok(given) = webauthn::b64::decode_lenient(&cred.id) {
        if given != accepted.verified.credential_id {
            return Err(ApiError::bad_request(
                "publicKeyCredential.id does not match the attested credential id.",
            ));
        }
    }
    let display_name = given_name.or_else(|| {
        accepted
            .model
            .as_deref()
            .map(|m| m.chars().take(crate::names::PASSKEY_NAME_MAX).collect())
    });
    let method = Method {
        id,
        tenant_id: tenant.id.clone(),
        user_id: user.id.clone(),
        credential_id: accepted.verified.credential_id.clone(),
        public_key: accepted.verified.public_key_cose.clone(),
        sign_count: i64::from(accepted.verified.sign_count),
        aaguid: accepted.aaguid.clone(),
        fmt: accepted.verified.fmt.clone(),
        attestation_level: if accepted.attested {
            "attested"
        } else {
            "notAttested"
        }
        .into(),
        cert_thumbprints: accepted.thumbprints.clone(),
        model: accepted.model.clone(),
        display_name,
        backup_eligible: accepted.verified.backup_eligible,
        created_at: time_util::now_unix(),
        last_used_at: None,
    };
    Ok(method)
}

/// `GET …/fido2Methods`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    link: super::PageLink,
) -> ApiResult<Json<webauthn::graph::Collection<serde_json::Value>>> {
    caller.require(perm::METHODS_READ)?;
    let q = crate::query::GraphQuery::from_request(&crate::query::FIDO2_METHODS, &query, &headers)?;
    let page = crate::paging::PageRequest::from_query(&query, &q.token_kind())?;
    let (tenant, user) = tenant_and_user(&state, &caller, &user).await?;
    let (found, next, count) =
        methods::page_for_user(&state.db, &tenant.id, &user.id, &q, &page).await?;
    let value = found
        .iter()
        .map(|m| q.project(serde_json::to_value(m.to_graph()).unwrap_or_default()))
        .collect();
    let mut page = link.collection(value, next, count);
    // Keysmith's own annotation: how many passkeys a user may have.
    page.max_passkeys_per_user = Some(state.config.max_passkeys_per_user.max(1));
    Ok(page)
}

/// `DELETE …/fido2Methods/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Extension(rid): Extension<RequestId>,
) -> ApiResult<StatusCode> {
    caller.require(perm::METHODS_WRITE)?;
    let (tenant, user) = tenant_and_user(&state, &caller, &user).await?;
    require_privileged_if_staff(&caller, &user)?;
    delete_for(&state, &tenant, &user, &id, &caller.actor(), &rid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes one of `user`'s methods, with its audit event: shared by the
/// Graph endpoint and the admin center.
pub(crate) async fn delete_for(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    id: &str,
    actor: &str,
    rid: &RequestId,
) -> ApiResult<()> {
    if !methods::delete(&state.db, &tenant.id, &user.id, id).await? {
        return Err(ApiError::not_found(format!(
            "The FIDO2 method '{id}' does not exist."
        )));
    }
    audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            actor,
            activity: "Delete passkey",
            target: id,
            result: "success",
            reason: "",
            request_id: &rid.0,
            details: serde_json::json!({ "user": user.id }),
        },
    )
    .await?;
    Ok(())
}

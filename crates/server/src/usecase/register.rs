//! Registering a passkey for a user (Graph's `POST …/fido2Methods`, the
//! admin center's registration and enrollment): read the request as Entra
//! does, check the challenge and the policy, verify the attestation, then
//! consume the challenge and store the method and its audit record in one
//! group-commit job. A failure is audited too.

use super::DomainError;
use crate::audit::{self, Event};
use crate::challenge::Purpose;
use crate::directory::{Tenant, User};
use crate::error::ApiError;
use crate::state::{AppState, RequestId};
use crate::store::challenges;
use crate::store::methods::{self, Method, NotStored};
use crate::{policy, time_util};
use webauthn::graph::RegisterRequest;

type Result<T> = std::result::Result<T, DomainError>;

/// Reads a registration body as Entra does: a body carrying `@odata.type`,
/// or sent as a JSON string, gets Entra's own 400 (GRAPH_FIDO2_API.md §8);
/// other unknown properties are ignored, as Entra does.
pub fn parse_request(body: &[u8]) -> Result<RegisterRequest> {
    let missing = || {
        DomainError::Invalid {
        field: None,
        message: "The request is missing a fido2AuthenticationMethod entity with a displayName and publicKeyCredential in the request body. All other properties will be ignored.".into(),
    }
    };
    // A JSON string, not an object (read once; no second parse).
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'"') {
        return Err(missing());
    }
    let req: RegisterRequest = crate::error::parse_json(body)?;
    if req.odata_type_present {
        return Err(missing());
    }
    Ok(req)
}

/// Verifies and stores a registration `body` for `user`, with its audit
/// event (success or failure); `actor` is who asked.
pub async fn register(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    body: &[u8],
    actor: &str,
    rid: &RequestId,
) -> Result<Method> {
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
    let mut outcome = verify(state, tenant, user, body, &mut challenge_id).await;
    if let Ok(method) = &outcome {
        let method = method.clone();
        let challenge = challenge_id.clone().unwrap_or_default();
        let ev = audit::OwnedEvent::from(Event {
            target: &method.id,
            details: serde_json::json!({ "user": user.id, "aaGuid": method.aaguid }),
            ..base.clone()
        });
        let intent = intent.take().expect("announced above");
        let limit = state.config.max_passkeys_per_user.max(1);
        let upn = user.upn.clone();
        let stored = state
            .db
            .write_announced(intent, Some(&tenant.id), move |ctx| {
                Box::pin(async move {
                    // Challenge, limit, method and audit event: one
                    // statement on PostgreSQL (store_registration).
                    let row = audit::prepare_in(ctx, ev.as_event()).await?;
                    let stored =
                        methods::store_registration(ctx, &challenge, &method, limit.into(), &row)
                            .await?;
                    match stored {
                        Ok(()) => audit::appended_in(ctx, row).await,
                        Err(NotStored::ChallengeGone) => Err(ApiError::bad_request(
                            crate::challenge::unknown_message(Purpose::Create),
                        )),
                        Err(NotStored::LimitReached) => Err(methods::limit_reached(&upn, limit)),
                    }
                })
            })
            .await;
        if let Err(e) = stored {
            outcome = Err(e.into());
        }
    }
    if let Err(e) = &outcome {
        if e.is_internal() {
            return outcome;
        }
        let challenge = challenge_id.clone();
        let reason = e.to_string();
        let ev = audit::OwnedEvent::from(Event {
            result: "failure",
            reason: &reason,
            ..base.clone()
        });
        // The announcement is already spent if it was the store that failed.
        let intent = intent.take().unwrap_or_else(|| state.db.announce_write());
        state
            .db
            .write_announced(intent, Some(&tenant.id), move |ctx| {
                Box::pin(async move {
                    if let Some(id) = &challenge {
                        challenges::take(ctx, id, &ev.tenant_id).await?;
                    }
                    audit::append_in(ctx, ev.as_event()).await
                })
            })
            .await?;
    }
    state.metrics.registration(outcome.is_ok());
    outcome
}

/// Everything but the store: the request, the challenge (another user's is
/// refused without being used up), the policy, the attestation.
async fn verify(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    body: &[u8],
    challenge_id: &mut Option<String>,
) -> Result<Method> {
    let req = parse_request(body)?;
    // Entra's limit: 1 to 30 characters (GRAPH_FIDO2_API.md §8).
    let given_name = req
        .display_name
        .as_deref()
        .map(crate::names::passkey_name)
        .transpose()?;
    let cred = &req.public_key_credential;
    let client_data = &cred.response.client_data_json;
    let attestation = &cred.response.attestation_object;
    let parsed = webauthn::CollectedClientData::parse(client_data).map_err(|_| {
        DomainError::invalid(
            "publicKeyCredential.response.clientDataJSON",
            "clientDataJSON is not valid client data.",
        )
    })?;
    // The challenge and the tenant's policy in one query.
    let (issued, policy) =
        challenges::peek_with_policy(&state.db, &parsed.challenge, &tenant.id, Purpose::Create)
            .await?;
    // Another user's challenge is refused without being used up: a
    // registration aimed at the wrong user must not cost that user theirs.
    if issued.user_id.as_deref() != Some(user.id.as_str()) {
        return Err(DomainError::Challenge(
            "The challenge was issued for another user.".into(),
        ));
    }
    *challenge_id = Some(parsed.challenge.clone());
    policy::check_user(&state.db, &policy, &user.id).await?;
    let rp = state.relying_party(tenant);
    let origins = state.origins(&rp.id);
    // One ES256 verification (~0.1 ms; the attestation path is cached):
    // cheaper inline than a hop to the blocking pool and back.
    let accepted = state.verifier.verify_registration(
        client_data,
        attestation,
        &issued.challenge,
        &origins,
        &rp.id,
        policy.is_attestation_enforced,
    )?;
    policy::check_aaguid(&policy, &accepted.aaguid)?;
    let id = webauthn::b64::encode(&accepted.verified.credential_id);
    if let Ok(given) = webauthn::b64::decode_lenient(&cred.id) {
        if given != accepted.verified.credential_id {
            return Err(DomainError::invalid(
                "publicKeyCredential.id",
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
    Ok(Method {
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
    })
}

//! A user's FIDO2 methods: creation options and deletion (registration is
//! `usecase::register`).

use super::DomainError;
use crate::audit::{self, Event};
use crate::challenge::{self, Purpose};
use crate::directory::{Tenant, User};
use crate::policy;
use crate::state::{AppState, RequestId};
use crate::store::challenges;
use crate::store::methods;
use crate::store::policies;
use crate::time_util::{now_unix, rfc3339};
use webauthn::graph::{
    AuthenticatorSelection, CreationExtensions, CreationOptionsResponse, CredentialDescriptor,
    PubKeyCredParam, PublicKeyCredentialCreationOptions, UserEntity,
};

type Result<T> = std::result::Result<T, DomainError>;

/// Creation options for `user` (challenge stored, audit written), for the
/// Graph endpoint and the admin center: `host` names the service in
/// `@odata.context`.
pub async fn creation_options(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    minutes: i64,
    actor: &str,
    rid: &RequestId,
    host: &str,
) -> Result<CreationOptionsResponse> {
    let intent = state.db.announce_write();
    let policy = policies::load(&state.db, &tenant.id).await?;
    policy::check_user(&state.db, &policy, &user.id).await?;
    let existing = methods::list_for_user(&state.db, &tenant.id, &user.id).await?;
    // At the limit: refused before any key is touched.
    let limit = state.config.max_passkeys_per_user.max(1);
    if existing.len() >= limit as usize {
        return Err(methods::limit_reached(&user.upn, limit).into());
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
                challenges::store(
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
            rp: state.relying_party(tenant),
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

/// Deletes one of `user`'s methods, with its audit event (Graph endpoint,
/// admin center, bulk deprovision).
pub async fn delete(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    id: &str,
    actor: &str,
    rid: &RequestId,
) -> Result<()> {
    if !methods::delete(&state.db, &tenant.id, &user.id, id).await? {
        return Err(DomainError::NotFound(format!(
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

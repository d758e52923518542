//! A user's FIDO2 methods: creation options and deletion (registration is
//! `usecase::register`).

use super::DomainError;
use crate::audit::{self, Event};
use crate::challenge::{self, Purpose};
use crate::directory::{self, Tenant, User};
use crate::error::ApiError;
use crate::policy;
use crate::state::{AppState, RequestId};
use crate::store::challenges;
use crate::store::methods;
use crate::store::policies;
use crate::time_util::{now_unix, rfc3339};
use serde::Serialize;
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

/// A bulk deprovision's outcome, user by user.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeprovisionAnswer {
    /// Nothing was deleted (`dryRun`).
    pub dry_run: bool,
    /// Users named.
    pub users: usize,
    /// Passkeys deleted (or that would be).
    pub passkeys: usize,
    /// Users refused (staff the caller may not manage).
    pub refused: usize,
    /// User by user.
    pub value: Vec<DeprovisionResult>,
}

/// One user of a bulk deprovision.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeprovisionResult {
    /// The user's UPN as given.
    pub user_principal_name: String,
    /// `deleted`, `wouldDelete`, `refused` or `notFound`.
    pub status: &'static str,
    /// Passkeys deleted (or that would be).
    pub passkeys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Why the user was refused.
    pub reason: Option<String>,
    /// The user's passkeys (absent for users not found or refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<DeprovisionedMethod>>,
}

/// One deleted (or to-be-deleted) passkey.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeprovisionedMethod {
    /// The method id.
    pub id: String,
    /// Its name.
    pub display_name: Option<String>,
    /// Its model's AAGUID.
    pub aa_guid: String,
}

/// Deletes every passkey of each user named in `upns` of `tenant` (on a
/// `dry_run`, only says what would be deleted), user by user: users not
/// found and users `may_manage` refuses are listed with the reason (a real
/// run's refusal is audited) and the others are still done.
pub async fn deprovision(
    state: &AppState,
    tenant: &Tenant,
    upns: &[&str],
    dry_run: bool,
    may_manage: impl Fn(&User) -> std::result::Result<(), ApiError>,
    actor: &str,
    rid: &RequestId,
) -> Result<DeprovisionAnswer> {
    let mut results = Vec::new();
    let (mut users, mut keys, mut refused) = (0, 0, 0);
    for &upn in upns {
        let user = match directory::find_user(&state.db, &tenant.id, upn).await {
            Ok(u) => u,
            Err(e) if e.is_not_found() => {
                results.push(DeprovisionResult {
                    user_principal_name: upn.to_owned(),
                    status: "notFound",
                    passkeys: 0,
                    reason: None,
                    methods: None,
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if let Err(e) = may_manage(&user) {
            refused += 1;
            if !dry_run {
                audit::record(
                    &state.db,
                    Event {
                        tenant_id: &tenant.id,
                        actor,
                        activity: "Admin center request denied",
                        target: &user.upn,
                        result: "failure",
                        reason: &audit::bounded(&e.message, 256),
                        request_id: &rid.0,
                        details: serde_json::json!({ "status": 403, "code": e.code, "action": "bulk deprovision" }),
                    },
                )
                .await?;
            }
            results.push(DeprovisionResult {
                user_principal_name: user.upn.clone(),
                status: "refused",
                passkeys: 0,
                reason: Some(e.message),
                methods: None,
            });
            continue;
        }
        let all = methods::list_for_user(&state.db, &tenant.id, &user.id).await?;
        if !dry_run {
            for m in &all {
                delete(state, tenant, &user, &m.id, actor, rid).await?;
            }
        }
        users += 1;
        keys += all.len();
        results.push(DeprovisionResult {
            user_principal_name: user.upn.clone(),
            status: if dry_run { "wouldDelete" } else { "deleted" },
            passkeys: all.len(),
            reason: None,
            methods: Some(
                all.iter()
                    .map(|m| DeprovisionedMethod {
                        id: m.id.clone(),
                        display_name: m.display_name.clone(),
                        aa_guid: m.aaguid.clone(),
                    })
                    .collect(),
            ),
        });
    }
    Ok(DeprovisionAnswer {
        dry_run,
        users,
        passkeys: keys,
        refused,
        value: results,
    })
}

//! The per-tenant FIDO2 method policy (Graph's
//! `fido2AuthenticationMethodConfiguration`) and what it means at
//! registration and sign-in.

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::usecase::DomainError;
use webauthn::graph::{Fido2Policy, KeyRestrictions, PolicyTarget};

/// The policy of a tenant that never set one: enabled for all users,
/// attestation not enforced, no key restrictions.
pub fn default_policy() -> Fido2Policy {
    Fido2Policy {
        odata_type: "#microsoft.graph.fido2AuthenticationMethodConfiguration".into(),
        id: "Fido2".into(),
        state: "enabled".into(),
        is_self_service_registration_allowed: true,
        is_attestation_enforced: false,
        key_restrictions: KeyRestrictions {
            is_enforced: false,
            enforcement_type: "allow".into(),
            aa_guids: Vec::new(),
        },
        include_targets: vec![PolicyTarget {
            target_type: "group".into(),
            id: "all_users".into(),
            is_registration_required: false,
        }],
        exclude_targets: Vec::new(),
    }
}

/// Whether [`check_targets`] depends on the user's groups (a target other
/// than `all_users`); when it does not, they need not be read.
pub async fn check_user(db: &Db, p: &Fido2Policy, user_id: &str) -> Result<(), DomainError> {
    let groups = if p.needs_groups() {
        crate::directory::user_group_ids(db, user_id).await?
    } else {
        Vec::new()
    };
    check_targets(p, &groups)
}

/// `current` with a PATCH body (a partial policy object) applied:
/// `id` and `@odata.type` are ignored, an unknown property or an invalid
/// value is a 400.
pub fn merge(current: &Fido2Policy, body: &serde_json::Value) -> ApiResult<Fido2Policy> {
    let serde_json::Value::Object(patch) = body else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    let mut merged = serde_json::to_value(current).expect("policy serialises");
    for (k, v) in patch {
        if k == "id" || k == "@odata.type" {
            continue;
        }
        if merged.get(k).is_none() {
            return Err(ApiError::bad_request(format!("Unknown property '{k}'.")));
        }
        merged[k] = v.clone();
    }
    let policy: Fido2Policy = serde_json::from_value(merged)
        .map_err(|e| ApiError::bad_request(format!("Invalid policy: {e}")))?;
    validate(&policy)?;
    Ok(policy)
}

fn validate(p: &Fido2Policy) -> ApiResult<()> {
    if !matches!(p.state.as_str(), "enabled" | "disabled") {
        return Err(ApiError::bad_request(
            "state must be 'enabled' or 'disabled'.",
        ));
    }
    if !matches!(
        p.key_restrictions.enforcement_type.as_str(),
        "allow" | "block"
    ) {
        return Err(ApiError::bad_request(
            "keyRestrictions.enforcementType must be 'allow' or 'block'.",
        ));
    }
    for g in &p.key_restrictions.aa_guids {
        if webauthn::authdata::parse_aaguid(g).is_none() {
            return Err(ApiError::bad_request(format!("'{g}' is not an AAGUID.")));
        }
    }
    Ok(())
}

/// Refuses a user the policy does not target (or a disabled method).
pub fn check_targets(p: &Fido2Policy, user_groups: &[String]) -> Result<(), DomainError> {
    if !p.is_enabled() {
        return Err(DomainError::Forbidden(
            "The FIDO2 authentication method is disabled for this tenant.".into(),
        ));
    }
    if !p.targets(user_groups) {
        return Err(DomainError::Forbidden(
            "The FIDO2 authentication method policy does not target this user.".into(),
        ));
    }
    Ok(())
}

/// Key restrictions (allow/block by AAGUID), enforced at registration and
/// sign-in.
pub fn check_aaguid(p: &Fido2Policy, aaguid: &str) -> Result<(), DomainError> {
    if p.allows_aaguid(aaguid) {
        Ok(())
    } else {
        Err(DomainError::Invalid {
            field: None,
            message: format!(
                "Security keys of model {aaguid} are not allowed by the tenant's key restrictions."
            ),
        })
    }
}

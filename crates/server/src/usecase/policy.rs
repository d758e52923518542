//! The tenant's FIDO2 policy: a partial update (Graph's PATCH, the admin
//! center's form), validated, stored and audited.

use super::DomainError;
use crate::audit::{self, Event};
use crate::state::{AppState, RequestId};
use webauthn::graph::Fido2Policy;

/// Applies `patch` (a partial policy object) to the tenant's policy and
/// audits the change as `actor`; answers the policy now in force.
pub async fn update(
    state: &AppState,
    tenant_id: &str,
    patch: &serde_json::Value,
    actor: &str,
    rid: &RequestId,
) -> Result<Fido2Policy, DomainError> {
    let updated = crate::policy::patch(&state.db, tenant_id, patch).await?;
    audit::record(
        &state.db,
        Event {
            tenant_id,
            actor,
            activity: "Update FIDO2 policy",
            target: "Fido2",
            result: "success",
            reason: "",
            request_id: &rid.0,
            details: serde_json::to_value(&updated).unwrap_or_default(),
        },
    )
    .await?;
    Ok(updated)
}

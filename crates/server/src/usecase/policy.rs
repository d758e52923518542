//! The tenant's FIDO2 policy: a partial update (Graph's PATCH, the admin
//! center's form), validated, stored and audited.

use super::DomainError;
use crate::audit::{self, Event};
use crate::policy;
use crate::state::{AppState, RequestId};
use crate::store::policies;
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
    let (tenant, actor, rid, patch) = (
        tenant_id.to_owned(),
        actor.to_owned(),
        rid.0.clone(),
        patch.clone(),
    );
    // The change and its audit event are one write.
    let updated = state
        .db
        .write_job(Some(tenant_id), move |ctx| {
            Box::pin(async move {
                let updated =
                    policies::update(ctx, &tenant, |current| policy::merge(&current, &patch))
                        .await?;
                audit::append_in(
                    ctx,
                    Event {
                        tenant_id: &tenant,
                        actor: &actor,
                        activity: "Update FIDO2 policy",
                        target: "Fido2",
                        result: "success",
                        reason: "",
                        request_id: &rid,
                        details: serde_json::to_value(&updated).unwrap_or_default(),
                    },
                )
                .await?;
                Ok(updated)
            })
        })
        .await?;
    Ok(updated)
}

//! Directory changes that both the Graph API and `keysmith admin` make,
//! each with its audit event (the actor says who: an app, a signed-in
//! admin, or the operating-system user of `keysmith admin`).

use super::DomainError;
use crate::audit::{self, Event};
use crate::db::Db;
use crate::directory::{self, User};

/// Creates a user in `tenant_id` and audits it ("Add user").
pub async fn create_user(
    db: &Db,
    tenant_id: &str,
    upn: &str,
    display_name: &str,
    actor: &str,
    request_id: &str,
) -> Result<User, DomainError> {
    let user = directory::create_user(db, tenant_id, upn, display_name).await?;
    audit::record(
        db,
        Event {
            tenant_id,
            actor,
            activity: "Add user",
            target: &user.id,
            result: "success",
            reason: "",
            request_id,
            details: serde_json::json!({ "userPrincipalName": user.upn }),
        },
    )
    .await?;
    Ok(user)
}

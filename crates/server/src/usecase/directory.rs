//! Directory changes that both the Graph API and `keysmith admin` make,
//! each with its audit event (the actor says who: an app, a signed-in
//! admin, or the operating-system user of `keysmith admin`).

use super::DomainError;
use crate::audit::{self, Event};
use crate::db::Db;
use crate::directory::{self, Group, User};

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

/// Records a successful directory change made by `actor`.
async fn audited(
    db: &Db,
    tenant_id: &str,
    actor: &str,
    request_id: &str,
    activity: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<(), DomainError> {
    audit::record(
        db,
        Event {
            tenant_id,
            actor,
            activity,
            target,
            result: "success",
            reason: "",
            request_id,
            details,
        },
    )
    .await?;
    Ok(())
}

/// What a user update changes (`None`: unchanged).
#[derive(Debug, Default)]
pub struct UserChanges<'a> {
    /// A new UPN.
    pub upn: Option<&'a str>,
    /// A new display name.
    pub display_name: Option<&'a str>,
    /// Enable or disable sign-in.
    pub account_enabled: Option<bool>,
}

/// Changes `user` and audits it ("Update user"). Whether the caller may
/// change this user (staff need a privileged caller) is the adapter's
/// check, made before.
pub async fn update_user(
    db: &Db,
    user: &User,
    changes: UserChanges<'_>,
    actor: &str,
    request_id: &str,
) -> Result<(), DomainError> {
    directory::update_user(
        db,
        user,
        changes.upn,
        changes.display_name,
        changes.account_enabled,
    )
    .await?;
    audited(
        db,
        &user.tenant_id,
        actor,
        request_id,
        "Update user",
        &user.id,
        serde_json::json!({}),
    )
    .await
}

/// Deletes `user` with their passkeys and memberships, and audits it
/// ("Delete user").
pub async fn delete_user(
    db: &Db,
    user: &User,
    actor: &str,
    request_id: &str,
) -> Result<(), DomainError> {
    directory::delete_user(db, user).await?;
    audited(
        db,
        &user.tenant_id,
        actor,
        request_id,
        "Delete user",
        &user.id,
        serde_json::json!({ "userPrincipalName": user.upn }),
    )
    .await
}

/// Creates a group in `tenant_id` and audits it ("Add group").
pub async fn create_group(
    db: &Db,
    tenant_id: &str,
    display_name: &str,
    description: Option<&str>,
    actor: &str,
    request_id: &str,
) -> Result<Group, DomainError> {
    let g = directory::create_group(db, tenant_id, display_name, description).await?;
    audited(
        db,
        tenant_id,
        actor,
        request_id,
        "Add group",
        &g.id,
        serde_json::json!({ "displayName": g.display_name }),
    )
    .await?;
    Ok(g)
}

/// Adds the user `user_key` (object id or userPrincipalName) to the group
/// `group_key` (id or display name) of `tenant_id` and audits it ("Add
/// member to group"); a member already is one still.
pub async fn add_member(
    db: &Db,
    tenant_id: &str,
    group_key: &str,
    user_key: &str,
    actor: &str,
    request_id: &str,
) -> Result<(), DomainError> {
    let g = directory::find_group(db, tenant_id, group_key).await?;
    let user = directory::find_user(db, tenant_id, user_key).await?;
    directory::add_member(db, &g.id, &user.id).await?;
    audited(
        db,
        tenant_id,
        actor,
        request_id,
        "Add member to group",
        &g.id,
        serde_json::json!({ "user": user.id }),
    )
    .await
}

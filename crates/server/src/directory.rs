//! The directory: tenants, users, groups and app registrations — their
//! rules (names, generated ids, user handles and secrets, the staff rule),
//! over the rows of [`crate::store::directory`]. Every lookup is scoped by
//! tenant id; an object of another tenant is simply not found.

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::store::directory as rows;
use crate::time_util::now_unix;
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use serde::Serialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub use crate::store::directory::{
    add_member, app_enabled, group_members, groups_listing, import_batch, list_apps, list_groups,
    list_users, members_listing, set_app_enabled, set_tenant_enabled, user_group_ids, user_roles,
    users_listing, App, AppInfo, Group, Tenant, User,
};

/// A freshly created app: the secret is shown once and never stored (nor
/// printed by `{:?}`: it is `secrecy`'s, `[REDACTED]` there).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApp {
    /// The app's client id.
    pub client_id: String,
    #[serde(serialize_with = "expose")]
    /// The app's client secret (shown only in this answer).
    pub client_secret: secrecy::SecretString,
    /// The tenant's name.
    pub tenant: String,
    /// The app's name.
    pub name: String,
    /// Its permissions.
    pub roles: Vec<String>,
}

impl NewApp {
    /// The secret, to hand to the caller who created the app (once).
    pub fn secret(&self) -> &str {
        use secrecy::ExposeSecret;
        self.client_secret.expose_secret()
    }
}

/// Serializes the secret itself: the one answer that hands it out.
fn expose<S: serde::Serializer>(secret: &secrecy::SecretString, s: S) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    s.serialize_str(secret.expose_secret())
}

/// Creates a tenant with its RP ID and name (the name must be new, non-empty
/// and without `/`).
pub async fn create_tenant(
    db: &Db,
    name: &str,
    rp_id: Option<&str>,
    rp_name: Option<&str>,
) -> ApiResult<Tenant> {
    if name.trim().is_empty() || name.contains('/') {
        return Err(ApiError::bad_request(
            "A tenant name must be non-empty and contain no '/'.",
        ));
    }
    let t = Tenant {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_owned(),
        rp_id: rp_id.map(str::to_owned),
        rp_name: rp_name.map(str::to_owned),
    };
    rows::insert_tenant(db, &t, now_unix()).await?;
    Ok(t)
}

/// A tenant by id or name.
pub async fn find_tenant(db: &Db, key: &str) -> ApiResult<Tenant> {
    rows::tenant(db, key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Tenant '{key}' does not exist.")))
}

/// A new user of `tenant_id` (not stored): the userPrincipalName and
/// display name checked as Graph checks them (an empty display name
/// becomes the UPN), a fresh object id and a random WebAuthn user handle.
pub fn new_user(tenant_id: &str, upn: &str, display_name: &str) -> ApiResult<User> {
    let upn = crate::names::upn(upn)?;
    let display_name =
        crate::names::display_name(display_name, crate::names::DISPLAY_NAME_MAX, "displayName")?;
    let handle = {
        let mut rng = rand::thread_rng();
        // 33 to 63 random bytes, a multiple of 3: the base64url text is
        // then a multiple of 4 long, so clients that decode the handle
        // with padding-strict decoders read it as Entra's (GRAPH_FIDO2_API
        // §8); never fewer than 32 random bytes.
        let mut handle = vec![0u8; 3 * rng.gen_range(11..=21)];
        rng.fill_bytes(&mut handle);
        handle
    };
    Ok(User {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_owned(),
        display_name: if display_name.is_empty() {
            upn.clone()
        } else {
            display_name
        },
        upn,
        user_handle: handle,
        account_enabled: true,
        created_at: now_unix(),
        roles: Vec::new(),
    })
}

/// Creates a user; the UPN is checked and must be new in the tenant.
pub async fn create_user(
    db: &Db,
    tenant_id: &str,
    upn: &str,
    display_name: &str,
) -> ApiResult<User> {
    let user = new_user(tenant_id, upn, display_name)?;
    match rows::insert_user(db, &user, &crate::names::upn_key(&user.upn)).await {
        Err(e) if e.is_conflict() => Err(ApiError::conflict(format!(
            "A user with userPrincipalName '{}' already exists.",
            user.upn
        ))),
        done => done.map(|()| user),
    }
}

/// A user by object id or userPrincipalName (case-insensitive).
pub async fn find_user(db: &Db, tenant_id: &str, key: &str) -> ApiResult<User> {
    rows::user(db, tenant_id, key, &key.to_lowercase())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("User '{key}' does not exist.")))
}

/// A tenant (by id or name) and one of its users (by object id or
/// userPrincipalName) in one query: the hot path of every
/// `/users/{user}/…` request.
pub async fn find_tenant_and_user(
    db: &Db,
    tenant_key: &str,
    user_key: &str,
) -> ApiResult<(Tenant, User)> {
    match rows::tenant_and_user(db, tenant_key, user_key, &user_key.to_lowercase()).await? {
        None => Err(ApiError::not_found(format!(
            "Tenant '{tenant_key}' does not exist."
        ))),
        Some((_, None)) => Err(ApiError::not_found(format!(
            "User '{user_key}' does not exist."
        ))),
        Some((t, Some(u))) => Ok((t, u)),
    }
}

/// A user by WebAuthn user handle.
pub async fn find_user_by_handle(
    db: &Db,
    tenant_id: &str,
    handle: &[u8],
) -> ApiResult<Option<User>> {
    rows::user_by_handle(db, tenant_id, handle).await
}

/// Sets a user's admin-center roles. Giving a staff role voids the user's
/// pending registration challenges: options fetched while the user was an
/// ordinary user (by help desk or a methods-only app) cannot be completed
/// once the user is staff, whoever completes them.
pub async fn set_user_roles(db: &Db, user_id: &str, roles: &[String]) -> ApiResult<()> {
    let staff = roles
        .iter()
        .any(|r| r.eq_ignore_ascii_case("admin") || r.eq_ignore_ascii_case("helpdesk"));
    rows::set_user_roles(db, user_id, roles, staff).await
}

/// Users whose userPrincipalName or display name contains `text`
/// (case-insensitive), at most `top`.
pub async fn search_users(db: &Db, tenant_id: &str, text: &str, top: i64) -> ApiResult<Vec<User>> {
    let pattern = format!(
        "%{}%",
        text.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    rows::search_users(db, tenant_id, &pattern, top).await
}

/// Changes a user's userPrincipalName, display name or enabled flag
/// (`None`: unchanged), each checked as at creation.
pub async fn update_user(
    db: &Db,
    user: &User,
    upn: Option<&str>,
    display_name: Option<&str>,
    account_enabled: Option<bool>,
) -> ApiResult<()> {
    let mut changed = user.clone();
    if let Some(u) = upn {
        changed.upn = crate::names::upn(u)?;
    }
    if let Some(d) = display_name {
        changed.display_name =
            crate::names::display_name(d, crate::names::DISPLAY_NAME_MAX, "displayName")?;
    }
    if let Some(e) = account_enabled {
        changed.account_enabled = e;
    }
    rows::update_user(db, &changed, &crate::names::upn_key(&changed.upn)).await
}

/// Deletes a user with their passkeys and group memberships (the caller
/// audits it).
pub async fn delete_user(db: &Db, user: &User) -> ApiResult<()> {
    rows::delete_user(db, &user.id).await
}

/// Creates a group (a display name is required and bounded; as in Graph,
/// two groups may share one).
pub async fn create_group(
    db: &Db,
    tenant_id: &str,
    display_name: &str,
    description: Option<&str>,
) -> ApiResult<Group> {
    let display_name =
        crate::names::display_name(display_name, crate::names::DISPLAY_NAME_MAX, "displayName")?;
    if display_name.is_empty() {
        return Err(ApiError::bad_request("displayName is required."));
    }
    let g = Group {
        id: uuid::Uuid::new_v4().to_string(),
        display_name,
        description: description.map(str::to_owned),
        created_at: now_unix(),
    };
    rows::insert_group(db, tenant_id, &g).await?;
    Ok(g)
}

/// A group by id or display name.
pub async fn find_group(db: &Db, tenant_id: &str, key: &str) -> ApiResult<Group> {
    rows::group(db, tenant_id, key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Group '{key}' does not exist.")))
}

fn hash_secret(salt: &[u8], secret: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(salt).expect("HMAC takes any key length");
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Registers an app with a fresh secret (stored only as a salted HMAC).
pub async fn create_app(
    db: &Db,
    tenant: &Tenant,
    name: &str,
    roles: &[String],
) -> ApiResult<NewApp> {
    let (secret, salt) = {
        let mut rng = rand::thread_rng();
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let mut salt = vec![0u8; 16];
        rng.fill_bytes(&mut salt);
        (format!("ks_{}", webauthn::b64::encode(secret)), salt)
    };
    let app = App {
        client_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        name: name.to_owned(),
        roles: roles
            .iter()
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect(),
    };
    rows::insert_app(db, &app, &salt, &hash_secret(&salt, &secret), now_unix()).await?;
    Ok(NewApp {
        client_id: app.client_id,
        client_secret: secret.into(),
        tenant: tenant.name.clone(),
        name: app.name,
        roles: app.roles,
    })
}

/// The app if `client_id` exists in `tenant_id` and `secret` matches
/// (compared in constant time).
pub async fn authenticate_app(
    db: &Db,
    tenant_id: &str,
    client_id: &str,
    secret: &str,
) -> ApiResult<Option<App>> {
    let Some((app, salt, stored)) = rows::enabled_app_secret(db, tenant_id, client_id).await?
    else {
        return Ok(None);
    };
    let given = hash_secret(&salt, secret);
    Ok(bool::from(given.ct_eq(&stored)).then_some(app))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_new_apps_secret_is_not_in_its_debug_output() {
        let app = super::NewApp {
            client_id: "c1".into(),
            client_secret: "s3cr3t-value".into(),
            tenant: "acme".into(),
            name: "provisioner".into(),
            roles: vec!["UserAuthenticationMethod.ReadWrite.All".into()],
        };
        let shown = format!("{app:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(
            shown.contains("c1") && shown.contains("REDACTED"),
            "{shown}"
        );
    }
}

//! The directory: tenants, users, groups and app registrations. Every query
//! is scoped by tenant id; an object of another tenant is simply not found.

use crate::db::{get_i64, Db};
use crate::error::{ApiError, ApiResult};
use crate::paging::PageRequest;
use crate::query::{self, Bind, GraphQuery, Listing};
use crate::time_util::{now_unix, rfc3339};
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use serde::Serialize;
use sha2::Sha256;
use sqlx::any::AnyRow;
use sqlx::Row;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub rp_id: Option<String>,
    pub rp_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    pub upn: String,
    pub display_name: String,
    pub user_handle: Vec<u8>,
    pub account_enabled: bool,
    pub created_at: i64,
    /// Admin-center roles (`admin`, `helpdesk`).
    pub roles: Vec<String>,
}

/// The roles column (comma-separated) as a list.
fn parse_roles(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

impl User {
    /// Admin-center staff (an `admin` or `helpdesk` role): their passkeys
    /// open the admin center, so only admins (and apps holding
    /// [`crate::token::perm::PRIVILEGED_METHODS_WRITE`]) manage them.
    pub fn is_staff(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case("admin") || r.eq_ignore_ascii_case("helpdesk"))
    }

    /// Graph's `user` resource.
    /// The Graph resource.
    pub fn to_graph(&self) -> webauthn::graph::User {
        webauthn::graph::User {
            odata_type: Some("#microsoft.graph.user".into()),
            id: self.id.clone(),
            user_principal_name: Some(self.upn.clone()),
            display_name: Some(self.display_name.clone()),
            account_enabled: Some(self.account_enabled),
            created_date_time: Some(rfc3339(self.created_at)),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_graph()).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub created_at: i64,
}

impl Group {
    /// The Graph resource.
    pub fn to_graph(&self) -> webauthn::graph::Group {
        webauthn::graph::Group {
            odata_type: Some("#microsoft.graph.group".into()),
            id: self.id.clone(),
            display_name: Some(self.display_name.clone()),
            description: self.description.clone(),
            created_date_time: Some(rfc3339(self.created_at)),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_graph()).unwrap_or_default()
    }
}

/// An app registration as the token endpoint sees it.
#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub tenant_id: String,
    pub name: String,
    pub roles: Vec<String>,
}

/// A freshly created app: the secret is shown once and never stored (nor
/// printed by `{:?}`).
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApp {
    pub client_id: String,
    pub client_secret: String,
    pub tenant: String,
    pub name: String,
    pub roles: Vec<String>,
}

impl std::fmt::Debug for NewApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("roles", &self.roles)
            .finish()
    }
}

fn tenant_from(row: &AnyRow) -> Result<Tenant, sqlx::Error> {
    Ok(Tenant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        rp_id: row.try_get("rp_id")?,
        rp_name: row.try_get("rp_name")?,
    })
}

fn user_from(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        upn: row.try_get("upn")?,
        display_name: row.try_get("display_name")?,
        user_handle: row.try_get("user_handle")?,
        account_enabled: get_i64(row, "account_enabled")? != 0,
        created_at: get_i64(row, "created_at")?,
        roles: parse_roles(&row.try_get::<String, _>("roles")?),
    })
}

/// [`user_from`] for a `rusqlite` row of [`USER_COLS`].
fn lite_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get("id")?,
        tenant_id: r.get("tenant_id")?,
        upn: r.get("upn")?,
        display_name: r.get("display_name")?,
        user_handle: r.get("user_handle")?,
        account_enabled: r.get::<_, i64>("account_enabled")? != 0,
        created_at: r.get("created_at")?,
        roles: parse_roles(&r.get::<_, String>("roles")?),
    })
}

fn group_from(row: &AnyRow) -> Result<Group, sqlx::Error> {
    Ok(Group {
        id: row.try_get("id")?,
        display_name: row.try_get("display_name")?,
        description: row.try_get("description")?,
        created_at: get_i64(row, "created_at")?,
    })
}

const USER_COLS: &str =
    "id, tenant_id, upn, display_name, user_handle, account_enabled, created_at, roles";

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
    sqlx::query(
        "INSERT INTO tenants (id, name, rp_id, rp_name, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&t.id)
    .bind(&t.name)
    .bind(&t.rp_id)
    .bind(&t.rp_name)
    .bind(now_unix())
    .execute(db.write())
    .await?;
    Ok(t)
}

/// A tenant by id or name.
pub async fn find_tenant(db: &Db, key: &str) -> ApiResult<Tenant> {
    const SQL: &str = "SELECT id, name, rp_id, rp_name FROM tenants WHERE id = $1 OR name = $1";
    let missing = || ApiError::not_found(format!("Tenant '{key}' does not exist."));
    if let Some(found) = db.lite_read(|c| {
        use rusqlite::OptionalExtension;
        c.prepare_cached(&crate::db::lite_sql(SQL))?
            .query_row(rusqlite::params![key], |r| {
                Ok(Tenant {
                    id: r.get("id")?,
                    name: r.get("name")?,
                    rp_id: r.get("rp_id")?,
                    rp_name: r.get("rp_name")?,
                })
            })
            .optional()?
            .ok_or_else(missing)
    }) {
        return found;
    }
    let row = sqlx::query(SQL).bind(key).fetch_optional(db.read()).await?;
    match row {
        Some(r) => Ok(tenant_from(&r)?),
        None => Err(missing()),
    }
}

pub async fn create_user(
    db: &Db,
    tenant_id: &str,
    upn: &str,
    display_name: &str,
) -> ApiResult<User> {
    let upn = crate::names::upn(upn)?;
    let upn = upn.as_str();
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
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant_id.to_owned(),
        upn: upn.to_owned(),
        display_name: if display_name.is_empty() {
            upn.to_owned()
        } else {
            display_name.to_owned()
        },
        user_handle: handle,
        account_enabled: true,
        created_at: now_unix(),
        roles: Vec::new(),
    };
    sqlx::query(
        "INSERT INTO users (id, tenant_id, upn, upn_lower, display_name, user_handle, account_enabled, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7)",
    )
    .bind(&user.id)
    .bind(tenant_id)
    .bind(&user.upn)
    .bind(crate::names::upn_key(&user.upn))
    .bind(&user.display_name)
    .bind(&user.user_handle)
    .bind(user.created_at)
    .execute(db.write())
    .await
    .map_err(|e| match ApiError::from(e) {
        e if e.is_conflict() => ApiError::conflict(format!("A user with userPrincipalName '{upn}' already exists.")),
        e => e,
    })?;
    Ok(user)
}

/// A user by object id or userPrincipalName (case-insensitive).
pub async fn find_user(db: &Db, tenant_id: &str, key: &str) -> ApiResult<User> {
    let sql = format!(
        "SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND (id = $2 OR upn_lower = $3)"
    );
    let missing = || ApiError::not_found(format!("User '{key}' does not exist."));
    if let Some(found) = db.lite_read(|c| {
        use rusqlite::OptionalExtension;
        c.prepare_cached(&crate::db::lite_sql(&sql))?
            .query_row(
                rusqlite::params![tenant_id, key, key.to_lowercase()],
                lite_user,
            )
            .optional()?
            .ok_or_else(missing)
    }) {
        return found;
    }
    let row = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(key)
        .bind(key.to_lowercase())
        .fetch_optional(db.read())
        .await?;
    match row {
        Some(r) => Ok(user_from(&r)?),
        None => Err(missing()),
    }
}

/// A tenant (by id or name) and one of its users (by object id or
/// userPrincipalName) in one query: the hot path of every
/// `/users/{user}/…` request.
pub async fn find_tenant_and_user(
    db: &Db,
    tenant_key: &str,
    user_key: &str,
) -> ApiResult<(Tenant, User)> {
    const SQL: &str = "SELECT t.id AS t_id, t.name AS t_name, t.rp_id AS t_rp_id, t.rp_name AS t_rp_name, \
         u.id, u.tenant_id, u.upn, u.display_name, u.user_handle, u.account_enabled, u.created_at, u.roles \
         FROM tenants t LEFT JOIN users u ON u.tenant_id = t.id AND (u.id = $2 OR u.upn_lower = $3) \
         WHERE t.id = $1 OR t.name = $1";
    let no_tenant = || ApiError::not_found(format!("Tenant '{tenant_key}' does not exist."));
    let no_user = || ApiError::not_found(format!("User '{user_key}' does not exist."));
    if let Some(found) = db.lite_read(|c| {
        use rusqlite::OptionalExtension;
        let row = c
            .prepare_cached(&crate::db::lite_sql(SQL))?
            .query_row(
                rusqlite::params![tenant_key, user_key, user_key.to_lowercase()],
                |r| {
                    let tenant = Tenant {
                        id: r.get("t_id")?,
                        name: r.get("t_name")?,
                        rp_id: r.get("t_rp_id")?,
                        rp_name: r.get("t_rp_name")?,
                    };
                    let user = match r.get::<_, Option<String>>("id")? {
                        None => None,
                        Some(_) => Some(lite_user(r)?),
                    };
                    Ok((tenant, user))
                },
            )
            .optional()?;
        match row {
            None => Err(no_tenant()),
            Some((_, None)) => Err(no_user()),
            Some((t, Some(u))) => Ok((t, u)),
        }
    }) {
        return found;
    }
    let row = sqlx::query(SQL)
        .bind(tenant_key)
        .bind(user_key)
        .bind(user_key.to_lowercase())
        .fetch_optional(db.read())
        .await?;
    let Some(row) = row else {
        return Err(no_tenant());
    };
    let tenant = Tenant {
        id: row.try_get("t_id")?,
        name: row.try_get("t_name")?,
        rp_id: row.try_get("t_rp_id")?,
        rp_name: row.try_get("t_rp_name")?,
    };
    if row.try_get::<Option<String>, _>("id")?.is_none() {
        return Err(no_user());
    }
    Ok((tenant, user_from(&row)?))
}

/// A user by WebAuthn user handle.
pub async fn find_user_by_handle(
    db: &Db,
    tenant_id: &str,
    handle: &[u8],
) -> ApiResult<Option<User>> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND user_handle = $2"
    ))
    .bind(tenant_id)
    .bind(handle)
    .fetch_optional(db.read())
    .await?;
    Ok(row.as_ref().map(user_from).transpose()?)
}

/// The directory roles of a user (`admin`, `helpdesk`; comma-separated in
/// the `roles` column).
pub async fn user_roles(db: &Db, user_id: &str) -> ApiResult<Vec<String>> {
    let row = sqlx::query("SELECT roles FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db.read())
        .await?;
    let roles: String = match row {
        Some(r) => r.try_get(0)?,
        None => String::new(),
    };
    Ok(roles
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Sets a user's admin-center roles. Giving a staff role voids the user's
/// pending registration challenges: options fetched while the user was an
/// ordinary user (by help desk or a methods-only app) cannot be completed
/// once the user is staff, whoever completes them.
pub async fn set_user_roles(db: &Db, user_id: &str, roles: &[String]) -> ApiResult<()> {
    let mut tx = db.write().begin().await?;
    sqlx::query("UPDATE users SET roles = $1 WHERE id = $2")
        .bind(roles.join(","))
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let staff = roles
        .iter()
        .any(|r| r.eq_ignore_ascii_case("admin") || r.eq_ignore_ascii_case("helpdesk"));
    if staff {
        sqlx::query("DELETE FROM challenges WHERE user_id = $1 AND purpose = 'create'")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
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
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLS} FROM users WHERE tenant_id = $1 \
         AND (upn_lower LIKE $2 ESCAPE '\\' OR LOWER(display_name) LIKE $2 ESCAPE '\\') \
         ORDER BY upn_lower LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(pattern)
    .bind(top)
    .fetch_all(db.read())
    .await?;
    Ok(rows.iter().map(user_from).collect::<Result<_, _>>()?)
}

/// A tenant's users, for [`query::fetch`].
pub fn users_listing(tenant_id: &str) -> Listing<'static> {
    Listing {
        from: "users",
        alias: "",
        columns: USER_COLS.to_owned(),
        scope: vec![("tenant_id = {}", Bind::Text(tenant_id.to_owned()))],
    }
}

/// A tenant's groups, for [`query::fetch`].
pub fn groups_listing(tenant_id: &str) -> Listing<'static> {
    Listing {
        from: "groups_",
        alias: "",
        columns: "id, display_name, description, created_at".to_owned(),
        scope: vec![("tenant_id = {}", Bind::Text(tenant_id.to_owned()))],
    }
}

/// A group's members, for [`query::fetch`].
pub fn members_listing(tenant_id: &str, group_id: &str) -> Listing<'static> {
    Listing {
        from: "group_members m JOIN users u ON u.id = m.user_id",
        alias: "u.",
        columns: USER_COLS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        scope: vec![
            ("m.group_id = {}", Bind::Text(group_id.to_owned())),
            ("u.tenant_id = {}", Bind::Text(tenant_id.to_owned())),
        ],
    }
}

/// A page of a tenant's users with Graph's query options (default order
/// userPrincipalName), the next page's token and `@odata.count`.
pub async fn list_users(
    db: &Db,
    tenant_id: &str,
    q: &GraphQuery,
    page: &PageRequest,
) -> ApiResult<(Vec<User>, Option<String>, Option<i64>)> {
    let f = query::fetch(db, &users_listing(tenant_id), q, page).await?;
    let users = f.rows.iter().map(user_from).collect::<Result<_, _>>()?;
    Ok((users, f.next, f.count))
}

pub async fn update_user(
    db: &Db,
    user: &User,
    upn: Option<&str>,
    display_name: Option<&str>,
    account_enabled: Option<bool>,
) -> ApiResult<()> {
    let upn = match upn {
        Some(u) => crate::names::upn(u)?,
        None => user.upn.clone(),
    };
    let upn = upn.as_str();
    let display_name = display_name
        .map(|d| crate::names::display_name(d, crate::names::DISPLAY_NAME_MAX, "displayName"))
        .transpose()?;
    let display_name = display_name.as_deref();
    sqlx::query(
        "UPDATE users SET upn = $1, upn_lower = $2, display_name = $3, account_enabled = $4 WHERE id = $5 AND tenant_id = $6",
    )
    .bind(upn)
    .bind(crate::names::upn_key(upn))
    .bind(display_name.unwrap_or(&user.display_name))
    .bind(i64::from(account_enabled.unwrap_or(user.account_enabled)))
    .bind(&user.id)
    .bind(&user.tenant_id)
    .execute(db.write())
    .await?;
    Ok(())
}

pub async fn delete_user(db: &Db, user: &User) -> ApiResult<()> {
    let mut tx = db.begin_write().await?;
    for sql in [
        "DELETE FROM group_members WHERE user_id = $1",
        "DELETE FROM fido2_methods WHERE user_id = $1",
        "DELETE FROM users WHERE id = $1",
    ] {
        sqlx::query(sql).bind(&user.id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

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
    let display_name = display_name.as_str();
    let g = Group {
        id: uuid::Uuid::new_v4().to_string(),
        display_name: display_name.to_owned(),
        description: description.map(str::to_owned),
        created_at: now_unix(),
    };
    sqlx::query("INSERT INTO groups_ (id, tenant_id, display_name, description, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&g.id)
        .bind(tenant_id)
        .bind(&g.display_name)
        .bind(&g.description)
        .bind(g.created_at)
        .execute(db.write())
        .await?;
    Ok(g)
}

/// A group by id or display name.
pub async fn find_group(db: &Db, tenant_id: &str, key: &str) -> ApiResult<Group> {
    let row = sqlx::query(
        "SELECT id, display_name, description, created_at FROM groups_ WHERE tenant_id = $1 AND (id = $2 OR display_name = $2)",
    )
    .bind(tenant_id)
    .bind(key)
    .fetch_optional(db.read())
    .await?;
    match row {
        Some(r) => Ok(group_from(&r)?),
        None => Err(ApiError::not_found(format!(
            "Group '{key}' does not exist."
        ))),
    }
}

/// A page of a tenant's groups with Graph's query options (default order
/// displayName, then id).
pub async fn list_groups(
    db: &Db,
    tenant_id: &str,
    q: &GraphQuery,
    page: &PageRequest,
) -> ApiResult<(Vec<Group>, Option<String>, Option<i64>)> {
    let f = query::fetch(db, &groups_listing(tenant_id), q, page).await?;
    let groups = f.rows.iter().map(group_from).collect::<Result<_, _>>()?;
    Ok((groups, f.next, f.count))
}

pub async fn add_member(db: &Db, group_id: &str, user_id: &str) -> ApiResult<()> {
    let sql =
        "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
    sqlx::query(sql)
        .bind(group_id)
        .bind(user_id)
        .execute(db.write())
        .await?;
    Ok(())
}

/// A page of a group's members with Graph's query options (default order:
/// member id, which the `(group_id, user_id)` key serves).
pub async fn group_members(
    db: &Db,
    tenant_id: &str,
    group_id: &str,
    q: &GraphQuery,
    page: &PageRequest,
) -> ApiResult<(Vec<User>, Option<String>, Option<i64>)> {
    let listing = members_listing(tenant_id, group_id);
    let f = query::fetch(db, &listing, q, page).await?;
    let users = f.rows.iter().map(user_from).collect::<Result<_, _>>()?;
    Ok((users, f.next, f.count))
}

/// Ids of the groups `user_id` belongs to.
pub async fn user_group_ids(db: &Db, user_id: &str) -> ApiResult<Vec<String>> {
    let rows = sqlx::query("SELECT group_id FROM group_members WHERE user_id = $1")
        .bind(user_id)
        .fetch_all(db.read())
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?)
}

fn hash_secret(salt: &[u8], secret: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(salt).expect("HMAC takes any key length");
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

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
    let client_id = uuid::Uuid::new_v4().to_string();
    let roles: Vec<String> = roles
        .iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    sqlx::query(
        "INSERT INTO apps (client_id, tenant_id, name, secret_salt, secret_hash, roles, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&client_id)
    .bind(&tenant.id)
    .bind(name)
    .bind(&salt)
    .bind(hash_secret(&salt, &secret))
    .bind(roles.join(","))
    .bind(now_unix())
    .execute(db.write())
    .await?;
    Ok(NewApp {
        client_id,
        client_secret: secret,
        tenant: tenant.name.clone(),
        name: name.to_owned(),
        roles,
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
    let row = sqlx::query(
        "SELECT client_id, tenant_id, name, secret_salt, secret_hash, roles FROM apps WHERE client_id = $1 AND tenant_id = $2 AND enabled = 1 \
         AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = apps.tenant_id AND t.enabled = 1)",
    )
    .bind(client_id)
    .bind(tenant_id)
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let salt: Vec<u8> = row.try_get("secret_salt")?;
    let stored: Vec<u8> = row.try_get("secret_hash")?;
    let given = hash_secret(&salt, secret);
    if !bool::from(given.ct_eq(&stored)) {
        return Ok(None);
    }
    let roles: String = row.try_get("roles")?;
    Ok(Some(App {
        client_id: row.try_get("client_id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
    }))
}

/// Whether the app registration `client_id` exists in `tenant_id` and
/// both are enabled.
pub async fn app_enabled(db: &Db, tenant_id: &str, client_id: &str) -> ApiResult<bool> {
    let row = sqlx::query(
        "SELECT a.enabled AS a, t.enabled AS t FROM apps a JOIN tenants t ON t.id = a.tenant_id \
         WHERE a.client_id = $1 AND a.tenant_id = $2",
    )
    .bind(client_id)
    .bind(tenant_id)
    .fetch_optional(db.read())
    .await?;
    Ok(match row {
        Some(r) => get_i64(&r, "a")? != 0 && get_i64(&r, "t")? != 0,
        None => false,
    })
}

/// Enables or disables an app registration; false if there is none.
pub async fn set_app_enabled(
    db: &Db,
    tenant_id: &str,
    client_id: &str,
    enabled: bool,
) -> ApiResult<bool> {
    let done = sqlx::query("UPDATE apps SET enabled = $1 WHERE client_id = $2 AND tenant_id = $3")
        .bind(i64::from(enabled))
        .bind(client_id)
        .bind(tenant_id)
        .execute(db.write())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Enables or disables a tenant (its tokens, sign-ins and token requests).
pub async fn set_tenant_enabled(db: &Db, tenant_id: &str, enabled: bool) -> ApiResult<()> {
    sqlx::query("UPDATE tenants SET enabled = $1 WHERE id = $2")
        .bind(i64::from(enabled))
        .bind(tenant_id)
        .execute(db.write())
        .await?;
    Ok(())
}

/// An app registration as `keysmith admin app list` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub client_id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub enabled: bool,
    pub created_date_time: String,
}

pub async fn list_apps(db: &Db, tenant_id: &str) -> ApiResult<Vec<AppInfo>> {
    let rows = sqlx::query(
        "SELECT client_id, name, roles, enabled, created_at FROM apps WHERE tenant_id = $1 ORDER BY created_at, client_id",
    )
    .bind(tenant_id)
    .fetch_all(db.read())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        out.push(AppInfo {
            client_id: r.try_get("client_id")?,
            name: r.try_get("name")?,
            roles: parse_roles(&r.try_get::<String, _>("roles")?),
            enabled: get_i64(r, "enabled")? != 0,
            created_date_time: rfc3339(get_i64(r, "created_at")?),
        });
    }
    Ok(out)
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
            shown.contains("c1") && shown.contains("redacted"),
            "{shown}"
        );
    }
}

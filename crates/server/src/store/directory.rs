//! The directory's rows: tenants, users, groups and their members, app
//! registrations. Every statement is scoped by tenant id where the object
//! belongs to one; the rules (names, secrets, who may do what) are
//! [`crate::directory`]'s.

use crate::backend::Backend;
use crate::db::Db;
use crate::error::ApiResult;
use crate::paging::PageRequest;
use crate::store::query::{self, Bind, GraphQuery, Listing};
use crate::store::sql::{args, execute, fetch_all, fetch_optional, placeholders, Arg, Fields, On};
use crate::time_util::rfc3339;
use crate::writer::JobCtx;
use serde::Serialize;

/// A tenant: a directory of its own, with its relying party.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// The tenant id (a GUID).
    pub id: String,
    /// Its name (unique; used in URLs).
    pub name: String,
    /// Its RP ID, if not the server's.
    pub rp_id: Option<String>,
    /// Its RP name, if not the server's.
    pub rp_name: Option<String>,
}

/// A user as stored.
#[derive(Debug, Clone)]
pub struct User {
    /// The object id (UUIDv7 for users created since the batched import).
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The UPN as given (compared case-insensitively).
    pub upn: String,
    /// The name people see.
    pub display_name: String,
    /// The WebAuthn user handle (random, stable).
    pub user_handle: Vec<u8>,
    /// Whether the user may sign in.
    pub account_enabled: bool,
    /// When the user was created (Unix seconds).
    pub created_at: i64,
    /// Admin-center roles (`admin`, `helpdesk`).
    pub roles: Vec<String>,
}

/// The roles column (comma-separated) as a list.
pub(crate) fn parse_roles(text: &str) -> Vec<String> {
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

    /// The user as Graph's JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_graph()).unwrap_or_default()
    }
}

/// A group as stored.
#[derive(Debug, Clone)]
pub struct Group {
    /// The object id.
    pub id: String,
    /// Its name.
    pub display_name: String,
    /// Its description (null when none).
    pub description: Option<String>,
    /// When it was created (Unix seconds).
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

    /// The group as Graph's JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_graph()).unwrap_or_default()
    }
}

/// An app registration as the token endpoint sees it.
#[derive(Debug, Clone)]
pub struct App {
    /// The client id.
    pub client_id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Its name.
    pub name: String,
    /// Its permissions.
    pub roles: Vec<String>,
}

/// An app registration as `keysmith admin app list` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// The client id.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// Its permissions.
    pub roles: Vec<String>,
    /// Whether it may get tokens.
    pub enabled: bool,
    /// When it was registered (RFC 3339).
    pub created_date_time: String,
}

fn tenant_from(r: &dyn Fields) -> ApiResult<Tenant> {
    Ok(Tenant {
        id: r.text("id")?,
        name: r.text("name")?,
        rp_id: r.opt_text("rp_id")?,
        rp_name: r.opt_text("rp_name")?,
    })
}

/// A [`User`] from a row of [`USER_COLS`].
fn user_from(r: &dyn Fields) -> ApiResult<User> {
    Ok(User {
        id: r.text("id")?,
        tenant_id: r.text("tenant_id")?,
        upn: r.text("upn")?,
        display_name: r.text("display_name")?,
        user_handle: r.bytes("user_handle")?,
        account_enabled: r.flag("account_enabled")?,
        created_at: r.int("created_at")?,
        roles: parse_roles(&r.text("roles")?),
    })
}

fn group_from(r: &dyn Fields) -> ApiResult<Group> {
    Ok(Group {
        id: r.text("id")?,
        display_name: r.text("display_name")?,
        description: r.opt_text("description")?,
        created_at: r.int("created_at")?,
    })
}

const USER_COLS: &str =
    "id, tenant_id, upn, display_name, user_handle, account_enabled, created_at, roles";

/// Stores a new tenant (a taken name is 409).
pub async fn insert_tenant(db: &Db, t: &Tenant, created_at: i64) -> ApiResult<()> {
    execute(
        On::Write(db),
        "INSERT INTO tenants (id, name, rp_id, rp_name, created_at) VALUES ($1, $2, $3, $4, $5)",
        args![&t.id, &t.name, &t.rp_id, &t.rp_name, created_at],
    )
    .await
    .map(drop)
}

/// Whether the directory has a tenant (a new installation has none).
pub async fn has_tenants(db: &Db) -> ApiResult<bool> {
    let any = fetch_optional(
        On::Read(db),
        "SELECT id FROM tenants LIMIT 1",
        args![],
        |_| Ok(()),
    )
    .await?;
    Ok(any.is_some())
}

/// A tenant by id or name.
pub async fn tenant(db: &Db, key: &str) -> ApiResult<Option<Tenant>> {
    fetch_optional(
        On::Read(db),
        "SELECT id, name, rp_id, rp_name FROM tenants WHERE id = $1 OR name = $1",
        args![key],
        tenant_from,
    )
    .await
}

/// `INSERT INTO users (…) VALUES ` followed by `$rest`: the columns of
/// [`user_row`], in its order.
macro_rules! insert_users {
    ($rest:literal) => {
        concat!(
            "INSERT INTO users (id, tenant_id, upn, upn_lower, display_name, user_handle, \
             account_enabled, created_at) VALUES ",
            $rest
        )
    };
}

/// The values of a user's row in `tenant_id`, `upn_key` its case-folded
/// userPrincipalName (see [`insert_users!`]).
fn user_row<'a>(u: &'a User, tenant_id: &'a str, upn_key: &'a str) -> [Arg<'a>; 8] {
    [
        Arg::from(&u.id),
        Arg::from(tenant_id),
        Arg::from(&u.upn),
        Arg::from(upn_key),
        Arg::from(&u.display_name),
        Arg::from(&u.user_handle),
        Arg::from(u.account_enabled),
        Arg::from(u.created_at),
    ]
}

/// Stores a new user (a userPrincipalName taken in the tenant is a
/// conflict); `upn_key` is its case-folded form, unique per tenant.
pub async fn insert_user(db: &Db, user: &User, upn_key: &str) -> ApiResult<()> {
    execute(
        On::Write(db),
        insert_users!("($1, $2, $3, $4, $5, $6, $7, $8)"),
        &user_row(user, &user.tenant_id, upn_key),
    )
    .await
    .map(drop)
}

/// Rows per multi-row statement of [`import_batch`] (8 parameters each:
/// well under SQLite's 32,766 and PostgreSQL's 65,535 per statement).
const IMPORT_ROWS_PER_STATEMENT: usize = 500;

/// Stores `users` of `tenant_id` — those whose userPrincipalName the
/// tenant has already are left as they are — and adds each
/// `(group id, case-folded userPrincipalName)` of `memberships` (a member
/// already stays one), all in one write: multi-row statements of
/// `IMPORT_ROWS_PER_STATEMENT` rows. Answers how many users were new.
pub async fn import_batch(
    db: &Db,
    tenant_id: &str,
    users: Vec<User>,
    memberships: Vec<(String, String)>,
) -> ApiResult<usize> {
    let tenant_id = tenant_id.to_owned();
    db.write_job(None, move |ctx| {
        Box::pin(async move {
            if ctx.backend == Backend::Sqlite {
                return import_rows_lite(ctx, &tenant_id, &users, &memberships).await;
            }
            let mut created = 0;
            for chunk in users.chunks(IMPORT_ROWS_PER_STATEMENT) {
                let keys: Vec<String> =
                    chunk.iter().map(|u| crate::names::upn_key(&u.upn)).collect();
                let mut sql = String::from(insert_users!(""));
                let mut values: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 8);
                for (i, (u, key)) in chunk.iter().zip(&keys).enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("({})", placeholders(i * 8 + 1, 8)));
                    values.extend(user_row(u, &tenant_id, key));
                }
                sql.push_str(" ON CONFLICT (tenant_id, upn_lower) DO NOTHING");
                created += execute(On::Job(ctx), &sql, &values).await? as usize;
            }
            for chunk in memberships.chunks(IMPORT_ROWS_PER_STATEMENT) {
                // The members by their case-folded UPN, new or not, each
                // looked up through the (tenant, UPN) key: a join would
                // let PostgreSQL hash the tenant's every user per chunk.
                let n = chunk.len() * 2;
                let rows: Vec<String> = (0..chunk.len())
                    .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                    .collect();
                let sql = format!(
                    "WITH v (g, k) AS (VALUES {}) \
                     INSERT INTO group_members (group_id, user_id) \
                     SELECT g, uid FROM (SELECT v.g AS g, \
                     (SELECT u.id FROM users u WHERE u.tenant_id = ${} AND u.upn_lower = v.k) AS uid \
                     FROM v) AS m WHERE uid IS NOT NULL ON CONFLICT DO NOTHING",
                    rows.join(", "),
                    n + 1
                );
                let mut values: Vec<Arg<'_>> = Vec::with_capacity(n + 1);
                for (group, key) in chunk {
                    values.extend([Arg::from(group), Arg::from(key)]);
                }
                values.push(Arg::from(&tenant_id));
                execute(On::Job(ctx), &sql, &values).await?;
            }
            Ok(created)
        })
    })
    .await
}

/// [`import_batch`] on SQLite: a statement per row, each prepared once
/// (the connection's statement cache) and run in-process. A multi-row
/// statement there costs more than it saves: SQLite gives every statement
/// that may write several rows and then fail a statement journal, a copy
/// of each page it changes (a third of the writer thread's time in a
/// 200,000-user import, in `perf`), while a single-row insert needs none.
async fn import_rows_lite(
    ctx: &mut JobCtx,
    tenant_id: &str,
    users: &[User],
    memberships: &[(String, String)],
) -> ApiResult<usize> {
    // The users this batch adds, by case-folded UPN: their members need no
    // lookup.
    let mut added: std::collections::HashMap<String, &str> =
        std::collections::HashMap::with_capacity(users.len());
    for u in users {
        let key = crate::names::upn_key(&u.upn);
        let stored = execute(
            On::Job(ctx),
            insert_users!(
                "($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, upn_lower) DO NOTHING"
            ),
            &user_row(u, tenant_id, &key),
        )
        .await?;
        if stored > 0 {
            added.insert(key, &u.id);
        }
    }
    for (group, key) in memberships {
        // A user added above, else the member by its case-folded UPN.
        let user_id = match added.get(key.as_str()) {
            Some(id) => (*id).to_owned(),
            None => match fetch_optional(
                On::Job(ctx),
                "SELECT id FROM users WHERE tenant_id = $1 AND upn_lower = $2",
                args![tenant_id, key],
                |r| r.text("id"),
            )
            .await?
            {
                Some(id) => id,
                None => continue,
            },
        };
        execute(
            On::Job(ctx),
            "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            args![group, &user_id],
        )
        .await?;
    }
    Ok(added.len())
}

/// [`user`]'s statement: `$1` tenant, `$2` object id, `$3` folded UPN.
pub(crate) static USER_BY_KEY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {USER_COLS} FROM users WHERE id = COALESCE( \
           (SELECT id FROM users WHERE id = $2 AND tenant_id = $1), \
           (SELECT id FROM users WHERE tenant_id = $1 AND upn_lower = $3))"
    )
});

/// A user by object id, else by case-folded userPrincipalName (two index
/// lookups: see [`tenant_and_user`]).
pub async fn user(db: &Db, tenant_id: &str, id: &str, upn_key: &str) -> ApiResult<Option<User>> {
    fetch_optional(
        On::Read(db),
        &USER_BY_KEY,
        args![tenant_id, id, upn_key],
        user_from,
    )
    .await
}

/// [`tenant_and_user`]'s statement: the tenant (`$1`: id or name) and
/// its user by object id (`$2`) or case-folded UPN (`$3`), the object id
/// first. The user is found by two index lookups, not by
/// `id = … OR upn = …`: PostgreSQL's generic plan for that OR (the one a
/// prepared statement settles on) reads every user of the tenant. On
/// PostgreSQL the user is a LATERAL subquery kept apart by `OFFSET 0`:
/// joined directly (`ON u.id = COALESCE(…)`), a tenant of a few hundred
/// users was costed cheaper as a hash of the whole users table, built on
/// every request (0.7 ms a call in the bench's statement log, against
/// 0.1 ms this way). SQLite has no LATERAL and looks the user up by its
/// key either way.
pub(crate) fn tenant_and_user_sql(backend: Backend) -> &'static str {
    macro_rules! statement {
        ($user_join:literal) => {
            concat!(
                "SELECT t.id AS t_id, t.name AS t_name, t.rp_id AS t_rp_id, t.rp_name AS t_rp_name, \
                 u.id, u.tenant_id, u.upn, u.display_name, u.user_handle, u.account_enabled, \
                 u.created_at, u.roles FROM tenants t ",
                $user_join,
                " WHERE t.id = $1 OR t.name = $1"
            )
        };
    }
    match backend {
        Backend::Postgres => statement!(
            "LEFT JOIN LATERAL (SELECT * FROM users WHERE id = COALESCE( \
               (SELECT id FROM users WHERE id = $2 AND tenant_id = t.id), \
               (SELECT id FROM users WHERE tenant_id = t.id AND upn_lower = $3)) OFFSET 0) u ON true"
        ),
        Backend::Sqlite => statement!(
            "LEFT JOIN users u ON u.id = COALESCE( \
               (SELECT id FROM users WHERE id = $2 AND tenant_id = t.id), \
               (SELECT id FROM users WHERE tenant_id = t.id AND upn_lower = $3))"
        ),
    }
}

/// A tenant (by id or name) and, if it has one, its user by object id or
/// case-folded userPrincipalName, in one query: the hot path of every
/// `/users/{user}/…` request. The object id wins over a UPN (see
/// `tenant_and_user_sql`).
pub async fn tenant_and_user(
    db: &Db,
    tenant_key: &str,
    user_id: &str,
    upn_key: &str,
) -> ApiResult<Option<(Tenant, Option<User>)>> {
    fetch_optional(
        On::Read(db),
        tenant_and_user_sql(db.backend),
        args![tenant_key, user_id, upn_key],
        |r| {
            let tenant = Tenant {
                id: r.text("t_id")?,
                name: r.text("t_name")?,
                rp_id: r.opt_text("t_rp_id")?,
                rp_name: r.opt_text("t_rp_name")?,
            };
            let user = match r.opt_text("id")? {
                None => None,
                Some(_) => Some(user_from(r)?),
            };
            Ok((tenant, user))
        },
    )
    .await
}

/// A user by WebAuthn user handle.
pub async fn user_by_handle(db: &Db, tenant_id: &str, handle: &[u8]) -> ApiResult<Option<User>> {
    fetch_optional(
        On::Read(db),
        &format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND user_handle = $2"),
        args![tenant_id, handle],
        user_from,
    )
    .await
}

/// The directory roles of a user (none for a user that does not exist).
pub async fn user_roles(db: &Db, user_id: &str) -> ApiResult<Vec<String>> {
    let roles = fetch_optional(
        On::Read(db),
        "SELECT roles FROM users WHERE id = $1",
        args![user_id],
        |r| r.text("roles"),
    )
    .await?;
    Ok(parse_roles(&roles.unwrap_or_default()))
}

/// Sets a user's roles and, when `void_registrations`, deletes the user's
/// pending registration challenges in the same write.
pub async fn set_user_roles(
    db: &Db,
    user_id: &str,
    roles: &[String],
    void_registrations: bool,
) -> ApiResult<()> {
    let (user_id, roles) = (user_id.to_owned(), roles.join(","));
    db.write_job(None, move |ctx| {
        Box::pin(async move {
            execute(
                On::Job(ctx),
                "UPDATE users SET roles = $1 WHERE id = $2",
                args![&roles, &user_id],
            )
            .await?;
            if void_registrations {
                execute(
                    On::Job(ctx),
                    "DELETE FROM challenges WHERE user_id = $1 AND purpose = 'create'",
                    args![&user_id],
                )
                .await?;
            }
            Ok(())
        })
    })
    .await
}

/// Users whose case-folded userPrincipalName or display name matches the
/// `LIKE` pattern `pattern` (`\` escapes), at most `top`.
pub async fn search_users(
    db: &Db,
    tenant_id: &str,
    pattern: &str,
    top: i64,
) -> ApiResult<Vec<User>> {
    fetch_all(
        On::Read(db),
        &format!(
            "SELECT {USER_COLS} FROM users WHERE tenant_id = $1 \
             AND (upn_lower LIKE $2 ESCAPE '\\' OR LOWER(display_name) LIKE $2 ESCAPE '\\') \
             ORDER BY upn_lower LIMIT $3"
        ),
        args![tenant_id, pattern, top],
        user_from,
    )
    .await
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

/// A page of `listing` mapped by `map`, the next page's token and
/// `@odata.count`.
async fn page<T>(
    db: &Db,
    listing: &Listing<'_>,
    q: &GraphQuery,
    page: &PageRequest,
    map: fn(&dyn Fields) -> ApiResult<T>,
) -> ApiResult<(Vec<T>, Option<String>, Option<i64>)> {
    let f = query::fetch(db, listing, q, page).await?;
    let found = f.rows.iter().map(|r| map(r)).collect::<ApiResult<_>>()?;
    Ok((found, f.next, f.count))
}

/// A page of a tenant's users with Graph's query options (default order
/// userPrincipalName).
pub async fn list_users(
    db: &Db,
    tenant_id: &str,
    q: &GraphQuery,
    p: &PageRequest,
) -> ApiResult<(Vec<User>, Option<String>, Option<i64>)> {
    page(db, &users_listing(tenant_id), q, p, user_from).await
}

/// A page of a tenant's groups with Graph's query options (default order
/// displayName, then id).
pub async fn list_groups(
    db: &Db,
    tenant_id: &str,
    q: &GraphQuery,
    p: &PageRequest,
) -> ApiResult<(Vec<Group>, Option<String>, Option<i64>)> {
    page(db, &groups_listing(tenant_id), q, p, group_from).await
}

/// A page of a group's members with Graph's query options (default order:
/// member id, which the `(group_id, user_id)` key serves).
pub async fn group_members(
    db: &Db,
    tenant_id: &str,
    group_id: &str,
    q: &GraphQuery,
    p: &PageRequest,
) -> ApiResult<(Vec<User>, Option<String>, Option<i64>)> {
    page(db, &members_listing(tenant_id, group_id), q, p, user_from).await
}

/// Stores a user's new userPrincipalName (with its case-folded key),
/// display name and enabled flag.
pub async fn update_user(db: &Db, user: &User, upn_key: &str) -> ApiResult<()> {
    execute(
        On::Write(db),
        "UPDATE users SET upn = $1, upn_lower = $2, display_name = $3, account_enabled = $4 \
         WHERE id = $5 AND tenant_id = $6",
        args![
            &user.upn,
            upn_key,
            &user.display_name,
            user.account_enabled,
            &user.id,
            &user.tenant_id
        ],
    )
    .await
    .map(drop)
}

/// Deletes a user with their passkeys and memberships, in one write.
pub async fn delete_user(db: &Db, user_id: &str) -> ApiResult<()> {
    let user_id = user_id.to_owned();
    db.write_job(None, move |ctx| {
        Box::pin(async move {
            for sql in [
                "DELETE FROM group_members WHERE user_id = $1",
                // Through (tenant_id, user_id), the index of the hot paths.
                "DELETE FROM fido2_methods \
                 WHERE tenant_id = (SELECT tenant_id FROM users WHERE id = $1) AND user_id = $1",
                "DELETE FROM users WHERE id = $1",
            ] {
                execute(On::Job(ctx), sql, args![&user_id]).await?;
            }
            Ok(())
        })
    })
    .await
}

/// Stores a new group in `tenant_id`.
pub async fn insert_group(db: &Db, tenant_id: &str, g: &Group) -> ApiResult<()> {
    execute(
        On::Write(db),
        "INSERT INTO groups_ (id, tenant_id, display_name, description, created_at) VALUES ($1, $2, $3, $4, $5)",
        args![&g.id, tenant_id, &g.display_name, &g.description, g.created_at],
    )
    .await
    .map(drop)
}

/// A group by id or display name.
pub async fn group(db: &Db, tenant_id: &str, key: &str) -> ApiResult<Option<Group>> {
    fetch_optional(
        On::Read(db),
        "SELECT id, display_name, description, created_at FROM groups_ \
         WHERE tenant_id = $1 AND (id = $2 OR display_name = $2)",
        args![tenant_id, key],
        group_from,
    )
    .await
}

/// Adds a member (already one: nothing changes).
pub async fn add_member(db: &Db, group_id: &str, user_id: &str) -> ApiResult<()> {
    execute(
        On::Write(db),
        "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        args![group_id, user_id],
    )
    .await
    .map(drop)
}

/// Ids of the groups `user_id` belongs to.
pub async fn user_group_ids(db: &Db, user_id: &str) -> ApiResult<Vec<String>> {
    fetch_all(
        On::Read(db),
        "SELECT group_id FROM group_members WHERE user_id = $1",
        args![user_id],
        |r| r.text("group_id"),
    )
    .await
}

/// Stores an app registration with its secret's salt and hash.
pub async fn insert_app(
    db: &Db,
    app: &App,
    salt: &[u8],
    secret_hash: &[u8],
    created_at: i64,
) -> ApiResult<()> {
    execute(
        On::Write(db),
        "INSERT INTO apps (client_id, tenant_id, name, secret_salt, secret_hash, roles, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            &app.client_id,
            &app.tenant_id,
            &app.name,
            salt,
            secret_hash,
            &app.roles.join(","),
            created_at
        ],
    )
    .await
    .map(drop)
}

/// An enabled app registration of an enabled tenant, with its secret's
/// salt and hash.
pub async fn enabled_app_secret(
    db: &Db,
    tenant_id: &str,
    client_id: &str,
) -> ApiResult<Option<(App, Vec<u8>, Vec<u8>)>> {
    fetch_optional(
        On::Read(db),
        "SELECT client_id, tenant_id, name, secret_salt, secret_hash, roles FROM apps \
         WHERE client_id = $1 AND tenant_id = $2 AND enabled = 1 \
         AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = apps.tenant_id AND t.enabled = 1)",
        args![client_id, tenant_id],
        |r| {
            Ok((
                App {
                    client_id: r.text("client_id")?,
                    tenant_id: r.text("tenant_id")?,
                    name: r.text("name")?,
                    roles: parse_roles(&r.text("roles")?),
                },
                r.bytes("secret_salt")?,
                r.bytes("secret_hash")?,
            ))
        },
    )
    .await
}

/// Whether the app registration `client_id` exists in `tenant_id` and
/// both are enabled.
pub async fn app_enabled(db: &Db, tenant_id: &str, client_id: &str) -> ApiResult<bool> {
    let found = fetch_optional(
        On::Read(db),
        "SELECT a.enabled AS a, t.enabled AS t FROM apps a JOIN tenants t ON t.id = a.tenant_id \
         WHERE a.client_id = $1 AND a.tenant_id = $2",
        args![client_id, tenant_id],
        |r| Ok(r.flag("a")? && r.flag("t")?),
    )
    .await?;
    Ok(found.unwrap_or(false))
}

/// Enables or disables an app registration; false if there is none.
pub async fn set_app_enabled(
    db: &Db,
    tenant_id: &str,
    client_id: &str,
    enabled: bool,
) -> ApiResult<bool> {
    let n = execute(
        On::Write(db),
        "UPDATE apps SET enabled = $1 WHERE client_id = $2 AND tenant_id = $3",
        args![enabled, client_id, tenant_id],
    )
    .await?;
    Ok(n > 0)
}

/// Enables or disables a tenant (its tokens, sign-ins and token requests).
pub async fn set_tenant_enabled(db: &Db, tenant_id: &str, enabled: bool) -> ApiResult<()> {
    execute(
        On::Write(db),
        "UPDATE tenants SET enabled = $1 WHERE id = $2",
        args![enabled, tenant_id],
    )
    .await
    .map(drop)
}

/// A tenant's app registrations, oldest first.
pub async fn list_apps(db: &Db, tenant_id: &str) -> ApiResult<Vec<AppInfo>> {
    fetch_all(
        On::Read(db),
        "SELECT client_id, name, roles, enabled, created_at FROM apps WHERE tenant_id = $1 \
         ORDER BY created_at, client_id",
        args![tenant_id],
        |r| {
            Ok(AppInfo {
                client_id: r.text("client_id")?,
                name: r.text("name")?,
                roles: parse_roles(&r.text("roles")?),
                enabled: r.flag("enabled")?,
                created_date_time: rfc3339(r.int("created_at")?),
            })
        },
    )
    .await
}

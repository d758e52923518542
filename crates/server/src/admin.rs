//! Operator actions on the database directly (`keysmith admin`): tenants,
//! apps, users, groups, CSV import. Each returns a JSON-serialisable record.

use crate::db::Db;
use crate::directory::{self, NewApp, Tenant};
use crate::usecase::DomainError;
use serde::Serialize;
use std::path::Path;

type Result<T> = std::result::Result<T, DomainError>;

/// An operator's mistake (a bad argument, an unreadable file).
fn invalid(message: String) -> DomainError {
    DomainError::Invalid {
        field: None,
        message,
    }
}

/// The actor of changes made with `keysmith admin`: the operating-system
/// user who ran it (`cli:alice`).
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(account_of_process)
        .unwrap_or_else(|| "unknown".into());
    format!("cli:{}", crate::audit::bounded(&user, 64))
}

/// The account this process runs as, from its uid and /etc/passwd (no
/// USER in the environment: cron jobs, containers); `uid:N` when unnamed.
#[cfg(unix)]
fn account_of_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    Some(
        passwd
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id = f.nth(1)?.parse::<u32>().ok()?;
                (id == uid).then(|| name.to_owned())
            })
            .next()
            .unwrap_or_else(|| format!("uid:{uid}")),
    )
}

#[cfg(not(unix))]
fn account_of_process() -> Option<String> {
    None
}

/// Audits an operator change as its HTTP twin is audited, with the
/// operating-system user as actor.
async fn audited(
    db: &Db,
    tenant_id: &str,
    activity: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<()> {
    crate::audit::record(
        db,
        crate::audit::Event {
            tenant_id,
            actor: &cli_actor(),
            activity,
            target,
            result: "success",
            reason: "",
            request_id: "keysmith-admin",
            details,
        },
    )
    .await?;
    Ok(())
}

/// Creates a tenant (`keysmith admin tenant create`), audited.
pub async fn create_tenant(
    db: &Db,
    name: &str,
    rp_id: Option<&str>,
    rp_name: Option<&str>,
) -> Result<Tenant> {
    let t = directory::create_tenant(db, name, rp_id, rp_name).await?;
    audited(
        db,
        &t.id,
        "Add tenant",
        &t.id,
        serde_json::json!({ "name": t.name, "rpId": rp_id, "rpName": rp_name }),
    )
    .await?;
    Ok(t)
}

/// Registers an app with `roles` in `tenant` and returns its secret, shown once (audited).
pub async fn create_app(db: &Db, tenant: &str, name: &str, roles: &[String]) -> Result<NewApp> {
    let t = directory::find_tenant(db, tenant).await?;
    let app = directory::create_app(db, &t, name, roles).await?;
    audited(
        db,
        &t.id,
        "Add app registration",
        &app.client_id,
        serde_json::json!({ "name": name, "roles": roles }),
    )
    .await?;
    Ok(app)
}

/// A user `keysmith admin user create` made.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedUser {
    /// The user's object id.
    pub id: String,
    /// The UPN.
    pub user_principal_name: String,
    /// The name people see.
    pub display_name: String,
}

/// Creates a user in `tenant`.
pub async fn create_user(
    db: &Db,
    tenant: &str,
    upn: &str,
    display_name: &str,
) -> Result<CreatedUser> {
    let t = directory::find_tenant(db, tenant).await?;
    let u = crate::usecase::directory::create_user(
        db,
        &t.id,
        upn,
        display_name,
        &cli_actor(),
        "keysmith-admin",
    )
    .await?;
    Ok(CreatedUser {
        id: u.id,
        user_principal_name: u.upn,
        display_name: u.display_name,
    })
}

/// An admin-center account with its one-time enrollment link.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrappedAdmin {
    /// The user's object id.
    pub id: String,
    /// The UPN.
    pub user_principal_name: String,
    /// `admin` or `helpdesk`.
    pub role: String,
    /// Whether the user was created now (else an existing one got the role).
    pub created: bool,
    /// The one-time link where the user registers a first passkey.
    pub enroll_url: String,
    /// When the link expires (RFC 3339).
    pub expires_date_time: String,
}

/// Creates (or reuses) the user `upn` with the admin-center `role`
/// (`admin` or `helpdesk`) and issues a single-use, expiring link at
/// `{base_url}/{tenant}/admin/enroll?token=…` where they register their
/// first passkey. Only the token's hash is stored.
pub async fn bootstrap_admin(
    db: &Db,
    tenant: &str,
    upn: &str,
    role: &str,
    base_url: &str,
) -> Result<BootstrappedAdmin> {
    let role = crate::web::session::Role::parse(role)
        .ok_or_else(|| invalid("--role must be admin or helpdesk".into()))?;
    let t = directory::find_tenant(db, tenant).await?;
    let created =
        crate::usecase::directory::create_user(db, &t.id, upn, "", &cli_actor(), "keysmith-admin")
            .await;
    let (user, created) = match created {
        Ok(u) => (u, true),
        Err(e) if e.is_conflict() => (directory::find_user(db, &t.id, upn).await?, false),
        Err(e) => return Err(e),
    };
    let mut roles = directory::user_roles(db, &user.id).await?;
    if !roles.iter().any(|r| r.eq_ignore_ascii_case(role.as_str())) {
        roles.push(role.as_str().to_owned());
        directory::set_user_roles(db, &user.id, &roles).await?;
        audited(
            db,
            &t.id,
            "Add admin-center role",
            &user.id,
            serde_json::json!({ "userPrincipalName": user.upn, "role": role.as_str() }),
        )
        .await?;
    }
    let (token, expires) = crate::web::session::create_enrollment(db, &t.id, &user.id).await?;
    audited(
        db,
        &t.id,
        "Issue enrollment link",
        &user.id,
        serde_json::json!({ "userPrincipalName": user.upn, "expires": expires }),
    )
    .await?;
    Ok(BootstrappedAdmin {
        id: user.id,
        user_principal_name: user.upn,
        role: role.as_str().to_owned(),
        created,
        enroll_url: format!(
            "{}/{}/admin/enroll?token={token}",
            base_url.trim_end_matches('/'),
            crate::web::url_enc(&t.name)
        ),
        expires_date_time: crate::time_util::rfc3339(expires),
    })
}

/// A group `keysmith admin group create` made.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedGroup {
    /// The group's object id.
    pub id: String,
    /// Its name.
    pub display_name: String,
    /// Members added from the CSV.
    pub members: usize,
}

/// Creates a group, optionally adding the users named in a CSV file (first
/// column: userPrincipalName or user id; a header row is skipped).
pub async fn create_group(
    db: &Db,
    tenant: &str,
    name: &str,
    members_csv: Option<&Path>,
) -> Result<CreatedGroup> {
    let t = directory::find_tenant(db, tenant).await?;
    let g = directory::create_group(db, &t.id, name, None).await?;
    let mut members = 0;
    if let Some(path) = members_csv {
        for row in read_csv(path)? {
            let Some(key) = row.first() else { continue };
            if key.eq_ignore_ascii_case("userPrincipalName") || key.is_empty() {
                continue;
            }
            let u = directory::find_user(db, &t.id, key).await?;
            directory::add_member(db, &g.id, &u.id).await?;
            members += 1;
        }
    }
    audited(
        db,
        &t.id,
        "Add group",
        &g.id,
        serde_json::json!({ "displayName": g.display_name, "members": members }),
    )
    .await?;
    Ok(CreatedGroup {
        id: g.id,
        display_name: g.display_name,
        members,
    })
}

/// What `keysmith admin users import` did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// Users created.
    pub created: usize,
    /// Users that were there already (left as they were).
    pub existing: usize,
    /// Groups created for the CSV's group column.
    pub groups_created: usize,
    /// Memberships added.
    pub memberships: usize,
    /// Lines refused, each with its line number and reason.
    pub errors: Vec<String>,
}

/// Users per write of an import: each batch is one transaction (one
/// flush; on SQLite a statement per row, on PostgreSQL multi-row ones).
/// A batch of 25,000 rather than 5,000 took a 200,000-user import on
/// SQLite from 9.2 to 7.3 s: every commit writes each page it changed to
/// the WAL, and the users' indexes are changed all over.
pub const IMPORT_BATCH: usize = 25_000;

/// Imports `userPrincipalName,displayName[,group]` rows (header optional).
/// Existing users are kept; groups are created on first mention. Every line
/// is checked first (a bad one is reported and skipped), then the users
/// and memberships are stored [`IMPORT_BATCH`] at a time; `progress` is
/// told (users stored so far, users to store) after each batch.
pub async fn import_users(
    db: &Db,
    tenant: &str,
    csv: &Path,
    progress: impl Fn(usize, usize),
) -> Result<ImportReport> {
    let t = directory::find_tenant(db, tenant).await?;
    let mut report = ImportReport::default();
    // (user, the name of the group it joins)
    let mut rows: Vec<(directory::User, Option<String>)> = Vec::new();
    for (n, row) in read_csv(csv)?.into_iter().enumerate() {
        let upn = row.first().map(String::as_str).unwrap_or("");
        if upn.is_empty() || (n == 0 && upn.eq_ignore_ascii_case("userPrincipalName")) {
            continue;
        }
        let display = row.get(1).map(String::as_str).unwrap_or("");
        match directory::new_user(&t.id, upn, display) {
            Ok(u) => rows.push((u, row.get(2).filter(|g| !g.is_empty()).cloned())),
            Err(e) => report.errors.push(format!("line {}: {}", n + 1, e.message)),
        }
    }
    // Each group named, found or created once.
    let mut group_ids: std::collections::HashMap<String, String> = Default::default();
    for name in rows.iter().filter_map(|(_, g)| g.as_deref()) {
        if group_ids.contains_key(name) {
            continue;
        }
        let g = match directory::find_group(db, &t.id, name).await {
            Ok(g) => g,
            Err(e) if e.is_not_found() => {
                report.groups_created += 1;
                directory::create_group(db, &t.id, name, None).await?
            }
            Err(e) => return Err(e.into()),
        };
        group_ids.insert(name.to_owned(), g.id);
    }
    let total = rows.len();
    let mut done = 0;
    progress(done, total);
    let mut rest = rows.into_iter().peekable();
    while rest.peek().is_some() {
        let batch: Vec<_> = rest.by_ref().take(IMPORT_BATCH).collect();
        let memberships: Vec<(String, String)> = batch
            .iter()
            .filter_map(|(u, g)| {
                let group = group_ids.get(g.as_deref()?)?;
                Some((group.clone(), crate::names::upn_key(&u.upn)))
            })
            .collect();
        report.memberships += memberships.len();
        let n = batch.len();
        let users = batch.into_iter().map(|(u, _)| u).collect();
        let created = directory::import_batch(db, &t.id, users, memberships).await?;
        report.created += created;
        report.existing += n - created;
        done += n;
        progress(done, total);
    }
    audited(
        db,
        &t.id,
        "Import users",
        &csv.display().to_string(),
        serde_json::to_value(&report).unwrap_or_default(),
    )
    .await?;
    Ok(report)
}

/// Makes a new token signing key current (see
/// [`crate::token::TokenKeys::rotate`]), audited in the server's chain.
pub async fn rotate_signing_key(db: &Db, kek: &crate::kek::Kek) -> Result<String> {
    let kid = crate::token::TokenKeys::rotate(db, kek)
        .await
        .map_err(|e| invalid(format!("signing key: {e}")))?;
    audited(
        db,
        crate::audit::SERVER_CHAIN,
        "Rotate token signing key",
        &kid,
        serde_json::json!({ "kid": kid }),
    )
    .await?;
    Ok(kid)
}

/// Reads a CSV file (RFC 4180 quoting) into trimmed rows.
pub fn read_csv(path: &Path) -> Result<Vec<Vec<String>>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    parse_csv(&text).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

/// Parses CSV text into trimmed rows; blank lines are skipped.
pub fn parse_csv(text: &str) -> std::result::Result<Vec<Vec<String>>, csv::Error> {
    // One record buffer reused, each field trimmed as it is copied out (the
    // reader's own trimming and `records()` build new buffers per row: half
    // the time of reading a 200,000-line file).
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut rows = Vec::new();
    while reader.read_record(&mut record)? {
        rows.push(record.iter().map(|f| f.trim().to_owned()).collect());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_quotes() {
        let rows = super::parse_csv(
            "userPrincipalName,displayName\n\"a@x\",\"Smith, \"\"Al\"\"\"\n\nb@x,B,g1\r\n c@x ,\" C \",\tg2\n",
        )
        .unwrap();
        assert_eq!(rows[1], vec!["a@x", "Smith, \"Al\""]);
        assert_eq!(rows[2], vec!["b@x", "B", "g1"]);
        assert_eq!(
            rows[3],
            vec!["c@x", "C", "g2"],
            "fields trimmed, quoted or not"
        );
    }
}

//! Server-rendered HTML pages: askama templates in `crates/server/templates`
//! (`base.html`, the layout; `pages/*.html`, one per page), checked and
//! compiled with the crate. askama escapes every value it prints; no page
//! has inline script or style (the CSP forbids them); behaviour is in
//! `/assets/admin.js` and `/assets/signin.js`.

// Page helpers return a ready response (redirect, error page) as their error.
#![allow(clippy::result_large_err)]

use super::session::{self, Role, WebSession};
use super::{html, url_enc};
use crate::audit;
use crate::directory::{self, Tenant};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::methods;
use crate::store::policies;
use crate::time_util::rfc3339;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

/// The Host the browser used (for links the server prints).
pub fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_owned()
}

/// What every page's layout (`templates/base.html`) shows: title, the
/// tenant's header and navigation, the signed-in staff member, the script
/// and the `data-` attributes it reads.
struct Page<'a> {
    title: String,
    tenant: Option<&'a Tenant>,
    session: Option<&'a WebSession>,
    script: &'a str,
    /// `data-page` on `<body>`: tells the script which page it is on.
    kind: &'a str,
    data: Vec<(&'a str, String)>,
}

impl<'a> Page<'a> {
    fn new(title: impl Into<String>, kind: &'a str) -> Self {
        Page {
            title: title.into(),
            tenant: None,
            session: None,
            script: "",
            kind,
            data: Vec::new(),
        }
    }

    /// A page of `tenant`'s, run by `script`.
    fn of(tenant: &'a Tenant, title: impl Into<String>, kind: &'a str, script: &'a str) -> Self {
        Page {
            tenant: Some(tenant),
            script,
            ..Page::new(title, kind)
        }
    }

    /// … for a signed-in staff member: the admin script, the navigation.
    fn staff(
        tenant: &'a Tenant,
        session: &'a WebSession,
        title: impl Into<String>,
        kind: &'a str,
    ) -> Self {
        Page {
            session: Some(session),
            ..Page::of(tenant, title, kind, "admin.js")
        }
    }

    /// The tenant's name as one path segment.
    fn tenant_path(&self) -> String {
        self.tenant.map(|t| url_enc(&t.name)).unwrap_or_default()
    }

    /// The admin center's root path.
    fn base(&self) -> String {
        format!("/{}/admin", self.tenant_path())
    }
}

/// Renders a page's template (askama escapes every value it prints).
fn page(status: StatusCode, t: impl Template) -> Response {
    match t.render() {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!("a page did not render: {e}");
            crate::error::ApiError::internal("the page could not be rendered").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "pages/message.html")]
struct MessagePage<'a> {
    page: Page<'a>,
    message: String,
}

/// Pages whose content is fixed markup: only the layout's values vary.
macro_rules! fixed_pages {
    ($($name:ident => $path:literal),* $(,)?) => {$(
        #[derive(Template)]
        #[template(path = $path)]
        struct $name<'a> {
            page: Page<'a>,
        }
    )*};
}

fixed_pages! {
    ChooserPage => "pages/chooser.html",
    SigninPage => "pages/signin.html",
    LoginPage => "pages/login.html",
    DeprovisionPage => "pages/deprovision.html",
}

#[derive(Template)]
#[template(path = "pages/enroll.html")]
struct EnrollPage<'a> {
    page: Page<'a>,
    /// The user the link enrolls; `None` when the link is not good.
    upn: Option<String>,
    problem: String,
}

struct UserRow {
    id_path: String,
    upn: String,
    name: String,
    passkeys: usize,
    enabled: bool,
}

#[derive(Template)]
#[template(path = "pages/users.html")]
struct UsersPage<'a> {
    page: Page<'a>,
    query: String,
    rows: Vec<UserRow>,
    /// The search stopped at its limit.
    capped: bool,
}

struct PasskeyRow {
    id: String,
    name: String,
    model: String,
    aaguid: String,
    created: String,
    used: String,
    level: String,
}

#[derive(Template)]
#[template(path = "pages/user.html")]
struct UserPage<'a> {
    page: Page<'a>,
    user: &'a directory::User,
    passkeys: Vec<PasskeyRow>,
    /// `max_passkeys_per_user`.
    limit: usize,
}

struct ModelRow {
    aaguid: String,
    name: String,
    listed: bool,
}

#[derive(Template)]
#[template(path = "pages/policy.html")]
struct PolicyPage<'a> {
    page: Page<'a>,
    admin: bool,
    enabled: bool,
    attestation: bool,
    restricted: bool,
    enforcement: String,
    aaguids: String,
    models: Vec<ModelRow>,
}

struct AuditRow {
    at: String,
    activity: String,
    by: String,
    target: String,
    result: String,
    reason: String,
    details: String,
}

#[derive(Template)]
#[template(path = "pages/audit.html")]
struct AuditPage<'a> {
    page: Page<'a>,
    /// The chain's first problem, if any, and how many there are.
    problem: Option<String>,
    problems: usize,
    events: u64,
    checkpoints: usize,
    /// ", the last at event N (time)" when there is a checkpoint.
    last_checkpoint: String,
    activities: &'static [&'static str],
    activity: Option<String>,
    result: Option<String>,
    actor: String,
    target: String,
    rows: Vec<AuditRow>,
}

fn login_redirect(tenant: &Tenant) -> Response {
    Redirect::to(&format!("/{}/admin/login", url_enc(&tenant.name))).into_response()
}

/// Tenant from the path; an unknown tenant is a plain 404 page.
async fn tenant_or_404(state: &AppState, key: &str) -> Result<Tenant, Response> {
    match directory::find_tenant(&state.db, key).await {
        Ok(t) => Ok(t),
        Err(e) if e.is_not_found() => Err(page(
            StatusCode::NOT_FOUND,
            MessagePage {
                page: Page::new("Tenant not found", "error"),
                message: format!("There is no tenant called “{key}”."),
            },
        )),
        Err(e) => Err(e.into_response()),
    }
}

/// The signed-in session for a page, or a redirect to the login page.
async fn page_session(
    state: &AppState,
    headers: &HeaderMap,
    tenant_key: &str,
) -> Result<(Tenant, WebSession), Response> {
    let tenant = tenant_or_404(state, tenant_key).await?;
    match session::current(state, headers, &tenant).await {
        Ok(Some(s)) => Ok((tenant, s)),
        Ok(None) => Err(login_redirect(&tenant)),
        Err(e) => Err(e.into_response()),
    }
}

macro_rules! try_page {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

fn api<T>(r: ApiResult<T>) -> Result<T, Response> {
    r.map_err(IntoResponse::into_response)
}

fn chooser(kind: &str, title: &str, path: &str, q: &HashMap<String, String>) -> Response {
    if let Some(t) = q.get("tenant").map(|t| t.trim()).filter(|t| !t.is_empty()) {
        return Redirect::to(&format!("/{}/{path}", url_enc(t))).into_response();
    }
    page(
        StatusCode::OK,
        ChooserPage {
            page: Page::new(title, kind),
        },
    )
}

pub async fn admin_chooser(Query(q): Query<HashMap<String, String>>) -> Response {
    chooser("choose", "Admin center", "admin", &q)
}

pub async fn signin_chooser(Query(q): Query<HashMap<String, String>>) -> Response {
    chooser("choose", "Sign in", "signin", &q)
}

pub async fn signin(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    let tenant = try_page!(tenant_or_404(&state, &tenant).await);
    page(
        StatusCode::OK,
        SigninPage {
            page: Page::of(&tenant, "Sign in", "signin", "signin.js"),
        },
    )
}

pub async fn login(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let tenant = try_page!(tenant_or_404(&state, &tenant).await);
    if let Ok(Some(_)) = session::current(&state, &headers, &tenant).await {
        return Redirect::to(&format!("/{}/admin", url_enc(&tenant.name))).into_response();
    }
    page(
        StatusCode::OK,
        LoginPage {
            page: Page::of(&tenant, "Admin center sign-in", "login", "admin.js"),
        },
    )
}

pub async fn enroll(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let tenant = try_page!(tenant_or_404(&state, &tenant).await);
    let token = q.get("token").cloned().unwrap_or_default();
    let title = "Register your admin passkey";
    let user = match session::peek_enrollment(&state.db, &tenant.id, &token).await {
        Ok(id) => try_page!(api(directory::find_user(&state.db, &tenant.id, &id).await)),
        Err(e) => {
            return page(
                StatusCode::BAD_REQUEST,
                EnrollPage {
                    page: Page {
                        data: vec![("token", String::new())],
                        ..Page::of(&tenant, title, "enroll", "admin.js")
                    },
                    upn: None,
                    problem: e.message,
                },
            )
        }
    };
    page(
        StatusCode::OK,
        EnrollPage {
            page: Page {
                data: vec![("token", token)],
                ..Page::of(&tenant, title, "enroll", "admin.js")
            },
            upn: Some(user.upn),
            problem: String::new(),
        },
    )
}

pub async fn dashboard(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (tenant, s) = try_page!(page_session(&state, &headers, &tenant).await);
    let text = q.get("q").map(|t| t.trim().to_owned()).unwrap_or_default();
    let users = try_page!(api(directory::search_users(
        &state.db, &tenant.id, &text, 50
    )
    .await));
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let counts = try_page!(api(
        methods::counts_for_users(&state.db, &tenant.id, &ids).await
    ));
    let capped = users.len() == 50;
    let rows = users
        .into_iter()
        .map(|u| UserRow {
            id_path: url_enc(&u.id),
            passkeys: counts.get(&u.id).copied().unwrap_or(0) as usize,
            upn: u.upn,
            name: u.display_name,
            enabled: u.account_enabled,
        })
        .collect();
    page(
        StatusCode::OK,
        UsersPage {
            page: Page::staff(&tenant, &s, "Users", "users"),
            query: text,
            rows,
            capped,
        },
    )
}

fn when(t: Option<i64>) -> String {
    t.map(rfc3339).unwrap_or_else(|| "never".into())
}

pub async fn user(
    State(state): State<AppState>,
    Path((tenant, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (tenant, s) = try_page!(page_session(&state, &headers, &tenant).await);
    let user = try_page!(api(directory::find_user(&state.db, &tenant.id, &user).await));
    let all = try_page!(api(
        methods::list_for_user(&state.db, &tenant.id, &user.id).await
    ));
    let passkeys = all
        .iter()
        .map(|m| {
            let model = m
                .model
                .clone()
                .or_else(|| state.verifier.model_of(&m.aaguid))
                .unwrap_or_else(|| "unknown model".into());
            PasskeyRow {
                id: m.id.clone(),
                name: m.display_name.clone().unwrap_or_else(|| model.clone()),
                model,
                aaguid: m.aaguid.clone(),
                created: rfc3339(m.created_at),
                used: when(m.last_used_at),
                level: m.attestation_level.clone(),
            }
        })
        .collect();
    page(
        StatusCode::OK,
        UserPage {
            page: Page {
                data: vec![("user", url_enc(&user.id))],
                ..Page::staff(&tenant, &s, format!("User {}", user.upn), "user")
            },
            user: &user,
            passkeys,
            limit: state.config.max_passkeys_per_user.max(1) as usize,
        },
    )
}

pub async fn policy(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (tenant, s) = try_page!(page_session(&state, &headers, &tenant).await);
    let p = try_page!(api(policies::load(&state.db, &tenant.id).await));
    // Models: from the metadata, and from the keys registered here.
    let mut models: Vec<(String, String)> = state.verifier.known_models();
    let seen = try_page!(api(methods::models_seen(&state.db, &tenant.id).await));
    for (a, m) in seen {
        if !models.iter().any(|(x, _)| x.eq_ignore_ascii_case(&a)) {
            let m = m
                .or_else(|| state.verifier.model_of(&a))
                .unwrap_or_else(|| "unknown model (seen in this tenant)".into());
            models.push((a, m));
        }
    }
    for a in &p.key_restrictions.aa_guids {
        if !models.iter().any(|(x, _)| x.eq_ignore_ascii_case(a)) {
            let m = state
                .verifier
                .model_of(a)
                .unwrap_or_else(|| "unknown model".into());
            models.push((a.clone(), m));
        }
    }
    let models = models
        .into_iter()
        .map(|(aaguid, name)| ModelRow {
            listed: p
                .key_restrictions
                .aa_guids
                .iter()
                .any(|g| g.eq_ignore_ascii_case(&aaguid)),
            aaguid,
            name,
        })
        .collect();
    page(
        StatusCode::OK,
        PolicyPage {
            page: Page::staff(&tenant, &s, "FIDO2 policy", "policy"),
            admin: s.role == Role::Admin,
            enabled: p.state == "enabled",
            attestation: p.is_attestation_enforced,
            restricted: p.key_restrictions.is_enforced,
            enforcement: p.key_restrictions.enforcement_type.clone(),
            aaguids: p.key_restrictions.aa_guids.join("\n"),
            models,
        },
    )
}

const ACTIVITIES: &[&str] = &[
    "Register passkey",
    "Delete passkey",
    "Get passkey creation options",
    "Sign in with passkey",
    "Sign in to admin center",
    "Update FIDO2 policy",
    "Add user",
    "Add group",
    "Add tenant",
    "Add app registration",
    "Import users",
    "Add admin-center role",
    "Issue enrollment link",
    "Graph request denied",
    "Admin center request denied",
];

pub async fn audit(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (tenant, s) = try_page!(page_session(&state, &headers, &tenant).await);
    let get = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let (activity, target, result, actor) =
        (get("activity"), get("target"), get("result"), get("actor"));
    let query = audit::Query {
        top: 1000,
        activity: activity.clone(),
        target: target.clone(),
        since: None,
    };
    let events = try_page!(api(audit::list(&state.db, &tenant.id, &query).await));
    let mut rows = Vec::new();
    for e in &events {
        let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
        if result.as_ref().is_some_and(|r| *r != s("result")) {
            continue;
        }
        if actor
            .as_ref()
            .is_some_and(|a| !s("initiatedBy").to_lowercase().contains(&a.to_lowercase()))
        {
            continue;
        }
        if rows.len() == 200 {
            break;
        }
        rows.push(AuditRow {
            at: s("activityDateTime"),
            activity: s("activityDisplayName"),
            by: s("initiatedBy"),
            target: e["targetResources"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            result: s("result"),
            reason: s("resultReason"),
            details: e["additionalDetails"].to_string(),
        });
    }
    // The chain's integrity, as `/auditLogs/verify` and `keysmith admin
    // audit verify` report it.
    let report = try_page!(api(audit::verify_chain(
        &state.db,
        &tenant.id,
        Some(&state.audit_key),
        &[]
    )
    .await));
    page(
        StatusCode::OK,
        AuditPage {
            page: Page::staff(&tenant, &s, "Audit log", "audit"),
            problem: report.problems.first().map(|p| p.message.clone()),
            problems: report.problems.len(),
            events: report.events,
            checkpoints: report.checkpoints,
            last_checkpoint: report
                .last_checkpoint
                .as_ref()
                .map(|c| format!(", the last at event {} ({})", c.seq, rfc3339(c.at)))
                .unwrap_or_default(),
            activities: ACTIVITIES,
            activity,
            result,
            actor: actor.unwrap_or_default(),
            target: target.unwrap_or_default(),
            rows,
        },
    )
}

pub async fn deprovision(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (tenant, s) = try_page!(page_session(&state, &headers, &tenant).await);
    page(
        StatusCode::OK,
        DeprovisionPage {
            page: Page::staff(&tenant, &s, "Bulk deprovision", "deprovision"),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// askama escapes what a directory holds, in text and in attributes
    /// (a display name, a UPN, a search the user typed).
    #[test]
    fn values_are_escaped_in_text_and_attributes() {
        let hostile = "\"><img src=x onerror=alert(1)>&'";
        let html = UsersPage {
            page: Page::new(hostile, "users"),
            query: hostile.into(),
            rows: vec![UserRow {
                id_path: url_enc(hostile),
                upn: hostile.into(),
                name: hostile.into(),
                passkeys: 1,
                enabled: true,
            }],
            capped: false,
        }
        .render()
        .unwrap();
        assert!(!html.contains("<img"), "{html}");
        // In the search box's value, the title and the table cells.
        assert!(html.matches("&#34;&#62;&#60;img").count() >= 4, "{html}");
        // The layout and the page's own markup are there.
        assert!(html.starts_with("<!doctype html>"), "{html}");
        assert!(html.contains("<caption>1 user(s)</caption>"), "{html}");
        assert!(html.contains("id=\"error\""), "{html}");
    }
}

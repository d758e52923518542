//! Server-rendered HTML pages. Every value shown is escaped; no page has
//! inline script or style (the CSP forbids them); behaviour is in
//! `/assets/admin.js` and `/assets/signin.js`.

// Page helpers return a ready response (redirect, error page) as their error.
#![allow(clippy::result_large_err)]

use super::session::{self, Role, WebSession};
use super::{esc, html, url_enc};
use crate::audit;
use crate::directory::{self, Tenant};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::methods;
use crate::store::policies;
use crate::time_util::rfc3339;
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

struct Page<'a> {
    title: &'a str,
    tenant: Option<&'a Tenant>,
    session: Option<&'a WebSession>,
    script: &'a str,
    /// `data-page` on `<body>`: tells the script which page it is on.
    kind: &'a str,
    data: Vec<(&'a str, String)>,
}

fn render(p: Page<'_>, body: &str) -> String {
    let mut head_meta = String::new();
    if let Some(s) = p.session {
        head_meta.push_str(&format!(
            "<meta name=\"csrf-token\" content=\"{}\">",
            esc(&s.csrf)
        ));
    }
    let mut data = format!(" data-page=\"{}\"", esc(p.kind));
    if let Some(t) = p.tenant {
        data.push_str(&format!(" data-tenant=\"{}\"", esc(&url_enc(&t.name))));
    }
    for (k, v) in &p.data {
        data.push_str(&format!(" data-{k}=\"{}\"", esc(v)));
    }
    let nav = match (p.tenant, p.session) {
        (Some(t), Some(s)) => {
            let base = format!("/{}/admin", url_enc(&t.name));
            format!(
                "<header class=\"top\"><nav aria-label=\"Admin center\"><span class=\"brand\">Keysmith · {tenant}</span>\
                 <a href=\"{base}\">Users</a><a href=\"{base}/policy\">FIDO2 policy</a>\
                 <a href=\"{base}/audit\">Audit log</a><a href=\"{base}/deprovision\">Bulk deprovision</a></nav>\
                 <div class=\"who\">Signed in as <strong id=\"whoami\">{upn}</strong> (<span id=\"role\">{role}</span>) \
                 <button type=\"button\" id=\"logout\" class=\"link\">Sign out</button></div></header>",
                tenant = esc(&t.name),
                upn = esc(&s.user.upn),
                role = s.role.as_str(),
            )
        }
        (Some(t), None) => format!(
            "<header class=\"top\"><span class=\"brand\">Keysmith · {}</span></header>",
            esc(&t.name)
        ),
        _ => "<header class=\"top\"><span class=\"brand\">Keysmith</span></header>".into(),
    };
    let script = if p.script.is_empty() {
        String::new()
    } else {
        format!(
            "<script src=\"/assets/webauthn.js\" defer></script><script src=\"/assets/{}\" defer></script>",
            p.script
        )
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Keysmith</title><link rel=\"stylesheet\" href=\"/assets/style.css\">{head_meta}{script}</head>\
         <body{data}><a class=\"skip\" href=\"#main\">Skip to content</a>{nav}\
         <main id=\"main\"><h1>{title}</h1>\
         <p id=\"status\" class=\"status\" role=\"status\" aria-live=\"polite\"></p>\
         <p id=\"error\" class=\"error\" role=\"alert\" hidden></p>{body}</main></body></html>\n",
        title = esc(p.title),
    )
}

fn login_redirect(tenant: &Tenant) -> Response {
    Redirect::to(&format!("/{}/admin/login", url_enc(&tenant.name))).into_response()
}

/// Tenant from the path; an unknown tenant is a plain 404 page.
async fn tenant_or_404(state: &AppState, key: &str) -> Result<Tenant, Response> {
    match directory::find_tenant(&state.db, key).await {
        Ok(t) => Ok(t),
        Err(e) if e.is_not_found() => Err(html(
            StatusCode::NOT_FOUND,
            render(
                Page {
                    title: "Tenant not found",
                    tenant: None,
                    session: None,
                    script: "",
                    kind: "error",
                    data: vec![],
                },
                &format!("<p>There is no tenant called “{}”.</p>", esc(key)),
            ),
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
    html(
        StatusCode::OK,
        render(
            Page {
                title,
                tenant: None,
                session: None,
                script: "",
                kind,
                data: vec![],
            },
            "<form method=\"get\" class=\"card\"><label for=\"tenant\">Organisation (tenant name)</label>\
             <input id=\"tenant\" name=\"tenant\" required autocomplete=\"organization\" autofocus>\
             <button type=\"submit\">Continue</button></form>",
        ),
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
    let body = "<section class=\"card\" aria-labelledby=\"h-passkey\"><h2 id=\"h-passkey\">With a passkey</h2>\
        <p>Insert your security key and touch it when asked. No username needed.</p>\
        <button type=\"button\" id=\"signin-discoverable\">Sign in with a passkey</button></section>\
        <section class=\"card\" aria-labelledby=\"h-username\"><h2 id=\"h-username\">With your username first</h2>\
        <form id=\"signin-username\"><label for=\"upn\">Username (userPrincipalName)</label>\
        <input id=\"upn\" name=\"upn\" type=\"email\" autocomplete=\"username webauthn\" required>\
        <button type=\"submit\">Continue</button></form></section>\
        <section id=\"result\" class=\"card ok\" hidden aria-labelledby=\"h-result\"><h2 id=\"h-result\">Signed in</h2>\
        <dl><dt>User</dt><dd id=\"result-user\"></dd><dt>Username</dt><dd id=\"result-upn\"></dd>\
        <dt>Key</dt><dd id=\"result-key\"></dd><dt>Model (AAGUID)</dt><dd id=\"result-aaguid\"></dd></dl></section>";
    html(
        StatusCode::OK,
        render(
            Page {
                title: "Sign in",
                tenant: Some(&tenant),
                session: None,
                script: "signin.js",
                kind: "signin",
                data: vec![],
            },
            body,
        ),
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
    html(
        StatusCode::OK,
        render(
            Page {
                title: "Admin center sign-in",
                tenant: Some(&tenant),
                session: None,
                script: "admin.js",
                kind: "login",
                data: vec![],
            },
            "<section class=\"card\"><p>Administrators and helpdesk staff sign in with their own passkey.</p>\
             <button type=\"button\" id=\"login\">Sign in with a passkey</button></section>",
        ),
    )
}

pub async fn enroll(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let tenant = try_page!(tenant_or_404(&state, &tenant).await);
    let token = q.get("token").cloned().unwrap_or_default();
    let page = |status, body: String, token: String| {
        html(
            status,
            render(
                Page {
                    title: "Register your admin passkey",
                    tenant: Some(&tenant),
                    session: None,
                    script: "admin.js",
                    kind: "enroll",
                    data: vec![("token", token)],
                },
                &body,
            ),
        )
    };
    let user = match session::peek_enrollment(&state.db, &tenant.id, &token).await {
        Ok(id) => try_page!(api(directory::find_user(&state.db, &tenant.id, &id).await)),
        Err(e) => {
            return page(
                StatusCode::BAD_REQUEST,
                format!(
                    "<p class=\"error-box\">{} Ask an administrator for a new link \
                     (<code>keysmith admin bootstrap-admin</code>).</p>",
                    esc(&e.message)
                ),
                String::new(),
            )
        }
    };
    page(
        StatusCode::OK,
        format!(
            "<section class=\"card\"><p>This one-time link registers the first passkey of \
             <strong>{}</strong>. It works once and then expires.</p>\
             <button type=\"button\" id=\"enroll\">Register a passkey</button></section>",
            esc(&user.upn)
        ),
        token,
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
    let base = format!("/{}/admin", url_enc(&tenant.name));
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let counts = try_page!(api(
        methods::counts_for_users(&state.db, &tenant.id, &ids).await
    ));
    let mut rows = String::new();
    for u in &users {
        let n = counts.get(&u.id).copied().unwrap_or(0);
        rows.push_str(&format!(
            "<tr><td><a href=\"{base}/users/{id}\">{upn}</a></td><td>{name}</td><td>{n}</td><td>{enabled}</td></tr>",
            id = url_enc(&u.id),
            upn = esc(&u.upn),
            name = esc(&u.display_name),
            enabled = if u.account_enabled { "yes" } else { "no" },
        ));
    }
    let table = if users.is_empty() {
        "<p>No users match.</p>".to_owned()
    } else {
        format!(
            "<table><caption>{} user(s){}</caption><thead><tr><th scope=\"col\">Username</th>\
             <th scope=\"col\">Display name</th><th scope=\"col\">Passkeys</th><th scope=\"col\">Enabled</th></tr></thead>\
             <tbody>{rows}</tbody></table>",
            users.len(),
            if users.len() == 50 { " (first 50)" } else { "" }
        )
    };
    let body = format!(
        "<form method=\"get\" class=\"search\" role=\"search\"><label for=\"q\">Find a user</label>\
         <input id=\"q\" name=\"q\" type=\"search\" value=\"{}\" placeholder=\"name or username\">\
         <button type=\"submit\">Search</button></form>{table}",
        esc(&text)
    );
    html(
        StatusCode::OK,
        render(
            Page {
                title: "Users",
                tenant: Some(&tenant),
                session: Some(&s),
                script: "admin.js",
                kind: "users",
                data: vec![],
            },
            &body,
        ),
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
    let mut rows = String::new();
    for m in &all {
        let model = m
            .model
            .clone()
            .or_else(|| state.verifier.model_of(&m.aaguid))
            .unwrap_or_else(|| "unknown model".into());
        let name = m.display_name.clone().unwrap_or_else(|| model.clone());
        rows.push_str(&format!(
            "<tr data-method=\"{id}\"><td>{name}</td><td>{model}<br><code class=\"aaguid\">{aaguid}</code></td>\
             <td>{created}</td><td>{used}</td><td>{level}</td>\
             <td><button type=\"button\" class=\"danger delete-passkey\" data-id=\"{id}\" data-name=\"{name}\" \
             aria-label=\"Delete passkey {name}\">Delete</button></td></tr>",
            id = esc(&m.id),
            name = esc(&name),
            model = esc(&model),
            aaguid = esc(&m.aaguid),
            created = esc(&rfc3339(m.created_at)),
            used = esc(&when(m.last_used_at)),
            level = esc(&m.attestation_level),
        ));
    }
    let table = if all.is_empty() {
        "<p id=\"no-passkeys\">This user has no passkeys.</p>".to_owned()
    } else {
        format!(
            "<table id=\"passkeys\"><caption>Passkeys</caption><thead><tr><th scope=\"col\">Name</th>\
             <th scope=\"col\">Model / AAGUID</th><th scope=\"col\">Created</th><th scope=\"col\">Last used</th>\
             <th scope=\"col\">Attestation</th><th scope=\"col\"><span class=\"sr-only\">Actions</span></th></tr></thead>\
             <tbody>{rows}</tbody></table>"
        )
    };
    let limit = state.config.max_passkeys_per_user.max(1) as usize;
    let table = if all.len() >= limit {
        format!(
            "{table}<p id=\"at-limit\" class=\"notice\" role=\"status\">This user has {n} passkeys, the most \
             allowed per user ({limit}, <code>max_passkeys_per_user</code>): delete one before provisioning another.</p>",
            n = all.len()
        )
    } else {
        table
    };
    let body = format!(
        "<dl class=\"facts\"><dt>Username</dt><dd id=\"user-upn\">{upn}</dd><dt>Display name</dt><dd>{dn}</dd>\
         <dt>Object id</dt><dd><code>{id}</code></dd><dt>Enabled</dt><dd>{en}</dd></dl>{table}\
         <section class=\"card\" aria-labelledby=\"h-prov\"><h2 id=\"h-prov\">Provision a passkey for this user</h2>\
         <p>Insert the security key that will be handed to the user, then start. The browser creates the passkey \
         on the key and the server verifies and stores it.</p>\
         <form id=\"provision\"><label for=\"display-name\">Name for the new passkey (optional)</label>\
         <input id=\"display-name\" name=\"displayName\" maxlength=\"30\" placeholder=\"e.g. YubiKey 5 (desk)\">\
         <button type=\"submit\">Provision a passkey</button></form></section>",
        upn = esc(&user.upn),
        dn = esc(&user.display_name),
        id = esc(&user.id),
        en = if user.account_enabled { "yes" } else { "no" },
    );
    html(
        StatusCode::OK,
        render(
            Page {
                title: &format!("User {}", user.upn),
                tenant: Some(&tenant),
                session: Some(&s),
                script: "admin.js",
                kind: "user",
                data: vec![("user", url_enc(&user.id))],
            },
            &body,
        ),
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
    let mut model_rows = String::new();
    for (a, m) in &models {
        let listed = p
            .key_restrictions
            .aa_guids
            .iter()
            .any(|g| g.eq_ignore_ascii_case(a));
        model_rows.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(a),
            esc(m),
            if listed { "listed" } else { "" }
        ));
    }
    let admin = s.role == Role::Admin;
    let checked = |b: bool| if b { " checked" } else { "" };
    let selected = |v: &str| {
        if p.key_restrictions.enforcement_type == v {
            " selected"
        } else {
            ""
        }
    };
    let body = format!(
        "{notice}<form id=\"policy\" class=\"card\"><fieldset{disabled}><legend>FIDO2 method policy</legend>\
         <div class=\"check\"><input type=\"checkbox\" id=\"enabled\" name=\"enabled\"{en}>\
         <label for=\"enabled\">Passkeys (FIDO2) enabled for this tenant</label></div>\
         <div class=\"check\"><input type=\"checkbox\" id=\"attestation\" name=\"attestation\"{att}>\
         <label for=\"attestation\">Enforce attestation (only keys whose attestation chains to a trusted root)</label></div>\
         <div class=\"check\"><input type=\"checkbox\" id=\"restrict\" name=\"restrict\"{kr}>\
         <label for=\"restrict\">Enforce key restrictions</label></div>\
         <label for=\"enforcement\">Restriction type</label>\
         <select id=\"enforcement\" name=\"enforcement\"><option value=\"allow\"{sa}>Allow only the listed models</option>\
         <option value=\"block\"{sb}>Block the listed models</option></select>\
         <label for=\"aaguids\">AAGUIDs, one per line</label>\
         <textarea id=\"aaguids\" name=\"aaguids\" rows=\"5\" spellcheck=\"false\">{list}</textarea>\
         <button type=\"submit\">Save policy</button></fieldset></form>\
         <table id=\"models\"><caption>Known models</caption><thead><tr><th scope=\"col\">AAGUID</th>\
         <th scope=\"col\">Model</th><th scope=\"col\">In list</th></tr></thead><tbody>{model_rows}</tbody></table>",
        notice = if admin {
            ""
        } else {
            "<p class=\"notice\" id=\"readonly\">You are signed in as helpdesk: the policy is read-only for you. \
             Only an admin can change it.</p>"
        },
        disabled = if admin { "" } else { " disabled" },
        en = checked(p.state == "enabled"),
        att = checked(p.is_attestation_enforced),
        kr = checked(p.key_restrictions.is_enforced),
        sa = selected("allow"),
        sb = selected("block"),
        list = esc(&p.key_restrictions.aa_guids.join("\n")),
    );
    html(
        StatusCode::OK,
        render(
            Page {
                title: "FIDO2 policy",
                tenant: Some(&tenant),
                session: Some(&s),
                script: "admin.js",
                kind: "policy",
                data: vec![],
            },
            &body,
        ),
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
    let mut rows = String::new();
    let mut shown = 0;
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
        shown += 1;
        if shown > 200 {
            break;
        }
        rows.push_str(&format!(
            "<tr class=\"{cls}\"><td>{at}</td><td>{act}</td><td>{who}</td><td><code>{target}</code></td>\
             <td>{result}</td><td>{reason}</td><td><code class=\"details\">{details}</code></td></tr>",
            cls = esc(&s("result")),
            at = esc(&s("activityDateTime")),
            act = esc(&s("activityDisplayName")),
            who = esc(&s("initiatedBy")),
            target = esc(e["targetResources"][0]["id"].as_str().unwrap_or_default()),
            result = esc(&s("result")),
            reason = esc(&s("resultReason")),
            details = esc(&e["additionalDetails"].to_string()),
        ));
    }
    let opt = |v: &str, cur: &Option<String>| {
        format!(
            "<option value=\"{0}\"{1}>{0}</option>",
            esc(v),
            if cur.as_deref() == Some(v) {
                " selected"
            } else {
                ""
            }
        )
    };
    // The chain's integrity, as `/auditLogs/verify` and `keysmith admin
    // audit verify` report it.
    let report = try_page!(api(audit::verify_chain(
        &state.db,
        &tenant.id,
        Some(&state.audit_key),
        &[]
    )
    .await));
    let integrity = match report.problems.first() {
        None => format!(
            "<p id=\"audit-integrity\" class=\"notice ok\" role=\"status\">Audit trail intact: {} events, \
             each authenticated; {} checkpoint(s) check out{}. Keep an exported checkpoint \
             (<code>keysmith admin audit checkpoint</code>) apart from the database to catch truncation.</p>",
            report.events,
            report.checkpoints,
            report
                .last_checkpoint
                .as_ref()
                .map(|c| format!(", the last at event {} ({})", c.seq, rfc3339(c.at)))
                .unwrap_or_default()
        ),
        Some(p) => format!(
            "<p id=\"audit-integrity\" class=\"notice error\" role=\"alert\">Audit trail NOT intact: {} \
             ({} problem(s) in all).</p>",
            esc(&p.message),
            report.problems.len()
        ),
    };
    let body = format!(
        "{integrity}<form method=\"get\" class=\"filters\" aria-label=\"Filter the audit log\">\
         <div><label for=\"activity\">Activity</label><select id=\"activity\" name=\"activity\"><option value=\"\">any</option>{acts}</select></div>\
         <div><label for=\"result\">Result</label><select id=\"result\" name=\"result\"><option value=\"\">any</option>{ok}{fail}</select></div>\
         <div><label for=\"actor\">Initiated by contains</label><input id=\"actor\" name=\"actor\" value=\"{actor}\"></div>\
         <div><label for=\"target\">Target id</label><input id=\"target\" name=\"target\" value=\"{target}\"></div>\
         <div><button type=\"submit\">Filter</button></div></form>\
         <table id=\"audit\"><caption>{n} event(s), newest first</caption><thead><tr><th scope=\"col\">When</th>\
         <th scope=\"col\">Activity</th><th scope=\"col\">Initiated by</th><th scope=\"col\">Target</th>\
         <th scope=\"col\">Result</th><th scope=\"col\">Reason</th><th scope=\"col\">Details</th></tr></thead><tbody>{rows}</tbody></table>",
        acts = ACTIVITIES.iter().map(|a| opt(a, &activity)).collect::<String>(),
        ok = opt("success", &result),
        fail = opt("failure", &result),
        actor = esc(actor.as_deref().unwrap_or_default()),
        target = esc(target.as_deref().unwrap_or_default()),
        n = shown.min(200),
    );
    html(
        StatusCode::OK,
        render(
            Page {
                title: "Audit log",
                tenant: Some(&tenant),
                session: Some(&s),
                script: "admin.js",
                kind: "audit",
                data: vec![],
            },
            &body,
        ),
    )
}

pub async fn deprovision(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (tenant, s) = try_page!(page_session(&state, &headers, &tenant).await);
    let body = "<form id=\"deprovision\" class=\"card\"><label for=\"upns\">Usernames, one per line</label>\
        <textarea id=\"upns\" name=\"upns\" rows=\"8\" spellcheck=\"false\" required></textarea>\
        <div class=\"check\"><input type=\"checkbox\" id=\"dry-run\" name=\"dryRun\" checked>\
        <label for=\"dry-run\">Dry run (show what would be deleted, change nothing)</label></div>\
        <button type=\"submit\" class=\"danger\">Deprovision</button></form>\
        <table id=\"deprovision-result\" hidden><caption id=\"deprovision-caption\"></caption><thead><tr>\
        <th scope=\"col\">Username</th><th scope=\"col\">Outcome</th><th scope=\"col\">Passkeys</th></tr></thead>\
        <tbody></tbody></table>";
    html(
        StatusCode::OK,
        render(
            Page {
                title: "Bulk deprovision",
                tenant: Some(&tenant),
                session: Some(&s),
                script: "admin.js",
                kind: "deprovision",
                data: vec![],
            },
            body,
        ),
    )
}

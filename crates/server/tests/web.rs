//! The admin center's security checks over plain HTTP (no browser):
//! enrollment links, session cookies, CSRF, roles, expiry, logout, and
//! Graph-style errors from the page APIs. The browser flows themselves are
//! tested in headless Chromium (tests/browser).

mod common;

use common::{assert_graph_error, Harness, Store, VirtualKey};
use keysmith_server::admin::bootstrap_admin;
use serde_json::{json, Value};

struct Http {
    agent: ureq::Agent,
    base: String,
    tenant: String,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Http {
    fn new(h: &Harness) -> Http {
        Http {
            agent: ureq::AgentBuilder::new().redirects(0).build(),
            base: h.base.clone(),
            tenant: h.tenant.clone(),
        }
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        csrf: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(c) = cookie {
            req = req.set("Cookie", c);
        }
        if let Some(t) = csrf {
            req = req.set("X-CSRF-Token", t);
        }
        let r = match body {
            Some(b) => req.send_json(b.clone()),
            None => req.call(),
        };
        let r = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("transport: {e}"),
        };
        let status = r.status();
        let headers = r
            .headers_names()
            .into_iter()
            .flat_map(|n| {
                r.all(&n)
                    .into_iter()
                    .map(|v| (n.clone(), v.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let text = r.into_string().unwrap();
        let reply = Reply {
            status,
            headers,
            text,
        };
        assert!(status < 500, "{method} {path}: {status} {}", reply.text);
        if status >= 400
            && !reply
                .header("content-type")
                .unwrap_or("")
                .starts_with("text/html")
        {
            assert_graph_error(&reply.json());
        }
        reply
    }

    fn api(&self, rest: &str) -> String {
        format!("/{}/admin/api{rest}", self.tenant)
    }

    /// A one-time enrollment link for `upn` with `role`.
    fn link(&self, h: &Harness, upn: &str, role: &str) -> String {
        h.server
            .block_on(bootstrap_admin(
                h.server.db(),
                &h.tenant,
                upn,
                role,
                &h.base,
            ))
            .unwrap()
            .enroll_url
    }

    /// `enroll/begin` with a link's token (the answer as it is).
    fn begin_enrollment(&self, link: &str) -> Reply {
        let token = link.split("token=").nth(1).unwrap();
        self.send(
            "POST",
            &self.api("/enroll/begin"),
            None,
            None,
            Some(&json!({ "token": token })),
        )
    }

    /// `enroll/finish` with `key`'s answer to a successful begin.
    fn finish_enrollment(&self, link: &str, begun: &Reply, key: &mut VirtualKey) -> Reply {
        assert_eq!(begun.status, 200, "{}", begun.text);
        let mut body = key.register(&begun.json(), "Admin key");
        body["token"] = json!(link.split("token=").nth(1).unwrap());
        self.send("POST", &self.api("/enroll/finish"), None, None, Some(&body))
    }

    /// Enrolls through a one-time link; returns the session cookie pair.
    fn enroll(&self, link: &str, key: &mut VirtualKey) -> String {
        let token = link.split("token=").nth(1).unwrap();
        let begun = self.begin_enrollment(link);
        let done = self.finish_enrollment(link, &begun, key);
        assert_eq!(done.status, 200, "{}", done.text);
        let cookie = done.header("set-cookie").unwrap().to_owned();
        // A response that carries a session is never cached (RFC 9111 §5.2.2.5,
        // and Pragma for HTTP/1.0 caches).
        assert_eq!(done.header("cache-control"), Some("no-store"));
        assert_eq!(done.header("pragma"), Some("no-cache"));
        for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(cookie.contains(attr), "{cookie} lacks {attr}");
        }
        // Single use.
        let again = self.send(
            "POST",
            &self.api("/enroll/begin"),
            None,
            None,
            Some(&json!({ "token": token })),
        );
        assert_eq!(again.status, 400);
        cookie.split(';').next().unwrap().to_owned()
    }

    /// The CSRF token a page gives a session.
    fn csrf(&self, cookie: &str) -> String {
        let page = self.send(
            "GET",
            &format!("/{}/admin", self.tenant),
            Some(cookie),
            None,
            None,
        );
        assert_eq!(page.status, 200, "{}", page.text);
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert_eq!(page.header("pragma"), Some("no-cache"));
        let at = page.text.find("name=\"csrf-token\" content=\"").unwrap();
        let rest = &page.text[at + "name=\"csrf-token\" content=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

#[test]
fn sessions_csrf_and_roles_sqlite() {
    sessions_csrf_and_roles(Store::Sqlite);
}

#[test]
fn sessions_csrf_and_roles_postgres() {
    sessions_csrf_and_roles(Store::Postgres);
}

fn sessions_csrf_and_roles(store: Store) {
    let Some(h) = Harness::start(store, vec![]) else {
        return;
    };
    let http = Http::new(&h);
    let t = h.tenant.clone();
    let bob = h.create_user("bob@example.com");
    let bob_id = bob["id"].as_str().unwrap().to_owned();
    let link = |upn: &str, role: &str| {
        h.server
            .block_on(bootstrap_admin(h.server.db(), &t, upn, role, &h.base))
            .unwrap()
            .enroll_url
    };
    assert!(h
        .server
        .block_on(bootstrap_admin(
            h.server.db(),
            &t,
            "x@example.com",
            "root",
            &h.base
        ))
        .is_err());

    // No session: pages redirect to the login page, APIs answer 401.
    let r = http.send("GET", &format!("/{t}/admin"), None, None, None);
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some(format!("/{t}/admin/login").as_str())
    );
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains(
        "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'"
    ));
    let r = http.send(
        "POST",
        &http.api("/policy"),
        None,
        Some("x"),
        Some(&json!({})),
    );
    assert_eq!(r.status, 401);

    // Bad enrollment tokens and bodies: 4xx with Graph's envelope.
    let r = http.send(
        "POST",
        &http.api("/enroll/begin"),
        None,
        None,
        Some(&json!({"token": "nope"})),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("enrollment link"));
    let r = http.send(
        "POST",
        &http.api("/enroll/begin"),
        None,
        None,
        Some(&json!({"tok": 1})),
    );
    assert_eq!(r.status, 400);
    let plain = http
        .agent
        .post(&format!("{}{}", h.base, http.api("/enroll/begin")))
        .set("Content-Type", "text/plain")
        .send_string("{\"token\":\"x\"}");
    match plain {
        Err(ureq::Error::Status(s, _)) => assert_eq!(s, 415),
        other => panic!("text/plain accepted: {:?}", other.map(|r| r.status())),
    }
    let r = http.send(
        "GET",
        &format!("/{t}/admin/enroll?token=nope"),
        None,
        None,
        None,
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("enrollment link is unknown"), "{}", r.text);

    // The admin enrolls and gets a session.
    let mut admin_key = VirtualKey::new();
    let admin = http.enroll(&link("alice@example.com", "admin"), &mut admin_key);
    let csrf = http.csrf(&admin);

    // CSRF: missing or wrong token → 403; right token → 200.
    let options = http.api(&format!("/users/{bob_id}/passkeys/options"));
    let r = http.send("POST", &options, Some(&admin), None, None);
    assert_eq!(r.status, 403);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("CSRF"));
    let r = http.send("POST", &options, Some(&admin), Some("forged"), None);
    assert_eq!(r.status, 403);
    let r = http.send("POST", &options, Some(&admin), Some(&csrf), None);
    assert_eq!(r.status, 200, "{}", r.text);

    // Provision bob's passkey through the page API (the Graph code path).
    let mut bob_key = VirtualKey::new();
    let body = bob_key.register(&r.json(), "Bob's key");
    let r = http.send(
        "POST",
        &http.api(&format!("/users/{bob_id}/passkeys")),
        Some(&admin),
        Some(&csrf),
        Some(&body),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let method_id = r.json()["id"].as_str().unwrap().to_owned();
    let page = http.send(
        "GET",
        &format!("/{t}/admin/users/{bob_id}"),
        Some(&admin),
        None,
        None,
    );
    assert!(page.text.contains("Bob&#39;s key"), "{}", page.text);

    // The user search shows each user's passkey count (one query for the
    // page): alice and bob have one, carol none.
    h.create_user("carol@example.com");
    let dash = http.send(
        "GET",
        &format!("/{t}/admin?q=example.com"),
        Some(&admin),
        None,
        None,
    );
    assert_eq!(dash.status, 200);
    let count_of = |upn: &str| -> String {
        let row = dash
            .text
            .split("<tr>")
            .find(|r| r.contains(&format!(">{upn}</a>")))
            .unwrap_or_else(|| panic!("no row for {upn}: {}", dash.text));
        let cells: Vec<&str> = row.split("<td>").collect();
        cells[3].split("</td>").next().unwrap().to_owned()
    };
    assert_eq!(count_of("alice@example.com"), "1");
    assert_eq!(count_of("bob@example.com"), "1");
    assert_eq!(count_of("carol@example.com"), "0");

    // A user without an admin-center role cannot sign in to it.
    let begin = http.send(
        "POST",
        &http.api("/login/begin"),
        None,
        None,
        Some(&json!({})),
    );
    let r = http.send(
        "POST",
        &http.api("/login/finish"),
        None,
        None,
        Some(&bob_key.sign_in(&begin.json())),
    );
    assert_eq!(r.status, 403);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not an administrator"));

    // The admin can sign in again with their passkey.
    let begin = http.send(
        "POST",
        &http.api("/login/begin"),
        None,
        None,
        Some(&json!({})),
    );
    let r = http.send(
        "POST",
        &http.api("/login/finish"),
        None,
        None,
        Some(&admin_key.sign_in(&begin.json())),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["role"], "admin");
    let admin2 = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    // Helpdesk: may delete passkeys, may not edit policy.
    let mut desk_key = VirtualKey::new();
    let desk = http.enroll(&link("hank@example.com", "helpdesk"), &mut desk_key);
    let desk_csrf = http.csrf(&desk);
    let patch = json!({"isAttestationEnforced": false});
    let r = http.send(
        "POST",
        &http.api("/policy"),
        Some(&desk),
        Some(&desk_csrf),
        Some(&patch),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "accessDenied");
    // Another session's CSRF token does not work either.
    let r = http.send(
        "POST",
        &http.api("/policy"),
        Some(&admin),
        Some(&desk_csrf),
        Some(&patch),
    );
    assert_eq!(r.status, 403);
    let r = http.send(
        "POST",
        &http.api("/policy"),
        Some(&admin),
        Some(&csrf),
        Some(&patch),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = http.send(
        "POST",
        &http.api("/policy"),
        Some(&admin),
        Some(&csrf),
        Some(&json!({"bogus": 1})),
    );
    assert_eq!(r.status, 400);
    let del = http.api(&format!("/users/{bob_id}/passkeys/{method_id}"));
    let r = http.send("DELETE", &del, Some(&desk), None, None);
    assert_eq!(r.status, 403);
    let r = http.send("DELETE", &del, Some(&desk), Some(&desk_csrf), None);
    assert_eq!(r.status, 204, "{}", r.text);
    let r = http.send("DELETE", &del, Some(&desk), Some(&desk_csrf), None);
    assert_eq!(r.status, 404);

    // Bulk deprovision: dry run changes nothing.
    let r = http.send(
        "POST",
        &http.api("/deprovision"),
        Some(&desk),
        Some(&desk_csrf),
        Some(&json!({"userPrincipalNames": ["alice@example.com", "ghost@example.com"], "dryRun": true})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // alice is an admin: help desk may not touch her passkeys, and the dry
    // run says so.
    assert_eq!(r.json()["passkeys"], 0, "{}", r.text);
    assert_eq!(r.json()["refused"], 1, "{}", r.text);
    assert_eq!(r.json()["value"][0]["status"], "refused");
    assert!(r.json()["value"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("only an admin"));
    assert_eq!(r.json()["value"][1]["status"], "notFound");
    assert_eq!(
        http.csrf(&admin2).len(),
        43,
        "alice still has her passkey and session"
    );

    // Revoking the role ends the session's powers at once.
    let hank = h
        .server
        .block_on(keysmith_server::directory::find_user(
            h.server.db(),
            &h.tenant_id(),
            "hank@example.com",
        ))
        .unwrap();
    h.server
        .block_on(keysmith_server::directory::set_user_roles(
            h.server.db(),
            &hank.id,
            &[],
        ))
        .unwrap();
    let r = http.send("GET", &format!("/{t}/admin"), Some(&desk), None, None);
    assert_eq!(r.status, 303);

    // Expired sessions are refused.
    h.server
        .block_on(
            sqlx::query("UPDATE web_sessions SET expires_at = 0 WHERE user_id <> $1")
                .bind(&hank.id)
                .execute(h.server.db().write()),
        )
        .unwrap();
    let r = http.send("POST", &options, Some(&admin), Some(&csrf), None);
    assert_eq!(r.status, 401);

    // Logout deletes the session.
    let begin = http.send(
        "POST",
        &http.api("/login/begin"),
        None,
        None,
        Some(&json!({})),
    );
    let r = http.send(
        "POST",
        &http.api("/login/finish"),
        None,
        None,
        Some(&admin_key.sign_in(&begin.json())),
    );
    let s3 = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let c3 = http.csrf(&s3);
    let r = http.send("POST", &http.api("/logout"), Some(&s3), None, None);
    assert_eq!(r.status, 403, "logout needs the CSRF token too");
    let r = http.send("POST", &http.api("/logout"), Some(&s3), Some(&c3), None);
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    let r = http.send("POST", &options, Some(&s3), Some(&c3), None);
    assert_eq!(r.status, 401);

    // Static assets: embedded, with the same CSP.
    let r = http.send("GET", "/assets/admin.js", None, None, None);
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(
        http.send("GET", "/assets/nope.js", None, None, None).status,
        404
    );
    let r = http.send("GET", &format!("/{t}/signin"), None, None, None);
    assert_eq!(r.status, 200);
    assert!(!r.text.contains("<script>") && !r.text.contains("style="));
}

#[test]
fn help_desk_manages_ordinary_users_only_sqlite() {
    help_desk_manages_ordinary_users_only(Store::Sqlite);
}

#[test]
fn help_desk_manages_ordinary_users_only_postgres() {
    help_desk_manages_ordinary_users_only(Store::Postgres);
}

/// Issue 21: a help-desk session must not provision a passkey it holds
/// onto an admin's (or another help-desk member's) account, nor delete or
/// bulk-deprovision theirs; it still manages ordinary users; an admin
/// manages everyone; each refusal is audited.
fn help_desk_manages_ordinary_users_only(store: Store) {
    let Some(h) = Harness::start(store, vec![]) else {
        return;
    };
    let http = Http::new(&h);
    let t = h.tenant.clone();
    let link = |upn: &str, role: &str| {
        h.server
            .block_on(bootstrap_admin(h.server.db(), &t, upn, role, &h.base))
            .unwrap()
            .enroll_url
    };
    let mut admin_key = VirtualKey::new();
    let admin = http.enroll(&link("alice@example.com", "admin"), &mut admin_key);
    let admin_csrf = http.csrf(&admin);
    let mut desk_key = VirtualKey::new();
    let desk = http.enroll(&link("hank@example.com", "helpdesk"), &mut desk_key);
    let desk_csrf = http.csrf(&desk);
    let mut ivy_key = VirtualKey::new();
    let ivy = http.enroll(&link("ivy@example.com", "helpdesk"), &mut ivy_key);
    let ivy_csrf = http.csrf(&ivy);
    let bob = h.create_user("bob@example.com")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id_of = |upn: &str| {
        h.server
            .block_on(keysmith_server::directory::find_user(
                h.server.db(),
                &h.tenant_id(),
                upn,
            ))
            .unwrap()
            .id
    };
    let staff = [id_of("alice@example.com"), id_of("ivy@example.com")];

    // Options and register: refused on staff, for a key hank holds.
    for target in &staff {
        let options = http.api(&format!("/users/{target}/passkeys/options"));
        let r = http.send("POST", &options, Some(&desk), Some(&desk_csrf), None);
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(r.text.contains("only an admin"), "{}", r.text);
        // Options an admin fetched, completed by help desk: refused too.
        let r = http.send("POST", &options, Some(&admin), Some(&admin_csrf), None);
        assert_eq!(r.status, 200, "{}", r.text);
        let body = VirtualKey::new().register(&r.json(), "Hank's spare");
        let r = http.send(
            "POST",
            &http.api(&format!("/users/{target}/passkeys")),
            Some(&desk),
            Some(&desk_csrf),
            Some(&body),
        );
        assert_eq!(r.status, 403, "{}", r.text);
    }
    // Delete: refused on staff (alice's enrollment passkey).
    let alice_methods = h.get(&format!(
        "/v1.0/users/{}/authentication/fido2Methods",
        staff[0]
    ));
    let alice_method = alice_methods.1["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let del = http.api(&format!("/users/{}/passkeys/{alice_method}", staff[0]));
    let r = http.send("DELETE", &del, Some(&desk), Some(&desk_csrf), None);
    assert_eq!(r.status, 403, "{}", r.text);

    // Ordinary users: help desk provisions and deletes.
    let options = http.api(&format!("/users/{bob}/passkeys/options"));
    let r = http.send("POST", &options, Some(&desk), Some(&desk_csrf), None);
    assert_eq!(r.status, 200, "{}", r.text);
    let body = VirtualKey::new().register(&r.json(), "Bob key");
    let r = http.send(
        "POST",
        &http.api(&format!("/users/{bob}/passkeys")),
        Some(&desk),
        Some(&desk_csrf),
        Some(&body),
    );
    assert_eq!(r.status, 201, "{}", r.text);

    // Bulk deprovision, for real: bob's passkey goes, the staff's stay,
    // each refusal named.
    let r = http.send(
        "POST",
        &http.api("/deprovision"),
        Some(&desk),
        Some(&desk_csrf),
        Some(&json!({"userPrincipalNames": ["alice@example.com", "ivy@example.com", "bob@example.com"]})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["refused"], 2, "{v}");
    assert_eq!(v["passkeys"], 1, "{v}");
    assert_eq!(v["value"][0]["status"], "refused");
    assert_eq!(v["value"][1]["status"], "refused");
    assert_eq!(v["value"][2]["status"], "deleted");
    // Staff keep their passkeys: alice and ivy still sign in.
    assert_eq!(http.csrf(&admin).len(), 43);
    assert_eq!(http.csrf(&ivy).len(), 43);
    let _ = ivy_csrf;

    // An admin manages staff: deletes ivy's passkey.
    let ivy_methods = h.get(&format!(
        "/v1.0/users/{}/authentication/fido2Methods",
        staff[1]
    ));
    let ivy_method = ivy_methods.1["value"][0]["id"].as_str().unwrap().to_owned();
    let r = http.send(
        "DELETE",
        &http.api(&format!("/users/{}/passkeys/{ivy_method}", staff[1])),
        Some(&admin),
        Some(&admin_csrf),
        None,
    );
    assert_eq!(r.status, 204, "{}", r.text);

    // A CSRF failure is refused and audited as well.
    let r = http.send("POST", &options, Some(&desk), Some("forged"), None);
    assert_eq!(r.status, 403);

    // Audited: 2 options + 2 registers + 1 delete + 2 bulk + 1 CSRF, all
    // with hank as actor.
    let (s, list) = h
        .get("/v1.0/auditLogs/directoryAudits?$top=999&activity=Admin%20center%20request%20denied");
    assert_eq!(s, 200, "{list}");
    let events = list["value"].as_array().unwrap();
    assert_eq!(events.len(), 8, "{list}");
    for e in events {
        assert_eq!(e["result"], "failure", "{e}");
        assert!(e.to_string().contains("hank@example.com"), "{e}");
    }
}

/// Issue 24: the admin center shows a user at the per-user passkey limit.
#[test]
fn the_user_page_shows_the_passkey_limit() {
    let h = Harness::start_with(Store::Sqlite, |c| c.max_passkeys_per_user = 1).unwrap();
    let http = Http::new(&h);
    let link = h
        .server
        .block_on(bootstrap_admin(
            h.server.db(),
            &h.tenant,
            "alice@example.com",
            "admin",
            &h.base,
        ))
        .unwrap()
        .enroll_url;
    let admin = http.enroll(&link, &mut VirtualKey::new());
    let bob = h.create_user("bob@example.com")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice = h
        .server
        .block_on(keysmith_server::directory::find_user(
            h.server.db(),
            &h.tenant_id(),
            "alice@example.com",
        ))
        .unwrap()
        .id;
    let page = |id: &str| {
        http.send(
            "GET",
            &format!("/{}/admin/users/{id}", h.tenant),
            Some(&admin),
            None,
            None,
        )
        .text
    };
    // alice's enrollment passkey is her one allowed; bob has none.
    assert!(page(&alice).contains("id=\"at-limit\""));
    assert!(!page(&bob).contains("id=\"at-limit\""));
}

/// Issue 25: the audit page says whether the trail is intact.
#[test]
fn the_audit_page_shows_the_trails_integrity() {
    let h = Harness::start(Store::Sqlite, vec![]).unwrap();
    let http = Http::new(&h);
    let link = h
        .server
        .block_on(bootstrap_admin(
            h.server.db(),
            &h.tenant,
            "alice@example.com",
            "admin",
            &h.base,
        ))
        .unwrap()
        .enroll_url;
    let admin = http.enroll(&link, &mut VirtualKey::new());
    let page = || {
        http.send(
            "GET",
            &format!("/{}/admin/audit", h.tenant),
            Some(&admin),
            None,
            None,
        )
        .text
    };
    let text = page();
    assert!(text.contains("Audit trail intact"), "{text}");
    h.server
        .block_on(
            sqlx::query("UPDATE audit_events SET reason = 'edited' WHERE seq = 2")
                .execute(h.server.db().write()),
        )
        .unwrap();
    let text = page();
    assert!(
        text.contains("Audit trail NOT intact") && text.contains("event 2"),
        "{text}"
    );
}

/// A session lives `session_minutes` (cookie Max-Age and stored expiry
/// agree); an enrollment link lives 24 hours and, once past, is refused at
/// every step — the page, begin, and finish.
#[test]
fn session_and_enrollment_link_lifetimes() {
    let h = Harness::start(Store::Sqlite, vec![]).unwrap();
    let http = Http::new(&h);
    let t = h.tenant.clone();
    let db = h.server.db();
    let lifetime = |table: &str| -> Vec<i64> {
        h.server
            .block_on(
                sqlx::query_scalar::<_, i64>(&format!(
                    "SELECT expires_at - created_at FROM {table}"
                ))
                .fetch_all(db.read()),
            )
            .unwrap()
    };
    let link = |upn: &str| {
        h.server
            .block_on(bootstrap_admin(db, &t, upn, "admin", &h.base))
            .unwrap()
    };
    let first = link("alice@example.com");
    assert_eq!(lifetime("admin_enrollments"), [24 * 3600]);
    let expires = time::OffsetDateTime::parse(
        &first.expires_date_time,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (expires - now - 24 * 3600).abs() < 120,
        "{expires} vs {now}"
    );

    // Enrolling gives a session of the configured lifetime (480 minutes).
    let begun = http.begin_enrollment(&first.enroll_url);
    let done = http.finish_enrollment(&first.enroll_url, &begun, &mut VirtualKey::new());
    assert_eq!(done.status, 200, "{}", done.text);
    let cookie = done.header("set-cookie").unwrap();
    assert!(cookie.contains("Max-Age=28800;"), "{cookie}");
    assert_eq!(lifetime("web_sessions"), [480 * 60]);

    // Links past their expiry: refused on the page, at begin, at finish.
    let expire_links = || {
        h.server
            .block_on(
                sqlx::query("UPDATE admin_enrollments SET expires_at = created_at - 10")
                    .execute(db.write()),
            )
            .unwrap();
    };
    let second = link("bert@example.com").enroll_url;
    let token = second.split("token=").nth(1).unwrap().to_owned();
    let begun = http.begin_enrollment(&second);
    assert_eq!(begun.status, 200, "{}", begun.text);
    expire_links();
    let page = http.send(
        "GET",
        &format!("/{t}/admin/enroll?token={token}"),
        None,
        None,
        None,
    );
    assert_eq!(page.status, 400, "{}", page.text);
    let again = http.begin_enrollment(&second);
    assert_eq!(again.status, 400, "{}", again.text);
    let done = http.finish_enrollment(&second, &begun, &mut VirtualKey::new());
    assert_eq!(done.status, 400, "{}", done.text);
    assert!(done.text.contains("enrollment link"), "{}", done.text);
}

/// Bulk deprovisioning: a dry run deletes nothing and counts what a real
/// run then deletes; at most 1,000 users per request (1,000 is accepted).
#[test]
fn bulk_deprovision_dry_run_then_real_run() {
    let h = Harness::start(Store::Sqlite, vec![]).unwrap();
    let http = Http::new(&h);
    let admin = http.enroll(
        &http.link(&h, "alice@example.com", "admin"),
        &mut VirtualKey::new(),
    );
    let csrf = http.csrf(&admin);
    // bob gets two passkeys through Graph.
    h.create_user("bob@example.com");
    let methods = "/v1.0/users/bob@example.com/authentication/fido2Methods";
    for name in ["one", "two"] {
        let (s, options) = h.get(&format!("{methods}/creationOptions"));
        assert_eq!(s, 200, "{options}");
        let (s, v) = h.post(methods, &VirtualKey::new().register(&options, name));
        assert_eq!(s, 201, "{v}");
    }
    let count = || h.get(methods).1["value"].as_array().unwrap().len();
    let run = |dry: bool| {
        let r = http.send(
            "POST",
            &http.api("/deprovision"),
            Some(&admin),
            Some(&csrf),
            Some(&json!({"userPrincipalNames": ["bob@example.com"], "dryRun": dry})),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    };
    let dry = run(true);
    assert_eq!(
        (dry["users"].clone(), dry["passkeys"].clone()),
        (json!(1), json!(2)),
        "{dry}"
    );
    assert_eq!(dry["value"][0]["status"], "wouldDelete");
    assert_eq!(count(), 2, "a dry run deletes nothing");
    let real = run(false);
    assert_eq!(
        (real["users"].clone(), real["passkeys"].clone()),
        (json!(1), json!(2)),
        "{real}"
    );
    assert_eq!(real["value"][0]["status"], "deleted");
    assert_eq!(count(), 0);

    let upns =
        |n: usize| -> Vec<String> { (0..n).map(|i| format!("nobody{i}@example.com")).collect() };
    for (n, want) in [(1000, 200), (1001, 400)] {
        let r = http.send(
            "POST",
            &http.api("/deprovision"),
            Some(&admin),
            Some(&csrf),
            Some(&json!({"userPrincipalNames": upns(n), "dryRun": true})),
        );
        assert_eq!(
            r.status,
            want,
            "{n} users: {}",
            &r.text[..r.text.len().min(300)]
        );
    }
}

/// A configured session lifetime beyond a week is held to a week.
#[test]
fn sessions_last_at_most_a_week() {
    let h = Harness::start_with(Store::Sqlite, |c| c.session_minutes = 100_000).unwrap();
    let http = Http::new(&h);
    let link = http.link(&h, "alice@example.com", "admin");
    let begun = http.begin_enrollment(&link);
    let done = http.finish_enrollment(&link, &begun, &mut VirtualKey::new());
    assert_eq!(done.status, 200, "{}", done.text);
    let cookie = done.header("set-cookie").unwrap();
    assert!(
        cookie.contains(&format!("Max-Age={};", 7 * 24 * 3600)),
        "{cookie}"
    );
}

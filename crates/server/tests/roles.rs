//! Role boundaries on the Graph API (issue 21): an app that may manage
//! everyone's authentication methods (a provisioning station holding
//! `UserAuthenticationMethod.ReadWrite.All`) must not reach the methods of
//! admin-center staff, whose passkeys open the admin center. Entra draws
//! the same line between the Authentication Administrator and the
//! Privileged Authentication Administrator roles (Microsoft's "Who can
//! reset passwords / manage authentication methods" table: the first
//! manages non-admin users only). Keysmith's equivalent of the privileged
//! role is the app role `Keysmith.PrivilegedAuthenticationMethod.ReadWrite.All`.

mod common;

use common::{call, Harness, Store, VirtualKey};
use keysmith_server::admin::bootstrap_admin;
use serde_json::Value;

const METHODS: &str = "UserAuthenticationMethod.ReadWrite.All";
const PRIVILEGED: &str = "Keysmith.PrivilegedAuthenticationMethod.ReadWrite.All";

fn base(upn: &str) -> String {
    format!("/v1.0/users/{upn}/authentication/fido2Methods")
}

fn get(h: &Harness, token: &str, path: &str) -> (u16, Value) {
    call(ureq::get(&h.url(path)), token, None)
}

fn post(h: &Harness, token: &str, path: &str, body: &Value) -> (u16, Value) {
    call(ureq::post(&h.url(path)), token, Some(body))
}

fn delete(h: &Harness, token: &str, path: &str) -> (u16, Value) {
    call(ureq::delete(&h.url(path)), token, None)
}

/// Audit events of `activity` in the harness tenant, newest first.
fn audit(h: &Harness, activity: &str) -> Vec<Value> {
    let (s, v) = h.get(&format!(
        "/v1.0/auditLogs/directoryAudits?$top=1000&activity={}",
        activity.replace(' ', "%20")
    ));
    assert_eq!(s, 200, "{v}");
    v["value"].as_array().unwrap().clone()
}

#[test]
fn methods_only_apps_stop_at_staff_sqlite() {
    methods_only_apps_stop_at_staff(Store::Sqlite);
}

#[test]
fn methods_only_apps_stop_at_staff_postgres() {
    methods_only_apps_stop_at_staff(Store::Postgres);
}

fn methods_only_apps_stop_at_staff(store: Store) {
    let Some(h) = Harness::start(store, vec![]) else {
        return;
    };
    let staff = |upn: &str, role: &str| {
        h.server
            .block_on(bootstrap_admin(
                h.server.db(),
                &h.tenant,
                upn,
                role,
                &h.base,
            ))
            .unwrap();
    };
    staff("alice@example.com", "admin");
    staff("hank@example.com", "helpdesk");
    h.create_user("bob@example.com");
    h.create_user("dora@example.com");
    let station = h.token_with(&[METHODS]);
    let privileged = h.token_with(&[METHODS, PRIVILEGED]);

    // The station works on an ordinary user.
    let mut bob_key = VirtualKey::new();
    let (s, options) = get(
        &h,
        &station,
        &format!("{}/creationOptions", base("bob@example.com")),
    );
    assert_eq!(s, 200, "{options}");
    let (s, bob_method) = post(
        &h,
        &station,
        &base("bob@example.com"),
        &bob_key.register(&options, "Bob key"),
    );
    assert_eq!(s, 201, "{bob_method}");

    // It is refused on an admin and on a help-desk account: options,
    // register (with options a privileged app fetched), list is allowed
    // (read), delete refused.
    for upn in ["alice@example.com", "hank@example.com"] {
        let (s, v) = get(&h, &station, &format!("{}/creationOptions", base(upn)));
        assert_eq!(s, 403, "{upn}: {v}");
        assert_eq!(v["error"]["code"], "accessDenied");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(upn) && msg.contains(PRIVILEGED), "{msg}");

        let mut key = VirtualKey::new();
        let (s, options) = get(&h, &privileged, &format!("{}/creationOptions", base(upn)));
        assert_eq!(s, 200, "privileged app on {upn}: {options}");
        let body = key.register(&options, "Staff key");
        let (s, v) = post(&h, &station, &base(upn), &body);
        assert_eq!(s, 403, "{upn}: {v}");
        // The refusal did not burn the challenge: the privileged app
        // completes the registration.
        let (s, method) = post(&h, &privileged, &base(upn), &body);
        assert_eq!(s, 201, "{upn}: {method}");
        let id = method["id"].as_str().unwrap();

        let (s, list) = get(&h, &station, &base(upn));
        assert_eq!(s, 200, "reading stays allowed: {list}");
        let (s, v) = delete(&h, &station, &format!("{}/{id}", base(upn)));
        assert_eq!(s, 403, "{upn}: {v}");
        let (s, v) = delete(&h, &privileged, &format!("{}/{id}", base(upn)));
        assert_eq!(s, 204, "{upn}: {v}");
    }

    // The promotion race: options fetched while dora is ordinary cannot be
    // completed once she is staff — not by the station, and not by a
    // privileged app either (the challenge is void).
    let (s, options) = get(
        &h,
        &station,
        &format!("{}/creationOptions", base("dora@example.com")),
    );
    assert_eq!(s, 200, "{options}");
    let body = VirtualKey::new().register(&options, "Dora key");
    staff("dora@example.com", "helpdesk");
    let (s, v) = post(&h, &station, &base("dora@example.com"), &body);
    assert_eq!(s, 403, "{v}");
    let (s, v) = post(&h, &privileged, &base("dora@example.com"), &body);
    assert_eq!(s, 400, "a void challenge: {v}");
    let (s, list) = get(&h, &privileged, &base("dora@example.com"));
    assert_eq!(s, 200);
    assert!(list["value"].as_array().unwrap().is_empty(), "{list}");

    // Every refusal is audited once, with the app as actor and the target
    // user named.
    let refused = audit(&h, "Graph request denied");
    let about = |upn: &str| {
        refused
            .iter()
            .filter(|e| e["result"] == "failure")
            .filter(|e| e.to_string().contains(upn))
            .count()
    };
    assert_eq!(about("alice@example.com"), 3, "{refused:?}");
    assert_eq!(about("hank@example.com"), 3, "{refused:?}");
    assert_eq!(about("dora@example.com"), 1, "{refused:?}");
    for e in &refused {
        assert!(e.to_string().len() < 4096, "bounded: {e}");
    }

    // A token without the methods role, and a garbage token, are refused
    // and audited too.
    let reader = h.token_with(&["User.Read.All"]);
    let (s, _) = get(&h, &reader, &base("bob@example.com"));
    assert_eq!(s, 403);
    assert_eq!(audit(&h, "Graph request denied").len(), refused.len() + 1);
    let (s, _) = get(&h, "not-a-token", &base("bob@example.com"));
    assert_eq!(s, 401);
    let anonymous: i64 = h
        .server
        .block_on(
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_events WHERE activity = 'Graph request denied' AND actor = 'anonymous'",
            )
            .fetch_one(h.server.db().read()),
        )
        .unwrap();
    assert!(anonymous >= 1, "a garbage token is audited");
}

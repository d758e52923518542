//! Paging of every Graph collection (issue 28, stage 3), on SQLite and
//! PostgreSQL: `$top` (default 100, at most 999), `@odata.nextLink` with an
//! opaque keyset `$skiptoken`, followed exactly as given — as Microsoft's
//! "Paging Microsoft Graph data in your app" tells clients to — and every
//! object handed out exactly once while objects are added between pages.

mod common;

use common::{assert_graph_error, call, Harness, Store, VirtualKey};
use serde_json::{json, Value};
use std::collections::HashSet;

#[test]
fn collections_page_sqlite() {
    collections_page(Store::Sqlite);
}

#[test]
fn collections_page_postgres() {
    collections_page(Store::Postgres);
}

/// Follows `@odata.nextLink` from `path`; `between(n)` runs after page n.
/// Returns every page's values.
fn pages(h: &Harness, path: &str, mut between: impl FnMut(usize)) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let mut url = h.url(path);
    loop {
        let (s, v) = call(ureq::get(&url), &h.token, None);
        assert_eq!(s, 200, "{url}: {v}");
        out.push(v["value"].as_array().unwrap().clone());
        between(out.len());
        match v["@odata.nextLink"].as_str() {
            None => return out,
            Some(next) => {
                // Absolute, on the origin the client called.
                assert!(next.starts_with(&format!("{}/", h.base)), "{next}");
                assert!(next.contains("$skiptoken="), "{next}");
                url = next.to_owned();
            }
        }
        assert!(out.len() < 1000, "endless paging");
    }
}

fn ids(values: &[Value], field: &str) -> Vec<String> {
    values
        .iter()
        .map(|v| v[field].as_str().unwrap().to_owned())
        .collect()
}

/// Each of `expected` exactly once in `seen`, and nothing twice.
fn exactly_once(seen: &[String], expected: &[String]) {
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an object was handed out twice");
    for e in expected {
        assert!(unique.contains(e), "{e} was never handed out");
    }
}

fn collections_page(store: Store) {
    let Some(h) = Harness::start_with(store, |c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    }) else {
        return;
    };

    // Users: 230, default page 100, in userPrincipalName order.
    let upns: Vec<String> = (0..230).map(|i| format!("u{i:03}@example.com")).collect();
    for u in &upns {
        h.create_user(u);
    }
    let mut added = Vec::new();
    let got = pages(&h, "/v1.0/users", |n| {
        if n == 1 {
            // One behind the position (not seen), one ahead (seen).
            added.push(h.create_user("a-before@example.com"));
            added.push(h.create_user("zz-after@example.com"));
        }
    });
    assert_eq!(
        got.iter().map(Vec::len).collect::<Vec<_>>(),
        [100, 100, 31],
        "pages of 100 by default"
    );
    let seen: Vec<String> = got
        .iter()
        .flat_map(|p| ids(p, "userPrincipalName"))
        .collect();
    exactly_once(&seen, &upns);
    assert!(seen.contains(&"zz-after@example.com".to_owned()));
    assert!(!seen.contains(&"a-before@example.com".to_owned()));
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "stable userPrincipalName order");

    // $top: up to 999, kept in every nextLink.
    let got = pages(&h, "/v1.0/users?$top=999", |_| {});
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].len(), 232);
    let got = pages(&h, "/beta/users/?$top=7", |_| {});
    assert_eq!(got.len(), 232usize.div_ceil(7));
    assert!(got[..got.len() - 1].iter().all(|p| p.len() == 7));
    for bad in ["0", "1000", "-3", "ten"] {
        let (s, v) = h.get(&format!("/v1.0/users?$top={bad}"));
        assert_eq!(s, 400, "{bad}: {v}");
        assert_graph_error(&v);
        assert!(v["error"]["message"].as_str().unwrap().contains("999"));
    }

    // Tokens: only for their own collection, never forged.
    let (_, first) = h.get("/v1.0/users?$top=2");
    let next = first["@odata.nextLink"].as_str().unwrap();
    let token = next.split("$skiptoken=").nth(1).unwrap();
    for path in [
        format!("/v1.0/groups?$skiptoken={token}"),
        "/v1.0/users?$skiptoken=garbage!".to_owned(),
        "/v1.0/users?$skiptoken=e30".to_owned(),
    ] {
        let (s, v) = h.get(&path);
        assert_eq!(s, 400, "{path}: {v}");
        assert_graph_error(&v);
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("$skiptoken"));
    }

    // Behind a trusted reverse proxy the link names the public origin.
    let r = ureq::get(&h.url("/v1.0/users?$top=1"))
        .set("Authorization", &format!("Bearer {}", h.token))
        .set("X-Forwarded-Proto", "https")
        .set("X-Forwarded-Host", "id.example.com")
        .call()
        .unwrap()
        .into_json::<Value>()
        .unwrap();
    let next = r["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with("https://id.example.com/v1.0/users?$top=1&$skiptoken="),
        "{next}"
    );

    // Groups: names repeat, so the keyset is (displayName, id).
    let mut group_ids = Vec::new();
    for i in 0..12 {
        let name = if i < 7 {
            "Same name".to_owned()
        } else {
            format!("G{i}")
        };
        let (s, g) = h.post("/v1.0/groups", &json!({ "displayName": name }));
        assert_eq!(s, 201, "{g}");
        group_ids.push(g["id"].as_str().unwrap().to_owned());
    }
    let got = pages(&h, "/v1.0/groups?$top=3", |n| {
        if n == 2 {
            let (s, _) = h.post("/v1.0/groups", &json!({ "displayName": "ZZZ late" }));
            assert_eq!(s, 201);
        }
    });
    let seen: Vec<String> = got.iter().flat_map(|p| ids(p, "id")).collect();
    exactly_once(&seen, &group_ids);
    assert_eq!(seen.len(), 13, "the group added ahead is seen");

    // Members: 25 in a group, 4 a page, one more added while paging.
    let group = &group_ids[0];
    let member_ids: Vec<String> = upns[..25]
        .iter()
        .map(|u| add_member(&h, group, u))
        .collect();
    let got = pages(&h, &format!("/v1.0/groups/{group}/members?$top=4"), |n| {
        if n == 3 {
            add_member(&h, group, &upns[200]);
        }
    });
    let seen: Vec<String> = got.iter().flat_map(|p| ids(p, "id")).collect();
    exactly_once(&seen, &member_ids);
    assert!(got.len() >= 7);

    // fido2Methods: three passkeys, one a page, oldest first.
    let base = "/v1.0/users/u000@example.com/authentication/fido2Methods";
    let mut key = VirtualKey::new();
    let mut method_ids = Vec::new();
    for i in 0..3 {
        let (s, options) = h.get(&format!("{base}/creationOptions"));
        assert_eq!(s, 200, "{options}");
        let (s, m) = h.post(base, &key.register(&options, &format!("Key {i}")));
        assert_eq!(s, 201, "{m}");
        method_ids.push(m["id"].as_str().unwrap().to_owned());
    }
    let got = pages(&h, &format!("{base}?$top=1"), |_| {});
    assert_eq!(got.len(), 3);
    let seen: Vec<String> = got.iter().flat_map(|p| ids(p, "id")).collect();
    exactly_once(&seen, &method_ids);
    let got = pages(&h, base, |_| {});
    assert_eq!(got.len(), 1);

    // directoryAudits: newest first, filters kept in the nextLink.
    let got = pages(
        &h,
        "/v1.0/auditLogs/directoryAudits?activity=Add%20user&$top=50",
        |_| {},
    );
    let events: Vec<&Value> = got.iter().flatten().collect();
    assert_eq!(events.len(), 232, "one event per user created");
    assert!(events
        .iter()
        .all(|e| e["activityDisplayName"] == "Add user"));
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["sequenceNumber"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first, once");
    let (s, v) = h.get("/v1.0/auditLogs/directoryAudits?$top=1000");
    assert_eq!(s, 400, "{v}");
}

fn add_member(h: &Harness, group: &str, upn: &str) -> String {
    let (_, user) = h.get(&format!("/v1.0/users/{upn}"));
    let id = user["id"].as_str().unwrap().to_owned();
    let (s, v) = h.post(
        &format!("/v1.0/groups/{group}/members/$ref"),
        &json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/users/{id}") }),
    );
    assert_eq!(s, 204, "{v}");
    id
}

//! Graph's query options on the collections (issue 28, stage 4), on SQLite
//! and PostgreSQL: `$filter` (eq, ne, gt/ge/lt/le, in, startswith, and,
//! or, not), `$orderby`, `$select`, `$count` with `ConsistencyLevel:
//! eventual`, together with paging; every refusal a 400 in Graph's
//! envelope; and the plans: each filter runs on an index (EXPLAIN).
//!
//! Behaviours from Microsoft's Graph documentation: "Use the $filter query
//! parameter" (operators, startswith, in, case-insensitive string
//! comparison on directory objects), "Advanced query capabilities on
//! Microsoft Entra ID objects" ($count needs ConsistencyLevel: eventual),
//! and Yubico's public Entra sample, which finds its group with
//! `$filter=displayName eq 'Passkey Users'` on `/beta/groups/`.

mod common;

use common::{assert_graph_error, call, Harness, Store, VirtualKey};
use keysmith_server::paging::PageRequest;
use keysmith_server::store::query::{self, GraphQuery, Listing};
use serde_json::{json, Value};
use std::collections::HashMap;

#[test]
fn queries_sqlite() {
    queries(Store::Sqlite);
}

#[test]
fn queries_postgres() {
    queries(Store::Postgres);
}

#[test]
fn filters_run_on_indexes_sqlite() {
    filters_run_on_indexes(Store::Sqlite);
}

#[test]
fn filters_run_on_indexes_postgres() {
    filters_run_on_indexes(Store::Postgres);
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Every object of a listing, following nextLinks.
fn all(h: &Harness, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut url = h.url(path);
    loop {
        let (s, v) = call(ureq::get(&url), &h.token, None);
        assert_eq!(s, 200, "{url}: {v}");
        out.extend(v["value"].as_array().unwrap().iter().cloned());
        match v["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_owned(),
            None => return out,
        }
    }
}

fn upns(h: &Harness, filter: &str) -> Vec<String> {
    let mut v: Vec<String> = all(h, &format!("/v1.0/users?$filter={}", enc(filter)))
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn refused(h: &Harness, path: &str, part: &str) {
    let (s, v) = h.get(path);
    assert_eq!(s, 400, "{path}: {v}");
    assert_graph_error(&v);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains(part), "{path}: {msg}");
}

fn queries(store: Store) {
    let Some(h) = Harness::start(store, vec![]) else {
        return;
    };
    for (upn, name) in [
        ("ann@example.com", "Ann Lee"),
        ("anna@example.com", "anna Smith"),
        ("bob@example.com", "Bob O'Neil"),
        ("carl@example.com", "Carl"),
        ("dora@example.com", "Dora"),
    ] {
        let (s, v) = h.post(
            "/v1.0/users",
            &json!({"userPrincipalName": upn, "displayName": name}),
        );
        assert_eq!(s, 201, "{v}");
    }
    let (s, _) = h.patch(
        "/v1.0/users/carl@example.com",
        &json!({"accountEnabled": false}),
    );
    assert_eq!(s, 204);

    // $filter on users.
    assert_eq!(upns(&h, "displayName eq 'ann lee'"), ["ann@example.com"]);
    assert_eq!(
        upns(&h, "displayName eq 'Bob O''Neil'"),
        ["bob@example.com"]
    );
    assert_eq!(
        upns(&h, "startswith(userPrincipalName, 'ANN')"),
        ["ann@example.com", "anna@example.com"]
    );
    assert_eq!(
        upns(&h, "startswith(displayName,'an')"),
        ["ann@example.com", "anna@example.com"]
    );
    assert_eq!(upns(&h, "accountEnabled eq false"), ["carl@example.com"]);
    assert_eq!(
        upns(
            &h,
            "userPrincipalName in ('bob@example.com', 'Carl@Example.com', 'x@y')"
        ),
        ["bob@example.com", "carl@example.com"]
    );
    assert_eq!(
        upns(
            &h,
            "not startswith(userPrincipalName,'a') and accountEnabled eq true"
        ),
        ["bob@example.com", "dora@example.com"]
    );
    assert_eq!(
        upns(
            &h,
            "(displayName eq 'Carl' or displayName eq 'Dora') and not displayName ne 'dora'"
        ),
        ["dora@example.com"]
    );
    assert_eq!(
        upns(&h, "userPrincipalName ge 'c' and userPrincipalName lt 'd'"),
        ["carl@example.com"]
    );
    assert_eq!(upns(&h, "mail eq null").len(), 5, "Keysmith stores no mail");
    assert!(upns(&h, "mail eq 'ann@example.com'").is_empty());
    assert_eq!(upns(&h, "createdDateTime ge 2000-01-01T00:00:00Z").len(), 5);
    assert!(upns(&h, "createdDateTime lt 2000-01-01T00:00:00Z").is_empty());
    let (_, ann) = h.get("/v1.0/users/ann@example.com");
    let id = ann["id"].as_str().unwrap();
    assert_eq!(
        upns(&h, &format!("id eq '{}'", id.to_uppercase())),
        ["ann@example.com"]
    );

    // $orderby, paged: each once, in order.
    let names: Vec<String> = all(&h, "/v1.0/users?$orderby=displayName%20desc&$top=2")
        .iter()
        .map(|u| u["displayName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["Dora", "Carl", "Bob O'Neil", "anna Smith", "Ann Lee"]
    );
    let names: Vec<String> = all(
        &h,
        "/v1.0/users?$orderby=accountEnabled,userPrincipalName%20desc&$top=1",
    )
    .iter()
    .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
    .collect();
    assert_eq!(
        names,
        [
            "carl@example.com",
            "dora@example.com",
            "bob@example.com",
            "anna@example.com",
            "ann@example.com"
        ]
    );

    // $select: only what was asked (annotations kept).
    let (s, v) = h.get("/v1.0/users?$select=id,displayName,mail&$top=1");
    assert_eq!(s, 200, "{v}");
    let mut keys: Vec<&String> = v["value"][0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["@odata.type", "displayName", "id", "mail"]);
    assert_eq!(v["value"][0]["mail"], Value::Null);

    // $count: needs ConsistencyLevel: eventual on directory objects.
    refused(&h, "/v1.0/users?$count=true", "ConsistencyLevel");
    let r: Value = ureq::get(&h.url(&format!(
        "/v1.0/users?$count=true&$top=1&$filter={}",
        enc("startswith(userPrincipalName,'a')")
    )))
    .set("Authorization", &format!("Bearer {}", h.token))
    .set("ConsistencyLevel", "eventual")
    .call()
    .unwrap()
    .into_json()
    .unwrap();
    assert_eq!(r["@odata.count"], 2);
    assert_eq!(r["value"].as_array().unwrap().len(), 1);
    // The nextLink keeps the filter and count.
    let next = r["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("$filter=") && next.contains("$count=true"),
        "{next}"
    );

    // Refusals: 400 naming what is wrong.
    for (path, part) in [
        ("/v1.0/users?$filter=foo%20eq%20'x'", "'foo'"),
        ("/v1.0/users?$filter=accountEnabled%20gt%20true", "eq or ne"),
        (
            "/v1.0/users?$filter=displayName%20eq%205",
            "cannot be compared",
        ),
        (
            "/v1.0/users?$filter=startswith(accountEnabled,'t')",
            "text properties",
        ),
        ("/v1.0/users?$filter=endswith(mail,'x')", "only startswith"),
        ("/v1.0/users?$filter=displayName%20eq", "$filter"),
        (
            "/v1.0/users?$filter=displayName%20eq%20'x'%20and",
            "$filter",
        ),
        ("/v1.0/users?$orderby=mail", "cannot be sorted"),
        ("/v1.0/users?$orderby=displayName%20up", "$orderby"),
        ("/v1.0/users?$select=passwordProfile", "'passwordProfile'"),
        ("/v1.0/users?$count=maybe", "$count"),
        ("/v1.0/users?$search=%22displayName:a%22", "'$search'"),
        ("/v1.0/users?$expand=memberOf", "'$expand'"),
    ] {
        refused(&h, path, part);
    }
    // A token is bound to its filter and order.
    let (_, first) = h.get("/v1.0/users?$top=1&$orderby=displayName");
    let next = first["@odata.nextLink"].as_str().unwrap();
    let token = next.split("$skiptoken=").nth(1).unwrap();
    refused(
        &h,
        &format!("/v1.0/users?$top=1&$skiptoken={token}"),
        "$skiptoken",
    );

    // Groups: Yubico's sample finds its group by name.
    for name in ["Passkey Users", "Passkey Users Pilot", "Others"] {
        let (s, _) = h.post("/v1.0/groups", &json!({"displayName": name}));
        assert_eq!(s, 201);
    }
    let (s, v) = h.get(&format!(
        "/beta/groups/?$filter={}",
        enc("displayName eq 'Passkey Users'")
    ));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    assert_eq!(v["value"][0]["displayName"], "Passkey Users");
    let group = v["value"][0]["id"].as_str().unwrap().to_owned();
    let got = all(
        &h,
        &format!(
            "/v1.0/groups?$filter={}",
            enc("startswith(displayName,'passkey')")
        ),
    );
    assert_eq!(got.len(), 2);

    // Members: filtered, ordered.
    for upn in ["ann@example.com", "bob@example.com", "dora@example.com"] {
        let (_, u) = h.get(&format!("/v1.0/users/{upn}"));
        let (s, v) = h.post(
            &format!("/v1.0/groups/{group}/members/$ref"),
            &json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{}", u["id"].as_str().unwrap())}),
        );
        assert_eq!(s, 204, "{v}");
    }
    let names: Vec<String> = all(
        &h,
        &format!(
            "/v1.0/groups/{group}/members?$orderby=displayName%20desc&$filter={}",
            enc("displayName ne 'bob o''neil'")
        ),
    )
    .iter()
    .map(|u| u["displayName"].as_str().unwrap().to_owned())
    .collect();
    assert_eq!(names, ["Dora", "Ann Lee"]);

    // fido2Methods.
    let base = "/v1.0/users/ann@example.com/authentication/fido2Methods";
    let mut key = VirtualKey::new();
    for name in ["Blue key", "Red key"] {
        let (_, options) = h.get(&format!("{base}/creationOptions"));
        let (s, m) = h.post(base, &key.register(&options, name));
        assert_eq!(s, 201, "{m}");
    }
    let list = |filter: &str| -> Vec<String> {
        all(&h, &format!("{base}?$filter={}", enc(filter)))
            .iter()
            .map(|m| m["displayName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(list("displayName eq 'red key'"), ["Red key"]);
    let (_, m) = h.get(base);
    let aaguid = m["value"][0]["aaGuid"].as_str().unwrap().to_uppercase();
    assert_eq!(list(&format!("aaGuid eq '{aaguid}'")).len(), 2);
    assert_eq!(list("createdDateTime ge 2000-01-01T00:00:00Z").len(), 2);
    assert_eq!(list("displayName ne 'red key'"), ["Blue key"]);
    let (s, v) = h.get(&format!(
        "{base}?$orderby=displayName%20desc&$select=displayName&$count=true"
    ));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["@odata.count"], 2, "no ConsistencyLevel needed here");
    assert_eq!(
        v["value"][0],
        json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "displayName": "Red key"})
    );

    // directoryAudits.
    let events = all(
        &h,
        &format!(
            "/v1.0/auditLogs/directoryAudits?$top=2&$filter={}",
            enc("activityDisplayName eq 'Add user' and activityDateTime ge 2000-01-01T00:00:00Z")
        ),
    );
    assert_eq!(events.len(), 5);
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["sequenceNumber"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first");
    let (s, v) = h.get("/v1.0/auditLogs/directoryAudits?$orderby=activityDateTime&$top=1&$count=true&$filter=activityDisplayName%20eq%20'Add%20group'");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["@odata.count"], 3);
    refused(
        &h,
        "/v1.0/auditLogs/directoryAudits?$filter=target%20eq%20'x'",
        "'target'",
    );
}

fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn plan(
    h: &Harness,
    coll: &'static query::Collection,
    listing: Listing<'static>,
    options: &[(&str, &str)],
) -> String {
    let options = q(options);
    let gq = GraphQuery::from_request(coll, &options, &Default::default()).unwrap();
    let page = PageRequest::from_query(&options, &gq.token_kind()).unwrap();
    h.server
        .block_on(query::explain(h.server.db(), &listing, &gq, &page))
        .unwrap()
}

fn filters_run_on_indexes(store: Store) {
    let Some(h) = Harness::start(store, vec![]) else {
        return;
    };
    // The tenant's id, as the statements name it.
    let t = h.tenant_id();
    if matches!(store, Store::Postgres) {
        // PostgreSQL plans by its statistics: a tenant it believes holds
        // two users is read as cheaply through the tenant's index as
        // through the key, and the shared test database's many small
        // tenants say just that. Give this tenant a directory's worth of
        // users and fresh statistics, as in production.
        h.server
            .block_on(async {
                sqlx::query(
                    "INSERT INTO users (id, tenant_id, upn, upn_lower, display_name, user_handle, created_at) \
                     SELECT $1 || '-' || n, $1, 'u' || n || '@x', 'u' || n || '@x', 'User ' || n, '\\x00'::bytea, 0 \
                     FROM generate_series(1, 2000) AS n",
                )
                .bind(&t)
                .execute(h.server.db().write())
                .await?;
                sqlx::query("ANALYZE users").execute(h.server.db().write()).await
            })
            .unwrap();
    }
    use keysmith_server::{audit, directory};
    let users = || directory::users_listing(&t);
    let groups = || directory::groups_listing(&t);
    let audits = || audit::listing(&t, &Default::default());
    // (what, collection, listing, options, an index that must serve it:
    // SQLite's name, PostgreSQL's name)
    type Case<'a> = (
        &'a str,
        &'static query::Collection,
        Listing<'static>,
        Vec<(&'a str, &'a str)>,
        [&'a str; 2],
    );
    let upn = ["sqlite_autoindex_users_2", "users_tenant_"];
    let cases: Vec<Case> = vec![
        (
            "users by default",
            &query::USERS,
            users(),
            vec![],
            ["sqlite_autoindex_users_2", "users_tenant"],
        ),
        (
            "users by upn",
            &query::USERS,
            users(),
            vec![("$filter", "userPrincipalName eq 'a@b'")],
            upn,
        ),
        (
            "users by upn prefix",
            &query::USERS,
            users(),
            vec![("$filter", "startswith(userPrincipalName,'a')")],
            ["sqlite_autoindex_users_2", "users_tenant_upn"],
        ),
        (
            "users by name",
            &query::USERS,
            users(),
            vec![
                ("$filter", "displayName eq 'Ann'"),
                ("$orderby", "displayName"),
            ],
            ["users_tenant_name"; 2],
        ),
        (
            "users by name prefix",
            &query::USERS,
            users(),
            vec![
                ("$filter", "startswith(displayName,'an')"),
                ("$orderby", "displayName"),
            ],
            ["users_tenant_name"; 2],
        ),
        (
            "users by id",
            &query::USERS,
            users(),
            vec![("$filter", "id in ('a','b')")],
            ["sqlite_autoindex_users_1", "users_pkey"],
        ),
        (
            "groups by name",
            &query::GROUPS,
            groups(),
            vec![("$filter", "displayName eq 'Passkey Users'")],
            ["groups_tenant_lower_name"; 2],
        ),
        (
            "groups by prefix",
            &query::GROUPS,
            groups(),
            vec![("$filter", "startswith(displayName,'pass')")],
            ["groups_tenant_lower_name"; 2],
        ),
        (
            "audits by default",
            &query::DIRECTORY_AUDITS,
            audits(),
            vec![],
            ["audit_events_tenant", "audit_events_"],
        ),
        (
            "audits by activity",
            &query::DIRECTORY_AUDITS,
            audits(),
            vec![("$filter", "activityDisplayName eq 'Add user'")],
            ["audit_events_activity"; 2],
        ),
        (
            "audits by time",
            &query::DIRECTORY_AUDITS,
            audits(),
            vec![
                ("$filter", "activityDateTime ge 2026-01-01T00:00:00Z"),
                ("$orderby", "activityDateTime"),
            ],
            ["audit_events_at"; 2],
        ),
        (
            "members",
            &query::MEMBERS,
            directory::members_listing(&t, "g"),
            vec![("$filter", "displayName eq 'x'")],
            ["group_members_1", "group_members_pkey"],
        ),
        (
            "methods",
            &query::FIDO2_METHODS,
            keysmith_server::store::methods::listing(&t, "u"),
            vec![("$filter", "displayName eq 'x'")],
            ["fido2_methods_tenant_user"; 2],
        ),
    ];
    for (what, coll, listing, options, index) in cases {
        let p = plan(&h, coll, listing, &options);
        match store {
            Store::Sqlite => {
                // Every step on a table is an index search, never a scan.
                for line in p.lines() {
                    assert!(
                        !line.trim_start().starts_with("SCAN"),
                        "{what}: a full scan:\n{p}"
                    );
                }
            }
            Store::Postgres => {
                assert!(!p.contains("Seq Scan"), "{what}: a sequential scan:\n{p}");
                assert!(p.contains("Index Cond"), "{what}: no index condition:\n{p}");
            }
        }
        let index = match store {
            Store::Sqlite => index[0],
            Store::Postgres => index[1],
        };
        assert!(p.contains(index), "{what}: {index} not used:\n{p}");
    }
}

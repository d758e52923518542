//! `keysmith admin users import` in batches (issue 31, item 5), on SQLite
//! and PostgreSQL: every valid line stored once across a batch boundary,
//! users already present kept, duplicate lines counted as present, bad
//! lines reported and skipped, memberships of new and old users made, and
//! progress told after each batch.

mod common;

use common::{Harness, Store};
use keysmith_server::admin::{import_users, IMPORT_BATCH};
use keysmith_server::{directory, paging::PageRequest, store::query};

#[test]
fn import_in_batches_sqlite() {
    import_in_batches(Store::Sqlite);
}

#[test]
fn import_in_batches_postgres() {
    import_in_batches(Store::Postgres);
}

fn import_in_batches(store: Store) {
    let Some(h) = Harness::start(store, vec![]) else {
        return;
    };
    let db = h.server.db();
    let n = IMPORT_BATCH + 37;
    let mut csv = String::from("userPrincipalName,displayName,group\n");
    for i in 0..n {
        let group = if i % 2 == 0 { "evens" } else { "" };
        csv.push_str(&format!("u{i}@import.test,User {i},{group}\n"));
    }
    // A line again (other case), a bad UPN, an old user joining a group.
    csv.push_str("U7@Import.Test,Again,odds\n");
    csv.push_str("not an upn,Bad,\n");
    csv.push_str("old@import.test,Old,odds\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.csv");
    std::fs::write(&path, csv).unwrap();
    let old = h
        .server
        .block_on(directory::create_user(
            db,
            &h.tenant_id(),
            "old@import.test",
            "Old",
        ))
        .unwrap();

    let seen = std::sync::Mutex::new(Vec::new());
    let report = h
        .server
        .block_on(import_users(db, &h.tenant, &path, |done, total| {
            seen.lock().unwrap().push((done, total))
        }))
        .unwrap();
    assert_eq!(report.created, n, "{report:?}");
    assert_eq!(report.existing, 2, "the repeated line and the old user");
    assert_eq!(report.groups_created, 2);
    assert_eq!(report.memberships, n.div_ceil(2) + 2);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(
        report.errors[0].starts_with(&format!("line {}:", n + 3)),
        "{:?}",
        report.errors
    );
    let total = n + 2;
    assert_eq!(
        *seen.lock().unwrap(),
        [(0, total), (IMPORT_BATCH, total), (total, total)]
    );

    let members = |group: &str| -> Vec<String> {
        let t = h.tenant_id();
        let g = h
            .server
            .block_on(directory::find_group(db, &t, group))
            .unwrap();
        let options = std::collections::HashMap::from([("$top".to_owned(), "999".to_owned())]);
        let q = query::GraphQuery::from_request(&query::MEMBERS, &options, &Default::default())
            .unwrap();
        let mut page = PageRequest::from_query(&options, &q.token_kind()).unwrap();
        let mut all = Vec::new();
        loop {
            let (users, next, _) = h
                .server
                .block_on(directory::group_members(db, &t, &g.id, &q, &page))
                .unwrap();
            all.extend(users.into_iter().map(|u| u.upn));
            let Some(next) = next else { break };
            let options = std::collections::HashMap::from([
                ("$top".to_owned(), "999".to_owned()),
                ("$skiptoken".to_owned(), next),
            ]);
            page = PageRequest::from_query(&options, &q.token_kind()).unwrap();
        }
        all.sort();
        all
    };
    assert_eq!(members("evens").len(), n.div_ceil(2));
    assert_eq!(members("odds"), ["old@import.test", "u7@import.test"]);
    // The old user is the one that was there, not a copy.
    let found = h
        .server
        .block_on(directory::find_user(db, &h.tenant_id(), "OLD@import.test"))
        .unwrap();
    assert_eq!(found.id, old.id);

    // Again: everything is there already.
    let again = h
        .server
        .block_on(import_users(db, &h.tenant, &path, |_, _| {}))
        .unwrap();
    assert_eq!((again.created, again.existing), (0, n + 2), "{again:?}");
}

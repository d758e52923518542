//! Two server instances on one database: a token issued by one is accepted
//! by the other (shared signing key), a challenge issued by one is redeemed
//! at the other, and a registration raced to both succeeds exactly once.

mod common;

use common::*;
use keysmith_server::RunningServer;

fn two_instances(store: Store) {
    let mut key = VirtualKey::new();
    let Some(h) = Harness::start(store, vec![key.root_pem.clone()]) else {
        return;
    };
    let other = RunningServer::start(h.config.clone()).unwrap();
    h.create_user("dave@example.com");
    let path = "/v1.0/users/dave@example.com/authentication/fido2Methods";
    for round in 0..5 {
        let (s, options) = h.get(&format!("{path}/creationOptions"));
        assert_eq!(s, 200);
        let body = key.register(&options, &format!("race {round}"));
        let urls = [h.url(path), format!("{}{path}", other.url())];
        let statuses: Vec<u16> = std::thread::scope(|sc| {
            let handles: Vec<_> = urls
                .iter()
                .map(|u| sc.spawn(|| call(ureq::post(u), &h.token, Some(&body)).0))
                .collect();
            handles.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort();
        assert_eq!(sorted, vec![201, 400], "round {round}: {statuses:?}");
    }
    let (s, list) = call(ureq::get(&format!("{}{path}", other.url())), &h.token, None);
    assert_eq!(s, 200);
    assert_eq!(list["value"].as_array().unwrap().len(), 5);
    let (_, chain) = call(
        ureq::get(&format!("{}/v1.0/auditLogs/verify", other.url())),
        &h.token,
        None,
    );
    assert_eq!(chain["valid"], true, "{chain}");

    // Policy PATCHes of different fields raced to both instances: each
    // read-modify-write holds the row, so no update is lost.
    let policy =
        "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2";
    let urls = [h.url(policy), format!("{}{policy}", other.url())];
    for round in 0..10 {
        let enforced = round % 2 == 0;
        let aaguid = format!("00000000-0000-0000-0000-{round:012}");
        let bodies = [
            serde_json::json!({ "isAttestationEnforced": enforced }),
            serde_json::json!({ "keyRestrictions": {
                "isEnforced": false, "enforcementType": "block", "aaGuids": [aaguid] } }),
        ];
        std::thread::scope(|sc| {
            for (u, b) in urls.iter().zip(&bodies) {
                let token = &h.token;
                sc.spawn(move || {
                    let (s, v) = call(ureq::patch(u), token, Some(b));
                    assert_eq!(s, 204, "{v}");
                });
            }
        });
        let (_, p) = h.get(policy);
        assert_eq!(p["isAttestationEnforced"], enforced, "round {round}: {p}");
        assert_eq!(
            p["keyRestrictions"]["aaGuids"][0], aaguid,
            "round {round}: {p}"
        );
    }
}

#[test]
fn two_instances_sqlite() {
    two_instances(Store::Sqlite);
}

#[test]
fn two_instances_postgres() {
    two_instances(Store::Postgres);
}

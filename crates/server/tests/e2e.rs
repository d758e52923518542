//! The provisioning flow over real HTTP against an in-process server, on
//! SQLite and on PostgreSQL: creation options → real makeCredential on a
//! virtual key → register → list → get → sign in → policy → delete.

mod common;

use common::*;
use serde_json::json;

const VIRTUAL_KEY_AAGUID: &str = "4b657973-6d69-4e68-a000-766b65790001";

fn suite(store: Store) {
    let mut key = VirtualKey::new();
    let Some(h) = Harness::start(store, vec![key.root_pem.clone()]) else {
        return;
    };
    let alice = h.create_user("alice@example.com");
    let alice_id = alice["id"].as_str().unwrap().to_owned();
    assert_eq!(h.get("/v1.0/users/ALICE@example.com").1["id"], alice_id);
    assert_eq!(h.get(&format!("/beta/users/{alice_id}")).0, 200);

    // Creation options: three spellings, both prefixes, range checks.
    let base = "/users/alice@example.com/authentication/fido2Methods";
    for path in [
        format!("/v1.0{base}/creationOptions"),
        format!("/beta{base}/creationOptions(challengeTimeoutInMinutes=43200)"),
        format!("/v1.0{base}/creationOptions?challengeTimeoutInMinutes=10"),
    ] {
        let (s, v) = h.get(&path);
        assert_eq!(s, 200, "{path}: {v}");
        let pk = &v["publicKey"];
        assert_eq!(pk["rp"]["id"], RP_ID);
        assert_eq!(pk["user"]["name"], "alice@example.com");
        let handle = webauthn::b64::decode(pk["user"]["id"].as_str().unwrap()).unwrap();
        assert!((32..=64).contains(&handle.len()));
        assert_eq!(pk["authenticatorSelection"]["requireResidentKey"], true);
        assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
        assert_eq!(pk["attestation"], "direct");
        let algs: Vec<i64> = pk["pubKeyCredParams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["alg"].as_i64().unwrap())
            .collect();
        assert_eq!(algs, vec![-7, -257, -8, -35]);
        assert!(v["challengeTimeoutDateTime"].is_string());
    }
    for bad in [
        "creationOptions(challengeTimeoutInMinutes=4)",
        "creationOptions?challengeTimeoutInMinutes=43201",
        "creationOptions(challengeTimeoutInMinutes=x)",
    ] {
        let (s, v) = h.get(&format!("/v1.0{base}/{bad}"));
        assert_eq!(s, 400, "{bad}: {v}");
    }

    // Register with a real makeCredential.
    let started = std::time::Instant::now();
    let (_, options) = h.get(&format!(
        "/beta{base}/creationOptions(challengeTimeoutInMinutes=5)"
    ));
    let body = key.register(&options, "Key one");
    let (s, m) = h.post(&format!("/v1.0{base}"), &body);
    assert_eq!(s, 201, "{m}");
    eprintln!("registration round trip: {:?}", started.elapsed());
    let method_id = m["id"].as_str().unwrap().to_owned();
    assert_eq!(
        m["@odata.type"],
        "#microsoft.graph.fido2AuthenticationMethod"
    );
    assert_eq!(m["displayName"], "Key one");
    assert_eq!(m["aaGuid"], VIRTUAL_KEY_AAGUID);
    assert_eq!(m["attestationLevel"], "attested");
    assert_eq!(m["model"], "Keysmith Virtual Key");
    assert_eq!(m["passkeyType"], "deviceBound");
    let certs = m["attestationCertificates"].as_array().unwrap();
    assert!(!certs.is_empty());
    assert!(certs.iter().all(|c| c.as_str().unwrap().len() == 40));

    // Replaying the same body: the challenge is gone.
    let (s, v) = h.post(&format!("/v1.0{base}"), &body);
    assert_eq!(s, 400, "{v}");

    // List, get, excludeCredentials.
    let (s, list) = h.get(&format!("/v1.0{base}"));
    assert_eq!(s, 200);
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    assert_eq!(list["value"][0]["id"], method_id);
    let (s, got) = h.get(&format!(
        "/v1.0/users/{alice_id}/authentication/fido2Methods/{method_id}"
    ));
    assert_eq!(s, 200);
    assert_eq!(got, m);
    let (_, options) = h.get(&format!("/v1.0{base}/creationOptions"));
    assert_eq!(
        options["publicKey"]["excludeCredentials"][0]["id"],
        method_id
    );

    // Sign in: named user, then discoverable.
    let (s, begin) = call(
        ureq::post(&h.url(&format!("/{}/passkey/signin/begin", h.tenant))),
        "",
        Some(&json!({"userPrincipalName": "alice@example.com"})),
    );
    assert_eq!(s, 200, "{begin}");
    assert_eq!(begin["publicKey"]["allowCredentials"][0]["id"], method_id);
    let finish = key.sign_in(&begin);
    let finish_url = h.url(&format!("/{}/passkey/signin/finish", h.tenant));
    let (s, out) = call(ureq::post(&finish_url), "", Some(&finish));
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["user"]["id"], alice_id);
    assert_eq!(out["method"]["id"], method_id);
    assert!(out["token"].as_str().unwrap().split('.').count() == 3);
    let (s, _) = call(ureq::post(&finish_url), "", Some(&finish));
    assert_eq!(s, 400, "a sign-in flow is single use");
    let (_, begin) = call(
        ureq::post(&h.url(&format!("/{}/passkey/signin/begin", h.tenant))),
        "",
        Some(&json!({})),
    );
    let (s, out) = call(ureq::post(&finish_url), "", Some(&key.sign_in(&begin)));
    assert_eq!(s, 200, "{out}");

    // A refused assertion is 401 and names the verifier's check.
    let (_, begin) = call(
        ureq::post(&h.url(&format!("/{}/passkey/signin/begin", h.tenant))),
        "",
        Some(&json!({})),
    );
    let mut forged = key.sign_in(&begin);
    let sig = forged["credential"]["response"]["signature"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut raw = webauthn::b64::decode(&sig).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    forged["credential"]["response"]["signature"] = json!(webauthn::b64::encode(&raw));
    let (s, out) = call(ureq::post(&finish_url), "", Some(&forged));
    assert_eq!(s, 401, "{out}");
    assert_eq!(out["error"]["code"], "unauthenticated", "{out}");
    assert_eq!(
        out["error"]["details"][0]["code"], "signatureInvalid",
        "{out}"
    );

    // Policy: block the model → sign-in and registration refused.
    let policy_path =
        "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2";
    let (s, p) = h.get(policy_path);
    assert_eq!(s, 200);
    assert_eq!(p["state"], "enabled");
    let (s, _) = h.patch(policy_path, &json!({"keyRestrictions": {"isEnforced": true, "enforcementType": "block", "aaGuids": [VIRTUAL_KEY_AAGUID]}}));
    assert_eq!(s, 204);
    assert_eq!(
        h.get(policy_path).1["keyRestrictions"]["enforcementType"],
        "block"
    );
    let (_, begin) = call(
        ureq::post(&h.url(&format!("/{}/passkey/signin/begin", h.tenant))),
        "",
        Some(&json!({})),
    );
    let (s, _) = call(ureq::post(&finish_url), "", Some(&key.sign_in(&begin)));
    assert_eq!(s, 400);
    let (_, options) = h.get(&format!("/v1.0{base}/creationOptions"));
    let (s, v) = h.post(&format!("/v1.0{base}"), &key.register(&options, "blocked"));
    assert_eq!(s, 400, "{v}");
    let (s, _) = h.patch(policy_path, &json!({"keyRestrictions": {"isEnforced": false, "enforcementType": "allow", "aaGuids": []}, "isAttestationEnforced": true}));
    assert_eq!(s, 204);
    assert_eq!(h.patch(policy_path, &json!({"state": "maybe"})).0, 400);

    // Groups and policy targets.
    let bob = h.create_user("bob@example.com");
    let (s, g) = h.post("/v1.0/groups", &json!({"displayName": "pilot"}));
    assert_eq!(s, 201);
    let gid = g["id"].as_str().unwrap();
    let (s, _) = h.post(&format!("/v1.0/groups/{gid}/members/$ref"), &json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{}", bob["id"].as_str().unwrap())}));
    assert_eq!(s, 204);
    let (_, members) = h.get(&format!("/v1.0/groups/{gid}/members"));
    assert_eq!(members["value"][0]["userPrincipalName"], "bob@example.com");
    assert_eq!(
        h.patch(
            policy_path,
            &json!({"includeTargets": [{"targetType": "group", "id": gid}]})
        )
        .0,
        204
    );
    assert_eq!(
        h.get("/v1.0/users/bob@example.com/authentication/fido2Methods/creationOptions")
            .0,
        200
    );
    assert_eq!(h.get(&format!("/v1.0{base}/creationOptions")).0, 403);
    assert_eq!(
        h.patch(
            policy_path,
            &json!({"includeTargets": [{"targetType": "group", "id": "all_users"}]})
        )
        .0,
        204
    );

    // Tenant isolation.
    let other = Harness::start_second_tenant(&h);
    let (s, _) = call(
        ureq::get(&h.url(&format!("/v1.0/users/{alice_id}"))),
        &other,
        None,
    );
    assert_eq!(s, 404);
    let (s, _) = call(
        ureq::get(&h.url(&format!(
            "/v1.0/users/{alice_id}/authentication/fido2Methods"
        ))),
        &other,
        None,
    );
    assert_eq!(s, 404);

    // Delete.
    let (s, _) = h.delete(&format!("/v1.0{base}/{method_id}"));
    assert_eq!(s, 204);
    assert_eq!(
        h.get(&format!("/v1.0{base}")).1["value"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(h.get(&format!("/v1.0{base}/{method_id}")).0, 404);
    assert_eq!(h.delete(&format!("/v1.0{base}/{method_id}")).0, 404);

    // User update and delete.
    assert_eq!(
        h.patch(
            "/v1.0/users/bob@example.com",
            &json!({"displayName": "Robert"})
        )
        .0,
        204
    );
    assert_eq!(
        h.get("/v1.0/users/bob@example.com").1["displayName"],
        "Robert"
    );
    assert_eq!(h.delete("/v1.0/users/bob@example.com").0, 204);
    assert_eq!(h.get("/v1.0/users/bob@example.com").0, 404);

    // Audit trail.
    let (s, audits) = h.get("/v1.0/auditLogs/directoryAudits?$top=500");
    assert_eq!(s, 200);
    let acts: Vec<&str> = audits["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["activityDisplayName"].as_str().unwrap())
        .collect();
    for a in [
        "Get passkey creation options",
        "Register passkey",
        "Delete passkey",
        "Update FIDO2 policy",
        "Sign in with passkey",
        "Add user",
        "Delete user",
    ] {
        assert!(acts.contains(&a), "missing {a} in {acts:?}");
    }
    // Each sign-in attempt is audited once, with the outcome its caller got:
    // alice (named), the replayed flow, the discoverable one, the forged
    // signature, the blocked key.
    let (_, signins) =
        h.get("/v1.0/auditLogs/directoryAudits?activity=Sign%20in%20with%20passkey&$top=500");
    let mut outcomes: Vec<(String, String, String)> = signins["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["result"].as_str().unwrap().to_owned(),
                e["targetResources"][0]["id"].as_str().unwrap().to_owned(),
                e["resultReason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    outcomes.sort();
    assert_eq!(outcomes.len(), 5, "{outcomes:?}");
    assert!(
        outcomes[..3]
            .iter()
            .all(|(r, _, why)| r == "failure" && !why.is_empty()),
        "{outcomes:?}"
    );
    assert!(outcomes[..3]
        .iter()
        .any(|(_, _, why)| why.contains("already been used")));
    assert!(outcomes[..3]
        .iter()
        .any(|(_, _, why)| why.contains("signatureInvalid")));
    assert!(
        outcomes[3..]
            .iter()
            .all(|(r, target, why)| r == "success" && *target == alice_id && why.is_empty()),
        "{outcomes:?}"
    );
    let (_, regs) = h.get("/v1.0/auditLogs/directoryAudits?activity=Register%20passkey");
    assert!(regs["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["result"] == "failure"));
    let (s, chain) = h.get("/v1.0/auditLogs/verify");
    assert_eq!(s, 200);
    assert_eq!(chain["valid"], true, "{chain}");
    assert!(chain["events"].as_u64().unwrap() >= 10);

    // Operations endpoints.
    assert_eq!(
        call(ureq::get(&h.url("/healthz")), "", None).1["status"],
        "ok"
    );
    let metrics = h.metrics();
    assert!(
        metrics.contains("keysmith_registrations_total{result=\"success\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("keysmith_signins_total{result=\"success\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/v1.0/users/{user}/authentication/fido2Methods\",method=\"POST\",status=\"201\""), "{metrics}");
    // Every write so far went through the group commit: at least one job
    // per commit, and both counters exported.
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    let (commits, jobs) = (
        counter("keysmith_db_commits_total "),
        counter("keysmith_db_write_jobs_total "),
    );
    assert!(
        commits > 0 && jobs >= commits,
        "{commits} commits, {jobs} jobs"
    );
    let (s, api) = call(ureq::get(&h.url("/openapi.json")), "", None);
    assert_eq!(s, 200);
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1.0/users/{user}/authentication/fido2Methods",
        "/beta/users/{user}/authentication/fido2Methods/creationOptions",
        "/{tenant}/oauth2/v2.0/token",
        "/{tenant}/passkey/signin/finish",
    ] {
        assert!(
            api["paths"].get(path).is_some(),
            "{path} missing from openapi.json"
        );
    }
}

impl Harness {
    /// A token of a second tenant on the same server.
    fn start_second_tenant(h: &Harness) -> String {
        let name = unique("other");
        let roles: Vec<String> = ALL_ROLES.iter().map(|r| r.to_string()).collect();
        let app = h.server.block_on(async {
            keysmith_server::admin::create_tenant(h.server.db(), &name, Some(RP_ID), None)
                .await
                .unwrap();
            keysmith_server::admin::create_app(h.server.db(), &name, "other", &roles)
                .await
                .unwrap()
        });
        fetch_token(&h.base, &name, &app.client_id, app.secret()).unwrap()
    }
}

#[test]
fn provisioning_flow_sqlite() {
    suite(Store::Sqlite);
}

#[test]
fn provisioning_flow_postgres() {
    suite(Store::Postgres);
}

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

use common::{assert_graph_error, call, Harness, Store, VirtualKey};
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
        "/v1.0/auditLogs/directoryAudits?$top=999&activity={}",
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
    let station_app = {
        let payload = station.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        format!("app:{}", claims["appid"].as_str().unwrap())
    };
    for e in &refused {
        assert!(e.to_string().len() < 4096, "bounded: {e}");
        assert_eq!(e["initiatedBy"], station_app.as_str(), "{e}");
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

/// Which application permissions open which endpoint, from Microsoft's
/// Graph reference pages (the "Permissions" table, application row: least
/// privileged and higher privileged together) — written here independently
/// of the server's own permission sets, so a wrong set on either side
/// shows. Every other permission in the universe must get 403.
#[test]
fn permission_matrix_follows_graphs_documentation() {
    let Some(h) = Harness::start(Store::Sqlite, vec![]) else {
        return;
    };
    h.create_user("bob@example.com");
    let methods = base("bob@example.com");
    let options = format!("{methods}/creationOptions");
    let policy =
        "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2";
    // (method, path, permissions that open it, source)
    let matrix: &[(&str, &str, &[&str], &str)] = &[
        (
            "GET",
            &methods,
            &[
                "UserAuthMethod-Passkey.Read.All",
                "UserAuthMethod-Passkey.ReadWrite.All",
                "UserAuthenticationMethod.Read.All",
                "UserAuthenticationMethod.ReadWrite.All",
            ],
            "learn.microsoft.com/graph/api/fido2authenticationmethod-list",
        ),
        (
            "GET",
            &options,
            &[
                "UserAuthMethod-Passkey.ReadWrite.All",
                "UserAuthenticationMethod.ReadWrite.All",
            ],
            "learn.microsoft.com/graph/api/fido2authenticationmethod-creationoptions",
        ),
        (
            "GET",
            policy,
            &[
                "Policy.Read.AuthenticationMethod",
                "Policy.ReadWrite.AuthenticationMethod",
                "Policy.Read.All",
            ],
            "learn.microsoft.com/graph/api/fido2authenticationmethodconfiguration-get; \
             Microsoft365DSC AADAuthenticationMethodPolicyFido2 settings.json",
        ),
        (
            "PATCH",
            policy,
            &["Policy.ReadWrite.AuthenticationMethod"],
            "learn.microsoft.com/graph/api/fido2authenticationmethodconfiguration-update",
        ),
        (
            "GET",
            "/v1.0/users",
            &[
                "User.Read.All",
                "User.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
            "learn.microsoft.com/graph/api/user-list",
        ),
        (
            "GET",
            "/v1.0/auditLogs/directoryAudits",
            &["AuditLog.Read.All"],
            "learn.microsoft.com/graph/api/directoryaudit-list",
        ),
    ];
    let mut universe: Vec<&str> = matrix.iter().flat_map(|m| m.2.iter().copied()).collect();
    universe.extend([
        "Group.Read.All",
        "Group.ReadWrite.All",
        "GroupMember.Read.All",
        PRIVILEGED,
    ]);
    universe.sort();
    universe.dedup();
    for permission in universe {
        let token = h.token_with(&[permission]);
        for (method, path, allowed, source) in matrix {
            let (status, body) = match *method {
                "GET" => get(&h, &token, path),
                _ => call(
                    ureq::request(method, &h.url(path)),
                    &token,
                    Some(&serde_json::json!({})),
                ),
            };
            if allowed.contains(&permission) {
                assert!(
                    (200..300).contains(&status),
                    "{permission} must open {method} {path} ({source}): {status} {body}"
                );
            } else {
                assert_eq!(
                    status, 403,
                    "{permission} must not open {method} {path} ({source}): {body}"
                );
            }
        }
    }
}

/// A method is reached only through its own user: another user's path, or
/// another tenant's, answers 404 as for an unknown id (Graph addresses a
/// method under its user; nothing tells that the id exists elsewhere).
#[test]
fn a_method_is_reached_only_through_its_own_user() {
    let Some(h) = Harness::start(Store::Sqlite, vec![]) else {
        return;
    };
    h.create_user("bob@example.com");
    h.create_user("eve@example.com");
    let token = h.token_with(&[METHODS]);
    let (s, options) = get(
        &h,
        &token,
        &format!("{}/creationOptions", base("bob@example.com")),
    );
    assert_eq!(s, 200, "{options}");
    let body = VirtualKey::new().register(&options, "Bob key");
    let (s, method) = post(&h, &token, &base("bob@example.com"), &body);
    assert_eq!(s, 201, "{method}");
    let id = method["id"].as_str().unwrap();
    let (s, v) = get(&h, &token, &format!("{}/{id}", base("bob@example.com")));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], id);
    let (s, v) = get(&h, &token, &format!("{}/{id}", base("eve@example.com")));
    assert_eq!(s, 404, "bob's method under eve: {v}");
    let (s, v) = delete(&h, &token, &format!("{}/{id}", base("eve@example.com")));
    assert_eq!(s, 404, "bob's method deleted under eve: {v}");
    let (s, v) = get(&h, &token, &format!("{}/{id}", base("bob@example.com")));
    assert_eq!(s, 200, "still there: {v}");
}

/// creationOptions as Graph takes its parameter: in the path (the OData
/// function form, `creationOptions(challengeTimeoutInMinutes=10)`), empty
/// parentheses, or the query; anything else is refused, never ignored.
/// Its fixed parts are those of the real Entra answer recorded in
/// tests/interop/data/entra (a copy of shared/testdata/entra).
#[test]
fn creation_options_parameters_and_the_recorded_entra_shape() {
    let Some(h) = Harness::start(Store::Sqlite, vec![]) else {
        return;
    };
    h.create_user("bob@example.com");
    let token = h.token_with(&[METHODS]);
    let expiry_minutes = |path: &str| -> i64 {
        let (s, v) = get(&h, &token, &format!("{}/{path}", base("bob@example.com")));
        assert_eq!(s, 200, "{path}: {v}");
        let at = v["challengeTimeoutDateTime"].as_str().unwrap();
        let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        ((at - now) as f64 / 60.0).round() as i64
    };
    let default = expiry_minutes("creationOptions");
    assert_eq!(expiry_minutes("creationOptions()"), default);
    assert_eq!(
        expiry_minutes("creationOptions(challengeTimeoutInMinutes=10)"),
        10
    );
    assert_eq!(
        expiry_minutes("creationOptions( challengeTimeoutInMinutes = 12 )"),
        12
    );
    assert_eq!(
        expiry_minutes("creationOptions?challengeTimeoutInMinutes=11"),
        11
    );
    // OData parameter aliases: the value in the query under the alias, or
    // (the Graph Go SDK's URL template) under the parameter's own name.
    assert_eq!(
        expiry_minutes("creationOptions(challengeTimeoutInMinutes=@t)?@t=13"),
        13
    );
    assert_eq!(
        expiry_minutes(
            "creationOptions(challengeTimeoutInMinutes=@challengeTimeoutInMinutes)?challengeTimeoutInMinutes=14"
        ),
        14
    );
    let (s, v) = get(
        &h,
        &token,
        &format!(
            "{}/creationOptions(challengeTimeoutInMinutes=@t)",
            base("bob@example.com")
        ),
    );
    assert_eq!(s, 400, "an alias without a value: {v}");
    for bad in [
        "creationOptions(bogus=10)",
        "creationOptions(challengeTimeoutInMinutes)",
    ] {
        let (s, v) = get(&h, &token, &format!("{}/{bad}", base("bob@example.com")));
        assert_eq!(s, 400, "{bad}: {v}");
    }

    let recorded: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/interop/data/entra/creationOptions-real-2024-06.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let (s, ours) = get(
        &h,
        &token,
        &format!("{}/creationOptions", base("bob@example.com")),
    );
    assert_eq!(s, 200);
    for field in ["extensions", "attestation"] {
        assert_eq!(
            ours["publicKey"][field], recorded["publicKey"][field],
            "{field} as Entra answers it"
        );
    }
    // The user handle: 33..=63 random bytes, its base64url text a multiple
    // of 4 long (decodes in padding-strict decoders, as Entra's do); the
    // challenge: no '-' or '_' (decodes as standard base64 after padding).
    let handle = ours["publicKey"]["user"]["id"].as_str().unwrap();
    assert_eq!(handle.len() % 4, 0, "{handle}");
    assert!((44..=84).contains(&handle.len()), "{handle}");
    let challenge = ours["publicKey"]["challenge"].as_str().unwrap();
    assert!(!challenge.contains(['-', '_']), "{challenge}");
    // Entra's algorithms first, in its order (Keysmith offers more after).
    let algs = recorded["publicKey"]["pubKeyCredParams"]
        .as_array()
        .unwrap();
    assert_eq!(
        ours["publicKey"]["pubKeyCredParams"].as_array().unwrap()[..algs.len()],
        algs[..]
    );
    for (k, v) in recorded["publicKey"]["authenticatorSelection"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &ours["publicKey"]["authenticatorSelection"][k], v,
            "authenticatorSelection.{k}"
        );
    }
}

/// A registration's audit record names the method and the user; a refused
/// one gives the reason.
#[test]
fn registrations_are_audited_with_target_details_and_reason() {
    let Some(h) = Harness::start(Store::Sqlite, vec![]) else {
        return;
    };
    let bob = h.create_user("bob@example.com");
    let bob_id = bob["id"].as_str().unwrap();
    let token = h.token_with(&[METHODS]);
    let path = format!("{}/creationOptions", base("bob@example.com"));
    let (_, options) = get(&h, &token, &path);
    let body = VirtualKey::new().register(&options, "Bob key");
    let (s, method) = post(&h, &token, &base("bob@example.com"), &body);
    assert_eq!(s, 201, "{method}");
    let (_, options) = get(&h, &token, &path);
    let mut bad = VirtualKey::new().register(&options, "Bob key 2");
    bad["publicKeyCredential"]["response"]["clientDataJSON"] = Value::from("e30");
    let (s, refused) = post(&h, &token, &base("bob@example.com"), &bad);
    assert_eq!(s, 400, "{refused}");

    let events = audit(&h, "Register passkey");
    let ok = events
        .iter()
        .find(|e| e["result"] == "success")
        .unwrap_or_else(|| panic!("{events:?}"));
    let text = ok.to_string();
    assert!(text.contains(method["id"].as_str().unwrap()), "{text}");
    assert!(text.contains(bob_id), "{text}");
    assert!(text.contains(method["aaGuid"].as_str().unwrap()), "{text}");
    let failed = events
        .iter()
        .find(|e| e["result"] == "failure")
        .unwrap_or_else(|| panic!("{events:?}"));
    let reason = refused["error"]["message"].as_str().unwrap();
    assert!(
        failed.to_string().contains(reason),
        "{failed} lacks {reason}"
    );
}

/// Every Graph collection and item route answers with a trailing slash too
/// (Yubico's public Entra sample asks for `GET /beta/groups/`).
#[test]
fn trailing_slashes_are_accepted() {
    let Some(h) = Harness::start(Store::Sqlite, vec![]) else {
        return;
    };
    h.create_user("bob@example.com");
    for path in [
        "/beta/groups/",
        "/v1.0/users/",
        "/v1.0/users/bob@example.com/",
        "/beta/users/bob@example.com/authentication/fido2Methods/",
        "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2/",
    ] {
        let (s, v) = h.get(path);
        let (s2, v2) = h.get(path.trim_end_matches('/'));
        assert_eq!(s, 200, "{path}: {v}");
        assert_eq!(
            (s, v["value"].is_array()),
            (s2, v2["value"].is_array()),
            "{path}"
        );
    }
}

/// Graph's fixed URL segments are not case-sensitive: Yubico's
/// BulkRegistration.md and public C# and Java samples spell
/// `…/fido2methods/creationOptions(…)`. Ids and names keep their case; a
/// registration through such a URL works; unknown routes stay 404.
#[test]
fn graph_paths_are_case_insensitive() {
    let Some(h) = Harness::start(Store::Sqlite, vec![]) else {
        return;
    };
    h.create_user("bob@example.com");
    for path in [
        "/V1.0/USERS",
        "/beta/Users/bob@example.com/",
        "/beta/users/bob@example.com/authentication/fido2methods",
        "/v1.0/policies/authenticationmethodspolicy/authenticationmethodconfigurations/FIDO2",
        "/v1.0/AuditLogs/DirectoryAudits?$top=1",
    ] {
        let (s, v) = h.get(path);
        assert_eq!(s, 200, "{path}: {v}");
    }
    let base = "/beta/users/bob@example.com/authentication/fido2methods";
    let (s, options) = h.get(&format!(
        "{base}/creationoptions(challengeTimeoutInMinutes=5)"
    ));
    assert_eq!(s, 200, "{options}");
    let mut key = VirtualKey::new();
    let (s, m) = h.post(base, &key.register(&options, "Lower-case URL"));
    assert_eq!(s, 201, "{m}");
    let (s, v) = h.get("/v1.0/usersx");
    assert_eq!(s, 404, "{v}");
    assert_graph_error(&v);
}

/// Register bodies as public clients send them: `clientExtensionResults`
/// null or carrying authenticator outputs (`credProtect`,
/// `hmacCreateSecret`) is accepted; a passkey name of 30 characters is,
/// 31 is not (Entra's limit, GRAPH_FIDO2_API.md §8).
#[test]
fn register_bodies_of_public_clients() {
    let Some(h) = Harness::start(Store::Sqlite, vec![]) else {
        return;
    };
    h.create_user("bob@example.com");
    let token = h.token_with(&[METHODS]);
    let path = format!("{}/creationOptions", base("bob@example.com"));
    let cases = [
        (Value::Null, "a".repeat(30), 201),
        (
            serde_json::json!({"credProtect": 1, "hmacCreateSecret": true}),
            "b".repeat(29),
            201,
        ),
        (serde_json::json!({}), "c".repeat(31), 400),
    ];
    for (extensions, name, want) in cases {
        let (_, options) = get(&h, &token, &path);
        let mut body = VirtualKey::new().register(&options, &name);
        body["publicKeyCredential"]["clientExtensionResults"] = extensions.clone();
        let (s, v) = post(&h, &token, &base("bob@example.com"), &body);
        assert_eq!(s, want, "{extensions} / {} characters: {v}", name.len());
        if want == 201 {
            assert_eq!(v["displayName"], name.as_str());
        }
    }
    // Entra's 400 for `@odata.type` in the body or a body sent as a JSON
    // string (GRAPH_FIDO2_API.md §8); the challenge stays usable.
    let (_, options) = get(&h, &token, &path);
    let good = VirtualKey::new().register(&options, "Tagged");
    let mut tagged = good.clone();
    tagged["@odata.type"] = "#microsoft.graph.fido2AuthenticationMethod".into();
    for body in [tagged, Value::String(good.to_string())] {
        let (s, v) = post(&h, &token, &base("bob@example.com"), &body);
        assert_eq!(s, 400, "{v}");
        assert_graph_error(&v);
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("The request is missing a fido2AuthenticationMethod entity"),
            "{v}"
        );
    }
    // Bytes in padded standard base64 are read (entraYK, powershellYK,
    // Token2); bytes in neither form are a 400 naming the field.
    let mut broken = good.clone();
    broken["publicKeyCredential"]["response"]["clientDataJSON"] = "not*base64".into();
    let (s, v) = post(&h, &token, &base("bob@example.com"), &broken);
    assert_eq!(s, 400, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("publicKeyCredential.response.clientDataJSON")
            && msg.contains("not valid base64url"),
        "{msg}"
    );
    let mut padded = good.clone();
    for field in ["clientDataJSON", "attestationObject"] {
        let text = padded["publicKeyCredential"]["response"][field]
            .as_str()
            .unwrap();
        let bytes = webauthn::b64::decode(text).unwrap();
        padded["publicKeyCredential"]["response"][field] = base64_std(&bytes).into();
    }
    let (s, v) = post(&h, &token, &base("bob@example.com"), &padded);
    assert_eq!(s, 201, "{v}");

    // A refused verification names its check in Graph's `details` (the
    // top-level code stays Graph's); a mismatched id names the field.
    let (_, options) = get(&h, &token, &path);
    let good = VirtualKey::new().register(&options, "Checked");
    let mut wrong_origin = good.clone();
    let cd = webauthn::b64::decode(
        wrong_origin["publicKeyCredential"]["response"]["clientDataJSON"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let cd = String::from_utf8(cd)
        .unwrap()
        .replace("https://login.example.com", "https://evil.example.com");
    wrong_origin["publicKeyCredential"]["response"]["clientDataJSON"] =
        webauthn::b64::encode(cd).into();
    let (s, v) = post(&h, &token, &base("bob@example.com"), &wrong_origin);
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalidRequest");
    assert_eq!(v["error"]["details"][0]["code"], "originMismatch", "{v}");
    assert_eq!(v["error"]["details"][0]["target"], "publicKeyCredential");
    let (_, options) = get(&h, &token, &path);
    let mut wrong_id = VirtualKey::new().register(&options, "Wrong id");
    wrong_id["publicKeyCredential"]["id"] = webauthn::b64::encode([9u8; 32]).into();
    let (s, v) = post(&h, &token, &base("bob@example.com"), &wrong_id);
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        v["error"]["details"][0]["target"], "publicKeyCredential.id",
        "{v}"
    );
}

/// Padded standard base64 (.NET's Convert.ToBase64String).
fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `Authorization` as clients send it: `Bearer <token>` (RFC 6750), any
/// case of the scheme, or the bare token (Yubico's public Entra sample;
/// Graph accepts it). Another scheme is refused.
#[test]
fn authorization_with_or_without_bearer() {
    let Some(h) = Harness::start(Store::Sqlite, vec![]) else {
        return;
    };
    let status = |value: String| match ureq::get(&h.url("/v1.0/users"))
        .set("Authorization", &value)
        .call()
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    };
    let t = &h.token;
    assert_eq!(status(format!("Bearer {t}")), 200);
    assert_eq!(status(format!("bearer {t}")), 200);
    assert_eq!(status(t.clone()), 200);
    assert_eq!(status(format!("Basic {t}")), 401);
}

/// Query options a route does not implement are refused with a 400 in
/// Graph's envelope naming the option — never silently ignored (Yubico's
/// public Entra sample sends `$filter=displayName eq 'Passkey Users'` on
/// /groups and, when it was ignored, provisioned nobody; collections now
/// implement it: tests/odata.rs). What a route does take keeps working.
#[test]
fn unsupported_query_options_are_refused_by_name() {
    let Some(h) = Harness::start(Store::Sqlite, vec![]) else {
        return;
    };
    h.create_user("bob@example.com");
    for (path, option) in [
        (
            "/beta/groups?$search=%22displayName:Passkey%22",
            "$search",
        ),
        ("/beta/groups/?$expand=members", "$expand"),
        ("/v1.0/users/bob@example.com?$select=id", "$select"),
        (
            "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2?$filter=x",
            "$filter",
        ),
        ("/v1.0/users?$search=%22displayName:bob%22", "$search"),
        ("/v1.0/users?$skip=10", "$skip"),
        ("/v1.0/users/bob@example.com?$expand=memberOf", "$expand"),
        (
            "/v1.0/users/bob@example.com/authentication/fido2Methods?$skip=5",
            "$skip",
        ),
        ("/v1.0/auditLogs/directoryAudits?$skip=1", "$skip"),
        ("/v1.0/auditLogs/directoryAudits?colour=red", "colour"),
    ] {
        let (s, v) = h.get(path);
        assert_eq!(s, 400, "{path}: {v}");
        assert_graph_error(&v);
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(&format!("'{option}'")), "{path}: {msg}");
    }
    // Without a valid token the caller learns that first, as from Graph.
    for token in ["", "not-a-token"] {
        let (s, v) = call(ureq::get(&h.url("/v1.0/users?$search=x")), token, None);
        assert_eq!(s, 401, "{v}");
        assert_graph_error(&v);
    }
    for path in [
        "/v1.0/users?$top=5",
        "/v1.0/groups?$top=5",
        "/v1.0/users/bob@example.com/authentication/fido2Methods?$top=5",
        "/v1.0/auditLogs/directoryAudits?$top=5&activity=Add%20user",
        "/v1.0/users/bob@example.com/authentication/fido2Methods/creationOptions?challengeTimeoutInMinutes=10",
    ] {
        let (s, v) = h.get(path);
        assert_eq!(s, 200, "{path}: {v}");
    }
}

/// Body properties a resource does not implement are refused by name, not
/// dropped; OData annotations are allowed.
#[test]
fn unsupported_body_properties_are_refused_by_name() {
    let Some(h) = Harness::start(Store::Sqlite, vec![]) else {
        return;
    };
    for (path, body, property) in [
        (
            "/v1.0/users",
            serde_json::json!({"userPrincipalName": "x@example.com", "mail": "x@example.com"}),
            "mail",
        ),
        (
            "/v1.0/users",
            serde_json::json!({"userPrincipalName": "y@example.com",
                "passwordProfile": {"password": "hunter2"}}),
            "passwordProfile",
        ),
        (
            "/v1.0/groups",
            serde_json::json!({"displayName": "g", "securityEnabled": true}),
            "securityEnabled",
        ),
    ] {
        let (s, v) = h.post(path, &body);
        assert_eq!(s, 400, "{body}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(&format!("'{property}'")), "{msg}");
    }
    let (s, v) = h.post(
        "/v1.0/users",
        &serde_json::json!({"@odata.type": "#microsoft.graph.user",
            "userPrincipalName": "z@example.com", "accountEnabled": true}),
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) = h.patch(
        "/v1.0/users/z@example.com",
        &serde_json::json!({"jobTitle": "x"}),
    );
    assert_eq!(s, 400, "{v}");
    // Nothing of a refused request was stored.
    assert_eq!(h.get("/v1.0/users/x@example.com").0, 404);
}

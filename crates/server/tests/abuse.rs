//! Issue 24: what an unauthenticated or hostile caller can do to the
//! service is bounded — audit growth under garbage, brute force of client
//! secrets (429 with Retry-After), slow connections (closed within the
//! header timeout), user enumeration at sign-in (known and unknown users
//! get the same answer), names (control, bidi, lengths), another user's
//! challenge, `/metrics`.

mod common;

use common::{call, fetch_token, Harness, Store, VirtualKey, METRICS_TOKEN};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn audit_rows(h: &Harness, activity: &str) -> (i64, i64) {
    h.server
        .block_on(
            sqlx::query_as::<_, (i64, i64)>(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(reason) + LENGTH(details) + LENGTH(target) + LENGTH(actor)), 0) \
                 FROM audit_events WHERE activity = $1",
            )
            .bind(activity)
            .fetch_one(h.server.db().read()),
        )
        .unwrap()
}

#[test]
fn garbage_sign_ins_leave_a_bounded_audit_trail() {
    let h = Harness::start_with(Store::Sqlite, |c| c.rate_limits.enabled = false).unwrap();
    let base = format!("/{}/passkey/signin", h.tenant);
    // A crafted origin of 40 KB in every attempt.
    let origin = format!("https://{}", "x".repeat(40_000));
    for i in 0..300 {
        let (s, begin) = call(
            ureq::post(&h.url(&format!("{base}/begin"))),
            "",
            Some(&json!({})),
        );
        assert_eq!(s, 200);
        let client_data = json!({
            "type": "webauthn.get",
            "challenge": begin["publicKey"]["challenge"],
            "origin": origin,
        })
        .to_string();
        let body = json!({
            "flowId": begin["flowId"],
            "credential": {
                "id": format!("AAAA{i}"),
                "response": {
                    "clientDataJSON": webauthn::b64::encode(client_data.as_bytes()),
                    "authenticatorData": "AAAA",
                    "signature": "AAAA",
                }
            }
        });
        let (s, _) = call(
            ureq::post(&h.url(&format!("{base}/finish"))),
            "",
            Some(&body),
        );
        assert!((400..500).contains(&s), "{s}");
    }
    let (rows, bytes) = audit_rows(&h, "Sign in with passkey");
    // A few events per kind of failure and window, not 300; short excerpts.
    assert!(
        (1..=30).contains(&rows),
        "{rows} audit rows for 300 garbage sign-ins"
    );
    assert!(bytes <= 30 * 2_000, "{bytes} bytes of audit text");
}

#[test]
fn brute_forcing_a_client_secret_meets_429_and_the_right_secret_works_after() {
    let h = Harness::start_with(Store::Sqlite, |c| {
        // One request per 100 ms per client after a burst of 10: the test
        // waits the window out quickly.
        c.rate_limits.token_per_client_per_minute = 600;
        c.rate_limits.token_per_client_burst = 10;
    })
    .unwrap();
    let app = h
        .server
        .block_on(keysmith_server::admin::create_app(
            h.server.db(),
            &h.tenant,
            "target",
            &["User.Read.All".to_owned()],
        ))
        .unwrap();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..200 {
        let r = ureq::post(&h.url(&format!("/{}/oauth2/v2.0/token", h.tenant))).send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", &format!("wrong-{i}")),
            ("scope", "https://graph.microsoft.com/.default"),
        ]);
        match r {
            Err(ureq::Error::Status(s, r)) => {
                if s == 429 {
                    retry_after = r.header("retry-after").map(str::to_owned);
                    let v: Value = r.into_json().unwrap();
                    common::assert_graph_error(&v);
                }
                statuses.push(s);
            }
            other => panic!("wrong secret {i}: {:?}", other.map(|r| r.status())),
        }
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited >= 150, "{limited} of 200 limited: {statuses:?}");
    assert!(statuses[..10].iter().all(|s| *s == 401), "{statuses:?}");
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&wait));
    std::thread::sleep(Duration::from_secs(wait));
    fetch_token(&h.base, &h.tenant, &app.client_id, app.secret())
        .expect("the right secret works after the window");
    // Refusals were audited, aggregated.
    let (rows, _) = audit_rows(&h, "Token request failed");
    assert!((1..=30).contains(&rows), "{rows}");
}

#[test]
fn a_half_sent_request_is_closed_within_the_header_timeout() {
    let h = Harness::start_with(Store::Sqlite, |c| {
        c.connections.header_read_timeout_secs = 1
    })
    .unwrap();
    let addr = h.base.trim_start_matches("http://").to_owned();
    for partial in [
        &b""[..],
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        b"POST /x/oauth2/v2.0/token HTTP/1.1\r\nHo",
    ] {
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tcp.write_all(partial).unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        // The server closes (EOF, maybe after a 408) rather than wait.
        let _ = tcp.read_to_end(&mut buf);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(4),
            "{:?}: open for {took:?}",
            String::from_utf8_lossy(partial)
        );
    }
}

#[test]
fn sign_in_begin_does_not_tell_who_exists() {
    let h = Harness::start(Store::Sqlite, vec![]).unwrap();
    h.create_user("known@example.com");
    let mut key = VirtualKey::new();
    let base = "/v1.0/users/known@example.com/authentication/fido2Methods";
    let (_, options) = h.get(&format!("{base}/creationOptions"));
    let (s, _) = h.post(base, &key.register(&options, "Known key"));
    assert_eq!(s, 201);
    let begin = |upn: &str| {
        call(
            ureq::post(&h.url(&format!("/{}/passkey/signin/begin", h.tenant))),
            "",
            Some(&json!({ "userPrincipalName": upn })),
        )
    };
    let (s1, known) = begin("known@example.com");
    let (s2, unknown) = begin("nobody@example.com");
    let (_, again) = begin("nobody@example.com");
    assert_eq!((s1, s2), (200, 200));
    let shape = |v: &Value| {
        let mut keys: Vec<String> = v["publicKey"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        (
            keys,
            v["publicKey"]["allowCredentials"].as_array().unwrap().len(),
        )
    };
    assert_eq!(shape(&known), shape(&unknown));
    let id_len = |v: &Value| {
        webauthn::b64::decode(
            v["publicKey"]["allowCredentials"][0]["id"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
        .len()
    };
    assert_eq!(id_len(&known), id_len(&unknown), "same id length");
    assert_eq!(
        unknown["publicKey"]["allowCredentials"], again["publicKey"]["allowCredentials"],
        "stable: asking twice does not reveal a random decoy"
    );
    assert_ne!(
        unknown["publicKey"]["allowCredentials"],
        begin("other@example.com").1["publicKey"]["allowCredentials"]
    );
}

#[test]
fn bad_names_are_refused_naming_the_field() {
    let h = Harness::start(Store::Sqlite, vec![]).unwrap();
    let user = |upn: &str, name: &str| {
        h.post(
            "/v1.0/users",
            &json!({"userPrincipalName": upn, "displayName": name}),
        )
    };
    for (upn, name, field) in [
        ("nul@example.com", "A\u{0}B", "displayName"),
        ("esc@example.com", "A\u{1b}[31mB", "displayName"),
        ("rtl@example.com", "Admin\u{202e}nimda", "displayName"),
        ("big@example.com", &"x".repeat(900_000)[..], "displayName"),
        ("long@example.com", &"x".repeat(257)[..], "displayName"),
        (
            &format!("{}@example.com", "a".repeat(110))[..],
            "Long UPN",
            "userPrincipalName",
        ),
        ("jose\u{301}@example.com", "NFD twin", "userPrincipalName"),
        ("jos\u{e9}@example.com", "NFC twin", "userPrincipalName"),
        ("b\u{430}d@example.com", "Cyrillic a", "userPrincipalName"),
        ("no-at-sign", "x", "userPrincipalName"),
    ] {
        let (s, v) = user(upn, name);
        assert_eq!(s, 400, "{upn:?} {name:.20?}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(field), "{upn:?}: {msg}");
        assert!(msg.len() < 1000, "the name is not echoed back whole");
    }
    // Case-insensitive: one user per UPN.
    assert_eq!(user("Case@Example.com", "One").0, 201);
    assert_eq!(user("case@example.com", "Two").0, 409);
    // NFC stored: a decomposed display name comes back composed.
    let (s, v) = user("nfc@example.com", "Jose\u{301}");
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["displayName"], "Jos\u{e9}");
    // Passkey names: 1..=30.
    let mut key = VirtualKey::new();
    let base = "/v1.0/users/nfc@example.com/authentication/fido2Methods";
    let (_, options) = h.get(&format!("{base}/creationOptions"));
    let (s, v) = h.post(base, &key.register(&options, &"k".repeat(31)));
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("displayName"));
}

#[test]
fn another_users_challenge_is_refused_without_using_it_up() {
    let h = Harness::start(Store::Sqlite, vec![]).unwrap();
    h.create_user("alice@example.com");
    h.create_user("mallory@example.com");
    let alice = "/v1.0/users/alice@example.com/authentication/fido2Methods";
    let mallory = "/v1.0/users/mallory@example.com/authentication/fido2Methods";
    let (_, options) = h.get(&format!("{alice}/creationOptions"));
    let body = VirtualKey::new().register(&options, "Alice key");
    let (s, v) = h.post(mallory, &body);
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("another user"));
    let (s, v) = h.post(alice, &body);
    assert_eq!(s, 201, "alice's challenge still works: {v}");
}

#[test]
fn metrics_are_not_public() {
    let h = Harness::start(Store::Sqlite, vec![]).unwrap();
    let get = |token: Option<&str>| {
        let mut r = ureq::get(&h.url("/metrics"));
        if let Some(t) = token {
            r = r.set("Authorization", &format!("Bearer {t}"));
        }
        match r.call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(s, _)) => s,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(get(None), 401);
    assert_eq!(get(Some("wrong-token-0123456789")), 401);
    assert_eq!(get(Some(METRICS_TOKEN)), 200);
    // Without a token configured, the main listener does not serve them.
    let bare = Harness::start_with(Store::Sqlite, |c| c.metrics_token_file = None).unwrap();
    let s = match ureq::get(&bare.url("/metrics")).call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(s, 404);
}

#[test]
fn the_per_user_passkey_limit_sqlite() {
    passkey_limit(Store::Sqlite);
}

#[test]
fn the_per_user_passkey_limit_postgres() {
    passkey_limit(Store::Postgres);
}

fn passkey_limit(store: Store) {
    let Some(h) = Harness::start_with(store, |c| c.max_passkeys_per_user = 3) else {
        return;
    };
    let upn = format!("{}@example.com", common::unique("many"));
    h.create_user(&upn);
    let base = format!("/v1.0/users/{upn}/authentication/fido2Methods");
    let mut key = VirtualKey::new();
    for i in 0..2 {
        let (_, options) = h.get(&format!("{base}/creationOptions"));
        let (s, v) = h.post(&base, &key.register(&options, &format!("Key {i}")));
        assert_eq!(s, 201, "{v}");
    }
    // Two options fetched at 2 of 3: only one of them may complete.
    let (_, a) = h.get(&format!("{base}/creationOptions"));
    let (_, b) = h.get(&format!("{base}/creationOptions"));
    let (sa, _) = h.post(&base, &key.register(&a, "Key a"));
    let (sb, vb) = h.post(&base, &key.register(&b, "Key b"));
    assert_eq!((sa, sb), (201, 403), "{vb}");
    let msg = vb["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("max_passkeys_per_user") && msg.contains('3'),
        "{msg}"
    );
    // At the limit, options are refused before any key is touched.
    let (s, v) = h.get(&format!("{base}/creationOptions"));
    assert_eq!(s, 403, "{v}");
    let (_, list) = h.get(&base);
    assert_eq!(list["value"].as_array().unwrap().len(), 3);
    // Deleting one makes room again.
    let id = list["value"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(h.delete(&format!("{base}/{id}")).0, 204);
    let (s, _) = h.get(&format!("{base}/creationOptions"));
    assert_eq!(s, 200);
}

#[test]
fn sign_in_is_limited_per_user_and_the_limits_show_in_metrics() {
    let h = Harness::start_with(Store::Sqlite, |c| {
        c.rate_limits.signin_per_user_burst = 3;
        c.rate_limits.signin_per_user_per_minute = 1;
    })
    .unwrap();
    h.create_user("target@example.com");
    let begin = |upn: &str| {
        call(
            ureq::post(&h.url(&format!("/{}/passkey/signin/begin", h.tenant))),
            "",
            Some(&json!({ "userPrincipalName": upn })),
        )
        .0
    };
    // Known and unknown users alike: three, then 429 (the same answer, so
    // the limit does not tell who exists); other users are not affected.
    for upn in ["target@example.com", "ghost@example.com"] {
        let got: Vec<u16> = (0..4).map(|_| begin(upn)).collect();
        assert_eq!(got, [200, 200, 200, 429], "{upn}");
        assert_eq!(begin(&upn.to_uppercase()), 429, "case-insensitive");
    }
    assert_eq!(begin("bystander@example.com"), 200);
    let metrics = h.metrics();
    assert!(
        metrics.contains("keysmith_rate_limited_total{limit=\"signin_per_user\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("keysmith_rate_limit_burst{limit=\"signin_per_user\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("keysmith_rate_limit_per_minute{limit=\"token_per_client\"} 30"));
}

/// WebAuthn §6.1.1: a signature counter is a hint; a stored counter at
/// 2^32 − 1 can go no higher and must not lock the credential out for good.
#[test]
fn a_counter_at_its_maximum_does_not_brick_the_credential() {
    let h = Harness::start(Store::Sqlite, vec![]).unwrap();
    h.create_user("max@example.com");
    let mut key = VirtualKey::new();
    let base = "/v1.0/users/max@example.com/authentication/fido2Methods";
    let (_, options) = h.get(&format!("{base}/creationOptions"));
    let (s, m) = h.post(base, &key.register(&options, "Key"));
    assert_eq!(s, 201, "{m}");
    h.server
        .block_on(
            sqlx::query("UPDATE fido2_methods SET sign_count = 4294967295")
                .execute(h.server.db().write()),
        )
        .unwrap();
    let signin = |key: &mut VirtualKey| {
        let (_, begin) = call(
            ureq::post(&h.url(&format!("/{}/passkey/signin/begin", h.tenant))),
            "",
            Some(&json!({ "userPrincipalName": "max@example.com" })),
        );
        call(
            ureq::post(&h.url(&format!("/{}/passkey/signin/finish", h.tenant))),
            "",
            Some(&key.sign_in(&begin)),
        )
    };
    let (s, v) = signin(&mut key);
    assert_eq!(s, 200, "{v}");
    let (s, v) = signin(&mut key);
    assert_eq!(s, 200, "and again: {v}");
}

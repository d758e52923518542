//! Every kind of bad input gets the right 4xx and Graph's error body —
//! never a 5xx — and the audit chain detects tampering.

mod common;

use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use webauthn::b64;
use webauthn::cbor::{self, MapBuilder};
use webauthn::client_data::{CollectedClientData, TYPE_CREATE};
use webauthn::{CoseAlgorithm, CoseKey};

const BASE: &str = "/v1.0/users/carol@example.com/authentication/fido2Methods";

/// A `none`-attestation registration for `challenge`, with a chosen
/// credential id (to provoke duplicates) and rp id / origin.
fn none_registration(challenge: &str, cred_id: &[u8], rp_id: &str, origin: &str) -> Value {
    let client_data = CollectedClientData::serialize(TYPE_CREATE, challenge, origin);
    let key = p256::SecretKey::random(&mut rand::thread_rng());
    let cose = CoseKey::from_p256(CoseAlgorithm::Es256, &key.public_key()).to_bytes();
    let mut ad = Sha256::digest(rp_id.as_bytes()).to_vec();
    ad.push(0x45); // UP | UV | AT
    ad.extend_from_slice(&0u32.to_be_bytes());
    ad.extend_from_slice(&[0u8; 16]);
    ad.extend_from_slice(&(cred_id.len() as u16).to_be_bytes());
    ad.extend_from_slice(cred_id);
    ad.extend_from_slice(&cose);
    let att = cbor::encode(
        &MapBuilder::new()
            .text("fmt", "none")
            .text("attStmt", cbor::Value::Map(vec![]))
            .text("authData", ad)
            .build(),
    );
    json!({
        "displayName": "none",
        "publicKeyCredential": {
            "id": b64::encode(cred_id),
            "response": { "clientDataJSON": b64::encode(&client_data), "attestationObject": b64::encode(att) }
        }
    })
}

fn challenge(h: &Harness) -> String {
    let (s, v) = h.get(&format!("{BASE}/creationOptions"));
    assert_eq!(s, 200, "{v}");
    v["publicKey"]["challenge"].as_str().unwrap().to_owned()
}

fn raw(h: &Harness, method: &str, path: &str, body: &[u8], token: &str) -> (u16, Value) {
    let mut req = ureq::request(method, &h.url(path)).set("content-type", "application/json");
    if !token.is_empty() {
        req = req.set("Authorization", &format!("Bearer {token}"));
    }
    let r = match req.send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = r.status();
    let v: Value = r.into_json().unwrap_or(Value::Null);
    if status >= 400 {
        assert_graph_error(&v);
    }
    (status, v)
}

#[test]
fn bad_input_matrix_sqlite() {
    bad_input_matrix(Store::Sqlite);
}

#[test]
fn bad_input_matrix_postgres() {
    bad_input_matrix(Store::Postgres);
}

fn bad_input_matrix(store: Store) {
    let Some(h) = Harness::start(store, vec![]) else {
        return;
    };
    h.create_user("carol@example.com");
    let origin = format!("https://{RP_ID}");
    let tok = h.token.clone();

    // Body problems.
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("malformed JSON", b"{\"displayName\":".to_vec(), 400),
        ("not an object", b"[1,2]".to_vec(), 400),
        ("empty body", b"".to_vec(), 400),
        ("wrong types", br#"{"displayName":5,"publicKeyCredential":{"id":1,"response":{}}}"#.to_vec(), 400),
        ("missing response", br#"{"publicKeyCredential":{"id":"AA"}}"#.to_vec(), 400),
        ("bad base64", br#"{"publicKeyCredential":{"id":"AA","response":{"clientDataJSON":"%%%","attestationObject":"AA"}}}"#.to_vec(), 400),
        ("client data not JSON", br#"{"publicKeyCredential":{"id":"AA","response":{"clientDataJSON":"AAAA","attestationObject":"AA"}}}"#.to_vec(), 400),
    ];
    for (name, body, want) in cases {
        let (s, v) = raw(&h, "POST", BASE, &body, &tok);
        assert_eq!(s, want, "{name}: {v}");
    }

    // A body over the limit: 413. The server may answer before reading the
    // body and close, so the body is written from another thread and write
    // errors are ignored.
    {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(h.server.addr()).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let len = 2 * 1024 * 1024;
        write!(
            tcp,
            "POST {BASE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut writer = tcp.try_clone().unwrap();
        let body_thread = std::thread::spawn(move || {
            let _ = writer.write_all(&vec![b' '; len]);
        });
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = tcp.read(&mut buf) {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(13).any(|w| w == b"\"request-id\":") && answer.ends_with(b"}}}") {
                break;
            }
        }
        let _ = tcp.shutdown(std::net::Shutdown::Both);
        body_thread.join().unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("\"request-id\""), "{answer}");
    }

    // Truncated CBOR with a live challenge; the challenge is then used up.
    let c = challenge(&h);
    let mut good = none_registration(&c, b"cred-truncated", RP_ID, &origin);
    let att = b64::decode(
        good["publicKeyCredential"]["response"]["attestationObject"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    good["publicKeyCredential"]["response"]["attestationObject"] =
        json!(b64::encode(&att[..att.len() / 2]));
    let (s, v) = h.post(BASE, &good);
    assert_eq!(s, 400, "truncated CBOR: {v}");
    let (s, _) = h.post(BASE, &none_registration(&c, b"cred-after", RP_ID, &origin));
    assert_eq!(s, 400, "a challenge is consumed even by a failed attempt");

    // Wrong origin, wrong RP ID, unknown challenge.
    let (s, v) = h.post(
        BASE,
        &none_registration(&challenge(&h), b"c1", RP_ID, "https://evil.example"),
    );
    assert_eq!(s, 400, "{v}");
    let (s, v) = h.post(
        BASE,
        &none_registration(&challenge(&h), b"c2", "evil.example", &origin),
    );
    assert_eq!(s, 400, "{v}");
    let (s, v) = h.post(
        BASE,
        &none_registration(&b64::encode([7u8; 32]), b"c3", RP_ID, &origin),
    );
    assert_eq!(s, 400, "{v}");

    // Success, then replay and duplicate credential.
    let body = none_registration(&challenge(&h), b"dup-cred", RP_ID, &origin);
    let (s, m) = h.post(BASE, &body);
    assert_eq!(s, 201, "{m}");
    assert_eq!(m["attestationLevel"], "notAttested");
    let (s, v) = h.post(BASE, &body);
    assert_eq!(s, 400, "replayed challenge: {v}");
    let (s, v) = h.post(
        BASE,
        &none_registration(&challenge(&h), b"dup-cred", RP_ID, &origin),
    );
    assert_eq!(s, 400, "duplicate credential: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already registered"),
        "{v}"
    );

    // Attestation enforced: a `none` attestation is refused.
    let policy =
        "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2";
    assert_eq!(
        h.patch(policy, &json!({"isAttestationEnforced": true})).0,
        204
    );
    let (s, v) = h.post(
        BASE,
        &none_registration(&challenge(&h), b"c4", RP_ID, &origin),
    );
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        h.patch(policy, &json!({"isAttestationEnforced": false})).0,
        204
    );
    assert_eq!(h.patch(policy, &json!({"bogus": 1})).0, 400);
    assert_eq!(
        h.patch(
            policy,
            &json!({"keyRestrictions": {"aaGuids": ["not-a-guid"]}})
        )
        .0,
        400
    );

    // Expired challenge.
    let c = challenge(&h);
    h.server.block_on(async {
        sqlx::query("UPDATE challenges SET expires_at = 0 WHERE id = $1")
            .bind(&c)
            .execute(h.server.db().write())
            .await
            .unwrap();
    });
    let (s, v) = h.post(BASE, &none_registration(&c, b"c5", RP_ID, &origin));
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("expired"),
        "{v}"
    );

    // Users and paths.
    assert_eq!(
        h.get("/v1.0/users/nobody@example.com/authentication/fido2Methods")
            .0,
        404
    );
    assert_eq!(
        h.get("/v1.0/users/nobody@example.com/authentication/fido2Methods/creationOptions")
            .0,
        404
    );
    assert_eq!(h.post("/v1.0/users", &json!({"displayName": "x"})).0, 400);
    assert_eq!(
        h.post(
            "/v1.0/users",
            &json!({"userPrincipalName": "carol@example.com"})
        )
        .0,
        409
    );
    assert_eq!(h.get("/v1.0/nothing/here").0, 404);
    assert_eq!(h.get("/v1.0/users?$top=abc").0, 400);
    assert_eq!(raw(&h, "PUT", "/v1.0/users", b"{}", &tok).0, 405);
    assert_eq!(
        h.post(
            "/v1.0/groups/nope/members/$ref",
            &json!({"@odata.id": "x/users/carol@example.com"})
        )
        .0,
        404
    );

    // Tokens.
    let (s, _) = call(ureq::get(&h.url(BASE)), "", None);
    assert_eq!(s, 401, "missing token");
    let (s, _) = call(ureq::get(&h.url(BASE)), "not.a.jwt", None);
    assert_eq!(s, 401, "garbage token");
    let mut forged = tok.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert_eq!(
        call(ureq::get(&h.url(BASE)), &forged, None).0,
        401,
        "bad signature"
    );
    let expired = {
        let key = h.server.token_keys();
        key.sign(&keysmith_server::token::Claims {
            aud: keysmith_server::token::GRAPH_AUDIENCE.into(),
            iss: "x".into(),
            iat: 1,
            nbf: 1,
            exp: 2,
            tid: "t".into(),
            appid: Some("a".into()),
            sub: None,
            roles: vec!["UserAuthenticationMethod.ReadWrite.All".into()],
            upn: None,
        })
    };
    let (s, v) = call(ureq::get(&h.url(BASE)), &expired, None);
    assert_eq!(s, 401);
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"));
    let reader = h.token_with(&["UserAuthenticationMethod.Read.All"]);
    assert_eq!(call(ureq::get(&h.url(BASE)), &reader, None).0, 200);
    assert_eq!(
        call(
            ureq::get(&h.url(&format!("{BASE}/creationOptions"))),
            &reader,
            None
        )
        .0,
        403
    );
    assert_eq!(
        call(ureq::get(&h.url("/v1.0/auditLogs/verify")), &reader, None).0,
        403
    );
    let (s, _) = fetch_token(&h.base, &h.tenant, "nope", "nope").unwrap_err();
    assert_eq!(s, 401);
    let (s, _) = fetch_token(&h.base, "no-such-tenant", "nope", "nope").unwrap_err();
    assert_eq!(s, 404);
    // A NUL in the form: a client that does not exist, on either database.
    let (s, _) = fetch_token(&h.base, &h.tenant, "a\0b", "nope").unwrap_err();
    assert_eq!(s, 401);
    let (s, _) = raw(
        &h,
        "POST",
        &format!("/{}/oauth2/v2.0/token", h.tenant),
        b"grant_type=password",
        "",
    );
    assert!(s == 400 || s == 415, "{s}");

    // Sign-in with junk.
    let signin = format!("/{}/passkey/signin/finish", h.tenant);
    assert_eq!(raw(&h, "POST", &signin, b"{}", "").0, 400);
    let junk = json!({"flowId": "x", "credential": {"id": "AA", "response": {"clientDataJSON": "AA", "authenticatorData": "AA", "signature": "AA"}}});
    assert_eq!(
        raw(&h, "POST", &signin, junk.to_string().as_bytes(), "").0,
        400
    );
    assert_eq!(
        raw(
            &h,
            "POST",
            "/no-such-tenant/passkey/signin/begin",
            b"{}",
            ""
        )
        .0,
        404
    );

    // A NUL character (U+0000), which PostgreSQL cannot hold in text, is a
    // 400 on either database, never a 500: in a $filter literal, a path
    // key, a body (found by probing PostgreSQL with schemathesis's
    // alphabet, which includes it).
    for path in [
        "/v1.0/users?$filter=displayName%20eq%20%27a%00b%27",
        "/v1.0/users?$filter=startswith(userPrincipalName,%27%00%27)",
        "/v1.0/groups?$filter=displayName%20eq%20%27%00%27",
        "/v1.0/users/a%00b",
        "/v1.0/users/a%00b/authentication/fido2Methods",
    ] {
        let (s, v) = raw(&h, "GET", path, b"", &tok);
        assert_eq!(s, 400, "{path}: {v}");
    }
    for (path, body) in [
        (
            "/v1.0/users",
            br#"{"userPrincipalName":"nul@example.com","displayName":"a\u0000b"}"#.as_slice(),
        ),
        ("/v1.0/groups", br#"{"displayName":"a\u0000b"}"#.as_slice()),
    ] {
        let (s, v) = raw(&h, "POST", path, body, &tok);
        assert_eq!(s, 400, "{path}: {v}");
    }

    // client-request-id is echoed.
    let r = ureq::get(&h.url("/v1.0/nope"))
        .set("client-request-id", "abc-123")
        .call()
        .unwrap_err();
    let ureq::Error::Status(404, r) = r else {
        panic!()
    };
    assert_eq!(r.header("client-request-id"), Some("abc-123"));
    let v: Value = r.into_json().unwrap();
    assert_eq!(v["error"]["innerError"]["client-request-id"], "abc-123");

    // No 5xx anywhere.
    let metrics = h.metrics();
    assert!(!metrics.contains("status=\"5"), "{metrics}");
}

#[test]
fn audit_chain_detects_tampering() {
    let h = Harness::start(Store::Sqlite, vec![]).unwrap();
    for i in 0..5 {
        h.create_user(&format!("u{i}@example.com"));
    }
    let (_, v) = h.get("/v1.0/auditLogs/verify");
    assert_eq!(v["valid"], true, "{v}");
    // The tenant and the app (keysmith admin, audited too), then 5 users.
    assert_eq!(v["events"], 7, "{v}");
    let (_, list) = h.get("/v1.0/auditLogs/directoryAudits?$top=2&activity=Add%20user");
    assert_eq!(list["value"].as_array().unwrap().len(), 2);
    let third = h.server.block_on(async {
        let pool = h.server.db().write();
        let id: i64 =
            sqlx::query_scalar("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 2")
                .fetch_one(pool)
                .await
                .unwrap();
        sqlx::query("UPDATE audit_events SET actor = 'app:someone-else' WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
        id
    });
    let (_, v) = h.get("/v1.0/auditLogs/verify");
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["firstBrokenId"], third.to_string());
}

/// `creationOptions` is a function: only GET (and HEAD) may reach it. Any
/// other method is 405 with `Allow: GET,HEAD` — not the `{id}` route's
/// `GET,HEAD,DELETE`, which would advertise a DELETE that does not exist
/// (schemathesis's allow-header check found it; RFC 9110 §15.5.6: Allow
/// lists the methods the target resource supports).
#[test]
fn creation_options_allows_only_get() {
    let h = Harness::start(Store::Sqlite, vec![]).unwrap();
    h.create_user("carol@example.com");
    let allow = |method: &str, path: &str| -> (u16, String) {
        let req = ureq::request(method, &h.url(path))
            .set("Authorization", &format!("Bearer {}", h.token));
        let r = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        (r.status(), r.header("allow").unwrap_or_default().to_owned())
    };
    for base in ["/v1.0", "/beta"] {
        let co =
            format!("{base}/users/carol@example.com/authentication/fido2Methods/creationOptions");
        for method in ["OPTIONS", "DELETE", "PUT", "POST", "PATCH"] {
            assert_eq!(
                allow(method, &co),
                (405, "GET,HEAD".to_owned()),
                "{method} {co}"
            );
        }
        let with_timeout = format!("{co}(challengeTimeoutInMinutes=10)");
        assert_eq!(allow("DELETE", &with_timeout), (405, "GET,HEAD".to_owned()));
        // A method's own resource still allows DELETE.
        let m = format!("{base}/users/carol@example.com/authentication/fido2Methods/abc");
        let (s, allowed) = allow("PUT", &m);
        assert_eq!(s, 405);
        assert!(allowed.contains("DELETE"), "{allowed}");
    }
}

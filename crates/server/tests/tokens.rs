//! Issue 23: the token signing keys are sealed at rest under a key-encryption
//! key that is not in the database, tokens are validated strictly (RFC 7519
//! and RFC 8725's advice: one algorithm, a known key, iss/aud/exp/nbf, a
//! maximum lifetime, canonical signatures), keys rotate, and the public keys
//! are published as a JWKS at Entra's path.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{call, fetch_token, write_private, Harness, Store};
use keysmith_server::token::{Claims, TokenKeys, GRAPH_AUDIENCE};
use keysmith_server::RunningServer;
use serde_json::{json, Value};

const USERS: &str = "/v1.0/users";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

fn parts(token: &str) -> (String, String, String) {
    let mut p = token.split('.').map(str::to_owned);
    (p.next().unwrap(), p.next().unwrap(), p.next().unwrap())
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&unb64(&parts(token).0)).unwrap()
}

fn claims_of(token: &str) -> Claims {
    serde_json::from_slice(&unb64(&parts(token).1)).unwrap()
}

/// `GET /v1.0/users` with `token`: the status and the error message.
fn use_token(h: &Harness, token: &str) -> (u16, String) {
    let (s, v) = call(ureq::get(&h.url(USERS)), token, None);
    (
        s,
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn refused(h: &Harness, token: &str, why: &str, what: &str) {
    let (s, message) = use_token(h, token);
    assert_eq!(s, 401, "{what}: accepted");
    assert!(message.contains(why), "{what}: {message}");
}

fn jwks(h: &Harness) -> Value {
    let (s, v) = call(
        ureq::get(&h.url(&format!("/{}/discovery/v2.0/keys", h.tenant))),
        "",
        None,
    );
    assert_eq!(s, 200, "{v}");
    v
}

#[test]
fn forged_and_malformed_tokens_are_refused_sqlite() {
    forged_and_malformed_tokens_are_refused(Store::Sqlite);
}

#[test]
fn forged_and_malformed_tokens_are_refused_postgres() {
    forged_and_malformed_tokens_are_refused(Store::Postgres);
}

fn forged_and_malformed_tokens_are_refused(store: Store) {
    let Some(h) = Harness::start(store, vec![]) else {
        return;
    };
    let valid = h.token.clone();
    assert_eq!(use_token(&h, &valid).0, 200);
    let header = header_of(&valid);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    let (head, body, sig) = parts(&valid);

    // alg: none, with and without a signature.
    let none = b64(json!({"alg": "none", "typ": "JWT", "kid": header["kid"]})
        .to_string()
        .as_bytes());
    refused(&h, &format!("{none}.{body}."), "header", "alg none");
    refused(
        &h,
        &format!("{none}.{body}.{sig}"),
        "header",
        "alg none, signed",
    );
    // Another algorithm of the same family.
    let hs = b64(json!({"alg": "HS256", "typ": "JWT", "kid": header["kid"]})
        .to_string()
        .as_bytes());
    refused(&h, &format!("{hs}.{body}.{sig}"), "header", "HS256");
    // A header that is not JSON.
    refused(
        &h,
        &format!("{}.{body}.{sig}", b64(b"not json at all")),
        "malformed",
        "non-JSON header",
    );
    // An unknown kid.
    let unknown = b64(json!({"alg": "ES256", "typ": "JWT", "kid": "no-such-key"})
        .to_string()
        .as_bytes());
    refused(&h, &format!("{unknown}.{body}.{sig}"), "unknown key", "kid");
    // A payload changed under the signature.
    let mut c = claims_of(&valid);
    c.roles.push("Policy.ReadWrite.AuthenticationMethod".into());
    let tampered = b64(serde_json::to_string(&c).unwrap().as_bytes());
    refused(
        &h,
        &format!("{head}.{tampered}.{sig}"),
        "invalid",
        "payload",
    );

    // High-S: (r, n − s) verifies mathematically but is not canonical.
    let raw = unb64(&sig);
    let low = p256::ecdsa::Signature::from_slice(&raw).unwrap();
    let (r, s) = low.split_scalars();
    let high = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
    assert!(high.normalize_s().is_some(), "the twin is high-S");
    refused(
        &h,
        &format!("{head}.{body}.{}", b64(&high.to_bytes())),
        "low-S",
        "high-S twin",
    );

    // Signed with the server's own key, but wrong in content.
    let keys = h.server.token_keys();
    let good = claims_of(&valid);
    let now = good.iat;
    let mint = |edit: &dyn Fn(&mut Claims)| {
        let mut c = good.clone();
        edit(&mut c);
        keys.sign(&c)
    };
    assert_eq!(use_token(&h, &mint(&|_| {})).0, 200, "a faithful copy");
    refused(
        &h,
        &mint(&|c| c.iss = "https://evil.example/x/v2.0".into()),
        "not issued by this service",
        "iss",
    );
    refused(
        &h,
        &mint(&|c| c.aud = "https://management.azure.com".into()),
        "not meant for this API",
        "aud",
    );
    refused(
        &h,
        &mint(&|c| c.exp = now + 1000 * 365 * 24 * 3600),
        "lifetime",
        "a 1000-year token",
    );
    refused(
        &h,
        &mint(&|c| {
            c.nbf = now + 3600;
            c.exp = now + 3700;
            c.iat = now + 3600;
        }),
        "not valid yet",
        "nbf in the future",
    );

    // A disabled app's token stops working.
    let app = h
        .server
        .block_on(keysmith_server::admin::create_app(
            h.server.db(),
            &h.tenant,
            "soon disabled",
            &["User.Read.All".to_owned()],
        ))
        .unwrap();
    let token = fetch_token(&h.base, &h.tenant, &app.client_id, app.secret()).unwrap();
    h.server
        .block_on(
            sqlx::query("UPDATE apps SET enabled = 0 WHERE client_id = $1")
                .bind(&app.client_id)
                .execute(h.server.db().write()),
        )
        .unwrap();
    refused(&h, &token, "disabled", "disabled app");
    assert!(
        fetch_token(&h.base, &h.tenant, &app.client_id, app.secret()).is_err(),
        "no new token for a disabled app"
    );
}

#[test]
fn token_answers_are_not_cached() {
    let h = Harness::start(Store::Sqlite, vec![]).unwrap();
    let app = h
        .server
        .block_on(keysmith_server::admin::create_app(
            h.server.db(),
            &h.tenant,
            "headers",
            &["User.Read.All".to_owned()],
        ))
        .unwrap();
    let r = ureq::post(&h.url(&format!("/{}/oauth2/v2.0/token", h.tenant)))
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", app.secret()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .unwrap();
    // RFC 6749 §5.1.
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let r = ureq::post(&h.url(&format!("/{}/passkey/signin/begin", h.tenant)))
        .send_json(json!({}))
        .unwrap();
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[test]
fn signing_keys_are_sealed_and_a_wrong_kek_is_refused_sqlite() {
    signing_keys_are_sealed(Store::Sqlite);
}

#[test]
fn signing_keys_are_sealed_and_a_wrong_kek_is_refused_postgres() {
    signing_keys_are_sealed(Store::Postgres);
}

/// Whether any 32-byte window of `bytes` is the private scalar of the
/// public key (`x`, `y`).
fn holds_scalar_of(bytes: &[u8], x: &[u8], y: &[u8]) -> bool {
    bytes.windows(32).any(|w| {
        p256::SecretKey::from_slice(w).is_ok_and(|k| {
            let p = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                &k.public_key(),
                false,
            );
            p.x().map(|v| v.as_slice()) == Some(x) && p.y().map(|v| v.as_slice()) == Some(y)
        })
    })
}

fn signing_keys_are_sealed(store: Store) {
    let Some(h) = Harness::start(store, vec![]) else {
        return;
    };
    let kid = header_of(&h.token)["kid"].as_str().unwrap().to_owned();
    let set = jwks(&h);
    let jwk = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("{kid} not in {set}"))
        .clone();
    let (x, y) = (
        unb64(jwk["x"].as_str().unwrap()),
        unb64(jwk["y"].as_str().unwrap()),
    );
    // Every stored value of the key's row, as bytes and as decoded text:
    // none holds the private scalar.
    let rows = h
        .server
        .block_on(
            sqlx::query("SELECT * FROM signing_keys WHERE kid = $1")
                .bind(&kid)
                .fetch_all(h.server.db().read()),
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
    use sqlx::{Column, Row};
    let row = &rows[0];
    let mut seen = 0;
    for (i, col) in row.columns().iter().enumerate() {
        let mut candidates: Vec<Vec<u8>> = Vec::new();
        if let Ok(Some(b)) = row.try_get::<Option<Vec<u8>>, _>(i) {
            candidates.push(b);
        }
        if let Ok(Some(t)) = row.try_get::<Option<String>, _>(i) {
            candidates.push(t.clone().into_bytes());
            if let Ok(b) = URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')) {
                candidates.push(b);
            }
            if let Ok(b) = hex::decode(&t) {
                candidates.push(b);
            }
        }
        for c in &candidates {
            seen += c.len();
            assert!(
                !holds_scalar_of(c, &x, &y),
                "column {} holds the private key in clear",
                col.name()
            );
        }
    }
    assert!(seen >= 32, "the row was read ({seen} bytes)");

    // A server with another KEK refuses to start, naming the problem.
    let other = h.dir.path().join("other.kek");
    write_private(&other, "b3RoZXIga2V5LWVuY3J5cHRpb24ga2V5LCAzMiBieXRlcw");
    let mut config = h.config.clone();
    config.key_encryption_key_file = Some(other);
    if matches!(store, Store::Sqlite) {
        config.data_dir = Some(h.dir.path().join("data"));
    }
    let e = RunningServer::start(config)
        .err()
        .expect("started with a wrong KEK");
    let text = format!("{e:#}");
    assert!(text.contains("key-encryption key"), "{text}");
}

#[test]
fn rotation_keeps_old_tokens_until_their_key_retires_sqlite() {
    rotation(Store::Sqlite);
}

#[test]
fn rotation_keeps_old_tokens_until_their_key_retires_postgres() {
    rotation(Store::Postgres);
}

fn rotation(store: Store) {
    let Some(h) = Harness::start(store, vec![]) else {
        return;
    };
    let db = h.server.db();
    let old = h.token.clone();
    let old_kid = header_of(&old)["kid"].as_str().unwrap().to_owned();
    let mut config = h.config.clone();
    if matches!(store, Store::Sqlite) {
        config.data_dir = Some(h.dir.path().join("data"));
    }
    let kek = config.load_kek(false).unwrap();
    let new_kid = h.server.block_on(TokenKeys::rotate(db, &kek)).unwrap();
    assert_ne!(new_kid, old_kid);
    h.server.block_on(h.server.token_keys().reload(db)).unwrap();
    let new = h.token_with(&["User.Read.All"]);
    assert_eq!(header_of(&new)["kid"], new_kid.as_str());
    assert_eq!(use_token(&h, &old).0, 200, "the old key still verifies");
    assert_eq!(use_token(&h, &new).0, 200);
    let kids: Vec<String> = jwks(&h)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    let listed = h.server.block_on(TokenKeys::list(db)).unwrap();
    let active: Vec<_> = listed.iter().filter(|k| k.active).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].kid, new_kid);

    // Once every token of the old key has expired, it is dropped.
    h.server
        .block_on(
            sqlx::query("UPDATE signing_keys SET retired_at = retired_at - 7200 WHERE kid = $1")
                .bind(&old_kid)
                .execute(db.write()),
        )
        .unwrap();
    h.server.block_on(h.server.token_keys().reload(db)).unwrap();
    let kids = jwks(&h).to_string();
    assert!(!kids.contains(&old_kid), "{kids}");
    refused(&h, &old, "unknown key", "a retired key's token");
    assert_eq!(use_token(&h, &new).0, 200);
    // The token endpoint's answers name the current key.
    assert_eq!(claims_of(&new).aud, GRAPH_AUDIENCE, "an ordinary app token");
}

/// A database of an older version holds its signing key in clear: the
/// first start seals it and erases the clear copy, and the key keeps
/// verifying (it is published in the JWKS).
#[test]
fn a_key_stored_in_clear_by_an_older_version_is_sealed_on_start() {
    let h = Harness::start(Store::Sqlite, vec![]).unwrap();
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let scalar = secret.to_bytes().to_vec();
    let point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
    let now = claims_of(&h.token).iat;
    h.server
        .block_on(
            sqlx::query("INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3)")
                .bind("legacy-key")
                .bind(&scalar)
                .bind(now - 3600)
                .execute(h.server.db().write()),
        )
        .unwrap();
    let mut config = h.config.clone();
    config.data_dir = Some(h.dir.path().join("data"));
    let second = RunningServer::start(config).unwrap();
    let row = second
        .block_on(
            sqlx::query_as::<_, (Vec<u8>, Option<Vec<u8>>)>(
                "SELECT secret, sealed FROM signing_keys WHERE kid = 'legacy-key'",
            )
            .fetch_one(second.db().read()),
        )
        .unwrap();
    assert!(row.0.is_empty(), "the clear copy is erased");
    let sealed = row.1.expect("sealed");
    assert!(!holds_scalar_of(
        &sealed,
        point.x().unwrap(),
        point.y().unwrap()
    ));
    let jwks = ureq::get(&format!(
        "{}/{}/discovery/v2.0/keys",
        second.url(),
        h.tenant
    ))
    .call()
    .unwrap()
    .into_string()
    .unwrap();
    assert!(jwks.contains("legacy-key"), "{jwks}");
    assert!(jwks.contains(&b64(point.x().unwrap())), "{jwks}");
    // Nor is it left in the database's files: SQLite's secure_delete
    // zeroes the old cell, and the WAL that held it is checkpointed away.
    for file in std::fs::read_dir(h.dir.path().join("data")).unwrap() {
        let file = file.unwrap().path();
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(scalar.len()).any(|w| w == scalar.as_slice()),
            "the clear key is still in {}",
            file.display()
        );
    }
}

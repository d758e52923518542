//! SafetyNet attestation freshness (WebAuthn L3 §8.5: "verify that the
//! timestampMs ... is within an acceptable range"), on a real device's
//! statement from the interop corpus (py_webauthn's
//! `pw-android-safetynet-2021`): the clock is moved around the statement's
//! own timestampMs, to the millisecond.

use keysmith_webauthn::cbor::{self, MapReader};
use keysmith_webauthn::{
    b64, verify_registration, RegistrationInput, RegistrationPolicy, TrustStore,
};
use serde_json::Value;
use time::OffsetDateTime;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/webauthn-vectors");

fn vector(id: &str) -> Value {
    std::fs::read_to_string(format!("{DIR}/vectors.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no vector {id}"))
}

fn bytes(v: &Value, key: &str) -> Vec<u8> {
    b64::decode_lenient(v[key].as_str().unwrap()).unwrap()
}

/// The statement's timestampMs, read from its JWS payload.
fn timestamp_ms(attestation_object: &[u8]) -> i64 {
    let mut obj = MapReader::new(cbor::decode(attestation_object).unwrap(), "obj").unwrap();
    let stmt = obj.require("attStmt", "attStmt").unwrap();
    let mut stmt = MapReader::new(stmt, "attStmt").unwrap();
    let jws = String::from_utf8(stmt.bytes("response", "response").unwrap()).unwrap();
    let payload = jws.split('.').nth(1).unwrap();
    let payload: Value = serde_json::from_slice(&b64::decode_lenient(payload).unwrap()).unwrap();
    payload["timestampMs"].as_i64().unwrap()
}

#[test]
fn statements_are_fresh_to_the_millisecond() {
    let v = vector("pw-android-safetynet-2021");
    let client_data = bytes(&v, "client_data_json");
    let attestation = bytes(&v, "attestation_object");
    let ts = timestamp_ms(&attestation);
    let origins = vec![v["origin"].as_str().unwrap().to_string()];
    let input = RegistrationInput {
        client_data_json: &client_data,
        attestation_object: &attestation,
        expected_challenge: v["challenge"].as_str().unwrap(),
        expected_origins: &origins,
        rp_id: v["rp_id"].as_str().unwrap(),
    };
    let at =
        |ms: i64| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
    let verify = |policy: &RegistrationPolicy, ms: i64| {
        verify_registration(&input, policy, &TrustStore::new(), at(ms)).map_err(|e| e.to_string())
    };
    let policy = RegistrationPolicy {
        skip_safetynet_timestamp_freshness: false,
        safetynet_max_age_secs: 60,
        ..Default::default()
    };
    assert!(verify(&policy, ts).is_ok(), "at its own timestamp");
    assert!(verify(&policy, ts + 30_000).is_ok());
    assert!(
        verify(&policy, ts + 60_000).is_ok(),
        "exactly the maximum age"
    );
    let e = verify(&policy, ts + 60_001).unwrap_err();
    assert!(e.contains("60 s old"), "{e}");
    let e = verify(&policy, ts - 1).unwrap_err();
    assert!(e.contains("future"), "{e}");
    // A maximum age beyond what milliseconds can hold means "no limit".
    let forever = RegistrationPolicy {
        safetynet_max_age_secs: u64::MAX,
        ..policy.clone()
    };
    assert!(verify(&forever, ts + 86_400_000).is_ok());
    // Skipping the check accepts a statement of any age.
    let skip = RegistrationPolicy {
        skip_safetynet_timestamp_freshness: true,
        ..policy
    };
    assert!(verify(&skip, ts + 365 * 86_400_000).is_ok());
}

//! The WebAuthn interoperability corpus (tests/data/webauthn-vectors): every
//! `core` and `policy` vector must give its expected verdict, and no vector
//! may make the verifier panic.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use keysmith_webauthn::{
    b64, verify_assertion, verify_registration, AssertionInput, AssertionPolicy, CoseKey,
    RegistrationInput, RegistrationPolicy, TrustStore,
};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/webauthn-vectors");

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

fn bytes(v: &Value, key: &str) -> Vec<u8> {
    b64::decode_lenient(text(v, key)).unwrap_or_default()
}

/// The verdict of one vector: Ok(summary) when accepted, Err(error) when
/// refused; extra checks on accepted output are reported as a refusal.
fn run(v: &Value, anchors: &HashMap<String, String>) -> Result<String, String> {
    let origins = vec![text(v, "origin").to_string()];
    let client_data = bytes(v, "client_data_json");
    if text(v, "kind") == "assertion" {
        let policy: AssertionPolicy =
            serde_json::from_value(v["policy"].clone()).map_err(|e| format!("policy: {e}"))?;
        let key = CoseKey::from_bytes(&bytes(v, "credential_public_key_cose"))
            .map_err(|e| format!("stored key: {e}"))?;
        let stored = v["sign_count"].as_u64().unwrap_or(0) as u32;
        let input = AssertionInput {
            client_data_json: &client_data,
            authenticator_data: &bytes(v, "authenticator_data"),
            signature: &bytes(v, "signature"),
            credential_public_key: &key,
            stored_sign_count: stored,
            expected_challenge: text(v, "challenge"),
            expected_origins: &origins,
            rp_id: text(v, "rp_id"),
        };
        let out = verify_assertion(&input, &policy).map_err(|e| format!("{}: {e}", e.code()))?;
        if let Some(n) = v["new_sign_count"].as_u64() {
            if u64::from(out.new_sign_count) != n.max(u64::from(stored)) {
                return Err(format!("new sign count {} != {n}", out.new_sign_count));
            }
        }
        return Ok(format!("uv={}", out.user_verified));
    }

    let policy: RegistrationPolicy =
        serde_json::from_value(v["policy"].clone()).map_err(|e| format!("policy: {e}"))?;
    let mut trust = TrustStore::new();
    for name in v["trust_anchor_refs"].as_array().into_iter().flatten() {
        let pem = &anchors[name.as_str().unwrap_or_default()];
        trust
            .add_pem(pem)
            .map_err(|e| format!("anchor {name}: {e}"))?;
    }
    let now = match v["verify_at"].as_str() {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).map_err(|e| format!("verify_at: {e}"))?,
        None => OffsetDateTime::now_utc(),
    };
    let input = RegistrationInput {
        client_data_json: &client_data,
        attestation_object: &bytes(v, "attestation_object"),
        expected_challenge: text(v, "challenge"),
        expected_origins: &origins,
        rp_id: text(v, "rp_id"),
    };
    let out = verify_registration(&input, &policy, &trust, now)
        .map_err(|e| format!("{}: {e}", e.code()))?;
    if b64::encode(&out.credential_id) != b64::encode(bytes(v, "credential_id")) {
        return Err("credential id differs from the record".into());
    }
    if let Some(a) = v["aaguid"].as_str() {
        if hex::encode(out.aaguid) != a.replace('-', "") {
            return Err(format!(
                "aaguid {} differs from the record",
                hex::encode(out.aaguid)
            ));
        }
    }
    // With its anchors, a record's chain must also be proven trusted at the
    // clock its source used (or suggests, when the source did not mock time).
    let has_anchors = v["trust_anchor_refs"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    if has_anchors && !out.trust_path.is_empty() {
        let at = v["verify_at"]
            .as_str()
            .or(v["verify_at_suggested"].as_str())
            .map(|t| OffsetDateTime::parse(t, &Rfc3339).expect("clock"))
            .or_else(|| common_window_midpoint(v))
            .unwrap_or(now);
        let strict = RegistrationPolicy {
            require_trusted_attestation: true,
            ..policy.clone()
        };
        verify_registration(&input, &strict, &trust, at)
            .map_err(|e| format!("chain not trusted at {at}: {e}"))?;
    }
    Ok(format!(
        "{} {} trusted={} {}",
        out.fmt,
        out.attestation_type,
        out.trusted,
        out.untrusted_reason.unwrap_or_default()
    ))
}

/// The middle of the period in which every certificate of the record is
/// valid, when the record gives one.
fn common_window_midpoint(v: &Value) -> Option<OffsetDateTime> {
    let w = &v["cert_common_window"];
    if w["consistent"].as_bool() != Some(true) {
        return None;
    }
    let nb = OffsetDateTime::parse(w["not_before"].as_str()?, &Rfc3339).ok()?;
    let na = OffsetDateTime::parse(w["not_after"].as_str()?, &Rfc3339).ok()?;
    (nb <= na).then(|| nb + (na - nb) / 2)
}

#[test]
fn corpus() {
    let anchors: HashMap<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(format!("{DIR}/trust_anchors.json")).unwrap(),
    )
    .unwrap();
    let anchors: HashMap<String, String> = anchors
        .into_iter()
        .map(|(k, v)| (k, v["pem"].as_str().unwrap().to_string()))
        .collect();
    let lines = std::fs::read_to_string(format!("{DIR}/vectors.jsonl")).unwrap();
    let (mut accepted, mut rejected, mut robust) = (0, 0, 0);
    let mut mismatches = Vec::new();
    let verbose = std::env::var_os("CORPUS_VERBOSE").is_some();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let id = text(&v, "id").to_string();
        let expect_accept = text(&v, "expect") == "accept";
        let result = catch_unwind(AssertUnwindSafe(|| run(&v, &anchors)));
        let Ok(result) = result else {
            mismatches.push(format!("{id}: PANIC"));
            continue;
        };
        if verbose {
            println!(
                "{id} [{}] expect {}: {result:?}",
                text(&v, "tier"),
                text(&v, "expect")
            );
        }
        if text(&v, "tier") == "robustness" {
            robust += 1;
            continue;
        }
        match (&result, expect_accept) {
            (Ok(_), true) => accepted += 1,
            (Err(_), false) => rejected += 1,
            (Ok(s), false) => mismatches.push(format!("{id}: accepted ({s}), expected reject")),
            (Err(e), true) => mismatches.push(format!("{id}: rejected, expected accept: {e}")),
        }
    }
    println!(
        "corpus: {accepted} accepted and {rejected} rejected as expected, {robust} robustness vectors ran without panic, {} mismatches",
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "corpus mismatches:\n{}",
        mismatches.join("\n")
    );
}

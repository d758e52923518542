//! Verification cost: one raw ES256 signature check, and a full packed x5c
//! ES256 registration (client data, CBOR, attestation signature, §8.2.1
//! certificate checks, chain to the anchor) from the W3C L3 test vectors.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use keysmith_webauthn::{
    b64, verify_registration, CoseAlgorithm, CoseKey, RegistrationInput, RegistrationPolicy,
    TrustStore,
};
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use serde_json::Value;
use time::OffsetDateTime;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/webauthn-vectors");

fn es256(c: &mut Criterion) {
    let sk = SigningKey::random(&mut rand::thread_rng());
    let key = CoseKey::from_p256(CoseAlgorithm::Es256, &sk.verifying_key().into());
    let message = [7u8; 69];
    let sig: Signature = sk.sign(&message);
    let der = sig.to_der();
    c.bench_function("es256_verify", |b| {
        b.iter(|| {
            key.verify(black_box(&message), black_box(der.as_bytes()))
                .unwrap()
        })
    });
}

fn registration(c: &mut Criterion) {
    let lines = std::fs::read_to_string(format!("{DIR}/vectors.jsonl")).unwrap();
    let v: Value = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["id"] == "spec-reg-packed-es256-x5c")
        .unwrap();
    let anchors: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{DIR}/trust_anchors.json")).unwrap(),
    )
    .unwrap();
    let mut trust = TrustStore::new();
    trust
        .add_pem(anchors["W3C_SPEC_TEST_VECTOR_CA"]["pem"].as_str().unwrap())
        .unwrap();
    let bytes = |k: &str| b64::decode_lenient(v[k].as_str().unwrap()).unwrap();
    let (client_data, attestation_object) =
        (bytes("client_data_json"), bytes("attestation_object"));
    let origins = vec![v["origin"].as_str().unwrap().to_string()];
    let input = RegistrationInput {
        client_data_json: &client_data,
        attestation_object: &attestation_object,
        expected_challenge: v["challenge"].as_str().unwrap(),
        expected_origins: &origins,
        rp_id: v["rp_id"].as_str().unwrap(),
    };
    let policy = RegistrationPolicy {
        require_trusted_attestation: true,
        ..RegistrationPolicy::default()
    };
    let now = OffsetDateTime::now_utc();
    assert!(
        verify_registration(&input, &policy, &trust, now)
            .unwrap()
            .trusted
    );
    c.bench_function("verify_registration_packed_x5c_es256", |b| {
        b.iter(|| verify_registration(black_box(&input), &policy, &trust, now).unwrap())
    });
}

criterion_group!(benches, es256, registration);
criterion_main!(benches);

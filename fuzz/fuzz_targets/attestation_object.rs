//! Arbitrary attestation objects through the whole registration verifier
//! (CBOR, authenticator data, every attestation format, X.509, trust path):
//! no panic. The client data is fixed and valid, so the bytes reach the
//! attestation checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webauthn::client_data::{CollectedClientData, TYPE_CREATE};
use webauthn::{verify_registration, RegistrationInput, RegistrationPolicy, TrustStore};

fuzz_target!(|data: &[u8]| {
    let client_data = CollectedClientData::serialize(TYPE_CREATE, "AAAA", "https://localhost");
    let origins = vec!["https://localhost".to_string()];
    let input = RegistrationInput {
        client_data_json: &client_data,
        attestation_object: data,
        expected_challenge: "AAAA",
        expected_origins: &origins,
        rp_id: "localhost",
    };
    let policy = RegistrationPolicy {
        require_user_presence: false,
        allow_sha1_tpm_attestation_signature: true,
        lenient_x509_der: true,
        skip_safetynet_timestamp_freshness: true,
        ..RegistrationPolicy::default()
    };
    let _ = verify_registration(
        &input,
        &policy,
        &TrustStore::new(),
        time::OffsetDateTime::UNIX_EPOCH,
    );
});

//! FIDO MDS3 via configuration: a signed BLOB naming the virtual key's
//! model and attestation root makes its registrations `attested` (with the
//! model name from metadata) while attestation is enforced; a REVOKED
//! status refuses them.

mod common;

use common::*;
use serde_json::json;
use std::str::FromStr;
use std::time::{Duration, SystemTime};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::{DecodePem, Encode, EncodePem};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

const AAGUID: &str = "4b657973-6d69-4e68-a000-766b65790001";

fn cert(
    profile: Profile,
    subject: &str,
    key: &p256::ecdsa::SigningKey,
    signer: &p256::ecdsa::SigningKey,
) -> Certificate {
    use x509_cert::der::Decode;
    let now = SystemTime::now();
    let validity = Validity {
        not_before: Time::try_from(now - Duration::from_secs(86_400)).unwrap(),
        not_after: Time::try_from(now + Duration::from_secs(365 * 86_400)).unwrap(),
    };
    let spki_der = key.verifying_key().to_public_key_der().unwrap();
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes()).unwrap();
    CertificateBuilder::new(
        profile,
        SerialNumber::new(&[7, 1]).unwrap(),
        validity,
        Name::from_str(subject).unwrap(),
        spki,
        signer,
    )
    .unwrap()
    .build::<p256::ecdsa::DerSignature>()
    .unwrap()
}

/// Writes `mds.jwt` and `mds-root.pem` into `dir`; the one entry vouches
/// for the virtual key model with `status`.
fn write_mds(
    dir: &std::path::Path,
    key_root_pem: &str,
    status: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    use p256::ecdsa::signature::Signer;
    let root_key = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
    let root = cert(
        Profile::Root,
        "CN=Test MDS Root,O=Keysmith,C=US",
        &root_key,
        &root_key,
    );
    let signer_key = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
    let signer = cert(
        Profile::Leaf {
            issuer: root.tbs_certificate.subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        "CN=Test MDS Signer,O=Keysmith,C=US",
        &signer_key,
        &root_key,
    );
    let std_b64 = |d: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, d);
    let key_root = Certificate::from_pem(key_root_pem.as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    let header = json!({"alg": "ES256", "typ": "JWT", "x5c": [std_b64(&signer.to_der().unwrap())]});
    let payload = json!({"legalHeader": "test", "no": 1, "nextUpdate": "2099-01-01", "entries": [{
        "aaguid": AAGUID,
        "metadataStatement": {"description": "Keysmith Virtual Key (MDS)", "attestationRootCertificates": [std_b64(&key_root)]},
        "statusReports": [{"status": status, "effectiveDate": "2024-01-01"}],
    }]});
    let input = format!(
        "{}.{}",
        webauthn::b64::encode(header.to_string()),
        webauthn::b64::encode(payload.to_string())
    );
    let sig: p256::ecdsa::Signature = signer_key.sign(input.as_bytes());
    let blob = dir.join("mds.jwt");
    let root_pem = dir.join("mds-root.pem");
    std::fs::write(
        &blob,
        format!("{input}.{}", webauthn::b64::encode(sig.to_bytes())),
    )
    .unwrap();
    std::fs::write(
        &root_pem,
        root.to_pem(x509_cert::der::pem::LineEnding::LF).unwrap(),
    )
    .unwrap();
    (blob, root_pem)
}

fn register_once(status: &str) -> (u16, serde_json::Value) {
    let mut key = VirtualKey::new();
    let files = tempfile::tempdir().unwrap();
    let (blob, root) = write_mds(files.path(), &key.root_pem, status);
    let h = Harness::start_with(Store::Sqlite, |c| {
        c.mds_blob = Some(blob);
        c.mds_root_pem = Some(root);
        c.models.clear();
    })
    .unwrap();
    let policy =
        "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2";
    assert_eq!(
        h.patch(policy, &json!({"isAttestationEnforced": true})).0,
        204
    );
    h.create_user("erin@example.com");
    let base = "/v1.0/users/erin@example.com/authentication/fido2Methods";
    let (_, options) = h.get(&format!("{base}/creationOptions"));
    // No displayName at all: the model names the method (an empty one is
    // refused, as Graph does).
    let mut body = key.register(&options, "unused");
    body.as_object_mut().unwrap().remove("displayName");
    h.post(base, &body)
}

#[test]
fn mds_anchors_and_names_the_model() {
    let (s, m) = register_once("FIDO_CERTIFIED_L1");
    assert_eq!(s, 201, "{m}");
    assert_eq!(m["attestationLevel"], "attested");
    assert_eq!(m["model"], "Keysmith Virtual Key (MDS)");
    assert_eq!(
        m["displayName"], "Keysmith Virtual Key (MDS)",
        "the model names a method without a display name"
    );
}

#[test]
fn mds_revoked_model_is_refused() {
    let (s, v) = register_once("REVOKED");
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("compromised"),
        "{v}"
    );
}

//! Relying-party verification of registrations (WebAuthn L3 §7.1) and
//! assertions (§7.2).
//!
//! The caller passes everything, the clock included; nothing here performs
//! I/O. Each refusal is a [`VerifyError`] naming the failed check.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::attestation::{self, AttestationType, StatementContext};
use crate::authdata::{AuthenticatorData, Flags};
use crate::b64;
use crate::cbor::{self, Value};
use crate::client_data::{CollectedClientData, TYPE_CREATE, TYPE_GET};
use crate::cose::{CoseAlgorithm, CoseKey, EcCurve};
use crate::error::VerifyError;
use crate::trust::TrustStore;

pub use crate::policy::{AssertionPolicy, RegistrationPolicy};

/// The bytes of one registration response and what the RP expects.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationInput<'a> {
    /// `response.clientDataJSON`.
    pub client_data_json: &'a [u8],
    /// `response.attestationObject`.
    pub attestation_object: &'a [u8],
    /// The challenge as issued (base64url text).
    pub expected_challenge: &'a str,
    /// Origins accepted (e.g. `https://login.example.com`).
    pub expected_origins: &'a [String],
    /// The RP ID.
    pub rp_id: &'a str,
}

/// A registration that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedRegistration {
    /// Attestation statement format.
    pub fmt: String,
    /// The authenticator's AAGUID.
    pub aaguid: [u8; 16],
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The credential public key.
    pub public_key: CoseKey,
    /// The credential public key as the authenticator encoded it.
    pub public_key_cose: Vec<u8>,
    /// The initial signature counter.
    pub sign_count: u32,
    /// Authenticator data flags.
    pub flags: Flags,
    /// The attestation type the statement proved (§6.5.4).
    pub attestation_type: AttestationType,
    /// The attestation trust path: DER certificates, leaf first.
    pub trust_path: Vec<Vec<u8>>,
    /// Whether the trust path was verified to a trust anchor at the clock.
    pub trusted: bool,
    /// Subject of the anchor that the path reached.
    pub trust_anchor_subject: Option<String>,
    /// Why the path is not trusted, when it is not.
    pub untrusted_reason: Option<String>,
    /// The `credProtect` extension output, if any.
    pub cred_protect: Option<u8>,
    /// BE flag: the credential may be backed up (synced passkey).
    pub backup_eligible: bool,
    /// BS flag: the credential is backed up.
    pub backed_up: bool,
}

/// One assertion response and what the RP knows of the credential.
#[derive(Debug, Clone, Copy)]
pub struct AssertionInput<'a> {
    /// `response.clientDataJSON`.
    pub client_data_json: &'a [u8],
    /// `response.authenticatorData`.
    pub authenticator_data: &'a [u8],
    /// `response.signature`.
    pub signature: &'a [u8],
    /// The stored credential public key.
    pub credential_public_key: &'a CoseKey,
    /// The stored signature counter.
    pub stored_sign_count: u32,
    /// The challenge as issued (base64url text).
    pub expected_challenge: &'a str,
    /// Origins accepted.
    pub expected_origins: &'a [String],
    /// The RP ID.
    pub rp_id: &'a str,
}

/// An assertion that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The counter to store.
    pub new_sign_count: u32,
    /// Authenticator data flags.
    pub flags: Flags,
    /// Whether UV was set.
    pub user_verified: bool,
    /// Whether the counter failed to increase (possible cloned key) while
    /// policy let it pass.
    pub counter_regressed: bool,
}

struct ClientDataChecks<'a> {
    type_: &'static str,
    expected_challenge: &'a str,
    expected_origins: &'a [String],
    allow_cross_origin: bool,
    allow_subdomain_origins: bool,
    validate_token_binding_status: bool,
}

/// §7.1 steps 5–11 / §7.2 steps 9–14.
fn check_client_data(json: &[u8], c: &ClientDataChecks) -> Result<(), VerifyError> {
    let cd = CollectedClientData::parse(json)
        .map_err(|e| VerifyError::ClientDataMalformed(e.to_string()))?;
    if cd.type_ != c.type_ {
        return Err(VerifyError::ClientDataTypeMismatch {
            expected: c.type_,
            found: cd.type_,
        });
    }
    if !challenge_matches(&cd.challenge, c.expected_challenge) {
        return Err(VerifyError::ChallengeMismatch);
    }
    if !origin_matches(&cd.origin, c.expected_origins, c.allow_subdomain_origins) {
        return Err(VerifyError::OriginMismatch(cd.origin));
    }
    if cd.cross_origin == Some(true) && !c.allow_cross_origin {
        return Err(VerifyError::CrossOriginNotAllowed);
    }
    if c.validate_token_binding_status {
        if let Some(tb) = &cd.token_binding {
            // WebAuthn L2 §5.8.1: status is "present" or "supported".
            match tb.get("status").and_then(|s| s.as_str()) {
                Some("supported") => {}
                Some("present") if tb.get("id").is_some_and(|i| i.is_string()) => {}
                Some("present") => {
                    return Err(VerifyError::TokenBindingInvalid(
                        "status 'present' without an id".into(),
                    ))
                }
                other => {
                    return Err(VerifyError::TokenBindingInvalid(format!(
                        "unknown status {other:?}"
                    )))
                }
            }
        }
    }
    Ok(())
}

/// The challenge echoed by the client must be the one issued; compare the
/// text, then the bytes (a client may have re-encoded with padding).
fn challenge_matches(received: &str, expected: &str) -> bool {
    if received == expected {
        return true;
    }
    match (b64::decode_lenient(received), b64::decode_lenient(expected)) {
        (Ok(a), Ok(b)) => !a.is_empty() && subtle::ConstantTimeEq::ct_eq(&a[..], &b[..]).into(),
        _ => false,
    }
}

fn split_origin(origin: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = origin.split_once("://")?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
        _ => (rest, ""),
    };
    Some((scheme, host, port))
}

fn origin_matches(origin: &str, expected: &[String], allow_subdomains: bool) -> bool {
    let origin = origin.trim_end_matches('/');
    if expected.iter().any(|e| e.trim_end_matches('/') == origin) {
        return true;
    }
    if !allow_subdomains {
        return false;
    }
    let Some((scheme, host, port)) = split_origin(origin) else {
        return false;
    };
    expected.iter().any(|e| {
        split_origin(e.trim_end_matches('/')).is_some_and(|(s, h, p)| {
            s == scheme && p == port && host.len() > h.len() && host.ends_with(&format!(".{h}"))
        })
    })
}

/// Whether a COSE key is usable with its own declared algorithm.
fn key_matches_alg(key: &CoseKey) -> bool {
    let Some(alg) = CoseAlgorithm::from_id(key.alg()) else {
        return false;
    };
    match key {
        CoseKey::Ec2 { curve, .. } => matches!(
            (curve, alg),
            (EcCurve::P256, CoseAlgorithm::Es256)
                | (EcCurve::P384, CoseAlgorithm::Es384)
                | (EcCurve::P521, CoseAlgorithm::Es512)
        ),
        CoseKey::Ed25519 { .. } => alg == CoseAlgorithm::EdDsa,
        CoseKey::Rsa { .. } => matches!(
            alg,
            CoseAlgorithm::Rs256
                | CoseAlgorithm::Rs384
                | CoseAlgorithm::Rs512
                | CoseAlgorithm::Rs1
                | CoseAlgorithm::Ps256
                | CoseAlgorithm::Ps384
                | CoseAlgorithm::Ps512
        ),
    }
}

/// §7.2 step 22: a counter that did not increase, unless both are zero
/// (an authenticator without a counter).
fn counter_regressed(new: u32, stored: u32) -> bool {
    (new != 0 || stored != 0) && new <= stored
}

/// Verifies a registration ceremony (WebAuthn L3 §7.1) at clock `now`.
pub fn verify_registration(
    input: &RegistrationInput,
    policy: &RegistrationPolicy,
    trust: &TrustStore,
    now: OffsetDateTime,
) -> Result<VerifiedRegistration, VerifyError> {
    // §7.1 steps 5–11.
    check_client_data(
        input.client_data_json,
        &ClientDataChecks {
            type_: TYPE_CREATE,
            expected_challenge: input.expected_challenge,
            expected_origins: input.expected_origins,
            allow_cross_origin: policy.allow_cross_origin,
            allow_subdomain_origins: policy.allow_subdomain_origins,
            validate_token_binding_status: policy.validate_token_binding_status,
        },
    )?;
    let client_data_hash: [u8; 32] = Sha256::digest(input.client_data_json).into();

    // §7.1 step 12: decode the attestation object.
    let value = cbor::decode(input.attestation_object)
        .map_err(|e| VerifyError::AttestationObjectMalformed(e.to_string()))?;
    let mut obj = cbor::MapReader::new(value, "attestationObject")
        .map_err(|e| VerifyError::AttestationObjectMalformed(e.to_string()))?;
    let fmt = obj
        .text("fmt", "fmt")
        .map_err(|e| VerifyError::AttestationObjectMalformed(e.to_string()))?;
    let att_stmt = obj
        .require("attStmt", "attStmt")
        .map_err(|e| VerifyError::AttestationObjectMalformed(e.to_string()))?;
    if !matches!(att_stmt, Value::Map(_)) {
        return Err(VerifyError::AttestationObjectMalformed(
            "attStmt is not a map".into(),
        ));
    }
    let auth_data_raw = obj
        .bytes("authData", "authData")
        .map_err(|e| VerifyError::AttestationObjectMalformed(e.to_string()))?;
    let auth_data = AuthenticatorData::parse(&auth_data_raw)
        .map_err(VerifyError::AuthenticatorDataMalformed)?;

    // §7.1 step 13.
    let rp_id_hash: [u8; 32] = Sha256::digest(input.rp_id.as_bytes()).into();
    if auth_data.rp_id_hash != rp_id_hash {
        return Err(VerifyError::InvalidRpIdHash);
    }
    check_flags(
        auth_data.flags,
        policy.require_user_presence,
        policy.require_user_verification,
    )?;
    let attested = auth_data
        .attested
        .as_ref()
        .ok_or(VerifyError::AttestedCredentialDataMissing)?;

    // §7.1 step 17: the algorithm must be one offered.
    let alg = attested.public_key.alg();
    let offered = match &policy.allowed_algs {
        Some(list) => list.contains(&alg),
        None => CoseAlgorithm::from_id(alg).is_some_and(|a| a != CoseAlgorithm::EcdhEsHkdf256),
    };
    if !offered {
        return Err(VerifyError::AlgorithmNotAllowed(alg));
    }
    if !key_matches_alg(&attested.public_key) {
        return Err(VerifyError::CredentialPublicKeyInvalid(format!(
            "key type cannot be used with algorithm {alg}"
        )));
    }

    // §7.1 steps 19–21: the attestation statement.
    let ctx = StatementContext {
        auth_data_raw: &auth_data_raw,
        auth_data: &auth_data,
        attested,
        client_data_hash,
        policy,
        now,
    };
    let outcome = attestation::verify_statement(&fmt, att_stmt, &ctx)?;

    // §7.1 steps 22–23: assess the trust path.
    let (trusted, trust_anchor_subject, untrusted_reason) = if outcome.chain.is_empty() {
        (
            false,
            None,
            Some(outcome.attestation_type.untrusted_reason()),
        )
    } else {
        match trust.validate_path_cached(&outcome.chain, &attested.aaguid, now) {
            Ok(subject) => (true, Some(subject), None),
            Err(reason) => (false, None, Some(reason)),
        }
    };
    if policy.require_trusted_attestation && !trusted {
        return Err(VerifyError::AttestationNotTrusted(
            untrusted_reason.unwrap_or_default(),
        ));
    }

    let cred_protect = match auth_data.extension("credProtect") {
        Some(Value::Integer(i)) => u8::try_from(*i).ok(),
        _ => None,
    };
    Ok(VerifiedRegistration {
        fmt,
        aaguid: attested.aaguid,
        credential_id: attested.credential_id.clone(),
        public_key: attested.public_key.clone(),
        public_key_cose: attested.public_key_bytes.clone(),
        sign_count: auth_data.sign_count,
        flags: auth_data.flags,
        attestation_type: outcome.attestation_type,
        trust_path: outcome.chain.into_iter().map(|c| c.der).collect(),
        trusted,
        trust_anchor_subject,
        untrusted_reason,
        cred_protect,
        backup_eligible: auth_data.flags.backup_eligible(),
        backed_up: auth_data.flags.backed_up(),
    })
}

/// §7.1 steps 14–16 / §7.2 steps 16–18.
fn check_flags(flags: Flags, require_up: bool, require_uv: bool) -> Result<(), VerifyError> {
    if require_up && !flags.user_present() {
        return Err(VerifyError::UserNotPresent);
    }
    if require_uv && !flags.user_verified() {
        return Err(VerifyError::UserNotVerified);
    }
    // §6.1: BS may only be set when BE is.
    if flags.backed_up() && !flags.backup_eligible() {
        return Err(VerifyError::InvalidBackupFlags);
    }
    Ok(())
}

/// Verifies an authentication ceremony (WebAuthn L3 §7.2).
pub fn verify_assertion(
    input: &AssertionInput,
    policy: &AssertionPolicy,
) -> Result<VerifiedAssertion, VerifyError> {
    check_client_data(
        input.client_data_json,
        &ClientDataChecks {
            type_: TYPE_GET,
            expected_challenge: input.expected_challenge,
            expected_origins: input.expected_origins,
            allow_cross_origin: policy.allow_cross_origin,
            allow_subdomain_origins: policy.allow_subdomain_origins,
            validate_token_binding_status: policy.validate_token_binding_status,
        },
    )?;
    let auth_data = AuthenticatorData::parse(input.authenticator_data)
        .map_err(VerifyError::AuthenticatorDataMalformed)?;

    // §7.2 step 15; §10.1.1: with the appid extension the hash is of the AppID.
    let rp_id_hash: [u8; 32] = Sha256::digest(input.rp_id.as_bytes()).into();
    let appid_hash: Option<[u8; 32]> = policy
        .appid
        .as_ref()
        .map(|a| Sha256::digest(a.as_bytes()).into());
    if auth_data.rp_id_hash != rp_id_hash && Some(auth_data.rp_id_hash) != appid_hash {
        return Err(VerifyError::InvalidRpIdHash);
    }
    check_flags(
        auth_data.flags,
        policy.require_user_presence,
        policy.require_user_verification,
    )?;

    // §7.2 steps 19–21: signature over authData || SHA-256(clientDataJSON).
    let mut signed = Vec::with_capacity(input.authenticator_data.len() + 32);
    signed.extend_from_slice(input.authenticator_data);
    signed.extend_from_slice(&Sha256::digest(input.client_data_json));
    input
        .credential_public_key
        .verify(&signed, input.signature)
        .map_err(|_| VerifyError::SignatureInvalid)?;

    // §7.2 step 22.
    let new = auth_data.sign_count;
    let stored = input.stored_sign_count;
    let counter_regressed = counter_regressed(new, stored);
    if counter_regressed && policy.reject_on_counter_regression {
        return Err(VerifyError::CounterRegression {
            stored,
            received: new,
        });
    }
    Ok(VerifiedAssertion {
        new_sign_count: new.max(stored),
        flags: auth_data.flags,
        user_verified: auth_data.flags.user_verified(),
        counter_regressed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let exp = vec!["https://idm.example.com:8080".to_string()];
        assert!(origin_matches("https://idm.example.com:8080", &exp, false));
        assert!(!origin_matches(
            "https://sub.idm.example.com:8080",
            &exp,
            false
        ));
        assert!(origin_matches(
            "https://sub.idm.example.com:8080",
            &exp,
            true
        ));
        assert!(!origin_matches("https://sub.idm.example.com", &exp, true));
        assert!(!origin_matches(
            "https://evilidm.example.com:8080",
            &exp,
            true
        ));
        assert!(!origin_matches(
            "http://sub.idm.example.com:8080",
            &exp,
            true
        ));
    }

    #[test]
    fn challenges() {
        assert!(challenge_matches("AQID", "AQID"));
        assert!(challenge_matches("AQID", "AQID"));
        assert!(challenge_matches("AQI", "AQI="));
        assert!(!challenge_matches("AQID", "AQIE"));
    }

    #[test]
    fn policy_from_json_takes_names_or_ids() {
        let p: RegistrationPolicy =
            serde_json::from_str(r#"{"allowed_algs":["EdDSA",-7],"trust_anchor":"x"}"#).unwrap();
        assert_eq!(p.allowed_algs, Some(vec![-8, -7]));
        assert!(p.require_user_presence);
        assert!(!p.allow_sha1_tpm_attestation_signature);
    }
    /// WebAuthn L3 §7.2 step 22 and §6.1.1: both zero means no counter;
    /// otherwise the new value must exceed the stored one.
    #[test]
    fn counter_regression() {
        assert!(!counter_regressed(0, 0), "no counter at all");
        assert!(counter_regressed(0, 5), "a key answering 0 after 5");
        assert!(counter_regressed(5, 5), "no increase");
        assert!(counter_regressed(4, 5));
        assert!(!counter_regressed(6, 5));
        assert!(!counter_regressed(1, 0));
    }

    /// §7.1 step 17 with RFC 9053 §2.1 / RFC 8230: a key is only usable with
    /// its own algorithm (a P-256 key declared ES384, an Ed25519 key declared
    /// ES256, an EC key declared RS256 are refused).
    #[test]
    fn keys_match_their_declared_algorithm() {
        let ec = |curve, alg| CoseKey::Ec2 {
            alg,
            curve,
            x: vec![1; 32],
            y: vec![2; 32],
        };
        let ed = |alg| CoseKey::Ed25519 { alg, x: [3; 32] };
        let rsa = |alg| CoseKey::Rsa {
            alg,
            n: vec![0xc1; 256],
            e: vec![1, 0, 1],
        };
        for (key, ok) in [
            (ec(EcCurve::P256, -7), true),
            (ec(EcCurve::P384, -35), true),
            (ec(EcCurve::P521, -36), true),
            (ec(EcCurve::P256, -35), false),
            (ec(EcCurve::P384, -7), false),
            (ec(EcCurve::P521, -7), false),
            (ec(EcCurve::P256, -257), false),
            (ec(EcCurve::P256, 12345), false),
            (ed(-8), true),
            (ed(-7), false),
            (rsa(-257), true),
            (rsa(-258), true),
            (rsa(-259), true),
            (rsa(-65535), true),
            (rsa(-37), true),
            (rsa(-38), true),
            (rsa(-39), true),
            (rsa(-7), false),
            (rsa(-8), false),
        ] {
            assert_eq!(key_matches_alg(&key), ok, "{key:?}");
        }
    }

    #[test]
    fn origin_ports_and_subdomain_boundaries() {
        let exp = |e: &str| vec![e.to_string()];
        // A port is part of the origin; an empty or non-numeric "port" is
        // part of the host.
        assert!(origin_matches(
            "https://a.example.com",
            &exp("https://example.com"),
            true
        ));
        assert!(!origin_matches(
            "https://a.example.com:443",
            &exp("https://example.com"),
            true
        ));
        assert!(!origin_matches(
            "https://a.example.com",
            &exp("https://example.com:443"),
            true
        ));
        assert!(origin_matches(
            "https://a.example.com:8443",
            &exp("https://example.com:8443"),
            true
        ));
        assert!(!origin_matches(
            "https://a.example.com:8443",
            &exp("https://example.com:9443"),
            true
        ));
        assert!(!origin_matches(
            "https://a.example.com:",
            &exp("https://example.com"),
            true
        ));
        assert!(!origin_matches(
            "https://a.example.com:x",
            &exp("https://example.com"),
            true
        ));
        assert_eq!(
            split_origin("https://h.example:8443"),
            Some(("https", "h.example", "8443"))
        );
        assert_eq!(
            split_origin("https://h.example:"),
            Some(("https", "h.example:", ""))
        );
        assert_eq!(
            split_origin("https://h.example:8a"),
            Some(("https", "h.example:8a", ""))
        );
        assert_eq!(split_origin("h.example"), None);
        // Not an origin at all.
        assert!(!origin_matches(
            "example.com",
            &exp("https://example.com"),
            true
        ));
        // A trailing slash is tolerated on either side.
        assert!(origin_matches(
            "https://example.com/",
            &exp("https://example.com"),
            false
        ));
        // The host must end at a label boundary.
        assert!(!origin_matches(
            "https://xexample.com",
            &exp("https://example.com"),
            true
        ));
    }
    /// §7.1 with `none` attestation: the credProtect output (CTAP 2.1
    /// §12.1) is read from the authenticator data's extensions.
    #[test]
    fn cred_protect_is_read_from_the_extensions() {
        use crate::authdata::{AttestedCredentialData, AuthenticatorData, Flags};
        use crate::cbor::{self, MapBuilder, Value};
        use crate::client_data::{CollectedClientData, TYPE_CREATE};
        use crate::testutil::{key, AAGUID, CHALLENGE, ORIGIN, RP_ID};
        let register = |extensions: Option<Value>| {
            let k = key();
            let public_key = CoseKey::from_p256(CoseAlgorithm::Es256, &k.verifying_key().into());
            let auth_data = AuthenticatorData {
                rp_id_hash: Sha256::digest(RP_ID.as_bytes()).into(),
                flags: Flags(Flags::UP | Flags::UV),
                sign_count: 0,
                attested: Some(AttestedCredentialData {
                    aaguid: AAGUID,
                    credential_id: vec![7; 16],
                    public_key_bytes: public_key.to_bytes(),
                    public_key,
                }),
                extensions,
            }
            .to_bytes();
            let att = cbor::encode(
                &MapBuilder::new()
                    .text("fmt", "none")
                    .text("attStmt", MapBuilder::new().build())
                    .text("authData", auth_data)
                    .build(),
            );
            let cd = CollectedClientData::serialize(TYPE_CREATE, CHALLENGE, ORIGIN);
            let origins = vec![ORIGIN.to_string()];
            verify_registration(
                &RegistrationInput {
                    client_data_json: &cd,
                    attestation_object: &att,
                    expected_challenge: CHALLENGE,
                    expected_origins: &origins,
                    rp_id: RP_ID,
                },
                &RegistrationPolicy::default(),
                &TrustStore::new(),
                OffsetDateTime::now_utc(),
            )
            .unwrap()
        };
        let with = |v: Value| register(Some(MapBuilder::new().text("credProtect", v).build()));
        assert_eq!(with(Value::Integer(2.into())).cred_protect, Some(2));
        assert_eq!(with(Value::Integer(3.into())).cred_protect, Some(3));
        assert_eq!(
            with(Value::Integer(300.into())).cred_protect,
            None,
            "not a u8"
        );
        assert_eq!(with(Value::Text("2".into())).cred_protect, None);
        assert_eq!(register(None).cred_protect, None);
    }
    #[test]
    fn an_assertion_policy_follows_the_registration_policy() {
        let r = RegistrationPolicy {
            require_user_verification: true,
            allow_cross_origin: true,
            reject_on_counter_regression: false,
            require_user_presence: false,
            allow_subdomain_origins: true,
            validate_token_binding_status: true,
            ..Default::default()
        };
        let a = AssertionPolicy::from(&r);
        assert!(a.require_user_verification && a.allow_cross_origin);
        assert!(!a.reject_on_counter_regression && !a.require_user_presence);
        assert!(a.allow_subdomain_origins && a.validate_token_binding_status);
        assert_eq!(a.appid, None);
    }

    /// WebAuthn L2 §5.8.1: tokenBinding.status is "supported" or "present",
    /// and "present" carries the id.
    #[test]
    fn token_binding_status() {
        let origins = vec!["https://example.com".to_string()];
        let check = |tb: &str| {
            let json = format!(
                r#"{{"type":"webauthn.create","challenge":"AQID","origin":"https://example.com","tokenBinding":{tb}}}"#
            );
            check_client_data(
                json.as_bytes(),
                &ClientDataChecks {
                    type_: TYPE_CREATE,
                    expected_challenge: "AQID",
                    expected_origins: &origins,
                    allow_cross_origin: false,
                    allow_subdomain_origins: false,
                    validate_token_binding_status: true,
                },
            )
        };
        assert!(check(r#"{"status":"supported"}"#).is_ok());
        assert!(check(r#"{"status":"present","id":"c29tZS1pZA"}"#).is_ok());
        assert!(check(r#"{"status":"present"}"#).is_err());
        assert!(check(r#"{"status":"present","id":7}"#).is_err());
        assert!(check(r#"{"status":"not-supported"}"#).is_err());
    }
}

//! A stand-in for `webauthn::verify` until that module lands on this branch:
//! the same names and shapes, with the checks the server's tests exercise
//! (client data, RP ID hash, flags, algorithm, `none` and `packed`
//! signatures). It performs no trust-path validation: `trusted` is true
//! only when a leaf certificate's issuer key is in the trust store.
//! Delete this file once `webauthn::verify` is merged.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use webauthn::cbor::{self, MapReader, Value};
use webauthn::client_data::{TYPE_CREATE, TYPE_GET};
use webauthn::{AuthenticatorData, CollectedClientData, CoseKey, Flags};

#[derive(Debug, Clone)]
pub struct RegistrationPolicy {
    pub require_user_verification: bool,
    pub allowed_algs: Option<Vec<i64>>,
    pub allow_cross_origin: bool,
    pub require_trusted_attestation: bool,
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        Self {
            require_user_verification: true,
            allowed_algs: None,
            allow_cross_origin: false,
            require_trusted_attestation: false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AssertionPolicy {
    pub require_user_verification: bool,
    pub reject_on_counter_regression: bool,
}

/// Trust anchors (DER certificates).
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    roots: Vec<Vec<u8>>,
}

impl TrustStore {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add_pem(&mut self, pem: &str) -> Result<usize, VerifyError> {
        let certs = x509_cert::Certificate::load_pem_chain(pem.as_bytes())
            .map_err(|_| VerifyError::Malformed("trust anchor PEM"))?;
        for c in &certs {
            use x509_cert::der::Encode;
            self.roots.push(
                c.to_der()
                    .map_err(|_| VerifyError::Malformed("trust anchor"))?,
            );
        }
        Ok(certs.len())
    }
    pub fn add_der(&mut self, der: &[u8]) {
        self.roots.push(der.to_vec());
    }
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }
}

pub struct RegistrationInput<'a> {
    pub client_data_json: &'a [u8],
    pub attestation_object: &'a [u8],
    pub expected_challenge: &'a str,
    pub expected_origins: &'a [String],
    pub rp_id: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttestationType {
    None,
    SelfAttestation,
    Basic,
}

#[derive(Debug, Clone)]
pub struct VerifiedRegistration {
    pub fmt: String,
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    pub public_key: CoseKey,
    pub public_key_cose: Vec<u8>,
    pub sign_count: u32,
    pub flags: Flags,
    pub attestation_type: AttestationType,
    pub trust_path: Vec<Vec<u8>>,
    pub trusted: bool,
    pub trust_anchor_subject: Option<String>,
    pub cred_protect: Option<u8>,
    pub backup_eligible: bool,
    pub backed_up: bool,
}

pub struct AssertionInput<'a> {
    pub client_data_json: &'a [u8],
    pub authenticator_data: &'a [u8],
    pub signature: &'a [u8],
    pub credential_public_key: &'a CoseKey,
    pub stored_sign_count: u32,
    pub expected_challenge: &'a str,
    pub expected_origins: &'a [String],
    pub rp_id: &'a str,
}

#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    pub new_sign_count: u32,
    pub flags: Flags,
    pub user_verified: bool,
    pub counter_regressed: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("client data type is not {0}")]
    WrongType(&'static str),
    #[error("the challenge does not match")]
    ChallengeMismatch,
    #[error("origin {0} is not allowed")]
    OriginMismatch(String),
    #[error("cross-origin ceremonies are not allowed")]
    CrossOrigin,
    #[error("RP ID hash does not match")]
    RpIdHashMismatch,
    #[error("user presence flag not set")]
    UserNotPresent,
    #[error("user verification required but not performed")]
    UserNotVerified,
    #[error("algorithm {0} is not allowed")]
    AlgorithmNotAllowed(i64),
    #[error("unsupported attestation format {0}")]
    UnsupportedFormat(String),
    #[error("attestation signature is invalid")]
    AttestationSignatureInvalid,
    #[error("attestation is not trusted")]
    UntrustedAttestation,
    #[error("assertion signature is invalid")]
    SignatureInvalid,
    #[error("signature counter went backwards")]
    CounterRegression,
}

impl VerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::WrongType(_) => "wrongType",
            Self::ChallengeMismatch => "challengeMismatch",
            Self::OriginMismatch(_) => "originMismatch",
            Self::CrossOrigin => "crossOrigin",
            Self::RpIdHashMismatch => "rpIdHashMismatch",
            Self::UserNotPresent => "userNotPresent",
            Self::UserNotVerified => "userNotVerified",
            Self::AlgorithmNotAllowed(_) => "algorithmNotAllowed",
            Self::UnsupportedFormat(_) => "unsupportedFormat",
            Self::AttestationSignatureInvalid => "attestationSignatureInvalid",
            Self::UntrustedAttestation => "untrustedAttestation",
            Self::SignatureInvalid => "signatureInvalid",
            Self::CounterRegression => "counterRegression",
        }
    }
}

fn check_client_data(
    json: &[u8],
    type_: &'static str,
    challenge: &str,
    origins: &[String],
    allow_cross_origin: bool,
) -> Result<(), VerifyError> {
    let cd =
        CollectedClientData::parse(json).map_err(|_| VerifyError::Malformed("clientDataJSON"))?;
    if cd.type_ != type_ {
        return Err(VerifyError::WrongType(type_));
    }
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        cd.challenge.as_bytes(),
        challenge.as_bytes(),
    )) {
        return Err(VerifyError::ChallengeMismatch);
    }
    if !origins.iter().any(|o| o == &cd.origin) {
        return Err(VerifyError::OriginMismatch(cd.origin));
    }
    if cd.cross_origin == Some(true) && !allow_cross_origin {
        return Err(VerifyError::CrossOrigin);
    }
    Ok(())
}

pub fn verify_registration(
    input: &RegistrationInput<'_>,
    policy: &RegistrationPolicy,
    trust: &TrustStore,
    _now: OffsetDateTime,
) -> Result<VerifiedRegistration, VerifyError> {
    check_client_data(
        input.client_data_json,
        TYPE_CREATE,
        input.expected_challenge,
        input.expected_origins,
        policy.allow_cross_origin,
    )?;
    let mut m = MapReader::from_bytes(input.attestation_object, "attestationObject")
        .map_err(|_| VerifyError::Malformed("attestationObject"))?;
    let fmt = m
        .text("fmt", "fmt")
        .map_err(|_| VerifyError::Malformed("fmt"))?;
    let auth_data_bytes = m
        .bytes("authData", "authData")
        .map_err(|_| VerifyError::Malformed("authData"))?;
    let att_stmt = m
        .require("attStmt", "attStmt")
        .map_err(|_| VerifyError::Malformed("attStmt"))?;
    let ad = AuthenticatorData::parse(&auth_data_bytes)
        .map_err(|_| VerifyError::Malformed("authenticator data"))?;
    let rp_hash: [u8; 32] = Sha256::digest(input.rp_id.as_bytes()).into();
    if ad.rp_id_hash != rp_hash {
        return Err(VerifyError::RpIdHashMismatch);
    }
    if !ad.flags.user_present() {
        return Err(VerifyError::UserNotPresent);
    }
    if policy.require_user_verification && !ad.flags.user_verified() {
        return Err(VerifyError::UserNotVerified);
    }
    let acd = ad
        .attested
        .clone()
        .ok_or(VerifyError::Malformed("attested credential data"))?;
    let alg = acd.public_key.alg();
    if let Some(algs) = &policy.allowed_algs {
        if !algs.contains(&alg) {
            return Err(VerifyError::AlgorithmNotAllowed(alg));
        }
    }
    let client_data_hash = Sha256::digest(input.client_data_json);
    let mut signed = auth_data_bytes.clone();
    signed.extend_from_slice(&client_data_hash);
    let (attestation_type, trust_path) = match fmt.as_str() {
        "none" => (AttestationType::None, Vec::new()),
        "packed" => {
            let mut s = MapReader::new(att_stmt, "attStmt")
                .map_err(|_| VerifyError::Malformed("attStmt"))?;
            let sig_alg = s
                .int("alg", "alg")
                .map_err(|_| VerifyError::Malformed("alg"))?;
            let sig = s
                .bytes("sig", "sig")
                .map_err(|_| VerifyError::Malformed("sig"))?;
            match s.take("x5c") {
                None => {
                    if sig_alg != alg {
                        return Err(VerifyError::AttestationSignatureInvalid);
                    }
                    acd.public_key
                        .verify(&signed, &sig)
                        .map_err(|_| VerifyError::AttestationSignatureInvalid)?;
                    (AttestationType::SelfAttestation, Vec::new())
                }
                Some(Value::Array(items)) => {
                    let mut chain = Vec::new();
                    for item in items {
                        chain.push(
                            cbor::into_bytes(item, "x5c")
                                .map_err(|_| VerifyError::Malformed("x5c"))?,
                        );
                    }
                    let leaf = chain.first().ok_or(VerifyError::Malformed("x5c"))?;
                    let key = cert_key(leaf, sig_alg)?;
                    key.verify(&signed, &sig)
                        .map_err(|_| VerifyError::AttestationSignatureInvalid)?;
                    (AttestationType::Basic, chain)
                }
                Some(_) => return Err(VerifyError::Malformed("x5c")),
            }
        }
        other => return Err(VerifyError::UnsupportedFormat(other.to_owned())),
    };
    let trusted = trust_path
        .last()
        .is_some_and(|last| issued_by_anchor(last, trust));
    if policy.require_trusted_attestation && !trusted {
        return Err(VerifyError::UntrustedAttestation);
    }
    Ok(VerifiedRegistration {
        fmt,
        aaguid: acd.aaguid,
        credential_id: acd.credential_id,
        public_key: acd.public_key,
        public_key_cose: acd.public_key_bytes,
        sign_count: ad.sign_count,
        flags: ad.flags,
        attestation_type,
        trust_path,
        trusted,
        trust_anchor_subject: None,
        cred_protect: ad
            .extension("credProtect")
            .and_then(|v| v.as_integer())
            .and_then(|i| u8::try_from(i).ok()),
        backup_eligible: ad.flags.backup_eligible(),
        backed_up: ad.flags.backed_up(),
    })
}

/// The certificate's P-256 key as a COSE key for `alg` (ES256 only here).
fn cert_key(der: &[u8], alg: i64) -> Result<CoseKey, VerifyError> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).map_err(|_| VerifyError::Malformed("x5c"))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let key =
        p256::PublicKey::from_sec1_bytes(spki).map_err(|_| VerifyError::Malformed("x5c key"))?;
    if alg != -7 {
        return Err(VerifyError::AlgorithmNotAllowed(alg));
    }
    Ok(CoseKey::from_p256(webauthn::CoseAlgorithm::Es256, &key))
}

/// True when `der` is an anchor, or is signed (ES256) by an anchor's key.
fn issued_by_anchor(der: &[u8], trust: &TrustStore) -> bool {
    use x509_cert::der::{Decode, Encode};
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return false;
    };
    let Ok(tbs) = cert.tbs_certificate.to_der() else {
        return false;
    };
    let sig = cert.signature.raw_bytes();
    trust.roots.iter().any(|root| {
        root.as_slice() == der
            || cert_key(root, -7)
                .and_then(|k| {
                    k.verify(&tbs, sig)
                        .map_err(|_| VerifyError::SignatureInvalid)
                })
                .is_ok()
    })
}

pub fn verify_assertion(
    input: &AssertionInput<'_>,
    policy: &AssertionPolicy,
) -> Result<VerifiedAssertion, VerifyError> {
    check_client_data(
        input.client_data_json,
        TYPE_GET,
        input.expected_challenge,
        input.expected_origins,
        false,
    )?;
    let ad = AuthenticatorData::parse(input.authenticator_data)
        .map_err(|_| VerifyError::Malformed("authenticatorData"))?;
    let rp_hash: [u8; 32] = Sha256::digest(input.rp_id.as_bytes()).into();
    if ad.rp_id_hash != rp_hash {
        return Err(VerifyError::RpIdHashMismatch);
    }
    if !ad.flags.user_present() {
        return Err(VerifyError::UserNotPresent);
    }
    if policy.require_user_verification && !ad.flags.user_verified() {
        return Err(VerifyError::UserNotVerified);
    }
    let mut signed = input.authenticator_data.to_vec();
    signed.extend_from_slice(&Sha256::digest(input.client_data_json));
    input
        .credential_public_key
        .verify(&signed, input.signature)
        .map_err(|_| VerifyError::SignatureInvalid)?;
    let regressed = (ad.sign_count != 0 || input.stored_sign_count != 0)
        && ad.sign_count <= input.stored_sign_count;
    if regressed && policy.reject_on_counter_regression {
        return Err(VerifyError::CounterRegression);
    }
    Ok(VerifiedAssertion {
        new_sign_count: ad.sign_count,
        flags: ad.flags,
        user_verified: ad.flags.user_verified(),
        counter_regressed: regressed,
    })
}

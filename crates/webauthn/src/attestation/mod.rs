//! Attestation statement formats (WebAuthn L3 §8), one module each, and
//! what they share: reading `x5c`, checking a signature with a
//! certificate's key, the id-fido-gen-ce-aaguid extension.

pub mod android_key;
pub mod android_safetynet;
pub mod apple;
pub mod fido_u2f;
pub mod none;
pub mod packed;
pub mod tpm;

use const_oid::ObjectIdentifier;
use der::Decode;
use time::OffsetDateTime;

use crate::authdata::{AttestedCredentialData, AuthenticatorData};
use crate::cbor::{self, MapReader, Value};
use crate::cose::{self, CoseAlgorithm};
use crate::error::VerifyError;
use crate::policy::RegistrationPolicy;
use crate::trust::ParsedCert;

/// Attestation types (WebAuthn L3 §6.5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttestationType {
    /// No attestation statement (`none`).
    None,
    /// Signed by the credential key itself.
    SelfAttestation,
    /// Signed by a batch attestation key with a certificate chain.
    Basic,
    /// Signed by a key certified by an attestation CA (TPM AIK).
    AttCa,
    /// Anonymization CA: a per-credential certificate (Apple).
    AnonCa,
}

impl AttestationType {
    /// A short lower-case name (`none`, `self`, `basic`, `attca`, `anonca`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::SelfAttestation => "self",
            Self::Basic => "basic",
            Self::AttCa => "attca",
            Self::AnonCa => "anonca",
        }
    }

    pub(crate) fn untrusted_reason(self) -> String {
        match self {
            Self::None => "no attestation was provided".into(),
            Self::SelfAttestation => "self attestation has no trust path".into(),
            _ => "no certificate chain".into(),
        }
    }
}

impl std::fmt::Display for AttestationType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What every format's verification procedure receives.
pub(crate) struct StatementContext<'a> {
    pub auth_data_raw: &'a [u8],
    pub auth_data: &'a AuthenticatorData,
    pub attested: &'a AttestedCredentialData,
    pub client_data_hash: [u8; 32],
    pub policy: &'a RegistrationPolicy,
    pub now: OffsetDateTime,
}

impl StatementContext<'_> {
    /// authenticatorData || clientDataHash, what most formats sign.
    pub(crate) fn signed_data(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.auth_data_raw.len() + 32);
        v.extend_from_slice(self.auth_data_raw);
        v.extend_from_slice(&self.client_data_hash);
        v
    }
}

/// What a verified statement yields: its type and the certificates of its
/// trust path (leaf first), if any.
pub(crate) struct StatementOutcome {
    pub attestation_type: AttestationType,
    pub chain: Vec<ParsedCert>,
}

/// Dispatches on `fmt` (§7.1 steps 19–21).
pub(crate) fn verify_statement(
    fmt: &str,
    att_stmt: Value,
    ctx: &StatementContext,
) -> Result<StatementOutcome, VerifyError> {
    match fmt {
        "packed" => packed::verify(att_stmt, ctx),
        "fido-u2f" => fido_u2f::verify(att_stmt, ctx),
        "tpm" => tpm::verify(att_stmt, ctx),
        "android-key" => android_key::verify(att_stmt, ctx),
        "android-safetynet" => android_safetynet::verify(att_stmt, ctx),
        "apple" => apple::verify(att_stmt, ctx),
        "none" => none::verify(att_stmt, ctx),
        other => Err(VerifyError::UnsupportedAttestationFormat(other.to_string())),
    }
}

/// A malformed-statement error for `fmt`.
pub(crate) fn malformed(fmt: &'static str, detail: impl std::fmt::Display) -> VerifyError {
    VerifyError::AttestationStatementMalformed {
        fmt,
        detail: detail.to_string(),
    }
}

/// Opens attStmt as a map.
pub(crate) fn open(fmt: &'static str, att_stmt: Value) -> Result<MapReader, VerifyError> {
    MapReader::new(att_stmt, "attStmt").map_err(|e| malformed(fmt, e))
}

/// Reads and parses a non-empty `x5c` array of DER certificates.
pub(crate) fn read_x5c(
    fmt: &'static str,
    items: Vec<Value>,
) -> Result<Vec<ParsedCert>, VerifyError> {
    if items.is_empty() {
        return Err(malformed(fmt, "x5c is empty"));
    }
    items
        .into_iter()
        .map(|v| {
            let der = cbor::into_bytes(v, "x5c").map_err(|e| malformed(fmt, e))?;
            ParsedCert::parse(&der)
        })
        .collect()
}

/// Verifies `sig` over `message` with the certificate's key under COSE
/// algorithm `alg`.
pub(crate) fn verify_with_cert(
    cert: &ParsedCert,
    alg: i64,
    message: &[u8],
    sig: &[u8],
) -> Result<(), VerifyError> {
    let key = cert.public_key()?;
    match cose::verify_signature(&key, alg, message, sig) {
        Ok(()) => Ok(()),
        Err(cose::SignatureError::KeyAlgorithmMismatch(a))
        | Err(cose::SignatureError::UnsupportedAlgorithm(a)) => {
            Err(VerifyError::AttestationAlgorithmMismatch(a))
        }
        Err(_) => Err(VerifyError::AttestationSignatureInvalid),
    }
}

/// id-fido-gen-ce-aaguid (FIDO Metadata / WebAuthn §8.2.1).
pub(crate) const OID_FIDO_GEN_CE_AAGUID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.45724.1.1.4");

/// §8.2.1 / §8.3.1: if the certificate has id-fido-gen-ce-aaguid, it must
/// not be critical and must equal the AAGUID in authenticator data.
pub(crate) fn check_aaguid_extension(
    cert: &ParsedCert,
    aaguid: &[u8; 16],
) -> Result<(), VerifyError> {
    let Some((critical, value)) = cert.extension(OID_FIDO_GEN_CE_AAGUID) else {
        return Ok(());
    };
    if critical {
        return Err(VerifyError::AttestationCertificateInvalid(
            "id-fido-gen-ce-aaguid extension is marked critical".into(),
        ));
    }
    let inner = der::asn1::OctetString::from_der(value)
        .map_err(|_| VerifyError::AttestationAaguidMismatch)?;
    if inner.as_bytes() != aaguid {
        return Err(VerifyError::AttestationAaguidMismatch);
    }
    Ok(())
}

/// Reads attStmt `alg` as a COSE algorithm id.
pub(crate) fn read_alg(fmt: &'static str, stmt: &mut MapReader) -> Result<i64, VerifyError> {
    let alg = stmt.int("alg", "alg").map_err(|e| malformed(fmt, e))?;
    if CoseAlgorithm::from_id(alg).is_none() {
        return Err(VerifyError::AttestationAlgorithmMismatch(alg));
    }
    Ok(alg)
}

#[cfg(test)]
mod type_tests {
    use super::AttestationType;

    #[test]
    fn names_and_reasons() {
        let all = [
            (AttestationType::None, "none"),
            (AttestationType::SelfAttestation, "self"),
            (AttestationType::Basic, "basic"),
            (AttestationType::AttCa, "attca"),
            (AttestationType::AnonCa, "anonca"),
        ];
        for (t, name) in all {
            assert_eq!(t.as_str(), name);
            assert_eq!(t.to_string(), name);
        }
        assert_eq!(
            AttestationType::None.untrusted_reason(),
            "no attestation was provided"
        );
        assert_eq!(
            AttestationType::SelfAttestation.untrusted_reason(),
            "self attestation has no trust path"
        );
        assert_eq!(
            AttestationType::Basic.untrusted_reason(),
            "no certificate chain"
        );
    }
}

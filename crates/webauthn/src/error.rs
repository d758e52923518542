//! The one error of relying-party verification: each variant names the
//! check of WebAuthn L3 §7.1 (registration) or §7.2 (authentication), or of
//! an attestation format (§8), that failed.

use crate::authdata::AuthDataError;

/// Why a registration or an assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// §7.1 step 5: clientDataJSON is not the JSON object expected.
    #[error("clientDataJSON is malformed: {0}")]
    ClientDataMalformed(String),
    /// §7.1 step 7 / §7.2 step 11: wrong `type`.
    #[error("clientData.type is '{found}', expected '{expected}'")]
    ClientDataTypeMismatch {
        /// The type the ceremony needs.
        expected: &'static str,
        /// The type received.
        found: String,
    },
    /// §7.1 step 8: the challenge is not the one issued.
    #[error("clientData.challenge does not match the challenge issued")]
    ChallengeMismatch,
    /// §7.1 step 9: the origin is not an expected origin.
    #[error("clientData.origin '{0}' is not an expected origin")]
    OriginMismatch(String),
    /// §7.1 step 10: a cross-origin (iframe) ceremony the RP does not allow.
    #[error("clientData.crossOrigin is true but cross-origin ceremonies are not allowed")]
    CrossOriginNotAllowed,
    /// WebAuthn L2 §7.1 step 10: `tokenBinding.status` is not a known value.
    #[error("clientData.tokenBinding is invalid: {0}")]
    TokenBindingInvalid(String),
    /// §7.1 step 12: the attestation object is not the CBOR map expected.
    #[error("attestation object is malformed: {0}")]
    AttestationObjectMalformed(String),
    /// §6.1: authenticator data cannot be parsed.
    #[error("authenticator data is malformed: {0}")]
    AuthenticatorDataMalformed(AuthDataError),
    /// §7.1 step 12: registration authenticator data lacks attested
    /// credential data (AT flag clear).
    #[error("authenticator data carries no attested credential data")]
    AttestedCredentialDataMissing,
    /// §7.1 step 13 / §7.2 step 15: rpIdHash is not SHA-256 of the RP ID.
    #[error("authenticator data rpIdHash does not match the RP ID")]
    InvalidRpIdHash,
    /// §7.1 step 14 / §7.2 step 16: the UP flag is clear.
    #[error("user presence flag is not set")]
    UserNotPresent,
    /// §7.1 step 15 / §7.2 step 17: UV required but the UV flag is clear.
    #[error("user verification is required but the UV flag is not set")]
    UserNotVerified,
    /// §6.1: BS (backed up) set while BE (backup eligible) is clear.
    #[error("backup state flag is set without backup eligibility")]
    InvalidBackupFlags,
    /// §7.1 step 17: the credential's algorithm was not offered.
    #[error("credential algorithm {0} is not allowed")]
    AlgorithmNotAllowed(i64),
    /// The credential public key is unusable with its own algorithm.
    #[error("credential public key is invalid: {0}")]
    CredentialPublicKeyInvalid(String),
    /// §7.1 step 20: the attestation format is not one this verifier knows.
    #[error("attestation format '{0}' is not supported")]
    UnsupportedAttestationFormat(String),
    /// §8: attStmt lacks a field or has one of the wrong shape.
    #[error("{fmt} attestation statement is malformed: {detail}")]
    AttestationStatementMalformed {
        /// The attestation format.
        fmt: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// §8: `alg` does not suit the key that must verify `sig`.
    #[error("attestation algorithm {0} does not match the key")]
    AttestationAlgorithmMismatch(i64),
    /// §8: the attestation signature does not verify.
    #[error("attestation signature does not verify")]
    AttestationSignatureInvalid,
    /// §8.2.1, §8.3.1 etc.: the attestation certificate is unparsable or
    /// breaks a requirement of its format.
    #[error("attestation certificate is invalid: {0}")]
    AttestationCertificateInvalid(String),
    /// §8.2.1/§8.3.1: the id-fido-gen-ce-aaguid extension differs from the
    /// authenticator data's AAGUID.
    #[error("attestation certificate AAGUID extension does not match the AAGUID")]
    AttestationAaguidMismatch,
    /// §8.3/§8.4/§8.8: the attested public key is not the credential key.
    #[error("attested public key does not match the credential public key")]
    AttestationPublicKeyMismatch,
    /// §8.3: TPMS_ATTEST (certInfo) fails a check.
    #[error("TPM certInfo is invalid: {0}")]
    TpmCertInfoInvalid(String),
    /// §8.3: TPMT_PUBLIC (pubArea) is unreadable or unsupported.
    #[error("TPM pubArea is invalid: {0}")]
    TpmPubAreaInvalid(String),
    /// §8.3: a TPM attestation signed with SHA-1, not allowed by policy.
    #[error("TPM attestation signature uses SHA-1, which policy does not allow")]
    TpmSha1NotAllowed,
    /// §8.3.1: the TPM manufacturer is not on the allow list.
    #[error("TPM manufacturer '{0}' is not allowed")]
    TpmManufacturerNotAllowed(String),
    /// §8.4: the Android key description extension fails a check.
    #[error("android-key description is invalid: {0}")]
    AndroidKeyDescriptionInvalid(String),
    /// §8.4: attestationChallenge is not the client data hash.
    #[error("android-key attestationChallenge does not match clientDataHash")]
    AndroidKeyChallengeMismatch,
    /// §8.5: the SafetyNet JWS is malformed.
    #[error("android-safetynet response is malformed: {0}")]
    SafetyNetResponseMalformed(String),
    /// §8.5: the JWS nonce is not base64(SHA-256(authData || clientDataHash)).
    #[error("android-safetynet nonce does not match")]
    SafetyNetNonceMismatch,
    /// §8.5: the JWS was not signed by attest.android.com.
    #[error("android-safetynet certificate is not issued to attest.android.com")]
    SafetyNetHostnameMismatch,
    /// §8.5: ctsProfileMatch is false.
    #[error("android-safetynet ctsProfileMatch is false")]
    SafetyNetCtsProfileMismatch,
    /// §8.5: timestampMs is in the future or too old.
    #[error("android-safetynet timestamp is not fresh: {0}")]
    SafetyNetTimestampInvalid(String),
    /// §8.8: the nonce extension is not SHA-256(authData || clientDataHash).
    #[error("apple attestation nonce does not match")]
    AppleNonceMismatch,
    /// §7.1 step 23: the attestation is not trustworthy while policy
    /// requires trusted attestation.
    #[error("attestation is not trusted: {0}")]
    AttestationNotTrusted(String),
    /// A trust anchor given to the store is not a certificate.
    #[error("trust anchor is invalid: {0}")]
    TrustAnchorInvalid(String),
    /// FIDO MDS3 §3.1.7: the metadata BLOB is not a readable JWT.
    #[error("metadata BLOB is malformed: {0}")]
    MetadataBlobMalformed(String),
    /// FIDO MDS3: the BLOB's x5c chain does not reach the MDS root at the clock.
    #[error("metadata BLOB signer is not trusted: {0}")]
    MetadataSignerNotTrusted(String),
    /// FIDO MDS3: the BLOB's signature does not verify.
    #[error("metadata BLOB signature does not verify")]
    MetadataSignatureInvalid,
    /// §7.2 step 21: the assertion signature does not verify.
    #[error("assertion signature does not verify")]
    SignatureInvalid,
    /// §7.2 step 22: the signature counter did not increase.
    #[error("signature counter {received} is not greater than the stored {stored}")]
    CounterRegression {
        /// Counter stored from the previous ceremony.
        stored: u32,
        /// Counter in this assertion.
        received: u32,
    },
}

impl VerifyError {
    /// A stable camelCase name of the failed check, for logs, metrics and
    /// API error mapping.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ClientDataMalformed(_) => "clientDataMalformed",
            Self::ClientDataTypeMismatch { .. } => "clientDataTypeMismatch",
            Self::ChallengeMismatch => "challengeMismatch",
            Self::OriginMismatch(_) => "originMismatch",
            Self::CrossOriginNotAllowed => "crossOriginNotAllowed",
            Self::TokenBindingInvalid(_) => "tokenBindingInvalid",
            Self::AttestationObjectMalformed(_) => "attestationObjectMalformed",
            Self::AuthenticatorDataMalformed(_) => "authenticatorDataMalformed",
            Self::AttestedCredentialDataMissing => "attestedCredentialDataMissing",
            Self::InvalidRpIdHash => "invalidRpIdHash",
            Self::UserNotPresent => "userNotPresent",
            Self::UserNotVerified => "userNotVerified",
            Self::InvalidBackupFlags => "invalidBackupFlags",
            Self::AlgorithmNotAllowed(_) => "algorithmNotAllowed",
            Self::CredentialPublicKeyInvalid(_) => "credentialPublicKeyInvalid",
            Self::UnsupportedAttestationFormat(_) => "unsupportedAttestationFormat",
            Self::AttestationStatementMalformed { .. } => "attestationStatementMalformed",
            Self::AttestationAlgorithmMismatch(_) => "attestationAlgorithmMismatch",
            Self::AttestationSignatureInvalid => "attestationSignatureInvalid",
            Self::AttestationCertificateInvalid(_) => "attestationCertificateInvalid",
            Self::AttestationAaguidMismatch => "attestationAaguidMismatch",
            Self::AttestationPublicKeyMismatch => "attestationPublicKeyMismatch",
            Self::TpmCertInfoInvalid(_) => "tpmCertInfoInvalid",
            Self::TpmPubAreaInvalid(_) => "tpmPubAreaInvalid",
            Self::TpmSha1NotAllowed => "tpmSha1NotAllowed",
            Self::TpmManufacturerNotAllowed(_) => "tpmManufacturerNotAllowed",
            Self::AndroidKeyDescriptionInvalid(_) => "androidKeyDescriptionInvalid",
            Self::AndroidKeyChallengeMismatch => "androidKeyChallengeMismatch",
            Self::SafetyNetResponseMalformed(_) => "safetyNetResponseMalformed",
            Self::SafetyNetNonceMismatch => "safetyNetNonceMismatch",
            Self::SafetyNetHostnameMismatch => "safetyNetHostnameMismatch",
            Self::SafetyNetCtsProfileMismatch => "safetyNetCtsProfileMismatch",
            Self::SafetyNetTimestampInvalid(_) => "safetyNetTimestampInvalid",
            Self::AppleNonceMismatch => "appleNonceMismatch",
            Self::AttestationNotTrusted(_) => "attestationNotTrusted",
            Self::TrustAnchorInvalid(_) => "trustAnchorInvalid",
            Self::MetadataBlobMalformed(_) => "metadataBlobMalformed",
            Self::MetadataSignerNotTrusted(_) => "metadataSignerNotTrusted",
            Self::MetadataSignatureInvalid => "metadataSignatureInvalid",
            Self::SignatureInvalid => "signatureInvalid",
            Self::CounterRegression { .. } => "counterRegression",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_camel_case_and_messages_readable() {
        let e = VerifyError::CounterRegression {
            stored: 5,
            received: 4,
        };
        assert_eq!(e.code(), "counterRegression");
        assert!(e.to_string().contains("stored 5"));
        assert_eq!(VerifyError::InvalidRpIdHash.code(), "invalidRpIdHash");
    }
}

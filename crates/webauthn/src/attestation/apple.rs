//! `apple` anonymous attestation (WebAuthn L3 §8.8).

use const_oid::ObjectIdentifier;
use sha2::{Digest, Sha256};

use super::{malformed, open, read_x5c, AttestationType, StatementContext, StatementOutcome};
use crate::cbor::Value;
use crate::error::VerifyError;
use crate::tlv;
use crate::trust::same_public_key;

const FMT: &str = "apple";

/// Apple's nonce extension.
const OID_APPLE_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113635.100.8.2");

/// Verifies an `apple` statement: `{x5c}`.
pub(crate) fn verify(
    att_stmt: Value,
    ctx: &StatementContext,
) -> Result<StatementOutcome, VerifyError> {
    let mut stmt = open(FMT, att_stmt)?;
    let items = stmt
        .opt_array("x5c", "x5c")
        .map_err(|e| malformed(FMT, e))?
        .ok_or_else(|| malformed(FMT, "x5c is missing"))?;
    let chain = read_x5c(FMT, items)?;
    let leaf = &chain[0];
    // §8.8 steps 2–4: nonce = SHA-256(authData || clientDataHash) equals the
    // extension's value: SEQUENCE { [1] EXPLICIT OCTET STRING }.
    let nonce = Sha256::digest(ctx.signed_data());
    let (_, ext) = leaf.extension(OID_APPLE_NONCE).ok_or_else(|| {
        VerifyError::AttestationCertificateInvalid("nonce extension is missing".into())
    })?;
    let found = read_nonce(ext).ok_or_else(|| {
        VerifyError::AttestationCertificateInvalid("nonce extension is malformed".into())
    })?;
    if found != nonce.as_slice() {
        return Err(VerifyError::AppleNonceMismatch);
    }
    // §8.8 step 5: the certificate key is the credential key.
    if !same_public_key(&leaf.public_key()?, &ctx.attested.public_key) {
        return Err(VerifyError::AttestationPublicKeyMismatch);
    }
    Ok(StatementOutcome {
        attestation_type: AttestationType::AnonCa,
        chain,
    })
}

fn read_nonce(ext: &[u8]) -> Option<&[u8]> {
    let (seq, _) = tlv::read(ext)?;
    if !seq.is_universal(tlv::SEQUENCE) {
        return None;
    }
    let tagged = tlv::children(seq.value)?
        .into_iter()
        .find(|t| t.is_context(1))?;
    let (octets, _) = tlv::read(tagged.value)?;
    octets
        .is_universal(tlv::OCTET_STRING)
        .then_some(octets.value)
}

//! `packed` attestation (WebAuthn L3 §8.2): x5c (basic / AttCA) or self.

use const_oid::db::rfc4519;

use super::{
    check_aaguid_extension, malformed, open, read_alg, read_x5c, verify_with_cert, AttestationType,
    StatementContext, StatementOutcome,
};
use crate::cbor::Value;
use crate::error::VerifyError;
use crate::trust::ParsedCert;

const FMT: &str = "packed";

/// Verifies a `packed` statement: `{alg, sig, x5c?}`.
pub(crate) fn verify(
    att_stmt: Value,
    ctx: &StatementContext,
) -> Result<StatementOutcome, VerifyError> {
    let mut stmt = open(FMT, att_stmt)?;
    let alg = read_alg(FMT, &mut stmt)?;
    let sig = stmt.bytes("sig", "sig").map_err(|e| malformed(FMT, e))?;
    let x5c = stmt
        .opt_array("x5c", "x5c")
        .map_err(|e| malformed(FMT, e))?;
    let signed = ctx.signed_data();
    match x5c {
        Some(items) => {
            let chain = read_x5c(FMT, items)?;
            let leaf = &chain[0];
            verify_with_cert(leaf, alg, &signed, &sig)?;
            check_certificate_requirements(leaf, ctx.policy.lenient_x509_der)?;
            check_aaguid_extension(leaf, &ctx.attested.aaguid)?;
            Ok(StatementOutcome {
                attestation_type: AttestationType::Basic,
                chain,
            })
        }
        None => {
            // §8.2 self attestation: alg must be the credential's, and the
            // credential key signs.
            let key = &ctx.attested.public_key;
            if alg != key.alg() {
                return Err(VerifyError::AttestationAlgorithmMismatch(alg));
            }
            key.verify(&signed, &sig)
                .map_err(|_| VerifyError::AttestationSignatureInvalid)?;
            Ok(StatementOutcome {
                attestation_type: AttestationType::SelfAttestation,
                chain: Vec::new(),
            })
        }
    }
}

/// §8.2.1 packed attestation statement certificate requirements.
pub(crate) fn check_certificate_requirements(
    cert: &ParsedCert,
    lenient: bool,
) -> Result<(), VerifyError> {
    let fail = |m: &str| Err(VerifyError::AttestationCertificateInvalid(m.to_string()));
    if !cert.is_v3() {
        return fail("version is not 3");
    }
    let has = |oid| cert.subject_attr(oid).iter().any(|v| !v.is_empty());
    if !has(rfc4519::C) {
        return fail("subject lacks C");
    }
    if !has(rfc4519::O) {
        return fail("subject lacks O");
    }
    if !has(rfc4519::CN) {
        return fail("subject lacks CN");
    }
    if !cert
        .subject_attr(rfc4519::OU)
        .iter()
        .any(|v| v == "Authenticator Attestation")
    {
        return fail("subject OU is not 'Authenticator Attestation'");
    }
    if cert.basic_constraints_ca(lenient)? == Some(true) {
        return fail("basic constraints CA is true");
    }
    Ok(())
}

//! `fido-u2f` attestation (WebAuthn L3 §8.6).

use super::{
    malformed, open, read_x5c, verify_with_cert, AttestationType, StatementContext,
    StatementOutcome,
};
use crate::cbor::Value;
use crate::cose::{CoseAlgorithm, CoseKey, EcCurve};
use crate::error::VerifyError;

const FMT: &str = "fido-u2f";

/// Verifies a `fido-u2f` statement: `{sig, x5c: [cert]}`.
pub(crate) fn verify(
    att_stmt: Value,
    ctx: &StatementContext,
) -> Result<StatementOutcome, VerifyError> {
    let mut stmt = open(FMT, att_stmt)?;
    let sig = stmt.bytes("sig", "sig").map_err(|e| malformed(FMT, e))?;
    let items = stmt
        .opt_array("x5c", "x5c")
        .map_err(|e| malformed(FMT, e))?
        .ok_or_else(|| malformed(FMT, "x5c is missing"))?;
    // §8.6 step 2: exactly one certificate, with a P-256 key.
    if items.len() != 1 {
        return Err(malformed(FMT, "x5c must hold exactly one certificate"));
    }
    let chain = read_x5c(FMT, items)?;
    let cert_key = chain[0].public_key()?;
    if !matches!(
        cert_key,
        CoseKey::Ec2 {
            curve: EcCurve::P256,
            ..
        }
    ) {
        return Err(VerifyError::AttestationCertificateInvalid(
            "fido-u2f certificate key is not P-256".into(),
        ));
    }
    // §8.6 step 4: the credential key must be an uncompressed P-256 point.
    let CoseKey::Ec2 {
        curve: EcCurve::P256,
        x,
        y,
        ..
    } = &ctx.attested.public_key
    else {
        return Err(VerifyError::CredentialPublicKeyInvalid(
            "fido-u2f credential key is not P-256".into(),
        ));
    };
    // §8.6 step 5: verificationData.
    let mut data = Vec::with_capacity(1 + 32 + 32 + ctx.attested.credential_id.len() + 65);
    data.push(0x00);
    data.extend_from_slice(&ctx.auth_data.rp_id_hash);
    data.extend_from_slice(&ctx.client_data_hash);
    data.extend_from_slice(&ctx.attested.credential_id);
    data.push(0x04);
    data.extend_from_slice(x);
    data.extend_from_slice(y);
    verify_with_cert(&chain[0], CoseAlgorithm::Es256.id(), &data, &sig)?;
    Ok(StatementOutcome {
        attestation_type: AttestationType::Basic,
        chain,
    })
}

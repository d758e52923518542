//! `none` attestation (WebAuthn L3 §8.7).

use super::{malformed, AttestationType, StatementContext, StatementOutcome};
use crate::cbor::Value;
use crate::error::VerifyError;

/// Verifies a `none` statement: attStmt must be the empty map.
pub(crate) fn verify(
    att_stmt: Value,
    _ctx: &StatementContext,
) -> Result<StatementOutcome, VerifyError> {
    match att_stmt {
        Value::Map(m) if m.is_empty() => Ok(StatementOutcome {
            attestation_type: AttestationType::None,
            chain: Vec::new(),
        }),
        _ => Err(malformed("none", "attStmt is not empty")),
    }
}

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

#[cfg(test)]
mod tests {
    use crate::cbor::{MapBuilder, Value};

    /// WebAuthn L3 §8.7: `none` has an empty attStmt; anything in it is
    /// refused (a statement claiming more than it proves).
    #[test]
    fn only_an_empty_statement() {
        use crate::authdata::{AttestedCredentialData, AuthenticatorData, Flags};
        use crate::cose::{CoseAlgorithm, CoseKey};
        let k = crate::testutil::key();
        let public_key = CoseKey::from_p256(CoseAlgorithm::Es256, &k.verifying_key().into());
        let attested = AttestedCredentialData {
            aaguid: [0; 16],
            credential_id: vec![1; 16],
            public_key_bytes: public_key.to_bytes(),
            public_key,
        };
        let auth_data = AuthenticatorData {
            rp_id_hash: [0; 32],
            flags: Flags(Flags::UP),
            sign_count: 0,
            attested: Some(attested.clone()),
            extensions: None,
        };
        let raw = auth_data.to_bytes();
        let policy = crate::RegistrationPolicy::default();
        let ctx = super::StatementContext {
            auth_data_raw: &raw,
            auth_data: &auth_data,
            attested: &attested,
            client_data_hash: [0; 32],
            policy: &policy,
            now: time::OffsetDateTime::now_utc(),
        };
        assert!(super::verify(MapBuilder::new().build(), &ctx).is_ok());
        let full = MapBuilder::new().text("alg", -7i64).build();
        assert!(super::verify(full, &ctx).is_err());
        assert!(super::verify(Value::Array(vec![]), &ctx).is_err());
    }
}

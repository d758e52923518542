//! `android-safetynet` attestation (WebAuthn L3 §8.5): a JWS from Google's
//! SafetyNet service, signed by attest.android.com.

use const_oid::db::rfc4519;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{malformed, open, AttestationType, StatementContext, StatementOutcome};
use crate::b64;
use crate::cbor::Value;
use crate::cose::CoseAlgorithm;
use crate::error::VerifyError;
use crate::jws;
use crate::trust::ParsedCert;

const FMT: &str = "android-safetynet";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    nonce: String,
    timestamp_ms: Option<i64>,
    #[serde(default)]
    cts_profile_match: bool,
}

/// Verifies an `android-safetynet` statement: `{ver, response}`.
pub(crate) fn verify(
    att_stmt: Value,
    ctx: &StatementContext,
) -> Result<StatementOutcome, VerifyError> {
    let mut stmt = open(FMT, att_stmt)?;
    let ver = stmt.text("ver", "ver").map_err(|e| malformed(FMT, e))?;
    if ver.is_empty() {
        return Err(malformed(FMT, "ver is empty"));
    }
    let response = stmt
        .bytes("response", "response")
        .map_err(|e| malformed(FMT, e))?;
    let bad = |m: String| VerifyError::SafetyNetResponseMalformed(m);
    let jws = jws::Compact::parse(&response).map_err(bad)?;
    let chain = jws
        .header
        .x5c
        .iter()
        .map(|c| {
            let der = b64::decode_lenient(c).map_err(|_| bad("x5c entry is not base64".into()))?;
            ParsedCert::parse(&der)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = chain
        .first()
        .ok_or_else(|| bad("JWS header has no x5c".into()))?;
    // §8.5 step 3: signed by attest.android.com.
    if !leaf
        .subject_attr(rfc4519::CN)
        .iter()
        .any(|cn| cn == "attest.android.com")
    {
        return Err(VerifyError::SafetyNetHostnameMismatch);
    }
    let alg = CoseAlgorithm::from_name(&jws.header.alg)
        .ok_or_else(|| bad(format!("unsupported JWS alg {}", jws.header.alg)))?;
    jws.verify(&leaf.public_key()?, alg)
        .map_err(|_| VerifyError::AttestationSignatureInvalid)?;

    let payload: Payload = serde_json::from_slice(&jws.payload).map_err(|e| bad(e.to_string()))?;
    // §8.5 step 2: nonce = base64(SHA-256(authData || clientDataHash)).
    let expected = Sha256::digest(ctx.signed_data());
    let nonce =
        b64::decode_lenient(&payload.nonce).map_err(|_| VerifyError::SafetyNetNonceMismatch)?;
    if nonce != expected.as_slice() {
        return Err(VerifyError::SafetyNetNonceMismatch);
    }
    if ctx.policy.enforce_safetynet_cts_profile_match && !payload.cts_profile_match {
        return Err(VerifyError::SafetyNetCtsProfileMismatch);
    }
    if !ctx.policy.skip_safetynet_timestamp_freshness {
        let ts = payload.timestamp_ms.ok_or_else(|| {
            VerifyError::SafetyNetTimestampInvalid("timestampMs is missing".into())
        })?;
        let now_ms = (ctx.now.unix_timestamp_nanos() / 1_000_000) as i64;
        let max_age_ms = i64::try_from(ctx.policy.safetynet_max_age_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        if ts > now_ms {
            return Err(VerifyError::SafetyNetTimestampInvalid(
                "in the future".into(),
            ));
        }
        if now_ms - ts > max_age_ms {
            return Err(VerifyError::SafetyNetTimestampInvalid(format!(
                "{} s old",
                (now_ms - ts) / 1000
            )));
        }
    }
    Ok(StatementOutcome {
        attestation_type: AttestationType::Basic,
        chain,
    })
}

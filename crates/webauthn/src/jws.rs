//! JWS compact serialisation (RFC 7515) as SafetyNet responses and FIDO
//! metadata BLOBs use it: a header with `alg` and `x5c`, a payload, and a
//! signature verified with RustCrypto through COSE keys.

use serde::Deserialize;

use crate::b64;
use crate::cose::{self, CoseAlgorithm, CoseKey, SignatureError};

/// The JOSE header fields Keysmith reads.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Header {
    pub alg: String,
    #[serde(default)]
    pub x5c: Vec<String>,
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug, Clone)]
pub(crate) struct Compact {
    pub header: Header,
    pub payload: Vec<u8>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

impl Compact {
    /// Splits and decodes `header.payload.signature`.
    pub(crate) fn parse(text: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(text).map_err(|_| "JWS is not UTF-8".to_string())?;
        let text = text.trim();
        let mut parts = text.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("JWS does not have three parts".into());
        };
        let header_bytes = b64::decode_lenient(h).map_err(|_| "JWS header is not base64url")?;
        let header: Header =
            serde_json::from_slice(&header_bytes).map_err(|e| format!("JWS header: {e}"))?;
        let payload = b64::decode_lenient(p).map_err(|_| "JWS payload is not base64url")?;
        let signature = b64::decode_lenient(s).map_err(|_| "JWS signature is not base64url")?;
        Ok(Self {
            header,
            payload,
            signing_input: format!("{h}.{p}").into_bytes(),
            signature,
        })
    }

    /// Verifies the signature with `key` under `alg`. JWS ECDSA signatures
    /// are fixed-size `r || s` (RFC 7518 §3.4), turned into DER here.
    pub(crate) fn verify(&self, key: &CoseKey, alg: CoseAlgorithm) -> Result<(), SignatureError> {
        let sig = match alg {
            CoseAlgorithm::Es256 => p256::ecdsa::Signature::from_slice(&self.signature)
                .map_err(|_| SignatureError::MalformedSignature)?
                .to_der()
                .as_bytes()
                .to_vec(),
            CoseAlgorithm::Es384 => p384::ecdsa::Signature::from_slice(&self.signature)
                .map_err(|_| SignatureError::MalformedSignature)?
                .to_der()
                .as_bytes()
                .to_vec(),
            _ => self.signature.clone(),
        };
        cose::verify_signature(key, alg.id(), &self.signing_input, &sig)
    }
}

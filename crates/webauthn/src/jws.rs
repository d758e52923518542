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

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::{signature::Signer, SigningKey};

    fn signed(alg: &str, key: &SigningKey) -> String {
        let input = format!(
            "{}.{}",
            b64::encode(format!(r#"{{"alg":"{alg}","x5c":["AA"]}}"#)),
            b64::encode("payload")
        );
        let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64::encode(sig.to_bytes()))
    }

    /// RFC 7515 §7.1 compact form: exactly three parts; RFC 7518 §3.4:
    /// ES256 signatures are raw r||s (64 bytes), not DER.
    #[test]
    fn compact_es256() {
        let key = SigningKey::random(&mut rand::thread_rng());
        let cose = CoseKey::from_p256(CoseAlgorithm::Es256, &key.verifying_key().into());
        let jws = signed("ES256", &key);
        let c = Compact::parse(format!(" {jws}\n").as_bytes()).unwrap();
        assert_eq!(c.header.alg, "ES256");
        assert_eq!(c.header.x5c, vec!["AA".to_string()]);
        assert_eq!(c.payload, b"payload");
        assert_eq!(c.verify(&cose, CoseAlgorithm::Es256), Ok(()));
        // Another key, a signature of the wrong size.
        let other = SigningKey::random(&mut rand::thread_rng());
        let other = CoseKey::from_p256(CoseAlgorithm::Es256, &other.verifying_key().into());
        assert_eq!(
            c.verify(&other, CoseAlgorithm::Es256),
            Err(SignatureError::Invalid)
        );
        let short = Compact {
            signature: c.signature[..63].to_vec(),
            ..c.clone()
        };
        assert_eq!(
            short.verify(&cose, CoseAlgorithm::Es256),
            Err(SignatureError::MalformedSignature)
        );
        assert_eq!(
            short.verify(&cose, CoseAlgorithm::Es384),
            Err(SignatureError::MalformedSignature)
        );
        // Other algorithms take the signature bytes as they are.
        assert_eq!(
            c.verify(&cose, CoseAlgorithm::Rs256),
            Err(SignatureError::KeyAlgorithmMismatch(-257))
        );
    }

    #[test]
    fn malformed_compact_forms() {
        let key = SigningKey::random(&mut rand::thread_rng());
        let jws = signed("ES256", &key);
        let parts: Vec<&str> = jws.split('.').collect();
        for (text, want) in [
            (format!("{}.{}", parts[0], parts[1]), "three parts"),
            (format!("{jws}.AA"), "three parts"),
            (
                format!("!.{}.{}", parts[1], parts[2]),
                "header is not base64url",
            ),
            (
                format!("{}.!.{}", parts[0], parts[2]),
                "payload is not base64url",
            ),
            (
                format!("{}.{}.!", parts[0], parts[1]),
                "signature is not base64url",
            ),
            (
                format!("{}.{}.{}", b64::encode("[]"), parts[1], parts[2]),
                "JWS header:",
            ),
        ] {
            let e = Compact::parse(text.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        assert_eq!(
            Compact::parse(&[0xff, b'.']).unwrap_err(),
            "JWS is not UTF-8"
        );
    }
}

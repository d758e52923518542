//! base64url as WebAuthn uses it (RFC 4648 §5, no padding), with a lenient
//! decoder for the encodings seen in the wild (padded, standard alphabet).

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Error of a base64 decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not valid base64url")]
pub struct Base64Error;

const LENIENT_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(false),
);
const LENIENT_STD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(false),
);

/// Encodes as base64url without padding.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes strict base64url without padding.
pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| Base64Error)
}

/// Decodes base64url or standard base64, padded or not. A string that mixes
/// the two alphabets (`-` with `+`, say) is rejected: each alphabet's
/// decoder refuses the other's characters.
pub fn decode_lenient(text: &str) -> Result<Vec<u8>, Base64Error> {
    let text = text.trim();
    let engine = if text.contains(['+', '/']) {
        &LENIENT_STD
    } else {
        &LENIENT_URL
    };
    engine.decode(text).map_err(|_| Base64Error)
}

/// Serde adapter: `#[serde(with = "webauthn::b64::serde_bytes")]` writes
/// base64url and reads any encoding [`decode_lenient`] accepts.
pub mod serde_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the bytes as unpadded base64url.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode(bytes))
    }

    /// Reads any encoding [`super::decode_lenient`] accepts (base64url or
    /// standard base64, padded or not).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        super::decode_lenient(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde adapter for an optional byte field: `null`, absent or `""` read
/// as `None`; `None` is written as `null` (skip it with
/// `skip_serializing_if`).
pub mod serde_opt_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the bytes as unpadded base64url, or `null` when `None`.
    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_str(&super::encode(b)),
            None => s.serialize_none(),
        }
    }

    /// Reads base64url; `null`, an absent field or `""` is `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(t) if t.is_empty() => Ok(None),
            Some(t) => super::decode_lenient(&t)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_lenient_forms() {
        let bytes = [0xfbu8, 0xff, 0x3e, 0x01];
        assert_eq!(encode(bytes), "-_8-AQ");
        assert_eq!(decode("-_8-AQ").unwrap(), bytes);
        assert_eq!(decode_lenient("-_8-AQ==").unwrap(), bytes);
        assert_eq!(decode_lenient("+/8+AQ==").unwrap(), bytes);
        assert_eq!(decode_lenient("+/8+AQ").unwrap(), bytes);
        assert!(decode_lenient("-/8+AQ").is_err());
        assert!(decode("-_8-AQ==").is_err());
        assert!(decode("!!").is_err());
    }

    #[test]
    fn mixed_alphabets_and_trailing_bits_are_refused() {
        for mixed in ["-/8+AQ", "+_8-AQ", "_/", "-+"] {
            assert_eq!(decode_lenient(mixed), Err(Base64Error), "{mixed}");
        }
        // "AB" leaves non-zero bits after the last byte.
        assert_eq!(decode_lenient("AB"), Err(Base64Error));
        assert_eq!(decode_lenient(" AA== "), Ok(vec![0]));
    }

    #[test]
    fn serde_adapter_writes_base64url_and_reads_any_form() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Holder {
            #[serde(with = "super::serde_bytes")]
            v: Vec<u8>,
        }
        let h = Holder {
            v: vec![0xfb, 0xff, 0x3e, 0x01],
        };
        assert_eq!(serde_json::to_string(&h).unwrap(), r#"{"v":"-_8-AQ"}"#);
        for text in ["-_8-AQ", "+/8+AQ==", "-_8-AQ=="] {
            let back: Holder = serde_json::from_str(&format!(r#"{{"v":"{text}"}}"#)).unwrap();
            assert_eq!(back, h, "{text}");
        }
        let e = serde_json::from_str::<Holder>(r#"{"v":"-/8+AQ"}"#).unwrap_err();
        assert!(e.to_string().contains("base64url"), "{e}");
        assert!(serde_json::from_str::<Holder>(r#"{"v":5}"#).is_err());
    }
}

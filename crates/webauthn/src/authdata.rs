//! Authenticator data (WebAuthn L3 §6.1) and attested credential data
//! (§6.5.1): parsing from untrusted bytes and encoding.

use crate::cbor::{self, Value};
use crate::cose::CoseKey;

/// The flags byte of authenticator data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// User present.
    pub const UP: u8 = 0x01;
    /// User verified.
    pub const UV: u8 = 0x04;
    /// Backup eligible.
    pub const BE: u8 = 0x08;
    /// Backed up.
    pub const BS: u8 = 0x10;
    /// Attested credential data included.
    pub const AT: u8 = 0x40;
    /// Extension data included.
    pub const ED: u8 = 0x80;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit == bit
    }
    pub fn user_present(self) -> bool {
        self.has(Self::UP)
    }
    pub fn user_verified(self) -> bool {
        self.has(Self::UV)
    }
    pub fn backup_eligible(self) -> bool {
        self.has(Self::BE)
    }
    pub fn backed_up(self) -> bool {
        self.has(Self::BS)
    }
}

/// Attested credential data: AAGUID, credential id and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredentialData {
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    pub public_key: CoseKey,
    /// The COSE key exactly as the authenticator encoded it.
    pub public_key_bytes: Vec<u8>,
}

/// Parsed authenticator data.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthenticatorData {
    pub rp_id_hash: [u8; 32],
    pub flags: Flags,
    pub sign_count: u32,
    pub attested: Option<AttestedCredentialData>,
    /// The extensions map (present iff the ED flag is set).
    pub extensions: Option<Value>,
}

/// Why authenticator data could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthDataError {
    #[error("authenticator data is shorter than 37 bytes")]
    TooShort,
    #[error("attested credential data is truncated")]
    AttestedDataTruncated,
    #[error("credential id is longer than 1023 bytes")]
    CredentialIdTooLong,
    #[error("credential public key is not a valid COSE key: {0}")]
    BadPublicKey(cbor::CborError),
    #[error("extensions are not a CBOR map: {0}")]
    BadExtensions(cbor::CborError),
    #[error("authenticator data has {0} unexpected trailing bytes")]
    TrailingBytes(usize),
}

/// WebAuthn L3 §6.5.1: credentialIdLength must not exceed 1023.
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;

impl AuthenticatorData {
    /// Parses authenticator data; the AT and ED flags decide which optional
    /// parts must follow, and nothing may follow them.
    pub fn parse(bytes: &[u8]) -> Result<Self, AuthDataError> {
        if bytes.len() < 37 {
            return Err(AuthDataError::TooShort);
        }
        let rp_id_hash: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
        let flags = Flags(bytes[32]);
        let sign_count = u32::from_be_bytes(bytes[33..37].try_into().expect("4 bytes"));
        let mut rest = &bytes[37..];

        let attested = if flags.has(Flags::AT) {
            if rest.len() < 18 {
                return Err(AuthDataError::AttestedDataTruncated);
            }
            let aaguid: [u8; 16] = rest[..16].try_into().expect("16 bytes");
            let id_len = u16::from_be_bytes([rest[16], rest[17]]) as usize;
            if id_len > MAX_CREDENTIAL_ID_LEN {
                return Err(AuthDataError::CredentialIdTooLong);
            }
            rest = &rest[18..];
            if rest.len() < id_len {
                return Err(AuthDataError::AttestedDataTruncated);
            }
            let credential_id = rest[..id_len].to_vec();
            rest = &rest[id_len..];
            let (key_value, used) =
                cbor::decode_prefix(rest).map_err(AuthDataError::BadPublicKey)?;
            let public_key = CoseKey::from_cbor(key_value).map_err(AuthDataError::BadPublicKey)?;
            let public_key_bytes = rest[..used].to_vec();
            rest = &rest[used..];
            Some(AttestedCredentialData {
                aaguid,
                credential_id,
                public_key,
                public_key_bytes,
            })
        } else {
            None
        };

        let extensions = if flags.has(Flags::ED) {
            let (value, used) = cbor::decode_prefix(rest).map_err(AuthDataError::BadExtensions)?;
            if !matches!(value, Value::Map(_)) {
                return Err(AuthDataError::BadExtensions(
                    cbor::CborError::UnexpectedType("extensions"),
                ));
            }
            rest = &rest[used..];
            Some(value)
        } else {
            None
        };

        if !rest.is_empty() {
            return Err(AuthDataError::TrailingBytes(rest.len()));
        }
        Ok(Self {
            rp_id_hash,
            flags,
            sign_count,
            attested,
            extensions,
        })
    }

    /// Encodes authenticator data; AT and ED are set from the content.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut flags = self.flags.0 & !(Flags::AT | Flags::ED);
        if self.attested.is_some() {
            flags |= Flags::AT;
        }
        if self.extensions.is_some() {
            flags |= Flags::ED;
        }
        let mut out = Vec::with_capacity(37 + 200);
        out.extend_from_slice(&self.rp_id_hash);
        out.push(flags);
        out.extend_from_slice(&self.sign_count.to_be_bytes());
        if let Some(att) = &self.attested {
            out.extend_from_slice(&att.aaguid);
            out.extend_from_slice(&(att.credential_id.len() as u16).to_be_bytes());
            out.extend_from_slice(&att.credential_id);
            out.extend_from_slice(&att.public_key_bytes);
        }
        if let Some(ext) = &self.extensions {
            out.extend_from_slice(&cbor::encode(ext));
        }
        out
    }

    /// The value of one extension output, by its identifier.
    pub fn extension(&self, id: &str) -> Option<&Value> {
        match &self.extensions {
            Some(Value::Map(entries)) => entries
                .iter()
                .find(|(k, _)| matches!(k, Value::Text(t) if t == id))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Formats a 16-byte AAGUID as a lower-case hyphenated UUID.
pub fn format_aaguid(aaguid: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*aaguid).hyphenated().to_string()
}

/// Parses a UUID-formatted AAGUID (with or without hyphens).
pub fn parse_aaguid(text: &str) -> Option<[u8; 16]> {
    uuid::Uuid::parse_str(text.trim())
        .ok()
        .map(|u| *u.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::MapBuilder;
    use crate::cose::CoseKey;

    fn sample() -> AuthenticatorData {
        let key = CoseKey::Ed25519 {
            alg: -8,
            x: [7; 32],
        };
        AuthenticatorData {
            rp_id_hash: [1; 32],
            flags: Flags(Flags::UP | Flags::UV),
            sign_count: 42,
            attested: Some(AttestedCredentialData {
                aaguid: [9; 16],
                credential_id: vec![5; 40],
                public_key_bytes: key.to_bytes(),
                public_key: key,
            }),
            extensions: Some(MapBuilder::new().text("credProtect", 2).build()),
        }
    }

    #[test]
    fn round_trip() {
        let ad = sample();
        let bytes = ad.to_bytes();
        assert_eq!(bytes[32], Flags::UP | Flags::UV | Flags::AT | Flags::ED);
        let parsed = AuthenticatorData::parse(&bytes).unwrap();
        assert_eq!(parsed.flags.0, bytes[32]);
        assert_eq!(parsed.attested, ad.attested);
        assert_eq!(parsed.extension("credProtect"), Some(&cbor::int(2)));
    }

    #[test]
    fn truncations_and_trailing_bytes_are_errors() {
        let bytes = sample().to_bytes();
        for cut in 0..bytes.len() {
            assert!(
                AuthenticatorData::parse(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            AuthenticatorData::parse(&long),
            Err(AuthDataError::TrailingBytes(1))
        );
    }

    #[test]
    fn aaguid_text() {
        let a = parse_aaguid("cb69481e-8ff7-4039-93ec-0a2729a154a8").unwrap();
        assert_eq!(format_aaguid(&a), "cb69481e-8ff7-4039-93ec-0a2729a154a8");
    }
}

#[cfg(test)]
mod fuzz_regressions {
    /// Found by `cargo fuzz run authenticator_data`: extension map keys
    /// whose old comparison was not a total order made the sort panic.
    #[test]
    fn unordered_extension_keys_do_not_panic() {
        let bytes = include_bytes!("../tests/data/fuzz/authdata-unordered-map-keys.bin");
        let _ = super::AuthenticatorData::parse(bytes);
    }
}

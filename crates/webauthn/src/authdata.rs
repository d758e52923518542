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

    /// Whether every bit of `bit` is set.
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit == bit
    }
    /// UP: the user touched the key.
    pub fn user_present(self) -> bool {
        self.has(Self::UP)
    }
    /// UV: the authenticator verified the user (PIN or biometrics).
    pub fn user_verified(self) -> bool {
        self.has(Self::UV)
    }
    /// BE: the credential may be backed up (synced passkey); a security key's is not.
    pub fn backup_eligible(self) -> bool {
        self.has(Self::BE)
    }
    /// BS: the credential is backed up now.
    pub fn backed_up(self) -> bool {
        self.has(Self::BS)
    }
}

/// Attested credential data: AAGUID, credential id and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredentialData {
    /// The authenticator model's AAGUID (all zeros when it does not say).
    pub aaguid: [u8; 16],
    /// The credential id (at most 1023 bytes, WebAuthn L3 §6.5.1).
    pub credential_id: Vec<u8>,
    /// The credential public key, decoded.
    pub public_key: CoseKey,
    /// The COSE key exactly as the authenticator encoded it.
    pub public_key_bytes: Vec<u8>,
}

/// Parsed authenticator data.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthenticatorData {
    /// SHA-256 of the RP ID the credential is scoped to.
    pub rp_id_hash: [u8; 32],
    /// The flags byte (UP, UV, BE, BS, AT, ED).
    pub flags: Flags,
    /// The signature counter (0 when the authenticator keeps none).
    pub sign_count: u32,
    /// The attested credential data (present iff the AT flag is set: registrations).
    pub attested: Option<AttestedCredentialData>,
    /// The extensions map (present iff the ED flag is set).
    pub extensions: Option<Value>,
}

/// Why authenticator data could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthDataError {
    #[error("authenticator data is shorter than 37 bytes")]
    /// Fewer than the 37 bytes every authenticator data has.
    TooShort,
    #[error("attested credential data is truncated")]
    /// The AT flag is set but the attested credential data is cut short.
    AttestedDataTruncated,
    #[error("credential id is longer than 1023 bytes")]
    /// A credential id over WebAuthn's 1023-byte limit.
    CredentialIdTooLong,
    #[error("credential public key is not a valid COSE key: {0}")]
    /// The credential public key is not a COSE key Keysmith reads.
    BadPublicKey(cbor::CborError),
    #[error("extensions are not a CBOR map: {0}")]
    /// The ED flag is set but the extensions are not a CBOR map.
    BadExtensions(cbor::CborError),
    #[error("authenticator data has {0} unexpected trailing bytes")]
    /// Bytes after the last structure the flags announce.
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

/// What [`parse_aaguid`] reads, as a regular expression (ECMA 262, for
/// the OpenAPI document): the forms `uuid::Uuid::parse_str` takes (32 hex
/// digits, hyphenated, braced, `urn:uuid:`), blanks around allowed.
pub const AAGUID_PATTERN: &str = r"^\s*([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}|urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\s*$";

/// Parses a UUID-formatted AAGUID (with or without hyphens).
pub fn parse_aaguid(text: &str) -> Option<[u8; 16]> {
    uuid::Uuid::parse_str(text.trim())
        .ok()
        .map(|u| *u.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI document's AAGUID pattern takes what `parse_aaguid`
    /// takes, and refuses what it refuses.
    #[test]
    fn the_aaguid_pattern_is_what_parse_aaguid_reads() {
        let pattern = regex::Regex::new(AAGUID_PATTERN).unwrap();
        let id = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
        let upper = id.to_uppercase();
        let simple = id.replace('-', "");
        let braced = format!("{{{id}}}");
        let urn = format!("urn:uuid:{id}");
        let spaced = format!("  {id} ");
        let short = &id[1..];
        let odd_hyphens = format!("{}-{}", &simple[..10], &simple[10..]);
        let not_hex = id.replace('c', "g");
        let half_braced = format!("{{{id}");
        for text in [
            id,
            upper.as_str(),
            simple.as_str(),
            braced.as_str(),
            urn.as_str(),
            spaced.as_str(),
            short,
            odd_hyphens.as_str(),
            not_hex.as_str(),
            half_braced.as_str(),
            "",
        ] {
            assert_eq!(
                pattern.is_match(text),
                parse_aaguid(text).is_some(),
                "{text:?}"
            );
        }
    }
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

/// Authenticator data read byte by byte as WebAuthn L3 §6.1 and §6.5.1
/// lay it out; each boundary on both sides.
#[cfg(test)]
mod layout_tests {
    use super::*;
    use crate::cbor::MapBuilder;

    const KEY: CoseKey = CoseKey::Ed25519 {
        alg: -8,
        x: [7; 32],
    };

    fn head(flags: u8) -> Vec<u8> {
        let mut v = vec![1u8; 32];
        v.push(flags);
        v.extend_from_slice(&0x0102_0304u32.to_be_bytes());
        v
    }

    fn attested(id_len: usize, id_present: usize) -> Vec<u8> {
        let mut v = head(Flags::AT);
        v.extend_from_slice(&[9; 16]);
        v.extend_from_slice(&(id_len as u16).to_be_bytes());
        v.extend(std::iter::repeat_n(5, id_present));
        v
    }

    /// §6.1 flags: bit 0 UP, bit 2 UV, bit 3 BE, bit 4 BS, bit 6 AT, bit 7 ED.
    #[test]
    fn flag_bits() {
        assert_eq!(
            [
                Flags::UP,
                Flags::UV,
                Flags::BE,
                Flags::BS,
                Flags::AT,
                Flags::ED
            ],
            [0x01, 0x04, 0x08, 0x10, 0x40, 0x80]
        );
        let f = Flags(0x01 | 0x08);
        assert!(f.user_present() && f.backup_eligible());
        assert!(!f.user_verified() && !f.backed_up());
        let g = Flags(0x04 | 0x10);
        assert!(!g.user_present() && !g.backup_eligible());
        assert!(g.user_verified() && g.backed_up());
        // has() wants every bit asked for.
        assert!(Flags(0x05).has(0x05));
        assert!(!Flags(0x01).has(0x05));
        assert!(!Flags(0x00).has(0x01));
    }

    #[test]
    fn the_fixed_part_is_37_bytes() {
        let ad = AuthenticatorData::parse(&head(Flags::UP)).unwrap();
        assert_eq!(ad.rp_id_hash, [1; 32]);
        assert_eq!(ad.sign_count, 0x0102_0304);
        assert_eq!((ad.attested, ad.extensions), (None, None));
        assert_eq!(
            AuthenticatorData::parse(&head(0)[..36]),
            Err(AuthDataError::TooShort)
        );
    }

    #[test]
    fn attested_credential_data_boundaries() {
        // 17 bytes after the fixed part: not even AAGUID and length.
        assert_eq!(
            AuthenticatorData::parse(&attested(0, 0)[..37 + 17]),
            Err(AuthDataError::AttestedDataTruncated)
        );
        // AAGUID and length present, then no key: the key is what fails.
        assert!(matches!(
            AuthenticatorData::parse(&attested(0, 0)),
            Err(AuthDataError::BadPublicKey(_))
        ));
        // A credential id shorter than announced.
        assert_eq!(
            AuthenticatorData::parse(&attested(4, 3)),
            Err(AuthDataError::AttestedDataTruncated)
        );
        // Exactly the id, then no key.
        assert!(matches!(
            AuthenticatorData::parse(&attested(4, 4)),
            Err(AuthDataError::BadPublicKey(_))
        ));
        // 1023 is the longest id (§6.5.1); 1024 is refused before reading.
        let mut longest = attested(1023, 1023);
        longest.extend_from_slice(&KEY.to_bytes());
        let ad = AuthenticatorData::parse(&longest).unwrap();
        let att = ad.attested.unwrap();
        assert_eq!(att.credential_id.len(), 1023);
        assert_eq!(att.aaguid, [9; 16]);
        assert_eq!(att.public_key, KEY);
        assert_eq!(att.public_key_bytes, KEY.to_bytes());
        let mut too_long = attested(1024, 1024);
        too_long.extend_from_slice(&KEY.to_bytes());
        assert_eq!(
            AuthenticatorData::parse(&too_long),
            Err(AuthDataError::CredentialIdTooLong)
        );
    }

    #[test]
    fn extensions_must_be_one_map() {
        let mut ed = head(Flags::ED);
        ed.extend_from_slice(&cbor::encode(&cbor::int(1)));
        assert!(matches!(
            AuthenticatorData::parse(&ed),
            Err(AuthDataError::BadExtensions(_))
        ));
        let mut ed = head(Flags::ED);
        ed.extend_from_slice(&cbor::encode(&MapBuilder::new().text("x", 1).build()));
        let ad = AuthenticatorData::parse(&ed).unwrap();
        assert_eq!(ad.extension("x"), Some(&cbor::int(1)));
        assert_eq!(ad.extension("y"), None);
        // ED clear: the same bytes are trailing.
        let mut no_ed = head(0);
        no_ed.extend_from_slice(&cbor::encode(&MapBuilder::new().text("x", 1).build()));
        assert_eq!(
            AuthenticatorData::parse(&no_ed),
            Err(AuthDataError::TrailingBytes(4))
        );
        // Only text keys name extensions.
        let int_keyed = AuthenticatorData {
            extensions: Some(MapBuilder::new().int(1, 2).build()),
            ..AuthenticatorData::parse(&head(0)).unwrap()
        };
        assert_eq!(int_keyed.extension("1"), None);
    }

    #[test]
    fn encoding_sets_at_and_ed_from_the_content() {
        let bare = AuthenticatorData {
            rp_id_hash: [2; 32],
            flags: Flags(Flags::UP | Flags::AT | Flags::ED),
            sign_count: 7,
            attested: None,
            extensions: None,
        };
        let bytes = bare.to_bytes();
        assert_eq!(bytes.len(), 37);
        assert_eq!(bytes[32], Flags::UP);
        assert_eq!(&bytes[33..], &[0, 0, 0, 7]);
        let with_ext = AuthenticatorData {
            extensions: Some(MapBuilder::new().build()),
            ..bare.clone()
        };
        assert_eq!(with_ext.to_bytes()[32], Flags::UP | Flags::ED);
        assert_eq!(with_ext.to_bytes().len(), 38);
    }

    #[test]
    fn aaguid_text_forms() {
        let a = [
            0xcb, 0x69, 0x48, 0x1e, 0x8f, 0xf7, 0x40, 0x39, 0x93, 0xec, 0x0a, 0x27, 0x29, 0xa1,
            0x54, 0xa8,
        ];
        assert_eq!(
            parse_aaguid(" CB69481E-8FF7-4039-93EC-0A2729A154A8\n"),
            Some(a)
        );
        assert_eq!(parse_aaguid("cb69481e8ff7403993ec0a2729a154a8"), Some(a));
        assert_eq!(parse_aaguid("cb69481e-8ff7-4039-93ec"), None);
        assert_eq!(parse_aaguid(""), None);
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

//! PIN/UV auth protocols one and two (CTAP 2.1 §6.5.6, §6.5.7): key
//! agreement, encryption and authentication of PIN material — for the
//! platform (encapsulate) and for the authenticator (decapsulate).

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use webauthn::cose::{CoseAlgorithm, CoseKey};
use zeroize::Zeroizing;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type HmacSha256 = Hmac<Sha256>;

/// Longest PIN in UTF-8 bytes (the padded block is 64 bytes and must end
/// with a zero).
pub const MAX_PIN_BYTES: usize = 63;
/// CTAP's default minimum PIN length in Unicode code points.
pub const DEFAULT_MIN_PIN_LENGTH: usize = 4;

/// Why PIN protocol processing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("the key-agreement key is not a P-256 ECDH key")]
    InvalidKeyAgreementKey,
    #[error("ciphertext has an invalid length")]
    InvalidCiphertext,
    #[error("unsupported PIN/UV auth protocol {0}")]
    UnsupportedProtocol(u64),
}

/// A PIN/UV auth protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinUvAuthProtocol {
    One,
    Two,
}

impl PinUvAuthProtocol {
    pub fn id(self) -> u64 {
        match self {
            Self::One => 1,
            Self::Two => 2,
        }
    }

    pub fn from_id(id: u64) -> Result<Self, PinError> {
        match id {
            1 => Ok(Self::One),
            2 => Ok(Self::Two),
            other => Err(PinError::UnsupportedProtocol(other)),
        }
    }

    /// Platform side: makes an ephemeral key pair, agrees on a secret with
    /// the authenticator's key-agreement key, and returns the platform's
    /// public key (to send as `keyAgreement`) and the shared secret.
    pub fn encapsulate(self, peer: &CoseKey) -> Result<(CoseKey, SharedSecret), PinError> {
        let ephemeral = p256::SecretKey::random(&mut rand::thread_rng());
        let shared = self.decapsulate(&ephemeral, peer)?;
        Ok((key_agreement_cose(&ephemeral.public_key()), shared))
    }

    /// Authenticator side: agrees on the shared secret from its own
    /// key-agreement secret and the platform's public key.
    pub fn decapsulate(
        self,
        own: &p256::SecretKey,
        peer: &CoseKey,
    ) -> Result<SharedSecret, PinError> {
        let peer = match peer {
            CoseKey::Ec2 { .. } => peer
                .to_p256()
                .map_err(|_| PinError::InvalidKeyAgreementKey)?,
            _ => return Err(PinError::InvalidKeyAgreementKey),
        };
        let z = p256::ecdh::diffie_hellman(own.to_nonzero_scalar(), peer.as_affine());
        let z = Zeroizing::new(z.raw_secret_bytes().to_vec());
        Ok(SharedSecret::derive(self, &z))
    }

    /// `authenticate(key, message)`: HMAC-SHA-256, truncated to 16 bytes in
    /// protocol one.
    pub fn authenticate(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(message);
        let tag = mac.finalize().into_bytes();
        match self {
            Self::One => tag[..16].to_vec(),
            Self::Two => tag.to_vec(),
        }
    }

    /// Checks `signature` against `authenticate(key, message)` in constant
    /// time; a signature of the wrong length fails.
    pub fn verify(self, key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let expected = self.authenticate(key, message);
        expected.len() == signature.len() && bool::from(expected.ct_eq(signature))
    }
}

/// The COSE form of a P-256 key-agreement public key (alg -25).
pub fn key_agreement_cose(public: &p256::PublicKey) -> CoseKey {
    let point = public.to_encoded_point(false);
    CoseKey::Ec2 {
        alg: CoseAlgorithm::EcdhEsHkdf256.id(),
        curve: webauthn::cose::EcCurve::P256,
        x: point.x().expect("uncompressed").to_vec(),
        y: point.y().expect("uncompressed").to_vec(),
    }
}

/// The secret both sides derived; zeroed on drop.
#[derive(Clone)]
pub struct SharedSecret {
    protocol: PinUvAuthProtocol,
    hmac_key: Zeroizing<[u8; 32]>,
    aes_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSecret")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl SharedSecret {
    /// KDF of §6.5.6 (SHA-256 of Z) and §6.5.7 (HKDF-SHA-256, zero salt,
    /// infos "CTAP2 HMAC key" and "CTAP2 AES key").
    fn derive(protocol: PinUvAuthProtocol, z: &[u8]) -> Self {
        match protocol {
            PinUvAuthProtocol::One => {
                let k: [u8; 32] = Sha256::digest(z).into();
                Self {
                    protocol,
                    hmac_key: Zeroizing::new(k),
                    aes_key: Zeroizing::new(k),
                }
            }
            PinUvAuthProtocol::Two => {
                let hk = hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), z);
                let mut hmac_key = Zeroizing::new([0u8; 32]);
                let mut aes_key = Zeroizing::new([0u8; 32]);
                hk.expand(b"CTAP2 HMAC key", hmac_key.as_mut())
                    .expect("32 bytes is a valid length");
                hk.expand(b"CTAP2 AES key", aes_key.as_mut())
                    .expect("32 bytes is a valid length");
                Self {
                    protocol,
                    hmac_key,
                    aes_key,
                }
            }
        }
    }

    pub fn protocol(&self) -> PinUvAuthProtocol {
        self.protocol
    }

    /// AES-256-CBC without padding; protocol one uses an all-zero IV,
    /// protocol two a random IV prepended to the ciphertext. The plaintext
    /// must be a whole number of blocks.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        assert!(
            plaintext.len().is_multiple_of(16),
            "PIN protocol plaintexts are whole AES blocks"
        );
        match self.protocol {
            PinUvAuthProtocol::One => {
                Aes256CbcEnc::new(self.aes_key.as_ref().into(), &[0u8; 16].into())
                    .encrypt_padded_vec_mut::<NoPadding>(plaintext)
            }
            PinUvAuthProtocol::Two => {
                let iv: [u8; 16] = rand::random();
                let mut out = iv.to_vec();
                out.extend(
                    Aes256CbcEnc::new(self.aes_key.as_ref().into(), &iv.into())
                        .encrypt_padded_vec_mut::<NoPadding>(plaintext),
                );
                out
            }
        }
    }

    /// Inverse of [`SharedSecret::encrypt`].
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, PinError> {
        let (iv, body) = match self.protocol {
            PinUvAuthProtocol::One => ([0u8; 16], ciphertext),
            PinUvAuthProtocol::Two => {
                if ciphertext.len() < 16 {
                    return Err(PinError::InvalidCiphertext);
                }
                let iv: [u8; 16] = ciphertext[..16].try_into().expect("16 bytes");
                (iv, &ciphertext[16..])
            }
        };
        if body.is_empty() || body.len() % 16 != 0 {
            return Err(PinError::InvalidCiphertext);
        }
        Aes256CbcDec::new(self.aes_key.as_ref().into(), &iv.into())
            .decrypt_padded_vec_mut::<NoPadding>(body)
            .map(Zeroizing::new)
            .map_err(|_| PinError::InvalidCiphertext)
    }

    /// `authenticate` with the shared secret's HMAC key.
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(self.hmac_key.as_ref(), message)
    }

    /// Constant-time check of a `pinUvAuthParam` made with this secret.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.protocol
            .verify(self.hmac_key.as_ref(), message, signature)
    }
}

/// `LEFT(SHA-256(pin), 16)`: what `pinHashEnc` carries and what a key stores.
pub fn pin_hash(pin: &str) -> Zeroizing<[u8; 16]> {
    let digest = Sha256::digest(pin.as_bytes());
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&digest[..16]);
    out
}

/// A PIN that cannot be sent: too short for `min_len` code points, too
/// long, or containing NUL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinFormatError {
    #[error("the PIN must have at least {0} characters")]
    TooShort(usize),
    #[error("the PIN must be at most 63 bytes long")]
    TooLong,
    #[error("the PIN must not contain NUL characters")]
    ContainsNul,
}

/// Checks a PIN against CTAP's rules (§6.5.1) before it is sent.
pub fn check_pin_format(pin: &str, min_len: usize) -> Result<(), PinFormatError> {
    if pin.contains('\0') {
        return Err(PinFormatError::ContainsNul);
    }
    if pin.len() > MAX_PIN_BYTES {
        return Err(PinFormatError::TooLong);
    }
    if pin.chars().count() < min_len {
        return Err(PinFormatError::TooShort(min_len));
    }
    Ok(())
}

/// The PIN zero-padded to the 64-byte block `newPinEnc` encrypts.
pub fn pad_pin(pin: &str) -> Result<Zeroizing<[u8; 64]>, PinFormatError> {
    check_pin_format(pin, 1)?;
    let mut block = Zeroizing::new([0u8; 64]);
    block[..pin.len()].copy_from_slice(pin.as_bytes());
    Ok(block)
}

/// Authenticator side: the PIN inside a decrypted 64-byte block, if the
/// block is well-formed (NUL-padded UTF-8, at most 63 bytes).
pub fn unpad_pin(block: &[u8]) -> Option<Zeroizing<String>> {
    if block.len() != 64 {
        return None;
    }
    let end = block.iter().position(|b| *b == 0)?;
    if block[end..].iter().any(|b| *b != 0) {
        return None;
    }
    std::str::from_utf8(&block[..end])
        .ok()
        .map(|s| Zeroizing::new(s.to_owned()))
}

/// PIN/UV auth token permissions (§6.5.5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(pub u8);

impl Permissions {
    pub const MAKE_CREDENTIAL: u8 = 0x01;
    pub const GET_ASSERTION: u8 = 0x02;
    pub const CREDENTIAL_MANAGEMENT: u8 = 0x04;
    pub const BIO_ENROLLMENT: u8 = 0x08;
    pub const LARGE_BLOB_WRITE: u8 = 0x10;
    pub const AUTHENTICATOR_CONFIG: u8 = 0x20;

    pub fn has(self, bits: u8) -> bool {
        self.0 & bits == bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both_sides(p: PinUvAuthProtocol) -> (SharedSecret, SharedSecret) {
        let device = p256::SecretKey::random(&mut rand::thread_rng());
        let device_pub = key_agreement_cose(&device.public_key());
        let (platform_pub, platform) = p.encapsulate(&device_pub).unwrap();
        let on_device = p.decapsulate(&device, &platform_pub).unwrap();
        (platform, on_device)
    }

    #[test]
    fn both_protocols_agree_and_round_trip() {
        for p in [PinUvAuthProtocol::One, PinUvAuthProtocol::Two] {
            let (platform, device) = both_sides(p);
            let block = pad_pin("1234").unwrap();
            let enc = platform.encrypt(block.as_ref());
            assert_eq!(enc.len(), if p == PinUvAuthProtocol::One { 64 } else { 80 });
            let dec = device.decrypt(&enc).unwrap();
            assert_eq!(unpad_pin(&dec).unwrap().as_str(), "1234");
            let tag = platform.authenticate(&enc);
            assert_eq!(tag.len(), if p == PinUvAuthProtocol::One { 16 } else { 32 });
            assert!(device.verify(&enc, &tag));
            assert!(!device.verify(&enc[1..], &tag));
            assert!(!device.verify(&enc, &tag[..tag.len() - 1]));
        }
    }

    #[test]
    fn protocol_two_kdf_matches_hkdf_definition() {
        // HKDF-SHA-256(salt = 32 zero bytes, IKM = Z, info): independent
        // computation with HMAC (RFC 5869 extract + expand, one block).
        let z = [0x42u8; 32];
        let s = SharedSecret::derive(PinUvAuthProtocol::Two, &z);
        let prk = PinUvAuthProtocol::Two.authenticate(&[0u8; 32], &z);
        let mut info = b"CTAP2 HMAC key".to_vec();
        info.push(1);
        let okm = PinUvAuthProtocol::Two.authenticate(&prk, &info);
        assert_eq!(&okm[..], &s.hmac_key[..]);
        let one = SharedSecret::derive(PinUvAuthProtocol::One, &z);
        assert_eq!(&one.aes_key[..], &Sha256::digest(z)[..]);
    }

    #[test]
    fn pin_format_rules() {
        assert_eq!(check_pin_format("123", 4), Err(PinFormatError::TooShort(4)));
        assert!(check_pin_format("ünïc", 4).is_ok());
        assert_eq!(
            check_pin_format(&"1".repeat(64), 4),
            Err(PinFormatError::TooLong)
        );
        assert!(unpad_pin(&[0u8; 64]).is_some_and(|p| p.is_empty()));
        let mut bad = [0u8; 64];
        bad[0] = b'1';
        bad[5] = b'2';
        assert!(unpad_pin(&bad).is_none());
        assert!(unpad_pin(&[b'1'; 64]).is_none());
        assert!(PinUvAuthProtocol::from_id(3).is_err());
    }
}

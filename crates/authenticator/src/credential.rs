//! Credential keys and credential ids. A credential id is the credential's
//! private key and settings sealed with AES-256-GCM under a key derived
//! from the device master key, bound to the RP ID hash (key wrapping, as
//! hardware keys do); discoverable credentials are additionally listed in
//! the state with their user.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use signature::Signer;
use webauthn::cose::{CoseAlgorithm, CoseKey};
use zeroize::Zeroizing;

/// Algorithms the virtual key creates credentials with, in its order of
/// preference when an RP offers several.
pub const SUPPORTED_ALGORITHMS: [CoseAlgorithm; 2] = [CoseAlgorithm::Es256, CoseAlgorithm::EdDsa];
/// Largest credBlob kept (getInfo maxCredBlobLength).
pub const MAX_CRED_BLOB_LEN: usize = 32;
const ID_VERSION: u8 = 1;

/// A credential's private key.
pub enum PrivateKey {
    /// An ES256 (P-256) key.
    Es256(p256::ecdsa::SigningKey),
    /// An Ed25519 key.
    EdDsa(ed25519_dalek::SigningKey),
}

impl PrivateKey {
    /// A new random key for `alg`; `None` for an algorithm the virtual key does not create.
    pub fn generate(alg: CoseAlgorithm) -> Option<Self> {
        match alg {
            CoseAlgorithm::Es256 => Some(Self::Es256(p256::ecdsa::SigningKey::random(
                &mut rand::thread_rng(),
            ))),
            CoseAlgorithm::EdDsa => Some(Self::EdDsa(ed25519_dalek::SigningKey::generate(
                &mut rand::thread_rng(),
            ))),
            _ => None,
        }
    }

    /// The algorithm the key signs with.
    pub fn algorithm(&self) -> CoseAlgorithm {
        match self {
            Self::Es256(_) => CoseAlgorithm::Es256,
            Self::EdDsa(_) => CoseAlgorithm::EdDsa,
        }
    }

    fn code(&self) -> u8 {
        match self {
            Self::Es256(_) => 1,
            Self::EdDsa(_) => 2,
        }
    }

    fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        match self {
            Self::Es256(k) => Zeroizing::new(k.to_bytes().into()),
            Self::EdDsa(k) => Zeroizing::new(k.to_bytes()),
        }
    }

    fn from_parts(code: u8, bytes: &[u8; 32]) -> Option<Self> {
        match code {
            1 => p256::ecdsa::SigningKey::from_bytes(bytes.into())
                .ok()
                .map(Self::Es256),
            2 => Some(Self::EdDsa(ed25519_dalek::SigningKey::from_bytes(bytes))),
            _ => None,
        }
    }

    /// The COSE public key placed in attested credential data.
    pub fn public_key(&self) -> CoseKey {
        match self {
            Self::Es256(k) => CoseKey::from_p256(CoseAlgorithm::Es256, &k.verifying_key().into()),
            Self::EdDsa(k) => CoseKey::Ed25519 {
                alg: CoseAlgorithm::EdDsa.id(),
                x: k.verifying_key().to_bytes(),
            },
        }
    }

    /// A WebAuthn signature: DER ECDSA for ES256, raw 64 bytes for EdDSA.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Es256(_) => es256_sign(&self.to_bytes(), message),
            Self::EdDsa(k) => k.sign(message).to_bytes().to_vec(),
        }
    }
}

/// An ES256 signature (DER) by the P-256 private scalar `d`, made by
/// aws-lc-rs (issue 31: about 4× RustCrypto's p256 here). The scalar goes
/// in as an RFC 5915 ECPrivateKey without its public point, which aws-lc-rs
/// derives itself.
pub(crate) fn es256_sign(d: &Zeroizing<[u8; 32]>, message: &[u8]) -> Vec<u8> {
    use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    use der::Encode;
    let der = Zeroizing::new(
        sec1::EcPrivateKey {
            private_key: d.as_ref(),
            parameters: Some(sec1::EcParameters::NamedCurve(P256_OID)),
            public_key: None,
        }
        .to_der()
        .expect("a 32-byte scalar encodes"),
    );
    let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &der)
        .expect("a P-256 scalar from p256 is a valid key");
    pair.sign(&aws_lc_rs::rand::SystemRandom::new(), message)
        .expect("ECDSA signing does not fail")
        .as_ref()
        .to_vec()
}

/// prime256v1 (RFC 5480).
const P256_OID: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// What a credential id seals.
pub struct CredentialSecret {
    /// The credential's private key.
    pub key: PrivateKey,
    /// credProtect level (1 when not requested).
    pub cred_protect: u8,
    /// Whether the key also keeps the credential (a resident credential).
    pub discoverable: bool,
    /// The credBlob stored with the credential (at most 32 bytes).
    pub cred_blob: Option<Vec<u8>>,
}

fn derive(master: &[u8; 32], label: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("any key length");
    mac.update(label);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// Seals `secret` into a credential id bound to `rp_id_hash`.
pub fn wrap(master: &[u8; 32], rp_id_hash: &[u8; 32], secret: &CredentialSecret) -> Vec<u8> {
    let key = derive(master, b"keysmith credential wrapping v1");
    let cipher = Aes256Gcm::new(key.as_ref().into());
    let nonce: [u8; 12] = rand::random();
    let blob = secret.cred_blob.as_deref().unwrap_or(&[]);
    let mut plain = Zeroizing::new(Vec::with_capacity(36 + blob.len()));
    plain.push(secret.key.code());
    plain.push(secret.cred_protect);
    plain.push(u8::from(secret.discoverable));
    plain.extend_from_slice(secret.key.to_bytes().as_ref());
    plain.push(blob.len() as u8);
    plain.extend_from_slice(blob);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: rp_id_hash,
            },
        )
        .expect("AES-GCM encryption of a short message cannot fail");
    let mut id = Vec::with_capacity(1 + 12 + sealed.len());
    id.push(ID_VERSION);
    id.extend_from_slice(&nonce);
    id.extend_from_slice(&sealed);
    id
}

/// Opens a credential id; `None` when it is not one of this key's
/// credentials for `rp_id_hash` (another key's, another RP's, tampered).
pub fn unwrap(master: &[u8; 32], rp_id_hash: &[u8; 32], id: &[u8]) -> Option<CredentialSecret> {
    if id.len() < 1 + 12 + 16 || id[0] != ID_VERSION {
        return None;
    }
    let key = derive(master, b"keysmith credential wrapping v1");
    let cipher = Aes256Gcm::new(key.as_ref().into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                Nonce::from_slice(&id[1..13]),
                Payload {
                    msg: &id[13..],
                    aad: rp_id_hash,
                },
            )
            .ok()?,
    );
    if plain.len() < 36 {
        return None;
    }
    let bytes: [u8; 32] = plain[3..35].try_into().ok()?;
    let blob_len = plain[35] as usize;
    let blob = plain.get(36..36 + blob_len)?;
    Some(CredentialSecret {
        key: PrivateKey::from_parts(plain[0], &bytes)?,
        cred_protect: plain[1],
        discoverable: plain[2] == 1,
        cred_blob: (blob_len > 0).then(|| blob.to_vec()),
    })
}

/// hmac-secret's CredRandom (CTAP 2.1 §12.5): one value for assertions with
/// user verification and another without.
pub fn cred_random(master: &[u8; 32], credential_id: &[u8], uv: bool) -> Zeroizing<[u8; 32]> {
    let key = derive(master, b"keysmith hmac-secret v1");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()).expect("any key length");
    mac.update(&[u8::from(uv)]);
    mac.update(credential_id);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// aws-lc-rs's ES256 signatures verify with RustCrypto's p256 (an
    /// independent implementation) under the key's public point, and a
    /// changed message does not.
    #[test]
    fn es256_signatures_verify_elsewhere() {
        use p256::ecdsa::signature::Verifier;
        let key = PrivateKey::generate(CoseAlgorithm::Es256).unwrap();
        let PrivateKey::Es256(k) = &key else {
            unreachable!()
        };
        let vk = *k.verifying_key();
        for msg in [&b""[..], b"authData || clientDataHash", &[7u8; 1000]] {
            let der = key.sign(msg);
            let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
            assert!(vk.verify(msg, &sig).is_ok());
            assert!(vk.verify(b"another message", &sig).is_err());
        }
    }

    #[test]
    fn wrap_unwrap_and_binding() {
        let master = [7u8; 32];
        let rp = [1u8; 32];
        for alg in SUPPORTED_ALGORITHMS {
            let key = PrivateKey::generate(alg).unwrap();
            let public = key.public_key();
            let secret = CredentialSecret {
                key,
                cred_protect: 3,
                discoverable: true,
                cred_blob: Some(vec![9; 5]),
            };
            let id = wrap(&master, &rp, &secret);
            assert!(id.len() <= 128);
            let back = unwrap(&master, &rp, &id).unwrap();
            assert_eq!(back.key.public_key(), public);
            assert_eq!((back.cred_protect, back.discoverable), (3, true));
            assert_eq!(back.cred_blob.as_deref(), Some(&[9u8; 5][..]));
            let sig = back.key.sign(b"msg");
            public.verify(b"msg", &sig).unwrap();
            assert!(unwrap(&master, &[2u8; 32], &id).is_none(), "other RP");
            assert!(unwrap(&[8u8; 32], &rp, &id).is_none(), "other key");
            let mut tampered = id.clone();
            tampered[20] ^= 1;
            assert!(unwrap(&master, &rp, &tampered).is_none());
        }
        assert_ne!(
            cred_random(&master, b"id", true)[..],
            cred_random(&master, b"id", false)[..]
        );
    }
}

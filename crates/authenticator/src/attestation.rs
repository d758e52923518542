//! Attestation material of the virtual key: a batch attestation CA per key
//! model (AAGUID) with a batch leaf certificate carrying the AAGUID
//! extension, and a per-device enterprise-attestation certificate — all
//! real X.509 (x509-cert's builder) signed with P-256.
//!
//! Keys started with the same model directory share the model's CA and
//! batch certificate, as keys of one production batch do; a relying party
//! trusts the CA's root certificate.

use der::{Decode, Encode, EncodePem};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde::{Deserialize, Serialize};
use spki::EncodePublicKey;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};
use webauthn::cbor::{MapBuilder, Value};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::certificate::Certificate;
use x509_cert::ext::AsExtension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use zeroize::Zeroizing;

/// id-fido-gen-ce-aaguid (WebAuthn §8.2.1).
pub const AAGUID_EXTENSION_OID: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.45724.1.1.4");

/// Why attestation material could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    #[error("cannot build a certificate: {0}")]
    /// A certificate could not be built (the builder's message).
    Build(String),
    #[error("attestation file {path}: {message}")]
    /// An attestation file could not be read or is not what it should be.
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// The AAGUID certificate extension: an OCTET STRING of 16 bytes.
struct AaguidExtension(der::asn1::OctetString);

impl const_oid::AssociatedOid for AaguidExtension {
    const OID: const_oid::ObjectIdentifier = AAGUID_EXTENSION_OID;
}

impl Encode for AaguidExtension {
    fn encoded_len(&self) -> der::Result<der::Length> {
        self.0.encoded_len()
    }
    fn encode(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        self.0.encode(writer)
    }
}

impl AsExtension for AaguidExtension {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        // WebAuthn §8.2.1: the extension MUST NOT be marked critical.
        false
    }
}

fn build_err(e: impl std::fmt::Display) -> AttestationError {
    AttestationError::Build(e.to_string())
}

fn validity() -> Result<Validity, AttestationError> {
    let now = SystemTime::now();
    Ok(Validity {
        // A day back tolerates clock skew between the key and the verifier.
        not_before: Time::try_from(now - Duration::from_secs(86_400)).map_err(build_err)?,
        not_after: Time::try_from(now + Duration::from_secs(20 * 365 * 86_400))
            .map_err(build_err)?,
    })
}

fn serial() -> Result<SerialNumber, AttestationError> {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7F) | 0x01; // positive, no leading zero
    SerialNumber::new(&bytes).map_err(build_err)
}

fn spki(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, AttestationError> {
    let der = key.verifying_key().to_public_key_der().map_err(build_err)?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(build_err)
}

fn issue_leaf(
    subject: &str,
    key: &SigningKey,
    issuer_cert: &Certificate,
    issuer_key: &SigningKey,
    aaguid: &[u8; 16],
) -> Result<Certificate, AttestationError> {
    let profile = Profile::Leaf {
        issuer: issuer_cert.tbs_certificate.subject.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let mut builder = CertificateBuilder::new(
        profile,
        serial()?,
        validity()?,
        Name::from_str(subject).map_err(build_err)?,
        spki(key)?,
        issuer_key,
    )
    .map_err(build_err)?;
    let ext = AaguidExtension(der::asn1::OctetString::new(aaguid.to_vec()).map_err(build_err)?);
    builder.add_extension(&ext).map_err(build_err)?;
    builder.build::<DerSignature>().map_err(build_err)
}

/// A model's CA and batch attestation key.
pub struct ModelCa {
    /// The model CA's private key (signs the batch certificate).
    pub root_key: SigningKey,
    /// The model CA's self-signed certificate: the root a relying party trusts.
    pub root_cert: Certificate,
    /// The batch attestation key, shared by every virtual key of the model.
    pub batch_key: SigningKey,
    /// The batch certificate (carries the model's AAGUID extension).
    pub batch_cert: Certificate,
}

impl ModelCa {
    /// Makes a fresh CA and batch certificate for model `aaguid`.
    pub fn generate(aaguid: &[u8; 16]) -> Result<Self, AttestationError> {
        let model = webauthn::authdata::format_aaguid(aaguid);
        let root_key = SigningKey::random(&mut rand::thread_rng());
        let root_subject =
            format!("CN=Keysmith Virtual Key Attestation Root {model},O=Keysmith,C=US");
        let root_cert = CertificateBuilder::new(
            Profile::Root,
            serial()?,
            validity()?,
            Name::from_str(&root_subject).map_err(build_err)?,
            spki(&root_key)?,
            &root_key,
        )
        .map_err(build_err)?
        .build::<DerSignature>()
        .map_err(build_err)?;
        let batch_key = SigningKey::random(&mut rand::thread_rng());
        let batch_cert = issue_leaf(
            "CN=Keysmith Virtual Key Batch 1,OU=Authenticator Attestation,O=Keysmith,C=US",
            &batch_key,
            &root_cert,
            &root_key,
            aaguid,
        )?;
        Ok(Self {
            root_key,
            root_cert,
            batch_key,
            batch_cert,
        })
    }

    /// Loads model `aaguid` from `dir/<aaguid>/`, creating it on first use.
    /// Creation happens in a temporary directory renamed into place, so two
    /// keys starting at once end up sharing one CA.
    pub fn load_or_create(dir: &Path, aaguid: &[u8; 16]) -> Result<Self, AttestationError> {
        let model_dir = dir.join(webauthn::authdata::format_aaguid(aaguid));
        if !model_dir.exists() {
            let ca = Self::generate(aaguid)?;
            let tmp = dir.join(format!(
                ".{}.{}.tmp",
                webauthn::authdata::format_aaguid(aaguid),
                std::process::id()
            ));
            ca.write(&tmp)?;
            if std::fs::rename(&tmp, &model_dir).is_err() {
                // Another key created the model first: use theirs.
                let _ = std::fs::remove_dir_all(&tmp);
            }
        }
        Self::read(&model_dir)
    }

    fn write(&self, dir: &Path) -> Result<(), AttestationError> {
        let err = |path: &Path, e: &dyn std::fmt::Display| AttestationError::File {
            path: path.to_owned(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| err(dir, &e))?;
        for (name, cert) in [
            ("root.pem", &self.root_cert),
            ("batch.pem", &self.batch_cert),
        ] {
            let pem = cert.to_pem(LineEnding::LF).map_err(|e| err(dir, &e))?;
            let path = dir.join(name);
            std::fs::write(&path, pem).map_err(|e| err(&path, &e))?;
        }
        for (name, key) in [("root.key", &self.root_key), ("batch.key", &self.batch_key)] {
            let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| err(dir, &e))?;
            let path = dir.join(name);
            crate::fsutil::write_private_atomically(&path, pem.as_bytes())
                .map_err(|e| err(&path, &e))?;
        }
        Ok(())
    }

    fn read(dir: &Path) -> Result<Self, AttestationError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path)
                .map(Zeroizing::new)
                .map_err(|e| AttestationError::File {
                    path,
                    message: e.to_string(),
                })
        };
        let cert = |name: &str| -> Result<Certificate, AttestationError> {
            use der::DecodePem;
            Certificate::from_pem(read(name)?.as_bytes()).map_err(|e| AttestationError::File {
                path: dir.join(name),
                message: e.to_string(),
            })
        };
        let key = |name: &str| -> Result<SigningKey, AttestationError> {
            SigningKey::from_pkcs8_pem(&read(name)?).map_err(|e| AttestationError::File {
                path: dir.join(name),
                message: e.to_string(),
            })
        };
        Ok(Self {
            root_key: key("root.key")?,
            root_cert: cert("root.pem")?,
            batch_key: key("batch.key")?,
            batch_cert: cert("batch.pem")?,
        })
    }
}

/// One device's attestation material, kept in its state file.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredAttestation {
    /// The model CA's certificate (PEM).
    pub root_cert_pem: String,
    /// The batch attestation certificate (PEM).
    pub batch_cert_pem: String,
    /// The batch attestation private key (PEM).
    pub batch_key_pem: String,
    /// The device's own enterprise attestation certificate, with its serial (PEM).
    pub enterprise_cert_pem: String,
    /// The enterprise attestation private key (PEM).
    pub enterprise_key_pem: String,
}

impl std::fmt::Debug for StoredAttestation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredAttestation").finish_non_exhaustive()
    }
}

impl StoredAttestation {
    /// Material for a new device of the model `ca`: the shared batch key and
    /// a device-unique enterprise attestation certificate.
    pub fn issue(
        ca: &ModelCa,
        aaguid: &[u8; 16],
        device_serial: &str,
    ) -> Result<Self, AttestationError> {
        let ea_key = SigningKey::random(&mut rand::thread_rng());
        let ea_cert = issue_leaf(
            &format!(
                "CN=Keysmith Virtual Key Enterprise {device_serial},OU=Authenticator Attestation,O=Keysmith,C=US"
            ),
            &ea_key,
            &ca.root_cert,
            &ca.root_key,
            aaguid,
        )?;
        let pem = |c: &Certificate| c.to_pem(LineEnding::LF).map_err(build_err);
        let key_pem = |k: &SigningKey| {
            k.to_pkcs8_pem(LineEnding::LF)
                .map(|p| p.to_string())
                .map_err(build_err)
        };
        Ok(Self {
            root_cert_pem: pem(&ca.root_cert)?,
            batch_cert_pem: pem(&ca.batch_cert)?,
            batch_key_pem: key_pem(&ca.batch_key)?,
            enterprise_cert_pem: pem(&ea_cert)?,
            enterprise_key_pem: key_pem(&ea_key)?,
        })
    }
}

/// How makeCredential attests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationMode {
    /// packed with the batch certificate (x5c).
    Batch,
    /// packed self attestation, signed by the credential key.
    SelfAttestation,
    /// fmt "none".
    None,
}

/// Loaded signing material.
pub struct AttestationSigner {
    batch_key: SigningKey,
    batch_chain: Vec<Vec<u8>>,
    enterprise_key: SigningKey,
    enterprise_chain: Vec<Vec<u8>>,
    root_pem: String,
}

impl AttestationSigner {
    /// The signer of stored material; an unreadable PEM is an error naming it.
    pub fn load(stored: &StoredAttestation) -> Result<Self, AttestationError> {
        use der::DecodePem;
        let bad =
            |e: &dyn std::fmt::Display| AttestationError::Build(format!("stored attestation: {e}"));
        let der = |pem: &str| -> Result<Vec<u8>, AttestationError> {
            Certificate::from_pem(pem.as_bytes())
                .map_err(|e| bad(&e))?
                .to_der()
                .map_err(|e| bad(&e))
        };
        Ok(Self {
            batch_key: SigningKey::from_pkcs8_pem(&stored.batch_key_pem).map_err(|e| bad(&e))?,
            batch_chain: vec![der(&stored.batch_cert_pem)?],
            enterprise_key: SigningKey::from_pkcs8_pem(&stored.enterprise_key_pem)
                .map_err(|e| bad(&e))?,
            enterprise_chain: vec![der(&stored.enterprise_cert_pem)?],
            root_pem: stored.root_cert_pem.clone(),
        })
    }

    /// The model's root certificate, for a relying party's trust store.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// A packed attestation statement with x5c over authData ‖ clientDataHash.
    pub fn packed(&self, signed_data: &[u8], enterprise: bool) -> Value {
        let (key, chain) = if enterprise {
            (&self.enterprise_key, &self.enterprise_chain)
        } else {
            (&self.batch_key, &self.batch_chain)
        };
        let d = zeroize::Zeroizing::new(key.to_bytes().into());
        let sig = crate::credential::es256_sign(&d, signed_data);
        MapBuilder::new()
            .text("alg", webauthn::cose::CoseAlgorithm::Es256.id())
            .text("sig", sig)
            .text(
                "x5c",
                Value::Array(chain.iter().map(|c| Value::Bytes(c.clone())).collect()),
            )
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_cert_carries_aaguid_and_chains_to_root() {
        let aaguid = [0x42u8; 16];
        let ca = ModelCa::generate(&aaguid).unwrap();
        let exts = ca.batch_cert.tbs_certificate.extensions.clone().unwrap();
        let ext = exts
            .iter()
            .find(|e| e.extn_id == AAGUID_EXTENSION_OID)
            .unwrap();
        assert!(!ext.critical);
        // extnValue wraps an OCTET STRING of the 16 AAGUID bytes.
        assert_eq!(
            ext.extn_value.as_bytes(),
            [&[0x04, 0x10][..], &aaguid[..]].concat()
        );
        assert_eq!(
            ca.batch_cert.tbs_certificate.issuer,
            ca.root_cert.tbs_certificate.subject
        );
        // The batch certificate's signature verifies with the root key.
        use p256::ecdsa::signature::Verifier;
        let tbs = ca.batch_cert.tbs_certificate.to_der().unwrap();
        let sig = p256::ecdsa::DerSignature::try_from(ca.batch_cert.signature.raw_bytes()).unwrap();
        ca.root_key.verifying_key().verify(&tbs, &sig).unwrap();
    }

    #[test]
    fn model_dir_is_shared() {
        let dir = tempfile::tempdir().unwrap();
        let a = ModelCa::load_or_create(dir.path(), &[1; 16]).unwrap();
        let b = ModelCa::load_or_create(dir.path(), &[1; 16]).unwrap();
        assert_eq!(a.root_cert, b.root_cert);
        let c = ModelCa::load_or_create(dir.path(), &[2; 16]).unwrap();
        assert_ne!(a.root_cert, c.root_cert);
    }
}

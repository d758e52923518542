//! Test fixtures: throwaway CAs and attestation certificates made with the
//! x509-cert builder and p256, and packed registrations signed with them.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use der::{Decode, Encode};
use p256::ecdsa::{signature::Signer, DerSignature, SigningKey};
use sha2::{Digest, Sha256};
use spki::EncodePublicKey;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::AsExtension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use crate::authdata::{AttestedCredentialData, AuthenticatorData, Flags};
use crate::cbor::{self, MapBuilder, Value};
use crate::client_data::{CollectedClientData, TYPE_CREATE};
use crate::cose::{CoseAlgorithm, CoseKey};

pub(crate) const RP_ID: &str = "login.example.com";
pub(crate) const ORIGIN: &str = "https://login.example.com";
pub(crate) const CHALLENGE: &str = "c2VjcmV0LWNoYWxsZW5nZQ";
pub(crate) const AAGUID: [u8; 16] = [0x42; 16];

struct AaguidExt(der::asn1::OctetString);
impl const_oid::AssociatedOid for AaguidExt {
    const OID: const_oid::ObjectIdentifier = crate::attestation::OID_FIDO_GEN_CE_AAGUID;
}
impl Encode for AaguidExt {
    fn encoded_len(&self) -> der::Result<der::Length> {
        self.0.encoded_len()
    }
    fn encode(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        self.0.encode(writer)
    }
}
impl AsExtension for AaguidExt {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        false
    }
}

pub(crate) fn key() -> SigningKey {
    SigningKey::random(&mut rand::thread_rng())
}

fn validity(days: u64) -> Validity {
    let now = SystemTime::now();
    Validity {
        not_before: Time::try_from(now - Duration::from_secs(86_400)).unwrap(),
        not_after: Time::try_from(now + Duration::from_secs(days * 86_400)).unwrap(),
    }
}

fn spki(key: &SigningKey) -> SubjectPublicKeyInfoOwned {
    let der = key.verifying_key().to_public_key_der().unwrap();
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).unwrap()
}

/// A certificate for `key` with `subject`, signed by `signer` (`issuer`
/// `None` = self-signed root).
pub(crate) fn cert(
    subject: &str,
    key: &SigningKey,
    issuer: Option<&Certificate>,
    signer: &SigningKey,
    ca: bool,
    aaguid: Option<[u8; 16]>,
) -> Vec<u8> {
    let profile = match (issuer, ca) {
        (None, _) => Profile::Root,
        (Some(i), true) => Profile::SubCA {
            issuer: i.tbs_certificate.subject.clone(),
            path_len_constraint: None,
        },
        (Some(i), false) => Profile::Leaf {
            issuer: i.tbs_certificate.subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
    };
    let mut b = CertificateBuilder::new(
        profile,
        SerialNumber::new(&[0x11, 0x22]).unwrap(),
        validity(365),
        Name::from_str(subject).unwrap(),
        spki(key),
        signer,
    )
    .unwrap();
    if let Some(a) = aaguid {
        b.add_extension(&AaguidExt(der::asn1::OctetString::new(a.to_vec()).unwrap()))
            .unwrap();
    }
    b.build::<DerSignature>().unwrap().to_der().unwrap()
}

/// A root CA and a packed attestation leaf under it.
pub(crate) struct Pki {
    pub root_der: Vec<u8>,
    pub leaf_der: Vec<u8>,
    pub leaf_key: SigningKey,
}

pub(crate) fn pki(aaguid_ext: Option<[u8; 16]>) -> Pki {
    let root_key = key();
    let root_der = cert(
        "CN=Test Root,O=Keysmith,C=US",
        &root_key,
        None,
        &root_key,
        true,
        None,
    );
    let root = Certificate::from_der(&root_der).unwrap();
    let leaf_key = key();
    let leaf_der = cert(
        "CN=Test Batch,OU=Authenticator Attestation,O=Keysmith,C=US",
        &leaf_key,
        Some(&root),
        &root_key,
        false,
        aaguid_ext,
    );
    Pki {
        root_der,
        leaf_der,
        leaf_key,
    }
}

/// clientDataJSON and a packed attestation object; `x5c` None = self.
pub(crate) fn packed_registration(
    x5c: Option<(&[u8], &SigningKey)>,
    flags: u8,
) -> (Vec<u8>, Vec<u8>) {
    let client_data = CollectedClientData::serialize(TYPE_CREATE, CHALLENGE, ORIGIN);
    let cred_key = key();
    let public_key = CoseKey::from_p256(CoseAlgorithm::Es256, &cred_key.verifying_key().into());
    let auth_data = AuthenticatorData {
        rp_id_hash: Sha256::digest(RP_ID.as_bytes()).into(),
        flags: Flags(flags),
        sign_count: 0,
        attested: Some(AttestedCredentialData {
            aaguid: AAGUID,
            credential_id: vec![9; 32],
            public_key_bytes: public_key.to_bytes(),
            public_key,
        }),
        extensions: None,
    }
    .to_bytes();
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&Sha256::digest(&client_data));
    let signer = x5c.map(|(_, k)| k).unwrap_or(&cred_key);
    let sig: p256::ecdsa::Signature = signer.sign(&signed);
    let mut stmt = MapBuilder::new()
        .text("alg", CoseAlgorithm::Es256.id())
        .text("sig", sig.to_der().as_bytes().to_vec());
    if let Some((der, _)) = x5c {
        stmt = stmt.text("x5c", Value::Array(vec![Value::Bytes(der.to_vec())]));
    }
    let obj = MapBuilder::new()
        .text("fmt", "packed")
        .text("attStmt", stmt.build())
        .text("authData", auth_data)
        .build();
    (client_data, cbor::encode(&obj))
}

/// What a hand-built certificate ([`raw_cert`]) looks like: X.509 version,
/// validity window, and the Basic Constraints extension's DER value
/// (`None`: no extension). Built field by field, so tests can make what
/// the builder refuses to: v1 certificates, expired ones, odd encodings.
pub(crate) struct CertSpec<'a> {
    pub subject: &'a str,
    pub issuer: &'a str,
    pub v1: bool,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub basic_constraints: Option<Vec<u8>>,
    /// Further extensions: (OID, critical, DER value).
    pub extensions: Vec<(const_oid::ObjectIdentifier, bool, Vec<u8>)>,
}

impl<'a> CertSpec<'a> {
    /// A v3 certificate valid from yesterday for a year.
    pub(crate) fn new(subject: &'a str, issuer: &'a str) -> Self {
        let now = SystemTime::now();
        CertSpec {
            subject,
            issuer,
            v1: false,
            not_before: now - Duration::from_secs(86_400),
            not_after: now + Duration::from_secs(365 * 86_400),
            basic_constraints: None,
            extensions: Vec::new(),
        }
    }

    /// With Basic Constraints `cA` (DER: `30 03 01 01 FF` or an empty
    /// sequence for false, its DEFAULT).
    pub(crate) fn ca(mut self, ca: bool) -> Self {
        self.basic_constraints = Some(if ca {
            vec![0x30, 0x03, 0x01, 0x01, 0xff]
        } else {
            vec![0x30, 0x00]
        });
        self
    }

    /// With a further extension.
    pub(crate) fn extension(
        mut self,
        oid: const_oid::ObjectIdentifier,
        critical: bool,
        value: Vec<u8>,
    ) -> Self {
        self.extensions.push((oid, critical, value));
        self
    }

    pub(crate) fn valid(mut self, not_before: SystemTime, not_after: SystemTime) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }
}

/// A DER TLV with a one-byte tag (any length).
pub(crate) fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let len = n.to_be_bytes();
        let skip = len.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (len.len() - skip) as u8);
        out.extend_from_slice(&len[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A certificate for `key` as `spec` says, signed (ECDSA P-256, SHA-256)
/// by `signer`.
pub(crate) fn raw_cert(spec: &CertSpec<'_>, key: &SigningKey, signer: &SigningKey) -> Vec<u8> {
    use x509_cert::ext::Extension;
    use x509_cert::spki::AlgorithmIdentifierOwned;
    use x509_cert::TbsCertificate;
    let ecdsa_sha256 = AlgorithmIdentifierOwned {
        oid: const_oid::db::rfc5912::ECDSA_WITH_SHA_256,
        parameters: None,
    };
    let mut all: Vec<Extension> = spec
        .basic_constraints
        .iter()
        .map(|value| Extension {
            extn_id: const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS,
            critical: true,
            extn_value: der::asn1::OctetString::new(value.clone()).unwrap(),
        })
        .collect();
    all.extend(
        spec.extensions
            .iter()
            .map(|(oid, critical, value)| Extension {
                extn_id: *oid,
                critical: *critical,
                extn_value: der::asn1::OctetString::new(value.clone()).unwrap(),
            }),
    );
    let extensions = (!all.is_empty()).then_some(all);
    let tbs = TbsCertificate {
        version: if spec.v1 {
            x509_cert::Version::V1
        } else {
            x509_cert::Version::V3
        },
        serial_number: SerialNumber::new(&[0x33]).unwrap(),
        signature: ecdsa_sha256.clone(),
        issuer: Name::from_str(spec.issuer).unwrap(),
        validity: Validity {
            not_before: Time::try_from(spec.not_before).unwrap(),
            not_after: Time::try_from(spec.not_after).unwrap(),
        },
        // An empty subject (as TPM AIK certificates have) is the empty
        // RDN sequence.
        subject: if spec.subject.is_empty() {
            Name::default()
        } else {
            Name::from_str(spec.subject).unwrap()
        },
        subject_public_key_info: spki(key),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: if spec.v1 { None } else { extensions },
    };
    let sig: DerSignature = signer.sign(&tbs.to_der().unwrap());
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_sha256,
        signature: der::asn1::BitString::from_bytes(sig.as_bytes()).unwrap(),
    }
    .to_der()
    .unwrap()
}

//! Trust anchors and X.509 certification-path validation for attestation
//! trust paths (WebAuthn L3 §7.1 steps 22–23, RFC 5280 §6 reduced to what
//! attestation needs: names chain, each signature verifies, every
//! certificate is valid at the caller's clock, issuers are CAs).

use std::collections::HashMap;

use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use signature::hazmat::PrehashVerifier;
use time::OffsetDateTime;
use x509_cert::Certificate;

use crate::cose::{self, CoseAlgorithm, CoseKey, EcCurve};
use crate::error::VerifyError;
use crate::tlv;

/// A trusted root (or pinned intermediate) certificate.
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    der: Vec<u8>,
    cert: Certificate,
    subject: String,
    /// SHA-256 of `der`: the anchor's identity in the path cache.
    fingerprint: [u8; 32],
}

impl TrustAnchor {
    /// Parses a DER certificate as a trust anchor.
    pub fn from_der(der: &[u8]) -> Result<Self, VerifyError> {
        let cert = Certificate::from_der(der)
            .map_err(|e| VerifyError::TrustAnchorInvalid(e.to_string()))?;
        let subject = cert.tbs_certificate.subject.to_string();
        use sha2::Digest;
        Ok(Self {
            der: der.to_vec(),
            cert,
            subject,
            fingerprint: sha2::Sha256::digest(der).into(),
        })
    }

    /// The anchor's subject as an RFC 4514 string.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The anchor's DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// The certificates a relying party trusts as attestation roots: a global
/// set, and per-AAGUID sets (typically from FIDO metadata) that replace the
/// global set for credentials of that AAGUID.
///
/// The store remembers (bounded, least recently used out first) which
/// certificate chains it has already validated to which anchor set, with
/// the validity window of the path: a batch attestation certificate is
/// shared by every key of a model, so its chain is checked once. A cached
/// path is reused only for the same chain bytes and the same anchor set,
/// and only while the caller's clock lies inside the window; otherwise the
/// path is validated afresh. (The attestation signature itself is always
/// verified; only the certificate path is cached.)
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    global: Vec<TrustAnchor>,
    by_aaguid: HashMap<[u8; 16], Vec<TrustAnchor>>,
    cache: PathCache,
}

/// How many validated paths a store remembers.
pub const PATH_CACHE_CAPACITY: usize = 1024;

/// Validated paths: key = SHA-256 over the anchor set and the chain DERs.
/// Bounded by [`PATH_CACHE_CAPACITY`]; quick_cache chooses what to evict
/// (its CLOCK-Pro-like policy keeps the often-used batch certificates of
/// popular models over one-off chains).
struct PathCache {
    inner: quick_cache::sync::Cache<[u8; 32], CachedPath>,
}

#[derive(Clone)]
struct CachedPath {
    anchor_subject: String,
    /// The latest notBefore and earliest notAfter of the path's
    /// certificates (anchor included), as Unix seconds.
    not_before: i64,
    not_after: i64,
}

impl Default for PathCache {
    fn default() -> Self {
        PathCache {
            inner: quick_cache::sync::Cache::new(PATH_CACHE_CAPACITY),
        }
    }
}

impl Clone for PathCache {
    /// A clone starts empty (anchors may be added to it independently).
    fn clone(&self) -> Self {
        PathCache::default()
    }
}

impl std::fmt::Debug for PathCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PathCache")
            .field("entries", &self.len())
            .finish()
    }
}

impl PathCache {
    fn key(chain: &[ParsedCert], anchors: &[TrustAnchor]) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update((anchors.len() as u64).to_be_bytes());
        for a in anchors {
            h.update(a.fingerprint);
        }
        h.update((chain.len() as u64).to_be_bytes());
        for c in chain {
            h.update((c.der.len() as u64).to_be_bytes());
            h.update(&c.der);
        }
        h.finalize().into()
    }

    /// The anchor a path validated to, while `now` is inside its window.
    fn get(&self, key: &[u8; 32], now: i64) -> Option<String> {
        let e = self.inner.get(key)?;
        (e.not_before <= now && now <= e.not_after).then_some(e.anchor_subject)
    }

    fn put(&self, key: [u8; 32], anchor_subject: String, not_before: i64, not_after: i64) {
        self.inner.insert(
            key,
            CachedPath {
                anchor_subject,
                not_before,
                not_after,
            },
        );
    }

    fn len(&self) -> usize {
        self.inner.len()
    }
}

impl TrustStore {
    /// An empty store: every attestation chain is untrusted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every certificate of a PEM text (one or more
    /// `BEGIN CERTIFICATE` blocks); returns how many were added.
    pub fn add_pem(&mut self, pem: &str) -> Result<usize, VerifyError> {
        let certs = Certificate::load_pem_chain(pem.as_bytes())
            .map_err(|e| VerifyError::TrustAnchorInvalid(e.to_string()))?;
        let mut n = 0;
        for cert in certs {
            let der = cert
                .to_der()
                .map_err(|e| VerifyError::TrustAnchorInvalid(e.to_string()))?;
            self.global.push(TrustAnchor::from_der(&der)?);
            n += 1;
        }
        Ok(n)
    }

    /// Adds one DER certificate as a global anchor.
    pub fn add_der(&mut self, der: &[u8]) -> Result<(), VerifyError> {
        self.global.push(TrustAnchor::from_der(der)?);
        Ok(())
    }

    /// Adds a root for authenticators of one AAGUID (for instance an
    /// `attestationRootCertificates` entry of FIDO metadata).
    pub fn add_for_aaguid(&mut self, aaguid: [u8; 16], der: &[u8]) -> Result<(), VerifyError> {
        let anchor = TrustAnchor::from_der(der)?;
        self.by_aaguid.entry(aaguid).or_default().push(anchor);
        Ok(())
    }

    /// Whether the store holds no anchor at all.
    pub fn is_empty(&self) -> bool {
        self.global.is_empty() && self.by_aaguid.is_empty()
    }

    /// The anchors that apply to a credential of `aaguid`: its own roots
    /// when metadata gave some, the global set otherwise.
    pub fn anchors_for(&self, aaguid: &[u8; 16]) -> &[TrustAnchor] {
        match self.by_aaguid.get(aaguid) {
            Some(list) if *aaguid != [0; 16] && !list.is_empty() => list,
            _ => &self.global,
        }
    }

    /// [`validate_path`] against the anchors for `aaguid`, through the
    /// store's cache of already validated paths. Only successes are
    /// cached; a cached path outside its validity window at `now` is
    /// validated again (and fails as it would uncached).
    pub(crate) fn validate_path_cached(
        &self,
        chain: &[ParsedCert],
        aaguid: &[u8; 16],
        now: OffsetDateTime,
    ) -> Result<String, String> {
        let anchors = self.anchors_for(aaguid);
        if anchors.is_empty() || chain.is_empty() {
            return validate_path(chain, anchors, now);
        }
        let key = PathCache::key(chain, anchors);
        if let Some(subject) = self.cache.get(&key, now.unix_timestamp()) {
            return Ok(subject);
        }
        let path = validate_path_windowed(chain, anchors, now)?;
        self.cache.put(
            key,
            path.anchor_subject.clone(),
            path.not_before,
            path.not_after,
        );
        Ok(path.anchor_subject)
    }

    /// How many validated paths the cache holds (diagnostics, tests).
    pub fn cached_paths(&self) -> usize {
        self.cache.len()
    }
}

/// A parsed certificate together with its original encoding.
#[derive(Debug, Clone)]
pub(crate) struct ParsedCert {
    pub der: Vec<u8>,
    pub cert: Certificate,
}

impl ParsedCert {
    /// Parses one DER certificate of an attestation statement.
    pub(crate) fn parse(der: &[u8]) -> Result<Self, VerifyError> {
        let cert = Certificate::from_der(der)
            .map_err(|e| VerifyError::AttestationCertificateInvalid(format!("unparsable: {e}")))?;
        Ok(Self {
            der: der.to_vec(),
            cert,
        })
    }

    /// The subject as an RFC 4514 string.
    pub(crate) fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// The extension with `oid`, if present: (critical, value bytes).
    pub(crate) fn extension(&self, oid: ObjectIdentifier) -> Option<(bool, &[u8])> {
        self.cert
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| e.extn_id == oid)
            .map(|e| (e.critical, e.extn_value.as_bytes()))
    }

    /// The certificate's public key as a COSE key.
    pub(crate) fn public_key(&self) -> Result<CoseKey, VerifyError> {
        spki_to_cose(&self.cert.tbs_certificate.subject_public_key_info)
    }

    /// Whether `now` lies within the validity period.
    pub(crate) fn valid_at(&self, now: OffsetDateTime) -> bool {
        valid_at(&self.cert, now)
    }

    /// Whether this is an X.509 v3 certificate.
    pub(crate) fn is_v3(&self) -> bool {
        self.cert.tbs_certificate.version == x509_cert::Version::V3
    }

    /// The `cA` component of Basic Constraints (`None` if absent).
    /// With `lenient`, a BER encoding (e.g. an explicit DEFAULT FALSE) is
    /// read too.
    pub(crate) fn basic_constraints_ca(&self, lenient: bool) -> Result<Option<bool>, VerifyError> {
        let Some((_, value)) = self.extension(const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS)
        else {
            return Ok(None);
        };
        match x509_cert::ext::pkix::BasicConstraints::from_der(value) {
            Ok(bc) => Ok(Some(bc.ca)),
            Err(e) if lenient => {
                let ca = tlv::read(value)
                    .filter(|(t, rest)| t.is_universal(tlv::SEQUENCE) && rest.is_empty())
                    .and_then(|(t, _)| tlv::children(t.value))
                    .map(|items| {
                        items
                            .first()
                            .is_some_and(|i| i.class == 0 && i.number == 1 && i.value != [0])
                    });
                ca.map(Some).ok_or_else(|| {
                    VerifyError::AttestationCertificateInvalid(format!(
                        "basic constraints unreadable: {e}"
                    ))
                })
            }
            Err(e) => Err(VerifyError::AttestationCertificateInvalid(format!(
                "basic constraints are not DER: {e}"
            ))),
        }
    }

    /// The subject's attribute values of type `oid`, as text.
    pub(crate) fn subject_attr(&self, oid: ObjectIdentifier) -> Vec<String> {
        self.cert
            .tbs_certificate
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .filter(|atv| atv.oid == oid)
            .map(|atv| String::from_utf8_lossy(atv.value.value()).into_owned())
            .collect()
    }
}

fn valid_at(cert: &Certificate, now: OffsetDateTime) -> bool {
    let (nb, na) = window(cert);
    let t = now.unix_timestamp();
    nb <= t && t <= na
}

/// notBefore and notAfter as Unix seconds.
fn window(cert: &Certificate) -> (i64, i64) {
    let v = &cert.tbs_certificate.validity;
    (
        v.not_before.to_unix_duration().as_secs() as i64,
        v.not_after.to_unix_duration().as_secs() as i64,
    )
}

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Converts a SubjectPublicKeyInfo into a COSE key (EC P-256/384/521, RSA,
/// Ed25519). The COSE `alg` is the usual one for the key type; callers pass
/// the algorithm to use at verification time.
pub(crate) fn spki_to_cose(spki: &spki::SubjectPublicKeyInfoOwned) -> Result<CoseKey, VerifyError> {
    let bad = |what: &str| VerifyError::AttestationCertificateInvalid(what.to_string());
    let key_bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| bad("public key bit string has unused bits"))?;
    let alg_oid = spki.algorithm.oid;
    if alg_oid == OID_EC_PUBLIC_KEY {
        let curve_oid: ObjectIdentifier = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as().ok())
            .ok_or_else(|| bad("EC key without a named curve"))?;
        let (curve, alg, point) = if curve_oid == OID_P256 {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            let pk = p256::PublicKey::from_sec1_bytes(key_bytes)
                .map_err(|_| bad("invalid P-256 point"))?;
            (
                EcCurve::P256,
                CoseAlgorithm::Es256,
                pk.to_encoded_point(false).as_bytes().to_vec(),
            )
        } else if curve_oid == OID_P384 {
            use p384::elliptic_curve::sec1::ToEncodedPoint;
            let pk = p384::PublicKey::from_sec1_bytes(key_bytes)
                .map_err(|_| bad("invalid P-384 point"))?;
            (
                EcCurve::P384,
                CoseAlgorithm::Es384,
                pk.to_encoded_point(false).as_bytes().to_vec(),
            )
        } else if curve_oid == OID_P521 {
            use p521::elliptic_curve::sec1::ToEncodedPoint;
            let pk = p521::PublicKey::from_sec1_bytes(key_bytes)
                .map_err(|_| bad("invalid P-521 point"))?;
            (
                EcCurve::P521,
                CoseAlgorithm::Es512,
                pk.to_encoded_point(false).as_bytes().to_vec(),
            )
        } else {
            return Err(bad("unsupported EC curve"));
        };
        let n = curve.coordinate_len();
        Ok(CoseKey::Ec2 {
            alg: alg.id(),
            curve,
            x: point[1..1 + n].to_vec(),
            y: point[1 + n..].to_vec(),
        })
    } else if alg_oid == OID_RSA {
        use rsa::pkcs1::DecodeRsaPublicKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPublicKey::from_pkcs1_der(key_bytes)
            .map_err(|_| bad("invalid RSA public key"))?;
        Ok(CoseKey::Rsa {
            alg: CoseAlgorithm::Rs256.id(),
            n: key.n().to_bytes_be(),
            e: key.e().to_bytes_be(),
        })
    } else if alg_oid == OID_ED25519 {
        let x: [u8; 32] = key_bytes
            .try_into()
            .map_err(|_| bad("invalid Ed25519 key"))?;
        Ok(CoseKey::Ed25519 {
            alg: CoseAlgorithm::EdDsa.id(),
            x,
        })
    } else {
        Err(bad("unsupported public key algorithm"))
    }
}

/// Whether two COSE keys are the same public key (ignoring `alg`).
pub(crate) fn same_public_key(a: &CoseKey, b: &CoseKey) -> bool {
    fn strip(v: &[u8]) -> &[u8] {
        let i = v.iter().position(|&b| b != 0).unwrap_or(v.len());
        &v[i..]
    }
    match (a, b) {
        (
            CoseKey::Ec2 {
                curve: c1,
                x: x1,
                y: y1,
                ..
            },
            CoseKey::Ec2 {
                curve: c2,
                x: x2,
                y: y2,
                ..
            },
        ) => c1 == c2 && x1 == x2 && y1 == y2,
        (CoseKey::Ed25519 { x: x1, .. }, CoseKey::Ed25519 { x: x2, .. }) => x1 == x2,
        (CoseKey::Rsa { n: n1, e: e1, .. }, CoseKey::Rsa { n: n2, e: e2, .. }) => {
            strip(n1) == strip(n2) && strip(e1) == strip(e2)
        }
        _ => false,
    }
}

/// The to-be-signed bytes of a certificate exactly as encoded (not
/// re-encoded: signatures cover the original bytes).
fn tbs_bytes(der: &[u8]) -> Option<&[u8]> {
    let (outer, _) = tlv::read(der)?;
    let (tbs, _) = tlv::read(outer.value)?;
    Some(tbs.raw)
}

enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

fn digest(hash: &Hash, msg: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match hash {
        Hash::Sha1 => sha1::Sha1::digest(msg).to_vec(),
        Hash::Sha256 => sha2::Sha256::digest(msg).to_vec(),
        Hash::Sha384 => sha2::Sha384::digest(msg).to_vec(),
        Hash::Sha512 => sha2::Sha512::digest(msg).to_vec(),
    }
}

/// Verifies that `issuer_key` signed the certificate `child`.
pub(crate) fn verify_cert_signature(
    child: &ParsedCert,
    issuer_key: &CoseKey,
) -> Result<(), String> {
    let tbs = tbs_bytes(&child.der).ok_or("certificate framing unreadable")?;
    let sig = child.cert.signature.raw_bytes();
    let oid = child.cert.signature_algorithm.oid.to_string();
    let rsa = |alg: CoseAlgorithm| {
        cose::verify_signature(issuer_key, alg.id(), tbs, sig).map_err(|e| e.to_string())
    };
    let ecdsa = |hash: Hash| verify_ecdsa_cert(issuer_key, hash, tbs, sig);
    match oid.as_str() {
        "1.2.840.113549.1.1.5" => rsa(CoseAlgorithm::Rs1),
        "1.2.840.113549.1.1.11" => rsa(CoseAlgorithm::Rs256),
        "1.2.840.113549.1.1.12" => rsa(CoseAlgorithm::Rs384),
        "1.2.840.113549.1.1.13" => rsa(CoseAlgorithm::Rs512),
        "1.2.840.10045.4.1" => ecdsa(Hash::Sha1),
        "1.2.840.10045.4.3.2" => ecdsa(Hash::Sha256),
        "1.2.840.10045.4.3.3" => ecdsa(Hash::Sha384),
        "1.2.840.10045.4.3.4" => ecdsa(Hash::Sha512),
        "1.3.101.112" => cose::verify_signature(issuer_key, CoseAlgorithm::EdDsa.id(), tbs, sig)
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "unsupported certificate signature algorithm {other}"
        )),
    }
}

/// ECDSA of a certificate: on aws-lc-rs for every curve and hash pair it
/// has (all but P-384 with SHA-1), else on RustCrypto over the digest.
fn verify_ecdsa_cert(key: &CoseKey, hash: Hash, tbs: &[u8], sig: &[u8]) -> Result<(), String> {
    use aws_lc_rs::signature as lc;
    let CoseKey::Ec2 { curve, x, y, .. } = key else {
        return Err("issuer key is not an EC key".into());
    };
    let alg: Option<&'static lc::EcdsaVerificationAlgorithm> = match (curve, &hash) {
        (EcCurve::P256, Hash::Sha1) => Some(&lc::ECDSA_P256_SHA1_ASN1),
        (EcCurve::P256, Hash::Sha256) => Some(&lc::ECDSA_P256_SHA256_ASN1),
        (EcCurve::P256, Hash::Sha384) => Some(&lc::ECDSA_P256_SHA384_ASN1),
        (EcCurve::P256, Hash::Sha512) => Some(&lc::ECDSA_P256_SHA512_ASN1),
        (EcCurve::P384, Hash::Sha1) => None,
        (EcCurve::P384, Hash::Sha256) => Some(&lc::ECDSA_P384_SHA256_ASN1),
        (EcCurve::P384, Hash::Sha384) => Some(&lc::ECDSA_P384_SHA384_ASN1),
        (EcCurve::P384, Hash::Sha512) => Some(&lc::ECDSA_P384_SHA512_ASN1),
        (EcCurve::P521, Hash::Sha1) => Some(&lc::ECDSA_P521_SHA1_ASN1),
        (EcCurve::P521, Hash::Sha256) => Some(&lc::ECDSA_P521_SHA256_ASN1),
        (EcCurve::P521, Hash::Sha384) => Some(&lc::ECDSA_P521_SHA384_ASN1),
        (EcCurve::P521, Hash::Sha512) => Some(&lc::ECDSA_P521_SHA512_ASN1),
    };
    let Some(alg) = alg else {
        return verify_ecdsa_prehash(key, &digest(&hash, tbs), sig);
    };
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(4);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    lc::ParsedPublicKey::new(alg, &point)
        .map_err(|e| e.to_string())?
        .verify_sig(tbs, sig)
        .map_err(|_| "signature does not verify".to_string())
}

/// ECDSA over a digest of any length with a key of any NIST curve (a P-384
/// CA may sign with SHA-256, X.509 allows it).
fn verify_ecdsa_prehash(key: &CoseKey, prehash: &[u8], sig: &[u8]) -> Result<(), String> {
    let CoseKey::Ec2 { curve, x, y, .. } = key else {
        return Err("issuer key is not an EC key".into());
    };
    let mut point = vec![4u8];
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    let res = match curve {
        EcCurve::P256 => {
            let vk =
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|e| e.to_string())?;
            let s = p256::ecdsa::Signature::from_der(sig).map_err(|e| e.to_string())?;
            vk.verify_prehash(prehash, &s)
        }
        EcCurve::P384 => {
            let vk =
                p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|e| e.to_string())?;
            let s = p384::ecdsa::Signature::from_der(sig).map_err(|e| e.to_string())?;
            vk.verify_prehash(prehash, &s)
        }
        EcCurve::P521 => {
            let vk =
                p521::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|e| e.to_string())?;
            let s = p521::ecdsa::Signature::from_der(sig).map_err(|e| e.to_string())?;
            vk.verify_prehash(prehash, &s)
        }
    };
    res.map_err(|_| "signature does not verify".to_string())
}

/// Builds and checks the path from `chain[0]` (the attestation
/// certificate) through the other certificates of `chain` to one of
/// `anchors`, at `now`. Returns the anchor's subject, or why no path holds.
pub(crate) fn validate_path(
    chain: &[ParsedCert],
    anchors: &[TrustAnchor],
    now: OffsetDateTime,
) -> Result<String, String> {
    validate_path_windowed(chain, anchors, now).map(|p| p.anchor_subject)
}

/// A validated path: the anchor's subject and the intersection of the
/// validity periods of every certificate on it (anchor included).
struct ValidPath {
    anchor_subject: String,
    not_before: i64,
    not_after: i64,
}

fn validate_path_windowed(
    chain: &[ParsedCert],
    anchors: &[TrustAnchor],
    now: OffsetDateTime,
) -> Result<ValidPath, String> {
    let (mut not_before, mut not_after) = (i64::MIN, i64::MAX);
    let within = |cert: &Certificate, not_before: &mut i64, not_after: &mut i64| {
        let (nb, na) = window(cert);
        *not_before = (*not_before).max(nb);
        *not_after = (*not_after).min(na);
    };
    if anchors.is_empty() {
        return Err("no trust anchor is configured".into());
    }
    let Some(mut current) = chain.first() else {
        return Err("empty certificate chain".into());
    };
    let mut used = vec![false; chain.len()];
    used[0] = true;
    for _ in 0..=chain.len() {
        if !current.valid_at(now) {
            return Err(format!(
                "certificate '{}' is not valid at {now}",
                current.subject()
            ));
        }
        within(&current.cert, &mut not_before, &mut not_after);
        if let Some(a) = anchors.iter().find(|a| a.der == current.der) {
            return Ok(ValidPath {
                anchor_subject: a.subject.clone(),
                not_before,
                not_after,
            });
        }
        let issuer = &current.cert.tbs_certificate.issuer;
        let mut last_error = None;
        for a in anchors
            .iter()
            .filter(|a| &a.cert.tbs_certificate.subject == issuer)
        {
            let key = spki_to_cose(&a.cert.tbs_certificate.subject_public_key_info)
                .map_err(|e| e.to_string())?;
            match verify_cert_signature(current, &key) {
                Ok(()) if valid_at(&a.cert, now) => {
                    within(&a.cert, &mut not_before, &mut not_after);
                    return Ok(ValidPath {
                        anchor_subject: a.subject.clone(),
                        not_before,
                        not_after,
                    });
                }
                Ok(()) => {
                    last_error = Some(format!(
                        "trust anchor '{}' is not valid at {now}",
                        a.subject
                    ))
                }
                Err(e) => {
                    last_error = Some(format!("'{}' not signed by anchor: {e}", current.subject()))
                }
            }
        }
        let next = chain.iter().enumerate().find(|(i, c)| {
            !used[*i]
                && &c.cert.tbs_certificate.subject == issuer
                && c.public_key()
                    .is_ok_and(|k| verify_cert_signature(current, &k).is_ok())
        });
        let Some((i, next)) = next else {
            return Err(last_error.unwrap_or_else(|| {
                format!(
                    "no trust anchor or chain certificate issued '{}'",
                    current.subject()
                )
            }));
        };
        // RFC 5280 §6.1.4 (k): an issuer must be a CA (v1 roots predate the
        // extension and are accepted as such).
        if next.is_v3() && next.basic_constraints_ca(true).ok().flatten() != Some(true) {
            return Err(format!("issuer '{}' is not a CA", next.subject()));
        }
        used[i] = true;
        current = next;
    }
    Err("certificate chain loops".into())
}

/// The subject of a DER certificate as an RFC 4514 string, for display.
pub fn certificate_subject(der: &[u8]) -> Option<String> {
    Certificate::from_der(der)
        .ok()
        .map(|c| c.tbs_certificate.subject.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cert, key};

    #[test]
    fn path_through_intermediate_checks_ca_and_time() {
        let (rk, ik, lk) = (key(), key(), key());
        let root_der = cert("CN=R,C=US", &rk, None, &rk, true, None);
        let root = Certificate::from_der(&root_der).unwrap();
        let int_der = cert("CN=I,C=US", &ik, Some(&root), &rk, true, None);
        let int = Certificate::from_der(&int_der).unwrap();
        let leaf_der = cert("CN=L,C=US", &lk, Some(&int), &ik, false, None);
        let chain: Vec<ParsedCert> = [&leaf_der, &int_der]
            .iter()
            .map(|d| ParsedCert::parse(d).unwrap())
            .collect();
        let anchors = vec![TrustAnchor::from_der(&root_der).unwrap()];
        let now = OffsetDateTime::now_utc();
        assert_eq!(validate_path(&chain, &anchors, now).unwrap(), "CN=R,C=US");
        assert!(validate_path(&chain[..1], &anchors, now).is_err());
        assert!(validate_path(&chain, &anchors, now + time::Duration::days(400)).is_err());
        assert!(validate_path(&chain, &[], now).is_err());
        // A leaf (not a CA) cannot issue.
        let fake_der = cert(
            "CN=F,C=US",
            &key(),
            Some(&Certificate::from_der(&leaf_der).unwrap()),
            &lk,
            false,
            None,
        );
        let chain: Vec<ParsedCert> = [&fake_der, &leaf_der, &int_der]
            .iter()
            .map(|d| ParsedCert::parse(d).unwrap())
            .collect();
        assert!(validate_path(&chain, &anchors, now)
            .unwrap_err()
            .contains("not a CA"));
    }

    #[test]
    fn cached_path_rechecks_time_window_and_anchor_set() {
        let (rk, lk, other) = (key(), key(), key());
        let root_der = cert("CN=R,C=US", &rk, None, &rk, true, None);
        let root = Certificate::from_der(&root_der).unwrap();
        let leaf_der = cert("CN=L,C=US", &lk, Some(&root), &rk, false, None);
        // Same subject as the real root, different key.
        let impostor_der = cert("CN=R,C=US", &other, None, &other, true, None);
        let chain = vec![ParsedCert::parse(&leaf_der).unwrap()];
        let mut store = TrustStore::new();
        store.add_der(&root_der).unwrap();
        let other_aaguid = [7u8; 16];
        store.add_for_aaguid(other_aaguid, &impostor_der).unwrap();
        let now = OffsetDateTime::now_utc();

        assert_eq!(
            store.validate_path_cached(&chain, &[0; 16], now).unwrap(),
            "CN=R,C=US"
        );
        assert_eq!(store.cached_paths(), 1);
        // Cached: still fine now, still rejected outside the window.
        assert!(store.validate_path_cached(&chain, &[0; 16], now).is_ok());
        let later = now + time::Duration::days(400);
        assert!(store.validate_path_cached(&chain, &[0; 16], later).is_err());
        let earlier = now - time::Duration::days(3);
        assert!(store
            .validate_path_cached(&chain, &[0; 16], earlier)
            .is_err());
        assert_eq!(store.cached_paths(), 1);
        // Another anchor set (the AAGUID's own roots) does not reuse it.
        assert!(store
            .validate_path_cached(&chain, &other_aaguid, now)
            .is_err());
        assert_eq!(store.cached_paths(), 1);
        // A clone starts empty; the original keeps answering.
        assert_eq!(store.clone().cached_paths(), 0);
        assert!(store.validate_path_cached(&chain, &[0; 16], now).is_ok());
    }

    #[test]
    fn pem_with_several_certificates() {
        use der::EncodePem;
        let k = key();
        let a = Certificate::from_der(&cert("CN=A,C=US", &k, None, &k, true, None)).unwrap();
        let b = Certificate::from_der(&cert("CN=B,C=US", &k, None, &k, true, None)).unwrap();
        let pem = a.to_pem(der::pem::LineEnding::LF).unwrap()
            + &b.to_pem(der::pem::LineEnding::LF).unwrap();
        let mut store = TrustStore::new();
        assert!(store.is_empty());
        assert_eq!(store.add_pem(&pem).unwrap(), 2);
        assert!(!store.is_empty());
        assert!(matches!(store.add_pem("nonsense"), Ok(0) | Err(_)));
        assert_eq!(store.anchors_for(&[0; 16]).len(), 2);
    }
    // ---- Negative vectors (RFC 5280 §6.1.3 (a)(2) validity, §6.1.4 (k)
    // basic constraints; WebAuthn L3 §8.4/§8.8 key binding), built with
    // real signatures so each check is the only thing that fails. ----

    use crate::testutil::{raw_cert, CertSpec};
    use std::time::{Duration as StdDuration, SystemTime};

    const DAY: StdDuration = StdDuration::from_secs(86_400);

    fn parsed(der: &[u8]) -> ParsedCert {
        ParsedCert::parse(der).unwrap()
    }

    /// root → leaf, the leaf as `leaf` says; the root valid for ten years.
    fn root_and(leaf: CertSpec<'_>) -> (Vec<u8>, Vec<u8>) {
        let (rk, lk) = (key(), key());
        let now = SystemTime::now();
        let root = raw_cert(
            &CertSpec::new("CN=R,C=US", "CN=R,C=US")
                .ca(true)
                .valid(now - DAY, now + 3650 * DAY),
            &rk,
            &rk,
        );
        (root, raw_cert(&leaf, &lk, &rk))
    }

    #[test]
    fn an_expired_or_not_yet_valid_attestation_certificate_is_refused() {
        let now = SystemTime::now();
        for (what, nb, na) in [
            ("expired", now - 30 * DAY, now - DAY),
            ("not yet valid", now + DAY, now + 30 * DAY),
        ] {
            let (root, leaf) = root_and(CertSpec::new("CN=L,C=US", "CN=R,C=US").valid(nb, na));
            let anchors = vec![TrustAnchor::from_der(&root).unwrap()];
            let e =
                validate_path(&[parsed(&leaf)], &anchors, OffsetDateTime::now_utc()).unwrap_err();
            assert!(e.contains("not valid"), "{what}: {e}");
            assert!(!parsed(&leaf).valid_at(OffsetDateTime::now_utc()), "{what}");
        }
        let (_, leaf) = root_and(CertSpec::new("CN=L,C=US", "CN=R,C=US"));
        assert!(parsed(&leaf).valid_at(OffsetDateTime::now_utc()));
    }

    #[test]
    fn an_expired_trust_anchor_validates_nothing() {
        let (rk, lk) = (key(), key());
        let now = SystemTime::now();
        let root = raw_cert(
            &CertSpec::new("CN=R,C=US", "CN=R,C=US")
                .ca(true)
                .valid(now - 3650 * DAY, now - DAY),
            &rk,
            &rk,
        );
        let leaf = raw_cert(&CertSpec::new("CN=L,C=US", "CN=R,C=US"), &lk, &rk);
        let anchors = vec![TrustAnchor::from_der(&root).unwrap()];
        let e = validate_path(&[parsed(&leaf)], &anchors, OffsetDateTime::now_utc()).unwrap_err();
        assert!(e.contains("trust anchor") && e.contains("not valid"), "{e}");
    }

    /// RFC 5280 §6.1.4 (k): v3 issuers must assert cA; v1 issuers (no
    /// extensions at all) are accepted as the old roots they are.
    #[test]
    fn issuers_must_be_cas_unless_they_are_v1() {
        let (rk, ik, lk) = (key(), key(), key());
        let root = raw_cert(&CertSpec::new("CN=R,C=US", "CN=R,C=US").ca(true), &rk, &rk);
        let anchors = vec![TrustAnchor::from_der(&root).unwrap()];
        let now = OffsetDateTime::now_utc();
        let leaf = raw_cert(&CertSpec::new("CN=L,C=US", "CN=I,C=US"), &lk, &ik);
        let with = |intermediate: CertSpec<'_>| {
            let int = raw_cert(&intermediate, &ik, &rk);
            validate_path(&[parsed(&leaf), parsed(&int)], &anchors, now)
        };
        assert!(with(CertSpec::new("CN=I,C=US", "CN=R,C=US").ca(true)).is_ok());
        let v1 = CertSpec {
            v1: true,
            ..CertSpec::new("CN=I,C=US", "CN=R,C=US")
        };
        assert!(with(v1).is_ok(), "a v1 issuer");
        for (what, spec) in [
            (
                "cA false",
                CertSpec::new("CN=I,C=US", "CN=R,C=US").ca(false),
            ),
            (
                "no basic constraints",
                CertSpec::new("CN=I,C=US", "CN=R,C=US"),
            ),
        ] {
            let e = with(spec).unwrap_err();
            assert!(e.contains("not a CA"), "{what}: {e}");
        }
        let v1 = raw_cert(
            &CertSpec {
                v1: true,
                ..CertSpec::new("CN=V,C=US", "CN=V,C=US")
            },
            &ik,
            &ik,
        );
        assert!(!parsed(&v1).is_v3());
        assert!(parsed(&root).is_v3());
    }

    #[test]
    fn basic_constraints_in_der_and_in_lenient_ber() {
        let bc = |value: &[u8]| {
            let mut spec = CertSpec::new("CN=B,C=US", "CN=B,C=US");
            spec.basic_constraints = Some(value.to_vec());
            let k = key();
            parsed(&raw_cert(&spec, &k, &k))
        };
        let none = parsed(&raw_cert(
            &CertSpec::new("CN=B,C=US", "CN=B,C=US"),
            &key(),
            &key(),
        ));
        assert_eq!(none.basic_constraints_ca(false).unwrap(), None);
        // DER: cA TRUE; cA absent (DEFAULT FALSE); pathLen only.
        for lenient in [false, true] {
            assert_eq!(
                bc(&[0x30, 0x03, 0x01, 0x01, 0xff])
                    .basic_constraints_ca(lenient)
                    .unwrap(),
                Some(true)
            );
            assert_eq!(
                bc(&[0x30, 0x00]).basic_constraints_ca(lenient).unwrap(),
                Some(false)
            );
            assert_eq!(
                bc(&[0x30, 0x03, 0x02, 0x01, 0x00])
                    .basic_constraints_ca(lenient)
                    .unwrap(),
                Some(false)
            );
        }
        // BER that DER refuses: TRUE as 0x01; a non-minimal pathLen; a
        // context-tagged first item.
        // (An explicit DEFAULT FALSE is read as false either way.)
        for lenient in [false, true] {
            assert_eq!(
                bc(&[0x30, 0x03, 0x01, 0x01, 0x00])
                    .basic_constraints_ca(lenient)
                    .unwrap(),
                Some(false)
            );
        }
        let ber: [(&[u8], bool); 3] = [
            (&[0x30, 0x03, 0x01, 0x01, 0x01], true),
            (&[0x30, 0x04, 0x02, 0x02, 0x00, 0x01], false),
            (&[0x30, 0x03, 0x81, 0x01, 0x01], false),
        ];
        for (value, ca) in ber {
            let c = bc(value);
            assert!(
                c.basic_constraints_ca(false).is_err(),
                "{value:02x?} is not DER"
            );
            assert_eq!(
                c.basic_constraints_ca(true).unwrap(),
                Some(ca),
                "{value:02x?}"
            );
        }
        // Not a lone SEQUENCE: unreadable even leniently.
        for value in [
            &[0x31, 0x03, 0x01, 0x01, 0x01][..],
            &[0x30, 0x03, 0x01, 0x01, 0x01, 0x00],
        ] {
            assert!(
                bc(value).basic_constraints_ca(true).is_err(),
                "{value:02x?}"
            );
        }
    }

    #[test]
    fn the_issuer_is_found_by_name_and_signature_among_chain_certificates() {
        let (rk, ik, lk, other) = (key(), key(), key(), key());
        let root = raw_cert(&CertSpec::new("CN=R,C=US", "CN=R,C=US").ca(true), &rk, &rk);
        let int = raw_cert(&CertSpec::new("CN=I,C=US", "CN=R,C=US").ca(true), &ik, &rk);
        let leaf = raw_cert(&CertSpec::new("CN=L,C=US", "CN=I,C=US"), &lk, &ik);
        // An unrelated CA, and an impostor with the issuer's name but
        // another key, both placed before the real intermediate.
        let unrelated = raw_cert(
            &CertSpec::new("CN=U,C=US", "CN=R,C=US").ca(true),
            &other,
            &rk,
        );
        let impostor = raw_cert(
            &CertSpec::new("CN=I,C=US", "CN=R,C=US").ca(true),
            &other,
            &rk,
        );
        let anchors = vec![TrustAnchor::from_der(&root).unwrap()];
        let now = OffsetDateTime::now_utc();
        let chain: Vec<ParsedCert> = [&leaf, &unrelated, &impostor, &int]
            .iter()
            .map(|d| parsed(d))
            .collect();
        assert_eq!(validate_path(&chain, &anchors, now).unwrap(), "CN=R,C=US");
        // Without the real intermediate there is no path.
        let chain: Vec<ParsedCert> = [&leaf, &unrelated, &impostor]
            .iter()
            .map(|d| parsed(d))
            .collect();
        assert!(validate_path(&chain, &anchors, now).is_err());
    }

    #[test]
    fn names_and_encodings_are_reported_as_they_are() {
        let k = key();
        let der = raw_cert(
            &CertSpec::new("CN=Named,O=Keysmith,C=US", "CN=Named,O=Keysmith,C=US").ca(true),
            &k,
            &k,
        );
        let a = TrustAnchor::from_der(&der).unwrap();
        assert_eq!(a.subject(), "CN=Named,O=Keysmith,C=US");
        assert_eq!(a.der(), &der[..]);
        assert_eq!(parsed(&der).subject(), "CN=Named,O=Keysmith,C=US");
        assert_eq!(
            certificate_subject(&der).as_deref(),
            Some("CN=Named,O=Keysmith,C=US")
        );
        assert_eq!(certificate_subject(b"not a certificate"), None);
    }

    /// Metadata roots for an AAGUID replace the global set — except for the
    /// all-zero AAGUID, which every `none`/self attestation carries and so
    /// names no model.
    #[test]
    fn per_aaguid_anchors_never_apply_to_the_zero_aaguid() {
        let (g, m) = (key(), key());
        let global = cert("CN=G,C=US", &g, None, &g, true, None);
        let model = cert("CN=M,C=US", &m, None, &m, true, None);
        let mut store = TrustStore::new();
        store.add_der(&global).unwrap();
        store.add_for_aaguid([0; 16], &model).unwrap();
        store.add_for_aaguid([5; 16], &model).unwrap();
        assert_eq!(store.anchors_for(&[0; 16])[0].subject(), "CN=G,C=US");
        assert_eq!(store.anchors_for(&[5; 16])[0].subject(), "CN=M,C=US");
        assert_eq!(store.anchors_for(&[6; 16])[0].subject(), "CN=G,C=US");
    }

    #[test]
    fn the_path_cache_answers_hits_inside_the_window_and_stays_bounded() {
        let c = PathCache::default();
        c.put([1; 32], "one".into(), 10, 20);
        assert_eq!(c.get(&[1; 32], 15).as_deref(), Some("one"));
        assert_eq!(c.get(&[1; 32], 21), None, "outside the window");
        assert_eq!(c.get(&[1; 32], 9), None);
        assert_eq!(c.get(&[2; 32], 15), None);
        // Twice the capacity of one-off chains, one chain used all along:
        // the cache stays within its bound and keeps the one in use.
        let c = PathCache::default();
        c.put([0xff; 32], "popular".into(), 0, i64::MAX);
        for i in 0..2 * PATH_CACHE_CAPACITY {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(i as u64).to_be_bytes());
            c.put(k, format!("{i}"), 0, i64::MAX);
            assert!(c.get(&[0xff; 32], 1).is_some(), "evicted at {i}");
        }
        assert!(c.len() <= PATH_CACHE_CAPACITY, "{} entries", c.len());
    }

    /// WebAuthn L3 §8.4 (Android key) and §8.8 (Apple): the certificate's
    /// key must be the credential's key; `same_public_key` is that check.
    #[test]
    fn same_public_key_compares_every_component() {
        let ec = |x: u8, y: u8| CoseKey::Ec2 {
            alg: -7,
            curve: EcCurve::P256,
            x: vec![x; 32],
            y: vec![y; 32],
        };
        assert!(same_public_key(&ec(1, 2), &ec(1, 2)));
        assert!(!same_public_key(&ec(1, 2), &ec(3, 2)));
        assert!(!same_public_key(&ec(1, 2), &ec(1, 3)));
        let p384 = CoseKey::Ec2 {
            alg: -35,
            curve: EcCurve::P384,
            x: vec![1; 32],
            y: vec![2; 32],
        };
        assert!(!same_public_key(&ec(1, 2), &p384), "curve");
        let ed = |x: u8| CoseKey::Ed25519 {
            alg: -8,
            x: [x; 32],
        };
        assert!(same_public_key(&ed(4), &ed(4)));
        assert!(!same_public_key(&ed(4), &ed(5)));
        assert!(!same_public_key(&ed(1), &ec(1, 1)));
        let rsa = |n: &[u8], e: &[u8]| CoseKey::Rsa {
            alg: -257,
            n: n.to_vec(),
            e: e.to_vec(),
        };
        // Leading zero bytes (DER INTEGER sign padding) do not matter.
        assert!(same_public_key(
            &rsa(&[0, 0xc1, 2], &[1, 0, 1]),
            &rsa(&[0xc1, 2], &[0, 1, 0, 1])
        ));
        assert!(!same_public_key(
            &rsa(&[0xc1, 2], &[1, 0, 1]),
            &rsa(&[0xc1, 3], &[1, 0, 1])
        ));
        assert!(!same_public_key(
            &rsa(&[0xc1, 2], &[1, 0, 1]),
            &rsa(&[0xc1, 2], &[3])
        ));
        assert!(
            !same_public_key(&rsa(&[1, 2], &[3]), &rsa(&[0, 1], &[3])),
            "not a mere suffix"
        );
    }

    #[test]
    fn p521_and_ed25519_certificate_keys() {
        use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
        let p521 = p521::SecretKey::random(&mut rand::thread_rng()).public_key();
        let point = p521::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&p521, false);
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: OID_EC_PUBLIC_KEY,
                parameters: Some(der::Any::from(&OID_P521)),
            },
            subject_public_key: der::asn1::BitString::from_bytes(point.as_bytes()).unwrap(),
        };
        match spki_to_cose(&spki).unwrap() {
            CoseKey::Ec2 { curve, x, .. } => {
                assert_eq!(curve, EcCurve::P521);
                assert_eq!(x, point.x().unwrap().to_vec());
            }
            other => panic!("{other:?}"),
        }
        let ed = ed25519_dalek::SigningKey::generate(&mut rand::thread_rng()).verifying_key();
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: OID_ED25519,
                parameters: None,
            },
            subject_public_key: der::asn1::BitString::from_bytes(ed.as_bytes()).unwrap(),
        };
        match spki_to_cose(&spki).unwrap() {
            CoseKey::Ed25519 { x, .. } => assert_eq!(&x, ed.as_bytes()),
            other => panic!("{other:?}"),
        }
    }
}

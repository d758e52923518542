//! COSE keys and algorithms (RFC 9052/9053, as WebAuthn and CTAP use them),
//! and signature verification with a COSE public key.

use crate::cbor::{self, CborError, MapBuilder, MapReader, Value};
use signature::Verifier;

/// COSE algorithm identifiers Keysmith knows (IANA "COSE Algorithms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoseAlgorithm {
    /// ECDSA with P-256 and SHA-256 (-7): what security keys use.
    Es256,
    /// ECDSA with P-384 and SHA-384 (-35).
    Es384,
    /// ECDSA with P-521 and SHA-512 (-36).
    Es512,
    /// EdDSA (-8); Keysmith takes it with Ed25519 keys only.
    EdDsa,
    /// RSASSA-PSS with SHA-256 (-37).
    Ps256,
    /// RSASSA-PSS with SHA-384 (-38).
    Ps384,
    /// RSASSA-PSS with SHA-512 (-39).
    Ps512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (-257): Windows Hello's TPM keys.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384 (-258).
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512 (-259).
    Rs512,
    /// RSASSA-PKCS1-v1_5 with SHA-1, only ever seen in TPM attestation.
    Rs1,
    /// ECDH-ES + HKDF-256: the CTAP key-agreement key's algorithm.
    EcdhEsHkdf256,
}

impl CoseAlgorithm {
    /// Every algorithm above, in declaration order.
    pub const ALL: [CoseAlgorithm; 12] = [
        Self::Es256,
        Self::Es384,
        Self::Es512,
        Self::EdDsa,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Rs1,
        Self::EcdhEsHkdf256,
    ];

    /// The COSE identifier (-7 for ES256, …).
    pub fn id(self) -> i64 {
        match self {
            Self::Es256 => -7,
            Self::Es384 => -35,
            Self::Es512 => -36,
            Self::EdDsa => -8,
            Self::Ps256 => -37,
            Self::Ps384 => -38,
            Self::Ps512 => -39,
            Self::Rs256 => -257,
            Self::Rs384 => -258,
            Self::Rs512 => -259,
            Self::Rs1 => -65535,
            Self::EcdhEsHkdf256 => -25,
        }
    }

    /// The algorithm of a COSE identifier, if Keysmith knows it.
    pub fn from_id(id: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.id() == id)
    }

    /// The JOSE-style name (`ES256`, `EdDSA`, `RS1`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::EdDsa => "EdDSA",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Rs1 => "RS1",
            Self::EcdhEsHkdf256 => "ECDH-ES+HKDF-256",
        }
    }

    /// The algorithm of a name as WebAuthn options and policies write it (`ES256`, …).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for CoseAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Elliptic curves of EC2 keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcCurve {
    /// NIST P-256 (crv 1).
    P256,
    /// NIST P-384 (crv 2).
    P384,
    /// NIST P-521 (crv 3).
    P521,
}

impl EcCurve {
    /// The COSE curve identifier (label -1).
    pub fn id(self) -> i64 {
        match self {
            Self::P256 => 1,
            Self::P384 => 2,
            Self::P521 => 3,
        }
    }

    fn from_id(id: i64) -> Option<Self> {
        match id {
            1 => Some(Self::P256),
            2 => Some(Self::P384),
            3 => Some(Self::P521),
            _ => None,
        }
    }

    /// Byte length of one coordinate.
    pub fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

const KTY_OKP: i64 = 1;
const KTY_EC2: i64 = 2;
const KTY_RSA: i64 = 3;
const CRV_ED25519: i64 = 6;

/// A COSE public key as found in attested credential data or in CTAP's
/// key agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoseKey {
    /// kty 2: an elliptic-curve point.
    Ec2 {
        /// The algorithm the key is for (label 3; -7 for ES256).
        alg: i64,
        /// The curve (label -1).
        curve: EcCurve,
        /// The x coordinate, big-endian, the curve's size (label -2).
        x: Vec<u8>,
        /// The y coordinate, big-endian, the curve's size (label -3).
        y: Vec<u8>,
    },
    /// kty 1, crv 6: an Ed25519 public key.
    Ed25519 {
        /// The algorithm (label 3; -8, EdDSA).
        alg: i64,
        /// The public key (label -2).
        x: [u8; 32],
    },
    /// kty 3: an RSA modulus and exponent (big-endian, unsigned).
    Rsa {
        /// The algorithm (label 3; -257 for RS256, …).
        alg: i64,
        /// The modulus (label -1).
        n: Vec<u8>,
        /// The public exponent (label -2).
        e: Vec<u8>,
    },
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the key cannot be used with algorithm {0}")]
    /// The key's type or curve does not fit the algorithm (the algorithm named).
    KeyAlgorithmMismatch(i64),
    #[error("unsupported COSE algorithm {0}")]
    /// An algorithm Keysmith does not verify with.
    UnsupportedAlgorithm(i64),
    #[error("the public key is not valid")]
    /// The public key is not a valid key of its type (not on the curve, …).
    InvalidKey,
    #[error("the signature is malformed")]
    /// The signature is not encoded as the algorithm requires (DER for ECDSA, …).
    MalformedSignature,
    #[error("the signature does not verify")]
    /// The signature does not verify with the key.
    Invalid,
}

impl CoseKey {
    /// The key's declared algorithm (label 3).
    pub fn alg(&self) -> i64 {
        match self {
            Self::Ec2 { alg, .. } | Self::Ed25519 { alg, .. } | Self::Rsa { alg, .. } => *alg,
        }
    }

    /// Reads a COSE key from a decoded CBOR value.
    pub fn from_cbor(value: Value) -> Result<Self, CborError> {
        let mut m = MapReader::new(value, "COSE_Key")?;
        let kty = m.int(1, "kty")?;
        let alg = m.int(3, "alg")?;
        match kty {
            KTY_EC2 => {
                let crv = m.int(-1, "crv")?;
                let curve = EcCurve::from_id(crv).ok_or(CborError::InvalidValue("crv"))?;
                let x = fixed_coordinate(m.bytes(-2, "x")?, curve, "x")?;
                let y = match m.require(-3, "y")? {
                    Value::Bytes(y) => fixed_coordinate(y, curve, "y")?,
                    // Point compression (a bool y) is not allowed in WebAuthn.
                    _ => return Err(CborError::UnexpectedType("y")),
                };
                Ok(Self::Ec2 { alg, curve, x, y })
            }
            KTY_OKP => {
                if m.int(-1, "crv")? != CRV_ED25519 {
                    return Err(CborError::InvalidValue("crv"));
                }
                let x = m.bytes(-2, "x")?;
                let x: [u8; 32] = x.try_into().map_err(|_| CborError::InvalidValue("x"))?;
                Ok(Self::Ed25519 { alg, x })
            }
            KTY_RSA => {
                let n = m.bytes(-1, "n")?;
                let e = m.bytes(-2, "e")?;
                if n.is_empty() || e.is_empty() {
                    return Err(CborError::InvalidValue("n"));
                }
                Ok(Self::Rsa { alg, n, e })
            }
            _ => Err(CborError::InvalidValue("kty")),
        }
    }

    /// Decodes a COSE key that spans all of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CborError> {
        Self::from_cbor(cbor::decode(bytes)?)
    }

    /// The key as a COSE map (the labels RFC 9053 gives each key type).
    pub fn to_cbor(&self) -> Value {
        match self {
            Self::Ec2 { alg, curve, x, y } => MapBuilder::new()
                .int(1, KTY_EC2)
                .int(3, *alg)
                .int(-1, curve.id())
                .int(-2, x.clone())
                .int(-3, y.clone())
                .build(),
            Self::Ed25519 { alg, x } => MapBuilder::new()
                .int(1, KTY_OKP)
                .int(3, *alg)
                .int(-1, CRV_ED25519)
                .int(-2, x.to_vec())
                .build(),
            Self::Rsa { alg, n, e } => MapBuilder::new()
                .int(1, KTY_RSA)
                .int(3, *alg)
                .int(-1, n.clone())
                .int(-2, e.clone())
                .build(),
        }
    }

    /// Canonical CBOR encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(&self.to_cbor())
    }

    /// A P-256 key with the given algorithm from a `p256` public key.
    pub fn from_p256(alg: CoseAlgorithm, key: &p256::PublicKey) -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = key.to_encoded_point(false);
        Self::Ec2 {
            alg: alg.id(),
            curve: EcCurve::P256,
            x: point.x().expect("uncompressed point").to_vec(),
            y: point.y().expect("uncompressed point").to_vec(),
        }
    }

    /// The `p256` public key of a P-256 EC2 key.
    pub fn to_p256(&self) -> Result<p256::PublicKey, SignatureError> {
        match self {
            Self::Ec2 {
                curve: EcCurve::P256,
                x,
                y,
                ..
            } => {
                use p256::elliptic_curve::sec1::FromEncodedPoint;
                let point = p256::EncodedPoint::from_affine_coordinates(
                    x.as_slice().into(),
                    y.as_slice().into(),
                    false,
                );
                Option::from(p256::PublicKey::from_encoded_point(&point))
                    .ok_or(SignatureError::InvalidKey)
            }
            _ => Err(SignatureError::InvalidKey),
        }
    }

    /// Verifies `signature` over `message` with this key and its declared
    /// algorithm. ECDSA signatures are ASN.1 DER, as WebAuthn requires.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        verify_signature(self, self.alg(), message, signature)
    }
}

fn fixed_coordinate(
    mut c: Vec<u8>,
    curve: EcCurve,
    field: &'static str,
) -> Result<Vec<u8>, CborError> {
    let len = curve.coordinate_len();
    if c.len() > len || c.is_empty() {
        return Err(CborError::InvalidValue(field));
    }
    if c.len() < len {
        // Some encoders drop leading zero bytes of a coordinate.
        let mut padded = vec![0u8; len - c.len()];
        padded.append(&mut c);
        return Ok(padded);
    }
    Ok(c)
}

/// Verifies `signature` over `message` with `key` under algorithm `alg`
/// (which may differ from the key's own label only where COSE allows, e.g.
/// an RSA key used with RS1 by a TPM).
///
/// ECDSA and RSA run on aws-lc-rs (about five times RustCrypto's speed on
/// ES256, issue 31); Ed25519 stays on ed25519-dalek for `verify_strict`
/// (weak keys and non-canonical points refused), and RSA keys aws-lc-rs
/// does not take (under 1024 bits, or 2048 for RS384/PSS; an even or
/// over-33-bit exponent) on RustCrypto's `rsa`, so what verifies is what
/// verified before. Over 4096 bits is refused, as before.
pub fn verify_signature(
    key: &CoseKey,
    alg: i64,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    use aws_lc_rs::signature as lc;
    let algorithm = CoseAlgorithm::from_id(alg).ok_or(SignatureError::UnsupportedAlgorithm(alg))?;
    match (key, algorithm) {
        (CoseKey::Ec2 { curve, x, y, .. }, algorithm) => {
            let (verifier, well_formed): (&'static lc::EcdsaVerificationAlgorithm, bool) =
                match (curve, algorithm) {
                    (EcCurve::P256, CoseAlgorithm::Es256) => (
                        &lc::ECDSA_P256_SHA256_ASN1,
                        p256::ecdsa::Signature::from_der(signature).is_ok(),
                    ),
                    (EcCurve::P384, CoseAlgorithm::Es384) => (
                        &lc::ECDSA_P384_SHA384_ASN1,
                        p384::ecdsa::Signature::from_der(signature).is_ok(),
                    ),
                    (EcCurve::P521, CoseAlgorithm::Es512) => (
                        &lc::ECDSA_P521_SHA512_ASN1,
                        p521::ecdsa::Signature::from_der(signature).is_ok(),
                    ),
                    _ => return Err(SignatureError::KeyAlgorithmMismatch(alg)),
                };
            let mut point = Vec::with_capacity(1 + x.len() + y.len());
            point.push(4);
            point.extend_from_slice(x);
            point.extend_from_slice(y);
            let key = lc::ParsedPublicKey::new(verifier, &point)
                .map_err(|_| SignatureError::InvalidKey)?;
            if !well_formed {
                return Err(SignatureError::MalformedSignature);
            }
            key.verify_sig(message, signature)
                .map_err(|_| SignatureError::Invalid)
        }
        (CoseKey::Ed25519 { x, .. }, CoseAlgorithm::EdDsa) => {
            let vk = ed25519_dalek::VerifyingKey::from_bytes(x)
                .map_err(|_| SignatureError::InvalidKey)?;
            let sig = ed25519_dalek::Signature::from_slice(signature)
                .map_err(|_| SignatureError::MalformedSignature)?;
            vk.verify_strict(message, &sig)
                .map_err(|_| SignatureError::Invalid)
        }
        (CoseKey::Rsa { n, e, .. }, alg) => verify_rsa(n, e, alg, message, signature),
        _ => Err(SignatureError::KeyAlgorithmMismatch(alg)),
    }
}

/// Big-endian bytes without their leading zeros.
fn unpadded(v: &[u8]) -> &[u8] {
    let first = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    &v[first..]
}

/// Bits of a big-endian unsigned integer.
fn bit_len(v: &[u8]) -> usize {
    match unpadded(v) {
        [] => 0,
        [top, rest @ ..] => 8 * rest.len() + (8 - top.leading_zeros() as usize),
    }
}

/// The aws-lc-rs parameters for `alg` and an RSA key of `bits` bits with
/// exponent `e`, if aws-lc-rs takes that key.
fn lc_rsa_params(
    alg: CoseAlgorithm,
    bits: usize,
    e: &[u8],
) -> Option<&'static aws_lc_rs::signature::RsaParameters> {
    use aws_lc_rs::signature as lc;
    let e = unpadded(e);
    // aws-lc's RSA checks: an odd exponent of 3 to 33 bits.
    let exponent_ok = e.last().is_some_and(|b| b & 1 == 1) && (2..=33).contains(&bit_len(e));
    if !exponent_ok || bits > 4096 {
        return None;
    }
    let (params, min): (&'static lc::RsaParameters, usize) = match alg {
        CoseAlgorithm::Rs1 => (&lc::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY, 1024),
        CoseAlgorithm::Rs256 => (&lc::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, 1024),
        CoseAlgorithm::Rs384 => (&lc::RSA_PKCS1_2048_8192_SHA384, 2048),
        CoseAlgorithm::Rs512 => (&lc::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY, 1024),
        CoseAlgorithm::Ps256 => (&lc::RSA_PSS_2048_8192_SHA256, 2048),
        CoseAlgorithm::Ps384 => (&lc::RSA_PSS_2048_8192_SHA384, 2048),
        CoseAlgorithm::Ps512 => (&lc::RSA_PSS_2048_8192_SHA512, 2048),
        _ => return None,
    };
    (bits >= min).then_some(params)
}

fn verify_rsa(
    n: &[u8],
    e: &[u8],
    alg: CoseAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    use rsa::{pkcs1v15, pss, BigUint, RsaPublicKey};
    if !matches!(
        alg,
        CoseAlgorithm::Rs1
            | CoseAlgorithm::Rs256
            | CoseAlgorithm::Rs384
            | CoseAlgorithm::Rs512
            | CoseAlgorithm::Ps256
            | CoseAlgorithm::Ps384
            | CoseAlgorithm::Ps512
    ) {
        return Err(SignatureError::KeyAlgorithmMismatch(alg.id()));
    }
    let bits = bit_len(n);
    if let Some(params) = lc_rsa_params(alg, bits, e) {
        let key = aws_lc_rs::signature::RsaPublicKeyComponents {
            n: unpadded(n),
            e: unpadded(e),
        };
        return key
            .verify(params, message, signature)
            .map_err(|_| SignatureError::Invalid);
    }
    let key = RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
        .map_err(|_| SignatureError::InvalidKey)?;
    macro_rules! check {
        ($scheme:ident, $hash:ty) => {{
            let vk = $scheme::VerifyingKey::<$hash>::new(key);
            let sig = $scheme::Signature::try_from(signature)
                .map_err(|_| SignatureError::MalformedSignature)?;
            vk.verify(message, &sig)
                .map_err(|_| SignatureError::Invalid)
        }};
    }
    match alg {
        CoseAlgorithm::Rs256 => check!(pkcs1v15, sha2::Sha256),
        CoseAlgorithm::Rs384 => check!(pkcs1v15, sha2::Sha384),
        CoseAlgorithm::Rs512 => check!(pkcs1v15, sha2::Sha512),
        CoseAlgorithm::Rs1 => check!(pkcs1v15, sha1::Sha1),
        CoseAlgorithm::Ps256 => check!(pss, sha2::Sha256),
        CoseAlgorithm::Ps384 => check!(pss, sha2::Sha384),
        CoseAlgorithm::Ps512 => check!(pss, sha2::Sha512),
        other => Err(SignatureError::KeyAlgorithmMismatch(other.id())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::{signature::Signer, SigningKey};

    #[test]
    fn p256_round_trip_and_verify() {
        let sk = SigningKey::random(&mut rand::thread_rng());
        let key = CoseKey::from_p256(CoseAlgorithm::Es256, &sk.verifying_key().into());
        let bytes = key.to_bytes();
        let back = CoseKey::from_bytes(&bytes).unwrap();
        assert_eq!(back, key);
        let sig: p256::ecdsa::Signature = sk.sign(b"hello");
        back.verify(b"hello", sig.to_der().as_bytes()).unwrap();
        assert_eq!(
            back.verify(b"hellO", sig.to_der().as_bytes()),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            back.verify(b"hello", &[1, 2, 3]),
            Err(SignatureError::MalformedSignature)
        );
    }

    #[test]
    fn wrong_kty_or_curve_is_rejected() {
        let v = MapBuilder::new().int(1, 9).int(3, -7).build();
        assert_eq!(CoseKey::from_cbor(v), Err(CborError::InvalidValue("kty")));
        let v = MapBuilder::new()
            .int(1, 2)
            .int(3, -7)
            .int(-1, 8)
            .int(-2, vec![0u8; 32])
            .int(-3, vec![0u8; 32])
            .build();
        assert_eq!(CoseKey::from_cbor(v), Err(CborError::InvalidValue("crv")));
    }

    /// IANA "COSE Algorithms" ids and JOSE names (RFC 9053 §2, RFC 8812
    /// for RS*/RS1, RFC 8230 for PS*; -25 is RFC 9053 §6.3.1).
    #[test]
    fn algorithm_ids_and_names_follow_the_iana_registry() {
        let registry = [
            (-7, "ES256"),
            (-35, "ES384"),
            (-36, "ES512"),
            (-8, "EdDSA"),
            (-37, "PS256"),
            (-38, "PS384"),
            (-39, "PS512"),
            (-257, "RS256"),
            (-258, "RS384"),
            (-259, "RS512"),
            (-65535, "RS1"),
            (-25, "ECDH-ES+HKDF-256"),
        ];
        assert_eq!(CoseAlgorithm::ALL.len(), registry.len());
        for (alg, (id, name)) in CoseAlgorithm::ALL.into_iter().zip(registry) {
            assert_eq!(alg.id(), id, "{name}");
            assert_eq!(alg.name(), name);
            assert_eq!(alg.to_string(), name);
            assert_eq!(CoseAlgorithm::from_id(id), Some(alg));
            assert_eq!(CoseAlgorithm::from_name(name), Some(alg));
            assert_eq!(CoseAlgorithm::from_name(&name.to_lowercase()), Some(alg));
        }
        for unknown in [0, 1, -1, -6, -9, -260, -65534] {
            assert_eq!(CoseAlgorithm::from_id(unknown), None, "{unknown}");
        }
        assert_eq!(CoseAlgorithm::from_name("ES257"), None);
        assert_eq!(CoseAlgorithm::from_name(""), None);
    }

    /// RFC 9053 §7.1: crv 1 P-256, 2 P-384, 3 P-521; coordinates are
    /// the field size in bytes.
    #[test]
    fn curves_and_coordinate_lengths() {
        for (curve, id, len) in [
            (EcCurve::P256, 1, 32),
            (EcCurve::P384, 2, 48),
            (EcCurve::P521, 3, 66),
        ] {
            assert_eq!(curve.id(), id);
            assert_eq!(EcCurve::from_id(id), Some(curve));
            assert_eq!(curve.coordinate_len(), len);
        }
        assert_eq!(EcCurve::from_id(0), None);
        assert_eq!(EcCurve::from_id(4), None);
        assert_eq!(EcCurve::from_id(6), None);
    }

    fn ec2(crv: i64, x: Vec<u8>, y: Value) -> Value {
        MapBuilder::new()
            .int(1, 2)
            .int(3, -7)
            .int(-1, crv)
            .int(-2, x)
            .int(-3, y)
            .build()
    }

    #[test]
    fn coordinates_are_padded_to_the_field_size_never_cut() {
        // A dropped leading zero byte is restored.
        let key = CoseKey::from_cbor(ec2(1, vec![7; 31], Value::Bytes(vec![8; 32]))).unwrap();
        let CoseKey::Ec2 { x, y, curve, alg } = key else {
            panic!("not EC2")
        };
        assert_eq!((curve, alg), (EcCurve::P256, -7));
        assert_eq!(x, [&[0u8][..], &[7; 31]].concat());
        assert_eq!(y, vec![8; 32]);
        let key = CoseKey::from_cbor(ec2(2, vec![7; 48], Value::Bytes(vec![1; 46]))).unwrap();
        let CoseKey::Ec2 { x, y, .. } = key else {
            panic!("not EC2")
        };
        assert_eq!(x, vec![7; 48]);
        assert_eq!(y, [&[0u8, 0][..], &[1; 46]].concat());
        for (x, y, field) in [
            (vec![], vec![1; 32], "x"),
            (vec![1; 33], vec![1; 32], "x"),
            (vec![1; 32], vec![], "y"),
            (vec![1; 32], vec![1; 33], "y"),
        ] {
            assert_eq!(
                CoseKey::from_cbor(ec2(1, x, Value::Bytes(y))),
                Err(CborError::InvalidValue(field))
            );
        }
        // Point compression (y as a bool) is not allowed in WebAuthn.
        assert_eq!(
            CoseKey::from_cbor(ec2(1, vec![1; 32], Value::Bool(true))),
            Err(CborError::UnexpectedType("y"))
        );
    }

    #[test]
    fn okp_keys_are_ed25519_with_a_32_byte_x() {
        let okp = |crv: i64, x: Vec<u8>| {
            CoseKey::from_cbor(
                MapBuilder::new()
                    .int(1, 1)
                    .int(3, -8)
                    .int(-1, crv)
                    .int(-2, x)
                    .build(),
            )
        };
        let key = okp(6, vec![3; 32]).unwrap();
        assert_eq!(
            key,
            CoseKey::Ed25519 {
                alg: -8,
                x: [3; 32]
            }
        );
        assert_eq!(CoseKey::from_bytes(&key.to_bytes()).unwrap(), key);
        // crv 4 (X25519) is a key-agreement curve, 7 Ed448 unsupported.
        assert_eq!(okp(4, vec![3; 32]), Err(CborError::InvalidValue("crv")));
        assert_eq!(okp(7, vec![3; 57]), Err(CborError::InvalidValue("crv")));
        assert_eq!(okp(6, vec![3; 31]), Err(CborError::InvalidValue("x")));
        assert_eq!(okp(6, vec![3; 33]), Err(CborError::InvalidValue("x")));
    }

    #[test]
    fn rsa_keys_need_a_modulus_and_an_exponent() {
        let rsa = |n: Vec<u8>, e: Vec<u8>| {
            CoseKey::from_cbor(
                MapBuilder::new()
                    .int(1, 3)
                    .int(3, -257)
                    .int(-1, n)
                    .int(-2, e)
                    .build(),
            )
        };
        let key = rsa(vec![0xc1; 256], vec![1, 0, 1]).unwrap();
        assert_eq!(CoseKey::from_bytes(&key.to_bytes()).unwrap(), key);
        assert_eq!(key.alg(), -257);
        assert!(rsa(vec![], vec![1, 0, 1]).is_err());
        assert!(rsa(vec![0xc1; 256], vec![]).is_err());
    }

    /// A signature made by each algorithm verifies with its key, under
    /// its algorithm only; a changed message does not verify.
    #[test]
    fn every_algorithm_verifies_its_own_signatures() {
        use rand::rngs::OsRng;
        use signature::RandomizedSigner;
        let msg = b"authenticatorData || clientDataHash";
        let check = |key: &CoseKey, alg: CoseAlgorithm, sig: &[u8]| {
            assert_eq!(verify_signature(key, alg.id(), msg, sig), Ok(()), "{alg}");
            assert_eq!(
                verify_signature(key, alg.id(), b"another message", sig),
                Err(SignatureError::Invalid),
                "{alg}"
            );
        };
        // ECDSA on P-256, P-384, P-521 (DER signatures, WebAuthn §6.5.5).
        let sk = SigningKey::random(&mut OsRng);
        let key = CoseKey::from_p256(CoseAlgorithm::Es256, &sk.verifying_key().into());
        let sig: p256::ecdsa::Signature = sk.sign(msg);
        check(&key, CoseAlgorithm::Es256, sig.to_der().as_bytes());
        assert_eq!(key.to_p256().unwrap(), (*sk.verifying_key()).into());
        assert_eq!(
            verify_signature(&key, -35, msg, sig.to_der().as_bytes()),
            Err(SignatureError::KeyAlgorithmMismatch(-35))
        );
        assert_eq!(
            verify_signature(&key, -7, msg, &sig.to_bytes()),
            Err(SignatureError::MalformedSignature),
            "raw r||s is not DER"
        );
        {
            let sk = p384::ecdsa::SigningKey::random(&mut OsRng);
            let p = sk.verifying_key().to_encoded_point(false);
            let key = CoseKey::Ec2 {
                alg: -35,
                curve: EcCurve::P384,
                x: p.x().unwrap().to_vec(),
                y: p.y().unwrap().to_vec(),
            };
            let sig: p384::ecdsa::Signature = sk.sign(msg);
            check(&key, CoseAlgorithm::Es384, sig.to_der().as_bytes());
            assert_eq!(
                verify_signature(&key, -35, msg, &[0x30, 0]),
                Err(SignatureError::MalformedSignature)
            );
            assert_eq!(key.to_p256(), Err(SignatureError::InvalidKey));
        }
        {
            let sk = p521::ecdsa::SigningKey::random(&mut OsRng);
            let p = p521::ecdsa::VerifyingKey::from(&sk).to_encoded_point(false);
            let key = CoseKey::Ec2 {
                alg: -36,
                curve: EcCurve::P521,
                x: p.x().unwrap().to_vec(),
                y: p.y().unwrap().to_vec(),
            };
            let sig: p521::ecdsa::Signature = sk.sign(msg);
            check(&key, CoseAlgorithm::Es512, sig.to_der().as_bytes());
            assert_eq!(
                verify_signature(&key, -36, msg, &[0x30, 0]),
                Err(SignatureError::MalformedSignature)
            );
        }
        // Ed25519 (RFC 8032), strict verification.
        let ed = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let key = CoseKey::Ed25519 {
            alg: -8,
            x: ed.verifying_key().to_bytes(),
        };
        check(&key, CoseAlgorithm::EdDsa, &ed.sign(msg).to_bytes());
        assert_eq!(
            verify_signature(&key, -8, msg, &[0; 63]),
            Err(SignatureError::MalformedSignature)
        );
        assert_eq!(
            verify_signature(&key, -7, msg, &[0; 64]),
            Err(SignatureError::KeyAlgorithmMismatch(-7))
        );
        // RSA: PKCS#1 v1.5 with SHA-1/256/384/512 and PSS with SHA-256/384/512.
        let private = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let public = rsa::RsaPublicKey::from(&private);
        use rsa::traits::PublicKeyParts;
        let key = CoseKey::Rsa {
            alg: -257,
            n: public.n().to_bytes_be(),
            e: public.e().to_bytes_be(),
        };
        macro_rules! rsa_case {
            ($scheme:ident, $hash:ty, $alg:expr) => {{
                let signer = rsa::$scheme::SigningKey::<$hash>::new(private.clone());
                let sig =
                    signature::SignatureEncoding::to_vec(&signer.sign_with_rng(&mut OsRng, msg));
                check(&key, $alg, &sig);
                sig
            }};
        }
        let rs256 = rsa_case!(pkcs1v15, sha2::Sha256, CoseAlgorithm::Rs256);
        rsa_case!(pkcs1v15, sha2::Sha384, CoseAlgorithm::Rs384);
        rsa_case!(pkcs1v15, sha2::Sha512, CoseAlgorithm::Rs512);
        rsa_case!(pkcs1v15, sha1::Sha1, CoseAlgorithm::Rs1);
        let ps256 = rsa_case!(pss, sha2::Sha256, CoseAlgorithm::Ps256);
        rsa_case!(pss, sha2::Sha384, CoseAlgorithm::Ps384);
        rsa_case!(pss, sha2::Sha512, CoseAlgorithm::Ps512);
        // The same bytes under another padding or hash do not verify.
        assert_eq!(
            verify_signature(&key, -37, msg, &rs256),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify_signature(&key, -258, msg, &rs256),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify_signature(&key, -257, msg, &ps256),
            Err(SignatureError::Invalid)
        );
        // An RSA key is no ECDSA/EdDSA key.
        for alg in [-7, -8, -25] {
            assert_eq!(
                verify_signature(&key, alg, msg, &rs256),
                Err(SignatureError::KeyAlgorithmMismatch(alg))
            );
        }
        assert_eq!(
            verify_signature(&key, -260, msg, &rs256),
            Err(SignatureError::UnsupportedAlgorithm(-260))
        );
        let bad = CoseKey::Rsa {
            alg: -257,
            n: vec![0],
            e: vec![1, 0, 1],
        };
        assert_eq!(
            verify_signature(&bad, -257, msg, &rs256),
            Err(SignatureError::InvalidKey)
        );
    }

    /// RSA keys are routed by what aws-lc-rs takes: a 1024-bit key verifies
    /// RS256 there and PS256 (which aws-lc-rs takes from 2048 bits) on
    /// RustCrypto, both refusing a changed message; a key of over 4096 bits
    /// is refused as before.
    #[test]
    fn rsa_keys_are_verified_whichever_backend_takes_them() {
        use rand::rngs::OsRng;
        use rsa::traits::PublicKeyParts;
        use signature::RandomizedSigner;
        let msg = b"certInfo";
        let private = rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        let public = rsa::RsaPublicKey::from(&private);
        let key = CoseKey::Rsa {
            alg: -257,
            n: public.n().to_bytes_be(),
            e: public.e().to_bytes_be(),
        };
        assert_eq!(bit_len(&public.n().to_bytes_be()), 1024);
        assert!(lc_rsa_params(CoseAlgorithm::Rs256, 1024, &[1, 0, 1]).is_some());
        assert!(lc_rsa_params(CoseAlgorithm::Ps256, 1024, &[1, 0, 1]).is_none());
        assert!(lc_rsa_params(CoseAlgorithm::Rs256, 1024, &[2]).is_none());
        assert!(lc_rsa_params(CoseAlgorithm::Rs256, 4097, &[1, 0, 1]).is_none());
        let rs = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(private.clone());
        let ps = rsa::pss::SigningKey::<sha2::Sha256>::new(private);
        for (alg, sig) in [
            (
                -257,
                signature::SignatureEncoding::to_vec(&rs.sign_with_rng(&mut OsRng, msg)),
            ),
            (
                -37,
                signature::SignatureEncoding::to_vec(&ps.sign_with_rng(&mut OsRng, msg)),
            ),
        ] {
            assert_eq!(verify_signature(&key, alg, msg, &sig), Ok(()), "{alg}");
            assert_eq!(
                verify_signature(&key, alg, b"certInfo!", &sig),
                Err(SignatureError::Invalid),
                "{alg}"
            );
        }
        let huge = CoseKey::Rsa {
            alg: -257,
            n: vec![0xff; 513],
            e: vec![1, 0, 1],
        };
        assert_eq!(
            verify_signature(&huge, -257, msg, &[0; 513]),
            Err(SignatureError::InvalidKey)
        );
    }
}

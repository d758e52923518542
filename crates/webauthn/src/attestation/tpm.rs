//! `tpm` attestation (WebAuthn L3 §8.3): a TPM 2.0 certifies the credential
//! key (pubArea) with its attestation identity key (AIK) over certInfo.

use const_oid::ObjectIdentifier;
use der::Decode;
use sha2::Digest;

use super::{
    check_aaguid_extension, malformed, open, read_alg, read_x5c, verify_with_cert, AttestationType,
    StatementContext, StatementOutcome,
};
use crate::cbor::Value;
use crate::cose::{CoseAlgorithm, CoseKey, EcCurve};
use crate::error::VerifyError;
use crate::tlv;
use crate::trust::ParsedCert;

const FMT: &str = "tpm";

/// TPM vendor ids of the TCG registry ("TCG TPM Vendor ID Registry"), as
/// they appear in tcgAtTpmManufacturer (`id:` + 8 hex digits).
pub const TCG_VENDOR_IDS: &[&str] = &[
    "414D4400", // AMD
    "41544D4C", // Atmel
    "4252434D", // Broadcom
    "4353434F", // Cisco
    "464C5953", // Flyslice Technologies
    "474F4F47", // Google
    "48504500", // HPE
    "48495349", // Huawei (HiSilicon)
    "49424D00", // IBM
    "49465800", // Infineon
    "494E5443", // Intel
    "4C454E00", // Lenovo
    "4D534654", // Microsoft
    "4E534D20", // National Semiconductor
    "4E545A00", // Nationz
    "4E544300", // Nuvoton Technology
    "51434F4D", // Qualcomm
    "524F4343", // Fuzhou Rockchip
    "534D5343", // SMSC
    "53544D20", // ST Microelectronics
    "534D534E", // Samsung
    "534E5300", // Sinosun
    "54584E00", // Texas Instruments
    "57454300", // Winbond
];

const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
const TPM_ST_ATTEST_CERTIFY: u16 = 0x8017;
const TPM_ALG_RSA: u16 = 0x0001;
const TPM_ALG_SHA1: u16 = 0x0004;
const TPM_ALG_SHA256: u16 = 0x000b;
const TPM_ALG_SHA384: u16 = 0x000c;
const TPM_ALG_SHA512: u16 = 0x000d;
const TPM_ALG_NULL: u16 = 0x0010;
const TPM_ALG_ECC: u16 = 0x0023;

const OID_TCG_KP_AIK_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.8.3");
const OID_TCG_AT_TPM_MANUFACTURER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.2.1");
const OID_TCG_AT_TPM_MODEL: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.2.2");
const OID_TCG_AT_TPM_VERSION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.2.3");

/// Verifies a `tpm` statement: `{ver, alg, x5c, sig, certInfo, pubArea}`.
pub(crate) fn verify(
    att_stmt: Value,
    ctx: &StatementContext,
) -> Result<StatementOutcome, VerifyError> {
    let mut stmt = open(FMT, att_stmt)?;
    let ver = stmt.text("ver", "ver").map_err(|e| malformed(FMT, e))?;
    if ver != "2.0" {
        return Err(malformed(FMT, format!("ver is '{ver}', not '2.0'")));
    }
    let alg = read_alg(FMT, &mut stmt)?;
    let sig = stmt.bytes("sig", "sig").map_err(|e| malformed(FMT, e))?;
    let cert_info = stmt
        .bytes("certInfo", "certInfo")
        .map_err(|e| malformed(FMT, e))?;
    let pub_area = stmt
        .bytes("pubArea", "pubArea")
        .map_err(|e| malformed(FMT, e))?;
    if stmt.take("ecdaaKeyId").is_some() {
        return Err(malformed(FMT, "ECDAA is not supported"));
    }
    let items = stmt
        .opt_array("x5c", "x5c")
        .map_err(|e| malformed(FMT, e))?
        .ok_or_else(|| malformed(FMT, "x5c is missing"))?;

    // §8.3 step 2: pubArea's key is the credential key.
    let public = PubArea::parse(&pub_area)
        .ok_or_else(|| VerifyError::TpmPubAreaInvalid("unreadable TPMT_PUBLIC".into()))?;
    public.check_matches(&ctx.attested.public_key)?;

    // §8.3 step 4: certInfo.
    let hash = hash_of_alg(alg)?;
    // SHA-1 is refused unless policy allows it, or the RP already accepted
    // an RS1 credential (offered in pubKeyCredParams): every assertion of
    // that credential will be SHA-1 anyway, so refusing its attestation
    // would add nothing.
    let credential_is_rs1 = ctx.attested.public_key.alg() == CoseAlgorithm::Rs1.id();
    if hash == TPM_ALG_SHA1
        && !ctx.policy.allow_sha1_tpm_attestation_signature
        && !credential_is_rs1
    {
        return Err(VerifyError::TpmSha1NotAllowed);
    }
    let info = CertInfo::parse(&cert_info)
        .ok_or_else(|| VerifyError::TpmCertInfoInvalid("unreadable TPMS_ATTEST".into()))?;
    if info.magic != TPM_GENERATED_VALUE {
        return Err(VerifyError::TpmCertInfoInvalid(
            "magic is not TPM_GENERATED_VALUE".into(),
        ));
    }
    if info.type_ != TPM_ST_ATTEST_CERTIFY {
        return Err(VerifyError::TpmCertInfoInvalid(
            "type is not TPM_ST_ATTEST_CERTIFY".into(),
        ));
    }
    let att_to_be_signed = ctx.signed_data();
    if info.extra_data != tpm_hash(hash, &att_to_be_signed).unwrap_or_default() {
        return Err(VerifyError::TpmCertInfoInvalid(
            "extraData is not the hash of attToBeSigned".into(),
        ));
    }
    if info.name.len() < 2 {
        return Err(VerifyError::TpmCertInfoInvalid(
            "attested name is too short".into(),
        ));
    }
    let name_alg = u16::from_be_bytes([info.name[0], info.name[1]]);
    let digest = tpm_hash(name_alg, &pub_area)
        .ok_or_else(|| VerifyError::TpmCertInfoInvalid("unsupported name algorithm".into()))?;
    if info.name[2..] != digest[..] {
        return Err(VerifyError::TpmCertInfoInvalid(
            "attested name is not the name of pubArea".into(),
        ));
    }

    // §8.3 step 5: the AIK signed certInfo; its certificate meets §8.3.1.
    let chain = read_x5c(FMT, items)?;
    let aik = &chain[0];
    verify_with_cert(aik, alg, &cert_info, &sig)?;
    check_aik_certificate(aik, ctx)?;
    check_aaguid_extension(aik, &ctx.attested.aaguid)?;
    Ok(StatementOutcome {
        attestation_type: AttestationType::AttCa,
        chain,
    })
}

/// The TPM hash algorithm implied by a COSE signature algorithm.
fn hash_of_alg(alg: i64) -> Result<u16, VerifyError> {
    use CoseAlgorithm::*;
    match CoseAlgorithm::from_id(alg) {
        Some(Rs1) => Ok(TPM_ALG_SHA1),
        Some(Rs256 | Ps256 | Es256) => Ok(TPM_ALG_SHA256),
        Some(Rs384 | Ps384 | Es384) => Ok(TPM_ALG_SHA384),
        Some(Rs512 | Ps512 | Es512) => Ok(TPM_ALG_SHA512),
        _ => Err(VerifyError::AttestationAlgorithmMismatch(alg)),
    }
}

fn tpm_hash(alg: u16, data: &[u8]) -> Option<Vec<u8>> {
    Some(match alg {
        TPM_ALG_SHA1 => sha1::Sha1::digest(data).to_vec(),
        TPM_ALG_SHA256 => sha2::Sha256::digest(data).to_vec(),
        TPM_ALG_SHA384 => sha2::Sha384::digest(data).to_vec(),
        TPM_ALG_SHA512 => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

/// §8.3.1 TPM attestation statement certificate requirements.
fn check_aik_certificate(aik: &ParsedCert, ctx: &StatementContext) -> Result<(), VerifyError> {
    let fail = |m: &str| Err(VerifyError::AttestationCertificateInvalid(m.to_string()));
    if !aik.is_v3() {
        return fail("AIK certificate version is not 3");
    }
    if !aik.cert.tbs_certificate.subject.0.is_empty() {
        return fail("AIK certificate subject is not empty");
    }
    let Some((_, san)) = aik.extension(const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME) else {
        return fail("AIK certificate has no subject alternative name");
    };
    let mut attrs = Vec::new();
    collect_attributes(san, 0, &mut attrs);
    let attr = |oid: ObjectIdentifier| {
        attrs
            .iter()
            .find(|(o, _)| *o == oid)
            .map(|(_, v)| v.clone())
    };
    let manufacturer = attr(OID_TCG_AT_TPM_MANUFACTURER);
    let (Some(manufacturer), Some(_), Some(_)) = (
        manufacturer,
        attr(OID_TCG_AT_TPM_MODEL),
        attr(OID_TCG_AT_TPM_VERSION),
    ) else {
        return fail("AIK subject alternative name lacks TPM manufacturer, model or version");
    };
    let id = manufacturer
        .strip_prefix("id:")
        .unwrap_or(&manufacturer)
        .to_ascii_uppercase();
    let allowed = match &ctx.policy.tpm_manufacturer_allow {
        Some(list) => list
            .iter()
            .any(|m| m.strip_prefix("id:").unwrap_or(m).eq_ignore_ascii_case(&id)),
        None => TCG_VENDOR_IDS.contains(&id.as_str()),
    };
    if !allowed {
        return Err(VerifyError::TpmManufacturerNotAllowed(manufacturer));
    }
    let Some((_, eku)) = aik.extension(const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE) else {
        return fail("AIK certificate has no extended key usage");
    };
    let eku = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(eku).map_err(|e| {
        VerifyError::AttestationCertificateInvalid(format!("extended key usage: {e}"))
    })?;
    if !eku.0.contains(&OID_TCG_KP_AIK_CERTIFICATE) {
        return fail("AIK certificate lacks tcg-kp-AIKCertificate");
    }
    if aik.basic_constraints_ca(ctx.policy.lenient_x509_der)? == Some(true) {
        return fail("AIK certificate basic constraints CA is true");
    }
    Ok(())
}

/// Collects every `SEQUENCE { OID, value }` under the SAN, whatever the
/// RDN grouping: real TPMs put the three TCG attributes in one multi-valued
/// RDN or in three RDNs, in any order.
fn collect_attributes(bytes: &[u8], depth: usize, out: &mut Vec<(ObjectIdentifier, String)>) {
    if depth > 8 {
        return;
    }
    let Some(items) = tlv::children(bytes) else {
        return;
    };
    if items.len() == 2 && items[0].is_universal(6) && !items[1].constructed {
        if let Ok(oid) = ObjectIdentifier::from_bytes(items[0].value) {
            out.push((oid, String::from_utf8_lossy(items[1].value).into_owned()));
        }
        return;
    }
    for item in items {
        if item.constructed {
            collect_attributes(item.value, depth + 1, out);
        }
    }
}

/// The parts of TPMT_PUBLIC the verifier needs (TPM 2.0 Part 2 §12.2.4).
#[derive(Debug)]
enum PubArea {
    Rsa { exponent: u32, modulus: Vec<u8> },
    Ecc { curve: u16, x: Vec<u8>, y: Vec<u8> },
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn tpm2b(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    /// A scheme selector followed by a hash algorithm unless it is NULL.
    fn scheme(&mut self) -> Option<()> {
        if self.u16()? != TPM_ALG_NULL {
            self.u16()?;
        }
        Some(())
    }
}

impl PubArea {
    fn parse(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        let type_ = r.u16()?;
        let _name_alg = r.u16()?;
        let _object_attributes = r.u32()?;
        let _auth_policy = r.tpm2b()?;
        // symmetric: TPMT_SYM_DEF_OBJECT (NULL for signing keys).
        if r.u16()? != TPM_ALG_NULL {
            r.u16()?;
            r.u16()?;
        }
        let area = match type_ {
            TPM_ALG_RSA => {
                r.scheme()?;
                let _key_bits = r.u16()?;
                let exponent = r.u32()?;
                let modulus = r.tpm2b()?.to_vec();
                Self::Rsa { exponent, modulus }
            }
            TPM_ALG_ECC => {
                r.scheme()?;
                let curve = r.u16()?;
                r.scheme()?; // kdf
                let x = r.tpm2b()?.to_vec();
                let y = r.tpm2b()?.to_vec();
                Self::Ecc { curve, x, y }
            }
            _ => return None,
        };
        r.0.is_empty().then_some(area)
    }

    fn check_matches(&self, key: &CoseKey) -> Result<(), VerifyError> {
        let same = match (self, key) {
            (Self::Rsa { exponent, modulus }, CoseKey::Rsa { n, e, .. }) => {
                // An exponent of 0 means the default 2^16 + 1.
                let exponent = if *exponent == 0 { 65537 } else { *exponent };
                let e_val = e.iter().try_fold(0u64, |acc, b| {
                    acc.checked_mul(256).map(|v| v | u64::from(*b))
                });
                strip(modulus) == strip(n) && e_val == Some(u64::from(exponent))
            }
            (
                Self::Ecc {
                    curve,
                    x: px,
                    y: py,
                },
                CoseKey::Ec2 { curve: c, x, y, .. },
            ) => {
                let tpm_curve = match c {
                    EcCurve::P256 => 0x0003,
                    EcCurve::P384 => 0x0004,
                    EcCurve::P521 => 0x0005,
                };
                *curve == tpm_curve && strip(px) == strip(x) && strip(py) == strip(y)
            }
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err(VerifyError::AttestationPublicKeyMismatch)
        }
    }
}

fn strip(v: &[u8]) -> &[u8] {
    let i = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    &v[i..]
}

/// The parts of TPMS_ATTEST the verifier needs (TPM 2.0 Part 2 §10.12.12).
struct CertInfo<'a> {
    magic: u32,
    type_: u16,
    extra_data: &'a [u8],
    name: &'a [u8],
}

impl<'a> CertInfo<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        let magic = r.u32()?;
        let type_ = r.u16()?;
        let _qualified_signer = r.tpm2b()?;
        let extra_data = r.tpm2b()?;
        let _clock_info = r.take(17)?;
        let _firmware_version = r.take(8)?;
        let name = r.tpm2b()?;
        let _qualified_name = r.tpm2b()?;
        r.0.is_empty().then_some(Self {
            magic,
            type_,
            extra_data,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WebAuthn L3 §8.3: the hash of certInfo's extraData follows the
    /// statement's alg (TPM 2.0 Part 2 §6.3 algorithm ids).
    #[test]
    fn hash_algorithms_follow_the_signature_algorithm() {
        for (alg, tpm) in [
            (-65535, TPM_ALG_SHA1),
            (-257, TPM_ALG_SHA256),
            (-37, TPM_ALG_SHA256),
            (-7, TPM_ALG_SHA256),
            (-258, TPM_ALG_SHA384),
            (-38, TPM_ALG_SHA384),
            (-35, TPM_ALG_SHA384),
            (-259, TPM_ALG_SHA512),
            (-39, TPM_ALG_SHA512),
            (-36, TPM_ALG_SHA512),
        ] {
            assert_eq!(hash_of_alg(alg).unwrap(), tpm, "alg {alg}");
        }
        assert!(hash_of_alg(-8).is_err(), "EdDSA has no TPM hash");
        let data = b"certInfo extraData";
        for (tpm, len) in [
            (TPM_ALG_SHA1, 20),
            (TPM_ALG_SHA256, 32),
            (TPM_ALG_SHA384, 48),
            (TPM_ALG_SHA512, 64),
        ] {
            assert_eq!(tpm_hash(tpm, data).unwrap().len(), len, "{tpm:#x}");
        }
        assert_eq!(
            tpm_hash(TPM_ALG_SHA384, data).unwrap(),
            sha2::Sha384::digest(data).to_vec()
        );
        assert_eq!(tpm_hash(TPM_ALG_NULL, data), None);
    }

    #[test]
    fn strip_drops_leading_zero_bytes_only() {
        assert_eq!(strip(&[0, 0, 1, 0, 2]), &[1, 0, 2]);
        assert_eq!(strip(&[3, 0]), &[3, 0]);
        assert_eq!(strip(&[0, 0]), &[] as &[u8]);
        assert_eq!(strip(&[]), &[] as &[u8]);
    }
}

/// Whole `tpm` statements built here from the specification (WebAuthn L3
/// §8.3 and §8.3.1; TPM 2.0 Part 2 §10.12.12 TPMS_ATTEST and §12.2.4
/// TPMT_PUBLIC; TCG EK Credential Profile for the SAN attributes), each
/// with one requirement broken.
#[cfg(test)]
mod statement_tests {
    use super::*;
    use crate::authdata::{AttestedCredentialData, AuthenticatorData, Flags};
    use crate::cbor::MapBuilder;
    use crate::testutil::{der, key, raw_cert, CertSpec, AAGUID};
    use crate::RegistrationPolicy;
    use p256::ecdsa::{signature::Signer, SigningKey};
    use sha2::Sha256;

    const SAN: ObjectIdentifier = const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME;
    const EKU: ObjectIdentifier = const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE;

    fn attribute(oid: ObjectIdentifier, value: &str) -> Vec<u8> {
        der(
            0x30,
            &[der(0x06, oid.as_bytes()), der(0x0c, value.as_bytes())].concat(),
        )
    }

    /// The TCG attributes a TPM's AIK certificate names (manufacturer,
    /// model, version).
    fn tcg_attributes(manufacturer: &str) -> Vec<Vec<u8>> {
        vec![
            attribute(OID_TCG_AT_TPM_MANUFACTURER, manufacturer),
            attribute(OID_TCG_AT_TPM_MODEL, "NPCT75x"),
            attribute(OID_TCG_AT_TPM_VERSION, "id:00070002"),
        ]
    }

    /// GeneralNames with one directoryName made of `rdns` (each a SET of
    /// attributes).
    fn san(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let name: Vec<u8> = rdns
            .iter()
            .flat_map(|set| der(0x31, &set.concat()))
            .collect();
        der(0x30, &der(0xa4, &der(0x30, &name)))
    }

    fn eku(oids: &[ObjectIdentifier]) -> Vec<u8> {
        der(
            0x30,
            &oids
                .iter()
                .flat_map(|o| der(0x06, o.as_bytes()))
                .collect::<Vec<_>>(),
        )
    }

    /// An AIK certificate meeting §8.3.1: v3, empty subject, the TCG
    /// attributes in a critical SAN, tcg-kp-AIKCertificate, cA false.
    fn aik_spec() -> CertSpec<'static> {
        CertSpec::new("", "CN=TPM Issuing CA,C=US")
            .ca(false)
            .extension(SAN, true, san(&[tcg_attributes("id:4E544300")]))
            .extension(EKU, false, eku(&[OID_TCG_KP_AIK_CERTIFICATE]))
    }

    fn tpm2b(v: &[u8]) -> Vec<u8> {
        [&(v.len() as u16).to_be_bytes()[..], v].concat()
    }

    fn ecc_pub_area(curve: u16, x: &[u8], y: &[u8]) -> Vec<u8> {
        [
            &TPM_ALG_ECC.to_be_bytes()[..],
            &TPM_ALG_SHA256.to_be_bytes(),
            &0x0006_0472u32.to_be_bytes(), // sign, sensitiveDataOrigin, fixedTPM…
            &tpm2b(&[]),                   // authPolicy
            &TPM_ALG_NULL.to_be_bytes(),   // symmetric
            &TPM_ALG_NULL.to_be_bytes(),   // scheme
            &curve.to_be_bytes(),
            &TPM_ALG_NULL.to_be_bytes(), // kdf
            &tpm2b(x),
            &tpm2b(y),
        ]
        .concat()
    }

    fn rsa_pub_area(exponent: u32, modulus: &[u8]) -> Vec<u8> {
        [
            &TPM_ALG_RSA.to_be_bytes()[..],
            &TPM_ALG_SHA256.to_be_bytes(),
            &0x0006_0472u32.to_be_bytes(),
            &tpm2b(&[]),
            &TPM_ALG_NULL.to_be_bytes(),
            // scheme RSASSA with SHA-256 (not NULL: a hash follows)
            &0x0014u16.to_be_bytes(),
            &TPM_ALG_SHA256.to_be_bytes(),
            &2048u16.to_be_bytes(),
            &exponent.to_be_bytes(),
            &tpm2b(modulus),
        ]
        .concat()
    }

    fn cert_info(magic: u32, type_: u16, extra_data: &[u8], name: &[u8]) -> Vec<u8> {
        [
            &magic.to_be_bytes()[..],
            &type_.to_be_bytes(),
            &tpm2b(&[0x00, 0x0b, 1, 2, 3]), // qualifiedSigner
            &tpm2b(extra_data),
            &[0u8; 17], // clockInfo
            &[0u8; 8],  // firmwareVersion
            &tpm2b(name),
            &tpm2b(&[]), // qualifiedName
        ]
        .concat()
    }

    /// One registration's pieces; `run` signs certInfo with the AIK and
    /// verifies the statement.
    struct Case {
        aik: SigningKey,
        aik_der: Vec<u8>,
        credential: CoseKey,
        pub_area: Vec<u8>,
        magic: u32,
        type_: u16,
        /// None: the hash of attToBeSigned.
        extra_data: Option<Vec<u8>>,
        /// None: SHA-256's id and the SHA-256 of pubArea.
        name: Option<Vec<u8>>,
        alg: i64,
        policy: RegistrationPolicy,
    }

    impl Case {
        fn new() -> Self {
            let aik = key();
            let aik_der = raw_cert(&aik_spec(), &aik, &key());
            let cred = key();
            let credential = CoseKey::from_p256(CoseAlgorithm::Es256, &cred.verifying_key().into());
            let CoseKey::Ec2 { x, y, .. } = &credential else {
                unreachable!()
            };
            let pub_area = ecc_pub_area(0x0003, x, y);
            Case {
                aik,
                aik_der,
                credential,
                pub_area,
                magic: TPM_GENERATED_VALUE,
                type_: TPM_ST_ATTEST_CERTIFY,
                extra_data: None,
                name: None,
                alg: CoseAlgorithm::Es256.id(),
                policy: RegistrationPolicy::default(),
            }
        }

        fn with_aik(mut self, spec: CertSpec<'_>) -> Self {
            self.aik_der = raw_cert(&spec, &self.aik, &key());
            self
        }

        fn run(&self) -> Result<StatementOutcome, VerifyError> {
            let attested = AttestedCredentialData {
                aaguid: AAGUID,
                credential_id: vec![7; 32],
                public_key_bytes: self.credential.to_bytes(),
                public_key: self.credential.clone(),
            };
            let auth_data = AuthenticatorData {
                rp_id_hash: Sha256::digest(b"login.example.com").into(),
                flags: Flags(Flags::UP | Flags::UV | Flags::AT),
                sign_count: 0,
                attested: Some(attested.clone()),
                extensions: None,
            };
            let raw = auth_data.to_bytes();
            let ctx = StatementContext {
                auth_data_raw: &raw,
                auth_data: &auth_data,
                attested: &attested,
                client_data_hash: [5; 32],
                policy: &self.policy,
                now: time::OffsetDateTime::now_utc(),
            };
            let extra = self
                .extra_data
                .clone()
                .unwrap_or_else(|| Sha256::digest(ctx.signed_data()).to_vec());
            let name = self.name.clone().unwrap_or_else(|| {
                [
                    &TPM_ALG_SHA256.to_be_bytes()[..],
                    &Sha256::digest(&self.pub_area),
                ]
                .concat()
            });
            let info = cert_info(self.magic, self.type_, &extra, &name);
            let sig: p256::ecdsa::Signature = self.aik.sign(&info);
            let stmt = MapBuilder::new()
                .text("ver", "2.0")
                .text("alg", self.alg)
                .text(
                    "x5c",
                    Value::Array(vec![Value::Bytes(self.aik_der.clone())]),
                )
                .text("sig", sig.to_der().as_bytes().to_vec())
                .text("certInfo", info)
                .text("pubArea", self.pub_area.clone())
                .build();
            verify(stmt, &ctx)
        }

        fn refused(&self) -> String {
            match self.run() {
                Ok(_) => panic!("accepted"),
                Err(e) => e.to_string(),
            }
        }
    }

    #[test]
    fn a_statement_meeting_every_requirement_is_accepted() {
        let out = Case::new().run().unwrap();
        assert_eq!(out.attestation_type, AttestationType::AttCa);
        assert_eq!(out.chain.len(), 1);
        // The three TCG attributes in three RDNs instead of one.
        let spread = aik_spec();
        let spread = CertSpec {
            extensions: vec![
                (
                    SAN,
                    true,
                    san(&tcg_attributes("id:4E544300")
                        .into_iter()
                        .map(|a| vec![a])
                        .collect::<Vec<_>>()),
                ),
                spread.extensions[1].clone(),
            ],
            ..spread
        };
        Case::new().with_aik(spread).run().unwrap();
    }

    #[test]
    fn certinfo_must_be_a_certification_of_this_pubarea_over_this_registration() {
        let mut c = Case::new();
        c.magic = 0xff54_4348;
        assert!(c.refused().contains("magic"), "{}", c.refused());
        let mut c = Case::new();
        c.type_ = 0x8018; // TPM_ST_ATTEST_QUOTE
        assert!(c.refused().contains("TPM_ST_ATTEST_CERTIFY"));
        let mut c = Case::new();
        c.extra_data = Some(vec![0; 32]);
        assert!(c.refused().contains("extraData"));
        // The attested name: at least the 2-byte algorithm id; exactly
        // that is too little to be pubArea's name.
        for (name, want) in [
            (vec![], "too short"),
            (vec![0x00], "too short"),
            (vec![0x00, 0x0b], "not the name of pubArea"),
            (vec![0x00, 0x10, 1, 2], "unsupported name algorithm"),
            (
                [&[0x00, 0x0b][..], &[0; 32]].concat(),
                "not the name of pubArea",
            ),
        ] {
            let mut c = Case::new();
            c.name = Some(name.clone());
            assert!(c.refused().contains(want), "{name:?}: {}", c.refused());
        }
        // A SHA-1 name of pubArea is a name too.
        let mut c = Case::new();
        c.name = Some([&[0x00, 0x04][..], &sha1::Sha1::digest(&c.pub_area)].concat());
        c.run().unwrap();
    }

    #[test]
    fn pubarea_must_hold_the_credential_key() {
        let mut c = Case::new();
        let CoseKey::Ec2 { x, y, .. } = c.credential.clone() else {
            unreachable!()
        };
        // P-384's curve id with P-256's point.
        c.pub_area = ecc_pub_area(0x0004, &x, &y);
        assert_eq!(
            c.refused(),
            VerifyError::AttestationPublicKeyMismatch.to_string()
        );
        let mut other_x = x.clone();
        other_x[5] ^= 1;
        c.pub_area = ecc_pub_area(0x0003, &other_x, &y);
        assert_eq!(
            c.refused(),
            VerifyError::AttestationPublicKeyMismatch.to_string()
        );
        let mut other_y = y.clone();
        other_y[31] ^= 1;
        c.pub_area = ecc_pub_area(0x0003, &x, &other_y);
        assert_eq!(
            c.refused(),
            VerifyError::AttestationPublicKeyMismatch.to_string()
        );
        // Leading zeros do not change a coordinate.
        c.pub_area = ecc_pub_area(0x0003, &[&[0u8][..], &x].concat(), &y);
        c.run().unwrap();
        // Trailing bytes after TPMT_PUBLIC.
        c.pub_area = [ecc_pub_area(0x0003, &x, &y), vec![0]].concat();
        assert!(c.refused().contains("TPMT_PUBLIC"));
    }

    #[test]
    fn rsa_pubarea_matches_modulus_and_exponent() {
        let n: Vec<u8> = (1..=255u8).chain([7]).collect();
        let key = |e: &[u8]| CoseKey::Rsa {
            alg: CoseAlgorithm::Rs256.id(),
            n: n.clone(),
            e: e.to_vec(),
        };
        let area = |exponent| PubArea::parse(&rsa_pub_area(exponent, &n)).unwrap();
        // §12.2.3.5: an exponent of zero stands for 2^16 + 1.
        assert!(area(0).check_matches(&key(&[1, 0, 1])).is_ok());
        assert!(area(65537).check_matches(&key(&[1, 0, 1])).is_ok());
        assert!(area(3).check_matches(&key(&[3])).is_ok());
        assert!(area(3).check_matches(&key(&[1, 0, 1])).is_err());
        assert!(area(0).check_matches(&key(&[3])).is_err());
        assert!(area(65537).check_matches(&key(&[0, 1, 0, 1])).is_ok());
        assert!(area(65537).check_matches(&key(&[1, 0, 0, 1])).is_err());
        // An exponent too long for 64 bits is no exponent a TPM has.
        assert!(area(1)
            .check_matches(&key(&[1, 0, 0, 0, 0, 0, 0, 0, 1]))
            .is_err());
        let mut other = n.clone();
        other[100] ^= 1;
        let wrong_n = CoseKey::Rsa {
            alg: -257,
            n: other,
            e: vec![1, 0, 1],
        };
        assert!(area(0).check_matches(&wrong_n).is_err());
        // An RSA area never matches an EC2 key, nor an ECC area an RSA key.
        let ec = Case::new().credential;
        assert!(area(0).check_matches(&ec).is_err());
        let CoseKey::Ec2 { x, y, .. } = &ec else {
            unreachable!()
        };
        let ecc = PubArea::parse(&ecc_pub_area(3, x, y)).unwrap();
        assert!(ecc.check_matches(&key(&[1, 0, 1])).is_err());
        assert!(ecc.check_matches(&ec).is_ok());
    }

    #[test]
    fn the_aik_certificate_meets_section_8_3_1() {
        let base = aik_spec;
        let cases: Vec<(CertSpec<'static>, &str)> = vec![
            (CertSpec { v1: true, ..base() }, "version is not 3"),
            (
                CertSpec {
                    subject: "CN=AIK",
                    ..base()
                },
                "subject is not empty",
            ),
            (
                CertSpec {
                    extensions: vec![base().extensions[1].clone()],
                    ..base()
                },
                "no subject alternative name",
            ),
            (
                CertSpec {
                    extensions: vec![base().extensions[0].clone()],
                    ..base()
                },
                "no extended key usage",
            ),
            (
                CertSpec {
                    extensions: vec![
                        base().extensions[0].clone(),
                        (
                            EKU,
                            false,
                            eku(&[const_oid::db::rfc5280::ID_KP_CLIENT_AUTH]),
                        ),
                    ],
                    ..base()
                },
                "lacks tcg-kp-AIKCertificate",
            ),
            (
                CertSpec {
                    extensions: vec![base().extensions[0].clone(), (EKU, false, vec![0x04, 0x00])],
                    ..base()
                },
                "extended key usage",
            ),
            (base().ca(true), "CA is true"),
        ];
        for (spec, want) in cases {
            let e = Case::new().with_aik(spec).refused();
            assert!(e.contains(want), "want {want:?}, got {e}");
        }
        // Each TCG attribute is required.
        for missing in 0..3 {
            let mut attrs = tcg_attributes("id:4E544300");
            attrs.remove(missing);
            let spec = CertSpec {
                extensions: vec![(SAN, true, san(&[attrs])), base().extensions[1].clone()],
                ..base()
            };
            let e = Case::new().with_aik(spec).refused();
            assert!(e.contains("lacks TPM manufacturer"), "{missing}: {e}");
        }
        // No Basic Constraints at all is fine (cA defaults to false).
        let no_bc = CertSpec {
            basic_constraints: None,
            ..base()
        };
        Case::new().with_aik(no_bc).run().unwrap();
    }

    #[test]
    fn the_tpm_manufacturer_must_be_known_or_allowed() {
        let with = |m: &str| {
            let spec = CertSpec {
                extensions: vec![
                    (SAN, true, san(&[tcg_attributes(m)])),
                    aik_spec().extensions[1].clone(),
                ],
                ..aik_spec()
            };
            Case::new().with_aik(spec)
        };
        // In the TCG registry, with or without "id:", any case.
        with("id:4E544300").run().unwrap();
        with("4E544300").run().unwrap();
        with("id:4e544300").run().unwrap();
        let e = with("id:FFFFF1D0").refused();
        assert!(e.contains("FFFFF1D0"), "{e}");
        // A policy list replaces the registry.
        let mut c = with("id:FFFFF1D0");
        c.policy.tpm_manufacturer_allow = Some(vec!["id:fffff1d0".into()]);
        c.run().unwrap();
        c.policy.tpm_manufacturer_allow = Some(vec!["FFFFF1D0".into()]);
        c.run().unwrap();
        let mut c = with("id:4E544300");
        c.policy.tpm_manufacturer_allow = Some(vec!["id:FFFFF1D0".into()]);
        assert!(c.refused().contains("4E544300"));
    }

    #[test]
    fn san_attributes_are_found_at_any_depth_up_to_the_bound() {
        let oid = OID_TCG_AT_TPM_MODEL;
        let wrap = |v: Vec<u8>, times: usize| (0..times).fold(v, |acc, _| der(0x30, &acc));
        let found = |bytes: &[u8]| {
            let mut out = Vec::new();
            collect_attributes(bytes, 0, &mut out);
            out
        };
        // Under `times` sequences, the attribute's own fields are read at
        // depth times + 1: found while that is at most 8.
        for times in 1..=9 {
            let bytes = wrap(attribute(oid, "M"), times);
            let got = found(&bytes);
            if times < 8 {
                assert_eq!(got, vec![(oid, "M".to_string())], "depth {times}");
            } else {
                assert!(got.is_empty(), "depth {times}");
            }
        }
        // Two items whose second is constructed is not an attribute: the
        // search goes into it.
        let pair = der(
            0x30,
            &[
                der(0x06, oid.as_bytes()),
                der(0x30, &attribute(oid, "inner")),
            ]
            .concat(),
        );
        assert_eq!(found(&der(0x30, &pair)), vec![(oid, "inner".to_string())]);
        // A first item that is not an OID is not an attribute either.
        let not_oid = der(0x30, &[der(0x04, b"x"), der(0x0c, b"y")].concat());
        assert!(found(&der(0x30, &not_oid)).is_empty());
        // Three items are not an attribute; attributes under them are.
        let three = der(
            0x30,
            &[attribute(oid, "a"), der(0x05, &[]), attribute(oid, "b")].concat(),
        );
        assert_eq!(
            found(&der(0x30, &three)),
            vec![(oid, "a".to_string()), (oid, "b".to_string())]
        );
    }
}

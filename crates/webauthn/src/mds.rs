//! FIDO Metadata Service v3 (FIDO MDS 3.0 §3.1): reading a metadata BLOB —
//! a JWT whose `x5c` header chain must reach the MDS root certificate — and
//! looking its entries up by AAGUID.
//!
//! Fetching the BLOB is the caller's business; this module only verifies
//! and reads bytes at the clock it is given.

use serde::Deserialize;
use time::OffsetDateTime;

use crate::authdata::parse_aaguid;
use crate::b64;
use crate::cose::CoseAlgorithm;
use crate::error::VerifyError;
use crate::jws;
use crate::trust::{validate_path, ParsedCert, TrustAnchor, TrustStore};

/// One status report of an authenticator (MDS3 §3.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// `FIDO_CERTIFIED_L1`, `REVOKED`, `ATTESTATION_KEY_COMPROMISE`, …
    pub status: String,
    /// ISO 8601 date from which the status holds.
    #[serde(default)]
    pub effective_date: Option<String>,
}

impl StatusReport {
    /// Whether the status means the authenticator must not be trusted
    /// (MDS3 §3.1.4: revoked, or a key or UV compromise).
    pub fn is_compromise(&self) -> bool {
        matches!(
            self.status.as_str(),
            "REVOKED"
                | "USER_VERIFICATION_BYPASS"
                | "ATTESTATION_KEY_COMPROMISE"
                | "USER_KEY_REMOTE_COMPROMISE"
                | "USER_KEY_PHYSICAL_COMPROMISE"
        )
    }
}

/// One authenticator model of the BLOB.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataEntry {
    /// The AAGUID (FIDO2 authenticators; U2F/UAF entries have none).
    pub aaguid: Option<[u8; 16]>,
    /// `metadataStatement.description`.
    pub description: Option<String>,
    /// `metadataStatement.attestationRootCertificates`, as DER.
    pub attestation_root_certificates: Vec<Vec<u8>>,
    /// Status reports, in BLOB order.
    pub status_reports: Vec<StatusReport>,
    /// The whole metadata statement, for fields not modelled here.
    pub metadata_statement: serde_json::Value,
}

impl MetadataEntry {
    /// The report in force: the one with the latest effective date (ties and
    /// undated reports resolved by BLOB order).
    pub fn latest_status(&self) -> Option<&StatusReport> {
        self.status_reports
            .iter()
            .enumerate()
            .max_by(|(i, a), (j, b)| {
                let da = a.effective_date.as_deref().unwrap_or("");
                let db = b.effective_date.as_deref().unwrap_or("");
                da.cmp(db).then(i.cmp(j))
            })
            .map(|(_, r)| r)
    }
}

/// A verified metadata BLOB.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataBlob {
    /// Serial number of the BLOB.
    pub no: u64,
    /// When the next BLOB is due (ISO 8601 date).
    pub next_update: String,
    /// The legal header.
    pub legal_header: Option<String>,
    entries: Vec<MetadataEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPayload {
    no: u64,
    next_update: String,
    #[serde(default)]
    legal_header: Option<String>,
    #[serde(default)]
    entries: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    #[serde(default)]
    aaguid: Option<String>,
    #[serde(default)]
    metadata_statement: Option<serde_json::Value>,
    #[serde(default)]
    status_reports: Vec<StatusReport>,
}

impl MetadataBlob {
    /// Verifies a BLOB (the JWT text) against the MDS root certificate(s)
    /// in `root_pem` at `now`, and reads its entries.
    pub fn from_jwt(jwt: &[u8], root_pem: &str, now: OffsetDateTime) -> Result<Self, VerifyError> {
        let mut roots = TrustStore::new();
        roots.add_pem(root_pem)?;
        let anchors: Vec<TrustAnchor> = roots.anchors_for(&[0; 16]).to_vec();
        let token = jws::Compact::parse(jwt).map_err(VerifyError::MetadataBlobMalformed)?;
        let chain = token
            .header
            .x5c
            .iter()
            .map(|c| {
                let der = b64::decode_lenient(c).map_err(|_| {
                    VerifyError::MetadataBlobMalformed("x5c entry is not base64".into())
                })?;
                ParsedCert::parse(&der)
                    .map_err(|e| VerifyError::MetadataBlobMalformed(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if chain.is_empty() {
            return Err(VerifyError::MetadataBlobMalformed(
                "JWT header has no x5c".into(),
            ));
        }
        validate_path(&chain, &anchors, now).map_err(VerifyError::MetadataSignerNotTrusted)?;
        let alg = CoseAlgorithm::from_name(&token.header.alg).ok_or_else(|| {
            VerifyError::MetadataBlobMalformed(format!("unsupported alg {}", token.header.alg))
        })?;
        let key = chain[0]
            .public_key()
            .map_err(|e| VerifyError::MetadataBlobMalformed(e.to_string()))?;
        token
            .verify(&key, alg)
            .map_err(|_| VerifyError::MetadataSignatureInvalid)?;

        let raw: RawPayload = serde_json::from_slice(&token.payload)
            .map_err(|e| VerifyError::MetadataBlobMalformed(e.to_string()))?;
        let entries = raw
            .entries
            .into_iter()
            .map(MetadataEntry::from_raw)
            .collect();
        Ok(Self {
            no: raw.no,
            next_update: raw.next_update,
            legal_header: raw.legal_header,
            entries,
        })
    }

    /// All entries.
    pub fn entries(&self) -> &[MetadataEntry] {
        &self.entries
    }

    /// The entry of one AAGUID.
    pub fn entry(&self, aaguid: &[u8; 16]) -> Option<&MetadataEntry> {
        self.entries
            .iter()
            .find(|e| e.aaguid.as_ref() == Some(aaguid))
    }

    /// Adds every entry's attestation roots to `trust` for its AAGUID;
    /// returns how many certificates were added (unparsable ones skipped).
    pub fn add_roots_to(&self, trust: &mut TrustStore) -> usize {
        let mut n = 0;
        for e in &self.entries {
            let Some(aaguid) = e.aaguid else { continue };
            for der in &e.attestation_root_certificates {
                if trust.add_for_aaguid(aaguid, der).is_ok() {
                    n += 1;
                }
            }
        }
        n
    }
}

impl MetadataEntry {
    fn from_raw(raw: RawEntry) -> Self {
        let statement = raw.metadata_statement.unwrap_or(serde_json::Value::Null);
        let roots = statement["attestationRootCertificates"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|c| c.as_str().and_then(|s| b64::decode_lenient(s).ok()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            aaguid: raw.aaguid.as_deref().and_then(parse_aaguid),
            description: statement["description"].as_str().map(str::to_string),
            attestation_root_certificates: roots,
            status_reports: raw.status_reports,
            metadata_statement: statement,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use der::{Decode, Encode, EncodePem};
    use p256::ecdsa::{signature::Signer, DerSignature, SigningKey};
    use spki::EncodePublicKey;
    use std::str::FromStr;
    use std::time::{Duration, SystemTime};
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::{Time, Validity};
    use x509_cert::Certificate;

    const AAGUID: &str = "cb69481e-8ff7-4039-93ec-0a2729a154a8";

    fn validity() -> Validity {
        let now = SystemTime::now();
        Validity {
            not_before: Time::try_from(now - Duration::from_secs(86_400)).unwrap(),
            not_after: Time::try_from(now + Duration::from_secs(365 * 86_400)).unwrap(),
        }
    }

    fn spki(key: &SigningKey) -> SubjectPublicKeyInfoOwned {
        let der = key.verifying_key().to_public_key_der().unwrap();
        SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).unwrap()
    }

    fn cert(profile: Profile, subject: &str, key: &SigningKey, signer: &SigningKey) -> Certificate {
        CertificateBuilder::new(
            profile,
            SerialNumber::new(&[1, 2, 3]).unwrap(),
            validity(),
            Name::from_str(subject).unwrap(),
            spki(key),
            signer,
        )
        .unwrap()
        .build::<DerSignature>()
        .unwrap()
    }

    /// A throwaway MDS: root CA, BLOB signer, and a signed BLOB.
    fn fixture() -> (String, String, Vec<u8>) {
        let root_key = SigningKey::random(&mut rand::thread_rng());
        let root = cert(
            Profile::Root,
            "CN=Test MDS Root,O=Keysmith,C=US",
            &root_key,
            &root_key,
        );
        let signer_key = SigningKey::random(&mut rand::thread_rng());
        let signer = cert(
            Profile::Leaf {
                issuer: root.tbs_certificate.subject.clone(),
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            "CN=Test MDS Signer,O=Keysmith,C=US",
            &signer_key,
            &root_key,
        );
        let root_der = root.to_der().unwrap();
        let header = serde_json::json!({
            "alg": "ES256", "typ": "JWT",
            "x5c": [STANDARD.encode(signer.to_der().unwrap())],
        });
        let payload = serde_json::json!({
            "legalHeader": "test", "no": 7, "nextUpdate": "2099-01-01",
            "entries": [{
                "aaguid": AAGUID,
                "metadataStatement": {
                    "description": "Test Key",
                    "attestationRootCertificates": [STANDARD.encode(&root_der)],
                },
                "statusReports": [
                    {"status": "FIDO_CERTIFIED_L1", "effectiveDate": "2020-01-01"},
                    {"status": "REVOKED", "effectiveDate": "2024-05-01"},
                ],
            }],
        });
        let input = format!(
            "{}.{}",
            b64::encode(header.to_string()),
            b64::encode(payload.to_string())
        );
        let sig: p256::ecdsa::Signature = signer_key.sign(input.as_bytes());
        let jwt = format!("{input}.{}", b64::encode(sig.to_bytes()));
        let root_pem = root.to_pem(der::pem::LineEnding::LF).unwrap();
        (jwt, root_pem, root_der)
    }

    #[test]
    fn verified_blob_exposes_entries_and_roots() {
        let (jwt, root_pem, root_der) = fixture();
        let now = OffsetDateTime::now_utc();
        let blob = MetadataBlob::from_jwt(jwt.as_bytes(), &root_pem, now).unwrap();
        assert_eq!(blob.no, 7);
        let aaguid = parse_aaguid(AAGUID).unwrap();
        let entry = blob.entry(&aaguid).unwrap();
        assert_eq!(entry.description.as_deref(), Some("Test Key"));
        assert_eq!(entry.attestation_root_certificates, vec![root_der]);
        let latest = entry.latest_status().unwrap();
        assert_eq!(latest.status, "REVOKED");
        assert!(latest.is_compromise());
        let mut trust = TrustStore::new();
        assert_eq!(blob.add_roots_to(&mut trust), 1);
        assert_eq!(trust.anchors_for(&aaguid).len(), 1);
        assert!(trust.anchors_for(&[1; 16]).is_empty());
    }

    #[test]
    fn tampered_wrong_root_or_expired_blob_is_rejected() {
        let (jwt, root_pem, _) = fixture();
        let now = OffsetDateTime::now_utc();
        // Tampered payload: same signature over different claims.
        let parts: Vec<&str> = jwt.split('.').collect();
        let forged_payload = b64::encode(
            String::from_utf8(b64::decode(parts[1]).unwrap())
                .unwrap()
                .replace("REVOKED", "FIDO_CERTIFIED_L2"),
        );
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(
            MetadataBlob::from_jwt(forged.as_bytes(), &root_pem, now).unwrap_err(),
            VerifyError::MetadataSignatureInvalid
        );
        // A different root does not anchor the signer.
        let (_, other_root, _) = fixture();
        assert_eq!(
            MetadataBlob::from_jwt(jwt.as_bytes(), &other_root, now)
                .unwrap_err()
                .code(),
            "metadataSignerNotTrusted"
        );
        // After the certificates expire.
        let later = now + time::Duration::days(800);
        assert_eq!(
            MetadataBlob::from_jwt(jwt.as_bytes(), &root_pem, later)
                .unwrap_err()
                .code(),
            "metadataSignerNotTrusted"
        );
        assert_eq!(
            MetadataBlob::from_jwt(b"a.b", &root_pem, now)
                .unwrap_err()
                .code(),
            "metadataBlobMalformed"
        );
    }

    /// MDS3 §3.1.4 AuthenticatorStatus: which statuses mean "do not
    /// trust".
    #[test]
    fn compromise_statuses() {
        let report = |status: &str| StatusReport {
            status: status.into(),
            effective_date: None,
        };
        for bad in [
            "REVOKED",
            "USER_VERIFICATION_BYPASS",
            "ATTESTATION_KEY_COMPROMISE",
            "USER_KEY_REMOTE_COMPROMISE",
            "USER_KEY_PHYSICAL_COMPROMISE",
        ] {
            assert!(report(bad).is_compromise(), "{bad}");
        }
        for fine in [
            "FIDO_CERTIFIED",
            "FIDO_CERTIFIED_L1",
            "NOT_FIDO_CERTIFIED",
            "UPDATE_AVAILABLE",
            "SELF_ASSERTION_SUBMITTED",
            "revoked",
        ] {
            assert!(!report(fine).is_compromise(), "{fine}");
        }
    }

    #[test]
    fn the_latest_report_is_by_date_then_by_order() {
        let entry = |reports: &[(&str, Option<&str>)]| MetadataEntry {
            aaguid: None,
            description: None,
            attestation_root_certificates: vec![],
            status_reports: reports
                .iter()
                .map(|(s, d)| StatusReport {
                    status: s.to_string(),
                    effective_date: d.map(str::to_string),
                })
                .collect(),
            metadata_statement: serde_json::Value::Null,
        };
        let latest =
            |r: &[(&str, Option<&str>)]| entry(r).latest_status().map(|s| s.status.clone());
        assert_eq!(latest(&[]), None);
        assert_eq!(
            latest(&[("B", Some("2024-05-01")), ("A", Some("2020-01-01"))]),
            Some("B".into())
        );
        assert_eq!(
            latest(&[("A", Some("2020-01-01")), ("B", Some("2024-05-01"))]),
            Some("B".into())
        );
        // Same date: the later one in the BLOB.
        assert_eq!(
            latest(&[("A", Some("2022-02-02")), ("B", Some("2022-02-02"))]),
            Some("B".into())
        );
        // An undated report is older than any dated one.
        assert_eq!(
            latest(&[("A", Some("2022-02-02")), ("B", None)]),
            Some("A".into())
        );
        assert_eq!(latest(&[("A", None), ("B", None)]), Some("B".into()));
    }

    #[test]
    fn entries_roots_and_lookups() {
        let raw: RawEntry = serde_json::from_value(serde_json::json!({
            "aaguid": AAGUID,
            "metadataStatement": {
                "description": "Two roots, one broken",
                "attestationRootCertificates": ["!!not base64", 7,
                    STANDARD.encode(b"not a certificate"), STANDARD.encode(fixture().2)],
            },
        }))
        .unwrap();
        let e = MetadataEntry::from_raw(raw);
        assert_eq!(e.aaguid, parse_aaguid(AAGUID));
        // Undecodable text and non-strings are skipped at reading.
        assert_eq!(e.attestation_root_certificates.len(), 2);
        let u2f: RawEntry = serde_json::from_value(serde_json::json!({
            "metadataStatement": {"attestationRootCertificates": [STANDARD.encode(fixture().2)]},
        }))
        .unwrap();
        let u2f = MetadataEntry::from_raw(u2f);
        assert_eq!((u2f.aaguid, u2f.description.as_deref()), (None, None));
        let blob = MetadataBlob {
            no: 1,
            next_update: "2099-01-01".into(),
            legal_header: None,
            entries: vec![u2f, e],
        };
        // The U2F entry (no AAGUID) adds nothing; of the two DER entries
        // only the certificate counts.
        let mut trust = TrustStore::new();
        assert_eq!(blob.add_roots_to(&mut trust), 1);
        assert_eq!(blob.entries().len(), 2);
        assert!(blob.entry(&parse_aaguid(AAGUID).unwrap()).is_some());
        assert!(blob.entry(&[0; 16]).is_none());
    }

    #[test]
    fn blob_shape_errors() {
        let (jwt, root_pem, _) = fixture();
        let now = OffsetDateTime::now_utc();
        let parts: Vec<&str> = jwt.split('.').collect();
        let with_header = |h: serde_json::Value| {
            let jwt = format!("{}.{}.{}", b64::encode(h.to_string()), parts[1], parts[2]);
            MetadataBlob::from_jwt(jwt.as_bytes(), &root_pem, now).unwrap_err()
        };
        let header: serde_json::Value =
            serde_json::from_slice(&b64::decode(parts[0]).unwrap()).unwrap();
        let x5c = header["x5c"].clone();
        let e = with_header(serde_json::json!({"alg": "ES256", "x5c": []}));
        assert_eq!(
            e,
            VerifyError::MetadataBlobMalformed("JWT header has no x5c".into())
        );
        let e = with_header(serde_json::json!({"alg": "ES256", "x5c": ["!!"]}));
        assert_eq!(
            e,
            VerifyError::MetadataBlobMalformed("x5c entry is not base64".into())
        );
        let e = with_header(serde_json::json!({"alg": "ES256", "x5c": ["AAAA"]}));
        assert_eq!(e.code(), "metadataBlobMalformed");
        let e = with_header(serde_json::json!({"alg": "HS256", "x5c": x5c}));
        assert_eq!(
            e,
            VerifyError::MetadataBlobMalformed("unsupported alg HS256".into())
        );
        // Signed correctly, but the payload is not a BLOB.
        assert!(MetadataBlob::from_jwt(jwt.as_bytes(), "not pem", now).is_err());
    }
}

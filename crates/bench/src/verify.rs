//! `keysmith bench verify`: Keysmith's WebAuthn verifier on real
//! registrations of the interoperability corpus, one thread, the path
//! cache warm and cold, beside raw ES256 verification of the same
//! attestation signature. `scripts/bench-peers` runs it between
//! py_webauthn, OpenSSL and SimpleWebAuthn on the same records.

use crate::rate_for;
use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use webauthn::{b64, verify_registration, RegistrationInput, RegistrationPolicy, TrustStore};

/// The registrations measured when no `--vector` is given: a YubiKey 5's
/// packed attestation with its chain to Yubico's root (ES256), a Windows
/// Hello TPM's (RS256 credential, SHA-1 attestation signature, chain to
/// Microsoft's TPM root), and Chrome's `none` attestation.
pub const DEFAULT_VECTORS: [&str; 3] = [
    "pw-packed-yubikey5-firefox-es256",
    "pw-tpm-dell-xps-13",
    "pw-none-chrome-localhost",
];

/// The options of `keysmith bench verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyBenchArgs {
    /// The corpus folder (vectors.jsonl and trust_anchors.json).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "crates/webauthn/tests/data/webauthn-vectors"
    )]
    corpus: PathBuf,
    /// A registration record of the corpus to measure, by id (repeat the
    /// option for several). Default: the three of DEFAULT_VECTORS.
    #[arg(long = "vector", value_name = "ID")]
    vectors: Vec<String>,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 2.0, value_parser = crate::seconds)]
    seconds: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// One corpus registration, ready to verify.
pub struct Record {
    /// The record's id in the corpus.
    pub id: String,
    /// Its attestation format (`packed`, `tpm`, `none`, …).
    pub fmt: String,
    client_data_json: Vec<u8>,
    attestation_object: Vec<u8>,
    challenge: String,
    origins: Vec<String>,
    rp_id: String,
    policy: RegistrationPolicy,
    trust: TrustStore,
    /// The clock the record is verified at: its `verify_at`, else the time
    /// py_webauthn's verdict was taken at, else its suggested time, else
    /// now (real captures hold certificates that have since expired).
    pub at: OffsetDateTime,
}

impl Record {
    fn input(&self) -> RegistrationInput<'_> {
        RegistrationInput {
            client_data_json: &self.client_data_json,
            attestation_object: &self.attestation_object,
            expected_challenge: &self.challenge,
            expected_origins: &self.origins,
            rp_id: &self.rp_id,
        }
    }

    /// One whole registration check with `trust` (its path cache as it is).
    pub fn verify(&self, trust: &TrustStore) -> Result<(), webauthn::VerifyError> {
        verify_registration(&self.input(), &self.policy, trust, self.at).map(|_| ())
    }
}

/// Reads the registration records `ids` from the corpus in `dir`.
pub fn load(dir: &std::path::Path, ids: &[String]) -> anyhow::Result<Vec<Record>> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (give the corpus folder with --corpus)",
                path.display()
            )
        })
    };
    let anchors: HashMap<String, Value> = serde_json::from_str(&read("trust_anchors.json")?)
        .context("trust_anchors.json is not a JSON object")?;
    let mut by_id: HashMap<String, Value> = HashMap::new();
    for (n, line) in read("vectors.jsonl")?.lines().enumerate() {
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("vectors.jsonl line {} is not JSON", n + 1))?;
        if let Some(id) = v["id"].as_str() {
            by_id.insert(id.to_string(), v);
        }
    }
    ids.iter()
        .map(|id| {
            let v = by_id
                .get(id)
                .ok_or_else(|| anyhow!("no record {id:?} in the corpus"))?;
            record(v, &anchors).with_context(|| format!("record {id}"))
        })
        .collect()
}

fn record(v: &Value, anchors: &HashMap<String, Value>) -> anyhow::Result<Record> {
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let bytes = |k: &str| b64::decode_lenient(v[k].as_str().unwrap_or_default());
    if v["kind"] != "registration" {
        bail!("is not a registration");
    }
    let mut trust = TrustStore::new();
    for name in v["trust_anchor_refs"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap_or_default();
        let pem = anchors
            .get(name)
            .and_then(|a| a["pem"].as_str())
            .ok_or_else(|| anyhow!("no trust anchor {name} in trust_anchors.json"))?;
        trust
            .add_pem(pem)
            .map_err(|e| anyhow!("anchor {name}: {e}"))?;
    }
    let mut policy: RegistrationPolicy = serde_json::from_value(v["policy"].clone())?;
    // With anchors the chain must be proven (as py_webauthn and
    // SimpleWebAuthn do when given the roots), not merely reported.
    policy.require_trusted_attestation = v["trust_anchor_refs"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    let at = [
        &v["verify_at"],
        &v["py_webauthn"]["at_time"],
        &v["verify_at_suggested"],
    ]
    .into_iter()
    .find_map(|t| t.as_str())
    .map(|t| OffsetDateTime::parse(t, &Rfc3339))
    .transpose()?
    .unwrap_or_else(OffsetDateTime::now_utc);
    Ok(Record {
        id: text("id"),
        fmt: text("fmt"),
        client_data_json: bytes("client_data_json")
            .map_err(|e| anyhow!("client_data_json: {e}"))?,
        attestation_object: bytes("attestation_object")
            .map_err(|e| anyhow!("attestation_object: {e}"))?,
        challenge: text("challenge"),
        origins: vec![text("origin")],
        rp_id: text("rp_id"),
        policy,
        trust,
        at,
    })
}

/// The attestation signature of a packed ES256 record with x5c: (the leaf
/// certificate's uncompressed P-256 point, the signed bytes = authData ‖
/// SHA-256(clientDataJSON), the DER signature) — what a raw ES256 verify
/// of that registration checks.
pub fn attestation_signature(r: &Record) -> anyhow::Result<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    use der::Decode;
    use sha2::Digest;
    use webauthn::cbor::{MapReader, Value as Cbor};
    // Other formats sign other bytes (TPM: certInfo) or with other keys.
    if r.fmt != "packed" {
        bail!("not a packed attestation");
    }
    let mut obj = MapReader::from_bytes(&r.attestation_object, "attestationObject")?;
    let auth_data = obj.bytes("authData", "authData")?;
    let Some(Cbor::Map(stmt)) = obj.take("attStmt") else {
        bail!("no attStmt map");
    };
    let mut stmt = MapReader::new(Cbor::Map(stmt), "attStmt")?;
    if stmt.int("alg", "alg")? != webauthn::CoseAlgorithm::Es256.id() {
        bail!("not an ES256 attestation signature");
    }
    let sig = stmt.bytes("sig", "sig")?;
    let Some(Cbor::Array(x5c)) = stmt.take("x5c") else {
        bail!("no x5c: not an attestation with a certificate");
    };
    let Some(Cbor::Bytes(leaf)) = x5c.into_iter().next() else {
        bail!("empty x5c");
    };
    let cert = x509_cert::Certificate::from_der(&leaf)?;
    let point = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let mut msg = auth_data;
    msg.extend_from_slice(&sha2::Sha256::digest(&r.client_data_json));
    Ok((point, msg, sig))
}

/// Runs `keysmith bench verify`: each record's registration verified for
/// `--seconds` with the validated-path cache warm and cold, beside raw
/// ES256 on the record's attestation signature; prints rates (or JSON).
pub fn run(a: VerifyBenchArgs) -> anyhow::Result<ExitCode> {
    let ids: Vec<String> = if a.vectors.is_empty() {
        DEFAULT_VECTORS.iter().map(|s| s.to_string()).collect()
    } else {
        a.vectors.clone()
    };
    let records = load(&a.corpus, &ids)?;
    let mut rows = Vec::new();
    for r in &records {
        // Every record must pass before it is timed.
        r.verify(&r.trust)
            .map_err(|e| anyhow!("Keysmith refuses {}: {}: {e}", r.id, e.code()))?;
        let warm = r.trust.clone();
        r.verify(&warm).expect("verified once already");
        let (warm_rate, _) = rate_for(1, a.seconds, |_| {
            r.verify(&warm).expect("verified once already");
        });
        // A clone of a store starts with an empty path cache: every chain
        // is validated again, as py_webauthn and SimpleWebAuthn always do.
        let (cold_rate, _) = rate_for(1, a.seconds, |_| {
            r.verify(&r.trust.clone()).expect("verified once already");
        });
        rows.push(json!({
            "vector": r.id, "fmt": r.fmt, "at": r.at.format(&Rfc3339)?,
            "warmPerSec": warm_rate.round() as u64, "coldPerSec": cold_rate.round() as u64,
        }));
    }
    // Raw ES256: the first record with a packed x5c attestation.
    let mut raw = Value::Null;
    if let Some((r, (point, msg, sig))) = records
        .iter()
        .find_map(|r| attestation_signature(r).ok().map(|t| (r, t)))
    {
        use p256::ecdsa::signature::Verifier;
        let aws = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            &point,
        );
        aws.verify(&msg, &sig)
            .map_err(|_| anyhow!("the attestation signature of {} does not verify", r.id))?;
        let (aws_rate, _) = rate_for(1, a.seconds, |_| {
            aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
                &point,
            )
            .verify(&msg, &sig)
            .expect("verified once already");
        });
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)?;
        let parsed = p256::ecdsa::Signature::from_der(&sig)?;
        let (rc_rate, _) = rate_for(1, a.seconds, |_| {
            key.verify(&msg, &parsed).expect("verified once already");
        });
        raw = json!({
            "vector": r.id,
            "awsLcRsPerSec": aws_rate.round() as u64,
            "rustCryptoP256PerSec": rc_rate.round() as u64,
        });
    }
    let report = json!({
        "implementation": "keysmith",
        "threads": 1,
        "seconds": a.seconds,
        "registrations": rows,
        "rawEs256": raw,
    });
    if a.json {
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Keysmith verifier, one thread, {} s per figure", a.seconds);
    for row in &rows {
        println!(
            "  {:<36} cache warm {:>8}/s   cold {:>8}/s",
            row["vector"].as_str().unwrap_or_default(),
            row["warmPerSec"],
            row["coldPerSec"]
        );
    }
    if !raw.is_null() {
        println!(
            "  raw ES256 ({}): aws-lc-rs {}/s, RustCrypto p256 {}/s",
            raw["vector"].as_str().unwrap_or_default(),
            raw["awsLcRsPerSec"],
            raw["rustCryptoP256PerSec"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

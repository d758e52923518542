//! `keysmith verify registration --input FILE`: verify a WebAuthn
//! registration offline, with the same verifier the server uses.
//!
//! Exit codes: 0 accepted, 1 rejected, 2 unusable input.

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use webauthn::authdata::format_aaguid;
use webauthn::trust::certificate_subject;
use webauthn::{b64, verify_registration, RegistrationInput, RegistrationPolicy, TrustStore};

/// Verify WebAuthn responses offline.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(subcommand)]
    command: VerifyCommand,
}

#[derive(Debug, Subcommand)]
enum VerifyCommand {
    /// Verify a registration (attestation) against a challenge, origin,
    /// RP ID, policy and trust anchors given in a JSON file.
    Registration(RegistrationArgs),
}

#[derive(Debug, Args)]
struct RegistrationArgs {
    /// JSON: {"challenge","origin","rp_id","client_data_json",
    /// "attestation_object","policy"?,"verify_at"?,"trust_anchors_pem"?}
    /// with binary fields in base64url.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
}

/// The input file's shape.
#[derive(Debug, Deserialize)]
struct RegistrationFile {
    challenge: String,
    #[serde(deserialize_with = "one_or_many")]
    origin: Vec<String>,
    rp_id: String,
    client_data_json: String,
    attestation_object: String,
    #[serde(default)]
    policy: Option<RegistrationPolicy>,
    #[serde(default)]
    verify_at: Option<String>,
    #[serde(default)]
    trust_anchors_pem: Vec<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

const EXIT_REJECTED: u8 = 1;
const EXIT_UNUSABLE: u8 = 2;

/// Runs `keysmith verify …`.
pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        VerifyCommand::Registration(a) => Ok(registration(&a)),
    }
}

struct Prepared {
    file: RegistrationFile,
    client_data: Vec<u8>,
    attestation_object: Vec<u8>,
    trust: TrustStore,
    now: OffsetDateTime,
}

fn prepare(path: &PathBuf) -> anyhow::Result<Prepared> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: RegistrationFile =
        serde_json::from_str(&text).context("input is not the expected JSON")?;
    let client_data = b64::decode_lenient(&file.client_data_json)
        .map_err(|_| anyhow!("client_data_json is not base64url"))?;
    let attestation_object = b64::decode_lenient(&file.attestation_object)
        .map_err(|_| anyhow!("attestation_object is not base64url"))?;
    let mut trust = TrustStore::new();
    for pem in &file.trust_anchors_pem {
        trust
            .add_pem(pem)
            .context("a trust anchor is not a PEM certificate")?;
    }
    let now = match &file.verify_at {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).context("verify_at is not RFC 3339")?,
        None => OffsetDateTime::now_utc(),
    };
    Ok(Prepared {
        file,
        client_data,
        attestation_object,
        trust,
        now,
    })
}

fn registration(args: &RegistrationArgs) -> ExitCode {
    let p = match prepare(&args.input) {
        Ok(p) => p,
        Err(err) => {
            let message = super::one_line(&err);
            if args.json {
                println!("{}", json!({ "verdict": "unusable", "message": message }));
            } else {
                eprintln!("error: {message}");
            }
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    let policy = p.file.policy.clone().unwrap_or_default();
    let input = RegistrationInput {
        client_data_json: &p.client_data,
        attestation_object: &p.attestation_object,
        expected_challenge: &p.file.challenge,
        expected_origins: &p.file.origin,
        rp_id: &p.file.rp_id,
    };
    match verify_registration(&input, &policy, &p.trust, p.now) {
        Ok(r) => {
            let path: Vec<String> = r
                .trust_path
                .iter()
                .map(|c| certificate_subject(c).unwrap_or_else(|| "<unparsable>".into()))
                .collect();
            if args.json {
                let out = json!({
                    "verdict": "accepted",
                    "fmt": r.fmt,
                    "aaguid": format_aaguid(&r.aaguid),
                    "attestationType": r.attestation_type.as_str(),
                    "trusted": r.trusted,
                    "trustAnchor": r.trust_anchor_subject,
                    "untrustedReason": r.untrusted_reason,
                    "trustPath": path,
                    "credentialId": b64::encode(&r.credential_id),
                    "algorithm": r.public_key.alg(),
                    "signCount": r.sign_count,
                    "userVerified": r.flags.user_verified(),
                    "backupEligible": r.backup_eligible,
                    "backedUp": r.backed_up,
                    "credProtect": r.cred_protect,
                });
                println!("{out:#}");
            } else {
                println!("verdict:          accepted");
                println!("fmt:              {}", r.fmt);
                println!("aaguid:           {}", format_aaguid(&r.aaguid));
                println!("attestation type: {}", r.attestation_type);
                match (&r.trust_anchor_subject, &r.untrusted_reason) {
                    (Some(anchor), _) => println!("trusted:          yes, anchor {anchor}"),
                    (None, reason) => println!(
                        "trusted:          no ({})",
                        reason.as_deref().unwrap_or("no trust path")
                    ),
                }
                println!("credential id:    {}", b64::encode(&r.credential_id));
                if !path.is_empty() {
                    println!("trust path:");
                    for s in &path {
                        println!("  {s}");
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if args.json {
                println!(
                    "{:#}",
                    json!({ "verdict": "rejected", "check": e.code(), "message": e.to_string() })
                );
            } else {
                println!("verdict:      rejected");
                println!("failed check: {}", e.code());
                println!("reason:       {e}");
            }
            ExitCode::from(EXIT_REJECTED)
        }
    }
}

//! `keysmith deprovision`: remove users' passkeys from the directory, and
//! optionally from a key in hand.

use super::directory_args::DirectoryArgs;
use super::secret_input::{confirm, PinSource};
use anyhow::bail;
use clap::Args;
use ctap::device::DeviceSpec;
use provision::deprovision::{self, DeprovisionAction, DeprovisionStatus, Selector};
use provision::pin::Pin;
use provision::plan::UserSource;
use std::path::PathBuf;
use std::process::ExitCode;

/// Remove passkeys from users (a lost key, a leaver, a batch).
///
/// Examples:
///   keysmith deprovision --server … --tenant … --user alice@contoso.com --all --dry-run
///   keysmith deprovision … --csv leavers.csv --aaguid cb69481e-8ff7-4039-93ec-0a2729a154a8 --yes
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DeprovisionArgs {
    #[command(flatten)]
    directory: DirectoryArgs,
    /// The user whose passkeys go.
    #[arg(long, conflicts_with = "csv")]
    user: Option<String>,
    /// CSV of users (userPrincipalName column).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Every passkey of the user(s).
    #[arg(long, conflicts_with_all = ["method", "aaguid"])]
    all: bool,
    /// One passkey by its method id.
    #[arg(long, value_name = "ID", conflicts_with = "aaguid")]
    method: Option<String>,
    /// The passkeys of one key model.
    #[arg(long, value_name = "UUID")]
    aaguid: Option<String>,
    /// Show what would be removed; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also delete the credentials from this key (needs its PIN).
    #[arg(long, value_name = "SPEC")]
    from_key: Option<String>,
    /// The key's PIN, first line of this file (with --from-key).
    #[arg(long, value_name = "FILE")]
    pin_file: Option<PathBuf>,
    /// Read the key's PIN from stdin (with --from-key).
    #[arg(long)]
    pin_stdin: bool,
    /// Don't ask before removing more than 5 passkeys.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Print the actions as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: DeprovisionArgs) -> anyhow::Result<ExitCode> {
    let selector = match (&args.method, &args.aaguid, args.all) {
        (Some(m), _, _) => Selector::Method(m.clone()),
        (_, Some(a), _) => Selector::Aaguid(a.to_ascii_lowercase()),
        (_, _, true) => Selector::All,
        _ => bail!("say which passkeys: --all, --method ID or --aaguid UUID"),
    };
    let source = match (&args.user, &args.csv) {
        (Some(u), _) => UserSource::One {
            user: u.clone(),
            display_name: None,
        },
        (_, Some(csv)) => UserSource::Csv(csv.clone()),
        _ => bail!("no users: give --user UPN or --csv FILE"),
    };
    let directory = args.directory.connect()?;
    let users: Vec<String> = source
        .resolve(&directory)?
        .users
        .into_iter()
        .map(|j| j.user)
        .collect();
    let mut planned = Vec::new();
    for u in &users {
        planned.push((u.clone(), deprovision::plan(&directory, u, &selector)?));
    }
    let count: usize = planned.iter().map(|(_, m)| m.len()).sum();
    let mut actions: Vec<DeprovisionAction> = Vec::new();
    if args.dry_run || count == 0 {
        for (u, methods) in &planned {
            for m in methods {
                actions.push(DeprovisionAction {
                    user_principal_name: u.clone(),
                    method_id: Some(m.id.clone()),
                    display_name: m.display_name.clone(),
                    aaguid: m.aa_guid.clone(),
                    status: DeprovisionStatus::WouldDelete,
                    removed_from_key: false,
                    error: None,
                });
            }
        }
    } else {
        if count > 5 {
            confirm(
                &format!(
                    "This removes {count} passkeys from {} user(s).",
                    users.len()
                ),
                args.yes,
            )?;
        }
        let mut key = match &args.from_key {
            Some(spec) => {
                let spec: DeviceSpec = spec.parse()?;
                let client = ctap::Ctap2Client::open(ctap::device::open(&spec)?)?;
                let pin = PinSource {
                    file: args.pin_file.clone(),
                    stdin: args.pin_stdin,
                }
                .read("key PIN")?;
                Some((client, Pin::new(pin.as_str())))
            }
            None => None,
        };
        for (u, methods) in &planned {
            let key_ref = key.as_mut().map(|(c, p)| (c, &*p));
            actions.extend(deprovision::execute(&directory, u, methods, key_ref));
        }
    }
    let failed = actions
        .iter()
        .filter(|a| a.status == DeprovisionStatus::Failed)
        .count();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&actions)?);
    } else {
        for a in &actions {
            let verb = match a.status {
                DeprovisionStatus::WouldDelete => "would remove",
                DeprovisionStatus::Deleted => "removed",
                DeprovisionStatus::Failed => "FAILED to remove",
            };
            println!(
                "{verb} {} passkey {} ({}){}{}",
                a.user_principal_name,
                a.method_id.as_deref().unwrap_or("?"),
                a.display_name.as_deref().unwrap_or(""),
                if a.removed_from_key {
                    ", also from the key"
                } else {
                    ""
                },
                a.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
        println!(
            "{} passkey(s) {}{}",
            actions.len(),
            if args.dry_run {
                "would be removed (dry run)"
            } else {
                "handled"
            },
            if failed > 0 {
                format!(", {failed} failed")
            } else {
                String::new()
            }
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

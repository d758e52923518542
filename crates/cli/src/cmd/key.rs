//! `keysmith key …`: manage a security key (like `ykman fido`): info, PIN,
//! discoverable credentials, CTAP 2.1 configuration, reset, wink.

use super::secret_input::{confirm, PinSource};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use ctap::client::{PinUvAuthToken, StoredCredential};
use ctap::cmd::config::SetMinPinLengthParams;
use ctap::device::DeviceSpec;
use ctap::hid::KeepaliveStatus;
use ctap::pin::Permissions;
use ctap::{Ctap2Client, StatusCode};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Manage a FIDO2 security key: info, PIN, credentials, configuration.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The key: `usb` (the only attached key), `usb:PATH`, a hidraw path,
    /// or `udp:HOST:PORT` for a virtual key.
    #[arg(long, global = true, env = "KEYSMITH_DEVICE", default_value = "usb")]
    device: String,

    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, Clone, Args)]
struct PinArgs {
    /// Read the key's PIN from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pin_file: Option<PathBuf>,
    /// Read the key's PIN from the first line of stdin.
    #[arg(long)]
    pin_stdin: bool,
}

impl PinArgs {
    fn source(&self) -> PinSource {
        PinSource {
            file: self.pin_file.clone(),
            stdin: self.pin_stdin,
        }
    }
}

#[derive(Debug, Clone, Args)]
struct NewPinArgs {
    /// Read the new PIN from the first line of this file.
    #[arg(long, value_name = "FILE")]
    new_pin_file: Option<PathBuf>,
    /// Read the new PIN from stdin (after the current PIN, if that is read
    /// from stdin too).
    #[arg(long)]
    new_pin_stdin: bool,
}

impl NewPinArgs {
    fn source(&self) -> PinSource {
        PinSource {
            file: self.new_pin_file.clone(),
            stdin: self.new_pin_stdin,
        }
    }
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// List the FIDO security keys attached over USB.
    List,
    /// Show what the key reports about itself (getInfo, PIN state).
    Info,
    /// Set, change or inspect the PIN.
    #[command(subcommand)]
    Pin(PinCommand),
    /// List or delete discoverable credentials (passkeys) on the key.
    #[command(subcommand)]
    Creds(CredsCommand),
    /// CTAP 2.1 configuration: PIN policy, always-UV, enterprise attestation.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Factory-reset the key: deletes every credential and the PIN. Keys
    /// allow this only within seconds of being inserted, with a touch.
    Reset {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Make the key blink so you can tell which one it is.
    Wink,
}

#[derive(Debug, Subcommand)]
enum PinCommand {
    /// Set the first PIN of a key that has none.
    Set(NewPinArgs),
    /// Change the PIN (also satisfies a forced PIN change).
    Change {
        #[command(flatten)]
        pin: PinArgs,
        #[command(flatten)]
        new_pin: NewPinArgs,
    },
    /// Show how many PIN attempts are left.
    Retries,
}

#[derive(Debug, Subcommand)]
enum CredsCommand {
    /// List discoverable credentials (needs the PIN).
    List(PinArgs),
    /// Delete one discoverable credential by its id (base64url, or a unique
    /// prefix of it as `creds list` shows).
    Delete {
        credential_id: String,
        #[command(flatten)]
        pin: PinArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Require a PIN change before the key can be used again.
    ForcePinChange(PinArgs),
    /// Raise the minimum PIN length (it can only grow until a reset).
    MinPinLength {
        /// New minimum length in characters (4-63).
        length: u64,
        /// RP IDs allowed to read the minimum length (minPinLength
        /// extension); repeatable.
        #[arg(long = "rp-id")]
        rp_ids: Vec<String>,
        /// Also force a PIN change.
        #[arg(long)]
        force_change: bool,
        #[command(flatten)]
        pin: PinArgs,
    },
    /// Toggle always-UV (the PIN is then required for every credential use).
    AlwaysUv(PinArgs),
    /// Enable enterprise attestation (stays on until reset).
    EnterpriseAttestation(PinArgs),
}

fn open(device: &str) -> anyhow::Result<Ctap2Client> {
    let spec: DeviceSpec = device.parse()?;
    let transport = ctap::device::open(&spec)?;
    let mut client = Ctap2Client::open(transport)
        .with_context(|| format!("cannot talk to the key at {spec}"))?;
    let told = Arc::new(AtomicBool::new(false));
    client.set_keepalive_handler(move |status| {
        if status == KeepaliveStatus::UpNeeded && !told.swap(true, Ordering::SeqCst) {
            eprintln!("Touch your security key…");
        }
    });
    Ok(client)
}

/// Turns a key error into a sentence with advice.
fn explain(err: ctap::Error) -> anyhow::Error {
    let advice = match err.status() {
        Some(StatusCode::PinInvalid) => {
            " (check the PIN; `keysmith key pin retries` shows attempts left)"
        }
        Some(StatusCode::PinAuthBlocked) => {
            " (remove and re-insert the key, or restart the virtual key)"
        }
        Some(StatusCode::PinPolicyViolation) => {
            " (the key may require a PIN change first: `keysmith key pin change`)"
        }
        Some(StatusCode::NotAllowed) => {
            " (re-insert the key and run the command within 10 seconds)"
        }
        _ => "",
    };
    anyhow::anyhow!("{err}{advice}")
}

fn token(
    client: &mut Ctap2Client,
    pin: &PinArgs,
    permissions: Permissions,
) -> anyhow::Result<PinUvAuthToken> {
    let pin = pin.source().read("PIN of the key")?;
    client
        .get_pin_token(&pin, permissions, None)
        .map_err(explain)
}

/// A token for config commands, or none when the key has no PIN (CTAP 2.1
/// allows configuring an unprotected key).
fn config_token(client: &mut Ctap2Client, pin: &PinArgs) -> anyhow::Result<Option<PinUvAuthToken>> {
    if client.info().pin_is_set() == Some(true) {
        Ok(Some(token(client, pin, Permissions::AUTHENTICATOR_CONFIG)?))
    } else {
        Ok(None)
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

pub fn run(args: KeyArgs) -> anyhow::Result<ExitCode> {
    let json = args.json;
    if let KeyCommand::List = args.command {
        return list(json);
    }
    let mut client = open(&args.device)?;
    match args.command {
        KeyCommand::List => unreachable!("handled above"),
        KeyCommand::Info => info(&mut client, json)?,
        KeyCommand::Pin(PinCommand::Set(new_pin)) => {
            if client.info().pin_is_set() == Some(true) {
                bail!("the key already has a PIN; use `keysmith key pin change`");
            }
            let pin = new_pin.source().read_new("New PIN")?;
            client.set_pin(&pin).map_err(explain)?;
            report(json, json!({"pin": "set"}), "PIN set.");
        }
        KeyCommand::Pin(PinCommand::Change { pin, new_pin }) => {
            let current = pin.source().read("Current PIN")?;
            let new = new_pin.source().read_new("New PIN")?;
            client.change_pin(&current, &new).map_err(explain)?;
            report(json, json!({"pin": "changed"}), "PIN changed.");
        }
        KeyCommand::Pin(PinCommand::Retries) => {
            let r = client.pin_retries().map_err(explain)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "{} PIN attempts left{}",
                    r.retries,
                    if r.power_cycle_required {
                        "; re-insert the key before the next attempt"
                    } else {
                        ""
                    }
                );
            }
        }
        KeyCommand::Creds(CredsCommand::List(pin)) => {
            let t = token(&mut client, &pin, Permissions::CREDENTIAL_MANAGEMENT)?;
            let (count, remaining) = client.credentials_metadata(&t).map_err(explain)?;
            let creds = client.list_credentials(&t).map_err(explain)?;
            print_creds(&creds, count, remaining, json)?;
        }
        KeyCommand::Creds(CredsCommand::Delete {
            credential_id,
            pin,
            yes,
        }) => {
            let t = token(&mut client, &pin, Permissions::CREDENTIAL_MANAGEMENT)?;
            let creds = client.list_credentials(&t).map_err(explain)?;
            let matches: Vec<&StoredCredential> = creds
                .iter()
                .filter(|c| {
                    webauthn::b64::encode(&c.credential_id).starts_with(credential_id.trim())
                })
                .collect();
            let target = match matches.as_slice() {
                [] => bail!("no discoverable credential on the key has id {credential_id}"),
                [one] => *one,
                _ => bail!(
                    "{} credentials start with {credential_id}; give more of the id",
                    matches.len()
                ),
            };
            confirm(
                &format!(
                    "Delete the credential of {} at {}?",
                    target.user.name.as_deref().unwrap_or("(unnamed user)"),
                    target.rp.id
                ),
                yes || json,
            )?;
            client
                .delete_credential(&t, &target.credential_id)
                .map_err(explain)?;
            let id = webauthn::b64::encode(&target.credential_id);
            report(
                json,
                json!({"deleted": id}),
                &format!("Deleted credential {id}."),
            );
        }
        KeyCommand::Config(cmd) => config(&mut client, cmd, json)?,
        KeyCommand::Reset { yes } => {
            confirm(
                "Reset deletes every credential on the key and its PIN.",
                yes,
            )?;
            client.reset().map_err(explain)?;
            report(json, json!({"reset": true}), "The key is reset.");
        }
        KeyCommand::Wink => {
            client.wink().map_err(explain)?;
            report(json, json!({"wink": true}), "Winked.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn report(json: bool, value: serde_json::Value, text: &str) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

fn config(client: &mut Ctap2Client, cmd: ConfigCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::ForcePinChange(pin) => {
            if client.info().pin_is_set() != Some(true) {
                bail!("the key has no PIN to change; set one with `keysmith key pin set`");
            }
            let t = config_token(client, &pin)?;
            let params = SetMinPinLengthParams {
                force_change_pin: Some(true),
                ..Default::default()
            };
            client
                .set_min_pin_length(t.as_ref(), &params)
                .map_err(explain)?;
            report(
                json,
                json!({"forcePinChange": true}),
                "The key will require a PIN change before its next use.",
            );
        }
        ConfigCommand::MinPinLength {
            length,
            rp_ids,
            force_change,
            pin,
        } => {
            if !(4..=63).contains(&length) {
                bail!("the minimum PIN length must be between 4 and 63");
            }
            let t = config_token(client, &pin)?;
            let params = SetMinPinLengthParams {
                new_min_pin_length: Some(length),
                min_pin_length_rpids: (!rp_ids.is_empty()).then_some(rp_ids),
                force_change_pin: force_change.then_some(true),
            };
            client
                .set_min_pin_length(t.as_ref(), &params)
                .map_err(explain)?;
            let forced = client.info().force_pin_change == Some(true);
            report(
                json,
                json!({"minPinLength": length, "forcePinChange": forced}),
                &format!(
                    "Minimum PIN length is now {length}.{}",
                    if forced {
                        " A PIN change is required before the next use."
                    } else {
                        ""
                    }
                ),
            );
        }
        ConfigCommand::AlwaysUv(pin) => {
            let t = config_token(client, &pin)?;
            let on = client.toggle_always_uv(t.as_ref()).map_err(explain)?;
            report(
                json,
                json!({"alwaysUv": on}),
                &format!("Always-UV is now {}.", if on { "on" } else { "off" }),
            );
        }
        ConfigCommand::EnterpriseAttestation(pin) => {
            let t = config_token(client, &pin)?;
            client
                .enable_enterprise_attestation(t.as_ref())
                .map_err(explain)?;
            report(
                json,
                json!({"enterpriseAttestation": true}),
                "Enterprise attestation is enabled.",
            );
        }
    }
    Ok(())
}

fn list(json: bool) -> anyhow::Result<ExitCode> {
    #[cfg(feature = "usb")]
    {
        let keys = ctap::transport::usb::enumerate()?;
        if json {
            println!("{}", serde_json::to_string(&keys)?);
        } else if keys.is_empty() {
            println!("No FIDO security keys on USB. (A virtual key is reached with --device udp:HOST:PORT.)");
        } else {
            for k in keys {
                println!(
                    "usb:{}  {:04x}:{:04x}  {} {}{}",
                    k.path,
                    k.vendor_id,
                    k.product_id,
                    k.manufacturer.as_deref().unwrap_or(""),
                    k.product.as_deref().unwrap_or(""),
                    k.serial_number
                        .map(|s| format!("  serial {s}"))
                        .unwrap_or_default()
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "usb"))]
    {
        let _ = json;
        bail!("this build has no USB support (built without the `usb` feature)")
    }
}

fn info(client: &mut Ctap2Client, json: bool) -> anyhow::Result<()> {
    let info = client.info().clone();
    let retries = match info.pin_is_set() {
        Some(true) => client.pin_retries().ok(),
        _ => None,
    };
    let (major, minor, build) = client.device_version();
    if json {
        println!(
            "{}",
            json!({
                "device": client.describe(),
                "deviceVersion": format!("{major}.{minor}.{build}"),
                "info": info,
                "pinRetries": retries.map(|r| r.retries),
                "powerCycleRequired": retries.map(|r| r.power_cycle_required),
            })
        );
        return Ok(());
    }
    let opt = |name: &str| info.option(name);
    let onoff = |v: Option<bool>| match v {
        Some(true) => "on",
        Some(false) => "off",
        None => "not supported",
    };
    println!("Device:                   {}", client.describe());
    println!(
        "AAGUID:                   {}",
        webauthn::authdata::format_aaguid(&info.aaguid)
    );
    println!("CTAP versions:            {}", info.versions.join(", "));
    println!(
        "Firmware:                 {}",
        info.firmware_version
            .map(|v| format!("{v:#x}"))
            .unwrap_or_else(|| format!("{major}.{minor}.{build}"))
    );
    let pin = match (info.pin_is_set(), retries) {
        (Some(true), Some(r)) => format!(
            "set, {} attempts left{}",
            r.retries,
            if r.power_cycle_required {
                " (re-insert the key first)"
            } else {
                ""
            }
        ),
        (Some(true), None) => "set".to_owned(),
        (Some(false), _) => "not set".to_owned(),
        (None, _) => "not supported".to_owned(),
    };
    println!("PIN:                      {pin}");
    println!(
        "Minimum PIN length:       {}",
        info.effective_min_pin_length()
    );
    println!(
        "PIN change required:      {}",
        yes_no(info.force_pin_change == Some(true))
    );
    println!("Always UV:                {}", onoff(opt("alwaysUv")));
    println!("Enterprise attestation:   {}", onoff(opt("ep")));
    println!("Credential management:    {}", onoff(opt("credMgmt")));
    if let Some(n) = info.remaining_discoverable_credentials {
        println!("Free passkey slots:       {n}");
    }
    println!("Extensions:               {}", info.extensions.join(", "));
    println!(
        "Algorithms:               {}",
        info.algorithms
            .iter()
            .map(|a| webauthn::cose::CoseAlgorithm::from_id(a.alg)
                .map(|a| a.name().to_owned())
                .unwrap_or(a.alg.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "PIN/UV auth protocols:    {}",
        info.pin_uv_auth_protocols
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("Transports:               {}", info.transports.join(", "));
    Ok(())
}

fn print_creds(
    creds: &[StoredCredential],
    count: u64,
    remaining: u64,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            json!({"credentials": creds, "existing": count, "remaining": remaining})
        );
        return Ok(());
    }
    if creds.is_empty() {
        println!("No discoverable credentials ({remaining} free slots).");
        return Ok(());
    }
    println!(
        "{:<28} {:<30} {:<24} {:<5} CREDENTIAL ID",
        "RP ID", "USER", "DISPLAY NAME", "PROT"
    );
    for c in creds {
        println!(
            "{:<28} {:<30} {:<24} {:<5} {}",
            c.rp.id,
            c.user.name.as_deref().unwrap_or("-"),
            c.user.display_name.as_deref().unwrap_or("-"),
            c.cred_protect
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            webauthn::b64::encode(&c.credential_id)
        );
    }
    println!("{count} stored, {remaining} free slots.");
    Ok(())
}

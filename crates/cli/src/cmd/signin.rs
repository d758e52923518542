//! `keysmith signin`: sign in with a provisioned key against a Keysmith
//! server's end-user sign-in API — proof that the key works.

use super::secret_input::PinSource;
use anyhow::Context;
use clap::Args;
use ctap::device::DeviceSpec;
use provision::pin::Pin;
use std::path::PathBuf;
use std::process::ExitCode;

/// Sign in with a passkey on a key (username-first with --user, else
/// usernameless), as the end user would; prints who signed in.
#[derive(Debug, Args)]
pub struct SignInArgs {
    /// The Keysmith server, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "KEYSMITH_SERVER", value_name = "URL")]
    server: String,
    /// Tenant name.
    #[arg(long, env = "KEYSMITH_TENANT")]
    tenant: String,
    /// Sign in as this user (username-first); omit for a discoverable
    /// (usernameless) sign-in.
    #[arg(long)]
    user: Option<String>,
    /// The key: usb, usb:PATH or udp:HOST:PORT.
    #[arg(long, env = "KEYSMITH_DEVICE", default_value = "usb")]
    device: String,
    /// The key's PIN, first line of this file.
    #[arg(long, value_name = "FILE")]
    pin_file: Option<PathBuf>,
    /// Read the key's PIN from stdin.
    #[arg(long)]
    pin_stdin: bool,
    /// Sign in without a PIN (user presence only).
    #[arg(long, conflicts_with_all = ["pin_file", "pin_stdin"])]
    no_pin: bool,
    /// WebAuthn origin to claim (default https://{rpId}).
    #[arg(long)]
    origin: Option<String>,
    /// Print the result (user, method, token) as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: SignInArgs) -> anyhow::Result<ExitCode> {
    let spec: DeviceSpec = args.device.parse()?;
    let mut client = ctap::Ctap2Client::open(ctap::device::open(&spec)?)
        .with_context(|| format!("opening {spec}"))?;
    let pin = if args.no_pin {
        None
    } else {
        let source = PinSource {
            file: args.pin_file.clone(),
            stdin: args.pin_stdin,
        };
        Some(Pin::new(source.read("key PIN")?.as_str()))
    };
    let result = provision::signin::sign_in(
        &args.server,
        &args.tenant,
        args.user.as_deref(),
        &mut client,
        pin.as_ref(),
        args.origin.as_deref(),
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        let upn = result.user["userPrincipalName"].as_str().unwrap_or("?");
        let key = result.method["displayName"]
            .as_str()
            .or_else(|| result.method["id"].as_str())
            .unwrap_or("?");
        println!("signed in as {upn} with passkey \"{key}\"");
    }
    Ok(ExitCode::SUCCESS)
}

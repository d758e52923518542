//! `keysmith virtual-key`: serve a software CTAP 2.1 security key over UDP.

use anyhow::{bail, Context};
use authenticator::attestation::AttestationMode;
use authenticator::ctap2::{AuthenticatorConfig, DEFAULT_AAGUID, DEFAULT_CAPACITY};
use authenticator::{Authenticator, HidDevice, PresenceMode, PresenceSettings, StateFile};
use std::io::Write;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Run a software CTAP 2.1 security key ("virtual key") that speaks
/// CTAPHID over UDP: each datagram is one 64-byte HID report, and replies go
/// to the sender. Point `--device udp:HOST:PORT` of other commands at it.
///
/// The key's credentials, PIN and settings persist in the state file
/// (created 0600 on first start); restarting the process is a power cycle.
#[derive(Debug, clap::Args)]
pub struct VirtualKeyArgs {
    /// Where to listen, `udp:HOST:PORT` (port 0 picks a free port; the
    /// chosen address is printed on stdout).
    #[arg(long, default_value = "udp:127.0.0.1:8111")]
    listen: String,

    /// The key's state file (credentials, PIN, settings).
    #[arg(long, env = "KEYSMITH_VIRTUAL_KEY_STATE")]
    state: PathBuf,

    /// Model (AAGUID) of a new key; an existing state keeps its model.
    #[arg(long)]
    aaguid: Option<uuid::Uuid>,

    /// Discoverable credential slots (KEY_STORE_FULL beyond this).
    #[arg(long, default_value_t = DEFAULT_CAPACITY)]
    capacity: usize,

    /// What the simulated user does when the key asks for a touch.
    #[arg(long, default_value = "approve", value_parser = ["approve", "deny", "timeout"])]
    presence: String,

    /// With `--presence timeout`: seconds before USER_ACTION_TIMEOUT.
    #[arg(long, default_value_t = 30.0)]
    presence_timeout: f64,

    /// Milliseconds the simulated touch takes (the host sees UPNEEDED
    /// keepalives meanwhile).
    #[arg(long, default_value_t = 0)]
    touch_delay_ms: u64,

    /// Attestation of new credentials: packed with the model's batch
    /// certificate, packed self attestation, or none.
    #[arg(long, default_value = "batch", value_parser = ["batch", "self", "none"])]
    attestation: String,

    /// Directory of per-model attestation CAs shared by keys of one model
    /// (like a production batch). Without it each key gets its own CA.
    #[arg(long)]
    model_dir: Option<PathBuf>,

    /// Seconds after start during which reset is allowed (real keys allow
    /// about 10); 0 allows it at any time.
    #[arg(long, default_value_t = 10)]
    reset_window: u64,

    /// RP IDs for vendor-facilitated enterprise attestation (repeatable).
    #[arg(long = "ep-rp-id")]
    ep_rp_ids: Vec<String>,

    /// Print the model's attestation root certificate (PEM) and exit; give
    /// it to a relying party as a trust anchor.
    #[arg(long)]
    print_attestation_root: bool,
}

pub fn run(args: VirtualKeyArgs) -> anyhow::Result<ExitCode> {
    let Some(bind) = args.listen.strip_prefix("udp:") else {
        bail!("--listen {}: expected udp:HOST:PORT", args.listen);
    };
    if args.capacity > 10_000 {
        bail!("--capacity must be between 0 and 10000");
    }
    if !(args.presence_timeout.is_finite() && args.presence_timeout >= 0.0) {
        bail!("--presence-timeout must be a non-negative number of seconds");
    }
    let config = AuthenticatorConfig {
        aaguid: args.aaguid.unwrap_or(DEFAULT_AAGUID),
        capacity: args.capacity,
        attestation: match args.attestation.as_str() {
            "self" => AttestationMode::SelfAttestation,
            "none" => AttestationMode::None,
            _ => AttestationMode::Batch,
        },
        model_dir: args.model_dir.clone(),
        reset_window: (args.reset_window > 0).then(|| Duration::from_secs(args.reset_window)),
        enterprise_rp_ids: args.ep_rp_ids.clone(),
        ..AuthenticatorConfig::default()
    };
    let key = Authenticator::open(config, Some(StateFile::new(&args.state)))?;
    if args.print_attestation_root {
        print!("{}", key.attestation_root_pem());
        return Ok(ExitCode::SUCCESS);
    }
    let presence = PresenceSettings {
        mode: args
            .presence
            .parse::<PresenceMode>()
            .map_err(anyhow::Error::msg)?,
        touch_delay: Duration::from_millis(args.touch_delay_ms),
        timeout: Duration::from_secs_f64(args.presence_timeout),
    };
    let socket = UdpSocket::bind(bind).with_context(|| format!("cannot listen on udp:{bind}"))?;
    let addr = socket.local_addr()?;
    eprintln!(
        "virtual key (AAGUID {}, serial {}) listening on udp:{addr}; state in {}",
        key.aaguid(),
        key.serial(),
        args.state.display()
    );
    println!("udp:{addr}");
    std::io::stdout().flush()?;
    let mut device = HidDevice::new(key, presence);
    authenticator::serve::serve_udp(&socket, &mut device, &AtomicBool::new(false))?;
    Ok(ExitCode::SUCCESS)
}

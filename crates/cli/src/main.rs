//! `keysmith`: the one binary. It parses arguments, wires the library crates
//! together, prints, and maps errors to exit codes — nothing more.

#![forbid(unsafe_code)]

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Provision FIDO2 security keys (passkeys) on behalf of users, run the
/// identity service they register with, and manage keys.
#[derive(Debug, Parser)]
#[command(name = "keysmith", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a software CTAP 2.1 security key that speaks CTAPHID over UDP.
    VirtualKey(cmd::virtual_key::VirtualKeyArgs),
    /// Manage a FIDO2 security key: info, PIN, credentials, configuration.
    Key(cmd::key::KeyArgs),
    /// Provision security keys for users: PIN, passkey, registration.
    Provision(Box<cmd::provision::ProvisionArgs>),
    /// Remove users' passkeys from the directory (and from a key).
    Deprovision(Box<cmd::deprovision::DeprovisionArgs>),
    /// Sign in with a provisioned key (proves that it works).
    Signin(cmd::signin::SignInArgs),
    /// Run the identity service (Graph-shaped FIDO2 API, tokens, sign-in).
    Serve(cmd::serve::ServeArgs),
    /// Administer the identity service's database (tenants, apps, users).
    Admin(cmd::admin::AdminArgs),
    /// Measure throughput (server: verify, registration, sign-in).
    Bench(bench::BenchArgs),
    /// Verify WebAuthn responses offline (attestation, trust path, policy).
    Verify(cmd::verify::VerifyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::VirtualKey(args) => cmd::virtual_key::run(args),
        Command::Key(args) => cmd::key::run(args),
        Command::Provision(args) => cmd::provision::run(*args),
        Command::Deprovision(args) => cmd::deprovision::run(*args),
        Command::Signin(args) => cmd::signin::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Admin(args) => cmd::admin::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Verify(args) => cmd::verify::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", cmd::one_line(&err));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYSMITH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

//! The provisioning workflow as a library: ask a directory (Keysmith's own
//! server or Microsoft Graph) for WebAuthn creation options, create the
//! credential on a security key over CTAP 2.1 (setting a PIN and PIN policy
//! first), and register it for the user — for one user or a bulk run over
//! several keys at once, with a crash-safe journal.
//!
//! It must never log or print a PIN, and never register two credentials for
//! one user in one run. Terminal I/O belongs to the CLI: progress reaches the
//! caller through [`runner::RunObserver`].

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod deprovision;
pub mod error;
pub mod events;
pub mod journal;
pub mod key;
pub mod pin;
pub mod plan;
pub mod preflight;
pub mod results;
pub mod runner;
pub mod signin;
pub mod target;
pub mod users;

pub use error::{Error, Result};

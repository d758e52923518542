//! CTAP 2.1 host library for Keysmith.
//!
//! Layers, bottom up: [`transport`] moves 64-byte reports (USB HID, UDP,
//! in-process); [`hid`] frames CTAPHID messages on a channel; [`cmd`] holds
//! every CTAP2 request and response as a typed message with one CBOR codec
//! (shared with the virtual key); [`pin`] implements PIN/UV auth protocols
//! one and two; [`client`] is a session with one key, and each sub-API's
//! verbs (set a PIN, list credentials, configure) sit beside its codec in
//! [`cmd`].
//!
//! This crate must never log or print a PIN, a PIN/UV auth token or a shared
//! secret, and never build CBOR maps by hand outside [`cmd`].

#![warn(missing_docs)]
#![forbid(unsafe_code)]

#[macro_use]
mod wire;

pub mod client;
pub mod cmd;
pub mod device;
pub mod error;
pub mod hid;
pub mod pin;
pub mod status;
pub mod transport;

pub use client::Ctap2Client;
pub use error::{Error, Result};
pub use status::StatusCode;

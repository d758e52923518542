//! WebAuthn data model and verification for Keysmith.
//!
//! This crate holds the bytes-level vocabulary every other Keysmith crate
//! shares — base64url, CTAP2 canonical CBOR, COSE keys, authenticator data,
//! client data — and the relying-party side verification of registrations
//! (attestation statements, trust paths) and assertions.
//!
//! It must never perform I/O, read a clock on its own (callers pass the time),
//! or implement a cryptographic primitive: signatures and hashes come from the
//! RustCrypto crates.

#![forbid(unsafe_code)]

pub mod authdata;
pub mod b64;
pub mod cbor;
pub mod client_data;
pub mod cose;
pub mod graph;

pub use authdata::{AttestedCredentialData, AuthenticatorData, Flags};
pub use client_data::CollectedClientData;
pub use cose::{CoseAlgorithm, CoseKey};

//! WebAuthn data model and verification for Keysmith.
//!
//! This crate holds the bytes-level vocabulary every other Keysmith crate
//! shares — base64url, CTAP2 canonical CBOR, COSE keys, authenticator data,
//! client data — and the relying-party side verification of registrations
//! (attestation statements, trust paths) and assertions.
//!
//! It must never perform I/O, read a clock on its own (callers pass the time),
//! or implement a cryptographic primitive: signatures are verified with
//! aws-lc-rs (ECDSA, RSA) and ed25519-dalek (EdDSA, for its strict checks),
//! hashes and certificates come from the RustCrypto crates. Every public
//! item is documented (`missing_docs`).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod attestation;
pub mod authdata;
pub mod b64;
pub mod cbor;
pub mod client_data;
pub mod cose;
pub mod error;
pub mod graph;
mod jws;
pub mod mds;
#[cfg(feature = "openapi")]
mod openapi_schemas;
pub mod policy;
pub mod signin;
#[cfg(test)]
mod testutil;
mod tlv;
pub mod trust;
pub mod verify;

pub use attestation::AttestationType;
pub use authdata::{AttestedCredentialData, AuthenticatorData, Flags};
pub use client_data::CollectedClientData;
pub use cose::{CoseAlgorithm, CoseKey};
pub use error::VerifyError;
pub use trust::{TrustAnchor, TrustStore};
pub use verify::{
    verify_assertion, verify_registration, AssertionInput, AssertionPolicy, RegistrationInput,
    RegistrationPolicy, VerifiedAssertion, VerifiedRegistration,
};

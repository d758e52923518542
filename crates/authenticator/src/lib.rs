//! Keysmith's virtual key: a software CTAP 2.1 authenticator.
//!
//! [`ctap2::Authenticator`] implements the CTAP2 commands over persistent
//! state ([`state`]) with real keys ([`credential`]) and real X.509
//! attestation ([`attestation`]); [`hid::HidDevice`] puts CTAPHID around
//! it, and [`serve`] carries it over UDP or in-process transports.
//!
//! It exists to test everything else without hardware, so it follows the
//! spec byte for byte. It must never crash on malformed input (it answers
//! with CTAP or CTAPHID errors), never log secrets, and always write its
//! state file with mode 0600.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod attestation;
pub mod credential;
pub mod ctap2;
pub mod fsutil;
pub mod hid;
pub mod presence;
pub mod serve;
pub mod state;

pub use attestation::AttestationMode;
pub use ctap2::{Authenticator, AuthenticatorConfig};
pub use hid::{HidDevice, PresenceSettings, ReportSink};
pub use presence::PresenceMode;
pub use state::StateFile;

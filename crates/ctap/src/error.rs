//! The crate's one error type.

use crate::hid::HidError;
use crate::status::StatusCode;
use crate::transport::TransportError;
use webauthn::cbor::CborError;

/// Everything that can go wrong talking to a key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key answered a CTAP2 command with a non-success status.
    #[error("{0}")]
    Status(StatusCode),
    /// The key answered with a CTAPHID ERROR packet.
    #[error("{0}")]
    Hid(HidError),
    #[error(transparent)]
    /// A report could not be sent or received.
    Transport(#[from] TransportError),
    /// The key sent nothing (not even a keepalive) for too long.
    #[error("the key did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The key's answer does not follow the protocol.
    #[error("the key sent a malformed answer: {0}")]
    Protocol(String),
    /// A request could not be built from the caller's input.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The key lacks a feature the operation needs.
    #[error("the key does not support {0}")]
    Unsupported(String),
}

impl Error {
    /// The CTAP status, when the key answered with one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status(s) => Some(*s),
            _ => None,
        }
    }
}

impl From<CborError> for Error {
    fn from(e: CborError) -> Self {
        Error::Protocol(e.to_string())
    }
}

impl From<StatusCode> for Error {
    fn from(s: StatusCode) -> Self {
        Error::Status(s)
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

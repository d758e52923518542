//! The use cases' error: what went wrong, in the domain's words. It
//! becomes Graph's error envelope once, in `From<DomainError> for
//! ApiError`: every verification check keeps its own code (in the
//! envelope's `details`), under Graph's stable top-level code.

use crate::error::{ApiError, ErrorDetail};

/// A use case's failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    /// The request is malformed or a value is out of range; `field` names
    /// it when one field is at fault.
    #[error("{message}")]
    Invalid {
        /// The field at fault, if one.
        field: Option<&'static str>,
        /// What is wrong.
        message: String,
    },
    /// The WebAuthn verifier refused a registration or an assertion at
    /// one named check (`originMismatch`, `attestationNotTrusted`, …).
    #[error("{message}")]
    Verification {
        /// The check that failed.
        check: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The challenge is unknown, used up, expired, or another user's.
    #[error("{0}")]
    Challenge(String),
    #[error("{0}")]
    /// The thing asked for does not exist.
    NotFound(String),
    /// A sign-in that does not prove who it claims: an unknown key, a user
    /// handle that is not the key's, or an assertion the verifier refused
    /// at `check` (`signatureInvalid`, `counterRegression`, …).
    #[error("{message}")]
    Unauthenticated {
        /// The verifier's check that failed, if it was one.
        check: Option<&'static str>,
        /// What is wrong.
        message: String,
    },
    /// Known, but not allowed: a disabled account, a user the FIDO2
    /// policy does not target, the method disabled.
    #[error("{0}")]
    Forbidden(String),
    /// A layer not moved under the use cases yet (policy, challenge store,
    /// names) answered with the API's error: carried as is.
    #[error("{}", .0.message)]
    Api(ApiError),
}

impl DomainError {
    /// An invalid value of `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            field: Some(field),
            message: message.into(),
        }
    }

    /// An object with the same key exists already.
    pub fn is_conflict(&self) -> bool {
        matches!(self, DomainError::Api(e) if e.is_conflict())
    }

    /// A failure of the service itself (not the caller's): not audited
    /// as the caller's failure.
    pub fn is_internal(&self) -> bool {
        matches!(self, DomainError::Api(e) if e.status.is_server_error())
    }
}

impl From<ApiError> for DomainError {
    fn from(e: ApiError) -> Self {
        DomainError::Api(e)
    }
}

impl From<sqlx::Error> for DomainError {
    fn from(e: sqlx::Error) -> Self {
        DomainError::Api(e.into())
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, message } => {
                let mut a = ApiError::bad_request(message.clone());
                if let Some(target) = field {
                    a.details.push(ErrorDetail {
                        code: "invalidValue",
                        message,
                        target: Some(target),
                    });
                }
                a
            }
            DomainError::Verification { check, message } => {
                let mut a = ApiError::bad_request(message.clone());
                a.details.push(ErrorDetail {
                    code: check,
                    message,
                    target: Some("publicKeyCredential"),
                });
                a
            }
            DomainError::Unauthenticated { check, message } => {
                let mut a = ApiError::unauthenticated(message.clone());
                if let Some(code) = check {
                    a.details.push(ErrorDetail {
                        code,
                        message,
                        target: Some("credential"),
                    });
                }
                a
            }
            DomainError::Forbidden(m) => ApiError::forbidden(m),
            DomainError::Challenge(m) => ApiError::bad_request(m),
            DomainError::NotFound(m) => ApiError::not_found(m),
            DomainError::Api(e) => e,
        }
    }
}

//! Use cases: what the service does, apart from how it is asked. Each is a
//! function over [`DomainError`]; the Graph routes (`routes/`), the admin
//! center (`web/`) and the admin CLI are adapters that parse a request,
//! call one use case and render its answer, and [`DomainError`] becomes a
//! Graph error in one place (`impl From<DomainError> for ApiError`).
//!
//! Authorisation stays with the adapters (an app's permissions, an
//! admin-center role): they check the caller, then call the use case.

pub mod directory;
pub mod error;
pub mod methods;
pub mod policy;
pub mod register;
pub mod signin;
pub mod tokens;

pub use error::DomainError;

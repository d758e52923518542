//! Use cases: what the service does, apart from how it is asked. Each is a
//! function over [`DomainError`]; the Graph routes (`routes/`), the admin
//! center (`web/`) and the admin CLI are adapters that parse a request,
//! call one use case and render its answer, and [`DomainError`] becomes a
//! Graph error in one place (`impl From<DomainError> for ApiError`).
//!
//! Issue 30 moves the use cases here one at a time; registration is the
//! first.

pub mod directory;
pub mod error;
pub mod methods;
pub mod policy;
pub mod register;
pub mod signin;

pub use error::DomainError;

//! Storage: every SQL statement of the server, one module per aggregate
//! (issue 30 moves the aggregates here one at a time), each statement
//! written once and run on either engine through [`sql`].

pub mod audit;
pub mod challenges;
pub mod directory;
pub mod methods;
pub mod policies;
pub mod query;
pub mod sessions;
pub mod signing_keys;
pub mod sql;

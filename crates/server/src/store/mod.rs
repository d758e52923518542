//! Storage of the aggregates whose SQL used to sit in their HTTP modules
//! (issue 30 moves each aggregate's statements behind one module here).

pub mod sessions;

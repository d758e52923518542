//! FIDO Metadata Service v3 BLOB reading (placeholder).

//! Which database is behind a pool (below `db` and its group-commit
//! writer, which both need to know).

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (a file, or in memory for tests).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

//! One way to run a statement on either engine, so that each query of the
//! storage modules is written once: its SQL (with `$N` parameters), its
//! arguments as [`Arg`]s, and its row mapper over [`Fields`]. The same
//! statement runs on the engine the database needs at that moment:
//!
//! - reads of a SQLite file: a `rusqlite` connection, inline on the
//!   caller's thread (`Db::lite_read`);
//! - writes inside a group commit: the batch's connection ([`JobCtx`]),
//!   the writer thread's `rusqlite` connection on a SQLite file;
//! - everything else (PostgreSQL, an in-memory SQLite, writes outside a
//!   group commit): sqlx.
//!
//! Where PostgreSQL and SQLite need different SQL (row locks, upserts), the
//! storage module holds one statement per database and picks by
//! [`Db::backend`]; nowhere else is a statement spelled twice.

use crate::db::{lite_sql, Db};
use crate::error::{ApiError, ApiResult};
use crate::writer::{Conn, JobCtx};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

/// A statement's parameter (borrowed: statements run before their
/// arguments go away).
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// An integer.
    Int(i64),
    /// An integer or NULL.
    OptInt(Option<i64>),
    /// A text.
    Text(&'a str),
    /// A text or NULL.
    OptText(Option<&'a str>),
    /// A byte string.
    Bytes(&'a [u8]),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<bool> for Arg<'_> {
    /// Flags are stored as 0/1 integers on both databases.
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}
impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(v)
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::OptText(v.as_deref())
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::OptText(v)
    }
}
impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(v)
    }
}
impl<'a> From<&'a Vec<u8>> for Arg<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Arg::Bytes(v)
    }
}

/// `$first, $first+1, …` — `n` placeholders for a statement's arguments
/// from number `first` on.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `args![a, b, …]`: a statement's arguments, each through [`Arg::from`].
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        &[$($crate::store::sql::Arg::from($a)),*][..]
    };
}
pub(crate) use args;

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match *self {
            Arg::Int(v) | Arg::OptInt(Some(v)) => ToSqlOutput::Owned(Value::Integer(v)),
            Arg::Text(s) | Arg::OptText(Some(s)) => {
                ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
            }
            Arg::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Arg::OptInt(None) | Arg::OptText(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// `sql` with `args` bound, for sqlx.
fn bound<'q>(sql: &'q str, args: &[Arg<'q>]) -> Query<'q, Any, AnyArguments<'q>> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = match *a {
            Arg::Int(v) => q.bind(v),
            Arg::OptInt(v) => q.bind(v),
            Arg::Text(s) => q.bind(s),
            Arg::OptText(s) => q.bind(s),
            Arg::Bytes(b) => q.bind(b),
        };
    }
    q
}

/// A result row's columns, by name, whichever engine read it.
pub trait Fields {
    /// An integer column.
    fn int(&self, col: &str) -> ApiResult<i64>;
    /// A nullable integer column.
    fn opt_int(&self, col: &str) -> ApiResult<Option<i64>>;
    /// A text column.
    fn text(&self, col: &str) -> ApiResult<String>;
    /// A nullable text column.
    fn opt_text(&self, col: &str) -> ApiResult<Option<String>>;
    /// A byte column.
    fn bytes(&self, col: &str) -> ApiResult<Vec<u8>>;
    /// A nullable byte column.
    fn opt_bytes(&self, col: &str) -> ApiResult<Option<Vec<u8>>>;
    /// A 0/1 integer column.
    fn flag(&self, col: &str) -> ApiResult<bool> {
        Ok(self.int(col)? != 0)
    }
}

impl Fields for rusqlite::Row<'_> {
    fn int(&self, col: &str) -> ApiResult<i64> {
        Ok(self.get(col)?)
    }
    fn opt_int(&self, col: &str) -> ApiResult<Option<i64>> {
        Ok(self.get(col)?)
    }
    fn text(&self, col: &str) -> ApiResult<String> {
        Ok(self.get(col)?)
    }
    fn opt_text(&self, col: &str) -> ApiResult<Option<String>> {
        Ok(self.get(col)?)
    }
    fn bytes(&self, col: &str) -> ApiResult<Vec<u8>> {
        Ok(self.get(col)?)
    }
    fn opt_bytes(&self, col: &str) -> ApiResult<Option<Vec<u8>>> {
        Ok(self.get(col)?)
    }
}

impl Fields for AnyRow {
    /// Integers come back as 64 or 32 bits depending on the column's
    /// type on PostgreSQL.
    fn int(&self, col: &str) -> ApiResult<i64> {
        Ok(crate::db::get_i64(self, col)?)
    }
    fn opt_int(&self, col: &str) -> ApiResult<Option<i64>> {
        Ok(crate::db::get_opt_i64(self, col)?)
    }
    fn text(&self, col: &str) -> ApiResult<String> {
        Ok(self.try_get(col)?)
    }
    fn opt_text(&self, col: &str) -> ApiResult<Option<String>> {
        Ok(self.try_get(col)?)
    }
    fn bytes(&self, col: &str) -> ApiResult<Vec<u8>> {
        Ok(self.try_get(col)?)
    }
    fn opt_bytes(&self, col: &str) -> ApiResult<Option<Vec<u8>>> {
        Ok(self.try_get(col)?)
    }
}

/// Where a statement runs.
pub enum On<'a> {
    /// A read of committed data (a SQLite file's inline reader, or the
    /// read pool).
    Read(&'a Db),
    /// A statement of its own, outside any group commit (the write pool).
    Write(&'a Db),
    /// A statement of a group-commit job (its savepoint, the batch's
    /// transaction).
    Job(&'a mut JobCtx),
}

/// Runs `sql` on `c` (a `rusqlite` connection) and maps every row.
fn lite_rows<T>(
    c: &rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
    limit: Option<usize>,
    map: &impl Fn(&dyn Fields) -> ApiResult<T>,
) -> ApiResult<Vec<T>> {
    let mut st = c.prepare_cached(&lite_sql(sql))?;
    let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(map(r)?);
        if limit.is_some_and(|n| out.len() >= n) {
            break;
        }
    }
    Ok(out)
}

/// Every row `sql` returns, mapped.
pub async fn fetch_all<T>(
    on: On<'_>,
    sql: &str,
    args: &[Arg<'_>],
    map: impl Fn(&dyn Fields) -> ApiResult<T>,
) -> ApiResult<Vec<T>> {
    rows(on, sql, args, None, map).await
}

/// The first row `sql` returns, mapped, if any.
pub async fn fetch_optional<T>(
    on: On<'_>,
    sql: &str,
    args: &[Arg<'_>],
    map: impl Fn(&dyn Fields) -> ApiResult<T>,
) -> ApiResult<Option<T>> {
    Ok(rows(on, sql, args, Some(1), map).await?.into_iter().next())
}

/// The one row `sql` returns (none is an internal error: use it for
/// aggregates such as `COUNT(*)`).
pub async fn fetch_one<T>(
    on: On<'_>,
    sql: &str,
    args: &[Arg<'_>],
    map: impl Fn(&dyn Fields) -> ApiResult<T>,
) -> ApiResult<T> {
    fetch_optional(on, sql, args, map)
        .await?
        .ok_or_else(|| ApiError::internal("a statement that returns one row returned none"))
}

async fn rows<T>(
    on: On<'_>,
    sql: &str,
    args: &[Arg<'_>],
    limit: Option<usize>,
    map: impl Fn(&dyn Fields) -> ApiResult<T>,
) -> ApiResult<Vec<T>> {
    let found = match on {
        On::Read(db) => {
            if let Some(found) = db.lite_read(|c| lite_rows(c, sql, args, limit, &map)) {
                return found;
            }
            bound(sql, args).fetch_all(db.read()).await?
        }
        On::Write(db) => bound(sql, args).fetch_all(db.write()).await?,
        On::Job(ctx) => match ctx.conn() {
            Conn::Lite(c) => return lite_rows(c, sql, args, limit, &map),
            Conn::Sqlx(conn) => bound(sql, args).fetch_all(conn).await?,
        },
    };
    found
        .iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(|r| map(r))
        .collect()
}

/// Runs a statement that returns no rows; the number of rows it changed.
pub async fn execute(on: On<'_>, sql: &str, args: &[Arg<'_>]) -> ApiResult<u64> {
    let done = match on {
        On::Read(_) => return Err(ApiError::internal("a write was sent to the read pool")),
        On::Write(db) => bound(sql, args).execute(db.write()).await?,
        On::Job(ctx) => match ctx.conn() {
            Conn::Lite(c) => {
                let n = c
                    .prepare_cached(&lite_sql(sql))?
                    .execute(rusqlite::params_from_iter(args.iter()))?;
                return Ok(n as u64);
            }
            Conn::Sqlx(conn) => bound(sql, args).execute(conn).await?,
        },
    };
    Ok(done.rows_affected())
}

//! The token signing keys' rows: each key's scalar sealed under the
//! key-encryption key (never stored in clear since the sealing upgrade),
//! its creation and retirement times. What a key may sign or verify is
//! [`crate::token`]'s.

use crate::backend::Backend;
use crate::db::Db;
use crate::error::ApiResult;
use crate::store::sql::{args, execute, fetch_all, fetch_one, On};

/// A key's row.
pub struct StoredKey {
    /// The key id.
    pub kid: String,
    /// The scalar in clear, as versions before the sealing stored it
    /// (empty once sealed).
    pub clear: Vec<u8>,
    /// The scalar sealed under the KEK.
    pub sealed: Option<Vec<u8>>,
    /// The KEK it was sealed with.
    pub kek_id: Option<String>,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// When it was retired (Unix seconds).
    pub retired_at: Option<i64>,
}

/// The creation time of the newest key (read on the write pool, after the
/// writes before it).
pub async fn newest_created_at(db: &Db) -> ApiResult<Option<i64>> {
    fetch_one(
        On::Write(db),
        "SELECT MAX(created_at) AS n FROM signing_keys",
        args![],
        |r| r.opt_int("n"),
    )
    .await
}

/// Stores a new key, sealed.
pub async fn insert(
    db: &Db,
    kid: &str,
    sealed: &[u8],
    kek_id: &str,
    created_at: i64,
) -> ApiResult<()> {
    execute(
        On::Write(db),
        "INSERT INTO signing_keys (kid, secret, sealed, kek_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        args![kid, &[][..], sealed, kek_id, created_at],
    )
    .await
    .map(drop)
}

/// Retires every active key but `kid` at `now`.
pub async fn retire_all_but(db: &Db, kid: &str, now: i64) -> ApiResult<()> {
    execute(
        On::Write(db),
        "UPDATE signing_keys SET retired_at = $1 WHERE kid <> $2 AND retired_at IS NULL",
        args![now, kid],
    )
    .await
    .map(drop)
}

/// Deletes the keys retired before `before`.
pub async fn purge_retired_before(db: &Db, before: i64) -> ApiResult<()> {
    execute(
        On::Write(db),
        "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1",
        args![before],
    )
    .await
    .map(drop)
}

/// Every key, oldest first; `fresh` reads on the write pool (after the
/// writes just made), otherwise on the read pool.
pub async fn all(db: &Db, fresh: bool) -> ApiResult<Vec<StoredKey>> {
    fetch_all(
        if fresh { On::Write(db) } else { On::Read(db) },
        "SELECT kid, secret, sealed, kek_id, created_at, retired_at FROM signing_keys \
         ORDER BY created_at, kid",
        args![],
        |r| {
            Ok(StoredKey {
                kid: r.text("kid")?,
                clear: r.opt_bytes("secret")?.unwrap_or_default(),
                sealed: r.opt_bytes("sealed")?,
                kek_id: r.opt_text("kek_id")?,
                created_at: r.int("created_at")?,
                retired_at: r.opt_int("retired_at")?,
            })
        },
    )
    .await
}

/// Replaces a key stored in clear by its sealed form and erases the clear
/// copy. SQLite: `secure_delete` zeroes the old bytes in the page (on the
/// writing connection) and the WAL is checkpointed afterwards, so no old
/// page version is left in it; PostgreSQL has no such setting.
pub async fn reseal(db: &Db, kid: &str, sealed: &[u8], kek_id: &str) -> ApiResult<()> {
    let mut tx = db.begin_write().await?;
    if db.backend == Backend::Sqlite {
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("UPDATE signing_keys SET sealed = $1, kek_id = $2, secret = $3 WHERE kid = $4")
        .bind(sealed)
        .bind(kek_id)
        .bind(Vec::<u8>::new())
        .bind(kid)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if db.backend == Backend::Sqlite {
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(db.write())
            .await;
    }
    Ok(())
}

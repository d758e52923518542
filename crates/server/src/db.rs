//! Storage: one sqlx `Any` pool over SQLite (default) or PostgreSQL, and the
//! schema migrations. SQLite runs in WAL mode with `synchronous=FULL`, so a
//! write that was answered survives a crash; its writes go through a
//! one-connection pool so transactions never fight over the write lock,
//! except the group commit's, which runs on the writer thread's own
//! `rusqlite` connection (see [`crate::writer`]).

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::ApiResult;
use crate::writer::{BoxFuture, JobCtx, WriteIntent, Writer};

pub use crate::backend::Backend;

/// The most connections one server opens to PostgreSQL: the writer
/// thread's one and a pool of the rest (reads, migrations, admin work).
/// PostgreSQL's own `max_connections` (100 by default) must leave room
/// for this many per instance.
pub const POSTGRES_CONNECTIONS: u32 = 16;

/// The database: a reader pool and a writer pool (the same pool on
/// PostgreSQL).
#[derive(Debug, Clone)]
pub struct Db {
    /// SQLite or PostgreSQL.
    pub backend: Backend,
    read: AnyPool,
    write: AnyPool,
    writer: Writer,
    /// SQLite file: idle `rusqlite` connections for the hot path's reads.
    lite_readers: Option<Arc<LiteReaders>>,
}

/// `rusqlite` connections for reads run inline on the caller's thread
/// (a WAL read never waits for the writer): one per thread reading at
/// that moment, kept for reuse.
struct LiteReaders {
    path: String,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl std::fmt::Debug for LiteReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiteReaders")
            .field("path", &self.path)
            .finish()
    }
}

/// The URL of the SQLite database inside a data directory (created here).
///
/// The database holds the token-signing key and hashed secrets, so a new
/// data directory is created 0700 and the database file 0600 (SQLite gives
/// its `-wal`/`-shm` files the database file's mode).
pub fn sqlite_url_for_dir(dir: &Path) -> std::io::Result<String> {
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
    }
    let file = dir.join("keysmith.db");
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let handle = options.open(&file)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        handle.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    drop(handle);
    Ok(format!("sqlite://{}?mode=rwc", file.display()))
}

#[cfg(all(test, unix))]
mod file_mode_tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn data_dir_and_database_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        super::sqlite_url_for_dir(&dir).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("keysmith.db")), 0o600);
    }
}

impl Db {
    /// Connects and migrates. `url` is `sqlite://…` or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(sqlx::Error::Configuration(
                "database URL must start with sqlite: or postgres://".into(),
            ));
        };
        let db = match backend {
            Backend::Sqlite => {
                let opts = || {
                    AnyPoolOptions::new()
                        .acquire_timeout(Duration::from_secs(30))
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                conn.execute(
                                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                                     PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
                                )
                                .await?;
                                Ok(())
                            })
                        })
                };
                // One connection that lives as long as the pool: an
                // in-memory database is that connection's, and goes with it.
                let write = opts()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect(url)
                    .await?;
                // The database file, for the writer thread's own connection
                // and the readers (none for an in-memory database: another
                // connection would not see it, so its reads share the
                // writing connection and its writes keep the sqlx writer).
                let file: Option<String> =
                    sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_optional(&write)
                        .await?
                        .map(|r| r.try_get::<String, _>(0))
                        .transpose()?
                        .filter(|f| !f.is_empty());
                let read = match &file {
                    Some(_) => opts().max_connections(4).connect(url).await?,
                    None => write.clone(),
                };
                Db {
                    backend,
                    read,
                    lite_readers: file.clone().map(|path| {
                        Arc::new(LiteReaders {
                            path,
                            idle: Mutex::new(Vec::new()),
                        })
                    }),
                    writer: Writer::new(backend, write.clone(), file),
                    write,
                }
            }
            Backend::Postgres => {
                // The writer thread keeps a connection of its own.
                let pool = AnyPoolOptions::new()
                    .max_connections(POSTGRES_CONNECTIONS - 1)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await?;
                Db {
                    backend,
                    read: pool.clone(),
                    lite_readers: None,
                    writer: Writer::new(backend, pool.clone(), None),
                    write: pool,
                }
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Runs the read `f` inline on a `rusqlite` connection (no thread hop)
    /// when the database is a SQLite file; `None` otherwise (use sqlx).
    pub(crate) fn lite_read<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> ApiResult<T>,
    ) -> Option<ApiResult<T>> {
        let readers = self.lite_readers.as_ref()?;
        let idle = readers.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => match open_reader(&readers.path) {
                Ok(c) => c,
                Err(e) => return Some(Err(e.into())),
            },
        };
        let result = f(&conn);
        let mut idle = readers.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < 16 {
            idle.push(conn);
        }
        Some(result)
    }

    /// Pool for queries that only read.
    pub fn read(&self) -> &AnyPool {
        &self.read
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`, so a
    /// transaction that reads before it writes cannot fail to upgrade its
    /// lock when another process (a second instance) writes meanwhile.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.write.begin().await,
        }
    }

    /// Runs `f` as one job of the next group commit (see
    /// [`crate::writer`]): its own savepoint inside a shared transaction,
    /// answered after the commit. `audit_tenant` is the tenant whose audit
    /// chain `f` appends to, if any.
    pub async fn write_job<T, F>(&self, audit_tenant: Option<&str>, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut JobCtx) -> BoxFuture<'c, ApiResult<T>> + Send + 'static,
    {
        self.writer.run(None, audit_tenant, f).await
    }

    /// Sets the key that authenticates audit rows (see [`crate::audit`]).
    pub fn set_audit_key(&self, key: Arc<crate::audit::chain::AuditKey>) {
        self.writer.set_audit_key(key);
    }

    /// Sets how long the group commit waits for announced writes.
    pub fn set_commit_gather(&self, wait: Duration) {
        self.writer.set_gather_wait(wait);
    }

    /// Group commits run so far, and the write jobs they held.
    pub fn commit_stats(&self) -> (u64, u64) {
        self.writer.stats()
    }

    /// Announces a write job this request will queue (see
    /// [`crate::writer`]): the writer may wait a moment for it before it
    /// begins a batch, so that concurrent requests share one commit.
    pub fn announce_write(&self) -> WriteIntent {
        self.writer.announce()
    }

    /// [`Db::write_job`] for a job announced with [`Db::announce_write`].
    pub async fn write_announced<T, F>(
        &self,
        intent: WriteIntent,
        audit_tenant: Option<&str>,
        f: F,
    ) -> ApiResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut JobCtx) -> BoxFuture<'c, ApiResult<T>> + Send + 'static,
    {
        self.writer.run(Some(intent), audit_tenant, f).await
    }

    /// Whether the database answers (`/healthz`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(|_| ())
    }

    /// Pool for statements that write.
    pub fn write(&self) -> &AnyPool {
        &self.write
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        self.adopt_legacy_versions(migrator).await?;
        // The migrator takes PostgreSQL's advisory lock itself (several
        // instances, or parallel tests, may start at once).
        migrator
            .run(&self.write)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))
    }

    /// Databases made before Keysmith used sqlx's migrator recorded their
    /// schema versions in `keysmith_migrations`; the same versions (the
    /// same SQL, now in `migrations/`) are recorded for the migrator, so it
    /// runs only what is new and the database is upgraded in place.
    async fn adopt_legacy_versions(
        &self,
        migrator: &sqlx::migrate::Migrator,
    ) -> Result<(), sqlx::Error> {
        use sqlx::migrate::Migrate;
        let mut conn = self.write.acquire().await?;
        let probe = match self.backend {
            Backend::Sqlite => {
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'keysmith_migrations'"
            }
            Backend::Postgres => {
                "SELECT 1 FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = 'keysmith_migrations'"
            }
        };
        if sqlx::query(probe)
            .fetch_optional(&mut *conn)
            .await?
            .is_none()
        {
            return Ok(());
        }
        let migrate_err = |e| sqlx::Error::Migrate(Box::new(e));
        conn.lock().await.map_err(migrate_err)?;
        let adopted = async {
            conn.ensure_migrations_table().await.map_err(migrate_err)?;
            let done: Vec<i64> = sqlx::query("SELECT version FROM keysmith_migrations")
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| get_i64(r, "version"))
                .collect::<Result<_, _>>()?;
            for m in migrator.iter().filter(|m| done.contains(&m.version)) {
                sqlx::query(
                    "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                     VALUES ($1, $2, TRUE, $3, 0) ON CONFLICT (version) DO NOTHING",
                )
                .bind(m.version)
                .bind(m.description.to_string())
                .bind(m.checksum.to_vec())
                .execute(&mut *conn)
                .await?;
            }
            Ok::<(), sqlx::Error>(())
        }
        .await;
        conn.unlock().await.map_err(migrate_err)?;
        adopted
    }
}

/// The schema, one versioned file a change (`crates/server/migrations/`),
/// per database: never edit an applied file, add one.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The SQLite spelling of a statement written for both backends: `$N`
/// becomes `?N`. (SQLite would take `$1` as a *named* parameter, numbered
/// by first appearance, which differs from N when `$2` comes before `$1`.)
pub(crate) fn lite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

fn open_reader(path: &str) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Reads an integer column whatever width the backend returned.
pub fn get_i64(row: &AnyRow, col: &str) -> Result<i64, sqlx::Error> {
    row.try_get::<i64, _>(col)
        .or_else(|_| row.try_get::<i32, _>(col).map(i64::from))
}

/// Reads a nullable integer column.
pub fn get_opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>, sqlx::Error> {
    row.try_get::<Option<i64>, _>(col)
        .or_else(|_| row.try_get::<Option<i32>, _>(col).map(|v| v.map(i64::from)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under more concurrent reads than connections, and writes, a server
    /// holds at most [`POSTGRES_CONNECTIONS`] to PostgreSQL (counted in
    /// `pg_stat_activity` by an application name of its own).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_holds_at_most_its_postgres_connections() {
        let Ok(url) = std::env::var("KEYSMITH_TEST_POSTGRES_URL") else {
            return;
        };
        let name = format!("ks-conn-{}", uuid::Uuid::new_v4().simple());
        let sep = if url.contains('?') { '&' } else { '?' };
        let db = Db::connect(&format!("{url}{sep}application_name={name}"))
            .await
            .unwrap();
        let reads: Vec<_> = (0..64)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    sqlx::query("SELECT pg_sleep(0.02)")
                        .execute(db.read())
                        .await
                        .map(|_| ())
                })
            })
            .collect();
        db.write_job(None, |ctx| {
            Box::pin(async move {
                crate::store::sql::execute(
                    crate::store::sql::On::Job(ctx),
                    "SELECT 1",
                    crate::store::sql::args![],
                )
                .await
                .map(|_| ())
            })
        })
        .await
        .unwrap();
        for r in reads {
            r.await.unwrap().unwrap();
        }
        let open: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(&name)
                .fetch_one(db.read())
                .await
                .unwrap();
        assert!(
            (2..=i64::from(POSTGRES_CONNECTIONS)).contains(&open),
            "{open} connections open"
        );
        assert_eq!(
            open,
            i64::from(POSTGRES_CONNECTIONS),
            "the pool filled up beside the writer's connection"
        );
    }

    /// A database made by the hand-rolled migrations of earlier versions
    /// (versions in `keysmith_migrations`, here 1 to 3) is adopted by sqlx's
    /// migrator and upgraded in place: its data stays, the newer migrations
    /// run, and opening it again changes nothing.
    #[tokio::test]
    async fn a_database_of_the_old_migrations_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url_for_dir(dir.path()).unwrap();
        let file = dir.path().join("keysmith.db");
        {
            let c = rusqlite::Connection::open(&file).unwrap();
            for sql in [
                include_str!("../migrations/sqlite/0001_initial.sql"),
                include_str!("../migrations/sqlite/0002_admin_center.sql"),
                include_str!("../migrations/sqlite/0003_sealed_keys_numbered_audit.sql"),
            ] {
                c.execute_batch(sql).unwrap();
            }
            c.execute_batch(
                "CREATE TABLE keysmith_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
                 INSERT INTO keysmith_migrations VALUES (1, 'then'), (2, 'then'), (3, 'then');
                 INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'old', 1);",
            )
            .unwrap();
        }
        for _ in 0..2 {
            let db = Db::connect(&url).await.unwrap();
            let versions: Vec<i64> =
                sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                    .fetch_all(db.read())
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| get_i64(r, "version").unwrap())
                    .collect();
            assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
            let name: String = sqlx::query("SELECT name FROM tenants WHERE id = 't1'")
                .fetch_one(db.read())
                .await
                .unwrap()
                .try_get(0)
                .unwrap();
            assert_eq!(name, "old");
            // Migration 5's index exists.
            let idx = sqlx::query(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'groups_tenant_lower_name'",
            )
            .fetch_optional(db.read())
            .await
            .unwrap();
            assert!(idx.is_some());
        }
    }
}

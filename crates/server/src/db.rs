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

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database: a reader pool and a writer pool (the same pool on
/// PostgreSQL).
#[derive(Debug, Clone)]
pub struct Db {
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
                let write = opts().max_connections(1).connect(url).await?;
                let read = opts().max_connections(4).connect(url).await?;
                // The database file, for the writer thread's own connection
                // (empty for an in-memory database: that keeps the sqlx
                // writer, as a second connection would not see it).
                let file: Option<String> =
                    sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_optional(&write)
                        .await?
                        .map(|r| r.try_get::<String, _>(0))
                        .transpose()?
                        .filter(|f| !f.is_empty());
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
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
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
    pub fn set_audit_key(&self, key: Arc<crate::audit::AuditKey>) {
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

    fn ddl(&self, sql: &str) -> String {
        let (blob, big, autoid) = match self.backend {
            Backend::Sqlite => ("BLOB", "INTEGER", "INTEGER PRIMARY KEY AUTOINCREMENT"),
            Backend::Postgres => ("BYTEA", "BIGINT", "BIGSERIAL PRIMARY KEY"),
        };
        let (collate_c, pg_only) = match self.backend {
            // Byte order, whatever the database's default collation.
            Backend::Postgres => (" COLLATE \"C\"", ""),
            Backend::Sqlite => ("", "--"),
        };
        sql.replace("{BLOB}", blob)
            .replace("{BIGINT}", big)
            .replace("{AUTOID}", autoid)
            .replace("{C}", collate_c)
            // A statement for PostgreSQL only becomes a comment on SQLite.
            .replace("{PG_ONLY}", pg_only)
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.write.begin().await?;
        if self.backend == Backend::Postgres {
            // Several instances (or parallel tests) may start at once.
            tx.execute("SELECT pg_advisory_xact_lock(7302211)").await?;
        }
        tx.execute(
            "CREATE TABLE IF NOT EXISTS keysmith_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .await?;
        let done: Vec<AnyRow> = sqlx::query("SELECT version FROM keysmith_migrations")
            .fetch_all(&mut *tx)
            .await?;
        let done: Vec<i64> = done
            .iter()
            .map(|r| {
                r.try_get::<i32, _>(0)
                    .map(i64::from)
                    .or_else(|_| r.try_get::<i64, _>(0))
            })
            .collect::<Result<_, _>>()?;
        for (version, sql) in MIGRATIONS.iter().enumerate() {
            let version = version as i64 + 1;
            if done.contains(&version) {
                continue;
            }
            for stmt in self
                .ddl(sql)
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.starts_with("--"))
            {
                tx.execute(stmt).await?;
            }
            sqlx::query("INSERT INTO keysmith_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(version as i32)
                .bind(crate::time_util::now_rfc3339())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }
}

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    rp_id TEXT,
    rp_name TEXT,
    created_at {BIGINT} NOT NULL
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    upn TEXT NOT NULL,
    upn_lower TEXT NOT NULL,
    display_name TEXT NOT NULL,
    user_handle {BLOB} NOT NULL,
    roles TEXT NOT NULL DEFAULT '',
    account_enabled {BIGINT} NOT NULL DEFAULT 1,
    created_at {BIGINT} NOT NULL,
    UNIQUE (tenant_id, upn_lower)
);
CREATE TABLE groups_ (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    description TEXT,
    created_at {BIGINT} NOT NULL
);
CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups_(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE TABLE apps (
    client_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    secret_salt {BLOB} NOT NULL,
    secret_hash {BLOB} NOT NULL,
    roles TEXT NOT NULL,
    created_at {BIGINT} NOT NULL
);
CREATE TABLE challenges (
    id TEXT PRIMARY KEY,
    challenge TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    user_id TEXT,
    purpose TEXT NOT NULL,
    expires_at {BIGINT} NOT NULL,
    created_at {BIGINT} NOT NULL
);
CREATE INDEX challenges_expiry ON challenges (expires_at);
CREATE TABLE fido2_methods (
    id TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id {BLOB} NOT NULL,
    public_key {BLOB} NOT NULL,
    sign_count {BIGINT} NOT NULL,
    aaguid TEXT NOT NULL,
    fmt TEXT NOT NULL,
    attestation_level TEXT NOT NULL,
    cert_thumbprints TEXT NOT NULL,
    model TEXT,
    display_name TEXT,
    backup_eligible {BIGINT} NOT NULL DEFAULT 0,
    created_at {BIGINT} NOT NULL,
    last_used_at {BIGINT},
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX fido2_methods_user ON fido2_methods (user_id);
CREATE TABLE policies (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    fido2 TEXT NOT NULL,
    updated_at {BIGINT} NOT NULL
);
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    secret {BLOB} NOT NULL,
    created_at {BIGINT} NOT NULL
);
CREATE TABLE audit_events (
    id {AUTOID},
    tenant_id TEXT NOT NULL,
    at {BIGINT} NOT NULL,
    actor TEXT NOT NULL,
    activity TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL,
    reason TEXT NOT NULL,
    request_id TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id)
"#,
    // 2: the admin center: browser sessions and one-time enrollment links
    // (both stored as SHA-256 hashes of the secret the browser holds).
    r#"
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at {BIGINT} NOT NULL,
    expires_at {BIGINT} NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
CREATE TABLE admin_enrollments (
    token_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at {BIGINT} NOT NULL,
    expires_at {BIGINT} NOT NULL
);
CREATE INDEX users_tenant_roles ON users (tenant_id, roles)
"#,
    // 3: security review: sealed signing keys (rotation), enabled flags,
    // numbered and authenticated audit events, audit checkpoints.
    r#"
ALTER TABLE signing_keys ADD COLUMN sealed {BLOB};
ALTER TABLE signing_keys ADD COLUMN kek_id TEXT;
ALTER TABLE signing_keys ADD COLUMN retired_at {BIGINT};
ALTER TABLE apps ADD COLUMN enabled {BIGINT} NOT NULL DEFAULT 1;
ALTER TABLE tenants ADD COLUMN enabled {BIGINT} NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN seq {BIGINT};
ALTER TABLE audit_events ADD COLUMN mac TEXT;
UPDATE audit_events SET seq = r.rn FROM (SELECT id AS rid, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY id) AS rn FROM audit_events) AS r WHERE audit_events.id = r.rid;
CREATE UNIQUE INDEX audit_events_seq ON audit_events (tenant_id, seq);
CREATE TABLE audit_checkpoints (
    tenant_id TEXT NOT NULL,
    seq {BIGINT} NOT NULL,
    head_hash TEXT NOT NULL,
    at {BIGINT} NOT NULL,
    kind TEXT NOT NULL,
    kek_id TEXT NOT NULL,
    mac TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE TABLE keysmith_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO keysmith_state (key, value) SELECT 'audit_adoption', 'pending' WHERE EXISTS (SELECT 1 FROM audit_events)
"#,
    // 4: paging (issue 28, stage 3): groups in display-name order.
    r#"
CREATE INDEX groups_tenant_name ON groups_ (tenant_id, display_name, id)
"#,
    // 5: queries (issue 28, stage 4; crate::query): names compared and
    // sorted as LOWER(name) in byte order ({C}), ids as the tiebreak of
    // every keyset; audit events by activity and by time. On SQLite the
    // UNIQUE (tenant_id, upn_lower) already serves userPrincipalName.
    r#"
DROP INDEX groups_tenant_name;
CREATE INDEX users_tenant_name ON users (tenant_id, (LOWER(display_name)){C}, id{C});
{PG_ONLY}CREATE INDEX users_tenant_upn ON users (tenant_id, upn_lower{C}, id{C});
CREATE INDEX groups_tenant_lower_name ON groups_ (tenant_id, (LOWER(display_name)){C}, id{C});
CREATE INDEX audit_events_activity ON audit_events (tenant_id, activity, id);
CREATE INDEX audit_events_at ON audit_events (tenant_id, at, id)
"#,
];

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

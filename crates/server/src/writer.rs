//! Group commit: one writer task per [`Db`](crate::db::Db) takes every
//! write job queued at that moment, runs them in ONE transaction with a
//! savepoint per job (a job that fails is rolled back to its savepoint,
//! alone), commits once, and only then answers each job with its own
//! result. An answer therefore still means "durable" (SQLite stays at
//! `synchronous=FULL`), and each job keeps its own all-or-nothing
//! semantics; what is shared is the `BEGIN`/`COMMIT`, the disk flush and,
//! for the audit trail, the lookup of the chain's head.
//!
//! Inside the batch's transaction the database's write lock is held
//! (`BEGIN IMMEDIATE` on SQLite; on PostgreSQL the advisory lock of every
//! tenant the batch declares, taken up front in sorted order so that two
//! instances' batches cannot deadlock), so the audit head a job appended is
//! the head the next job of the batch must link to: it is remembered in
//! [`JobCtx`] instead of read again.
//!
//! A batch is only as large as the queue when the writer looks, and under
//! load the writer would look as soon as the first job arrives: one commit
//! (one flush, one write of every dirty page) per job. So handlers that
//! will write *announce* it when they start ([`Writer::announce`]), and a
//! writer that has announced jobs still to come waits for them, for at most
//! [`GATHER_WAIT`] (configurable), before it begins, so that the commit is
//! shared by the requests already being verified. With nothing announced
//! (an idle server, one request at a time) it begins at once.
//!
//! On SQLite (a database file) the batches run on ONE dedicated OS thread
//! that owns a `rusqlite` connection: every statement of a batch executes
//! synchronously on that thread, with no hop to another thread per
//! statement (sqlx's SQLite driver sends each statement to a per-connection
//! worker thread). Same transaction shape (`BEGIN IMMEDIATE`, a savepoint
//! per job, one `COMMIT`), same pragmas (WAL, `synchronous=FULL`,
//! `busy_timeout`, foreign keys). PostgreSQL's batches run on a dedicated
//! thread too, with a runtime and a connection of its own: on the server's
//! runtime, with every worker busy handling requests, the writer's socket
//! was polled only between the handlers' tasks, and a batch makes two
//! round trips per job (its statement, its savepoint), one after the
//! other — with the writer on its own thread PostgreSQL's registration
//! rate rose by a third (README, benchmarks). An in-memory SQLite
//! database, which a second connection could not see, keeps the sqlx
//! task on the caller's runtime.

use crate::backend::Backend;
use crate::error::{ApiError, ApiResult};
use sqlx::{AnyPool, Executor};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// A boxed future (jobs are closures returning one).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Most jobs in one transaction.
const MAX_BATCH: usize = 128;

/// Longest a writer waits, by default, for announced jobs before it
/// begins a batch (`commit_gather_us` in the server's configuration).
pub const GATHER_WAIT: Duration = Duration::from_millis(1);

/// What a writer that gathers a batch waits on, and what it counts.
#[derive(Debug)]
struct Gather {
    /// Announcements not yet ended (each ends just after its job is
    /// queued, or when the handler gives up).
    announced: AtomicUsize,
    /// The longest wait for them, microseconds.
    wait_us: AtomicU64,
    /// Batches run (committed or not) and jobs they held.
    batches: AtomicU64,
    jobs: AtomicU64,
    /// Set while the SQLite writer thread is parked waiting for them.
    parked: AtomicBool,
    /// That thread.
    thread: Mutex<Option<std::thread::Thread>>,
}

impl Default for Gather {
    fn default() -> Gather {
        Gather {
            announced: AtomicUsize::new(0),
            wait_us: AtomicU64::new(GATHER_WAIT.as_micros() as u64),
            batches: AtomicU64::new(0),
            jobs: AtomicU64::new(0),
            parked: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }
}

impl Gather {
    /// The longest wait for announced jobs.
    fn wait(&self) -> Duration {
        Duration::from_micros(self.wait_us.load(Ordering::Relaxed))
    }

    /// Whether announced jobs are still to come.
    fn expecting(&self) -> bool {
        self.announced.load(Ordering::SeqCst) > 0
    }

    fn counted(&self, jobs: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.jobs.fetch_add(jobs as u64, Ordering::Relaxed);
    }

    /// Wakes the SQLite writer thread if it is waiting (a job was queued,
    /// or an announcement withdrawn).
    fn nudge(&self) {
        if self.parked.load(Ordering::SeqCst) {
            if let Some(t) = self
                .thread
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
            {
                t.unpark();
            }
        }
    }
}

/// A write announced by a handler that is still working towards it (see
/// [`Writer::announce`]). Passed to [`Writer::run`] with the job, or
/// dropped if the handler ends without writing.
#[derive(Debug)]
pub struct WriteIntent(Arc<Gather>);

impl Drop for WriteIntent {
    fn drop(&mut self) {
        self.0.announced.fetch_sub(1, Ordering::SeqCst);
        self.0.nudge();
    }
}

/// The batch's connection: a sqlx transaction, or the SQLite writer
/// thread's `rusqlite` connection (inside its `BEGIN IMMEDIATE`).
enum Tx {
    Sqlx(sqlx::Transaction<'static, sqlx::Any>),
    Lite(rusqlite::Connection),
}

/// What a job's statements run on.
pub(crate) enum Conn<'a> {
    Sqlx(&'a mut sqlx::AnyConnection),
    Lite(&'a rusqlite::Connection),
}

/// What a job sees: the batch's transaction, and the audit heads.
pub struct JobCtx {
    /// The database of the batch.
    pub backend: Backend,
    tx: Tx,
    /// Audit chain heads appended by released (kept) jobs of this batch.
    heads: HashMap<String, crate::audit::chain::Head>,
    /// … and by the running job (dropped if it is rolled back).
    pending_heads: HashMap<String, crate::audit::chain::Head>,
    /// The key that authenticates audit rows and checkpoints (derived from
    /// the key-encryption key; `None` until the server or CLI loads it).
    pub(crate) audit_key: Option<Arc<crate::audit::chain::AuditKey>>,
    /// Tenants whose PostgreSQL advisory lock the transaction holds.
    locked: HashSet<String>,
    pending_locked: HashSet<String>,
}

impl JobCtx {
    /// The connection, inside the batch's transaction.
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match &mut self.tx {
            Tx::Sqlx(tx) => Conn::Sqlx(tx),
            Tx::Lite(c) => Conn::Lite(c),
        }
    }

    /// A new batch's context on the transaction `tx` (already begun).
    fn new(
        backend: Backend,
        tx: Tx,
        audit_key: Option<Arc<crate::audit::chain::AuditKey>>,
    ) -> Self {
        JobCtx {
            backend,
            tx,
            heads: HashMap::new(),
            pending_heads: HashMap::new(),
            audit_key,
            locked: HashSet::new(),
            pending_locked: HashSet::new(),
        }
    }

    /// Runs the batch's own statements (savepoints) on its connection.
    async fn control(&mut self, sql: &str) -> ApiResult<()> {
        match &mut self.tx {
            Tx::Sqlx(tx) => tx.execute(sql).await.map(drop).map_err(Into::into),
            Tx::Lite(c) => c.execute_batch(sql).map_err(Into::into),
        }
    }

    /// Takes PostgreSQL's advisory lock of each of `tenants`, in the order
    /// of their keys — the order every batch of every instance locks in,
    /// so two instances' batches cannot deadlock. (A SQLite batch holds
    /// the database's write lock already.)
    async fn lock_tenants(&mut self, tenants: BTreeSet<&str>) -> ApiResult<()> {
        let Tx::Sqlx(tx) = &mut self.tx else {
            return Ok(());
        };
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let mut keys: Vec<(i64, &str)> = tenants.iter().map(|t| (audit_lock_key(t), *t)).collect();
        keys.sort();
        for (key, tenant) in keys {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut **tx)
                .await?;
            self.locked.insert(tenant.to_owned());
        }
        Ok(())
    }

    /// Commits (or rolls back) the batch's transaction; the SQLite writer
    /// thread's connection comes back for the next batch.
    async fn end(self, commit: bool) -> (ApiResult<()>, Option<rusqlite::Connection>) {
        match self.tx {
            Tx::Sqlx(tx) => {
                let done = if commit {
                    tx.commit().await
                } else {
                    tx.rollback().await
                };
                (done.map_err(Into::into), None)
            }
            Tx::Lite(c) => {
                let done = c
                    .execute_batch(if commit { "COMMIT" } else { "ROLLBACK" })
                    .map_err(Into::into);
                (done, Some(c))
            }
        }
    }

    /// The hash of the newest audit event of `tenant` written in this
    /// transaction, if any.
    pub(crate) fn audit_head(&self, tenant: &str) -> Option<&crate::audit::chain::Head> {
        self.pending_heads
            .get(tenant)
            .or_else(|| self.heads.get(tenant))
    }

    pub(crate) fn set_audit_head(&mut self, tenant: &str, head: crate::audit::chain::Head) {
        self.pending_heads.insert(tenant.to_owned(), head);
    }

    pub(crate) fn holds_lock(&self, tenant: &str) -> bool {
        self.locked.contains(tenant) || self.pending_locked.contains(tenant)
    }

    pub(crate) fn note_lock(&mut self, tenant: &str) {
        self.pending_locked.insert(tenant.to_owned());
    }

    fn keep(&mut self) {
        self.heads.extend(self.pending_heads.drain());
        self.locked.extend(self.pending_locked.drain());
    }

    fn discard(&mut self) {
        self.pending_heads.clear();
        self.pending_locked.clear();
    }
}

/// Called once the batch is over: `None` if it committed.
type Completion = Box<dyn FnOnce(Option<ApiError>) + Send>;
/// Runs the job; true if it succeeded (its savepoint is kept).
type JobFn = Box<dyn for<'c> FnOnce(&'c mut JobCtx) -> BoxFuture<'c, bool> + Send>;

struct Job {
    tenant: Option<String>,
    run: JobFn,
    finish: Completion,
}

/// The handle that queues jobs for the writer (started on first use: a
/// thread of its own for a SQLite file or PostgreSQL, a task on the
/// caller's runtime for in-memory SQLite; restarted if it went away).
#[derive(Clone)]
pub struct Writer {
    backend: Backend,
    pool: AnyPool,
    /// The SQLite database file, run by a `rusqlite` writer thread.
    lite_path: Option<String>,
    queue: Arc<Mutex<Option<mpsc::UnboundedSender<Job>>>>,
    gather: Arc<Gather>,
    audit_key: AuditKeySlot,
}

/// Where the writer finds the audit key for each batch.
type AuditKeySlot = Arc<std::sync::RwLock<Option<Arc<crate::audit::chain::AuditKey>>>>;

fn current_key(slot: &AuditKeySlot) -> Option<Arc<crate::audit::chain::AuditKey>> {
    slot.read().unwrap_or_else(|e| e.into_inner()).clone()
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Writer {
    /// A writer over `pool` (`lite_path`: the SQLite file, whose writes get a thread of their own).
    pub fn new(backend: Backend, pool: AnyPool, lite_path: Option<String>) -> Writer {
        Writer {
            backend,
            pool,
            lite_path,
            queue: Arc::new(Mutex::new(None)),
            gather: Arc::new(Gather::default()),
            audit_key: Arc::default(),
        }
    }

    /// Sets the key that authenticates audit rows appended from now on.
    pub fn set_audit_key(&self, key: Arc<crate::audit::chain::AuditKey>) {
        *self.audit_key.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
    }

    /// Sets the longest wait for announced jobs (zero: never wait).
    pub fn set_gather_wait(&self, wait: Duration) {
        self.gather
            .wait_us
            .store(wait.as_micros() as u64, Ordering::Relaxed);
    }

    /// Batches run so far and the jobs they held (their ratio is the mean
    /// number of writes sharing one commit).
    pub fn stats(&self) -> (u64, u64) {
        (
            self.gather.batches.load(Ordering::Relaxed),
            self.gather.jobs.load(Ordering::Relaxed),
        )
    }

    /// Announces a job this handler is about to queue (once it has done its
    /// reading and verifying), so that the writer may wait for it.
    pub fn announce(&self) -> WriteIntent {
        self.gather.announced.fetch_add(1, Ordering::SeqCst);
        WriteIntent(self.gather.clone())
    }

    /// Runs `f` in the next batch's transaction (under its own savepoint)
    /// and returns its result once the batch has committed. An `Err` from
    /// `f` rolls back what `f` did, and only that. `tenant` names the
    /// tenant whose audit chain `f` appends to, if any (PostgreSQL locks it
    /// before the batch's first job).
    ///
    /// `intent` is this job's announcement, if it made one: it ends once
    /// the job is queued.
    pub async fn run<T, F>(
        &self,
        intent: Option<WriteIntent>,
        tenant: Option<&str>,
        f: F,
    ) -> ApiResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut JobCtx) -> BoxFuture<'c, ApiResult<T>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<ApiResult<T>>();
        let slot: Arc<Mutex<Option<ApiResult<T>>>> = Arc::new(Mutex::new(None));
        let filled = slot.clone();
        let run: JobFn = Box::new(move |ctx: &mut JobCtx| {
            Box::pin(async move {
                let result = f(ctx).await;
                let ok = result.is_ok();
                *filled.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                ok
            })
        });
        let finish: Completion = Box::new(move |batch_error: Option<ApiError>| {
            let result = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            let _ = answer.send(match (batch_error, result) {
                (Some(e), _) => Err(e),
                (None, Some(r)) => r,
                (None, None) => Err(ApiError::internal("the write job did not run")),
            });
        });
        let job = Job {
            tenant: tenant.map(str::to_owned),
            run,
            finish,
        };
        let sent = self.sender().send(job);
        match intent {
            Some(intent) => drop(intent),
            None => self.gather.nudge(),
        }
        sent.map_err(|_| ApiError::internal("the database writer has stopped"))?;
        answered
            .await
            .map_err(|_| ApiError::internal("the database writer dropped a job"))?
    }

    fn sender(&self) -> mpsc::UnboundedSender<Job> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        match q.as_ref() {
            Some(s) if !s.is_closed() => s.clone(),
            _ => {
                let (s, r) = mpsc::unbounded_channel();
                match &self.lite_path {
                    Some(path) => {
                        let path = path.clone();
                        let gather = self.gather.clone();
                        let key = self.audit_key.clone();
                        let spawned = std::thread::Builder::new()
                            .name("keysmith-sqlite-writer".into())
                            .spawn(move || lite_thread(&path, r, &gather, &key));
                        if let Err(e) = spawned {
                            tracing::error!("cannot start the SQLite writer thread: {e}");
                        }
                    }
                    None if self.backend == Backend::Postgres => {
                        let options = self.pool.connect_options();
                        let gather = self.gather.clone();
                        let key = self.audit_key.clone();
                        let spawned = std::thread::Builder::new()
                            .name("keysmith-pg-writer".into())
                            .spawn(move || pg_thread(options, r, gather, key));
                        if let Err(e) = spawned {
                            tracing::error!("cannot start the PostgreSQL writer thread: {e}");
                        }
                    }
                    None => {
                        tokio::spawn(writer_task(
                            self.backend,
                            self.pool.clone(),
                            r,
                            self.gather.clone(),
                            self.audit_key.clone(),
                        ));
                    }
                }
                *q = Some(s.clone());
                s
            }
        }
    }
}

async fn writer_task(
    backend: Backend,
    pool: AnyPool,
    mut rx: mpsc::UnboundedReceiver<Job>,
    gather: Arc<Gather>,
    key: AuditKeySlot,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let deadline = tokio::time::Instant::now() + gather.wait();
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    if !gather.expecting() {
                        break;
                    }
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(j)) => jobs.push(j),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        gather.counted(jobs.len());
        run_batch(backend, &pool, jobs, current_key(&key)).await;
    }
}

/// The PostgreSQL writer: its own thread, runtime and connection, so that
/// each of a batch's round trips is answered as soon as PostgreSQL replies
/// (on the server's runtime the writer's socket is polled only between the
/// request handlers' tasks).
fn pg_thread(
    options: Arc<sqlx::any::AnyConnectOptions>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    gather: Arc<Gather>,
    key: AuditKeySlot,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let e = ApiError::internal(format!("cannot start the writer's runtime: {e}"));
            while let Some(job) = rx.blocking_recv() {
                (job.finish)(Some(e.clone()));
            }
            return;
        }
    };
    rt.block_on(async move {
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with((*options).clone());
        writer_task(Backend::Postgres, pool.clone(), rx, gather, key).await;
        pool.close().await;
    });
}

async fn begin(
    backend: Backend,
    pool: &AnyPool,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
}

/// The advisory lock key of a tenant's audit chain (PostgreSQL).
pub(crate) fn audit_lock_key(tenant: &str) -> i64 {
    use sha2::{Digest, Sha256};
    i64::from_be_bytes(
        Sha256::digest(tenant.as_bytes())[..8]
            .try_into()
            .expect("8 bytes"),
    )
}

async fn run_batch(
    backend: Backend,
    pool: &AnyPool,
    jobs: Vec<Job>,
    audit_key: Option<Arc<crate::audit::chain::AuditKey>>,
) {
    let fail_all = |e: ApiError, finishes: Vec<Completion>| {
        for f in finishes {
            f(Some(e.clone()));
        }
    };
    let (runs, finishes): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .map(|j| ((j.tenant, j.run), j.finish))
        .unzip();
    let tx = match begin(backend, pool).await {
        Ok(tx) => tx,
        Err(e) => return fail_all(e.into(), finishes),
    };
    let ctx = JobCtx::new(backend, Tx::Sqlx(tx), audit_key);
    run_jobs(ctx, runs, finishes).await;
}

/// Runs a batch's jobs in the transaction `ctx` has begun: a savepoint
/// per job (a job that fails is rolled back to it, alone), one commit,
/// then every job's answer. A failure of the batch's own statements or of
/// the commit fails every job: nothing of the batch was stored. Gives back
/// the SQLite writer thread's connection.
async fn run_jobs(
    mut ctx: JobCtx,
    runs: Vec<(Option<String>, JobFn)>,
    finishes: Vec<Completion>,
) -> Option<rusqlite::Connection> {
    let fail_all = |e: ApiError, finishes: Vec<Completion>| {
        for f in finishes {
            f(Some(e.clone()));
        }
    };
    let tenants: BTreeSet<&str> = runs.iter().filter_map(|j| j.0.as_deref()).collect();
    if let Err(e) = ctx.lock_tenants(tenants).await {
        let (_, conn) = ctx.end(false).await;
        fail_all(e, finishes);
        return conn;
    }
    // A batch of one job needs no savepoint: the transaction is the job's
    // (and a savepoint would have SQLite copy every page the job changes
    // to its statement journal first).
    if runs.len() == 1 {
        let (_, run) = runs.into_iter().next().expect("one job");
        // Committed, or rolled back as the failed job asked.
        let ok = run(&mut ctx).await;
        return settle(ctx, ok, finishes).await;
    }
    if let Err(e) = ctx.control("SAVEPOINT job").await {
        let (_, conn) = ctx.end(false).await;
        fail_all(e, finishes);
        return conn;
    }
    let n = runs.len();
    for (i, (_, run)) in runs.into_iter().enumerate() {
        let ok = run(&mut ctx).await;
        let last = i + 1 == n;
        let step = match (ok, last) {
            // COMMIT releases the last savepoint.
            (true, true) => Ok(()),
            (true, false) => ctx.control("RELEASE SAVEPOINT job; SAVEPOINT job").await,
            (false, true) => ctx.control("ROLLBACK TO SAVEPOINT job").await,
            (false, false) => {
                ctx.control("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job; SAVEPOINT job")
                    .await
            }
        };
        if ok {
            ctx.keep();
        } else {
            ctx.discard();
        }
        if let Err(e) = step {
            // The transaction is unusable: nothing of the batch commits.
            let (_, conn) = ctx.end(false).await;
            fail_all(e, finishes);
            return conn;
        }
    }
    settle(ctx, true, finishes).await
}

/// Ends the batch's transaction (commits, or rolls back) and answers every
/// job: each with its own result once the end succeeded, all with the
/// error if it failed. Gives back the SQLite writer thread's connection.
async fn settle(
    ctx: JobCtx,
    commit: bool,
    finishes: Vec<Completion>,
) -> Option<rusqlite::Connection> {
    let (ended, conn) = ctx.end(commit).await;
    let error = ended.err();
    for f in finishes {
        f(error.clone());
    }
    conn
}

/// The SQLite writer thread: owns the `rusqlite` connection and runs every
/// batch on it, synchronously.
fn lite_thread(
    path: &str,
    mut rx: mpsc::UnboundedReceiver<Job>,
    gather: &Gather,
    key: &AuditKeySlot,
) {
    *gather.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::thread::current());
    let conn = match open_lite(path) {
        Ok(c) => c,
        Err(e) => {
            let e = ApiError::from(e);
            while let Some(job) = rx.blocking_recv() {
                (job.finish)(Some(e.clone()));
            }
            return;
        }
    };
    let mut conn = Some(conn);
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        let deadline = Instant::now() + gather.wait();
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => {
                    jobs.push(j);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if now >= deadline || !gather.expecting() {
                break;
            }
            // Park until a job is queued or an announcement ends (both
            // nudge), or the deadline. `parked` is set before the queue is
            // looked at again, so no nudge is missed.
            gather.parked.store(true, Ordering::SeqCst);
            if rx.is_empty() && gather.expecting() {
                std::thread::park_timeout(deadline - now);
            }
            gather.parked.store(false, Ordering::SeqCst);
        }
        gather.counted(jobs.len());
        let Some(c) = conn.take() else {
            // The connection was lost with a batch that panicked.
            let e = ApiError::internal("the SQLite writer's connection is gone");
            for job in jobs {
                (job.finish)(Some(e.clone()));
            }
            continue;
        };
        conn = run_lite_batch(c, jobs, current_key(key));
    }
}

/// The writer connection's page cache, in KiB.
const WRITER_CACHE_KIB: u32 = 64 * 1024;
/// WAL pages after which a commit checkpoints (SQLite's default: 1000).
const WAL_CHECKPOINT_PAGES: u32 = 10_000;

/// Opens the writer thread's connection: the pragmas of the sqlx pools,
/// and three of its own.
fn open_lite(path: &str) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
    // - cache_size: only this connection writes, so its page cache stays
    //   valid from one commit to the next (a reader's is dropped at every
    //   commit); let it hold the hot tables and indexes instead of
    //   re-reading them (the default is 2 MiB).
    // - wal_autocheckpoint: a page written by many commits is copied to the
    //   database file once per checkpoint, so a longer WAL copies fewer
    //   pages in all. The WAL grows to about this many 4 KiB pages.
    // - temp_store: a job's savepoint journals the pages it changes; keep
    //   that journal in memory rather than in a temporary file.
    conn.execute_batch(&format!(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; \
         PRAGMA cache_size=-{WRITER_CACHE_KIB}; \
         PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}; PRAGMA temp_store=MEMORY;"
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Runs one batch on the writer thread's connection (`BEGIN IMMEDIATE`,
/// then [`run_jobs`], whose futures are ready at once: every statement
/// runs synchronously on this thread). Gives the connection back.
fn run_lite_batch(
    conn: rusqlite::Connection,
    jobs: Vec<Job>,
    audit_key: Option<Arc<crate::audit::chain::AuditKey>>,
) -> Option<rusqlite::Connection> {
    let (runs, finishes): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .map(|j| ((j.tenant, j.run), j.finish))
        .unzip();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let e = ApiError::from(e);
        for f in finishes {
            f(Some(e.clone()));
        }
        return Some(conn);
    }
    let ctx = JobCtx::new(Backend::Sqlite, Tx::Lite(conn), audit_key);
    block_on(Box::pin(run_jobs(ctx, runs, finishes)))
}

/// Polls a job's future to completion on this thread (futures-executor's
/// `block_on`: the thread parks until woken). On the SQLite writer thread a
/// job's statements run synchronously, so its future is ready at the first
/// poll.
fn block_on<T>(fut: BoxFuture<'_, T>) -> T {
    futures_executor::block_on(fut)
}

#[cfg(test)]
mod tests {
    use crate::db::Db;
    use std::time::{Duration, Instant};

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = crate::db::sqlite_url_for_dir(dir.path()).expect("data dir");
        (dir, Db::connect(&url).await.expect("database"))
    }

    /// Two announced writes, the second queued 50 ms after the first:
    /// how many commits they took.
    async fn commits_for_two(db: &Db) -> u64 {
        let (before, _) = db.commit_stats();
        let (a, b) = (db.announce_write(), db.announce_write());
        let first = db.write_announced(a, None, |_| Box::pin(async { Ok(()) }));
        let second = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            db.write_announced(b, None, |_| Box::pin(async { Ok(()) }))
                .await
        };
        let (x, y) = tokio::join!(first, second);
        x.expect("first write");
        y.expect("second write");
        db.commit_stats().0 - before
    }

    #[tokio::test]
    async fn announced_writes_share_one_commit() {
        let (_dir, db) = db().await;
        db.set_commit_gather(Duration::from_secs(5));
        assert_eq!(commits_for_two(&db).await, 1);
        db.set_commit_gather(Duration::ZERO);
        assert_eq!(commits_for_two(&db).await, 2);
    }

    #[tokio::test]
    async fn a_withdrawn_announcement_ends_the_wait() {
        let (_dir, db) = db().await;
        db.set_commit_gather(Duration::from_secs(30));
        let never = db.announce_write();
        let started = Instant::now();
        let write = db.write_job(None, |_| Box::pin(async { Ok(()) }));
        let withdraw = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(never);
        };
        let (written, ()) = tokio::join!(write, withdraw);
        written.expect("write");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waited {:?}",
            started.elapsed()
        );
        // Nothing announced: no wait at all.
        let started = Instant::now();
        db.write_job(None, |_| Box::pin(async { Ok(()) }))
            .await
            .expect("write");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    /// The writer thread's own connection: durable WAL commits, its large
    /// page cache, the longer checkpoint interval, the in-memory savepoint
    /// journal.
    #[tokio::test]
    async fn the_writer_connection_has_its_pragmas() {
        let (_dir, db) = db().await;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = seen.clone();
        db.write_job(None, move |ctx| {
            Box::pin(async move {
                let super::Conn::Lite(c) = ctx.conn() else {
                    panic!("a file database's writer runs rusqlite");
                };
                let mut values = Vec::new();
                for p in [
                    "journal_mode",
                    "synchronous",
                    "cache_size",
                    "wal_autocheckpoint",
                    "temp_store",
                ] {
                    let v: rusqlite::types::Value =
                        c.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))?;
                    values.push(format!("{p}={v:?}"));
                }
                *out.lock().expect("lock") = values;
                Ok(())
            })
        })
        .await
        .expect("job");
        let expected = [
            "journal_mode=Text(\"wal\")".to_owned(),
            "synchronous=Integer(2)".to_owned(), // FULL
            format!("cache_size=Integer(-{})", super::WRITER_CACHE_KIB),
            format!(
                "wal_autocheckpoint=Integer({})",
                super::WAL_CHECKPOINT_PAGES
            ),
            "temp_store=Integer(2)".to_owned(), // MEMORY
        ];
        assert_eq!(*seen.lock().expect("lock"), expected);
    }

    /// A tenant of its own (the PostgreSQL test database is shared).
    async fn new_tenant(db: &Db) -> String {
        use crate::store::sql::{args, execute, On};
        let tenant = format!("t-{}", uuid::Uuid::new_v4());
        execute(
            On::Write(db),
            "INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, 0)",
            args![&tenant],
        )
        .await
        .expect("tenant");
        tenant
    }

    /// Three jobs sharing one commit, the middle one failing after its
    /// write: its write is rolled back, alone, and the other two are
    /// stored — on each engine the batch runner drives.
    async fn a_failed_job_is_rolled_back_alone(db: &Db) {
        use crate::store::sql::{args, execute, fetch_all, On};
        db.set_commit_gather(Duration::from_secs(5));
        let tenant = new_tenant(db).await;
        let (before, _) = db.commit_stats();
        let intents: Vec<_> = (0..3).map(|_| db.announce_write()).collect();
        let jobs: Vec<_> = intents.into_iter().enumerate().map(|(i, intent)| {
            let (db, tenant) = (db.clone(), tenant.clone());
            tokio::spawn(async move { db.write_announced(intent, None, move |ctx| {
                Box::pin(async move {
                    execute(
                        On::Job(ctx),
                        "INSERT INTO groups_ (id, tenant_id, display_name, created_at) VALUES ($1, $2, $1, 0)",
                        args![&format!("{tenant}-{i}"), &tenant],
                    )
                    .await?;
                    if i == 1 {
                        return Err(crate::error::ApiError::bad_request("refused"));
                    }
                    Ok(())
                })
            }).await })
        }).collect();
        let mut results = Vec::new();
        for job in jobs {
            results.push(job.await.expect("job task"));
        }
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert_eq!(results[1].as_ref().unwrap_err().message, "refused");
        assert_eq!(db.commit_stats().0 - before, 1, "one shared commit");
        let stored = fetch_all(
            On::Read(db),
            "SELECT id FROM groups_ WHERE tenant_id = $1 ORDER BY id",
            args![&tenant],
            |r| r.text("id"),
        )
        .await
        .expect("read");
        assert_eq!(stored, [format!("{tenant}-0"), format!("{tenant}-2")]);
    }

    /// A job alone in its batch (no savepoint): what it wrote is stored
    /// when it succeeds, and nothing of it when it fails, which it is told.
    async fn a_lone_job_commits_or_leaves_nothing(db: &Db) {
        use crate::store::sql::{args, execute, fetch_all, On};
        db.set_commit_gather(Duration::ZERO);
        let tenant = new_tenant(db).await;
        for (id, fail) in [("kept", false), ("dropped", true)] {
            let (t, id) = (tenant.clone(), format!("{tenant}-{id}"));
            let (before, _) = db.commit_stats();
            let done = db
                .write_job(None, move |ctx| {
                    Box::pin(async move {
                        execute(
                            On::Job(ctx),
                            "INSERT INTO groups_ (id, tenant_id, display_name, created_at) VALUES ($1, $2, $1, 0)",
                            args![&id, &t],
                        )
                        .await?;
                        if fail {
                            return Err(crate::error::ApiError::bad_request("refused"));
                        }
                        Ok(())
                    })
                })
                .await;
            assert_eq!(db.commit_stats().0 - before, 1, "a batch of its own");
            assert_eq!(done.is_err(), fail, "{done:?}");
        }
        let stored = fetch_all(
            On::Read(db),
            "SELECT id FROM groups_ WHERE tenant_id = $1",
            args![&tenant],
            |r| r.text("id"),
        )
        .await
        .expect("read");
        assert_eq!(stored, [format!("{tenant}-kept")]);
    }

    #[tokio::test]
    async fn a_failed_job_is_rolled_back_alone_sqlite_file() {
        let (_dir, db) = db().await;
        a_failed_job_is_rolled_back_alone(&db).await;
        a_lone_job_commits_or_leaves_nothing(&db).await;
    }

    #[tokio::test]
    async fn a_failed_job_is_rolled_back_alone_sqlite_in_memory() {
        let db = Db::connect("sqlite::memory:").await.expect("database");
        a_failed_job_is_rolled_back_alone(&db).await;
        a_lone_job_commits_or_leaves_nothing(&db).await;
    }

    #[tokio::test]
    async fn a_failed_job_is_rolled_back_alone_postgres() {
        let Ok(url) = std::env::var("KEYSMITH_TEST_POSTGRES_URL") else {
            return;
        };
        let db = Db::connect(&url).await.expect("database");
        a_failed_job_is_rolled_back_alone(&db).await;
        a_lone_job_commits_or_leaves_nothing(&db).await;
    }
}

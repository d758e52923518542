//! Keysmith's identity service: the Graph-shaped FIDO2 provisioning API,
//! a small directory (tenants, users, groups, app registrations), the
//! FIDO2 method policy, OAuth client-credential tokens, passkey sign-in and
//! a hash-chained audit trail, over SQLite or PostgreSQL; and the browser
//! pages: the admin center (`/{tenant}/admin`) and end-user sign-in
//! (`/{tenant}/signin`).
//!
//! The server keeps no state outside its database (challenges and the
//! token signing key included), so several instances can share one
//! PostgreSQL. It must never answer a client's mistake with a 5xx, never
//! panic on input, and never log a secret.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod audit;
pub mod backend;
pub mod challenge;
pub mod config;
pub mod db;
pub mod directory;
pub mod error;
pub mod kek;
pub mod listener;
pub mod metrics;
pub mod names;
pub mod paging;
pub mod policy;
pub mod ratelimit;
pub mod registration;
mod routes;
pub mod state;
pub mod store;
pub mod time_util;
pub mod token;
pub mod usecase;
mod web;
pub mod writer;

pub use config::ServerConfig;
pub use db::Db;

use app::AppState;
use registration::Verifier;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// An opened server: database connected and migrated, key loaded.
pub struct Server {
    state: AppState,
}

impl Server {
    /// Opens the database named by `config` and prepares the service.
    pub async fn open(config: ServerConfig) -> anyhow::Result<Server> {
        let verifier = Verifier::from_config(&config)?;
        Self::open_with_verifier(config, verifier).await
    }

    /// As [`Server::open`], with trust anchors and models already set up.
    pub async fn open_with_verifier(
        config: ServerConfig,
        verifier: Verifier,
    ) -> anyhow::Result<Server> {
        let url = config.resolve_database_url()?;
        let kek = Arc::new(config.load_kek(true)?);
        let metrics_token = config.metrics_token()?.map(Arc::new);
        let db = Db::connect(&url)
            .await
            .map_err(|e| anyhow::anyhow!("opening the database: {e}"))?;
        db.set_commit_gather(std::time::Duration::from_micros(config.commit_gather_us));
        let audit_key = Arc::new(audit::AuditKey::from_kek(&kek));
        db.set_audit_key(audit_key.clone());
        let token_keys = token::TokenKeys::load_or_create(&db, kek.clone())
            .await
            .map_err(|e| anyhow::anyhow!("loading the token signing keys: {e}"))?;
        audit::adopt_legacy(&db)
            .await
            .map_err(|e| anyhow::anyhow!("upgrading the audit trail: {}", e.message))?;
        let limits = Arc::new(ratelimit::Limiters::new(&config.rate_limits));
        Ok(Server {
            state: AppState {
                db,
                config: Arc::new(config),
                token_keys,
                verifier: Arc::new(verifier),
                metrics: Arc::default(),
                kek,
                audit_key,
                failures: Arc::default(),
                limits,
                app_status: Default::default(),
                metrics_token,
            },
        })
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// The HTTP routes, for serving on a listener of one's own.
    pub fn router(&self) -> axum::Router {
        app::router(self.state.clone())
    }

    /// Whether the directory has no tenant yet (a new installation).
    pub async fn is_empty(&self) -> bool {
        store::directory::has_tenants(&self.state.db)
            .await
            .is_ok_and(|any| !any)
    }

    /// Serves on `listener` until `shutdown` completes (and `/metrics` on
    /// its own listener when `metrics_listen` is configured), with the
    /// background work: summaries of aggregated failures, periodic audit
    /// checkpoints, key-ring reloads, limiter clean-up.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let background = tokio::spawn(background(state.clone(), stop_rx.clone()));
        let metrics = match &state.config.metrics_listen {
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr).await?;
                tracing::info!("metrics on http://{}", l.local_addr()?);
                let mut stop = stop_rx.clone();
                let router = app::metrics_router(state.clone());
                let limits = state.config.connections.clone();
                Some(tokio::spawn(async move {
                    listener::serve(l, router, &limits, async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await
                }))
            }
            None => None,
        };
        let result = listener::serve(
            listener,
            self.router(),
            &state.config.connections.clone(),
            shutdown,
        )
        .await;
        let _ = stop_tx.send(true);
        let _ = background.await;
        if let Some(m) = metrics {
            let _ = m.await;
        }
        result
    }
}

/// A server running on its own runtime thread (tests, benchmarks). Dropping
/// it stops the server.
pub struct RunningServer {
    addr: SocketAddr,
    db: Db,
    token_keys: token::TokenKeys,
    runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    /// Starts a server for `config` (its `listen` may use port 0).
    pub fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
        let verifier = Verifier::from_config(&config)?;
        Self::start_with_verifier(config, verifier)
    }

    /// As [`RunningServer::start`], with a verifier of the caller's (tests give their own trust anchors).
    pub fn start_with_verifier(
        config: ServerConfig,
        verifier: Verifier,
    ) -> anyhow::Result<RunningServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (server, listener) = handle.block_on(async {
            let listener = tokio::net::TcpListener::bind(&config.listen).await?;
            let server = Server::open_with_verifier(config, verifier).await?;
            anyhow::Ok((server, listener))
        })?;
        let addr = listener.local_addr()?;
        let db = server.db().clone();
        let token_keys = server.state.token_keys.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("keysmith-server-{addr}"))
            .spawn(move || {
                runtime.block_on(async move {
                    if let Err(e) = server
                        .serve(listener, async {
                            let _ = rx.await;
                        })
                        .await
                    {
                        tracing::error!("server stopped: {e}");
                    }
                });
            })?;
        Ok(RunningServer {
            addr,
            db,
            token_keys,
            runtime: handle,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The server's token signing keys (tests mint tokens with them).
    pub fn token_keys(&self) -> &token::TokenKeys {
        &self.token_keys
    }

    /// Runs a future on the server's runtime (admin calls from tests).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The server's periodic work, until `stop`.
async fn background(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    use std::time::{Duration, Instant};
    let checkpoint_every = Duration::from_secs(state.config.audit_checkpoint_minutes * 60);
    let mut last_checkpoint = Instant::now();
    let mut last_reload = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        for ev in state.failures.take_summaries(stopping) {
            if let Err(e) = audit::record(&state.db, ev.as_event()).await {
                tracing::warn!("recording a failure summary: {}", e.message);
            }
        }
        if stopping {
            return;
        }
        if !checkpoint_every.is_zero() && last_checkpoint.elapsed() >= checkpoint_every {
            last_checkpoint = Instant::now();
            match audit::checkpoint_all(&state.db).await {
                Ok(n) if n > 0 => tracing::info!("{n} audit checkpoint(s) written"),
                Ok(_) => {}
                Err(e) => tracing::warn!("audit checkpoints: {}", e.message),
            }
        }
        if last_reload.elapsed() >= Duration::from_secs(30) {
            last_reload = Instant::now();
            if let Err(e) = state.token_keys.reload(&state.db).await {
                tracing::warn!("reloading the token signing keys: {e}");
            }
            state.limits.shrink();
        }
    }
}

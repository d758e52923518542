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

#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod audit;
pub mod challenge;
pub mod config;
pub mod db;
pub mod directory;
pub mod error;
pub mod methods;
pub mod metrics;
pub mod policy;
pub mod registration;
mod routes;
pub mod time_util;
pub mod token;
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
        let db = Db::connect(&url)
            .await
            .map_err(|e| anyhow::anyhow!("opening the database: {e}"))?;
        db.set_commit_gather(std::time::Duration::from_micros(config.commit_gather_us));
        let token_key = token::TokenKey::load_or_create(&db)
            .await
            .map_err(|e| anyhow::anyhow!("loading the token signing key: {e}"))?;
        Ok(Server {
            state: AppState {
                db,
                config: Arc::new(config),
                token_key,
                verifier: Arc::new(verifier),
                metrics: Arc::default(),
            },
        })
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    pub fn router(&self) -> axum::Router {
        app::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum::serve::ListenerExt;
        // Answers go out as soon as they are written (no Nagle delay
        // behind an unacknowledged segment of the same connection).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY: {e}");
            }
        });
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// A server running on its own runtime thread (tests, benchmarks). Dropping
/// it stops the server.
pub struct RunningServer {
    addr: SocketAddr,
    db: Db,
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
            runtime: handle,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn db(&self) -> &Db {
        &self.db
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

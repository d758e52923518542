//! The accept loop: HTTP/1.1 connections served by hyper with the limits a
//! server facing the internet needs against slow clients (slowloris):
//!
//! - the headers of a request must arrive within `header_read_timeout`,
//!   counted from when the server starts waiting for them — so a
//!   connection that sends nothing, half the headers, or idles between
//!   keep-alive requests is closed;
//! - a connection that moves no byte either way for `idle_timeout` is
//!   closed (a stalled body, a client that does not read its answer);
//! - a request body must arrive within `body_read_timeout` (the router's
//!   layer, [`crate::app`]);
//! - at most `max_connections` are served at once; more wait in the
//!   kernel's listen queue.
//!
//! Each request carries its TCP peer address ([`PeerAddr`]) for rate
//! limits. TCP_NODELAY is set on every connection.

use crate::config::ConnectionLimits;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The TCP peer of the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish (for at most 30 s).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs.max(1)));
    let idle = Duration::from_secs(limits.idle_timeout_secs.max(1));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
        let mut timed = tokio_io_timeout::TimeoutStream::new(tcp);
        timed.set_read_timeout(Some(idle));
        timed.set_write_timeout(Some(idle));
        let io = TokioIo::new(Box::pin(timed));
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(PeerAddr(peer));
                router.clone().oneshot(req)
            });
        let conn = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("stopping with connections still open after 30 s");
    }
    Ok(())
}

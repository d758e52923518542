//! A small HTTP/1.1 load generator for `keysmith bench`.
//!
//! Like `wrk` or `oha`, it keeps a fixed number of keep-alive connections
//! busy from one event loop (a single-threaded tokio runtime on the calling
//! thread) instead of one blocking client thread per connection, so the
//! client takes little of the CPU that the server is being measured on.
//! It uses hyper's connection-level HTTP/1.1 client, the same layer `oha`
//! is built on. Requests are built beforehand; only sending them, checking
//! the status and draining the response body are timed.

use anyhow::{anyhow, Context};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Instant;

/// One request of a timed phase: a POST of a JSON body to `path`.
#[derive(Debug, Clone)]
pub struct Shot {
    pub path: String,
    pub body: Bytes,
}

/// Sends every shot once over `connections` keep-alive connections to
/// `addr`, connection `c` sending the shots `i` with `i % connections == c`
/// in order, each waiting for the previous answer. Every answer must have
/// status `expect`; the first that does not ends the run with its status
/// and body. Returns shots per second and their number.
pub fn fire(
    addr: SocketAddr,
    connections: usize,
    bearer: Option<&str>,
    shots: &[Shot],
    expect: u16,
) -> anyhow::Result<(f64, usize)> {
    let connections = connections.clamp(1, shots.len().max(1));
    let host = HeaderValue::from_str(&addr.to_string())?;
    let auth = bearer
        .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
        .transpose()
        .context("token is not a valid header value")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // Connect everything first, so connection set-up is not timed.
        let mut senders = Vec::with_capacity(connections);
        for _ in 0..connections {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .with_context(|| format!("connecting to {addr}"))?;
            stream.set_nodelay(true)?;
            let (sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            senders.push(sender);
        }
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (c, mut sender) in senders.into_iter().enumerate() {
            let shots = shots
                .iter()
                .skip(c)
                .step_by(connections)
                .cloned()
                .collect::<Vec<_>>();
            let (host, auth) = (host.clone(), auth.clone());
            tasks.spawn(async move {
                for shot in shots {
                    sender.ready().await?;
                    let mut req = hyper::Request::post(shot.path.as_str())
                        .header(HOST, host.clone())
                        .header(CONTENT_TYPE, "application/json")
                        .body(Full::new(shot.body))?;
                    if let Some(a) = &auth {
                        req.headers_mut().insert(AUTHORIZATION, a.clone());
                    }
                    let resp = sender.send_request(req).await?;
                    let status = resp.status().as_u16();
                    // Drained either way, so the connection can be reused.
                    let body = resp.into_body().collect().await?.to_bytes();
                    if status != expect {
                        return Err(anyhow!(
                            "POST {}: {status} {}",
                            shot.path,
                            String::from_utf8_lossy(&body)
                        ));
                    }
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| anyhow!("a load task failed: {e}"))??;
        }
        Ok((
            shots.len() as f64 / start.elapsed().as_secs_f64(),
            shots.len(),
        ))
    })
}

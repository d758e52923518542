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
    /// The request path (and query), e.g. `/v1.0/users/{id}/…`.
    pub path: String,
    /// The JSON body, sent as is.
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

/// Which load generator drives the HTTP phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Generator {
    /// The one above, in this process.
    Builtin,
    /// `wrk` (an independent load generator, in its own process; its CPU
    /// time is then not in the process's figures), with a Lua script that
    /// sends each pre-built request once.
    Wrk,
}

/// The Lua side of [`fire_wrk`]: reads the requests file (the
/// `Authorization` value, the expected status, then one `path<TAB>body`
/// per line), sends each request once, and counts the answers. When every
/// request has been sent, the connections still asking get a cheap request
/// that answers 405 (`DELETE /healthz`), which is not counted. At the last
/// answer it writes the marker file; at the end it prints one result line.
const WRK_SCRIPT: &str = r#"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  reqs, n, sent, ok, bad, first_bad = {}, 0, 0, 0, 0, ""
  marker = args[2]
  local lines = io.lines(args[1])
  local auth = lines()
  expect = tonumber(lines())
  for line in lines do
    local path, body = line:match("^([^\t]*)\t(.*)$")
    local headers = { ["Content-Type"] = "application/json" }
    if auth ~= "" then headers["Authorization"] = auth end
    n = n + 1
    reqs[n] = wrk.format("POST", path, headers, body)
  end
  spare = wrk.format("DELETE", "/healthz")
end
function request()
  -- wrk calls this once before the run to check the request (wrk.c,
  -- script_verify_request), and drops what it gets: give it the spare.
  if not checked then checked = true; return spare end
  sent = sent + 1
  if sent <= n then return reqs[sent] end
  return spare
end
function response(status, headers, body)
  if status == 405 then return end
  if status == expect then ok = ok + 1 else
    bad = bad + 1
    if first_bad == "" then first_bad = status .. " " .. body end
  end
  if ok + bad >= n and not finished then
    -- wrk's main thread sleeps for the whole -d duration: tell the bench,
    -- which interrupts it (SIGINT) and so ends the run.
    finished = true
    local f = assert(io.open(marker, "w"))
    f:write("done\n")
    f:close()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local t = threads[1]
  io.write(string.format("keysmith-wrk ok=%d bad=%d first_bad=%s\n",
    t:get("ok"), t:get("bad"), (t:get("first_bad"):gsub("\n", " "))))
end
"#;

/// Like [`fire`], but with `wrk` (which must be on `PATH`) as the load
/// generator, one wrk thread keeping `connections` connections busy.
/// The rate is the requests over the time from starting wrk to the last
/// answer (so wrk's start-up counts against it).
pub fn fire_wrk(
    addr: SocketAddr,
    connections: usize,
    bearer: Option<&str>,
    shots: &[Shot],
    expect: u16,
) -> anyhow::Result<(f64, usize)> {
    let dir = tempfile::tempdir()?;
    // The token and the expected status lead the file (not the command
    // line, where other users could read the token).
    let mut lines = format!(
        "{}\n{expect}\n",
        bearer.map(|t| format!("Bearer {t}")).unwrap_or_default()
    );
    for shot in shots {
        let body = std::str::from_utf8(&shot.body).context("request body is not UTF-8")?;
        anyhow::ensure!(
            !shot.path.contains(['\t', '\n']) && !body.contains(['\t', '\n']),
            "a request has a tab or newline, which the wrk script cannot read"
        );
        lines.push_str(&format!("{}\t{body}\n", shot.path));
    }
    let requests = dir.path().join("requests.tsv");
    let script = dir.path().join("send-each-once.lua");
    // 0600: the file holds the token.
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    std::io::Write::write_all(&mut file.open(&requests)?, lines.as_bytes())?;
    std::fs::write(&script, WRK_SCRIPT)?;
    let marker = dir.path().join("finished");
    let started = Instant::now();
    let mut child = std::process::Command::new("wrk")
        .args(["-t", "1", "-c", &connections.max(1).to_string()])
        .args(["-d", "600s", "--timeout", "60s", "-s"])
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg("--")
        .arg(&requests)
        .arg(&marker)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running wrk (is it installed? Debian: apt-get install wrk)")?;
    // Every request answered once the script writes the marker; wrk itself
    // would run on for all of -d, so it is interrupted then.
    let (mut elapsed, mut exited) = (None, false);
    while elapsed.is_none() && !exited {
        std::thread::sleep(std::time::Duration::from_millis(1));
        if marker.exists() {
            elapsed = Some(started.elapsed());
        } else {
            exited = child.try_wait()?.is_some(); // an error, or -d ran out
        }
    }
    if !exited {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
    }
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "wrk failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        stdout
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("keysmith-wrk "))
        .with_context(|| format!("no result line from the wrk script in: {stdout}"))?;
    let field = |name: &str| {
        line.split(' ')
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("")
    };
    let ok: usize = field("ok").parse().context("wrk result: ok")?;
    let bad: usize = field("bad").parse().context("wrk result: bad")?;
    if bad > 0 || ok != shots.len() {
        let first_bad = line.split_once("first_bad=").map_or("", |(_, b)| b);
        return Err(anyhow!(
            "wrk: {ok} of {} answered {expect}, {bad} not; first: {first_bad}",
            shots.len()
        ));
    }
    let elapsed = elapsed.context("wrk ended before every request was answered")?;
    Ok((ok as f64 / elapsed.as_secs_f64(), ok))
}

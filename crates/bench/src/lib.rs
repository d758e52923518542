//! `keysmith bench`: throughput measurements without fuzzing or criterion.
//!
//! `bench server` measures, in one run and with the same number of
//! threads: raw ES256 verifications/s, verifier-only registrations/s,
//! HTTP registrations/s against an in-process server on SQLite, and HTTP
//! passkey sign-ins/s — each also as a ratio to the raw verify rate.
//! Attestations and assertions are produced beforehand by an in-process
//! virtual key, so only the server side is timed.

#![warn(missing_docs)]

pub mod load;
pub mod verify;

use anyhow::{anyhow, Context};
use authenticator::serve::InProcessKeyHandle;
use authenticator::{Authenticator, AuthenticatorConfig, HidDevice, PresenceSettings};
use ctap::transport::inproc::InProcessTransport;
use ctap::Ctap2Client;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use webauthn::graph::CreationOptionsResponse;
use webauthn::signin::{BeginRequest, BeginResponse};

/// Measure Keysmith's throughput.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BenchCommand {
    /// Server throughput: raw ES256 verify, verifier-only registration,
    /// HTTP registration and HTTP sign-in (on SQLite, or on --database).
    Server(ServerBenchArgs),
    /// The WebAuthn verifier alone on real corpus registrations (packed
    /// x5c YubiKey, TPM, none), one thread, path cache warm and cold,
    /// beside raw ES256; `scripts/bench-peers` sets peers beside it.
    Verify(verify::VerifyBenchArgs),
}

#[derive(Debug, clap::Args)]
struct ServerBenchArgs {
    /// Threads of the CPU-only phases (raw verify, verifier only);
    /// default: one per CPU.
    #[arg(long, value_parser = at_least_one)]
    threads: Option<usize>,
    /// Keep-alive connections the HTTP phases keep busy, each with one
    /// request in flight (the load generator is one event loop, like wrk
    /// or oha). Every request waits for its commit's flush, so it takes
    /// dozens in flight to keep every core of the server busy (the CPU
    /// ratio shows how close the rate ratio is to that).
    #[arg(long, default_value_t = 64, value_parser = at_least_one)]
    connections: usize,
    /// The load generator of the HTTP phases.
    #[arg(long, value_enum, default_value_t = load::Generator::Builtin)]
    load_generator: load::Generator,
    /// Registrations (and sign-ins) to pre-generate and send.
    #[arg(long, default_value_t = 400, value_parser = at_least_one)]
    count: usize,
    /// Seconds for each CPU-only measurement.
    #[arg(long, default_value_t = 2.0, value_parser = seconds)]
    seconds: f64,
    /// The server's `commit_gather_us` (longest wait of the group commit
    /// for announced writes; 0: none).
    #[arg(long, default_value_t = server::writer::GATHER_WAIT.as_micros() as u64)]
    commit_gather_us: u64,
    /// Run the HTTP phases on this database (`postgres://…`, or a
    /// `sqlite://…` file) instead of a SQLite database in a temporary
    /// directory. The bench adds a tenant of its own (`bench-<random>`),
    /// its app and users, and leaves them there.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// With --database: the key-encryption key file the database's signing
    /// keys are sealed with (as for `keysmith serve`; created if missing).
    /// Default: KEYSMITH_KEK_FILE; KEYSMITH_KEK (the key itself) wins. The
    /// variable is read only with --database, so one exported for
    /// `keysmith serve` does not stop a bench on its own SQLite.
    #[arg(long, value_name = "FILE", requires = "database")]
    kek_file: Option<std::path::PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a whole number, at least 1".into()),
    }
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 3600.0 => Ok(x),
        _ => Err("must be a number of seconds above 0 and at most 3600".into()),
    }
}

/// Runs `keysmith bench …`: prints each phase's rate and ratios (or one
/// JSON object with `--json`); fails if a phase's requests are not all
/// answered as expected.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        BenchCommand::Server(a) => server(a),
        BenchCommand::Verify(a) => verify::run(a),
    }
}

const RP_ID: &str = "bench.keysmith.test";
const PIN: &str = "246810";
const ROLES: &str = "UserAuthenticationMethod.ReadWrite.All";

/// The name and the CPU time used so far (user and system) in a
/// `/proc/…/stat` line: the name is in parentheses, and utime and stime
/// are the 12th and 13th fields after it, in USER_HZ (100 on Linux) ticks.
fn stat_cpu(stat: &str) -> Option<(&str, Duration)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let mut fields = stat.get(close + 2..)?.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((
        &stat[open + 1..close],
        Duration::from_millis((utime + stime) * 10),
    ))
}

/// CPU time used so far by this whole process (every thread), from
/// `/proc/self/stat`; `None` where that file does not exist.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    stat_cpu(&stat).map(|(_, used)| used)
}

/// CPU time used so far by each live thread of this process, by thread
/// id, with the thread's name (tokio's server workers, the SQLite writer,
/// the load generator on the main thread, …); empty where `/proc` does not
/// exist.
fn thread_cpu() -> BTreeMap<u32, (String, Duration)> {
    let mut threads = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return threads;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // Unreadable once the thread has exited.
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if let Some((name, used)) = stat_cpu(&stat) {
            threads.insert(tid, (name.to_owned(), used));
        }
    }
    threads
}

/// CPU time used so far by every process of this host whose name starts
/// with `postgres` (the postmaster, its backends and background workers:
/// each backend names itself so), from `/proc/<pid>/stat`, which any user
/// may read. A backend that exits during a phase takes its time with it;
/// the bench's connections stay open throughout. `None` where `/proc`
/// does not exist.
fn local_postgres_cpu() -> Option<Duration> {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        // Gone, or not ours to read: skipped.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((comm, used)) = stat_cpu(&stat) {
            if comm.starts_with("postgres") {
                total += used;
            }
        }
    }
    Some(total)
}

/// Whether `url` is a PostgreSQL database on this host (loopback address,
/// `localhost` or a Unix socket), whose processes' CPU the bench can read.
fn postgres_on_this_host(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return false;
    }
    match parsed.host() {
        None => true,
        // A scheme the URL standard does not know keeps its host as text,
        // addresses included.
        Some(url::Host::Domain(d)) => {
            d == "localhost" || d.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
        }
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
    }
}

/// A measured phase: operations per second, process CPU time (all
/// threads: server, client, writer) per operation, that time split by
/// thread name, and the CPU time per operation of a database server on
/// this host, when there is one to read.
struct Phase {
    rate: f64,
    cpu_per_op: Option<Duration>,
    by_thread: BTreeMap<String, Duration>,
    db_cpu_per_op: Option<Duration>,
}

impl Phase {
    /// CPU time per operation on this host: this process's and the local
    /// database server's.
    fn host_cpu_per_op(&self) -> Option<Duration> {
        Some(self.cpu_per_op? + self.db_cpu_per_op.unwrap_or_default())
    }

    /// The rate with every one of `cores` busy at this CPU time per
    /// operation — the ceiling of this machine for the phase as built.
    fn ceiling(&self, cores: usize) -> Option<f64> {
        let per_op = self.host_cpu_per_op()?;
        (!per_op.is_zero()).then(|| cores as f64 / per_op.as_secs_f64())
    }

    /// The share of `cores` the phase kept busy (this process and the
    /// local database server).
    fn cores_busy(&self, cores: usize) -> Option<f64> {
        Some(self.rate * self.host_cpu_per_op()?.as_secs_f64() / cores as f64)
    }
}

/// Runs `f`, which performs some operations and returns their rate and
/// count, and accounts the process's CPU time to them.
fn measured(f: impl FnOnce() -> anyhow::Result<(f64, usize)>) -> anyhow::Result<Phase> {
    measured_with(None, f)
}

/// [`measured`], also accounting the CPU time that `db_cpu` reads (the
/// local database server's) to the operations.
fn measured_with(
    db_cpu: Option<fn() -> Option<Duration>>,
    f: impl FnOnce() -> anyhow::Result<(f64, usize)>,
) -> anyhow::Result<Phase> {
    let db_before = db_cpu.and_then(|read| read());
    let (before, threads_before) = (process_cpu(), thread_cpu());
    let (rate, ops) = f()?;
    let cpu_per_op = match (before, process_cpu()) {
        (Some(b), Some(a)) if ops > 0 => Some(a.saturating_sub(b) / ops as u32),
        _ => None,
    };
    let db_cpu_per_op = match (db_before, db_cpu.and_then(|read| read())) {
        (Some(b), Some(a)) if ops > 0 => Some(a.saturating_sub(b) / ops as u32),
        _ => None,
    };
    // Each thread's own difference (a thread that exited meanwhile is not
    // counted), summed by name.
    let mut by_thread = BTreeMap::new();
    for (tid, (name, used)) in thread_cpu() {
        let earlier = threads_before.get(&tid).map_or(Duration::ZERO, |t| t.1);
        *by_thread.entry(name).or_insert(Duration::ZERO) += used.saturating_sub(earlier);
    }
    by_thread.retain(|_, d| !d.is_zero());
    if ops > 0 {
        by_thread.values_mut().for_each(|d| *d /= ops as u32);
    }
    Ok(Phase {
        rate,
        cpu_per_op,
        by_thread,
        db_cpu_per_op,
    })
}

/// Runs `work(i)` on `threads` threads for `seconds`; operations per second
/// and their number.
fn rate_for(threads: usize, seconds: f64, work: impl Fn(usize) + Sync) -> (f64, usize) {
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    work(done.fetch_add(1, Ordering::Relaxed));
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    let n = done.load(Ordering::Relaxed);
    (n as f64 / start.elapsed().as_secs_f64(), n)
}

struct Key {
    client: Ctap2Client<InProcessTransport>,
    root_pem: String,
    _key: InProcessKeyHandle,
}

impl Key {
    fn new() -> anyhow::Result<Key> {
        let key = Authenticator::open(
            AuthenticatorConfig {
                reset_window: None,
                capacity: 100_000,
                ..Default::default()
            },
            None,
        )?;
        let root_pem = key.attestation_root_pem().to_owned();
        let mut handle =
            InProcessKeyHandle::spawn(HidDevice::new(key, PresenceSettings::default()));
        let mut client = Ctap2Client::open(handle.transport())?;
        client.set_pin(PIN)?;
        Ok(Key {
            client,
            root_pem,
            _key: handle,
        })
    }

    /// (registration body, clientDataJSON, attestationObject, challenge),
    /// through the WebAuthn client layer; non-discoverable, so the key's
    /// slots never run out.
    fn register(&mut self, options: &Value) -> anyhow::Result<(Value, Vec<u8>, Vec<u8>, String)> {
        let o: CreationOptionsResponse = serde_json::from_value(options.clone())?;
        let reg = client::make_credential(
            &mut self.client,
            &o.public_key,
            &client::RegistrationParams {
                pin: Some(PIN),
                discoverable: Some(false),
                ..Default::default()
            },
        )?;
        let body = serde_json::to_value(reg.register_request(Some("bench")))?;
        Ok((
            body,
            reg.client_data_json,
            reg.attestation_object,
            o.public_key.challenge,
        ))
    }

    fn sign_in(&mut self, begin: &Value) -> anyhow::Result<Value> {
        let b: BeginResponse = serde_json::from_value(begin.clone())?;
        let a = client::answer_request(&mut self.client, &b.public_key, None, Some(PIN))?;
        Ok(serde_json::to_value(a.finish_request(&b.flow_id))?)
    }
}

fn http(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = agent.request(method, url);
    if !token.is_empty() {
        req = req.set("Authorization", &format!("Bearer {token}"));
    }
    let r = match body {
        Some(b) => req.send_json(b.clone()),
        None => req.call(),
    };
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(anyhow!("{url}: {e}")),
    };
    let status = r.status();
    Ok((status, r.into_json().unwrap_or(Value::Null)))
}

fn server(a: ServerBenchArgs) -> anyhow::Result<ExitCode> {
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let connections = a.connections;
    // A multiple of `connections` (see the sign-in timing), and enough
    // users that one user's allowCredentials list stays small for the key.
    let users = connections * (4 + a.count / (connections * 16));
    eprintln!(
        "bench: {threads} verify threads, {connections} connections, {} registrations and sign-ins, {users} users",
        a.count
    );

    // 1. Raw ES256 verification on aws-lc-rs, the verifier's backend (the
    // reference), and on RustCrypto's p256 (the backend before issue 31),
    // same key, message and signature.
    use p256::ecdsa::signature::{Signer, Verifier};
    let sk = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
    let msg = [7u8; 69];
    let sig: p256::ecdsa::Signature = sk.sign(&msg);
    let der = sig.to_der();
    let vk = *sk.verifying_key();
    let point = vk.to_encoded_point(false);
    let raw_verify = || {
        measured(|| {
            Ok(rate_for(threads, a.seconds, |_| {
                // A fresh parse each time, as the verifier does per request.
                aws_lc_rs::signature::UnparsedPublicKey::new(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
                    point.as_bytes(),
                )
                .verify(&msg, der.as_bytes())
                .expect("valid signature");
            }))
        })
    };
    let rustcrypto_verify = || {
        measured(|| {
            Ok(rate_for(threads, a.seconds, |_| {
                vk.verify(&msg, &sig).expect("valid signature");
            }))
        })
    };
    let rustcrypto = rustcrypto_verify()?;
    // Measured before and after the other phases; their mean is the
    // reference (a shared machine's speed drifts during a run).
    let raw_before = raw_verify()?;

    // Server on SQLite in a temporary directory, or on --database.
    let mut key = Key::new()?;
    let dir = tempfile::tempdir()?;
    let (data_dir, kek_file) = match &a.database {
        None => (Some(dir.path().join("data")), None),
        Some(_) => (
            None,
            Some(
                a.kek_file
                    .clone()
                    .or_else(|| std::env::var_os("KEYSMITH_KEK_FILE").map(Into::into))
                    .unwrap_or_else(|| dir.path().join("bench.kek")),
            ),
        ),
    };
    // A tenant of its own: a shared database may hold earlier runs'.
    let tenant = match &a.database {
        None => "bench".to_owned(),
        Some(_) => format!("bench-{}", uuid::Uuid::new_v4().simple()),
    };
    let config = server::ServerConfig {
        listen: "127.0.0.1:0".into(),
        data_dir,
        database_url: a.database.clone(),
        key_encryption_key_file: kek_file,
        rp_id: RP_ID.into(),
        trust_anchors_pem: vec![key.root_pem.clone()],
        commit_gather_us: a.commit_gather_us,
        // The load generator is one address: limits meant for strangers
        // would throttle it.
        rate_limits: server::config::RateLimits {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let srv = server::RunningServer::start(config)?;
    let base = srv.url();
    let (app, upns) = srv.block_on(async {
        server::admin::create_tenant(srv.db(), &tenant, Some(RP_ID), None).await?;
        let app =
            server::admin::create_app(srv.db(), &tenant, "bench", &[ROLES.to_owned()]).await?;
        let mut upns = Vec::new();
        for i in 0..users {
            upns.push(
                server::admin::create_user(srv.db(), &tenant, &format!("user{i}@bench.test"), "")
                    .await?
                    .user_principal_name,
            );
        }
        anyhow::Ok((app, upns))
    })?;
    let agent = ureq::AgentBuilder::new().build();
    let token: String = agent
        .post(&format!("{base}/{tenant}/oauth2/v2.0/token"))
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", app.secret()),
        ])?
        .into_json::<Value>()?["access_token"]
        .as_str()
        .context("no token")?
        .to_owned();

    // Pre-generate registrations (not timed).
    eprintln!("bench: generating registrations");
    let mut regs = Vec::with_capacity(a.count);
    for i in 0..a.count {
        let upn = &upns[i % users];
        let (s, options) = http(
            &agent,
            "GET",
            &format!("{base}/v1.0/users/{upn}/authentication/fido2Methods/creationOptions"),
            &token,
            None,
        )?;
        anyhow::ensure!(s == 200, "creationOptions: {s} {options}");
        let (body, cd, att, challenge) = key.register(&options)?;
        let shot = load::Shot {
            path: format!("/v1.0/users/{upn}/authentication/fido2Methods"),
            body: body.to_string().into(),
        };
        regs.push((shot, cd, att, challenge));
    }

    // 2. Verifier only.
    let trust = {
        let mut t = webauthn::TrustStore::new();
        t.add_pem(&key.root_pem).map_err(|e| anyhow!("{e}"))?;
        t
    };
    let origins = vec![format!("https://{RP_ID}")];
    let policy = webauthn::RegistrationPolicy {
        require_user_verification: true,
        require_trusted_attestation: true,
        ..Default::default()
    };
    let verifier_only = measured(|| {
        Ok(rate_for(threads, a.seconds, |i| {
            let (_, cd, att, challenge) = &regs[i % regs.len()];
            let input = webauthn::RegistrationInput {
                client_data_json: cd,
                attestation_object: att,
                expected_challenge: challenge,
                expected_origins: &origins,
                rp_id: RP_ID,
            };
            webauthn::verify_registration(&input, &policy, &trust, time::OffsetDateTime::now_utc())
                .expect("pre-generated registration verifies");
        }))
    })?;

    // 3. HTTP registrations.
    eprintln!("bench: timing HTTP registrations");
    let shots: Vec<load::Shot> = regs.iter().map(|r| r.0.clone()).collect();
    let fire = match a.load_generator {
        load::Generator::Builtin => load::fire,
        load::Generator::Wrk => load::fire_wrk,
    };
    // PostgreSQL on this host: its processes' CPU counts to each phase too
    // (SQLite's work is in this process already).
    let db_cpu: Option<fn() -> Option<Duration>> = a
        .database
        .as_deref()
        .filter(|url| postgres_on_this_host(url))
        .map(|_| local_postgres_cpu as fn() -> Option<Duration>);
    // Writes per group commit in each phase (the writer's own counts).
    let writes_per_commit = |before: (u64, u64), after: (u64, u64)| {
        let (commits, jobs) = (after.0 - before.0, after.1 - before.1);
        (commits > 0).then(|| jobs as f64 / commits as f64)
    };
    let before = srv.db().commit_stats();
    let reg = measured_with(db_cpu, || {
        fire(srv.addr(), connections, Some(&token), &shots, 201)
    })?;
    let reg_batching = writes_per_commit(before, srv.db().commit_stats());

    // 4. Sign-ins: pre-generated so each user's assertions are finished in
    // order by one thread (the key's counter is global and increasing).
    eprintln!("bench: generating sign-ins");
    let mut finishes = Vec::with_capacity(a.count);
    for i in 0..a.count {
        let upn = &upns[i % users];
        let (s, begin) = http(
            &agent,
            "POST",
            &format!("{base}/{tenant}/passkey/signin/begin"),
            "",
            Some(&serde_json::to_value(BeginRequest {
                user_principal_name: Some(upn.clone()),
            })?),
        )?;
        anyhow::ensure!(s == 200, "begin: {s} {begin}");
        finishes.push(load::Shot {
            path: format!("/{tenant}/passkey/signin/finish"),
            body: key.sign_in(&begin)?.to_string().into(),
        });
    }
    eprintln!("bench: timing HTTP sign-ins");
    // users % connections == 0, so with the built-in generator every
    // sign-in of a user goes, in order, over the same connection. wrk sends
    // in list order over whichever connection is free; a user's next
    // sign-in comes `users` (≥ 4 × connections) requests later, by when the
    // one before has been answered in practice. If not, its counter
    // regresses and the phase fails with that answer, not a wrong figure.
    let before = srv.db().commit_stats();
    let signin = measured_with(db_cpu, || {
        fire(srv.addr(), connections, None, &finishes, 200)
    })?;
    let signin_batching = writes_per_commit(before, srv.db().commit_stats());
    drop(srv);
    let raw_after = raw_verify()?;
    let raw = (raw_before.rate + raw_after.rate) / 2.0;
    let raw_cpu = match (raw_before.cpu_per_op, raw_after.cpu_per_op) {
        (Some(b), Some(a)) => Some((b + a) / 2),
        _ => None,
    };
    let micros = |p: &Phase| p.cpu_per_op.map(|d| d.as_secs_f64() * 1e6);
    let db_micros = |p: &Phase| p.db_cpu_per_op.map(|d| (d.as_secs_f64() * 1e6).round());
    // The machine's cores (the HTTP phases' server, writer, load generator
    // and a local database all share them).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // CPU per raw verify over CPU per operation: the rate ratio the phase
    // would reach with every core busy and nothing else on the machine.
    let cpu_ratio = |p: &Phase| match (raw_cpu, p.cpu_per_op) {
        (Some(r), Some(c)) if !c.is_zero() => Some(r.as_secs_f64() / c.as_secs_f64()),
        _ => None,
    };
    let (raw_before, raw_after) = (raw_before.rate, raw_after.rate);
    let by_thread = |p: &Phase| -> serde_json::Map<String, Value> {
        p.by_thread
            .iter()
            .map(|(name, d)| (name.clone(), json!((d.as_secs_f64() * 1e6).round())))
            .collect()
    };

    let report = json!({
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "threads": threads,
        "connections": connections,
        "loadGenerator": clap::ValueEnum::to_possible_value(&a.load_generator)
            .map(|v| v.get_name().to_owned()),
        "count": a.count,
        "commitGatherMicros": a.commit_gather_us,
        "database": if a.database.as_deref().is_some_and(|u| u.starts_with("postgres")) {
            "postgres"
        } else {
            "sqlite"
        },
        "rawEs256VerifyPerSec": raw.round(),
        "rawEs256VerifyPerSecBefore": raw_before.round(),
        "rawEs256VerifyPerSecAfter": raw_after.round(),
        "rawEs256VerifyBackend": "aws-lc-rs",
        "rawEs256VerifyRustCryptoP256PerSec": rustcrypto.rate.round(),
        "verifierRegistrationsPerSec": verifier_only.rate.round(),
        "httpRegistrationsPerSec": reg.rate.round(),
        "httpSignInsPerSec": signin.rate.round(),
        "ratios": {
            "verifierRegistration": verifier_only.rate / raw,
            "httpRegistration": reg.rate / raw,
            "httpSignIn": signin.rate / raw,
        },
        "cpuMicrosPerOp": {
            "rawEs256Verify": raw_cpu.map(|d| d.as_secs_f64() * 1e6),
            "verifierRegistration": micros(&verifier_only),
            "httpRegistration": micros(&reg),
            "httpSignIn": micros(&signin),
        },
        "cpuRatios": {
            "verifierRegistration": cpu_ratio(&verifier_only),
            "httpRegistration": cpu_ratio(&reg),
            "httpSignIn": cpu_ratio(&signin),
        },
        "writesPerCommit": {
            "httpRegistration": reg_batching,
            "httpSignIn": signin_batching,
        },
        "cpuMicrosPerOpByThread": {
            "httpRegistration": by_thread(&reg),
            "httpSignIn": by_thread(&signin),
        },
        "databaseCpuMicrosPerOp": {
            "httpRegistration": db_micros(&reg),
            "httpSignIn": db_micros(&signin),
        },
        "cores": cores,
        "coresBusy": {
            "httpRegistration": reg.cores_busy(cores),
            "httpSignIn": signin.cores_busy(cores),
        },
        "everyCoreBusyPerSec": {
            "httpRegistration": reg.ceiling(cores).map(f64::round),
            "httpSignIn": signin.ceiling(cores).map(f64::round),
        }
    });
    if a.json {
        println!("{report}");
    } else {
        if cfg!(debug_assertions) {
            println!("(debug build: workspace crates unoptimised; ratios are indicative)");
        }
        let cpu = |d: Option<Duration>| match d {
            Some(d) => format!("{:>8.0} µs", d.as_secs_f64() * 1e6),
            None => format!("{:>11}", "-"),
        };
        let pct = |r: Option<f64>| match r {
            Some(r) => format!("{:>5.1} %", 100.0 * r),
            None => format!("{:>7}", "-"),
        };
        println!("                          rate          of raw   CPU/op (all threads)  of raw");
        println!(
            "raw ES256 verify        {raw:>10.0} /s   100.0 %   {}            100.0 %   (aws-lc-rs)",
            cpu(raw_cpu)
        );
        println!(
            "  … on RustCrypto p256  {:>10.0} /s   {:>5.1} %   {}",
            rustcrypto.rate,
            100.0 * rustcrypto.rate / raw,
            cpu(rustcrypto.cpu_per_op)
        );
        for (name, p) in [
            ("verifier registration", &verifier_only),
            ("HTTP registration", &reg),
            ("HTTP sign-in", &signin),
        ] {
            println!(
                "{name:<22}  {:>10.0} /s   {:>5.1} %   {}            {}",
                p.rate,
                100.0 * p.rate / raw,
                cpu(p.cpu_per_op),
                pct(cpu_ratio(p))
            );
        }
        for (name, p) in [("registration", &reg), ("sign-in", &signin)] {
            let split: Vec<String> = p
                .by_thread
                .iter()
                .map(|(thread, d)| format!("{thread} {:.0} µs", d.as_secs_f64() * 1e6))
                .collect();
            if !split.is_empty() {
                println!("CPU per HTTP {name} by thread: {}", split.join(", "));
            }
        }
        for (name, p) in [("registration", &reg), ("sign-in", &signin)] {
            if let Some(db) = p.db_cpu_per_op {
                println!(
                    "CPU per HTTP {name} in PostgreSQL's processes on this host: {:.0} µs",
                    db.as_secs_f64() * 1e6
                );
            }
        }
        // What each HTTP phase would reach with every core busy at its
        // measured CPU per operation (this process and a local PostgreSQL),
        // and how busy it kept them.
        for (name, p) in [("registration", &reg), ("sign-in", &signin)] {
            if let (Some(ceiling), Some(busy)) = (p.ceiling(cores), p.cores_busy(cores)) {
                println!(
                    "HTTP {name} with all {cores} cores busy: {ceiling:.0} /s ({:.1} % of raw); the run kept {:.0} % of them busy",
                    100.0 * ceiling / raw,
                    100.0 * busy
                );
            }
        }
        let per_commit = |b: Option<f64>| b.map_or("-".to_owned(), |b| format!("{b:.1}"));
        println!(
            "writes per group commit: registration {}, sign-in {}",
            per_commit(reg_batching),
            per_commit(signin_batching)
        );
        println!("(raw verify before {raw_before:.0} /s, after {raw_after:.0} /s; the mean is the reference)");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_postgres_database_on_this_host_is_read() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgresql://u@localhost/db",
            "postgres://u@[::1]:5432/db",
            "postgres:///db?host=/run/postgresql",
        ] {
            assert!(postgres_on_this_host(url), "{url}");
        }
        for url in [
            "postgres://u@db.example:5432/db",
            "postgres://u@10.0.0.7/db",
            "sqlite:///tmp/k.db",
            "not a url",
        ] {
            assert!(!postgres_on_this_host(url), "{url}");
        }
    }

    #[test]
    fn a_phase_ceiling_counts_the_database_cpu() {
        let phase = Phase {
            rate: 1_000.0,
            cpu_per_op: Some(Duration::from_micros(300)),
            by_thread: BTreeMap::new(),
            db_cpu_per_op: Some(Duration::from_micros(200)),
        };
        // 2 cores / 500 µs per operation.
        assert_eq!(phase.ceiling(2).map(f64::round), Some(4_000.0));
        assert_eq!(phase.cores_busy(2), Some(0.25));
        let alone = Phase {
            db_cpu_per_op: None,
            ..phase
        };
        assert_eq!(alone.ceiling(2).map(f64::round), Some(6_667.0));
    }

    #[test]
    fn stat_lines_give_name_and_time() {
        let line = "42 (postgres: u db) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0";
        assert_eq!(
            stat_cpu(line),
            Some(("postgres: u db", Duration::from_millis(2_000)))
        );
    }
}

//! A bulk run: users on one side, keys on the other, several keys worked
//! on at once (one user each), every step journaled. The station flow —
//! "insert a key for alice (3/120)", wait for insertion and removal — is
//! driven from here; the CLI only renders [`RunEvent`]s.

use crate::error::{Error, Result};
use crate::journal::{JournalEvent, JournalState, UserProgress};
use crate::key::{provision_user, register_pending, KeySession, RunContext};
use crate::results::{OutcomeStatus, UserOutcome};
use crate::users::UserJob;
use ctap::device::DeviceSpec;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::events::{Quiet, RunEvent, RunObserver};

/// What a provisioning station can see: the keys plugged in right now.
pub trait KeyWatcher: Send + Sync {
    /// The keys plugged in now.
    fn present(&self) -> Vec<DeviceSpec>;
}

/// The FIDO keys on USB (HID usage page 0xF1D0).
pub struct UsbWatcher;

impl KeyWatcher for UsbWatcher {
    fn present(&self) -> Vec<DeviceSpec> {
        enumerate_usb()
            .into_iter()
            .map(DeviceSpec::UsbPath)
            .collect()
    }
}

/// Where the keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// Each listed device is one key for one user, taken in order,
    /// `parallel` at a time (virtual key farms, or keys on known ports).
    Devices(Vec<DeviceSpec>),
    /// Each listed device is a station slot whose key is factory-reset and
    /// provisioned again for every user (recycled keys, benchmarks).
    Recycle(Vec<DeviceSpec>),
    /// A station: every newly inserted key gets the next user; the
    /// operator removes it when told (the slot is free once it is gone).
    /// Several keys may be in at once. [`UsbWatcher`] watches USB.
    Station {
        /// What reports keys being inserted.
        watcher: Arc<dyn KeyWatcher>,
        /// How often to look for new keys.
        poll: Duration,
    },
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Devices(d) => f.debug_tuple("Devices").field(d).finish(),
            KeySource::Recycle(d) => f.debug_tuple("Recycle").field(d).finish(),
            KeySource::Station { poll, .. } => {
                f.debug_struct("Station").field("poll", poll).finish()
            }
        }
    }
}

/// One bulk run.
pub struct RunPlan {
    /// The users, in run order.
    pub users: Vec<UserJob>,
    /// Where the keys come from (a station's slots, given devices, or
    /// keys to recycle).
    pub source: KeySource,
    /// Keys worked on at once.
    pub parallel: usize,
    /// Replayed journal of the run being resumed.
    pub resume: Option<JournalState>,
    /// How many keys a user may go through (excluded/full keys) before the
    /// user is reported failed.
    pub max_keys_per_user: usize,
    /// Set (from another thread) to stop taking new users; users in work
    /// finish. The CLI sets it on the first Ctrl-C; the users not started
    /// are reported skipped ("the run was stopped") and `--resume` does
    /// them.
    pub stop: Arc<AtomicBool>,
}

/// The end of a run.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Users in the run.
    pub total: usize,
    /// Users provisioned by this run.
    pub provisioned: usize,
    /// Users a resumed run found already provisioned.
    pub already_done: usize,
    /// Users that failed.
    pub failed: usize,
    /// Users not attempted (the run stopped first).
    pub skipped: usize,
    /// Seconds the run (or the user) took.
    pub seconds: f64,
    /// Per provisioned user, on average: where the time went.
    pub timing: Timing,
    /// One outcome per user, in run order.
    pub outcomes: Vec<UserOutcome>,
}

/// Mean milliseconds per provisioned user.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    /// Users provisioned per second.
    pub users_per_second: f64,
    /// Mean milliseconds per user.
    pub total_ms: f64,
    /// Mean milliseconds per user spent talking to keys.
    pub key_ms: f64,
    /// Mean milliseconds per user spent waiting for the directory.
    pub directory_ms: f64,
    /// What is left: this client's own work per key.
    pub client_ms: f64,
}

struct Pending {
    job: UserJob,
    progress: UserProgress,
    attempts: usize,
    /// Why the last key did not work out: (kind, message, device).
    last_error: Option<(String, String, String)>,
}

struct Shared {
    queue: Mutex<VecDeque<Pending>>,
    outcomes: Mutex<Vec<UserOutcome>>,
    started: Mutex<usize>,
    total: usize,
    fatal: Mutex<Option<Error>>,
    /// The listed keys of a `--device` run (empty when keys come as they
    /// are plugged in): a user whose PIN an earlier run set on one of them
    /// waits for that key rather than taking another.
    listed: std::collections::HashSet<String>,
}

impl Shared {
    /// The next user for `key`: one whose earlier attempt is bound to this
    /// very key first; then one for whom an earlier run set this key's PIN
    /// (the PIN file has it; anyone else would find a PIN they do not
    /// know); then an unbound user who has no key yet; then an unbound user
    /// whose earlier key is not one of the listed keys.
    fn take_for(&self, key: &crate::journal::KeyIdentity) -> Option<Pending> {
        let mut q = self.queue.lock().expect("queue");
        let on_this_key = |p: &Pending| p.progress.key.as_ref().is_some_and(|k| k.same_key(key));
        let waits_for_listed = |p: &Pending| {
            p.progress
                .key
                .as_ref()
                .is_some_and(|k| self.listed.contains(&k.device))
        };
        let pos = q
            .iter()
            .position(|p| p.progress.bound_key().is_some_and(|k| k.same_key(key)))
            .or_else(|| {
                q.iter()
                    .position(|p| p.progress.bound_key().is_none() && on_this_key(p))
            })
            .or_else(|| {
                q.iter()
                    .position(|p| p.progress.bound_key().is_none() && p.progress.key.is_none())
            })
            .or_else(|| {
                q.iter()
                    .position(|p| p.progress.bound_key().is_none() && !waits_for_listed(p))
            })?;
        q.remove(pos)
    }

    fn has_unbound(&self) -> bool {
        self.queue
            .lock()
            .expect("queue")
            .iter()
            .any(|p| p.progress.bound_key().is_none())
    }

    fn is_empty(&self) -> bool {
        self.queue.lock().expect("queue").is_empty()
    }

    fn finish(&self, ctx: &RunContext, outcome: UserOutcome) {
        ctx.observer
            .event(RunEvent::UserFinished(Box::new(outcome.clone())));
        self.outcomes.lock().expect("outcomes").push(outcome);
    }

    fn next_index(&self) -> usize {
        let mut n = self.started.lock().expect("started");
        *n += 1;
        *n
    }

    fn set_fatal(&self, e: Error) {
        let mut f = self.fatal.lock().expect("fatal");
        if f.is_none() {
            *f = Some(e);
        }
    }

    fn is_fatal(&self) -> bool {
        self.fatal.lock().expect("fatal").is_some()
    }
}

/// Runs `plan`; returns when every user is done or failed, or on a fatal
/// error (journal not writable).
pub fn run(ctx: Arc<RunContext>, plan: RunPlan) -> Result<RunSummary> {
    let started = Instant::now();
    let total = plan.users.len();
    if matches!(plan.source, KeySource::Recycle(_)) && !ctx.settings.reset_first {
        return Err(Error::Input(
            "recycled key slots are factory-reset for every user: enable reset-first".into(),
        ));
    }
    let input_order: std::collections::HashMap<String, usize> = plan
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.user.clone(), i))
        .collect();
    let resume = plan.resume.unwrap_or_default();
    let mut outcomes = Vec::new();
    let mut queue = VecDeque::new();
    for job in plan.users {
        let progress = resume.users.get(&job.user).cloned().unwrap_or_default();
        match settle_from_journal(&ctx, &job, progress)? {
            Settled::Done(outcome) => outcomes.push(*outcome),
            Settled::NeedsKey(progress) => queue.push_back(Pending {
                job,
                progress: *progress,
                attempts: 0,
                last_error: None,
            }),
        }
    }
    ctx.observer.event(RunEvent::Started {
        total,
        already_done: outcomes.len(),
    });
    let shared = Arc::new(Shared {
        queue: Mutex::new(queue),
        outcomes: Mutex::new(outcomes),
        started: Mutex::new(0),
        total,
        fatal: Mutex::new(None),
        listed: match &plan.source {
            KeySource::Devices(d) => d.iter().map(|s| s.to_string()).collect(),
            _ => Default::default(),
        },
    });
    let first_index = total - shared.queue.lock().expect("queue").len();
    *shared.started.lock().expect("started") = first_index;
    let parallel = plan.parallel.max(1);
    let max_keys = plan.max_keys_per_user.max(1);
    match plan.source {
        KeySource::Devices(devices) => {
            let devices = Arc::new(Mutex::new(VecDeque::from(devices)));
            std::thread::scope(|s| {
                for _ in 0..parallel {
                    s.spawn(|| loop {
                        if shared.is_empty()
                            || shared.is_fatal()
                            || plan.stop.load(Ordering::SeqCst)
                        {
                            return;
                        }
                        let Some(spec) = devices.lock().expect("devices").pop_front() else {
                            return;
                        };
                        work_on_key(&ctx, &shared, &spec, max_keys, false);
                    });
                }
            });
        }
        KeySource::Recycle(devices) => {
            std::thread::scope(|s| {
                for spec in &devices {
                    let (ctx, shared, stop) = (&ctx, &shared, &plan.stop);
                    s.spawn(move || loop {
                        if shared.is_empty() || shared.is_fatal() || stop.load(Ordering::SeqCst) {
                            return;
                        }
                        if !work_on_key(ctx, shared, spec, max_keys, true) {
                            return;
                        }
                    });
                }
            });
        }
        KeySource::Station { watcher, poll } => station(
            &ctx, &shared, parallel, max_keys, poll, &plan.stop, &*watcher,
        ),
    }
    if let Some(e) = shared.fatal.lock().expect("fatal").take() {
        return Err(e);
    }
    // Whoever is left never got a key.
    let leftovers: Vec<Pending> = shared.queue.lock().expect("queue").drain(..).collect();
    for p in leftovers {
        if let Some((kind, message, device)) = &p.last_error {
            let mut o = UserOutcome::new(&p.job.user, OutcomeStatus::Failed);
            o.error_kind = Some(kind.clone());
            o.error = Some(format!("{message} (and no other key was left to try)"));
            o.key_device = Some(device.clone());
            shared.finish(&ctx, o);
            continue;
        }
        let mut o = UserOutcome::new(&p.job.user, OutcomeStatus::Skipped);
        o.error = Some(match p.progress.bound_key() {
            Some(k) => format!(
                "waiting for its key {} (it holds this user's PIN or credential); resume with that key",
                k.device
            ),
            None if plan.stop.load(Ordering::SeqCst) => "the run was stopped".into(),
            None if p.progress.pin_set => format!(
                "waiting for its key {} (an earlier run set its PIN for this user); resume with that key",
                p.progress.key.as_ref().map_or("?", |k| k.device.as_str())
            ),
            None => "no key was left for this user".into(),
        });
        shared.finish(&ctx, o);
    }
    let mut outcomes = std::mem::take(&mut *shared.outcomes.lock().expect("outcomes"));
    // Report in input order.
    outcomes.sort_by_key(|o| input_order.get(&o.user_principal_name).copied());
    let count = |s: OutcomeStatus| outcomes.iter().filter(|o| o.status == s).count();
    let done: Vec<&UserOutcome> = outcomes
        .iter()
        .filter(|o| o.status == OutcomeStatus::Provisioned)
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    let timing = if done.is_empty() {
        Timing::default()
    } else {
        let n = done.len() as f64;
        let mean =
            |f: &dyn Fn(&UserOutcome) -> f64| done.iter().map(|o| f(o)).sum::<f64>() * 1000.0 / n;
        let total_ms = mean(&|o| o.seconds);
        let key_ms = mean(&|o| o.key_seconds);
        let directory_ms = mean(&|o| o.directory_seconds);
        Timing {
            users_per_second: n / seconds,
            total_ms,
            key_ms,
            directory_ms,
            client_ms: total_ms - key_ms - directory_ms,
        }
    };
    Ok(RunSummary {
        timing,
        total,
        provisioned: count(OutcomeStatus::Provisioned),
        already_done: count(OutcomeStatus::AlreadyDone),
        failed: count(OutcomeStatus::Failed),
        skipped: count(OutcomeStatus::Skipped),
        seconds,
        outcomes,
    })
}

impl JournalState {
    /// Re-reads one user's progress (after a failed attempt appended to it).
    fn read_user(
        journal: Option<&crate::journal::ProvisioningJournal>,
        user: &str,
    ) -> Result<Option<UserProgress>> {
        match journal {
            Some(j) => Ok(JournalState::read(j.path())?.users.get(user).cloned()),
            None => Ok(None),
        }
    }
}

/// What the journal settles before any key is taken.
enum Settled {
    Done(Box<UserOutcome>),
    /// The user still needs a key; their progress as of now (including a
    /// pending credential just registered).
    NeedsKey(Box<UserProgress>),
}

/// Settles what needs no key: users finished earlier, and credentials
/// created but not registered whose challenge is still valid.
fn settle_from_journal(
    ctx: &RunContext,
    job: &UserJob,
    mut progress: UserProgress,
) -> Result<Settled> {
    let done = |p: &UserProgress| {
        let mut o = UserOutcome::new(&job.user, OutcomeStatus::AlreadyDone);
        if let Some(r) = &p.registered {
            o.method_id = Some(r.method_id.clone());
            o.aaguid = r.aaguid.clone();
            o.model = r.model.clone();
            o.display_name = r.display_name.clone();
        }
        o.key_device = p.key.as_ref().map(|k| k.device.clone());
        o
    };
    if progress.done {
        return Ok(Settled::Done(Box::new(done(&progress))));
    }
    let wants_policy = ctx.settings.force_pin_change || ctx.settings.min_pin_length.is_some();
    if progress.registered.is_none() && progress.pending_credential.is_some() {
        match register_pending(ctx, &job.user, &progress) {
            Ok(Some(r)) => {
                progress.pending_credential = None;
                progress.registered = Some(r);
            }
            Ok(None) => {}
            Err(e @ (Error::Journal { .. } | Error::Failpoint(_))) => return Err(e),
            Err(e) => {
                ctx.observer.event(RunEvent::Warning {
                    message: format!(
                        "{}: the credential from the interrupted run could not be registered ({e}); it will be removed from the key and redone",
                        job.user
                    ),
                });
            }
        }
    }
    if progress.registered.is_some() && (!wants_policy || progress.pin_policy_applied) {
        if let Some(j) = &ctx.journal {
            j.append(JournalEvent::UserDone {
                user: job.user.clone(),
            })?;
        }
        return Ok(Settled::Done(Box::new(done(&progress))));
    }
    Ok(Settled::NeedsKey(Box::new(progress)))
}

/// Opens `spec`, provisions users on it, and reports. Returns false when
/// the worker should stop (fatal error or nobody left for this key).
fn work_on_key(
    ctx: &RunContext,
    shared: &Shared,
    spec: &DeviceSpec,
    max_keys: usize,
    recycle: bool,
) -> bool {
    let mut key = match KeySession::open(spec) {
        Ok(k) => k,
        Err(e) => {
            ctx.observer.event(RunEvent::Warning {
                message: format!("{spec}: cannot open the key: {e}"),
            });
            return false;
        }
    };
    ctx.observer.event(RunEvent::KeyInserted {
        device: key.identity.device.clone(),
    });
    let Some(mut pending) = shared.take_for(&key.identity) else {
        ctx.observer.event(RunEvent::RemoveKey {
            device: key.identity.device.clone(),
            ok: false,
        });
        return false;
    };
    let index = shared.next_index();
    ctx.observer.event(RunEvent::UserStarted {
        user: pending.job.user.clone(),
        device: key.identity.device.clone(),
        index,
        total: shared.total,
    });
    let started = Instant::now();
    let key_before = key.client.time_in_key();
    let directory_before = crate::target::thread_directory_time();
    let result = provision_user(ctx, &mut key, &pending.job, &pending.progress);
    let key_seconds = (key.client.time_in_key() - key_before).as_secs_f64();
    let directory_seconds =
        (crate::target::thread_directory_time() - directory_before).as_secs_f64();
    match result {
        Ok(mut outcome) => {
            outcome.key_seconds = key_seconds;
            outcome.directory_seconds = directory_seconds;
            ctx.observer.event(RunEvent::RemoveKey {
                device: key.identity.device.clone(),
                ok: true,
            });
            shared.finish(ctx, outcome);
            true
        }
        Err(e @ (Error::Journal { .. } | Error::Io { .. } | Error::Failpoint(_))) => {
            shared.set_fatal(e);
            false
        }
        Err(e) => {
            let key_problem = matches!(
                e,
                Error::AlreadyProvisioned { .. }
                    | Error::KeyFull
                    | Error::Pin(_)
                    | Error::PinPolicy(_)
                    | Error::Key(_)
            );
            if let Some(j) = &ctx.journal {
                if let Err(je) = j.append(JournalEvent::UserFailed {
                    user: pending.job.user.clone(),
                    kind: e.kind().into(),
                    message: e.to_string(),
                }) {
                    shared.set_fatal(je);
                    return false;
                }
            }
            ctx.observer.event(RunEvent::RemoveKey {
                device: key.identity.device.clone(),
                ok: false,
            });
            pending.attempts += 1;
            let bound = JournalState::read_user(ctx.journal.as_deref(), &pending.job.user)
                .ok()
                .flatten()
                .filter(|p| p.bound_key().is_some());
            if key_problem && pending.attempts < max_keys && bound.is_none() && !recycle {
                ctx.observer.event(RunEvent::Warning {
                    message: format!(
                        "{}: {e} — {} will get another key",
                        key.identity.device, pending.job.user
                    ),
                });
                pending.last_error = Some((
                    e.kind().to_owned(),
                    e.to_string(),
                    key.identity.device.clone(),
                ));
                shared.queue.lock().expect("queue").push_front(pending);
                // This key is unusable for that user; it may suit another.
                return shared.has_unbound();
            }
            let mut o = UserOutcome::new(&pending.job.user, OutcomeStatus::Failed);
            o.key_device = Some(key.identity.device.clone());
            o.aaguid = Some(key.identity.aaguid.clone());
            o.error_kind = Some(e.kind().into());
            o.error = Some(e.to_string());
            o.seconds = started.elapsed().as_secs_f64();
            shared.finish(ctx, o);
            true
        }
    }
}

#[cfg(feature = "usb")]
fn enumerate_usb() -> Vec<String> {
    ctap::transport::usb::enumerate()
        .map(|v| v.into_iter().map(|k| k.path).collect())
        .unwrap_or_default()
}

#[cfg(not(feature = "usb"))]
fn enumerate_usb() -> Vec<String> {
    Vec::new()
}

/// The station loop: watch for keys, give each new one a worker, wait for
/// its removal before the slot counts as free.
fn station(
    ctx: &RunContext,
    shared: &Shared,
    parallel: usize,
    max_keys: usize,
    poll: Duration,
    stop: &AtomicBool,
    watcher: &dyn KeyWatcher,
) {
    let busy: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    let mut announced_wait = false;
    std::thread::scope(|s| loop {
        if shared.is_empty() || shared.is_fatal() || stop.load(Ordering::SeqCst) {
            break;
        }
        let mut started_one = false;
        for spec in watcher.present() {
            let name = spec.to_string();
            let mut b = busy.lock().expect("busy");
            if b.contains(&name) || b.len() >= parallel {
                continue;
            }
            b.insert(name.clone());
            drop(b);
            started_one = true;
            let busy = &busy;
            s.spawn(move || {
                work_on_key(ctx, shared, &spec, max_keys, false);
                // The slot frees up when the key is taken out.
                while watcher.present().iter().any(|p| p.to_string() == name)
                    && !stop.load(Ordering::SeqCst)
                {
                    std::thread::sleep(poll);
                }
                busy.lock().expect("busy").remove(&name);
            });
        }
        if started_one {
            announced_wait = false;
        } else if !announced_wait && busy.lock().expect("busy").is_empty() {
            let next = shared
                .queue
                .lock()
                .expect("queue")
                .front()
                .map(|p| p.job.user.clone());
            ctx.observer
                .event(RunEvent::WaitingForKey { next_user: next });
            announced_wait = true;
        }
        std::thread::sleep(poll);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::KeyIdentity;

    fn key(port: u16) -> KeyIdentity {
        KeyIdentity {
            device: format!("udp:127.0.0.1:{port}"),
            serial: None,
            aaguid: "4b657973-6d69-4e68-a000-766b65790001".into(),
        }
    }

    fn pending(user: &str, pinned_on: Option<u16>) -> Pending {
        let progress = UserProgress {
            key: pinned_on.map(key),
            pin_set: pinned_on.is_some(),
            ..Default::default()
        };
        Pending {
            job: UserJob {
                user: user.into(),
                display_name: None,
                pin_length: None,
            },
            progress,
            attempts: 0,
            last_error: None,
        }
    }

    fn shared(queue: Vec<Pending>, listed: &[u16]) -> Shared {
        Shared {
            queue: Mutex::new(queue.into()),
            outcomes: Mutex::default(),
            started: Mutex::new(0),
            total: 0,
            fatal: Mutex::new(None),
            listed: listed
                .iter()
                .map(|p| DeviceSpec::Udp(format!("127.0.0.1:{p}").parse().unwrap()).to_string())
                .collect(),
        }
    }

    /// A resumed run: a user whose PIN the killed run set on a listed key
    /// waits for that key; another key goes to a user without one.
    #[test]
    fn a_user_whose_pin_is_on_a_listed_key_waits_for_it() {
        let s = shared(
            vec![pending("pinned", Some(2)), pending("fresh", None)],
            &[1, 2],
        );
        assert_eq!(s.take_for(&key(1)).unwrap().job.user, "fresh");
        assert!(s.take_for(&key(3)).is_none(), "pinned waits for key 2");
        assert_eq!(s.take_for(&key(2)).unwrap().job.user, "pinned");
        // Keys that come as they are plugged in: nothing is listed, so
        // nobody waits.
        let s = shared(vec![pending("pinned", Some(2))], &[]);
        assert_eq!(s.take_for(&key(1)).unwrap().job.user, "pinned");
    }
}

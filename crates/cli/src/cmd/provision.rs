//! `keysmith provision`: put a working passkey on a security key for each
//! user — one user, a CSV or a directory group; several keys at once; PIN
//! set and PIN policy applied; every step journaled so a killed run resumes.

use super::directory_args::DirectoryArgs;
use super::secret_input::{confirm, PinSource};
use anyhow::bail;
use clap::Args;
use ctap::device::DeviceSpec;
use indicatif::{ProgressBar, ProgressStyle};
use provision::journal::{JournalEvent, JournalState, Plan, PlanOptions, ProvisioningJournal};
use provision::key::{ProvisionSettings, RunContext};
use provision::pin::{Pin, PinAlphabet};
use provision::plan::UserSource;
use provision::preflight::{self, Severity};
use provision::results::{write_results, OutcomeStatus, PinFile};
use provision::runner::{self, KeySource, RunEvent, RunObserver, RunPlan};
use provision::users::UserJob;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Provision FIDO2 security keys for users: creation options from the
/// directory, PIN and passkey on the key (CTAP 2.1), registration.
///
/// Examples:
///   keysmith provision --server http://127.0.0.1:8080 --tenant contoso \
///     --client-id ID --client-secret-file secret.txt \
///     --user alice@contoso.com --pin-out pins.csv --device udp:127.0.0.1:8111
///   keysmith provision … --csv users.csv --pin-out pins.csv --out results.csv
///   keysmith provision … --resume keysmith-run-….journal
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ProvisionArgs {
    #[command(flatten)]
    directory: DirectoryArgs,

    /// One user (userPrincipalName or object id).
    #[arg(long, help_heading = "Users", conflicts_with_all = ["csv", "group"])]
    user: Option<String>,
    /// Display name of the passkey (with --user), 1 to 30 characters (Entra
    /// refuses longer ones); default: key model and serial, or the AAGUID's
    /// first group ("YubiKey 5 NFC 12345678").
    #[arg(long, help_heading = "Users", requires = "user")]
    display_name: Option<String>,
    /// CSV of users: userPrincipalName[,passkeyDisplayName][,pinLength]
    /// (passkey names 1 to 30 characters).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Users",
        conflicts_with = "group"
    )]
    csv: Option<PathBuf>,
    /// Every member of this directory group.
    #[arg(long, value_name = "GROUP_ID", help_heading = "Users")]
    group: Option<String>,

    /// A key to use (repeatable): udp:HOST:PORT, usb:PATH. Each is one
    /// user's key. Without --device, keys are taken as they are plugged in
    /// over USB (station mode).
    #[arg(long = "device", value_name = "SPEC", help_heading = "Keys")]
    devices: Vec<String>,
    /// Treat each --device as a station slot whose key is factory-reset
    /// and reused for every user (recycled keys, test farms, benchmarks).
    #[arg(long, help_heading = "Keys", requires = "devices")]
    recycle: bool,
    /// Keys worked on at the same time.
    #[arg(long, default_value_t = 4, help_heading = "Keys")]
    parallel: usize,
    /// Factory-reset each key first (asks for confirmation unless --yes).
    #[arg(long, help_heading = "Keys")]
    reset_first: bool,
    /// Answer yes to confirmations (reset).
    #[arg(long, short = 'y')]
    yes: bool,

    /// Length of generated PINs.
    #[arg(long, default_value_t = 6, help_heading = "PIN")]
    pin_length: usize,
    /// Characters of generated PINs: digits or alphanumeric.
    #[arg(long, default_value = "digits", help_heading = "PIN")]
    pin_alphabet: PinAlphabet,
    /// Set this PIN (first line of the file) instead of a random one.
    #[arg(long, value_name = "FILE", help_heading = "PIN")]
    new_pin_file: Option<PathBuf>,
    /// Read the PIN to set from stdin instead of generating one.
    #[arg(long, help_heading = "PIN")]
    new_pin_stdin: bool,
    /// The PIN of keys that already have one (first line of the file).
    #[arg(long, value_name = "FILE", help_heading = "PIN")]
    current_pin_file: Option<PathBuf>,
    /// Read the current PIN of the keys from stdin.
    #[arg(long, help_heading = "PIN")]
    current_pin_stdin: bool,
    /// Where PINs set by this run are written (CSV, mode 0600) for PIN
    /// mailers. Required when PINs are generated. PINs go nowhere else.
    #[arg(long, value_name = "FILE", help_heading = "PIN")]
    pin_out: Option<PathBuf>,
    /// Make each user change the PIN before first use (CTAP 2.1).
    #[arg(long, help_heading = "PIN")]
    force_pin_change: bool,
    /// Minimum PIN length to set on each key (CTAP 2.1).
    #[arg(long, value_name = "N", help_heading = "PIN")]
    min_pin_length: Option<u64>,
    /// RP ID allowed to read the key's minimum PIN length (repeatable).
    #[arg(
        long = "min-pin-length-rp-id",
        value_name = "RP_ID",
        help_heading = "PIN"
    )]
    min_pin_length_rp_ids: Vec<String>,
    /// What to do with a key that cannot apply --force-pin-change or
    /// --min-pin-length (no CTAP 2.1 setMinPINLength): `true` refuses the
    /// key (the user moves to the next one), `false` provisions it anyway
    /// with a warning.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", help_heading = "PIN")]
    require_pin_policy: bool,

    /// The journal of this run (default: keysmith-run-<time>.journal).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Run",
        conflicts_with = "resume"
    )]
    journal: Option<PathBuf>,
    /// Continue a run that was interrupted, from its journal.
    #[arg(long, value_name = "JOURNAL", help_heading = "Run")]
    resume: Option<PathBuf>,
    /// Results file: .json or .csv (user, method id, AAGUID, model, key,
    /// status, error). Never contains PINs.
    #[arg(long, value_name = "FILE", help_heading = "Run")]
    out: Option<PathBuf>,
    /// Challenge lifetime to ask the directory for, in minutes (5..=43200).
    #[arg(
        long,
        default_value_t = 60,
        value_name = "MINUTES",
        help_heading = "Run"
    )]
    challenge_timeout: u32,
    /// WebAuthn origin for clientDataJSON (default https://{rp.id}).
    #[arg(long, value_name = "URL", help_heading = "Run")]
    origin: Option<String>,
    /// Only check the directory's policy, the users and the inserted keys;
    /// touch nothing.
    #[arg(long, help_heading = "Run")]
    check: bool,
    /// Print the summary as JSON on stdout (no progress bar).
    #[arg(long)]
    json: bool,
}

pub fn run(mut args: ProvisionArgs) -> anyhow::Result<ExitCode> {
    if !(5..=43200).contains(&args.challenge_timeout) {
        bail!("--challenge-timeout must be 5..=43200 minutes");
    }
    let directory = Arc::new(args.directory.connect()?);
    let resume_state = match &args.resume {
        Some(p) => Some(JournalState::read(p)?),
        None => None,
    };
    let (users, plan) = plan_run(&mut args, &directory, resume_state.as_ref())?;
    let devices: Vec<DeviceSpec> = args
        .devices
        .iter()
        .map(|d| d.parse::<DeviceSpec>())
        .collect::<Result<_, _>>()?;

    if args.check {
        return check(&args, &directory, &users, &devices);
    }
    // Names the directory would refuse stop the run before a key is
    // touched (`--check` lists every one).
    provision::users::check_names(&users)?;

    let new_pin = read_pin(&args.new_pin_file, args.new_pin_stdin, "new PIN")?;
    let current_pin = read_pin(
        &args.current_pin_file,
        args.current_pin_stdin,
        "current PIN",
    )?;
    if new_pin.is_none() && current_pin.is_none() && args.pin_out.is_none() {
        bail!("PINs will be generated: give --pin-out FILE to receive them (mode 0600), or --new-pin-file to choose one");
    }
    let reset_first = args.reset_first || args.recycle;
    if reset_first {
        confirm(
            &format!(
                "This factory-resets {}: every passkey on {} is destroyed.",
                if devices.is_empty() {
                    "each inserted key".to_owned()
                } else {
                    format!("{} key(s)", devices.len())
                },
                if devices.len() == 1 { "it" } else { "them" }
            ),
            args.yes,
        )?;
    }
    let pin_file = match &args.pin_out {
        Some(p) => Some(Arc::new(PinFile::open(p)?)),
        None => None,
    };
    let (journal, resume) = match &args.resume {
        Some(p) => {
            let (j, s) = ProvisioningJournal::resume(p)?;
            if s.plan.is_none() {
                // A journal of an older version: from now on it has one.
                j.append(JournalEvent::Planned {
                    plan: Box::new(plan),
                })?;
            }
            (j, Some(s))
        }
        None => {
            let path = args.journal.clone().unwrap_or_else(|| {
                let t = time::OffsetDateTime::now_utc();
                PathBuf::from(format!(
                    "keysmith-run-{:04}{:02}{:02}-{:02}{:02}{:02}-{}.journal",
                    t.year(),
                    t.month() as u8,
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second(),
                    &uuid::Uuid::new_v4().simple().to_string()[..6]
                ))
            });
            let j = ProvisioningJournal::create(&path)?;
            j.append(JournalEvent::RunStarted {
                run_id: uuid::Uuid::new_v4().to_string(),
                directory: directory.base_url().to_owned(),
            })?;
            // The whole plan, before any key or directory is touched.
            j.append(JournalEvent::Planned {
                plan: Box::new(plan),
            })?;
            provision::error::failpoint("after-plan");
            (j, None)
        }
    };
    if !args.json {
        eprintln!(
            "journal: {} (if interrupted: keysmith provision --resume {} …)",
            journal.path().display(),
            journal.path().display()
        );
    }
    let journal_path = journal.path().to_path_buf();
    let observer = Arc::new(Progress::new(users.len(), args.json));
    let settings = ProvisionSettings {
        pin_length: args.pin_length,
        pin_alphabet: args.pin_alphabet,
        new_pin,
        current_pin,
        force_pin_change: args.force_pin_change,
        min_pin_length: args.min_pin_length,
        min_pin_length_rp_ids: args.min_pin_length_rp_ids.clone(),
        require_pin_policy: args.require_pin_policy,
        reset_first,
        challenge_timeout_minutes: args.challenge_timeout,
        origin: args.origin.clone(),
        pin_file: args.pin_out.clone(),
    };
    let ctx = Arc::new(RunContext {
        directory,
        journal: Some(Arc::new(journal)),
        pin_file,
        settings,
        observer: observer.clone(),
    });
    let source = if devices.is_empty() {
        KeySource::Station {
            watcher: Arc::new(provision::runner::UsbWatcher),
            poll: Duration::from_millis(400),
        }
    } else if args.recycle {
        KeySource::Recycle(devices)
    } else {
        KeySource::Devices(devices)
    };
    let plan = RunPlan {
        users,
        source,
        parallel: args.parallel,
        resume,
        max_keys_per_user: 3,
        stop: stop_on_ctrl_c(journal_path.clone()),
    };
    let stop = plan.stop.clone();
    let summary = runner::run(ctx, plan)?;
    observer.bar.finish_and_clear();
    if let Some(out) = &args.out {
        write_results(out, &summary.outcomes)?;
    }
    let ok = summary.failed == 0 && summary.skipped == 0;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        for o in summary.outcomes.iter().filter(|o| {
            o.status != OutcomeStatus::Provisioned && o.status != OutcomeStatus::AlreadyDone
        }) {
            eprintln!(
                "  {} {}: {}",
                if o.status == OutcomeStatus::Failed {
                    "FAILED "
                } else {
                    "SKIPPED"
                },
                o.user_principal_name,
                o.error.as_deref().unwrap_or("")
            );
        }
        let rate = if summary.seconds > 0.0 {
            summary.provisioned as f64 / summary.seconds
        } else {
            0.0
        };
        eprintln!(
            "{} users: {} provisioned, {} already done, {} failed, {} skipped in {:.2} s ({rate:.1} users/s){}",
            summary.total,
            summary.provisioned,
            summary.already_done,
            summary.failed,
            summary.skipped,
            summary.seconds,
            args.out.as_ref().map(|p| format!("; results in {}", p.display())).unwrap_or_default()
        );
    }
    if stop.load(Ordering::SeqCst) {
        eprintln!(
            "stopped by Ctrl-C: continue with keysmith provision --resume {} …",
            journal_path.display()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The run's stop flag, set by the first Ctrl-C (SIGINT): no new user is
/// started, the keys in work finish their users, and the summary and
/// results are written as usual (exit status 130). A second Ctrl-C exits at
/// once. Either way the journal lets `--resume` continue.
fn stop_on_ctrl_c(journal: PathBuf) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    else {
        return stop;
    };
    // The handler is installed here, before the run starts (not later on
    // the watcher thread), so an early Ctrl-C is not lost.
    #[cfg(unix)]
    let interrupts = rt.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    });
    #[cfg(unix)]
    let Ok(mut interrupts) = interrupts
    else {
        return stop;
    };
    let watcher = std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            rt.block_on(async {
                #[cfg(unix)]
                let first = interrupts.recv().await.is_some();
                #[cfg(not(unix))]
                let first = tokio::signal::ctrl_c().await.is_ok();
                if !first {
                    return;
                }
                flag.store(true, Ordering::SeqCst);
                eprintln!(
                    "\nstopping: the keys in work finish their users, no new user starts (Ctrl-C again to quit now)"
                );
                #[cfg(unix)]
                let second = interrupts.recv().await.is_some();
                #[cfg(not(unix))]
                let second = tokio::signal::ctrl_c().await.is_ok();
                if second {
                    eprintln!(
                        "interrupted: continue with keysmith provision --resume {} …",
                        journal.display()
                    );
                    std::process::exit(130);
                }
            });
        });
    if let Err(e) = watcher {
        tracing::debug!("no Ctrl-C handling: {e}");
    }
    stop
}

fn read_pin(file: &Option<PathBuf>, stdin: bool, label: &str) -> anyhow::Result<Option<Pin>> {
    if file.is_none() && !stdin {
        return Ok(None);
    }
    let source = PinSource {
        file: file.clone(),
        stdin,
    };
    Ok(Some(Pin::new(source.read(label)?.as_str())))
}

/// The run's users and plan (see [`provision::plan::plan_run`]); a resume
/// sets the options that shape the result to the journal's.
fn plan_run(
    args: &mut ProvisionArgs,
    directory: &provision::target::Directory,
    resume: Option<&JournalState>,
) -> anyhow::Result<(Vec<UserJob>, Plan)> {
    let source = if let Some(u) = &args.user {
        Some(UserSource::One {
            user: u.clone(),
            display_name: args.display_name.clone(),
        })
    } else if let Some(csv) = &args.csv {
        Some(UserSource::Csv(csv.clone()))
    } else {
        args.group.clone().map(UserSource::Group)
    };
    let given = source.map(|s| s.resolve(directory)).transpose()?;
    let options = PlanOptions {
        directory: directory.base_url().to_owned(),
        pin_length: args.pin_length,
        pin_alphabet: args.pin_alphabet,
        min_pin_length: args.min_pin_length,
        force_pin_change: args.force_pin_change,
        min_pin_length_rp_ids: args.min_pin_length_rp_ids.clone(),
        require_pin_policy: args.require_pin_policy,
    };
    let journal = args
        .resume
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let planned = provision::plan::plan_run(given, options, resume.map(|s| (s, journal.as_str())))?;
    let o = planned.options;
    args.pin_length = o.pin_length;
    args.pin_alphabet = o.pin_alphabet;
    args.min_pin_length = o.min_pin_length;
    args.force_pin_change = o.force_pin_change;
    args.min_pin_length_rp_ids = o.min_pin_length_rp_ids;
    args.require_pin_policy = o.require_pin_policy;
    Ok((planned.users, planned.plan))
}

fn check(
    args: &ProvisionArgs,
    directory: &provision::target::Directory,
    users: &[UserJob],
    devices: &[DeviceSpec],
) -> anyhow::Result<ExitCode> {
    let keys = preflight::key_models(devices)?;
    let report = preflight::check(directory, users, &keys)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for f in &report.findings {
            let tag = match f.severity {
                Severity::Blocker => "BLOCKER",
                Severity::Warning => "warning",
                Severity::Info => "info   ",
            };
            match &f.user {
                Some(u) => println!("{tag} {u}: {}", f.message),
                None => println!("{tag} {}", f.message),
            }
        }
        println!(
            "checked {} user(s), {} key(s): {} blocker(s)",
            report.users_checked,
            report.keys_checked,
            report.blockers()
        );
    }
    Ok(if report.blockers() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Draws the run: a progress bar with ETA and one line per finished user
/// (on stderr; nothing but the summary with --json).
struct Progress {
    bar: ProgressBar,
    quiet: bool,
    /// stderr is a terminal: lines go above the bar; else plain lines.
    tty: bool,
}

impl Progress {
    fn new(total: usize, quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{bar:30}] {pos}/{len} users  {per_sec}  ETA {eta}  {wide_msg}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        };
        Self {
            bar,
            quiet,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn line(&self, text: String) {
        if self.tty {
            self.bar.println(text);
        } else {
            eprintln!("{text}");
        }
    }
}

impl RunObserver for Progress {
    fn event(&self, event: RunEvent) {
        if self.quiet {
            // Scripts still deserve to know why a key was passed over.
            if let RunEvent::Warning { message } = event {
                eprintln!("warning: {message}");
            }
            return;
        }
        match event {
            RunEvent::Started { already_done, .. } => {
                self.bar.set_position(already_done as u64);
                if already_done > 0 {
                    self.line(format!(
                        "{already_done} user(s) already done in the journal"
                    ));
                }
            }
            RunEvent::WaitingForKey { next_user } => self.bar.set_message(match next_user {
                Some(u) => format!("insert a key for {u}"),
                None => "insert a key".into(),
            }),
            RunEvent::KeyInserted { .. } => {}
            RunEvent::UserStarted {
                user,
                device,
                index,
                total,
            } => self
                .bar
                .set_message(format!("{user} on {device} ({index}/{total})")),
            RunEvent::Step { .. } => {}
            RunEvent::TouchKey { device } => {
                self.bar.set_message(format!("touch the key at {device}"))
            }
            RunEvent::UserFinished(o) => {
                self.bar.inc(1);
                let line = match o.status {
                    OutcomeStatus::Provisioned => format!(
                        "ok      {} on {} ({:.2} s)",
                        o.user_principal_name,
                        o.key_device.as_deref().unwrap_or("?"),
                        o.seconds
                    ),
                    OutcomeStatus::AlreadyDone => {
                        format!("done    {} (earlier run)", o.user_principal_name)
                    }
                    OutcomeStatus::Failed => format!(
                        "FAILED  {}: {}",
                        o.user_principal_name,
                        o.error.as_deref().unwrap_or("")
                    ),
                    OutcomeStatus::Skipped => format!(
                        "skipped {}: {}",
                        o.user_principal_name,
                        o.error.as_deref().unwrap_or("")
                    ),
                };
                self.line(line);
            }
            RunEvent::RemoveKey { device, ok } => {
                if device.starts_with("usb") {
                    self.line(format!(
                        "{} remove the key at {device}",
                        if ok { "done:" } else { "failed:" }
                    ));
                }
            }
            RunEvent::Warning { message } => self.line(format!("warning: {message}")),
        }
    }
}

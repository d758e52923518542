//! The crate's one error type.

use ctap::StatusCode;

/// Everything that can stop a provisioning step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key refused or failed a CTAP command.
    #[error("security key: {0}")]
    Key(#[from] ctap::Error),
    /// The directory answered with an error (Graph error envelope).
    #[error("directory refused {operation}: HTTP {status} {code}: {message}")]
    Directory {
        /// What was being done (`register`, `list methods`, …).
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// The directory's error code.
        code: String,
        /// What happened, for people.
        message: String,
    },
    /// The directory could not be reached or sent something unreadable.
    #[error("directory {operation}: {message}")]
    DirectoryTransport {
        /// What was being done (`register`, `list methods`, …).
        operation: &'static str,
        /// What happened, for people.
        message: String,
    },
    /// The key already holds a passkey for this user (CREDENTIAL_EXCLUDED).
    #[error("the key already holds a passkey for {user}; use another key or deprovision first")]
    /// The key already holds a passkey for this user (CREDENTIAL_EXCLUDED).
    AlreadyProvisioned {
        /// The user (UPN or object id, as the run names them).
        user: String,
    },
    /// The key has no room left for another passkey (KEY_STORE_FULL).
    #[error("the key is full (no room for another passkey); remove credentials with `keysmith key creds delete` or reset it")]
    KeyFull,
    /// A PIN problem the operator must resolve (wrong current PIN, …).
    #[error("{0}")]
    Pin(String),
    /// The key cannot apply the requested PIN policy.
    #[error("{0}")]
    PinPolicy(String),
    /// The journal could not be written or read.
    #[error("journal {path}: {message}")]
    /// The journal could not be written or read.
    Journal {
        /// The file.
        path: String,
        /// What happened, for people.
        message: String,
    },
    /// Bad input from the operator (CSV, options).
    #[error("{0}")]
    Input(String),
    #[error("{context}: {source}")]
    /// A file operation failed.
    Io {
        /// What was being done.
        context: String,
        #[source]
        /// The error.
        source: std::io::Error,
    },
    /// A failpoint fired (tests simulate a crash at a step boundary).
    #[error("failpoint {0} reached")]
    Failpoint(String),
}

impl Error {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The CTAP status behind this error, if any.
    pub fn ctap_status(&self) -> Option<StatusCode> {
        match self {
            Error::Key(e) => e.status(),
            _ => None,
        }
    }

    /// A stable short name for results files and `--json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Key(_) => "keyError",
            Error::Directory { .. } => "directoryError",
            Error::DirectoryTransport { .. } => "directoryUnreachable",
            Error::AlreadyProvisioned { .. } => "alreadyProvisioned",
            Error::KeyFull => "keyFull",
            Error::Pin(_) => "pinError",
            Error::PinPolicy(_) => "pinPolicyUnsupported",
            Error::Journal { .. } => "journalError",
            Error::Input(_) => "invalidInput",
            Error::Io { .. } => "ioError",
            Error::Failpoint(_) => "failpoint",
        }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Test hook: when the environment variable `KEYSMITH_FAILPOINT` names
/// `point` (optionally `point@N` for the N-th time it is reached, 1-based),
/// the process exits immediately with status 86, as if killed there.
/// Used by the crash/resume tests; costs one env lookup otherwise.
pub fn failpoint(point: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static HITS: AtomicUsize = AtomicUsize::new(0);
    let Ok(spec) = std::env::var("KEYSMITH_FAILPOINT") else {
        return;
    };
    let (name, nth) = match spec.split_once('@') {
        Some((n, k)) => (n.to_owned(), k.parse::<usize>().unwrap_or(1)),
        None => (spec.clone(), 1),
    };
    if name != point {
        return;
    }
    if HITS.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        eprintln!("failpoint {point} reached: exiting");
        std::process::exit(86);
    }
}

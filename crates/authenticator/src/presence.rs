//! User presence ("touch the key") for a key without a button: approved,
//! denied or left to time out by configuration, cancellable by the host.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the simulated user does when the key asks for a touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceMode {
    /// Touch the key (after `touch_delay`).
    Approve,
    /// Refuse: the key answers OPERATION_DENIED.
    Deny,
    /// Never touch: the key answers USER_ACTION_TIMEOUT after the timeout.
    Timeout,
}

impl std::str::FromStr for PresenceMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "approve" => Ok(Self::Approve),
            "deny" => Ok(Self::Deny),
            "timeout" => Ok(Self::Timeout),
            other => Err(format!(
                "presence `{other}`: expected approve, deny or timeout"
            )),
        }
    }
}

/// How a request for presence ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceOutcome {
    /// The user touched the key.
    Approved,
    /// The user refused (CTAP2_ERR_OPERATION_DENIED).
    Denied,
    /// No touch came in time (CTAP2_ERR_USER_ACTION_TIMEOUT).
    TimedOut,
    /// The host sent CTAPHID_CANCEL.
    Cancelled,
}

/// Asks the (simulated) user for a touch; blocks until an outcome.
pub trait UserPresence {
    /// Waits for the user's answer.
    fn request(&self) -> PresenceOutcome;
}

/// Presence as configured, watching a cancel flag set by the HID layer and
/// raising a flag the HID layer turns into UPNEEDED keepalives.
#[derive(Debug, Clone)]
pub struct SimulatedPresence {
    /// Whether the simulated user approves, denies or never answers.
    pub mode: PresenceMode,
    /// How long the simulated touch takes.
    pub touch_delay: Duration,
    /// How long to wait before [`PresenceOutcome::TimedOut`].
    pub timeout: Duration,
    /// Set by the HID layer when the host sends CTAPHID_CANCEL.
    pub cancel: Arc<AtomicBool>,
    /// Raised while a touch is awaited (the HID layer sends UPNEEDED keepalives).
    pub waiting: Arc<AtomicBool>,
}

impl SimulatedPresence {
    /// A simulated user with fresh cancel and waiting flags.
    pub fn new(mode: PresenceMode, touch_delay: Duration, timeout: Duration) -> Self {
        Self {
            mode,
            touch_delay,
            timeout,
            cancel: Arc::new(AtomicBool::new(false)),
            waiting: Arc::new(AtomicBool::new(false)),
        }
    }

    fn wait(&self, duration: Duration) -> bool {
        let end = Instant::now() + duration;
        while Instant::now() < end {
            if self.cancel.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(
                Duration::from_millis(10).min(end.saturating_duration_since(Instant::now())),
            );
        }
        !self.cancel.load(Ordering::SeqCst)
    }
}

impl UserPresence for SimulatedPresence {
    fn request(&self) -> PresenceOutcome {
        self.waiting.store(true, Ordering::SeqCst);
        let outcome = match self.mode {
            PresenceMode::Approve => {
                if self.wait(self.touch_delay) {
                    PresenceOutcome::Approved
                } else {
                    PresenceOutcome::Cancelled
                }
            }
            PresenceMode::Deny => {
                if self.wait(self.touch_delay) {
                    PresenceOutcome::Denied
                } else {
                    PresenceOutcome::Cancelled
                }
            }
            PresenceMode::Timeout => {
                if self.wait(self.timeout) {
                    PresenceOutcome::TimedOut
                } else {
                    PresenceOutcome::Cancelled
                }
            }
        };
        self.waiting.store(false, Ordering::SeqCst);
        outcome
    }
}

/// Always approves at once (in-process tests that need no HID).
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysPresent;

impl UserPresence for AlwaysPresent {
    fn request(&self) -> PresenceOutcome {
        PresenceOutcome::Approved
    }
}

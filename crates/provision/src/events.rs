//! What a provisioning run reports while it works, and who listens (the
//! CLI's progress bars). Below the runner and the per-key work, which both
//! report.

use crate::results::UserOutcome;

/// What a run reports while it works.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The run began.
    Started {
        /// Users in the run.
        total: usize,
        /// Users a resumed run found already provisioned.
        already_done: usize,
    },
    /// Waiting for a key to be inserted.
    WaitingForKey {
        /// The first user still to do, if any.
        next_user: Option<String>,
    },
    /// A key was plugged in.
    KeyInserted {
        /// The key's address (`usb:/dev/hidraw3`, `udp:127.0.0.1:8765`).
        device: String,
    },
    /// Work on a user began on a key.
    UserStarted {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The key's address (`usb:/dev/hidraw3`, `udp:127.0.0.1:8765`).
        device: String,
        /// The user's position in the run (from 1).
        index: usize,
        /// Users in the run.
        total: usize,
    },
    /// A user's next step began.
    Step {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The step (`set PIN`, `create credential`, `register`, …).
        step: &'static str,
    },
    /// The key wants a touch.
    TouchKey {
        /// The key's address (`usb:/dev/hidraw3`, `udp:127.0.0.1:8765`).
        device: String,
    },
    /// A user is finished (provisioned, failed or skipped).
    UserFinished(Box<UserOutcome>),
    /// The operator should take this key out.
    RemoveKey {
        /// The key's address (`usb:/dev/hidraw3`, `udp:127.0.0.1:8765`).
        device: String,
        /// Whether it ended well.
        ok: bool,
    },
    /// Something the operator should know; the run goes on.
    Warning {
        /// What happened, for people.
        message: String,
    },
}

/// Receives [`RunEvent`]s (the CLI draws progress bars from them).
pub trait RunObserver: Send + Sync {
    /// Hears one event (from any of the run's threads).
    fn event(&self, event: RunEvent);
}

/// An observer that ignores everything.
pub struct Quiet;
impl RunObserver for Quiet {
    fn event(&self, _: RunEvent) {}
}

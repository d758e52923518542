//! What a provisioning run reports while it works, and who listens (the
//! CLI's progress bars). Below the runner and the per-key work, which both
//! report.

use crate::results::UserOutcome;

/// What a run reports while it works.
#[derive(Debug, Clone)]
pub enum RunEvent {
    Started {
        total: usize,
        already_done: usize,
    },
    /// Waiting for a key to be inserted.
    WaitingForKey {
        next_user: Option<String>,
    },
    KeyInserted {
        device: String,
    },
    UserStarted {
        user: String,
        device: String,
        index: usize,
        total: usize,
    },
    Step {
        user: String,
        step: &'static str,
    },
    /// The key wants a touch.
    TouchKey {
        device: String,
    },
    UserFinished(Box<UserOutcome>),
    /// The operator should take this key out.
    RemoveKey {
        device: String,
        ok: bool,
    },
    Warning {
        message: String,
    },
}

/// Receives [`RunEvent`]s (the CLI draws progress bars from them).
pub trait RunObserver: Send + Sync {
    fn event(&self, event: RunEvent);
}

/// An observer that ignores everything.
pub struct Quiet;
impl RunObserver for Quiet {
    fn event(&self, _: RunEvent) {}
}

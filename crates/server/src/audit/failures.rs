//! Failures of unauthenticated or unauthorised callers (wrong secrets,
//! garbage tokens, junk sign-ins, CSRF and role refusals) are audited, but
//! an attacker must not be able to grow the trail at will. So they are
//! counted per (tenant, activity, class) in windows of
//! [`FailureLog::window`]: the first [`FailureLog::per_window`] of a window
//! are recorded one by one, the rest only counted, and when the window
//! ends one summary event says how many were not recorded and gives a
//! sample. The class is from a closed set (status and error code), never
//! the caller's text, so the number of keys is bounded too.
//!
//! The counts live in memory: a crash loses at most one window's summary
//! (the individual events were written with their requests).

use super::OwnedEvent;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::error::AuthFailure;

/// What to do with one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Record it as an event of its own.
    Write,
    /// Only count it (it goes into the window's summary).
    Suppress,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: String,
    activity: String,
    class: String,
}

#[derive(Debug)]
struct Slot {
    since: Instant,
    since_unix: i64,
    written: u32,
    suppressed: u64,
    sample: String,
}

/// The per-window counters.
#[derive(Debug)]
pub struct FailureLog {
    slots: Mutex<HashMap<Key, Slot>>,
    /// Length of a counting window.
    pub window: Duration,
    /// Failures of one key recorded one by one in a window.
    pub per_window: u32,
}

/// Most keys counted at once; past it, new keys share one overflow key.
const MAX_KEYS: usize = 10_000;

impl Default for FailureLog {
    fn default() -> Self {
        FailureLog::new(Duration::from_secs(60), 10)
    }
}

impl FailureLog {
    /// A log that records the first `per_window` failures of one kind in each
    /// `window` one by one, and only counts the rest (one summary event when
    /// the window ends).
    pub fn new(window: Duration, per_window: u32) -> FailureLog {
        FailureLog {
            slots: Mutex::new(HashMap::new()),
            window,
            per_window,
        }
    }

    /// Counts one failure of `activity` in `tenant` with `class` (e.g.
    /// `401 unauthenticated`); `reason` is kept as the window's sample.
    pub fn admit(&self, tenant: &str, activity: &str, class: &str, reason: &str) -> Admit {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = Key {
            tenant: tenant.to_owned(),
            activity: activity.to_owned(),
            class: class.to_owned(),
        };
        if !slots.contains_key(&key) && slots.len() >= MAX_KEYS {
            key = Key {
                tenant: super::SERVER_CHAIN.to_owned(),
                activity: "Audit overflow".to_owned(),
                class: "many kinds of failure".to_owned(),
            };
        }
        let slot = slots.entry(key).or_insert_with(|| Slot {
            since: now,
            since_unix: crate::time_util::now_unix(),
            written: 0,
            suppressed: 0,
            sample: super::bounded(reason, 200),
        });
        if slot.written < self.per_window {
            slot.written += 1;
            Admit::Write
        } else {
            slot.suppressed += 1;
            Admit::Suppress
        }
    }

    /// Ends the windows that are over (all of them with `all`) and returns
    /// one summary event for each that suppressed failures.
    pub fn take_summaries(&self, all: bool) -> Vec<OwnedEvent> {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let ended: Vec<Key> = slots
            .iter()
            .filter(|(_, s)| all || now.duration_since(s.since) >= self.window)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for k in ended {
            let Some(s) = slots.remove(&k) else { continue };
            if s.suppressed == 0 {
                continue;
            }
            let until = crate::time_util::now_unix();
            out.push(OwnedEvent {
                tenant_id: k.tenant.clone(),
                actor: "(many)".into(),
                activity: k.activity.clone(),
                target: String::new(),
                result: "failure".into(),
                reason: format!(
                    "{} more failures ({}) between {} and {} were counted, not recorded one by one; for example: {}",
                    s.suppressed,
                    k.class,
                    crate::time_util::rfc3339(s.since_unix),
                    crate::time_util::rfc3339(until),
                    s.sample
                ),
                request_id: String::new(),
                details: serde_json::json!({
                    "aggregated": true,
                    "suppressed": s.suppressed,
                    "recorded": s.written,
                    "class": k.class,
                    "windowStart": crate::time_util::rfc3339(s.since_unix),
                    "windowEnd": crate::time_util::rfc3339(until),
                }),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_gives_a_few_events_and_one_summary() {
        let log = FailureLog::new(Duration::from_secs(3600), 3);
        let written = (0..300)
            .filter(|i| {
                log.admit("t", "Sign in", "400 invalidRequest", &format!("junk {i}"))
                    == Admit::Write
            })
            .count();
        assert_eq!(written, 3);
        assert!(log.take_summaries(false).is_empty(), "window still open");
        let s = log.take_summaries(true);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].details["suppressed"], 297);
        assert!(s[0].reason.contains("junk 0"));
        // A new window starts afresh.
        assert_eq!(
            log.admit("t", "Sign in", "400 invalidRequest", "x"),
            Admit::Write
        );
    }
}

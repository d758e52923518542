//! Prometheus text metrics: request counts and latency by route, method and
//! status; registrations and sign-ins by result. Per process.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// (route, method, status) → (count, seconds in total).
type RequestTable = BTreeMap<(String, String, u16), (u64, f64)>;

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<RequestTable>,
    events: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Metrics {
    pub fn observe_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            let e = m
                .entry((route.to_owned(), method.to_owned(), status))
                .or_insert((0, 0.0));
            e.0 += 1;
            e.1 += took.as_secs_f64();
        }
    }

    /// Counts a registration or sign-in (`kind`) with `result`.
    pub fn count(&self, kind: &'static str, result: &'static str) {
        if let Ok(mut m) = self.events.lock() {
            *m.entry((kind, result)).or_insert(0) += 1;
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP keysmith_http_requests_total HTTP requests served.\n# TYPE keysmith_http_requests_total counter\n");
        let reqs = self.requests.lock().map(|m| m.clone()).unwrap_or_default();
        for ((route, method, status), (n, _)) in &reqs {
            let _ = writeln!(out, "keysmith_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}", esc(route));
        }
        out.push_str("# HELP keysmith_http_request_duration_seconds_sum Total time serving requests.\n# TYPE keysmith_http_request_duration_seconds_sum counter\n");
        for ((route, method, status), (_, s)) in &reqs {
            let _ = writeln!(out, "keysmith_http_request_duration_seconds_sum{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {s:.6}", esc(route));
        }
        let events = self.events.lock().map(|m| m.clone()).unwrap_or_default();
        for kind in ["registrations", "signins"] {
            let _ = writeln!(out, "# HELP keysmith_{kind}_total FIDO2 {kind} by result.\n# TYPE keysmith_{kind}_total counter");
            for ((k, result), n) in &events {
                if *k == kind {
                    let _ = writeln!(out, "keysmith_{kind}_total{{result=\"{result}\"}} {n}");
                }
            }
        }
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

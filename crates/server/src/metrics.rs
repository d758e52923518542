//! `/metrics`, in the OpenMetrics text format (which Prometheus scrapes),
//! encoded by `prometheus-client`: request counts and a latency histogram
//! by route, method and status; registrations and sign-ins by result; the
//! group commit's counters and the rate limits (read when scraped). Per
//! process.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::time::Duration;

/// The content type of [`Metrics::render`]'s document.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: String,
}

/// One more `success` or `failure` in `family`.
fn count(family: &Family<ResultLabel, Counter>, ok: bool) {
    let result = if ok { "success" } else { "failure" };
    family
        .get_or_create(&ResultLabel {
            result: result.to_owned(),
        })
        .inc();
}

type DurationFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// The latency buckets: 0.25 ms to about 4 s, doubling.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// The counters request handling updates (cheap clones of shared state).
#[derive(Debug)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    durations: DurationFamily,
    registrations: Family<ResultLabel, Counter>,
    signins: Family<ResultLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            registrations: Family::default(),
            signins: Family::default(),
        }
    }
}

/// One rate limit as `/metrics` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSnapshot {
    /// The limit's name (`token_per_address`, …).
    pub name: &'static str,
    /// Requests allowed per minute and key (0 when limits are off).
    pub per_minute: u32,
    /// Requests allowed at once per key.
    pub burst: u32,
    /// Requests refused with 429 so far.
    pub refused: u64,
}

impl Metrics {
    /// Counts a request served and how long it took.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let labels = RequestLabels {
            route: route.to_owned(),
            method: method.to_owned(),
            status,
        };
        self.durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// Counts a registration's outcome.
    pub fn registration(&self, ok: bool) {
        count(&self.registrations, ok);
    }

    /// Counts a sign-in's outcome.
    pub fn signin(&self, ok: bool) {
        count(&self.signins, ok);
    }

    /// The metrics document: these counters, the group commit's
    /// `(batches, jobs)` and the rate limits, as read now.
    pub fn render(&self, commits: (u64, u64), limits: &[LimitSnapshot]) -> String {
        let mut registry = Registry::default();
        registry.register(
            "keysmith_http_requests",
            "HTTP requests served",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "keysmith_http_request_duration",
            "Time serving requests",
            Unit::Seconds,
            self.durations.clone(),
        );
        registry.register(
            "keysmith_registrations",
            "FIDO2 registrations by result",
            self.registrations.clone(),
        );
        registry.register(
            "keysmith_signins",
            "FIDO2 sign-ins by result",
            self.signins.clone(),
        );
        let counter = |n: u64| {
            let c: Counter = Counter::default();
            c.inc_by(n);
            c
        };
        registry.register(
            "keysmith_db_commits",
            "Group commits (transactions) run by the writer",
            counter(commits.0),
        );
        registry.register(
            "keysmith_db_write_jobs",
            "Write jobs run in group commits",
            counter(commits.1),
        );
        let per_minute = Family::<LimitLabel, Gauge>::default();
        let burst = Family::<LimitLabel, Gauge>::default();
        let refused = Family::<LimitLabel, Counter>::default();
        for l in limits {
            let label = LimitLabel {
                limit: l.name.to_owned(),
            };
            per_minute
                .get_or_create(&label)
                .set(i64::from(l.per_minute));
            burst.get_or_create(&label).set(i64::from(l.burst));
            refused.get_or_create(&label).inc_by(l.refused);
        }
        registry.register(
            "keysmith_rate_limit_per_minute",
            "Requests allowed per minute and key, by limit (0: limits off)",
            per_minute,
        );
        registry.register(
            "keysmith_rate_limit_burst",
            "Requests allowed at once per key, by limit",
            burst,
        );
        registry.register(
            "keysmith_rate_limited",
            "Requests refused with 429, by limit",
            refused,
        );
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document is OpenMetrics: each family described once (HELP,
    /// TYPE), counters with `_total`, the histogram's buckets up to +Inf
    /// with its sum and count, labels quoted, `# EOF` last.
    #[test]
    fn the_document_is_openmetrics() {
        let m = Metrics::default();
        m.observe_request("/v1.0/users/{user}", "GET", 200, Duration::from_millis(3));
        m.observe_request("/v1.0/users/{user}", "GET", 200, Duration::from_millis(5));
        m.registration(true);
        m.signin(false);
        let limits = [LimitSnapshot {
            name: "token_per_address",
            per_minute: 60,
            burst: 30,
            refused: 4,
        }];
        let text = m.render((3, 7), &limits);
        let labels = r#"{route="/v1.0/users/{user}",method="GET",status="200"}"#;
        for line in [
            "# TYPE keysmith_http_requests counter".to_owned(),
            format!("keysmith_http_requests_total{labels} 2"),
            "# TYPE keysmith_http_request_duration_seconds histogram".to_owned(),
            "# UNIT keysmith_http_request_duration_seconds seconds".to_owned(),
            format!("keysmith_http_request_duration_seconds_count{labels} 2"),
            "keysmith_registrations_total{result=\"success\"} 1".to_owned(),
            "keysmith_signins_total{result=\"failure\"} 1".to_owned(),
            "keysmith_db_commits_total 3".to_owned(),
            "keysmith_db_write_jobs_total 7".to_owned(),
            "keysmith_rate_limit_per_minute{limit=\"token_per_address\"} 60".to_owned(),
            "keysmith_rate_limit_burst{limit=\"token_per_address\"} 30".to_owned(),
            "keysmith_rate_limited_total{limit=\"token_per_address\"} 4".to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        let inf = text
            .lines()
            .find(|l| {
                l.starts_with("keysmith_http_request_duration_seconds_bucket")
                    && l.contains("le=\"+Inf\"")
            })
            .unwrap_or_else(|| panic!("no +Inf bucket in\n{text}"));
        assert!(inf.ends_with(" 2"), "{inf}");
        let sum: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "keysmith_http_request_duration_seconds_sum{labels} "
                ))
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no sum in\n{text}"));
        assert!((sum - 0.008).abs() < 1e-9, "{sum}");
        assert_eq!(text.lines().last(), Some("# EOF"));
        assert_eq!(text.matches("# HELP keysmith_http_requests ").count(), 1);
    }
}

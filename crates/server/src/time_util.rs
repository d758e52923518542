//! Time as the API shows it: RFC 3339 UTC, whole seconds.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, in Unix seconds.
pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// A Unix time in RFC 3339 (UTC, to the second).
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Now, in RFC 3339.
pub fn now_rfc3339() -> String {
    rfc3339(now_unix())
}

/// Parses an RFC 3339 instant to unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

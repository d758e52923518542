//! Graph's server-driven paging: `$top` sets the page size (default 100,
//! at most 999), and a page that is not the last carries
//! `@odata.nextLink`, the same request with an opaque `$skiptoken`.
//!
//! The token is a *keyset* position — the sort key of the last object
//! handed out, never an offset — so paging through a collection while
//! objects are added hands out every object that existed at the start
//! exactly once (objects added behind the position are not seen, those
//! added ahead of it are; none is repeated or skipped). Sources: Microsoft
//! Graph, "Paging Microsoft Graph data in your app" (the client follows
//! `@odata.nextLink` as is and must not build or read the token; `$top`
//! up to 999 on users and groups) and "directoryAudit list" (`$top`,
//! `$skiptoken`).
//!
//! The token is base64url of a small JSON document naming the collection
//! kind and the key values. It is not secret (the values are the caller's
//! own data) and not trusted: every value is bound as a SQL parameter, and
//! a token of another collection or of the wrong shape is a 400.

use crate::error::{ApiError, ApiResult};
use axum::http::{HeaderMap, Uri};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Objects per page when `$top` is absent.
pub const DEFAULT_PAGE: i64 = 100;
/// The largest `$top` (Graph's own maximum on directory collections).
pub const MAX_PAGE: i64 = 999;

/// One value of a keyset position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Key {
    /// An integer column.
    Int(i64),
    /// A text column.
    Text(String),
}

#[derive(Serialize, Deserialize)]
struct Token {
    /// The collection kind the position belongs to.
    k: String,
    /// The sort key of the last object of the previous page.
    v: Vec<Key>,
}

/// The page a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    /// Objects on this page.
    pub top: i64,
    /// Start after this sort key (absent: from the start).
    pub after: Option<Vec<Key>>,
    kind: String,
}

impl PageRequest {
    /// `$top` and `$skiptoken` of `query` for a collection of `kind`.
    pub fn from_query(query: &HashMap<String, String>, kind: &str) -> ApiResult<Self> {
        let top = match query.get("$top") {
            None => DEFAULT_PAGE,
            Some(t) => t
                .parse::<i64>()
                .ok()
                .filter(|t| (1..=MAX_PAGE).contains(t))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("$top must be an integer from 1 to {MAX_PAGE}."))
                })?,
        };
        let after = match query.get("$skiptoken") {
            None => None,
            Some(t) => Some(decode(t, kind)?),
        };
        Ok(PageRequest {
            top,
            after,
            kind: kind.to_owned(),
        })
    }

    /// Rows to fetch: one more than the page, to learn whether another
    /// page follows.
    pub fn limit(&self) -> i64 {
        self.top + 1
    }

    /// Cuts `rows` (fetched with [`Self::limit`]) to the page, and gives
    /// the token of the next page when there is one. `key` is the sort key
    /// of a row.
    pub fn finish<T>(
        &self,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> Vec<Key>,
    ) -> (Vec<T>, Option<String>) {
        if rows.len() as i64 <= self.top {
            return (rows, None);
        }
        rows.truncate(self.top as usize);
        let next = rows.last().map(|last| encode(&self.kind, key(last)));
        (rows, next)
    }
}

pub(crate) fn bad_token() -> ApiError {
    ApiError::bad_request(
        "$skiptoken is not valid for this collection: follow @odata.nextLink as given.",
    )
}

fn encode(kind: &str, v: Vec<Key>) -> String {
    let json = serde_json::to_vec(&Token {
        k: kind.to_owned(),
        v,
    })
    .expect("a token serializes");
    webauthn::b64::encode(&json)
}

fn decode(token: &str, kind: &str) -> ApiResult<Vec<Key>> {
    // Our tokens are short; a long one is not ours (and bounded work).
    if token.len() > 2048 {
        return Err(bad_token());
    }
    let bytes = webauthn::b64::decode(token).map_err(|_| bad_token())?;
    let t: Token = serde_json::from_slice(&bytes).map_err(|_| bad_token())?;
    if t.k != kind || t.v.is_empty() {
        return Err(bad_token());
    }
    Ok(t.v)
}

/// Whether the request came from a trusted reverse proxy (so its
/// `X-Forwarded-*` headers count), set by the request middleware.
#[derive(Debug, Clone, Copy)]
pub struct FromTrustedProxy(pub bool);

/// Scheme and authority the caller reached this server at: `Host` (or, from
/// a trusted reverse proxy, `X-Forwarded-Proto` / `X-Forwarded-Host`), so
/// that a client following `@odata.nextLink` stays on the origin it called
/// (public clients refuse to send their token elsewhere).
#[derive(Debug, Clone)]
pub struct PublicBase(pub String);

impl PublicBase {
    /// The base URL of the request (`Host`, or the forwarded headers of a trusted proxy).
    pub fn from_headers(headers: &HeaderMap, from_trusted_proxy: bool) -> PublicBase {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let forwarded = |name| {
            if from_trusted_proxy {
                header(name)
            } else {
                None
            }
        };
        let scheme = match forwarded("x-forwarded-proto") {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let host = forwarded("x-forwarded-host")
            .or_else(|| header("host"))
            .filter(|h| h.parse::<axum::http::uri::Authority>().is_ok() && !h.contains('@'))
            .unwrap_or("localhost");
        PublicBase(format!("{scheme}://{host}"))
    }
}

/// `@odata.nextLink`: the request's own URL (path and every query option
/// but `$skiptoken`, as sent) with `$skiptoken=token`.
pub fn next_link(base: &PublicBase, uri: &Uri, token: &str) -> String {
    let mut query: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let name = p.split('=').next().unwrap_or("");
            let name = percent_decode(name);
            name != "$skiptoken"
        })
        .collect();
    let skip = format!("$skiptoken={token}");
    query.push(&skip);
    format!("{}{}?{}", base.0, uri.path(), query.join("&"))
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("{s}=").as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn top_defaults_to_100_and_is_bounded() {
        assert_eq!(PageRequest::from_query(&q(&[]), "users").unwrap().top, 100);
        assert_eq!(
            PageRequest::from_query(&q(&[("$top", "999")]), "users")
                .unwrap()
                .top,
            999
        );
        assert_eq!(
            PageRequest::from_query(&q(&[("$top", "1")]), "users")
                .unwrap()
                .limit(),
            2
        );
        for bad in ["0", "1000", "-1", "x", ""] {
            let e = PageRequest::from_query(&q(&[("$top", bad)]), "users").unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{bad}");
            assert!(e.message.contains("999"), "{}", e.message);
        }
    }

    #[test]
    fn tokens_round_trip_and_belong_to_their_collection() {
        let first = PageRequest::from_query(&q(&[("$top", "2")]), "groups").unwrap();
        assert_eq!(first.after, None);
        let (page, next) = first.finish(vec!["a", "b", "c"], |s| {
            vec![Key::Text((*s).to_owned()), Key::Int(7)]
        });
        assert_eq!(page, ["a", "b"]);
        let token = next.unwrap();
        assert!(!token.contains(['+', '/', '=']), "{token}");
        let second = PageRequest::from_query(&q(&[("$skiptoken", &token)]), "groups").unwrap();
        assert_eq!(second.after, Some(vec![Key::Text("b".into()), Key::Int(7)]));
        // Another collection's token, garbage, or an over-long token.
        for (t, kind) in [
            (token.as_str(), "users"),
            ("not base64!", "groups"),
            ("e30", "groups"),
            (&"A".repeat(4000), "groups"),
        ] {
            let e = PageRequest::from_query(&q(&[("$skiptoken", t)]), kind).unwrap_err();
            assert_eq!(e.status.as_u16(), 400);
            assert!(e.message.contains("$skiptoken"));
        }
        // The last page has no next token; an exact page neither.
        let (page, next) = first.finish(vec!["a", "b"], |s| vec![Key::Text((*s).to_owned())]);
        assert_eq!((page.len(), next), (2, None));
    }

    #[test]
    fn next_links_keep_the_request_and_replace_the_token() {
        let base = PublicBase("http://h:1".into());
        let uri: Uri = "/v1.0/users?$top=5&%24skiptoken=old&x=a%20b"
            .parse()
            .unwrap();
        assert_eq!(
            next_link(&base, &uri, "NEW"),
            "http://h:1/v1.0/users?$top=5&x=a%20b&$skiptoken=NEW"
        );
        let uri: Uri = "/beta/groups/".parse().unwrap();
        assert_eq!(
            next_link(&base, &uri, "T"),
            "http://h:1/beta/groups/?$skiptoken=T"
        );
    }

    #[test]
    fn the_public_base_follows_trusted_proxies_only() {
        let mut h = HeaderMap::new();
        h.insert("host", "keys.example:8443".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        h.insert("x-forwarded-host", "id.example".parse().unwrap());
        assert_eq!(
            PublicBase::from_headers(&h, false).0,
            "http://keys.example:8443"
        );
        assert_eq!(PublicBase::from_headers(&h, true).0, "https://id.example");
        let mut h = HeaderMap::new();
        h.insert("host", "evil@x/y".parse().unwrap());
        assert_eq!(PublicBase::from_headers(&h, false).0, "http://localhost");
        assert_eq!(
            PublicBase::from_headers(&HeaderMap::new(), false).0,
            "http://localhost"
        );
    }
}

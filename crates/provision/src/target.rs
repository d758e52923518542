//! The directory a run provisions against: Keysmith's own server or
//! Microsoft Graph. Both speak Graph's FIDO2 shapes (see
//! `shared/design/GRAPH_FIDO2_API.md`), so there is one client; only the base
//! URL and the token endpoint differ.

// `ureq::Error` is large; closures returning it are ureq's own API shape.
#![allow(clippy::result_large_err)]

use crate::error::{Error, Result};
use secrecy::ExposeSecret;
/// The secret wrapper of tokens and client secrets (re-exported for the
/// CLI that builds [`TokenSourceInput`]).
pub use secrecy::SecretString;
use serde::de::DeserializeOwned;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use webauthn::graph::{
    Collection, CreationOptionsResponse, ErrorResponse, Fido2Method, Fido2Policy, RegisterRequest,
    TokenResponse,
};
use zeroize::Zeroizing;

/// Microsoft Graph's base URL. `beta` is the one that honours a custom
/// challenge timeout.
pub const GRAPH_BASE_URL: &str = "https://graph.microsoft.com/beta";
/// Entra ID's token endpoint; `{tenant}` is replaced.
pub const ENTRA_TOKEN_URL: &str = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token";
/// The scope of an app-only Graph token.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Where access tokens come from. The secrets are `secrecy`'s: wiped on
/// drop, `[REDACTED]` in `Debug`.
#[derive(Debug)]
pub enum TokenSource {
    /// A token the operator obtained elsewhere.
    Bearer(SecretString),
    /// OAuth 2.0 client credentials grant.
    ClientCredentials {
        /// The OAuth 2.0 token endpoint.
        token_url: String,
        /// The app registration's client id.
        client_id: String,
        /// The app's client secret.
        client_secret: SecretString,
        /// The scope asked for (Graph: `https://graph.microsoft.com/.default`).
        scope: String,
    },
}

/// Which kind of directory is on the other end (for messages and quirks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Keysmith's own server.
    Keysmith,
    /// Microsoft Graph (Entra ID), or anything speaking it.
    Graph,
}

/// How to reach a directory.
#[derive(Debug)]
pub struct TargetConfig {
    /// Keysmith or Graph (for messages and the differences between them).
    pub kind: TargetKind,
    /// Up to and including the version segment, e.g.
    /// `http://127.0.0.1:8080/beta` or `https://graph.microsoft.com/beta`.
    pub base_url: String,
    /// Where access tokens come from.
    pub token: TokenSource,
    /// Retries of a request that failed transiently (429, 5xx, network).
    pub max_retries: u32,
    /// First backoff; doubles each retry, capped at 30 s; `Retry-After`
    /// wins when the server sends it.
    pub initial_backoff: Duration,
    /// How long one request may take.
    pub request_timeout: Duration,
}

impl TargetConfig {
    /// Keysmith's server at `server` (e.g. `http://127.0.0.1:8080`), tenant
    /// `tenant`, with client credentials.
    pub fn keysmith(server: &str, tenant: &str, token: TokenSourceInput) -> Self {
        let server = server.trim_end_matches('/');
        let token_url = format!("{server}/{tenant}/oauth2/v2.0/token");
        Self::new(
            TargetKind::Keysmith,
            format!("{server}/beta"),
            token,
            token_url,
        )
    }

    /// Microsoft Graph (or anything at `base_url` speaking it), tenant
    /// `tenant`, with Entra's token endpoint unless `token_url` overrides it.
    pub fn graph(
        base_url: Option<&str>,
        tenant: &str,
        token_url: Option<&str>,
        token: TokenSourceInput,
    ) -> Self {
        let token_url = token_url
            .map(str::to_owned)
            .unwrap_or_else(|| ENTRA_TOKEN_URL.replace("{tenant}", tenant));
        Self::new(
            TargetKind::Graph,
            base_url.unwrap_or(GRAPH_BASE_URL).to_owned(),
            token,
            token_url,
        )
    }

    fn new(kind: TargetKind, base_url: String, token: TokenSourceInput, token_url: String) -> Self {
        let token = match token {
            TokenSourceInput::Bearer(t) => TokenSource::Bearer(t),
            TokenSourceInput::ClientSecret { client_id, secret } => {
                TokenSource::ClientCredentials {
                    token_url,
                    client_id,
                    client_secret: secret,
                    scope: GRAPH_SCOPE.to_owned(),
                }
            }
        };
        Self {
            kind,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
            max_retries: 5,
            initial_backoff: Duration::from_millis(250),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Credentials as the operator gives them, before the token URL is known.
#[derive(Debug)]
pub enum TokenSourceInput {
    /// A token the operator obtained elsewhere.
    Bearer(SecretString),
    /// OAuth 2.0 client credentials: the token URL is known once the directory is.
    ClientSecret {
        /// The app registration's client id.
        client_id: String,
        /// The app's client secret.
        secret: SecretString,
    },
}

/// A directory user as `/users` and `/groups/{id}/members` return them
/// (Graph's `user` resource, shared with the server).
pub use webauthn::graph::User as DirectoryUser;

/// A client of one directory. Cheap to share between threads.
pub struct Directory {
    config: TargetConfig,
    agent: ureq::Agent,
    token: Mutex<Option<(SecretString, Instant)>>,
}

enum Body<'a> {
    None,
    Json(&'a serde_json::Value),
}

impl Directory {
    /// A client of the directory `config` names (no request is made yet).
    pub fn new(config: TargetConfig) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout(config.request_timeout)
            .user_agent(concat!("keysmith/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            config,
            agent,
            token: Mutex::new(None),
        }
    }

    /// Keysmith or Graph.
    pub fn kind(&self) -> TargetKind {
        self.config.kind
    }

    /// The base URL, up to the version segment.
    pub fn base_url(&self) -> &str {
        &self.config.base_url
    }

    /// Step 1: WebAuthn creation options for `user` (object id or UPN),
    /// with a challenge valid for `timeout_minutes` (5..=43200).
    pub fn creation_options(
        &self,
        user: &str,
        timeout_minutes: u32,
    ) -> Result<CreationOptionsResponse> {
        let url = format!(
            "{}/users/{}/authentication/fido2Methods/creationOptions(challengeTimeoutInMinutes={timeout_minutes})",
            self.config.base_url,
            path_segment(user)
        );
        self.request("creationOptions", "GET", &url, Body::None)
    }

    /// Step 3: registers an attested credential for `user`.
    pub fn register(&self, user: &str, body: &RegisterRequest) -> Result<Fido2Method> {
        let url = format!(
            "{}/users/{}/authentication/fido2Methods",
            self.config.base_url,
            path_segment(user)
        );
        let json = serde_json::to_value(body).expect("RegisterRequest serialises");
        self.request("register", "POST", &url, Body::Json(&json))
    }

    /// A user's passkeys (every page).
    pub fn list_methods(&self, user: &str) -> Result<Vec<Fido2Method>> {
        let url = format!(
            "{}/users/{}/authentication/fido2Methods",
            self.config.base_url,
            path_segment(user)
        );
        self.collect_pages("listMethods", url)
    }

    /// A user's methods and the directory's per-user passkey limit when it
    /// announces one (Keysmith's `@keysmith.maxPasskeysPerUser`; Entra
    /// announces none). One page: the limit keeps the list short.
    pub fn methods_and_limit(&self, user: &str) -> Result<(Vec<Fido2Method>, Option<u32>)> {
        let url = format!(
            "{}/users/{}/authentication/fido2Methods",
            self.config.base_url,
            path_segment(user)
        );
        let first: Collection<Fido2Method> =
            self.request("listMethods", "GET", &url, Body::None)?;
        let limit = first.max_passkeys_per_user;
        Ok((self.rest_of_pages("listMethods", first)?, limit))
    }

    /// Deletes one of a user's passkeys.
    pub fn delete_method(&self, user: &str, method_id: &str) -> Result<()> {
        let url = format!(
            "{}/users/{}/authentication/fido2Methods/{}",
            self.config.base_url,
            path_segment(user),
            path_segment(method_id)
        );
        self.request::<serde_json::Value>("deleteMethod", "DELETE", &url, Body::None)
            .map(|_| ())
    }

    /// The tenant's FIDO2 policy.
    pub fn policy(&self) -> Result<Fido2Policy> {
        let url = format!(
            "{}/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2",
            self.config.base_url
        );
        self.request("readPolicy", "GET", &url, Body::None)
    }

    /// One user, by UPN or object id.
    pub fn user(&self, user: &str) -> Result<DirectoryUser> {
        let url = format!("{}/users/{}", self.config.base_url, path_segment(user));
        self.request("readUser", "GET", &url, Body::None)
    }

    /// Members of a group (following `@odata.nextLink`).
    pub fn group_members(&self, group: &str) -> Result<Vec<DirectoryUser>> {
        let url = format!(
            "{}/groups/{}/members",
            self.config.base_url,
            path_segment(group)
        );
        self.collect_pages("groupMembers", url)
    }

    fn collect_pages<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        url: String,
    ) -> Result<Vec<T>> {
        let first: Collection<T> = self.request(operation, "GET", &url, Body::None)?;
        self.rest_of_pages(operation, first)
    }

    /// `first`'s items and those of the pages its `@odata.nextLink` chain
    /// leads to (the first page is not fetched again).
    fn rest_of_pages<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        first: Collection<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut page = first;
        for _ in 0..10_000 {
            out.extend(page.value);
            match page.next_link {
                // The next page gets our bearer token: follow it only to
                // the directory we were configured for.
                Some(next) if same_origin(&next, &self.config.base_url) => {
                    page = self.request(operation, "GET", &next, Body::None)?;
                }
                Some(next) => {
                    return Err(Error::DirectoryTransport {
                        operation,
                        message: format!(
                            "refusing to follow @odata.nextLink to another host ({})",
                            origin_of(&next).unwrap_or("?")
                        ),
                    })
                }
                None => return Ok(out),
            }
        }
        Err(Error::DirectoryTransport {
            operation,
            message: "too many pages".into(),
        })
    }

    fn access_token(&self, force_refresh: bool) -> Result<SecretString> {
        match &self.config.token {
            TokenSource::Bearer(t) => Ok(t.clone()),
            TokenSource::ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => {
                let mut cached = self.token.lock().expect("token lock");
                if !force_refresh {
                    if let Some((token, until)) = cached.as_ref() {
                        if Instant::now() < *until {
                            return Ok(token.clone());
                        }
                    }
                }
                let response = self.with_retries("token", || {
                    self.agent.post(token_url).send_form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id),
                        ("client_secret", client_secret.expose_secret()),
                        ("scope", scope),
                    ])
                })?;
                let token: TokenResponse =
                    response
                        .into_json()
                        .map_err(|e| Error::DirectoryTransport {
                            operation: "token",
                            message: format!("unreadable token response: {e}"),
                        })?;
                let lifetime = Duration::from_secs(token.expires_in.saturating_sub(60).max(30));
                let value = SecretString::from(token.access_token);
                *cached = Some((value.clone(), Instant::now() + lifetime));
                Ok(value)
            }
        }
    }

    fn request<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: &str,
        url: &str,
        body: Body<'_>,
    ) -> Result<T> {
        let mut refreshed = false;
        loop {
            let token = self.access_token(refreshed)?;
            let bearer = Zeroizing::new(format!("Bearer {}", token.expose_secret()));
            let result = self.with_retries(operation, || {
                let req = self
                    .agent
                    .request(method, url)
                    .set("Authorization", &bearer)
                    .set("client-request-id", &uuid::Uuid::new_v4().to_string())
                    .set("Accept", "application/json");
                match &body {
                    Body::None => req.call(),
                    Body::Json(v) => req.send_json(v),
                }
            });
            match result {
                Ok(response) => {
                    if response.status() == 204 {
                        return serde_json::from_value(serde_json::Value::Null).map_err(|e| {
                            Error::DirectoryTransport {
                                operation,
                                message: e.to_string(),
                            }
                        });
                    }
                    let text = response
                        .into_string()
                        .map_err(|e| Error::DirectoryTransport {
                            operation,
                            message: e.to_string(),
                        })?;
                    let text = if text.trim().is_empty() {
                        "null"
                    } else {
                        &text
                    };
                    return serde_json::from_str(text).map_err(|e| Error::DirectoryTransport {
                        operation,
                        message: format!("unexpected answer: {e}"),
                    });
                }
                // A cached token may have been revoked or the clock skewed:
                // fetch a fresh one once.
                Err(Error::Directory { status: 401, .. })
                    if !refreshed
                        && matches!(self.config.token, TokenSource::ClientCredentials { .. }) =>
                {
                    refreshed = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs `send` until it gives a non-transient answer.
    fn with_retries(
        &self,
        operation: &'static str,
        send: impl Fn() -> std::result::Result<ureq::Response, ureq::Error>,
    ) -> Result<ureq::Response> {
        let started = Instant::now();
        let result = self.with_retries_untimed(operation, send);
        THREAD_DIRECTORY_TIME.with(|t| t.set(t.get() + started.elapsed()));
        result
    }

    fn with_retries_untimed(
        &self,
        operation: &'static str,
        send: impl Fn() -> std::result::Result<ureq::Response, ureq::Error>,
    ) -> Result<ureq::Response> {
        let mut backoff = self.config.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt > self.config.max_retries;
            match send() {
                Ok(r) => return Ok(r),
                Err(ureq::Error::Status(status, response)) => {
                    let transient = status == 429 || (500..600).contains(&status);
                    if transient && !last {
                        let wait = retry_after(&response).unwrap_or(backoff);
                        tracing::info!(operation, status, ?wait, "transient error, retrying");
                        std::thread::sleep(wait);
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        continue;
                    }
                    return Err(directory_error(operation, status, response));
                }
                Err(ureq::Error::Transport(t)) => {
                    if !last {
                        tracing::info!(operation, error = %t, "network error, retrying");
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        continue;
                    }
                    return Err(Error::DirectoryTransport {
                        operation,
                        message: t.to_string(),
                    });
                }
            }
        }
    }
}

thread_local! {
    static THREAD_DIRECTORY_TIME: std::cell::Cell<Duration> = const { std::cell::Cell::new(Duration::ZERO) };
}

/// Time this thread has spent waiting on directory requests (network and
/// server included): lets a run report its own overhead apart from the
/// server's. Each user is provisioned on one thread.
pub fn thread_directory_time() -> Duration {
    THREAD_DIRECTORY_TIME.with(|t| t.get())
}

fn retry_after(response: &ureq::Response) -> Option<Duration> {
    let secs: u64 = response.header("Retry-After")?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(120)))
}

fn directory_error(operation: &'static str, status: u16, response: ureq::Response) -> Error {
    let text = response.into_string().unwrap_or_default();
    let (code, message) = match serde_json::from_str::<ErrorResponse>(&text) {
        Ok(e) => (e.error.code, e.error.message),
        // OAuth token endpoints answer {"error": "...", "error_description": "..."}.
        Err(_) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) if v.get("error").and_then(|e| e.as_str()).is_some() => (
                v["error"].as_str().unwrap_or_default().to_owned(),
                v.get("error_description")
                    .and_then(|d| d.as_str())
                    .unwrap_or_default()
                    .to_owned(),
            ),
            _ => (
                "unknown".to_owned(),
                text.chars().take(200).collect::<String>(),
            ),
        },
    };
    Error::Directory {
        operation,
        status,
        code,
        message,
    }
}

/// `scheme://host[:port]` of an absolute URL.
fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..scheme.len() + 3 + end])
}

fn same_origin(a: &str, b: &str) -> bool {
    match (origin_of(a), origin_of(b)) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

/// Percent-encodes one path segment (RFC 3986 unreserved characters and
/// `@` stay as they are: UPNs appear verbatim in Graph URLs).
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers the queued (status, body) pairs in turn and
    /// counts requests.
    fn scripted_server(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for (conn, (status, body)) in listener.incoming().zip(answers) {
                let mut conn = conn.unwrap();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body_in = vec![0; length];
                reader.read_exact(&mut body_in).unwrap();
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = body.replace("{base}", &format!("http://{addr}"));
                write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nRetry-After: 0\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
        });
        (format!("http://{addr}"), count)
    }

    fn directory(base: &str) -> Directory {
        let mut c = TargetConfig::graph(
            Some(base),
            "t",
            None,
            TokenSourceInput::Bearer("token".into()),
        );
        c.initial_backoff = Duration::from_millis(1);
        Directory::new(c)
    }

    #[test]
    fn transient_errors_are_retried_and_client_errors_are_not() {
        let policy = r#"{"id":"Fido2","state":"enabled"}"#;
        let (base, count) = scripted_server(vec![
            (429, "{}"),
            (
                503,
                r#"{"error":{"code":"serviceUnavailable","message":"busy"}}"#,
            ),
            (200, policy),
        ]);
        let p = directory(&base).policy().unwrap();
        assert_eq!(p.state, "enabled");
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);

        let (base, count) = scripted_server(vec![(
            404,
            r#"{"error":{"code":"itemNotFound","message":"no such user"}}"#,
        )]);
        match directory(&base).user("nobody@x") {
            Err(Error::Directory { status, code, .. }) => {
                assert_eq!(status, 404);
                assert_eq!(code, "itemNotFound");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);

        // Retries give up after max_retries.
        let (base, count) = scripted_server(vec![(500, "{}"); 10]);
        let mut d = directory(&base);
        d.config.max_retries = 2;
        assert!(matches!(
            d.policy(),
            Err(Error::Directory { status: 500, .. })
        ));
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[test]
    fn a_paged_method_list_is_fetched_once_per_page() {
        let (base, count) = scripted_server(vec![
            (
                200,
                r#"{"value":[{"id":"m1"}],"@keysmith.maxPasskeysPerUser":10,
                   "@odata.nextLink":"{base}/users/u/authentication/fido2Methods?$skiptoken=2"}"#,
            ),
            (200, r#"{"value":[{"id":"m2"}]}"#),
        ]);
        let (methods, limit) = directory(&base).methods_and_limit("u").unwrap();
        let ids: Vec<&str> = methods.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["m1", "m2"]);
        assert_eq!(limit, Some(10));
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn next_links_to_other_hosts_are_refused() {
        assert!(same_origin(
            "https://graph.microsoft.com/beta/groups/x/members?$skiptoken=1",
            "https://graph.microsoft.com/beta"
        ));
        assert!(!same_origin(
            "https://graph.microsoft.com.evil.example/beta",
            "https://graph.microsoft.com/beta"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:9/x",
            "http://127.0.0.1:8/beta"
        ));
        let (base, _) = scripted_server(vec![(
            200,
            r#"{"value":[{"id":"u1"}],"@odata.nextLink":"http://evil.example/steal"}"#,
        )]);
        match directory(&base).group_members("g") {
            Err(Error::DirectoryTransport { message, .. }) => {
                assert!(message.contains("another host"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("alice@example.com"), "alice@example.com");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(path_segment("x+y=="), "x%2By%3D%3D");
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let t = TokenSource::ClientCredentials {
            token_url: "u".into(),
            client_id: "c".into(),
            client_secret: "s3cr3t".into(),
            scope: "x".into(),
        };
        assert!(!format!("{t:?}").contains("s3cr3t"));
        let b = TokenSource::Bearer("tok".into());
        assert!(!format!("{b:?}").contains("tok"));
    }
}

//! HTTP handlers, one file per resource family. Handlers parse, check the
//! caller's permission, call the domain modules and shape the answer.

mod audit;
mod directory;
pub(crate) mod methods;
mod oauth;
mod openapi;
mod ops;
pub(crate) use ops::metrics_text;
mod policy;
pub(crate) mod signin;

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::{get, post, MethodRouter};
use axum::Router;

/// Routes under `/v1.0` and `/beta`. Each also answers with a trailing
/// slash, as Graph does (Yubico's public Entra sample asks for
/// `GET /beta/groups/`: GRAPH_FIDO2_API.md §8).
pub fn graph_routes(state: AppState) -> Router<AppState> {
    let routes = graph_table();
    debug_assert!(routes.iter().map(|r| r.0).eq(GRAPH_PATHS.iter().copied()));
    routes
        .into_iter()
        .fold(Router::new(), |router, (path, handler)| {
            router
                .route(&format!("{path}/"), handler.clone())
                .route(path, handler)
        })
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            refuse_unknown_query,
        ))
}

/// The Graph routes, in the order of [`GRAPH_PATHS`].
fn graph_table() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        (
            "/users",
            get(directory::list_users).post(directory::create_user),
        ),
        (
            "/users/{user}",
            get(directory::get_user)
                .patch(directory::patch_user)
                .delete(directory::delete_user),
        ),
        (
            "/users/{user}/authentication/fido2Methods",
            get(methods::list).post(methods::register),
        ),
        (
            "/users/{user}/authentication/fido2Methods/{id}",
            get(methods::get_or_creation_options).delete(methods::delete),
        ),
        (
            "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2",
            get(policy::get).patch(policy::patch),
        ),
        (
            "/groups",
            get(directory::list_groups).post(directory::create_group),
        ),
        ("/groups/{group}", get(directory::get_group)),
        ("/groups/{group}/members", get(directory::list_members)),
        ("/groups/{group}/members/$ref", post(directory::add_member)),
        ("/auditLogs/directoryAudits", get(audit::list)),
        ("/auditLogs/verify", get(audit::verify)),
        ("/auditLogs/checkpoints", get(audit::checkpoints)),
    ]
}

/// The paths of the Graph routes (under `/v1.0` and `/beta`).
const GRAPH_PATHS: &[&str] = &[
    "/users",
    "/users/{user}",
    "/users/{user}/authentication/fido2Methods",
    "/users/{user}/authentication/fido2Methods/{id}",
    "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2",
    "/groups",
    "/groups/{group}",
    "/groups/{group}/members",
    "/groups/{group}/members/$ref",
    "/auditLogs/directoryAudits",
    "/auditLogs/verify",
    "/auditLogs/checkpoints",
];

/// Whether a segment of `path` is a fixed Graph segment spelled otherwise
/// (`Users`, `fido2methods`, `creationoptions(…)`).
fn misspelled(path: &str) -> bool {
    const FIXED: &[&str] = &[
        "v1.0",
        "beta",
        "users",
        "authentication",
        "fido2Methods",
        "creationOptions",
        "policies",
        "authenticationMethodsPolicy",
        "authenticationMethodConfigurations",
        "fido2",
        "groups",
        "members",
        "$ref",
        "auditLogs",
        "directoryAudits",
        "verify",
        "checkpoints",
    ];
    path.split('/').any(|seg| {
        let head = seg.split('(').next().unwrap_or(seg);
        FIXED
            .iter()
            .any(|f| f.len() == head.len() && f.eq_ignore_ascii_case(head) && *f != head)
    })
}

/// Graph's URLs are not case-sensitive in their fixed segments: Yubico's
/// BulkRegistration.md and public C# and Java samples write
/// `…/authentication/fido2methods/creationOptions(…)`, and Graph answers
/// them. This spells the fixed segments of a Graph path (version, resource
/// names, `creationOptions`) as the routes do, leaving ids and names as
/// sent; `None` when the path is not a Graph route's or already spelled so.
pub(crate) fn canonical_graph_path(path: &str) -> Option<String> {
    // The hot path: a path already spelled as the routes costs a scan of
    // its segments against the fixed names, with no allocation.
    if !misspelled(path) {
        return None;
    }
    let mut segs: Vec<&str> = path.split('/').collect();
    if segs.len() < 3 || !segs[0].is_empty() {
        return None;
    }
    let version = ["v1.0", "beta"]
        .into_iter()
        .find(|v| v.eq_ignore_ascii_case(segs[1]))?;
    let trailing = segs.last() == Some(&"");
    if trailing {
        segs.pop();
    }
    let rest = &segs[2..];
    let mut out: Option<Vec<String>> = None;
    for template in GRAPH_PATHS {
        let t: Vec<&str> = template.split('/').skip(1).collect();
        if t.len() != rest.len() {
            continue;
        }
        let mut spelled = Vec::with_capacity(t.len());
        let fits = t.iter().zip(rest).all(|(want, got)| {
            if *want == "{id}" {
                // creationOptions, in any of its forms, sits in the id slot.
                const CO: &str = "creationOptions";
                let s = match got.get(..CO.len()) {
                    Some(head) if head.eq_ignore_ascii_case(CO) => {
                        format!("{CO}{}", &got[CO.len()..])
                    }
                    _ => (*got).to_owned(),
                };
                spelled.push(s);
                true
            } else if want.starts_with('{') {
                spelled.push((*got).to_owned());
                true
            } else if want.eq_ignore_ascii_case(got) {
                spelled.push((*want).to_owned());
                true
            } else {
                false
            }
        });
        if fits {
            out = Some(spelled);
            break;
        }
    }
    let spelled = out?;
    let mut canonical = format!("/{version}/{}", spelled.join("/"));
    if trailing {
        canonical.push('/');
    }
    (canonical != path).then_some(canonical)
}

/// The query options every collection implements (paging and queries:
/// `crate::paging`, `crate::store::query`).
const QUERY_OPTIONS: &[&str] = &[
    "$top",
    "$skiptoken",
    "$filter",
    "$orderby",
    "$select",
    "$count",
];

/// The query parameters a Graph route understands (path as routed, without
/// the version prefix and trailing slash). Everything else is refused.
fn understood_query(method: &Method, route: &str) -> &'static [&'static str] {
    match (method.as_str(), route) {
        ("GET", "/users")
        | ("GET", "/groups")
        | ("GET", "/groups/{group}/members")
        | ("GET", "/users/{user}/authentication/fido2Methods") => QUERY_OPTIONS,
        ("GET", "/auditLogs/directoryAudits") => &[
            "$top",
            "$skiptoken",
            "$filter",
            "$orderby",
            "$select",
            "$count",
            "since",
            "activity",
            "target",
        ],
        ("GET", "/users/{user}/authentication/fido2Methods/{id}") => &["challengeTimeoutInMinutes"],
        _ => &[],
    }
}

/// Refuses, with a 400 naming it, any query option or parameter the route
/// does not implement (`$filter`, `$select`, `$orderby`, `$count`, … where
/// not supported): a script must get an error, never an answer that
/// silently ignored what it asked for. OData parameter aliases (`@name`)
/// are read by creationOptions and allowed there.
async fn refuse_unknown_query(
    axum::extract::State(state): axum::extract::State<AppState>,
    matched: axum::extract::MatchedPath,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = matched.as_str();
    let route = route
        .strip_prefix("/v1.0")
        .or_else(|| route.strip_prefix("/beta"))
        .unwrap_or(route);
    let route = if route.len() > 1 {
        route.trim_end_matches('/')
    } else {
        route
    };
    let understood = understood_query(req.method(), route);
    let aliases_ok = route.ends_with("/fido2Methods/{id}");
    let pairs = match axum::extract::Query::<Vec<(String, String)>>::try_from_uri(req.uri()) {
        Ok(axum::extract::Query(pairs)) => pairs,
        Err(_) => return ApiError::bad_request("The query string is malformed.").into_response(),
    };
    let unknown = pairs
        .into_iter()
        .map(|(key, _)| key)
        .find(|key| !(understood.contains(&key.as_str()) || (aliases_ok && key.starts_with('@'))));
    let Some(key) = unknown else {
        return next.run(req).await;
    };
    // As Graph: a caller without a valid token learns that first (401,
    // audited like any refused token), not which options exist.
    {
        use axum::extract::FromRequestParts;
        let (mut parts, _) = req.into_parts();
        if let Err(e) = crate::token::Caller::from_request_parts(&mut parts, &state).await {
            return e.into_response();
        }
    }
    let shown: String = key.chars().take(64).collect();
    let what = if understood.is_empty() {
        "takes no query options".to_owned()
    } else {
        format!("takes only {}", understood.join(", "))
    };
    ApiError::bad_request(format!(
        "The query option '{shown}' is not supported here: this request {what}."
    ))
    .into_response()
}

/// Largest body the unauthenticated endpoints read (a sign-in assertion or
/// a token request is a few kilobytes).
pub const PUBLIC_BODY_LIMIT: usize = 64 * 1024;

/// Routes addressed by tenant name or id in the path.
pub fn tenant_routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(oauth::token))
        .route("/{tenant}/passkey/signin/begin", post(signin::begin))
        .route("/{tenant}/passkey/signin/finish", post(signin::finish))
        .layer(axum::extract::DefaultBodyLimit::max(PUBLIC_BODY_LIMIT))
        .route("/{tenant}/discovery/v2.0/keys", get(ops::jwks))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(ops::openid_configuration),
        )
}

/// Health, metrics, API description.
pub fn ops_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
}

/// Parses a JSON body with a precise 400 on failure.
pub(crate) use crate::error::parse_json;

/// What a collection answer needs to link its next page: where the caller
/// reached us and the URL it asked for.
pub(crate) struct PageLink {
    base: crate::paging::PublicBase,
    uri: axum::http::Uri,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PageLink {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let trusted = parts
            .extensions
            .get::<crate::paging::FromTrustedProxy>()
            .is_some_and(|t| t.0);
        let base = crate::paging::PublicBase::from_headers(&parts.headers, trusted);
        // The URL as sent, before any nesting stripped its prefix.
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map(|u| u.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        Ok(PageLink { base, uri })
    }
}

impl PageLink {
    /// Graph's collection answer: `value`, and `@odata.nextLink` when
    /// another page follows.
    pub(crate) fn collection(
        &self,
        value: Vec<serde_json::Value>,
        next: Option<String>,
        count: Option<i64>,
    ) -> axum::Json<webauthn::graph::Collection<serde_json::Value>> {
        let mut page = webauthn::graph::Collection::of(value);
        page.count = count;
        page.next_link = next.map(|token| self.link(&token));
        axum::Json(page)
    }

    pub(crate) fn link(&self, token: &str) -> String {
        crate::paging::next_link(&self.base, &self.uri, token)
    }
}

/// Host for `@odata.context` links.
fn host_of(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::canonical_graph_path as c;

    #[test]
    fn graph_paths_are_spelled_as_the_routes() {
        assert_eq!(
            c("/beta/users/a@b.c/authentication/fido2methods/creationoptions(challengeTimeoutInMinutes=5)").as_deref(),
            Some("/beta/users/a@b.c/authentication/fido2Methods/creationOptions(challengeTimeoutInMinutes=5)")
        );
        assert_eq!(
            c("/V1.0/Users/Ann@Example.com/").as_deref(),
            Some("/v1.0/users/Ann@Example.com/")
        );
        assert_eq!(
            c("/beta/GROUPS/Members/MEMBERS/$REF").as_deref(),
            Some("/beta/groups/Members/members/$ref")
        );
        assert_eq!(
            c("/v1.0/auditlogs/directoryaudits").as_deref(),
            Some("/v1.0/auditLogs/directoryAudits")
        );
        // Already spelled so, or not a Graph route: untouched.
        for p in [
            "/v1.0/users",
            "/beta/users/x/authentication/fido2Methods/abc",
            "/v1.0/nothing/here",
            "/contoso/passkey/signin/begin",
            "/v2.0/users",
            "/",
            "",
        ] {
            assert_eq!(c(p), None, "{p}");
        }
    }
}

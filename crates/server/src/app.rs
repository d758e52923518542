//! The HTTP application: shared state, the router, and the middleware that
//! gives every response a request id and every error Graph's envelope.

use crate::error::{code_for_status, envelope, GraphErrorMarker};
pub use crate::state::{AppState, RequestId};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::time::Instant;

/// Builds the router over `state`: Graph paths are spelled as the routes
/// before routing (`crate::routes::canonical_graph_path`).
pub fn router(state: AppState) -> Router {
    let inner = routes(state);
    Router::new().fallback_service(
        tower::ServiceBuilder::new()
            .map_request(|mut req: axum::extract::Request| {
                if let Some(path) = crate::routes::canonical_graph_path(req.uri().path()) {
                    let pq = match req.uri().query() {
                        Some(q) => format!("{path}?{q}"),
                        None => path,
                    };
                    let mut parts = req.uri().clone().into_parts();
                    if let Ok(pq) = pq.parse() {
                        parts.path_and_query = Some(pq);
                        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                            *req.uri_mut() = uri;
                        }
                    }
                }
                req
            })
            .service(inner),
    )
}

fn routes(state: AppState) -> Router {
    let graph = crate::routes::graph_routes(state.clone());
    let limit = state.config.body_limit;
    let body_timeout =
        std::time::Duration::from_secs(state.config.connections.body_read_timeout_secs.max(1));
    Router::new()
        .nest("/v1.0", graph.clone())
        .nest("/beta", graph)
        .merge(crate::routes::tenant_routes())
        .merge(crate::routes::ops_routes())
        .merge(crate::web::routes())
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_timeout,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_context,
        ))
        .with_state(state)
}

/// The router of the metrics listener (`metrics_listen`): `/metrics` with
/// no token.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(s): State<AppState>| async move {
                crate::routes::metrics_text(&s)
            }),
        )
        .with_state(state)
}

async fn fallback() -> crate::error::ApiError {
    crate::error::ApiError::not_found("The requested resource does not exist.")
}

async fn method_not_allowed() -> crate::error::ApiError {
    crate::error::ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "methodNotAllowed",
        "The HTTP method is not allowed on this resource.",
    )
}

/// Request id, client request id, Graph error envelope for every error
/// (including axum's plain-text rejections), and metrics.
async fn request_context(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
        .map(str::to_owned);
    let method = req.method().to_string();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let peer = req
        .extensions()
        .get::<crate::listener::PeerAddr>()
        .map(|p| p.0.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let client =
        crate::ratelimit::ClientAddr::resolve(peer, req.headers(), &state.config.trusted_proxies);
    req.extensions_mut().insert(client);
    // Whether X-Forwarded-* may name the public origin (read by the
    // collection answers' nextLink only).
    req.extensions_mut().insert(crate::paging::FromTrustedProxy(
        state.config.trusted_proxies.contains(&peer),
    ));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    // `…/fido2Methods/creationOptions[(…)]` is a function that only GET
    // reaches, although it shares the `{id}` route (whose method router
    // would advertise DELETE too).
    let creation_options = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .is_some_and(|last| last.to_ascii_lowercase().starts_with("creationoptions"));
    // No name or value may hold U+0000 (PostgreSQL cannot store it in
    // text): refused before any handler, on either database.
    let nul =
        req.uri().path().contains("%00") || req.uri().query().is_some_and(|q| q.contains("%00"));
    let mut response = if nul {
        crate::error::ApiError::bad_request(
            "The request URL contains a NUL character (%00), which no name or value may hold.",
        )
        .into_response()
    } else {
        next.run(req).await
    };
    if creation_options && response.status() == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET,HEAD"));
    }

    let status = response.status();
    if let Some(failure) = response
        .extensions_mut()
        .remove::<crate::audit::AuthFailure>()
    {
        let message = response
            .extensions()
            .get::<GraphErrorMarker>()
            .map(|m| (m.code, m.message.clone()))
            .unwrap_or(("", String::new()));
        audit_refusal(
            &state,
            failure,
            status,
            message,
            &method,
            &route,
            &request_id,
        )
        .await;
    }
    if status.is_client_error() || status.is_server_error() {
        let marker = response.extensions().get::<GraphErrorMarker>().cloned();
        let (status, code, message, details) = match marker {
            Some(m) => (status, m.code.to_owned(), m.message, m.details),
            None => {
                let content_type = response
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                // JSON errors are already enveloped; HTML error pages
                // (admin center, sign-in page) are meant for people.
                if content_type.starts_with("application/json")
                    || (content_type.starts_with("text/html") && status.is_client_error())
                {
                    (status, String::new(), String::new(), Vec::new())
                } else {
                    // axum's rejections: plain text; 422 (wrong JSON types) is a 400 in Graph.
                    let body = std::mem::replace(response.body_mut(), Body::empty());
                    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
                    let mut text = String::from_utf8_lossy(&text).trim().to_owned();
                    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
                        StatusCode::BAD_REQUEST
                    } else {
                        status
                    };
                    if status.is_server_error() {
                        text = "An internal error occurred.".into();
                    } else if text.is_empty() {
                        text = status.canonical_reason().unwrap_or("error").to_owned();
                    }
                    (status, code_for_status(status).to_owned(), text, Vec::new())
                }
            }
        };
        if !code.is_empty() {
            let body = envelope(
                &code,
                &message,
                &details,
                &request_id,
                client_request_id.as_deref(),
            );
            let mut new = (status, axum::Json(body)).into_response();
            for (k, v) in response.headers() {
                if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                    new.headers_mut().insert(k.clone(), v.clone());
                }
            }
            response = new;
        }
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", v);
    }
    // API answers carry challenges, tokens and directory data: never cached
    // (RFC 6749 §5.1 for the token endpoint; pages set their own).
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json && !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
            .headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    if let Some(c) = client_request_id.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert("client-request-id", c);
    }
    state.metrics.observe_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Audits a refused request (bad token, missing permission, failed token
/// request, CSRF or role refusal), aggregated so that a flood of them
/// writes a bounded number of events ([`crate::audit::failures`]).
async fn audit_refusal(
    state: &AppState,
    f: crate::audit::AuthFailure,
    status: StatusCode,
    (code, message): (&'static str, String),
    method: &str,
    route: &str,
    request_id: &str,
) {
    let class = format!("{} {code}", status.as_u16());
    if state
        .failures
        .admit(&f.tenant_id, f.activity, &class, &message)
        == crate::audit::Admit::Suppress
    {
        return;
    }
    let target = format!("{method} {route}");
    let recorded = crate::audit::record(
        &state.db,
        crate::audit::Event {
            tenant_id: &f.tenant_id,
            actor: &f.actor,
            activity: f.activity,
            target: &target,
            result: "failure",
            reason: &message,
            request_id,
            details: serde_json::json!({ "status": status.as_u16(), "code": code }),
        },
    )
    .await;
    if let Err(e) = recorded {
        tracing::warn!("auditing a refused request: {}", e.message);
    }
}

//! The browser pages: the admin center (`/{tenant}/admin…`) and the
//! end-user sign-in page (`/{tenant}/signin`). Pages are rendered on the
//! server; behaviour lives in small external scripts under `/assets/`
//! (embedded in the binary), so the Content-Security-Policy can forbid
//! every inline script and style. The pages' JSON endpoints live under
//! `/{tenant}/admin/api/…` and answer errors in Graph's envelope.

mod api;
mod pages;
pub(crate) mod session;

use crate::state::AppState;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;

/// The policy every page and asset is served with.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/{file}", get(asset))
        .route("/admin", get(pages::admin_chooser))
        .route("/signin", get(pages::signin_chooser))
        .route("/{tenant}/signin", get(pages::signin))
        .route("/{tenant}/admin", get(pages::dashboard))
        .route("/{tenant}/admin/login", get(pages::login))
        .route("/{tenant}/admin/enroll", get(pages::enroll))
        .route("/{tenant}/admin/users/{user}", get(pages::user))
        .route("/{tenant}/admin/policy", get(pages::policy))
        .route("/{tenant}/admin/audit", get(pages::audit))
        .route("/{tenant}/admin/deprovision", get(pages::deprovision))
        .route(
            "/{tenant}/admin/api/login/begin",
            post(api::login_begin).layer(small_body()),
        )
        .route(
            "/{tenant}/admin/api/login/finish",
            post(api::login_finish).layer(small_body()),
        )
        .route("/{tenant}/admin/api/enroll/begin", post(api::enroll_begin))
        .route(
            "/{tenant}/admin/api/enroll/finish",
            post(api::enroll_finish),
        )
        .route("/{tenant}/admin/api/logout", post(api::logout))
        .route(
            "/{tenant}/admin/api/users/{user}/passkeys/options",
            post(api::creation_options),
        )
        .route(
            "/{tenant}/admin/api/users/{user}/passkeys",
            post(api::register),
        )
        .route(
            "/{tenant}/admin/api/users/{user}/passkeys/{id}",
            delete(api::delete_passkey),
        )
        .route("/{tenant}/admin/api/policy", post(api::save_policy))
        .route("/{tenant}/admin/api/deprovision", post(api::deprovision))
        .layer(axum::middleware::map_response(security_headers))
}

/// Bodies anyone may send (before signing in) are small.
fn small_body() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(crate::routes::PUBLIC_BODY_LIMIT)
}

/// CSP and friends on every page response (errors included).
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages carry a CSRF token bound to the session: never cached, also
        // by HTTP/1.0 caches (issue 23, item 4).
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    response
}

const ASSETS: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
    (
        "webauthn.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/webauthn.js"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/admin.js"),
    ),
    (
        "signin.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/signin.js"),
    ),
];

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => crate::error::ApiError::not_found("No such asset.").into_response(),
    }
}

/// Percent-encodes a path segment or query value.
pub fn url_enc(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An HTML page response.
pub fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

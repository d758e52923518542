//! The one place errors become HTTP: Graph's error envelope (§5 of
//! GRAPH_FIDO2_API.md) with a 4xx for anything a client did wrong.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An API failure: status, Graph error code and a message safe to show.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status (4xx for the caller's mistakes, 5xx only for the server's).
    pub status: StatusCode,
    /// Graph's error code (`invalidRequest`, `itemNotFound`, …).
    pub code: &'static str,
    /// The message, safe to show (no secret, no internal detail).
    pub message: String,
    /// A refused authentication or authorisation to audit (the request
    /// middleware records it, aggregated: [`crate::audit::failures`]).
    pub audit: Option<Box<AuthFailure>>,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
    /// Graph's `details`: which check or field failed, each with its own
    /// code (the top-level code stays Graph's).
    pub details: Vec<ErrorDetail>,
}

/// One entry of the envelope's `details`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDetail {
    /// The detail's own code (`invalidValue`, `attestationUntrusted`, …).
    pub code: &'static str,
    /// What is wrong, for people.
    pub message: String,
    /// The field it is about, if one (`publicKeyCredential.id`, …).
    pub target: Option<&'static str>,
}

/// Marker left in response extensions so the request-context middleware
/// renders the envelope (it knows the request id and client request id).
#[derive(Debug, Clone)]
pub struct GraphErrorMarker {
    /// Graph's error code.
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// The details.
    pub details: Vec<ErrorDetail>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            audit: None,
            retry_after: None,
            details: Vec::new(),
        }
    }
    /// The object asked for does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
    }

    /// An object with the same key exists (409; a unique constraint).
    pub fn is_conflict(&self) -> bool {
        self.status == StatusCode::CONFLICT
    }

    /// The same error, to be audited as `failure`.
    pub fn audited(mut self, failure: AuthFailure) -> Self {
        self.audit = Some(Box::new(failure));
        self
    }
    /// 429 with `Retry-After` (rate limits).
    pub fn too_many_requests(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "tooManyRequests",
            format!("Too many requests; retry after {secs} seconds."),
        );
        e.retry_after = Some(secs.max(1));
        e
    }
    /// 400 `invalidRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalidRequest", message)
    }
    /// 404 `itemNotFound`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "itemNotFound", message)
    }
    /// 401 `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }
    /// 403 `accessDenied`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "accessDenied", message)
    }
    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 500 with a generic message; `err` is logged, never sent.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "An internal error occurred.",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return ApiError::conflict("An object with the same key already exists.");
            }
            // PostgreSQL's "character not in repertoire" (a NUL in text,
            // from an input no earlier check refused): the input's fault.
            if db.code().as_deref() == Some("22021") {
                return ApiError::bad_request(
                    "The request contains a character that cannot be stored (NUL).",
                );
            }
        }
        if matches!(e, sqlx::Error::PoolTimedOut) {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The database is busy; retry later.",
            );
        }
        ApiError::internal(e)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            if f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            {
                return ApiError::conflict("An object with the same key already exists.");
            }
        }
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        if let Some(f) = self.audit {
            response.extensions_mut().insert(*f);
        }
        response.extensions_mut().insert(GraphErrorMarker {
            code: self.code,
            message: self.message,
            details: self.details,
        });
        response
    }
}

/// Results of the API's operations.
pub type ApiResult<T> = Result<T, ApiError>;

/// Graph error code for a bare status (axum rejections, fallbacks, layers).
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 415 | 422 => "badRequest",
        401 => "unauthenticated",
        403 => "accessDenied",
        404 => "itemNotFound",
        405 => "methodNotAllowed",
        409 => "conflict",
        429 => "tooManyRequests",
        _ => "generalException",
    }
}

/// Renders the envelope with the wire types the client side reads too.
pub fn envelope(
    code: &str,
    message: &str,
    details: &[ErrorDetail],
    request_id: &str,
    client_request_id: Option<&str>,
) -> webauthn::graph::ErrorResponse {
    use webauthn::graph::{ErrorBody, ErrorDetailJson, ErrorResponse, InnerError};
    let date = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let date = date
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    ErrorResponse {
        error: ErrorBody {
            code: code.to_owned(),
            message: message.to_owned(),
            details: details
                .iter()
                .map(|d| ErrorDetailJson {
                    code: d.code.to_owned(),
                    message: d.message.clone(),
                    target: d.target.map(str::to_owned),
                })
                .collect(),
            inner_error: Some(InnerError {
                // Graph's own format: no zone designator.
                date: Some(date.trim_end_matches('Z').to_owned()),
                request_id: Some(request_id.to_owned()),
                client_request_id: client_request_id.map(str::to_owned),
            }),
        },
    }
}

/// Reads a JSON request body into `T`; a bad field is named in the 400
/// (`publicKeyCredential.response.clientDataJSON: not valid base64url`).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.is_empty() {
        return Err(ApiError::bad_request("The request body is empty."));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            ApiError::bad_request(format!("The request body is not valid: {inner}."))
        } else {
            ApiError::bad_request(format!("The request body is not valid: {path}: {inner}."))
        }
    })?;
    // Nothing but whitespace may follow the value.
    de.end()
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid: {e}.")))?;
    Ok(value)
}

/// Decodes a base64url (or padded standard base64) text field named `name`.
pub fn b64_field(name: &str, text: &str) -> ApiResult<Vec<u8>> {
    webauthn::b64::decode_lenient(text)
        .map_err(|_| ApiError::bad_request(format!("{name} is not valid base64url.")))
}

/// A refusal to audit: attached to an [`crate::error::ApiError`] and
/// recorded by the request middleware (see [`crate::app`]).
#[derive(Debug, Clone)]
pub struct AuthFailure {
    /// The tenant the refusal belongs to, or [`crate::audit::SERVER_CHAIN`].
    pub tenant_id: String,
    /// Who was refused (an app id, a user, or the address).
    pub actor: String,
    /// What they tried.
    pub activity: &'static str,
}

impl AuthFailure {
    /// A Graph request refused (401 bad token, 403 missing permission).
    pub fn graph(tenant_id: &str, actor: &str) -> AuthFailure {
        AuthFailure {
            tenant_id: tenant_id.to_owned(),
            actor: actor.to_owned(),
            activity: "Graph request denied",
        }
    }

    /// A token request refused (wrong client id or secret, disabled app).
    pub fn token(tenant_id: &str, actor: &str) -> AuthFailure {
        AuthFailure {
            tenant_id: tenant_id.to_owned(),
            actor: actor.to_owned(),
            activity: "Token request failed",
        }
    }

    /// An admin-center request refused (no session, CSRF, role).
    pub fn admin_center(tenant_id: &str, actor: &str) -> AuthFailure {
        AuthFailure {
            tenant_id: tenant_id.to_owned(),
            actor: actor.to_owned(),
            activity: "Admin center request denied",
        }
    }
}

//! `/users/{user}/authentication/fido2Methods…`: creation options,
//! registration, list, get, delete (GRAPH_FIDO2_API.md §1–3).

use super::host_of;
use crate::directory::{self, Tenant, User};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, RequestId};
use crate::store::methods;
use crate::token::{perm, Caller};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use std::collections::HashMap;

const MIN_TIMEOUT: i64 = 5;
const MAX_TIMEOUT: i64 = 43200;

/// `challengeTimeoutInMinutes`, as a query option (Graph also takes it
/// as the function's parameter in the path).
struct CreationOptionsQuery;

impl utoipa::IntoParams for CreationOptionsQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let minutes = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(MIN_TIMEOUT))
            .maximum(Some(MAX_TIMEOUT))
            .default(Some(MIN_TIMEOUT.into()))
            .build();
        vec![utoipa::openapi::path::ParameterBuilder::new()
            .name("challengeTimeoutInMinutes")
            .parameter_in(utoipa::openapi::path::ParameterIn::Query)
            .description(Some("How long the challenge stays valid, in minutes."))
            .schema(Some(minutes))
            .build()]
    }
}

async fn tenant_and_user(
    state: &AppState,
    caller: &Caller,
    user: &str,
) -> ApiResult<(Tenant, User)> {
    directory::find_tenant_and_user(&state.db, &caller.tenant_id, user).await
}

/// Changing the methods of admin-center staff needs the privileged
/// permission besides the ordinary one (see
/// [`perm::PRIVILEGED_METHODS_WRITE`]).
pub(crate) fn require_privileged_if_staff(caller: &Caller, user: &User) -> ApiResult<()> {
    if user.is_staff() {
        caller
            .require(perm::PRIVILEGED_METHODS_WRITE)
            .map_err(|mut e| {
                e.message = format!(
                "{} is admin-center staff: managing their authentication methods needs {} as well.",
                user.upn,
                perm::PRIVILEGED_METHODS_WRITE.join(", ")
            );
                e
            })?;
    }
    Ok(())
}

/// `GET …/fido2Methods/{id}`: a method, or creation options when `{id}` is
/// `creationOptions` / `creationOptions(challengeTimeoutInMinutes=N)`.
#[utoipa::path(
    get,
    path = "/users/{user}/authentication/fido2Methods/{id}",
    operation_id = "getFido2Method",
    tag = "fido2",
    summary = "Get a FIDO2 method",
    description = super::openapi::permissions(perm::METHODS_READ),
    params(("user" = String, Path, description = "object id or userPrincipalName"), ("id" = String, Path, description = "the method id (base64url credential id)")),
    responses(
        (status = 200, description = "method", body = webauthn::graph::Fido2Method)
    )
)]
pub async fn get_or_creation_options(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(rest) = id.strip_prefix("creationOptions") {
        let from_path = if rest.is_empty() {
            None
        } else {
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| ApiError::bad_request("Malformed creationOptions parameters."))?;
            match inner.split_once('=') {
                Some((k, v)) if k.trim() == "challengeTimeoutInMinutes" => {
                    let v = v.trim();
                    match v.strip_prefix('@') {
                        // An OData parameter alias, its value in the query
                        // (`?@alias=60`); the Graph Go SDK's URL template
                        // sends `?challengeTimeoutInMinutes=60` for it.
                        Some(alias) => Some(
                            query
                                .get(v)
                                .or_else(|| query.get(alias))
                                .cloned()
                                .ok_or_else(|| {
                                    ApiError::bad_request(format!(
                                        "The parameter alias {v} has no value in the query."
                                    ))
                                })?,
                        ),
                        None => Some(v.to_owned()),
                    }
                }
                _ if inner.trim().is_empty() => None,
                _ => return Err(ApiError::bad_request("Unknown creationOptions parameter.")),
            }
        };
        let minutes = from_path.or_else(|| query.get("challengeTimeoutInMinutes").cloned());
        return creation_options(state, caller, user, minutes, rid, headers).await;
    }
    caller.require(perm::METHODS_READ)?;
    let (tenant, user) = tenant_and_user(&state, &caller, &user).await?;
    match methods::find(&state.db, &tenant.id, &id).await? {
        Some(m) if m.user_id == user.id => Ok(Json(m.to_graph()).into_response()),
        _ => Err(ApiError::not_found(format!(
            "The FIDO2 method '{id}' does not exist."
        ))),
    }
}

#[utoipa::path(
    get,
    path = "/users/{user}/authentication/fido2Methods/creationOptions",
    operation_id = "getFido2CreationOptions",
    tag = "fido2",
    summary = "WebAuthn creation options; also reachable as creationOptions(challengeTimeoutInMinutes=N)",
    description = super::openapi::privileged(perm::METHODS_WRITE),
    params(("user" = String, Path, description = "object id or userPrincipalName"), CreationOptionsQuery),
    responses(
        (status = 200, description = "options", body = webauthn::graph::CreationOptionsResponse)
    )
)]
async fn creation_options(
    state: AppState,
    caller: Caller,
    user: String,
    minutes: Option<String>,
    rid: RequestId,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require(perm::METHODS_WRITE)?;
    let minutes = match minutes {
        None => MIN_TIMEOUT,
        Some(m) => m
            .parse::<i64>()
            .ok()
            .filter(|m| (MIN_TIMEOUT..=MAX_TIMEOUT).contains(m))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "challengeTimeoutInMinutes must be an integer from {MIN_TIMEOUT} to {MAX_TIMEOUT}."
                ))
            })?,
    };
    let (tenant, user) = tenant_and_user(&state, &caller, &user).await?;
    require_privileged_if_staff(&caller, &user)?;
    let body = crate::usecase::methods::creation_options(
        &state,
        &tenant,
        &user,
        minutes,
        &caller.actor(),
        &rid,
        &host_of(&headers),
    )
    .await?;
    Ok(Json(body).into_response())
}

/// `POST …/fido2Methods`.
#[utoipa::path(
    post,
    path = "/users/{user}/authentication/fido2Methods",
    operation_id = "createFido2Method",
    tag = "fido2",
    summary = "Register a FIDO2 method (attestation verified against policy)",
    description = super::openapi::privileged(perm::METHODS_WRITE),
    params(("user" = String, Path, description = "object id or userPrincipalName")),
    request_body = webauthn::graph::RegisterRequest,
    responses(
        (status = 201, description = "created", body = webauthn::graph::Fido2Method, headers(("Location" = String, description = "The new method's URL.")))
    )
)]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Extension(rid): Extension<RequestId>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(perm::METHODS_WRITE)?;
    let (tenant, user) = tenant_and_user(&state, &caller, &user).await?;
    require_privileged_if_staff(&caller, &user)?;
    let method =
        crate::usecase::register::register(&state, &tenant, &user, &body, &caller.actor(), &rid)
            .await?;
    let location = format!(
        "/v1.0/users/{}/authentication/fido2Methods/{}",
        user.id, method.id
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(method.to_graph()),
    )
        .into_response())
}

/// `GET …/fido2Methods`.
#[utoipa::path(
    get,
    path = "/users/{user}/authentication/fido2Methods",
    operation_id = "listFido2Methods",
    tag = "fido2",
    summary = "List FIDO2 methods",
    description = super::openapi::permissions(perm::METHODS_READ),
    params(("user" = String, Path, description = "object id or userPrincipalName"), super::openapi::MethodsQuery),
    responses(
        (status = 200, description = "methods", body = webauthn::graph::Collection<webauthn::graph::Fido2Method>)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    link: super::PageLink,
) -> ApiResult<Json<webauthn::graph::Collection<serde_json::Value>>> {
    caller.require(perm::METHODS_READ)?;
    let (q, page) = crate::store::query::GraphQuery::with_page(
        &crate::store::query::FIDO2_METHODS,
        &query,
        &headers,
    )?;
    let (tenant, user) = tenant_and_user(&state, &caller, &user).await?;
    let (found, next, count) =
        methods::page_for_user(&state.db, &tenant.id, &user.id, &q, &page).await?;
    let value = found
        .iter()
        .map(|m| q.project(serde_json::to_value(m.to_graph()).unwrap_or_default()))
        .collect();
    let mut page = link.collection(value, next, count);
    // Keysmith's own annotation: how many passkeys a user may have.
    page.max_passkeys_per_user = Some(state.config.max_passkeys_per_user.max(1));
    Ok(page)
}

/// `DELETE …/fido2Methods/{id}` (not `creationOptions`: a function, 405).
#[utoipa::path(
    delete,
    path = "/users/{user}/authentication/fido2Methods/{id}",
    operation_id = "deleteFido2Method",
    tag = "fido2",
    summary = "Delete a FIDO2 method",
    description = super::openapi::privileged(perm::METHODS_WRITE),
    params(("user" = String, Path, description = "object id or userPrincipalName"), ("id" = String, Path, description = "the method id (base64url credential id)")),
    responses(
        (status = 204, description = "deleted")
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Extension(rid): Extension<RequestId>,
) -> ApiResult<StatusCode> {
    if id.starts_with("creationOptions") {
        return Err(crate::error::ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "methodNotAllowed",
            "creationOptions is a function: only GET may call it.",
        ));
    }
    caller.require(perm::METHODS_WRITE)?;
    let (tenant, user) = tenant_and_user(&state, &caller, &user).await?;
    require_privileged_if_staff(&caller, &user)?;
    crate::usecase::methods::delete(&state, &tenant, &user, &id, &caller.actor(), &rid).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! `/users` and `/groups` (a small slice of Graph's directory API).

use super::parse_json;
use crate::directory;
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, RequestId};
use crate::store::query::{self, GraphQuery};
use crate::token::{perm, Caller};
use crate::usecase::directory as usecase;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use webauthn::graph::Collection;

/// A user's properties as `POST /users` and `PATCH /users/{user}` take
/// them; any other property but an OData annotation is refused.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = UserInput)]
pub(super) struct UserBody {
    #[schema(schema_with = crate::names::upn_schema)]
    user_principal_name: Option<String>,
    #[schema(schema_with = crate::names::user_display_name_schema)]
    display_name: Option<String>,
    /// Whether the user may sign in.
    #[schema(nullable = false)]
    account_enabled: Option<bool>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: BTreeMap<String, Value>,
}

/// Refuses body properties the resource does not implement (a 400 naming
/// the first), so a script never believes a property was stored when it
/// was dropped. OData annotations (`@odata.type`, …) are allowed.
fn refuse_unknown_properties(other: &BTreeMap<String, Value>, takes: &str) -> ApiResult<()> {
    match other.keys().find(|k| !k.starts_with("@odata.")) {
        None => Ok(()),
        Some(k) => {
            let shown: String = k.chars().take(64).collect();
            Err(ApiError::bad_request(format!(
                "The property '{shown}' is not supported here: this resource takes {takes}."
            )))
        }
    }
}

const USER_PROPERTIES: &str = "userPrincipalName, displayName and accountEnabled";

#[utoipa::path(
    get,
    path = "/users",
    operation_id = "listUsers",
    tag = "directory",
    summary = "List users",
    description = super::openapi::permissions(perm::USERS_READ),
    params(super::openapi::UsersQuery),
    responses(
        (status = 200, description = "users", body = Collection<webauthn::graph::User>)
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    link: super::PageLink,
) -> ApiResult<Json<Collection<Value>>> {
    caller.require(perm::USERS_READ)?;
    let (q, page) = GraphQuery::with_page(&query::USERS, &query, &headers)?;
    let (users, next, count) =
        directory::list_users(&state.db, &caller.tenant_id, &q, &page).await?;
    Ok(link.collection(
        users.iter().map(|u| q.project(u.to_json())).collect(),
        next,
        count,
    ))
}

#[utoipa::path(
    post,
    path = "/users",
    operation_id = "createUser",
    tag = "directory",
    summary = "Create a user",
    description = super::openapi::permissions(perm::USERS_WRITE),
    request_body = UserBody,
    responses(
        (status = 201, description = "created", body = webauthn::graph::User),
        (status = 409, response = super::openapi::GraphError)
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(perm::USERS_WRITE)?;
    let b: UserBody = parse_json(&body)?;
    refuse_unknown_properties(&b.other, USER_PROPERTIES)?;
    let upn = b
        .user_principal_name
        .ok_or_else(|| ApiError::bad_request("userPrincipalName is required."))?;
    let user = usecase::create_user(
        &state.db,
        &caller.tenant_id,
        &upn,
        b.display_name.as_deref().unwrap_or(""),
        &caller.actor(),
        &rid.0,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user.to_json())).into_response())
}

#[utoipa::path(
    get,
    path = "/users/{user}",
    operation_id = "getUser",
    tag = "directory",
    summary = "Get a user",
    description = super::openapi::permissions(perm::USERS_READ),
    params(("user" = String, Path, description = "object id or userPrincipalName")),
    responses(
        (status = 200, description = "user", body = webauthn::graph::User)
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(perm::USERS_READ)?;
    let user = directory::find_user(&state.db, &caller.tenant_id, &user).await?;
    Ok(Json(user.to_json()))
}

#[utoipa::path(
    patch,
    path = "/users/{user}",
    operation_id = "updateUser",
    tag = "directory",
    summary = "Update a user",
    description = super::openapi::privileged(perm::USERS_WRITE),
    params(("user" = String, Path, description = "object id or userPrincipalName")),
    request_body = UserBody,
    responses(
        (status = 204, description = "updated"),
        (status = 409, response = super::openapi::GraphError)
    )
)]
pub async fn patch_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Extension(rid): Extension<RequestId>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    caller.require(perm::USERS_WRITE)?;
    let b: UserBody = parse_json(&body)?;
    refuse_unknown_properties(&b.other, USER_PROPERTIES)?;
    let user = directory::find_user(&state.db, &caller.tenant_id, &user).await?;
    // Renaming or disabling an admin-center account is a lock-out (or a
    // takeover of its sign-in name): privileged, as its methods are.
    super::methods::require_privileged_if_staff(&caller, &user)?;
    let changes = usecase::UserChanges {
        upn: b.user_principal_name.as_deref(),
        display_name: b.display_name.as_deref(),
        account_enabled: b.account_enabled,
    };
    usecase::update_user(&state.db, &user, changes, &caller.actor(), &rid.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/users/{user}",
    operation_id = "deleteUser",
    tag = "directory",
    summary = "Delete a user (and their methods)",
    description = super::openapi::privileged(perm::USERS_WRITE),
    params(("user" = String, Path, description = "object id or userPrincipalName")),
    responses(
        (status = 204, description = "deleted")
    )
)]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Extension(rid): Extension<RequestId>,
) -> ApiResult<StatusCode> {
    caller.require(perm::USERS_WRITE)?;
    let user = directory::find_user(&state.db, &caller.tenant_id, &user).await?;
    super::methods::require_privileged_if_staff(&caller, &user)?;
    usecase::delete_user(&state.db, &user, &caller.actor(), &rid.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new group; any other property but an OData annotation is refused.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NewGroup)]
pub(super) struct GroupBody {
    #[schema(schema_with = crate::names::group_display_name_schema)]
    display_name: String,
    /// What the group is for.
    description: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[utoipa::path(
    get,
    path = "/groups",
    operation_id = "listGroups",
    tag = "directory",
    summary = "List groups",
    description = super::openapi::permissions(perm::GROUPS_READ),
    params(super::openapi::GroupsQuery),
    responses(
        (status = 200, description = "groups", body = Collection<webauthn::graph::Group>)
    )
)]
pub async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    link: super::PageLink,
) -> ApiResult<Json<Collection<Value>>> {
    caller.require(perm::GROUPS_READ)?;
    let (q, page) = GraphQuery::with_page(&query::GROUPS, &query, &headers)?;
    let (groups, next, count) =
        directory::list_groups(&state.db, &caller.tenant_id, &q, &page).await?;
    Ok(link.collection(
        groups.iter().map(|g| q.project(g.to_json())).collect(),
        next,
        count,
    ))
}

#[utoipa::path(
    post,
    path = "/groups",
    operation_id = "createGroup",
    tag = "directory",
    summary = "Create a group",
    description = super::openapi::permissions(perm::GROUPS_WRITE),
    request_body = GroupBody,
    responses(
        (status = 201, description = "created", body = webauthn::graph::Group)
    )
)]
pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(perm::GROUPS_WRITE)?;
    let b: GroupBody = parse_json(&body)?;
    refuse_unknown_properties(&b.other, "displayName and description")?;
    let g = usecase::create_group(
        &state.db,
        &caller.tenant_id,
        &b.display_name,
        b.description.as_deref(),
        &caller.actor(),
        &rid.0,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(g.to_json())).into_response())
}

#[utoipa::path(
    get,
    path = "/groups/{group}",
    operation_id = "getGroup",
    tag = "directory",
    summary = "Get a group",
    description = super::openapi::permissions(perm::GROUPS_READ),
    params(("group" = String, Path, description = "object id")),
    responses(
        (status = 200, description = "group", body = webauthn::graph::Group)
    )
)]
pub async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(perm::GROUPS_READ)?;
    Ok(Json(
        directory::find_group(&state.db, &caller.tenant_id, &group)
            .await?
            .to_json(),
    ))
}

#[utoipa::path(
    get,
    path = "/groups/{group}/members",
    operation_id = "listGroupMembers",
    tag = "directory",
    summary = "Members of a group",
    description = super::openapi::permissions(perm::GROUPS_READ),
    params(("group" = String, Path, description = "object id"), super::openapi::MembersQuery),
    responses(
        (status = 200, description = "users", body = Collection<webauthn::graph::User>)
    )
)]
pub async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    link: super::PageLink,
) -> ApiResult<Json<Collection<Value>>> {
    caller.require(perm::GROUPS_READ)?;
    let (q, page) = GraphQuery::with_page(&query::MEMBERS, &query, &headers)?;
    let g = directory::find_group(&state.db, &caller.tenant_id, &group).await?;
    let (members, next, count) =
        directory::group_members(&state.db, &caller.tenant_id, &g.id, &q, &page).await?;
    Ok(link.collection(
        members.iter().map(|u| q.project(u.to_json())).collect(),
        next,
        count,
    ))
}

/// The member to add, by reference.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = MemberReference)]
pub(super) struct RefBody {
    /// A user's URL, or its id: the last path segment names the user.
    #[serde(rename = "@odata.id")]
    #[schema(
        pattern = "[^/]$",
        example = "https://graph.microsoft.com/v1.0/users/{id}"
    )]
    odata_id: String,
}

/// `POST /groups/{id}/members/$ref` with `{"@odata.id": ".../users/{id}"}`.
#[utoipa::path(
    post,
    path = "/groups/{group}/members/$ref",
    operation_id = "addGroupMember",
    tag = "directory",
    summary = "Add a member",
    description = super::openapi::permissions(perm::GROUPS_WRITE),
    params(("group" = String, Path, description = "object id")),
    request_body = RefBody,
    responses(
        (status = 204, description = "added")
    )
)]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
    Extension(rid): Extension<RequestId>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    caller.require(perm::GROUPS_WRITE)?;
    let b: RefBody = parse_json(&body)?;
    let user_key = b
        .odata_id
        .trim_end_matches('/')
        .rsplit_once("/users/")
        .map(|(_, id)| id.to_owned())
        .or_else(|| b.odata_id.rsplit('/').next().map(str::to_owned))
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("@odata.id must reference a user."))?;
    usecase::add_member(
        &state.db,
        &caller.tenant_id,
        &group,
        &user_key,
        &caller.actor(),
        &rid.0,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

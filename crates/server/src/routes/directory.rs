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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserBody {
    user_principal_name: Option<String>,
    display_name: Option<String>,
    account_enabled: Option<bool>,
    #[serde(flatten)]
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

pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(perm::USERS_READ)?;
    let user = directory::find_user(&state.db, &caller.tenant_id, &user).await?;
    Ok(Json(user.to_json()))
}

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupBody {
    display_name: String,
    description: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

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

#[derive(Deserialize)]
struct RefBody {
    #[serde(rename = "@odata.id")]
    odata_id: String,
}

/// `POST /groups/{id}/members/$ref` with `{"@odata.id": ".../users/{id}"}`.
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

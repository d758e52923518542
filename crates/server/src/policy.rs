//! The per-tenant FIDO2 method policy (Graph's
//! `fido2AuthenticationMethodConfiguration`) and what it means at
//! registration and sign-in.

use crate::db::{Backend, Db};
use crate::error::{ApiError, ApiResult};
use crate::time_util::now_unix;
use sqlx::Row;
use webauthn::graph::{Fido2Policy, KeyRestrictions, PolicyTarget};

/// The policy of a tenant that never set one: enabled for all users,
/// attestation not enforced, no key restrictions.
pub fn default_policy() -> Fido2Policy {
    Fido2Policy {
        odata_type: "#microsoft.graph.fido2AuthenticationMethodConfiguration".into(),
        id: "Fido2".into(),
        state: "enabled".into(),
        is_self_service_registration_allowed: true,
        is_attestation_enforced: false,
        key_restrictions: KeyRestrictions {
            is_enforced: false,
            enforcement_type: "allow".into(),
            aa_guids: Vec::new(),
        },
        include_targets: vec![PolicyTarget {
            target_type: "group".into(),
            id: "all_users".into(),
            is_registration_required: false,
        }],
        exclude_targets: Vec::new(),
    }
}

pub async fn load(db: &Db, tenant_id: &str) -> ApiResult<Fido2Policy> {
    const SQL: &str = "SELECT fido2 FROM policies WHERE tenant_id = $1";
    if let Some(found) = db.lite_read(|c| {
        use rusqlite::OptionalExtension;
        let text = c
            .prepare_cached(&crate::db::lite_sql(SQL))?
            .query_row(rusqlite::params![tenant_id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()?;
        from_stored(text.flatten())
    }) {
        return found;
    }
    let row = sqlx::query(SQL)
        .bind(tenant_id)
        .fetch_optional(db.read())
        .await?;
    match row {
        Some(r) => from_stored(r.try_get(0)?),
        None => Ok(default_policy()),
    }
}

/// The policy from its stored JSON (`None`: the tenant never set one).
pub fn from_stored(text: Option<String>) -> ApiResult<Fido2Policy> {
    match text {
        Some(text) => serde_json::from_str(&text).map_err(ApiError::internal),
        None => Ok(default_policy()),
    }
}

/// Whether [`check_targets`] depends on the user's groups (a target other
/// than `all_users`); when it does not, they need not be read.
pub async fn check_user(db: &Db, p: &Fido2Policy, user_id: &str) -> ApiResult<()> {
    let groups = if p.needs_groups() {
        crate::directory::user_group_ids(db, user_id).await?
    } else {
        Vec::new()
    };
    check_targets(p, &groups)
}

/// Applies a PATCH body (a partial policy object) and stores the result.
/// The read, merge and write are one transaction holding the policy row
/// (SQLite: the write lock of `BEGIN IMMEDIATE`; PostgreSQL: the row lock
/// of `SELECT … FOR UPDATE`, the row being created first if the tenant has
/// none), so two concurrent PATCHes of different fields both land.
pub async fn patch(db: &Db, tenant_id: &str, body: &serde_json::Value) -> ApiResult<Fido2Policy> {
    let serde_json::Value::Object(patch) = body else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO policies (tenant_id, fido2, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(serde_json::to_string(&default_policy()).expect("policy serialises"))
    .bind(now_unix())
    .execute(&mut *tx)
    .await?;
    let lock = match db.backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let row = sqlx::query(&format!(
        "SELECT fido2 FROM policies WHERE tenant_id = $1{lock}"
    ))
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    let current = from_stored(row.try_get(0)?)?;
    let mut merged = serde_json::to_value(&current).expect("policy serialises");
    for (k, v) in patch {
        if k == "id" || k == "@odata.type" {
            continue;
        }
        if merged.get(k).is_none() {
            return Err(ApiError::bad_request(format!("Unknown property '{k}'.")));
        }
        merged[k] = v.clone();
    }
    let policy: Fido2Policy = serde_json::from_value(merged)
        .map_err(|e| ApiError::bad_request(format!("Invalid policy: {e}")))?;
    validate(&policy)?;
    sqlx::query("UPDATE policies SET fido2 = $2, updated_at = $3 WHERE tenant_id = $1")
        .bind(tenant_id)
        .bind(serde_json::to_string(&policy).expect("policy serialises"))
        .bind(now_unix())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(policy)
}

fn validate(p: &Fido2Policy) -> ApiResult<()> {
    if !matches!(p.state.as_str(), "enabled" | "disabled") {
        return Err(ApiError::bad_request(
            "state must be 'enabled' or 'disabled'.",
        ));
    }
    if !matches!(
        p.key_restrictions.enforcement_type.as_str(),
        "allow" | "block"
    ) {
        return Err(ApiError::bad_request(
            "keyRestrictions.enforcementType must be 'allow' or 'block'.",
        ));
    }
    for g in &p.key_restrictions.aa_guids {
        if webauthn::authdata::parse_aaguid(g).is_none() {
            return Err(ApiError::bad_request(format!("'{g}' is not an AAGUID.")));
        }
    }
    Ok(())
}

/// Refuses a user the policy does not target (or a disabled method).
pub fn check_targets(p: &Fido2Policy, user_groups: &[String]) -> ApiResult<()> {
    if !p.is_enabled() {
        return Err(ApiError::forbidden(
            "The FIDO2 authentication method is disabled for this tenant.",
        ));
    }
    if !p.targets(user_groups) {
        return Err(ApiError::forbidden(
            "The FIDO2 authentication method policy does not target this user.",
        ));
    }
    Ok(())
}

/// Key restrictions (allow/block by AAGUID), enforced at registration and
/// sign-in.
pub fn check_aaguid(p: &Fido2Policy, aaguid: &str) -> ApiResult<()> {
    if p.allows_aaguid(aaguid) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Security keys of model {aaguid} are not allowed by the tenant's key restrictions."
        )))
    }
}

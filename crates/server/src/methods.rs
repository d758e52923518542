//! Stored FIDO2 authentication methods (one row per credential).

use crate::db::{get_i64, get_opt_i64, Db};
use crate::error::{ApiError, ApiResult};
use crate::time_util::rfc3339;
use crate::writer::{Conn, JobCtx};
use sqlx::any::AnyRow;
use sqlx::Row;
use webauthn::graph::Fido2Method;

#[derive(Debug, Clone)]
pub struct Method {
    /// base64url of the credential id (Graph's method id).
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub credential_id: Vec<u8>,
    pub public_key: Vec<u8>,
    pub sign_count: i64,
    pub aaguid: String,
    pub fmt: String,
    pub attestation_level: String,
    pub cert_thumbprints: Vec<String>,
    pub model: Option<String>,
    pub display_name: Option<String>,
    pub backup_eligible: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl Method {
    pub fn to_graph(&self) -> Fido2Method {
        Fido2Method {
            odata_type: "#microsoft.graph.fido2AuthenticationMethod".into(),
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            created_date_time: Some(rfc3339(self.created_at)),
            aa_guid: Some(self.aaguid.clone()),
            model: self.model.clone(),
            attestation_certificates: self.cert_thumbprints.clone(),
            attestation_level: Some(self.attestation_level.clone()),
            passkey_type: Some(
                if self.backup_eligible {
                    "synced"
                } else {
                    "deviceBound"
                }
                .into(),
            ),
        }
    }
}

/// [`from_row`] for a `rusqlite` row of [`COLS`].
fn lite_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Method> {
    let thumbs: String = r.get("cert_thumbprints")?;
    Ok(Method {
        id: r.get("id")?,
        tenant_id: r.get("tenant_id")?,
        user_id: r.get("user_id")?,
        credential_id: r.get("credential_id")?,
        public_key: r.get("public_key")?,
        sign_count: r.get("sign_count")?,
        aaguid: r.get("aaguid")?,
        fmt: r.get("fmt")?,
        attestation_level: r.get("attestation_level")?,
        cert_thumbprints: serde_json::from_str(&thumbs).unwrap_or_default(),
        model: r.get("model")?,
        display_name: r.get("display_name")?,
        backup_eligible: r.get::<_, i64>("backup_eligible")? != 0,
        created_at: r.get("created_at")?,
        last_used_at: r.get("last_used_at")?,
    })
}

fn from_row(r: &AnyRow) -> Result<Method, sqlx::Error> {
    let thumbs: String = r.try_get("cert_thumbprints")?;
    Ok(Method {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        user_id: r.try_get("user_id")?,
        credential_id: r.try_get("credential_id")?,
        public_key: r.try_get("public_key")?,
        sign_count: get_i64(r, "sign_count")?,
        aaguid: r.try_get("aaguid")?,
        fmt: r.try_get("fmt")?,
        attestation_level: r.try_get("attestation_level")?,
        cert_thumbprints: serde_json::from_str(&thumbs).unwrap_or_default(),
        model: r.try_get("model")?,
        display_name: r.try_get("display_name")?,
        backup_eligible: get_i64(r, "backup_eligible")? != 0,
        created_at: get_i64(r, "created_at")?,
        last_used_at: get_opt_i64(r, "last_used_at")?,
    })
}

const COLS: &str = "id, tenant_id, user_id, credential_id, public_key, sign_count, aaguid, fmt, \
    attestation_level, cert_thumbprints, model, display_name, backup_eligible, created_at, last_used_at";

/// Stores a new method; a credential id already present in the tenant is
/// a 400 (GRAPH_FIDO2_API.md §2: "a credential already registered").
pub async fn insert(ctx: &mut JobCtx, m: &Method) -> ApiResult<()> {
    let sql = format!(
        "INSERT INTO fido2_methods ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    );
    let thumbprints = serde_json::to_string(&m.cert_thumbprints).expect("strings serialise");
    let conn = match ctx.conn() {
        Conn::Lite(c) => {
            return c
                .prepare_cached(&crate::db::lite_sql(&sql))
                .and_then(|mut st| {
                    st.execute(rusqlite::params![
                        m.id,
                        m.tenant_id,
                        m.user_id,
                        m.credential_id,
                        m.public_key,
                        m.sign_count,
                        m.aaguid,
                        m.fmt,
                        m.attestation_level,
                        thumbprints,
                        m.model,
                        m.display_name,
                        i64::from(m.backup_eligible),
                        m.created_at,
                        m.last_used_at
                    ])
                })
                .map(drop)
                .map_err(|e| already_registered(e.into()));
        }
        Conn::Sqlx(conn) => conn,
    };
    sqlx::query(&sql)
        .bind(&m.id)
        .bind(&m.tenant_id)
        .bind(&m.user_id)
        .bind(&m.credential_id)
        .bind(&m.public_key)
        .bind(m.sign_count)
        .bind(&m.aaguid)
        .bind(&m.fmt)
        .bind(&m.attestation_level)
        .bind(thumbprints)
        .bind(&m.model)
        .bind(&m.display_name)
        .bind(i64::from(m.backup_eligible))
        .bind(m.created_at)
        .bind(m.last_used_at)
        .execute(conn)
        .await
        .map_err(|e| already_registered(e.into()))?;
    Ok(())
}

fn already_registered(e: ApiError) -> ApiError {
    match e {
        e if e.is_conflict() => ApiError::bad_request("The credential is already registered."),
        e => e,
    }
}

/// How many passkeys `user_id` has, inside a write job. On PostgreSQL the
/// user's row is locked first, so that registrations for one user on
/// several instances count one after the other (the per-user limit holds).
pub async fn count_for_user_in(ctx: &mut JobCtx, tenant_id: &str, user_id: &str) -> ApiResult<i64> {
    const COUNT: &str =
        "SELECT COUNT(*) AS n FROM fido2_methods WHERE tenant_id = $1 AND user_id = $2";
    let postgres = ctx.backend == crate::db::Backend::Postgres;
    match ctx.conn() {
        Conn::Lite(c) => Ok(c
            .prepare_cached(&crate::db::lite_sql(COUNT))?
            .query_row(rusqlite::params![tenant_id, user_id], |r| r.get(0))?),
        Conn::Sqlx(conn) => {
            if postgres {
                sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                    .bind(user_id)
                    .fetch_optional(&mut *conn)
                    .await?;
            }
            let row = sqlx::query(COUNT)
                .bind(tenant_id)
                .bind(user_id)
                .fetch_one(&mut *conn)
                .await?;
            Ok(get_i64(&row, "n")?)
        }
    }
}

/// The error of a user at the per-user passkey limit.
pub fn limit_reached(upn: &str, limit: u32) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "accessDenied",
        format!(
            "{upn} already has {limit} passkeys, the most this directory allows per user (max_passkeys_per_user): delete one first."
        ),
    )
}

pub async fn list_for_user(db: &Db, tenant_id: &str, user_id: &str) -> ApiResult<Vec<Method>> {
    let sql = format!(
        "SELECT {COLS} FROM fido2_methods WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id"
    );
    if let Some(found) = db.lite_read(|c| {
        let mut st = c.prepare_cached(&crate::db::lite_sql(&sql))?;
        let rows = st.query_map(rusqlite::params![tenant_id, user_id], lite_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }) {
        return found;
    }
    let rows = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(user_id)
        .fetch_all(db.read())
        .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// The models (AAGUID, and model name when known) of the passkeys
/// registered in a tenant, by AAGUID.
pub async fn models_seen(db: &Db, tenant_id: &str) -> ApiResult<Vec<(String, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT DISTINCT aaguid, model FROM fido2_methods WHERE tenant_id = $1 ORDER BY aaguid",
    )
    .bind(tenant_id)
    .fetch_all(db.read())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("aaguid")?, r.try_get("model")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// A user's methods, for [`crate::query::fetch`].
pub fn listing(tenant_id: &str, user_id: &str) -> crate::query::Listing<'static> {
    use crate::query::Bind;
    crate::query::Listing {
        from: "fido2_methods",
        alias: "",
        columns: COLS.to_owned(),
        scope: vec![
            ("tenant_id = {}", Bind::Text(tenant_id.to_owned())),
            ("user_id = {}", Bind::Text(user_id.to_owned())),
        ],
    }
}

/// A page of `user_id`'s methods with Graph's query options (default:
/// oldest first; a user has at most `max_passkeys_per_user`).
pub async fn page_for_user(
    db: &Db,
    tenant_id: &str,
    user_id: &str,
    q: &crate::query::GraphQuery,
    page: &crate::paging::PageRequest,
) -> ApiResult<(Vec<Method>, Option<String>, Option<i64>)> {
    let f = crate::query::fetch(db, &listing(tenant_id, user_id), q, page).await?;
    let found = f.rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok((found, f.next, f.count))
}

/// How many passkeys each of `user_ids` has (users with none are absent),
/// in one query.
pub async fn counts_for_users(
    db: &Db,
    tenant_id: &str,
    user_ids: &[String],
) -> ApiResult<std::collections::HashMap<String, i64>> {
    if user_ids.is_empty() {
        return Ok(Default::default());
    }
    let placeholders: Vec<String> = (0..user_ids.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT user_id, COUNT(*) AS n FROM fido2_methods WHERE tenant_id = $1 \
         AND user_id IN ({}) GROUP BY user_id",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(tenant_id);
    for id in user_ids {
        query = query.bind(id);
    }
    let rows = query.fetch_all(db.read()).await?;
    let mut counts = std::collections::HashMap::new();
    for r in &rows {
        counts.insert(r.try_get::<String, _>("user_id")?, get_i64(r, "n")?);
    }
    Ok(counts)
}

/// The length of one credential id of the tenant (any one: the first by
/// the primary key), for sign-in decoys; `None` when it has none.
pub async fn sample_credential_id_len(db: &Db, tenant_id: &str) -> ApiResult<Option<usize>> {
    const SQL: &str = "SELECT credential_id FROM fido2_methods WHERE tenant_id = $1 ORDER BY tenant_id, id LIMIT 1";
    if let Some(found) = db.lite_read(|c| {
        use rusqlite::OptionalExtension;
        Ok(c.prepare_cached(&crate::db::lite_sql(SQL))?
            .query_row(rusqlite::params![tenant_id], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
            .map(|v| v.len()))
    }) {
        return found;
    }
    let row = sqlx::query(SQL)
        .bind(tenant_id)
        .fetch_optional(db.read())
        .await?;
    Ok(row
        .map(|r| r.try_get::<Vec<u8>, _>(0).map(|v| v.len()))
        .transpose()?)
}

/// A method by id within a tenant.
pub async fn find(db: &Db, tenant_id: &str, id: &str) -> ApiResult<Option<Method>> {
    let sql = format!("SELECT {COLS} FROM fido2_methods WHERE tenant_id = $1 AND id = $2");
    if let Some(found) = db.lite_read(|c| {
        use rusqlite::OptionalExtension;
        Ok(c.prepare_cached(&crate::db::lite_sql(&sql))?
            .query_row(rusqlite::params![tenant_id, id], lite_row)
            .optional()?)
    }) {
        return found;
    }
    let row = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(db.read())
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Deletes; false if there was nothing to delete.
pub async fn delete(db: &Db, tenant_id: &str, user_id: &str, id: &str) -> ApiResult<bool> {
    let done =
        sqlx::query("DELETE FROM fido2_methods WHERE tenant_id = $1 AND user_id = $2 AND id = $3")
            .bind(tenant_id)
            .bind(user_id)
            .bind(id)
            .execute(db.write())
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Records a sign-in: new counter and last-used time.
pub async fn record_use(ctx: &mut JobCtx, m: &Method, sign_count: i64, at: i64) -> ApiResult<()> {
    const SQL: &str =
        "UPDATE fido2_methods SET sign_count = $1, last_used_at = $2 WHERE tenant_id = $3 AND id = $4";
    let conn = match ctx.conn() {
        Conn::Lite(c) => {
            c.prepare_cached(&crate::db::lite_sql(SQL))?
                .execute(rusqlite::params![sign_count, at, m.tenant_id, m.id])?;
            return Ok(());
        }
        Conn::Sqlx(conn) => conn,
    };
    sqlx::query(SQL)
        .bind(sign_count)
        .bind(at)
        .bind(&m.tenant_id)
        .bind(&m.id)
        .execute(conn)
        .await?;
    Ok(())
}

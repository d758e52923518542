//! Stored FIDO2 authentication methods (one row per credential).

use crate::backend::Backend;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::store::sql::{
    args, execute, fetch_all, fetch_one, fetch_optional, placeholders, Arg, Fields, On,
};
use crate::time_util::rfc3339;
use crate::writer::JobCtx;
use webauthn::graph::Fido2Method;

/// A registered passkey as stored.
#[derive(Debug, Clone)]
pub struct Method {
    /// base64url of the credential id (Graph's method id).
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The user.
    pub user_id: String,
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The credential public key (COSE).
    pub public_key: Vec<u8>,
    /// The last signature counter seen.
    pub sign_count: i64,
    /// The model's AAGUID.
    pub aaguid: String,
    /// The attestation format it came with.
    pub fmt: String,
    /// `attested` or `notAttested`.
    pub attestation_level: String,
    /// Thumbprints of its attestation certificates.
    pub cert_thumbprints: Vec<String>,
    /// The model's name, if known.
    pub model: Option<String>,
    /// Its name.
    pub display_name: Option<String>,
    /// BE flag: the credential may be synced (not device-bound).
    pub backup_eligible: bool,
    /// When it was registered (Unix seconds).
    pub created_at: i64,
    /// When it last signed in (Unix seconds).
    pub last_used_at: Option<i64>,
}

impl Method {
    /// The passkey as Graph's fido2AuthenticationMethod.
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

/// A [`Method`] from a row of [`COLS`].
fn from_row(r: &dyn Fields) -> ApiResult<Method> {
    Ok(Method {
        id: r.text("id")?,
        tenant_id: r.text("tenant_id")?,
        user_id: r.text("user_id")?,
        credential_id: r.bytes("credential_id")?,
        public_key: r.bytes("public_key")?,
        sign_count: r.int("sign_count")?,
        aaguid: r.text("aaguid")?,
        fmt: r.text("fmt")?,
        attestation_level: r.text("attestation_level")?,
        cert_thumbprints: serde_json::from_str(&r.text("cert_thumbprints")?).unwrap_or_default(),
        model: r.opt_text("model")?,
        display_name: r.opt_text("display_name")?,
        backup_eligible: r.flag("backup_eligible")?,
        created_at: r.int("created_at")?,
        last_used_at: r.opt_int("last_used_at")?,
    })
}

const COLS: &str = "id, tenant_id, user_id, credential_id, public_key, sign_count, aaguid, fmt, \
    attestation_level, cert_thumbprints, model, display_name, backup_eligible, created_at, last_used_at";

/// Stores a new method; a credential id already present in the tenant is
/// a 400 (GRAPH_FIDO2_API.md §2: "a credential already registered").
const INSERT_COLUMNS: &str = "id, tenant_id, user_id, credential_id, public_key, \
    sign_count, aaguid, fmt, attestation_level, cert_thumbprints, model, display_name, \
    backup_eligible, created_at, last_used_at";

/// A method's values, in the order of [`INSERT_COLUMNS`].
fn insert_args<'a>(m: &'a Method, thumbprints: &'a str) -> [Arg<'a>; 15] {
    [
        Arg::from(&m.id),
        Arg::from(&m.tenant_id),
        Arg::from(&m.user_id),
        Arg::from(&m.credential_id),
        Arg::from(&m.public_key),
        Arg::from(m.sign_count),
        Arg::from(&m.aaguid),
        Arg::from(&m.fmt),
        Arg::from(&m.attestation_level),
        Arg::from(thumbprints),
        Arg::from(&m.model),
        Arg::from(&m.display_name),
        Arg::from(m.backup_eligible),
        Arg::from(m.created_at),
        Arg::from(m.last_used_at),
    ]
}

fn already_registered() -> ApiError {
    ApiError::bad_request("The credential is already registered.")
}

async fn insert(ctx: &mut JobCtx, m: &Method) -> ApiResult<()> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO fido2_methods ({INSERT_COLUMNS}) VALUES ({})",
            placeholders(1, 15)
        )
    });
    let thumbprints = serde_json::to_string(&m.cert_thumbprints).expect("strings serialise");
    match execute(On::Job(ctx), &SQL, &insert_args(m, &thumbprints)).await {
        Err(e) if e.is_conflict() => Err(already_registered()),
        done => done.map(drop),
    }
}

/// Why a registration was not stored (nothing of it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// The challenge is unknown or already used.
    ChallengeGone,
    /// The user has `limit` passkeys already.
    LimitReached,
}

/// Stores a verified registration inside a write job, with its audit
/// event: consumes `challenge`, counts the user's passkeys against
/// `limit`, inserts `m`, then `event`. Nothing is written unless all of it
/// is. On PostgreSQL it is one statement — one round trip of the group
/// commit's connection instead of four; the count is exact because the
/// job holds its tenant's advisory lock (taken by
/// [`crate::audit::prepare_in`], which linked `event`) before the
/// statement's snapshot is taken, so every registration for the tenant
/// committed elsewhere is counted.
pub async fn store_registration(
    ctx: &mut JobCtx,
    challenge: &str,
    m: &Method,
    limit: i64,
    event: &crate::store::audit::EventRow,
) -> ApiResult<Result<(), NotStored>> {
    use crate::store::audit::{event_args, insert_event, EVENT_COLUMNS};
    if ctx.backend == Backend::Sqlite {
        if !crate::store::challenges::take(ctx, challenge, &m.tenant_id).await? {
            return Ok(Err(NotStored::ChallengeGone));
        }
        if count_for_user_in(ctx, &m.tenant_id, &m.user_id).await? >= limit {
            return Ok(Err(NotStored::LimitReached));
        }
        insert(ctx, m).await?;
        insert_event(ctx, event).await?;
        return Ok(Ok(()));
    }
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH taken AS (DELETE FROM challenges WHERE id = $16 AND tenant_id = $2 RETURNING 1), \
             n AS (SELECT COUNT(*) AS c FROM fido2_methods WHERE tenant_id = $2 AND user_id = $3), \
             ins AS (INSERT INTO fido2_methods ({INSERT_COLUMNS}) SELECT {} \
                     WHERE EXISTS (SELECT 1 FROM taken) AND (SELECT c FROM n) < $17 \
                     ON CONFLICT DO NOTHING RETURNING 1), \
             ev AS (INSERT INTO audit_events ({EVENT_COLUMNS}) SELECT {} \
                    WHERE EXISTS (SELECT 1 FROM ins) RETURNING 1) \
             SELECT (SELECT COUNT(*) FROM taken) AS taken, (SELECT c FROM n) AS n, \
                    (SELECT COUNT(*) FROM ev) AS stored",
            placeholders(1, 15),
            placeholders(18, 13)
        )
    });
    let thumbprints = serde_json::to_string(&m.cert_thumbprints).expect("strings serialise");
    let mut args: Vec<Arg<'_>> = insert_args(m, &thumbprints).to_vec();
    args.push(Arg::from(challenge));
    args.push(Arg::from(limit));
    args.extend(event_args(event));
    let (taken, n, stored) = fetch_one(On::Job(ctx), &SQL, &args, |r| {
        Ok((r.int("taken")?, r.int("n")?, r.int("stored")?))
    })
    .await?;
    Ok(match (taken, stored) {
        (_, 1) => Ok(()),
        (0, _) => Err(NotStored::ChallengeGone),
        _ if n >= limit => Err(NotStored::LimitReached),
        // Taken and under the limit, yet not inserted: the credential (or
        // the method id) is stored already.
        _ => return Err(already_registered()),
    })
}

/// `$1` tenant, `$2` user: how many passkeys the user has.
pub(crate) const COUNT_FOR_USER: &str =
    "SELECT COUNT(*) AS n FROM fido2_methods WHERE tenant_id = $1 AND user_id = $2";

/// How many passkeys `user_id` has, inside a write job (SQLite: the job
/// holds the database's write lock, so the count stands until commit).
async fn count_for_user_in(ctx: &mut JobCtx, tenant_id: &str, user_id: &str) -> ApiResult<i64> {
    fetch_one(
        On::Job(ctx),
        COUNT_FOR_USER,
        args![tenant_id, user_id],
        |r| r.int("n"),
    )
    .await
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

/// [`list_for_user`]'s statement: `$1` tenant, `$2` user.
pub(crate) static LIST_FOR_USER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {COLS} FROM fido2_methods WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id"
    )
});

/// A user's methods, oldest first.
pub async fn list_for_user(db: &Db, tenant_id: &str, user_id: &str) -> ApiResult<Vec<Method>> {
    fetch_all(
        On::Read(db),
        &LIST_FOR_USER,
        args![tenant_id, user_id],
        from_row,
    )
    .await
}

/// The models (AAGUID, and model name when known) of the passkeys
/// registered in a tenant, by AAGUID.
pub async fn models_seen(db: &Db, tenant_id: &str) -> ApiResult<Vec<(String, Option<String>)>> {
    fetch_all(
        On::Read(db),
        "SELECT DISTINCT aaguid, model FROM fido2_methods WHERE tenant_id = $1 ORDER BY aaguid",
        args![tenant_id],
        |r| Ok((r.text("aaguid")?, r.opt_text("model")?)),
    )
    .await
}

/// A user's methods, for [`crate::store::query::fetch`].
pub fn listing(tenant_id: &str, user_id: &str) -> crate::store::query::Listing<'static> {
    use crate::store::query::Bind;
    crate::store::query::Listing {
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
    q: &crate::store::query::GraphQuery,
    page: &crate::paging::PageRequest,
) -> ApiResult<(Vec<Method>, Option<String>, Option<i64>)> {
    let f = crate::store::query::fetch(db, &listing(tenant_id, user_id), q, page).await?;
    let found = f
        .rows
        .iter()
        .map(|r| from_row(r))
        .collect::<ApiResult<_>>()?;
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
    let args: Vec<Arg<'_>> = std::iter::once(Arg::from(tenant_id))
        .chain(user_ids.iter().map(Arg::from))
        .collect();
    let counts = fetch_all(On::Read(db), &sql, &args, |r| {
        Ok((r.text("user_id")?, r.int("n")?))
    })
    .await?;
    Ok(counts.into_iter().collect())
}

/// The length of one credential id of the tenant (any one: the first by
/// the primary key), for sign-in decoys; `None` when it has none.
pub async fn sample_credential_id_len(db: &Db, tenant_id: &str) -> ApiResult<Option<usize>> {
    fetch_optional(
        On::Read(db),
        "SELECT credential_id FROM fido2_methods WHERE tenant_id = $1 ORDER BY tenant_id, id LIMIT 1",
        args![tenant_id],
        |r| Ok(r.bytes("credential_id")?.len()),
    )
    .await
}

/// A method by id within a tenant.
pub async fn find(db: &Db, tenant_id: &str, id: &str) -> ApiResult<Option<Method>> {
    fetch_optional(
        On::Read(db),
        &format!("SELECT {COLS} FROM fido2_methods WHERE tenant_id = $1 AND id = $2"),
        args![tenant_id, id],
        from_row,
    )
    .await
}

/// Deletes; false if there was nothing to delete.
pub async fn delete(db: &Db, tenant_id: &str, user_id: &str, id: &str) -> ApiResult<bool> {
    let n = execute(
        On::Write(db),
        "DELETE FROM fido2_methods WHERE tenant_id = $1 AND user_id = $2 AND id = $3",
        args![tenant_id, user_id, id],
    )
    .await?;
    Ok(n > 0)
}

/// Records a sign-in: new counter and last-used time.
pub async fn record_use(ctx: &mut JobCtx, m: &Method, sign_count: i64, at: i64) -> ApiResult<()> {
    execute(
        On::Job(ctx),
        "UPDATE fido2_methods SET sign_count = $1, last_used_at = $2 WHERE tenant_id = $3 AND id = $4",
        args![sign_count, at, &m.tenant_id, &m.id],
    )
    .await
    .map(drop)
}

//! Access tokens: ES256 JWTs (encoded and verified with the `jsonwebtoken`
//! crate on aws-lc-rs), and the permission check each endpoint makes
//! (GRAPH_FIDO2_API.md §6).
//!
//! The signing keys live in the database so that every instance signs and
//! checks with the same ones, but only *sealed* under the key-encryption
//! key ([`crate::kek`]), which is not in the database: a copy of the
//! database cannot mint tokens. Keys rotate (`keysmith admin signing-key
//! rotate`): new tokens are signed with the newest key, and a retired key
//! keeps verifying until the last token it signed has expired. The public
//! halves are published as a JWKS document.
//!
//! A token is accepted only if its header says `alg: ES256`, `typ: JWT`
//! and names a known `kid`; its signature is in low-S form; its `iss` is
//! this server's issuer for its `tid`; it is inside its validity window and
//! lives no longer than [`MAX_TOKEN_SECONDS`]; and (app tokens) its tenant
//! and app registration exist and are enabled.

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::kek::Kek;
use crate::store::signing_keys;
use crate::time_util::now_unix;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::pkcs8::EncodePrivateKey;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// App tokens live this long (Entra's `expires_in`).
pub const APP_TOKEN_SECONDS: i64 = 3599;
/// No token Keysmith accepts lives longer than this (`exp - iat`).
pub const MAX_TOKEN_SECONDS: i64 = 3600;
/// Audience of app tokens (Graph's resource).
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
/// Audience of end-user sign-in tokens.
pub const SIGNIN_AUDIENCE: &str = "keysmith-signin";
/// Seconds a token's `nbf`/`iat` may lie in the future (clocks of
/// instances sharing the signing keys differ a little).
pub const CLOCK_SKEW: i64 = 60;
/// Longest token text looked at.
const MAX_TOKEN_LEN: usize = 8192;
/// Most tokens remembered as verified.
const VERIFIED_CACHE: usize = 4096;
/// How long an app's enabled state is remembered.
const APP_STATUS_TTL: Duration = Duration::from_secs(30);
/// Fewest seconds between two reloads of the key ring for an unknown `kid`.
const RELOAD_MIN_INTERVAL: Duration = Duration::from_secs(1);

/// JWT claims Keysmith issues.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// `aud`: the API the token is for (Graph's audience).
    pub aud: String,
    /// `iss`: the issuer (this server, per tenant).
    pub iss: String,
    /// `iat`: when it was issued (Unix seconds).
    pub iat: i64,
    /// `nbf`: not valid before (Unix seconds).
    pub nbf: i64,
    /// `exp`: expiry (Unix seconds).
    pub exp: i64,
    /// `tid`: the tenant id.
    pub tid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `appid`: the app registration's client id (app tokens).
    pub appid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `sub`: the user's object id (sign-in tokens).
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `roles`: the app's permissions.
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `upn`: the user's UPN (sign-in tokens).
    pub upn: Option<String>,
}

/// Why a token was refused (each a fixed message: nothing of the token is
/// echoed back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT of three base64url parts with JSON inside.
    Malformed,
    /// The header is not ES256 / JWT.
    WrongAlgorithm,
    /// Signed with a key this server does not have.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// The signature is not in canonical (low-S) form.
    HighS,
    /// Past `exp`.
    Expired,
    /// Before `nbf`.
    NotYetValid,
    /// A lifetime over the maximum this server issues.
    TooLong,
    /// Meant for another API.
    WrongAudience,
    /// Issued by someone else.
    WrongIssuer,
    /// A user's token where an app's is needed.
    NotAnAppToken,
    /// The app registration or its tenant is gone or disabled.
    AppDisabled,
}

impl TokenError {
    /// The fixed message sent back (nothing of the token echoed).
    pub fn message(self) -> &'static str {
        match self {
            TokenError::Malformed => "The access token is malformed.",
            TokenError::WrongAlgorithm => {
                "The access token's header is not accepted (alg must be ES256 and typ JWT)."
            }
            TokenError::UnknownKey => "The access token was signed with an unknown key.",
            TokenError::BadSignature => "The access token signature is invalid.",
            TokenError::HighS => "The access token signature is not in canonical (low-S) form.",
            TokenError::Expired => "The access token has expired.",
            TokenError::NotYetValid => "The access token is not valid yet.",
            TokenError::TooLong => "The access token's lifetime exceeds the maximum.",
            TokenError::WrongAudience => "The access token is not meant for this API.",
            TokenError::WrongIssuer => "The access token was not issued by this service.",
            TokenError::NotAnAppToken => "The access token is not an app token.",
            TokenError::AppDisabled => {
                "The app registration or tenant of the access token does not exist or is disabled."
            }
        }
    }
}

/// Errors of the key ring (start-up, rotation).
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// The database failed (the cause is logged where it happened).
    #[error("database: {0}")]
    Db(String),
    #[error(
        "the token signing key {kid} in the database was sealed with another key-encryption key \
         (id {stored}; this server has {ours} from {from}): give every instance the same KEK file"
    )]
    /// A signing key was sealed with another key-encryption key (instances must share the KEK file).
    WrongKek {
        /// The signing key's id.
        kid: String,
        /// The id of the KEK it was sealed with.
        stored: String,
        /// The id of this server's KEK.
        ours: String,
        /// Where this server's KEK came from.
        from: String,
    },
    #[error("the token signing key {0} in the database is corrupt or was tampered with")]
    /// A signing key failed its integrity check (corrupt or tampered with; its id named).
    Corrupt(String),
}

impl From<ApiError> for KeyRingError {
    fn from(e: ApiError) -> Self {
        KeyRingError::Db(e.message)
    }
}

struct KeyEntry {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Public point, base64url (JWKS).
    x: String,
    y: String,
    retired_at: Option<i64>,
}

struct Ring {
    signing: Arc<KeyEntry>,
    by_kid: HashMap<String, Arc<KeyEntry>>,
}

struct Inner {
    kek: Arc<Kek>,
    ring: RwLock<Arc<Ring>>,
    verified: quick_cache::sync::Cache<String, Arc<Claims>>,
    reloaded: Mutex<Instant>,
}

/// The token signing keys (a ring: the newest signs, all unexpired
/// verify). Cheap to clone.
#[derive(Clone)]
pub struct TokenKeys {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("signing_kid", &self.ring().signing.kid)
            .finish_non_exhaustive()
    }
}

/// A signing key as `keysmith admin signing-key list` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    /// The key id (`kid` in token headers).
    pub kid: String,
    /// When it was created (RFC 3339).
    pub created_date_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// When it was retired (still verifies tokens until they expire).
    pub retired_date_time: Option<String>,
    /// Signs new tokens.
    pub active: bool,
}

impl TokenKeys {
    /// Loads the key ring, creating the first key on first start, sealing
    /// keys stored in clear by older versions, and dropping retired keys
    /// whose tokens have all expired.
    pub async fn load_or_create(db: &Db, kek: Arc<Kek>) -> Result<TokenKeys, KeyRingError> {
        let ring = load_ring(db, &kek, true).await?;
        Ok(TokenKeys {
            inner: Arc::new(Inner {
                kek,
                ring: RwLock::new(Arc::new(ring)),
                verified: quick_cache::sync::Cache::new(VERIFIED_CACHE),
                // A fresh instance may reload at once for an unknown kid.
                reloaded: Mutex::new(
                    Instant::now()
                        .checked_sub(RELOAD_MIN_INTERVAL)
                        .unwrap_or_else(Instant::now),
                ),
            }),
        })
    }

    fn ring(&self) -> Arc<Ring> {
        self.inner
            .ring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the ring (another instance or the CLI may have rotated).
    pub async fn reload(&self, db: &Db) -> Result<(), KeyRingError> {
        let ring = load_ring(db, &self.inner.kek, true).await?;
        let dropped = self
            .ring()
            .by_kid
            .keys()
            .any(|kid| !ring.by_kid.contains_key(kid));
        *self.inner.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
        if dropped {
            // Tokens remembered as verified may be of a key that is gone.
            self.inner.verified.clear();
        }
        Ok(())
    }

    /// Adds a new signing key and retires the others (they verify until
    /// their tokens expire). Returns the new key's id.
    pub async fn rotate(db: &Db, kek: &Kek) -> Result<String, KeyRingError> {
        let now = now_unix();
        let newest = signing_keys::newest_created_at(db).await?;
        let created = newest.map_or(now, |n| now.max(n + 1));
        let kid = insert_key(db, kek, created).await?;
        signing_keys::retire_all_but(db, &kid, now).await?;
        Ok(kid)
    }

    /// Every key in the database, newest first.
    pub async fn list(db: &Db) -> Result<Vec<KeyInfo>, KeyRingError> {
        let mut out: Vec<KeyInfo> = signing_keys::all(db, false)
            .await?
            .into_iter()
            .rev()
            .map(|k| KeyInfo {
                created_date_time: crate::time_util::rfc3339(k.created_at),
                retired_date_time: k.retired_at.map(crate::time_util::rfc3339),
                active: k.retired_at.is_none(),
                kid: k.kid,
            })
            .collect();
        // Only the newest key that is not retired signs.
        let mut seen_active = false;
        for k in &mut out {
            k.active &= !seen_active;
            seen_active |= k.active;
        }
        Ok(out)
    }

    /// The id of the key that signs new tokens.
    pub fn signing_kid(&self) -> String {
        self.ring().signing.kid.clone()
    }

    /// Signs `claims` with the newest key; the signature is in low-S form.
    pub fn sign(&self, claims: &Claims) -> String {
        let ring = self.ring();
        let key = &ring.signing;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        let token = jsonwebtoken::encode(&header, claims, &key.encoding)
            .expect("a sealed P-256 key signs ES256");
        low_s(token)
    }

    /// The public keys that verify tokens, as a JWKS document (RFC 7517),
    /// in jsonwebtoken's own types.
    pub fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        use jsonwebtoken::jwk::{
            AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
            EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
        };
        let ring = self.ring();
        let mut keys: Vec<&Arc<KeyEntry>> = ring.by_kid.values().collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        JwkSet {
            keys: keys
                .iter()
                .map(|k| Jwk {
                    common: CommonParameters {
                        public_key_use: Some(PublicKeyUse::Signature),
                        key_algorithm: Some(KeyAlgorithm::ES256),
                        key_id: Some(k.kid.clone()),
                        ..Default::default()
                    },
                    algorithm: AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                        key_type: EllipticCurveKeyType::EC,
                        curve: EllipticCurve::P256,
                        x: k.x.clone(),
                        y: k.y.clone(),
                    }),
                })
                .collect(),
        }
    }

    /// Checks a token: header, signature (low-S), validity window, maximum
    /// lifetime, audience and issuer (`issuer` gives this server's issuer
    /// for a tenant id). Reloads the ring once if the `kid` is unknown.
    pub async fn verify(
        &self,
        db: &Db,
        token: &str,
        audience: &str,
        issuer: impl Fn(&str) -> String,
    ) -> Result<Claims, TokenError> {
        let claims = match self.verify_signature(token) {
            Err(TokenError::UnknownKey) if self.may_reload() => {
                if let Err(e) = self.reload(db).await {
                    tracing::warn!("reloading the token signing keys: {e}");
                }
                self.verify_signature(token)?
            }
            other => other?,
        };
        check_claims(&claims, audience, &issuer, now_unix())?;
        Ok((*claims).clone())
    }

    fn may_reload(&self) -> bool {
        let mut at = self
            .inner
            .reloaded
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if at.elapsed() >= RELOAD_MIN_INTERVAL {
            *at = Instant::now();
            true
        } else {
            false
        }
    }

    fn verify_signature(&self, token: &str) -> Result<Arc<Claims>, TokenError> {
        if let Some(c) = self.inner.verified.get(token) {
            return Ok(c);
        }
        if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
            return Err(TokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            // A JSON header the codec does not take names an algorithm it
            // does not know (`none`, …).
            let json = token
                .split('.')
                .next()
                .and_then(|h| webauthn::b64::decode(h).ok())
                .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok());
            match json {
                Some(serde_json::Value::Object(_)) => TokenError::WrongAlgorithm,
                _ => TokenError::Malformed,
            }
        })?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some("JWT") {
            return Err(TokenError::WrongAlgorithm);
        }
        let ring = self.ring();
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| ring.by_kid.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let sig = token.rsplit('.').next().unwrap_or_default();
        let sig = webauthn::b64::decode(sig).map_err(|_| TokenError::Malformed)?;
        let sig = p256::ecdsa::Signature::from_slice(&sig).map_err(|_| TokenError::BadSignature)?;
        if sig.normalize_s().is_some() {
            return Err(TokenError::HighS);
        }
        let mut validation = Validation::new(Algorithm::ES256);
        // Every claim is checked by `check_claims`, the same way whether
        // the signature was verified now or earlier.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
                // The header's algorithm was checked above, so the codec's
                // InvalidAlgorithm cannot occur here.
                _ => TokenError::Malformed,
            },
        )?;
        let claims = Arc::new(data.claims);
        self.inner.verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }
}

/// The time, audience and issuer checks of a token whose signature holds.
fn check_claims(
    c: &Claims,
    audience: &str,
    issuer: &impl Fn(&str) -> String,
    now: i64,
) -> Result<(), TokenError> {
    if c.exp <= now {
        return Err(TokenError::Expired);
    }
    if c.nbf > now + CLOCK_SKEW || c.iat > now + CLOCK_SKEW {
        return Err(TokenError::NotYetValid);
    }
    if c.exp - c.iat > MAX_TOKEN_SECONDS || c.exp - c.nbf > MAX_TOKEN_SECONDS {
        return Err(TokenError::TooLong);
    }
    if c.aud != audience {
        return Err(TokenError::WrongAudience);
    }
    if c.iss != issuer(&c.tid) {
        return Err(TokenError::WrongIssuer);
    }
    Ok(())
}

/// Rewrites an ES256 JWT's signature to its low-S twin when needed (ECDSA
/// signatures `(r, s)` and `(r, n − s)` both verify; only low-S is
/// accepted, so a token has exactly one valid form).
fn low_s(token: String) -> String {
    let Some((signed, sig)) = token.rsplit_once('.') else {
        return token;
    };
    let Ok(raw) = webauthn::b64::decode(sig) else {
        return token;
    };
    match p256::ecdsa::Signature::from_slice(&raw)
        .ok()
        .and_then(|s| s.normalize_s())
    {
        Some(low) => format!("{signed}.{}", webauthn::b64::encode(low.to_bytes())),
        None => token,
    }
}

fn entry_from_scalar(kid: String, scalar: &[u8], retired_at: Option<i64>) -> Option<KeyEntry> {
    let secret = p256::SecretKey::from_slice(scalar).ok()?;
    let pkcs8 = secret.to_pkcs8_der().ok()?;
    let point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
    let x = webauthn::b64::encode(point.x()?);
    let y = webauthn::b64::encode(point.y()?);
    let decoding = DecodingKey::from_ec_components(&x, &y).ok()?;
    Some(KeyEntry {
        kid,
        encoding: EncodingKey::from_ec_der(pkcs8.as_bytes()),
        decoding,
        x,
        y,
        retired_at,
    })
}

fn aad(kid: &str) -> Vec<u8> {
    format!("keysmith token signing key v1:{kid}").into_bytes()
}

async fn insert_key(db: &Db, kek: &Kek, created_at: i64) -> Result<String, KeyRingError> {
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let scalar = Zeroizing::new(secret.to_bytes().to_vec());
    let kid = uuid::Uuid::new_v4().simple().to_string();
    signing_keys::insert(
        db,
        &kid,
        &kek.seal(&aad(&kid), &scalar),
        kek.id(),
        created_at,
    )
    .await?;
    Ok(kid)
}

async fn load_ring(db: &Db, kek: &Kek, create: bool) -> Result<Ring, KeyRingError> {
    let now = now_unix();
    // Keys retired longer ago than any token lives are of no more use.
    signing_keys::purge_retired_before(db, now - MAX_TOKEN_SECONDS - CLOCK_SKEW).await?;
    let mut rows = signing_keys::all(db, false).await?;
    if create && rows.iter().all(|r| r.retired_at.is_some()) {
        insert_key(db, kek, now).await?;
        rows = signing_keys::all(db, true).await?;
    }
    let mut by_kid = HashMap::new();
    let mut signing: Option<Arc<KeyEntry>> = None;
    for r in rows {
        let kid = r.kid;
        let scalar: Zeroizing<Vec<u8>> = match r.sealed.filter(|s| !s.is_empty()) {
            Some(sealed) => {
                if r.kek_id.as_deref() != Some(kek.id()) {
                    return Err(KeyRingError::WrongKek {
                        kid,
                        stored: r.kek_id.unwrap_or_default(),
                        ours: kek.id().to_owned(),
                        from: kek.source.clone(),
                    });
                }
                kek.open(&aad(&kid), &sealed)
                    .ok_or_else(|| KeyRingError::Corrupt(kid.clone()))?
            }
            None => {
                // Stored in clear by an older version: seal it now.
                let clear = Zeroizing::new(r.clear);
                seal_legacy(db, kek, &kid, &clear).await?;
                clear
            }
        };
        let entry = Arc::new(
            entry_from_scalar(kid.clone(), &scalar, r.retired_at)
                .ok_or_else(|| KeyRingError::Corrupt(kid.clone()))?,
        );
        if entry.retired_at.is_none() {
            // Rows are oldest first: the last active one signs.
            signing = Some(entry.clone());
        }
        by_kid.insert(kid, entry);
    }
    let signing = signing.ok_or_else(|| KeyRingError::Corrupt("(no active key)".into()))?;
    Ok(Ring { signing, by_kid })
}

/// Seals a key an older version stored in clear and erases the clear copy
/// ([`signing_keys::reseal`]).
async fn seal_legacy(db: &Db, kek: &Kek, kid: &str, clear: &[u8]) -> Result<(), KeyRingError> {
    signing_keys::reseal(db, kid, &kek.seal(&aad(kid), clear), kek.id()).await?;
    tracing::info!(kid, "sealed a token signing key that was stored in clear");
    Ok(())
}

/// The app calling an endpoint, from its bearer token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The tenant the token was issued in.
    pub tenant_id: String,
    /// The app's client id.
    pub app_id: String,
    /// The app's permissions.
    pub roles: Vec<String>,
}

impl Caller {
    /// Succeeds if the token carries any of `roles`.
    pub fn require(&self, roles: &[&str]) -> ApiResult<()> {
        if self.has_any(roles) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "Insufficient privileges: one of [{}] is required.",
                roles.join(", ")
            ))
            .audited(crate::audit::AuthFailure::graph(
                &self.tenant_id,
                &self.actor(),
            )))
        }
    }

    /// Whether the token carries any of `roles`.
    pub fn has_any(&self, roles: &[&str]) -> bool {
        self.roles.iter().any(|r| roles.contains(&r.as_str()))
    }

    /// `app:<client id>` for audit records.
    pub fn actor(&self) -> String {
        format!("app:{}", self.app_id)
    }
}

/// Permission sets of GRAPH_FIDO2_API.md §6 (plus Directory.* supersets).
pub mod perm {
    /// Register and delete users' FIDO2 methods.
    pub const METHODS_WRITE: &[&str] = &[
        "UserAuthenticationMethod.ReadWrite.All",
        "UserAuthMethod-Passkey.ReadWrite.All",
    ];
    /// Read users' FIDO2 methods.
    pub const METHODS_READ: &[&str] = &[
        "UserAuthenticationMethod.ReadWrite.All",
        "UserAuthMethod-Passkey.ReadWrite.All",
        "UserAuthenticationMethod.Read.All",
        "UserAuthMethod-Passkey.Read.All",
    ];
    /// Managing the methods (and the account) of admin-center staff — the
    /// users with the `admin` or `helpdesk` role — needs this as well, as
    /// Entra keeps privileged users' methods to the Privileged
    /// Authentication Administrator: a provisioning station that may
    /// register keys for everyone must not be able to take over an admin.
    pub const PRIVILEGED_METHODS_WRITE: &[&str] =
        &["Keysmith.PrivilegedAuthenticationMethod.ReadWrite.All"];
    /// Change the FIDO2 policy.
    pub const POLICY_WRITE: &[&str] = &["Policy.ReadWrite.AuthenticationMethod"];
    /// Policy.Read.AuthenticationMethod is Graph's least privileged read
    /// permission for the policy (tools such as Microsoft365DSC ask for it).
    pub const POLICY_READ: &[&str] = &[
        "Policy.Read.AuthenticationMethod",
        "Policy.ReadWrite.AuthenticationMethod",
        "Policy.Read.All",
    ];
    /// Create, change and delete users.
    pub const USERS_WRITE: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];
    /// Read users.
    pub const USERS_READ: &[&str] = &[
        "User.ReadWrite.All",
        "User.Read.All",
        "Directory.ReadWrite.All",
        "Directory.Read.All",
    ];
    /// Create, change and delete groups and their members.
    pub const GROUPS_WRITE: &[&str] = &[
        "Group.ReadWrite.All",
        "GroupMember.ReadWrite.All",
        "Directory.ReadWrite.All",
    ];
    /// Read groups and their members.
    pub const GROUPS_READ: &[&str] = &[
        "Group.ReadWrite.All",
        "Group.Read.All",
        "GroupMember.ReadWrite.All",
        "GroupMember.Read.All",
        "Directory.ReadWrite.All",
        "Directory.Read.All",
    ];
    /// Read the audit log.
    pub const AUDIT_READ: &[&str] = &["AuditLog.Read.All"];
}

/// The token in an `Authorization` header: `Bearer <token>` as RFC 6750
/// says, or the bare token, which Graph accepts too (Yubico's public Entra
/// sample sends it so: GRAPH_FIDO2_API.md §8).
pub fn token_of_header(header: &str) -> &str {
    let h = header.trim();
    match h.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => h,
    }
}

/// Remembers, for `APP_STATUS_TTL`, whether an app registration (and its
/// tenant) exists and is enabled.
#[derive(Clone)]
pub struct AppStatusCache {
    cache: Arc<quick_cache::sync::Cache<(String, String), (bool, Instant)>>,
    ttl: Duration,
}

impl Default for AppStatusCache {
    fn default() -> Self {
        AppStatusCache::with_ttl(APP_STATUS_TTL)
    }
}

impl AppStatusCache {
    fn with_ttl(ttl: Duration) -> AppStatusCache {
        AppStatusCache {
            cache: Arc::new(quick_cache::sync::Cache::new(4096)),
            ttl,
        }
    }

    /// Whether the app `client_id` of `tenant_id` exists and is enabled (cached for a short while).
    pub async fn enabled(&self, db: &Db, tenant_id: &str, client_id: &str) -> ApiResult<bool> {
        let key = (tenant_id.to_owned(), client_id.to_owned());
        if let Some((ok, at)) = self.cache.get(&key) {
            if at.elapsed() < self.ttl {
                return Ok(ok);
            }
        }
        let ok = crate::directory::app_enabled(db, tenant_id, client_id).await?;
        self.cache.insert(key, (ok, Instant::now()));
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn keys() -> (tempfile::TempDir, Db, Arc<Kek>, TokenKeys) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = crate::db::sqlite_url_for_dir(dir.path()).expect("data dir");
        let db = Db::connect(&url).await.expect("database");
        let kek = Arc::new(Kek::generate("test"));
        let keys = TokenKeys::load_or_create(&db, kek.clone())
            .await
            .expect("keys");
        (dir, db, kek, keys)
    }

    fn claims(nbf_from_now: i64, exp_from_now: i64) -> Claims {
        let now = now_unix();
        Claims {
            aud: GRAPH_AUDIENCE.into(),
            iss: "https://keysmith.test/t/v2.0".into(),
            iat: now + nbf_from_now,
            nbf: now + nbf_from_now,
            exp: now + exp_from_now,
            tid: "t".into(),
            appid: Some("a".into()),
            sub: None,
            roles: vec![],
            upn: None,
        }
    }

    fn iss(tid: &str) -> String {
        format!("https://keysmith.test/{tid}/v2.0")
    }

    #[tokio::test]
    async fn validity_window_audience_issuer_and_lifetime() {
        let (_dir, db, _kek, key) = keys().await;
        let v = |t: &str, aud: &str| {
            let (db, key) = (db.clone(), key.clone());
            let t = t.to_owned();
            let aud = aud.to_owned();
            async move { key.verify(&db, &t, &aud, iss).await }
        };
        let ok = key.sign(&claims(0, 600));
        assert!(v(&ok, GRAPH_AUDIENCE).await.is_ok());
        assert_eq!(
            v(&ok, SIGNIN_AUDIENCE).await.unwrap_err(),
            TokenError::WrongAudience
        );
        assert!(v(&key.sign(&claims(CLOCK_SKEW / 2, 600)), GRAPH_AUDIENCE)
            .await
            .is_ok());
        assert_eq!(
            v(&key.sign(&claims(CLOCK_SKEW + 300, 600)), GRAPH_AUDIENCE)
                .await
                .unwrap_err(),
            TokenError::NotYetValid
        );
        assert_eq!(
            v(&key.sign(&claims(-600, -1)), GRAPH_AUDIENCE)
                .await
                .unwrap_err(),
            TokenError::Expired
        );
        // A thousand years: refused.
        assert_eq!(
            v(&key.sign(&claims(0, 1000 * 365 * 86400)), GRAPH_AUDIENCE)
                .await
                .unwrap_err(),
            TokenError::TooLong
        );
        let mut other = claims(0, 600);
        other.iss = "https://elsewhere/t/v2.0".into();
        assert_eq!(
            v(&key.sign(&other), GRAPH_AUDIENCE).await.unwrap_err(),
            TokenError::WrongIssuer
        );
        // A signature over other claims does not verify.
        let mut parts: Vec<&str> = ok.split('.').collect();
        let forged = webauthn::b64::encode(serde_json::to_vec(&claims(0, 7200)).unwrap());
        parts[1] = &forged;
        assert_eq!(
            v(&parts.join("."), GRAPH_AUDIENCE).await.unwrap_err(),
            TokenError::BadSignature
        );
    }

    #[tokio::test]
    async fn header_and_high_s_are_checked() {
        let (_dir, db, _kek, key) = keys().await;
        let ok = key.sign(&claims(0, 600));
        let (_, body_sig) = ok.split_once('.').unwrap();
        let v = |t: String| {
            let (db, key) = (db.clone(), key.clone());
            async move { key.verify(&db, &t, GRAPH_AUDIENCE, iss).await }
        };
        let none = webauthn::b64::encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            v(format!("{none}.{body_sig}")).await.unwrap_err(),
            TokenError::WrongAlgorithm
        );
        let junk = webauthn::b64::encode(b"not json");
        assert_eq!(
            v(format!("{junk}.{body_sig}")).await.unwrap_err(),
            TokenError::Malformed
        );
        let unknown = webauthn::b64::encode(br#"{"alg":"ES256","typ":"JWT","kid":"nope"}"#);
        assert_eq!(
            v(format!("{unknown}.{body_sig}")).await.unwrap_err(),
            TokenError::UnknownKey
        );
        // s replaced by n - s: still a valid ECDSA signature, refused.
        let (signed, sig) = ok.rsplit_once('.').unwrap();
        let s = p256::ecdsa::Signature::from_slice(&webauthn::b64::decode(sig).unwrap()).unwrap();
        let (r, s) = s.split_scalars();
        let high = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        let malleated = format!("{signed}.{}", webauthn::b64::encode(high.to_bytes()));
        assert_eq!(v(malleated).await.unwrap_err(), TokenError::HighS);
    }

    #[tokio::test]
    async fn rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
        let (_dir, db, kek, key) = keys().await;
        let before = key.sign(&claims(0, 600));
        let old_kid = key.signing_kid();
        let new_kid = TokenKeys::rotate(&db, &kek).await.unwrap();
        key.reload(&db).await.unwrap();
        assert_eq!(key.signing_kid(), new_kid);
        assert_ne!(old_kid, new_kid);
        assert!(key.verify(&db, &before, GRAPH_AUDIENCE, iss).await.is_ok());
        let after = key.sign(&claims(0, 600));
        assert!(key.verify(&db, &after, GRAPH_AUDIENCE, iss).await.is_ok());
        assert_eq!(key.jwks().keys.len(), 2);
        // The wrong KEK cannot open the ring.
        let wrong = Arc::new(Kek::generate("wrong"));
        let e = TokenKeys::load_or_create(&db, wrong).await.unwrap_err();
        assert!(e.to_string().contains("another key-encryption key"), "{e}");
    }

    #[tokio::test]
    async fn another_instance_learns_a_new_key_from_the_kid_at_most_once_a_second() {
        let (_dir, db, kek, key) = keys().await;
        // An instance started before the rotation (it holds the old ring).
        let other = TokenKeys::load_or_create(&db, kek.clone()).await.unwrap();
        TokenKeys::rotate(&db, &kek).await.unwrap();
        key.reload(&db).await.unwrap();
        let token = key.sign(&claims(0, 600));
        assert!(other.verify(&db, &token, GRAPH_AUDIENCE, iss).await.is_ok());
        // A second unknown kid within the interval does not reach the
        // database (bounded work for unauthenticated callers) …
        TokenKeys::rotate(&db, &kek).await.unwrap();
        key.reload(&db).await.unwrap();
        let newer = key.sign(&claims(0, 600));
        assert_eq!(
            other
                .verify(&db, &newer, GRAPH_AUDIENCE, iss)
                .await
                .unwrap_err(),
            TokenError::UnknownKey
        );
        // … after it, it does.
        tokio::time::sleep(RELOAD_MIN_INTERVAL).await;
        assert!(other.verify(&db, &newer, GRAPH_AUDIENCE, iss).await.is_ok());
    }

    /// Claims valid for ten minutes from `now`.
    fn at(now: i64) -> Claims {
        let mut c = claims(0, 600);
        (c.iat, c.nbf, c.exp) = (now, now, now + 600);
        c
    }

    #[test]
    fn claim_checks_at_their_boundaries() {
        // RFC 7519 §4.1.4/§4.1.5: expired at exp, not valid before nbf (with
        // CLOCK_SKEW allowed); lifetime (exp − iat and exp − nbf) at most
        // MAX_TOKEN_SECONDS.
        let now = 1_765_000_000;
        let check = |edit: &dyn Fn(&mut Claims)| {
            let mut c = at(now);
            edit(&mut c);
            check_claims(&c, GRAPH_AUDIENCE, &iss, now)
        };
        assert_eq!(check(&|_| {}), Ok(()));
        assert_eq!(check(&|c| c.exp = now), Err(TokenError::Expired));
        assert_eq!(check(&|c| c.exp = now + 1), Ok(()));
        for skew in [CLOCK_SKEW, CLOCK_SKEW + 1] {
            let want = if skew > CLOCK_SKEW {
                Err(TokenError::NotYetValid)
            } else {
                Ok(())
            };
            assert_eq!(check(&|c| c.nbf = now + skew), want, "nbf +{skew}");
            assert_eq!(check(&|c| c.iat = now + skew), want, "iat +{skew}");
        }
        for life in [MAX_TOKEN_SECONDS, MAX_TOKEN_SECONDS + 1] {
            let want = if life > MAX_TOKEN_SECONDS {
                Err(TokenError::TooLong)
            } else {
                Ok(())
            };
            // Only iat, or only nbf, far enough back.
            assert_eq!(check(&|c| c.iat = c.exp - life), want, "exp-iat {life}");
            assert_eq!(check(&|c| c.nbf = c.exp - life), want, "exp-nbf {life}");
        }
        assert_eq!(
            check(&|c| c.aud = SIGNIN_AUDIENCE.into()),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            check(&|c| c.tid = "other".into()),
            Err(TokenError::WrongIssuer)
        );
    }

    /// A token with this exact header text, signed with the ring's signing
    /// key (low-S), as another JWT library could produce it.
    fn signed(key: &TokenKeys, header: &str, claims: &Claims) -> String {
        let ring = key.ring();
        let message = format!(
            "{}.{}",
            webauthn::b64::encode(header.as_bytes()),
            webauthn::b64::encode(serde_json::to_vec(claims).unwrap())
        );
        let sig = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &ring.signing.encoding,
            Algorithm::ES256,
        )
        .unwrap();
        low_s(format!("{message}.{sig}"))
    }

    #[tokio::test]
    async fn header_typ_is_required() {
        let (_dir, db, _kek, key) = keys().await;
        let kid = key.signing_kid();
        let c = claims(0, 600);
        let ok = signed(
            &key,
            &format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{kid}"}}"#),
            &c,
        );
        assert!(key.verify(&db, &ok, GRAPH_AUDIENCE, iss).await.is_ok());
        for header in [
            format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#),
            format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{kid}"}}"#),
        ] {
            let t = signed(&key, &header, &c);
            assert_eq!(
                key.verify(&db, &t, GRAPH_AUDIENCE, iss).await.unwrap_err(),
                TokenError::WrongAlgorithm,
                "{header}"
            );
        }
    }

    #[tokio::test]
    async fn tokens_longer_than_the_limit_are_not_looked_at() {
        let (_dir, db, _kek, key) = keys().await;
        let kid = key.signing_kid();
        // A validly signed token of exactly `len` characters: the header's
        // padding (JSON whitespace) and a long role make up the length.
        let of_length = |len: usize| {
            // Unpadded base64url of n bytes; an ES256 signature is 64 bytes.
            let b64_len = |n: usize| (4 * n).div_ceil(3);
            for spaces in 0..4 {
                let header = format!(
                    r#"{{"alg":"ES256","typ":"JWT",{}"kid":"{kid}"}}"#,
                    " ".repeat(spaces)
                );
                let mut c = claims(0, 600);
                for pad in 0..len {
                    c.roles = vec!["r".repeat(pad)];
                    let payload = serde_json::to_vec(&c).unwrap().len();
                    let n = b64_len(header.len()) + 1 + b64_len(payload) + 1 + b64_len(64);
                    if n == len {
                        let t = signed(&key, &header, &c);
                        assert_eq!(t.len(), len);
                        return t;
                    }
                    if n > len {
                        break;
                    }
                }
            }
            panic!("no token of {len} characters");
        };
        let at_limit = of_length(MAX_TOKEN_LEN);
        assert!(key
            .verify(&db, &at_limit, GRAPH_AUDIENCE, iss)
            .await
            .is_ok());
        let over = of_length(MAX_TOKEN_LEN + 1);
        assert_eq!(
            key.verify(&db, &over, GRAPH_AUDIENCE, iss)
                .await
                .unwrap_err(),
            TokenError::Malformed
        );
    }

    #[test]
    fn authorization_header_forms() {
        // RFC 6750 §2.1 (scheme case-insensitive), and the bare token Graph
        // also takes (GRAPH_FIDO2_API.md §8).
        assert_eq!(token_of_header("Bearer abc"), "abc");
        assert_eq!(token_of_header(" bearer   abc "), "abc");
        assert_eq!(token_of_header("abc"), "abc");
        // Another scheme is not stripped: the whole text is the "token",
        // which then fails as malformed.
        assert_eq!(token_of_header("Basic abc"), "Basic abc");
    }

    #[tokio::test]
    async fn removing_a_key_stops_its_tokens_at_once_even_remembered_ones() {
        let (_dir, db, kek, key) = keys().await;
        let old = key.sign(&claims(0, 600));
        assert!(key.verify(&db, &old, GRAPH_AUDIENCE, iss).await.is_ok());
        let old_kid = key.signing_kid();
        TokenKeys::rotate(&db, &kek).await.unwrap();
        // An operator deletes the old (say, leaked) key.
        sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(&old_kid)
            .execute(db.write())
            .await
            .unwrap();
        key.reload(&db).await.unwrap();
        assert_eq!(
            key.verify(&db, &old, GRAPH_AUDIENCE, iss)
                .await
                .unwrap_err(),
            TokenError::UnknownKey
        );
    }

    #[tokio::test]
    async fn a_new_key_is_newer_than_every_stored_one_and_alone_signs() {
        let (_dir, db, kek, key) = keys().await;
        // Another instance's clock ran ahead: the stored key looks newer
        // than now.
        sqlx::query("UPDATE signing_keys SET created_at = created_at + 100")
            .execute(db.write())
            .await
            .unwrap();
        let old_kid = key.signing_kid();
        let new_kid = TokenKeys::rotate(&db, &kek).await.unwrap();
        key.reload(&db).await.unwrap();
        assert_eq!(key.signing_kid(), new_kid);
        let list = TokenKeys::list(&db).await.unwrap();
        assert_eq!(list[0].kid, new_kid);
        assert_eq!(list[1].kid, old_kid);
        assert!(list[0].created_date_time > list[1].created_date_time);
        // Two keys left unretired (two rotations racing): the list marks
        // active exactly the one that signs.
        sqlx::query("UPDATE signing_keys SET retired_at = NULL")
            .execute(db.write())
            .await
            .unwrap();
        key.reload(&db).await.unwrap();
        let list = TokenKeys::list(&db).await.unwrap();
        let active: Vec<&str> = list
            .iter()
            .filter(|k| k.active)
            .map(|k| k.kid.as_str())
            .collect();
        assert_eq!(active, [key.signing_kid().as_str()]);
    }

    #[tokio::test]
    async fn a_sealed_key_moved_to_another_kid_does_not_open() {
        // The kid is the AEAD's associated data: swapping two rows' sealed
        // keys (someone with database write access) is detected.
        let (_dir, db, kek, key) = keys().await;
        let first = key.signing_kid();
        let second = TokenKeys::rotate(&db, &kek).await.unwrap();
        let sealed = |kid: String| {
            let db = db.clone();
            async move {
                sqlx::query_scalar::<_, Vec<u8>>("SELECT sealed FROM signing_keys WHERE kid = $1")
                    .bind(kid)
                    .fetch_one(db.read())
                    .await
                    .unwrap()
            }
        };
        let (a, b) = (sealed(first.clone()).await, sealed(second.clone()).await);
        for (kid, blob) in [(&first, &b), (&second, &a)] {
            sqlx::query("UPDATE signing_keys SET sealed = $1 WHERE kid = $2")
                .bind(blob)
                .bind(kid)
                .execute(db.write())
                .await
                .unwrap();
        }
        let e = TokenKeys::load_or_create(&db, kek).await.unwrap_err();
        assert!(matches!(e, KeyRingError::Corrupt(_)), "{e}");
    }

    #[tokio::test]
    async fn retired_keys_go_once_their_last_token_has_expired() {
        let (_dir, db, kek, key) = keys().await;
        let gone = TokenKeys::rotate(&db, &kek).await.unwrap();
        let kept = TokenKeys::rotate(&db, &kek).await.unwrap();
        TokenKeys::rotate(&db, &kek).await.unwrap();
        let last_use = now_unix() - MAX_TOKEN_SECONDS - CLOCK_SKEW;
        for (kid, retired) in [(&gone, last_use - 5), (&kept, last_use + 5)] {
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE kid = $2")
                .bind(retired)
                .bind(kid)
                .execute(db.write())
                .await
                .unwrap();
        }
        key.reload(&db).await.unwrap();
        let kids: Vec<String> = TokenKeys::list(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.kid)
            .collect();
        assert!(!kids.contains(&gone), "{kids:?}");
        assert!(kids.contains(&kept), "{kids:?}");
    }

    #[tokio::test]
    async fn an_apps_state_is_remembered_for_the_ttl_only() {
        let (_dir, db, _kek, _key) = keys().await;
        let tenant = crate::directory::create_tenant(&db, "t", Some("t.example"), Some("T"))
            .await
            .expect("tenant");
        let app = crate::directory::create_app(&db, &tenant, "station", &[])
            .await
            .expect("app");
        let ttl = Duration::from_millis(300);
        let cache = AppStatusCache::with_ttl(ttl);
        let enabled = || cache.enabled(&db, &tenant.id, &app.client_id);
        assert!(enabled().await.unwrap());
        sqlx::query("UPDATE apps SET enabled = 0 WHERE client_id = $1")
            .bind(&app.client_id)
            .execute(db.write())
            .await
            .unwrap();
        assert!(enabled().await.unwrap(), "remembered within the TTL");
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        assert!(!enabled().await.unwrap(), "read again after it");
        assert!(!enabled().await.unwrap());
    }
}

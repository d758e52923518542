//! Server configuration: a TOML file, overridden by environment variables
//! and command-line flags (the CLI applies those).

use serde::Deserialize;
use std::path::PathBuf;

/// Everything `keysmith serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0: any free port).
    pub listen: String,
    /// Directory holding `keysmith.db` (SQLite) when no `database_url`.
    pub data_dir: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…`; wins over `data_dir`.
    pub database_url: Option<String>,
    /// RP ID for tenants that do not set their own.
    pub rp_id: String,
    /// RP name for tenants that do not set their own.
    pub rp_name: String,
    /// Origins accepted in clientDataJSON besides `https://{rp_id}`.
    pub origins: Vec<String>,
    /// Largest request body accepted, bytes.
    pub body_limit: usize,
    /// PEM files (or inline PEM text) of attestation trust anchors.
    pub trust_anchors_pem: Vec<String>,
    /// A FIDO MDS3 blob (JWT) file, for models and trust anchors.
    pub mds_blob: Option<PathBuf>,
    /// The PEM root the MDS3 blob must chain to.
    pub mds_root_pem: Option<PathBuf>,
    /// Model names by AAGUID (besides those from the MDS blob).
    pub models: std::collections::BTreeMap<String, String>,
    /// Token issuer (`iss`); defaults to `https://{rp_id}`.
    pub issuer: Option<String>,
    /// Admin-center session cookies carry `Secure` unless this is set.
    /// Browsers treat `http://localhost` as secure, so even local tests
    /// need not set it; it exists for plain-http hosts other than localhost.
    pub insecure_cookies: bool,
    /// Lifetime of an admin-center session, minutes.
    pub session_minutes: i64,
    /// Longest the group commit waits for writes that requests in flight
    /// have announced, so that they share one flush (microseconds; 0: never
    /// wait). Adds at most this much latency under load, none when idle.
    pub commit_gather_us: u64,
    /// The key-encryption key file (0600; generated on first start when
    /// missing). Default: `keysmith.kek` in the data directory; required
    /// with a PostgreSQL `database_url` (every instance needs the same
    /// file). `KEYSMITH_KEK` (the key itself) wins over it.
    pub key_encryption_key_file: Option<PathBuf>,
    /// Rate limits of the unauthenticated endpoints.
    pub rate_limits: RateLimits,
    /// Connection timeouts and limits.
    pub connections: ConnectionLimits,
    /// Peers whose `X-Forwarded-For` names the real client (reverse
    /// proxies); anyone else's header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A file holding the bearer token `/metrics` requires on the main
    /// listener.
    pub metrics_token_file: Option<PathBuf>,
    /// A listen address of its own for `/metrics` (no token there; bind it
    /// where only the monitoring system reaches).
    pub metrics_listen: Option<String>,
    /// Most passkeys one user may have (registrations beyond it get 403):
    /// each passkey is listed in every creationOptions' excludeCredentials
    /// and checked at sign-in, so the lists stay short.
    pub max_passkeys_per_user: u32,
    /// Minutes between the periodic audit checkpoints (0: only every
    /// [`crate::audit::CHECKPOINT_EVERY`] events and on demand).
    pub audit_checkpoint_minutes: u64,
}

/// Requests per source address (and, for the token endpoint, per client
/// id) allowed in a burst, and refilled per minute. A request over the
/// limit gets 429 with `Retry-After`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Off: no limits (benchmarks on one machine).
    pub enabled: bool,
    pub token_per_minute: u32,
    pub token_burst: u32,
    /// Per client id, whatever the source (brute force of one secret).
    pub token_per_client_per_minute: u32,
    pub token_per_client_burst: u32,
    pub signin_per_minute: u32,
    pub signin_burst: u32,
    /// Per user, whatever the source (sign-in begin with a username, and
    /// every finish once its passkey names the user).
    pub signin_per_user_per_minute: u32,
    pub signin_per_user_burst: u32,
    pub admin_login_per_minute: u32,
    pub admin_login_burst: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: true,
            token_per_minute: 60,
            token_burst: 30,
            token_per_client_per_minute: 30,
            token_per_client_burst: 20,
            signin_per_minute: 600,
            signin_burst: 100,
            signin_per_user_per_minute: 30,
            signin_per_user_burst: 20,
            admin_login_per_minute: 30,
            admin_login_burst: 20,
        }
    }
}

/// How long a connection may take, and how many there may be.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionLimits {
    /// Seconds to send a request's headers, counted from the moment the
    /// server waits for them (so also the longest idle keep-alive).
    pub header_read_timeout_secs: u64,
    /// Seconds to send a request's body.
    pub body_read_timeout_secs: u64,
    /// Seconds a connection may go without a byte read or written.
    pub idle_timeout_secs: u64,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            idle_timeout_secs: 60,
            max_connections: 4096,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: None,
            database_url: None,
            rp_id: "localhost".into(),
            rp_name: "Keysmith".into(),
            origins: Vec::new(),
            body_limit: 1024 * 1024,
            trust_anchors_pem: Vec::new(),
            mds_blob: None,
            mds_root_pem: None,
            issuer: None,
            models: Default::default(),
            insecure_cookies: false,
            session_minutes: 480,
            commit_gather_us: crate::writer::GATHER_WAIT.as_micros() as u64,
            key_encryption_key_file: None,
            rate_limits: RateLimits::default(),
            connections: ConnectionLimits::default(),
            trusted_proxies: Vec::new(),
            metrics_token_file: None,
            metrics_listen: None,
            audit_checkpoint_minutes: 10,
            max_passkeys_per_user: 20,
        }
    }
}

impl ServerConfig {
    /// Reads a TOML file.
    pub fn from_toml_file(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// The key-encryption key (see [`crate::kek::Kek::resolve`]): created
    /// when `create` and missing.
    pub fn load_kek(&self, create: bool) -> anyhow::Result<crate::kek::Kek> {
        let default = if self.database_url.is_none() {
            Some(
                self.data_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("keysmith-data"))
                    .join(crate::kek::KEK_FILE_NAME),
            )
        } else {
            // A SQLite URL: beside the database file.
            self.database_url
                .as_deref()
                .and_then(|u| {
                    u.strip_prefix("sqlite://")
                        .or_else(|| u.strip_prefix("sqlite:"))
                })
                .map(|f| f.split('?').next().unwrap_or(f))
                .filter(|f| !f.is_empty() && !f.contains(":memory:"))
                .map(|f| {
                    std::path::Path::new(f)
                        .parent()
                        .unwrap_or(std::path::Path::new("."))
                        .join(crate::kek::KEK_FILE_NAME)
                })
        };
        crate::kek::Kek::resolve(self.key_encryption_key_file.as_deref(), default, create)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The `/metrics` bearer token, when configured.
    pub fn metrics_token(&self) -> anyhow::Result<Option<zeroize::Zeroizing<String>>> {
        let Some(path) = &self.metrics_token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("metrics_token_file {}: {e}", path.display()))?;
        let token = text.lines().next().unwrap_or("").trim().to_owned();
        if token.len() < 16 {
            anyhow::bail!(
                "metrics_token_file {}: the token must be at least 16 characters",
                path.display()
            );
        }
        Ok(Some(zeroize::Zeroizing::new(token)))
    }

    /// The database URL: explicit, else SQLite in `data_dir` (created),
    /// else SQLite in `./keysmith-data`.
    pub fn resolve_database_url(&self) -> std::io::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        let dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("keysmith-data"));
        crate::db::sqlite_url_for_dir(&dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_file() {
        let c: ServerConfig = toml::from_str(
            r#"
listen = "0.0.0.0:9000"
database_url = "postgres://db/keysmith"
rp_id = "login.example.com"
origins = ["https://admin.example.com"]
trust_anchors_pem = ["/etc/keysmith/yubico.pem"]
[models]
"cb69481e-8ff7-4039-93ec-0a2729a154a8" = "YubiKey 5 Series"
"#,
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.origins.len(), 1);
        assert_eq!(c.body_limit, 1024 * 1024);
        assert_eq!(c.models.len(), 1);
        assert!(toml::from_str::<ServerConfig>("nonsense = 1").is_err());
    }
}

//! Server configuration, layered with figment: the built-in defaults, a
//! TOML file, `KEYSMITH_*` environment variables, then `--set KEY=VALUE`
//! flags, each later one winning (see [`ServerConfig::load`]).

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The prefix of the environment variables that set a setting.
pub const ENV_PREFIX: &str = "KEYSMITH_";

/// Everything `keysmith serve` can be told.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Off: no limits (benchmarks on one machine).
    pub enabled: bool,
    /// Token requests per minute per source address.
    pub token_per_minute: u32,
    /// Token requests at once per source address.
    pub token_burst: u32,
    /// Per client id, whatever the source (brute force of one secret).
    pub token_per_client_per_minute: u32,
    /// Token requests at once per client id.
    pub token_per_client_burst: u32,
    /// Sign-in requests per minute per source address.
    pub signin_per_minute: u32,
    /// Sign-in requests at once per source address.
    pub signin_burst: u32,
    /// Per user, whatever the source (sign-in begin with a username, and
    /// every finish once its passkey names the user).
    pub signin_per_user_per_minute: u32,
    /// Sign-in requests at once per user.
    pub signin_per_user_burst: u32,
    /// Admin-center logins per minute per source address.
    pub admin_login_per_minute: u32,
    /// Admin-center logins at once per source address.
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
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// The configuration from, in rising precedence: the defaults, the
    /// TOML `file`, environment variables `KEYSMITH_<KEY>` (a nested key
    /// joins its parts with `__`: `KEYSMITH_RATE_LIMITS__ENABLED=false`),
    /// and `sets`, each `KEY=VALUE` with a dotted key
    /// (`rate_limits.enabled=false`). In the environment and in `sets`, a
    /// text setting takes its value as written; others are read like TOML
    /// values (`true`, `10`, `["a", "b"]`, `{k = "v"}`). An unknown key in the
    /// file or in `sets` is an error naming it; environment variables
    /// that name no setting (such as `KEYSMITH_KEK`) are not settings and
    /// are left alone.
    pub fn load(file: Option<&Path>, sets: &[String]) -> anyhow::Result<Self> {
        Self::figment(file, sets)?
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {}", one_line(&e)))
    }

    /// The layers [`ServerConfig::load`] extracts.
    pub fn figment(file: Option<&Path>, sets: &[String]) -> anyhow::Result<Figment> {
        let mut figment = Figment::from(Serialized::defaults(ServerConfig::default()));
        if let Some(path) = file {
            if !path.is_file() {
                anyhow::bail!("reading {}: no such file", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        let defaults = serde_json::to_value(ServerConfig::default())?;
        let mut env = Layer::named("`KEYSMITH_` environment variables");
        for (name, value) in std::env::vars_os() {
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(ENV_PREFIX)) else {
                continue;
            };
            let key = rest.to_ascii_lowercase().replace("__", ".");
            let top = key.split('.').next().unwrap_or_default();
            if defaults.get(top).is_none() {
                continue; // not a setting (KEYSMITH_KEK, KEYSMITH_CONFIG, …)
            }
            let Some(value) = value.to_str() else {
                anyhow::bail!("{ENV_PREFIX}{rest}: the value is not UTF-8");
            };
            let value = setting_value(&defaults, &key, value)
                .map_err(|e| anyhow::anyhow!("{name:?}: {e}"))?;
            env.entries.push((key, value));
        }
        let mut flags = Layer::named("--set flags");
        for set in sets {
            let (key, value) = set
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| anyhow::anyhow!("--set {set}: give KEY=VALUE"))?;
            let key = key.trim();
            let value = setting_value(&defaults, key, value)
                .map_err(|e| anyhow::anyhow!("--set {set}: {e}"))?;
            flags.entries.push((key.to_owned(), value));
        }
        Ok(figment.merge(env).merge(flags))
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
    pub fn metrics_token(&self) -> anyhow::Result<Option<secrecy::SecretString>> {
        let Some(path) = &self.metrics_token_file else {
            return Ok(None);
        };
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("metrics_token_file {}: {e}", path.display()))?,
        );
        let token = text.lines().next().unwrap_or("").trim();
        if token.len() < 16 {
            anyhow::bail!(
                "metrics_token_file {}: the token must be at least 16 characters",
                path.display()
            );
        }
        Ok(Some(secrecy::SecretString::from(token)))
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

/// `KEY = value` entries from one source (the environment, or the `--set`
/// flags) as a figment layer, named so in errors.
struct Layer {
    name: &'static str,
    entries: Vec<(String, figment::value::Value)>,
}

impl Layer {
    fn named(name: &'static str) -> Layer {
        Layer {
            name,
            entries: Vec::new(),
        }
    }
}

impl figment::Provider for Layer {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(self.name)
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        use figment::value::{Dict, Value};
        /// Merges `from` into `into`, `from` winning, tables key by key.
        fn merge(into: &mut Dict, from: Dict) {
            for (k, v) in from {
                match (into.get_mut(&k), v) {
                    (Some(Value::Dict(_, a)), Value::Dict(_, b)) => merge(a, b),
                    (_, v) => {
                        into.insert(k, v);
                    }
                }
            }
        }
        let mut dict = Dict::new();
        for (key, value) in &self.entries {
            if let Value::Dict(_, d) = figment::util::nest(key, value.clone()) {
                merge(&mut dict, d);
            }
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// The value of the setting `key` (dotted) written as `raw` in the
/// environment or a `--set` flag. A setting that is text — a string, an
/// optional path or URL, an entry of a table of names such as `models` —
/// takes `raw` as it is (an RP name `2024` stays text); any other is read
/// like a TOML value (`true`, `600`, `["a", "b"]`).
fn setting_value(
    defaults: &serde_json::Value,
    key: &str,
    raw: &str,
) -> Result<figment::value::Value, String> {
    let mut default = Some(defaults);
    let mut in_table = false;
    for part in key.split('.') {
        in_table = matches!(default, Some(serde_json::Value::Object(m)) if m.is_empty());
        default = default.and_then(|d| d.get(part));
    }
    match default {
        Some(serde_json::Value::String(_) | serde_json::Value::Null) => Ok(raw.into()),
        None if in_table => Ok(raw.into()),
        _ => raw.parse().map_err(|e| format!("{e}")),
    }
}

/// A figment error as one line (every error of a layered extraction, with
/// the layer that gave the value).
fn one_line(e: &figment::Error) -> String {
    e.clone()
        .into_iter()
        // Keysmith has no profiles: a key is named as it is written
        // (`body_limit`, not figment's `default.body_limit`).
        .map(|e| e.to_string().replace("for key \"default.", "for key \""))
        .collect::<Vec<_>>()
        .join("; ")
        .replace('\n', " ")
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

    /// Every setting (every leaf of the default configuration), with two
    /// values other than its default where it has them: what the file,
    /// the environment and `--set` say, each written in its own syntax.
    fn every_setting() -> Vec<(String, serde_json::Value, serde_json::Value)> {
        use serde_json::{json, Value};
        fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
            match v {
                Value::Object(map) if !prefix.ends_with("models") => {
                    for (k, v) in map {
                        let key = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        leaves(&key, v, out);
                    }
                }
                _ => out.push((prefix.to_owned(), v.clone())),
            }
        }
        let mut out = Vec::new();
        leaves(
            "",
            &serde_json::to_value(ServerConfig::default()).unwrap(),
            &mut out,
        );
        out.into_iter()
            .map(|(key, default)| {
                let (a, b) = match (key.as_str(), &default) {
                    ("trusted_proxies", _) => (json!(["10.0.0.1"]), json!(["10.0.0.2", "::1"])),
                    ("models", _) => (
                        json!({"cb69481e-8ff7-4039-93ec-0a2729a154a8": "YubiKey 5"}),
                        // Tables merge key by key: the same AAGUID,
                        // another name.
                        json!({"cb69481e-8ff7-4039-93ec-0a2729a154a8": "YubiKey 5 Series"}),
                    ),
                    (_, Value::Bool(d)) => (json!(!d), json!(*d)),
                    (_, Value::Number(n)) => {
                        let n = n.as_i64().unwrap();
                        (json!(n + 7), json!(n + 9))
                    }
                    (_, Value::Array(_)) => (json!(["one"]), json!(["two", "three"])),
                    (_, Value::String(_) | Value::Null) => {
                        (json!(format!("/a/{key}")), json!(format!("/b/{key}")))
                    }
                    (_, other) => panic!("{key}: a setting of a new kind: {other}"),
                };
                assert_ne!(a, default, "{key}");
                (key, a, b)
            })
            .collect()
    }

    /// A JSON value in the syntax of TOML (and of figment's environment
    /// and `--set` values, which read the same literals).
    fn literal(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::Object(map) => format!(
                "{{{}}}",
                map.iter()
                    .map(|(k, v)| format!("{k:?} = {}", literal(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            serde_json::Value::Array(items) => format!(
                "[{}]",
                items.iter().map(literal).collect::<Vec<_>>().join(", ")
            ),
            other => other.to_string(),
        }
    }

    /// A value as written in the environment or a `--set` flag: text as
    /// it is, anything else as a literal.
    fn written(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(text) => text.clone(),
            other => literal(other),
        }
    }

    fn env_name(key: &str) -> String {
        format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
    }

    fn at(config: &ServerConfig, key: &str) -> serde_json::Value {
        let mut v = serde_json::to_value(config).unwrap();
        for part in key.split('.') {
            v = v[part].take();
        }
        v
    }

    /// Every setting from the file, from the environment and from `--set`,
    /// and each later source over the one before: the file under the
    /// environment, the environment under `--set`.
    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closures return its Error
    fn every_setting_comes_from_file_environment_and_flag_in_that_order() {
        let settings = every_setting();
        assert!(settings.len() >= 35, "{} settings", settings.len());
        for (key, a, b) in settings {
            figment::Jail::expect_with(|jail| {
                let toml = format!("{key} = {}\n", literal(&a));
                jail.create_file("keysmith.toml", &toml)?;
                let file = Some(Path::new("keysmith.toml"));
                let c = ServerConfig::load(file, &[]).unwrap();
                assert_eq!(at(&c, &key), a, "{key} from the file ({toml})");

                jail.set_env(env_name(&key), written(&b));
                let c = ServerConfig::load(file, &[]).unwrap();
                assert_eq!(at(&c, &key), b, "{key}: the environment over the file");
                let c = ServerConfig::load(None, &[]).unwrap();
                assert_eq!(at(&c, &key), b, "{key} from the environment");

                let set = format!("{key}={}", written(&a));
                let c = ServerConfig::load(file, std::slice::from_ref(&set)).unwrap();
                assert_eq!(at(&c, &key), a, "{key}: --set {set} over the environment");
                Ok(())
            });
        }
    }

    /// A setting that is text takes the text as it is, even when it reads
    /// like a number or a boolean (an RP name `2024`, a host `true`), from
    /// the environment and from `--set`; numbers and switches still parse.
    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closures return its Error
    fn text_settings_take_their_text_as_is() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KEYSMITH_RP_NAME", "2024");
            jail.set_env("KEYSMITH_BODY_LIMIT", "4096");
            let sets = [
                "rp_id=1234".to_owned(),
                "issuer=true".to_owned(),
                "models.cb69481e-8ff7-4039-93ec-0a2729a154a8=5".to_owned(),
                "rate_limits.enabled=false".to_owned(),
                "origins=[\"https://a.example\"]".to_owned(),
            ];
            let c = ServerConfig::load(None, &sets).unwrap();
            assert_eq!(c.rp_name, "2024");
            assert_eq!(c.body_limit, 4096);
            assert_eq!(c.rp_id, "1234");
            assert_eq!(c.issuer.as_deref(), Some("true"));
            assert_eq!(c.models.values().next().map(String::as_str), Some("5"));
            assert!(!c.rate_limits.enabled);
            assert_eq!(c.origins, ["https://a.example"]);
            Ok(())
        });
    }

    /// Unknown settings are refused by name; environment variables that
    /// are not settings are left alone; a bad value names its setting.
    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closures return its Error
    fn unknown_settings_are_refused_and_other_variables_ignored() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KEYSMITH_KEK", "not-a-setting");
            jail.set_env("KEYSMITH_TEST_POSTGRES_URL", "postgres://x");
            assert!(ServerConfig::load(None, &[]).is_ok());
            let e = ServerConfig::load(None, &["nonsense=1".into()]).unwrap_err();
            assert!(e.to_string().contains("nonsense"), "{e}");
            let e = ServerConfig::load(None, &["listen".into()]).unwrap_err();
            assert!(e.to_string().contains("KEY=VALUE"), "{e}");
            jail.create_file("bad.toml", "rate_limits = { enabeld = true }")?;
            let e = ServerConfig::load(Some(Path::new("bad.toml")), &[]).unwrap_err();
            assert!(e.to_string().contains("enabeld"), "{e}");
            jail.set_env("KEYSMITH_BODY_LIMIT", "lots");
            let e = ServerConfig::load(None, &[]).unwrap_err();
            // Named as written, without figment's profile ("default.").
            assert!(e.to_string().contains("key \"body_limit\""), "{e}");
            assert!(!e.to_string().contains("default."), "{e}");
            jail.set_env("KEYSMITH_BODY_LIMIT", "65536");
            let e = ServerConfig::load(None, &["rate_limits.enabled=maybe".into()]).unwrap_err();
            assert!(e.to_string().contains("key \"rate_limits.enabled\""), "{e}");
            let e = ServerConfig::load(Some(Path::new("missing.toml")), &[]).unwrap_err();
            assert!(e.to_string().contains("missing.toml"), "{e}");
            Ok(())
        });
    }
}

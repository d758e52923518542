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

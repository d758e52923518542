//! The directory options shared by `provision` and `deprovision`: which
//! server (Keysmith or Microsoft Graph) and which credentials.

use super::secret_input::read_secret_file;
use anyhow::{bail, Context};
use clap::Args;
use provision::target::{Directory, SecretString, TargetConfig, TokenSourceInput};
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Directory")]
pub struct DirectoryArgs {
    /// A Keysmith server, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "KEYSMITH_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Microsoft Graph instead of a Keysmith server.
    #[arg(long, conflicts_with = "server")]
    pub graph: bool,
    /// Graph base URL including the version (default
    /// https://graph.microsoft.com/beta); implies --graph.
    #[arg(long, value_name = "URL", conflicts_with = "server")]
    pub graph_url: Option<String>,
    /// OAuth token endpoint (default: the server's or Entra ID's for the tenant).
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// Tenant name or id.
    #[arg(long, env = "KEYSMITH_TENANT")]
    pub tenant: Option<String>,
    /// App registration (client) id for the client-credentials grant.
    #[arg(long, env = "KEYSMITH_CLIENT_ID")]
    pub client_id: Option<String>,
    /// File holding the client secret (or set KEYSMITH_CLIENT_SECRET).
    #[arg(long, value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// File holding a bearer access token to use as is (or set
    /// KEYSMITH_ACCESS_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub access_token_file: Option<PathBuf>,
}

impl DirectoryArgs {
    pub fn connect(&self) -> anyhow::Result<Directory> {
        let token = if let Some(f) = &self.access_token_file {
            TokenSourceInput::Bearer(SecretString::from(
                read_secret_file(f).context("access token")?.as_str(),
            ))
        } else if let Ok(t) = std::env::var("KEYSMITH_ACCESS_TOKEN") {
            TokenSourceInput::Bearer(SecretString::from(t))
        } else {
            let Some(client_id) = self.client_id.clone() else {
                bail!("no credentials: give --client-id with --client-secret-file (or KEYSMITH_CLIENT_SECRET), or --access-token-file");
            };
            let secret = match &self.client_secret_file {
                Some(f) => {
                    SecretString::from(read_secret_file(f).context("client secret")?.as_str())
                }
                None => {
                    SecretString::from(std::env::var("KEYSMITH_CLIENT_SECRET").map_err(|_| {
                        anyhow::anyhow!(
                        "no client secret: give --client-secret-file or set KEYSMITH_CLIENT_SECRET"
                    )
                    })?)
                }
            };
            TokenSourceInput::ClientSecret { client_id, secret }
        };
        let graph = self.graph || self.graph_url.is_some();
        let config = if graph {
            let tenant = self.tenant.clone().unwrap_or_default();
            if tenant.is_empty()
                && self.token_url.is_none()
                && !matches!(token, TokenSourceInput::Bearer(_))
            {
                bail!("--graph needs --tenant (the Entra tenant id or domain)");
            }
            TargetConfig::graph(
                self.graph_url.as_deref(),
                &tenant,
                self.token_url.as_deref(),
                token,
            )
        } else {
            let Some(server) = &self.server else {
                bail!("no directory: give --server URL (a Keysmith server) or --graph (Microsoft Graph)");
            };
            let Some(tenant) = &self.tenant else {
                bail!("--server needs --tenant (the tenant name on that server)");
            };
            let mut c = TargetConfig::keysmith(server, tenant, token);
            if let (
                Some(url),
                provision::target::TokenSource::ClientCredentials { token_url, .. },
            ) = (&self.token_url, &mut c.token)
            {
                *token_url = url.clone();
            }
            c
        };
        Ok(Directory::new(config))
    }
}

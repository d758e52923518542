//! `keysmith serve`: run the identity service (Graph-shaped FIDO2 API).

use anyhow::Context;
use server::{Server, ServerConfig};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Run Keysmith's identity service: the Graph-shaped FIDO2 provisioning
/// API, tokens, passkey sign-in and audit, over SQLite (default) or
/// PostgreSQL. When ready it prints exactly one line on stdout, the base
/// URL it listens on (`http://127.0.0.1:PORT`); logs go to stderr.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "KEYSMITH_LISTEN")]
    listen: Option<String>,

    /// Data directory for SQLite (`keysmith.db`, created on first start).
    #[arg(long, env = "KEYSMITH_DATA_DIR", conflicts_with = "database")]
    data_dir: Option<PathBuf>,

    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://…`.
    #[arg(long = "database", env = "KEYSMITH_DATABASE_URL")]
    database: Option<String>,

    /// TOML configuration file (environment variables and flags override
    /// it; README, "Server configuration").
    #[arg(long, env = "KEYSMITH_CONFIG")]
    config: Option<PathBuf>,

    /// Any setting of the configuration file, as KEY=VALUE (a nested key
    /// dotted: `rate_limits.enabled=false`; repeatable). Wins over the file
    /// and over KEYSMITH_<KEY> environment variables.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,

    /// RP ID for tenants that do not set their own.
    #[arg(long, env = "KEYSMITH_RP_ID")]
    rp_id: Option<String>,

    /// Extra origin accepted in clientDataJSON besides https://{rp_id}
    /// (repeatable).
    #[arg(long = "origin")]
    origins: Vec<String>,

    /// The key-encryption key file (0600) that seals the token signing
    /// keys; default keysmith.kek beside SQLite (created on first start),
    /// required with PostgreSQL. KEYSMITH_KEK (the key itself) wins.
    #[arg(long, env = "KEYSMITH_KEK_FILE", value_name = "FILE")]
    kek_file: Option<PathBuf>,
}

/// Builds the configuration: defaults, file, environment, `--set`s
/// ([`ServerConfig::load`]), then the dedicated flags (a data directory
/// given there also drops a database URL of the layers below).
pub fn config_from(
    config: Option<&PathBuf>,
    sets: &[String],
    data_dir: Option<PathBuf>,
    database: Option<String>,
) -> anyhow::Result<ServerConfig> {
    let mut c = ServerConfig::load(config.map(PathBuf::as_path), sets)?;
    if let Some(d) = data_dir {
        c.data_dir = Some(d);
        c.database_url = None;
    }
    if let Some(u) = database {
        c.database_url = Some(u);
    }
    Ok(c)
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = config_from(
        args.config.as_ref(),
        &args.set,
        args.data_dir,
        args.database,
    )?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(r) = args.rp_id {
        config.rp_id = r;
    }
    config.origins.extend(args.origins);
    if let Some(k) = args.kek_file {
        config.key_encryption_key_file = Some(k);
    }
    // How `keysmith admin` reaches the same database (a PostgreSQL URL may
    // hold a password: it is not printed).
    let where_flag = match (&config.database_url, &config.data_dir) {
        (Some(_), _) => "--database \"$KEYSMITH_DATABASE_URL\"".to_owned(),
        (None, Some(dir)) => format!("--data-dir {}", shell_word(&dir.display().to_string())),
        (None, None) => String::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let server = Server::open(config).await?;
        let addr = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "http://{addr}")?;
            out.flush()?;
        }
        tracing::info!("listening on http://{addr}");
        if server.is_empty().await {
            eprintln!("{}", next_steps(&where_flag, &format!("http://{addr}")));
        }
        server.serve(listener, shutdown_signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `text` as one shell word (single-quoted when it holds anything but
/// plain path characters), so the printed commands can be pasted.
fn shell_word(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@=".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// What to do next with an empty directory (printed on stderr).
fn next_steps(where_flag: &str, url: &str) -> String {
    let admin = if where_flag.is_empty() {
        "keysmith admin".to_owned()
    } else {
        format!("keysmith admin {where_flag}")
    };
    format!(
        "keysmith serve: the directory is empty. Next steps (README, \"Provisioning keys\"):\n\
         \x20 1. a tenant:        {admin} tenant create contoso --rp-id login.contoso.com\n\
         \x20 2. a station's app: {admin} app create --tenant contoso --name station \\\n\
         \x20                        --roles UserAuthenticationMethod.ReadWrite.All,User.Read.All\n\
         \x20 3. a first admin:   {admin} bootstrap-admin --tenant contoso \\\n\
         \x20                        --upn it-admin@contoso.com --url {url}\n\
         \x20 then provision keys: keysmith provision --server {url} --tenant contoso …"
    )
}

/// Ctrl-C or SIGTERM: stop accepting, finish requests in flight.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_words() {
        assert_eq!(super::shell_word("/var/lib/keysmith"), "/var/lib/keysmith");
        assert_eq!(super::shell_word("/tmp/my data"), "'/tmp/my data'");
        assert_eq!(super::shell_word("it's"), r"'it'\''s'");
    }
}

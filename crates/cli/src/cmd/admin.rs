//! `keysmith admin`: operate on the service's database directly (tenants,
//! app registrations, users, groups).

use anyhow::Context;
use server::Db;
use std::path::PathBuf;
use std::process::ExitCode;

/// Administer the identity service's database directly: create tenants
/// and app registrations (client credentials), import users, create groups.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// Data directory for SQLite (`keysmith.db`).
    #[arg(long, env = "KEYSMITH_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,

    /// Database URL (`sqlite://…` or `postgres://…`); wins over --data-dir.
    #[arg(long = "database", env = "KEYSMITH_DATABASE_URL", global = true)]
    database: Option<String>,

    /// TOML configuration file (its database settings are used).
    #[arg(long, env = "KEYSMITH_CONFIG", global = true)]
    config: Option<PathBuf>,

    /// The key-encryption key file (as `keysmith serve --kek-file`);
    /// needed by `signing-key rotate`.
    #[arg(long, env = "KEYSMITH_KEK_FILE", global = true, value_name = "FILE")]
    kek_file: Option<PathBuf>,

    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AdminCommand {
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// App registrations (OAuth client credentials).
    #[command(subcommand)]
    App(AppCommand),
    /// Bulk user operations.
    #[command(subcommand)]
    Users(UsersCommand),
    /// One user.
    #[command(subcommand)]
    User(UserCommand),
    /// Groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// The keys that sign app and sign-in tokens.
    #[command(subcommand)]
    SigningKey(SigningKeyCommand),
    /// The tamper-evident audit trail: export a checkpoint, verify a chain.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Give a user the admin-center role (creating the user if needed) and
    /// print a one-time link where they register their first passkey.
    BootstrapAdmin {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        upn: String,
        /// `admin` (everything) or `helpdesk` (passkeys, not policy).
        #[arg(long, default_value = "admin")]
        role: String,
        /// Base URL browsers use to reach `keysmith serve` (default:
        /// https://{rp_id} from the configuration).
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Write the tenant's current checkpoint (event count, head hash, time,
    /// MAC under a key derived from the KEK) as JSON to a new 0600 file:
    /// keep it where the database's writers cannot reach.
    Checkpoint {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Walk the tenant's chain: links, numbering, every event's MAC, the
    /// stored checkpoints and (--checkpoint) an exported one. Exit 0 when
    /// intact; otherwise exit 1 with one line naming the first problem.
    Verify {
        #[arg(long)]
        tenant: String,
        /// A checkpoint file written by `audit checkpoint` (repeatable).
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
    },
}

#[derive(Debug, clap::Subcommand)]
enum SigningKeyCommand {
    /// Make a new signing key current. Running servers pick it up within
    /// 30 s; the previous keys keep verifying the tokens they signed until
    /// those expire (an hour at most), then are dropped.
    Rotate,
    /// The signing keys, newest first.
    List,
}

#[derive(Debug, clap::Subcommand)]
enum TenantCommand {
    /// Create a tenant.
    Create {
        name: String,
        /// The tenant's WebAuthn RP ID (default: the server's --rp-id).
        #[arg(long)]
        rp_id: Option<String>,
        /// The RP name shown by authenticators.
        #[arg(long)]
        rp_name: Option<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
enum AppCommand {
    /// Create an app; prints its client_id and secret (shown only once).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// Comma-separated permissions, e.g.
        /// UserAuthenticationMethod.ReadWrite.All,User.ReadWrite.All
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
enum UsersCommand {
    /// Import users from CSV: userPrincipalName,displayName[,group].
    Import {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        csv: PathBuf,
    },
}

#[derive(Debug, clap::Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        upn: String,
        #[arg(long)]
        display_name: Option<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
enum GroupCommand {
    /// Create a group, optionally with members from a CSV (first column:
    /// userPrincipalName).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        members_csv: Option<PathBuf>,
    },
}

fn print(json: bool, value: serde_json::Value, text: String) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

pub fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    let mut config =
        super::serve::config_from(args.config.as_ref(), &[], args.data_dir, args.database)?;
    if let Some(k) = args.kek_file {
        config.key_encryption_key_file = Some(k);
    }
    let url = config.resolve_database_url()?;
    let public_url = format!("https://{}", config.rp_id);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let json = args.json;
    // Every change made here is audited like its HTTP twin, which needs the
    // key-encryption key (generated beside a SQLite database on first use,
    // as `keysmith serve` does; given for PostgreSQL).
    let kek = std::sync::Arc::new(config.load_kek(config.database_url.is_none())?);
    let audit_key = std::sync::Arc::new(server::audit::AuditKey::from_kek(&kek));
    let mut failed = false;
    runtime.block_on(async {
        let db = Db::connect(&url).await.context("opening the database")?;
        db.set_audit_key(audit_key.clone());
        match args.command {
            AdminCommand::Tenant(TenantCommand::Create {
                name,
                rp_id,
                rp_name,
            }) => {
                let t =
                    server::admin::create_tenant(&db, &name, rp_id.as_deref(), rp_name.as_deref())
                        .await?;
                print(
                    json,
                    serde_json::to_value(&t)?,
                    format!("tenant {} created (id {})", t.name, t.id),
                );
            }
            AdminCommand::App(AppCommand::Create {
                tenant,
                name,
                roles,
            }) => {
                let a = server::admin::create_app(&db, &tenant, &name, &roles).await?;
                print(
                    json,
                    serde_json::to_value(&a)?,
                    format!(
                        "client_id:     {}\nclient_secret: {}\n(the secret is shown only now)",
                        a.client_id, a.secret()
                    ),
                );
            }
            AdminCommand::Users(UsersCommand::Import { tenant, csv }) => {
                // A bar on a terminal's stderr (hidden otherwise, and with
                // --json, so scripts read only the report).
                let bar = if json {
                    indicatif::ProgressBar::hidden()
                } else {
                    indicatif::ProgressBar::with_draw_target(
                        None,
                        indicatif::ProgressDrawTarget::stderr(),
                    )
                };
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {pos}/{len} users stored ({per_sec}, {eta} left)",
                    )
                    .expect("a valid template"),
                );
                let r = server::admin::import_users(&db, &tenant, &csv, |done, total| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                })
                .await;
                bar.finish_and_clear();
                let r = r?;
                let text = format!(
                    "{} created, {} already present, {} groups created, {} memberships{}",
                    r.created,
                    r.existing,
                    r.groups_created,
                    r.memberships,
                    r.errors
                        .iter()
                        .map(|e| format!("\n  {e}"))
                        .collect::<String>()
                );
                print(json, serde_json::to_value(&r)?, text);
            }
            AdminCommand::User(UserCommand::Create {
                tenant,
                upn,
                display_name,
            }) => {
                let u = server::admin::create_user(
                    &db,
                    &tenant,
                    &upn,
                    display_name.as_deref().unwrap_or(""),
                )
                .await?;
                print(
                    json,
                    serde_json::to_value(&u)?,
                    format!("user {} created (id {})", u.user_principal_name, u.id),
                );
            }
            AdminCommand::Group(GroupCommand::Create {
                tenant,
                name,
                members_csv,
            }) => {
                let g = server::admin::create_group(&db, &tenant, &name, members_csv.as_deref())
                    .await?;
                print(
                    json,
                    serde_json::to_value(&g)?,
                    format!(
                        "group {} created (id {}, {} members)",
                        g.display_name, g.id, g.members
                    ),
                );
            }
            AdminCommand::Audit(AuditCommand::Checkpoint { tenant, out }) => {
                let t = server::directory::find_tenant(&db, &tenant)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                server::audit::checkpoint_now(&db, &t.id, "manual")
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                let c = server::audit::checkpoints(&db, &t.id)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?
                    .pop()
                    .ok_or_else(|| anyhow::anyhow!("tenant {tenant} has no audit events yet"))?;
                let text = serde_json::to_string_pretty(&c)? + "\n";
                {
                    use std::io::Write;
                    let mut f = provision::results::create_private(&out, false)
                        .with_context(|| format!("creating {}", out.display()))?;
                    f.write_all(text.as_bytes())?;
                    f.sync_all()?;
                }
                print(
                    json,
                    serde_json::to_value(&c)?,
                    format!(
                        "checkpoint of {tenant} at event {} written to {} (mode 0600): keep it apart from the database",
                        c.seq,
                        out.display()
                    ),
                );
            }
            AdminCommand::Audit(AuditCommand::Verify {
                tenant,
                checkpoints,
            }) => {
                let t = server::directory::find_tenant(&db, &tenant)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                let mut external = Vec::new();
                for f in &checkpoints {
                    let text = std::fs::read_to_string(f)
                        .with_context(|| format!("reading {}", f.display()))?;
                    let c: server::audit::Checkpoint = serde_json::from_str(&text)
                        .with_context(|| format!("{} is not a checkpoint file", f.display()))?;
                    external.push(c);
                }
                let report = server::audit::verify_chain(&db, &t.id, Some(&audit_key), &external)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                failed = !report.valid;
                if json {
                    println!("{}", serde_json::to_value(&report)?);
                } else if let Some(p) = report.problems.first() {
                    eprintln!("audit trail of {tenant} is NOT intact: {}", p.message);
                } else {
                    println!(
                        "audit trail of {tenant} is intact: {} events, {} checkpoint(s) checked",
                        report.events, report.checkpoints
                    );
                }
            }
            AdminCommand::SigningKey(SigningKeyCommand::Rotate) => {
                let kid = server::admin::rotate_signing_key(&db, &kek).await?;
                print(
                    json,
                    serde_json::json!({ "kid": kid }),
                    format!(
                        "signing key {kid} is now current; the previous keys verify their tokens until they expire (at most an hour)"
                    ),
                );
            }
            AdminCommand::SigningKey(SigningKeyCommand::List) => {
                let keys = server::token::TokenKeys::list(&db).await?;
                let text = keys
                    .iter()
                    .map(|k| {
                        format!(
                            "{}  created {}{}",
                            k.kid,
                            k.created_date_time,
                            match (&k.retired_date_time, k.active) {
                                (_, true) => "  (signs new tokens)".to_owned(),
                                (Some(r), _) => format!("  retired {r}"),
                                (None, false) => String::new(),
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                print(json, serde_json::json!({ "value": keys }), text);
            }
            AdminCommand::BootstrapAdmin {
                tenant,
                upn,
                role,
                url,
            } => {
                let base = url.unwrap_or(public_url);
                let a = server::admin::bootstrap_admin(&db, &tenant, &upn, &role, &base).await?;
                print(
                    json,
                    serde_json::to_value(&a)?,
                    format!(
                        "{} ({}) may sign in to the admin center.\nOne-time enrollment link (valid until {}):\n{}",
                        a.user_principal_name, a.role, a.expires_date_time, a.enroll_url
                    ),
                );
            }
        }
        anyhow::Ok(())
    })?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

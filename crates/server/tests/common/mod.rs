//! Shared test harness: a server on 127.0.0.1:0 over SQLite (tempdir) or
//! PostgreSQL (`KEYSMITH_TEST_POSTGRES_URL`), a tenant with an app token,
//! and an in-process virtual key that produces real registrations and
//! assertions through the ctap client.
#![allow(dead_code)]

use authenticator::serve::InProcessKeyHandle;
use authenticator::{Authenticator, AuthenticatorConfig, HidDevice, PresenceSettings};
use ctap::transport::inproc::InProcessTransport;
use ctap::Ctap2Client;
use keysmith_server::{RunningServer, ServerConfig};
use serde_json::{json, Value};
use webauthn::graph::CreationOptionsResponse;
use webauthn::signin::BeginResponse;

pub const PIN: &str = "123456";
/// The key-encryption key of PostgreSQL test servers: every test (and
/// every run) shares the one database, so they share its KEK too. Test use
/// only; SQLite tests generate their own in their data directory.
/// The `/metrics` bearer token of test servers.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";
pub const TEST_KEK: &str = "a2V5c21pdGggdGVzdC1vbmx5IEtFSywgMzIgYnl0ZXM";
pub const RP_ID: &str = "login.example.com";

pub const ALL_ROLES: &[&str] = &[
    "UserAuthenticationMethod.ReadWrite.All",
    "Policy.ReadWrite.AuthenticationMethod",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "AuditLog.Read.All",
];

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Store {
    Sqlite,
    Postgres,
}

pub fn postgres_url() -> Option<String> {
    match std::env::var("KEYSMITH_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!(
                "notice: KEYSMITH_TEST_POSTGRES_URL is unset; skipping the PostgreSQL variant"
            );
            None
        }
    }
}

/// Writes `text` to a new 0600 file.
pub fn write_private(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub struct Harness {
    pub server: RunningServer,
    pub config: ServerConfig,
    pub base: String,
    pub tenant: String,
    pub token: String,
    pub dir: tempfile::TempDir,
}

impl Harness {
    /// `None` when the store is PostgreSQL and no URL is configured.
    pub fn start(store: Store, anchors: Vec<String>) -> Option<Harness> {
        Self::start_with(store, |c| c.trust_anchors_pem = anchors)
    }

    /// As [`Harness::start`], letting the test adjust the configuration.
    pub fn start_with(store: Store, adjust: impl FnOnce(&mut ServerConfig)) -> Option<Harness> {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".into(),
            rp_id: RP_ID.into(),
            ..Default::default()
        };
        config.models.insert(
            "4b657973-6d69-4e68-a000-766b65790001".into(),
            "Keysmith Virtual Key".into(),
        );
        let metrics_token = dir.path().join("metrics.token");
        write_private(&metrics_token, METRICS_TOKEN);
        config.metrics_token_file = Some(metrics_token);
        adjust(&mut config);
        match store {
            Store::Sqlite => config.data_dir = Some(dir.path().join("data")),
            Store::Postgres => {
                config.database_url = Some(postgres_url()?);
                let kek = dir.path().join("test.kek");
                write_private(&kek, TEST_KEK);
                config.key_encryption_key_file = Some(kek);
            }
        }
        let server = RunningServer::start(config.clone()).unwrap();
        let base = server.url();
        let tenant = unique("tenant");
        let roles: Vec<String> = ALL_ROLES.iter().map(|r| r.to_string()).collect();
        let app = server.block_on(async {
            keysmith_server::admin::create_tenant(
                server.db(),
                &tenant,
                Some(RP_ID),
                Some("Example"),
            )
            .await
            .unwrap();
            keysmith_server::admin::create_app(server.db(), &tenant, "provisioner", &roles)
                .await
                .unwrap()
        });
        let token = fetch_token(&base, &tenant, &app.client_id, app.secret()).unwrap();
        Some(Harness {
            server,
            config,
            base,
            tenant,
            token,
            dir,
        })
    }

    /// An app token with only `roles`.
    pub fn token_with(&self, roles: &[&str]) -> String {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        let app = self.server.block_on(keysmith_server::admin::create_app(
            self.server.db(),
            &self.tenant,
            "limited",
            &roles,
        ));
        let app = app.unwrap();
        fetch_token(&self.base, &self.tenant, &app.client_id, app.secret()).unwrap()
    }

    /// The `/metrics` document.
    pub fn metrics(&self) -> String {
        ureq::get(&self.url("/metrics"))
            .set("Authorization", &format!("Bearer {METRICS_TOKEN}"))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        call(ureq::get(&self.url(path)), &self.token, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        call(ureq::post(&self.url(path)), &self.token, Some(body))
    }
    pub fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        call(
            ureq::request("PATCH", &self.url(path)),
            &self.token,
            Some(body),
        )
    }
    pub fn delete(&self, path: &str) -> (u16, Value) {
        call(ureq::delete(&self.url(path)), &self.token, None)
    }

    /// The test tenant's id (statements and listings name it, not its name).
    pub fn tenant_id(&self) -> String {
        self.server
            .block_on(keysmith_server::directory::find_tenant(
                self.server.db(),
                &self.tenant,
            ))
            .unwrap()
            .id
    }

    pub fn create_user(&self, upn: &str) -> Value {
        let (s, v) = self.post(
            "/v1.0/users",
            &json!({"userPrincipalName": upn, "displayName": format!("User {upn}")}),
        );
        assert_eq!(s, 201, "{v}");
        v
    }
}

pub fn fetch_token(
    base: &str,
    tenant: &str,
    client_id: &str,
    secret: &str,
) -> Result<String, (u16, Value)> {
    let r = ureq::post(&format!("{base}/{tenant}/oauth2/v2.0/token")).send_form(&[
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", "https://graph.microsoft.com/.default"),
    ]);
    match r {
        Ok(r) => {
            let v: Value = r.into_json().unwrap();
            assert_eq!(v["token_type"], "Bearer");
            assert_eq!(v["expires_in"], 3599);
            Ok(v["access_token"].as_str().unwrap().to_owned())
        }
        Err(ureq::Error::Status(s, r)) => Err((s, r.into_json().unwrap_or(Value::Null))),
        Err(e) => panic!("{e}"),
    }
}

/// Sends a request; returns status and JSON body (Null when empty).
pub fn call(req: ureq::Request, token: &str, body: Option<&Value>) -> (u16, Value) {
    let req = if token.is_empty() {
        req
    } else {
        req.set("Authorization", &format!("Bearer {token}"))
    };
    let r = match body {
        Some(b) => req.send_json(b.clone()),
        None => req.call(),
    };
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport: {e}"),
    };
    let status = r.status();
    assert!(r.header("request-id").is_some(), "no request-id header");
    let text = r.into_string().unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if status >= 400 {
        assert_graph_error(&v);
    }
    (status, v)
}

pub fn assert_graph_error(v: &Value) {
    let e = &v["error"];
    assert!(
        e["code"].is_string() && e["message"].is_string(),
        "not a Graph error: {v}"
    );
    assert!(
        e["innerError"]["request-id"].is_string(),
        "no request-id: {v}"
    );
    assert!(e["innerError"]["date"].is_string(), "no date: {v}");
}

/// A software security key served in-process, with PIN set.
pub struct VirtualKey {
    client: Ctap2Client<InProcessTransport>,
    pub root_pem: String,
    _key: InProcessKeyHandle,
}

impl VirtualKey {
    pub fn new() -> VirtualKey {
        let key = Authenticator::open(
            AuthenticatorConfig {
                reset_window: None,
                ..Default::default()
            },
            None,
        )
        .unwrap();
        let root_pem = key.attestation_root_pem().to_owned();
        let mut handle =
            InProcessKeyHandle::spawn(HidDevice::new(key, PresenceSettings::default()));
        let mut client = Ctap2Client::open(handle.transport()).unwrap();
        client.set_pin(PIN).unwrap();
        VirtualKey {
            client,
            root_pem,
            _key: handle,
        }
    }

    /// Answers creation options with a registration body, through the
    /// WebAuthn client layer as the provisioning client does. The exclude
    /// list is not sent to the key: tests register one key twice on
    /// purpose.
    pub fn register(&mut self, options: &Value, display_name: &str) -> Value {
        let mut o: CreationOptionsResponse = serde_json::from_value(options.clone()).unwrap();
        o.public_key.exclude_credentials.clear();
        let reg = client::make_credential(
            &mut self.client,
            &o.public_key,
            &client::RegistrationParams {
                origin: None,
                pin: Some(PIN),
                ..Default::default()
            },
        )
        .unwrap();
        serde_json::to_value(reg.register_request(Some(display_name))).unwrap()
    }

    /// Answers a sign-in `begin` with a `finish` body.
    pub fn sign_in(&mut self, begin: &Value) -> Value {
        let b: BeginResponse = serde_json::from_value(begin.clone()).unwrap();
        let a = client::answer_request(&mut self.client, &b.public_key, None, Some(PIN)).unwrap();
        serde_json::to_value(a.finish_request(&b.flow_id)).unwrap()
    }
}

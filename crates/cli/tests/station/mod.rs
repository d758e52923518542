//! Test harness for whole-product tests: a `keysmith serve` process on
//! SQLite, a tenant with an app registration made by `keysmith admin`, and
//! `keysmith virtual-key` processes — all spawned from the built binary,
//! as an operator would run them.
#![allow(dead_code)]

use ctap::pin::Permissions;
use ctap::transport::udp::UdpTransport;
use ctap::Ctap2Client;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use webauthn::signin::BeginResponse;

pub const RP_ID: &str = "login.example.com";
pub const TENANT: &str = "contoso";
pub const ROLES: &str = "UserAuthenticationMethod.ReadWrite.All,User.ReadWrite.All,Group.ReadWrite.All,Policy.ReadWrite.AuthenticationMethod,AuditLog.Read.All";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_keysmith")
}

/// A child process killed when dropped.
pub struct Proc(pub Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `keysmith args…` and returns it with the first stdout line.
pub fn spawn_with_line(args: &[&str]) -> (Proc, String) {
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn keysmith");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert!(!line.is_empty(), "keysmith {args:?} printed nothing");
    (Proc(child), line.trim().to_owned())
}

/// Runs in the temp dir, so default output files (journals) don't land
/// in the source tree.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run keysmith")
}

pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "keysmith {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A Keysmith server with one tenant and one app registration.
pub struct Directory {
    pub dir: PathBuf,
    pub url: String,
    pub client_id: String,
    pub secret_file: PathBuf,
    proc: Option<Proc>,
    /// The app token, fetched once (as a real client caches it: the token
    /// endpoint is rate-limited).
    token: std::sync::Mutex<Option<String>>,
}

fn field<'a>(v: &'a Value, names: &[&str]) -> &'a str {
    for n in names {
        if let Some(s) = v.get(*n).and_then(Value::as_str) {
            return s;
        }
    }
    panic!("none of {names:?} in {v}");
}

impl Directory {
    /// Creates the tenant and app with `keysmith admin`, then starts the
    /// server. `users` are imported from a CSV.
    pub fn start(dir: &Path, users: &[String]) -> Directory {
        let data = dir.join("data");
        let data_s = data.to_str().unwrap();
        run_ok(&[
            "admin",
            "--data-dir",
            data_s,
            "tenant",
            "create",
            TENANT,
            "--rp-id",
            RP_ID,
            "--json",
        ]);
        let app: Value = serde_json::from_str(&run_ok(&[
            "admin",
            "--data-dir",
            data_s,
            "app",
            "create",
            "--tenant",
            TENANT,
            "--name",
            "provisioning",
            "--roles",
            ROLES,
            "--json",
        ]))
        .unwrap();
        let client_id = field(&app, &["clientId", "client_id", "appId"]).to_owned();
        let secret = field(&app, &["clientSecret", "client_secret", "secret"]).to_owned();
        let secret_file = dir.join("client-secret.txt");
        std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
        if !users.is_empty() {
            let csv = dir.join("directory-users.csv");
            let mut text = String::from("userPrincipalName,displayName\n");
            for u in users {
                text.push_str(&format!("{u},{}\n", u.split('@').next().unwrap()));
            }
            std::fs::write(&csv, text).unwrap();
            run_ok(&[
                "admin",
                "--data-dir",
                data_s,
                "users",
                "import",
                "--tenant",
                TENANT,
                "--csv",
                csv.to_str().unwrap(),
            ]);
        }
        let mut d = Directory {
            dir: data,
            url: String::new(),
            client_id,
            secret_file,
            proc: None,
            token: std::sync::Mutex::new(None),
        };
        d.restart();
        d
    }

    pub fn restart(&mut self) {
        self.restart_with(&[]);
    }

    /// Restarts the server with extra `keysmith serve` arguments.
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.proc = None;
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            self.dir.to_str().unwrap(),
            "--rp-id",
            RP_ID,
        ];
        args.extend_from_slice(extra);
        let (p, url) = spawn_with_line(&args);
        assert!(url.starts_with("http://"), "serve printed {url}");
        self.url = url;
        self.proc = Some(p);
    }

    /// The `provision`/`deprovision` directory options for this server.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--server".into(),
            self.url.clone(),
            "--tenant".into(),
            TENANT.into(),
            "--client-id".into(),
            self.client_id.clone(),
            "--client-secret-file".into(),
            self.secret_file.to_str().unwrap().into(),
        ]
    }

    pub fn token(&self) -> String {
        let mut cached = self.token.lock().unwrap();
        if let Some(t) = cached.as_ref() {
            return t.clone();
        }
        let secret = std::fs::read_to_string(&self.secret_file).unwrap();
        let r: Value = ureq::post(&format!("{}/{TENANT}/oauth2/v2.0/token", self.url))
            .send_form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", secret.trim()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .unwrap()
            .into_json()
            .unwrap();
        let t = r["access_token"].as_str().unwrap().to_owned();
        *cached = Some(t.clone());
        t
    }

    pub fn get(&self, path: &str) -> Value {
        ureq::get(&format!("{}{path}", self.url))
            .set("Authorization", &format!("Bearer {}", self.token()))
            .call()
            .unwrap()
            .into_json()
            .unwrap()
    }

    pub fn patch(&self, path: &str, body: Value) {
        ureq::request("PATCH", &format!("{}{path}", self.url))
            .set("Authorization", &format!("Bearer {}", self.token()))
            .send_json(body)
            .unwrap();
    }

    pub fn methods(&self, user: &str) -> Vec<Value> {
        self.get(&format!("/v1.0/users/{user}/authentication/fido2Methods"))["value"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Signs `user` in with the key at `device` using `pin`; returns the
    /// finish response (or the error body) and the HTTP status.
    pub fn sign_in(&self, user: &str, device: &str, pin: &str) -> (u16, Value) {
        let begin: Value = ureq::post(&format!("{}/{TENANT}/passkey/signin/begin", self.url))
            .send_json(json!({ "userPrincipalName": user }))
            .unwrap()
            .into_json()
            .unwrap();
        let begin: BeginResponse = serde_json::from_value(begin).unwrap();
        let mut client = open_key(device);
        let assertion = client::answer_request(&mut client, &begin.public_key, None, Some(pin))
            .expect("getAssertion");
        let body = assertion.finish_request(&begin.flow_id);
        match ureq::post(&format!("{}/{TENANT}/passkey/signin/finish", self.url)).send_json(body) {
            Ok(r) => (r.status(), r.into_json().unwrap()),
            Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or(Value::Null)),
            Err(e) => panic!("sign-in finish: {e}"),
        }
    }
}

pub fn open_key(device: &str) -> Ctap2Client {
    let addr = device.strip_prefix("udp:").unwrap();
    Ctap2Client::open(
        Box::new(UdpTransport::connect(addr).unwrap()) as Box<dyn ctap::transport::Transport>
    )
    .unwrap()
}

/// A `keysmith virtual-key` process.
pub struct Key {
    pub device: String,
    pub state: PathBuf,
    extra: Vec<String>,
    proc: Option<Proc>,
}

impl Key {
    pub fn start(state: PathBuf, extra: &[&str]) -> Key {
        let mut k = Key {
            device: String::new(),
            state,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            proc: None,
        };
        k.power_cycle();
        k
    }

    /// Restarts the key process on the same state (and same port once it
    /// has one).
    pub fn power_cycle(&mut self) {
        self.proc = None;
        let listen = if self.device.is_empty() {
            "udp:127.0.0.1:0".to_owned()
        } else {
            self.device.clone()
        };
        let mut args = vec![
            "virtual-key".to_owned(),
            "--listen".into(),
            listen,
            "--state".into(),
            self.state.to_str().unwrap().into(),
            "--reset-window".into(),
            "0".into(),
        ];
        args.extend(self.extra.clone());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (p, line) = spawn_with_line(&argv);
        assert!(line.starts_with("udp:"), "virtual-key printed {line}");
        self.device = line;
        self.proc = Some(p);
    }

    /// Discoverable credentials on the key for the RP, as (user handle,
    /// credential id), read with credential management.
    pub fn credentials(&self, pin: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut c = open_key(&self.device);
        if c.info().pin_is_set() != Some(true) {
            return Vec::new();
        }
        let token = c
            .get_pin_token(pin, Permissions::CREDENTIAL_MANAGEMENT, None)
            .unwrap();
        c.list_credentials(&token)
            .unwrap()
            .into_iter()
            .filter(|s| s.rp.id == RP_ID)
            .map(|s| (s.user.id, s.credential_id))
            .collect()
    }
}

/// PINs from a `--pin-out` file: user → last PIN recorded.
pub fn pins(path: &Path) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let text = std::fs::read_to_string(path).unwrap();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        out.insert(cols[0].to_owned(), cols[3].to_owned());
    }
    out
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

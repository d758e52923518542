//! `keysmith admin` and `keysmith serve --config` through the binary.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_keysmith");

/// Starts `keysmith serve ARGS`; returns the process and the URL it prints
/// on its first stdout line.
fn start_serve(args: &[&std::ffi::OsStr], stderr: Stdio) -> (std::process::Child, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}

fn admin(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .arg("admin")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .arg("--json")
        .env("USER", "opal")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().count(),
        1,
        "one JSON object per command: {text}"
    );
    serde_json::from_str(&text).unwrap()
}

#[test]
fn admin_commands_and_serve_with_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let t = admin(
        &data,
        &[
            "tenant",
            "create",
            "fabrikam",
            "--rp-id",
            "login.fabrikam.test",
            "--rp-name",
            "Fabrikam",
        ],
    );
    assert_eq!(t["rpId"], "login.fabrikam.test");
    let app = admin(
        &data,
        &[
            "app",
            "create",
            "--tenant",
            "fabrikam",
            "--name",
            "ops",
            "--roles",
            "User.ReadWrite.All,Group.ReadWrite.All",
        ],
    );
    assert!(app["clientSecret"].as_str().unwrap().starts_with("ks_"));
    assert_eq!(app["roles"].as_array().unwrap().len(), 2);

    let csv = dir.path().join("users.csv");
    std::fs::write(&csv, "userPrincipalName,displayName,group\nann@fabrikam.test,\"Lee, Ann\",pilot\nben@fabrikam.test,Ben,pilot\ncat@fabrikam.test,Cat,\n").unwrap();
    let r = admin(
        &data,
        &[
            "users",
            "import",
            "--tenant",
            "fabrikam",
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    assert_eq!(
        (
            r["created"].as_u64(),
            r["groupsCreated"].as_u64(),
            r["memberships"].as_u64()
        ),
        (Some(3), Some(1), Some(2)),
        "{r}"
    );
    let again = admin(
        &data,
        &[
            "users",
            "import",
            "--tenant",
            "fabrikam",
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    assert_eq!(
        again["existing"], 3,
        "re-import keeps existing users: {again}"
    );
    let u = admin(
        &data,
        &[
            "user",
            "create",
            "--tenant",
            "fabrikam",
            "--upn",
            "dan@fabrikam.test",
            "--display-name",
            "Dan",
        ],
    );
    assert_eq!(u["userPrincipalName"], "dan@fabrikam.test");
    let g = admin(
        &data,
        &[
            "group",
            "create",
            "--tenant",
            "fabrikam",
            "--name",
            "everyone",
            "--members-csv",
            csv.to_str().unwrap(),
        ],
    );
    assert_eq!(g["members"], 3);
    let dup = Command::new(BIN)
        .args(["admin", "--data-dir"])
        .arg(&data)
        .args(["tenant", "create", "fabrikam"])
        .output()
        .unwrap();
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).starts_with("error:"));

    // serve from a TOML file; --listen on the command line wins.
    let config = dir.path().join("keysmith.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:9\"\ndata_dir = \"{}\"\nrp_id = \"fallback.test\"\n",
            data.display()
        ),
    )
    .unwrap();
    let (mut child, url) = start_serve(
        &[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
        ],
        Stdio::null(),
    );
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":9"),
        "{url}"
    );
    let token: Value = ureq::post(&format!("{url}/fabrikam/oauth2/v2.0/token"))
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app["clientId"].as_str().unwrap()),
            ("client_secret", app["clientSecret"].as_str().unwrap()),
        ])
        .unwrap()
        .into_json()
        .unwrap();
    let members: Value = ureq::get(&format!(
        "{url}/v1.0/groups/{}/members",
        g["id"].as_str().unwrap()
    ))
    .set(
        "Authorization",
        &format!("Bearer {}", token["access_token"].as_str().unwrap()),
    )
    .call()
    .unwrap()
    .into_json()
    .unwrap();
    assert_eq!(members["value"].as_array().unwrap().len(), 3);
    // Members come in id order (server README, "Paging").
    assert!(
        members["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["displayName"] == "Lee, Ann"),
        "{members}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Issue 25: every `keysmith admin` change is audited with the operating
/// system user as actor; `audit checkpoint` exports a 0600 checkpoint and
/// `audit verify` checks the chain against it: exit 0 intact, 1 with one
/// line naming the first problem.
#[test]
fn admin_changes_are_audited_and_a_truncated_trail_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("admin")
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env("USER", "opal")
            .output()
            .unwrap()
    };
    admin(&data, &["tenant", "create", "acme"]);
    for i in 0..5 {
        admin(
            &data,
            &[
                "user",
                "create",
                "--tenant",
                "acme",
                "--upn",
                &format!("u{i}@acme.example"),
            ],
        );
    }
    admin(
        &data,
        &[
            "app",
            "create",
            "--tenant",
            "acme",
            "--name",
            "x",
            "--roles",
            "User.Read.All",
        ],
    );
    let out = run(&["audit", "verify", "--tenant", "acme", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["events"], 7, "tenant, five users, app: {report}");

    let cp = dir.path().join("acme.checkpoint.json");
    let out = run(&[
        "audit",
        "checkpoint",
        "--tenant",
        "acme",
        "--out",
        cp.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cp).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&cp).unwrap()).unwrap();
    assert_eq!(saved["seq"], 7);
    let out = run(&[
        "audit",
        "verify",
        "--tenant",
        "acme",
        "--checkpoint",
        cp.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact"));

    // The actor is the operating-system user (USER=opal for every call).
    let db = rusqlite::Connection::open(data.join("keysmith.db")).unwrap();
    let actors: Vec<String> = db
        .prepare("SELECT DISTINCT actor FROM audit_events WHERE activity <> 'Token request failed'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(actors, vec!["cli:opal".to_owned()], "{actors:?}");

    // Someone with the database cuts the newest events and the stored
    // checkpoints: the exported one catches it.
    db.execute("DELETE FROM audit_events WHERE seq > 5", [])
        .unwrap();
    db.execute("DELETE FROM audit_checkpoints", []).unwrap();
    drop(db);
    let out = run(&[
        "audit",
        "verify",
        "--tenant",
        "acme",
        "--checkpoint",
        cp.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("NOT intact") && err.contains("truncated"),
        "{err}"
    );
}

/// On an empty directory `serve` tells a new operator the next steps on
/// stderr, naming the data directory and its own URL; stdout stays the one
/// URL line. Once a tenant exists it says nothing of the kind.
#[test]
fn serve_on_an_empty_directory_prints_the_next_steps() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let start = || {
        let (mut child, url) = start_serve(
            &[
                "--listen".as_ref(),
                "127.0.0.1:0".as_ref(),
                "--data-dir".as_ref(),
                data.as_os_str(),
            ],
            Stdio::piped(),
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        (url, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (url, err) = start();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(err.contains("the directory is empty. Next steps"), "{err}");
    let admin = format!("keysmith admin --data-dir {}", data.display());
    for step in ["tenant create", "app create", "bootstrap-admin"] {
        assert!(err.contains(&format!("{admin} {step}")), "{step}: {err}");
    }
    assert!(err.contains(&format!("--url {url}")), "{err}");

    let made = Command::new(BIN)
        .args(["admin", "--data-dir"])
        .arg(&data)
        .args(["tenant", "create", "contoso"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let (_, err) = start();
    assert!(!err.contains("Next steps"), "{err}");
}

//! `keysmith admin` and `keysmith serve --config` through the binary.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_keysmith");

fn admin(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .arg("admin")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .arg("--json")
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
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_owned();
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
    assert_eq!(members["value"][0]["displayName"], "Lee, Ann");
    child.kill().unwrap();
    child.wait().unwrap();
}

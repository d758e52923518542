//! Crash safety of `keysmith serve` on SQLite: registrations from several
//! threads, `kill -9` mid-load, restart — every registration that was
//! answered 201 must still be there.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use webauthn::b64;
use webauthn::cbor::{self, MapBuilder};
use webauthn::client_data::{CollectedClientData, TYPE_CREATE};
use webauthn::{CoseAlgorithm, CoseKey};

const RP_ID: &str = "login.example.com";
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
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn serve(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
}

fn registration(challenge: &str) -> Value {
    let client_data =
        CollectedClientData::serialize(TYPE_CREATE, challenge, &format!("https://{RP_ID}"));
    let key = p256::SecretKey::random(&mut rand::thread_rng());
    let cose = CoseKey::from_p256(CoseAlgorithm::Es256, &key.public_key()).to_bytes();
    let cred_id: [u8; 32] = rand::random();
    let mut ad = Sha256::digest(RP_ID.as_bytes()).to_vec();
    ad.push(0x45);
    ad.extend_from_slice(&0u32.to_be_bytes());
    ad.extend_from_slice(&[0u8; 16]);
    ad.extend_from_slice(&32u16.to_be_bytes());
    ad.extend_from_slice(&cred_id);
    ad.extend_from_slice(&cose);
    let att = cbor::encode(
        &MapBuilder::new()
            .text("fmt", "none")
            .text("attStmt", cbor::Value::Map(vec![]))
            .text("authData", ad)
            .build(),
    );
    json!({"publicKeyCredential": {"id": b64::encode(cred_id), "response": {
        "clientDataJSON": b64::encode(&client_data), "attestationObject": b64::encode(att)}}})
}

fn token(url: &str, app: &Value) -> String {
    let v: Value = ureq::post(&format!("{url}/crash/oauth2/v2.0/token"))
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app["clientId"].as_str().unwrap()),
            ("client_secret", app["clientSecret"].as_str().unwrap()),
        ])
        .unwrap()
        .into_json()
        .unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

#[test]
fn kill_9_keeps_every_answered_registration() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    admin(&data, &["tenant", "create", "crash", "--rp-id", RP_ID]);
    let app = admin(
        &data,
        &[
            "app",
            "create",
            "--tenant",
            "crash",
            "--name",
            "load",
            "--roles",
            "UserAuthenticationMethod.ReadWrite.All,User.ReadWrite.All",
        ],
    );
    let users: Vec<String> = (0..4).map(|i| format!("u{i}@example.com")).collect();
    for u in &users {
        admin(&data, &["user", "create", "--tenant", "crash", "--upn", u]);
    }

    let (mut child, url) = serve(&data);
    let tok = token(&url, &app);
    let answered: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = users
        .iter()
        .cloned()
        .map(|user| {
            let (url, tok, answered, stop) =
                (url.clone(), tok.clone(), answered.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(5))
                    .build();
                let base = format!("{url}/v1.0/users/{user}/authentication/fido2Methods");
                while !stop.load(Ordering::SeqCst) {
                    let Ok(r) = agent
                        .get(&format!("{base}/creationOptions"))
                        .set("Authorization", &format!("Bearer {tok}"))
                        .call()
                    else {
                        break;
                    };
                    let options: Value = r.into_json().unwrap();
                    let body = registration(options["publicKey"]["challenge"].as_str().unwrap());
                    match agent
                        .post(&base)
                        .set("Authorization", &format!("Bearer {tok}"))
                        .send_json(body)
                    {
                        Ok(r) if r.status() == 201 => {
                            let m: Value = r.into_json().unwrap();
                            answered
                                .lock()
                                .unwrap()
                                .push((user.clone(), m["id"].as_str().unwrap().to_owned()));
                        }
                        Ok(r) => panic!("unexpected {}", r.status()),
                        Err(ureq::Error::Status(s, r)) => {
                            panic!("{s}: {}", r.into_string().unwrap())
                        }
                        Err(_) => break, // the server died mid-request
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() > 10,
        "only {} registrations before the kill",
        answered.len()
    );

    let (mut child, url) = serve(&data);
    let tok = token(&url, &app);
    let mut stored = 0;
    for user in &users {
        let v: Value = ureq::get(&format!(
            "{url}/v1.0/users/{user}/authentication/fido2Methods"
        ))
        .set("Authorization", &format!("Bearer {tok}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
        let ids: Vec<&str> = v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        stored += ids.len();
        for (u, id) in answered.iter().filter(|(u, _)| u == user) {
            assert!(
                ids.contains(&id.as_str()),
                "{u}: answered 201 for {id} but it is gone"
            );
        }
    }
    eprintln!(
        "{} registrations answered 201 before kill -9; {stored} stored after restart",
        answered.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

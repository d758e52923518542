//! The provisioning workflow end to end, as an operator runs it: a
//! `keysmith serve` process on SQLite, `keysmith virtual-key` processes,
//! and `keysmith provision` / `deprovision` over HTTP and CTAPHID/UDP.

mod station;

use serde_json::{json, Value};
use station::{mode, pins, run, run_ok, Directory, Key, RP_ID};
use std::collections::{HashMap, HashSet};
use std::path::Path;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn provision(dir: &Directory, extra: &[String]) -> std::process::Output {
    let mut args = vec!["provision".to_owned()];
    args.extend(dir.args());
    args.extend(extra.iter().cloned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&argv)
}

fn provision_env(dir: &Directory, extra: &[String], env: &[(&str, &str)]) -> std::process::Output {
    let mut args = vec!["provision".to_owned()];
    args.extend(dir.args());
    args.extend(extra.iter().cloned());
    let mut cmd = std::process::Command::new(station::bin());
    cmd.args(&args).current_dir(std::env::temp_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A users CSV (`userPrincipalName` only) at `path`.
fn users_csv(path: &Path, users: &[String]) {
    std::fs::write(path, format!("userPrincipalName\n{}\n", users.join("\n"))).unwrap();
}

/// `--device D` for each key, in order.
fn device_args(keys: &[Key]) -> Vec<String> {
    keys.iter()
        .flat_map(|k| ["--device".to_owned(), k.device.clone()])
        .collect()
}

fn assert_pin_nowhere(pin: &str, texts: &[(&str, &[u8])]) {
    for (what, bytes) in texts {
        assert!(
            !String::from_utf8_lossy(bytes).contains(pin),
            "the PIN appears in {what}"
        );
    }
}

#[test]
fn single_user_with_pin_policy_signs_in_and_is_excluded_the_second_time() {
    let tmp = tempfile::tempdir().unwrap();
    let alice = "alice@contoso.com".to_owned();
    let dir = Directory::start(tmp.path(), std::slice::from_ref(&alice));
    let key = Key::start(tmp.path().join("alice.key"), &[]);
    let pin_out = tmp.path().join("pins.csv");
    let results = tmp.path().join("results.json");
    let journal = tmp.path().join("run.journal");
    let out = provision(
        &dir,
        &strings(&[
            "--user",
            &alice,
            "--device",
            &key.device,
            "--pin-out",
            pin_out.to_str().unwrap(),
            "--force-pin-change",
            "--min-pin-length",
            "8",
            "--out",
            results.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
            "--json",
        ]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["provisioned"], 1, "{summary}");

    // The PIN: in the 0600 PIN file and nowhere else.
    assert_eq!(mode(&pin_out), 0o600);
    let pin = pins(&pin_out)[&alice].clone();
    assert!(
        pin.len() >= 8 && pin.bytes().all(|c| c.is_ascii_digit()),
        "PIN shape"
    );
    let results_bytes = std::fs::read(&results).unwrap();
    let journal_bytes = std::fs::read(&journal).unwrap();
    assert_pin_nowhere(
        &pin,
        &[
            ("stdout", &out.stdout),
            ("stderr", &out.stderr),
            ("results", &results_bytes),
            ("journal", &journal_bytes),
        ],
    );
    assert_eq!(mode(&journal), 0o600);

    // The directory has the method the results file names.
    let methods = dir.methods(&alice);
    assert_eq!(methods.len(), 1);
    let rows: Vec<Value> = serde_json::from_slice(&results_bytes).unwrap();
    assert_eq!(rows[0]["methodId"], methods[0]["id"]);
    assert_eq!(rows[0]["status"], "provisioned");

    // PIN policy is on the key (read back over CTAP).
    let info: Value =
        serde_json::from_str(&run_ok(&["key", "info", "--device", &key.device, "--json"])).unwrap();
    let text = info.to_string();
    assert!(text.contains("\"forcePinChange\":true"), "{text}");
    assert!(text.contains("\"minPinLength\":8"), "{text}");

    // The user changes the PIN as forced, then signs in with the key.
    let old = tmp.path().join("old.pin");
    let new = tmp.path().join("new.pin");
    std::fs::write(&old, &pin).unwrap();
    std::fs::write(&new, "90417326").unwrap();
    run_ok(&[
        "key",
        "pin",
        "change",
        "--device",
        &key.device,
        "--pin-file",
        old.to_str().unwrap(),
        "--new-pin-file",
        new.to_str().unwrap(),
    ]);
    let (status, body) = dir.sign_in(&alice, &key.device, "90417326");
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains(&alice), "{body}");
    // The operator's own proof, username-first and usernameless.
    for user_args in [vec!["--user", alice.as_str()], vec![]] {
        let mut a = vec![
            "signin",
            "--server",
            &dir.url,
            "--tenant",
            station::TENANT,
            "--device",
            &key.device,
            "--pin-file",
            new.to_str().unwrap(),
            "--json",
        ];
        a.extend(user_args);
        let result: Value = serde_json::from_str(&run_ok(&a)).unwrap();
        assert_eq!(
            result["user"]["userPrincipalName"],
            alice.as_str(),
            "{result}"
        );
    }

    // Provisioning alice again on the same key: the key excludes it.
    let out = provision(
        &dir,
        &strings(&[
            "--user",
            &alice,
            "--device",
            &key.device,
            "--pin-out",
            pin_out.to_str().unwrap(),
            "--current-pin-file",
            new.to_str().unwrap(),
            "--json",
        ]),
    );
    assert!(!out.status.success());
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["failed"], 1, "{summary}");
    assert_eq!(
        summary["outcomes"][0]["errorKind"], "alreadyProvisioned",
        "{summary}"
    );
    assert_eq!(dir.methods(&alice).len(), 1, "no second registration");
    assert_eq!(key.credentials("90417326").len(), 1, "no second credential");
    // A stray journal is never overwritten.
    let again = provision(
        &dir,
        &strings(&[
            "--user",
            &alice,
            "--device",
            &key.device,
            "--journal",
            journal.to_str().unwrap(),
            "--pin-out",
            pin_out.to_str().unwrap(),
        ]),
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("journal"));
}

#[test]
fn bulk_fifty_users_on_four_keys_at_once_then_each_signs_in() {
    let tmp = tempfile::tempdir().unwrap();
    let users: Vec<String> = (0..50).map(|i| format!("user{i:02}@contoso.com")).collect();
    let dir = Directory::start(tmp.path(), &users);
    let csv = tmp.path().join("users.csv");
    let mut text = String::from("userPrincipalName,displayName\n");
    for u in &users {
        text.push_str(&format!("{u},\n"));
    }
    std::fs::write(&csv, text).unwrap();
    // A full key first in line: its user must move on to the next key.
    let full = Key::start(tmp.path().join("full.key"), &["--capacity", "0"]);
    let keys: Vec<Key> = (0..50)
        .map(|i| Key::start(tmp.path().join(format!("k{i}.key")), &[]))
        .collect();
    let pin_out = tmp.path().join("pins.csv");
    let results = tmp.path().join("results.csv");
    let mut args = strings(&[
        "--csv",
        csv.to_str().unwrap(),
        "--parallel",
        "4",
        "--pin-out",
        pin_out.to_str().unwrap(),
        "--out",
        results.to_str().unwrap(),
        "--json",
        "--device",
        &full.device,
    ]);
    args.extend(device_args(&keys));
    let started = std::time::Instant::now();
    let out = provision(&dir, &args);
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["provisioned"], 50, "{summary}");
    eprintln!("50 users on 4 parallel keys in {elapsed:?}");

    let pins = pins(&pin_out);
    let rows = std::fs::read_to_string(&results).unwrap();
    let mut device_of: HashMap<String, String> = HashMap::new();
    let mut used = HashSet::new();
    for o in summary["outcomes"].as_array().unwrap() {
        let u = o["userPrincipalName"].as_str().unwrap().to_owned();
        let d = o["keyDevice"].as_str().unwrap().to_owned();
        assert_ne!(d, full.device, "nobody ends on the full key");
        assert!(used.insert(d.clone()), "one user per key");
        assert!(rows.contains(&u));
        device_of.insert(u, d);
    }
    for p in pins.values() {
        assert!(!rows.contains(&format!(",{p},")), "no PIN in results");
    }
    for u in &users {
        assert_eq!(dir.methods(u).len(), 1, "{u} has exactly one passkey");
        let (status, body) = dir.sign_in(u, &device_of[u], &pins[u]);
        assert_eq!(status, 200, "{u}: {body}");
    }
}

/// Kills the run at every step boundary (KEYSMITH_FAILPOINT), resumes it,
/// and checks exactly one registration and no orphan credential.
#[test]
fn a_run_killed_at_any_step_resumes_to_exactly_one_registration() {
    let tmp = tempfile::tempdir().unwrap();
    let points = [
        "after-options",
        "before-set-pin",
        "after-set-pin",
        "before-make-credential",
        "after-make-credential-unjournaled",
        "after-make-credential",
        "before-register",
        "after-register-unjournaled",
        "after-register",
        "after-pin-policy",
    ];
    let users: Vec<String> = (0..points.len())
        .map(|i| format!("crash{i}@contoso.com"))
        .collect();
    let mut all_users = users.clone();
    all_users.push("expired@contoso.com".into());
    let dir = Directory::start(tmp.path(), &all_users);
    for (i, point) in points.iter().enumerate() {
        let user = &users[i];
        let mut key = Key::start(tmp.path().join(format!("crash{i}.key")), &[]);
        let pin_out = tmp.path().join(format!("pins{i}.csv"));
        let journal = tmp.path().join(format!("run{i}.journal"));
        let args = strings(&[
            "--user",
            user,
            "--device",
            &key.device,
            "--pin-out",
            pin_out.to_str().unwrap(),
            "--min-pin-length",
            "8",
            "--journal",
            journal.to_str().unwrap(),
        ]);
        let out = provision_env(&dir, &args, &[("KEYSMITH_FAILPOINT", point)]);
        assert_eq!(
            out.status.code(),
            Some(86),
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Power-cycle the key too, as after a real crash.
        key.power_cycle();
        let resume = strings(&[
            "--user",
            user,
            "--device",
            &key.device,
            "--pin-out",
            pin_out.to_str().unwrap(),
            "--min-pin-length",
            "8",
            "--resume",
            journal.to_str().unwrap(),
        ]);
        let out = provision(&dir, &resume);
        assert!(
            out.status.success(),
            "{point}: resume failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let methods = dir.methods(user);
        assert_eq!(methods.len(), 1, "{point}: exactly one registration");
        let pin = pins(&pin_out)[user].clone();
        let creds = key.credentials(&pin);
        assert_eq!(creds.len(), 1, "{point}: no orphan credential on the key");
        assert_eq!(
            webauthn::b64::encode(&creds[0].1),
            methods[0]["id"].as_str().unwrap(),
            "{point}"
        );
        // Resuming a finished run changes nothing.
        let out = provision(&dir, &resume);
        assert!(out.status.success(), "{point}: second resume");
        assert_eq!(dir.methods(user).len(), 1);
    }

    // A credential made but not registered whose challenge has expired by
    // the time of the resume: removed from the key and redone.
    let user = "expired@contoso.com";
    let mut key = Key::start(tmp.path().join("expired.key"), &[]);
    let pin_out = tmp.path().join("pins-expired.csv");
    let journal = tmp.path().join("run-expired.journal");
    let args = strings(&[
        "--user",
        user,
        "--device",
        &key.device,
        "--pin-out",
        pin_out.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ]);
    let out = provision_env(
        &dir,
        &args,
        &[("KEYSMITH_FAILPOINT", "after-make-credential")],
    );
    assert_eq!(out.status.code(), Some(86));
    let pin = pins(&pin_out)[user].clone();
    let orphan = key.credentials(&pin);
    assert_eq!(orphan.len(), 1);
    expire_challenges(&journal);
    key.power_cycle();
    let out = provision(
        &dir,
        &strings(&[
            "--user",
            user,
            "--device",
            &key.device,
            "--pin-out",
            pin_out.to_str().unwrap(),
            "--resume",
            journal.to_str().unwrap(),
        ]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let methods = dir.methods(user);
    assert_eq!(methods.len(), 1);
    let creds = key.credentials(&pin);
    assert_eq!(creds.len(), 1, "the expired credential was removed");
    assert_ne!(creds[0].1, orphan[0].1, "and a new one made");
    assert_eq!(
        webauthn::b64::encode(&creds[0].1),
        methods[0]["id"].as_str().unwrap()
    );
}

/// Moves every journaled challenge expiry into the past (what waiting
/// past the challenge timeout would do).
fn expire_challenges(journal: &Path) {
    let text = std::fs::read_to_string(journal).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        if v["event"] == "optionsFetched" {
            v["options"]["challengeTimeoutDateTime"] = json!("2020-01-01T00:00:00Z");
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    std::fs::write(journal, out).unwrap();
}

#[test]
fn deprovision_dry_run_then_removes_from_directory_and_key_and_check_reports_blockers() {
    let tmp = tempfile::tempdir().unwrap();
    let bob = "bob@contoso.com".to_owned();
    let dir = Directory::start(tmp.path(), std::slice::from_ref(&bob));
    let key = Key::start(tmp.path().join("bob.key"), &[]);
    let pin_out = tmp.path().join("pins.csv");
    let out = provision(
        &dir,
        &strings(&[
            "--user",
            &bob,
            "--device",
            &key.device,
            "--pin-out",
            pin_out.to_str().unwrap(),
        ]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pin = pins(&pin_out)[&bob].clone();
    let pin_file = tmp.path().join("bob.pin");
    std::fs::write(&pin_file, &pin).unwrap();

    let mut args = vec!["deprovision".to_owned()];
    args.extend(dir.args());
    let with = |extra: &[&str]| {
        let mut a = args.clone();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let dry = with(&["--user", &bob, "--all", "--dry-run", "--json"]);
    let dry: Vec<&str> = dry.iter().map(String::as_str).collect();
    let actions: Value = serde_json::from_str(&run_ok(&dry)).unwrap();
    assert_eq!(actions.as_array().unwrap().len(), 1);
    assert_eq!(actions[0]["status"], "wouldDelete");
    assert_eq!(dir.methods(&bob).len(), 1, "dry run changes nothing");

    let real = with(&[
        "--user",
        &bob,
        "--all",
        "--from-key",
        &key.device,
        "--pin-file",
        pin_file.to_str().unwrap(),
        "--json",
    ]);
    let real: Vec<&str> = real.iter().map(String::as_str).collect();
    let actions: Value = serde_json::from_str(&run_ok(&real)).unwrap();
    assert_eq!(actions[0]["status"], "deleted");
    assert_eq!(actions[0]["removedFromKey"], true);
    assert!(dir.methods(&bob).is_empty());
    assert!(key.credentials(&pin).is_empty());

    // Preflight: the policy blocks the virtual key's model; an unknown
    // user is reported too; nothing is touched.
    let info: Value =
        serde_json::from_str(&run_ok(&["key", "info", "--device", &key.device, "--json"])).unwrap();
    let aaguid = info["aaguid"]
        .as_str()
        .or_else(|| info["info"]["aaguid"].as_str())
        .unwrap()
        .to_owned();
    dir.patch(
        "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2",
        json!({"keyRestrictions": {"isEnforced": true, "enforcementType": "block", "aaGuids": [aaguid]}}),
    );
    let out = provision(
        &dir,
        &strings(&[
            "--user",
            "nobody@contoso.com",
            "--device",
            &key.device,
            "--check",
        ]),
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("BLOCKER") && text.contains("blocked"),
        "{text}"
    );
    assert!(text.contains("nobody@contoso.com: no such user"), "{text}");
    assert!(key.credentials(&pin).is_empty());
    // And a real run against the blocking policy fails cleanly, leaving
    // no credential on the key.
    let out = provision(
        &dir,
        &strings(&[
            "--user",
            &bob,
            "--device",
            &key.device,
            "--current-pin-file",
            pin_file.to_str().unwrap(),
            "--pin-out",
            pin_out.to_str().unwrap(),
            "--json",
        ]),
    );
    assert!(!out.status.success());
    assert!(
        key.credentials(&pin).is_empty(),
        "refused credential removed from the key"
    );
    let _ = RP_ID;
}

/// How the test double spells excluded credential ids (Entra uses all
/// three; see GRAPH_FIDO2_API.md §1).
#[derive(Clone, Copy, Debug)]
enum IdEncoding {
    Base64Url,
    StandardBase64,
    UrlTokenEncode,
}

fn encode_id(bytes: &[u8], how: IdEncoding) -> String {
    use base64::Engine;
    match how {
        IdEncoding::Base64Url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        IdEncoding::StandardBase64 => base64::engine::general_purpose::STANDARD.encode(bytes),
        IdEncoding::UrlTokenEncode => {
            let padded = base64::engine::general_purpose::URL_SAFE.encode(bytes);
            let pads = padded.bytes().filter(|&b| b == b'=').count();
            format!("{}{pads}", padded.trim_end_matches('='))
        }
    }
}

/// An HTTP-level test double in front of our server that answers like
/// Entra for the one quirk we cannot make our server produce: the
/// encodings of `excludeCredentials[].id`. Everything else is forwarded.
fn entra_id_proxy(target: String, how: IdEncoding) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                continue;
            }
            let mut parts = request_line.split_whitespace();
            let method = parts.next().unwrap_or("GET").to_owned();
            let path = parts.next().unwrap_or("/").to_owned();
            let mut headers = Vec::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end().to_owned();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    let (k, v) = (k.trim().to_owned(), v.trim().to_owned());
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.parse().unwrap();
                    }
                    headers.push((k, v));
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let mut req = ureq::request(&method, &format!("{target}{path}"));
            for (k, v) in &headers {
                if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("content-type")
                {
                    req = req.set(k, v);
                }
            }
            let result = if body.is_empty() {
                req.call()
            } else {
                req.send_bytes(&body)
            };
            let (status, text) = match result {
                Ok(r) => (r.status(), r.into_string().unwrap()),
                Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap()),
                Err(e) => (
                    502,
                    format!("{{\"error\":{{\"code\":\"proxy\",\"message\":\"{e}\"}}}}"),
                ),
            };
            let text = if status == 200 && path.contains("creationOptions") {
                let mut v: Value = serde_json::from_str(&text).unwrap();
                for d in v["publicKey"]["excludeCredentials"].as_array_mut().unwrap() {
                    let raw = webauthn::b64::decode(d["id"].as_str().unwrap()).unwrap();
                    d["id"] = json!(encode_id(&raw, how));
                }
                v.to_string()
            } else {
                text
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn graph_mode_through_base_url_override_and_entra_id_encodings() {
    let tmp = tempfile::tempdir().unwrap();
    let carol = "carol@contoso.com".to_owned();
    let dir = Directory::start(tmp.path(), std::slice::from_ref(&carol));
    let key = Key::start(tmp.path().join("carol.key"), &[]);
    let pin_out = tmp.path().join("pins.csv");
    let graph_args = |base: &str| {
        strings(&[
            "--graph-url",
            &format!("{base}/v1.0"),
            "--token-url",
            &format!("{}/{}/oauth2/v2.0/token", dir.url, station::TENANT),
            "--tenant",
            station::TENANT,
            "--client-id",
            &dir.client_id,
            "--client-secret-file",
            dir.secret_file.to_str().unwrap(),
        ])
    };
    // Graph mode, pointed at our server by base URL.
    let mut args = vec!["provision".to_owned()];
    args.extend(graph_args(&dir.url));
    args.extend(strings(&[
        "--user",
        &carol,
        "--device",
        &key.device,
        "--pin-out",
        pin_out.to_str().unwrap(),
        "--json",
    ]));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&argv);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(dir.methods(&carol).len(), 1);
    let pin = pins(&pin_out)[&carol].clone();
    let pin_file = tmp.path().join("carol.pin");
    std::fs::write(&pin_file, &pin).unwrap();

    // The same key again, with the excluded id in each of Entra's
    // encodings: the client must decode it and the key must refuse.
    for how in [
        IdEncoding::Base64Url,
        IdEncoding::StandardBase64,
        IdEncoding::UrlTokenEncode,
    ] {
        let proxy = entra_id_proxy(dir.url.clone(), how);
        let mut args = vec!["provision".to_owned()];
        args.extend(graph_args(&proxy));
        args.extend(strings(&[
            "--user",
            &carol,
            "--device",
            &key.device,
            "--current-pin-file",
            pin_file.to_str().unwrap(),
            "--json",
        ]));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&argv);
        assert!(!out.status.success(), "{how:?}: must be refused");
        let summary: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{how:?}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(
            summary["outcomes"][0]["errorKind"], "alreadyProvisioned",
            "{how:?}: {summary}"
        );
        assert_eq!(dir.methods(&carol).len(), 1, "{how:?}");
        assert_eq!(key.credentials(&pin).len(), 1, "{how:?}");
    }
}

/// A directory group of `users` made with `keysmith admin group create`;
/// its id.
fn create_group(tmp: &Path, dir: &Directory, name: &str, users: &[String]) -> String {
    let members = tmp.join(format!("{name}.csv"));
    users_csv(&members, users);
    let group: Value = serde_json::from_str(&run_ok(&[
        "admin",
        "--data-dir",
        dir.dir.to_str().unwrap(),
        "--json",
        "group",
        "create",
        "--tenant",
        station::TENANT,
        "--name",
        name,
        "--members-csv",
        members.to_str().unwrap(),
    ]))
    .unwrap();
    group["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_directory_group_is_provisioned() {
    let tmp = tempfile::tempdir().unwrap();
    let users: Vec<String> = (0..3).map(|i| format!("g{i}@contoso.com")).collect();
    let dir = Directory::start(tmp.path(), &users);
    let group_id = create_group(tmp.path(), &dir, "new-starters", &users);
    let keys: Vec<Key> = (0..3)
        .map(|i| Key::start(tmp.path().join(format!("g{i}.key")), &[]))
        .collect();
    let pin_out = tmp.path().join("pins.csv");
    let mut args = strings(&[
        "--group",
        &group_id,
        "--pin-out",
        pin_out.to_str().unwrap(),
        "--json",
    ]);
    args.extend(device_args(&keys));
    let out = provision(&dir, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for u in &users {
        assert_eq!(dir.methods(u).len(), 1, "{u}");
    }
}

/// A group larger than the directory's page (100 members by default):
/// the client follows Keysmith's `@odata.nextLink` pages (issue 28, stage
/// 3) and plans every member once.
#[test]
fn a_group_larger_than_one_page_is_read_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let users: Vec<String> = (0..130).map(|i| format!("p{i:03}@contoso.com")).collect();
    let dir = Directory::start(tmp.path(), &users);
    let group_id = create_group(tmp.path(), &dir, "everyone", &users);
    let out = provision(&dir, &strings(&["--group", &group_id, "--check", "--json"]));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let checked = report
        .get("usersChecked")
        .or_else(|| report.get("users_checked"))
        .and_then(Value::as_u64);
    assert_eq!(checked, Some(130), "{report}");
}

/// Ctrl-C (SIGINT) during a bulk run: no new user starts, the users in
/// work finish, the summary is printed (exit 130), and `--resume` does the
/// rest, each user ending with exactly one passkey.
#[test]
fn ctrl_c_stops_taking_users_and_resume_finishes_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let users: Vec<String> = (0..12).map(|i| format!("intr{i:02}@contoso.com")).collect();
    let dir = Directory::start(tmp.path(), &users);
    let csv = tmp.path().join("users.csv");
    users_csv(&csv, &users);
    let keys: Vec<Key> = (0..users.len())
        .map(|i| Key::start(tmp.path().join(format!("i{i}.key")), &[]))
        .collect();
    let journal = tmp.path().join("run.journal");
    let pin_out = tmp.path().join("pins.csv");
    let mut args = vec!["provision".to_owned()];
    args.extend(dir.args());
    args.extend(strings(&[
        "--csv",
        csv.to_str().unwrap(),
        "--parallel",
        "1",
        "--pin-out",
        pin_out.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--json",
    ]));
    args.extend(device_args(&keys));
    let child = std::process::Command::new(station::bin())
        .args(&args)
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the first user is done.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&journal)
        .unwrap_or_default()
        .contains("\"userDone\"")
    {
        assert!(std::time::Instant::now() < deadline, "no user finished");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let done = summary["provisioned"].as_u64().unwrap();
    assert!(done >= 1 && done < users.len() as u64, "{summary}");
    let stopped = summary["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["error"].as_str() == Some("the run was stopped"))
        .count() as u64;
    assert_eq!(done + stopped, users.len() as u64, "{summary}");

    let mut resume = strings(&[
        "--csv",
        csv.to_str().unwrap(),
        "--parallel",
        "1",
        "--pin-out",
        pin_out.to_str().unwrap(),
        "--resume",
        journal.to_str().unwrap(),
        "--json",
    ]);
    resume.extend(device_args(&keys));
    let out = provision(&dir, &resume);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        summary["provisioned"].as_u64().unwrap(),
        users.len() as u64 - done,
        "{summary}"
    );
    for u in &users {
        assert_eq!(dir.methods(u).len(), 1, "{u} has exactly one passkey");
    }
}

/// Entra refuses passkey names over 30 characters (GRAPH_FIDO2_API.md §8),
/// after the credential is already on the key: the client refuses such a
/// name before it touches a key, `--check` lists every offender, and the
/// default name fits.
#[test]
fn passkey_names_entra_would_refuse_stop_the_run_before_any_key_is_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let users: Vec<String> = ["ann@contoso.com", "ben@contoso.com", "cy@contoso.com"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let dir = Directory::start(tmp.path(), &users);
    let key = Key::start(tmp.path().join("k.key"), &[]);
    let pin_out = tmp.path().join("pins.csv");
    let long = "Ann's spare key from the front desk"; // 35 characters

    let out = provision(
        &dir,
        &strings(&[
            "--user",
            &users[0],
            "--display-name",
            long,
            "--device",
            &key.device,
            "--pin-out",
            pin_out.to_str().unwrap(),
        ]),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("35 characters") && err.contains("30"), "{err}");
    // The key was not touched: no PIN set, so info reports no retries.
    let info: Value =
        serde_json::from_str(&run_ok(&["key", "info", "--device", &key.device, "--json"])).unwrap();
    assert!(info["pinRetries"].is_null(), "PIN set on the key: {info}");
    assert!(!pin_out.exists());
    assert!(dir.methods(&users[0]).is_empty());

    // A CSV with two offenders: the run names the first and counts the
    // rest; --check lists both.
    let csv = tmp.path().join("users.csv");
    std::fs::write(
        &csv,
        format!(
            "userPrincipalName,passkeyDisplayName\n{},{long}\n{},Ben key\n{},{}\n",
            users[0],
            users[1],
            users[2],
            "y".repeat(31)
        ),
    )
    .unwrap();
    let args = |extra: &[&str]| {
        let mut a = strings(&["--csv", csv.to_str().unwrap(), "--device", &key.device]);
        a.extend(strings(extra));
        a
    };
    let out = provision(&dir, &args(&["--pin-out", pin_out.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&users[0]) && err.contains("1 more") && err.contains("--check"),
        "{err}"
    );
    let out = provision(&dir, &args(&["--check"]));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&users[0]) && text.contains(&users[2]),
        "{text}"
    );
    assert!(!text.contains(&format!("{}:", users[1])), "{text}");

    // The default name fits Entra's limit.
    let out = provision(
        &dir,
        &strings(&[
            "--user",
            &users[1],
            "--device",
            &key.device,
            "--pin-out",
            pin_out.to_str().unwrap(),
            "--out",
            tmp.path().join("named.csv").to_str().unwrap(),
        ]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = dir.methods(&users[1]);
    let name = m[0]["displayName"].as_str().unwrap();
    assert!(
        (1..=30).contains(&name.chars().count()),
        "default name {name:?}"
    );
    // The results file carries the name the directory answered.
    let results = std::fs::read_to_string(tmp.path().join("named.csv")).unwrap();
    let header: Vec<&str> = results.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "displayName").unwrap();
    let row = results
        .lines()
        .find(|l| l.starts_with(users[1].as_str()))
        .unwrap();
    assert_eq!(row.split(',').nth(col), Some(name), "{results}");
}

/// Issue 22: killed before the first user, in the middle, and during the
/// last user, a 40-user run resumed exactly as README says (`--resume
/// JOURNAL --pin-out FILE`, no user source) provisions every planned user
/// exactly once, and the summary counts all of them. A user source that
/// disagrees with the plan is refused; a journal without a plan asks for
/// the users.
#[test]
fn resume_alone_finishes_the_whole_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let points = [
        "after-plan",
        "after-register@20",
        "after-pin-policy-unjournaled@10",
        "before-register@40",
    ];
    let rounds: Vec<Vec<String>> = (0..points.len())
        .map(|r| {
            (0..40)
                .map(|i| format!("plan{r}-{i}@contoso.com"))
                .collect()
        })
        .collect();
    let all: Vec<String> = rounds.iter().flatten().cloned().collect();
    let dir = Directory::start(tmp.path(), &all);
    let keys: Vec<Key> = (0..4)
        .map(|i| Key::start(tmp.path().join(format!("k{i}.key")), &[]))
        .collect();
    let mut slots = device_args(&keys);
    slots.extend(strings(&["--recycle", "--yes"]));
    for (r, point) in points.iter().enumerate() {
        let users = &rounds[r];
        let csv = tmp.path().join(format!("users{r}.csv"));
        users_csv(&csv, users);
        let pin_out = tmp.path().join(format!("pins{r}.csv"));
        let journal = tmp.path().join(format!("run{r}.journal"));
        let mut args = strings(&[
            "--csv",
            csv.to_str().unwrap(),
            "--force-pin-change",
            "--pin-out",
            pin_out.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ]);
        args.extend(slots.clone());
        let out = provision_env(&dir, &args, &[("KEYSMITH_FAILPOINT", point)]);
        assert_eq!(
            out.status.code(),
            Some(86),
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        // A user source that disagrees with the plan is refused.
        let other = tmp.path().join(format!("other{r}.csv"));
        users_csv(&other, &users[..39]);
        let mut bad = strings(&["--csv", other.to_str().unwrap()]);
        bad.extend(strings(&[
            "--pin-out",
            pin_out.to_str().unwrap(),
            "--resume",
            journal.to_str().unwrap(),
        ]));
        bad.extend(slots.clone());
        let out = provision(&dir, &bad);
        assert_eq!(out.status.code(), Some(1), "{point}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("disagrees with the journal's plan") && err.contains("39"),
            "{point}: {err}"
        );

        // As README says: the journal and the PIN file, nothing else.
        let mut resume = strings(&[
            "--pin-out",
            pin_out.to_str().unwrap(),
            "--resume",
            journal.to_str().unwrap(),
            "--json",
        ]);
        resume.extend(slots.clone());
        let out = provision(&dir, &resume);
        assert!(
            out.status.success(),
            "{point}: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["total"], 40, "{point}: {summary}");
        let provisioned = summary["provisioned"].as_u64().unwrap();
        let done_before = summary["alreadyDone"].as_u64().unwrap();
        assert_eq!(provisioned + done_before, 40, "{point}: {summary}");
        assert_eq!(summary["failed"], 0, "{point}");
        assert_eq!(summary["skipped"], 0, "{point}");
        match *point {
            "after-plan" => assert_eq!(done_before, 0),
            "after-register@20" | "after-pin-policy-unjournaled@10" => {
                assert!((5..40).contains(&done_before), "{done_before}")
            }
            _ => assert!(done_before >= 30, "{done_before}"),
        }
        for u in users {
            assert_eq!(dir.methods(u).len(), 1, "{point}: {u}");
        }
        // The plan's options were kept: the last key's user must change
        // the PIN (forcePinChange from the first run's command line).
        let info: Value = serde_json::from_str(&run_ok(&[
            "key",
            "info",
            "--device",
            &keys[0].device,
            "--json",
        ]))
        .unwrap();
        assert!(
            info.to_string().contains("\"forcePinChange\":true"),
            "{point}: {info}"
        );
    }

    // A journal of an older version has no plan: resume asks for the users.
    let legacy = tmp.path().join("legacy.journal");
    std::fs::write(
        &legacy,
        "{\"seq\":1,\"at\":\"2026-11-01T00:00:00Z\",\"event\":\"runStarted\",\"runId\":\"x\",\"directory\":\"d\"}\n",
    )
    .unwrap();
    let mut args = strings(&["--resume", legacy.to_str().unwrap(), "--pin-out"]);
    args.push(tmp.path().join("p.csv").to_str().unwrap().to_owned());
    args.extend(slots.clone());
    let out = provision(&dir, &args);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("holds no plan") && err.contains("--csv"),
        "{err}"
    );
}

/// Issue 24: `--check` reports a user at the directory's per-user passkey
/// limit as a blocker, and a real run fails for that user without a second
/// registration.
#[test]
fn check_reports_users_at_the_passkey_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let user = "limit@contoso.com".to_owned();
    let mut dir = Directory::start(tmp.path(), std::slice::from_ref(&user));
    let config = tmp.path().join("serve.toml");
    std::fs::write(&config, "max_passkeys_per_user = 1\n").unwrap();
    dir.restart_with(&["--config", config.to_str().unwrap()]);
    let first = Key::start(tmp.path().join("first.key"), &[]);
    let second = Key::start(tmp.path().join("second.key"), &[]);
    let pin_out = tmp.path().join("pins.csv");
    let args = |key: &Key, extra: &[&str]| {
        let mut a = strings(&["--user", &user, "--device", &key.device]);
        a.extend(strings(extra));
        a
    };
    let out = provision(
        &dir,
        &args(&first, &["--pin-out", pin_out.to_str().unwrap()]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = provision(&dir, &args(&second, &["--check"]));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("BLOCKER") && text.contains("limit per user (1)"),
        "{text}"
    );
    let out = provision(
        &dir,
        &args(&second, &["--pin-out", pin_out.to_str().unwrap(), "--json"]),
    );
    assert!(!out.status.success());
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        summary["outcomes"][0]["error"]
            .as_str()
            .unwrap()
            .contains("max_passkeys_per_user"),
        "{summary}"
    );
    assert_eq!(dir.methods(&user).len(), 1);
}

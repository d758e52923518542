//! The README's newcomer flow for `keysmith key …`, run as a user would:
//! start a virtual key, read its info, set a PIN, force a PIN change, change
//! it, list and delete passkeys, reset — plus the one-line errors.

mod station;

use serde_json::Value;
use station::{open_key, run, run_ok, Key};
use webauthn::graph::PublicKeyCredentialCreationOptions;

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&run_ok(args)).unwrap()
}

/// Puts a discoverable credential for `user` on the key (what a browser
/// would do at a website), through the WebAuthn client layer.
fn make_passkey(device: &str, pin: &str, user: &str) {
    let mut c = open_key(device);
    let options: PublicKeyCredentialCreationOptions = serde_json::from_value(serde_json::json!({
        "rp": { "id": "example.com", "name": "Example" },
        "user": { "id": webauthn::b64::encode(user), "name": user },
        "challenge": webauthn::b64::encode([7u8; 32]),
        "pubKeyCredParams": [{ "type": "public-key", "alg": -7 }],
    }))
    .unwrap();
    client::make_credential(
        &mut c,
        &options,
        &client::RegistrationParams {
            pin: Some(pin),
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn newcomer_flow_on_a_virtual_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key = Key::start(tmp.path().join("key.json"), &[]);
    let dev = key.device.as_str();
    let pin1 = tmp.path().join("pin1");
    let pin2 = tmp.path().join("pin2");
    let wrong = tmp.path().join("wrong");
    std::fs::write(&pin1, "482915\n").unwrap();
    std::fs::write(&pin2, "730146\n").unwrap();
    std::fs::write(&wrong, "999990\n").unwrap();

    let info = json(&["key", "info", "--device", dev, "--json"]);
    assert!(info.to_string().contains("FIDO_2_1"), "{info}");
    assert!(info.to_string().contains("\"clientPin\":false"), "{info}");
    // Human output too.
    assert!(run_ok(&["key", "info", "--device", dev]).contains("AAGUID"));

    run_ok(&[
        "key",
        "pin",
        "set",
        "--device",
        dev,
        "--new-pin-file",
        pin1.to_str().unwrap(),
    ]);
    let retries = json(&["key", "pin", "retries", "--device", dev, "--json"]);
    assert_eq!(retries["retries"], 8, "{retries}");

    // A wrong PIN: one clear line, non-zero exit, one retry gone.
    let out = run(&[
        "key",
        "creds",
        "list",
        "--device",
        dev,
        "--pin-file",
        wrong.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.to_lowercase().contains("pin"), "{err}");
    assert_eq!(
        json(&["key", "pin", "retries", "--device", dev, "--json"])["retries"],
        7
    );

    run_ok(&[
        "key",
        "config",
        "force-pin-change",
        "--device",
        dev,
        "--pin-file",
        pin1.to_str().unwrap(),
    ]);
    assert!(json(&["key", "info", "--device", dev, "--json"])
        .to_string()
        .contains("\"forcePinChange\":true"));
    // Until the PIN is changed, the key refuses to hand out tokens.
    let out = run(&[
        "key",
        "creds",
        "list",
        "--device",
        dev,
        "--pin-file",
        pin1.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    run_ok(&[
        "key",
        "pin",
        "change",
        "--device",
        dev,
        "--pin-file",
        pin1.to_str().unwrap(),
        "--new-pin-file",
        pin2.to_str().unwrap(),
    ]);
    assert!(!json(&["key", "info", "--device", dev, "--json"])
        .to_string()
        .contains("\"forcePinChange\":true"));

    make_passkey(dev, "730146", "alice");
    make_passkey(dev, "730146", "bob");
    let creds = json(&[
        "key",
        "creds",
        "list",
        "--device",
        dev,
        "--pin-file",
        pin2.to_str().unwrap(),
        "--json",
    ]);
    let list = creds
        .as_array()
        .cloned()
        .or_else(|| creds["credentials"].as_array().cloned())
        .unwrap_or_else(|| panic!("{creds}"));
    assert_eq!(list.len(), 2, "{creds}");
    let id = list[0]["credentialId"].as_str().unwrap().to_owned();
    run_ok(&[
        "key",
        "creds",
        "delete",
        &id,
        "--device",
        dev,
        "--pin-file",
        pin2.to_str().unwrap(),
        "--yes",
    ]);
    let after = json(&[
        "key",
        "creds",
        "list",
        "--device",
        dev,
        "--pin-file",
        pin2.to_str().unwrap(),
        "--json",
    ]);
    assert!(!after.to_string().contains(&id), "{after}");

    run_ok(&["key", "wink", "--device", dev]);
    // Reset refuses without confirmation when there is no terminal.
    assert!(!run(&["key", "reset", "--device", dev]).status.success());
    run_ok(&["key", "reset", "--device", dev, "--yes"]);
    assert!(json(&["key", "info", "--device", dev, "--json"])
        .to_string()
        .contains("\"clientPin\":false"));

    // Bad device names are one clear line.
    let out = run(&["key", "info", "--device", "bluetooth"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1
    );
}

//! `keysmith verify registration` end to end: the built binary on corpus
//! vectors (one accepted, one rejected) and on unusable input.

use serde_json::{json, Value};
use std::process::Command;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../webauthn/tests/data/webauthn-vectors"
);

fn vector(id: &str) -> Value {
    let lines = std::fs::read_to_string(format!("{CORPUS}/vectors.jsonl")).unwrap();
    lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no vector {id}"))
}

/// The CLI's input JSON for a registration vector.
fn input_for(v: &Value) -> Value {
    let anchors: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{CORPUS}/trust_anchors.json")).unwrap(),
    )
    .unwrap();
    let pems: Vec<Value> = v["trust_anchor_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| anchors[r.as_str().unwrap()]["pem"].clone())
        .collect();
    json!({
        "challenge": v["challenge"],
        "origin": v["origin"],
        "rp_id": v["rp_id"],
        "client_data_json": v["client_data_json"],
        "attestation_object": v["attestation_object"],
        "policy": v["policy"],
        "verify_at": v["verify_at"],
        "trust_anchors_pem": pems,
    })
}

fn run(input: &str, json_out: bool) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.json");
    std::fs::write(&path, input).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keysmith"));
    cmd.args(["verify", "registration", "--input"]).arg(&path);
    if json_out {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn accepted_vector_exits_zero_with_details() {
    let v = vector("pw-packed-yubikey5-firefox-es256");
    let (code, out) = run(&input_for(&v).to_string(), true);
    assert_eq!(code, 0, "{out}");
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["verdict"], "accepted");
    assert_eq!(out["fmt"], "packed");
    assert_eq!(out["aaguid"], "6d44ba9b-f6ec-2e49-b930-0c8fe920cb73");
    assert_eq!(out["attestationType"], "basic");
    assert_eq!(out["trusted"], true);
    assert!(out["trustPath"][0]
        .as_str()
        .unwrap()
        .contains("Yubico U2F EE Serial 719807075"));

    let (code, text) = run(&input_for(&v).to_string(), false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("verdict:          accepted"), "{text}");
}

#[test]
fn rejected_vector_exits_one_naming_the_check() {
    let v = vector("neg-reg-packed-tampered-attestation-sig");
    let (code, out) = run(&input_for(&v).to_string(), true);
    assert_eq!(code, 1, "{out}");
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["verdict"], "rejected");
    assert_eq!(out["check"], "attestationSignatureInvalid");

    let (code, text) = run(&input_for(&v).to_string(), false);
    assert_eq!(code, 1);
    assert!(
        text.contains("failed check: attestationSignatureInvalid"),
        "{text}"
    );
}

#[test]
fn unusable_input_exits_two() {
    let (code, _) = run("not json", false);
    assert_eq!(code, 2);
    let mut input = input_for(&vector("pw-packed-yubikey5-firefox-es256"));
    input["attestation_object"] = json!("!!!");
    let (code, out) = run(&input.to_string(), true);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unusable"));
    input["attestation_object"] = json!("AA");
    input["trust_anchors_pem"] =
        json!(["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]);
    let (code, _) = run(&input.to_string(), false);
    assert_eq!(code, 2);
}

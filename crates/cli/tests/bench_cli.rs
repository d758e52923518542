//! `keysmith bench server` end to end on a small count, with each load
//! generator: every phase runs (the HTTP phases must get 201 and 200 for
//! every request, or the command fails) and the JSON report is complete.

use serde_json::Value;
use std::process::Command;

#[test]
fn bench_server_runs_every_phase_and_reports_json() {
    bench_with("builtin");
}

/// The same with `wrk` as the load generator (`.ci/run` installs Debian's
/// `wrk`): its script must send each request once and see every answer.
#[test]
fn bench_server_runs_with_wrk_as_the_load_generator() {
    bench_with("wrk");
}

/// The same phases on PostgreSQL (`--database`), when the tests have one.
#[test]
fn bench_server_runs_on_postgres() {
    let Ok(url) = std::env::var("KEYSMITH_TEST_POSTGRES_URL") else {
        return;
    };
    // The shared test database's token signing keys are sealed with the
    // server tests' key-encryption key (crates/server/tests/common).
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("test.kek");
    std::fs::write(&kek, "a2V5c21pdGggdGVzdC1vbmx5IEtFSywgMzIgYnl0ZXM").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let report = bench_run(
        "builtin",
        &["--database", &url, "--kek-file", kek.to_str().unwrap()],
    );
    assert_eq!(report["database"], "postgres", "{report}");
    // The test database is on this host: its processes' CPU is counted.
    if url.contains("127.0.0.1") || url.contains("localhost") {
        for phase in ["httpRegistration", "httpSignIn"] {
            assert!(
                report["databaseCpuMicrosPerOp"][phase].is_number(),
                "{report}"
            );
        }
    }
}

fn bench_with(generator: &str) {
    let report = bench_run(generator, &[]);
    assert_eq!(report["database"], "sqlite", "{report}");
    for phase in ["httpRegistration", "httpSignIn"] {
        // SQLite works in the bench's own process: nothing else to count.
        assert!(
            report["databaseCpuMicrosPerOp"][phase].is_null(),
            "{report}"
        );
        let ceiling = report["everyCoreBusyPerSec"][phase].as_f64().unwrap();
        let busy = report["coresBusy"][phase].as_f64().unwrap();
        assert!(ceiling > 0.0 && busy > 0.0, "{report}");
    }
}

fn bench_run(generator: &str, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_keysmith"))
        .args(["bench", "server", "--count", "24", "--connections", "4"])
        .args(["--threads", "2", "--seconds", "0.2", "--json"])
        .args(["--load-generator", generator])
        .args(extra)
        .env_remove("KEYSMITH_KEK")
        // One exported for `keysmith serve` must not stop a bench on its
        // own SQLite (the variable is read only with --database).
        .env("KEYSMITH_KEK_FILE", "/nonexistent/keysmith.kek")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["count"], 24);
    assert_eq!(report["connections"], 4);
    assert_eq!(report["loadGenerator"], generator);
    assert_eq!(report["rawEs256VerifyBackend"], "aws-lc-rs");
    for rate in [
        "rawEs256VerifyPerSec",
        "rawEs256VerifyRustCryptoP256PerSec",
        "verifierRegistrationsPerSec",
        "httpRegistrationsPerSec",
        "httpSignInsPerSec",
    ] {
        assert!(report[rate].as_f64().unwrap() > 0.0, "{rate}: {report}");
    }
    for phase in ["httpRegistration", "httpSignIn"] {
        let b = report["writesPerCommit"][phase].as_f64().unwrap();
        assert!(b >= 1.0, "{phase}: {report}");
    }
    for ratio in ["verifierRegistration", "httpRegistration", "httpSignIn"] {
        let r = report["ratios"][ratio].as_f64().unwrap();
        assert!(r > 0.0 && r.is_finite(), "{ratio}: {report}");
    }
    // Progress goes to stderr, one line per phase.
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains("timing HTTP registrations"), "{progress}");
    assert!(progress.contains("timing HTTP sign-ins"), "{progress}");
    report
}

/// Values that would divide by zero or make a negative duration are
/// refused up front with a clear message, not a panic.
#[test]
fn bench_server_refuses_unusable_arguments() {
    for args in [
        ["--count", "0"],
        ["--connections", "0"],
        ["--threads", "0"],
        ["--seconds", "0"],
        ["--seconds=-1", "--json"],
        ["--seconds", "nan"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_keysmith"))
            .args(["bench", "server"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("at least 1") || stderr.contains("above 0"),
            "{args:?}: {stderr}"
        );
    }
}

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../webauthn/tests/data/webauthn-vectors"
);

/// `bench verify` verifies each default corpus registration (packed x5c,
/// TPM, none) before timing it and reports a warm and a cold rate for
/// each, and raw ES256 on the packed record's attestation signature.
#[test]
fn bench_verify_reports_every_default_record() {
    let out = Command::new(env!("CARGO_BIN_EXE_keysmith"))
        .args([
            "bench",
            "verify",
            "--seconds",
            "0.02",
            "--json",
            "--corpus",
            CORPUS,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["registrations"].as_array().unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["vector"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "pw-packed-yubikey5-firefox-es256",
            "pw-tpm-dell-xps-13",
            "pw-none-chrome-localhost"
        ]
    );
    for r in rows {
        assert!(r["warmPerSec"].as_u64().unwrap() > 0, "{r}");
        assert!(r["coldPerSec"].as_u64().unwrap() > 0, "{r}");
    }
    // The TPM capture's certificates expired in 2025: it is verified at the
    // clock py_webauthn's recorded verdict used.
    assert_eq!(rows[1]["at"], "2021-06-21T23:53:40Z");
    assert_eq!(v["rawEs256"]["vector"], "pw-packed-yubikey5-firefox-es256");
    assert!(v["rawEs256"]["awsLcRsPerSec"].as_u64().unwrap() > 0);
}

/// An unknown record, a record that fails verification and a missing
/// corpus are each one clear line and a failure, before anything is timed.
#[test]
fn bench_verify_refuses_what_it_cannot_measure() {
    for (args, expected) in [
        (
            vec!["--vector", "no-such-record"],
            "no record \"no-such-record\"",
        ),
        (
            vec!["--vector", "neg-reg-wrong-origin"],
            "Keysmith refuses neg-reg-wrong-origin",
        ),
        (
            vec!["--corpus", "/nonexistent"],
            "cannot read /nonexistent/trust_anchors.json",
        ),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keysmith"));
        cmd.args(["bench", "verify", "--seconds", "0.01"]);
        if !args.contains(&"--corpus") {
            cmd.args(["--corpus", CORPUS]);
        }
        let out = cmd.args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// A record without a packed ES256 attestation (here the TPM one, whose
/// statement signs certInfo with RSA) is measured without a raw ES256
/// figure, rather than failing on a signature over the wrong bytes.
#[test]
fn bench_verify_takes_a_record_without_packed_es256_alone() {
    let out = Command::new(env!("CARGO_BIN_EXE_keysmith"))
        .args([
            "bench",
            "verify",
            "--seconds",
            "0.02",
            "--json",
            "--corpus",
            CORPUS,
        ])
        .args(["--vector", "pw-tpm-dell-xps-13"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["registrations"][0]["vector"], "pw-tpm-dell-xps-13");
    assert!(v["rawEs256"].is_null(), "{v}");
}

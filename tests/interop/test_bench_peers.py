"""Smoke test of scripts/bench-peers: it installs and runs every peer on the
corpus registrations and reports a rate for each (not a timed test: the
figures are only required to exist)."""

import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bench_peers_runs_every_peer_on_every_record():
    env = dict(os.environ, KEYSMITH_BIN=os.environ["KEYSMITH_BIN"])
    out = subprocess.run(
        [os.path.join(ROOT, "scripts", "bench-peers"), "--seconds", "0.05", "--rounds", "1", "--json"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [r["vector"] for r in report["registrations"]] == [
        "pw-packed-yubikey5-firefox-es256", "pw-tpm-dell-xps-13", "pw-none-chrome-localhost"]
    for row in report["registrations"]:
        assert "peerErrors" not in row, row
        for field in ("keysmithWarmPerSec", "keysmithColdPerSec", "pyWebauthnPerSec", "simpleWebauthnPerSec"):
            assert row[field] > 0, (row["vector"], field)
    raw = report["rawEs256"]
    assert raw["vector"] == "pw-packed-yubikey5-firefox-es256"
    for field in ("awsLcRsPerSec", "openSslPerSec", "rustCryptoP256PerSec"):
        assert raw[field] > 0, field


def test_bench_peers_names_an_unknown_record():
    out = subprocess.run(
        [os.path.join(ROOT, "scripts", "bench-peers"), "--seconds", "0.05", "--rounds", "1",
         "--vector", "no-such-record"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode != 0
    assert "no record \"no-such-record\" in the corpus" in out.stderr

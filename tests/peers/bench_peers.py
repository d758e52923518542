"""Keysmith's WebAuthn verifier beside its peers, in one run, on the same
corpus registrations: Keysmith (`keysmith bench verify`, path cache warm
and cold), py_webauthn (Python), SimpleWebAuthn (Node), and raw ES256
verification of the same attestation signature on aws-lc-rs, RustCrypto
and OpenSSL. Every figure is one thread; each implementation runs in its
own process, the order rotating from round to round; the table gives the
median of the rounds and ratios to py_webauthn. Run it through
scripts/bench-peers, which installs the peers first."""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_VECTORS = [
    "pw-packed-yubikey5-firefox-es256",  # YubiKey 5, packed x5c, chain to Yubico's root
    "pw-tpm-dell-xps-13",  # Windows Hello TPM, RS256, chain to Microsoft's TPM root
    "pw-none-chrome-localhost",  # Chrome, none attestation
]


def run_json(cmd, cwd=None):
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench-peers: {' '.join(cmd[:2])} failed: {out.stderr.strip() or out.stdout.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--keysmith", required=True, help="the keysmith binary (a release build for real figures)")
    ap.add_argument("--python", default=sys.executable, help="the Python with py_webauthn installed")
    ap.add_argument("--corpus", default=os.path.join(ROOT, "crates/webauthn/tests/data/webauthn-vectors"))
    ap.add_argument("--vector", action="append", help="a registration id of the corpus (repeatable)")
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds per figure (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported (default 3)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    if a.rounds < 1 or a.seconds <= 0:
        sys.exit("bench-peers: --rounds must be at least 1 and --seconds above 0")
    vectors = a.vector or DEFAULT_VECTORS
    common = ["--corpus", a.corpus, "--seconds", str(a.seconds)]
    for v in vectors:
        common += ["--vector", v]
    runners = {
        "keysmith": lambda: run_json([a.keysmith, "bench", "verify", "--json"] + common),
        "py_webauthn": lambda: run_json([a.python, os.path.join(HERE, "py_peers.py")] + common),
        "SimpleWebAuthn": lambda: run_json(["node", os.path.join(HERE, "simplewebauthn.mjs")] + common, cwd=HERE),
    }
    names = list(runners)
    results = {n: [] for n in names}
    for r in range(a.rounds):
        for n in names[r % len(names):] + names[: r % len(names)]:
            if not a.json:
                print(f"round {r + 1}/{a.rounds}: {n}", file=sys.stderr)
            results[n].append(runners[n]())

    def median(name, vector, field):
        xs = []
        for report in results[name]:
            for row in report["registrations"]:
                if row["vector"] == vector and field in row:
                    xs.append(row[field])
        return statistics.median(xs) if xs else None

    def error(name, vector):
        for row in results[name][-1]["registrations"]:
            if row["vector"] == vector and "error" in row:
                return row["error"]
        return None

    def ratio(x, y):
        return round(x / y, 2) if x and y else None

    rows = []
    for v in vectors:
        row = {
            "vector": v,
            "keysmithWarmPerSec": median("keysmith", v, "warmPerSec"),
            "keysmithColdPerSec": median("keysmith", v, "coldPerSec"),
            "pyWebauthnPerSec": median("py_webauthn", v, "perSec"),
            "simpleWebauthnPerSec": median("SimpleWebAuthn", v, "perSec"),
        }
        row["warmOverPyWebauthn"] = ratio(row["keysmithWarmPerSec"], row["pyWebauthnPerSec"])
        row["coldOverPyWebauthn"] = ratio(row["keysmithColdPerSec"], row["pyWebauthnPerSec"])
        row["coldOverSimpleWebauthn"] = ratio(row["keysmithColdPerSec"], row["simpleWebauthnPerSec"])
        for name in ("py_webauthn", "SimpleWebAuthn"):
            if e := error(name, v):
                row.setdefault("peerErrors", {})[name] = e
        rows.append(row)

    def raw_median(name, section, field):
        xs = [rep[section][field] for rep in results[name] if rep.get(section)]
        return statistics.median(xs) if xs else None

    raw = {
        "vector": (results["keysmith"][0].get("rawEs256") or {}).get("vector"),
        "awsLcRsPerSec": raw_median("keysmith", "rawEs256", "awsLcRsPerSec"),
        "rustCryptoP256PerSec": raw_median("keysmith", "rawEs256", "rustCryptoP256PerSec"),
        "openSslPerSec": raw_median("py_webauthn", "rawEs256OpenSsl", "perSec"),
    }
    raw["awsLcRsOverOpenSsl"] = ratio(raw["awsLcRsPerSec"], raw["openSslPerSec"])
    report = {
        "threads": 1,
        "seconds": a.seconds,
        "rounds": a.rounds,
        "versions": {
            "py_webauthn": results["py_webauthn"][0].get("version"),
            "openssl": results["py_webauthn"][0].get("opensslVersion"),
            "SimpleWebAuthn": results["SimpleWebAuthn"][0].get("version"),
            "node": results["SimpleWebAuthn"][0].get("node"),
        },
        "registrations": rows,
        "rawEs256": raw,
    }
    if a.json:
        print(json.dumps(report))
        return
    fmt = lambda x: "-" if x is None else f"{x:,.0f}"  # noqa: E731
    rat = lambda x: "-" if x is None else f"{x:.2f}x"  # noqa: E731
    print(f"registrations verified per second, one thread, median of {a.rounds} round(s) of {a.seconds} s")
    print(f"{'record':<34} {'Keysmith warm':>13} {'cold':>8} {'py_webauthn':>11} {'SimpleWebAuthn':>14}"
          f" {'warm/py':>8} {'cold/py':>8}")
    for r in rows:
        print(f"{r['vector']:<34} {fmt(r['keysmithWarmPerSec']):>13} {fmt(r['keysmithColdPerSec']):>8}"
              f" {fmt(r['pyWebauthnPerSec']):>11} {fmt(r['simpleWebauthnPerSec']):>14}"
              f" {rat(r['warmOverPyWebauthn']):>8} {rat(r['coldOverPyWebauthn']):>8}")
        for name, e in (r.get("peerErrors") or {}).items():
            print(f"  {name} refused it: {e}")
    print(f"raw ES256 verify of {raw['vector']}'s attestation signature: aws-lc-rs {fmt(raw['awsLcRsPerSec'])}/s,"
          f" OpenSSL {fmt(raw['openSslPerSec'])}/s ({rat(raw['awsLcRsOverOpenSsl'])}),"
          f" RustCrypto p256 {fmt(raw['rustCryptoP256PerSec'])}/s")
    v = report["versions"]
    print(f"peers: py_webauthn {v['py_webauthn']} on {v['openssl']}; SimpleWebAuthn {v['SimpleWebAuthn']} on Node {v['node']}")


if __name__ == "__main__":
    main()

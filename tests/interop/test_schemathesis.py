"""schemathesis, an OpenAPI conformance fuzzer no one here wrote, against
a fresh `keysmith serve` and the document it serves (`/openapi.json`).

Every phase runs (examples, coverage, fuzzing, stateful) with every check,
bounded in examples per operation; any failure fails the test: a 5xx, a
response that breaks the document (status, body, headers), a request the
document allows that the server refuses, or one it forbids that the
server takes. `schemathesis.toml` (next to this file) loads the
strategies for the formats the document declares beyond JSON Schema's
own (OData query options) and states its one exception.

`KEYSMITH_SCHEMATHESIS_EXAMPLES` and `KEYSMITH_SCHEMATHESIS_SEED` widen or
vary a run (defaults: 15 examples, seed 1, so that CI is repeatable).
"""

import json
import os
import re
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

from udp_hid import keysmith_binary

HERE = Path(__file__).resolve().parent
SCHEMATHESIS = Path(os.environ.get("VIRTUAL_ENV", HERE.parents[1] / ".venv")) / "bin" / "schemathesis"
# Every permission the API has: each operation is reached, not refused.
ROLES = ",".join([
    "UserAuthenticationMethod.ReadWrite.All", "User.ReadWrite.All", "Group.ReadWrite.All",
    "Policy.ReadWrite.AuthenticationMethod", "AuditLog.Read.All",
])


def admin(data, *args):
    out = subprocess.run([keysmith_binary(), "admin", "--data-dir", str(data), "--json", *args],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def token(url, app):
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": app["clientId"],
        "client_secret": app["clientSecret"], "scope": "https://graph.microsoft.com/.default",
    }).encode()
    with urllib.request.urlopen(f"{url}/contoso/oauth2/v2.0/token", form) as r:
        return json.load(r)["access_token"]


def test_schemathesis_finds_no_failure(tmp_path):
    data = tmp_path / "data"
    admin(data, "tenant", "create", "contoso", "--rp-id", "login.contoso.com")
    app = admin(data, "app", "create", "--tenant", "contoso", "--name", "schemathesis", "--roles", ROLES)
    # One caller sends every request: limits meant for strangers are off.
    proc = subprocess.Popen([keysmith_binary(), "serve", "--data-dir", str(data), "--listen", "127.0.0.1:0",
                             "--set", "rate_limits.enabled=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), "keysmith serve did not start"
        run = subprocess.run(
            [str(SCHEMATHESIS), "--no-color", "--config-file", "schemathesis.toml", "run", f"{url}/openapi.json",
             "-H", f"Authorization: Bearer {token(url, app)}",
             "--max-examples", os.environ.get("KEYSMITH_SCHEMATHESIS_EXAMPLES", "15"),
             "--seed", os.environ.get("KEYSMITH_SCHEMATHESIS_SEED", "1"),
             # One worker: CPython 3.11 can fail building an AST in a
             # thread while another thread does (gh-106905), which
             # schemathesis's workers then report as a runtime error.
             "--workers", "1", "--report-dir", str(tmp_path / "report")],
            cwd=HERE, capture_output=True, text=True, timeout=900)
    finally:
        proc.kill()
        proc.wait()
    summary = run.stdout[run.stdout.rfind("SUMMARY"):] if "SUMMARY" in run.stdout else run.stdout[-3000:]
    assert run.returncode == 0, f"schemathesis failed ({run.returncode}):\n{run.stdout[-20000:]}\n{run.stderr[-3000:]}"
    # It tested every operation of the document: none left out or broken.
    selected = re.search(r"Selected: (\d+)/(\d+)", summary)
    tested = re.search(r"Tested: (\d+)", summary)
    assert selected and tested, summary
    assert int(selected[1]) == int(selected[2]) == int(tested[1]) > 40, summary

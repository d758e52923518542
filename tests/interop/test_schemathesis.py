"""schemathesis, an OpenAPI conformance fuzzer no one here wrote, against
a fresh `keysmith serve` and the document it serves (`/openapi.json`), on
SQLite and, when `KEYSMITH_TEST_POSTGRES_URL` is set, on PostgreSQL (in a
tenant of its own).

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
import uuid
from pathlib import Path

import pytest

from udp_hid import keysmith_binary

HERE = Path(__file__).resolve().parent
SCHEMATHESIS = Path(os.environ.get("VIRTUAL_ENV", HERE.parents[1] / ".venv")) / "bin" / "schemathesis"
# Every permission the API has: each operation is reached, not refused.
ROLES = ",".join([
    "UserAuthenticationMethod.ReadWrite.All", "User.ReadWrite.All", "Group.ReadWrite.All",
    "Policy.ReadWrite.AuthenticationMethod", "AuditLog.Read.All",
])


# The server tests' key-encryption key (crates/server/tests/common): the
# shared PostgreSQL test database's signing keys are sealed with it.
TEST_KEK = "a2V5c21pdGggdGVzdC1vbmx5IEtFSywgMzIgYnl0ZXM"


def token(url, tenant, app):
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": app["clientId"],
        "client_secret": app["clientSecret"], "scope": "https://graph.microsoft.com/.default",
    }).encode()
    with urllib.request.urlopen(f"{url}/{tenant}/oauth2/v2.0/token", form) as r:
        return json.load(r)["access_token"]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_schemathesis_finds_no_failure(tmp_path, database):
    if database == "sqlite":
        store = ["--data-dir", str(tmp_path / "data")]
        tenant = "contoso"
    else:
        database_url = os.environ.get("KEYSMITH_TEST_POSTGRES_URL")
        if not database_url:
            pytest.skip("KEYSMITH_TEST_POSTGRES_URL is not set")
        kek = tmp_path / "test.kek"
        kek.write_text(TEST_KEK)
        kek.chmod(0o600)
        store = ["--database", database_url, "--kek-file", str(kek)]
        # A tenant of its own in the shared database.
        tenant = f"st-{uuid.uuid4().hex[:12]}"

    def admin(*args):
        out = subprocess.run([keysmith_binary(), "admin", *store, "--json", *args],
                             check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    admin("tenant", "create", tenant, "--rp-id", "login.contoso.com")
    app = admin("app", "create", "--tenant", tenant, "--name", "schemathesis", "--roles", ROLES)
    # One caller sends every request: limits meant for strangers are off.
    proc = subprocess.Popen([keysmith_binary(), "serve", *store, "--listen", "127.0.0.1:0",
                             "--set", "rate_limits.enabled=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), "keysmith serve did not start"
        run = subprocess.run(
            [str(SCHEMATHESIS), "--no-color", "--config-file", "schemathesis.toml", "run", f"{url}/openapi.json",
             "-H", f"Authorization: Bearer {token(url, tenant, app)}",
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

"""`keysmith provision --graph` and `keysmith deprovision --graph` with
default options against the Entra stand-in (entra_standin.py): one user
(the recorded real creationOptions answer, as is), a CSV on several keys at
once, a paged group, a run killed with SIGKILL and resumed, and removal.
Every registration is verified by py_webauthn inside the stand-in."""

import base64
import csv
import json
import signal
import subprocess
import time

import pytest

from entra_standin import CLIENT_ID, CLIENT_SECRET, REAL_OPTIONS, TENANT, EntraStandIn
from udp_hid import VirtualKey, keysmith_binary


@pytest.fixture
def keys():
    made = []

    def make(n):
        new = [VirtualKey() for _ in range(n)]
        made.extend(new)
        return new

    yield make
    for k in made:
        k.close()


@pytest.fixture
def workdir(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(CLIENT_SECRET + "\n")
    secret.chmod(0o600)
    return tmp_path


def standin_for(keys_, users, **kw):
    roots = {k.root_pem() for k in keys_}
    return EntraStandIn(list(roots), users=users, **kw).start()


def graph_args(standin, workdir):
    # Only the base URL and token source differ from a real Entra run.
    return ["--graph-url", f"{standin.url}/beta",
            "--token-url", f"{standin.url}/{TENANT}/oauth2/v2.0/token",
            "--tenant", TENANT, "--client-id", CLIENT_ID,
            "--client-secret-file", str(workdir / "secret.txt")]


def devices(keys_):
    out = []
    for k in keys_:
        out += ["--device", k.address]
    return out


def provision(standin, workdir, *extra, check=True):
    cmd = [keysmith_binary(), "provision", *graph_args(standin, workdir), *extra, "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if check:
        assert r.returncode == 0, f"{r.stderr}\n{r.stdout}"
    return r


def assert_registered_once(standin, upns):
    for upn in upns:
        methods = standin.methods_of(upn)
        assert len(methods) == 1, f"{upn}: {methods}"
        name = methods[0]["displayName"]
        assert 1 <= len(name) <= 30, name


def test_one_user_on_the_real_recorded_creation_options(keys, workdir):
    (key,) = keys(1)
    standin = standin_for([key], [("john@contoso.com", "John Doe")], throttle_every=2)
    try:
        r = provision(standin, workdir, "--user", "john@contoso.com", *devices([key]),
                      "--pin-out", str(workdir / "pins.csv"))
        summary = json.loads(r.stdout)
        assert summary["provisioned"] == 1, summary
        assert_registered_once(standin, ["john@contoso.com"])
        # The method id came back in UrlTokenEncode form and the client
        # kept it as it was (opaque).
        method = standin.methods_of("john@contoso.com")[0]
        assert method["id"][-1] in "012"
        assert summary["outcomes"][0]["methodId"] == method["id"]
        # The outcome carries the name Graph answered (§8: ≤ 30 chars).
        assert summary["outcomes"][0]["displayName"] == method["displayName"]
        # 429s were answered and retried.
        assert standin.throttled >= 1
        # The client used the recorded answer as is: its challenge, its
        # 51-byte "OF:" handle and Microsoft's RP.
        real = json.loads(REAL_OPTIONS.read_text())["publicKey"]
        assert standin.find_user("john@contoso.com").handle == base64.urlsafe_b64decode(real["user"]["id"] + "==")
        assert real["challenge"] not in standin.challenges, "the real challenge was used up"
        # Nothing was refused (no 400 for names, bodies or attestation).
        assert [x for x in standin.refusals if x[0] != 429] == []
    finally:
        standin.close()


def test_csv_on_three_keys_at_once_then_deprovision(keys, workdir):
    ks = keys(3)
    users = [(f"user{i}@contoso.com", f"User Number {i} With A Rather Long Display Name") for i in range(3)]
    standin = standin_for(ks, users)
    try:
        table = workdir / "users.csv"
        with table.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["userPrincipalName"])
            for upn, _ in users:
                w.writerow([upn])
        provision(standin, workdir, "--csv", str(table), *devices(ks), "--pin-out", str(workdir / "pins.csv"))
        upns = [u for u, _ in users]
        assert_registered_once(standin, upns)
        assert [x for x in standin.refusals if x[0] != 429] == []

        # The same user again on a key that holds their credential: the
        # exclude list (in Entra's encodings) makes the key refuse.
        pins = {row["userPrincipalName"]: row for row in csv.DictReader((workdir / "pins.csv").open())}
        assert set(pins) >= set(upns), pins

        # Deprovision every user's passkeys through Graph.
        r = subprocess.run([keysmith_binary(), "deprovision", *graph_args(standin, workdir),
                            "--csv", str(table), "--all", "--yes", "--json"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        for upn in upns:
            assert standin.methods_of(upn) == [], upn
    finally:
        standin.close()


def test_a_paged_group(keys, workdir):
    ks = keys(4)
    users = [(f"g{i}@contoso.com", f"G {i}") for i in range(4)]
    standin = standin_for(ks, users, groups={"Passkey Users": [u for u, _ in users]}, page_size=3)
    try:
        provision(standin, workdir, "--group", standin.group_id("Passkey Users"), *devices(ks),
                  "--pin-out", str(workdir / "pins.csv"))
        assert_registered_once(standin, [u for u, _ in users])
        assert any("$skiptoken=3" in r for r in standin.requests), standin.requests
    finally:
        standin.close()


def test_killed_mid_registration_and_resumed(keys, workdir):
    ks = keys(3)
    users = [(f"r{i}@contoso.com", f"R {i}") for i in range(3)]
    standin = standin_for(ks, users, throttle_every=0)
    table = workdir / "users.csv"
    table.write_text("userPrincipalName\n" + "\n".join(u for u, _ in users) + "\n")
    journal = workdir / "run.journal"
    pins = workdir / "pins.csv"
    try:
        # Hold each registration long enough to kill the client in the middle.
        standin.register_delay = 2.0
        cmd = [keysmith_binary(), "provision", *graph_args(standin, workdir), "--csv", str(table),
               *devices(ks), "--pin-out", str(pins), "--journal", str(journal), "--json"]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while standin.registers_started == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert standin.registers_started > 0, "no registration started"
        p.send_signal(signal.SIGKILL)
        p.wait()
        standin.register_delay = 0.0
        time.sleep(2.5)  # let the held registrations finish on the stand-in

        r = provision(standin, workdir, "--csv", str(table), *devices(ks), "--pin-out", str(pins),
                      "--resume", str(journal))
        assert_registered_once(standin, [u for u, _ in users])
        summary = json.loads(r.stdout)
        assert summary["failed"] == 0, summary
    finally:
        standin.close()


def test_exclude_list_in_each_of_entras_encodings(keys, workdir):
    """One user, three keys: each key gets a passkey, so the user's
    excludeCredentials hold one id in each of Entra's three encodings
    (standard padded base64, UrlTokenEncode, base64url). Offering the user
    again on each key, the client must decode that key's id and the key
    must refuse: no second credential, no second registration."""
    ks = keys(3)
    standin = standin_for(ks, [("multi@contoso.com", "Multi Key")], throttle_every=0)
    try:
        for i, k in enumerate(ks):
            provision(standin, workdir, "--user", "multi@contoso.com", "--device", k.address,
                      "--pin-out", str(workdir / f"pins{i}.csv"))
        assert len(standin.methods_of("multi@contoso.com")) == 3
        for i, k in enumerate(ks):
            pin = next(csv.DictReader((workdir / f"pins{i}.csv").open()))["pin"]
            pin_file = workdir / f"pin{i}.txt"
            pin_file.write_text(pin + "\n")
            pin_file.chmod(0o600)
            r = provision(standin, workdir, "--user", "multi@contoso.com", "--device", k.address,
                          "--current-pin-file", str(pin_file), check=False)
            assert r.returncode != 0, f"key {i}: {r.stdout}"
            summary = json.loads(r.stdout)
            assert summary["outcomes"][0]["errorKind"] == "alreadyProvisioned", (i, summary)
        assert len(standin.methods_of("multi@contoso.com")) == 3
    finally:
        standin.close()

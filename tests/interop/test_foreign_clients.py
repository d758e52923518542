"""Issue 28, stage 5: the public Entra provisioning tools, replayed against
Keysmith unchanged but for the host (foreign_clients.py names the source
of each behaviour). Each replica provisions its users through `keysmith
serve` with python-fido2 on a `keysmith virtual-key`; each passkey is
then listed by the directory and used to sign in."""

import json
import subprocess

import pytest
import requests

import foreign_clients as fc
from udp_hid import VirtualKey, keysmith_binary

RP_ID = "login.example.com"
TENANT = "contoso"
ROLES = ("UserAuthenticationMethod.ReadWrite.All,User.ReadWrite.All,Group.ReadWrite.All,"
         "Policy.ReadWrite.AuthenticationMethod")


def admin(data, *args):
    out = subprocess.run([keysmith_binary(), "admin", "--data-dir", str(data), "--json", *args],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


class Directory:
    def __init__(self, base, app, model_dir):
        self.base = base
        self.graph = base
        self.token_url = f"{base}/{TENANT}/oauth2/v2.0/token"
        self.app = app
        self.model_dir = model_dir
        self.keys = []

    def token(self):
        r = fc.client_credentials(self.token_url, self.app["clientId"], self.app["clientSecret"])
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def create_user(self, upn, name):
        r = requests.post(f"{self.graph}/v1.0/users", headers={"Authorization": f"Bearer {self.token()}"},
                          json={"userPrincipalName": upn, "displayName": name})
        assert r.status_code == 201, r.text
        return r.json()

    def key(self):
        """A fresh virtual key of the one model the server trusts, PIN set."""
        from fido2.ctap2 import Ctap2
        from fido2.ctap2.pin import ClientPin
        k = VirtualKey("--model-dir", str(self.model_dir))
        self.keys.append(k)
        device = k.device()
        ClientPin(Ctap2(device)).set_pin(fc.PIN)
        return device

    def methods(self, user):
        r = requests.get(f"{self.graph}/v1.0/users/{user}/authentication/fido2Methods",
                         headers={"Authorization": f"Bearer {self.token()}"})
        assert r.status_code == 200, r.text
        return r.json()["value"]


@pytest.fixture
def directory(tmp_path):
    data = tmp_path / "data"
    model = tmp_path / "model"
    model.mkdir()
    probe = VirtualKey("--model-dir", str(model))
    root = tmp_path / "root.pem"
    root.write_bytes(probe.root_pem())
    probe.close()
    config = tmp_path / "keysmith.toml"
    config.write_text(f'trust_anchors_pem = ["{root}"]\n'
                      '[models]\n"4b657973-6d69-4e68-a000-766b65790001" = "Keysmith Virtual Key"\n')
    admin(data, "tenant", "create", TENANT, "--rp-id", RP_ID)
    app = admin(data, "app", "create", "--tenant", TENANT, "--name", "foreign-tools", "--roles", ROLES)
    proc = subprocess.Popen([keysmith_binary(), "serve", "--config", str(config), "--data-dir", str(data),
                             "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://"), proc.stderr.read()
    d = Directory(url, app, model)
    yield d
    for k in d.keys:
        k.close()
    proc.kill()
    proc.wait()


def check(d, outcome, device, expected_name):
    """The directory lists the passkey with its attested model, and it
    signs the user in."""
    method = outcome.method
    assert method["displayName"] == expected_name
    assert method["attestationLevel"] == "attested"
    assert method["model"] == "Keysmith Virtual Key"
    listed = d.methods(outcome.upn)
    assert [m["id"] for m in listed] == [method["id"]]
    signed = fc.sign_in(d.base, TENANT, outcome.upn, device, RP_ID)
    assert signed["user"]["userPrincipalName"] == outcome.upn
    assert signed["method"]["id"] == method["id"]


def test_yubicos_bulk_sample_provisions_its_group(directory):
    d = directory
    wanted = []
    for i in range(3):
        wanted.append(d.create_user(f"pilot{i}@example.com", f"Pilot {i}")["userPrincipalName"])
    d.create_user("other@example.com", "Not in the group")
    token = d.token()
    auth = {"Authorization": f"Bearer {token}"}
    # A group with a longer name that starts the same: only the exact one counts.
    for name in ["Passkey Users Pilot", "Passkey Users"]:
        r = requests.post(f"{d.graph}/v1.0/groups", headers=auth, json={"displayName": name})
        assert r.status_code == 201, r.text
        group = r.json()["id"]
    for upn in wanted:
        user = requests.get(f"{d.graph}/v1.0/users/{upn}", headers=auth).json()
        r = requests.post(f"{d.graph}/v1.0/groups/{group}/members/$ref", headers=auth,
                          json={"@odata.id": f"https://graph.microsoft.com/v1.0/users/{user['id']}"})
        assert r.status_code == 204, r.text
    devices = [d.key() for _ in wanted]
    outcomes = fc.yubico_sample(d.graph, d.token_url, d.app["clientId"], d.app["clientSecret"],
                                "Passkey Users", devices, RP_ID)
    assert sorted(o.upn for o in outcomes) == sorted(wanted)
    assert d.methods("other@example.com") == []
    by_upn = dict(zip([o.upn for o in outcomes], devices))
    for o in outcomes:
        assert o.method["displayName"].startswith("Serial: 1234567 ")
        check(d, o, by_upn[o.upn], o.method["displayName"])


def test_dsinternals_passkeys(directory):
    d = directory
    d.create_user("adele@example.com", "Adele Vance")
    device = d.key()
    o = fc.dsinternals(d.graph, d.token(), "adele@example.com", device, "YubiKey 5 Nano")
    check(d, o, device, "YubiKey 5 Nano")


def test_powershellyk_and_entrayk_standard_base64(directory):
    d = directory
    d.create_user("lee@example.com", "Lee Gu")
    device = d.key()
    o = fc.powershell_yk(d.graph, d.token(), "lee@example.com", device, "YubiKey of Lee")
    check(d, o, device, "YubiKey of Lee")


def test_token2_bulk_tool(directory):
    d = directory
    d.create_user("megan@example.com", "Megan Bowen")
    device = d.key()
    o = fc.token2(d.graph, d.token(), "megan@example.com", device)
    check(d, o, device, "Token2 key")


def test_keyenroll_cuts_names_to_30(directory):
    d = directory
    d.create_user("nestor@example.com", "Nestor Wilke")
    device = d.key()
    long_name = "YubiKey 5 NFC serial 12345678 for Nestor Wilke"
    o = fc.key_enroll(d.graph, d.token(), "nestor@example.com", device, long_name)
    # The cut ends in a space, which the directory trims (as every name).
    check(d, o, device, long_name[:30].strip())


def test_graph_go_sdk_url_template(directory):
    d = directory
    user = d.create_user("patti@example.com", "Patti Fernandez")
    device = d.key()
    o = fc.go_sdk(d.graph, d.token(), user["id"], "patti@example.com", device)
    check(d, o, device, "Go SDK key")

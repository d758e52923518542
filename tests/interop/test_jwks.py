"""Keysmith's app tokens checked by an independent implementation: the
`cryptography` package (OpenSSL) verifies an access token's ES256
signature against the key published at `/{tenant}/discovery/v2.0/keys`
(Entra's JWKS path), and the discovery document points at it. Also after
`keysmith admin signing-key rotate`: both keys are published and each
token verifies under its own `kid`."""

import base64
import json
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from udp_hid import keysmith_binary


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def admin(data, *args):
    out = subprocess.run([keysmith_binary(), "admin", "--data-dir", str(data), "--json", *args],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


@pytest.fixture
def server(tmp_path):
    data = tmp_path / "data"
    admin(data, "tenant", "create", "contoso", "--rp-id", "login.contoso.com")
    app = admin(data, "app", "create", "--tenant", "contoso", "--name", "jwks",
                "--roles", "User.Read.All")
    proc = subprocess.Popen([keysmith_binary(), "serve", "--data-dir", str(data), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://"), proc.stderr.read()
    yield url, app, data
    proc.kill()
    proc.wait()


def get_json(url):
    with urllib.request.urlopen(url) as r:
        return json.load(r)


def token(url, app):
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": app["clientId"],
        "client_secret": app["clientSecret"], "scope": "https://graph.microsoft.com/.default",
    }).encode()
    with urllib.request.urlopen(f"{url}/contoso/oauth2/v2.0/token", data=form) as r:
        return json.load(r)["access_token"]


def verify(jwt: str, jwks: dict) -> dict:
    """RFC 7515 §5.2 with RFC 7518 §3.4 (ES256: r‖s, 32 bytes each)."""
    head, body, sig = jwt.split(".")
    header = json.loads(unb64(head))
    assert header["alg"] == "ES256" and header["typ"] == "JWT"
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "P-256", "ES256")
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(unb64(jwk["x"]), "big"), int.from_bytes(unb64(jwk["y"]), "big"), ec.SECP256R1()
    ).public_key()
    raw = unb64(sig)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    # Low-S (RFC 8725's advice against malleability; Keysmith signs so).
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    assert int.from_bytes(raw[32:], "big") <= n // 2
    return json.loads(unb64(body))


def test_tokens_verify_against_the_published_keys(server):
    url, app, data = server
    config = get_json(f"{url}/contoso/v2.0/.well-known/openid-configuration")
    assert config["jwks_uri"].startswith(url) and config["jwks_uri"].endswith("/discovery/v2.0/keys")
    jwks = get_json(config["jwks_uri"])
    assert jwks == get_json(f"{url}/contoso/discovery/v2.0/keys")
    jwt = token(url, app)
    claims = verify(jwt, jwks)
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["iss"] == config["issuer"]
    assert claims["exp"] - claims["iat"] <= 3600
    # A changed payload does not verify.
    head, body, sig = jwt.split(".")
    forged = json.loads(unb64(body))
    forged["roles"] = ["Directory.ReadWrite.All"]
    forged_body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidSignature):
        verify(f"{head}.{forged_body}.{sig}", jwks)

    # Rotation: a new key signs, the old one is still published.
    old_kid = json.loads(unb64(jwt.split(".")[0]))["kid"]
    rotated = admin(data, "signing-key", "rotate")
    listed = admin(data, "signing-key", "list")["value"]
    assert [k["kid"] for k in listed if k["active"]] == [rotated["kid"]]
    # Running servers reload the ring on an unknown kid and every 30 s;
    # a new token is signed by the new key once the server has reloaded.
    deadline = time.time() + 40
    while True:
        jwt2 = token(url, app)
        if json.loads(unb64(jwt2.split(".")[0]))["kid"] == rotated["kid"] or time.time() > deadline:
            break
        time.sleep(1)
    jwks = get_json(f"{url}/contoso/discovery/v2.0/keys")
    kids = {k["kid"] for k in jwks["keys"]}
    assert {old_kid, rotated["kid"]} <= kids
    verify(jwt, jwks)
    verify(jwt2, jwks)
    assert json.loads(unb64(jwt2.split(".")[0]))["kid"] == rotated["kid"]

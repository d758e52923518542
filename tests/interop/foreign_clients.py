"""Replicas of the HTTP behaviour of the public Entra provisioning tools,
written here from what each tool is recorded to send (the source of each
behaviour is named beside it; none of their code is copied). Each replica
talks to a Graph-shaped directory at `graph` (Keysmith's `/v1.0`, `/beta`
root) exactly as the tool talks to graph.microsoft.com, and makes the
credential with python-fido2 on a key, as the tools do on a YubiKey.

Sources:
- Yubico: github.com/YubicoLabs/entraId-register-passkeys-on-behalf-of-users,
  bulkRegistration/step1GetFIDO2Challenges.py and
  step2CreateAndActivateCredential.py.
- DSInternals.Passkeys: github.com/MichaelGrafnetter/webauthn-interop,
  Src/DSInternals.Passkeys/DSInternals.Passkeys.Entra.psm1
  (Get-EntraPasskeyRegistrationOptions, Register-EntraPasskey).
- powershellYK and entraYK: their enrollment scripts request
  `creationOptions(challengeTimeoutInMinutes=N)` through
  Invoke-MgGraphRequest; with Token2's bulk tool they send clientDataJSON
  and attestationObject as padded standard base64, and powershellYK checks
  passkey names for 3..30 characters (GRAPH_FIDO2_API.md §8).
- KeyEnroll: cuts passkey names to 30 characters "because Entra ID rejects
  longer names" (GRAPH_FIDO2_API.md §8).
- Graph Go SDK (msgraph-beta-sdk-go): the request builder's URL template
  `…/creationOptions(challengeTimeoutInMinutes=@challengeTimeoutInMinutes){?challengeTimeoutInMinutes*}`,
  expanded to `…(challengeTimeoutInMinutes=@challengeTimeoutInMinutes)?challengeTimeoutInMinutes=60`.
"""

import base64
import datetime
import json
import re
import urllib.parse

import requests
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap2.extensions import CredProtectExtension, HmacSecretExtension
from fido2.utils import websafe_decode, websafe_encode

PIN = "271828"


class Pin(UserInteraction):
    def request_pin(self, permissions, rp_id):
        return PIN

    def request_uv(self, permissions, rp_id):
        return True


def client_for(device, rp_id):
    """python-fido2 as the tools set it up: origin https://{rp.id}
    (Yubico's get_client), credProtect and hmac-secret enabled."""
    return Fido2Client(
        device,
        client_data_collector=DefaultClientDataCollector("https://" + rp_id),
        user_interaction=Pin(),
        extensions=[HmacSecretExtension(allow_hmac_secret=True), CredProtectExtension()],
    )


def client_credentials(token_url, client_id, secret):
    return requests.post(token_url, data={
        "grant_type": "client_credentials", "client_id": client_id,
        "client_secret": secret, "scope": "https://graph.microsoft.com/.default",
    })


def std_b64(data: bytes) -> str:
    """Padded standard base64 (.NET Convert.ToBase64String)."""
    return base64.b64encode(data).decode()


class Outcome:
    def __init__(self, upn, method, credential_id):
        self.upn = upn
        self.method = method
        self.credential_id = credential_id


def make_credential(device, public_key: dict):
    """The options as the directory gave them (base64url strings), through
    python-fido2's own JSON reading."""
    client = client_for(device, public_key["rp"]["id"])
    return client.make_credential(public_key)


# --- Yubico's bulk registration sample --------------------------------------


def yubico_sample(graph, token_url, client_id, secret, group_name, devices, rp_id):
    """step1: token read with a regex from the raw answer; `Authorization:
    <token>` without `Bearer `; `GET /beta/groups/` (trailing slash) with
    `$filter=displayName eq '<group>'`, first match; members with
    `$select=id,userPrincipalName`, no paging; each user's fido2Methods by
    id; creationOptions by id with `?challengeTimeoutInMinutes=N`.
    step2: creation options rebuilt statically around the challenge and
    user id (rp name "Microsoft", ES256/RS256, resident key, UV required,
    hmacCreateSecret, credProtect optional and enforced), the challenge and
    user id decoded by swapping the alphabets and padding with
    4 - len % 4 '='; POST by UPN with clientExtensionResults = the
    authenticator's extension outputs (or null), displayName
    "Serial: <serial> <date>"."""
    raw = client_credentials(token_url, client_id, secret).content
    token = re.search('"access_token":"([^"]+)"', str(raw)).group(1)
    headers = {
        "Accept": "application/json", "Authorization": token,
        "Content-Type": "application/json", "Accept-Encoding": "gzip, deflate, br",
    }
    r = requests.get(f"{graph}/beta/groups/", headers=headers,
                     params={"$filter": "displayName eq '" + group_name + "'"})
    assert r.status_code == 200, r.text
    group_id = r.json()["value"][0]["id"]
    r = requests.get(f"{graph}/beta/groups/{group_id}/members", headers=headers,
                     params={"$select": "id,userPrincipalName"})
    assert r.status_code == 200, r.text
    members = r.json()["value"]
    challenges = []
    for user in members:
        r = requests.get(f"{graph}/beta/users/{user['id']}/authentication/fido2Methods", headers=headers)
        assert r.status_code == 200, r.text
        r = requests.get(f"{graph}/beta/users/{user['id']}/authentication/fido2Methods/creationOptions",
                         headers=headers, params={"challengeTimeoutInMinutes": 15})
        assert r.status_code == 200, r.text
        o = r.json()
        challenges.append((o["publicKey"]["user"]["name"], o["publicKey"]["user"]["displayName"],
                           o["publicKey"]["user"]["id"], o["publicKey"]["challenge"]))

    def to_bytes(b64url):
        temp = b64url.replace("_", "/").replace("-", "+")
        return bytearray(base64.urlsafe_b64decode(temp + "=" * (4 - len(temp) % 4)))

    outcomes = []
    for (name, display_name, user_id, challenge), device in zip(challenges, devices):
        options = {
            "challenge": to_bytes(challenge), "timeout": 0, "attestation": "direct",
            "rp": {"id": rp_id, "name": "Microsoft"},
            "user": {"id": to_bytes(user_id), "displayName": display_name, "name": name},
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
            "excludeCredentials": [],
            "authenticatorSelection": {"authenticatorAttachment": "cross-platform",
                                       "requireResidentKey": True, "userVerification": "required"},
            "extensions": {"hmacCreateSecret": True, "enforceCredentialProtectionPolicy": True,
                           "credentialProtectionPolicy": CredProtectExtension.POLICY.OPTIONAL},
        }
        result = client_for(device, rp_id).make_credential(options)
        att = result.response.attestation_object
        extensions = att.auth_data.extensions or None
        body = {
            "publicKeyCredential": {
                "id": websafe_encode(att.auth_data.credential_data.credential_id),
                "response": {"attestationObject": websafe_encode(att),
                             "clientDataJSON": result.response.client_data.b64},
                "clientExtensionResults": json.loads(json.dumps(extensions)) if extensions else None,
            },
            "displayName": "Serial: 1234567 " + str(datetime.date.today()),
        }
        r = requests.post(f"{graph}/beta/users/{name}/authentication/fido2Methods", json=body, headers=headers)
        assert r.status_code == 201, r.text
        outcomes.append(Outcome(name, r.json(), att.auth_data.credential_data.credential_id))
    return outcomes


# --- DSInternals.Passkeys ----------------------------------------------------


def dsinternals(graph, token, upn, device, display_name):
    """Get-EntraPasskeyRegistrationOptions: `/beta/users/{EscapeDataString(upn)}/
    authentication/fido2Methods/creationOptions` with the timeout as a
    request parameter (Invoke-MgGraphRequest -Body on a GET), the inner
    publicKey options used as given; Register-EntraPasskey: POST the
    attestation (base64url) with a 1..30-character displayName."""
    assert 1 <= len(display_name) <= 30
    headers = {"Authorization": f"Bearer {token}"}
    user = urllib.parse.quote(upn, safe="")
    r = requests.get(f"{graph}/beta/users/{user}/authentication/fido2Methods/creationOptions",
                     headers=headers, params={"challengeTimeoutInMinutes": "5"})
    assert r.status_code == 200, r.text
    result = make_credential(device, r.json()["publicKey"])
    body = {
        "displayName": display_name,
        "publicKeyCredential": {
            "id": websafe_encode(result.raw_id),
            "response": {"clientDataJSON": result.response.client_data.b64,
                         "attestationObject": websafe_encode(result.response.attestation_object)},
            "clientExtensionResults": {},
        },
    }
    r = requests.post(f"{graph}/beta/users/{user}/authentication/fido2Methods",
                      headers={**headers, "Content-Type": "application/json"}, data=json.dumps(body))
    assert r.status_code == 201, r.text
    return Outcome(upn, r.json(), result.raw_id)


# --- powershellYK / entraYK / Token2 (standard base64 bodies) ---------------


def powershell_yk(graph, token, upn, device, display_name, timeout=5):
    """`creationOptions(challengeTimeoutInMinutes=N)` (function form) with
    Bearer; clientDataJSON and attestationObject as padded standard base64;
    the name checked for 3..30 characters first."""
    assert 3 <= len(display_name) <= 30
    headers = {"Authorization": f"Bearer {token}"}
    r = requests.get(
        f"{graph}/beta/users/{upn}/authentication/fido2Methods/creationOptions(challengeTimeoutInMinutes={timeout})",
        headers=headers)
    assert r.status_code == 200, r.text
    result = make_credential(device, r.json()["publicKey"])
    body = {
        "displayName": display_name,
        "publicKeyCredential": {
            "id": websafe_encode(result.raw_id),
            "response": {"clientDataJSON": std_b64(bytes(result.response.client_data)),
                         "attestationObject": std_b64(bytes(result.response.attestation_object))},
        },
    }
    r = requests.post(f"{graph}/beta/users/{upn}/authentication/fido2Methods", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return Outcome(upn, r.json(), result.raw_id)


def token2(graph, token, upn, device):
    """Token2's bulk tool: v1.0 creationOptions without a timeout
    parameter (v1.0 has none), standard-base64 bodies."""
    headers = {"Authorization": f"Bearer {token}"}
    r = requests.get(f"{graph}/v1.0/users/{upn}/authentication/fido2Methods/creationOptions", headers=headers)
    assert r.status_code == 200, r.text
    result = make_credential(device, r.json()["publicKey"])
    body = {
        "displayName": "Token2 key",
        "publicKeyCredential": {
            "id": websafe_encode(result.raw_id),
            "response": {"clientDataJSON": std_b64(bytes(result.response.client_data)),
                         "attestationObject": std_b64(bytes(result.response.attestation_object))},
        },
    }
    r = requests.post(f"{graph}/v1.0/users/{upn}/authentication/fido2Methods", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return Outcome(upn, r.json(), result.raw_id)


# --- KeyEnroll ---------------------------------------------------------------


def key_enroll(graph, token, upn, device, wanted_name):
    """The passkey name cut to 30 characters before registering."""
    headers = {"Authorization": f"Bearer {token}"}
    r = requests.get(f"{graph}/beta/users/{upn}/authentication/fido2Methods/creationOptions"
                     "(challengeTimeoutInMinutes=10)", headers=headers)
    assert r.status_code == 200, r.text
    result = make_credential(device, r.json()["publicKey"])
    body = {
        "displayName": wanted_name[:30],
        "publicKeyCredential": {
            "id": websafe_encode(result.raw_id),
            "response": {"clientDataJSON": result.response.client_data.b64,
                         "attestationObject": websafe_encode(result.response.attestation_object)},
        },
    }
    r = requests.post(f"{graph}/beta/users/{upn}/authentication/fido2Methods", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return Outcome(upn, r.json(), result.raw_id)


# --- Graph Go SDK --------------------------------------------------------------


def go_sdk(graph, token, user_id, upn, device):
    """The request builder's URL template expanded with the parameter
    alias and its query value; the body as the SDK's models serialize it."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url = (f"{graph}/beta/users/{user_id}/authentication/fido2Methods/creationOptions"
           "(challengeTimeoutInMinutes=@challengeTimeoutInMinutes)?challengeTimeoutInMinutes=60")
    r = requests.get(url, headers=headers)
    assert r.status_code == 200, r.text
    result = make_credential(device, r.json()["publicKey"])
    body = {
        "displayName": "Go SDK key",
        "publicKeyCredential": {
            "id": websafe_encode(result.raw_id),
            "response": {"clientDataJSON": result.response.client_data.b64,
                         "attestationObject": websafe_encode(result.response.attestation_object)},
            "clientExtensionResults": {},
        },
    }
    r = requests.post(f"{graph}/beta/users/{user_id}/authentication/fido2Methods", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return Outcome(upn, r.json(), result.raw_id)


# --- Sign-in through Keysmith, with python-fido2 --------------------------------


def sign_in(base, tenant, upn, device, rp_id):
    """Keysmith's passkey sign-in (begin with the UPN, finish with the
    assertion python-fido2 gets from the key)."""
    r = requests.post(f"{base}/{tenant}/passkey/signin/begin", json={"userPrincipalName": upn})
    assert r.status_code == 200, r.text
    begin = r.json()
    pk = begin["publicKey"]
    client = client_for(device, rp_id)
    selection = client.get_assertion({
        "challenge": pk["challenge"], "rpId": pk["rpId"],
        "allowCredentials": pk.get("allowCredentials", []),
        "userVerification": pk.get("userVerification", "required"),
    })
    a = selection.get_response(0)
    body = {
        "flowId": begin["flowId"],
        "credential": {
            "id": websafe_encode(a.raw_id),
            "response": {
                "clientDataJSON": a.response.client_data.b64,
                "authenticatorData": websafe_encode(a.response.authenticator_data),
                "signature": websafe_encode(a.response.signature),
                "userHandle": websafe_encode(a.response.user_handle) if a.response.user_handle else None,
            },
        },
    }
    r = requests.post(f"{base}/{tenant}/passkey/signin/finish", json=body)
    assert r.status_code == 200, r.text
    return r.json()


__all__ = ["yubico_sample", "dsinternals", "powershell_yk", "token2", "key_enroll", "go_sdk",
           "sign_in", "client_credentials", "PIN", "websafe_decode"]

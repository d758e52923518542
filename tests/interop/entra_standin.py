"""An Entra ID / Microsoft Graph stand-in for testing Keysmith's client in
`--graph` mode without a Microsoft tenant.

It answers the FIDO2 provisioning calls the way the public record says
Entra does — `../../../shared/design/GRAPH_FIDO2_API.md` §8 (gathered from
Graph's docs and from public Entra clients: Yubico's sample, DSInternals,
KeyEnroll, powershellYK, the Graph Go SDK), and refuses what Entra refuses.
Each behaviour names its source beside it. Registrations are verified
independently of Keysmith, with py_webauthn (Duo Labs), against the
attestation roots the test hands in.

None of this is Keysmith code: it shares no parser, codec or verifier with
the client under test.

Run by hand: `python entra_standin.py --port 8765 --root key-root.pem`
(client id `standin-app`, secret `standin-secret`, tenant `contoso`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import webauthn as py_webauthn
from webauthn.helpers.structs import AttestationFormat
from webauthn.helpers.cose import COSEAlgorithmIdentifier

# Entra's relying party and the origin clients build from it (§8: rp
# `login.microsoft.com` / `Microsoft`; clients use "https://" + rp.id).
RP_ID = "login.microsoft.com"
RP_NAME = "Microsoft"
ORIGIN = "https://login.microsoft.com"
TENANT = "contoso"
CLIENT_ID = "standin-app"
CLIENT_SECRET = "standin-secret"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

# The real creationOptions answer recorded from Entra (data/entra/README.md
# names its source); served as is for its user, john@contoso.com.
REAL_OPTIONS = Path(__file__).resolve().parent / "data" / "entra" / "creationOptions-real-2024-06.json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def lenient_decode(text: str) -> bytes:
    """Graph accepts base64url without padding (its docs) and padded
    standard base64 (§8: entraYK, powershellYK and Token2 send it)."""
    t = text.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(t + "=" * (-len(t) % 4), validate=True)


def url_token_encode(data: bytes) -> str:
    """.NET HttpServerUtility.UrlTokenEncode: base64url without padding plus
    one digit counting the '=' removed (§8: method ids come back so; a
    32-byte id `…RguI` came back as `…RguI1`)."""
    std = base64.urlsafe_b64encode(data).decode()
    stripped = std.rstrip("=")
    return stripped + str(len(std) - len(stripped))


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def graph_time(t: dt.datetime) -> str:
    # §8: challengeTimeoutDateTime without fractional seconds.
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class User:
    id: str
    upn: str
    display_name: str
    # §8: Entra's user handle is 51 bytes starting "OF:".
    handle: bytes = field(default_factory=lambda: b"OF:" + secrets.token_urlsafe(36).encode()[:48])
    methods: list = field(default_factory=list)


@dataclass
class Challenge:
    text: str
    user_id: str
    expires: dt.datetime


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class EntraStandIn:
    """The directory's state and the HTTP server in front of it."""

    def __init__(self, roots_pem: list[bytes], users: list[tuple[str, str]] = (), groups: dict | None = None,
                 page_size: int = 2, throttle_every: int = 5, port: int = 0):
        self.roots_pem = list(roots_pem)
        self.lock = threading.Lock()
        self.users: dict[str, User] = {}
        self.groups: dict[str, dict] = {}
        self.challenges: dict[str, Challenge] = {}
        self.tokens: set[str] = set()
        self.page_size = page_size
        # Every Nth Graph call is answered 429 with Retry-After (§8: Graph
        # throttles with 429 and Retry-After; the client must wait and retry).
        self.throttle_every = throttle_every
        self.calls = 0
        self.throttled = 0
        self.requests: list[str] = []
        self.refusals: list[tuple[int, str]] = []
        # A hook the tests use to hold a registration in flight (kill -9).
        self.register_delay = 0.0
        self.registers_started = 0
        self.attestation_enforced = True
        for upn, name in users:
            self.add_user(upn, name)
        for name, members in (groups or {}).items():
            self.groups[name] = {"id": secrets.token_hex(16), "displayName": name, "members": list(members)}
        handler = type("Handler", (_Handler,), {"standin": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> "EntraStandIn":
        self.thread.start()
        return self

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_user(self, upn: str, name: str) -> User:
        u = User(id=str(uuid.uuid4()), upn=upn, display_name=name)
        self.users[u.id] = u
        return u

    def group_id(self, name: str) -> str:
        return self.groups[name]["id"]

    def find_user(self, ref: str) -> User:
        ref = urllib.parse.unquote(ref)
        for u in self.users.values():
            if u.id == ref or u.upn.lower() == ref.lower():
                return u
        # §8: 404 Request_ResourceNotFound.
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{ref}' does not exist or one of its queried reference-property objects are not present.")

    def methods_of(self, upn: str) -> list:
        return self.find_user(upn).methods

    # -- creationOptions -------------------------------------------------

    def creation_options(self, version: str, user: User, minutes: int | None) -> dict:
        if version == "v1.0" and minutes is not None:
            # §8: v1.0 has no timeout parameter at all (fixed 5 minutes).
            raise GraphError(400, "BadRequest", "The parameter 'challengeTimeoutInMinutes' is not supported on v1.0.")
        if minutes is None:
            minutes = 5
        if not 5 <= minutes <= 43200:
            # §1/§8: 5..43200, outside → 400.
            raise GraphError(400, "badRequest", "challengeTimeoutInMinutes must be between 5 and 43200.")
        expires = now_utc() + dt.timedelta(minutes=minutes)
        if user.upn == "john@contoso.com":
            # The recorded Entra answer, as is: its challenge, handle, rp,
            # timeout, and excludeCredentials in standard padded base64.
            real = json.loads(REAL_OPTIONS.read_text())
            pk = real["publicKey"]
            user.handle = b64url_decode(pk["user"]["id"])
            self.challenges[pk["challenge"]] = Challenge(pk["challenge"], user.id, expires)
            return real
        # §8: the challenge is ~6.9 kB of base64url (an encrypted token).
        challenge = b64url(secrets.token_bytes(5198))
        self.challenges[challenge] = Challenge(challenge, user.id, expires)
        exclude = []
        for i, m in enumerate(user.methods):
            raw = m["_credential_id"]
            # §1/§8: excludeCredentials ids arrive in three encodings:
            # standard base64 with padding, .NET UrlTokenEncode, base64url.
            text = [base64.b64encode(raw).decode(), url_token_encode(raw), b64url(raw)][i % 3]
            exclude.append({"type": "public-key", "id": text,
                            "transports": [["usb"], ["usb", "nfc"], []][i % 3]})
        return {
            "@odata.context": f"{self.url}/beta/$metadata#microsoft.graph.webauthnCredentialCreationOptions",
            "challengeTimeoutDateTime": graph_time(expires),
            "publicKey": {
                "rp": {"id": RP_ID, "name": RP_NAME},
                "user": {"id": b64url(user.handle), "name": user.upn, "displayName": user.display_name},
                "challenge": challenge,
                # §1/§8: only ES256 and RS256 are offered.
                "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
                "timeout": 60000,
                "excludeCredentials": exclude,
                "authenticatorSelection": {"authenticatorAttachment": "cross-platform",
                                           "requireResidentKey": True, "userVerification": "required"},
                "attestation": "direct",
                "extensions": {"hmacCreateSecret": True, "enforceCredentialProtectionPolicy": True,
                               "credentialProtectionPolicy": "userVerificationOptional"},
            },
        }

    # -- register --------------------------------------------------------

    def register(self, user: User, body) -> dict:
        entity_error = GraphError(
            400, "badRequest",
            # §8: the message Graph gives for a body it cannot take as the entity.
            "The request is missing a fido2AuthenticationMethod entity with a displayName and "
            "publicKeyCredential in the request body. All other properties will be ignored.")
        if not isinstance(body, dict) or "@odata.type" in body:
            raise entity_error  # §8: a JSON string body or @odata.type → 400
        name = body.get("displayName")
        cred = body.get("publicKeyCredential")
        if not isinstance(name, str) or not isinstance(cred, dict):
            raise entity_error
        if not 1 <= len(name) <= 30:
            # §8: displayName is limited to 30 characters (KeyEnroll
            # truncates, powershellYK validates 3..30).
            raise GraphError(400, "badRequest", "displayName must be at most 30 characters.")
        for forbidden in ("rawId", "type", "authenticatorAttachment"):
            if forbidden in cred:
                # §2/§8: Graph rejects these; clients leave them out.
                raise GraphError(400, "badRequest", f"Unexpected property '{forbidden}' in publicKeyCredential.")
        resp = cred.get("response") or {}
        try:
            client_data = lenient_decode(resp.get("clientDataJSON") or resp.get("clientDataJson"))
            attestation = lenient_decode(resp["attestationObject"])
            cred_id = lenient_decode(cred["id"])
        except Exception:
            raise GraphError(400, "badRequest", "publicKeyCredential is not valid base64.")
        try:
            challenge_text = json.loads(client_data)["challenge"]
        except Exception:
            raise GraphError(400, "badRequest", "clientDataJSON is not valid.")
        with self.lock:
            issued = self.challenges.pop(challenge_text, None)
        if issued is None or issued.user_id != user.id:
            raise GraphError(400, "badRequest", "The challenge is unknown or was issued for another user.")
        if issued.expires < now_utc():
            raise GraphError(400, "badRequest", "The challenge has expired.")
        try:
            verified = py_webauthn.verify_registration_response(
                credential={
                    "id": b64url(cred_id), "rawId": b64url(cred_id), "type": "public-key",
                    "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation)},
                },
                expected_challenge=b64url_decode(challenge_text),
                expected_rp_id=RP_ID,
                expected_origin=ORIGIN,
                require_user_verification=True,
                supported_pub_key_algs=[COSEAlgorithmIdentifier.ECDSA_SHA_256,
                                        COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256],
                pem_root_certs_bytes_by_fmt={AttestationFormat.PACKED: self.roots_pem},
            )
        except Exception as e:
            raise GraphError(400, "badRequest", f"The attestation could not be verified: {e}")
        # §8: only packed and none; none only with enforcement off.
        if verified.fmt not in (AttestationFormat.PACKED, AttestationFormat.NONE) or (
                verified.fmt == AttestationFormat.NONE and self.attestation_enforced):
            raise GraphError(400, "badRequest", f"Attestation format {verified.fmt.value} is not accepted.")
        with self.lock:
            for u in self.users.values():
                if any(m["_credential_id"] == verified.credential_id for m in u.methods):
                    raise GraphError(400, "badRequest", "This credential is already registered.")
            method = {
                "@odata.type": "#microsoft.graph.fido2AuthenticationMethod",
                # §8: the method id is the credential id in UrlTokenEncode form.
                "id": url_token_encode(verified.credential_id),
                "displayName": name,
                "createdDateTime": graph_time(now_utc()),
                "aaGuid": verified.aaguid,
                "model": None,
                "attestationCertificates": [],
                "attestationLevel": "attested",
                "passkeyType": "deviceBound",
                "_credential_id": verified.credential_id,
                
            }
            user.methods.append(method)
        return public(method)


def public(method: dict) -> dict:
    return {k: v for k, v in method.items() if not k.startswith("_")}


class _Handler(BaseHTTPRequestHandler):
    standin: EntraStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    # -- plumbing --------------------------------------------------------

    def send_json(self, status: int, value, headers: dict | None = None):
        # §8: Yubico's sample reads the token with a regex, so answers are
        # compact JSON.
        data = b"" if value is None else json.dumps(value, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("request-id", str(uuid.uuid4()))
        if data:
            self.send_header("Content-Type", "application/json; odata.metadata=minimal")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_error_envelope(self, e: GraphError):
        self.standin.refusals.append((e.status, e.message))
        # §5: Graph's error envelope.
        self.send_json(e.status, {"error": {"code": e.code, "message": e.message, "innerError": {
            "date": now_utc().strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
            "client-request-id": self.headers.get("client-request-id")}}}, e.headers)

    def body(self) -> bytes:
        return self._body

    def read_body(self):
        # The whole body is read before any answer, refusals included: on a
        # kept-alive HTTP/1.1 connection an unread body would be parsed as
        # the next request line (http.server then answers an HTML 400).
        n = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(n) if n else b""

    def authorize(self):
        header = self.headers.get("Authorization") or ""
        # §8: Graph accepts the token with or without "Bearer " (Yubico's
        # sample sends it bare).
        token = header[7:] if header.lower().startswith("bearer ") else header
        if token not in self.standin.tokens:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")

    def throttle(self):
        s = self.standin
        with s.lock:
            s.calls += 1
            hit = s.throttle_every and s.calls % s.throttle_every == 0
            if hit:
                s.throttled += 1
        if hit:
            raise GraphError(429, "TooManyRequests", "Too many requests.", {"Retry-After": "1"})

    def dispatch(self, method: str):
        s = self.standin
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, urllib.parse.parse_qs(url.query)
        s.requests.append(f"{method} {self.path}")
        self.read_body()
        try:
            if method == "POST" and path == f"/{TENANT}/oauth2/v2.0/token":
                return self.token()
            m = re.fullmatch(r"/(v1\.0|beta)(/.*)", path)
            if not m:
                raise GraphError(404, "Request_ResourceNotFound", f"No route for {path}.")
            version, rest = m.groups()
            self.authorize()
            self.throttle()
            return self.graph(method, version, rest.rstrip("/") or "/", query)
        except GraphError as e:
            self.send_error_envelope(e)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PATCH(self):
        self.dispatch("PATCH")

    # -- routes ----------------------------------------------------------

    def token(self):
        form = urllib.parse.parse_qs(self.body().decode())
        get = lambda k: (form.get(k) or [""])[0]
        if get("grant_type") != "client_credentials" or get("scope") != GRAPH_SCOPE:
            return self.send_json(400, {"error": "invalid_request", "error_description": "AADSTS900144"})
        if get("client_id") != CLIENT_ID or get("client_secret") != CLIENT_SECRET:
            return self.send_json(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
        token = "eyJ0eXAiOiJKV1QifQ." + secrets.token_urlsafe(600) + ".sig"
        self.standin.tokens.add(token)
        # §6: token_type, expires_in 3599, access_token.
        self.send_json(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})

    def graph(self, method: str, version: str, rest: str, query: dict):
        s = self.standin
        m = re.fullmatch(r"/users/([^/]+)/authentication/fido2Methods/creationOptions(?:\(challengeTimeoutInMinutes=([^)]*)\))?", rest)
        if m and method == "GET":
            user = s.find_user(m.group(1))
            minutes = m.group(2)
            if minutes is not None and minutes.startswith("@"):
                # The Go SDK's OData alias: the value is in the query (§8).
                minutes = (query.get(minutes[1:]) or [None])[0]
            elif minutes is None:
                minutes = (query.get("challengeTimeoutInMinutes") or [None])[0]
            try:
                minutes = None if minutes is None else int(minutes)
            except ValueError:
                raise GraphError(400, "badRequest", "challengeTimeoutInMinutes must be an integer.")
            with s.lock:
                options = s.creation_options(version, user, minutes)
            return self.send_json(200, options)
        m = re.fullmatch(r"/users/([^/]+)/authentication/fido2Methods(?:/([^/]+))?", rest)
        if m:
            user = s.find_user(m.group(1))
            method_id = m.group(2) and urllib.parse.unquote(m.group(2))
            if method == "POST" and not method_id:
                raw = self.body()
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise GraphError(400, "BadRequest", "Unable to read JSON request payload.")
                with s.lock:
                    s.registers_started += 1
                if s.register_delay:
                    time.sleep(s.register_delay)
                return self.send_json(201, s.register(user, body))
            if method == "GET" and not method_id:
                return self.send_json(200, {"value": [public(x) for x in user.methods]})
            found = [x for x in user.methods if x["id"] == method_id]
            if not found:
                raise GraphError(404, "Request_ResourceNotFound", f"Method '{method_id}' not found.")
            if method == "GET":
                return self.send_json(200, public(found[0]))
            if method == "DELETE":
                with s.lock:
                    user.methods.remove(found[0])
                return self.send_json(204, None)
        m = re.fullmatch(r"/users/([^/]+)", rest)
        if m and method == "GET":
            u = s.find_user(m.group(1))
            return self.send_json(200, {"id": u.id, "userPrincipalName": u.upn, "displayName": u.display_name})
        m = re.fullmatch(r"/groups/([^/]+)/members", rest)
        if m and method == "GET":
            group = next((g for g in s.groups.values() if g["id"] == m.group(1)), None)
            if group is None:
                raise GraphError(404, "Request_ResourceNotFound", "Group not found.")
            skip = int((query.get("$skiptoken") or ["0"])[0])
            members = [s.find_user(upn) for upn in group["members"]]
            page = members[skip: skip + s.page_size]
            out = {"value": [{"@odata.type": "#microsoft.graph.user", "id": u.id,
                              "userPrincipalName": u.upn, "displayName": u.display_name} for u in page]}
            if skip + s.page_size < len(members):
                # §8: Graph pages with @odata.nextLink on the same host.
                out["@odata.nextLink"] = f"{s.url}/{version}/groups/{group['id']}/members?$skiptoken={skip + s.page_size}"
            return self.send_json(200, out)
        if rest == "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2" and method == "GET":
            # §4: the policy resource; admin provisioning needs
            # self-service allowed (§8).
            return self.send_json(200, {
                "@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration", "id": "Fido2",
                "state": "enabled", "isSelfServiceRegistrationAllowed": True,
                "isAttestationEnforced": s.attestation_enforced,
                "keyRestrictions": {"isEnforced": False, "enforcementType": "block", "aaGuids": []},
                "includeTargets": [{"targetType": "group", "id": "all_users", "isRegistrationRequired": False}],
                "excludeTargets": []})
        raise GraphError(404, "Request_ResourceNotFound", f"Resource not found for the segment '{rest}'.")


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--root", action="append", default=[], help="attestation root PEM (repeatable)")
    p.add_argument("--user", action="append", default=[], help="a user principal name (repeatable)")
    a = p.parse_args()
    standin = EntraStandIn([Path(r).read_bytes() for r in a.root],
                           users=[(u, u.split("@")[0].title()) for u in a.user], port=a.port)
    print(standin.url, flush=True)
    standin.thread.run()

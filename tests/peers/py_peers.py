"""py_webauthn and OpenSSL (through `cryptography`) on the corpus
registrations `keysmith bench verify` measures: one thread, JSON on stdout.

py_webauthn validates the certificate chain on every call (it has no path
cache). A record is verified at the clock Keysmith uses for it (its
`verify_at`, else the time py_webauthn's recorded verdict was taken at, else
its suggested time, else now): py_webauthn's own tests set that clock by
replacing `_generate_new_cert_store` with a store whose time is set, and so
does this script.
"""

import argparse
import base64
import datetime
import hashlib
import importlib
import importlib.metadata
import json
import sys
import time

import webauthn
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fido2 import cbor
from OpenSSL.crypto import X509Store
from webauthn.helpers.structs import AttestationFormat


# The module, not the function `webauthn.helpers` exports under its name.
chain_module = importlib.import_module("webauthn.helpers.validate_certificate_chain")


def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def clock(v):
    for t in (v.get("verify_at"), (v.get("py_webauthn") or {}).get("at_time"),
              v.get("verify_at_suggested")):
        if t:
            return datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    return None


def rate(seconds, work):
    """Calls of `work` per second over about `seconds`."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(16):
            work()
        n += 16
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def py_webauthn_verifier(v, anchors):
    roots = [anchors[name]["pem"].encode() for name in v.get("trust_anchor_refs") or []]
    at = clock(v)

    def store():
        s = X509Store()
        if at is not None:
            s.set_time(at.replace(tzinfo=None))
        return s

    credential = {
        "id": v["credential_id"],
        "rawId": v["credential_id"],
        "type": "public-key",
        "response": {
            "clientDataJSON": v["client_data_json"],
            "attestationObject": v["attestation_object"],
        },
    }
    by_fmt = {AttestationFormat(v["fmt"]): roots} if roots else None

    def verify():
        chain_module._generate_new_cert_store = store
        webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=b64d(v["challenge"]),
            expected_origin=v["origin"],
            expected_rp_id=v["rp_id"],
            require_user_verification=False,
            pem_root_certs_bytes_by_fmt=by_fmt,
        )

    return verify


def openssl_raw(v):
    """A raw ES256 verify of the record's attestation signature, or None
    when the record has no x5c ES256 attestation."""
    obj = cbor.decode(b64d(v["attestation_object"]))
    stmt = obj.get("attStmt") or {}
    if not stmt.get("x5c") or stmt.get("alg") != -7:
        return None
    key = x509.load_der_x509_certificate(stmt["x5c"][0]).public_key()
    msg = obj["authData"] + hashlib.sha256(b64d(v["client_data_json"])).digest()
    sig = stmt["sig"]
    point = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    def verify():
        # A fresh key each time, as a verifier loads it per registration.
        k = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        k.verify(sig, msg, ec.ECDSA(hashes.SHA256()))

    return verify


def openssl_version():
    from cryptography.hazmat.backends.openssl.backend import backend
    return backend.openssl_version_text()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--vector", action="append", required=True)
    ap.add_argument("--seconds", type=float, default=2.0)
    a = ap.parse_args()
    with open(f"{a.corpus}/trust_anchors.json") as f:
        anchors = json.load(f)
    with open(f"{a.corpus}/vectors.jsonl") as f:
        records = {v["id"]: v for v in map(json.loads, f)}
    rows, raw = [], None
    for vid in a.vector:
        v = records[vid]
        verify = py_webauthn_verifier(v, anchors)
        try:
            verify()
        except Exception as e:  # a refusal is a result, not a crash
            rows.append({"vector": vid, "error": f"{type(e).__name__}: {e}"})
            continue
        rows.append({"vector": vid, "perSec": round(rate(a.seconds, verify))})
        if raw is None:
            r = openssl_raw(v)
            if r is not None:
                r()
                raw = {"vector": vid, "perSec": round(rate(a.seconds, r))}
    json.dump({"implementation": "py_webauthn",
               "version": importlib.metadata.version("webauthn"),
               "opensslVersion": openssl_version(),
               "registrations": rows, "rawEs256OpenSsl": raw}, sys.stdout)
    print()


if __name__ == "__main__":
    main()

"""Interop: python-fido2 (Yubico) drives Keysmith's virtual key through its own
CTAPHID framing over UDP, and independent relying-party verifiers
(python-fido2's Fido2Server with an AttestationVerifier, and py_webauthn)
check what the key produced."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fido2.attestation import AttestationVerifier
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.config import Config
from fido2.ctap2.credman import CredentialManagement
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2
from fido2.server import Fido2Server
from fido2.webauthn import (
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from fido2.utils import websafe_decode
import webauthn as py_webauthn

from udp_hid import VirtualKey

RP_ID = "login.example.com"
ORIGIN = "https://login.example.com"
PIN = "314159"


@pytest.fixture
def key():
    k = VirtualKey()
    yield k
    k.close()


class PinInteraction(UserInteraction):
    def __init__(self, pin):
        self.pin = pin

    def request_pin(self, permissions, rp_id):
        return self.pin


class TrustRoot(AttestationVerifier):
    """Accepts attestation chaining to the virtual key model's root."""

    def __init__(self, root_pem: bytes):
        super().__init__()
        self.root = x509.load_pem_x509_certificate(root_pem)

    def ca_lookup(self, attestation_result, auth_data):
        return self.root.public_bytes(Encoding.DER)


def test_get_info(key):
    ctap = Ctap2(key.device())
    info = ctap.info
    assert "FIDO_2_1" in info.versions
    assert info.options["clientPin"] is False
    assert info.options["credMgmt"] is True
    assert info.options["authnrCfg"] is True
    assert info.options["setMinPINLength"] is True
    assert set(info.pin_uv_protocols) == {1, 2}
    assert "credProtect" in info.extensions and "hmac-secret" in info.extensions
    assert info.min_pin_length == 4
    assert info.remaining_disc_creds == 25


@pytest.mark.parametrize("protocol", [PinProtocolV1, PinProtocolV2])
def test_client_pin_set_change_token(key, protocol):
    ctap = Ctap2(key.device())
    pin = ClientPin(ctap, protocol())
    pin.set_pin(PIN)
    assert pin.get_pin_retries()[0] == 8
    pin.change_pin(PIN, "27182818")
    token = pin.get_pin_token("27182818", ClientPin.PERMISSION.MAKE_CREDENTIAL, RP_ID)
    assert len(token) == 32
    with pytest.raises(CtapError) as e:
        pin.get_pin_token("00000000", ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    assert e.value.code == CtapError.ERR.PIN_INVALID
    assert pin.get_pin_retries()[0] == 7


def register_and_sign_in(key, cred_protect="userVerificationRequired"):
    """A full WebAuthn ceremony: python-fido2 as the browser, Fido2Server as
    the relying party, the virtual key in between."""
    device = key.device()
    ClientPin(Ctap2(device)).set_pin(PIN)
    server = Fido2Server(
        PublicKeyCredentialRpEntity(id=RP_ID, name="Example"),
        attestation="direct",
        verify_attestation=TrustRoot(key.root_pem()),
    )
    client = Fido2Client(device, DefaultClientDataCollector(ORIGIN), user_interaction=PinInteraction(PIN))
    user = PublicKeyCredentialUserEntity(id=b"user-alice", name="alice@example.com", display_name="Alice")
    options, state = server.register_begin(
        user,
        resident_key_requirement=ResidentKeyRequirement.REQUIRED,
        user_verification=UserVerificationRequirement.REQUIRED,
        extensions={"credentialProtectionPolicy": cred_protect, "enforceCredentialProtectionPolicy": True},
    )
    registration = client.make_credential(options["publicKey"])
    auth_data = server.register_complete(state, registration)
    assert auth_data.is_user_verified()
    return device, server, client, auth_data, registration, options


def challenge_bytes(options) -> bytes:
    challenge = options["publicKey"]["challenge"]
    return websafe_decode(challenge) if isinstance(challenge, str) else bytes(challenge)


def test_make_credential_rk_uv_cred_protect_and_assertion(key):
    device, server, client, auth_data, registration, options = register_and_sign_in(key)
    assert registration.response.attestation_object.fmt == "packed"
    assert auth_data.extensions["credProtect"] == 3
    # The same registration also verifies with py_webauthn against the root.
    verified = py_webauthn.verify_registration_response(
        credential=dict(registration),
        expected_challenge=challenge_bytes(options),
        expected_origin=ORIGIN,
        expected_rp_id=RP_ID,
        require_user_verification=True,
        pem_root_certs_bytes_by_fmt={"packed": [key.root_pem()]},
    )
    assert verified.credential_id == auth_data.credential_data.credential_id
    assert str(verified.aaguid) == "4b657973-6d69-4e68-a000-766b65790001"

    # Sign in, usernameless (discoverable credential, UV required by credProtect 3).
    request, state = server.authenticate_begin(user_verification=UserVerificationRequirement.REQUIRED)
    selection = client.get_assertion(request["publicKey"])
    response = selection.get_response(0)
    server.authenticate_complete(state, [auth_data.credential_data], response)
    assert response.response.user_handle == b"user-alice"


def test_cred_protect_hides_credential_without_uv(key):
    device, *_ = register_and_sign_in(key)
    ctap = Ctap2(device)
    with pytest.raises(CtapError) as e:
        ctap.get_assertion(RP_ID, b"\x01" * 32)
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS


@pytest.mark.parametrize("protocol", [PinProtocolV1, PinProtocolV2])
def test_credential_management_enumerate_and_delete(key, protocol):
    device, *_ = register_and_sign_in(key, "userVerificationOptional")
    ctap = Ctap2(device)
    pin = ClientPin(ctap, protocol())
    token = pin.get_pin_token(PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT)
    credman = CredentialManagement(ctap, pin.protocol, token)
    meta = credman.get_metadata()
    assert meta[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 1
    rps = credman.enumerate_rps()
    assert [rp[CredentialManagement.RESULT.RP]["id"] for rp in rps] == [RP_ID]
    creds = credman.enumerate_creds(rps[0][CredentialManagement.RESULT.RP_ID_HASH])
    assert len(creds) == 1
    cred = creds[0]
    assert cred[CredentialManagement.RESULT.USER]["name"] == "alice@example.com"
    credman.delete_cred(cred[CredentialManagement.RESULT.CREDENTIAL_ID])
    assert credman.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 0


@pytest.mark.parametrize("protocol", [PinProtocolV1, PinProtocolV2])
def test_config_force_pin_change(key, protocol):
    ctap = Ctap2(key.device())
    pin = ClientPin(ctap, protocol())
    pin.set_pin(PIN)
    token = pin.get_pin_token(PIN, ClientPin.PERMISSION.AUTHENTICATOR_CFG)
    Config(ctap, pin.protocol, token).set_min_pin_length(min_pin_length=6, force_change_pin=True)
    info = ctap.get_info()
    assert info.force_pin_change is True
    assert info.min_pin_length == 6
    with pytest.raises(CtapError) as e:
        pin.get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, RP_ID)
    assert e.value.code == CtapError.ERR.PIN_POLICY_VIOLATION
    pin.change_pin(PIN, "8675309")
    assert ctap.get_info().force_pin_change is False
    pin.get_pin_token("8675309", ClientPin.PERMISSION.MAKE_CREDENTIAL, RP_ID)


def test_reset(key):
    register_and_sign_in(key)
    ctap = Ctap2(key.device())
    ctap.reset()
    info = ctap.get_info()
    assert info.options["clientPin"] is False
    assert info.remaining_disc_creds == 25


def test_pin_blocks_after_three_mismatches_until_power_cycle(key):
    ctap = Ctap2(key.device())
    pin = ClientPin(ctap)
    pin.set_pin(PIN)
    codes = []
    for _ in range(3):
        with pytest.raises(CtapError) as e:
            pin.get_pin_token("11111111", ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
        codes.append(e.value.code)
    assert codes == [CtapError.ERR.PIN_INVALID, CtapError.ERR.PIN_INVALID, CtapError.ERR.PIN_AUTH_BLOCKED]
    key.power_cycle()
    pin = ClientPin(Ctap2(key.device()))
    assert pin.get_pin_retries()[0] == 5
    pin.get_pin_token(PIN, ClientPin.PERMISSION.GET_ASSERTION, RP_ID)


def test_attestation_from_another_model_is_untrusted(key):
    """The verifiers above really check the chain: a different model's root
    does not validate this key's attestation."""
    other = VirtualKey("--aaguid", "11111111-2222-4333-8444-555555555555")
    try:
        device = key.device()
        ClientPin(Ctap2(device)).set_pin(PIN)
        server = Fido2Server(
            PublicKeyCredentialRpEntity(id=RP_ID, name="Example"),
            attestation="direct",
            verify_attestation=TrustRoot(other.root_pem()),
        )
        client = Fido2Client(device, DefaultClientDataCollector(ORIGIN), user_interaction=PinInteraction(PIN))
        user = PublicKeyCredentialUserEntity(id=b"u", name="u@example.com", display_name="U")
        options, state = server.register_begin(user, user_verification=UserVerificationRequirement.REQUIRED)
        registration = client.make_credential(options["publicKey"])
        with pytest.raises(Exception):
            server.register_complete(state, registration)
        with pytest.raises(Exception):
            py_webauthn.verify_registration_response(
                credential=dict(registration),
                expected_challenge=challenge_bytes(options),
                expected_origin=ORIGIN,
                expected_rp_id=RP_ID,
                pem_root_certs_bytes_by_fmt={"packed": [other.root_pem()]},
            )
    finally:
        other.close()

//! End to end: the host library (`ctap`) drives the virtual key over real
//! UDP sockets — every command, both PIN/UV auth protocols, and the
//! negative paths the CTAP 2.1 spec defines. It lives with `ctap` (a
//! dev-dependency cycle: the virtual key is built on this crate) so that
//! `ctap`'s own test suite exercises every client verb and the UDP
//! transport; the virtual key's own tests are in `crates/authenticator`.

use keysmith_ctap as ctap;

use authenticator::ctap2::AuthenticatorConfig;
use authenticator::serve::UdpKeyHandle;
use authenticator::{
    AttestationMode, Authenticator, HidDevice, PresenceMode, PresenceSettings, StateFile,
};
use ctap::client::PinUvAuthToken;
use ctap::cmd::config::SetMinPinLengthParams;
use ctap::cmd::get_assertion::GetAssertionRequest;
use ctap::cmd::make_credential::{
    MakeCredentialExtensions, MakeCredentialRequest, MakeCredentialResponse,
};
use ctap::cmd::{CredentialDescriptor, PubKeyCredParam, RequestOptions, RpEntity, UserEntity};
use ctap::pin::{Permissions, PinUvAuthProtocol};
use ctap::transport::udp::UdpTransport;
use ctap::{Ctap2Client, Error, StatusCode};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use webauthn::authdata::AuthenticatorData;

const PIN: &str = "123456";
const RP: &str = "login.example.com";

struct Key {
    handle: UdpKeyHandle,
    state: PathBuf,
    config: AuthenticatorConfig,
    presence: PresenceSettings,
}

impl Key {
    fn start(dir: &Path, config: AuthenticatorConfig, presence: PresenceSettings) -> Key {
        let state = dir.join("key.json");
        let handle = spawn(&state, config.clone(), presence);
        Key {
            handle,
            state,
            config,
            presence,
        }
    }

    fn new(dir: &Path) -> Key {
        Self::start(
            dir,
            AuthenticatorConfig {
                reset_window: None,
                ..Default::default()
            },
            PresenceSettings::default(),
        )
    }

    fn client(&self) -> Ctap2Client<UdpTransport> {
        Ctap2Client::open(UdpTransport::connect(&self.handle.addr().to_string()).unwrap()).unwrap()
    }

    /// Stops the key process and starts it again on the same state: a
    /// power cycle.
    fn power_cycle(&mut self) {
        let addr = self.handle.addr();
        self.handle = UdpKeyHandle::spawn(
            "127.0.0.1:0",
            device(&self.state, self.config.clone(), self.presence),
        )
        .unwrap_or_else(|e| panic!("restart after {addr}: {e}"));
    }
}

fn device(
    state: &Path,
    config: AuthenticatorConfig,
    presence: PresenceSettings,
) -> HidDevice<std::net::SocketAddr> {
    let key = Authenticator::open(config, Some(StateFile::new(state))).unwrap();
    HidDevice::new(key, presence)
}

fn spawn(state: &Path, config: AuthenticatorConfig, presence: PresenceSettings) -> UdpKeyHandle {
    UdpKeyHandle::spawn("127.0.0.1:0", device(state, config, presence)).unwrap()
}

fn cdh(label: &str) -> Vec<u8> {
    Sha256::digest(label.as_bytes()).to_vec()
}

fn mc_request(user: &str, rk: bool) -> MakeCredentialRequest {
    MakeCredentialRequest {
        client_data_hash: cdh(user),
        rp: RpEntity {
            id: RP.into(),
            name: Some("Example".into()),
        },
        user: UserEntity {
            id: user.as_bytes().to_vec(),
            name: Some(user.into()),
            display_name: Some(format!("User {user}")),
        },
        pub_key_cred_params: vec![PubKeyCredParam { alg: -7 }],
        exclude_list: vec![],
        extensions: MakeCredentialExtensions::default(),
        options: RequestOptions {
            rk: Some(rk),
            ..Default::default()
        },
        pin_uv_auth_param: None,
        pin_uv_auth_protocol: None,
        enterprise_attestation: None,
    }
}

fn with_token(mut req: MakeCredentialRequest, token: &PinUvAuthToken) -> MakeCredentialRequest {
    req.pin_uv_auth_param = Some(token.authenticate(&req.client_data_hash));
    req.pin_uv_auth_protocol = Some(token.protocol().id());
    req
}

fn status(e: Error) -> StatusCode {
    e.status()
        .unwrap_or_else(|| panic!("expected a CTAP status, got {e}"))
}

fn make(client: &mut Ctap2Client<UdpTransport>, user: &str, rk: bool) -> MakeCredentialResponse {
    let token = client
        .get_pin_token(PIN, Permissions::MAKE_CREDENTIAL, Some(RP))
        .unwrap();
    client
        .make_credential(&with_token(mc_request(user, rk), &token))
        .unwrap()
}

#[test]
fn every_command_with_both_pin_protocols() {
    for protocol in [PinUvAuthProtocol::One, PinUvAuthProtocol::Two] {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path());
        let mut c = key.client();
        c.force_pin_protocol(Some(protocol));

        // getInfo
        let info = c.info().clone();
        assert!(info.versions.contains(&"FIDO_2_1".to_string()));
        assert_eq!(info.pin_is_set(), Some(false));
        assert_eq!(info.option("credMgmt"), Some(true));
        assert_eq!(info.remaining_discoverable_credentials, Some(25));

        // clientPIN: set, retries, change, tokens
        c.set_pin(PIN).unwrap();
        assert_eq!(c.info().pin_is_set(), Some(true));
        assert_eq!(c.pin_retries().unwrap().retries, 8);
        c.change_pin(PIN, "24681357").unwrap();
        c.change_pin("24681357", PIN).unwrap();

        // makeCredential (discoverable, UV, credProtect, hmac-secret, credBlob)
        let token = c
            .get_pin_token(PIN, Permissions::MAKE_CREDENTIAL, Some(RP))
            .unwrap();
        let mut req = mc_request("alice", true);
        req.extensions = MakeCredentialExtensions {
            cred_protect: Some(2),
            hmac_secret: Some(true),
            cred_blob: Some(b"blob".to_vec()),
            min_pin_length: None,
            large_blob_key: None,
        };
        let made = c.make_credential(&with_token(req, &token)).unwrap();
        assert_eq!(made.fmt, "packed");
        let ad = AuthenticatorData::parse(&made.auth_data).unwrap();
        assert!(ad.flags.user_present() && ad.flags.user_verified());
        assert_eq!(ad.rp_id_hash[..], Sha256::digest(RP)[..]);
        let att = ad.attested.clone().unwrap();
        assert_eq!(att.aaguid, info.aaguid);
        assert_eq!(ad.extension("credProtect"), Some(&webauthn::cbor::int(2)));
        assert_eq!(
            ad.extension("hmac-secret"),
            Some(&webauthn::cbor::Value::Bool(true))
        );
        assert_eq!(
            ad.extension("credBlob"),
            Some(&webauthn::cbor::Value::Bool(true))
        );
        // The attestation signature verifies with the x5c leaf certificate.
        verify_packed_x5c(&made, &cdh("alice"));

        // getAssertion: discoverable with UV, then with an allow list.
        let token = c
            .get_pin_token(PIN, Permissions::GET_ASSERTION, Some(RP))
            .unwrap();
        let ga = GetAssertionRequest {
            rp_id: RP.into(),
            client_data_hash: cdh("signin"),
            allow_list: vec![],
            extensions: Default::default(),
            options: RequestOptions::default(),
            pin_uv_auth_param: Some(token.authenticate(&cdh("signin"))),
            pin_uv_auth_protocol: Some(token.protocol().id()),
        };
        let assertions = c.get_assertions(&ga).unwrap();
        assert_eq!(assertions.len(), 1);
        let a = &assertions[0];
        assert_eq!(a.credential.id, att.credential_id);
        assert_eq!(a.user.as_ref().unwrap().name.as_deref(), Some("alice"));
        let mut signed = a.auth_data.clone();
        signed.extend(cdh("signin"));
        att.public_key.verify(&signed, &a.signature).unwrap();
        let sign_count = AuthenticatorData::parse(&a.auth_data).unwrap().sign_count;
        assert!(sign_count > ad.sign_count, "counter advances");

        // credProtect 2: found without UV through the allow list only.
        let no_uv = GetAssertionRequest {
            pin_uv_auth_param: None,
            pin_uv_auth_protocol: None,
            ..ga.clone()
        };
        assert_eq!(
            status(c.get_assertions(&no_uv).unwrap_err()),
            StatusCode::NoCredentials
        );
        let listed = GetAssertionRequest {
            allow_list: vec![CredentialDescriptor::new(att.credential_id.clone())],
            ..no_uv
        };
        let a = c.get_assertions(&listed).unwrap();
        assert!(!AuthenticatorData::parse(&a[0].auth_data)
            .unwrap()
            .flags
            .user_verified());

        // A second discoverable credential: getNextAssertion.
        make(&mut c, "bob", true);
        let token = c
            .get_pin_token(PIN, Permissions::GET_ASSERTION, Some(RP))
            .unwrap();
        let ga2 = GetAssertionRequest {
            pin_uv_auth_param: Some(token.authenticate(&cdh("signin"))),
            ..ga.clone()
        };
        let both = c.get_assertions(&ga2).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(both[0].number_of_credentials, Some(2));
        assert_eq!(
            both[0].user.as_ref().unwrap().name.as_deref(),
            Some("bob"),
            "newest first"
        );

        // credentialManagement: metadata, enumerate, update, delete.
        let cm = c
            .get_pin_token(PIN, Permissions::CREDENTIAL_MANAGEMENT, None)
            .unwrap();
        assert_eq!(c.credentials_metadata(&cm).unwrap(), (2, 23));
        let creds = c.list_credentials(&cm).unwrap();
        assert_eq!(creds.len(), 2);
        assert!(creds.iter().all(|cr| cr.rp.id == RP));
        let alice = creds
            .iter()
            .find(|cr| cr.user.name.as_deref() == Some("alice"))
            .unwrap();
        assert_eq!(alice.cred_protect, Some(2));
        let renamed = UserEntity {
            id: alice.user.id.clone(),
            name: Some("alice@new".into()),
            display_name: None,
        };
        c.update_user(&cm, &alice.credential_id, renamed).unwrap();
        assert!(c
            .list_credentials(&cm)
            .unwrap()
            .iter()
            .any(|cr| cr.user.name.as_deref() == Some("alice@new")));
        c.delete_credential(&cm, &alice.credential_id).unwrap();
        assert_eq!(c.credentials_metadata(&cm).unwrap(), (1, 24));
        assert_eq!(
            status(c.delete_credential(&cm, &alice.credential_id).unwrap_err()),
            StatusCode::NoCredentials
        );

        // authenticatorConfig: min PIN length with RP IDs, alwaysUv, ep.
        let cfg = c
            .get_pin_token(PIN, Permissions::AUTHENTICATOR_CONFIG, None)
            .unwrap();
        c.set_min_pin_length(
            Some(&cfg),
            &SetMinPinLengthParams {
                new_min_pin_length: Some(6),
                min_pin_length_rpids: Some(vec![RP.into()]),
                force_change_pin: None,
            },
        )
        .unwrap();
        assert_eq!(c.info().min_pin_length, Some(6));
        assert_eq!(
            c.info().force_pin_change,
            Some(false),
            "the PIN already has 6 digits"
        );
        assert!(c.toggle_always_uv(Some(&cfg)).unwrap());
        // alwaysUv: a credential now needs the PIN even when not discoverable.
        assert_eq!(
            status(c.make_credential(&mc_request("carol", false)).unwrap_err()),
            StatusCode::PuatRequired
        );
        assert!(!c.toggle_always_uv(Some(&cfg)).unwrap());
        c.enable_enterprise_attestation(Some(&cfg)).unwrap();
        assert_eq!(c.info().option("ep"), Some(true));
        let mut ep = mc_request("dave", false);
        ep.enterprise_attestation = Some(2);
        let made = c.make_credential(&ep).unwrap();
        assert_eq!(made.ep_att, Some(true));
        verify_packed_x5c(&made, &cdh("dave"));

        // minPinLength extension: the RP is listed, so it learns the minimum.
        let mut mpl = mc_request("erin", false);
        mpl.extensions.min_pin_length = Some(true);
        let made = c.make_credential(&mpl).unwrap();
        let ad = AuthenticatorData::parse(&made.auth_data).unwrap();
        assert_eq!(ad.extension("minPinLength"), Some(&webauthn::cbor::int(6)));

        // selection, wink, reset.
        c.selection().unwrap();
        c.wink().unwrap();
        c.reset().unwrap();
        assert_eq!(c.info().pin_is_set(), Some(false));
        assert_eq!(c.info().min_pin_length, Some(4));
        assert_eq!(c.info().remaining_discoverable_credentials, Some(25));
    }
}

/// Checks a packed attestation with x5c: the leaf's key signed
/// authData ‖ clientDataHash.
fn verify_packed_x5c(made: &MakeCredentialResponse, client_data_hash: &[u8]) {
    use der::Decode;
    use p256::ecdsa::signature::Verifier;
    let mut stmt = webauthn::cbor::MapReader::new(made.att_stmt.clone(), "attStmt").unwrap();
    assert_eq!(stmt.int("alg", "alg").unwrap(), -7);
    let sig = stmt.bytes("sig", "sig").unwrap();
    let x5c = webauthn::cbor::into_array(stmt.require("x5c", "x5c").unwrap(), "x5c").unwrap();
    let leaf = webauthn::cbor::into_bytes(x5c[0].clone(), "x5c").unwrap();
    let cert = x509_cert::Certificate::from_der(&leaf).unwrap();
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(spki).unwrap();
    let mut signed = made.auth_data.clone();
    signed.extend_from_slice(client_data_hash);
    vk.verify(
        &signed,
        &p256::ecdsa::DerSignature::try_from(sig.as_slice()).unwrap(),
    )
    .unwrap();
}

#[test]
fn wrong_pins_decrement_then_need_power_cycle_then_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut key = Key::new(dir.path());
    let mut c = key.client();
    c.set_pin(PIN).unwrap();
    let mut expected = 8;
    // Three wrong PINs in a row: PIN_INVALID, PIN_INVALID, PIN_AUTH_BLOCKED.
    for (i, want) in [
        StatusCode::PinInvalid,
        StatusCode::PinInvalid,
        StatusCode::PinAuthBlocked,
    ]
    .into_iter()
    .enumerate()
    {
        let err = c
            .get_pin_token("000000", Permissions::MAKE_CREDENTIAL, None)
            .unwrap_err();
        assert_eq!(status(err), want, "attempt {}", i + 1);
        expected -= 1;
        assert_eq!(c.pin_retries().unwrap().retries, expected);
    }
    assert!(c.pin_retries().unwrap().power_cycle_required);
    // Even the right PIN is refused until the key is power-cycled.
    assert_eq!(
        status(
            c.get_pin_token(PIN, Permissions::MAKE_CREDENTIAL, None)
                .unwrap_err()
        ),
        StatusCode::PinAuthBlocked
    );
    assert_eq!(
        c.pin_retries().unwrap().retries,
        5,
        "a blocked attempt does not count"
    );
    key.power_cycle();
    let mut c = key.client();
    assert!(!c.pin_retries().unwrap().power_cycle_required);
    // The right PIN restores the counter.
    c.get_pin_token(PIN, Permissions::MAKE_CREDENTIAL, None)
        .unwrap();
    assert_eq!(c.pin_retries().unwrap().retries, 8);

    // Eight wrong PINs (power-cycling every three) block the PIN for good.
    let mut left = 8;
    while left > 0 {
        let err = status(
            c.get_pin_token("000000", Permissions::MAKE_CREDENTIAL, None)
                .unwrap_err(),
        );
        left -= 1;
        if left == 0 {
            assert_eq!(err, StatusCode::PinBlocked);
        } else if (8 - left) % 3 == 0 {
            assert_eq!(err, StatusCode::PinAuthBlocked);
            key.power_cycle();
            c = key.client();
        } else {
            assert_eq!(err, StatusCode::PinInvalid);
        }
    }
    assert_eq!(c.pin_retries().unwrap().retries, 0);
    key.power_cycle();
    let mut c = key.client();
    assert_eq!(
        status(
            c.get_pin_token(PIN, Permissions::MAKE_CREDENTIAL, None)
                .unwrap_err()
        ),
        StatusCode::PinBlocked
    );
    assert_eq!(
        status(c.change_pin(PIN, "999999").unwrap_err()),
        StatusCode::PinBlocked
    );
    // Only a reset helps.
    c.reset().unwrap();
    c.set_pin(PIN).unwrap();
    c.get_pin_token(PIN, Permissions::MAKE_CREDENTIAL, None)
        .unwrap();
}

#[test]
fn forced_pin_change_blocks_tokens_until_change_pin() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path());
    let mut c = key.client();
    c.set_pin(PIN).unwrap();
    let cfg = c
        .get_pin_token(PIN, Permissions::AUTHENTICATOR_CONFIG, None)
        .unwrap();
    c.set_min_pin_length(
        Some(&cfg),
        &SetMinPinLengthParams {
            force_change_pin: Some(true),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.info().force_pin_change, Some(true));
    assert_eq!(
        status(
            c.get_pin_token(PIN, Permissions::MAKE_CREDENTIAL, None)
                .unwrap_err()
        ),
        StatusCode::PinPolicyViolation
    );
    // The same PIN again is not a change.
    assert_eq!(
        status(c.change_pin(PIN, PIN).unwrap_err()),
        StatusCode::PinPolicyViolation
    );
    c.change_pin(PIN, "7654321").unwrap();
    assert_eq!(c.info().force_pin_change, Some(false));
    c.get_pin_token("7654321", Permissions::MAKE_CREDENTIAL, None)
        .unwrap();

    // Raising the minimum above the PIN's length forces a change too.
    let cfg = c
        .get_pin_token("7654321", Permissions::AUTHENTICATOR_CONFIG, None)
        .unwrap();
    c.set_min_pin_length(
        Some(&cfg),
        &SetMinPinLengthParams {
            new_min_pin_length: Some(8),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.info().force_pin_change, Some(true));
    // A new PIN shorter than the minimum is refused by the key.
    let err = c.change_pin("7654321", "1234567");
    assert!(err.is_err());
    c.change_pin("7654321", "12345678").unwrap();
    // The minimum never shrinks.
    let cfg = c
        .get_pin_token("12345678", Permissions::AUTHENTICATOR_CONFIG, None)
        .unwrap();
    let shrink = SetMinPinLengthParams {
        new_min_pin_length: Some(6),
        ..Default::default()
    };
    assert_eq!(
        status(c.set_min_pin_length(Some(&cfg), &shrink).unwrap_err()),
        StatusCode::PinPolicyViolation
    );
}

#[test]
fn full_key_and_excluded_credential() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::start(
        dir.path(),
        AuthenticatorConfig {
            capacity: 2,
            reset_window: None,
            ..Default::default()
        },
        PresenceSettings::default(),
    );
    let mut c = key.client();
    c.set_pin(PIN).unwrap();
    let first = make(&mut c, "u1", true);
    make(&mut c, "u2", true);
    assert_eq!(
        c.refresh_info().unwrap().remaining_discoverable_credentials,
        Some(0)
    );
    let token = c
        .get_pin_token(PIN, Permissions::MAKE_CREDENTIAL, Some(RP))
        .unwrap();
    let err = c
        .make_credential(&with_token(mc_request("u3", true), &token))
        .unwrap_err();
    assert_eq!(status(err), StatusCode::KeyStoreFull);
    // Replacing the same user's credential needs no new slot.
    make(&mut c, "u2", true);

    let id = AuthenticatorData::parse(&first.auth_data)
        .unwrap()
        .attested
        .unwrap()
        .credential_id;
    let mut req = mc_request("u1", false);
    req.exclude_list = vec![
        CredentialDescriptor::new(vec![0; 64]),
        CredentialDescriptor::new(id),
    ];
    assert_eq!(
        status(c.make_credential(&req).unwrap_err()),
        StatusCode::CredentialExcluded
    );
    // Another key's ids do not exclude.
    req.exclude_list = vec![CredentialDescriptor::new(vec![1; 64])];
    c.make_credential(&req).unwrap();
}

#[test]
fn discoverable_credentials_need_the_pin_once_set() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path());
    let mut c = key.client();
    // No PIN: a discoverable credential is made with presence only.
    c.make_credential(&mc_request("a", true)).unwrap();
    c.set_pin(PIN).unwrap();
    assert_eq!(
        status(c.make_credential(&mc_request("b", true)).unwrap_err()),
        StatusCode::PuatRequired
    );
    // makeCredUvNotRqd: non-discoverable still works without the PIN.
    c.make_credential(&mc_request("b", false)).unwrap();
    // A token for one RP is not valid for another.
    let token = c
        .get_pin_token(PIN, Permissions::MAKE_CREDENTIAL, Some(RP))
        .unwrap();
    let mut other = with_token(mc_request("c", true), &token);
    other.rp.id = "evil.example".into();
    assert_eq!(
        status(c.make_credential(&other).unwrap_err()),
        StatusCode::UnauthorizedPermission
    );
    // A token without mc permission cannot make credentials.
    let ga = c
        .get_pin_token(PIN, Permissions::GET_ASSERTION, Some(RP))
        .unwrap();
    let err = c
        .make_credential(&with_token(mc_request("c", true), &ga))
        .unwrap_err();
    assert_eq!(status(err), StatusCode::UnauthorizedPermission);
    // A forged pinUvAuthParam is refused.
    let mut forged = with_token(mc_request("c", true), &token);
    forged.pin_uv_auth_param.as_mut().unwrap()[0] ^= 1;
    assert_eq!(
        status(c.make_credential(&forged).unwrap_err()),
        StatusCode::PinAuthInvalid
    );
    // Unsupported algorithm.
    let mut rsa_only = mc_request("d", false);
    rsa_only.pub_key_cred_params = vec![PubKeyCredParam { alg: -257 }];
    assert_eq!(
        status(c.make_credential(&rsa_only).unwrap_err()),
        StatusCode::UnsupportedAlgorithm
    );
}

#[test]
fn eddsa_and_self_and_none_attestation() {
    for (mode, fmt) in [
        (AttestationMode::SelfAttestation, "packed"),
        (AttestationMode::None, "none"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::start(
            dir.path(),
            AuthenticatorConfig {
                attestation: mode,
                reset_window: None,
                ..Default::default()
            },
            PresenceSettings::default(),
        );
        let mut c = key.client();
        let mut req = mc_request("eve", false);
        req.pub_key_cred_params = vec![PubKeyCredParam { alg: -8 }, PubKeyCredParam { alg: -7 }];
        let made = c.make_credential(&req).unwrap();
        assert_eq!(made.fmt, fmt);
        let att = AuthenticatorData::parse(&made.auth_data)
            .unwrap()
            .attested
            .unwrap();
        assert_eq!(att.public_key.alg(), -8);
        if mode == AttestationMode::SelfAttestation {
            let mut stmt =
                webauthn::cbor::MapReader::new(made.att_stmt.clone(), "attStmt").unwrap();
            assert_eq!(stmt.int("alg", "alg").unwrap(), -8);
            let mut signed = made.auth_data.clone();
            signed.extend(cdh("eve"));
            att.public_key
                .verify(&signed, &stmt.bytes("sig", "sig").unwrap())
                .unwrap();
        }
    }
}

#[test]
fn presence_denied_timed_out_and_keepalive() {
    let dir = tempfile::tempdir().unwrap();
    let deny = Key::start(
        dir.path(),
        AuthenticatorConfig::default(),
        PresenceSettings {
            mode: PresenceMode::Deny,
            ..Default::default()
        },
    );
    let mut c = deny.client();
    assert_eq!(
        status(c.make_credential(&mc_request("x", false)).unwrap_err()),
        StatusCode::OperationDenied
    );

    let dir = tempfile::tempdir().unwrap();
    let slow = Key::start(
        dir.path(),
        AuthenticatorConfig::default(),
        PresenceSettings {
            mode: PresenceMode::Timeout,
            timeout: Duration::from_millis(600),
            ..Default::default()
        },
    );
    let mut c = slow.client();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    c.set_keepalive_handler(move |s| log.lock().unwrap().push(s));
    assert_eq!(
        status(c.make_credential(&mc_request("x", false)).unwrap_err()),
        StatusCode::UserActionTimeout
    );
    assert!(
        seen.lock()
            .unwrap()
            .contains(&ctap::hid::KeepaliveStatus::UpNeeded),
        "the key asked for a touch with KEEPALIVE"
    );

    // CANCEL aborts a request waiting for a touch.
    let cancel = c.cancel_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        cancel.cancel();
    });
    let started = std::time::Instant::now();
    assert_eq!(
        status(c.selection().unwrap_err()),
        StatusCode::KeepaliveCancel
    );
    assert!(started.elapsed() < Duration::from_millis(550));
    t.join().unwrap();
}

#[test]
fn reset_only_right_after_power_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut key = Key::start(
        dir.path(),
        AuthenticatorConfig {
            reset_window: Some(Duration::from_millis(400)),
            ..Default::default()
        },
        PresenceSettings::default(),
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut c = key.client();
    assert_eq!(status(c.reset().unwrap_err()), StatusCode::NotAllowed);
    key.power_cycle();
    key.client().reset().unwrap();
}

#[test]
fn state_survives_restart_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let mut key = Key::new(dir.path());
    let mut c = key.client();
    c.set_pin(PIN).unwrap();
    make(&mut c, "persist", true);
    key.power_cycle();
    let mut c = key.client();
    let cm = c
        .get_pin_token(PIN, Permissions::CREDENTIAL_MANAGEMENT, None)
        .unwrap();
    assert_eq!(c.list_credentials(&cm).unwrap().len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key.state).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let text = std::fs::read_to_string(&key.state).unwrap();
    assert!(!text.contains(PIN), "the PIN itself is never stored");
}

/// §6.5.5.7: no permission at all is an invalid parameter; one the key
/// cannot grant (the virtual key has no bio enrollment and no large blobs),
/// or a bit CTAP 2.1 does not define, is refused.
#[test]
fn token_permissions_the_key_cannot_grant_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path());
    let mut c = key.client();
    c.set_pin(PIN).unwrap();
    assert_eq!(
        status(
            c.get_pin_token(PIN, Permissions::empty(), None)
                .unwrap_err()
        ),
        StatusCode::InvalidParameter
    );
    for refused in [
        Permissions::BIO_ENROLLMENT,
        Permissions::LARGE_BLOB_WRITE,
        Permissions::MAKE_CREDENTIAL | Permissions::from_bits_retain(0x40),
    ] {
        assert_eq!(
            status(c.get_pin_token(PIN, refused, None).unwrap_err()),
            StatusCode::UnauthorizedPermission,
            "{refused:?}"
        );
    }
    c.get_pin_token(
        PIN,
        Permissions::CREDENTIAL_MANAGEMENT | Permissions::AUTHENTICATOR_CONFIG,
        None,
    )
    .unwrap();
}

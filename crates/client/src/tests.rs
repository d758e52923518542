//! The client layer against Keysmith's software authenticator, in process.

use super::*;
use authenticator::serve::InProcessKeyHandle;
use authenticator::{Authenticator, AuthenticatorConfig, HidDevice, PresenceSettings};
use ctap::transport::inproc::InProcessTransport;
use webauthn::graph::{
    CreationExtensions, CredentialDescriptor as GraphDescriptor, PubKeyCredParam as GraphParam,
    RelyingParty, UserEntity as GraphUser,
};

const PIN: &str = "246810";
const RP: &str = "login.example.com";

struct Key {
    ctap: Ctap2Client<InProcessTransport>,
    _key: InProcessKeyHandle,
}

fn key() -> Key {
    let authenticator = Authenticator::open(
        AuthenticatorConfig {
            reset_window: None,
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let mut handle =
        InProcessKeyHandle::spawn(HidDevice::new(authenticator, PresenceSettings::default()));
    let mut ctap = Ctap2Client::open(handle.transport()).unwrap();
    ctap.set_pin(PIN).unwrap();
    Key { ctap, _key: handle }
}

fn options(user: &str, exclude: &[Vec<u8>]) -> PublicKeyCredentialCreationOptions {
    PublicKeyCredentialCreationOptions {
        rp: RelyingParty {
            id: RP.into(),
            name: "Example".into(),
        },
        user: GraphUser {
            id: b64::encode(format!("handle-{user}")),
            name: user.into(),
            display_name: format!("User {user}"),
        },
        challenge: b64::encode(b"a challenge of thirty-two bytes!"),
        pub_key_cred_params: [-257, -7, -8]
            .into_iter()
            .map(|alg| GraphParam {
                type_: "public-key".into(),
                alg,
            })
            .collect(),
        timeout: None,
        exclude_credentials: exclude
            .iter()
            .map(|id| GraphDescriptor {
                type_: "public-key".into(),
                id: b64::encode(id),
                transports: vec![],
            })
            .collect(),
        authenticator_selection: None,
        attestation: Some("direct".into()),
        extensions: Some(CreationExtensions {
            hmac_create_secret: Some(true),
            enforce_credential_protection_policy: Some(true),
            credential_protection_policy: Some("userVerificationRequired".into()),
            ..Default::default()
        }),
    }
}

fn with_pin() -> RegistrationParams<'static> {
    RegistrationParams {
        origin: None,
        pin: Some(PIN),
        ..Default::default()
    }
}

#[test]
fn registers_then_signs_in() {
    let mut k = key();
    let o = options("ann@example.com", &[]);
    let prepared = prepare_registration(&mut k.ctap, &o, &with_pin()).unwrap();
    assert_eq!(prepared.rp_id, RP);
    assert_eq!(prepared.origin, "https://login.example.com");
    // The key offers ES256 and EdDSA: RS256 is not asked for.
    assert_eq!(prepared.algorithms(), [-7, -8]);
    assert_eq!(prepared.extensions().cred_protect, Some(3));
    assert_eq!(prepared.extensions().hmac_secret, Some(true));
    let reg = complete_registration(&mut k.ctap, prepared).unwrap();
    let cd: serde_json::Value = serde_json::from_slice(&reg.client_data_json).unwrap();
    assert_eq!(cd["type"], "webauthn.create");
    assert_eq!(cd["challenge"], o.challenge);
    assert_eq!(cd["origin"], "https://login.example.com");
    let ad = webauthn::AuthenticatorData::parse(&reg.authenticator_data).unwrap();
    assert_eq!(
        ad.rp_id_hash.to_vec(),
        Sha256::digest(RP.as_bytes()).to_vec()
    );
    assert!(ad.flags.user_verified());
    assert_eq!(ad.attested.unwrap().credential_id, reg.credential_id);

    // Username-first and discoverable sign-in.
    for allow in [vec![reg.credential_id.clone()], vec![]] {
        let a = get_assertion(
            &mut k.ctap,
            &AssertionParams {
                rp_id: RP,
                challenge: "c2lnbi1pbg",
                allow,
                origin: Some("https://login.example.com:8443"),
                pin: Some(PIN),
            },
        )
        .unwrap();
        assert_eq!(a.credential_id, reg.credential_id);
        assert_eq!(
            a.user_handle.as_deref(),
            Some(&b"handle-ann@example.com"[..])
        );
        let cd: serde_json::Value = serde_json::from_slice(&a.client_data_json).unwrap();
        assert_eq!(cd["type"], "webauthn.get");
        assert_eq!(cd["origin"], "https://login.example.com:8443");
        assert!(!a.signature.is_empty());
    }
}

#[test]
fn excluded_credentials_are_found_in_short_and_long_lists() {
    let mut k = key();
    let first =
        make_credential(&mut k.ctap, &options("bob@example.com", &[]), &with_pin()).unwrap();
    // In the request's own exclude list (short), and by probing in batches
    // when the list is longer than the key's maxCredentialCountInList (16).
    let mut long: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 32]).collect();
    long.push(first.credential_id.clone());
    for exclude in [vec![first.credential_id.clone()], long] {
        let e = make_credential(
            &mut k.ctap,
            &options("bob@example.com", &exclude),
            &with_pin(),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::DeviceIneligible, "{e}");
        assert_eq!(e.status(), Some(StatusCode::CredentialExcluded));
    }
    // A long list of other credentials: probed, none found, created.
    let others: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 32]).collect();
    make_credential(
        &mut k.ctap,
        &options("carl@example.com", &others),
        &with_pin(),
    )
    .unwrap();
}

#[test]
fn errors_are_mapped_once() {
    let mut k = key();
    let e = make_credential(
        &mut k.ctap,
        &options("dora@example.com", &[]),
        &RegistrationParams {
            origin: None,
            pin: Some("000000"),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        (e.code, e.status()),
        (ErrorCode::BadRequest, Some(StatusCode::PinInvalid))
    );
    let e = get_assertion(
        &mut k.ctap,
        &AssertionParams {
            rp_id: "nobody.example.com",
            challenge: "eA",
            pin: Some(PIN),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        (e.code, e.status()),
        (ErrorCode::DeviceIneligible, Some(StatusCode::NoCredentials))
    );
    let mut bad = options("eve@example.com", &[]);
    bad.user.id = "not base64url!".into();
    let e = prepare_registration(&mut k.ctap, &bad, &with_pin()).unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert!(e.message.contains("user handle"), "{e}");
    // No algorithm the key knows: the key refuses it.
    let mut rsa = options("fay@example.com", &[]);
    rsa.pub_key_cred_params.retain(|p| p.alg == -257);
    let e = make_credential(&mut k.ctap, &rsa, &with_pin()).unwrap_err();
    assert_eq!(
        (e.code, e.status()),
        (
            ErrorCode::ConfigurationUnsupported,
            Some(StatusCode::UnsupportedAlgorithm)
        )
    );
}

#[test]
fn the_status_table_follows_python_fido2() {
    use StatusCode as S;
    for (s, code) in [
        (S::CredentialExcluded, ErrorCode::DeviceIneligible),
        (S::NoCredentials, ErrorCode::DeviceIneligible),
        (S::KeepaliveCancel, ErrorCode::Timeout),
        (S::ActionTimeout, ErrorCode::Timeout),
        (S::UserActionTimeout, ErrorCode::Timeout),
        (S::UnsupportedAlgorithm, ErrorCode::ConfigurationUnsupported),
        (S::UnsupportedOption, ErrorCode::ConfigurationUnsupported),
        (S::KeyStoreFull, ErrorCode::ConfigurationUnsupported),
        (S::InvalidCommand, ErrorCode::BadRequest),
        (S::CborUnexpectedType, ErrorCode::BadRequest),
        (S::InvalidCbor, ErrorCode::BadRequest),
        (S::MissingParameter, ErrorCode::BadRequest),
        (S::InvalidOption, ErrorCode::BadRequest),
        (S::PuatRequired, ErrorCode::BadRequest),
        (S::PinInvalid, ErrorCode::BadRequest),
        (S::PinBlocked, ErrorCode::BadRequest),
        (S::PinNotSet, ErrorCode::BadRequest),
        (S::PinAuthBlocked, ErrorCode::Other),
        (S::Other, ErrorCode::Other),
    ] {
        assert_eq!(code_of(&ctap::Error::Status(s)), code, "{s:?}");
    }
    assert_eq!(ErrorCode::Timeout as u8, 5);
    assert_eq!(
        code_of(&ctap::Error::Timeout(std::time::Duration::from_secs(1))),
        ErrorCode::Timeout
    );
}

#[test]
fn names_are_cut_on_a_character_boundary() {
    assert_eq!(cut_utf8("short", 64), "short");
    let long = "é".repeat(40); // 80 bytes
    let cut = cut_utf8(&long, 64);
    assert_eq!(cut.len(), 64);
    let odd = format!("a{}", "é".repeat(40)); // 81 bytes, boundary at 63
    assert_eq!(cut_utf8(&odd, 64).len(), 63);
    // A registration with such names works and the key keeps the cut.
    let mut k = key();
    let mut o = options("x@example.com", &[]);
    o.user.name = odd.clone();
    o.user.display_name = long.clone();
    make_credential(&mut k.ctap, &o, &with_pin()).unwrap();
    let token = k
        .ctap
        .get_pin_token(PIN, Permissions::CREDENTIAL_MANAGEMENT, None)
        .unwrap();
    let stored = k.ctap.list_credentials(&token).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].user.name.as_deref(), Some(cut_utf8(&odd, 64)));
}

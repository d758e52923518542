//! Arbitrary CTAP2 requests (command byte ‖ CBOR) into the virtual key's
//! command processor and every typed request decoder: no panic, and every
//! answer starts with a status byte.
#![no_main]

use authenticator::ctap2::AuthenticatorConfig;
use authenticator::presence::AlwaysPresent;
use authenticator::Authenticator;
use ctap::cmd::client_pin::ClientPinRequest;
use ctap::cmd::config::ConfigRequest;
use ctap::cmd::cred_mgmt::CredMgmtRequest;
use ctap::cmd::get_assertion::GetAssertionRequest;
use ctap::cmd::make_credential::MakeCredentialRequest;
use ctap::cmd::CtapRequest;
use libfuzzer_sys::fuzz_target;
use std::sync::{LazyLock, Mutex};

static KEY: LazyLock<Mutex<Authenticator>> = LazyLock::new(|| {
    Mutex::new(Authenticator::open(AuthenticatorConfig::default(), None).unwrap())
});

fuzz_target!(|data: &[u8]| {
    if let Some((_, body)) = data.split_first() {
        if let Ok(v) = webauthn::cbor::decode(body) {
            let _ = MakeCredentialRequest::from_cbor(Some(v.clone()));
            let _ = GetAssertionRequest::from_cbor(Some(v.clone()));
            let _ = ClientPinRequest::from_cbor(Some(v.clone()));
            let _ = CredMgmtRequest::from_cbor(Some(v.clone()));
            let _ = ConfigRequest::from_cbor(Some(v));
        }
    }
    let answer = KEY.lock().unwrap().process(data, &AlwaysPresent);
    assert!(!answer.is_empty());
});

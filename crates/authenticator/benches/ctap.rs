//! makeCredential and PIN-token acquisition against the virtual key, over
//! the UDP transport and in-process, to measure the transport's overhead.
//! `cargo bench -p keysmith-authenticator --bench ctap`

use criterion::{criterion_group, criterion_main, Criterion};
use ctap::cmd::make_credential::MakeCredentialRequest;
use ctap::cmd::{PubKeyCredParam, RequestOptions, RpEntity, UserEntity};
use ctap::pin::Permissions;
use ctap::transport::Transport;
use ctap::Ctap2Client;
use keysmith_authenticator::ctap2::AuthenticatorConfig;
use keysmith_authenticator::presence::AlwaysPresent;
use keysmith_authenticator::serve::{InProcessKeyHandle, UdpKeyHandle};
use keysmith_authenticator::{Authenticator, HidDevice, PresenceSettings};

const PIN: &str = "123456";

fn key() -> Authenticator {
    Authenticator::open(AuthenticatorConfig::default(), None).unwrap()
}

fn request(token: &ctap::client::PinUvAuthToken) -> MakeCredentialRequest {
    let cdh = vec![7u8; 32];
    MakeCredentialRequest {
        pin_uv_auth_param: Some(token.authenticate(&cdh)),
        pin_uv_auth_protocol: Some(token.protocol().id()),
        client_data_hash: cdh,
        rp: RpEntity {
            id: "bench.example".into(),
            name: None,
        },
        user: UserEntity {
            id: vec![1; 16],
            name: Some("bench".into()),
            display_name: None,
        },
        pub_key_cred_params: vec![PubKeyCredParam { alg: -7 }],
        exclude_list: vec![],
        extensions: Default::default(),
        options: RequestOptions::default(),
        enterprise_attestation: None,
    }
}

fn bench_client<T: Transport>(c: &mut Criterion, name: &str, client: &mut Ctap2Client<T>) {
    if client.info().pin_is_set() != Some(true) {
        client.set_pin(PIN).unwrap();
    }
    c.bench_function(&format!("pin_token/{name}"), |b| {
        b.iter(|| {
            client
                .get_pin_token(PIN, Permissions::MAKE_CREDENTIAL, Some("bench.example"))
                .unwrap()
        })
    });
    let token = client
        .get_pin_token(PIN, Permissions::MAKE_CREDENTIAL, Some("bench.example"))
        .unwrap();
    let req = request(&token);
    c.bench_function(&format!("make_credential/{name}"), |b| {
        b.iter(|| client.make_credential(&req).unwrap())
    });
}

fn benches(c: &mut Criterion) {
    // The authenticator alone: CTAP2 processing without any framing.
    let mut direct = key();
    let mut in_process =
        InProcessKeyHandle::spawn(HidDevice::new(key(), PresenceSettings::default()));
    let mut raw_client = Ctap2Client::open(in_process.transport()).unwrap();
    bench_client(c, "in_process", &mut raw_client);

    let udp = UdpKeyHandle::spawn(
        "127.0.0.1:0",
        HidDevice::new(key(), PresenceSettings::default()),
    )
    .unwrap();
    let mut udp_client = Ctap2Client::open(
        ctap::transport::udp::UdpTransport::connect(&udp.addr().to_string()).unwrap(),
    )
    .unwrap();
    bench_client(c, "udp", &mut udp_client);

    // Reference point: makeCredential processed by the authenticator with
    // no transport at all.
    use ctap::cmd::CtapRequest;
    let info = direct.get_info();
    assert!(!info.options["clientPin"]);
    let mut req = request_without_pin();
    req.options.rk = Some(false);
    let bytes = req.encode();
    c.bench_function("make_credential/direct", |b| {
        b.iter(|| direct.process(&bytes, &AlwaysPresent))
    });
}

fn request_without_pin() -> MakeCredentialRequest {
    MakeCredentialRequest {
        client_data_hash: vec![7u8; 32],
        rp: RpEntity {
            id: "bench.example".into(),
            name: None,
        },
        user: UserEntity {
            id: vec![1; 16],
            name: Some("bench".into()),
            display_name: None,
        },
        pub_key_cred_params: vec![PubKeyCredParam { alg: -7 }],
        exclude_list: vec![],
        extensions: Default::default(),
        options: RequestOptions::default(),
        pin_uv_auth_param: None,
        pin_uv_auth_protocol: None,
        enterprise_attestation: None,
    }
}

criterion_group! {
    name = ctap;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = benches
}
criterion_main!(ctap);

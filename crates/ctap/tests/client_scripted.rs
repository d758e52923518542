//! The client's verbs against keys scripted by hand (what the virtual key
//! never does): a key without CTAP2 or WINK, one that offers only PIN/UV
//! auth protocol one or none, one that never answers. The scripted key
//! speaks CTAPHID (CTAP 2.1 §11.2) and answers CBOR requests with frames
//! built from the typed responses; it records what the client sent.

use keysmith_ctap as ctap;

use ctap::cmd::get_info::GetInfoResponse;
use ctap::cmd::{encode_response, encode_status, split_request};
use ctap::hid::{capability, Assembly, HidCommand, InitResponse, Message, Packet, Reassembler};
use ctap::pin::PinUvAuthProtocol;
use ctap::transport::inproc::{pair, InProcessTransport};
use ctap::{Ctap2Client, Error, StatusCode};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const CID: u32 = 0x4B45_5953;

type Seen = Arc<Mutex<Vec<(HidCommand, Vec<u8>)>>>;

/// A key with `caps` that answers each CBOR request with `answer(frame)`
/// (`None`: stays silent) and WINK with an empty WINK.
fn scripted(
    caps: u8,
    answer: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static,
) -> (InProcessTransport, Seen) {
    let (host, device) = pair();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    thread::spawn(move || {
        let mut assembling: Option<Reassembler> = None;
        while let Ok(report) = device.from_host.recv() {
            let state = match Packet::parse(&report) {
                Packet::Init {
                    cid,
                    cmd,
                    bcnt,
                    data,
                } => {
                    let (r, state) = Reassembler::start(cid, cmd, bcnt, &data).unwrap();
                    assembling = Some(r);
                    state
                }
                Packet::Cont { seq, data, .. } => {
                    assembling.as_mut().unwrap().push(seq, &data).unwrap()
                }
            };
            let Assembly::Complete(msg) = state else {
                continue;
            };
            log.lock().unwrap().push((msg.cmd, msg.payload.clone()));
            let reply = match msg.cmd {
                HidCommand::Init => {
                    let mut nonce = [0u8; 8];
                    nonce.copy_from_slice(&msg.payload[..8]);
                    let init = InitResponse {
                        nonce,
                        cid: CID,
                        protocol_version: 2,
                        version: (5, 4, 3),
                        capabilities: caps,
                    };
                    Some(Message::new(msg.cid, HidCommand::Init, init.to_bytes()))
                }
                HidCommand::Wink => Some(Message::new(CID, HidCommand::Wink, vec![])),
                HidCommand::Cbor => {
                    answer(&msg.payload).map(|f| Message::new(CID, HidCommand::Cbor, f))
                }
                _ => None,
            };
            for r in reply.map(|m| m.to_reports().unwrap()).unwrap_or_default() {
                if device.to_host.send(r).is_err() {
                    return;
                }
            }
        }
    });
    (host, seen)
}

fn info(protocols: &[u64], options: &[(&str, bool)]) -> GetInfoResponse {
    GetInfoResponse {
        versions: vec!["FIDO_2_0".into(), "FIDO_2_1".into()],
        aaguid: [7; 16],
        pin_uv_auth_protocols: protocols.to_vec(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>(),
        ..Default::default()
    }
}

/// A key that answers getInfo with `i` and every other command with
/// `other`.
fn key_with(caps: u8, i: GetInfoResponse, other: StatusCode) -> (InProcessTransport, Seen) {
    scripted(caps, move |frame| {
        let (cmd, _) = split_request(frame).unwrap();
        Some(if cmd == 0x04 {
            encode_response(&i)
        } else {
            encode_status(other)
        })
    })
}

const CTAP2: u8 = capability::CBOR | capability::WINK | capability::NMSG;

#[test]
fn a_key_without_ctap2_is_refused_at_open() {
    let (host, seen) = key_with(capability::WINK, info(&[2], &[]), StatusCode::Ok);
    let Err(e) = Ctap2Client::open(host) else {
        panic!("accepted")
    };
    assert!(
        matches!(&e, Error::Unsupported(m) if m.contains("CTAP2")),
        "{e}"
    );
    // Only INIT went out: no CBOR request to a key that cannot read one.
    let cmds: Vec<HidCommand> = seen.lock().unwrap().iter().map(|(c, _)| *c).collect();
    assert_eq!(cmds, [HidCommand::Init]);
}

#[test]
fn what_the_session_reports() {
    let (host, seen) = key_with(
        CTAP2,
        info(&[2, 1], &[("clientPin", false)]),
        StatusCode::Ok,
    );
    let mut c = Ctap2Client::open(host).unwrap();
    assert_eq!(c.describe(), "in-process");
    assert_eq!(c.device_version(), (5, 4, 3));
    assert_eq!(c.info().aaguid, [7; 16]);
    assert!(c.time_in_key() > Duration::ZERO, "getInfo took some time");
    let before = c.time_in_key();
    c.refresh_info().unwrap();
    assert!(c.time_in_key() > before, "each CBOR request adds its time");
    c.wink().unwrap();
    let cmds: Vec<HidCommand> = seen.lock().unwrap().iter().map(|(c, _)| *c).collect();
    assert_eq!(
        cmds,
        [
            HidCommand::Init,
            HidCommand::Cbor,
            HidCommand::Cbor,
            HidCommand::Wink
        ]
    );
}

#[test]
fn wink_needs_the_capability() {
    let (host, seen) = key_with(capability::CBOR, info(&[2], &[]), StatusCode::Ok);
    let mut c = Ctap2Client::open(host).unwrap();
    let e = c.wink().unwrap_err();
    assert!(matches!(&e, Error::Unsupported(m) if m == "wink"), "{e}");
    assert!(!seen
        .lock()
        .unwrap()
        .iter()
        .any(|(c, _)| *c == HidCommand::Wink));
}

/// §6.5.5.1: the platform picks protocol two when offered, else one; a
/// CTAP 2.0 key lists no protocols but has clientPin, meaning one.
#[test]
fn which_pin_protocol() {
    let open = |protocols: &[u64], options: &[(&str, bool)]| {
        Ctap2Client::open(key_with(CTAP2, info(protocols, options), StatusCode::Ok).0).unwrap()
    };
    assert_eq!(
        open(&[1, 2], &[]).pin_protocol().unwrap(),
        PinUvAuthProtocol::Two
    );
    assert_eq!(
        open(&[1], &[]).pin_protocol().unwrap(),
        PinUvAuthProtocol::One
    );
    assert_eq!(
        open(&[], &[("clientPin", true)]).pin_protocol().unwrap(),
        PinUvAuthProtocol::One
    );
    assert_eq!(
        open(&[], &[("clientPin", false)]).pin_protocol().unwrap(),
        PinUvAuthProtocol::One
    );
    // Neither protocols nor clientPin: no PIN support.
    assert!(matches!(
        open(&[], &[]).pin_protocol(),
        Err(Error::Unsupported(_))
    ));
    // Only an unknown protocol, with clientPin: none we can use.
    assert!(matches!(
        open(&[3], &[("clientPin", true)]).pin_protocol(),
        Err(Error::Unsupported(_))
    ));
    // Forcing: only among those offered; None goes back to the choice.
    let mut c = open(&[1, 2], &[]);
    c.force_pin_protocol(Some(PinUvAuthProtocol::One));
    assert_eq!(c.pin_protocol().unwrap(), PinUvAuthProtocol::One);
    c.force_pin_protocol(None);
    assert_eq!(c.pin_protocol().unwrap(), PinUvAuthProtocol::Two);
    let mut c = open(&[1], &[]);
    c.force_pin_protocol(Some(PinUvAuthProtocol::Two));
    assert!(matches!(&c.pin_protocol(), Err(Error::Unsupported(m)) if m.contains('2')));
}

/// §6.5.1: a PIN breaking the key's rules is refused before any request.
#[test]
fn a_bad_new_pin_never_reaches_the_key() {
    let mut i = info(&[2], &[("clientPin", false)]);
    i.min_pin_length = Some(6);
    let (host, seen) = key_with(CTAP2, i, StatusCode::Ok);
    let mut c = Ctap2Client::open(host).unwrap();
    let sent = seen.lock().unwrap().len();
    for pin in ["12345", "12\u{0}3456", &"9".repeat(64)] {
        let e = c.set_pin(pin).unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(_)), "{pin:?}: {e}");
        let e = c.change_pin("123456", pin).unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(_)), "{pin:?}: {e}");
    }
    assert_eq!(seen.lock().unwrap().len(), sent, "nothing was sent");
}

#[test]
fn a_silent_key_times_out_after_the_idle_timeout() {
    let (host, _) = scripted(CTAP2, {
        let first = Mutex::new(true);
        move |_| {
            let mut f = first.lock().unwrap();
            // getInfo is answered, then nothing.
            std::mem::take(&mut *f).then(|| encode_response(&info(&[2], &[])))
        }
    });
    let mut c = Ctap2Client::open(host).unwrap();
    c.set_idle_timeout(Duration::from_millis(120));
    let started = std::time::Instant::now();
    let e = c.refresh_info().unwrap_err();
    assert!(
        matches!(e, Error::Timeout(t) if t == Duration::from_millis(120)),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A key's status byte comes back as Error::Status, named.
#[test]
fn statuses_come_back_as_errors() {
    let (host, _) = key_with(
        CTAP2,
        info(&[2], &[("clientPin", true)]),
        StatusCode::PinBlocked,
    );
    let mut c = Ctap2Client::open(host).unwrap();
    let e = c.pin_retries().unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::PinBlocked));
    assert_eq!(
        c.reset().unwrap_err().status(),
        Some(StatusCode::PinBlocked)
    );
    assert_eq!(
        c.selection().unwrap_err().status(),
        Some(StatusCode::PinBlocked)
    );
}

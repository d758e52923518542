//! Raw CTAPHID over UDP: malformed reports get CTAPHID ERROR answers and the
//! key keeps serving every client.

use keysmith_authenticator as authenticator;

use authenticator::ctap2::AuthenticatorConfig;
use authenticator::serve::UdpKeyHandle;
use authenticator::{Authenticator, HidDevice, PresenceMode, PresenceSettings};
use ctap::hid::{
    HidCommand, HidError, InitResponse, Message, Packet, Report, BROADCAST_CID, REPORT_LEN,
};
use std::net::UdpSocket;
use std::time::Duration;

fn key(presence: PresenceSettings) -> UdpKeyHandle {
    let auth = Authenticator::open(AuthenticatorConfig::default(), None).unwrap();
    UdpKeyHandle::spawn("127.0.0.1:0", HidDevice::new(auth, presence)).unwrap()
}

/// How long a test waits for an answer: well past the key's own message
/// timeout, whose MSG_TIMEOUT error one test waits for — with a wait of
/// exactly that timeout (3 s) the test lost the race on a busy machine.
const ANSWER_WAIT: Duration = authenticator::hid::MESSAGE_TIMEOUT.saturating_mul(3);

struct Raw {
    socket: UdpSocket,
}

impl Raw {
    fn connect(key: &UdpKeyHandle) -> Raw {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(key.addr()).unwrap();
        socket.set_read_timeout(Some(ANSWER_WAIT)).unwrap();
        Raw { socket }
    }

    fn send(&self, report: &Report) {
        self.socket.send(report).unwrap();
    }

    fn recv(&self) -> Packet {
        let mut buf = [0u8; 128];
        let n = self.socket.recv(&mut buf).expect("the key answers");
        assert_eq!(n, REPORT_LEN, "one report per datagram");
        Packet::parse(buf[..REPORT_LEN].try_into().unwrap())
    }

    /// Skips keepalives.
    fn recv_answer(&self) -> Packet {
        loop {
            let p = self.recv();
            if !matches!(
                p,
                Packet::Init {
                    cmd: HidCommand::Keepalive,
                    ..
                }
            ) {
                return p;
            }
        }
    }

    fn init(&self) -> u32 {
        let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
        self.send(
            &Message::new(BROADCAST_CID, HidCommand::Init, nonce.to_vec())
                .to_reports()
                .unwrap()[0],
        );
        match self.recv() {
            Packet::Init {
                cid: BROADCAST_CID,
                cmd: HidCommand::Init,
                bcnt: 17,
                data,
            } => {
                let r = InitResponse::parse(&data[..17]).unwrap();
                assert_eq!(r.nonce, nonce);
                r.cid
            }
            other => panic!("unexpected INIT answer {other:?}"),
        }
    }

    fn expect_error(&self, cid: u32, error: HidError) {
        match self.recv_answer() {
            Packet::Init {
                cid: c,
                cmd: HidCommand::Error,
                bcnt: 1,
                data,
            } => {
                assert_eq!(c, cid);
                assert_eq!(HidError::from_byte(data[0]), error);
            }
            other => panic!("expected ERROR {error:?}, got {other:?}"),
        }
    }

    /// PING round trip proves the key still serves.
    fn ping(&self, cid: u32, len: usize) {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        for r in Message::new(cid, HidCommand::Ping, payload.clone())
            .to_reports()
            .unwrap()
        {
            self.send(&r);
        }
        let Packet::Init {
            cid: c,
            cmd: HidCommand::Ping,
            bcnt,
            data,
        } = self.recv_answer()
        else {
            panic!("no PING answer")
        };
        assert_eq!((c, bcnt as usize), (cid, len));
        let mut got = data[..len.min(57)].to_vec();
        while got.len() < len {
            let Packet::Cont { data, .. } = self.recv() else {
                panic!("continuation")
            };
            let take = (len - got.len()).min(59);
            got.extend_from_slice(&data[..take]);
        }
        assert_eq!(got, payload);
    }
}

#[test]
fn malformed_reports_get_errors_and_the_key_keeps_serving() {
    let key = key(PresenceSettings::default());
    let raw = Raw::connect(&key);
    let cid = raw.init();
    raw.ping(cid, 300);

    // Unknown channel.
    raw.send(
        &Message::new(0x0BAD_0BAD, HidCommand::Ping, vec![1])
            .to_reports()
            .unwrap()[0],
    );
    raw.expect_error(0x0BAD_0BAD, HidError::InvalidChannel);
    // Channel 0 and a non-INIT command on the broadcast channel.
    raw.send(
        &Message::new(0, HidCommand::Cbor, vec![4])
            .to_reports()
            .unwrap()[0],
    );
    raw.expect_error(0, HidError::InvalidChannel);
    raw.send(
        &Message::new(BROADCAST_CID, HidCommand::Cbor, vec![4])
            .to_reports()
            .unwrap()[0],
    );
    raw.expect_error(BROADCAST_CID, HidError::InvalidChannel);

    // Length above 7609.
    let mut oversized = Message::new(cid, HidCommand::Ping, vec![0; 10])
        .to_reports()
        .unwrap()[0];
    oversized[5..7].copy_from_slice(&7610u16.to_be_bytes());
    raw.send(&oversized);
    raw.expect_error(cid, HidError::InvalidLen);

    // Wrong sequence number.
    let reports = Message::new(cid, HidCommand::Ping, vec![7; 200])
        .to_reports()
        .unwrap();
    raw.send(&reports[0]);
    raw.send(&reports[2]);
    raw.expect_error(cid, HidError::InvalidSeq);

    // INIT with a wrong nonce length, unknown command, empty CBOR.
    let mut bad_init = Message::new(BROADCAST_CID, HidCommand::Init, vec![0; 8])
        .to_reports()
        .unwrap()[0];
    bad_init[6] = 4;
    raw.send(&bad_init);
    raw.expect_error(BROADCAST_CID, HidError::InvalidLen);
    raw.send(
        &Message::new(cid, HidCommand::Unknown(0x33), vec![])
            .to_reports()
            .unwrap()[0],
    );
    raw.expect_error(cid, HidError::InvalidCmd);
    raw.send(
        &Message::new(cid, HidCommand::Msg, vec![0; 10])
            .to_reports()
            .unwrap()[0],
    );
    raw.expect_error(cid, HidError::InvalidCmd);
    raw.send(
        &Message::new(cid, HidCommand::Cbor, vec![])
            .to_reports()
            .unwrap()[0],
    );
    raw.expect_error(cid, HidError::InvalidLen);

    // A datagram that is not 64 bytes.
    let mut short = cid.to_be_bytes().to_vec();
    short.extend_from_slice(&[0x81, 0, 1, 9]);
    raw.socket.send(&short).unwrap();
    raw.expect_error(cid, HidError::InvalidLen);

    // Garbage CBOR gets a CTAP status, not a crash.
    raw.send(
        &Message::new(cid, HidCommand::Cbor, vec![0x01, 0xff, 0x00])
            .to_reports()
            .unwrap()[0],
    );
    let Packet::Init {
        cmd: HidCommand::Cbor,
        data,
        ..
    } = raw.recv_answer()
    else {
        panic!("CBOR answer")
    };
    assert_eq!(data[0], ctap::StatusCode::InvalidCbor.to_byte());

    // Random reports: whatever they are, the key still answers afterwards.
    let mut seed = 0x1234_5678u64;
    for _ in 0..500 {
        let mut r = [0u8; REPORT_LEN];
        for b in r.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        raw.send(&r);
    }
    std::thread::sleep(Duration::from_millis(200));
    // Drain whatever answers the noise produced, then prove liveness.
    raw.socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 128];
    while raw.socket.recv(&mut buf).is_ok() {}
    raw.socket.set_read_timeout(Some(ANSWER_WAIT)).unwrap();
    let cid = raw.init();
    raw.ping(cid, 1000);
}

#[test]
fn two_clients_one_busy_key() {
    let key = key(PresenceSettings {
        mode: PresenceMode::Approve,
        touch_delay: Duration::from_millis(500),
        ..Default::default()
    });
    let a = Raw::connect(&key);
    let b = Raw::connect(&key);
    let ca = a.init();
    let cb = b.init();
    assert_ne!(ca, cb);
    // A waits for a touch (selection); B is told the key is busy.
    a.send(
        &Message::new(ca, HidCommand::Cbor, vec![0x0B])
            .to_reports()
            .unwrap()[0],
    );
    std::thread::sleep(Duration::from_millis(100));
    b.send(
        &Message::new(cb, HidCommand::Cbor, vec![0x04])
            .to_reports()
            .unwrap()[0],
    );
    b.expect_error(cb, HidError::ChannelBusy);
    // A gets keepalives, then success.
    let mut keepalives = 0;
    loop {
        match a.recv() {
            Packet::Init {
                cmd: HidCommand::Keepalive,
                data,
                ..
            } => {
                assert_eq!(data[0], 2, "UPNEEDED");
                keepalives += 1;
            }
            Packet::Init {
                cid,
                cmd: HidCommand::Cbor,
                data,
                ..
            } => {
                assert_eq!((cid, data[0]), (ca, 0));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(keepalives >= 2);
    // Now B is served.
    b.send(
        &Message::new(cb, HidCommand::Cbor, vec![0x04])
            .to_reports()
            .unwrap()[0],
    );
    let Packet::Init {
        cid,
        cmd: HidCommand::Cbor,
        data,
        ..
    } = b.recv_answer()
    else {
        panic!("getInfo answer")
    };
    assert_eq!((cid, data[0]), (cb, 0));
}

#[test]
fn incomplete_message_times_out() {
    let key = key(PresenceSettings::default());
    let raw = Raw::connect(&key);
    let cid = raw.init();
    let reports = Message::new(cid, HidCommand::Ping, vec![1; 100])
        .to_reports()
        .unwrap();
    raw.send(&reports[0]);
    raw.expect_error(cid, HidError::MsgTimeout);
    raw.ping(cid, 10);
}

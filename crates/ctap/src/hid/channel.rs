//! The host end of a CTAPHID channel over any [`Transport`]: channel
//! allocation with INIT, request/response transactions with KEEPALIVE
//! handling, CANCEL, ERROR packets and timeouts.

use super::{
    Assembly, HidCommand, HidError, InitResponse, KeepaliveStatus, Message, Packet, Reassembler,
    BROADCAST_CID,
};
use crate::error::{Error, Result};
use crate::transport::Transport;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the host waits for any packet (a keepalive resets the clock).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll interval while waiting, so a cancel request is noticed quickly.
const POLL: Duration = Duration::from_millis(50);
/// How long a request is retried while the key answers CHANNEL_BUSY: the
/// key is working for another channel (another program, or a client that
/// was killed mid-request): CTAPHID lets one channel's transaction run at a
/// time and answers the others ERR_CHANNEL_BUSY, for the host to try
/// again later. Longer than a key takes for one request that needs
/// no touch; a request waiting for another client's touch outlasts it.
pub const DEFAULT_BUSY_WAIT: Duration = Duration::from_secs(5);

/// Lets another thread cancel the transaction in progress (CTAPHID_CANCEL).
#[derive(Debug, Clone, Default)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    /// Asks the transaction in progress to stop: the channel sends
    /// CTAPHID_CANCEL before it reads the key's next packet.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

/// An allocated CTAPHID channel on one key.
pub struct HidChannel<T: Transport> {
    transport: T,
    cid: u32,
    device: InitResponse,
    idle_timeout: Duration,
    busy_wait: Duration,
    cancel: CancelHandle,
}

impl<T: Transport> std::fmt::Debug for HidChannel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HidChannel")
            .field("transport", &self.transport.describe())
            .field("cid", &format_args!("{:08x}", self.cid))
            .finish()
    }
}

impl<T: Transport> HidChannel<T> {
    /// Allocates a channel: INIT on the broadcast channel with a random
    /// nonce, waiting for the answer that echoes it (§11.2.9.1.3).
    pub fn open(transport: T) -> Result<Self> {
        Self::open_with_timeout(transport, DEFAULT_IDLE_TIMEOUT)
    }

    /// As [`HidChannel::open`], waiting at most `idle_timeout` between packets.
    pub fn open_with_timeout(mut transport: T, idle_timeout: Duration) -> Result<Self> {
        let nonce: [u8; 8] = rand::random();
        let init = Message::new(BROADCAST_CID, HidCommand::Init, nonce.to_vec());
        let reply = exchange(
            &mut transport,
            &init,
            idle_timeout,
            &CancelHandle::default(),
            &mut |_| {},
            |payload| payload.get(..8) == Some(&nonce[..]),
        )?;
        let device = InitResponse::parse(&reply)
            .ok_or_else(|| Error::Protocol("INIT response is too short".into()))?;
        if device.cid == 0 || device.cid == BROADCAST_CID {
            return Err(Error::Protocol(format!(
                "INIT allocated invalid channel {:08x}",
                device.cid
            )));
        }
        Ok(Self {
            transport,
            cid: device.cid,
            device,
            idle_timeout,
            busy_wait: DEFAULT_BUSY_WAIT,
            cancel: CancelHandle::default(),
        })
    }

    /// What the key said about itself in INIT.
    pub fn device(&self) -> &InitResponse {
        &self.device
    }

    /// The channel id the key allocated.
    pub fn cid(&self) -> u32 {
        self.cid
    }

    /// The key as a short text (for messages).
    pub fn describe(&self) -> String {
        self.transport.describe()
    }

    /// How long to wait for any packet from the key before giving up.
    pub fn set_idle_timeout(&mut self, timeout: Duration) {
        self.idle_timeout = timeout;
    }

    /// How long a request is retried while the key answers CHANNEL_BUSY
    /// (zero: the first CHANNEL_BUSY is the answer).
    pub fn set_busy_wait(&mut self, wait: Duration) {
        self.busy_wait = wait;
    }

    /// A handle with which another thread can cancel the running request.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Sends `payload` as command `cmd` and returns the response payload.
    /// `on_keepalive` is told when the key is processing or waits for a
    /// touch.
    pub fn transact(
        &mut self,
        cmd: HidCommand,
        payload: &[u8],
        on_keepalive: &mut dyn FnMut(KeepaliveStatus),
    ) -> Result<Vec<u8>> {
        let msg = Message::new(self.cid, cmd, payload.to_vec());
        let cid = self.cid;
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let reply = exchange_on(
                &mut self.transport,
                &msg,
                self.idle_timeout,
                &self.cancel,
                on_keepalive,
                cid,
                cmd,
                |_| true,
            );
            match reply {
                Err(Error::Hid(HidError::ChannelBusy))
                    if started.elapsed() + pause <= self.busy_wait =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
                other => return other,
            }
        }
    }

    /// CTAPHID_PING: the key echoes the data.
    pub fn ping(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        self.transact(HidCommand::Ping, data, &mut |_| {})
    }

    /// CTAPHID_WINK: the key blinks so the operator can tell which it is.
    pub fn wink(&mut self) -> Result<()> {
        self.transact(HidCommand::Wink, &[], &mut |_| {})
            .map(|_| ())
    }
}

fn exchange<T: Transport>(
    transport: &mut T,
    msg: &Message,
    idle_timeout: Duration,
    cancel: &CancelHandle,
    on_keepalive: &mut dyn FnMut(KeepaliveStatus),
    accept: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>> {
    exchange_on(
        transport,
        msg,
        idle_timeout,
        cancel,
        on_keepalive,
        msg.cid,
        msg.cmd,
        accept,
    )
}

/// Sends `msg`, then reads reports until a whole answer with command
/// `expect_cmd` arrives on channel `cid` and `accept` takes it. Reports of
/// other channels are skipped (another client may share the key).
#[allow(clippy::too_many_arguments)]
fn exchange_on<T: Transport>(
    transport: &mut T,
    msg: &Message,
    idle_timeout: Duration,
    cancel: &CancelHandle,
    on_keepalive: &mut dyn FnMut(KeepaliveStatus),
    cid: u32,
    expect_cmd: HidCommand,
    accept: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>> {
    let reports = msg
        .to_reports()
        .map_err(|e| Error::InvalidRequest(e.to_string()))?;
    for report in &reports {
        transport.write_report(report)?;
    }
    let mut deadline = Instant::now() + idle_timeout;
    let mut assembly: Option<Reassembler> = None;
    let mut cancel_sent = false;
    loop {
        if !cancel_sent && cancel.take() {
            let c = Message::new(cid, HidCommand::Cancel, Vec::new());
            for r in c.to_reports().expect("empty message fits") {
                transport.write_report(&r)?;
            }
            cancel_sent = true;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout(idle_timeout));
        }
        let Some(report) = transport.read_report((deadline - now).min(POLL))? else {
            continue;
        };
        let packet = Packet::parse(&report);
        if packet.cid() != cid {
            continue;
        }
        match packet {
            Packet::Init {
                cmd: HidCommand::Keepalive,
                data,
                ..
            } => {
                deadline = Instant::now() + idle_timeout;
                on_keepalive(KeepaliveStatus::from_byte(data[0]));
            }
            Packet::Init {
                cmd: HidCommand::Error,
                data,
                ..
            } => {
                return Err(Error::Hid(HidError::from_byte(data[0])));
            }
            Packet::Init {
                cmd, bcnt, data, ..
            } if cmd == expect_cmd => {
                let (r, state) = Reassembler::start(cid, cmd, bcnt, &data)
                    .map_err(|e| Error::Protocol(format!("bad response packet: {e}")))?;
                match state {
                    Assembly::Complete(m) if accept(&m.payload) => return Ok(m.payload),
                    Assembly::Complete(_) => {}
                    Assembly::Incomplete => assembly = Some(r),
                }
            }
            Packet::Init { cmd, .. } => {
                return Err(Error::Protocol(format!(
                    "unexpected CTAPHID command {cmd:?} in answer"
                )));
            }
            Packet::Cont { seq, data, .. } => {
                let Some(r) = assembly.as_mut() else { continue };
                match r.push(seq, &data) {
                    Ok(Assembly::Complete(m)) => {
                        assembly = None;
                        if accept(&m.payload) {
                            return Ok(m.payload);
                        }
                    }
                    Ok(Assembly::Incomplete) => deadline = Instant::now() + idle_timeout,
                    Err(e) => return Err(Error::Protocol(format!("bad response packet: {e}"))),
                }
            }
        }
    }
}

/// The host end against a scripted key (CTAP 2.1 §11.2.9.1.3 INIT,
/// §11.2.9.1.5 CANCEL, §11.2.9.2.1 KEEPALIVE, §11.2.9.1.6 ERROR): each
/// test's key is a thread that reads the host's reports and answers with
/// reports built by hand.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::hid::{Report, CONT_DATA_LEN, INIT_DATA_LEN};
    use crate::transport::inproc::{pair, InProcessDevice, InProcessTransport};
    use std::sync::mpsc::Receiver;
    use std::thread;

    const CID: u32 = 0x0A0B_0C0D;

    fn init_packet(cid: u32, cmd: u8, bcnt: u16, data: &[u8]) -> Report {
        let mut d = [0u8; INIT_DATA_LEN];
        d[..data.len()].copy_from_slice(data);
        Packet::Init {
            cid,
            cmd: HidCommand::from_byte(cmd),
            bcnt,
            data: d,
        }
        .to_report()
    }

    fn cont_packet(cid: u32, seq: u8, data: &[u8]) -> Report {
        let mut d = [0u8; CONT_DATA_LEN];
        d[..data.len()].copy_from_slice(data);
        Packet::Cont { cid, seq, data: d }.to_report()
    }

    /// Reads one whole request from the host.
    fn request(from_host: &Receiver<Report>) -> Message {
        let Packet::Init {
            cid,
            cmd,
            bcnt,
            data,
        } = Packet::parse(&from_host.recv().unwrap())
        else {
            panic!("request starts with an init packet")
        };
        let (mut r, mut state) = Reassembler::start(cid, cmd, bcnt, &data).unwrap();
        while state == Assembly::Incomplete {
            let Packet::Cont { seq, data, .. } = Packet::parse(&from_host.recv().unwrap()) else {
                panic!("cont")
            };
            state = r.push(seq, &data).unwrap();
        }
        let Assembly::Complete(m) = state else {
            unreachable!()
        };
        m
    }

    fn init_answer(nonce: &[u8], cid: u32) -> Vec<u8> {
        let mut n = [0u8; 8];
        n.copy_from_slice(&nonce[..8]);
        InitResponse {
            nonce: n,
            cid,
            protocol_version: 2,
            version: (1, 2, 3),
            capabilities: 0x05,
        }
        .to_bytes()
    }

    /// A key that allocates CID and then runs `then` on the open channel.
    fn key(
        then: impl FnOnce(&InProcessDevice) + Send + 'static,
    ) -> (InProcessTransport, thread::JoinHandle<()>) {
        let (host, device) = pair();
        let handle = thread::spawn(move || {
            let init = request(&device.from_host);
            assert_eq!((init.cid, init.cmd), (BROADCAST_CID, HidCommand::Init));
            let answer = init_answer(&init.payload, CID);
            device
                .to_host
                .send(init_packet(
                    BROADCAST_CID,
                    0x86,
                    answer.len() as u16,
                    &answer,
                ))
                .unwrap();
            then(&device);
        });
        (host, handle)
    }

    fn open(host: InProcessTransport, timeout_ms: u64) -> Result<HidChannel<InProcessTransport>> {
        HidChannel::open_with_timeout(host, Duration::from_millis(timeout_ms))
    }

    #[test]
    fn init_takes_the_answer_that_echoes_its_nonce() {
        let (host, device) = pair();
        let key = thread::spawn(move || {
            let init = request(&device.from_host);
            // Another client's INIT answer (other nonce), a report on
            // another channel, then ours.
            let other = init_answer(&[9; 8], 0x1111_1111);
            device
                .to_host
                .send(init_packet(BROADCAST_CID, 0x86, 17, &other))
                .unwrap();
            device
                .to_host
                .send(init_packet(0x2222_2222, 0x86, 17, &other))
                .unwrap();
            let ours = init_answer(&init.payload, CID);
            device
                .to_host
                .send(init_packet(BROADCAST_CID, 0x86, 17, &ours))
                .unwrap();
            device
        });
        let ch = open(host, 2000).unwrap();
        assert_eq!(ch.cid(), CID);
        assert_eq!(ch.device().version, (1, 2, 3));
        assert_eq!(ch.device().capabilities, 0x05);
        assert_eq!(ch.describe(), "in-process");
        assert!(format!("{ch:?}").contains("0a0b0c0d"));
        key.join().unwrap();
    }

    #[test]
    fn init_refuses_reserved_channels_and_short_answers() {
        for (cid, len) in [(0u32, 17u16), (BROADCAST_CID, 17), (CID, 12)] {
            let (host, device) = pair();
            let key = thread::spawn(move || {
                let init = request(&device.from_host);
                let answer = init_answer(&init.payload, cid);
                device
                    .to_host
                    .send(init_packet(
                        BROADCAST_CID,
                        0x86,
                        len,
                        &answer[..len as usize],
                    ))
                    .unwrap();
                device
            });
            let e = open(host, 2000).unwrap_err();
            assert!(matches!(e, Error::Protocol(_)), "{cid:08x}/{len}: {e}");
            key.join().unwrap();
        }
    }

    #[test]
    fn a_fragmented_answer_after_keepalives() {
        let (host, key) = key(|d| {
            let req = request(&d.from_host);
            assert_eq!(
                (req.cid, req.cmd, req.payload.len()),
                (CID, HidCommand::Cbor, 300)
            );
            // Processing, then waiting for a touch, then 100 bytes in two
            // packets; a stray continuation of another channel between.
            d.to_host.send(init_packet(CID, 0xBB, 1, &[1])).unwrap();
            d.to_host.send(init_packet(CID, 0xBB, 1, &[2])).unwrap();
            let answer: Vec<u8> = (0..100).collect();
            d.to_host
                .send(init_packet(CID, 0x90, 100, &answer[..57]))
                .unwrap();
            d.to_host
                .send(cont_packet(0x5555_5555, 0, &[7; 59]))
                .unwrap();
            d.to_host.send(cont_packet(CID, 0, &answer[57..])).unwrap();
        });
        let mut ch = open(host, 2000).unwrap();
        let mut seen = Vec::new();
        let answer = ch
            .transact(HidCommand::Cbor, &[4; 300], &mut |s| seen.push(s))
            .unwrap();
        assert_eq!(answer, (0..100).collect::<Vec<u8>>());
        assert_eq!(
            seen,
            [KeepaliveStatus::Processing, KeepaliveStatus::UpNeeded]
        );
        key.join().unwrap();
    }

    #[test]
    fn keepalives_reset_the_idle_clock() {
        let (host, key) = key(|d| {
            let _ = request(&d.from_host);
            // 8 keep-alives 60 ms apart: 480 ms, past the 200 ms timeout.
            for _ in 0..8 {
                thread::sleep(Duration::from_millis(60));
                d.to_host.send(init_packet(CID, 0xBB, 1, &[2])).unwrap();
            }
            d.to_host.send(init_packet(CID, 0x81, 2, b"ok")).unwrap();
        });
        let mut ch = open(host, 200).unwrap();
        assert_eq!(ch.ping(b"ok").unwrap(), b"ok");
        key.join().unwrap();
    }

    #[test]
    fn each_continuation_packet_resets_the_idle_clock() {
        let (host, key) = key(|d| {
            let _ = request(&d.from_host);
            // 300 bytes: an init and five continuations, 60 ms apart
            // (360 ms in all, past the 150 ms timeout).
            let answer: Vec<u8> = (0..300).map(|i| i as u8).collect();
            d.to_host
                .send(init_packet(CID, 0x81, 300, &answer[..57]))
                .unwrap();
            for (seq, chunk) in answer[57..].chunks(59).enumerate() {
                thread::sleep(Duration::from_millis(60));
                d.to_host.send(cont_packet(CID, seq as u8, chunk)).unwrap();
            }
        });
        let mut ch = open(host, 150).unwrap();
        let answer = ch.ping(&[0; 300]).unwrap();
        assert_eq!(answer, (0..300).map(|i| i as u8).collect::<Vec<u8>>());
        key.join().unwrap();
    }

    #[test]
    fn silence_is_a_timeout() {
        let (host, key) = key(|d| {
            let _ = request(&d.from_host);
            thread::sleep(Duration::from_millis(400));
        });
        let mut ch = open(host, 2000).unwrap();
        ch.set_idle_timeout(Duration::from_millis(150));
        let started = Instant::now();
        let e = ch.wink().unwrap_err();
        assert!(
            matches!(e, Error::Timeout(t) if t == Duration::from_millis(150)),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_millis(390));
        key.join().unwrap();
    }

    /// A key busy with another channel answers CHANNEL_BUSY; the request
    /// is sent again after a pause and gets its answer once the key is free.
    #[test]
    fn a_busy_key_is_asked_again() {
        let (host, key) = key(|d| {
            for _ in 0..2 {
                let _ = request(&d.from_host);
                d.to_host.send(init_packet(CID, 0xBF, 1, &[0x06])).unwrap();
            }
            let ping = request(&d.from_host);
            assert_eq!(ping.payload, b"x");
            d.to_host.send(init_packet(CID, 0x81, 1, b"x")).unwrap();
        });
        let mut ch = open(host, 2000).unwrap();
        let started = Instant::now();
        assert_eq!(ch.ping(b"x").unwrap(), b"x");
        assert!(started.elapsed() >= Duration::from_millis(60), "it paused");
        key.join().unwrap();
    }

    #[test]
    fn error_packets_and_protocol_violations() {
        // ERROR CHANNEL_BUSY.
        let (host, key1) = key(|d| {
            let _ = request(&d.from_host);
            d.to_host.send(init_packet(CID, 0xBF, 1, &[0x06])).unwrap();
        });
        let mut ch = open(host, 2000).unwrap();
        ch.set_busy_wait(Duration::ZERO);
        let e = ch.ping(b"x").unwrap_err();
        assert!(matches!(e, Error::Hid(HidError::ChannelBusy)), "{e}");
        key1.join().unwrap();
        // An answer with another command.
        let (host, key2) = key(|d| {
            let _ = request(&d.from_host);
            d.to_host.send(init_packet(CID, 0x83, 1, &[0])).unwrap();
        });
        let e = open(host, 2000).unwrap().ping(b"x").unwrap_err();
        assert!(matches!(&e, Error::Protocol(m) if m.contains("Msg")), "{e}");
        key2.join().unwrap();
        // Continuations out of order.
        let (host, key3) = key(|d| {
            let _ = request(&d.from_host);
            d.to_host
                .send(init_packet(CID, 0x81, 100, &[1; 57]))
                .unwrap();
            d.to_host.send(cont_packet(CID, 1, &[1; 43])).unwrap();
        });
        let e = open(host, 2000).unwrap().ping(&[1; 100]).unwrap_err();
        assert!(
            matches!(&e, Error::Protocol(m) if m.contains("INVALID_SEQ")),
            "{e}"
        );
        key3.join().unwrap();
        // A length no message can have.
        let (host, key4) = key(|d| {
            let _ = request(&d.from_host);
            d.to_host
                .send(init_packet(CID, 0x81, 8000, &[1; 57]))
                .unwrap();
        });
        let e = open(host, 2000).unwrap().ping(b"x").unwrap_err();
        assert!(
            matches!(&e, Error::Protocol(m) if m.contains("INVALID_LEN")),
            "{e}"
        );
        key4.join().unwrap();
        // A continuation with no message started is ignored.
        let (host, key5) = key(|d| {
            let _ = request(&d.from_host);
            d.to_host.send(cont_packet(CID, 0, &[1; 59])).unwrap();
            d.to_host.send(init_packet(CID, 0x81, 1, b"y")).unwrap();
        });
        assert_eq!(open(host, 2000).unwrap().ping(b"y").unwrap(), b"y");
        key5.join().unwrap();
        // A request too long for CTAPHID is refused before sending.
        let (host, key6) = key(|_| {});
        let e = open(host, 2000).unwrap().ping(&vec![0; 7610]).unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(_)), "{e}");
        key6.join().unwrap();
    }

    #[test]
    fn cancel_sends_one_cancel_on_the_channel() {
        let (host, device) = pair();
        let (cancel_tx, cancel_rx) = std::sync::mpsc::channel::<CancelHandle>();
        let key = thread::spawn(move || {
            let init = request(&device.from_host);
            let answer = init_answer(&init.payload, CID);
            device
                .to_host
                .send(init_packet(BROADCAST_CID, 0x86, 17, &answer))
                .unwrap();
            let req = request(&device.from_host);
            assert_eq!(req.cmd, HidCommand::Cbor);
            cancel_rx.recv().unwrap().cancel();
            // The next report is CANCEL (§11.2.9.1.5), empty, on our channel.
            let cancel = request(&device.from_host);
            assert_eq!(
                (cancel.cid, cancel.cmd, cancel.payload.len()),
                (CID, HidCommand::Cancel, 0)
            );
            // CTAP2_ERR_KEEPALIVE_CANCEL as the CBOR answer.
            device
                .to_host
                .send(init_packet(CID, 0x90, 1, &[0x2D]))
                .unwrap();
            // Nothing else came.
            assert!(device
                .from_host
                .recv_timeout(Duration::from_millis(100))
                .is_err());
        });
        let mut ch = open(host, 2000).unwrap();
        cancel_tx.send(ch.cancel_handle()).unwrap();
        let answer = ch.transact(HidCommand::Cbor, &[4], &mut |_| {}).unwrap();
        assert_eq!(answer, [0x2D]);
        drop(ch);
        key.join().unwrap();
        // A handle takes a request once.
        let h = CancelHandle::default();
        h.cancel();
        assert!(h.take());
        assert!(!h.take());
    }
}

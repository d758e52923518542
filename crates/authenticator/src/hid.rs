//! The device side of CTAPHID (CTAP 2.1 §11.2): channel allocation, message
//! reassembly with sequence/length/timeout checks, CTAPHID ERROR answers for
//! anything malformed, CBOR requests processed on a worker thread while the
//! device keeps answering (KEEPALIVE every 100 ms, CANCEL, CHANNEL_BUSY for
//! other clients). Generic over the client address `A` so the same logic
//! serves UDP (`SocketAddr`) and in-process transports (`()`).

use crate::ctap2::Authenticator;
use crate::presence::{PresenceMode, SimulatedPresence};
use ctap::hid::{
    capability, Assembly, HidCommand, HidError, InitResponse, KeepaliveStatus, Message, Packet,
    Reassembler, Report, BROADCAST_CID, PROTOCOL_VERSION,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Interval between KEEPALIVE packets while a request is processed.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(100);
/// How long the device waits for the next continuation packet.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_millis(3000);
/// Channels remembered at once; the oldest is forgotten beyond this.
const MAX_CHANNELS: usize = 1024;
/// Device version reported by INIT (major, minor, build).
pub const DEVICE_VERSION: (u8, u8, u8) = (1, 0, 0);

/// How the simulated user answers touch requests.
#[derive(Debug, Clone, Copy)]
pub struct PresenceSettings {
    /// Whether the simulated user approves, denies or never answers.
    pub mode: PresenceMode,
    /// How long the simulated touch takes.
    pub touch_delay: Duration,
    /// How long the key waits for a touch before giving up.
    pub timeout: Duration,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        Self {
            mode: PresenceMode::Approve,
            touch_delay: Duration::ZERO,
            timeout: Duration::from_secs(30),
        }
    }
}

struct Assembling<A> {
    from: A,
    reassembler: Reassembler,
    last: Instant,
}

/// Where the device's reports go: the transport it is served on.
pub trait ReportSink<A>: Send + Sync + 'static {
    /// Sends one report to `to`.
    fn send(&self, to: &A, report: &Report);
}

/// The CBOR request being processed. The worker thread that finishes it
/// sends the answer itself (no polling delay) and clears this slot; the
/// serving loop sends keepalives while it is set.
struct Busy<A> {
    id: u64,
    cid: u32,
    to: A,
    cancel: Arc<AtomicBool>,
    waiting: Arc<AtomicBool>,
    last_keepalive: Instant,
}

type BusySlot<A> = Arc<Mutex<Option<Busy<A>>>>;

/// A CTAPHID device around one [`Authenticator`].
pub struct HidDevice<A> {
    authenticator: Arc<Mutex<Authenticator>>,
    presence: PresenceSettings,
    sink: Option<Arc<dyn ReportSink<A>>>,
    channels: VecDeque<u32>,
    next_cid: u32,
    assembling: Option<Assembling<A>>,
    busy: BusySlot<A>,
    request_ids: AtomicU64,
    /// Number of WINK commands seen (a virtual key has no LED).
    pub winks: u64,
}

fn error_report(cid: u32, error: HidError) -> Report {
    let mut data = [0u8; ctap::hid::INIT_DATA_LEN];
    data[0] = error.to_byte();
    Packet::Init {
        cid,
        cmd: HidCommand::Error,
        bcnt: 1,
        data,
    }
    .to_report()
}

fn keepalive_report(cid: u32, status: KeepaliveStatus) -> Report {
    let mut data = [0u8; ctap::hid::INIT_DATA_LEN];
    data[0] = status.to_byte();
    Packet::Init {
        cid,
        cmd: HidCommand::Keepalive,
        bcnt: 1,
        data,
    }
    .to_report()
}

impl<A: Clone + PartialEq + Send + 'static> HidDevice<A> {
    /// A device serving `authenticator` with `presence` as its simulated user.
    pub fn new(authenticator: Authenticator, presence: PresenceSettings) -> Self {
        Self {
            authenticator: Arc::new(Mutex::new(authenticator)),
            presence,
            sink: None,
            channels: VecDeque::new(),
            next_cid: rand::random::<u32>() % 0x1000_0000 + 1,
            assembling: None,
            busy: Arc::new(Mutex::new(None)),
            request_ids: AtomicU64::new(1),
            winks: 0,
        }
    }

    /// Connects the device to the transport that carries its reports.
    pub fn attach(&mut self, sink: Arc<dyn ReportSink<A>>) {
        self.sink = Some(sink);
    }

    fn emit(&self, to: &A, report: Report) {
        if let Some(sink) = &self.sink {
            sink.send(to, &report);
        }
    }

    fn emit_message(&self, to: &A, msg: Message) {
        Self::send_via(self.sink.as_deref(), to, msg);
    }

    fn send_via(sink: Option<&dyn ReportSink<A>>, to: &A, msg: Message) {
        let Some(sink) = sink else { return };
        // Device answers are built here and always fit.
        for r in msg
            .to_reports()
            .expect("device answers fit in a CTAPHID message")
        {
            sink.send(to, &r);
        }
    }

    fn busy_cid(&self) -> Option<u32> {
        self.busy
            .lock()
            .ok()
            .and_then(|b| b.as_ref().map(|b| b.cid))
    }

    fn cancel_busy(&self, cid: u32) {
        if let Ok(b) = self.busy.lock() {
            if let Some(b) = b.as_ref().filter(|b| b.cid == cid) {
                b.cancel.store(true, Ordering::SeqCst);
            }
        }
    }

    /// The authenticator, for inspection (locks while a request runs).
    pub fn authenticator(&self) -> Arc<Mutex<Authenticator>> {
        self.authenticator.clone()
    }

    fn allocate(&mut self) -> u32 {
        let cid = self.next_cid;
        self.next_cid = self.next_cid.wrapping_add(1);
        if self.next_cid == 0 || self.next_cid == BROADCAST_CID {
            self.next_cid = 1;
        }
        if self.channels.len() >= MAX_CHANNELS {
            self.channels.pop_front();
        }
        self.channels.push_back(cid);
        cid
    }

    /// Handles one report from `from`.
    pub fn handle_report(&mut self, report: &Report, from: A) {
        match Packet::parse(report) {
            Packet::Init {
                cid,
                cmd,
                bcnt,
                data,
            } => self.handle_init(cid, cmd, bcnt, &data, from),
            Packet::Cont { cid, seq, data } => {
                let Some(a) = self.assembling.as_mut() else {
                    return;
                };
                if a.reassembler.cid() != cid {
                    // Spurious continuation packets are ignored (§11.2.4).
                    return;
                }
                match a.reassembler.push(seq, &data) {
                    Ok(Assembly::Incomplete) => a.last = Instant::now(),
                    Ok(Assembly::Complete(msg)) => {
                        let a = self.assembling.take().expect("checked above");
                        self.execute(msg, a.from);
                    }
                    Err(e) => {
                        let a = self.assembling.take().expect("checked above");
                        self.emit(&a.from, error_report(cid, e));
                    }
                }
            }
        }
    }

    fn handle_init(&mut self, cid: u32, cmd: HidCommand, bcnt: u16, data: &[u8; 57], from: A) {
        if cmd == HidCommand::Init {
            if bcnt != 8 {
                self.emit(&from, error_report(cid, HidError::InvalidLen));
                return;
            }
            let new_cid = if cid == BROADCAST_CID {
                self.allocate()
            } else if self.channels.contains(&cid) {
                // Resynchronise the channel: drop what it had under way.
                if self
                    .assembling
                    .as_ref()
                    .is_some_and(|a| a.reassembler.cid() == cid)
                {
                    self.assembling = None;
                }
                self.cancel_busy(cid);
                cid
            } else {
                self.emit(&from, error_report(cid, HidError::InvalidChannel));
                return;
            };
            let reply = InitResponse {
                nonce: data[..8].try_into().expect("8 bytes"),
                cid: new_cid,
                protocol_version: PROTOCOL_VERSION,
                version: DEVICE_VERSION,
                capabilities: capability::WINK | capability::CBOR | capability::NMSG,
            };
            self.emit_message(&from, Message::new(cid, HidCommand::Init, reply.to_bytes()));
            return;
        }
        if cid == 0 || cid == BROADCAST_CID || !self.channels.contains(&cid) {
            self.emit(&from, error_report(cid, HidError::InvalidChannel));
            return;
        }
        if cmd == HidCommand::Cancel {
            self.cancel_busy(cid);
            return;
        }
        if self.busy_cid().is_some() {
            self.emit(&from, error_report(cid, HidError::ChannelBusy));
            return;
        }
        if let Some(a) = &self.assembling {
            if a.reassembler.cid() != cid {
                self.emit(&from, error_report(cid, HidError::ChannelBusy));
                return;
            }
            // A new message on a channel mid-message: the old one is void.
            self.assembling = None;
            self.emit(&from, error_report(cid, HidError::InvalidSeq));
            return;
        }
        match Reassembler::start(cid, cmd, bcnt, data) {
            Err(e) => self.emit(&from, error_report(cid, e)),
            Ok((_, Assembly::Complete(msg))) => self.execute(msg, from),
            Ok((reassembler, Assembly::Incomplete)) => {
                self.assembling = Some(Assembling {
                    from,
                    reassembler,
                    last: Instant::now(),
                })
            }
        }
    }

    fn execute(&mut self, msg: Message, from: A) {
        match msg.cmd {
            HidCommand::Ping => self.emit_message(&from, msg),
            HidCommand::Wink => {
                self.winks += 1;
                tracing::info!("wink (channel {:08x})", msg.cid);
                self.emit_message(&from, Message::new(msg.cid, HidCommand::Wink, Vec::new()));
            }
            HidCommand::Cbor => {
                if msg.payload.is_empty() {
                    self.emit(&from, error_report(msg.cid, HidError::InvalidLen));
                    return;
                }
                let presence = SimulatedPresence::new(
                    self.presence.mode,
                    self.presence.touch_delay,
                    self.presence.timeout,
                );
                let id = self.request_ids.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut slot) = self.busy.lock() {
                    *slot = Some(Busy {
                        id,
                        cid: msg.cid,
                        to: from,
                        cancel: presence.cancel.clone(),
                        waiting: presence.waiting.clone(),
                        last_keepalive: Instant::now(),
                    });
                }
                let authenticator = self.authenticator.clone();
                let busy = self.busy.clone();
                let sink = self.sink.clone();
                let (cid, payload) = (msg.cid, msg.payload);
                std::thread::spawn(move || {
                    let response = match authenticator.lock() {
                        Ok(mut a) => a.process(&payload, &presence),
                        Err(_) => vec![ctap::StatusCode::Other.to_byte()],
                    };
                    // Answer and free the device in one step, so no
                    // keepalive can follow the answer.
                    let Ok(mut slot) = busy.lock() else { return };
                    if slot.as_ref().is_some_and(|b| b.id == id) {
                        let b = slot.take().expect("checked above");
                        Self::send_via(
                            sink.as_deref(),
                            &b.to,
                            Message::new(cid, HidCommand::Cbor, response),
                        );
                    }
                });
            }
            // No CTAP1/U2F (capability NMSG) and no channel locking.
            _ => self.emit(&from, error_report(msg.cid, HidError::InvalidCmd)),
        }
    }

    /// Timers: keepalives while busy, message timeouts. Call every few
    /// milliseconds.
    pub fn poll(&mut self) {
        if let Ok(mut slot) = self.busy.lock() {
            if let Some(b) = slot.as_mut() {
                if b.last_keepalive.elapsed() >= KEEPALIVE_INTERVAL {
                    let status = if b.waiting.load(Ordering::SeqCst) {
                        KeepaliveStatus::UpNeeded
                    } else {
                        KeepaliveStatus::Processing
                    };
                    b.last_keepalive = Instant::now();
                    if let Some(sink) = &self.sink {
                        sink.send(&b.to, &keepalive_report(b.cid, status));
                    }
                }
            }
        }
        if let Some(a) = &self.assembling {
            if a.last.elapsed() > MESSAGE_TIMEOUT {
                let a = self.assembling.take().expect("checked above");
                self.emit(
                    &a.from,
                    error_report(a.reassembler.cid(), HidError::MsgTimeout),
                );
            }
        }
    }

    /// True while a CBOR request is being processed.
    pub fn is_busy(&self) -> bool {
        self.busy_cid().is_some()
    }
}

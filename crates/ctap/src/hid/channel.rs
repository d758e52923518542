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

/// Lets another thread cancel the transaction in progress (CTAPHID_CANCEL).
#[derive(Debug, Clone, Default)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
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
            cancel: CancelHandle::default(),
        })
    }

    /// What the key said about itself in INIT.
    pub fn device(&self) -> &InitResponse {
        &self.device
    }

    pub fn cid(&self) -> u32 {
        self.cid
    }

    pub fn describe(&self) -> String {
        self.transport.describe()
    }

    pub fn set_idle_timeout(&mut self, timeout: Duration) {
        self.idle_timeout = timeout;
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
        let reply = exchange_on(
            &mut self.transport,
            &msg,
            self.idle_timeout,
            &self.cancel,
            on_keepalive,
            cid,
            cmd,
            |_| true,
        )?;
        Ok(reply)
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

//! Serving a [`HidDevice`] over UDP (one 64-byte report per datagram,
//! replies to the sender's address) or over an in-process transport.

use crate::hid::{HidDevice, ReportSink};
use ctap::hid::{HidCommand, HidError, Packet, Report, INIT_DATA_LEN, REPORT_LEN};
use ctap::transport::inproc::InProcessDevice;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Poll interval of the serving loops (keepalive and timeout timers).
const TICK: Duration = Duration::from_millis(5);

struct UdpSink(UdpSocket);

impl ReportSink<SocketAddr> for UdpSink {
    fn send(&self, to: &SocketAddr, report: &Report) {
        if let Err(e) = self.0.send_to(report, to) {
            tracing::debug!("cannot answer {to}: {e}");
        }
    }
}

/// Serves `device` on `socket` until `stop` is set.
pub fn serve_udp(
    socket: &UdpSocket,
    device: &mut HidDevice<SocketAddr>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    socket.set_read_timeout(Some(TICK))?;
    let sink = Arc::new(UdpSink(socket.try_clone()?));
    device.attach(sink.clone());
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        match socket.recv_from(&mut buf) {
            Ok((REPORT_LEN, from)) => {
                let mut report = [0u8; REPORT_LEN];
                report.copy_from_slice(&buf[..REPORT_LEN]);
                device.handle_report(&report, from);
            }
            Ok((n, from)) => {
                // Not one report: answer INVALID_LEN on the channel named
                // by the first four bytes, when there are four.
                if n >= 4 {
                    let cid = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    let mut data = [0u8; INIT_DATA_LEN];
                    data[0] = HidError::InvalidLen.to_byte();
                    sink.send(
                        &from,
                        &Packet::Init {
                            cid,
                            cmd: HidCommand::Error,
                            bcnt: 1,
                            data,
                        }
                        .to_report(),
                    );
                }
                tracing::debug!("ignored a {n}-byte datagram from {from}");
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // ICMP errors from a client that went away surface here on
            // some systems; they must not stop the key.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => return Err(e),
        }
        device.poll();
    }
    Ok(())
}

struct ChannelSink(Mutex<Sender<Report>>);

impl ReportSink<()> for ChannelSink {
    fn send(&self, _: &(), report: &Report) {
        if let Ok(tx) = self.0.lock() {
            let _ = tx.send(*report);
        }
    }
}

/// Serves `device` on an in-process transport until the host end is
/// dropped or `stop` is set.
pub fn serve_in_process(end: InProcessDevice, device: &mut HidDevice<()>, stop: &AtomicBool) {
    device.attach(Arc::new(ChannelSink(Mutex::new(end.to_host))));
    while !stop.load(Ordering::SeqCst) {
        match end.from_host.recv_timeout(TICK) {
            Ok(report) => device.handle_report(&report, ()),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
        device.poll();
    }
}

/// A virtual key served in process on a background thread (tests,
/// benchmarks): `transport()` is the host's end. Dropping the handle stops
/// the key.
pub struct InProcessKeyHandle {
    host: Option<ctap::transport::inproc::InProcessTransport>,
    stop: Arc<AtomicBool>,
}

impl InProcessKeyHandle {
    /// Serves `device` on a new in-process transport.
    pub fn spawn(mut device: HidDevice<()>) -> Self {
        let (host, dev) = ctap::transport::inproc::pair();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("virtual-key-in-process".into())
            .spawn(move || serve_in_process(dev, &mut device, &flag))
            .expect("a thread for the in-process key");
        InProcessKeyHandle {
            host: Some(host),
            stop,
        }
    }

    /// The host's end of the transport (once).
    pub fn transport(&mut self) -> ctap::transport::inproc::InProcessTransport {
        self.host.take().expect("the transport is taken once")
    }
}

impl Drop for InProcessKeyHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A virtual key serving UDP on a background thread (tests, benchmarks,
/// `keysmith demo`). Dropping the handle stops it — a "power off".
pub struct UdpKeyHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UdpKeyHandle {
    /// Binds `bind` (e.g. `127.0.0.1:0`) and serves `device` there.
    pub fn spawn(bind: &str, mut device: HidDevice<SocketAddr>) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(bind)?;
        let addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("virtual-key-{addr}"))
            .spawn(move || {
                if let Err(e) = serve_udp(&socket, &mut device, &flag) {
                    tracing::error!("virtual key on {addr} stopped: {e}");
                }
            })?;
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The UDP address the key listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `udp:HOST:PORT` for `--device`.
    pub fn device_spec(&self) -> String {
        format!("udp:{}", self.addr)
    }
}

impl Drop for UdpKeyHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

//! Keysmith's UDP transport: each datagram carries exactly one 64-byte
//! report; the key answers to the datagram's source address.

use super::{Transport, TransportError};
use crate::hid::{Report, REPORT_LEN};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// A UDP connection to a virtual key.
#[derive(Debug)]
pub struct UdpTransport {
    socket: UdpSocket,
    peer: SocketAddr,
}

impl UdpTransport {
    /// Connects to `host:port` (no packet is sent yet).
    pub fn connect(addr: &str) -> Result<Self, TransportError> {
        let io = |context: String| move |source| TransportError::Io { context, source };
        let peer = addr
            .to_socket_addrs()
            .map_err(io(format!("cannot resolve {addr}")))?
            .next()
            .ok_or_else(|| TransportError::Io {
                context: format!("cannot resolve {addr}"),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            })?;
        let local: SocketAddr = if peer.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let socket = UdpSocket::bind(local).map_err(io("cannot open a UDP socket".into()))?;
        socket
            .connect(peer)
            .map_err(io(format!("cannot connect to udp:{peer}")))?;
        Ok(Self { socket, peer })
    }
}

impl Transport for UdpTransport {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        self.socket
            .send(report)
            .map_err(|source| TransportError::Io {
                context: format!("cannot send to udp:{}", self.peer),
                source,
            })?;
        Ok(())
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        let timeout = timeout.max(Duration::from_millis(1));
        self.socket
            .set_read_timeout(Some(timeout))
            .map_err(|source| TransportError::Io {
                context: "socket timeout".into(),
                source,
            })?;
        let mut buf = [0u8; REPORT_LEN + 1];
        loop {
            match self.socket.recv(&mut buf) {
                // Exactly one report per datagram; anything else is not ours.
                Ok(REPORT_LEN) => {
                    let mut report = [0u8; REPORT_LEN];
                    report.copy_from_slice(&buf[..REPORT_LEN]);
                    return Ok(Some(report));
                }
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err(TransportError::Io {
                        context: format!(
                            "no key answers at udp:{} (is `keysmith virtual-key` running?)",
                            self.peer
                        ),
                        source: e,
                    })
                }
                Err(source) => {
                    return Err(TransportError::Io {
                        context: format!("cannot receive from udp:{}", self.peer),
                        source,
                    })
                }
            }
        }
    }

    fn describe(&self) -> String {
        format!("udp:{}", self.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One report per datagram: datagrams of 63 or 65 bytes are not
    /// reports and are passed over; nothing within the timeout is `None`.
    #[test]
    fn exactly_one_report_per_datagram() {
        let key = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut t = UdpTransport::connect(&key.local_addr().unwrap().to_string()).unwrap();
        assert_eq!(t.describe(), format!("udp:{}", key.local_addr().unwrap()));
        t.write_report(&[7; REPORT_LEN]).unwrap();
        let mut buf = [0u8; 100];
        let (n, host) = key.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[7; REPORT_LEN][..]);
        key.send_to(&[1; REPORT_LEN - 1], host).unwrap();
        key.send_to(&[2; REPORT_LEN + 1], host).unwrap();
        key.send_to(&[3; REPORT_LEN], host).unwrap();
        let got = t.read_report(Duration::from_secs(2)).unwrap();
        assert_eq!(got, Some([3; REPORT_LEN]));
        let started = std::time::Instant::now();
        assert_eq!(t.read_report(Duration::from_millis(50)).unwrap(), None);
        assert!(started.elapsed() >= Duration::from_millis(40));
        // A zero timeout still waits a little instead of blocking forever.
        assert_eq!(t.read_report(Duration::ZERO).unwrap(), None);
    }

    #[test]
    fn a_closed_port_is_named() {
        let free = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let mut t = UdpTransport::connect(&addr.to_string()).unwrap();
        t.write_report(&[0; REPORT_LEN]).unwrap();
        // Linux reports the ICMP port-unreachable on the next receive.
        let e = t.read_report(Duration::from_millis(500)).unwrap_err();
        assert!(e.to_string().contains("virtual-key"), "{e}");
        assert!(UdpTransport::connect("no-such-host.invalid:1").is_err());
    }
}

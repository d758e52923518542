//! In-process transport: a pair of channels, one end for the host and one
//! for a device served in the same process (unit tests, benchmarks).

use super::{Transport, TransportError};
use crate::hid::Report;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// The host's end.
#[derive(Debug)]
pub struct InProcessTransport {
    to_device: Sender<Report>,
    from_device: Receiver<Report>,
}

/// The device's end: a key implementation reads requests here and writes
/// its reports back.
#[derive(Debug)]
pub struct InProcessDevice {
    /// Reports to the host.
    pub to_host: Sender<Report>,
    /// Reports from the host.
    pub from_host: Receiver<Report>,
}

/// Creates a connected host/device pair.
pub fn pair() -> (InProcessTransport, InProcessDevice) {
    let (to_device, from_host) = channel();
    let (to_host, from_device) = channel();
    (
        InProcessTransport {
            to_device,
            from_device,
        },
        InProcessDevice { to_host, from_host },
    )
}

impl Transport for InProcessTransport {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        self.to_device
            .send(*report)
            .map_err(|_| TransportError::Disconnected)
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        match self.from_device.recv_timeout(timeout) {
            Ok(r) => Ok(Some(r)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(TransportError::Disconnected),
        }
    }

    fn describe(&self) -> String {
        "in-process".into()
    }
}

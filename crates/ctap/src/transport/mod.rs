//! Transports carry 64-byte CTAPHID reports to and from a key. They know
//! nothing of CTAPHID framing or CTAP2 (that lives in [`crate::hid`]).

pub mod inproc;
pub mod udp;
#[cfg(feature = "usb")]
pub mod usb;

use crate::hid::Report;
use std::time::Duration;

/// Why a report could not be sent or received.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{context}: {source}")]
    /// An I/O error of the device (what was being done, and the error).
    Io {
        /// What was being done (`reading /dev/hidraw3`, …).
        context: String,
        /// The error.
        source: std::io::Error,
    },
    #[error("the key was disconnected")]
    /// The device went away.
    Disconnected,
    #[error("USB HID: {0}")]
    /// The HID library failed.
    Hid(String),
}

/// A connection to one key that moves whole reports.
pub trait Transport: Send {
    /// Sends one report.
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError>;
    /// Waits up to `timeout` for one report; `Ok(None)` when none came.
    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError>;
    /// Where this transport goes, for messages ("udp:127.0.0.1:8111").
    fn describe(&self) -> String;
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        (**self).write_report(report)
    }
    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        (**self).read_report(timeout)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A boxed transport (what `device::open` returns) passes every call
    /// through.
    #[test]
    fn a_boxed_transport_is_the_transport() {
        let (host, device) = inproc::pair();
        let mut boxed: Box<dyn Transport> = Box::new(host);
        assert_eq!(boxed.describe(), "in-process");
        boxed.write_report(&[5; 64]).unwrap();
        assert_eq!(device.from_host.recv().unwrap(), [5; 64]);
        device.to_host.send([6; 64]).unwrap();
        assert_eq!(
            boxed.read_report(Duration::from_secs(1)).unwrap(),
            Some([6; 64])
        );
        assert_eq!(boxed.read_report(Duration::from_millis(10)).unwrap(), None);
        drop(device);
        assert!(matches!(
            boxed.read_report(Duration::from_millis(10)),
            Err(TransportError::Disconnected)
        ));
        assert!(matches!(
            boxed.write_report(&[0; 64]),
            Err(TransportError::Disconnected)
        ));
    }
}

//! Naming and opening a key: `udp:HOST:PORT` (virtual key), `usb` (the one
//! attached FIDO key), `usb:PATH` or a hidraw path.

use crate::error::{Error, Result};
use crate::transport::udp::UdpTransport;
use crate::transport::Transport;
use std::str::FromStr;

/// Which key to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// A virtual key (or anything speaking CTAPHID over UDP).
    Udp(String),
    /// The only FIDO key on USB.
    UsbAuto,
    /// A USB key by OS path.
    UsbPath(String),
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if let Some(addr) = s.strip_prefix("udp:") {
            if addr
                .rsplit_once(':')
                .is_none_or(|(_, port)| port.parse::<u16>().is_err())
            {
                return Err(Error::InvalidRequest(format!(
                    "device `{s}`: expected udp:HOST:PORT"
                )));
            }
            return Ok(Self::Udp(addr.to_owned()));
        }
        if s == "usb" {
            return Ok(Self::UsbAuto);
        }
        if let Some(path) = s.strip_prefix("usb:") {
            return Ok(Self::UsbPath(path.to_owned()));
        }
        if s.starts_with('/') {
            return Ok(Self::UsbPath(s.to_owned()));
        }
        Err(Error::InvalidRequest(format!(
            "device `{s}`: expected udp:HOST:PORT, usb, usb:PATH or a /dev/hidraw path"
        )))
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Udp(a) => write!(f, "udp:{a}"),
            Self::UsbAuto => write!(f, "usb"),
            Self::UsbPath(p) => write!(f, "usb:{p}"),
        }
    }
}

/// Opens the transport of `spec`.
pub fn open(spec: &DeviceSpec) -> Result<Box<dyn Transport>> {
    match spec {
        DeviceSpec::Udp(addr) => Ok(Box::new(UdpTransport::connect(addr)?)),
        DeviceSpec::UsbAuto => open_usb_auto(),
        DeviceSpec::UsbPath(path) => open_usb_path(path),
    }
}

#[cfg(feature = "usb")]
fn open_usb_auto() -> Result<Box<dyn Transport>> {
    use crate::transport::usb;
    let keys = usb::enumerate()?;
    match keys.as_slice() {
        [] => Err(Error::InvalidRequest(
            "no FIDO security key found on USB; insert one, or use --device udp:HOST:PORT for a virtual key".into(),
        )),
        [one] => Ok(Box::new(usb::UsbTransport::open(one)?)),
        many => Err(Error::InvalidRequest(format!(
            "{} FIDO keys are attached ({}); choose one with --device usb:PATH",
            many.len(),
            many.iter().map(|k| k.path.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

#[cfg(feature = "usb")]
fn open_usb_path(path: &str) -> Result<Box<dyn Transport>> {
    use crate::transport::usb;
    let info = usb::enumerate()?
        .into_iter()
        .find(|k| k.path == path)
        .unwrap_or(usb::UsbDeviceInfo {
            path: path.to_owned(),
            vendor_id: 0,
            product_id: 0,
            manufacturer: None,
            product: None,
            serial_number: None,
        });
    Ok(Box::new(usb::UsbTransport::open(&info)?))
}

#[cfg(not(feature = "usb"))]
fn open_usb_auto() -> Result<Box<dyn Transport>> {
    Err(Error::Unsupported(
        "USB keys in this build (built without the `usb` feature)".into(),
    ))
}

#[cfg(not(feature = "usb"))]
fn open_usb_path(_: &str) -> Result<Box<dyn Transport>> {
    open_usb_auto()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_specs() {
        assert_eq!(
            "udp:127.0.0.1:8111".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Udp("127.0.0.1:8111".into())
        );
        assert_eq!("usb".parse::<DeviceSpec>().unwrap(), DeviceSpec::UsbAuto);
        assert_eq!(
            "/dev/hidraw3".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::UsbPath("/dev/hidraw3".into())
        );
        assert!("udp:localhost".parse::<DeviceSpec>().is_err());
        assert!("bluetooth".parse::<DeviceSpec>().is_err());
    }

    #[test]
    fn specs_print_as_they_parse() {
        for (text, spec) in [
            (
                "udp:127.0.0.1:8111",
                DeviceSpec::Udp("127.0.0.1:8111".into()),
            ),
            ("udp:[::1]:9", DeviceSpec::Udp("[::1]:9".into())),
            ("usb", DeviceSpec::UsbAuto),
            (
                "usb:/dev/hidraw0",
                DeviceSpec::UsbPath("/dev/hidraw0".into()),
            ),
        ] {
            assert_eq!(text.parse::<DeviceSpec>().unwrap(), spec, "{text}");
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!(
            "  usb  ".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::UsbAuto
        );
        for bad in ["udp:host:70000", "udp:host:", "udp:", "usbx", "hidraw0", ""] {
            let e = bad.parse::<DeviceSpec>().unwrap_err();
            assert!(matches!(e, Error::InvalidRequest(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn opening_a_udp_spec_gives_a_udp_transport() {
        let t = open(&DeviceSpec::Udp("127.0.0.1:9".into())).unwrap();
        assert_eq!(t.describe(), "udp:127.0.0.1:9");
        assert!(open(&DeviceSpec::Udp("no-such-host.invalid:9".into())).is_err());
    }

    /// A path that is no key fails to open (no key needed for this).
    #[cfg(feature = "usb")]
    #[test]
    fn a_usb_path_that_is_no_key_fails() {
        assert!(open(&DeviceSpec::UsbPath("/nonexistent/hidraw99".into())).is_err());
    }

    #[cfg(not(feature = "usb"))]
    #[test]
    fn usb_needs_the_feature() {
        for spec in [
            DeviceSpec::UsbAuto,
            DeviceSpec::UsbPath("/dev/hidraw0".into()),
        ] {
            let Err(e) = open(&spec) else {
                panic!("accepted")
            };
            assert!(
                matches!(&e, Error::Unsupported(m) if m.contains("usb")),
                "{e}"
            );
        }
    }
}

//! USB HID transport through the `hidapi` crate: FIDO devices are those
//! with usage page 0xF1D0, usage 0x01 (CTAP 2.1 §11.2.8.1).

use super::{Transport, TransportError};
use crate::hid::{Report, REPORT_LEN};
use std::ffi::CString;
use std::time::Duration;

/// FIDO Alliance HID usage page.
pub const FIDO_USAGE_PAGE: u16 = 0xF1D0;
/// CTAPHID usage.
pub const FIDO_USAGE_CTAPHID: u16 = 0x01;

/// A FIDO device seen on the USB bus.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UsbDeviceInfo {
    /// OS path (e.g. `/dev/hidraw3`), used to open it.
    pub path: String,
    /// USB vendor id (0x1050 for Yubico).
    pub vendor_id: u16,
    /// USB product id.
    pub product_id: u16,
    /// The manufacturer string, if the device has one.
    pub manufacturer: Option<String>,
    /// The product string.
    pub product: Option<String>,
    /// The serial number, if the device reports one.
    pub serial_number: Option<String>,
}

fn hid_err(e: hidapi::HidError) -> TransportError {
    TransportError::Hid(e.to_string())
}

/// Lists the FIDO security keys currently attached.
pub fn enumerate() -> Result<Vec<UsbDeviceInfo>, TransportError> {
    let api = hidapi::HidApi::new().map_err(hid_err)?;
    let mut out: Vec<UsbDeviceInfo> = api
        .device_list()
        .filter(|d| d.usage_page() == FIDO_USAGE_PAGE && d.usage() == FIDO_USAGE_CTAPHID)
        .map(|d| UsbDeviceInfo {
            path: d.path().to_string_lossy().into_owned(),
            vendor_id: d.vendor_id(),
            product_id: d.product_id(),
            manufacturer: d.manufacturer_string().map(str::to_owned),
            product: d.product_string().map(str::to_owned),
            serial_number: d
                .serial_number()
                .map(str::to_owned)
                .filter(|s| !s.is_empty()),
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    Ok(out)
}

/// An open USB HID FIDO device.
pub struct UsbTransport {
    device: hidapi::HidDevice,
    info: UsbDeviceInfo,
}

impl std::fmt::Debug for UsbTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsbTransport")
            .field("info", &self.info)
            .finish()
    }
}

impl UsbTransport {
    /// Opens the device at `info.path`.
    pub fn open(info: &UsbDeviceInfo) -> Result<Self, TransportError> {
        let api = hidapi::HidApi::new().map_err(hid_err)?;
        let path = CString::new(info.path.clone())
            .map_err(|_| TransportError::Hid(format!("invalid device path {:?}", info.path)))?;
        let device = api.open_path(&path).map_err(|e| {
            TransportError::Hid(format!(
                "cannot open {} ({e}); on Linux, check the udev rule giving your user access to FIDO keys",
                info.path
            ))
        })?;
        Ok(Self {
            device,
            info: info.clone(),
        })
    }

    /// What the bus said about the device.
    pub fn info(&self) -> &UsbDeviceInfo {
        &self.info
    }
}

impl Transport for UsbTransport {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        // hidapi wants the report id first; FIDO devices use report id 0.
        let mut buf = [0u8; REPORT_LEN + 1];
        buf[1..].copy_from_slice(report);
        self.device.write(&buf).map_err(hid_err)?;
        Ok(())
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        let mut buf = [0u8; REPORT_LEN];
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        let n = self.device.read_timeout(&mut buf, ms).map_err(hid_err)?;
        match n {
            0 => Ok(None),
            REPORT_LEN => Ok(Some(buf)),
            n => Err(TransportError::Hid(format!(
                "short HID report of {n} bytes"
            ))),
        }
    }

    fn describe(&self) -> String {
        format!("usb:{}", self.info.path)
    }
}

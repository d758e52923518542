//! Arbitrary 64-byte reports into the virtual key's CTAPHID device: it must
//! never panic, and every report it emits must be a well-formed packet.
#![no_main]

use authenticator::ctap2::AuthenticatorConfig;
use authenticator::{Authenticator, HidDevice, PresenceSettings, ReportSink};
use ctap::hid::{Packet, Reassembler, Report, REPORT_LEN};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, LazyLock, Mutex};

struct Collect(Mutex<Vec<Report>>);

impl ReportSink<()> for Collect {
    fn send(&self, _: &(), report: &Report) {
        self.0.lock().unwrap().push(*report);
    }
}

static DEVICE: LazyLock<Mutex<(HidDevice<()>, Arc<Collect>)>> = LazyLock::new(|| {
    let auth = Authenticator::open(AuthenticatorConfig::default(), None).unwrap();
    let mut device = HidDevice::new(auth, PresenceSettings::default());
    let sink = Arc::new(Collect(Mutex::new(Vec::new())));
    device.attach(sink.clone());
    Mutex::new((device, sink))
});

fuzz_target!(|data: &[u8]| {
    // The pure reassembler on its own.
    let mut r: Option<Reassembler> = None;
    for chunk in data.chunks(REPORT_LEN) {
        let mut report = [0u8; REPORT_LEN];
        report[..chunk.len()].copy_from_slice(chunk);
        match Packet::parse(&report) {
            Packet::Init {
                cid,
                cmd,
                bcnt,
                data,
            } => {
                r = Reassembler::start(cid, cmd, bcnt, &data)
                    .ok()
                    .map(|(r, _)| r);
            }
            Packet::Cont { seq, data, .. } => {
                if let Some(re) = r.as_mut() {
                    if re.push(seq, &data).is_err() {
                        r = None;
                    }
                }
            }
        }
    }

    // The whole device.
    let mut guard = DEVICE.lock().unwrap();
    let (device, sink) = &mut *guard;
    for chunk in data.chunks(REPORT_LEN) {
        let mut report = [0u8; REPORT_LEN];
        report[..chunk.len()].copy_from_slice(chunk);
        device.handle_report(&report, ());
        device.poll();
    }
    // Let a CBOR request finish so requests do not pile up.
    while device.is_busy() {
        std::thread::yield_now();
        device.poll();
    }
    for out in sink.0.lock().unwrap().drain(..) {
        let _ = Packet::parse(&out);
    }
});

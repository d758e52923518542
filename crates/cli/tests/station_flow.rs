//! The provisioning station: keys are "inserted" and "removed" through a
//! simulated port watcher (virtual keys behind it), and the run must wait
//! for insertions, respect the number of keys worked on at once, and free
//! a slot only when its key is taken out.

mod station;

use ctap::device::DeviceSpec;
use provision::journal::ProvisioningJournal;
use provision::key::{ProvisionSettings, RunContext};
use provision::results::PinFile;
use provision::runner::{self, KeySource, KeyWatcher, RunEvent, RunObserver, RunPlan};
use provision::target::{Directory as Target, TargetConfig, TokenSourceInput};
use provision::users::UserJob;
use station::{Directory, Key};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The ports of the station, as the operator's hands change them.
#[derive(Default)]
struct Ports(Mutex<Vec<DeviceSpec>>);

impl KeyWatcher for Ports {
    fn present(&self) -> Vec<DeviceSpec> {
        self.0.lock().unwrap().clone()
    }
}

struct Events(Mutex<mpsc::Sender<(Instant, RunEvent)>>);

impl RunObserver for Events {
    fn event(&self, event: RunEvent) {
        let _ = self.0.lock().unwrap().send((Instant::now(), event));
    }
}

#[test]
fn the_station_waits_for_keys_works_on_two_at_once_and_frees_a_slot_on_removal() {
    let tmp = tempfile::tempdir().unwrap();
    let users: Vec<String> = (0..3).map(|i| format!("s{i}@contoso.com")).collect();
    let dir = Directory::start(tmp.path(), &users);
    let keys: Vec<Key> = (0..3)
        .map(|i| Key::start(tmp.path().join(format!("s{i}.key")), &[]))
        .collect();
    let secret = std::fs::read_to_string(&dir.secret_file).unwrap();
    let target = Target::new(TargetConfig::keysmith(
        &dir.url,
        station::TENANT,
        TokenSourceInput::ClientSecret {
            client_id: dir.client_id.clone(),
            secret: secret.trim().into(),
        },
    ));
    let pin_path = tmp.path().join("pins.csv");
    let (tx, rx) = mpsc::channel();
    let ctx = Arc::new(RunContext {
        directory: Arc::new(target),
        journal: Some(Arc::new(
            ProvisioningJournal::create(&tmp.path().join("run.journal")).unwrap(),
        )),
        pin_file: Some(Arc::new(PinFile::open(&pin_path).unwrap())),
        settings: ProvisionSettings {
            pin_file: Some(pin_path.clone()),
            ..Default::default()
        },
        observer: Arc::new(Events(Mutex::new(tx))),
    });
    let ports = Arc::new(Ports::default());
    let plan = RunPlan {
        users: users
            .iter()
            .map(|u| UserJob {
                user: u.clone(),
                display_name: None,
                pin_length: None,
            })
            .collect(),
        source: KeySource::Station {
            watcher: ports.clone(),
            poll: Duration::from_millis(20),
        },
        parallel: 2,
        resume: None,
        max_keys_per_user: 3,
        stop: Arc::new(AtomicBool::new(false)),
    };
    let run = std::thread::spawn(move || runner::run(ctx, plan));

    let backlog = std::cell::RefCell::new(std::collections::VecDeque::new());
    let next = |what: &str| -> (Instant, RunEvent) {
        if let Some(e) = backlog.borrow_mut().pop_front() {
            return e;
        }
        rx.recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no event while waiting for {what}"))
    };
    // Nothing plugged in: the station asks for a key for the first user.
    loop {
        if let (_, RunEvent::WaitingForKey { next_user }) = next("the first prompt") {
            assert_eq!(next_user.as_deref(), Some("s0@contoso.com"));
            break;
        }
    }
    // Three keys go in at once; only two are worked on.
    let spec = |k: &Key| k.device.parse::<DeviceSpec>().unwrap();
    ports.0.lock().unwrap().extend(keys.iter().map(spec));
    let mut started: Vec<(Instant, String)> = Vec::new();
    let mut removed_at: Option<Instant> = None;
    let mut finished = 0;
    while finished < 3 {
        match next("the run") {
            (t, RunEvent::UserStarted { device, .. }) => started.push((t, device)),
            (_, RunEvent::RemoveKey { device, ok }) => {
                assert!(ok, "{device} failed");
                if removed_at.is_none() {
                    // The operator is slow to take the first key out: the
                    // third key must not start meanwhile.
                    std::thread::sleep(Duration::from_millis(300));
                    let mut b = backlog.borrow_mut();
                    b.extend(rx.try_iter());
                    let more = b
                        .iter()
                        .filter(|(_, e)| matches!(e, RunEvent::UserStarted { .. }))
                        .count();
                    assert!(
                        started.len() + more <= 2,
                        "a third key started while two were in"
                    );
                }
                let at = Instant::now();
                removed_at.get_or_insert(at);
                ports.0.lock().unwrap().retain(|p| p.to_string() != device);
            }
            (_, RunEvent::UserFinished(o)) => {
                assert_eq!(
                    o.status,
                    provision::results::OutcomeStatus::Provisioned,
                    "{o:?}"
                );
                finished += 1;
            }
            _ => {}
        }
    }
    let summary = run.join().unwrap().unwrap();
    assert_eq!(summary.provisioned, 3);
    assert_eq!(started.len(), 3);
    assert!(
        started[2].0 > removed_at.unwrap(),
        "the third key started only after a key was taken out"
    );
    for u in &users {
        assert_eq!(dir.methods(u).len(), 1, "{u}");
    }
}

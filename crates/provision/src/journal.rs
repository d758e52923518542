//! The crash-safe provisioning journal: every step of a run is appended as
//! one JSON line and fsynced before the next side effect, so `--resume` can
//! tell, for each user, exactly how far the run got — including the windows
//! between "about to change the key" and "the key answered".
//!
//! The journal never holds a PIN (those go to the separate PIN file).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use webauthn::graph::CreationOptionsResponse;

/// Which physical (or virtual) key a step touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyIdentity {
    /// `udp:HOST:PORT`, `usb:/dev/hidrawN`.
    pub device: String,
    /// USB serial number when the key reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The key model's AAGUID.
    pub aaguid: String,
}

impl KeyIdentity {
    /// Two identities name the same key: by serial when both have one,
    /// else by device address.
    pub fn same_key(&self, other: &KeyIdentity) -> bool {
        match (&self.serial, &other.serial) {
            (Some(a), Some(b)) => a == b,
            _ => self.device == other.device,
        }
    }
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum JournalEvent {
    #[serde(rename_all = "camelCase")]
    /// The run began (the journal's first entry).
    RunStarted {
        /// A unique id of the run.
        run_id: String,
        /// The directory's base URL.
        directory: String,
    },
    /// The whole run, written before its first side effect: every user in
    /// order and the options that shape the result, so that `--resume`
    /// alone can finish it.
    #[serde(rename_all = "camelCase")]
    /// The whole run, written before its first side effect: every user in order and the options that shape the result, so that `--resume` alone can finish it.
    Planned {
        /// The plan.
        plan: Box<Plan>,
    },
    /// Creation options (with their challenge) fetched for a user.
    #[serde(rename_all = "camelCase")]
    OptionsFetched {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The creation options (with their challenge).
        options: Box<CreationOptionsResponse>,
    },
    /// A key was taken for the user; from here on the user is bound to it.
    #[serde(rename_all = "camelCase")]
    /// A key was taken for the user; from here on the user is bound to it.
    KeyAssigned {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The key the step touched.
        key: KeyIdentity,
    },
    #[serde(rename_all = "camelCase")]
    /// The key was factory-reset for the user (`--reset-first`, `--recycle`).
    KeyReset {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The key the step touched.
        key: KeyIdentity,
    },
    /// About to set the PIN (the PIN itself is already in the PIN file).
    #[serde(rename_all = "camelCase")]
    /// About to set the PIN (the PIN itself is already in the PIN file).
    SettingPin {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The key the step touched.
        key: KeyIdentity,
    },
    #[serde(rename_all = "camelCase")]
    /// The PIN is set.
    PinSet {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The key the step touched.
        key: KeyIdentity,
    },
    /// About to send makeCredential.
    #[serde(rename_all = "camelCase")]
    CreatingCredential {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The key the step touched.
        key: KeyIdentity,
        /// base64url WebAuthn user handle, to find the credential on the key.
        user_handle: String,
        /// The relying party the credential is for.
        rp_id: String,
    },
    /// The key made the credential; everything needed to register it.
    #[serde(rename_all = "camelCase")]
    CredentialCreated {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The key the step touched.
        key: KeyIdentity,
        /// The credential id, base64url.
        credential_id: String,
        /// The clientDataJSON the key signed, base64url.
        client_data_json: String,
        /// The attestation object, base64url.
        attestation_object: String,
        /// The passkey's name.
        display_name: String,
        /// The relying party the credential is for.
        rp_id: String,
    },
    /// The key refused makeCredential (excluded, full): nothing was made.
    #[serde(rename_all = "camelCase")]
    CreationRefused {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The key the step touched.
        key: KeyIdentity,
        /// Why, for people.
        reason: String,
    },
    /// About to POST the registration.
    #[serde(rename_all = "camelCase")]
    /// About to POST the registration.
    Registering {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The credential id, base64url.
        credential_id: String,
    },
    #[serde(rename_all = "camelCase")]
    /// The directory registered the passkey.
    Registered {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The credential id, base64url.
        credential_id: String,
        /// The directory's id of the registered passkey.
        method_id: String,
        #[serde(default)]
        /// The key model's AAGUID.
        aaguid: Option<String>,
        #[serde(default)]
        /// The key model's name, as the directory knows it.
        model: Option<String>,
        /// The passkey name the directory answered (absent in journals
        /// written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
    },
    /// A credential that will never be registered was deleted from the key.
    #[serde(rename_all = "camelCase")]
    CredentialRemoved {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The key the step touched.
        key: KeyIdentity,
        /// The credential id, base64url.
        credential_id: String,
        /// Why, for people.
        reason: String,
    },
    #[serde(rename_all = "camelCase")]
    /// The PIN policy (minimum length, forced change) was applied to the key.
    PinPolicyApplied {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// The key the step touched.
        key: KeyIdentity,
        #[serde(default)]
        /// The minimum PIN length applied to the key, if one was.
        min_pin_length: Option<u64>,
        /// Whether the user must change the PIN on first use.
        force_pin_change: bool,
    },
    /// Every step for the user is complete.
    #[serde(rename_all = "camelCase")]
    /// Every step for the user is complete.
    UserDone {
        /// The user (UPN or object id, as the run names them).
        user: String,
    },
    #[serde(rename_all = "camelCase")]
    /// The user failed (a resume tries again).
    UserFailed {
        /// The user (UPN or object id, as the run names them).
        user: String,
        /// A stable short name of the failure (see [`crate::error::Error::kind`]).
        kind: String,
        /// What happened, for people.
        message: String,
    },
}

impl JournalEvent {
    /// The user the entry is about (none for the run's own entries).
    pub fn user(&self) -> Option<&str> {
        use JournalEvent::*;
        match self {
            RunStarted { .. } | Planned { .. } => None,
            OptionsFetched { user, .. }
            | KeyAssigned { user, .. }
            | KeyReset { user, .. }
            | SettingPin { user, .. }
            | PinSet { user, .. }
            | CreatingCredential { user, .. }
            | CredentialCreated { user, .. }
            | CreationRefused { user, .. }
            | Registering { user, .. }
            | Registered { user, .. }
            | CredentialRemoved { user, .. }
            | PinPolicyApplied { user, .. }
            | UserDone { user }
            | UserFailed { user, .. } => Some(user),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    seq: u64,
    at: String,
    #[serde(flatten)]
    event: JournalEvent,
}

/// A run's plan (see [`JournalEvent::Planned`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Where the users came from: `csv FILE`, `group ID` or `user`.
    pub source: String,
    /// The users, in run order.
    pub users: Vec<PlannedUser>,
    /// The options that shape the result (PIN length and policy, directory).
    pub options: PlanOptions,
}

/// One planned user, in run order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedUser {
    /// The user (UPN or object id, as the run names them).
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The passkey's name.
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// This user's PIN length, overriding the run's (from the CSV).
    pub pin_length: Option<usize>,
    /// Where this user came from: `users.csv entry 3`, `group ID`, `--user`.
    pub from: String,
}

/// The options of a run that shape its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanOptions {
    /// The directory's base URL.
    pub directory: String,
    /// Length of the generated PIN.
    pub pin_length: usize,
    /// Characters the generated PIN uses.
    pub pin_alphabet: crate::pin::PinAlphabet,
    #[serde(default)]
    /// The minimum PIN length applied to the key, if one was.
    pub min_pin_length: Option<u64>,
    #[serde(default)]
    /// Whether the user must change the PIN on first use.
    pub force_pin_change: bool,
    #[serde(default)]
    /// RP IDs allowed to read the key's minimum PIN length.
    pub min_pin_length_rp_ids: Vec<String>,
    /// Fail a user whose key cannot apply the PIN policy (else warn).
    pub require_pin_policy: bool,
}

/// What the journal says about one user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserProgress {
    /// The creation options (with their challenge).
    pub options: Option<CreationOptionsResponse>,
    /// The key the user is bound to, once one is assigned.
    pub key: Option<KeyIdentity>,
    /// The PIN was set on the key.
    pub pin_set: bool,
    /// makeCredential was sent and no answer was journaled: the key may
    /// hold a credential the journal does not know.
    pub creating: Option<(String, String)>,
    /// Created and not yet registered or removed.
    pub pending_credential: Option<PendingCredential>,
    /// The registered passkey, once registered.
    pub registered: Option<RegisteredMethod>,
    /// The PIN policy was applied to the key.
    pub pin_policy_applied: bool,
    /// Every step is complete.
    pub done: bool,
}

/// A credential the key made that is not registered yet (a resume registers it instead of making another).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingCredential {
    /// The key that holds it.
    pub key: KeyIdentity,
    /// The credential id, base64url.
    pub credential_id: String,
    /// The clientDataJSON the key signed, base64url.
    pub client_data_json: String,
    /// The attestation object, base64url.
    pub attestation_object: String,
    /// The passkey's name.
    pub display_name: String,
    /// The relying party the credential is for.
    pub rp_id: String,
}

/// A passkey the directory registered.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredMethod {
    /// The credential id, base64url.
    pub credential_id: String,
    /// The directory's id of the registered passkey.
    pub method_id: String,
    /// The key model's AAGUID.
    pub aaguid: Option<String>,
    /// The key model's name, as the directory knows it.
    pub model: Option<String>,
    /// The passkey name the directory answered.
    pub display_name: Option<String>,
}

impl UserProgress {
    /// The user's key matters from here on: it may hold a credential of
    /// theirs (a PIN alone does not bind: a key that failed for a user can
    /// go to someone else once reset).
    pub fn bound_key(&self) -> Option<&KeyIdentity> {
        if self.creating.is_some() || self.pending_credential.is_some() || self.registered.is_some()
        {
            self.key.as_ref()
        } else {
            None
        }
    }

    fn apply(&mut self, event: &JournalEvent) {
        use JournalEvent::*;
        match event {
            RunStarted { .. } | Planned { .. } => {}
            OptionsFetched { options, .. } => self.options = Some((**options).clone()),
            KeyAssigned { key, .. } => {
                if self.key.as_ref() != Some(key) {
                    self.pin_set = false;
                }
                self.key = Some(key.clone());
            }
            KeyReset { .. } => {
                self.pin_set = false;
                self.creating = None;
                self.pending_credential = None;
            }
            SettingPin { .. } => {}
            PinSet { .. } => self.pin_set = true,
            CreatingCredential {
                user_handle, rp_id, ..
            } => self.creating = Some((user_handle.clone(), rp_id.clone())),
            CredentialCreated {
                key,
                credential_id,
                client_data_json,
                attestation_object,
                display_name,
                rp_id,
                ..
            } => {
                self.creating = None;
                self.pending_credential = Some(PendingCredential {
                    key: key.clone(),
                    credential_id: credential_id.clone(),
                    client_data_json: client_data_json.clone(),
                    attestation_object: attestation_object.clone(),
                    display_name: display_name.clone(),
                    rp_id: rp_id.clone(),
                });
            }
            CreationRefused { .. } => self.creating = None,
            Registering { .. } => {}
            Registered {
                credential_id,
                method_id,
                aaguid,
                model,
                display_name,
                ..
            } => {
                self.pending_credential = None;
                self.registered = Some(RegisteredMethod {
                    credential_id: credential_id.clone(),
                    method_id: method_id.clone(),
                    aaguid: aaguid.clone(),
                    model: model.clone(),
                    display_name: display_name.clone(),
                });
            }
            CredentialRemoved { credential_id, .. } => {
                if self
                    .pending_credential
                    .as_ref()
                    .is_some_and(|p| &p.credential_id == credential_id)
                {
                    self.pending_credential = None;
                }
                self.creating = None;
            }
            PinPolicyApplied { .. } => self.pin_policy_applied = true,
            UserDone { .. } => self.done = true,
            // Failures are reported in the results; a later attempt decides.
            UserFailed { .. } => {}
        }
    }
}

/// An open journal, appended to by every worker of a run.
pub struct ProvisioningJournal {
    path: PathBuf,
    file: Mutex<(File, u64)>,
}

impl std::fmt::Debug for ProvisioningJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProvisioningJournal({})", self.path.display())
    }
}

impl ProvisioningJournal {
    /// Creates a new journal; refuses to overwrite an existing one (that
    /// would lose a run's state: use [`ProvisioningJournal::resume`]).
    pub fn create(path: &Path) -> Result<Self> {
        let file = crate::results::create_private(path, false)
            .map_err(|e| journal_err(path, format!("cannot create: {e}")))?;
        sync_parent(path);
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new((file, 0)),
        })
    }

    /// Opens an existing journal for appending and replays it.
    pub fn resume(path: &Path) -> Result<(Self, JournalState)> {
        let state = JournalState::read(path)?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| journal_err(path, format!("cannot open: {e}")))?;
        if state.torn_tail {
            // Cut the half-written record so the next one starts a line.
            file.set_len(state.good_len)
                .and_then(|_| file.sync_data())
                .map_err(|e| journal_err(path, format!("cannot repair torn tail: {e}")))?;
        }
        Ok((
            Self {
                path: path.to_owned(),
                file: Mutex::new((file, state.last_seq)),
            },
            state,
        ))
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` and waits until it is on disk.
    pub fn append(&self, event: JournalEvent) -> Result<()> {
        let mut guard = self.file.lock().expect("journal lock");
        let seq = guard.1 + 1;
        let record = Record {
            seq,
            at: crate::results::now_rfc3339(),
            event,
        };
        let mut line = serde_json::to_vec(&record).expect("journal record serialises");
        line.push(b'\n');
        guard
            .0
            .write_all(&line)
            .and_then(|_| guard.0.sync_data())
            .map_err(|e| journal_err(&self.path, format!("cannot write: {e}")))?;
        guard.1 = seq;
        Ok(())
    }
}

/// A journal replayed: per-user progress in first-seen order.
#[derive(Debug, Default, Clone)]
pub struct JournalState {
    /// A unique id of the run.
    pub run_id: Option<String>,
    /// The directory's base URL.
    pub directory: Option<String>,
    /// The run's plan; `None` in journals of older versions.
    pub plan: Option<Plan>,
    /// What the journal says about each user, by user.
    pub users: BTreeMap<String, UserProgress>,
    /// Users in the order they first appear.
    pub order: Vec<String>,
    /// The last entry's sequence number.
    pub last_seq: u64,
    /// A torn last line (the crash hit mid-write) was ignored.
    pub torn_tail: bool,
    /// Bytes up to the end of the last whole record.
    pub good_len: u64,
}

impl JournalState {
    /// Reads a journal: every whole entry (a torn last line, from a crash mid-write, is ignored and reported).
    pub fn read(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).map_err(|e| journal_err(path, format!("cannot read: {e}")))?;
        let mut state = JournalState::default();
        let mut offset = 0usize;
        let mut line_no = 0usize;
        while offset < bytes.len() {
            line_no += 1;
            let end = bytes[offset..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|p| offset + p);
            let line = &bytes[offset..end.unwrap_or(bytes.len())];
            let next = end.map_or(bytes.len(), |e| e + 1);
            if line.iter().all(u8::is_ascii_whitespace) {
                offset = next;
                state.good_len = offset as u64;
                continue;
            }
            let record: Record = match serde_json::from_slice(line) {
                Ok(r) => r,
                // Only the last line can be torn; it has no newline yet.
                Err(_) if end.is_none() => {
                    state.torn_tail = true;
                    break;
                }
                Err(e) => {
                    return Err(journal_err(
                        path,
                        format!("line {line_no} is not a journal record: {e}"),
                    ))
                }
            };
            offset = next;
            state.good_len = offset as u64;
            state.last_seq = record.seq;
            if let JournalEvent::RunStarted { run_id, directory } = &record.event {
                state.run_id.get_or_insert_with(|| run_id.clone());
                state.directory.get_or_insert_with(|| directory.clone());
            }
            if let JournalEvent::Planned { plan } = &record.event {
                state.plan.get_or_insert_with(|| (**plan).clone());
            }
            if let Some(user) = record.event.user() {
                if !state.users.contains_key(user) {
                    state.order.push(user.to_owned());
                }
                state
                    .users
                    .entry(user.to_owned())
                    .or_default()
                    .apply(&record.event);
            }
        }
        Ok(state)
    }
}

fn journal_err(path: &Path, message: String) -> Error {
    Error::Journal {
        path: path.display().to_string(),
        message,
    }
}

/// Makes a newly created file's directory entry durable.
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyIdentity {
        KeyIdentity {
            device: "udp:127.0.0.1:1".into(),
            serial: None,
            aaguid: "x".into(),
        }
    }

    #[test]
    fn replay_tracks_each_user_and_ignores_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal");
        let j = ProvisioningJournal::create(&path).unwrap();
        j.append(JournalEvent::RunStarted {
            run_id: "r".into(),
            directory: "d".into(),
        })
        .unwrap();
        j.append(JournalEvent::KeyAssigned {
            user: "a".into(),
            key: key(),
        })
        .unwrap();
        j.append(JournalEvent::PinSet {
            user: "a".into(),
            key: key(),
        })
        .unwrap();
        j.append(JournalEvent::CreatingCredential {
            user: "a".into(),
            key: key(),
            user_handle: "h".into(),
            rp_id: "rp".into(),
        })
        .unwrap();
        j.append(JournalEvent::UserDone { user: "b".into() })
            .unwrap();
        drop(j);
        // A crash mid-write leaves half a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":6,\"at\":\"x\",\"ev").unwrap();
        let (j, state) = ProvisioningJournal::resume(&path).unwrap();
        assert!(state.torn_tail);
        j.append(JournalEvent::UserDone { user: "c".into() })
            .unwrap();
        let again = JournalState::read(&path).unwrap();
        assert!(!again.torn_tail, "the torn tail was cut before appending");
        assert!(again.users["c"].done);
        assert_eq!(state.order, vec!["a", "b"]);
        assert_eq!(state.last_seq, 5);
        let a = &state.users["a"];
        assert!(a.pin_set);
        assert_eq!(a.creating.as_ref().unwrap().0, "h");
        assert_eq!(a.bound_key(), Some(&key()));
        assert!(state.users["b"].done);
        assert!(
            ProvisioningJournal::create(&path).is_err(),
            "never overwrite"
        );
        drop(j);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}

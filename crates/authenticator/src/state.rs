//! The key's persistent state and the file that holds it: JSON, written
//! atomically (temporary file, fsync, rename, fsync of the directory) with
//! mode 0600, because it contains the key's master secret and PIN hash.

pub use crate::fsutil::write_private_atomically;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use zeroize::Zeroize;

/// Bumped when the layout changes incompatibly.
pub const STATE_VERSION: u32 = 1;
/// PIN retries after a reset or a correct PIN (CTAP 2.1 §6.5.2.1).
pub const MAX_PIN_RETRIES: u8 = 8;

/// Everything that survives a power cycle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersistentState {
    /// The state file's format version (a file of another version is refused).
    pub version: u32,
    /// The model identifier, as a UUID string.
    pub aaguid: String,
    /// A per-device serial number (shown by `key info`, put in enterprise
    /// attestation certificates).
    pub serial: String,
    /// Wraps non-discoverable credential keys and derives hmac-secret
    /// values; a reset replaces it, which invalidates every credential.
    #[serde(with = "hex_array")]
    pub master_key: [u8; 32],
    /// The PIN, when one is set.
    pub pin: Option<PinState>,
    /// PIN attempts left (8 after a reset or a correct PIN).
    pub pin_retries: u8,
    /// The minimum PIN length in code points.
    pub min_pin_length: u8,
    #[serde(default)]
    /// RP IDs that may read the minimum PIN length (minPinLength extension).
    pub min_pin_length_rpids: Vec<String>,
    /// The user must change the PIN before using it.
    pub force_pin_change: bool,
    /// Every operation requires user verification (toggleAlwaysUv).
    pub always_uv: bool,
    /// Enterprise attestation has been enabled.
    pub enterprise_attestation: bool,
    /// Global signature counter.
    pub sign_count: u32,
    /// Ordering of discoverable credentials (most recent first in
    /// getAssertion).
    pub next_credential_serial: u64,
    /// The discoverable credentials.
    pub credentials: Vec<ResidentCredential>,
    /// Attestation material when no shared model directory is used.
    #[serde(default)]
    pub attestation: Option<crate::attestation::StoredAttestation>,
}

impl Drop for PersistentState {
    fn drop(&mut self) {
        self.master_key.zeroize();
    }
}

/// The stored PIN: LEFT(SHA-256(PIN), 16) and its length in code points
/// (to decide whether a raised minimum forces a change).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PinState {
    #[serde(with = "hex_array")]
    /// LEFT(SHA-256(PIN), 16), as CTAP compares it.
    pub hash: [u8; 16],
    /// The PIN's length in code points.
    pub code_points: u8,
}

/// A discoverable credential. The private key is inside the wrapped
/// credential id, decrypted with the master key when used.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResidentCredential {
    #[serde(with = "b64")]
    /// The credential id (which wraps the private key).
    pub id: Vec<u8>,
    /// The RP ID.
    pub rp_id: String,
    /// The RP's name, if the RP gave one.
    pub rp_name: Option<String>,
    #[serde(with = "b64")]
    /// The user handle.
    pub user_id: Vec<u8>,
    /// The user's account name.
    pub user_name: Option<String>,
    /// The user's display name.
    pub user_display_name: Option<String>,
    /// The credProtect level (1–3).
    pub cred_protect: u8,
    /// Creation order (most recent first in assertions and enumeration).
    pub serial: u64,
}

impl PersistentState {
    /// A factory-fresh key of model `aaguid`.
    pub fn new(aaguid: uuid::Uuid) -> Self {
        let serial: u32 = rand::random();
        Self {
            version: STATE_VERSION,
            aaguid: aaguid.hyphenated().to_string(),
            serial: format!("{:08}", serial % 100_000_000),
            master_key: rand::random(),
            pin: None,
            pin_retries: MAX_PIN_RETRIES,
            min_pin_length: ctap::pin::DEFAULT_MIN_PIN_LENGTH as u8,
            min_pin_length_rpids: Vec::new(),
            force_pin_change: false,
            always_uv: false,
            enterprise_attestation: false,
            sign_count: 0,
            next_credential_serial: 1,
            credentials: Vec::new(),
            attestation: None,
        }
    }

    /// Factory reset (§6.6): new master key, no PIN, no credentials, default
    /// configuration. The model, serial and attestation material stay.
    pub fn reset(&mut self) {
        let aaguid = uuid::Uuid::parse_str(&self.aaguid).unwrap_or_default();
        let mut fresh = Self::new(aaguid);
        fresh.serial = self.serial.clone();
        fresh.attestation = self.attestation.take();
        *self = fresh;
    }

    /// The AAGUID as bytes (all zeros if the stored text is not a UUID).
    pub fn aaguid_bytes(&self) -> [u8; 16] {
        uuid::Uuid::parse_str(&self.aaguid)
            .map(|u| *u.as_bytes())
            .unwrap_or_default()
    }
}

/// Where the state lives on disk.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

/// A state file problem.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read key state {path}: {source}")]
    /// The file could not be read.
    Read {
        /// The state file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    #[error("key state {path} is not valid: {source}")]
    /// The file is not a key state.
    Parse {
        /// The state file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
    #[error("key state {path} has version {found}, this build reads version {STATE_VERSION}")]
    /// The file is of another format version (named) than this build reads.
    Version {
        /// The state file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    #[error("cannot write key state {path}: {source}")]
    /// The file could not be written (written atomically: the old one stays).
    Write {
        /// The state file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl StateFile {
    /// The state file at `path` (not read until loaded).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the state lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the state, or `None` when the file does not exist yet.
    pub fn load(&self) -> Result<Option<PersistentState>, StateError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let state: PersistentState =
            serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
                path: self.path.clone(),
                source,
            })?;
        if state.version != STATE_VERSION {
            return Err(StateError::Version {
                path: self.path.clone(),
                found: state.version,
            });
        }
        Ok(Some(state))
    }

    /// Writes the state atomically with mode 0600.
    pub fn save(&self, state: &PersistentState) -> Result<(), StateError> {
        let err = |source| StateError::Write {
            path: self.path.clone(),
            source,
        };
        let mut json = serde_json::to_vec_pretty(state).expect("state serialises");
        let result = write_private_atomically(&self.path, &json).map_err(err);
        json.zeroize();
        result
    }
}

mod hex_array {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom(format!("expected {N} bytes")))
    }
}

pub(crate) mod b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&webauthn::b64::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        webauthn::b64::decode(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("key.json"));
        assert!(file.load().unwrap().is_none());
        let mut state = PersistentState::new(uuid::Uuid::new_v4());
        state.pin = Some(PinState {
            hash: [7; 16],
            code_points: 6,
        });
        file.save(&state).unwrap();
        let back = file.load().unwrap().unwrap();
        assert_eq!(back.master_key, state.master_key);
        assert_eq!(back.pin, state.pin);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(file.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn reset_keeps_identity_and_drops_secrets() {
        let mut state = PersistentState::new(uuid::Uuid::new_v4());
        state.pin = Some(PinState {
            hash: [1; 16],
            code_points: 4,
        });
        state.force_pin_change = true;
        let (serial, aaguid, master) =
            (state.serial.clone(), state.aaguid.clone(), state.master_key);
        state.reset();
        assert_eq!(
            (state.serial.as_str(), state.aaguid.as_str()),
            (serial.as_str(), aaguid.as_str())
        );
        assert_ne!(state.master_key, master);
        assert!(state.pin.is_none() && !state.force_pin_change);
    }
}

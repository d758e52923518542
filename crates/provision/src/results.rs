//! What a run hands back: the results file (`--out results.csv|.json`) and
//! the PIN file (`--pin-out`, for PIN mailers), plus the file helpers both
//! use. PINs appear in the PIN file and nowhere else.

use crate::error::{Error, Result};
use crate::pin::Pin;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Creates a file readable and writable by its owner only (0600).
/// `overwrite = false` refuses an existing file.
pub fn create_private(path: &Path, overwrite: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        // An existing file keeps its old mode on truncate: tighten it.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename), 0600.
pub fn write_private_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut f = create_private(&tmp, true)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Now, in RFC 3339 to the second (UTC).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The outcome for one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OutcomeStatus {
    /// Registered in this run.
    Provisioned,
    /// Registered by an earlier attempt (found in the journal).
    AlreadyDone,
    /// Failed (the error says why; a resume tries again).
    Failed,
    /// Not attempted (e.g. the run was stopped, or `--check`).
    Skipped,
}

/// One row of the results file.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserOutcome {
    /// The user's UPN.
    pub user_principal_name: String,
    /// What became of it.
    pub status: OutcomeStatus,
    /// The directory's id of the registered passkey.
    pub method_id: Option<String>,
    /// The passkey's name.
    pub display_name: Option<String>,
    /// The key model's AAGUID.
    pub aaguid: Option<String>,
    /// The key model's name, as the directory knows it.
    pub model: Option<String>,
    /// The key's address.
    pub key_device: Option<String>,
    /// The key's USB serial number, if it reports one.
    pub key_serial: Option<String>,
    /// A PIN was generated for this user (see the PIN file).
    pub pin_generated: bool,
    /// Whether the user must change the PIN on first use.
    pub force_pin_change: bool,
    /// The minimum PIN length applied to the key, if one was.
    pub min_pin_length: Option<u64>,
    /// A stable short name of the failure.
    pub error_kind: Option<String>,
    /// The error, for people (when it failed).
    pub error: Option<String>,
    /// Seconds the run (or the user) took.
    pub seconds: f64,
    /// Of `seconds`, time spent waiting for the key.
    #[serde(default)]
    pub key_seconds: f64,
    /// Of `seconds`, time spent waiting for the directory.
    #[serde(default)]
    pub directory_seconds: f64,
}

impl UserOutcome {
    /// An outcome of `status` for `user`, the rest empty.
    pub fn new(user: &str, status: OutcomeStatus) -> Self {
        Self {
            user_principal_name: user.to_owned(),
            status,
            method_id: None,
            display_name: None,
            aaguid: None,
            model: None,
            key_device: None,
            key_serial: None,
            pin_generated: false,
            force_pin_change: false,
            min_pin_length: None,
            error_kind: None,
            error: None,
            seconds: 0.0,
            key_seconds: 0.0,
            directory_seconds: 0.0,
        }
    }
}

/// Writes the results file: `.json` → one JSON array, anything else → CSV.
pub fn write_results(path: &Path, outcomes: &[UserOutcome]) -> Result<()> {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let bytes = if is_json {
        serde_json::to_vec_pretty(outcomes).expect("outcomes serialise")
    } else {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "userPrincipalName",
            "status",
            "methodId",
            "displayName",
            "aaguid",
            "model",
            "keyDevice",
            "keySerial",
            "pinGenerated",
            "forcePinChange",
            "minPinLength",
            "errorKind",
            "error",
            "seconds",
        ])
        .map_err(csv_err)?;
        for o in outcomes {
            let status = serde_json::to_value(&o.status).expect("status");
            w.write_record([
                o.user_principal_name.as_str(),
                status.as_str().unwrap_or_default(),
                o.method_id.as_deref().unwrap_or(""),
                o.display_name.as_deref().unwrap_or(""),
                o.aaguid.as_deref().unwrap_or(""),
                o.model.as_deref().unwrap_or(""),
                o.key_device.as_deref().unwrap_or(""),
                o.key_serial.as_deref().unwrap_or(""),
                if o.pin_generated { "true" } else { "false" },
                if o.force_pin_change { "true" } else { "false" },
                &o.min_pin_length.map(|n| n.to_string()).unwrap_or_default(),
                o.error_kind.as_deref().unwrap_or(""),
                o.error.as_deref().unwrap_or(""),
                &format!("{:.3}", o.seconds),
            ])
            .map_err(csv_err)?;
        }
        w.into_inner().map_err(|e| Error::Input(e.to_string()))?
    };
    // Results name users and keys: not secret, but not for everyone either.
    write_private_atomically(path, &bytes)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn csv_err(e: csv::Error) -> Error {
    Error::Input(format!("CSV: {e}"))
}

/// The PIN file: `userPrincipalName,keySerial,keyDevice,pin,setAt`, 0600.
/// A line is written and fsynced *before* the PIN is set on the key, so a
/// crash can never leave a key with a PIN nobody knows. When a user's key
/// was redone, the last line for that user is the valid one.
pub struct PinFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl std::fmt::Debug for PinFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinFile({})", self.path.display())
    }
}

/// One PIN file line.
#[derive(Clone)]
pub struct PinRecord {
    /// The user (UPN or object id, as the run names them).
    pub user: String,
    /// The key's USB serial number, if it reports one.
    pub key_serial: String,
    /// The key's address.
    pub key_device: String,
    /// The PIN (redacted in `Debug`).
    pub pin: Pin,
    /// When the PIN was set (RFC 3339).
    pub set_at: String,
}

impl PinFile {
    /// Opens (creating 0600 if needed) for appending.
    pub fn open(path: &Path) -> Result<Self> {
        let exists = path.exists();
        let mut file = if exists {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(Error::Input(format!(
                        "PIN file {} is readable by others (mode {:o}); chmod 600 it first",
                        path.display(),
                        mode & 0o777
                    )));
                }
            }
            OpenOptions::new().append(true).open(path)
        } else {
            create_private(path, false)
        }
        .map_err(|e| Error::io(format!("opening PIN file {}", path.display()), e))?;
        if !exists {
            file.write_all(b"userPrincipalName,keySerial,keyDevice,pin,setAt\n")
                .and_then(|_| file.sync_all())
                .map_err(|e| Error::io("writing PIN file", e))?;
        }
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// The PIN file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends and fsyncs one line.
    pub fn record(&self, record: &PinRecord) -> Result<()> {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        w.write_record([
            record.user.as_str(),
            record.key_serial.as_str(),
            record.key_device.as_str(),
            record.pin.expose(),
            record.set_at.as_str(),
        ])
        .map_err(csv_err)?;
        let line =
            zeroize::Zeroizing::new(w.into_inner().map_err(|e| Error::Input(e.to_string()))?);
        let mut f = self.file.lock().expect("pin file lock");
        f.write_all(&line)
            .and_then(|_| f.sync_data())
            .map_err(|e| Error::io(format!("writing PIN file {}", self.path.display()), e))
    }

    /// Every line, in file order.
    pub fn read_all(path: &Path) -> Result<Vec<PinRecord>> {
        let mut r = csv::Reader::from_path(path).map_err(csv_err)?;
        let mut out = Vec::new();
        for row in r.records() {
            let row = row.map_err(csv_err)?;
            if row.len() < 4 {
                continue;
            }
            out.push(PinRecord {
                user: row[0].to_owned(),
                key_serial: row[1].to_owned(),
                key_device: row[2].to_owned(),
                pin: Pin::new(row[3].to_owned()),
                set_at: row.get(4).unwrap_or("").to_owned(),
            });
        }
        Ok(out)
    }

    /// The PIN last recorded for `user` on the key at `device`.
    pub fn lookup(path: &Path, user: &str, device: &str) -> Result<Option<Pin>> {
        if !path.exists() {
            return Ok(None);
        }
        Ok(Self::read_all(path)?
            .into_iter()
            .rev()
            .find(|r| r.user == user && r.key_device == device)
            .map(|r| r.pin))
    }
}

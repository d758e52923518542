//! The key-encryption key (KEK): 32 random bytes that live *outside* the
//! database — in a 0600 file named by the configuration, or in the
//! `KEYSMITH_KEK` environment variable — so that a copy of the database
//! (a backup, a replica, an SQL injection) holds no usable key material.
//!
//! Everything secret the server keeps in the database is sealed with it
//! (the token signing keys, AES-256-GCM), and the keys that authenticate
//! the audit trail and the sign-in decoys are derived from it (HKDF-SHA-256
//! with a purpose label), so none of them is ever stored.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Environment variable holding the KEK itself (base64url of 32 bytes);
/// wins over the configured file.
pub const KEK_ENV: &str = "KEYSMITH_KEK";

/// File name of the KEK generated in a data directory.
pub const KEK_FILE_NAME: &str = "keysmith.kek";

/// The loaded key-encryption key.
pub struct Kek {
    key: Zeroizing<[u8; 32]>,
    id: String,
    /// Where it came from, for messages (never the key itself).
    pub source: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Why a KEK could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("{0}")]
    /// The key is not a valid KEK (its problem named).
    Invalid(String),
    #[error("{path}: {message}")]
    /// The KEK file could not be read, written or trusted (mode 0600).
    File {
        /// The file.
        path: String,
        /// What happened, for people.
        message: String,
    },
    #[error("no key-encryption key: {0}")]
    /// No KEK was given and none may be created here.
    Missing(String),
}

impl Kek {
    /// A KEK from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32], source: impl Into<String>) -> Kek {
        let key = Zeroizing::new(bytes);
        let id = {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&*key).expect("any key length");
            mac.update(b"keysmith kek id v1");
            hex::encode(&mac.finalize().into_bytes()[..8])
        };
        Kek {
            key,
            id,
            source: source.into(),
        }
    }

    /// Parses the text form (base64url of 32 bytes, or 64 hex digits).
    pub fn parse(text: &str, source: &str) -> Result<Kek, KekError> {
        let text = Zeroizing::new(text.trim().to_owned());
        let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex::decode(text.as_str()).unwrap_or_default()
            } else {
                webauthn::b64::decode_lenient(&text).unwrap_or_default()
            },
        );
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            KekError::Invalid(format!(
                "{source}: a key-encryption key is 32 bytes, written as base64url (43 characters) or 64 hex digits"
            ))
        })?;
        Ok(Kek::from_bytes(arr, source))
    }

    /// A fresh random KEK.
    pub fn generate(source: impl Into<String>) -> Kek {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let k = Kek::from_bytes(bytes, source);
        bytes.iter_mut().for_each(|b| *b = 0);
        k
    }

    /// The KEK's public fingerprint (stored beside what it sealed, so a
    /// wrong KEK is reported as such).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A 32-byte key for `purpose`, derived with HKDF-SHA-256.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"keysmith kek v1"), &*self.key);
        let mut out = Zeroizing::new([0u8; 32]);
        hk.expand(purpose.as_bytes(), &mut *out)
            .expect("32 bytes is a valid HKDF output length");
        out
    }

    /// Seals `plaintext` (AES-256-GCM, random nonce, `aad` bound):
    /// returns nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let cipher = Aes256Gcm::new_from_slice(&*self.derive("seal")).expect("32-byte key");
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: plaintext,
                        aad,
                    },
                )
                .expect("AES-GCM encryption of a short message cannot fail"),
        );
        out
    }

    /// Opens what [`Kek::seal`] sealed with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < 12 + 16 {
            return None;
        }
        let cipher = Aes256Gcm::new_from_slice(&*self.derive("seal")).expect("32-byte key");
        let (nonce, body) = sealed.split_at(12);
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad })
            .ok()
            .map(Zeroizing::new)
    }

    /// The KEK the server uses: `KEYSMITH_KEK` if set; else the file
    /// `configured` names; else `default_file` (a data directory's
    /// `keysmith.kek`). A missing file is generated (mode 0600) when
    /// `create` is set, and a line on stderr says so. Files readable by
    /// group or others are refused.
    pub fn resolve(
        configured: Option<&Path>,
        default_file: Option<PathBuf>,
        create: bool,
    ) -> Result<Kek, KekError> {
        if let Ok(text) = std::env::var(KEK_ENV) {
            if !text.trim().is_empty() {
                return Kek::parse(&text, KEK_ENV);
            }
        }
        let path = match (configured, default_file) {
            (Some(p), _) => p.to_owned(),
            (None, Some(p)) => p,
            (None, None) => {
                return Err(KekError::Missing(format!(
                    "with a database URL, name the key-encryption key file (key_encryption_key_file in the configuration, \
                     --kek-file or KEYSMITH_KEK_FILE) or set {KEK_ENV}; every instance sharing the database needs the same key"
                )))
            }
        };
        match read_file(&path)? {
            Some(k) => Ok(k),
            None if create => {
                let kek = Kek::generate(path.display().to_string());
                write_new_file(&path, &kek)?;
                eprintln!(
                    "keysmith: generated a new key-encryption key in {} (mode 0600). It seals the token signing keys \
                     and authenticates the audit trail: back it up apart from the database, and give every instance \
                     that shares this database the same file.",
                    path.display()
                );
                Ok(kek)
            }
            None => Err(KekError::Missing(format!(
                "{} does not exist (keysmith serve creates it on first start; or set {KEK_ENV})",
                path.display()
            ))),
        }
    }

    /// The KEK's text form (base64url), for writing it out.
    fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(webauthn::b64::encode(*self.key))
    }
}

fn file_err(path: &Path, message: impl Into<String>) -> KekError {
    KekError::File {
        path: path.display().to_string(),
        message: message.into(),
    }
}

fn read_file(path: &Path) -> Result<Option<Kek>, KekError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_err(path, e.to_string())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(file_err(
                path,
                format!(
                    "the key-encryption key file is readable by others (mode {mode:o}); run chmod 600 on it"
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|e| file_err(path, e.to_string()))?);
    Kek::parse(&text, &path.display().to_string()).map(Some)
}

fn write_new_file(path: &Path, kek: &Kek) -> Result<(), KekError> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e.to_string()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(|e| file_err(path, format!("cannot create: {e}")))?;
    let mut text = kek.to_text();
    text.push('\n');
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| file_err(path, format!("cannot write: {e}")))?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_derive() {
        let k = Kek::generate("test");
        let sealed = k.seal(b"kid-1", b"secret scalar");
        assert_eq!(&**k.open(b"kid-1", &sealed).unwrap(), b"secret scalar");
        assert!(k.open(b"kid-2", &sealed).is_none(), "aad is bound");
        let other = Kek::generate("other");
        assert!(other.open(b"kid-1", &sealed).is_none(), "another KEK");
        assert_ne!(k.derive("a"), k.derive("b"));
        assert_ne!(k.id(), other.id());
        assert!(!format!("{k:?}").contains(&*k.to_text()));
    }

    #[test]
    fn file_is_created_0600_reused_and_refused_when_public() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/keysmith.kek");
        assert!(matches!(
            Kek::resolve(None, Some(path.clone()), false),
            Err(KekError::Missing(_))
        ));
        let a = Kek::resolve(None, Some(path.clone()), true).unwrap();
        let b = Kek::resolve(Some(&path), None, false).unwrap();
        assert_eq!(a.id(), b.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = Kek::resolve(Some(&path), None, false).unwrap_err();
            assert!(e.to_string().contains("chmod 600"), "{e}");
        }
        assert!(Kek::parse("short", "x").is_err());
        assert_eq!(
            Kek::parse(&"ab".repeat(32), "hex").unwrap().id(),
            Kek::from_bytes([0xab; 32], "bytes").id()
        );
    }
}

//! The audit chain's primitives, below the database layer that keeps
//! chain heads in its group-commit writer: the MAC key (derived from the
//! key-encryption key, never stored) and a chain's head.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The hash before a tenant's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The key that authenticates rows and checkpoints, derived from the
/// key-encryption key.
pub struct AuditKey {
    key: Zeroizing<[u8; 32]>,
    /// The KEK's id, stored with each checkpoint.
    pub kek_id: String,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// The key derived from the KEK for the audit trail (a KEK change means another key).
    pub fn from_kek(kek: &crate::kek::Kek) -> AuditKey {
        AuditKey {
            key: kek.derive("audit mac v1"),
            kek_id: kek.id().to_owned(),
        }
    }

    pub(crate) fn mac(&self, parts: &[&[u8]]) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(&*self.key).expect("any key length");
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        hex::encode(m.finalize().into_bytes())
    }

    pub(crate) fn row_mac(&self, tenant: &str, seq: i64, hash: &str) -> String {
        self.mac(&[
            b"keysmith audit row v1",
            tenant.as_bytes(),
            &seq.to_be_bytes(),
            hash.as_bytes(),
        ])
    }
}

/// The newest event of a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// The event's hash (hex).
    pub hash: String,
    /// Its sequence number.
    pub seq: i64,
}

impl Head {
    pub(crate) fn genesis() -> Head {
        Head {
            hash: GENESIS.to_owned(),
            seq: 0,
        }
    }
}

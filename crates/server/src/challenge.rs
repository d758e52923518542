//! Single-use, expiring challenges (registration) and sign-in flows. A
//! challenge is taken by one `DELETE` inside the write that uses it
//! ([`crate::store::challenges::take`]), so two requests can never both use
//! it, whatever the number of server instances.

use crate::error::ApiError;

/// What a challenge was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A registration (`webauthn.create`).
    Create,
    /// A sign-in (`webauthn.get`).
    Get,
}

impl Purpose {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Purpose::Create => "create",
            Purpose::Get => "get",
        }
    }
}

/// A consumed challenge.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The challenge, base64url.
    pub challenge: String,
    /// The user it was issued for (none for a usernameless sign-in).
    pub user_id: Option<String>,
}

/// A fresh random challenge: 32 random bytes, base64url-encoded into ASCII
/// text, and that text base64url-encoded again — the shape of Entra's
/// challenges (base64url of ASCII text, GRAPH_FIDO2_API.md §8). Base64 of
/// text drawn from `A–Z a–z 0–9 - _` never yields `-` or `_` (a sextet of
/// 62 or 63 would need a byte whose low six bits are 62 or 63), so public
/// clients that decode the challenge with *standard* base64 after padding
/// it read it right; the entropy stays 256 bits.
pub fn random_challenge() -> String {
    let text = webauthn::b64::encode(rand::random::<[u8; 32]>());
    webauthn::b64::encode(text.as_bytes())
}

/// Why a challenge (or sign-in flow) that is not stored is refused.
pub(crate) fn unknown_message(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Create => "The challenge is unknown or has already been used.",
        Purpose::Get => "The sign-in flow is unknown or has already been used.",
    }
}

pub(crate) fn unknown(purpose: Purpose) -> ApiError {
    ApiError::bad_request(unknown_message(purpose))
}

#[cfg(test)]
mod shape_tests {
    use base64::Engine;

    #[test]
    fn challenges_decode_as_standard_base64_and_stay_random() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let c = super::random_challenge();
            assert!(!c.contains(['-', '_', '=']), "{c}");
            let padded = format!("{c}{}", "=".repeat((4 - c.len() % 4) % 4));
            let text = base64::engine::general_purpose::STANDARD
                .decode(&padded)
                .expect("standard base64 after padding");
            // The decoded text is itself 32 random bytes in base64url.
            let raw = webauthn::b64::decode(std::str::from_utf8(&text).unwrap()).unwrap();
            assert_eq!(raw.len(), 32);
            assert!(seen.insert(c), "a challenge repeated");
        }
    }
}

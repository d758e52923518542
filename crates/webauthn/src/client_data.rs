//! CollectedClientData (WebAuthn L3 §5.8.1): parsing what a client sent and
//! serialising what Keysmith's own provisioning client sends.

use serde::Deserialize;

/// The fields of clientDataJSON a relying party checks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CollectedClientData {
    #[serde(rename = "type")]
    /// `webauthn.create` or `webauthn.get` ([`TYPE_CREATE`], [`TYPE_GET`]).
    pub type_: String,
    /// base64url, as the client echoed it.
    pub challenge: String,
    /// The origin of the page that called WebAuthn, as the client saw it.
    pub origin: String,
    #[serde(rename = "crossOrigin", default)]
    /// Whether the call came from a cross-origin iframe (absent: no).
    pub cross_origin: Option<bool>,
    #[serde(rename = "topOrigin", default)]
    /// The top-level origin when `crossOrigin` is true (WebAuthn L3).
    pub top_origin: Option<String>,
    #[serde(rename = "tokenBinding", default)]
    /// Token binding (WebAuthn L2), as old clients sent it: its `status` is
    /// checked for shape when the policy asks (`validate_token_binding_status`).
    pub token_binding: Option<serde_json::Value>,
}

/// `type` of a registration ceremony.
pub const TYPE_CREATE: &str = "webauthn.create";
/// `type` of an authentication ceremony.
pub const TYPE_GET: &str = "webauthn.get";

impl CollectedClientData {
    /// Parses clientDataJSON bytes (UTF-8 JSON; a BOM is not allowed).
    pub fn parse(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// Serialises client data the way browsers do (WebAuthn L3 §5.8.1.1):
    /// `type`, `challenge`, `origin`, `crossOrigin` in that order.
    pub fn serialize(type_: &str, challenge_b64url: &str, origin: &str) -> Vec<u8> {
        let mut out = String::with_capacity(96 + challenge_b64url.len() + origin.len());
        out.push_str("{\"type\":");
        out.push_str(&json_string(type_));
        out.push_str(",\"challenge\":");
        out.push_str(&json_string(challenge_b64url));
        out.push_str(",\"origin\":");
        out.push_str(&json_string(origin));
        out.push_str(",\"crossOrigin\":false}");
        out.into_bytes()
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a str always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialise_then_parse() {
        let bytes =
            CollectedClientData::serialize(TYPE_CREATE, "abc-_", "https://login.example.com");
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"type":"webauthn.create","challenge":"abc-_","origin":"https://login.example.com","crossOrigin":false}"#
        );
        let cd = CollectedClientData::parse(&bytes).unwrap();
        assert_eq!(cd.type_, TYPE_CREATE);
        assert_eq!(cd.cross_origin, Some(false));
    }
}

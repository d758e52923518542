//! The passkey sign-in API's JSON (`/{tenant}/passkey/signin/begin` and
//! `/finish`), typed once for the server and every client: WebAuthn's
//! request options and assertion response in their JSON form (WebAuthn
//! Level 3 §5.1.4.1 `PublicKeyCredentialRequestOptionsJSON`, §5.1
//! `AuthenticationResponseJSON`). The assertion's byte fields are bytes,
//! written as base64url and read from base64url or padded base64; the
//! challenge and credential ids stay text (echoed verbatim; Entra writes
//! ids in several encodings).
//!
//! Fields a browser's `toJSON()` adds that the server does not use
//! (`rawId`, `type`, `authenticatorAttachment`, `clientExtensionResults`)
//! are accepted and ignored, as WebAuthn relying parties do.

use crate::graph::{CredentialDescriptor, Fido2Method};
use serde::{Deserialize, Serialize};

/// `POST …/signin/begin`: username first with a UPN, else usernameless.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BeginRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The user's UPN for a username-first sign-in; absent for usernameless.
    pub user_principal_name: Option<String>,
}

/// Request options for `navigator.credentials.get()`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RequestOptions {
    /// Echoed verbatim into clientDataJSON.
    pub challenge: String,
    /// The RP ID the assertion must be scoped to.
    pub rp_id: String,
    #[serde(default)]
    /// The user's passkeys, for a username-first sign-in (empty: usernameless, a discoverable credential answers).
    pub allow_credentials: Vec<CredentialDescriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `required`, `preferred` or `discouraged`.
    pub user_verification: Option<String>,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// The answer to `begin`: a flow to finish within its timeout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BeginResponse {
    /// The flow to name in `finish` (single use, expires with the challenge).
    pub flow_id: String,
    /// What to pass to `navigator.credentials.get({publicKey})`.
    pub public_key: RequestOptions,
}

/// An authenticator's assertion, base64url fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponseJson {
    #[serde(
        rename = "clientDataJSON",
        alias = "clientDataJson",
        with = "crate::b64::serde_bytes"
    )]
    /// The clientDataJSON bytes the client signed over.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub client_data_json: Vec<u8>,
    #[serde(with = "crate::b64::serde_bytes")]
    /// The authenticator data bytes.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub authenticator_data: Vec<u8>,
    #[serde(with = "crate::b64::serde_bytes")]
    /// The signature over authenticatorData ‖ SHA-256(clientDataJSON).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub signature: Vec<u8>,
    /// `null`, absent or `""`: none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::b64::serde_opt_bytes"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub user_handle: Option<Vec<u8>>,
}

/// The credential that answered, with its assertion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssertionCredentialJson {
    /// base64url credential id.
    pub id: String,
    /// The assertion.
    pub response: AssertionResponseJson,
}

/// `POST …/signin/finish`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FinishRequest {
    /// The flow `begin` opened.
    pub flow_id: String,
    /// The credential that answered.
    pub credential: AssertionCredentialJson,
}

/// The answer to `finish`: who signed in, with which passkey, and a token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FinishResponse {
    /// A bearer token for the user (JWT, ES256).
    pub token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds.
    pub expires_in: i64,
    /// Whether the authenticator verified the user (the UV flag).
    pub user_verified: bool,
    /// The Graph user resource.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::graph::User))]
    pub user: serde_json::Value,
    /// The passkey used, as Graph's fido2AuthenticationMethod.
    pub method: Fido2Method,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_json_reads_and_our_json_round_trips() {
        // What a browser's PublicKeyCredential.toJSON() gives (WebAuthn L3
        // §5.1), plus the flow id.
        let body = r#"{"flowId":"f","credential":{"id":"Y3JlZA","rawId":"Y3JlZA","type":"public-key",
            "authenticatorAttachment":"cross-platform","clientExtensionResults":{},
            "response":{"clientDataJSON":"Y2Q","authenticatorData":"YWQ","signature":"c2ln","userHandle":null}}}"#;
        let f: FinishRequest = serde_json::from_str(body).unwrap();
        assert_eq!(f.credential.id, "Y3JlZA");
        assert_eq!(f.credential.response.user_handle, None);
        let again: FinishRequest =
            serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(again, f);
        let v = serde_json::to_value(&f).unwrap();
        assert!(v["credential"]["response"].get("userHandle").is_none());
        assert_eq!(v["credential"]["response"]["clientDataJSON"], "Y2Q");
        assert_eq!(f.credential.response.signature, b"sig");
        // Padded standard base64 reads too; garbage is an error.
        let padded = body.replace("\"YWQ\"", "\"YWQ=\"");
        let g: FinishRequest = serde_json::from_str(&padded).unwrap();
        assert_eq!(g.credential.response.authenticator_data, b"ad");
        assert!(
            serde_json::from_str::<FinishRequest>(&body.replace("\"c2ln\"", "\"!!\"")).is_err()
        );
        // Missing required fields are errors, not defaults.
        assert!(serde_json::from_str::<FinishRequest>(r#"{"flowId":"f"}"#).is_err());
        let begin: BeginRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(begin.user_principal_name, None);
        assert_eq!(serde_json::to_string(&begin).unwrap(), "{}");
    }

    #[test]
    fn begin_answers_read_with_defaults() {
        let b: BeginResponse = serde_json::from_str(
            r#"{"flowId":"f","publicKey":{"challenge":"c","rpId":"login.example.com"}}"#,
        )
        .unwrap();
        assert!(b.public_key.allow_credentials.is_empty());
        assert_eq!(b.public_key.user_verification, None);
    }
}

//! The JSON shapes of Microsoft Graph's FIDO2 authentication-method API
//! (see `shared/design/GRAPH_FIDO2_API.md`), shared by Keysmith's server,
//! which emits them, and its provisioning client, which reads them from
//! Keysmith or from Entra ID.
//!
//! These are wire types only; verification lives elsewhere in this crate.

use serde::{Deserialize, Serialize};

/// `GET …/fido2Methods/creationOptions` response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreationOptionsResponse {
    #[serde(
        rename = "@odata.context",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `@odata.context`: the metadata URL Graph adds (ignored when read).
    pub odata_context: Option<String>,
    /// RFC 3339 instant after which the challenge is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub challenge_timeout_date_time: Option<String>,
    /// The options for `navigator.credentials.create()` or a CTAP makeCredential.
    pub public_key: PublicKeyCredentialCreationOptions,
}

/// WebAuthn `PublicKeyCredentialCreationOptions` in JSON form.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyCredentialCreationOptions {
    /// The relying party the credential is for (Entra: `login.microsoft.com`).
    pub rp: RelyingParty,
    /// The user the credential is for (the handle is the directory's, not the key's).
    pub user: UserEntity,
    /// base64url on Keysmith; an opaque long string on Entra. The client
    /// echoes it verbatim into clientDataJSON.
    pub challenge: String,
    #[serde(default)]
    /// Algorithms in the RP's order of preference.
    pub pub_key_cred_params: Vec<PubKeyCredParam>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Milliseconds the ceremony may take.
    pub timeout: Option<u64>,
    #[serde(default)]
    /// Credentials the user already has: a key holding one of them must refuse to create another.
    pub exclude_credentials: Vec<CredentialDescriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Where and how the credential is made (resident key, user verification).
    pub authenticator_selection: Option<AuthenticatorSelection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `none`, `indirect`, `direct` or `enterprise`: how much of the key's attestation the RP wants.
    pub attestation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Extensions to ask the key for (Graph's spelling of them).
    pub extensions: Option<CreationExtensions>,
}

/// The relying party of creation options (WebAuthn `PublicKeyCredentialRpEntity`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RelyingParty {
    /// The RP ID: the domain the credential is scoped to.
    pub id: String,
    #[serde(default)]
    /// A name for people (shown by some keys and browsers).
    pub name: String,
}

/// The user of creation options (WebAuthn `PublicKeyCredentialUserEntity`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserEntity {
    /// base64url user handle.
    pub id: String,
    /// The user's principal name (what a key that lists credentials shows).
    pub name: String,
    #[serde(default)]
    /// The user's display name.
    pub display_name: String,
}

/// One algorithm the RP accepts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PubKeyCredParam {
    #[serde(rename = "type")]
    /// Always `public-key`.
    pub type_: String,
    /// The COSE algorithm identifier (-7 ES256, -257 RS256, …).
    pub alg: i64,
}

/// A credential descriptor. `id` is kept as the text received: Entra sends
/// it in three encodings (see [`decode_entra_credential_id`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CredentialDescriptor {
    #[serde(rename = "type", default = "public_key")]
    /// Always `public-key` (the default when absent).
    pub type_: String,
    /// The credential id, in whichever encoding the directory sent it.
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Transports the credential was seen on (`usb`, `nfc`, …).
    pub transports: Vec<String>,
}

fn public_key() -> String {
    "public-key".to_owned()
}

/// WebAuthn `AuthenticatorSelectionCriteria`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorSelection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `cross-platform` (a security key) or `platform`.
    pub authenticator_attachment: Option<String>,
    #[serde(default)]
    /// WebAuthn L1's boolean form of `residentKey: required`.
    pub require_resident_key: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `discouraged`, `preferred` or `required`: whether the credential is discoverable.
    pub resident_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `discouraged`, `preferred` or `required`.
    pub user_verification: Option<String>,
}

/// Creation extensions as Graph spells them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreationExtensions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Ask for the hmac-secret extension (a key that has it creates the credential's secret).
    pub hmac_create_secret: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Fail rather than create the credential without the asked credProtect level.
    pub enforce_credential_protection_policy: Option<bool>,
    /// `userVerificationOptional` | `userVerificationOptionalWithCredentialIDList`
    /// | `userVerificationRequired`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_protection_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Ask the key to report its minimum PIN length (the RP must be allowed by the key's configuration).
    pub min_pin_length: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// A small blob (base64url) to store with the credential (credBlob).
    pub cred_blob: Option<String>,
}

/// Maps Graph's credentialProtectionPolicy names to CTAP credProtect levels.
pub fn cred_protect_level(policy: &str) -> Option<u8> {
    match policy {
        "userVerificationOptional" => Some(1),
        "userVerificationOptionalWithCredentialIDList" => Some(2),
        "userVerificationRequired" => Some(3),
        _ => None,
    }
}

/// `POST …/fido2Methods` body. The client never sends `rawId`, `type` or
/// `authenticatorAttachment` (Graph rejects them); the server ignores them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The passkey's name (Entra: 1 to 30 characters; from the key's model when absent).
    pub display_name: Option<String>,
    /// The new credential, as `PublicKeyCredential.toJSON()` gives it.
    pub public_key_credential: PublicKeyCredentialJson,
    /// Read only to refuse it as Entra does (GRAPH_FIDO2_API.md §8); never
    /// sent.
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing,
        deserialize_with = "present"
    )]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub odata_type_present: bool,
}

/// `true` for any value that is there (the field's default is `false`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// A `PublicKeyCredential` from a registration, in JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyCredentialJson {
    /// The credential id, base64url (must match the attested one).
    pub id: String,
    /// The attestation response.
    pub response: AttestationResponseJson,
    #[serde(default = "empty_object")]
    /// `getClientExtensionResults()` (an empty object when absent).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub client_extension_results: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// An `AuthenticatorAttestationResponse` in JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponseJson {
    /// Written as base64url; read from base64url or padded standard base64
    /// (entraYK, powershellYK and Token2 send the latter). Graph also
    /// accepts the spelling `clientDataJson`.
    #[serde(
        rename = "clientDataJSON",
        alias = "clientDataJson",
        with = "crate::b64::serde_bytes"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub client_data_json: Vec<u8>,
    #[serde(with = "crate::b64::serde_bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    /// The CBOR attestation object (`fmt`, `attStmt`, `authData`), base64url.
    pub attestation_object: Vec<u8>,
}

/// A `fido2AuthenticationMethod` resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Fido2Method {
    #[serde(rename = "@odata.type", default = "fido2_odata_type")]
    /// `#microsoft.graph.fido2AuthenticationMethod`.
    pub odata_type: String,
    /// The method's id (Keysmith: the credential id, base64url).
    #[cfg_attr(feature = "openapi", schema(required = false))]
    pub id: String,
    #[serde(default)]
    /// The passkey's name.
    pub display_name: Option<String>,
    #[serde(default)]
    /// When it was registered (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_date_time: Option<String>,
    #[serde(default)]
    /// The authenticator model's AAGUID.
    pub aa_guid: Option<String>,
    #[serde(default)]
    /// The model's name, from the metadata Keysmith knows.
    pub model: Option<String>,
    #[serde(default)]
    /// Thumbprints of the attestation certificates (empty for `none`).
    pub attestation_certificates: Vec<String>,
    /// `attested` | `notAttested`
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi_schemas::attestation_level))]
    pub attestation_level: Option<String>,
    /// `deviceBound` | `synced`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi_schemas::passkey_type))]
    pub passkey_type: Option<String>,
}

fn fido2_odata_type() -> String {
    "#microsoft.graph.fido2AuthenticationMethod".to_owned()
}

/// `{"value": [...]}` collection wrapper.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Collection<T> {
    #[serde(
        rename = "@odata.context",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `@odata.context` (ignored when read).
    pub odata_context: Option<String>,
    /// This page's items.
    pub value: Vec<T>,
    #[serde(
        rename = "@odata.nextLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// The next page's URL, absent on the last page.
    pub next_link: Option<String>,
    /// With `$count=true`: how many objects match, over all pages.
    #[serde(
        rename = "@odata.count",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub count: Option<i64>,
    /// Keysmith's per-user passkey limit, on a user's FIDO2 method list (an
    /// OData instance annotation: Graph clients ignore it; Entra sends
    /// none).
    #[serde(
        rename = "@keysmith.maxPasskeysPerUser",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_passkeys_per_user: Option<u32>,
}

impl<T> Collection<T> {
    /// A page of `value`, without annotations.
    pub fn of(value: Vec<T>) -> Self {
        Collection {
            odata_context: None,
            value,
            next_link: None,
            count: None,
            max_passkeys_per_user: None,
        }
    }
}

/// A `user` resource (the properties Keysmith keeps). Every property but
/// `id` may be absent: `$select` leaves out the rest, and Entra sends only
/// what was selected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `#microsoft.graph.user`, where Graph sends it (in group member lists).
    pub odata_type: Option<String>,
    #[serde(default)]
    /// The user's object id (a GUID).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The sign-in name (`alice@contoso.com`).
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The name people see.
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Whether the user may sign in.
    pub account_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// When the user was created (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_date_time: Option<String>,
}

/// A `group` resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Group {
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `#microsoft.graph.group`, where Graph sends it.
    pub odata_type: Option<String>,
    #[serde(default)]
    /// The group's object id (a GUID).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The group's name.
    pub display_name: Option<String>,
    /// Null when the group has none (Graph sends `null`).
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// When the group was created (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_date_time: Option<String>,
}

/// A `directoryAudit` resource, with Keysmith's chain fields
/// (`sequenceNumber`, `hash`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DirectoryAudit {
    /// The event's id.
    pub id: String,
    /// Its place in the tenant's hash chain (1, 2, …: a gap is a deleted event).
    pub sequence_number: i64,
    /// When it happened (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub activity_date_time: String,
    /// What happened (`Register passkey`, …).
    pub activity_display_name: String,
    /// Who acted: an app id, a user id, or `system`.
    pub initiated_by: String,
    /// What it happened to (users, passkeys, apps).
    pub target_resources: Vec<TargetResource>,
    /// `success` or `failure`.
    pub result: String,
    /// Why it failed (empty on success).
    pub result_reason: String,
    /// The request id of the HTTP request that did it.
    pub correlation_id: String,
    /// Activity-specific details (JSON object).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub additional_details: serde_json::Value,
    /// The event's chain hash (hex): over its content and its predecessor's hash, keyed.
    pub hash: String,
}

/// One target of an audited activity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetResource {
    /// The target's id.
    pub id: String,
}

/// The FIDO2 authentication method configuration (policy).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Fido2Policy {
    #[serde(rename = "@odata.type", default = "fido2_policy_odata_type")]
    /// `#microsoft.graph.fido2AuthenticationMethodConfiguration`.
    pub odata_type: String,
    #[serde(default = "fido2_id")]
    /// Always `Fido2`.
    pub id: String,
    #[serde(default = "enabled")]
    /// `enabled` or `disabled`: whether users may use passkeys at all.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi_schemas::policy_state))]
    pub state: String,
    #[serde(default)]
    /// Whether users may register passkeys themselves (else only admins on their behalf).
    pub is_self_service_registration_allowed: bool,
    #[serde(default)]
    /// Whether registrations must carry a trusted attestation.
    pub is_attestation_enforced: bool,
    #[serde(default)]
    /// Which key models (by AAGUID) are allowed or blocked.
    pub key_restrictions: KeyRestrictions,
    #[serde(default)]
    /// Who the policy applies to (groups, or `all_users`).
    pub include_targets: Vec<PolicyTarget>,
    #[serde(default)]
    /// Who is exempt.
    pub exclude_targets: Vec<PolicyTarget>,
}

/// The policy's rules, as pure functions: the server enforces them at
/// creation options, registration and sign-in, and `keysmith provision
/// --check` predicts them, from this one definition.
impl Fido2Policy {
    /// Whether the FIDO2 method is on for the tenant.
    pub fn is_enabled(&self) -> bool {
        self.state == "enabled"
    }

    /// Whether the included targets are every user.
    pub fn includes_all_users(&self) -> bool {
        self.include_targets.iter().any(PolicyTarget::is_all_users)
    }

    /// Whether deciding who is targeted needs the user's groups.
    pub fn needs_groups(&self) -> bool {
        self.include_targets
            .iter()
            .chain(&self.exclude_targets)
            .any(|t| !t.is_all_users())
    }

    /// Whether a user in `user_groups` (group ids) is targeted: included
    /// (every user, or one of their groups) and not excluded.
    pub fn targets(&self, user_groups: &[String]) -> bool {
        let hit = |t: &PolicyTarget| t.is_all_users() || user_groups.contains(&t.id);
        self.include_targets.iter().any(hit) && !self.exclude_targets.iter().any(hit)
    }

    /// Whether key restrictions let a key of model `aaguid` register or
    /// sign in (always, when they are not enforced). AAGUIDs compare
    /// without regard to case.
    pub fn allows_aaguid(&self, aaguid: &str) -> bool {
        let kr = &self.key_restrictions;
        if !kr.is_enforced {
            return true;
        }
        let listed = kr.aa_guids.iter().any(|g| g.eq_ignore_ascii_case(aaguid));
        match kr.enforcement_type.as_str() {
            "block" => !listed,
            _ => listed,
        }
    }
}

impl PolicyTarget {
    /// The target that means every user: Graph's `all_users` group id (a
    /// `targetType` of `all_users`, seen in some exported policies, counts
    /// too).
    pub fn is_all_users(&self) -> bool {
        self.id.eq_ignore_ascii_case("all_users") || self.target_type == "all_users"
    }
}

fn fido2_policy_odata_type() -> String {
    "#microsoft.graph.fido2AuthenticationMethodConfiguration".to_owned()
}
fn fido2_id() -> String {
    "Fido2".to_owned()
}
fn enabled() -> String {
    "enabled".to_owned()
}

/// AAGUID restrictions of the FIDO2 policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KeyRestrictions {
    #[serde(default)]
    /// Whether the list below is applied.
    pub is_enforced: bool,
    /// `allow` | `block`
    #[serde(default = "allow")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi_schemas::enforcement_type))]
    pub enforcement_type: String,
    #[serde(default)]
    /// The AAGUIDs allowed or blocked.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi_schemas::aaguids))]
    pub aa_guids: Vec<String>,
}

fn allow() -> String {
    "allow".to_owned()
}

/// A group (or all users) a policy includes or excludes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PolicyTarget {
    #[serde(default = "group")]
    /// `group` (the default when absent).
    pub target_type: String,
    /// The group's object id, or `all_users`.
    pub id: String,
    #[serde(default)]
    /// Whether the target must register a passkey.
    pub is_registration_required: bool,
}

fn group() -> String {
    "group".to_owned()
}

/// Graph's error envelope: `{"error": {"code", "message", "innerError"}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// The body of Graph's error envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// A stable code (`invalidRequest`, `itemNotFound`, …) scripts can branch on.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// What exactly failed (a field, a verification check), each with its
    /// own code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetailJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Where and when: the request ids support staff ask for.
    pub inner_error: Option<InnerError>,
}

/// One entry of an error's `details`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetailJson {
    /// The detail's code.
    pub code: String,
    /// What is wrong with it.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The field it is about, if one.
    pub target: Option<String>,
}

/// The `innerError` of Graph's error envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InnerError {
    #[serde(default)]
    /// When the error happened (RFC 3339).
    pub date: Option<String>,
    #[serde(rename = "request-id", default)]
    /// The server's id of the request (`request-id`).
    pub request_id: Option<String>,
    #[serde(
        rename = "client-request-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// The `client-request-id` the caller sent, echoed.
    pub client_request_id: Option<String>,
}

/// OAuth 2.0 token response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// `Bearer`.
    pub token_type: String,
    /// Seconds the token is valid for.
    pub expires_in: u64,
    /// The token (a JWT).
    pub access_token: String,
}

/// Decodes a credential id as Entra sends it in `excludeCredentials`:
/// plain base64url, standard base64 (`+`, `/`, maybe `=`), or .NET
/// `UrlTokenEncode` (base64url whose last character is a digit counting the
/// stripped `=`). A plain base64url string may also end in a digit, so every
/// reading that decodes is collected and exact base64url is preferred.
pub fn decode_entra_credential_id(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.contains(['+', '/', '=']) {
        return crate::b64::decode_lenient(text).ok();
    }
    if let Ok(bytes) = crate::b64::decode(text) {
        return Some(bytes);
    }
    url_token_decode(text)
}

/// The .NET `HttpServerUtility.UrlTokenDecode` reading of `text`, if valid.
pub fn url_token_decode(text: &str) -> Option<Vec<u8>> {
    let (body, last) = text.split_at(text.len().checked_sub(1)?);
    let pad = match last {
        "0" => 0,
        "1" => 1,
        "2" => 2,
        _ => return None,
    };
    // The body plus `pad` '=' must be a whole number of 4-character groups.
    if (body.len() + pad) % 4 != 0 {
        return None;
    }
    crate::b64::decode(body).ok()
}

/// Every plausible reading of an Entra credential id, best first; a client
/// sends all of them in the excludeList so no reading is missed.
pub fn entra_credential_id_candidates(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(best) = decode_entra_credential_id(text) {
        out.push(best);
    }
    if let Some(alt) = url_token_decode(text.trim()) {
        if !out.contains(&alt) {
            out.push(alt);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    fn target(id: &str, target_type: &str) -> PolicyTarget {
        PolicyTarget {
            target_type: target_type.into(),
            id: id.into(),
            is_registration_required: false,
        }
    }

    #[test]
    fn policy_rules() {
        let mut p: Fido2Policy = serde_json::from_str("{}").unwrap();
        assert!(p.is_enabled());
        // No include target: nobody.
        assert!(!p.targets(&[]));
        p.include_targets = vec![target("ALL_USERS", "group")];
        assert!(p.includes_all_users() && !p.needs_groups());
        assert!(p.targets(&[]));
        p.exclude_targets = vec![target("g-excluded", "group")];
        assert!(p.needs_groups());
        assert!(p.targets(&["g-other".into()]));
        assert!(!p.targets(&["g-excluded".into()]));
        p.include_targets = vec![target("g-pilot", "group")];
        assert!(!p.includes_all_users());
        assert!(!p.targets(&[]));
        assert!(p.targets(&["g-pilot".into()]));
        // The targetType spelling of "every user" counts too.
        assert!(target("x", "all_users").is_all_users());
        p.exclude_targets = vec![target("all_users", "group")];
        assert!(!p.targets(&["g-pilot".into()]));
        p.state = "disabled".into();
        assert!(!p.is_enabled());

        // Key restrictions.
        let yk = "CB69481E-8FF7-4039-93EC-0A2729A154A8";
        assert!(p.allows_aaguid(yk), "not enforced: every model");
        p.key_restrictions = KeyRestrictions {
            is_enforced: true,
            enforcement_type: "allow".into(),
            aa_guids: vec![yk.to_lowercase()],
        };
        assert!(p.allows_aaguid(yk));
        assert!(!p.allows_aaguid("00000000-0000-0000-0000-000000000000"));
        p.key_restrictions.enforcement_type = "block".into();
        assert!(!p.allows_aaguid(yk));
        assert!(p.allows_aaguid("00000000-0000-0000-0000-000000000000"));
    }

    use super::*;
    use crate::b64;

    #[test]
    fn entra_id_encodings() {
        // UrlTokenEncode appends the count of stripped '=': 64 bytes -> "2",
        // 63 bytes -> "0" (both unambiguous), 65 bytes -> "1" (ambiguous with
        // a plain base64url reading one byte longer).
        for (len, digit) in [(64usize, '2'), (63, '0')] {
            let id: Vec<u8> = (0..len as u8).collect();
            let token = format!("{}{digit}", b64::encode(&id));
            assert_eq!(decode_entra_credential_id(&token).unwrap(), id, "len {len}");
            let std = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &id);
            assert_eq!(decode_entra_credential_id(&std).unwrap(), id);
            assert_eq!(decode_entra_credential_id(&b64::encode(&id)).unwrap(), id);
        }
        let id65: Vec<u8> = (0u8..65).collect();
        let token = format!("{}1", b64::encode(&id65));
        let candidates = entra_credential_id_candidates(&token);
        assert_eq!(candidates.len(), 2);
        assert!(candidates.contains(&id65));
        assert!(decode_entra_credential_id("").is_none());
        assert!(decode_entra_credential_id("%%").is_none());
    }

    #[test]
    fn register_body_accepts_graph_spellings() {
        let body = r#"{"displayName":"k","publicKeyCredential":{"id":"AA","response":{"clientDataJson":"AA","attestationObject":"AA"}}}"#;
        let r: RegisterRequest = serde_json::from_str(body).unwrap();
        assert_eq!(r.public_key_credential.response.client_data_json, [0]);
        let out = serde_json::to_value(&r).unwrap();
        assert!(out["publicKeyCredential"].get("rawId").is_none());
        assert!(out["publicKeyCredential"]["response"]
            .get("clientDataJSON")
            .is_some());
    }

    /// CTAP 2.1 §12.1 credProtect levels for Graph's policy names
    /// (GRAPH_FIDO2_API.md §2).
    #[test]
    fn credential_protection_names_map_to_credprotect_levels() {
        assert_eq!(cred_protect_level("userVerificationOptional"), Some(1));
        assert_eq!(
            cred_protect_level("userVerificationOptionalWithCredentialIDList"),
            Some(2)
        );
        assert_eq!(cred_protect_level("userVerificationRequired"), Some(3));
        assert_eq!(cred_protect_level("UserVerificationRequired"), None);
        assert_eq!(cred_protect_level(""), None);
    }

    /// Defaults Graph leaves implicit: a descriptor's type, the method and
    /// policy @odata.type, the policy id/state, key restrictions "allow",
    /// a target's type "group", empty client extension results.
    #[test]
    fn omitted_fields_take_graphs_defaults() {
        let d: CredentialDescriptor = serde_json::from_str(r#"{"id":"AA"}"#).unwrap();
        assert_eq!(d.type_, "public-key");
        assert!(d.transports.is_empty());
        assert!(serde_json::to_value(&d)
            .unwrap()
            .get("transports")
            .is_none());
        let m: Fido2Method = serde_json::from_str(r#"{"id":"m1"}"#).unwrap();
        assert_eq!(m.odata_type, "#microsoft.graph.fido2AuthenticationMethod");
        assert_eq!((m.display_name, m.passkey_type), (None, None));
        let p: Fido2Policy = serde_json::from_str("{}").unwrap();
        assert_eq!(
            p.odata_type,
            "#microsoft.graph.fido2AuthenticationMethodConfiguration"
        );
        assert_eq!((p.id.as_str(), p.state.as_str()), ("Fido2", "enabled"));
        assert_eq!(p.key_restrictions, KeyRestrictions::default());
        let k: KeyRestrictions = serde_json::from_str(r#"{"isEnforced":true}"#).unwrap();
        assert_eq!(k.enforcement_type, "allow");
        let t: PolicyTarget = serde_json::from_str(r#"{"id":"all_users"}"#).unwrap();
        assert_eq!(t.target_type, "group");
        assert!(!t.is_registration_required);
        let c: PublicKeyCredentialJson = serde_json::from_str(
            r#"{"id":"AA","response":{"clientDataJSON":"AA","attestationObject":"AA"}}"#,
        )
        .unwrap();
        assert_eq!(c.client_extension_results, serde_json::json!({}));
    }

    /// The real Entra answer (tests/interop/data/entra, a copy of
    /// shared/testdata/entra; its README names the source) reads into the
    /// typed shape and keeps every value.
    #[test]
    fn the_recorded_entra_creation_options_read_as_is() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/interop/data/entra"
        );
        let entries = std::fs::read_dir(dir).unwrap();
        let mut read = 0;
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let Ok(raw) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if raw.get("publicKey").is_none() {
                continue;
            }
            let typed: CreationOptionsResponse = serde_json::from_value(raw.clone()).unwrap();
            let pk = &raw["publicKey"];
            assert_eq!(
                typed.public_key.challenge,
                pk["challenge"].as_str().unwrap()
            );
            assert_eq!(typed.public_key.user.id, pk["user"]["id"].as_str().unwrap());
            assert_eq!(typed.public_key.rp.id, pk["rp"]["id"].as_str().unwrap());
            read += 1;
        }
        assert!(read >= 1, "no creationOptions answer in {dir}");
    }

    /// .NET UrlTokenEncode: base64url without '=', then the count of '='
    /// removed as a digit; the body plus that padding is whole 4-groups.
    #[test]
    fn url_token_decoding() {
        assert_eq!(url_token_decode("AAA1"), Some(vec![0, 0]));
        assert_eq!(url_token_decode("AA2"), Some(vec![0]));
        assert_eq!(url_token_decode("AAAA0"), Some(vec![0, 0, 0]));
        assert_eq!(url_token_decode("0"), Some(vec![]));
        assert_eq!(url_token_decode("AAAA1"), None, "4 + 1 is not a 4-group");
        assert_eq!(url_token_decode("AAA2"), None, "3 + 2 is not a 4-group");
        assert_eq!(url_token_decode("AAA0"), None);
        assert_eq!(url_token_decode("AAA3"), None, "3 is no pad count");
        assert_eq!(url_token_decode("AAAx"), None);
        assert_eq!(url_token_decode(""), None);
        assert_eq!(url_token_decode("A!A1"), None);
        // Candidates: surrounding blanks are ignored; a reading is listed once.
        let id: Vec<u8> = (0u8..64).collect();
        let token = format!(" {}2 ", b64::encode(&id));
        assert_eq!(entra_credential_id_candidates(&token), vec![id.clone()]);
        assert_eq!(decode_entra_credential_id(&token), Some(id));
        assert!(entra_credential_id_candidates("!!").is_empty());
        // Standard base64 with '=' that a UrlTokenDecode would not read.
        assert_eq!(entra_credential_id_candidates("AA=="), vec![vec![0]]);
        assert_eq!(decode_entra_credential_id("  "), None);
    }
}

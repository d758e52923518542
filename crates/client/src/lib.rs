//! Keysmith's WebAuthn client: what a browser's platform does between the
//! relying party's options and the security key, over any CTAP 2.1
//! transport — python-fido2's `fido2.client` over its `ctap2` modules is
//! the model.
//!
//! - **Registration**: [`prepare_registration`] builds the client data and
//!   the makeCredential request from Graph's creation options (the
//!   algorithms the key supports, credProtect and hmac-secret as the
//!   options ask, names cut to CTAP's 64 bytes on a character boundary),
//!   gets a PIN/UV token and probes a long exclude list in batches with
//!   silent assertions, as browsers do; [`complete_registration`] asks the
//!   key. The split lets a caller record what it is about to do (a
//!   crash-safe journal) between the two. [`make_credential`] does both.
//! - **Assertion**: [`get_assertion`] from request options.
//! - **Errors**: one mapping of CTAP statuses to [`ErrorCode`]s, as
//!   python-fido2's `ClientError` (`_ctap2client_err`), keeping the
//!   status for callers that need it.

#![warn(missing_docs)]

use ctap::cmd::get_assertion::GetAssertionRequest;
use ctap::cmd::make_credential::{MakeCredentialExtensions, MakeCredentialRequest};
use ctap::cmd::{CredentialDescriptor, PubKeyCredParam, RequestOptions, RpEntity, UserEntity};
use ctap::pin::Permissions;
use ctap::transport::Transport;
use ctap::{Ctap2Client, StatusCode};
use sha2::{Digest, Sha256};
use webauthn::b64;
use webauthn::client_data::{CollectedClientData, TYPE_CREATE, TYPE_GET};
use webauthn::graph::{
    cred_protect_level, entra_credential_id_candidates, PublicKeyCredentialCreationOptions,
};

/// What kind of failure a client operation met (python-fido2's
/// `ClientError.ERR`, same numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Anything else (python-fido2's OTHER_ERROR).
    Other = 1,
    /// The request or the PIN was not acceptable.
    BadRequest = 2,
    /// The key cannot do what the options ask (algorithm, option,
    /// extension, storage).
    ConfigurationUnsupported = 3,
    /// The key is not eligible: it already holds an excluded credential,
    /// or holds none of the allowed ones.
    DeviceIneligible = 4,
    /// The user or the key did not act in time, or the operation was
    /// cancelled.
    Timeout = 5,
}

/// A failed client operation.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ClientError {
    /// The kind of failure (what a caller branches on).
    pub code: ErrorCode,
    /// What happened, for people.
    pub message: String,
    /// The key's own error, when the key answered one.
    #[source]
    pub cause: Option<ctap::Error>,
}

impl ClientError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ClientError {
            code,
            message: message.into(),
            cause: None,
        }
    }

    /// The CTAP status the key answered, if that was the failure.
    pub fn status(&self) -> Option<StatusCode> {
        self.cause.as_ref().and_then(ctap::Error::status)
    }
}

/// The error code of a CTAP failure (python-fido2's `_ctap2client_err`).
pub fn code_of(e: &ctap::Error) -> ErrorCode {
    use StatusCode as S;
    match e {
        ctap::Error::Status(s) => match s {
            S::CredentialExcluded | S::NoCredentials => ErrorCode::DeviceIneligible,
            S::KeepaliveCancel | S::ActionTimeout | S::UserActionTimeout => ErrorCode::Timeout,
            S::UnsupportedAlgorithm | S::UnsupportedOption | S::KeyStoreFull => {
                ErrorCode::ConfigurationUnsupported
            }
            S::InvalidCommand
            | S::CborUnexpectedType
            | S::InvalidCbor
            | S::MissingParameter
            | S::InvalidOption
            | S::PuatRequired
            | S::PinInvalid
            | S::PinBlocked
            | S::PinNotSet => ErrorCode::BadRequest,
            _ => ErrorCode::Other,
        },
        ctap::Error::Timeout(_) => ErrorCode::Timeout,
        ctap::Error::InvalidRequest(_) => ErrorCode::BadRequest,
        ctap::Error::Unsupported(_) => ErrorCode::ConfigurationUnsupported,
        _ => ErrorCode::Other,
    }
}

impl From<ctap::Error> for ClientError {
    fn from(e: ctap::Error) -> Self {
        ClientError {
            code: code_of(&e),
            message: e.to_string(),
            cause: Some(e),
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, ClientError>;

/// `text` cut to at most `max` bytes on a character boundary (CTAP 2.1
/// lets a key truncate `user.name`/`displayName` to 64 bytes; cutting
/// ourselves keeps the text valid UTF-8).
pub fn cut_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// How to answer creation options.
#[derive(Debug, Clone, Default)]
pub struct RegistrationParams<'a> {
    /// The WebAuthn origin (default `https://{rp.id}`).
    pub origin: Option<&'a str>,
    /// The PIN; without one the key must not need it.
    pub pin: Option<&'a str>,
    /// A discoverable credential (a passkey kept on the key, the default)
    /// or not (`Some(false)`: the key keeps nothing; load tests use it so
    /// a key's slots do not run out).
    pub discoverable: Option<bool>,
}

/// A registration ready to be sent to the key: the request, its client
/// data, and what a journal wants to know before the key is asked.
#[derive(Debug)]
pub struct PreparedRegistration {
    /// The RP ID of the options.
    pub rp_id: String,
    /// The origin written into clientDataJSON.
    pub origin: String,
    /// The clientDataJSON the key will sign over.
    pub client_data_json: Vec<u8>,
    request: MakeCredentialRequest,
}

impl PreparedRegistration {
    /// The extensions the key will be asked for.
    pub fn extensions(&self) -> &MakeCredentialExtensions {
        &self.request.extensions
    }

    /// The algorithms offered to the key, in order.
    pub fn algorithms(&self) -> Vec<i64> {
        self.request
            .pub_key_cred_params
            .iter()
            .map(|p| p.alg)
            .collect()
    }
}

/// A registration response: what a relying party verifies.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The new credential's id.
    pub credential_id: Vec<u8>,
    /// The clientDataJSON the attestation covers.
    pub client_data_json: Vec<u8>,
    /// The attestation object (`fmt`, `attStmt`, `authData`).
    pub attestation_object: Vec<u8>,
    /// The authenticator data, also inside the attestation object.
    pub authenticator_data: Vec<u8>,
}

/// Builds the makeCredential request for `options` on this key and checks
/// the exclude list; nothing is created yet. A credential of the exclude
/// list found on the key is [`ErrorCode::DeviceIneligible`] with status
/// `CredentialExcluded`.
pub fn prepare_registration<T: Transport>(
    ctap: &mut Ctap2Client<T>,
    options: &PublicKeyCredentialCreationOptions,
    params: &RegistrationParams<'_>,
) -> Result<PreparedRegistration> {
    let rp_id = options.rp.id.clone();
    let origin = params
        .origin
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://{rp_id}"));
    let client_data_json = CollectedClientData::serialize(TYPE_CREATE, &options.challenge, &origin);
    let client_data_hash = Sha256::digest(&client_data_json).to_vec();
    let user_handle = b64::decode_lenient(&options.user.id).map_err(|_| {
        ClientError::new(
            ErrorCode::BadRequest,
            format!(
                "the options carry a user handle that is not base64url: {}",
                options.user.id
            ),
        )
    })?;

    // Entra sends excluded ids in three encodings: exclude every reading.
    let mut exclude: Vec<CredentialDescriptor> = Vec::new();
    for d in &options.exclude_credentials {
        for id in entra_credential_id_candidates(&d.id) {
            if !exclude.iter().any(|e| e.id == id) {
                exclude.push(CredentialDescriptor::new(id));
            }
        }
    }
    let token = match params.pin {
        Some(pin) => Some(ctap.get_pin_token(
            pin,
            Permissions::MAKE_CREDENTIAL | Permissions::GET_ASSERTION,
            Some(&rp_id),
        )?),
        None => None,
    };
    let auth = |message: &[u8]| {
        token
            .as_ref()
            .map(|t| (t.authenticate(message), t.protocol().id()))
    };
    let max_list = ctap.info().max_credential_count_in_list.unwrap_or(u64::MAX) as usize;
    if exclude.len() > max_list {
        // Too many for one request: probe in batches with silent
        // assertions, as browsers do, then send none.
        for batch in exclude.chunks(max_list.max(1)) {
            let signed = auth(&client_data_hash);
            let req = GetAssertionRequest {
                rp_id: rp_id.clone(),
                client_data_hash: client_data_hash.clone(),
                allow_list: batch.to_vec(),
                extensions: Default::default(),
                options: RequestOptions {
                    rk: None,
                    up: Some(false),
                    uv: None,
                },
                pin_uv_auth_param: signed.as_ref().map(|s| s.0.clone()),
                pin_uv_auth_protocol: signed.map(|s| s.1),
            };
            match ctap.get_assertions(&req) {
                Ok(_) => {
                    return Err(ctap::Error::Status(StatusCode::CredentialExcluded).into());
                }
                Err(ctap::Error::Status(StatusCode::NoCredentials)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        exclude.clear();
    }

    let info = ctap.info();
    let key_algs: Vec<i64> = info.algorithms.iter().map(|a| a.alg).collect();
    let mut algs: Vec<PubKeyCredParam> = options
        .pub_key_cred_params
        .iter()
        .filter(|p| p.type_ == "public-key")
        .filter(|p| key_algs.is_empty() || key_algs.contains(&p.alg))
        .map(|p| PubKeyCredParam { alg: p.alg })
        .collect();
    if algs.is_empty() {
        // Let the key say which it lacks (UnsupportedAlgorithm).
        algs = options
            .pub_key_cred_params
            .iter()
            .map(|p| PubKeyCredParam { alg: p.alg })
            .collect();
    }
    let mut extensions = MakeCredentialExtensions::default();
    if let Some(ext) = &options.extensions {
        if let Some(level) = ext
            .credential_protection_policy
            .as_deref()
            .and_then(cred_protect_level)
        {
            if info.supports_extension("credProtect") {
                extensions.cred_protect = Some(level);
            } else if ext.enforce_credential_protection_policy == Some(true) && level > 1 {
                return Err(ClientError::new(
                    ErrorCode::ConfigurationUnsupported,
                    "the key does not support credProtect, which the options enforce",
                ));
            }
        }
        if ext.hmac_create_secret == Some(true) && info.supports_extension("hmac-secret") {
            extensions.hmac_secret = Some(true);
        }
    }
    let signed = auth(&client_data_hash);
    let request = MakeCredentialRequest {
        client_data_hash,
        rp: RpEntity {
            id: rp_id.clone(),
            name: Some(options.rp.name.clone()).filter(|n| !n.is_empty()),
        },
        user: UserEntity {
            id: user_handle,
            name: Some(cut_utf8(&options.user.name, 64).to_owned()),
            display_name: Some(cut_utf8(&options.user.display_name, 64).to_owned())
                .filter(|n| !n.is_empty()),
        },
        pub_key_cred_params: algs,
        exclude_list: exclude,
        extensions,
        options: RequestOptions {
            rk: Some(params.discoverable.unwrap_or(true)),
            up: None,
            uv: None,
        },
        pin_uv_auth_param: signed.as_ref().map(|s| s.0.clone()),
        pin_uv_auth_protocol: signed.map(|s| s.1),
        enterprise_attestation: None,
    };
    Ok(PreparedRegistration {
        rp_id,
        origin,
        client_data_json,
        request,
    })
}

/// Asks the key to create the credential `prepared` describes.
pub fn complete_registration<T: Transport>(
    ctap: &mut Ctap2Client<T>,
    prepared: PreparedRegistration,
) -> Result<Registration> {
    let response = ctap.make_credential(&prepared.request)?;
    let auth = webauthn::AuthenticatorData::parse(&response.auth_data)
        .map_err(|e| ClientError::from(ctap::Error::Protocol(e.to_string())))?;
    let credential_id = auth.attested.map(|a| a.credential_id).ok_or_else(|| {
        ClientError::from(ctap::Error::Protocol("no attested credential data".into()))
    })?;
    Ok(Registration {
        credential_id,
        client_data_json: prepared.client_data_json,
        attestation_object: response.attestation_object(),
        authenticator_data: response.auth_data,
    })
}

/// [`prepare_registration`] then [`complete_registration`].
pub fn make_credential<T: Transport>(
    ctap: &mut Ctap2Client<T>,
    options: &PublicKeyCredentialCreationOptions,
    params: &RegistrationParams<'_>,
) -> Result<Registration> {
    let prepared = prepare_registration(ctap, options, params)?;
    complete_registration(ctap, prepared)
}

/// What a sign-in asks the key for (WebAuthn's request options, as the
/// relying party sent them: the challenge echoed verbatim).
#[derive(Debug, Clone, Default)]
pub struct AssertionParams<'a> {
    /// The RP ID the credential must be scoped to.
    pub rp_id: &'a str,
    /// The challenge, as the relying party sent it (echoed verbatim).
    pub challenge: &'a str,
    /// Allowed credential ids (empty: a discoverable credential).
    pub allow: Vec<Vec<u8>>,
    /// The origin to write into clientDataJSON (default `https://{rp_id}`).
    pub origin: Option<&'a str>,
    /// The key's PIN, for user verification (none: presence only).
    pub pin: Option<&'a str>,
}

/// An assertion response.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    /// The credential that signed.
    pub credential_id: Vec<u8>,
    /// The clientDataJSON the signature covers.
    pub client_data_json: Vec<u8>,
    /// The authenticator data signed over.
    pub authenticator_data: Vec<u8>,
    /// The signature over authenticatorData ‖ SHA-256(clientDataJSON).
    pub signature: Vec<u8>,
    /// The user handle (discoverable credentials).
    pub user_handle: Option<Vec<u8>>,
}

/// Gets an assertion (the first, when the key holds several matching
/// discoverable credentials). No matching credential is
/// [`ErrorCode::DeviceIneligible`] with status `NoCredentials`.
pub fn get_assertion<T: Transport>(
    ctap: &mut Ctap2Client<T>,
    params: &AssertionParams<'_>,
) -> Result<Assertion> {
    let origin = params
        .origin
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://{}", params.rp_id));
    let client_data_json = CollectedClientData::serialize(TYPE_GET, params.challenge, &origin);
    let client_data_hash = Sha256::digest(&client_data_json).to_vec();
    let mut request = GetAssertionRequest {
        rp_id: params.rp_id.to_owned(),
        client_data_hash: client_data_hash.clone(),
        allow_list: params
            .allow
            .iter()
            .cloned()
            .map(CredentialDescriptor::new)
            .collect(),
        extensions: Default::default(),
        options: RequestOptions::default(),
        pin_uv_auth_param: None,
        pin_uv_auth_protocol: None,
    };
    if let Some(pin) = params.pin {
        let token = ctap.get_pin_token(pin, Permissions::GET_ASSERTION, Some(params.rp_id))?;
        request.pin_uv_auth_param = Some(token.authenticate(&client_data_hash));
        request.pin_uv_auth_protocol = Some(token.protocol().id());
    }
    let mut all = ctap.get_assertions(&request)?;
    if all.is_empty() {
        return Err(ctap::Error::Status(StatusCode::NoCredentials).into());
    }
    let first = all.remove(0);
    Ok(Assertion {
        credential_id: first.credential.id,
        client_data_json,
        authenticator_data: first.auth_data,
        signature: first.signature,
        user_handle: first.user.map(|u| u.id),
    })
}

/// Answers sign-in request options (the `publicKey` of a sign-in `begin`):
/// allowed ids read leniently (base64url, padded or not).
pub fn answer_request<T: Transport>(
    ctap: &mut Ctap2Client<T>,
    options: &webauthn::signin::RequestOptions,
    origin: Option<&str>,
    pin: Option<&str>,
) -> Result<Assertion> {
    let allow = options
        .allow_credentials
        .iter()
        .filter_map(|c| b64::decode_lenient(&c.id).ok())
        .collect();
    get_assertion(
        ctap,
        &AssertionParams {
            rp_id: &options.rp_id,
            challenge: &options.challenge,
            allow,
            origin,
            pin,
        },
    )
}

impl Assertion {
    /// The assertion in its JSON form (base64url fields).
    pub fn to_json(&self) -> webauthn::signin::AssertionCredentialJson {
        webauthn::signin::AssertionCredentialJson {
            id: b64::encode(&self.credential_id),
            response: webauthn::signin::AssertionResponseJson {
                client_data_json: self.client_data_json.clone(),
                authenticator_data: self.authenticator_data.clone(),
                signature: self.signature.clone(),
                user_handle: self.user_handle.clone(),
            },
        }
    }

    /// The sign-in `finish` body for the flow `flow_id`.
    pub fn finish_request(&self, flow_id: &str) -> webauthn::signin::FinishRequest {
        webauthn::signin::FinishRequest {
            flow_id: flow_id.to_owned(),
            credential: self.to_json(),
        }
    }
}

impl Registration {
    /// The Graph registration body (`POST …/fido2Methods`), base64url
    /// fields.
    pub fn register_request(&self, display_name: Option<&str>) -> webauthn::graph::RegisterRequest {
        webauthn::graph::RegisterRequest {
            display_name: display_name.map(str::to_owned),
            public_key_credential: webauthn::graph::PublicKeyCredentialJson {
                id: b64::encode(&self.credential_id),
                response: webauthn::graph::AttestationResponseJson {
                    client_data_json: self.client_data_json.clone(),
                    attestation_object: self.attestation_object.clone(),
                },
                client_extension_results: serde_json::Value::Object(Default::default()),
            },
            odata_type_present: false,
        }
    }
}

#[cfg(test)]
mod tests;

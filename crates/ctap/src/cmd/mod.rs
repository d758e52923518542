//! CTAP2 commands as typed messages (CTAP 2.1 §6). Each request and
//! response has exactly one `to_cbor`/`from_cbor`, used by the host to
//! encode requests and decode responses and by the virtual key to decode
//! requests and encode responses. One module per sub-API.

pub mod client_pin;
pub mod config;
pub mod cred_mgmt;
pub mod get_assertion;
pub mod get_info;
pub mod make_credential;
pub mod simple;

use crate::error::Error;
use crate::status::StatusCode;
use webauthn::cbor::{self, CborError, MapBuilder, MapReader, Value};

/// The command byte of a CTAP2 request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandCode {
    MakeCredential,
    GetAssertion,
    GetInfo,
    ClientPin,
    Reset,
    GetNextAssertion,
    BioEnrollment,
    CredentialManagement,
    Selection,
    LargeBlobs,
    Config,
}

impl CommandCode {
    pub const ALL: [CommandCode; 11] = [
        Self::MakeCredential,
        Self::GetAssertion,
        Self::GetInfo,
        Self::ClientPin,
        Self::Reset,
        Self::GetNextAssertion,
        Self::BioEnrollment,
        Self::CredentialManagement,
        Self::Selection,
        Self::LargeBlobs,
        Self::Config,
    ];

    pub fn to_byte(self) -> u8 {
        match self {
            Self::MakeCredential => 0x01,
            Self::GetAssertion => 0x02,
            Self::GetInfo => 0x04,
            Self::ClientPin => 0x06,
            Self::Reset => 0x07,
            Self::GetNextAssertion => 0x08,
            Self::BioEnrollment => 0x09,
            Self::CredentialManagement => 0x0A,
            Self::Selection => 0x0B,
            Self::LargeBlobs => 0x0C,
            Self::Config => 0x0D,
        }
    }

    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.to_byte() == b)
    }
}

/// A CTAP2 request: command byte followed by an optional CBOR map.
pub trait CtapRequest: Sized {
    const COMMAND: CommandCode;
    type Response: CtapResponse;

    /// The parameter map, or `None` for a command without parameters.
    fn to_cbor(&self) -> Option<Value>;
    /// Reads the parameters (authenticator side).
    fn from_cbor(params: Option<Value>) -> Result<Self, CborError>;

    /// The request as sent in a CTAPHID_CBOR message.
    fn encode(&self) -> Vec<u8> {
        let mut out = vec![Self::COMMAND.to_byte()];
        if let Some(v) = self.to_cbor() {
            out.extend(cbor::encode(&v));
        }
        out
    }
}

/// A CTAP2 response body (after the status byte).
pub trait CtapResponse: Sized {
    fn to_cbor(&self) -> Option<Value>;
    fn from_cbor(body: Option<Value>) -> Result<Self, CborError>;
}

/// The empty response of commands that only report success.
impl CtapResponse for () {
    fn to_cbor(&self) -> Option<Value> {
        None
    }
    fn from_cbor(_: Option<Value>) -> Result<Self, CborError> {
        Ok(())
    }
}

/// Host side: reads a response frame (status byte, then CBOR if success).
pub fn decode_response<R: CtapResponse>(frame: &[u8]) -> Result<R, Error> {
    let (&status, body) = frame
        .split_first()
        .ok_or_else(|| Error::Protocol("empty CTAP2 response".into()))?;
    let status = StatusCode::from_byte(status);
    if status != StatusCode::Ok {
        return Err(Error::Status(status));
    }
    let body = if body.is_empty() {
        None
    } else {
        Some(cbor::decode(body)?)
    };
    Ok(R::from_cbor(body)?)
}

/// Authenticator side: a success frame carrying `response`.
pub fn encode_response<R: CtapResponse>(response: &R) -> Vec<u8> {
    let mut out = vec![StatusCode::Ok.to_byte()];
    if let Some(v) = response.to_cbor() {
        out.extend(cbor::encode(&v));
    }
    out
}

/// Authenticator side: a failure frame.
pub fn encode_status(status: StatusCode) -> Vec<u8> {
    vec![status.to_byte()]
}

/// Authenticator side: splits a request into its command byte and
/// decoded parameters.
pub fn split_request(frame: &[u8]) -> Result<(u8, Option<Value>), StatusCode> {
    let (&cmd, body) = frame.split_first().ok_or(StatusCode::InvalidLength)?;
    if body.is_empty() {
        return Ok((cmd, None));
    }
    let value = cbor::decode(body).map_err(|e| status_for(&e))?;
    Ok((cmd, Some(value)))
}

/// The CTAP status an authenticator answers for a decoding failure.
pub fn status_for(e: &CborError) -> StatusCode {
    match e {
        CborError::Malformed(_) | CborError::DuplicateKey => StatusCode::InvalidCbor,
        CborError::UnexpectedType(_) => StatusCode::CborUnexpectedType,
        CborError::Missing(_) => StatusCode::MissingParameter,
        CborError::InvalidValue(_) => StatusCode::InvalidParameter,
    }
}

/// Opens an optional parameter map; a missing map is an empty one.
pub(crate) fn params(value: Option<Value>) -> Result<MapReader, CborError> {
    MapReader::new(value.unwrap_or(Value::Map(Vec::new())), "parameters")
}

/// `PublicKeyCredentialRpEntity` (WebAuthn §5.4.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RpEntity {
    pub id: String,
    pub name: Option<String>,
}

impl RpEntity {
    pub fn to_cbor(&self) -> Value {
        MapBuilder::new()
            .text("id", self.id.as_str())
            .opt_text("name", self.name.as_deref())
            .build()
    }

    pub fn from_cbor(v: Value) -> Result<Self, CborError> {
        let mut m = MapReader::new(v, "rp")?;
        Ok(Self {
            id: m.text("id", "rp.id")?,
            name: m.opt_text("name", "rp.name")?,
        })
    }
}

/// `PublicKeyCredentialUserEntity` (WebAuthn §5.4.3).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntity {
    #[serde(serialize_with = "ser_b64")]
    pub id: Vec<u8>,
    pub name: Option<String>,
    pub display_name: Option<String>,
}

fn ser_b64<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&webauthn::b64::encode(b))
}

impl UserEntity {
    pub fn to_cbor(&self) -> Value {
        MapBuilder::new()
            .text("id", self.id.clone())
            .opt_text("name", self.name.as_deref())
            .opt_text("displayName", self.display_name.as_deref())
            .build()
    }

    pub fn from_cbor(v: Value) -> Result<Self, CborError> {
        let mut m = MapReader::new(v, "user")?;
        let id = m.bytes("id", "user.id")?;
        if id.len() > 64 {
            return Err(CborError::InvalidValue("user.id"));
        }
        Ok(Self {
            id,
            name: m.opt_text("name", "user.name")?,
            display_name: m.opt_text("displayName", "user.displayName")?,
        })
    }
}

/// `PublicKeyCredentialDescriptor` with type "public-key".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialDescriptor {
    pub id: Vec<u8>,
    pub transports: Option<Vec<String>>,
}

impl CredentialDescriptor {
    pub fn new(id: Vec<u8>) -> Self {
        Self {
            id,
            transports: None,
        }
    }

    pub fn to_cbor(&self) -> Value {
        let transports = self
            .transports
            .as_ref()
            .map(|t| Value::Array(t.iter().map(|s| Value::from(s.as_str())).collect()));
        MapBuilder::new()
            .text("id", self.id.clone())
            .text("type", "public-key")
            .opt_text("transports", transports)
            .build()
    }

    /// `Ok(None)` for a descriptor of another type, which lists skip
    /// (WebAuthn §5.8.3).
    pub fn from_cbor(v: Value) -> Result<Option<Self>, CborError> {
        let mut m = MapReader::new(v, "credential descriptor")?;
        let type_ = m.text("type", "credential.type")?;
        let id = m.bytes("id", "credential.id")?;
        let transports = match m.opt_array("transports", "credential.transports")? {
            Some(items) => Some(
                items
                    .into_iter()
                    .map(|t| cbor::into_text(t, "credential.transports"))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        Ok((type_ == "public-key").then_some(Self { id, transports }))
    }
}

/// Reads an array of credential descriptors, skipping other types.
pub(crate) fn descriptor_list(
    v: Value,
    field: &'static str,
) -> Result<Vec<CredentialDescriptor>, CborError> {
    let mut out = Vec::new();
    for item in cbor::into_array(v, field)? {
        if let Some(d) = CredentialDescriptor::from_cbor(item)? {
            out.push(d);
        }
    }
    Ok(out)
}

pub(crate) fn descriptor_list_cbor(list: &[CredentialDescriptor]) -> Value {
    Value::Array(list.iter().map(CredentialDescriptor::to_cbor).collect())
}

/// `PublicKeyCredentialParameters` with type "public-key".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PubKeyCredParam {
    pub alg: i64,
}

impl PubKeyCredParam {
    pub fn to_cbor(&self) -> Value {
        MapBuilder::new()
            .text("alg", self.alg)
            .text("type", "public-key")
            .build()
    }

    pub fn from_cbor(v: Value) -> Result<Option<Self>, CborError> {
        let mut m = MapReader::new(v, "pubKeyCredParams")?;
        let type_ = m.text("type", "pubKeyCredParams.type")?;
        let alg = m.int("alg", "pubKeyCredParams.alg")?;
        Ok((type_ == "public-key").then_some(Self { alg }))
    }
}

/// Request options `rk`, `up`, `uv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestOptions {
    pub rk: Option<bool>,
    pub up: Option<bool>,
    pub uv: Option<bool>,
}

impl RequestOptions {
    pub fn to_cbor(&self) -> Option<Value> {
        let b = MapBuilder::new()
            .opt_text("rk", self.rk)
            .opt_text("up", self.up)
            .opt_text("uv", self.uv);
        (!b.is_empty()).then(|| b.build())
    }

    /// Unknown option keys are ignored, as the spec requires.
    pub fn from_cbor(v: Value) -> Result<Self, CborError> {
        let mut m = MapReader::new(v, "options")?;
        Ok(Self {
            rk: m.opt_bool("rk", "options.rk")?,
            up: m.opt_bool("up", "options.up")?,
            uv: m.opt_bool("uv", "options.uv")?,
        })
    }
}

pub(crate) fn uint(v: i64, field: &'static str) -> Result<u64, CborError> {
    u64::try_from(v).map_err(|_| CborError::InvalidValue(field))
}

pub(crate) fn opt_uint(
    m: &mut MapReader,
    key: i64,
    field: &'static str,
) -> Result<Option<u64>, CborError> {
    m.opt_int(key, field)?.map(|v| uint(v, field)).transpose()
}

pub(crate) fn text_list(v: Value, field: &'static str) -> Result<Vec<String>, CborError> {
    cbor::into_array(v, field)?
        .into_iter()
        .map(|t| cbor::into_text(t, field))
        .collect()
}

pub(crate) fn text_list_cbor(list: &[String]) -> Value {
    Value::Array(list.iter().map(|s| Value::from(s.as_str())).collect())
}

//! CTAP2 commands as typed messages (CTAP 2.1 §6). Each request and
//! response has exactly one `to_cbor`/`from_cbor`, used by the host to
//! encode requests and decode responses and by the virtual key to decode
//! requests and encode responses. One module per sub-API, holding its
//! codec and the [`Ctap2Client`](crate::client::Ctap2Client) verbs that
//! use it (the virtual key uses only the codecs).

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

wire_enum! {
    /// The command byte of a CTAP2 request.
    pub enum CommandCode {
        MakeCredential = 0x01,
        GetAssertion = 0x02,
        GetInfo = 0x04,
        ClientPin = 0x06,
        Reset = 0x07,
        GetNextAssertion = 0x08,
        BioEnrollment = 0x09,
        CredentialManagement = 0x0A,
        Selection = 0x0B,
        LargeBlobs = 0x0C,
        Config = 0x0D,
    }
}

/// A CTAP2 request: command byte followed by an optional CBOR map.
pub trait CtapRequest: Sized {
    /// The command byte.
    const COMMAND: CommandCode;
    /// What the key answers.
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
    /// The response map, or `None` for an empty response (authenticator side).
    fn to_cbor(&self) -> Option<Value>;
    /// Reads a response body (host side); `None` is an empty body.
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

/// An integer key of a parameter or response map, with the name CTAP 2.1
/// gives its field: declared once per map with `map_keys!` (for example
/// [`make_credential::MakeCredentialRequestKey`]), used by both directions
/// of the codec, and named in decoding errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The integer on the wire.
    pub id: i64,
    /// The field's name in CTAP 2.1 (what a decoding error reports).
    pub name: &'static str,
}

impl cbor::MapKey for Key {
    fn matches(&self, key: &Value) -> bool {
        self.id.matches(key)
    }
}

/// Builds a parameter or response map by [`Key`].
pub(crate) trait KeyedMapBuilder: Sized {
    /// Adds the entry under `key`.
    fn key(self, key: Key, value: impl Into<Value>) -> Self;
    /// Adds the entry under `key` when `value` is `Some`.
    fn opt_key<V: Into<Value>>(self, key: Key, value: Option<V>) -> Self;
}

impl KeyedMapBuilder for MapBuilder {
    fn key(self, key: Key, value: impl Into<Value>) -> Self {
        self.int(key.id, value)
    }
    fn opt_key<V: Into<Value>>(self, key: Key, value: Option<V>) -> Self {
        self.opt_int(key.id, value)
    }
}

/// Reads a parameter or response map by [`Key`]: each accessor takes the
/// entry out and names the key's field in its error.
pub(crate) struct Params(MapReader);

impl Params {
    /// Opens `value` as a map (`field` names it in an error).
    pub(crate) fn new(value: Value, field: &'static str) -> Result<Self, CborError> {
        MapReader::new(value, field).map(Self)
    }
    pub(crate) fn take(&mut self, key: Key) -> Option<Value> {
        self.0.take(key)
    }
    pub(crate) fn require(&mut self, key: Key) -> Result<Value, CborError> {
        self.0.require(key, key.name)
    }
    pub(crate) fn bytes(&mut self, key: Key) -> Result<Vec<u8>, CborError> {
        self.0.bytes(key, key.name)
    }
    pub(crate) fn opt_bytes(&mut self, key: Key) -> Result<Option<Vec<u8>>, CborError> {
        self.0.opt_bytes(key, key.name)
    }
    pub(crate) fn text(&mut self, key: Key) -> Result<String, CborError> {
        self.0.text(key, key.name)
    }
    pub(crate) fn opt_text(&mut self, key: Key) -> Result<Option<String>, CborError> {
        self.0.opt_text(key, key.name)
    }
    pub(crate) fn int(&mut self, key: Key) -> Result<i64, CborError> {
        self.0.int(key, key.name)
    }
    pub(crate) fn opt_bool(&mut self, key: Key) -> Result<Option<bool>, CborError> {
        self.0.opt_bool(key, key.name)
    }
    /// An optional non-negative integer.
    pub(crate) fn opt_uint(&mut self, key: Key) -> Result<Option<u64>, CborError> {
        self.0
            .opt_int(key, key.name)?
            .map(|v| uint(v, key.name))
            .transpose()
    }
}

/// Opens an optional parameter map; a missing map is an empty one.
pub(crate) fn params(value: Option<Value>) -> Result<Params, CborError> {
    Params::new(value.unwrap_or(Value::Map(Vec::new())), "parameters")
}

/// `PublicKeyCredentialRpEntity` (WebAuthn §5.4.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RpEntity {
    /// The RP ID.
    pub id: String,
    /// A name for people.
    pub name: Option<String>,
}

impl RpEntity {
    /// The entity as a CBOR map.
    pub fn to_cbor(&self) -> Value {
        MapBuilder::new()
            .text("id", self.id.as_str())
            .opt_text("name", self.name.as_deref())
            .build()
    }

    /// Reads the entity (unknown members are ignored).
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
    /// The user handle (at most 64 bytes).
    pub id: Vec<u8>,
    /// An account name (UPN), shown by keys that list credentials.
    pub name: Option<String>,
    /// The person's name.
    pub display_name: Option<String>,
}

fn ser_b64<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&webauthn::b64::encode(b))
}

impl UserEntity {
    /// The entity as a CBOR map.
    pub fn to_cbor(&self) -> Value {
        MapBuilder::new()
            .text("id", self.id.clone())
            .opt_text("name", self.name.as_deref())
            .opt_text("displayName", self.display_name.as_deref())
            .build()
    }

    /// Reads the entity; a handle over 64 bytes is refused.
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
    /// The credential id.
    pub id: Vec<u8>,
    /// Transports it was seen on.
    pub transports: Option<Vec<String>>,
}

impl CredentialDescriptor {
    /// A descriptor of `id` without transports.
    pub fn new(id: Vec<u8>) -> Self {
        Self {
            id,
            transports: None,
        }
    }

    /// The descriptor as a CBOR map (`type` is `public-key`).
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
    /// The COSE algorithm.
    pub alg: i64,
}

impl PubKeyCredParam {
    /// The parameter as a CBOR map (`type` is `public-key`).
    pub fn to_cbor(&self) -> Value {
        MapBuilder::new()
            .text("alg", self.alg)
            .text("type", "public-key")
            .build()
    }

    /// Reads a parameter; `None` for a type other than `public-key` (to be skipped).
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
    /// Make a discoverable (resident) credential.
    pub rk: Option<bool>,
    /// Ask for user presence (a touch).
    pub up: Option<bool>,
    /// Ask for built-in user verification.
    pub uv: Option<bool>,
}

impl RequestOptions {
    /// The options map, or `None` when none is set.
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

pub(crate) fn text_list(v: Value, field: &'static str) -> Result<Vec<String>, CborError> {
    cbor::into_array(v, field)?
        .into_iter()
        .map(|t| cbor::into_text(t, field))
        .collect()
}

pub(crate) fn text_list_cbor(list: &[String]) -> Value {
    Value::Array(list.iter().map(|s| Value::from(s.as_str())).collect())
}

/// The integer keys of a CBOR map, in order: what the tests of each
/// command compare with the key numbers of the specification.
#[cfg(test)]
pub(crate) fn int_keys(v: &Value) -> Vec<i64> {
    let Value::Map(entries) = v else {
        panic!("not a map: {v:?}")
    };
    entries
        .iter()
        .map(|(k, _)| cbor::into_int(k.clone(), "key").expect("an integer key"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sub-command bytes as CTAP 2.1 lists them: clientPIN §6.5.4,
    /// credential management §6.8.2, authenticatorConfig §6.11.2.
    #[test]
    fn sub_command_bytes() {
        use super::client_pin::PinSubCommand as P;
        use super::config::ConfigSubCommand as C;
        use super::cred_mgmt::CredMgmtSubCommand as M;
        let pin = [
            (P::GetPinRetries, 0x01),
            (P::GetKeyAgreement, 0x02),
            (P::SetPin, 0x03),
            (P::ChangePin, 0x04),
            (P::GetPinToken, 0x05),
            (P::GetPinUvAuthTokenUsingUvWithPermissions, 0x06),
            (P::GetUvRetries, 0x07),
            (P::GetPinUvAuthTokenUsingPinWithPermissions, 0x09),
        ];
        assert_eq!(P::KNOWN.len(), pin.len());
        for (c, b) in pin {
            assert_eq!((c.to_byte(), P::from_byte(b)), (b, c));
        }
        assert_eq!(P::from_byte(0x08), P::Unknown(0x08));
        let mgmt = [
            (M::GetCredsMetadata, 0x01),
            (M::EnumerateRpsBegin, 0x02),
            (M::EnumerateRpsGetNextRp, 0x03),
            (M::EnumerateCredentialsBegin, 0x04),
            (M::EnumerateCredentialsGetNextCredential, 0x05),
            (M::DeleteCredential, 0x06),
            (M::UpdateUserInformation, 0x07),
        ];
        assert_eq!(M::KNOWN.len(), mgmt.len());
        for (c, b) in mgmt {
            assert_eq!((c.to_byte(), M::from_byte(b)), (b, c));
        }
        let config = [
            (C::EnableEnterpriseAttestation, 0x01),
            (C::ToggleAlwaysUv, 0x02),
            (C::SetMinPinLength, 0x03),
            (C::VendorPrototype, 0xFF),
        ];
        assert_eq!(C::KNOWN.len(), config.len());
        for (c, b) in config {
            assert_eq!((c.to_byte(), C::from_byte(b)), (b, c));
        }
    }

    /// CTAP 2.1 §6 command bytes.
    #[test]
    fn command_bytes() {
        let bytes = [
            0x01, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D,
        ];
        for (c, b) in CommandCode::ALL.iter().copied().zip(bytes) {
            assert_eq!(c.to_byte(), b, "{c:?}");
            assert_eq!(CommandCode::from_byte(b), Some(c));
        }
        for unknown in [0x00, 0x03, 0x05, 0x0E, 0x40, 0x41] {
            assert_eq!(CommandCode::from_byte(unknown), None, "{unknown:#x}");
        }
    }

    /// §8.2: a response is a status byte, then CBOR only on success.
    #[test]
    fn response_frames() {
        assert!(matches!(
            decode_response::<()>(&[]),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            decode_response::<()>(&[0x31]),
            Err(Error::Status(StatusCode::PinInvalid))
        ));
        assert!(decode_response::<()>(&[0x00]).is_ok());
        assert!(decode_response::<()>(&[0x00, 0xa0]).is_ok());
        assert!(decode_response::<()>(&[0x00, 0xff]).is_err(), "bad CBOR");
        assert_eq!(encode_response(&()), [0x00]);
        assert_eq!(encode_status(StatusCode::PinInvalid), [0x31]);
        assert_eq!(<() as CtapResponse>::to_cbor(&()), None);
    }

    /// §8.1: a request is a command byte, then CBOR parameters if any;
    /// decoding failures map to the statuses of §8.2.
    #[test]
    fn request_frames_and_statuses() {
        assert_eq!(split_request(&[]), Err(StatusCode::InvalidLength));
        assert_eq!(split_request(&[0x04]), Ok((0x04, None)));
        assert_eq!(
            split_request(&[0x01, 0xa1, 0x01, 0x02]),
            Ok((0x01, Some(MapBuilder::new().int(1, 2).build())))
        );
        assert_eq!(split_request(&[0x01, 0xa1]), Err(StatusCode::InvalidCbor));
        for (e, s) in [
            (CborError::Malformed("x".into()), StatusCode::InvalidCbor),
            (CborError::DuplicateKey, StatusCode::InvalidCbor),
            (
                CborError::UnexpectedType("f"),
                StatusCode::CborUnexpectedType,
            ),
            (CborError::Missing("f"), StatusCode::MissingParameter),
            (CborError::InvalidValue("f"), StatusCode::InvalidParameter),
        ] {
            assert_eq!(status_for(&e), s, "{e:?}");
        }
        assert!(params(None).unwrap().0.remaining().is_empty());
        assert!(params(Some(cbor::int(1))).is_err());
    }

    /// Every map's keys are distinct in number and in name: a key declared
    /// twice would make the encoder write one field over another.
    #[test]
    fn each_map_declares_distinct_keys() {
        let maps: &[(&str, &[Key])] = &[
            (
                "makeCredential",
                make_credential::MakeCredentialRequestKey::ALL,
            ),
            (
                "makeCredential response",
                make_credential::MakeCredentialResponseKey::ALL,
            ),
            ("getAssertion", get_assertion::GetAssertionRequestKey::ALL),
            (
                "getAssertion response",
                get_assertion::GetAssertionResponseKey::ALL,
            ),
            ("hmac-secret input", get_assertion::HmacSecretInputKey::ALL),
            ("getInfo response", get_info::GetInfoResponseKey::ALL),
            ("clientPIN", client_pin::ClientPinRequestKey::ALL),
            ("clientPIN response", client_pin::ClientPinResponseKey::ALL),
            ("credentialManagement", cred_mgmt::CredMgmtRequestKey::ALL),
            (
                "credentialManagement subCommandParams",
                cred_mgmt::CredMgmtParamsKey::ALL,
            ),
            (
                "credentialManagement response",
                cred_mgmt::CredMgmtResponseKey::ALL,
            ),
            ("authenticatorConfig", config::ConfigRequestKey::ALL),
            (
                "setMinPINLength params",
                config::SetMinPinLengthParamsKey::ALL,
            ),
        ];
        for (map, keys) in maps {
            for (i, k) in keys.iter().enumerate() {
                for other in &keys[..i] {
                    assert_ne!(k.id, other.id, "{map}: key {} twice", k.id);
                    assert_ne!(k.name, other.name, "{map}: {} twice", k.name);
                }
                assert!(k.id > 0, "{map}: {} has no positive key", k.name);
            }
        }
    }

    /// The CTAP 2.1 spec's own example bytes for
    /// `{"alg": -7, "type": "public-key"}` (§6.1 example).
    #[test]
    fn pub_key_cred_param_encoding() {
        let p = PubKeyCredParam { alg: -7 };
        assert_eq!(
            cbor::encode(&p.to_cbor()),
            hex::decode("a263616c672664747970656a7075626c69632d6b6579").unwrap()
        );
        assert_eq!(PubKeyCredParam::from_cbor(p.to_cbor()), Ok(Some(p)));
        let other = MapBuilder::new()
            .text("alg", -7)
            .text("type", "other")
            .build();
        assert_eq!(PubKeyCredParam::from_cbor(other), Ok(None));
        let no_alg = MapBuilder::new().text("type", "public-key").build();
        assert_eq!(
            PubKeyCredParam::from_cbor(no_alg),
            Err(CborError::Missing("pubKeyCredParams.alg"))
        );
    }

    #[test]
    fn entities_round_trip_and_bounds() {
        let rp = RpEntity {
            id: "example.com".into(),
            name: Some("Example".into()),
        };
        assert_eq!(RpEntity::from_cbor(rp.to_cbor()), Ok(rp));
        let bare = RpEntity {
            id: "example.com".into(),
            name: None,
        };
        assert_eq!(
            cbor::encode(&bare.to_cbor()),
            [&[0xa1, 0x62, b'i', b'd', 0x6b][..], b"example.com"].concat()
        );
        let user = |id: Vec<u8>| UserEntity {
            id,
            name: Some("alice".into()),
            display_name: Some("Alice".into()),
        };
        // §6.1.1 / WebAuthn §5.4.3: user handles are at most 64 bytes.
        assert_eq!(
            UserEntity::from_cbor(user(vec![1; 64]).to_cbor()),
            Ok(user(vec![1; 64]))
        );
        assert_eq!(
            UserEntity::from_cbor(user(vec![1; 65]).to_cbor()),
            Err(CborError::InvalidValue("user.id"))
        );
        assert_eq!(
            serde_json::to_value(user(vec![0xfb, 0xff])).unwrap()["id"],
            "-_8"
        );
        assert!(RpEntity::from_cbor(cbor::int(1)).is_err());
    }

    /// WebAuthn §5.8.3: descriptors of an unknown type are skipped.
    #[test]
    fn credential_descriptors() {
        let d = CredentialDescriptor {
            id: vec![1, 2],
            transports: Some(vec!["usb".into(), "nfc".into()]),
        };
        assert_eq!(
            CredentialDescriptor::from_cbor(d.to_cbor()),
            Ok(Some(d.clone()))
        );
        let plain = CredentialDescriptor::new(vec![3]);
        assert_eq!(plain.transports, None);
        assert_eq!(
            cbor::encode(&plain.to_cbor()),
            hex::decode("a2626964410364747970656a7075626c69632d6b6579").unwrap()
        );
        let other = MapBuilder::new()
            .text("id", vec![4u8])
            .text("type", "future")
            .build();
        let list = Value::Array(vec![d.to_cbor(), other, plain.to_cbor()]);
        assert_eq!(
            descriptor_list(list, "allowList"),
            Ok(vec![d.clone(), plain.clone()])
        );
        assert_eq!(
            descriptor_list_cbor(&[d.clone(), plain.clone()]),
            Value::Array(vec![d.to_cbor(), plain.to_cbor()])
        );
        assert!(descriptor_list(cbor::int(1), "allowList").is_err());
        let bad_transport = MapBuilder::new()
            .text("id", vec![4u8])
            .text("type", "public-key")
            .text("transports", Value::Array(vec![cbor::int(1)]))
            .build();
        assert_eq!(
            CredentialDescriptor::from_cbor(bad_transport),
            Err(CborError::UnexpectedType("credential.transports"))
        );
    }

    #[test]
    fn options_and_small_helpers() {
        assert_eq!(RequestOptions::default().to_cbor(), None);
        let o = RequestOptions {
            rk: Some(true),
            up: Some(false),
            uv: None,
        };
        // {"rk": true, "up": false}
        assert_eq!(
            cbor::encode(&o.to_cbor().unwrap()),
            [0xa2, 0x62, b'r', b'k', 0xf5, 0x62, b'u', b'p', 0xf4]
        );
        assert_eq!(RequestOptions::from_cbor(o.to_cbor().unwrap()), Ok(o));
        let with_unknown = MapBuilder::new().text("uv", true).text("future", 1).build();
        assert_eq!(
            RequestOptions::from_cbor(with_unknown).unwrap().uv,
            Some(true)
        );
        assert_eq!(uint(5, "f"), Ok(5));
        assert_eq!(uint(-1, "f"), Err(CborError::InvalidValue("f")));
        let mut m = Params::new(MapBuilder::new().int(1, 3).int(2, -3).build(), "m").unwrap();
        let key = |id, name| Key { id, name };
        assert_eq!(m.opt_uint(key(1, "a")), Ok(Some(3)));
        assert_eq!(m.opt_uint(key(2, "b")), Err(CborError::InvalidValue("b")));
        assert_eq!(m.opt_uint(key(3, "c")), Ok(None));
        assert_eq!(m.bytes(key(4, "d")), Err(CborError::Missing("d")));
        let list = vec!["a".to_string(), "b".to_string()];
        assert_eq!(text_list(text_list_cbor(&list), "l"), Ok(list));
        assert!(text_list(Value::Array(vec![cbor::int(1)]), "l").is_err());
    }
}

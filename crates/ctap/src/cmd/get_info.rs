//! authenticatorGetInfo (CTAP 2.1 §6.4).

use super::{
    params, text_list, text_list_cbor, CommandCode, CtapRequest, CtapResponse, KeyedMapBuilder,
    PubKeyCredParam,
};
use std::collections::BTreeMap;
use webauthn::cbor::{self, CborError, MapBuilder, MapReader, Value};

/// authenticatorGetInfo (CTAP 2.1 §6.4): no parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GetInfoRequest;

impl CtapRequest for GetInfoRequest {
    const COMMAND: CommandCode = CommandCode::GetInfo;
    type Response = GetInfoResponse;
    fn to_cbor(&self) -> Option<Value> {
        None
    }
    fn from_cbor(_: Option<Value>) -> Result<Self, CborError> {
        Ok(Self)
    }
}

/// What a key says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetInfoResponse {
    /// CTAP versions spoken (`FIDO_2_0`, `FIDO_2_1`, `U2F_V2`, …).
    pub versions: Vec<String>,
    /// Extensions supported (`credProtect`, `hmac-secret`, …).
    pub extensions: Vec<String>,
    #[serde(serialize_with = "ser_aaguid")]
    /// The model's AAGUID.
    pub aaguid: [u8; 16],
    /// Options and their state (`clientPin`, `credMgmt`, `authnrCfg`, …): see [`GetInfoResponse::option`].
    pub options: BTreeMap<String, bool>,
    /// Largest message the key accepts, bytes.
    pub max_msg_size: Option<u64>,
    /// PIN/UV auth protocols, in the key's order of preference.
    pub pin_uv_auth_protocols: Vec<u64>,
    /// Most credentials in an allow or exclude list at once.
    pub max_credential_count_in_list: Option<u64>,
    /// Longest credential id the key accepts in a list.
    pub max_credential_id_length: Option<u64>,
    /// Transports (`usb`, `nfc`, …).
    pub transports: Vec<String>,
    /// Algorithms the key can create credentials with, in its order of preference.
    pub algorithms: Vec<PubKeyCredParam>,
    /// Largest serialized large-blob array the key stores.
    pub max_serialized_large_blob_array: Option<u64>,
    /// The user must change the PIN before using it again.
    pub force_pin_change: Option<bool>,
    /// The current minimum PIN length (code points).
    pub min_pin_length: Option<u64>,
    /// The firmware version (vendor-defined number).
    pub firmware_version: Option<u64>,
    /// Longest credBlob the key stores.
    pub max_cred_blob_length: Option<u64>,
    /// Most RP IDs setMinPINLength may allow to read the minimum PIN length.
    pub max_rpids_for_set_min_pin_length: Option<u64>,
    /// Built-in UV attempts a platform should try before asking for the PIN.
    pub preferred_platform_uv_attempts: Option<u64>,
    /// How the key verifies users built-in (FIDO registry's bit values).
    pub uv_modality: Option<u64>,
    /// How many more discoverable credentials fit (estimate).
    pub remaining_discoverable_credentials: Option<u64>,
}

fn ser_aaguid<S: serde::Serializer>(a: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&webauthn::authdata::format_aaguid(a))
}

impl GetInfoResponse {
    /// An option's value; `None` when the key does not list it.
    pub fn option(&self, name: &str) -> Option<bool> {
        self.options.get(name).copied()
    }

    /// The key speaks CTAP 2.1.
    pub fn is_ctap21(&self) -> bool {
        self.versions.iter().any(|v| v == "FIDO_2_1")
    }

    /// `clientPin` is `Some(true)` when a PIN is set, `Some(false)` when the
    /// key supports a PIN but has none, `None` when it has no PIN support.
    pub fn pin_is_set(&self) -> Option<bool> {
        self.option("clientPin")
    }

    /// Whether the key lists `name` among its extensions.
    pub fn supports_extension(&self, name: &str) -> bool {
        self.extensions.iter().any(|e| e == name)
    }

    /// The key's minimum PIN length, or CTAP's default of 4.
    pub fn effective_min_pin_length(&self) -> usize {
        self.min_pin_length
            .map_or(crate::pin::DEFAULT_MIN_PIN_LENGTH, |n| n as usize)
    }
}

map_keys! {
    /// The map keys of [`GetInfoResponse`], as CTAP 2.1 numbers and names them.
    pub struct GetInfoResponseKey {
        VERSIONS = 0x01, "versions";
        EXTENSIONS = 0x02, "extensions";
        AAGUID = 0x03, "aaguid";
        OPTIONS = 0x04, "options";
        MAX_MSG_SIZE = 0x05, "maxMsgSize";
        PIN_UV_AUTH_PROTOCOLS = 0x06, "pinUvAuthProtocols";
        MAX_CREDENTIAL_COUNT_IN_LIST = 0x07, "maxCredentialCountInList";
        MAX_CREDENTIAL_ID_LENGTH = 0x08, "maxCredentialIdLength";
        TRANSPORTS = 0x09, "transports";
        ALGORITHMS = 0x0A, "algorithms";
        MAX_SERIALIZED_LARGE_BLOB_ARRAY = 0x0B, "maxSerializedLargeBlobArray";
        FORCE_PIN_CHANGE = 0x0C, "forcePINChange";
        MIN_PIN_LENGTH = 0x0D, "minPINLength";
        FIRMWARE_VERSION = 0x0E, "firmwareVersion";
        MAX_CRED_BLOB_LENGTH = 0x0F, "maxCredBlobLength";
        MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH = 0x10, "maxRPIDsForSetMinPINLength";
        PREFERRED_PLATFORM_UV_ATTEMPTS = 0x11, "preferredPlatformUvAttempts";
        UV_MODALITY = 0x12, "uvModality";
        REMAINING_DISCOVERABLE_CREDENTIALS = 0x14, "remainingDiscoverableCredentials";
    }
}

impl CtapResponse for GetInfoResponse {
    fn to_cbor(&self) -> Option<Value> {
        let options = Value::Map(
            self.options
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), Value::from(*v)))
                .collect(),
        );
        let uints = |v: &[u64]| Value::Array(v.iter().map(|n| Value::from(*n)).collect());
        let nonempty = |v: &[String]| (!v.is_empty()).then(|| text_list_cbor(v));
        Some(
            MapBuilder::new()
                .key(GetInfoResponseKey::VERSIONS, text_list_cbor(&self.versions))
                .opt_key(GetInfoResponseKey::EXTENSIONS, nonempty(&self.extensions))
                .key(GetInfoResponseKey::AAGUID, self.aaguid.to_vec())
                .opt_key(
                    GetInfoResponseKey::OPTIONS,
                    (!self.options.is_empty()).then_some(options),
                )
                .opt_key(GetInfoResponseKey::MAX_MSG_SIZE, self.max_msg_size)
                .opt_key(
                    GetInfoResponseKey::PIN_UV_AUTH_PROTOCOLS,
                    (!self.pin_uv_auth_protocols.is_empty())
                        .then(|| uints(&self.pin_uv_auth_protocols)),
                )
                .opt_key(
                    GetInfoResponseKey::MAX_CREDENTIAL_COUNT_IN_LIST,
                    self.max_credential_count_in_list,
                )
                .opt_key(
                    GetInfoResponseKey::MAX_CREDENTIAL_ID_LENGTH,
                    self.max_credential_id_length,
                )
                .opt_key(GetInfoResponseKey::TRANSPORTS, nonempty(&self.transports))
                .opt_key(
                    GetInfoResponseKey::ALGORITHMS,
                    (!self.algorithms.is_empty()).then(|| {
                        Value::Array(
                            self.algorithms
                                .iter()
                                .map(PubKeyCredParam::to_cbor)
                                .collect(),
                        )
                    }),
                )
                .opt_key(
                    GetInfoResponseKey::MAX_SERIALIZED_LARGE_BLOB_ARRAY,
                    self.max_serialized_large_blob_array,
                )
                .opt_key(GetInfoResponseKey::FORCE_PIN_CHANGE, self.force_pin_change)
                .opt_key(GetInfoResponseKey::MIN_PIN_LENGTH, self.min_pin_length)
                .opt_key(GetInfoResponseKey::FIRMWARE_VERSION, self.firmware_version)
                .opt_key(
                    GetInfoResponseKey::MAX_CRED_BLOB_LENGTH,
                    self.max_cred_blob_length,
                )
                .opt_key(
                    GetInfoResponseKey::MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH,
                    self.max_rpids_for_set_min_pin_length,
                )
                .opt_key(
                    GetInfoResponseKey::PREFERRED_PLATFORM_UV_ATTEMPTS,
                    self.preferred_platform_uv_attempts,
                )
                .opt_key(GetInfoResponseKey::UV_MODALITY, self.uv_modality)
                .opt_key(
                    GetInfoResponseKey::REMAINING_DISCOVERABLE_CREDENTIALS,
                    self.remaining_discoverable_credentials,
                )
                .build(),
        )
    }

    fn from_cbor(body: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(body)?;
        let versions = text_list(m.require(GetInfoResponseKey::VERSIONS)?, "versions")?;
        let extensions = m
            .take(GetInfoResponseKey::EXTENSIONS)
            .map(|v| text_list(v, "extensions"))
            .transpose()?
            .unwrap_or_default();
        let aaguid: [u8; 16] = m
            .bytes(GetInfoResponseKey::AAGUID)?
            .try_into()
            .map_err(|_| CborError::InvalidValue("aaguid"))?;
        let mut options = BTreeMap::new();
        if let Some(o) = m.take(GetInfoResponseKey::OPTIONS) {
            for (k, v) in MapReader::new(o, "options")?.into_entries() {
                // Options are text keys with boolean values; skip others.
                if let (Value::Text(k), Value::Bool(v)) = (k, v) {
                    options.insert(k, v);
                }
            }
        }
        let pin_uv_auth_protocols = match m.take(GetInfoResponseKey::PIN_UV_AUTH_PROTOCOLS) {
            Some(v) => cbor::into_array(v, "pinUvAuthProtocols")?
                .into_iter()
                .map(|p| {
                    cbor::into_int(p, "pinUvAuthProtocols")
                        .and_then(|p| super::uint(p, "pinUvAuthProtocols"))
                })
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let transports = m
            .take(GetInfoResponseKey::TRANSPORTS)
            .map(|v| text_list(v, "transports"))
            .transpose()?
            .unwrap_or_default();
        let algorithms = match m.take(GetInfoResponseKey::ALGORITHMS) {
            Some(v) => cbor::into_array(v, "algorithms")?
                .into_iter()
                .filter_map(|p| PubKeyCredParam::from_cbor(p).transpose())
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(Self {
            versions,
            extensions,
            aaguid,
            options,
            max_msg_size: m.opt_uint(GetInfoResponseKey::MAX_MSG_SIZE)?,
            pin_uv_auth_protocols,
            max_credential_count_in_list: m
                .opt_uint(GetInfoResponseKey::MAX_CREDENTIAL_COUNT_IN_LIST)?,
            max_credential_id_length: m.opt_uint(GetInfoResponseKey::MAX_CREDENTIAL_ID_LENGTH)?,
            transports,
            algorithms,
            max_serialized_large_blob_array: m
                .opt_uint(GetInfoResponseKey::MAX_SERIALIZED_LARGE_BLOB_ARRAY)?,
            force_pin_change: m.opt_bool(GetInfoResponseKey::FORCE_PIN_CHANGE)?,
            min_pin_length: m.opt_uint(GetInfoResponseKey::MIN_PIN_LENGTH)?,
            firmware_version: m.opt_uint(GetInfoResponseKey::FIRMWARE_VERSION)?,
            max_cred_blob_length: m.opt_uint(GetInfoResponseKey::MAX_CRED_BLOB_LENGTH)?,
            max_rpids_for_set_min_pin_length: m
                .opt_uint(GetInfoResponseKey::MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH)?,
            preferred_platform_uv_attempts: m
                .opt_uint(GetInfoResponseKey::PREFERRED_PLATFORM_UV_ATTEMPTS)?,
            uv_modality: m.opt_uint(GetInfoResponseKey::UV_MODALITY)?,
            remaining_discoverable_credentials: m
                .opt_uint(GetInfoResponseKey::REMAINING_DISCOVERABLE_CREDENTIALS)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut info = GetInfoResponse {
            versions: vec!["FIDO_2_0".into(), "FIDO_2_1".into()],
            extensions: vec!["credProtect".into()],
            aaguid: [3; 16],
            pin_uv_auth_protocols: vec![2, 1],
            algorithms: vec![PubKeyCredParam { alg: -7 }],
            min_pin_length: Some(6),
            force_pin_change: Some(true),
            ..Default::default()
        };
        info.options.insert("clientPin".into(), true);
        let v = info.to_cbor().unwrap();
        assert_eq!(GetInfoResponse::from_cbor(Some(v)).unwrap(), info);
        assert!(info.is_ctap21());
        assert_eq!(info.pin_is_set(), Some(true));
        assert_eq!(info.effective_min_pin_length(), 6);
    }

    /// A real CTAP 2.0 key's getInfo answer, as python-fido2's tests
    /// record it (`_INFO` in its test_ctap2.py): U2F_V2 + FIDO_2_0, uvm and
    /// hmac-secret, rk/up true, plat/clientPin false, maxMsgSize 1200,
    /// PIN protocol 1.
    #[test]
    fn a_recorded_ctap20_answer() {
        let bytes = hex::decode(
            "a60182665532465f5632684649444f5f325f3002826375766d6b686d61632d7365637265740350f8a011f38c0a4d15800617111f9edc7d04a462726bf5627570f564706c6174f469636c69656e7450696ef4051904b0068101",
        )
        .unwrap();
        let info = GetInfoResponse::from_cbor(Some(cbor::decode(&bytes).unwrap())).unwrap();
        assert_eq!(info.versions, ["U2F_V2", "FIDO_2_0"]);
        assert!(!info.is_ctap21());
        assert_eq!(info.extensions, ["uvm", "hmac-secret"]);
        assert!(info.supports_extension("hmac-secret"));
        assert!(!info.supports_extension("credProtect"));
        assert_eq!(
            webauthn::authdata::format_aaguid(&info.aaguid),
            "f8a011f3-8c0a-4d15-8006-17111f9edc7d"
        );
        assert_eq!(info.option("rk"), Some(true));
        assert_eq!(info.option("plat"), Some(false));
        assert_eq!(info.option("uv"), None);
        assert_eq!(info.pin_is_set(), Some(false));
        assert_eq!(info.max_msg_size, Some(1200));
        assert_eq!(info.pin_uv_auth_protocols, [1]);
        assert_eq!(info.effective_min_pin_length(), 4, "CTAP's default");
        // Our encoding of it is the same canonical bytes.
        assert_eq!(cbor::encode(&info.to_cbor().unwrap()), bytes);
    }

    /// CTAP 2.1 §6.4 keys 0x01..0x14 (0x13 is not assigned here).
    #[test]
    fn every_member_round_trips_under_its_key() {
        let mut info = GetInfoResponse {
            versions: vec!["FIDO_2_1".into()],
            extensions: vec!["credBlob".into()],
            aaguid: [1; 16],
            max_msg_size: Some(2048),
            pin_uv_auth_protocols: vec![2],
            max_credential_count_in_list: Some(8),
            max_credential_id_length: Some(128),
            transports: vec!["usb".into()],
            algorithms: vec![PubKeyCredParam { alg: -8 }],
            max_serialized_large_blob_array: Some(1024),
            force_pin_change: Some(false),
            min_pin_length: Some(4),
            firmware_version: Some(0x050400),
            max_cred_blob_length: Some(32),
            max_rpids_for_set_min_pin_length: Some(1),
            preferred_platform_uv_attempts: Some(3),
            uv_modality: Some(2),
            remaining_discoverable_credentials: Some(25),
            ..Default::default()
        };
        info.options.insert("alwaysUv".into(), false);
        let v = info.to_cbor().unwrap();
        assert_eq!(
            super::super::int_keys(&v),
            (0x01..=0x12).chain([0x14]).collect::<Vec<_>>()
        );
        assert_eq!(GetInfoResponse::from_cbor(Some(v)).unwrap(), info);
        // Empty lists and maps are left out.
        let bare = GetInfoResponse {
            versions: vec!["FIDO_2_0".into()],
            ..Default::default()
        };
        let Some(Value::Map(entries)) = bare.to_cbor() else {
            panic!()
        };
        assert_eq!(entries.len(), 2, "versions and aaguid only");
        assert_eq!(bare.pin_is_set(), None);
    }

    #[test]
    fn lenient_where_the_spec_allows_strict_where_it_matters() {
        let base = || {
            MapBuilder::new()
                .int(0x01, Value::Array(vec![Value::from("FIDO_2_1")]))
                .int(0x03, vec![0u8; 16])
        };
        // Unknown keys, non-boolean options and algorithms of other
        // types are passed over.
        let v = base()
            .int(
                0x04,
                MapBuilder::new().text("rk", true).text("x", 1).build(),
            )
            .int(
                0x0A,
                Value::Array(vec![
                    MapBuilder::new()
                        .text("alg", -7)
                        .text("type", "public-key")
                        .build(),
                    MapBuilder::new()
                        .text("alg", -7)
                        .text("type", "other")
                        .build(),
                ]),
            )
            .int(0x7F, 1)
            .build();
        let info = GetInfoResponse::from_cbor(Some(v)).unwrap();
        assert_eq!(info.options.len(), 1);
        assert_eq!(info.algorithms, [PubKeyCredParam { alg: -7 }]);
        // A 15-byte AAGUID, a negative protocol, no versions: refused.
        let v = base().int(0x03, vec![0u8; 15]).build();
        assert!(GetInfoResponse::from_cbor(Some(v)).is_err());
        let v = base().int(0x06, Value::Array(vec![cbor::int(-1)])).build();
        assert_eq!(
            GetInfoResponse::from_cbor(Some(v)),
            Err(CborError::InvalidValue("pinUvAuthProtocols"))
        );
        let v = MapBuilder::new().int(0x03, vec![0u8; 16]).build();
        assert_eq!(
            GetInfoResponse::from_cbor(Some(v)),
            Err(CborError::Missing("versions"))
        );
        let info = GetInfoResponse {
            min_pin_length: Some(8),
            ..Default::default()
        };
        assert_eq!(info.effective_min_pin_length(), 8);
    }
}

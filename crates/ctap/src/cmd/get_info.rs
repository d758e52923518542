//! authenticatorGetInfo (CTAP 2.1 §6.4).

use super::{
    opt_uint, params, text_list, text_list_cbor, CommandCode, CtapRequest, CtapResponse,
    PubKeyCredParam,
};
use std::collections::BTreeMap;
use webauthn::cbor::{self, CborError, MapBuilder, MapReader, Value};

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
    pub versions: Vec<String>,
    pub extensions: Vec<String>,
    #[serde(serialize_with = "ser_aaguid")]
    pub aaguid: [u8; 16],
    pub options: BTreeMap<String, bool>,
    pub max_msg_size: Option<u64>,
    pub pin_uv_auth_protocols: Vec<u64>,
    pub max_credential_count_in_list: Option<u64>,
    pub max_credential_id_length: Option<u64>,
    pub transports: Vec<String>,
    pub algorithms: Vec<PubKeyCredParam>,
    pub max_serialized_large_blob_array: Option<u64>,
    pub force_pin_change: Option<bool>,
    pub min_pin_length: Option<u64>,
    pub firmware_version: Option<u64>,
    pub max_cred_blob_length: Option<u64>,
    pub max_rpids_for_set_min_pin_length: Option<u64>,
    pub preferred_platform_uv_attempts: Option<u64>,
    pub uv_modality: Option<u64>,
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

    pub fn supports_extension(&self, name: &str) -> bool {
        self.extensions.iter().any(|e| e == name)
    }

    /// The key's minimum PIN length, or CTAP's default of 4.
    pub fn effective_min_pin_length(&self) -> usize {
        self.min_pin_length
            .map_or(crate::pin::DEFAULT_MIN_PIN_LENGTH, |n| n as usize)
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
                .int(0x01, text_list_cbor(&self.versions))
                .opt_int(0x02, nonempty(&self.extensions))
                .int(0x03, self.aaguid.to_vec())
                .opt_int(0x04, (!self.options.is_empty()).then_some(options))
                .opt_int(0x05, self.max_msg_size)
                .opt_int(
                    0x06,
                    (!self.pin_uv_auth_protocols.is_empty())
                        .then(|| uints(&self.pin_uv_auth_protocols)),
                )
                .opt_int(0x07, self.max_credential_count_in_list)
                .opt_int(0x08, self.max_credential_id_length)
                .opt_int(0x09, nonempty(&self.transports))
                .opt_int(
                    0x0A,
                    (!self.algorithms.is_empty()).then(|| {
                        Value::Array(
                            self.algorithms
                                .iter()
                                .map(PubKeyCredParam::to_cbor)
                                .collect(),
                        )
                    }),
                )
                .opt_int(0x0B, self.max_serialized_large_blob_array)
                .opt_int(0x0C, self.force_pin_change)
                .opt_int(0x0D, self.min_pin_length)
                .opt_int(0x0E, self.firmware_version)
                .opt_int(0x0F, self.max_cred_blob_length)
                .opt_int(0x10, self.max_rpids_for_set_min_pin_length)
                .opt_int(0x11, self.preferred_platform_uv_attempts)
                .opt_int(0x12, self.uv_modality)
                .opt_int(0x14, self.remaining_discoverable_credentials)
                .build(),
        )
    }

    fn from_cbor(body: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(body)?;
        let versions = text_list(m.require(0x01, "versions")?, "versions")?;
        let extensions = m
            .take(0x02)
            .map(|v| text_list(v, "extensions"))
            .transpose()?
            .unwrap_or_default();
        let aaguid: [u8; 16] = m
            .bytes(0x03, "aaguid")?
            .try_into()
            .map_err(|_| CborError::InvalidValue("aaguid"))?;
        let mut options = BTreeMap::new();
        if let Some(o) = m.take(0x04) {
            for (k, v) in MapReader::new(o, "options")?.into_entries() {
                // Options are text keys with boolean values; skip others.
                if let (Value::Text(k), Value::Bool(v)) = (k, v) {
                    options.insert(k, v);
                }
            }
        }
        let pin_uv_auth_protocols = match m.take(0x06) {
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
            .take(0x09)
            .map(|v| text_list(v, "transports"))
            .transpose()?
            .unwrap_or_default();
        let algorithms = match m.take(0x0A) {
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
            max_msg_size: opt_uint(&mut m, 0x05, "maxMsgSize")?,
            pin_uv_auth_protocols,
            max_credential_count_in_list: opt_uint(&mut m, 0x07, "maxCredentialCountInList")?,
            max_credential_id_length: opt_uint(&mut m, 0x08, "maxCredentialIdLength")?,
            transports,
            algorithms,
            max_serialized_large_blob_array: opt_uint(&mut m, 0x0B, "maxSerializedLargeBlobArray")?,
            force_pin_change: m.opt_bool(0x0C, "forcePINChange")?,
            min_pin_length: opt_uint(&mut m, 0x0D, "minPINLength")?,
            firmware_version: opt_uint(&mut m, 0x0E, "firmwareVersion")?,
            max_cred_blob_length: opt_uint(&mut m, 0x0F, "maxCredBlobLength")?,
            max_rpids_for_set_min_pin_length: opt_uint(&mut m, 0x10, "maxRPIDsForSetMinPINLength")?,
            preferred_platform_uv_attempts: opt_uint(&mut m, 0x11, "preferredPlatformUvAttempts")?,
            uv_modality: opt_uint(&mut m, 0x12, "uvModality")?,
            remaining_discoverable_credentials: opt_uint(
                &mut m,
                0x14,
                "remainingDiscoverableCredentials",
            )?,
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

//! authenticatorMakeCredential (CTAP 2.1 §6.1) and its extensions.

use super::{
    descriptor_list, descriptor_list_cbor, params, CommandCode, CredentialDescriptor, CtapRequest,
    CtapResponse, KeyedMapBuilder, PubKeyCredParam, RequestOptions, RpEntity, UserEntity,
};
use crate::client::Ctap2Client;
use crate::error::Result;
use crate::transport::Transport;
use webauthn::cbor::{self, CborError, MapBuilder, MapReader, Value};

/// Extension inputs of makeCredential that Keysmith knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MakeCredentialExtensions {
    /// credProtect level 1, 2 or 3.
    pub cred_protect: Option<u8>,
    /// Create an hmac-secret for the credential.
    pub hmac_secret: Option<bool>,
    /// Ask for the key's minimum PIN length in the authenticator data (the
    /// RP must be in the key's minPinLengthRPIDs).
    pub min_pin_length: Option<bool>,
    /// A small blob stored with the credential.
    pub cred_blob: Option<Vec<u8>>,
    /// Create a largeBlobKey for the credential.
    pub large_blob_key: Option<bool>,
}

impl MakeCredentialExtensions {
    fn to_cbor(&self) -> Option<Value> {
        let b = MapBuilder::new()
            .opt_text("credProtect", self.cred_protect.map(i64::from))
            .opt_text("hmac-secret", self.hmac_secret)
            .opt_text("minPinLength", self.min_pin_length)
            .opt_text("credBlob", self.cred_blob.clone())
            .opt_text("largeBlobKey", self.large_blob_key);
        (!b.is_empty()).then(|| b.build())
    }

    fn from_cbor(v: Value) -> Result<Self, CborError> {
        let mut m = MapReader::new(v, "extensions")?;
        let cred_protect = match m.opt_int("credProtect", "extensions.credProtect")? {
            Some(level @ 1..=3) => Some(level as u8),
            Some(_) => return Err(CborError::InvalidValue("extensions.credProtect")),
            None => None,
        };
        // Unknown extensions are ignored (§6.1.2 step 4 / WebAuthn §9).
        Ok(Self {
            cred_protect,
            hmac_secret: m.opt_bool("hmac-secret", "extensions.hmac-secret")?,
            min_pin_length: m.opt_bool("minPinLength", "extensions.minPinLength")?,
            cred_blob: m.opt_bytes("credBlob", "extensions.credBlob")?,
            large_blob_key: m.opt_bool("largeBlobKey", "extensions.largeBlobKey")?,
        })
    }
}

/// An authenticatorMakeCredential request (CTAP 2.1 §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeCredentialRequest {
    /// SHA-256 of the clientDataJSON the attestation signs over.
    pub client_data_hash: Vec<u8>,
    /// The relying party.
    pub rp: RpEntity,
    /// The user (its id is the user handle, at most 64 bytes).
    pub user: UserEntity,
    /// Algorithms in the RP's order of preference (type public-key only).
    pub pub_key_cred_params: Vec<PubKeyCredParam>,
    /// Credentials the user has already: the key refuses to create another if it holds one.
    pub exclude_list: Vec<CredentialDescriptor>,
    /// Extension inputs.
    pub extensions: MakeCredentialExtensions,
    /// `rk` (discoverable), `up`, `uv` options.
    pub options: RequestOptions,
    /// `pinUvAuthParam`: the request authenticated with a PIN/UV auth token (absent: unauthenticated).
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// `pinUvAuthProtocol`: the PIN/UV auth protocol (1 or 2) of `pinUvAuthParam`.
    pub pin_uv_auth_protocol: Option<u64>,
    /// 1 = vendor-facilitated, 2 = platform-managed enterprise attestation.
    pub enterprise_attestation: Option<u64>,
}

map_keys! {
    /// The map keys of [`MakeCredentialRequest`], as CTAP 2.1 numbers and names them.
    pub struct MakeCredentialRequestKey {
        CLIENT_DATA_HASH = 0x01, "clientDataHash";
        RP = 0x02, "rp";
        USER = 0x03, "user";
        PUB_KEY_CRED_PARAMS = 0x04, "pubKeyCredParams";
        EXCLUDE_LIST = 0x05, "excludeList";
        EXTENSIONS = 0x06, "extensions";
        OPTIONS = 0x07, "options";
        PIN_UV_AUTH_PARAM = 0x08, "pinUvAuthParam";
        PIN_UV_AUTH_PROTOCOL = 0x09, "pinUvAuthProtocol";
        ENTERPRISE_ATTESTATION = 0x0A, "enterpriseAttestation";
    }
}

impl CtapRequest for MakeCredentialRequest {
    const COMMAND: CommandCode = CommandCode::MakeCredential;
    type Response = MakeCredentialResponse;

    fn to_cbor(&self) -> Option<Value> {
        Some(
            MapBuilder::new()
                .key(
                    MakeCredentialRequestKey::CLIENT_DATA_HASH,
                    self.client_data_hash.clone(),
                )
                .key(MakeCredentialRequestKey::RP, self.rp.to_cbor())
                .key(MakeCredentialRequestKey::USER, self.user.to_cbor())
                .key(
                    MakeCredentialRequestKey::PUB_KEY_CRED_PARAMS,
                    Value::Array(
                        self.pub_key_cred_params
                            .iter()
                            .map(PubKeyCredParam::to_cbor)
                            .collect(),
                    ),
                )
                .opt_key(
                    MakeCredentialRequestKey::EXCLUDE_LIST,
                    (!self.exclude_list.is_empty())
                        .then(|| descriptor_list_cbor(&self.exclude_list)),
                )
                .opt_key(
                    MakeCredentialRequestKey::EXTENSIONS,
                    self.extensions.to_cbor(),
                )
                .opt_key(MakeCredentialRequestKey::OPTIONS, self.options.to_cbor())
                .opt_key(
                    MakeCredentialRequestKey::PIN_UV_AUTH_PARAM,
                    self.pin_uv_auth_param.clone(),
                )
                .opt_key(
                    MakeCredentialRequestKey::PIN_UV_AUTH_PROTOCOL,
                    self.pin_uv_auth_protocol,
                )
                .opt_key(
                    MakeCredentialRequestKey::ENTERPRISE_ATTESTATION,
                    self.enterprise_attestation,
                )
                .build(),
        )
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        let client_data_hash = m.bytes(MakeCredentialRequestKey::CLIENT_DATA_HASH)?;
        let rp = RpEntity::from_cbor(m.require(MakeCredentialRequestKey::RP)?)?;
        let user = UserEntity::from_cbor(m.require(MakeCredentialRequestKey::USER)?)?;
        let mut pub_key_cred_params = Vec::new();
        for p in cbor::into_array(
            m.require(MakeCredentialRequestKey::PUB_KEY_CRED_PARAMS)?,
            "pubKeyCredParams",
        )? {
            if let Some(p) = PubKeyCredParam::from_cbor(p)? {
                pub_key_cred_params.push(p);
            }
        }
        let exclude_list = m
            .take(MakeCredentialRequestKey::EXCLUDE_LIST)
            .map(|v| descriptor_list(v, "excludeList"))
            .transpose()?
            .unwrap_or_default();
        let extensions = m
            .take(MakeCredentialRequestKey::EXTENSIONS)
            .map(MakeCredentialExtensions::from_cbor)
            .transpose()?
            .unwrap_or_default();
        let options = m
            .take(MakeCredentialRequestKey::OPTIONS)
            .map(RequestOptions::from_cbor)
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            client_data_hash,
            rp,
            user,
            pub_key_cred_params,
            exclude_list,
            extensions,
            options,
            pin_uv_auth_param: m.opt_bytes(MakeCredentialRequestKey::PIN_UV_AUTH_PARAM)?,
            pin_uv_auth_protocol: m.opt_uint(MakeCredentialRequestKey::PIN_UV_AUTH_PROTOCOL)?,
            enterprise_attestation: m.opt_uint(MakeCredentialRequestKey::ENTERPRISE_ATTESTATION)?,
        })
    }
}

/// An authenticatorMakeCredential response.
#[derive(Debug, Clone, PartialEq)]
pub struct MakeCredentialResponse {
    /// The attestation statement's format (`packed`, `none`, …).
    pub fmt: String,
    /// The authenticator data, with the attested credential data.
    pub auth_data: Vec<u8>,
    /// The attestation statement (a CBOR map whose shape `fmt` gives).
    pub att_stmt: Value,
    /// Enterprise attestation was returned.
    pub ep_att: Option<bool>,
    /// The credential's largeBlobKey, when asked.
    pub large_blob_key: Option<Vec<u8>>,
}

impl MakeCredentialResponse {
    /// The WebAuthn attestation object (`{"fmt", "attStmt", "authData"}`)
    /// that a relying party verifies.
    pub fn attestation_object(&self) -> Vec<u8> {
        cbor::encode(
            &MapBuilder::new()
                .text("fmt", self.fmt.as_str())
                .text("attStmt", self.att_stmt.clone())
                .text("authData", self.auth_data.clone())
                .build(),
        )
    }
}

map_keys! {
    /// The map keys of [`MakeCredentialResponse`], as CTAP 2.1 numbers and names them.
    pub struct MakeCredentialResponseKey {
        FMT = 0x01, "fmt";
        AUTH_DATA = 0x02, "authData";
        ATT_STMT = 0x03, "attStmt";
        EP_ATT = 0x04, "epAtt";
        LARGE_BLOB_KEY = 0x05, "largeBlobKey";
    }
}

impl CtapResponse for MakeCredentialResponse {
    fn to_cbor(&self) -> Option<Value> {
        Some(
            MapBuilder::new()
                .key(MakeCredentialResponseKey::FMT, self.fmt.as_str())
                .key(MakeCredentialResponseKey::AUTH_DATA, self.auth_data.clone())
                .key(MakeCredentialResponseKey::ATT_STMT, self.att_stmt.clone())
                .opt_key(MakeCredentialResponseKey::EP_ATT, self.ep_att)
                .opt_key(
                    MakeCredentialResponseKey::LARGE_BLOB_KEY,
                    self.large_blob_key.clone(),
                )
                .build(),
        )
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        let att_stmt = m.require(MakeCredentialResponseKey::ATT_STMT)?;
        if !matches!(att_stmt, Value::Map(_)) {
            return Err(CborError::UnexpectedType("attStmt"));
        }
        Ok(Self {
            fmt: m.text(MakeCredentialResponseKey::FMT)?,
            auth_data: m.bytes(MakeCredentialResponseKey::AUTH_DATA)?,
            att_stmt,
            ep_att: m.opt_bool(MakeCredentialResponseKey::EP_ATT)?,
            large_blob_key: m.opt_bytes(MakeCredentialResponseKey::LARGE_BLOB_KEY)?,
        })
    }
}

// ----- the client's verb -----

impl<T: Transport> Ctap2Client<T> {
    /// authenticatorMakeCredential. With a PIN/UV auth token, set the
    /// request's `pin_uv_auth_param` to
    /// [`PinUvAuthToken::authenticate`](crate::client::PinUvAuthToken::authenticate)
    /// over the clientDataHash (§6.1.2 step 1), and its protocol.
    pub fn make_credential(
        &mut self,
        request: &MakeCredentialRequest,
    ) -> Result<MakeCredentialResponse> {
        self.send(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_unknown_types_skipped() {
        let req = MakeCredentialRequest {
            client_data_hash: vec![1; 32],
            rp: RpEntity {
                id: "example.com".into(),
                name: Some("Example".into()),
            },
            user: UserEntity {
                id: vec![2; 16],
                name: Some("alice".into()),
                display_name: None,
            },
            pub_key_cred_params: vec![PubKeyCredParam { alg: -7 }, PubKeyCredParam { alg: -8 }],
            exclude_list: vec![CredentialDescriptor::new(vec![9; 20])],
            extensions: MakeCredentialExtensions {
                cred_protect: Some(2),
                hmac_secret: Some(true),
                ..Default::default()
            },
            options: RequestOptions {
                rk: Some(true),
                ..Default::default()
            },
            pin_uv_auth_param: Some(vec![5; 32]),
            pin_uv_auth_protocol: Some(2),
            enterprise_attestation: None,
        };
        let bytes = req.encode();
        assert_eq!(bytes[0], 0x01);
        let back =
            MakeCredentialRequest::from_cbor(Some(cbor::decode(&bytes[1..]).unwrap())).unwrap();
        assert_eq!(back, req);

        // A parameter of another type is skipped, not an error.
        let mut v = req.to_cbor().unwrap();
        if let Value::Map(entries) = &mut v {
            for (k, val) in entries.iter_mut() {
                if *k == cbor::int(4) {
                    *val = Value::Array(vec![MapBuilder::new()
                        .text("alg", -7)
                        .text("type", "other")
                        .build()]);
                }
            }
        }
        assert!(MakeCredentialRequest::from_cbor(Some(v))
            .unwrap()
            .pub_key_cred_params
            .is_empty());
    }

    #[test]
    fn missing_fields_are_named() {
        let v = MapBuilder::new().int(0x01, vec![0u8; 32]).build();
        assert_eq!(
            MakeCredentialRequest::from_cbor(Some(v)),
            Err(CborError::Missing("rp"))
        );
    }

    /// CTAP 2.1 §12.1: credProtect levels are 1, 2 and 3 only.
    #[test]
    fn cred_protect_levels() {
        let ext = |level: i64| {
            MakeCredentialExtensions::from_cbor(
                MapBuilder::new().text("credProtect", level).build(),
            )
        };
        for level in 1..=3 {
            assert_eq!(ext(level).unwrap().cred_protect, Some(level as u8));
        }
        for bad in [0, 4, -1] {
            assert_eq!(
                ext(bad),
                Err(CborError::InvalidValue("extensions.credProtect")),
                "{bad}"
            );
        }
        assert_eq!(MakeCredentialExtensions::default().to_cbor(), None);
        let all = MakeCredentialExtensions {
            cred_protect: Some(3),
            hmac_secret: Some(true),
            min_pin_length: Some(true),
            cred_blob: Some(vec![1, 2]),
            large_blob_key: Some(true),
        };
        assert_eq!(
            MakeCredentialExtensions::from_cbor(all.to_cbor().unwrap()),
            Ok(all)
        );
    }

    /// §6.1 request keys 0x01..0x0A and response keys 0x01..0x05; the
    /// attestation object (WebAuthn §6.5.4) in canonical key order.
    #[test]
    fn keys_and_attestation_object() {
        let req = MakeCredentialRequest {
            client_data_hash: vec![1; 32],
            rp: RpEntity {
                id: "example.com".into(),
                name: None,
            },
            user: UserEntity {
                id: vec![2],
                name: None,
                display_name: None,
            },
            pub_key_cred_params: vec![PubKeyCredParam { alg: -7 }],
            exclude_list: vec![CredentialDescriptor::new(vec![3])],
            extensions: MakeCredentialExtensions {
                large_blob_key: Some(true),
                ..Default::default()
            },
            options: RequestOptions {
                uv: Some(true),
                ..Default::default()
            },
            pin_uv_auth_param: Some(vec![4; 16]),
            pin_uv_auth_protocol: Some(1),
            enterprise_attestation: Some(2),
        };
        let v = req.to_cbor().unwrap();
        assert_eq!(super::super::int_keys(&v), (1..=10).collect::<Vec<_>>());
        assert_eq!(MakeCredentialRequest::from_cbor(Some(v)), Ok(req));
        for (missing, name) in [
            (1, "clientDataHash"),
            (2, "rp"),
            (3, "user"),
            (4, "pubKeyCredParams"),
        ] {
            let mut m = MapBuilder::new();
            if missing != 1 {
                m = m.int(1, vec![0u8; 32]);
            }
            if missing != 2 {
                m = m.int(2, MapBuilder::new().text("id", "x").build());
            }
            if missing != 3 {
                m = m.int(3, MapBuilder::new().text("id", vec![1u8]).build());
            }
            if missing != 4 {
                m = m.int(4, Value::Array(vec![]));
            }
            assert_eq!(
                MakeCredentialRequest::from_cbor(Some(m.build())),
                Err(CborError::Missing(name)),
                "{name}"
            );
        }

        let resp = MakeCredentialResponse {
            fmt: "packed".into(),
            auth_data: vec![5; 37],
            att_stmt: MapBuilder::new().text("alg", -7).build(),
            ep_att: Some(true),
            large_blob_key: Some(vec![6; 32]),
        };
        let v = resp.to_cbor().unwrap();
        let Value::Map(entries) = &v else { panic!() };
        assert_eq!(entries.len(), 5);
        assert_eq!(MakeCredentialResponse::from_cbor(Some(v)), Ok(resp.clone()));
        let obj = cbor::decode(&resp.attestation_object()).unwrap();
        let Value::Map(entries) = &obj else { panic!() };
        let names: Vec<String> = entries
            .iter()
            .map(|(k, _)| cbor::into_text(k.clone(), "k").unwrap())
            .collect();
        assert_eq!(names, ["fmt", "attStmt", "authData"]);
        let mut r = MapReader::new(obj, "o").unwrap();
        assert_eq!(r.text("fmt", "f"), Ok("packed".into()));
        assert_eq!(r.bytes("authData", "a"), Ok(vec![5; 37]));
        let bad = MapBuilder::new()
            .int(1, "none")
            .int(2, vec![0u8; 37])
            .int(3, vec![0u8])
            .build();
        assert_eq!(
            MakeCredentialResponse::from_cbor(Some(bad)),
            Err(CborError::UnexpectedType("attStmt"))
        );
    }
}

//! authenticatorGetAssertion (CTAP 2.1 §6.2) and its extensions.

use super::{
    descriptor_list, descriptor_list_cbor, opt_uint, params, CommandCode, CredentialDescriptor,
    CtapRequest, CtapResponse, RequestOptions, UserEntity,
};
use webauthn::cbor::{CborError, MapBuilder, MapReader, Value};
use webauthn::cose::CoseKey;

/// hmac-secret input (CTAP 2.1 §12.5): salts encrypted under a PIN
/// protocol shared secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacSecretInput {
    pub key_agreement: CoseKey,
    pub salt_enc: Vec<u8>,
    pub salt_auth: Vec<u8>,
    pub pin_uv_auth_protocol: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetAssertionExtensions {
    pub hmac_secret: Option<HmacSecretInput>,
    /// Return the credential's credBlob.
    pub cred_blob: Option<bool>,
    pub large_blob_key: Option<bool>,
}

impl GetAssertionExtensions {
    fn to_cbor(&self) -> Option<Value> {
        let hmac = self.hmac_secret.as_ref().map(|h| {
            MapBuilder::new()
                .int(0x01, h.key_agreement.to_cbor())
                .int(0x02, h.salt_enc.clone())
                .int(0x03, h.salt_auth.clone())
                .opt_int(0x04, h.pin_uv_auth_protocol)
                .build()
        });
        let b = MapBuilder::new()
            .opt_text("hmac-secret", hmac)
            .opt_text("credBlob", self.cred_blob)
            .opt_text("largeBlobKey", self.large_blob_key);
        (!b.is_empty()).then(|| b.build())
    }

    fn from_cbor(v: Value) -> Result<Self, CborError> {
        let mut m = MapReader::new(v, "extensions")?;
        let hmac_secret = match m.opt_map("hmac-secret", "extensions.hmac-secret")? {
            Some(mut h) => Some(HmacSecretInput {
                key_agreement: CoseKey::from_cbor(h.require(0x01, "hmac-secret.keyAgreement")?)?,
                salt_enc: h.bytes(0x02, "hmac-secret.saltEnc")?,
                salt_auth: h.bytes(0x03, "hmac-secret.saltAuth")?,
                pin_uv_auth_protocol: opt_uint(&mut h, 0x04, "hmac-secret.pinUvAuthProtocol")?,
            }),
            None => None,
        };
        Ok(Self {
            hmac_secret,
            cred_blob: m.opt_bool("credBlob", "extensions.credBlob")?,
            large_blob_key: m.opt_bool("largeBlobKey", "extensions.largeBlobKey")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAssertionRequest {
    pub rp_id: String,
    pub client_data_hash: Vec<u8>,
    pub allow_list: Vec<CredentialDescriptor>,
    pub extensions: GetAssertionExtensions,
    pub options: RequestOptions,
    pub pin_uv_auth_param: Option<Vec<u8>>,
    pub pin_uv_auth_protocol: Option<u64>,
}

impl CtapRequest for GetAssertionRequest {
    const COMMAND: CommandCode = CommandCode::GetAssertion;
    type Response = GetAssertionResponse;

    fn to_cbor(&self) -> Option<Value> {
        Some(
            MapBuilder::new()
                .int(0x01, self.rp_id.as_str())
                .int(0x02, self.client_data_hash.clone())
                .opt_int(
                    0x03,
                    (!self.allow_list.is_empty()).then(|| descriptor_list_cbor(&self.allow_list)),
                )
                .opt_int(0x04, self.extensions.to_cbor())
                .opt_int(0x05, self.options.to_cbor())
                .opt_int(0x06, self.pin_uv_auth_param.clone())
                .opt_int(0x07, self.pin_uv_auth_protocol)
                .build(),
        )
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        Ok(Self {
            rp_id: m.text(0x01, "rpId")?,
            client_data_hash: m.bytes(0x02, "clientDataHash")?,
            allow_list: m
                .take(0x03)
                .map(|v| descriptor_list(v, "allowList"))
                .transpose()?
                .unwrap_or_default(),
            extensions: m
                .take(0x04)
                .map(GetAssertionExtensions::from_cbor)
                .transpose()?
                .unwrap_or_default(),
            options: m
                .take(0x05)
                .map(RequestOptions::from_cbor)
                .transpose()?
                .unwrap_or_default(),
            pin_uv_auth_param: m.opt_bytes(0x06, "pinUvAuthParam")?,
            pin_uv_auth_protocol: opt_uint(&mut m, 0x07, "pinUvAuthProtocol")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAssertionResponse {
    pub credential: CredentialDescriptor,
    pub auth_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub user: Option<UserEntity>,
    /// Total matching credentials (first response of a discoverable
    /// assertion only); the rest come with getNextAssertion.
    pub number_of_credentials: Option<u64>,
    pub user_selected: Option<bool>,
    pub large_blob_key: Option<Vec<u8>>,
}

impl CtapResponse for GetAssertionResponse {
    fn to_cbor(&self) -> Option<Value> {
        Some(
            MapBuilder::new()
                .int(0x01, self.credential.to_cbor())
                .int(0x02, self.auth_data.clone())
                .int(0x03, self.signature.clone())
                .opt_int(0x04, self.user.as_ref().map(UserEntity::to_cbor))
                .opt_int(0x05, self.number_of_credentials)
                .opt_int(0x06, self.user_selected)
                .opt_int(0x07, self.large_blob_key.clone())
                .build(),
        )
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        let credential = CredentialDescriptor::from_cbor(m.require(0x01, "credential")?)?
            .ok_or(CborError::InvalidValue("credential.type"))?;
        Ok(Self {
            credential,
            auth_data: m.bytes(0x02, "authData")?,
            signature: m.bytes(0x03, "signature")?,
            user: m.take(0x04).map(UserEntity::from_cbor).transpose()?,
            number_of_credentials: opt_uint(&mut m, 0x05, "numberOfCredentials")?,
            user_selected: m.opt_bool(0x06, "userSelected")?,
            large_blob_key: m.opt_bytes(0x07, "largeBlobKey")?,
        })
    }
}

//! authenticatorGetAssertion (CTAP 2.1 §6.2) and its extensions.

use super::{
    descriptor_list, descriptor_list_cbor, params, CommandCode, CredentialDescriptor, CtapRequest,
    CtapResponse, KeyedMapBuilder, Params, RequestOptions, UserEntity,
};
use crate::client::Ctap2Client;
use crate::cmd::simple::GetNextAssertionRequest;
use crate::error::Result;
use crate::transport::Transport;
use webauthn::cbor::{CborError, MapBuilder, MapReader, Value};
use webauthn::cose::CoseKey;

/// hmac-secret input (CTAP 2.1 §12.5): salts encrypted under a PIN
/// protocol shared secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacSecretInput {
    /// The platform's key-agreement public key.
    pub key_agreement: CoseKey,
    /// One or two 32-byte salts, encrypted under the shared secret.
    pub salt_enc: Vec<u8>,
    /// `saltEnc` authenticated with the shared secret.
    pub salt_auth: Vec<u8>,
    /// The PIN/UV auth protocol of the shared secret (protocol one when absent).
    pub pin_uv_auth_protocol: Option<u64>,
}

/// Extension inputs of getAssertion that Keysmith knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetAssertionExtensions {
    /// Derive hmac-secret outputs from these salts.
    pub hmac_secret: Option<HmacSecretInput>,
    /// Return the credential's credBlob.
    pub cred_blob: Option<bool>,
    /// Return the credential's largeBlobKey.
    pub large_blob_key: Option<bool>,
}

map_keys! {
    /// The map keys of [`HmacSecretInput`] (the hmac-secret extension's input), as CTAP 2.1 numbers and names them.
    pub struct HmacSecretInputKey {
        KEY_AGREEMENT = 0x01, "hmac-secret.keyAgreement";
        SALT_ENC = 0x02, "hmac-secret.saltEnc";
        SALT_AUTH = 0x03, "hmac-secret.saltAuth";
        PIN_UV_AUTH_PROTOCOL = 0x04, "hmac-secret.pinUvAuthProtocol";
    }
}

impl GetAssertionExtensions {
    fn to_cbor(&self) -> Option<Value> {
        let hmac = self.hmac_secret.as_ref().map(|h| {
            MapBuilder::new()
                .key(HmacSecretInputKey::KEY_AGREEMENT, h.key_agreement.to_cbor())
                .key(HmacSecretInputKey::SALT_ENC, h.salt_enc.clone())
                .key(HmacSecretInputKey::SALT_AUTH, h.salt_auth.clone())
                .opt_key(
                    HmacSecretInputKey::PIN_UV_AUTH_PROTOCOL,
                    h.pin_uv_auth_protocol,
                )
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
        let hmac_secret = match m.take("hmac-secret") {
            Some(h) => {
                let mut h = Params::new(h, "extensions.hmac-secret")?;
                Some(HmacSecretInput {
                    key_agreement: CoseKey::from_cbor(
                        h.require(HmacSecretInputKey::KEY_AGREEMENT)?,
                    )?,
                    salt_enc: h.bytes(HmacSecretInputKey::SALT_ENC)?,
                    salt_auth: h.bytes(HmacSecretInputKey::SALT_AUTH)?,
                    pin_uv_auth_protocol: h.opt_uint(HmacSecretInputKey::PIN_UV_AUTH_PROTOCOL)?,
                })
            }
            None => None,
        };
        Ok(Self {
            hmac_secret,
            cred_blob: m.opt_bool("credBlob", "extensions.credBlob")?,
            large_blob_key: m.opt_bool("largeBlobKey", "extensions.largeBlobKey")?,
        })
    }
}

/// An authenticatorGetAssertion request (CTAP 2.1 §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAssertionRequest {
    /// The RP ID the credential must be scoped to.
    pub rp_id: String,
    /// SHA-256 of the clientDataJSON the assertion signs over.
    pub client_data_hash: Vec<u8>,
    /// Credentials to use (empty: a discoverable credential of the RP).
    pub allow_list: Vec<CredentialDescriptor>,
    /// Extension inputs.
    pub extensions: GetAssertionExtensions,
    /// `up` / `uv` options (`rk` is not allowed here).
    pub options: RequestOptions,
    /// `pinUvAuthParam`: the request authenticated with a PIN/UV auth token (absent: unauthenticated).
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// `pinUvAuthProtocol`: the PIN/UV auth protocol (1 or 2) of `pinUvAuthParam`.
    pub pin_uv_auth_protocol: Option<u64>,
}

map_keys! {
    /// The map keys of [`GetAssertionRequest`], as CTAP 2.1 numbers and names them.
    pub struct GetAssertionRequestKey {
        RP_ID = 0x01, "rpId";
        CLIENT_DATA_HASH = 0x02, "clientDataHash";
        ALLOW_LIST = 0x03, "allowList";
        EXTENSIONS = 0x04, "extensions";
        OPTIONS = 0x05, "options";
        PIN_UV_AUTH_PARAM = 0x06, "pinUvAuthParam";
        PIN_UV_AUTH_PROTOCOL = 0x07, "pinUvAuthProtocol";
    }
}

impl CtapRequest for GetAssertionRequest {
    const COMMAND: CommandCode = CommandCode::GetAssertion;
    type Response = GetAssertionResponse;

    fn to_cbor(&self) -> Option<Value> {
        Some(
            MapBuilder::new()
                .key(GetAssertionRequestKey::RP_ID, self.rp_id.as_str())
                .key(
                    GetAssertionRequestKey::CLIENT_DATA_HASH,
                    self.client_data_hash.clone(),
                )
                .opt_key(
                    GetAssertionRequestKey::ALLOW_LIST,
                    (!self.allow_list.is_empty()).then(|| descriptor_list_cbor(&self.allow_list)),
                )
                .opt_key(
                    GetAssertionRequestKey::EXTENSIONS,
                    self.extensions.to_cbor(),
                )
                .opt_key(GetAssertionRequestKey::OPTIONS, self.options.to_cbor())
                .opt_key(
                    GetAssertionRequestKey::PIN_UV_AUTH_PARAM,
                    self.pin_uv_auth_param.clone(),
                )
                .opt_key(
                    GetAssertionRequestKey::PIN_UV_AUTH_PROTOCOL,
                    self.pin_uv_auth_protocol,
                )
                .build(),
        )
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        Ok(Self {
            rp_id: m.text(GetAssertionRequestKey::RP_ID)?,
            client_data_hash: m.bytes(GetAssertionRequestKey::CLIENT_DATA_HASH)?,
            allow_list: m
                .take(GetAssertionRequestKey::ALLOW_LIST)
                .map(|v| descriptor_list(v, "allowList"))
                .transpose()?
                .unwrap_or_default(),
            extensions: m
                .take(GetAssertionRequestKey::EXTENSIONS)
                .map(GetAssertionExtensions::from_cbor)
                .transpose()?
                .unwrap_or_default(),
            options: m
                .take(GetAssertionRequestKey::OPTIONS)
                .map(RequestOptions::from_cbor)
                .transpose()?
                .unwrap_or_default(),
            pin_uv_auth_param: m.opt_bytes(GetAssertionRequestKey::PIN_UV_AUTH_PARAM)?,
            pin_uv_auth_protocol: m.opt_uint(GetAssertionRequestKey::PIN_UV_AUTH_PROTOCOL)?,
        })
    }
}

/// An authenticatorGetAssertion (or getNextAssertion) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAssertionResponse {
    /// The credential that signed.
    pub credential: CredentialDescriptor,
    /// The authenticator data signed over.
    pub auth_data: Vec<u8>,
    /// The signature over authData ‖ clientDataHash.
    pub signature: Vec<u8>,
    /// The credential's user (discoverable credentials; only the id unless the user was verified).
    pub user: Option<UserEntity>,
    /// Total matching credentials (first response of a discoverable
    /// assertion only); the rest come with getNextAssertion.
    pub number_of_credentials: Option<u64>,
    /// The user picked this credential on the key's own display.
    pub user_selected: Option<bool>,
    /// The credential's largeBlobKey, when asked.
    pub large_blob_key: Option<Vec<u8>>,
}

map_keys! {
    /// The map keys of [`GetAssertionResponse`], as CTAP 2.1 numbers and names them.
    pub struct GetAssertionResponseKey {
        CREDENTIAL = 0x01, "credential";
        AUTH_DATA = 0x02, "authData";
        SIGNATURE = 0x03, "signature";
        USER = 0x04, "user";
        NUMBER_OF_CREDENTIALS = 0x05, "numberOfCredentials";
        USER_SELECTED = 0x06, "userSelected";
        LARGE_BLOB_KEY = 0x07, "largeBlobKey";
    }
}

impl CtapResponse for GetAssertionResponse {
    fn to_cbor(&self) -> Option<Value> {
        Some(
            MapBuilder::new()
                .key(
                    GetAssertionResponseKey::CREDENTIAL,
                    self.credential.to_cbor(),
                )
                .key(GetAssertionResponseKey::AUTH_DATA, self.auth_data.clone())
                .key(GetAssertionResponseKey::SIGNATURE, self.signature.clone())
                .opt_key(
                    GetAssertionResponseKey::USER,
                    self.user.as_ref().map(UserEntity::to_cbor),
                )
                .opt_key(
                    GetAssertionResponseKey::NUMBER_OF_CREDENTIALS,
                    self.number_of_credentials,
                )
                .opt_key(GetAssertionResponseKey::USER_SELECTED, self.user_selected)
                .opt_key(
                    GetAssertionResponseKey::LARGE_BLOB_KEY,
                    self.large_blob_key.clone(),
                )
                .build(),
        )
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        let credential =
            CredentialDescriptor::from_cbor(m.require(GetAssertionResponseKey::CREDENTIAL)?)?
                .ok_or(CborError::InvalidValue("credential.type"))?;
        Ok(Self {
            credential,
            auth_data: m.bytes(GetAssertionResponseKey::AUTH_DATA)?,
            signature: m.bytes(GetAssertionResponseKey::SIGNATURE)?,
            user: m
                .take(GetAssertionResponseKey::USER)
                .map(UserEntity::from_cbor)
                .transpose()?,
            number_of_credentials: m.opt_uint(GetAssertionResponseKey::NUMBER_OF_CREDENTIALS)?,
            user_selected: m.opt_bool(GetAssertionResponseKey::USER_SELECTED)?,
            large_blob_key: m.opt_bytes(GetAssertionResponseKey::LARGE_BLOB_KEY)?,
        })
    }
}

// ----- the client's verb -----

impl<T: Transport> Ctap2Client<T> {
    /// authenticatorGetAssertion followed by getNextAssertion for every
    /// further credential.
    pub fn get_assertions(
        &mut self,
        request: &GetAssertionRequest,
    ) -> Result<Vec<GetAssertionResponse>> {
        let first = self.send(request)?;
        let n = first.number_of_credentials.unwrap_or(1);
        let mut out = vec![first];
        for _ in 1..n {
            out.push(self.send(&GetNextAssertionRequest)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::int_keys;
    use super::*;
    use webauthn::cbor;

    /// CTAP 2.1 §6.2 parameter keys 0x01 rpId … 0x07 pinUvAuthProtocol;
    /// an empty allow list, extensions or options are left out.
    #[test]
    fn request_keys_and_round_trip() {
        let minimal = GetAssertionRequest {
            rp_id: "example.com".into(),
            client_data_hash: vec![1; 32],
            allow_list: vec![],
            extensions: GetAssertionExtensions::default(),
            options: RequestOptions::default(),
            pin_uv_auth_param: None,
            pin_uv_auth_protocol: None,
        };
        assert_eq!(int_keys(&minimal.to_cbor().unwrap()), [1, 2]);
        assert_eq!(minimal.encode()[0], 0x02);
        assert_eq!(
            GetAssertionRequest::from_cbor(minimal.to_cbor()),
            Ok(minimal.clone())
        );
        let full = GetAssertionRequest {
            allow_list: vec![CredentialDescriptor::new(vec![2; 16])],
            extensions: GetAssertionExtensions {
                hmac_secret: Some(HmacSecretInput {
                    key_agreement: CoseKey::Ed25519 {
                        alg: -8,
                        x: [3; 32],
                    },
                    salt_enc: vec![4; 48],
                    salt_auth: vec![5; 32],
                    pin_uv_auth_protocol: Some(2),
                }),
                cred_blob: Some(true),
                large_blob_key: Some(false),
            },
            options: RequestOptions {
                up: Some(false),
                ..Default::default()
            },
            pin_uv_auth_param: Some(vec![6; 32]),
            pin_uv_auth_protocol: Some(2),
            ..minimal
        };
        let v = full.to_cbor().unwrap();
        assert_eq!(int_keys(&v), (1..=7).collect::<Vec<_>>());
        assert_eq!(GetAssertionRequest::from_cbor(Some(v)), Ok(full));
        assert_eq!(
            GetAssertionRequest::from_cbor(None),
            Err(CborError::Missing("rpId"))
        );
    }

    /// §12.5 hmac-secret input: 0x01 keyAgreement, 0x02 saltEnc, 0x03
    /// saltAuth, 0x04 pinUvAuthProtocol.
    #[test]
    fn extension_inputs() {
        assert_eq!(GetAssertionExtensions::default().to_cbor(), None);
        let blob = GetAssertionExtensions {
            cred_blob: Some(true),
            ..Default::default()
        };
        // {"credBlob": true}
        let mut want = vec![0xa1, 0x68];
        want.extend(b"credBlob");
        want.push(0xf5);
        assert_eq!(cbor::encode(&blob.to_cbor().unwrap()), want);
        let missing_salt = MapBuilder::new()
            .text(
                "hmac-secret",
                MapBuilder::new()
                    .int(
                        0x01,
                        CoseKey::Ed25519 {
                            alg: -8,
                            x: [3; 32],
                        }
                        .to_cbor(),
                    )
                    .int(0x03, vec![1u8; 32])
                    .build(),
            )
            .build();
        assert_eq!(
            GetAssertionExtensions::from_cbor(missing_salt),
            Err(CborError::Missing("hmac-secret.saltEnc"))
        );
    }

    /// §6.2 response keys 0x01 credential … 0x07 largeBlobKey.
    #[test]
    fn response_keys_and_round_trip() {
        let r = GetAssertionResponse {
            credential: CredentialDescriptor::new(vec![1; 16]),
            auth_data: vec![2; 37],
            signature: vec![3; 70],
            user: Some(UserEntity {
                id: vec![4],
                name: Some("n".into()),
                display_name: None,
            }),
            number_of_credentials: Some(2),
            user_selected: Some(true),
            large_blob_key: Some(vec![5; 32]),
        };
        let v = r.to_cbor().unwrap();
        assert_eq!(int_keys(&v), (1..=7).collect::<Vec<_>>());
        assert_eq!(GetAssertionResponse::from_cbor(Some(v)), Ok(r.clone()));
        let bare = GetAssertionResponse {
            user: None,
            number_of_credentials: None,
            user_selected: None,
            large_blob_key: None,
            ..r
        };
        assert_eq!(int_keys(&bare.to_cbor().unwrap()).len(), 3);
        let other_type = MapBuilder::new()
            .int(
                0x01,
                MapBuilder::new()
                    .text("id", vec![1u8])
                    .text("type", "x")
                    .build(),
            )
            .int(0x02, vec![0u8; 37])
            .int(0x03, vec![0u8; 8])
            .build();
        assert_eq!(
            GetAssertionResponse::from_cbor(Some(other_type)),
            Err(CborError::InvalidValue("credential.type"))
        );
    }
}

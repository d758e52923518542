//! authenticatorCredentialManagement (CTAP 2.1 §6.8).

use super::{
    params, CommandCode, CredentialDescriptor, CtapRequest, CtapResponse, KeyedMapBuilder, Params,
    RpEntity, UserEntity,
};
use crate::client::Ctap2Client;
use crate::cmd::client_pin::PinUvAuthToken;
use crate::error::{Error, Result};
use crate::status::StatusCode;
use crate::transport::Transport;
use webauthn::cbor::{self, CborError, MapBuilder, Value};
use webauthn::cose::CoseKey;

wire_enum! {
    /// credentialManagement sub-commands (CTAP 2.1 §6.8).
    pub enum CredMgmtSubCommand {
        GetCredsMetadata = 0x01,
        EnumerateRpsBegin = 0x02,
        EnumerateRpsGetNextRp = 0x03,
        EnumerateCredentialsBegin = 0x04,
        EnumerateCredentialsGetNextCredential = 0x05,
        DeleteCredential = 0x06,
        UpdateUserInformation = 0x07,
        _ => Unknown(u8),
    }
}

/// subCommandParams.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CredMgmtParams {
    /// SHA-256 of the RP ID whose credentials to enumerate.
    pub rp_id_hash: Option<Vec<u8>>,
    /// The credential to delete or update.
    pub credential_id: Option<CredentialDescriptor>,
    /// The new user information (updateUserInformation).
    pub user: Option<UserEntity>,
}

map_keys! {
    /// The map keys of [`CredMgmtParams`], as CTAP 2.1 numbers and names them.
    pub struct CredMgmtParamsKey {
        RP_ID_HASH = 0x01, "rpIDHash";
        CREDENTIAL_ID = 0x02, "credentialId";
        USER = 0x03, "user";
    }
}

impl CredMgmtParams {
    /// The parameters as a CBOR map (what `pinUvAuthParam` also authenticates).
    pub fn to_cbor(&self) -> Value {
        MapBuilder::new()
            .opt_key(CredMgmtParamsKey::RP_ID_HASH, self.rp_id_hash.clone())
            .opt_key(
                CredMgmtParamsKey::CREDENTIAL_ID,
                self.credential_id
                    .as_ref()
                    .map(CredentialDescriptor::to_cbor),
            )
            .opt_key(
                CredMgmtParamsKey::USER,
                self.user.as_ref().map(UserEntity::to_cbor),
            )
            .build()
    }

    fn from_cbor(v: Value) -> Result<Self, CborError> {
        let mut m = Params::new(v, "subCommandParams")?;
        Ok(Self {
            rp_id_hash: m.opt_bytes(CredMgmtParamsKey::RP_ID_HASH)?,
            credential_id: match m.take(CredMgmtParamsKey::CREDENTIAL_ID) {
                Some(v) => Some(
                    CredentialDescriptor::from_cbor(v)?
                        .ok_or(CborError::InvalidValue("credentialID"))?,
                ),
                None => None,
            },
            user: m
                .take(CredMgmtParamsKey::USER)
                .map(UserEntity::from_cbor)
                .transpose()?,
        })
    }
}

/// An authenticatorCredentialManagement request (CTAP 2.1 §6.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredMgmtRequest {
    /// What to do: metadata, enumerate RPs or credentials, delete, update.
    pub sub_command: CredMgmtSubCommand,
    /// The sub-command's parameters, if it takes any.
    pub params: Option<CredMgmtParams>,
    /// `pinUvAuthProtocol`: the PIN/UV auth protocol (1 or 2) of `pinUvAuthParam`.
    pub pin_uv_auth_protocol: Option<u64>,
    /// `pinUvAuthParam`: the request authenticated with a PIN/UV auth token (absent: unauthenticated).
    pub pin_uv_auth_param: Option<Vec<u8>>,
}

impl CredMgmtRequest {
    /// The message `pinUvAuthParam` authenticates: subCommand ‖
    /// CBOR(subCommandParams) (§6.8.2 and following).
    pub fn auth_message(&self) -> Vec<u8> {
        let mut out = vec![self.sub_command.to_byte()];
        if let Some(p) = &self.params {
            out.extend(cbor::encode(&p.to_cbor()));
        }
        out
    }
}

map_keys! {
    /// The map keys of [`CredMgmtRequest`], as CTAP 2.1 numbers and names them.
    pub struct CredMgmtRequestKey {
        SUB_COMMAND = 0x01, "subCommand";
        PARAMS = 0x02, "params";
        PIN_UV_AUTH_PROTOCOL = 0x03, "pinUvAuthProtocol";
        PIN_UV_AUTH_PARAM = 0x04, "pinUvAuthParam";
    }
}

impl CtapRequest for CredMgmtRequest {
    const COMMAND: CommandCode = CommandCode::CredentialManagement;
    type Response = CredMgmtResponse;

    fn to_cbor(&self) -> Option<Value> {
        Some(
            MapBuilder::new()
                .key(
                    CredMgmtRequestKey::SUB_COMMAND,
                    u64::from(self.sub_command.to_byte()),
                )
                .opt_key(
                    CredMgmtRequestKey::PARAMS,
                    self.params.as_ref().map(CredMgmtParams::to_cbor),
                )
                .opt_key(
                    CredMgmtRequestKey::PIN_UV_AUTH_PROTOCOL,
                    self.pin_uv_auth_protocol,
                )
                .opt_key(
                    CredMgmtRequestKey::PIN_UV_AUTH_PARAM,
                    self.pin_uv_auth_param.clone(),
                )
                .build(),
        )
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        let sub = u8::try_from(m.int(CredMgmtRequestKey::SUB_COMMAND)?)
            .map_err(|_| CborError::InvalidValue("subCommand"))?;
        Ok(Self {
            sub_command: CredMgmtSubCommand::from_byte(sub),
            params: m
                .take(CredMgmtRequestKey::PARAMS)
                .map(CredMgmtParams::from_cbor)
                .transpose()?,
            pin_uv_auth_protocol: m.opt_uint(CredMgmtRequestKey::PIN_UV_AUTH_PROTOCOL)?,
            pin_uv_auth_param: m.opt_bytes(CredMgmtRequestKey::PIN_UV_AUTH_PARAM)?,
        })
    }
}

/// An authenticatorCredentialManagement response: the members the sub-command returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CredMgmtResponse {
    /// Discoverable credentials stored (getCredsMetadata).
    pub existing_resident_credentials_count: Option<u64>,
    /// How many more fit (getCredsMetadata).
    pub max_possible_remaining_resident_credentials_count: Option<u64>,
    /// An RP with credentials on the key (enumerateRPs).
    pub rp: Option<RpEntity>,
    /// SHA-256 of that RP's ID.
    pub rp_id_hash: Option<Vec<u8>>,
    /// How many RPs there are (first enumerateRPs answer only).
    pub total_rps: Option<u64>,
    /// A credential's user (enumerateCredentials).
    pub user: Option<UserEntity>,
    /// The credential.
    pub credential_id: Option<CredentialDescriptor>,
    /// Its public key.
    pub public_key: Option<CoseKey>,
    /// How many credentials the RP has (first enumerateCredentials answer only).
    pub total_credentials: Option<u64>,
    /// Its credProtect level (1–3).
    pub cred_protect: Option<u64>,
    /// Its largeBlobKey, if it has one.
    pub large_blob_key: Option<Vec<u8>>,
}

map_keys! {
    /// The map keys of [`CredMgmtResponse`], as CTAP 2.1 numbers and names them.
    pub struct CredMgmtResponseKey {
        EXISTING_RESIDENT_CREDENTIALS_COUNT = 0x01, "existingResidentCredentialsCount";
        MAX_POSSIBLE_REMAINING_RESIDENT_CREDENTIALS_COUNT = 0x02, "maxPossibleRemainingResidentCredentialsCount";
        RP = 0x03, "rp";
        RP_ID_HASH = 0x04, "rpIDHash";
        TOTAL_RPS = 0x05, "totalRPs";
        USER = 0x06, "user";
        CREDENTIAL_ID = 0x07, "credentialId";
        PUBLIC_KEY = 0x08, "publicKey";
        TOTAL_CREDENTIALS = 0x09, "totalCredentials";
        CRED_PROTECT = 0x0A, "credProtect";
        LARGE_BLOB_KEY = 0x0B, "largeBlobKey";
    }
}

impl CtapResponse for CredMgmtResponse {
    fn to_cbor(&self) -> Option<Value> {
        let b = MapBuilder::new()
            .opt_key(
                CredMgmtResponseKey::EXISTING_RESIDENT_CREDENTIALS_COUNT,
                self.existing_resident_credentials_count,
            )
            .opt_key(
                CredMgmtResponseKey::MAX_POSSIBLE_REMAINING_RESIDENT_CREDENTIALS_COUNT,
                self.max_possible_remaining_resident_credentials_count,
            )
            .opt_key(
                CredMgmtResponseKey::RP,
                self.rp.as_ref().map(RpEntity::to_cbor),
            )
            .opt_key(CredMgmtResponseKey::RP_ID_HASH, self.rp_id_hash.clone())
            .opt_key(CredMgmtResponseKey::TOTAL_RPS, self.total_rps)
            .opt_key(
                CredMgmtResponseKey::USER,
                self.user.as_ref().map(UserEntity::to_cbor),
            )
            .opt_key(
                CredMgmtResponseKey::CREDENTIAL_ID,
                self.credential_id
                    .as_ref()
                    .map(CredentialDescriptor::to_cbor),
            )
            .opt_key(
                CredMgmtResponseKey::PUBLIC_KEY,
                self.public_key.as_ref().map(CoseKey::to_cbor),
            )
            .opt_key(
                CredMgmtResponseKey::TOTAL_CREDENTIALS,
                self.total_credentials,
            )
            .opt_key(CredMgmtResponseKey::CRED_PROTECT, self.cred_protect)
            .opt_key(
                CredMgmtResponseKey::LARGE_BLOB_KEY,
                self.large_blob_key.clone(),
            );
        (!b.is_empty()).then(|| b.build())
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        Ok(Self {
            existing_resident_credentials_count: m
                .opt_uint(CredMgmtResponseKey::EXISTING_RESIDENT_CREDENTIALS_COUNT)?,
            max_possible_remaining_resident_credentials_count: m
                .opt_uint(CredMgmtResponseKey::MAX_POSSIBLE_REMAINING_RESIDENT_CREDENTIALS_COUNT)?,
            rp: m
                .take(CredMgmtResponseKey::RP)
                .map(RpEntity::from_cbor)
                .transpose()?,
            rp_id_hash: m.opt_bytes(CredMgmtResponseKey::RP_ID_HASH)?,
            total_rps: m.opt_uint(CredMgmtResponseKey::TOTAL_RPS)?,
            user: m
                .take(CredMgmtResponseKey::USER)
                .map(UserEntity::from_cbor)
                .transpose()?,
            credential_id: match m.take(CredMgmtResponseKey::CREDENTIAL_ID) {
                Some(v) => CredentialDescriptor::from_cbor(v)?,
                None => None,
            },
            public_key: m
                .take(CredMgmtResponseKey::PUBLIC_KEY)
                .map(CoseKey::from_cbor)
                .transpose()?,
            total_credentials: m.opt_uint(CredMgmtResponseKey::TOTAL_CREDENTIALS)?,
            cred_protect: m.opt_uint(CredMgmtResponseKey::CRED_PROTECT)?,
            large_blob_key: m.opt_bytes(CredMgmtResponseKey::LARGE_BLOB_KEY)?,
        })
    }
}

/// A discoverable credential as credential management reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCredential {
    /// The RP the credential is for.
    pub rp: RpEntity,
    #[serde(serialize_with = "ser_hex")]
    /// SHA-256 of the RP ID (what the key stores when it does not keep the ID).
    pub rp_id_hash: Vec<u8>,
    /// The user the credential is for.
    pub user: UserEntity,
    #[serde(serialize_with = "ser_b64")]
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// Its credProtect level (1–3), if the key reports one.
    pub cred_protect: Option<u64>,
}

fn ser_hex<S: serde::Serializer>(b: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}
fn ser_b64<S: serde::Serializer>(b: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&webauthn::b64::encode(b))
}

// ----- the client's verbs -----

impl<T: Transport> Ctap2Client<T> {
    fn cred_mgmt(
        &mut self,
        token: Option<&PinUvAuthToken>,
        sub_command: CredMgmtSubCommand,
        params: Option<CredMgmtParams>,
    ) -> Result<CredMgmtResponse> {
        if self.info().option("credMgmt") != Some(true) {
            return Err(Error::Unsupported("credential management".into()));
        }
        let mut req = CredMgmtRequest {
            sub_command,
            params,
            pin_uv_auth_protocol: None,
            pin_uv_auth_param: None,
        };
        (req.pin_uv_auth_protocol, req.pin_uv_auth_param) =
            PinUvAuthToken::bind(token, || req.auth_message());
        self.send(&req)
    }

    /// (discoverable credentials stored, how many more fit).
    pub fn credentials_metadata(&mut self, token: &PinUvAuthToken) -> Result<(u64, u64)> {
        let r = self.cred_mgmt(Some(token), CredMgmtSubCommand::GetCredsMetadata, None)?;
        Ok((
            r.existing_resident_credentials_count.unwrap_or(0),
            r.max_possible_remaining_resident_credentials_count
                .unwrap_or(0),
        ))
    }

    /// Every discoverable credential on the key, RP by RP.
    pub fn list_credentials(&mut self, token: &PinUvAuthToken) -> Result<Vec<StoredCredential>> {
        let mut rps = Vec::new();
        match self.cred_mgmt(Some(token), CredMgmtSubCommand::EnumerateRpsBegin, None) {
            Ok(first) => {
                let total = first.total_rps.unwrap_or(0);
                rps.push(first);
                for _ in 1..total {
                    rps.push(self.cred_mgmt(
                        None,
                        CredMgmtSubCommand::EnumerateRpsGetNextRp,
                        None,
                    )?);
                }
            }
            Err(Error::Status(StatusCode::NoCredentials)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
        let mut out = Vec::new();
        for rp in rps {
            let rp_entity = rp
                .rp
                .ok_or_else(|| Error::Protocol("enumerateRPs without rp".into()))?;
            let rp_id_hash = rp
                .rp_id_hash
                .ok_or_else(|| Error::Protocol("enumerateRPs without rpIDHash".into()))?;
            let params = CredMgmtParams {
                rp_id_hash: Some(rp_id_hash.clone()),
                ..Default::default()
            };
            let first = match self.cred_mgmt(
                Some(token),
                CredMgmtSubCommand::EnumerateCredentialsBegin,
                Some(params),
            ) {
                Ok(r) => r,
                Err(Error::Status(StatusCode::NoCredentials)) => continue,
                Err(e) => return Err(e),
            };
            let total = first.total_credentials.unwrap_or(1);
            let mut creds = vec![first];
            for _ in 1..total {
                creds.push(self.cred_mgmt(
                    None,
                    CredMgmtSubCommand::EnumerateCredentialsGetNextCredential,
                    None,
                )?);
            }
            for c in creds {
                out.push(StoredCredential {
                    rp: rp_entity.clone(),
                    rp_id_hash: rp_id_hash.clone(),
                    user: c
                        .user
                        .ok_or_else(|| Error::Protocol("credential without user".into()))?,
                    credential_id: c
                        .credential_id
                        .ok_or_else(|| Error::Protocol("credential without id".into()))?
                        .id,
                    cred_protect: c.cred_protect,
                });
            }
        }
        Ok(out)
    }

    /// Deletes one discoverable credential.
    pub fn delete_credential(
        &mut self,
        token: &PinUvAuthToken,
        credential_id: &[u8],
    ) -> Result<()> {
        let params = CredMgmtParams {
            credential_id: Some(CredentialDescriptor::new(credential_id.to_vec())),
            ..Default::default()
        };
        self.cred_mgmt(
            Some(token),
            CredMgmtSubCommand::DeleteCredential,
            Some(params),
        )
        .map(|_| ())
    }

    /// Replaces the user name/display name stored with a credential.
    pub fn update_user(
        &mut self,
        token: &PinUvAuthToken,
        credential_id: &[u8],
        user: UserEntity,
    ) -> Result<()> {
        let params = CredMgmtParams {
            credential_id: Some(CredentialDescriptor::new(credential_id.to_vec())),
            user: Some(user),
            ..Default::default()
        };
        self.cred_mgmt(
            Some(token),
            CredMgmtSubCommand::UpdateUserInformation,
            Some(params),
        )
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CTAP 2.1 §6.8 sub-commands 0x01..0x07.
    #[test]
    fn sub_command_numbers() {
        use CredMgmtSubCommand::*;
        let all = [
            GetCredsMetadata,
            EnumerateRpsBegin,
            EnumerateRpsGetNextRp,
            EnumerateCredentialsBegin,
            EnumerateCredentialsGetNextCredential,
            DeleteCredential,
            UpdateUserInformation,
        ];
        for (sub, b) in all.into_iter().zip(1u8..) {
            assert_eq!(sub.to_byte(), b, "{sub:?}");
            assert_eq!(CredMgmtSubCommand::from_byte(b), sub);
        }
        assert_eq!(CredMgmtSubCommand::from_byte(8), Unknown(8));
        assert_eq!(Unknown(8).to_byte(), 8);
    }

    /// §6.8: pinUvAuthParam authenticates subCommand ‖ CBOR(subCommandParams);
    /// parameter keys 0x01 rpIDHash, 0x02 credentialID, 0x03 user.
    #[test]
    fn auth_message_and_parameters() {
        let params = CredMgmtParams {
            rp_id_hash: Some(vec![1; 32]),
            ..Default::default()
        };
        let req = CredMgmtRequest {
            sub_command: CredMgmtSubCommand::EnumerateCredentialsBegin,
            params: Some(params.clone()),
            pin_uv_auth_protocol: Some(1),
            pin_uv_auth_param: Some(vec![2; 16]),
        };
        let mut want = vec![0x04, 0xa1, 0x01, 0x58, 0x20];
        want.extend([1; 32]);
        assert_eq!(req.auth_message(), want);
        assert_eq!(CredMgmtRequest::from_cbor(req.to_cbor()), Ok(req));
        let meta = CredMgmtRequest {
            sub_command: CredMgmtSubCommand::GetCredsMetadata,
            params: None,
            pin_uv_auth_protocol: None,
            pin_uv_auth_param: None,
        };
        assert_eq!(meta.auth_message(), [0x01]);
        // 0A {1: 1}
        assert_eq!(meta.encode(), [0x0A, 0xa1, 0x01, 0x01]);
        let full = CredMgmtParams {
            rp_id_hash: None,
            credential_id: Some(CredentialDescriptor::new(vec![3; 16])),
            user: Some(UserEntity {
                id: vec![4],
                name: Some("a".into()),
                display_name: None,
            }),
        };
        assert_eq!(CredMgmtParams::from_cbor(full.to_cbor()), Ok(full));
        // A credentialID that is not a public-key descriptor is invalid.
        let other = MapBuilder::new()
            .int(
                0x02,
                MapBuilder::new()
                    .text("id", vec![1u8])
                    .text("type", "x")
                    .build(),
            )
            .build();
        assert_eq!(
            CredMgmtParams::from_cbor(other),
            Err(CborError::InvalidValue("credentialID"))
        );
        let big = MapBuilder::new().int(0x01, 300).build();
        assert_eq!(
            CredMgmtRequest::from_cbor(Some(big)),
            Err(CborError::InvalidValue("subCommand"))
        );
    }

    /// §6.8 response keys 0x01..0x0B.
    #[test]
    fn response_keys() {
        assert_eq!(CredMgmtResponse::default().to_cbor(), None);
        let meta = CredMgmtResponse {
            existing_resident_credentials_count: Some(2),
            max_possible_remaining_resident_credentials_count: Some(23),
            ..Default::default()
        };
        // {1: 2, 2: 23}
        assert_eq!(
            cbor::encode(&meta.to_cbor().unwrap()),
            [0xa2, 0x01, 0x02, 0x02, 0x17]
        );
        let all = CredMgmtResponse {
            existing_resident_credentials_count: Some(1),
            max_possible_remaining_resident_credentials_count: Some(2),
            rp: Some(RpEntity {
                id: "example.com".into(),
                name: None,
            }),
            rp_id_hash: Some(vec![5; 32]),
            total_rps: Some(3),
            user: Some(UserEntity {
                id: vec![6],
                name: None,
                display_name: Some("D".into()),
            }),
            credential_id: Some(CredentialDescriptor::new(vec![7; 16])),
            public_key: Some(CoseKey::Ed25519 {
                alg: -8,
                x: [8; 32],
            }),
            total_credentials: Some(4),
            cred_protect: Some(2),
            large_blob_key: Some(vec![9; 32]),
        };
        let v = all.to_cbor().unwrap();
        assert_eq!(super::super::int_keys(&v), (1..=11).collect::<Vec<_>>());
        assert_eq!(CredMgmtResponse::from_cbor(Some(v)), Ok(all));
    }
}

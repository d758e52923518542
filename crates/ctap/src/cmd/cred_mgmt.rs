//! authenticatorCredentialManagement (CTAP 2.1 §6.8).

use super::{
    opt_uint, params, CommandCode, CredentialDescriptor, CtapRequest, CtapResponse, RpEntity,
    UserEntity,
};
use crate::client::Ctap2Client;
use crate::cmd::client_pin::PinUvAuthToken;
use crate::error::{Error, Result};
use crate::status::StatusCode;
use crate::transport::Transport;
use webauthn::cbor::{self, CborError, MapBuilder, MapReader, Value};
use webauthn::cose::CoseKey;

wire_enum! {
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
    pub rp_id_hash: Option<Vec<u8>>,
    pub credential_id: Option<CredentialDescriptor>,
    pub user: Option<UserEntity>,
}

impl CredMgmtParams {
    pub fn to_cbor(&self) -> Value {
        MapBuilder::new()
            .opt_int(0x01, self.rp_id_hash.clone())
            .opt_int(
                0x02,
                self.credential_id
                    .as_ref()
                    .map(CredentialDescriptor::to_cbor),
            )
            .opt_int(0x03, self.user.as_ref().map(UserEntity::to_cbor))
            .build()
    }

    fn from_cbor(v: Value) -> Result<Self, CborError> {
        let mut m = MapReader::new(v, "subCommandParams")?;
        Ok(Self {
            rp_id_hash: m.opt_bytes(0x01, "rpIDHash")?,
            credential_id: match m.take(0x02) {
                Some(v) => Some(
                    CredentialDescriptor::from_cbor(v)?
                        .ok_or(CborError::InvalidValue("credentialID"))?,
                ),
                None => None,
            },
            user: m.take(0x03).map(UserEntity::from_cbor).transpose()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredMgmtRequest {
    pub sub_command: CredMgmtSubCommand,
    pub params: Option<CredMgmtParams>,
    pub pin_uv_auth_protocol: Option<u64>,
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

impl CtapRequest for CredMgmtRequest {
    const COMMAND: CommandCode = CommandCode::CredentialManagement;
    type Response = CredMgmtResponse;

    fn to_cbor(&self) -> Option<Value> {
        Some(
            MapBuilder::new()
                .int(0x01, u64::from(self.sub_command.to_byte()))
                .opt_int(0x02, self.params.as_ref().map(CredMgmtParams::to_cbor))
                .opt_int(0x03, self.pin_uv_auth_protocol)
                .opt_int(0x04, self.pin_uv_auth_param.clone())
                .build(),
        )
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        let sub = u8::try_from(m.int(0x01, "subCommand")?)
            .map_err(|_| CborError::InvalidValue("subCommand"))?;
        Ok(Self {
            sub_command: CredMgmtSubCommand::from_byte(sub),
            params: m.take(0x02).map(CredMgmtParams::from_cbor).transpose()?,
            pin_uv_auth_protocol: opt_uint(&mut m, 0x03, "pinUvAuthProtocol")?,
            pin_uv_auth_param: m.opt_bytes(0x04, "pinUvAuthParam")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CredMgmtResponse {
    pub existing_resident_credentials_count: Option<u64>,
    pub max_possible_remaining_resident_credentials_count: Option<u64>,
    pub rp: Option<RpEntity>,
    pub rp_id_hash: Option<Vec<u8>>,
    pub total_rps: Option<u64>,
    pub user: Option<UserEntity>,
    pub credential_id: Option<CredentialDescriptor>,
    pub public_key: Option<CoseKey>,
    pub total_credentials: Option<u64>,
    pub cred_protect: Option<u64>,
    pub large_blob_key: Option<Vec<u8>>,
}

impl CtapResponse for CredMgmtResponse {
    fn to_cbor(&self) -> Option<Value> {
        let b = MapBuilder::new()
            .opt_int(0x01, self.existing_resident_credentials_count)
            .opt_int(0x02, self.max_possible_remaining_resident_credentials_count)
            .opt_int(0x03, self.rp.as_ref().map(RpEntity::to_cbor))
            .opt_int(0x04, self.rp_id_hash.clone())
            .opt_int(0x05, self.total_rps)
            .opt_int(0x06, self.user.as_ref().map(UserEntity::to_cbor))
            .opt_int(
                0x07,
                self.credential_id
                    .as_ref()
                    .map(CredentialDescriptor::to_cbor),
            )
            .opt_int(0x08, self.public_key.as_ref().map(CoseKey::to_cbor))
            .opt_int(0x09, self.total_credentials)
            .opt_int(0x0A, self.cred_protect)
            .opt_int(0x0B, self.large_blob_key.clone());
        (!b.is_empty()).then(|| b.build())
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        Ok(Self {
            existing_resident_credentials_count: opt_uint(
                &mut m,
                0x01,
                "existingResidentCredentialsCount",
            )?,
            max_possible_remaining_resident_credentials_count: opt_uint(
                &mut m,
                0x02,
                "maxPossibleRemainingResidentCredentialsCount",
            )?,
            rp: m.take(0x03).map(RpEntity::from_cbor).transpose()?,
            rp_id_hash: m.opt_bytes(0x04, "rpIDHash")?,
            total_rps: opt_uint(&mut m, 0x05, "totalRPs")?,
            user: m.take(0x06).map(UserEntity::from_cbor).transpose()?,
            credential_id: match m.take(0x07) {
                Some(v) => CredentialDescriptor::from_cbor(v)?,
                None => None,
            },
            public_key: m.take(0x08).map(CoseKey::from_cbor).transpose()?,
            total_credentials: opt_uint(&mut m, 0x09, "totalCredentials")?,
            cred_protect: opt_uint(&mut m, 0x0A, "credProtect")?,
            large_blob_key: m.opt_bytes(0x0B, "largeBlobKey")?,
        })
    }
}

/// A discoverable credential as credential management reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCredential {
    pub rp: RpEntity,
    #[serde(serialize_with = "ser_hex")]
    pub rp_id_hash: Vec<u8>,
    pub user: UserEntity,
    #[serde(serialize_with = "ser_b64")]
    pub credential_id: Vec<u8>,
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
        if let Some(token) = token {
            req.pin_uv_auth_protocol = Some(token.protocol().id());
            req.pin_uv_auth_param = Some(token.authenticate(&req.auth_message()));
        }
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

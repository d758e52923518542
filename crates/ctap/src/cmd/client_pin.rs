//! authenticatorClientPIN (CTAP 2.1 §6.5): sub-commands, parameters and
//! response as one typed request/response pair.

use super::{params, CommandCode, CtapRequest, CtapResponse, KeyedMapBuilder};
use crate::client::Ctap2Client;
use crate::error::{Error, Result};
use crate::pin::{self, PinUvAuthProtocol, SharedSecret};
use crate::transport::Transport;
use webauthn::cbor::{CborError, MapBuilder, Value};
use webauthn::cose::CoseKey;
use zeroize::Zeroizing;

wire_enum! {
    /// clientPIN sub-commands.
    pub enum PinSubCommand {
        GetPinRetries = 0x01,
        GetKeyAgreement = 0x02,
        SetPin = 0x03,
        ChangePin = 0x04,
        GetPinToken = 0x05,
        GetPinUvAuthTokenUsingUvWithPermissions = 0x06,
        GetUvRetries = 0x07,
        GetPinUvAuthTokenUsingPinWithPermissions = 0x09,
        _ => Unknown(u8),
    }
}

/// An authenticatorClientPIN request (CTAP 2.1 §6.5.5); which fields a sub-command takes is in the verbs below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPinRequest {
    /// `pinUvAuthProtocol`: the PIN/UV auth protocol (1 or 2) of `pinUvAuthParam`.
    pub pin_uv_auth_protocol: Option<u64>,
    /// What to do: set or change the PIN, get a token, read retries, ….
    pub sub_command: PinSubCommand,
    /// The platform's key-agreement public key (for the shared secret).
    pub key_agreement: Option<CoseKey>,
    /// `pinUvAuthParam`: the request authenticated with a PIN/UV auth token (absent: unauthenticated).
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// The new PIN, padded to 64 bytes and encrypted under the shared secret.
    pub new_pin_enc: Option<Vec<u8>>,
    /// The first 16 bytes of SHA-256(current PIN), encrypted under the shared secret.
    pub pin_hash_enc: Option<Vec<u8>>,
    /// The permissions asked of a token ([`crate::pin::Permissions`] bits).
    pub permissions: Option<u64>,
    /// The RP ID a token is bound to (for makeCredential/getAssertion permissions).
    pub rp_id: Option<String>,
}

impl ClientPinRequest {
    /// A request with only the sub-command (and protocol) set.
    pub fn new(protocol: Option<u64>, sub_command: PinSubCommand) -> Self {
        Self {
            pin_uv_auth_protocol: protocol,
            sub_command,
            key_agreement: None,
            pin_uv_auth_param: None,
            new_pin_enc: None,
            pin_hash_enc: None,
            permissions: None,
            rp_id: None,
        }
    }
}

map_keys! {
    /// The map keys of [`ClientPinRequest`], as CTAP 2.1 numbers and names them.
    pub struct ClientPinRequestKey {
        PIN_UV_AUTH_PROTOCOL = 0x01, "pinUvAuthProtocol";
        SUB_COMMAND = 0x02, "subCommand";
        KEY_AGREEMENT = 0x03, "keyAgreement";
        PIN_UV_AUTH_PARAM = 0x04, "pinUvAuthParam";
        NEW_PIN_ENC = 0x05, "newPinEnc";
        PIN_HASH_ENC = 0x06, "pinHashEnc";
        PERMISSIONS = 0x09, "permissions";
        RP_ID = 0x0A, "rpId";
    }
}

impl CtapRequest for ClientPinRequest {
    const COMMAND: CommandCode = CommandCode::ClientPin;
    type Response = ClientPinResponse;

    fn to_cbor(&self) -> Option<Value> {
        Some(
            MapBuilder::new()
                .opt_key(
                    ClientPinRequestKey::PIN_UV_AUTH_PROTOCOL,
                    self.pin_uv_auth_protocol,
                )
                .key(
                    ClientPinRequestKey::SUB_COMMAND,
                    u64::from(self.sub_command.to_byte()),
                )
                .opt_key(
                    ClientPinRequestKey::KEY_AGREEMENT,
                    self.key_agreement.as_ref().map(CoseKey::to_cbor),
                )
                .opt_key(
                    ClientPinRequestKey::PIN_UV_AUTH_PARAM,
                    self.pin_uv_auth_param.clone(),
                )
                .opt_key(ClientPinRequestKey::NEW_PIN_ENC, self.new_pin_enc.clone())
                .opt_key(ClientPinRequestKey::PIN_HASH_ENC, self.pin_hash_enc.clone())
                .opt_key(ClientPinRequestKey::PERMISSIONS, self.permissions)
                .opt_key(ClientPinRequestKey::RP_ID, self.rp_id.as_deref())
                .build(),
        )
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        let sub = m.int(ClientPinRequestKey::SUB_COMMAND)?;
        let sub_command = u8::try_from(sub).map_err(|_| CborError::InvalidValue("subCommand"))?;
        Ok(Self {
            pin_uv_auth_protocol: m.opt_uint(ClientPinRequestKey::PIN_UV_AUTH_PROTOCOL)?,
            sub_command: PinSubCommand::from_byte(sub_command),
            key_agreement: m
                .take(ClientPinRequestKey::KEY_AGREEMENT)
                .map(CoseKey::from_cbor)
                .transpose()?,
            pin_uv_auth_param: m.opt_bytes(ClientPinRequestKey::PIN_UV_AUTH_PARAM)?,
            new_pin_enc: m.opt_bytes(ClientPinRequestKey::NEW_PIN_ENC)?,
            pin_hash_enc: m.opt_bytes(ClientPinRequestKey::PIN_HASH_ENC)?,
            permissions: m.opt_uint(ClientPinRequestKey::PERMISSIONS)?,
            rp_id: m.opt_text(ClientPinRequestKey::RP_ID)?,
        })
    }
}

/// An authenticatorClientPIN response: the members the sub-command returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientPinResponse {
    /// The key's key-agreement public key (getKeyAgreement).
    pub key_agreement: Option<CoseKey>,
    /// The token, encrypted under the shared secret.
    pub pin_uv_auth_token: Option<Vec<u8>>,
    /// PIN attempts left before the key blocks its PIN (8 at most).
    pub pin_retries: Option<u64>,
    /// True when the key must be power-cycled before another PIN attempt.
    pub power_cycle_state: Option<bool>,
    /// Built-in user verification attempts left.
    pub uv_retries: Option<u64>,
}

map_keys! {
    /// The map keys of [`ClientPinResponse`], as CTAP 2.1 numbers and names them.
    pub struct ClientPinResponseKey {
        KEY_AGREEMENT = 0x01, "keyAgreement";
        PIN_UV_AUTH_TOKEN = 0x02, "pinUvAuthToken";
        PIN_RETRIES = 0x03, "pinRetries";
        POWER_CYCLE_STATE = 0x04, "powerCycleState";
        UV_RETRIES = 0x05, "uvRetries";
    }
}

impl CtapResponse for ClientPinResponse {
    fn to_cbor(&self) -> Option<Value> {
        let b = MapBuilder::new()
            .opt_key(
                ClientPinResponseKey::KEY_AGREEMENT,
                self.key_agreement.as_ref().map(CoseKey::to_cbor),
            )
            .opt_key(
                ClientPinResponseKey::PIN_UV_AUTH_TOKEN,
                self.pin_uv_auth_token.clone(),
            )
            .opt_key(ClientPinResponseKey::PIN_RETRIES, self.pin_retries)
            .opt_key(
                ClientPinResponseKey::POWER_CYCLE_STATE,
                self.power_cycle_state,
            )
            .opt_key(ClientPinResponseKey::UV_RETRIES, self.uv_retries);
        (!b.is_empty()).then(|| b.build())
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        Ok(Self {
            key_agreement: m
                .take(ClientPinResponseKey::KEY_AGREEMENT)
                .map(CoseKey::from_cbor)
                .transpose()?,
            pin_uv_auth_token: m.opt_bytes(ClientPinResponseKey::PIN_UV_AUTH_TOKEN)?,
            pin_retries: m.opt_uint(ClientPinResponseKey::PIN_RETRIES)?,
            power_cycle_state: m.opt_bool(ClientPinResponseKey::POWER_CYCLE_STATE)?,
            uv_retries: m.opt_uint(ClientPinResponseKey::UV_RETRIES)?,
        })
    }
}

/// A PIN/UV auth token, decrypted, with the protocol it belongs to. Zeroed
/// on drop; never printed.
pub struct PinUvAuthToken {
    protocol: PinUvAuthProtocol,
    token: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PinUvAuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinUvAuthToken")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl PinUvAuthToken {
    /// The PIN/UV auth protocol the token was obtained with.
    pub fn protocol(&self) -> PinUvAuthProtocol {
        self.protocol
    }

    /// `pinUvAuthParam` for `message`.
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(&self.token, message)
    }

    /// The `pinUvAuthProtocol` and `pinUvAuthParam` of a request whose
    /// authenticated message is `message()`: both absent without a token
    /// (a command the key allows unauthenticated).
    pub fn bind(
        token: Option<&PinUvAuthToken>,
        message: impl FnOnce() -> Vec<u8>,
    ) -> (Option<u64>, Option<Vec<u8>>) {
        match token {
            Some(t) => (Some(t.protocol.id()), Some(t.authenticate(&message()))),
            None => (None, None),
        }
    }
}

/// PIN retry state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PinRetries {
    /// PIN attempts left (0: the PIN is blocked; only a reset helps).
    pub retries: u64,
    /// The key must be removed and re-inserted before the next PIN attempt.
    pub power_cycle_required: bool,
}

// ----- the client's verbs (§6.5) -----

impl<T: Transport> Ctap2Client<T> {
    fn shared_secret(&mut self, protocol: PinUvAuthProtocol) -> Result<(CoseKey, SharedSecret)> {
        let req = ClientPinRequest::new(Some(protocol.id()), PinSubCommand::GetKeyAgreement);
        let resp: ClientPinResponse = self.send(&req)?;
        let peer = resp
            .key_agreement
            .ok_or_else(|| Error::Protocol("getKeyAgreement without a key".into()))?;
        protocol
            .encapsulate(&peer)
            .map_err(|e| Error::Protocol(e.to_string()))
    }

    /// Remaining PIN attempts.
    pub fn pin_retries(&mut self) -> Result<PinRetries> {
        let protocol = self.pin_protocol()?;
        let resp = self.send(&ClientPinRequest::new(
            Some(protocol.id()),
            PinSubCommand::GetPinRetries,
        ))?;
        Ok(PinRetries {
            retries: resp
                .pin_retries
                .ok_or_else(|| Error::Protocol("no pinRetries".into()))?,
            power_cycle_required: resp.power_cycle_state.unwrap_or(false),
        })
    }

    fn check_new_pin(&self, new_pin: &str) -> Result<()> {
        pin::check_pin_format(new_pin, self.info().effective_min_pin_length())
            .map_err(|e| Error::InvalidRequest(e.to_string()))
    }

    /// Sets the first PIN of a key that has none.
    pub fn set_pin(&mut self, new_pin: &str) -> Result<()> {
        self.check_new_pin(new_pin)?;
        let protocol = self.pin_protocol()?;
        let (platform_key, shared) = self.shared_secret(protocol)?;
        let block = pin::pad_pin(new_pin).map_err(|e| Error::InvalidRequest(e.to_string()))?;
        let new_pin_enc = shared.encrypt(block.as_ref());
        let mut req = ClientPinRequest::new(Some(protocol.id()), PinSubCommand::SetPin);
        req.pin_uv_auth_param = Some(shared.authenticate(&new_pin_enc));
        req.key_agreement = Some(platform_key);
        req.new_pin_enc = Some(new_pin_enc);
        self.send(&req)?;
        self.refresh_info()?;
        Ok(())
    }

    /// Changes the PIN (also clears a forced PIN change).
    pub fn change_pin(&mut self, current_pin: &str, new_pin: &str) -> Result<()> {
        self.check_new_pin(new_pin)?;
        let protocol = self.pin_protocol()?;
        let (platform_key, shared) = self.shared_secret(protocol)?;
        let block = pin::pad_pin(new_pin).map_err(|e| Error::InvalidRequest(e.to_string()))?;
        let new_pin_enc = shared.encrypt(block.as_ref());
        let pin_hash_enc = shared.encrypt(pin::pin_hash(current_pin).as_ref());
        let mut message = new_pin_enc.clone();
        message.extend_from_slice(&pin_hash_enc);
        let mut req = ClientPinRequest::new(Some(protocol.id()), PinSubCommand::ChangePin);
        req.pin_uv_auth_param = Some(shared.authenticate(&message));
        req.key_agreement = Some(platform_key);
        req.new_pin_enc = Some(new_pin_enc);
        req.pin_hash_enc = Some(pin_hash_enc);
        self.send(&req)?;
        self.refresh_info()?;
        Ok(())
    }

    /// Gets a PIN/UV auth token with `permissions`, bound to `rp_id` when given. Uses
    /// getPinUvAuthTokenUsingPinWithPermissions on CTAP 2.1 keys and the
    /// legacy getPinToken otherwise.
    pub fn get_pin_token(
        &mut self,
        pin: &str,
        permissions: pin::Permissions,
        rp_id: Option<&str>,
    ) -> Result<PinUvAuthToken> {
        let protocol = self.pin_protocol()?;
        let (platform_key, shared) = self.shared_secret(protocol)?;
        let with_permissions = self.info().option("pinUvAuthToken") == Some(true);
        let sub = if with_permissions {
            PinSubCommand::GetPinUvAuthTokenUsingPinWithPermissions
        } else {
            PinSubCommand::GetPinToken
        };
        let mut req = ClientPinRequest::new(Some(protocol.id()), sub);
        req.key_agreement = Some(platform_key);
        req.pin_hash_enc = Some(shared.encrypt(pin::pin_hash(pin).as_ref()));
        if with_permissions {
            req.permissions = Some(u64::from(permissions.bits()));
            req.rp_id = rp_id.map(str::to_owned);
        }
        let resp = self.send(&req)?;
        let encrypted = resp
            .pin_uv_auth_token
            .ok_or_else(|| Error::Protocol("no pinUvAuthToken".into()))?;
        let token = shared
            .decrypt(&encrypted)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        Ok(PinUvAuthToken { protocol, token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webauthn::cbor;

    /// CTAP 2.1 §6.5.5 sub-command numbers (0x08 is not assigned).
    #[test]
    fn sub_command_numbers() {
        for (sub, b) in [
            (PinSubCommand::GetPinRetries, 0x01),
            (PinSubCommand::GetKeyAgreement, 0x02),
            (PinSubCommand::SetPin, 0x03),
            (PinSubCommand::ChangePin, 0x04),
            (PinSubCommand::GetPinToken, 0x05),
            (PinSubCommand::GetPinUvAuthTokenUsingUvWithPermissions, 0x06),
            (PinSubCommand::GetUvRetries, 0x07),
            (
                PinSubCommand::GetPinUvAuthTokenUsingPinWithPermissions,
                0x09,
            ),
        ] {
            assert_eq!(sub.to_byte(), b, "{sub:?}");
            assert_eq!(PinSubCommand::from_byte(b), sub);
        }
        assert_eq!(PinSubCommand::from_byte(0x08), PinSubCommand::Unknown(0x08));
        assert_eq!(PinSubCommand::Unknown(0x0B).to_byte(), 0x0B);
    }

    /// §6.5.4 parameter keys: 0x01 protocol, 0x02 sub-command, 0x03
    /// keyAgreement, 0x04 pinUvAuthParam, 0x05 newPinEnc, 0x06 pinHashEnc,
    /// 0x09 permissions, 0x0A rpId.
    #[test]
    fn request_encoding() {
        let retries = ClientPinRequest::new(Some(1), PinSubCommand::GetPinRetries);
        // 06 {1: 1, 2: 1}
        assert_eq!(retries.encode(), [0x06, 0xa2, 0x01, 0x01, 0x02, 0x01]);
        let key = CoseKey::Ec2 {
            alg: -25,
            curve: webauthn::cose::EcCurve::P256,
            x: vec![1; 32],
            y: vec![2; 32],
        };
        let full = ClientPinRequest {
            pin_uv_auth_protocol: Some(2),
            sub_command: PinSubCommand::GetPinUvAuthTokenUsingPinWithPermissions,
            key_agreement: Some(key.clone()),
            pin_uv_auth_param: Some(vec![4; 32]),
            new_pin_enc: Some(vec![5; 80]),
            pin_hash_enc: Some(vec![6; 32]),
            permissions: Some(0x03),
            rp_id: Some("example.com".into()),
        };
        let v = full.to_cbor().unwrap();
        let mut m = webauthn::cbor::MapReader::new(v.clone(), "p").unwrap();
        assert_eq!(m.int(0x01, "p"), Ok(2));
        assert_eq!(m.int(0x02, "s"), Ok(0x09));
        assert_eq!(m.take(0x03).map(CoseKey::from_cbor), Some(Ok(key)));
        assert_eq!(m.bytes(0x04, "a"), Ok(vec![4; 32]));
        assert_eq!(m.bytes(0x05, "n"), Ok(vec![5; 80]));
        assert_eq!(m.bytes(0x06, "h"), Ok(vec![6; 32]));
        assert_eq!(m.int(0x09, "perm"), Ok(3));
        assert_eq!(m.text(0x0A, "rp"), Ok("example.com".into()));
        assert!(m.remaining().is_empty());
        assert_eq!(ClientPinRequest::from_cbor(Some(v)), Ok(full));
        let bad = MapBuilder::new().int(0x02, 0x1_00).build();
        assert_eq!(
            ClientPinRequest::from_cbor(Some(bad)),
            Err(CborError::InvalidValue("subCommand"))
        );
        assert_eq!(
            ClientPinRequest::from_cbor(None),
            Err(CborError::Missing("subCommand"))
        );
    }

    /// §6.5.4 response keys: 0x01 keyAgreement, 0x02 pinUvAuthToken, 0x03
    /// pinRetries, 0x04 powerCycleState, 0x05 uvRetries.
    #[test]
    fn response_encoding() {
        assert_eq!(ClientPinResponse::default().to_cbor(), None);
        assert_eq!(
            ClientPinResponse::from_cbor(None),
            Ok(ClientPinResponse::default())
        );
        let r = ClientPinResponse {
            pin_retries: Some(8),
            power_cycle_state: Some(true),
            ..Default::default()
        };
        // {3: 8, 4: true}
        assert_eq!(
            cbor::encode(&r.to_cbor().unwrap()),
            [0xa2, 0x03, 0x08, 0x04, 0xf5]
        );
        let all = ClientPinResponse {
            key_agreement: Some(CoseKey::Ed25519 {
                alg: -8,
                x: [1; 32],
            }),
            pin_uv_auth_token: Some(vec![9; 48]),
            pin_retries: Some(3),
            power_cycle_state: Some(false),
            uv_retries: Some(5),
        };
        assert_eq!(ClientPinResponse::from_cbor(all.to_cbor()), Ok(all));
        let negative = MapBuilder::new().int(0x03, -1).build();
        assert_eq!(
            ClientPinResponse::from_cbor(Some(negative)),
            Err(CborError::InvalidValue("pinRetries"))
        );
    }
}

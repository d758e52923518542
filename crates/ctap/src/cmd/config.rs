//! authenticatorConfig (CTAP 2.1 §6.11).

use super::{params, text_list, text_list_cbor, CommandCode, CtapRequest, KeyedMapBuilder, Params};
use crate::client::Ctap2Client;
use crate::cmd::client_pin::PinUvAuthToken;
use crate::error::{Error, Result};
use crate::transport::Transport;
use webauthn::cbor::{self, CborError, MapBuilder, Value};

wire_enum! {
    /// authenticatorConfig sub-commands (CTAP 2.1 §6.11).
    pub enum ConfigSubCommand {
        EnableEnterpriseAttestation = 0x01,
        ToggleAlwaysUv = 0x02,
        SetMinPinLength = 0x03,
        VendorPrototype = 0xFF,
        _ => Unknown(u8),
    }
}

/// setMinPINLength parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetMinPinLengthParams {
    /// The new minimum PIN length (it can only grow; a reset lowers it).
    pub new_min_pin_length: Option<u64>,
    /// RP IDs allowed to read the minimum PIN length (minPinLength extension).
    pub min_pin_length_rpids: Option<Vec<String>>,
    /// Make the user change the PIN before the next use.
    pub force_change_pin: Option<bool>,
}

map_keys! {
    /// The map keys of [`SetMinPinLengthParams`], as CTAP 2.1 numbers and names them.
    pub struct SetMinPinLengthParamsKey {
        NEW_MIN_PIN_LENGTH = 0x01, "newMinPINLength";
        MIN_PIN_LENGTH_RPIDS = 0x02, "minPinLengthRPIDs";
        FORCE_CHANGE_PIN = 0x03, "forceChangePin";
    }
}

impl SetMinPinLengthParams {
    /// The parameters as a CBOR map (what `pinUvAuthParam` also authenticates).
    pub fn to_cbor(&self) -> Value {
        MapBuilder::new()
            .opt_key(
                SetMinPinLengthParamsKey::NEW_MIN_PIN_LENGTH,
                self.new_min_pin_length,
            )
            .opt_key(
                SetMinPinLengthParamsKey::MIN_PIN_LENGTH_RPIDS,
                self.min_pin_length_rpids.as_deref().map(text_list_cbor),
            )
            .opt_key(
                SetMinPinLengthParamsKey::FORCE_CHANGE_PIN,
                self.force_change_pin,
            )
            .build()
    }

    /// Reads the parameters (authenticator side).
    pub fn from_cbor(v: Value) -> Result<Self, CborError> {
        let mut m = Params::new(v, "subCommandParams")?;
        Ok(Self {
            new_min_pin_length: m.opt_uint(SetMinPinLengthParamsKey::NEW_MIN_PIN_LENGTH)?,
            min_pin_length_rpids: m
                .take(SetMinPinLengthParamsKey::MIN_PIN_LENGTH_RPIDS)
                .map(|v| text_list(v, "minPinLengthRPIDs"))
                .transpose()?,
            force_change_pin: m.opt_bool(SetMinPinLengthParamsKey::FORCE_CHANGE_PIN)?,
        })
    }
}

/// An authenticatorConfig request (CTAP 2.1 §6.11).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigRequest {
    /// What to configure.
    pub sub_command: ConfigSubCommand,
    /// Raw subCommandParams; [`SetMinPinLengthParams`] reads those of
    /// setMinPINLength.
    pub params: Option<Value>,
    /// `pinUvAuthProtocol`: the PIN/UV auth protocol (1 or 2) of `pinUvAuthParam`.
    pub pin_uv_auth_protocol: Option<u64>,
    /// `pinUvAuthParam`: the request authenticated with a PIN/UV auth token (absent: unauthenticated).
    pub pin_uv_auth_param: Option<Vec<u8>>,
}

impl ConfigRequest {
    /// The message `pinUvAuthParam` authenticates: 32×0xFF ‖ 0x0D ‖
    /// subCommand ‖ CBOR(subCommandParams) (§6.11).
    pub fn auth_message(&self) -> Vec<u8> {
        let mut out = vec![0xFF; 32];
        out.push(CommandCode::Config.to_byte());
        out.push(self.sub_command.to_byte());
        if let Some(p) = &self.params {
            out.extend(cbor::encode(p));
        }
        out
    }
}

map_keys! {
    /// The map keys of [`ConfigRequest`], as CTAP 2.1 numbers and names them.
    pub struct ConfigRequestKey {
        SUB_COMMAND = 0x01, "subCommand";
        PARAMS = 0x02, "params";
        PIN_UV_AUTH_PROTOCOL = 0x03, "pinUvAuthProtocol";
        PIN_UV_AUTH_PARAM = 0x04, "pinUvAuthParam";
    }
}

impl CtapRequest for ConfigRequest {
    const COMMAND: CommandCode = CommandCode::Config;
    type Response = ();

    fn to_cbor(&self) -> Option<Value> {
        Some(
            MapBuilder::new()
                .key(
                    ConfigRequestKey::SUB_COMMAND,
                    u64::from(self.sub_command.to_byte()),
                )
                .opt_key(ConfigRequestKey::PARAMS, self.params.clone())
                .opt_key(
                    ConfigRequestKey::PIN_UV_AUTH_PROTOCOL,
                    self.pin_uv_auth_protocol,
                )
                .opt_key(
                    ConfigRequestKey::PIN_UV_AUTH_PARAM,
                    self.pin_uv_auth_param.clone(),
                )
                .build(),
        )
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        let sub = u8::try_from(m.int(ConfigRequestKey::SUB_COMMAND)?)
            .map_err(|_| CborError::InvalidValue("subCommand"))?;
        let params = m.take(ConfigRequestKey::PARAMS);
        if params.as_ref().is_some_and(|p| !matches!(p, Value::Map(_))) {
            return Err(CborError::UnexpectedType("subCommandParams"));
        }
        Ok(Self {
            sub_command: ConfigSubCommand::from_byte(sub),
            params,
            pin_uv_auth_protocol: m.opt_uint(ConfigRequestKey::PIN_UV_AUTH_PROTOCOL)?,
            pin_uv_auth_param: m.opt_bytes(ConfigRequestKey::PIN_UV_AUTH_PARAM)?,
        })
    }
}

// ----- the client's verbs -----

impl<T: Transport> Ctap2Client<T> {
    fn config(
        &mut self,
        token: Option<&PinUvAuthToken>,
        sub_command: ConfigSubCommand,
        params: Option<webauthn::cbor::Value>,
    ) -> Result<()> {
        if self.info().option("authnrCfg") != Some(true) {
            return Err(Error::Unsupported(
                "authenticatorConfig (CTAP 2.1 configuration)".into(),
            ));
        }
        let mut req = ConfigRequest {
            sub_command,
            params,
            pin_uv_auth_protocol: None,
            pin_uv_auth_param: None,
        };
        (req.pin_uv_auth_protocol, req.pin_uv_auth_param) =
            PinUvAuthToken::bind(token, || req.auth_message());
        self.send(&req)?;
        self.refresh_info()?;
        Ok(())
    }

    /// Turns enterprise attestation on (it stays on until reset).
    pub fn enable_enterprise_attestation(&mut self, token: Option<&PinUvAuthToken>) -> Result<()> {
        if self.info().option("ep").is_none() {
            return Err(Error::Unsupported("enterprise attestation".into()));
        }
        self.config(token, ConfigSubCommand::EnableEnterpriseAttestation, None)
    }

    /// Flips alwaysUv; returns the new value.
    pub fn toggle_always_uv(&mut self, token: Option<&PinUvAuthToken>) -> Result<bool> {
        if self.info().option("alwaysUv").is_none() {
            return Err(Error::Unsupported("alwaysUv".into()));
        }
        self.config(token, ConfigSubCommand::ToggleAlwaysUv, None)?;
        Ok(self.info().option("alwaysUv") == Some(true))
    }

    /// setMinPINLength: raises the minimum PIN length, names RPs allowed to
    /// read it, and/or forces a PIN change before the next use.
    pub fn set_min_pin_length(
        &mut self,
        token: Option<&PinUvAuthToken>,
        params: &SetMinPinLengthParams,
    ) -> Result<()> {
        if self.info().option("setMinPINLength") != Some(true) {
            return Err(Error::Unsupported(
                "setMinPINLength (minimum PIN length / forced PIN change)".into(),
            ));
        }
        self.config(
            token,
            ConfigSubCommand::SetMinPinLength,
            Some(params.to_cbor()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CTAP 2.1 §6.11: sub-commands 0x01 enableEnterpriseAttestation,
    /// 0x02 toggleAlwaysUv, 0x03 setMinPINLength, 0xFF vendorPrototype.
    #[test]
    fn sub_command_numbers() {
        for (sub, b) in [
            (ConfigSubCommand::EnableEnterpriseAttestation, 0x01),
            (ConfigSubCommand::ToggleAlwaysUv, 0x02),
            (ConfigSubCommand::SetMinPinLength, 0x03),
            (ConfigSubCommand::VendorPrototype, 0xFF),
        ] {
            assert_eq!(sub.to_byte(), b, "{sub:?}");
            assert_eq!(ConfigSubCommand::from_byte(b), sub);
        }
        assert_eq!(
            ConfigSubCommand::from_byte(0x04),
            ConfigSubCommand::Unknown(4)
        );
        assert_eq!(ConfigSubCommand::Unknown(4).to_byte(), 4);
    }

    /// §6.11.4 setMinPINLength parameters: 0x01 newMinPINLength, 0x02
    /// minPinLengthRPIDs, 0x03 forceChangePin.
    #[test]
    fn set_min_pin_length_params() {
        let p = SetMinPinLengthParams {
            new_min_pin_length: Some(8),
            min_pin_length_rpids: Some(vec!["a.example".into()]),
            force_change_pin: Some(true),
        };
        assert_eq!(SetMinPinLengthParams::from_cbor(p.to_cbor()), Ok(p));
        let only = SetMinPinLengthParams {
            force_change_pin: Some(true),
            ..Default::default()
        };
        // {3: true}
        assert_eq!(cbor::encode(&only.to_cbor()), [0xa1, 0x03, 0xf5]);
        assert!(SetMinPinLengthParams::from_cbor(cbor::int(1)).is_err());
    }

    /// §6.11: pinUvAuthParam authenticates 32×0xFF ‖ 0x0D ‖ subCommand ‖
    /// subCommandParams.
    #[test]
    fn auth_message_and_encoding() {
        let params = SetMinPinLengthParams {
            new_min_pin_length: Some(6),
            ..Default::default()
        }
        .to_cbor();
        let req = ConfigRequest {
            sub_command: ConfigSubCommand::SetMinPinLength,
            params: Some(params.clone()),
            pin_uv_auth_protocol: Some(2),
            pin_uv_auth_param: Some(vec![7; 32]),
        };
        let mut want = vec![0xFF; 32];
        want.extend([0x0D, 0x03, 0xa1, 0x01, 0x06]);
        assert_eq!(req.auth_message(), want);
        let bare = ConfigRequest {
            sub_command: ConfigSubCommand::ToggleAlwaysUv,
            params: None,
            pin_uv_auth_protocol: None,
            pin_uv_auth_param: None,
        };
        assert_eq!(bare.auth_message()[32..], [0x0D, 0x02]);
        // 0D {1: 2}
        assert_eq!(bare.encode(), [0x0D, 0xa1, 0x01, 0x02]);
        assert_eq!(ConfigRequest::from_cbor(req.to_cbor()), Ok(req));
        let not_a_map = MapBuilder::new().int(0x01, 3).int(0x02, 5).build();
        assert_eq!(
            ConfigRequest::from_cbor(Some(not_a_map)),
            Err(CborError::UnexpectedType("subCommandParams"))
        );
        let big = MapBuilder::new().int(0x01, 256).build();
        assert_eq!(
            ConfigRequest::from_cbor(Some(big)),
            Err(CborError::InvalidValue("subCommand"))
        );
    }
}

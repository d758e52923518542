//! authenticatorConfig (CTAP 2.1 §6.11).

use super::{opt_uint, params, text_list, text_list_cbor, CommandCode, CtapRequest};
use webauthn::cbor::{self, CborError, MapBuilder, MapReader, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSubCommand {
    EnableEnterpriseAttestation,
    ToggleAlwaysUv,
    SetMinPinLength,
    VendorPrototype,
    Unknown(u8),
}

impl ConfigSubCommand {
    pub fn to_byte(self) -> u8 {
        match self {
            Self::EnableEnterpriseAttestation => 0x01,
            Self::ToggleAlwaysUv => 0x02,
            Self::SetMinPinLength => 0x03,
            Self::VendorPrototype => 0xFF,
            Self::Unknown(b) => b,
        }
    }

    pub fn from_byte(b: u8) -> Self {
        match b {
            0x01 => Self::EnableEnterpriseAttestation,
            0x02 => Self::ToggleAlwaysUv,
            0x03 => Self::SetMinPinLength,
            0xFF => Self::VendorPrototype,
            other => Self::Unknown(other),
        }
    }
}

/// setMinPINLength parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetMinPinLengthParams {
    pub new_min_pin_length: Option<u64>,
    /// RP IDs allowed to read the minimum PIN length (minPinLength extension).
    pub min_pin_length_rpids: Option<Vec<String>>,
    pub force_change_pin: Option<bool>,
}

impl SetMinPinLengthParams {
    pub fn to_cbor(&self) -> Value {
        MapBuilder::new()
            .opt_int(0x01, self.new_min_pin_length)
            .opt_int(
                0x02,
                self.min_pin_length_rpids.as_deref().map(text_list_cbor),
            )
            .opt_int(0x03, self.force_change_pin)
            .build()
    }

    pub fn from_cbor(v: Value) -> Result<Self, CborError> {
        let mut m = MapReader::new(v, "subCommandParams")?;
        Ok(Self {
            new_min_pin_length: opt_uint(&mut m, 0x01, "newMinPINLength")?,
            min_pin_length_rpids: m
                .take(0x02)
                .map(|v| text_list(v, "minPinLengthRPIDs"))
                .transpose()?,
            force_change_pin: m.opt_bool(0x03, "forceChangePin")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigRequest {
    pub sub_command: ConfigSubCommand,
    /// Raw subCommandParams; [`SetMinPinLengthParams`] reads those of
    /// setMinPINLength.
    pub params: Option<Value>,
    pub pin_uv_auth_protocol: Option<u64>,
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

impl CtapRequest for ConfigRequest {
    const COMMAND: CommandCode = CommandCode::Config;
    type Response = ();

    fn to_cbor(&self) -> Option<Value> {
        Some(
            MapBuilder::new()
                .int(0x01, u64::from(self.sub_command.to_byte()))
                .opt_int(0x02, self.params.clone())
                .opt_int(0x03, self.pin_uv_auth_protocol)
                .opt_int(0x04, self.pin_uv_auth_param.clone())
                .build(),
        )
    }

    fn from_cbor(v: Option<Value>) -> Result<Self, CborError> {
        let mut m = params(v)?;
        let sub = u8::try_from(m.int(0x01, "subCommand")?)
            .map_err(|_| CborError::InvalidValue("subCommand"))?;
        let params = m.take(0x02);
        if params.as_ref().is_some_and(|p| !matches!(p, Value::Map(_))) {
            return Err(CborError::UnexpectedType("subCommandParams"));
        }
        Ok(Self {
            sub_command: ConfigSubCommand::from_byte(sub),
            params,
            pin_uv_auth_protocol: opt_uint(&mut m, 0x03, "pinUvAuthProtocol")?,
            pin_uv_auth_param: m.opt_bytes(0x04, "pinUvAuthParam")?,
        })
    }
}

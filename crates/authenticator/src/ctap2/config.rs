//! authenticatorConfig (CTAP 2.1 §6.11): enterprise attestation, alwaysUv,
//! minimum PIN length and forced PIN change.

use super::{ok, Authenticator, Outcome, MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH};
use ctap::cmd::config::{ConfigRequest, ConfigSubCommand, SetMinPinLengthParams};
use ctap::pin::Permissions;
use ctap::StatusCode;

impl Authenticator {
    pub(super) fn config(&mut self, req: ConfigRequest) -> Outcome {
        if let ConfigSubCommand::Unknown(_) | ConfigSubCommand::VendorPrototype = req.sub_command {
            return Err(StatusCode::InvalidSubcommand);
        }
        match &req.pin_uv_auth_param {
            Some(param) => {
                self.verify_token(req.pin_uv_auth_protocol, param, &req.auth_message())?;
                self.check_permission(Permissions::AUTHENTICATOR_CONFIG, None)?;
            }
            // An unprotected key may be configured without a token.
            None if self.state.pin.is_some() || self.state.always_uv => {
                return Err(StatusCode::PuatRequired)
            }
            None => {}
        }
        match req.sub_command {
            ConfigSubCommand::EnableEnterpriseAttestation => {
                self.state.enterprise_attestation = true;
            }
            ConfigSubCommand::ToggleAlwaysUv => {
                self.state.always_uv = !self.state.always_uv;
            }
            ConfigSubCommand::SetMinPinLength => {
                let params = match req.params {
                    Some(v) => SetMinPinLengthParams::from_cbor(v)
                        .map_err(|e| ctap::cmd::status_for(&e))?,
                    None => SetMinPinLengthParams::default(),
                };
                let current = u64::from(self.state.min_pin_length);
                let new_min = params.new_min_pin_length.unwrap_or(current);
                // The minimum only grows until a reset; a PIN is at most 63 bytes.
                if new_min < current || new_min > ctap::pin::MAX_PIN_BYTES as u64 {
                    return Err(StatusCode::PinPolicyViolation);
                }
                if let Some(rp_ids) = &params.min_pin_length_rpids {
                    if rp_ids.len() > MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH {
                        return Err(StatusCode::PinPolicyViolation);
                    }
                }
                let force = params.force_change_pin == Some(true);
                if force && self.state.pin.is_none() {
                    return Err(StatusCode::PinNotSet);
                }
                self.state.min_pin_length = new_min as u8;
                if let Some(rp_ids) = params.min_pin_length_rpids {
                    self.state.min_pin_length_rpids = rp_ids;
                }
                let too_short = self
                    .state
                    .pin
                    .as_ref()
                    .is_some_and(|p| u64::from(p.code_points) < new_min);
                if force || too_short {
                    self.state.force_pin_change = true;
                }
            }
            ConfigSubCommand::Unknown(_) | ConfigSubCommand::VendorPrototype => {
                return Err(StatusCode::InvalidSubcommand)
            }
        }
        self.save()?;
        ok(&())
    }
}

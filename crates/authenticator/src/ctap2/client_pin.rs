//! authenticatorClientPIN (CTAP 2.1 §6.5.5): PIN set/change, retries with
//! the three-mismatches power-cycle rule, and PIN/UV auth tokens.

use super::{ok, Authenticator, Outcome, PinToken};
use crate::state::{PinState, MAX_PIN_RETRIES};
use ctap::cmd::client_pin::{ClientPinRequest, ClientPinResponse, PinSubCommand};
use ctap::pin::{self, Permissions, PinUvAuthProtocol, SharedSecret};
use ctap::StatusCode;
use std::time::Instant;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Consecutive wrong PINs after which a power cycle is needed.
const MISMATCHES_BEFORE_POWER_CYCLE: u8 = 3;
/// Permissions this key can grant: no bio enrollment, no large blobs.
const GRANTABLE: Permissions = Permissions::MAKE_CREDENTIAL
    .union(Permissions::GET_ASSERTION)
    .union(Permissions::CREDENTIAL_MANAGEMENT)
    .union(Permissions::AUTHENTICATOR_CONFIG);

impl Authenticator {
    pub(super) fn client_pin(&mut self, req: ClientPinRequest) -> Outcome {
        let protocol = match req.pin_uv_auth_protocol {
            Some(p) => {
                Some(PinUvAuthProtocol::from_id(p).map_err(|_| StatusCode::InvalidParameter)?)
            }
            None => None,
        };
        match req.sub_command {
            PinSubCommand::GetPinRetries => ok(&ClientPinResponse {
                pin_retries: Some(u64::from(self.state.pin_retries)),
                power_cycle_state: Some(self.pin_mismatches >= MISMATCHES_BEFORE_POWER_CYCLE),
                ..Default::default()
            }),
            PinSubCommand::GetKeyAgreement => {
                protocol.ok_or(StatusCode::MissingParameter)?;
                ok(&ClientPinResponse {
                    key_agreement: Some(pin::key_agreement_cose(&self.key_agreement.public_key())),
                    ..Default::default()
                })
            }
            PinSubCommand::SetPin => self.set_pin(protocol, req),
            PinSubCommand::ChangePin => self.change_pin(protocol, req),
            PinSubCommand::GetPinToken => self.pin_token(
                protocol,
                req,
                Permissions::MAKE_CREDENTIAL | Permissions::GET_ASSERTION,
                None,
            ),
            PinSubCommand::GetPinUvAuthTokenUsingPinWithPermissions => {
                let permissions = req.permissions.ok_or(StatusCode::MissingParameter)?;
                let permissions = Permissions::from_bits_retain(
                    u8::try_from(permissions).map_err(|_| StatusCode::InvalidParameter)?,
                );
                if permissions.is_empty() {
                    return Err(StatusCode::InvalidParameter);
                }
                if !GRANTABLE.contains(permissions) {
                    return Err(StatusCode::UnauthorizedPermission);
                }
                let rp_id = req.rp_id.clone();
                self.pin_token(protocol, req, permissions, rp_id)
            }
            // No built-in user verification method.
            PinSubCommand::GetPinUvAuthTokenUsingUvWithPermissions
            | PinSubCommand::GetUvRetries => Err(StatusCode::InvalidSubcommand),
            PinSubCommand::Unknown(_) => Err(StatusCode::InvalidSubcommand),
        }
    }

    fn shared_secret(
        &self,
        protocol: Option<PinUvAuthProtocol>,
        req: &ClientPinRequest,
    ) -> Result<SharedSecret, StatusCode> {
        let protocol = protocol.ok_or(StatusCode::MissingParameter)?;
        let peer = req
            .key_agreement
            .as_ref()
            .ok_or(StatusCode::MissingParameter)?;
        protocol
            .decapsulate(&self.key_agreement, peer)
            .map_err(|_| StatusCode::InvalidParameter)
    }

    /// Decrypts and checks a new PIN block against the PIN policy.
    fn decrypt_new_pin(
        &self,
        shared: &SharedSecret,
        new_pin_enc: &[u8],
    ) -> Result<PinState, StatusCode> {
        let block = shared
            .decrypt(new_pin_enc)
            .map_err(|_| StatusCode::InvalidParameter)?;
        if block.len() != 64 {
            return Err(StatusCode::InvalidParameter);
        }
        let pin = pin::unpad_pin(&block).ok_or(StatusCode::PinPolicyViolation)?;
        let code_points = pin.chars().count();
        if code_points < usize::from(self.state.min_pin_length) || pin.len() > pin::MAX_PIN_BYTES {
            return Err(StatusCode::PinPolicyViolation);
        }
        Ok(PinState {
            hash: *pin::pin_hash(&pin),
            code_points: code_points as u8,
        })
    }

    fn set_pin(&mut self, protocol: Option<PinUvAuthProtocol>, req: ClientPinRequest) -> Outcome {
        let shared = self.shared_secret(protocol, &req)?;
        let param = req
            .pin_uv_auth_param
            .as_deref()
            .ok_or(StatusCode::MissingParameter)?;
        let new_pin_enc = req
            .new_pin_enc
            .as_deref()
            .ok_or(StatusCode::MissingParameter)?;
        if self.state.pin.is_some() {
            return Err(StatusCode::NotAllowed);
        }
        if !shared.verify(new_pin_enc, param) {
            return Err(StatusCode::PinAuthInvalid);
        }
        let new_pin = self.decrypt_new_pin(&shared, new_pin_enc)?;
        self.state.pin = Some(new_pin);
        self.state.pin_retries = MAX_PIN_RETRIES;
        self.save()?;
        ok(&())
    }

    fn change_pin(
        &mut self,
        protocol: Option<PinUvAuthProtocol>,
        req: ClientPinRequest,
    ) -> Outcome {
        let shared = self.shared_secret(protocol, &req)?;
        let param = req
            .pin_uv_auth_param
            .as_deref()
            .ok_or(StatusCode::MissingParameter)?;
        let new_pin_enc = req
            .new_pin_enc
            .as_deref()
            .ok_or(StatusCode::MissingParameter)?;
        let pin_hash_enc = req
            .pin_hash_enc
            .as_deref()
            .ok_or(StatusCode::MissingParameter)?;
        if self.state.pin.is_none() {
            return Err(StatusCode::PinNotSet);
        }
        if self.state.pin_retries == 0 {
            return Err(StatusCode::PinBlocked);
        }
        let mut message = new_pin_enc.to_vec();
        message.extend_from_slice(pin_hash_enc);
        if !shared.verify(&message, param) {
            return Err(StatusCode::PinAuthInvalid);
        }
        self.check_pin_hash(&shared, pin_hash_enc)?;
        let new_pin = self.decrypt_new_pin(&shared, new_pin_enc)?;
        let same = self
            .state
            .pin
            .as_ref()
            .is_some_and(|p| bool::from(p.hash.ct_eq(&new_pin.hash)));
        if self.state.force_pin_change && same {
            return Err(StatusCode::PinPolicyViolation);
        }
        self.state.pin = Some(new_pin);
        self.state.force_pin_change = false;
        self.token = PinToken::fresh();
        self.save()?;
        ok(&())
    }

    fn pin_token(
        &mut self,
        protocol: Option<PinUvAuthProtocol>,
        req: ClientPinRequest,
        permissions: Permissions,
        rp_id: Option<String>,
    ) -> Outcome {
        let shared = self.shared_secret(protocol, &req)?;
        let pin_hash_enc = req
            .pin_hash_enc
            .as_deref()
            .ok_or(StatusCode::MissingParameter)?;
        if self.state.pin.is_none() {
            return Err(StatusCode::PinNotSet);
        }
        if self.state.pin_retries == 0 {
            return Err(StatusCode::PinBlocked);
        }
        self.check_pin_hash(&shared, pin_hash_enc)?;
        if self.state.force_pin_change {
            return Err(StatusCode::PinPolicyViolation);
        }
        // Issuing a token invalidates the previous one.
        self.token = PinToken {
            value: Zeroizing::new(rand::random()),
            protocol: Some(shared.protocol()),
            permissions,
            rp_id,
            issued: Instant::now(),
        };
        let encrypted = shared.encrypt(self.token.value.as_ref());
        ok(&ClientPinResponse {
            pin_uv_auth_token: Some(encrypted),
            ..Default::default()
        })
    }

    /// Checks pinHashEnc against the stored PIN (§6.5.5.5 "verify PIN"):
    /// the retry counter is decremented before the comparison and restored
    /// on success; a mismatch regenerates the key-agreement key.
    fn check_pin_hash(
        &mut self,
        shared: &SharedSecret,
        pin_hash_enc: &[u8],
    ) -> Result<(), StatusCode> {
        if self.pin_mismatches >= MISMATCHES_BEFORE_POWER_CYCLE {
            return Err(StatusCode::PinAuthBlocked);
        }
        let hash = shared
            .decrypt(pin_hash_enc)
            .map_err(|_| StatusCode::InvalidParameter)?;
        if hash.len() != 16 {
            return Err(StatusCode::InvalidParameter);
        }
        self.state.pin_retries = self.state.pin_retries.saturating_sub(1);
        self.save()?;
        let stored = self.state.pin.as_ref().ok_or(StatusCode::PinNotSet)?;
        if !bool::from(stored.hash.ct_eq(&hash[..])) {
            self.key_agreement = p256::SecretKey::random(&mut rand::thread_rng());
            self.pin_mismatches += 1;
            if self.state.pin_retries == 0 {
                return Err(StatusCode::PinBlocked);
            }
            if self.pin_mismatches >= MISMATCHES_BEFORE_POWER_CYCLE {
                return Err(StatusCode::PinAuthBlocked);
            }
            return Err(StatusCode::PinInvalid);
        }
        self.pin_mismatches = 0;
        self.state.pin_retries = MAX_PIN_RETRIES;
        self.save()?;
        Ok(())
    }
}

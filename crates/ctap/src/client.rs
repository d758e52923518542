//! The admin's verbs on one key (like `ykman fido` / python-fido2's
//! `Ctap2` + `ClientPin` + `CredentialManagement` + `Config`), built on the
//! typed commands of [`crate::cmd`] and a [`HidChannel`].

use crate::cmd::client_pin::{ClientPinRequest, ClientPinResponse, PinSubCommand};
use crate::cmd::config::{ConfigRequest, ConfigSubCommand, SetMinPinLengthParams};
use crate::cmd::cred_mgmt::{
    CredMgmtParams, CredMgmtRequest, CredMgmtResponse, CredMgmtSubCommand,
};
use crate::cmd::get_assertion::{GetAssertionRequest, GetAssertionResponse};
use crate::cmd::get_info::{GetInfoRequest, GetInfoResponse};
use crate::cmd::make_credential::{MakeCredentialRequest, MakeCredentialResponse};
use crate::cmd::simple::{GetNextAssertionRequest, ResetRequest, SelectionRequest};
use crate::cmd::{decode_response, CredentialDescriptor, CtapRequest, RpEntity, UserEntity};
use crate::error::{Error, Result};
use crate::hid::channel::{CancelHandle, HidChannel};
use crate::hid::{capability, HidCommand, KeepaliveStatus};
use crate::pin::{self, PinUvAuthProtocol, SharedSecret};
use crate::status::StatusCode;
use crate::transport::Transport;
use std::time::Duration;
use webauthn::cose::CoseKey;
use zeroize::Zeroizing;

type KeepaliveFn = Box<dyn FnMut(KeepaliveStatus) + Send>;

/// A CTAP2 session with one key.
pub struct Ctap2Client<T: Transport = Box<dyn Transport>> {
    channel: HidChannel<T>,
    info: GetInfoResponse,
    on_keepalive: KeepaliveFn,
    forced_protocol: Option<PinUvAuthProtocol>,
    time_in_key: Duration,
}

impl<T: Transport> std::fmt::Debug for Ctap2Client<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctap2Client")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
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
    pub fn protocol(&self) -> PinUvAuthProtocol {
        self.protocol
    }

    /// `pinUvAuthParam` for `message`.
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(&self.token, message)
    }
}

/// PIN retry state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PinRetries {
    pub retries: u64,
    /// The key must be removed and re-inserted before the next PIN attempt.
    pub power_cycle_required: bool,
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

impl<T: Transport> Ctap2Client<T> {
    /// Allocates a channel and reads getInfo.
    pub fn open(transport: T) -> Result<Self> {
        let channel = HidChannel::open(transport)?;
        if channel.device().capabilities & capability::CBOR == 0 {
            return Err(Error::Unsupported(
                "CTAP2 (the key speaks only U2F/CTAP1)".into(),
            ));
        }
        let mut client = Self {
            channel,
            info: GetInfoResponse::default(),
            on_keepalive: Box::new(|_| {}),
            forced_protocol: None,
            time_in_key: Duration::ZERO,
        };
        client.refresh_info()?;
        Ok(client)
    }

    /// Calls `f` on every keepalive (e.g. to print "touch your key").
    pub fn set_keepalive_handler(&mut self, f: impl FnMut(KeepaliveStatus) + Send + 'static) {
        self.on_keepalive = Box::new(f);
    }

    pub fn set_idle_timeout(&mut self, timeout: Duration) {
        self.channel.set_idle_timeout(timeout);
    }

    pub fn cancel_handle(&self) -> CancelHandle {
        self.channel.cancel_handle()
    }

    /// The last getInfo answer.
    pub fn info(&self) -> &GetInfoResponse {
        &self.info
    }

    pub fn refresh_info(&mut self) -> Result<&GetInfoResponse> {
        self.info = self.send(&GetInfoRequest)?;
        Ok(&self.info)
    }

    /// Where the key is ("udp:127.0.0.1:8111", "usb:/dev/hidraw3").
    pub fn describe(&self) -> String {
        self.channel.describe()
    }

    /// CTAPHID INIT's device version (major, minor, build).
    pub fn device_version(&self) -> (u8, u8, u8) {
        self.channel.device().version
    }

    /// Sends one typed request and decodes its typed response.
    pub fn send<R: CtapRequest>(&mut self, request: &R) -> Result<R::Response> {
        let started = std::time::Instant::now();
        let frame =
            self.channel
                .transact(HidCommand::Cbor, &request.encode(), &mut *self.on_keepalive);
        self.time_in_key += started.elapsed();
        decode_response(&frame?)
    }

    /// Total time spent waiting for the key's answers (transport included)
    /// since this session opened: lets callers separate their own overhead
    /// from the key's.
    pub fn time_in_key(&self) -> Duration {
        self.time_in_key
    }

    /// Makes the key blink.
    pub fn wink(&mut self) -> Result<()> {
        if self.channel.device().capabilities & capability::WINK == 0 {
            return Err(Error::Unsupported("wink".into()));
        }
        self.channel.wink()
    }

    // ----- PIN (§6.5) -----

    /// Uses `protocol` for PIN operations instead of the key's preference
    /// (tests, and keys whose protocol two is broken).
    pub fn force_pin_protocol(&mut self, protocol: Option<PinUvAuthProtocol>) {
        self.forced_protocol = protocol;
    }

    /// The PIN/UV auth protocol to use: two when the key offers it, else one.
    pub fn pin_protocol(&self) -> Result<PinUvAuthProtocol> {
        let offered = &self.info.pin_uv_auth_protocols;
        if let Some(p) = self.forced_protocol {
            return if offered.contains(&p.id()) {
                Ok(p)
            } else {
                Err(Error::Unsupported(format!(
                    "PIN/UV auth protocol {}",
                    p.id()
                )))
            };
        }
        if offered.contains(&2) {
            Ok(PinUvAuthProtocol::Two)
        } else if offered.contains(&1) || (offered.is_empty() && self.info.pin_is_set().is_some()) {
            Ok(PinUvAuthProtocol::One)
        } else {
            Err(Error::Unsupported("PINs".into()))
        }
    }

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
        pin::check_pin_format(new_pin, self.info.effective_min_pin_length())
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

    /// Gets a PIN/UV auth token with `permissions` (bits of
    /// [`pin::Permissions`]), bound to `rp_id` when given. Uses
    /// getPinUvAuthTokenUsingPinWithPermissions on CTAP 2.1 keys and the
    /// legacy getPinToken otherwise.
    pub fn get_pin_token(
        &mut self,
        pin: &str,
        permissions: u8,
        rp_id: Option<&str>,
    ) -> Result<PinUvAuthToken> {
        let protocol = self.pin_protocol()?;
        let (platform_key, shared) = self.shared_secret(protocol)?;
        let with_permissions = self.info.option("pinUvAuthToken") == Some(true);
        let sub = if with_permissions {
            PinSubCommand::GetPinUvAuthTokenUsingPinWithPermissions
        } else {
            PinSubCommand::GetPinToken
        };
        let mut req = ClientPinRequest::new(Some(protocol.id()), sub);
        req.key_agreement = Some(platform_key);
        req.pin_hash_enc = Some(shared.encrypt(pin::pin_hash(pin).as_ref()));
        if with_permissions {
            req.permissions = Some(u64::from(permissions));
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

    // ----- credentials (§6.1, §6.2) -----

    /// authenticatorMakeCredential. Set `pin_uv_auth_param` with
    /// [`Ctap2Client::authenticate_client_data`] when a token is used.
    pub fn make_credential(
        &mut self,
        request: &MakeCredentialRequest,
    ) -> Result<MakeCredentialResponse> {
        self.send(request)
    }

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

    // ----- credential management (§6.8) -----

    fn cred_mgmt(
        &mut self,
        token: Option<&PinUvAuthToken>,
        sub_command: CredMgmtSubCommand,
        params: Option<CredMgmtParams>,
    ) -> Result<CredMgmtResponse> {
        if self.info.option("credMgmt") != Some(true) {
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

    // ----- authenticator config (§6.11) -----

    fn config(
        &mut self,
        token: Option<&PinUvAuthToken>,
        sub_command: ConfigSubCommand,
        params: Option<webauthn::cbor::Value>,
    ) -> Result<()> {
        if self.info.option("authnrCfg") != Some(true) {
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
        if let Some(token) = token {
            req.pin_uv_auth_protocol = Some(token.protocol().id());
            req.pin_uv_auth_param = Some(token.authenticate(&req.auth_message()));
        }
        self.send(&req)?;
        self.refresh_info()?;
        Ok(())
    }

    /// Turns enterprise attestation on (it stays on until reset).
    pub fn enable_enterprise_attestation(&mut self, token: Option<&PinUvAuthToken>) -> Result<()> {
        if self.info.option("ep").is_none() {
            return Err(Error::Unsupported("enterprise attestation".into()));
        }
        self.config(token, ConfigSubCommand::EnableEnterpriseAttestation, None)
    }

    /// Flips alwaysUv; returns the new value.
    pub fn toggle_always_uv(&mut self, token: Option<&PinUvAuthToken>) -> Result<bool> {
        if self.info.option("alwaysUv").is_none() {
            return Err(Error::Unsupported("alwaysUv".into()));
        }
        self.config(token, ConfigSubCommand::ToggleAlwaysUv, None)?;
        Ok(self.info.option("alwaysUv") == Some(true))
    }

    /// setMinPINLength: raises the minimum PIN length, names RPs allowed to
    /// read it, and/or forces a PIN change before the next use.
    pub fn set_min_pin_length(
        &mut self,
        token: Option<&PinUvAuthToken>,
        params: &SetMinPinLengthParams,
    ) -> Result<()> {
        if self.info.option("setMinPINLength") != Some(true) {
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

    // ----- reset, selection -----

    /// Factory reset: deletes every credential and the PIN. Keys allow it
    /// only shortly after insertion and with a touch.
    pub fn reset(&mut self) -> Result<()> {
        self.send(&ResetRequest)?;
        self.refresh_info()?;
        Ok(())
    }

    /// Waits for a touch (authenticatorSelection).
    pub fn selection(&mut self) -> Result<()> {
        self.send(&SelectionRequest)
    }
}

//! The CTAP2 command processor: state, PIN/UV auth token, and dispatch to
//! one handler per command (CTAP 2.1 §6). Pure request bytes in, response
//! bytes out; the HID layer around it handles framing and presence prompts.

mod client_pin;
mod config;
mod cred_mgmt;
mod get_assertion;
mod make_credential;

use crate::attestation::{
    AttestationError, AttestationMode, AttestationSigner, ModelCa, StoredAttestation,
};
use crate::presence::{PresenceOutcome, UserPresence};
use crate::state::{PersistentState, ResidentCredential, StateError, StateFile};
use ctap::cmd::get_info::GetInfoResponse;
use ctap::cmd::{self, CommandCode, CtapRequest, CtapResponse, PubKeyCredParam};
use ctap::pin::{Permissions, PinUvAuthProtocol};
use ctap::StatusCode;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The AAGUID of Keysmith's virtual key model unless configured otherwise.
pub const DEFAULT_AAGUID: uuid::Uuid = uuid::uuid!("4b657973-6d69-4e68-a000-766b65790001");
/// Discoverable credential slots unless configured otherwise.
pub const DEFAULT_CAPACITY: usize = 25;
/// Largest CBOR message accepted (getInfo maxMsgSize).
pub const MAX_MSG_SIZE: usize = 4096;
/// Longest credential id list entry the key reads (getInfo).
pub const MAX_CREDENTIAL_COUNT_IN_LIST: usize = 16;
/// Firmware version reported by getInfo.
pub const FIRMWARE_VERSION: u64 = 0x0001_0000;
/// RP IDs that setMinPINLength may name.
pub const MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH: usize = 8;
/// How long a getNextAssertion / enumerate…GetNext may follow its begin.
const CONTINUATION_TIMEOUT: Duration = Duration::from_secs(30);

/// How a virtual key is set up.
#[derive(Debug, Clone)]
pub struct AuthenticatorConfig {
    /// Model of a new key (an existing state file keeps its own).
    pub aaguid: uuid::Uuid,
    /// Discoverable credential slots.
    pub capacity: usize,
    /// Which attestation a new key makes (packed with the batch certificate, self, or none).
    pub attestation: AttestationMode,
    /// Directory of shared per-model attestation CAs (see
    /// [`crate::attestation::ModelCa::load_or_create`]).
    pub model_dir: Option<PathBuf>,
    /// Reset is allowed only this long after power-up (`None`: always).
    pub reset_window: Option<Duration>,
    /// RP IDs for vendor-facilitated enterprise attestation.
    pub enterprise_rp_ids: Vec<String>,
    /// Lifetime of a PIN/UV auth token.
    pub token_lifetime: Duration,
}

impl Default for AuthenticatorConfig {
    fn default() -> Self {
        Self {
            aaguid: DEFAULT_AAGUID,
            capacity: DEFAULT_CAPACITY,
            attestation: AttestationMode::Batch,
            model_dir: None,
            reset_window: Some(Duration::from_secs(10)),
            enterprise_rp_ids: Vec::new(),
            token_lifetime: Duration::from_secs(600),
        }
    }
}

/// Failure to open a key.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    /// The state file could not be read or written.
    State(#[from] StateError),
    #[error(transparent)]
    /// The attestation material could not be made or loaded.
    Attestation(#[from] AttestationError),
    #[error("{path} belongs to a key of model {found}, not {wanted}")]
    /// The state file is of another model than the one asked for.
    ModelMismatch {
        /// The state file.
        path: PathBuf,
        /// Its model.
        found: String,
        /// The model asked for.
        wanted: String,
    },
}

/// The issued PIN/UV auth token (§6.5.2.1). One at a time: issuing a new
/// one invalidates the previous.
struct PinToken {
    value: Zeroizing<[u8; 32]>,
    protocol: Option<PinUvAuthProtocol>,
    permissions: Permissions,
    rp_id: Option<String>,
    issued: Instant,
}

impl PinToken {
    fn fresh() -> Self {
        Self {
            value: Zeroizing::new(rand::random()),
            protocol: None,
            permissions: Permissions::empty(),
            rp_id: None,
            issued: Instant::now(),
        }
    }
}

/// State a follow-up command continues.
enum Pending {
    None,
    Assertions(get_assertion::PendingAssertions),
    Rps {
        remaining: Vec<(String, Option<String>)>,
        since: Instant,
    },
    Credentials {
        remaining: Vec<ResidentCredential>,
        since: Instant,
    },
}

/// A software CTAP 2.1 authenticator.
pub struct Authenticator {
    config: AuthenticatorConfig,
    state: PersistentState,
    file: Option<StateFile>,
    signer: AttestationSigner,
    key_agreement: p256::SecretKey,
    token: PinToken,
    pin_mismatches: u8,
    powered_at: Instant,
    pending: Pending,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("aaguid", &self.state.aaguid)
            .field("serial", &self.state.serial)
            .finish_non_exhaustive()
    }
}

pub(crate) type Outcome = Result<Vec<u8>, StatusCode>;

fn ok<R: CtapResponse>(r: &R) -> Outcome {
    Ok(cmd::encode_response(r))
}

fn decode<R: CtapRequest>(params: Option<webauthn::cbor::Value>) -> Result<R, StatusCode> {
    R::from_cbor(params).map_err(|e| cmd::status_for(&e))
}

pub(crate) fn rp_id_hash(rp_id: &str) -> [u8; 32] {
    Sha256::digest(rp_id.as_bytes()).into()
}

/// Maps a presence outcome to the status a refusal returns.
pub(crate) fn presence(up: &dyn UserPresence) -> Result<(), StatusCode> {
    match up.request() {
        PresenceOutcome::Approved => Ok(()),
        PresenceOutcome::Denied => Err(StatusCode::OperationDenied),
        PresenceOutcome::TimedOut => Err(StatusCode::UserActionTimeout),
        PresenceOutcome::Cancelled => Err(StatusCode::KeepaliveCancel),
    }
}

impl Authenticator {
    /// Opens the key whose state is in `file` (created on first use), or an
    /// in-memory key when `file` is `None`. Opening is a power-up: PIN
    /// mismatch counters and tokens start fresh.
    pub fn open(config: AuthenticatorConfig, file: Option<StateFile>) -> Result<Self, OpenError> {
        let existing = match &file {
            Some(f) => f.load()?,
            None => None,
        };
        let wanted = config.aaguid.hyphenated().to_string();
        let mut state = match existing {
            Some(s) => {
                if s.aaguid != wanted && config.aaguid != DEFAULT_AAGUID {
                    return Err(OpenError::ModelMismatch {
                        path: file
                            .as_ref()
                            .map(|f| f.path().to_owned())
                            .unwrap_or_default(),
                        found: s.aaguid.clone(),
                        wanted,
                    });
                }
                s
            }
            None => PersistentState::new(config.aaguid),
        };
        let mut dirty = file.is_some() && !file.as_ref().is_some_and(|f| f.path().exists());
        if state.attestation.is_none() {
            let aaguid = state.aaguid_bytes();
            let ca = match &config.model_dir {
                Some(dir) => ModelCa::load_or_create(dir, &aaguid)?,
                None => ModelCa::generate(&aaguid)?,
            };
            state.attestation = Some(StoredAttestation::issue(&ca, &aaguid, &state.serial)?);
            dirty = true;
        }
        let signer = AttestationSigner::load(state.attestation.as_ref().expect("set above"))?;
        let auth = Self {
            config,
            state,
            file,
            signer,
            key_agreement: p256::SecretKey::random(&mut rand::thread_rng()),
            token: PinToken::fresh(),
            pin_mismatches: 0,
            powered_at: Instant::now(),
            pending: Pending::None,
        };
        if dirty {
            if let Some(f) = &auth.file {
                f.save(&auth.state)?;
            }
        }
        Ok(auth)
    }

    /// The model's attestation root certificate (PEM) for relying parties.
    pub fn attestation_root_pem(&self) -> &str {
        self.signer.root_pem()
    }

    /// The key's model.
    pub fn aaguid(&self) -> uuid::Uuid {
        uuid::Uuid::from_bytes(self.state.aaguid_bytes())
    }

    /// The key's serial number.
    pub fn serial(&self) -> &str {
        &self.state.serial
    }

    /// Discoverable credentials stored.
    pub fn resident_count(&self) -> usize {
        self.state.credentials.len()
    }

    fn save(&self) -> Result<(), StatusCode> {
        if let Some(f) = &self.file {
            f.save(&self.state).map_err(|e| {
                tracing::error!("{e}");
                StatusCode::Other
            })?;
        }
        Ok(())
    }

    /// Processes one CTAP2 request (command byte ‖ CBOR) and returns the
    /// response (status byte ‖ CBOR).
    pub fn process(&mut self, request: &[u8], up: &dyn UserPresence) -> Vec<u8> {
        if request.len() > MAX_MSG_SIZE {
            return cmd::encode_status(StatusCode::RequestTooLarge);
        }
        let outcome = self.dispatch(request, up);
        match outcome {
            Ok(bytes) => bytes,
            Err(status) => cmd::encode_status(status),
        }
    }

    fn dispatch(&mut self, request: &[u8], up: &dyn UserPresence) -> Outcome {
        let (command, params) = cmd::split_request(request)?;
        let command = CommandCode::from_byte(command).ok_or(StatusCode::InvalidCommand)?;
        // A continuation is only valid as the very next command.
        let pending = std::mem::replace(&mut self.pending, Pending::None);
        match command {
            CommandCode::GetInfo => ok(&self.get_info()),
            CommandCode::MakeCredential => self.make_credential(decode(params)?, up),
            CommandCode::GetAssertion => self.get_assertion(decode(params)?, up),
            CommandCode::GetNextAssertion => self.get_next_assertion(pending),
            CommandCode::ClientPin => self.client_pin(decode(params)?),
            CommandCode::Reset => self.reset(up),
            CommandCode::CredentialManagement => {
                self.credential_management(decode(params)?, pending)
            }
            CommandCode::Selection => presence(up).map(|()| cmd::encode_response(&())),
            CommandCode::Config => self.config(decode(params)?),
            CommandCode::BioEnrollment | CommandCode::LargeBlobs => Err(StatusCode::InvalidCommand),
        }
    }

    /// authenticatorGetInfo.
    pub fn get_info(&self) -> GetInfoResponse {
        let s = &self.state;
        let mut options = BTreeMap::new();
        for (name, value) in [
            ("rk", true),
            ("up", true),
            ("uv", false),
            ("plat", false),
            ("clientPin", s.pin.is_some()),
            ("pinUvAuthToken", true),
            ("credMgmt", true),
            ("authnrCfg", true),
            ("setMinPINLength", true),
            ("makeCredUvNotRqd", !s.always_uv),
            ("alwaysUv", s.always_uv),
            ("ep", s.enterprise_attestation),
        ] {
            options.insert(name.to_owned(), value);
        }
        GetInfoResponse {
            versions: vec!["FIDO_2_0".into(), "FIDO_2_1".into()],
            extensions: vec![
                "credBlob".into(),
                "credProtect".into(),
                "hmac-secret".into(),
                "minPinLength".into(),
            ],
            aaguid: s.aaguid_bytes(),
            options,
            max_msg_size: Some(MAX_MSG_SIZE as u64),
            pin_uv_auth_protocols: vec![2, 1],
            max_credential_count_in_list: Some(MAX_CREDENTIAL_COUNT_IN_LIST as u64),
            max_credential_id_length: Some(128),
            transports: vec!["usb".into()],
            algorithms: crate::credential::SUPPORTED_ALGORITHMS
                .iter()
                .map(|a| PubKeyCredParam { alg: a.id() })
                .collect(),
            force_pin_change: Some(s.force_pin_change),
            min_pin_length: Some(u64::from(s.min_pin_length)),
            firmware_version: Some(FIRMWARE_VERSION),
            max_cred_blob_length: Some(crate::credential::MAX_CRED_BLOB_LEN as u64),
            max_rpids_for_set_min_pin_length: Some(MAX_RPIDS_FOR_SET_MIN_PIN_LENGTH as u64),
            remaining_discoverable_credentials: Some(
                self.config.capacity.saturating_sub(s.credentials.len()) as u64,
            ),
            ..Default::default()
        }
    }

    /// authenticatorReset (§6.6): only shortly after power-up, with a touch.
    fn reset(&mut self, up: &dyn UserPresence) -> Outcome {
        if let Some(window) = self.config.reset_window {
            if self.powered_at.elapsed() > window {
                return Err(StatusCode::NotAllowed);
            }
        }
        presence(up)?;
        self.state.reset();
        self.token = PinToken::fresh();
        self.pin_mismatches = 0;
        self.key_agreement = p256::SecretKey::random(&mut rand::thread_rng());
        self.save()?;
        ok(&())
    }

    // ----- PIN/UV auth token checks shared by the commands -----

    /// Checks `pinUvAuthParam` over `message` with the current token.
    fn verify_token(
        &self,
        protocol: Option<u64>,
        param: &[u8],
        message: &[u8],
    ) -> Result<(), StatusCode> {
        let protocol = protocol.ok_or(StatusCode::MissingParameter)?;
        let protocol =
            PinUvAuthProtocol::from_id(protocol).map_err(|_| StatusCode::InvalidParameter)?;
        let t = &self.token;
        if t.protocol != Some(protocol) || t.issued.elapsed() > self.config.token_lifetime {
            return Err(StatusCode::PinAuthInvalid);
        }
        if !protocol.verify(t.value.as_ref(), message, param) {
            return Err(StatusCode::PinAuthInvalid);
        }
        Ok(())
    }

    /// The token must carry `permission`; an mc/ga token is bound to the
    /// first RP ID it is used with (§6.5.5.7).
    fn check_permission(
        &mut self,
        permission: Permissions,
        rp_id: Option<&str>,
    ) -> Result<(), StatusCode> {
        if !self.token.permissions.contains(permission) {
            return Err(StatusCode::UnauthorizedPermission);
        }
        if let Some(rp_id) = rp_id {
            match &self.token.rp_id {
                Some(bound) if bound != rp_id => return Err(StatusCode::UnauthorizedPermission),
                Some(_) => {}
                None => self.token.rp_id = Some(rp_id.to_owned()),
            }
        }
        Ok(())
    }

    /// A zero-length pinUvAuthParam asks the key to blink and report
    /// whether a PIN is set (§6.1.2 step 1).
    fn probe_pin(&self, up: &dyn UserPresence) -> StatusCode {
        if let Err(status) = presence(up) {
            return status;
        }
        if self.state.pin.is_some() {
            StatusCode::PinInvalid
        } else {
            StatusCode::PinNotSet
        }
    }
}

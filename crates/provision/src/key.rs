//! Provisioning one user on one key: the three steps of the seed (creation
//! options → CTAP makeCredential with a PIN → register), each journaled
//! before its side effect, plus PIN setup and PIN policy.

use crate::error::{failpoint, Error, Result};
use crate::events::{RunEvent, RunObserver};
use crate::journal::{JournalEvent, KeyIdentity, ProvisioningJournal, UserProgress};
use crate::pin::{self, Pin, PinAlphabet};
use crate::results::{now_rfc3339, OutcomeStatus, PinFile, PinRecord, UserOutcome};
use crate::target::Directory;
use crate::users::UserJob;
use ctap::cmd::config::SetMinPinLengthParams;
use ctap::device::DeviceSpec;
use ctap::pin::Permissions;
use ctap::{Ctap2Client, StatusCode};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use webauthn::b64;
use webauthn::graph::{
    entra_credential_id_candidates, CreationOptionsResponse, PublicKeyCredentialJson,
    RegisterRequest,
};

/// How every key of a run is provisioned.
#[derive(Debug, Clone)]
pub struct ProvisionSettings {
    /// Length of generated PINs (raised to the key's and the policy's
    /// minimum when those are higher).
    pub pin_length: usize,
    /// Characters the generated PIN uses.
    pub pin_alphabet: PinAlphabet,
    /// A PIN the operator chose for keys that have none (instead of a
    /// random one).
    pub new_pin: Option<Pin>,
    /// The PIN of keys that already have one.
    pub current_pin: Option<Pin>,
    /// Whether the user must change the PIN on first use.
    pub force_pin_change: bool,
    /// The minimum PIN length applied to the key, if one was.
    pub min_pin_length: Option<u64>,
    /// RP IDs allowed to read the key's minimum PIN length.
    pub min_pin_length_rp_ids: Vec<String>,
    /// Abort (rather than warn and continue) when a key cannot apply the
    /// PIN policy asked for.
    pub require_pin_policy: bool,
    /// Factory-reset each key before provisioning it.
    pub reset_first: bool,
    /// Lifetime of the directory's challenge (5..=43200 minutes).
    pub challenge_timeout_minutes: u32,
    /// The WebAuthn origin put in clientDataJSON; default `https://{rp.id}`.
    pub origin: Option<String>,
    /// Where generated PINs go (0600). Required when a PIN is generated.
    pub pin_file: Option<PathBuf>,
}

impl Default for ProvisionSettings {
    fn default() -> Self {
        Self {
            pin_length: 6,
            pin_alphabet: PinAlphabet::Digits,
            new_pin: None,
            current_pin: None,
            force_pin_change: false,
            min_pin_length: None,
            min_pin_length_rp_ids: Vec::new(),
            require_pin_policy: true,
            reset_first: false,
            challenge_timeout_minutes: 60,
            origin: None,
            pin_file: None,
        }
    }
}

impl ProvisionSettings {
    fn wants_pin_policy(&self) -> bool {
        self.force_pin_change || self.min_pin_length.is_some()
    }
}

/// One opened key.
pub struct KeySession {
    /// The CTAP session with the key.
    pub client: Ctap2Client,
    /// Which key this is.
    pub identity: KeyIdentity,
    /// The USB product string ("YubiKey OTP+FIDO+CCID"), when known.
    pub product: Option<String>,
}

impl KeySession {
    /// Opens the key at `spec` and reads what it is (getInfo, USB details).
    pub fn open(spec: &DeviceSpec) -> Result<Self> {
        let (serial, product) = usb_details(spec);
        let transport = ctap::device::open(spec)?;
        let client = Ctap2Client::open(transport)?;
        let identity = KeyIdentity {
            device: spec.to_string(),
            serial,
            aaguid: webauthn::authdata::format_aaguid(&client.info().aaguid),
        };
        Ok(Self {
            client,
            identity,
            product,
        })
    }
}

/// Serial number and product name of a USB key, from the HID descriptor.
#[cfg(feature = "usb")]
fn usb_details(spec: &DeviceSpec) -> (Option<String>, Option<String>) {
    let Ok(keys) = ctap::transport::usb::enumerate() else {
        return (None, None);
    };
    let found = match spec {
        DeviceSpec::UsbPath(p) => keys.into_iter().find(|k| &k.path == p),
        DeviceSpec::UsbAuto if keys.len() == 1 => keys.into_iter().next(),
        _ => None,
    };
    match found {
        Some(k) => (
            k.serial_number.filter(|s| !s.trim().is_empty()),
            k.product.filter(|s| !s.trim().is_empty()),
        ),
        None => (None, None),
    }
}

#[cfg(not(feature = "usb"))]
fn usb_details(_: &DeviceSpec) -> (Option<String>, Option<String>) {
    (None, None)
}

/// Everything a worker shares with the rest of the run.
pub struct RunContext {
    /// The directory the run registers passkeys in.
    pub directory: Arc<Directory>,
    /// The run's journal (none for a one-off operation).
    pub journal: Option<Arc<ProvisioningJournal>>,
    /// Where generated PINs are written (mode 0600).
    pub pin_file: Option<Arc<PinFile>>,
    /// The run's PIN and policy settings.
    pub settings: ProvisionSettings,
    /// Who hears of the run's progress.
    pub observer: Arc<dyn RunObserver>,
}

impl RunContext {
    fn journal(&self, event: JournalEvent) -> Result<()> {
        match &self.journal {
            Some(j) => j.append(event),
            None => Ok(()),
        }
    }

    fn step(&self, user: &str, step: &'static str) {
        self.observer.event(RunEvent::Step {
            user: user.to_owned(),
            step,
        });
    }
}

/// Registers a credential the journal holds from an interrupted run, if
/// its challenge is still valid. No key needed. `Ok(None)` when the
/// challenge has expired (the credential must then be removed and redone).
pub fn register_pending(
    ctx: &RunContext,
    user: &str,
    progress: &UserProgress,
) -> Result<Option<crate::journal::RegisteredMethod>> {
    let (Some(pending), Some(options)) = (&progress.pending_credential, &progress.options) else {
        return Ok(None);
    };
    if !challenge_still_valid(options) {
        return Ok(None);
    }
    ctx.step(user, "registering credential from the journal");
    let registered = register(
        ctx,
        user,
        &pending.credential_id,
        &pending.client_data_json,
        &pending.attestation_object,
        &pending.display_name,
    )?;
    Ok(Some(registered))
}

fn challenge_still_valid(options: &CreationOptionsResponse) -> bool {
    let Some(until) = options
        .challenge_timeout_date_time
        .as_deref()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
    else {
        return false;
    };
    // Leave a margin for the round trip.
    until - time::Duration::seconds(30) > time::OffsetDateTime::now_utc()
}

/// Provisions `job` on `key`, continuing from `progress` (empty for a new
/// user). Failures after the credential was made on the key remove it
/// again, unless the registration may still succeed on resume.
pub fn provision_user(
    ctx: &RunContext,
    key: &mut KeySession,
    job: &UserJob,
    progress: &UserProgress,
) -> Result<UserOutcome> {
    let started = Instant::now();
    let user = job.user.as_str();
    let settings = &ctx.settings;
    let mut outcome = UserOutcome::new(user, OutcomeStatus::Provisioned);
    outcome.key_device = Some(key.identity.device.clone());
    outcome.key_serial = key.identity.serial.clone();
    outcome.aaguid = Some(key.identity.aaguid.clone());

    // Refuse early what this key cannot do, before touching it.
    let info = key.client.info().clone();
    if settings.wants_pin_policy() && info.option("setMinPINLength") != Some(true) {
        let msg = format!(
            "{} cannot set a minimum PIN length or force a PIN change (no CTAP 2.1 setMinPINLength)",
            key.identity.device
        );
        if settings.require_pin_policy {
            return Err(Error::PinPolicy(format!(
                "{msg}; use --require-pin-policy false to provision it anyway"
            )));
        }
        ctx.observer.event(RunEvent::Warning {
            message: format!("{msg}; continuing without the PIN policy"),
        });
    }
    if info.remaining_discoverable_credentials == Some(0)
        && progress.registered.is_none()
        && !settings.reset_first
    {
        return Err(Error::KeyFull);
    }
    if info.pin_is_set().is_none() {
        return Err(Error::PinPolicy(format!(
            "{} does not support PINs (clientPin); it cannot be provisioned for user verification",
            key.identity.device
        )));
    }
    ctx.journal(JournalEvent::KeyAssigned {
        user: user.to_owned(),
        key: key.identity.clone(),
    })?;

    let mut progress = progress.clone();
    let already_registered = progress.registered.clone();
    if settings.reset_first && already_registered.is_none() {
        ctx.step(user, "resetting the key (touch it)");
        key.client.reset()?;
        ctx.journal(JournalEvent::KeyReset {
            user: user.to_owned(),
            key: key.identity.clone(),
        })?;
        // The reset took the PIN and any leftover credential with it.
        progress.pin_set = false;
        progress.creating = None;
        progress.pending_credential = None;
    }

    // ---- PIN ----
    let (pin, generated) = ensure_pin(ctx, key, job, &progress)?;
    outcome.pin_generated = generated;

    let registered = match already_registered {
        Some(r) => r,
        None => {
            // Anything an earlier attempt left on this key for this user
            // goes first: never two credentials for one user.
            remove_leftovers(ctx, key, user, &progress, &pin)?;
            let created = create_credential(ctx, key, job, &pin)?;
            match register(
                ctx,
                user,
                &created.credential_id,
                &created.client_data_json,
                &created.attestation_object,
                &created.display_name,
            ) {
                Ok(r) => r,
                Err(e) => {
                    let definitive = matches!(e, Error::Directory { status, .. } if (400..500).contains(&status) && status != 401 && status != 408 && status != 429);
                    if definitive {
                        // The directory will never take it: clean the key.
                        delete_from_key(
                            ctx,
                            key,
                            user,
                            &pin,
                            &created.credential_id,
                            &e.to_string(),
                        )?;
                    }
                    return Err(e);
                }
            }
        }
    };
    outcome.method_id = Some(registered.method_id.clone());
    outcome.model = registered.model.clone();
    outcome.display_name = registered.display_name.clone();
    if registered.aaguid.is_some() {
        outcome.aaguid = registered.aaguid.clone();
    }

    // ---- PIN policy (after makeCredential: a forced change blocks tokens) ----
    if settings.wants_pin_policy()
        && !progress.pin_policy_applied
        && info.option("setMinPINLength") == Some(true)
    {
        ctx.step(user, "applying PIN policy");
        // A run killed after setting the policy but before journaling it
        // left the key with a forced PIN change, which refuses PIN tokens
        // (CTAP2_ERR_PIN_POLICY_VIOLATION): the key says what is in
        // effect, and a policy already there is not set again. (A forced
        // change is only ever set last, after the registration.)
        let now = key.client.refresh_info()?.clone();
        let in_effect = settings.force_pin_change
            && now.force_pin_change == Some(true)
            && settings
                .min_pin_length
                .is_none_or(|n| now.min_pin_length.is_some_and(|m| m >= n));
        if !in_effect {
            let token =
                key.client
                    .get_pin_token(pin.expose(), Permissions::AUTHENTICATOR_CONFIG, None)?;
            let params = SetMinPinLengthParams {
                new_min_pin_length: settings.min_pin_length,
                min_pin_length_rpids: (!settings.min_pin_length_rp_ids.is_empty())
                    .then(|| settings.min_pin_length_rp_ids.clone()),
                force_change_pin: settings.force_pin_change.then_some(true),
            };
            key.client.set_min_pin_length(Some(&token), &params)?;
            failpoint("after-pin-policy-unjournaled");
        }
        ctx.journal(JournalEvent::PinPolicyApplied {
            user: user.to_owned(),
            key: key.identity.clone(),
            min_pin_length: settings.min_pin_length,
            force_pin_change: settings.force_pin_change,
        })?;
        failpoint("after-pin-policy");
        outcome.force_pin_change = settings.force_pin_change;
        outcome.min_pin_length = settings.min_pin_length;
    }
    ctx.journal(JournalEvent::UserDone {
        user: user.to_owned(),
    })?;
    outcome.seconds = started.elapsed().as_secs_f64();
    Ok(outcome)
}

/// Makes sure the key has a PIN we know: sets a new one (generated or
/// given) on a key without one, or uses the current PIN. Returns the PIN
/// and whether it was generated here.
fn ensure_pin(
    ctx: &RunContext,
    key: &mut KeySession,
    job: &UserJob,
    progress: &UserProgress,
) -> Result<(Pin, bool)> {
    let user = job.user.as_str();
    let settings = &ctx.settings;
    let info = key.client.info().clone();
    if info.pin_is_set() == Some(true) {
        // A PIN this run set earlier on this very key (resume) wins over
        // the operator's --current-pin.
        if let Some(path) = &settings.pin_file {
            if progress
                .key
                .as_ref()
                .is_some_and(|k| k.same_key(&key.identity))
            {
                if let Some(pin) = PinFile::lookup(path, user, &key.identity.device)? {
                    return Ok((pin, false));
                }
            }
        }
        return match &settings.current_pin {
            Some(pin) => Ok((pin.clone(), false)),
            None => Err(Error::Pin(format!(
                "{} already has a PIN; give it with --current-pin-file/--current-pin-stdin, or reset the key with --reset-first",
                key.identity.device
            ))),
        };
    }
    let key_min = info.effective_min_pin_length();
    let policy_min = settings.min_pin_length.unwrap_or(0) as usize;
    let (pin, generated) = match &settings.new_pin {
        Some(p) => {
            pin::check_given(p.expose(), key_min.max(policy_min)).map_err(Error::Pin)?;
            (p.clone(), false)
        }
        None => {
            let len = job
                .pin_length
                .unwrap_or(settings.pin_length)
                .max(key_min)
                .max(policy_min);
            (
                pin::generate(len, settings.pin_alphabet).map_err(Error::Pin)?,
                true,
            )
        }
    };
    // The PIN is on disk before it is on the key.
    match &ctx.pin_file {
        Some(file) => file.record(&PinRecord {
            user: user.to_owned(),
            key_serial: key.identity.serial.clone().unwrap_or_default(),
            key_device: key.identity.device.clone(),
            pin: pin.clone(),
            set_at: now_rfc3339(),
        })?,
        None if generated => {
            return Err(Error::Input(
                "a random PIN would be set but there is no PIN file: give --pin-out FILE".into(),
            ))
        }
        None => {}
    }
    ctx.step(user, "setting the PIN");
    ctx.journal(JournalEvent::SettingPin {
        user: user.to_owned(),
        key: key.identity.clone(),
    })?;
    failpoint("before-set-pin");
    key.client.set_pin(pin.expose())?;
    ctx.journal(JournalEvent::PinSet {
        user: user.to_owned(),
        key: key.identity.clone(),
    })?;
    failpoint("after-set-pin");
    Ok((pin, generated))
}

/// Deletes credentials an interrupted attempt may have left on this key
/// for this user: one being created when the run died (found by user
/// handle), or one created but never registered.
fn remove_leftovers(
    ctx: &RunContext,
    key: &mut KeySession,
    user: &str,
    progress: &UserProgress,
    pin: &Pin,
) -> Result<()> {
    let on_this_key = progress
        .key
        .as_ref()
        .is_some_and(|k| k.same_key(&key.identity));
    if !on_this_key || (progress.creating.is_none() && progress.pending_credential.is_none()) {
        return Ok(());
    }
    if key.client.info().option("credMgmt") != Some(true) {
        return Err(Error::Input(format!(
            "{} may hold an unregistered credential for {user} from the interrupted run, and it has no credential management to remove it; reset the key",
            key.identity.device
        )));
    }
    ctx.step(user, "removing the credential of the interrupted attempt");
    let token = key
        .client
        .get_pin_token(pin.expose(), Permissions::CREDENTIAL_MANAGEMENT, None)?;
    let stored = key.client.list_credentials(&token)?;
    let mut doomed: Vec<Vec<u8>> = Vec::new();
    if let Some((handle, rp_id)) = &progress.creating {
        let handle = journaled_bytes(handle, "user handle")?;
        for c in &stored {
            if c.rp.id == *rp_id && c.user.id == handle {
                doomed.push(c.credential_id.clone());
            }
        }
    }
    if let Some(p) = &progress.pending_credential {
        if let Ok(id) = b64::decode(&p.credential_id) {
            if stored.iter().any(|c| c.credential_id == id) && !doomed.contains(&id) {
                doomed.push(id);
            }
        }
    }
    let pending_id = progress
        .pending_credential
        .as_ref()
        .map(|p| p.credential_id.clone());
    for id in doomed {
        key.client.delete_credential(&token, &id)?;
        ctx.journal(JournalEvent::CredentialRemoved {
            user: user.to_owned(),
            key: key.identity.clone(),
            credential_id: b64::encode(&id),
            reason: "left by an interrupted attempt".into(),
        })?;
    }
    // A pending credential the key no longer holds: clear it in the
    // journal all the same (removing it twice would add nothing).
    if let Some(id) = pending_id {
        let removed =
            b64::decode(&id).is_ok_and(|raw| stored.iter().any(|c| c.credential_id == raw));
        if !removed {
            ctx.journal(JournalEvent::CredentialRemoved {
                user: user.to_owned(),
                key: key.identity.clone(),
                credential_id: id,
                reason: "no longer on the key".into(),
            })?;
        }
    }
    Ok(())
}

fn delete_from_key(
    ctx: &RunContext,
    key: &mut KeySession,
    user: &str,
    pin: &Pin,
    credential_id: &str,
    reason: &str,
) -> Result<()> {
    let id = journaled_bytes(credential_id, "credential id")?;
    if key.client.info().option("credMgmt") == Some(true) {
        let token =
            key.client
                .get_pin_token(pin.expose(), Permissions::CREDENTIAL_MANAGEMENT, None)?;
        match key.client.delete_credential(&token, &id) {
            Ok(()) | Err(ctap::Error::Status(StatusCode::NoCredentials)) => {}
            Err(e) => return Err(e.into()),
        }
        ctx.journal(JournalEvent::CredentialRemoved {
            user: user.to_owned(),
            key: key.identity.clone(),
            credential_id: credential_id.to_owned(),
            reason: reason.chars().take(300).collect(),
        })?;
    }
    Ok(())
}

struct CreatedCredential {
    credential_id: String,
    client_data_json: String,
    attestation_object: String,
    display_name: String,
}

fn create_credential(
    ctx: &RunContext,
    key: &mut KeySession,
    job: &UserJob,
    pin: &Pin,
) -> Result<CreatedCredential> {
    let user = job.user.as_str();
    let settings = &ctx.settings;
    ctx.step(user, "fetching creation options");
    let options = ctx
        .directory
        .creation_options(user, settings.challenge_timeout_minutes)?;
    ctx.journal(JournalEvent::OptionsFetched {
        user: user.to_owned(),
        options: Box::new(options.clone()),
    })?;
    failpoint("after-options");
    let pk = &options.public_key;
    // Client data, the key's algorithms, extensions, PIN token and the
    // exclude list (keysmith-client); nothing is created yet.
    let prepared = client::prepare_registration(
        &mut key.client,
        pk,
        &client::RegistrationParams {
            origin: settings.origin.as_deref(),
            pin: Some(pin.expose()),
            ..Default::default()
        },
    )
    .map_err(|e| match (e.status(), e.code, e.cause) {
        (Some(StatusCode::CredentialExcluded), ..) => Error::AlreadyProvisioned {
            user: user.to_owned(),
        },
        (_, _, Some(cause)) => Error::Key(cause),
        (_, client::ErrorCode::ConfigurationUnsupported, None) => Error::PinPolicy(format!(
            "{} does not support credProtect, which the directory enforces",
            key.identity.device
        )),
        (_, _, None) => Error::Input(format!("the directory's creation options: {}", e.message)),
    })?;
    let rp_id = prepared.rp_id.clone();
    let display_name = job
        .display_name
        .clone()
        .unwrap_or_else(|| default_display_name(&key.identity, key.product.as_deref()));
    ctx.journal(JournalEvent::CreatingCredential {
        user: user.to_owned(),
        key: key.identity.clone(),
        user_handle: pk.user.id.clone(),
        rp_id: rp_id.clone(),
    })?;
    failpoint("before-make-credential");
    ctx.step(user, "creating the passkey (touch the key if it blinks)");
    let observer = ctx.observer.clone();
    let device = key.identity.device.clone();
    key.client.set_keepalive_handler(move |status| {
        if status == ctap::hid::KeepaliveStatus::UpNeeded {
            observer.event(RunEvent::TouchKey {
                device: device.clone(),
            });
        }
    });
    let response = client::complete_registration(&mut key.client, prepared);
    key.client.set_keepalive_handler(|_| {});
    // The window where the key holds a credential the journal does not know.
    failpoint("after-make-credential-unjournaled");
    let registration = match response {
        Ok(r) => r,
        Err(e) => {
            let refused = match e.status() {
                Some(StatusCode::CredentialExcluded) => Some(Error::AlreadyProvisioned {
                    user: user.to_owned(),
                }),
                Some(StatusCode::KeyStoreFull) => Some(Error::KeyFull),
                _ => None,
            };
            if let Some(err) = refused {
                ctx.journal(JournalEvent::CreationRefused {
                    user: user.to_owned(),
                    key: key.identity.clone(),
                    reason: err.kind().to_owned(),
                })?;
                return Err(err);
            }
            return Err(Error::Key(
                e.cause.unwrap_or(ctap::Error::Protocol(e.message)),
            ));
        }
    };
    let created = CreatedCredential {
        credential_id: b64::encode(&registration.credential_id),
        client_data_json: b64::encode(&registration.client_data_json),
        attestation_object: b64::encode(&registration.attestation_object),
        display_name,
    };
    ctx.journal(JournalEvent::CredentialCreated {
        user: user.to_owned(),
        key: key.identity.clone(),
        credential_id: created.credential_id.clone(),
        client_data_json: created.client_data_json.clone(),
        attestation_object: created.attestation_object.clone(),
        display_name: created.display_name.clone(),
        rp_id,
    })?;
    failpoint("after-make-credential");
    Ok(created)
}

fn register(
    ctx: &RunContext,
    user: &str,
    credential_id: &str,
    client_data_json: &str,
    attestation_object: &str,
    display_name: &str,
) -> Result<crate::journal::RegisteredMethod> {
    ctx.step(user, "registering the passkey");
    // The journal keeps the key's answer as base64url text.
    let bytes = |name: &str, text: &str| {
        b64::decode_lenient(text)
            .map_err(|_| Error::Input(format!("the journal's {name} is not base64url")))
    };
    let body = RegisterRequest {
        display_name: Some(display_name.to_owned()),
        public_key_credential: PublicKeyCredentialJson {
            id: credential_id.to_owned(),
            response: webauthn::graph::AttestationResponseJson {
                client_data_json: bytes("clientDataJSON", client_data_json)?,
                attestation_object: bytes("attestationObject", attestation_object)?,
            },
            client_extension_results: serde_json::Value::Object(Default::default()),
        },
        odata_type_present: false,
    };
    ctx.journal(JournalEvent::Registering {
        user: user.to_owned(),
        credential_id: credential_id.to_owned(),
    })?;
    failpoint("before-register");
    let method = match ctx.directory.register(user, &body) {
        Ok(m) => m,
        // A retried POST whose first attempt went through (or a resume
        // after the answer was lost): find the method instead.
        Err(
            e @ Error::Directory {
                status: 400 | 409, ..
            },
        ) => match find_method(ctx, user, credential_id)? {
            Some(m) => m,
            None => return Err(e),
        },
        Err(e) => return Err(e),
    };
    // Registered, but the journal does not know yet.
    failpoint("after-register-unjournaled");
    let registered = crate::journal::RegisteredMethod {
        credential_id: credential_id.to_owned(),
        method_id: method.id.clone(),
        aaguid: method.aa_guid.clone(),
        model: method.model.clone(),
        display_name: method.display_name.clone(),
    };
    ctx.journal(JournalEvent::Registered {
        user: user.to_owned(),
        credential_id: credential_id.to_owned(),
        method_id: method.id,
        aaguid: method.aa_guid,
        model: method.model,
        display_name: method.display_name,
    })?;
    failpoint("after-register");
    Ok(registered)
}

/// The user's method for `credential_id`: Keysmith's method id is the
/// credential id; on Graph it is compared under every encoding Entra uses.
fn find_method(
    ctx: &RunContext,
    user: &str,
    credential_id: &str,
) -> Result<Option<webauthn::graph::Fido2Method>> {
    let wanted = b64::decode(credential_id).unwrap_or_default();
    Ok(ctx
        .directory
        .list_methods(user)?
        .into_iter()
        .find(|m| m.id == credential_id || entra_credential_id_candidates(&m.id).contains(&wanted)))
}

/// Bytes this run wrote as base64url (into the journal); anything else
/// means the journal was edited or damaged.
fn journaled_bytes(text: &str, what: &str) -> Result<Vec<u8>> {
    b64::decode_lenient(text).map_err(|_| Error::Journal {
        path: "(journal)".into(),
        message: format!("{what} `{text}` is not base64url"),
    })
}

/// The passkey's default display name, within Entra's 30 characters and
/// still telling keys apart: the model (USB product name, else "Security
/// key") and the serial ("YubiKey 5 NFC 12345678"), or the AAGUID's first
/// group when the key has no USB serial ("Security key 4b657973"). The
/// model is shortened when both would not fit; the serial never is. The
/// directory adds the metadata model name on its side.
pub fn default_display_name(key: &KeyIdentity, product: Option<&str>) -> String {
    let model = product
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or("Security key");
    let tail = match &key.serial {
        Some(serial) => serial.trim().to_owned(),
        None => key
            .aaguid
            .split('-')
            .next()
            .unwrap_or(&key.aaguid)
            .to_owned(),
    };
    let tail: String = tail.chars().take(crate::users::PASSKEY_NAME_MAX).collect();
    let room = crate::users::PASSKEY_NAME_MAX.saturating_sub(tail.chars().count() + 1);
    let model: String = model.chars().take(room).collect();
    let model = model.trim_end();
    if model.is_empty() {
        tail
    } else {
        format!("{model} {tail}")
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;

    fn key(serial: Option<&str>) -> KeyIdentity {
        KeyIdentity {
            device: "usb:1".into(),
            serial: serial.map(str::to_owned),
            aaguid: "cb69481e-8ff7-4039-93ec-0a2729a154a8".into(),
        }
    }

    #[test]
    fn default_names_fit_entra() {
        assert_eq!(
            default_display_name(&key(Some("12345678")), Some("YubiKey 5 NFC")),
            "YubiKey 5 NFC 12345678"
        );
        assert_eq!(
            default_display_name(&key(None), None),
            "Security key cb69481e"
        );
        let long = default_display_name(
            &key(Some("0123456789")),
            Some("A Very Long Vendor Product Name FIDO2 Key"),
        );
        assert!(long.chars().count() <= 30, "{long}");
        assert!(long.ends_with(" 0123456789"), "{long}");
        for (serial, product) in [
            (Some("x".repeat(40)), Some("p")),
            (None, Some(&*"é".repeat(50))),
        ] {
            let n = default_display_name(&key(serial.as_deref()), product);
            assert!(crate::users::passkey_name_problem(&n).is_none(), "{n}");
        }
    }
}

//! authenticatorGetAssertion and getNextAssertion (CTAP 2.1 §6.2, §6.3),
//! with the credProtect, hmac-secret and credBlob extensions.

use super::{ok, presence, rp_id_hash, Authenticator, Outcome, Pending, CONTINUATION_TIMEOUT};
use crate::credential::{self, CredentialSecret};
use crate::presence::UserPresence;
use ctap::cmd::get_assertion::{GetAssertionRequest, GetAssertionResponse, HmacSecretInput};
use ctap::cmd::{CredentialDescriptor, UserEntity};
use ctap::pin::{Permissions, PinUvAuthProtocol, SharedSecret};
use ctap::StatusCode;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Instant;
use webauthn::authdata::{AuthenticatorData, Flags};
use webauthn::cbor::MapBuilder;
use zeroize::Zeroizing;

/// A credential chosen for an assertion.
struct Candidate {
    id: Vec<u8>,
    secret: CredentialSecret,
    user: Option<UserEntity>,
}

/// Decrypted hmac-secret salts and the secret to encrypt the output with.
struct HmacSecretState {
    shared: SharedSecret,
    salts: Zeroizing<Vec<u8>>,
}

/// What getNextAssertion continues.
pub(super) struct PendingAssertions {
    remaining: Vec<Candidate>,
    rp_id_hash: [u8; 32],
    client_data_hash: Vec<u8>,
    flags: u8,
    uv: bool,
    hmac: Option<HmacSecretState>,
    cred_blob: bool,
    since: Instant,
}

impl Authenticator {
    pub(super) fn get_assertion(
        &mut self,
        req: GetAssertionRequest,
        up: &dyn UserPresence,
    ) -> Outcome {
        if let Some(param) = &req.pin_uv_auth_param {
            if param.is_empty() {
                return Err(self.probe_pin(up));
            }
            req.pin_uv_auth_protocol
                .ok_or(StatusCode::MissingParameter)?;
        }
        if req.client_data_hash.len() != 32 {
            return Err(StatusCode::InvalidLength);
        }
        if req.options.rk.is_some() {
            return Err(StatusCode::UnsupportedOption);
        }
        let want_up = req.options.up.unwrap_or(true);
        if req.extensions.hmac_secret.is_some() && !want_up {
            return Err(StatusCode::UnsupportedOption);
        }
        let uv = match &req.pin_uv_auth_param {
            Some(param) => {
                if self.state.pin.is_none() {
                    return Err(StatusCode::PinNotSet);
                }
                self.verify_token(req.pin_uv_auth_protocol, param, &req.client_data_hash)?;
                self.check_permission(Permissions::GET_ASSERTION, Some(&req.rp_id))?;
                true
            }
            None => {
                if req.options.uv == Some(true) {
                    return Err(StatusCode::InvalidOption);
                }
                if want_up && self.state.always_uv {
                    return Err(StatusCode::PuatRequired);
                }
                false
            }
        };

        let hmac = match &req.extensions.hmac_secret {
            Some(input) => Some(self.open_hmac_secret(input)?),
            None => None,
        };

        let rp_hash = rp_id_hash(&req.rp_id);
        let master = self.state.master_key;
        let mut candidates: Vec<Candidate> = Vec::new();
        if !req.allow_list.is_empty() {
            // The first listed credential of this key that credProtect lets
            // through (levels 1 and 2 allow an allow list without UV).
            for d in &req.allow_list {
                if let Some(secret) = credential::unwrap(&master, &rp_hash, &d.id) {
                    if secret.cred_protect == 3 && !uv {
                        continue;
                    }
                    let user = self
                        .state
                        .credentials
                        .iter()
                        .find(|c| c.id == d.id)
                        .map(|c| UserEntity {
                            id: c.user_id.clone(),
                            name: None,
                            display_name: None,
                        });
                    candidates.push(Candidate {
                        id: d.id.clone(),
                        secret,
                        user,
                    });
                    break;
                }
            }
        } else {
            // Discoverable credentials of the RP, newest first; without UV
            // only credProtect level 1 ones.
            let mut stored: Vec<_> = self
                .state
                .credentials
                .iter()
                .filter(|c| c.rp_id == req.rp_id)
                .collect();
            stored.sort_by_key(|c| std::cmp::Reverse(c.serial));
            for c in stored {
                if c.cred_protect > 1 && !uv {
                    continue;
                }
                let Some(secret) = credential::unwrap(&master, &rp_hash, &c.id) else {
                    continue;
                };
                let user = UserEntity {
                    id: c.user_id.clone(),
                    // User-identifying fields only after user verification.
                    name: if uv { c.user_name.clone() } else { None },
                    display_name: if uv {
                        c.user_display_name.clone()
                    } else {
                        None
                    },
                };
                candidates.push(Candidate {
                    id: c.id.clone(),
                    secret,
                    user: Some(user),
                });
            }
        }
        if candidates.is_empty() {
            return Err(StatusCode::NoCredentials);
        }
        if want_up {
            presence(up)?;
        }

        let mut flags = 0u8;
        if want_up {
            flags |= Flags::UP;
        }
        if uv {
            flags |= Flags::UV;
        }
        let total = candidates.len();
        let mut remaining = candidates;
        let first = remaining.remove(0);
        let mut pending = PendingAssertions {
            remaining,
            rp_id_hash: rp_hash,
            client_data_hash: req.client_data_hash,
            flags,
            uv,
            hmac,
            cred_blob: req.extensions.cred_blob == Some(true),
            since: Instant::now(),
        };
        let mut response = self.assert_one(&first, &pending)?;
        if req.allow_list.is_empty() && total > 1 {
            response.number_of_credentials = Some(total as u64);
            pending.since = Instant::now();
            self.pending = Pending::Assertions(pending);
        }
        ok(&response)
    }

    pub(super) fn get_next_assertion(&mut self, pending: Pending) -> Outcome {
        let Pending::Assertions(mut p) = pending else {
            return Err(StatusCode::NotAllowed);
        };
        if p.since.elapsed() > CONTINUATION_TIMEOUT || p.remaining.is_empty() {
            return Err(StatusCode::NotAllowed);
        }
        let next = p.remaining.remove(0);
        let response = self.assert_one(&next, &p)?;
        if !p.remaining.is_empty() {
            p.since = Instant::now();
            self.pending = Pending::Assertions(p);
        }
        ok(&response)
    }

    /// Signs one assertion and advances the signature counter.
    fn assert_one(
        &mut self,
        c: &Candidate,
        p: &PendingAssertions,
    ) -> Result<GetAssertionResponse, StatusCode> {
        self.state.sign_count = self.state.sign_count.wrapping_add(1);
        self.save()?;
        let hmac_output = match &p.hmac {
            Some(h) => {
                let cred_random = credential::cred_random(&self.state.master_key, &c.id, p.uv);
                let mut out = Zeroizing::new(Vec::with_capacity(64));
                for salt in h.salts.chunks(32) {
                    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(cred_random.as_ref())
                        .expect("any key");
                    mac.update(salt);
                    out.extend_from_slice(&mac.finalize().into_bytes());
                }
                Some(h.shared.encrypt(&out))
            }
            None => None,
        };
        let ext = MapBuilder::new()
            .opt_text(
                "credBlob",
                p.cred_blob
                    .then(|| c.secret.cred_blob.clone().unwrap_or_default()),
            )
            .opt_text("hmac-secret", hmac_output);
        let auth_data = AuthenticatorData {
            rp_id_hash: p.rp_id_hash,
            flags: Flags(p.flags),
            sign_count: self.state.sign_count,
            attested: None,
            extensions: (!ext.is_empty()).then(|| ext.build()),
        }
        .to_bytes();
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&p.client_data_hash);
        Ok(GetAssertionResponse {
            credential: CredentialDescriptor::new(c.id.clone()),
            signature: c.secret.key.sign(&signed),
            auth_data,
            user: c.user.clone(),
            number_of_credentials: None,
            user_selected: None,
            large_blob_key: None,
        })
    }

    /// Checks and decrypts hmac-secret salts (CTAP 2.1 §12.5).
    fn open_hmac_secret(&self, input: &HmacSecretInput) -> Result<HmacSecretState, StatusCode> {
        let protocol = PinUvAuthProtocol::from_id(input.pin_uv_auth_protocol.unwrap_or(1))
            .map_err(|_| StatusCode::InvalidParameter)?;
        let shared = protocol
            .decapsulate(&self.key_agreement, &input.key_agreement)
            .map_err(|_| StatusCode::InvalidParameter)?;
        if !shared.verify(&input.salt_enc, &input.salt_auth) {
            return Err(StatusCode::PinAuthInvalid);
        }
        let salts = shared
            .decrypt(&input.salt_enc)
            .map_err(|_| StatusCode::InvalidLength)?;
        if salts.len() != 32 && salts.len() != 64 {
            return Err(StatusCode::InvalidLength);
        }
        Ok(HmacSecretState { shared, salts })
    }
}

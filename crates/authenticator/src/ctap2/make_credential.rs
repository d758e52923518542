//! authenticatorMakeCredential (CTAP 2.1 §6.1.2).

use super::{ok, presence, rp_id_hash, Authenticator, Outcome};
use crate::attestation::AttestationMode;
use crate::credential::{
    self, CredentialSecret, PrivateKey, MAX_CRED_BLOB_LEN, SUPPORTED_ALGORITHMS,
};
use crate::presence::UserPresence;
use crate::state::ResidentCredential;
use ctap::cmd::make_credential::{MakeCredentialRequest, MakeCredentialResponse};
use ctap::pin::Permissions;
use ctap::StatusCode;
use webauthn::authdata::{AttestedCredentialData, AuthenticatorData, Flags};
use webauthn::cbor::{MapBuilder, Value};
use webauthn::cose::CoseAlgorithm;

/// Longest user name/display name kept (CTAP 2.1 §6.1.2: keys may truncate
/// to 64 bytes).
const MAX_NAME_BYTES: usize = 64;

fn truncate(s: Option<String>) -> Option<String> {
    s.map(|mut s| {
        if s.len() > MAX_NAME_BYTES {
            let mut end = MAX_NAME_BYTES;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
        s
    })
}

impl Authenticator {
    pub(super) fn make_credential(
        &mut self,
        req: MakeCredentialRequest,
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
        // The first algorithm the RP offers that the key supports.
        let alg = req
            .pub_key_cred_params
            .iter()
            .find_map(|p| {
                CoseAlgorithm::from_id(p.alg).filter(|a| SUPPORTED_ALGORITHMS.contains(a))
            })
            .ok_or(StatusCode::UnsupportedAlgorithm)?;
        let rk = req.options.rk.unwrap_or(false);
        if req.options.up == Some(false) {
            // makeCredential always needs presence.
            return Err(StatusCode::InvalidOption);
        }

        let enterprise = match req.enterprise_attestation {
            None => false,
            Some(_) if !self.state.enterprise_attestation => {
                return Err(StatusCode::InvalidParameter)
            }
            Some(1) => self
                .config
                .enterprise_rp_ids
                .iter()
                .any(|r| r == &req.rp.id),
            Some(2) => true,
            Some(_) => return Err(StatusCode::InvalidOption),
        };

        let uv = match &req.pin_uv_auth_param {
            Some(param) => {
                if self.state.pin.is_none() {
                    return Err(StatusCode::PinNotSet);
                }
                self.verify_token(req.pin_uv_auth_protocol, param, &req.client_data_hash)?;
                self.check_permission(Permissions::MAKE_CREDENTIAL, Some(&req.rp.id))?;
                true
            }
            None => {
                if req.options.uv == Some(true) {
                    // No built-in user verification method.
                    return Err(StatusCode::InvalidOption);
                }
                if self.state.always_uv {
                    return Err(StatusCode::PuatRequired);
                }
                // makeCredUvNotRqd: only non-discoverable credentials may
                // be made without the PIN once one is set.
                if rk && self.state.pin.is_some() {
                    return Err(StatusCode::PuatRequired);
                }
                false
            }
        };

        let rp_hash = rp_id_hash(&req.rp.id);
        for excluded in &req.exclude_list {
            if let Some(existing) =
                credential::unwrap(&self.state.master_key, &rp_hash, &excluded.id)
            {
                // A uv-required credential stays invisible without UV.
                if existing.cred_protect == 3 && !uv {
                    continue;
                }
                // Presence first, so the list cannot be probed silently.
                presence(up)?;
                return Err(StatusCode::CredentialExcluded);
            }
        }

        if rk {
            let replaces = self
                .state
                .credentials
                .iter()
                .any(|c| c.rp_id == req.rp.id && c.user_id == req.user.id);
            if !replaces && self.state.credentials.len() >= self.config.capacity {
                return Err(StatusCode::KeyStoreFull);
            }
        }

        presence(up)?;

        let ext = &req.extensions;
        let cred_protect = ext.cred_protect.unwrap_or(1);
        let cred_blob = ext
            .cred_blob
            .clone()
            .filter(|b| b.len() <= MAX_CRED_BLOB_LEN);
        let key = PrivateKey::generate(alg).ok_or(StatusCode::UnsupportedAlgorithm)?;
        let public_key = key.public_key();
        let secret = CredentialSecret {
            key,
            cred_protect,
            discoverable: rk,
            cred_blob: cred_blob.clone(),
        };
        let credential_id = credential::wrap(&self.state.master_key, &rp_hash, &secret);

        let min_pin_length_output = (ext.min_pin_length == Some(true)
            && self
                .state
                .min_pin_length_rpids
                .iter()
                .any(|r| r == &req.rp.id))
        .then(|| i64::from(self.state.min_pin_length));
        let extensions = MapBuilder::new()
            .opt_text(
                "credBlob",
                ext.cred_blob.as_ref().map(|_| cred_blob.is_some()),
            )
            .opt_text("credProtect", ext.cred_protect.map(i64::from))
            .opt_text("hmac-secret", ext.hmac_secret.filter(|h| *h))
            .opt_text("minPinLength", min_pin_length_output);
        let extensions = (!extensions.is_empty()).then(|| extensions.build());

        if rk {
            let serial = self.state.next_credential_serial;
            self.state.next_credential_serial += 1;
            self.state
                .credentials
                .retain(|c| !(c.rp_id == req.rp.id && c.user_id == req.user.id));
            self.state.credentials.push(ResidentCredential {
                id: credential_id.clone(),
                rp_id: req.rp.id.clone(),
                rp_name: truncate(req.rp.name.clone()),
                user_id: req.user.id.clone(),
                user_name: truncate(req.user.name.clone()),
                user_display_name: truncate(req.user.display_name.clone()),
                cred_protect,
                serial,
            });
        }
        self.state.sign_count = self.state.sign_count.wrapping_add(1);

        let mut flags = Flags::UP;
        if uv {
            flags |= Flags::UV;
        }
        let auth_data = AuthenticatorData {
            rp_id_hash: rp_hash,
            flags: Flags(flags),
            sign_count: self.state.sign_count,
            attested: Some(AttestedCredentialData {
                aaguid: self.state.aaguid_bytes(),
                credential_id,
                public_key_bytes: public_key.to_bytes(),
                public_key,
            }),
            extensions,
        }
        .to_bytes();
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&req.client_data_hash);

        let (fmt, att_stmt) = if enterprise {
            ("packed", self.signer.packed(&signed, true))
        } else {
            match self.config.attestation {
                AttestationMode::Batch => ("packed", self.signer.packed(&signed, false)),
                AttestationMode::SelfAttestation => (
                    "packed",
                    MapBuilder::new()
                        .text("alg", alg.id())
                        .text("sig", secret.key.sign(&signed))
                        .build(),
                ),
                AttestationMode::None => ("none", Value::Map(Vec::new())),
            }
        };
        self.save()?;
        ok(&MakeCredentialResponse {
            fmt: fmt.into(),
            auth_data,
            att_stmt,
            ep_att: enterprise.then_some(true),
            large_blob_key: None,
        })
    }
}

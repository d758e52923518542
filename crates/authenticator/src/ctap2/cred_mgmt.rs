//! authenticatorCredentialManagement (CTAP 2.1 §6.8): metadata, RP and
//! credential enumeration, deletion and user update of discoverable
//! credentials.

use super::{ok, rp_id_hash, Authenticator, Outcome, Pending, CONTINUATION_TIMEOUT};
use crate::credential;
use crate::state::ResidentCredential;
use ctap::cmd::cred_mgmt::{CredMgmtRequest, CredMgmtResponse, CredMgmtSubCommand};
use ctap::cmd::{CredentialDescriptor, RpEntity, UserEntity};
use ctap::pin::Permissions;
use ctap::StatusCode;
use std::time::Instant;

impl Authenticator {
    pub(super) fn credential_management(
        &mut self,
        req: CredMgmtRequest,
        pending: Pending,
    ) -> Outcome {
        use CredMgmtSubCommand as Sub;
        match req.sub_command {
            Sub::EnumerateRpsGetNextRp => return self.next_rp(pending),
            Sub::EnumerateCredentialsGetNextCredential => return self.next_credential(pending),
            Sub::Unknown(_) => return Err(StatusCode::InvalidSubcommand),
            _ => {}
        }
        let param = req
            .pin_uv_auth_param
            .as_deref()
            .ok_or(StatusCode::PuatRequired)?;
        self.verify_token(req.pin_uv_auth_protocol, param, &req.auth_message())?;
        self.check_permission(Permissions::CREDENTIAL_MANAGEMENT, None)?;
        let params = req.params.unwrap_or_default();
        match req.sub_command {
            Sub::GetCredsMetadata => {
                self.require_unbound_token()?;
                ok(&CredMgmtResponse {
                    existing_resident_credentials_count: Some(self.state.credentials.len() as u64),
                    max_possible_remaining_resident_credentials_count: Some(
                        self.config
                            .capacity
                            .saturating_sub(self.state.credentials.len())
                            as u64,
                    ),
                    ..Default::default()
                })
            }
            Sub::EnumerateRpsBegin => {
                self.require_unbound_token()?;
                let mut rps: Vec<(String, Option<String>)> = Vec::new();
                for c in &self.state.credentials {
                    if !rps.iter().any(|(id, _)| id == &c.rp_id) {
                        rps.push((c.rp_id.clone(), c.rp_name.clone()));
                    }
                }
                if rps.is_empty() {
                    return Err(StatusCode::NoCredentials);
                }
                let total = rps.len();
                let first = rps.remove(0);
                if !rps.is_empty() {
                    self.pending = Pending::Rps {
                        remaining: rps,
                        since: Instant::now(),
                    };
                }
                let mut response = rp_response(first);
                response.total_rps = Some(total as u64);
                ok(&response)
            }
            Sub::EnumerateCredentialsBegin => {
                let hash = params.rp_id_hash.ok_or(StatusCode::MissingParameter)?;
                let mut creds: Vec<ResidentCredential> = self
                    .state
                    .credentials
                    .iter()
                    .filter(|c| rp_id_hash(&c.rp_id)[..] == hash[..])
                    .cloned()
                    .collect();
                let first = creds.first().ok_or(StatusCode::NoCredentials)?;
                self.check_bound_rp(&first.rp_id)?;
                creds.sort_by_key(|c| c.serial);
                let total = creds.len();
                let first = creds.remove(0);
                if !creds.is_empty() {
                    self.pending = Pending::Credentials {
                        remaining: creds,
                        since: Instant::now(),
                    };
                }
                let mut response = self.credential_response(&first)?;
                response.total_credentials = Some(total as u64);
                ok(&response)
            }
            Sub::DeleteCredential => {
                let id = params.credential_id.ok_or(StatusCode::MissingParameter)?.id;
                let rp = self.find(&id)?.rp_id.clone();
                self.check_bound_rp(&rp)?;
                self.state.credentials.retain(|c| c.id != id);
                self.save()?;
                ok(&())
            }
            Sub::UpdateUserInformation => {
                let id = params.credential_id.ok_or(StatusCode::MissingParameter)?.id;
                let user = params.user.ok_or(StatusCode::MissingParameter)?;
                let rp = self.find(&id)?.rp_id.clone();
                self.check_bound_rp(&rp)?;
                let c = self
                    .state
                    .credentials
                    .iter_mut()
                    .find(|c| c.id == id)
                    .ok_or(StatusCode::NoCredentials)?;
                if c.user_id != user.id {
                    return Err(StatusCode::InvalidParameter);
                }
                c.user_name = user.name.filter(|n| !n.is_empty());
                c.user_display_name = user.display_name.filter(|n| !n.is_empty());
                self.save()?;
                ok(&())
            }
            _ => Err(StatusCode::InvalidSubcommand),
        }
    }

    fn find(&self, id: &[u8]) -> Result<&ResidentCredential, StatusCode> {
        self.state
            .credentials
            .iter()
            .find(|c| c.id == id)
            .ok_or(StatusCode::NoCredentials)
    }

    /// Metadata and RP enumeration need a token not bound to one RP.
    fn require_unbound_token(&self) -> Result<(), StatusCode> {
        match self.token.rp_id {
            Some(_) => Err(StatusCode::UnauthorizedPermission),
            None => Ok(()),
        }
    }

    /// A token bound to an RP may only touch that RP's credentials.
    fn check_bound_rp(&self, rp_id: &str) -> Result<(), StatusCode> {
        match &self.token.rp_id {
            Some(bound) if bound != rp_id => Err(StatusCode::UnauthorizedPermission),
            _ => Ok(()),
        }
    }

    fn next_rp(&mut self, pending: Pending) -> Outcome {
        let Pending::Rps {
            mut remaining,
            since,
        } = pending
        else {
            return Err(StatusCode::NotAllowed);
        };
        if since.elapsed() > CONTINUATION_TIMEOUT || remaining.is_empty() {
            return Err(StatusCode::NotAllowed);
        }
        let next = remaining.remove(0);
        if !remaining.is_empty() {
            self.pending = Pending::Rps {
                remaining,
                since: Instant::now(),
            };
        }
        ok(&rp_response(next))
    }

    fn next_credential(&mut self, pending: Pending) -> Outcome {
        let Pending::Credentials {
            mut remaining,
            since,
        } = pending
        else {
            return Err(StatusCode::NotAllowed);
        };
        if since.elapsed() > CONTINUATION_TIMEOUT || remaining.is_empty() {
            return Err(StatusCode::NotAllowed);
        }
        let next = remaining.remove(0);
        let response = self.credential_response(&next)?;
        if !remaining.is_empty() {
            self.pending = Pending::Credentials {
                remaining,
                since: Instant::now(),
            };
        }
        ok(&response)
    }

    fn credential_response(&self, c: &ResidentCredential) -> Result<CredMgmtResponse, StatusCode> {
        let secret = credential::unwrap(&self.state.master_key, &rp_id_hash(&c.rp_id), &c.id)
            .ok_or(StatusCode::Other)?;
        Ok(CredMgmtResponse {
            user: Some(UserEntity {
                id: c.user_id.clone(),
                name: c.user_name.clone(),
                display_name: c.user_display_name.clone(),
            }),
            credential_id: Some(CredentialDescriptor::new(c.id.clone())),
            public_key: Some(secret.key.public_key()),
            cred_protect: Some(u64::from(c.cred_protect)),
            ..Default::default()
        })
    }
}

fn rp_response((id, name): (String, Option<String>)) -> CredMgmtResponse {
    CredMgmtResponse {
        rp_id_hash: Some(rp_id_hash(&id).to_vec()),
        rp: Some(RpEntity { id, name }),
        ..Default::default()
    }
}

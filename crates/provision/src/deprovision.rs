//! Deprovisioning: remove users' passkeys from the directory (and
//! optionally from a key in hand). Graph has no bulk delete, so this loops
//! over the per-method DELETE.

use crate::error::{Error, Result};
use crate::pin::Pin;
use crate::target::Directory;
use ctap::pin::Permissions;
use ctap::Ctap2Client;
use serde::Serialize;
use webauthn::graph::{entra_credential_id_candidates, Fido2Method};

/// Which of a user's passkeys go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Every passkey of the user (`--all`).
    All,
    /// The passkey with this directory id (`--method`).
    Method(String),
    /// Every passkey of this key model (`--aaguid`).
    Aaguid(String),
}

impl Selector {
    fn matches(&self, m: &Fido2Method) -> bool {
        match self {
            Selector::All => true,
            Selector::Method(id) => &m.id == id,
            Selector::Aaguid(a) => m
                .aa_guid
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(a)),
        }
    }
}

/// What became of one passkey of a deprovisioning run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DeprovisionStatus {
    /// `--dry-run`: would be deleted.
    WouldDelete,
    /// Deleted from the directory (and, with a key, from the key).
    Deleted,
    /// The deletion failed (the error says why).
    Failed,
}

/// One method acted on.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeprovisionAction {
    /// The user's UPN.
    pub user_principal_name: String,
    /// The directory's id of the registered passkey.
    pub method_id: Option<String>,
    /// The passkey's name.
    pub display_name: Option<String>,
    /// The key model's AAGUID.
    pub aaguid: Option<String>,
    /// What became of it.
    pub status: DeprovisionStatus,
    /// Also removed from the inserted key.
    pub removed_from_key: bool,
    /// The error, for people (when it failed).
    pub error: Option<String>,
}

/// What [`plan`] found for one user.
pub fn plan(directory: &Directory, user: &str, selector: &Selector) -> Result<Vec<Fido2Method>> {
    let methods = directory.list_methods(user)?;
    let chosen: Vec<Fido2Method> = methods
        .into_iter()
        .filter(|m| selector.matches(m))
        .collect();
    if let Selector::Method(id) = selector {
        if chosen.is_empty() {
            return Err(Error::Input(format!("{user} has no passkey with id {id}")));
        }
    }
    Ok(chosen)
}

/// Deletes `methods` of `user`; with `key` (and its PIN) also deletes the
/// matching credentials from that key.
pub fn execute(
    directory: &Directory,
    user: &str,
    methods: &[Fido2Method],
    mut key: Option<(&mut Ctap2Client, &Pin)>,
) -> Vec<DeprovisionAction> {
    let mut out = Vec::new();
    for m in methods {
        let mut action = DeprovisionAction {
            user_principal_name: user.to_owned(),
            method_id: Some(m.id.clone()),
            display_name: m.display_name.clone(),
            aaguid: m.aa_guid.clone(),
            status: DeprovisionStatus::Deleted,
            removed_from_key: false,
            error: None,
        };
        match directory.delete_method(user, &m.id) {
            // Already gone counts as done: deprovisioning is idempotent.
            Ok(()) | Err(Error::Directory { status: 404, .. }) => {}
            Err(e) => {
                action.status = DeprovisionStatus::Failed;
                action.error = Some(e.to_string());
                out.push(action);
                continue;
            }
        }
        if let Some((client, pin)) = key.as_mut() {
            match remove_from_key(client, pin, &m.id) {
                Ok(removed) => action.removed_from_key = removed,
                Err(e) => {
                    action.error =
                        Some(format!("removed from the directory, not from the key: {e}"))
                }
            }
        }
        out.push(action);
    }
    out
}

/// Deletes the credential behind a method id from the key, if it is there.
pub fn remove_from_key(client: &mut Ctap2Client, pin: &Pin, method_id: &str) -> Result<bool> {
    let token = client.get_pin_token(pin.expose(), Permissions::CREDENTIAL_MANAGEMENT, None)?;
    let ids = entra_credential_id_candidates(method_id);
    for c in client.list_credentials(&token)? {
        if ids.contains(&c.credential_id) {
            client.delete_credential(&token, &c.credential_id)?;
            return Ok(true);
        }
    }
    Ok(false)
}

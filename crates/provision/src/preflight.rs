//! `keysmith provision --check`: read the directory's FIDO2 policy and the
//! users before any key is touched, and say what would block the run.

use crate::error::{Error, Result};
use crate::target::Directory;
use crate::users::UserJob;
use serde::Serialize;
use std::collections::HashSet;

/// How much a finding of the check matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// The run would fail for this user (or for everyone).
    Blocker,
    /// Worth knowing; the run can go on.
    Warning,
    /// For information.
    Info,
}

/// One thing the check found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The user it is about (none: the whole run).
    pub user: Option<String>,
    /// What happened, for people.
    pub message: String,
}

/// What `provision --check` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreflightReport {
    /// What the check found.
    pub findings: Vec<Finding>,
    /// Users checked.
    pub users_checked: usize,
    /// Keys checked.
    pub keys_checked: usize,
}

impl PreflightReport {
    /// Findings that would stop the run.
    pub fn blockers(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Blocker)
            .count()
    }
}

/// A key's model as the check sees it (from getInfo, no PIN needed).
#[derive(Debug, Clone)]
pub struct KeyModel {
    /// The key's address (`usb:/dev/hidraw3`, `udp:127.0.0.1:8765`).
    pub device: String,
    /// The key model's AAGUID.
    pub aaguid: String,
}

/// The models of the keys at `devices` (getInfo only: no PIN, no change).
pub fn key_models(devices: &[ctap::device::DeviceSpec]) -> Result<Vec<KeyModel>> {
    devices
        .iter()
        .map(|d| {
            let k = crate::key::KeySession::open(d)
                .map_err(|e| Error::Input(format!("reading {d}: {e}")))?;
            Ok(KeyModel {
                device: k.identity.device.clone(),
                aaguid: k.identity.aaguid.clone(),
            })
        })
        .collect()
}

/// Checks policy, users and (when given) the inserted keys' AAGUIDs.
pub fn check(
    directory: &Directory,
    users: &[UserJob],
    keys: &[KeyModel],
) -> Result<PreflightReport> {
    let mut findings = Vec::new();
    let mut add = |severity, user: Option<&str>, message: String| {
        findings.push(Finding {
            severity,
            user: user.map(str::to_owned),
            message,
        })
    };
    for (user, problem) in crate::users::name_problems(users) {
        add(Severity::Blocker, Some(&user), problem);
    }
    let policy = match directory.policy() {
        Ok(p) => Some(p),
        Err(Error::Directory { status: 403, .. }) => {
            add(
                Severity::Warning,
                None,
                "the app may not read the FIDO2 policy (grant Policy.Read.AuthenticationMethod to check it)".into(),
            );
            None
        }
        Err(e) => return Err(e),
    };
    let mut include_members: Option<HashSet<String>> = None;
    let mut exclude_members: HashSet<String> = HashSet::new();
    if let Some(p) = &policy {
        if !p.is_enabled() {
            add(
                Severity::Blocker,
                None,
                format!("the FIDO2 method is `{}` in the directory's policy: no passkey can be registered", p.state),
            );
        }
        if p.is_attestation_enforced {
            add(
                Severity::Info,
                None,
                "attestation is enforced: each key model must have a trusted attestation root (metadata) in the directory".into(),
            );
        }
        let kr = &p.key_restrictions;
        if kr.is_enforced {
            for k in keys {
                let blocked = !p.allows_aaguid(&k.aaguid);
                if blocked {
                    add(
                        Severity::Blocker,
                        None,
                        format!(
                            "key {} (AAGUID {}) is {} by the policy's key restrictions",
                            k.device,
                            k.aaguid,
                            if kr.enforcement_type == "block" {
                                "blocked"
                            } else {
                                "not allowed"
                            }
                        ),
                    );
                }
            }
            if keys.is_empty() {
                add(
                    Severity::Info,
                    None,
                    format!(
                        "key restrictions: {} list of {} AAGUID(s); insert keys (or pass --device) to check them",
                        kr.enforcement_type,
                        kr.aa_guids.len()
                    ),
                );
            }
        }
        if !p.includes_all_users() {
            let mut members = HashSet::new();
            for t in p.include_targets.iter().filter(|t| !t.is_all_users()) {
                for m in directory.group_members(&t.id)? {
                    members.insert(m.id.to_ascii_lowercase());
                    if let Some(u) = m.user_principal_name {
                        members.insert(u.to_ascii_lowercase());
                    }
                }
            }
            include_members = Some(members);
        }
        for t in p.exclude_targets.iter().filter(|t| !t.is_all_users()) {
            for m in directory.group_members(&t.id)? {
                exclude_members.insert(m.id.to_ascii_lowercase());
                if let Some(u) = m.user_principal_name {
                    exclude_members.insert(u.to_ascii_lowercase());
                }
            }
        }
    }
    for job in users {
        let found = match directory.user(&job.user) {
            Ok(u) => u,
            Err(Error::Directory { status: 404, .. }) => {
                add(
                    Severity::Blocker,
                    Some(&job.user),
                    "no such user in the directory".into(),
                );
                continue;
            }
            Err(e) => return Err(e),
        };
        let names = [
            found.id.to_ascii_lowercase(),
            found
                .user_principal_name
                .clone()
                .unwrap_or_default()
                .to_ascii_lowercase(),
        ];
        if let Some(members) = &include_members {
            if !names.iter().any(|n| members.contains(n)) {
                add(
                    Severity::Blocker,
                    Some(&job.user),
                    "the user is not in a group the FIDO2 policy targets".into(),
                );
            }
        }
        let excludes_all = policy
            .as_ref()
            .is_some_and(|p| p.exclude_targets.iter().any(|t| t.is_all_users()));
        if excludes_all || names.iter().any(|n| exclude_members.contains(n)) {
            add(
                Severity::Blocker,
                Some(&job.user),
                "the user is in a group the FIDO2 policy excludes".into(),
            );
        }
        match directory.methods_and_limit(&job.user) {
            Ok((m, Some(limit))) if m.len() >= limit as usize => add(
                Severity::Blocker,
                Some(&job.user),
                format!(
                    "already has {} passkey(s), the directory's limit per user ({limit}): delete one first",
                    m.len()
                ),
            ),
            Ok((m, _)) if !m.is_empty() => add(
                Severity::Info,
                Some(&job.user),
                format!("already has {} passkey(s) registered", m.len()),
            ),
            Ok(_) => {}
            Err(Error::Directory { status: 403, .. }) => add(
                Severity::Blocker,
                Some(&job.user),
                "the app may not read this user's authentication methods (needs UserAuthenticationMethod.ReadWrite.All)".into(),
            ),
            Err(e) => return Err(e),
        }
    }
    Ok(PreflightReport {
        findings,
        users_checked: users.len(),
        keys_checked: keys.len(),
    })
}

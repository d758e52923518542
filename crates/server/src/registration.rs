//! The server's one contact point with the WebAuthn verifier: registration
//! and assertion checks, trust anchors and model names. Everything the
//! verifier says is mapped here to the use cases' errors, each check
//! under its own code.

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::usecase::DomainError;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use webauthn::verify;
use webauthn::CoseKey;

pub use webauthn::VerifiedRegistration;

/// Trust anchors and model names, built once from the configuration.
#[derive(Debug, Default)]
pub struct Verifier {
    trust: webauthn::TrustStore,
    models: HashMap<[u8; 16], String>,
    /// AAGUIDs whose latest MDS status reports a compromise.
    compromised: std::collections::HashSet<[u8; 16]>,
}

/// A registration as the verifier accepted it, with what the API shows.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// What the WebAuthn verifier established.
    pub verified: VerifiedRegistration,
    /// The model's AAGUID (UUID text).
    pub aaguid: String,
    /// Whether the attestation chained to a trusted anchor.
    pub attested: bool,
    /// Thumbprints of the attestation certificates.
    pub thumbprints: Vec<String>,
    /// The model's name, if known (from the MDS blob or the configuration).
    pub model: Option<String>,
}

/// An assertion the verifier accepted.
#[derive(Debug, Clone)]
pub struct AcceptedAssertion {
    /// The signature counter the assertion reported.
    pub new_sign_count: u32,
    /// Whether the key verified the user.
    pub user_verified: bool,
}

impl Verifier {
    /// A verifier with the configuration's trust anchors, MDS blob and model names.
    pub fn from_config(config: &ServerConfig) -> anyhow::Result<Verifier> {
        let mut v = Verifier::default();
        for item in &config.trust_anchors_pem {
            let pem = if item.contains("-----BEGIN") {
                item.clone()
            } else {
                std::fs::read_to_string(item)
                    .map_err(|e| anyhow::anyhow!("trust anchor {item}: {e}"))?
            };
            v.trust
                .add_pem(&pem)
                .map_err(|e| anyhow::anyhow!("trust anchor {item}: {e}"))?;
        }
        for (aaguid, name) in &config.models {
            let id = webauthn::authdata::parse_aaguid(aaguid)
                .ok_or_else(|| anyhow::anyhow!("models: '{aaguid}' is not an AAGUID"))?;
            v.add_model(id, name);
        }
        if let Some(blob_path) = &config.mds_blob {
            let root_path = config
                .mds_root_pem
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("mds_blob needs mds_root_pem"))?;
            let blob = std::fs::read(blob_path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", blob_path.display()))?;
            let root = std::fs::read_to_string(root_path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", root_path.display()))?;
            let mds = webauthn::mds::MetadataBlob::from_jwt(
                &blob,
                &root,
                time::OffsetDateTime::now_utc(),
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", blob_path.display()))?;
            let roots = mds.add_roots_to(&mut v.trust);
            for e in mds.entries() {
                let Some(aaguid) = e.aaguid else { continue };
                if let Some(d) = &e.description {
                    v.models.entry(aaguid).or_insert_with(|| d.clone());
                }
                if e.latest_status().is_some_and(|s| s.is_compromise()) {
                    v.compromised.insert(aaguid);
                }
            }
            tracing::info!(
                "MDS blob no. {}: {} entries, {roots} attestation roots",
                mds.no,
                mds.entries().len()
            );
        }
        Ok(v)
    }

    /// Adds a trust anchor (PEM text) — tests and the admin tools use it.
    pub fn add_anchor_pem(&mut self, pem: &str) -> anyhow::Result<()> {
        self.trust
            .add_pem(pem)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }

    /// Names a model (AAGUID → `model` in the API).
    pub fn add_model(&mut self, aaguid: [u8; 16], name: &str) {
        self.models.insert(aaguid, name.to_owned());
    }

    /// The model name of an AAGUID (`xxxxxxxx-xxxx-…`), when known.
    pub fn model_of(&self, aaguid: &str) -> Option<String> {
        let raw = webauthn::authdata::parse_aaguid(aaguid)?;
        self.models.get(&raw).cloned()
    }

    /// Every AAGUID with a known model name.
    pub fn known_models(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .models
            .iter()
            .map(|(a, m)| (webauthn::authdata::format_aaguid(a), m.clone()))
            .collect();
        v.sort();
        v
    }

    #[allow(clippy::too_many_arguments)]
    /// Verifies a registration for `rp_id` and the issued challenge (attestation required when `enforce_attestation`).
    pub fn verify_registration(
        &self,
        client_data_json: &[u8],
        attestation_object: &[u8],
        challenge: &str,
        origins: &[String],
        rp_id: &str,
        enforce_attestation: bool,
    ) -> Result<Accepted, DomainError> {
        let input = verify::RegistrationInput {
            client_data_json,
            attestation_object,
            expected_challenge: challenge,
            expected_origins: origins,
            rp_id,
        };
        let policy = verify::RegistrationPolicy {
            require_user_verification: true,
            allowed_algs: Some(vec![-7, -257, -8, -35]),
            require_trusted_attestation: enforce_attestation,
            ..Default::default()
        };
        let verified = verify::verify_registration(
            &input,
            &policy,
            &self.trust,
            time::OffsetDateTime::now_utc(),
        )
        .map_err(|e| DomainError::Verification {
            check: e.code(),
            message: format!("The registration was rejected ({}): {e}.", e.code()),
        })?;
        if self.compromised.contains(&verified.aaguid) {
            return Err(DomainError::Verification {
                check: "authenticatorCompromised",
                message: "The authenticator model is reported compromised by FIDO metadata.".into(),
            });
        }
        let thumbprints = verified
            .trust_path
            .iter()
            .map(|der| hex::encode(Sha1::digest(der)))
            .collect();
        Ok(Accepted {
            aaguid: webauthn::authdata::format_aaguid(&verified.aaguid),
            attested: verified.trusted,
            thumbprints,
            model: self.models.get(&verified.aaguid).cloned(),
            verified,
        })
    }

    #[allow(clippy::too_many_arguments)]
    /// Verifies an assertion with the stored public key and sign count.
    pub fn verify_assertion(
        &self,
        client_data_json: &[u8],
        authenticator_data: &[u8],
        signature: &[u8],
        public_key_cose: &[u8],
        stored_sign_count: u32,
        challenge: &str,
        origins: &[String],
        rp_id: &str,
    ) -> Result<AcceptedAssertion, DomainError> {
        let key = CoseKey::from_bytes(public_key_cose).map_err(ApiError::internal)?;
        let input = verify::AssertionInput {
            client_data_json,
            authenticator_data,
            signature,
            credential_public_key: &key,
            stored_sign_count,
            expected_challenge: challenge,
            expected_origins: origins,
            rp_id,
        };
        let policy = verify::AssertionPolicy {
            require_user_verification: true,
            reject_on_counter_regression: true,
            ..Default::default()
        };
        let ok = verify::verify_assertion(&input, &policy).map_err(|e| {
            DomainError::Unauthenticated {
                check: Some(e.code()),
                message: format!("The assertion was rejected ({}): {e}.", e.code()),
            }
        })?;
        Ok(AcceptedAssertion {
            new_sign_count: ok.new_sign_count,
            user_verified: ok.user_verified,
        })
    }
}

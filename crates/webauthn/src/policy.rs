//! What a relying party accepts: the registration and assertion policies
//! the verifier applies (below `verify` and the attestation formats, which
//! both read them).

use crate::cose::CoseAlgorithm;
use serde::{Deserialize, Deserializer};

/// What a relying party accepts at registration. `Deserialize` reads the
/// snake_case keys (missing keys take the [`Default`] value), so a policy
/// can come from a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RegistrationPolicy {
    /// Refuse registrations without the UV flag (§7.1 step 15).
    pub require_user_verification: bool,
    /// COSE algorithm ids offered in `pubKeyCredParams`; `None` accepts
    /// every algorithm this crate verifies. Accepts ids or names
    /// (`"ES256"`) when deserialised.
    #[serde(deserialize_with = "deserialize_algs")]
    pub allowed_algs: Option<Vec<i64>>,
    /// Accept `crossOrigin: true` client data (ceremonies in iframes).
    pub allow_cross_origin: bool,
    /// Accept TPM attestations whose `alg` hashes with SHA-1 (RS1), which
    /// most Windows Hello TPMs still produce.
    pub allow_sha1_tpm_attestation_signature: bool,
    /// TPM manufacturer ids accepted (`"FFFFF1D0"` or `"id:FFFFF1D0"`);
    /// `None` accepts the vendors of the TCG registry
    /// ([`crate::attestation::tpm::TCG_VENDOR_IDS`]).
    pub tpm_manufacturer_allow: Option<Vec<String>>,
    /// Refuse `none` and self attestation and chains that do not reach a
    /// trust anchor (Graph's `isAttestationEnforced`).
    pub require_trusted_attestation: bool,
    /// Carried over to [`AssertionPolicy`]: refuse assertions whose counter
    /// did not increase.
    pub reject_on_counter_regression: bool,
    /// Refuse registrations without the UP flag (§7.1 step 14); only
    /// conditional create may turn this off.
    pub require_user_presence: bool,
    /// Also accept origins on sub-domains of an expected origin's host
    /// (same scheme and port).
    pub allow_subdomain_origins: bool,
    /// Check `tokenBinding.status` as WebAuthn Level 2 did (Level 3
    /// dropped token binding, so the default ignores it).
    pub validate_token_binding_status: bool,
    /// android-safetynet: refuse `ctsProfileMatch: false` (§8.5).
    pub enforce_safetynet_cts_profile_match: bool,
    /// android-safetynet: do not check that `timestampMs` is recent.
    pub skip_safetynet_timestamp_freshness: bool,
    /// android-safetynet: the oldest `timestampMs` accepted, in seconds
    /// before the verification clock.
    pub safetynet_max_age_secs: u64,
    /// android-key: use only the TEE-enforced authorization list (§8.4).
    pub android_key_require_tee: bool,
    /// Read attestation certificate extensions that are BER rather than
    /// DER (seen in virtual authenticators).
    pub lenient_x509_der: bool,
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        Self {
            require_user_verification: false,
            allowed_algs: None,
            allow_cross_origin: false,
            allow_sha1_tpm_attestation_signature: false,
            tpm_manufacturer_allow: None,
            require_trusted_attestation: false,
            reject_on_counter_regression: true,
            require_user_presence: true,
            allow_subdomain_origins: false,
            validate_token_binding_status: false,
            enforce_safetynet_cts_profile_match: true,
            skip_safetynet_timestamp_freshness: false,
            safetynet_max_age_secs: 60,
            android_key_require_tee: false,
            lenient_x509_der: false,
        }
    }
}

/// What a relying party accepts at authentication.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AssertionPolicy {
    /// Refuse assertions without the UV flag (§7.2 step 17).
    pub require_user_verification: bool,
    /// Accept `crossOrigin: true` client data.
    pub allow_cross_origin: bool,
    /// Refuse an assertion whose counter did not increase (§7.2 step 22);
    /// otherwise it is accepted with `counter_regressed: true`.
    pub reject_on_counter_regression: bool,
    /// Refuse assertions without the UP flag (§7.2 step 16).
    pub require_user_presence: bool,
    /// Also accept origins on sub-domains of an expected origin's host.
    pub allow_subdomain_origins: bool,
    /// The FIDO AppID requested with the `appid` extension (§10.1.1): an
    /// rpIdHash equal to SHA-256 of this AppID is then accepted too.
    pub appid: Option<String>,
    /// Check `tokenBinding.status` as WebAuthn Level 2 did.
    pub validate_token_binding_status: bool,
}

impl Default for AssertionPolicy {
    fn default() -> Self {
        Self {
            require_user_verification: false,
            allow_cross_origin: false,
            reject_on_counter_regression: true,
            require_user_presence: true,
            allow_subdomain_origins: false,
            appid: None,
            validate_token_binding_status: false,
        }
    }
}

impl From<&RegistrationPolicy> for AssertionPolicy {
    fn from(p: &RegistrationPolicy) -> Self {
        Self {
            require_user_verification: p.require_user_verification,
            allow_cross_origin: p.allow_cross_origin,
            reject_on_counter_regression: p.reject_on_counter_regression,
            require_user_presence: p.require_user_presence,
            allow_subdomain_origins: p.allow_subdomain_origins,
            appid: None,
            validate_token_binding_status: p.validate_token_binding_status,
        }
    }
}

fn deserialize_algs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<i64>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Alg {
        Id(i64),
        Name(String),
    }
    let list: Option<Vec<Alg>> = Option::deserialize(d)?;
    list.map(|algs| {
        algs.into_iter()
            .map(|a| match a {
                Alg::Id(id) => Ok(id),
                Alg::Name(n) => CoseAlgorithm::from_name(&n)
                    .map(CoseAlgorithm::id)
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown algorithm {n}"))),
            })
            .collect()
    })
    .transpose()
}

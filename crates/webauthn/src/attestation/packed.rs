//! `packed` attestation (WebAuthn L3 §8.2): x5c (basic / AttCA) or self.

use const_oid::db::rfc4519;

use super::{
    check_aaguid_extension, malformed, open, read_alg, read_x5c, verify_with_cert, AttestationType,
    StatementContext, StatementOutcome,
};
use crate::cbor::Value;
use crate::error::VerifyError;
use crate::trust::ParsedCert;

const FMT: &str = "packed";

/// Verifies a `packed` statement: `{alg, sig, x5c?}`.
pub(crate) fn verify(
    att_stmt: Value,
    ctx: &StatementContext,
) -> Result<StatementOutcome, VerifyError> {
    let mut stmt = open(FMT, att_stmt)?;
    let alg = read_alg(FMT, &mut stmt)?;
    let sig = stmt.bytes("sig", "sig").map_err(|e| malformed(FMT, e))?;
    let x5c = stmt
        .opt_array("x5c", "x5c")
        .map_err(|e| malformed(FMT, e))?;
    let signed = ctx.signed_data();
    match x5c {
        Some(items) => {
            let chain = read_x5c(FMT, items)?;
            let leaf = &chain[0];
            verify_with_cert(leaf, alg, &signed, &sig)?;
            check_certificate_requirements(leaf, ctx.policy.lenient_x509_der)?;
            check_aaguid_extension(leaf, &ctx.attested.aaguid)?;
            Ok(StatementOutcome {
                attestation_type: AttestationType::Basic,
                chain,
            })
        }
        None => {
            // §8.2 self attestation: alg must be the credential's, and the
            // credential key signs.
            let key = &ctx.attested.public_key;
            if alg != key.alg() {
                return Err(VerifyError::AttestationAlgorithmMismatch(alg));
            }
            key.verify(&signed, &sig)
                .map_err(|_| VerifyError::AttestationSignatureInvalid)?;
            Ok(StatementOutcome {
                attestation_type: AttestationType::SelfAttestation,
                chain: Vec::new(),
            })
        }
    }
}

/// §8.2.1 packed attestation statement certificate requirements.
pub(crate) fn check_certificate_requirements(
    cert: &ParsedCert,
    lenient: bool,
) -> Result<(), VerifyError> {
    let fail = |m: &str| Err(VerifyError::AttestationCertificateInvalid(m.to_string()));
    if !cert.is_v3() {
        return fail("version is not 3");
    }
    let has = |oid| cert.subject_attr(oid).iter().any(|v| !v.is_empty());
    if !has(rfc4519::C) {
        return fail("subject lacks C");
    }
    if !has(rfc4519::O) {
        return fail("subject lacks O");
    }
    if !has(rfc4519::CN) {
        return fail("subject lacks CN");
    }
    if !cert
        .subject_attr(rfc4519::OU)
        .iter()
        .any(|v| v == "Authenticator Attestation")
    {
        return fail("subject OU is not 'Authenticator Attestation'");
    }
    if cert.basic_constraints_ca(lenient)? == Some(true) {
        return fail("basic constraints CA is true");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::authdata::Flags;
    use crate::testutil::{self, packed_registration, AAGUID, CHALLENGE, ORIGIN, RP_ID};
    use crate::{
        verify_registration, AttestationType, RegistrationInput, RegistrationPolicy, TrustStore,
        VerifyError,
    };
    use time::OffsetDateTime;

    fn run(
        client_data: &[u8],
        obj: &[u8],
        policy: &RegistrationPolicy,
        trust: &TrustStore,
    ) -> Result<crate::VerifiedRegistration, VerifyError> {
        let origins = vec![ORIGIN.to_string()];
        let input = RegistrationInput {
            client_data_json: client_data,
            attestation_object: obj,
            expected_challenge: CHALLENGE,
            expected_origins: &origins,
            rp_id: RP_ID,
        };
        verify_registration(&input, policy, trust, OffsetDateTime::now_utc())
    }

    #[test]
    fn x5c_chain_to_anchor_is_trusted() {
        let pki = testutil::pki(Some(AAGUID));
        let (cd, obj) = packed_registration(Some((&pki.leaf_der, &pki.leaf_key)), Flags::UP);
        let mut trust = TrustStore::new();
        trust.add_der(&pki.root_der).unwrap();
        let strict = RegistrationPolicy {
            require_trusted_attestation: true,
            ..Default::default()
        };
        let r = run(&cd, &obj, &strict, &trust).unwrap();
        assert_eq!(r.attestation_type, AttestationType::Basic);
        assert!(r.trusted);
        assert_eq!(
            r.trust_anchor_subject.as_deref(),
            Some("CN=Test Root,O=Keysmith,C=US")
        );
        // Without the anchor: accepted but untrusted, refused when enforced.
        let r = run(&cd, &obj, &Default::default(), &TrustStore::new()).unwrap();
        assert!(!r.trusted);
        assert_eq!(
            run(&cd, &obj, &strict, &TrustStore::new())
                .unwrap_err()
                .code(),
            "attestationNotTrusted"
        );
        // Per-AAGUID roots replace the global ones for that AAGUID.
        let other = testutil::pki(None);
        let mut by_aaguid = TrustStore::new();
        by_aaguid.add_der(&pki.root_der).unwrap();
        by_aaguid.add_for_aaguid(AAGUID, &other.root_der).unwrap();
        assert!(
            !run(&cd, &obj, &Default::default(), &by_aaguid)
                .unwrap()
                .trusted
        );
    }

    #[test]
    fn aaguid_extension_must_match() {
        let pki = testutil::pki(Some([7; 16]));
        let (cd, obj) = packed_registration(Some((&pki.leaf_der, &pki.leaf_key)), Flags::UP);
        assert_eq!(
            run(&cd, &obj, &Default::default(), &TrustStore::new()).unwrap_err(),
            VerifyError::AttestationAaguidMismatch
        );
    }

    #[test]
    fn self_attestation_and_flags() {
        let (cd, obj) = packed_registration(None, Flags::UP);
        let r = run(&cd, &obj, &Default::default(), &TrustStore::new()).unwrap();
        assert_eq!(r.attestation_type, AttestationType::SelfAttestation);
        let uv = RegistrationPolicy {
            require_user_verification: true,
            ..Default::default()
        };
        assert_eq!(
            run(&cd, &obj, &uv, &TrustStore::new()).unwrap_err(),
            VerifyError::UserNotVerified
        );
        let (cd, obj) = packed_registration(None, Flags::UP | Flags::BS);
        assert_eq!(
            run(&cd, &obj, &Default::default(), &TrustStore::new()).unwrap_err(),
            VerifyError::InvalidBackupFlags
        );
        // A signature by another key.
        let pki = testutil::pki(None);
        let (cd, mut obj) = packed_registration(Some((&pki.leaf_der, &pki.leaf_key)), Flags::UP);
        let n = obj.len();
        obj[n - 40] ^= 1; // inside authData: breaks the signature
        assert!(run(&cd, &obj, &Default::default(), &TrustStore::new()).is_err());
    }
    /// WebAuthn L3 §8.2.1: version 3; subject C, O, CN and OU
    /// "Authenticator Attestation"; Basic Constraints cA false.
    #[test]
    fn certificate_requirements_each_refused() {
        use crate::testutil::{key, raw_cert, CertSpec};
        use crate::trust::ParsedCert;
        let check = |spec: CertSpec<'_>| {
            let k = key();
            let der = raw_cert(&spec, &k, &k);
            super::check_certificate_requirements(&ParsedCert::parse(&der).unwrap(), false)
                .map_err(|e| e.to_string())
        };
        const GOOD: &str = "CN=Batch,OU=Authenticator Attestation,O=Vendor,C=US";
        assert!(check(CertSpec::new(GOOD, "CN=R,C=US").ca(false)).is_ok());
        assert!(
            check(CertSpec::new(GOOD, "CN=R,C=US")).is_ok(),
            "no basic constraints"
        );
        let v1 = CertSpec {
            v1: true,
            ..CertSpec::new(GOOD, "CN=R,C=US")
        };
        assert!(check(v1).unwrap_err().contains("version"));
        for (subject, missing) in [
            ("CN=Batch,OU=Authenticator Attestation,O=Vendor", "C"),
            ("CN=Batch,OU=Authenticator Attestation,C=US", "O"),
            ("OU=Authenticator Attestation,O=Vendor,C=US", "CN"),
            ("CN=Batch,OU=Other,O=Vendor,C=US", "OU"),
            ("CN=Batch,O=Vendor,C=US", "OU"),
        ] {
            let e = check(CertSpec::new(subject, "CN=R,C=US")).unwrap_err();
            assert!(
                e.contains(&format!("lacks {missing}")) || (missing == "OU" && e.contains("OU")),
                "{subject}: {e}"
            );
        }
        let e = check(CertSpec::new(GOOD, "CN=R,C=US").ca(true)).unwrap_err();
        assert!(e.contains("CA is true"), "{e}");
    }
}

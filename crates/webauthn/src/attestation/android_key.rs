//! `android-key` attestation (WebAuthn L3 §8.4).

use const_oid::ObjectIdentifier;

use super::{
    malformed, open, read_alg, read_x5c, verify_with_cert, AttestationType, StatementContext,
    StatementOutcome,
};
use crate::cbor::Value;
use crate::error::VerifyError;
use crate::tlv::{self, Tlv};
use crate::trust::same_public_key;

const FMT: &str = "android-key";

/// The Android Key Attestation extension (KeyDescription).
const OID_KEY_DESCRIPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.1.17");

const TAG_PURPOSE: u32 = 1;
const TAG_ALL_APPLICATIONS: u32 = 600;
const TAG_ORIGIN: u32 = 702;
const KM_ORIGIN_GENERATED: u64 = 0;
const KM_PURPOSE_SIGN: u64 = 2;

/// Verifies an `android-key` statement: `{alg, sig, x5c}`.
pub(crate) fn verify(
    att_stmt: Value,
    ctx: &StatementContext,
) -> Result<StatementOutcome, VerifyError> {
    let mut stmt = open(FMT, att_stmt)?;
    let alg = read_alg(FMT, &mut stmt)?;
    let sig = stmt.bytes("sig", "sig").map_err(|e| malformed(FMT, e))?;
    let items = stmt
        .opt_array("x5c", "x5c")
        .map_err(|e| malformed(FMT, e))?
        .ok_or_else(|| malformed(FMT, "x5c is missing"))?;
    let chain = read_x5c(FMT, items)?;
    let leaf = &chain[0];
    // §8.4 step 2.
    verify_with_cert(leaf, alg, &ctx.signed_data(), &sig)?;
    // §8.4 step 3: the leaf certifies the credential key.
    if !same_public_key(&leaf.public_key()?, &ctx.attested.public_key) {
        return Err(VerifyError::AttestationPublicKeyMismatch);
    }
    // §8.4 step 4: the key description.
    let (_, ext) = leaf
        .extension(OID_KEY_DESCRIPTION)
        .ok_or_else(|| VerifyError::AndroidKeyDescriptionInvalid("extension is missing".into()))?;
    let desc = KeyDescription::parse(ext)
        .ok_or_else(|| VerifyError::AndroidKeyDescriptionInvalid("unreadable".into()))?;
    if desc.attestation_challenge != ctx.client_data_hash {
        return Err(VerifyError::AndroidKeyChallengeMismatch);
    }
    check_authorizations(&desc, ctx.policy.android_key_require_tee)?;
    Ok(StatementOutcome {
        attestation_type: AttestationType::Basic,
        chain,
    })
}

/// WebAuthn L3 §8.4 verification procedure, the authorization lists: no
/// allApplications in either list; origin KM_ORIGIN_GENERATED and purpose
/// KM_PURPOSE_SIGN in the TEE list (with `require_tee`) or in either.
fn check_authorizations(desc: &KeyDescription<'_>, require_tee: bool) -> Result<(), VerifyError> {
    let lists: Vec<&AuthorizationList> = if require_tee {
        vec![&desc.tee_enforced]
    } else {
        vec![&desc.tee_enforced, &desc.software_enforced]
    };
    let invalid = |m: &str| Err(VerifyError::AndroidKeyDescriptionInvalid(m.to_string()));
    // allApplications must be absent from both lists: the key is scoped to the RP.
    if desc.tee_enforced.all_applications || desc.software_enforced.all_applications {
        return invalid("allApplications is present");
    }
    match lists.iter().find_map(|l| l.origin) {
        Some(KM_ORIGIN_GENERATED) => {}
        Some(_) => return invalid("origin is not KM_ORIGIN_GENERATED"),
        None => return invalid("origin is absent"),
    }
    if !lists.iter().any(|l| l.purposes.contains(&KM_PURPOSE_SIGN)) {
        return invalid("purpose does not include KM_PURPOSE_SIGN");
    }
    Ok(())
}

#[derive(Debug, Default)]
struct AuthorizationList {
    purposes: Vec<u64>,
    origin: Option<u64>,
    all_applications: bool,
}

impl AuthorizationList {
    fn parse(item: &Tlv) -> Option<Self> {
        if !item.is_universal(tlv::SEQUENCE) {
            return None;
        }
        let mut list = Self::default();
        for field in tlv::children(item.value)? {
            if field.class != tlv::CONTEXT {
                continue;
            }
            match field.number {
                TAG_PURPOSE => {
                    let (set, _) = tlv::read(field.value)?;
                    if !set.is_universal(tlv::SET) {
                        return None;
                    }
                    for p in tlv::children(set.value)? {
                        list.purposes.push(p.small_uint()?);
                    }
                }
                TAG_ORIGIN => {
                    let (v, _) = tlv::read(field.value)?;
                    list.origin = Some(v.small_uint()?);
                }
                TAG_ALL_APPLICATIONS => list.all_applications = true,
                _ => {}
            }
        }
        Some(list)
    }
}

struct KeyDescription<'a> {
    attestation_challenge: &'a [u8],
    software_enforced: AuthorizationList,
    tee_enforced: AuthorizationList,
}

impl<'a> KeyDescription<'a> {
    fn parse(ext: &'a [u8]) -> Option<Self> {
        let (seq, _) = tlv::read(ext)?;
        if !seq.is_universal(tlv::SEQUENCE) {
            return None;
        }
        let items = tlv::children(seq.value)?;
        if items.len() < 8 || !items[4].is_universal(tlv::OCTET_STRING) {
            return None;
        }
        Some(Self {
            attestation_challenge: items[4].value,
            software_enforced: AuthorizationList::parse(&items[6])?,
            tee_enforced: AuthorizationList::parse(&items[7])?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER TLV with a one-byte (or long-form) length.
    fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = tag.to_vec();
        if value.len() < 128 {
            out.push(value.len() as u8);
        } else {
            out.extend([0x81, value.len() as u8]);
        }
        out.extend_from_slice(value);
        out
    }

    /// An AuthorizationList: purpose [1] SET OF INTEGER, origin [702]
    /// INTEGER, allApplications [600] NULL (Android's KeyDescription ASN.1).
    fn list(purposes: &[u8], origin: Option<u8>, all_apps: bool) -> Vec<u8> {
        let mut body = Vec::new();
        if !purposes.is_empty() {
            let ints: Vec<u8> = purposes.iter().flat_map(|p| tlv(&[0x02], &[*p])).collect();
            body.extend(tlv(&[0xa1], &tlv(&[0x31], &ints)));
        }
        if all_apps {
            // [600] constructed, context class: 0xbf 0x84 0x58.
            body.extend(tlv(&[0xbf, 0x84, 0x58], &[0x05, 0x00]));
        }
        if let Some(o) = origin {
            // [702]: 0xbf 0x85 0x3e.
            body.extend(tlv(&[0xbf, 0x85, 0x3e], &tlv(&[0x02], &[o])));
        }
        tlv(&[0x30], &body)
    }

    fn description(items: &[Vec<u8>]) -> Vec<u8> {
        tlv(&[0x30], &items.concat())
    }

    fn standard(software: Vec<u8>, tee: Vec<u8>) -> Vec<Vec<u8>> {
        vec![
            tlv(&[0x02], &[3]),        // attestationVersion
            tlv(&[0x0a], &[1]),        // attestationSecurityLevel
            tlv(&[0x02], &[4]),        // keymasterVersion
            tlv(&[0x0a], &[1]),        // keymasterSecurityLevel
            tlv(&[0x04], &[0xcd; 32]), // attestationChallenge
            tlv(&[0x04], &[]),         // uniqueId
            software,
            tee,
        ]
    }

    #[test]
    fn key_descriptions_need_eight_items_and_an_octet_string_challenge() {
        let items = standard(list(&[], None, false), list(&[2], Some(0), false));
        let der = description(&items);
        let d = KeyDescription::parse(&der).expect("a well-formed description");
        assert_eq!(d.attestation_challenge, &[0xcd; 32]);
        assert_eq!(d.tee_enforced.origin, Some(0));
        assert_eq!(d.tee_enforced.purposes, vec![2]);
        assert!(
            KeyDescription::parse(&description(&items[..7])).is_none(),
            "seven items"
        );
        let mut bad = items.clone();
        bad[4] = tlv(&[0x02], &[1]);
        assert!(
            KeyDescription::parse(&description(&bad)).is_none(),
            "challenge not an OCTET STRING"
        );
        assert!(
            KeyDescription::parse(&tlv(&[0x31], &items.concat())).is_none(),
            "not a SEQUENCE"
        );
    }

    #[test]
    fn authorization_lists_scope_the_key_to_this_rp_and_to_signing() {
        let check = |software: Vec<u8>, tee: Vec<u8>, require_tee: bool| {
            let der = description(&standard(software, tee));
            let d = KeyDescription::parse(&der).unwrap();
            check_authorizations(&d, require_tee).map_err(|e| e.to_string())
        };
        let good = || list(&[2], Some(0), false);
        assert!(check(list(&[], None, false), good(), true).is_ok());
        assert!(
            check(good(), list(&[], None, false), false).is_ok(),
            "software list is enough"
        );
        let e = check(good(), list(&[], None, false), true).unwrap_err();
        assert!(
            e.contains("origin"),
            "require_tee looks at the TEE list only: {e}"
        );
        // allApplications in either list is refused.
        for (sw, tee) in [
            (list(&[], None, true), good()),
            (list(&[], None, false), list(&[2], Some(0), true)),
        ] {
            let e = check(sw, tee, false).unwrap_err();
            assert!(e.contains("allApplications"), "{e}");
        }
        let e = check(list(&[], None, false), list(&[2], Some(1), false), false).unwrap_err();
        assert!(e.contains("KM_ORIGIN_GENERATED"), "{e}");
        let e = check(list(&[], None, false), list(&[3], Some(0), false), false).unwrap_err();
        assert!(e.contains("KM_PURPOSE_SIGN"), "{e}");
        let e = check(list(&[], None, false), list(&[2], None, false), false).unwrap_err();
        assert!(e.contains("absent"), "{e}");
    }
}

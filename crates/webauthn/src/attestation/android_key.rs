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
    let lists: Vec<&AuthorizationList> = if ctx.policy.android_key_require_tee {
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
    Ok(StatementOutcome {
        attestation_type: AttestationType::Basic,
        chain,
    })
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

//! Schemas of [`crate::graph`] fields that are text on the Rust side but
//! take only a few values on the wire (Graph's enumerations), for the
//! server's generated OpenAPI document.

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::Object;

/// A text that is one of `values`; `null` as well when `nullable`.
fn one_of(values: &[&str], nullable: bool, description: &str) -> Object {
    let kind = if nullable {
        utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null])
    } else {
        utoipa::openapi::schema::SchemaType::new(Type::String)
    };
    let mut listed: Vec<serde_json::Value> = values.iter().map(|v| (*v).into()).collect();
    if nullable {
        listed.push(serde_json::Value::Null);
    }
    ObjectBuilder::new()
        .schema_type(kind)
        .enum_values(Some(listed))
        .description(Some(description))
        .build()
}

/// `fido2AuthenticationMethod.attestationLevel`.
pub fn attestation_level() -> Object {
    one_of(
        &["attested", "notAttested"],
        true,
        "Whether the key's attestation was verified to a trusted root.",
    )
}

/// `fido2AuthenticationMethod.passkeyType`.
pub fn passkey_type() -> Object {
    one_of(
        &["deviceBound", "synced"],
        true,
        "Whether the passkey stays on one device (absent when unknown).",
    )
}

/// `fido2AuthenticationMethodConfiguration.state`.
pub fn policy_state() -> Object {
    one_of(
        &["enabled", "disabled"],
        false,
        "Whether users may use passkeys at all.",
    )
}

/// `fido2KeyRestrictions.enforcementType`.
pub fn enforcement_type() -> Object {
    one_of(
        &["allow", "block"],
        false,
        "Whether the listed AAGUIDs are the only ones allowed, or the ones refused.",
    )
}

/// `fido2KeyRestrictions.aaGuids`: what `authdata::parse_aaguid` reads.
pub fn aaguids() -> utoipa::openapi::Array {
    let item = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(crate::authdata::AAGUID_PATTERN))
        .description(Some(
            "An AAGUID: a UUID, hyphenated or not, braced or as a urn:uuid.",
        ))
        .build();
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(item)
        .description(Some("The AAGUIDs allowed or blocked."))
        .build()
}

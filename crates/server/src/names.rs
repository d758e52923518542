//! Names people give things: userPrincipalNames, display names of users,
//! groups and passkeys. Checked once here, the way Microsoft Graph checks
//! them, so the directory never holds a name that looks like another, hides
//! text (bidirectional overrides), or breaks a terminal (control
//! characters).
//!
//! - A userPrincipalName is `local@domain` with Entra's character set
//!   (letters, digits and `' . - _ ! # ^ ~`; Microsoft's documentation of
//!   the `userPrincipalName` property), at most 64 characters before the
//!   `@`, 48 after, 113 in all. ASCII only, so there are no Unicode twins
//!   (NFC/NFD) and no confusables; it is compared case-insensitively.
//! - Display names are Unicode, normalised to NFC, without control or
//!   bidirectional-formatting characters, and of Graph's lengths: a user's
//!   or group's at most 256 characters, a passkey's 1 to 30 (Entra refuses
//!   longer passkey names: GRAPH_FIDO2_API.md §8).

use crate::error::{ApiError, ApiResult};
use unicode_normalization::UnicodeNormalization;

/// Longest userPrincipalName (Graph).
pub const UPN_MAX: usize = 113;
/// Longest display name of a user or group (Graph).
pub const DISPLAY_NAME_MAX: usize = 256;
/// Longest passkey display name (Entra).
pub const PASSKEY_NAME_MAX: usize = 30;

/// Bidirectional formatting characters (embeddings, overrides, isolates,
/// marks): they can make a name display as something else.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn upn_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "'.-_!#^~".contains(c)
}

/// Checks a userPrincipalName; returns it trimmed.
pub fn upn(text: &str) -> ApiResult<String> {
    let t = text.trim();
    let bad = |why: &str| {
        ApiError::bad_request(format!(
            "userPrincipalName is invalid: {why} (it must be local@domain, at most {UPN_MAX} characters, \
             of letters, digits and ' . - _ ! # ^ ~)."
        ))
    };
    if t.is_empty() {
        return Err(bad("it is empty"));
    }
    if t.chars().count() > UPN_MAX {
        return Err(bad("it is too long"));
    }
    let Some((local, domain)) = t.split_once('@') else {
        return Err(bad("it has no @"));
    };
    if local.is_empty() || local.len() > 64 || domain.is_empty() || domain.len() > 48 {
        return Err(bad("a part is empty or too long"));
    }
    if !local.chars().all(upn_char) || !domain.chars().all(|c| upn_char(c) && c != '\'') {
        return Err(bad("it holds a character that is not allowed"));
    }
    if local.starts_with('.')
        || local.ends_with('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || t.contains("..")
    {
        return Err(bad("a dot is misplaced"));
    }
    Ok(t.to_owned())
}

/// The form a userPrincipalName is looked up by (case-insensitive).
pub fn upn_key(text: &str) -> String {
    // (Unicode lower case: names stored by older versions may not be ASCII.)
    text.trim().to_lowercase()
}

/// Checks and normalises (NFC) a display name of at most `max`
/// characters; `what` names the field in the error.
pub fn display_name(text: &str, max: usize, what: &str) -> ApiResult<String> {
    let t: String = text.trim().nfc().collect();
    if let Some(c) = t.chars().find(|c| c.is_control() || is_bidi_control(*c)) {
        return Err(ApiError::bad_request(format!(
            "{what} holds a control or bidirectional-formatting character (U+{:04X}), which is not allowed.",
            c as u32
        )));
    }
    let n = t.chars().count();
    if n > max {
        return Err(ApiError::bad_request(format!(
            "{what} is {n} characters long; at most {max} are allowed."
        )));
    }
    Ok(t)
}

/// A passkey's display name: 1 to 30 characters (Entra's limit).
pub fn passkey_name(text: &str) -> ApiResult<String> {
    let t = display_name(text, PASSKEY_NAME_MAX, "displayName")?;
    if t.is_empty() {
        return Err(ApiError::bad_request(
            "displayName must not be empty (1 to 30 characters).",
        ));
    }
    Ok(t)
}

/// The characters `str::trim` removes from both ends of a name before
/// it is checked (Unicode White_Space), as a regular expression class body.
const TRIMMED_CLASS: &str =
    r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// The characters [`display_name`] refuses, as a regular expression class
/// body: controls (C0, DEL, C1) and [`is_bidi_control`]'s.
const REFUSED_CLASS: &str =
    r"\u0000-\u001f\u007f-\u009f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069";

/// The userPrincipalName rules of [`upn`] as a regular expression (ECMA
/// 262, for the OpenAPI document): blanks at the ends (trimmed), the
/// lengths of each part, the character sets, the dots.
fn upn_pattern() -> String {
    let ws = TRIMMED_CLASS;
    format!(
        r"^[{ws}]*(?=[^@]{{1,64}}@[^@{ws}]{{1,48}}[{ws}]*$)[A-Za-z0-9'_!#^~-]+(\.[A-Za-z0-9'_!#^~-]+)*@[A-Za-z0-9_!#^~-]+(\.[A-Za-z0-9_!#^~-]+)*[{ws}]*$"
    )
}

/// A display name as a regular expression: blanks at the ends (trimmed),
/// then a core without a refused character that is `nonempty` or not.
fn display_name_pattern(nonempty: bool) -> String {
    let (ws, no) = (TRIMMED_CLASS, REFUSED_CLASS);
    let core = format!("[^{no}{ws}](?:[^{no}]*[^{no}{ws}])?");
    let core = if nonempty {
        core
    } else {
        format!("(?:{core})?")
    };
    format!("^[{ws}]*{core}[{ws}]*$")
}

fn text_schema(max: usize, pattern: String, description: String) -> utoipa::openapi::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .max_length(Some(max))
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

/// [`upn`]'s rules as an OpenAPI schema.
pub fn upn_schema() -> utoipa::openapi::Object {
    text_schema(
        UPN_MAX,
        upn_pattern(),
        format!(
            "local@domain: letters, digits and ' . - _ ! # ^ ~ (no ' in the domain), dots not \
             first, last or doubled; local part at most 64, domain at most 48, in all at most \
             {UPN_MAX} characters."
        ),
    )
}

/// [`display_name`]'s rules for a user's name, as an OpenAPI schema.
pub fn user_display_name_schema() -> utoipa::openapi::Object {
    text_schema(
        DISPLAY_NAME_MAX,
        display_name_pattern(false),
        format!(
            "At most {DISPLAY_NAME_MAX} characters, no control or bidirectional-formatting \
             character."
        ),
    )
}

/// A group's name (not empty, not only spaces), as an OpenAPI schema.
pub fn group_display_name_schema() -> utoipa::openapi::Object {
    text_schema(
        DISPLAY_NAME_MAX,
        display_name_pattern(true),
        format!(
            "1 to {DISPLAY_NAME_MAX} characters (not only spaces), no control or \
             bidirectional-formatting character."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI document's display-name patterns take what
    /// `display_name` takes (a group's also not empty), and refuse what it
    /// refuses: every character of a few blocks inside a name, at its
    /// ends (blanks there are trimmed first) and alone.
    #[test]
    fn the_display_name_patterns_are_what_display_name_takes() {
        let pattern = |schema: utoipa::openapi::Object| {
            let schema = serde_json::to_value(schema).unwrap();
            assert_eq!(schema["maxLength"], DISPLAY_NAME_MAX);
            regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap()
        };
        let (user, group) = (
            pattern(user_display_name_schema()),
            pattern(group_display_name_schema()),
        );
        let samples = (0u32..0x300)
            .chain(0x1680..0x1681)
            .chain(0x2000..0x2070)
            .chain([0x061c, 0x3000, 0xfeff, 0x1f600])
            .filter_map(char::from_u32);
        for c in samples {
            for name in [
                format!("a{c}b"),
                format!("{c}a"),
                format!("a{c}"),
                format!("{c}"),
                format!(" {c}{c} "),
            ] {
                let checked = display_name(&name, DISPLAY_NAME_MAX, "displayName");
                let shown = format!("{name:?} (U+{:04X})", c as u32);
                assert_eq!(user.is_match(&name), checked.is_ok(), "user {shown}");
                let group_ok = checked.is_ok_and(|n| !n.is_empty());
                assert_eq!(group.is_match(&name), group_ok, "group {shown}");
            }
        }
    }

    #[test]
    fn upns_as_graph_allows_them() {
        assert_eq!(
            upn(" Alice.Smith@contoso.com ").unwrap(),
            "Alice.Smith@contoso.com"
        );
        assert!(upn("o'brien@contoso.com").is_ok());
        for bad in [
            "",
            "nobody",
            "a@b@c",
            "a b@c.com",
            "\u{0430}lice@contoso.com", // Cyrillic а: a confusable
            "ali\u{0301}ce@contoso.com",
            "a/b@contoso.com",
            ".a@contoso.com",
            "a..b@contoso.com",
            "a@contoso.com.",
            &format!("{}@c.com", "a".repeat(65)),
            &format!("a@{}.com", "b".repeat(60)),
        ] {
            assert!(upn(bad).is_err(), "{bad:?}");
        }
        assert_eq!(upn_key("Alice@Contoso.COM"), "alice@contoso.com");
    }

    #[test]
    fn display_names_are_nfc_and_bounded() {
        // NFD e + combining acute becomes the one NFC character.
        assert_eq!(display_name("Rene\u{0301}", 256, "d").unwrap(), "René");
        assert!(display_name("evil\u{202e}txt.exe", 256, "d").is_err());
        assert!(display_name("bell\u{7}", 256, "d").is_err());
        assert!(display_name(&"x".repeat(257), 256, "d").is_err());
        assert!(passkey_name("").is_err());
        assert!(passkey_name(&"k".repeat(31)).is_err());
        assert_eq!(passkey_name(&"k".repeat(30)).unwrap().len(), 30);
    }
}

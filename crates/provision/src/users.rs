//! The users of a bulk run: from a CSV file or a directory group.

use crate::error::{Error, Result};
use std::path::Path;

/// Longest passkey display name Entra accepts (GRAPH_FIDO2_API.md §8:
/// public Entra clients truncate to 30 or validate 3..30 because longer
/// names are refused with 400 — after the credential was made on the key).
pub const PASSKEY_NAME_MAX: usize = 30;

/// Why a passkey display name would be refused by the directory, if it
/// would: 1 to [`PASSKEY_NAME_MAX`] characters, no control characters.
pub fn passkey_name_problem(name: &str) -> Option<String> {
    let n = name.trim().chars().count();
    if n == 0 {
        return Some("the passkey display name is empty (1 to 30 characters)".into());
    }
    if n > PASSKEY_NAME_MAX {
        return Some(format!(
            "the passkey display name `{name}` is {n} characters long; Entra accepts at most {PASSKEY_NAME_MAX}"
        ));
    }
    if name.chars().any(char::is_control) {
        return Some("the passkey display name holds a control character".into());
    }
    None
}

/// Every user whose passkey display name the directory would refuse, with
/// the reason.
pub fn name_problems(users: &[UserJob]) -> Vec<(String, String)> {
    users
        .iter()
        .filter_map(|u| {
            u.display_name
                .as_deref()
                .and_then(passkey_name_problem)
                .map(|p| (u.user.clone(), p))
        })
        .collect()
}

/// Refuses a run whose passkey names the directory would refuse — before
/// any key is touched.
pub fn check_names(users: &[UserJob]) -> Result<()> {
    let problems = name_problems(users);
    match problems.as_slice() {
        [] => Ok(()),
        [(user, p)] => Err(Error::Input(format!("{user}: {p}"))),
        [(user, p), rest @ ..] => Err(Error::Input(format!(
            "{user}: {p} (and {} more user(s) with unusable passkey names: run with --check to list them)",
            rest.len()
        ))),
    }
}

/// Cuts text to at most `max` bytes of UTF-8 on a character boundary (the
/// client layer's, which cuts `user.name`/`displayName` for the key).
pub use client::cut_utf8;

/// One user to provision a key for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserJob {
    /// userPrincipalName (or object id) as the directory knows it.
    pub user: String,
    /// The passkey's display name; generated when absent.
    pub display_name: Option<String>,
    /// PIN length for this user's key, overriding the run's default.
    pub pin_length: Option<usize>,
}

/// Reads a CSV with a header row: `userPrincipalName` (required; `upn` and
/// `user` are accepted too), optional `passkeyDisplayName` (the name the
/// passkey gets; `displayName`, the person's name, is ignored) and
/// `pinLength`. Blank
/// lines and lines starting with `#` are skipped; duplicates are refused.
pub fn read_csv(path: &Path) -> Result<Vec<UserJob>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .flexible(true)
        .from_path(path)
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    let headers = reader
        .headers()
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?
        .clone();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let upn_col = find(&["userPrincipalName", "upn", "user"]).ok_or_else(|| {
        Error::Input(format!(
            "{}: no userPrincipalName column (header is: {})",
            path.display(),
            headers.iter().collect::<Vec<_>>().join(",")
        ))
    })?;
    // `displayName` is the person's name (as in the directory's own CSVs);
    // the passkey's name has its own column.
    let name_col = find(&["passkeyDisplayName", "keyDisplayName"]);
    let pin_col = find(&["pinLength"]);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        let user = row.get(upn_col).unwrap_or("").to_owned();
        if user.is_empty() {
            if row.iter().all(str::is_empty) {
                continue;
            }
            return Err(Error::Input(format!(
                "{} line {line}: empty userPrincipalName",
                path.display()
            )));
        }
        if !seen.insert(user.to_ascii_lowercase()) {
            return Err(Error::Input(format!(
                "{} line {line}: {user} is listed twice (one key per user per run)",
                path.display()
            )));
        }
        let display_name = name_col
            .and_then(|c| row.get(c))
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let pin_length = match pin_col.and_then(|c| row.get(c)).filter(|s| !s.is_empty()) {
            Some(text) => Some(text.parse::<usize>().map_err(|_| {
                Error::Input(format!(
                    "{} line {line}: pinLength `{text}` is not a number",
                    path.display()
                ))
            })?),
            None => None,
        };
        out.push(UserJob {
            user,
            display_name,
            pin_length,
        });
    }
    if out.is_empty() {
        return Err(Error::Input(format!("{}: no users", path.display())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_columns_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.csv");
        std::fs::write(
            &p,
            "UserPrincipalName,displayName,passkeyDisplayName,pinLength\n# comment\nalice@x.com,Alice,\"Alice, key 1\",8\n\nbob@x.com,Bob,,\n",
        )
        .unwrap();
        let users = read_csv(&p).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].display_name.as_deref(), Some("Alice, key 1"));
        assert_eq!(users[0].pin_length, Some(8));
        assert_eq!(users[1].display_name, None);
        std::fs::write(&p, "upn\na@x\nA@x\n").unwrap();
        assert!(read_csv(&p).unwrap_err().to_string().contains("twice"));
        std::fs::write(&p, "name\nx\n").unwrap();
        assert!(read_csv(&p).is_err());
        std::fs::write(&p, "upn,pinLength\na@x,six\n").unwrap();
        assert!(read_csv(&p).is_err());
    }

    #[test]
    fn passkey_names_and_utf8_cuts() {
        assert!(passkey_name_problem("YubiKey 5 NFC 12345678").is_none());
        assert!(passkey_name_problem(&"x".repeat(31))
            .unwrap()
            .contains("31"));
        assert!(passkey_name_problem(" ").is_some());
        assert_eq!(cut_utf8("abc", 64), "abc");
        // 'é' is two bytes: the cut never splits it.
        let s = "é".repeat(40);
        assert_eq!(cut_utf8(&s, 64).len(), 64);
        assert_eq!(cut_utf8(&s, 63).len(), 62);
        let jobs = vec![
            UserJob {
                user: "a".into(),
                display_name: Some("ok".into()),
                pin_length: None,
            },
            UserJob {
                user: "b".into(),
                display_name: Some("y".repeat(40)),
                pin_length: None,
            },
        ];
        assert_eq!(name_problems(&jobs).len(), 1);
        assert!(check_names(&jobs).unwrap_err().to_string().contains("b:"));
    }
}

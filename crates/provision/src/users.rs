//! The users of a bulk run: from a CSV file or a directory group.

use crate::error::{Error, Result};
use std::path::Path;

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
}

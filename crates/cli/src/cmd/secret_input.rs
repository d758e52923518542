//! Reading PINs without ever echoing or logging them: from a file, from
//! stdin (one per line, for scripts), or from a prompt without echo.

use anyhow::{bail, Context};
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Where a PIN comes from.
#[derive(Debug, Clone, Default)]
pub struct PinSource {
    pub file: Option<PathBuf>,
    pub stdin: bool,
}

/// Reads the first line of `path` (without its line ending).
pub fn read_secret_file(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read PIN file {}", path.display()))?,
    );
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        bail!("PIN file {} is empty", path.display());
    }
    Ok(Zeroizing::new(line.to_owned()))
}

/// Reads one line from stdin (without its line ending).
pub fn read_stdin_line(what: &str) -> anyhow::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read stdin")?;
    if n == 0 {
        bail!("expected the {what} on stdin, got end of input");
    }
    let trimmed = line.trim_end_matches(['\r', '\n']);
    if trimmed.is_empty() {
        bail!("the {what} read from stdin is empty");
    }
    Ok(Zeroizing::new(trimmed.to_owned()))
}

/// Prompts on the terminal without echo.
pub fn prompt(label: &str) -> anyhow::Result<Zeroizing<String>> {
    if !std::io::stdin().is_terminal() {
        bail!("{label}: no terminal to ask on; use the --…-file or --…-stdin options");
    }
    let pin = Zeroizing::new(
        rpassword::prompt_password(format!("{label}: ")).context("cannot read from terminal")?,
    );
    if pin.is_empty() {
        bail!("{label}: nothing entered");
    }
    Ok(pin)
}

impl PinSource {
    /// The PIN from the configured source, or a prompt labelled `label`.
    pub fn read(&self, label: &str) -> anyhow::Result<Zeroizing<String>> {
        if let Some(f) = &self.file {
            return read_secret_file(f);
        }
        if self.stdin {
            return read_stdin_line(label);
        }
        prompt(label)
    }

    /// A new PIN: from file/stdin, or prompted twice for confirmation.
    pub fn read_new(&self, label: &str) -> anyhow::Result<Zeroizing<String>> {
        if self.file.is_some() || self.stdin {
            return self.read(label);
        }
        let first = prompt(label)?;
        let second = prompt(&format!("{label} (again)"))?;
        if first != second {
            bail!("the two PINs differ");
        }
        Ok(first)
    }
}

/// Asks for "yes" unless `assume_yes`; refuses without a terminal.
pub fn confirm(question: &str, assume_yes: bool) -> anyhow::Result<()> {
    if assume_yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question} Refusing without confirmation: pass --yes");
    }
    eprint!("{question} Type 'yes' to continue: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != "yes" {
        bail!("cancelled");
    }
    Ok(())
}

//! One module per subcommand. Each exposes `XArgs` (clap) and
//! `run(args) -> anyhow::Result<ExitCode>`.

pub mod admin;
pub mod deprovision;
pub mod directory_args;
pub mod key;
pub mod provision;
pub mod secret_input;
pub mod serve;
pub mod signin;
pub mod verify;
pub mod virtual_key;

/// An error chain as one line: "outer: cause: root cause".
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}

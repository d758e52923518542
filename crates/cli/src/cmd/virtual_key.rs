//! `keysmith virtual-key`: serve a software security key over UDP.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct VirtualKeyArgs {}

pub fn run(_args: VirtualKeyArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the virtual key is being built")
}

//! `ward probe`: one traced HTTP(S), TCP or DNS check with a phase breakdown.

use std::process::ExitCode;

/// Arguments of `ward probe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to check: `http(s)://host[:port]/path`, `tcp://host:port` or `dns://server[:port]/name`.
    pub target: String,
}

/// Runs the probe and prints its report.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

//! `ward`: parses arguments, dispatches to one subcommand, maps the outcome to an exit code.
//!
//! Exit codes: 0 = ok, 1 = a check/SLO/probe failed, 2 = usage or runtime error.
// removed when the binary-shape branch lands (it reshapes cmd/ and render/)

mod cmd;
mod compat;
mod logging;
mod render;
mod runtime;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Version line: crate version and the git commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("WARD_GIT_COMMIT"),
    ")"
);

/// Tells a Kubernetes platform team, with numbers, whether their cluster is healthy.
#[derive(Debug, Parser)]
#[command(name = "ward", version = VERSION, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    log: logging::Args,
    #[command(subcommand)]
    command: Command,
}

/// Every subcommand of the binary.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start: the size of the variants does not matter
enum Command {
    /// kubenurse-compatible DaemonSet agent: API server, ingress, service and ring-neighbour checks.
    Nurse(cmd::nurse::Args),
    /// Time every phase of one HTTP(S), TCP or DNS check (like httpstat / curl -w).
    Probe(cmd::probe::Args),
    /// Staged HTTP load test (VUs and stages like k6, or a fixed arrival rate) with thresholds.
    Load(cmd::load::Args),
    /// Measure idle keep-alive timeouts and reproduce the proxy/backend keep-alive race (502s).
    Keepalive(cmd::keepalive::Args),
    /// hostlookuper-compatible DNS latency/error prober (agent), or `lookup once NAME…`.
    Lookup(cmd::lookup::Args),
    /// Continuous end-to-end tests of a live cluster: `run` once, `serve` every 15m, `sweep` leftovers.
    E2e(cmd::e2e::Args),
    /// A simulated cluster on loopback: real nurse agents, the mesh dashboard, fault injection.
    Lab(cmd::lab::Args),
    /// Generate, validate or test SLO rules from sloth specs (drop-in for sloth generate|validate; test proves the alerts with promtool), or report SLOs from Prometheus.
    Slo(cmd::slo::Args),
    /// Print the shell completion script for bash, zsh or fish.
    Completions(cmd::completions::Args),
    /// Print ward's manual pages (roff), or write them all to a directory.
    Man(cmd::man::Args),
}

impl Command {
    /// What the subcommand changes in the logging defaults.
    fn log_tweaks(&self) -> logging::Tweaks {
        match self {
            Command::Lab(_) => cmd::lab::LOG_TWEAKS,
            Command::Lookup(args) => args.log_tweaks(),
            _ => logging::Tweaks::default(),
        }
    }
}

fn main() -> ExitCode {
    let (cli, invocation): (Cli, _) = compat::parse(std::env::args_os().collect());
    logging::init(&cli.log, cli.command.log_tweaks());
    compat::log_ignored(&invocation);
    let outcome = match cli.command {
        Command::Nurse(args) => cmd::nurse::run(args),
        Command::Probe(args) => cmd::probe::run(args),
        Command::Load(args) => cmd::load::run(args),
        Command::Keepalive(args) => cmd::keepalive::run(args),
        Command::Lookup(args) => cmd::lookup::run(args),
        Command::E2e(args) => cmd::e2e::run(args),
        Command::Lab(args) => cmd::lab::run(args),
        Command::Slo(args) => cmd::slo::run(args),
        Command::Completions(args) => cmd::completions::run(args, Cli::command()),
        Command::Man(args) => cmd::man::run(args, Cli::command()),
    };
    match outcome {
        Ok(code) => code,
        Err(err) if closed_stdout(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let line = cmd::http_flags::tls_file_error(&err).unwrap_or_else(|| one_line(&err));
            eprintln!("ward: {line}");
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each cause once (many errors already
/// quote their source in their own message).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

/// True when writing the report failed because the reader closed stdout
/// (`ward ... | head`), which is no failure of ours.
fn closed_stdout(err: &anyhow::Error) -> bool {
    err.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

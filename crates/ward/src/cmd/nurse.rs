//! `ward nurse`: the kubenurse-compatible DaemonSet agent (every `KUBENURSE_*`
//! variable with kubenurse's defaults and parse rules, and a flag for each),
//! and `ward nurse ring`, which shows who checks whom on the neighbour ring.

mod agent;

use std::path::PathBuf;
use std::process::ExitCode;

use agent::AgentArgs;
use anyhow::Context;
use ward_agent::Lifecycle;
use ward_nurse::config::{flag_on, toggle_on};
use ward_nurse::{ring, NurseConfig};

use crate::render::{self, Format};
use crate::runtime::{runtime, Threads};

fn kube_flag(s: &str) -> Result<bool, String> {
    Ok(flag_on(s))
}

fn kube_toggle(s: &str) -> Result<bool, String> {
    Ok(toggle_on(s))
}

/// The library's defaults, which are the flags' defaults.
fn defaults() -> NurseConfig {
    NurseConfig::default()
}

fn neighbour_limit(s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Ok(defaults().neighbour_limit);
    }
    match s.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        Ok(_) => Err("must be 0 (check every neighbour) or a positive number".into()),
        Err(_) => Err("not an integer".into()),
    }
}

/// Arguments of `ward nurse`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<NurseCommand>,
    #[command(flatten)]
    agent: AgentArgs,
}

#[derive(Debug, clap::Subcommand)]
enum NurseCommand {
    /// Show which nodes a node checks and which nodes check it on the neighbour ring.
    Ring(RingArgs),
}

/// Arguments of `ward nurse ring`.
#[derive(Debug, clap::Args)]
struct RingArgs {
    /// The node to show.
    #[arg(long)]
    node: String,
    /// Neighbours per node (0: all).
    #[arg(long, default_value_t = defaults().neighbour_limit, value_parser = neighbour_limit)]
    limit: i64,
    /// File with one node name per line (default: the nodes of the cluster).
    #[arg(long)]
    nodes_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Runs the agent, or `ring`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = runtime(Threads::One)?;
    match args.command {
        Some(NurseCommand::Ring(ring_args)) => runtime.block_on(run_ring(ring_args)),
        None => {
            let config = args.agent.into_config()?;
            runtime.block_on(async {
                let client =
                    if config.toggles.need_client() {
                        Some(ward_nurse::kube_client().await.context(
                            "connecting to the Kubernetes API (KUBECONFIG or in-cluster)",
                        )?)
                    } else {
                        None
                    };
                ward_nurse::run(config, client, Lifecycle::new()).await?;
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

async fn run_ring(args: RingArgs) -> anyhow::Result<ExitCode> {
    let nodes = match &args.nodes_file {
        Some(path) => ring::node_list(
            &std::fs::read_to_string(path)
                .with_context(|| format!("--nodes-file {}", path.display()))?,
        ),
        None => {
            let client = ward_nurse::kube_client()
                .await
                .context("connecting to the Kubernetes API (or pass --nodes-file)")?;
            ward_nurse::node_names(client)
                .await
                .context("listing nodes")?
        }
    };
    let report =
        ring::report(&args.node, nodes, args.limit).map_err(|e| anyhow::anyhow!("--node {e}"))?;
    render::to_stdout(|out| render::nurse::write_ring(&report, args.output, out))?;
    Ok(ExitCode::SUCCESS)
}

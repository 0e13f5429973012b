//! `ward e2e`: continuous end-to-end tests of a live cluster. `run` runs the
//! suite once (summary table or JSON, `--junit`, exit 1 when a test failed),
//! `serve` runs it every `--interval` with `/metrics`, `sweep` deletes run
//! namespaces past their TTL. Metrics also go over OTLP when the standard
//! `OTEL_EXPORTER_OTLP_*` variables are set.

mod suite;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use suite::{KubeArgs, SuiteArgs};
use ward_agent::Lifecycle;
use ward_duration::GoDuration;
use ward_e2e::config::DEFAULT_TTL;
use ward_e2e::ServeConfig;

use crate::render::{self, Format};
use crate::runtime::{runtime, Threads};

/// Arguments of `ward e2e`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: E2eCommand,
}

/// The `--help` text on the images the suite starts and what each must provide.
const IMAGES_HELP: &str = "\
Images: each runs in the run's namespace as UID 65534 with a read-only root filesystem,
no capabilities and no service account token, pulled per --image-pull-policy.
  --image         deployment and networking tests: an HTTP server answering GET / with
                  2xx on --port, through the Service (port 80) and on each pod IP; ready
                  once --port accepts TCP; started with --image-args
  --update-image  the deployment test's rolling update: same contract, same arguments
  --shell-image   the storage test's Jobs: `sh -c` (sh on PATH) running echo, sync, cat
                  and test on the PVC mounted at /data
Without a registry (air-gapped), import the images on the nodes; for example one image
holding a static busybox, /bin/sh and /bin/httpd linked to it, and /www/index.html:
  --image=local/busybox:1 --image-args=httpd,-f,-p,8080,-h,/www
  --shell-image=local/busybox:1 --image-pull-policy=Never

A run that finds the Lease held by another runner is skipped: exit 0, one WARN line
naming the Lease and its holder, ward_e2e_runs_skipped_total{reason=\"lease_held\"}.
";

#[derive(Debug, clap::Subcommand)]
enum E2eCommand {
    /// Run the suite once in a fresh namespace; exit 1 when a test failed.
    #[command(after_long_help = IMAGES_HELP)]
    Run(RunArgs),
    /// Run the suite every --interval and serve /metrics (Prometheus).
    #[command(after_long_help = IMAGES_HELP)]
    Serve(ServeArgs),
    /// Delete ward e2e namespaces older than their TTL (leftovers of killed runs).
    Sweep(SweepArgs),
}

/// Arguments of `ward e2e run`.
#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    suite: SuiteArgs,
    /// Also write the results as JUnit XML to this file.
    #[arg(long, env = "WARD_E2E_JUNIT")]
    junit: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Arguments of `ward e2e serve`.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    suite: SuiteArgs,
    /// Time between run starts.
    #[arg(long, env = "WARD_E2E_INTERVAL", default_value_t = GoDuration(ServeConfig::default().interval))]
    interval: GoDuration,
    /// Address of /metrics.
    #[arg(long, env = "WARD_E2E_LISTEN", default_value_t = ServeConfig::default().listen)]
    listen: SocketAddr,
    /// Lameduck period after SIGTERM.
    #[arg(long, env = "WARD_E2E_SHUTDOWN_DURATION", default_value_t = GoDuration(ServeConfig::default().shutdown_duration))]
    shutdown_duration: GoDuration,
}

/// Arguments of `ward e2e sweep`.
#[derive(Debug, clap::Args)]
struct SweepArgs {
    #[command(flatten)]
    kube: KubeArgs,
    /// TTL of namespaces without a readable TTL annotation.
    #[arg(long, env = "WARD_E2E_TTL", default_value_t = GoDuration(DEFAULT_TTL))]
    default_ttl: GoDuration,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Runs `ward e2e …`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = runtime(Threads::Workers(2))?;
    match args.command {
        E2eCommand::Run(a) => runtime.block_on(run_once(a)),
        E2eCommand::Serve(a) => runtime.block_on(serve(a)),
        E2eCommand::Sweep(a) => runtime.block_on(sweep(a)),
    }
}

/// The kubeconfig first: without a usable one nothing else matters.
async fn run_once(args: RunArgs) -> anyhow::Result<ExitCode> {
    let cluster = args.suite.kube.connect().await?;
    let config = args.suite.config()?;
    let otlp = args.suite.otlp()?;
    let cancel = ward_agent::lifecycle::cancel_on_termination();
    let report = ward_e2e::run_once(&cluster, &config, otlp.as_ref(), cancel).await?;
    if let Some(path) = &args.junit {
        std::fs::write(path, report.junit())
            .with_context(|| format!("writing --junit {}", path.display()))?;
    }
    render::to_stdout(|out| render::e2e::write_run(&report, args.output, out))?;
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let cluster = args.suite.kube.connect().await?;
    let config = args.suite.config()?;
    let serve = ServeConfig {
        listen: args.listen,
        interval: args.interval.0,
        shutdown_duration: args.shutdown_duration.0,
        otlp: args.suite.otlp()?,
    };
    ward_e2e::serve(cluster, config, serve, Lifecycle::new()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let cluster = args.kube.connect().await?;
    cluster.check_reachable().await?;
    let report = ward_e2e::cluster::sweep(&cluster.client, args.default_ttl.0).await?;
    render::to_stdout(|out| render::e2e::write_sweep(&report, args.output, out))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: E2eCommand,
    }

    #[test]
    fn unknown_test_and_bad_selector_are_rejected() {
        let err = Cli::try_parse_from(["e2e", "run", "--only", "dns"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown test \"dns\""), "{err}");
        let err = Cli::try_parse_from(["e2e", "run", "--node-selector", "zone"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not key=value"), "{err}");
        let err = Cli::try_parse_from(["e2e", "serve", "--interval", "15x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid duration"), "{err}");
    }

    #[test]
    fn the_help_names_every_image_flag_and_its_env_var() {
        for sub in ["run", "serve"] {
            let mut cmd = Cli::command();
            let help = cmd
                .find_subcommand_mut(sub)
                .unwrap()
                .render_long_help()
                .to_string();
            for needle in [
                "--image <IMAGE>",
                "[env: WARD_E2E_IMAGE=]",
                "[default: registry.k8s.io/e2e-test-images/agnhost:2.53]",
                "[env: WARD_E2E_IMAGE_ARGS=]",
                "[default: netexec,--http-port=8080]",
                "[env: WARD_E2E_UPDATE_IMAGE=]",
                "[env: WARD_E2E_SHELL_IMAGE=]",
                "[default: registry.k8s.io/e2e-test-images/busybox:1.36.1-1]",
                "[env: WARD_E2E_IMAGE_PULL_POLICY=]",
                "[env: WARD_E2E_STORAGE_CLASS=]",
                "an HTTP server answering GET / with\n                  2xx on --port",
                "`sh -c` (sh on PATH) running echo, sync, cat",
                "--shell-image=local/busybox:1 --image-pull-policy=Never",
                "ward_e2e_runs_skipped_total{reason=\"lease_held\"}",
            ] {
                assert!(
                    help.contains(needle),
                    "{sub}: {needle:?} missing in:\n{help}"
                );
            }
        }
    }
}

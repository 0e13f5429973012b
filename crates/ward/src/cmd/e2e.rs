//! `ward e2e`: continuous end-to-end tests of a live cluster. `run` runs the
//! suite once (summary table or JSON, `--junit`, exit 1 when a test failed),
//! `serve` runs it every `--interval` with `/metrics`, `sweep` deletes run
//! namespaces past their TTL. Metrics also go over OTLP when the standard
//! `OTEL_EXPORTER_OTLP_*` variables are set.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio_util::sync::CancellationToken;
use ward_agent::schedule::Schedule;
use ward_agent::{Endpoint, Lifecycle};
use ward_e2e::config::{LeaseConfig, Timeouts};
use ward_e2e::metrics::OtlpConfig;
use ward_e2e::{Cluster, Config, Outcome, Recorder, Report, TestName};

use crate::cmd::runtime::{hostname, runtime, Threads};
use crate::cmd::values::go_duration;
use crate::render::{self, Format, Table};

/// Arguments of `ward e2e`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: E2eCommand,
}

#[derive(Debug, clap::Subcommand)]
enum E2eCommand {
    /// Run the suite once in a fresh namespace; exit 1 when a test failed.
    Run(RunArgs),
    /// Run the suite every --interval and serve /metrics (Prometheus).
    Serve(ServeArgs),
    /// Delete ward e2e namespaces older than their TTL (leftovers of killed runs).
    Sweep(SweepArgs),
}

/// How to reach the cluster.
#[derive(Debug, Clone, clap::Args)]
struct KubeArgs {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, env = "WARD_E2E_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current one).
    #[arg(long, env = "WARD_E2E_CONTEXT")]
    context: Option<String>,
}

fn test_name(s: &str) -> Result<TestName, String> {
    s.parse().map_err(|e: ward_e2e::Error| e.to_string())
}

fn key_values(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not key=value"))?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

fn run_id(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(s.to_string())
    } else {
        Err("must be 1-40 lowercase letters, digits or '-' (a DNS label)".into())
    }
}

/// The suite's settings.
#[derive(Debug, Clone, clap::Args)]
struct SuiteArgs {
    #[command(flatten)]
    kube: KubeArgs,
    /// Run only these tests (comma-separated: api, deployment, storage, networking, rbac).
    #[arg(long, env = "WARD_E2E_ONLY", value_delimiter = ',', value_parser = test_name)]
    only: Vec<TestName>,
    /// Skip these tests (comma-separated).
    #[arg(long, env = "WARD_E2E_SKIP", value_delimiter = ',', value_parser = test_name)]
    skip: Vec<TestName>,
    /// Suffix of the run namespace `ward-e2e-<id>` (default: random), to find a run's objects and logs.
    #[arg(long, env = "WARD_E2E_RUN_ID", value_parser = run_id)]
    run_id: Option<String>,
    /// Image of the test workload (an HTTP server on --port).
    #[arg(long, env = "WARD_E2E_IMAGE", default_value = ward_e2e::config::DEFAULT_IMAGE)]
    image: String,
    /// Arguments of the workload container (comma-separated).
    #[arg(
        long,
        env = "WARD_E2E_IMAGE_ARGS",
        default_value = "netexec,--http-port=8080",
        value_delimiter = ','
    )]
    image_args: Vec<String>,
    /// Image of the rolling update (default: --image with a new pod template).
    #[arg(long, env = "WARD_E2E_UPDATE_IMAGE")]
    update_image: Option<String>,
    /// Port the workload listens on.
    #[arg(long, env = "WARD_E2E_PORT", default_value_t = 8080)]
    port: u16,
    /// Replicas of the test Deployments.
    #[arg(long, env = "WARD_E2E_REPLICAS", default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=50))]
    replicas: i32,
    /// Node selector of the test pods (`k=v,k2=v2`).
    #[arg(long, env = "WARD_E2E_NODE_SELECTOR", default_value = "", value_parser = key_values)]
    node_selector: BTreeMap<String, String>,
    /// Image with /bin/sh for the storage Jobs.
    #[arg(long, env = "WARD_E2E_SHELL_IMAGE", default_value = ward_e2e::config::DEFAULT_SHELL_IMAGE)]
    shell_image: String,
    /// Storage class of the storage test's PVC (the test is skipped without one).
    #[arg(long, env = "WARD_E2E_STORAGE_CLASS")]
    storage_class: Option<String>,
    /// DNS server of the networking test (default: first nameserver in /etc/resolv.conf).
    #[arg(long, env = "WARD_E2E_DNS_SERVER")]
    dns_server: Option<SocketAddr>,
    /// Cluster DNS domain.
    #[arg(long, env = "WARD_E2E_CLUSTER_DOMAIN", default_value = "cluster.local")]
    cluster_domain: String,
    /// Time to live of a run's namespace (`sweep` deletes it after that).
    #[arg(long, env = "WARD_E2E_TTL", default_value = "1h", value_parser = go_duration)]
    ttl: Duration,
    /// Timeout of a single API request step.
    #[arg(long, env = "WARD_E2E_REQUEST_TIMEOUT", default_value = "10s", value_parser = go_duration)]
    request_timeout: Duration,
    /// Timeout of a rollout (create, scale, update).
    #[arg(long, env = "WARD_E2E_ROLLOUT_TIMEOUT", default_value = "2m", value_parser = go_duration)]
    rollout_timeout: Duration,
    /// Timeout of a PVC becoming Bound.
    #[arg(long, env = "WARD_E2E_BIND_TIMEOUT", default_value = "2m", value_parser = go_duration)]
    bind_timeout: Duration,
    /// Timeout of a storage Job completing.
    #[arg(long, env = "WARD_E2E_JOB_TIMEOUT", default_value = "3m", value_parser = go_duration)]
    job_timeout: Duration,
    /// Timeout of Service endpoints, DNS and HTTP checks.
    #[arg(long, env = "WARD_E2E_NETWORK_TIMEOUT", default_value = "1m", value_parser = go_duration)]
    network_timeout: Duration,
    /// Timeout of one whole test.
    #[arg(long, env = "WARD_E2E_TEST_TIMEOUT", default_value = "10m", value_parser = go_duration)]
    test_timeout: Duration,
    /// Timeout of deleting the run's namespace.
    #[arg(long, env = "WARD_E2E_CLEANUP_TIMEOUT", default_value = "2m", value_parser = go_duration)]
    cleanup_timeout: Duration,
    /// Namespace of the Lease against overlapping runs (default: the pod's namespace).
    #[arg(long, env = "WARD_E2E_LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(long, env = "WARD_E2E_LEASE_NAME", default_value = "ward-e2e")]
    lease_name: String,
    /// Run without a Lease.
    #[arg(long, env = "WARD_E2E_NO_LEASE")]
    no_lease: bool,
    /// This runner's identity in the Lease (default: the pod or host name).
    #[arg(long, env = "POD_NAME")]
    holder: Option<String>,
    /// OTLP base endpoint (`/v1/metrics` is appended).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// OTLP metrics endpoint, used as is.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")]
    otlp_metrics_endpoint: Option<String>,
    /// OTLP protocol (only http/protobuf).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL")]
    otlp_protocol: Option<String>,
    /// OTLP headers, `k=v,k2=v2`.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_HEADERS", hide_env_values = true)]
    otlp_headers: Option<String>,
    /// `service.name` of the exported metrics.
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    otlp_service_name: Option<String>,
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
    #[arg(long, env = "WARD_E2E_INTERVAL", default_value = "15m", value_parser = go_duration)]
    interval: Duration,
    /// Address of /metrics.
    #[arg(long, env = "WARD_E2E_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Lameduck period after SIGTERM.
    #[arg(long, env = "WARD_E2E_SHUTDOWN_DURATION", default_value = "5s", value_parser = go_duration)]
    shutdown_duration: Duration,
}

/// Arguments of `ward e2e sweep`.
#[derive(Debug, clap::Args)]
struct SweepArgs {
    #[command(flatten)]
    kube: KubeArgs,
    /// TTL of namespaces without a readable TTL annotation.
    #[arg(long, env = "WARD_E2E_TTL", default_value = "1h", value_parser = go_duration)]
    default_ttl: Duration,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    output: Format,
}

const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

impl SuiteArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let tests = ward_e2e::config::select(&self.only, &self.skip);
        if tests.is_empty() {
            bail!("--only/--skip leave no test to run");
        }
        let lease_namespace = self.lease_namespace.clone().or_else(|| {
            std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        });
        let lease = match (self.no_lease, lease_namespace) {
            (true, _) => None,
            (false, Some(namespace)) => Some(LeaseConfig {
                namespace,
                name: self.lease_name.clone(),
                holder: self.holder.clone().filter(|h| !h.is_empty()).or_else(hostname).unwrap_or_else(|| "ward-e2e".into()),
                duration: Duration::from_secs(60),
            }),
            (false, None) => bail!(
                "no namespace for the Lease: pass --lease-namespace (or --no-lease outside a cluster)"
            ),
        };
        Ok(Config {
            tests,
            run_id: self.run_id.clone(),
            ttl: self.ttl,
            lease,
            image: self.image.clone(),
            image_args: self.image_args.clone(),
            update_image: self.update_image.clone(),
            port: self.port,
            replicas: self.replicas,
            node_selector: self.node_selector.clone(),
            shell_image: self.shell_image.clone(),
            storage_class: self.storage_class.clone().filter(|s| !s.is_empty()),
            dns_server: self.dns_server,
            cluster_domain: self.cluster_domain.clone(),
            timeouts: Timeouts {
                request: self.request_timeout,
                rollout: self.rollout_timeout,
                bind: self.bind_timeout,
                job: self.job_timeout,
                delete: self.rollout_timeout,
                network: self.network_timeout,
                test: self.test_timeout,
                cleanup: self.cleanup_timeout,
            },
            reach: None,
        })
    }

    fn otlp(&self) -> anyhow::Result<Option<OtlpConfig>> {
        Ok(OtlpConfig::from_values(
            self.otlp_metrics_endpoint.as_deref(),
            self.otlp_endpoint.as_deref(),
            self.otlp_protocol.as_deref(),
            self.otlp_headers.as_deref(),
            self.otlp_service_name.as_deref(),
        )?)
    }
}

/// Runs `ward e2e …`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = runtime(Threads::Workers(2))?;
    match args.command {
        E2eCommand::Run(a) => runtime.block_on(run_once(a)),
        E2eCommand::Serve(a) => runtime.block_on(serve(a)),
        E2eCommand::Sweep(a) => runtime.block_on(sweep(a)),
    }
}

async fn connect(kube: &KubeArgs) -> anyhow::Result<Cluster> {
    Ok(Cluster::connect(kube.kubeconfig.as_deref(), kube.context.as_deref()).await?)
}

async fn run_once(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = args.suite.config()?;
    let otlp = args.suite.otlp()?;
    let cluster = connect(&args.suite.kube).await?;
    let recorder = match &otlp {
        Some(o) => Recorder::none().with_otlp(o)?,
        None => Recorder::none(),
    };
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let signals = tokio::spawn(async move {
        ward_agent::lifecycle::termination_signal().await;
        tracing::warn!("termination signal: stopping the run and cleaning up");
        on_signal.cancel();
    });
    let result = ward_e2e::run(&cluster, &config, &recorder, cancel).await;
    signals.abort();
    let flush = {
        let recorder = recorder.clone();
        tokio::task::spawn_blocking(move || recorder.shutdown())
    };
    let report = result?;
    if let Ok(Err(e)) = flush.await {
        tracing::warn!(error = %e, "exporting metrics over OTLP failed");
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report.junit())
            .with_context(|| format!("writing --junit {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    match args.output {
        Format::Json => render::json(&report, &mut out)?,
        Format::Text => write_report(&report, &mut out)?,
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        render::millis(d)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// The human summary: one row per step, one per test, then cleanup and totals.
fn write_report(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    let mut table = Table::new(["TEST", "STEP", "RESULT", "TIME", "DETAIL"]);
    for test in &report.tests {
        for step in &test.steps {
            table.row([
                test.name.clone(),
                step.name.clone(),
                step.outcome.as_str().to_string(),
                secs(step.duration),
                step.error.clone().unwrap_or_default(),
            ]);
        }
        let detail = match (test.outcome, test.failed_step()) {
            (Outcome::Failed, Some(step)) => format!("failed at step {}", step.name),
            _ => test.reason.clone().unwrap_or_default(),
        };
        table.row([
            test.name.clone(),
            "(test)".to_string(),
            test.outcome.as_str().to_string(),
            secs(test.duration),
            detail,
        ]);
    }
    table.row([
        "cleanup".to_string(),
        report.cleanup.name.clone(),
        report.cleanup.outcome.as_str().to_string(),
        secs(report.cleanup.duration),
        report.cleanup.error.clone().unwrap_or_default(),
    ]);
    table.write(out)?;
    let count = |o| report.tests.iter().filter(|t| t.outcome == o).count();
    writeln!(
        out,
        "\nnamespace {}: {} passed, {} failed, {} skipped in {}{}",
        report.namespace,
        count(Outcome::Passed),
        count(Outcome::Failed),
        count(Outcome::Skipped),
        secs(report.duration),
        if report.cancelled { " (cancelled)" } else { "" }
    )
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Arc::new(args.suite.config()?);
    let otlp = args.suite.otlp()?;
    let cluster = connect(&args.suite.kube).await?;
    let registry = Arc::new(ward_e2e::metrics::registry());
    let mut recorder = Recorder::none().with_registry(registry.clone());
    if let Some(o) = &otlp {
        let mut o = o.clone();
        o.interval = Duration::from_secs(30);
        recorder = recorder.with_otlp(&o)?;
    }
    let endpoint = Endpoint::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let lifecycle = Lifecycle::new();
    let stop = lifecycle.stopping();
    // Held by the run in flight: at shutdown a run cut short is still cleaning up.
    let running = Arc::new(tokio::sync::Mutex::new(()));
    let rounds = {
        let lifecycle = lifecycle.clone();
        let running = running.clone();
        let recorder = recorder.clone();
        let schedule = Schedule {
            interval: args.interval,
            jitter: 0.0,
            // Runs bound themselves (step, test and cleanup timeouts); this only catches hangs.
            round_timeout: args.interval.max(Duration::from_secs(3600)),
        };
        async move {
            ward_agent::every(schedule, stop.clone(), move |n, _| {
                let (cluster, config, recorder) =
                    (cluster.clone(), config.clone(), recorder.clone());
                let lifecycle = lifecycle.clone();
                let cancel = stop.child_token();
                let guard = running.clone().try_lock_owned().ok();
                let (done, finished) = tokio::sync::oneshot::channel::<()>();
                // The run is its own task so that a shutdown still lets it clean up.
                tokio::spawn(async move {
                    let _guard = guard;
                    match ward_e2e::run(&cluster, &config, &recorder, cancel).await {
                        Ok(report) => {
                            let failed: Vec<&str> = report
                                .tests
                                .iter()
                                .filter(|t| t.outcome == Outcome::Failed)
                                .map(|t| t.name.as_str())
                                .collect();
                            tracing::info!(round = n, namespace = %report.namespace, ?failed,
                                duration = ?report.duration, "e2e run finished");
                        }
                        Err(e) => tracing::error!(round = n, error = %e, "e2e run could not start"),
                    }
                    lifecycle.round_completed();
                    let _ = done.send(());
                });
                async move {
                    let _ = finished.await;
                }
            })
            .await;
        }
    };
    let router = ward_agent::metrics_router(registry);
    ward_agent::lifecycle::run(
        lifecycle,
        vec![endpoint],
        router,
        rounds,
        args.shutdown_duration,
    )
    .await;
    // A run cut by shutdown is cleaning up its namespace: wait for it (bounded).
    let bound = args.suite.cleanup_timeout + Duration::from_secs(10);
    let _ = tokio::time::timeout(bound, running.lock()).await;
    let _ = tokio::task::spawn_blocking(move || recorder.shutdown()).await;
    Ok(ExitCode::SUCCESS)
}

async fn sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let cluster = connect(&args.kube).await?;
    cluster.check_reachable().await?;
    let report = ward_e2e::cluster::sweep(&cluster.client, args.default_ttl).await?;
    let mut out = std::io::stdout().lock();
    match args.output {
        Format::Json => render::json(&report, &mut out)?,
        Format::Text => {
            let mut table = Table::new(["NAMESPACE", "AGE", "TTL", "ACTION"]);
            for ns in &report.namespaces {
                table.row([
                    ns.name.clone(),
                    format!("{}s", ns.age_seconds),
                    format!("{}s", ns.ttl_seconds),
                    if ns.deleted { "deleted" } else { "kept" }.to_string(),
                ]);
            }
            table.write(&mut out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: E2eCommand,
    }

    #[test]
    fn defaults_and_selection() {
        let cli = Cli::try_parse_from(["e2e", "run", "--only", "rbac,api", "--no-lease"]).unwrap();
        let E2eCommand::Run(run) = cli.command else {
            panic!("run expected")
        };
        let config = run.suite.config().unwrap();
        assert_eq!(config.tests, vec![TestName::Api, TestName::Rbac]);
        assert_eq!(config.ttl, Duration::from_secs(3600));
        assert_eq!(config.timeouts.rollout, Duration::from_secs(120));
        assert!(config.lease.is_none());
        assert_eq!(config.image_args, vec!["netexec", "--http-port=8080"]);
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
    fn skip_everything_is_an_error() {
        let cli = Cli::try_parse_from([
            "e2e",
            "run",
            "--no-lease",
            "--skip",
            "api,deployment,storage,networking,rbac",
        ])
        .unwrap();
        let E2eCommand::Run(run) = cli.command else {
            panic!("run expected")
        };
        assert!(run
            .suite
            .config()
            .unwrap_err()
            .to_string()
            .contains("no test"));
    }
}

//! `ward slo controller`: sloth's controller mode (`sloth
//! kubernetes-controller`, same flags), run by `ward-slo-controller`, with
//! leader election on a Lease so two replicas are safe and `/metrics` on
//! `--metrics-listen-addr`. Exit code 0 after SIGTERM/SIGINT, 1 when a CRD it
//! needs is missing or the cluster cannot be reached, 2 for usage.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ward_agent::lifecycle::{self, Endpoint};
use ward_agent::metrics::HistogramKind;
use ward_agent::Registry;
use ward_duration::GoDuration;
use ward_lease::LeaseConfig;
use ward_slo_controller::Settings;

use super::GeneratorFlags;
use crate::runtime::{runtime, Threads};

/// Arguments of `ward slo controller`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Only PrometheusServiceLevels in this namespace (default: all namespaces).
    #[arg(long = "namespace", env = "SLOTH_NAMESPACE")]
    pub(crate) namespace: Option<String>,
    /// Only PrometheusServiceLevels matching this label selector (default: all of them).
    #[arg(long = "label-selector", env = "SLOTH_LABEL_SELECTOR")]
    pub(crate) label_selector: Option<String>,
    /// How often every PrometheusServiceLevel is generated again, though nothing changed.
    #[arg(long = "resync-interval", env = "SLOTH_RESYNC_INTERVAL", default_value = "15m", value_parser = crate::cmd::positive_go_duration)]
    pub(crate) resync_interval: GoDuration,
    /// How many PrometheusServiceLevels are reconciled at once.
    #[arg(long = "workers", env = "SLOTH_WORKERS", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) workers: u16,
    /// Where `/metrics` and `/healthz` are served (Go-style `[host]:port`).
    #[arg(
        long = "metrics-listen-addr",
        env = "SLOTH_METRICS_LISTEN_ADDR",
        default_value = ":8081"
    )]
    pub(crate) metrics_listen_addr: String,
    /// Reconcile only while holding the Lease (`false`: always; run one replica then).
    #[arg(long = "leader-elect", env = "WARD_SLO_LEADER_ELECT", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true")]
    pub(crate) leader_elect: bool,
    /// The Lease's name.
    #[arg(
        long = "lease-name",
        env = "WARD_SLO_LEASE_NAME",
        default_value = "ward-slo-controller"
    )]
    pub(crate) lease_name: String,
    /// The Lease's namespace (default: the pod's own).
    #[arg(long = "lease-namespace", env = "WARD_SLO_LEASE_NAMESPACE")]
    pub(crate) lease_namespace: Option<String>,
    /// How long the Lease stays valid without renewal: how long a dead leader blocks the next.
    #[arg(long = "lease-duration", env = "WARD_SLO_LEASE_DURATION", default_value = "15s", value_parser = crate::cmd::positive_go_duration)]
    pub(crate) lease_duration: GoDuration,
    #[command(flatten)]
    pub(crate) generator: GeneratorFlags,
}

/// Runs the controller until SIGTERM/SIGINT.
pub(crate) fn run(a: Args) -> anyhow::Result<ExitCode> {
    let generator = a.generator.settings().generator("ctrl")?;
    let lease = match a.leader_elect {
        false => None,
        true => Some(
            LeaseConfig::new(
                &a.lease_name,
                a.lease_namespace.clone(),
                None,
                "ward-slo-controller",
                Duration::from(a.lease_duration),
            )
            .context("no namespace for the Lease: pass --lease-namespace (or --leader-elect=false outside a cluster)")?,
        ),
    };
    let settings = Settings {
        namespace: a.namespace,
        label_selector: a.label_selector,
        resync: Duration::from(a.resync_interval),
        workers: a.workers,
        generator,
        lease,
    };
    runtime(Threads::One)?.block_on(async move {
        let endpoint = Endpoint::bind_go(&a.metrics_listen_addr)
            .await
            .map_err(|e| anyhow::anyhow!("--metrics-listen-addr {}: {e}", a.metrics_listen_addr))?;
        let registry = Arc::new(Registry::new(HistogramKind::default(), true));
        let stop = lifecycle::cancel_on_termination();
        let router = ward_slo_controller::router(registry.clone());
        let server = tokio::spawn(lifecycle::serve(endpoint, router, stop.clone()));
        let outcome = ward_slo_controller::run(settings, registry, stop.clone()).await;
        stop.cancel();
        let _ = server.await;
        Ok(match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ward: {e}");
                ExitCode::from(1)
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::try_parse;

    #[test]
    fn sloths_controller_flags_parse() {
        let a: Args = try_parse(
            "slo controller",
            &[
                "--namespace=shop",
                "--resync-interval=1m",
                "--workers=2",
                "-l",
                "team=a",
                "--default-slo-period=28d",
            ],
        )
        .unwrap();
        assert_eq!(
            (
                a.namespace.as_deref(),
                Duration::from(a.resync_interval),
                a.workers,
                a.leader_elect
            ),
            (Some("shop"), Duration::from_secs(60), 2, true)
        );
        assert_eq!(a.generator.extra_labels, ["team=a"]);
        assert!(try_parse::<Args>("slo controller", &["--workers=0"]).is_err());
    }
}

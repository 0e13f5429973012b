//! `ward e2e serve`: the suite as a long-running agent on `ward_agent`,
//! shaped like the nurse's and lookup's: a run every interval, `/metrics`
//! (and OTLP when configured), lameduck shutdown on SIGTERM. Each run is a
//! task of its own, so a shutdown cuts it short but still lets it delete its
//! namespace (waited for, bounded by the cleanup timeout).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ward_agent::schedule::Schedule;
use ward_agent::{Endpoint, Lifecycle};

use crate::cluster::Cluster;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::{self, OtlpConfig, Recorder};
use crate::report::Outcome;

/// How often OTLP metrics are pushed while serving.
pub const OTLP_INTERVAL: Duration = Duration::from_secs(30);

/// Runs are bounded by their step, test and cleanup timeouts; the round
/// deadline only catches a hang, and is never below this.
const MIN_ROUND_TIMEOUT: Duration = Duration::from_secs(3600);

/// The agent's own settings (the suite's are a [`Config`]).
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address of `/metrics`.
    pub listen: SocketAddr,
    /// Time between run starts.
    pub interval: Duration,
    /// Lameduck period after SIGTERM.
    pub shutdown_duration: Duration,
    /// OTLP export, pushed every [`OTLP_INTERVAL`].
    pub otlp: Option<OtlpConfig>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            interval: Duration::from_secs(15 * 60),
            shutdown_duration: Duration::from_secs(5),
            otlp: None,
        }
    }
}

/// Runs the suite every `serve.interval` until SIGTERM/SIGINT (then
/// lameduck) or [`Lifecycle::request_shutdown`].
pub async fn serve(
    cluster: Cluster,
    config: Config,
    serve: ServeConfig,
    lifecycle: Arc<Lifecycle>,
) -> Result<()> {
    let registry = Arc::new(metrics::registry());
    let mut recorder = Recorder::none().with_registry(registry.clone());
    if let Some(otlp) = &serve.otlp {
        let otlp = OtlpConfig {
            interval: OTLP_INTERVAL,
            ..otlp.clone()
        };
        recorder = recorder.with_otlp(&otlp)?;
    }
    let endpoint = Endpoint::bind(serve.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: serve.listen,
            source,
        })?;
    let cleanup = config.timeouts.cleanup;
    // Held by the run in flight: at shutdown a run cut short is still cleaning up.
    let running = Arc::new(tokio::sync::Mutex::new(()));
    let schedule = Schedule {
        interval: serve.interval,
        jitter: 0.0,
        round_timeout: serve.interval.max(MIN_ROUND_TIMEOUT),
    };
    let rounds = rounds(
        schedule,
        Arc::new(cluster),
        Arc::new(config),
        recorder.clone(),
        lifecycle.clone(),
        running.clone(),
    );
    let router = ward_agent::metrics_router(registry);
    ward_agent::lifecycle::run(
        lifecycle,
        vec![endpoint],
        router,
        rounds,
        serve.shutdown_duration,
    )
    .await;
    // A run cut by shutdown is cleaning up its namespace: wait for it (bounded).
    let _ = tokio::time::timeout(cleanup + Duration::from_secs(10), running.lock()).await;
    let _ = tokio::task::spawn_blocking(move || recorder.shutdown()).await;
    Ok(())
}

/// A run every interval, each in its own task holding `running`, until the
/// lifecycle stops.
async fn rounds(
    schedule: Schedule,
    cluster: Arc<Cluster>,
    config: Arc<Config>,
    recorder: Recorder,
    lifecycle: Arc<Lifecycle>,
    running: Arc<tokio::sync::Mutex<()>>,
) {
    let stop = lifecycle.stopping();
    ward_agent::every(schedule, stop.clone(), move |n, _| {
        let (cluster, config, recorder) = (cluster.clone(), config.clone(), recorder.clone());
        let lifecycle = lifecycle.clone();
        let cancel = stop.child_token();
        let guard = running.clone().try_lock_owned().ok();
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _guard = guard;
            match crate::run(&cluster, &config, &recorder, cancel).await {
                // Logged (WARN) and counted by the run itself.
                Ok(report) if report.skipped.is_some() => {}
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

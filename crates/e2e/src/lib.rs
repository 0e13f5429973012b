//! `ward e2e`: continuous end-to-end tests of a live cluster, with metrics for
//! every step.
//!
//! Entry point: [`run`] runs the selected tests once in a fresh namespace
//! `ward-e2e-<id>` (labelled as ward's, with a TTL annotation) and always
//! deletes it again (success, failure, timeout, cancellation). A Lease keeps
//! runs from overlapping: a run that finds it held by another runner is
//! skipped (a passed report with [`Report::skipped`] set, counted in
//! `ward_e2e_runs_skipped_total`); [`cluster::sweep`] deletes namespaces left by killed
//! runs. Results come back as a [`Report`] (rendered by the binary, or written
//! as JUnit XML) and are recorded through a [`Recorder`] (`/metrics`, OTLP).
//! Nothing here prints.
//!
//! [`serve`] runs the suite every interval as an agent (`/metrics`, lameduck),
//! [`run_once`] once with OTLP export.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ward_e2e::Error> {
//! use ward_e2e::{cluster::Cluster, Config, Recorder};
//! let cluster = Cluster::connect(None, None).await?;
//! let cancel = tokio_util::sync::CancellationToken::new();
//! let report = ward_e2e::run(&cluster, &Config::default(), &Recorder::none(), cancel).await?;
//! assert!(report.passed());
//! # Ok(()) }
//! ```
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]
// removed when the binary-shape branch lands (its e2e changes fix these)

pub mod cluster;
pub mod config;
pub mod error;
pub mod metrics;
pub mod report;
pub mod serve;
pub mod steps;
mod suite;

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use cluster::Cluster;
pub use config::{Config, TestName};
pub use error::{Error, Result};
pub use metrics::{OtlpConfig, Recorder};
pub use report::{FailureReason, Outcome, Report, Skip, SkipReason, StepReport, TestReport};
pub use serve::{serve, ServeConfig};
pub use steps::Steps;

/// Runs the suite once as `ward e2e run` does: [`run`], with the metrics
/// pushed over OTLP when `otlp` is set (flushed before returning; a failed
/// export is logged, the report stands).
pub async fn run_once(
    cluster: &Cluster,
    config: &Config,
    otlp: Option<&OtlpConfig>,
    cancel: CancellationToken,
) -> Result<Report> {
    let recorder = match otlp {
        Some(o) => Recorder::none().with_otlp(o)?,
        None => Recorder::none(),
    };
    let report = run(cluster, config, &recorder, cancel).await;
    let flushed = tokio::task::spawn_blocking(move || recorder.shutdown()).await;
    if let Ok(Err(e)) = flushed {
        tracing::warn!(error = %e, "exporting metrics over OTLP failed");
    }
    report
}

/// Runs the selected tests once. Setup problems (API server unreachable,
/// credentials rejected, missing permissions) are errors and leave nothing
/// behind, recorded as every selected test failing its
/// [`metrics::PREFLIGHT_STEP`]; test failures are in the report. A Lease held by another runner is
/// no error: the run is skipped (logged, counted, [`Report::skipped`]).
pub async fn run(
    cluster: &Cluster,
    config: &Config,
    recorder: &Recorder,
    cancel: CancellationToken,
) -> Result<Report> {
    let started_at = metrics::unix_now();
    let start = Instant::now();
    let run_id = config.run_id.clone().unwrap_or_else(cluster::random_id);
    let ns = format!("{}{run_id}", cluster::NAMESPACE_PREFIX);
    let lease = match preflight(cluster, config, &ns).await {
        Ok(Start::Go(lease)) => lease,
        Ok(Start::Skipped(skip)) => {
            tracing::warn!(reason = skip.reason.as_str(), "{}", skip.message);
            recorder.run_skipped(skip.reason);
            return Ok(skipped_run(config, ns, started_at, start, skip));
        }
        Err(e) => {
            recorder.preflight_failed(&config.tests, start.elapsed(), e.reason(None));
            return Err(e);
        }
    };
    recorder.setup_passed(start.elapsed());
    tracing::info!(namespace = %ns, tests = ?config.tests, "e2e run started");

    let mut tests = Vec::new();
    let mut cancelled = false;
    for &test in &config.tests {
        if cancelled || cancel.is_cancelled() {
            cancelled = true;
            let skip = Skip::new(SkipReason::Cancelled, "run cancelled");
            recorder.test_skipped(test.as_str(), skip.reason);
            tests.push(skipped(test, skip));
            continue;
        }
        let report = run_one(test, cluster, &ns, config, recorder, &cancel).await;
        cancelled = cancel.is_cancelled();
        tests.push(report);
    }

    // Cleanup always runs, with its own deadline, whatever happened above.
    let cleanup_steps = Steps::new("cleanup", recorder.clone());
    let _ = cleanup_steps
        .run(
            "delete-namespace",
            config.timeouts.cleanup,
            cluster::delete_namespace(&cluster.client, &ns, &cleanup_steps),
        )
        .await;
    let cleanup = cleanup_steps.reports().pop().unwrap_or_else(|| StepReport {
        name: "delete-namespace".into(),
        outcome: Outcome::Failed,
        duration: Duration::ZERO,
        error: Some("not run".into()),
        failure_reason: Some(FailureReason::Other),
        detail: None,
    });
    if let Some(lease) = lease {
        if let Err(e) = lease.release().await {
            tracing::warn!(error = %e, "releasing the lease failed");
        }
    }
    Ok(Report {
        namespace: ns,
        started_at,
        duration: start.elapsed(),
        tests,
        cleanup,
        cancelled,
        skipped: None,
    })
}

/// How a run starts after its [`preflight`].
enum Start {
    /// Tests may run, with the Lease held (`None`: run without one).
    Go(Option<Box<cluster::LeaseGuard>>),
    /// Another runner holds the Lease.
    Skipped(Skip),
}

/// Everything before the first test: the API server answers, every
/// permission is granted, the Lease is ours and the run's namespace exists.
/// An error leaves nothing behind.
async fn preflight(cluster: &Cluster, config: &Config, ns: &str) -> Result<Start> {
    cluster.check_reachable().await?;
    let needs = cluster::permissions(
        &config.tests,
        ns,
        config.lease.as_ref(),
        config.storage_class.is_some(),
    );
    let missing = cluster.missing_permissions(&needs).await?;
    if !missing.is_empty() {
        return Err(Error::Permissions(
            missing.iter().map(|p| format!("cannot {p}")).collect(),
        ));
    }
    let lease = match &config.lease {
        Some(l) => match cluster::acquire_lease(&cluster.client, l).await {
            Ok(guard) => Some(Box::new(guard)),
            Err(busy @ Error::Busy { .. }) => {
                let message = format!("run skipped: {busy}");
                return Ok(Start::Skipped(Skip::new(SkipReason::LeaseHeld, message)));
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    if let Err(e) = cluster::create_namespace(&cluster.client, ns, config.ttl).await {
        if let Some(lease) = lease {
            let _ = lease.release().await;
        }
        return Err(e);
    }
    Ok(Start::Go(lease))
}

fn skipped(test: TestName, skip: Skip) -> TestReport {
    TestReport {
        name: test.to_string(),
        outcome: Outcome::Skipped,
        duration: Duration::ZERO,
        reason: Some(skip.message),
        skip_reason: Some(skip.reason),
        failure_reason: None,
        steps: Vec::new(),
    }
}

/// The report of a run skipped before it created anything: every test skipped
/// for the same reason, nothing to clean up.
fn skipped_run(config: &Config, ns: String, started_at: f64, start: Instant, skip: Skip) -> Report {
    Report {
        namespace: ns,
        started_at,
        duration: start.elapsed(),
        tests: config
            .tests
            .iter()
            .map(|&t| skipped(t, skip.clone()))
            .collect(),
        cleanup: StepReport {
            name: "delete-namespace".into(),
            outcome: Outcome::Skipped,
            duration: Duration::ZERO,
            error: Some("no namespace was created".into()),
            failure_reason: None,
            detail: None,
        },
        cancelled: false,
        skipped: Some(skip),
    }
}

/// Runs one test under its timeout and the cancellation token.
async fn run_one(
    test: TestName,
    cluster: &Cluster,
    ns: &str,
    config: &Config,
    recorder: &Recorder,
    cancel: &CancellationToken,
) -> TestReport {
    let steps = Steps::new(test.as_str(), recorder.clone());
    let ctx = suite::Ctx {
        cluster,
        ns,
        config,
        steps: &steps,
    };
    let start = Instant::now();
    let timeout = config.timeouts.test;
    let result = tokio::select! {
        r = tokio::time::timeout(timeout, suite::run(test, &ctx)) => match r {
            Ok(r) => r,
            Err(_) => {
                let e = Error::TestTimeout(timeout);
                steps.abort(&e);
                Err(e)
            }
        },
        _ = cancel.cancelled() => {
            tracing::warn!(test = test.as_str(), "termination signal: stopping the run and cleaning up");
            steps.abort(&Error::Cancelled);
            Err(Error::Cancelled)
        }
    };
    let duration = start.elapsed();
    // A test fails for the reason of its failed step (the step knows what it waited for).
    let step_reason = || steps.reports().iter().rev().find_map(|s| s.failure_reason);
    let (outcome, reason, skip_reason, failure_reason) = match result {
        Ok(None) => (Outcome::Passed, None, None, None),
        Ok(Some(skip)) => {
            tracing::warn!(
                test = test.as_str(),
                reason = skip.reason.as_str(),
                "test skipped: {}",
                skip.message
            );
            recorder.test_skipped(test.as_str(), skip.reason);
            (
                Outcome::Skipped,
                Some(skip.message),
                Some(skip.reason),
                None,
            )
        }
        Err(e) => {
            let why = step_reason().unwrap_or_else(|| e.reason(None));
            (Outcome::Failed, Some(e.to_string()), None, Some(why))
        }
    };
    if outcome != Outcome::Skipped {
        recorder.record(test.as_str(), None, duration, failure_reason);
    }
    TestReport {
        name: test.to_string(),
        outcome,
        duration,
        reason,
        skip_reason,
        failure_reason,
        steps: steps.reports(),
    }
}

//! `ward e2e`: continuous end-to-end tests of a live cluster, with metrics for
//! every step.
//!
//! Entry point: [`run`] runs the selected tests once in a fresh namespace
//! `ward-e2e-<id>` (labelled as ward's, with a TTL annotation) and always
//! deletes it again (success, failure, timeout, cancellation). A Lease keeps
//! runs from overlapping; [`cluster::sweep`] deletes namespaces left by killed
//! runs. Results come back as a [`Report`] (rendered by the binary, or written
//! as JUnit XML) and are recorded through a [`Recorder`] (`/metrics`, OTLP).
//! Nothing here prints.
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
#![deny(missing_docs)]

pub mod cluster;
pub mod config;
pub mod error;
pub mod metrics;
pub mod report;
pub mod steps;
mod suite;

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use cluster::Cluster;
pub use config::{Config, TestName};
pub use error::{Error, Result};
pub use metrics::Recorder;
pub use report::{Outcome, Report, StepReport, TestReport};
pub use steps::Steps;

/// Runs the selected tests once. Setup problems (API server unreachable,
/// credentials rejected, missing permissions, Lease held) are errors and leave
/// nothing behind; test failures are in the report.
pub async fn run(
    cluster: &Cluster,
    config: &Config,
    recorder: &Recorder,
    cancel: CancellationToken,
) -> Result<Report> {
    let started_at = metrics::unix_now();
    let start = Instant::now();
    cluster.check_reachable().await?;
    let run_id = config.run_id.clone().unwrap_or_else(cluster::random_id);
    let ns = format!("{}{run_id}", cluster::NAMESPACE_PREFIX);
    let needs = cluster::permissions(
        &config.tests,
        &ns,
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
        Some(l) => Some(cluster::acquire_lease(&cluster.client, l).await?),
        None => None,
    };
    if let Err(e) = cluster::create_namespace(&cluster.client, &ns, config.ttl).await {
        if let Some(lease) = lease {
            let _ = lease.release().await;
        }
        return Err(e);
    }
    tracing::info!(namespace = %ns, tests = ?config.tests, "e2e run started");

    let mut tests = Vec::new();
    let mut cancelled = false;
    for &test in &config.tests {
        if cancelled || cancel.is_cancelled() {
            cancelled = true;
            tests.push(skipped(test, "run cancelled"));
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
    })
}

fn skipped(test: TestName, reason: &str) -> TestReport {
    TestReport {
        name: test.to_string(),
        outcome: Outcome::Skipped,
        duration: Duration::ZERO,
        reason: Some(reason.to_string()),
        steps: Vec::new(),
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
                let reason = format!("test timeout ({timeout:?})");
                steps.abort(&reason);
                Err(Error::Check(reason))
            }
        },
        _ = cancel.cancelled() => {
            steps.abort("cancelled (termination signal)");
            Err(Error::Cancelled)
        }
    };
    let duration = start.elapsed();
    let (outcome, reason) = match result {
        Ok(None) => (Outcome::Passed, None),
        Ok(Some(why)) => (Outcome::Skipped, Some(why)),
        Err(e) => (Outcome::Failed, Some(e.to_string())),
    };
    if outcome != Outcome::Skipped {
        recorder.record(test.as_str(), None, duration, outcome == Outcome::Passed);
    }
    TestReport {
        name: test.to_string(),
        outcome,
        duration,
        reason,
        steps: steps.reports(),
    }
}

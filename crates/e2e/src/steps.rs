//! Named, timed steps of one test: each step runs under its own timeout, is
//! recorded (outcome, duration, error) and counted in the metrics. A test-level
//! timeout or cancellation can close the step in flight from outside.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::metrics::Recorder;
use crate::report::{FailureReason, Outcome, StepReport};

#[derive(Debug, Default)]
struct State {
    done: Vec<StepReport>,
    current: Option<(String, Instant)>,
    note: String,
    detail: Option<String>,
}

/// The step log of one test (cheap to clone; clones share the log).
#[derive(Debug, Clone)]
pub struct Steps {
    test: &'static str,
    state: Arc<Mutex<State>>,
    recorder: Recorder,
}

/// The state of a condition being waited for.
pub(crate) enum Waiting<T> {
    /// Reached, with its value.
    Done(T),
    /// Not yet; what was observed.
    Pending(String),
}

/// How often waits re-check their condition (bounded by the step timeout).
pub(crate) const POLL: Duration = Duration::from_millis(250);

impl Steps {
    /// A new, empty log for `test`.
    pub fn new(test: &'static str, recorder: Recorder) -> Self {
        Self {
            test,
            state: Arc::default(),
            recorder,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs step `name` under `timeout`, recording it; returns the step's result.
    pub async fn run<T, F>(&self, name: &str, timeout: Duration, step: F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let start = Instant::now();
        {
            let mut s = self.lock();
            s.current = Some((name.to_string(), start));
            s.note.clear();
            s.detail = None;
        }
        tracing::debug!(test = self.test, step = name, "step started");
        let result = match tokio::time::timeout(timeout, step).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                timeout,
                last: self.lock().note.clone(),
            }),
        };
        let failure = result
            .as_ref()
            .err()
            .map(|e| (e.to_string(), e.reason(Some(name))));
        self.finish(name, start.elapsed(), failure);
        result
    }

    fn finish(&self, name: &str, duration: Duration, failure: Option<(String, FailureReason)>) {
        match &failure {
            None => tracing::info!(test = self.test, step = name, ?duration, "step passed"),
            Some((e, reason)) => {
                tracing::warn!(test = self.test, step = name, ?duration, reason = reason.as_str(), error = %e, "step failed")
            }
        }
        let reason = failure.as_ref().map(|(_, r)| *r);
        self.recorder
            .record(self.test, Some(name), duration, reason);
        let ok = failure.is_none();
        let error = failure.map(|(e, _)| e);
        let mut s = self.lock();
        s.current = None;
        let detail = s.detail.take();
        s.done.push(StepReport {
            name: name.to_string(),
            outcome: if ok { Outcome::Passed } else { Outcome::Failed },
            duration,
            error,
            failure_reason: reason,
            detail,
        });
    }

    /// Records what a wait in the current step last observed (shown on timeout).
    pub fn note(&self, observed: impl Into<String>) {
        self.lock().note = observed.into();
    }

    /// Records what the current step found, kept in its report.
    pub fn detail(&self, found: impl Into<String>) {
        self.lock().detail = Some(found.into());
    }

    /// Closes the step in flight as failed with `error` (test timeout,
    /// cancellation), classified as it would be in that step.
    pub fn abort(&self, error: &Error) {
        let current = self.lock().current.take();
        if let Some((name, start)) = current {
            let note = self.lock().note.clone();
            let text = if note.is_empty() {
                error.to_string()
            } else {
                format!("{error}; last seen: {note}")
            };
            // What the wait last saw classifies it, as a step timeout would be.
            let reason = match error {
                Error::TestTimeout(timeout) => Error::Timeout {
                    timeout: *timeout,
                    last: note,
                }
                .reason(Some(&name)),
                other => other.reason(Some(&name)),
            };
            self.finish(&name, start.elapsed(), Some((text, reason)));
        }
    }

    /// Records a step that was not run.
    pub fn skip(&self, name: &str, reason: &str) {
        self.lock().done.push(StepReport {
            name: name.to_string(),
            outcome: Outcome::Skipped,
            duration: Duration::ZERO,
            error: Some(reason.to_string()),
            failure_reason: None,
            detail: None,
        });
    }

    /// The steps recorded so far.
    pub fn reports(&self) -> Vec<StepReport> {
        self.lock().done.clone()
    }

    /// Polls `check` every [`POLL`] until it is done; errors end the wait at once.
    /// The enclosing step's timeout bounds it; pending observations become its note.
    pub(crate) async fn wait<T, F, Fut>(&self, mut check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Waiting<T>>>,
    {
        loop {
            match check().await? {
                Waiting::Done(v) => return Ok(v),
                Waiting::Pending(observed) => self.note(observed),
            }
            // The poll interval of a deadline-bounded wait.
            tokio::time::sleep(POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_step_timeout_reports_the_last_observation() {
        let steps = Steps::new("deployment", Recorder::none());
        steps
            .run("create", Duration::from_secs(1), async { Ok(()) })
            .await
            .unwrap();
        let r: Result<()> = steps
            .run("rollout", Duration::from_secs(2), async {
                steps
                    .wait(|| async { Ok(Waiting::<()>::Pending("0/2 available".into())) })
                    .await
            })
            .await;
        assert_eq!(
            r.unwrap_err().to_string(),
            "not done within 2s; last seen: 0/2 available"
        );
        let reports = steps.reports();
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[1].outcome, Outcome::Failed);
        assert_eq!(reports[1].failure_reason, Some(FailureReason::Timeout));
        assert_eq!(reports[0].failure_reason, None);
    }
}

//! What a run returns: per test and step the outcome, duration and error,
//! plus the namespace and its cleanup. Also writes JUnit XML; the binary
//! renders the human table and JSON.

use std::time::Duration;

use serde::Serialize;

/// Why a test or a whole run was skipped: the stable value of the metrics'
/// `reason` label (`lease_held`, `no_storage_class`, `cancelled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Another runner holds the Lease (the whole run is skipped).
    LeaseHeld,
    /// No storage class was given and the cluster has no default StorageClass.
    NoStorageClass,
    /// A termination signal came before the test started.
    Cancelled,
}

impl SkipReason {
    /// The label value: `lease_held`, `no_storage_class` or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::LeaseHeld => "lease_held",
            SkipReason::NoStorageClass => "no_storage_class",
            SkipReason::Cancelled => "cancelled",
        }
    }
}

/// Why a test, a step or the run's setup failed: the stable value of the
/// failure metrics' `reason` label, from a fixed set (docs/e2e.md) so that
/// alerts can tell a cluster problem from a checker problem without putting
/// error text in a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The API server could not be reached or answered 5xx/429.
    ApiUnavailable,
    /// The API server rejected the credentials (401).
    Unauthorized,
    /// RBAC denied a request (403), or the preflight found permissions missing.
    Forbidden,
    /// An admission webhook or policy denied an object.
    AdmissionDenied,
    /// Any other API error (404, 409, 422, …).
    ApiError,
    /// A pod could not pull its image (ErrImagePull, ImagePullBackOff).
    ImagePull,
    /// A pod could not be scheduled.
    Unschedulable,
    /// A DNS lookup did not give the expected answer.
    Dns,
    /// A connection to a pod or Service was refused.
    ConnectionRefused,
    /// A step or the test did not finish within its timeout (for any other reason).
    Timeout,
    /// An expectation of the test did not hold.
    CheckFailed,
    /// The configuration is unusable.
    Config,
    /// A termination signal stopped it.
    Cancelled,
    /// Anything else.
    Other,
}

impl FailureReason {
    /// Every reason, in the documented order.
    pub const ALL: [FailureReason; 14] = [
        FailureReason::ApiUnavailable,
        FailureReason::Unauthorized,
        FailureReason::Forbidden,
        FailureReason::AdmissionDenied,
        FailureReason::ApiError,
        FailureReason::ImagePull,
        FailureReason::Unschedulable,
        FailureReason::Dns,
        FailureReason::ConnectionRefused,
        FailureReason::Timeout,
        FailureReason::CheckFailed,
        FailureReason::Config,
        FailureReason::Cancelled,
        FailureReason::Other,
    ];

    /// The label value (`api_unavailable`, `forbidden`, `image_pull`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::ApiUnavailable => "api_unavailable",
            FailureReason::Unauthorized => "unauthorized",
            FailureReason::Forbidden => "forbidden",
            FailureReason::AdmissionDenied => "admission_denied",
            FailureReason::ApiError => "api_error",
            FailureReason::ImagePull => "image_pull",
            FailureReason::Unschedulable => "unschedulable",
            FailureReason::Dns => "dns",
            FailureReason::ConnectionRefused => "connection_refused",
            FailureReason::Timeout => "timeout",
            FailureReason::CheckFailed => "check_failed",
            FailureReason::Config => "config",
            FailureReason::Cancelled => "cancelled",
            FailureReason::Other => "other",
        }
    }
}

/// A skip: its stable reason and one line for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    /// Stable reason (metrics label).
    pub reason: SkipReason,
    /// What happened, naming the objects involved.
    pub message: String,
}

impl Skip {
    /// A skip for `reason`, explained by `message`.
    pub fn new(reason: SkipReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// Outcome of a test or step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Everything held.
    Passed,
    /// A step failed or timed out.
    Failed,
    /// Not run (no storage class, earlier cancellation, Lease held, …).
    Skipped,
}

impl Outcome {
    /// `passed`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One step of a test.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Step name (`rollout`, `pvc-bound`, …).
    pub name: String,
    /// Outcome.
    pub outcome: Outcome,
    /// How long it took.
    #[serde(with = "ward_duration::seconds")]
    pub duration: Duration,
    /// Why it failed.
    pub error: Option<String>,
    /// The stable reason of a failure (the metrics' `reason` label).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
    /// What it found when it passed, where that matters (the nodes a volume
    /// was written and read on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One test.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    /// Test name (`api`, `deployment`, …).
    pub name: String,
    /// Outcome.
    pub outcome: Outcome,
    /// How long it took.
    #[serde(with = "ward_duration::seconds")]
    pub duration: Duration,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// The stable reason of a skip (the metrics' `reason` label).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<SkipReason>,
    /// The stable reason of a failure (the metrics' `reason` label).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
    /// The steps that ran, in order.
    pub steps: Vec<StepReport>,
}

impl TestReport {
    /// The first failed step, if any.
    pub fn failed_step(&self) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.outcome == Outcome::Failed)
    }
}

/// One run of the suite.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The namespace the run used (for a skipped run: the one it would have
    /// used; it was never created).
    pub namespace: String,
    /// Start time, seconds since the Unix epoch.
    pub started_at: f64,
    /// Whole run.
    #[serde(with = "ward_duration::seconds")]
    pub duration: Duration,
    /// The tests, in the order they ran.
    pub tests: Vec<TestReport>,
    /// Deleting the namespace (always attempted).
    pub cleanup: StepReport,
    /// True when the run was cut short by a termination signal.
    pub cancelled: bool,
    /// Set when the whole run was skipped before it created anything (another
    /// runner holds the Lease); every test is then reported skipped.
    pub skipped: Option<Skip>,
}

impl Report {
    /// True when no test failed and the run was not cancelled (a skipped run passed).
    pub fn passed(&self) -> bool {
        !self.cancelled && self.tests.iter().all(|t| t.outcome != Outcome::Failed)
    }

    /// Writes the run as JUnit XML: one `testsuite` per test, one `testcase`
    /// per step; a failure's `type` is its reason (`timeout`, `forbidden`, …).
    pub fn junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let failures = self
            .tests
            .iter()
            .flat_map(|t| &t.steps)
            .filter(|s| s.outcome == Outcome::Failed)
            .count();
        let cases: usize = self.tests.iter().map(|t| t.steps.len().max(1)).sum();
        out.push_str(&format!(
            "<testsuites name=\"ward-e2e\" tests=\"{cases}\" failures=\"{failures}\" time=\"{:.3}\">\n",
            self.duration.as_secs_f64()
        ));
        for test in &self.tests {
            let failed = test
                .steps
                .iter()
                .filter(|s| s.outcome == Outcome::Failed)
                .count();
            let skipped = usize::from(test.outcome == Outcome::Skipped);
            out.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" skipped=\"{skipped}\" time=\"{:.3}\">\n",
                xml(&test.name),
                test.steps.len().max(1),
                test.duration.as_secs_f64()
            ));
            if test.steps.is_empty() {
                out.push_str(&format!(
                    "    <testcase classname=\"{0}\" name=\"{0}\" time=\"0.000\">\n",
                    xml(&test.name)
                ));
                let reason = xml(test.reason.as_deref().unwrap_or(""));
                match test.outcome {
                    Outcome::Failed => out.push_str(&format!(
                        "      <failure message=\"{reason}\" type=\"{}\">{reason}</failure>\n",
                        failure_type(test.failure_reason)
                    )),
                    _ => out.push_str(&format!("      <skipped message=\"{reason}\"/>\n")),
                }
                out.push_str("    </testcase>\n");
            }
            for step in &test.steps {
                out.push_str(&format!(
                    "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                    xml(&test.name),
                    xml(&step.name),
                    step.duration.as_secs_f64()
                ));
                match (step.outcome, &step.error) {
                    (Outcome::Failed, e) => {
                        let msg = xml(e.as_deref().unwrap_or("failed"));
                        out.push_str(&format!(
                            ">\n      <failure message=\"{msg}\" type=\"{}\">{msg}</failure>\n    </testcase>\n",
                            failure_type(step.failure_reason)
                        ));
                    }
                    (Outcome::Skipped, e) => {
                        let msg = xml(e.as_deref().unwrap_or("skipped"));
                        out.push_str(&format!(
                            ">\n      <skipped message=\"{msg}\"/>\n    </testcase>\n"
                        ));
                    }
                    (Outcome::Passed, _) => out.push_str("/>\n"),
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// Escapes text for XML attributes and content.
/// A JUnit failure's `type`: the failure's stable reason.
fn failure_type(reason: Option<FailureReason>) -> &'static str {
    reason.unwrap_or(FailureReason::Other).as_str()
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, outcome: Outcome, error: Option<&str>) -> StepReport {
        StepReport {
            name: name.into(),
            outcome,
            duration: Duration::from_millis(1500),
            error: error.map(str::to_string),
            failure_reason: error.map(|_| FailureReason::Timeout),
            detail: None,
        }
    }

    #[test]
    fn junit_has_a_case_per_step_and_escapes_messages() {
        let report = Report {
            namespace: "ward-e2e-x".into(),
            started_at: 0.0,
            duration: Duration::from_secs(3),
            tests: vec![
                TestReport {
                    name: "deployment".into(),
                    outcome: Outcome::Failed,
                    duration: Duration::from_secs(3),
                    reason: None,
                    skip_reason: None,
                    failure_reason: Some(FailureReason::Timeout),
                    steps: vec![
                        step("create", Outcome::Passed, None),
                        step("rollout", Outcome::Failed, Some("0/2 <available> & \"x\"")),
                    ],
                },
                TestReport {
                    name: "storage".into(),
                    outcome: Outcome::Skipped,
                    duration: Duration::ZERO,
                    reason: Some("no storage class".into()),
                    skip_reason: Some(SkipReason::NoStorageClass),
                    failure_reason: None,
                    steps: vec![],
                },
            ],
            cleanup: step("delete-namespace", Outcome::Passed, None),
            cancelled: false,
            skipped: None,
        };
        assert!(!report.passed());
        let xml = report.junit();
        assert!(
            xml.contains(
                "<testsuites name=\"ward-e2e\" tests=\"3\" failures=\"1\" time=\"3.000\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase classname=\"deployment\" name=\"create\" time=\"1.500\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<failure message=\"0/2 &lt;available&gt; &amp; &quot;x&quot;\" type=\"timeout\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<skipped message=\"no storage class\"/>"),
            "{xml}"
        );
    }
}

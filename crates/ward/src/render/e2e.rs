//! `ward e2e`'s output: a run's report (one row per step, one per test,
//! then cleanup and totals; a skipped run is one line saying why) and what
//! `sweep` did, as tables or JSON.

use std::io::{self, Write};
use std::time::Duration;

use ward_e2e::cluster::SweepReport;
use ward_e2e::{Outcome, Report, StepReport};

use crate::render::{self, Format, Table};

/// Writes a run's report.
pub(crate) fn write_run(report: &Report, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Json => render::json(report, out),
        Format::Text => run_text(report, out),
    }
}

/// Writes what `sweep` deleted and kept.
pub(crate) fn write_sweep(
    report: &SweepReport,
    format: Format,
    out: &mut impl Write,
) -> io::Result<()> {
    if format == Format::Json {
        return render::json(report, out);
    }
    let mut table = Table::new(["NAMESPACE", "AGE", "TTL", "ACTION"]);
    for ns in &report.namespaces {
        table.row([
            ns.name.clone(),
            format!("{}s", ns.age_seconds),
            format!("{}s", ns.ttl_seconds),
            if ns.deleted { "deleted" } else { "kept" }.to_string(),
        ]);
    }
    table.write(out)
}

/// Milliseconds below a second, seconds with two decimals above.
fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        render::millis(d)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

fn step_row(test: &str, step: &StepReport) -> [String; 5] {
    [
        test.to_string(),
        step.name.clone(),
        step.outcome.as_str().to_string(),
        secs(step.duration),
        step.error.clone().unwrap_or_default(),
    ]
}

fn run_text(report: &Report, out: &mut impl Write) -> io::Result<()> {
    if let Some(skip) = &report.skipped {
        return writeln!(out, "{}", skip.message);
    }
    let mut table = Table::new(["TEST", "STEP", "RESULT", "TIME", "DETAIL"]);
    for test in &report.tests {
        for step in &test.steps {
            table.row(step_row(&test.name, step));
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
    table.row(step_row("cleanup", &report.cleanup));
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

#[cfg(test)]
mod tests {
    use ward_e2e::cluster::SweptNamespace;
    use ward_e2e::{Skip, SkipReason, TestReport};

    use super::*;

    fn step(name: &str, outcome: Outcome, ms: u64, error: Option<&str>) -> StepReport {
        StepReport {
            name: name.into(),
            outcome,
            duration: Duration::from_millis(ms),
            error: error.map(Into::into),
            failure_reason: None,
            detail: None,
        }
    }

    fn report() -> Report {
        Report {
            namespace: "ward-e2e-abc".into(),
            started_at: 0.0,
            duration: Duration::from_millis(12_340),
            tests: vec![TestReport {
                name: "deployment".into(),
                outcome: Outcome::Failed,
                duration: Duration::from_millis(2_500),
                reason: Some("not done within 2s".into()),
                skip_reason: None,
                failure_reason: None,
                steps: vec![
                    step("create", Outcome::Passed, 40, None),
                    step(
                        "rollout",
                        Outcome::Failed,
                        2_000,
                        Some("not done within 2s"),
                    ),
                ],
            }],
            cleanup: step("delete-namespace", Outcome::Passed, 1_200, None),
            cancelled: true,
            skipped: None,
        }
    }

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_run_is_a_row_per_step_and_test_then_cleanup_and_totals() {
        assert_eq!(
            text(|out| write_run(&report(), Format::Text, out)),
            "TEST        STEP              RESULT  TIME      DETAIL\n\
             deployment  create            passed  40.000ms\n\
             deployment  rollout           failed  2.00s     not done within 2s\n\
             deployment  (test)            failed  2.50s     failed at step rollout\n\
             cleanup     delete-namespace  passed  1.20s\n\
             \n\
             namespace ward-e2e-abc: 0 passed, 1 failed, 0 skipped in 12.34s (cancelled)\n"
        );
    }

    #[test]
    fn a_skipped_run_is_one_line_and_json_is_the_report() {
        let mut r = report();
        r.skipped = Some(Skip::new(SkipReason::LeaseHeld, "run skipped: held"));
        assert_eq!(
            text(|out| write_run(&r, Format::Text, out)),
            "run skipped: held\n"
        );
        let json = text(|out| write_run(&r, Format::Json, out));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["namespace"], "ward-e2e-abc");
    }

    #[test]
    fn sweep_says_what_it_deleted_and_kept() {
        let report = SweepReport {
            namespaces: vec![SweptNamespace {
                name: "ward-e2e-old".into(),
                age_seconds: 7200,
                ttl_seconds: 3600,
                deleted: true,
            }],
        };
        assert_eq!(
            text(|out| write_sweep(&report, Format::Text, out)),
            "NAMESPACE     AGE    TTL    ACTION\nward-e2e-old  7200s  3600s  deleted\n"
        );
    }
}

use crate::model::{Dashboard, Panel, Variable};

/// The e2e dashboard: pass/fail per test and step over time, duration per
/// step, the last successful run, missing runs and skips. Works for serve
/// mode (/metrics) and the CronJob (OTLP): it reads the timestamp and
/// last-duration gauges, which mean the same in both.
pub fn e2e() -> Dashboard {
    let test = r#"job=~"$job", test_name=~"$test_name", step="""#;
    let step = r#"job=~"$job", test_name=~"$test_name", step!="""#;
    let last_run = format!("test_last_run_timestamp_seconds{{{test}}}");
    Dashboard {
        file: "e2e",
        uid: "ward-e2e",
        title: "ward e2e",
        description: "The continuous end-to-end suite: which test and step failed, how long each step took, when each test last passed, and whether runs are missing.",
        tags: vec!["ward", "e2e"],
        variables: vec![
            Variable::LabelValues {
                name: "job",
                label: "Job",
                metric: "test_last_run_timestamp_seconds",
                label_name: "job",
            },
            Variable::LabelValues {
                name: "test_name",
                label: "Test",
                metric: "test_last_run_timestamp_seconds",
                label_name: "test_name",
            },
        ],
        panels: vec![
            Panel::stat("Tests failing now", "short")
                .query(&format!("count(max by (test_name) ({last_run}) > max by (test_name) (test_last_success_timestamp_seconds{{{test}}})) or on () vector(0)"), "failing"),
            Panel::stat("Since the last run", "s")
                .query(&format!("time() - max({last_run})"), "last run"),
            Panel::stat("Runs in the last day", "short")
                .query(&format!("max(changes({last_run}[1d]) + 1)"), "runs"),
            Panel::stat("Runs skipped (Lease held)", "short")
                .describe("ward_e2e_runs_skipped_total{reason=\"lease_held\"}: another runner held the Lease.")
                .query(r#"sum(increase(ward_e2e_runs_skipped_total{job=~"$job"}[$__range]))"#, "skipped"),
            Panel::bargauge("Since the last success, per test", "s")
                .query(&format!("time() - max by (test_name) (test_last_success_timestamp_seconds{{{test}}})"), "{{test_name}}")
                .size(8, 4),
            Panel::row("Pass / fail"),
            Panel::state_timeline("Last run of each test passed (1) or failed (0)", "short")
                .query(&format!("max by (test_name) (test_last_success_timestamp_seconds{{{test}}}) >= bool max by (test_name) ({last_run})"), "{{test_name}}")
                .size(12, 8),
            Panel::state_timeline("Last run of each step passed (1) or failed (0)", "short")
                .query(&format!("max by (test_name, step) (test_last_success_timestamp_seconds{{{step}}}) >= bool max by (test_name, step) (test_last_run_timestamp_seconds{{{step}}})"), "{{test_name}}/{{step}}")
                .size(12, 8),
            Panel::timeseries("Failures per step", "short")
                .query(&format!("sum by (test_name, step) (increase(test_errors_total{{{step}}}[$__rate_interval]))"), "{{test_name}}/{{step}}")
                .size(12, 8),
            Panel::timeseries("Time since the last run, and two intervals", "s")
                .describe("WardE2ERunsStopped fires when the first line crosses the second (two of the runs' own intervals, learned over the last day) for 5 minutes.")
                .query(&format!("time() - max(max_over_time({last_run}[1d]))"), "since the last run")
                .query(&format!("2 * max((max_over_time({last_run}[1d]) - min_over_time({last_run}[1d])) / changes({last_run}[1d]))"), "two intervals")
                .size(12, 8),
            Panel::row("Durations"),
            Panel::timeseries("Duration of each step (last run)", "s")
                .query(&format!("max by (test_name, step) (ward_e2e_last_duration_seconds{{{step}}})"), "{{test_name}}/{{step}}")
                .size(8, 8),
            Panel::timeseries("Last duration relative to the day's median", "percentunit")
                .describe("WardE2EStepSlow fires above 200% (and at least 10s more than usual).")
                .query(&format!("max by (test_name, step) (last_over_time(ward_e2e_last_duration_seconds{{{step}}}[2h])) / max by (test_name, step) (quantile_over_time(0.5, ward_e2e_last_duration_seconds{{{step}}}[1d]))"), "{{test_name}}/{{step}}")
                .size(8, 8),
            Panel::timeseries("Step duration p90 (serve mode)", "s")
                .describe("From the test_duration_seconds histogram; in CronJob mode every run is a new process, so use the last-run panel.")
                .query(&format!("histogram_quantile(0.9, sum by (le, test_name, step) (rate(test_duration_seconds_bucket{{{step}}}[$__rate_interval])))"), "{{test_name}}/{{step}}")
                .size(8, 8),
        ],
    }
}

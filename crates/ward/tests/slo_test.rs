//! `ward slo test` on the in-repo copies of sloth's specs: every case of
//! every SLO passes under the real promtool (default 30d and 28d catalogs,
//! a custom 7d catalog, Kubernetes, OpenSLO and multi-document specs), on
//! SLI recordings and, where the SLI allows, on raw counters; the table is
//! exact (and docs/slo.md shows it), the JSON and JUnit reports parse and
//! count the cases; SLO plugins that add alerts or set intervals are tested
//! as generated. An independent, hand-written raw-traffic test agrees: on
//! raw counters with 3 days of clean history, the whole generated rule file
//! pages 1h after errors start 1% above the quick page threshold, and not
//! 1% below it. Negative controls: the same cases run against rules with a
//! wrong page threshold fail (only the two that need the page alert to
//! fire, recorded and raw), and a promtool wrapper that breaks the rules
//! the same way makes the command exit 1. Bad input: a missing promtool or
//! a malformed spec is one line on stderr and a non-zero exit.

mod slo_support;

use std::path::{Path, PathBuf};

use slo_support::{promtool, ward_slo, Run};
use ward_slo_files::{Settings, TestRequest};
use ward_testkit::prometheus::promtool_test_rules;

/// The in-repo copies of sloth's conformance specs (and the 7d catalog).
fn conformance() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slo/conformance")
}

/// `ward slo test ARGS… --promtool <promtool>` in the conformance folder.
fn slo_test(args: &[&str]) -> Run {
    let promtool = promtool().display().to_string();
    let all: Vec<&str> = ["test"]
        .into_iter()
        .chain(args.iter().copied())
        .chain(["--promtool", &promtool])
        .collect();
    ward_slo(&conformance(), &all, &[])
}

const BASE_TABLE: &str = "\
SLO                             INPUTS    ALERT         WINDOWS  BUDGET  BURN             AFTER  EXPECTED       RESULT
checkout-requests-availability  recorded  page quick    5m/1h    2%      14.544x > 14.4x  1h     page fires     pass
checkout-requests-availability  recorded  page quick    5m/1h    2%      14.256x < 14.4x  1h     nothing fires  pass
checkout-requests-availability  recorded  page slow     30m/6h   5%      6.06x > 6x       6h     page fires     pass
checkout-requests-availability  recorded  page slow     30m/6h   5%      5.94x < 6x       6h     nothing fires  pass
checkout-requests-availability  recorded  ticket quick  2h/1d    10%     3.03x > 3x       1d     ticket fires   pass
checkout-requests-availability  recorded  ticket quick  2h/1d    10%     2.97x < 3x       1d     nothing fires  pass
checkout-requests-availability  recorded  ticket slow   6h/3d    10%     1.01x > 1x       3d     ticket fires   pass
checkout-requests-availability  recorded  ticket slow   6h/3d    10%     0.99x < 1x       3d     nothing fires  pass
checkout-requests-availability  raw       page quick    5m/1h    2%      14.544x > 14.4x  1h     page fires     pass
checkout-requests-availability  raw       page quick    5m/1h    2%      14.256x < 14.4x  1h     nothing fires  pass
checkout-queue-latency          -                                                                               no alerts enabled
2 SLOs, 10 cases: 10 passed, 0 failed
";

#[test]
fn the_table_of_a_spec_is_exact() {
    let r = slo_test(&["-i", "specs/base.yaml"]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, BASE_TABLE);
}

#[test]
fn docs_show_that_table() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/slo.md");
    let text = std::fs::read_to_string(&docs).expect("docs/slo.md");
    assert!(
        text.contains(&format!("```text\n{BASE_TABLE}```\n")),
        "docs/slo.md does not show the table of specs/base.yaml"
    );
}

#[test]
fn every_spec_and_catalog_passes() {
    for (args, summary) in [
        (
            &["-i", "specs/base-k8s.yaml"][..],
            "2 SLOs, 10 cases: 10 passed, 0 failed",
        ),
        (
            &["-i", "specs/multi.yaml"],
            "2 SLOs, 10 cases: 10 passed, 0 failed",
        ),
        (
            &["-i", "specs/multi-k8s.yaml"],
            "2 SLOs, 10 cases: 10 passed, 0 failed",
        ),
        (
            &["-i", "specs/openslo.yaml"],
            "1 SLO, 0 cases: 0 passed, 0 failed",
        ),
        (
            &["-i", "specs/base.yaml", "--default-slo-period", "28d"],
            "2 SLOs, 10 cases: 10 passed, 0 failed",
        ),
        (
            &[
                "-i",
                "specs/base.yaml",
                "--default-slo-period",
                "7d",
                "--slo-period-windows-path",
                "windows",
            ],
            "2 SLOs, 10 cases: 10 passed, 0 failed",
        ),
    ] {
        let r = slo_test(args);
        assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains(&format!("{summary}\n")),
            "{args:?}:\n{}",
            r.stdout
        );
    }
    // The custom 7d catalog's own shares and factors, not the default ones.
    let r = slo_test(&[
        "-i",
        "specs/base.yaml",
        "--default-slo-period",
        "7d",
        "--slo-period-windows-path",
        "windows",
    ]);
    assert!(
        r.stdout.contains(
            "recorded  ticket slow   6h/3d    50%     1.1783x > 1.1667x  3d     ticket fires   pass\n"
        ),
        "{}",
        r.stdout
    );
}

/// SLO plugins that add an alert (ErrorBudgetExhausted, same group) and set
/// the groups' evaluation interval (promtool then evaluates at it).
const CONTRIB_SPEC: &str = r#"version: "prometheus/v1"
service: "shop"
slo_plugins:
  chain:
    - id: sloth.dev/contrib/error_budget_exhausted_alert/v1
      config: {threshold: 0}
    - id: sloth.dev/contrib/rule_intervals/v1
      config: {interval: {default: 5m}}
slos:
  - name: checkout
    objective: 99.5
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting:
      name: ShopCheckoutErrors
"#;

#[test]
fn plugins_adding_alerts_and_intervals_are_tested_as_generated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("contrib.yaml");
    std::fs::write(&spec, CONTRIB_SPEC).expect("write spec");
    let r = slo_test(&["-i", &spec.display().to_string()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.ends_with("1 SLO, 8 cases: 8 passed, 0 failed\nshop-checkout: no raw-traffic cases: rule groups have their own evaluation intervals\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn json_counts_every_case() {
    let r = slo_test(&["-i", "specs/multi.yaml", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(
        (
            v["cases"].as_u64(),
            v["passed"].as_u64(),
            v["failed"].as_u64()
        ),
        (Some(10), Some(10), Some(0))
    );
    let slos = v["slos"].as_array().expect("slos");
    let slo = |s: &serde_json::Value| {
        let (id, period) = (s["id"].as_str().unwrap(), s["period"].as_str().unwrap());
        format!("{id} {period} {} {}", s["objective"], s["raw_skipped"])
    };
    assert_eq!(
        slos.iter().map(slo).collect::<Vec<_>>(),
        [
            "search-query-errors 30d 99.5 null",
            "indexer-batch-failures 30d 90.0 \"the SLI is not an events SLI\""
        ]
    );
    let first = &slos[0]["cases"][0];
    assert_eq!(
        first,
        &serde_json::json!({
            "name": "recorded page quick 5m/1h: burn 14.544x (1% above 14.4x) for 1h: page fires",
            "inputs": "recorded",
            "severity": "page",
            "pair": "quick",
            "short_window": "5m",
            "long_window": "1h",
            "budget_percent": 2.0,
            "threshold": 14.4,
            "burn_rate": 14.4 * 1.01,
            "at": "1h",
            "expected_firing": ["page"],
            "pending": null,
            "passed": true,
            "failure": null
        })
    );
}

/// The `<testsuites>` and `<testsuite>` elements, read with an XML parser,
/// one line each: `name tests=N failures=N`, and for a suite `testcases=N`
/// (the `<testcase>` elements it holds).
fn junit(xml: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let attr = |e: &quick_xml::events::BytesStart<'_>, name: &str| {
        e.try_get_attribute(name)
            .expect("attribute")
            .map(|a| a.unescape_value().expect("value").into_owned())
            .unwrap_or_default()
    };
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut lines: Vec<String> = Vec::new();
    let mut testcases = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                name @ (b"testsuites" | b"testsuite") => {
                    lines.push(format!(
                        "{} {} tests={} failures={}",
                        String::from_utf8_lossy(name),
                        attr(&e, "name"),
                        attr(&e, "tests"),
                        attr(&e, "failures")
                    ));
                    testcases.push(0);
                }
                b"testcase" => *testcases.last_mut().expect("suite") += 1,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    lines
        .into_iter()
        .zip(testcases)
        .map(|(l, n)| {
            if l.starts_with("testsuites ") {
                l
            } else {
                format!("{l} testcases={n}")
            }
        })
        .collect()
}

#[test]
fn junit_is_xml_with_the_right_counts() {
    let r = slo_test(&["-i", "specs/base.yaml", "-o", "junit"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        junit(&r.stdout),
        [
            "testsuites ward slo test tests=10 failures=0",
            "testsuite checkout-requests-availability tests=10 failures=0 testcases=10",
            "testsuite checkout-queue-latency tests=0 failures=0 testcases=0",
        ]
    );
}

/// A promtool test on raw counters for base.yaml's events SLI
/// (`nginx_http_requests_total{app="checkout"}`, 5xx are errors): 100
/// requests a minute, clean for 3d, then errors at `burn` times the budget
/// rate; the alerts expected 1h later.
fn raw_traffic_test(burn: f64, exp_alerts: &str) -> String {
    let errors_per_minute = burn * (100.0 - 99.95) / 100.0 * 100.0;
    let good_per_minute = 100.0 - errors_per_minute;
    format!(
        r#"rule_files: [rules.yaml]
evaluation_interval: 5m
group_eval_order:
- sloth-slo-sli-recordings-checkout-requests-availability
- sloth-slo-meta-recordings-checkout-requests-availability
- sloth-slo-alerts-checkout-requests-availability
- sloth-slo-sli-recordings-checkout-queue-latency
- sloth-slo-meta-recordings-checkout-queue-latency
tests:
- interval: 1m
  input_series:
  - series: 'nginx_http_requests_total{{app="checkout",status="200"}}'
    values: '0+100x4319 432000+{good_per_minute}x60'
  - series: 'nginx_http_requests_total{{app="checkout",status="500"}}'
    values: '0x4320 {errors_per_minute}+{errors_per_minute}x59'
  alert_rule_test:
  - eval_time: 3d1h
    alertname: CheckoutAvailability
    exp_alerts: {exp_alerts}
"#
    )
}

#[test]
fn the_inputs_are_what_the_recording_rules_make_of_raw_traffic() {
    let generated = ward_slo(&conformance(), &["generate", "-i", "specs/base.yaml"], &[]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), &generated.stdout).expect("write rules");
    let page = r#"
    - exp_labels: {category: availability, owner: payments-team, severity: critical, sloth_id: checkout-requests-availability, sloth_service: checkout, sloth_severity: page, sloth_slo: requests-availability, team: payments, tier: "1"}
      exp_annotations: {summary: Checkout is burning its error budget, title: (page) checkout requests-availability SLO error budget burn rate is too fast.}"#;
    let cases = [
        ("above.yaml", 14.4 * 1.01, page),
        ("below.yaml", 14.4 * 0.99, "[]"),
    ];
    for (name, burn, exp) in cases {
        std::fs::write(dir.path().join(name), raw_traffic_test(burn, exp)).expect("write test");
    }
    std::thread::scope(|s| {
        let runs: Vec<_> = cases
            .map(|(name, _, _)| {
                let dir = dir.path();
                (name, s.spawn(move || promtool_test_rules(dir, name)))
            })
            .into_iter()
            .collect();
        for (name, run) in runs {
            let result = run.join().expect("promtool thread");
            assert!(result.is_ok(), "{name}: {result:?}");
        }
    });
}

#[test]
fn the_cases_catch_a_wrong_threshold() {
    let gen = Settings::default().generator("cli").expect("generator");
    let request = TestRequest {
        input: conformance().join("specs/base.yaml").display().to_string(),
        ..TestRequest::default()
    };
    let suites = ward_slo_files::suites(&gen, &request, &mut |w| panic!("{w}")).expect("suites");
    let (_, suite) = &suites[0];
    // The page's quick threshold 20x instead of 14.4x, in the alert rules
    // and in the whole rule file the raw-traffic cases read.
    let wrong = suite.rules.replace("(14.4 *", "(20 *");
    assert_ne!(wrong, suite.rules);
    let mut wrong_suite = suite.clone();
    wrong_suite.all_rules = suite.all_rules.replace("(14.4 *", "(20 *");
    assert_ne!(wrong_suite.all_rules, suite.all_rules);
    let results =
        ward_slo_files::run_suite(&promtool(), &wrong_suite, &wrong).expect("promtool ran");
    let failed: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].failure.is_some())
        .collect();
    // Only the cases where the page alert must fire at 14.544x over 1h:
    // on the SLI recordings and on raw traffic.
    assert_eq!(failed, [0, 8]);
    let output = results[0].failure.as_deref().unwrap();
    assert!(output.contains("FAILED"), "{output}");
    // The right rules pass the same cases.
    let right = ward_slo_files::run_suite(&promtool(), suite, &suite.rules).expect("promtool ran");
    assert!(right.iter().all(|r| r.failure.is_none()));
}

#[test]
fn a_failing_case_exits_1_and_shows_promtools_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wrapper = dir.path().join("promtool");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nsed -i 's/(14.4 \\*/(20 */' rules.yaml\nexec {} \"$@\"\n",
            promtool().display()
        ),
    )
    .expect("write wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let wrapper_path = wrapper.display().to_string();
    let run = |format: &str| {
        let args = [
            "test",
            "-i",
            "specs/base.yaml",
            "-o",
            format,
            "--promtool",
            &wrapper_path,
        ];
        ward_slo(&conformance(), &args, &[])
    };
    let junit_report = run("junit");
    assert_eq!(junit_report.code, 1, "{}", junit_report.stderr);
    assert_eq!(
        junit(&junit_report.stdout)[..2],
        [
            "testsuites ward slo test tests=10 failures=1",
            "testsuite checkout-requests-availability tests=10 failures=1 testcases=10",
        ]
    );
    let r = run("text");
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("14.544x > 14.4x  1h     page fires     FAIL\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("2 SLOs, 10 cases: 9 passed, 1 failed\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("\nFAIL checkout-requests-availability: recorded page quick 5m/1h: burn 14.544x (1% above 14.4x) for 1h: page fires\n  Unit Testing:  case-1.yaml\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn bad_input_is_one_line_and_a_non_zero_exit() {
    let missing = ward_slo(
        &conformance(),
        &["test", "-i", "specs/base.yaml"],
        &[("PATH", "/nonexistent")],
    );
    assert_eq!(missing.code, 2);
    assert_eq!(
        missing.stderr,
        "ward slo: promtool not found on PATH: install Prometheus' promtool (Debian/Ubuntu: apt-get install prometheus; or a release from https://prometheus.io/download/) or pass --promtool PATH\n"
    );
    let bad = slo_test(&["-i", "specs/bad-version.yaml"]);
    assert_eq!(bad.code, 1);
    assert_eq!(
        bad.stderr,
        "ward slo: specs/bad-version.yaml: invalid spec, could not load with any of the supported spec types\n"
    );
    assert_eq!(bad.stdout, "");
}

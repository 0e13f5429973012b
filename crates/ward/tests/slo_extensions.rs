//! ward's opt-in spec extensions, `period` per SLO and `for:` on the page
//! and ticket alerts (tests/fixtures/slo/extensions/): they change the
//! rules of the SLOs that use them and nothing else (an SLO without them
//! in the same file is byte for byte what the real sloth writes, which
//! ignores both keys); `for:` stays in the Kubernetes form; `ward slo test`
//! proves them (an alert with `for:` is silent until it has held that
//! long, and rules without the `for:` fail exactly those cases); a bad
//! value is one line naming the file and the field. The same for the
//! `latency` SLI, `record_traffic` and `event_weighted_period`: a latency
//! SLI generates what the events SLI of its bucket and count would,
//! recorded traffic adds exactly its recordings to sloth's bytes, and the
//! event-weighted period SLI reads them.

mod slo_support;

use std::path::{Path, PathBuf};

use slo_support::{promtool, sloth, ward_slo};
use ward_slo_files::{Settings, TestRequest};

fn extensions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slo/extensions")
}

/// The text from the first group of SLO `id` on.
fn from_slo<'a>(rules: &'a str, id: &str) -> &'a str {
    let start = rules
        .find(&format!("- name: sloth-slo-sli-recordings-{id}\n"))
        .unwrap_or_else(|| panic!("no groups of {id} in:\n{rules}"));
    &rules[start..]
}

#[test]
fn extensions_change_only_the_slos_that_use_them() {
    let dir = extensions();
    let got = ward_slo(&dir, &["generate", "-i", "period-and-for.yaml"], &[]);
    assert_eq!((got.code, got.stderr.as_str()), (0, ""));
    let want = sloth(&dir, &["generate", "-i", "period-and-for.yaml"]);
    assert_eq!(want.code, 0, "sloth: {}", want.stderr);
    assert_eq!(
        from_slo(&got.stdout, "shop-search"),
        from_slo(&want.stdout, "shop-search")
    );
    let checkout = &got.stdout[..got
        .stdout
        .find("sloth-slo-sli-recordings-shop-search")
        .unwrap()];
    for line in [
        "  - record: slo:sli_error:ratio_rate4w\n",
        "  - record: slo:time_period:days\n    expr: vector(28)\n",
        "    for: 5m\n    labels:\n      sloth_severity: page\n",
        "    for: 1h\n    labels:\n      sloth_severity: ticket\n",
        "(13.44 * 0.0009999999999999432)",
    ] {
        assert!(checkout.contains(line), "{line}\n{checkout}");
    }
    assert!(!checkout.contains("ratio_rate30d"), "{checkout}");
}

#[test]
fn for_stays_in_the_kubernetes_form() {
    let got = ward_slo(&extensions(), &["generate", "-i", "for-k8s.yaml"], &[]);
    assert_eq!((got.code, got.stderr.as_str()), (0, ""));
    assert!(
        got.stdout
            .contains("        )\n      for: 5m\n      labels:\n        sloth_severity: page\n"),
        "{}",
        got.stdout
    );
}

const TABLE: &str = "\
SLO            INPUTS    ALERT         WINDOWS  BUDGET  BURN               AFTER  EXPECTED                                   RESULT
shop-checkout  recorded  page quick    5m/1h    2%      13.5744x > 13.44x  1h5m   page fires; nothing fires at 1h4m22s500ms  pass
shop-checkout  recorded  page quick    5m/1h    2%      13.3056x < 13.44x  1h5m   nothing fires                              pass
shop-checkout  recorded  page slow     30m/6h   5%      5.656x > 5.6x      6h5m   page fires; nothing fires at 6h            pass
shop-checkout  recorded  page slow     30m/6h   5%      5.544x < 5.6x      6h5m   nothing fires                              pass
shop-checkout  recorded  ticket quick  2h/1d    10%     2.828x > 2.8x      1d1h   ticket fires; nothing fires at 1d45m       pass
shop-checkout  recorded  ticket quick  2h/1d    10%     2.772x < 2.8x      1d1h   nothing fires                              pass
shop-checkout  recorded  ticket slow   6h/3d    10%     0.9427x > 0.9333x  3d1h   ticket fires; nothing fires at 3d15m       pass
shop-checkout  recorded  ticket slow   6h/3d    10%     0.924x < 0.9333x   3d1h   nothing fires                              pass
shop-checkout  raw       page quick    5m/1h    2%      13.5744x > 13.44x  1h5m   page fires                                 pass
shop-checkout  raw       page quick    5m/1h    2%      13.3056x < 13.44x  1h5m   nothing fires                              pass
shop-search    recorded  page quick    5m/1h    2%      14.544x > 14.4x    1h     page fires                                 pass
shop-search    recorded  page quick    5m/1h    2%      14.256x < 14.4x    1h     nothing fires                              pass
shop-search    recorded  page slow     30m/6h   5%      6.06x > 6x         6h     page fires                                 pass
shop-search    recorded  page slow     30m/6h   5%      5.94x < 6x         6h     nothing fires                              pass
shop-search    recorded  ticket quick  2h/1d    10%     3.03x > 3x         1d     ticket fires                               pass
shop-search    recorded  ticket quick  2h/1d    10%     2.97x < 3x         1d     nothing fires                              pass
shop-search    recorded  ticket slow   6h/3d    10%     1.01x > 1x         3d     ticket fires                               pass
shop-search    recorded  ticket slow   6h/3d    10%     0.99x < 1x         3d     nothing fires                              pass
2 SLOs, 18 cases: 18 passed, 0 failed
shop-search: no raw-traffic cases: the SLI is not an events SLI
";

#[test]
fn slo_test_proves_the_period_and_for() {
    let promtool = promtool().display().to_string();
    let r = ward_slo(
        &extensions(),
        &["test", "-i", "period-and-for.yaml", "--promtool", &promtool],
        &[],
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, TABLE);
    let json = ward_slo(
        &extensions(),
        &[
            "test",
            "-i",
            "period-and-for.yaml",
            "-o",
            "json",
            "--promtool",
            &promtool,
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let periods: Vec<&str> = v["slos"]
        .as_array()
        .expect("slos")
        .iter()
        .map(|s| s["period"].as_str().unwrap())
        .collect();
    assert_eq!(periods, ["4w", "30d"]);
    let k8s = ward_slo(
        &extensions(),
        &["test", "-i", "for-k8s.yaml", "--promtool", &promtool],
        &[],
    );
    assert_eq!(k8s.code, 0, "{}{}", k8s.stdout, k8s.stderr);
    assert!(
        k8s.stdout.ends_with("1 SLO, 6 cases: 6 passed, 0 failed\n"),
        "{}",
        k8s.stdout
    );
}

#[test]
fn rules_without_the_for_fail_the_pending_checks() {
    let gen = Settings::default().generator("cli").expect("generator");
    let request = TestRequest {
        input: extensions()
            .join("period-and-for.yaml")
            .display()
            .to_string(),
        ..TestRequest::default()
    };
    let suites = ward_slo_files::suites(&gen, &request, &mut |w| panic!("{w}")).expect("suites");
    let (_, checkout) = &suites[0];
    assert_eq!(checkout.id, "shop-checkout");
    let without_page_for = checkout.rules.replace("    for: 5m\n", "");
    assert_ne!(without_page_for, checkout.rules);
    let results =
        ward_slo_files::run_suite(&promtool(), checkout, &without_page_for).expect("promtool ran");
    let failed: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].failure.is_some())
        .collect();
    // The page's cases above its thresholds: it fires before `for:` has passed.
    assert_eq!(failed, [0, 2]);
}

#[test]
fn a_bad_period_or_for_is_one_line_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = std::fs::read_to_string(extensions().join("period-and-for.yaml")).expect("spec");
    for (name, from, to, message) in [
        (
            "unit.yaml",
            "period: 28d",
            "period: 28days",
            "ward slo: unit.yaml: tried loading raw prometheus SLOs spec, it couldn't: could not map to model: field slos[0].period: unknown unit \"days\" in duration \"28days\"\n",
        ),
        (
            "catalog.yaml",
            "period: 28d",
            "period: 7d",
            "ward slo: catalog.yaml: invalid slo \"shop-checkout\" (field period): could not generate SLO alerts: the 168h0m0s SLO period time window is not supported\n",
        ),
        (
            "for.yaml",
            "{for: 5m}",
            "{for: [5m]}",
            "ward slo: for.yaml: tried loading raw prometheus SLOs spec, it couldn't: could not map to model: field slos[0].alerting.page_alert.for: cannot unmarshal !!seq into a duration\n",
        ),
    ] {
        std::fs::write(dir.path().join(name), spec.replace(from, to)).expect("write");
        for command in ["generate", "test"] {
            let r = ward_slo(dir.path(), &[command, "-i", name], &[]);
            assert_eq!((r.code, r.stderr.as_str(), r.stdout.as_str()), (1, message, ""), "{command} {name}");
        }
    }
}

/// `latency-and-traffic.yaml` with `from` replaced by `to`, written to `dir`.
fn variant(dir: &Path, name: &str, from: &str, to: &str) {
    let spec =
        std::fs::read_to_string(extensions().join("latency-and-traffic.yaml")).expect("spec");
    assert!(spec.contains(from), "{from}");
    std::fs::write(dir.join(name), spec.replacen(from, to, 1)).expect("write");
}

/// The latency SLO of latency-and-traffic.yaml, which sloth cannot read.
const LATENCY_SLO: &str = "  - name: latency\n    objective: 99\n    event_weighted_period: true\n    sli:\n      latency:\n        histogram: http_request_duration_seconds\n        threshold: 0.3\n        selector: job=\"api\"\n    alerting:\n      name: ApiSlow\n";

/// The recordings `record_traffic` adds to the api-errors SLO.
fn traffic(id: &str, query: &str, windows: &[&str]) -> String {
    let (service, slo) = id.split_once('-').expect("id");
    windows
        .iter()
        .map(|w| {
            format!(
                "  - record: slo:sli_total:rate{w}\n    expr: {}\n    labels:\n      sloth_id: {id}\n      sloth_service: {service}\n      sloth_slo: {slo}\n      sloth_window: {w}\n",
                query.replace("{{.window}}", w)
            )
        })
        .collect()
}

const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

#[test]
fn record_traffic_adds_only_the_total_recordings() {
    let dir = tempfile::tempdir().expect("tempdir");
    variant(dir.path(), "no-latency.yaml", LATENCY_SLO, "");
    let got = ward_slo(dir.path(), &["generate", "-i", "no-latency.yaml"], &[]);
    assert_eq!((got.code, got.stderr.as_str()), (0, ""));
    let want = sloth(dir.path(), &["generate", "-i", "no-latency.yaml"]);
    assert_eq!(want.code, 0, "sloth: {}", want.stderr);
    let meta = "- name: sloth-slo-meta-recordings-api-errors\n";
    let total = "sum(rate(http_requests_total{job=\"api\"}[{{.window}}]))";
    let with_traffic = from_slo(&want.stdout, "api-errors").replacen(
        meta,
        &format!("{}{meta}", traffic("api-errors", total, &WINDOWS)),
        1,
    );
    assert_eq!(from_slo(&got.stdout, "api-errors"), with_traffic);
}

#[test]
fn a_latency_sli_is_the_events_sli_of_its_bucket_and_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let count = "sum(rate(http_request_duration_seconds_count{job=\"api\"}[{{.window}}]))";
    let events = format!(
        "      events:\n        error_query: {count} - sum(rate(http_request_duration_seconds_bucket{{job=\"api\",le=\"0.3\"}}[{{{{.window}}}}]))\n        total_query: {count}\n"
    );
    variant(
        dir.path(),
        "events.yaml",
        "      latency:\n        histogram: http_request_duration_seconds\n        threshold: 0.3\n        selector: job=\"api\"\n",
        &events,
    );
    let got = ward_slo(
        &extensions(),
        &["generate", "-i", "latency-and-traffic.yaml"],
        &[],
    );
    assert_eq!((got.code, got.stderr.as_str()), (0, ""));
    let same = ward_slo(dir.path(), &["generate", "-i", "events.yaml"], &[]);
    assert_eq!(got.stdout, same.stdout);
    // The event-weighted period SLI, then the traffic and the 5m errors.
    let filter = "{sloth_id=\"api-latency\", sloth_service=\"api\", sloth_slo=\"latency\"}";
    let labels = "    labels:\n      sloth_id: api-latency\n      sloth_service: api\n      sloth_slo: latency\n";
    let period = format!(
        "  - record: slo:sli_error:ratio_rate30d\n    expr: |\n      sum_over_time(slo:sli_error:rate5m{filter}[30d])\n      / ignoring (sloth_window)\n      sum_over_time(slo:sli_total:rate5m{filter}[30d])\n{labels}      sloth_window: 30d\n"
    );
    let error = "sum(rate(http_request_duration_seconds_count{job=\"api\"}[5m])) - sum(rate(http_request_duration_seconds_bucket{job=\"api\",le=\"0.3\"}[5m]))";
    let group = format!(
        "{period}{}  - record: slo:sli_error:rate5m\n    expr: {error}\n{labels}      sloth_window: 5m\n- name: sloth-slo-meta-recordings-api-latency\n",
        traffic("api-latency", count, &WINDOWS)
    );
    assert!(got.stdout.contains(&group), "{group}\n{}", got.stdout);
}

#[test]
fn a_bad_latency_or_traffic_field_is_one_line_naming_the_slo_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix =
        "tried loading raw prometheus SLOs spec, it couldn't: could not map to model: invalid slo";
    for (name, from, to, message) in [
        (
            "threshold.yaml",
            "threshold: 0.3",
            "threshold: -1",
            "\"api-latency\" (field sli.latency.threshold): want a positive number (a bucket bound, as its le label), got \"-1\"",
        ),
        (
            "word.yaml",
            "threshold: 0.3",
            "threshold: 300ms",
            "\"api-latency\" (field sli.latency.threshold): want a positive number (a bucket bound, as its le label), got \"300ms\"",
        ),
        (
            "histogram.yaml",
            "histogram: http_request_duration_seconds",
            "histogram: ''",
            "\"api-latency\" (field sli.latency.histogram): want a histogram metric name (without _bucket), got \"\"",
        ),
        (
            "selector.yaml",
            "selector: job=\"api\"",
            "selector: job=api",
            "\"api-latency\" (field sli.latency.selector): want label matchers such as job=\"api\", got \"job=api\": unexpected identifier 'api' in label matching, expected string",
        ),
        (
            "two.yaml",
            "      latency:\n",
            "      raw: {error_ratio_query: 'x[{{.window}}]'}\n      latency:\n",
            "\"api-latency\" (field sli.latency): only one SLI type is allowed",
        ),
        (
            "raw.yaml",
            "      events:\n        error_query: sum(rate(http_requests_total{job=\"api\",code=~\"5..\"}[{{.window}}]))\n        total_query: sum(rate(http_requests_total{job=\"api\"}[{{.window}}]))\n    alerting:\n      name: ApiErrors\n",
            "      raw: {error_ratio_query: 'x[{{.window}}]'}\n    alerting:\n      name: ApiErrors\n",
            "\"api-errors\" (field record_traffic): needs an events or latency SLI (a raw error ratio has no event counts)",
        ),
    ] {
        variant(dir.path(), name, from, to);
        let want = format!("ward slo: {name}: {prefix} {message}\n");
        for command in ["generate", "test"] {
            let r = ward_slo(dir.path(), &[command, "-i", name], &[]);
            assert_eq!((r.code, r.stderr.as_str(), r.stdout.as_str()), (1, want.as_str(), ""), "{command} {name}");
        }
    }
}

const LATENCY_TABLE: &str = "\
SLO          INPUTS    ALERT         WINDOWS  BUDGET  BURN             AFTER  EXPECTED       RESULT
api-latency  recorded  page quick    5m/1h    2%      14.544x > 14.4x  1h     page fires     pass
api-latency  recorded  page quick    5m/1h    2%      14.256x < 14.4x  1h     nothing fires  pass
api-latency  recorded  page slow     30m/6h   5%      6.06x > 6x       6h     page fires     pass
api-latency  recorded  page slow     30m/6h   5%      5.94x < 6x       6h     nothing fires  pass
api-latency  recorded  ticket quick  2h/1d    10%     3.03x > 3x       1d     ticket fires   pass
api-latency  recorded  ticket quick  2h/1d    10%     2.97x < 3x       1d     nothing fires  pass
api-latency  recorded  ticket slow   6h/3d    10%     1.01x > 1x       3d     ticket fires   pass
api-latency  recorded  ticket slow   6h/3d    10%     0.99x < 1x       3d     nothing fires  pass
api-latency  raw       page quick    5m/1h    2%      14.544x > 14.4x  1h     page fires     pass
api-latency  raw       page quick    5m/1h    2%      14.256x < 14.4x  1h     nothing fires  pass
api-errors   recorded  page quick    5m/1h    2%      14.544x > 14.4x  1h     page fires     pass
api-errors   recorded  page quick    5m/1h    2%      14.256x < 14.4x  1h     nothing fires  pass
api-errors   recorded  page slow     30m/6h   5%      6.06x > 6x       6h     page fires     pass
api-errors   recorded  page slow     30m/6h   5%      5.94x < 6x       6h     nothing fires  pass
api-errors   recorded  ticket quick  2h/1d    10%     3.03x > 3x       1d     ticket fires   pass
api-errors   recorded  ticket quick  2h/1d    10%     2.97x < 3x       1d     nothing fires  pass
api-errors   recorded  ticket slow   6h/3d    10%     1.01x > 1x       3d     ticket fires   pass
api-errors   recorded  ticket slow   6h/3d    10%     0.99x < 1x       3d     nothing fires  pass
api-errors   raw       page quick    5m/1h    2%      14.544x > 14.4x  1h     page fires     pass
api-errors   raw       page quick    5m/1h    2%      14.256x < 14.4x  1h     nothing fires  pass
api-plain    -                                                                               no alerts enabled
3 SLOs, 20 cases: 20 passed, 0 failed
";

/// The alerts of a latency SLI and of SLOs recording traffic are proven
/// like any other; the raw-traffic cases load each SLO's whole rule file
/// (traffic recordings and event-weighted period included), those of the
/// latency SLI on the threshold's bucket and the count.
#[test]
fn slo_test_proves_latency_and_traffic_slos() {
    let promtool = promtool().display().to_string();
    let r = ward_slo(
        &extensions(),
        &[
            "test",
            "-i",
            "latency-and-traffic.yaml",
            "--promtool",
            &promtool,
        ],
        &[],
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, LATENCY_TABLE);
}

/// The input series of one SLO's short-window recordings for promtool:
/// `(metric, values)` with the SLO's id labels and `sloth_window="5m"`.
fn recorded(id: &str, series: &[(&str, &str)]) -> String {
    let (service, slo) = id.split_once('-').expect("id");
    series
        .iter()
        .map(|(metric, values)| {
            format!("  - series: '{metric}{{sloth_id=\"{id}\", sloth_service=\"{service}\", sloth_slo=\"{slo}\", sloth_window=\"5m\"}}'\n    values: {values}\n")
        })
        .collect()
}

/// Uneven traffic over 128 minutes: 112 requests a second without errors,
/// then 16 a second with 1 error. sloth's period SLI (api-errors) is the
/// mean of the 5m ratios, 1/16 half of the time: 1/32; the event-weighted
/// one (api-latency) is 64 errors in 64 * 128 requests: 1/128.
#[test]
fn the_event_weighted_period_sli_weighs_each_ratio_by_its_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = ward_slo(
        &extensions(),
        &["generate", "-i", "latency-and-traffic.yaml"],
        &[],
    );
    assert_eq!((rules.code, rules.stderr.as_str()), (0, ""));
    std::fs::write(dir.path().join("rules.yaml"), &rules.stdout).expect("write");
    let period = |id: &str, value: &str| {
        let (service, slo) = id.split_once('-').expect("id");
        format!("  - expr: 'slo:sli_error:ratio_rate30d{{sloth_id=\"{id}\"}}'\n    eval_time: 127m\n    exp_samples:\n    - labels: 'slo:sli_error:ratio_rate30d{{sloth_id=\"{id}\", sloth_service=\"{service}\", sloth_slo=\"{slo}\", sloth_window=\"30d\"}}'\n      value: {value}\n")
    };
    let test = format!(
        "rule_files:\n- rules.yaml\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n{}{}  promql_expr_test:\n{}{}",
        recorded(
            "api-latency",
            &[
                ("slo:sli_error:rate5m", "0x63 1x63"),
                ("slo:sli_total:rate5m", "112x63 16x63"),
            ]
        ),
        recorded("api-errors", &[("slo:sli_error:ratio_rate5m", "0x63 0.0625x63")]),
        period("api-latency", "0.0078125"),
        period("api-errors", "0.03125"),
    );
    std::fs::write(dir.path().join("test.yaml"), test).expect("write");
    let out = std::process::Command::new(promtool())
        .args(["test", "rules", "test.yaml"])
        .current_dir(dir.path())
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_latency_rule_reading_another_bucket_fails_the_raw_cases() {
    let gen = Settings::default().generator("cli").expect("generator");
    let request = TestRequest {
        input: extensions()
            .join("latency-and-traffic.yaml")
            .display()
            .to_string(),
        ..TestRequest::default()
    };
    let suites = ward_slo_files::suites(&gen, &request, &mut |w| panic!("{w}")).expect("suites");
    let (_, latency) = &suites[0];
    assert_eq!(latency.id, "api-latency");
    let mut other_bucket = latency.clone();
    other_bucket.all_rules = latency.all_rules.replace("le=\"0.3\"", "le=\"0.5\"");
    assert_ne!(other_bucket.all_rules, latency.all_rules);
    let results = ward_slo_files::run_suite(&promtool(), &other_bucket, &latency.rules)
        .expect("promtool ran");
    let failed: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].failure.is_some())
        .collect();
    // No bucket le="0.5": the error query is empty, and the raw case above
    // the threshold does not page (as a threshold that is no bucket bound).
    assert_eq!(failed, [8]);
}

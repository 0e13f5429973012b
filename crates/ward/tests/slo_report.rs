//! `ward slo report` against a real Prometheus that evaluated ward's rules:
//! the rules `ward slo generate` writes for `fixtures/slo/report/shop.yaml`
//! (a 30d SLO and a 28d one) and for `weekly.yaml` with a custom 7d window
//! catalog, two hours of synthetic counters backfilled
//! with `promtool tsdb create-blocks-from openmetrics`, the recording rules
//! evaluated over them by `promtool tsdb create-blocks-from rules` (testkit's
//! `Builder::backfill`), the alerting rules evaluated live. Each SLO has a
//! steady error ratio, so every number is known exactly whatever minute
//! promtool evaluates at: checkout 0.05% of a 0.1% budget (burn rate 0.5 in
//! every window, 50% of the budget left, exhausted in 30d at that rate,
//! nothing fires), search 30% of a 1% budget over 28d (burn rate 30, budget
//! overspent 29 times, page and ticket fire), payments 5% of a 0.5% budget
//! over 7d (burn rate 10, ticket firing, page pending for its `for: 1h`).
//! The table is exact (and docs/slo.md shows it), the JSON's
//! numbers are to 1e-9, the HTML page is written with a chart per SLO.
//! Bad input: an unreachable Prometheus, one without SLO rules, an unknown
//! SLO, a server that is no Prometheus or answers malformed JSON, and an
//! unwritable `--html` path are each one line and exit 2.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::{repo, run, Run};
use ward_testkit::net::free_port;
use ward_testkit::nginx::Nginx;
use ward_testkit::prometheus::Prometheus;

/// The specs' folder.
const SPECS: &str = "crates/ward/tests/fixtures/slo/report";

/// The 7d catalog `weekly.yaml` is generated with.
const WINDOWS_7D: &str = "crates/ward/tests/fixtures/slo/conformance/windows";

/// Per SLO handler: requests per minute and errors among them.
const TRAFFIC: [(&str, u64, u64); 3] = [
    ("checkout", 10_000, 5),
    ("search", 1_000, 300),
    ("payments", 2_000, 100),
];

/// How much history is backfilled.
const HISTORY: Duration = Duration::from_secs(2 * 3600);

const TABLE: &str = "\
SLO            OBJECTIVE  PERIOD  BUDGET LEFT  BURN NOW  PERIOD BURN  EXHAUSTED IN  ALERTS
shop-checkout  99.9%      30d     50%          0.5x      0.5x         30d           page inactive, ticket inactive
shop-payments  99.5%      1w      -900%        10x       10x          exhausted     page pending, ticket firing
shop-search    99%        4w      -2900%       30x       30x          exhausted     page firing, ticket firing

SLO            BURN RATE BY WINDOW
shop-checkout  5m 0.5x  30m 0.5x  1h 0.5x  2h 0.5x  6h 0.5x  1d 0.5x  3d 0.5x  30d 0.5x
shop-payments  5m 10x  30m 10x  1h 10x  2h 10x  6h 10x  1d 10x  3d 10x  1w 10x
shop-search    5m 30x  30m 30x  1h 30x  2h 30x  6h 30x  1d 30x  3d 30x  4w 30x
";

/// `http_requests_total{handler, code}` every minute from `start` to `end`
/// (Unix seconds), from 0, as OpenMetrics.
fn counters(start: u64, end: u64) -> String {
    let mut out = String::from("# TYPE http_requests counter\n");
    for (handler, total, errors) in TRAFFIC {
        for (code, per_minute) in [("200", total - errors), ("500", errors)] {
            for (i, t) in (start..=end).step_by(60).enumerate() {
                out.push_str(&format!(
                    "http_requests_total{{handler=\"{handler}\",code=\"{code}\"}} {} {t}\n",
                    i as u64 * per_minute
                ));
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The rules `ward slo generate ARGS…` writes.
fn generate(args: &[&str]) -> String {
    let generated = run(["slo", "generate"].iter().chain(args));
    assert_eq!((generated.code(), generated.stderr.as_str()), (Some(0), ""));
    generated.stdout
}

/// A Prometheus holding two hours of the counters, up to now, and what
/// ward's rules for the specs recorded over them; alerts evaluated once.
fn prometheus() -> Prometheus {
    let specs = repo().join(SPECS);
    let shop = generate(&["-i", &specs.join("shop.yaml").display().to_string()]);
    let weekly = generate(&[
        "-i",
        &specs.join("weekly.yaml").display().to_string(),
        "--slo-period-windows-path",
        &repo().join(WINDOWS_7D).display().to_string(),
        "--default-slo-period",
        "7d",
    ]);
    let end = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = end - HISTORY.as_secs();
    let prometheus = Prometheus::builder()
        .backfill(counters(start, end), [shop, weekly], start, end)
        .start()
        .expect("prometheus starts on the backfilled data");
    prometheus
        .wait_rules_evaluated(Duration::from_secs(20))
        .expect("alert rules evaluated");
    prometheus
}

fn report(prometheus: &str, args: &[&str]) -> Run {
    let all = ["slo", "report", "--prometheus", prometheus];
    run(all.iter().chain(args))
}

/// `value` is `expected` to 1e-9.
fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

#[test]
fn the_report_reads_budget_burn_rates_and_alerts_from_the_recordings() {
    let prometheus = prometheus();
    let url = format!("http://{}", prometheus.addr());
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("slo.html");

    let table = report(&url, &["--html", &html.display().to_string()]);
    assert_eq!(
        (table.code(), table.stderr.as_str(), table.stdout.as_str()),
        (Some(0), "", TABLE)
    );
    let docs = std::fs::read_to_string(repo().join("docs/slo.md")).expect("docs/slo.md");
    assert!(
        docs.contains(TABLE),
        "docs/slo.md does not show the report's table"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    for slo in ["shop-checkout", "shop-payments", "shop-search"] {
        assert!(page.contains(&format!("<h2>{slo}</h2>")), "{page}");
    }
    assert_eq!(page.matches("<svg ").count(), 6, "two charts per SLO");
    assert!(!page.contains("<script"), "{page}");

    let json = report(&url, &["-o", "json"]);
    assert_eq!((json.code(), json.stderr.as_str()), (Some(0), ""));
    let doc = json.json();
    assert_eq!(doc["prometheus"], url.as_str());
    let slos = doc["slos"].as_array().unwrap();
    let ids: Vec<&str> = slos.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["shop-checkout", "shop-payments", "shop-search"]);
    for (slo, objective, budget, days, burn, alerts) in [
        (&slos[0], 0.999, 0.001, 30, 0.5, ["inactive", "inactive"]),
        (&slos[1], 0.995, 0.005, 7, 10.0, ["pending", "firing"]),
        (&slos[2], 0.99, 0.01, 28, 30.0, ["firing", "firing"]),
    ] {
        let id = slo["id"].as_str().unwrap();
        assert_eq!(
            (slo["service"].as_str(), slo["slo"].as_str()),
            (Some("shop"), id.strip_prefix("shop-"))
        );
        assert!(close(&slo["objective"], objective), "{id}: {slo}");
        assert!(close(&slo["error_budget"], budget), "{id}: {slo}");
        assert_eq!(slo["period"], f64::from(days * 86_400), "{id}");
        assert!(close(&slo["current_burn_rate"], burn), "{id}: {slo}");
        assert!(close(&slo["period_burn_rate"], burn), "{id}: {slo}");
        assert!(close(&slo["budget_remaining"], 1.0 - burn), "{id}: {slo}");
        let windows = slo["windows"].as_array().unwrap();
        assert_eq!(windows.len(), 8, "{id}: 7 alert windows and the period");
        for w in windows {
            assert!(close(&w["burn_rate"], burn), "{id}: {w}");
            assert!(close(&w["error_ratio"], burn * budget), "{id}: {w}");
        }
        let period = windows.last().unwrap();
        assert_eq!(period["length"], slo["period"], "{id}");
        let states: Vec<(&str, &str)> = slo["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["severity"].as_str().unwrap(),
                    a["state"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(states, [("page", alerts[0]), ("ticket", alerts[1])], "{id}");
        let history = slo["budget_history"].as_array().unwrap();
        let last = history.last().unwrap_or_else(|| panic!("{id}: no history"));
        assert!(close(&last[1], 1.0 - burn), "{id}: {last}");
    }
    assert_eq!(
        slos[0]["exhaustion"],
        serde_json::json!({"state": "in", "seconds": 30.0 * 86_400.0})
    );
    assert_eq!(
        slos[1]["exhaustion"],
        serde_json::json!({"state": "exhausted"})
    );

    // One SLO, by id; an unknown one is named with those Prometheus has.
    let one = report(&url, &["shop-search"]);
    assert_eq!(
        (one.code(), one.stderr.as_str(), one.stdout.as_str()),
        (
            Some(0),
            "",
            "\
SLO          OBJECTIVE  PERIOD  BUDGET LEFT  BURN NOW  PERIOD BURN  EXHAUSTED IN  ALERTS
shop-search  99%        4w      -2900%       30x       30x          exhausted     page firing, ticket firing

SLO          BURN RATE BY WINDOW
shop-search  5m 30x  30m 30x  1h 30x  2h 30x  6h 30x  1d 30x  3d 30x  4w 30x
"
        )
    );
    let unknown = report(&url, &["shop-cart"]);
    assert_eq!(
        (unknown.code(), unknown.stdout.as_str(), unknown.stderr),
        (
            Some(2),
            "",
            format!("ward slo report: Prometheus at {url} has no SLO \"shop-cart\": no slo:objective:ratio{{sloth_id=\"shop-cart\"}} series (its SLOs: shop-checkout, shop-payments, shop-search)\n")
        )
    );
}

#[test]
fn a_prometheus_without_slo_rules_is_named() {
    let prometheus = Prometheus::builder().start().expect("prometheus starts");
    let url = format!("http://{}", prometheus.addr());
    let r = report(&url, &[]);
    assert_eq!(
        (r.code(), r.stdout.as_str(), r.stderr),
        (
            Some(2),
            "",
            format!("ward slo report: Prometheus at {url} has no SLO recording rules: no slo:objective:ratio series with a sloth_id label (load the rules `ward slo generate` writes)\n")
        )
    );
}

#[test]
fn an_unreachable_prometheus_and_an_unwritable_page_are_one_line() {
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{addr}");
    let r = report(&url, &["-o", "json"]);
    assert_eq!(
        (r.code(), r.stdout.as_str(), r.stderr),
        (
            Some(2),
            "",
            format!("ward slo report: Prometheus at {url} is unreachable: connecting to {addr} ({addr}): Connection refused (os error 111)\n")
        )
    );
    let r = report("ftp://127.0.0.1", &[]);
    assert_eq!(
        (r.code(), r.stdout.as_str(), r.stderr.as_str()),
        (
            Some(2),
            "",
            "ward slo report: Prometheus URL \"ftp://127.0.0.1/\": expected an http:// or https:// URL with a host\n"
        )
    );
    // The page's path is checked first: Prometheus is not asked.
    let r = report(&url, &["--html", "/nonexistent/slo.html"]);
    assert_eq!(
        (r.code(), r.stdout.as_str(), r.stderr.as_str()),
        (
            Some(2),
            "",
            "ward slo report: writing \"/nonexistent/slo.html\": No such file or directory (os error 2)\n"
        )
    );
}

#[test]
fn an_answer_that_is_not_prometheus_names_the_path_and_field() {
    // A value written as a number where Prometheus writes a string.
    let answer = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"slo:objective:ratio","sloth_id":"a"},"value":[1,0.999]}]}}"#;
    let nginx = Nginx::builder()
        .location(
            "= /api/v1/query",
            format!("default_type application/json; return 200 '{answer}';"),
        )
        .start()
        .expect("nginx starts");
    let url = format!("http://{}", nginx.http_addr());
    let r = report(&url, &[]);
    assert_eq!(
        (r.code(), r.stdout.as_str(), r.stderr),
        (
            Some(2),
            "",
            format!("ward slo report: Prometheus at {url}: /api/v1/query: malformed answer: data.result[0].value: expected [time, \"value\"]\n")
        )
    );
    // nginx has no /api/v1/rules: its 404 page, on one line.
    let r = report(&format!("{url}/prefix"), &[]);
    assert_eq!(r.code(), Some(2));
    assert!(
        r.stderr.starts_with(&format!(
            "ward slo report: Prometheus at {url}/prefix: /api/v1/query answered HTTP 404: <html> <head><title>404 Not Found</title></head>"
        )) && r.stderr.lines().count() == 1,
        "{}",
        r.stderr
    );
}

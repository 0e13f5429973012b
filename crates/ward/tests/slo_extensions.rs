//! ward's opt-in spec extensions, `period` per SLO and `for:` on the page
//! and ticket alerts (tests/fixtures/slo/extensions/): they change the
//! rules of the SLOs that use them and nothing else (an SLO without them
//! in the same file is byte for byte what the real sloth writes, which
//! ignores both keys); `for:` stays in the Kubernetes form; `ward slo test`
//! proves them (an alert with `for:` is silent until it has held that
//! long, and rules without the `for:` fail exactly those cases); a bad
//! value is one line naming the file and the field.

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

//! The alerts ward ships, under promtool: every PrometheusRule rendered from
//! the chart into deploy/{nurse,lookup,e2e,control-plane}/ (including the
//! API-server SLO rules `ward slo generate` makes of examples/slo/) runs the
//! `promtool test rules` fixtures in tests/fixtures/alerts/, which must hold
//! for each alert and severity a case where it fires at the expected minute,
//! and for each alert a case where it stays silent (just below its threshold,
//! and on healthy clusters of one node and of three). Every alert links its
//! section in docs/runbooks.md. The chart's SLO rules are byte for byte what
//! `ward slo generate` writes. Negative controls: a rule with a PromQL syntax
//! error fails `promtool check rules`, and a fixture expecting an alert a
//! minute early fails `promtool test rules`, naming the alert.

mod rules_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rules_support::{repo, rule_files, yaml_documents, RuleFile};
use serde_json::Value;
use ward_testkit::prometheus::{promtool_check_rules, promtool_test_rules};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alerts")
}

/// Where the runbook links of every alert point.
const RUNBOOKS: &str = "https://github.com/ward-dev/ward/blob/main/docs/runbooks.md#";

/// Alert name -> the severities it is defined with.
fn alerts(files: &[RuleFile]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in files.iter().flat_map(RuleFile::rules) {
        if let Some(name) = rule["alert"].as_str() {
            let severity = rule["labels"]["severity"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no severity label"));
            out.entry(name.to_string())
                .or_default()
                .insert(severity.to_string());
        }
    }
    out
}

/// Writes `<name>.rules.yaml` for promtool: the groups, with only the
/// `summary` annotation kept (the fixtures compare it; descriptions and
/// runbook links are prose, checked elsewhere).
fn write_for_promtool(dir: &Path, files: &[RuleFile]) {
    for file in files {
        let mut groups = file.groups.clone();
        for group in &mut groups {
            for rule in group["rules"].as_array_mut().unwrap() {
                if let Some(annotations) = rule["annotations"].as_object_mut() {
                    annotations.retain(|k, _| k == "summary");
                }
            }
        }
        let reduced = RuleFile {
            name: file.name.clone(),
            source: file.source.clone(),
            groups,
        };
        std::fs::write(
            dir.join(format!("{}.rules.yaml", file.name)),
            reduced.to_rule_file(),
        )
        .unwrap();
    }
}

/// The fixture files, by file name.
fn fixture_files() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".test.yaml") {
            out.insert(name, yaml_documents(&path).remove(0));
        }
    }
    out
}

#[test]
fn every_alert_fires_on_time_and_stays_silent_below_its_threshold() {
    let files = rule_files();
    let dir = tempfile::tempdir().unwrap();
    write_for_promtool(dir.path(), &files);
    let fixtures_by_name = fixture_files();
    for name in fixtures_by_name.keys() {
        std::fs::copy(fixtures().join(name), dir.path().join(name)).unwrap();
    }

    // promtool evaluates rule groups in a random order unless a fixture lists
    // them all: an alert reading another group's recordings must come after.
    let groups_of: BTreeMap<String, Vec<String>> = files
        .iter()
        .map(|f| {
            let names = f
                .groups
                .iter()
                .map(|g| g["name"].as_str().unwrap().to_string())
                .collect();
            (format!("{}.rules.yaml", f.name), names)
        })
        .collect();
    for (name, fixture) in &fixtures_by_name {
        let loaded: Vec<String> = fixture["rule_files"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| {
                let f = f.as_str().unwrap();
                groups_of
                    .get(f)
                    .unwrap_or_else(|| panic!("{name}: rule file {f} is not rendered from deploy/"))
                    .clone()
            })
            .collect();
        if loaded.len() > 1 {
            let order: Vec<String> = fixture["group_eval_order"]
                .as_array()
                .unwrap_or_else(|| {
                    panic!("{name}: {} groups but no group_eval_order", loaded.len())
                })
                .iter()
                .map(|g| g.as_str().unwrap().to_string())
                .collect();
            let (mut a, mut b) = (order.clone(), loaded.clone());
            a.sort();
            b.sort();
            assert_eq!(a, b, "{name}: group_eval_order must list every group");
        }
    }

    // Run the fixtures (one promtool each, in parallel).
    let started = tokio::time::Instant::now();
    let results: Vec<(String, Result<String, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = fixtures_by_name
            .keys()
            .map(|name| {
                let dir = dir.path();
                s.spawn(move || {
                    (
                        name.clone(),
                        promtool_test_rules(dir, name).map_err(|e| e.to_string()),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("promtool test rules: {:?}", started.elapsed());
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}:\n{e}")))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));

    // Coverage: every alert fires somewhere with each of its severities, and
    // is expected silent somewhere; the fixtures name no alert that does not exist.
    let alerts = alerts(&files);
    let mut fires: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut silent: BTreeSet<String> = BTreeSet::new();
    for (name, fixture) in &fixtures_by_name {
        for case in fixture["tests"].as_array().unwrap() {
            for test in case["alert_rule_test"].as_array().into_iter().flatten() {
                let alert = test["alertname"].as_str().unwrap().to_string();
                assert!(
                    alerts.contains_key(&alert),
                    "{name}: no alert {alert} in deploy/"
                );
                let expected = test["exp_alerts"].as_array().cloned().unwrap_or_default();
                if expected.is_empty() {
                    silent.insert(alert);
                } else {
                    for e in expected {
                        let severity = e["exp_labels"]["severity"].as_str().unwrap_or_default();
                        fires
                            .entry(alert.clone())
                            .or_default()
                            .insert(severity.to_string());
                    }
                }
            }
        }
    }
    for (alert, severities) in &alerts {
        for severity in severities {
            assert!(
                fires.get(alert).is_some_and(|s| s.contains(severity)),
                "no fixture makes {alert} fire with severity {severity}"
            );
        }
        assert!(
            silent.contains(alert),
            "no fixture expects {alert} to stay silent"
        );
    }
    assert_eq!(alerts.len(), 18, "{:?}", alerts.keys());
}

#[test]
fn every_alert_links_its_runbook_section() {
    let files = rule_files();
    let runbooks = std::fs::read_to_string(repo().join("docs/runbooks.md")).unwrap();
    let sections: BTreeSet<&str> = runbooks
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .collect();
    let mut named = BTreeSet::new();
    for file in &files {
        for rule in file.rules() {
            let Some(alert) = rule["alert"].as_str() else {
                continue;
            };
            named.insert(alert);
            assert_eq!(
                rule["annotations"]["runbook_url"].as_str(),
                Some(format!("{RUNBOOKS}{}", alert.to_lowercase()).as_str()),
                "{}: {alert}'s runbook_url",
                file.source.display()
            );
            assert!(
                sections.contains(alert),
                "docs/runbooks.md has no section `## {alert}`"
            );
            assert!(
                rule["annotations"]["summary"].is_string(),
                "{}: {alert} has no summary",
                file.source.display()
            );
        }
    }
    assert_eq!(
        sections, named,
        "docs/runbooks.md: one section per alert, no other"
    );
}

#[test]
fn the_charts_slo_rules_are_what_ward_slo_generates() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["slo", "generate", "-i"])
        .arg(repo().join("examples/slo/kubernetes-apiserver.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = "deploy/helm/ward/files/slo/kubernetes-apiserver.yaml";
    let have = std::fs::read_to_string(repo().join(committed)).unwrap();
    assert!(
        have == String::from_utf8_lossy(&out.stdout),
        "{committed} differs from `ward slo generate`: run `cargo run -p ward -- slo generate -i examples/slo/kubernetes-apiserver.yaml -o {committed}` and then `bash scripts/render-manifests.sh`"
    );
}

#[test]
fn a_syntax_error_or_a_wrong_expectation_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.rules.yaml");
    std::fs::write(
        &broken,
        "groups:\n  - name: broken\n    rules:\n      - alert: WardBroken\n        expr: sum by (type) (rate(kubenurse_errors_total[5m]) > 0\n",
    )
    .unwrap();
    let error = promtool_check_rules(&broken).unwrap_err().to_string();
    assert!(
        error.contains("broken.rules.yaml") && error.contains("parse error"),
        "{error}"
    );

    // The nurse rules with a fixture that expects WardNursePathFailing one
    // minute before it fires.
    let files: Vec<RuleFile> = rule_files()
        .into_iter()
        .filter(|f| f.name == "ward-nurse")
        .collect();
    write_for_promtool(dir.path(), &files);
    std::fs::write(
        dir.path().join("early.test.yaml"),
        r#"rule_files: [ward-nurse.rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'kubenurse_httpclient_requests_total{type="path_node-b",code="200"}'
        values: '0+54x30'
      - series: 'kubenurse_errors_total{type="path_node-b",event="got_conn"}'
        values: '0+6x30'
    alert_rule_test:
      - eval_time: 10m
        alertname: WardNursePathFailing
        exp_alerts:
          - exp_labels: {severity: warning, type: path_node-b}
"#,
    )
    .unwrap();
    let error = promtool_test_rules(dir.path(), "early.test.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("alertname: WardNursePathFailing, time: 10m"),
        "{error}"
    );
}

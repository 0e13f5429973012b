//! deploy/dashboards/*.json and the Helm chart's copy are exactly what the
//! definitions in this crate render (no hand edits, no stale or missing files), and each dashboard is
//! well formed: unique uids and panel ids, every query on the `datasource`
//! variable, every `$variable` a query uses defined (or one of Grafana's).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

const FIX: &str = "run `cargo run -p ward-dashboards --example write` and commit the result";

#[test]
fn deploy_dashboards_are_the_generated_ones() {
    let boards = ward_dashboards::all();
    let want: BTreeSet<String> = boards.iter().map(|b| format!("{}.json", b.file)).collect();
    for dir in ward_dashboards::OUTPUT_DIRS {
        let have: BTreeSet<String> = std::fs::read_dir(deploy().join(dir))
            .unwrap_or_else(|e| panic!("deploy/{dir}: {e}: {FIX}"))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            have, want,
            "deploy/{dir}/ holds other files than the generator writes: {FIX}"
        );
        for board in &boards {
            let name = format!("{}.json", board.file);
            let committed = std::fs::read_to_string(deploy().join(dir).join(&name)).unwrap();
            assert!(
                committed == board.render(),
                "deploy/{dir}/{name} differs from its definition: {FIX}"
            );
        }
    }
}

/// Every `$name` / `${name}` in `text` (not `$1`, a regex group).
fn variables_used(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let braced = rest.starts_with('{');
        let body = if braced { &rest[1..] } else { rest };
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            out.insert(name);
        }
    }
    out
}

#[test]
fn every_dashboard_is_well_formed() {
    let grafana = ["__rate_interval", "__range", "__interval"];
    let mut uids = BTreeSet::new();
    for board in ward_dashboards::all() {
        let json = board.to_json();
        assert!(uids.insert(board.uid), "uid {} twice", board.uid);
        assert_eq!(json["schemaVersion"], 42);
        let defined: BTreeSet<String> = json["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect();
        assert!(defined.contains("datasource"), "{}", board.file);
        let mut ids = BTreeSet::new();
        let mut queries = 0;
        for panel in json["panels"].as_array().unwrap() {
            let title = panel["title"].as_str().unwrap();
            assert!(
                ids.insert(panel["id"].as_u64().unwrap()),
                "{}: id twice",
                board.file
            );
            let gp = &panel["gridPos"];
            assert!(
                gp["x"].as_u64().unwrap() + gp["w"].as_u64().unwrap() <= 24,
                "{}: {title}",
                board.file
            );
            let mut used = variables_used(title);
            if let Some(r) = panel["repeat"].as_str() {
                used.insert(r.to_string());
            }
            for target in panel["targets"].as_array().into_iter().flatten() {
                queries += 1;
                assert_eq!(
                    target["datasource"]["uid"], "${datasource}",
                    "{}: {title}",
                    board.file
                );
                let expr = target["expr"].as_str().unwrap();
                assert!(!expr.is_empty(), "{}: {title}", board.file);
                used.extend(variables_used(expr));
            }
            for name in used {
                assert!(
                    defined.contains(&name) || grafana.contains(&name.as_str()),
                    "{}: panel {title:?} uses ${name}, which is not defined",
                    board.file
                );
            }
        }
        assert!(queries >= 10, "{}: {queries} queries", board.file);
    }
    assert_eq!(uids.len(), 5);
}

#[test]
fn variable_references_are_found_but_regex_groups_are_not() {
    let used = variables_used(
        r#"label_replace(x{a=~"$job"}, "d", "$1", "t", "p_(.*)") / ${min_burning_rate} [$__rate_interval]"#,
    );
    assert_eq!(
        used.into_iter().collect::<Vec<_>>(),
        ["__rate_interval", "job", "min_burning_rate"]
    );
}

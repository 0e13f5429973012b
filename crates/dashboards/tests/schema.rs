//! Every dashboard validates against Grafana's published dashboard schema:
//! `dashcheck` (scripts/deps.d/dashcheck.sh, the Apache-2.0
//! grafana-foundation-sdk's strict unmarshal and Validate) accepts each file
//! under deploy/dashboards/, and rejects a deliberately broken one (a
//! misspelt query field and an option of the wrong type), naming the file and
//! the field's path: the negative control that the check checks.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dashcheck() -> PathBuf {
    let path = ward_testkit::kube::tools_dir().join("bin/dashcheck");
    assert!(
        path.is_file(),
        "{} not found: run `bash scripts/deps.d/dashcheck.sh` (or scripts/install-test-deps.sh)",
        path.display()
    );
    path
}

fn run(files: &[&Path]) -> (bool, String) {
    let out = Command::new(dashcheck()).args(files).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_dashboard_passes_the_schema_and_a_broken_one_fails() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/dashboards");
    let files: Vec<PathBuf> = ward_dashboards::all()
        .iter()
        .map(|b| dir.join(format!("{}.json", b.file)))
        .collect();
    let (ok, out) = run(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    assert!(ok, "{out}");
    for f in &files {
        assert!(out.contains(&format!("ok {}", f.display())), "{out}");
    }

    let tmp = tempfile::tempdir().unwrap();
    let mut broken = ward_dashboards::nurse().to_json();
    let panel = broken["panels"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["type"] == "timeseries")
        .unwrap();
    let expr = panel["targets"][0]["expr"].take();
    panel["targets"][0]
        .as_object_mut()
        .unwrap()
        .insert("exprr".into(), expr);
    panel["options"]["legend"]["showLegend"] = "yes".into();
    let path = tmp.path().join("broken.json");
    std::fs::write(&path, serde_json::to_string(&broken).unwrap()).unwrap();
    let (ok, out) = run(&[&path]);
    assert!(!ok, "the broken dashboard passed: {out}");
    assert!(out.contains(&format!("FAIL {}", path.display())), "{out}");
    assert!(out.contains("unexpected field 'exprr'"), "{out}");
}

//! Conformance of `ward slo` with sloth v0.16.0: runs every `generate`,
//! `generate-plugin` and `validate` row of
//! `../shared/conformance/sloth/cases.tsv` through the real `ward` binary.
//! Generated output must equal the golden byte for byte except the one
//! header comment line, and must load in `promtool check rules`.

mod slo_support;

use std::path::PathBuf;

use slo_support::{promtool_check, render_golden, same_except_header, ward};

fn conformance_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/sloth"
    ))
}

struct Case {
    kind: String,
    args: Vec<String>,
    expected: String,
}

fn cases() -> Vec<Case> {
    let tsv = std::fs::read_to_string(conformance_dir().join("cases.tsv"))
        .expect("read ../shared/conformance/sloth/cases.tsv");
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "bad cases.tsv row: {l}");
            Case {
                kind: cols[0].to_string(),
                args: cols[1].split_whitespace().map(str::to_string).collect(),
                expected: cols[2].to_string(),
            }
        })
        .collect()
}

#[test]
fn generate_rows_match_goldens() {
    let dir = conformance_dir();
    let mut checked = 0;
    for c in cases().iter().filter(|c| c.kind == "generate") {
        let mut args = vec!["slo".to_string(), "generate".to_string()];
        args.extend(c.args.iter().cloned());
        let out = ward(&dir, &args, &[]);
        if c.expected == "error" {
            assert_eq!(out.code, 1, "{:?} should fail with exit 1", c.args);
            assert!(
                out.stderr.contains("in-invalid-version.yaml"),
                "{}",
                out.stderr
            );
            checked += 1;
            continue;
        }
        assert_eq!(out.code, 0, "{:?} failed: {}", c.args, out.stderr);
        let golden =
            render_golden(&std::fs::read_to_string(dir.join(&c.expected)).expect("golden"));
        if let Err(diff) = same_except_header(&golden, &out.stdout) {
            panic!("{:?} differs from {}:\n{diff}", c.args, c.expected);
        }
        promtool_check(&out.stdout, &format!("{:?}", c.args));
        checked += 1;
    }
    assert_eq!(checked, 11, "cases.tsv has 11 generate rows");
}

#[test]
fn generate_plugin_rows_name_the_unknown_plugin() {
    // User Go plugins cannot run here; these rows must fail cleanly, naming the plugin id.
    let dir = conformance_dir();
    let mut checked = 0;
    for c in cases().iter().filter(|c| c.kind == "generate-plugin") {
        let mut args = vec!["slo".to_string(), "generate".to_string()];
        args.extend(c.args.iter().cloned());
        let out = ward(&dir, &args, &[]);
        assert_eq!(out.code, 1, "{:?}: {}", c.args, out.stderr);
        assert!(out.stdout.is_empty(), "no partial output on stdout");
        assert!(
            out.stderr.contains("\"integration_test\" not found")
                || out
                    .stderr
                    .contains("\"integration-tests/plugin1\" not found"),
            "{}",
            out.stderr
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn validate_rows_pass_or_fail_like_sloth() {
    let dir = conformance_dir();
    let mut checked = 0;
    for c in cases().iter().filter(|c| c.kind == "validate") {
        let mut args = vec!["slo".to_string(), "validate".to_string()];
        args.extend(c.args.iter().cloned());
        let out = ward(&dir, &args, &[]);
        match c.expected.as_str() {
            "ok" => assert_eq!(out.code, 0, "{:?}: {}", c.args, out.stderr),
            _ => {
                assert_eq!(out.code, 1, "{:?}: {}", c.args, out.stderr);
                assert!(
                    out.stderr.contains("testdata/"),
                    "error names the file: {}",
                    out.stderr
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 13, "cases.tsv has 13 validate rows");
}

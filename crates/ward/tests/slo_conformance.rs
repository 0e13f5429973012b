//! Conformance of `ward slo` with sloth v0.16.0: every row of
//! `tests/fixtures/slo/conformance/cases.tsv` runs through the real sloth
//! (built by `scripts/deps.d/sloth.sh`) and the real `ward` binary with the
//! same arguments in that folder. sloth's output is the expectation:
//! generated output must equal it byte for byte except the one header
//! comment line (and must load in `promtool check rules`); where sloth
//! fails, ward fails with sloth's reason; `validate` reports the same files
//! with the same messages.

mod slo_support;

use std::path::PathBuf;

use slo_support::{
    promtool_check, same_except_header, sloth, sloth_failures, sloth_logged, ward, ward_failures,
    Run,
};

fn conformance_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/slo/conformance"
    ))
}

struct Case {
    kind: String,
    args: Vec<String>,
    expect: String,
}

fn cases(kind: &str) -> Vec<Case> {
    let path = conformance_dir().join("cases.tsv");
    let tsv = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "bad cases.tsv row: {l}");
            Case {
                kind: cols[0].to_string(),
                args: cols[1].split_whitespace().map(str::to_string).collect(),
                expect: cols[2].to_string(),
            }
        })
        .filter(|c| c.kind == kind)
        .collect()
}

/// Runs one case through sloth (logs on when `logged`) and ward: `sloth <cmd> args`, `ward slo <cmd> args`.
fn run_both(cmd: &str, c: &Case, logged: bool) -> (Run, Run) {
    let dir = conformance_dir();
    let mut args = vec![cmd];
    args.extend(c.args.iter().map(String::as_str));
    let want = if logged {
        sloth_logged(&dir, &args)
    } else {
        sloth(&dir, &args)
    };
    let mut wargs = vec!["slo".to_string()];
    wargs.extend(args.iter().map(|a| a.to_string()));
    (want, ward(&dir, &wargs, &[]))
}

/// The reason sloth gives for a failed command: its `error: "<cmd>" command failed: ...` line, after the last `: `.
fn sloth_reason(r: &Run) -> &str {
    let line = r
        .stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("error: \""))
        .unwrap_or_else(|| panic!("sloth printed no error line: {}", r.stderr));
    line.rsplit(": ").next().unwrap_or(line)
}

/// The input file a case names (`--input <path>`).
fn input_of(c: &Case) -> &str {
    let i = c
        .args
        .iter()
        .position(|a| a == "--input")
        .expect("case has --input");
    &c.args[i + 1]
}

#[test]
fn generate_rows_match_sloth() {
    let mut checked = 0;
    for c in cases("generate") {
        let (want, got) = run_both("generate", &c, false);
        match c.expect.as_str() {
            "same" => {
                assert_eq!(want.code, 0, "sloth {:?} failed: {}", c.args, want.stderr);
                assert_eq!(got.code, 0, "{:?} failed: {}", c.args, got.stderr);
                assert!(want.stdout.contains("groups:"), "sloth wrote rules");
                if let Err(diff) = same_except_header(&want.stdout, &got.stdout) {
                    panic!("{:?} differs from sloth:\n{diff}", c.args);
                }
                promtool_check(&got.stdout, &format!("{:?}", c.args));
            }
            "error" => {
                assert_ne!(want.code, 0, "sloth {:?} should fail", c.args);
                assert_eq!(got.code, 1, "{:?} should fail with exit 1", c.args);
                assert!(got.stdout.is_empty(), "no partial output on stdout");
                assert_eq!(
                    got.stderr.trim_end(),
                    format!("ward slo: {}: {}", input_of(&c), sloth_reason(&want)),
                    "{:?}",
                    c.args
                );
            }
            other => panic!("bad expectation {other:?} in cases.tsv"),
        }
        checked += 1;
    }
    assert_eq!(checked, 11, "cases.tsv has 11 generate rows");
}

#[test]
fn generate_plugin_rows_name_the_unknown_plugin() {
    // Plugins that are not built in (sloth loads them from --plugins-path) fail in both, naming the id.
    let mut checked = 0;
    for c in cases("generate-plugin") {
        let (want, got) = run_both("generate", &c, false);
        let not_found = format!("plugin {:?} not found: resource not found", c.expect);
        assert_ne!(want.code, 0, "sloth {:?} should fail", c.args);
        assert!(want.stderr.contains(&not_found), "sloth: {}", want.stderr);
        assert_eq!(got.code, 1, "{:?}: {}", c.args, got.stderr);
        assert!(got.stdout.is_empty(), "no partial output on stdout");
        let line = got.stderr.trim_end();
        assert!(
            line.starts_with(&format!("ward slo: {}: ", input_of(&c)))
                && line.ends_with(&not_found),
            "names the file and the id: {line}"
        );
        assert!(
            line.contains("invalid slo \"checkout-requests-availability\""),
            "names the SLO: {line}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3, "cases.tsv has 3 generate-plugin rows");
}

/// A failure message as compared: the query parser's own wording after
/// `query expression: ` is cut (ward parses PromQL with promql-parser, whose
/// messages are not Prometheus's; that the query is rejected is what counts).
fn comparable(msg: &str) -> String {
    const AT: &str = "query expression: ";
    match msg.find(AT) {
        Some(i) => format!("{}<parser message>", &msg[..i + AT.len()]),
        None => msg.to_string(),
    }
}

#[test]
fn validate_rows_fail_like_sloth() {
    let mut checked = 0;
    let mut failures = 0;
    for c in cases("validate") {
        let (want, got) = run_both("validate", &c, true);
        let ok = c.expect == "ok";
        assert_eq!(want.code == 0, ok, "sloth {:?}: {}", c.args, want.stderr);
        assert_eq!(
            got.code,
            if ok { 0 } else { 1 },
            "{:?}: {}",
            c.args,
            got.stderr
        );
        let expected = sloth_failures(&want, comparable);
        assert_eq!(ward_failures(&got, comparable), expected, "{:?}", c.args);
        if !ok && expected.is_empty() {
            let last = got.stderr.trim_end().lines().last().unwrap_or_default();
            assert!(
                last.starts_with("ward slo: ")
                    && last.ends_with(&format!(": {}", sloth_reason(&want))),
                "{:?}: {last}",
                c.args
            );
        }
        failures += expected.len();
        checked += 1;
    }
    assert_eq!(checked, 13, "cases.tsv has 13 validate rows");
    assert!(failures >= 20, "only {failures} file failures compared");
}

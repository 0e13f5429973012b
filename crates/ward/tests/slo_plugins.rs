//! Native SLO plugins against the real sloth v0.16.0: specs in
//! `tests/fixtures/slo/plugins/` use sloth's core and contrib plugin ids
//! (info_labels, rule_intervals, error_budget_exhausted_alert,
//! remove_labels, denominator_corrected_rules, debug, noop, priorities,
//! overridePrevious, `-s` CLI plugins); ward's output must equal sloth's
//! except the header line. Unknown ids must fail naming the id.

mod slo_support;

use std::path::PathBuf;

use slo_support::{promtool_check, same_except_header, sloth, ward};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/slo/plugins"
    ))
}

#[test]
fn contrib_and_core_plugins_match_sloth() {
    let dir = fixtures();
    let cli_plugin = r#"{"id":"sloth.dev/contrib/info_labels/v1","priority":5,"config":{"labels":{"cli":"yes"}}}"#;
    let cases: Vec<Vec<&str>> = vec![
        vec!["generate", "-i", "contrib.yaml"],
        vec!["generate", "-i", "k8s-denom.yaml"],
        vec!["generate", "-i", "contrib.yaml", "-s", cli_plugin],
        vec![
            "generate",
            "-i",
            "contrib.yaml",
            "--default-slo-period",
            "28d",
            "-l",
            "env=prod",
        ],
    ];
    for args in cases {
        let want = sloth(&dir, &args);
        assert_eq!(want.code, 0, "sloth {args:?}: {}", want.stderr);
        let expected = want.stdout;
        let mut wargs = vec!["slo".to_string()];
        wargs.extend(args.iter().map(|s| s.to_string()));
        let got = ward(&dir, &wargs, &[]);
        assert_eq!(got.code, 0, "{args:?}: {}", got.stderr);
        if let Err(d) = same_except_header(&expected, &got.stdout) {
            panic!("{args:?} differs from sloth: {d}");
        }
        promtool_check(&got.stdout, &format!("{args:?}"));
    }
}

#[test]
fn unknown_plugin_ids_are_named() {
    let dir = fixtures();
    let got = ward(
        &dir,
        &[
            "slo".into(),
            "generate".into(),
            "-i".into(),
            "contrib.yaml".into(),
            "-s".into(),
            r#"{"id":"example.com/my/plugin/v1"}"#.into(),
        ],
        &[],
    );
    assert_eq!(got.code, 1);
    assert!(got.stdout.is_empty());
    assert!(
        got.stderr
            .contains("\"example.com/my/plugin/v1\" not found"),
        "{}",
        got.stderr
    );
}

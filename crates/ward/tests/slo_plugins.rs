//! Native SLO plugins against the real sloth v0.16.0: specs in
//! `tests/fixtures/slo/plugins/` use sloth's core and contrib plugin ids
//! (info_labels, rule_intervals, error_budget_exhausted_alert,
//! remove_labels, denominator_corrected_rules, debug, noop, priorities,
//! overridePrevious, `-s` CLI plugins); ward's output must equal sloth's
//! except the header line. Unknown ids must fail naming the id.

mod slo_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use slo_support::{promtool_check, same_except_header, ward};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/slo/plugins"
    ))
}

fn sloth_bin() -> PathBuf {
    let tools = std::env::var("WARD_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let cache = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| {
                    PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("ward/tools")
        });
    let p = tools.join("bin/sloth");
    assert!(
        p.is_file(),
        "sloth v0.16.0 not found at {}: run scripts/install-test-deps.sh",
        p.display()
    );
    p
}

fn sloth(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(sloth_bin())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run sloth");
    assert!(
        out.status.success(),
        "sloth {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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
        let expected = sloth(&dir, &args);
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

//! Native SLO plugins against the real sloth v0.16.0: specs in
//! `tests/fixtures/slo/plugins/` use sloth's core and contrib plugin ids
//! (info_labels, rule_intervals, error_budget_exhausted_alert,
//! remove_labels, denominator_corrected_rules, validate_victoria_metrics,
//! debug, noop, priorities, overridePrevious, `-s` CLI plugins); ward's
//! output must equal sloth's except the header line, and MetricsQL queries
//! must be accepted and rejected like sloth does. Every plugin id in the
//! sloth module `scripts/deps.d/sloth.sh` builds must be known to ward;
//! unknown ids fail naming the id, the file and the SLO.

mod slo_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use slo_support::{
    promtool_check, same_except_header, sloth, sloth_failures, sloth_logged, ward, ward_failures,
};

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
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["generate", "-i", "contrib.yaml"],
        vec!["generate", "-i", "k8s-denom.yaml"],
        vec!["generate", "-i", "victoria-metrics.yaml"],
        vec!["generate", "-i", "victoria-metrics-k8s.yaml"],
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
    let mut vm_cli = vec!["generate", "-i", "victoria-metrics-plain.yaml"];
    vm_cli.extend(VICTORIA_METRICS_CHAIN);
    cases.push(vm_cli);
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
        if !args.iter().any(|a| a.contains("victoria-metrics")) {
            // MetricsQL rules are for VictoriaMetrics (vmalert), not promtool.
            promtool_check(&got.stdout, &format!("{args:?}"));
        }
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
    assert_eq!(
        got.stderr,
        "ward slo: contrib.yaml: invalid slo \"myservice-requests-availability\" (field plugins): \
         could not get SLO plugin \"example.com/my/plugin/v1\": \
         plugin \"example.com/my/plugin/v1\" not found: resource not found\n"
    );
    let got = ward(
        &dir,
        &[
            "slo".into(),
            "generate".into(),
            "-i".into(),
            "k8s-denom.yaml".into(),
            "--k8s-transform-plugin-id".into(),
            "example.com/transform/v1".into(),
        ],
        &[],
    );
    assert_eq!(got.code, 1);
    assert_eq!(
        got.stderr,
        "ward slo: --k8s-transform-plugin-id: could not get k8s transformer plugin \"example.com/transform/v1\": \
         plugin \"example.com/transform/v1\" not found: resource not found\n"
    );
}

/// `--disable-default-slo-plugins` and the chain of sloth's README for VictoriaMetrics backends.
const VICTORIA_METRICS_CHAIN: [&str; 9] = [
    "--disable-default-slo-plugins",
    "-s",
    r#"{"id": "sloth.dev/contrib/validate_victoria_metrics/v1"}"#,
    "-s",
    r#"{"id": "sloth.dev/core/sli_rules/v1"}"#,
    "-s",
    r#"{"id": "sloth.dev/core/metadata_rules/v1"}"#,
    "-s",
    r#"{"id": "sloth.dev/core/alert_rules/v1"}"#,
];

/// A validation message as compared: label regexps are compiled by Go's
/// `regexp` in sloth and the `regex` crate in ward, whose error wordings
/// differ, and metricsql prints a duplicate WITH name with a Go pointer.
fn comparable(msg: &str) -> String {
    for at in ["invalid regexp in ", "duplicate `with` arg name for: "] {
        if let Some(i) = msg.find(at) {
            return format!("{}<detail>", &msg[..i + at.len()]);
        }
    }
    msg.to_string()
}

#[test]
fn victoria_metrics_queries_are_validated_like_sloth() {
    let list = fixtures().join("metricsql-queries.txt");
    let text = std::fs::read_to_string(&list).unwrap_or_else(|e| panic!("{}: {e}", list.display()));
    let queries: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    for (i, q) in queries.iter().enumerate() {
        let spec = format!(
            "version: \"prometheus/v1\"\nservice: \"vm\"\nslos:\n  - name: \"q{i:02}\"\n    objective: 99.9\n    sli:\n      raw:\n        error_ratio_query: |-\n          {q}\n    alerting:\n      page_alert: {{disable: true}}\n      ticket_alert: {{disable: true}}\n"
        );
        std::fs::write(tmp.path().join(format!("q{i:02}.yaml")), spec).expect("write spec");
    }
    let mut args = vec!["validate", "-i", "."];
    args.extend(VICTORIA_METRICS_CHAIN);
    let want = sloth_logged(tmp.path(), &args);
    let mut wargs = vec!["slo".to_string()];
    wargs.extend(args.iter().map(|a| a.to_string()));
    let got = ward(tmp.path(), &wargs, &[]);
    let expected = sloth_failures(&want, comparable);
    assert_eq!(ward_failures(&got, comparable), expected);
    assert_eq!((want.code, got.code), (1, 1), "{}", got.stderr);
    let rejected = expected.len();
    assert!(
        (15..=queries.len() - 15).contains(&rejected),
        "{rejected} of {} queries rejected: the list should exercise both",
        queries.len()
    );
}

/// The Go module cache holding the sloth module `scripts/deps.d/sloth.sh` installs from.
fn sloth_module_dir() -> PathBuf {
    let cache = std::env::var("GOMODCACHE")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let out = Command::new("go")
                .args(["env", "GOMODCACHE"])
                .output()
                .ok()?;
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !dir.is_empty()).then_some(dir)
        })
        .unwrap_or_else(|| format!("{}/go/pkg/mod", std::env::var("HOME").unwrap_or_default()));
    let dir = Path::new(&cache).join("github.com/slok/sloth@v0.16.0");
    assert!(
        dir.join("go.mod").is_file(),
        "the sloth v0.16.0 module source is not at {}: run scripts/deps.d/sloth.sh (scripts/install-test-deps.sh runs it)",
        dir.display()
    );
    dir
}

/// `PluginID = "..."` constants of the Go files sloth builds into its binary
/// (not its tests or examples, whose plugins are loaded from a path): (id, file).
fn shipped_plugin_ids(dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if p.is_dir() {
            if !matches!(name, "test" | "examples" | "testdata" | "testing") {
                shipped_plugin_ids(&p, out);
            }
            continue;
        }
        if !name.ends_with(".go") || name.ends_with("_test.go") {
            continue;
        }
        let src = std::fs::read_to_string(&p).unwrap_or_default();
        for line in src.lines() {
            let Some(rest) = line.trim_start().strip_prefix("PluginID") else {
                continue;
            };
            let Some(value) = rest.trim_start().strip_prefix('=') else {
                continue;
            };
            if let Some(id) = value
                .trim()
                .strip_prefix('"')
                .and_then(|v| v.split('"').next())
            {
                out.push((id.to_string(), p.clone()));
            }
        }
    }
}

/// sloth's own count of the plugins it loaded (`slo-plugins=N`, `k8s-transform-plugins=N` in its log).
fn sloth_loaded_plugins(key: &str) -> usize {
    let run = sloth_logged(&fixtures(), &["generate", "-i", "k8s-denom.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = slo_support::strip_ansi(&run.stderr);
    let line = log
        .lines()
        .find(|l| l.contains("Plugins loaded"))
        .unwrap_or_else(|| panic!("sloth logged no \"Plugins loaded\" line: {log}"));
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(&format!("{key}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {line}"))
}

#[test]
fn every_plugin_id_sloth_ships_is_known() {
    let module = sloth_module_dir();
    let mut found = Vec::new();
    shipped_plugin_ids(&module, &mut found);
    let (k8s, slo): (Vec<_>, Vec<_>) = found
        .iter()
        .partition(|(_, file)| file.to_string_lossy().contains("k8stransform"));
    assert_eq!(slo.len(), sloth_loaded_plugins("slo-plugins"), "{slo:?}");
    assert_eq!(
        k8s.len(),
        sloth_loaded_plugins("k8s-transform-plugins"),
        "{k8s:?}"
    );
    let unknown: Vec<&String> = found
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !ward_slo::plugins::is_known_plugin_id(id))
        .collect();
    assert!(
        unknown.is_empty(),
        "plugin ids sloth v0.16.0 ships that ward does not know: {unknown:?}"
    );
    // And the binary takes each by its id (a config error is fine here, "not found" is not).
    for (id, _) in &slo {
        let got = ward(
            &fixtures(),
            &[
                "slo".into(),
                "generate".into(),
                "-i".into(),
                "contrib.yaml".into(),
                "-s".into(),
                format!(r#"{{"id": {id:?}}}"#),
            ],
            &[],
        );
        assert!(!got.stderr.contains("not found"), "{id}: {}", got.stderr);
    }
    for (id, _) in &k8s {
        let got = ward(
            &fixtures(),
            &[
                "slo".into(),
                "generate".into(),
                "-i".into(),
                "k8s-denom.yaml".into(),
                "--k8s-transform-plugin-id".into(),
                id.clone(),
            ],
            &[],
        );
        assert_eq!(got.code, 0, "{id}: {}", got.stderr);
    }
}

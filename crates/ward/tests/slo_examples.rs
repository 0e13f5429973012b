//! The SLO examples in `examples/slo/` (Kubernetes API server SLOs and SLOs
//! over ward's own nurse/lookup metrics) validate, generate in directory
//! mode, load in `promtool check rules`, equal sloth's output, and pass
//! `ward slo test` (on raw counters too where the SLI allows).

mod slo_support;

use std::path::PathBuf;

use slo_support::{promtool, promtool_check, same_except_header, sloth, ward, ward_slo};

fn examples() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/slo"))
}

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn examples_validate_and_generate() {
    let dir = examples();
    let v = ward(&dir, &[s("slo"), s("validate"), s("-i"), s(".")], &[]);
    assert_eq!(v.code, 0, "{}", v.stderr);

    let out = tempfile::tempdir().expect("tempdir");
    let g = ward(
        &dir,
        &[
            s("slo"),
            s("generate"),
            s("-i"),
            s("."),
            s("-o"),
            out.path().display().to_string(),
        ],
        &[],
    );
    assert_eq!(g.code, 0, "{}", g.stderr);
    for name in ["kubernetes-apiserver.yaml", "ward-nurse-lookup.yaml"] {
        let text = std::fs::read_to_string(out.path().join(name)).expect("generated file");
        assert!(text.contains("record: slo:sli_error:ratio_rate30d"));
        promtool_check(&text, name);
    }
    let api = std::fs::read_to_string(out.path().join("kubernetes-apiserver.yaml")).expect("read");
    for slo in ["availability", "read-latency", "write-latency"] {
        assert!(
            api.contains(&format!("sloth_id: kubernetes-apiserver-{slo}")),
            "{slo}"
        );
    }
}

#[test]
fn examples_match_sloth() {
    let dir = examples();
    for name in ["kubernetes-apiserver.yaml", "ward-nurse-lookup.yaml"] {
        let want = sloth(&dir, &["generate", "-i", name]);
        assert_eq!(want.code, 0, "sloth {name}: {}", want.stderr);
        let got = ward(&dir, &[s("slo"), s("generate"), s("-i"), s(name)], &[]);
        assert_eq!(got.code, 0, "{}", got.stderr);
        if let Err(d) = same_except_header(&want.stdout, &got.stdout) {
            panic!("{name}: {d}");
        }
    }
}

#[test]
fn examples_pass_slo_test() {
    let promtool = promtool().display().to_string();
    let r = ward_slo(
        &examples(),
        &["test", "-i", ".", "--promtool", &promtool],
        &[],
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{}", r.stdout);
    let summary = "\
8 SLOs, 62 cases: 62 passed, 0 failed
kubernetes-apiserver-read-latency: no raw-traffic cases: the error query reads 4 series selectors, not one
kubernetes-apiserver-write-latency: no raw-traffic cases: the error query reads 2 series selectors, not one
ward-nurse-check-latency: no raw-traffic cases: the error query reads 2 series selectors, not one
";
    assert!(r.stdout.ends_with(summary), "{}", r.stdout);
}

//! Bad input to `ward slo`: malformed YAML, wrong types, unknown fields, an
//! empty directory, output == input, a failing file among good ones. Each is
//! a one-line error naming the file (and field), exit 1, and no partial
//! output left behind; usage and IO errors exit 2; flags read `SLOTH_*`.

mod slo_support;

use std::path::Path;

use slo_support::ward;

const GOOD: &str = r#"version: "prometheus/v1"
service: "svc"
slos:
  - name: "avail"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting:
      name: Avail
"#;

fn s(x: &str) -> String {
    x.to_string()
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

fn gen_file(dir: &Path, input: &str, extra: &[&str]) -> slo_support::Run {
    let mut args = vec![
        s("slo"),
        s("generate"),
        s("-i"),
        s(input),
        s("-o"),
        s("out.yaml"),
    ];
    args.extend(extra.iter().map(|x| s(x)));
    ward(dir, &args, &[])
}

#[test]
fn malformed_yaml_is_one_line_exit_1_and_no_output() {
    let d = tempfile::tempdir().expect("tempdir");
    write(
        d.path(),
        "bad.yaml",
        "version: \"prometheus/v1\"\nservice: svc\nslos:\n  - name: a\n    objective: [1\n",
    );
    let r = gen_file(d.path(), "bad.yaml", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("bad.yaml") && r.stderr.contains("line"),
        "{}",
        r.stderr
    );
    assert!(!d.path().join("out.yaml").exists());
    assert_eq!(
        std::fs::read_dir(d.path()).expect("ls").count(),
        1,
        "no temp files left"
    );
}

#[test]
fn wrong_type_names_the_field() {
    let d = tempfile::tempdir().expect("tempdir");
    write(
        d.path(),
        "t.yaml",
        &GOOD.replace("objective: 99.9", "objective: \"high\""),
    );
    let r = gen_file(d.path(), "t.yaml", &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("t.yaml") && r.stderr.contains("slos[0].objective"),
        "{}",
        r.stderr
    );
    write(
        d.path(),
        "l.yaml",
        &GOOD.replace(
            "    objective: 99.9\n",
            "    objective: 99.9\n    labels: [a, b]\n",
        ),
    );
    let r = gen_file(d.path(), "l.yaml", &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("slos[0].labels"), "{}", r.stderr);
}

#[test]
fn validation_errors_name_file_slo_and_field() {
    let d = tempfile::tempdir().expect("tempdir");
    write(
        d.path(),
        "v.yaml",
        &GOOD.replace("objective: 99.9", "objective: 101"),
    );
    let r = ward(
        d.path(),
        &[s("slo"), s("validate"), s("-i"), s("v.yaml")],
        &[],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("v.yaml: invalid slo \"svc-avail\" (field objective)")
            && r.stderr.contains("objective must >0 and <=100"),
        "{}",
        r.stderr
    );
}

#[test]
fn unknown_fields_warn_like_sloth_and_fail_with_strict() {
    let d = tempfile::tempdir().expect("tempdir");
    write(
        d.path(),
        "u.yaml",
        &GOOD.replace(
            "      name: Avail\n",
            "      name: Avail\n      pageAlert: {disable: true}\n",
        ),
    );
    let r = gen_file(d.path(), "u.yaml", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("u.yaml: unknown field slos[0].alerting.pageAlert"),
        "{}",
        r.stderr
    );
    let r = gen_file(d.path(), "u.yaml", &["--strict"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("slos[0].alerting.pageAlert"),
        "{}",
        r.stderr
    );
}

#[test]
fn directories_empty_same_and_partial() {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(d.path().join("empty")).expect("mkdir");
    std::fs::create_dir_all(d.path().join("out")).expect("mkdir");
    let r = ward(
        d.path(),
        &[
            s("slo"),
            s("generate"),
            s("-i"),
            s("empty"),
            s("-o"),
            s("out"),
        ],
        &[],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("empty: 0 slo specs have been discovered"),
        "{}",
        r.stderr
    );

    write(d.path(), "in/a.yaml", GOOD);
    let r = ward(
        d.path(),
        &[s("slo"), s("generate"), s("-i"), s("in"), s("-o"), s("in")],
        &[],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("input and output can't be the same directory"),
        "{}",
        r.stderr
    );

    // One bad file among good ones: nothing is written at all.
    write(d.path(), "in/nested/b.yaml", GOOD);
    write(
        d.path(),
        "in/z-bad.yaml",
        "version: \"prometheus/v1\"\nservice: svc2\nslos: 7\n",
    );
    let r = ward(
        d.path(),
        &[s("slo"), s("generate"), s("-i"), s("in"), s("-o"), s("out")],
        &[],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("z-bad.yaml"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_dir(d.path().join("out")).expect("ls").count(),
        0
    );

    std::fs::remove_file(d.path().join("in/z-bad.yaml")).expect("rm");
    let r = ward(
        d.path(),
        &[s("slo"), s("generate"), s("-i"), s("in"), s("-o"), s("out")],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(d.path().join("out/a.yaml").is_file());
    assert!(d.path().join("out/nested/b.yaml").is_file());
}

#[test]
fn usage_and_io_errors_exit_2_and_env_vars_work() {
    let d = tempfile::tempdir().expect("tempdir");
    let r = ward(
        d.path(),
        &[s("slo"), s("generate"), s("-i"), s("missing.yaml")],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = ward(
        d.path(),
        &[s("slo"), s("generate"), s("--no-such-flag")],
        &[],
    );
    assert_eq!(r.code, 2);
    write(d.path(), "g.yaml", GOOD);
    let r = ward(
        d.path(),
        &[s("slo"), s("generate")],
        &[
            ("SLOTH_INPUT", "g.yaml"),
            ("SLOTH_DEFAULT_SLO_PERIOD", "28d"),
            ("SLOTH_EXTRA_LABELS", "a=b\nc=d"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("record: slo:sli_error:ratio_rate4w"));
    assert!(r.stdout.contains("      a: b\n      c: d\n"));
    let r = ward(
        d.path(),
        &[
            s("slo"),
            s("generate"),
            s("-i"),
            s("g.yaml"),
            s("--default-slo-period"),
            s("14d"),
        ],
        &[],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("window period 336h0m0s missing"),
        "{}",
        r.stderr
    );
}

#[test]
fn garbage_never_panics() {
    let d = tempfile::tempdir().expect("tempdir");
    let inputs = [
        "",
        "---\n---\n",
        "version: \"prometheus/v1\"\n",
        "version: \"prometheus/v1\"\nslos: [1, 2]\n",
        "version: \"prometheus/v1\"\nslos:\n  - {name: ~, objective: .nan, sli: {raw: {error_ratio_query: \"{{\"}}}}\n",
        "version: \"prometheus/v1\"\nservice: s\nslos:\n  - {name: ab, objective: 1e308, sli: {events: {error_query: 1, total_query: [x]}}}\n",
        "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nspec: {slos: [{name: x1, objective: yes}]}\n",
        "apiVersion: openslo/v1alpha\nkind: SLO\nspec:\n  objectives: [{ratioMetrics: {good: {source: prometheus, queryType: promql}}}]\n",
        "version: \"prometheus/v1\"\n&a [*a]\n",
        "\u{feff}version: \"prometheus/v1\"\n\tservice: x\n",
    ];
    for (i, text) in inputs.iter().enumerate() {
        write(d.path(), &format!("g{i}.yaml"), text);
        let r = gen_file(d.path(), &format!("g{i}.yaml"), &[]);
        assert!(
            r.code == 0 || r.code == 1,
            "input {i}: exit {} {}",
            r.code,
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "input {i}: {}", r.stderr);
    }
}

/// `-i` missing is named (it said `reading SLO spec input ""`); `-o json`
/// still writes a file named `json`, as sloth does, but says so, since
/// everywhere else in ward `-o` is a format; `-o ./json` is taken as meant.
#[test]
fn a_missing_input_is_named_and_a_format_word_as_out_warns() {
    let d = tempfile::tempdir().expect("tempdir");
    let r = ward(d.path(), &[s("slo"), s("generate")], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "ward slo generate: the following required arguments were not provided: --input <INPUT>\n"
    );
    let r = ward(d.path(), &[s("slo"), s("generate"), s("-i"), s("")], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "ward slo: -i/--input: no SLO spec given (a spec file, or a directory walked recursively)\n"
    );
    write(d.path(), "g.yaml", GOOD);
    let out = |o: &str| {
        ward(
            d.path(),
            &[s("slo"), s("generate"), s("-i"), s("g.yaml"), s("-o"), s(o)],
            &[],
        )
    };
    let r = out("json");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "ward slo: warning: -o json: writing the rules to a file named \"json\" (sloth's \
         -o/--out is the output file; the rules are always Prometheus YAML); write -o ./json \
         if that file is meant\n"
    );
    assert!(d.path().join("json").is_file());
    let r = out("./json");
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
}

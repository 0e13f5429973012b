//! Shared helpers of the `ward slo` tests: run the binary and the real
//! sloth, compare ignoring the header line, run promtool.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Result of one `ward` run.
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `ward` binary in `dir`.
pub(crate) fn ward(dir: &Path, args: &[String], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ward"));
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run ward");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `ward slo ARGS…` in `dir`.
pub(crate) fn ward_slo(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let all: Vec<String> = std::iter::once("slo")
        .chain(args.iter().copied())
        .map(String::from)
        .collect();
    ward(dir, &all, env)
}

/// The real sloth v0.16.0: `$WARD_TOOLS_DIR/bin/sloth` (default
/// `${XDG_CACHE_HOME:-~/.cache}/ward/tools`), else `sloth` on PATH. Panics
/// naming the install script when it is missing.
pub(crate) fn sloth_bin() -> PathBuf {
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
    let candidate = tools.join("bin/sloth");
    if candidate.is_file() {
        return candidate;
    }
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            let c = dir.join("sloth");
            if c.is_file() {
                return c;
            }
        }
    }
    panic!(
        "sloth v0.16.0 not found at {} or on PATH: run scripts/install-test-deps.sh (it builds it via scripts/deps.d/sloth.sh)",
        candidate.display()
    );
}

/// Runs the real sloth in `dir` with its logs off (`SLOTH_NO_LOG=true`).
pub(crate) fn sloth(dir: &Path, args: &[&str]) -> Run {
    run_sloth(dir, args, false)
}

/// Runs the real sloth in `dir` with its logs on stderr (per-file validation errors are only logged).
pub(crate) fn sloth_logged(dir: &Path, args: &[&str]) -> Run {
    run_sloth(dir, args, true)
}

fn run_sloth(dir: &Path, args: &[&str], logged: bool) -> Run {
    let out = Command::new(sloth_bin())
        .current_dir(dir)
        .args(args)
        .env("SLOTH_NO_LOG", if logged { "false" } else { "true" })
        .output()
        .expect("run sloth");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// sloth's per-file validation failures from its log (see [`sloth_logged`]):
/// (file, message) sorted, each message through `comparable`, without the `could not generate "<id>" slo: ` wrapping ward does not repeat.
pub(crate) fn sloth_failures(r: &Run, comparable: fn(&str) -> String) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = strip_ansi(&r.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("ERRO[0000] "))
        .map(|l| {
            let (msg, fields) = l.rsplit_once("  file=").expect("file field");
            let file = fields.split(' ').next().unwrap_or_default();
            let msg = msg.trim_end();
            let msg = match msg.strip_prefix("invalid SLO: ") {
                Some(m) => m.split_once(" slo: ").map_or(m, |(_, rest)| rest),
                None => msg,
            };
            (file.to_string(), comparable(msg))
        })
        .collect();
    out.sort();
    out
}

/// ward's per-file validation failures: (file, message) sorted, each message through `comparable`, without its `invalid slo "<id>" (field <f>): ` context.
pub(crate) fn ward_failures(r: &Run, comparable: fn(&str) -> String) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = r
        .stderr
        .lines()
        .filter(|l| !l.starts_with("ward slo: ") && !l.starts_with("Validation succeeded"))
        .map(|l| {
            let (file, msg) = l.split_once(": ").expect("file: message");
            let msg = match msg.strip_prefix("invalid slo \"") {
                Some(m) => m.split_once("): ").map_or(msg, |(_, rest)| rest),
                None => msg,
            };
            (file.to_string(), comparable(msg))
        })
        .collect();
    out.sort();
    out
}

/// `s` without ANSI color escapes.
pub(crate) fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Byte equality except sloth's `# Code generated by Sloth (...)` line, which must name ward.
pub(crate) fn same_except_header(expected: &str, actual: &str) -> Result<(), String> {
    let e: Vec<&str> = expected.split('\n').collect();
    let a: Vec<&str> = actual.split('\n').collect();
    for (i, (el, al)) in e.iter().zip(a.iter()).enumerate() {
        if el.starts_with("# Code generated by Sloth") {
            if !al.starts_with("# Code generated by ward") {
                return Err(format!("line {}: header {al:?}", i + 1));
            }
            continue;
        }
        if el != al {
            return Err(format!("line {}:\n- {el:?}\n+ {al:?}", i + 1));
        }
    }
    if e.len() != a.len() {
        return Err(format!("{} lines expected, {} written", e.len(), a.len()));
    }
    Ok(())
}

/// The rule-file documents of a generated output (a PrometheusRule's `spec` unwrapped).
pub(crate) fn rule_documents(output: &str) -> Vec<String> {
    output
        .split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            if let Some(i) = d.find("\nspec:\n") {
                d[i + 7..]
                    .lines()
                    .map(|l| l.strip_prefix("  ").unwrap_or(l))
                    .collect::<Vec<_>>()
                    .join("\n")
                    + "\n"
            } else {
                d.to_string()
            }
        })
        .collect()
}

/// promtool, found as every test finds it (testkit: `$WARD_TOOLS_DIR/bin`, then `PATH`).
pub(crate) fn promtool() -> PathBuf {
    ward_testkit::process::find_binary("promtool", "promtool")
        .expect("promtool not found: run scripts/install-test-deps.sh (Debian package prometheus)")
}

/// Runs `promtool check rules` on every rule document of `output`.
pub(crate) fn promtool_check(output: &str, what: &str) {
    let promtool = promtool();
    for (i, doc) in rule_documents(output).iter().enumerate() {
        let mut f = tempfile::Builder::new()
            .suffix(".yaml")
            .tempfile()
            .expect("temp file");
        f.write_all(doc.as_bytes()).expect("write temp");
        let out = Command::new(&promtool)
            .args(["check", "rules"])
            .arg(f.path())
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool check rules failed for {what} document {i}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A small deterministic PRNG (xorshift64*), so generated specs are reproducible from a seed.
pub(crate) struct Rng(u64);

impl Rng {
    /// Seeds the generator (0 is remapped).
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// Next raw value.
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True with probability `p` percent.
    pub(crate) fn chance(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    /// One element of a slice.
    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Which spec format a generated document uses.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Flavor {
    Prom,
    K8s,
    OpenSlo,
}

fn ident(r: &mut Rng) -> String {
    const FIRST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const MID: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.";
    const LAST: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::new();
    s.push(*r.pick(FIRST) as char);
    for _ in 0..r.below(10) {
        s.push(*r.pick(MID) as char);
    }
    s.push(*r.pick(LAST) as char);
    s
}

/// A YAML scalar (as written in the spec) for a label value: plain, quoted, numeric-looking or YAML-1.1-special.
fn label_value(r: &mut Rng) -> String {
    let plain: &[&str] = &[
        "2",
        "0x1F",
        "1e3",
        "99.9",
        "1_000",
        "017",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "N",
        "true",
        "False",
        "2001-12-14",
        "1:20",
        "-5",
        "+7",
        ".5",
        "08",
        "0b101",
        "critical",
        "team-a",
        "a.b.c",
        "svc01",
        "café",
        "ünïcode-värde",
        "with space",
        "x#y",
        "a:b",
        "12h",
        "v1.2.3",
        "9223372036854775808",
        "1e400",
        "http://example.com/x?y=1",
    ];
    let quoted: &[&str] = &[
        "\"yes\"",
        "\"2\"",
        "\"true\"",
        "\"99.9\"",
        "\"\\u00e9t\\u00e9\"",
        "\"#alerts-myteam\"",
        "\"a: b\"",
        "\"- dash\"",
        "\"[x]\"",
        "\"{y}\"",
        "\"' quote\"",
        "\"say \\\"hi\\\"\"",
        "'single'",
        "\" lead\"",
        "\"trail \"",
        "\"~\"",
        "\"null\"",
        "\"\\t tab\"",
        "\"emoji 🚀\"",
        "\"---\"",
        "\"*star\"",
        "\"&amp\"",
        "\"!bang\"",
        "\"|pipe\"",
        "\">gt\"",
        "\"%pct\"",
        "\"`tick\"",
        "\"x: \"",
        "\"a #b\"",
        "\"?q\"",
        "\"2001-12-14t21:59:43.10-05:00\"",
    ];
    if r.chance(20) {
        // A long value that yaml.v2 folds at 80 columns.
        let words: Vec<String> = (0..(8 + r.below(14))).map(|_| ident(r)).collect();
        return format!("\"{}\"", words.join(" "));
    }
    if r.chance(50) {
        r.pick(plain).to_string()
    } else {
        r.pick(quoted).to_string()
    }
}

fn label_key(r: &mut Rng) -> String {
    let keys: &[&str] = &[
        "tier",
        "team",
        "owner",
        "a9",
        "a10",
        "a010",
        "A",
        "_x",
        "k-8",
        "app.kubernetes.io/part-of",
        "category",
        "env",
        "Zone",
        "z1",
        "z01",
        "x_y",
        "xy",
        "sloth_id",
        "sloth_slo",
        "sloth_severity",
        "2",
        "yes",
        "severity",
        "routing_key",
        "über",
        "k1",
        "K1",
    ];
    r.pick(keys).to_string()
}

fn labels_block(r: &mut Rng, indent: &str, min: usize, spread: usize) -> String {
    let n = min + r.below(spread);
    let mut s = String::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..n {
        let k = label_key(r);
        if !seen.insert(k.clone()) {
            continue;
        }
        let kq = if ["2", "yes"].contains(&k.as_str()) {
            format!("\"{k}\"")
        } else {
            k
        };
        s.push_str(&format!("{indent}{kq}: {}\n", label_value(r)));
    }
    s
}

fn metric(r: &mut Rng) -> String {
    let ms: &[&str] = &[
        "http_requests_total",
        "apiserver_request_total",
        "grpc_server_handled_total",
        "nginx_ingress_controller_requests",
        "kubenurse_httpclient_request_duration_seconds_count",
        "hostlookuper_dns_lookup_duration_seconds_count",
        "coredns_dns_responses_total",
    ];
    r.pick(ms).to_string()
}

fn window_var(r: &mut Rng) -> &'static str {
    const W: [&str; 4] = [
        "{{.window}}",
        "{{ .window }}",
        "{{ .window}}",
        "{{.window }}",
    ];
    W[r.below(W.len())]
}

fn selector(r: &mut Rng, bad: bool) -> String {
    let mut m = vec![format!("job=\"{}\"", ident(r))];
    if bad {
        m.push(
            r.pick(&[
                "code=~\"5..\"",
                "code=~\"(5..|429)\"",
                "status!~\"2..\"",
                "rcode=\"SERVFAIL\"",
            ])
            .to_string(),
        );
    }
    if r.chance(30) {
        m.push(format!("namespace=\"{}\"", ident(r)));
    }
    format!("{{{}}}", m.join(","))
}

fn query(r: &mut Rng, bad: bool) -> String {
    let w = window_var(r);
    let base = format!("rate({}{}[{w}])", metric(r), selector(r, bad));
    match r.below(4) {
        0 => format!("sum({base})"),
        1 => format!("sum by (service) ({base})"),
        2 => format!("sum({base}) or vector(0)"),
        _ => format!("sum(\n  {base}\n)"),
    }
}

fn block(q: &str, indent: &str, r: &mut Rng) -> String {
    if q.contains('\n') || r.chance(25) {
        let chomp = if r.chance(30) { "|-" } else { "|" };
        let body: String = q.lines().map(|l| format!("{indent}  {l}\n")).collect();
        format!("{chomp}\n{body}")
    } else {
        format!("{q}\n")
    }
}

fn objective(r: &mut Rng) -> String {
    let fixed: &[&str] = &[
        "99.9", "95", "99.99", "100", "99.5", "90", "99.999", "50", "99.95", "97.5", "0.1", "99",
    ];
    if r.chance(75) {
        r.pick(fixed).to_string()
    } else {
        format!("{}.{}", 1 + r.below(99), r.below(1000))
    }
}

fn alerting(r: &mut Rng, k8s: bool, ind: &str) -> String {
    let (page, ticket) = if k8s {
        ("pageAlert", "ticketAlert")
    } else {
        ("page_alert", "ticket_alert")
    };
    let mut s = format!("{ind}alerting:\n");
    let page_off = r.chance(25);
    let ticket_off = r.chance(25);
    if !(page_off && ticket_off) || r.chance(50) {
        s.push_str(&format!("{ind}  name: {}\n", ident(r)));
    }
    if r.chance(60) {
        s.push_str(&format!(
            "{ind}  labels:\n{}",
            labels_block(r, &format!("{ind}    "), 1, 3)
        ));
    }
    if r.chance(50) {
        let mut a = labels_block(r, &format!("{ind}    "), 0, 2);
        if r.chance(40) {
            a.push_str(&format!(
                "{ind}    summary: \"{{{{$labels.sloth_service}}}} is burning {} budget\"\n",
                ident(r)
            ));
        }
        if r.chance(30) {
            a.push_str(&format!(
                "{ind}    runbook: https://runbooks.example.com/{}/{}\n",
                ident(r),
                ident(r)
            ));
        }
        if !a.is_empty() {
            s.push_str(&format!("{ind}  annotations:\n{a}"));
        }
    }
    for (key, off) in [(page, page_off), (ticket, ticket_off)] {
        if off {
            s.push_str(&format!("{ind}  {key}:\n{ind}    disable: true\n"));
        } else if r.chance(60) {
            s.push_str(&format!("{ind}  {key}:\n"));
            s.push_str(&format!(
                "{ind}    labels:\n{}",
                labels_block(r, &format!("{ind}      "), 1, 2)
            ));
            if r.chance(40) {
                s.push_str(&format!(
                    "{ind}    annotations:\n{ind}      title: \"{} {{{{$labels.sloth_slo}}}}\"\n",
                    ident(r)
                ));
            }
        }
    }
    s
}

/// One random valid spec document of the given flavour with `n` SLOs.
pub(crate) fn random_doc(r: &mut Rng, flavor: Flavor, n: usize) -> String {
    let service = ident(r);
    match flavor {
        Flavor::OpenSlo => {
            let mut s = format!(
                "apiVersion: openslo/v1alpha\nkind: SLO\nmetadata:\n  name: {}\n  displayName: {}\nspec:\n  service: {service}\n  description: {}\n  budgetingMethod: Occurrences\n  objectives:\n",
                ident(r), ident(r), ident(r)
            );
            for _ in 0..n {
                let good = query(r, false);
                let total = query(r, false);
                let target = r.pick(&["0.999", "0.95", "0.9999", "0.99", "0.9", "0.5"]);
                s.push_str(&format!(
                    "    - ratioMetrics:\n        good:\n          source: prometheus\n          queryType: promql\n          query: {}        total:\n          source: prometheus\n          queryType: promql\n          query: {}      target: {target}\n",
                    block(&good, "          ", r),
                    block(&total, "          ", r)
                ));
            }
            if r.chance(50) {
                s.push_str("  timeWindows:\n    - count: 30\n      unit: Day\n");
            }
            s
        }
        Flavor::Prom | Flavor::K8s => {
            let k8s = flavor == Flavor::K8s;
            let ind = if k8s { "  " } else { "" };
            let mut s = if k8s {
                let mut h = format!("apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nmetadata:\n  name: \"{}\"\n", ident(r).to_lowercase());
                if r.chance(70) {
                    h.push_str(&format!("  namespace: \"{}\"\n", ident(r).to_lowercase()));
                }
                if r.chance(40) {
                    h.push_str(&format!(
                        "  labels:\n    {}: \"{}\"\n",
                        label_key(r),
                        ident(r)
                    ));
                }
                if r.chance(20) {
                    h.push_str(&format!("  annotations:\n    note: \"{}\"\n", ident(r)));
                }
                h.push_str(&format!("spec:\n  service: \"{service}\"\n"));
                h
            } else {
                let v = r.pick(&[
                    "version: \"prometheus/v1\"",
                    "version: prometheus/v1",
                    "version: 'prometheus/v1'",
                ]);
                format!("{v}\nservice: \"{service}\"\n")
            };
            if r.chance(60) {
                // Kubernetes labels must be strings: quote everything there.
                let l = labels_block(r, &format!("{ind}  "), 1, 3);
                let l = if k8s { quote_values(&l) } else { l };
                s.push_str(&format!("{ind}labels:\n{l}"));
            }
            s.push_str(&format!("{ind}slos:\n"));
            let mut names = std::collections::HashSet::new();
            for _ in 0..n {
                let name = loop {
                    let nm = ident(r);
                    if names.insert(nm.clone()) {
                        break nm;
                    }
                };
                let i2 = format!("{ind}    ");
                s.push_str(&format!(
                    "{ind}  - name: \"{name}\"\n{i2}objective: {}\n",
                    objective(r)
                ));
                if r.chance(50) {
                    s.push_str(&format!("{i2}description: \"{}\"\n", ident(r)));
                }
                if r.chance(50) {
                    let l = labels_block(r, &format!("{i2}  "), 1, 3);
                    let l = if k8s { quote_values(&l) } else { l };
                    s.push_str(&format!("{i2}labels:\n{l}"));
                }
                s.push_str(&format!("{i2}sli:\n"));
                let (eq, tq, rq) = if k8s {
                    ("errorQuery", "totalQuery", "errorRatioQuery")
                } else {
                    ("error_query", "total_query", "error_ratio_query")
                };
                if r.chance(65) {
                    let e = query(r, true);
                    let t = query(r, false);
                    s.push_str(&format!(
                        "{i2}  events:\n{i2}    {eq}: {}{i2}    {tq}: {}",
                        block(&e, &format!("{i2}    "), r),
                        block(&t, &format!("{i2}    "), r)
                    ));
                } else {
                    let q = format!("{}\n/\n{}", query(r, true), query(r, false));
                    s.push_str(&format!(
                        "{i2}  raw:\n{i2}    {rq}: {}",
                        block(&q, &format!("{i2}    "), r)
                    ));
                }
                let a = alerting(r, k8s, &i2);
                let a = if k8s { quote_values(&a) } else { a };
                s.push_str(&a);
            }
            s
        }
    }
}

/// Quotes plain label values (the Kubernetes decoder does not coerce scalars to strings).
fn quote_values(block: &str) -> String {
    block
        .lines()
        .map(|l| {
            let t = l.trim_start();
            match t.split_once(": ") {
                Some((k, v))
                    if !v.starts_with('"')
                        && !v.starts_with('\'')
                        && !v.is_empty()
                        && k.trim_start_matches("- ") != "disable" =>
                {
                    let ind = &l[..l.len() - t.len()];
                    format!(
                        "{ind}{k}: \"{}\"\n",
                        v.replace('\\', "\\\\").replace('"', "\\\"")
                    )
                }
                _ => format!("{l}\n"),
            }
        })
        .collect()
}

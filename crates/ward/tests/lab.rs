//! `ward lab` end to end (the binary, as a user runs it): a clean run exits 0
//! with a summary and no failing paths or checks (DNS included); a cut node
//! shows up as failing paths into it and nowhere else; the cluster DNS down
//! shows up as failing DNS checks (timeouts) and nothing else; bad input is one
//! line naming the argument, exit 2; a fault on every node is allowed and the
//! summary notes it (JSON and text); with `-o json` stdout is only the JSON;
//! the nurses' logs stay off unless `--log-level` is given. The dashboard
//! tests drive the lab's HTTP API the way the page does.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use tokio::time::Instant;

use support::ward;

/// One lab at a time: they share 2 cores with the rest of the suite.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `ward lab ARGS…` (any free port, no live line) to its end, which
/// must be a success.
fn lab_run(args: &[&str]) -> support::Run {
    let started = Instant::now();
    let out = support::run(
        ["lab", "--listen", "127.0.0.1:0", "--live=false"]
            .iter()
            .chain(args),
    );
    eprintln!("ward lab {args:?} took {:?}", started.elapsed());
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    out
}

/// [`lab_run`]'s stdout.
fn lab(args: &[&str]) -> String {
    lab_run(args).stdout
}

/// Runs a 6-node lab for 6 s with `fault` applied from the start and returns
/// its JSON summary: with `-o json`, stdout is that document and nothing else
/// (`ward lab -o json | jq .` works; the dashboard URL is on stderr).
fn lab_summary_with(fault: &str) -> serde_json::Value {
    lab_run(&[
        "--duration",
        "6s",
        "--fault",
        fault,
        "-o",
        "json",
        "--check-interval",
        "1s",
        "--check-timeout",
        "2s",
    ])
    .json()
}

#[test]
fn a_clean_lab_exits_0_with_a_summary_and_no_failing_paths() {
    let _one = serial();
    let stdout = lab(&[
        "--duration",
        "6s",
        "--nodes",
        "6",
        "--check-interval",
        "1s",
        "--check-timeout",
        "3s",
    ]);
    assert!(
        stdout.lines().next().unwrap_or_default().ends_with("/ui"),
        "{stdout}"
    );
    assert!(stdout.contains("ward lab summary: 6 nodes"), "{stdout}");
    assert!(stdout.contains("failing paths: none"), "{stdout}");
    assert!(
        !stdout.contains("failing checks:"),
        "API server, ingress, service and DNS are fine: {stdout}"
    );
    let dns = stdout
        .lines()
        .find(|l| l.starts_with("dns checks: "))
        .unwrap_or_else(|| panic!("no DNS checks line: {stdout}"));
    let checks: Vec<&str> = dns["dns checks: ".len()..].split("; ").collect();
    assert_eq!(checks.len(), 2, "{dns}");
    for (check, name) in checks.iter().zip(DNS_CHECKS) {
        assert!(
            check.starts_with(&format!("{name} ")) && check.ends_with(" ok, 0 failed"),
            "{dns}"
        );
    }
}

/// The names every node's lookup prober resolves, as checks.
const DNS_CHECKS: [&str; 2] = [
    "dns:kubernetes.default.svc.cluster.local",
    "dns:ward-nurse.ward-lab.svc.cluster.local",
];

#[test]
fn dns_down_is_reported_as_failing_dns_checks_and_nothing_else() {
    let _one = serial();
    let summary = lab_summary_with("dns-down");
    assert_eq!(
        summary["failing_paths"],
        serde_json::json!([]),
        "{summary:#}"
    );
    let failing = summary["failing_checks"].as_array().unwrap();
    let mut seen: Vec<(String, String)> = failing
        .iter()
        .map(|f| {
            (
                f["from"].as_str().unwrap().to_string(),
                f["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    let mut want: Vec<(String, String)> = (1..=6)
        .flat_map(|i| DNS_CHECKS.map(|c| (format!("node-{i}"), c.to_string())))
        .collect();
    want.sort();
    assert_eq!(
        seen, want,
        "every node's DNS checks and nothing else: {summary:#}"
    );
    for f in failing {
        assert_eq!(f["last_class"], "timeout", "{f}");
        assert_eq!(f["ok"], 0, "{f}");
        assert_eq!(f["failing_now"], true, "{f}");
    }
    let dns = summary["dns_checks"].as_array().unwrap();
    let names: Vec<&str> = dns.iter().map(|d| d["check"].as_str().unwrap()).collect();
    assert_eq!(names, DNS_CHECKS, "{summary:#}");
    for d in dns {
        assert_eq!(d["ok"], 0, "{d}");
        assert!(
            d["failed"].as_u64().unwrap() >= 6,
            "a round on every node: {d}"
        );
        assert_eq!(d["nodes_failing_now"], 6, "{d}");
    }
    assert_eq!(summary["faults"], serde_json::json!(["dns-down"]));
}

#[test]
fn a_cut_node_is_reported_as_failing_paths_into_it() {
    let _one = serial();
    let summary = lab_summary_with("cut:node-3");
    let failing = summary["failing_paths"].as_array().unwrap();
    assert_eq!(failing.len(), 3, "k = 3 nodes check node-3: {summary:#}");
    for f in failing {
        assert_eq!(f["to"], "node-3", "{summary:#}");
        assert!(
            f["last_class"].as_str().unwrap().starts_with("timeout"),
            "{f}"
        );
        assert_eq!(f["failing_now"], true);
    }
    assert_eq!(summary["faults"], serde_json::json!(["cut:node-3"]));
}

/// docs/lab.md promises it: bad input exits 2 with one line naming the
/// argument (clap's usage and tips made it 3-4 lines; issue 26).
#[test]
fn bad_input_is_one_line_naming_the_argument_with_exit_2() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    for (args, needle) in [
        (vec!["lab", "--listen", port.as_str()], "--listen"),
        (vec!["lab", "--nodes", "300"], "--nodes"),
        (vec!["lab", "--fault", "melt:node-1"], "--fault"),
        (vec!["lab", "--fault", "dns-delay:soon"], "--fault"),
        (
            vec!["lab", "--fault", "cut:node-9", "--listen", "127.0.0.1:0"],
            "--fault",
        ),
        (vec!["lab", "--check-interval", "0s"], "--check-interval"),
        (vec!["lab", "--duration", "soon"], "--duration"),
        (vec!["lab", "-o", "yaml"], "--output"),
        (vec!["lab", "--bogus"], "--bogus"),
    ] {
        let out = support::run(&args);
        let stderr = &out.stderr;
        assert_eq!(out.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("ward") && stderr.contains(needle),
            "{args:?}: {stderr}"
        );
    }
}

/// A lab run in the background, driven through its HTTP API; killed on drop.
struct Running {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    /// The rest of stdout after the URL line (kept open: the summary goes there).
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Running {
    /// 6 nodes, 500 ms interval, 400 ms check timeout, for at most 30 s.
    fn start() -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = ward()
            .args([
                "lab",
                "--listen",
                "127.0.0.1:0",
                "--check-interval",
                "500ms",
                "--check-timeout",
                "400ms",
                "--live=false",
                "--duration",
                "30s",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut url = String::new();
        stdout.read_line(&mut url).unwrap();
        let base = url
            .trim()
            .trim_end_matches("/ui")
            .trim_start_matches("http://")
            .to_string();
        let addr = base.parse().unwrap();
        Self {
            child,
            addr,
            stdout,
        }
    }

    fn get(&self, path: &str) -> String {
        ward_testkit::net::http_get(self.addr, path)
            .map(|r| r.body)
            .unwrap_or_default()
    }

    fn json(&self, path: &str) -> serde_json::Value {
        serde_json::from_str(&self.get(path)).unwrap_or_default()
    }

    /// POSTs to the lab API; it must answer 204.
    fn post(&self, path: &str) {
        let r = ward_testkit::net::http_request(self.addr, "POST", path, "")
            .unwrap_or_else(|| panic!("POST {path}: no answer"));
        assert_eq!(r.status, 204, "{}", r.body);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bad fault or duration is refused with the same reason from the
/// command line (one line, exit 2) and from the lab's fault API (400, the
/// spec whole: it was cut to `"node-99"` and worded for the command line),
/// and durations are Go's everywhere (no `200sec`); a zero check interval
/// is refused as `lookup -interval 0s` is (the lab busy-looped on it).
#[test]
fn bad_faults_and_durations_are_refused_alike_everywhere() {
    let _one = serial();
    let reason = |spec: &str| match spec {
        "cut:node-99" => "no node \"node-99\"; the lab has node-1 to node-6".to_string(),
        _ => "delay \"200\": invalid duration \"200\" (expected e.g. 500ms, 5s, 1m30s)".to_string(),
    };
    for spec in ["cut:node-99", "delay:node-2:200"] {
        let out = support::run(["lab", "--listen", "127.0.0.1:0", "--fault", spec]);
        assert_eq!(out.code(), Some(2), "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(
            out.stderr.ends_with(&format!("{}\n", reason(spec))),
            "{}",
            out.stderr
        );
    }
    let lab = Running::start();
    for spec in ["cut:node-99", "delay:node-2:200"] {
        let r = ward_testkit::net::http_request(
            lab.addr,
            "POST",
            &format!("/lab/fault?spec={spec}"),
            "",
        )
        .expect("the lab answers");
        assert_eq!(
            (r.status, r.body.as_str()),
            (400, format!("spec {spec:?}: {}", reason(spec)).as_str())
        );
    }
    drop(lab);
    for (args, flag) in [
        (
            &["lab", "--check-interval", "0s"][..],
            "'--check-interval <CHECK_INTERVAL>'",
        ),
        (&["lookup", "-interval", "0s"], "'--interval <INTERVAL>'"),
    ] {
        let out = support::run(args);
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.lines().count() == 1
                && out.stderr.contains(flag)
                && out.stderr.ends_with("\"0s\": must be greater than zero\n"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

/// `--nodes` takes 1 to 253, as its help says (it said 2 to 254): a
/// one-node lab runs, 254 is refused.
#[test]
fn the_node_range_is_the_one_the_help_gives() {
    let _one = serial();
    let help = support::run(["lab", "--help"]).stdout;
    assert!(help.contains("Simulated nodes (1 to 253)"), "{help}");
    let out = lab(&["--nodes", "1", "--duration", "1s"]);
    assert!(out.contains("ward lab summary: 1 nodes"), "{out}");
    let out = support::run(["lab", "--nodes", "254"]);
    assert_eq!(out.code(), Some(2));
    assert!(out.stderr.contains("must be 1 to 253"), "{}", out.stderr);
}

/// Waits for `f` up to `limit` (panics naming `what`); returns the time it took.
fn wait(what: &str, limit: Duration, f: &dyn Fn() -> bool) -> Duration {
    let start = Instant::now();
    ward_testkit::wait::until(limit, || f().then_some(()))
        .unwrap_or_else(|| panic!("{what} not within {limit:?}"));
    start.elapsed()
}

/// SIGTERM (what `timeout`, `kill` and container runtimes send) ends the lab
/// like Ctrl-C: exit 0 with the summary, well before `--duration`.
#[test]
fn sigterm_stops_the_lab_with_its_summary() {
    use std::io::Read;
    let _one = serial();
    let mut lab = Running::start();
    wait("6 nodes reporting", Duration::from_secs(10), &|| {
        lab.json("/status")["nodes"]
            .as_object()
            .is_some_and(|n| n.len() == 6)
    });
    let sent = Instant::now();
    support::signal(&lab.child, "TERM");
    let status =
        ward_testkit::wait::until(Duration::from_secs(10), || lab.child.try_wait().unwrap())
            .expect("the lab did not stop within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    lab.stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("ward lab summary: 6 nodes"), "{rest}");
    eprintln!("stopped {:?} after SIGTERM", sent.elapsed());
}

/// Cutting a node from the dashboard's API turns its incoming paths failed
/// within two check intervals, and clearing it brings them back.
#[test]
fn cutting_and_restoring_a_node_through_the_lab_api() {
    let _one = serial();
    let lab = Running::start();
    let failing_into = |node: &str| -> (usize, usize) {
        let v = lab.json("/check_all");
        let mut cells = 0;
        let mut failed = 0;
        for row in v["nodes"].as_object().into_iter().flatten() {
            for (to, c) in row.1["checks"].as_object().into_iter().flatten() {
                cells += 1;
                if to == node && c["ok"] == false {
                    failed += 1;
                }
            }
        }
        (cells, failed)
    };
    wait("6 x 3 checked cells", Duration::from_secs(10), &|| {
        failing_into("node-3") == (18, 0)
    });
    assert!(lab.get("/ui").contains("ward mesh"));
    lab.post("/lab/fault?spec=cut:node-3");
    // Two intervals (2 x 500ms) plus the check timeout that detects it: 1.4 s
    // on an idle machine (printed below); the deadline leaves room for a CI
    // machine running other tests.
    let took = wait("node-3's paths failed", Duration::from_secs(8), &|| {
        failing_into("node-3").1 == 3
    });
    eprintln!("cut seen in {took:?}");
    lab.post("/lab/clear?spec=cut:node-3");
    let took = wait("node-3's paths recovered", Duration::from_secs(8), &|| {
        failing_into("node-3") == (18, 0)
    });
    eprintln!("recovery seen in {took:?}");
}

/// The DNS checks in `/status` (where the dashboard shows non-path checks):
/// how many there are, and the error classes of the failed ones.
fn dns_cells(status: &serde_json::Value) -> (usize, Vec<String>) {
    let mut cells = 0;
    let mut failed = Vec::new();
    for node in status["nodes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|n| n.1)
    {
        for check in DNS_CHECKS {
            let c = &node["checks"][check];
            if c.is_object() {
                cells += 1;
                if c["ok"] == false {
                    failed.push(c["class"].as_str().unwrap_or("?").to_string());
                }
            }
        }
    }
    (cells, failed)
}

/// `dns-down` from the dashboard's API fails every node's DNS checks with
/// timeouts within two check intervals; clearing it brings them back.
#[test]
fn dns_down_and_back_through_the_lab_api() {
    let _one = serial();
    let lab = Running::start();
    wait("6 x 2 DNS checks passing", Duration::from_secs(10), &|| {
        dns_cells(&lab.json("/status")) == (12, vec![])
    });
    let summary = lab.json("/lab/summary");
    let names: Vec<&str> = summary["dns_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["check"].as_str().unwrap())
        .collect();
    assert_eq!(names, DNS_CHECKS, "{summary:#}");
    lab.post("/lab/fault?spec=dns-down");
    let took = wait("every DNS check timed out", Duration::from_secs(8), &|| {
        dns_cells(&lab.json("/status")) == (12, vec!["timeout".to_string(); 12])
    });
    eprintln!("dns-down seen in {took:?}");
    // The probers' metrics, under hostlookuper's names, count the failures.
    let errors = |host: &str| -> u64 {
        let line = format!(
            "hostlookuper_dns_errors_total{{host=\"{host}.\",dns_server=\"resolv.conf\"}} "
        );
        lab.get("/metrics")
            .lines()
            .find_map(|l| l.strip_prefix(line.as_str())?.parse().ok())
            .unwrap_or_else(|| panic!("no {line:?} in /metrics"))
    };
    for check in DNS_CHECKS {
        let host = check.trim_start_matches("dns:");
        assert!(errors(host) >= 6, "a failed lookup per node for {host}");
    }
    assert_eq!(
        lab.json("/status")["faults"],
        serde_json::json!(["dns-down"])
    );
    lab.post("/lab/clear?spec=dns-down");
    let took = wait("DNS checks recovered", Duration::from_secs(8), &|| {
        dns_cells(&lab.json("/status")) == (12, vec![])
    });
    eprintln!("dns recovery seen in {took:?}");
}

/// A fault on every node at once is allowed (exit 0), and the JSON summary
/// notes it (what is left: here, no nurse runs, so nothing fails).
#[test]
fn a_fault_on_every_node_is_allowed_and_noted_in_the_summary() {
    let _one = serial();
    let args = [
        "--duration",
        "3s",
        "--nodes",
        "2",
        "--fault",
        "kill:node-1",
        "--fault",
        "kill:node-2",
    ];
    let note = "kill on every node (2 of 2): no nurse runs: no node checks anything";
    let json: Vec<&str> = args.iter().copied().chain(["-o", "json"]).collect();
    let summary = lab_run(&json).json();
    assert_eq!(summary["notes"], serde_json::json!([note]), "{summary:#}");
    assert_eq!(
        summary["faults"],
        serde_json::json!(["kill:node-1", "kill:node-2"])
    );
    // The text summary says it too, as its last line.
    let text = lab(&args);
    assert_eq!(
        text.lines().last(),
        Some(format!("note: {note}").as_str()),
        "{text}"
    );
}

/// The README's `--fault delay:node-2:200ms` fails nothing, so the live line
/// and the summary, which counted failures only, showed nothing: the paths
/// into node-2 are slow, and both say so.
#[test]
fn a_delay_shows_as_slow_paths_in_the_live_line_and_the_summary() {
    let _one = serial();
    let out = support::run([
        "lab",
        "--listen",
        "127.0.0.1:0",
        "--duration",
        "4s",
        "--check-interval",
        "500ms",
        "--check-timeout",
        "2s",
        "--fault",
        "delay:node-2:200ms",
    ]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .skip_while(|l| *l != "slow paths (100 ms or more):")
        .skip(2)
        .take_while(|l| l.starts_with("node-"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let into_2: Vec<&Vec<&str>> = rows.iter().filter(|r| r[1] == "node-2").collect();
    assert_eq!(
        into_2.len(),
        3,
        "the k = 3 paths into node-2:\n{}",
        out.stdout
    );
    for row in into_2 {
        let last: f64 = row[5].parse().unwrap_or_default();
        assert!(last >= 200.0, "{row:?}");
    }
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains(" slow  slow: ") && l.contains("→node-2 (")),
        "a live line names the slow paths:\n{}",
        out.stderr
    );
}

/// The nurses' own logs are off in the lab at the default log level, faults
/// or not (its live line and summary report the failures); `--log-level`
/// turns them on. The lab used to silence them only when the level was
/// exactly `warn`, which stopped being the default: a cut node then flooded
/// stderr with `ERROR ward_nurse::round` lines, even with `--live=false`.
#[test]
fn the_nurses_logs_are_off_unless_a_log_level_is_given() {
    let _one = serial();
    let args = [
        "--duration",
        "3s",
        "--nodes",
        "3",
        "--fault",
        "cut:node-2",
        "--check-interval",
        "500ms",
        "--check-timeout",
        "300ms",
    ];
    let quiet = lab_run(&args);
    assert!(
        quiet.stdout.contains("failing paths:\n"),
        "the cut was seen: {}",
        quiet.stdout
    );
    let banner = ["ward lab: ", "dashboard: "];
    let other: Vec<&str> = quiet
        .stderr
        .lines()
        .filter(|l| !banner.iter().any(|b| l.starts_with(b)))
        .collect();
    assert!(other.is_empty(), "{}", quiet.stderr);
    let loud: Vec<&str> = ["--log-level", "error"]
        .iter()
        .chain(&args)
        .copied()
        .collect();
    let loud = lab_run(&loud);
    assert!(
        loud.stderr.contains("ward_nurse"),
        "--log-level error shows the nurses' errors: {}",
        loud.stderr
    );
}

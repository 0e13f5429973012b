//! `ward lab` end to end (the binary, as a user runs it): a clean run exits 0
//! with a summary and no failing paths; a cut node shows up as failing paths
//! into it and nowhere else; bad input is one line naming the argument, exit 2.
//! The dashboard test drives the lab's HTTP API the way the page does.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn ward() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ward"))
}

/// One lab at a time: they share 2 cores with the rest of the suite.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn lab(args: &[&str]) -> Output {
    let started = Instant::now();
    let out = Command::new(ward())
        .arg("lab")
        .args(["--listen", "127.0.0.1:0", "--live", "false"])
        .args(args)
        .output()
        .unwrap();
    eprintln!("ward lab {args:?} took {:?}", started.elapsed());
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_clean_lab_exits_0_with_a_summary_and_no_failing_paths() {
    let _one = serial();
    let out = lab(&[
        "--duration",
        "6s",
        "--nodes",
        "6",
        "--check-interval",
        "1s",
        "--check-timeout",
        "3s",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.lines().next().unwrap_or_default().ends_with("/ui"),
        "{stdout}"
    );
    assert!(stdout.contains("ward lab summary: 6 nodes"), "{stdout}");
    assert!(stdout.contains("failing paths: none"), "{stdout}");
    assert!(
        !stdout.contains("failing checks:"),
        "API server, ingress and service are fine: {stdout}"
    );
}

#[test]
fn a_cut_node_is_reported_as_failing_paths_into_it() {
    let _one = serial();
    let out = lab(&[
        "--duration",
        "6s",
        "--fault",
        "cut:node-3",
        "-o",
        "json",
        "--check-interval",
        "1s",
        "--check-timeout",
        "2s",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let json = stdout.lines().skip(1).collect::<Vec<_>>().join("\n");
    let summary: serde_json::Value = serde_json::from_str(&json).unwrap();
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

#[test]
fn bad_input_is_one_line_naming_the_argument_with_exit_2() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    for (args, needle) in [
        (vec!["lab", "--listen", port.as_str()], "--listen"),
        (vec!["lab", "--nodes", "300"], "--nodes"),
        (vec!["lab", "--fault", "melt:node-1"], "--fault"),
        (
            vec!["lab", "--fault", "cut:node-9", "--listen", "127.0.0.1:0"],
            "--fault",
        ),
    ] {
        let out = Command::new(ward()).args(&args).output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.contains(needle), "{args:?}: {stderr}");
    }
}

/// Cutting a node from the dashboard's API turns its incoming paths failed
/// within two check intervals, and clearing it brings them back.
#[test]
fn cutting_and_restoring_a_node_through_the_lab_api() {
    use std::io::{BufRead, BufReader};
    let _one = serial();
    let mut child = Command::new(ward())
        .args([
            "lab",
            "--listen",
            "127.0.0.1:0",
            "--check-interval",
            "500ms",
            "--check-timeout",
            "400ms",
            "--live",
            "false",
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
    let addr: std::net::SocketAddr = base.parse().unwrap();
    let get = |path: &str| {
        ward_testkit::net::http_get(addr, path)
            .map(|r| r.body)
            .unwrap_or_default()
    };
    let failing_into = |node: &str| -> (usize, usize) {
        let v: serde_json::Value = serde_json::from_str(&get("/check_all")).unwrap_or_default();
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
    let wait = |what: &str, limit: Duration, f: &dyn Fn() -> bool| {
        let start = Instant::now();
        ward_testkit::wait::until(limit, || f().then_some(()))
            .unwrap_or_else(|| panic!("{what} not within {limit:?}"));
        start.elapsed()
    };
    wait("6 x 3 checked cells", Duration::from_secs(10), &|| {
        failing_into("node-3") == (18, 0)
    });
    assert!(get("/ui").contains("ward mesh"));
    let post = |path: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        use std::io::{Read, Write};
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: lab\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        assert!(r.starts_with("HTTP/1.1 204"), "{r}");
    };
    post("/lab/fault?spec=cut:node-3");
    // Two intervals (2 x 500ms) plus the check timeout that detects it.
    let took = wait("node-3's paths failed", Duration::from_secs(3), &|| {
        failing_into("node-3").1 == 3
    });
    eprintln!("cut seen in {took:?}");
    post("/lab/clear?spec=cut:node-3");
    let took = wait("node-3's paths recovered", Duration::from_secs(3), &|| {
        failing_into("node-3") == (18, 0)
    });
    eprintln!("recovery seen in {took:?}");
    let _ = child.kill();
    let _ = child.wait();
}

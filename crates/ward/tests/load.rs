//! `ward load` and `ward keepalive` through the binary: exit codes (0 ok,
//! 1 threshold failed or race reproduced, 2 bad input or unreachable target),
//! one-line errors naming the argument, Ctrl-C printing the summary so far,
//! and the JSON reports. Real servers on loopback from testkit.

mod support;

use std::time::Duration;

use support::{finish, run, signal, spawn};
use tokio::time::Instant;

use ward_testkit::backend::Backend;
use ward_testkit::nginx::Nginx;
use ward_testkit::tcp_proxy::TcpProxy;
use ward_testkit::wait;

fn backend(idle: Duration) -> Backend {
    Backend::builder().idle_timeout(idle).start().unwrap()
}

#[test]
fn thresholds_set_the_exit_code() {
    let b = backend(Duration::from_secs(30));
    let url = b.url("/");
    // 2 VUs for half a second, then `extra`.
    let load = |extra: &[&str]| {
        let base = ["load", &url, "--vus", "2", "--duration", "500ms", "--quiet"];
        run(base.iter().chain(extra))
    };
    let ok = load(&["-t", "p99<5s", "-t", "errors<1%"]);
    assert_eq!(ok.code(), Some(0), "{}{}", ok.stdout, ok.stderr);
    let text = &ok.stdout;
    assert!(
        text.contains("✓ p99<5s") && text.contains("LATENCY") && text.contains("waiting"),
        "{text}"
    );

    let failed = load(&["-t", "requests<1", "-o", "json"]);
    assert_eq!(failed.code(), Some(1), "{}", failed.stderr);
    let json = failed.json();
    let requests = json["requests"].as_u64().unwrap();
    assert!(requests > 0);
    assert_eq!(json["status_codes"]["200"].as_u64(), Some(requests));
    assert!(json["requests_per_second"].as_f64().unwrap() > 0.0);
    assert!(json["latency"]["p95"].as_f64().unwrap() > 0.0);
    assert_eq!(json["thresholds"][0]["passed"], false);
}

/// `--rate` sends on warm keep-alive connections as k6 does: a send goes to
/// the worker idle last, so 100 requests at 100/s from up to 100 workers
/// take a few connections (it opened one per request, so every latency
/// held a TCP connect; issue 26 item 10). `--no-reuse` still opens one per
/// request. The backend counts the connections it accepted, one of them
/// ward's preflight.
#[test]
fn open_model_reuses_keep_alive_connections() {
    for no_reuse in ["--no-reuse=false", "--no-reuse=true"] {
        let b = backend(Duration::from_secs(30));
        let url = b.url("/");
        let args = [
            "load", &url, "--rate", "100/s", "-z", "1s", no_reuse, "--quiet", "-o", "json",
        ];
        let out = run(args);
        assert_eq!(out.code(), Some(0), "{no_reuse}: {}", out.stderr);
        let json = out.json();
        assert_eq!(json["requests"], 100, "{no_reuse}: {json}");
        assert_eq!(json["status_codes"]["200"], 100, "{no_reuse}: {json}");
        let opened = json["connections_opened"].as_u64().unwrap();
        assert_eq!(b.connections(), opened + 1, "{no_reuse}: {json}");
        if no_reuse.ends_with("true") {
            assert_eq!(opened, 100, "{json}");
        } else {
            assert!(
                opened <= 10,
                "{opened} connections for 100 requests: {json}"
            );
            // Each worker holds one connection, started only when all were busy.
            assert_eq!(json["vus_max"].as_u64(), Some(opened), "{json}");
        }
    }
}

/// Failures are broken down by the connection they happened on. A
/// middlebox that silently forgets connections idle 1.5 s sits in front of
/// the backend: after 1 s of requests and a 2 s gap the VU's first request
/// goes out on its reused connection, idle 2 s and open 3 s, and no answer
/// comes back; the requests after it go on a fresh connection.
#[test]
fn failures_are_broken_down_by_connection_reuse_idle_and_age() {
    let b = backend(Duration::from_secs(60));
    let proxy = TcpProxy::with_idle_drop(b.addr(), Duration::from_millis(1500)).unwrap();
    let url = format!("http://{}/", proxy.addr());
    let load = |format: &str| {
        run([
            "load",
            &url,
            "--vus",
            "1",
            "--stage",
            "1s:1",
            "--cycle-idle",
            "2s",
            "--repeat",
            "2",
            "--timeout",
            "300ms",
            "--quiet",
            "-o",
            format,
        ])
    };
    let out = load("text");
    assert_eq!(out.code(), Some(0), "{}{}", out.stdout, out.stderr);
    let line = "  failures    1 of 1 timeout_first_byte errors on reused connections idle 2.0 s, open 3.0 s";
    assert!(
        out.stdout.lines().any(|l| l == line),
        "{line:?} missing in:\n{}",
        out.stdout
    );
    let json = load("json").json();
    assert_eq!(json["failed"], 1, "{json}");
    let group = &json["failures_by_connection"][0];
    assert_eq!(
        (
            &group["failure"],
            &group["connection"],
            &group["count"],
            &group["of"]
        ),
        (
            &serde_json::json!("timeout_first_byte"),
            &serde_json::json!("reused"),
            &serde_json::json!(1),
            &serde_json::json!(1)
        ),
        "{json}"
    );
    let idle = group["idle_before"]["min"].as_f64().unwrap();
    assert!((1.9..2.1).contains(&idle), "{json}");
    assert_eq!(
        group["idle_before"]["min"], group["idle_before"]["max"],
        "{json}"
    );
}

#[test]
fn bad_input_is_a_one_line_error_naming_the_argument_exit_2() {
    let b = backend(Duration::from_secs(30));
    let url = b.url("/");
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.yaml");
    std::fs::write(
        &scenario,
        "stages:\n  - duration: 1s\n    target: 1\nexecutor: ramping-vus\n",
    )
    .unwrap();
    let scenario = scenario.to_str().unwrap();
    let port = ward_testkit::net::free_port();
    let unreachable = format!("http://127.0.0.1:{port}/");
    let cases: [(&[&str], &str); 6] = [
        (&["load", &url, "--stage", "10s"], "--stage"),
        (&["load", &url, "--stage", "ten:5"], "--stage"),
        (&["load", &url, "--threshold", "p95 fast"], "--threshold"),
        (&["load", &url, "--scenario", scenario], "--scenario"),
        (&["load", &unreachable, "--duration", "30s"], &unreachable),
        (&["keepalive", "probe", &unreachable], &unreachable),
    ];
    for (args, names) in cases {
        let started = Instant::now();
        let out = run(args);
        let err = &out.stderr;
        assert_eq!(out.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
        // One line of error (clap adds its usual `--help` hint after it).
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("For more information"))
            .collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line please: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
    }
    assert!(run(["load", &url, "--scenario", scenario])
        .stderr
        .contains("executor"));
}

/// Ctrl-C, and SIGTERM as a container runtime sends it, stop the load test
/// and print the summary of what ran (exit 0: no threshold was asked).
#[test]
fn ctrl_c_and_sigterm_print_the_summary_so_far() {
    let b = backend(Duration::from_secs(30));
    for sig in ["INT", "TERM"] {
        let before = b.requests();
        let child = spawn([
            "load",
            &b.url("/"),
            "--vus",
            "2",
            "--duration",
            "60s",
            "--quiet",
        ]);
        wait::until(Duration::from_secs(10), || {
            (b.requests() > before + 50).then_some(())
        })
        .expect("the load test runs");
        let started = Instant::now();
        signal(&child, sig);
        let out = finish(child);
        assert!(started.elapsed() < Duration::from_secs(5), "{sig}");
        assert!(
            out.stdout.contains("interrupted") && out.stdout.contains("requests"),
            "{sig}: {}\n{}",
            out.stdout,
            out.stderr
        );
        assert_eq!(out.code(), Some(0), "{sig}: {}", out.stderr);
    }
}

/// `keepalive race` stopped by SIGTERM prints its report of the waves so far.
#[test]
fn sigterm_ends_a_keepalive_race_with_its_report() {
    let b = backend(Duration::from_secs(30));
    let child = spawn([
        "keepalive",
        "race",
        "--proxy",
        &b.url("/"),
        "--backend-idle",
        "30s",
        "--max-time",
        "60s",
        "-o",
        "json",
    ]);
    wait::until(Duration::from_secs(10), || (b.requests() > 0).then_some(()))
        .expect("the race sends requests");
    let started = Instant::now();
    signal(&child, "TERM");
    let out = finish(child);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let report = out.json();
    assert_eq!(report["interrupted"], true, "{report}");
    assert_eq!(report["reproduced"], false, "{report}");
}

#[test]
fn keepalive_probe_reports_timeout_and_close_kind_as_json() {
    let b = backend(Duration::from_secs(1));
    let out = run([
        "keepalive",
        "probe",
        &b.url("/"),
        "--max-wait",
        "10s",
        "-o",
        "json",
    ]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let json = out.json();
    let t = json["timeout_seconds"].as_f64().unwrap();
    assert!((t - 1.0).abs() < 0.3, "{json}");
    assert_eq!(json["close"], "fin");
    let text = run(["keepalive", "probe", &b.url("/"), "--samples", "1"]).stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "no note on proxies after a direct measurement: {text}"
    );
    assert!(lines[0].contains("idle keep-alive timeout"), "{text}");
    assert!(
        lines[1].starts_with("samples: ") && lines[1].ends_with("ms FIN"),
        "sample kinds in words, not Rust names (`Fin`): {text}"
    );
}

/// A server that closes the connection after every response has no idle
/// timeout: the probe says so (it reported "idle keep-alive timeout
/// 0.000ms … without FIN or RST"). nginx with `keepalive_timeout 0` answers
/// `Connection: close`; it names itself, so the note on proxies follows.
#[test]
fn keepalive_probe_says_when_the_server_keeps_no_connection_alive() {
    let nginx = Nginx::builder()
        .http_config("keepalive_timeout 0;")
        .location("/", "return 200 'ok';")
        .start()
        .expect("nginx");
    let url = nginx.http_url("/");
    let out = run(["keepalive", "probe", &url]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "{url}: the server does not keep connections alive: its HTTP/1.1 response ends the \
             connection (HTTP/1.0 without `Connection: keep-alive`, or `Connection: close`), so \
             there is no idle timeout to measure"
        )
    );
    assert!(
        lines[1].starts_with("note: the server is a proxy (Server: nginx"),
        "{}",
        out.stdout
    );
    let json = run(["keepalive", "probe", &url, "-o", "json"]).json();
    assert_eq!(json["close"], "no_keep_alive", "{json}");
    assert_eq!(json["timeout_seconds"], serde_json::Value::Null, "{json}");
    assert_eq!(json["samples"], serde_json::json!([]), "{json}");
    assert!(
        json["proxy"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Server: nginx"),
        "{json}"
    );
}

#[test]
fn keepalive_probe_bisects_a_silent_drop_within_max_wait() {
    // Backend idle 60s behind a middlebox that silently forgets connections idle 1.5s.
    let b = backend(Duration::from_secs(60));
    let proxy = TcpProxy::with_idle_drop(b.addr(), Duration::from_millis(1500)).unwrap();
    let url = format!("http://{}/", proxy.addr());
    let probe = |format: &str| {
        spawn([
            "keepalive",
            "probe",
            &url,
            "--samples",
            "1",
            "--max-wait",
            "2s",
            "--timeout",
            "300ms",
            "-o",
            format,
        ])
    };
    let started = Instant::now();
    let (json, text) = (probe("json"), probe("text"));
    let (json, text) = (finish(json), finish(text));
    // Passive 2s + 300ms check, then 3 rounds of at most 2s + 2 x 300ms.
    assert!(started.elapsed() < Duration::from_millis(10_100));
    assert_eq!(json.code(), Some(0), "{}", json.stderr);
    let v = json.json();
    assert_eq!(v["method"], "bisect", "{v}");
    assert_eq!(v["close"], "silent_drop", "{v}");
    assert_eq!(v["max_wait_seconds"], 2.0, "{v}");
    let lower = v["bracket"]["lower_seconds"].as_f64().unwrap();
    let upper = v["bracket"]["upper_seconds"].as_f64().unwrap();
    assert!(lower <= 1.5 && 1.5 <= upper + 0.02, "{v}");
    assert!(upper - lower <= 0.05, "{v}");
    assert_eq!(v["timeout_seconds"].as_f64(), Some(upper), "{v}");
    let text = &text.stdout;
    for needle in [
        "bracketed by send-after-wait probes",
        "silent drop: a request after ",
        "nothing sent a FIN or RST",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn keepalive_race_explains_and_exits_1_when_reproduced() {
    let b = backend(Duration::from_secs(1));
    let nginx = Nginx::builder()
        .http_config(format!(
            "upstream backend {{ server {}; keepalive 32; keepalive_timeout 60s; }}",
            b.addr()
        ))
        .location(
            "/",
            "proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";",
        )
        .start()
        .unwrap();
    let out = run([
        "keepalive",
        "race",
        "--proxy",
        &nginx.http_url("/"),
        "--backend",
        &b.url("/"),
        "--stop-after",
        "1",
        "--max-wait",
        "10s",
    ]);
    let text = &out.stdout;
    assert_eq!(out.code(), Some(1), "{text}\n{}", out.stderr);
    for needle in [
        "502",
        "Why POST",
        "$upstream_status \"502, 200\"",
        "keepalive_timeout 700ms",
        "keepAliveTimeout=\"65000\"",
        "upstream prematurely closed connection",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // The 502s came after an idle gap near the backend's 1 s.
    let first_gap = text
        .lines()
        .find_map(|l| l.strip_prefix("502s by idle gap (previous response end to send): "))
        .and_then(|l| l.split_once(" ms "))
        .and_then(|(gap, _)| gap.parse::<u64>().ok());
    assert!(
        first_gap.is_some_and(|ms| (900..1100).contains(&ms)),
        "{text}"
    );
}

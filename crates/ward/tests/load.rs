//! `ward load` and `ward keepalive` through the binary: exit codes (0 ok,
//! 1 threshold failed or race reproduced, 2 bad input or unreachable target),
//! one-line errors naming the argument, Ctrl-C printing the summary so far,
//! and the JSON reports. Real servers on loopback from testkit.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tokio::time::Instant;
use ward_testkit::backend::Backend;
use ward_testkit::nginx::Nginx;
use ward_testkit::tcp_proxy::TcpProxy;
use ward_testkit::wait;

fn ward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ward runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn backend(idle: Duration) -> Backend {
    Backend::builder().idle_timeout(idle).start().unwrap()
}

#[test]
fn thresholds_set_the_exit_code() {
    let b = backend(Duration::from_secs(30));
    let url = b.url("/");
    let ok = ward(&[
        "load",
        &url,
        "--vus",
        "2",
        "--duration",
        "500ms",
        "--quiet",
        "-t",
        "p99<5s",
        "-t",
        "errors<1%",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}{}", stdout(&ok), stderr(&ok));
    let text = stdout(&ok);
    assert!(
        text.contains("✓ p99<5s") && text.contains("LATENCY") && text.contains("waiting"),
        "{text}"
    );

    let failed = ward(&[
        "load",
        &url,
        "--vus",
        "2",
        "--duration",
        "500ms",
        "--quiet",
        "-t",
        "requests<1",
        "-o",
        "json",
    ]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    let json: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    let requests = json["requests"].as_u64().unwrap();
    assert!(requests > 0);
    assert_eq!(json["status_codes"]["200"].as_u64(), Some(requests));
    assert!(json["requests_per_second"].as_f64().unwrap() > 0.0);
    assert!(json["latency"]["p95"].as_f64().unwrap() > 0.0);
    assert_eq!(json["thresholds"][0]["passed"], false);
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
        let out = ward(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
        // One line of error (clap adds its usual `--help` hint after it).
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("For more information"))
            .collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line please: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
    }
    assert!(stderr(&ward(&["load", &url, "--scenario", scenario])).contains("executor"));
}

#[test]
fn ctrl_c_prints_the_summary_so_far() {
    let b = backend(Duration::from_secs(30));
    let child = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args([
            "load",
            &b.url("/"),
            "--vus",
            "2",
            "--duration",
            "60s",
            "--quiet",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait::until(Duration::from_secs(10), || {
        (b.requests() > 50).then_some(())
    })
    .expect("the load test runs");
    let started = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = stdout(&out);
    assert!(
        text.contains("interrupted") && text.contains("requests"),
        "{text}\n{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn keepalive_probe_reports_timeout_and_close_kind_as_json() {
    let b = backend(Duration::from_secs(1));
    let out = ward(&[
        "keepalive",
        "probe",
        &b.url("/"),
        "--max-wait",
        "10s",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = json["timeout_seconds"].as_f64().unwrap();
    assert!((t - 1.0).abs() < 0.3, "{json}");
    assert_eq!(json["close"], "fin");
    let text = stdout(&ward(&[
        "keepalive",
        "probe",
        &b.url("/"),
        "--samples",
        "1",
    ]));
    assert!(
        text.contains("idle keep-alive timeout") && text.contains("FIN"),
        "{text}"
    );
}

#[test]
fn keepalive_probe_bisects_a_silent_drop_within_max_wait() {
    // Backend idle 60s behind a middlebox that silently forgets connections idle 1.5s.
    let b = backend(Duration::from_secs(60));
    let proxy = TcpProxy::with_idle_drop(b.addr(), Duration::from_millis(1500)).unwrap();
    let url = format!("http://{}/", proxy.addr());
    let run = |format: &str| {
        Command::new(env!("CARGO_BIN_EXE_ward"))
            .args(["keepalive", "probe", &url, "--samples", "1"])
            .args(["--max-wait", "2s", "--timeout", "300ms", "-o", format])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ward runs")
    };
    let started = Instant::now();
    let (json, text) = (run("json"), run("text"));
    let (json, text) = (
        json.wait_with_output().unwrap(),
        text.wait_with_output().unwrap(),
    );
    // Passive 2s + 300ms check, then 3 rounds of at most 2s + 2 x 300ms.
    assert!(started.elapsed() < Duration::from_millis(10_100));
    assert_eq!(json.status.code(), Some(0), "{}", stderr(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["method"], "bisect", "{v}");
    assert_eq!(v["close"], "silent_drop", "{v}");
    assert_eq!(v["max_wait_seconds"], 2.0, "{v}");
    let lower = v["bracket"]["lower_seconds"].as_f64().unwrap();
    let upper = v["bracket"]["upper_seconds"].as_f64().unwrap();
    assert!(lower <= 1.5 && 1.5 <= upper + 0.02, "{v}");
    assert!(upper - lower <= 0.05, "{v}");
    assert_eq!(v["timeout_seconds"].as_f64(), Some(upper), "{v}");
    let text = stdout(&text);
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
    let out = ward(&[
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
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
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

//! `ward probe` as a user runs it, against real nginx on loopback: the phase
//! table, JSON for one and for repeated checks (summary from a running tally),
//! TLS with the generated CA and without it, exit codes, and bad input as one
//! line naming the argument with exit 2.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::Run;
use ward_testkit::nginx::Nginx;

/// `ward probe ARGS…`.
fn probe(args: &[&str]) -> Run {
    support::run(std::iter::once("probe").chain(args.iter().copied()))
}

fn nginx() -> Nginx {
    Nginx::builder()
        .tls(true)
        .location("= /ok", "return 200 'fine';")
        .location("= /missing", "return 404;")
        .start()
        .unwrap()
}

fn first_column(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

#[test]
fn one_https_check_prints_every_phase_and_ok() {
    let nginx = nginx();
    let ca = nginx.ca_path().unwrap().to_str().unwrap().to_string();
    let out = probe(&[&nginx.https_url("/ok"), "--cacert", &ca, "--roots", "none"]);
    let stdout = out.stdout.clone();
    assert_eq!(out.code(), Some(0), "{stdout}{}", out.stderr.clone());
    assert!(stdout.contains("HTTP/2.0, status 200, TLSv1_"), "{stdout}");
    assert!(stdout.contains(" alpn=h2\n"), "nginx offers h2: {stdout}");
    assert_eq!(
        first_column(&stdout)[2..],
        ["phase", "dns", "connect", "tls", "send", "wait", "receive", "total", "OK"],
        "{stdout}"
    );
    let tls_row = stdout.lines().find(|l| l.starts_with("tls ")).unwrap();
    assert!(
        tls_row.ends_with("ms"),
        "the handshake was timed: {tls_row}"
    );
}

#[test]
fn an_unknown_ca_fails_with_the_tls_class_unless_insecure() {
    let nginx = nginx();
    let url = nginx.https_url("/ok");
    let out = probe(&[&url, "--roots", "none"]);
    let stderr = out.stderr.clone();
    assert_eq!(out.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("ward: probe failed (1/1 checks): tls: "),
        "{stderr}"
    );
    assert!(out.stdout.clone().contains("FAILED tls: "));

    let out = probe(&[&url, "--roots", "none", "--insecure"]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr.clone());
}

#[test]
fn a_status_outside_the_accepted_set_fails_with_http_status() {
    let nginx = nginx();
    let out = probe(&[&nginx.http_url("/missing")]);
    assert_eq!(out.code(), Some(1));
    assert!(
        out.stderr
            .clone()
            .starts_with("ward: probe failed (1/1 checks): http_status: "),
        "{}",
        out.stderr.clone()
    );
    let out = probe(&[&nginx.http_url("/missing"), "--expect-status", "200,404"]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr.clone());
}

#[test]
fn repeated_checks_print_every_outcome_and_a_summary_as_json() {
    let nginx = nginx();
    let out = probe(&[
        &nginx.http_url("/ok"),
        "--count",
        "4",
        "--interval",
        "0",
        "--reuse",
        "-o",
        "json",
    ]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr.clone());
    let report: Value = out.json();
    let outcomes = report["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 4);
    let reused: Vec<bool> = outcomes
        .iter()
        .map(|o| o["reused"].as_bool().unwrap())
        .collect();
    assert_eq!(reused, [false, true, true, true]);
    assert!(outcomes[1]["phases"]["connect"].is_null());
    // Connection facts: a fresh connection has an age and no idle time; a
    // reused one both, and it is older than it was idle.
    assert!(outcomes[0]["connection_age"].is_f64(), "{report}");
    assert!(outcomes[0]["idle_before"].is_null(), "{report}");
    for o in &outcomes[1..] {
        let (age, idle) = (o["connection_age"].as_f64(), o["idle_before"].as_f64());
        assert!(matches!((age, idle), (Some(a), Some(i)) if a > i), "{o}");
    }
    let summary = &report["summary"];
    assert_eq!(
        (summary["checks"].as_u64(), summary["successes"].as_u64()),
        (Some(4), Some(4))
    );
    let phases: Vec<&str> = summary["phases"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(phases, ["connect", "receive", "send", "wait"]);
    assert_eq!(
        summary["phases"]["connect"]["count"], 1,
        "only the first check connected"
    );
    assert_eq!(summary["phases"]["wait"]["count"], 4);
    assert_eq!(summary["total"]["count"], 4);
}

#[test]
fn repeated_failures_are_counted_by_class_with_the_last_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let target = format!("tcp://{addr}");
    let out = probe(&[&target, "-c", "3", "-i", "0"]);
    let stdout = out.stdout.clone();
    assert_eq!(out.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with(&format!("{target}: 0/3 checks succeeded\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains("\nfailed: 3 x connect_refused\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\nlast error: connect_refused: "),
        "{stdout}"
    );
    assert_eq!(
        out.stderr.clone().lines().collect::<Vec<_>>().len(),
        1,
        "{}",
        out.stderr.clone()
    );
}

#[test]
fn bad_input_is_one_line_naming_the_argument_with_exit_2() {
    let missing = PathBuf::from("/nonexistent/ca.pem");
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), "not a certificate\n").unwrap();
    let junk = junk.path().to_str().unwrap();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["http://"], "target \"http://\": empty host".into()),
        (
            vec!["ftp://x/"],
            "target \"ftp://x/\": unknown scheme \"ftp\"".into(),
        ),
        (
            vec!["http://127.0.0.1:1/", "--cacert", missing.to_str().unwrap()],
            format!(
                "--cacert: reading CA file {}: No such file",
                missing.display()
            ),
        ),
        (
            vec!["https://127.0.0.1:1/", "--cert", junk, "--key", junk],
            format!("--cert: client certificate {junk}: no PEM certificate found"),
        ),
        (
            vec!["http://127.0.0.1:1/", "--interval", "5x"],
            "'--interval <INTERVAL>': invalid duration \"5x\"".into(),
        ),
        (
            vec!["http://127.0.0.1:1/", "-X", "BAD METHOD"],
            "--method \"BAD METHOD\": not an HTTP method".into(),
        ),
        (
            vec!["dns://127.0.0.1/x?type=BOGUS"],
            "unknown record type \"BOGUS\"".into(),
        ),
    ];
    for (args, needle) in cases {
        let out = probe(&args);
        let stderr = out.stderr.clone();
        assert_eq!(out.code(), Some(2), "{args:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains(&needle),
            "{args:?}: {first:?} lacks {needle:?}"
        );
        assert!(
            !first.contains("os error 2): "),
            "{args:?}: a cause is printed twice: {first}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn the_demo_needs_no_server_of_the_users() {
    let out = probe(&["--demo", "-o", "json"]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let report = out.json();
    assert_eq!(report["summary"]["successes"], 5, "{report}");
}

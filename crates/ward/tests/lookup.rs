//! `ward lookup` as a user runs it: the agent with hostlookuper's flags and
//! env vars against real unbound on loopback (/metrics, /healthz, /readyz,
//! keeps running when a host does not resolve, stops on SIGTERM), `ward
//! lookup once` tables and JSON with exit codes, bad input, and the drop-in
//! comparison with the real hostlookuper run side by side.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::ward_bin;

use ward_testkit::dns::DnsServer;
use ward_testkit::isolate::Isolated;
use ward_testkit::net::{free_port, http_get, http_request};
use ward_testkit::process::{find_binary, Process, Signal};
use ward_testkit::wait;

fn unbound(ip: &str) -> DnsServer {
    DnsServer::unbound()
        .bind_ip(ip)
        .a("a.test", "127.0.0.9")
        .a("b.test", "127.0.0.9")
        .start()
        .expect("unbound")
}

fn spawn(
    component: &str,
    dir: &Path,
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
) -> Process {
    Process::spawn_with(
        component,
        program,
        args,
        &dir.join(format!("{component}.log")),
        env,
    )
    .expect("spawn")
}

fn metrics(addr: SocketAddr) -> String {
    http_get(addr, "/metrics")
        .map(|r| r.body)
        .unwrap_or_default()
}

/// Waits until `/metrics` at `addr` shows at least `n` answered lookups of every series in `series`.
fn wait_for_lookups(addr: SocketAddr, series: &[String], n: f64) -> String {
    wait::until(Duration::from_secs(15), || {
        let text = metrics(addr);
        series
            .iter()
            .all(|s| {
                text.lines()
                    .find_map(|l| {
                        l.strip_prefix(s.as_str())
                            .and_then(|v| v.trim().parse::<f64>().ok())
                    })
                    .is_some_and(|v| v >= n)
            })
            .then_some(text)
    })
    .unwrap_or_else(|| panic!("no {n} lookups of {series:?} at {addr}:\n{}", metrics(addr)))
}

#[test]
fn agent_serves_hostlookuper_metrics_and_keeps_running_when_a_host_fails() {
    let server = unbound("127.0.0.41");
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let servers = format!("udp://{}", server.addr());
    // Go single-dash flags as in existing manifests; hosts from the env var.
    let args: Vec<String> = [
        "lookup",
        "-interval",
        "200ms",
        "-timeout=1s",
        "-listen",
        &addr.to_string(),
        "-dns-servers",
        &servers,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut ward = spawn(
        "ward-lookup",
        dir.path(),
        ward_bin(),
        &args,
        &[("HOSTLOOKUPER_HOSTS", "a.test,missing.test")],
    );
    let ready = wait::until(Duration::from_secs(10), || {
        http_get(addr, "/readyz").filter(|r| r.status == 200)
    });
    assert!(ready.is_some(), "/readyz never 200: {}", ward.log_tail(20));
    assert_eq!(http_get(addr, "/healthz").map(|r| r.status), Some(200));
    let ok = format!("hostlookuper_dns_lookup_total{{host=\"a.test\",dns_server=\"{servers}\",rcode=\"NOERROR\"}}");
    let nx = format!("hostlookuper_dns_lookup_total{{host=\"missing.test\",dns_server=\"{servers}\",rcode=\"NXDOMAIN\"}}");
    let text = wait_for_lookups(addr, &[ok, nx], 3.0);
    assert!(
        text.contains(&format!(
            "hostlookuper_dns_errors_total{{host=\"missing.test\",dns_server=\"{servers}\"}} 0"
        )),
        "{text}"
    );
    assert!(
        text.contains("ward_lookup_errors_total{host=\"missing.test\""),
        "{text}"
    );
    assert!(text.contains("vmrange=\""), "{text}");
    assert!(
        ward.is_running(),
        "a host that does not resolve must not stop the agent"
    );
    ward.signal(Signal::SIGTERM).expect("SIGTERM sent");
    // The guardian shell outlives ward (it waits on stdin): watch ward's own pid.
    let stat = format!("/proc/{}/stat", ward.pid());
    let exited = || {
        std::fs::read_to_string(&stat)
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    };
    let stopped = wait::until(Duration::from_secs(10), || exited().then_some(()));
    assert!(
        stopped.is_some(),
        "ward lookup did not stop on SIGTERM: {}",
        ward.log_tail(20)
    );
}

#[test]
fn once_prints_a_table_per_server_and_json() {
    let server = unbound("127.0.0.42");
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, format!("search svc.cluster.local cluster.local\nnameserver {}\noptions ndots:5 timeout:1 attempts:1\n", server.addr())).unwrap();
    let resolv = resolv.display().to_string();
    let servers = format!("udp://{},tcp://{}", server.addr(), server.addr());
    let run = support::run([
        "lookup",
        "once",
        "a.test",
        "-dns-servers",
        &servers,
        "-resolv-conf",
        &resolv,
    ]);
    assert_eq!(run.code(), Some(0), "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains(&format!("udp://{}\nHOST", server.addr())),
        "{out}"
    );
    assert!(
        out.contains(&format!("tcp://{}\nHOST", server.addr())),
        "{out}"
    );
    assert!(out.contains("resolv.conf (nameservers"), "{out}");
    // ndots:5: two search domains, then the name itself.
    assert!(
        out.contains("a.test.svc.cluster.local") && out.contains("a.test.cluster.local"),
        "{out}"
    );
    let resolv_row = out
        .lines()
        .skip_while(|l| !l.starts_with("resolv.conf"))
        .nth(2)
        .unwrap_or_default();
    assert!(
        resolv_row.starts_with("a.test")
            && resolv_row.contains("NOERROR")
            && resolv_row.split_whitespace().nth(3) == Some("3"),
        "{resolv_row}"
    );

    let run = support::run([
        "lookup",
        "once",
        "a.test",
        "missing.test:AAAA",
        "--dns-servers",
        &servers,
        "-o",
        "json",
    ]);
    assert_eq!(run.code(), Some(1), "a lookup failed: exit 1");
    let json = run.json();
    let lookups = json["lookups"].as_array().expect("lookups");
    assert_eq!(lookups.len(), 4);
    assert!(lookups.iter().any(|l| l["host"] == "missing.test:AAAA"
        && l["rcode"] == "NXDOMAIN"
        && l["failure"] == "nxdomain"));
    assert!(lookups
        .iter()
        .all(|l| l["queries"].as_array().map(Vec::len) == Some(1)));
}

/// hostlookuper's debug log: `-debug` or `HOSTLOOKUPER_DEBUG=true` log
/// every lookup at the default log level (they printed nothing: the lines
/// were info, below the default `warn`); without it nothing is logged.
#[test]
fn debug_logs_every_lookup_at_the_default_level() {
    let server = unbound("127.0.0.43");
    let servers = format!("udp://{}", server.addr());
    let once = ["lookup", "once", "a.test", "-dns-servers", &servers];
    let quiet = support::run(once);
    assert_eq!(quiet.code(), Some(0), "{}", quiet.stderr);
    assert_eq!(quiet.stderr, "", "no log without -debug");
    for run in [
        support::run(once.iter().chain(&["-debug"])),
        support::ward()
            .args(once)
            .env("HOSTLOOKUPER_DEBUG", "true")
            .output()
            .expect("ward runs")
            .into(),
    ] {
        assert_eq!(run.code(), Some(0), "{}", run.stderr);
        let line = run
            .stderr
            .lines()
            .find(|l| l.contains("lookup result"))
            .unwrap_or_else(|| panic!("no lookup logged: {:?}", run.stderr));
        // JSON with zap's keys: stderr is no terminal here (as hostlookuper).
        let entry: serde_json::Value = serde_json::from_str(line).expect(line);
        assert_eq!(
            (
                &entry["level"],
                &entry["host"],
                &entry["dns_server"],
                &entry["rcode"]
            ),
            (
                &serde_json::json!("INFO"),
                &serde_json::json!("a.test"),
                &serde_json::json!(servers),
                &serde_json::json!("NOERROR")
            ),
            "{line}"
        );
    }
}

#[test]
fn bad_input_is_one_line_naming_the_flag_and_exit_2() {
    for (args, flag) in [
        (&["lookup", "-interval", "5x"][..], "--interval"),
        (&["lookup", "-hosts", ""][..], "--hosts"),
        (&["lookup", "-hosts", "a.test:BOGUS"][..], "--hosts"),
        (
            &["lookup", "-dns-servers", "udp://1.1.1.1:53:x"][..],
            "--dns-servers",
        ),
        (
            &["lookup", "once", "x.test", "-dns-servers", "quic://1.1.1.1"][..],
            "--dns-servers",
        ),
    ] {
        let run = support::run(args);
        let err = &run.stderr;
        assert_eq!(run.code(), Some(2), "{args:?}: {}{err}", run.stdout);
        assert_eq!(
            err.lines().count(),
            1,
            "{args:?}: one line expected:\n{err}"
        );
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    let run = support::run([
        "lookup",
        "once",
        "x.test",
        "--resolv-conf",
        "/nonexistent/resolv.conf",
    ]);
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr.contains("/nonexistent/resolv.conf"),
        "{}",
        run.stderr
    );
}

/// What hostlookuper (Go's flag package, then its own start-up checks)
/// refuses, ward refuses too, in one line naming the flag, or the variable
/// when the value came from one, with exit code 2 (Go's for a bad flag).
#[test]
fn what_hostlookuper_refuses_is_refused_with_exit_2() {
    let boolean =
        "(Go's flag package accepts 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)";
    for (args, env, line) in [
        (
            &["-debug=yes"][..],
            None,
            format!("ward lookup: invalid value 'yes' for '--debug[=<DEBUG>]': invalid boolean value \"yes\" {boolean}"),
        ),
        (
            &[],
            Some(("HOSTLOOKUPER_PROM_HISTOGRAM", "on")),
            format!("ward lookup: invalid value 'on' for HOSTLOOKUPER_PROM_HISTOGRAM (--prom-histogram): invalid boolean value \"on\" {boolean}"),
        ),
        (
            &["-interval", "0"],
            None,
            "ward lookup: invalid value '0' for '--interval <INTERVAL>': \"0\": must be greater than zero".into(),
        ),
        (
            &[],
            Some(("HOSTLOOKUPER_INTERVAL", "-5s")),
            "ward lookup: invalid value '-5s' for HOSTLOOKUPER_INTERVAL (--interval): invalid duration \"-5s\" (expected e.g. 500ms, 5s, 1m30s)".into(),
        ),
        (
            &["-timeout=-1s"],
            None,
            "ward lookup: invalid value '-1s' for '--timeout <TIMEOUT>': invalid duration \"-1s\" (expected e.g. 500ms, 5s, 1m30s)".into(),
        ),
        (
            &["-hosts", "a.test, b.test"],
            None,
            "ward lookup: invalid value 'a.test, b.test' for '--hosts <HOSTS>': host \" b.test\": not a DNS name (white space)".into(),
        ),
        (
            &[],
            Some(("HOSTLOOKUPER_HOSTS", "a.test,")),
            "ward lookup: invalid value 'a.test,' for HOSTLOOKUPER_HOSTS (--hosts): host \"\": empty name".into(),
        ),
        (
            &["-dns-servers", "udp://127.0.0.1:53,,udp://127.0.0.2:53"],
            None,
            "ward lookup: invalid value 'udp://127.0.0.1:53,,udp://127.0.0.2:53' for '--dns-servers <DNS_SERVERS>': DNS server \"\": empty entry".into(),
        ),
        (
            &["-listen", "127.0.0.1:1", "-nope"],
            None,
            "ward lookup: unexpected argument '--nope' found".into(),
        ),
    ] {
        let mut cmd = support::ward();
        cmd.arg("lookup").args(args);
        if let Some((var, value)) = env {
            cmd.env(var, value);
        }
        let run = support::Run::from(cmd.output().expect("running ward"));
        assert_eq!(
            (run.code(), run.stderr.trim_end()),
            (Some(2), line.as_str()),
            "{args:?} {env:?}"
        );
    }
}

/// Go's flag rules in a running agent: the last of a repeated flag wins,
/// parsing stops at the first argument that is not a flag (a bool flag
/// takes no separate value, so `-prom-histogram true` is `-prom-histogram`
/// and ends the flags), `-timeout 0` is miekg/dns's 2 s; `/metrics` answers
/// any method; the logs are zap's JSON, as hostlookuper's.
#[test]
fn agent_follows_gos_flag_rules_serves_any_method_and_logs_json() {
    let server = unbound("127.0.0.44");
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let servers = format!("udp://{}", server.addr());
    let args: Vec<String> = [
        "lookup",
        "-interval",
        "5m",
        "-listen",
        "127.0.0.1:1",
        "-interval=100ms",
        "-timeout",
        "0",
        "-listen",
        &addr.to_string(),
        "-hosts",
        "a.test",
        "-dns-servers",
        &servers,
        "-prom-histogram",
        "true",
        "-interval",
        "5m",
        "-debug",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut ward = spawn("ward-lookup", dir.path(), ward_bin(), &args, &[]);
    let answered = format!(
        "hostlookuper_dns_lookup_total{{host=\"a.test\",dns_server=\"{servers}\",rcode=\"NOERROR\"}}"
    );
    // Five lookups at 100 ms, not one every 5 minutes.
    let text = wait_for_lookups(addr, &[answered], 5.0);
    assert!(
        text.contains(",le=\"0.005\"}"),
        "-prom-histogram on: {text}"
    );
    let posted = http_request(addr, "POST", "/metrics", "").expect("POST /metrics");
    assert_eq!(posted.status, 200);
    assert!(posted.body.contains("hostlookuper_dns_lookup_total"));
    let log = std::fs::read_to_string(dir.path().join("ward-lookup.log")).unwrap();
    let first = log.lines().next().unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(first)
        .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {first}"));
    // zap's keys first, in zap's order.
    let ts = json["ts"].as_str().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{{\"level\":\"WARN\",\"ts\":\"{ts}\",\"msg\":")),
        "{first}"
    );
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "ISO 8601 with milliseconds: {ts}"
    );
    assert_eq!(
        json["msg"],
        "ignoring \"true\" and what follows: flag parsing stops at the first argument that is not a flag, as in Go",
        "{first}"
    );
    assert!(ward.is_running(), "{}", ward.log_tail(10));
}

/// Metric family → set of label-name lists (label values dropped, `vmrange`/`le` kept as names).
fn shapes(text: &str, prefix: &str) -> BTreeMap<String, BTreeSet<Vec<String>>> {
    let mut out: BTreeMap<String, BTreeSet<Vec<String>>> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with(prefix)) {
        let series = line.rsplit_once(' ').map(|(s, _)| s).unwrap_or(line);
        let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
        let mut keys = Vec::new();
        let mut rest = labels.trim_end_matches('}');
        while let Some((key, after)) = rest.split_once("=\"") {
            keys.push(key.trim_start_matches(',').to_string());
            // Skip the quoted value (Go %q escapes).
            let mut end = 0;
            let bytes = after.as_bytes();
            while end < bytes.len()
                && !(bytes[end] == b'"' && (end == 0 || bytes[end - 1] != b'\\'))
            {
                end += 1;
            }
            rest = &after[(end + 1).min(after.len())..];
        }
        out.entry(name.to_string()).or_default().insert(keys);
    }
    out
}

/// The series shapes of hostlookuper v1.0.9 (doc/example_metrics and main.go).
fn documented_shapes(le: bool) -> BTreeMap<String, BTreeSet<Vec<String>>> {
    let hs = |extra: &[&str]| {
        let mut v = vec!["host".to_string(), "dns_server".to_string()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let bucket = if le { "le" } else { "vmrange" };
    BTreeMap::from([
        (
            "hostlookuper_dns_errors_total".into(),
            BTreeSet::from([hs(&[])]),
        ),
        (
            "hostlookuper_dns_lookup_duration_seconds_bucket".into(),
            BTreeSet::from([hs(&[bucket])]),
        ),
        (
            "hostlookuper_dns_lookup_duration_seconds_count".into(),
            BTreeSet::from([hs(&[])]),
        ),
        (
            "hostlookuper_dns_lookup_duration_seconds_sum".into(),
            BTreeSet::from([hs(&[])]),
        ),
        (
            "hostlookuper_dns_lookup_total".into(),
            BTreeSet::from([hs(&["rcode"])]),
        ),
    ])
}

fn hostlookuper_binary() -> Option<PathBuf> {
    match find_binary("hostlookuper", "hostlookuper") {
        Ok(path) => Some(path),
        Err(e) => {
            let tools = std::env::var_os("WARD_TOOLS_DIR")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ward/tools"))
                })
                .unwrap_or_default();
            match std::fs::read_to_string(tools.join("bin/.hostlookuper.unavailable")) {
                // The module proxy refused the module: say so, compare with the documented shapes only.
                Ok(reason) => {
                    eprintln!("hostlookuper could not be built ({}); comparing with its documented series only", reason.trim());
                    None
                }
                Err(_) => panic!("{e}"),
            }
        }
    }
}

#[test]
fn drop_in_metric_families_and_label_sets_equal_hostlookupers() {
    let server = unbound("127.0.0.43");
    let dir = tempfile::tempdir().unwrap();
    let servers = format!("udp://{},tcp://{}", server.addr(), server.addr());
    let hosts = "a.test,missing.test";
    let hostlookuper = hostlookuper_binary();
    for prom in [false, true] {
        let mut flags = vec![
            "-interval",
            "200ms",
            "-timeout",
            "1s",
            "-hosts",
            hosts,
            "-dns-servers",
            &servers,
        ];
        if prom {
            flags.push("-prom-histogram");
        }
        let run = |component: &str, program: &Path, pre: &[&str]| {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let listen = addr.to_string();
            let args: Vec<String> = pre
                .iter()
                .chain(&flags)
                .chain(&["-listen", listen.as_str()])
                .map(|s| s.to_string())
                .collect();
            (spawn(component, dir.path(), program, &args, &[]), addr)
        };
        let (_ward, ward_addr) = run("ward", ward_bin(), &["lookup"]);
        let series: Vec<String> = ["a.test", "missing.test"]
            .iter()
            .flat_map(|h| {
                let rcode = if *h == "a.test" { "NOERROR" } else { "NXDOMAIN" };
                servers
                    .split(',')
                    .map(move |s| format!("hostlookuper_dns_lookup_total{{host=\"{h}\",dns_server=\"{s}\",rcode=\"{rcode}\"}}"))
            })
            .collect();
        let ours = shapes(&wait_for_lookups(ward_addr, &series, 2.0), "hostlookuper_");
        assert_eq!(ours, documented_shapes(prom), "prom-histogram={prom}");
        let Some(binary) = &hostlookuper else {
            continue;
        };
        // hostlookuper checks every host with the system resolver at start (and exits
        // if one fails): give it the test names in /etc/hosts and a loopback-only
        // resolv.conf, in a private mount namespace, so it never asks a real server.
        let etc = dir.path().join(format!("etc-{prom}"));
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("hosts"),
            "127.0.0.1 localhost\n127.0.0.9 a.test missing.test\n",
        )
        .unwrap();
        std::fs::write(etc.join("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
        let script = format!(
            "mount --bind '{0}/hosts' /etc/hosts && mount --bind '{0}/resolv.conf' /etc/resolv.conf && exec \"$0\" \"$@\"",
            etc.display()
        );
        let unshare = PathBuf::from("/usr/bin/unshare");
        let pre = [
            "-m",
            "sh",
            "-c",
            script.as_str(),
            binary.to_str().unwrap_or_default(),
        ];
        let (_theirs, their_addr) = run("hostlookuper", &unshare, &pre);
        let theirs = shapes(&wait_for_lookups(their_addr, &series, 2.0), "hostlookuper_");
        assert_eq!(
            ours, theirs,
            "prom-histogram={prom}: families and label sets differ"
        );
    }
}

/// A server given by name (`udp://dns.ward.test:PORT`) is resolved again for
/// every lookup, not once at start as hostlookuper does: when the name
/// moves to another address, the lookups follow it (same series).
#[test]
fn server_names_are_resolved_again_for_every_lookup() {
    let first = unbound("127.0.0.46");
    let port = first.addr().port();
    let second = DnsServer::unbound()
        .bind_ip("127.0.0.47")
        .port(port)
        .a("a.test", "127.0.0.9")
        .start()
        .expect("unbound");
    let at = |ip: [u8; 4]| [("dns.ward.test", ip.into())];
    let view = Isolated::new()
        .unwrap()
        .hosts(&at([127, 0, 0, 46]))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let server = format!("udp://dns.ward.test:{port}");
    let (program, mut args) = view.wrap(ward_bin());
    args.extend(
        [
            "lookup",
            "-interval",
            "100ms",
            "-listen",
            &addr.to_string(),
            "-hosts",
            "a.test",
            "-dns-servers",
            &server,
        ]
        .map(String::from),
    );
    let ward = spawn("ward-lookup", dir.path(), &program, &args, &[]);
    let series = format!(
        "hostlookuper_dns_lookup_total{{host=\"a.test\",dns_server=\"{server}\",rcode=\"NOERROR\"}}"
    );
    wait_for_lookups(addr, std::slice::from_ref(&series), 2.0);
    assert!(first.queries_for("a.test") >= 2);
    assert_eq!(second.queries_for("a.test"), 0);
    view.rewrite_hosts(&at([127, 0, 0, 47])).unwrap();
    let moved = wait::until(Duration::from_secs(15), || {
        (second.queries_for("a.test") >= 2).then_some(())
    });
    assert!(moved.is_some(), "{}", ward.log_tail(10));
}

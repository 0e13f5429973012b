//! Lameduck through a real nginx, the way an ingress controller works: nginx
//! balances over the nurses' `/alwayshappy` with `proxy_next_upstream off`; a
//! small controller polls each nurse's `/ready` and rewrites the upstream list
//! and reloads nginx when one turns 503 (as ingress-nginx does from
//! Endpoints). A client hitting nginx continuously while one nurse gets
//! SIGTERM sees no failure with a shutdown duration, and failures without.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use ward_testkit::net::{free_port, http_get};
use ward_testkit::nginx::Nginx;
use ward_testkit::process::{Process, Signal};
use ward_testkit::wait;

fn upstream(ready: &[SocketAddr]) -> Vec<String> {
    let servers: String = ready.iter().map(|a| format!("server {a};")).collect();
    vec![format!("upstream nurses {{ {servers} }}")]
}

/// Runs the scenario; returns (requests sent, requests failed).
fn sigterm_under_load(shutdown: &str) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addrs: Vec<SocketAddr> = (11..=13)
        .map(|i| format!("127.0.0.{i}:{port}").parse().unwrap())
        .collect();
    let mut nurses: Vec<Process> = addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let listen = addr.to_string();
            let env = [
                ("KUBENURSE_CHECK_API_SERVER_DIRECT", "false"),
                ("KUBENURSE_CHECK_API_SERVER_DNS", "false"),
                ("KUBENURSE_CHECK_ME_INGRESS", "false"),
                ("KUBENURSE_CHECK_ME_SERVICE", "false"),
                ("KUBENURSE_CHECK_NEIGHBOURHOOD", "false"),
                ("KUBENURSE_SHUTDOWN_DURATION", shutdown),
                ("POD_NAME", "lameduck"),
                ("WARD_NURSE_LISTEN", listen.as_str()),
            ];
            let log = dir.path().join(format!("nurse-{i}.log"));
            let mut p =
                Process::spawn_with("ward nurse", support::ward_bin(), ["nurse"], &log, &env)
                    .unwrap();
            p.wait_ready(Duration::from_secs(10), || {
                http_get(*addr, "/ready").is_some_and(|r| r.status == 200)
            })
            .unwrap();
            p
        })
        .collect();
    let mut builder =
        Nginx::builder().location("/", "proxy_pass http://nurses; proxy_next_upstream off;");
    for line in upstream(&addrs) {
        builder = builder.http_config(line);
    }
    let nginx = Arc::new(Mutex::new(builder.start().unwrap()));
    let front = nginx.lock().unwrap().http_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));

    // The ingress controller: /ready decides membership, as Endpoints do.
    let controller = {
        let (nginx, stop, addrs) = (nginx.clone(), stop.clone(), addrs.clone());
        std::thread::spawn(move || {
            let mut current = addrs.clone();
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let ready: Vec<SocketAddr> = addrs
                    .iter()
                    .copied()
                    .filter(|a| http_get(*a, "/ready").is_some_and(|r| r.status == 200))
                    .collect();
                if ready != current && !ready.is_empty() {
                    nginx
                        .lock()
                        .unwrap()
                        .reload_with_http_config(upstream(&ready))
                        .unwrap();
                    current = ready;
                }
                // The poll period of the controller (what it does, not synchronisation).
                wait::until(Duration::from_millis(100), || None::<()>);
            }
        })
    };
    // The client: continuous requests through nginx.
    let client = {
        let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                sent.fetch_add(1, Ordering::Relaxed);
                if http_get(front, "/alwayshappy").map(|r| r.status) != Some(200) {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    assert!(
        wait::until(Duration::from_secs(10), || (sent.load(Ordering::Relaxed)
            > 50)
            .then_some(()))
        .is_some()
    );
    nurses[0].signal(Signal::SIGTERM).unwrap();
    let exited = wait::until(Duration::from_secs(20), || {
        (!nurses[0].is_running()).then_some(())
    });
    assert!(
        exited.is_some(),
        "nurse did not exit after SIGTERM:\n{}",
        nurses[0].log_tail(20)
    );
    let after = sent.load(Ordering::Relaxed) + 100;
    assert!(
        wait::until(Duration::from_secs(10), || (sent.load(Ordering::Relaxed)
            > after)
            .then_some(()))
        .is_some()
    );
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    controller.join().unwrap();
    (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
}

#[test]
fn sigterm_with_a_shutdown_duration_loses_no_request_and_without_one_does() {
    let (sent, failed) = sigterm_under_load("2s");
    assert!(sent > 150);
    assert_eq!(
        failed, 0,
        "{failed} of {sent} requests failed with a 2s lameduck"
    );
    let (sent, failed) = sigterm_under_load("0s");
    assert!(
        failed > 0,
        "no failure among {sent} requests without lameduck: the test cannot tell"
    );
}

/// kubenurse stops checking at SIGTERM and only serves through its lameduck
/// period, so a terminating pod reports no errors of its own shutdown: once
/// `/ready` is 503 no check is counted any more, while `/metrics` keeps
/// answering until the servers stop.
#[test]
fn sigterm_stops_the_checks_and_metrics_are_served_through_the_lameduck() {
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.14:{}", free_port()).parse().unwrap();
    let listen = addr.to_string();
    // The nurse checks its own /alwayshappy every 100 ms.
    let extra = format!("self:http://{addr}/alwayshappy");
    let env = [
        ("KUBENURSE_CHECK_API_SERVER_DIRECT", "false"),
        ("KUBENURSE_CHECK_API_SERVER_DNS", "false"),
        ("KUBENURSE_CHECK_ME_INGRESS", "false"),
        ("KUBENURSE_CHECK_ME_SERVICE", "false"),
        ("KUBENURSE_CHECK_NEIGHBOURHOOD", "false"),
        ("KUBENURSE_EXTRA_CHECKS", extra.as_str()),
        ("KUBENURSE_CHECK_INTERVAL", "100ms"),
        ("KUBENURSE_SHUTDOWN_DURATION", "2s"),
        ("POD_NAME", "lameduck"),
        ("WARD_NURSE_JITTER", "0"),
        ("WARD_NURSE_LISTEN", listen.as_str()),
    ];
    let nurse = Process::spawn_with(
        "ward nurse",
        support::ward_bin(),
        ["nurse"],
        &dir.path().join("nurse.log"),
        &env,
    )
    .unwrap();
    let checks = || -> Option<u64> {
        let body = http_get(addr, "/metrics")?.body;
        Some(
            body.lines()
                .find_map(|l| {
                    l.strip_prefix(
                        "kubenurse_httpclient_requests_total{type=\"self\",code=\"200\"} ",
                    )
                })
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        )
    };
    wait::expect("three checks", Duration::from_secs(10), || {
        checks().is_some_and(|n| n >= 3)
    });
    nurse.signal(Signal::SIGTERM).unwrap();
    wait::expect("/ready 503 after SIGTERM", Duration::from_secs(5), || {
        http_get(addr, "/ready").is_some_and(|r| r.status == 503)
    });
    let at_sigterm = checks().expect("/metrics in lameduck");
    // Scrape until the servers stop; every answer has the same count.
    let mut scrapes = Vec::new();
    wait::expect(
        "the servers to stop",
        Duration::from_secs(15),
        || match checks() {
            Some(n) => {
                scrapes.push(n);
                false
            }
            None => true,
        },
    );
    assert!(
        scrapes.len() >= 5,
        "/metrics answered only {} times in a 2 s lameduck",
        scrapes.len()
    );
    assert!(
        scrapes.iter().all(|n| *n == at_sigterm),
        "checks went on after SIGTERM: {at_sigterm} at 503, then {scrapes:?}\n{}",
        nurse.log_tail(20)
    );
}

//! `ward nurse` under faults and against kubenurse's known bugs: the token
//! never leaves for a non-API-server host (nor follows a redirect to one)
//! nor for an API server whose certificate is not trusted, and no endpoint
//! shows it; a check reads at most 1 MiB of body; a half-sent request head
//! is dropped after 10 s; a round publishes only when every check finished,
//! redirects are followed and each answer counted with its code (not as an
//! error), an API server outage is counted and recovered from, a silent
//! neighbour times out without delaying the round, and garbage from a
//! target is an error, not a crash.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;
use ward_testkit::backend::Backend;
use ward_testkit::kube::{KubeCluster, NodeSpec};
use ward_testkit::net::{free_port, http_get};
use ward_testkit::nginx::Nginx;
use ward_testkit::tcp_proxy::TcpProxy;
use ward_testkit::wait;

use support::nurse::{alive, counter, metrics, nurse};

const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn token_goes_only_to_the_api_server_host_and_redirects_are_followed_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::builder()
        .http_config("log_format auth '$host $uri auth=[$http_authorization]';")
        // The API server by IP redirects to another host (by name).
        .http_config("map \"$scheme:$host\" $away { \"https:127.0.0.1\" 1; default 0; }")
        .location(
            "= /version",
            "access_log logs/auth.log auth; \
             if ($away) { return 302 https://localhost:$server_port/elsewhere; } \
             return 200 '{}';",
        )
        .location(
            "= /elsewhere",
            "access_log logs/auth.log auth; return 200 '{}';",
        )
        .location("= /moved", "return 301 /version;")
        .location("= /loop", "return 302 /loop;")
        .tls(true)
        .start()
        .unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let https_port = nginx.https_addr().unwrap().port().to_string();
    let third_party = format!(
        "thirdparty:{}|moved:{}|loop:{}",
        nginx.http_url("/version"),
        nginx.http_url("/moved"),
        nginx.http_url("/loop")
    );
    let addr: SocketAddr = format!("127.0.0.21:{}", free_port()).parse().unwrap();
    let p = nurse(
        dir.path(),
        "token",
        addr,
        &[
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", &https_port),
            ("KUBERNETES_SERVICE_DNS", "localhost"),
            ("WARD_NURSE_TOKEN_FILE", token.to_str().unwrap()),
            (
                "KUBENURSE_EXTRA_CA",
                nginx.ca_path().unwrap().to_str().unwrap(),
            ),
            ("KUBENURSE_CHECK_ME_INGRESS", "false"),
            ("KUBENURSE_CHECK_ME_SERVICE", "false"),
            ("KUBENURSE_CHECK_NEIGHBOURHOOD", "false"),
            ("KUBENURSE_EXTRA_CHECKS", &third_party),
        ],
    );
    let r = wait::until(DEADLINE, || {
        alive(addr).filter(|r| r.get("moved").is_some())
    });
    let r = r.unwrap_or_else(|| panic!("no round:\n{}", p.log_tail(20)));
    assert_eq!(r["api_server_direct"], "ok");
    assert_eq!(r["api_server_dns"], "ok");
    assert_eq!(r["thirdparty"], "ok");
    assert_eq!(r["moved"], "ok");
    // Go's client gives up at the tenth redirect answer, with Go's text.
    assert_eq!(
        r["loop"],
        format!(
            "Get \"{}\": stopped after 10 redirects",
            nginx.http_url("/loop")
        )
    );
    // Every check of the round is in the published result (no early-return snapshot).
    assert_eq!(r["neighbourhood_state"], "skipped");
    assert_eq!(r["me_ingress"], "skipped");

    let auth_log = std::fs::read_to_string(nginx.access_log().with_file_name("auth.log")).unwrap();
    let expected = [
        // api_server_direct, then its redirect to another host: no token there.
        "127.0.0.1 /version auth=[Bearer s3cret-token]",
        "localhost /elsewhere auth=[-]",
        // api_server_dns.
        "localhost /version auth=[Bearer s3cret-token]",
        // thirdparty, and moved after its redirect: never the token.
        "127.0.0.1 /version auth=[-]",
    ];
    let lines: Vec<&str> = auth_log.lines().collect();
    for line in expected {
        assert!(lines.contains(&line), "{line:?} not in:\n{auth_log}");
    }
    assert!(lines.iter().all(|l| expected.contains(l)), "{auth_log}");
    let m = metrics(addr);
    for series in [
        "kubenurse_httpclient_requests_total{type=\"api_server_direct\",code=\"302\"}",
        "kubenurse_httpclient_requests_total{type=\"api_server_direct\",code=\"200\"}",
        "kubenurse_httpclient_requests_total{type=\"moved\",code=\"301\"}",
        "kubenurse_httpclient_requests_total{type=\"moved\",code=\"200\"}",
    ] {
        assert!(counter(addr, series) >= 1, "{series} missing:\n{m}");
    }
    let errors: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("kubenurse_errors_total"))
        .collect();
    assert!(
        errors
            .iter()
            .all(|l| l
                .starts_with("kubenurse_errors_total{type=\"loop\",event=\"round_trip_error\"}")),
        "redirects are not errors, only the loop's giving up is: {errors:?}"
    );
    // No endpoint answers with the token it used.
    for path in ["/alive", "/metrics", "/status", "/ui"] {
        let body = http_get(addr, path).map(|r| r.body).unwrap_or_default();
        assert!(!body.is_empty(), "{path}: no answer");
        assert!(!body.contains("s3cret-token"), "{path}: {body}");
    }
}

/// With TLS verification on (the default, KUBENURSE_INSECURE unset), an
/// API server whose certificate the nurse does not trust gets no request at
/// all: the handshake fails first, so the token never leaves the pod.
#[test]
fn the_token_is_not_sent_to_an_api_server_whose_certificate_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::builder()
        .http_config("log_format auth '$uri auth=[$http_authorization]';")
        .location("/", "access_log logs/auth.log auth; return 200 '{}';")
        .tls(true)
        .start()
        .unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let https_port = nginx.https_addr().unwrap().port().to_string();
    let addr: SocketAddr = format!("127.0.0.25:{}", free_port()).parse().unwrap();
    // No KUBENURSE_EXTRA_CA: nginx's generated CA is trusted by nothing here.
    let p = nurse(
        dir.path(),
        "untrusted",
        addr,
        &[
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", &https_port),
            ("KUBERNETES_SERVICE_DNS", "localhost"),
            ("WARD_NURSE_TOKEN_FILE", token.to_str().unwrap()),
            ("KUBENURSE_CHECK_ME_INGRESS", "false"),
            ("KUBENURSE_CHECK_ME_SERVICE", "false"),
            ("KUBENURSE_CHECK_NEIGHBOURHOOD", "false"),
        ],
    );
    let r = wait::until(DEADLINE, || alive(addr))
        .unwrap_or_else(|| panic!("no round:\n{}", p.log_tail(20)));
    for (check, host) in [
        ("api_server_direct", "127.0.0.1"),
        ("api_server_dns", "localhost"),
    ] {
        let result = r[check].as_str().unwrap();
        assert!(
            result.starts_with(&format!("Get \"https://{host}:{https_port}/version\": "))
                && result.contains("invalid certificate: UnknownIssuer"),
            "{check}: {result}"
        );
        let failures = format!("ward_nurse_check_failures_total{{type=\"{check}\",class=\"tls\"}}");
        assert!(counter(addr, &failures) >= 1, "{}", metrics(addr));
    }
    // nginx logged no request: nothing, the token least of all, was sent.
    let auth_log =
        std::fs::read_to_string(nginx.access_log().with_file_name("auth.log")).unwrap_or_default();
    assert_eq!(auth_log, "", "requests reached the untrusted server");
    assert!(!nginx.error_log_text().contains("s3cret-token"));
    // ... and the nurse did not log it either.
    let log = std::fs::read_to_string(dir.path().join("untrusted.log")).unwrap();
    assert!(log.contains("invalid certificate"), "{log}");
    assert!(!log.contains("s3cret-token"), "{log}");
}

/// The nurse reads at most 1 MiB of a check's body: a body of exactly 1 MiB
/// passes, one byte more fails the check (class `protocol`), and the nurse
/// keeps serving.
#[test]
fn a_check_reads_at_most_one_mebibyte_of_body() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::builder()
        .file("fits.bin", vec![b'x'; 1 << 20])
        .file("big.bin", vec![b'x'; (1 << 20) + 1])
        .location("/", "root html;")
        .start()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.26:{}", free_port()).parse().unwrap();
    let extra = format!(
        "fits:{}|big:{}",
        nginx.http_url("/fits.bin"),
        nginx.http_url("/big.bin")
    );
    let p = nurse(
        dir.path(),
        "body",
        addr,
        &[
            ("KUBENURSE_CHECK_API_SERVER_DIRECT", "false"),
            ("KUBENURSE_CHECK_API_SERVER_DNS", "false"),
            ("KUBENURSE_CHECK_ME_INGRESS", "false"),
            ("KUBENURSE_CHECK_ME_SERVICE", "false"),
            ("KUBENURSE_CHECK_NEIGHBOURHOOD", "false"),
            ("KUBENURSE_EXTRA_CHECKS", &extra),
        ],
    );
    let r = wait::until(DEADLINE, || alive(addr))
        .unwrap_or_else(|| panic!("no round:\n{}", p.log_tail(20)));
    assert_eq!(r["fits"], "ok");
    let big = r["big"].as_str().unwrap();
    assert!(
        big.ends_with(&format!(
            "response body from {} exceeds 1048576 bytes",
            nginx.http_addr()
        )),
        "{big}"
    );
    assert!(
        counter(
            addr,
            "ward_nurse_check_failures_total{type=\"big\",class=\"protocol\"}"
        ) >= 1,
        "{}",
        metrics(addr)
    );
    assert_eq!(http_get(addr, "/alwayshappy").map(|r| r.status), Some(200));
}

/// A connection whose request head stops half-way is closed after 10 s
/// (hyper's header read timeout): a slow client cannot hold it longer.
#[test]
fn a_request_head_that_stops_half_way_is_dropped_after_10s() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.27:{}", free_port()).parse().unwrap();
    let _p = nurse(
        dir.path(),
        "slowloris",
        addr,
        &[
            ("KUBENURSE_CHECK_API_SERVER_DIRECT", "false"),
            ("KUBENURSE_CHECK_API_SERVER_DNS", "false"),
            ("KUBENURSE_CHECK_ME_INGRESS", "false"),
            ("KUBENURSE_CHECK_ME_SERVICE", "false"),
            ("KUBENURSE_CHECK_NEIGHBOURHOOD", "false"),
        ],
    );
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(b"GET /alive HTTP/1.1\r\nHost: nurse\r\n")
        .unwrap();
    let sent = Instant::now();
    let mut buf = [0u8; 512];
    let n = conn
        .read(&mut buf)
        .expect("the nurse closes the connection");
    let after = sent.elapsed();
    // Closed (hyper may first answer 408), not served, and on time.
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        after >= Duration::from_secs(9) && after < Duration::from_secs(12),
        "closed after {after:?}"
    );
    assert_eq!(http_get(addr, "/alwayshappy").map(|r| r.status), Some(200));
}

#[test]
fn slow_checks_are_awaited_before_the_round_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let slow = Backend::builder()
        .delay(Duration::from_millis(800))
        .start()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.22:{}", free_port()).parse().unwrap();
    let extra = format!("slow:{}", slow.url("/"));
    let _p = nurse(
        dir.path(),
        "slow",
        addr,
        &[
            ("KUBENURSE_CHECK_API_SERVER_DIRECT", "false"),
            ("KUBENURSE_CHECK_API_SERVER_DNS", "false"),
            ("KUBENURSE_CHECK_ME_INGRESS", "false"),
            ("KUBENURSE_CHECK_ME_SERVICE", "false"),
            ("KUBENURSE_CHECK_NEIGHBOURHOOD", "false"),
            ("KUBENURSE_EXTRA_CHECKS", &extra),
        ],
    );
    let first = wait::until(DEADLINE, || alive(addr));
    assert_eq!(
        first.unwrap()["slow"],
        "ok",
        "the first published round must contain the slow check"
    );
}

#[test]
fn api_server_outage_is_counted_and_recovered_silent_and_garbage_targets_fail_alone() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let ns = "nurse-faults";
    // A neighbour whose listener accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.24:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let addr: SocketAddr = format!("127.0.0.23:{port}").parse().unwrap();
    let account = runtime.block_on(async {
        cluster.create_namespace(ns).await.unwrap();
        cluster
            .add_nodes(&[NodeSpec::ready("fault-1"), NodeSpec::ready("fault-2")])
            .await
            .unwrap();
        for (pod, node, ip) in [
            ("nurse-a", "fault-1", "127.0.0.23"),
            ("silent-b", "fault-2", "127.0.0.24"),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            cluster
                .create_pod_on_node(ns, pod, node, &[("app", "nurse")], ip, ip)
                .await
                .unwrap();
        }
        cluster
            .create_service_account(
                ns,
                "nurse",
                vec![ward_testkit::kube::policy_rule(
                    &[""],
                    &["pods"],
                    &["get", "list", "watch"],
                )],
            )
            .await
            .unwrap();
        cluster
            .service_account_kubeconfig(ns, "nurse")
            .await
            .unwrap()
    });
    let token = dir.path().join("token");
    std::fs::write(&token, &account.token).unwrap();
    // Garbage: a listener that answers every request with bytes that are not HTTP.
    let garbage = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage_url = format!("garbage:http://{}/", garbage.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in garbage.incoming().flatten().take(1000) {
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut s, &mut request);
            let _ = std::io::Write::write_all(&mut s, b"\x00\x01garbage\r\n\r\n\xff");
        }
    });
    let api: SocketAddr = cluster
        .server_url()
        .trim_start_matches("https://")
        .parse()
        .unwrap();
    let mut proxy = TcpProxy::start(api).unwrap();
    let proxy_port = proxy.addr().port().to_string();
    let p = nurse(
        dir.path(),
        "nurse-a",
        addr,
        &[
            ("KUBECONFIG", account.path.to_str().unwrap()),
            ("KUBENURSE_NAMESPACE", ns),
            ("KUBENURSE_NEIGHBOUR_FILTER", "app=nurse"),
            ("KUBENURSE_ALLOW_UNSCHEDULABLE", "true"),
            ("NODE_NAME", "fault-1"),
            ("WARD_NURSE_NEIGHBOUR_PORT", &port.to_string()),
            ("WARD_NURSE_CHECK_TIMEOUT", "1s"),
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", &proxy_port),
            ("KUBERNETES_SERVICE_DNS", "localhost"),
            ("WARD_NURSE_TOKEN_FILE", token.to_str().unwrap()),
            ("KUBENURSE_EXTRA_CA", cluster.ca_path().to_str().unwrap()),
            ("KUBENURSE_CHECK_ME_INGRESS", "false"),
            ("KUBENURSE_CHECK_ME_SERVICE", "false"),
            ("KUBENURSE_EXTRA_CHECKS", &garbage_url),
        ],
    );
    let r = wait::until(DEADLINE, || {
        alive(addr).filter(|r| r.contains_key("path_fault-2"))
    })
    .unwrap_or_else(|| panic!("no round with the silent neighbour:\n{}", p.log_tail(20)));
    assert_eq!(r["api_server_direct"], "ok");
    let silent_result = r["path_fault-2"].as_str().unwrap();
    assert!(
        silent_result.contains("timed out after 1s waiting for the first response byte"),
        "{silent_result}"
    );
    assert!(
        r["garbage"].as_str().unwrap().contains("invalid HTTP"),
        "{}",
        r["garbage"]
    );

    // Rounds keep their pace although one check always takes the full timeout.
    let rounds = |a| {
        counter(
            a,
            "kubenurse_httpclient_requests_total{type=\"api_server_direct\",code=\"200\"}",
        )
    };
    let (start, t0) = (rounds(addr), Instant::now());
    assert!(wait::until(DEADLINE, || (rounds(addr) >= start + 3).then_some(())).is_some());
    assert!(
        t0.elapsed() < Duration::from_secs(6),
        "3 rounds took {:?}",
        t0.elapsed()
    );

    // The API server goes away: errors are counted, the nurse keeps serving.
    proxy.down();
    let api_errors = "kubenurse_errors_total{type=\"api_server_direct\",event=\"connect_done\"}";
    assert!(
        wait::until(DEADLINE, || (counter(addr, api_errors) >= 3).then_some(())).is_some(),
        "{}",
        metrics(addr)
    );
    assert_eq!(http_get(addr, "/alwayshappy").map(|r| r.status), Some(200));
    let down_result = alive(addr).unwrap()["api_server_direct"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(down_result.contains("Connection refused"), "{down_result}");
    // ... and comes back: the nurse recovers on its own.
    proxy.up().unwrap();
    let recovered = wait::until(DEADLINE, || {
        (alive(addr)?.get("api_server_direct")?.as_str()? == "ok").then_some(())
    });
    assert!(recovered.is_some(), "api_server_direct never recovered");
    let mut p = p;
    assert!(p.is_running());
    drop(silent);
}

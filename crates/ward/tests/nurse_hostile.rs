//! `ward nurse` against hostile peers (issue 22 item 4): an extra check
//! whose target sends an endless header, a 10 GB body, a response trickled
//! a byte at a time, bytes that are not UTF-8, a redirect loop, or a
//! certificate for another name. Each is bounded in time and bytes,
//! counted under exact series, and leaves the nurse healthy: `/metrics` and
//! `/alive` answer promptly while the peer is at it, the memory stays
//! bounded, and round after round the check runs again. And the token goes
//! to the API server only, through redirects of every kind.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use ward_testkit::hostile::{Answer, Hostile};
use ward_testkit::net::{free_port_on, http_get};
use ward_testkit::nginx::Nginx;
use ward_testkit::process::Process;
use ward_testkit::wait;

use support::nurse::{alive, counter, metrics, nurse};

const DEADLINE: Duration = Duration::from_secs(20);

/// The check timeout every nurse here runs with.
const CHECK_TIMEOUT: &str = "1s";

/// How fast `/metrics` and `/alive` must answer while a peer is hostile.
const PROMPT: Duration = Duration::from_millis(500);

/// A running nurse with only the extra checks `extra` (`name:url|…`) on.
struct Checked {
    addr: SocketAddr,
    process: Process,
    _dir: tempfile::TempDir,
}

impl Checked {
    fn start(name: &str, extra: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = format!("127.0.0.31:{}", free_port_on("127.0.0.31"))
            .parse()
            .unwrap();
        let mut all = vec![
            ("KUBENURSE_CHECK_API_SERVER_DIRECT", "false"),
            ("KUBENURSE_CHECK_API_SERVER_DNS", "false"),
            ("KUBENURSE_CHECK_ME_INGRESS", "false"),
            ("KUBENURSE_CHECK_ME_SERVICE", "false"),
            ("KUBENURSE_CHECK_NEIGHBOURHOOD", "false"),
            ("WARD_NURSE_CHECK_TIMEOUT", CHECK_TIMEOUT),
            ("KUBENURSE_EXTRA_CHECKS", extra),
        ];
        all.extend_from_slice(env);
        let process = nurse(dir.path(), name, addr, &all);
        Checked {
            addr,
            process,
            _dir: dir,
        }
    }

    /// `/alive`'s result of `check`, once a round has one.
    fn result(&self, check: &str) -> String {
        let r = wait::until(DEADLINE, || {
            alive(self.addr).filter(|r| r.contains_key(check))
        })
        .unwrap_or_else(|| panic!("no round with {check}:\n{}", self.process.log_tail(20)));
        match &r[check] {
            Value::String(s) => s.clone(),
            other => panic!("{check}: {other}"),
        }
    }

    /// Waits until every series in `series` has counted at least `rounds`
    /// times: round after round the check runs again.
    fn counts(&self, series: &[String], rounds: u64) {
        for s in series {
            let reached = wait::until(DEADLINE, || (counter(self.addr, s) >= rounds).then_some(()));
            assert!(
                reached.is_some(),
                "{s} below {rounds}:\n{}",
                metrics(self.addr)
            );
        }
    }

    /// `/metrics` and `/alive` answer 200 within [`PROMPT`], and the process runs.
    fn healthy(&mut self) {
        for path in ["/metrics", "/alive"] {
            let t0 = Instant::now();
            let status = http_get(self.addr, path).map(|r| r.status);
            let took = t0.elapsed();
            assert_eq!(status, Some(200), "{path}");
            assert!(took < PROMPT, "{path} took {took:?}");
        }
        assert!(self.process.is_running());
    }

    /// The nurse's resident and peak memory, KiB (VmRSS, VmHWM).
    fn memory_kib(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.process.pid())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {status}"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

/// The series a check that failed after the request was sent writes, by
/// kubenurse's names: `code` (a status or `round_trip_error`), the error
/// event `round_trip_error`, and ward's failure class.
fn failed(check: &str, code: &str, class: &str) -> Vec<String> {
    vec![
        format!("kubenurse_httpclient_requests_total{{type=\"{check}\",code=\"{code}\"}}"),
        format!("kubenurse_errors_total{{type=\"{check}\",event=\"round_trip_error\"}}"),
        format!("ward_nurse_check_failures_total{{type=\"{check}\",class=\"{class}\"}}"),
    ]
}

#[test]
fn an_endless_header_is_cut_at_hypers_head_limit_as_protocol() {
    let peer = Hostile::start("127.0.0.1", |_| Answer::EndlessHeader).unwrap();
    let mut nurse = Checked::start("endless", &format!("endless:{}", peer.url("/")), &[]);
    let result = nurse.result("endless");
    assert_eq!(
        result,
        format!(
            "Get \"{}\": reading the response from {}: message head is too large",
            peer.url("/"),
            peer.addr()
        )
    );
    nurse.healthy();
    nurse.counts(&failed("endless", "round_trip_error", "protocol"), 3);
    nurse.healthy();
    // hyper stops reading at its head limit (~400 KiB): what the peer got
    // written is that, and what the socket buffers took, per connection.
    let per_connection = peer.written() / peer.connections().max(1);
    assert!(
        per_connection < 16 << 20,
        "{per_connection} bytes per connection"
    );
}

#[test]
fn a_10_gb_body_is_cut_at_one_mebibyte_and_memory_stays_bounded() {
    let peer = Hostile::start("127.0.0.1", |_| Answer::Body(10 << 30)).unwrap();
    let mut nurse = Checked::start("huge", &format!("huge:{}", peer.url("/")), &[]);
    let result = nurse.result("huge");
    assert_eq!(
        result,
        format!(
            "Get \"{}\": response body from {} exceeds 1048576 bytes",
            peer.url("/"),
            peer.addr()
        )
    );
    nurse.healthy();
    let (before, _) = nurse.memory_kib();
    nurse.counts(&failed("huge", "200", "protocol"), 10);
    nurse.healthy();
    let (after, peak) = nurse.memory_kib();
    // Ten 10 GB answers later: the nurse read 1 MiB of each, its memory
    // did not follow.
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    let per_connection = peer.written() / peer.connections().max(1);
    assert!(
        per_connection < 16 << 20,
        "{per_connection} bytes per connection"
    );
}

#[test]
fn a_slowloris_response_ends_at_the_check_timeout() {
    let peer = Hostile::start("127.0.0.1", |_| {
        Answer::Slowloris(Duration::from_millis(20))
    })
    .unwrap();
    let mut nurse = Checked::start("slow", &format!("slow:{}", peer.url("/")), &[]);
    let result = nurse.result("slow");
    assert_eq!(
        result,
        format!(
            "Get \"{}\": {}: timed out after 1s reading the response",
            peer.url("/"),
            peer.url("/")
        )
    );
    nurse.healthy();
    nurse.counts(&failed("slow", "round_trip_error", "timeout"), 3);
    nurse.healthy();
    // The check ends at its timeout (1 s), not at the round's deadline
    // (timeout + 2 s): two more rounds (each the timeout and the 300 ms
    // interval) take well under 2 x 3 s.
    let series = &failed("slow", "round_trip_error", "timeout")[2];
    let (start, t0) = (counter(nurse.addr, series), Instant::now());
    nurse.counts(std::slice::from_ref(series), start + 2);
    assert!(
        t0.elapsed() < Duration::from_millis(3500),
        "two rounds took {:?}",
        t0.elapsed()
    );
    nurse.healthy();
}

#[test]
fn bytes_that_are_not_utf8_are_a_status_or_a_protocol_error_never_a_crash() {
    let peer = Hostile::start("127.0.0.1", |head| {
        if head.starts_with("GET /location") {
            Answer::Redirect(302, b"/\xff\xfe".to_vec())
        } else {
            Answer::InvalidUtf8
        }
    })
    .unwrap();
    let extra = format!(
        "bytes:{}|location:{}",
        peer.url("/bytes"),
        peer.url("/location")
    );
    let mut nurse = Checked::start("utf8", &extra, &[]);
    // A reason phrase, a header and a body that are not UTF-8: the status counts.
    assert_eq!(nurse.result("bytes"), "ok");
    assert_eq!(
        nurse.result("location"),
        format!(
            "Get \"{}\": {} answered 302 with a Location that is not text",
            peer.url("/location"),
            peer.url("/location")
        )
    );
    nurse.counts(
        &["kubenurse_httpclient_requests_total{type=\"bytes\",code=\"200\"}".to_string()],
        3,
    );
    nurse.counts(&failed("location", "302", "protocol"), 3);
    assert!(
        !metrics(nurse.addr).contains("kubenurse_errors_total{type=\"bytes\""),
        "{}",
        metrics(nurse.addr)
    );
    nurse.healthy();
    for path in ["/status", "/ui"] {
        assert_eq!(
            http_get(nurse.addr, path).map(|r| r.status),
            Some(200),
            "{path}"
        );
    }
}

#[test]
fn a_redirect_loop_stops_at_ten_requests_within_the_timeout() {
    let peer = Hostile::start("127.0.0.1", |_| Answer::Redirect(302, b"/again".to_vec())).unwrap();
    let mut nurse = Checked::start("loop", &format!("loop:{}", peer.url("/")), &[]);
    assert_eq!(
        nurse.result("loop"),
        format!("Get \"{}\": stopped after 10 redirects", peer.url("/again"))
    );
    nurse.healthy();
    // Every answer is a request of its own, counted under 302: ten per round.
    nurse.counts(&failed("loop", "302", "protocol"), 3);
    let rounds = counter(
        nurse.addr,
        "kubenurse_errors_total{type=\"loop\",event=\"round_trip_error\"}",
    );
    let answers = counter(
        nurse.addr,
        "kubenurse_httpclient_requests_total{type=\"loop\",code=\"302\"}",
    );
    assert!(
        answers >= 10 * rounds && answers < 10 * (rounds + 1),
        "{answers} answers in {rounds} rounds"
    );
    nurse.healthy();
}

#[test]
fn a_certificate_for_another_name_fails_tls_and_nothing_is_sent() {
    let nginx = Nginx::builder()
        .http_config("log_format seen '$host $uri';")
        .location("/", "access_log logs/seen.log seen; return 200 'ok';")
        .tls(true)
        .start()
        .unwrap();
    // nginx's certificate names localhost and 127.0.0.1; this relay is 127.0.0.2.
    let relay = nginx.https_addr().unwrap();
    let peer = Hostile::start("127.0.0.2", move |_| Answer::Relay(relay)).unwrap();
    let url = format!("https://{}/", peer.addr());
    let mut nurse = Checked::start(
        "wrongname",
        &format!("wrongname:{url}|rightname:{}", nginx.https_url("/")),
        &[(
            "KUBENURSE_EXTRA_CA",
            nginx.ca_path().unwrap().to_str().unwrap(),
        )],
    );
    assert_eq!(nurse.result("rightname"), "ok");
    let result = nurse.result("wrongname");
    assert!(
        result.starts_with(&format!(
            "Get \"{url}\": TLS handshake with {0} ({0}): invalid certificate: NotValidForName",
            peer.addr()
        )),
        "{result}"
    );
    nurse.counts(
        &[
            "kubenurse_httpclient_requests_total{type=\"wrongname\",code=\"round_trip_error\"}"
                .to_string(),
            "kubenurse_errors_total{type=\"wrongname\",event=\"tls_handshake_done\"}".to_string(),
            "ward_nurse_check_failures_total{type=\"wrongname\",class=\"tls\"}".to_string(),
        ],
        3,
    );
    nurse.healthy();
    // Only the check under the right name reached nginx.
    let seen = std::fs::read_to_string(nginx.access_log().with_file_name("seen.log")).unwrap();
    assert!(
        seen.lines().all(|l| l == "localhost /"),
        "requests under the wrong name reached nginx:\n{seen}"
    );
}

/// The token goes with the API-server checks only: a redirect on the API
/// server's own host keeps it, one to another host (127.0.0.2) drops it,
/// and extra and ingress checks never carry it, wherever they redirect.
#[test]
fn the_token_reaches_only_the_api_server_through_redirects() {
    let dir = tempfile::tempdir().unwrap();
    // The other host: records what arrives.
    let away = Hostile::start("127.0.0.2", |_| Answer::Ok).unwrap();
    let away_url = away.url("/landed").into_bytes();
    // A backend on the nurse's side (127.0.0.1) that redirects.
    let from_api = away.url("/from-api");
    let backend = Hostile::start("127.0.0.1", move |head| {
        let path = head.split(' ').nth(1).unwrap_or_default();
        match path {
            "/same" => Answer::Redirect(307, b"/landed".to_vec()),
            "/landed" => Answer::Ok,
            _ => Answer::Redirect(301, away_url.clone()),
        }
    })
    .unwrap();
    let nginx = Nginx::builder()
        .http_config("log_format auth '$host $uri auth=[$http_authorization]';")
        .location(
            "= /version",
            format!(
                "access_log logs/auth.log auth; \
                 if ($host = localhost) {{ return 302 {from_api}; }} \
                 return 307 /version-same;"
            ),
        )
        .location(
            "= /version-same",
            "access_log logs/auth.log auth; return 200 '{}';",
        )
        .tls(true)
        .start()
        .unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let https_port = nginx.https_addr().unwrap().port().to_string();
    let extra = format!(
        "away:{}|same:{}",
        backend.url("/away"),
        backend.url("/same")
    );
    let ingress = format!("http://{}", backend.addr());
    let mut nurse = Checked::start(
        "token",
        &extra,
        &[
            ("KUBENURSE_CHECK_API_SERVER_DIRECT", "true"),
            ("KUBENURSE_CHECK_API_SERVER_DNS", "true"),
            ("KUBENURSE_CHECK_ME_INGRESS", "true"),
            ("KUBENURSE_INGRESS_URL", &ingress),
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", &https_port),
            ("KUBERNETES_SERVICE_DNS", "localhost"),
            ("WARD_NURSE_TOKEN_FILE", token.to_str().unwrap()),
            (
                "KUBENURSE_EXTRA_CA",
                nginx.ca_path().unwrap().to_str().unwrap(),
            ),
        ],
    );
    for check in [
        "api_server_direct",
        "api_server_dns",
        "me_ingress",
        "away",
        "same",
    ] {
        assert_eq!(nurse.result(check), "ok", "{check}");
    }
    nurse.counts(
        &[
            "kubenurse_httpclient_requests_total{type=\"api_server_direct\",code=\"307\"}".into(),
            "kubenurse_httpclient_requests_total{type=\"api_server_dns\",code=\"302\"}".into(),
            "kubenurse_httpclient_requests_total{type=\"me_ingress\",code=\"301\"}".into(),
            "kubenurse_httpclient_requests_total{type=\"away\",code=\"301\"}".into(),
            "kubenurse_httpclient_requests_total{type=\"same\",code=\"307\"}".into(),
            "kubenurse_httpclient_requests_total{type=\"same\",code=\"200\"}".into(),
        ],
        2,
    );
    nurse.healthy();
    // The API server's host saw the token on every request, its own redirect included.
    let auth_log = std::fs::read_to_string(nginx.access_log().with_file_name("auth.log")).unwrap();
    let mut lines: Vec<&str> = auth_log.lines().collect();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(
        lines,
        [
            "127.0.0.1 /version auth=[Bearer s3cret-token]",
            "127.0.0.1 /version-same auth=[Bearer s3cret-token]",
            "localhost /version auth=[Bearer s3cret-token]",
        ],
        "{auth_log}"
    );
    // Every other host and check: never.
    let backend_seen = backend.requests();
    let away_seen = away.requests();
    for (who, seen) in [
        ("127.0.0.1 backend", &backend_seen),
        ("127.0.0.2", &away_seen),
    ] {
        assert!(!seen.is_empty(), "{who} saw nothing");
        for head in seen.iter() {
            assert!(
                !head.to_ascii_lowercase().contains("authorization")
                    && !head.contains("s3cret-token"),
                "{who} got the token:\n{head}"
            );
        }
    }
    let first_line = |h: &String| h.lines().next().unwrap_or_default().to_string();
    let paths: std::collections::BTreeSet<String> = away_seen.iter().map(first_line).collect();
    assert_eq!(
        paths,
        ["GET /from-api HTTP/1.1", "GET /landed HTTP/1.1"]
            .map(String::from)
            .into(),
        "what reached the other host"
    );
    let paths: std::collections::BTreeSet<String> = backend_seen.iter().map(first_line).collect();
    assert_eq!(
        paths,
        [
            "GET /alwayshappy HTTP/1.1",
            "GET /away HTTP/1.1",
            "GET /landed HTTP/1.1",
            "GET /same HTTP/1.1"
        ]
        .map(String::from)
        .into(),
        "what reached the backend"
    );
}

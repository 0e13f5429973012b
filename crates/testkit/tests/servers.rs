//! Each real server testkit offers starts on loopback, answers, and leaves nothing behind.

use std::time::Duration;

use ward_testkit::dns::DnsServer;
use ward_testkit::net::http_get;
use ward_testkit::nginx::Nginx;
use ward_testkit::prometheus::Prometheus;

#[test]
fn nginx_serves_plain_and_tls_and_stops_on_drop() {
    let nginx = Nginx::builder()
        .location("= /hello", "return 200 'hi';")
        .tls(true)
        .start()
        .unwrap();
    let r = http_get(nginx.http_addr(), "/hello").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "hi"));
    assert!(nginx.ca_path().unwrap().exists());
    assert!(nginx.https_url("/x").starts_with("https://localhost:"));
    let addr = nginx.http_addr();
    drop(nginx);
    assert!(
        !ward_testkit::net::accepts(addr),
        "nginx still listening after drop"
    );
}

/// Sends one A query over UDP and returns (rcode, answer count).
fn query_a(server: std::net::SocketAddr, name: &str) -> (u8, u16) {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(&q, server).unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).unwrap();
    assert!(n >= 12 && buf[0] == 0x12 && buf[1] == 0x34);
    (buf[3] & 0x0f, u16::from_be_bytes([buf[6], buf[7]]))
}

#[test]
fn unbound_and_dnsmasq_answer_and_log_each_query() {
    for builder in [DnsServer::unbound(), DnsServer::dnsmasq()] {
        let server = builder.a("a.test", "127.0.0.9").start().unwrap();
        assert_eq!(
            query_a(server.addr(), "a.test"),
            (0, 1),
            "{:?}",
            server.kind()
        );
        assert_eq!(
            query_a(server.addr(), "missing.test"),
            (3, 0),
            "{:?}",
            server.kind()
        );
        assert_eq!(
            query_a(server.addr(), "a.test"),
            (0, 1),
            "{:?}",
            server.kind()
        );
        let logged = ward_testkit::wait::until(Duration::from_secs(5), || {
            (server.queries_for("a.test") == 2).then_some(())
        });
        assert!(
            logged.is_some(),
            "{:?} logged {:?}",
            server.kind(),
            server.logged_queries()
        );
        assert_eq!(server.queries_for("missing.test"), 1);
    }
}

#[test]
fn prometheus_answers_queries() {
    let prom = Prometheus::builder()
        .interval(Duration::from_millis(500))
        .start()
        .unwrap();
    let self_addr = prom.addr();
    let result = prom.query("vector(1)").unwrap();
    assert_eq!(result.len(), 1, "{result:?} from {self_addr}");
}

/// A backfilled Prometheus holds the series and every recording, also of
/// rules that read other recordings (three passes here), and evaluates the
/// alerting rules live.
#[test]
fn prometheus_starts_on_backfilled_series_and_recordings() {
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = end - 600;
    let series: String = (start..=end)
        .step_by(60)
        .map(|t| format!("requests_total 5 {t}\n"))
        .collect();
    let rules = "groups:
- name: g
  rules:
  - record: c
    expr: b + a
  - record: b
    expr: a * 2
  - record: a
    expr: requests_total
  - alert: Big
    expr: c > 10
";
    let prom = Prometheus::builder()
        .backfill(
            format!("# TYPE requests counter\n{series}# EOF\n"),
            [rules],
            start,
            end,
        )
        .start()
        .unwrap();
    prom.wait_rules_evaluated(Duration::from_secs(20)).unwrap();
    let value = |expr: &str| {
        let r = prom.query(expr).unwrap();
        assert_eq!(r.len(), 1, "{expr}: {r:?}");
        r[0]["value"][1].as_str().unwrap().to_string()
    };
    assert_eq!(
        (value("a"), value("b"), value("c")),
        ("5".into(), "10".into(), "15".into())
    );
    // The first evaluation's ALERTS sample can trail its lastEvaluation.
    let alerts = prom
        .wait_for_series("ALERTS{alertname=\"Big\"}", Duration::from_secs(10))
        .unwrap();
    assert_eq!(alerts[0]["metric"]["alertstate"], "firing");
}

//! The probe against real servers on loopback: nginx (plain, TLS, HTTP/2),
//! unbound, and hand-made misbehaving listeners.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use ward_probe::dns::DnsQuery;
use ward_probe::http::{HttpRequest, HttpVersion};
use ward_probe::tls::{Roots, TlsConfig};
use ward_probe::{ErrorClass, Event, Prober, ProberConfig, Target};
use ward_testkit::dns::{DnsServer, Record};
use ward_testkit::nginx::Nginx;

fn prober(config: ProberConfig) -> Prober {
    Prober::new(config).expect("prober config")
}

fn with_ca(nginx: &Nginx) -> ProberConfig {
    ProberConfig {
        tls: TlsConfig {
            roots: Roots::None,
            extra_ca: vec![nginx.ca_path().unwrap().to_path_buf()],
            ..TlsConfig::default()
        },
        ..ProberConfig::default()
    }
}

fn assert_ordered(o: &ward_probe::Outcome, events: &[Event]) {
    let times: Vec<Duration> = events
        .iter()
        .map(|e| {
            o.events
                .get(*e)
                .unwrap_or_else(|| panic!("{} missing in {:?}", e.as_str(), o.events))
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "events out of order: {:?}",
        o.events
    );
    assert!(times.last().copied().unwrap_or_default() <= o.total);
}

#[tokio::test]
async fn http_phases_are_present_ordered_and_status_captured() {
    let nginx = Nginx::builder()
        .location("= /ok", "return 200 'fine';")
        .location("= /teapot", "return 418;")
        .start()
        .unwrap();
    let p = prober(ProberConfig::default());
    let o = p.check(&nginx.http_url("/ok").parse().unwrap()).await;
    assert!(o.success, "{:?}", o.error);
    assert_eq!(
        (o.status, o.body_bytes, o.connection.reused),
        (Some(200), 4, false)
    );
    assert_eq!(o.http_version.as_deref(), Some("HTTP/1.1"));
    assert_ordered(
        &o,
        &[
            Event::ConnectStart,
            Event::ConnectDone,
            Event::GotConn,
            Event::WroteRequest,
            Event::GotFirstRespByte,
            Event::BodyDone,
        ],
    );
    assert_eq!(
        o.events.get(Event::DnsStart),
        None,
        "IP literal must not resolve"
    );

    let o = p.check(&nginx.http_url("/teapot").parse().unwrap()).await;
    let e = o.error.expect("418 fails the default 2xx check");
    assert_eq!((o.status, e.class), (Some(418), ErrorClass::HttpStatus));
    assert_eq!(
        e.message,
        format!("{} answered HTTP 418", nginx.http_url("/teapot"))
    );
}

#[tokio::test]
async fn host_names_are_resolved_and_traced() {
    let nginx = Nginx::builder()
        .location("/", "return 200;")
        .start()
        .unwrap();
    let url = format!("http://localhost:{}/", nginx.http_addr().port());
    let o = prober(ProberConfig::default())
        .check(&url.parse().unwrap())
        .await;
    assert!(o.success, "{:?}", o.error);
    assert_ordered(
        &o,
        &[
            Event::DnsStart,
            Event::DnsDone,
            Event::ConnectStart,
            Event::ConnectDone,
        ],
    );
}

#[tokio::test]
async fn reuse_skips_connect_and_tls_on_the_second_request() {
    let nginx = Nginx::builder()
        .location("/", "return 200 'x';")
        .tls(true)
        .start()
        .unwrap();
    let p = prober(ProberConfig {
        reuse: true,
        ..with_ca(&nginx)
    });
    let target: Target = nginx.https_url("/").parse().unwrap();
    let first = p.check(&target).await;
    assert!(first.success, "{:?}", first.error);
    assert!(!first.connection.reused);
    assert!(first.connection.age.is_some() && first.connection.idle.is_none());
    assert!(first.events.get(Event::TlsHandshakeDone).is_some());
    // An idle gap the second request's facts must show.
    let gap = Duration::from_millis(100);
    tokio::time::sleep(gap).await;
    let second = p.check(&target).await;
    assert!(second.success, "{:?}", second.error);
    assert!(second.connection.reused);
    let (age, idle) = (
        second.connection.age.unwrap(),
        second.connection.idle.unwrap(),
    );
    assert!(idle >= gap && age > idle, "age {age:?}, idle {idle:?}");
    let json = serde_json::to_value(&second).unwrap();
    assert_eq!(json["reused"], true, "{json}");
    assert_eq!(json["idle_before"], idle.as_secs_f64(), "{json}");
    assert_eq!(json["connection_age"], age.as_secs_f64(), "{json}");
    for e in [
        Event::DnsStart,
        Event::ConnectStart,
        Event::TlsHandshakeStart,
    ] {
        assert_eq!(
            second.events.get(e),
            None,
            "{} on a reused connection",
            e.as_str()
        );
    }
    assert_ordered(
        &second,
        &[
            Event::GotConn,
            Event::WroteRequest,
            Event::GotFirstRespByte,
            Event::BodyDone,
        ],
    );

    let fresh = prober(with_ca(&nginx));
    let (a, b) = (fresh.check(&target).await, fresh.check(&target).await);
    assert!(!a.connection.reused && !b.connection.reused);
    assert!(b.events.get(Event::TlsHandshakeDone).is_some());
}

/// nginx ends an HTTP/2 connection with a GOAWAY when it takes its last
/// allowed request (`keepalive_requests 2`), before the response: the check
/// that sent that request reports it, the next one opens a new connection.
#[tokio::test]
async fn an_http2_goaway_is_reported_by_the_check_it_came_with() {
    let nginx = Nginx::builder()
        .http_config("keepalive_requests 2;")
        .location("/", "return 200 'x';")
        .tls(true)
        .start()
        .unwrap();
    let p = prober(ProberConfig {
        reuse: true,
        ..with_ca(&nginx)
    });
    let target: Target = nginx.https_url("/").parse().unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let o = p.check(&target).await;
        assert!(o.success, "{:?}", o.error);
        assert_eq!(o.http_version.as_deref(), Some("HTTP/2.0"));
        seen.push((o.connection.reused, o.goaways));
    }
    assert_eq!(
        seen,
        [(false, 0), (true, 1), (false, 0), (true, 1), (false, 0)]
    );
}

#[tokio::test]
async fn https_verifies_with_the_generated_ca_and_negotiates_h2() {
    let nginx = Nginx::builder()
        .location("/", "return 200 'secure';")
        .tls(true)
        .start()
        .unwrap();
    let target: Target = nginx.https_url("/").parse().unwrap();
    let o = prober(with_ca(&nginx)).check(&target).await;
    assert!(o.success, "{:?}", o.error);
    let tls = o.tls.as_ref().unwrap();
    assert_eq!(
        (tls.alpn.as_deref(), o.http_version.as_deref()),
        (Some("h2"), Some("HTTP/2.0"))
    );
    assert!(tls.cert_not_after.unwrap() > 1_700_000_000);
    // A fresh HTTPS check fires every event, in the order they are listed.
    assert_ordered(&o, &Event::ALL);
    let (sent, first) = (
        o.events.get(Event::WroteRequest).unwrap(),
        o.events.get(Event::GotFirstRespByte).unwrap(),
    );
    assert!(
        first > sent,
        "h2: the server's SETTINGS frame is not the response's first byte: {:?}",
        o.events
    );

    let h1 = prober(ProberConfig {
        http_version: HttpVersion::Http1,
        ..with_ca(&nginx)
    })
    .check(&target)
    .await;
    assert_eq!(
        h1.http_version.as_deref(),
        Some("HTTP/1.1"),
        "{:?}",
        h1.error
    );
}

#[tokio::test]
async fn unknown_ca_fails_with_tls_class_unless_insecure() {
    let nginx = Nginx::builder()
        .location("/", "return 200;")
        .tls(true)
        .start()
        .unwrap();
    let target: Target = nginx.https_url("/").parse().unwrap();
    let o = prober(ProberConfig {
        tls: TlsConfig {
            roots: Roots::Webpki,
            ..TlsConfig::default()
        },
        ..ProberConfig::default()
    })
    .check(&target)
    .await;
    let e = o.error.expect("unknown CA must fail");
    assert_eq!(
        (e.class, e.event),
        (ErrorClass::Tls, Some(Event::TlsHandshakeDone))
    );
    assert!(
        e.message.contains("invalid certificate: UnknownIssuer"),
        "{}",
        e.message
    );

    let insecure = prober(ProberConfig {
        tls: TlsConfig {
            insecure: true,
            ..TlsConfig::default()
        },
        ..ProberConfig::default()
    })
    .check(&target)
    .await;
    assert!(insecure.success, "{:?}", insecure.error);
}

#[tokio::test]
async fn refused_port_is_connect_refused() {
    let port = ward_testkit::net::free_port();
    let o = prober(ProberConfig::default())
        .check(&format!("http://127.0.0.1:{port}/").parse().unwrap())
        .await;
    let e = o.error.unwrap();
    assert_eq!(
        (e.class, e.event),
        (ErrorClass::ConnectRefused, Some(Event::ConnectDone))
    );
    assert_eq!(
        e.message,
        format!(
            "connecting to 127.0.0.1:{port} (127.0.0.1:{port}): Connection refused (os error 111)"
        )
    );
    let tcp = prober(ProberConfig::default())
        .check_tcp("127.0.0.1", port)
        .await;
    assert_eq!(tcp.error.unwrap().class, ErrorClass::ConnectRefused);
}

#[tokio::test]
async fn silent_listener_times_out_waiting_for_first_byte() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let o = prober(ProberConfig {
        timeout: Duration::from_millis(300),
        ..ProberConfig::default()
    })
    .check(&format!("http://{addr}/").parse().unwrap())
    .await;
    let e = o.error.unwrap();
    assert_eq!(e.class, ErrorClass::TimeoutFirstByte);
    assert_eq!(
        e.message,
        format!("http://{addr}/: timed out after 300ms waiting for the first response byte")
    );
    assert!(o.total >= Duration::from_millis(300) && o.total < Duration::from_secs(2));
    assert!(o.events.get(Event::WroteRequest).is_some());
    let tcp = prober(ProberConfig::default())
        .check_tcp("127.0.0.1", addr.port())
        .await;
    assert!(tcp.success);
    hold.abort();
}

/// A head that trickles in and never ends (slowloris) is a timeout while
/// reading the response, with its first byte traced: not a silent server.
#[tokio::test]
async fn a_trickling_head_times_out_reading_the_response_not_waiting_for_it() {
    let peer = ward_testkit::hostile::Hostile::start("127.0.0.1", |_| {
        ward_testkit::hostile::Answer::Slowloris(Duration::from_millis(20))
    })
    .unwrap();
    let o = prober(ProberConfig {
        timeout: Duration::from_millis(500),
        ..ProberConfig::default()
    })
    .check(&peer.url("/").parse().unwrap())
    .await;
    let e = o.error.unwrap();
    assert_eq!(e.class, ErrorClass::Timeout);
    assert_eq!(
        e.message,
        format!(
            "{}: timed out after 500ms reading the response",
            peer.url("/")
        )
    );
    assert!(o.total >= Duration::from_millis(500) && o.total < Duration::from_secs(2));
    let first = o.events.get(Event::GotFirstRespByte).unwrap();
    assert!(
        first < Duration::from_millis(400),
        "first byte at {first:?}"
    );
    assert!(o.events.get(Event::WroteRequest).unwrap() <= first);
}

#[tokio::test]
async fn reset_mid_response_is_reset() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
            .await
            .unwrap();
        s.flush().await.unwrap();
        socket_reset(s);
    });
    let o = prober(ProberConfig::default())
        .check(&format!("http://{addr}/").parse().unwrap())
        .await;
    server.await.unwrap();
    let e = o.error.unwrap();
    assert_eq!(
        (e.class, e.event, o.status),
        (ErrorClass::Reset, None, Some(200))
    );
    assert!(
        e.message
            .starts_with(&format!("reading the response from {addr}:")),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn garbage_response_is_protocol() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").await;
    });
    let o = prober(ProberConfig::default())
        .check(&format!("http://{addr}/").parse().unwrap())
        .await;
    let e = o.error.unwrap();
    assert_eq!(e.class, ErrorClass::Protocol, "{}", e.message);
    assert!(
        e.message
            .starts_with(&format!("reading the response from {addr}: invalid HTTP")),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn oversized_body_is_cut_off() {
    let nginx = Nginx::builder()
        .file("big.bin", vec![b'x'; 64 * 1024])
        .location("/", "root html;")
        .start()
        .unwrap();
    let o = prober(ProberConfig {
        max_body: 1024,
        ..ProberConfig::default()
    })
    .check(&nginx.http_url("/big.bin").parse().unwrap())
    .await;
    let e = o.error.unwrap();
    assert_eq!(e.class, ErrorClass::Protocol);
    assert!(e.message.ends_with("exceeds 1024 bytes"), "{}", e.message);
}

#[tokio::test]
async fn dns_queries_against_unbound() {
    let server = DnsServer::unbound()
        .a("a.test", "127.0.0.7")
        .record(Record::Aaaa("a.test".into(), "::7".into()))
        .start()
        .unwrap();
    let addr = server.addr();
    let p = prober(ProberConfig {
        timeout: Duration::from_secs(2),
        ..ProberConfig::default()
    });
    let ok = p
        .check(&format!("dns://{addr}/a.test").parse().unwrap())
        .await;
    assert!(ok.success, "{:?}", ok.error);
    let answer = ok.dns.clone().unwrap();
    assert_eq!(answer.rcode, "NOERROR");
    assert_eq!(
        answer.answers,
        vec!["a.test. 60 IN A 127.0.0.7".to_string()]
    );
    assert_ordered(&ok, &[Event::WroteRequest, Event::GotFirstRespByte]);

    let aaaa = p
        .check(
            &format!("dns://{addr}/a.test?type=AAAA&proto=tcp")
                .parse()
                .unwrap(),
        )
        .await;
    assert!(aaaa.success, "{:?}", aaaa.error);
    assert_eq!(
        aaaa.dns.unwrap().answers,
        vec!["a.test. 60 IN AAAA ::7".to_string()]
    );
    assert!(aaaa.events.get(Event::ConnectDone).is_some());

    let nx = p
        .check(&format!("dns://{addr}/missing.test").parse().unwrap())
        .await;
    let e = nx.error.unwrap();
    assert_eq!(e.class, ErrorClass::Dns);
    assert_eq!(e.message, format!("A missing.test via {addr}: NXDOMAIN"));
    assert_eq!(server.queries_for("missing.test"), 1);
}

#[tokio::test]
async fn unreachable_dns_server_is_a_dns_error() {
    let port = ward_testkit::net::free_dual_port();
    let p = prober(ProberConfig {
        timeout: Duration::from_millis(500),
        ..ProberConfig::default()
    });
    let udp = p
        .check_dns(&DnsQuery::new("127.0.0.1", port, "a.test"))
        .await;
    let e = udp.error.unwrap();
    assert_eq!(e.class, ErrorClass::Dns);
    assert_eq!(
        e.message,
        format!("A a.test via 127.0.0.1:{port}/udp: receiving: Connection refused (os error 111)")
    );
    let tcp = p
        .check(
            &format!("dns://127.0.0.1:{port}/a.test?proto=tcp")
                .parse()
                .unwrap(),
        )
        .await;
    assert!(tcp.error.unwrap().message.contains("Connection refused"));
}

#[tokio::test]
async fn http_request_carries_method_headers_and_body() {
    let nginx = Nginx::builder()
        .location(
            "= /echo",
            "return 200 '$request_method $http_x_probe $content_length';",
        )
        .start()
        .unwrap();
    let mut request = HttpRequest::get(nginx.http_url("/echo").parse().unwrap());
    request.method = http::Method::POST;
    request
        .headers
        .push(("x-probe".parse().unwrap(), "yes".parse().unwrap()));
    request.body = "hello".into();
    let o = prober(ProberConfig::default()).check_http(&request).await;
    assert!(o.success, "{:?}", o.error);
    assert_eq!(o.body_bytes, "POST yes 5".len() as u64);
}

/// A check on a connection of its own says so, as Go's transport does with
/// keep-alives disabled (kubenurse's default), so the server closes at once;
/// with reuse, nothing is said and the connection stays open.
#[tokio::test]
async fn a_connection_not_reused_asks_the_server_to_close_it() {
    let nginx = Nginx::builder()
        .location("= /conn", "return 200 '[$http_connection]';")
        .start()
        .unwrap();
    let request = HttpRequest::get(nginx.http_url("/conn").parse().unwrap());
    let single = prober(ProberConfig::default()).check_http(&request).await;
    assert_eq!(
        single.body_bytes,
        "[close]".len() as u64,
        "{:?}",
        single.error
    );
    let reuse = prober(ProberConfig {
        reuse: true,
        ..ProberConfig::default()
    });
    let kept = reuse.check_http(&request).await;
    assert_eq!(kept.body_bytes, "[]".len() as u64, "{:?}", kept.error);
    assert!(reuse.check_http(&request).await.connection.reused);
}

/// Closes with RST (SO_LINGER 0) instead of FIN.
fn socket_reset(s: tokio::net::TcpStream) {
    let std = s.into_std().unwrap();
    socket2::SockRef::from(&std)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(std);
}

#[tokio::test]
async fn a_silent_dns_server_times_out_naming_the_timeout_in_whole_milliseconds() {
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut trace = ward_probe::Trace::start();
    // What a caller has left of a 300ms budget after a few microseconds.
    let left = Duration::from_micros(299_996);
    let e = ward_probe::dns::query(
        &DnsQuery::new("127.0.0.1", port, "a.test"),
        None,
        left,
        &mut trace,
    )
    .await
    .unwrap_err();
    assert_eq!(e.failure, ward_probe::dns::DnsFailure::Timeout);
    assert_eq!(
        e.message,
        format!("A a.test via 127.0.0.1:{port}/udp: no answer within 300ms")
    );
    drop(silent);
}

/// An nginx logging each request's host, path and credentials to `seen.log`.
fn credential_logging(locations: &[(&str, String)]) -> Nginx {
    locations
        .iter()
        .fold(
            Nginx::builder().http_config(
                "log_format seen '$host $uri auth=[$http_authorization] cookie=[$http_cookie]';",
            ),
            |b, (path, body)| b.location(*path, format!("access_log logs/seen.log seen; {body}")),
        )
        .start()
        .unwrap()
}

/// The lines of `seen.log` once it has `n` (nginx writes a request's line
/// after it answered, so the client can be done first), or what it has
/// after 5 s.
fn seen(nginx: &Nginx, n: usize) -> Vec<String> {
    let read = || -> Vec<String> {
        std::fs::read_to_string(nginx.access_log().with_file_name("seen.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    ward_testkit::wait::until(Duration::from_secs(5), || {
        let lines = read();
        (lines.len() >= n).then_some(lines)
    })
    .unwrap_or_else(read)
}

#[tokio::test]
async fn redirects_are_followed_and_credentials_never_reach_another_host() {
    let other = credential_logging(&[("= /landing", "return 307 $arg_back;".into())]);
    let first = credential_logging(&[
        ("= /start", "return 301 /next;".into()),
        (
            "= /next",
            format!(
                "return 302 'http://localhost:{}/landing?back=http://127.0.0.1:$server_port/back';",
                other.http_addr().port()
            ),
        ),
        ("= /back", "return 200 'home';".into()),
    ]);
    let mut request = HttpRequest::get(first.http_url("/start").parse().unwrap());
    request.follow_redirects = true;
    request.headers = vec![
        (http::header::AUTHORIZATION, "Bearer t0ken".parse().unwrap()),
        (http::header::COOKIE, "session=1".parse().unwrap()),
    ];
    let o = prober(ProberConfig::default()).check_http(&request).await;
    assert!(o.success, "{:?}", o.error);
    assert_eq!((o.status, o.body_bytes), (Some(200), 4));
    let port = first.http_addr().port();
    let other_port = other.http_addr().port();
    assert_eq!(o.target, format!("http://127.0.0.1:{port}/back"));
    let hops: Vec<(String, u16)> = o
        .redirects
        .iter()
        .map(|h| (h.target.clone(), h.status))
        .collect();
    assert_eq!(
        hops,
        [
            (format!("http://127.0.0.1:{port}/start"), 301),
            (format!("http://127.0.0.1:{port}/next"), 302),
            (
                format!("http://localhost:{other_port}/landing?back=http://127.0.0.1:{port}/back"),
                307
            ),
        ]
    );
    assert!(o
        .redirects
        .iter()
        .all(|h| h.events.get(Event::GotFirstRespByte).is_some()));
    // Same host: the credentials go along. Another host: they are dropped,
    // and a later redirect back to the first host does not restore them.
    assert_eq!(
        seen(&first, 3),
        [
            "127.0.0.1 /start auth=[Bearer t0ken] cookie=[session=1]",
            "127.0.0.1 /next auth=[Bearer t0ken] cookie=[session=1]",
            "127.0.0.1 /back auth=[-] cookie=[-]",
        ]
    );
    assert_eq!(seen(&other, 1), ["localhost /landing auth=[-] cookie=[-]"]);

    // Not asked to follow: the 301 is the answer.
    request.follow_redirects = false;
    let o = prober(ProberConfig::default()).check_http(&request).await;
    assert_eq!((o.status, o.redirects.len()), (Some(301), 0));
    assert_eq!(o.error.unwrap().class, ErrorClass::HttpStatus);
}

#[tokio::test]
async fn a_redirect_loop_stops_at_gos_ten_requests() {
    let nginx = credential_logging(&[("= /loop", "return 302 /loop;".into())]);
    let mut request = HttpRequest::get(nginx.http_url("/loop").parse().unwrap());
    request.follow_redirects = true;
    let o = prober(ProberConfig::default()).check_http(&request).await;
    let error = o.error.expect("a loop fails");
    assert_eq!(error.class, ErrorClass::Protocol);
    assert_eq!(error.message, "stopped after 10 redirects");
    assert_eq!(o.target, nginx.http_url("/loop"));
    assert_eq!((o.status, o.redirects.len()), (Some(302), 9));
    assert_eq!(seen(&nginx, 10).len(), 10, "Go's client sends 10 requests");
}

//! `ward lookup` rounds against real unbound and dnsmasq on 127.0.0.x, with a
//! fault-injecting relay in between where a test needs drops, delays,
//! truncation or IPv6. Counts are exact: rounds are driven one by one.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use ward_agent::metrics::label_text;
use ward_agent::Registry;
use ward_lookup::config::{parse_hosts, parse_servers};
use ward_lookup::{metrics, Config, Lookuper};
use ward_testkit::dns::{DnsServer, Record};
use ward_testkit::dns_relay::DnsRelay;
use ward_testkit::wait;

fn config(hosts: &str, servers: &str, timeout_ms: u64) -> Config {
    Config {
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(timeout_ms),
        hosts: parse_hosts(hosts).expect("hosts"),
        servers: match servers {
            "" => Vec::new(),
            list => parse_servers(list).expect("servers"),
        },
        prom_histogram: false,
        resolv_conf: None,
        debug: false,
    }
}

/// A lookuper for `cfg` and the registry it records into (`le` histograms
/// with `cfg.prom_histogram`, else `vmrange`).
/// unbound on `ip`, answering `a.test` with 127.0.0.9.
fn unbound_with_a_test(ip: &str) -> DnsServer {
    DnsServer::unbound()
        .bind_ip(ip)
        .a("a.test", "127.0.0.9")
        .start()
        .expect("unbound")
}

fn new_lookuper(cfg: Config) -> (Lookuper, Arc<Registry>) {
    let registry = metrics::registry(cfg.prom_histogram);
    let lookuper = Lookuper::new(cfg, &registry).expect("lookuper");
    (lookuper, registry)
}

/// `cfg` in resolv.conf mode, with `body` written to `dir`/resolv.conf.
fn in_resolv_conf_mode(mut cfg: Config, dir: &tempfile::TempDir, body: &str) -> Config {
    let path = dir.path().join("resolv.conf");
    std::fs::write(&path, body).expect("writing resolv.conf");
    cfg.resolv_conf = Some(path);
    cfg
}

fn text(r: &Registry) -> String {
    let mut s = String::new();
    r.encode(&mut s);
    s
}

/// The value of one series, 0 when it does not exist.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map(|v| v.parse().unwrap_or(f64::NAN))
        .unwrap_or(0.0)
}

/// The value of `family{host="…",dns_server="…"[,extra]}`, 0 when it does not exist.
fn pair_value(text: &str, family: &str, host: &str, server: &str, extra: &[(&str, &str)]) -> f64 {
    let labels = [&[("host", host), ("dns_server", server)][..], extra].concat();
    value(text, &format!("{family}{{{}}}", label_text(&labels)))
}

/// Sum over every series of `family` whose labels contain all of `having`.
fn sum(text: &str, family: &str, having: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) && having.iter().all(|h| l.contains(h)))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

async fn rounds(lookuper: &Lookuper, n: usize) {
    for _ in 0..n {
        lookuper.round().await;
    }
}

#[tokio::test]
async fn noerror_and_nxdomain_counts_match_what_the_servers_were_asked() {
    let unbound = unbound_with_a_test("127.0.0.21");
    let dnsmasq = DnsServer::dnsmasq()
        .bind_ip("127.0.0.22")
        .a("a.test", "127.0.0.9")
        .start()
        .expect("dnsmasq");
    let (u, d) = (unbound.addr(), dnsmasq.addr());
    let servers = format!("udp://{u},tcp://{u},{d}");
    let (lookuper, registry) = new_lookuper(config("a.test,missing.test", &servers, 2000));
    let t = text(&registry);
    assert_eq!(
        t.lines().count(),
        6,
        "only errors_total exists before the first round:\n{t}"
    );
    assert_eq!(sum(&t, metrics::DNS_ERRORS_TOTAL, &[]), 0.0);

    rounds(&lookuper, 3).await;
    let t = text(&registry);
    for server in [
        format!("udp://{u}"),
        format!("tcp://{u}"),
        format!("udp://{d}"),
    ] {
        let count = format!("{}_count", metrics::DNS_LOOKUP_DURATION);
        for (family, host, extra) in [
            (
                metrics::DNS_LOOKUP_TOTAL,
                "a.test",
                &[("rcode", "NOERROR")][..],
            ),
            (
                metrics::DNS_LOOKUP_TOTAL,
                "missing.test",
                &[("rcode", "NXDOMAIN")],
            ),
            (&count, "a.test", &[]),
            (&count, "missing.test", &[]),
            (
                metrics::ERRORS_BY_CLASS,
                "missing.test",
                &[("class", "nxdomain")],
            ),
        ] {
            assert_eq!(
                pair_value(&t, family, host, &server, extra),
                3.0,
                "{family} {host} {server} {extra:?}\n{t}"
            );
        }
    }
    assert_eq!(sum(&t, metrics::DNS_ERRORS_TOTAL, &[]), 0.0);
    assert!(
        t.contains("vmrange=\""),
        "VictoriaMetrics histogram by default"
    );
    // What the servers logged: 3 rounds × (udp + tcp) at unbound, 3 at dnsmasq, per name.
    let asked = wait::until(Duration::from_secs(5), || {
        (unbound.queries_for("a.test") == 6
            && dnsmasq.queries_for("a.test") == 3
            && unbound.queries_for("missing.test") == 6)
            .then_some(())
    });
    assert!(
        asked.is_some(),
        "unbound {:?} dnsmasq {:?}",
        unbound.logged_queries(),
        dnsmasq.logged_queries()
    );
}

#[tokio::test]
async fn other_record_types_and_prometheus_buckets() {
    let server = DnsServer::unbound()
        .bind_ip("127.0.0.23")
        .a("a.test", "127.0.0.9")
        .record(Record::Aaaa("a.test".into(), "fd00::9".into()))
        .record(Record::Cname("www.test".into(), "a.test".into()))
        .record(Record::Srv(
            "_dns._udp.a.test".into(),
            0,
            5,
            53,
            "a.test".into(),
        ))
        .start()
        .expect("unbound");
    let hosts = "a.test:AAAA,www.test:CNAME,_dns._udp.a.test:SRV,a.test:ADDR";
    let mut cfg = config(hosts, &format!("udp://{}", server.addr()), 2000);
    cfg.prom_histogram = true;
    let (lookuper, registry) = new_lookuper(cfg);
    let lookups = lookuper.round().await;
    let answer = |label: &str| {
        lookups
            .iter()
            .find(|l| l.host == label)
            .map(|l| l.answers.join(" | "))
            .unwrap_or_default()
    };
    assert!(
        answer("a.test:AAAA").contains("AAAA fd00::9"),
        "{lookups:?}"
    );
    assert!(
        answer("www.test:CNAME").contains("CNAME a.test."),
        "{lookups:?}"
    );
    assert!(
        answer("_dns._udp.a.test:SRV").contains("SRV 0 5 53 a.test."),
        "{lookups:?}"
    );
    let addr = answer("a.test:ADDR");
    assert!(
        addr.contains("A 127.0.0.9") && addr.contains("AAAA fd00::9"),
        "{addr}"
    );
    assert!(lookups.iter().all(|l| l.succeeded()));
    let t = text(&registry);
    assert!(t.contains(&format!("hostlookuper_dns_lookup_duration_seconds_bucket{{host=\"a.test:AAAA\",dns_server=\"udp://{}\",le=\"0.005\"}}", server.addr())), "{t}");
}

#[tokio::test]
async fn dropped_queries_raise_errors_and_the_timeout_class_exactly() {
    let server = DnsServer::unbound()
        .bind_ip("127.0.0.24")
        .a("a.test", "127.0.0.9")
        .a("b.test", "127.0.0.9")
        .a("c.test", "127.0.0.9")
        .a("d.test", "127.0.0.9")
        .start()
        .expect("unbound");
    let relay = DnsRelay::to(server.addr())
        .bind_ip("127.0.0.24")
        .drop_every(4)
        .start()
        .expect("relay");
    let (lookuper, registry) = new_lookuper(config(
        "a.test,b.test,c.test,d.test",
        &format!("udp://{}", relay.addr()),
        1000,
    ));
    rounds(&lookuper, 5).await; // 20 queries, every 4th dropped
    assert_eq!((relay.udp_queries(), relay.dropped()), (20, 5));
    let t = text(&registry);
    assert_eq!(sum(&t, metrics::DNS_ERRORS_TOTAL, &[]), 5.0, "{t}");
    assert_eq!(
        sum(&t, metrics::ERRORS_BY_CLASS, &["class=\"timeout\""]),
        5.0,
        "{t}"
    );
    assert_eq!(sum(&t, metrics::ERRORS_BY_CLASS, &[]), 5.0, "{t}");
    assert_eq!(
        sum(&t, metrics::DNS_LOOKUP_TOTAL, &["rcode=\"NOERROR\""]),
        15.0,
        "{t}"
    );
    // Transport errors are counted without an rcode label, as hostlookuper does.
    let no_rcode: f64 = t
        .lines()
        .filter(|l| l.starts_with(metrics::DNS_LOOKUP_TOTAL) && !l.contains("rcode="))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum();
    assert_eq!(no_rcode, 5.0, "{t}");
}

#[tokio::test]
async fn the_pairs_first_lookups_start_spread_over_the_spread() {
    let server = unbound_with_a_test("127.0.0.36");
    let relay = DnsRelay::to(server.addr())
        .bind_ip("127.0.0.36")
        .start()
        .expect("relay");
    let hosts: Vec<String> = (0..10).map(|i| format!("h{i}.test")).collect();
    let (lookuper, registry) = new_lookuper(config(
        &hosts.join(","),
        &format!("udp://{}", relay.addr()),
        2000,
    ));
    let spread = Duration::from_millis(1000);
    // A long interval: each pair looks up once before every pair has.
    let stop = CancellationToken::new();
    let done = stop.clone();
    lookuper
        .run(Duration::from_secs(60), spread, stop, move || done.cancel())
        .await;
    let arrivals = relay.udp_arrivals();
    assert_eq!(arrivals.len(), 10, "{arrivals:?}");
    // Pair i starts i x 100 ms after the first (on the 50 ms steps), so its
    // query cannot reach the relay sooner after the first one (less the
    // first query's own delay).
    let slack = Duration::from_millis(60);
    for (i, at) in arrivals.iter().enumerate() {
        assert!(
            *at + slack >= spread * i as u32 / 10,
            "query {i} at {at:?}: {arrivals:?}"
        );
    }
    // The first pass ends with every lookup recorded.
    let t = text(&registry);
    assert_eq!(
        sum(&t, metrics::DNS_LOOKUP_TOTAL, &["rcode=\"NXDOMAIN\""]),
        10.0,
        "{t}"
    );
}

/// hostlookuper runs a goroutine per host x server: a server that never
/// answers costs its own pairs their timeouts, and every other pair keeps
/// its interval. With a 100 ms interval and a 1 s timeout the silent pair
/// looks up back to back (a Go ticker keeps one missed tick), once a
/// second; by its third timeout the healthy pair has had about 20 lookups,
/// where lock-step rounds would have given it 3.
#[tokio::test]
async fn a_silent_server_slows_only_its_own_pairs() {
    let server = unbound_with_a_test("127.0.0.37");
    let silent = DnsRelay::to(server.addr())
        .bind_ip("127.0.0.38")
        .drop_every(1)
        .start()
        .expect("relay");
    let healthy = format!("udp://{}", server.addr());
    let dropped = format!("udp://{}", silent.addr());
    let mut cfg = config("a.test", &format!("{healthy},{dropped}"), 1000);
    cfg.interval = Duration::from_millis(100);
    let (lookuper, registry) = new_lookuper(cfg);
    let stop = CancellationToken::new();
    let run = lookuper.run(
        Duration::from_millis(100),
        Duration::from_millis(50),
        stop.clone(),
        || {},
    );
    let watch = async {
        let t = wait::until_async(Duration::from_secs(10), || {
            let t = text(&registry);
            let errors = pair_value(&t, metrics::DNS_ERRORS_TOTAL, "a.test", &dropped, &[]);
            std::future::ready((errors >= 3.0).then_some(t))
        })
        .await
        .expect("three timeouts of the silent server");
        stop.cancel();
        t
    };
    let ((), t) = tokio::join!(run, watch);
    let answered = pair_value(
        &t,
        metrics::DNS_LOOKUP_TOTAL,
        "a.test",
        &healthy,
        &[("rcode", "NOERROR")],
    );
    assert!(
        answered >= 15.0,
        "the healthy server got {answered} lookups in three timeouts of the silent one:\n{t}"
    );
    assert_eq!(
        pair_value(&t, metrics::DNS_ERRORS_TOTAL, "a.test", &healthy, &[]),
        0.0,
        "{t}"
    );
}

#[tokio::test]
async fn a_stopped_server_yields_errors_not_a_crash() {
    let mut server = unbound_with_a_test("127.0.0.25");
    // Through a relay a dead upstream never answers: timeouts.
    let relay = DnsRelay::to(server.addr())
        .bind_ip("127.0.0.26")
        .start()
        .expect("relay");
    let servers = format!(
        "udp://{},udp://{},tcp://{}",
        server.addr(),
        relay.addr(),
        server.addr()
    );
    let (lookuper, registry) = new_lookuper(config("a.test", &servers, 1000));
    rounds(&lookuper, 1).await;
    assert_eq!(sum(&text(&registry), metrics::DNS_ERRORS_TOTAL, &[]), 0.0);
    server.process().stop(Duration::from_secs(5));
    rounds(&lookuper, 2).await;
    let t = text(&registry);
    let direct_udp = format!("udp://{}", server.addr());
    let relayed = format!("udp://{}", relay.addr());
    let direct_tcp = format!("tcp://{}", server.addr());
    // Through the relay: timeouts. Directly on loopback the kernel answers for
    // the dead port: refused, at once.
    for (family, server, extra) in [
        (metrics::DNS_ERRORS_TOTAL, &relayed, &[][..]),
        (metrics::ERRORS_BY_CLASS, &relayed, &[("class", "timeout")]),
        (metrics::DNS_ERRORS_TOTAL, &direct_udp, &[]),
        (
            metrics::ERRORS_BY_CLASS,
            &direct_udp,
            &[("class", "refused")],
        ),
        (
            metrics::ERRORS_BY_CLASS,
            &direct_tcp,
            &[("class", "refused")],
        ),
    ] {
        assert_eq!(
            pair_value(&t, family, "a.test", server, extra),
            2.0,
            "{family} {server} {extra:?}\n{t}"
        );
    }
}

#[tokio::test]
async fn truncated_udp_answers_fall_back_to_tcp_in_resolv_conf_mode() {
    let server = unbound_with_a_test("127.0.0.27");
    let relay = DnsRelay::to(server.addr())
        .bind_ip("127.0.0.27")
        .truncate_udp(true)
        .start()
        .expect("relay");
    let dir = tempfile::tempdir().unwrap();
    let (lookuper, registry) = new_lookuper(in_resolv_conf_mode(
        config("a.test.", &format!("udp://{}", relay.addr()), 1000),
        &dir,
        &format!(
            "nameserver {}\noptions timeout:1 attempts:1\n",
            relay.addr()
        ),
    ));
    let lookups = lookuper.round().await;
    let through = lookups
        .iter()
        .find(|l| l.server == "resolv.conf")
        .expect("resolv.conf lookup");
    assert!(through.succeeded(), "{through:?}");
    assert_eq!(through.queries_sent(), 2, "UDP, then TCP: {through:?}");
    assert_eq!(through.queries[1].server, format!("tcp://{}", relay.addr()));
    assert!(through.answers.iter().any(|a| a.contains("127.0.0.9")));
    assert_eq!((relay.truncated(), relay.tcp_connections()), (2, 1));
    // Probing the server directly keeps hostlookuper's view (NOERROR) and counts the class.
    let t = text(&registry);
    let direct = format!("udp://{}", relay.addr());
    for (family, extra) in [
        (metrics::DNS_LOOKUP_TOTAL, ("rcode", "NOERROR")),
        (metrics::ERRORS_BY_CLASS, ("class", "truncated")),
    ] {
        assert_eq!(
            pair_value(&t, family, "a.test.", &direct, &[extra]),
            1.0,
            "{family} {extra:?}\n{t}"
        );
    }
    assert_eq!(
        value(
            &t,
            "ward_lookup_resolver_queries_per_lookup{host=\"a.test.\"}"
        ),
        2.0,
        "{t}"
    );
}

#[tokio::test]
async fn search_path_amplification_matches_the_libc_resolver() {
    let server = DnsServer::unbound()
        .bind_ip("127.0.0.28")
        .zone("cluster.local")
        .zone("org")
        .a("example.org", "127.0.0.9")
        .record(Record::Aaaa("example.org".into(), "fd00::9".into()))
        .start()
        .expect("unbound");
    let dir = tempfile::tempdir().unwrap();
    let resolv = format!(
        "search a.svc.cluster.local svc.cluster.local cluster.local\nnameserver {}\noptions ndots:5\n",
        server.addr()
    );
    let (lookuper, registry) = new_lookuper(in_resolv_conf_mode(
        config("example.org", "", 2000),
        &dir,
        &resolv,
    ));
    let lookups = lookuper.round().await;
    assert_eq!(lookups.len(), 1);
    let l = &lookups[0];
    assert!(l.succeeded(), "{l:?}");
    assert_eq!(l.queries_sent(), 4);
    let expected = [
        "example.org.a.svc.cluster.local",
        "example.org.svc.cluster.local",
        "example.org.cluster.local",
        "example.org",
    ];
    let logged = wait::until(Duration::from_secs(5), || {
        let q = server.logged_queries();
        (q.len() >= 4).then_some(q)
    })
    .unwrap_or_default();
    assert_eq!(logged, expected, "the server saw exactly glibc's 4 queries");
    let t = text(&registry);
    assert_eq!(
        value(
            &t,
            "ward_lookup_resolver_queries_total{host=\"example.org\"}"
        ),
        4.0,
        "{t}"
    );
    assert_eq!(value(&t, "hostlookuper_dns_lookup_total{host=\"example.org\",dns_server=\"resolv.conf\",rcode=\"NOERROR\"}"), 1.0, "{t}");

    // A and AAAA (getaddrinfo AF_UNSPEC): 4 names × 2 types; a trailing dot: 1 query.
    let (lookuper, _) = new_lookuper(in_resolv_conf_mode(
        config("example.org:ADDR,example.org.", "", 2000),
        &dir,
        &resolv,
    ));
    let lookups = lookuper.round().await;
    let sent: Vec<usize> = lookups.iter().map(|l| l.queries_sent()).collect();
    assert_eq!(sent, vec![8, 1], "{lookups:?}");
    let total = wait::until(Duration::from_secs(5), || {
        let n = server.logged_queries().len();
        (n >= 13).then_some(n)
    });
    assert_eq!(total, Some(13));
}

#[tokio::test]
async fn nxdomain_through_the_search_path_and_ipv6_servers() {
    let server = DnsServer::dnsmasq()
        .bind_ip("127.0.0.29")
        .zone("cluster.local")
        .a("web.ns.svc.cluster.local", "127.0.0.9")
        .start()
        .expect("dnsmasq");
    // The relay gives the IPv4-only test server an IPv6 address.
    let relay = DnsRelay::to(server.addr())
        .bind_ip("::1")
        .start()
        .expect("relay on ::1");
    let port = relay.addr().port();
    let dir = tempfile::tempdir().unwrap();
    let (lookuper, registry) = new_lookuper(in_resolv_conf_mode(
        config(
            "web,nothing.cluster.local",
            &format!("udp://[::1]:{port},tcp://[::1]:{port}"),
            1000,
        ),
        &dir,
        &format!("search ns.svc.cluster.local svc.cluster.local cluster.local\nnameserver [::1]:{port}\noptions ndots:5 timeout:1 attempts:1\n"),
    ));
    let lookups = lookuper.round().await;
    let through = |host: &str| {
        lookups
            .iter()
            .find(|l| l.host == host && l.server == "resolv.conf")
            .cloned()
            .expect("lookup")
    };
    let web = through("web");
    assert!(
        web.succeeded() && web.queries_sent() == 1,
        "first search domain hits: {web:?}"
    );
    let nothing = through("nothing.cluster.local");
    assert_eq!(
        (nothing.rcode.as_deref(), nothing.queries_sent()),
        (Some("NXDOMAIN"), 4),
        "{nothing:?}"
    );
    let t = text(&registry);
    assert_eq!(value(&t, &format!("hostlookuper_dns_lookup_total{{host=\"nothing.cluster.local\",dns_server=\"udp://[::1]:{port}\",rcode=\"NXDOMAIN\"}}")), 1.0, "{t}");
    assert_eq!(value(&t, &format!("hostlookuper_dns_lookup_total{{host=\"nothing.cluster.local\",dns_server=\"tcp://[::1]:{port}\",rcode=\"NXDOMAIN\"}}")), 1.0, "{t}");
    assert_eq!(value(&t, "ward_lookup_errors_total{host=\"nothing.cluster.local\",dns_server=\"resolv.conf\",class=\"nxdomain\"}"), 1.0, "{t}");
    assert_eq!(
        value(
            &t,
            "ward_lookup_resolver_queries_per_lookup{host=\"nothing.cluster.local\"}"
        ),
        4.0,
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_is_ready_only_after_its_first_round() {
    let server = unbound_with_a_test("127.0.0.30");
    // The first round cannot finish before the relay's delay.
    let relay = DnsRelay::to(server.addr())
        .bind_ip("127.0.0.30")
        .delay(Duration::from_millis(800))
        .start()
        .expect("relay");
    let endpoint = ward_lookup::agent::bind("127.0.0.1:0").await.expect("bind");
    let addr = endpoint.local_addr().expect("addr");
    let lifecycle = ward_lookup::agent::Lifecycle::new();
    let cfg = config("a.test", &format!("udp://{}", relay.addr()), 2000);
    let agent = tokio::spawn(ward_lookup::agent::run(
        cfg,
        vec![endpoint],
        lifecycle.clone(),
    ));
    let status = |path: &'static str| {
        tokio::task::spawn_blocking(move || {
            ward_testkit::net::http_get(addr, path).map(|r| r.status)
        })
    };
    let first = wait::until(Duration::from_secs(5), || {
        std::net::TcpStream::connect(addr).ok().map(|_| ())
    });
    assert!(first.is_some());
    assert_eq!(
        status("/readyz").await.unwrap(),
        Some(503),
        "not ready before the first round"
    );
    assert_eq!(status("/healthz").await.unwrap(), Some(200));
    let ready = tokio::task::spawn_blocking(move || {
        wait::until(Duration::from_secs(10), || {
            ward_testkit::net::http_get(addr, "/readyz").filter(|r| r.status == 200)
        })
    })
    .await
    .unwrap();
    assert!(ready.is_some(), "ready after the first round");
    let text = tokio::task::spawn_blocking(move || ward_testkit::net::http_get(addr, "/metrics"))
        .await
        .unwrap()
        .map(|r| r.body)
        .unwrap_or_default();
    assert!(
        text.contains("hostlookuper_dns_lookup_total{host=\"a.test\""),
        "{text}"
    );
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
    lifecycle.request_shutdown();
    let stopped = tokio::time::timeout(Duration::from_secs(10), agent).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "agent stops on request: {stopped:?}"
    );
}

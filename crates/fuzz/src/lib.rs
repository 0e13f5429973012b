//! Fuzz harnesses: one per kind of input ward reads from outside, each
//! feeding arbitrary bytes to the real reader and checking that it returns
//! (never panics or hangs) and keeps its promises: an error is one line, a
//! probe answers within its timeout. The same [`TARGETS`] serve two runs:
//! the bounded, seeded mutation run of this crate's tests (in the test
//! command) and the coverage-guided cargo-fuzz targets in `fuzz/`
//! (`scripts/fuzz.sh`, nightly).

use std::net::SocketAddr;
use std::time::Duration;

/// One fuzz target: a name, inputs that reach its reader's deep paths, and the harness.
pub struct Target {
    /// The name (`cargo fuzz run NAME`).
    pub name: &'static str,
    /// Valid inputs to start mutating from.
    pub seeds: &'static [&'static [u8]],
    /// Feeds one input to the reader; panics when a promise is broken.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "slo_spec",
        seeds: &[
            include_bytes!("../../../examples/slo/ward-nurse-lookup.yaml"),
            include_bytes!("../../../examples/slo/kubernetes-apiserver.yaml"),
            include_bytes!("../../ward/tests/fixtures/slo/plugins/k8s-denom.yaml"),
            include_bytes!("../../ward/tests/fixtures/slo/conformance/specs/openslo.yaml"),
            include_bytes!("../../ward/tests/fixtures/slo/extensions/latency-and-traffic.yaml"),
        ],
        run: slo_spec,
    },
    Target {
        name: "load_scenario",
        seeds: &[
            b"stages:\n  - duration: 30s\n    target: 10\n  - duration: 1m\n    target: 0\nstart_vus: 2\ncycle_idle: 4s..11s\nrepeat: 3\n",
            b"{\"stages\": [{\"duration\": \"1s\", \"target\": 1}]}",
        ],
        run: load_scenario,
    },
    Target {
        name: "nurse_env",
        seeds: &[
            b"web:https://example.test/healthz|db:tcp://10.0.0.1:5432|dns:dns://10.96.0.10/kubernetes.default\n.005,.01,.025,.05,.1,.25,.5,1,2.5,5,+Inf\ntrue\n1m30s",
        ],
        run: nurse_env,
    },
    Target {
        name: "lookup_config",
        seeds: &[
            b"example.com,A:kubernetes.default.svc.cluster.local,AAAA:google.com\nudp://9.9.9.9:53,tcp://1.1.1.1:53,dot://dns.quad9.net:853\n:9090,127.0.0.1:9091\nsearch default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5 timeout:2 attempts:3",
        ],
        run: lookup_config,
    },
    Target {
        name: "kube_json",
        seeds: &[
            br#"{"metadata":{"name":"ward-nurse-abc","namespace":"ward","labels":{"app":"ward-nurse"},"deletionTimestamp":null},"spec":{"nodeName":"node-1"},"status":{"phase":"Running","podIP":"10.244.1.5","hostIP":"10.200.0.2"}}"#,
            br#"{"metadata":{"name":"node-1","labels":{"kubernetes.io/hostname":"node-1"}},"spec":{"unschedulable":true,"taints":[{"key":"node.kubernetes.io/unschedulable","effect":"NoSchedule"}]}}"#,
        ],
        run: kube_json,
    },
    Target {
        name: "prometheus_answer",
        seeds: &[
            concat!(
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"slo:objective:ratio","sloth_id":"s-a","sloth_service":"s","sloth_slo":"a"},"value":[1,"0.999"]},{"metric":{"__name__":"slo:time_period:days","sloth_id":"s-a"},"value":[1,"30"]},{"metric":{"__name__":"slo:period_error_budget_remaining:ratio","sloth_id":"s-a"},"value":[1,"0.5"]},{"metric":{"__name__":"slo:current_burn_rate:ratio","sloth_id":"s-a"},"value":[1,"2"]},{"metric":{"__name__":"slo:sli_error:ratio_rate5m","sloth_id":"s-a","sloth_window":"5m"},"value":[1,"NaN"]}]}}"#,
                "\n",
                r#"{"status":"success","data":{"groups":[{"name":"sloth-slo-alerts-s-a","rules":[{"type":"alerting","name":"A","state":"firing","labels":{"sloth_severity":"page"}}]}]}}"#,
                "\n",
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"sloth_id":"s-a"},"values":[[1,"0.5"],[2,"+Inf"]]}]}}"#,
            )
            .as_bytes(),
            br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
        ],
        run: prometheus_answer,
    },
    Target {
        name: "http_response",
        seeds: &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok",
            b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.0 503 Service Unavailable\r\nConnection: close\r\n\r\nbusy",
        ],
        run: http_response,
    },
    Target {
        name: "dns_response",
        seeds: &[
            // An answer to `A example.test`: 93.184.216.34, TTL 60 (the ID is the query's).
            b"\x00\x00\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07example\x04test\x00\x00\x01\x00\x01\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x5d\xb8\xd8\x22",
            // NXDOMAIN with an SOA in the authority section.
            b"\x00\x00\x81\x83\x00\x01\x00\x00\x00\x01\x00\x00\x07example\x04test\x00\x00\x01\x00\x01\xc0\x14\x00\x06\x00\x01\x00\x00\x00\x3c\x00\x16\x01a\xc0\x14\x01b\xc0\x14\x00\x00\x00\x01\x00\x00\x00\x3c\x00\x00\x00\x3c\x00\x00\x00\x3c\x00\x00\x00\x3c",
        ],
        run: dns_response,
    },
];

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// An error's text must be one line: what the user reads is one line that
/// names the input and the field.
fn one_line(what: &str, error: impl std::fmt::Display) {
    let text = error.to_string();
    assert!(
        !text.trim_end().contains('\n'),
        "{what}: an error of more than one line: {text:?}"
    );
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The SLO spec reader and rule generator (all three spec formats), and the
/// YAML writer for what generated.
fn slo_spec(data: &[u8]) {
    let generator = ward_slo::Generator::new(ward_slo::Config::default())
        .expect("the default configuration is valid");
    for doc in ward_slo::spec::documents(&text(data)) {
        match generator.generate_doc("fuzz.yaml", &doc, &mut Vec::new()) {
            Ok(result) => {
                ward_slo::output::write_result(&result, "", Vec::new()).expect("writing to memory");
            }
            Err(e) => one_line("slo spec", e),
        }
    }
}

/// `ward load --scenario` files.
fn load_scenario(data: &[u8]) {
    let plan = match ward_load::scenario::from_yaml(&text(data)) {
        Ok(plan) => plan,
        Err(e) => return one_line("load scenario", e),
    };
    if let Err(e) = plan.validate() {
        return one_line("load scenario", e);
    }
    // A plan that validates can be laid out, and never asks for more VUs than it says.
    let schedule = plan.schedule();
    let max = plan.max_vus();
    let total = schedule.total();
    for t in [Duration::ZERO, total / 3, total / 2, total] {
        assert!(schedule.vus_at(t) <= max, "{t:?}: more than {max} VUs");
    }
}

/// The nurse's `KUBENURSE_*` values: one per line (extra checks, buckets, a
/// boolean, a duration).
fn nurse_env(data: &[u8]) {
    use ward_nurse::config::{flag_on, parse_buckets, parse_extra_checks, toggle_on};
    for line in text(data).lines() {
        if let Err(e) = parse_extra_checks(line) {
            one_line("KUBENURSE_EXTRA_CHECKS", e);
        }
        match parse_buckets(line) {
            Ok(b) => assert!(b.windows(2).all(|w| w[0] < w[1]), "{line:?}: {b:?}"),
            Err(e) => one_line("KUBENURSE_HISTOGRAM_BUCKETS", e),
        }
        let _ = (flag_on(line), toggle_on(line));
        if let Err(e) = ward_duration::parse(line) {
            one_line("duration", e);
        }
    }
}

/// hostlookuper's `-hosts`, `-dns-servers`, `-listen` values and a resolv.conf.
fn lookup_config(data: &[u8]) {
    use ward_lookup::config::{parse_hosts, parse_listen, parse_servers};
    let text = text(data);
    for line in text.lines() {
        if let Err(e) = parse_hosts(line) {
            one_line("-hosts", e);
        }
        if let Err(e) = parse_servers(line) {
            one_line("-dns-servers", e);
        }
        if let Err(e) = parse_listen(line) {
            one_line("-listen", e);
        }
    }
    let conf = ward_lookup::ResolvConf::parse(&text);
    for name in ["kubernetes", "example.com.", ""] {
        let _ = conf.worst_case(name, Duration::from_millis(100));
        assert!(!conf.candidates(name).is_empty() || name.is_empty());
    }
}

/// The pod and node objects the nurse's discovery decodes (its own slim types).
fn kube_json(data: &[u8]) {
    if let Ok(node) = serde_json::from_slice::<ward_nurse::slim::SlimNode>(data) {
        let _ = node.is_unschedulable();
    }
    let _ = serde_json::from_slice::<ward_nurse::slim::SlimPod>(data);
}

/// How long a network harness allows its probe (the probe's own timeout, plus slack).
const PROBE_TIMEOUT: Duration = Duration::from_millis(100);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Asserts that `probe` finishes within the probe timeout and a second of slack.
async fn within_timeout<T>(what: &str, probe: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PROBE_TIMEOUT + Duration::from_secs(1), probe)
        .await
        .unwrap_or_else(|_| panic!("{what}: the probe did not return within its timeout"))
}

/// An HTTP response (head and body) as a server on loopback sends it, read
/// by the prober every check uses: bounded in time and bytes, classified.
fn http_response(data: &[u8]) {
    runtime().block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let response = data.to_vec();
        let server = tokio::spawn(async move {
            if let Ok((mut conn, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request).await;
                let _ = conn.write_all(&response).await;
                let _ = conn.shutdown().await;
            }
        });
        let prober = ward_probe::Prober::new(ward_probe::ProberConfig {
            timeout: PROBE_TIMEOUT,
            max_body: 64 << 10,
            ..Default::default()
        })
        .expect("a prober");
        let url = format!("http://{addr}/fuzz").parse().expect("a URL");
        let request = ward_probe::http::HttpRequest::get(url);
        let (outcome, body) = within_timeout("http", prober.fetch_http(&request)).await;
        assert!(body.len() <= 64 << 10, "read {} body bytes", body.len());
        if let Some(e) = &outcome.error {
            one_line("http probe", &e.message);
        }
        server.abort();
    });
}

/// Prometheus' answers to `ward slo report` (lines of the input: the
/// instant query's, `/api/v1/rules`', the range query's), served on
/// loopback with status 200 and read by the report: it returns in time, and
/// an error is one line.
fn prometheus_answer(data: &[u8]) {
    runtime().block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let answers: Vec<Vec<u8>> = data.splitn(3, |&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let server = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let n = conn.read(&mut request).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&request[..n]);
                let which = match head.split(' ').nth(1) {
                    Some(p) if p.starts_with("/api/v1/rules") => 1,
                    Some(p) if p.starts_with("/api/v1/query_range") => 2,
                    _ => 0,
                };
                let body = answers.get(which).cloned().unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(&body).await;
                let _ = conn.shutdown().await;
            }
        });
        let request = ward_slo_report::Request {
            timeout: PROBE_TIMEOUT,
            ..ward_slo_report::Request::new(format!("http://{addr}").parse().expect("a URL"))
        };
        if let Err(e) = within_timeout("slo report", ward_slo_report::report(&request)).await {
            one_line("slo report", e);
        }
        server.abort();
    });
}

/// A DNS answer from a server on loopback (UDP; its ID set to the query's
/// so that the reader goes past the header), read by the lookup prober.
fn dns_response(data: &[u8]) {
    runtime().block_on(async {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr: SocketAddr = socket.local_addr().expect("its address");
        let mut answer = data.to_vec();
        let server = tokio::spawn(async move {
            let mut query = [0u8; 512];
            if let Ok((n, from)) = socket.recv_from(&mut query).await {
                if n >= 2 && answer.len() >= 2 {
                    answer[..2].copy_from_slice(&query[..2]);
                }
                let _ = socket.send_to(&answer, from).await;
            }
        });
        let query =
            ward_probe::dns::DnsQuery::new(&addr.ip().to_string(), addr.port(), "example.test");
        let mut trace = ward_probe::Trace::start();
        let result = within_timeout(
            "dns",
            ward_probe::dns::query(&query, None, PROBE_TIMEOUT, &mut trace),
        )
        .await;
        if let Err(e) = result {
            one_line("dns probe", e.to_probe_error().message);
        }
        server.abort();
    });
}

//! The cluster DNS's answers (types, rcodes, authority, case, truncation) from
//! a store built by hand, and the server over real UDP and TCP sockets with
//! its two faults.

use hickory_proto::op::Query;
use serde_json::json;

use super::*;

const ZONE: &str = "cluster.local";

fn store() -> Store {
    let s = Store::new();
    let add = |plural: &str, ns: &str, v: Value| {
        s.create(resource(plural).unwrap(), ns, v).unwrap();
    };
    for ns in ["default", "lab"] {
        add("namespaces", "", json!({"metadata": {"name": ns}}));
    }
    add(
        "services",
        "default",
        json!({"metadata": {"name": "kubernetes"}, "spec": {"clusterIP": "127.0.0.1", "ports": [{"port": 443}]}}),
    );
    add(
        "services",
        "lab",
        json!({"metadata": {"name": "nurse"}, "spec": {"clusterIP": "None", "selector": {"app": "nurse"}}}),
    );
    add(
        "services",
        "lab",
        json!({"metadata": {"name": "nobody"}, "spec": {"clusterIP": "None", "selector": {"app": "none"}}}),
    );
    add(
        "services",
        "lab",
        json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "example.org"}}),
    );
    // Ready + Running (two, one with a hostname), Pending without IP, not Ready, other label.
    for (name, app, ip, ready, hostname) in [
        ("a", "nurse", Some("10.0.0.3"), true, None),
        ("b", "nurse", Some("10.0.0.2"), true, Some("bee")),
        ("c", "nurse", None, false, None),
        ("d", "nurse", Some("10.0.0.4"), false, None),
        ("e", "other", Some("10.0.0.5"), true, None),
    ] {
        let mut spec = json!({"containers": [{"name": "m"}]});
        if let Some(h) = hostname {
            spec["hostname"] = json!(h);
            spec["subdomain"] = json!("nurse");
        }
        add(
            "pods",
            "lab",
            json!({"metadata": {"name": name, "labels": {"app": app}}, "spec": spec}),
        );
        if let Some(ip) = ip {
            let status = json!({"status": {"phase": "Running", "podIP": ip,
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
            s.patch(resource("pods").unwrap(), "lab", name, &status, true)
                .unwrap();
        }
    }
    s
}

fn query(name: &str, t: RecordType) -> Message {
    let mut m = Message::new();
    m.set_id(7)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m
}

/// (rcode, authoritative, answers as "TYPE rdata", authority types).
fn ask(s: &Store, name: &str, t: RecordType) -> (ResponseCode, bool, Vec<String>, Vec<String>) {
    let r = answer(s, ZONE, &query(name, t));
    assert_eq!(r.id(), 7);
    assert_eq!(r.message_type(), MessageType::Response);
    assert_eq!(r.queries(), query(name, t).queries(), "question echoed");
    let answers = r
        .answers()
        .iter()
        .map(|a| {
            assert_eq!(a.name().to_ascii(), name, "owner is the name asked");
            assert_eq!(a.ttl(), TTL);
            format!("{} {}", a.record_type(), a.data())
        })
        .collect();
    let authority = r
        .name_servers()
        .iter()
        .map(|a| format!("{} {}", a.record_type(), a.name()))
        .collect();
    (r.response_code(), r.authoritative(), answers, authority)
}

const SOA_AUTHORITY: &str = "SOA cluster.local.";

#[test]
fn services_resolve_as_coredns_answers_them() {
    let s = store();
    use RecordType::{A, AAAA, CNAME, TXT};
    let ok = |answers: &[&str]| {
        (
            ResponseCode::NoError,
            true,
            answers.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            Vec::<String>::new(),
        )
    };
    let empty = |rcode| (rcode, true, Vec::new(), vec![SOA_AUTHORITY.to_string()]);
    assert_eq!(
        ask(&s, "kubernetes.default.svc.cluster.local.", A),
        ok(&["A 127.0.0.1"])
    );
    assert_eq!(
        ask(&s, "kubernetes.default.svc.cluster.local.", AAAA),
        empty(ResponseCode::NoError),
        "NODATA with the SOA"
    );
    assert_eq!(
        ask(&s, "nurse.lab.svc.cluster.local.", A),
        ok(&["A 10.0.0.2", "A 10.0.0.3"]),
        "ready endpoints only, in address order"
    );
    assert_eq!(
        ask(&s, "bee.nurse.lab.svc.cluster.local.", A),
        ok(&["A 10.0.0.2"])
    );
    assert_eq!(
        ask(&s, "10-0-0-3.nurse.lab.svc.cluster.local.", A),
        ok(&["A 10.0.0.3"])
    );
    assert_eq!(
        ask(&s, "10-0-0-4.nurse.lab.svc.cluster.local.", A),
        empty(ResponseCode::NXDomain),
        "not ready"
    );
    assert_eq!(
        ask(&s, "nobody.lab.svc.cluster.local.", A),
        empty(ResponseCode::NXDomain),
        "headless without endpoints"
    );
    assert_eq!(
        ask(&s, "ext.lab.svc.cluster.local.", A),
        ok(&["CNAME example.org."])
    );
    assert_eq!(
        ask(&s, "ext.lab.svc.cluster.local.", CNAME),
        ok(&["CNAME example.org."])
    );
    assert_eq!(
        ask(&s, "ext.lab.svc.cluster.local.", TXT),
        empty(ResponseCode::NoError)
    );
}

#[test]
fn pods_namespaces_unknown_names_and_other_zones() {
    let s = store();
    use RecordType::{A, AAAA, SOA as Soa};
    let empty = |rcode| (rcode, true, Vec::new(), vec![SOA_AUTHORITY.to_string()]);
    assert_eq!(
        ask(&s, "10-9-8-7.lab.pod.cluster.local.", A),
        (
            ResponseCode::NoError,
            true,
            vec!["A 10.9.8.7".to_string()],
            vec![]
        )
    );
    assert_eq!(
        ask(&s, "10-9-8-7.lab.pod.cluster.local.", AAAA),
        empty(ResponseCode::NoError)
    );
    assert_eq!(
        ask(&s, "10-9-8-7.nons.pod.cluster.local.", A),
        empty(ResponseCode::NXDomain)
    );
    assert_eq!(
        ask(&s, "not-an-ip.lab.pod.cluster.local.", A),
        empty(ResponseCode::NXDomain)
    );
    for existing in [
        "lab.svc.cluster.local.",
        "svc.cluster.local.",
        "pod.cluster.local.",
        "cluster.local.",
    ] {
        assert_eq!(
            ask(&s, existing, A),
            empty(ResponseCode::NoError),
            "{existing}"
        );
    }
    let (rcode, aa, answers, _) = ask(&s, "cluster.local.", Soa);
    assert_eq!((rcode, aa, answers.len()), (ResponseCode::NoError, true, 1));
    assert!(
        answers[0].starts_with("SOA ns.dns.cluster.local. hostmaster.cluster.local. "),
        "{answers:?}"
    );
    for unknown in [
        "nope.lab.svc.cluster.local.",
        "nope.svc.cluster.local.",
        "kubernetes.nons.svc.cluster.local.",
        "a.b.c.d.nurse.lab.svc.cluster.local.",
        "www.cluster.local.",
    ] {
        assert_eq!(
            ask(&s, unknown, A),
            empty(ResponseCode::NXDomain),
            "{unknown}"
        );
    }
    for outside in ["example.org.", "cluster.local.example.org.", "local.", "."] {
        assert_eq!(
            ask(&s, outside, A),
            (ResponseCode::ServFail, false, vec![], vec![]),
            "{outside}"
        );
    }
    // Names are case-insensitive; the answer keeps the case asked.
    assert_eq!(
        ask(&s, "Kubernetes.DEFAULT.svc.Cluster.Local.", A).2,
        vec!["A 127.0.0.1"]
    );
}

#[test]
fn big_answers_are_truncated_over_udp_and_whole_over_tcp() {
    let s = store();
    for i in 0..100u8 {
        let name = format!("big-{i}");
        s.create(
            resource("pods").unwrap(),
            "lab",
            json!({"metadata": {"name": name, "labels": {"app": "nurse"}}, "spec": {"containers": [{"name": "m"}]}}),
        )
        .unwrap();
        let status = json!({"status": {"phase": "Running", "podIP": format!("10.1.0.{i}"),
            "conditions": [{"type": "Ready", "status": "True"}]}});
        s.patch(resource("pods").unwrap(), "lab", &name, &status, true)
            .unwrap();
    }
    let q = query("nurse.lab.svc.cluster.local.", RecordType::A);
    let decode = |b: Vec<u8>| Message::from_vec(&b).unwrap();
    let udp = decode(encode(answer(&s, ZONE, &q), Some(udp_limit(&q))).unwrap());
    assert!(udp.truncated());
    assert!(udp.to_vec().unwrap().len() <= 512);
    assert!(udp.answers().len() > 10 && udp.answers().len() < 102);
    let tcp = decode(encode(answer(&s, ZONE, &q), None).unwrap());
    assert!(!tcp.truncated());
    assert_eq!(tcp.answers().len(), 102);
    let mut big = q.clone();
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    big.set_edns(edns);
    let edns_udp = decode(encode(answer(&s, ZONE, &big), Some(udp_limit(&big))).unwrap());
    assert!(!edns_udp.truncated());
    assert_eq!(edns_udp.answers().len(), 102);
    assert_eq!(edns_udp.max_payload(), 4096, "EDNS answered with EDNS");
}

#[test]
fn other_opcodes_and_question_counts() {
    let s = store();
    let mut notify = query("cluster.local.", RecordType::SOA);
    notify.set_op_code(OpCode::Notify);
    assert_eq!(
        answer(&s, ZONE, &notify).response_code(),
        ResponseCode::NotImp
    );
    let mut two = query("cluster.local.", RecordType::SOA);
    two.add_query(Query::query(
        Name::from_str("x.cluster.local.").unwrap(),
        RecordType::A,
    ));
    assert_eq!(
        answer(&s, ZONE, &two).response_code(),
        ResponseCode::FormErr
    );
}

async fn udp(addr: SocketAddr, q: &Message, wait: Duration) -> Option<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&q.to_vec().unwrap(), addr).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(wait, socket.recv(&mut buf))
        .await
        .ok()?
        .unwrap();
    Some(Message::from_vec(&buf[..n]).unwrap())
}

async fn tcp(addr: SocketAddr, q: &Message) -> Message {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let wire = q.to_vec().unwrap();
    let mut framed = u16::try_from(wire.len()).unwrap().to_be_bytes().to_vec();
    framed.extend(wire);
    stream.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).await.unwrap();
    Message::from_vec(&reply).unwrap()
}

#[tokio::test]
async fn served_over_udp_and_tcp_with_down_and_delay_faults() {
    let sim = crate::KubeSim::start(Default::default()).await.unwrap();
    let ns = resource("namespaces").unwrap();
    sim.store()
        .create(ns, "", json!({"metadata": {"name": "default"}}))
        .unwrap();
    sim.store()
        .create(
            resource("services").unwrap(),
            "default",
            json!({"metadata": {"name": "kubernetes"}, "spec": {"clusterIP": "127.0.0.1"}}),
        )
        .unwrap();
    let dns = sim.start_dns(DnsConfig::default()).await.unwrap();
    assert_eq!(dns.addr().ip(), IpAddr::from([127, 0, 0, 1]));
    assert_ne!(dns.addr().port(), 0);
    let q = query("kubernetes.default.svc.cluster.local.", RecordType::A);
    let wait = Duration::from_secs(5);
    let over_udp = udp(dns.addr(), &q, wait).await.expect("a UDP answer");
    let over_tcp = tcp(dns.addr(), &q).await;
    for m in [&over_udp, &over_tcp] {
        assert_eq!(m.response_code(), ResponseCode::NoError);
        let answers: Vec<String> = m.answers().iter().map(|a| a.data().to_string()).collect();
        assert_eq!(answers, ["127.0.0.1"]);
    }

    dns.set_down(true);
    assert!(
        udp(dns.addr(), &q, Duration::from_millis(300))
            .await
            .is_none(),
        "down: dropped"
    );
    let held = tokio::time::timeout(Duration::from_millis(300), tcp(dns.addr(), &q)).await;
    assert!(held.is_err(), "down: TCP accepted but never answered");
    dns.set_down(false);
    assert!(udp(dns.addr(), &q, wait).await.is_some(), "up again");

    dns.set_servfail(true);
    for m in [
        udp(dns.addr(), &q, wait).await.unwrap(),
        tcp(dns.addr(), &q).await,
    ] {
        assert_eq!(m.response_code(), ResponseCode::ServFail);
        assert!(m.answers().is_empty());
    }
    dns.set_servfail(false);
    assert_eq!(
        udp(dns.addr(), &q, wait).await.unwrap().response_code(),
        ResponseCode::NoError,
        "answering again"
    );

    dns.set_delay(Duration::from_millis(200));
    let started = tokio::time::Instant::now();
    assert!(udp(dns.addr(), &q, wait).await.is_some());
    assert!(started.elapsed() >= Duration::from_millis(200));
    dns.set_delay(Duration::ZERO);
    drop(dns);
}

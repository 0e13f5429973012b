//! Fidelity of kube-sim against the real kube-apiserver from testkit: the same
//! kube-rs calls run against both, and the results are compared: object
//! shapes, list and selector results, watch event order, kube-rs' watcher
//! protocol, and the error codes, reasons and messages for not found,
//! already exists, conflict, bad selectors and unknown paths. kube-sim has no
//! authorization, so `forbidden` is not compared. Its cluster DNS is compared
//! with a real CoreDNS reading the real API server, for the same objects.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::{json, Value};
use ward_kube_sim::KubeSim;
use ward_testkit::kube::{KubeCluster, MANUAL_SCHEDULER};

/// What one backend answered, reduced to what must agree.
#[derive(Debug, Default)]
struct Answers {
    facts: BTreeMap<&'static str, String>,
}

impl Answers {
    fn put(&mut self, key: &'static str, value: impl ToString) {
        self.facts.insert(key, value.to_string());
    }
}

fn api_error(r: Result<impl std::fmt::Debug, kube::Error>) -> String {
    match r {
        Err(kube::Error::Api(e)) => format!("{} {} {}", e.code, e.reason, e.message),
        other => format!("not an API error: {other:?}"),
    }
}

fn pod(name: &str, labels: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "schedulerName": MANUAL_SCHEDULER,
            "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": "ward.invalid/none:1"}]
        }
    }))
    .unwrap()
}

fn shape(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

async fn exercise(client: Client, ns: &str, node_prefix: &str) -> Answers {
    let mut a = Answers::default();
    let version = client.apiserver_version().await.unwrap();
    a.put("version.major", version.major);

    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let nodes: Api<Node> = Api::all(client.clone());

    // Create: the returned object's shape.
    let created = pods
        .create(
            &PostParams::default(),
            &pod("p1", json!({"app": "nurse", "tier": "a"})),
        )
        .await
        .unwrap();
    let v = serde_json::to_value(&created).unwrap();
    a.put("create.top", shape(&v).join(","));
    a.put("create.kind", v["kind"].clone());
    a.put("create.apiVersion", v["apiVersion"].clone());
    a.put("create.status.phase", v["status"]["phase"].clone());
    a.put(
        "create.meta.has_rv",
        v["metadata"]["resourceVersion"].is_string(),
    );
    a.put("create.meta.has_uid", v["metadata"]["uid"].is_string());
    a.put("create.meta.namespace", v["metadata"]["namespace"].clone());
    a.put(
        "create.spec.restartPolicy",
        v["spec"]["restartPolicy"].clone(),
    );
    pods.create(
        &PostParams::default(),
        &pod("p2", json!({"app": "nurse", "tier": "b"})),
    )
    .await
    .unwrap();
    pods.create(&PostParams::default(), &pod("p3", json!({"app": "other"})))
        .await
        .unwrap();

    // Errors.
    a.put("get.missing", api_error(pods.get("nope").await));
    a.put(
        "create.duplicate",
        api_error(
            pods.create(&PostParams::default(), &pod("p1", json!({})))
                .await,
        ),
    );
    let mut stale = created.clone();
    pods.patch(
        "p1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
    )
    .await
    .unwrap();
    stale.metadata.labels = Some(BTreeMap::from([("y".to_string(), "2".to_string())]));
    a.put(
        "replace.stale",
        api_error(pods.replace("p1", &PostParams::default(), &stale).await),
    );
    let bad_field = pods
        .list(&ListParams::default().fields("spec.nope=x"))
        .await;
    a.put(
        "list.bad_field",
        match bad_field {
            Err(kube::Error::Api(e)) => format!("{} {}", e.code, e.reason),
            other => format!("{other:?}"),
        },
    );
    let other_ns: Api<Pod> = Api::namespaced(client.clone(), &format!("{ns}-missing"));
    a.put(
        "create.in_missing_namespace",
        api_error(
            other_ns
                .create(&PostParams::default(), &pod("p", json!({})))
                .await,
        ),
    );

    // Lists and selectors.
    let names = |l: kube::core::ObjectList<Pod>| {
        l.items
            .iter()
            .map(|p| p.metadata.name.clone().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",")
    };
    a.put(
        "list.all",
        names(pods.list(&ListParams::default()).await.unwrap()),
    );
    a.put(
        "list.app=nurse",
        names(
            pods.list(&ListParams::default().labels("app=nurse"))
                .await
                .unwrap(),
        ),
    );
    a.put(
        "list.tier in (b,c)",
        names(
            pods.list(&ListParams::default().labels("tier in (b,c)"))
                .await
                .unwrap(),
        ),
    );
    a.put(
        "list.!tier",
        names(
            pods.list(&ListParams::default().labels("!tier"))
                .await
                .unwrap(),
        ),
    );
    a.put(
        "list.name field",
        names(
            pods.list(&ListParams::default().fields("metadata.name=p2"))
                .await
                .unwrap(),
        ),
    );
    a.put(
        "list.phase field",
        names(
            pods.list(&ListParams::default().fields("status.phase=Pending"))
                .await
                .unwrap(),
        ),
    );
    let page = pods.list(&ListParams::default().limit(2)).await.unwrap();
    a.put("list.page1", page.items.len());
    let token = page.metadata.continue_.clone().unwrap_or_default();
    a.put("list.page1.continue", !token.is_empty());
    let page2 = pods
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    a.put("list.page2", names(page2));

    // Status patch: only the status changes.
    let patched = pods
        .patch_status(
            "p2",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running", "podIP": "127.0.0.9"}, "metadata": {"labels": {"ignored": "x"}}})),
        )
        .await
        .unwrap();
    a.put(
        "status.phase",
        patched
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default(),
    );
    a.put(
        "status.podIP",
        patched
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .unwrap_or_default(),
    );
    a.put(
        "list.running",
        names(
            pods.list(&ListParams::default().fields("status.phase=Running"))
                .await
                .unwrap(),
        ),
    );

    // Watch event order from the list's resourceVersion.
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut stream = pods
        .watch(&WatchParams::default().labels("app=nurse").timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    pods.create(&PostParams::default(), &pod("w1", json!({"app": "nurse"})))
        .await
        .unwrap();
    pods.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"k": "v"}}})),
    )
    .await
    .unwrap();
    pods.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "gone"}}})),
    )
    .await
    .unwrap();
    pods.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "nurse"}}})),
    )
    .await
    .unwrap();
    pods.delete(
        "w1",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut order = Vec::new();
    while order.len() < 6 {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
        match next {
            Ok(Some(Ok(WatchEvent::Added(p)))) => {
                order.push(format!("ADDED {}", p.metadata.name.unwrap_or_default()))
            }
            Ok(Some(Ok(WatchEvent::Modified(p)))) => {
                order.push(format!("MODIFIED {}", p.metadata.name.unwrap_or_default()))
            }
            Ok(Some(Ok(WatchEvent::Deleted(p)))) => {
                order.push(format!("DELETED {}", p.metadata.name.unwrap_or_default()))
            }
            Ok(Some(Ok(WatchEvent::Bookmark(_)))) => {}
            other => {
                order.push(format!("{other:?}"));
                break;
            }
        }
    }
    a.put("watch.order", order.join(" | "));

    // Nodes (cluster-scoped), cordon by merge patch, field selector by name.
    let node_name = format!("{node_prefix}-n1");
    let node: Node = serde_json::from_value(
        json!({"metadata": {"name": node_name, "labels": {"fid": node_prefix}}}),
    )
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let cordoned = nodes
        .patch(
            &node_name,
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    a.put(
        "node.unschedulable",
        cordoned.spec.and_then(|s| s.unschedulable).unwrap_or(false),
    );
    a.put(
        "node.list",
        nodes
            .list(&ListParams::default().labels(&format!("fid={node_prefix}")))
            .await
            .unwrap()
            .items
            .len(),
    );
    a.put(
        "node.missing",
        api_error(nodes.get(&format!("{node_prefix}-none")).await).replace(node_prefix, "P"),
    );

    // kube-rs' watcher: init, then a live change.
    let mut w = watcher(pods.clone(), watcher::Config::default().labels("app=nurse")).boxed();
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), w.try_next()).await {
            Ok(Ok(Some(watcher::Event::Init))) => seen.push("Init".to_string()),
            Ok(Ok(Some(watcher::Event::InitApply(p)))) => {
                seen.push(format!("InitApply {}", p.metadata.name.unwrap_or_default()))
            }
            Ok(Ok(Some(watcher::Event::InitDone))) => {
                seen.push("InitDone".into());
                pods.create(&PostParams::default(), &pod("w2", json!({"app": "nurse"})))
                    .await
                    .unwrap();
            }
            Ok(Ok(Some(watcher::Event::Apply(p)))) => {
                seen.push(format!("Apply {}", p.metadata.name.unwrap_or_default()));
                break;
            }
            other => {
                seen.push(format!("{other:?}"));
                break;
            }
        }
    }
    a.put("watcher", seen.join(" | "));

    // EndpointSlices (discovery.k8s.io/v1), as the nurse reads the kubernetes Service's.
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": "api", "labels": {"kubernetes.io/service-name": "api"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
    }))
    .unwrap();
    let v =
        serde_json::to_value(slices.create(&PostParams::default(), &slice).await.unwrap()).unwrap();
    a.put("slice.create.apiVersion", v["apiVersion"].clone());
    a.put("slice.create.kind", v["kind"].clone());
    a.put("slice.create.endpoints", v["endpoints"].clone());
    let listed = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=api"))
        .await
        .unwrap();
    a.put(
        "slice.list",
        listed
            .items
            .iter()
            .map(|s| s.metadata.name.clone().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(","),
    );
    let mut w = watcher(
        slices,
        watcher::Config::default().labels("kubernetes.io/service-name=api"),
    )
    .boxed();
    let mut seen = Vec::new();
    while let Ok(Ok(Some(event))) =
        tokio::time::timeout(Duration::from_secs(10), w.try_next()).await
    {
        match event {
            watcher::Event::InitApply(s) => seen.push(s.metadata.name.unwrap_or_default()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    a.put("slice.watcher", seen.join(","));
    nodes
        .delete(&node_name, &DeleteParams::default())
        .await
        .unwrap();
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_sees_the_same_api_on_kube_sim_and_kube_apiserver() {
    let sim = KubeSim::start(Default::default()).await.unwrap();
    let sim_client = sim.client().unwrap();
    // Namespaces must exist before pods; the real one also needs its default ServiceAccount.
    let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(sim_client.clone());
    ns_api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "fidelity"}})).unwrap(),
        )
        .await
        .unwrap();
    let cluster = KubeCluster::shared();
    let real_ns = cluster.create_namespace("fidelity").await.unwrap();
    let real = exercise(cluster.client().unwrap(), &real_ns, "fid-real").await;
    let simulated = exercise(sim_client, "fidelity", "fid-sim").await;
    let mut differences = Vec::new();
    for (key, want) in &real.facts {
        let got = simulated.facts.get(key).cloned().unwrap_or_default();
        if &got != want {
            differences.push(format!(
                "{key}:\n  kube-apiserver: {want}\n  kube-sim:       {got}"
            ));
        }
    }
    for (key, v) in &real.facts {
        eprintln!("{key}: {v}");
    }
    assert!(
        differences.is_empty(),
        "kube-sim differs:\n{}",
        differences.join("\n")
    );
}

#[tokio::test]
async fn stopping_the_api_server_refuses_connections_and_restarting_serves_again() {
    let sim = KubeSim::start(Default::default()).await.unwrap();
    let nodes: Api<Node> = Api::all(sim.client().unwrap());
    assert!(nodes.list(&ListParams::default()).await.is_ok());
    sim.set_available(false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = tokio::net::TcpStream::connect(sim.addr())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    sim.set_available(true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh: Api<Node> = Api::all(sim.client().unwrap());
    assert!(fresh.list(&ListParams::default()).await.is_ok());
}

#[tokio::test]
async fn a_delayed_api_server_answers_late_and_every_request_is_counted() {
    let sim = KubeSim::start(Default::default()).await.unwrap();
    let nodes: Api<Node> = Api::all(sim.client().unwrap());
    let before = sim.requests();
    nodes.list(&ListParams::default()).await.unwrap();
    assert_eq!(sim.requests(), before + 1);
    sim.set_delay(Duration::from_millis(300));
    let started = tokio::time::Instant::now();
    nodes.list(&ListParams::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(sim.requests(), before + 2);
    sim.set_delay(Duration::ZERO);
}

#[tokio::test]
async fn a_watch_too_far_behind_gets_410_expired() {
    let sim = KubeSim::start(Default::default()).await.unwrap();
    let r = ward_kube_sim::store::resource("nodes").unwrap();
    let store = sim.store();
    store
        .create(r, "", json!({"metadata": {"name": "n"}}))
        .unwrap();
    for i in 0..(ward_kube_sim::store::HISTORY + 5) {
        store
            .patch(
                r,
                "",
                "n",
                &json!({"metadata": {"labels": {"i": i.to_string()}}}),
                false,
            )
            .unwrap();
    }
    let nodes: Api<Node> = Api::all(sim.client().unwrap());
    let mut stream = nodes
        .watch(&WatchParams::default(), "2")
        .await
        .unwrap()
        .boxed();
    match stream.next().await {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

/// One DNS question over UDP (blocking, 5 s): rcode and authoritative flag,
/// answers as "TYPE rdata" (sorted; SOA without its serial) and the authority
/// section's record types.
fn ask_dns(
    server: std::net::SocketAddr,
    name: &str,
    t: hickory_proto::rr::RecordType,
) -> (String, Vec<String>, Vec<String>) {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RData};
    let mut m = Message::new();
    m.set_id(4242)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket.send_to(&m.to_vec().unwrap(), server).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("{name} {t} at {server}: {e}"));
    let reply = Message::from_vec(&buf[..n]).unwrap();
    let mut answers: Vec<String> = reply
        .answers()
        .iter()
        .map(|r| match r.data() {
            RData::SOA(soa) => format!("SOA {} {}", soa.mname(), soa.rname()),
            data => format!("{} {data}", r.record_type()),
        })
        .collect();
    answers.sort();
    let authority = reply
        .name_servers()
        .iter()
        .map(|r| r.record_type().to_string())
        .collect();
    let rcode = format!(
        "{}{}",
        reply.response_code(),
        if reply.authoritative() { " aa" } else { "" }
    );
    (rcode, answers, authority)
}

/// kube-sim's cluster DNS and a real CoreDNS (`kubernetes` plugin, `pods
/// insecure`, no `forward`) reading the real API server give the same rcodes,
/// record types, addresses and authority sections for the same objects: the
/// real cluster's Services and Pods are copied into kube-sim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_dns_answers_as_coredns_for_the_same_objects() {
    use hickory_proto::rr::RecordType::{A, AAAA, SOA};
    use k8s_openapi::api::core::v1::Service;
    use ward_kube_sim::store::resource;
    let cluster = KubeCluster::shared();
    let coredns = tokio::task::spawn_blocking(|| {
        ward_testkit::coredns::CoreDns::start(KubeCluster::shared()).unwrap()
    })
    .await
    .unwrap();
    let ns = cluster.create_namespace("dnsfid").await.unwrap();
    let node = "dnsfid-node";
    cluster
        .add_nodes(&[ward_testkit::kube::NodeSpec::ready(node)])
        .await
        .unwrap();
    let client = cluster.client().unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    for (name, spec) in [
        (
            "nurse",
            json!({"clusterIP": "None", "selector": {"app": "dnsfid"}, "ports": [{"port": 8080}]}),
        ),
        (
            "web",
            json!({"selector": {"app": "dnsfid"}, "ports": [{"port": 80, "targetPort": 8080}]}),
        ),
        (
            "nobody",
            json!({"clusterIP": "None", "selector": {"app": "none"}, "ports": [{"port": 8080}]}),
        ),
    ] {
        let svc: Service =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
        services.create(&PostParams::default(), &svc).await.unwrap();
    }
    let host: std::net::IpAddr = [127, 0, 0, 1].into();
    for (pod, ip) in [("p1", [10, 244, 7, 2]), ("p2", [10, 244, 7, 3])] {
        cluster
            .create_pod_on_node(&ns, pod, node, &[("app", "dnsfid")], ip.into(), host)
            .await
            .unwrap();
    }
    // CoreDNS answers the headless name once the EndpointSlice controller listed both pods.
    let headless = format!("nurse.{ns}.svc.cluster.local.");
    let real = coredns.addr();
    let both = tokio::task::spawn_blocking({
        let headless = headless.clone();
        move || {
            ward_testkit::wait::until(Duration::from_secs(30), || {
                (ask_dns(real, &headless, A).1.len() == 2).then_some(())
            })
        }
    })
    .await
    .unwrap();
    assert!(
        both.is_some(),
        "CoreDNS never listed both endpoints of {headless}"
    );

    // The same objects in kube-sim.
    let sim = KubeSim::start(Default::default()).await.unwrap();
    let store = sim.store();
    let strip = |v: Value| {
        let mut v = v;
        let meta = v["metadata"].take();
        v["metadata"] = json!({"name": meta["name"], "labels": meta["labels"]});
        v
    };
    for name in ["default", ns.as_str()] {
        store
            .create(
                resource("namespaces").unwrap(),
                "",
                json!({"metadata": {"name": name}}),
            )
            .unwrap();
    }
    let kubernetes: Api<Service> = Api::namespaced(client.clone(), "default");
    let mut copied = vec![(
        "default".to_string(),
        kubernetes.get("kubernetes").await.unwrap(),
    )];
    for s in services.list(&ListParams::default()).await.unwrap() {
        copied.push((ns.clone(), s));
    }
    for (in_ns, s) in copied {
        let mut v = strip(serde_json::to_value(&s).unwrap());
        v.as_object_mut().unwrap().remove("status");
        store
            .create(resource("services").unwrap(), &in_ns, v)
            .unwrap();
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    for p in pods.list(&ListParams::default()).await.unwrap() {
        let mut v = strip(serde_json::to_value(&p).unwrap());
        let status = v.as_object_mut().unwrap().remove("status").unwrap();
        let name = v["metadata"]["name"].as_str().unwrap().to_string();
        let pods = resource("pods").unwrap();
        store.create(pods, &ns, v).unwrap();
        store
            .patch(pods, &ns, &name, &json!({ "status": status }), true)
            .unwrap();
    }
    let dns = sim.start_dns(Default::default()).await.unwrap();

    let questions = [
        ("kubernetes.default.svc.cluster.local.".to_string(), A),
        ("kubernetes.default.svc.cluster.local.".to_string(), AAAA),
        (headless.clone(), A),
        (format!("web.{ns}.svc.cluster.local."), A),
        (format!("nobody.{ns}.svc.cluster.local."), A),
        (format!("nope.{ns}.svc.cluster.local."), A),
        (format!("10-244-7-2.nurse.{ns}.svc.cluster.local."), A),
        (format!("10-244-7-9.nurse.{ns}.svc.cluster.local."), A),
        (format!("10-244-7-2.web.{ns}.svc.cluster.local."), A),
        (format!("10-244-7-2.{ns}.pod.cluster.local."), A),
        (format!("10-244-7-2.{ns}.pod.cluster.local."), AAAA),
        (format!("{ns}.svc.cluster.local."), A),
        ("no-such-namespace.svc.cluster.local.".to_string(), A),
        ("cluster.local.".to_string(), SOA),
        ("example.org.".to_string(), A),
    ];
    let sim_addr = dns.addr();
    let differences = tokio::task::spawn_blocking(move || {
        let mut differences = Vec::new();
        for (name, t) in &questions {
            let want = ask_dns(real, name, *t);
            let got = ask_dns(sim_addr, name, *t);
            eprintln!("{name} {t}: {want:?}");
            if got != want {
                differences.push(format!(
                    "{name} {t}:\n  CoreDNS:  {want:?}\n  kube-sim: {got:?}"
                ));
            }
        }
        differences
    })
    .await
    .unwrap();
    assert!(
        differences.is_empty(),
        "kube-sim's DNS differs:\n{}",
        differences.join("\n")
    );
}

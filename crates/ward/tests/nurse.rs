//! `ward nurse` as a drop-in for kubenurse, against the real control plane
//! (kube-apiserver, controller-manager, scheduler, kwok from testkit): five
//! nurse processes on 127.0.0.2..6, each registered as a Pod on its own node,
//! a real nginx in front as the ingress, and a real Prometheus scraping them.

mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleRef, Subject};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::Value;
use ward_testkit::kube::{
    policy_rule, ApiServers, KubeCluster, NodeSpec, ServiceAccountKubeconfig,
};
use ward_testkit::net::{free_port, http_get};
use ward_testkit::nginx::Nginx;
use ward_testkit::process::Process;
use ward_testkit::prometheus::Prometheus;
use ward_testkit::wait;

const LABEL: (&str, &str) = ("app.kubernetes.io/name", "ward-nurse");
const DEADLINE: Duration = Duration::from_secs(30);

/// A ServiceAccount `nurse` that may read pods in its namespace and nothing else.
async fn pods_only_account(
    cluster: &KubeCluster,
    ns: &str,
) -> ward_testkit::kube::ServiceAccountKubeconfig {
    cluster
        .create_service_account(
            ns,
            "nurse",
            vec![policy_rule(&[""], &["pods"], &["get", "list", "watch"])],
        )
        .await
        .unwrap();
    cluster
        .service_account_kubeconfig(ns, "nurse")
        .await
        .unwrap()
}

/// The least privilege the nurse asks for: pods in its namespace, nodes cluster-wide.
async fn nurse_account(
    cluster: &KubeCluster,
    ns: &str,
) -> ward_testkit::kube::ServiceAccountKubeconfig {
    let account = pods_only_account(cluster, ns).await;
    let client = cluster.client().unwrap();
    let name = format!("{ns}-nurse-nodes");
    let role = ClusterRole {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        rules: Some(vec![policy_rule(
            &[""],
            &["nodes"],
            &["get", "list", "watch"],
        )]),
        ..Default::default()
    };
    let _ = Api::<ClusterRole>::all(client.clone())
        .create(&PostParams::default(), &role)
        .await;
    let binding = ClusterRoleBinding {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name,
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "nurse".into(),
            namespace: Some(ns.into()),
            ..Default::default()
        }]),
    };
    let _ = Api::<ClusterRoleBinding>::all(client)
        .create(&PostParams::default(), &binding)
        .await;
    account
}

struct Nurse {
    node: String,
    addr: SocketAddr,
    process: Process,
}

fn alive(addr: SocketAddr) -> Option<serde_json::Map<String, Value>> {
    let r = http_get(addr, "/alive")?;
    if r.status != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&r.body).ok()?;
    v.get("last_check_result")?.as_object().cloned()
}

fn path_checks(result: &serde_json::Map<String, Value>) -> BTreeSet<String> {
    result
        .keys()
        .filter_map(|k| k.strip_prefix("path_").map(String::from))
        .collect()
}

fn metrics(addr: SocketAddr) -> String {
    http_get(addr, "/metrics")
        .map(|r| r.body)
        .unwrap_or_default()
}

fn error_lines(addr: SocketAddr) -> String {
    metrics(addr)
        .lines()
        .filter(|l| l.starts_with("kubenurse_errors_total"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn counter(addr: SocketAddr, series: &str) -> u64 {
    metrics(addr)
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
fn start_nurse(
    dir: &Path,
    cluster: &KubeCluster,
    kubeconfig: &Path,
    token_file: &Path,
    ns: &str,
    pod: &str,
    node: &str,
    addr: SocketAddr,
    ingress: &str,
    limit: &str,
    shutdown: &str,
    overrides: &[(&str, &str)],
) -> Process {
    let api_port = cluster.server_url().rsplit(':').next().unwrap().to_string();
    let listen = addr.to_string();
    let port = addr.port().to_string();
    let service = format!("http://{addr}");
    let mut env: Vec<(&str, &str)> = vec![
        ("KUBECONFIG", kubeconfig.to_str().unwrap()),
        ("KUBENURSE_NAMESPACE", ns),
        (
            "KUBENURSE_NEIGHBOUR_FILTER",
            "app.kubernetes.io/name=ward-nurse",
        ),
        ("KUBENURSE_NEIGHBOUR_LIMIT", limit),
        ("KUBENURSE_CHECK_INTERVAL", "500ms"),
        ("KUBENURSE_SHUTDOWN_DURATION", shutdown),
        ("KUBENURSE_INGRESS_URL", ingress),
        ("KUBENURSE_SERVICE_URL", &service),
        ("KUBENURSE_EXTRA_CA", cluster.ca_path().to_str().unwrap()),
        ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
        ("KUBERNETES_SERVICE_PORT", &api_port),
        ("KUBERNETES_SERVICE_DNS", "localhost"),
        ("POD_NAME", pod),
        ("NODE_NAME", node),
        ("WARD_NURSE_LISTEN", &listen),
        ("WARD_NURSE_NEIGHBOUR_PORT", &port),
        ("WARD_NURSE_TOKEN_FILE", token_file.to_str().unwrap()),
        ("WARD_NURSE_JITTER", "0"),
        ("WARD_NURSE_CHECK_TIMEOUT", "2s"),
        ("WARD_LOG", "info"),
    ];
    // Later entries win: the test's own settings.
    env.extend_from_slice(overrides);
    Process::spawn_with(
        pod,
        support::ward_bin(),
        ["nurse"],
        &dir.join(format!("{pod}.log")),
        &env,
    )
    .unwrap()
}

#[test]
fn nurses_check_exactly_their_ring_neighbours_and_react_to_cordon_and_delete() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let ns = "nurse-mesh";
    let nodes: Vec<String> = (1..=5).map(|i| format!("mesh-{i}")).collect();
    let port = free_port();
    let account = runtime.block_on(async {
        cluster.create_namespace(ns).await.unwrap();
        let specs: Vec<NodeSpec> = nodes.iter().map(NodeSpec::ready).collect();
        cluster.add_nodes(&specs).await.unwrap();
        for (i, node) in nodes.iter().enumerate() {
            let ip: IpAddr = format!("127.0.0.{}", i + 2).parse().unwrap();
            cluster
                .create_pod_on_node(ns, &format!("nurse-{}", i + 1), node, &[LABEL], ip, ip)
                .await
                .unwrap();
        }
        nurse_account(cluster, ns).await
    });
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &account.token).unwrap();
    let upstreams: String = (2..=6)
        .map(|i| format!("server 127.0.0.{i}:{port};"))
        .collect();
    let nginx = Nginx::builder()
        .http_config(format!("upstream nurses {{ {upstreams} }}"))
        .location("/", "proxy_pass http://nurses;")
        .start()
        .unwrap();
    let ingress = format!("http://{}", nginx.http_addr());
    let mut nurses: Vec<Nurse> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let addr: SocketAddr = format!("127.0.0.{}:{port}", i + 2).parse().unwrap();
            let process = start_nurse(
                dir.path(),
                cluster,
                &account.path,
                &token_file,
                ns,
                &format!("nurse-{}", i + 1),
                node,
                addr,
                &ingress,
                "2",
                "1s",
                &[],
            );
            Nurse {
                node: node.clone(),
                addr,
                process,
            }
        })
        .collect();

    // Each nurse checks exactly its two ring neighbours, and everything is ok.
    for n in &nurses {
        let want: BTreeSet<String> = ward_nurse::ring::checks(&n.node, &nodes, 2)
            .into_iter()
            .map(String::from)
            .collect();
        let seen = wait::until(DEADLINE, || {
            let r = alive(n.addr)?;
            let all_ok = [
                "api_server_direct",
                "api_server_dns",
                "me_ingress",
                "me_service",
            ]
            .iter()
            .all(|k| r.get(*k).and_then(Value::as_str) == Some("ok"))
                && path_checks(&r)
                    .iter()
                    .all(|p| r[&format!("path_{p}")] == "ok");
            (all_ok && path_checks(&r) == want).then_some(r)
        });
        assert!(
            seen.is_some(),
            "{} never showed ok checks of {want:?}: {:?}\n{}",
            n.node,
            alive(n.addr),
            n.process.log_tail(20)
        );
        assert_eq!(seen.unwrap()["neighbourhood_state"], "ok");
    }

    // A real Prometheus scrapes the expected series, and no errors.
    let mut builder = Prometheus::builder().interval(Duration::from_millis(500));
    for n in &nurses {
        builder = builder.scrape(n.node.clone(), n.addr);
    }
    let prometheus = builder.start().unwrap();
    let series = prometheus
        .wait_for_series(
            "count(kubenurse_httpclient_requests_total{type=~\"path_.*\",code=\"200\"}) == 10",
            DEADLINE,
        )
        .unwrap();
    assert_eq!(series[0]["value"][1], "10");
    let traced = prometheus
        .wait_for_series(
            "kubenurse_httpclient_trace_request_duration_seconds_count{job=\"mesh-1\",type=\"api_server_dns\",event=\"tls_handshake_done\"}",
            DEADLINE,
        )
        .unwrap();
    assert_eq!(traced.len(), 1);
    // Nurses started one after another, so early checks of a neighbour that was
    // not listening yet failed; from now on, rounds must add no error at all.
    let errors_before: Vec<String> = nurses.iter().map(|n| error_lines(n.addr)).collect();
    for n in &nurses {
        let start = counter(
            n.addr,
            "kubenurse_httpclient_requests_total{type=\"me_service\",code=\"200\"}",
        );
        let advanced = wait::until(DEADLINE, || {
            (counter(
                n.addr,
                "kubenurse_httpclient_requests_total{type=\"me_service\",code=\"200\"}",
            ) >= start + 4)
                .then_some(())
        });
        assert!(advanced.is_some(), "{}: rounds stopped", n.node);
    }
    for (n, before) in nurses.iter().zip(&errors_before) {
        assert_eq!(
            &error_lines(n.addr),
            before,
            "{} counted new errors",
            n.node
        );
        let incoming = wait::until(DEADLINE, || {
            metrics(n.addr)
                .contains("kubenurse_neighbourhood_incoming_checks 2\n")
                .then_some(())
        });
        assert!(incoming.is_some(), "{}: incoming checks never 2", n.node);
    }

    // Cordoning mesh-3: its nurse turns unready, the others stop checking it.
    let cordoned = "mesh-3";
    runtime.block_on(async {
        let api: Api<Node> = Api::all(cluster.client().unwrap());
        api.patch(
            cordoned,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    });
    let third = &nurses[2];
    assert!(
        wait::until(DEADLINE, || (http_get(third.addr, "/ready")?.status == 503)
            .then_some(()))
        .is_some(),
        "/ready of the cordoned node's nurse never turned 503"
    );
    let remaining: Vec<String> = nodes.iter().filter(|n| *n != cordoned).cloned().collect();
    for n in nurses.iter().filter(|n| n.node != cordoned) {
        let want: BTreeSet<String> = ward_nurse::ring::checks(&n.node, &remaining, 2)
            .into_iter()
            .map(String::from)
            .collect();
        let ok = wait::until(DEADLINE, || {
            (path_checks(&alive(n.addr)?) == want).then_some(())
        });
        assert!(
            ok.is_some(),
            "{} does not check {want:?} after the cordon: {:?}",
            n.node,
            alive(n.addr)
        );
    }

    // Deleting a pod expires its path series in the nurses that checked it.
    let gone = "mesh-2";
    let checkers: Vec<&Nurse> = nurses
        .iter()
        .filter(|n| {
            n.node != cordoned && ward_nurse::ring::checks(&n.node, &remaining, 2).contains(&gone)
        })
        .collect();
    assert!(!checkers.is_empty());
    for n in &checkers {
        assert!(metrics(n.addr).contains(&format!("type=\"path_{gone}\"")));
    }
    runtime.block_on(async {
        let pods: Api<Pod> = Api::namespaced(cluster.client().unwrap(), ns);
        pods.delete("nurse-2", &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
    });
    for n in &checkers {
        let expired = wait::until(DEADLINE, || {
            (!metrics(n.addr).contains(&format!("type=\"path_{gone}\""))).then_some(())
        });
        assert!(
            expired.is_some(),
            "{}: path_{gone} series never expired",
            n.node
        );
    }
    for n in &mut nurses {
        assert!(
            n.process.is_running(),
            "{} exited:\n{}",
            n.node,
            n.process.log_tail(20)
        );
    }
    drop(prometheus);
}

/// kubenurse ignores the parse error of an invalid `KUBENURSE_NEIGHBOUR_FILTER`
/// and checks every pod in the namespace, whatever it runs; ward passes the
/// selector to the API server, checks nobody, and says why in `/alive` and
/// the log every round, while its other checks go on.
#[test]
fn an_invalid_neighbour_filter_checks_nobody_and_reports_the_api_servers_answer() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let ns = "nurse-bad-filter";
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.31:{port}").parse().unwrap();
    let account = runtime.block_on(async {
        cluster.create_namespace(ns).await.unwrap();
        cluster
            .add_nodes(&[NodeSpec::ready("bad-filter-1")])
            .await
            .unwrap();
        let ip: IpAddr = addr.ip();
        cluster
            .create_pod_on_node(ns, "nurse-bad", "bad-filter-1", &[LABEL], ip, ip)
            .await
            .unwrap();
        nurse_account(cluster, ns).await
    });
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &account.token).unwrap();
    let ingress = format!("http://{addr}");
    let nurse = start_nurse(
        dir.path(),
        cluster,
        &account.path,
        &token_file,
        ns,
        "nurse-bad",
        "bad-filter-1",
        addr,
        &ingress,
        "10",
        "0s",
        &[("KUBENURSE_NEIGHBOUR_FILTER", "app in (")],
    );
    let r = wait::until(DEADLINE, || {
        alive(addr).filter(|r| r.get("me_service").and_then(Value::as_str) == Some("ok"))
    })
    .unwrap_or_else(|| panic!("no round:\n{}", nurse.log_tail(20)));
    assert_eq!(r["api_server_direct"], "ok", "{r:?}");
    assert_eq!(path_checks(&r), BTreeSet::new(), "{r:?}");
    assert_eq!(
        r["neighbourhood_state"],
        "discovery not synced: watching pods: failed to perform initial object list: \
         ApiError: unable to parse requirement: found '', expected: ',', ')' or identifier: \
         BadRequest (ErrorResponse { status: \"Failure\", message: \"unable to parse requirement: \
         found '', expected: ',', ')' or identifier\", reason: \"BadRequest\", code: 400 })"
    );
}

/// With `KUBENURSE_ALLOW_UNSCHEDULABLE=true` a nurse needs no nodes RBAC:
/// it does not watch nodes, is ready, and checks its neighbours (kubenurse's
/// readiness watcher blocks forever on the missing permission).
#[test]
fn allowing_unschedulable_nodes_needs_no_nodes_rbac() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let ns = "nurse-no-nodes-rbac";
    let port = free_port();
    let nodes = ["no-rbac-1", "no-rbac-2"];
    let addrs: Vec<SocketAddr> = (0..2)
        .map(|i| format!("127.0.0.{}:{port}", 41 + i).parse().unwrap())
        .collect();
    let account = runtime.block_on(async {
        cluster.create_namespace(ns).await.unwrap();
        let specs: Vec<NodeSpec> = nodes.iter().map(|n| NodeSpec::ready(*n)).collect();
        cluster.add_nodes(&specs).await.unwrap();
        for (i, node) in nodes.iter().enumerate() {
            let ip = addrs[i].ip();
            cluster
                .create_pod_on_node(ns, &format!("nurse-{node}"), node, &[LABEL], ip, ip)
                .await
                .unwrap();
        }
        // Pods only: no ClusterRole for nodes.
        pods_only_account(cluster, ns).await
    });
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &account.token).unwrap();
    let nurses: Vec<Process> = nodes
        .iter()
        .zip(&addrs)
        .map(|(node, addr)| {
            start_nurse(
                dir.path(),
                cluster,
                &account.path,
                &token_file,
                ns,
                &format!("nurse-{node}"),
                node,
                *addr,
                &format!("http://{addr}"),
                "10",
                "0s",
                &[("KUBENURSE_ALLOW_UNSCHEDULABLE", "true")],
            )
        })
        .collect();
    for (i, addr) in addrs.iter().enumerate() {
        let other = format!("path_{}", nodes[1 - i]);
        let r = wait::until(DEADLINE, || {
            alive(*addr).filter(|r| r.get(&other).and_then(Value::as_str) == Some("ok"))
        })
        .unwrap_or_else(|| {
            panic!(
                "{} never checked {other}:\n{}",
                nodes[i],
                nurses[i].log_tail(20)
            )
        });
        assert_eq!(r["neighbourhood_state"], "ok", "{r:?}");
        assert_eq!(path_checks(&r), BTreeSet::from([nodes[1 - i].to_string()]));
        let ready = http_get(*addr, "/ready").map(|r| r.status);
        assert_eq!(ready, Some(200), "{}", nodes[i]);
    }
}

/// `WARD_NURSE_CHECK_API_SERVER_INSTANCES=true` against three real
/// kube-apiservers on one etcd (testkit's [`ApiServers`], in a network
/// namespace of their own, the nurse beside them as a pod would be): every
/// address of the `kubernetes` EndpointSlice is checked on its own, verified
/// as `kubernetes.default.svc` (the certificate names no address of the
/// second and third), with a ServiceAccount that may only read the
/// EndpointSlices of `default`. The instance with `--goaway-chance` is the
/// only one whose GOAWAY count rises; a crashed instance's errors are counted
/// while the others stay fine, and its series go when its address leaves
/// the endpoints.
#[test]
fn every_api_server_instance_is_checked_with_its_goaways_and_its_outage() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // kube-apiserver's highest --goaway-chance: one request in 50.
    let mut cluster = ApiServers::start(&[0.0, 0.02, 0.0]).unwrap();
    let instances: Vec<String> = cluster.addresses().iter().map(|a| a.to_string()).collect();
    let account = runtime
        .block_on(cluster.service_account(
            "default",
            "nurse",
            vec![policy_rule(
                &["discovery.k8s.io"],
                &["endpointslices"],
                &["get", "list", "watch"],
            )],
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = cluster.addresses()[0];
    let (api_host, api_port) = (first.ip().to_string(), first.port().to_string());
    // A nurse in the cluster's namespace, as a pod beside the API servers.
    let start = |name: &str, account: &ServiceAccountKubeconfig, listen: SocketAddr| {
        let token_file = dir.path().join(format!("{name}.token"));
        std::fs::write(&token_file, &account.token).unwrap();
        let listen = listen.to_string();
        let env: Vec<(&str, &str)> = vec![
            ("KUBECONFIG", account.path.to_str().unwrap()),
            ("WARD_NURSE_CHECK_API_SERVER_INSTANCES", "true"),
            ("KUBENURSE_CHECK_API_SERVER_DNS", "false"),
            ("KUBENURSE_CHECK_ME_INGRESS", "false"),
            ("KUBENURSE_CHECK_ME_SERVICE", "false"),
            ("KUBENURSE_CHECK_NEIGHBOURHOOD", "false"),
            ("KUBENURSE_CHECK_INTERVAL", "100ms"),
            ("KUBERNETES_SERVICE_HOST", &api_host),
            ("KUBERNETES_SERVICE_PORT", &api_port),
            (
                "WARD_NURSE_SERVICE_ACCOUNT_CA",
                cluster.ca_path().to_str().unwrap(),
            ),
            ("WARD_NURSE_TOKEN_FILE", token_file.to_str().unwrap()),
            ("WARD_NURSE_LISTEN", &listen),
            ("WARD_NURSE_JITTER", "0"),
            ("WARD_NURSE_CHECK_TIMEOUT", "2s"),
            ("POD_NAME", name),
            ("WARD_LOG", "info"),
        ];
        let (nsenter, mut args) = cluster.netns().wrap(support::ward_bin());
        args.push("nurse".into());
        let log = dir.path().join(format!("{name}.log"));
        Process::spawn_with(name, &nsenter, args, &log, &env).unwrap()
    };
    let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut nurse = start("nurse", &account, listen);
    let forward = cluster.forward(listen).unwrap();
    let addr = forward.addr();
    let series = |family: &str, endpoint: &str, more: &str| {
        format!("{family}{{type=\"api_server_instance\",endpoint=\"{endpoint}\"{more}}}")
    };
    let ok = |endpoint: &str| {
        series(
            "kubenurse_httpclient_requests_total",
            endpoint,
            ",code=\"200\"",
        )
    };
    let goaways = |endpoint: &str| series("ward_nurse_http2_goaways_received_total", endpoint, "");

    // Every instance answers on its own series: requests, latency, success, GOAWAYs.
    let all_checked = wait::until(DEADLINE, || {
        let text = metrics(addr);
        instances
            .iter()
            .all(|e| {
                counter(addr, &ok(e)) >= 3
                    && text.contains(&format!(
                        "{} 1\n",
                        series("ward_nurse_check_success", e, "")
                    ))
                    && text.contains(&format!(
                        "{}_count{{type=\"api_server_instance\",endpoint=\"{e}\"}}",
                        "kubenurse_httpclient_request_duration_seconds"
                    ))
                    && text.contains(&format!("{} ", goaways(e)))
            })
            .then_some(())
    });
    assert!(
        all_checked.is_some(),
        "not every instance checked:\n{}\n{}",
        metrics(addr),
        nurse.log_tail(20)
    );
    let r = alive(addr).unwrap();
    for e in &instances {
        assert_eq!(r[&format!("api_server_instance_{e}")], "ok", "{r:?}");
    }
    assert_eq!(r["api_server_direct"], "ok", "{r:?}");

    // Without the EndpointSlices grant: the API server's answer in /alive,
    // every round, and the load-balanced check goes on.
    let no_rbac = runtime
        .block_on(cluster.service_account("default", "nurse-no-rbac", Vec::new()))
        .unwrap();
    let bare_listen: SocketAddr = "127.0.0.1:8081".parse().unwrap();
    let bare = start("nurse-no-rbac", &no_rbac, bare_listen);
    let bare_forward = cluster.forward(bare_listen).unwrap();
    let r = wait::until(DEADLINE, || {
        alive(bare_forward.addr())
            .filter(|r| r.get("api_server_direct").and_then(Value::as_str) == Some("ok"))
    })
    .unwrap_or_else(|| panic!("no round without RBAC:\n{}", bare.log_tail(20)));
    assert_eq!(
        r["api_server_instance"],
        "watching default/kubernetes EndpointSlices: failed to perform initial object list: \
         ApiError: endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:default:nurse-no-rbac\" \
         cannot list resource \"endpointslices\" in API group \"discovery.k8s.io\" in the namespace \"default\": \
         Forbidden (ErrorResponse { status: \"Failure\", message: \"endpointslices.discovery.k8s.io is forbidden: \
         User \\\"system:serviceaccount:default:nurse-no-rbac\\\" cannot list resource \\\"endpointslices\\\" \
         in API group \\\"discovery.k8s.io\\\" in the namespace \\\"default\\\"\", reason: \"Forbidden\", code: 403 })",
        "{r:?}"
    );
    drop(bare);

    // GOAWAYs come from the instance with --goaway-chance, and only from it.
    let goaway_seen = wait::until(Duration::from_secs(90), || {
        (counter(addr, &goaways(&instances[1])) >= 1).then_some(())
    });
    assert!(
        goaway_seen.is_some(),
        "no GOAWAY from {} in 90 s:\n{}",
        instances[1],
        metrics(addr)
    );
    let text = metrics(addr);
    for e in [&instances[0], &instances[2]] {
        assert!(
            text.contains(&format!("{} 0\n", goaways(e))),
            "{e}:\n{text}"
        );
    }
    assert!(
        !text.contains("kubenurse_errors_total"),
        "a graceful GOAWAY is no error:\n{text}"
    );

    // The third instance crashes: its failures are counted, the others go on.
    cluster.kill(2).unwrap();
    let refused = series(
        "ward_nurse_check_failures_total",
        &instances[2],
        ",class=\"connect_refused\"",
    );
    assert!(
        wait::until(DEADLINE, || (counter(addr, &refused) >= 3).then_some(())).is_some(),
        "no refused connections to {} counted:\n{}",
        instances[2],
        metrics(addr)
    );
    let text = metrics(addr);
    assert!(
        text.contains(&format!(
            "{} 0\n",
            series("ward_nurse_check_success", &instances[2], "")
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{} ",
            series(
                "kubenurse_errors_total",
                &instances[2],
                ",event=\"connect_done\""
            )
        )),
        "{text}"
    );
    let before: Vec<u64> = instances[..2]
        .iter()
        .map(|e| counter(addr, &ok(e)))
        .collect();
    let going_on = wait::until(DEADLINE, || {
        instances[..2]
            .iter()
            .zip(&before)
            .all(|(e, b)| counter(addr, &ok(e)) >= b + 5)
            .then_some(())
    });
    assert!(
        going_on.is_some(),
        "the live instances' checks stopped:\n{}",
        metrics(addr)
    );
    for e in &instances[..2] {
        let errors =
            format!("kubenurse_errors_total{{type=\"api_server_instance\",endpoint=\"{e}\",");
        assert!(!metrics(addr).contains(&errors), "{e} counted errors");
    }

    // Its lease expires, the endpoints drop it, and so do the nurse's series.
    runtime
        .block_on(cluster.wait_endpoints(&cluster.addresses()[..2]))
        .unwrap();
    let expired = wait::until(DEADLINE, || {
        (!metrics(addr).contains(&format!("endpoint=\"{}\"", instances[2]))).then_some(())
    });
    assert!(
        expired.is_some(),
        "{}'s series stayed:\n{}",
        instances[2],
        metrics(addr)
    );
    assert!(
        nurse.is_running(),
        "the nurse exited:\n{}",
        nurse.log_tail(20)
    );
}

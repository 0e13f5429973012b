//! `ward keepalive audit` against a real kube-apiserver (testkit's
//! [`ApiServers`], one instance in a network namespace of its own:
//! kube-apiserver rejects loopback addresses in EndpointSlices ("may not be
//! in the loopback range"), and that namespace has `10.201.0.1`) holding a real
//! Ingress, Services and EndpointSlices, with real backends of different
//! idle timeouts listening on that address inside the namespace; ward runs
//! there too, as a pod would, with a ServiceAccount's kubeconfig.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use serde_json::json;

use support::ward_bin;
use ward_testkit::backend::Backend;
use ward_testkit::kube::{policy_rule, ApiServers, ServiceAccountKubeconfig};

/// Creates `value` (a JSON object of kind `K`) with the admin client.
async fn create<K>(client: &kube::Client, ns: Option<&str>, value: serde_json::Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize,
    K::DynamicType: Default,
{
    let object: K = serde_json::from_value(value).unwrap();
    let api: Api<K> = Api::namespaced(client.clone(), ns.unwrap_or("default"));
    api.create(&PostParams::default(), &object).await.unwrap();
}

/// A Service `name` (port 80, named `http`, no selector) and its EndpointSlice
/// listing `addr` as ready.
async fn service(client: &kube::Client, name: &str, addr: SocketAddr) {
    create::<Service>(
        client,
        Some("shop"),
        json!({"metadata": {"name": name, "namespace": "shop"},
               "spec": {"ports": [{"name": "http", "port": 80, "targetPort": addr.port()}]}}),
    )
    .await;
    create::<EndpointSlice>(
        client,
        Some("shop"),
        json!({"metadata": {"name": format!("{name}-1"), "namespace": "shop",
                            "labels": {"kubernetes.io/service-name": name}},
               "addressType": "IPv4",
               "endpoints": [{"addresses": [addr.ip().to_string()], "conditions": {"ready": true}}],
               "ports": [{"name": "http", "port": addr.port(), "protocol": "TCP"}]}),
    )
    .await;
}

/// Runs `ward keepalive audit ARGS…` inside the cluster's namespace as `account`.
fn audit(cluster: &ApiServers, account: &ServiceAccountKubeconfig, args: &[&str]) -> support::Run {
    let (nsenter, mut wrapped) = cluster.netns().wrap(ward_bin());
    wrapped.extend(
        ["keepalive", "audit"]
            .iter()
            .chain(args)
            .map(|s| s.to_string()),
    );
    std::process::Command::new(nsenter)
        .args(wrapped)
        .env("KUBECONFIG", &account.path)
        .env_remove("WARD_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
        .into()
}

#[test]
fn audit_flags_exactly_the_backends_that_close_before_the_proxy() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = ApiServers::start(&[0.0]).unwrap();
    let ip: IpAddr = cluster.addresses()[0].ip();
    let backend = |millis| {
        Backend::builder()
            .idle_timeout(Duration::from_millis(millis))
            .start_in(cluster.netns(), ip)
            .unwrap()
    };
    // ConfigMap says 2 s: the 1 s backend is at risk, the 3.5 s one is not.
    let (short, long) = (backend(1000), backend(3500));
    // An endpoint where nothing listens.
    let gone = cluster
        .netns()
        .bind(SocketAddr::new(ip, 0))
        .unwrap()
        .local_addr()
        .unwrap();
    let (short_url, long_url, gone_url) = (
        format!("http://{}/", short.addr()),
        format!("http://{}/", long.addr()),
        format!("http://{gone}/"),
    );

    let (full, blind) = runtime.block_on(async {
        let client = cluster.client().unwrap();
        for ns in ["shop", "ingress-nginx"] {
            let api: Api<Namespace> = Api::all(client.clone());
            let object = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
            api.create(&PostParams::default(), &object).await.unwrap();
        }
        create::<ConfigMap>(
            &client,
            Some("ingress-nginx"),
            json!({"metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
                   "data": {"upstream-keepalive-timeout": "2"}}),
        )
        .await;
        service(&client, "short", short.addr()).await;
        service(&client, "long", long.addr()).await;
        service(&client, "gone", gone).await;
        let backend = |svc: &str, port: serde_json::Value| json!({"service": {"name": svc, "port": port}});
        create::<Ingress>(
            &client,
            Some("shop"),
            json!({"metadata": {"name": "web", "namespace": "shop"},
                   "spec": {"defaultBackend": backend("gone", json!({"number": 80})),
                            "rules": [{"host": "shop.example", "http": {"paths": [
                                {"path": "/short", "pathType": "Prefix", "backend": backend("short", json!({"number": 80}))},
                                {"path": "/long", "pathType": "Prefix", "backend": backend("long", json!({"name": "http"}))}]}}]}}),
        )
        .await;
        // Exactly the rights docs/keepalive-502.md lists.
        let reader = vec![
            policy_rule(&["networking.k8s.io"], &["ingresses"], &["list"]),
            policy_rule(&[""], &["services"], &["get"]),
            policy_rule(&["discovery.k8s.io"], &["endpointslices"], &["list"]),
        ];
        let full = cluster.service_account("shop", "audit", reader.clone()).await.unwrap();
        let blind = cluster.service_account("shop", "blind", reader).await.unwrap();
        // `audit` (only) may read the controller's ConfigMap.
        create::<Role>(
            &client,
            Some("ingress-nginx"),
            json!({"metadata": {"name": "audit", "namespace": "ingress-nginx"},
                   "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                              "resourceNames": ["ingress-nginx-controller"], "verbs": ["get"]}]}),
        )
        .await;
        create::<RoleBinding>(
            &client,
            Some("ingress-nginx"),
            json!({"metadata": {"name": "audit", "namespace": "ingress-nginx"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "audit"},
                   "subjects": [{"kind": "ServiceAccount", "name": "audit", "namespace": "shop"}]}),
        )
        .await;
        (full, blind)
    });
    let flags = ["-n", "shop", "--max-wait", "4s", "--timeout", "500ms"];

    // JSON: the short backend at risk, the long one fine, the missing one a row of its own.
    let run = audit(&cluster, &full, &[&flags[..], &["-o", "json"]].concat());
    assert_eq!(run.code(), Some(1), "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["upstream_keepalive_timeout_seconds"], 2.0);
    assert_eq!(report["upstream_timeout_source"], "configmap");
    assert_eq!(report["problems"], json!([]));
    let rows: Vec<(String, String, String, String)> = report["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap_or_default().to_string();
            (s("service"), s("port"), s("url"), s("status"))
        })
        .collect();
    let row = |svc: &str, port: &str, url: &str, status: &str| {
        (
            svc.to_string(),
            port.to_string(),
            url.to_string(),
            status.to_string(),
        )
    };
    assert_eq!(
        rows,
        vec![
            row("shop/gone", "80", &gone_url, "no_answer"),
            row("shop/long", "http", &long_url, "ok"),
            row("shop/short", "80", &short_url, "at_risk"),
        ]
    );
    let idle = |i: usize| {
        report["backends"][i]["idle_timeout_seconds"]
            .as_f64()
            .unwrap()
    };
    assert!((3.4..4.0).contains(&idle(1)), "{report}");
    assert!((0.9..1.5).contains(&idle(2)), "{report}");
    assert_eq!(report["backends"][2]["ingresses"], json!(["shop/web"]));
    assert_eq!(report["backends"][2]["close"], "fin");

    // Text, without permission to read the ConfigMap: what could not be read
    // and why, 60 s assumed, and both backends at risk against it.
    let run = audit(&cluster, &blind, &flags);
    assert_eq!(run.code(), Some(1), "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 9, "{}", run.stdout);
    assert_eq!(
        lines[..2],
        [
            "ingress-nginx upstream-keepalive-timeout: 60s (ingress-nginx's default, assumed)",
            "could not read ConfigMap ingress-nginx/ingress-nginx-controller: configmaps \"ingress-nginx-controller\" is forbidden: \
             User \"system:serviceaccount:shop:blind\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"ingress-nginx\" (HTTP 403)",
        ],
        "{}",
        run.stdout
    );
    // The table, word by word, the measured milliseconds left out.
    let words = |line: &str| -> Vec<String> {
        line.split_whitespace()
            .filter(|w| !w.ends_with("ms"))
            .map(str::to_string)
            .collect()
    };
    let table: Vec<Vec<String>> = lines[2..6].iter().map(|l| words(l)).collect();
    let expected = [
        "STATUS SERVICE PORT ENDPOINT IDLE TIMEOUT INGRESSES".to_string(),
        format!("no answer shop/gone 80 {gone_url} - shop/web"),
        format!("AT RISK shop/long http {long_url} FIN shop/web"),
        format!("AT RISK shop/short 80 {short_url} FIN shop/web"),
    ];
    assert_eq!(table, expected.map(|l| words(&l)), "{}", run.stdout);
    assert_eq!(
        lines[6],
        format!(
            "no answer from shop/gone ({gone_url}): target {gone_url}: connect_refused: connecting to {gone} ({gone}): \
             Connection refused (os error 111)"
        )
    );
    // The fix, in plain words; the measured figures (between the stars) vary
    // by a few milliseconds.
    let fix = |svc: &str, url: &str, end: &str| {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("fix {svc} ")))
            .unwrap();
        let (head, rest) = line.split_once(" after ").unwrap();
        let (_, rest) = rest.split_once(", ").unwrap();
        let (middle, tail) = rest.rsplit_once(" below ").unwrap();
        let (_, tail) = tail.split_once(['s', ',']).unwrap();
        format!("{head} after * {middle} below *{tail}") == format!("fix {svc} ({url}): it closes idle connections after * \
             no later than ingress-nginx reuses them (60s), so requests race its close and get 502s; \
             raise its keep-alive timeout above 60s (Tomcat keepAliveTimeout, Spring Boot \
             server.tomcat.keep-alive-timeout, Node.js server.keepAliveTimeout), or lower \
             upstream-keepalive-timeout in ConfigMap ingress-nginx/ingress-nginx-controller below *{end}")
    };
    assert!(
        fix("shop/long", &long_url, " (e.g. \"2\")"),
        "{}",
        run.stdout
    );
    assert!(
        fix(
            "shop/short",
            &short_url,
            ", which its whole seconds cannot do: raise the backend's"
        ),
        "{}",
        run.stdout
    );

    // Not allowed to list Ingresses cluster-wide: said, exit code 2.
    let run = audit(&cluster, &full, &["--max-wait", "4s"]);
    assert_eq!(run.code(), Some(2), "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "ingress-nginx upstream-keepalive-timeout: 2s (ConfigMap ingress-nginx/ingress-nginx-controller)\n\
         could not read Ingresses in all namespaces: ingresses.networking.k8s.io is forbidden: User \
         \"system:serviceaccount:shop:audit\" cannot list resource \"ingresses\" in API group \"networking.k8s.io\" at the cluster scope (HTTP 403)\n\
         no Service endpoints behind an Ingress to measure\n"
    );
}

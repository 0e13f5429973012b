//! deploy/lookup/ holds what the issue asks for: a DaemonSet in resolv.conf
//! mode (non-root, read-only root fs, probes on /readyz and /healthz, no API
//! token), its Service, ServiceMonitor, PrometheusRule (error ratio, p99), and
//! no RBAC grants. Flag values in the manifest parse with ward's own parsers.
//! (crates/ward/tests/deploy.rs checks every manifest against the API server.)

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use ward_lookup::config::{parse_hosts, parse_servers};

fn file(name: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/lookup")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (path, text)
}

#[test]
fn daemonset_runs_resolv_conf_mode_locked_down() {
    let (path, text) = file("daemonset.yaml");
    let ds: DaemonSet =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let pod = ds.spec.and_then(|s| s.template.spec).expect("pod spec");
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_eq!(pod.service_account_name.as_deref(), Some("ward-lookup"));
    assert_eq!(
        pod.security_context
            .as_ref()
            .and_then(|s| s.run_as_non_root),
        Some(true)
    );
    let c = &pod.containers[0];
    assert_eq!(c.args.as_deref(), Some(&["lookup".to_string()][..]));
    let sc = c
        .security_context
        .as_ref()
        .expect("container securityContext");
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(probe_path(&c.readiness_probe).as_deref(), Some("/readyz"));
    assert_eq!(probe_path(&c.liveness_probe).as_deref(), Some("/healthz"));
    let env = |name: &str| {
        c.env
            .iter()
            .flatten()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
            .unwrap_or_else(|| panic!("{name} not set"))
    };
    assert_eq!(env("HOSTLOOKUPER_RESOLV_CONF"), "/etc/resolv.conf");
    assert_eq!(env("HOSTLOOKUPER_PROM_HISTOGRAM"), "true");
    parse_hosts(&env("HOSTLOOKUPER_HOSTS")).expect("HOSTLOOKUPER_HOSTS parses");
    parse_servers(&env("HOSTLOOKUPER_DNS_SERVERS")).expect("HOSTLOOKUPER_DNS_SERVERS parses");
}

#[test]
fn no_api_access_service_and_monitoring() {
    let (_, rbac) = file("rbac.yaml");
    let sa: ServiceAccount = serde_yaml_ng::from_str(&rbac).expect("ServiceAccount");
    assert_eq!(sa.automount_service_account_token, Some(false));
    assert!(
        !rbac.contains("kind: Role") && !rbac.contains("kind: ClusterRole"),
        "no grants"
    );
    let (_, svc) = file("service.yaml");
    let svc: Service = serde_yaml_ng::from_str(&svc).expect("Service");
    assert_eq!(
        svc.spec.and_then(|s| s.ports).map(|p| p[0].port),
        Some(9090)
    );
    let (_, sm) = file("servicemonitor.yaml");
    let sm: serde_yaml_ng::Value = serde_yaml_ng::from_str(&sm).expect("ServiceMonitor");
    assert_eq!(
        sm["spec"]["endpoints"][0]["path"].as_str(),
        Some("/metrics")
    );
    let (_, rule) = file("prometheusrule.yaml");
    let rule: serde_yaml_ng::Value = serde_yaml_ng::from_str(&rule).expect("PrometheusRule");
    let exprs: Vec<String> = rule["spec"]["groups"][0]["rules"]
        .as_sequence()
        .expect("rules")
        .iter()
        .filter_map(|r| r["expr"].as_str().map(str::to_string))
        .collect();
    assert!(
        exprs
            .iter()
            .any(|e| e.contains("hostlookuper_dns_errors_total")
                && e.contains("hostlookuper_dns_lookup_total")),
        "error ratio"
    );
    assert!(
        exprs.iter().any(|e| e.contains("histogram_quantile(0.99")
            && e.contains("hostlookuper_dns_lookup_duration_seconds_bucket")),
        "p99"
    );
}

//! Test fixtures in the cluster: namespaces, nodes (kwok-managed or not),
//! Pods pinned to a node with a chosen IP, and ServiceAccounts with their own kubeconfig.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ::kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{
    Binding, Container, Namespace, Node, NodeAddress, NodeCondition, NodeSpec as CoreNodeSpec,
    NodeStatus, ObjectReference, Pod, PodSpec, ServiceAccount, Taint, Toleration,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::{config_from_file, kubeconfig_json, write, Error, KubeCluster, Result};

/// How long fixtures wait for the controllers or kwok to act.
const FIXTURE_DEADLINE: Duration = Duration::from_secs(30);

/// The scheduler name of pods made by [`KubeCluster::create_pod_on_node`]: no
/// scheduler serves it, so they are bound by the helper only.
pub const MANUAL_SCHEDULER: &str = "ward-testkit-manual";

/// A node to register with [`KubeCluster::add_nodes`].
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// Ready nodes are managed by kwok (heartbeats, pods become Running);
    /// NotReady ones are not managed and report `Ready=False`.
    pub ready: bool,
    /// Cordoned: `spec.unschedulable` and the unschedulable taint.
    pub cordoned: bool,
    /// InternalIP address; kwok's default (127.0.0.1) for ready nodes when unset.
    pub internal_ip: Option<IpAddr>,
    /// Extra labels (kubernetes.io/hostname is always set).
    pub labels: BTreeMap<String, String>,
}

impl NodeSpec {
    /// A Ready node, simulated by kwok.
    pub fn ready(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ready: true,
            cordoned: false,
            internal_ip: None,
            labels: BTreeMap::new(),
        }
    }

    /// A NotReady node (not managed by kwok; tainted `node.kubernetes.io/not-ready`).
    pub fn not_ready(name: impl Into<String>) -> Self {
        Self {
            ready: false,
            ..Self::ready(name)
        }
    }

    /// Marks the node cordoned (unschedulable).
    pub fn cordoned(mut self) -> Self {
        self.cordoned = true;
        self
    }

    /// Sets the node's InternalIP.
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.internal_ip = Some(ip);
        self
    }

    /// Adds a label.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    fn to_node(&self) -> Node {
        let mut labels = self.labels.clone();
        labels.insert("kubernetes.io/hostname".into(), self.name.clone());
        labels.insert("kubernetes.io/os".into(), "linux".into());
        labels.insert("kubernetes.io/arch".into(), "amd64".into());
        let mut annotations = BTreeMap::new();
        if self.ready {
            annotations.insert(
                super::KWOK_NODE_ANNOTATION.0.to_string(),
                super::KWOK_NODE_ANNOTATION.1.to_string(),
            );
        }
        annotations.insert("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string());
        let mut taints = Vec::new();
        if !self.ready {
            taints.push(taint("node.kubernetes.io/not-ready", "NoSchedule"));
        }
        if self.cordoned {
            taints.push(taint("node.kubernetes.io/unschedulable", "NoSchedule"));
        }
        Node {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(labels),
                annotations: Some(annotations),
                ..Default::default()
            },
            spec: Some(CoreNodeSpec {
                unschedulable: self.cordoned.then_some(true),
                taints: (!taints.is_empty()).then_some(taints),
                ..Default::default()
            }),
            status: self.status(),
        }
    }

    /// The status the node is created with (Node creation keeps it, so kwok
    /// never sees the node without its addresses).
    fn status(&self) -> Option<NodeStatus> {
        let now = Time(k8s_openapi::chrono::Utc::now());
        let addresses = self.internal_ip.map(|ip| {
            vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: ip.to_string(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: self.name.clone(),
                },
            ]
        });
        if self.ready {
            // kwok's node-initialize stage keeps addresses that are already there.
            return addresses.map(|a| NodeStatus {
                addresses: Some(a),
                ..Default::default()
            });
        }
        let resources: BTreeMap<String, Quantity> =
            [("cpu", "8"), ("memory", "32Gi"), ("pods", "110")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect();
        Some(NodeStatus {
            addresses,
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "False".into(),
                reason: Some("KubeletNotReady".into()),
                message: Some("ward-testkit: node registered NotReady".into()),
                last_heartbeat_time: Some(now.clone()),
                last_transition_time: Some(now),
            }]),
            capacity: Some(resources.clone()),
            allocatable: Some(resources),
            ..Default::default()
        })
    }
}

fn taint(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.to_string(),
        effect: effect.to_string(),
        ..Default::default()
    }
}

/// A kubeconfig for a ServiceAccount, with a token minted by the TokenRequest API.
#[derive(Clone)]
pub struct ServiceAccountKubeconfig {
    /// Path of the kubeconfig file (inside the cluster folder).
    pub path: PathBuf,
    /// The bearer token (valid for one hour).
    pub token: String,
    pub(crate) config: ::kube::Config,
}

impl std::fmt::Debug for ServiceAccountKubeconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKubeconfig")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKubeconfig {
    /// The client configuration.
    pub fn config(&self) -> ::kube::Config {
        self.config.clone()
    }

    /// A new client acting as the ServiceAccount (call inside the runtime that uses it).
    pub fn client(&self) -> Result<::kube::Client> {
        ::kube::Client::try_from(self.config.clone())
            .map_err(|e| Error::api("building service-account client", e))
    }
}

impl KubeCluster {
    /// Creates namespace `name` (fine if it exists) and waits for its `default`
    /// ServiceAccount, without which Pods are rejected.
    pub async fn create_namespace(&self, name: &str) -> Result<String> {
        let client = self.client()?;
        let api: Api<Namespace> = Api::all(client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(::kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(Error::api(format!("creating namespace {name}"), e)),
        }
        self.wait_default_service_account(&client, name).await?;
        Ok(name.to_string())
    }

    async fn wait_default_service_account(&self, client: &::kube::Client, ns: &str) -> Result<()> {
        let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
        poll(
            "kube-controller-manager",
            &format!("ServiceAccount {ns}/default"),
            FIXTURE_DEADLINE,
            || async { sa.get_opt("default").await.map(|o| o.map(|_| ())) },
        )
        .await
    }

    /// Registers nodes and waits until kwok reports the ready ones `Ready`.
    ///
    /// Ready nodes carry kwok's annotation (kwok posts their status and leases);
    /// NotReady ones do not and report `Ready=False` (after the node monitor grace
    /// period, ~50 s, kube-controller-manager turns that into `Unknown`).
    pub async fn add_nodes(&self, nodes: &[NodeSpec]) -> Result<Vec<Node>> {
        let client = self.client()?;
        let api: Api<Node> = Api::all(client);
        for spec in nodes {
            api.create(&PostParams::default(), &spec.to_node())
                .await
                .map_err(|e| Error::api(format!("creating node {}", spec.name), e))?;
        }
        let mut out = Vec::new();
        for spec in nodes {
            let want = if spec.ready { "True" } else { "False" };
            let node = poll(
                "kwok",
                &format!("node {} Ready={want}", spec.name),
                FIXTURE_DEADLINE,
                || async {
                    let node = api.get(&spec.name).await?;
                    Ok((node_ready(&node) == Some(want)).then_some(node))
                },
            )
            .await?;
            out.push(node);
        }
        Ok(out)
    }

    /// Creates a Running, Ready Pod bound to `node` whose status carries `pod_ip`
    /// and `host_ip` (e.g. 127.0.0.x, where a real local process listens).
    ///
    /// The Pod names a scheduler nobody runs, gets its status before it is bound
    /// (so kwok, which only starts Pending pods, leaves it alone) and is then bound
    /// with the Binding subresource. It tolerates every taint. Deleting it works on
    /// kwok nodes; on NotReady nodes delete it with a grace period of 0. On a
    /// NotReady node the node lifecycle controller may later mark it not Ready.
    pub async fn create_pod_on_node(
        &self,
        ns: &str,
        name: &str,
        node: &str,
        labels: &[(&str, &str)],
        pod_ip: IpAddr,
        host_ip: IpAddr,
    ) -> Result<Pod> {
        let client = self.client()?;
        self.wait_default_service_account(&client, ns).await?;
        let api: Api<Pod> = Api::namespaced(client, ns);
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(ns.to_string()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            spec: Some(PodSpec {
                scheduler_name: Some(MANUAL_SCHEDULER.to_string()),
                automount_service_account_token: Some(false),
                termination_grace_period_seconds: Some(0),
                tolerations: Some(vec![Toleration {
                    operator: Some("Exists".into()),
                    ..Default::default()
                }]),
                containers: vec![Container {
                    name: "main".into(),
                    image: Some("ward-testkit.invalid/placeholder:1".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: None,
        };
        api.create(&PostParams::default(), &pod)
            .await
            .map_err(|e| Error::api(format!("creating pod {ns}/{name}"), e))?;
        let now = now_rfc3339();
        let cond = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": now});
        let status = json!({"status": {
            "phase": "Running",
            "podIP": pod_ip.to_string(),
            "podIPs": [{"ip": pod_ip.to_string()}],
            "hostIP": host_ip.to_string(),
            "hostIPs": [{"ip": host_ip.to_string()}],
            "startTime": now,
            "conditions": [cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
            "containerStatuses": [{
                "name": "main", "image": "ward-testkit.invalid/placeholder:1", "imageID": "",
                "ready": true, "started": true, "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }],
        }});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .map_err(|e| Error::api(format!("setting status of pod {ns}/{name}"), e))?;
        let binding = Binding {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(ns.to_string()),
                ..Default::default()
            },
            target: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(node.to_string()),
                ..Default::default()
            },
        };
        let body = serde_json::to_vec(&binding)
            .map_err(|e| Error::setup(format!("encoding binding of {ns}/{name}"), e))?;
        api.create_subresource::<serde_json::Value>("binding", name, &PostParams::default(), body)
            .await
            .map_err(|e| Error::api(format!("binding pod {ns}/{name} to node {node}"), e))?;
        api.get(name)
            .await
            .map_err(|e| Error::api(format!("reading pod {ns}/{name}"), e))
    }

    /// Creates ServiceAccount `ns/name` (fine if it exists) and, if `rules` is not
    /// empty, a Role with those rules bound to it (both named `name`).
    pub async fn create_service_account(
        &self,
        ns: &str,
        name: &str,
        rules: Vec<PolicyRule>,
    ) -> Result<()> {
        create_service_account(&self.client()?, ns, name, rules).await
    }

    /// Mints a token for ServiceAccount `ns/name` (created if missing) and writes a
    /// kubeconfig for it, default namespace `ns`.
    pub async fn service_account_kubeconfig(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<ServiceAccountKubeconfig> {
        let path = self.dir().join(format!("sa-{ns}-{name}.kubeconfig"));
        let (server, ca) = (self.server_url(), self.ca_path());
        service_account_kubeconfig(&self.client()?, &path, server, ca, ns, name).await
    }
}

/// Creates ServiceAccount `ns/name` (fine if it exists) and, if `rules` is not
/// empty, a Role with those rules bound to it (both named `name`).
pub(crate) async fn create_service_account(
    client: &::kube::Client,
    ns: &str,
    name: &str,
    rules: Vec<PolicyRule>,
) -> Result<()> {
    let meta = || ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.to_string()),
        ..Default::default()
    };
    let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let account = ServiceAccount {
        metadata: meta(),
        ..Default::default()
    };
    ignore_conflict(sa.create(&PostParams::default(), &account).await)
        .map_err(|e| Error::api(format!("creating ServiceAccount {ns}/{name}"), e))?;
    if rules.is_empty() {
        return Ok(());
    }
    let roles: Api<Role> = Api::namespaced(client.clone(), ns);
    let role = Role {
        metadata: meta(),
        rules: Some(rules),
    };
    ignore_conflict(roles.create(&PostParams::default(), &role).await)
        .map_err(|e| Error::api(format!("creating Role {ns}/{name}"), e))?;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), ns);
    let binding = RoleBinding {
        metadata: meta(),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name.to_string(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.to_string(),
            namespace: Some(ns.to_string()),
            ..Default::default()
        }]),
    };
    ignore_conflict(bindings.create(&PostParams::default(), &binding).await)
        .map_err(|e| Error::api(format!("creating RoleBinding {ns}/{name}"), e))?;
    Ok(())
}

/// Mints a token for ServiceAccount `ns/name` (created if missing) and writes a
/// kubeconfig for it to `path`, naming `server`, default namespace `ns`.
pub(crate) async fn service_account_kubeconfig(
    client: &::kube::Client,
    path: &Path,
    server: &str,
    ca: &Path,
    ns: &str,
    name: &str,
) -> Result<ServiceAccountKubeconfig> {
    create_service_account(client, ns, name, Vec::new()).await?;
    let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let request = TokenRequest {
        metadata: ObjectMeta::default(),
        spec: TokenRequestSpec {
            audiences: Vec::new(),
            expiration_seconds: Some(3600),
            bound_object_ref: None,
        },
        status: None,
    };
    let minted = sa
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .map_err(|e| Error::api(format!("TokenRequest for ServiceAccount {ns}/{name}"), e))?;
    let token = minted
        .status
        .map(|s| s.token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::setup(
                format!("TokenRequest for ServiceAccount {ns}/{name}"),
                "kube-apiserver returned no token",
            )
        })?;
    write(path, kubeconfig_json(server, ca, name, &token, ns))?;
    let config = config_from_file(path).await?;
    Ok(ServiceAccountKubeconfig {
        path: path.to_path_buf(),
        token,
        config,
    })
}

fn ignore_conflict<T>(
    r: std::result::Result<T, ::kube::Error>,
) -> std::result::Result<(), ::kube::Error> {
    match r {
        Ok(_) => Ok(()),
        Err(::kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// An RBAC rule allowing `verbs` on `resources` of `groups` (`""`: the core group).
pub fn policy_rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(strings(groups)),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        ..Default::default()
    }
}

/// The status of a node's Ready condition.
pub fn node_ready(node: &Node) -> Option<&str> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.as_str())
}

/// Polls `check` (every 100 ms) until it yields `Some`, or fails after `timeout`.
pub(crate) async fn poll<T, F, Fut>(
    component: &str,
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<Option<T>, ::kube::Error>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => last.clear(),
            Err(e) => last = format!("; last error: {e}"),
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                component: component.to_string(),
                what: what.to_string(),
                timeout,
                last,
            });
        }
        // The poll interval of a deadline-bounded wait, not a synchronisation sleep.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Now as RFC 3339 UTC with second precision (what Kubernetes' `Time` expects).
fn now_rfc3339() -> String {
    use k8s_openapi::chrono::{SecondsFormat, Utc};
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_has_the_expected_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }

    #[test]
    fn node_specs_set_kwok_annotation_taints_and_cordon() {
        let ready = NodeSpec::ready("a").to_node();
        let ann = ready.metadata.annotations.unwrap();
        assert_eq!(
            ann.get("kwok.x-k8s.io/node").map(String::as_str),
            Some("fake")
        );
        assert!(ready.spec.unwrap().taints.is_none());
        let nr = NodeSpec::not_ready("b").cordoned().to_node();
        assert!(!nr
            .metadata
            .annotations
            .unwrap()
            .contains_key("kwok.x-k8s.io/node"));
        let spec = nr.spec.unwrap();
        assert_eq!(spec.unschedulable, Some(true));
        let keys: Vec<_> = spec.taints.unwrap().into_iter().map(|t| t.key).collect();
        assert_eq!(
            keys,
            [
                "node.kubernetes.io/not-ready",
                "node.kubernetes.io/unschedulable"
            ]
        );
    }
}

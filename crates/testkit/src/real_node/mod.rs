//! A real Kubernetes cluster on this machine, for tests where pods must really
//! run: the control plane, and one or two nodes each with a real kubelet,
//! containerd + runc, bridge CNI and kube-proxy (iptables), plus CoreDNS as a
//! Deployment. Containers really run; Services go through kube-proxy's rules;
//! pods resolve names through CoreDNS.
//!
//! Every component runs inside network namespaces the test creates (the
//! kubelet refuses a loopback node IP), one per node, joined by a veth pair
//! and routes between the pod ranges; nothing has a default route, so no
//! traffic leaves the machine. The test process reaches the API server, pods
//! and Services through loopback forwarders ([`RealNode::forward`]).
//!
//! Needs root (network namespaces, cgroups, mounts) and what
//! `scripts/install-test-deps.sh` installs: containerd, runc, the CNI plugins,
//! iptables, busybox-static, and kubelet, kube-proxy, the control plane,
//! pause and CoreDNS built from their Go modules.
//!
//! Everything is torn down on drop, and also when the test process dies in any
//! way: each server runs under a guardian (see [`crate::process`]) and a
//! reaper kills the shims and containers, unmounts, and removes the
//! namespaces, cgroups and the folder (set `WARD_KUBE_KEEP_DIR=1` to keep the
//! folder with every log).
//!
//! ```no_run
//! # fn demo() -> Result<(), ward_testkit::kube::Error> {
//! use ward_testkit::real_node::RealNode;
//! let cluster = RealNode::builder().nodes(2).start()?;
//! cluster.import_image(std::path::Path::new("target/ward-image.tar"))?;
//! let api = cluster.admin_kubeconfig(); // for kube-rs, helm, kubectl on the host
//! # Ok(()) }
//! ```

mod dns;
mod images;
mod node;

pub use images::{Image, BUSYBOX, CONFIG_RELOADER, COREDNS, PAUSE, PROMETHEUS};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node as NodeObject;
use kube::api::{Patch, PatchParams};
use kube::Api;
use tempfile::TempDir;

use crate::kube::{
    dynamic_api, mkdir, node_ready, temp_root, ControlPlane, Error, Identity, Ports, Result, Spec,
    API_SERVICE_IP,
};
use crate::netns::NetNs;
use crate::reaper::{NodeLeftovers, Reaper};
use crate::tcp_proxy::TcpProxy;
use crate::wait;

use node::Node;

/// The ClusterIP of CoreDNS's `kube-system/kube-dns` Service (the kubelets' clusterDNS).
pub const DNS_SERVICE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 96, 0, 10));
/// The pod address range; node N (from 0) gets `10.244.N.0/24`.
pub const POD_CIDR: &str = "10.244.0.0/16";
/// The API server's port on the first node's address.
pub const APISERVER_PORT: u16 = 6443;

/// How long nodes and CoreDNS may take to become Ready (2 shared cores).
const NODES_READY: Duration = Duration::from_secs(90);
const COREDNS_READY: Duration = Duration::from_secs(90);

/// Distinguishes clusters started by one test process.
static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

/// Configures a [`RealNode`] cluster before it starts.
#[derive(Debug, Clone)]
pub struct Builder {
    nodes: usize,
    coredns: bool,
    images: Vec<PathBuf>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            nodes: 1,
            coredns: true,
            images: Vec::new(),
        }
    }
}

impl Builder {
    /// Number of real nodes, 1 or 2 (default 1). With two, pod traffic
    /// between them crosses a real veth link and routes.
    pub fn nodes(mut self, count: usize) -> Self {
        self.nodes = count.clamp(1, 2);
        self
    }

    /// Whether to deploy CoreDNS (default yes).
    pub fn coredns(mut self, on: bool) -> Self {
        self.coredns = on;
        self
    }

    /// Imports an OCI image archive into every node's containerd before the
    /// kubelets start (also possible later with [`RealNode::import_image`]).
    pub fn image(mut self, archive: impl Into<PathBuf>) -> Self {
        self.images.push(archive.into());
        self
    }

    /// Starts the cluster and waits until every node is Ready (and CoreDNS,
    /// if deployed). Blocking; safe to call from sync or async tests.
    pub fn start(self) -> Result<RealNode> {
        std::thread::scope(|s| {
            s.spawn(|| RealNode::start_inner(&self))
                .join()
                .unwrap_or_else(|_| Err(Error::setup("starting", "setup thread panicked")))
        })
    }
}

/// A running real cluster; torn down on drop.
pub struct RealNode {
    // Declared in stop order: kubelets first (they would restart containers),
    // then the control plane; the forwarder and the reaper after them.
    nodes: Vec<Node>,
    plane: ControlPlane,
    _api_forward: TcpProxy,
    reaper: Reaper,
    started_in: Duration,
    root: PathBuf,
    dir: Option<TempDir>,
}

impl std::fmt::Debug for RealNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealNode")
            .field("nodes", &self.node_names())
            .field("server", &self.plane.client_server)
            .field("dir", &self.root)
            .field("started_in", &self.started_in)
            .finish_non_exhaustive()
    }
}

impl RealNode {
    /// Starts configuring a cluster.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn start_inner(builder: &Builder) -> Result<Self> {
        let began = Instant::now();
        check_root()?;
        let id = format!(
            "{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let (dir, root) = temp_root("ward-node-")?;
        let names: Vec<String> = (0..builder.nodes)
            .map(|i| format!("node-{}", (b'a' + i as u8) as char))
            .collect();
        let leftovers = NodeLeftovers {
            netns: names.iter().map(|n| format!("ward-{id}-{n}")).collect(),
            cgroup_roots: names.iter().map(|n| format!("ward-{id}-{n}")).collect(),
            cni_prefix: format!("ward-{id}-"),
        };
        let mut reaper = Reaper::spawn(&root, dir.is_none(), true, Some(&leftovers))?;
        let mut images = vec![images::cached(&PAUSE)?, images::cached(&BUSYBOX)?];
        if builder.coredns {
            images.push(images::cached(&COREDNS)?);
        }
        images.extend(builder.images.iter().cloned());

        // Namespaces and links first, then each node's containerd with the images.
        let mut nodes = names
            .iter()
            .enumerate()
            .map(|(i, name)| Node::prepare(&root, &id, i, name, &leftovers.netns[i]))
            .collect::<Result<Vec<_>>>()?;
        node::link(&nodes)?;
        for n in &mut nodes {
            n.start_containerd(&mut reaper)?;
            for image in &images {
                n.import_image(image)?;
            }
        }

        // The control plane runs in the first node's namespace on its address;
        // the kubelets and kube-proxies start beside its controllers.
        let first = &nodes[0];
        let api_addr = SocketAddr::new(IpAddr::V4(first.ip), APISERVER_PORT);
        let api_forward = first.netns.forward(api_addr)?;
        let mut identities = vec![Identity::new("kube-proxy", "system:kube-proxy", &[])];
        identities.extend(nodes.iter().map(|n| {
            Identity::new(
                &format!("kubelet-{}", n.name),
                &format!("system:node:{}", n.name),
                &["system:nodes"],
            )
        }));
        let spec = Spec {
            netns: Some(&first.netns),
            bind: api_addr.ip(),
            ports: Ports {
                etcd_client: 2379,
                etcd_peer: 2380,
                apiserver: APISERVER_PORT,
                controller_manager: 10257,
                scheduler: 10259,
            },
            client_addr: api_forward.addr(),
            identities,
            kubelet_client: true,
            apiserver_args: Vec::new(),
        };
        let (plane, started) = ControlPlane::start(&root, &spec, &mut reaper, |plane, reaper| {
            nodes
                .iter()
                .map(|n| {
                    let kubeconfig = plane.kubeconfig(&format!("kubelet-{}", n.name));
                    let kubelet = n.start_kubelet(&kubeconfig, &plane.ca, reaper)?;
                    let proxy = n.start_kube_proxy(&plane.kubeconfig("kube-proxy"), reaper)?;
                    Ok((kubelet, proxy))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        for (n, (kubelet, proxy)) in nodes.iter_mut().zip(started) {
            n.adopt(kubelet, proxy);
        }
        let mut cluster = Self {
            nodes,
            plane,
            _api_forward: api_forward,
            reaper,
            started_in: Duration::ZERO,
            root,
            dir,
        };
        cluster.wait_nodes_ready()?;
        if builder.coredns {
            cluster.deploy_coredns()?;
        }
        cluster.started_in = began.elapsed();
        Ok(cluster)
    }

    /// Waits until every node reports Ready, failing early if a kubelet exits.
    fn wait_nodes_ready(&self) -> Result<()> {
        let rt = runtime()?;
        let client = rt.block_on(async { self.client() })?;
        let api: Api<NodeObject> = Api::all(client);
        let mut last = String::new();
        let ready = wait::until(NODES_READY, || {
            if let Some(dead) = self.nodes.iter().find(|n| !n.running()) {
                return Some(Err(dead.exited()));
            }
            let all = self
                .nodes
                .iter()
                .all(|n| match rt.block_on(api.get_opt(&n.name)) {
                    Ok(Some(node)) => {
                        let state = node_ready(&node).unwrap_or("unknown");
                        last = format!("{} Ready={state}", n.name);
                        state == "True"
                    }
                    Ok(None) => {
                        last = format!("{} not registered", n.name);
                        false
                    }
                    Err(e) => {
                        last = e.to_string();
                        false
                    }
                });
            all.then_some(Ok(()))
        });
        match ready {
            Some(result) => result,
            None => Err(Error::Timeout {
                component: "kubelet".into(),
                what: "every node Ready".into(),
                timeout: NODES_READY,
                last: format!("; last: {last}; see {}", self.root.join("logs").display()),
            }),
        }
    }

    /// Deploys CoreDNS (ServiceAccount, RBAC, Corefile, Deployment and the
    /// `kube-dns` Service at [`DNS_SERVICE_IP`]) and waits until it is available.
    fn deploy_coredns(&self) -> Result<()> {
        let rt = runtime()?;
        rt.block_on(async {
            let client = self.client()?;
            let params = PatchParams::apply("ward-testkit").force();
            for doc in dns::coredns_objects(DNS_SERVICE_IP) {
                let (api, name) = dynamic_api(&client, &doc);
                api.patch(&name, &params, &Patch::Apply(&doc))
                    .await
                    .map_err(|e| Error::api(format!("applying CoreDNS {name}"), e))?;
            }
            let deployments: Api<Deployment> = Api::namespaced(client, "kube-system");
            let started = Instant::now();
            loop {
                let available = deployments
                    .get_opt("coredns")
                    .await
                    .ok()
                    .flatten()
                    .and_then(|d| d.status)
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0);
                if available >= 1 {
                    return Ok(());
                }
                if started.elapsed() > COREDNS_READY {
                    return Err(Error::Timeout {
                        component: "coredns".into(),
                        what: "kube-system/coredns available".into(),
                        timeout: COREDNS_READY,
                        last: format!("; see {}", self.root.join("logs").display()),
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }

    /// A new admin client (call inside the tokio runtime that will use it).
    pub fn client(&self) -> Result<::kube::Client> {
        ::kube::Client::try_from(self.plane.config.clone())
            .map_err(|e| Error::api("building admin client", e))
    }

    /// The admin client configuration (the API server through its loopback forwarder).
    pub fn config(&self) -> ::kube::Config {
        self.plane.config.clone()
    }

    /// A kubeconfig for `admin` (`system:masters`) that works from the host:
    /// for kube-rs, helm or kubectl run by the test.
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.plane.admin_kubeconfig
    }

    /// An admin kubeconfig naming the API server's in-cluster address, for a
    /// process run inside the first node's namespace (e.g. a Prometheus that
    /// discovers pods).
    pub fn in_namespace_kubeconfig(&self) -> PathBuf {
        self.plane.kubeconfig("admin-in-cluster")
    }

    /// Path of the cluster CA certificate (PEM).
    pub fn ca_path(&self) -> &Path {
        &self.plane.ca
    }

    /// `https://127.0.0.1:PORT`: the API server as the test process reaches it.
    pub fn server_url(&self) -> &str {
        &self.plane.client_server
    }

    /// The API server's address inside the cluster (the first node's address).
    pub fn in_cluster_server(&self) -> &str {
        &self.plane.server
    }

    /// Names of the nodes (`node-a`, `node-b`).
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The network namespace of the first node, where the control plane runs.
    pub fn netns(&self) -> &NetNs {
        &self.nodes[0].netns
    }

    /// Forwards a free 127.0.0.1 port to `addr` inside the cluster (a pod IP,
    /// a ClusterIP, a node address), until the returned proxy is dropped.
    pub fn forward(&self, addr: SocketAddr) -> Result<TcpProxy> {
        Ok(self.netns().forward(addr)?)
    }

    /// Imports an OCI image archive into every node's containerd.
    pub fn import_image(&self, archive: &Path) -> Result<()> {
        for n in &self.nodes {
            n.import_image(archive)?;
        }
        Ok(())
    }

    /// How long [`Builder::start`] took (namespaces to CoreDNS available).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The cluster's folder (logs, PKI, kubeconfigs, every node's state).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The last `n` lines of a component's log (`kube-apiserver`,
    /// `kubelet-node-a`, `containerd-node-b`, `kube-proxy-node-a`, …).
    pub fn log_tail(&self, component: &str, n: usize) -> String {
        crate::process::tail(&self.root.join("logs").join(format!("{component}.log")), n)
    }

    /// The address of the `kubernetes` Service (as pods reach the API server).
    pub fn api_service_ip(&self) -> IpAddr {
        API_SERVICE_IP
    }
}

impl Drop for RealNode {
    fn drop(&mut self) {
        // State is thrown away: no graceful stops (a SIGTERMed API server takes
        // over 10 s). The reaper kills every server, shim and container, then
        // unmounts and removes namespaces, cgroups and the folder.
        self.reaper.finish(Duration::from_secs(60));
        if let Some(dir) = self.dir.take() {
            // Already gone unless WARD_KUBE_KEEP_DIR; never fail a test over it.
            let _ = dir.close();
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::setup("tokio runtime", e))
}

/// Network namespaces, cgroups and mounts need root.
fn check_root() -> Result<()> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    Err(Error::setup(
        "real node",
        "needs root (network namespaces, cgroups, mounts); run the tests as root, as CI does",
    ))
}

pub(crate) fn create_dir(path: &Path) -> Result<PathBuf> {
    mkdir(path)?;
    Ok(path.to_path_buf())
}

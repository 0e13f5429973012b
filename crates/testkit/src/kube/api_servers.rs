//! A control plane with several kube-apiserver instances on one etcd, as a
//! highly available cluster runs them: each instance binds and advertises its
//! own address on the same port, and their lease endpoint reconcilers keep
//! every address in the `kubernetes` Service's endpoints.
//!
//! The endpoints may not hold loopback addresses, so the cluster runs in a
//! network namespace of its own with one address per instance
//! (`10.201.0.1`, `.2`, …) on its `lo`: nothing leaves the machine and the
//! shared clusters of other tests are untouched. The test process reaches
//! each instance through a loopback forwarder; a program that must reach the
//! endpoints as a pod would (an agent under test) runs inside the namespace
//! ([`ApiServers::netns`], [`crate::netns::NetNs::wrap`]).
//!
//! ```no_run
//! # fn demo() -> Result<(), ward_testkit::kube::Error> {
//! use ward_testkit::kube::ApiServers;
//! // Three instances; the second sends HTTP/2 GOAWAY after 2% of requests.
//! let mut cluster = ApiServers::start(&[0.0, 0.02, 0.0])?;
//! let endpoints = cluster.addresses(); // 10.201.0.1:6443, …
//! cluster.kill(2)?; // the third crashes; its address stays in the endpoints for a while
//! # Ok(()) }
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::rbac::v1::PolicyRule;
use nix::sys::signal::Signal;
use tempfile::TempDir;

use super::control_plane::wait_apiserver_ready;
use super::objects::{create_service_account, poll, service_account_kubeconfig};
use super::{
    temp_root, ControlPlane, Error, Identity, Ports, Result, ServiceAccountKubeconfig, Spec,
};
use crate::netns::NetNs;
use crate::process::Process;
use crate::real_node::APISERVER_PORT;
use crate::reaper::{NodeLeftovers, Reaper};
use crate::tcp_proxy::TcpProxy;

/// The most instances one cluster runs.
const MAX_INSTANCES: usize = 8;
/// How long the `kubernetes` endpoints may take to list exactly the live
/// instances: a crashed instance's lease lives 15 s, and the others'
/// reconcilers run every 10 s (kube-apiserver's defaults).
const ENDPOINTS_READY: Duration = Duration::from_secs(60);

/// Distinguishes clusters started by one test process.
static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

/// A running control plane with several API servers; torn down on drop.
pub struct ApiServers {
    // Declared in stop order: the instances started later, then the plane.
    more: Vec<Process>,
    plane: ControlPlane,
    forwards: Vec<TcpProxy>,
    reaper: Reaper,
    netns: NetNs,
    root: PathBuf,
    dir: Option<TempDir>,
}

impl std::fmt::Debug for ApiServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServers")
            .field("addresses", &self.addresses())
            .field("netns", &self.netns.name())
            .field("dir", &self.root)
            .finish_non_exhaustive()
    }
}

/// The address of instance `i` (from 0) inside the namespace.
fn instance_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 201, 0, 1 + i as u8))
}

/// The `--goaway-chance` flag (kube-apiserver accepts 0 to 0.02).
fn goaway_flag(chance: f64) -> Vec<String> {
    if chance > 0.0 {
        vec![format!("--goaway-chance={chance}")]
    } else {
        Vec::new()
    }
}

impl ApiServers {
    /// Starts etcd, one API server per entry of `goaway_chances` (each its
    /// `--goaway-chance`, 0 for none), the controller manager and the
    /// scheduler, and waits until the `kubernetes` EndpointSlice lists every
    /// instance. Needs root (a network namespace). Blocking.
    pub fn start(goaway_chances: &[f64]) -> Result<Self> {
        if goaway_chances.is_empty() || goaway_chances.len() > MAX_INSTANCES {
            return Err(Error::setup(
                "API servers",
                format!(
                    "between 1 and {MAX_INSTANCES} instances, not {}",
                    goaway_chances.len()
                ),
            ));
        }
        std::thread::scope(|s| {
            s.spawn(|| Self::start_inner(goaway_chances))
                .join()
                .unwrap_or_else(|_| Err(Error::setup("starting", "setup thread panicked")))
        })
    }

    fn start_inner(goaway_chances: &[f64]) -> Result<Self> {
        let (dir, root) = temp_root("ward-apis-")?;
        let name = format!(
            "ward-{}-{}-apis",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let leftovers = NodeLeftovers {
            netns: vec![name.clone()],
            ..NodeLeftovers::default()
        };
        let mut reaper = Reaper::spawn(&root, dir.is_none(), true, Some(&leftovers))?;
        let mut netns = NetNs::create(&name)?;
        netns.keep_on_drop();
        for i in 0..goaway_chances.len() {
            netns.ip(&[
                "addr",
                "add",
                &format!("{}/32", instance_ip(i)),
                "dev",
                "lo",
            ])?;
        }
        let addr = |i| SocketAddr::new(instance_ip(i), APISERVER_PORT);
        let forwards = (0..goaway_chances.len())
            .map(|i| netns.forward(addr(i)))
            .collect::<crate::Result<Vec<_>>>()?;
        let spec = Spec {
            netns: Some(&netns),
            bind: instance_ip(0),
            ports: Ports {
                etcd_client: 2379,
                etcd_peer: 2380,
                apiserver: APISERVER_PORT,
                controller_manager: 10257,
                scheduler: 10259,
            },
            client_addr: forwards[0].addr(),
            identities: Vec::<Identity>::new(),
            kubelet_client: false,
            apiserver_args: goaway_flag(goaway_chances[0]),
        };
        let (plane, ()) = ControlPlane::start(&root, &spec, &mut reaper, |_, _| Ok(()))?;
        let rt = runtime()?;
        let mut more = Vec::new();
        for (i, chance) in goaway_chances.iter().enumerate().skip(1) {
            let client = {
                let _guard = rt.enter();
                pinned_client(&plane.config, &forwards[i])?
            };
            let apiserver = plane.start_apiserver(
                &root,
                &spec,
                instance_ip(i),
                &format!("kube-apiserver-{}", i + 1),
                &goaway_flag(*chance),
            )?;
            reaper.watch(&apiserver);
            wait_apiserver_ready(&rt, &client, &apiserver)?;
            more.push(apiserver);
        }
        let cluster = Self {
            more,
            plane,
            forwards,
            reaper,
            netns,
            root,
            dir,
        };
        rt.block_on(cluster.wait_endpoints(&cluster.addresses()))?;
        Ok(cluster)
    }

    /// Waits until the `default/kubernetes` EndpointSlice lists exactly `want`
    /// (up to 60 s: after a crash, until the instance's lease expires).
    pub async fn wait_endpoints(&self, want: &[SocketAddr]) -> Result<()> {
        let slices: ::kube::Api<EndpointSlice> = ::kube::Api::namespaced(self.client()?, "default");
        let mut want = want.to_vec();
        want.sort();
        poll(
            "kube-apiserver",
            &format!("the kubernetes EndpointSlice listing {want:?}"),
            ENDPOINTS_READY,
            || async {
                let slice = slices.get_opt("kubernetes").await?;
                Ok(slice.filter(|s| endpoint_addresses(s) == want).map(|_| ()))
            },
        )
        .await
    }

    /// Every instance's address (`10.201.0.N:6443`), as the endpoints list them.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        (0..self.forwards.len())
            .map(|i| SocketAddr::new(instance_ip(i), APISERVER_PORT))
            .collect()
    }

    /// Kills instance `i` (from 0) with SIGKILL, as a crash: it leaves no
    /// GOAWAY and keeps its address in the endpoints until its lease expires.
    /// Instance 0 serves [`ApiServers::client`].
    pub fn kill(&mut self, i: usize) -> Result<()> {
        let process = match i {
            0 => &mut self.plane.apiserver,
            i => self
                .more
                .get_mut(i - 1)
                .ok_or_else(|| Error::setup("killing an API server", format!("no instance {i}")))?,
        };
        process.signal(Signal::SIGKILL)?;
        Ok(())
    }

    /// The network namespace the cluster runs in (run an agent there with
    /// [`NetNs::wrap`] to reach the instances' addresses).
    pub fn netns(&self) -> &NetNs {
        &self.netns
    }

    /// Forwards a free 127.0.0.1 port to `addr` inside the namespace (an
    /// agent's endpoint), until the returned proxy is dropped.
    pub fn forward(&self, addr: SocketAddr) -> Result<TcpProxy> {
        Ok(self.netns.forward(addr)?)
    }

    /// A new admin client, through instance 0 (call inside the runtime that uses it).
    pub fn client(&self) -> Result<::kube::Client> {
        self.instance_client(0)
    }

    /// A new admin client pinned to instance `i` (inside the runtime that uses it).
    pub fn instance_client(&self, i: usize) -> Result<::kube::Client> {
        let forward = self
            .forwards
            .get(i)
            .ok_or_else(|| Error::setup("client of an API server", format!("no instance {i}")))?;
        pinned_client(&self.plane.config, forward)
    }

    /// Path of the cluster CA certificate (PEM), which signs every instance's
    /// certificate (for `kubernetes.default.svc`, not for the addresses of
    /// instances but the first).
    pub fn ca_path(&self) -> &Path {
        &self.plane.ca
    }

    /// `https://10.201.0.1:6443`: instance 0 as processes inside the namespace reach it.
    pub fn in_namespace_server(&self) -> &str {
        &self.plane.server
    }

    /// Creates ServiceAccount `ns/name` with a Role of `rules` in `ns` (as
    /// [`super::KubeCluster::create_service_account`]) and mints a kubeconfig
    /// for it: the file names [`ApiServers::in_namespace_server`] (for a
    /// process in the namespace), the config the forwarder (for the test).
    pub async fn service_account(
        &self,
        ns: &str,
        name: &str,
        rules: Vec<PolicyRule>,
    ) -> Result<ServiceAccountKubeconfig> {
        let client = self.client()?;
        create_service_account(&client, ns, name, rules).await?;
        let path = self.root.join(format!("sa-{ns}-{name}.kubeconfig"));
        let (server, ca) = (self.in_namespace_server(), self.ca_path());
        let mut account = service_account_kubeconfig(&client, &path, server, ca, ns, name).await?;
        account.config.cluster_url = self.plane.config.cluster_url.clone();
        Ok(account)
    }

    /// The cluster's folder (logs, PKI, kubeconfigs).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The last `n` lines of a component's log (`kube-apiserver`,
    /// `kube-apiserver-2`, `etcd`, …).
    pub fn log_tail(&self, component: &str, n: usize) -> String {
        crate::process::tail(&self.root.join("logs").join(format!("{component}.log")), n)
    }
}

impl Drop for ApiServers {
    fn drop(&mut self) {
        // State is thrown away: no graceful stops. The reaper kills every
        // server, removes the namespace and the folder.
        self.reaper.finish(Duration::from_secs(60));
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

/// The admin configuration, pointed at one instance's forwarder (the
/// certificate names 127.0.0.1).
fn pinned_client(config: &::kube::Config, forward: &TcpProxy) -> Result<::kube::Client> {
    let mut config = config.clone();
    config.cluster_url = format!("https://{}", forward.addr())
        .parse()
        .map_err(|e| Error::setup("forwarder URL", e))?;
    ::kube::Client::try_from(config).map_err(|e| Error::api("building a pinned client", e))
}

/// The addresses and port of an EndpointSlice, sorted.
fn endpoint_addresses(slice: &EndpointSlice) -> Vec<SocketAddr> {
    let port = slice
        .ports
        .iter()
        .flatten()
        .find_map(|p| p.port)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_default();
    let mut all: Vec<SocketAddr> = slice
        .endpoints
        .iter()
        .flat_map(|e| &e.addresses)
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    all.sort();
    all
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::setup("tokio runtime", e))
}

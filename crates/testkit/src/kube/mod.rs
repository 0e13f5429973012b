//! A real Kubernetes control plane on loopback for integration tests.
//!
//! [`KubeCluster`] starts etcd, kube-apiserver (TLS with a generated CA, static
//! token authentication, `--authorization-mode=Node,RBAC`, service-account
//! signing keys), kube-controller-manager, kube-scheduler and kwok (simulated
//! kubelets) on free 127.0.0.1 ports, all built from Go modules by
//! `scripts/kube-control-plane.sh build`. Every process is killed and the temp
//! folder removed on drop, and also when the test process dies (see
//! [`crate::process`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ward_testkit::kube::Error> {
//! use ward_testkit::kube::{KubeCluster, NodeSpec};
//! let cluster = KubeCluster::shared(); // one per test binary, started lazily
//! let ns = cluster.create_namespace("demo").await?;
//! cluster
//!     .add_nodes(&[NodeSpec::ready("demo-a"), NodeSpec::not_ready("demo-b")])
//!     .await?;
//! let ip = "127.0.0.2".parse().unwrap();
//! cluster
//!     .create_pod_on_node(&ns, "agent-a", "demo-a", &[("app", "agent")], ip, ip)
//!     .await?;
//! let client = cluster.client()?; // admin; or cluster.service_account_kubeconfig(..)
//! # Ok(()) }
//! ```

mod api_servers;
mod control_plane;
mod objects;

pub use api_servers::ApiServers;

pub use control_plane::API_SERVICE_IP;
pub(crate) use control_plane::{ControlPlane, Identity, Ports, Spec};

pub use objects::{node_ready, policy_rule, NodeSpec, ServiceAccountKubeconfig, MANUAL_SCHEDULER};

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ::kube::config::{KubeConfigOptions, Kubeconfig};
use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::net::free_port;
use crate::process::{find_binary, Process};
use crate::reaper::Reaper;

/// What can go wrong while starting or using the test control plane.
///
/// `Debug` prints the message too, so `unwrap()` in a test shows the component,
/// the reason and the log tail readably.
#[derive(thiserror::Error)]
pub enum Error {
    /// A binary built by `scripts/kube-control-plane.sh` was not found.
    #[error(
        "{component}: `{binary}` not found in {tools}/bin or on PATH; build the control plane with \
         `bash scripts/kube-control-plane.sh build` (needs Go >= 1.26; scripts/install-test-deps.sh runs it)"
    )]
    Missing {
        /// The component being started.
        component: String,
        /// The file looked for.
        binary: String,
        /// The tools folder searched ($WARD_TOOLS_DIR).
        tools: String,
    },
    /// Starting, or waiting for, one of the processes failed (names it, with its log tail).
    #[error(transparent)]
    Process(#[from] crate::Error),
    /// A request to the API server failed.
    #[error("kube-apiserver: {action}: {source}")]
    Api {
        /// What the request was for.
        action: String,
        /// The client error.
        #[source]
        source: Box<::kube::Error>,
    },
    /// Generating certificates, keys or kubeconfigs failed.
    #[error("kube cluster setup: {action}: {detail}")]
    Setup {
        /// What was being prepared.
        action: String,
        /// Why it failed.
        detail: String,
    },
    /// A condition in the cluster was not reached before its deadline.
    #[error("{component}: {what} not reached within {timeout:?}{last}")]
    Timeout {
        /// The component responsible for the condition.
        component: String,
        /// The condition waited for.
        what: String,
        /// How long it waited.
        timeout: Duration,
        /// The last observation, if any (starts with a separator).
        last: String,
    },
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn api(action: impl Into<String>, source: ::kube::Error) -> Self {
        Error::Api {
            action: action.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn setup(action: impl Into<String>, detail: impl ToString) -> Self {
        Error::Setup {
            action: action.into(),
            detail: detail.to_string(),
        }
    }
}

/// Pod IP range kwok hands out to the pods it manages.
pub const KWOK_POD_CIDR: &str = "10.244.0.0/16";
/// InternalIP kwok gives the nodes it manages unless [`NodeSpec::internal_ip`] sets one.
pub const KWOK_NODE_IP: &str = "127.0.0.1";
/// The annotation that makes kwok manage a node (its kubelet is simulated).
pub const KWOK_NODE_ANNOTATION: (&str, &str) = ("kwok.x-k8s.io/node", "fake");
/// Service ClusterIP range of the test cluster.
pub const SERVICE_CIDR: &str = "10.96.0.0/16";

/// The dynamic API for a manifest document (its `apiVersion`, `kind` and
/// `metadata.namespace`, the plural derived as the API server does for the
/// kinds ward ships), and the object's name. Panics on a document without them.
pub fn dynamic_api(
    client: &::kube::Client,
    doc: &serde_json::Value,
) -> (::kube::Api<::kube::api::DynamicObject>, String) {
    let api_version = doc["apiVersion"].as_str().expect("apiVersion");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = doc["kind"].as_str().expect("kind");
    let plural = match kind {
        "Ingress" => "ingresses".to_string(),
        "ValidatingAdmissionPolicy" => "validatingadmissionpolicies".to_string(),
        k => format!("{}s", k.to_lowercase()),
    };
    let resource = ::kube::discovery::ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural,
    };
    let api = match doc["metadata"]["namespace"].as_str() {
        Some(ns) => ::kube::Api::namespaced_with(client.clone(), ns, &resource),
        None => ::kube::Api::all_with(client.clone(), &resource),
    };
    let name = doc["metadata"]["name"].as_str().expect("metadata.name");
    (api, name.to_string())
}

/// How long the API server may take to serve a new CRD.
const ESTABLISHED: Duration = Duration::from_secs(30);

/// Installs the CustomResourceDefinitions in `files` (server-side apply: the
/// Prometheus one is too big for a client-side apply's annotation) and waits
/// until the API server serves each (condition Established); `component`
/// names them in errors.
pub async fn install_crds(
    client: &::kube::Client,
    component: &str,
    files: &[PathBuf],
) -> crate::Result<()> {
    use ::kube::api::{Patch, PatchParams};
    let failed = |what: String| crate::Error::NotReady {
        component: component.into(),
        reason: what,
        log: String::new(),
        tail: String::new(),
    };
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| crate::Error::io(component, format!("reading {}", file.display()), e))?;
        let doc: serde_json::Value = serde_yaml_ng::from_str(&text)
            .map_err(|e| failed(format!("{}: {e}", file.display())))?;
        let (api, name) = dynamic_api(client, &doc);
        api.patch(
            &name,
            &PatchParams::apply("ward-testkit").force(),
            &Patch::Apply(&doc),
        )
        .await
        .map_err(|e| failed(format!("applying {name}: {e}")))?;
        let established = async {
            loop {
                if let Ok(crd) = api.get(&name).await {
                    let conditions = crd.data["status"]["conditions"].as_array().cloned();
                    if conditions
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == "Established" && c["status"] == "True")
                    {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(ESTABLISHED, established)
            .await
            .map_err(|_| failed(format!("{name} not Established within {ESTABLISHED:?}")))?;
    }
    Ok(())
}

/// The folder `scripts/kube-control-plane.sh` builds into.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WARD_TOOLS_DIR") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("ward/tools")
}

/// A built component: `$WARD_TOOLS_DIR/bin/<name>`, else from PATH.
pub(crate) fn binary(component: &str, name: &str) -> Result<PathBuf> {
    let tools = tools_dir();
    let candidate = tools.join("bin").join(name);
    if candidate.is_file() {
        return Ok(candidate);
    }
    find_binary(component, name).map_err(|_| Error::Missing {
        component: component.to_string(),
        binary: name.to_string(),
        tools: tools.display().to_string(),
    })
}

/// kwok's default Stages (node-initialize, heartbeat, pod-ready/complete/delete).
fn kwok_stages(kwok: &Path) -> Result<PathBuf> {
    let mut candidates = vec![tools_dir().join("share/kwok/stages.yaml")];
    if let Some(p) = std::env::var_os("WARD_KWOK_STAGES") {
        candidates.insert(0, PathBuf::from(p));
    }
    if let Some(bin) = kwok.parent() {
        candidates.push(bin.join("../share/kwok/stages.yaml"));
        candidates.push(bin.join("../stages.yaml"));
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        Error::setup(
            "kwok: default Stages",
            format!(
                "{} not found; rebuild with `bash scripts/kube-control-plane.sh build kwok`",
                tools_dir().join("share/kwok/stages.yaml").display()
            ),
        )
    })
}

/// A new temp folder `/tmp/<prefix>*` for a cluster. With WARD_KUBE_KEEP_DIR
/// set it is kept after the test (logs, kubeconfigs, PKI): the returned
/// `TempDir` is then `None`.
pub(crate) fn temp_root(prefix: &str) -> Result<(Option<TempDir>, PathBuf)> {
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| Error::setup("creating temp folder", e))?;
    if std::env::var_os("WARD_KUBE_KEEP_DIR").is_some() {
        Ok((None, tmp.keep()))
    } else {
        let root = tmp.path().to_path_buf();
        Ok((Some(tmp), root))
    }
}

fn free_ports() -> Ports {
    Ports {
        etcd_client: free_port(),
        etcd_peer: free_port(),
        apiserver: free_port(),
        controller_manager: free_port(),
        scheduler: free_port(),
    }
}

/// A running control plane on loopback; everything stops and is deleted on drop.
pub struct KubeCluster {
    // Declared first so processes stop before the folder goes.
    kwok: Process,
    plane: ControlPlane,
    reaper: Reaper,
    started_in: Duration,
    dir: Option<TempDir>,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("server", &self.plane.client_server)
            .field("admin_kubeconfig", &self.plane.admin_kubeconfig)
            .field("started_in", &self.started_in)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceLock<std::result::Result<KubeCluster, String>> = OnceLock::new();

impl KubeCluster {
    /// The cluster shared by all tests of this test binary, started on first use.
    ///
    /// Statics are never dropped: its processes stop and its folder is removed
    /// when the test process exits. Tests sharing it should use their own
    /// namespaces and node names. Panics (with the start error) if it cannot start.
    pub fn shared() -> &'static KubeCluster {
        match SHARED.get_or_init(|| Self::start().map_err(|e| e.to_string())) {
            Ok(cluster) => cluster,
            Err(e) => panic!("shared test Kubernetes cluster failed to start:\n{e}"),
        }
    }

    /// Starts a fresh control plane and waits until it serves and its controllers run.
    ///
    /// Blocking; safe to call from sync or async tests (setup runs on its own thread).
    /// Retries once with new ports if a port was taken in the meantime.
    pub fn start() -> Result<Self> {
        let run = || {
            std::thread::scope(|s| {
                s.spawn(Self::start_inner)
                    .join()
                    .unwrap_or_else(|_| Err(Error::setup("starting", "setup thread panicked")))
            })
        };
        let result = match run() {
            Err(e) if e.to_string().contains("address already in use") => run(),
            other => other,
        };
        result.map_err(|e| match e {
            Error::Process(p @ crate::Error::NotReady { .. })
                if std::env::var_os("WARD_KUBE_KEEP_DIR").is_none() =>
            {
                with_note(
                    p,
                    "the folder is gone now; WARD_KUBE_KEEP_DIR=1 keeps all logs",
                )
            }
            other => other,
        })
    }

    fn start_inner() -> Result<Self> {
        let began = Instant::now();
        let kwok_bin = binary("kwok", "kwok")?;
        let stages = kwok_stages(&kwok_bin)?;
        let (dir, root) = temp_root("ward-kube-")?;
        let mut reaper = Reaper::spawn(&root, dir.is_none(), false, None)?;
        let ports = free_ports();
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let spec = Spec {
            netns: None,
            bind: loopback,
            ports,
            client_addr: SocketAddr::new(loopback, ports.apiserver),
            identities: vec![Identity::new("kwok", "kwok", &["system:masters"])],
            kubelet_client: false,
            apiserver_args: Vec::new(),
        };
        // kwok starts with the controllers, once the API server is ready.
        let (plane, kwok) = ControlPlane::start(&root, &spec, &mut reaper, |plane, reaper| {
            let p = |p: &Path| p.display().to_string();
            let kwok = Process::spawn(
                "kwok",
                &kwok_bin,
                [
                    format!("--kubeconfig={}", p(&plane.kubeconfig("kwok"))),
                    format!("--config={}", p(&stages)),
                    format!(
                        "--manage-nodes-with-annotation-selector={}={}",
                        KWOK_NODE_ANNOTATION.0, KWOK_NODE_ANNOTATION.1
                    ),
                    format!("--cidr={KWOK_POD_CIDR}"),
                    format!("--node-ip={KWOK_NODE_IP}"),
                ],
                &root.join("logs/kwok.log"),
            )?;
            reaper.watch(&kwok);
            Ok(kwok)
        })?;
        if !server_alive(&kwok) {
            return Err(kwok.not_ready("kwok exited during start").into());
        }
        Ok(Self {
            kwok,
            plane,
            reaper,
            started_in: began.elapsed(),
            dir,
        })
    }

    /// `https://127.0.0.1:PORT` of the API server.
    pub fn server_url(&self) -> &str {
        &self.plane.client_server
    }

    /// Path of a kubeconfig for `admin` (group `system:masters`), current context set.
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.plane.admin_kubeconfig
    }

    /// Path of the cluster CA certificate (PEM), which also signs the API server's certificate.
    pub fn ca_path(&self) -> &Path {
        &self.plane.ca
    }

    /// The admin client configuration.
    pub fn config(&self) -> ::kube::Config {
        self.plane.config.clone()
    }

    /// A new admin client (call inside the tokio runtime that will use it).
    pub fn client(&self) -> Result<::kube::Client> {
        ::kube::Client::try_from(self.plane.config.clone())
            .map_err(|e| Error::api("building admin client", e))
    }

    /// How long [`KubeCluster::start`] took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Ports of etcd (client), kube-apiserver, kube-controller-manager and kube-scheduler.
    pub fn ports(&self) -> [(&'static str, u16); 4] {
        let ports = &self.plane.ports;
        [
            ("etcd", ports.etcd_client),
            ("kube-apiserver", ports.apiserver),
            ("kube-controller-manager", ports.controller_manager),
            ("kube-scheduler", ports.scheduler),
        ]
    }

    /// Process ids of etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = self.plane.pids();
        pids.push(self.kwok.pid());
        pids
    }

    /// The cluster's temp folder (kubeconfigs, PKI, logs, etcd data).
    pub fn dir(&self) -> &Path {
        self.plane
            .admin_kubeconfig
            .parent()
            .unwrap_or(Path::new("/"))
    }

    /// The last `n` lines of a component's log (`etcd`, `kube-apiserver`, `kwok`, …).
    pub fn log_tail(&self, component: &str, n: usize) -> String {
        crate::process::tail(&self.dir().join("logs").join(format!("{component}.log")), n)
    }
}

impl Drop for KubeCluster {
    fn drop(&mut self) {
        // Signal everyone first so they shut down in parallel, then reap in
        // reverse start order; the folder goes last.
        let mut processes = self.plane.processes_mut();
        processes.insert(0, &mut self.kwok);
        for p in &processes {
            let _ = p.signal(Signal::SIGTERM);
        }
        for p in processes {
            p.stop(Duration::from_secs(5));
        }
        self.reaper.detach();
        drop(self.dir.take());
    }
}

/// True while the server process runs (a zombie counts as exited).
pub(crate) fn server_alive(process: &Process) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", process.pid())) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// Waits until `ready`, failing at once (with the log tail) if the server exits.
pub(crate) fn wait_alive(
    process: &Process,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> std::result::Result<(), crate::Error> {
    let outcome = crate::wait::until(timeout, || {
        if !server_alive(process) {
            return Some(false);
        }
        ready().then_some(true)
    });
    match outcome {
        Some(true) => Ok(()),
        Some(false) => Err(process.not_ready("exited before it was ready")),
        None => Err(process.not_ready(format!("not ready after {timeout:?}"))),
    }
}

/// Reads a kubeconfig file into a client configuration.
pub(crate) async fn config_from_file(path: &Path) -> Result<::kube::Config> {
    let kc = Kubeconfig::read_from(path)
        .map_err(|e| Error::setup(format!("reading {}", path.display()), e))?;
    ::kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::setup(format!("loading {}", path.display()), e))
}

/// A kubeconfig (JSON, which every client reads as YAML) with a bearer token.
pub(crate) fn kubeconfig_json(
    server: &str,
    ca: &Path,
    user: &str,
    token: &str,
    namespace: &str,
) -> String {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "ward-test", "cluster": {
            "server": server,
            "certificate-authority": ca.display().to_string(),
        }}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "ward-test", "context": {
            "cluster": "ward-test", "user": user, "namespace": namespace,
        }}],
        "current-context": "ward-test",
    })
    .to_string()
}

/// 32 hex characters from the kernel's random source.
pub(crate) fn random_token() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::setup("reading /dev/urandom for a token", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub(crate) fn write(path: &Path, text: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::setup(format!("writing {}", path.display()), e))
}

pub(crate) fn mkdir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path)
        .map_err(|e| Error::setup(format!("creating {}", path.display()), e))
}

/// Adds a note to a process error's reason.
pub(crate) fn with_note(e: crate::Error, note: &str) -> Error {
    match e {
        crate::Error::NotReady {
            component,
            reason,
            log,
            tail,
        } => Error::Process(crate::Error::NotReady {
            component,
            reason: format!("{reason} ({note})"),
            log,
            tail,
        }),
        other => Error::Process(other),
    }
}

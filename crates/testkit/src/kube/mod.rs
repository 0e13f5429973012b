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

mod objects;

pub use objects::{node_ready, NodeSpec, ServiceAccountKubeconfig, MANUAL_SCHEDULER};

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ::kube::config::{KubeConfigOptions, Kubeconfig};
use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::net::{accepts, free_port, http_get};
use crate::process::{find_binary, Process};
use crate::tls::TestCa;

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
    fn api(action: impl Into<String>, source: ::kube::Error) -> Self {
        Error::Api {
            action: action.into(),
            source: Box::new(source),
        }
    }

    fn setup(action: impl Into<String>, detail: impl ToString) -> Self {
        Error::Setup {
            action: action.into(),
            detail: detail.to_string(),
        }
    }
}

/// Deadlines for starting the control plane (generous: 2 shared cores).
const ETCD_READY: Duration = Duration::from_secs(30);
const APISERVER_READY: Duration = Duration::from_secs(90);
const CONTROLLERS_READY: Duration = Duration::from_secs(60);

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

fn binary(component: &str, name: &str) -> Result<PathBuf> {
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

/// Free ports for one cluster.
struct Ports {
    etcd_client: u16,
    etcd_peer: u16,
    apiserver: u16,
    controller_manager: u16,
    scheduler: u16,
}

impl Ports {
    fn pick() -> Self {
        Self {
            etcd_client: free_port(),
            etcd_peer: free_port(),
            apiserver: free_port(),
            controller_manager: free_port(),
            scheduler: free_port(),
        }
    }
}

/// A running control plane on loopback; everything stops and is deleted on drop.
pub struct KubeCluster {
    // Declared first so processes stop before the folder goes.
    processes: Vec<Process>,
    reaper: Option<ChildStdin>,
    server: String,
    admin_kubeconfig: PathBuf,
    ca: PathBuf,
    config: ::kube::Config,
    ports: Ports,
    started_in: Duration,
    dir: Option<TempDir>,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("server", &self.server)
            .field("admin_kubeconfig", &self.admin_kubeconfig)
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
        let etcd_bin = binary("etcd", "etcd")?;
        let apiserver_bin = binary("kube-apiserver", "kube-apiserver")?;
        let kcm_bin = binary("kube-controller-manager", "kube-controller-manager")?;
        let scheduler_bin = binary("kube-scheduler", "kube-scheduler")?;
        let kwok_bin = binary("kwok", "kwok")?;
        let stages = kwok_stages(&kwok_bin)?;

        let tmp = tempfile::Builder::new()
            .prefix("ward-kube-")
            .tempdir()
            .map_err(|e| Error::setup("creating temp folder", e))?;
        // WARD_KUBE_KEEP_DIR=1 keeps the folder (logs, kubeconfigs) for debugging.
        let keep = std::env::var_os("WARD_KUBE_KEEP_DIR").is_some();
        let (dir, root) = if keep {
            (None, tmp.keep())
        } else {
            let root = tmp.path().to_path_buf();
            (Some(tmp), root)
        };
        let mut reaper = Reaper::spawn(&root, keep)?;
        let ports = Ports::pick();
        let server = format!("https://127.0.0.1:{}", ports.apiserver);

        // PKI: a CA, the API server's serving cert, the service-account key pair.
        let pki = root.join("pki");
        mkdir(&pki)?;
        let ca = TestCa::new("ward-testkit-kubernetes-ca", &pki)?;
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let service_ip = IpAddr::from([10, 96, 0, 1]);
        let serving = ca.issue(
            "apiserver",
            &[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            &[loopback, service_ip],
        )?;
        let sa_key =
            rcgen::KeyPair::generate().map_err(|e| Error::setup("service-account key", e))?;
        let sa_private = pki.join("sa.key");
        let sa_public = pki.join("sa.pub");
        write(&sa_private, sa_key.serialize_pem())?;
        write(&sa_public, sa_key.public_key_pem())?;

        // Static tokens. admin, kwok and kube-controller-manager are in system:masters:
        // per-controller ServiceAccount credentials (what kubeadm does) cost ~150 ms
        // per controller at start, ~4 s in all. The scheduler uses its bootstrap role.
        let admin_token = random_token()?;
        let kcm_token = random_token()?;
        let scheduler_token = random_token()?;
        let kwok_token = random_token()?;
        let tokens = root.join("tokens.csv");
        write(
            &tokens,
            format!(
                "{admin_token},admin,uid-admin,\"system:masters\"\n\
                 {kcm_token},system:kube-controller-manager,uid-kcm,\"system:masters\"\n\
                 {scheduler_token},system:kube-scheduler,uid-scheduler\n\
                 {kwok_token},kwok,uid-kwok,\"system:masters\"\n"
            ),
        )?;
        let ca_path = ca.ca_path();
        let kubeconfig = |name: &str, user: &str, token: &str| -> Result<PathBuf> {
            let path = root.join(format!("{name}.kubeconfig"));
            write(
                &path,
                kubeconfig_json(&server, &ca_path, user, token, "default"),
            )?;
            Ok(path)
        };
        let admin_kubeconfig = kubeconfig("admin", "admin", &admin_token)?;
        let kcm_kubeconfig = kubeconfig("controller-manager", "kcm", &kcm_token)?;
        let scheduler_kubeconfig = kubeconfig("scheduler", "scheduler", &scheduler_token)?;
        let kwok_kubeconfig = kubeconfig("kwok", "kwok", &kwok_token)?;
        let logs = root.join("logs");
        mkdir(&logs)?;

        let mut processes = Vec::new();

        // etcd
        let etcd_data = root.join("etcd");
        let etcd_client = format!("http://127.0.0.1:{}", ports.etcd_client);
        let etcd_peer = format!("http://127.0.0.1:{}", ports.etcd_peer);
        let etcd = Process::spawn(
            "etcd",
            &etcd_bin,
            [
                "--name=ward".to_string(),
                format!("--data-dir={}", etcd_data.display()),
                format!("--listen-client-urls={etcd_client}"),
                format!("--advertise-client-urls={etcd_client}"),
                format!("--listen-peer-urls={etcd_peer}"),
                format!("--initial-advertise-peer-urls={etcd_peer}"),
                format!("--initial-cluster=ward={etcd_peer}"),
                "--unsafe-no-fsync=true".into(),
                "--log-level=warn".into(),
            ],
            &logs.join("etcd.log"),
        )?;
        reaper.watch(&etcd);
        let etcd_addr = SocketAddr::from((loopback, ports.etcd_client));
        wait_alive(&etcd, ETCD_READY, || {
            http_get(etcd_addr, "/health").is_some_and(|r| r.status == 200)
        })?;
        processes.push(etcd);

        // kube-apiserver
        let p = |p: &Path| p.display().to_string();
        let apiserver = Process::spawn(
            "kube-apiserver",
            &apiserver_bin,
            [
                format!("--etcd-servers={etcd_client}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={}", ports.apiserver),
                format!("--cert-dir={}", p(&root.join("apiserver-certs"))),
                format!("--tls-cert-file={}", p(&serving.cert)),
                format!("--tls-private-key-file={}", p(&serving.key)),
                format!("--client-ca-file={}", p(&ca_path)),
                format!("--token-auth-file={}", p(&tokens)),
                "--authorization-mode=Node,RBAC".into(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                format!("--service-account-key-file={}", p(&sa_public)),
                format!("--service-account-signing-key-file={}", p(&sa_private)),
                format!("--service-cluster-ip-range={SERVICE_CIDR}"),
                // The "kubernetes" Endpoints may not hold a loopback address.
                "--endpoint-reconciler-type=none".into(),
                "--allow-privileged=true".into(),
                "--profiling=false".into(),
                "--enable-priority-and-fairness=false".into(),
                "--event-ttl=10m".into(),
            ],
            &logs.join("kube-apiserver.log"),
        )?;
        reaper.watch(&apiserver);

        // Everything async runs on a runtime private to this setup thread.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::setup("tokio runtime", e))?;
        let config = rt
            .block_on(config_from_file(&admin_kubeconfig))
            .map_err(|e| apiserver.not_ready(e.to_string()))?;
        let client = {
            let _guard = rt.enter();
            ::kube::Client::try_from(config.clone())
                .map_err(|e| Error::api("building admin client", e))?
        };
        let mut last = String::new();
        let wait = wait_alive(&apiserver, APISERVER_READY, || {
            let req = http::Request::get("/readyz").body(Vec::new());
            let Ok(req) = req else { return false };
            match rt.block_on(client.request_text(req)) {
                Ok(body) => body.trim() == "ok",
                Err(e) => {
                    last = e.to_string();
                    false
                }
            }
        });
        if let Err(e) = wait {
            return Err(if last.is_empty() {
                e.into()
            } else {
                with_note(e, &format!("last /readyz answer: {last}"))
            });
        }
        processes.push(apiserver);

        // Controllers and kwok start together once the API server is ready.
        let kcm = Process::spawn(
            "kube-controller-manager",
            &kcm_bin,
            [
                format!("--kubeconfig={}", p(&kcm_kubeconfig)),
                format!("--authentication-kubeconfig={}", p(&kcm_kubeconfig)),
                format!("--authorization-kubeconfig={}", p(&kcm_kubeconfig)),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={}", ports.controller_manager),
                format!("--cert-dir={}", p(&root.join("kcm-certs"))),
                format!("--service-account-private-key-file={}", p(&sa_private)),
                format!("--root-ca-file={}", p(&ca_path)),
                "--use-service-account-credentials=false".into(),
                "--leader-elect=false".into(),
                // Retry PV/PVC binding every 2 s instead of 15 s (a PV created just
                // before its claim may not be in the binder's cache yet).
                "--pvclaimbinder-sync-period=2s".into(),
                format!("--service-cluster-ip-range={SERVICE_CIDR}"),
                "--profiling=false".into(),
            ],
            &logs.join("kube-controller-manager.log"),
        )?;
        reaper.watch(&kcm);
        processes.push(kcm);
        let scheduler = Process::spawn(
            "kube-scheduler",
            &scheduler_bin,
            [
                format!("--kubeconfig={}", p(&scheduler_kubeconfig)),
                format!("--authentication-kubeconfig={}", p(&scheduler_kubeconfig)),
                format!("--authorization-kubeconfig={}", p(&scheduler_kubeconfig)),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={}", ports.scheduler),
                format!("--cert-dir={}", p(&root.join("scheduler-certs"))),
                "--leader-elect=false".into(),
                "--profiling=false".into(),
            ],
            &logs.join("kube-scheduler.log"),
        )?;
        reaper.watch(&scheduler);
        processes.push(scheduler);
        let kwok = Process::spawn(
            "kwok",
            &kwok_bin,
            [
                format!("--kubeconfig={}", p(&kwok_kubeconfig)),
                format!("--config={}", p(&stages)),
                format!(
                    "--manage-nodes-with-annotation-selector={}={}",
                    KWOK_NODE_ANNOTATION.0, KWOK_NODE_ANNOTATION.1
                ),
                format!("--cidr={KWOK_POD_CIDR}"),
                format!("--node-ip={KWOK_NODE_IP}"),
            ],
            &logs.join("kwok.log"),
        )?;
        reaper.watch(&kwok);
        processes.push(kwok);

        // Ready when: both controllers serve, the service-account controller has
        // made `default/default`, and kwok is still alive.
        let deadline = Instant::now() + CONTROLLERS_READY;
        for (i, port) in [(2, ports.controller_manager), (3, ports.scheduler)] {
            let addr = SocketAddr::from((loopback, port));
            let left = deadline.saturating_duration_since(Instant::now());
            wait_alive(&processes[i], left, || accepts(addr))?;
        }
        let sa_api: ::kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
            ::kube::Api::namespaced(client.clone(), "default");
        let left = deadline.saturating_duration_since(Instant::now());
        wait_alive(&processes[2], left, || {
            matches!(rt.block_on(sa_api.get_opt("default")), Ok(Some(_)))
        })?;
        if !server_alive(&processes[4]) {
            return Err(processes[4].not_ready("kwok exited during start").into());
        }
        drop(client);
        drop(rt);

        Ok(Self {
            processes,
            reaper: reaper.stdin,
            server,
            admin_kubeconfig,
            ca: ca_path,
            config,
            ports,
            started_in: began.elapsed(),
            dir,
        })
    }

    /// `https://127.0.0.1:PORT` of the API server.
    pub fn server_url(&self) -> &str {
        &self.server
    }

    /// Path of a kubeconfig for `admin` (group `system:masters`), current context set.
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// Path of the cluster CA certificate (PEM), which also signs the API server's certificate.
    pub fn ca_path(&self) -> &Path {
        &self.ca
    }

    /// The admin client configuration.
    pub fn config(&self) -> ::kube::Config {
        self.config.clone()
    }

    /// A new admin client (call inside the tokio runtime that will use it).
    pub fn client(&self) -> Result<::kube::Client> {
        ::kube::Client::try_from(self.config.clone())
            .map_err(|e| Error::api("building admin client", e))
    }

    /// How long [`KubeCluster::start`] took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Ports of etcd (client), kube-apiserver, kube-controller-manager and kube-scheduler.
    pub fn ports(&self) -> [(&'static str, u16); 4] {
        [
            ("etcd", self.ports.etcd_client),
            ("kube-apiserver", self.ports.apiserver),
            ("kube-controller-manager", self.ports.controller_manager),
            ("kube-scheduler", self.ports.scheduler),
        ]
    }

    /// Process ids of etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
    pub fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(Process::pid).collect()
    }

    /// The cluster's temp folder (kubeconfigs, PKI, logs, etcd data).
    pub fn dir(&self) -> &Path {
        self.admin_kubeconfig.parent().unwrap_or(Path::new("/"))
    }

    /// The last `n` lines of a component's log (`etcd`, `kube-apiserver`, `kwok`, …).
    pub fn log_tail(&self, component: &str, n: usize) -> String {
        crate::process::tail(&self.dir().join("logs").join(format!("{component}.log")), n)
    }
}

impl Drop for KubeCluster {
    fn drop(&mut self) {
        // Signal everyone first so they shut down in parallel, then reap in reverse order.
        for p in self.processes.iter().rev() {
            let _ = p.signal(Signal::SIGTERM);
        }
        while let Some(p) = self.processes.pop() {
            drop(p);
        }
        drop(self.reaper.take());
        drop(self.dir.take());
    }
}

/// A shell that removes the cluster folder once this process is gone (even after
/// SIGKILL, when no destructor runs). It reads server pids from its stdin; when
/// stdin closes it waits for those servers to exit (at most ~10 s each) and
/// deletes the folder.
struct Reaper {
    stdin: Option<ChildStdin>,
}

impl Reaper {
    fn spawn(root: &Path, keep: bool) -> Result<Self> {
        if keep {
            return Ok(Self { stdin: None });
        }
        const SCRIPT: &str = r#"pids=""
while read -r p; do pids="$pids $p"; done
for p in $pids; do
  i=0
  while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
done
rm -rf "$1""#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("ward-kube-reaper")
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::setup("spawning the temp-folder reaper", e))?;
        Ok(Self {
            stdin: child.stdin.take(),
        })
    }

    /// Tells the reaper to wait for `process` before deleting the folder.
    fn watch(&mut self, process: &Process) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{}", process.pid());
        }
    }
}

/// True while the server process runs (a zombie counts as exited).
fn server_alive(process: &Process) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", process.pid())) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// Waits until `ready`, failing at once (with the log tail) if the server exits.
fn wait_alive(
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
fn random_token() -> Result<String> {
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

fn mkdir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path)
        .map_err(|e| Error::setup(format!("creating {}", path.display()), e))
}

/// Adds a note to a process error's reason.
fn with_note(e: crate::Error, note: &str) -> Error {
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

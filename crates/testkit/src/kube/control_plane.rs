//! The control plane both test clusters run: etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler, started in named steps.
//!
//! [`super::KubeCluster`] runs it on free 127.0.0.1 ports of the host with kwok
//! beside it; [`crate::real_node::RealNode`] runs it inside the node's network
//! namespace on the node's address, with real kubelets beside it.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::net::{accepts, http_get};
use crate::netns::NetNs;
use crate::process::Process;
use crate::reaper::Reaper;
use crate::tls::TestCa;

use super::{
    binary, config_from_file, kubeconfig_json, mkdir, random_token, wait_alive, with_note, write,
    Error, Result, SERVICE_CIDR,
};

/// Deadlines for starting the control plane (generous: 2 shared cores).
const ETCD_READY: Duration = Duration::from_secs(30);
const APISERVER_READY: Duration = Duration::from_secs(90);
const CONTROLLERS_READY: Duration = Duration::from_secs(60);

/// The ClusterIP of the `kubernetes` Service (first address of [`SERVICE_CIDR`]).
pub const API_SERVICE_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 96, 0, 1));

/// A user with a static token, and the kubeconfig written for it.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// Stem of its kubeconfig file (`<stem>.kubeconfig`).
    pub stem: String,
    /// User name.
    pub user: String,
    /// Groups (e.g. `system:masters`, `system:nodes`).
    pub groups: Vec<String>,
}

impl Identity {
    pub(crate) fn new(stem: &str, user: &str, groups: &[&str]) -> Self {
        Self {
            stem: stem.into(),
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// Ports of one control plane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    pub etcd_client: u16,
    pub etcd_peer: u16,
    pub apiserver: u16,
    pub controller_manager: u16,
    pub scheduler: u16,
}

/// Where and how a control plane runs.
pub(crate) struct Spec<'a> {
    /// The network namespace the servers run in (`None`: the host's).
    pub netns: Option<&'a NetNs>,
    /// Address the API server binds and advertises; etcd and the controllers
    /// bind 127.0.0.1 of the same namespace.
    pub bind: IpAddr,
    pub ports: Ports,
    /// How the test process reaches the API server (the bind address, or a
    /// forwarder into the namespace); the admin kubeconfig names it.
    pub client_addr: SocketAddr,
    /// Users besides admin, the controller manager and the scheduler.
    pub identities: Vec<Identity>,
    /// Gives the API server a client certificate for the kubelets' API (logs,
    /// exec, port-forward, stats) and makes it reach them by InternalIP.
    pub kubelet_client: bool,
    /// Flags added to the first API server's (not to those started later).
    pub apiserver_args: Vec<String>,
}

/// A started control plane; its processes stop when it is dropped.
pub(crate) struct ControlPlane {
    // Declared in stop order.
    pub scheduler: Process,
    pub controller_manager: Process,
    pub apiserver: Process,
    pub etcd: Process,
    /// `https://<bind>:<port>`, as components in its namespace reach it.
    pub server: String,
    /// `https://<client_addr>`, as the test process reaches it.
    pub client_server: String,
    pub ca: PathBuf,
    /// Admin kubeconfig for the test process.
    pub admin_kubeconfig: PathBuf,
    pub config: ::kube::Config,
    pub ports: Ports,
    pki: Pki,
}

/// Certificates, keys, tokens and kubeconfigs of one control plane.
struct Pki {
    ca: TestCa,
    serving: crate::tls::IssuedCert,
    kubelet_client: crate::tls::IssuedCert,
    sa_private: PathBuf,
    sa_public: PathBuf,
    tokens: PathBuf,
    admin_kubeconfig: PathBuf,
}

impl Pki {
    /// Generates the CA, the API server's certificate (for the bind address,
    /// loopback and the Service IP), the service-account keys and one token
    /// and kubeconfig (`<stem>.kubeconfig`, in-namespace URL) per identity.
    fn write(root: &Path, spec: &Spec, server: &str, client_server: &str) -> Result<Self> {
        let pki = root.join("pki");
        mkdir(&pki)?;
        let ca = TestCa::new("ward-testkit-kubernetes-ca", &pki)?;
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let mut ips = vec![loopback, API_SERVICE_IP];
        if spec.bind != loopback {
            ips.push(spec.bind);
        }
        let serving = ca.issue(
            "apiserver",
            &[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            &ips,
        )?;
        let kubelet_client = ca.issue_client(
            "apiserver-kubelet-client",
            "kube-apiserver",
            "system:masters",
        )?;
        let sa_key =
            rcgen::KeyPair::generate().map_err(|e| Error::setup("service-account key", e))?;
        let sa_private = pki.join("sa.key");
        let sa_public = pki.join("sa.pub");
        write(&sa_private, sa_key.serialize_pem())?;
        write(&sa_public, sa_key.public_key_pem())?;

        // admin and kube-controller-manager are in system:masters: per-controller
        // ServiceAccount credentials (what kubeadm does) cost ~150 ms per
        // controller at start, ~4 s in all. The scheduler uses its bootstrap role.
        let mut identities = vec![
            Identity::new("admin", "admin", &["system:masters"]),
            Identity::new(
                "controller-manager",
                "system:kube-controller-manager",
                &["system:masters"],
            ),
            Identity::new("scheduler", "system:kube-scheduler", &[]),
        ];
        identities.extend(spec.identities.iter().cloned());
        let mut csv = String::new();
        for id in &identities {
            let token = random_token()?;
            csv.push_str(&format!(
                "{token},{},uid-{},\"{}\"\n",
                id.user,
                id.stem,
                id.groups.join(",")
            ));
            // The admin kubeconfig is for the test process; the others for components.
            let url = if id.stem == "admin" {
                client_server
            } else {
                server
            };
            write(
                &root.join(format!("{}.kubeconfig", id.stem)),
                kubeconfig_json(url, &ca.ca_path(), &id.user, &token, "default"),
            )?;
            if id.stem == "admin" {
                // Components in the namespace that act as admin (e.g. helm run there).
                write(
                    &root.join("admin-in-cluster.kubeconfig"),
                    kubeconfig_json(server, &ca.ca_path(), &id.user, &token, "default"),
                )?;
            }
        }
        let tokens = pki.join("tokens.csv");
        write(&tokens, csv)?;
        Ok(Self {
            admin_kubeconfig: root.join("admin.kubeconfig"),
            ca,
            serving,
            kubelet_client,
            sa_private,
            sa_public,
            tokens,
        })
    }
}

impl ControlPlane {
    /// Starts etcd, then the API server (waiting for `/readyz`), then the
    /// controller manager and the scheduler, and waits until both serve and the
    /// `default/default` ServiceAccount exists. `also` is called once the API
    /// server is ready, to start what runs beside the controllers (kwok,
    /// kubelets) in parallel with them; what it returns comes back with the plane.
    pub(crate) fn start<T>(
        root: &Path,
        spec: &Spec,
        reaper: &mut Reaper,
        also: impl FnOnce(&ControlPlane, &mut Reaper) -> Result<T>,
    ) -> Result<(Self, T)> {
        let server = format!(
            "https://{}",
            SocketAddr::new(spec.bind, spec.ports.apiserver)
        );
        let client_server = format!("https://{}", spec.client_addr);
        let pki = Pki::write(root, spec, &server, &client_server)?;
        let logs = root.join("logs");
        mkdir(&logs)?;

        let etcd = start_etcd(root, spec, &logs)?;
        reaper.watch(&etcd);
        let apiserver = start_apiserver(
            root,
            spec,
            &pki,
            spec.bind,
            "kube-apiserver",
            &spec.apiserver_args,
        )?;
        reaper.watch(&apiserver);

        // Everything async runs on a runtime private to this setup thread.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::setup("tokio runtime", e))?;
        let config = rt
            .block_on(config_from_file(&pki.admin_kubeconfig))
            .map_err(|e| apiserver.not_ready(e.to_string()))?;
        let client = {
            let _guard = rt.enter();
            ::kube::Client::try_from(config.clone())
                .map_err(|e| Error::api("building admin client", e))?
        };
        wait_apiserver_ready(&rt, &client, &apiserver)?;

        let root_str = |p: &Path| p.display().to_string();
        let kubeconfig = |stem: &str| root_str(&root.join(format!("{stem}.kubeconfig")));
        let controller_manager = Process::spawn_in(
            spec.netns,
            "kube-controller-manager",
            &binary("kube-controller-manager", "kube-controller-manager")?,
            vec![
                format!("--kubeconfig={}", kubeconfig("controller-manager")),
                format!(
                    "--authentication-kubeconfig={}",
                    kubeconfig("controller-manager")
                ),
                format!(
                    "--authorization-kubeconfig={}",
                    kubeconfig("controller-manager")
                ),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={}", spec.ports.controller_manager),
                format!("--cert-dir={}", root_str(&root.join("kcm-certs"))),
                format!(
                    "--service-account-private-key-file={}",
                    root_str(&pki.sa_private)
                ),
                format!("--root-ca-file={}", root_str(&pki.ca.ca_path())),
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
        reaper.watch(&controller_manager);
        let scheduler = Process::spawn_in(
            spec.netns,
            "kube-scheduler",
            &binary("kube-scheduler", "kube-scheduler")?,
            vec![
                format!("--kubeconfig={}", kubeconfig("scheduler")),
                format!("--authentication-kubeconfig={}", kubeconfig("scheduler")),
                format!("--authorization-kubeconfig={}", kubeconfig("scheduler")),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={}", spec.ports.scheduler),
                format!("--cert-dir={}", root_str(&root.join("scheduler-certs"))),
                "--leader-elect=false".into(),
                "--profiling=false".into(),
            ],
            &logs.join("kube-scheduler.log"),
        )?;
        reaper.watch(&scheduler);
        let plane = Self {
            scheduler,
            controller_manager,
            apiserver,
            etcd,
            server,
            client_server,
            ca: pki.ca.ca_path(),
            admin_kubeconfig: pki.admin_kubeconfig.clone(),
            config,
            ports: spec.ports,
            pki,
        };
        let beside = also(&plane, reaper)?;
        plane.wait_controllers(&rt, &client, spec)?;
        Ok((plane, beside))
    }

    /// Ready when both controllers serve and the service-account controller has
    /// made `default/default`.
    fn wait_controllers(
        &self,
        rt: &tokio::runtime::Runtime,
        client: &::kube::Client,
        spec: &Spec,
    ) -> Result<()> {
        let deadline = std::time::Instant::now() + CONTROLLERS_READY;
        let left = || deadline.saturating_duration_since(std::time::Instant::now());
        let loopback = IpAddr::from([127, 0, 0, 1]);
        for (process, port) in [
            (&self.controller_manager, spec.ports.controller_manager),
            (&self.scheduler, spec.ports.scheduler),
        ] {
            let addr = SocketAddr::from((loopback, port));
            wait_alive(process, left(), || match spec.netns {
                None => accepts(addr),
                Some(ns) => ns.connect(addr, Duration::from_millis(200)).is_ok(),
            })?;
        }
        let sa_api: ::kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
            ::kube::Api::namespaced(client.clone(), "default");
        wait_alive(&self.controller_manager, left(), || {
            matches!(rt.block_on(sa_api.get_opt("default")), Ok(Some(_)))
        })?;
        Ok(())
    }

    /// Starts one more API server on the same etcd, with the same certificates
    /// and flags, bound to and advertising `bind` (same port), plus `args`;
    /// `name` names its log. Wait for it with [`wait_apiserver_ready`].
    pub(crate) fn start_apiserver(
        &self,
        root: &Path,
        spec: &Spec,
        bind: IpAddr,
        name: &str,
        args: &[String],
    ) -> Result<Process> {
        start_apiserver(root, spec, &self.pki, bind, name, args)
    }

    /// The path of `<stem>.kubeconfig` written for an identity (in-namespace URL).
    pub(crate) fn kubeconfig(&self, stem: &str) -> PathBuf {
        self.admin_kubeconfig
            .with_file_name(format!("{stem}.kubeconfig"))
    }

    /// The processes in stop order: scheduler, controller manager, API server, etcd.
    pub(crate) fn processes_mut(&mut self) -> Vec<&mut Process> {
        vec![
            &mut self.scheduler,
            &mut self.controller_manager,
            &mut self.apiserver,
            &mut self.etcd,
        ]
    }

    /// Process ids of etcd, kube-apiserver, kube-controller-manager and kube-scheduler.
    pub(crate) fn pids(&self) -> Vec<u32> {
        [
            &self.etcd,
            &self.apiserver,
            &self.controller_manager,
            &self.scheduler,
        ]
        .map(Process::pid)
        .to_vec()
    }
}

fn start_etcd(root: &Path, spec: &Spec, logs: &Path) -> Result<Process> {
    let client = format!("http://127.0.0.1:{}", spec.ports.etcd_client);
    let peer = format!("http://127.0.0.1:{}", spec.ports.etcd_peer);
    let etcd = Process::spawn_in(
        spec.netns,
        "etcd",
        &binary("etcd", "etcd")?,
        vec![
            "--name=ward".to_string(),
            format!("--data-dir={}", root.join("etcd").display()),
            format!("--listen-client-urls={client}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster=ward={peer}"),
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
        ],
        &logs.join("etcd.log"),
    )?;
    let addr = SocketAddr::from(([127, 0, 0, 1], spec.ports.etcd_client));
    wait_alive(&etcd, ETCD_READY, || match spec.netns {
        None => http_get(addr, "/health").is_some_and(|r| r.status == 200),
        // Inside a namespace: etcd accepting its client port is enough; the API
        // server's own readiness covers etcd's health.
        Some(ns) => ns.connect(addr, Duration::from_millis(200)).is_ok(),
    })?;
    Ok(etcd)
}

/// An API server (`name` names its log and certificate folder) bound to and
/// advertising `bind`, with the spec's flags and `more`.
fn start_apiserver(
    root: &Path,
    spec: &Spec,
    pki: &Pki,
    bind: IpAddr,
    name: &str,
    more: &[String],
) -> Result<Process> {
    let p = |p: &Path| p.display().to_string();
    let mut args = vec![
        format!("--etcd-servers=http://127.0.0.1:{}", spec.ports.etcd_client),
        format!("--bind-address={bind}"),
        format!("--advertise-address={bind}"),
        format!("--secure-port={}", spec.ports.apiserver),
        format!("--cert-dir={}", p(&root.join(format!("{name}-certs")))),
        format!("--tls-cert-file={}", p(&pki.serving.cert)),
        format!("--tls-private-key-file={}", p(&pki.serving.key)),
        format!("--client-ca-file={}", p(&pki.ca.ca_path())),
        format!("--token-auth-file={}", p(&pki.tokens)),
        "--authorization-mode=Node,RBAC".into(),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        format!("--service-account-key-file={}", p(&pki.sa_public)),
        format!("--service-account-signing-key-file={}", p(&pki.sa_private)),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        "--allow-privileged=true".into(),
        "--profiling=false".into(),
        "--enable-priority-and-fairness=false".into(),
        "--event-ttl=10m".into(),
    ];
    if bind.is_loopback() {
        // The "kubernetes" Endpoints may not hold a loopback address.
        args.push("--endpoint-reconciler-type=none".into());
    }
    if spec.kubelet_client {
        args.extend([
            format!(
                "--kubelet-client-certificate={}",
                p(&pki.kubelet_client.cert)
            ),
            format!("--kubelet-client-key={}", p(&pki.kubelet_client.key)),
            // The node has no resolvable host name: reach kubelets by their address.
            "--kubelet-preferred-address-types=InternalIP".into(),
        ]);
    }
    args.extend(more.iter().cloned());
    Ok(Process::spawn_in(
        spec.netns,
        name,
        &binary("kube-apiserver", "kube-apiserver")?,
        args,
        &root.join("logs").join(format!("{name}.log")),
    )?)
}

/// Waits until `/readyz` of the API server `client` reaches answers `ok`,
/// failing at once if `apiserver` exits.
pub(crate) fn wait_apiserver_ready(
    rt: &tokio::runtime::Runtime,
    client: &::kube::Client,
    apiserver: &Process,
) -> Result<()> {
    let mut last = String::new();
    let wait = wait_alive(apiserver, APISERVER_READY, || {
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
    match wait {
        Ok(()) => Ok(()),
        Err(e) if last.is_empty() => Err(e.into()),
        Err(e) => Err(with_note(e, &format!("last /readyz answer: {last}"))),
    }
}

//! One real node: its network namespace and address, containerd, the
//! kubelet and kube-proxy, with the configuration each needs on this machine.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::kube::{binary, write, Error, Result, SERVICE_CIDR};
use crate::netns::{run, NetNs};
use crate::process::Process;
use crate::reaper::Reaper;
use crate::wait;

use super::{create_dir, DNS_SERVICE_IP, POD_CIDR};

/// How long containerd may take to answer on its socket.
const CONTAINERD_READY: Duration = Duration::from_secs(20);

/// A node's namespace, folders and (once started) its processes.
pub(super) struct Node {
    // Processes first: they stop before the namespace goes.
    kube_proxy: Option<Process>,
    kubelet: Option<Process>,
    containerd: Option<Process>,
    pub name: String,
    pub ip: Ipv4Addr,
    pub netns: NetNs,
    index: usize,
    dir: PathBuf,
    logs: PathBuf,
    cgroup_root: String,
}

impl Node {
    /// Node `index` (0 = the control plane's): address `10.200.0.(2+index)`,
    /// pods from `10.244.<index>.0/24`. Creates its namespace (forwarding and
    /// bridge netfilter on), its cgroup root and its configuration files.
    pub(super) fn prepare(
        root: &Path,
        id: &str,
        index: usize,
        name: &str,
        netns_name: &str,
    ) -> Result<Self> {
        let dir = create_dir(&root.join(name))?;
        let logs = create_dir(&root.join("logs"))?;
        let netns = NetNs::create(netns_name)?;
        netns.sysctl("net.ipv4.ip_forward", "1")?;
        netns.sysctl("net.bridge.bridge-nf-call-iptables", "1")?;
        let node = Self {
            kube_proxy: None,
            kubelet: None,
            containerd: None,
            name: name.to_string(),
            ip: Ipv4Addr::new(10, 200, 0, 2 + index as u8),
            netns,
            index,
            dir,
            logs,
            cgroup_root: netns_name.to_string(),
        };
        node.create_cgroup_root()?;
        node.write_configs(id)?;
        Ok(node)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("containerd/containerd.sock")
    }

    fn pod_subnet(&self) -> String {
        format!("10.244.{}.0/24", self.index)
    }

    /// The kubelet checks that its cgroup root exists in every hierarchy
    /// (cgroup v1 here); each node has its own, so two kubelets never share
    /// `kubepods`.
    fn create_cgroup_root(&self) -> Result<()> {
        let hierarchies = std::fs::read_dir("/sys/fs/cgroup")
            .map_err(|e| Error::setup("listing /sys/fs/cgroup", e))?;
        for entry in hierarchies.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && entry.file_name() != "unified" {
                let cgroup = path.join(&self.cgroup_root);
                std::fs::create_dir_all(&cgroup)
                    .map_err(|e| Error::setup(format!("creating {}", cgroup.display()), e))?;
            }
        }
        Ok(())
    }

    fn write_configs(&self, id: &str) -> Result<()> {
        let d = |p: &str| self.dir.join(p).display().to_string();
        for sub in [
            "containerd",
            "cni/net.d",
            "cni/ipam",
            "kubelet",
            "manifests",
            "podlogs",
        ] {
            create_dir(&self.dir.join(sub))?;
        }
        // containerd: everything under the node's folder. This machine's root
        // lacks CAP_SYS_RESOURCE, so runc cannot set the kubelet's
        // oom_score_adj of -998 ("can't get final child's PID from pipe: EOF")
        // unless containerd restricts it to what is allowed.
        let containerd = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  stream_server_address = "127.0.0.1"
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{runc}"
"#,
            root = d("containerd/root"),
            state = d("containerd/state"),
            socket = self.socket().display(),
            opt = d("containerd/opt"),
            pause = super::PAUSE.reference,
            cni = d("cni/net.d"),
            runc = d("containerd/runc"),
        );
        write(&self.dir.join("containerd/config.toml"), containerd)?;
        // Pods on a bridge with addresses from the node's range; no masquerade
        // (nothing leaves the namespaces), hairpin so a pod reaches itself
        // through a Service.
        let cni = json!({
            "cniVersion": "1.0.0",
            "name": format!("ward-{id}-{}", self.name),
            "plugins": [
                {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
                 "hairpinMode": true,
                 "ipam": {"type": "host-local", "dataDir": d("cni/ipam"),
                          "ranges": [[{"subnet": self.pod_subnet()}]],
                          "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "portmap", "capabilities": {"portMappings": true}}
            ]
        });
        write(
            &self.dir.join("cni/net.d/10-ward.conflist"),
            cni.to_string(),
        )?;
        // dnsPolicy: Default pods (CoreDNS itself) get this; nothing answers there.
        write(&self.dir.join("resolv.conf"), "nameserver 127.0.0.1\n")?;
        Ok(())
    }

    /// Starts containerd in the namespace and waits until it answers.
    pub(super) fn start_containerd(&mut self, reaper: &mut Reaper) -> Result<()> {
        let containerd = Process::spawn_in(
            Some(&self.netns),
            &format!("containerd-{}", self.name),
            Path::new("containerd"),
            vec![
                "--config".into(),
                self.dir
                    .join("containerd/config.toml")
                    .display()
                    .to_string(),
            ],
            &self.logs.join(format!("containerd-{}.log", self.name)),
        )?;
        reaper.watch(&containerd);
        let socket = self.socket();
        let up = wait::until(CONTAINERD_READY, || {
            let ok = Command::new("ctr")
                .arg("-a")
                .arg(&socket)
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success());
            ok.then_some(())
        });
        if up.is_none() {
            return Err(containerd
                .not_ready(format!(
                    "no answer on {} within {CONTAINERD_READY:?}",
                    socket.display()
                ))
                .into());
        }
        self.containerd = Some(containerd);
        Ok(())
    }

    /// Imports an OCI image archive into the node's containerd (namespace `k8s.io`, the kubelet's).
    pub(super) fn import_image(&self, archive: &Path) -> Result<()> {
        run(
            "ctr",
            Command::new("ctr")
                .arg("-a")
                .arg(self.socket())
                .args(["-n", "k8s.io", "images", "import"])
                .arg(archive),
        )
        .map_err(Error::from)
    }

    /// Starts the kubelet (cgroupfs driver under the node's own cgroup root,
    /// webhook authentication and authorization, the node's address).
    pub(super) fn start_kubelet(
        &self,
        kubeconfig: &Path,
        ca: &Path,
        reaper: &mut Reaper,
    ) -> Result<Process> {
        let d = |p: &str| self.dir.join(p).display().to_string();
        let config = json!({
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": format!("/{}", self.cgroup_root),
            "failSwapOn": false,
            "containerRuntimeEndpoint": format!("unix://{}", self.socket().display()),
            "address": self.ip.to_string(),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "authentication": {
                "anonymous": {"enabled": false},
                "webhook": {"enabled": true},
                "x509": {"clientCAFile": ca.display().to_string()}
            },
            "authorization": {"mode": "Webhook"},
            "staticPodPath": d("manifests"),
            "podLogsDir": d("podlogs"),
            "volumePluginDir": d("kubelet/volume-plugins"),
            "clusterDomain": "cluster.local",
            "clusterDNS": [DNS_SERVICE_IP.to_string()],
            "resolvConf": d("resolv.conf"),
            "serializeImagePulls": false,
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi", "nodefs.available": "1%",
                "imagefs.available": "1%", "nodefs.inodesFree": "1%"
            },
            "fileCheckFrequency": "5s",
            "nodeStatusUpdateFrequency": "4s",
            // ConfigMap and Secret volumes follow their objects within seconds.
            "syncFrequency": "10s"
        });
        let path = self.dir.join("kubelet.json");
        write(&path, config.to_string())?;
        let kubelet = Process::spawn_in(
            Some(&self.netns),
            &format!("kubelet-{}", self.name),
            &binary("kubelet", "kubelet")?,
            vec![
                format!("--config={}", path.display()),
                format!("--kubeconfig={}", kubeconfig.display()),
                format!("--root-dir={}", d("kubelet")),
                format!("--cert-dir={}", d("kubelet/pki")),
                format!("--hostname-override={}", self.name),
                format!("--node-ip={}", self.ip),
            ],
            &self.logs.join(format!("kubelet-{}.log", self.name)),
        )?;
        reaper.watch(&kubelet);
        Ok(kubelet)
    }

    /// Starts kube-proxy in iptables mode. In a non-initial namespace the
    /// conntrack sysctls it would raise are not writable: the three flags set
    /// to 0 leave them alone.
    pub(super) fn start_kube_proxy(
        &self,
        kubeconfig: &Path,
        reaper: &mut Reaper,
    ) -> Result<Process> {
        let proxy = Process::spawn_in(
            Some(&self.netns),
            &format!("kube-proxy-{}", self.name),
            &binary("kube-proxy", "kube-proxy")?,
            vec![
                format!("--kubeconfig={}", kubeconfig.display()),
                format!("--hostname-override={}", self.name),
                "--proxy-mode=iptables".into(),
                format!("--cluster-cidr={POD_CIDR}"),
                "--conntrack-max-per-core=0".into(),
                "--conntrack-tcp-timeout-established=0".into(),
                "--conntrack-tcp-timeout-close-wait=0".into(),
                "--nodeport-addresses=primary".into(),
                "--metrics-bind-address=127.0.0.1:10249".into(),
                "--healthz-bind-address=127.0.0.1:10256".into(),
            ],
            &self.logs.join(format!("kube-proxy-{}.log", self.name)),
        )?;
        reaper.watch(&proxy);
        Ok(proxy)
    }

    /// Keeps the processes [`Node::start_kubelet`] and [`Node::start_kube_proxy`] returned.
    pub(super) fn adopt(&mut self, kubelet: Process, kube_proxy: Process) {
        self.kubelet = Some(kubelet);
        self.kube_proxy = Some(kube_proxy);
    }

    /// True while containerd, the kubelet and kube-proxy all run.
    pub(super) fn running(&self) -> bool {
        [&self.containerd, &self.kubelet, &self.kube_proxy]
            .into_iter()
            .flatten()
            .all(crate::kube::server_alive)
    }

    /// The error for a node whose process exited, with that process's log tail.
    pub(super) fn exited(&self) -> Error {
        [&self.containerd, &self.kubelet, &self.kube_proxy]
            .into_iter()
            .flatten()
            .find(|p| !crate::kube::server_alive(p))
            .map(|p| Error::from(p.not_ready("exited")))
            .unwrap_or_else(|| Error::setup(&self.name, "a process exited"))
    }
}

/// Joins the nodes' namespaces with a veth pair on 10.200.0.0/24 and routes
/// each node's pod range through its address; every namespace routes the
/// Service range to its link so host-network clients reach ClusterIPs
/// (kube-proxy rewrites them). With one node both ends stay in its namespace.
pub(super) fn link(nodes: &[Node]) -> Result<()> {
    let first = &nodes[0];
    match nodes.get(1) {
        None => {
            first
                .netns
                .ip(&["link", "add", "kn0", "type", "veth", "peer", "name", "kn1"])?;
            first.netns.ip(&["link", "set", "kn1", "up"])?;
        }
        Some(second) => first.netns.ip(&[
            "link",
            "add",
            "kn0",
            "type",
            "veth",
            "peer",
            "name",
            "kn0",
            "netns",
            second.netns.name(),
        ])?,
    }
    for n in nodes {
        n.netns
            .ip(&["addr", "add", &format!("{}/24", n.ip), "dev", "kn0"])?;
        n.netns.ip(&["link", "set", "kn0", "up"])?;
        n.netns.ip(&["route", "add", SERVICE_CIDR, "dev", "kn0"])?;
        for other in nodes.iter().filter(|o| o.index != n.index) {
            n.netns.ip(&[
                "route",
                "add",
                &other.pod_subnet(),
                "via",
                &other.ip.to_string(),
            ])?;
        }
    }
    Ok(())
}

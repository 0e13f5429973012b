//! prometheus-operator v0.85.0 (the only version of its root module the Go
//! module proxy serves here): its CRDs, taken from the module zip by
//! `scripts/deps.d/prometheus-operator-crds.sh` and installed in a test
//! cluster with [`install_crds`], and the operator itself
//! (`scripts/deps.d/prometheus-operator.sh` builds it), run on the host
//! against a cluster by [`Operator::start`]. The Prometheus it manages runs as
//! pods, so it needs a real node with the images
//! [`crate::real_node::PROMETHEUS`] and [`crate::real_node::CONFIG_RELOADER`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::net::{free_port, http_get};
use crate::process::{find_binary, Process};
use crate::{Error, Result};

/// The prometheus-operator version of the CRDs and of the operator.
pub const VERSION: &str = "v0.85.0";

fn missing(what: &str, script: &str, reason: String) -> Error {
    Error::NotReady {
        component: what.into(),
        reason: format!(
            "{reason}: run `bash scripts/deps.d/{script}` (scripts/install-test-deps.sh does)"
        ),
        log: String::new(),
        tail: String::new(),
    }
}

/// The CustomResourceDefinitions (ServiceMonitor, PrometheusRule,
/// Prometheus, …), sorted, or an error naming the script that fetches them.
pub fn crds() -> Result<Vec<PathBuf>> {
    let dir = crate::kube::tools_dir().join(format!("share/prometheus-operator-{VERSION}/crds"));
    let script = "prometheus-operator-crds.sh";
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| {
            missing(
                "prometheus-operator CRDs",
                script,
                format!("{}: {e}", dir.display()),
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(missing(
            "prometheus-operator CRDs",
            script,
            format!("no CRDs in {}", dir.display()),
        ));
    }
    Ok(files)
}

/// Installs every CRD and waits until the API server serves each
/// ([`crate::kube::install_crds`]).
pub async fn install_crds(client: &kube::Client) -> Result<()> {
    crate::kube::install_crds(client, "prometheus-operator CRDs", &crds()?).await
}

/// The operator, running on the host; stopped on drop.
pub struct Operator {
    process: Process,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Operator {
    /// Starts the operator with `kubeconfig`, managing the objects of
    /// `namespace` only; the Prometheus pods it creates get
    /// [`crate::real_node::CONFIG_RELOADER`] as their config reloader. Waits
    /// (up to 30 s) for its `/healthz`.
    pub fn start(kubeconfig: &Path, namespace: &str) -> Result<Self> {
        let binary = match crate::kube::tools_dir().join("bin/prometheus-operator") {
            p if p.is_file() => p,
            _ => find_binary(
                "prometheus-operator (scripts/deps.d/prometheus-operator.sh)",
                "prometheus-operator",
            )?,
        };
        let dir = tempfile::Builder::new()
            .prefix("ward-prometheus-operator-")
            .tempdir()
            .map_err(|e| Error::io("prometheus-operator", "creating temp dir", e))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let kubeconfig = kubeconfig.display().to_string();
        let mut process = Process::spawn_with(
            "prometheus-operator",
            &binary,
            [
                format!("--namespaces={namespace}"),
                format!("--web.listen-address={addr}"),
                format!(
                    "--prometheus-config-reloader={}",
                    crate::real_node::CONFIG_RELOADER.reference
                ),
                "--log-level=info".into(),
            ],
            &dir.path().join("operator.log"),
            &[("KUBECONFIG", kubeconfig.as_str())],
        )?;
        process.wait_ready(Duration::from_secs(30), || {
            http_get(addr, "/healthz").is_some_and(|r| r.status == 200)
        })?;
        Ok(Self {
            process,
            addr,
            _dir: dir,
        })
    }

    /// Address of its `/metrics` and `/healthz`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        self.process.log_tail(n)
    }
}

//! Real CoreDNS (built from `github.com/coredns/coredns` by
//! `scripts/kube-control-plane.sh`) with the `kubernetes` plugin reading the
//! testkit API server: cluster DNS for Services and headless Services on a
//! free 127.0.0.1 port (UDP and TCP). No cache, so answers follow the API at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;

use crate::kube::KubeCluster;
use crate::net::{free_port, http_get};
use crate::process::{find_binary, Process};
use crate::{Error, Result};

/// A running CoreDNS serving `cluster.local` from a [`KubeCluster`]; stopped on drop.
pub struct CoreDns {
    addr: SocketAddr,
    _process: Process,
    _dir: TempDir,
}

impl std::fmt::Debug for CoreDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreDns").field("addr", &self.addr).finish()
    }
}

fn coredns_binary() -> Result<PathBuf> {
    let cached = crate::kube::tools_dir().join("bin/coredns");
    if cached.is_file() {
        return Ok(cached);
    }
    find_binary("coredns", "coredns")
}

impl CoreDns {
    /// Starts CoreDNS for `cluster` (admin kubeconfig, domain `cluster.local`) and
    /// waits (up to 30 s) until its `ready` endpoint says the API is synced.
    pub fn start(cluster: &KubeCluster) -> Result<Self> {
        let binary = coredns_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("ward-coredns-")
            .tempdir()
            .map_err(|e| Error::io("coredns", "creating temp dir", e))?;
        let port = free_port();
        let ready = free_port();
        let corefile = format!(
            ".:{port} {{\n    bind 127.0.0.1\n    errors\n    ready 127.0.0.1:{ready}\n    \
             kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        kubeconfig {}\n        \
             pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n        ttl 5\n    }}\n}}\n",
            cluster.admin_kubeconfig().display()
        );
        let conf = dir.path().join("Corefile");
        std::fs::write(&conf, corefile).map_err(|e| Error::io("coredns", "writing Corefile", e))?;
        let mut process = Process::spawn(
            "coredns",
            &binary,
            ["-conf".to_string(), conf.display().to_string()],
            &dir.path().join("coredns.log"),
        )?;
        let ready_addr = SocketAddr::from(([127, 0, 0, 1], ready));
        process.wait_ready(Duration::from_secs(30), || {
            http_get(ready_addr, "/ready").is_some_and(|r| r.status == 200)
        })?;
        Ok(Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _process: process,
            _dir: dir,
        })
    }

    /// The DNS address (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

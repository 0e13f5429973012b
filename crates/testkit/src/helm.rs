//! The real helm v4 (built from its Go module by `scripts/deps.d/helm.sh`),
//! with its cache, config and data in a fresh folder: nothing is read from or
//! written to the user's helm setup.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::process::find_binary;
use crate::{Error, Result};

/// A helm command line, optionally bound to a cluster's kubeconfig.
#[derive(Debug)]
pub struct Helm {
    binary: PathBuf,
    home: TempDir,
    kubeconfig: Option<PathBuf>,
}

impl Helm {
    /// helm with no cluster (`helm template`, `helm lint`).
    pub fn new() -> Result<Self> {
        Ok(Self {
            binary: find_binary("helm (scripts/deps.d/helm.sh)", "helm")?,
            home: tempfile::Builder::new()
                .prefix("ward-helm-")
                .tempdir()
                .map_err(|e| Error::io("helm", "creating its home folder", e))?,
            kubeconfig: None,
        })
    }

    /// Talks to the cluster of this kubeconfig (`helm install`, `upgrade`, …).
    pub fn with_kubeconfig(mut self, path: &Path) -> Self {
        self.kubeconfig = Some(path.to_path_buf());
        self
    }

    /// Runs `helm args…` to completion.
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = Command::new(&self.binary);
        self.environment(&mut cmd)
            .args(args)
            .output()
            .map_err(|e| Error::io("helm", format!("running helm {}", args.join(" ")), e))
    }

    /// Gives `cmd` (e.g. a script that runs helm) this helm: `HELM` names the
    /// binary, helm's homes are this one's, `KUBECONFIG` is this one's or unset.
    pub fn environment<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("HELM", &self.binary)
            .env_remove("KUBECONFIG")
            .env("HELM_CACHE_HOME", self.home.path().join("cache"))
            .env("HELM_CONFIG_HOME", self.home.path().join("config"))
            .env("HELM_DATA_HOME", self.home.path().join("data"));
        if let Some(kubeconfig) = &self.kubeconfig {
            cmd.env("KUBECONFIG", kubeconfig);
        }
        cmd
    }
}

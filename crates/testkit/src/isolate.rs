//! One process's private view of the machine, for peers and tests that read
//! fixed system paths: its own `/etc/hosts` (test names such as
//! `api.ward.test` resolve to loopback, and no DNS query leaves the machine),
//! its own host name, and a ServiceAccount token at the path a pod has it.
//! The process runs in new user, mount (and UTS) namespaces (`unshare`), so no
//! root is needed and nothing of the real system changes.
//!
//! ```no_run
//! use std::path::Path;
//! let view = ward_testkit::isolate::Isolated::new()
//!     .unwrap()
//!     .hosts(&[("api.ward.test", [127, 0, 0, 1].into())])
//!     .unwrap()
//!     .hostname("nurse-0000")
//!     .service_account_token("token")
//!     .unwrap();
//! let (program, args) = view.wrap(Path::new("/usr/bin/getent"));
//! // spawn `program args… hosts api.ward.test`
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::process::find_binary;
use crate::{Error, Result};

/// Where a pod's ServiceAccount files are mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What a wrapped process sees differently; its files are removed on drop.
pub struct Isolated {
    dir: TempDir,
    unshare: PathBuf,
    hosts: bool,
    hostname: Option<String>,
    token: bool,
}

impl Isolated {
    /// A view that changes nothing yet.
    pub fn new() -> Result<Self> {
        let unshare = find_binary("unshare (util-linux)", "unshare")?;
        let dir = tempfile::Builder::new()
            .prefix("ward-isolated-")
            .tempdir()
            .map_err(|e| Error::io("isolate", "creating temp dir", e))?;
        Ok(Self {
            dir,
            unshare,
            hosts: false,
            hostname: None,
            token: false,
        })
    }

    /// `/etc/hosts` holds `localhost` and these names only.
    pub fn hosts(mut self, names: &[(&str, IpAddr)]) -> Result<Self> {
        self.hosts = true;
        self.rewrite_hosts(names)?;
        Ok(self)
    }

    /// Changes the names of [`Isolated::hosts`], also for processes already
    /// running (the file is rewritten in place, and the mount follows it).
    pub fn rewrite_hosts(&self, names: &[(&str, IpAddr)]) -> Result<()> {
        let mut text = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for (name, ip) in names {
            text.push_str(&format!("{ip} {name}\n"));
        }
        self.write("hosts", &text)
    }

    /// The host name (`os.Hostname()`, `uname -n`) is `name`.
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = Some(name.to_string());
        self
    }

    /// `token` is at [`SERVICE_ACCOUNT_DIR`]`/token` (on a private, empty `/run`).
    pub fn service_account_token(mut self, token: &str) -> Result<Self> {
        self.write("token", token)?;
        self.token = true;
        Ok(self)
    }

    fn write(&self, name: &str, text: &str) -> Result<()> {
        std::fs::write(self.dir.path().join(name), text)
            .map_err(|e| Error::io("isolate", format!("writing {name}"), e))
    }

    /// The program and leading arguments that run `program` with this view.
    /// The shell execs the program, so the pid a spawner sees is the
    /// program's own; append the program's arguments.
    pub fn wrap(&self, program: &Path) -> (PathBuf, Vec<String>) {
        let file = |name: &str| quote(&self.dir.path().join(name).display().to_string());
        let mut script = vec!["set -e".to_string()];
        if self.hosts {
            script.push(format!("mount --bind {} /etc/hosts", file("hosts")));
        }
        if let Some(name) = &self.hostname {
            script.push(format!("hostname {}", quote(name)));
        }
        if self.token {
            // A private /run (where /var/run points) to create the folder in.
            script.push("mount -t tmpfs tmpfs /var/run".into());
            script.push(format!("mkdir -p {SERVICE_ACCOUNT_DIR}"));
            script.push(format!("cp {} {SERVICE_ACCOUNT_DIR}/token", file("token")));
        }
        script.push(r#"exec "$@""#.into());
        let mut args: Vec<String> = vec![
            "--map-root-user".into(),
            "--mount".into(),
            "--propagation=private".into(),
        ];
        if self.hostname.is_some() {
            args.push("--uts".into());
        }
        args.extend([
            "sh".into(),
            "-c".into(),
            script.join("\n"),
            "isolated".into(),
            program.display().to_string(),
        ]);
        (self.unshare.clone(), args)
    }
}

/// `text` as one single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

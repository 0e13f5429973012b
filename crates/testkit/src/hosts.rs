//! Host names for one process: a private `/etc/hosts` bind-mounted in a new
//! mount namespace (`unshare`, in a user namespace so no root is needed), so
//! a program resolves test names such as `api.ward.test` to loopback without
//! a DNS query leaving the machine and without touching the real file.
//!
//! ```no_run
//! use std::path::Path;
//! let hosts = ward_testkit::hosts::Hosts::new(&[("api.ward.test", [127, 0, 0, 1].into())]).unwrap();
//! let (program, args) = hosts.wrap(Path::new("/usr/bin/getent"));
//! // spawn `program args… hosts api.ward.test`
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::process::find_binary;
use crate::{Error, Result};

/// A hosts file (`localhost` plus the given names); removed on drop.
pub struct Hosts {
    dir: TempDir,
    unshare: PathBuf,
}

impl Hosts {
    /// Writes a hosts file mapping each name to its address.
    pub fn new(names: &[(&str, IpAddr)]) -> Result<Self> {
        let unshare = find_binary("unshare (util-linux)", "unshare")?;
        let dir = tempfile::Builder::new()
            .prefix("ward-hosts-")
            .tempdir()
            .map_err(|e| Error::io("hosts", "creating temp dir", e))?;
        let mut text = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for (name, ip) in names {
            text.push_str(&format!("{ip} {name}\n"));
        }
        std::fs::write(dir.path().join("hosts"), text)
            .map_err(|e| Error::io("hosts", "writing the hosts file", e))?;
        Ok(Self { dir, unshare })
    }

    /// The program and leading arguments that run `program` with this file
    /// as its `/etc/hosts`. The shell execs the program, so the pid a spawner
    /// sees is the program's own; append the program's arguments.
    pub fn wrap(&self, program: &Path) -> (PathBuf, Vec<String>) {
        (
            self.unshare.clone(),
            vec![
                "--map-root-user".into(),
                "--mount".into(),
                "--propagation=private".into(),
                "sh".into(),
                "-c".into(),
                r#"mount --bind "$0" /etc/hosts && exec "$@""#.into(),
                self.dir.path().join("hosts").display().to_string(),
                program.display().to_string(),
            ],
        )
    }
}

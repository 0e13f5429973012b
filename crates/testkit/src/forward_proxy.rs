//! A real HTTP forward proxy on loopback (Debian's tinyproxy): plain
//! `GET http://…` requests and `CONNECT host:port` tunnels, with every
//! request it handled readable from its log. It resolves names through the
//! `/etc/hosts` of an [`Isolated`] view, so a test can use names that only
//! the proxy (and the program under test) know.
//!
//! ```no_run
//! use ward_testkit::isolate::Isolated;
//! let view = Isolated::new().unwrap().hosts(&[("api.ward.test", [127, 0, 0, 1].into())]).unwrap();
//! let proxy = ward_testkit::forward_proxy::ForwardProxy::start(&view).unwrap();
//! let url = proxy.url(); // http://127.0.0.1:PORT, for HTTP_PROXY / HTTPS_PROXY
//! let seen = proxy.requests(); // ["GET http://…/ HTTP/1.1", "CONNECT host:443 HTTP/1.1"]
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use tempfile::TempDir;

use crate::isolate::Isolated;
use crate::net::{accepts, free_port};
use crate::process::{find_binary, Process};
use crate::{Error, Result};

/// A running tinyproxy; stopped and its folder removed on drop.
pub struct ForwardProxy {
    addr: SocketAddr,
    dir: TempDir,
    _process: Process,
}

impl ForwardProxy {
    /// Starts tinyproxy on 127.0.0.1 (any method, any CONNECT port, no
    /// `Via` header), in the view `view` (its `/etc/hosts` resolves the
    /// names), and waits (up to 10 s) until it accepts connections.
    pub fn start(view: &Isolated) -> Result<Self> {
        let binary = find_binary("tinyproxy", "tinyproxy")?;
        let dir = tempfile::Builder::new()
            .prefix("ward-tinyproxy-")
            .tempdir()
            .map_err(|e| Error::io("tinyproxy", "creating temp dir", e))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        // No Allow and no ConnectPort lines: every client and every port.
        let conf = format!(
            "Port {}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Connect\nMaxClients 200\nDisableViaHeader Yes\n",
            addr.port(),
            dir.path().join("tinyproxy.log").display()
        );
        let conf_path = dir.path().join("tinyproxy.conf");
        std::fs::write(&conf_path, conf)
            .map_err(|e| Error::io("tinyproxy", "writing tinyproxy.conf", e))?;
        let (program, mut args) = view.wrap(&binary);
        args.extend(["-d".into(), "-c".into(), conf_path.display().to_string()]);
        let mut process =
            Process::spawn("tinyproxy", &program, args, &dir.path().join("stderr.log"))?;
        process.wait_ready(Duration::from_secs(10), || accepts(addr))?;
        Ok(Self {
            addr,
            dir,
            _process: process,
        })
    }

    /// `http://127.0.0.1:PORT`, as `HTTP_PROXY` and `HTTPS_PROXY` take it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request line of every request it handled, in order:
    /// `GET http://host:port/path HTTP/1.1` or `CONNECT host:port HTTP/1.1`.
    pub fn requests(&self) -> Vec<String> {
        let log =
            std::fs::read_to_string(self.dir.path().join("tinyproxy.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| {
                l.split_once("): ")
                    .filter(|_| l.contains("Request (file descriptor"))
            })
            .map(|(_, request)| request.trim().to_string())
            .collect()
    }
}

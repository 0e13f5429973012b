//! Real nginx on loopback: a plain listener, an optional TLS listener with a
//! generated CA, caller-supplied `http {}` lines and locations, and reload.
//!
//! ```no_run
//! let nginx = ward_testkit::nginx::Nginx::builder()
//!     .location("/", "return 200 'ok';")
//!     .tls(true)
//!     .start()
//!     .unwrap();
//! let url = nginx.https_url("/");
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::net::{accepts, free_port};
use crate::process::{find_binary, Process};
use crate::tls::TestCa;
use crate::{wait, Error, Result};

/// Configures an nginx before it starts.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    http_lines: Vec<String>,
    locations: Vec<(String, String)>,
    tls: bool,
    files: Vec<(String, Vec<u8>)>,
}

impl Builder {
    /// Adds a line (or block) inside `http {}`, e.g. an `upstream` block.
    pub fn http_config(mut self, lines: impl Into<String>) -> Self {
        self.http_lines.push(lines.into());
        self
    }

    /// Adds `location PATH { BODY }` to every server.
    pub fn location(mut self, path: impl Into<String>, body: impl Into<String>) -> Self {
        self.locations.push((path.into(), body.into()));
        self
    }

    /// Also listens with TLS, using a certificate from a generated CA.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// Places a file under the document root (served by `root` locations).
    pub fn file(mut self, name: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        self.files.push((name.into(), content.into()));
        self
    }

    /// Starts nginx and waits (up to 10 s) until it accepts connections.
    pub fn start(self) -> Result<Nginx> {
        let binary = find_binary("nginx", "nginx")?;
        let dir = tempfile::Builder::new()
            .prefix("ward-nginx-")
            .tempdir()
            .map_err(|e| Error::io("nginx", "creating temp dir", e))?;
        let root = dir.path().join("html");
        std::fs::create_dir_all(dir.path().join("logs"))
            .and_then(|_| std::fs::create_dir_all(&root))
            .map_err(|e| Error::io("nginx", "creating folders", e))?;
        for (name, content) in &self.files {
            std::fs::write(root.join(name), content)
                .map_err(|e| Error::io("nginx", format!("writing {name}"), e))?;
        }
        let ca = if self.tls {
            Some(TestCa::new("ward nginx test CA", dir.path())?)
        } else {
            None
        };
        let cert = ca
            .as_ref()
            .map(|ca| ca.issue_localhost("server"))
            .transpose()?;
        let http_port = free_port();
        let https_port = self.tls.then(free_port);
        let mut nginx = Nginx {
            builder: self,
            http: SocketAddr::from(([127, 0, 0, 1], http_port)),
            https: https_port.map(|p| SocketAddr::from(([127, 0, 0, 1], p))),
            ca_path: ca.as_ref().map(|c| c.ca_path()),
            cert_paths: cert.map(|c| (c.cert, c.key)),
            process: None,
            dir,
        };
        nginx.write_config()?;
        let conf = nginx.dir.path().join("nginx.conf");
        let log = nginx.dir.path().join("logs/stderr.log");
        let prefix = format!("{}/", nginx.dir.path().display());
        let mut process = Process::spawn(
            "nginx",
            &binary,
            [
                "-p",
                prefix.as_str(),
                "-c",
                &conf.display().to_string(),
                "-e",
                "logs/error.log",
            ],
            &log,
        )?;
        let addrs: Vec<SocketAddr> = std::iter::once(nginx.http).chain(nginx.https).collect();
        process.wait_ready(Duration::from_secs(10), || {
            addrs.iter().all(|a| accepts(*a))
        })?;
        nginx.process = Some(process);
        Ok(nginx)
    }
}

/// A running nginx; stopped and its folder removed on drop.
pub struct Nginx {
    builder: Builder,
    http: SocketAddr,
    https: Option<SocketAddr>,
    ca_path: Option<PathBuf>,
    cert_paths: Option<(PathBuf, PathBuf)>,
    process: Option<Process>,
    dir: TempDir,
}

impl Nginx {
    /// Starts configuring an nginx.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Address of the plain HTTP listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// Address of the TLS listener, when enabled.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// `https://localhost:PORT{path}` (the certificate names `localhost` and 127.0.0.1).
    pub fn https_url(&self, path: &str) -> String {
        let port = self.https.map(|a| a.port()).unwrap_or(0);
        format!("https://localhost:{port}{path}")
    }

    /// The generated CA certificate (PEM file), when TLS is enabled.
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    /// Path of nginx's error log.
    pub fn error_log(&self) -> PathBuf {
        self.dir.path().join("logs/error.log")
    }

    /// Path of nginx's access log.
    pub fn access_log(&self) -> PathBuf {
        self.dir.path().join("logs/access.log")
    }

    /// Contents of the error log.
    pub fn error_log_text(&self) -> String {
        std::fs::read_to_string(self.error_log()).unwrap_or_default()
    }

    /// Replaces the `http {}` lines, rewrites the config and reloads (SIGHUP),
    /// waiting until a new worker generation serves.
    pub fn reload_with_http_config(&mut self, lines: Vec<String>) -> Result<()> {
        self.builder.http_lines = lines;
        self.write_config()?;
        let before = self.worker_generation();
        let process = self
            .process
            .as_ref()
            .ok_or_else(|| Error::io("nginx", "reload", std::io::ErrorKind::NotFound.into()))?;
        process.signal(Signal::SIGHUP)?;
        let log = self.error_log();
        wait::until(Duration::from_secs(10), || {
            (count_reloads(&log) > before).then_some(())
        })
        .ok_or_else(|| process.not_ready("reload not confirmed in the error log within 10s"))
    }

    fn worker_generation(&self) -> usize {
        count_reloads(&self.error_log())
    }

    fn write_config(&mut self) -> Result<()> {
        let b = &self.builder;
        let locations: String = b
            .locations
            .iter()
            .map(|(path, body)| format!("        location {path} {{ {body} }}\n"))
            .collect();
        let mut servers = format!(
            "    server {{\n        listen {};\n        root html;\n{locations}    }}\n",
            self.http
        );
        if let (Some(addr), Some((cert, key))) = (self.https, &self.cert_paths) {
            servers.push_str(&format!(
                "    server {{\n        listen {addr} ssl http2;\n        server_name localhost;\n        ssl_certificate {};\n        ssl_certificate_key {};\n        root html;\n{locations}    }}\n",
                cert.display(),
                key.display()
            ));
        }
        let conf = format!(
            "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\npid nginx.pid;\nerror_log logs/error.log info;\nevents {{ worker_connections 4096; }}\nhttp {{\n    access_log logs/access.log;\n    client_body_temp_path tmp_body;\n    proxy_temp_path tmp_proxy;\n    fastcgi_temp_path tmp_fastcgi;\n    uwsgi_temp_path tmp_uwsgi;\n    scgi_temp_path tmp_scgi;\n    default_type text/plain;\n{}\n{servers}}}\n",
            b.http_lines.join("\n")
        );
        let path = self.dir.path().join("nginx.conf");
        std::fs::write(&path, conf).map_err(|e| Error::io("nginx", "writing nginx.conf", e))
    }
}

fn count_reloads(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|t| t.matches("reconfiguring").count())
        .unwrap_or(0)
}

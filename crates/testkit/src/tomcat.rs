//! Real Tomcat 10 (Debian `tomcat10`) on loopback: a fresh CATALINA_BASE in a
//! temp folder, one HTTP/1.1 connector on a free port with the chosen
//! `keepAliveTimeout`, and a ROOT webapp holding a static file (answers GET
//! and POST).
//!
//! ```no_run
//! use std::time::Duration;
//! let tomcat = ward_testkit::tomcat::Tomcat::builder()
//!     .keep_alive_timeout(Duration::from_secs(1))
//!     .start()
//!     .unwrap();
//! let url = tomcat.url("/index.txt");
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::net::{free_port, http_get};
use crate::process::{find_binary, Process};
use crate::{Error, Result};

/// Where Debian installs Tomcat 10.
pub const CATALINA_HOME: &str = "/usr/share/tomcat10";

/// Configures a Tomcat before it starts.
#[derive(Debug, Clone)]
pub struct Builder {
    keep_alive: Duration,
    body: String,
}

impl Builder {
    /// The connector's `keepAliveTimeout` (default 20 s, as in Debian's server.xml).
    pub fn keep_alive_timeout(mut self, d: Duration) -> Self {
        self.keep_alive = d;
        self
    }

    /// Content of `/index.txt` (default `ok\n`).
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// Starts Tomcat and waits (up to 90 s) until `/index.txt` answers 200.
    pub fn start(self) -> Result<Tomcat> {
        let java = find_binary("tomcat", "java")?;
        let home = PathBuf::from(CATALINA_HOME);
        let catalina = home.join("bin/catalina.sh");
        if !catalina.exists() {
            return Err(Error::Missing {
                component: "tomcat".into(),
                binary: catalina.display().to_string(),
            });
        }
        let dir = tempfile::Builder::new()
            .prefix("ward-tomcat-")
            .tempdir()
            .map_err(|e| Error::io("tomcat", "creating temp dir", e))?;
        let base = dir.path();
        for sub in ["conf", "logs", "temp", "work", "webapps/ROOT"] {
            std::fs::create_dir_all(base.join(sub))
                .map_err(|e| Error::io("tomcat", format!("creating {sub}"), e))?;
        }
        for file in ["web.xml", "catalina.properties", "logging.properties"] {
            let from = home.join("etc").join(file);
            std::fs::copy(&from, base.join("conf").join(file))
                .map_err(|e| Error::io("tomcat", format!("copying {}", from.display()), e))?;
        }
        let port = free_port();
        let server_xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{port}" address="127.0.0.1" protocol="HTTP/1.1"
               connectionTimeout="20000" keepAliveTimeout="{ka}"
               maxKeepAliveRequests="-1" />
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" />
    </Engine>
  </Service>
</Server>
"#,
            ka = self.keep_alive.as_millis()
        );
        write(base, "conf/server.xml", &server_xml)?;
        write(base, "webapps/ROOT/index.txt", &self.body)?;
        let log = base.join("logs/stdout.log");
        let base_s = base.display().to_string();
        let java_home = java
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().and_then(Path::parent).map(Path::to_path_buf))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let mut env = vec![
            ("CATALINA_HOME", CATALINA_HOME),
            ("CATALINA_BASE", base_s.as_str()),
            ("CATALINA_TMPDIR", base_s.as_str()),
            (
                "JAVA_OPTS",
                "-Xms32m -Xmx192m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true",
            ),
        ];
        if !java_home.is_empty() {
            env.push(("JAVA_HOME", java_home.as_str()));
        }
        let mut process = Process::spawn_with("tomcat", &catalina, ["run"], &log, &env)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        process.wait_ready(Duration::from_secs(90), || {
            http_get(addr, "/index.txt").is_some_and(|r| r.status == 200)
        })?;
        Ok(Tomcat { addr, process, dir })
    }
}

fn write(base: &Path, rel: &str, text: &str) -> Result<()> {
    std::fs::write(base.join(rel), text)
        .map_err(|e| Error::io("tomcat", format!("writing {rel}"), e))
}

/// A running Tomcat; stopped and its CATALINA_BASE removed on drop.
pub struct Tomcat {
    addr: SocketAddr,
    process: Process,
    dir: TempDir,
}

impl Tomcat {
    /// A builder with Debian's defaults (keepAliveTimeout 20 s).
    pub fn builder() -> Builder {
        Builder {
            keep_alive: Duration::from_secs(20),
            body: "ok\n".into(),
        }
    }

    /// The connector's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`; `/index.txt` is the static file.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The CATALINA_BASE folder.
    pub fn base(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of Tomcat's console log.
    pub fn log_tail(&self, n: usize) -> String {
        self.process.log_tail(n)
    }
}

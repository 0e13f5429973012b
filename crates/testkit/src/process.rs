//! A child process that cannot outlive its test.
//!
//! Each server runs under a small `sh` guardian whose stdin is a pipe from the
//! test process: when the test process exits for any reason (panic, SIGKILL,
//! normal end) the pipe closes, the guardian's `read` returns and it kills the
//! server. `Drop` does the same eagerly and waits (bounded) for the exit.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

pub use nix::sys::signal::Signal;

use nix::sys::signal;
use nix::unistd::Pid;

use crate::netns::NetNs;
use crate::wait;

/// What can go wrong while starting or talking to a test server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A binary the test needs is not installed.
    #[error("{component}: `{binary}` not found on PATH or in $WARD_TOOLS_DIR/bin; run scripts/install-test-deps.sh")]
    Missing {
        /// The server being started.
        component: String,
        /// The executable that was looked for.
        binary: String,
    },
    /// Spawning or talking to a process failed.
    #[error("{component}: {action}: {source}")]
    Io {
        /// The server concerned.
        component: String,
        /// What was being done.
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A server did not become ready before its deadline, or exited.
    #[error("{component}: {reason}\n--- last lines of {log} ---\n{tail}")]
    NotReady {
        /// The server concerned.
        component: String,
        /// Why it is considered failed.
        reason: String,
        /// Path of its log file.
        log: String,
        /// The last lines of its log.
        tail: String,
    },
}

/// Result alias for testkit operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::Io`] naming the component and the action.
    pub fn io(component: &str, action: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            component: component.to_string(),
            action: action.into(),
            source,
        }
    }
}

/// Finds an executable on PATH or in `$WARD_TOOLS_DIR/bin` (tools built from Go modules).
pub fn find_binary(component: &str, binary: &str) -> Result<PathBuf> {
    let tools = Some(crate::kube::tools_dir().join("bin"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = tools
        .into_iter()
        .chain(std::env::split_paths(&path))
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(binary);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::Missing {
        component: component.to_string(),
        binary: binary.to_string(),
    })
}

/// A running server process, killed on drop; its output goes to a log file.
#[derive(Debug)]
pub struct Process {
    component: String,
    guardian: Child,
    stdin: Option<ChildStdin>,
    pid: Pid,
    log: PathBuf,
}

impl Process {
    /// Spawns `program args…` under a guardian, logging stdout and stderr to `log`.
    pub fn spawn<I, S>(component: &str, program: &Path, args: I, log: &Path) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Self::spawn_with(component, program, args, log, &[])
    }

    /// Like [`Process::spawn`], with extra environment variables for the server.
    pub fn spawn_with<I, S>(
        component: &str,
        program: &Path,
        args: I,
        log: &Path,
        env: &[(&str, &str)],
    ) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let log_file = File::create(log)
            .map_err(|e| Error::io(component, format!("creating log {}", log.display()), e))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| Error::io(component, "duplicating log handle", e))?;
        // The guardian prints the server's pid, then waits for stdin to close.
        const GUARDIAN: &str = r#""$@" </dev/null >&3 2>&3 & child=$!
echo "$child"
trap 'kill -TERM $child 2>/dev/null' TERM INT HUP
read _ignored
kill -TERM "$child" 2>/dev/null
wait "$child""#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("exec 3>>'{}'\n{GUARDIAN}", log.display()))
            .arg("guardian")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_err)
            .envs(env.iter().copied());
        drop(log_file);
        let mut guardian = cmd
            .spawn()
            .map_err(|e| Error::io(component, format!("spawning {}", program.display()), e))?;
        let stdout = guardian.stdout.take().ok_or_else(|| {
            Error::io(
                component,
                "reading guardian",
                std::io::ErrorKind::Other.into(),
            )
        })?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| Error::io(component, "reading server pid", e))?;
        let pid: i32 = line.trim().parse().map_err(|_| Error::NotReady {
            component: component.to_string(),
            reason: format!("guardian did not report a pid (got {line:?})"),
            log: log.display().to_string(),
            tail: tail(log, 20),
        })?;
        Ok(Self {
            component: component.to_string(),
            stdin: guardian.stdin.take(),
            guardian,
            pid: Pid::from_raw(pid),
            log: log.to_path_buf(),
        })
    }

    /// Like [`Process::spawn`], on the host or inside `netns`.
    pub fn spawn_in(
        netns: Option<&NetNs>,
        component: &str,
        program: &Path,
        args: Vec<String>,
        log: &Path,
    ) -> Result<Self> {
        match netns {
            None => Self::spawn(component, program, args, log),
            Some(ns) => {
                let (nsenter, mut wrapped) = ns.wrap(program);
                wrapped.extend(args);
                Self::spawn(component, &nsenter, wrapped, log)
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Path of the server's log (stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `n` lines of the server's log.
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log, n)
    }

    /// Sends a signal to the server (e.g. SIGTERM for lameduck tests, SIGHUP to reload).
    pub fn signal(&self, sig: Signal) -> Result<()> {
        signal::kill(self.pid, sig)
            .map_err(|e| Error::io(&self.component, format!("sending {sig}"), e.into()))
    }

    /// True while the server process runs (not exited, not a zombie awaiting its guardian).
    pub fn is_running(&mut self) -> bool {
        if !matches!(self.guardian.try_wait(), Ok(None)) {
            return false;
        }
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid.as_raw())) {
            // The state follows the command name, which is in parentheses.
            Ok(stat) => !matches!(
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().next()),
                Some("Z") | Some("X") | None
            ),
            Err(_) => false,
        }
    }

    /// Builds a [`Error::NotReady`] for this process with the tail of its log.
    pub fn not_ready(&self, reason: impl Into<String>) -> Error {
        Error::NotReady {
            component: self.component.clone(),
            reason: reason.into(),
            log: self.log.display().to_string(),
            tail: self.log_tail(20),
        }
    }

    /// Waits until `ready` returns true, failing early if the process exits.
    pub fn wait_ready(&mut self, timeout: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
        let component = self.component.clone();
        let mut exited = false;
        let ok = wait::until(timeout, || {
            if !self.is_running() {
                exited = true;
                return Some(false);
            }
            ready().then_some(true)
        });
        match ok {
            Some(true) => Ok(()),
            _ if exited => Err(self.not_ready(format!("{component} exited before it was ready"))),
            _ => Err(self.not_ready(format!("not ready after {timeout:?}"))),
        }
    }

    /// Stops the server: SIGTERM, then SIGKILL after `grace`; waits for the guardian.
    pub fn stop(&mut self, grace: Duration) {
        let _ = signal::kill(self.pid, Signal::SIGTERM);
        drop(self.stdin.take());
        let guardian = &mut self.guardian;
        if wait::until(grace, || guardian.try_wait().ok().flatten()).is_none() {
            let _ = signal::kill(self.pid, Signal::SIGKILL);
            let _ = self.guardian.kill();
            let _ = self.guardian.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// The last `n` lines of a file (at most its last 64 KiB), or a note that it cannot be read.
pub fn tail(path: &Path, n: usize) -> String {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return format!("(cannot read {}: {e})", path.display()),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = String::new();
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_ok() {
        buf = String::from_utf8_lossy(&bytes).into_owned();
    }
    let lines: Vec<&str> = buf.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

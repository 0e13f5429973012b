//! Network namespaces a test creates: commands run inside one, and the test
//! process reaches addresses inside one through a loopback forwarder.
//!
//! Nothing here sends traffic anywhere but into a namespace the test made: a
//! new namespace has only `lo` until the test adds veth links to it.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use nix::sched::CloneFlags;

use crate::tcp_proxy::TcpProxy;
use crate::{Error, Result};

/// A network namespace named under `/run/netns`; deleted on drop.
pub struct NetNs {
    name: String,
    dialer: mpsc::Sender<Dial>,
    delete_on_drop: bool,
}

impl std::fmt::Debug for NetNs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetNs").field("name", &self.name).finish()
    }
}

/// A request for the thread that lives inside the namespace.
enum Dial {
    /// Open a TCP connection to the address within the timeout.
    Connect(
        SocketAddr,
        Duration,
        mpsc::Sender<std::io::Result<TcpStream>>,
    ),
    /// Bind a TCP listener on the address.
    Bind(SocketAddr, mpsc::Sender<std::io::Result<TcpListener>>),
}

impl NetNs {
    /// Creates namespace `name` (`ip netns add`) with `lo` up. Needs root.
    pub fn create(name: &str) -> Result<Self> {
        run("ip", Command::new("ip").args(["netns", "add", name]))?;
        let mut ns = Self {
            name: name.to_string(),
            dialer: mpsc::channel().0,
            delete_on_drop: true,
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        ns.dialer = spawn_dialer(&ns.path())?;
        Ok(ns)
    }

    /// Leaves the namespace in place on drop (for a reaper that removes it later).
    pub fn keep_on_drop(&mut self) {
        self.delete_on_drop = false;
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its bind mount, `/run/netns/NAME`.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// Runs `ip -n NAME ARGS…` to completion.
    pub fn ip(&self, args: &[&str]) -> Result<()> {
        run(
            "ip",
            Command::new("ip").arg("-n").arg(&self.name).args(args),
        )
    }

    /// Sets a sysctl inside the namespace (`net.*` keys are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let mut cmd = self.command(Path::new("sysctl"));
        cmd.args(["-qw", &format!("{key}={value}")]);
        run("sysctl", &mut cmd)
    }

    /// The program and leading arguments that run `program` inside the
    /// namespace: `nsenter --net=/run/netns/NAME -- program`. nsenter execs the
    /// program, so the pid a spawner sees is the program's own. Only the network
    /// namespace changes: mounts and cgroups stay the host's (`ip netns exec`
    /// would remount /sys and hide the cgroup mounts).
    pub fn wrap(&self, program: &Path) -> (PathBuf, Vec<String>) {
        (
            PathBuf::from("nsenter"),
            vec![
                format!("--net={}", self.path().display()),
                "--".into(),
                program.display().to_string(),
            ],
        )
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let (nsenter, args) = self.wrap(program);
        let mut cmd = Command::new(nsenter);
        cmd.args(args);
        cmd
    }

    /// Opens a TCP connection to `addr` from inside the namespace.
    pub fn connect(&self, addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
        let (reply, answer) = mpsc::channel();
        self.ask(Dial::Connect(addr, timeout, reply), answer)
    }

    /// Binds a TCP listener on `addr` inside the namespace (a server the
    /// test runs in-process, reached from inside the namespace).
    pub fn bind(&self, addr: SocketAddr) -> std::io::Result<TcpListener> {
        let (reply, answer) = mpsc::channel();
        self.ask(Dial::Bind(addr, reply), answer)
    }

    /// Sends a request to the namespace's thread and waits for its answer.
    fn ask<T>(
        &self,
        request: Dial,
        answer: mpsc::Receiver<std::io::Result<T>>,
    ) -> std::io::Result<T> {
        let gone = || std::io::Error::other("the namespace's dialer thread is gone");
        self.dialer.send(request).map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }

    /// Forwards a free 127.0.0.1 port of the test process to `addr` inside the
    /// namespace (a pod IP, a Service IP, the API server), until dropped.
    pub fn forward(&self, addr: SocketAddr) -> Result<TcpProxy> {
        let dialer = self.dialer.clone();
        TcpProxy::start_via(
            addr,
            Arc::new(move |target| {
                let (reply, answer) = mpsc::channel();
                dialer
                    .send(Dial::Connect(target, Duration::from_secs(2), reply))
                    .map_err(|_| std::io::Error::other("dialer gone"))?;
                answer
                    .recv()
                    .map_err(|_| std::io::Error::other("dialer gone"))?
            }),
        )
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if self.delete_on_drop {
            let _ = Command::new("ip")
                .args(["netns", "delete", &self.name])
                .output();
        }
    }
}

/// A thread that joins the namespace and opens the TCP connections and
/// listeners asked of it: a socket stays in the namespace it was created in, whichever thread
/// uses it later. The thread ends when the last sender is dropped.
fn spawn_dialer(path: &Path) -> Result<mpsc::Sender<Dial>> {
    let file = File::open(path)
        .map_err(|e| Error::io("netns", format!("opening {}", path.display()), e))?;
    let (requests, incoming) = mpsc::channel::<Dial>();
    let (joined, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        if let Err(e) = nix::sched::setns(&file, CloneFlags::CLONE_NEWNET) {
            let _ = joined.send(Err(e));
            return;
        }
        let _ = joined.send(Ok(()));
        for request in incoming {
            match request {
                Dial::Connect(addr, timeout, reply) => {
                    let _ = reply.send(TcpStream::connect_timeout(&addr, timeout));
                }
                Dial::Bind(addr, reply) => {
                    let _ = reply.send(TcpListener::bind(addr));
                }
            }
        }
    });
    match outcome.recv() {
        Ok(Ok(())) => Ok(requests),
        Ok(Err(e)) => Err(Error::io(
            "netns",
            format!("joining {}", path.display()),
            e.into(),
        )),
        Err(_) => Err(Error::io(
            "netns",
            "starting the dialer thread",
            std::io::ErrorKind::Other.into(),
        )),
    }
}

/// Runs a command to completion; a non-zero exit is an error with its stderr.
pub(crate) fn run(component: &str, cmd: &mut Command) -> Result<()> {
    let out = cmd
        .output()
        .map_err(|e| Error::io(component, format!("running {cmd:?}"), e))?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::io(
        component,
        format!("{cmd:?} exited with {}", out.status),
        std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
    ))
}

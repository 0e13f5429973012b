//! Removes what a cluster leaves on the machine once the test process is gone,
//! even after SIGKILL, when no destructor runs.
//!
//! A reaper is a small `sh` reading server pids from a pipe of the test
//! process. When the pipe closes (the cluster is dropped, or the process died)
//! it waits for those servers to exit, and for a real node also kills what
//! outlives its servers (containerd's shims and the containers: every process
//! whose command line names the node's folder or whose cgroup is under the
//! node's cgroup roots), unmounts what is mounted under the folder, deletes
//! the network namespaces, the cgroups and the CNI cache entries, and finally
//! the folder itself.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crate::process::Process;
use crate::{wait, Error, Result};

/// What a real node leaves behind besides its folder.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeLeftovers {
    /// Network namespaces to delete.
    pub netns: Vec<String>,
    /// Cgroup roots (one path component, e.g. `ward-node-123-a`) to empty and remove.
    pub cgroup_roots: Vec<String>,
    /// Prefix of the CNI network names (their entries in /var/lib/cni/results).
    pub cni_prefix: String,
}

/// A running reaper; [`Reaper::finish`] triggers it and waits.
pub(crate) struct Reaper {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

const SCRIPT: &str = r#"pids=""
while read -r p; do pids="$pids $p"; done
for p in $pids; do
  [ -n "$REAP_KILL" ] && kill -9 "$p" 2>/dev/null
  i=0
  while [ -e "/proc/$p" ] && [ "$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" != Z ] && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i+1))
  done
done
if [ -n "$REAP_NETNS$REAP_CGROUPS" ]; then
  pattern=""
  for c in $REAP_CGROUPS; do pattern="$pattern|:/$c/"; done
  pattern="${pattern#|}"
  n=0
  while [ $n -lt 50 ]; do
    left=0
    for d in /proc/[0-9]*; do
      p="${d#/proc/}"
      [ "$p" = "$$" ] && continue
      if grep -qsF -- "$REAP_ROOT/" "$d/cmdline" || { [ -n "$pattern" ] && grep -qsE -- "$pattern" "$d/cgroup"; }; then
        kill -9 "$p" 2>/dev/null && left=1
      fi
    done
    [ $left = 0 ] && break
    sleep 0.1; n=$((n+1))
  done
  grep -F " $REAP_ROOT/" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  for ns in $REAP_NETNS; do ip netns delete "$ns" 2>/dev/null; done
  for c in $REAP_CGROUPS; do
    for h in /sys/fs/cgroup/*/"$c"; do
      n=0
      while [ -d "$h" ] && [ $n -lt 50 ]; do
        find "$h" -depth -type d -exec rmdir {} + 2>/dev/null
        [ -d "$h" ] && sleep 0.1; n=$((n+1))
      done
    done
  done
  [ -n "$REAP_CNI" ] && rm -f /var/lib/cni/results/"$REAP_CNI"*
  # containerd's loopback network keeps its results under the sandbox id.
  for s in "$REAP_ROOT"/*/containerd/root/io.containerd.grpc.v1.cri/sandboxes/*; do
    [ -d "$s" ] && rm -f /var/lib/cni/results/cni-loopback-"${s##*/}"-*
  done
  # The kubelet's device-plugin socket has a fixed path; remove it (and the
  # folders it made) unless another kubelet runs. A killed kubelet stays a
  # zombie until the test process reaps it, which it does only after this
  # script: zombies do not count (pgrep would count them).
  live_kubelet() {
    for d in /proc/[0-9]*; do
      [ "$(cat "$d/comm" 2>/dev/null)" = kubelet ] && [ "$(cut -d' ' -f3 "$d/stat" 2>/dev/null)" != Z ] && return 0
    done
    return 1
  }
  n=0
  while live_kubelet && [ $n -lt 30 ]; do sleep 0.1; n=$((n+1)); done
  if ! live_kubelet; then
    rm -f /var/lib/kubelet/device-plugins/kubelet.sock
    rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null
  fi
fi
[ -n "$REAP_KEEP" ] || rm -rf "$REAP_ROOT""#;

impl Reaper {
    /// Starts a reaper for the folder `root`. With `keep` the folder stays
    /// (for debugging) but everything else is still removed; with `kill` the
    /// servers get SIGKILL instead of their guardians' SIGTERM (state that is
    /// thrown away needs no graceful stop).
    pub(crate) fn spawn(
        root: &Path,
        keep: bool,
        kill: bool,
        node: Option<&NodeLeftovers>,
    ) -> Result<Self> {
        let flag = |on: bool| if on { "1" } else { "" };
        let node = node.cloned().unwrap_or_default();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("ward-testkit-reaper")
            .env("REAP_ROOT", root)
            .env("REAP_KEEP", flag(keep))
            .env("REAP_KILL", flag(kill))
            .env("REAP_NETNS", node.netns.join(" "))
            .env("REAP_CGROUPS", node.cgroup_roots.join(" "))
            .env("REAP_CNI", node.cni_prefix)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::io("reaper", "spawning the clean-up shell", e))?;
        Ok(Self {
            stdin: child.stdin.take(),
            child: Some(child),
        })
    }

    /// Tells the reaper to wait for `process` before cleaning up.
    pub(crate) fn watch(&mut self, process: &Process) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{}", process.pid());
        }
    }

    /// Triggers the clean-up and waits for it, at most `timeout`.
    pub(crate) fn finish(&mut self, timeout: Duration) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            if wait::until(timeout, || child.try_wait().ok().flatten()).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Triggers the clean-up and lets it run on after this process (for statics,
    /// which are never dropped, and for a cluster that must outlive a test).
    pub(crate) fn detach(&mut self) {
        drop(self.stdin.take());
        drop(self.child.take());
    }
}

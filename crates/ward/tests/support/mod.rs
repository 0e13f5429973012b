//! What the CLI tests of `ward` share: the binary under test, started the
//! way a user starts it (stdin closed, none of the tester's own Kubernetes,
//! OTLP or log settings), its output as text, and signals to it. The `ward
//! slo` tests have their own `slo_support` (sloth, promtool, golden files).
#![allow(dead_code)] // each test file uses the part it needs

pub(crate) mod nurse;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};

/// The repository's root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The image archive scripts/build-image.sh wrote: `WARD_IMAGE_ARCHIVE`, else
/// `ward-image.tar` in the Cargo target directory; a relative path is taken
/// from the repository's root, as the script means it (tests run in their
/// crate's directory).
pub(crate) fn image_archive() -> PathBuf {
    let path = std::env::var_os("WARD_IMAGE_ARCHIVE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("target"))
                .join("ward-image.tar")
        });
    let path = repo().join(path);
    assert!(
        path.is_file(),
        "{} not found: build ward's image with `bash scripts/build-image.sh` (scripts/test.sh does) \
         or name it in WARD_IMAGE_ARCHIVE",
        path.display()
    );
    path
}

/// The `ward` binary Cargo built for these tests.
pub(crate) fn ward_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ward"))
}

/// A command that runs the `ward` binary: stdin closed, and the tester's
/// `KUBECONFIG`, `OTEL_EXPORTER_OTLP_*` and `WARD_LOG*` removed so that only
/// what the test passes decides what ward does.
pub(crate) fn ward() -> Command {
    let mut cmd = Command::new(ward_bin());
    for var in [
        "KUBECONFIG",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "WARD_LOG",
        "WARD_LOG_FORMAT",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// What one finished `ward` run printed, and how it ended.
#[derive(Debug)]
pub(crate) struct Run {
    /// How the process ended.
    pub(crate) status: ExitStatus,
    /// Standard output, as text.
    pub(crate) stdout: String,
    /// Standard error, as text.
    pub(crate) stderr: String,
}

impl Run {
    /// The exit code (`None` when a signal ended the process).
    pub(crate) fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Standard output parsed as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `ward ARGS…` to the end.
pub(crate) fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    ward().args(args).output().expect("ward runs").into()
}

/// Starts `ward ARGS…` in the background with stdout and stderr captured.
pub(crate) fn spawn<I, S>(args: I) -> Child
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    ward()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ward starts")
}

/// Sends `signal` (`INT`, `TERM`) to `child` with kill(1).
pub(crate) fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{signal} {}", child.id());
}

/// Waits for `child` to end and collects what it printed.
pub(crate) fn finish(child: Child) -> Run {
    child.wait_with_output().expect("ward ends").into()
}

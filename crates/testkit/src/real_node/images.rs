//! The images a real node needs without a registry: the pod sandbox (pause),
//! CoreDNS and a busybox for test pods, packed from local binaries by
//! `scripts/oci-image.sh` and cached in `$WARD_TOOLS_DIR/images`.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::kube::{binary, mkdir, tools_dir, Error, Result};
use crate::netns::run;

/// A local image: where its binary comes from and how it runs.
#[derive(Debug, Clone, Copy)]
pub struct Image {
    /// The reference pods name (`imagePullPolicy` must not be `Always`).
    pub reference: &'static str,
    source: Source,
    /// Path of the binary in the image; also the entrypoint.
    target: &'static str,
}

#[derive(Debug, Clone, Copy)]
enum Source {
    /// A binary built into `$WARD_TOOLS_DIR/bin`.
    Tool(&'static str),
    /// Debian's static busybox, with a link in /bin for each applet.
    Busybox,
}

/// The pod sandbox, upstream `pause.c` built by `scripts/kube-control-plane.sh`.
pub const PAUSE: Image = Image {
    reference: "localhost/ward-testkit/pause:v1.34.10",
    source: Source::Tool("pause"),
    target: "/pause",
};

/// CoreDNS as built by `scripts/kube-control-plane.sh`.
pub const COREDNS: Image = Image {
    reference: "localhost/ward-testkit/coredns:v1.14.7",
    source: Source::Tool("coredns"),
    target: "/coredns",
};

/// Debian's busybox-static: `sh`, `httpd`, `wget`, `nc` and the rest in /bin,
/// a page in `/www/index.html` (for `httpd -f -p 8080 -h /www`), entrypoint `/bin/sh`.
pub const BUSYBOX: Image = Image {
    reference: "localhost/ward-testkit/busybox:1.35",
    source: Source::Busybox,
    target: "/bin/sh",
};

/// Prometheus 3.14 as built by `scripts/deps.d/prometheus3.sh`, entrypoint
/// `/bin/prometheus`: the `spec.image` of an operator-managed Prometheus.
pub const PROMETHEUS: Image = Image {
    reference: "localhost/ward-testkit/prometheus:v3.14.0",
    source: Source::Tool("prometheus3"),
    target: "/bin/prometheus",
};

/// prometheus-operator's config reloader as built by
/// `scripts/deps.d/prometheus-operator.sh` (the operator's
/// `--prometheus-config-reloader`).
pub const CONFIG_RELOADER: Image = Image {
    reference: "localhost/ward-testkit/prometheus-config-reloader:v0.85.0",
    source: Source::Tool("prometheus-config-reloader"),
    target: "/bin/prometheus-config-reloader",
};

impl Image {
    /// Its archive for [`super::RealNode::import_image`], packed now unless cached.
    pub fn archive(&self) -> Result<PathBuf> {
        cached(self)
    }
}

/// The repository's image packer.
fn packer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/oci-image.sh")
}

/// The image's archive, packed now unless a cached one is newer than its binary and the packer.
pub(super) fn cached(image: &Image) -> Result<PathBuf> {
    let source = match image.source {
        Source::Tool(name) => binary(name, name)?,
        Source::Busybox => PathBuf::from("/bin/busybox"),
    };
    let dir = tools_dir().join("images");
    mkdir(&dir)?;
    let file = image.reference.replace(['/', ':'], "_");
    let archive = dir.join(format!("{file}.tar"));
    // Fresh when newer than both its binary and the packer.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = modified(&archive).is_some_and(|a| {
        [&source, &packer()]
            .iter()
            .all(|input| modified(input).is_some_and(|m| a >= m))
    });
    if fresh {
        return Ok(archive);
    }
    if !source.is_file() {
        return Err(Error::setup(
            format!("image {}", image.reference),
            format!(
                "{} not found; run scripts/install-test-deps.sh",
                source.display()
            ),
        ));
    }
    // Each packer writes its own file, renamed into place when whole.
    let staging = tempfile::Builder::new()
        .prefix("ward-image-")
        .tempdir()
        .map_err(|e| Error::setup("image staging folder", e))?;
    let mut cmd = Command::new("bash");
    cmd.arg(packer())
        .arg("--name")
        .arg(image.reference)
        .arg("--out")
        .arg(staging.path().join("image.tar"));
    match image.source {
        Source::Tool(_) => {
            cmd.arg("--entrypoint").arg(image.target).arg(format!(
                "{}:{}",
                source.display(),
                image.target
            ));
        }
        Source::Busybox => {
            let bin = staging.path().join("bin");
            mkdir(&bin)?;
            std::fs::copy(&source, bin.join("busybox"))
                .map_err(|e| Error::setup("copying busybox", e))?;
            let list = Command::new(&source)
                .arg("--list")
                .output()
                .map_err(|e| Error::setup("busybox --list", e))?;
            for applet in String::from_utf8_lossy(&list.stdout).lines() {
                if applet != "busybox" {
                    symlink("busybox", bin.join(applet))
                        .map_err(|e| Error::setup(format!("linking busybox {applet}"), e))?;
                }
            }
            // A page for `httpd -f -p 8080 -h /www` (an empty folder answers 404).
            let www = staging.path().join("www");
            mkdir(&www)?;
            std::fs::write(www.join("index.html"), "ward-testkit busybox\n")
                .map_err(|e| Error::setup("writing /www/index.html", e))?;
            cmd.args(["--env", "PATH=/bin", "--entrypoint", image.target])
                .arg(format!("{}:/bin", bin.display()))
                .arg(format!("{}:/www", www.display()));
        }
    }
    run("oci-image.sh", &mut cmd)?;
    let tmp = archive.with_extension(format!("tar.{}", std::process::id()));
    std::fs::copy(staging.path().join("image.tar"), &tmp)
        .and_then(|_| std::fs::rename(&tmp, &archive))
        .map_err(|e| Error::setup(format!("caching {}", archive.display()), e))?;
    Ok(archive)
}

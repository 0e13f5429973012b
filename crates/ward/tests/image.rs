//! The image scripts/build-image.sh builds: the static ward binary alone, run
//! as 65532:65532 with entrypoint /ward and the OCI labels, in an OCI archive
//! that skopeo reads and copies (containerd's import is exercised by the
//! real-cluster test). Bad input to the packer is refused with one line.

use std::process::{Command, Output};

use serde_json::Value;

mod support;

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_image_is_the_static_binary_alone_non_root_with_labels() {
    let archive = support::image_archive();
    let reference = format!("oci-archive:{}", archive.display());
    let config: Value = serde_json::from_str(&stdout_of(
        Command::new("skopeo").args(["inspect", "--config", &reference]),
    ))
    .unwrap();
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/ward"]));
    assert!(c["Cmd"].is_null(), "{c}");
    assert!(c["Env"].is_null(), "no environment: {c}");
    let labels = &c["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://github.com/ward-dev/ward"
    );
    assert_eq!(labels["org.opencontainers.image.title"], "ward");
    let version = labels["org.opencontainers.image.version"].as_str().unwrap();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let revision = labels["org.opencontainers.image.revision"]
        .as_str()
        .unwrap();
    assert!(
        revision.len() >= 40 && revision[..40].chars().all(|c| c.is_ascii_hexdigit()),
        "revision {revision:?}"
    );
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");

    // One layer with exactly one file, /ward, statically linked and executable.
    let dir = tempfile::tempdir().unwrap();
    stdout_of(
        Command::new("skopeo")
            .args(["copy", "-q", &reference])
            .arg(format!("dir:{}", dir.path().display())),
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    let layer = dir.path().join(
        layers[0]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:"),
    );
    let listing = stdout_of(Command::new("tar").arg("-tvzf").arg(&layer));
    let files: Vec<&str> = listing.lines().filter(|l| !l.starts_with('d')).collect();
    assert_eq!(files.len(), 1, "{listing}");
    assert!(files[0].starts_with("-rwxr-xr-x "), "{listing}");
    assert!(files[0].ends_with(" ward"), "{listing}");
    let unpacked = tempfile::tempdir().unwrap();
    stdout_of(
        Command::new("tar")
            .arg("-xzf")
            .arg(&layer)
            .arg("-C")
            .arg(unpacked.path()),
    );
    let binary = unpacked.path().join("ward");
    let headers = stdout_of(Command::new("readelf").arg("-l").arg(&binary));
    assert!(
        !headers.contains("Requesting program interpreter"),
        "the binary needs a loader the image does not have"
    );
    // It runs with nothing around it.
    let version = stdout_of(Command::new(&binary).arg("--version"));
    let want = format!("ward {} ({})\n", env!("CARGO_PKG_VERSION"), &revision[..12]);
    assert_eq!(version, want);
}

#[test]
fn the_packer_refuses_bad_input_with_one_line() {
    let packer = support::repo().join("scripts/oci-image.sh");
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("x.tar");
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec!["--out", out.to_str().unwrap(), "/bin/true:/true"],
            "oci-image.sh: error: --name REF is required (e.g. ghcr.io/ward-dev/ward:0.1.0)\n",
        ),
        (
            vec![
                "--out",
                out.to_str().unwrap(),
                "--name",
                "example/ward",
                "/bin/true:/true",
            ],
            "oci-image.sh: error: --name example/ward: the reference needs a tag (NAME:TAG)\n",
        ),
        (
            vec![
                "--out",
                out.to_str().unwrap(),
                "--name",
                "example/ward:1",
                "/nonexistent:/x",
            ],
            "oci-image.sh: error: /nonexistent: no such file or folder\n",
        ),
        (
            vec![
                "--out",
                out.to_str().unwrap(),
                "--name",
                "example/ward:1",
                "/bin/true:true",
            ],
            "oci-image.sh: error: /bin/true:true: TARGET must be an absolute path in the image\n",
        ),
    ];
    for (args, want) in cases {
        let result = run(Command::new("bash").arg(&packer).args(&args));
        assert_eq!(result.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&result.stderr), want, "{args:?}");
        assert!(!out.exists(), "{args:?} left an archive");
    }
    let build = run(Command::new("bash")
        .arg(support::repo().join("scripts/build-image.sh"))
        .args(["--binary", "/bin/true"]));
    assert_eq!(build.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&build.stderr),
        "build-image.sh: error: --binary /bin/true is dynamically linked; build the static one with scripts/build-release.sh\n"
    );
}

//! A real OTLP metrics receiver: Prometheus 3 (built from its Go module by
//! `scripts/deps.d/prometheus3.sh`; Debian's 2.42 has no OTLP receiver) with
//! `--web.enable-otlp-receiver`, queried through the same API as
//! [`crate::prometheus::Prometheus`].

use std::path::PathBuf;

use crate::process::find_binary;
use crate::prometheus::Prometheus;
use crate::Result;

fn prometheus3() -> Result<PathBuf> {
    let cached = crate::kube::tools_dir().join("bin/prometheus3");
    if cached.is_file() {
        return Ok(cached);
    }
    find_binary("prometheus3 (scripts/deps.d/prometheus3.sh)", "prometheus3")
}

/// Starts Prometheus 3 with its OTLP receiver on a free 127.0.0.1 port.
pub fn receiver() -> Result<Prometheus> {
    receiver_builder()?.start()
}

/// A Prometheus 3 with its OTLP receiver, to configure further (scrape jobs,
/// a network namespace) before it starts.
pub fn receiver_builder() -> Result<crate::prometheus::Builder> {
    Ok(Prometheus::builder()
        .binary(prometheus3()?)
        .arg("--web.enable-otlp-receiver"))
}

/// The OTLP/HTTP metrics URL of a receiver started by [`receiver`].
pub fn metrics_endpoint(receiver: &Prometheus) -> String {
    format!("http://{}/api/v1/otlp/v1/metrics", receiver.addr())
}

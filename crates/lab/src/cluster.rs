//! The simulated cluster: node names and loopback addresses, a listener per
//! nurse on one port of every address, and the objects the lab registers in
//! kube-sim (namespaces, the API server's Service, the nurses' headless
//! Service, one Node and one running nurse Pod per node), and cordoning.

use std::net::{Ipv4Addr, SocketAddr};

use serde_json::json;
use ward_kube_sim::{store, KubeSim};

use crate::{Error, Inner, LabConfig, LABEL, NAMESPACE, SERVICE};

pub(crate) fn node_name(i: usize) -> String {
    format!("node-{}", i + 1)
}

pub(crate) fn node_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, u8::try_from(i + 2).unwrap_or(254))
}

/// Binds one port free on every nurse address (or the one given), a listener per node.
pub(crate) fn nurse_listeners(config: &LabConfig) -> Result<Vec<std::net::TcpListener>, Error> {
    let try_port = |port: u16| -> Result<Vec<std::net::TcpListener>, std::io::Error> {
        let first = std::net::TcpListener::bind((node_ip(0), port))?;
        let port = first.local_addr()?.port();
        let mut held = vec![first];
        for i in 1..config.nodes {
            held.push(std::net::TcpListener::bind((node_ip(i), port))?);
        }
        Ok(held)
    };
    if config.nurse_port != 0 {
        return try_port(config.nurse_port).map_err(|e| Error::Config {
            arg: "--nurse-port",
            value: config.nurse_port.to_string(),
            reason: e.to_string(),
        });
    }
    let mut last = None;
    for _ in 0..20 {
        match try_port(0) {
            Ok(held) => return Ok(held),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Config {
        arg: "--nurse-port",
        value: "0".into(),
        reason: format!(
            "no port free on all of 127.0.0.2..{}: {}",
            node_ip(config.nodes.saturating_sub(1)),
            last.map(|e| e.to_string()).unwrap_or_default()
        ),
    })
}

pub(crate) fn register(sim: &KubeSim, config: &LabConfig) -> Result<(), Error> {
    let s = sim.store();
    let reg = |what: String, r: &str, ns: &str, v: serde_json::Value| {
        let resource = store::resource(r).ok_or_else(|| Error::Register {
            what: what.clone(),
            source: ward_kube_sim::ApiError::bad_request(format!("unknown resource {r}")),
        })?;
        s.create(resource, ns, v)
            .map_err(|source| Error::Register { what, source })
    };
    for ns in ["default", NAMESPACE] {
        reg(
            format!("namespace {ns}"),
            "namespaces",
            "",
            json!({"metadata": {"name": ns}}),
        )?;
    }
    // The API server's Service: its ClusterIP is kube-sim's own address.
    let api = sim.addr();
    reg(
        "service default/kubernetes".into(),
        "services",
        "default",
        json!({
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": api.ip().to_string(),
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": api.port()}]},
        }),
    )?;
    // Its endpoints, as kube-apiserver's reconciler writes them: one
    // instance, kube-sim itself (the nurses check it on its own too).
    reg(
        "endpointslice default/kubernetes".into(),
        "endpointslices",
        "default",
        json!({
            "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": if api.is_ipv4() { "IPv4" } else { "IPv6" },
            "endpoints": [{"addresses": [api.ip().to_string()], "conditions": {"ready": true}}],
            "ports": [{"name": "https", "port": api.port(), "protocol": "TCP"}],
        }),
    )?;
    reg(
        format!("service {NAMESPACE}/{SERVICE}"),
        "services",
        NAMESPACE,
        json!({
            "metadata": {"name": SERVICE},
            "spec": {"clusterIP": "None", "selector": {LABEL.0: LABEL.1},
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
        }),
    )?;
    for i in 0..config.nodes {
        let name = node_name(i);
        let ip = node_ip(i).to_string();
        reg(
            format!("node {name}"),
            "nodes",
            "",
            json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "spec": {},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ward lab"}],
                }
            }),
        )?;
        let pod = format!("ward-nurse-{name}");
        let r = store::resource("pods").ok_or_else(|| Error::Register {
            what: pod.clone(),
            source: ward_kube_sim::ApiError::bad_request("no pods".into()),
        })?;
        reg(
            format!("pod {pod}"),
            "pods",
            NAMESPACE,
            json!({
                "metadata": {"name": pod, "labels": {LABEL.0: LABEL.1}},
                "spec": {"nodeName": name, "containers": [{"name": "nurse", "image": "ward:lab"}]},
            }),
        )?;
        s.patch(
            r,
            NAMESPACE,
            &pod,
            &json!({"status": {"phase": "Running", "podIP": ip, "hostIP": ip,
                "conditions": [{"type": "Ready", "status": "True"}]}}),
            true,
        )
        .map_err(|source| Error::Register {
            what: pod.clone(),
            source,
        })?;
    }
    Ok(())
}

impl Inner {
    /// The address of a node's nurse.
    pub(crate) fn nurse_addr(&self, node: usize) -> SocketAddr {
        SocketAddr::from((node_ip(node), self.nurse_port))
    }

    pub(crate) fn set_unschedulable(&self, node: &str, on: bool) -> Result<(), Error> {
        let r = store::resource("nodes").ok_or_else(|| Error::Register {
            what: node.into(),
            source: ward_kube_sim::ApiError::bad_request("no nodes".into()),
        })?;
        self.sim
            .store()
            .patch(r, "", node, &json!({"spec": {"unschedulable": if on { json!(true) } else { serde_json::Value::Null }}}), false)
            .map(|_| ())
            .map_err(|source| Error::Register { what: format!("node {node}"), source })
    }
}

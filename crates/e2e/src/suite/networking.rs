//! The `networking` test: a Deployment behind a ClusterIP Service and a
//! headless Service. The Service gets one ready endpoint per pod, its name
//! resolves through cluster DNS to its ClusterIP, the headless name to every
//! pod IP, and HTTP succeeds through the Service and directly to each pod.
//! DNS and HTTP go through `ward-probe`.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use ward_probe::dns::DnsQuery;
use ward_probe::http::HttpRequest;
use ward_probe::{Prober, ProberConfig};

use super::{create_deployment, labels, workload, Ctx};
use crate::error::{ApiContext, Error, Result};
use crate::steps::Waiting;

const NAME: &str = "ward-e2e-net";
const HEADLESS: &str = "ward-e2e-net-headless";
/// Port of the ClusterIP Service.
const SERVICE_PORT: u16 = 80;

/// Runs the test.
pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<()> {
    let t = &ctx.config.timeouts;
    let replicas = ctx.config.replicas.max(1);
    let client = ctx.client();
    let services: Api<Service> = Api::namespaced(client.clone(), ctx.ns);
    let prober = Prober::new(ProberConfig {
        timeout: t.request.min(std::time::Duration::from_secs(5)),
        ..Default::default()
    })
    .map_err(|e| Error::Config(format!("HTTP/DNS prober: {e}")))?;
    let dns = dns_server(ctx)?;

    let cluster_ip = ctx
        .steps
        .run("create", t.request, async {
            create_deployment(ctx, &workload(NAME, ctx.config, replicas)).await?;
            let clusterip = services
                .create(&PostParams::default(), &service(ctx, NAME, false))
                .await
                .on("create", "services", ctx.ns(), Some(NAME))?;
            services
                .create(&PostParams::default(), &service(ctx, HEADLESS, true))
                .await
                .on("create", "services", ctx.ns(), Some(HEADLESS))?;
            clusterip
                .spec
                .and_then(|s| s.cluster_ip)
                .and_then(|ip| ip.parse::<IpAddr>().ok())
                .ok_or_else(|| Error::Check(format!("service {NAME} got no ClusterIP")))
        })
        .await?;
    let endpoints = ctx
        .steps
        .run("endpoints", t.network, wait_endpoints(ctx, NAME, replicas))
        .await?;
    let service_name = format!("{NAME}.{}.svc.{}", ctx.ns, ctx.config.cluster_domain);
    ctx.steps
        .run("dns-service", t.network, async {
            ctx.steps
                .wait(|| async {
                    let got = resolve(&prober, dns, &service_name).await;
                    match got {
                        Ok(ips) if ips == BTreeSet::from([cluster_ip]) => Ok(Waiting::Done(())),
                        Ok(ips) => Ok(Waiting::Pending(format!(
                            "{service_name} resolves to {ips:?}, expected ClusterIP {cluster_ip}"
                        ))),
                        Err(e) => Ok(Waiting::Pending(e)),
                    }
                })
                .await
        })
        .await?;
    let headless_name = format!("{HEADLESS}.{}.svc.{}", ctx.ns, ctx.config.cluster_domain);
    ctx.steps
        .run("dns-headless", t.network, async {
            let want = pod_ips(ctx).await?;
            if want != endpoints {
                return Err(Error::Check(format!(
                    "endpoints {endpoints:?} differ from pod IPs {want:?}"
                )));
            }
            ctx.steps
                .wait(|| async {
                    match resolve(&prober, dns, &headless_name).await {
                        Ok(ips) if ips == want => Ok(Waiting::Done(())),
                        Ok(ips) => Ok(Waiting::Pending(format!(
                            "{headless_name} resolves to {ips:?}, expected pod IPs {want:?}"
                        ))),
                        Err(e) => Ok(Waiting::Pending(e)),
                    }
                })
                .await
        })
        .await?;
    ctx.steps
        .run("http-service", t.network, async {
            let addr = SocketAddr::new(cluster_ip, SERVICE_PORT);
            let url = format!("http://{service_name}:{SERVICE_PORT}/");
            ctx.steps.wait(|| http_ok(ctx, &prober, &url, addr)).await
        })
        .await?;
    ctx.steps
        .run("http-pods", t.network, async {
            for ip in &endpoints {
                let addr = SocketAddr::new(*ip, ctx.config.port);
                let url = format!("http://{addr}/");
                ctx.steps.wait(|| http_ok(ctx, &prober, &url, addr)).await?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

fn service(ctx: &Ctx<'_>, name: &str, headless: bool) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(name)),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some([("app".to_string(), NAME.to_string())].into()),
            cluster_ip: headless.then(|| "None".to_string()),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: if headless {
                    i32::from(ctx.config.port)
                } else {
                    i32::from(SERVICE_PORT)
                },
                target_port: Some(IntOrString::Int(i32::from(ctx.config.port))),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    }
}

/// Waits until the Service's EndpointSlices hold `replicas` ready addresses; returns them.
async fn wait_endpoints(ctx: &Ctx<'_>, service: &str, replicas: i32) -> Result<BTreeSet<IpAddr>> {
    let slices: Api<EndpointSlice> = Api::namespaced(ctx.client(), ctx.ns);
    ctx.steps
        .wait(|| async {
            let list = slices
                .list(
                    &ListParams::default().labels(&format!("kubernetes.io/service-name={service}")),
                )
                .await
                .on("list", "endpointslices.discovery.k8s.io", ctx.ns(), None)?;
            let mut ready = BTreeSet::new();
            for slice in list.items {
                for ep in slice.endpoints {
                    if ep.conditions.as_ref().and_then(|c| c.ready) != Some(false) {
                        ready.extend(ep.addresses.iter().filter_map(|a| a.parse::<IpAddr>().ok()));
                    }
                }
            }
            if ready.len() == replicas as usize {
                return Ok(Waiting::Done(ready));
            }
            let mut seen = format!(
                "service {service} has {} ready endpoints of {replicas}",
                ready.len()
            );
            if let Some(why) = super::pod_problem(ctx, NAME).await? {
                seen.push_str("; ");
                seen.push_str(&why);
            }
            Ok(Waiting::Pending(seen))
        })
        .await
}

async fn pod_ips(ctx: &Ctx<'_>) -> Result<BTreeSet<IpAddr>> {
    let pods: Api<Pod> = Api::namespaced(ctx.client(), ctx.ns);
    let list = pods
        .list(&ListParams::default().labels(&format!("app={NAME}")))
        .await
        .on("list", "pods", ctx.ns(), None)?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.status.and_then(|s| s.pod_ip))
        .filter_map(|ip| ip.parse().ok())
        .collect())
}

/// The DNS server: configured, or the first nameserver of /etc/resolv.conf.
fn dns_server(ctx: &Ctx<'_>) -> Result<SocketAddr> {
    if let Some(s) = ctx.config.dns_server {
        return Ok(s);
    }
    let text = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| Error::Config(format!("reading /etc/resolv.conf for the DNS server: {e}")))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
        .ok_or_else(|| {
            Error::Config("no nameserver in /etc/resolv.conf (pass --dns-server)".into())
        })
}

/// A records of `name` via `server`; the error text on failure.
async fn resolve(
    prober: &Prober,
    server: SocketAddr,
    name: &str,
) -> std::result::Result<BTreeSet<IpAddr>, String> {
    let query = DnsQuery::new(&server.ip().to_string(), server.port(), name);
    let outcome = prober.check_dns(&query).await;
    if let Some(e) = outcome.error {
        return Err(e.to_string());
    }
    Ok(outcome
        .dns
        .map(|a| a.answers)
        .unwrap_or_default()
        .iter()
        .filter_map(|rr| rr.split_whitespace().last())
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .collect())
}

/// One GET of `url` sent to `addr` (rewritten by the configured reach, if any).
async fn http_ok(
    ctx: &Ctx<'_>,
    prober: &Prober,
    url: &str,
    addr: SocketAddr,
) -> Result<Waiting<()>> {
    let parsed = url::Url::parse(url).map_err(|e| Error::Check(format!("{url}: {e}")))?;
    let mut request = HttpRequest::get(parsed);
    request.connect_to = Some(match &ctx.config.reach {
        Some(reach) => reach(addr),
        None => addr,
    });
    let outcome = prober.check_http(&request).await;
    if outcome.success {
        return Ok(Waiting::Done(()));
    }
    Ok(Waiting::Pending(match (outcome.error, outcome.status) {
        (Some(e), _) => format!("GET {url} via {addr}: {e}"),
        (None, Some(code)) => format!("GET {url} via {addr}: status {code}"),
        (None, None) => format!("GET {url} via {addr}: failed"),
    }))
}

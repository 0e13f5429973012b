//! The tests of the suite (one module each) and what they share: the test
//! context, the workload Deployment (restricted pod security), and the rollout
//! wait that checks observedGeneration, updated/available replicas and the
//! Available condition, and explains a stuck rollout from its pods.

pub(crate) mod api;
pub(crate) mod deployment;
pub(crate) mod networking;
pub(crate) mod rbac;
pub(crate) mod storage;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, Pod, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, SeccompProfile, SecurityContext, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};

use crate::cluster::Cluster;
use crate::config::{Config, TestName};
use crate::error::{status_code, ApiContext, Result};
use crate::report::Skip;
use crate::steps::{Steps, Waiting};

/// Everything a test needs.
pub(crate) struct Ctx<'a> {
    pub cluster: &'a Cluster,
    pub ns: &'a str,
    pub config: &'a Config,
    pub steps: &'a Steps,
}

impl Ctx<'_> {
    pub(crate) fn client(&self) -> kube::Client {
        self.cluster.client.clone()
    }

    pub(crate) fn ns(&self) -> Option<&str> {
        Some(self.ns)
    }
}

/// Runs one test; `Ok(Some(skip))` means it was skipped.
pub(crate) async fn run(test: TestName, ctx: &Ctx<'_>) -> Result<Option<Skip>> {
    match test {
        TestName::Api => api::run(ctx).await.map(|()| None),
        TestName::Deployment => deployment::run(ctx).await.map(|()| None),
        TestName::Storage => storage::run(ctx).await,
        TestName::Networking => networking::run(ctx).await.map(|()| None),
        TestName::Rbac => rbac::run(ctx).await.map(|()| None),
    }
}

/// Labels of a suite object: `app=<name>` plus managed-by.
pub(crate) fn labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".to_string(), name.to_string()),
        (
            crate::cluster::MANAGED_BY.0.to_string(),
            crate::cluster::MANAGED_BY.1.to_string(),
        ),
    ])
}

/// A container security context that passes the `restricted` Pod Security Standard.
pub(crate) fn restricted() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        run_as_non_root: Some(true),
        run_as_user: Some(65534),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The pod-level security context of suite pods.
pub(crate) fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(65534),
        fs_group: Some(65534),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The workload Deployment: `replicas` pods of the configured HTTP server image.
pub(crate) fn workload(name: &str, config: &Config, replicas: i32) -> Deployment {
    let labels = labels(name);
    let selector = BTreeMap::from([("app".to_string(), name.to_string())]);
    let port = i32::from(config.port);
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels.clone()),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(5),
                    security_context: Some(pod_security()),
                    node_selector: (!config.node_selector.is_empty())
                        .then(|| config.node_selector.clone()),
                    containers: vec![Container {
                        name: "app".into(),
                        image: Some(config.image.clone()),
                        image_pull_policy: config.image_pull_policy.clone(),
                        args: (!config.image_args.is_empty()).then(|| config.image_args.clone()),
                        ports: Some(vec![ContainerPort {
                            name: Some("http".into()),
                            container_port: port,
                            ..Default::default()
                        }]),
                        readiness_probe: Some(Probe {
                            tcp_socket: Some(TCPSocketAction {
                                port: IntOrString::Int(port),
                                ..Default::default()
                            }),
                            period_seconds: Some(2),
                            ..Default::default()
                        }),
                        security_context: Some(restricted()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// Creates a Deployment.
pub(crate) async fn create_deployment(ctx: &Ctx<'_>, deployment: &Deployment) -> Result<()> {
    let api: Api<Deployment> = Api::namespaced(ctx.client(), ctx.ns);
    let name = deployment.metadata.name.as_deref();
    api.create(&PostParams::default(), deployment).await.on(
        "create",
        "deployments.apps",
        ctx.ns(),
        name,
    )?;
    Ok(())
}

/// Waits until Deployment `name` has rolled out `replicas` pods (of revision `revision`, if given).
pub(crate) async fn wait_rollout(
    ctx: &Ctx<'_>,
    name: &str,
    replicas: i32,
    revision: Option<&str>,
) -> Result<()> {
    let api: Api<Deployment> = Api::namespaced(ctx.client(), ctx.ns);
    ctx.steps
        .wait(|| async {
            let d = api
                .get(name)
                .await
                .on("get", "deployments.apps", ctx.ns(), Some(name))?;
            let generation = d.metadata.generation.unwrap_or(0);
            let current_revision = d
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                .cloned()
                .unwrap_or_default();
            let status = d.status.unwrap_or_default();
            let observed = status.observed_generation.unwrap_or(0);
            let updated = status.updated_replicas.unwrap_or(0);
            let available = status.available_replicas.unwrap_or(0);
            let total = status.replicas.unwrap_or(0);
            let condition = status
                .conditions
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.type_ == "Available");
            let available_true = condition.as_ref().is_some_and(|c| c.status == "True");
            let done = observed >= generation
                && updated == replicas
                && available == replicas
                && total == replicas
                && available_true
                && revision.is_none_or(|r| r == current_revision);
            if done {
                return Ok(Waiting::Done(()));
            }
            let mut seen = format!(
                "deployment {name}: generation {generation} observed {observed}, revision {current_revision}, \
                 {updated}/{replicas} updated, {available}/{replicas} available, {total} total, Available={}",
                condition.map(|c| c.status).unwrap_or_else(|| "unknown".into())
            );
            if let Some(why) = pod_problem(ctx, name).await? {
                seen.push_str("; ");
                seen.push_str(&why);
            }
            Ok(Waiting::Pending(seen))
        })
        .await
}

/// The first reason a pod of app `app` is not ready (unscheduled, waiting container, …).
pub(crate) async fn pod_problem(ctx: &Ctx<'_>, app: &str) -> Result<Option<String>> {
    let pods: Api<Pod> = Api::namespaced(ctx.client(), ctx.ns);
    let list = pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .on("list", "pods", ctx.ns(), None)?;
    for pod in list.items {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let Some(status) = pod.status else {
            return Ok(Some(format!("pod {pod_name} has no status")));
        };
        let conditions = status.conditions.unwrap_or_default();
        if let Some(c) = conditions
            .iter()
            .find(|c| c.type_ == "PodScheduled" && c.status != "True")
        {
            return Ok(Some(format!(
                "pod {pod_name} not scheduled: {}",
                c.message
                    .clone()
                    .unwrap_or_else(|| c.reason.clone().unwrap_or_default())
            )));
        }
        for cs in status.container_statuses.unwrap_or_default() {
            if let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
                return Ok(Some(format!(
                    "pod {pod_name} container {} waiting: {} {}",
                    cs.name,
                    w.reason.clone().unwrap_or_default(),
                    w.message.clone().unwrap_or_default()
                )));
            }
        }
        if !conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
        {
            return Ok(Some(format!(
                "pod {pod_name} is {} and not Ready",
                status.phase.unwrap_or_else(|| "Unknown".into())
            )));
        }
    }
    Ok(None)
}

/// Deletes `name` in the foreground and waits until it is gone (404).
pub(crate) async fn delete_and_wait<K>(
    ctx: &Ctx<'_>,
    api: &Api<K>,
    resource: &str,
    name: &str,
) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::foreground()).await {
        Ok(_) => {}
        Err(e) if status_code(&e) == Some(404) => return Ok(()),
        Err(e) => {
            return Err(crate::error::api_error(
                e,
                "delete",
                resource,
                ctx.ns(),
                Some(name),
            ))
        }
    }
    ctx.steps
        .wait(|| async {
            match api
                .get_opt(name)
                .await
                .on("get", resource, ctx.ns(), Some(name))?
            {
                None => Ok(Waiting::Done(())),
                Some(_) => Ok(Waiting::Pending(format!("{resource} {name} still exists"))),
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_runs_the_configured_image_args_and_pull_policy() {
        let config = Config {
            image: "local/busybox-www:1".into(),
            image_args: vec!["httpd".into(), "-f".into(), "-p".into(), "9090".into()],
            image_pull_policy: Some("IfNotPresent".into()),
            port: 9090,
            ..Config::default()
        };
        let d = workload("ward-e2e-deploy", &config, 2);
        let pod = d.spec.unwrap().template.spec.unwrap();
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("local/busybox-www:1"));
        assert_eq!(c.args.as_deref().unwrap(), ["httpd", "-f", "-p", "9090"]);
        assert_eq!(c.command, None, "the image's entrypoint is kept");
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(c.ports.as_deref().unwrap()[0].container_port, 9090);
        let probe = c.readiness_probe.as_ref().unwrap();
        assert_eq!(
            probe.tcp_socket.as_ref().unwrap().port,
            IntOrString::Int(9090)
        );
        // No arguments: the image's own command runs.
        let config = Config {
            image_args: Vec::new(),
            ..Config::default()
        };
        let d = workload("w", &config, 1);
        assert_eq!(
            d.spec.unwrap().template.spec.unwrap().containers[0].args,
            None
        );
    }
}

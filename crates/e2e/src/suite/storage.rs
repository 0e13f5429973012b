//! The `storage` test: a PVC of the configured storage class (or, when none is
//! given, the cluster's default StorageClass) is bound, a Job's pod writes a
//! token to it; that pod is deleted and a second Job's pod (on another node
//! where possible) reads the same token back; then the PVC is deleted and its
//! PV released. Skipped, with that reason, when no class is given and the
//! cluster has no default.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::Affinity;
use k8s_openapi::api::core::v1::{
    Container, NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm, PersistentVolume,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Pod,
    PodSpec, PodTemplateSpec, PreferredSchedulingTerm, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};

use super::{delete_and_wait, labels, pod_security, restricted, Ctx};
use crate::config::Config;
use crate::error::{status_code, ApiContext, Error, Result};
use crate::report::{Skip, SkipReason};
use crate::steps::Waiting;

const PVC: &str = "ward-e2e-data";
const WRITER: &str = "ward-e2e-write";
const READER: &str = "ward-e2e-read";
const FILE: &str = "/data/ward-e2e";

/// The annotation marking a cluster's default StorageClass.
pub(crate) const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
/// Its beta spelling, still honoured by Kubernetes.
const DEFAULT_CLASS_ANNOTATION_BETA: &str = "storageclass.beta.kubernetes.io/is-default-class";

/// Why the test is skipped when there is no class to use.
pub(crate) const NO_CLASS: &str =
    "no storage class given and the cluster has no default StorageClass \
     (set --storage-class / WARD_E2E_STORAGE_CLASS, or annotate a class with \
     storageclass.kubernetes.io/is-default-class: \"true\")";

/// The class the PVC uses.
enum Class {
    /// Named by the configuration (read in the pvc-create step).
    Given(String),
    /// The cluster's default, already read.
    Default(Box<StorageClass>),
}

/// The default class the way Kubernetes picks it: among the classes annotated
/// as default, the newest; equal ages by name.
fn default_class(classes: Vec<StorageClass>) -> Option<StorageClass> {
    let is_default = |sc: &StorageClass| {
        sc.metadata.annotations.as_ref().is_some_and(|a| {
            [DEFAULT_CLASS_ANNOTATION, DEFAULT_CLASS_ANNOTATION_BETA]
                .iter()
                .any(|k| a.get(*k).map(String::as_str) == Some("true"))
        })
    };
    classes.into_iter().filter(is_default).min_by(|a, b| {
        let created = |sc: &StorageClass| sc.metadata.creation_timestamp.as_ref().map(|t| t.0);
        created(b)
            .cmp(&created(a))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    })
}

/// Runs the test; `Ok(Some(skip))` when skipped.
pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<Option<Skip>> {
    let t = &ctx.config.timeouts;
    let client = ctx.client();
    let class = match ctx.config.storage_class.clone() {
        Some(name) => Class::Given(name),
        None => {
            // Before any step: a skipped test has none.
            let classes: Api<StorageClass> = Api::all(client.clone());
            let list = tokio::time::timeout(t.request, classes.list(&ListParams::default()))
                .await
                .map_err(|_| Error::Timeout {
                    timeout: t.request,
                    last: "listing storageclasses.storage.k8s.io for the default".into(),
                })?
                .on("list", "storageclasses.storage.k8s.io", None, None)?;
            match default_class(list.items) {
                Some(sc) => Class::Default(Box::new(sc)),
                None => return Ok(Some(Skip::new(SkipReason::NoStorageClass, NO_CLASS))),
            }
        }
    };
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ctx.ns);
    let jobs: Api<Job> = Api::namespaced(client.clone(), ctx.ns);
    let token = crate::cluster::random_id();

    let wait_first_consumer = ctx
        .steps
        .run("pvc-create", t.request, async {
            let (sc, how) = match class {
                Class::Given(name) => {
                    let classes: Api<StorageClass> = Api::all(client.clone());
                    let sc = classes.get(&name).await.on(
                        "get",
                        "storageclasses.storage.k8s.io",
                        None,
                        Some(&name),
                    )?;
                    (sc, "given")
                }
                Class::Default(sc) => (*sc, "the cluster's default"),
            };
            let class = sc.metadata.name.clone().unwrap_or_default();
            let found = format!("storage class {class} ({how})");
            tracing::info!("storage: {found}");
            ctx.steps.detail(found);
            let pvc = PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(PVC.into()),
                    labels: Some(labels(PVC)),
                    ..Default::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".into()]),
                    storage_class_name: Some(class.clone()),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([(
                            "storage".to_string(),
                            Quantity("1Gi".into()),
                        )])),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                status: None,
            };
            pvcs.create(&PostParams::default(), &pvc).await.on(
                "create",
                "persistentvolumeclaims",
                ctx.ns(),
                Some(PVC),
            )?;
            Ok(sc.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
        })
        .await?;

    let bound = || async {
        ctx.steps
            .run("pvc-bound", t.bind, wait_bound(ctx, &pvcs))
            .await
    };
    let mut volume = None;
    if !wait_first_consumer {
        volume = Some(bound().await?);
    }
    let write = format!("echo {token} > {FILE} && sync");
    let writer_node = ctx
        .steps
        .run("write", t.job, async {
            create_job(ctx, &jobs, WRITER, &write, None).await?;
            wait_job(ctx, &jobs, WRITER).await?;
            job_node(ctx, WRITER).await
        })
        .await?;
    let volume = match volume {
        Some(v) => v,
        None => bound().await?,
    };
    ctx.steps
        .run(
            "delete-writer",
            t.delete,
            delete_and_wait(ctx, &jobs, "jobs.batch", WRITER),
        )
        .await?;
    let read = format!("test \"$(cat {FILE})\" = {token}");
    ctx.steps
        .run("read", t.job, async {
            create_job(ctx, &jobs, READER, &read, writer_node.as_deref()).await?;
            wait_job(ctx, &jobs, READER).await?;
            let reader_node = job_node(ctx, READER).await?;
            let found = format!(
                "written on node {}, read on node {}",
                writer_node.as_deref().unwrap_or("?"),
                reader_node.as_deref().unwrap_or("?")
            );
            tracing::info!("storage: {found}");
            ctx.steps.detail(found);
            Ok(())
        })
        .await?;
    ctx.steps
        .run("pvc-delete", t.delete, async {
            delete_and_wait(ctx, &jobs, "jobs.batch", READER).await?;
            delete_and_wait(ctx, &pvcs, "persistentvolumeclaims", PVC).await?;
            wait_released(ctx, &volume).await
        })
        .await?;
    Ok(None)
}

/// Waits until the PVC is Bound; returns its volume name.
async fn wait_bound(ctx: &Ctx<'_>, pvcs: &Api<PersistentVolumeClaim>) -> Result<String> {
    ctx.steps
        .wait(|| async {
            let pvc =
                pvcs.get(PVC)
                    .await
                    .on("get", "persistentvolumeclaims", ctx.ns(), Some(PVC))?;
            let phase = pvc
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".into());
            let volume = pvc.spec.as_ref().and_then(|s| s.volume_name.clone());
            match (phase.as_str(), volume) {
                ("Bound", Some(v)) => Ok(Waiting::Done(v)),
                _ => Ok(Waiting::Pending(format!("PVC {PVC} is {phase}"))),
            }
        })
        .await
}

/// Waits until PV `name` is Released, recycled (Available) or deleted.
async fn wait_released(ctx: &Ctx<'_>, name: &str) -> Result<()> {
    let pvs: Api<PersistentVolume> = Api::all(ctx.client());
    ctx.steps
        .wait(|| async {
            let pv = pvs
                .get_opt(name)
                .await
                .on("get", "persistentvolumes", None, Some(name))?;
            let Some(pv) = pv else {
                return Ok(Waiting::Done(()));
            };
            let phase = pv.status.and_then(|s| s.phase).unwrap_or_default();
            match phase.as_str() {
                "Released" | "Available" => Ok(Waiting::Done(())),
                other => Ok(Waiting::Pending(format!("PV {name} is {other}"))),
            }
        })
        .await
}

async fn create_job(
    ctx: &Ctx<'_>,
    jobs: &Api<Job>,
    name: &str,
    script: &str,
    avoid_node: Option<&str>,
) -> Result<()> {
    let job = job(ctx.config, name, script, avoid_node);
    jobs.create(&PostParams::default(), &job).await.on(
        "create",
        "jobs.batch",
        ctx.ns(),
        Some(name),
    )?;
    Ok(())
}

/// A Job running `script` with `sh -c` in the shell image, the PVC at `/data`,
/// preferring a node other than `avoid_node`.
fn job(config: &Config, name: &str, script: &str, avoid_node: Option<&str>) -> Job {
    let affinity = avoid_node.map(|node| Affinity {
        node_affinity: Some(NodeAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                PreferredSchedulingTerm {
                    weight: 100,
                    preference: NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "kubernetes.io/hostname".into(),
                            operator: "NotIn".into(),
                            values: Some(vec![node.to_string()]),
                        }]),
                        ..Default::default()
                    },
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    });
    Job {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(name)),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(name)),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod_security()),
                    node_selector: (!config.node_selector.is_empty())
                        .then(|| config.node_selector.clone()),
                    affinity,
                    containers: vec![Container {
                        name: "sh".into(),
                        image: Some(config.shell_image.clone()),
                        image_pull_policy: config.image_pull_policy.clone(),
                        command: Some(vec!["sh".into(), "-c".into(), script.to_string()]),
                        volume_mounts: Some(vec![VolumeMount {
                            name: "data".into(),
                            mount_path: "/data".into(),
                            ..Default::default()
                        }]),
                        security_context: Some(restricted()),
                        ..Default::default()
                    }],
                    volumes: Some(vec![Volume {
                        name: "data".into(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: PVC.into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// Waits for the Job's Complete condition; its Failed condition fails the step.
async fn wait_job(ctx: &Ctx<'_>, jobs: &Api<Job>, name: &str) -> Result<()> {
    ctx.steps
        .wait(|| async {
            let job = jobs
                .get(name)
                .await
                .on("get", "jobs.batch", ctx.ns(), Some(name))?;
            let conditions = job.status.and_then(|s| s.conditions).unwrap_or_default();
            if conditions
                .iter()
                .any(|c| c.type_ == "Complete" && c.status == "True")
            {
                return Ok(Waiting::Done(()));
            }
            if let Some(c) = conditions
                .iter()
                .find(|c| c.type_ == "Failed" && c.status == "True")
            {
                return Err(Error::Check(format!(
                    "job {name} failed: {} {}",
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default()
                )));
            }
            let why = super::pod_problem(ctx, name)
                .await?
                .unwrap_or_else(|| "running".into());
            Ok(Waiting::Pending(format!("job {name} not complete: {why}")))
        })
        .await
}

/// The node the Job's pod ran on.
async fn job_node(ctx: &Ctx<'_>, name: &str) -> Result<Option<String>> {
    let pods: Api<Pod> = Api::namespaced(ctx.client(), ctx.ns);
    match pods
        .list(&ListParams::default().labels(&format!("job-name={name}")))
        .await
    {
        Ok(list) => Ok(list
            .items
            .into_iter()
            .find_map(|p| p.spec.and_then(|s| s.node_name))),
        Err(e) if status_code(&e) == Some(404) => Ok(None),
        Err(e) => Err(crate::error::api_error(e, "list", "pods", ctx.ns(), None)),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::chrono::{TimeZone, Utc};

    use super::*;

    fn class(name: &str, annotation: Option<(&str, &str)>, created_secs: i64) -> StorageClass {
        StorageClass {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: annotation.map(|(k, v)| BTreeMap::from([(k.into(), v.into())])),
                creation_timestamp: Some(Time(Utc.timestamp_opt(created_secs, 0).unwrap())),
                ..Default::default()
            },
            provisioner: "p".into(),
            ..Default::default()
        }
    }

    fn pick(classes: Vec<StorageClass>) -> Option<String> {
        default_class(classes).and_then(|c| c.metadata.name)
    }

    #[test]
    fn the_default_class_is_the_annotated_one() {
        let default = Some((DEFAULT_CLASS_ANNOTATION, "true"));
        assert_eq!(
            pick(vec![class("slow", None, 1), class("standard", default, 2)]),
            Some("standard".into())
        );
        // Only "true" counts; the beta annotation is honoured like Kubernetes does.
        assert_eq!(
            pick(vec![
                class("off", Some((DEFAULT_CLASS_ANNOTATION, "false")), 1),
                class("other", Some(("example.com/default", "true")), 1),
            ]),
            None
        );
        assert_eq!(
            pick(vec![class(
                "old",
                Some((DEFAULT_CLASS_ANNOTATION_BETA, "true")),
                1
            )]),
            Some("old".into())
        );
        assert_eq!(pick(vec![]), None);
    }

    #[test]
    fn several_defaults_pick_the_newest_then_the_first_name() {
        let default = Some((DEFAULT_CLASS_ANNOTATION, "true"));
        assert_eq!(
            pick(vec![
                class("a-old", default, 10),
                class("z-new", default, 20),
                class("b-new", default, 20),
            ]),
            Some("b-new".into())
        );
    }

    #[test]
    fn the_jobs_run_sh_in_the_shell_image_with_its_pull_policy() {
        let config = Config {
            shell_image: "local/busybox:1".into(),
            image_pull_policy: Some("Never".into()),
            ..Config::default()
        };
        let job = job(&config, WRITER, "echo x > /data/f", None);
        let pod = job.spec.unwrap().template.spec.unwrap();
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("local/busybox:1"));
        assert_eq!(c.image_pull_policy.as_deref(), Some("Never"));
        assert_eq!(
            c.command.as_deref().unwrap(),
            ["sh", "-c", "echo x > /data/f"]
        );
        assert_eq!(c.args, None);
        let mounts = c.volume_mounts.as_deref().unwrap();
        assert_eq!(mounts[0].mount_path, "/data");
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.run_as_user, Some(65534));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        let default = job_pull_policy(&Config::default());
        assert_eq!(default, None, "Kubernetes' own default unless configured");
    }

    fn job_pull_policy(config: &Config) -> Option<String> {
        let job = job(config, READER, "true", Some("n"));
        job.spec.unwrap().template.spec.unwrap().containers[0]
            .image_pull_policy
            .clone()
    }

    #[test]
    fn the_skip_reason_says_what_to_do() {
        assert_eq!(
            NO_CLASS,
            "no storage class given and the cluster has no default StorageClass (set --storage-class \
             / WARD_E2E_STORAGE_CLASS, or annotate a class with \
             storageclass.kubernetes.io/is-default-class: \"true\")"
        );
    }
}

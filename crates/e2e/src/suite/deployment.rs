//! The `deployment` test: create a Deployment and wait for its rollout
//! (observedGeneration, updated and available replicas, Available condition),
//! scale up and down, roll out a new revision, delete. Each wait is a step, so
//! its duration is the time to ready.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::{create_deployment, delete_and_wait, wait_rollout, workload, Ctx};
use crate::error::{ApiContext, Result};

const NAME: &str = "ward-e2e-deploy";
const RESOURCE: &str = "deployments.apps";

/// Runs the test.
pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<()> {
    let t = &ctx.config.timeouts;
    let replicas = ctx.config.replicas.max(1);
    let api: Api<Deployment> = Api::namespaced(ctx.client(), ctx.ns);
    ctx.steps
        .run(
            "create",
            t.request,
            create_deployment(ctx, &workload(NAME, ctx.config, replicas)),
        )
        .await?;
    ctx.steps
        .run(
            "rollout",
            t.rollout,
            wait_rollout(ctx, NAME, replicas, Some("1")),
        )
        .await?;
    ctx.steps
        .run("scale-up", t.rollout, async {
            scale(ctx, &api, replicas + 1).await?;
            wait_rollout(ctx, NAME, replicas + 1, None).await
        })
        .await?;
    ctx.steps
        .run("scale-down", t.rollout, async {
            scale(ctx, &api, 1).await?;
            wait_rollout(ctx, NAME, 1, None).await
        })
        .await?;
    ctx.steps
        .run("rolling-update", t.rollout, async {
            let image = ctx
                .config
                .update_image
                .clone()
                .unwrap_or_else(|| ctx.config.image.clone());
            let patch = json!({"spec": {"template": {
                "metadata": {"annotations": {"e2e.ward.dev/revision": "2"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            }}});
            api.patch(NAME, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
                .on("patch", RESOURCE, ctx.ns(), Some(NAME))?;
            wait_rollout(ctx, NAME, 1, Some("2")).await
        })
        .await?;
    ctx.steps
        .run(
            "delete",
            t.delete,
            delete_and_wait(ctx, &api, RESOURCE, NAME),
        )
        .await?;
    Ok(())
}

async fn scale(ctx: &Ctx<'_>, api: &Api<Deployment>, replicas: i32) -> Result<()> {
    let patch = json!({"spec": {"replicas": replicas}});
    api.patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .on("patch", RESOURCE, ctx.ns(), Some(NAME))?;
    Ok(())
}

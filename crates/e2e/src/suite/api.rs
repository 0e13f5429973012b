//! The `api` test: create, get, list, patch and delete a ConfigMap; each verb
//! is a step, so its latency is the step's duration.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{labels, Ctx};
use crate::error::{status_code, ApiContext, Error, Result};

const NAME: &str = "ward-e2e-api";
const RESOURCE: &str = "configmaps";

/// Runs the test.
pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client(), ctx.ns);
    let t = ctx.config.timeouts.request;
    let name = Some(NAME);
    ctx.steps
        .run("create", t, async {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(NAME.into()),
                    labels: Some(labels(NAME)),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([("value".to_string(), "1".to_string())])),
                ..Default::default()
            };
            api.create(&PostParams::default(), &cm)
                .await
                .on("create", RESOURCE, ctx.ns(), name)?;
            Ok(())
        })
        .await?;
    ctx.steps
        .run("get", t, async {
            let cm = api.get(NAME).await.on("get", RESOURCE, ctx.ns(), name)?;
            expect_value(&cm, "1")
        })
        .await?;
    ctx.steps
        .run("list", t, async {
            let list = api
                .list(&ListParams::default().labels(&format!("app={NAME}")))
                .await
                .on("list", RESOURCE, ctx.ns(), None)?;
            if list.items.len() != 1 {
                return Err(Error::Check(format!(
                    "list configmaps app={NAME}: expected 1 item, got {}",
                    list.items.len()
                )));
            }
            Ok(())
        })
        .await?;
    ctx.steps
        .run("patch", t, async {
            let patch = json!({"data": {"value": "2"}});
            let cm = api
                .patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .on("patch", RESOURCE, ctx.ns(), name)?;
            expect_value(&cm, "2")
        })
        .await?;
    ctx.steps
        .run("delete", t, async {
            api.delete(NAME, &DeleteParams::default()).await.on(
                "delete",
                RESOURCE,
                ctx.ns(),
                name,
            )?;
            match api.get(NAME).await {
                Err(e) if status_code(&e) == Some(404) => Ok(()),
                Ok(_) => Err(Error::Check(format!(
                    "configmap {NAME} still readable after delete"
                ))),
                Err(e) => Err(crate::error::api_error(e, "get", RESOURCE, ctx.ns(), name)),
            }
        })
        .await?;
    Ok(())
}

fn expect_value(cm: &ConfigMap, want: &str) -> Result<()> {
    let got = cm
        .data
        .as_ref()
        .and_then(|d| d.get("value"))
        .map(String::as_str);
    if got == Some(want) {
        Ok(())
    } else {
        Err(Error::Check(format!(
            "configmap {NAME}: expected data.value={want:?}, got {got:?}"
        )))
    }
}

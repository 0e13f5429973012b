//! The `rbac` test: a ServiceAccount bound to a Role that allows reading
//! ConfigMaps can list them, and gets 403 for everything else (creating
//! ConfigMaps, reading Secrets, listing namespaces, reading kube-system),
//! checked with real requests under its own token and with
//! SelfSubjectAccessReview. An allowed request that should be denied means the
//! cluster grants too much: the test fails at `denied`.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use kube::config::AuthInfo;

use super::{labels, Ctx};
use crate::cluster::allowed;
use crate::error::{status_code, ApiContext, Error, Result};
use crate::steps::Waiting;

/// Name of the ServiceAccount, Role and RoleBinding.
pub(crate) const NAME: &str = "ward-e2e-rbac";

/// Runs the test.
pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<()> {
    let t = &ctx.config.timeouts;
    let client = ctx.client();
    ctx.steps
        .run("setup", t.request, async {
            let meta = || ObjectMeta {
                name: Some(NAME.into()),
                labels: Some(labels(NAME)),
                ..Default::default()
            };
            let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ctx.ns);
            sas.create(
                &PostParams::default(),
                &ServiceAccount {
                    metadata: meta(),
                    ..Default::default()
                },
            )
            .await
            .on("create", "serviceaccounts", ctx.ns(), Some(NAME))?;
            let roles: Api<Role> = Api::namespaced(client.clone(), ctx.ns);
            let role = Role {
                metadata: meta(),
                rules: Some(vec![PolicyRule {
                    api_groups: Some(vec![String::new()]),
                    resources: Some(vec!["configmaps".into()]),
                    verbs: vec!["get".into(), "list".into()],
                    ..Default::default()
                }]),
            };
            roles.create(&PostParams::default(), &role).await.on(
                "create",
                "roles.rbac.authorization.k8s.io",
                ctx.ns(),
                Some(NAME),
            )?;
            let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), ctx.ns);
            let binding = RoleBinding {
                metadata: meta(),
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "Role".into(),
                    name: NAME.into(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: NAME.into(),
                    namespace: Some(ctx.ns.to_string()),
                    ..Default::default()
                }]),
            };
            bindings.create(&PostParams::default(), &binding).await.on(
                "create",
                "rolebindings.rbac.authorization.k8s.io",
                ctx.ns(),
                Some(NAME),
            )?;
            Ok(())
        })
        .await?;
    let sa_client = ctx
        .steps
        .run("token", t.request, async {
            let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ctx.ns);
            let request = TokenRequest {
                spec: TokenRequestSpec {
                    expiration_seconds: Some(600),
                    ..Default::default()
                },
                ..Default::default()
            };
            let minted = sas
                .create_token_request(NAME, &PostParams::default(), &request)
                .await
                .on("create", "serviceaccounts/token", ctx.ns(), Some(NAME))?;
            let token = minted
                .status
                .map(|s| s.token)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::Check(format!("TokenRequest for {NAME}: no token")))?;
            let mut config = ctx.cluster.config.clone();
            config.auth_info = AuthInfo {
                token: Some(token.into()),
                ..Default::default()
            };
            kube::Client::try_from(config)
                .map_err(|e| Error::Config(format!("client for ServiceAccount {NAME}: {e}")))
        })
        .await?;
    ctx.steps
        .run("allowed", t.network, async {
            let cms: Api<ConfigMap> = Api::namespaced(sa_client.clone(), ctx.ns);
            // RBAC reaches the authorizer's cache within moments; wait for it.
            ctx.steps
                .wait(|| async {
                    match cms.list(&ListParams::default()).await {
                        Ok(_) => Ok(Waiting::Done(())),
                        Err(e) if status_code(&e) == Some(403) => Ok(Waiting::Pending(format!(
                            "list configmaps as {NAME}: still 403"
                        ))),
                        Err(e) => Err(crate::error::api_error(
                            e,
                            "list",
                            "configmaps",
                            ctx.ns(),
                            None,
                        )),
                    }
                })
                .await
        })
        .await?;
    ctx.steps
        .run("denied", t.request, async {
            let mut too_broad = Vec::new();
            let cms: Api<ConfigMap> = Api::namespaced(sa_client.clone(), ctx.ns);
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some("ward-e2e-rbac-denied".into()),
                    ..Default::default()
                },
                ..Default::default()
            };
            let outcome = cms.create(&PostParams::default(), &cm).await.map(|_| ());
            expect_403(
                outcome,
                &format!("create configmaps in {}", ctx.ns),
                &mut too_broad,
            )?;
            let secrets: Api<Secret> = Api::namespaced(sa_client.clone(), ctx.ns);
            let outcome = secrets.list(&ListParams::default()).await.map(|_| ());
            expect_403(
                outcome,
                &format!("list secrets in {}", ctx.ns),
                &mut too_broad,
            )?;
            let system: Api<ConfigMap> = Api::namespaced(sa_client.clone(), "kube-system");
            let outcome = system.list(&ListParams::default()).await.map(|_| ());
            expect_403(outcome, "list configmaps in kube-system", &mut too_broad)?;
            let namespaces: Api<Namespace> = Api::all(sa_client.clone());
            let outcome = namespaces.list(&ListParams::default()).await.map(|_| ());
            expect_403(outcome, "list namespaces", &mut too_broad)?;
            if too_broad.is_empty() {
                Ok(())
            } else {
                Err(Error::Check(format!(
                    "ServiceAccount {NAME} is allowed more than its Role grants (expected 403): {}",
                    too_broad.join(", ")
                )))
            }
        })
        .await?;
    ctx.steps
        .run("access-review", t.request, async {
            let mut wrong = Vec::new();
            for (verb, resource, ns, want) in [
                ("list", "configmaps", Some(ctx.ns), true),
                ("get", "configmaps", Some(ctx.ns), true),
                ("create", "configmaps", Some(ctx.ns), false),
                ("list", "secrets", Some(ctx.ns), false),
                ("list", "namespaces", None, false),
            ] {
                let allowed = allowed(&sa_client, verb, "", resource, None, ns).await?;
                if allowed != want {
                    wrong.push(format!(
                        "{verb} {resource}{}: allowed={allowed}, expected {want}",
                        ns.map(|n| format!(" in {n}")).unwrap_or_default()
                    ));
                }
            }
            if wrong.is_empty() {
                Ok(())
            } else {
                Err(Error::Check(format!(
                    "SelfSubjectAccessReview as {NAME} disagrees with its Role: {}",
                    wrong.join(", ")
                )))
            }
        })
        .await?;
    Ok(())
}

/// A 403 is what we want; success means too broad; other errors fail the step.
fn expect_403(
    outcome: std::result::Result<(), kube::Error>,
    what: &str,
    too_broad: &mut Vec<String>,
) -> Result<()> {
    match outcome {
        Err(e) if status_code(&e) == Some(403) => Ok(()),
        Ok(()) => {
            too_broad.push(format!("{what} was allowed"));
            Ok(())
        }
        Err(e) => Err(Error::Check(format!("{what}: expected 403, got {e}"))),
    }
}

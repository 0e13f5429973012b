//! `ward-slo-controller`: `ward slo controller`, sloth's controller mode. It
//! watches sloth's `PrometheusServiceLevel` objects (`sloth.slok.dev/v1`)
//! and writes, for each, the `PrometheusRule` (`monitoring.coreos.com/v1`)
//! that `ward slo generate` writes for it, owned by the object (the garbage
//! collector deletes it with the object), with a status saying how many rules
//! were generated or what is wrong with the spec. An invalid spec writes no
//! rules and leaves the last good PrometheusRule in place. With a Lease, only
//! the replica holding it reconciles; the others wait to take over.

mod render;
mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::chrono::{SecondsFormat, Utc};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::runtime::controller::Action;
use kube::runtime::{watcher, Controller};
use kube::ResourceExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use ward_agent::metrics::{Counter, Gauge};
use ward_agent::Registry;
use ward_lease::LeaseConfig;
use ward_slo::Generator;

use crate::status::Outcome;

/// The field manager of every write.
const FIELD_MANAGER: &str = "ward-slo-controller";
/// The label every generated PrometheusRule carries (sloth's value).
const MANAGED_BY: &str = "app.kubernetes.io/managed-by=sloth";
/// How long after a failed API request an object is tried again.
const RETRY: Duration = Duration::from_secs(5);
/// How often a replica without the Lease tries to take it.
const LEASE_RETRY: Duration = Duration::from_secs(2);

/// What the controller watches and how.
#[derive(Debug)]
pub struct Settings {
    /// Only objects in this namespace (default: all namespaces).
    pub namespace: Option<String>,
    /// Only objects matching this label selector.
    pub label_selector: Option<String>,
    /// How often every object is generated again, though nothing changed.
    pub resync: Duration,
    /// How many objects are reconciled at once.
    pub workers: u16,
    /// The generator (`ward slo generate`'s flags).
    pub generator: Generator,
    /// The Lease for leader election (`None`: this replica always leads).
    pub lease: Option<LeaseConfig>,
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A CustomResourceDefinition it needs is not installed.
    #[error("the {kind} CRD ({plural}.{group}, version {version}) is not installed in the cluster: {hint}")]
    CrdMissing {
        /// The kind.
        kind: &'static str,
        /// Its plural.
        plural: &'static str,
        /// Its API group.
        group: &'static str,
        /// Its version.
        version: &'static str,
        /// Where to get it.
        hint: &'static str,
    },
    /// No cluster to connect to (no kubeconfig, not in a pod).
    #[error("connecting to the cluster: {source}")]
    Connect {
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The API server could not be asked.
    #[error("looking up {kind} ({group}/{version}) in the API server: {source}")]
    Discovery {
        /// The kind.
        kind: &'static str,
        /// Its API group.
        group: &'static str,
        /// Its version.
        version: &'static str,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
}

/// A kind the controller needs, and where its CRD comes from.
struct Kind {
    kind: &'static str,
    plural: &'static str,
    group: &'static str,
    version: &'static str,
    hint: &'static str,
}

const SERVICE_LEVEL: Kind = Kind {
    kind: "PrometheusServiceLevel",
    plural: "prometheusservicelevels",
    group: "sloth.slok.dev",
    version: "v1",
    hint: "install it with the chart (sloController.installCRD=true) or sloth's",
};

const PROMETHEUS_RULE: Kind = Kind {
    kind: "PrometheusRule",
    plural: "prometheusrules",
    group: "monitoring.coreos.com",
    version: "v1",
    hint: "install prometheus-operator's CRDs",
};

impl Kind {
    /// The kind's API resource, or why it has none.
    async fn resolve(&self, client: &kube::Client) -> Result<ApiResource, Error> {
        let gvk = GroupVersionKind::gvk(self.group, self.version, self.kind);
        match kube::discovery::pinned_kind(client, &gvk).await {
            Ok((resource, _)) => Ok(resource),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(self.missing()),
            Err(kube::Error::Discovery(_)) => Err(self.missing()),
            Err(source) => Err(Error::Discovery {
                kind: self.kind,
                group: self.group,
                version: self.version,
                source,
            }),
        }
    }

    fn missing(&self) -> Error {
        Error::CrdMissing {
            kind: self.kind,
            plural: self.plural,
            group: self.group,
            version: self.version,
            hint: self.hint,
        }
    }
}

/// The controller's metrics.
struct Metrics {
    registry: Arc<Registry>,
    leader: Arc<Gauge>,
}

impl Metrics {
    fn new(registry: Arc<Registry>) -> Self {
        let leader = registry.gauge("ward_slo_controller_leader", &[]);
        Metrics { registry, leader }
    }

    /// `ward_slo_controller_reconciles_total{result}`: ok, invalid, conflict or error.
    fn reconciled(&self, result: &str) -> Arc<Counter> {
        self.registry.counter(
            "ward_slo_controller_reconciles_total",
            &[("result", result)],
        )
    }
}

/// `/metrics` (the reconcile counters, whether this replica leads, process
/// metrics) and `/healthz`, for any method.
pub fn router(registry: Arc<Registry>) -> axum::Router {
    ward_agent::metrics_router(registry).route("/healthz", axum::routing::any(|| async { "ok" }))
}

/// What every reconcile shares.
struct Context {
    generator: Generator,
    rules: ApiResource,
    client: kube::Client,
    service_levels: ApiResource,
    resync: Duration,
    workers: u16,
    metrics: Metrics,
}

/// A failed API request while reconciling one object.
#[derive(Debug, thiserror::Error)]
#[error("{verb} {what}: {source}")]
struct ApiError {
    verb: &'static str,
    what: String,
    #[source]
    source: kube::Error,
}

/// Connects to the cluster (kubeconfig or in-cluster), checks that both
/// CRDs are installed, then reconciles (while holding the
/// Lease, if any) until `stop`. Errors of single objects are logged, counted
/// in `ward_slo_controller_reconciles_total{result="error"}` and retried.
pub async fn run(
    settings: Settings,
    registry: Arc<Registry>,
    stop: CancellationToken,
) -> Result<(), Error> {
    let client = kube::Client::try_default()
        .await
        .map_err(|source| Error::Connect { source })?;
    let service_levels = SERVICE_LEVEL.resolve(&client).await?;
    let rules = PROMETHEUS_RULE.resolve(&client).await?;
    let metrics = Metrics::new(registry);
    for result in ["ok", "invalid", "conflict", "error"] {
        metrics.reconciled(result);
    }
    let ctx = Arc::new(Context {
        generator: settings.generator,
        rules,
        client: client.clone(),
        service_levels,
        resync: settings.resync,
        workers: settings.workers,
        metrics,
    });
    let scope = Scope {
        namespace: settings.namespace,
        label_selector: settings.label_selector,
    };
    let Some(lease) = settings.lease else {
        ctx.metrics.leader.set(1.0);
        reconcile_until(&ctx, &scope, stop.clone().cancelled_owned()).await;
        return Ok(());
    };
    while !stop.is_cancelled() {
        let holding = tokio::select! {
            _ = stop.cancelled() => break,
            h = ward_lease::acquire(&client, &lease) => match h {
                Ok(h) => h,
                Err(e) => {
                    match e {
                        ward_lease::Error::Held { .. } => tracing::debug!(error = %e, "not leading"),
                        ward_lease::Error::Api { .. } => tracing::warn!(error = %e, "cannot take the lease"),
                    }
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(LEASE_RETRY) => continue,
                    }
                }
            },
        };
        tracing::info!(lease = %lease.name, holder = %lease.holder, "leading: reconciling");
        ctx.metrics.leader.set(1.0);
        let lost = tokio::select! {
            _ = reconcile_until(&ctx, &scope, stop.clone().cancelled_owned()) => false,
            _ = holding.lost() => true,
        };
        ctx.metrics.leader.set(0.0);
        if lost {
            tracing::warn!(lease = %lease.name, "lost the lease: waiting to lead again");
        } else if let Err(e) = holding.release().await {
            tracing::warn!(error = %e, "giving up the lease failed");
        }
    }
    Ok(())
}

/// Which objects are watched.
struct Scope {
    namespace: Option<String>,
    label_selector: Option<String>,
}

impl Scope {
    fn api(&self, client: &kube::Client, resource: &ApiResource) -> Api<DynamicObject> {
        match &self.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
            None => Api::all_with(client.clone(), resource),
        }
    }
}

/// Runs the watch-and-reconcile loop until `stop` resolves.
async fn reconcile_until(
    ctx: &Arc<Context>,
    scope: &Scope,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let mut watch = watcher::Config::default();
    if let Some(selector) = &scope.label_selector {
        watch = watch.labels(selector);
    }
    Controller::new_with(
        scope.api(&ctx.client, &ctx.service_levels),
        watch,
        ctx.service_levels.clone(),
    )
    .owns_with(
        scope.api(&ctx.client, &ctx.rules),
        ctx.rules.clone(),
        watcher::Config::default().labels(MANAGED_BY),
    )
    .with_config(kube::runtime::controller::Config::default().concurrency(ctx.workers))
    .graceful_shutdown_on(stop)
    .run(reconcile, error_policy, ctx.clone())
    .for_each(|result| async move {
        if let Err(e) = result {
            tracing::debug!(error = %e, "controller event");
        }
    })
    .await;
}

fn error_policy(psl: Arc<DynamicObject>, e: &ApiError, ctx: Arc<Context>) -> Action {
    tracing::warn!(object = %key(&psl), error = %e, "reconcile failed; retrying");
    ctx.metrics.reconciled("error").inc();
    Action::requeue(RETRY)
}

fn key(psl: &DynamicObject) -> String {
    format!("{}/{}", psl.namespace().unwrap_or_default(), psl.name_any())
}

/// One object: generate, write the PrometheusRule if it differs, write the
/// status if it differs.
async fn reconcile(psl: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action, ApiError> {
    if psl.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = psl.namespace().unwrap_or_default();
    let name = psl.name_any();
    let outcome = match render::render(&ctx.generator, &psl) {
        Ok(r) => write_rule(&ctx, &psl, &namespace, r).await?,
        Err(message) => Outcome::Invalid(message),
    };
    if let Outcome::Invalid(m) | Outcome::Conflict(m) = &outcome {
        tracing::warn!(object = %key(&psl), "{m}");
    }
    ctx.metrics.reconciled(outcome.result()).inc();
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let next = status::next(
        &psl.data["status"],
        psl.metadata.generation.unwrap_or(0),
        render::slo_count(&psl),
        &outcome,
        &format!("{namespace}/{name}"),
        &now,
    );
    if let Some(status) = next {
        let api: Api<DynamicObject> =
            Api::namespaced_with(ctx.client.clone(), &namespace, &ctx.service_levels);
        api.patch_status(
            &name,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .map_err(|source| ApiError {
            verb: "patch status of",
            what: format!("prometheusservicelevel {namespace}/{name}"),
            source,
        })?;
    }
    Ok(Action::requeue(ctx.resync))
}

/// Creates or updates the object's PrometheusRule; a rule of the same name
/// that the object does not own is left alone.
async fn write_rule(
    ctx: &Context,
    psl: &DynamicObject,
    namespace: &str,
    rendered: render::Rendered,
) -> Result<Outcome, ApiError> {
    let name = psl.name_any();
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), namespace, &ctx.rules);
    let failed = |verb: &'static str| {
        let what = format!("prometheusrule {namespace}/{name}");
        move |source| ApiError { verb, what, source }
    };
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    let mut desired = rendered.rule;
    let written = match api.get_opt(&name).await.map_err(failed("get"))? {
        None => {
            api.create(&params, &desired)
                .await
                .map_err(failed("create"))?;
            true
        }
        Some(existing) if !render::owned_by(&existing, psl) => {
            return Ok(Outcome::Conflict(format!(
                "PrometheusRule {namespace}/{name} exists and is not owned by this PrometheusServiceLevel: rename or delete it"
            )));
        }
        Some(existing) if render::same_rule(&existing, &desired) => false,
        Some(existing) => {
            desired.metadata.resource_version = existing.metadata.resource_version;
            api.replace(&name, &params, &desired)
                .await
                .map_err(failed("update"))?;
            true
        }
    };
    Ok(Outcome::Generated {
        rules: rendered.rules,
        written,
    })
}

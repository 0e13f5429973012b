//! The suite's view of the cluster: the client (kubeconfig, context or
//! in-cluster), the preflight (reachable, credentials valid, every permission
//! the selected tests need, checked with SelfSubjectAccessReview before any
//! object exists), the run's namespace with its labels and TTL annotation, the
//! Lease against overlapping runs, and `sweep` of namespaces past their TTL.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::chrono::Utc;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use serde::Serialize;

use crate::config::{LeaseConfig, TestName};
use crate::error::{api_error, status_code, ApiContext, Error, Result};
use crate::steps::{Steps, Waiting};

/// Label every run namespace carries (value `true`); `sweep` selects on it.
pub const RUN_LABEL: &str = "e2e.ward.dev/run";
/// The standard managed-by label, value `ward`.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "ward");
/// Annotation with the namespace's time to live in seconds.
pub const TTL_ANNOTATION: &str = "e2e.ward.dev/ttl-seconds";
/// Prefix of run namespaces.
pub const NAMESPACE_PREFIX: &str = "ward-e2e-";

/// A connected cluster: the client and the configuration it came from.
#[derive(Clone)]
pub struct Cluster {
    /// The client.
    pub client: kube::Client,
    /// Its configuration (the rbac test derives a ServiceAccount client from it).
    pub config: kube::Config,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.config.cluster_url.to_string())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects with `kubeconfig` (and `context`), or `$KUBECONFIG`/`~/.kube/config`,
    /// or the in-cluster ServiceAccount. Call inside a tokio runtime.
    pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Self> {
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = match kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path)
                    .map_err(|e| Error::Config(kubeconfig_error(&e, Some(path))))?;
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| Error::Config(kubeconfig_error(&e, Some(path))))?
            }
            None => match kube::Config::from_kubeconfig(&options).await {
                Ok(config) => config,
                // No kubeconfig in a pod: its service account, as kube's `infer`.
                Err(e) if context.is_none() => kube::Config::incluster().map_err(|_| {
                    Error::Config(format!(
                        "{}; not in a cluster either (pass --kubeconfig)",
                        kubeconfig_error(&e, None)
                    ))
                })?,
                Err(e) => return Err(Error::Config(kubeconfig_error(&e, None))),
            },
        };
        Self::from_config(config)
    }

    /// Wraps an existing client configuration.
    pub fn from_config(config: kube::Config) -> Result<Self> {
        let client = kube::Client::try_from(config.clone())
            .map_err(|e| Error::Config(format!("building the Kubernetes client: {e}")))?;
        Ok(Self { client, config })
    }

    /// The API server URL.
    pub fn server(&self) -> String {
        self.config.cluster_url.to_string()
    }

    /// Checks that the API server answers and accepts the credentials.
    pub async fn check_reachable(&self) -> Result<()> {
        match self.client.apiserver_version().await {
            Ok(_) => {}
            Err(e) if status_code(&e).is_some() => {
                return Err(api_error(e, "get", "/version", None, None))
            }
            Err(e) => {
                return Err(Error::Unreachable {
                    server: self.server(),
                    detail: crate::error::chain(&e),
                })
            }
        }
        // /version is public; a namespaced read tells whether the credentials are valid.
        allowed(&self.client, "get", "", "namespaces", None, None).await?;
        Ok(())
    }

    /// Asks the API server, with SelfSubjectAccessReviews, whether every permission is granted.
    pub async fn missing_permissions(&self, needs: &[Permission]) -> Result<Vec<Permission>> {
        let mut missing = Vec::new();
        for need in needs {
            let granted = allowed(
                &self.client,
                need.verb,
                need.group,
                need.resource,
                need.subresource,
                need.namespace.as_deref(),
            )
            .await?;
            if !granted {
                missing.push(need.clone());
            }
        }
        Ok(missing)
    }
}

/// One line on a kubeconfig that could not be used, naming its path (the
/// one given, or the one kube read from $KUBECONFIG or ~/.kube/config).
fn kubeconfig_error(e: &KubeconfigError, given: Option<&Path>) -> String {
    match (e, given) {
        (KubeconfigError::ReadConfig(io, path), _) => {
            format!("reading kubeconfig {}: {io}", path.display())
        }
        (e, Some(path)) => format!("loading kubeconfig {}: {e}", path.display()),
        (e, None) => format!("loading kubeconfig: {e}"),
    }
}

/// Asks the API server, with a SelfSubjectAccessReview, whether `client` may
/// make one request.
pub(crate) async fn allowed(
    client: &kube::Client,
    verb: &str,
    group: &str,
    resource: &str,
    subresource: Option<&str>,
    namespace: Option<&str>,
) -> Result<bool> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_string()),
                group: Some(group.to_string()),
                resource: Some(resource.to_string()),
                subresource: subresource.map(str::to_string),
                namespace: namespace.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .on(
            "create",
            "selfsubjectaccessreviews.authorization.k8s.io",
            None,
            None,
        )?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// One permission the suite needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// Verb.
    pub verb: &'static str,
    /// API group (`""` for core).
    pub group: &'static str,
    /// Resource (plural).
    pub resource: &'static str,
    /// Subresource (`token`), if any.
    pub subresource: Option<&'static str>,
    /// Namespace; `None` for cluster-scoped.
    pub namespace: Option<String>,
}

impl Permission {
    /// `plural.group[/sub]`, as RBAC names it.
    pub fn resource_name(&self) -> String {
        let mut s = self.resource.to_string();
        if !self.group.is_empty() {
            s = format!("{s}.{}", self.group);
        }
        if let Some(sub) = self.subresource {
            s = format!("{s}/{sub}");
        }
        s
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource_name())?;
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns}"),
            None => write!(f, " (cluster-wide)"),
        }
    }
}

/// What the run itself and each selected test need, in namespace `ns`. The
/// storage test reads the class it is given (`storage_class_given`) or lists
/// the classes to find the cluster's default.
pub fn permissions(
    tests: &[TestName],
    ns: &str,
    lease: Option<&LeaseConfig>,
    storage_class_given: bool,
) -> Vec<Permission> {
    let p = |verb, group, resource, namespaced: bool| Permission {
        verb,
        group,
        resource,
        subresource: None,
        namespace: namespaced.then(|| ns.to_string()),
    };
    let mut out = vec![
        p("create", "", "namespaces", false),
        p("delete", "", "namespaces", false),
    ];
    if let Some(l) = lease {
        for verb in ["get", "create", "update", "delete"] {
            out.push(Permission {
                namespace: Some(l.namespace.clone()),
                ..p(verb, "coordination.k8s.io", "leases", true)
            });
        }
    }
    for test in tests {
        match test {
            TestName::Api => {
                for verb in ["create", "get", "list", "patch", "delete"] {
                    out.push(p(verb, "", "configmaps", true));
                }
            }
            TestName::Deployment | TestName::Networking => {
                for verb in ["create", "get", "patch", "delete"] {
                    out.push(p(verb, "apps", "deployments", true));
                }
                out.push(p("list", "", "pods", true));
                if *test == TestName::Networking {
                    for verb in ["create", "get", "delete"] {
                        out.push(p(verb, "", "services", true));
                    }
                    out.push(p("list", "discovery.k8s.io", "endpointslices", true));
                }
            }
            TestName::Storage => {
                for verb in ["create", "get", "delete"] {
                    out.push(p(verb, "", "persistentvolumeclaims", true));
                    out.push(p(verb, "batch", "jobs", true));
                }
                out.push(p("list", "", "pods", true));
                out.push(p("get", "", "persistentvolumes", false));
                let verb = if storage_class_given { "get" } else { "list" };
                out.push(p(verb, "storage.k8s.io", "storageclasses", false));
            }
            TestName::Rbac => {
                out.push(p("create", "", "serviceaccounts", true));
                out.push(Permission {
                    subresource: Some("token"),
                    ..p("create", "", "serviceaccounts", true)
                });
                out.push(p("create", "rbac.authorization.k8s.io", "roles", true));
                out.push(p(
                    "create",
                    "rbac.authorization.k8s.io",
                    "rolebindings",
                    true,
                ));
            }
        }
    }
    let mut seen = Vec::new();
    out.retain(|p| {
        let new = !seen.contains(p);
        if new {
            seen.push(p.clone());
        }
        new
    });
    out
}

/// Creates the run's namespace, labelled as ward's with its TTL.
pub async fn create_namespace(client: &kube::Client, name: &str, ttl: Duration) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([
                (RUN_LABEL.to_string(), "true".to_string()),
                (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
            ])),
            annotations: Some(BTreeMap::from([(
                TTL_ANNOTATION.to_string(),
                ttl.as_secs().to_string(),
            )])),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&PostParams::default(), &ns)
        .await
        .on("create", "namespaces", None, Some(name))?;
    Ok(())
}

/// Deletes namespace `name` and waits (within the step's timeout) until it is gone.
pub async fn delete_namespace(client: &kube::Client, name: &str, steps: &Steps) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(e) if status_code(&e) == Some(404) => return Ok(()),
        Err(e) => return Err(api_error(e, "delete", "namespaces", None, Some(name))),
    }
    steps
        .wait(|| async {
            match api
                .get_opt(name)
                .await
                .on("get", "namespaces", None, Some(name))?
            {
                None => Ok(Waiting::Done(())),
                Some(ns) => {
                    let phase = ns
                        .status
                        .and_then(|s| s.phase)
                        .unwrap_or_else(|| "Unknown".into());
                    Ok(Waiting::Pending(format!("namespace {name} is {phase}")))
                }
            }
        })
        .await
}

/// A held Lease, renewed in the background until released.
pub use ward_lease::Holding as LeaseGuard;

/// Takes the Lease, failing with [`Error::Busy`] while another holder's is valid.
pub async fn acquire_lease(client: &kube::Client, config: &LeaseConfig) -> Result<LeaseGuard> {
    ward_lease::acquire(client, config)
        .await
        .map_err(|e| match e {
            ward_lease::Error::Held {
                namespace,
                name,
                holder,
                age_seconds,
            } => Error::Busy {
                namespace,
                name,
                holder,
                age_seconds,
            },
            ward_lease::Error::Api {
                verb,
                namespace,
                name,
                source,
            } => api_error(
                source,
                verb,
                "leases.coordination.k8s.io",
                Some(&namespace),
                Some(&name),
            ),
        })
}

/// One namespace `sweep` looked at.
#[derive(Debug, Clone, Serialize)]
pub struct SweptNamespace {
    /// Namespace name.
    pub name: String,
    /// Age in seconds.
    pub age_seconds: i64,
    /// Its TTL in seconds.
    pub ttl_seconds: i64,
    /// True when it was deleted (older than its TTL).
    pub deleted: bool,
}

/// What `sweep` did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SweepReport {
    /// Every ward e2e namespace found, deleted or kept.
    pub namespaces: Vec<SweptNamespace>,
}

/// Deletes ward e2e namespaces older than their TTL annotation (`default_ttl`
/// when it is missing or unreadable); leaves younger ones alone.
pub async fn sweep(client: &kube::Client, default_ttl: Duration) -> Result<SweepReport> {
    let api: Api<Namespace> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default().labels(&format!("{RUN_LABEL}=true")))
        .await
        .on("list", "namespaces", None, None)?;
    let now = Utc::now();
    let mut report = SweepReport::default();
    for ns in list.items {
        let name = ns.metadata.name.clone().unwrap_or_default();
        if !name.starts_with(NAMESPACE_PREFIX) {
            continue;
        }
        let Some(created) = ns.metadata.creation_timestamp.as_ref() else {
            continue;
        };
        let age = (now - created.0).num_seconds();
        let ttl = ns
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(TTL_ANNOTATION))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(default_ttl.as_secs() as i64);
        let terminating = ns.metadata.deletion_timestamp.is_some();
        let expired = age > ttl;
        if expired && !terminating {
            match api.delete(&name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(e) if status_code(&e) == Some(404) => {}
                Err(e) => return Err(api_error(e, "delete", "namespaces", None, Some(&name))),
            }
        }
        report.namespaces.push(SweptNamespace {
            name,
            age_seconds: age,
            ttl_seconds: ttl,
            deleted: expired,
        });
    }
    Ok(report)
}

/// A random run id: 6 lowercase letters and digits.
pub fn random_id() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_cover_the_run_and_selected_tests_once() {
        let ps = permissions(&[TestName::Api, TestName::Rbac], "ward-e2e-x", None, false);
        let text: Vec<String> = ps.iter().map(ToString::to_string).collect();
        assert!(
            text.contains(&"create namespaces (cluster-wide)".to_string()),
            "{text:?}"
        );
        assert!(text.contains(&"patch configmaps in namespace ward-e2e-x".to_string()));
        assert!(text.contains(&"create serviceaccounts/token in namespace ward-e2e-x".to_string()));
        assert!(!text.iter().any(|t| t.contains("deployments")));
        let ps = permissions(
            &[TestName::Deployment, TestName::Networking],
            "n",
            None,
            false,
        );
        let deploys = ps
            .iter()
            .filter(|p| p.resource == "deployments" && p.verb == "create")
            .count();
        assert_eq!(deploys, 1, "deduplicated");
    }

    #[test]
    fn storage_reads_the_given_class_or_lists_them_for_the_default() {
        let classes = |given| -> Vec<String> {
            permissions(&[TestName::Storage], "n", None, given)
                .iter()
                .filter(|p| p.resource == "storageclasses")
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            classes(true),
            ["get storageclasses.storage.k8s.io (cluster-wide)"]
        );
        assert_eq!(
            classes(false),
            ["list storageclasses.storage.k8s.io (cluster-wide)"]
        );
        let text: Vec<String> = permissions(&[TestName::Storage], "n", None, false)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            text.contains(&"create persistentvolumeclaims in namespace n".to_string()),
            "{text:?}"
        );
    }

    #[test]
    fn random_ids_are_dns_labels() {
        let id = random_id();
        assert_eq!(id.len(), 6);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }
}

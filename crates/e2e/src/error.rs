//! The one error type of the suite. Messages name the operation and the object
//! ("create deployments.apps in namespace ward-e2e-x1y2z3") so a one-line
//! report says what to fix; a missing permission names the verb and resource.

use std::time::Duration;

use crate::report::FailureReason;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while running the suite or one of its steps.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server could not be reached at all.
    #[error("API server {server} unreachable: {detail}")]
    Unreachable {
        /// The server URL.
        server: String,
        /// The client error with its causes.
        detail: String,
    },
    /// The API server rejected the credentials (HTTP 401).
    #[error("API server rejected the credentials (401 Unauthorized) while trying to {action}: the token or certificate is invalid or expired")]
    Unauthorized {
        /// What was being done.
        action: String,
    },
    /// RBAC denied a request (HTTP 403).
    #[error("missing permission: cannot {verb} {resource}{}", in_namespace(.namespace))]
    Forbidden {
        /// The verb (`create`, `list`, …).
        verb: String,
        /// The resource, `plural.group` (`deployments.apps`, `configmaps`).
        resource: String,
        /// The namespace, for namespaced requests.
        namespace: Option<String>,
    },
    /// Several permissions are missing (found by the preflight, before any object exists).
    #[error("missing permissions: {}", .0.join("; "))]
    Permissions(Vec<String>),
    /// Any other API error.
    #[error("{action}: {detail}")]
    Api {
        /// What was being done ("create deployments.apps ward-e2e-web").
        action: String,
        /// The HTTP status, when the server answered.
        status: Option<u16>,
        /// The client error with its causes.
        detail: String,
    },
    /// A step did not finish within its timeout.
    #[error("not done within {timeout:?}{}", last_seen(.last))]
    Timeout {
        /// The step's timeout.
        timeout: Duration,
        /// The last state observed while waiting.
        last: String,
    },
    /// The whole test did not finish within its timeout.
    #[error("test timeout ({0:?})")]
    TestTimeout(Duration),
    /// An expectation of a test did not hold.
    #[error("{0}")]
    Check(String),
    /// Another run holds the Lease.
    #[error("another run holds Lease {namespace}/{name} (holder {holder}, renewed {age_seconds}s ago); runs must not overlap")]
    Busy {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The other holder's identity.
        holder: String,
        /// Seconds since it renewed the Lease.
        age_seconds: i64,
    },
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// The run was cancelled (SIGTERM).
    #[error("cancelled (termination signal)")]
    Cancelled,
    /// `ward e2e serve` could not listen for `/metrics`.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Setting up or flushing the OTLP exporter failed.
    #[error("OTLP export: {0}")]
    Otlp(String),
}

fn in_namespace(ns: &Option<String>) -> String {
    match ns {
        Some(ns) => format!(" in namespace {ns}"),
        None => " (cluster-wide)".to_string(),
    }
}

fn last_seen(last: &str) -> String {
    if last.is_empty() {
        String::new()
    } else {
        format!("; last seen: {last}")
    }
}

impl Error {
    /// True when the error is an RBAC denial or rejected credentials.
    pub fn is_permission(&self) -> bool {
        matches!(self, Error::Forbidden { .. } | Error::Unauthorized { .. })
    }

    /// The stable reason of this failure in step `step` (`None`: the test or
    /// the setup). A timeout is classified by what its wait last saw (the
    /// suite's own notes: `not scheduled`, `waiting: ErrImagePull`, …) and
    /// by its step (`dns-*`).
    pub fn reason(&self, step: Option<&str>) -> FailureReason {
        let dns_step = step.is_some_and(|s| s.starts_with("dns"));
        match self {
            Error::Unreachable { .. } => FailureReason::ApiUnavailable,
            Error::Unauthorized { .. } => FailureReason::Unauthorized,
            Error::Forbidden { .. } | Error::Permissions(_) => FailureReason::Forbidden,
            Error::Api { status, detail, .. } => {
                if detail.contains("admission webhook")
                    || detail.contains("ValidatingAdmissionPolicy")
                {
                    FailureReason::AdmissionDenied
                } else if status.is_none_or(|s| s >= 500 || s == 429) {
                    FailureReason::ApiUnavailable
                } else {
                    FailureReason::ApiError
                }
            }
            Error::Timeout { last, .. } => {
                if last.contains("ErrImagePull") || last.contains("ImagePullBackOff") {
                    FailureReason::ImagePull
                } else if last.contains("not scheduled") {
                    FailureReason::Unschedulable
                } else if dns_step {
                    FailureReason::Dns
                } else if last.contains("connect_refused") || last.contains("Connection refused") {
                    FailureReason::ConnectionRefused
                } else {
                    FailureReason::Timeout
                }
            }
            Error::TestTimeout(_) => FailureReason::Timeout,
            Error::Check(_) if dns_step => FailureReason::Dns,
            Error::Check(_) => FailureReason::CheckFailed,
            Error::Config(_) => FailureReason::Config,
            Error::Cancelled => FailureReason::Cancelled,
            Error::Busy { .. } | Error::Listen { .. } | Error::Otlp(_) => FailureReason::Other,
        }
    }
}

/// Maps kube client errors to [`Error`], naming the verb and resource.
pub(crate) trait ApiContext<T> {
    /// Names the request: `verb` on `resource` (`plural.group`), in `namespace` if any, for object `name`.
    fn on(
        self,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<T>;
}

impl<T> ApiContext<T> for std::result::Result<T, kube::Error> {
    fn on(
        self,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<T> {
        self.map_err(|e| api_error(e, verb, resource, namespace, name))
    }
}

/// Converts one kube error.
pub(crate) fn api_error(
    e: kube::Error,
    verb: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Error {
    let mut action = format!("{verb} {resource}");
    if let Some(name) = name {
        action.push(' ');
        action.push_str(name);
    }
    if let Some(ns) = namespace {
        action.push_str(" in namespace ");
        action.push_str(ns);
    }
    match &e {
        kube::Error::Api(status) if status.code == 403 => Error::Forbidden {
            verb: verb.to_string(),
            resource: resource.to_string(),
            namespace: namespace.map(str::to_string),
        },
        kube::Error::Api(status) if status.code == 401 => Error::Unauthorized { action },
        _ => Error::Api {
            action,
            status: status_code(&e),
            detail: chain(&e),
        },
    }
}

/// An error and its causes on one line, without the repetitions kube's
/// wrappers add ("client error (Connect): client error (Connect): …").
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// The HTTP status of an API error, if the server answered.
pub(crate) fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_names_verb_resource_and_namespace() {
        let e = Error::Forbidden {
            verb: "create".into(),
            resource: "deployments.apps".into(),
            namespace: Some("ward-e2e-abc".into()),
        };
        assert_eq!(
            e.to_string(),
            "missing permission: cannot create deployments.apps in namespace ward-e2e-abc"
        );
        let e = Error::Forbidden {
            verb: "delete".into(),
            resource: "namespaces".into(),
            namespace: None,
        };
        assert_eq!(
            e.to_string(),
            "missing permission: cannot delete namespaces (cluster-wide)"
        );
    }

    #[test]
    fn failures_get_a_stable_reason() {
        let api = |status, detail: &str| Error::Api {
            action: "create pods".into(),
            status,
            detail: detail.into(),
        };
        let timeout = |last: &str| Error::Timeout {
            timeout: Duration::from_secs(1),
            last: last.into(),
        };
        let cases = [
            (
                Error::Unreachable {
                    server: "https://k".into(),
                    detail: "refused".into(),
                },
                None,
                "api_unavailable",
            ),
            (
                Error::Unauthorized {
                    action: "list pods".into(),
                },
                None,
                "unauthorized",
            ),
            (Error::Permissions(vec!["create pods".into()]), None, "forbidden"),
            (
                api(Some(400), "admission webhook \"deny.example\" denied the request"),
                Some("create"),
                "admission_denied",
            ),
            (api(Some(503), "unavailable"), Some("create"), "api_unavailable"),
            (api(None, "client error (Connect)"), Some("create"), "api_unavailable"),
            (api(Some(409), "AlreadyExists"), Some("create"), "api_error"),
            (
                timeout("deployment web: 0/1 available; pod web-1 container app waiting: ImagePullBackOff Back-off"),
                Some("rollout"),
                "image_pull",
            ),
            (
                timeout("pod web-1 not scheduled: 0/1 nodes are available"),
                Some("rollout"),
                "unschedulable",
            ),
            (timeout("web.ns.svc resolves to {}"), Some("dns-service"), "dns"),
            (
                timeout("GET http://10.0.0.1/: connect_refused: Connection refused"),
                Some("http-pods"),
                "connection_refused",
            ),
            (timeout("0/2 available"), Some("rollout"), "timeout"),
            (Error::TestTimeout(Duration::from_secs(60)), None, "timeout"),
            (Error::Check("endpoints differ".into()), Some("dns-headless"), "dns"),
            (Error::Check("read back 3 bytes".into()), Some("read"), "check_failed"),
            (Error::Cancelled, None, "cancelled"),
        ];
        for (e, step, want) in cases {
            assert_eq!(e.reason(step).as_str(), want, "{e} in {step:?}");
        }
        assert_eq!(
            Error::TestTimeout(Duration::from_secs(60)).to_string(),
            "test timeout (60s)"
        );
    }

    #[test]
    fn timeout_shows_the_last_observation() {
        let e = Error::Timeout {
            timeout: Duration::from_secs(2),
            last: "0/2 available".into(),
        };
        assert_eq!(
            e.to_string(),
            "not done within 2s; last seen: 0/2 available"
        );
    }
}

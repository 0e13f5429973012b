//! `ward-lease`: a `coordination.k8s.io/v1` Lease held by one holder at a
//! time. [`acquire`] takes it when it is free, expired or already ours, and
//! renews it in the background; [`Holding::lost`] says when it stopped being
//! ours (another holder took it, or no renewal succeeded within two thirds of
//! its duration); [`Holding::release`] gives it up. The e2e runner uses it to
//! keep runs from overlapping, the SLO controller for leader election.
//!
//! Expiry is judged from the Lease's `renewTime` against this machine's clock,
//! as kubectl shows it: clocks of the holders must agree to within a small part
//! of the duration.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::chrono::{DateTime, Utc};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// Where a pod finds its own namespace (its service account's).
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Which Lease, held by whom, for how long.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Namespace of the Lease (the holder's own namespace).
    pub namespace: String,
    /// Lease name.
    pub name: String,
    /// This holder's identity (pod name).
    pub holder: String,
    /// How long the Lease stays valid without renewal.
    pub duration: Duration,
}

impl LeaseConfig {
    /// The Lease `name` in `namespace` (default: the pod's own namespace),
    /// held as `holder` (default: the pod's or host's name, else
    /// `default_holder`) for `duration`; `None` when no namespace is given
    /// and none is mounted (outside a cluster).
    pub fn new(
        name: &str,
        namespace: Option<String>,
        holder: Option<String>,
        default_holder: &str,
        duration: Duration,
    ) -> Option<Self> {
        let namespace = namespace.filter(|n| !n.is_empty()).or_else(|| {
            std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })?;
        Some(LeaseConfig {
            namespace,
            name: name.to_string(),
            holder: holder
                .filter(|h| !h.is_empty())
                .or_else(ward_agent::host_name)
                .unwrap_or_else(|| default_holder.into()),
            duration,
        })
    }
}

/// Why the Lease could not be taken or given up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another holder's Lease is still valid (or another taker won the race).
    #[error("Lease {namespace}/{name} is held by {holder} (renewed {age_seconds}s ago)")]
    Held {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The other holder's identity.
        holder: String,
        /// Seconds since it renewed the Lease.
        age_seconds: i64,
    },
    /// The API request failed.
    #[error("{verb} leases.coordination.k8s.io {name} in namespace {namespace}: {source}")]
    Api {
        /// `get`, `create`, `update` or `delete`.
        verb: &'static str,
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
}

/// The holder a lost create/update race reports: someone else wrote first.
pub const CONCURRENT_TAKER: &str = "a concurrent taker";

/// A held Lease, renewed in the background until released or lost.
pub struct Holding {
    api: Api<Lease>,
    config: LeaseConfig,
    lost: CancellationToken,
    renew: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Holding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holding")
            .field("lease", &self.config.name)
            .field("holder", &self.config.holder)
            .finish()
    }
}

fn micro_now() -> MicroTime {
    MicroTime(Utc::now())
}

/// The other holder and the age of its renewal, while its Lease is valid.
fn valid_holder(lease: &Lease, now: DateTime<Utc>) -> Option<(String, i64)> {
    let spec = lease.spec.as_ref()?;
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty())?;
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    let age = (now - renewed).num_seconds();
    (age < duration).then_some((holder, age))
}

impl Error {
    fn api(verb: &'static str, config: &LeaseConfig, source: kube::Error) -> Error {
        if matches!(&source, kube::Error::Api(s) if s.code == 409) {
            return Error::Held {
                namespace: config.namespace.clone(),
                name: config.name.clone(),
                holder: CONCURRENT_TAKER.into(),
                age_seconds: 0,
            };
        }
        Error::Api {
            verb,
            namespace: config.namespace.clone(),
            name: config.name.clone(),
            source,
        }
    }
}

/// Takes the Lease if it is free, expired or ours, and starts renewing it;
/// fails with [`Error::Held`] while another holder's is valid.
pub async fn acquire(client: &kube::Client, config: &LeaseConfig) -> Result<Holding, Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &config.namespace);
    let spec = LeaseSpec {
        holder_identity: Some(config.holder.clone()),
        lease_duration_seconds: Some(config.duration.as_secs().clamp(1, i32::MAX as u64) as i32),
        acquire_time: Some(micro_now()),
        renew_time: Some(micro_now()),
        ..Default::default()
    };
    match api
        .get_opt(&config.name)
        .await
        .map_err(|e| Error::api("get", config, e))?
    {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.name.clone()),
                    namespace: Some(config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(spec),
            };
            api.create(&PostParams::default(), &lease)
                .await
                .map_err(|e| Error::api("create", config, e))?;
        }
        Some(mut lease) => {
            if let Some((holder, age_seconds)) = valid_holder(&lease, Utc::now()) {
                if holder != config.holder {
                    return Err(Error::Held {
                        namespace: config.namespace.clone(),
                        name: config.name.clone(),
                        holder,
                        age_seconds,
                    });
                }
            }
            lease.spec = Some(spec);
            // resourceVersion is kept: a concurrent taker makes this fail with 409.
            api.replace(&config.name, &PostParams::default(), &lease)
                .await
                .map_err(|e| Error::api("update", config, e))?;
        }
    }
    let lost = CancellationToken::new();
    let renew = tokio::spawn(renew(api.clone(), config.clone(), lost.clone()));
    Ok(Holding {
        api,
        config: config.clone(),
        lost,
        renew,
    })
}

/// Renews every third of the duration until the Lease is lost: taken by
/// another holder, or not renewed for two thirds of the duration.
async fn renew(api: Api<Lease>, config: LeaseConfig, lost: CancellationToken) {
    let every = (config.duration / 3).max(Duration::from_millis(500));
    let deadline = config.duration * 2 / 3;
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(every).await;
        match renew_once(&api, &config).await {
            Ok(true) => renewed = tokio::time::Instant::now(),
            Ok(false) => {
                tracing::warn!(lease = %config.name, "lease taken over by another holder");
                break;
            }
            Err(e) => {
                tracing::warn!(lease = %config.name, error = %e, "renewing the lease failed");
                if renewed.elapsed() >= deadline {
                    tracing::warn!(lease = %config.name, "lease not renewed in time: giving it up");
                    break;
                }
            }
        }
    }
    lost.cancel();
}

/// One renewal: `Ok(false)` when the Lease is no longer ours.
async fn renew_once(api: &Api<Lease>, config: &LeaseConfig) -> Result<bool, kube::Error> {
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        return Ok(false);
    };
    let Some(spec) = lease.spec.as_mut() else {
        return Ok(false);
    };
    if spec.holder_identity.as_deref() != Some(config.holder.as_str()) {
        return Ok(false);
    }
    spec.renew_time = Some(micro_now());
    api.replace(&config.name, &PostParams::default(), &lease)
        .await?;
    Ok(true)
}

impl Holding {
    /// Resolves when the Lease is no longer ours (taken over, or not renewed
    /// in time); whoever acts on holding it must stop then.
    pub fn lost(&self) -> WaitForCancellationFuture<'_> {
        self.lost.cancelled()
    }

    /// Stops renewing and gives the Lease up (deletes it if still ours).
    pub async fn release(self) -> Result<(), Error> {
        self.renew.abort();
        let config = &self.config;
        let lease = self
            .api
            .get_opt(&config.name)
            .await
            .map_err(|e| Error::api("get", config, e))?;
        let ours = lease
            .as_ref()
            .and_then(|l| l.spec.as_ref())
            .and_then(|s| s.holder_identity.as_deref())
            == Some(config.holder.as_str());
        if ours {
            match self
                .api
                .delete(&config.name, &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(Error::api("delete", config, e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::chrono::TimeDelta;

    fn lease(holder: &str, renewed: DateTime<Utc>, duration: i32) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(duration),
                renew_time: Some(MicroTime(renewed)),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_lease_is_held_until_its_duration_passes() {
        let now = Utc::now();
        let ago = |s| now - TimeDelta::seconds(s);
        assert_eq!(
            valid_holder(&lease("a", ago(14), 15), now),
            Some(("a".to_string(), 14))
        );
        assert_eq!(valid_holder(&lease("a", ago(15), 15), now), None);
        assert_eq!(valid_holder(&lease("", ago(0), 15), now), None);
    }
}

//! Fault specs (`cut:node-3`, `delay:node-2:200ms`, `api-down`,
//! `api-delay:5s`, `cordon:node-1`, `kill:node-4`, `dns-down`,
//! `dns-servfail`, `dns-delay:200ms`): parsing,
//! their canonical text, and switching them on and off in a running lab.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::node_name;
use crate::{lock, Error, Inner};

/// One fault the lab can apply and clear.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The node's nurse stops answering (requests hang, as with dropped packets).
    Cut(String),
    /// The node's nurse answers after this extra latency.
    Delay(String, Duration),
    /// The simulated API server closes its listener (connections refused).
    ApiDown,
    /// The simulated API server answers after this extra latency.
    ApiDelay(Duration),
    /// The node is marked unschedulable in the API.
    Cordon(String),
    /// The node's nurse is shut down (cleared: started again).
    Kill(String),
    /// The cluster DNS drops every query (clients time out).
    DnsDown,
    /// The cluster DNS answers SERVFAIL to every query.
    DnsServfail,
    /// The cluster DNS answers after this extra latency.
    DnsDelay(Duration),
}

impl Fault {
    /// The node concerned, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            Fault::Cut(n) | Fault::Delay(n, _) | Fault::Cordon(n) | Fault::Kill(n) => Some(n),
            Fault::ApiDown
            | Fault::ApiDelay(_)
            | Fault::DnsDown
            | Fault::DnsServfail
            | Fault::DnsDelay(_) => None,
        }
    }

    /// Its kind, as its spec starts: `cut`, `delay`, `api-down`, `api-delay`, `cordon`, `kill`,
    /// `dns-down`, `dns-servfail`, `dns-delay`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Cut(_) => "cut",
            Fault::Delay(..) => "delay",
            Fault::ApiDown => "api-down",
            Fault::ApiDelay(_) => "api-delay",
            Fault::Cordon(_) => "cordon",
            Fault::Kill(_) => "kill",
            Fault::DnsDown => "dns-down",
            Fault::DnsServfail => "dns-servfail",
            Fault::DnsDelay(_) => "dns-delay",
        }
    }

    /// Refuses a fault on a node the lab does not have (it has node-1 to node-`nodes`).
    pub(crate) fn check_node(&self, nodes: usize) -> Result<(), FaultError> {
        match self.node() {
            Some(n) if !(0..nodes).any(|i| node_name(i) == n) => Err(FaultError {
                spec: self.to_string(),
                reason: format!("no node {n:?}; the lab has node-1 to node-{nodes}"),
            }),
            _ => Ok(()),
        }
    }

    /// True when `other` is the same fault on the same target (ignoring a delay's amount).
    pub fn same_kind(&self, other: &Fault) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other) && self.node() == other.node()
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Cut(n) => write!(f, "cut:{n}"),
            Fault::Delay(n, d) => write!(f, "delay:{n}:{}", ward_duration::GoDuration(*d)),
            Fault::ApiDown => write!(f, "api-down"),
            Fault::ApiDelay(d) => write!(f, "api-delay:{}", ward_duration::GoDuration(*d)),
            Fault::Cordon(n) => write!(f, "cordon:{n}"),
            Fault::Kill(n) => write!(f, "kill:{n}"),
            Fault::DnsDown => write!(f, "dns-down"),
            Fault::DnsServfail => write!(f, "dns-servfail"),
            Fault::DnsDelay(d) => write!(f, "dns-delay:{}", ward_duration::GoDuration(*d)),
        }
    }
}

/// Why a fault spec was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--fault {spec:?}: {reason}")]
pub struct FaultError {
    /// The spec given.
    pub spec: String,
    /// What was expected.
    pub reason: String,
}

const EXPECTED: &str = "expected cut:NODE, delay:NODE:DURATION, cordon:NODE, kill:NODE, api-down, api-delay:DURATION, dns-down, dns-servfail or dns-delay:DURATION";

impl FromStr for Fault {
    type Err = FaultError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| FaultError {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let node = |n: &str| -> Result<String, FaultError> {
            if n.is_empty() {
                Err(bad("the node name is empty"))
            } else {
                Ok(n.to_string())
            }
        };
        let duration =
            |d: &str| ward_duration::parse(d).map_err(|e| bad(&format!("delay {d:?}: {e}")));
        match parts.as_slice() {
            ["api-down"] | ["stop-api"] => Ok(Fault::ApiDown),
            ["api-delay", d] => Ok(Fault::ApiDelay(duration(d)?)),
            ["dns-down"] => Ok(Fault::DnsDown),
            ["dns-servfail"] => Ok(Fault::DnsServfail),
            ["dns-delay", d] => Ok(Fault::DnsDelay(duration(d)?)),
            ["cut", n] => Ok(Fault::Cut(node(n)?)),
            ["cordon", n] => Ok(Fault::Cordon(node(n)?)),
            ["kill", n] => Ok(Fault::Kill(node(n)?)),
            ["delay", n, d] => Ok(Fault::Delay(node(n)?, duration(d)?)),
            _ => Err(bad(EXPECTED)),
        }
    }
}

// === switching faults in a running lab ===

impl Inner {
    fn node_index(&self, name: &str) -> Option<usize> {
        lock(&self.nodes).iter().position(|n| n.name == name)
    }

    pub(crate) fn apply(self: &Arc<Self>, fault: &Fault) -> Result<(), Error> {
        self.switch(fault, true)?;
        let mut state = lock(&self.state);
        state.active.retain(|f| !f.same_kind(fault));
        state.active.push(fault.clone());
        state.applied.push(fault.to_string());
        tracing::info!(fault = %fault, "fault applied");
        Ok(())
    }

    pub(crate) fn clear(self: &Arc<Self>, fault: &Fault) -> Result<(), Error> {
        self.switch(fault, false)?;
        lock(&self.state).active.retain(|f| !f.same_kind(fault));
        tracing::info!(fault = %fault, "fault cleared");
        Ok(())
    }

    /// Turns the fault's effect on or off (the bookkeeping is the caller's).
    fn switch(self: &Arc<Self>, fault: &Fault, on: bool) -> Result<(), Error> {
        fault.check_node(self.config.nodes)?;
        let index = fault.node().and_then(|n| self.node_index(n));
        let faults = index.and_then(|i| lock(&self.nodes).get(i).map(|n| n.faults.clone()));
        let when_on = |d: Duration| if on { d } else { Duration::ZERO };
        match fault {
            Fault::Cut(_) => faults.iter().for_each(|f| f.set_cut(on)),
            Fault::Delay(_, d) => faults.iter().for_each(|f| f.set_delay(when_on(*d))),
            Fault::ApiDown => self.sim.set_available(!on),
            Fault::ApiDelay(d) => self.sim.set_delay(when_on(*d)),
            Fault::DnsDown => self.dns.set_down(on),
            Fault::DnsServfail => self.dns.set_servfail(on),
            Fault::DnsDelay(d) => self.dns.set_delay(when_on(*d)),
            Fault::Cordon(n) => self.set_unschedulable(n, on)?,
            Fault::Kill(n) if on => {
                let l = index.and_then(|i| {
                    lock(&self.nodes)
                        .get_mut(i)
                        .and_then(|n| n.lifecycle.take())
                });
                if let Some(l) = l {
                    l.request_shutdown();
                }
                let mut state = lock(&self.state);
                state.statuses.remove(n);
                state.dns.remove(n);
                state.via.remove(n);
            }
            Fault::Kill(_) => {
                if let Some(i) = index {
                    let running = lock(&self.nodes)
                        .get(i)
                        .is_some_and(|n| n.lifecycle.is_some());
                    if !running {
                        self.start_nurse(i)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip() {
        for spec in [
            "cut:node-3",
            "delay:node-2:200ms",
            "api-down",
            "api-delay:5s",
            "cordon:node-1",
            "kill:node-4",
            "dns-down",
            "dns-servfail",
            "dns-delay:200ms",
        ] {
            let f: Fault = spec.parse().unwrap();
            assert_eq!(f.to_string(), spec);
        }
        assert_eq!("stop-api".parse::<Fault>().unwrap(), Fault::ApiDown);
    }

    #[test]
    fn bad_specs_name_the_argument() {
        assert_eq!(
            "explode:node-1".parse::<Fault>().unwrap_err().to_string(),
            format!("--fault \"explode:node-1\": {EXPECTED}")
        );
        assert!("delay:node-1:fast"
            .parse::<Fault>()
            .unwrap_err()
            .to_string()
            .starts_with("--fault \"delay:node-1:fast\": delay \"fast\""));
        assert!("cut:".parse::<Fault>().is_err());
        assert_eq!(
            "dns-delay:soon".parse::<Fault>().unwrap_err().to_string(),
            "--fault \"dns-delay:soon\": delay \"soon\": invalid duration \"soon\" (expected e.g. 500ms, 5s, 1m30s)"
        );
        for bad in [
            "dns-down:node-1",
            "dns-delay",
            "dns",
            "api-delay",
            "dns-servfail:1",
        ] {
            assert_eq!(bad.parse::<Fault>().unwrap_err().reason, EXPECTED, "{bad}");
        }
    }
}

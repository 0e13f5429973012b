//! The upstream bookkeeping of the lab's ingress, as nginx keeps it for
//! ingress-nginx with its defaults: smooth weighted round robin over the
//! endpoints (every weight 1, so plain rotation while all is well), each
//! request trying another upstream after an error or a timeout, and passive
//! marking: an upstream that failed `max_fails` times is skipped for
//! `fail_timeout`, then given one request again. When no upstream is left
//! to try, nginx answers "no live upstreams" and forgets every mark.
//! Transcribed from nginx's `ngx_http_upstream_round_robin.c`
//! (`ngx_http_upstream_get_peer`, `ngx_http_upstream_free_round_robin_peer`).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// The ingress's settings: ingress-nginx's defaults, its upstream timeout fitted to the lab's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressConfig {
    /// Attempts per request, each on another upstream (`proxy-next-upstream-tries`, 3).
    pub tries: usize,
    /// How long one attempt waits for the upstream's answer (`proxy-read-timeout`, 60 s).
    pub read_timeout: Duration,
    /// Failures within `fail_timeout` that mark an upstream (nginx `max_fails`, 1; 0: never).
    pub max_fails: u32,
    /// How long a marked upstream is skipped, and the window its failures count in (nginx `fail_timeout`, 10 s).
    pub fail_timeout: Duration,
}

impl IngressConfig {
    /// ingress-nginx's defaults as they are.
    pub const INGRESS_NGINX: Self = Self {
        tries: 3,
        read_timeout: Duration::from_secs(60),
        max_fails: 1,
        fail_timeout: Duration::from_secs(10),
    };

    /// The lab's ingress for nurses whose checks wait `check_timeout`:
    /// ingress-nginx's defaults, except that an attempt waits at most half
    /// the check timeout. With 60 s, a silent upstream would hold every
    /// request sent to it until the nurse gave up, so no retry could help.
    pub fn for_checks(check_timeout: Duration) -> Self {
        Self {
            read_timeout: Self::INGRESS_NGINX.read_timeout.min(check_timeout / 2),
            ..Self::INGRESS_NGINX
        }
    }
}

/// Every upstream's weight (ingress-nginx gives endpoints equal weights).
const WEIGHT: i64 = 1;

/// nginx's state of one upstream (`ngx_http_upstream_rr_peer_t`).
#[derive(Debug, Clone, Copy)]
struct Peer {
    current_weight: i64,
    effective_weight: i64,
    fails: u32,
    /// When it last failed.
    accessed: Option<Instant>,
    /// When it last failed, or was last picked after its fail_timeout.
    checked: Option<Instant>,
}

impl Default for Peer {
    fn default() -> Self {
        Self {
            current_weight: 0,
            effective_weight: WEIGHT,
            fails: 0,
            accessed: None,
            checked: None,
        }
    }
}

/// The upstreams of the ingress, shared by every request through it.
#[derive(Debug)]
pub(crate) struct Upstreams {
    config: IngressConfig,
    peers: HashMap<String, Peer>,
}

impl Upstreams {
    pub(crate) fn new(config: IngressConfig) -> Self {
        Self {
            config,
            peers: HashMap::new(),
        }
    }

    /// True while `peer` is skipped: `max_fails` failures, the last within `fail_timeout`.
    fn skipped(&self, peer: &Peer, now: Instant) -> bool {
        self.config.max_fails > 0
            && peer.fails >= self.config.max_fails
            && peer
                .checked
                .is_some_and(|c| now.duration_since(c) <= self.config.fail_timeout)
    }

    /// The upstream for the next attempt of a request that has tried
    /// `tried`: of the `endpoints` neither tried nor skipped, the one with
    /// the highest current weight. `None` when none is left; every mark is
    /// then forgotten (nginx: "mark them as live for quick recovery"). A
    /// single endpoint is never skipped (nginx keeps no state for it).
    pub(crate) fn pick(
        &mut self,
        endpoints: &[String],
        tried: &[String],
        now: Instant,
    ) -> Option<String> {
        if let [only] = endpoints {
            return (!tried.contains(only)).then(|| only.clone());
        }
        let mut best: Option<(&String, i64)> = None;
        let mut total = 0;
        for name in endpoints.iter().filter(|n| !tried.contains(n)) {
            let mut peer = self.peers.get(name).copied().unwrap_or_default();
            if self.skipped(&peer, now) {
                continue;
            }
            peer.current_weight += peer.effective_weight;
            total += peer.effective_weight;
            if peer.effective_weight < WEIGHT {
                peer.effective_weight += 1;
            }
            if best.is_none_or(|(_, w)| peer.current_weight > w) {
                best = Some((name, peer.current_weight));
            }
            self.peers.insert(name.clone(), peer);
        }
        let Some((name, _)) = best else {
            self.peers.values_mut().for_each(|p| p.fails = 0);
            return None;
        };
        let fail_timeout = self.config.fail_timeout;
        let peer = self.peers.entry(name.clone()).or_default();
        peer.current_weight -= total;
        if peer
            .checked
            .is_none_or(|c| now.duration_since(c) > fail_timeout)
        {
            peer.checked = Some(now);
        }
        Some(name.clone())
    }

    /// An attempt on `name` ended, `failed` (an error or a timeout) or not.
    pub(crate) fn done(&mut self, name: &str, failed: bool, now: Instant) {
        let max_fails = i64::from(self.config.max_fails);
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        if failed {
            peer.fails += 1;
            peer.accessed = Some(now);
            peer.checked = Some(now);
            if max_fails > 0 {
                peer.effective_weight = (peer.effective_weight - WEIGHT / max_fails).max(0);
            }
        } else if peer.accessed < peer.checked {
            peer.fails = 0;
        }
    }

    /// The upstreams skipped now, by name.
    pub(crate) fn skipped_now(&self, now: Instant) -> Vec<String> {
        let mut names: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| self.skipped(p, now))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("node-{i}")).collect()
    }

    /// Picks for `count` requests that all succeed on their first attempt.
    fn rotation(
        up: &mut Upstreams,
        endpoints: &[String],
        count: usize,
        now: Instant,
    ) -> Vec<String> {
        (0..count)
            .map(|_| {
                let name = up.pick(endpoints, &[], now).unwrap();
                up.done(&name, false, now);
                name
            })
            .collect()
    }

    #[test]
    fn equal_weights_rotate_over_every_endpoint() {
        let mut up = Upstreams::new(IngressConfig::INGRESS_NGINX);
        let all = names(3);
        let picked = rotation(&mut up, &all, 6, Instant::now());
        assert_eq!(
            picked,
            ["node-1", "node-2", "node-3", "node-1", "node-2", "node-3"]
        );
    }

    #[test]
    fn a_failed_upstream_is_skipped_for_fail_timeout_then_tried_once() {
        let config = IngressConfig::INGRESS_NGINX;
        let mut up = Upstreams::new(config.clone());
        let all = names(3);
        let t0 = Instant::now();
        // node-1 fails: the request goes on to node-2 and node-1 is marked.
        let first = up.pick(&all, &[], t0).unwrap();
        assert_eq!(first, "node-1");
        up.done(&first, true, t0);
        let retry = up.pick(&all, std::slice::from_ref(&first), t0).unwrap();
        assert_eq!(retry, "node-2");
        up.done(&retry, false, t0);
        assert_eq!(up.skipped_now(t0), ["node-1"]);
        // Within fail_timeout nobody is sent to node-1.
        let within = t0 + config.fail_timeout;
        assert!(!rotation(&mut up, &all, 8, within).contains(&first));
        // After it, node-1 gets one request; while that is out, it is skipped again.
        let after = within + Duration::from_millis(1);
        let mut probe = None;
        for _ in 0..all.len() * 2 {
            let name = up.pick(&all, &[], after).unwrap();
            if name == first {
                probe = Some(name);
                break;
            }
            up.done(&name, false, after);
        }
        let probe = probe.expect("node-1 tried again after fail_timeout");
        assert!(!rotation(&mut up, &all, 4, after).contains(&first));
        // It answers: back in the rotation.
        up.done(&probe, false, after);
        assert!(up.skipped_now(after).is_empty());
        assert!(rotation(&mut up, &all, 4, after).contains(&first));
    }

    #[test]
    fn a_probe_that_fails_marks_the_upstream_again() {
        let config = IngressConfig::INGRESS_NGINX;
        let mut up = Upstreams::new(config.clone());
        let all = names(2);
        let t0 = Instant::now();
        up.pick(&all, &[], t0);
        up.done("node-1", true, t0);
        let later = t0 + config.fail_timeout + Duration::from_millis(1);
        let probe = (0..all.len() * 2)
            .map(|_| up.pick(&all, &[], later).unwrap())
            .find(|n| n == "node-1");
        assert_eq!(probe.as_deref(), Some("node-1"));
        up.done("node-1", true, later);
        assert_eq!(up.skipped_now(later + config.fail_timeout), ["node-1"]);
    }

    #[test]
    fn no_live_upstream_left_forgets_every_mark() {
        let mut up = Upstreams::new(IngressConfig::INGRESS_NGINX);
        let all = names(2);
        let t0 = Instant::now();
        for name in ["node-1", "node-2"] {
            assert_eq!(up.pick(&all, &[], t0).as_deref(), Some(name));
            up.done(name, true, t0);
        }
        assert_eq!(up.pick(&all, &[], t0), None);
        assert!(up.skipped_now(t0).is_empty());
        assert!(up.pick(&all, &[], t0).is_some());
    }

    #[test]
    fn a_request_tries_each_upstream_at_most_once() {
        let mut up = Upstreams::new(IngressConfig::INGRESS_NGINX);
        let all = names(2);
        let t0 = Instant::now();
        assert_eq!(up.pick(&all, &all, t0), None);
        let only = names(1);
        assert_eq!(up.pick(&only, &[], t0).as_deref(), Some("node-1"));
        assert_eq!(up.pick(&only, &only, t0), None);
    }

    #[test]
    fn the_lab_fits_an_attempt_in_half_a_check() {
        let c = IngressConfig::for_checks(Duration::from_secs(1));
        assert_eq!(c.read_timeout, Duration::from_millis(500));
        assert_eq!(
            (c.tries, c.max_fails, c.fail_timeout),
            (3, 1, Duration::from_secs(10))
        );
        assert_eq!(
            IngressConfig::for_checks(Duration::from_secs(600)).read_timeout,
            Duration::from_secs(60)
        );
    }
}

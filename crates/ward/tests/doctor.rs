//! `ward doctor` against a real Prometheus (testkit's, its TSDB backfilled
//! with `promtool tsdb create-blocks-from openmetrics`): two hours of
//! `apiserver_request_total` for three instances, the etcd leader series
//! of three members and CoreDNS' answers, every counter steady, so that the
//! shares (which do not depend on where `rate` extrapolates to) are exact.
//! An imbalanced set (80/10/10, the nurse's direct check of one instance
//! failing) is flagged, a balanced one (34/33/33) is not; a resolv.conf with ndots:5 and three search domains costs 8
//! queries per external name; an unreachable Prometheus is one finding and
//! the DNS check still runs; an unknown `--only` name is a usage error.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{run, Run};
use ward_testkit::net::free_port;
use ward_testkit::prometheus::Prometheus;

/// How much history is backfilled.
const HISTORY: Duration = Duration::from_secs(2 * 3600);

/// A pod's resolv.conf in namespace default.
const POD_RESOLV_CONF: &str = "\
search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
";

/// A resolv.conf that costs one name per lookup.
const PLAIN_RESOLV_CONF: &str = "nameserver 10.96.0.10\n";

/// `name{labels}` every minute over the [`HISTORY`] up to `end` (Unix
/// seconds): `value(i)` at the i-th minute, as OpenMetrics lines.
fn series(out: &mut String, end: u64, name: &str, labels: &str, value: impl Fn(u64) -> u64) {
    let start = end - HISTORY.as_secs();
    for (i, t) in (start..=end).step_by(60).enumerate() {
        out.push_str(&format!("{name}{{{labels}}} {} {t}\n", value(i as u64)));
    }
}

/// A Prometheus holding the API servers' requests (per minute, by
/// instance), the nurse's direct check of each (all passing but `failing`,
/// no GOAWAY received), three etcd members (the second leads, after
/// `leader_changes` changes half-way through), and CoreDNS' answers (5%
/// SERVFAIL).
fn prometheus(
    per_minute: [u64; 3],
    failing: Option<usize>,
    leader_changes: u64,
) -> (Prometheus, String) {
    let end = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let half = HISTORY.as_secs() / 60 / 2;
    let mut om = String::from("# TYPE apiserver_request counter\n");
    for (i, n) in per_minute.iter().enumerate() {
        let labels = format!("instance=\"10.0.0.{}:6443\",verb=\"GET\"", i + 1);
        series(&mut om, end, "apiserver_request_total", &labels, |m| m * n);
    }
    om.push_str("# TYPE ward_nurse_check_success gauge\n");
    for i in 0..3 {
        let labels = format!(
            "type=\"api_server_instance\",endpoint=\"10.0.0.{}:6443\"",
            i + 1
        );
        let up = u64::from(failing != Some(i));
        series(&mut om, end, "ward_nurse_check_success", &labels, |_| up);
    }
    om.push_str("# TYPE etcd_server_is_leader gauge\n");
    for member in 1..=3 {
        let labels = format!("instance=\"10.0.1.{member}:2379\"");
        series(&mut om, end, "etcd_server_is_leader", &labels, |_| {
            u64::from(member == 2)
        });
    }
    om.push_str("# TYPE etcd_server_leader_changes_seen counter\n");
    for member in 1..=3 {
        let labels = format!("instance=\"10.0.1.{member}:2379\"");
        let changes = |m| if m < half { 0 } else { leader_changes };
        series(
            &mut om,
            end,
            "etcd_server_leader_changes_seen_total",
            &labels,
            changes,
        );
    }
    om.push_str("# TYPE coredns_dns_responses counter\n");
    for (rcode, n) in [("NOERROR", 570), ("SERVFAIL", 30)] {
        let labels = format!("rcode=\"{rcode}\"");
        series(&mut om, end, "coredns_dns_responses_total", &labels, |m| {
            m * n
        });
    }
    om.push_str("# EOF\n");
    let prometheus = Prometheus::builder()
        .backfill(om, Vec::<String>::new(), end - HISTORY.as_secs(), end)
        .start()
        .expect("prometheus starts on the backfilled data");
    let url = format!("http://{}", prometheus.addr());
    (prometheus, url)
}

/// `text` in a resolv.conf file of its own, kept as long as the folder.
fn resolv_conf(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("resolv.conf");
    std::fs::write(&path, text).unwrap();
    path
}

fn doctor(args: &[&str]) -> Run {
    run(["doctor"].iter().chain(args))
}

#[test]
fn an_imbalanced_api_server_and_a_moving_etcd_leader_are_flagged_worst_first() {
    let (_prometheus, url) = prometheus([4800, 600, 600], Some(2), 2);
    let dir = tempfile::tempdir().unwrap();
    let resolv = resolv_conf(dir.path(), POD_RESOLV_CONF);
    let r = doctor(&[
        "--prometheus",
        &url,
        "--resolv-conf",
        &resolv.display().to_string(),
    ]);
    let resolv = resolv.display();
    assert_eq!(
        (r.code(), r.stderr.as_str(), r.stdout),
        (
            Some(1),
            "",
            format!("\
SEVERITY  CHECK        FINDING
warning   api-balance  10.0.0.1:6443 serves 80% of API requests: 3 instances, fair share 33.33%, flagged above 50% (1.5x fair)
                       fix: start kube-apiserver with --goaway-chance=0.001 so that HTTP/2 clients reconnect now and then and spread over the instances
warning   api-balance  1 of 3 API-server instances fail the nurse's direct check: 10.0.0.3:6443
                       fix: read that kube-apiserver's /readyz and logs; the nurse's kubenurse_errors_total{{type=\"api_server_instance\"}} names the failing phase
warning   etcd         the etcd leader changed 2 times in the last 24h; leader now 10.0.1.2:2379 (of 3 members)
                       fix: before maintenance on a node that runs the etcd leader, hand the leadership over first: etcdctl move-leader <ID of a member staying up>
warning   dns          an external name like example.com (1 dot, fewer than ndots:5) costs 8 queries: 3 search domains x (A+AAAA) + the name itself (A+AAAA) ({resolv}: ndots:5, search default.svc.cluster.local svc.cluster.local cluster.local)
                       fix: set ndots:1 in the pod's dnsConfig (options: [{{name: ndots, value: \"1\"}}]), or write external names as FQDNs with a trailing dot (example.com.)
warning   dns          CoreDNS answered SERVFAIL to 5% of its queries over the last 5m
                       fix: CoreDNS could not get answers from its upstream: check the forward plugin's servers and CoreDNS' logs
skipped   slo          no SLO recording rules in Prometheus (ward slo generate writes them)
")
        )
    );
    // The same findings as JSON.
    let r = doctor(&[
        "--prometheus",
        &url,
        "--only",
        "api-balance,etcd",
        "-o",
        "json",
    ]);
    assert_eq!(r.code(), Some(1));
    let json = r.json();
    let findings = json["findings"].as_array().unwrap();
    let fields: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("api-balance", "warning"),
            ("api-balance", "warning"),
            ("etcd", "warning")
        ]
    );
}

#[test]
fn a_balanced_api_server_and_a_steady_etcd_leader_are_no_finding() {
    let (_prometheus, url) = prometheus([2040, 1980, 1980], None, 0);
    let r = doctor(&["--prometheus", &url, "--only", "api-balance,etcd"]);
    assert_eq!(
        (r.code(), r.stderr.as_str(), r.stdout.as_str()),
        (
            Some(0),
            "",
            "\
SEVERITY  CHECK        FINDING
ok        api-balance  busiest 10.0.0.1:6443 serves 34% of API requests: 3 instances, fair share 33.33%, flagged above 50% (1.5x fair)
ok        api-balance  the nurse reaches each of 3 API-server instances directly; no GOAWAY from any instance in the last 1h (--goaway-chance unset?)
ok        etcd         leader 10.0.1.2:2379 (of 3 members), no leader change in the last 24h
"
        )
    );
}

#[test]
fn ndots_5_with_three_search_domains_is_an_eightfold_amplification() {
    let dir = tempfile::tempdir().unwrap();
    let resolv = resolv_conf(dir.path(), POD_RESOLV_CONF);
    let r = doctor(&[
        "--only",
        "dns",
        "--resolv-conf",
        &resolv.display().to_string(),
    ]);
    assert_eq!(
        (r.code(), r.stderr.as_str(), r.stdout),
        (
            Some(1),
            "",
            format!("\
SEVERITY  CHECK  FINDING
warning   dns    an external name like example.com (1 dot, fewer than ndots:5) costs 8 queries: 3 search domains x (A+AAAA) + the name itself (A+AAAA) ({}: ndots:5, search default.svc.cluster.local svc.cluster.local cluster.local)
                 fix: set ndots:1 in the pod's dnsConfig (options: [{{name: ndots, value: \"1\"}}]), or write external names as FQDNs with a trailing dot (example.com.)
", resolv.display())
        )
    );
    let missing = dir.path().join("missing.conf");
    let r = doctor(&[
        "--only",
        "dns",
        "--resolv-conf",
        &missing.display().to_string(),
    ]);
    assert_eq!(
        (r.code(), r.stdout),
        (
            Some(2),
            format!(
                "\
SEVERITY  CHECK  FINDING
unknown   dns    could not read {0}: No such file or directory (os error 2)
",
                missing.display()
            )
        )
    );
}

#[test]
fn an_unreachable_prometheus_is_one_finding_and_dns_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let resolv = resolv_conf(dir.path(), PLAIN_RESOLV_CONF);
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{addr}");
    let r = doctor(&[
        "--prometheus",
        &url,
        "--resolv-conf",
        &resolv.display().to_string(),
    ]);
    assert_eq!(
        (r.code(), r.stderr.as_str(), r.stdout),
        (
            Some(2),
            "",
            format!("\
SEVERITY  CHECK       FINDING
unknown   prometheus  Prometheus at {url} is unreachable: connecting to {addr} ({addr}): Connection refused (os error 111); not checked: api-balance, etcd, dns (CoreDNS errors), slo
                      fix: give --prometheus the base URL of a Prometheus that scrapes the cluster, reachable from where ward runs
ok        dns         an external name like example.com costs 2 queries (A+AAAA) ({}: ndots:1, no search list)
", resolv.display())
        )
    );
    // Without --prometheus, the checks that read it are skipped.
    let r = doctor(&["--only", "etcd,slo"]);
    assert_eq!(
        (r.code(), r.stdout.as_str()),
        (
            Some(0),
            "\
SEVERITY  CHECK  FINDING
skipped   etcd   needs --prometheus
skipped   slo    needs --prometheus
"
        )
    );
}

#[test]
fn an_unknown_check_is_a_one_line_usage_error() {
    let r = doctor(&["--only", "dns,dsn"]);
    assert_eq!(
        (r.code(), r.stdout.as_str(), r.stderr.as_str()),
        (
            Some(2),
            "",
            "ward doctor: invalid value 'dsn' for '--only <CHECK>': check \"dsn\" is unknown (valid checks: api-balance, etcd, dns, slo)\n"
        )
    );
}

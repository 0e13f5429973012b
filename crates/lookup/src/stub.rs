//! A lookup through resolv.conf exactly as the glibc stub resolver makes it:
//! the search-path walk of [`ResolvConf::candidates`], each name sent to the
//! nameservers in order for `attempts` rounds, the next server on timeout,
//! refusal, SERVFAIL, REFUSED or NOTIMP, TCP to the same server when a UDP
//! answer is truncated, the walk going on after NXDOMAIN, NODATA or SERVFAIL
//! and stopping at the first answer with records or at a timeout. Every query
//! sent is kept, so callers see what one name really costs.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use ward_probe::dns::{DnsFailure, DnsProto};

use crate::config::{HostSpec, RESOLV_CONF_SERVER_LABEL};
use crate::query::{self, To};
use crate::report::{Lookup, Query, QueryOutcome};
use crate::resolv::ResolvConf;

/// Looks `host` up through `conf`; `cap` bounds each try (besides resolv.conf's `timeout`).
pub(crate) async fn lookup(conf: &ResolvConf, host: &HostSpec, cap: Duration) -> Lookup {
    let started = tokio::time::Instant::now();
    let per_try = conf.timeout.min(cap);
    let mut queries = Vec::new();
    let mut got_nodata = false;
    let mut got_servfail = false;
    let mut last: Option<Query> = None;
    let types = host.kind.types();
    for name in conf.candidates(&host.name) {
        let finals = futures::future::join_all(
            types
                .iter()
                .map(|t| send_with_retries(conf, &name, *t, per_try)),
        )
        .await;
        let mut stop = None;
        let mut answered_with_records = None;
        for (sent, fin) in finals {
            queries.extend(sent);
            let Some(fin) = fin else { continue };
            match &fin.outcome {
                QueryOutcome::Answer(a) if a.rcode == "NOERROR" && !a.answers.is_empty() => {
                    answered_with_records.get_or_insert(fin);
                }
                QueryOutcome::Answer(a) if a.rcode == "NOERROR" => {
                    got_nodata = true;
                    last = Some(fin);
                }
                QueryOutcome::Answer(a) if a.rcode == "NXDOMAIN" => last = Some(fin),
                QueryOutcome::Answer(a) if a.rcode == "SERVFAIL" => {
                    got_servfail = true;
                    last = Some(fin);
                }
                // Timeouts, refusals and other rcodes end the walk (glibc: TRY_AGAIN / done).
                _ => {
                    stop.get_or_insert(fin);
                }
            }
        }
        if let Some(fin) = answered_with_records {
            return finish(host, started.elapsed(), queries, fin, None);
        }
        if let Some(fin) = stop {
            return finish(host, started.elapsed(), queries, fin, None);
        }
    }
    let duration = started.elapsed();
    match last {
        Some(fin) => {
            let failure = if got_nodata {
                None
            } else if got_servfail {
                Some(DnsFailure::Servfail)
            } else {
                Some(DnsFailure::Nxdomain)
            };
            let rcode = match failure {
                None => "NOERROR",
                Some(DnsFailure::Servfail) => "SERVFAIL",
                Some(_) => "NXDOMAIN",
            };
            finish(host, duration, queries, fin, Some((rcode, failure)))
        }
        None => Lookup {
            host: host.label.clone(),
            server: RESOLV_CONF_SERVER_LABEL.to_string(),
            duration,
            rcode: None,
            failure: Some(DnsFailure::Network),
            transport_error: true,
            answers: Vec::new(),
            queries,
            message: Some("no query could be sent".into()),
        },
    }
}

fn finish(
    host: &HostSpec,
    duration: Duration,
    queries: Vec<Query>,
    fin: Query,
    forced: Option<(&str, Option<DnsFailure>)>,
) -> Lookup {
    let (rcode, failure, transport_error, answers, message) = match fin.outcome {
        QueryOutcome::Answer(a) => {
            let failure = match forced {
                Some((_, f)) => f,
                None => DnsFailure::of_answer(&a),
            };
            let rcode = forced.map(|(r, _)| r.to_string()).unwrap_or(a.rcode);
            (Some(rcode), failure, false, a.answers, None)
        }
        QueryOutcome::Error { class, message } => {
            (None, Some(class), true, Vec::new(), Some(message))
        }
    };
    Lookup {
        host: host.label.clone(),
        server: RESOLV_CONF_SERVER_LABEL.to_string(),
        duration,
        rcode,
        failure,
        transport_error,
        answers,
        queries,
        message,
    }
}

/// glibc `res_send` for one name and type: servers in order, `attempts` rounds.
/// Returns every query sent and the deciding one.
async fn send_with_retries(
    conf: &ResolvConf,
    name: &str,
    record_type: RecordType,
    per_try: Duration,
) -> (Vec<Query>, Option<Query>) {
    let mut sent = Vec::new();
    let mut fallback: Option<Query> = None;
    let first_proto = if conf.use_vc {
        DnsProto::Tcp
    } else {
        DnsProto::Udp
    };
    for _attempt in 0..conf.attempts {
        for ns in &conf.nameservers {
            let mut q = ask(*ns, first_proto, name, record_type, per_try).await;
            let truncated = matches!(&q.outcome, QueryOutcome::Answer(a) if a.truncated)
                && first_proto == DnsProto::Udp;
            if truncated {
                sent.push(q);
                q = ask(*ns, DnsProto::Tcp, name, record_type, per_try).await;
            }
            match &q.outcome {
                QueryOutcome::Answer(a)
                    if matches!(a.rcode.as_str(), "SERVFAIL" | "REFUSED" | "NOTIMP") =>
                {
                    fallback = Some(q.clone());
                    sent.push(q);
                }
                QueryOutcome::Answer(_) => {
                    sent.push(q.clone());
                    return (sent, Some(q));
                }
                QueryOutcome::Error { .. } => {
                    if !matches!(
                        &fallback,
                        Some(Query {
                            outcome: QueryOutcome::Answer(_),
                            ..
                        })
                    ) {
                        fallback = Some(q.clone());
                    }
                    sent.push(q);
                }
            }
        }
    }
    (sent, fallback)
}

async fn ask(
    ns: SocketAddr,
    proto: DnsProto,
    name: &str,
    t: RecordType,
    per_try: Duration,
) -> Query {
    let label = format!("{}://{ns}", proto.as_str());
    let host = ns.ip().to_string();
    let to = To {
        host: &host,
        port: ns.port(),
        proto,
        label: &label,
    };
    query::send(to, name, t, per_try, None).await
}

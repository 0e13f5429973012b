//! `ward lookup once`'s output: a table per server (latency, rcode, queries
//! sent, answers), and for resolv.conf mode every query the stub resolver
//! sent; or one JSON document with the lookups and the resolv.conf read.

use std::io::{self, Write};

use ward_lookup::config::RESOLV_CONF_SERVER_LABEL;
use ward_lookup::{Lookup, Lookuper, QueryOutcome};

use crate::render::{self, millis, Format, Table};

/// Writes one round's lookups; `lookuper` ran them (its servers and resolv.conf).
pub(crate) fn write_once(
    lookuper: &Lookuper,
    lookups: &[Lookup],
    format: Format,
    out: &mut impl Write,
) -> io::Result<()> {
    match format {
        Format::Json => render::json(
            &serde_json::json!({ "resolv_conf": lookuper.resolv_conf(), "lookups": lookups }),
            out,
        ),
        Format::Text => tables(lookuper, lookups, out),
    }
}

fn tables(lookuper: &Lookuper, lookups: &[Lookup], out: &mut impl Write) -> io::Result<()> {
    let mut servers: Vec<&str> = lookuper
        .config()
        .servers
        .iter()
        .map(|s| s.label.as_str())
        .collect();
    if lookuper.resolv_conf().is_some() {
        servers.push(RESOLV_CONF_SERVER_LABEL);
    }
    for (i, server) in servers.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        match (*server == RESOLV_CONF_SERVER_LABEL, lookuper.resolv_conf()) {
            (true, Some(r)) => writeln!(
                out,
                "{server} (nameservers {}; search {}; ndots:{} timeout:{}s attempts:{})",
                r.nameservers
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                if r.search.is_empty() {
                    "-".to_string()
                } else {
                    r.search.join(" ")
                },
                r.ndots,
                r.timeout.as_secs(),
                r.attempts
            )?,
            _ => writeln!(out, "{server}")?,
        }
        let mut table = Table::new(["HOST", "LATENCY", "RCODE", "QUERIES", "ANSWERS"]);
        for l in lookups.iter().filter(|l| l.server == *server) {
            let rcode = match (&l.rcode, l.failure) {
                (Some(r), Some(f)) if f.as_str() == "truncated" => format!("{r} (truncated)"),
                (Some(r), _) => r.clone(),
                (None, Some(f)) => format!("error: {}", f.as_str()),
                (None, None) => "-".into(),
            };
            let answers = if l.answers.is_empty() {
                l.message.clone().unwrap_or_else(|| "-".into())
            } else {
                l.answers.join("; ")
            };
            let latency = if l.transport_error {
                "-".into()
            } else {
                millis(l.duration)
            };
            table.row([
                l.host.clone(),
                latency,
                rcode,
                l.queries_sent().to_string(),
                answers,
            ]);
        }
        table.write(out)?;
        if *server == RESOLV_CONF_SERVER_LABEL {
            let mut queries = Table::new(["HOST", "#", "NAME", "TYPE", "SERVER", "RESULT", "RTT"]);
            for l in lookups.iter().filter(|l| l.server == *server) {
                for (n, q) in l.queries.iter().enumerate() {
                    let (result, rtt) = match &q.outcome {
                        QueryOutcome::Answer(a) if a.truncated => {
                            (format!("{} (truncated)", a.rcode), q.rtt)
                        }
                        QueryOutcome::Answer(a) => (a.rcode.clone(), q.rtt),
                        QueryOutcome::Error { class, .. } => {
                            (format!("error: {}", class.as_str()), None)
                        }
                    };
                    queries.row([
                        l.host.clone(),
                        (n + 1).to_string(),
                        q.name.clone(),
                        q.record_type.clone(),
                        q.server.clone(),
                        result,
                        rtt.map(millis).unwrap_or_else(|| "-".into()),
                    ]);
                }
            }
            writeln!(out, "\nqueries sent through {server}:")?;
            queries.write(out)?;
        }
    }
    Ok(())
}

//! The lab's own time series: each sample is every series of one scrape of
//! the nurses' `/metrics` and the lab's DNS probers, each labelled with the
//! `instance` it came from as Prometheus would label it ([`parse_exposition`]),
//! kept for a bounded time ([`History`]), with each series' increase over a
//! window or over the whole run (counter resets counted as Prometheus does).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// One series: its metric name and its labels, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SeriesId {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
}

/// Parses the Prometheus text exposition format into (series, value), each
/// series labelled `instance="<instance>"`. Comments, blank lines and lines
/// that do not parse are skipped (a scrape keeps what it can read).
pub(crate) fn parse_exposition(text: &str, instance: &str) -> Vec<(SeriesId, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| parse_line(l, instance))
        .collect()
}

fn parse_line(line: &str, instance: &str) -> Option<(SeriesId, f64)> {
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(body)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    labels.insert("instance".into(), instance.into());
    Some((
        SeriesId {
            name: name.into(),
            labels,
        },
        value,
    ))
}

/// `a="x",b="y\"z"}` → the labels and what follows the `}`.
fn parse_labels(mut s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    loop {
        s = s.trim_start_matches([',', ' ']);
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = s.find('=')?;
        let name = s[..eq].trim().to_string();
        let mut chars = s[eq + 1..].strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(name, value);
        s = &s[eq + 2 + end + 1..];
    }
}

/// One scrape: every series' value.
struct Sample {
    at: Instant,
    values: HashMap<Arc<SeriesId>, f64>,
}

/// The samples of the last `keep`, and each series' increase since the
/// lab's first sample of it.
pub(crate) struct History {
    keep: Duration,
    samples: VecDeque<Sample>,
    /// Each series' last value and its increase over the run.
    run: HashMap<Arc<SeriesId>, (f64, f64)>,
    first: Option<Instant>,
}

impl History {
    /// An empty history keeping samples for `keep`.
    pub(crate) fn new(keep: Duration) -> Self {
        History {
            keep,
            samples: VecDeque::new(),
            run: HashMap::new(),
            first: None,
        }
    }

    /// Adds a scrape taken at `at`; drops samples older than `keep`.
    pub(crate) fn push(&mut self, at: Instant, series: Vec<(SeriesId, f64)>) {
        let mut values = HashMap::with_capacity(series.len());
        for (id, v) in series {
            let id = match self.run.get_key_value(&id) {
                Some((known, _)) => known.clone(),
                None => Arc::new(id),
            };
            let entry = self.run.entry(id.clone()).or_insert((v, 0.0));
            entry.1 += increase_between(entry.0, v);
            entry.0 = v;
            values.insert(id, v);
        }
        self.first.get_or_insert(at);
        self.samples.push_back(Sample { at, values });
        while self
            .samples
            .front()
            .is_some_and(|s| at.duration_since(s.at) > self.keep)
        {
            self.samples.pop_front();
        }
    }

    /// How long samples cover: from the first scrape to the last.
    pub(crate) fn span(&self) -> Duration {
        match (self.first, self.samples.back()) {
            (Some(first), Some(last)) => last.at.duration_since(first),
            _ => Duration::ZERO,
        }
    }

    /// Each series selected by `select` with its increase over the last
    /// `window` (`None`: the whole run); a series needs two samples in the
    /// window. A window longer than the kept samples is refused by the
    /// caller (see [`History::covers`]).
    pub(crate) fn increases(
        &self,
        window: Option<Duration>,
        select: impl Fn(&SeriesId) -> bool,
    ) -> Vec<(Arc<SeriesId>, f64)> {
        let Some(window) = window else {
            return self
                .run
                .iter()
                .filter(|(id, _)| select(id))
                .map(|(id, (_, inc))| (id.clone(), *inc))
                .collect();
        };
        let Some(last) = self.samples.back() else {
            return Vec::new();
        };
        let from = last.at.checked_sub(window).unwrap_or(last.at);
        let mut seen: HashMap<Arc<SeriesId>, (f64, f64, u32)> = HashMap::new();
        for s in self.samples.iter().filter(|s| s.at >= from) {
            for (id, v) in s.values.iter().filter(|(id, _)| select(id)) {
                let e = seen.entry(id.clone()).or_insert((*v, 0.0, 0));
                e.1 += increase_between(e.0, *v);
                e.0 = *v;
                e.2 += 1;
            }
        }
        seen.into_iter()
            .filter(|(_, (_, _, n))| *n >= 2)
            .map(|(id, (_, inc, _))| (id, inc))
            .collect()
    }

    /// Whether the kept samples can answer a window this long.
    pub(crate) fn covers(&self, window: Duration) -> bool {
        window <= self.keep
    }
}

/// A counter's increase from `before` to `after`: a drop is a reset, after
/// which the counter counted `after` from zero.
fn increase_between(before: f64, after: f64) -> f64 {
    if after >= before {
        after - before
    } else {
        after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, labels: &[(&str, &str)]) -> SeriesId {
        SeriesId {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn parses_the_exposition_format_with_an_instance() {
        let text = "# HELP x y\n# TYPE x counter\nx_total{code=\"200\",type=\"a\\\"b\"} 3\nup 1 1700000000\nb{le=\"+Inf\"} +Inf\n\nbroken{ 1\n";
        assert_eq!(
            parse_exposition(text, "n1"),
            vec![
                (
                    id(
                        "x_total",
                        &[("code", "200"), ("type", "a\"b"), ("instance", "n1")]
                    ),
                    3.0
                ),
                (id("up", &[("instance", "n1")]), 1.0),
                (
                    id("b", &[("le", "+Inf"), ("instance", "n1")]),
                    f64::INFINITY
                ),
            ]
        );
    }

    #[test]
    fn increases_count_resets_and_need_two_samples_in_the_window() {
        let t0 = Instant::now();
        let mut h = History::new(Duration::from_secs(60));
        let x = id("x", &[]);
        for (s, v) in [(0, 5.0), (10, 8.0), (20, 2.0), (30, 4.0)] {
            h.push(t0 + Duration::from_secs(s), vec![(x.clone(), v)]);
        }
        let all = |_: &SeriesId| true;
        // 5→8 (+3), 8→2 (reset: +2), 2→4 (+2)
        assert_eq!(h.increases(None, all)[0].1, 7.0);
        assert_eq!(h.increases(Some(Duration::from_secs(10)), all)[0].1, 2.0);
        assert_eq!(h.increases(Some(Duration::from_secs(20)), all)[0].1, 4.0);
        assert!(h.increases(Some(Duration::ZERO), all).is_empty());
        assert_eq!(h.span(), Duration::from_secs(30));
        // Samples older than `keep` go; the run's increase stays.
        h.push(t0 + Duration::from_secs(100), vec![(x.clone(), 10.0)]);
        assert_eq!(h.samples.len(), 1);
        assert_eq!(h.increases(None, all)[0].1, 13.0);
    }
}

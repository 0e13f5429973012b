//! A metrics registry that writes the exposition format of the Go
//! `VictoriaMetrics/metrics` library used by kubenurse and hostlookuper, so
//! ward's output matches theirs line for line:
//!
//! - series are created lazily on first use, named by their full text
//!   (`name{k="v",…}` with labels in the order given and Go `%q` quoting);
//! - output is sorted by family, then by full series name;
//! - no `# HELP`/`# TYPE` lines unless metadata is switched on;
//! - histograms are either Prometheus `le` histograms (cumulative, Go `%v`
//!   bounds) or VictoriaMetrics `vmrange` histograms (18 log buckets per
//!   decade, only non-empty buckets written);
//! - series can be removed (ward expires series of targets that left).
//!
//! The registry is passed in by the caller; there is no global one.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ward_gostrconv::{format_e3, format_g, quote_into};

/// The Prometheus default buckets (client_golang `DefBuckets`).
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Which kind of histogram the registry creates.
#[derive(Debug, Clone, PartialEq)]
pub enum HistogramKind {
    /// Prometheus `le` histogram with these upper bounds (`+Inf` implicit).
    Prometheus(Vec<f64>),
    /// VictoriaMetrics `vmrange` histogram.
    VictoriaMetrics,
}

impl Default for HistogramKind {
    fn default() -> Self {
        HistogramKind::Prometheus(DEFAULT_BUCKETS.to_vec())
    }
}

/// A monotonically increasing integer counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

const VM_E10_MIN: i32 = -9;
const VM_E10_MAX: i32 = 18;
const VM_BUCKETS_PER_DECIMAL: usize = 18;
const VM_BUCKETS: usize = (VM_E10_MAX - VM_E10_MIN) as usize * VM_BUCKETS_PER_DECIMAL;

#[derive(Debug)]
enum Buckets {
    Prometheus {
        bounds: Arc<[f64]>,
        counts: Vec<u64>,
    },
    Vm {
        lower: u64,
        upper: u64,
        counts: BTreeMap<usize, u64>,
    },
}

/// A distribution of observed values.
#[derive(Debug)]
pub struct Histogram(Mutex<HistogramState>);

#[derive(Debug)]
struct HistogramState {
    sum: f64,
    count: u64,
    buckets: Buckets,
}

impl Histogram {
    fn new(kind: &HistogramKind) -> Self {
        let buckets = match kind {
            HistogramKind::Prometheus(bounds) => Buckets::Prometheus {
                counts: vec![0; bounds.len() + 1],
                bounds: bounds.clone().into(),
            },
            HistogramKind::VictoriaMetrics => Buckets::Vm {
                lower: 0,
                upper: 0,
                counts: BTreeMap::new(),
            },
        };
        Self(Mutex::new(HistogramState {
            sum: 0.0,
            count: 0,
            buckets,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, HistogramState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records one value (negative and NaN values are ignored, as in Go).
    pub fn observe(&self, v: f64) {
        if v.is_nan() || v < 0.0 {
            return;
        }
        let mut s = self.lock();
        s.sum += v;
        s.count += 1;
        match &mut s.buckets {
            Buckets::Prometheus { bounds, counts } => {
                let i = bounds.partition_point(|b| *b < v);
                counts[i] += 1;
            }
            Buckets::Vm {
                lower,
                upper,
                counts,
            } => {
                let idx = (v.log10() - VM_E10_MIN as f64) * VM_BUCKETS_PER_DECIMAL as f64;
                if idx < 0.0 || v == 0.0 {
                    *lower += 1;
                } else if idx >= VM_BUCKETS as f64 {
                    *upper += 1;
                } else {
                    let mut i = idx as usize;
                    if idx == i as f64 && i > 0 {
                        i -= 1;
                    }
                    *counts.entry(i).or_insert(0) += 1;
                }
            }
        }
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.lock().count
    }

    /// Sum of observations.
    pub fn sum(&self) -> f64 {
        self.lock().sum
    }

    fn write(&self, name: &str, labels: &str, out: &mut String) {
        let s = self.lock();
        // `name_bucket{labels,extra} n`, written in place (no per-line strings).
        let bucket_line = |out: &mut String, extra: fmt::Arguments<'_>, n: u64| {
            let comma = if labels.is_empty() { "" } else { "," };
            let _ = writeln!(out, "{name}_bucket{{{labels}{comma}{extra}}} {n}");
        };
        let mut total = 0u64;
        match &s.buckets {
            Buckets::Prometheus { bounds, counts } => {
                for (i, bound) in bounds.iter().enumerate() {
                    total += counts[i];
                    bucket_line(out, format_args!("le=\"{}\"", format_g(*bound)), total);
                }
                total += counts[bounds.len()];
                bucket_line(out, format_args!("le=\"+Inf\""), total);
            }
            Buckets::Vm {
                lower,
                upper,
                counts,
            } => {
                if *lower > 0 {
                    let low = format_e3(10f64.powi(VM_E10_MIN));
                    bucket_line(out, format_args!("vmrange=\"0...{low}\""), *lower);
                }
                for (i, n) in counts.iter().filter(|(_, n)| **n > 0) {
                    let (start, end) = vm_range(*i);
                    bucket_line(out, format_args!("vmrange=\"{start}...{end}\""), *n);
                }
                if *upper > 0 {
                    let high = format_e3(10f64.powi(VM_E10_MAX));
                    bucket_line(out, format_args!("vmrange=\"{high}...+Inf\""), *upper);
                }
                total = lower + upper + counts.values().sum::<u64>();
                if total == 0 {
                    return;
                }
            }
        }
        let sum = if s.sum.fract() == 0.0 && s.sum.abs() < 9.2e18 {
            format!("{}", s.sum as i64)
        } else {
            format_g(s.sum)
        };
        let (open, close) = if labels.is_empty() {
            ("", "")
        } else {
            ("{", "}")
        };
        let _ = writeln!(out, "{name}_sum{open}{labels}{close} {sum}");
        let _ = writeln!(out, "{name}_count{open}{labels}{close} {total}");
    }
}

/// The `start...end` label of VictoriaMetrics bucket `i`, computed as Go does
/// (repeated multiplication from 1e-9, printed with `%.3e`).
fn vm_range(i: usize) -> (String, String) {
    let multiplier = 10f64.powf(1.0 / VM_BUCKETS_PER_DECIMAL as f64);
    let mut v = 10f64.powi(VM_E10_MIN);
    for _ in 0..i {
        v *= multiplier;
    }
    (format_e3(v), format_e3(v * multiplier))
}

#[derive(Debug, Clone)]
enum Metric {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    Histogram(Arc<Histogram>),
}

impl Metric {
    fn type_name(&self, kind: &HistogramKind) -> &'static str {
        match self {
            Metric::Counter(_) => "counter",
            Metric::Gauge(_) => "gauge",
            Metric::Histogram(_) if *kind == HistogramKind::VictoriaMetrics => "untyped",
            Metric::Histogram(_) => "histogram",
        }
    }
}

/// A series' family name and its label text (`k="v",…`), kept as one text
/// `name\0labels`: a lookup borrows it as a `str` built in a reused buffer
/// (no allocation for a series that exists), and the order of these texts is
/// that of (name, labels). Shared with the expositions being written, so a
/// scrape copies pointers, not names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey(Arc<str>);

impl SeriesKey {
    fn name(&self) -> &str {
        self.0.split_once('\0').map_or(&self.0, |(name, _)| name)
    }

    fn labels(&self) -> &str {
        self.0.split_once('\0').map_or("", |(_, labels)| labels)
    }
}

impl std::borrow::Borrow<str> for SeriesKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

thread_local! {
    /// The text of the series being looked up ([`SeriesKey`]), reused.
    static LOOKUP: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Lazily created series, written in the VictoriaMetrics exposition format.
#[derive(Debug, Default)]
pub struct Registry {
    series: Mutex<BTreeMap<SeriesKey, Metric>>,
    histograms: Arc<HistogramKind>,
    metadata: bool,
}

/// Formats labels as `k1="v1",k2="v2"` with Go `%q` quoting, in the order given.
pub fn label_text(labels: &[(&str, &str)]) -> String {
    let mut text = String::new();
    push_label_text(&mut text, labels);
    text
}

/// [`label_text`], appended to `out`.
fn push_label_text(out: &mut String, labels: &[(&str, &str)]) {
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        quote_into(out, v);
    }
}

impl Registry {
    /// A registry creating histograms of `kind`; `metadata` adds `# HELP`/`# TYPE` lines.
    pub fn new(histograms: HistogramKind, metadata: bool) -> Self {
        Self {
            series: Mutex::new(BTreeMap::new()),
            histograms: Arc::new(histograms),
            metadata,
        }
    }

    /// True when `# HELP`/`# TYPE` lines are written.
    pub fn metadata(&self) -> bool {
        self.metadata
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<SeriesKey, Metric>> {
        self.series.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get_or_create(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        make: impl FnOnce() -> Metric,
    ) -> Metric {
        LOOKUP.with_borrow_mut(|text| {
            text.clear();
            text.push_str(name);
            text.push('\0');
            push_label_text(text, labels);
            let mut series = self.lock();
            if let Some(metric) = series.get(text.as_str()) {
                return metric.clone();
            }
            let metric = make();
            series.insert(SeriesKey(Arc::from(text.as_str())), metric.clone());
            metric
        })
    }

    /// The counter `name{labels}`, created at zero on first use.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Arc<Counter> {
        match self.get_or_create(name, labels, || Metric::Counter(Arc::default())) {
            Metric::Counter(c) => c,
            _ => Arc::default(), // a name reused with another type: counted nowhere, never panics
        }
    }

    /// The gauge `name{labels}`, created at zero on first use.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Arc<Gauge> {
        match self.get_or_create(name, labels, || Metric::Gauge(Arc::default())) {
            Metric::Gauge(g) => g,
            _ => Arc::default(),
        }
    }

    /// The histogram `name{labels}`, created empty on first use.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Arc<Histogram> {
        let kind = &self.histograms;
        match self.get_or_create(name, labels, || {
            Metric::Histogram(Arc::new(Histogram::new(kind)))
        }) {
            Metric::Histogram(h) => h,
            _ => Arc::new(Histogram::new(kind)),
        }
    }

    /// Removes every series for which `drop(name, label_text)` is true; returns how many.
    pub fn remove_where(&self, mut drop: impl FnMut(&str, &str) -> bool) -> usize {
        let mut series = self.lock();
        let before = series.len();
        series.retain(|key, _| !drop(key.name(), key.labels()));
        before - series.len()
    }

    /// Number of series (each histogram counts once).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no series exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes every series: sorted by family, then by full series name.
    pub fn encode(&self, out: &mut String) {
        self.exposition().write(out, usize::MAX);
    }

    /// The series as they are now, in exposition order, to be written piece by
    /// piece ([`Exposition::write`]): a scrape of a large registry is sent in
    /// small chunks instead of one string the size of the whole text.
    pub fn exposition(&self) -> Exposition {
        let mut series: Vec<(SeriesKey, Metric)> = self
            .lock()
            .iter()
            .map(|(key, metric)| (key.clone(), metric.clone()))
            .collect();
        series.sort_by(|(a, _), (b, _)| {
            (a.name().cmp(b.name())).then_with(|| full_name_order(a.labels(), b.labels()))
        });
        Exposition {
            series: series.into_iter(),
            last_family: None,
            histograms: self.histograms.clone(),
            metadata: self.metadata,
        }
    }
}

/// A point-in-time list of a registry's series, sorted by family and then by
/// full series name, not yet written. Recording goes on meanwhile: each series
/// is read when its turn comes.
#[derive(Debug)]
pub struct Exposition {
    series: std::vec::IntoIter<(SeriesKey, Metric)>,
    last_family: Option<SeriesKey>,
    histograms: Arc<HistogramKind>,
    metadata: bool,
}

impl Exposition {
    /// Appends series to `out` until it holds at least `min_len` bytes or none
    /// is left; returns false once every series has been written.
    pub fn write(&mut self, out: &mut String, min_len: usize) -> bool {
        while out.len() < min_len {
            let Some((key, metric)) = self.series.next() else {
                return false;
            };
            let (name, labels) = (key.name(), key.labels());
            let new_family = self
                .last_family
                .as_ref()
                .is_none_or(|last| last.name() != name);
            if self.metadata && new_family {
                let _ = writeln!(
                    out,
                    "# HELP {name}\n# TYPE {name} {}",
                    metric.type_name(&self.histograms)
                );
            }
            let (open, close) = if labels.is_empty() {
                ("", "")
            } else {
                ("{", "}")
            };
            match &metric {
                Metric::Counter(c) => {
                    let _ = writeln!(out, "{name}{open}{labels}{close} {}", c.get());
                }
                Metric::Gauge(g) => {
                    let _ = writeln!(out, "{name}{open}{labels}{close} {}", format_g(g.get()));
                }
                Metric::Histogram(h) => h.write(name, labels, out),
            }
            self.last_family = Some(key);
        }
        true
    }
}

/// The order of two series of one family by their full text (`name{labels}`),
/// as the Go library sorts them: a series without labels first, and `}`
/// compared like any other byte (so `{a="x",b="y"}` sorts before `{a="x"}`).
fn full_name_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn text(labels: &str) -> impl Iterator<Item = u8> + '_ {
        let close: &[u8] = if labels.is_empty() { b"" } else { b"}" };
        labels.bytes().chain(close.iter().copied())
    }
    text(a).cmp(text(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Registry) -> String {
        let mut s = String::new();
        r.encode(&mut s);
        s
    }

    #[test]
    fn lazy_sorted_quoted_series() {
        let r = Registry::new(HistogramKind::default(), false);
        assert_eq!(text(&r), "");
        r.counter(
            "kubenurse_httpclient_requests_total",
            &[("type", "path_b"), ("code", "200")],
        )
        .inc();
        r.counter(
            "kubenurse_httpclient_requests_total",
            &[("type", "path_a"), ("code", "200")],
        )
        .add(2);
        r.counter(
            "kubenurse_errors_total",
            &[("type", "me \"x\""), ("event", "status_code_503")],
        )
        .inc();
        r.gauge("kubenurse_neighbourhood_incoming_checks", &[])
            .set(10.0);
        assert_eq!(
            text(&r),
            "kubenurse_errors_total{type=\"me \\\"x\\\"\",event=\"status_code_503\"} 1\n\
             kubenurse_httpclient_requests_total{type=\"path_a\",code=\"200\"} 2\n\
             kubenurse_httpclient_requests_total{type=\"path_b\",code=\"200\"} 1\n\
             kubenurse_neighbourhood_incoming_checks 10\n"
        );
    }

    #[test]
    fn prometheus_histogram_is_cumulative_with_go_bounds() {
        let r = Registry::new(HistogramKind::Prometheus(vec![0.005, 0.5, 1.0]), true);
        let h = r.histogram("d_seconds", &[("type", "x")]);
        h.observe(0.005); // on the bound: counts in le="0.005"
        h.observe(0.25);
        h.observe(3.0);
        assert_eq!(
            text(&r),
            "# HELP d_seconds\n# TYPE d_seconds histogram\n\
             d_seconds_bucket{type=\"x\",le=\"0.005\"} 1\n\
             d_seconds_bucket{type=\"x\",le=\"0.5\"} 2\n\
             d_seconds_bucket{type=\"x\",le=\"1\"} 2\n\
             d_seconds_bucket{type=\"x\",le=\"+Inf\"} 3\n\
             d_seconds_sum{type=\"x\"} 3.255\n\
             d_seconds_count{type=\"x\"} 3\n"
        );
    }

    #[test]
    fn vm_histogram_writes_only_non_empty_ranges() {
        let r = Registry::new(HistogramKind::VictoriaMetrics, false);
        let h = r.histogram("d_seconds", &[("host", "a")]);
        assert_eq!(text(&r), "", "empty vm histogram writes nothing");
        h.observe(0.022);
        h.observe(0.022);
        h.observe(1.0);
        assert_eq!(
            text(&r),
            "d_seconds_bucket{host=\"a\",vmrange=\"2.154e-02...2.448e-02\"} 2\n\
             d_seconds_bucket{host=\"a\",vmrange=\"8.799e-01...1.000e+00\"} 1\n\
             d_seconds_sum{host=\"a\"} 1.044\n\
             d_seconds_count{host=\"a\"} 3\n"
        );
    }

    #[test]
    fn series_of_a_family_sort_by_their_full_text() {
        let r = Registry::new(HistogramKind::default(), false);
        r.counter("c", &[("a", "x")]).inc();
        r.counter("c", &[("a", "x"), ("b", "y")]).inc();
        r.counter("c", &[]).inc();
        r.counter("b", &[("z", "1")]).inc();
        assert_eq!(
            text(&r),
            "b{z=\"1\"} 1\nc 1\nc{a=\"x\",b=\"y\"} 1\nc{a=\"x\"} 1\n"
        );
    }

    #[test]
    fn an_exposition_written_in_pieces_equals_the_whole_text() {
        for kind in [HistogramKind::VictoriaMetrics, HistogramKind::default()] {
            let r = Registry::new(kind, true);
            for i in 0..300 {
                let host = format!("host-{i}");
                let h = r.histogram("d_seconds", &[("host", &host)]);
                h.observe(0.001 * i as f64);
                h.observe(2.0);
                r.counter("d_total", &[("host", &host), ("rcode", "NOERROR")])
                    .add(i);
            }
            r.gauge("g", &[]).set(1.5);
            let whole = text(&r);
            let longest_series = 2048;
            let mut exposition = r.exposition();
            let mut pieces = Vec::new();
            loop {
                let mut piece = String::new();
                let more = exposition.write(&mut piece, 1024);
                pieces.push(piece);
                if !more {
                    break;
                }
            }
            let (last, full) = pieces.split_last().unwrap();
            assert!(full.len() > 20, "{} pieces", pieces.len());
            for piece in full {
                assert!(
                    (1024..1024 + longest_series).contains(&piece.len()),
                    "{}",
                    piece.len()
                );
            }
            assert!(last.len() < 1024);
            assert_eq!(pieces.concat(), whole);
            assert!(
                whole.starts_with("# HELP d_seconds\n# TYPE d_seconds "),
                "{whole}"
            );
            assert_eq!(whole.matches("# TYPE").count(), 3);
        }
    }

    #[test]
    fn series_can_be_removed() {
        let r = Registry::new(HistogramKind::default(), false);
        r.counter("c", &[("type", "path_gone")]).inc();
        r.counter("c", &[("type", "path_here")]).inc();
        assert_eq!(r.remove_where(|_, labels| labels.contains("path_gone")), 1);
        assert_eq!(text(&r), "c{type=\"path_here\"} 1\n");
    }
}

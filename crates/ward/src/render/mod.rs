//! The one place that turns reports into text for people (aligned tables) or
//! machines (JSON): one module per subcommand, each with `write(&Report,
//! Format, &mut impl Write)` for every report it prints (and its live line,
//! if any), built on the primitives here. Libraries never print.

pub(crate) mod e2e;
pub(crate) mod keepalive;
pub(crate) mod lab;
pub(crate) mod load;
pub(crate) mod lookup;
pub(crate) mod nurse;
pub(crate) mod probe;
pub(crate) mod slo;
pub(crate) mod slo_report;

use std::io::{self, Write};

use serde::Serialize;

/// Output format chosen with `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned table for people.
    #[default]
    Text,
    /// One JSON document for scripts.
    Json,
}

/// A table of rows with a header, rendered with columns aligned.
#[derive(Debug, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Starts a table with the given column titles.
    pub(crate) fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds one row; missing cells render empty.
    pub(crate) fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Writes the table: columns separated by two spaces, last column unpadded.
    pub(crate) fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let empty = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).unwrap_or(&empty);
                if i + 1 == columns {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Writes `value` as pretty JSON followed by a newline.
pub(crate) fn json<T: Serialize>(value: &T, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// Runs `write` on a locked stdout and flushes it.
pub(crate) fn to_stdout(
    write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>,
) -> io::Result<()> {
    let mut out = io::stdout().lock();
    write(&mut out)?;
    out.flush()
}

/// A live line on stderr (a spinner and a message), for progress while a
/// command runs; cleared when it finishes.
pub(crate) fn spinner() -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar
}

/// Counts by key as `key: n  key: n` (status codes, error classes); `-` when empty.
pub(crate) fn counts<K: std::fmt::Display>(counts: &std::collections::BTreeMap<K, u64>) -> String {
    if counts.is_empty() {
        return "-".into();
    }
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    parts.join("  ")
}

/// `s` escaped for XML text and attribute values.
pub(crate) fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\n' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

/// A connection fact's duration, coarse as the eye reads it: whole
/// milliseconds below a second (`350 ms`), else seconds with one decimal (`19.8 s`).
pub(crate) fn coarse(d: std::time::Duration) -> String {
    coarse_span(d, d)
}

/// A range of durations in the unit [`coarse`] picks for the larger
/// (`19.8-20.0 s`, `95-102 ms`); one value when both ends print alike.
pub(crate) fn coarse_span(min: std::time::Duration, max: std::time::Duration) -> String {
    let (scale, decimals, unit) = if max.as_secs_f64() >= 1.0 {
        (1.0, 1, "s")
    } else {
        (1e3, 0, "ms")
    };
    let (a, b) = (
        format!("{:.*}", decimals, min.as_secs_f64() * scale),
        format!("{:.*}", decimals, max.as_secs_f64() * scale),
    );
    if a == b {
        format!("{a} {unit}")
    } else {
        format!("{a}-{b} {unit}")
    }
}

/// Formats a duration in milliseconds with three decimals (`12.345ms`).
pub(crate) fn millis(d: std::time::Duration) -> String {
    format!("{:.3}ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(["phase", "time"]);
        t.row(["dns", "1.000ms"]);
        t.row(["first_byte", "12.500ms"]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "phase       time\ndns         1.000ms\nfirst_byte  12.500ms\n"
        );
    }
}

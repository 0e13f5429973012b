//! Durations in and out of ward: every duration a user types (flags, env
//! vars, scenario files, fault specs, thresholds) is read with [`parse`],
//! Go's `time.ParseDuration` syntax (`300ms`, `1.5s`, `1m30s`, `2h`), which
//! the kubenurse and hostlookuper settings ward accepts already use; every
//! duration a report writes as JSON is seconds, through [`seconds`].
//!
//! ```
//! use std::time::Duration;
//! assert_eq!(ward_duration::parse("1m30s"), Ok(Duration::from_secs(90)));
//! assert_eq!(ward_duration::GoDuration(Duration::from_secs(90)).to_string(), "1m30s");
//! ```
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration that is not in Go's syntax, is negative or too large, or is
/// zero where a positive one is needed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not in Go's syntax, negative or too large.
    #[error("invalid duration {input:?} (expected e.g. 500ms, 5s, 1m30s)")]
    Syntax {
        /// The text given.
        input: String,
    },
    /// Zero, for a setting that needs a positive duration ([`parse_positive`]).
    #[error("{input:?}: must be greater than zero")]
    Zero {
        /// The text given.
        input: String,
    },
}

/// [`parse`], refusing zero: for intervals and timeouts, where zero would
/// mean a busy loop or a check that always times out.
pub fn parse_positive(input: &str) -> Result<Duration, ParseError> {
    match parse(input)? {
        d if d.is_zero() => Err(ParseError::Zero {
            input: input.to_string(),
        }),
        d => Ok(d),
    }
}

/// Parses a Go `time.ParseDuration` string: a sequence of decimal numbers,
/// each with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), such as `300ms`,
/// `1.5s` or `1m30s`; `0` alone needs no unit. Negative durations are refused.
pub fn parse(input: &str) -> Result<Duration, ParseError> {
    let bad = || ParseError::Syntax {
        input: input.to_string(),
    };
    let s = input.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(bad());
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(num_len);
        let value: f64 = num.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = tail;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// A duration written and read in Go's syntax: [`parse`] reads it, and it
/// displays in the shortest form [`parse`] reads back (`2m`, `1m30s`,
/// `1.5s`, `500ms`), so a flag's default can come from a library value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub Duration);

impl FromStr for GoDuration {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse(s).map(GoDuration)
    }
}

impl From<GoDuration> for Duration {
    fn from(d: GoDuration) -> Self {
        d.0
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        if d < Duration::from_secs(1) {
            let (nanos, unit) = match d.subsec_nanos() {
                n if n % 1_000_000 == 0 => (n / 1_000_000, "ms"),
                n if n % 1_000 == 0 => (n / 1_000, "us"),
                n => (n, "ns"),
            };
            return write!(f, "{nanos}{unit}");
        }
        let secs = d.as_secs();
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        let nanos = d.subsec_nanos();
        match (s, nanos) {
            (0, 0) => Ok(()),
            (s, 0) => write!(f, "{s}s"),
            (s, n) => {
                let fraction = format!("{n:09}");
                write!(f, "{s}.{}s", fraction.trim_end_matches('0'))
            }
        }
    }
}

pub mod seconds {
    //! Serde for report fields: a [`Duration`] as seconds (a JSON number),
    //! `#[serde(with = "ward_duration::seconds")]`, or an optional one
    //! (`null` when absent) with `ward_duration::seconds::option`.

    use std::time::Duration;

    use serde::Serializer;

    /// Writes `d` as seconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub mod option {
        //! An optional [`Duration`] as seconds, `null` when absent.

        use std::time::Duration;

        use serde::Serializer;

        /// Writes `d` as seconds, or `null`.
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse("5s"), Ok(ms(5000)));
        assert_eq!(parse("300ms"), Ok(ms(300)));
        assert_eq!(parse("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse("1.5s"), Ok(ms(1500)));
        assert_eq!(parse("2h"), Ok(ms(7_200_000)));
        assert_eq!(parse("0"), Ok(ms(0)));
        assert_eq!(parse("+1s"), Ok(ms(1000)));
        assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
    }

    #[test]
    fn rejects_bad_durations_naming_the_input() {
        for bad in [
            "5x", "", "5", "-1s", "s", "1.2.3s", "abc", "1d", "200sec", "200",
        ] {
            assert_eq!(
                parse(bad).unwrap_err().to_string(),
                format!("invalid duration {bad:?} (expected e.g. 500ms, 5s, 1m30s)"),
                "{bad}"
            );
        }
    }

    /// Intervals and timeouts refuse zero in every spelling, with the input named.
    #[test]
    fn positive_durations_refuse_zero() {
        assert_eq!(parse_positive("1ms"), Ok(Duration::from_millis(1)));
        for zero in ["0", "0s", "0ms", "0h0m"] {
            assert_eq!(
                parse_positive(zero).unwrap_err().to_string(),
                format!("{zero:?}: must be greater than zero")
            );
        }
        assert!(matches!(
            parse_positive("5x"),
            Err(ParseError::Syntax { .. })
        ));
    }

    #[test]
    fn displays_the_shortest_go_form_that_parses_back() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(10), "10us"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_secs(10), "10s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(60), "1m"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_secs(3661), "1h1m1s"),
        ] {
            assert_eq!(GoDuration(d).to_string(), text);
            assert_eq!(text.parse::<GoDuration>(), Ok(GoDuration(d)), "{text}");
        }
    }

    #[test]
    fn seconds_serialise_as_numbers_or_null() {
        #[derive(serde::Serialize)]
        struct Report {
            #[serde(with = "seconds")]
            took: Duration,
            #[serde(with = "seconds::option")]
            first: Option<Duration>,
        }
        let json = serde_json::to_string(&Report {
            took: Duration::from_millis(1500),
            first: None,
        })
        .unwrap();
        assert_eq!(json, r#"{"took":1.5,"first":null}"#);
    }
}

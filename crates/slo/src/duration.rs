//! Durations as sloth handles them: Prometheus duration strings in and out
//! (`model.ParseDuration`, `model.Duration.String()`), Go's
//! `time.Duration.String()` and `Hours()` for messages and arithmetic.
//! A duration is an `i64` of nanoseconds, like Go's `time.Duration`.

const MS: i64 = 1_000_000;
const SECOND: i64 = 1_000 * MS;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
const YEAR: i64 = 365 * DAY;

/// A span of time in nanoseconds (Go `time.Duration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub i64);

/// Parses a Prometheus duration (`30d`, `1h30m`, `0`); the error text is Prometheus'.
pub fn parse_prom(s: &str) -> Result<Duration, String> {
    match s {
        "0" => return Ok(Duration(0)),
        "" => return Err("empty duration string".to_string()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {s:?}");
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut last_pos = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            return Err(invalid());
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let v: u64 = s[start..i].parse().map_err(|_| invalid())?;
        let ustart = i;
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        if i == ustart {
            return Err(invalid());
        }
        let unit = &s[ustart..i];
        let (pos, mult) = match unit {
            "y" => (1, YEAR),
            "w" => (2, WEEK),
            "d" => (3, DAY),
            "h" => (4, HOUR),
            "m" => (5, MINUTE),
            "s" => (6, SECOND),
            "ms" => (7, MS),
            _ => return Err(format!("unknown unit {unit:?} in duration {s:?}")),
        };
        if pos <= last_pos {
            return Err(invalid());
        }
        last_pos = pos;
        let mult = mult as u64;
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".to_string());
        }
        total = total.saturating_add(v * mult);
        if total > (i64::MAX as u64) {
            return Err("duration out of range".to_string());
        }
    }
    Ok(Duration(total as i64))
}

/// Appends the decimal digits of `v` (no formatting machinery: durations
/// are written tens of times per SLO).
fn push_decimal(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

impl Duration {
    /// Prometheus `model.Duration.String()`: `30d`, `4w`, `1d12h`, `1y`.
    pub fn prom(self) -> String {
        let mut r = String::with_capacity(8);
        self.push_prom(&mut r);
        r
    }

    /// Appends [`Duration::prom`] to `out` (rule names and expressions are
    /// built this way, without a string per duration).
    pub fn push_prom(self, out: &mut String) {
        let mut ms = self.0 / MS;
        if ms == 0 {
            out.push_str("0s");
            return;
        }
        if ms < 0 {
            out.push('-');
            ms = -ms;
        }
        let units: [(&str, i64, bool); 7] = [
            ("y", YEAR / MS, true),
            ("w", WEEK / MS, true),
            ("d", DAY / MS, false),
            ("h", HOUR / MS, false),
            ("m", MINUTE / MS, false),
            ("s", SECOND / MS, false),
            ("ms", 1, false),
        ];
        for (unit, mult, exact) in units {
            if exact && ms % mult != 0 {
                continue;
            }
            let v = ms / mult;
            if v > 0 {
                push_decimal(out, v.unsigned_abs());
                out.push_str(unit);
                ms -= v * mult;
            }
        }
    }

    /// Go `time.Duration.Hours()`.
    pub fn hours(self) -> f64 {
        let h = self.0 / HOUR;
        let nsec = self.0 % HOUR;
        h as f64 + nsec as f64 / (60.0 * 60.0 * 1e9)
    }

    /// Go `time.Duration.String()` (`720h0m0s`), used in error messages.
    pub fn go(self) -> String {
        let d = self.0;
        if d == 0 {
            return "0s".to_string();
        }
        let neg = d < 0;
        let u = d.unsigned_abs();
        let mut out = String::new();
        if u < SECOND as u64 {
            let (unit, div) = if u < 1_000 {
                ("ns", 1u64)
            } else if u < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            out.push_str(&frac(u, div));
            out.push_str(unit);
        } else {
            let secs_total = u / SECOND as u64;
            let nanos = u % SECOND as u64;
            let h = secs_total / 3600;
            let m = (secs_total / 60) % 60;
            let s = secs_total % 60;
            if h > 0 {
                out.push_str(&format!("{h}h"));
            }
            if h > 0 || m > 0 {
                out.push_str(&format!("{m}m"));
            }
            out.push_str(&frac(s * 1_000_000_000 + nanos, 1_000_000_000));
            out.push('s');
        }
        if neg {
            format!("-{out}")
        } else {
            out
        }
    }
}

fn frac(v: u64, div: u64) -> String {
    let int = v / div;
    let mut rem = v % div;
    if rem == 0 {
        return int.to_string();
    }
    let mut digits = String::new();
    let mut d = div;
    while rem > 0 && d > 1 {
        d /= 10;
        digits.push(char::from(b'0' + (rem / d) as u8));
        rem %= d;
    }
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prom_round_trip() {
        for (s, want) in [
            ("30d", "30d"),
            ("28d", "4w"),
            ("7d", "1w"),
            ("36h", "1d12h"),
            ("24h", "1d"),
            ("72h", "3d"),
            ("90m", "1h30m"),
            ("365d", "1y"),
            ("90d", "90d"),
        ] {
            assert_eq!(parse_prom(s).map(Duration::prom), Ok(want.to_string()));
        }
        assert!(parse_prom("1h1d").is_err());
        assert!(parse_prom("5x").is_err());
        assert!(parse_prom("").is_err());
    }

    #[test]
    fn go_string() {
        assert_eq!(Duration(30 * DAY).go(), "720h0m0s");
        assert_eq!(Duration(14 * DAY).go(), "336h0m0s");
        assert_eq!(Duration(90 * SECOND).go(), "1m30s");
        assert_eq!(Duration(1500 * MS).go(), "1.5s");
        assert_eq!(Duration(5 * MS).go(), "5ms");
    }
}

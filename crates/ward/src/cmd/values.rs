//! Parsers for flag values shared by every subcommand, with the syntax of the
//! Go tools ward replaces (so existing manifests keep working).

use std::time::Duration;

/// Parses a Go `time.ParseDuration` string: `300ms`, `1.5s`, `1m30s`, `2h`, `0`.
pub fn go_duration(input: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {input:?} (expected e.g. 500ms, 5s, 1m30s)");
    let s = input.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(bad());
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let mut rest = s;
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

/// Parses a `--header` value, `Name: value`, into an HTTP header.
pub fn header(
    input: &str,
) -> anyhow::Result<(http::header::HeaderName, http::header::HeaderValue)> {
    use anyhow::Context;
    let (name, value) = input
        .split_once(':')
        .with_context(|| format!("--header {input:?}: expected `Name: value`"))?;
    Ok((
        name.trim()
            .parse()
            .with_context(|| format!("--header {input:?}: invalid header name"))?,
        value
            .trim()
            .parse()
            .with_context(|| format!("--header {input:?}: invalid header value"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration("5s"), Ok(ms(5000)));
        assert_eq!(go_duration("300ms"), Ok(ms(300)));
        assert_eq!(go_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(go_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(go_duration("2h"), Ok(ms(7_200_000)));
        assert_eq!(go_duration("0"), Ok(ms(0)));
        assert_eq!(go_duration("10us"), Ok(Duration::from_micros(10)));
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["5x", "", "5", "-1s", "s", "1.2.3s", "abc"] {
            assert_eq!(
                go_duration(bad),
                Err(format!(
                    "invalid duration {bad:?} (expected e.g. 500ms, 5s, 1m30s)"
                )),
                "{bad}"
            );
        }
    }
}

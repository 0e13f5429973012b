//! Go's `strconv.ParseFloat` and `strconv.ParseInt(s, 0, 64)` verdicts, for
//! the number tokens metricsql hands to them.

/// Why Go's strconv rejects a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ParseError {
    /// `invalid syntax`.
    Syntax,
    /// `value out of range`.
    Range,
}

impl ParseError {
    /// Go's `strconv.NumError` text: `strconv.<func>: parsing "<s>": <reason>`.
    pub(super) fn go(self, func: &str, s: &str) -> String {
        let reason = match self {
            ParseError::Syntax => "invalid syntax",
            ParseError::Range => "value out of range",
        };
        format!(
            "strconv.{func}: parsing {}: {reason}",
            crate::gostrconv::quote(s)
        )
    }
}

/// Go's `underscoreOK`: underscores only between digits (or after a base prefix).
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let b = match b.first() {
        Some(b'+' | b'-') => &b[1..],
        _ => b,
    };
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal input: `1_000`, `.5`, `1e3`, `inf`, `NaN`.
pub(super) fn parse_float(s: &str) -> Result<f64, ParseError> {
    let plain: String;
    let t = if s.contains('_') {
        if !underscore_ok(s) {
            return Err(ParseError::Syntax);
        }
        plain = s.replace('_', "");
        plain.as_str()
    } else {
        s
    };
    let unsigned = t.trim_start_matches(['+', '-']);
    if unsigned.len() + 1 < t.len() || unsigned.starts_with(['+', '-']) {
        return Err(ParseError::Syntax);
    }
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return t.parse::<f64>().map_err(|_| ParseError::Syntax);
    }
    if !unsigned
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(ParseError::Syntax);
    }
    let v = t.parse::<f64>().map_err(|_| ParseError::Syntax)?;
    if v.is_infinite() {
        return Err(ParseError::Range);
    }
    Ok(v)
}

/// Go's `strconv.ParseInt(s, 0, 64)`: base from the prefix (`0x`, `0o`, `0b`, `0` octal), underscores allowed.
pub(super) fn parse_int_base0(s: &str) -> Result<i64, ParseError> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return Err(ParseError::Syntax);
    }
    let b = body.as_bytes();
    let (base, digits) = if b[0] == b'0' {
        match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if b.len() >= 3 => (2, &body[2..]),
            Some(b'o') if b.len() >= 3 => (8, &body[2..]),
            Some(b'x') if b.len() >= 3 => (16, &body[2..]),
            _ => (8, &body[1..]),
        }
    } else {
        (10, body)
    };
    let mut n: u64 = 0;
    let mut underscores = false;
    for c in digits.bytes() {
        if c == b'_' {
            underscores = true;
            continue;
        }
        let d = (c as char).to_digit(base).ok_or(ParseError::Syntax)?;
        n = n
            .checked_mul(u64::from(base))
            .and_then(|n| n.checked_add(u64::from(d)))
            .ok_or(ParseError::Range)?;
    }
    if underscores && !underscore_ok(body) {
        return Err(ParseError::Syntax);
    }
    let limit = if neg { 1u64 << 63 } else { (1u64 << 63) - 1 };
    if n > limit {
        return Err(ParseError::Range);
    }
    Ok(if neg {
        (n as i64).wrapping_neg()
    } else {
        n as i64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        assert_eq!(parse_float("1_000"), Ok(1000.0));
        assert_eq!(parse_float("1__0"), Err(ParseError::Syntax));
        assert_eq!(parse_float("1_"), Err(ParseError::Syntax));
        assert_eq!(parse_float(".5"), Ok(0.5));
        assert_eq!(parse_float("1e400"), Err(ParseError::Range));
        assert!(parse_float("Inf").unwrap().is_infinite());
        assert_eq!(parse_float("1.5e3"), Ok(1500.0));
        assert_eq!(parse_float("0x10"), Err(ParseError::Syntax));
    }

    #[test]
    fn ints_like_go() {
        assert_eq!(parse_int_base0("0x1F"), Ok(31));
        assert_eq!(parse_int_base0("017"), Ok(15));
        assert_eq!(parse_int_base0("0b101"), Ok(5));
        assert_eq!(parse_int_base0("0o17"), Ok(15));
        assert_eq!(parse_int_base0("08"), Err(ParseError::Syntax));
        assert_eq!(parse_int_base0("0x"), Err(ParseError::Syntax));
        assert_eq!(parse_int_base0("0x_1"), Ok(1));
        assert_eq!(
            parse_int_base0("0xffffffffffffffff"),
            Err(ParseError::Range)
        );
        assert_eq!(parse_int_base0("12"), Ok(12));
    }
}

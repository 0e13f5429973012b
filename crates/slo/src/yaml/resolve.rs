//! yaml.v2's implicit typing of plain scalars (YAML 1.1 flavour): which
//! text reads as null, bool, int, float, timestamp or merge key. Used when
//! reading specs (to coerce values the way sloth does) and when writing
//! (a string that would read back as something else is double-quoted).

use std::borrow::Cow;

/// What a plain scalar resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// `~`, `null`, empty.
    Null,
    /// `true`, `yes`, `on`, `y`, ... and their negatives.
    Bool(bool),
    /// A signed integer (decimal, `0x`, `0o`, `0b`, leading-zero octal, underscores).
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    Uint(u64),
    /// A float, including `.inf` and `.nan`.
    Float(f64),
    /// A timestamp-looking string (yaml.v2 keeps it as text in untyped decoding).
    Timestamp,
    /// The merge key `<<`.
    Merge,
    /// Anything else: a string.
    Str,
}

fn resolve_map(s: &str) -> Option<Resolved> {
    Some(match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Resolved::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Resolved::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Resolved::Float(f64::NEG_INFINITY),
        "<<" => Resolved::Merge,
        _ => return None,
    })
}

/// Go `strconv.ParseInt(s, 0, 64)` / `ParseUint` with base prefixes.
fn parse_go_int(s: &str) -> Option<Resolved> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let prefix = body
        .as_bytes()
        .get(..2)
        .map(|p| [p[0], p[1].to_ascii_lowercase()]);
    let (radix, digits) = match prefix {
        Some([b'0', b'x']) => (16, &body[2..]),
        Some([b'0', b'o']) => (8, &body[2..]),
        Some([b'0', b'b']) => (2, &body[2..]),
        _ if body.len() > 1 && body.starts_with('0') => (8, &body[1..]),
        _ => (10, body),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if mag <= (i64::MAX as u64) + 1 {
            return Some(Resolved::Int((mag as i64).wrapping_neg()));
        }
        return None;
    }
    if mag <= i64::MAX as u64 {
        Some(Resolved::Int(mag as i64))
    } else if s.starts_with('+') {
        // ParseUint does not accept a sign.
        None
    } else {
        Some(Resolved::Uint(mag))
    }
}

fn yaml_style_float(s: &str) -> bool {
    // ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn parse_go_float(s: &str) -> Option<f64> {
    let v: f64 = s.parse().ok()?;
    if v.is_infinite() {
        return None; // Go reports ErrRange.
    }
    Some(v)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// yaml.v2 `parseTimestamp`: `2006-1-2`, `2006-1-2 15:4:5.9`, `2006-1-2T15:4:5.9Z07:00`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let mut i = 5;
    let num = |i: &mut usize, max: usize| -> Option<i64> {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - st < max {
            *i += 1;
        }
        if *i == st {
            return None;
        }
        s[st..*i].parse().ok()
    };
    let year: i64 = s[..4].parse().unwrap_or(0);
    let Some(month) = num(&mut i, 2) else {
        return false;
    };
    if i >= b.len() || b[i] != b'-' {
        return false;
    }
    i += 1;
    let Some(day) = num(&mut i, 2) else {
        return false;
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let sep = b[i];
    if sep != b'T' && sep != b't' && sep != b' ' {
        return false;
    }
    i += 1;
    let time = |i: &mut usize| -> bool {
        let Some(h) = num(i, 2) else { return false };
        if *i >= b.len() || b[*i] != b':' {
            return false;
        }
        *i += 1;
        let Some(m) = num(i, 2) else { return false };
        if *i >= b.len() || b[*i] != b':' {
            return false;
        }
        *i += 1;
        let Some(sec) = num(i, 2) else { return false };
        if *i < b.len() && b[*i] == b'.' {
            let st = *i + 1;
            let mut j = st;
            while j < b.len() && b[j].is_ascii_digit() && j - st < 9 {
                j += 1;
            }
            if j == st {
                return false;
            }
            *i = j;
        }
        h < 24 && m < 60 && sec < 60
    };
    if !time(&mut i) {
        return false;
    }
    if sep == b' ' {
        return i == b.len();
    }
    // Zone: Z or ±hh:mm.
    if i < b.len() && b[i] == b'Z' {
        return i + 1 == b.len();
    }
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        let z = &b[i + 1..];
        return z.len() == 5
            && z[0].is_ascii_digit()
            && z[1].is_ascii_digit()
            && z[2] == b':'
            && z[3].is_ascii_digit()
            && z[4].is_ascii_digit();
    }
    false
}

/// Resolves a plain scalar the way yaml.v2's `resolve("", s)` does.
pub fn resolve(s: &str) -> Resolved {
    let Some(first) = s.as_bytes().first().copied() else {
        return Resolved::Null;
    };
    let hint = match first {
        b'+' | b'-' => 'S',
        b'0'..=b'9' => 'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => 'M',
        b'.' => '.',
        _ => return Resolved::Str,
    };
    if let Some(r) = resolve_map(s) {
        return r;
    }
    match hint {
        '.' => match parse_go_float(s) {
            Some(f) => Resolved::Float(f),
            None => Resolved::Str,
        },
        'D' | 'S' => {
            if is_timestamp(s) {
                return Resolved::Timestamp;
            }
            let plain = if s.contains('_') {
                Cow::Owned(s.replace('_', ""))
            } else {
                Cow::Borrowed(s)
            };
            if let Some(r) = parse_go_int(&plain) {
                return r;
            }
            if yaml_style_float(&plain) {
                if let Some(f) = parse_go_float(&plain) {
                    return Resolved::Float(f);
                }
            }
            Resolved::Str
        }
        _ => Resolved::Str,
    }
}

/// yaml.v2 `isBase60Float`: `1:20`, `-3:25:45.5`.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&c) = b.first() else { return false };
    if !(c == b'+' || c == b'-' || c.is_ascii_digit()) || !s.contains(':') {
        return false;
    }
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let mut i = 0;
    if b[i] == b'+' || b[i] == b'-' {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() && i - st < 2 {
            i += 1;
        }
        let n = i - st;
        if n == 0 {
            return false;
        }
        if n == 2 && b[st] > b'5' {
            // `[0-5]?[0-9]`: two digits need a first digit 0-5; backtrack to one digit.
            i = st + 1;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// True when yaml.v2 would write `s` double-quoted because plain text would not read back as a string.
pub fn needs_double_quotes(s: &str) -> bool {
    resolve(s) != Resolved::Str || is_base60_float(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_yaml_v2() {
        assert_eq!(resolve("yes"), Resolved::Bool(true));
        assert_eq!(resolve("y"), Resolved::Bool(true));
        assert_eq!(resolve("Off"), Resolved::Bool(false));
        assert_eq!(resolve("2"), Resolved::Int(2));
        assert_eq!(resolve("0x1F"), Resolved::Int(31));
        assert_eq!(resolve("1_000"), Resolved::Int(1000));
        assert_eq!(resolve("017"), Resolved::Int(15));
        assert_eq!(resolve("08"), Resolved::Float(8.0));
        assert_eq!(resolve("99.9"), Resolved::Float(99.9));
        assert_eq!(resolve(".5"), Resolved::Float(0.5));
        assert_eq!(resolve("1e999"), Resolved::Str);
        assert_eq!(resolve("2001-12-14"), Resolved::Timestamp);
        assert_eq!(resolve("svc01"), Resolved::Str);
        assert_eq!(resolve("~"), Resolved::Null);
        assert_eq!(resolve("-"), Resolved::Str);
        assert_eq!(resolve("1.2.3"), Resolved::Str);
        assert!(needs_double_quotes("1:20"));
        assert!(needs_double_quotes("99.9"));
        assert!(!needs_double_quotes("5m"));
        assert!(!needs_double_quotes("prometheus/v1"));
    }
}

//! MetricsQL tokens: the lexer and the token classifiers of
//! VictoriaMetrics' `metricsql` (v0.86.0, `lexer.go`), with its error texts.

use super::numbers::parse_float;

/// The lexer state: the current token, the tokens before it (for `prev`),
/// tokens pushed back, and the unread rest of the input.
#[derive(Debug, Default)]
pub(super) struct Lexer {
    /// The current token; empty at the end of the input.
    pub token: String,
    prev_tokens: Vec<String>,
    next_tokens: Vec<String>,
    src: String,
    pos: usize,
    err: Option<String>,
}

impl Lexer {
    /// A lexer over `s`, before its first token.
    pub(super) fn new(s: &str) -> Lexer {
        Lexer {
            src: s.to_string(),
            ..Lexer::default()
        }
    }

    fn tail(&self) -> &str {
        &self.src[self.pos..]
    }

    /// The current token and the unread input, for error messages.
    pub(super) fn context(&self) -> String {
        format!("{}{}", self.token, self.tail())
    }

    /// Makes `token` current and puts `head` back in front of the unread input.
    pub(super) fn push_back(&mut self, token: &str, head: &str) {
        self.token = token.to_string();
        self.src = format!("{head}{}", self.tail());
        self.pos = 0;
    }

    /// Moves to the next token; a lexing error sticks.
    pub(super) fn next(&mut self) -> Result<(), String> {
        if let Some(e) = &self.err {
            return Err(e.clone());
        }
        self.prev_tokens.push(std::mem::take(&mut self.token));
        if let Some(t) = self.next_tokens.pop() {
            self.token = t;
            return Ok(());
        }
        match self.scan() {
            Ok(t) => {
                self.token = t;
                Ok(())
            }
            Err(e) => {
                self.token = self.prev_tokens.last().cloned().unwrap_or_default();
                self.err = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Goes back to the previous token.
    pub(super) fn prev(&mut self) {
        let current = std::mem::take(&mut self.token);
        self.next_tokens.push(current);
        self.token = self.prev_tokens.pop().unwrap_or_default();
    }

    fn scan(&mut self) -> Result<String, String> {
        loop {
            let skip = self
                .tail()
                .bytes()
                .take_while(|&b| is_space_char(b))
                .count();
            self.pos += skip;
            let s = self.tail();
            if s.is_empty() {
                return Ok(String::new());
            }
            let b = s.as_bytes()[0];
            if b == b'#' {
                match s[1..].find('\n') {
                    // The comment stays in the unread input, as in metricsql.
                    None => return Ok(String::new()),
                    Some(n) => {
                        self.pos += n + 2;
                        continue;
                    }
                }
            }
            let len = if matches!(b, b'{' | b'}' | b'[' | b']' | b'(' | b')' | b',' | b'@') {
                1
            } else if is_ident_prefix(s) {
                scan_ident(s).len()
            } else if is_string_prefix(s) {
                scan_string(s)?.len()
            } else if let Some(n) = scan_binary_op_prefix(s) {
                n
            } else if let Some(n) = scan_tag_filter_op_prefix(s) {
                n
            } else if let Some(n) = scan_duration(s) {
                n
            } else if is_positive_number_prefix(s) {
                scan_positive_number(s)?.len()
            } else if s.starts_with("$__interval") {
                self.pos += "$__interval".len();
                return Ok("$__interval".to_string());
            } else if s.starts_with("$__rate_interval") {
                self.pos += "$__rate_interval".len();
                return Ok("$__interval".to_string());
            } else {
                return Err(format!("cannot recognize {}", crate::gostrconv::quote(s)));
            };
            let token = s[..len].to_string();
            self.pos += len;
            return Ok(token);
        }
    }
}

fn scan_string(s: &str) -> Result<&str, String> {
    let b = s.as_bytes();
    if b.len() < 2 {
        return Err(format!(
            "cannot find end of string in {}",
            crate::gostrconv::quote(s)
        ));
    }
    let quote = b[0];
    let mut i = 1;
    loop {
        let Some(n) = b[i..].iter().position(|&c| c == quote) else {
            return Err(format!(
                "cannot find closing quote {} for the string {}",
                quote as char,
                crate::gostrconv::quote(s)
            ));
        };
        i += n;
        let backslashes = b[..i].iter().rev().take_while(|&&c| c == b'\\').count();
        if backslashes % 2 == 0 {
            return Ok(&s[..=i]);
        }
        i += 1;
    }
}

/// Scans a positive number token (`12`, `1.5e3`, `0x1f`, `4Ki`, `.5`).
fn scan_positive_number(s: &str) -> Result<&str, String> {
    let b = s.as_bytes();
    let (skip, is_hex) = scan_special_integer_prefix(s);
    let mut i = skip;
    if is_hex {
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        return Ok(&s[..i]);
    }
    while i < b.len() && is_decimal_char_or_underscore(b[i]) {
        i += 1;
    }
    if i == b.len() {
        if i == 0 {
            return Err("number cannot be empty".into());
        }
        return Ok(s);
    }
    let m = scan_num_multiplier(&s[i..]);
    if m > 0 {
        return Ok(&s[..i + m]);
    }
    if b[i] != b'.' && b[i] != b'e' && b[i] != b'E' {
        if i == 0 {
            return Err("missing positive number".into());
        }
        return Ok(&s[..i]);
    }
    if b[i] == b'.' {
        i += 1;
        while i < b.len() && is_decimal_char_or_underscore(b[i]) {
            i += 1;
        }
        if i == b.len() {
            return Ok(s);
        }
    }
    let m = scan_num_multiplier(&s[i..]);
    if m > 0 {
        return Ok(&s[..i + m]);
    }
    if b[i] != b'e' && b[i] != b'E' {
        return Ok(&s[..i]);
    }
    i += 1;
    let missing = || format!("missing exponent part in {}", crate::gostrconv::quote(s));
    if i == b.len() {
        return Err(missing());
    }
    if b[i] == b'-' || b[i] == b'+' {
        i += 1;
    }
    let j = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if j == i {
        return Err(missing());
    }
    Ok(&s[..j])
}

/// Number multiplier suffixes, longest first within each unit, as `parsePositiveNumber` checks them.
pub(super) const MULTIPLIERS: &[(&str, f64)] = &[
    ("kib", 1024.0),
    ("ki", 1024.0),
    ("kb", 1e3),
    ("k", 1e3),
    ("mib", 1024.0 * 1024.0),
    ("mi", 1024.0 * 1024.0),
    ("mb", 1e6),
    ("m", 1e6),
    ("gib", 1024.0 * 1024.0 * 1024.0),
    ("gi", 1024.0 * 1024.0 * 1024.0),
    ("gb", 1e9),
    ("g", 1e9),
    ("tib", 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("tb", 1e12),
    ("t", 1e12),
];

fn scan_num_multiplier(s: &str) -> usize {
    let head: String = s
        .bytes()
        .take(3)
        .map(|b| b.to_ascii_lowercase() as char)
        .collect();
    MULTIPLIERS
        .iter()
        .find(|(m, _)| head.starts_with(m))
        .map_or(0, |(m, _)| m.len())
}

/// Scans an identifier (with `\` escapes); `s` must start with one.
fn scan_ident(s: &str) -> &str {
    let mut i = 0;
    while i < s.len() {
        let Some(r) = s[i..].chars().next() else {
            break;
        };
        if (i == 0 && is_first_ident_char(r)) || (i > 0 && is_ident_char(r)) {
            i += r.len_utf8();
            continue;
        }
        if r != '\\' {
            break;
        }
        match decode_escape_sequence(&s[i + 1..]) {
            Some((_, n)) => i += 1 + n,
            None => break,
        }
    }
    &s[..i]
}

/// An identifier with its `\` escapes decoded.
pub(super) fn unescape_ident(s: &str) -> String {
    let Some(mut n) = s.find('\\') else {
        return s.to_string();
    };
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        out.push_str(&rest[..n]);
        rest = &rest[n + 1..];
        match decode_escape_sequence(rest) {
            None => out.push('\\'),
            Some((r, size)) => {
                out.push(r);
                rest = &rest[size..];
            }
        }
        match rest.find('\\') {
            Some(m) => n = m,
            None => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// True when an identifier needs quoting to be printed (`hasEscapedChars`).
pub(super) fn has_escaped_chars(s: &str) -> bool {
    s.chars().enumerate().any(|(i, r)| {
        if i == 0 {
            !is_first_ident_char(r)
        } else {
            !is_ident_char(r)
        }
    })
}

/// An identifier as metricsql prints it, escaping what is not an ident char.
pub(super) fn escaped_ident(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, r) in s.chars().enumerate() {
        if (i == 0 && is_first_ident_char(r)) || (i > 0 && is_ident_char(r)) {
            out.push(r);
        } else {
            out.push('\\');
            if is_print(r) {
                out.push(r);
            } else if (r as u32) < 256 {
                out.push_str(&format!("x{:02x}", r as u32));
            } else {
                out.push_str(&format!("u{:04x}", r as u32 & 0xffff));
            }
        }
    }
    out
}

fn scan_tag_filter_op_prefix(s: &str) -> Option<usize> {
    if s.starts_with("=~") || s.starts_with("!~") || s.starts_with("!=") {
        Some(2)
    } else if s.starts_with('=') {
        Some(1)
    } else {
        None
    }
}

/// `inf` or `nan` in any case.
pub(super) fn is_inf_or_nan(s: &str) -> bool {
    s.len() == 3 && (s.eq_ignore_ascii_case("inf") || s.eq_ignore_ascii_case("nan"))
}

/// The `offset` keyword in any case.
pub(super) fn is_offset(s: &str) -> bool {
    s.eq_ignore_ascii_case("offset")
}

/// Starts with a quote: `"`, `'` or a backtick.
pub(super) fn is_string_prefix(s: &str) -> bool {
    matches!(s.as_bytes().first(), Some(b'"' | b'\'' | b'`'))
}

/// Starts with a digit or `.digit`.
pub(super) fn is_positive_number_prefix(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        None => false,
        Some(c) if c.is_ascii_digit() => true,
        Some(b'.') => b.len() >= 2 && b[1].is_ascii_digit(),
        Some(_) => false,
    }
}

/// Starts with `0` followed by a digit, `x`, `o` or `b`.
pub(super) fn is_special_integer_prefix(s: &str) -> bool {
    scan_special_integer_prefix(s).0 > 0
}

fn scan_special_integer_prefix(s: &str) -> (usize, bool) {
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b'0' {
        return (0, false);
    }
    match b[1].to_ascii_lowercase() {
        c if c.is_ascii_digit() => (1, false),
        b'x' => (2, true),
        b'o' | b'b' => (2, false),
        _ => (0, false),
    }
}

/// A whole token that is a positive duration (`5m`, `1h30m`, `$__interval`).
pub(super) fn is_positive_duration(s: &str) -> bool {
    s == "$__interval" || scan_duration(s) == Some(s.len())
}

/// A duration in milliseconds (`DurationValue`), or metricsql's error.
pub(super) fn duration_value(s: &str, step: i64) -> Result<i64, String> {
    if s.is_empty() {
        return Err("duration cannot be empty".into());
    }
    let last = s.as_bytes()[s.len() - 1];
    if last.is_ascii_digit() || last == b'.' {
        if let Ok(d) = parse_float(s) {
            return Ok((d * 1000.0) as i64);
        }
    }
    let mut rest = s;
    let mut minus = false;
    let mut d = 0.0;
    while !rest.is_empty() {
        let n = scan_single_duration(rest, true)
            .ok_or_else(|| format!("cannot parse duration {}", crate::gostrconv::quote(rest)))?;
        let mut local = parse_single_duration(&rest[..n], step)?;
        rest = &rest[n..];
        if minus && local > 0.0 {
            local = -local;
        }
        d += local;
        if local < 0.0 {
            minus = true;
        }
    }
    Ok(d as i64)
}

fn parse_single_duration(s: &str, step: i64) -> Result<f64, String> {
    if s == "$__interval" {
        return Ok(step as f64);
    }
    let s = s.to_lowercase();
    let num = &s[..s.len() - 1];
    let num = num.strip_suffix('m').unwrap_or(num);
    let f = parse_float(num).map_err(|e| {
        format!(
            "cannot parse duration {}: {}",
            crate::gostrconv::quote(&s),
            e.go("ParseFloat", num)
        )
    })?;
    let mp = match &s[num.len()..] {
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        "h" => 3600e3,
        "d" => 86400e3,
        "w" => 7.0 * 86400e3,
        "y" => 365.0 * 86400e3,
        "i" => step as f64,
        _ => {
            return Err(format!(
                "invalid duration suffix in {}",
                crate::gostrconv::quote(&s)
            ))
        }
    };
    Ok(mp * f)
}

/// Length of a duration starting at `s` (`123h`, `3h5m`, `3.4d-35.66s`).
fn scan_duration(s: &str) -> Option<usize> {
    let mut i = scan_single_duration(s, false)?;
    while let Some(n) = scan_single_duration(&s[i..], true) {
        i += n;
    }
    Some(i)
}

fn scan_single_duration(s: &str, can_be_negative: bool) -> Option<usize> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let mut i = 0;
    if b[0] == b'-' && can_be_negative {
        i += 1;
    }
    if &s[i..] == "$__interval" {
        return Some(i + "$__interval".len());
    }
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == 0 || i == b.len() {
        return None;
    }
    if b[i] == b'.' {
        let j = i;
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == j || i == b.len() {
            return None;
        }
    }
    match b[i].to_ascii_lowercase() {
        b'm' => {
            if i + 1 < b.len() {
                match b[i + 1].to_ascii_lowercase() {
                    b's' => return Some(i + 2),
                    b'i' | b'b' => return None,
                    _ => {}
                }
            }
            (b[i] == b'm').then_some(i + 1)
        }
        b's' | b'h' | b'd' | b'w' | b'y' | b'i' => Some(i + 1),
        _ => None,
    }
}

fn is_decimal_char_or_underscore(b: u8) -> bool {
    b.is_ascii_digit() || b == b'_'
}

/// Starts with an identifier char or a valid `\` escape.
pub(super) fn is_ident_prefix(s: &str) -> bool {
    let Some(r) = s.chars().next() else {
        return false;
    };
    if r == '\\' {
        return decode_escape_sequence(&s[1..]).is_some();
    }
    is_first_ident_char(r)
}

fn is_first_ident_char(r: char) -> bool {
    r.is_alphabetic() || r == '_' || r == ':'
}

fn is_ident_char(r: char) -> bool {
    is_first_ident_char(r) || r.is_ascii_digit() || r == '.'
}

fn is_space_char(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Go's `unicode.IsPrint`, closely enough: no control, format or separator chars except the ASCII space.
fn is_print(r: char) -> bool {
    r == ' ' || !(r.is_control() || r.is_whitespace() || r == '\u{feff}' || r == '\u{ad}')
}

fn from_hex(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

/// Decodes the escape after a `\`: `xHH`, `uHHHH` or one printable char; `None` when invalid.
fn decode_escape_sequence(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    let hex = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?
            .iter()
            .try_fold(0u32, |acc, &c| Some(acc << 4 | from_hex(c)?))
    };
    let (r, n) = match b.first() {
        None => return None,
        Some(b'x' | b'X') => (char::from_u32(hex(1..3)?)?, 3),
        Some(b'u' | b'U') => (
            char::from_u32(hex(1..5)?).unwrap_or(char::REPLACEMENT_CHARACTER),
            5,
        ),
        Some(_) => {
            let r = s.chars().next()?;
            if !is_print(r) {
                return None;
            }
            (r, r.len_utf8())
        }
    };
    (r != char::REPLACEMENT_CHARACTER).then_some((r, n))
}

/// The binary operators metricsql knows, lower case.
const BINARY_OPS: &[&str] = &[
    "+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless",
    "if", "ifnot", "default",
];

/// Length of the longest binary operator `s` starts with (case-insensitive).
fn scan_binary_op_prefix(s: &str) -> Option<usize> {
    BINARY_OPS
        .iter()
        .filter(|op| {
            s.len() >= op.len()
                && s.is_char_boundary(op.len())
                && s[..op.len()].eq_ignore_ascii_case(op)
        })
        .map(|op| op.len())
        .max()
}

/// A binary operator token (case-insensitive).
pub(super) fn is_binary_op(s: &str) -> bool {
    BINARY_OPS.iter().any(|op| s.eq_ignore_ascii_case(op))
}

/// An operator's priority: higher binds tighter.
pub(super) fn binary_op_priority(op: &str) -> i32 {
    match op.to_ascii_lowercase().as_str() {
        "default" => -1,
        "or" => 1,
        "and" | "unless" => 2,
        "==" | "!=" | "<" | ">" | "<=" | ">=" => 3,
        "+" | "-" => 4,
        "*" | "/" | "%" | "atan2" => 5,
        "^" => 6,
        _ => 0,
    }
}

/// A comparison operator (`bool` applies to these).
pub(super) fn is_binary_op_cmp(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// `and`, `or`, `unless`.
pub(super) fn is_binary_op_logical_set(op: &str) -> bool {
    matches!(op.to_ascii_lowercase().as_str(), "and" | "or" | "unless")
}

/// `on` or `ignoring`.
pub(super) fn is_group_modifier(s: &str) -> bool {
    s.eq_ignore_ascii_case("on") || s.eq_ignore_ascii_case("ignoring")
}

/// `group_left` or `group_right`.
pub(super) fn is_join_modifier(s: &str) -> bool {
    s.eq_ignore_ascii_case("group_left") || s.eq_ignore_ascii_case("group_right")
}

/// `bool`.
pub(super) fn is_bool_modifier(s: &str) -> bool {
    s.eq_ignore_ascii_case("bool")
}

/// `prefix`.
pub(super) fn is_prefix_modifier(s: &str) -> bool {
    s.eq_ignore_ascii_case("prefix")
}

/// `keep_metric_names`.
pub(super) fn is_keep_metric_names(s: &str) -> bool {
    s.eq_ignore_ascii_case("keep_metric_names")
}

/// An identifier that `on`/`ignoring`/`group_*`/`bool`/`prefix` reserve.
pub(super) fn is_reserved_binary_op_ident(s: &str) -> bool {
    is_group_modifier(s) || is_join_modifier(s) || is_bool_modifier(s) || is_prefix_modifier(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Result<Vec<String>, String> {
        let mut lex = Lexer::new(s);
        let mut out = Vec::new();
        loop {
            lex.next()?;
            if lex.token.is_empty() {
                return Ok(out);
            }
            out.push(lex.token.clone());
        }
    }

    #[test]
    fn tokens_like_metricsql() {
        assert_eq!(
            tokens("sum(rate(m{a=~\"b\\\"\"}[5m:1m])) by (x) # c\n>= 1.5Ki").unwrap(),
            [
                "sum",
                "(",
                "rate",
                "(",
                "m",
                "{",
                "a",
                "=~",
                "\"b\\\"\"",
                "}",
                "[",
                "5m",
                ":1m",
                "]",
                ")",
                ")",
                "by",
                "(",
                "x",
                ")",
                ">=",
                "1.5Ki"
            ]
        );
        assert_eq!(
            tokens("x[$__rate_interval] offset -1h30m").unwrap(),
            ["x", "[", "$__interval", "]", "offset", "-", "1h30m"]
        );
        assert_eq!(
            tokens("a\\-b 0x1F .5 08").unwrap(),
            ["a\\-b", "0x1F", ".5", "08"]
        );
        assert_eq!(tokens("x ~ y").unwrap_err(), "cannot recognize \"~ y\"");
        assert_eq!(
            tokens("x{a=\"b}").unwrap_err(),
            "cannot find closing quote \" for the string \"\\\"b}\""
        );
        assert_eq!(tokens("1e").unwrap_err(), "missing exponent part in \"1e\"");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_value("1h30m", 0), Ok(5_400_000));
        assert_eq!(duration_value("1.5", 0), Ok(1_500));
        assert_eq!(duration_value("2i", 7), Ok(14));
        assert_eq!(
            duration_value("1k", 0).unwrap_err(),
            "cannot parse duration \"1k\""
        );
        assert!(is_positive_duration("5m"));
        assert!(!is_positive_duration("5M"));
        assert!(!is_positive_duration("5Mi"));
    }
}

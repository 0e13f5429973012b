//! Go's text for floats and strings: `strconv.FormatFloat` and
//! `strconv.Quote`, and the `fmt` verbs built on them.
//!
//! The tools ward replaces are written in Go and print floats through Go's
//! `fmt`/`strconv` (`%v`, `%g`, `'f', -1`, `%f`, `%.3e`, and sigs.k8s.io/yaml's
//! float32 `'g'`) and label values through `strconv.Quote`. Rust's own
//! formatting differs (`1e-05` vs `0.00001`), so byte equality of rule files
//! (sloth) and metric expositions (kubenurse, hostlookuper) needs these
//! re-implementations. Nothing else lives here.
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

/// Shortest decimal digits and decimal-point position of a finite, non-zero float.
///
/// Returns `(digits, dp)` so that the value is `0.d1d2... * 10^dp`.
fn shortest_digits(sci: &str) -> (Vec<u8>, i32) {
    // `sci` is Rust's `{:e}` output of a positive number, e.g. "9.99e-1".
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    (digits, exp + 1)
}

fn special(x: f64) -> Option<&'static str> {
    if x.is_nan() {
        Some("NaN")
    } else if x == f64::INFINITY {
        Some("+Inf")
    } else if x == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

fn digits_of(x: f64, bits32: bool) -> (Vec<u8>, i32) {
    let a = x.abs();
    let sci = if bits32 {
        format!("{:e}", a as f32)
    } else {
        format!("{a:e}")
    };
    shortest_digits(&sci)
}

fn fmt_e(out: &mut String, digits: &[u8], dp: i32) {
    out.push(digits[0] as char);
    if digits.len() > 1 {
        out.push('.');
        for d in &digits[1..] {
            out.push(*d as char);
        }
    }
    out.push('e');
    let exp = dp - 1;
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
}

fn fmt_f(out: &mut String, digits: &[u8], dp: i32, prec: usize) {
    // Integer part.
    if dp > 0 {
        for i in 0..dp as usize {
            out.push(digits.get(i).map_or('0', |d| *d as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec {
            let idx = dp + i as i32;
            let c = if idx < 0 {
                '0'
            } else {
                digits.get(idx as usize).map_or('0', |d| *d as char)
            };
            out.push(c);
        }
    }
}

fn format_g_impl(x: f64, bits32: bool) -> String {
    if let Some(s) = special(x) {
        return s.to_string();
    }
    let mut out = String::new();
    if x.is_sign_negative() {
        out.push('-');
    }
    if x == 0.0 {
        out.push('0');
        return out;
    }
    let (digits, dp) = digits_of(x, bits32);
    let exp = dp - 1;
    if !(-4..6).contains(&exp) {
        fmt_e(&mut out, &digits, dp);
    } else {
        let prec = (digits.len() as i32 - dp).max(0) as usize;
        fmt_f(&mut out, &digits, dp, prec);
    }
    out
}

/// Go `%v` / `%g` / `strconv.FormatFloat(x, 'g', -1, 64)`.
pub fn format_g(x: f64) -> String {
    format_g_impl(x, false)
}

/// Go `strconv.FormatFloat(x, 'g', -1, 32)` (sigs.k8s.io/yaml's float-to-string coercion).
pub fn format_g32(x: f64) -> String {
    format_g_impl(x, true)
}

/// Go `strconv.FormatFloat(x, 'f', -1, 64)`: shortest digits, never an exponent.
pub fn format_f(x: f64) -> String {
    if let Some(s) = special(x) {
        return s.to_string();
    }
    let mut out = String::new();
    if x.is_sign_negative() {
        out.push('-');
    }
    if x == 0.0 {
        out.push('0');
        return out;
    }
    let (digits, dp) = digits_of(x, false);
    let prec = (digits.len() as i32 - dp).max(0) as usize;
    fmt_f(&mut out, &digits, dp, prec);
    out
}

/// Go `fmt.Sprintf("%f", x)`: six decimals, correctly rounded.
pub fn format_f6(x: f64) -> String {
    if let Some(s) = special(x) {
        return s.to_string();
    }
    format!("{x:.6}")
}

/// Go `fmt.Sprintf("%.3e", x)` for a finite positive `x`: `1.000e-09`, `2.154e+01`.
pub fn format_e3(x: f64) -> String {
    let rust = format!("{x:.3e}");
    let (mant, exp) = rust.split_once('e').unwrap_or((&rust, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!(
        "{mant}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    )
}

/// Go `strconv.Quote`: a double-quoted Go string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_into(&mut out, s);
    out
}

/// [`quote`], appended to `out` (no allocation when `out` has room).
pub fn quote_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || c == '\u{feff}' => {
                let v = c as u32;
                if v <= 0xffff {
                    out.push_str(&format!("\\u{v:04x}"));
                } else {
                    out.push_str(&format!("\\U{v:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e3_matches_go() {
        assert_eq!(format_e3(1e-9), "1.000e-09");
        assert_eq!(format_e3(1e18), "1.000e+18");
        assert_eq!(format_e3(0.021544346900318846), "2.154e-02");
        assert_eq!(format_e3(5.0), "5.000e+00");
    }

    #[test]
    fn g_matches_go() {
        let cases: &[(f64, &str)] = &[
            (0.999_000_000_000_000_1, "0.9990000000000001"),
            (99.9 / 100.0, "0.9990000000000001"),
            ((100.0 - 99.9) / 100.0, "0.0009999999999999432"),
            ((100.0 - 99.99) / 100.0, "0.00010000000000005117"),
            ((100.0 - 99.999) / 100.0, "1.0000000000047748e-05"),
            (14.4, "14.4"),
            (6.0, "6"),
            (30.0, "30"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (5.6000000000000005, "5.6000000000000005"),
            (0.0, "0"),
            (1e21, "1e+21"),
            (-2.5, "-2.5"),
        ];
        for (x, want) in cases {
            assert_eq!(format_g(*x), *want, "{x}");
        }
    }

    #[test]
    fn g32_and_f() {
        assert_eq!(format_g32(99.9), "99.9");
        assert_eq!(format_g32(0.2), "0.2");
        assert_eq!(format_g32(123456789.0), "1.2345679e+08");
        assert_eq!(format_f(99.9), "99.9");
        assert_eq!(format_f(1e-7), "0.0000001");
        assert_eq!(format_f(1e22), "10000000000000000000000");
        assert_eq!(format_f(95.0), "95");
        assert_eq!(format_f6(99.9), "99.900000");
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("x\ny"), "\"x\\ny\"");
    }
}

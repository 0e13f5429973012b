//! What a scalar's bytes allow: libyaml's `yaml_emitter_analyze_scalar`
//! (which styles a string may be written in), with shortcuts for the two
//! common shapes of rule files (words and ASCII expressions over several
//! lines), and the character classes the writer shares with it.

use super::resolve::needs_double_quotes;

#[derive(Debug, Default, PartialEq)]
pub(super) struct Analysis {
    pub(super) multiline: bool,
    pub(super) flow_plain_allowed: bool,
    pub(super) block_plain_allowed: bool,
    pub(super) single_quoted_allowed: bool,
    pub(super) block_allowed: bool,
    /// One run of printable ASCII without spaces that starts with a letter
    /// or digit and does not end with `:`: written as is in plain style (a
    /// `:` or flow indicator inside it matters in flow context only).
    pub(super) word: bool,
    /// ASCII text with a line feed and no other break or control byte:
    /// written line by line as is in a literal block.
    pub(super) lines: bool,
}

pub(super) fn width(b: u8) -> usize {
    if b & 0x80 == 0 {
        1
    } else if b & 0xE0 == 0xC0 {
        2
    } else if b & 0xF0 == 0xE0 {
        3
    } else if b & 0xF8 == 0xF0 {
        4
    } else {
        0
    }
}

/// True for a byte that can start a line break (`\r`, `\n`, or the lead
/// byte of NEL, LS, PS): runs of text stop there for [`is_break`] to decide.
pub(super) fn may_break(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | 0xC2 | 0xE2)
}

fn at(v: &[u8], i: usize) -> u8 {
    v.get(i).copied().unwrap_or(0)
}

pub(super) fn is_break(v: &[u8], i: usize) -> bool {
    let b = at(v, i);
    b == b'\r'
        || b == b'\n'
        || (b == 0xC2 && at(v, i + 1) == 0x85)
        || (b == 0xE2 && at(v, i + 1) == 0x80 && (at(v, i + 2) == 0xA8 || at(v, i + 2) == 0xA9))
}

fn is_blank(v: &[u8], i: usize) -> bool {
    let b = at(v, i);
    b == b' ' || b == b'\t'
}

fn is_blankz(v: &[u8], i: usize) -> bool {
    is_blank(v, i) || is_break(v, i) || at(v, i) == 0
}

pub(super) fn is_printable(v: &[u8], i: usize) -> bool {
    let b = at(v, i);
    let b1 = at(v, i + 1);
    let b2 = at(v, i + 2);
    b == 0x0A
        || (0x20..=0x7E).contains(&b)
        || (b == 0xC2 && b1 >= 0xA0)
        || (b > 0xC2 && b < 0xED)
        || (b == 0xED && b1 < 0xA0)
        || b == 0xEE
        || (b == 0xEF && !(b1 == 0xBB && b2 == 0xBF) && !(b1 == 0xBF && (b2 == 0xBE || b2 == 0xBF)))
}

/// How [`analyze`] treats a byte past the first character.
#[derive(Clone, Copy, PartialEq)]
enum Text {
    /// Printable ASCII, no space and no indicator: only resets the "previous" flags.
    Plain,
    /// A flow indicator (`, ? [ ] { }`): as [`Text::Plain`], and rules out flow plain style.
    Flow,
    /// Anything else (space, break, `:`, `#`, control or non-ASCII): looked at in context.
    Other,
}

/// [`Text`] of every byte, as a table: the analysis scans every output byte.
const TEXT: [Text; 256] = {
    let mut t = [Text::Other; 256];
    let mut b = 0x21;
    while b <= 0x7E {
        t[b] = match b as u8 {
            b',' | b'?' | b'[' | b']' | b'{' | b'}' => Text::Flow,
            b':' | b'#' => Text::Other,
            _ => Text::Plain,
        };
        b += 1;
    }
    t
};

/// libyaml's `yaml_emitter_analyze_scalar` (unicode output enabled, as
/// yaml.v2 sets it), with shortcuts for words and ASCII lines.
pub(super) fn analyze(v: &[u8]) -> Analysis {
    if is_word(v) {
        return Analysis {
            multiline: false,
            flow_plain_allowed: !v[1..]
                .iter()
                .any(|&b| b == b':' || TEXT[usize::from(b)] == Text::Flow),
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: true,
            word: true,
            lines: false,
        };
    }
    if v.is_ascii() && v.contains(&b'\n') {
        return analyze_ascii_lines(v);
    }
    analyze_scan(v)
}

/// True for a word (see `Analysis::word`) that yaml.v2 writes as is: one
/// that does not read back as another type (a number, a bool, null...).
pub(super) fn plain_word(v: &str) -> bool {
    is_word(v.as_bytes()) && !needs_double_quotes(v)
}

/// True for a word (see `Analysis::word`).
fn is_word(v: &[u8]) -> bool {
    v.first().is_some_and(u8::is_ascii_alphanumeric)
        && v.last() != Some(&b':')
        && v[1..].iter().all(|b| (0x21..=0x7E).contains(b))
}

/// What [`analyze_scan`] finds for ASCII text with a line feed, in two
/// branch-free passes (the compiler vectorises them; expressions are most
/// of the bytes written): such text is never plain, and only non-printable
/// bytes and spaces next to a break or at the end rule out single quotes or
/// a literal block.
fn analyze_ascii_lines(v: &[u8]) -> Analysis {
    let special = v.iter().fold(false, |acc, &b| {
        acc | ((b != b'\n') & !(0x20..=0x7E).contains(&b))
    });
    let (space_break, break_space) =
        v.iter()
            .zip(v.get(1..).unwrap_or_default())
            .fold((false, false), |(sb, bs), (&a, &b)| {
                (
                    sb | ((a == b' ') & (b == b'\n')),
                    bs | ((a == b'\n') & (b == b' ')),
                )
            });
    let trailing_space = v.last() == Some(&b' ');
    Analysis {
        multiline: true,
        flow_plain_allowed: false,
        block_plain_allowed: false,
        single_quoted_allowed: !(special || space_break || break_space),
        block_allowed: !(special || space_break || trailing_space),
        word: false,
        lines: !special,
    }
}

/// The full scan of libyaml's analysis, byte by byte.
fn analyze_scan(v: &[u8]) -> Analysis {
    if v.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
            word: false,
            lines: false,
        };
    }
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;

    if v.len() >= 3 && (v.starts_with(b"---") || v.starts_with(b"...")) {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_ws = true;
    let mut i = 0;
    while i < v.len() {
        if i > 0 && TEXT[usize::from(v[i])] != Text::Other {
            // A run of printable ASCII past the first character without
            // spaces, breaks or context-dependent indicators.
            while let Some(&b) = v.get(i) {
                match TEXT[usize::from(b)] {
                    Text::Plain => {}
                    Text::Flow => flow_indicators = true,
                    Text::Other => break,
                }
                i += 1;
            }
            previous_space = false;
            previous_break = false;
            preceded_by_ws = false;
            continue;
        }
        let w = width(v[i]).max(1);
        let followed_by_ws = i + w >= v.len() || v[i + w] == b' ' || v[i + w] == b'\t';
        if i == 0 {
            match v[i] {
                b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                | b'\'' | b'"' | b'%' | b'@' | b'`' => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                b'?' | b':' => {
                    flow_indicators = true;
                    if followed_by_ws {
                        block_indicators = true;
                    }
                }
                b'-' if followed_by_ws => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        } else {
            match v[i] {
                b',' | b'?' | b'[' | b']' | b'{' | b'}' => flow_indicators = true,
                b':' => {
                    flow_indicators = true;
                    if followed_by_ws {
                        block_indicators = true;
                    }
                }
                b'#' if preceded_by_ws => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        }
        let c = v[i];
        let printable = if c < 0x80 {
            c == b'\n' || (0x20..=0x7E).contains(&c)
        } else {
            is_printable(v, i)
        };
        if !printable {
            special = true;
        }
        if v[i] == b' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + w == v.len() {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if (c < 0x80 && (c == b'\n' || c == b'\r')) || (c >= 0x80 && is_break(v, i)) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + w == v.len() {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = if c < 0x80 {
            matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0)
        } else {
            is_blankz(v, i)
        };
        i += w;
    }
    let mut a = Analysis {
        multiline: line_breaks,
        flow_plain_allowed: true,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
        word: false,
        lines: false,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if flow_indicators {
        a.flow_plain_allowed = false;
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_agree_with_the_scan() {
        let lines = [
            "a\n",
            "\na",
            "a \nb",
            "a\n b",
            "a\nb ",
            "a\tb\nc",
            "a\rb\nc",
            "  x\n\n  y\n",
            "sum(rate(x{a=\"b\"}[5m]))\n/\n(y)\n",
            "- a: b\n# c\n",
            "\n",
            " \n",
        ];
        for v in lines {
            let a = analyze_ascii_lines(v.as_bytes());
            let controls = v.bytes().any(|b| b != b'\n' && !(0x20..=0x7E).contains(&b));
            assert_eq!(a.lines, !controls, "{v:?}");
            assert_eq!(
                Analysis { lines: false, ..a },
                analyze_scan(v.as_bytes()),
                "{v:?}"
            );
        }
        for v in [
            "a",
            "svc0001-slo00",
            "a\"b",
            "x'y",
            "9.5",
            "sloth_id",
            "a/b*c",
            "a:b",
            "slo:sli_error:ratio_rate5m",
            "a#b",
            "a,b[c]{d}?",
        ] {
            assert!(is_word(v.as_bytes()), "{v:?}");
            let word = Analysis {
                word: true,
                ..analyze_scan(v.as_bytes())
            };
            assert_eq!(analyze(v.as_bytes()), word, "{v:?}");
        }
        for v in ["-a", "a b", "a:", "a\tb", "é", ""] {
            assert!(!is_word(v.as_bytes()), "{v:?}");
        }
    }
}

//! The subset of Go's `text/template` that sloth SLI queries use: field
//! actions on the variable map (`{{.window}}`, `{{ .window }}`), string
//! constants (`{{"{{.window}}"}}`, raw strings), comments and `{{-`/`-}}`
//! trim markers. Anything else is refused with an error naming the action
//! (Go would run it; see docs/slo-compat.md).

use std::borrow::Cow;

/// Renders `tpl` with `vars`. With `missing_key_error` an unknown field is an
/// error (sloth's `missingkey=error`), otherwise it prints `<no value>`.
pub fn render(tpl: &str, vars: &[(&str, &str)], missing_key_error: bool) -> Result<String, String> {
    Template::parse(tpl).render(vars, missing_key_error)
}

/// A template split once into text and field actions, for rendering it
/// with several variable maps (an SLI query once per window). It borrows
/// its text from the template source.
#[derive(Debug, Clone, PartialEq)]
pub struct Template<'t> {
    parts: Vec<Part<'t>>,
    len: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Part<'t> {
    /// Text, and string constants, as is.
    Text(Cow<'t, str>),
    /// `{{.name}}`: a variable.
    Field(&'t str),
    /// The action that fails (Go reports it when execution reaches it).
    Fail(String),
}

impl<'t> Template<'t> {
    /// Splits `tpl`; a malformed or unsupported action ends the template
    /// with its error, reported by [`Template::render`] when it gets there.
    pub fn parse(tpl: &'t str) -> Template<'t> {
        let mut t = Template {
            parts: Vec::new(),
            len: tpl.len(),
        };
        let mut rest = tpl;
        let mut trim_next = false;
        while let Some(start) = rest.find("{{") {
            let mut text = &rest[..start];
            if trim_next {
                text = text.trim_start_matches(is_space);
            }
            let mut after = &rest[start + 2..];
            if after.starts_with('-') && after[1..].starts_with(is_space) {
                text = text.trim_end_matches(is_space);
                after = &after[1..];
            }
            t.text(Cow::Borrowed(text));
            let (body, trim_right, consumed) = match scan_action(after) {
                Ok(a) => a,
                Err(e) => {
                    t.parts.push(Part::Fail(e));
                    return t;
                }
            };
            match action(body.trim_matches(is_space)) {
                Ok(None) => {}
                Ok(Some(Part::Text(s))) => t.text(s),
                Ok(Some(p)) => t.parts.push(p),
                Err(e) => {
                    t.parts.push(Part::Fail(e));
                    return t;
                }
            }
            trim_next = trim_right;
            rest = &after[consumed..];
        }
        if trim_next {
            rest = rest.trim_start_matches(is_space);
        }
        t.text(Cow::Borrowed(rest));
        t
    }

    fn text(&mut self, s: Cow<'t, str>) {
        match self.parts.last_mut() {
            _ if s.is_empty() => {}
            Some(Part::Text(t)) => t.to_mut().push_str(&s),
            _ => self.parts.push(Part::Text(s)),
        }
    }

    /// Executes the template with `vars` (see [`render`]).
    pub fn render(&self, vars: &[(&str, &str)], missing_key_error: bool) -> Result<String, String> {
        let mut out = String::with_capacity(self.len + 16);
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(name) => match vars.iter().find(|(k, _)| k == name) {
                    Some((_, v)) => out.push_str(v),
                    None if missing_key_error => {
                        return Err(format!(
                            "template: sliExpr:1: executing \"sliExpr\" at <.{name}>: map has no entry for key \"{name}\""
                        ))
                    }
                    None => out.push_str("<no value>"),
                },
                Part::Fail(e) => return Err(e.clone()),
            }
        }
        Ok(out)
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Finds the end of an action; returns (body, right-trim, bytes consumed incl. `}}`).
fn scan_action(s: &str) -> Result<(&str, bool, usize), String> {
    let b = s.as_bytes();
    let mut i = 0;
    // Comments: `/* ... */` directly after the delimiter.
    let lead = s.len() - s.trim_start_matches(is_space).len();
    if s[lead..].starts_with("/*") {
        let Some(end) = s[lead + 2..].find("*/") else {
            return Err("template: sliExpr:1: unclosed comment".to_string());
        };
        let after = lead + 2 + end + 2;
        let tail = &s[after..];
        let tl = tail.len() - tail.trim_start_matches(is_space).len();
        if tail[tl..].starts_with("-}}") && tl > 0 {
            return Ok(("", true, after + tl + 3));
        }
        if tail[tl..].starts_with("}}") {
            return Ok(("", false, after + tl + 2));
        }
        return Err("template: sliExpr:1: comment ends before closing delimiter".to_string());
    }
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if i < b.len() && b[i] == b'\n' {
                        return Err("template: sliExpr:1: unterminated quoted string".to_string());
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return Err("template: sliExpr:1: unterminated quoted string".to_string());
                }
                i += 1;
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
                if i >= b.len() {
                    return Err("template: sliExpr:1: unterminated raw quoted string".to_string());
                }
                i += 1;
            }
            b'}' if s[i..].starts_with("}}") => {
                let body = &s[..i];
                if body.ends_with(" -")
                    || body.ends_with("\t-")
                    || body.ends_with("\n-")
                    || body.ends_with("\r-")
                {
                    return Ok((&body[..body.len() - 1], true, i + 2));
                }
                return Ok((body, false, i + 2));
            }
            _ => i += 1,
        }
    }
    Err("template: sliExpr:1: unclosed action".to_string())
}

/// What an action's body stands for: nothing (a comment), text, a field,
/// or the error Go gives for it.
fn action(body: &str) -> Result<Option<Part<'_>>, String> {
    if body.is_empty() {
        // Comment, or Go's "missing value for command" for `{{}}`.
        return Ok(None);
    }
    if let Some(name) = body.strip_prefix('.') {
        if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Ok(Some(Part::Field(name)));
        }
    }
    if body.len() >= 2
        && body.starts_with('`')
        && body.ends_with('`')
        && !body[1..body.len() - 1].contains('`')
    {
        return Ok(Some(Part::Text(Cow::Borrowed(&body[1..body.len() - 1]))));
    }
    if body.len() >= 2 && body.starts_with('"') && body.ends_with('"') {
        if let Some(s) = unquote(&body[1..body.len() - 1]) {
            return Ok(Some(Part::Text(Cow::Owned(s))));
        }
    }
    // On one line: an action may span several.
    Err(format!(
        "template: sliExpr:1: unsupported action {{{{{}}}}}",
        body.replace('\n', "\\n")
    ))
}

/// Go interpreted string literal body (without quotes).
fn unquote(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '"' {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = it.next()?;
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| it.next()).collect();
                let v = u32::from_str_radix(&hex, 16).ok()?;
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsupported_action_over_several_lines_is_named_on_one_line() {
        // Found by the bounded fuzz run (crates/fuzz, slo_spec).
        assert_eq!(
            render("x[{{.winde 1s,\n )}}]", &[("window", "5m")], true).unwrap_err(),
            "template: sliExpr:1: unsupported action {{.winde 1s,\\n )}}"
        );
    }

    #[test]
    fn renders_window() {
        let v = [("window", "5m")];
        assert_eq!(render("x[{{.window}}]", &v, true).unwrap(), "x[5m]");
        assert_eq!(render("x[{{ .window }}]", &v, true).unwrap(), "x[5m]");
        assert_eq!(render("a {{- .window -}} b", &v, true).unwrap(), "a5mb");
        assert_eq!(
            render(r#"{{"{{.window}}"}}"#, &v, true).unwrap(),
            "{{.window}}"
        );
        assert_eq!(render("{{/* c */}}x", &v, true).unwrap(), "x");
        assert!(render("{{.other}}", &v, true).is_err());
        assert_eq!(render("{{.other}}", &v, false).unwrap(), "<no value>");
        assert!(render("{{.window", &v, true).is_err());
        assert!(render("{{ printf \"x\" }}", &v, true).is_err());
    }
}

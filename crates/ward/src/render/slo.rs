//! `ward slo`'s messages on stderr (the rules themselves are `ward-slo`'s
//! bytes): a warning per key sloth ignores, a line per invalid file, the
//! validation total, and the failure that ends the command.

use std::io::{self, Write};

use ward_slo_files::Error;

/// A warning: a key sloth ignores (the run goes on).
pub(crate) fn warning(line: &str, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "ward slo: warning: {line}")
}

/// The errors of one invalid file, on one line.
pub(crate) fn file_errors(errors: &[String], out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}", errors.join("; "))
}

/// The end of a successful validation: how many SLO specs were valid.
pub(crate) fn validated(specs: usize, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "Validation succeeded slo-specs={specs}")
}

/// The failure that ends `ward slo`.
pub(crate) fn failure(e: &Error, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "ward slo: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn messages_are_one_line_each() {
        assert_eq!(
            text(|o| warning("u.yaml: unknown field x is ignored, as sloth does", o)),
            "ward slo: warning: u.yaml: unknown field x is ignored, as sloth does\n"
        );
        assert_eq!(
            text(|o| file_errors(&["a".into(), "b".into()], o)),
            "a; b\n"
        );
        assert_eq!(
            text(|o| validated(3, o)),
            "Validation succeeded slo-specs=3\n"
        );
        let e = Error::Invalid { bad: 1, files: 2 };
        assert_eq!(
            text(|o| failure(&e, o)),
            "ward slo: validation failed: 1 of 2 files have invalid SLO specs\n"
        );
    }
}

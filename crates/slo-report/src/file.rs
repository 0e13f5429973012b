//! The file a report is written to, made sure writable before Prometheus is
//! queried and replaced whole once the report is written.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A temporary file next to the report's path, renamed onto it by
/// [`Reserved::commit`]; nothing is left behind when it is dropped instead.
#[derive(Debug)]
pub struct Reserved {
    path: PathBuf,
    temp: tempfile::NamedTempFile,
}

impl Reserved {
    /// Reserves `path`: fails now if its directory cannot take a new file or
    /// the path is a directory.
    pub fn new(path: &Path) -> Result<Self> {
        let fail = |source| Error::Output {
            path: path.display().to_string(),
            source,
        };
        if path.is_dir() {
            return Err(fail(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a directory",
            )));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".ward-report-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(dir)
            .map_err(|e| fail(without_temp_path(e)))?;
        Ok(Self {
            path: path.to_path_buf(),
            temp,
        })
    }

    /// Writes the file with `write` and puts it at its path.
    pub fn commit(
        mut self,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let path = self.path.display().to_string();
        write(&mut self.temp)
            .and_then(|()| self.temp.flush())
            .map_err(|source| Error::Output {
                path: path.clone(),
                source,
            })?;
        self.temp
            .persist(&self.path)
            .map(drop)
            .map_err(|e| Error::Output {
                path,
                source: e.error,
            })
    }
}

/// tempfile's error without the ` at path "<temporary file>"` it appends
/// (the user named another path).
fn without_temp_path(e: std::io::Error) -> std::io::Error {
    match e.to_string().split_once(" at path ") {
        Some((cause, _)) => std::io::Error::new(e.kind(), cause.to_string()),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_cannot_be_written_fails_at_once() {
        let e = Reserved::new(Path::new("/nonexistent/report.html")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "writing \"/nonexistent/report.html\": No such file or directory (os error 2)"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = Reserved::new(dir.path()).unwrap_err();
        assert!(e.to_string().ends_with(": is a directory"), "{e}");
        let path = dir.path().join("r.html");
        let r = Reserved::new(&path).unwrap();
        assert!(!path.exists(), "nothing at the path before commit");
        r.commit(|w: &mut dyn Write| w.write_all(b"<html>"))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "<html>");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

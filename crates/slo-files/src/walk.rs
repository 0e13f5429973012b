//! Finding and reading spec files as sloth does: a lexical recursive walk
//! (symlinked directories followed), `.yml`/`.yaml` only, exclude before
//! include, paths cleaned like Go's `filepath.Clean`.

use std::io;
use std::path::Path;

use crate::{io_error, Error, Result};

/// Reads a spec file as UTF-8.
pub(crate) fn read_spec(path: &Path) -> Result<String> {
    let action = || format!("reading SLO spec {}", path.display());
    let bytes = std::fs::read(path).map_err(io_error(action()))?;
    String::from_utf8(bytes).map_err(|e| Error::Io {
        action: format!("{}: not UTF-8", action()),
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    })
}

/// Reads every `*.yaml`/`*.yml` under a windows catalog directory.
pub(crate) fn read_windows_dir(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    walk(dir, &mut |p| {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "yaml" || ext == "yml" {
            files.push(p.to_path_buf());
        }
    })
    .map_err(io_error(format!(
        "reading SLO period windows {}",
        dir.display()
    )))?;
    files
        .into_iter()
        .map(|f| Ok((f.display().to_string(), read_spec(&f)?)))
        .collect()
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if e.file_type()?.is_dir() || (e.file_type()?.is_symlink() && p.is_dir()) {
            walk(&p, f)?;
        } else {
            f(&p);
        }
    }
    Ok(())
}

/// Go's `filepath.Clean` for the relative paths discovery produces.
pub(crate) fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if abs => {}
            c => parts.push(c),
        }
    }
    let s = parts.join("/");
    match (abs, s.is_empty()) {
        (true, _) => format!("/{s}"),
        (false, true) => ".".to_string(),
        (false, false) => s,
    }
}

/// Lists spec files under `input` like sloth (lexical walk, `.yml`/`.yaml`, exclude wins).
pub fn discover(
    input: &str,
    exclude: Option<&regex::Regex>,
    include: Option<&regex::Regex>,
) -> Result<Vec<String>> {
    let failed = || io_error(format!("could not discover files: reading {input:?}"));
    let root = Path::new(input);
    let meta = std::fs::metadata(root).map_err(failed())?;
    let mut candidates = Vec::new();
    if meta.is_dir() {
        walk(root, &mut |p| {
            if let Ok(rel) = p.strip_prefix(root) {
                candidates.push(clean(&format!("{input}/{}", rel.display())));
            }
        })
        .map_err(io_error("could not discover files"))?;
    } else {
        candidates.push(input.to_string());
    }
    Ok(candidates
        .into_iter()
        .filter(|p| {
            let ext = Path::new(p)
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            (ext == "yml" || ext == "yaml")
                && !exclude.is_some_and(|r| r.is_match(p))
                && include.is_none_or(|r| r.is_match(p))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_like_go() {
        assert_eq!(clean("a/./b/../c/"), "a/c");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean("./"), ".");
    }

    #[test]
    fn discovery_walks_in_order_and_exclude_wins() {
        let d = tempfile::tempdir().unwrap();
        for f in ["b.yaml", "a/z.yml", "a/skip.yaml", "notes.txt"] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let root = d.path().to_str().unwrap();
        let skip = regex::Regex::new("skip").unwrap();
        let found = discover(root, Some(&skip), None).unwrap();
        assert_eq!(found, [format!("{root}/a/z.yml"), format!("{root}/b.yaml")]);
    }
}

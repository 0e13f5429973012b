//! The thin IO layer of `ward slo`: spec discovery (sloth's recursive walk
//! with include/exclude regexes), reading, and all-or-nothing writing
//! (temp file + rename; in directory mode every output is renamed into
//! place only after every input generated fine). Directory mode generates
//! files on every core.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use ward_slo::model::{GroupResult, RuleGroup};
use ward_slo::output::{write_result, WriteError};
use ward_slo::Generator;

use super::{ignored_fields, io_fail, spec_fail, Failure};

/// Output options of generate.
pub struct GenOptions {
    /// `--disable-alerts`.
    pub disable_alerts: bool,
    /// `--disable-recordings`.
    pub disable_recordings: bool,
    /// Header comment line.
    pub header: String,
}

/// Reads a spec file as UTF-8.
pub fn read_spec(path: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading SLO spec {}", path.display()))?;
    String::from_utf8(bytes)
        .with_context(|| format!("reading SLO spec {}: not UTF-8", path.display()))
}

/// Reads every `*.yaml`/`*.yml` under a windows catalog directory.
pub fn read_windows_dir(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    walk(dir, &mut |p| {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "yaml" || ext == "yml" {
            files.push(p.to_path_buf());
        }
    })
    .with_context(|| format!("reading SLO period windows {}", dir.display()))?;
    let mut out = Vec::new();
    for f in files {
        out.push((f.display().to_string(), read_spec(&f)?));
    }
    Ok(out)
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
fn clean(p: &str) -> String {
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
) -> anyhow::Result<Vec<String>> {
    let root = Path::new(input);
    let meta = std::fs::metadata(root).with_context(|| format!("reading {input:?}"))?;
    let mut candidates = Vec::new();
    if meta.is_dir() {
        walk(root, &mut |p| {
            if let Ok(rel) = p.strip_prefix(root) {
                candidates.push(clean(&format!("{input}/{}", rel.display())));
            }
        })?;
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

fn apply_disables(results: &[GroupResult], opts: &GenOptions) -> Vec<GroupResult> {
    results
        .iter()
        .map(|r| {
            let mut r = r.clone();
            for s in &mut r.slos {
                if opts.disable_alerts {
                    s.rules.alerts = RuleGroup::default();
                }
                if opts.disable_recordings {
                    s.rules.sli = RuleGroup::default();
                    s.rules.meta = RuleGroup::default();
                }
            }
            r
        })
        .collect()
}

/// Writes every document's rules, in order, to `w`.
pub fn write_results<W: Write>(
    results: &[GroupResult],
    opts: &GenOptions,
    file: &str,
    w: W,
) -> Result<(), Failure> {
    let owned;
    let results = if opts.disable_alerts || opts.disable_recordings {
        owned = apply_disables(results, opts);
        &owned
    } else {
        results
    };
    let mut w = w;
    for r in results {
        w = match write_result(r, &opts.header, w) {
            Ok(w) => w,
            Err(WriteError::NoRules) => {
                return Err(spec_fail(format!(
                    "{file}: could not store SLOs: 0 SLO Prometheus rules generated"
                )))
            }
            Err(WriteError::Io(e)) => return Err(io_fail(e.into())),
        };
    }
    Ok(())
}

/// A temp file next to `dest`, renamed over it by [`Pending::commit`]
/// (removed when dropped uncommitted).
pub struct Pending {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl Pending {
    fn commit(&mut self) -> io::Result<()> {
        std::fs::rename(&self.tmp, &self.dest)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn write_pending(
    tmp_dir: Option<&Path>,
    dest: &Path,
    f: impl FnOnce(&mut BufWriter<std::fs::File>) -> Result<(), Failure>,
) -> Result<Pending, Failure> {
    let dir = match (tmp_dir, dest.parent()) {
        (Some(t), _) => t.to_path_buf(),
        (None, Some(p)) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.ward-tmp-{}-{seq}", std::process::id()));
    let file = std::fs::File::create(&tmp)
        .with_context(|| format!("could not create out file {}", tmp.display()))
        .map_err(io_fail)?;
    let pending = Pending {
        tmp,
        dest: dest.to_path_buf(),
        committed: false,
    };
    let mut w = BufWriter::with_capacity(256 * 1024, file);
    f(&mut w)?;
    w.flush()
        .with_context(|| format!("writing {}", dest.display()))
        .map_err(io_fail)?;
    Ok(pending)
}

/// Writes `dest` atomically: nothing is left behind if `f` fails.
pub fn write_atomic(
    dest: &Path,
    f: impl FnOnce(&mut BufWriter<std::fs::File>) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut p = write_pending(None, dest, f)?;
    p.commit()
        .with_context(|| format!("renaming into {}", dest.display()))
        .map_err(io_fail)
}

/// What one input file of directory mode came to.
struct FileOutcome {
    /// Warning lines for the file, printed in input order.
    warnings: Vec<String>,
    /// The written temp file, or why the file failed.
    written: Result<Pending, Failure>,
}

/// Directory mode: one output per input file, generated on every core
/// (each worker streams its current file to a temp file), then renamed into
/// place in input order once every input generated fine. With several bad
/// inputs the first one in input order is reported, as sequential
/// generation would. Keys sloth ignores are warnings, or with `strict` the
/// file's failure.
pub fn generate_dir(
    gen: &Generator,
    opts: &GenOptions,
    input: &str,
    files: &[String],
    out: &Path,
    strict: bool,
) -> Result<(), Failure> {
    let root = clean(input);
    let one = |file: &str| -> FileOutcome {
        let rel = file
            .strip_prefix(&root)
            .map(|r| r.trim_start_matches('/'))
            .unwrap_or(file);
        let dest = out.join(rel);
        let data = match read_spec(Path::new(file)) {
            Ok(d) => d,
            Err(e) => {
                return FileOutcome {
                    warnings: Vec::new(),
                    written: Err(io_fail(e)),
                }
            }
        };
        let mut ignored = Vec::new();
        let generated = gen.generate_file(file, &data, &mut ignored);
        let warnings = match ignored_fields(file, &ignored, strict) {
            Ok(w) => w,
            Err(f) => {
                return FileOutcome {
                    warnings: Vec::new(),
                    written: Err(spec_fail(f)),
                }
            }
        };
        let written = generated
            .map_err(|e| spec_fail(e.to_string()))
            .and_then(|results| {
                write_pending(Some(out), &dest, |w| write_results(&results, opts, file, w))
            });
        FileOutcome { warnings, written }
    };

    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, files.len().max(1));
    let next = AtomicUsize::new(0);
    // Lowest failed index so far: workers stop taking files after it.
    let first_failed = AtomicUsize::new(usize::MAX);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= files.len() || i > first_failed.load(Ordering::Relaxed) {
                return done;
            }
            let outcome = one(&files[i]);
            if outcome.written.is_err() {
                first_failed.fetch_min(i, Ordering::Relaxed);
            }
            done.push((i, outcome));
        }
    };
    let mut outcomes: Vec<(usize, FileOutcome)> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in helpers {
            match h.join() {
                Ok(done) => all.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    outcomes.sort_unstable_by_key(|(i, _)| *i);

    let mut pending = Vec::with_capacity(outcomes.len());
    for (_, o) in outcomes {
        for w in &o.warnings {
            eprintln!("{w}");
        }
        pending.push(o.written?);
    }
    // Directories are created only now, so a failed run leaves nothing
    // behind; consecutive outputs in one directory create it once.
    let mut created: Option<PathBuf> = None;
    for p in &mut pending {
        if let Some(parent) = p.dest.parent() {
            if created.as_deref() != Some(parent) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))
                    .map_err(io_fail)?;
                created = Some(parent.to_path_buf());
            }
        }
        p.commit()
            .with_context(|| format!("renaming into {}", p.dest.display()))
            .map_err(io_fail)?;
    }
    Ok(())
}

//! All-or-nothing output: each output is written to a temp file next to its
//! destination and renamed over it only when everything generated; in
//! directory mode files generate on every core and are renamed in input
//! order once all of them succeeded.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ward_slo::model::GroupResult;
use ward_slo::output::{write_result, WriteError};
use ward_slo::Generator;

use crate::walk::{clean, read_spec};
use crate::{ignored_fields, io_error, Error, GenerateRequest, Result};

/// Writes every document's rules, in order, to `w`.
pub(crate) fn write_results<W: Write>(
    results: &[GroupResult],
    header: &str,
    file: &str,
    mut w: W,
) -> Result<()> {
    for r in results {
        w = write_result(r, header, w).map_err(|e| match e {
            WriteError::NoRules => Error::NoRules {
                file: file.to_string(),
            },
            WriteError::Io(source) => Error::Io {
                action: format!("writing the rules of {file}"),
                source,
            },
        })?;
    }
    Ok(())
}

/// A temp file next to `dest`, renamed over it by [`Pending::commit`]
/// (removed when dropped uncommitted).
struct Pending {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl Pending {
    fn commit(&mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.dest)
            .map_err(io_error(format!("renaming into {}", self.dest.display())))?;
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

/// Writes `dest`'s temp file in `tmp_dir` (default: `dest`'s directory) through `f`.
fn write_pending(
    tmp_dir: Option<&Path>,
    dest: &Path,
    f: impl FnOnce(&mut BufWriter<std::fs::File>) -> Result<()>,
) -> Result<Pending> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let dir = match (tmp_dir, dest.parent()) {
        (Some(t), _) => t.to_path_buf(),
        (None, Some(p)) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.ward-tmp-{}-{seq}", std::process::id()));
    let file = std::fs::File::create(&tmp).map_err(io_error(format!(
        "could not create out file {}",
        tmp.display()
    )))?;
    let pending = Pending {
        tmp,
        dest: dest.to_path_buf(),
        committed: false,
    };
    let mut w = BufWriter::with_capacity(256 * 1024, file);
    f(&mut w)?;
    w.flush()
        .map_err(io_error(format!("writing {}", dest.display())))?;
    Ok(pending)
}

/// Writes `dest` atomically: nothing is left behind if `f` fails.
pub(crate) fn write_atomic(
    dest: &Path,
    f: impl FnOnce(&mut BufWriter<std::fs::File>) -> Result<()>,
) -> Result<()> {
    write_pending(None, dest, f)?.commit()
}

/// What one input file of directory mode came to.
struct FileOutcome {
    /// Warning lines for the file, handed on in input order.
    warnings: Vec<String>,
    /// The written temp file, or why the file failed.
    written: Result<Pending>,
}

fn generate_one(gen: &Generator, request: &GenerateRequest, root: &str, file: &str) -> FileOutcome {
    let failed = |e| FileOutcome {
        warnings: Vec::new(),
        written: Err(e),
    };
    let out = Path::new(&request.out);
    let rel = file
        .strip_prefix(root)
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(file);
    let data = match read_spec(Path::new(file)) {
        Ok(d) => d,
        Err(e) => return failed(e),
    };
    let mut ignored = Vec::new();
    let generated = gen.generate_file(file, &data, &mut ignored);
    let warnings = match ignored_fields(file, &ignored, request.strict) {
        Ok(w) => w,
        Err(e) => return failed(e),
    };
    let written = generated.map_err(Error::from).and_then(|results| {
        write_pending(Some(out), &out.join(rel), |w| {
            write_results(&results, &request.header, file, w)
        })
    });
    FileOutcome { warnings, written }
}

/// Directory mode: one output per input file, generated on every core
/// (each worker streams its current file to a temp file), then renamed into
/// place in input order once every input generated fine. With several bad
/// inputs the first one in input order is reported, as sequential
/// generation would. Keys sloth ignores are warnings, or with `strict` the
/// file's failure.
pub(crate) fn generate_dir(
    gen: &Generator,
    request: &GenerateRequest,
    files: &[String],
    on_warning: &mut dyn FnMut(String),
) -> Result<()> {
    let root = clean(&request.input);
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
            let outcome = generate_one(gen, request, &root, &files[i]);
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
        o.warnings.into_iter().for_each(&mut *on_warning);
        pending.push(o.written?);
    }
    // Directories are created only now, so a failed run leaves nothing
    // behind; consecutive outputs in one directory create it once.
    let mut created: Option<PathBuf> = None;
    for p in &mut pending {
        if let Some(parent) = p.dest.parent() {
            if created.as_deref() != Some(parent) {
                std::fs::create_dir_all(parent)
                    .map_err(io_error(format!("creating {}", parent.display())))?;
                created = Some(parent.to_path_buf());
            }
        }
        p.commit()?;
    }
    Ok(())
}

//! Every output path checked before anything runs, so that a bad path costs no load and loses
//! no report: the JSON reports (`--out`, or `reports/<name>.json`), `--junit`, `--markdown`,
//! `--html` (an output added later joins [`exports`]).
//!
//! For each path: no two outputs may be one file (two scenarios of one `name` would overwrite
//! each other's report); it must not be a directory (a device such as
//! `/dev/null` is accepted as it is); its directory is created; and a
//! probe file with a name as long as the final one is created there and removed again (the final
//! file is never touched), which finds a read-only or full file system, a parent that is a file,
//! and a name too long for the file system. A failure is exit 2, naming the path and the reason, and
//! the `--junit` / `--markdown` outputs that can be written say so.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::exit::Exit;
use crate::export::Failure;
use crate::options::{Exports, MergeRequest, Out, RunRequest};
use crate::scenario::Scenario;

/// One file a command will write.
#[derive(Clone, Debug)]
pub(crate) struct Output {
    /// The option that names it (`--out`, `--junit`, ...).
    flag: &'static str,
    /// The scenario whose report it is.
    source: Option<PathBuf>,
    path: PathBuf,
}

impl Output {
    fn describe(&self) -> String {
        match &self.source {
            Some(s) => format!(
                "{} {} (report of {})",
                self.flag,
                self.path.display(),
                s.display()
            ),
            None => format!("{} {}", self.flag, self.path.display()),
        }
    }
}

/// `--junit` and `--markdown`, when asked for.
pub(crate) fn exports(e: &Exports) -> Vec<Output> {
    [
        ("--junit", &e.junit),
        ("--markdown", &e.markdown),
        ("--html", &e.html),
    ]
    .into_iter()
    .filter_map(|(flag, path)| {
        path.as_ref().map(|p| Output {
            flag,
            source: None,
            path: p.clone(),
        })
    })
    .collect()
}

/// `stress run`: each scenario's report, and the exports.
pub(crate) fn for_run(scenarios: &[Scenario], req: &RunRequest) -> Vec<Output> {
    let flag = if req.out == Out::Default {
        "report"
    } else {
        "--out"
    };
    let mut out: Vec<Output> = scenarios
        .iter()
        .map(|s| Output {
            flag,
            source: Some(s.file.clone()),
            path: req.out.path_for(&s.name),
        })
        .collect();
    out.extend(exports(&req.exports));
    out
}

/// `stress merge`: the merged report, and the exports.
pub(crate) fn for_merge(req: &MergeRequest) -> Vec<Output> {
    let mut out = vec![Output {
        flag: "--out",
        source: None,
        path: req.out.clone(),
    }];
    out.extend(exports(&req.exports));
    out
}

/// Checks `outputs` (see the module's doc). On a failure, prints it, writes it into the exports
/// that passed, and returns the exit code.
pub(crate) fn preflight(outputs: &[Output], exports: &Exports) -> Result<(), Exit> {
    // Each failure, and the path it makes unusable (none for two outputs of one file).
    let mut failed: Vec<(Option<&Path>, String)> = Vec::new();
    if let Err(m) = distinct(outputs) {
        failed.push((None, m));
    }
    for o in outputs {
        if let Err(reason) = writable(&o.path) {
            failed.push((Some(&o.path), format!("{}: {reason}", o.describe())));
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    let broken = |p: &Option<PathBuf>| {
        p.as_ref()
            .filter(|p| !failed.iter().any(|(bad, _)| *bad == Some(p.as_path())))
            .cloned()
    };
    let usable = Exports {
        junit: broken(&exports.junit),
        markdown: broken(&exports.markdown),
        html: broken(&exports.html),
    };
    let reasons: Vec<String> = failed.into_iter().map(|(_, m)| m).collect();
    for r in &reasons {
        crate::console::errln!("error: {r}");
    }
    let failure = Failure::new("output paths", reasons.join("\n"));
    Err(super::write_failed(&usable, failure, Exit::BadInput))
}

/// No two outputs are one file.
fn distinct(outputs: &[Output]) -> Result<(), String> {
    let mut seen: BTreeMap<PathBuf, &Output> = BTreeMap::new();
    for o in outputs {
        let key = std::path::absolute(&o.path).unwrap_or_else(|_| o.path.clone());
        let Some(first) = seen.insert(key, o) else {
            continue;
        };
        return Err(match (&first.source, &o.source) {
            (Some(a), Some(b)) => format!(
                "{} and {} both write their report to {}: their scenarios have one name; give \
                 them different `name`s, or run them apart",
                a.display(),
                b.display(),
                o.path.display()
            ),
            _ => format!(
                "{} and {} are the same file: one would overwrite the other",
                first.describe(),
                o.describe()
            ),
        });
    }
    Ok(())
}

/// The path can be written: not a directory, its directory created, and a file of a name as
/// long as its own can be created there.
fn writable(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err("is a directory".into()),
        // A device or a pipe (`--out /dev/null`) is written into, not replaced: it is there.
        Ok(m) if !m.is_file() => return Ok(()),
        _ => {}
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create its directory {}: {e}", dir.display()))?;
    let len = path.file_name().map_or(0, |n| n.len());
    for attempt in 0..8u32 {
        let probe = dir.join(probe_name(len, attempt));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
        {
            Ok(_) => {
                return std::fs::remove_file(&probe)
                    .map_err(|e| format!("cannot remove the probe file {}: {e}", probe.display()));
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create a file in {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "cannot find a free probe name in {}",
        dir.display()
    ))
}

/// `.stress-probe-<pid>-<attempt>`, padded to `len` bytes so that a name too long for the file
/// system fails here and not after the load.
fn probe_name(len: usize, attempt: u32) -> String {
    let mut name = format!(".stress-probe-{}-{attempt}", std::process::id());
    while name.len() < len {
        name.push('x');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(path: PathBuf, source: Option<&str>) -> Output {
        Output {
            flag: "--out",
            source: source.map(PathBuf::from),
            path,
        }
    }

    #[test]
    fn bad_paths_are_named_with_their_reason_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let e = writable(&file.join("r.json")).unwrap_err();
        assert!(e.starts_with("cannot create its directory"), "{e}");
        let e = writable(&dir.path().join(format!("{}.json", "n".repeat(300)))).unwrap_err();
        assert!(e.contains("File name too long"), "{e}");
        assert_eq!(writable(dir.path()).unwrap_err(), "is a directory");
        writable(Path::new("/dev/null")).unwrap();
        let deep = dir.path().join("a/b/r.json");
        writable(&deep).unwrap();
        assert!(!deep.exists(), "the final file is not created");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("a/b")).unwrap().collect();
        assert!(left.is_empty(), "the probe is removed: {left:?}");
    }

    #[test]
    fn two_outputs_of_one_path_are_refused_naming_both() {
        let p = PathBuf::from("out/s.json");
        let e = distinct(&[
            output(p.clone(), Some("a.toml")),
            output(p.clone(), Some("b.toml")),
        ])
        .unwrap_err();
        assert!(
            e.starts_with("a.toml and b.toml both write their report to out/s.json"),
            "{e}"
        );
        let mut junit = output(p.clone(), None);
        junit.flag = "--junit";
        let e = distinct(&[output(p, Some("a.toml")), junit]).unwrap_err();
        assert!(
            e.contains("(report of a.toml) and --junit out/s.json"),
            "{e}"
        );
    }
}

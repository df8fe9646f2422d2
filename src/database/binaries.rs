//! Finding the PostgreSQL server binaries (`initdb`, `postgres`) and the user to run them as.

use std::path::{Path, PathBuf};
use std::process::Command;

use nix::unistd::{Gid, Uid, User};

use super::InfraError;

/// A directory holding `initdb` and `postgres`, with the server's version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binaries {
    pub dir: PathBuf,
    /// As printed by `postgres --version`, e.g. `15.18`.
    pub(crate) version: String,
}

impl Binaries {
    pub(crate) fn initdb(&self) -> PathBuf {
        self.dir.join("initdb")
    }

    pub(crate) fn postgres(&self) -> PathBuf {
        self.dir.join("postgres")
    }
}

const INSTALL_HINT: &str = "install them (Debian/Ubuntu: `apt-get install -y postgresql`; \
Fedora: `dnf install postgresql-server`; macOS: `brew install postgresql@15`), point PG_BIN at \
the directory that holds them, or pass --database-url to use an existing server";

/// Looks in `PG_BIN`, then on `PATH`, then under `/usr/lib/postgresql/*/bin` (newest first).
pub fn find() -> Result<Binaries, InfraError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("PG_BIN") {
        let dir = PathBuf::from(dir);
        if !has_server(&dir) {
            return Err(InfraError::new(format!(
                "PG_BIN={} does not contain initdb and postgres; {INSTALL_HINT}",
                dir.display()
            )));
        }
        candidates.push(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates.extend(debian_dirs());
    let dir = candidates
        .into_iter()
        .find(|d| has_server(d))
        .ok_or_else(|| {
            InfraError::new(format!(
                "no PostgreSQL server binaries (initdb, postgres) found in PG_BIN, on PATH or \
                 under /usr/lib/postgresql/*/bin; {INSTALL_HINT}"
            ))
        })?;
    let version = version_of(&dir.join("postgres"))?;
    Ok(Binaries { dir, version })
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

fn debian_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let key: Vec<u32> = name
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            Some((key, e.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

fn version_of(postgres: &Path) -> Result<String, InfraError> {
    let out = Command::new(postgres)
        .arg("--version")
        .output()
        .map_err(|e| {
            InfraError::new(format!("cannot run {} --version: {e}", postgres.display()))
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    text.split_whitespace()
        .nth(2)
        .map(str::to_string)
        .ok_or_else(|| InfraError::new(format!("unexpected `postgres --version` output: {text}")))
}

/// The unprivileged user the server runs as when we are root (PostgreSQL refuses root).
#[derive(Clone, Debug)]
pub(crate) struct RunAs {
    pub(crate) name: String,
    pub(crate) uid: Uid,
    pub(crate) gid: Gid,
}

/// `None` when not running as root; otherwise the `postgres` user, or `nobody`.
pub(crate) fn run_as() -> Result<Option<RunAs>, InfraError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Ok(Some(user)) = User::from_name(name) {
            return Ok(Some(RunAs {
                name: user.name,
                uid: user.uid,
                gid: user.gid,
            }));
        }
    }
    Err(InfraError::new(
        "running as root, and PostgreSQL refuses to run as root: create an unprivileged user \
         named `postgres` (useradd --system postgres) or run stress as another user",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_server_with_its_version() {
        // The machines this runs on have PostgreSQL installed (CI installs it).
        let b = find().expect("server binaries");
        assert!(b.initdb().is_file());
        assert!(
            b.version.chars().next().unwrap().is_ascii_digit(),
            "{}",
            b.version
        );
    }
}

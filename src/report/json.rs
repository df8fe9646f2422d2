//! Reading a JSON report back (`--baseline`, `compare`, `merge`, `report`); writing it is the
//! JSON exporter's (`export::json`, a layer above).

use std::path::Path;

use super::model::{Report, SCHEMA_VERSION};

/// Why a report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a stress report: {source}", path.display())]
    Parse {
        path: std::path::PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{}: a report of schema_version {found}, written by a newer stress; this one reads up to \
         {SCHEMA_VERSION}",
        path.display()
    )]
    Newer {
        path: std::path::PathBuf,
        found: u64,
    },
    #[error("{0}")]
    Inconsistent(#[from] super::strict::Inconsistent),
}

/// Reads a report and checks that it agrees with itself ([`super::strict`]): what `merge`,
/// `compare` and `--baseline` use.
pub(crate) fn read_strict(path: &Path) -> Result<Report, ReadError> {
    let report = read(path)?;
    super::strict::check(path, &report)?;
    Ok(report)
}

/// Reads a report.
pub fn read(path: &Path) -> Result<Report, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // The version first: a newer report may have fields this version would call unknown.
    #[derive(serde::Deserialize)]
    struct Version {
        schema_version: Option<u64>,
    }
    if let Ok(Version {
        schema_version: Some(found),
    }) = serde_json::from_str(&text)
        && found > u64::from(SCHEMA_VERSION)
    {
        return Err(ReadError::Newer {
            path: path.to_path_buf(),
            found,
        });
    }
    serde_json::from_str(&text).map_err(|source| ReadError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_of_a_newer_schema_is_refused_by_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, r#"{"schema_version": 99, "field_of_the_future": 1}"#).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(
            e.contains("schema_version 99, written by a newer stress"),
            "{e}"
        );
        std::fs::write(&path, r#"{"schema_version": 1}"#).unwrap();
        assert!(
            read(&path)
                .unwrap_err()
                .to_string()
                .contains("not a stress report")
        );
    }
}

//! Whether PgBouncer is installed where `stress` looks for it (`PGBOUNCER_BIN`, `PATH`,
//! `/usr/sbin/pgbouncer`); a test that needs it and finds none records a visible skip.

use std::path::PathBuf;

/// PgBouncer as `stress` finds it; otherwise records a skip of `test` and returns false.
pub fn available(test: &str) -> bool {
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("pgbouncer"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let found = std::env::var_os("PGBOUNCER_BIN")
        .map(PathBuf::from)
        .into_iter()
        .chain(on_path)
        .chain([PathBuf::from("/usr/sbin/pgbouncer")])
        .any(|p| p.is_file());
    if !found {
        super::skip::skip(
            test,
            "pgbouncer",
            "no pgbouncer binary (PGBOUNCER_BIN, PATH, /usr/sbin/pgbouncer)",
        );
    }
    found
}

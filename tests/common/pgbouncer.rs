//! Whether PgBouncer is installed where `stress` looks for it (`PGBOUNCER_BIN`, `PATH`,
//! `/usr/sbin/pgbouncer`); a test that needs it and finds none records a visible skip.

use std::path::PathBuf;

/// PgBouncer's binary as `stress` finds it: `PGBOUNCER_BIN` when set (and then only it), else
/// `pgbouncer` on `PATH`, else `/usr/sbin/pgbouncer`.
pub fn binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("PGBOUNCER_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        return bin.is_file().then_some(bin);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("pgbouncer"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/pgbouncer")])
        .find(|p| p.is_file())
}

/// PgBouncer as `stress` finds it; otherwise records a skip of `test` and returns false.
pub fn available(test: &str) -> bool {
    let found = binary().is_some();
    if !found {
        super::skip::skip(
            test,
            "pgbouncer",
            "no pgbouncer binary (PGBOUNCER_BIN, PATH, /usr/sbin/pgbouncer)",
        );
    }
    found
}

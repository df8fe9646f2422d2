//! The pool models against the real libraries: runs the Python fidelity suite
//! (`tests/fidelity/run.sh`, which installs the pinned asyncpg, SQLAlchemy and psycopg_pool into
//! `target/fidelity-venv`) on this binary's embedded server, with this build's `stress`. The
//! table it prints is also written to `target/fidelity/table.txt` (`.ci/run` shows it). The
//! timing figures are medians of three rounds, each the real library then the model at the
//! hold per checkout just measured on the real library (the model reproduces the pool, not
//! CPython's speed), and every row is strict: a figure off by more than 25% fails this test
//! (docs/pool-models.md, "What is calibrated, and why"). Without
//! PyPI or `python3 -m venv` the test records a visible skip (requirement `pypi`).

mod common;

use std::process::Command;

#[test]
fn pool_models_match_the_real_libraries() {
    let url = common::database("fidelity");
    let _one = common::load_lock();
    let out = Command::new("tests/fidelity/run.sh")
        .arg(&url)
        .arg(env!("CARGO_BIN_EXE_stress"))
        .output()
        .expect("tests/fidelity/run.sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    match out.status.code() {
        Some(0) => {}
        Some(77) => common::skip::skip(
            "fidelity::pool_models_match_the_real_libraries",
            "pypi",
            stderr.trim(),
        ),
        _ => panic!("the fidelity suite failed:\n{stdout}\n{stderr}"),
    }
}

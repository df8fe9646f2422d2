//! Issue 16: a pool model's keys are its library's; another model's key, a wrong type or a size
//! the library refuses is named at its line, with the key as written (`pool.max_size`, not the
//! model's table the loader moves it to).

use super::{VALID, assert_bad, file_at, stress, write};

#[test]
fn a_bb8_key_under_sqlalchemy_is_refused_at_its_line() {
    let text = VALID.replace("max_size = 5", "model = \"sqlalchemy\"\nmax_size = 5");
    assert_bad(
        "sa_max_size",
        &text,
        &[],
        &file_at("sa_max_size", "7:1"),
        "pool.max_size",
    );
}

#[test]
fn a_library_key_without_its_model_is_refused_at_its_line() {
    let text = VALID.replace("max_size = 5", "pool_size = 5");
    assert_bad(
        "bb8_pool_size",
        &text,
        &[],
        &file_at("bb8_pool_size", "6:1"),
        "pool.pool_size",
    );
}

#[test]
fn a_wrong_type_under_a_model_names_the_key_as_written() {
    let text = VALID.replace("max_size = 5", "model = \"psycopg\"\nmax_size = \"two\"");
    assert_bad(
        "pg_type",
        &text,
        &[],
        &file_at("pg_type", "7:12"),
        "pool.max_size",
    );
}

#[test]
fn a_size_the_library_refuses_is_named_at_its_value() {
    let text = VALID.replace(
        "max_size = 5",
        "model = \"psycopg\"\nmin_size = 4\nmax_size = 2",
    );
    assert_bad(
        "pg_sizes",
        &text,
        &[],
        &file_at("pg_sizes", "8:12"),
        "pool.max_size",
    );
}

/// `check --print` shows a model's effective settings in its library's keys, flat in `[pool]`
/// as a scenario writes them (defaults filled in, bb8's keys left out), and what it prints
/// checks again.
#[test]
fn check_print_shows_the_models_own_keys() {
    let text = VALID.replace(
        "max_size = 5",
        "model = \"sqlalchemy\"\npool_size = 7\npool_pre_ping = true",
    );
    let (_dir, path) = write("sa_print", &text);
    let out = stress()
        .args(["check", "--print"])
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let printed = String::from_utf8(out).unwrap();
    let pool: Vec<&str> = printed
        .lines()
        .skip_while(|l| *l != "[pool]")
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.is_empty())
        .collect();
    for line in [
        "model = \"sqlalchemy\"",
        "pool_size = 7",
        "max_overflow = 10",
        "pool_timeout = \"30s\"",
        "pool_pre_ping = true",
        "pool_use_lifo = false",
        "reset_on_return = \"rollback\"",
    ] {
        assert!(
            pool.contains(&line),
            "{line} not in [pool]: {pool:?}\n{printed}"
        );
    }
    for bb8 in [
        "max_size",
        "min_idle",
        "connection_timeout",
        "test_on_check_out",
    ] {
        assert!(
            !pool.iter().any(|l| l.starts_with(bb8)),
            "bb8's {bb8} printed for sqlalchemy: {pool:?}"
        );
    }
    assert!(!printed.contains("[pool.sqlalchemy]"), "{printed}");
    let (_again, reprinted) = write("sa_reprint", &printed);
    stress().arg("check").arg(&reprinted).assert().success();
}

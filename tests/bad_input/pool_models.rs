//! Issue 16: a pool model's keys are its library's; another model's key, a wrong type or a size
//! the library refuses is named at its line, with the key as written (`pool.max_size`, not the
//! model's table the loader moves it to).

use super::{VALID, assert_bad, file_at};

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

//! Issue 9, items 5 and 14: no password in any error (snippets, headers, echoed arguments), a
//! malformed database URL is exit 2 before anything runs and says which part is wrong, errors
//! point at the value's line and column (in characters, in the message and the snippet alike),
//! and names are capped.

use super::{VALID, assert_bad, file_at, stress, write};
const PASSWORD: &str = "S3cr3tPw";

/// `stress check` and `stress run` (with no database in the environment) of `text` with
/// `sets`: both exit 2, and the password is nowhere in their output. Returns stderr of `check`.
fn assert_bad_without_password(name: &str, text: &str, sets: &[&str]) -> String {
    let (_dir, path) = write(name, text);
    let mut check_stderr = String::new();
    for command in ["check", "run"] {
        let mut cmd = stress();
        cmd.arg(command).arg(&path);
        for s in sets {
            cmd.args(["--set", s]);
        }
        for var in ["DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"] {
            cmd.env_remove(var);
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name} ({command}): {stderr}");
        assert!(
            !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
            "{name} ({command}) shows the password:\n{stdout}\n{stderr}"
        );
        if command == "check" {
            check_stderr = stderr.into_owned();
        }
    }
    check_stderr
}

fn with_url(url: &str) -> String {
    VALID.replace("[load]", &format!("[database]\nurl = \"{url}\"\n[load]"))
}

#[test]
fn a_password_beside_a_bad_key_is_masked_in_the_snippet() {
    let text = with_url(&format!(
        "postgres://postgres:{PASSWORD}@localhost:5432/postgres"
    ))
    .replace("[load]", "bogus = 1\n[load]");
    let stderr = assert_bad_without_password("beside", &text, &[]);
    assert!(
        stderr.contains("beside.toml:4:1: key `database.bogus`"),
        "{stderr}"
    );
    // The neighbouring line is still shown, its password masked (not its length).
    assert!(
        stderr.contains("url = \"postgres://postgres:***@localhost:5432/postgres\""),
        "{stderr}"
    );
}

#[test]
fn a_bad_url_is_shown_without_its_password() {
    let text = with_url(&format!(
        "postgres://postgres:{PASSWORD}@localhost:99999/postgres"
    ));
    let stderr = assert_bad_without_password("bad_url", &text, &[]);
    assert!(
        stderr.contains(
            "bad_url.toml:3:7: key `database.url`: not a valid connection string: the port"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("bad_url.toml:3:7]"), "{stderr}");
}

#[test]
fn a_bad_set_database_url_is_shown_without_its_password() {
    for set in [
        format!("database.url=\"postgres://postgres:{PASSWORD}@localhost:99999/x\""),
        format!("database.url=host=h port=99999 password={PASSWORD}"),
        format!("database.urlx=\"postgres://postgres:{PASSWORD}@localhost/x\""),
        format!("postgres://postgres:{PASSWORD}@localhost/x"),
    ] {
        let stderr = assert_bad_without_password("bad_set", VALID, &[&set]);
        assert!(stderr.contains("--set"), "{stderr}");
    }
}

#[test]
fn an_unexpected_argument_is_echoed_without_its_password() {
    let out = stress()
        .args(["compare", "a.json", "b.json"])
        .arg(format!("postgres://app:{PASSWORD}@h/db"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("postgres://app:***@h/db"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn a_malformed_database_url_is_exit_2_naming_the_part_before_anything_runs() {
    let (dir, path) = write("malformed", VALID);
    let tmp = tempfile::tempdir().unwrap();
    /// Arguments, environment, and what stderr must say.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (
            &[
                "--database-url",
                "postgres://app:S3cr3tPw@127.0.0.1:notaport/db",
            ],
            &[],
            "--database-url: invalid database URL: the port must be a number",
        ),
        (
            &["--database-url", "mysql://app:S3cr3tPw@127.0.0.1/db"],
            &[],
            "--database-url: invalid database URL: the scheme must be postgres://",
        ),
        (
            &[],
            &[("DATABASE_URL", "postgres://app:S3cr3tPw@127.0.0.1:99999/db")],
            "DATABASE_URL: invalid database URL: the port",
        ),
        (
            &[],
            &[("PGPORT", "abc")],
            "PGPORT `abc`: the port must be a number",
        ),
    ];
    for (args, env, expected) in cases {
        let mut cmd = stress();
        cmd.arg("run")
            .arg(&path)
            .args(args)
            .env("TMPDIR", tmp.path());
        for var in ["DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?} {env:?}: {stderr}");
        assert!(!stderr.contains(PASSWORD), "{stderr}");
        // No embedded server was started, no load ran, no report written.
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(!dir.path().join("reports").exists());
    }
}

#[test]
fn a_duration_over_ten_years_is_reported_at_its_value() {
    let text = VALID.replace("duration = \"1s\"", "duration = \"11y\"");
    assert_bad(
        "ten_years",
        &text,
        &[],
        &file_at("ten_years", "4:12"),
        "load.duration",
    );
}

#[test]
fn a_non_ascii_line_has_one_column_in_message_and_snippet() {
    let text = VALID.replace(
        "[[workload.step]]\nsql = \"SELECT $1\"\nparams = [\"random_int(1, 5)\"]\n",
        "step = [{ sql = \"SELECT 'é日本'\", bogus = 1 }]\n",
    );
    let (_dir, path) = write("non_ascii", &text);
    let out = stress().arg("check").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // `step = [{ sql = "SELECT 'é日本'", ` is 32 characters (37 bytes): `bogus` is at 33,
    // in the message and in the snippet's header alike.
    assert!(
        stderr.contains("non_ascii.toml:9:33: key `workload[0].step[0].bogus`"),
        "{stderr}"
    );
    assert!(stderr.contains("non_ascii.toml:9:33]"), "{stderr}");
}

#[test]
fn names_are_capped_and_a_scenario_name_must_name_a_file() {
    let long = "n".repeat(300);
    let text = VALID.replace("name = \"bad\"", &format!("name = \"{long}\""));
    assert_bad(
        "long_name",
        &text,
        &[],
        &file_at("long_name", "1:8"),
        "name",
    );
    let text = VALID.replace("name = \"bad\"", "name = \"a/b\"");
    assert_bad("slash", &text, &[], &file_at("slash", "1:8"), "name");
    let text = format!("{VALID}[[variant]]\nname = \"{long}\"\n");
    assert_bad(
        "long_variant",
        &text,
        &[],
        &file_at("long_variant", "13:8"),
        "variant[0].name",
    );
    let text = VALID.replace("name = \"bad\"", &format!("name = \"{}\"", "n".repeat(200)));
    let (_dir, path) = write("longest", &text);
    stress().arg("check").arg(&path).assert().success();
}

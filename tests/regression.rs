//! One test per bug found after it shipped (ripgrep's `tests/regression.rs`): each names the
//! bug, so that it stays fixed.

mod common;
#[path = "regression/measurement.rs"]
mod measurement;
#[path = "regression/review.rs"]
mod review;

use std::path::PathBuf;

use assert_cmd::Command;

const BASE: &str = r#"name = "regression"
[load]
tasks = 2
duration = "1s"
[[workload]]
name = "w"
[[workload.step]]
sql = "SELECT 1"
"#;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn stress() -> Command {
    Command::cargo_bin("stress").unwrap()
}

/// The password of `[database] url` was copied verbatim into `variants[].settings` of the
/// report and into `stress check --print`.
#[test]
fn the_database_password_is_in_no_report_and_no_printout() {
    // The embedded server's own per-run password (it admits no connection without one).
    let url = common::database("regression_password");
    let s3cret = common::password_of(&url);
    let text = BASE.replacen("[load]", &format!("[database]\nurl = \"{url}\"\n[load]"), 1);
    let report = common::run_text("regression_password", &text, &["load.duration=200ms"]);
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(&s3cret), "the report holds the password");
    assert!(
        json.contains("postgres:***@"),
        "the URL is still shown, redacted"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "p.toml", &text);
    let out = stress()
        .arg("check")
        .arg("--print")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(&s3cret), "{stdout}");
    assert!(stdout.contains("postgres:***@"), "{stdout}");
}

/// A duration too long for a clock reading (`Instant + warmup + duration`, bb8's
/// `Instant::now() + reaper_rate`) panicked mid-run instead of being a scenario error.
#[test]
fn durations_too_long_for_a_clock_are_scenario_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "duration = \"1s\"",
            "duration = \"100years\"",
            "load.duration",
        ),
        (
            "[load]",
            "[pool]\nreaper_rate = \"100years\"\n[load]",
            "pool.reaper_rate",
        ),
        (
            "[load]",
            "[pool]\nidle_timeout = \"100years\"\n[load]",
            "pool.idle_timeout",
        ),
        (
            "duration = \"1s\"",
            "stages = [{ duration = \"6years\", target = 1 }, { duration = \"6years\", target = 2 }]",
            "load.stages",
        ),
    ];
    for (from, to, key) in cases {
        let path = write(&dir, "long.toml", &BASE.replacen(from, to, 1));
        let out = stress()
            .arg("run")
            .arg(&path)
            .args(["--database-url", "postgres://nobody@127.0.0.1:1/none"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains(&format!("key `{key}`")), "{key}: {stderr}");
        assert!(stderr.contains("10 years"), "{key}: {stderr}");
    }
}

/// `stress merge a.json a.json` doubled every count instead of refusing.
#[test]
fn merging_a_report_with_itself_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_text("regression_merge", BASE, &["load.duration=200ms"]);
    let path = dir.path().join("a.json");
    stress::export::json::write(&report, &path).unwrap();
    let out = stress()
        .arg("merge")
        .arg(&path)
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("m.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("twice"), "{stderr}");
    assert!(!dir.path().join("m.json").exists());
}

/// A sweep's cartesian product was unbounded: a typo could plan a million variants.
#[test]
fn an_oversized_sweep_is_refused_at_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<String> = (1..=1001).map(|i| i.to_string()).collect();
    let text = format!("{BASE}[sweep]\nload.tasks = [{}]\n", values.join(", "));
    let path = write(&dir, "sweep.toml", &text);
    let out = stress().arg("check").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("key `sweep`"), "{stderr}");
    assert!(stderr.contains("more than the 1000 variants"), "{stderr}");
}

/// `stress check --print ... | head` panicked in `println!` once the reader had gone (Rust
/// ignores SIGPIPE, so the write fails instead). Now it ends quietly, as Unix tools do.
#[test]
fn a_closed_stdout_pipe_is_no_panic() {
    let files = vec!["scenarios/pool-sizing.toml"; 200];
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("stress"))
        .arg("check")
        .arg("--print")
        .args(&files)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read a little, then hang up: far more than a pipe's buffer is still to come.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}

// ---- issue 9, items 6–11 and 14 (reports): merge/compare strictness, output paths, JUnit and
// Markdown of a run that did not run, same-name reports, file modes.

/// A URL where nothing listens: a command that reached the load would exit 3, not 2.
const NOWHERE: &str = "postgres://postgres@127.0.0.1:1/nowhere";

/// A real report of `BASE`, written as `a.json` and, under another run id, `b.json`.
fn two_reports(db: &str, dir: &tempfile::TempDir) -> (stress::report::Report, PathBuf, PathBuf) {
    let report = common::run_text(db, BASE, &["load.duration=200ms"]);
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    stress::export::json::write(&report, &a).unwrap();
    let mut other = report.clone();
    other.run_id.push_str("-b");
    stress::export::json::write(&other, &b).unwrap();
    (report, a, b)
}

fn merge_and_compare(a: &PathBuf, b: &PathBuf) -> [(Option<i32>, String); 2] {
    let dir = a.parent().unwrap();
    let merge = stress()
        .args(["merge", "--out"])
        .arg(dir.join("m.json"))
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    let compare = stress().arg("compare").arg(a).arg(b).output().unwrap();
    [merge, compare].map(|o| {
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    })
}

/// Item 6: `stress merge` of two reports whose histograms hold 2^62+1 counts panicked on
/// re-encoding (exit 101). Now refused (exit 2), by the strict reader, before any merging.
#[test]
fn merged_histogram_counts_beyond_any_run_are_refused_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (mut report, a, b) = two_reports("regression_hist_overflow", &dir);
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    h.record_n(1000, (1u64 << 62) + 1).unwrap();
    let mut bytes = Vec::new();
    hdrhistogram::serialization::Serializer::serialize(
        &mut hdrhistogram::serialization::V2DeflateSerializer::new(),
        &h,
        &mut bytes,
    )
    .unwrap();
    use base64::Engine;
    report.variants[0].latency_ms.acquire.hdr =
        base64::engine::general_purpose::STANDARD.encode(bytes);
    stress::export::json::write(&report, &a).unwrap();
    report.run_id.push_str("-b");
    stress::export::json::write(&report, &b).unwrap();
    for (code, stderr) in merge_and_compare(&a, &b) {
        assert_eq!(code, Some(2), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.contains("latency_ms.acquire.hdr holds"), "{stderr}");
    }
}

/// Item 7 (and 14's name cap): `merge` and `compare` accepted reports that disagree with
/// themselves: an empty histogram behind `ok = 80`, `ok > total`, `measured_s = 0`, duplicate
/// or overlong variant names. Each is refused, exit 2, naming the file and the variant.
#[test]
fn merge_and_compare_refuse_reports_that_disagree_with_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let (report, a, b) = two_reports("regression_strict", &dir);
    assert_eq!(
        merge_and_compare(&a, &b)[1].0,
        Some(0),
        "a real report is read"
    );
    type Edit = fn(&mut stress::report::Report);
    let cases: [(Edit, &str); 6] = [
        (
            |r| r.variants[0].latency_ms.operation.hdr.clear(),
            "latency_ms.operation.hdr is empty",
        ),
        (
            |r| r.variants[0].operations.ok += 1,
            "is not operations.total",
        ),
        (|r| r.variants[0].measured_s = 0.0, "measured_s = 0 for"),
        (|r| r.variants.push(r.variants[0].clone()), "appears twice"),
        (|r| r.variants[0].timeline.clear(), ""),
        (
            |r| r.variants[0].name = "v".repeat(201),
            "a variant name of 201 characters",
        ),
    ];
    for (edit, needle) in cases {
        let mut bad = report.clone();
        bad.run_id.push_str("-b");
        edit(&mut bad);
        stress::export::json::write(&bad, &b).unwrap();
        if needle.is_empty() {
            // No timeline is no promise broken: still read.
            assert_eq!(merge_and_compare(&a, &b)[1].0, Some(0));
            continue;
        }
        for (code, stderr) in merge_and_compare(&a, &b) {
            assert_eq!(code, Some(2), "{needle}: {stderr}");
            assert!(stderr.contains(&format!("{}: ", b.display())), "{stderr}");
            assert!(stderr.contains(needle), "{needle}: {stderr}");
        }
    }
}

/// Item 8: a bad output path (a parent that is a file, a path under /proc or /sys, a name too
/// long for the file system) was found after the whole load (exit 3, report gone). Now it is
/// exit 2 before any connection, naming the path and the reason.
#[test]
fn bad_output_paths_are_refused_before_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "s.toml", BASE);
    write(&dir, "not-a-dir", "");
    let long_name = BASE.replacen("regression", &"é".repeat(130), 1);
    let long = write(&dir, "long.toml", &long_name);
    let cases = [
        (
            vec!["--out".into(), dir.path().join("not-a-dir/r.json")],
            &file,
            "cannot create its directory",
        ),
        (
            vec!["--out".into(), PathBuf::from("/proc/stress-r.json")],
            &file,
            "cannot create a file in /proc",
        ),
        (
            vec!["--out".into(), PathBuf::from("/sys/stress-r.json")],
            &file,
            "cannot create a file in /sys",
        ),
        (
            vec!["--junit".into(), dir.path().join("not-a-dir/j.xml")],
            &file,
            "--junit",
        ),
        // Refused by the scenario check already (the name must fit a file name).
        (vec![], &long, "names the report file"),
    ];
    for (args, scenario, needle) in cases {
        let out = stress()
            .current_dir(dir.path())
            .args(["run", "--database-url", NOWHERE])
            .args(&args)
            .arg(scenario)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("cannot connect"),
            "checked before the load: {stderr}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path().join("reports"))
            .unwrap()
            .count(),
        0
    );
}

/// The `testsuites` element's `tests` and `errors`, and each `<error>`'s message.
fn junit_errors(path: &PathBuf) -> (String, String, Vec<String>) {
    use quick_xml::events::Event;
    let text = std::fs::read_to_string(path).unwrap();
    let mut reader = quick_xml::Reader::from_str(&text);
    let (mut tests, mut errors, mut messages) = (String::new(), String::new(), Vec::new());
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let attr = |key: &[u8]| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == key)
                        .map(|a| {
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .unwrap()
                                .into_owned()
                        })
                        .unwrap_or_default()
                };
                match e.name().as_ref() {
                    b"testsuites" => (tests, errors) = (attr(b"tests"), attr(b"errors")),
                    b"error" => messages.push(attr(b"message")),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (tests, errors, messages)
}

/// Item 9: on exit 2 or 3, `--junit` wrote `tests="0" errors="0"` (green to CI) and
/// `--markdown` an empty file. Now each carries an error with the reason.
#[test]
fn a_run_that_did_not_run_is_an_error_in_junit_and_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(&dir, "s.toml", BASE);
    let bad = write(
        &dir,
        "bad.toml",
        &BASE.replace("tasks = 2", "tasks = \"two\""),
    );
    let (junit, md) = (dir.path().join("j.xml"), dir.path().join("m.md"));
    for (scenario, code, needle) in [(&good, 3, "cannot connect"), (&bad, 2, "bad.toml")] {
        let out = stress()
            .args(["run", "--database-url", NOWHERE, "--out"])
            .arg(dir.path().join("r.json"))
            .arg("--junit")
            .arg(&junit)
            .arg("--markdown")
            .arg(&md)
            .arg(scenario)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        let (tests, errors, messages) = junit_errors(&junit);
        assert_eq!(
            (tests.as_str(), errors.as_str()),
            ("1", "1"),
            "{messages:?}"
        );
        assert!(messages[0].contains(needle), "{messages:?}");
        let md = std::fs::read_to_string(&md).unwrap();
        assert!(md.contains("did not run") && md.contains(needle), "{md}");
    }
    let missing = dir.path().join("missing.json");
    let out = stress()
        .arg("compare")
        .arg(&missing)
        .arg(&missing)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let (tests, errors, messages) = junit_errors(&junit);
    assert_eq!(
        (tests.as_str(), errors.as_str()),
        ("1", "1"),
        "{messages:?}"
    );
    assert!(messages[0].contains("missing.json"), "{messages:?}");
}

/// Item 10: two scenario files with one `name` in `run A B --out DIR` wrote one report over
/// the other. Refused before the load, naming both files.
#[test]
fn two_scenarios_of_one_name_are_refused_before_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(&dir, "a.toml", BASE);
    let b = write(&dir, "b.toml", BASE);
    let out = stress()
        .args(["run", "--database-url", NOWHERE, "--out"])
        .arg(dir.path().join("out"))
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} and {} both write their report",
            a.display(),
            b.display()
        )),
        "{stderr}"
    );
}

/// Item 11: every file was written 0600 (tempfile's default), unreadable to a merge job of
/// another user. Now the umask decides: 0644 under 022, 0640 under 027.
#[test]
fn written_files_honour_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (_, a, b) = two_reports("regression_umask", &dir);
    let url = common::database("regression_umask_run");
    let scenario = write(&dir, "s.toml", BASE);
    let bin = assert_cmd::cargo::cargo_bin("stress");
    let d = dir.path().display();
    for (umask, mode) in [("022", 0o644), ("027", 0o640)] {
        let files = ["r.json", "j.xml", "m.md", "merged.json"]
            .map(|f| dir.path().join(format!("{umask}-{f}")));
        let [r, j, m, merged] = files.clone().map(|p| p.display().to_string());
        let script = format!(
            "umask {umask} && '{bin}' run --quiet --database-url '{url}' --set load.duration=200ms \
             --out '{r}' --junit '{j}' --markdown '{m}' '{s}' && '{bin}' merge --out '{merged}' \
             '{a}' '{b}'",
            bin = bin.display(),
            s = scenario.display(),
            a = a.display(),
            b = b.display(),
        );
        let _one_at_a_time = common::load_lock();
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{d}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for f in &files {
            let got = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(got, mode, "{} under umask {umask}: {got:o}", f.display());
        }
    }
}

/// `restart_server` (and `kill_backend`, which acts on the embedded server's processes too)
/// passed `stress check` with a `[database] url`, and failed only at run time, after setup.
#[test]
fn server_faults_with_a_database_url_are_refused_by_check() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["restart_server", "kill_backend"] {
        let text = BASE.replacen(
            "[load]",
            "[database]\nurl = \"postgres://app@db.invalid/app\"\n[load]",
            1,
        ) + &format!("[[fault]]\nkind = \"{kind}\"\nat = \"100ms\"\n");
        let path = write(&dir, "server_fault.toml", &text);
        let out = stress().arg("check").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{kind}: {stderr}");
        // `kind` is on line 12: BASE's 8 lines and [database]'s 2, then `[[fault]]`.
        assert!(stderr.contains("server_fault.toml:12:"), "{kind}: {stderr}");
        assert!(stderr.contains("key `fault[0].kind`"), "{kind}: {stderr}");
        assert!(stderr.contains("[database] url"), "{kind}: {stderr}");
    }
}

/// Issue 10 item 4: at 100 columns the summary table broke words in the middle
/// ("operat/ion_in/_progr/ess"), and the findings were not wrapped to the width at all.
#[test]
fn the_summary_fits_the_width_without_splitting_words() {
    let url = common::database("regression_summary_width");
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/shared-connection-collisions.toml"
    );
    let dir = tempfile::tempdir().unwrap();
    for width in [80, 100] {
        let _one_at_a_time = common::load_lock();
        let out = stress()
            .env("COLUMNS", width.to_string())
            .args(["run", "--quiet", "--database-url", &url])
            .args(["--variant", "one shared connection (exclusive)"])
            .args(["--set", "load.duration=500ms", "--set", "load.warmup=0s"])
            .arg("--out")
            .arg(dir.path().join(format!("{width}.json")))
            .arg(scenario)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.code().is_some_and(|c| c <= 1), "{stdout}");
        for line in stdout.lines() {
            assert!(line.chars().count() <= width, "{width}: {line}\n{stdout}");
        }
        let whole = |word: &str| {
            stdout
                .lines()
                .any(|l| l.split([' ', '│', '┆']).any(|w| w == word))
        };
        assert!(whole("operation_in_progress"), "{width}:\n{stdout}");
        assert!(whole("ok/s") && whole("opened"), "{width}:\n{stdout}");
    }
}

/// A doc comment on one variant of `ErrorClass` (added with `task_cancelled`) made schemars
/// describe the class as a `oneOf`, and every map keyed by class (`errors`, `failed_next_1s`,
/// `pool.connect_errors`, ...) lost its list of class names in the JSON Schema, silently. Each
/// class must stay a property of `errors`: comment new classes with `//`, not `///`.
#[test]
fn every_error_class_is_a_property_of_the_schema_s_errors() {
    let schema: serde_json::Value =
        serde_json::from_str(&stress::report::schema::report_schema()).unwrap();
    let errors = &schema["$defs"]["VariantReport"]["properties"]["errors"]["properties"];
    let listed = errors.as_object().expect("errors lists its classes");
    for class in stress::record::errors::ErrorClass::ALL {
        assert!(listed.contains_key(class.name()), "{}", class.name());
    }
}

/// `?sslmode=require` against a server that requires TLS failed with "no TLS implementation
/// configured" (issue 12), and a URL with `sslrootcert` or `sslmode=verify-full` was "invalid
/// connection string". Both now parse; `tcp_user_timeout`, which tokio-postgres reads in
/// seconds, is libpq's milliseconds.
#[test]
fn libpq_tls_options_parse_and_tcp_user_timeout_is_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["db.example".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(&ca, cert.pem()).unwrap();
    let url = format!(
        "postgres://u:s3cret@db.example/app?sslmode=verify-full&sslrootcert={}&tcp_user_timeout=1500",
        ca.display().to_string().replace('/', "%2F")
    );
    let resolved = stress::database::url::parse(&url).unwrap();
    assert_eq!(
        resolved.tls.mode,
        stress::database::tls::SslMode::VerifyFull
    );
    assert!(resolved.tls.verifies);
    assert_eq!(
        resolved.config.get_tcp_user_timeout(),
        Some(&std::time::Duration::from_millis(1500))
    );
    let require = stress::database::url::parse("postgres://u@h/db?sslmode=require").unwrap();
    assert_eq!(require.tls.mode, stress::database::tls::SslMode::Require);
}

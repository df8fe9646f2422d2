//! The user reference in `docs/` kept true: every name the code accepts or writes (error
//! classes, metrics, scenario keys and values, report fields, exit codes) is documented. The
//! lists come from the types themselves (serde's own "expected one of" lists, the report's
//! JSON Schema, `ErrorClass::ALL`), so a key added to the code without its line in the docs
//! fails here. No database is needed.

use std::path::Path;

use serde::de::DeserializeOwned;
use stress::exit::Exit;
use stress::metric::{Stat, anomaly_names};
use stress::record::errors::ErrorClass;
use stress::report::model::Report;
use stress::scenario::model::{
    AccessMode, AccessSettings, Builtin, DatabaseSettings, DockerNetwork, DockerSettings,
    EmbeddedSettings, FaultKind, FaultSettings, Isolation, LoadSettings, PgBouncerSettings,
    PoolMode, PoolSettings, QueryMode, QueueStrategy, RestartMode, RetrySettings, Semantics,
    Settings, Stage, StepSettings, Verify, WorkloadSettings,
};

fn doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of the `## ` section whose heading is `heading`, up to the next `## `.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no section `{heading}`"));
    let body = &text[start + heading.len() + 2..];
    body.find("\n## ").map_or(body, |end| &body[..end])
}

/// The names serde lists in an error's "expected one of `a`, `b`" (or "expected `a`").
fn expected_names(message: &str) -> Vec<String> {
    let tail = message
        .split_once("expected")
        .unwrap_or_else(|| panic!("no list in {message:?}"))
        .1;
    tail.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// A struct's field names as serde knows them (`deny_unknown_fields` lists them all).
fn fields<T: DeserializeOwned>() -> Vec<String> {
    let e = serde_json::from_str::<T>(r#"{"not_a_key_of_any_table": 0}"#)
        .err()
        .expect("an unknown key is refused");
    expected_names(&e.to_string())
}

/// A unit enum's values as serde knows them.
fn values<T: DeserializeOwned>() -> Vec<String> {
    let e = serde_json::from_str::<T>(r#""not_a_value""#)
        .err()
        .expect("an unknown value is refused");
    expected_names(&e.to_string())
}

/// Every name must appear in the section as a table row `| `name` |`.
fn missing_rows(section: &str, names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|n| !section.contains(&format!("\n| `{n}` |")))
        .cloned()
        .collect()
}

#[test]
fn every_error_class_has_a_row_in_errors_md() {
    let text = doc("errors.md");
    let classes = section(&text, "## Error classes");
    let names: Vec<String> = ErrorClass::ALL
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    // The serde names are the ones users write: the list must be theirs.
    for c in ErrorClass::ALL {
        assert_eq!(serde_json::to_value(c).unwrap(), c.name());
    }
    assert_eq!(missing_rows(classes, &names), Vec::<String>::new());
}

#[test]
fn every_anomaly_has_a_row_in_errors_md() {
    let text = doc("errors.md");
    let names = anomaly_names().to_vec();
    assert!(names.iter().any(|n| n == "lost_writes"), "{names:?}");
    let rows = missing_rows(section(&text, "## Anomalies"), &names);
    assert_eq!(rows, Vec::<String>::new());
}

#[test]
fn every_metric_of_the_vocabulary_is_in_cli_md() {
    let text = doc("cli.md");
    let vocabulary = section(&text, "## Metric vocabulary");
    let families = [
        "error_rate",
        "errors.<class>",
        "operation.<stat>",
        "acquire.<stat>",
        "throughput",
        "anomalies.<name>",
        "workload.<name>.<stat>",
        "workload.<name>.error_rate",
        "connections.opened",
    ];
    // Each family parses as the vocabulary says (a concrete instance of each).
    for concrete in [
        "error_rate",
        "errors.pool_timeout",
        "operation.p99",
        "acquire.max",
        "throughput",
        "anomalies.leaks",
        "workload.chat.p99",
        "workload.chat.error_rate",
        "connections.opened",
    ] {
        assert!(
            concrete.parse::<stress::metric::Metric>().is_ok(),
            "{concrete}"
        );
    }
    let families: Vec<String> = families.iter().map(|f| f.to_string()).collect();
    assert_eq!(missing_rows(vocabulary, &families), Vec::<String>::new());
    for stat in Stat::ALL {
        let name = format!("`{}`", stat.name());
        assert!(vocabulary.contains(&name), "statistic {name} not listed");
        // And it really is a statistic of the vocabulary.
        assert!(
            format!("operation.{}", stat.name())
                .parse::<stress::metric::Metric>()
                .is_ok()
        );
    }
    for anomaly in anomaly_names() {
        let name = format!("`anomalies.{anomaly}`");
        assert!(vocabulary.contains(&name), "{name} not listed");
    }
}

#[test]
fn every_exit_code_has_a_row_in_cli_md() {
    let text = doc("cli.md");
    let exits = section(&text, "## Exit codes");
    let codes: Vec<String> = [
        Exit::Ok,
        Exit::ExpectationFailed,
        Exit::BadInput,
        Exit::Infra,
        Exit::Interrupted(1),
        Exit::Interrupted(2),
        Exit::Interrupted(15),
    ]
    .iter()
    .map(|e| e.code().to_string())
    .collect();
    assert_eq!(codes, ["0", "1", "2", "3", "129", "130", "143"]);
    assert_eq!(missing_rows(exits, &codes), Vec::<String>::new());
}

/// Every command of the parser has a row in cli.md's command table, and a `### ` section with
/// a row per argument.
#[test]
fn every_command_and_option_is_in_cli_md() {
    use clap::CommandFactory;
    let text = doc("cli.md");
    let commands = section(&text, "## Commands");
    let cli = stress::cli::Cli::command();
    let mut missing = Vec::new();
    for sub in cli.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = sub.get_name();
        if !commands.contains(&format!("\n| `stress {name}")) {
            missing.push(format!("command `{name}` has no row"));
        }
        let heading = format!("\n### `stress {name}`\n");
        let Some(start) = commands.find(&heading) else {
            missing.push(format!("no section {heading:?}"));
            continue;
        };
        let body = &commands[start + heading.len()..];
        let body = body.find("\n#").map_or(body, |end| &body[..end]);
        for arg in sub.get_arguments() {
            if ["help", "version"].contains(&arg.get_id().as_str()) {
                continue;
            }
            let shown = match (arg.get_long(), arg.get_value_names()) {
                (Some(long), _) => format!("`--{long}"),
                (None, Some(names)) => format!("`{}", names[0]),
                (None, None) => format!("`{}", arg.get_id()),
            };
            if !body.contains(&format!("\n| {shown}")) && !body.contains(&format!(", {shown}")) {
                missing.push(format!("`stress {name}`: {shown}` has no row"));
            }
        }
    }
    assert_eq!(missing, Vec::<String>::new());
}

#[test]
fn every_scenario_key_has_a_row_in_its_section_of_scenario_md() {
    let text = doc("scenario.md");
    let mut top = fields::<Settings>();
    // Taken out of the document before it is deserialized (see scenario/mod.rs, sweep.rs).
    top.extend(["variant".to_string(), "sweep".to_string()]);
    assert!(top.iter().any(|k| k == "workload"), "{top:?}");
    let tables: [(&str, Vec<String>); 13] = [
        ("## Top-level keys", top),
        ("## `[database]`", fields::<DatabaseSettings>()),
        ("## `[database.embedded]`", fields::<EmbeddedSettings>()),
        ("## `[database.docker]`", fields::<DockerSettings>()),
        ("## `[database.pgbouncer]`", fields::<PgBouncerSettings>()),
        ("## `[load]`", fields::<LoadSettings>()),
        ("## `load.stages`", fields::<Stage>()),
        ("## `load.retry`", fields::<RetrySettings>()),
        ("## `[access]`", fields::<AccessSettings>()),
        ("## `[pool]`", fields::<PoolSettings>()),
        ("## `[[workload]]`", fields::<WorkloadSettings>()),
        ("## `[[workload.step]]`", fields::<StepSettings>()),
        ("## `[[fault]]`", fields::<FaultSettings>()),
    ];
    let mut missing = Vec::new();
    for (heading, keys) in &tables {
        assert!(!keys.is_empty(), "{heading}");
        for key in missing_rows(section(&text, heading), keys) {
            missing.push(format!("{heading}: {key}"));
        }
    }
    assert_eq!(missing, Vec::<String>::new());
}

#[test]
fn every_allowed_value_of_a_scenario_key_is_in_scenario_md() {
    let text = doc("scenario.md");
    let enums: [(&str, Vec<String>); 11] = [
        ("## `[database.docker]`", values::<DockerNetwork>()),
        ("## `[access]`", values::<AccessMode>()),
        ("## `[access]`", values::<Semantics>()),
        ("## `[access]`", values::<QueryMode>()),
        ("## `[pool]`", values::<QueueStrategy>()),
        ("## `[[workload]]`", values::<Isolation>()),
        ("## `[[workload]]`", values::<Verify>()),
        ("## `[[workload]]`", values::<Builtin>()),
        ("## `[[fault]]`", values::<FaultKind>()),
        ("## `[[fault]]`", values::<RestartMode>()),
        ("## `[database.pgbouncer]`", values::<PoolMode>()),
    ];
    let mut missing = Vec::new();
    for (heading, names) in &enums {
        assert!(!names.is_empty(), "{heading}");
        let body = section(&text, heading);
        for name in names {
            if !body.contains(&format!("`\"{name}\"`")) {
                missing.push(format!("{heading}: \"{name}\""));
            }
        }
    }
    // Each fault kind is also described in the list of kinds.
    let faults = section(&text, "## `[[fault]]`");
    for kind in values::<FaultKind>() {
        if !faults.contains(&format!("\n- `{kind}`: ")) {
            missing.push(format!("fault kind `{kind}` has no description"));
        }
    }
    assert_eq!(missing, Vec::<String>::new());
}

/// Regression (review of 2026-12-03): report.md and the schema's description of a fault
/// event's `kind` lacked the kinds added after them (`cancel_tasks`, `network`, the pooler's).
#[test]
fn every_fault_kind_is_a_kind_of_fault_event_in_report_md_and_the_schema() {
    let text = doc("report.md");
    let row = text
        .lines()
        .find(|l| l.starts_with("| `kind` | string | `close_pool`"))
        .expect("the row of faults[].kind");
    let schema = serde_json::to_string(schemars::schema_for!(Report).as_value()).unwrap();
    let described = schema
        .split("\"FaultEvent\"")
        .nth(1)
        .and_then(|t| t.split("\"kind\"").nth(1))
        .expect("FaultEvent.kind in the schema");
    let described = described.split("\"type\"").next().unwrap();
    let mut missing = Vec::new();
    for kind in values::<FaultKind>() {
        if !row.contains(&format!("`{kind}`")) {
            missing.push(format!("report.md: {kind}"));
        }
        if !described.contains(&format!("`{kind}`")) {
            missing.push(format!("schema: {kind}"));
        }
    }
    assert_eq!(missing, Vec::<String>::new());
}

/// Each object of the report's JSON Schema is a section of report.md headed `... — `Type``,
/// with a row per property.
#[test]
fn every_report_field_has_a_row_in_report_md() {
    let text = doc("report.md");
    let schema = schemars::schema_for!(Report);
    let schema = schema.as_value();
    let mut objects = vec![("Report".to_string(), schema.clone())];
    let defs = schema["$defs"].as_object().expect("$defs");
    for (name, def) in defs {
        if def.get("properties").is_some() {
            objects.push((name.clone(), def.clone()));
        }
    }
    assert!(objects.len() > 20, "{}", objects.len());
    let mut missing = Vec::new();
    for (name, def) in &objects {
        let suffix = format!(" — `{name}`");
        let Some(heading) = text
            .lines()
            .find(|l| l.starts_with("## ") && l.ends_with(&suffix))
        else {
            missing.push(format!("no section for `{name}`"));
            continue;
        };
        let props: Vec<String> = def["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        for field in missing_rows(section(&text, heading), &props) {
            missing.push(format!("{name}.{field}"));
        }
    }
    assert_eq!(missing, Vec::<String>::new());
}

#[test]
fn the_readme_links_the_reference_not_a_file_outside_the_repository() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    assert!(
        !readme.contains("../shared/"),
        "README links outside the repository"
    );
    for file in ["scenario.md", "report.md", "errors.md", "cli.md"] {
        assert!(
            readme.contains(&format!("(docs/{file}")),
            "README does not link docs/{file}"
        );
    }
}

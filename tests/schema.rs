//! The report's JSON Schema: the shipped file is the one derived from the types, and real
//! reports validate against it.

mod common;

use common::*;

const SHIPPED: &str = include_str!("../schema/report.schema.json");

#[test]
fn the_shipped_schema_is_derived_from_the_types() {
    assert!(
        SHIPPED == stress::report::schema::report_schema(),
        "schema/report.schema.json is stale: run `cargo run -- schema > schema/report.schema.json`"
    );
}

#[test]
fn a_real_report_validates_against_the_schema() {
    let text = r#"
name = "schema"
[database]
setup = ["CREATE TABLE IF NOT EXISTS s (id serial PRIMARY KEY, v text)"]
teardown = ["DROP TABLE s"]
[load]
tasks = 3
duration = "1200ms"
[access]
mode = "shared"
[[workload]]
name = "write"
transaction = true
[[workload.step]]
sql = "INSERT INTO s (v) VALUES ($1) RETURNING id"
params = ["uuid()"]
capture = ["id"]
[[workload.step]]
sleep = "1ms"
[[workload.step]]
sql = "SELECT v FROM s WHERE id = $1"
params = ["@id"]
[[variant]]
name = "shared"
[[variant]]
name = "pool"
access.mode = "pool"
"#;
    let report = run_text("schema", text, &[]);
    assert_consistent(&report);
    assert!(
        !report.variants[0].errors.is_empty(),
        "the shared variant exercises the errors map"
    );
    let schema: serde_json::Value = serde_json::from_str(SHIPPED).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let instance = serde_json::to_value(&report).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // And a report that breaks the contract does not validate.
    let mut broken = instance.clone();
    broken["variants"][0]["operations"]["ok"] = serde_json::json!("many");
    assert!(!validator.is_valid(&broken));
    // Round trip: the report reads back as the same value.
    let back: stress::report::Report = serde_json::from_value(instance).unwrap();
    assert_eq!(back, report);
}

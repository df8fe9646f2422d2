//! The report's JSON Schema, derived from its types (no hand-kept schema to drift). The copy in
//! `schema/report.schema.json` is checked against this by a test; `stress schema` prints it.

use super::model::Report;

/// The JSON Schema of the report, pretty-printed.
pub fn report_schema() -> String {
    let schema = schemars::schema_for!(Report);
    let mut text = serde_json::to_string_pretty(&schema).expect("schema serializes");
    text.push('\n');
    text
}

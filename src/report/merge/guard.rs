//! What must hold before reports are merged, beyond being of one scenario: no run counted
//! twice, and no number so large that summing it could overflow.
//!
//! Reports are input like any other: a file given twice (`stress merge a.json a.json`), or a
//! merged report merged again with one of its own sources, would double its counts silently;
//! a hand-edited count near `u64::MAX` would overflow the sums. Both are refused, naming the
//! file, before anything is added.

use std::collections::BTreeMap;

use super::{Input, MergeError};

/// Most reports one merge takes: with every count at most [`MAX_COUNT`], their sum fits a
/// `u64` with room to spare.
pub(crate) const MAX_INPUTS: usize = 1024;

/// Largest count accepted in a report: 2^53, the largest integer JSON tools in general (and
/// JavaScript) read exactly; no real run comes near it.
pub(crate) const MAX_COUNT: u64 = 1 << 53;

/// Integers in a report that are not counts and are never summed.
const NOT_COUNTS: &[&str] = &["seed"];

/// Refuses duplicate runs, too many inputs, and counts beyond [`MAX_COUNT`].
pub(crate) fn check(inputs: &[Input]) -> Result<(), MergeError> {
    if inputs.len() > MAX_INPUTS {
        return Err(MergeError::Mismatch(format!(
            "{} reports given; at most {MAX_INPUTS} can be merged at once (merge in groups, \
             then merge the groups)",
            inputs.len()
        )));
    }
    let mut seen: BTreeMap<&str, &Input> = BTreeMap::new();
    for input in inputs {
        for run in runs(input) {
            if let Some(first) = seen.insert(run, input) {
                return Err(MergeError::Mismatch(format!(
                    "run `{run}` is in both {} and {}: merging it twice would count its \
                     operations twice",
                    first.file.display(),
                    input.file.display()
                )));
            }
        }
        magnitudes(input)?;
    }
    Ok(())
}

/// The runs a report holds: its own, or those it was merged from.
fn runs(input: &Input) -> Vec<&str> {
    let r = &input.report;
    if r.merged_from.is_empty() {
        vec![r.run_id.as_str()]
    } else {
        r.merged_from.iter().map(|m| m.run_id.as_str()).collect()
    }
}

fn magnitudes(input: &Input) -> Result<(), MergeError> {
    let value = serde_json::to_value(&input.report).map_err(|e| MergeError::Input {
        file: input.file.clone(),
        message: format!("cannot read the report's numbers: {e}"),
    })?;
    match too_large(&value, &mut String::new()) {
        Some(path) => Err(MergeError::Input {
            file: input.file.clone(),
            message: format!("{path}: a count above {MAX_COUNT} cannot come from a run"),
        }),
        None => Ok(()),
    }
}

/// The JSON path of the first integer above [`MAX_COUNT`].
fn too_large(value: &serde_json::Value, path: &mut String) -> Option<String> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().filter(|&x| x > MAX_COUNT).map(|_| path.clone()),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = too_large(item, path);
            path.truncate(len);
            found
        }),
        serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
            if NOT_COUNTS.contains(&key.as_str()) {
                return None;
            }
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = too_large(item, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;
    use std::path::PathBuf;

    fn input(file: &str, run: &str, ok: u64) -> Input {
        let v = fixtures::variant("v", ok, 0, serde_json::json!({}));
        Input {
            file: PathBuf::from(file),
            report: fixtures::report(run, "2026-01-01T00:00:00.000Z", vec![v]),
        }
    }

    #[test]
    fn refuses_a_run_given_twice() {
        let e = check(&[input("a.json", "r1", 1), input("b.json", "r1", 1)]).unwrap_err();
        assert!(
            e.to_string()
                .contains("run `r1` is in both a.json and b.json"),
            "{e}"
        );
        assert!(check(&[input("a.json", "r1", 1), input("b.json", "r2", 1)]).is_ok());
    }

    #[test]
    fn refuses_a_merged_report_with_one_of_its_sources() {
        let mut merged = input("m.json", "r1+r2", 1);
        for run in ["r1", "r2"] {
            merged
                .report
                .merged_from
                .push(crate::report::model::MergedSource {
                    run_id: run.into(),
                    host: "h".into(),
                    started_at: "2026-01-01T00:00:00.000Z".into(),
                    file: format!("{run}.json"),
                });
        }
        let e = check(&[merged, input("r2.json", "r2", 1)]).unwrap_err();
        assert!(e.to_string().contains("run `r2`"), "{e}");
    }

    #[test]
    fn refuses_counts_no_run_can_reach() {
        let e = check(&[input("a.json", "r1", u64::MAX - 1)]).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("a.json: variants[0]."), "{text}");
        assert!(text.ends_with("cannot come from a run"), "{text}");
    }
}

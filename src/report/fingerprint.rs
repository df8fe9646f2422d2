//! Whether two runs may be compared (`--baseline`, `stress compare`) or merged: they ran the
//! same scenario, with the same effective settings.
//!
//! Same scenario means same name and same `settings_sha256` (the effective settings, not the
//! file's bytes, so a comment edit keeps a baseline). A run of some variants (`--variant`) is
//! comparable when each of its variants has the settings hash of the baseline's variant of the
//! same name. Otherwise [`comparable`] says why, and the caller refuses unless forced.

use super::model::{Report, ScenarioInfo};

/// Two reports of different scenarios.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// What identifies the settings a report was (or will be) made with: the scenario's name, the
/// hash of the selected variants' settings, and each variant's own hash.
#[derive(Clone, Debug, PartialEq)]
pub struct Fingerprint {
    pub(crate) name: String,
    /// Hash of the selected variants' effective settings (`scenario.settings_sha256`).
    pub settings_sha256: String,
    /// Each variant's name and settings hash (empty in reports of older versions).
    pub(crate) variants: Vec<(String, String)>,
}

impl Fingerprint {
    /// The fingerprint a run of this scenario's selected variants will have.
    pub fn of_scenario(s: &crate::scenario::Scenario) -> Fingerprint {
        Fingerprint {
            name: s.name.clone(),
            settings_sha256: s.settings_sha256.clone(),
            variants: s
                .variants
                .iter()
                .map(|v| (v.name.clone(), v.settings_sha256.clone()))
                .collect(),
        }
    }

    pub(crate) fn of(report: &Report) -> Fingerprint {
        Fingerprint {
            name: report.scenario.name.clone(),
            settings_sha256: report.scenario.settings_sha256.clone(),
            variants: report
                .variants
                .iter()
                .map(|v| (v.name.clone(), v.settings_sha256.clone()))
                .collect(),
        }
    }
}

/// Whether two reports ran the same scenario with the same settings (`stress merge`).
pub fn same_scenario(a: &ScenarioInfo, b: &ScenarioInfo) -> Result<(), Mismatch> {
    same_name(a, &b.name)?;
    if a.settings_sha256 != b.settings_sha256 {
        return Err(changed(&b.name, &b.settings_sha256, &a.settings_sha256));
    }
    Ok(())
}

/// Whether a run of `new` can be held against the baseline `base`: same scenario, and either
/// the same settings throughout or, for a run of some variants (`--variant`), each variant's
/// settings equal to those of the baseline's variant of the same name.
pub fn comparable(base: &Report, new: &Fingerprint) -> Result<(), Mismatch> {
    same_name(&base.scenario, &new.name)?;
    if base.scenario.settings_sha256 == new.settings_sha256 {
        return Ok(());
    }
    let by_variant = new.variants.iter().all(|(name, hash)| {
        !hash.is_empty()
            && base
                .variants
                .iter()
                .any(|b| &b.name == name && &b.settings_sha256 == hash)
    });
    if by_variant && !new.variants.is_empty() {
        return Ok(());
    }
    Err(changed(
        &new.name,
        &new.settings_sha256,
        &base.scenario.settings_sha256,
    ))
}

fn same_name(base: &ScenarioInfo, new: &str) -> Result<(), Mismatch> {
    if base.name == new {
        return Ok(());
    }
    Err(Mismatch(format!(
        "the baseline is a report of scenario `{}`, this is scenario `{new}`: they cannot be compared",
        base.name
    )))
}

fn changed(name: &str, new: &str, base: &str) -> Mismatch {
    Mismatch(format!(
        "the effective settings of scenario `{name}` differ from the baseline's (settings_sha256 \
         {} now, {} in the baseline): a changed setting, variant, sweep or --set changes the \
         numbers (comments, the description and [expect] do not count); record a new baseline",
        short(new),
        short(base)
    ))
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn refuses_other_scenarios_and_changed_settings() {
        let base = fixtures::hashed(&[("a", "ha"), ("b", "hb")], "all");
        let print = |name: &str, hash: &str, variants: &[(&str, &str)]| Fingerprint {
            name: name.into(),
            settings_sha256: hash.into(),
            variants: variants
                .iter()
                .map(|(n, h)| (n.to_string(), h.to_string()))
                .collect(),
        };
        let everything = [("a", "ha"), ("b", "hb")];
        assert!(comparable(&base, &print("s", "all", &everything)).is_ok());
        let e = comparable(&base, &print("t", "all", &everything)).unwrap_err();
        assert!(e.0.contains("scenario `s`"), "{e}");
        let e = comparable(&base, &print("s", "other", &[("a", "h2"), ("b", "hb")])).unwrap_err();
        assert!(e.0.contains("effective settings"), "{e}");
        // `--variant b`: the selection's hash differs, the variant's own does not.
        assert!(comparable(&base, &print("s", "only-b", &[("b", "hb")])).is_ok());
        assert!(comparable(&base, &print("s", "only-c", &[("c", "hc")])).is_err());
        // A baseline of an older version has no per-variant hashes: only the whole counts.
        let old = fixtures::hashed(&[("a", ""), ("b", "")], "all");
        assert!(comparable(&old, &print("s", "only-b", &[("b", "")])).is_err());
    }
}

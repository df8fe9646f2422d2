//! A variant's settings in its report: the JSON the report holds, and this version's typed
//! reading of it, made once where the report is made or read.
//!
//! The JSON is free-form on purpose (the schema says any value): a report written by another
//! version of stress, or edited by hand, may hold settings this version cannot read, and
//! `compare`, `merge` and `report` still read it (they then count no connections and keep the
//! machines' own findings). The JSON is written back as it was read (keys sorted, defaults not
//! filled in), so a merge never rewrites another version's settings; the report code reads the
//! typed settings ([`VariantSettings::typed`]), never the JSON.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::scenario::model::Settings;

/// A variant's effective settings in its report (see the module's documentation).
#[derive(Clone, Debug)]
pub struct VariantSettings {
    /// As the report holds it.
    json: serde_json::Value,
    /// This version's reading of it; `None` when the settings are not those of this version.
    typed: Option<Box<Settings>>,
}

impl VariantSettings {
    /// The settings a variant ran with, as `stress check --print` shows them (the passwords
    /// redacted).
    pub(crate) fn of(settings: &Settings) -> VariantSettings {
        let shown = settings.redacted();
        VariantSettings {
            json: serde_json::to_value(&shown).expect("settings serialize"),
            typed: Some(Box::new(shown)),
        }
    }

    /// Settings as a report holds them, typed when this version can read them.
    pub(crate) fn from_json(json: serde_json::Value) -> VariantSettings {
        let typed = Settings::deserialize(&json).ok().map(Box::new);
        VariantSettings { json, typed }
    }

    /// The settings, when they are those of this version.
    pub(crate) fn typed(&self) -> Option<&Settings> {
        self.typed.as_deref()
    }

    /// The settings as the report holds them.
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }
}

/// Equal when the reports hold the same settings (the typed reading follows from them).
impl PartialEq for VariantSettings {
    fn eq(&self, other: &VariantSettings) -> bool {
        self.json == other.json
    }
}

impl Serialize for VariantSettings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

impl<'de> Deserialize<'de> for VariantSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<VariantSettings, D::Error> {
        serde_json::Value::deserialize(d).map(VariantSettings::from_json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_of_this_version_are_typed_and_others_kept_as_they_are() {
        let made = VariantSettings::of(&crate::report::fixtures::settings("[pool]\nmax_size = 4"));
        let read: VariantSettings =
            serde_json::from_str(&serde_json::to_string(&made).unwrap()).unwrap();
        assert_eq!(read, made);
        assert_eq!(read.typed().map(|s| s.pool.max_size), Some(4));
        let other = serde_json::json!({ "name": "s", "what": 1 });
        let read: VariantSettings = serde_json::from_value(other.clone()).unwrap();
        assert!(read.typed().is_none());
        assert_eq!(serde_json::to_value(&read).unwrap(), other);
        // An older report's settings without some keys: typed with defaults, written unchanged.
        let old = serde_json::json!({ "name": "s" });
        let read = VariantSettings::from_json(old.clone());
        assert!(read.typed().is_some());
        assert_eq!(serde_json::to_value(&read).unwrap(), old);
    }
}

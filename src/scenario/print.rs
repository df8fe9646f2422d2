//! `stress check --print`: a variant's effective settings as TOML, every default filled in.
//!
//! The settings serialize without a few defaults (`load.on_failure`, `pool.model`,
//! `pool.reset_on_return`, and `load.duration` when the run's length is the default), so that
//! their hash, which baselines are held to, stays what versions before those keys wrote. The
//! printed view is for a reader, who must see every value the run will use: those defaults are
//! written back here, from the same `Default`s the run uses. Two defaults are shown as
//! comments, the run's default length and psycopg's `max_size`: written, they would be hashed
//! (the print, used as a scenario, keeps the hash of the scenario printed).

use serde::Serialize;
use toml::{Table, Value};

use super::model::{DEFAULT_DURATION, PoolModel, ResetOnReturn, Settings};
use super::pacing::OnFailure;
use super::pool_keys;

/// A variant's effective settings as `stress check --print` shows them: TOML, password
/// redacted, every default written, a library pool model's keys flat in `[pool]` as a scenario
/// writes them.
///
/// A variant other than `default` is printed with a `[[variant]]` of its name and no other
/// key, so that the print, used as a scenario, has the same variant and the same settings
/// hash (review of 2026-12-03: it came back named `default`, with another hash).
pub(crate) fn printable(name: &str, settings: &Settings) -> Result<String, toml::ser::Error> {
    let mut table = Table::try_from(settings.redacted())?;
    // The URL as written, its password masked: the report's normalized form drops its options
    // (`sslmode`, `sslrootcert`...) and a password given without a user (review of 2026-12-03),
    // and the print is to load back meaning the same thing.
    if let (Some(url), Some(Value::Table(db))) = (&settings.database.url, table.get_mut("database"))
    {
        db.insert(
            "url".into(),
            Value::String(crate::redact::redact(url).into_owned()),
        );
    }
    if let Some(Value::Table(t)) = table.get_mut("load") {
        fill(t, "on_failure", &OnFailure::default())?;
    }
    if let Some(Value::Table(t)) = table.get_mut("pool") {
        fill(t, "model", &PoolModel::default())?;
        fill(t, "reset_on_return", &ResetOnReturn::default())?;
    }
    pool_keys::flat_for_print(&mut table);
    let mut text = toml::to_string(&table)?;
    // Defaults a scenario would change its settings hash by writing (so the print, used as a
    // scenario, would no longer match its baselines): shown as comments.
    let load = &settings.load;
    if load.duration.is_none() && load.iterations.is_none() && load.stages.is_empty() {
        let shown = humantime::format_duration(DEFAULT_DURATION);
        comment(
            &mut text,
            "load",
            &format!("duration = \"{shown}\" (the default)"),
        );
    }
    if settings.pool.model == PoolModel::Psycopg {
        let s = settings.pool.psycopg();
        if s.max_size.is_none() {
            let line = format!("max_size = {} (min_size, the default)", s.min_size);
            comment(&mut text, "pool", &line);
        }
    }
    if name != super::DEFAULT_VARIANT {
        let quoted = Value::String(name.to_string()).to_string();
        text.push_str(&format!("\n[[variant]]\nname = {quoted}\n"));
    }
    Ok(text)
}

/// Writes `# line` under the header of `table` in `text`.
fn comment(text: &mut String, table: &str, line: &str) {
    let header = format!("[{table}]\n");
    if let Some(at) = text.find(&header) {
        text.insert_str(at + header.len(), &format!("# {line}\n"));
    }
}

/// Writes `key = value` into `t` unless the key is there.
fn fill(t: &mut Table, key: &str, value: &impl Serialize) -> Result<(), toml::ser::Error> {
    if !t.contains_key(key) {
        t.insert(key.to_string(), Value::try_from(value)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{LoadOptions, load_str};

    const BASE: &str =
        "name = \"p\"\n[[workload]]\nname = \"w\"\n[[workload.step]]\nsql = \"SELECT 1\"\n";

    fn printed_and_reloaded(text: &str) -> (String, bool) {
        let s = load_str(Path::new("p.toml"), text, &LoadOptions::default()).unwrap();
        let v = &s.variants[0];
        let printed = super::printable(&v.name, &v.settings).unwrap();
        let again = load_str(Path::new("q.toml"), &printed, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{e}\n{printed}"));
        (printed, again.settings_sha256 == s.settings_sha256)
    }

    /// Regression (review of 2026-12-03): `--print` promised every default and left out the
    /// run's length, `on_failure`, the pool's `model` and `reset_on_return`, and psycopg's
    /// `max_size`. What it prints loads back to the same settings (hash included).
    #[test]
    fn every_default_is_printed_and_the_print_loads_back_the_same() {
        let (printed, same) = printed_and_reloaded(BASE);
        for line in [
            "# duration = \"10s\" (the default)",
            "on_failure = \"think\"",
            "model = \"bb8\"",
            "reset_on_return = \"none\"",
        ] {
            assert!(printed.contains(line), "{line}\n{printed}");
        }
        assert!(same, "{printed}");
        let psycopg = format!("{BASE}[pool]\nmodel = \"psycopg\"\nmin_size = 3\n");
        let (printed, same) = printed_and_reloaded(&psycopg);
        assert!(printed.contains("# max_size = 3 (min_size"), "{printed}");
        assert!(same, "{printed}");
        let counted = format!("{BASE}[load]\niterations = 5\n");
        let (printed, same) = printed_and_reloaded(&counted);
        assert!(!printed.contains("duration"), "{printed}");
        assert!(same, "{printed}");
    }

    /// Review of 2026-12-03: the URL was printed in the report's normalized form, without its
    /// options (`sslmode`...) and without a password given with no user.
    #[test]
    fn the_url_is_printed_as_written_with_its_password_masked() {
        let url = "postgres://app:s3cret@db:5432/shop?sslmode=require&application_name=x";
        let text = format!("{BASE}[database]\nurl = \"{url}\"\n");
        let (printed, same) = printed_and_reloaded(&text);
        assert!(
            printed.contains(
                "url = \"postgres://app:***@db:5432/shop?sslmode=require&application_name=x\""
            ),
            "{printed}"
        );
        assert!(!printed.contains("s3cret") && same, "{printed}");
        let text = format!("{BASE}[database]\nurl = \"host=h password=sekrit\"\n");
        let (printed, _) = printed_and_reloaded(&text);
        assert!(
            printed.contains("url = \"host=h password=***\""),
            "{printed}"
        );
    }

    /// Review of 2026-12-03: a named variant's print came back as `default`, another hash.
    #[test]
    fn a_named_variant_prints_back_with_its_name_and_hash() {
        let text = format!("{BASE}[[variant]]\nname = \"pool of \\\"3\\\"\"\npool.max_size = 3\n");
        let (printed, same) = printed_and_reloaded(&text);
        assert!(printed.contains("[[variant]]\nname = "), "{printed}");
        assert!(same, "{printed}");
    }
}

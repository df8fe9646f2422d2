//! `[pool]`'s keys by model: a scenario writes a model's keys flat beside `model`
//! (`pool.model = "sqlalchemy"`, `pool.pool_size = 5`); before deserialization this moves them
//! into the model's own table (`pool.sqlalchemy.pool_size`), and refuses, at its line, a key
//! that belongs to another model (`max_size` under `model = "sqlalchemy"`, `pool_size` under
//! bb8), naming the keys the chosen model takes.

use super::model::PoolModel;
use super::node::{Entry, Kind, Node, Path, Seg};
use super::source::{ScenarioError, SourceMap};

/// Moves the chosen model's keys of `[pool]` into its table; refuses the other models' keys.
pub(crate) fn nest(sources: &SourceMap, doc: &mut Node) -> Result<(), Vec<ScenarioError>> {
    let Some(pool) = doc_pool(doc) else {
        return Ok(());
    };
    let model = match pool
        .get("model")
        .map(|m| m.as_str().map(PoolModel::from_name))
    {
        None => PoolModel::Bb8,
        Some(Some(Some(m))) => m,
        // Not a model's name: serde reports it at the value.
        Some(_) => return Ok(()),
    };
    let Kind::Table(entries) = &mut pool.kind else {
        return Ok(());
    };
    let mut errors = Vec::new();
    let mut kept = Vec::new();
    let mut moved: Vec<Entry> = Vec::new();
    let origin = pool.origin.clone();
    for entry in std::mem::take(entries) {
        if entry.key == "model" {
            kept.push(entry);
        } else if !model.is_bb8() && entry.key == model.name() {
            match entry.value.kind {
                Kind::Table(inner) => moved.extend(inner),
                _ => kept.push(entry),
            }
        } else if model.keys().contains(&entry.key.as_str()) {
            if model.is_bb8() {
                kept.push(entry);
            } else {
                moved.push(entry);
            }
        } else if let Some(message) = refusal(model, &entry.key) {
            let key = format!("pool.{}", entry.key);
            errors.push(sources.error(&entry.key_origin, key, message));
        } else {
            // Unknown to every model: serde's own "unknown field" names it.
            kept.push(entry);
        }
    }
    if !model.is_bb8() {
        kept.push(Entry {
            key: model.name().to_string(),
            key_origin: origin.clone(),
            value: Node {
                kind: Kind::Table(moved),
                origin,
            },
        });
    }
    *entries = kept;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn doc_pool(doc: &mut Node) -> Option<&mut Node> {
    let Kind::Table(entries) = &mut doc.kind else {
        return None;
    };
    let pool = entries.iter_mut().find(|e| e.key == "pool")?;
    matches!(pool.value.kind, Kind::Table(_)).then_some(&mut pool.value)
}

/// Why `key` is refused under `model`, when it is another model's key (or a model's table).
fn refusal(model: PoolModel, key: &str) -> Option<String> {
    let owners: Vec<&str> = PoolModel::ALL
        .into_iter()
        .filter(|m| *m != model && (m.keys().contains(&key) || (!m.is_bb8() && m.name() == key)))
        .map(PoolModel::name)
        .collect();
    if owners.is_empty() {
        return None;
    }
    let takes = model.keys().join(", ");
    let hint = match (model, key) {
        (PoolModel::Sqlalchemy, "max_size") => " (SQLAlchemy's limit is pool_size + max_overflow)",
        (PoolModel::Sqlalchemy, "connection_timeout" | "timeout" | "acquire_timeout") => {
            " (SQLAlchemy's is pool_timeout)"
        }
        (PoolModel::Bb8, _) => " (set pool.model to use it)",
        _ => "",
    };
    Some(format!(
        "`{key}` is a key of pool.model = {}, not of \"{}\"{hint}; \"{}\" takes: {takes}",
        owners
            .iter()
            .map(|o| format!("\"{o}\""))
            .collect::<Vec<_>>()
            .join(" or "),
        model.name(),
        model.name(),
    ))
}

/// The path a user wrote for a value serde found under a model's table
/// (`pool.sqlalchemy.pool_size` is written `pool.pool_size`).
pub(crate) fn written_path(path: &Path) -> Path {
    let mut segs = path.0.clone();
    if let [Seg::Key(first), Seg::Key(second), ..] = segs.as_slice()
        && first == "pool"
        && PoolModel::from_name(second).is_some_and(|m| !m.is_bb8())
    {
        segs.remove(1);
    }
    Path(segs)
}

/// `check --print`'s view of `[pool]`: for a library model, `model` and that model's keys flat,
/// as a scenario writes them (bb8's keys, unused there, left out).
pub(crate) fn flat_for_print(settings: &mut toml::Table) {
    let Some(toml::Value::Table(pool)) = settings.get_mut("pool") else {
        return;
    };
    let model = pool
        .get("model")
        .and_then(|m| m.as_str())
        .and_then(PoolModel::from_name)
        .unwrap_or_default();
    if model.is_bb8() {
        return;
    }
    let own = match pool.remove(model.name()) {
        Some(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    pool.retain(|k, _| k == "model");
    pool.extend(own);
}

/// What serde cannot see in a library model's settings: sizes the library refuses (with its own
/// words where it has them). Paths go through the model's table, so they find the value's line.
pub(crate) fn problems(pool: &super::model::PoolSettings) -> Vec<(Path, String)> {
    let at = |model: PoolModel, key: &str| Path::default().key("pool").key(model.name()).key(key);
    let mut found = Vec::new();
    match pool.model {
        PoolModel::Bb8 => {}
        PoolModel::Asyncpg => {
            let s = pool.asyncpg();
            if s.max_size == 0 {
                found.push((
                    at(pool.model, "max_size"),
                    "max_size is expected to be greater than zero (asyncpg)".into(),
                ));
            }
            if s.min_size > s.max_size {
                found.push((
                    at(pool.model, "min_size"),
                    "min_size is expected to be less or equal to max_size (asyncpg)".into(),
                ));
            }
            if s.max_queries == 0 {
                found.push((
                    at(pool.model, "max_queries"),
                    "max_queries is expected to be greater than zero (asyncpg)".into(),
                ));
            }
        }
        PoolModel::Sqlalchemy => {
            let s = pool.sqlalchemy();
            if s.max_overflow < -1 {
                found.push((
                    at(pool.model, "max_overflow"),
                    "must be -1 (no limit) or more".into(),
                ));
            }
            if s.pool_size == 0 {
                found.push((at(pool.model, "pool_size"), "must be at least 1 (SQLAlchemy's 0, no limit, is not modelled: use max_overflow = -1)".into()));
            }
        }
        PoolModel::Psycopg => {
            let s = pool.psycopg();
            if s.effective_max_size() == 0 {
                found.push((
                    at(pool.model, "max_size"),
                    "max_size must be greater than 0 (psycopg_pool)".into(),
                ));
            } else if s.effective_max_size() < s.min_size {
                found.push((
                    at(pool.model, "max_size"),
                    "max_size must be greater or equal than min_size (psycopg_pool)".into(),
                ));
            }
        }
    }
    found
}

//! `[sweep]`: dotted keys with lists of values, expanded into the cartesian product of
//! variants (crossed with the named `[[variant]]`s when there are some).
//!
//! This works on the spanned [`Node`] tree, before deserialization: each point of the sweep is
//! a list of (dotted key, value node) pairs written into the variant's merged tree like a
//! `--set`, and the value keeps the origin of its place in the `[sweep]` list. So a bad swept
//! value (`pool.max_size = [5, 0]`) is reported at the `0`, with its key, as any other value.
//!
//! Order of application: base, then the named variant, then the sweep point, then `--set`.
//! The first key of `[sweep]` varies slowest. A point is named by its values,
//! `pool.max_size=10, load.tasks=50`, prefixed by the named variant when there are named
//! variants: `pool of 10 / pool.max_size=10, load.tasks=50`.

use super::node::{Kind, Node, Path};
use super::source::{ScenarioError, ScenarioErrors, SourceMap};
use super::{DEFAULT_VARIANT, SetKeys};

/// One swept key and its values.
#[derive(Clone, Debug)]
pub(crate) struct Axis {
    pub(crate) keys: SetKeys,
    /// The dotted key as written in names: `pool.max_size`.
    pub(crate) name: String,
    pub(crate) values: Vec<Node>,
}

/// A variant to build: its name, the named variant it comes from, that variant's overrides,
/// and the swept values to write over them.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub(crate) name: String,
    pub(crate) declared: String,
    pub(crate) over: Option<Node>,
    pub(crate) point: Vec<(SetKeys, Node)>,
}

/// Keys a sweep cannot vary.
const FIXED: [&str; 2] = ["name", "variant"];

/// Removes `[sweep]` from the base and returns its axes, in file order.
/// Most variants a scenario may expand to: each runs for its whole duration, so a sweep past
/// this is a typo (`[1, 1000]` for `1..1000`) or a run of days, better refused at once.
pub(crate) const MAX_VARIANTS: usize = 1000;

/// Removes `[sweep]` from the base and returns its axes; `named` is the number of declared
/// variants the points are crossed with.
pub(crate) fn take(
    sources: &SourceMap,
    base: &mut Node,
    named: usize,
) -> Result<Vec<Axis>, ScenarioErrors> {
    let Some(entry) = base.remove("sweep") else {
        return Ok(Vec::new());
    };
    let mut axes = Vec::new();
    let mut errors = Vec::new();
    if entry.value.entries().is_none() {
        errors.push(sources.error(
            &entry.value.origin,
            "sweep",
            "must be a table of dotted keys and lists: [sweep] pool.max_size = [5, 10]",
        ));
    }
    let start = vec![(entry.key.clone(), entry.key_origin.clone())];
    collect(sources, &entry.value, &start, &mut axes, &mut errors);
    if errors.is_empty() && axes.is_empty() {
        errors.push(sources.error(&entry.key_origin, "sweep", "lists no key to sweep"));
    }
    let count = axes
        .iter()
        .try_fold(named.max(1), |n: usize, a| n.checked_mul(a.values.len()));
    if count.is_none_or(|n| n > MAX_VARIANTS) {
        let sizes: Vec<String> = axes.iter().map(|a| a.values.len().to_string()).collect();
        let crossed = if named > 1 {
            format!(" × {named} named variants")
        } else {
            String::new()
        };
        errors.push(sources.error(
            &entry.key_origin,
            "sweep",
            format!(
                "expands to more than the {MAX_VARIANTS} variants a scenario may have ({} \
                 values{crossed}): sweep fewer values",
                sizes.join(" × ")
            ),
        ));
    }
    if errors.is_empty() {
        Ok(axes)
    } else {
        Err(ScenarioErrors(errors))
    }
}

fn dotted(keys: &[(String, super::source::Origin)]) -> String {
    keys.iter()
        .fold(Path::default(), |p, (k, _)| p.key(k))
        .to_string()
}

fn collect(
    sources: &SourceMap,
    table: &Node,
    prefix: &SetKeys,
    axes: &mut Vec<Axis>,
    errors: &mut Vec<ScenarioError>,
) {
    for e in table.entries().unwrap_or_default() {
        let mut keys = prefix.clone();
        keys.push((e.key.clone(), e.key_origin.clone()));
        let shown = dotted(&keys);
        if prefix.len() == 1 && FIXED.contains(&e.key.as_str()) {
            errors.push(sources.error(&e.key_origin, shown, "cannot be swept"));
            continue;
        }
        match &e.value.kind {
            Kind::Table(_) => collect(sources, &e.value, &keys, axes, errors),
            Kind::Array(values) if values.is_empty() => {
                errors.push(sources.error(&e.value.origin, shown, "lists no value to sweep"))
            }
            Kind::Array(values) => {
                let keys: SetKeys = keys[1..].to_vec();
                let axis = Axis {
                    name: dotted(&keys),
                    keys,
                    values: values.clone(),
                };
                if let Some(e) = repeated_value(sources, &axis, &shown) {
                    errors.push(e);
                }
                axes.push(axis);
            }
            _ => errors.push(sources.error(
                &e.value.origin,
                shown,
                format!(
                    "must be a list of the values to sweep, such as [{}]",
                    short(&e.value)
                ),
            )),
        }
    }
}

fn repeated_value(sources: &SourceMap, axis: &Axis, shown: &str) -> Option<ScenarioError> {
    let labels: Vec<String> = axis.values.iter().map(short).collect();
    let twice = (1..labels.len()).find(|&i| labels[..i].contains(&labels[i]))?;
    Some(sources.error(
        &axis.values[twice].origin,
        shown.to_string(),
        format!("{} appears twice in this list", labels[twice]),
    ))
}

/// The product of the declared variants and the sweep's points.
pub(crate) fn expand(declared: Vec<(String, Option<Node>)>, axes: &[Axis]) -> Vec<Planned> {
    let named =
        !(declared.len() == 1 && declared[0].0 == DEFAULT_VARIANT && declared[0].1.is_none());
    let points = points(axes);
    let mut planned = Vec::new();
    for (variant, over) in declared {
        for point in &points {
            let label = point
                .iter()
                .map(|(axis, value)| format!("{}={}", axis.name, short(value)))
                .collect::<Vec<_>>()
                .join(", ");
            let name = match (named, label.is_empty()) {
                (_, true) => variant.clone(),
                (true, false) => format!("{variant} / {label}"),
                (false, false) => label,
            };
            planned.push(Planned {
                name,
                declared: variant.clone(),
                over: over.clone(),
                point: point
                    .iter()
                    .map(|(axis, value)| (axis.keys.clone(), (*value).clone()))
                    .collect(),
            });
        }
    }
    planned
}

/// Every combination of one value per axis, the first axis varying slowest.
fn points(axes: &[Axis]) -> Vec<Vec<(&Axis, &Node)>> {
    let mut points: Vec<Vec<(&Axis, &Node)>> = vec![Vec::new()];
    for axis in axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                axis.values.iter().map(move |v| {
                    let mut p = p.clone();
                    p.push((axis, v));
                    p
                })
            })
            .collect();
    }
    points
}

/// Refuses `sweep` inside a `[[variant]]`: a sweep applies to the whole scenario.
pub(crate) fn refuse_in_variants(
    sources: &SourceMap,
    declared: &[(String, Option<Node>)],
) -> Result<(), ScenarioErrors> {
    let errors: Vec<_> = declared
        .iter()
        .filter_map(|(name, over)| {
            let entry = over.as_ref()?.entry("sweep")?;
            Some(sources.error(
                &entry.key_origin,
                "sweep",
                format!(
                    "[sweep] applies to the whole scenario, not to variant `{name}`: move it to the top level"
                ),
            ))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ScenarioErrors(errors))
    }
}

/// A value as it appears in a variant's name: strings bare, others as TOML writes them.
fn short(node: &Node) -> String {
    match &node.kind {
        Kind::Str(s) | Kind::Datetime(s) | Kind::BigInt(s) => s.clone(),
        Kind::Int(i) => i.to_string(),
        Kind::Float(f) => f.to_string(),
        Kind::Bool(b) => b.to_string(),
        Kind::Array(items) => format!(
            "[{}]",
            items.iter().map(short).collect::<Vec<_>>().join(", ")
        ),
        Kind::Table(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|e| format!("{}={}", e.key, short(&e.value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::source::SourceKind;

    fn parse(text: &str) -> (SourceMap, Node) {
        let mut sources = SourceMap::default();
        let id = sources.add(SourceKind::File("t.toml".into()), text);
        let node = Node::parse_document(&sources, id).unwrap();
        (sources, node)
    }

    fn names(text: &str, declared: Vec<(String, Option<Node>)>) -> Vec<String> {
        let (sources, mut base) = parse(text);
        let axes = take(&sources, &mut base, 1).unwrap();
        assert!(base.get("sweep").is_none(), "taken out of the base");
        expand(declared, &axes)
            .into_iter()
            .map(|p| p.name)
            .collect()
    }

    fn default() -> Vec<(String, Option<Node>)> {
        vec![(DEFAULT_VARIANT.to_string(), None)]
    }

    #[test]
    fn three_by_two_is_six_named_by_their_values_first_key_slowest() {
        let n = names(
            "[sweep]\npool.max_size = [5, 10, 20]\nload.tasks = [10, 50]\n",
            default(),
        );
        assert_eq!(
            n,
            [
                "pool.max_size=5, load.tasks=10",
                "pool.max_size=5, load.tasks=50",
                "pool.max_size=10, load.tasks=10",
                "pool.max_size=10, load.tasks=50",
                "pool.max_size=20, load.tasks=10",
                "pool.max_size=20, load.tasks=50",
            ]
        );
    }

    #[test]
    fn crossed_with_named_variants() {
        let (_, over) = parse("access.mode = \"shared\"\n");
        let declared = vec![
            ("a".to_string(), Some(over.clone())),
            ("b".to_string(), Some(over)),
        ];
        let n = names(
            "[sweep]\naccess.semantics = [\"exclusive\", \"pipelined\"]\n",
            declared,
        );
        assert_eq!(
            n,
            [
                "a / access.semantics=exclusive",
                "a / access.semantics=pipelined",
                "b / access.semantics=exclusive",
                "b / access.semantics=pipelined",
            ]
        );
    }

    #[test]
    fn no_sweep_keeps_the_declared_variants() {
        assert_eq!(names("name = \"x\"\n", default()), [DEFAULT_VARIANT]);
    }

    fn error(text: &str) -> String {
        let (sources, mut base) = parse(text);
        take(&sources, &mut base, 1).unwrap_err().0[0].to_string()
    }

    #[test]
    fn a_sweep_past_the_limit_is_refused_at_its_key() {
        let values = |n: usize| {
            (1..=n)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text = format!(
            "[sweep]\nload.tasks = [{}]\npool.max_size = [{}]\n",
            values(40),
            values(30)
        );
        let e = error(&text);
        assert_eq!(
            e,
            "t.toml:1:2: key `sweep`: expands to more than the 1000 variants a scenario may \
             have (40 × 30 values): sweep fewer values"
        );
        let text = format!("[sweep]\nload.tasks = [{}]\n", values(1000));
        let (sources, mut base) = parse(&text);
        assert_eq!(take(&sources, &mut base, 1).unwrap().len(), 1);
        let (sources, mut base) = parse(&text);
        let e = take(&sources, &mut base, 2).unwrap_err().0[0].to_string();
        assert!(e.contains("(1000 values × 2 named variants)"), "{e}");
    }

    #[test]
    fn bad_sweeps_point_at_the_value() {
        assert_eq!(
            error("[sweep]\npool.max_size = 5\n"),
            "t.toml:2:17: key `sweep.pool.max_size`: must be a list of the values to sweep, such as [5]"
        );
        assert_eq!(
            error("[sweep]\nload.tasks = []\n"),
            "t.toml:2:14: key `sweep.load.tasks`: lists no value to sweep"
        );
        assert_eq!(
            error("[sweep]\nload.tasks = [1, 2, 1]\n"),
            "t.toml:2:21: key `sweep.load.tasks`: 1 appears twice in this list"
        );
        assert!(error("[sweep]\n").contains("lists no key to sweep"));
        assert!(error("[sweep]\nname = [\"a\"]\n").contains("cannot be swept"));
    }

    #[test]
    fn a_swept_value_keeps_its_origin_in_the_list() {
        let (sources, mut base) = parse("[sweep]\npool.max_size = [5, 0]\n");
        let axes = take(&sources, &mut base, 1).unwrap();
        let planned = expand(default(), &axes);
        let (keys, value) = &planned[1].point[0];
        base.set(keys, value.clone()).unwrap();
        let at = base.origin_of(&Path::default().key("pool").key("max_size"));
        assert_eq!(sources.location(&at), "t.toml:2:21");
    }
}

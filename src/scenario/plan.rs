//! The workload mix compiled for the load loop: statements deduplicated and numbered, `let`
//! values and captures given slots, generators parsed, weights turned into a cumulative table.
//! Compiling is also how workloads are validated: every problem names its path.

use std::collections::HashMap;
use std::time::Duration;

use crate::scenario::expr::{self, Expr, Generator};
use crate::scenario::model::{Builtin, Param, StepSettings, Verify, WorkloadSettings};
use crate::scenario::node::{Path, Problem};
use crate::value::Value;

pub(crate) mod builtins;

/// The compiled mix of one variant.
#[derive(Clone, Debug)]
pub struct Plan {
    pub(crate) workloads: Vec<Workload>,
    /// Distinct SQL texts, in order of first use.
    pub(crate) statements: Vec<StatementSpec>,
    /// Number of `seq()` sites; each gets its own counter per run.
    pub(crate) seq_sites: usize,
    cumulative: Vec<u64>,
}

/// A statement of the mix, with where it is first used (for messages).
#[derive(Clone, Debug)]
pub(crate) struct StatementSpec {
    pub(crate) sql: String,
    pub(crate) workload: String,
    pub(crate) step: usize,
    /// Column names that some step captures from this statement.
    pub(crate) captured: Vec<String>,
}

/// One workload: optional transaction, values drawn per operation, steps.
#[derive(Clone, Debug)]
pub(crate) struct Workload {
    pub(crate) name: String,
    /// `BEGIN ...` when the steps run in a transaction.
    pub(crate) begin: Option<String>,
    /// Slot `i` of the first `lets.len()` slots is filled from `lets[i]` at the start.
    pub(crate) lets: Vec<Source>,
    pub(crate) steps: Vec<Step>,
    /// Slots: `let` values first, then captured columns.
    pub(crate) slots: usize,
    /// Each operation also writes its id into the ledger: inside its transaction, or (without
    /// one) as an autocommit statement of its own after the steps.
    pub(crate) verify: bool,
    /// `builtin = "session_state"`: the slot of the session mark the operation found.
    pub(crate) session_mark: Option<usize>,
    /// `builtin = "advisory_lock"`: the unlock step, run on a second checkout, and the slot of
    /// its result.
    pub(crate) unlock: Option<(Step, usize)>,
}

/// A step of a workload.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    Sql {
        statement: usize,
        params: Vec<Source>,
        /// (column name, slot) of captured columns.
        captures: Vec<(String, usize)>,
    },
    Sleep(Duration),
}

/// Where a parameter value comes from.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    Gen(Generator),
    /// `seq()`: index of its counter.
    Seq(usize),
    Literal(Value),
    Slot(usize),
}

impl Plan {
    /// Picks a workload index from a uniform draw in `[0, total_weight)`.
    pub(crate) fn pick(&self, draw: u64) -> usize {
        self.cumulative.partition_point(|&c| c <= draw)
    }

    pub(crate) fn total_weight(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }
}

struct Compiler {
    problems: Vec<Problem>,
    statements: Vec<StatementSpec>,
    by_sql: HashMap<String, usize>,
    seq_sites: usize,
}

impl Compiler {
    fn problem(&mut self, path: Path, message: impl Into<String>) {
        self.problems.push(Problem {
            path,
            message: message.into(),
            help: None,
        });
    }

    fn source(
        &mut self,
        param: &Param,
        names: &HashMap<String, usize>,
        path: Path,
    ) -> Option<Source> {
        Some(match param {
            Param::Int(i) => Source::Literal(Value::Int(*i)),
            Param::Float(f) => Source::Literal(Value::Float(*f)),
            Param::Bool(b) => Source::Literal(Value::Bool(*b)),
            Param::Literal(s) => Source::Literal(Value::Text(s.clone())),
            Param::Expr(text) => match expr::parse(text) {
                Ok(Expr::Gen(Generator::Seq)) => {
                    self.seq_sites += 1;
                    Source::Seq(self.seq_sites - 1)
                }
                Ok(Expr::Gen(g)) => Source::Gen(g),
                Ok(Expr::Ref(name)) => match names.get(&name) {
                    Some(slot) => Source::Slot(*slot),
                    None => {
                        let mut known: Vec<_> = names.keys().map(|k| format!("@{k}")).collect();
                        known.sort();
                        let known = if known.is_empty() {
                            "none is defined: add it to `let` or `capture` it in an earlier step"
                                .to_string()
                        } else {
                            format!("known here: {}", known.join(", "))
                        };
                        self.problem(path, format!("unknown value `@{name}` ({known})"));
                        return None;
                    }
                },
                Err(e) => {
                    self.problem(path, e);
                    return None;
                }
            },
        })
    }

    fn statement(&mut self, sql: &str, workload: &str, step: usize) -> usize {
        if let Some(&i) = self.by_sql.get(sql) {
            return i;
        }
        self.statements.push(StatementSpec {
            sql: sql.to_string(),
            workload: workload.to_string(),
            step,
            captured: Vec::new(),
        });
        self.by_sql
            .insert(sql.to_string(), self.statements.len() - 1);
        self.statements.len() - 1
    }

    /// `let` values: their sources, and their names mapped to slots.
    fn lets(&mut self, w: &WorkloadSettings, path: &Path) -> (Vec<Source>, HashMap<String, usize>) {
        let mut names = HashMap::new();
        let mut lets = Vec::new();
        for (name, value) in &w.lets {
            let at = path.clone().key("let").key(name);
            if !expr::is_ident(name) {
                self.problem(
                    at.clone(),
                    format!("`{name}` is not a valid name (letters, digits, _)"),
                );
            }
            if let Param::Expr(text) = value
                && text.trim_start().starts_with('@')
            {
                self.problem(
                    at,
                    "a `let` value is a generator or a literal, not a reference",
                );
                continue;
            }
            if let Some(source) = self.source(value, &HashMap::new(), at) {
                names.insert(name.clone(), lets.len());
                lets.push(source);
            }
        }
        (lets, names)
    }

    /// A `sql` step: its statement, parameter sources, and captured columns given slots from
    /// `slots` on (the names become visible to later steps).
    fn sql_step(
        &mut self,
        sql: &str,
        step: &StepSettings,
        at: Path,
        (workload, index): (&str, usize),
        names: &mut HashMap<String, usize>,
        slots: &mut usize,
    ) -> Step {
        if sql.trim().is_empty() {
            self.problem(at.clone().key("sql"), "must not be empty");
        }
        let statement = self.statement(sql, workload, index);
        let params = (step.params.iter().enumerate())
            .filter_map(|(j, p)| self.source(p, names, at.clone().key("params").index(j)))
            .collect();
        let mut captures = Vec::new();
        for (j, column) in step.capture.iter().enumerate() {
            if !expr::is_ident(column) {
                let message = format!("`{column}` is not a valid name (letters, digits, _)");
                self.problem(at.clone().key("capture").index(j), message);
                continue;
            }
            names.insert(column.clone(), *slots);
            captures.push((column.clone(), *slots));
            *slots += 1;
            let spec = &mut self.statements[statement];
            if !spec.captured.contains(column) {
                spec.captured.push(column.clone());
            }
        }
        Step::Sql {
            statement,
            params,
            captures,
        }
    }

    fn check_kind(&mut self, w: &WorkloadSettings, path: &Path, transaction: bool) {
        if w.step.is_empty() && w.builtin.is_none() {
            self.problem(
                path.clone().key("step"),
                "a workload needs at least one [[workload.step]]",
            );
        }
        if w.isolation.is_some() && !transaction {
            self.problem(
                path.clone().key("isolation"),
                "`isolation` needs `transaction = true`",
            );
        }
    }

    fn workload(&mut self, w: &WorkloadSettings, path: Path) -> Workload {
        let (mut lets, mut names) = self.lets(w, &path);
        self.lock_key(w.builtin, &mut lets, &mut names);
        let mut slots = lets.len();
        let ledger = w.builtin == Some(Builtin::Ledger);
        let transaction = w.transaction || ledger || w.builtin == Some(Builtin::AdvisoryXactLock);
        let verify = ledger || w.verify == Some(Verify::AcknowledgedWrites);
        self.check_kind(w, &path, transaction);
        let place = (w.name.as_str(), &path);
        let parts = self.builtin_parts(w.builtin, place, &mut names, &mut slots);
        let mut steps = parts.before;
        self.user_steps(w, &path, &mut names, &mut slots, &mut steps);
        Workload {
            name: w.name.clone(),
            verify,
            begin: transaction.then(|| match w.isolation {
                Some(iso) => format!("BEGIN ISOLATION LEVEL {}", iso.sql()),
                None => "BEGIN".to_string(),
            }),
            lets,
            steps,
            slots,
            session_mark: parts.session_mark,
            unlock: parts.unlock,
        }
    }

    fn user_steps(
        &mut self,
        w: &WorkloadSettings,
        path: &Path,
        names: &mut HashMap<String, usize>,
        slots: &mut usize,
        steps: &mut Vec<Step>,
    ) {
        for (i, step) in w.step.iter().enumerate() {
            let at = path.clone().key("step").index(i);
            match (&step.sql, step.sleep) {
                (Some(_), Some(_)) => {
                    self.problem(
                        at.key("sleep"),
                        "a step is either `sql` or `sleep`, not both",
                    );
                }
                (None, None) => self.problem(at, "a step needs `sql` or `sleep`"),
                (None, Some(d)) => {
                    if !step.params.is_empty() || !step.capture.is_empty() {
                        self.problem(
                            at.key("sleep"),
                            "a `sleep` step takes no `params` or `capture`",
                        );
                    }
                    steps.push(Step::Sleep(d));
                }
                (Some(sql), None) => {
                    let place = (w.name.as_str(), i);
                    steps.push(self.sql_step(sql, step, at, place, names, slots));
                }
            }
        }
    }
}

/// Compiles and checks the workloads of one variant.
pub(crate) fn compile(workloads: &[WorkloadSettings]) -> Result<Plan, Vec<Problem>> {
    let mut c = Compiler {
        problems: Vec::new(),
        statements: Vec::new(),
        by_sql: HashMap::new(),
        seq_sites: 0,
    };
    if workloads.is_empty() {
        c.problem(
            Path::default().key("workload"),
            "no workload: add at least one [[workload]] with a [[workload.step]]",
        );
    }
    let mut compiled = Vec::new();
    let mut cumulative = Vec::new();
    let mut total = 0u64;
    for (i, w) in workloads.iter().enumerate() {
        let path = Path::default().key("workload").index(i);
        if let Some(problem) = super::name_problem(&w.name) {
            c.problem(path.clone().key("name"), problem);
        }
        if workloads[..i].iter().any(|o| o.name == w.name) {
            c.problem(
                path.clone().key("name"),
                format!("a workload named `{}` already exists", w.name),
            );
        }
        compiled.push(c.workload(w, path));
        total += u64::from(w.weight);
        cumulative.push(total);
    }
    if !workloads.is_empty() && total == 0 {
        c.problem(
            Path::default().key("workload").index(0).key("weight"),
            "every weight is 0: at least one workload must have a positive weight",
        );
    }
    if c.problems.is_empty() {
        Ok(Plan {
            workloads: compiled,
            statements: c.statements,
            seq_sites: c.seq_sites,
            cumulative,
        })
    } else {
        Err(c.problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::StepSettings;

    fn sql_step(sql: &str, params: Vec<Param>, capture: Vec<&str>) -> StepSettings {
        StepSettings {
            sql: Some(sql.into()),
            params,
            capture: capture.into_iter().map(String::from).collect(),
            sleep: None,
        }
    }

    fn workload(name: &str, weight: u32, steps: Vec<StepSettings>) -> WorkloadSettings {
        WorkloadSettings {
            name: name.into(),
            weight,
            transaction: false,
            isolation: None,
            lets: Default::default(),
            verify: None,
            builtin: None,
            step: steps,
        }
    }

    #[test]
    fn captures_and_lets_become_slots() {
        let mut w = workload(
            "w",
            1,
            vec![
                sql_step(
                    "INSERT x RETURNING id",
                    vec![Param::Expr("@book".into())],
                    vec!["id"],
                ),
                sql_step(
                    "SELECT $1, $2",
                    vec![Param::Expr("@id".into()), Param::Expr("@book".into())],
                    vec![],
                ),
            ],
        );
        w.lets
            .insert("book".into(), Param::Expr("random_int(1, 10)".into()));
        let plan = compile(&[w]).unwrap();
        let wl = &plan.workloads[0];
        assert_eq!(wl.slots, 2);
        let Step::Sql { params, .. } = &wl.steps[1] else {
            panic!()
        };
        assert!(matches!(params[..], [Source::Slot(1), Source::Slot(0)]));
        assert_eq!(plan.statements[0].captured, vec!["id".to_string()]);
    }

    #[test]
    fn a_reference_to_a_later_capture_is_unknown() {
        let w = workload(
            "w",
            1,
            vec![
                sql_step("SELECT $1", vec![Param::Expr("@id".into())], vec![]),
                sql_step("SELECT 1 AS id", vec![], vec!["id"]),
            ],
        );
        let problems = compile(&[w]).unwrap_err();
        assert_eq!(
            problems[0].path.to_string(),
            "workload[0].step[0].params[0]"
        );
        assert!(problems[0].message.contains("unknown value `@id`"));
    }

    #[test]
    fn weights_pick_proportionally() {
        let plan = compile(&[
            workload("a", 1, vec![sql_step("SELECT 1", vec![], vec![])]),
            workload("b", 0, vec![sql_step("SELECT 1", vec![], vec![])]),
            workload("c", 3, vec![sql_step("SELECT 2", vec![], vec![])]),
        ])
        .unwrap();
        assert_eq!(plan.total_weight(), 4);
        let picks: Vec<_> = (0..4).map(|d| plan.pick(d)).collect();
        assert_eq!(picks, vec![0, 2, 2, 2]);
        assert_eq!(plan.statements.len(), 2, "identical SQL is prepared once");
    }

    #[test]
    fn empty_mix_and_empty_workload_are_problems() {
        assert!(compile(&[]).is_err());
        let problems = compile(&[workload("a", 1, vec![])]).unwrap_err();
        assert_eq!(problems[0].path.to_string(), "workload[0].step");
    }
}

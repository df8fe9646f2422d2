//! The built-in workloads of the races a pool does not fix, compiled into ordinary steps
//! (prepared and described before the load like the user's) plus what the executor checks:
//!
//! - `session_state`: reads the session mark it finds (`stress.mark`, a custom setting) and
//!   leaves its own with `set_config(.., false)`, which is `SET`, not `SET LOCAL`: a mark of
//!   another task means the session's state leaked from one user of the connection to the next.
//! - `advisory_lock`: `pg_advisory_lock` on the operation's checkout, `pg_advisory_unlock` on a
//!   second checkout (the wrong way: the unlock returns false when it lands on another session,
//!   and the lock stays held by a pooled connection).
//! - `advisory_xact_lock`: `pg_advisory_xact_lock` inside the operation's transaction (the right
//!   way: released by COMMIT or ROLLBACK on the session that took it).
//!
//! The user's own steps run after the built-in ones (inside the lock, say); `@lock_key` is the
//! operation's lock key (from `seq()`: unique, so a leaked lock never blocks a later operation).

use std::collections::HashMap;

use super::{Compiler, Source, Step};
use crate::scenario::model::{Builtin, Param, StepSettings};
use crate::scenario::node::Path;

/// The session mark's setting.
pub(crate) const MARK: &str = "stress.mark";

/// What the built-in parts of one workload compiled to.
#[derive(Default)]
pub(super) struct Parts {
    /// Steps that run before the user's.
    pub(crate) before: Vec<Step>,
    /// `session_state`: the slot of the mark found.
    pub(crate) session_mark: Option<usize>,
    /// `advisory_lock`: the unlock step, run on a second checkout, and its result's slot.
    pub(crate) unlock: Option<(Step, usize)>,
}

fn step(sql: &str, params: &[&str], capture: &[&str]) -> StepSettings {
    StepSettings {
        sql: Some(sql.to_string()),
        params: params.iter().map(|p| Param::Expr(p.to_string())).collect(),
        capture: capture.iter().map(|c| c.to_string()).collect(),
        sleep: None,
    }
}

impl Compiler {
    /// The lock key of the advisory built-ins: a `let` of its own (`@lock_key`), drawn from a
    /// `seq()` counter of its own.
    pub(super) fn lock_key(
        &mut self,
        builtin: Option<Builtin>,
        lets: &mut Vec<Source>,
        names: &mut HashMap<String, usize>,
    ) {
        if matches!(
            builtin,
            Some(Builtin::AdvisoryLock | Builtin::AdvisoryXactLock)
        ) {
            self.seq_sites += 1;
            names.insert("lock_key".into(), lets.len());
            lets.push(Source::Seq(self.seq_sites - 1));
        }
    }

    /// Compiles the built-in steps of `builtin` (after `lock_key`).
    pub(super) fn builtin_parts(
        &mut self,
        builtin: Option<Builtin>,
        (name, path): (&str, &Path),
        names: &mut HashMap<String, usize>,
        slots: &mut usize,
    ) -> Parts {
        let at = path.clone().key("builtin");
        let mut parts = Parts::default();
        let sql = |c: &mut Compiler, s: StepSettings, names: &mut _, slots: &mut usize| {
            let text = s.sql.clone().unwrap_or_default();
            c.sql_step(&text, &s, at.clone(), (name, 0), names, slots)
        };
        match builtin {
            Some(Builtin::SessionState) => {
                let read = step(
                    &format!("SELECT coalesce(current_setting('{MARK}', true), '') AS stress_mark"),
                    &[],
                    &["stress_mark"],
                );
                parts.session_mark = Some(*slots);
                parts.before.push(sql(self, read, names, slots));
                let leave = step(
                    &format!("SELECT set_config('{MARK}', $1::bigint::text, false)"),
                    &["task()"],
                    &[],
                );
                parts.before.push(sql(self, leave, names, slots));
            }
            Some(Builtin::AdvisoryLock) => {
                let lock = step("SELECT pg_advisory_lock($1::bigint)", &["@lock_key"], &[]);
                parts.before.push(sql(self, lock, names, slots));
                let unlock = step(
                    "SELECT pg_advisory_unlock($1::bigint) AS stress_unlocked",
                    &["@lock_key"],
                    &["stress_unlocked"],
                );
                let slot = *slots;
                parts.unlock = Some((sql(self, unlock, names, slots), slot));
            }
            Some(Builtin::AdvisoryXactLock) => {
                let lock = step(
                    "SELECT pg_advisory_xact_lock($1::bigint)",
                    &["@lock_key"],
                    &[],
                );
                parts.before.push(sql(self, lock, names, slots));
            }
            Some(Builtin::Ledger) | None => {}
        }
        parts
    }
}

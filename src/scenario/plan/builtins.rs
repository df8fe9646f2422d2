//! The built-in workloads of the races a pool does not fix, compiled into ordinary steps
//! (prepared and described before the load like the user's) plus what the executor checks:
//!
//! - `session_state`: reads the session marks it finds and leaves its own, each naming its task:
//!   a custom setting (`stress.mark`, with `set_config(.., false)`, which is `SET`, not
//!   `SET LOCAL`), `search_path` (set the same way, with a schema name `stress_task_<task>`
//!   that never exists), a temporary table, a prepared statement (`PREPARE`) and a `LISTEN`
//!   channel (`stress_mark_<task>`, created by a `DO` block that first drops the other tasks').
//!   A mark of another task means the session's state leaked from one user of the connection to
//!   the next. `SET ROLE` is not among them: it needs roles, which are the cluster's, not the
//!   run's, and creating them takes a privilege a `[database] url` user may lack.
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

/// The session marks `session_state` reads, in the order of its read step's columns (each the
/// task numbers found, comma-separated, or empty).
pub(crate) const MARK_KINDS: [&str; 5] = [
    "setting",
    "search_path",
    "temporary table",
    "prepared statement",
    "listen",
];

/// The columns of [`READ_MARKS`], one per kind of [`MARK_KINDS`].
const MARK_COLUMNS: [&str; 5] = [
    "stress_mark",
    "stress_mark_search_path",
    "stress_mark_temp_table",
    "stress_mark_prepared",
    "stress_mark_listen",
];

/// Reads the marks; a name `stress_mark_<task>` gives its task from character 13.
const READ_MARKS: &str = "SELECT coalesce(current_setting('stress.mark', true), '') AS stress_mark, \
     coalesce(substring(current_setting('search_path') from 'stress_task_([0-9]+)'), '') AS stress_mark_search_path, \
     coalesce((SELECT string_agg(substring(relname from 13), ',') FROM pg_class \
       WHERE relnamespace = pg_my_temp_schema() AND relname ~ '^stress_mark_[0-9]+$'), '') AS stress_mark_temp_table, \
     coalesce((SELECT string_agg(substring(name from 13), ',') FROM pg_prepared_statements \
       WHERE name ~ '^stress_mark_[0-9]+$'), '') AS stress_mark_prepared, \
     coalesce((SELECT string_agg(substring(c from 13), ',') FROM pg_listening_channels() AS c \
       WHERE c ~ '^stress_mark_[0-9]+$'), '') AS stress_mark_listen";

/// Leaves the marks other than the setting, named after the task of the setting (just set by
/// the step before: a `DO` block takes no parameters), after dropping the other tasks'.
const LEAVE_MARKS: &str = "DO $$
DECLARE
  task text := current_setting('stress.mark', true);
  me text := 'stress_mark_' || task;
  other text;
BEGIN
  IF coalesce(task, '') = '' THEN RETURN; END IF;
  PERFORM set_config('search_path', format('\"$user\", public, %I', 'stress_task_' || task), false);
  -- A read-only transaction (a standby, a read_only fault) refuses CREATE and DROP, even of
  -- temporary tables: the other marks still count there.
  IF current_setting('transaction_read_only') = 'off' THEN
    FOR other IN SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema()
        AND relname ~ '^stress_mark_[0-9]+$' AND relname <> me LOOP
      EXECUTE format('DROP TABLE pg_temp.%I', other);
    END LOOP;
    EXECUTE format('CREATE TEMP TABLE IF NOT EXISTS %I ()', me);
  END IF;
  FOR other IN SELECT name FROM pg_prepared_statements WHERE name ~ '^stress_mark_[0-9]+$' LOOP
    EXECUTE format('DEALLOCATE %I', other);
  END LOOP;
  EXECUTE format('PREPARE %I AS SELECT 1', me);
  IF NOT pg_is_in_recovery() THEN -- a standby refuses LISTEN
    UNLISTEN *;
    EXECUTE format('LISTEN %I', me);
  END IF;
END $$";

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
                let read = step(READ_MARKS, &[], &MARK_COLUMNS);
                parts.session_mark = Some(*slots);
                parts.before.push(sql(self, read, names, slots));
                let leave = step(
                    &format!("SELECT set_config('{MARK}', $1::bigint::text, false)"),
                    &["task()"],
                    &[],
                );
                parts.before.push(sql(self, leave, names, slots));
                parts
                    .before
                    .push(sql(self, step(LEAVE_MARKS, &[], &[]), names, slots));
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

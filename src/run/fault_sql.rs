//! `[[fault]] kind = "sql"`: a schema change (or any statements) under load, run on a connection
//! of the harness's own, named as the admin connection (never one of the run's backends).
//!
//! Without `for` each statement runs on its own (autocommit: `VACUUM FULL` and `ALTER TABLE`
//! work); with `for` they run in one transaction held open that long after the last one, so a
//! `LOCK TABLE ... IN ACCESS EXCLUSIVE MODE` blocks the load for `for`. The end of the load cuts
//! a hold short; the transaction is committed either way.

use std::time::Instant;

use tokio_postgres::Client;

use super::fault_context::{Context, Stop};
use crate::record::errors::describe;
use crate::scenario::model::FaultSettings;

pub(super) async fn run(cx: &Context, f: &FaultSettings, stop: &mut Stop) -> String {
    let statements = f.sql.clone().unwrap_or_default();
    let client = match cx.admin.open_session().await {
        Ok(c) => c,
        Err(e) => return format!("not fired: {e}"),
    };
    let hold = f.for_.filter(|d| !d.is_zero());
    let began = Instant::now();
    if hold.is_some()
        && let Err(e) = client.batch_execute("BEGIN").await
    {
        return format!("not fired: BEGIN failed: {}", describe(&e));
    }
    let ran = match stop.race(run_all(&client, &statements)).await {
        None => return "not fired: the load ended while the statements waited".into(),
        Some(ran) => ran,
    };
    let took = began.elapsed().as_millis();
    let tags = tags(&statements);
    if let Err(failure) = ran {
        // A failed statement aborted the transaction: the ROLLBACK ends it.
        let _ = client.batch_execute("ROLLBACK").await;
        return failure;
    }
    let Some(hold) = hold else {
        return format!(
            "ran {} statement(s) ({tags}) in {took} ms",
            statements.len()
        );
    };
    let held = Instant::now();
    let cut = stop.hold_until(held + hold).await;
    let commit = client.batch_execute("COMMIT").await;
    let mut detail = format!(
        "ran {} statement(s) ({tags}) in {took} ms in a transaction held {} ms more",
        statements.len(),
        held.elapsed().as_millis()
    );
    if cut {
        detail.push_str(", cut short by the end of the load");
    }
    if let Err(e) = commit {
        detail.push_str(&format!("; COMMIT failed: {}", describe(&e)));
    }
    detail
}

/// Runs the statements in order; the first failure says which and why.
async fn run_all(client: &Client, statements: &[String]) -> Result<(), String> {
    for (i, sql) in statements.iter().enumerate() {
        if let Err(e) = client.batch_execute(sql).await {
            return Err(format!(
                "statement {} of {} ({}) failed: {}",
                i + 1,
                statements.len(),
                tag(sql),
                describe(&e)
            ));
        }
    }
    Ok(())
}

/// The statements' first two words (`ALTER TABLE`, `LOCK TABLE`): the detail never repeats
/// their text, which may hold a secret (`ALTER ROLE ... PASSWORD`).
fn tags(statements: &[String]) -> String {
    statements
        .iter()
        .map(|s| tag(s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tag(sql: &str) -> String {
    sql.split_whitespace()
        .take(2)
        .map(|w| w.trim_end_matches(';').to_uppercase())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_the_commands_not_their_text() {
        let s = vec![
            "alter table t add column c int".to_string(),
            "ALTER ROLE app PASSWORD 'secret'".to_string(),
            "vacuum;".to_string(),
        ];
        assert_eq!(tags(&s), "ALTER TABLE, ALTER ROLE, VACUUM");
    }
}

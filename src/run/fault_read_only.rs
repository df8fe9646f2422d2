//! `[[fault]] kind = "read_only"`: for `for`, the server refuses writes, as a former primary does
//! after a failover: `ALTER SYSTEM SET default_transaction_read_only = on` and
//! `pg_reload_conf()`, with this run's sessions terminated too when `terminate = true`; then
//! `ALTER SYSTEM RESET` and another reload.
//!
//! The setting is reverted whatever happens: when the hold ends, when the load ends first (an
//! interrupt ends the load), and when terminating failed. Only a harness killed outright leaves
//! it set: on the embedded server the cluster is thrown away with it, but on a `[database] url`
//! the server stays read-only until someone runs `ALTER SYSTEM RESET
//! default_transaction_read_only; SELECT pg_reload_conf();`, which the fault's detail says.
//!
//! A session that did not set the parameter itself reads the reloaded value before its next
//! statement, so pooled connections start refusing writes at once, and write again at once
//! after the revert (a transaction begun before the reload stays read-write).

use std::time::Instant;

use tokio_postgres::Client;

use super::fault_context::{Context, Signal, Stop, signal_backends};
use crate::record::errors::describe;
use crate::scenario::model::FaultSettings;

const SET: &str = "ALTER SYSTEM SET default_transaction_read_only = on";
const RESET: &str = "ALTER SYSTEM RESET default_transaction_read_only";

pub(super) async fn run(
    cx: &Context,
    f: &FaultSettings,
    rng: &mut fastrand::Rng,
    stop: &mut Stop,
) -> String {
    let client = match cx.admin.client().await {
        Ok(c) => c,
        Err(e) => return format!("not fired: {e}"),
    };
    match client
        .query_one(
            "SELECT current_setting('default_transaction_read_only')",
            &[],
        )
        .await
    {
        Ok(row) if row.get::<_, String>(0) == "on" => {
            return "not fired: the server is read-only already (default_transaction_read_only = on)"
                .into();
        }
        Ok(_) => {}
        Err(e) => return format!("not fired: {}", describe(&e)),
    }
    if let Err(e) = set(&client, SET).await {
        // ALTER SYSTEM may have succeeded before the reload failed.
        let _ = set(&client, RESET).await;
        return format!("not fired: {e}");
    }
    let began = Instant::now();
    let mut detail =
        "the server refuses writes (ALTER SYSTEM SET default_transaction_read_only = on, reloaded)"
            .to_string();
    if f.terminate.unwrap_or(false) {
        let terminated = signal_backends(cx, 1.0, rng, Signal::Terminate).await;
        detail.push_str(&format!("; {terminated}"));
    }
    let cut = stop.hold_until(began + f.for_.unwrap_or_default()).await;
    detail.push_str(&format!(
        "; writable again after {} ms",
        began.elapsed().as_millis()
    ));
    if cut {
        detail.push_str(" (cut short by the end of the load)");
    }
    if let Err(e) = revert(cx).await {
        detail.push_str(&format!(
            "; COULD NOT REVERT ({e}): the server stays read-only until `{RESET}; SELECT pg_reload_conf();`"
        ));
    } else if cx.server.is_none() {
        detail.push_str("; this changed the configuration of the [database] url server, now reset");
    }
    detail
}

/// `statement`, then a reload.
async fn set(client: &Client, statement: &str) -> Result<(), String> {
    client
        .batch_execute(statement)
        .await
        .map_err(|e| format!("{statement}: {}", describe(&e)))?;
    client
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .map_err(|e| format!("pg_reload_conf(): {}", describe(&e)))
}

/// The reset, tried three times (the admin connection is reopened if it died).
async fn revert(cx: &Context) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..3 {
        match cx.admin.client().await {
            Ok(client) => match set(&client, RESET).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(last)
}

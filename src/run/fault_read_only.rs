//! `[[fault]] kind = "read_only"`: for `for`, the server refuses writes, as a former primary does
//! after a failover: `ALTER SYSTEM SET default_transaction_read_only = on` and
//! `pg_reload_conf()`, with this run's sessions terminated too when `terminate = true`.
//!
//! When `for` ends, the failover is over the way a real one ends: NEW sessions reach a writable
//! server, and sessions opened before keep pointing at the demoted one. `ALTER DATABASE <this
//! database> SET default_transaction_read_only = off` does exactly that: a per-database setting
//! outranks `postgresql.auto.conf` in the sessions that start after it, while the sessions
//! already open keep the reloaded `on` until they are closed. So a pool that never replaces its
//! connections keeps failing after the fault, and one with `max_lifetime` stops once its
//! connections were replaced; the diagnosis measures how long that took.
//!
//! Both settings are reverted at the end of the load ([`end_of_run`], `ALTER SYSTEM RESET` and
//! a reload, then `ALTER DATABASE … RESET`), before the next fault of the kind, when the load
//! ends during the hold (an interrupt ends the load), and when terminating failed. Until then,
//! new sessions of OTHER databases of the server are read-only too. Only a harness killed
//! outright leaves the settings: on the embedded server the cluster is thrown away with it, but
//! on a `[database] url` the server stays read-only until someone runs the statements that the
//! fault's detail gives.

use std::time::Instant;

use tokio_postgres::Client;

use super::fault_context::{Context, Signal, Stop, signal_backends};
use crate::record::errors::describe;
use crate::scenario::model::FaultSettings;

const SET: &str = "ALTER SYSTEM SET default_transaction_read_only = on";
const RESET: &str = "ALTER SYSTEM RESET default_transaction_read_only";
/// Run in a `DO` block: the database is this session's (`current_database()`), quoted by `%I`.
const NEW_SESSIONS_WRITABLE: &str = "DO $$ BEGIN EXECUTE format(\
     'ALTER DATABASE %I SET default_transaction_read_only = off', current_database()); END $$";
const DATABASE_RESET: &str = "DO $$ BEGIN EXECUTE format(\
     'ALTER DATABASE %I RESET default_transaction_read_only', current_database()); END $$";
/// Whether `default_transaction_read_only` is set by `ALTER SYSTEM` (postgresql.auto.conf) or
/// by `ALTER DATABASE` for this database (any role).
const SET_ALREADY: &str = "SELECT (SELECT count(*) FROM pg_file_settings \
     WHERE name = 'default_transaction_read_only') + (SELECT count(*) FROM pg_db_role_setting s \
     JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database() \
     AND array_to_string(s.setconfig, ',') LIKE '%default_transaction_read_only%')";
/// What to run by hand when the revert failed.
const BY_HAND: &str = "ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf(); \
     ALTER DATABASE <database> RESET default_transaction_read_only;";

/// Whether a fired `read_only` left the old sessions read-only, to be reverted by
/// [`end_of_run`] (or by the next `read_only`, before it fires).
#[derive(Default)]
pub(super) struct Lingering(bool);

pub(super) async fn run(
    cx: &Context,
    f: &FaultSettings,
    rng: &mut fastrand::Rng,
    stop: &mut Stop,
    lingering: &mut Lingering,
) -> String {
    if let Err(why) = go_read_only(cx, lingering).await {
        return format!("not fired: {why}");
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
    if !cut {
        match new_sessions_writable(cx).await {
            Ok(()) => {
                lingering.0 = true;
                detail.push_str(&format!(
                    "; new sessions writable again after {} ms (ALTER DATABASE SET \
                     default_transaction_read_only = off); sessions opened before stay read-only, \
                     as connections to a demoted primary, until the end of the load",
                    began.elapsed().as_millis()
                ));
                return detail;
            }
            Err(e) => detail.push_str(&format!("; new sessions could not be made writable ({e})")),
        }
    }
    detail.push_str(&format!(
        "; writable again after {} ms",
        began.elapsed().as_millis()
    ));
    if cut {
        detail.push_str(" (cut short by the end of the load)");
    }
    detail.push_str(&reverted(cx, revert(cx).await));
    detail
}

/// Reverts what the previous `read_only` left, checks that the server is writable, and makes it
/// read-only; why not when it could not.
async fn go_read_only(cx: &Context, lingering: &mut Lingering) -> Result<(), String> {
    if lingering.0 {
        revert(cx)
            .await
            .map_err(|e| format!("the previous read_only could not be reverted ({e})"))?;
        lingering.0 = false;
    }
    let client = cx.admin.client().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT current_setting('default_transaction_read_only')",
            &[],
        )
        .await
        .map_err(|e| describe(&e))?;
    if row.get::<_, String>(0) == "on" {
        return Err("the server is read-only already (default_transaction_read_only = on)".into());
    }
    // The fault resets both settings when it ends: it must not erase one somebody else made.
    let made: i64 = client
        .query_one(SET_ALREADY, &[])
        .await
        .map_err(|e| describe(&e))?
        .get(0);
    if made > 0 {
        return Err(
            "default_transaction_read_only is set already (ALTER SYSTEM or ALTER DATABASE): \
             the fault's revert would erase that setting"
                .into(),
        );
    }
    if let Err(e) = set(&client, SET).await {
        // ALTER SYSTEM may have succeeded before the reload failed.
        let _ = set(&client, RESET).await;
        return Err(e);
    }
    Ok(())
}

/// At the end of the load: reverts what a `read_only` left for the old sessions; what it did,
/// to add to that fault's detail.
pub(super) async fn end_of_run(cx: &Context, lingering: Lingering) -> Option<String> {
    if !lingering.0 {
        return None;
    }
    Some(format!(
        "; at the end of the load, all sessions writable again{}",
        reverted(cx, revert(cx).await)
    ))
}

fn reverted(cx: &Context, result: Result<(), String>) -> String {
    match result {
        Err(e) => format!(
            "; COULD NOT REVERT ({e}): the server stays read-only until `{BY_HAND}` is run by hand"
        ),
        Ok(()) if cx.server.is_none() => {
            "; this changed the configuration of the [database] url server, now reset".into()
        }
        Ok(()) => String::new(),
    }
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

/// `statement` (an `ALTER DATABASE`, which a read-only transaction refuses) on a session of its
/// own that is writable whatever the server's default.
async fn on_own_session(cx: &Context, statement: &str) -> Result<(), String> {
    let session = cx.admin.open_session().await.map_err(|e| e.to_string())?;
    session
        .batch_execute("SET default_transaction_read_only = off")
        .await
        .map_err(|e| describe(&e))?;
    session
        .batch_execute(statement)
        .await
        .map_err(|e| format!("ALTER DATABASE: {}", describe(&e)))
}

async fn new_sessions_writable(cx: &Context) -> Result<(), String> {
    on_own_session(cx, NEW_SESSIONS_WRITABLE).await
}

/// Both resets, each tried three times (the admin connection is reopened if it died).
async fn revert(cx: &Context) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..3 {
        let system = match cx.admin.client().await {
            Ok(client) => set(&client, RESET).await,
            Err(e) => Err(e.to_string()),
        };
        match system {
            Ok(()) => match on_own_session(cx, DATABASE_RESET).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            },
            Err(e) => last = e,
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(last)
}

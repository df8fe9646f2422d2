//! The `restart_pooler` fault: `[database.pgbouncer]` stops (`graceful`: SIGINT, PgBouncer
//! pauses so in-flight transactions finish, then exits; `immediate`: every client and server
//! connection cut at once, SIGTERM before PgBouncer 1.23 and SIGQUIT from 1.23), stays down for `down_for`, and starts again on the same
//! port: what a deploy or a crash of the pooler does to the clients behind it.

use std::time::Instant;

use super::fault_context::Context;
use crate::database::PoolerStop;
use crate::scenario::faults::DEFAULT_DOWN_FOR;
use crate::scenario::model::{FaultSettings, RestartMode};

pub(super) async fn fire(cx: &Context, f: &FaultSettings) -> String {
    let Some(pooler) = cx.pooler.clone() else {
        return "not fired: no [database.pgbouncer] to restart".into();
    };
    let (mode, word) = match f.mode {
        Some(RestartMode::Immediate) => (PoolerStop::Immediate, "immediate"),
        _ => (PoolerStop::Graceful, "graceful"),
    };
    let down_for = f.down_for.unwrap_or(DEFAULT_DOWN_FOR);
    let stopping = pooler.clone();
    let began = Instant::now();
    let stopped =
        tokio::task::spawn_blocking(move || stopping.lock().expect("pooler lock").stop(mode)).await;
    if stopped.is_err() {
        return "PgBouncer could not be stopped".into();
    }
    let stop_ms = began.elapsed().as_millis();
    tokio::time::sleep(down_for).await;
    let began = Instant::now();
    let started =
        tokio::task::spawn_blocking(move || pooler.lock().expect("pooler lock").restart()).await;
    match started {
        Ok(Ok(())) => format!(
            "PgBouncer stopped ({word}, in {stop_ms} ms), down for {}, started again in {} ms",
            humantime::format_duration(down_for),
            began.elapsed().as_millis()
        ),
        Ok(Err(e)) => format!("PgBouncer stopped, but could not start again: {e}"),
        Err(_) => "PgBouncer stopped, but could not start again".into(),
    }
}

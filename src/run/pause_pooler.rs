//! The `pause_pooler` fault: PgBouncer's `PAUSE` (it waits for the server connections in use
//! to be released, closes them, and queues every client's next query) for `for`, then
//! `RESUME`. `RESUME` goes over a second console connection: in session mode `PAUSE` waits for
//! clients to disconnect, which a pool never does, and its connection stays busy until then.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fault_context::Context;
use super::pooler::PoolerConsole;
use crate::scenario::faults::DEFAULT_DOWN_FOR;
use crate::scenario::model::FaultSettings;

pub(super) async fn fire(cx: &Context, f: &FaultSettings) -> String {
    let Some(pooler) = cx.pooler.as_ref() else {
        return "not fired: no [database.pgbouncer] to pause".into();
    };
    let (pauser, resumer) = {
        let p = pooler.lock().expect("pooler lock");
        (
            Arc::new(PoolerConsole::new(&p, &cx.run_id)),
            PoolerConsole::new(&p, &cx.run_id),
        )
    };
    let length = f.for_.unwrap_or(DEFAULT_DOWN_FOR);
    let began = Instant::now();
    let pausing = tokio::spawn(async move { pauser.run("PAUSE").await.map(|_| began.elapsed()) });
    tokio::time::sleep(length).await;
    let resumed = resumer.run("RESUME").await;
    let paused = match pausing.is_finished() {
        true => pausing.await.ok(),
        false => {
            pausing.abort();
            None
        }
    };
    describe(length, paused, resumed)
}

fn describe(
    length: Duration,
    paused: Option<Result<Duration, String>>,
    resumed: Result<Vec<std::collections::HashMap<String, String>>, String>,
) -> String {
    let pause = match paused {
        Some(Ok(took)) => format!("PAUSE took effect after {} ms", took.as_millis()),
        Some(Err(e)) => return format!("not fired: {e}"),
        None => "PAUSE was still waiting for server connections in use".to_string(),
    };
    match resumed {
        Ok(_) => format!(
            "paused PgBouncer for {} ({pause}), then RESUME",
            humantime::format_duration(length)
        ),
        Err(e) => format!("paused PgBouncer ({pause}), but RESUME failed: {e}"),
    }
}

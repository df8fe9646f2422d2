//! `cancel_queries`: `pg_cancel_backend` on a fraction of this run's active backends, each
//! request aimed at the statement in flight on its connection (see `access/cancels.rs`), so that
//! a request that lands on the next statement is counted as misdirected.
//!
//! Without `guard` the requests go out as an application's would: the statement may end, and
//! the connection's next one start, between the choice and the signal. With `guard = true` no
//! statement starts on a targeted connection until its request is delivered, and a request
//! whose statement already ended is not sent (pgjdbc's fix).

use tokio_postgres::Client;

use super::fault_context::Context;
use crate::access::cancels::StatementTrack;
use crate::record::errors::describe;
use crate::scenario::model::FaultSettings;

/// One of this run's active backends.
struct Backend {
    pid: i32,
    /// Its connection's statements, when it is one of this variant's open connections.
    track: Option<std::sync::Arc<StatementTrack>>,
}

pub(super) async fn cancel(cx: &Context, f: &FaultSettings, rng: &mut fastrand::Rng) -> String {
    let client = match cx.admin.client().await {
        Ok(c) => c,
        Err(e) => return format!("could not reach the server: {e}"),
    };
    let mut chosen = match active_backends(cx, &client).await {
        Ok(b) => b,
        Err(e) => return e,
    };
    let active = chosen.len();
    let wanted = ((active as f64) * f.fraction()).ceil() as usize;
    rng.shuffle(&mut chosen);
    chosen.truncate(wanted.min(active));
    if f.guard.unwrap_or(false) {
        return guarded(&client, &chosen, active).await;
    }
    for b in &chosen {
        if let Some(t) = &b.track {
            t.aim();
        }
    }
    let pids: Vec<i32> = chosen.iter().map(|b| b.pid).collect();
    let sql = "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM unnest($1::int[]) AS pid";
    match client.query_one(sql, &[&pids]).await {
        Ok(row) => format!(
            "cancelled the query of {} of {active} active backend(s)",
            row.get::<_, i64>(0)
        ),
        Err(e) => format!("could not signal the backends: {}", describe(&e)),
    }
}

async fn active_backends(cx: &Context, client: &Client) -> Result<Vec<Backend>, String> {
    let query = "SELECT pid, application_name FROM pg_stat_activity \
                 WHERE application_name LIKE $1 AND application_name <> $2 \
                 AND pid <> pg_backend_pid() AND state = 'active'";
    let rows = client
        .query(query, &[&cx.pattern, &cx.admin.name])
        .await
        .map_err(|e| format!("could not list this run's backends: {}", describe(&e)))?;
    let prefix = cx.load.access.connector.application_prefix();
    Ok(rows
        .iter()
        .map(|r| {
            let name: String = r.get(1);
            let serial = name.strip_prefix(&prefix).and_then(|n| n.parse().ok());
            Backend {
                pid: r.get(0),
                track: serial.and_then(|s| cx.gauges.cancels.get(s)),
            }
        })
        .collect())
}

/// One request at a time, each sent while its connection's next statement is held back.
async fn guarded(client: &Client, chosen: &[Backend], active: usize) -> String {
    let (mut sent, mut ended, mut failed) = (0u64, 0u64, None);
    for b in chosen {
        if b.track.as_ref().is_some_and(|t| t.block().is_none()) {
            ended += 1;
            continue;
        }
        let done = client
            .query_one("SELECT pg_cancel_backend($1)", &[&b.pid])
            .await;
        if let Some(t) = &b.track {
            t.release();
        }
        match done {
            Ok(row) if row.get::<_, bool>(0) => sent += 1,
            Ok(_) => {}
            Err(e) => failed = Some(describe(&e)),
        }
    }
    let mut detail = format!(
        "cancelled the query of {sent} of {active} active backend(s), guarded: {ended} request(s) \
         not sent because their statement had ended"
    );
    if let Some(e) = failed {
        detail.push_str(&format!("; could not signal some: {e}"));
    }
    detail
}

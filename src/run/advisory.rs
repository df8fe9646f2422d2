//! `anomalies.advisory_locks_held`: the advisory locks this run's backends still hold when the
//! load has ended, read from `pg_locks` before the connections are closed (closing them would
//! release the locks). Only this run's backends count (`application_name` `stress:<run id>:…`,
//! the admin connection left out), never another client's.

use super::admin::Admin;

/// How many advisory locks (granted, of any mode) this run's backends hold; `None` when the
/// server could not be asked (the report then says it was not measured).
pub(crate) async fn locks_held(admin: &Admin, pattern: &str) -> Option<u64> {
    let client = admin.client().await.ok()?;
    let sql = "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
               WHERE l.locktype = 'advisory' AND l.granted \
               AND a.application_name LIKE $1 AND a.application_name <> $2";
    let row = client.query_one(sql, &[&pattern, &admin.name]).await.ok()?;
    u64::try_from(row.get::<_, i64>(0)).ok()
}

//! What the errors of a pooler in between mean: `pooler_error` by PgBouncer's reason, and
//! `prepared_statement_mismatch` (named prepared statements under transaction pooling).

use super::Context;
use crate::record::errors::ErrorClass;
use crate::record::pooler;
use crate::report::model::VariantReport;
use crate::scenario::model::{PoolMode, QueryMode};

/// `pooler_error`: each reason with its count and what it means.
pub(super) fn pooler_error(r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    let Some(stats) = r.errors.get(&ErrorClass::PoolerError) else {
        return (String::new(), String::new());
    };
    let mut reasons: Vec<_> = stats.reasons.iter().collect();
    reasons.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
    let detail = reasons
        .iter()
        .map(|(key, n)| format!("{key} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let detail = match detail.is_empty() {
        true => String::new(),
        false => format!("By reason: {detail}."),
    };
    let mut advice: Vec<String> = reasons
        .iter()
        .filter_map(|(key, _)| {
            let meaning = pooler::meaning(key);
            (!meaning.is_empty()).then(|| format!("{key}: {meaning}."))
        })
        .collect();
    if let (Some(pgb), true) = (
        &cx.settings.database.pgbouncer,
        stats.reasons.contains_key("max_client_conn"),
    ) {
        advice.push(format!(
            "This variant opens up to {} client connection(s) against max_client_conn = {}.",
            client_connections(cx),
            pgb.max_client_conn
                .map_or("100 (default)".into(), |n| n.to_string())
        ));
    }
    if advice.is_empty() {
        advice
            .push("The pooler in between refused the operation: check its limits and mode.".into());
    }
    (detail, advice.join(" "))
}

/// Client connections the access mode may open at once (as `cheapest` counts them).
fn client_connections(cx: &Context<'_>) -> u64 {
    use crate::scenario::model::AccessMode;
    let s = cx.settings;
    match s.access.mode {
        AccessMode::Pool => u64::from(s.access.instances) * u64::from(s.pool.max_size),
        AccessMode::Shared => u64::from(s.access.instances),
        _ => u64::from(s.load.tasks),
    }
}

/// `prepared_statement_mismatch`: why statements went missing, and the three ways out.
pub(super) fn prepared_mismatch(cx: &Context<'_>) -> (String, String) {
    let s = cx.settings;
    let mode = s.database.pgbouncer.as_ref().map(|p| p.pool_mode);
    let detail = match (mode, s.access.query_mode) {
        (Some(m @ (PoolMode::Transaction | PoolMode::Statement)), QueryMode::Prepared) => format!(
            "PgBouncer runs pool_mode = \"{}\" and the workload prepares named statements \
             (query_mode = \"prepared\"): a statement prepared in one transaction is on one server \
             connection, and the next transaction may get another one, where it does not exist \
             (26000) or where another client's statement of that name does (42P05): asyncpg's \
             `prepared statement \"__asyncpg_stmt_1__\" does not exist`.",
            m.as_str()
        ),
        _ => "Named prepared statements were missing on the server connection (a pooler in \
              transaction mode, or DEALLOCATE)."
            .to_string(),
    };
    let advice = "Use unnamed statements behind transaction pooling (query_mode = \"extended\"; \
                  asyncpg statement_cache_size=0, psycopg prepare_threshold=None), or PgBouncer \
                  1.21+ with max_prepared_statements > 0, or pool_mode = \"session\". Any other \
                  session state (SET, advisory locks, temporary tables) is lost between \
                  transactions the same way."
        .to_string();
    (detail, advice)
}

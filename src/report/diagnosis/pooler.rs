//! What the errors of a pooler in between mean: `pooler_error` by PgBouncer's reason, and
//! `prepared_statement_mismatch` (named prepared statements under transaction pooling).

use super::Context;
use crate::record::errors::ErrorClass;
use crate::record::pooler;
use crate::report::model::{Finding, VariantReport};
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
        // Review of 2026-12-03: the console connection was left out of the count.
        advice.push(format!(
            "This variant opens up to {} client connection(s), and stress 1 more to PgBouncer's \
             admin console (the timeline's pool samples), against max_client_conn = {}.",
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
        AccessMode::Pool => {
            u64::from(s.access.instances) * u64::from(s.pool.size_limit(s.load.tasks))
        }
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

/// `pooler.session_state`: `access.session_settings` are SET once per client connection, and
/// under transaction or statement pooling that SET stays on whichever server connection ran
/// it: other clients inherit it, and this client's later transactions run without it.
pub(super) fn session_state(r: &VariantReport, cx: &Context<'_>) -> Option<Finding> {
    let s = cx.settings;
    let mode = s.database.pgbouncer.as_ref()?.pool_mode;
    if mode == PoolMode::Session || s.access.session_settings.is_empty() {
        return None;
    }
    let names: Vec<&str> = s
        .access
        .session_settings
        .keys()
        .map(String::as_str)
        .collect();
    let servers = r.pooler.as_ref().map_or(0, |p| p.peak_sv_active);
    Some(Finding {
        class: "pooler.session_state".into(),
        finding: format!(
            "access.session_settings ({}) are SET once on each client connection, but PgBouncer \
             runs pool_mode = \"{}\": the SET stayed on the server connection that ran it (up to \
             {servers} of them were in use at once), so other clients' transactions inherited \
             it and this client's later transactions ran without it.",
            names.join(", "),
            mode.as_str()
        ),
        advice: "Set session state per transaction (SET LOCAL inside it), per role or database \
                 (ALTER ROLE ... SET), or in PgBouncer's connect_query; or use pool_mode = \
                 \"session\"."
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn finding(toml: &str) -> Option<Finding> {
        let s = fixtures::settings(toml);
        let cx = Context {
            settings: &s,
            max_connections: 100,
            reserved_connections: 3,
            superuser: true,
        };
        let r = fixtures::variant("v", 10, 0, serde_json::json!({}));
        session_state(&r, &cx)
    }

    #[test]
    fn session_settings_under_transaction_pooling_are_a_finding_and_not_under_session() {
        let set = "[access]\nsession_settings = { statement_timeout = \"5s\" }\n";
        let f = finding(&format!(
            "{set}[database.pgbouncer]\npool_mode = \"transaction\"\n"
        ))
        .expect("a finding");
        assert_eq!(f.class, "pooler.session_state");
        assert!(f.finding.contains("statement_timeout") && f.advice.contains("SET LOCAL"));
        assert!(
            finding(&format!(
                "{set}[database.pgbouncer]\npool_mode = \"session\"\n"
            ))
            .is_none()
        );
        assert!(finding("[database.pgbouncer]\npool_mode = \"transaction\"\n").is_none());
        assert!(finding(set).is_none());
    }
}

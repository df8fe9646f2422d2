//! Preparing every statement once before the load, on a separate connection: a statement the
//! server rejects, a parameter count that does not match, or a captured column that does not
//! exist is reported before any task starts, naming the workload and step.

use std::fmt;

use tokio_postgres::Client;

use crate::access::capture;
use crate::record::errors::describe;
use crate::scenario::plan::{Plan, Step};
use crate::value::{StatementInfo, Template};

/// A statement that cannot run, named by workload and step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrepareError {
    pub(crate) workload: String,
    /// 0-based index of the step.
    pub(crate) step: usize,
    pub(crate) message: String,
}

impl fmt::Display for PrepareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "workload `{}`, step {} (workload.step[{}]): {}",
            self.workload,
            self.step + 1,
            self.step,
            self.message
        )
    }
}

impl std::error::Error for PrepareError {}

/// Prepares each statement of the plan and checks each step against it.
pub(crate) async fn describe_all(
    client: &Client,
    plan: &Plan,
) -> Result<Vec<StatementInfo>, PrepareError> {
    let mut infos = Vec::with_capacity(plan.statements.len());
    for spec in &plan.statements {
        let fail = |message: String| PrepareError {
            workload: spec.workload.clone(),
            step: spec.step,
            message,
        };
        let statement = client.prepare(&spec.sql).await.map_err(|e| {
            let detail = match e.as_db_error() {
                Some(db) => format!("{} ({})", db.message(), db.code().code()),
                None => describe(&e),
            };
            fail(format!(
                "the server rejects `{}`: {detail}",
                spec.sql.trim()
            ))
        })?;
        let columns: Vec<String> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        for name in &spec.captured {
            let Some(column) = statement.columns().iter().find(|c| c.name() == name) else {
                return Err(fail(format!(
                    "captures `{name}`, but the statement returns {}",
                    if columns.is_empty() {
                        "no columns".to_string()
                    } else {
                        format!("only {}", columns.join(", "))
                    }
                )));
            };
            if !capture::supported(column.type_()) {
                return Err(fail(format!(
                    "cannot capture `{name}` of type {}: cast it in SQL (`{name}::text` or `{name}::bigint`)",
                    column.type_()
                )));
            }
        }
        infos.push(StatementInfo {
            sql: spec.sql.clone(),
            param_types: statement.params().to_vec(),
            template: Template::new(&spec.sql),
        });
    }
    check_parameter_counts(plan, &infos)?;
    Ok(infos)
}

/// Describes one statement of the harness's own (the ledger insert).
pub async fn describe_one(client: &Client, sql: &str) -> Result<StatementInfo, String> {
    let statement = client.prepare(sql).await.map_err(|e| describe(&e))?;
    Ok(StatementInfo {
        sql: sql.to_string(),
        param_types: statement.params().to_vec(),
        template: Template::new(sql),
    })
}

fn check_parameter_counts(plan: &Plan, infos: &[StatementInfo]) -> Result<(), PrepareError> {
    for w in &plan.workloads {
        for (i, step) in w.steps.iter().enumerate() {
            if let Step::Sql {
                statement, params, ..
            } = step
            {
                let wanted = infos[*statement].param_types.len();
                if params.len() != wanted {
                    return Err(PrepareError {
                        workload: w.name.clone(),
                        step: i,
                        message: format!(
                            "the statement takes {wanted} parameter(s), the step gives {}",
                            params.len()
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

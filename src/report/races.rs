//! The report's parts for the races a pool does not fix (issue 15): what the operations that
//! `cancel_tasks` cancelled carried back to the pool ([`CancelledTasks`]). Filling them in and
//! merging several machines' are in `race_sections.rs`, above the report model that holds them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::access::races::RaceCounts;

/// Operations whose task was cancelled (their future dropped) by a `cancel_tasks` fault, and
/// what their connections carried back to the pool. What the next users of those connections
/// met is in `isolation.after_dirty_return`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CancelledTasks {
    /// Operations cancelled (also counted in `errors.task_cancelled`).
    pub cancelled: u64,
    /// Of those, the ones whose connection went back inside an open transaction.
    pub in_transaction: u64,
    /// Of those, the ones whose connection went back with a statement in flight (its result
    /// unread).
    pub statement_in_flight: u64,
}

impl CancelledTasks {
    pub(crate) fn from_counts(c: &RaceCounts) -> CancelledTasks {
        CancelledTasks {
            cancelled: c.cancelled,
            in_transaction: c.cancelled_in_transaction,
            statement_in_flight: c.cancelled_statement_in_flight,
        }
    }
}

//! The acknowledged-writes check, in the spirit of Jepsen's histories.
//!
//! A verified workload writes a unique id into the harness's ledger table inside its
//! transaction. Each id's fate as the client saw it is kept: acknowledged (COMMIT succeeded),
//! failed (the operation failed, its transaction rolled back as far as the client knows) or
//! indeterminate (the connection died, or the client gave up, while COMMIT was in flight).
//! After the load the ledger is read back: an acknowledged id that is missing is a lost write,
//! a failed id that is present is a phantom write, and each indeterminate id resolves one way
//! or the other.
//!
//! Acknowledged ids are the common case and are only counted; the failed and indeterminate
//! ones are kept in compressed bitmaps (roaring), so memory stays small for millions of writes.

use roaring::RoaringTreemap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the client saw one write end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteOutcome {
    Acknowledged,
    Failed,
    Indeterminate,
}

/// The id of task `task`'s `n`-th write: unique within a variant.
pub(crate) fn write_id(task: usize, n: u64) -> i64 {
    (((task as u64) << 32) | (n & 0xFFFF_FFFF)) as i64
}

/// Every write's outcome as the client saw it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct WriteBook {
    pub(crate) acknowledged: u64,
    failed: RoaringTreemap,
    indeterminate: RoaringTreemap,
}

/// The acknowledged-writes check: the ledger read back against what the client was told.
// What reading the ledger back found is the report's `writes` section as it is.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Writes {
    /// COMMIT succeeded.
    pub acknowledged: u64,
    /// The operation failed (its transaction rolled back, as far as the client knew).
    pub(crate) failed: u64,
    /// The connection died, or the client gave up, while COMMIT was in flight.
    pub indeterminate: u64,
    /// Ids found in the ledger.
    pub present: u64,
    /// Acknowledged but absent.
    pub lost: u64,
    /// Reported failed but present.
    pub phantom: u64,
    /// Indeterminate writes that turned out committed.
    pub indeterminate_committed: u64,
    /// Indeterminate writes that turned out rolled back.
    pub indeterminate_rolled_back: u64,
}

impl Writes {
    /// Adds another check's counts (another machine's ledger).
    pub(crate) fn merge(&mut self, o: &Writes) {
        self.acknowledged += o.acknowledged;
        self.failed += o.failed;
        self.indeterminate += o.indeterminate;
        self.present += o.present;
        self.lost += o.lost;
        self.phantom += o.phantom;
        self.indeterminate_committed += o.indeterminate_committed;
        self.indeterminate_rolled_back += o.indeterminate_rolled_back;
    }
}

impl WriteBook {
    pub(crate) fn note(&mut self, id: i64, outcome: WriteOutcome) {
        let id = id as u64;
        match outcome {
            WriteOutcome::Acknowledged => self.acknowledged += 1,
            WriteOutcome::Failed => {
                self.failed.insert(id);
            }
            WriteOutcome::Indeterminate => {
                self.indeterminate.insert(id);
            }
        }
    }

    pub(crate) fn merge(&mut self, other: &WriteBook) {
        self.acknowledged += other.acknowledged;
        self.failed |= &other.failed;
        self.indeterminate |= &other.indeterminate;
    }

    /// Starts checking the ids found in the ledger, one at a time (they are streamed).
    pub(crate) fn checker(&self) -> Checker<'_> {
        Checker {
            book: self,
            check: Writes {
                acknowledged: self.acknowledged,
                failed: self.failed.len(),
                indeterminate: self.indeterminate.len(),
                ..Writes::default()
            },
            present_acknowledged: 0,
        }
    }

    /// Checks all the ids found in the ledger against the book.
    #[cfg(test)]
    pub(crate) fn check(&self, present: impl IntoIterator<Item = i64>) -> Writes {
        let mut c = self.checker();
        present.into_iter().for_each(|id| c.present(id));
        c.finish()
    }
}

/// Classifies the ledger's ids as they are read.
pub(crate) struct Checker<'a> {
    book: &'a WriteBook,
    check: Writes,
    present_acknowledged: u64,
}

impl Checker<'_> {
    pub(crate) fn present(&mut self, id: i64) {
        let id = id as u64;
        self.check.present += 1;
        if self.book.failed.contains(id) {
            self.check.phantom += 1;
        } else if self.book.indeterminate.contains(id) {
            self.check.indeterminate_committed += 1;
        } else {
            self.present_acknowledged += 1;
        }
    }

    pub(crate) fn finish(mut self) -> Writes {
        let c = &mut self.check;
        c.lost = c.acknowledged.saturating_sub(self.present_acknowledged);
        c.indeterminate_rolled_back = c.indeterminate - c.indeterminate_committed;
        self.check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_phantom_and_indeterminate_writes_are_told_apart() {
        let mut book = WriteBook::default();
        for n in 0..10 {
            book.note(write_id(1, n), WriteOutcome::Acknowledged);
        }
        book.note(write_id(2, 0), WriteOutcome::Failed);
        book.note(write_id(2, 1), WriteOutcome::Failed);
        book.note(write_id(3, 0), WriteOutcome::Indeterminate);
        book.note(write_id(3, 1), WriteOutcome::Indeterminate);
        // The ledger lost acknowledged writes 1/3 and 1/7, kept failed write 2/1 (phantom),
        // and committed one of the two indeterminate ones.
        let present: Vec<i64> = (0..10)
            .filter(|n| *n != 3 && *n != 7)
            .map(|n| write_id(1, n))
            .chain([write_id(2, 1), write_id(3, 0)])
            .collect();
        let c = book.check(present);
        assert_eq!(c.lost, 2);
        assert_eq!(c.phantom, 1);
        assert_eq!(
            (c.indeterminate_committed, c.indeterminate_rolled_back),
            (1, 1)
        );
        assert_eq!(
            (c.acknowledged, c.failed, c.indeterminate, c.present),
            (10, 2, 2, 10)
        );
    }

    #[test]
    fn books_merge_and_ids_are_unique_per_task() {
        assert_ne!(write_id(1, 0), write_id(0, 1 << 32));
        let mut a = WriteBook::default();
        a.note(1, WriteOutcome::Failed);
        let mut b = WriteBook::default();
        b.note(2, WriteOutcome::Failed);
        b.note(3, WriteOutcome::Acknowledged);
        a.merge(&b);
        assert_eq!(a.check([]).failed, 2);
        assert_eq!(a.acknowledged, 1);
    }

    #[test]
    fn a_million_acknowledged_writes_cost_nothing_to_remember() {
        let mut book = WriteBook::default();
        for n in 0..1_000_000 {
            book.note(write_id(0, n), WriteOutcome::Acknowledged);
        }
        for n in 0..1000 {
            book.note(write_id(1, n), WriteOutcome::Failed);
        }
        assert!(
            book.failed.serialized_size() < 16 * 1024,
            "{}",
            book.failed.serialized_size()
        );
    }
}

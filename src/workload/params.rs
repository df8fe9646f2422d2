//! Parameter values drawn from generators ([`Draw`]); the values themselves, and how they are
//! sent, are [`crate::value`]'s.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::scenario::expr::Generator;
use crate::scenario::plan::Source;
use crate::value::Value;

/// Per-task state the generators draw from.
pub(crate) struct Draw<'a> {
    pub(crate) rng: &'a mut fastrand::Rng,
    pub(crate) task: u64,
    pub(crate) iteration: u64,
    pub(crate) seqs: &'a [AtomicI64],
}

impl Draw<'_> {
    /// The value of a parameter source; `slots` holds this operation's `let` and captured values.
    pub(crate) fn value(&mut self, source: &Source, slots: &[Value]) -> Value {
        match source {
            Source::Gen(g) => self.generate(g),
            Source::Seq(i) => Value::Int(self.seqs[*i].fetch_add(1, Ordering::Relaxed) + 1),
            Source::Literal(v) => v.clone(),
            Source::Slot(i) => slots[*i].clone(),
        }
    }

    fn generate(&mut self, g: &Generator) -> Value {
        match g {
            Generator::RandomInt(a, b) => Value::Int(self.rng.i64(*a..=*b)),
            Generator::Seq => unreachable!("seq() is compiled to Source::Seq"),
            Generator::Task => Value::Int(self.task as i64),
            Generator::Iteration => Value::Int(self.iteration as i64),
            Generator::Uuid => Value::Text(uuid_v4(self.rng)),
            Generator::Text(n) => Value::Text(
                std::iter::repeat_with(|| self.rng.alphanumeric())
                    .take(*n)
                    .collect(),
            ),
            Generator::Choice(items) => Value::Text(items[self.rng.usize(..items.len())].clone()),
        }
    }
}

fn uuid_v4(rng: &mut fastrand::Rng) -> String {
    let mut b: [u8; 16] = rng.u128(..).to_le_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_reproducible_for_a_seed() {
        let seqs = [AtomicI64::new(0)];
        let draw_all = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut d = Draw {
                rng: &mut rng,
                task: 3,
                iteration: 9,
                seqs: &seqs,
            };
            [
                Generator::RandomInt(1, 1000),
                Generator::Uuid,
                Generator::Text(8),
                Generator::Choice(vec!["a".into(), "b".into()]),
                Generator::Task,
                Generator::Iteration,
            ]
            .iter()
            .map(|g| d.generate(g))
            .collect::<Vec<_>>()
        };
        assert_eq!(draw_all(7), draw_all(7));
        assert_ne!(draw_all(7), draw_all(8));
        let v = draw_all(7);
        assert_eq!(v[4], Value::Int(3));
        assert_eq!(v[5], Value::Int(9));
        let Value::Text(uuid) = &v[1] else { panic!() };
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }
}

//! Parameter values: drawn from generators, sent to PostgreSQL in text format so that the
//! server converts them to whatever type it inferred for the parameter (int4, numeric,
//! timestamptz, tsvector, ...), exactly as it converts an untyped literal.

use std::error::Error;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::BytesMut;
use tokio_postgres::types::{Format, IsNull, ToSql, Type, to_sql_checked};

use crate::scenario::expr::Generator;

use super::plan::Source;

/// A parameter or captured value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl Value {
    /// The value's text form, as PostgreSQL's input functions read it.
    fn write_text(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Int(i) => write!(out, "{i}"),
            Value::Float(f) if f.is_nan() => out.write_str("NaN"),
            Value::Float(f) if f.is_infinite() => {
                out.write_str(if *f > 0.0 { "Infinity" } else { "-Infinity" })
            }
            Value::Float(f) => write!(out, "{f}"),
            Value::Bool(b) => out.write_str(if *b { "true" } else { "false" }),
            Value::Text(s) => out.write_str(s),
        }
    }

    /// The value as an SQL literal for the simple query protocol: `NULL` or an escaped
    /// string constant, which the server types the way it types a parameter.
    pub fn sql_literal(&self, out: &mut String) {
        if *self == Value::Null {
            out.push_str("NULL");
            return;
        }
        let mut text = String::new();
        let _ = self.write_text(&mut text);
        out.push_str("E'");
        for c in text.chars() {
            match c {
                '\'' => out.push_str("''"),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('\'');
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        if *self == Value::Null {
            return Ok(IsNull::Yes);
        }
        self.write_text(out)?;
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// Per-task state the generators draw from.
pub struct Draw<'a> {
    pub rng: &'a mut fastrand::Rng,
    pub task: u64,
    pub iteration: u64,
    pub seqs: &'a [AtomicI64],
}

impl Draw<'_> {
    /// The value of a parameter source; `slots` holds this operation's `let` and captured values.
    pub fn value(&mut self, source: &Source, slots: &[Value]) -> Value {
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

/// A statement split at its `$n` placeholders, for the simple query protocol.
#[derive(Clone, Debug)]
pub struct Template {
    pieces: Vec<Piece>,
    /// Highest placeholder number used.
    pub params: usize,
}

#[derive(Clone, Debug)]
enum Piece {
    Text(String),
    Param(usize),
}

impl Template {
    /// Splits `sql` at `$n` outside string literals, quoted identifiers, comments and
    /// dollar-quoted strings.
    pub fn new(sql: &str) -> Template {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut params = 0;
        let b = sql.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let skip = match b[i] {
                b'\'' | b'"' => closing(b, i + 1, b[i]),
                b'-' if b.get(i + 1) == Some(&b'-') => find(b, i, b"\n"),
                b'/' if b.get(i + 1) == Some(&b'*') => find(b, i + 2, b"*/").map(|e| e + 2),
                b'$' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                    let end = (i + 1..b.len())
                        .find(|&j| !b[j].is_ascii_digit())
                        .unwrap_or(b.len());
                    let n: usize = sql[i + 1..end].parse().unwrap_or(0);
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                    pieces.push(Piece::Param(n));
                    params = params.max(n);
                    i = end;
                    continue;
                }
                b'$' => dollar_quote(sql, i),
                _ => None,
            };
            let end = skip.unwrap_or(i + 1).min(b.len()).max(i + 1);
            text.push_str(&sql[i..end]);
            i = end;
        }
        pieces.push(Piece::Text(text));
        Template { pieces, params }
    }

    /// The statement with `values[n - 1]` written in place of `$n`.
    pub fn render(&self, values: &[Value]) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Param(n) => match n.checked_sub(1).and_then(|i| values.get(i)) {
                    Some(v) => v.sql_literal(&mut out),
                    None => out.push_str("NULL"),
                },
            }
        }
        out
    }
}

fn closing(b: &[u8], mut i: usize, quote: u8) -> Option<usize> {
    while i < b.len() {
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    Some(b.len())
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    (from..b.len())
        .find(|&j| b[j..].starts_with(needle))
        .or(Some(b.len()))
}

fn dollar_quote(sql: &str, i: usize) -> Option<usize> {
    let rest = &sql[i + 1..];
    let tag_len = rest.find('$')?;
    let tag = &rest[..tag_len];
    if !tag.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let delimiter = format!("${tag}$");
    let body = i + delimiter.len();
    match sql[body..].find(&delimiter) {
        Some(end) => Some(body + end + delimiter.len()),
        None => Some(sql.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped() {
        let mut out = String::new();
        Value::Text("it's a \\ test".into()).sql_literal(&mut out);
        assert_eq!(out, "E'it''s a \\\\ test'");
        let mut out = String::new();
        Value::Int(-4).sql_literal(&mut out);
        assert_eq!(out, "E'-4'");
    }

    #[test]
    fn template_skips_quotes_comments_and_dollar_quotes() {
        let t =
            Template::new("SELECT $1, '$2', \"$3\", $$ $4 $$, $tag$ $5 $tag$ -- $6\n, $2 /* $7 */");
        assert_eq!(t.params, 2);
        let sql = t.render(&[Value::Int(1), Value::Text("x".into())]);
        assert_eq!(
            sql,
            "SELECT E'1', '$2', \"$3\", $$ $4 $$, $tag$ $5 $tag$ -- $6\n, E'x' /* $7 */"
        );
    }

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

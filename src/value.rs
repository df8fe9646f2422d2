//! Values, in the vocabulary layer: a parameter or captured [`Value`], sent to PostgreSQL in text
//! format so that the server converts it to whatever type it inferred for the parameter (int4,
//! numeric, timestamptz, tsvector, ...), exactly as it converts an untyped literal; a statement's
//! [`Template`] for the simple query protocol; what the server told us about a prepared
//! statement ([`StatementInfo`]). Below the scenario, the workload and the access modes, which
//! all use them.

use std::error::Error;

use bytes::BytesMut;
use tokio_postgres::types::{Format, IsNull, ToSql, Type, to_sql_checked};

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
    pub(crate) fn sql_literal(&self, out: &mut String) {
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

/// What the server told us about a statement.
#[derive(Clone, Debug)]
pub struct StatementInfo {
    pub(crate) sql: String,
    /// The parameter types PostgreSQL inferred.
    pub(crate) param_types: Vec<Type>,
    /// For the simple query protocol.
    pub(crate) template: Template,
}

/// A statement split at its `$n` placeholders, for the simple query protocol.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug)]
enum Piece {
    Text(String),
    Param(usize),
}

impl Template {
    /// Splits `sql` at `$n` outside string literals, quoted identifiers, comments and
    /// dollar-quoted strings.
    pub(crate) fn new(sql: &str) -> Template {
        let mut pieces = Vec::new();
        let mut text = String::new();
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
                    i = end;
                    continue;
                }
                b'$' => dollar_quote(sql, i),
                _ => None,
            };
            let mut end = skip.unwrap_or(i + 1).min(b.len()).max(i + 1);
            // Past the whole character: `café`, a non-breaking space pasted from a document.
            while !sql.is_char_boundary(end) {
                end += 1;
            }
            text.push_str(&sql[i..end]);
            i = end;
        }
        pieces.push(Piece::Text(text));
        Template { pieces }
    }

    /// Highest placeholder number used.
    #[cfg(test)]
    fn params(&self) -> usize {
        let n = self.pieces.iter().map(|p| match p {
            Piece::Param(n) => *n,
            Piece::Text(_) => 0,
        });
        n.max().unwrap_or(0)
    }

    /// The statement with `values[n - 1]` written in place of `$n`.
    pub(crate) fn render(&self, values: &[Value]) -> String {
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

    /// Regression (review of 2026-12-03): a character of more than one byte outside quotes
    /// was cut in half (a panic, exit 101, before the load).
    #[test]
    fn characters_of_several_bytes_are_kept_whole() {
        let sql = "SELECT $1 AS café, 'é' AS \u{a0}x, \"ü\" -- ñ\n/* ß */ FROM t WHERE y = '$2'";
        let t = Template::new(sql);
        assert_eq!(t.params(), 1);
        assert_eq!(t.render(&[Value::Int(7)]), sql.replacen("$1", "E'7'", 1));
    }

    #[test]
    fn template_skips_quotes_comments_and_dollar_quotes() {
        let t =
            Template::new("SELECT $1, '$2', \"$3\", $$ $4 $$, $tag$ $5 $tag$ -- $6\n, $2 /* $7 */");
        assert_eq!(t.params(), 2);
        let sql = t.render(&[Value::Int(1), Value::Text("x".into())]);
        assert_eq!(
            sql,
            "SELECT E'1', '$2', \"$3\", $$ $4 $$, $tag$ $5 $tag$ -- $6\n, E'x' /* $7 */"
        );
    }
}

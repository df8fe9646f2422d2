//! Parameter expressions: `random_int(a, b)`, `seq()`, `task()`, `iteration()`, `uuid()`,
//! `text(n)`, `choice('a', 'b', ...)`, or `@name` (a `let` value or a captured column).

use std::fmt;

/// A parsed parameter expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Gen(Generator),
    /// `@name`: a `let` value or a column captured by an earlier step.
    Ref(String),
}

/// A value generator.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Generator {
    /// A uniform integer in `[low, high]`.
    RandomInt(i64, i64),
    /// 1, 2, 3, ... shared by all tasks of a variant (unique values).
    Seq,
    /// The task's index (0-based).
    Task,
    /// The task's iteration number in the current phase (0-based).
    Iteration,
    /// A random version-4 UUID, drawn from the seeded stream.
    Uuid,
    /// `n` random alphanumeric characters.
    Text(usize),
    /// One of the given strings, uniformly.
    Choice(Vec<String>),
}

impl fmt::Display for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Generator::RandomInt(a, b) => write!(f, "random_int({a}, {b})"),
            Generator::Seq => f.write_str("seq()"),
            Generator::Task => f.write_str("task()"),
            Generator::Iteration => f.write_str("iteration()"),
            Generator::Uuid => f.write_str("uuid()"),
            Generator::Text(n) => write!(f, "text({n})"),
            Generator::Choice(items) => {
                f.write_str("choice(")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "'{}'", item.replace('\'', "''"))?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Longest `text(n)` accepted: a typo like `text(10000000000)` should not allocate gigabytes.
pub(crate) const MAX_TEXT_LEN: usize = 16 * 1024 * 1024;

const KNOWN: &str = "random_int(a, b), seq(), task(), iteration(), uuid(), text(n), choice('a', 'b', ...), or @name";

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Int(i64),
    Str(String),
}

/// Parses an expression; the error says what is wrong and what is accepted.
pub(crate) fn parse(text: &str) -> Result<Expr, String> {
    let t = text.trim();
    if let Some(name) = t.strip_prefix('@') {
        if is_ident(name) {
            return Ok(Expr::Ref(name.to_string()));
        }
        return Err(format!(
            "`{t}` is not a valid reference: expected @ followed by a name (letters, digits, _)"
        ));
    }
    let Some(open) = t.find('(') else {
        return Err(format!(
            "`{t}` is not an expression: expected {KNOWN}; write {{ value = \"{t}\" }} for a literal string"
        ));
    };
    let name = t[..open].trim();
    let Some(inner) = t[open + 1..].strip_suffix(')') else {
        return Err(format!("`{t}`: missing closing parenthesis"));
    };
    let args = parse_args(inner).map_err(|e| format!("`{t}`: {e}"))?;
    build(name, &args).map_err(|e| format!("`{t}`: {e}"))
}

fn build(name: &str, args: &[Arg]) -> Result<Expr, String> {
    let generator = match (name, args) {
        ("random_int", [Arg::Int(a), Arg::Int(b)]) if a <= b => Generator::RandomInt(*a, *b),
        ("random_int", [Arg::Int(_), Arg::Int(_)]) => {
            return Err("random_int(a, b) needs a <= b".into());
        }
        ("random_int", _) => return Err("random_int takes two integers: random_int(a, b)".into()),
        ("seq", []) => Generator::Seq,
        ("task", []) => Generator::Task,
        ("iteration", []) => Generator::Iteration,
        ("uuid", []) => Generator::Uuid,
        ("seq" | "task" | "iteration" | "uuid", _) => {
            return Err(format!("{name}() takes no arguments"));
        }
        ("text", [Arg::Int(n)]) if *n >= 0 && (*n as usize) <= MAX_TEXT_LEN => {
            Generator::Text(*n as usize)
        }
        ("text", _) => {
            return Err(format!(
                "text(n) takes one integer between 0 and {MAX_TEXT_LEN}"
            ));
        }
        ("choice", []) => return Err("choice needs at least one value".into()),
        ("choice", items) => Generator::Choice(
            items
                .iter()
                .map(|a| match a {
                    Arg::Int(i) => i.to_string(),
                    Arg::Str(s) => s.clone(),
                })
                .collect(),
        ),
        _ => return Err(format!("unknown generator `{name}`: expected {KNOWN}")),
    };
    Ok(Expr::Gen(generator))
}

fn parse_args(inner: &str) -> Result<Vec<Arg>, String> {
    let mut args = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            if args.is_empty() {
                return Ok(args);
            }
            return Err("an argument is missing after ','".into());
        };
        let arg = if c == '\'' || c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some(q) if q == c => {
                        // SQL style: a doubled quote stands for one.
                        if chars.peek() == Some(&c) {
                            chars.next();
                            s.push(c);
                        } else {
                            break;
                        }
                    }
                    Some(ch) => s.push(ch),
                    None => return Err("unterminated string argument".into()),
                }
            }
            Arg::Str(s)
        } else {
            let mut s = String::new();
            while let Some(&ch) = chars.peek() {
                if ch == ',' || ch.is_whitespace() {
                    break;
                }
                s.push(ch);
                chars.next();
            }
            let n = s
                .parse::<i64>()
                .map_err(|_| format!("`{s}` is not an integer (quote strings: 'text')"))?;
            Arg::Int(n)
        };
        args.push(arg);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Ok(args),
            Some(',') => continue,
            Some(other) => return Err(format!("unexpected `{other}` between arguments")),
        }
    }
}

/// A `let` or capture name: letters, digits and `_`, not starting with a digit.
pub(crate) fn is_ident(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_generator() {
        assert_eq!(
            parse(" random_int(1, 1000) "),
            Ok(Expr::Gen(Generator::RandomInt(1, 1000)))
        );
        assert_eq!(
            parse("random_int(-5,5)"),
            Ok(Expr::Gen(Generator::RandomInt(-5, 5)))
        );
        assert_eq!(parse("seq()"), Ok(Expr::Gen(Generator::Seq)));
        assert_eq!(parse("task()"), Ok(Expr::Gen(Generator::Task)));
        assert_eq!(parse("iteration()"), Ok(Expr::Gen(Generator::Iteration)));
        assert_eq!(parse("uuid()"), Ok(Expr::Gen(Generator::Uuid)));
        assert_eq!(parse("text(64)"), Ok(Expr::Gen(Generator::Text(64))));
        assert_eq!(
            parse("choice('a', \"b c\", 'it''s', 3)"),
            Ok(Expr::Gen(Generator::Choice(vec![
                "a".into(),
                "b c".into(),
                "it's".into(),
                "3".into()
            ])))
        );
        assert_eq!(parse("@book_id"), Ok(Expr::Ref("book_id".into())));
    }

    #[test]
    fn rejects_malformed_expressions_with_a_reason() {
        for (input, needle) in [
            ("random_int(1)", "two integers"),
            ("random_int(5, 1)", "a <= b"),
            ("random_int(1, 2", "closing parenthesis"),
            ("rand_int(1, 2)", "unknown generator `rand_int`"),
            ("text(-1)", "text(n)"),
            ("text(x)", "not an integer"),
            ("choice()", "at least one"),
            ("choice('a)", "unterminated"),
            ("choice('a',)", "missing after ','"),
            ("seq(1)", "no arguments"),
            ("hello", "not an expression"),
            ("@", "not a valid reference"),
            ("@9x", "not a valid reference"),
        ] {
            let err = parse(input).unwrap_err();
            assert!(err.contains(needle), "{input}: {err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "random_int(1, 9)",
            "choice('a', 'it''s')",
            "text(3)",
            "seq()",
        ] {
            let Ok(Expr::Gen(g)) = parse(text) else {
                panic!("{text}")
            };
            assert_eq!(g.to_string(), text);
        }
    }
}

//! Redaction of passwords in any text shown to a user: every error message, echoed argument,
//! scenario snippet and printed setting goes through here before it is printed.
//!
//! A password is found in two shapes, wherever it sits in the text:
//! - the userinfo of a URL, `scheme://user:PASSWORD@host` (any scheme: `postgres://`,
//!   `postgresql://`, a mistaken `mysql://`), up to the last `@` of the URL;
//! - a `password=VALUE` (any case, also `PGPASSWORD=`, spaces around `=` allowed), as in a
//!   libpq `key=value` connection string or a URL's query: `VALUE` quoted (`'a b'`, with `\'`
//!   escapes) or up to the next blank (or `&` in a query).
//!
//! [`redact`] replaces each password with `***`, whatever its length (a mask as long as the
//! password would tell its length). [`redact_spans`] also gives the byte ranges it replaced, so
//! that a scenario snippet can move the spans into its text to the redacted text. A password
//! that is already all `*` is left as it is, so redacting text twice changes nothing.

use std::borrow::Cow;
use std::ops::Range;

/// What [`redact`] puts in place of each password.
pub(crate) const MASK: &str = "***";

/// The text with every password replaced by [`MASK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    redact_spans(text).0
}

/// [`redact`]'s text, and the byte ranges of `text` it replaced with [`MASK`], in order.
pub(crate) fn redact_spans(text: &str) -> (Cow<'_, str>, Vec<Range<usize>>) {
    let spans = passwords(text);
    if spans.is_empty() {
        return (Cow::Borrowed(text), spans);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in &spans {
        out.push_str(&text[at..span.start]);
        out.push_str(MASK);
        at = span.end;
    }
    out.push_str(&text[at..]);
    (Cow::Owned(out), spans)
}

/// Byte ranges of the passwords in `text`, in order, not overlapping, none empty or all `*`.
fn passwords(text: &str) -> Vec<Range<usize>> {
    let mut spans: Vec<Range<usize>> = url_passwords(text);
    spans.extend(keyword_passwords(text));
    spans.retain(|s| !s.is_empty() && !text[s.clone()].bytes().all(|b| b == b'*'));
    spans.sort_by_key(|s| s.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for s in spans {
        match merged.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => merged.push(s),
        }
    }
    merged
}

/// Where a URL (or an unquoted value) ends: at a blank or a quote of the text around it.
fn ends_token(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>')
}

/// `scheme://user:PASSWORD@...`: the password runs from the first `:` of the part after `://`
/// to the last `@` before the URL ends (a password with an unencoded `@` or `/` is still
/// covered; at worst some of the host is hidden too). A password holding a blank or a quote
/// (`it's`, legal in a URL's userinfo) ends the URL early: then the password runs to the last
/// `@` before the first `/` of the line (or of the double-quoted string).
fn url_passwords(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("://") {
        let start = from + i + 3;
        let end_of =
            |stop: fn(char) -> bool| text[start..].find(stop).map_or(text.len(), |j| start + j);
        let token = &text[start..end_of(ends_token)];
        let line = &text[start..end_of(|c| matches!(c, '"' | '\n' | '\r'))];
        let in_token = token.rfind('@');
        let in_line = || line[..line.find('/').unwrap_or(line.len())].rfind('@');
        if let Some(at) = in_token.or_else(in_line)
            && let Some(colon) = text[start..start + at].find(':')
        {
            spans.push(start + colon + 1..start + at);
        }
        from = start;
    }
    spans
}

/// `password=VALUE`, `password = 'a b'`, `PGPASSWORD=...`, `?password=...&`, and SQL's
/// `PASSWORD 'secret'` (`CREATE ROLE`, `ALTER ROLE` in `database.setup`).
fn keyword_passwords(text: &str) -> Vec<Range<usize>> {
    const KEY: &str = "password";
    let lower = text.to_ascii_lowercase();
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find(KEY) {
        let after_key = from + i + KEY.len();
        from = after_key;
        let rest = &text[after_key..];
        let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\r']);
        let value = match trimmed.strip_prefix('=') {
            Some(value) => value,
            // SQL: a blank, then the literal.
            None if trimmed.starts_with('\'') && trimmed.len() < rest.len() => trimmed,
            None => continue,
        };
        let value_trimmed = value.trim_start_matches([' ', '\t']);
        let start = text.len() - value_trimmed.len();
        // Quoted (`'...'` in libpq and SQL, `"..."` in TOML): the inside.
        let quote = value_trimmed
            .chars()
            .next()
            .filter(|c| matches!(c, '\'' | '"'));
        let span = match quote {
            Some(q) => start + 1..start + 1 + quoted_len(&value_trimmed[1..], q),
            None => {
                let end = value_trimmed.find(|c: char| c.is_whitespace() || c == '&');
                start..end.map_or(text.len(), |j| start + j)
            }
        };
        spans.push(span);
    }
    spans
}

/// Length of a quoted value up to (not including) its closing `quote`, `\'` and `\\` being
/// escapes (libpq, TOML) and a doubled quote a quote (SQL); the whole rest when it is not
/// closed.
fn quoted_len(quoted: &str, quote: char) -> usize {
    let mut escaped = false;
    let mut chars = quoted.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == quote && chars.peek().is_some_and(|&(_, n)| n == quote) => {
                chars.next();
            }
            c if c == quote => return i,
            _ => {}
        }
    }
    quoted.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_password_is_hidden_and_the_rest_kept() {
        assert_eq!(
            redact("postgres://app:s3cret@db.example:6432/shop"),
            "postgres://app:***@db.example:6432/shop"
        );
        assert_eq!(
            redact("postgresql://app:s3cret@h/db?sslmode=disable"),
            "postgresql://app:***@h/db?sslmode=disable"
        );
        assert_eq!(redact("mysql://root:pw@h/db"), "mysql://root:***@h/db");
    }

    #[test]
    fn a_url_without_password_is_unchanged() {
        for text in [
            "postgres://app@h:5432/db",
            "postgres://h:5432/db",
            "postgres://h1:5432,h2:5433/db",
            "no url here: a:b@c",
        ] {
            assert!(matches!(redact(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn percent_encoded_and_awkward_passwords_are_hidden_whole() {
        assert_eq!(
            redact("postgres://app:p%40ss%2Fw@h/db"),
            "postgres://app:***@h/db"
        );
        // Unencoded `@` and `/`: hidden up to the last `@`.
        assert_eq!(
            redact("postgres://app:a@b/c@h/db"),
            "postgres://app:***@h/db"
        );
        assert_eq!(
            redact("postgres://app:日本@h/db"),
            "postgres://app:***@h/db"
        );
    }

    #[test]
    fn conninfo_passwords_quoted_or_not() {
        assert_eq!(
            redact("host=h password=s3cret dbname=d"),
            "host=h password=*** dbname=d"
        );
        assert_eq!(
            redact("host=h password='a b\\' c' dbname=d"),
            "host=h password='***' dbname=d"
        );
        assert_eq!(redact("user=u PASSWORD = x"), "user=u PASSWORD = ***");
        assert_eq!(
            redact("PGPASSWORD=x stress run"),
            "PGPASSWORD=*** stress run"
        );
        assert_eq!(
            redact("postgres://h/db?password=x&sslmode=require"),
            "postgres://h/db?password=***&sslmode=require"
        );
        assert_eq!(redact("the password is wrong"), "the password is wrong");
    }

    #[test]
    fn several_urls_in_one_text() {
        let text = "a postgres://u:one@h/db, then `postgresql://v:two@k:1/x` and password=three\n\
                    url = \"postgres://w:four@m/y\"";
        let shown = redact(text);
        for secret in ["one", "two", "three", "four"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("postgresql://v:***@k:1/x"), "{shown}");
        assert!(shown.contains("url = \"postgres://w:***@m/y\""), "{shown}");
    }

    #[test]
    fn the_mask_does_not_tell_the_length_and_the_spans_name_what_it_replaced() {
        let text = "url = \"postgres://u:S3cr3tPw@h/d\" # é\npassword='a b' x=1";
        let (shown, hidden) = redact_spans(text);
        assert_eq!(
            shown,
            "url = \"postgres://u:***@h/d\" # é\npassword='***' x=1"
        );
        assert_eq!(hidden.len(), 2);
        assert_eq!(&text[hidden[0].clone()], "S3cr3tPw");
        assert_eq!(&text[hidden[1].clone()], "a b");
        // Redacted text is left alone by a second pass.
        assert_eq!(redact(&shown), shown);
    }

    /// Regression (review of 2026-12-03): a quote or a blank in a URL's password ended the URL
    /// before its `@`, and the password was shown whole; SQL's `PASSWORD '...'` was not seen.
    #[test]
    fn passwords_with_quotes_or_blanks_and_sql_passwords_are_hidden() {
        let cases = [
            (
                "url = \"postgres://app:it'sSecret@db:5432/shop\"",
                "it'sSecret",
            ),
            ("url = \"postgres://app:pa ss@db/shop\"", "pa ss"),
            ("postgres://app:a`b<c>@db/shop x", "a`b<c>"),
            ("postgres://app:it'sS@cret@db/shop", "cret"),
            (
                "setup = [\"ALTER ROLE app PASSWORD 'it''s s3cret'\"]",
                "it''s s3cret",
            ),
            ("CREATE ROLE x LOGIN ENCRYPTED PASSWORD\n'k3y'", "k3y"),
        ];
        for (text, secret) in cases {
            let shown = redact(text);
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains(MASK), "{shown}");
        }
        // No `@` after a `/`: a path or a message, not a userinfo.
        let text = "cannot connect to postgres://h:5432/d: refused, ask bob@example.com";
        assert_eq!(redact(text), text);
        assert_eq!(redact("PASSWORD NULL"), "PASSWORD NULL");
        // `check --print`'s TOML stays TOML.
        assert_eq!(
            redact("POSTGRES_PASSWORD = \"hunter2\""),
            "POSTGRES_PASSWORD = \"***\""
        );
        assert_eq!(redact("PASSWORD = \"***\""), "PASSWORD = \"***\"");
    }
}

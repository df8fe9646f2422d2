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
//! [`redact`] replaces each password with `***`. [`mask`] replaces each byte of it with `*`,
//! so that the text keeps its length and every byte offset into it (the spans of a scenario
//! snippet) still points at the same place. A password that is already all `*` is left as it
//! is, so redacting text twice (or redacting a masked snippet) changes nothing.

use std::borrow::Cow;
use std::ops::Range;

/// The text with every password replaced by `***`.
pub fn redact(text: &str) -> Cow<'_, str> {
    replace(text, |_| "***".to_string())
}

/// The text with every byte of every password replaced by `*`: same length, same offsets.
pub(crate) fn mask(text: &str) -> Cow<'_, str> {
    replace(text, |password| "*".repeat(password.len()))
}

fn replace(text: &str, with: impl Fn(&str) -> String) -> Cow<'_, str> {
    let spans = passwords(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        out.push_str(&text[at..span.start]);
        out.push_str(&with(&text[span.clone()]));
        at = span.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
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
/// covered; at worst some of the host is hidden too).
fn url_passwords(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("://") {
        let start = from + i + 3;
        let end = text[start..]
            .find(ends_token)
            .map_or(text.len(), |j| start + j);
        let token = &text[start..end];
        if let Some(at) = token.rfind('@')
            && let Some(colon) = token[..at].find(':')
        {
            spans.push(start + colon + 1..start + at);
        }
        from = start;
    }
    spans
}

/// `password=VALUE`, `password = 'a b'`, `PGPASSWORD=...`, `?password=...&`.
fn keyword_passwords(text: &str) -> Vec<Range<usize>> {
    const KEY: &str = "password";
    let lower = text.to_ascii_lowercase();
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find(KEY) {
        let after_key = from + i + KEY.len();
        from = after_key;
        let rest = &text[after_key..];
        let trimmed = rest.trim_start_matches([' ', '\t']);
        let Some(value) = trimmed.strip_prefix('=') else {
            continue;
        };
        let value_trimmed = value.trim_start_matches([' ', '\t']);
        let start = text.len() - value_trimmed.len();
        let end = match value_trimmed.strip_prefix('\'') {
            Some(quoted) => start + 1 + quoted_len(quoted),
            None => value_trimmed
                .find(|c: char| c.is_whitespace() || c == '&')
                .map_or(text.len(), |j| start + j),
        };
        let start = if value_trimmed.starts_with('\'') {
            start + 1
        } else {
            start
        };
        spans.push(start..end);
    }
    spans
}

/// Length of a single-quoted libpq value up to (not including) its closing quote, `\'` and
/// `\\` being escapes; the whole rest when it is not closed.
fn quoted_len(quoted: &str) -> usize {
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '\'' => return i,
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
    fn a_mask_keeps_every_offset() {
        let text = "url = \"postgres://u:S3cr3tPw@h/d\" # é\npassword='a b' x=1";
        let masked = mask(text);
        assert_eq!(masked.len(), text.len());
        assert!(!masked.contains("S3cr3tPw") && !masked.contains("a b"));
        assert_eq!(masked.find("@h/d"), text.find("@h/d"));
        assert_eq!(masked.find("x=1"), text.find("x=1"));
        // Masked text is left alone by a second pass, of either kind.
        assert_eq!(redact(&masked), masked);
        assert_eq!(mask(&masked), masked);
    }
}

//! Where a scenario value came from, and how a bad one is shown to the user.
//!
//! Every value of a scenario carries an [`Origin`]: the source it was read from (the scenario
//! file, or one `--set KEY=VALUE` argument) and its byte span there. Origins survive variant
//! merging, so an error found after the merge still points at the line the value came from.
//! [`ScenarioError`] turns an origin into `file:line:column`, names the key, and renders the
//! offending line with a caret through miette.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};

use crate::redact;

/// Index of a [`Source`] in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SourceId(pub u32);

/// The source and byte span a value was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) source: SourceId,
    pub(crate) span: Range<usize>,
}

/// Where a piece of scenario text came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SourceKind {
    /// A scenario file.
    File(PathBuf),
    /// One `--set KEY=VALUE` argument of the command line.
    Set,
}

/// A piece of scenario text.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    pub(crate) kind: SourceKind,
    /// The text as read (parsed from).
    pub(crate) text: Arc<str>,
    /// The text as shown: every password replaced by `***` ([`redact::redact`]).
    pub(crate) shown: Arc<str>,
    /// The byte ranges of `text` replaced in `shown`, in order: spans into `text` move by them
    /// ([`Source::shown_offset`]).
    hidden: Vec<Range<usize>>,
}

impl Source {
    pub(crate) fn new(kind: SourceKind, text: impl Into<Arc<str>>) -> Source {
        let text: Arc<str> = text.into();
        let (shown, hidden) = match redact::redact_spans(&text) {
            (std::borrow::Cow::Borrowed(_), hidden) => (text.clone(), hidden),
            (std::borrow::Cow::Owned(masked), hidden) => (masked.into(), hidden),
        };
        Source {
            kind,
            text,
            shown,
            hidden,
        }
    }

    /// Where byte `offset` of `text` is in `shown`: past a password it moves by the difference
    /// in length; inside one, it is the mask's start.
    fn shown_offset(&self, offset: usize) -> usize {
        let mut shift: isize = 0;
        for h in &self.hidden {
            if offset < h.end {
                return offset.min(h.start).saturating_add_signed(shift);
            }
            shift += redact::MASK.len() as isize - h.len() as isize;
        }
        offset.saturating_add_signed(shift)
    }

    /// A span of `text` as a span of `shown`.
    fn shown_span(&self, span: &Range<usize>) -> SourceSpan {
        let start = self.shown_offset(span.start);
        let end = self.shown_offset(span.end).max(start);
        (start, end - start).into()
    }

    /// How the source is named in messages: the file's path, or `--set KEY=VALUE` (its
    /// password masked).
    pub(crate) fn display_name(&self) -> String {
        match &self.kind {
            SourceKind::File(path) => redact::redact(&path.display().to_string()).into_owned(),
            SourceKind::Set => format!("--set {}", self.shown),
        }
    }

    /// 1-based line and column (in characters, as shown) of a byte offset into `text`.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.shown, self.shown_offset(offset))
    }
}

/// 1-based line and column (in characters) of a byte offset into `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// All sources a scenario was assembled from.
#[derive(Clone, Debug, Default)]
pub(crate) struct SourceMap {
    sources: Vec<Source>,
}

impl SourceMap {
    pub(crate) fn add(&mut self, kind: SourceKind, text: impl Into<Arc<str>>) -> SourceId {
        let id = SourceId(u32::try_from(self.sources.len()).expect("fewer than 2^32 sources"));
        self.sources.push(Source::new(kind, text));
        id
    }

    pub(crate) fn get(&self, id: SourceId) -> &Source {
        &self.sources[id.0 as usize]
    }

    /// `file:line:column` of an origin.
    #[cfg(test)]
    pub(crate) fn location(&self, origin: &Origin) -> String {
        let source = self.get(origin.source);
        let (line, column) = source.line_col(origin.span.start);
        match &source.kind {
            SourceKind::File(path) => format!("{}:{line}:{column}", path.display()),
            SourceKind::Set => format!("{}:{line}:{column}", source.display_name()),
        }
    }

    /// An error about the value at `origin`, named by its dotted `key`.
    pub(crate) fn error(
        &self,
        origin: &Origin,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let source = self.get(origin.source);
        let (line, column) = source.line_col(origin.span.start);
        ScenarioError {
            location: Some(Location {
                name: source.display_name(),
                line,
                column,
            }),
            key: key.into(),
            message: message.into(),
            help: None,
            snippet: Some(Snippet {
                source: Shown(NamedSource::new(
                    source.display_name(),
                    source.shown.to_string(),
                )),
                span: source.shown_span(&origin.span),
            }),
        }
    }
}

/// `file:line:column` of an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) name: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.name, self.line, self.column)
    }
}

#[derive(Debug)]
struct Snippet {
    source: Shown,
    span: SourceSpan,
}

/// The masked text handed to miette, whose `file:line:column` header counts the column in
/// characters, as every message does (miette's own counts bytes).
#[derive(Debug)]
struct Shown(NamedSource<String>);

impl miette::SourceCode for Shown {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let contents = self.0.read_span(span, before, after)?;
        if before != 0 || after != 0 {
            return Ok(contents);
        }
        // The header's read: no context, the column is the span's own.
        let (_, column) = line_col(self.0.inner(), span.offset());
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.0.name().to_string(),
            contents.data(),
            *contents.span(),
            contents.line(),
            column - 1,
            contents.line_count(),
        )))
    }
}

/// A bad scenario: names the file, line, column and key, and shows the line with a caret.
#[derive(Debug)]
pub struct ScenarioError {
    pub(crate) location: Option<Location>,
    /// Dotted key of the offending value, e.g. `load.tasks` or `workload[0].step[1].params[0]`.
    pub(crate) key: String,
    pub(crate) message: String,
    pub(crate) help: Option<String>,
    snippet: Option<Snippet>,
}

impl ScenarioError {
    /// An error about a whole file (unreadable, say), with no position in it.
    pub(crate) fn file(path: &Path, message: impl Into<String>) -> Self {
        ScenarioError {
            location: Some(Location {
                name: path.display().to_string(),
                line: 1,
                column: 1,
            }),
            key: String::new(),
            message: message.into(),
            help: None,
            snippet: None,
        }
    }

    /// An error about a command-line argument, with no position in a file.
    pub(crate) fn argument(key: impl Into<String>, message: impl Into<String>) -> Self {
        ScenarioError {
            location: None,
            key: key.into(),
            message: message.into(),
            help: None,
            snippet: None,
        }
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The same problem at the same place (as found again in another variant).
    pub(crate) fn same_as(&self, other: &ScenarioError) -> bool {
        self.location == other.location && self.key == other.key && self.message == other.message
    }
}

impl fmt::Display for ScenarioError {
    /// `file:line:column: key `k`: message`, passwords redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        if let Some(location) = &self.location {
            text.push_str(&format!("{location}: "));
        }
        if !self.key.is_empty() {
            text.push_str(&format!("key `{}`: ", self.key));
        }
        text.push_str(&self.message);
        f.write_str(&redact::redact(&text))
    }
}

impl std::error::Error for ScenarioError {}

impl Diagnostic for ScenarioError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.snippet
            .as_ref()
            .map(|s| &s.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let snippet = self.snippet.as_ref()?;
        let label = if self.key.is_empty() {
            "here".to_string()
        } else {
            self.key.clone()
        };
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_with_span(Some(label), snippet.span),
        )))
    }
}

/// One or more scenario errors, all reported together.
#[derive(Debug)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

impl From<ScenarioError> for ScenarioErrors {
    fn from(e: ScenarioError) -> Self {
        ScenarioErrors(vec![e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let source = Source::new(SourceKind::Set, "a = 1\nbé = 2\n");
        assert_eq!(source.line_col(0), (1, 1));
        assert_eq!(source.line_col(6), (2, 1));
        // "bé = " is 6 bytes but 5 characters: the value starts at column 6.
        assert_eq!(source.line_col(12), (2, 6));
    }

    #[test]
    fn error_names_file_line_column_and_key() {
        let mut map = SourceMap::default();
        let id = map.add(
            SourceKind::File("x.toml".into()),
            "name = \"x\"\n[load]\ntasks = 0\n",
        );
        let e = map.error(
            &Origin {
                source: id,
                span: 26..27,
            },
            "load.tasks",
            "must be at least 1",
        );
        assert_eq!(
            e.to_string(),
            "x.toml:3:9: key `load.tasks`: must be at least 1"
        );
    }
}

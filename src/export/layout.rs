//! Fitting the summary to the terminal: tables whose words are never split, and prose wrapped
//! at word boundaries.
//!
//! A table is given as a key column (the variant's name, repeated in every table) and groups
//! of columns. The groups are packed left to right into as few tables as fit the width, each
//! column at least as wide as its longest word, so comfy-table only ever wraps between words
//! ("operation_in_progress" stays whole). A group too wide for one table is split column by
//! column; when even the key and one column do not fit, the rows are printed as indented
//! `header: value` lines instead. The width is `COLUMNS` when set, else the terminal's, else
//! [`DEFAULT_WIDTH`].

use std::io::IsTerminal;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, Width};
use textwrap::core::display_width;

/// The width when the output is not a terminal and `COLUMNS` is not set.
pub(crate) const DEFAULT_WIDTH: usize = 100;

/// Narrower than this, nothing useful fits: the text is laid out for this width.
const MIN_WIDTH: usize = 40;

/// The width to lay the summary out for.
pub(crate) fn width() -> usize {
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    let terminal = || {
        let out = std::io::stdout();
        if !out.is_terminal() {
            return None;
        }
        terminal_size::terminal_size_of(out).map(|(w, _)| usize::from(w.0))
    };
    columns
        .or_else(terminal)
        .unwrap_or(DEFAULT_WIDTH)
        .max(MIN_WIDTH)
}

/// One column of a table: its header, its cells (one per row), and whether they are numbers
/// (aligned right).
#[derive(Clone, Debug)]
pub(crate) struct Col {
    pub(crate) header: String,
    pub(crate) right: bool,
    pub(crate) cells: Vec<String>,
}

impl Col {
    /// The longest word of the header and the cells: the narrowest the column may be.
    fn min_width(&self) -> usize {
        std::iter::once(&self.header)
            .chain(&self.cells)
            .flat_map(|text| text.split_whitespace())
            .map(display_width)
            .max()
            .unwrap_or(0)
            .max(1)
    }
}

impl Col {
    /// The longest line of the header and the cells: as wide as the column need be.
    fn natural_width(&self) -> usize {
        std::iter::once(&self.header)
            .chain(&self.cells)
            .flat_map(|text| text.lines())
            .map(display_width)
            .max()
            .unwrap_or(0)
            .max(1)
    }
}

/// Width of a table of columns this wide: `│ a │ b │` is 3 characters a column, plus 1.
fn table_width(widths: &[usize]) -> usize {
    widths.iter().map(|w| w + 3).sum::<usize>() + 1
}

/// The columns `key` and `groups` as tables no wider than `width` (see the module's doc).
pub(crate) fn tables(key: &Col, groups: &[Vec<Col>], width: usize) -> String {
    let width = width.max(MIN_WIDTH);
    match pack(key, groups, width) {
        Some(tables) => tables
            .iter()
            .map(|cols| render(cols, width))
            .collect::<Vec<_>>()
            .join("\n"),
        None => rows(key, groups, width),
    }
}

/// The tables' columns (the key first in each), or `None` when a column does not fit even
/// beside the key alone.
fn pack(key: &Col, groups: &[Vec<Col>], width: usize) -> Option<Vec<Vec<Col>>> {
    let key_width = key.min_width();
    let fits = |cols: &[&Col]| {
        let widths: Vec<usize> = std::iter::once(key_width)
            .chain(cols.iter().map(|c| c.min_width()))
            .collect();
        table_width(&widths) <= width
    };
    let mut tables: Vec<Vec<&Col>> = Vec::new();
    let mut current: Vec<&Col> = Vec::new();
    for group in groups {
        let with: Vec<&Col> = current.iter().copied().chain(group).collect();
        if fits(&with) {
            current = with;
            continue;
        }
        if !current.is_empty() {
            tables.push(std::mem::take(&mut current));
        }
        // The group alone, split column by column where it does not fit whole.
        for col in group {
            let with: Vec<&Col> = current.iter().copied().chain([col]).collect();
            if fits(&with) {
                current = with;
            } else if current.is_empty() {
                return None;
            } else {
                tables.push(std::mem::replace(&mut current, vec![col]));
            }
        }
    }
    if !current.is_empty() {
        tables.push(current);
    }
    let tables = tables
        .into_iter()
        .map(|cols| std::iter::once(key).chain(cols).cloned().collect())
        .collect();
    Some(tables)
}

/// The columns' widths in a table of at most `width`: each at least its longest word, then
/// the room left given to the columns that need least to show their lines whole.
fn widths(cols: &[Col], width: usize) -> Vec<usize> {
    let mut widths: Vec<usize> = cols.iter().map(Col::min_width).collect();
    let mut spare = width.saturating_sub(table_width(&widths));
    let mut needs: Vec<(usize, usize)> = cols
        .iter()
        .zip(&widths)
        .enumerate()
        .map(|(i, (c, min))| (c.natural_width().saturating_sub(*min), i))
        .collect();
    needs.sort();
    for (need, i) in needs {
        let given = need.min(spare);
        widths[i] += given;
        spare -= given;
    }
    widths
}

/// One table, its column widths from [`widths`]: comfy-table wraps the cells between words.
fn render(cols: &[Col], width: usize) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(u16::try_from(width).unwrap_or(u16::MAX))
        .set_header(cols.iter().map(|c| c.header.clone()));
    let rows = cols.iter().map(|c| c.cells.len()).max().unwrap_or(0);
    for i in 0..rows {
        table.add_row(
            cols.iter()
                .map(|c| c.cells.get(i).cloned().unwrap_or_default()),
        );
    }
    for (i, (col, w)) in cols.iter().zip(widths(cols, width)).enumerate() {
        if let Some(c) = table.column_mut(i) {
            // comfy-table's widths include the column's padding (1 each side).
            let w = u16::try_from(w + 2).unwrap_or(u16::MAX);
            c.set_constraint(ColumnConstraint::Absolute(Width::Fixed(w)));
            if col.right {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    table.to_string()
}

/// Each row as its key, then `header: value` lines, wrapped to `width`.
fn rows(key: &Col, groups: &[Vec<Col>], width: usize) -> String {
    let mut out = String::new();
    for (i, name) in key.cells.iter().enumerate() {
        out.push_str(&wrap(&format!("{}: {name}", key.header), width, "", "  "));
        for col in groups.iter().flatten() {
            let value = col.cells.get(i).map_or("", String::as_str);
            let value = value.lines().collect::<Vec<_>>().join(", ");
            out.push_str(&wrap(
                &format!("{}: {value}", col.header),
                width,
                "  ",
                "      ",
            ));
        }
    }
    out.trim_end().to_string()
}

/// `text` wrapped to `width` at word boundaries, the first line indented by `first`, the others
/// by `rest`; every line ends with a newline. A word longer than a whole line is the only one
/// ever split.
pub(crate) fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    // Lines break at spaces only, as in the tables: `COMMIT/ROLLBACK` stays whole.
    let options = textwrap::Options::new(width.max(MIN_WIDTH))
        .word_separator(textwrap::WordSeparator::AsciiSpace)
        .initial_indent(first)
        .subsequent_indent(rest);
    let mut out = String::new();
    for line in textwrap::wrap(text, options) {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Test helper: no line of `text` is wider than `width`, and every one of `words` appears whole
/// on some line (a table's cells split at spaces and borders).
#[cfg(test)]
pub(crate) fn assert_fits(text: &str, width: usize, words: &[&str]) {
    for line in text.lines() {
        assert!(
            display_width(line) <= width,
            "a line of {} > {width} columns:\n{line}\n{text}",
            display_width(line)
        );
    }
    for word in words {
        let whole = |l: &str| {
            l.split(|c: char| c.is_whitespace() || matches!(c, '│' | '┆'))
                .any(|w| w == *word)
        };
        assert!(
            text.lines().any(whole),
            "`{word}` split or missing at {width} columns:\n{text}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(header: &str, right: bool, cells: &[&str]) -> Col {
        Col {
            header: header.into(),
            right,
            cells: cells.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn long_words_are_never_split_and_no_line_is_too_long() {
        let key = col("variant", false, &["per-request", "pool"]);
        let groups = vec![
            vec![
                col("ops", true, &["12391", "7"]),
                col("failed", true, &["2 (0.016%)", "0"]),
            ],
            vec![
                col(
                    "errors",
                    false,
                    &["operation_in_progress 12\nconnect_refused 3", "-"],
                ),
                col("anomalies", false, &["lost writes 83", "-"]),
            ],
        ];
        for width in [40, 60, 80, 100] {
            let text = tables(&key, &groups, width);
            assert_fits(
                &text,
                width,
                &[
                    "operation_in_progress",
                    "connect_refused",
                    "per-request",
                    "(0.016%)",
                ],
            );
        }
    }

    #[test]
    fn what_fits_stays_in_one_table_and_what_does_not_is_split() {
        let key = col("variant", false, &["a"]);
        let wide = |h: &str| col(h, true, &["x".repeat(30).as_str()]);
        let groups = vec![vec![wide("one")], vec![wide("two")]];
        // "variant" 7 + 2 x 30, plus 3 a column and 1: 77 columns.
        assert_eq!(tables(&key, &groups, 77).matches("variant").count(), 1);
        let split = tables(&key, &groups, 76);
        assert_eq!(split.matches("variant").count(), 2, "{split}");
        assert_fits(&split, 76, &[]);
    }

    #[test]
    fn a_column_wider_than_the_width_falls_back_to_lines() {
        let key = col("variant", false, &["a"]);
        let groups = vec![vec![col("errors", false, &[&"y".repeat(45)])]];
        let text = tables(&key, &groups, 40);
        assert!(text.starts_with("variant: a\n  errors:"), "{text}");
    }

    #[test]
    fn prose_wraps_at_words_with_its_indent() {
        let text = "tasks waited for a connection in 73.2% of their operation time; \
                    operation_in_progress was raised 12 times; a COMMIT/ROLLBACK found none";
        for width in 40..=70 {
            let wrapped = wrap(text, width, "", "  ");
            assert_fits(
                &wrapped,
                width,
                &["operation_in_progress", "73.2%", "COMMIT/ROLLBACK"],
            );
            let indented = wrapped.lines().skip(1).all(|l| l.starts_with("  "));
            assert!(indented, "{wrapped}");
        }
    }
}

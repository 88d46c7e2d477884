//! Indentation kubectl ignores and serin's YAML parser checks.
//!
//! kubectl reads YAML with go-yaml, a port of libyaml, which checks no indentation inside a
//! flow collection (`[a, "b",` ... `]`) or a quoted scalar: a `]` at its key's indentation, or
//! a long quoted description whose continuation lines sit left of its key (Argo's
//! `test/e2e/crds/istio.yaml`), read fine there. saphyr-parser follows YAML 1.2, which wants
//! them indented, and refuses them. Inside those constructs indentation means nothing (a quoted
//! scalar's line breaks fold and drop the next line's leading spaces; a flow collection's
//! whitespace only separates tokens), so when the parser refuses one for its indentation, the
//! lines concerned are indented further and the text is read again. The columns added are
//! remembered, so every position reported still points into the file as written.

use saphyr_parser::ScanError;

/// At most this many constructs are re-indented in one text: a big CRD has a few dozen such
/// descriptions; each repair reads the text again, so the number is bounded.
pub(crate) const MAX_REPAIRS: usize = 256;

/// A text with some lines indented further than written.
pub(crate) struct Reindented {
    lines: Vec<String>,
    /// Spaces put before each line (0-based line index).
    added: Vec<usize>,
}

impl Reindented {
    pub fn new(text: &str) -> Self {
        let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        Reindented { added: vec![0; lines.len()], lines }
    }

    /// The text from a 1-based line on, the lines before it left empty so that positions stay
    /// those of the whole text. Directives (`%YAML`, `%TAG`) are kept: they belong to the
    /// document that follows them.
    pub fn text_from(&self, line: usize) -> String {
        let mut text = String::new();
        for (index, content) in self.lines.iter().enumerate() {
            if index > 0 {
                text.push('\n');
            }
            if index + 1 >= line || content.starts_with('%') {
                text.push_str(content);
            }
        }
        text
    }

    /// Spaces put before each line (0-based line index).
    pub fn added(&self) -> &[usize] {
        &self.added
    }

    /// Indents the lines the parser refused for their indentation, when that indentation means
    /// nothing to go-yaml: `error` is the parser's (its line 1-based, its column 0-based, in
    /// this text) and `open_flow` the column where the outermost flow collection still open
    /// at the error starts, when known. False when the error is of another kind or nothing
    /// could be changed.
    pub fn repair(&mut self, error: &ScanError, open_flow: Option<usize>) -> bool {
        let (line, column) = (error.marker().line().saturating_sub(1), error.marker().col());
        match error.info() {
            // The error's position is where the scalar starts.
            "invalid indentation in quoted scalar" => self.quoted_scalar(line, column),
            // Only raised inside a flow collection: saphyr checks no other token this way.
            "invalid indentation" | "invalid indentation in flow construct" => {
                let lead = self.lines.get(line).map_or(0, |l| leading_blanks(l));
                let past_flow = open_flow.is_some_and(|flow| self.indent_line(line, flow + 1));
                past_flow || self.indent_line(line, lead + 1)
            }
            _ => false,
        }
    }

    /// Indents a quoted scalar's continuation lines past its opening quote, unless a document
    /// marker interrupts it (go-yaml refuses that too).
    fn quoted_scalar(&mut self, line: usize, column: usize) -> bool {
        let Some(end) = self.closing_line(line, column) else { return false };
        if self.lines[line + 1..=end].iter().any(|l| document_marker(l)) {
            return false;
        }
        let mut changed = false;
        for continuation in line + 1..=end {
            changed |= self.indent_line(continuation, column + 1);
        }
        changed
    }

    /// The line holding the quote that closes the quoted scalar starting at `line`:`column`.
    fn closing_line(&self, line: usize, column: usize) -> Option<usize> {
        let quote = self.lines.get(line)?.chars().nth(column).filter(|c| matches!(c, '\'' | '"'))?;
        let mut skip = column + 1;
        let mut escaped = false;
        for (index, text) in self.lines.iter().enumerate().skip(line) {
            let mut chars = text.chars().skip(skip).peekable();
            while let Some(c) = chars.next() {
                match (quote, c) {
                    _ if escaped => escaped = false,
                    ('"', '\\') => escaped = true,
                    ('\'', '\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                    }
                    (q, c) if q == c => return Some(index),
                    _ => {}
                }
            }
            escaped = false; // a backslash at the end of a line escapes the line break
            skip = 0;
        }
        None
    }

    /// Puts spaces before a non-blank line so its content starts at `column` at least.
    fn indent_line(&mut self, line: usize, column: usize) -> bool {
        let Some(text) = self.lines.get_mut(line) else { return false };
        let lead = leading_blanks(text);
        if lead >= column || text.trim().is_empty() {
            return false;
        }
        text.insert_str(0, &" ".repeat(column - lead));
        self.added[line] += column - lead;
        true
    }
}

fn leading_blanks(line: &str) -> usize {
    line.chars().take_while(|c| matches!(c, ' ' | '\t')).count()
}

/// `---` or `...` at the start of a line, alone or followed by a blank.
fn document_marker(line: &str) -> bool {
    ["---", "..."].iter().any(|marker| {
        line.strip_prefix(marker).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
    })
}

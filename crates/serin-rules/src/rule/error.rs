//! Errors of rule parsing: where (a character offset into the rule) and what, worded for the
//! person who wrote the rule.

use std::fmt;

use super::Syntax;
use super::matcher::MatcherKind;

/// A rule that cannot be parsed. `offset` counts characters (not bytes) from the start of the
/// rule to the place the problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub offset: usize,
    pub kind: RuleErrorKind,
}

/// What is wrong with a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleErrorKind {
    /// The rule is empty or only whitespace.
    EmptyRule,
    /// A character that has no meaning in a rule.
    UnexpectedChar(char),
    /// An operator Traefik's rule syntax does not have (`&`, `|`, `==`, `!=`, `<`, `>`, `=`).
    UnsupportedOperator(&'static str),
    /// A string that is not closed by its quote.
    UnterminatedString,
    /// A backslash escape that Go's string literals do not have, inside double quotes.
    InvalidEscape(String),
    /// `'...'`: Go's string literals are backtick or double quoted.
    SingleQuotedString,
    /// A double-quoted string whose `\x`/octal escapes do not form UTF-8.
    InvalidUtf8String,
    /// A name that is not a matcher of the rule's syntax.
    UnknownMatcher { name: String, suggestion: Option<&'static str>, syntax: Syntax },
    /// A matcher of Traefik's other syntax (`Headers` in a v3 rule, `Header` in a v2 one).
    OtherSyntaxMatcher { matcher: &'static str, instead: &'static str, syntax: Syntax },
    /// A matcher name not followed by `(`.
    ExpectedOpenParen { matcher: &'static str },
    /// A `(` without its `)`.
    UnclosedParenthesis,
    /// A `)` without its `(`.
    UnmatchedClosingParenthesis,
    /// Something else than what the grammar allows at that place.
    UnexpectedToken { found: String, expected: &'static str },
    /// The rule ends where more is needed.
    UnexpectedEnd { expected: &'static str },
    /// A matcher argument that is not a string.
    ExpectedString { matcher: &'static str, found: String },
    /// A matcher called with a number of arguments it does not take.
    ArgumentCount { matcher: &'static str, expected: &'static str, got: usize },
    /// An empty string argument (Traefik rejects them all).
    EmptyArgument { matcher: &'static str },
    /// An argument the matcher cannot use: a path without its leading `/`, a bad regexp, ...
    InvalidArgument { matcher: &'static str, reason: String },
    /// Parentheses nested deeper than [`super::MAX_NESTING`].
    TooDeep,
}

impl RuleError {
    pub(crate) fn at(offset: usize, kind: RuleErrorKind) -> Self {
        Self { offset, kind }
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn kind(&self) -> &RuleErrorKind {
        &self.kind
    }
}

fn names_list(syntax: Syntax) -> String {
    MatcherKind::ALL.iter().filter(|k| k.exists_in(syntax)).map(|k| k.name()).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RuleErrorKind::*;
        let (head, tail): (String, String) = match &self.kind {
            EmptyRule => ("empty rule".into(), ", expected a matcher such as Host(`example.com`)".into()),
            UnexpectedChar(c) => (format!("unexpected character {c:?}"), String::new()),
            UnsupportedOperator(op) => {
                let hint = match *op {
                    "&" => ", did you mean \"&&\"?",
                    "|" => ", did you mean \"||\"?",
                    _ => ", rules combine matchers with \"&&\", \"||\" and \"!\" only",
                };
                (format!("unsupported operator {op:?}"), hint.into())
            }
            UnterminatedString => ("unterminated string".into(), String::new()),
            InvalidEscape(seq) => (
                format!("invalid escape sequence {seq:?}"),
                ", use a backtick string to write backslashes literally".into(),
            ),
            SingleQuotedString => {
                ("single-quoted string".into(), ", quote arguments with backticks (`...`) or double quotes".into())
            }
            InvalidUtf8String => ("string escapes do not form valid UTF-8".into(), String::new()),
            UnknownMatcher { name, suggestion, syntax } => {
                let mut tail = format!(", expected one of {}", names_list(*syntax));
                if let Some(s) = suggestion {
                    tail.push_str(&format!(" (did you mean {s}?)"));
                }
                (format!("unknown matcher {name:?}"), tail)
            }
            OtherSyntaxMatcher { matcher, instead, syntax } => {
                let other = syntax.other();
                (
                    format!("{matcher} is Traefik {} syntax, not {}", other.name(), syntax.name()),
                    format!(
                        ": write {instead}, or read the rule as {} (a route's `syntax: {}`)",
                        other.name(),
                        other.name()
                    ),
                )
            }
            ExpectedOpenParen { matcher } => (format!("expected \"(\" after {matcher}"), String::new()),
            UnclosedParenthesis => ("unclosed parenthesis".into(), String::new()),
            UnmatchedClosingParenthesis => ("unmatched closing parenthesis".into(), String::new()),
            UnexpectedToken { found, expected } => (format!("unexpected {found}"), format!(", expected {expected}")),
            UnexpectedEnd { expected } => ("unexpected end of rule".into(), format!(", expected {expected}")),
            ExpectedString { matcher, found } => (
                format!("{matcher} arguments must be strings, found {found}"),
                ", quote it with backticks (`...`) or double quotes".into(),
            ),
            ArgumentCount { matcher, expected, got } => {
                let plural = if expected.ends_with(" 1") || *expected == "1" { "" } else { "s" };
                // Traefik v2 took several values per matcher; v3 takes one.
                let hint = if *expected == "1" && *got > 1 {
                    format!(": join one {matcher}(...) per value with ||")
                } else {
                    String::new()
                };
                (format!("{matcher} expects {expected} argument{plural}, got {got}"), hint)
            }
            EmptyArgument { matcher } => (format!("empty argument for {matcher}"), String::new()),
            InvalidArgument { matcher, reason } => (format!("invalid {matcher} argument"), format!(": {reason}")),
            TooDeep => {
                ("rule nested too deeply".into(), format!(", at most {} levels of parentheses", super::MAX_NESTING))
            }
        };
        write!(f, "{head} at offset {}{tail}", self.offset)
    }
}

impl std::error::Error for RuleError {}

//! Recursive descent over the rule tokens, with Go's operator precedence: `!` binds tighter than
//! `&&`, which binds tighter than `||`; both binary operators are left-associative (which does
//! not change the result of a boolean rule), and parentheses group.
//!
//! ```text
//! rule    = or EOF
//! or      = and { "||" and }
//! and     = unary { "&&" unary }
//! unary   = { "!" } primary
//! primary = "(" or ")" | NAME "(" [ STRING { "," STRING } [ "," ] ] ")"
//! ```

use super::error::{RuleError, RuleErrorKind};
use super::lexer::{Lexer, Tok, Token};
use super::matcher::{Arg, Matcher, MatcherKind};
use super::{MAX_NESTING, Syntax};

/// A parsed rule: matchers combined by the boolean operators.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Match(Matcher),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

struct Parser<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    peeked: Option<Token<'a>>,
    depth: usize,
    syntax: Syntax,
}

const A_MATCHER: &str = "a matcher such as Host(`example.com`)";

pub(crate) fn parse(src: &str, syntax: Syntax) -> Result<Expr, RuleError> {
    if src.trim().is_empty() {
        return Err(RuleError::at(0, RuleErrorKind::EmptyRule));
    }
    let mut parser = Parser { src, lexer: Lexer::new(src), peeked: None, depth: 0, syntax };
    let expr = parser.or()?;
    let token = parser.next()?;
    match token.tok {
        Tok::Eof => Ok(expr),
        Tok::RParen => Err(parser.error(token.start, RuleErrorKind::UnmatchedClosingParenthesis)),
        other => Err(parser.error(
            token.start,
            RuleErrorKind::UnexpectedToken {
                found: other.describe(),
                expected: "\"&&\", \"||\" or the end of the rule",
            },
        )),
    }
}

impl<'a> Parser<'a> {
    /// An error at a byte offset, reported at the matching character offset.
    fn error(&self, byte: usize, kind: RuleErrorKind) -> RuleError {
        RuleError::at(self.chars_before(byte), kind)
    }

    fn chars_before(&self, byte: usize) -> usize {
        self.src[..byte].chars().count()
    }

    fn next(&mut self) -> Result<Token<'a>, RuleError> {
        if let Some(token) = self.peeked.take() {
            return Ok(token);
        }
        self.lexer.next_token().map_err(|(byte, kind)| self.error(byte, kind))
    }

    fn peek(&mut self) -> Result<&Tok<'a>, RuleError> {
        if self.peeked.is_none() {
            let token = self.next()?;
            self.peeked = Some(token);
        }
        Ok(&self.peeked.as_ref().expect("just peeked").tok)
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        let mut items = vec![self.and()?];
        while *self.peek()? == Tok::OrOr {
            self.next()?;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }

    fn and(&mut self) -> Result<Expr, RuleError> {
        let mut items = vec![self.unary()?];
        while *self.peek()? == Tok::AndAnd {
            self.next()?;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    fn unary(&mut self) -> Result<Expr, RuleError> {
        let mut negations = 0usize;
        while *self.peek()? == Tok::Bang {
            self.next()?;
            negations += 1;
        }
        let expr = self.primary()?;
        Ok(if negations % 2 == 1 { Expr::Not(Box::new(expr)) } else { expr })
    }

    fn primary(&mut self) -> Result<Expr, RuleError> {
        let token = self.next()?;
        match token.tok {
            Tok::LParen => {
                if self.depth >= MAX_NESTING {
                    return Err(self.error(token.start, RuleErrorKind::TooDeep));
                }
                self.depth += 1;
                let inner = self.or()?;
                self.depth -= 1;
                let close = self.next()?;
                match close.tok {
                    Tok::RParen => Ok(inner),
                    Tok::Eof => Err(self.error(token.start, RuleErrorKind::UnclosedParenthesis)),
                    other => Err(self.error(
                        close.start,
                        RuleErrorKind::UnexpectedToken { found: other.describe(), expected: "\"&&\", \"||\" or \")\"" },
                    )),
                }
            }
            Tok::Ident(name) => self.call(name, token.start),
            Tok::Eof => Err(self.error(token.start, RuleErrorKind::UnexpectedEnd { expected: A_MATCHER })),
            other => Err(self
                .error(token.start, RuleErrorKind::UnexpectedToken { found: other.describe(), expected: A_MATCHER })),
        }
    }

    fn call(&mut self, name: &str, start: usize) -> Result<Expr, RuleError> {
        let syntax = self.syntax;
        let Some(kind) = MatcherKind::lookup(name) else {
            let suggestion = MatcherKind::suggest(name, syntax);
            return Err(self.error(start, RuleErrorKind::UnknownMatcher { name: name.to_string(), suggestion, syntax }));
        };
        if !kind.exists_in(syntax) {
            let kind = RuleErrorKind::OtherSyntaxMatcher { matcher: kind.name(), instead: kind.counterpart(), syntax };
            return Err(self.error(start, kind));
        }
        let open = self.next()?;
        if open.tok != Tok::LParen {
            return Err(self.error(open.start, RuleErrorKind::ExpectedOpenParen { matcher: kind.name() }));
        }
        let mut args = Vec::new();
        loop {
            let token = self.next()?;
            match token.tok {
                Tok::RParen => break,
                Tok::Str(value) => {
                    args.push(Arg { value, offset: self.chars_before(token.start) });
                    let separator = self.next()?;
                    match separator.tok {
                        Tok::Comma => {}
                        Tok::RParen => break,
                        Tok::Eof => return Err(self.error(open.start, RuleErrorKind::UnclosedParenthesis)),
                        other => {
                            return Err(self.error(
                                separator.start,
                                RuleErrorKind::UnexpectedToken { found: other.describe(), expected: "\",\" or \")\"" },
                            ));
                        }
                    }
                }
                Tok::Eof => return Err(self.error(open.start, RuleErrorKind::UnclosedParenthesis)),
                found @ (Tok::Ident(_) | Tok::Number(_)) => {
                    return Err(self.error(
                        token.start,
                        RuleErrorKind::ExpectedString { matcher: kind.name(), found: found.describe() },
                    ));
                }
                other => {
                    return Err(self.error(
                        token.start,
                        RuleErrorKind::UnexpectedToken {
                            found: other.describe(),
                            expected: "a string argument or \")\"",
                        },
                    ));
                }
            }
        }
        let matcher = Matcher::build(kind, syntax, self.chars_before(start), &args)
            .map_err(|(offset, kind)| RuleError::at(offset, kind))?;
        Ok(Expr::Match(matcher))
    }
}

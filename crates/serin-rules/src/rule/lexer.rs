//! Tokens of Traefik's rule syntax, which is a subset of Go expressions: identifiers, Go string
//! literals (backtick raw strings and double-quoted interpreted strings), parentheses, commas,
//! `&&`, `||` and `!`. Positions are byte offsets; the parser turns them into character offsets
//! for errors.

use super::error::RuleErrorKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    Ident(&'a str),
    Str(String),
    Number(&'a str),
    LParen,
    RParen,
    Comma,
    AndAnd,
    OrOr,
    Bang,
    Eof,
}

impl Tok<'_> {
    /// How the token is named in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("name {name:?}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Number(n) => format!("number {n}"),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::Comma => "\",\"".into(),
            Tok::AndAnd => "\"&&\"".into(),
            Tok::OrOr => "\"||\"".into(),
            Tok::Bang => "\"!\"".into(),
            Tok::Eof => "end of rule".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub tok: Tok<'a>,
    /// Byte offset of the token's first character.
    pub start: usize,
}

/// A lexing error at a byte offset.
pub(crate) type LexError = (usize, RuleErrorKind);

pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Self { src, pos: 0 }
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.src[self.pos..].chars().nth(1)
    }

    pub(crate) fn next_token(&mut self) -> Result<Token<'a>, LexError> {
        while let Some(c) = self.peek_char() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return Ok(Token { tok: Tok::Eof, start });
        };
        let one = |lexer: &mut Self, tok| {
            lexer.pos += 1;
            Ok(Token { tok, start })
        };
        match c {
            '(' => one(self, Tok::LParen),
            ')' => one(self, Tok::RParen),
            ',' => one(self, Tok::Comma),
            '!' if self.peek_second() == Some('=') => Err((start, RuleErrorKind::UnsupportedOperator("!="))),
            '!' => one(self, Tok::Bang),
            '&' if self.peek_second() == Some('&') => {
                self.pos += 2;
                Ok(Token { tok: Tok::AndAnd, start })
            }
            '|' if self.peek_second() == Some('|') => {
                self.pos += 2;
                Ok(Token { tok: Tok::OrOr, start })
            }
            '&' => Err((start, RuleErrorKind::UnsupportedOperator("&"))),
            '|' => Err((start, RuleErrorKind::UnsupportedOperator("|"))),
            '=' if self.peek_second() == Some('=') => Err((start, RuleErrorKind::UnsupportedOperator("=="))),
            '=' => Err((start, RuleErrorKind::UnsupportedOperator("="))),
            '<' => Err((start, RuleErrorKind::UnsupportedOperator("<"))),
            '>' => Err((start, RuleErrorKind::UnsupportedOperator(">"))),
            '`' => self.raw_string(start),
            '"' => self.interpreted_string(start),
            '\'' => Err((start, RuleErrorKind::SingleQuotedString)),
            c if c.is_ascii_digit() => {
                let len = self.src[start..]
                    .find(|c: char| !c.is_ascii_alphanumeric() && c != '.')
                    .unwrap_or(self.src.len() - start);
                self.pos += len;
                Ok(Token { tok: Tok::Number(&self.src[start..start + len]), start })
            }
            c if c.is_alphabetic() || c == '_' => {
                let len = self.src[start..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(self.src.len() - start);
                self.pos += len;
                Ok(Token { tok: Tok::Ident(&self.src[start..start + len]), start })
            }
            c => Err((start, RuleErrorKind::UnexpectedChar(c))),
        }
    }

    /// A Go raw string: everything up to the next backtick, carriage returns dropped.
    fn raw_string(&mut self, start: usize) -> Result<Token<'a>, LexError> {
        let body_start = start + 1;
        let Some(len) = self.src[body_start..].find('`') else {
            return Err((start, RuleErrorKind::UnterminatedString));
        };
        let body = &self.src[body_start..body_start + len];
        self.pos = body_start + len + 1;
        Ok(Token { tok: Tok::Str(body.replace('\r', "")), start })
    }

    /// A Go interpreted string: no raw newline, Go's escapes.
    fn interpreted_string(&mut self, start: usize) -> Result<Token<'a>, LexError> {
        let src = self.src;
        let mut bytes: Vec<u8> = Vec::new();
        let mut iter = src[start + 1..].char_indices().map(|(i, c)| (i + start + 1, c)).peekable();
        while let Some((i, c)) = iter.next() {
            match c {
                '"' => {
                    self.pos = i + 1;
                    let s = String::from_utf8(bytes).map_err(|_| (start, RuleErrorKind::InvalidUtf8String))?;
                    return Ok(Token { tok: Tok::Str(s), start });
                }
                '\n' => break,
                '\\' => {
                    let Some((_, e)) = iter.next() else { break };
                    let bad = |len: usize| (i, RuleErrorKind::InvalidEscape(src[i..].chars().take(len).collect()));
                    let simple = match e {
                        'a' => Some(0x07u8),
                        'b' => Some(0x08),
                        'f' => Some(0x0C),
                        'n' => Some(b'\n'),
                        'r' => Some(b'\r'),
                        't' => Some(b'\t'),
                        'v' => Some(0x0B),
                        '\\' => Some(b'\\'),
                        '"' => Some(b'"'),
                        _ => None,
                    };
                    if let Some(b) = simple {
                        bytes.push(b);
                        continue;
                    }
                    let mut take_digits = |n: usize, radix: u32| -> Option<u32> {
                        let mut value = 0u32;
                        for _ in 0..n {
                            let (_, d) = iter.next_if(|(_, d)| d.is_digit(radix))?;
                            value = value * radix + d.to_digit(radix)?;
                        }
                        Some(value)
                    };
                    match e {
                        '0'..='7' => {
                            let rest = take_digits(2, 8).ok_or_else(|| bad(4))?;
                            let value = e.to_digit(8).unwrap_or(0) * 64 + rest;
                            let byte = u8::try_from(value).map_err(|_| bad(4))?;
                            bytes.push(byte);
                        }
                        'x' => {
                            let value = take_digits(2, 16).ok_or_else(|| bad(4))?;
                            bytes.push(value as u8);
                        }
                        'u' | 'U' => {
                            let n = if e == 'u' { 4 } else { 8 };
                            let value = take_digits(n, 16).ok_or_else(|| bad(n + 2))?;
                            let ch = char::from_u32(value).ok_or_else(|| bad(n + 2))?;
                            let mut buf = [0u8; 4];
                            bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(bad(1 + e.len_utf8())),
                    }
                }
                c => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        Err((start, RuleErrorKind::UnterminatedString))
    }
}

//! Reads a condition's text before expr-lang does, for three things expr-lang alone does not give:
//! clear messages for unbalanced brackets and unterminated strings (pest only lists grammar rules),
//! Go expr's `.field` shorthand inside predicates, and checked indexing and field access. For the
//! last, `a[i]` becomes `__serin_index(a, i, "a")` and `a.b` becomes `__serin_field(a, "b", "a")`,
//! so that `result[0]` on an empty list is an error naming `result[0]`, where expr-lang would
//! quietly yield nil and then fail with `Invalid operands for operator >=`.
//!
//! The rewrite works on tokens, not on a full parse: it only has to find where a postfix chain
//! (`result.data[0].value`) starts. When in doubt it leaves the text alone, and the caller falls
//! back to the original text whenever the rewritten one does not compile.

/// The name of the checked-index builtin the rewrite calls.
pub(crate) const INDEX_FN: &str = "__serin_index";
/// The name of the checked-field builtin the rewrite calls.
pub(crate) const FIELD_FN: &str = "__serin_field";

/// Words that are operators or statements: a `[` after them opens a list, not an index.
const KEYWORDS: &[&str] =
    &["in", "not", "and", "or", "matches", "contains", "startsWith", "endsWith", "let", "if", "else"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ident,
    Keyword,
    Number,
    Str,
    Punct,
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// A structural mistake found while reading the text, at a byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LexError {
    pub(crate) byte_offset: usize,
    pub(crate) message: String,
}

pub(crate) struct Tokens<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    /// For each bracket token, the index of its partner.
    partner: Vec<Option<usize>>,
}

impl<'a> Tokens<'a> {
    pub(crate) fn read(src: &'a str) -> Result<Self, LexError> {
        let tokens = lex(src)?;
        let partner = match_brackets(src, &tokens)?;
        Ok(Tokens { src, tokens, partner })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    fn text(&self, i: usize) -> &'a str {
        &self.src[self.tokens[i].start..self.tokens[i].end]
    }

    fn is(&self, i: usize, punct: &str) -> bool {
        self.tokens.get(i).is_some_and(|t| t.kind == Kind::Punct) && self.text(i) == punct
    }

    fn kind(&self, i: usize) -> Option<Kind> {
        self.tokens.get(i).map(|t| t.kind)
    }

    /// Whether the token can end an operand, so that a `[` or `.` right after it indexes it.
    fn ends_operand(&self, i: usize) -> bool {
        match self.kind(i) {
            Some(Kind::Ident | Kind::Number | Kind::Str) => true,
            Some(Kind::Punct) => matches!(self.text(i), ")" | "]" | "}"),
            _ => false,
        }
    }

    /// The first token of the postfix chain that the operator at `op` applies to.
    fn chain_start(&self, op: usize) -> Option<usize> {
        let mut j = op.checked_sub(1)?;
        loop {
            let start = match self.kind(j)? {
                Kind::Ident | Kind::Number | Kind::Str => j,
                Kind::Punct => match self.text(j) {
                    ")" => {
                        let open = self.partner[j]?;
                        if open > 0 && self.kind(open - 1) == Some(Kind::Ident) { open - 1 } else { open }
                    }
                    "]" => {
                        let open = self.partner[j]?;
                        if open > 0 && self.ends_operand(open - 1) {
                            j = open - 1;
                            continue;
                        }
                        if open > 1 && self.is(open - 1, "?.") && self.ends_operand(open - 2) {
                            j = open - 2;
                            continue;
                        }
                        open
                    }
                    "}" => self.partner[j]?,
                    _ => return None,
                },
                Kind::Keyword => return None,
            };
            if start >= 2 && (self.is(start - 1, ".") || self.is(start - 1, "?.")) && self.ends_operand(start - 2) {
                j = start - 2;
                continue;
            }
            return Some(start);
        }
    }

    /// Whether the brackets at `open` hold a slice (`a[1:]`) rather than an index.
    fn is_slice(&self, open: usize) -> bool {
        let Some(close) = self.partner[open] else { return false };
        let mut i = open + 1;
        let mut saw_ternary = false;
        while i < close {
            if self.kind(i) == Some(Kind::Punct) {
                match self.text(i) {
                    "(" | "[" | "{" => {
                        i = self.partner[i].unwrap_or(close);
                    }
                    "?" => saw_ternary = true,
                    ":" if !saw_ternary => return true,
                    _ => {}
                }
            }
            i += 1;
        }
        false
    }
}

/// Inserts the `#` that Go expr implies in a predicate's `.field` shorthand (`{.ok}` is `{#.ok}`).
pub(crate) fn expand_shorthand(tokens: &Tokens) -> String {
    let mut inserts = Vec::new();
    for i in 0..tokens.tokens.len() {
        if tokens.is(i, ".")
            && tokens.kind(i + 1) == Some(Kind::Ident)
            && (i == 0 || !tokens.ends_operand(i - 1))
            && tokens.tokens[i + 1].start == tokens.tokens[i].end
        {
            inserts.push(tokens.tokens[i].start);
        }
    }
    let mut out = String::with_capacity(tokens.src.len() + inserts.len());
    let mut last = 0;
    for at in inserts {
        out.push_str(&tokens.src[last..at]);
        out.push('#');
        last = at;
    }
    out.push_str(&tokens.src[last..]);
    out
}

/// Rewrites indexing and field access into the checked builtins.
pub(crate) fn checked_access(tokens: &Tokens) -> String {
    let count = tokens.tokens.len();
    // (chain start, operator position, text) to put before the chain start.
    let mut prefixes: Vec<(usize, usize, &'static str)> = Vec::new();
    let mut replace: Vec<Option<String>> = vec![None; count];
    for i in 0..count {
        if tokens.is(i, "[") && i > 0 && tokens.ends_operand(i - 1) && !tokens.is_slice(i) {
            let (Some(close), Some(start)) = (tokens.partner[i], tokens.chain_start(i)) else { continue };
            let subject = tokens.src[tokens.tokens[start].start..tokens.tokens[i].start].trim();
            prefixes.push((start, i, INDEX_FN));
            replace[i] = Some(", ".to_string());
            replace[close] = Some(format!(", {})", quote(subject)));
        } else if tokens.is(i, ".")
            && i > 0
            && tokens.ends_operand(i - 1)
            && matches!(tokens.kind(i + 1), Some(Kind::Ident | Kind::Keyword))
            && !tokens.is(i + 2, "(")
        {
            let Some(start) = tokens.chain_start(i) else { continue };
            let subject = tokens.src[tokens.tokens[start].start..tokens.tokens[i].start].trim();
            prefixes.push((start, i, FIELD_FN));
            replace[i] = Some(", ".to_string());
            replace[i + 1] = Some(format!("{}, {})", quote(tokens.text(i + 1)), quote(subject)));
        }
    }
    // The operator that comes last in a chain wraps the others, so its call is written first.
    prefixes.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out = String::with_capacity(tokens.src.len() * 2);
    let mut last = 0;
    let mut prefix = prefixes.iter().peekable();
    for (i, token) in tokens.tokens.iter().enumerate() {
        out.push_str(&tokens.src[last..token.start]);
        while let Some((_, _, name)) = prefix.next_if(|p| p.0 == i) {
            out.push_str(name);
            out.push('(');
        }
        match &replace[i] {
            Some(text) => out.push_str(text),
            None => out.push_str(tokens.text(i)),
        }
        last = token.end;
    }
    out.push_str(&tokens.src[last..]);
    out
}

/// An expr string literal holding `text` (only used in messages, so control characters become
/// spaces).
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const MULTI_CHAR_PUNCT: &[&str] = &["?.", "??", "..", "==", "!=", "<=", ">=", "&&", "||", "**"];

fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if src[i..].starts_with("//") {
            i = src[i..].find('\n').map_or(bytes.len(), |n| i + n);
            continue;
        }
        if src[i..].starts_with("/*") {
            let Some(n) = src[i + 2..].find("*/") else {
                return Err(LexError { byte_offset: start, message: "this comment is never closed with */".into() });
            };
            i += n + 4;
            continue;
        }
        let kind = match c {
            b'"' | b'\'' | b'`' => {
                i = string_end(bytes, i).ok_or_else(|| LexError {
                    byte_offset: start,
                    message: format!("this string is never closed with {}", c as char),
                })?;
                Kind::Str
            }
            b'0'..=b'9' => {
                i = number_end(bytes, i);
                Kind::Number
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'$' | b'#' => {
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                if KEYWORDS.contains(&&src[start..i]) { Kind::Keyword } else { Kind::Ident }
            }
            _ => {
                let len = MULTI_CHAR_PUNCT
                    .iter()
                    .find(|p| src[i..].starts_with(*p))
                    .map_or_else(|| src[i..].chars().next().map_or(1, char::len_utf8), |p| p.len());
                i += len;
                Kind::Punct
            }
        };
        tokens.push(Token { kind, start, end: i });
    }
    Ok(tokens)
}

/// The byte after the closing quote of the string starting at `start`, if it is closed.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote != b'`' => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn number_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    let word = |i: &mut usize| {
        while *i < bytes.len() && (bytes[*i].is_ascii_alphanumeric() || bytes[*i] == b'_') {
            *i += 1;
        }
    };
    if bytes.len() > start + 1 && bytes[start] == b'0' && matches!(bytes[start + 1] | 0x20, b'x' | b'o' | b'b') {
        i += 2;
        word(&mut i);
        return i;
    }
    let digits = |i: &mut usize| {
        while *i < bytes.len() && (bytes[*i].is_ascii_digit() || bytes[*i] == b'_') {
            *i += 1;
        }
    };
    digits(&mut i);
    if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
        i += 1;
        digits(&mut i);
    }
    if i < bytes.len() && matches!(bytes[i], b'e' | b'E') {
        let sign = usize::from(i + 1 < bytes.len() && matches!(bytes[i + 1], b'+' | b'-'));
        if i + 1 + sign < bytes.len() && bytes[i + 1 + sign].is_ascii_digit() {
            i += 1 + sign;
            digits(&mut i);
        }
    }
    i
}

fn match_brackets(src: &str, tokens: &[Token]) -> Result<Vec<Option<usize>>, LexError> {
    let mut partner = vec![None; tokens.len()];
    let mut open: Vec<usize> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if token.kind != Kind::Punct {
            continue;
        }
        let text = &src[token.start..token.end];
        match text {
            "(" | "[" | "{" => open.push(i),
            ")" | "]" | "}" => {
                let want = match text {
                    ")" => "(",
                    "]" => "[",
                    _ => "{",
                };
                let Some(o) = open.pop() else {
                    return Err(LexError {
                        byte_offset: token.start,
                        message: format!("unexpected `{text}`: there is no `{want}` to close"),
                    });
                };
                let opener = &src[tokens[o].start..tokens[o].end];
                if opener != want {
                    return Err(LexError {
                        byte_offset: token.start,
                        message: format!(
                            "`{text}` does not match the `{opener}` at column {}",
                            column_of(src, tokens[o].start)
                        ),
                    });
                }
                partner[i] = Some(o);
                partner[o] = Some(i);
            }
            _ => {}
        }
    }
    if let Some(&o) = open.last() {
        let opener = &src[tokens[o].start..tokens[o].end];
        return Err(LexError { byte_offset: tokens[o].start, message: format!("this `{opener}` is never closed") });
    }
    Ok(partner)
}

/// The 1-based column (in characters) of a byte offset within its line.
fn column_of(src: &str, byte_offset: usize) -> usize {
    let line_start = src[..byte_offset].rfind('\n').map_or(0, |n| n + 1);
    src[line_start..byte_offset].chars().count() + 1
}

#[cfg(test)]
mod tests {
    //! What the rewrite produces for chains, and what it leaves alone.

    use super::*;

    fn rewrite(src: &str) -> String {
        let tokens = Tokens::read(src).unwrap();
        let expanded = expand_shorthand(&tokens);
        checked_access(&Tokens::read(&expanded).unwrap())
    }

    #[test]
    fn rewrites_index_chains() {
        assert_eq!(rewrite("result[0] >= 0.95"), r#"__serin_index(result, 0, "result") >= 0.95"#);
        assert_eq!(
            rewrite("result.data[0].v"),
            r#"__serin_field(__serin_index(__serin_field(result, "data", "result"), 0, "result.data"), "v", "result.data[0]")"#
        );
        assert_eq!(
            rewrite("len(result) > 0 && result[0][1] < 5"),
            r#"len(result) > 0 && __serin_index(__serin_index(result, 0, "result"), 1, "result[0]") < 5"#
        );
        assert_eq!(
            rewrite("filter(result, # > 1)[0]"),
            r#"__serin_index(filter(result, # > 1), 0, "filter(result, # > 1)")"#
        );
    }

    #[test]
    fn leaves_lists_slices_and_optional_access_alone() {
        assert_eq!(rewrite("2 in [1, 2]"), "2 in [1, 2]");
        assert_eq!(rewrite("result[1:] == []"), "result[1:] == []");
        assert_eq!(rewrite("result?.[0] ?? 1"), "result?.[0] ?? 1");
        assert_eq!(rewrite("result?.ok"), "result?.ok");
        assert_eq!(rewrite("1..3 == [1, 2, 3] && 1.5 > 1"), "1..3 == [1, 2, 3] && 1.5 > 1");
        assert_eq!(rewrite("'a.b[0]' == result"), "'a.b[0]' == result");
    }

    #[test]
    fn expands_predicate_shorthand() {
        assert_eq!(rewrite("all(result, {.ok})"), r##"all(result, {__serin_field(#, "ok", "#")})"##);
        assert_eq!(rewrite("any(result, .x > 1)"), r##"any(result, __serin_field(#, "x", "#") > 1)"##);
    }

    #[test]
    fn reports_structural_mistakes() {
        let err = Tokens::read("result > (1").err().unwrap();
        assert_eq!((err.byte_offset, err.message.as_str()), (9, "this `(` is never closed"));
        let err = Tokens::read("result[0)").err().unwrap();
        assert_eq!(err.message, "`)` does not match the `[` at column 7");
        let err = Tokens::read("result == 'ok").err().unwrap();
        assert_eq!((err.byte_offset, err.message.as_str()), (10, "this string is never closed with '"));
        assert!(Tokens::read("a // [ (\n > 1 /* ( */").is_ok());
    }
}

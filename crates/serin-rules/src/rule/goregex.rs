//! Go `regexp` syntax on top of the `regex` crate.
//!
//! Traefik compiles `HostRegexp`, `PathRegexp`, `HeaderRegexp` and `QueryRegexp` values with Go's
//! `regexp` package, which is RE2 syntax like the `regex` crate, but the two disagree on a few
//! points that matter for routing rules written for Traefik:
//!
//! - `\d`, `\w`, `\s` and `\b` are ASCII-only in Go and Unicode-aware in Rust;
//! - a `{` that does not start a valid repetition is a literal in Go and an error in Rust
//!   (so Traefik v2's `{name:pattern}` templates are plain text in Traefik v3, and here);
//! - inside a character class, `[`, `&&`, `--` and `~~` are literals in Go but nested classes
//!   and set operations in Rust;
//! - Go knows `\Q...\E` quoting and `\<`/`\>` as escaped literals, Rust does not and reads
//!   `\<`/`\>` as word-boundary assertions;
//! - Go rejects flags other than `i`, `m`, `s`, `U`, and rejects `\1`-style single-digit escapes.
//!
//! [`compile`] rewrites a Go pattern into an equivalent Rust pattern and compiles it. Only
//! whether a pattern matches is ever used for routing, so leftmost-first versus leftmost-longest
//! never matters. Matching is unanchored, as Go's `MatchString` is.

use regex::Regex;

/// Go's `\d`, `\D`, `\w`, `\W`, `\s`, `\S` as explicit ASCII classes.
fn perl_class(letter: char) -> Option<&'static str> {
    Some(match letter {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        'w' => "[0-9A-Za-z_]",
        'W' => "[^0-9A-Za-z_]",
        's' => "[\\t\\n\\x0C\\r ]",
        'S' => "[^\\t\\n\\x0C\\r ]",
        _ => return None,
    })
}

const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper", "word",
    "xdigit",
];

/// Compiles a Go regular expression. The error is a one-line message in Go's words where the
/// difference is known, the `regex` crate's otherwise.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    Regex::new(&translated).map_err(|e| {
        let text = e.to_string();
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid regular expression");
        last.trim().trim_start_matches("error: ").to_string()
    })
}

/// Rewrites Go regexp syntax into `regex` crate syntax with the same meaning.
pub(crate) fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i = escape_outside_class(&chars, i, &mut out)?,
            '[' => i = class(&chars, i, &mut out)?,
            '{' => match repetition_end(&chars, i) {
                Some(end) => {
                    out.extend(&chars[i..=end]);
                    i = end + 1;
                }
                None => {
                    out.push_str("\\{");
                    i += 1;
                }
            },
            '}' => {
                out.push_str("\\}");
                i += 1;
            }
            '(' if chars.get(i + 1) == Some(&'?') => i = group_flags(&chars, i, &mut out)?,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// `(?` starts a named group (`(?P<n>`, `(?<n>`) or a flag group; Go only knows the flags `imsU`.
fn group_flags(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let mut j = start + 2;
    if matches!(chars.get(j), Some('P') | Some('<')) {
        out.push_str("(?");
        return Ok(j);
    }
    while let Some(&c) = chars.get(j) {
        match c {
            'i' | 'm' | 's' | 'U' | '-' => j += 1,
            ':' | ')' => {
                out.extend(&chars[start..=j]);
                return Ok(j + 1);
            }
            _ => break,
        }
    }
    let shown: String = chars[start..(j + 1).min(chars.len())].iter().collect();
    Err(format!("invalid or unsupported Perl syntax: `{shown}`"))
}

/// Index of the `}` closing a valid Go repetition `{n}`, `{n,}` or `{n,m}` starting at `start`.
fn repetition_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start + 1;
    let digits = |j: &mut usize| {
        let from = *j;
        while chars.get(*j).is_some_and(char::is_ascii_digit) {
            *j += 1;
        }
        *j > from
    };
    if !digits(&mut j) {
        return None;
    }
    if chars.get(j) == Some(&',') {
        j += 1;
        digits(&mut j);
    }
    (chars.get(j) == Some(&'}')).then_some(j)
}

/// Writes one literal character so that the `regex` crate reads it as that character, outside
/// a class.
fn push_literal(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

/// Writes one literal character inside a class: ASCII punctuation is escaped (so `&`, `-`, `~`,
/// `[`, `]` and `^` stay literal), except `<` and `>`, which Rust cannot escape in a class.
fn push_class_literal(out: &mut String, c: char) {
    if c.is_ascii_punctuation() && c != '<' && c != '>' {
        out.push('\\');
    }
    out.push(c);
}

fn escape_outside_class(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let Some(&c) = chars.get(start + 1) else {
        return Err("trailing backslash at end of expression".to_string());
    };
    match c {
        'Q' => {
            let mut j = start + 2;
            let mut literal = String::new();
            while j < chars.len() {
                if chars[j] == '\\' && chars.get(j + 1) == Some(&'E') {
                    j += 2;
                    out.push_str(&regex::escape(&literal));
                    return Ok(j);
                }
                literal.push(chars[j]);
                j += 1;
            }
            out.push_str(&regex::escape(&literal));
            Ok(j)
        }
        'b' | 'B' => {
            out.push_str(if c == 'b' { "(?-u:\\b)" } else { "(?-u:\\B)" });
            Ok(start + 2)
        }
        'A' | 'z' => {
            out.push('\\');
            out.push(c);
            Ok(start + 2)
        }
        'p' | 'P' => unicode_class(chars, start, out),
        _ => {
            if let Some(class) = perl_class(c) {
                out.push_str(class);
                return Ok(start + 2);
            }
            let (ch, next) = escaped_char(chars, start)?;
            push_literal(out, ch);
            Ok(next)
        }
    }
}

/// Copies `\pL`, `\p{Greek}`, `\PL`, `\P{Greek}` as they are: both engines know them.
fn unicode_class(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    match chars.get(start + 2) {
        Some('{') => {
            let close = (start + 3..chars.len())
                .find(|&j| chars[j] == '}')
                .ok_or_else(|| "invalid character class range: missing `}` after `\\p{`".to_string())?;
            out.extend(&chars[start..=close]);
            Ok(close + 1)
        }
        Some(_) => {
            out.extend(&chars[start..start + 3]);
            Ok(start + 3)
        }
        None => Err("invalid character class range: `\\p` at end of expression".to_string()),
    }
}

/// Decodes a Go single-character escape (`\n`, `\x41`, `\x{263a}`, `\101`, `\.`) starting at the
/// backslash; returns the character and the index after the escape.
fn escaped_char(chars: &[char], start: usize) -> Result<(char, usize), String> {
    let invalid = |end: usize| {
        let shown: String = chars[start..end.min(chars.len())].iter().collect();
        format!("invalid escape sequence: `{shown}`")
    };
    let Some(&c) = chars.get(start + 1) else {
        return Err("trailing backslash at end of expression".to_string());
    };
    let mut j = start + 2;
    let ch = match c {
        'a' => '\x07',
        'f' => '\x0C',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0B',
        '0'..='7' => {
            // Go rejects a lone non-zero digit (a backreference) and reads up to three octal
            // digits otherwise.
            let is_octal = |j: usize| chars.get(j).is_some_and(|d| ('0'..='7').contains(d));
            if c != '0' && !is_octal(j) {
                return Err(invalid(j));
            }
            let mut value = c as u32 - '0' as u32;
            for _ in 0..2 {
                if !is_octal(j) {
                    break;
                }
                value = value * 8 + (chars[j] as u32 - '0' as u32);
                j += 1;
            }
            char::from_u32(value).ok_or_else(|| invalid(j))?
        }
        'x' => {
            if chars.get(j) == Some(&'{') {
                let close = (j + 1..chars.len()).find(|&k| chars[k] == '}').ok_or_else(|| invalid(j + 1))?;
                let hex: String = chars[j + 1..close].iter().collect();
                let value = u32::from_str_radix(&hex, 16).map_err(|_| invalid(close + 1))?;
                j = close + 1;
                char::from_u32(value).ok_or_else(|| invalid(j))?
            } else {
                let hex: String = chars.get(j..j + 2).ok_or_else(|| invalid(j + 2))?.iter().collect();
                let value = u32::from_str_radix(&hex, 16).map_err(|_| invalid(j + 2))?;
                j += 2;
                char::from_u32(value).ok_or_else(|| invalid(j))?
            }
        }
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => c,
        _ => return Err(invalid(j)),
    };
    Ok((ch, j))
}

/// Translates a Go character class starting at `[`; returns the index after its `]`.
fn class(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let missing = || "missing closing ]".to_string();
    let mut i = start + 1;
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(missing());
        };
        if c == ']' && !first {
            out.push(']');
            return Ok(i + 1);
        }
        first = false;
        // POSIX class such as [:alpha:] or [:^alpha:].
        if c == '['
            && chars.get(i + 1) == Some(&':')
            && let Some(close) =
                (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == ':' && chars[j + 1] == ']')
        {
            let name: String = chars[i + 2..close].iter().collect();
            if !POSIX_CLASSES.contains(&name.trim_start_matches('^')) {
                return Err(format!("invalid character class range: `[:{name}:]`"));
            }
            out.extend(&chars[i..close + 2]);
            i = close + 2;
            continue;
        }
        if c == '\\' {
            match chars.get(i + 1) {
                Some('p') | Some('P') => {
                    i = unicode_class(chars, i, out)?;
                    continue;
                }
                Some(&letter) => {
                    if let Some(class) = perl_class(letter) {
                        out.push_str(class);
                        i += 2;
                        continue;
                    }
                }
                None => return Err(missing()),
            }
        }
        let (lo, next) = class_char(chars, i)?;
        i = next;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&c| c != ']') {
            let (hi, next) = class_char(chars, i + 1)?;
            if hi < lo {
                return Err(format!("invalid character class range: `{lo}-{hi}`"));
            }
            push_class_literal(out, lo);
            out.push('-');
            push_class_literal(out, hi);
            i = next;
        } else {
            push_class_literal(out, lo);
        }
    }
}

/// One character of a class: an escape or the character itself (`[` included, as in Go).
fn class_char(chars: &[char], i: usize) -> Result<(char, usize), String> {
    match chars.get(i) {
        None => Err("missing closing ]".to_string()),
        Some('\\') => escaped_char(chars, i),
        Some(&c) => Ok((c, i + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_match(pattern: &str, text: &str) -> bool {
        compile(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")).is_match(text)
    }

    #[test]
    fn perl_classes_are_ascii_only() {
        // U+0663 is ARABIC-INDIC DIGIT THREE: a digit for Rust's Unicode \d, not for Go's.
        assert!(!is_match(r"^\d$", "\u{663}"));
        assert!(is_match(r"^\d$", "3"));
        assert!(!is_match(r"^\w$", "é"));
        assert!(is_match(r"^\W$", "é"));
        assert!(!is_match(r"^\s$", "\u{a0}"));
        assert!(!is_match(r"^[\d]$", "\u{663}"));
        assert!(is_match(r"^[^\d]$", "\u{663}"));
        assert!(is_match(r"^[\D]$", "x"));
    }

    #[test]
    fn word_boundary_is_ascii() {
        // 'é' is not an ASCII word character, so Go sees a boundary between it and 'x'.
        assert!(is_match(r"\bx\b", "éxé"));
        assert!(!is_match(r"\Bx", "éx"));
    }

    #[test]
    fn braces_that_are_not_repetitions_are_literal() {
        // Traefik's own v3 test: a v2 template is plain text for Go's regexp.
        let re = compile(r"http{secure:s?}").unwrap();
        assert!(re.is_match("http{secure:}"));
        assert!(re.is_match("http{secure:s}"));
        assert!(!re.is_match("https"));
        assert!(is_match(r"^a{2}$", "aa"));
        assert!(is_match(r"^a{2,}$", "aaa"));
        assert!(is_match(r"^a{1,2}$", "aa"));
        assert!(is_match(r"^a{,2}$", "a{,2}"));
        assert!(is_match(r"^}$", "}"));
    }

    #[test]
    fn class_literals_follow_go() {
        assert!(is_match(r"^[[]$", "["));
        assert!(is_match(r"^[a&&b]$", "&"));
        assert!(is_match(r"^[a~~b]$", "~"));
        assert!(is_match(r"^[]a]$", "]"));
        assert!(is_match(r"^[^]a]$", "b"));
        assert!(is_match(r"^[a-]$", "-"));
        assert!(is_match(r"^[a-c-e]$", "-"));
        assert!(!is_match(r"^[a-c-e]$", "d"));
        assert!(is_match(r"^[[:alpha:]]+$", "abc"));
        assert!(is_match(r"^[[:^alpha:]]+$", "123"));
        assert!(is_match(r"^[\pL]+$", "été"));
        assert!(is_match(r"^[\x41-\x43]+$", "ABC"));
        assert!(is_match(r"^[<>]+$", "<>"));
    }

    #[test]
    fn escapes_follow_go() {
        assert!(is_match(r"^\Qa.b*\E$", "a.b*"));
        assert!(!is_match(r"^\Qa.b\E$", "axb"));
        assert!(is_match(r"^\<a\>$", "<a>"));
        assert!(is_match(r"^\101$", "A"));
        assert!(is_match(r"^\x41\x{42}$", "AB"));
        assert!(is_match(r"^\.$", "."));
        assert!(is_match(r"^\p{Greek}+$", "αβ"));
        assert!(is_match(r"(?i)^host$", "HOST"));
        assert!(is_match(r"^(?P<sub>[a-z]+)\.example\.com$", "www.example.com"));
    }

    #[test]
    fn go_errors() {
        for (pattern, needle) in [
            (r"(example", "unclosed group"),
            (r"[abc", "missing closing ]"),
            (r"\1", "invalid escape sequence"),
            (r"\q", "invalid escape sequence"),
            (r"a\", "trailing backslash"),
            (r"(?x)a", "invalid or unsupported Perl syntax"),
            (r"[z-a]", "invalid character class range"),
            (r"[[:nope:]]", "invalid character class range"),
        ] {
            let err = compile(pattern).unwrap_err();
            assert!(err.contains(needle), "{pattern}: {err}");
        }
    }
}

//! Traefik's HTTP router rules: parsing (`Host(`example.com`) && PathPrefix(`/api`)`), matching
//! a request against a rule, and the default priority Traefik gives a rule.
//!
//! The syntax is Traefik's, which is a subset of Go expressions: matchers called with Go string
//! literals (backtick or double quoted), combined with `&&`, `||`, `!` and parentheses, with Go's
//! precedence (`!` over `&&` over `||`). Traefik has two sets of matchers, v3 (its default) and
//! v2 (what Traefik 2 and `ruleSyntax: v2` routers read); [`Syntax`] chooses, and each matcher
//! behaves as in Traefik 3.7's `pkg/muxer/http` for that syntax.

mod error;
mod goregex;
mod lexer;
mod matcher;
mod parser;
mod template;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::net::IpAddr;
use std::str::FromStr;

pub use error::{RuleError, RuleErrorKind};
pub use goregex::compile as compile_go_regex;
pub use matcher::{IpSet, split_host_port};

use matcher::{Matcher, Request};
use parser::Expr;

/// How deeply parentheses may nest in a rule; deeper rules are refused rather than risking the
/// stack on hostile input.
pub const MAX_NESTING: usize = 64;

/// What a rule can look at in a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestInfo<'a> {
    /// The `Host` header (or the authority of an absolute request target). A `:port` suffix,
    /// IPv6 brackets and upper case are dealt with here, as Traefik does.
    pub host: &'a str,
    /// The routing path: the escaped request path with its non-reserved characters decoded, as
    /// [`routing_path`] computes it from the raw request path.
    pub path: &'a str,
    /// The request method exactly as received (`Method(`get`)` matches `GET`, not `get`).
    pub method: &'a str,
    /// Every header line as (name, value); names compare case-insensitively, values exactly.
    /// A `Host` line is ignored by the header matchers, as in Traefik (use `Host` for it).
    pub headers: &'a [(&'a str, &'a str)],
    /// The raw query string, without the `?`.
    pub query: &'a str,
    /// The peer address of the connection (Traefik's `ClientIP` ignores `X-Forwarded-For`).
    pub client_ip: Option<IpAddr>,
}

/// A parsed rule, ready to match requests. Cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Rule {
    expr: Expr,
    source_len: usize,
}

/// Which of Traefik's two rule languages a rule is written in.
///
/// Traefik 3 reads rules as v3 unless a router says `ruleSyntax: v2` (on an IngressRoute route,
/// `syntax: v2`); Traefik 2 knows only v2, so the routes of `traefik.containo.us` IngressRoutes
/// are v2.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Syntax {
    #[default]
    V3,
    V2,
}

impl Syntax {
    /// `v3` or `v2`, as Traefik spells them.
    pub fn from_name(name: &str) -> Option<Syntax> {
        match name {
            "v3" => Some(Syntax::V3),
            "v2" => Some(Syntax::V2),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Syntax::V3 => "v3",
            Syntax::V2 => "v2",
        }
    }

    /// The syntax of an IngressRoute's route: its `syntax` field when it has one, else its API
    /// group's (Traefik 2's `traefik.containo.us` is v2, Traefik 3's `traefik.io` v3).
    pub fn of_route(api_group: &str, field: Option<&str>) -> Result<Syntax, String> {
        match field {
            Some(name) => Syntax::from_name(name).ok_or_else(|| format!("syntax must be v3 or v2, got {name:?}")),
            None if api_group == "traefik.containo.us" => Ok(Syntax::V2),
            None => Ok(Syntax::V3),
        }
    }

    pub(crate) fn other(self) -> Syntax {
        match self {
            Syntax::V3 => Syntax::V2,
            Syntax::V2 => Syntax::V3,
        }
    }
}

/// Parses a Traefik v3 rule; see [`parse_with`].
pub fn parse(rule: &str) -> Result<Rule, RuleError> {
    parse_with(rule, Syntax::V3)
}

/// Parses a Traefik rule in the given syntax.
///
/// Matchers (each name also accepted all lowercase, all uppercase, or capitalised lowercase, as
/// Traefik does):
///
/// | matcher | v3 arguments | v2 arguments | matches when |
/// |---|---|---|---|
/// | `Host` | host | host, ... | the host (port removed) equals one, case-insensitively, a trailing dot on either side ignored; in v3 `*` matches every request and `*.a.b` one label before `.a.b` |
/// | `HostHeader` | - | host, ... | as `Host` |
/// | `HostRegexp` | regexp | template, ... | v3: the host matches the regexp (Go syntax, unanchored: write `^...$`); v2: the whole host matches a template such as `{sub:[a-z]+}.example.com`, ignoring case |
/// | `Path` | path | path or template, ... | the path equals one (v2: or matches its template) |
/// | `PathPrefix` | path | path or template, ... | the path starts with one (`/api` also matches `/apis`) |
/// | `PathRegexp` | regexp | - | the path matches |
/// | `Method` | method | method, ... | the method equals one (arguments are upper-cased) |
/// | `Header` | name, value | - | some value of that header equals `value` |
/// | `HeaderRegexp` | name, regexp | - | some value of that header matches |
/// | `Headers`, `HeadersRegexp` | - | name, value, ... | every (name, value) pair holds, as `Header`/`HeaderRegexp` |
/// | `Query` | key [, value] | `key=template`, ... | v3: some value of `key` equals `value` (empty when omitted); v2: for every key, its first value matches the template (any value when empty) |
/// | `QueryRegexp` | key, regexp | - | some value of `key` matches |
/// | `ClientIP` | IP or CIDR | IP or CIDR, ... | the client address is one of them or inside one |
///
/// Empty arguments are refused, as Traefik refuses them; so are host expressions that could
/// never match a request (Traefik accepts those and never routes to them).
pub fn parse_with(rule: &str, syntax: Syntax) -> Result<Rule, RuleError> {
    Ok(Rule { expr: parser::parse(rule, syntax)?, source_len: rule.len() })
}

impl FromStr for Rule {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Rule {
    /// Whether the request satisfies the rule. Operands are evaluated left to right and stop
    /// as soon as the result is known.
    pub fn matches(&self, req: &RequestInfo<'_>) -> bool {
        eval(&self.expr, &Request::new(req))
    }

    /// The hosts its `Host` matchers name, negated ones included, lower-cased: what Traefik's
    /// `ParseDomains` gives a TLS router to choose TLS options by SNI with. (v2's `HostHeader`
    /// compiles to the same matcher and counts too, where Traefik leaves it out.)
    pub fn domains(&self) -> Vec<String> {
        fn collect(expr: &Expr, out: &mut Vec<String>) {
            match expr {
                Expr::Match(Matcher::Host { hosts, .. }) => out.extend(hosts.iter().cloned()),
                Expr::Match(_) => {}
                Expr::Not(inner) => collect(inner, out),
                Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| collect(e, out)),
            }
        }
        let mut out = Vec::new();
        collect(&self.expr, &mut out);
        out
    }

    /// Traefik's default priority of this rule; see [`default_priority`].
    pub fn default_priority(&self) -> i64 {
        self.source_len as i64
    }
}

fn eval(expr: &Expr, req: &Request<'_, '_>) -> bool {
    match expr {
        Expr::Match(m) => m.matches(req),
        Expr::Not(inner) => !eval(inner, req),
        Expr::And(items) => items.iter().all(|e| eval(e, req)),
        Expr::Or(items) => items.iter().any(|e| eval(e, req)),
    }
}

/// The priority Traefik gives a router without an explicit one: the length of its rule in
/// bytes. Routers are tried from the highest priority down.
pub fn default_priority(rule: &str) -> i64 {
    rule.len() as i64
}

/// The request path as Traefik (3.x) routes and forwards it: percent-encodings of unreserved
/// characters decoded and the others upper-cased (RFC 3986 6.2.2), then the `.` and `..`
/// segments and repeated slashes removed as Go's `path.Clean` removes them, a trailing slash
/// kept. Without it `/api/../admin` matches a `PathPrefix(`/api`)` route and reaches a backend
/// that cleans it to `/admin`: a path-based route could be walked around. Borrowed when there
/// is nothing to change, which costs one scan; a target that is not a path (`*`) is left alone.
pub fn sanitized_path(escaped: &str) -> Cow<'_, str> {
    if !escaped.starts_with('/') {
        return Cow::Borrowed(escaped);
    }
    let bytes = escaped.as_bytes();
    let untouched = bytes.iter().enumerate().all(|(i, b)| match b {
        b'%' => false,
        b'/' => !matches!(bytes.get(i + 1), Some(b'/' | b'.')),
        _ => true,
    });
    if untouched {
        return Cow::Borrowed(escaped);
    }
    let normalized = normalized_escapes(escaped);
    let mut segments: Vec<&str> = Vec::new();
    for segment in normalized.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    let mut clean = String::with_capacity(normalized.len());
    for segment in &segments {
        clean.push('/');
        clean.push_str(segment);
    }
    if clean.is_empty() || normalized.ends_with('/') {
        clean.push('/');
    }
    if clean == escaped { Cow::Borrowed(escaped) } else { Cow::Owned(clean) }
}

/// `%41` becomes `A` (an unreserved character means the same encoded or not), `%2f` becomes
/// `%2F`; a malformed escape is left as it is (routing refuses it later).
fn normalized_escapes(escaped: &str) -> String {
    use std::fmt::Write;
    let bytes = escaped.as_bytes();
    let mut out = String::with_capacity(escaped.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(value)) if value.is_ascii_alphanumeric() || b"-._~".contains(&value) => {
                out.push(value as char);
                i += 3;
            }
            (b'%', Some(value)) => {
                let _ = write!(out, "%{value:02X}");
                i += 3;
            }
            _ => {
                let next = escaped[i..].chars().next().unwrap_or_default();
                out.push(next);
                i += next.len_utf8().max(1);
            }
        }
    }
    out
}

/// The path Traefik routes on, from the escaped request path: percent-encoded characters are
/// decoded except the reserved ones (`:/?#[]@!$&'()*+,;=` and `%` itself), so that
/// `PathPrefix(`/foo bar`)` matches `/foo%20bar` while `%2F` never turns into a path separator.
/// `None` when an escape is malformed (Traefik answers 400). Escapes that would decode to bytes
/// that are not UTF-8 are left encoded.
pub fn routing_path(escaped: &str) -> Option<Cow<'_, str>> {
    if !escaped.contains('%') {
        return Some(Cow::Borrowed(escaped));
    }
    let decode = |keep_non_ascii: bool| -> Option<Vec<u8>> {
        let bytes = escaped.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'%' {
                out.push(bytes[i]);
                i += 1;
                continue;
            }
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            let value = u8::from_str_radix(hex, 16).ok()?;
            let reserved = b":/?#[]@!$&'()*+,;=%".contains(&value);
            if reserved || (keep_non_ascii && !value.is_ascii()) {
                out.extend_from_slice(&bytes[i..i + 3]);
            } else {
                out.push(value);
            }
            i += 3;
        }
        Some(out)
    };
    match String::from_utf8(decode(false)?) {
        Ok(path) => Some(Cow::Owned(path)),
        Err(_) => String::from_utf8(decode(true)?).ok().map(Cow::Owned),
    }
}

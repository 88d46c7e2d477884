//! The matchers of Traefik's HTTP rules: what each accepts as arguments and how each tests a
//! request, in either of Traefik's syntaxes. v3 matchers take one argument (two for `Header`,
//! one or two for `Query`) and read regexps; v2 matchers (`HostHeader`, `Headers`,
//! `HeadersRegexp` are v2 only) take several arguments, any of which may match, and read
//! gorilla/mux templates (see [`super::template`]).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;

use regex::Regex;

use super::error::RuleErrorKind;
use super::template::{self, Place};
use super::{RequestInfo, Syntax, goregex};

/// The matcher names, in the order error messages list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatcherKind {
    Host,
    HostRegexp,
    Path,
    PathPrefix,
    PathRegexp,
    Method,
    Header,
    HeaderRegexp,
    Query,
    QueryRegexp,
    ClientIP,
    HostHeader,
    Headers,
    HeadersRegexp,
}

impl MatcherKind {
    pub(crate) const ALL: [MatcherKind; 14] = [
        MatcherKind::Host,
        MatcherKind::HostRegexp,
        MatcherKind::Path,
        MatcherKind::PathPrefix,
        MatcherKind::PathRegexp,
        MatcherKind::Method,
        MatcherKind::Header,
        MatcherKind::HeaderRegexp,
        MatcherKind::Query,
        MatcherKind::QueryRegexp,
        MatcherKind::ClientIP,
        MatcherKind::HostHeader,
        MatcherKind::Headers,
        MatcherKind::HeadersRegexp,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            MatcherKind::Host => "Host",
            MatcherKind::HostRegexp => "HostRegexp",
            MatcherKind::Path => "Path",
            MatcherKind::PathPrefix => "PathPrefix",
            MatcherKind::PathRegexp => "PathRegexp",
            MatcherKind::Method => "Method",
            MatcherKind::Header => "Header",
            MatcherKind::HeaderRegexp => "HeaderRegexp",
            MatcherKind::Query => "Query",
            MatcherKind::QueryRegexp => "QueryRegexp",
            MatcherKind::ClientIP => "ClientIP",
            MatcherKind::HostHeader => "HostHeader",
            MatcherKind::Headers => "Headers",
            MatcherKind::HeadersRegexp => "HeadersRegexp",
        }
    }

    /// Traefik accepts each name as written, all lowercase, all uppercase, and capitalised
    /// lowercase (`Host`, `host`, `HOST`; `HostRegexp`, `hostregexp`, `HOSTREGEXP`, `Hostregexp`).
    pub(crate) fn lookup(name: &str) -> Option<MatcherKind> {
        Self::ALL.into_iter().find(|kind| {
            let canonical = kind.name();
            let lower = canonical.to_ascii_lowercase();
            let mut title = lower.clone();
            title[..1].make_ascii_uppercase();
            name == canonical || name == lower || name == canonical.to_ascii_uppercase() || name == title
        })
    }

    /// Whether the matcher is part of a syntax: v3 dropped `HostHeader`, `Headers` and
    /// `HeadersRegexp`, and added `PathRegexp`, `Header`, `HeaderRegexp` and `QueryRegexp`.
    pub(crate) fn exists_in(self, syntax: Syntax) -> bool {
        use MatcherKind as K;
        match self {
            K::PathRegexp | K::Header | K::HeaderRegexp | K::QueryRegexp => syntax == Syntax::V3,
            K::HostHeader | K::Headers | K::HeadersRegexp => syntax == Syntax::V2,
            _ => true,
        }
    }

    /// What to write instead of this matcher in the other syntax.
    pub(crate) fn counterpart(self) -> &'static str {
        use MatcherKind as K;
        match self {
            K::HostHeader => "Host",
            K::Headers => "Header(`name`, `value`) once per pair",
            K::HeadersRegexp => "HeaderRegexp(`name`, `regexp`) once per pair",
            K::PathRegexp => "Path(`/{name:regexp}`) with a template",
            K::Header => "Headers",
            K::HeaderRegexp => "HeadersRegexp",
            K::QueryRegexp => "Query(`key={name:regexp}`) with a template",
            other => other.name(),
        }
    }

    /// The closest matcher name of a syntax to an unknown one, when it is close enough to be a
    /// typo.
    pub(crate) fn suggest(name: &str, syntax: Syntax) -> Option<&'static str> {
        let lower = name.to_lowercase();
        Self::ALL
            .into_iter()
            .filter(|kind| kind.exists_in(syntax))
            .map(|kind| (edit_distance(&lower, &kind.name().to_ascii_lowercase()), kind.name()))
            .filter(|&(d, canonical)| d <= 2.min(canonical.len() / 3 + 1))
            .min_by_key(|&(d, _)| d)
            .map(|(_, canonical)| canonical)
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut prev_prev = prev.clone();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            // A swap of two neighbours ("Hots" for "Host") counts as one edit.
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev_prev[j - 2] + 1);
            }
        }
        prev_prev = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

/// One string argument of a matcher call and its character offset in the rule.
#[derive(Debug, Clone)]
pub(crate) struct Arg {
    pub value: String,
    pub offset: usize,
}

/// A matcher with its arguments checked and compiled.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// `Host`/`HostHeader`: lowercase host expressions, any of which may match. With
    /// `wildcards` (v3), `*` matches every request and `*.a.b` one label before `.a.b`.
    Host {
        hosts: Vec<String>,
        wildcards: bool,
    },
    /// `HostRegexp`: v3's regexp tests the canonical host; v2's templates test the host as the
    /// client sent it, port removed (they ignore case themselves).
    HostRegexp {
        res: Vec<Regex>,
        as_sent: bool,
    },
    /// `Path`, `PathPrefix`, `PathRegexp` and v2's path templates: any one test may pass.
    Path(Vec<PathTest>),
    /// Uppercase methods, compared with the request's method as it is.
    Method(Vec<String>),
    /// `Header`/`Headers`: every (name, value) pair must be present.
    Headers(Vec<(String, String)>),
    /// `HeaderRegexp`/`HeadersRegexp`: every name must have a value matching its regexp.
    HeadersRegexp(Vec<(String, Regex)>),
    /// v3's `Query(key)`, `Query(key, value)`, `QueryRegexp(key)`: some value of `key` equals
    /// `value` (the empty string when not given).
    Query {
        key: String,
        value: String,
    },
    QueryRegexp {
        key: String,
        re: Regex,
    },
    /// v2's `Query(`key=template`, ...)`: for every key, `key=` and its first value match the
    /// template.
    QueryTemplates(Vec<(String, Regex)>),
    ClientIp(IpSet),
}

/// One way a path may match.
#[derive(Debug, Clone)]
pub(crate) enum PathTest {
    Exact(String),
    Prefix(String),
    Pattern(Regex),
}

impl PathTest {
    fn passes(&self, path: &str) -> bool {
        match self {
            PathTest::Exact(p) => path == p,
            PathTest::Prefix(p) => path.starts_with(p.as_str()),
            PathTest::Pattern(re) => re.is_match(path),
        }
    }
}

fn invalid(kind: MatcherKind, offset: usize, reason: impl Into<String>) -> (usize, RuleErrorKind) {
    (offset, RuleErrorKind::InvalidArgument { matcher: kind.name(), reason: reason.into() })
}

fn regexp(kind: MatcherKind, arg: &Arg) -> Result<Regex, (usize, RuleErrorKind)> {
    goregex::compile(&arg.value).map_err(|e| invalid(kind, arg.offset, format!("regexp {:?}: {e}", arg.value)))
}

fn template(kind: MatcherKind, arg: &Arg, place: Place) -> Result<Regex, (usize, RuleErrorKind)> {
    template::compile(&arg.value, place).map_err(|e| invalid(kind, arg.offset, e))
}

/// Characters a host expression may contain; anything else (a `/`, a space, ...) cannot be in a
/// request's host, so the rule could never match (Traefik accepts it and never routes to it).
fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '*' | ':' | '[' | ']')
}

/// A `Host` argument, lowercased, or why it can never match a request.
fn host_expression(kind: MatcherKind, arg: &Arg, syntax: Syntax) -> Result<String, (usize, RuleErrorKind)> {
    let value = &arg.value;
    if !value.is_ascii() {
        let reason = format!("{value:?} has non-ASCII characters, write the host name in its punycode form");
        return Err(invalid(kind, arg.offset, reason));
    }
    if let Some(bad) = value.chars().find(|&c| !is_host_char(c)) {
        return Err(invalid(kind, arg.offset, format!("{value:?} is not a host name ({bad:?}): it never matches")));
    }
    let rest = match syntax {
        Syntax::V3 if value == "*" => "",
        Syntax::V3 => value.strip_prefix("*.").unwrap_or(value),
        Syntax::V2 => value,
    };
    if rest.contains('*') {
        let reason = match syntax {
            Syntax::V3 => "never matches: `*` is a wildcard alone or as the first label (`*.example.com`, one label)",
            Syntax::V2 => {
                "never matches: Traefik v2's Host has no wildcards (write HostRegexp(`{sub:[a-z]+}.example.com`))"
            }
        };
        return Err(invalid(kind, arg.offset, format!("{value:?} {reason}")));
    }
    Ok(value.to_ascii_lowercase())
}

impl Matcher {
    /// Checks the arguments of a call and builds the matcher, as Traefik does for the rule's
    /// syntax. `call_offset` is where the matcher's name starts. Errors carry character offsets.
    pub(crate) fn build(
        kind: MatcherKind,
        syntax: Syntax,
        call_offset: usize,
        args: &[Arg],
    ) -> Result<Matcher, (usize, RuleErrorKind)> {
        use MatcherKind as K;
        // v2's Query takes `key=value` arguments, or keys and values in turn: counted in halves.
        let query_halves = args.iter().map(|a| if a.value.contains('=') { 2 } else { 1 }).sum::<usize>();
        let (ok, expected) = match (syntax, kind) {
            (Syntax::V3, K::Header | K::HeaderRegexp) => (args.len() == 2, "2"),
            (Syntax::V3, K::Query | K::QueryRegexp) => ((1..=2).contains(&args.len()), "1 or 2"),
            (Syntax::V3, _) => (args.len() == 1, "1"),
            (Syntax::V2, K::Headers | K::HeadersRegexp) => {
                (!args.is_empty() && args.len().is_multiple_of(2), "an even number (name, value pairs) of")
            }
            (Syntax::V2, K::Query) => {
                (!args.is_empty() && query_halves.is_multiple_of(2), "`key=value` or (key, value) pairs of")
            }
            (Syntax::V2, _) => (!args.is_empty(), "at least 1"),
        };
        if !ok {
            return Err((
                call_offset,
                RuleErrorKind::ArgumentCount { matcher: kind.name(), expected, got: args.len() },
            ));
        }
        if let Some(empty) = args.iter().find(|a| a.value.is_empty()) {
            return Err((empty.offset, RuleErrorKind::EmptyArgument { matcher: kind.name() }));
        }
        let pairs = |args: &[Arg]| -> Vec<(String, String)> {
            args.chunks(2).map(|p| (p[0].value.clone(), p[1].value.clone())).collect()
        };
        Ok(match kind {
            K::Host | K::HostHeader => {
                let hosts = args.iter().map(|arg| host_expression(kind, arg, syntax)).collect::<Result<_, _>>()?;
                Matcher::Host { hosts, wildcards: syntax == Syntax::V3 }
            }
            K::HostRegexp => {
                if let Some(arg) = args.iter().find(|a| !a.value.is_ascii()) {
                    return Err(invalid(kind, arg.offset, format!("{:?} has non-ASCII characters", arg.value)));
                }
                let res = match syntax {
                    Syntax::V3 => args.iter().map(|arg| regexp(kind, arg)).collect::<Result<_, _>>()?,
                    Syntax::V2 => args.iter().map(|arg| template(kind, arg, Place::Host)).collect::<Result<_, _>>()?,
                };
                Matcher::HostRegexp { res, as_sent: syntax == Syntax::V2 }
            }
            K::Path | K::PathPrefix => {
                if let Some(bad) = args.iter().find(|a| !a.value.starts_with('/')) {
                    return Err(invalid(kind, bad.offset, format!("path {:?} does not start with \"/\"", bad.value)));
                }
                let prefix = kind == K::PathPrefix;
                let mut tests = Vec::with_capacity(args.len());
                for arg in args {
                    tests.push(match (syntax == Syntax::V2 && template::has_variables(&arg.value), prefix) {
                        (true, false) => PathTest::Pattern(template(kind, arg, Place::Path)?),
                        (true, true) => PathTest::Pattern(template(kind, arg, Place::PathPrefix)?),
                        (false, false) => PathTest::Exact(arg.value.clone()),
                        (false, true) => PathTest::Prefix(arg.value.clone()),
                    });
                }
                Matcher::Path(tests)
            }
            K::PathRegexp => Matcher::Path(vec![PathTest::Pattern(regexp(kind, &args[0])?)]),
            K::Method => Matcher::Method(args.iter().map(|a| a.value.to_uppercase()).collect()),
            K::Header | K::Headers => Matcher::Headers(pairs(args)),
            K::HeaderRegexp | K::HeadersRegexp => {
                let mut res = Vec::with_capacity(args.len() / 2);
                for pair in args.chunks(2) {
                    res.push((pair[0].value.clone(), regexp(kind, &pair[1])?));
                }
                Matcher::HeadersRegexp(res)
            }
            K::Query if syntax == Syntax::V2 => {
                let halves: Vec<&str> = args
                    .iter()
                    .flat_map(|a| match a.value.split_once('=') {
                        Some((key, value)) => vec![key, value],
                        None => vec![a.value.as_str()],
                    })
                    .collect();
                let mut templates = Vec::with_capacity(halves.len() / 2);
                for pair in halves.chunks(2) {
                    let text = format!("{}={}", pair[0], pair[1]);
                    let re = template::compile(&text, Place::Query).map_err(|e| invalid(kind, call_offset, e))?;
                    templates.push((pair[0].to_string(), re));
                }
                Matcher::QueryTemplates(templates)
            }
            K::Query | K::QueryRegexp if args.len() == 1 => {
                Matcher::Query { key: args[0].value.clone(), value: String::new() }
            }
            K::Query => Matcher::Query { key: args[0].value.clone(), value: args[1].value.clone() },
            K::QueryRegexp => Matcher::QueryRegexp { key: args[0].value.clone(), re: regexp(kind, &args[1])? },
            K::ClientIP => {
                let mut set = IpSet::default();
                for arg in args {
                    set.add(&arg.value).map_err(|reason| invalid(kind, arg.offset, reason))?;
                }
                Matcher::ClientIp(set)
            }
        })
    }

    pub(crate) fn matches(&self, req: &Request<'_, '_>) -> bool {
        match self {
            Matcher::Host { hosts, wildcards, .. } => {
                let host = req.host();
                hosts.iter().any(|expr| {
                    (*wildcards && expr == "*") || (!host.is_empty() && host_matches(host, expr, *wildcards))
                })
            }
            Matcher::HostRegexp { res, as_sent: false } => {
                let host = req.host();
                res.iter().any(|re| re.is_match(host))
            }
            Matcher::HostRegexp { res, as_sent: true } => {
                let host = split_host_port(req.info.host).map_or(req.info.host, |(host, _)| host);
                res.iter().any(|re| re.is_match(host))
            }
            Matcher::Path(tests) => tests.iter().any(|test| test.passes(req.info.path)),
            Matcher::Method(methods) => methods.iter().any(|m| req.info.method == m),
            Matcher::Headers(pairs) => pairs.iter().all(|(name, value)| req.header_values(name).any(|v| v == value)),
            Matcher::HeadersRegexp(pairs) => {
                pairs.iter().all(|(name, re)| req.header_values(name).any(|v| re.is_match(v)))
            }
            Matcher::Query { key, value } => query_values(req.info.query, key).any(|v| v == value.as_str()),
            Matcher::QueryRegexp { key, re } => query_values(req.info.query, key).any(|v| re.is_match(&v)),
            Matcher::QueryTemplates(templates) => templates.iter().all(|(key, re)| {
                query_values(req.info.query, key).next().is_some_and(|first| re.is_match(&format!("{key}={first}")))
            }),
            Matcher::ClientIp(set) => req.info.client_ip.is_some_and(|ip| set.contains(ip)),
        }
    }
}

/// A request being matched, with its canonical host computed at most once.
pub(crate) struct Request<'r, 'a> {
    pub info: &'r RequestInfo<'a>,
    host: OnceCell<Cow<'a, str>>,
}

impl<'r, 'a> Request<'r, 'a> {
    pub(crate) fn new(info: &'r RequestInfo<'a>) -> Self {
        Self { info, host: OnceCell::new() }
    }

    fn host(&self) -> &str {
        self.host.get_or_init(|| canonical_host(self.info.host)).as_ref()
    }

    /// The values of a header. Go's server moves `Host` out of the header map, so Traefik's
    /// header matchers never see it; neither do these.
    fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        let visible = !name.eq_ignore_ascii_case("host");
        self.info.headers.iter().filter(move |(n, _)| visible && n.eq_ignore_ascii_case(name)).map(|&(_, v)| v)
    }
}

/// The host as Traefik routes on it: the port removed (`example.com:8080`, `[::1]:80`), IPv6
/// brackets removed, surrounding whitespace trimmed, lowercased.
pub(crate) fn canonical_host(raw: &str) -> Cow<'_, str> {
    let host = if raw.contains(':') {
        match split_host_port(raw) {
            Some((host, _)) => host,
            None if raw.len() >= 2 && raw.starts_with('[') && raw.ends_with(']') => &raw[1..raw.len() - 1],
            None => raw,
        }
    } else {
        raw
    };
    let host = host.trim();
    if host.chars().any(|c| c.is_uppercase()) { Cow::Owned(host.to_lowercase()) } else { Cow::Borrowed(host) }
}

/// The host and port of `host:port` or `[host]:port` when the whole is well formed, as Go's
/// `net.SplitHostPort` reads it (the port may be empty). The router uses it too, for the
/// access log's host and `X-Forwarded-Port`.
pub fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let colon = s.rfind(':')?;
    let (host, after_host) = if s.starts_with('[') {
        let end = s.find(']')?;
        if end + 1 != colon {
            return None;
        }
        (&s[1..end], end + 1)
    } else {
        let host = &s[..colon];
        if host.contains(':') {
            return None;
        }
        (host, colon)
    };
    // Bytes, not `str` slices: the host may start with a character of several bytes.
    if s.as_bytes()[1..].contains(&b'[') || s.as_bytes()[after_host..].contains(&b']') {
        return None;
    }
    Some((host, &s[colon + 1..]))
}

/// Traefik's host test, with its trailing-dot leniency both ways.
fn host_matches(host: &str, expr: &str, wildcards: bool) -> bool {
    let test = |host: &str, expr: &str| {
        if wildcards && let Some(rest) = expr.strip_prefix('*') {
            // `*.example.com`: the host's first label replaced by `*` is the expression.
            let after_first_label = host.find('.').map_or("", |i| &host[i..]);
            return after_first_label.eq_ignore_ascii_case(rest);
        }
        host.eq_ignore_ascii_case(expr)
    };
    test(host, expr)
        || expr.strip_suffix('.').is_some_and(|expr| test(host, expr))
        || host.strip_suffix('.').is_some_and(|host| test(host, expr))
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; `None` on a bad escape. Bytes that
/// are not UTF-8 become U+FFFD, as Go's regexp reads them.
fn query_unescape(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains(['%', '+']) {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
}

/// The values of `key` in a raw query string, as Traefik reads them: `;` separates pairs like
/// `&` (Traefik's entry points rewrite one into the other before routing), then Go's
/// `url.ParseQuery` applies: a pair with a bad escape is dropped, a key without `=` has the
/// empty value.
fn query_values<'q>(query: &'q str, key: &'q str) -> impl Iterator<Item = Cow<'q, str>> + 'q {
    query.split(['&', ';']).filter(|seg| !seg.is_empty()).filter_map(move |seg| {
        let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
        if query_unescape(k)? != key {
            return None;
        }
        query_unescape(v)
    })
}

/// IP addresses and CIDR ranges, compared in canonical form (IPv4-mapped IPv6 as IPv4, zones
/// dropped), as Traefik's IP checker does.
#[derive(Debug, Clone, Default)]
pub struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

const MAPPED_V4_PREFIX: u128 = 0xffff_u128 << 32;

impl IpSet {
    /// Adds an address (`10.0.0.7`, `fe80::1%eth0`) or a CIDR range (`10.0.0.0/8`).
    pub fn add(&mut self, text: &str) -> Result<(), String> {
        let bad = || format!("{text:?} is neither an IP address nor a CIDR range");
        match text.split_once('/') {
            None => {
                // A zone (`fe80::1%eth0`) is accepted and ignored for IPv6 addresses.
                let addr = match text.split_once('%') {
                    Some((addr, zone)) if !zone.is_empty() => addr.parse::<std::net::Ipv6Addr>().map(IpAddr::V6),
                    Some(_) => return Err(bad()),
                    None => text.parse::<IpAddr>(),
                }
                .map_err(|_| bad())?;
                match addr.to_canonical() {
                    IpAddr::V4(a) => self.v4.push((a.to_bits(), a.to_bits())),
                    IpAddr::V6(a) => self.v6.push((a.to_bits(), a.to_bits())),
                }
            }
            Some((addr, bits)) => {
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let bits: u32 = bits
                    .parse()
                    .ok()
                    .filter(|b| *b <= max && (bits == "0" || !bits.starts_with('0')))
                    .ok_or_else(|| format!("{text:?} has an invalid prefix length"))?;
                match addr {
                    IpAddr::V4(a) => {
                        let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
                        let start = a.to_bits() & mask;
                        self.v4.push((start, start | !mask));
                    }
                    IpAddr::V6(a) => {
                        let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
                        let start = a.to_bits() & mask;
                        let end = start | !mask;
                        let is_mapped = |x: u128| x >> 32 == MAPPED_V4_PREFIX >> 32;
                        if is_mapped(start) && is_mapped(end) {
                            self.v4.push((start as u32, end as u32));
                        } else {
                            self.v6.push((start, end));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let x = a.to_bits();
                self.v4.iter().any(|&(lo, hi)| lo <= x && x <= hi)
            }
            IpAddr::V6(a) => {
                let x = a.to_bits();
                self.v6.iter().any(|&(lo, hi)| lo <= x && x <= hi)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_names_accept_traefiks_case_variants() {
        for name in ["Host", "host", "HOST"] {
            assert_eq!(MatcherKind::lookup(name), Some(MatcherKind::Host), "{name}");
        }
        for name in ["HostRegexp", "hostregexp", "HOSTREGEXP", "Hostregexp"] {
            assert_eq!(MatcherKind::lookup(name), Some(MatcherKind::HostRegexp), "{name}");
        }
        assert_eq!(MatcherKind::lookup("Clientip"), Some(MatcherKind::ClientIP));
        assert_eq!(MatcherKind::lookup("hOST"), None);
        assert_eq!(MatcherKind::lookup("HostRegExp"), None);
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(MatcherKind::suggest("Hots", Syntax::V3), Some("Host"));
        assert_eq!(MatcherKind::suggest("hOST", Syntax::V3), Some("Host"));
        assert_eq!(MatcherKind::suggest("PathPrefx", Syntax::V3), Some("PathPrefix"));
        assert_eq!(MatcherKind::suggest("HostRegex", Syntax::V3), Some("HostRegexp"));
        assert_eq!(MatcherKind::suggest("Banana", Syntax::V3), None);
        assert_eq!(MatcherKind::suggest("Headrs", Syntax::V2), Some("Headers"));
        assert_eq!(MatcherKind::suggest("Headrs", Syntax::V3), Some("Header"));
    }

    #[test]
    fn canonical_host_follows_traefik() {
        assert_eq!(canonical_host("Example.COM:8080"), "example.com");
        assert_eq!(canonical_host("example.com:"), "example.com");
        assert_eq!(canonical_host("[::1]:443"), "::1");
        assert_eq!(canonical_host("[::1]"), "::1");
        assert_eq!(canonical_host("::1"), "::1");
        assert_eq!(canonical_host("10.0.0.1:80"), "10.0.0.1");
        assert_eq!(canonical_host(" example.com "), "example.com");
    }

    #[test]
    fn host_expressions() {
        assert!(host_matches("foo.example.com", "*.example.com", true));
        assert!(host_matches("foo.example.com.", "*.example.com", true));
        assert!(!host_matches("foo.example.com", "*.example.com", false), "v2 has no wildcards");
        assert!(!host_matches("bar.foo.example.com", "*.example.com", true));
        assert!(!host_matches("example.com", "*.example.com", true));
        assert!(!host_matches("é.example.com", "*.xample.com", true));
        assert!(host_matches("Example.com", "example.com.", false));
    }

    #[test]
    fn query_parsing_follows_go() {
        let values = |q: &'static str, k: &'static str| query_values(q, k).map(|c| c.into_owned()).collect::<Vec<_>>();
        assert_eq!(values("q=a&q=b&r=c", "q"), ["a", "b"]);
        assert_eq!(values("q", "q"), [""]);
        assert_eq!(values("q=a+b%21", "q"), ["a b!"]);
        assert_eq!(values("q%3D=x", "q="), ["x"]);
        assert_eq!(values("q=a;b&q=c", "q"), ["a", "c"]);
        assert_eq!(values("a=1;q=2&q=3", "q"), ["2", "3"]);
        assert_eq!(values("q=%zz&q=d", "q"), ["d"]);
        assert_eq!(values("&&q=e&", "q"), ["e"]);
    }

    #[test]
    fn ip_sets() {
        let mut set = IpSet::default();
        set.add("192.168.1.0/24").unwrap();
        set.add("10.0.0.1").unwrap();
        set.add("2001:db8::/32").unwrap();
        set.add("fe80::1%eth0").unwrap();
        set.add("::ffff:172.16.0.0/112").unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(set.contains(ip("192.168.1.200")));
        assert!(!set.contains(ip("192.168.2.1")));
        assert!(set.contains(ip("10.0.0.1")));
        assert!(set.contains(ip("::ffff:10.0.0.1")));
        assert!(!set.contains(ip("10.0.0.2")));
        assert!(set.contains(ip("2001:db8:1::1")));
        assert!(set.contains(ip("fe80::1")));
        assert!(set.contains(ip("172.16.3.4")));
        assert!(!set.contains(ip("172.17.0.1")));
        for bad in ["1", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/08", "x/8", "10.0.0.1%eth0", "fe80::1%"] {
            assert!(IpSet::default().add(bad).is_err(), "{bad}");
        }
    }
}

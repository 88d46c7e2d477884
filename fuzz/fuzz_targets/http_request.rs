//! Fuzzes the router's HTTP/1.1 request-head parser (crates/serin-router/src/downstream.rs,
//! through serin_router::fuzzing) with arbitrary bytes, and checks what it accepts:
//! - the head written back from its parsed parts parses to the same request;
//! - the head the router sends a pod for it is a request the router itself would take, for the
//!   same method, path and query and host, framed by one Content-Length and nothing else, with
//!   none of the hop-by-hop headers the client sent (but `TE: trailers`, and `Connection:
//!   Upgrade` and its `Upgrade` when the client asked to switch protocols, and then only those);
//! - its body framing is one of the three it may be, never both a length and chunked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serin_router::fuzzing::{ParsedRequest, request};

fuzz_target!(|data: &[u8]| {
    // The last byte picks the body length and whether the client is a trusted proxy.
    let (&knob, head) = data.split_last().unwrap_or((&0, &[]));
    let body_len = usize::from(knob & 0x7f) * 3;
    let trusted = knob & 0x80 != 0;
    let parsed = match request(head, body_len, "10.1.2.3", trusted) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return,
        Err(status) => {
            assert!(status == 400 || status == 431, "refused with {status}");
            return;
        }
    };
    let (request_parsed, forwarded) = parsed;
    check_reparse(&request_parsed, body_len, trusted);
    check_forwarded(&request_parsed, &forwarded, body_len);
});

/// The head written anew from the parsed parts parses to the same request.
fn check_reparse(parsed: &ParsedRequest, body_len: usize, trusted: bool) {
    let mut head = Vec::new();
    head.extend_from_slice(parsed.method.as_bytes());
    head.push(b' ');
    match &parsed.authority {
        None => head.extend_from_slice(parsed.target.as_bytes()),
        // An authority-form target (`host:port`) is written in absolute form, which means the same.
        Some(authority) => {
            head.extend_from_slice(b"http://");
            head.extend_from_slice(authority.as_bytes());
            head.extend_from_slice(parsed.target.as_bytes());
        }
    }
    head.extend_from_slice(if parsed.http10 { b" HTTP/1.0\r\n" } else { b" HTTP/1.1\r\n" });
    for (name, value) in &parsed.headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let again = match request(&head, body_len, "10.1.2.3", trusted) {
        Ok(Some((again, _))) => again,
        other => panic!("{:?} written back as {:?} parses as {other:?}", parsed, String::from_utf8_lossy(&head)),
    };
    let again = ParsedRequest { len: parsed.len, ..again };
    assert_eq!(&again, parsed, "written back as {:?}", String::from_utf8_lossy(&head));
}

/// The head the router sends on is one it would itself take, for the same request.
fn check_forwarded(parsed: &ParsedRequest, forwarded: &[u8], body_len: usize) {
    let text = String::from_utf8_lossy(forwarded);
    let lines = forwarded.windows(2).filter(|w| w == b"\r\n").count() - 2;
    let sent = match request(forwarded, 0, "127.0.0.1", true) {
        Ok(Some((sent, _))) => sent,
        // The router's forwarding headers took a head near the limit over the 100 lines the
        // router (and hyper) take; Go's servers and Traefik count bytes, not lines.
        Err(431) if lines > 100 => return,
        other => panic!("the router sends the pod {text:?}, which it would itself answer {other:?}"),
    };
    assert_eq!(sent.len, forwarded.len(), "{text:?}");
    assert_eq!(sent.method, parsed.method, "{text:?}");
    assert_eq!(sent.path, parsed.path, "{text:?}");
    assert_eq!(sent.query, parsed.query, "{text:?}");
    assert!(!sent.http10 && sent.authority.is_none(), "{text:?}");
    let host = parsed.authority.as_deref().map(|a| a.rsplit('@').next().unwrap_or(a).as_bytes().to_vec());
    match host.or_else(|| parsed.host.clone()) {
        Some(host) => assert_eq!(sent.host.as_deref(), Some(&host[..]), "{text:?}"),
        None => assert_eq!(sent.host.as_deref(), Some(&b"localhost"[..]), "{text:?}"),
    }
    let lengths = sent.headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case("content-length")).count();
    let declared = body_len > 0 || matches!(parsed.method.as_str(), "POST" | "PUT" | "PATCH");
    assert_eq!(lengths, usize::from(declared), "{text:?}");
    let expected_body = if declared && body_len > 0 { Some(Some(body_len as u64)) } else { None };
    assert_eq!(sent.body, expected_body, "{text:?}");
    let switch_headers = |header: &str| sent.headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case(header)).count();
    if let Some(protocol) = &parsed.upgrade {
        assert_eq!((switch_headers("connection"), switch_headers("upgrade")), (1, 1), "{text:?}");
        if body_len == 0 {
            assert_eq!(sent.upgrade.as_ref(), Some(protocol), "{text:?}");
        }
    }
    for (name, value) in &sent.headers {
        if parsed.upgrade.is_some() && name.eq_ignore_ascii_case("connection") {
            assert_eq!(value, b"Upgrade", "{text:?}");
            continue;
        }
        if parsed.upgrade.is_some() && name.eq_ignore_ascii_case("upgrade") {
            assert_eq!(Some(value), parsed.upgrade.as_ref(), "{text:?}");
            continue;
        }
        if name.eq_ignore_ascii_case("te") {
            assert_eq!(value, b"trailers", "only TE: trailers goes on: {text:?}");
            continue;
        }
        for hop in ["connection", "keep-alive", "transfer-encoding", "trailer", "upgrade", "expect"] {
            assert!(!name.eq_ignore_ascii_case(hop), "{hop} sent on: {text:?}");
        }
        // The router writes these itself whatever the client's Connection header names.
        let own = ["host", "content-length", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip"];
        if let Some(listed) = &parsed.connection
            && !own.iter().any(|own| name.eq_ignore_ascii_case(own))
        {
            let named =
                listed.split(|&b| b == b',').any(|item| item.trim_ascii().eq_ignore_ascii_case(name.as_bytes()));
            assert!(!named, "{name}, which Connection names, sent on: {text:?}");
        }
    }
}

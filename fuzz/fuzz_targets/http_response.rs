//! Fuzzes the router's parser of pods' HTTP/1.1 responses (crates/serin-router/src/upstream.rs)
//! and its body decoding (crates/serin-router/src/http1.rs), through serin_router::fuzzing, with
//! arbitrary bytes. For a head it accepts it checks that:
//! - what it passes on to the client is a well-formed status line and headers with the same
//!   status, without Content-Length or any hop-by-hop header (the router writes the framing),
//!   but for a 101's Connection and Upgrade, which belong to the switch; nothing for other 1xx;
//! - a declared length is the framing;
//! - the body decodes the same however the bytes arrive (all at once, byte by byte, in pieces);
//! - and, for any bytes, sending them chunked and decoding gives them back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serin_router::fuzzing::{BodyEnd, BodyFraming, body, response};

fuzz_target!(|data: &[u8]| {
    let (&knob, input) = data.split_last().unwrap_or((&0, &[]));
    let piece = usize::from(knob % 16) + 1;
    chunked_round_trip(input, piece);
    let parsed = match response(input) {
        Ok(Some(parsed)) => parsed,
        Ok(None) | Err(_) => return,
    };
    let text = String::from_utf8_lossy(input);
    let switching = parsed.status == 101;
    if (100..200).contains(&parsed.status) && !switching {
        assert!(parsed.out.is_empty(), "{text:?}");
    } else {
        let mut passed_on = parsed.out.clone();
        passed_on.extend_from_slice(b"\r\n");
        let mut headers = [httparse::EMPTY_HEADER; 130];
        let mut head = httparse::Response::new(&mut headers);
        let status = head.parse(&passed_on);
        assert!(
            matches!(status, Ok(httparse::Status::Complete(n)) if n == passed_on.len()),
            "{text:?} is passed on as {:?}: {status:?}",
            String::from_utf8_lossy(&passed_on)
        );
        assert_eq!(head.code, Some(parsed.status), "{text:?}");
        assert_eq!(head.version, Some(1), "{text:?}");
        for header in head.headers.iter() {
            for framing in ["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer"] {
                let switch_header = switching && matches!(framing, "connection" | "upgrade");
                assert!(switch_header || !header.name.eq_ignore_ascii_case(framing), "{framing} passed on from {text:?}");
            }
        }
    }
    if let Some(n) = parsed.length {
        assert_eq!(parsed.framing, BodyFraming::Length(n), "{text:?}");
    }
    let whole = body(parsed.framing, &parsed.rest, parsed.rest.len());
    for piece in [1, piece] {
        let pieces = body(parsed.framing, &parsed.rest, piece);
        assert_eq!(pieces, whole, "{text:?} in pieces of {piece}");
    }
    match (&whole, parsed.framing) {
        (BodyEnd::Complete { body, used }, BodyFraming::Length(n)) => {
            assert_eq!((body.len() as u64, *used as u64), (n, n), "{text:?}");
        }
        (BodyEnd::Complete { body, used }, BodyFraming::Chunked) => {
            assert!(body.len() < *used && *used <= parsed.rest.len(), "{text:?}");
        }
        (BodyEnd::Complete { .. }, BodyFraming::UntilClose) => panic!("a body until close ended early: {text:?}"),
        (BodyEnd::NeedMore { body }, BodyFraming::UntilClose | BodyFraming::Length(_)) => {
            assert_eq!(body, &parsed.rest, "{text:?}");
        }
        _ => {}
    }
});

/// Any bytes sent as chunks of `size` bytes (with an extension and a trailer) decode to
/// themselves, and end where the chunked body ends.
fn chunked_round_trip(data: &[u8], size: usize) {
    let mut wire = Vec::new();
    for chunk in data.chunks(size) {
        wire.extend_from_slice(format!("{:X};ext=1\r\n", chunk.len()).as_bytes());
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\n");
    let end = wire.len() - b"GET / HTTP/1.1\r\n".len();
    for piece in [1, size, wire.len()] {
        let decoded = body(BodyFraming::Chunked, &wire, piece);
        assert_eq!(decoded, BodyEnd::Complete { body: data.to_vec(), used: end }, "pieces of {piece}");
    }
}

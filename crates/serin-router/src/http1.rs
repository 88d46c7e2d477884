//! HTTP/1.1 framing that both sides of the router share: where a message body ends (a length,
//! chunked transfer coding decoded as it arrives, or the end of the connection), which headers
//! belong to one connection only, and how header lines are written.
//!
//! The router speaks HTTP/1.1 itself on both sides ([`crate::downstream`] to clients,
//! [`crate::upstream`] to pods) so that a request is parsed once, routed from the bytes it
//! arrived in and never copied into header maps; these are the pieces the two sides have in
//! common.

use bytes::{Bytes, BytesMut};
use std::io;

/// Longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;
/// Trailer lines taken after a chunked body (they are read and dropped), as many as a head
/// may have header lines.
pub const MAX_TRAILER_LINES: usize = 100;

/// Headers that belong to one connection and are never forwarded (RFC 9110 section 7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether a header belongs to the connection it arrived on: a hop-by-hop header or one the
/// `Connection` header (its value given) names.
pub fn is_hop_by_hop(name: &str, connection: Option<&[u8]>) -> bool {
    HOP_BY_HOP.iter().any(|hop| hop.eq_ignore_ascii_case(name)) || connection.is_some_and(|listed| lists(listed, name))
}

/// Whether a comma-separated header value lists `token` (compared case-insensitively).
pub fn lists(value: &[u8], token: &str) -> bool {
    value.split(|&b| b == b',').any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// A Content-Length value: digits only (no sign, no list), optional surrounding whitespace.
pub fn content_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// Appends the status line of an HTTP/1.1 response.
pub fn status_line(out: &mut Vec<u8>, status: http::StatusCode, reason: &str) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `content-length: N\r\n` (without the formatting machinery: it is on every request).
pub fn length_line(out: &mut Vec<u8>, length: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = length;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    header_line(out, "content-length", &digits[start..]);
}

/// Appends `name: value\r\n`.
pub fn header_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// How the end of a message body is found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Framing {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

/// Where a chunked body's decoding stands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    /// Trailer lines, this many read so far.
    Trailers(usize),
}

pub enum Decoded {
    Data(Bytes),
    NeedMore,
    End,
}

/// Takes the next piece of body out of `buffer` according to the framing.
pub fn decode(framing: &mut Framing, buffer: &mut BytesMut) -> io::Result<Decoded> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    loop {
        match framing {
            Framing::Length(0) => return Ok(Decoded::End),
            Framing::Length(remaining) | Framing::Chunked(Chunk::Data(remaining)) => {
                if buffer.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = (*remaining).min(buffer.len() as u64);
                *remaining -= n;
                if let Framing::Chunked(Chunk::Data(0)) = framing {
                    *framing = Framing::Chunked(Chunk::DataEnd);
                }
                return Ok(Decoded::Data(buffer.split_to(n as usize).freeze()));
            }
            Framing::UntilClose => {
                if buffer.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                return Ok(Decoded::Data(buffer.split().freeze()));
            }
            Framing::Chunked(state) => {
                // The same limit whether the line came in one read or in pieces: longer than
                // MAX_LINE is refused, a line of MAX_LINE whose CRLF is still coming is not.
                let end = buffer.windows(2).position(|w| w == b"\r\n");
                if end.unwrap_or(buffer.len().saturating_sub(1)) > MAX_LINE {
                    return Err(invalid("chunk line too long"));
                }
                let Some(end) = end else {
                    return Ok(Decoded::NeedMore);
                };
                let line = buffer.split_to(end + 2);
                let line = &line[..end];
                *state = match state {
                    Chunk::Size => {
                        let digits = line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
                        let text = std::str::from_utf8(digits).map_err(|_| invalid("invalid chunk size"))?;
                        if !digits.iter().all(u8::is_ascii_hexdigit) {
                            return Err(invalid("invalid chunk size"));
                        }
                        let size = u64::from_str_radix(text, 16).map_err(|_| invalid("invalid chunk size"))?;
                        if size == 0 { Chunk::Trailers(0) } else { Chunk::Data(size) }
                    }
                    Chunk::DataEnd if line.is_empty() => Chunk::Size,
                    Chunk::DataEnd => return Err(invalid("chunk data longer than its size")),
                    // Trailer fields are not forwarded; an empty line ends the body.
                    Chunk::Trailers(_) if line.is_empty() => {
                        *framing = Framing::Length(0);
                        return Ok(Decoded::End);
                    }
                    Chunk::Trailers(seen) if *seen >= MAX_TRAILER_LINES => {
                        return Err(invalid("too many trailer lines"));
                    }
                    Chunk::Trailers(seen) => Chunk::Trailers(*seen + 1),
                    Chunk::Data(_) => unreachable!("handled above"),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk-size line over the limit is refused however its bytes arrive, and one at the
    /// limit is taken however they arrive (found by fuzz/fuzz_targets/http_response.rs).
    #[test]
    fn a_chunk_line_is_held_to_its_limit_in_one_read_or_in_pieces() {
        let line = |extension: usize| format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(extension));
        let decode = |text: &str, piece: usize| -> io::Result<Vec<u8>> {
            let mut framing = Framing::Chunked(Chunk::Size);
            let (mut buffer, mut body) = (BytesMut::new(), Vec::new());
            for bytes in text.as_bytes().chunks(piece) {
                buffer.extend_from_slice(bytes);
                loop {
                    match decode(&mut framing, &mut buffer)? {
                        Decoded::Data(data) => body.extend_from_slice(&data),
                        Decoded::NeedMore => break,
                        Decoded::End => return Ok(body),
                    }
                }
            }
            Err(io::Error::new(io::ErrorKind::UnexpectedEof, "unfinished"))
        };
        for piece in [1, 7, 4096, usize::MAX] {
            assert_eq!(decode(&line(MAX_LINE - 2), piece).unwrap(), b"x", "at the limit, pieces of {piece}");
            let refused = decode(&line(MAX_LINE - 1), piece).unwrap_err();
            assert_eq!(refused.to_string(), "chunk line too long", "over the limit, pieces of {piece}");
        }
    }

    #[test]
    fn trailers_are_dropped_and_bounded() {
        let decode_all = |text: String| {
            let (mut framing, mut buffer) = (Framing::Chunked(Chunk::Size), BytesMut::from(text.as_bytes()));
            let mut body = Vec::new();
            loop {
                match decode(&mut framing, &mut buffer)? {
                    Decoded::Data(data) => body.extend_from_slice(&data),
                    Decoded::End => return Ok(body),
                    Decoded::NeedMore => return Err(io::Error::other("needs more")),
                }
            }
        };
        let lines = |n: usize| "T: 1\r\n".repeat(n);
        assert_eq!(decode_all(format!("2\r\nhi\r\n0\r\n{}\r\n", lines(MAX_TRAILER_LINES))).unwrap(), b"hi");
        let error = decode_all(format!("2\r\nhi\r\n0\r\n{}\r\n", lines(MAX_TRAILER_LINES + 1))).unwrap_err();
        assert_eq!(error.to_string(), "too many trailer lines");
    }
}

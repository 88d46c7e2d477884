//! Entry points for the fuzz targets in `fuzz/` (issue #18): the router's HTTP/1.1 parsers are
//! private to this crate, so this module hands their results out as owned values for the
//! targets to check. Nothing in serin calls it; it adds no behaviour of its own.

use crate::downstream::{RequestBody, parse_request};
use crate::http1::{Chunk, Decoded, Framing, decode};
use crate::proxy::{Limits, Proxy};
use crate::table::{CompiledRoute, Endpoint, RouteTable, ServiceBackend, Target};
use crate::upstream::{Forwarding, encode_request_head, parse_head};
use bytes::BytesMut;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What [`parse_request`] made of a request head, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRequest {
    pub method: String,
    pub target: String,
    pub path: String,
    pub query: String,
    pub authority: Option<String>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub host: Option<Vec<u8>>,
    pub connection: Option<Vec<u8>>,
    pub upgrade: Option<Vec<u8>>,
    pub http10: bool,
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// `None` for no body, else the Content-Length (`Some(None)` when chunked).
    pub body: Option<Option<u64>>,
    /// The head's length in the input.
    pub len: usize,
}

/// A request head as the router parses it from a client: `Ok(None)` while incomplete, the
/// status it answers (400, 431) when refused. With the head, the head the router would send a
/// pod for it (with a body of `body_len` bytes, from `client_ip`, trusted or not).
pub fn request(
    bytes: &[u8],
    body_len: usize,
    client_ip: &str,
    trusted: bool,
) -> Result<Option<(ParsedRequest, Vec<u8>)>, u16> {
    let mut slots = [const { MaybeUninit::uninit() }; 100];
    let Some(request) = parse_request(bytes, &mut slots).map_err(|status| status.as_u16())? else {
        return Ok(None);
    };
    let mut forwarded = Vec::new();
    encode_request_head(
        &mut forwarded,
        &request,
        body_len,
        &Forwarding { client_ip, trusted, secure: false, server: "router" },
    );
    let parsed = ParsedRequest {
        method: request.method.to_string(),
        target: request.target.to_string(),
        path: request.path.to_string(),
        query: request.query.to_string(),
        authority: request.authority.map(str::to_string),
        headers: request.headers.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect(),
        host: request.host.map(<[u8]>::to_vec),
        connection: request.connection.map(<[u8]>::to_vec),
        upgrade: request.upgrade.map(<[u8]>::to_vec),
        http10: request.http10,
        keep_alive: request.keep_alive,
        expect_continue: request.expect_continue,
        body: match request.body {
            RequestBody::Empty => None,
            RequestBody::Length(n) => Some(Some(n)),
            RequestBody::Chunked => Some(None),
        },
        len: request.len,
    };
    Ok(Some((parsed, forwarded)))
}

/// How a pod's response body is framed: a length, chunked, or until the connection closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    Length(u64),
    Chunked,
    UntilClose,
}

/// What [`parse_head`] made of a pod's response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedResponse {
    pub status: u16,
    pub length: Option<u64>,
    pub framing: BodyFraming,
    pub keep_alive: bool,
    pub dated: bool,
    /// The status line and headers the router passes on to the client (empty for a 1xx).
    pub out: Vec<u8>,
    /// What followed the head in the input.
    pub rest: Vec<u8>,
}

/// A response head as the router parses it from a pod: `Ok(None)` while incomplete, the error
/// text when refused.
pub fn response(bytes: &[u8]) -> Result<Option<ParsedResponse>, String> {
    let mut buffer = BytesMut::from(bytes);
    let mut out = Vec::new();
    let Some(head) = parse_head(&mut buffer, &mut out).map_err(|error| error.to_string())? else {
        return Ok(None);
    };
    let framing = match head.framing {
        Framing::Length(n) => BodyFraming::Length(n),
        Framing::Chunked(_) => BodyFraming::Chunked,
        Framing::UntilClose => BodyFraming::UntilClose,
    };
    Ok(Some(ParsedResponse {
        status: head.status.as_u16(),
        length: head.length,
        framing,
        keep_alive: head.keep_alive,
        dated: head.dated,
        out,
        rest: buffer.to_vec(),
    }))
}

/// How a body framed so ends, given these bytes after the head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyEnd {
    /// It ended: the body, and how many input bytes it took.
    Complete { body: Vec<u8>, used: usize },
    /// All the input is body so far; more is needed.
    NeedMore { body: Vec<u8> },
    /// The framing is broken (the error text).
    Invalid(String),
}

/// Decodes a body as the router does (a request's from a client, a response's from a pod),
/// the input arriving in pieces of `piece` bytes (at least 1).
pub fn body(framing: BodyFraming, bytes: &[u8], piece: usize) -> BodyEnd {
    let mut framing = match framing {
        BodyFraming::Length(n) => Framing::Length(n),
        BodyFraming::Chunked => Framing::Chunked(Chunk::Size),
        BodyFraming::UntilClose => Framing::UntilClose,
    };
    let mut pieces = bytes.chunks(piece.max(1));
    let (mut buffer, mut body, mut fed) = (BytesMut::new(), Vec::new(), 0);
    loop {
        match decode(&mut framing, &mut buffer) {
            Ok(Decoded::Data(data)) => body.extend_from_slice(&data),
            Ok(Decoded::End) => return BodyEnd::Complete { body, used: fed - buffer.len() },
            Ok(Decoded::NeedMore) => match pieces.next() {
                Some(next) => {
                    buffer.extend_from_slice(next);
                    fed += next.len();
                }
                None => return BodyEnd::NeedMore { body },
            },
            Err(error) => return BodyEnd::Invalid(error.to_string()),
        }
    }
}

/// A router whose entry point `web` sends `Host(`app`)` to the pod at `pod` and answers
/// everything else itself, giving clients `client_timeout`; for the connection-loop target.
pub fn router(pod: SocketAddr, client_timeout: Duration) -> Arc<Proxy> {
    let proxy = Proxy::new(Limits { client_timeout, ..Limits::new(usize::MAX) }, None);
    let stats = proxy.metrics.stats("app-1", "1");
    let endpoint = Endpoint {
        addr: pod,
        pod: "app-1-pod".into(),
        revision: "1".into(),
        stats,
        timeouts: Default::default(),
        service: "app".into(),
        h2c: false,
    };
    let target = Target::Service(ServiceBackend {
        name: "default/app".into(),
        endpoints: vec![endpoint],
        next: Default::default(),
    });
    let rule = crate::rule::parse("Host(`app`)").expect("a valid rule");
    let route = CompiledRoute {
        name: "app".into(),
        names: Default::default(),
        rule,
        priority: 0,
        target: Arc::new(target),
        tls: None,
    };
    let mut table = RouteTable::default();
    table.entrypoints.insert("web".into(), vec![route]);
    proxy.install(table);
    proxy
}

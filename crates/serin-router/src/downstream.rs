//! HTTP/1.1 from clients to the router: each client connection's loop, on the task that
//! accepted it.
//!
//! hyper's server built a header map, a `Request` and a `Response` for every request and
//! encoded the response once more from a header map; with pods answering in microseconds that
//! was the largest part of the router's own CPU (bench/RESULTS.md). This loop reads into one
//! reusable buffer, parses the head in place with `httparse`, routes from the parsed slices,
//! has [`crate::upstream`] write the pod's status line and headers into one output buffer and
//! sends head and body with one write when the body is whole.
//!
//! It keeps connections alive (an HTTP/1.0 client's only when it asks), answers pipelined
//! requests in order, reads request bodies by Content-Length or chunked (buffered, up to
//! [`MAX_BODY`], so that a failed connect can be retried; 413 beyond), answers `Expect:
//! 100-continue`, answers garbage with 400 and an oversized head with 431 and closes, and gives
//! up on a client that keeps a head, a body or a response waiting longer than the client
//! timeout. A request that switches protocols (a WebSocket handshake answered 101) turns the
//! connection into a tunnel to its pod; a connection that opens with HTTP/2's preface goes to
//! [`crate::http2`].

use crate::access_log::Entry;
use crate::http1::{Chunk, Decoded, Framing, content_length, decode, header_line, length_line, lists, status_line};
use crate::http2;
use crate::proxy::{Proxy, Reply};
use crate::rule::RequestInfo;
use crate::table::TraefikNames;
use crate::tls::{ClientStream, TlsSession};
use crate::upstream::{Answer, Body, Forwarding, Outgoing, Upgraded, encode_request_head};
use bytes::{Buf, Bytes, BytesMut};
use http::StatusCode;
use httparse::Header;
use std::borrow::Cow;
use std::future::Future;
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, Sleep};

/// A request head larger than this is answered 431 (nginx allows 32 KiB, hyper about 400).
const MAX_HEAD: usize = 64 << 10;
/// More header lines than this are answered 431 (hyper's limit).
const MAX_HEADERS: usize = 100;
/// Request bodies are buffered (so a failed connect can be retried) up to this size.
pub(crate) const MAX_BODY: usize = 8 << 20;
/// How long a client may keep the router waiting: for a whole request head (from when the
/// router is ready for it, so this is also the keep-alive idle time), or for any progress
/// while a body is read or a response written.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a connection closed after an error keeps reading (and dropping) what the client
/// still sends, so that the client reads the answer instead of a reset.
const LINGER: Duration = Duration::from_secs(2);
const READ_SIZE: usize = 8 << 10;
/// The answer to a request whose route asks for other TLS options than its connection got
/// (Go's text for 421, as Traefik writes it).
pub(crate) const MISDIRECTED: &str = "Misdirected Request\n";
/// A connection's buffers are let go of when a large body has made them larger than this.
const MAX_KEPT: usize = 64 << 10;

/// A client's request head, parsed in place: its text is borrowed from the connection's buffer.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path and query to forward (of an origin-form or absolute-form target; `*` for
    /// `OPTIONS *`; empty for an authority-form target).
    pub target: &'a str,
    /// The target's path (`/` when it has none), as routing rules see it once decoded.
    pub path: &'a str,
    pub query: &'a str,
    /// The authority of an absolute-form (`http://host:port/...`) or authority-form target.
    pub authority: Option<&'a str>,
    pub headers: &'a [Header<'a>],
    /// The `Host` header's value (there is at most one).
    pub host: Option<&'a [u8]>,
    /// The first `Connection` header's value, which may name more hop-by-hop headers.
    pub connection: Option<&'a [u8]>,
    /// The protocol an HTTP/1.1 request without a body asks to switch to (`Connection: upgrade`
    /// and `Upgrade: websocket`): the pod gets both headers, and a 101 from it turns the
    /// connection into a tunnel to that pod.
    pub upgrade: Option<&'a [u8]>,
    pub(crate) http10: bool,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    pub(crate) body: RequestBody,
    /// The head's length in the buffer; the body follows it.
    pub(crate) len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum RequestBody {
    Empty,
    Length(u64),
    Chunked,
}

impl<'a> Request<'a> {
    /// The host the request is for: an absolute-form target's authority (without userinfo),
    /// which RFC 9112 puts before any Host header, else the Host header.
    pub fn target_host(&self) -> Option<&[u8]> {
        match self.authority {
            Some(authority) => Some(authority.rsplit('@').next().unwrap_or(authority).as_bytes()),
            None => self.host,
        }
    }

    /// The host routed on.
    fn routing_host(&self) -> &str {
        self.target_host().and_then(visible).unwrap_or_default()
    }

    /// The target as Traefik routes and forwards it, when that differs from the one received:
    /// dot segments and repeated slashes removed from the path (so no route can be walked
    /// around with `..`), a `;` of the query turned into the `&` Traefik's entry points make
    /// of it (so the pod reads the parameters the rules read).
    pub(crate) fn cleaned_target(&self) -> Option<String> {
        let path = crate::rule::sanitized_path(self.path);
        let query = self.query.contains(';').then(|| self.query.replace(';', "&"));
        match (path, query) {
            (Cow::Borrowed(_), None) => None,
            (path, query) if self.target.contains('?') => {
                Some(format!("{path}?{}", query.as_deref().unwrap_or(self.query)))
            }
            (path, _) => Some(path.into_owned()),
        }
    }

    /// The request with `target` (its cleaned form) in the place of its own.
    pub(crate) fn with_target<'b>(&self, target: &'b str) -> Request<'b>
    where
        'a: 'b,
    {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request { target, path, query, ..*self }
    }

    /// What routing rules see of the request: `path` is its routing path, `headers` its
    /// header lines as text.
    pub(crate) fn rule_info<'b>(
        &'b self,
        path: &'b str,
        headers: &'b [(&'b str, &'b str)],
        client: std::net::IpAddr,
    ) -> RequestInfo<'b> {
        RequestInfo {
            host: self.routing_host(),
            path,
            method: self.method,
            headers,
            query: self.query,
            client_ip: Some(client),
        }
    }

    /// Its access log line, but for when, how long, over what protocol and with what answer.
    pub(crate) fn log_entry<'b>(
        &'b self,
        peer: SocketAddr,
        entrypoint: &'b str,
        routed: Option<&'b Routed>,
        tls: Option<&TlsSession>,
    ) -> Entry<'b> {
        let addr = self.routing_host();
        Entry {
            start: SystemTime::UNIX_EPOCH,
            duration: Duration::ZERO,
            client_addr: peer,
            client_host: peer.ip().to_string(),
            client_port: peer.port().to_string(),
            request_method: self.method,
            request_path: self.target,
            request_protocol: if self.http10 { "HTTP/1.0" } else { "HTTP/1.1" },
            request_host: host_without_port(addr),
            request_addr: addr,
            entry_point_name: entrypoint,
            router_name: routed.map(|r| r.names.router.as_str()),
            service_name: routed.map(|r| r.leaf.as_deref().unwrap_or(&r.names.service)),
            downstream_status: 0,
            origin_status: routed.and_then(|r| Some(r.origin?.status)),
            service_url: routed.and_then(|r| {
                let origin = r.origin?;
                Some(format!("{}://{}", if origin.h2c { "h2c" } else { "http" }, origin.addr))
            }),
            service_addr: routed.and_then(|r| Some(r.origin?.addr)),
            downstream_content_size: None,
            request_scheme: if tls.is_some() { "https" } else { "http" },
            tls_version: tls.map(|t| t.version),
            tls_cipher: tls.map(|t| t.cipher),
        }
    }

    fn asked(&self) -> Asked {
        Asked { http10: self.http10, head: self.method == "HEAD", keep_alive: self.keep_alive }
    }
}

/// What a response must respect of the request it answers.
#[derive(Clone, Copy)]
struct Asked {
    http10: bool,
    head: bool,
    keep_alive: bool,
}

/// An answer to no request (a head that could not be parsed): closes the connection.
const NOTHING_ASKED: Asked = Asked { http10: false, head: false, keep_alive: false };

/// A header value as routing rules see it: visible ASCII (and spaces and tabs) only, as hyper's
/// `HeaderValue::to_str` allowed.
pub(crate) fn visible(value: &[u8]) -> Option<&str> {
    if value.iter().all(|&b| b == b'\t' || (b' '..0x7f).contains(&b)) { std::str::from_utf8(value).ok() } else { None }
}

/// Parses a request head at the front of `buffer`: `Ok(None)` while it is incomplete, the
/// status to answer (400, 431) when it is not a request the router takes.
pub(crate) fn parse_request<'a>(
    buffer: &'a [u8],
    slots: &'a mut [MaybeUninit<Header<'a>>],
) -> Result<Option<Request<'a>>, StatusCode> {
    let mut parsed = httparse::Request::new(&mut []);
    let len = match parsed.parse_with_uninit_headers(buffer, slots) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
        Ok(httparse::Status::Complete(_)) | Err(httparse::Error::TooManyHeaders) => {
            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(StatusCode::BAD_REQUEST),
    };
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version) else {
        return Err(StatusCode::BAD_REQUEST);
    };
    if !target.is_ascii() {
        return Err(StatusCode::BAD_REQUEST);
    }
    // A fragment is never sent in a request target (RFC 9112 section 3.2): one there is refused,
    // as Traefik refuses it, rather than cut off and routed.
    if target.is_empty() || target.contains('#') {
        return Err(StatusCode::BAD_REQUEST);
    }
    let (authority, target) = split_target(target);
    // The authority becomes the Host the pod gets: it must be one the router would take as Host
    // (userinfo, which has the same characters, is dropped at its `@`). Without this, `GET a/b?c`
    // was routed and sent on with `host: a/b?c` (found by fuzz/fuzz_targets/http_request.rs).
    if let Some(authority) = authority
        && !authority.bytes().all(|b| b == b'@' || is_host_byte(b))
    {
        return Err(StatusCode::BAD_REQUEST);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // `http://host?q` asks for the root, as does the target sent on for it.
    let path = if path.is_empty() { "/" } else { path };
    let http10 = version == 0;
    let (mut host, mut connection, mut keep_alive, mut expect_continue) = (None, None, !http10, false);
    let (mut upgrade, mut upgrade_listed) = (None, false);
    let (mut length, mut transfer_encodings) = (None, 0);
    for header in parsed.headers.iter() {
        let is = |name: &str| header.name.eq_ignore_ascii_case(name);
        if is("host") {
            // RFC 9112 section 3.2: one Host, with a valid value (an empty one is allowed).
            if host.replace(header.value).is_some() || !header.value.iter().all(|&b| is_host_byte(b)) {
                return Err(StatusCode::BAD_REQUEST);
            }
        } else if is("connection") {
            connection.get_or_insert(header.value);
            upgrade_listed |= lists(header.value, "upgrade");
            if lists(header.value, "close") {
                keep_alive = false;
            } else if http10 && lists(header.value, "keep-alive") {
                keep_alive = true;
            }
        } else if is("content-length") {
            match (content_length(header.value), length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(seen)) if n == seen => {}
                _ => return Err(StatusCode::BAD_REQUEST),
            }
        } else if is("transfer-encoding") {
            // Only chunked is understood, and only once (RFC 9112 section 6.3).
            if http10 || !header.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(StatusCode::BAD_REQUEST);
            }
            transfer_encodings += 1;
        } else if is("expect") {
            expect_continue = !http10 && header.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        } else if is("upgrade") {
            upgrade.get_or_insert(header.value);
        }
    }
    if host.is_none() && !http10 {
        return Err(StatusCode::BAD_REQUEST); // HTTP/1.1 requires Host
    }
    let body = match (transfer_encodings, length) {
        (0, None | Some(0)) => RequestBody::Empty,
        (0, Some(n)) => RequestBody::Length(n),
        // Both a length and chunked, or chunked twice: a request smuggling attempt, or a broken client.
        (1, None) => RequestBody::Chunked,
        _ => return Err(StatusCode::BAD_REQUEST),
    };
    let headers: &'a [Header<'a>] = parsed.headers;
    let upgrade = upgrade.filter(|value| upgrade_listed && !http10 && !value.is_empty() && body == RequestBody::Empty);
    Ok(Some(Request {
        method,
        target,
        path,
        query,
        authority,
        headers,
        host,
        connection,
        upgrade,
        http10,
        keep_alive,
        expect_continue,
        body,
        len,
    }))
}

/// A byte a Host value may hold: the characters of a URI's host and port (unreserved,
/// sub-delims, `:`, `[` and `]` of IPv6 addresses, `%` of percent-encoding), as Go's server
/// checks them.
fn is_host_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!$%&'()*+,-.:;=[]_~".contains(&byte)
}

/// Splits a request target into the authority of an absolute-form (`http://host/path?q`) or
/// authority-form (`host:443`) target and the path with its query.
fn split_target(target: &str) -> (Option<&str>, &str) {
    if target.starts_with('/') || target == "*" {
        return (None, target);
    }
    let Some((_scheme, rest)) = target.split_once("://") else { return (Some(target), "") };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    (Some(&rest[..end]), &rest[end..])
}

/// Serves one client connection until it closes, fails, idles out or asks to close.
/// `tls` holds what a TLS connection agreed on.
pub(crate) async fn serve(
    proxy: Arc<Proxy>,
    entrypoint: Arc<str>,
    stream: ClientStream,
    peer: SocketAddr,
    tls: Option<Arc<TlsSession>>,
) {
    let deadline = Deadline::new(proxy.limits.client_timeout);
    let trusted = proxy.limits.trusted_ips.contains(peer.ip());
    let mut connection = Connection {
        proxy,
        entrypoint,
        peer,
        client_ip: peer.ip().to_string(),
        trusted,
        tls,
        client: Client { stream, deadline, out: Vec::with_capacity(READ_SIZE), status: 0, sent: 0 },
        rest: BytesMut::new(),
        chunks: Vec::new(),
        wire: Vec::with_capacity(1024),
        headers: Vec::new(),
        routed: None,
        switched: None,
    };
    let mut buffer = BytesMut::with_capacity(READ_SIZE);
    // Filled anew for each head: the parsed request borrows them, and the buffer, until it is answered.
    let mut slots: [MaybeUninit<Header>; MAX_HEADERS];
    let mut first = true;
    loop {
        let mut until = None;
        let request = loop {
            slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
            if !buffer.is_empty() {
                match parse_request(&buffer, &mut slots) {
                    Ok(Some(request)) => break request,
                    Ok(None) if buffer.len() <= MAX_HEAD => {}
                    Ok(None) => return connection.client.refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).await,
                    // Not HTTP/1.x: HTTP/2 with prior knowledge, once its whole preface is here.
                    Err(_) if first && buffer.starts_with(http2::PREFACE) => {
                        let Connection { proxy, entrypoint, client, tls, .. } = connection;
                        return http2::serve(proxy, entrypoint, client.stream, peer, buffer, tls).await;
                    }
                    Err(_) if first && http2::PREFACE.starts_with(&buffer) => {}
                    Err(status) => return connection.client.refuse(status).await,
                }
            }
            match connection.client.read(&mut buffer, &mut until).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        first = false;
        let next = connection.handle(&request, &buffer[request.len..]).await;
        match next {
            Next::Buffer(end) => buffer.advance(end),
            Next::Rest => {
                buffer.clear();
                std::mem::swap(&mut buffer, &mut connection.rest);
                // The memory of a large body is not kept for the requests that follow.
                if buffer.capacity() > MAX_KEPT {
                    buffer = BytesMut::from(&buffer[..]);
                }
                if connection.chunks.capacity() > MAX_KEPT {
                    connection.chunks = Vec::new();
                }
            }
            Next::Close { linger } => return connection.client.close(linger).await,
            Next::Tunnel(from) => {
                buffer.advance(from);
                return connection.tunnel(&buffer).await;
            }
        }
    }
}

/// Where the next request starts, once a request has been answered.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Next {
    /// At this offset of the buffer the request was parsed from.
    Buffer(usize),
    /// The body was read past that buffer: the next request starts in `Connection::rest`.
    Rest,
    /// Nowhere: the connection closes (after lingering, if the client may still be sending).
    Close { linger: bool },
    /// The pod switched protocols: from this offset of the buffer on, what the client sends is
    /// the new protocol's, and goes through to the pod untouched.
    Tunnel(usize),
}

/// Why a request body could not be read.
enum BodyError {
    TooLarge,
    Invalid,
    /// The client closed the connection, failed or stopped sending.
    Gone,
}

/// A client connection and the buffers it reuses from one request to the next.
struct Connection {
    proxy: Arc<Proxy>,
    entrypoint: Arc<str>,
    peer: SocketAddr,
    /// The client's address as X-Forwarded-For gets it, formatted once.
    client_ip: String,
    /// The client is a proxy whose forwarding headers are kept (`--trusted-ips`).
    trusted: bool,
    /// For a TLS connection, what it agreed on.
    tls: Option<Arc<TlsSession>>,
    client: Client,
    /// A request body read past the head's buffer, and what followed it.
    rest: BytesMut,
    /// A request body as decoded.
    chunks: Vec<u8>,
    /// The request head as sent to the pod.
    wire: Vec<u8>,
    /// The header lines as routing rules read them; empty between requests.
    headers: Vec<(&'static str, &'static str)>,
    /// The route that answered the request, when there is an access log to name it in.
    routed: Option<Routed>,
    /// The pod connection that switched protocols, once a 101 has gone to the client.
    switched: Option<Upgraded>,
}

/// Who answered a request, for the access log: the route, and the Service whose pod answered.
pub(crate) struct Routed {
    pub(crate) names: Arc<TraefikNames>,
    pub(crate) leaf: Option<Arc<str>>,
    /// The pod that answered and its status, when a pod answered.
    pub(crate) origin: Option<Origin>,
}

/// The pod that answered a request, as the access log names it.
#[derive(Clone, Copy)]
pub(crate) struct Origin {
    pub(crate) addr: SocketAddr,
    pub(crate) h2c: bool,
    pub(crate) status: u16,
}

impl Origin {
    pub(crate) fn of(endpoint: &crate::table::Endpoint, status: StatusCode) -> Origin {
        Origin { addr: endpoint.addr, h2c: endpoint.h2c, status: status.as_u16() }
    }
}

impl Connection {
    /// Routes, reads the body, forwards and answers one request.
    async fn handle(&mut self, request: &Request<'_>, after_head: &[u8]) -> Next {
        let mut headers: Vec<(&str, &str)> = std::mem::take(&mut self.headers);
        headers.extend(request.headers.iter().filter_map(|h| Some((h.name, visible(h.value)?))));
        let started = self.proxy.access_log.is_some().then(|| (SystemTime::now(), Instant::now()));
        let next = self.answer(request, after_head, &headers).await;
        if let Some((start, clock)) = started {
            self.record(request, start, clock.elapsed());
        }
        headers.clear();
        // Empty, the list borrows nothing: it goes back (in place, the same allocation) for
        // the next request.
        self.headers = headers.into_iter().map(|_| ("", "")).collect();
        next
    }

    /// Carries bytes both ways between the client and the pod that switched protocols, until
    /// either side closes: `early` (what the client sent after its handshake) first to the
    /// pod, what the pod sent after its 101 first to the client. No timeout applies: a
    /// WebSocket may rightly stay quiet for hours.
    async fn tunnel(mut self, early: &[u8]) {
        let Some(Upgraded { stream: mut pod, early: from_pod }) = self.switched.take() else { return };
        let client = &mut self.client.stream;
        if pod.write_all(early).await.is_err() || client.write_all(&from_pod).await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(client, &mut pod).await;
    }

    /// Writes the request's line in the access log.
    fn record(&mut self, request: &Request<'_>, start: SystemTime, duration: Duration) {
        let routed = self.routed.take();
        let Some(log) = &self.proxy.access_log else { return };
        let entry = request.log_entry(self.peer, &self.entrypoint, routed.as_ref(), self.tls.as_deref());
        let (downstream_status, sent) = (self.client.status, Some(self.client.sent));
        log.record(&Entry { start, duration, downstream_status, downstream_content_size: sent, ..entry });
    }

    async fn answer(&mut self, request: &Request<'_>, after_head: &[u8], headers: &[(&str, &str)]) -> Next {
        if request.target == "*" && request.method == "OPTIONS" {
            // A question to the server itself, answered here as Traefik (Go's server) answers it.
            let end = matches!(request.body, RequestBody::Empty).then_some(Next::Buffer(request.len));
            return self.client.own(request.asked(), StatusCode::OK, "", end).await;
        }
        let cleaned = request.cleaned_target();
        let request = &match &cleaned {
            Some(target) => request.with_target(target),
            None => *request,
        };
        let path = crate::rule::routing_path(request.path).unwrap_or(Cow::Borrowed(request.path));
        let info = request.rule_info(&path, headers, self.peer.ip());
        let table = self.proxy.table();
        let Connection {
            proxy, entrypoint, client_ip, trusted, tls, client, rest, chunks, wire, routed, switched, ..
        } = self;
        let route = match table.route(entrypoint, &info, tls.is_some()) {
            Some(route) if !route.misdirected(tls.as_ref().map(|t| &*t.options)) => route,
            refused => {
                let (status, text) = match refused {
                    None => (StatusCode::NOT_FOUND, "404 page not found\n"),
                    Some(_) => (StatusCode::MISDIRECTED_REQUEST, MISDIRECTED),
                };
                // The body is not read: the connection goes on only if all of it is here to skip.
                let end = match request.body {
                    RequestBody::Empty => Some(Next::Buffer(request.len)),
                    RequestBody::Length(n) if n <= after_head.len() as u64 => {
                        Some(Next::Buffer(request.len + n as usize))
                    }
                    _ => None,
                };
                return client.own(request.asked(), status, text, end).await;
            }
        };
        if proxy.access_log.is_some() {
            *routed = Some(Routed { names: route.names.clone(), leaf: None, origin: None });
        }
        let (body, next) = match read_body(client, request, after_head, rest, chunks).await {
            Ok(read) => read,
            Err(BodyError::TooLarge) => {
                return client
                    .own(request.asked(), StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n", None)
                    .await;
            }
            Err(BodyError::Invalid) => return client.own(request.asked(), StatusCode::BAD_REQUEST, "", None).await,
            Err(BodyError::Gone) => return Next::Close { linger: false },
        };
        wire.clear();
        let forwarding = Forwarding { client_ip, trusted: *trusted, secure: tls.is_some(), server: &proxy.host_name };
        encode_request_head(wire, request, body.len(), &forwarding);
        let outgoing = Outgoing { method: request.method, head: wire, body, upgrade: request.upgrade };
        let reply = proxy.forward(route, &info, &outgoing, &mut client.out).await;
        if let (Some(routed), Reply::Pod(answer, endpoint)) = (routed, &reply) {
            routed.leaf = Some(endpoint.service.clone());
            routed.origin = Some(Origin::of(endpoint, answer.status));
        }
        match reply {
            Reply::Pod(Answer { body: Body::Upgraded(pod), .. }, _) => {
                // The 101 head as the pod sent it, then the pod's protocol: no framing, no date.
                client.status = StatusCode::SWITCHING_PROTOCOLS.as_u16();
                client.out.extend_from_slice(b"\r\n");
                if client.flush().await.is_err() {
                    return Next::Close { linger: false };
                }
                *switched = Some(pod);
                Next::Tunnel(request.len)
            }
            Reply::Pod(answer, _) => client.relay(request.asked(), answer, next).await,
            Reply::Own(status, text) => client.own(request.asked(), status, text, Some(next)).await,
        }
    }
}

/// Reads a request's body: all of it, and where the next request starts.
async fn read_body<'a>(
    client: &mut Client,
    request: &Request<'_>,
    after_head: &'a [u8],
    rest: &'a mut BytesMut,
    chunks: &'a mut Vec<u8>,
) -> Result<(&'a [u8], Next), BodyError> {
    let mut framing = match request.body {
        RequestBody::Empty => return Ok((&[], Next::Buffer(request.len))),
        RequestBody::Length(n) if n > MAX_BODY as u64 => return Err(BodyError::TooLarge),
        RequestBody::Length(n) if n <= after_head.len() as u64 => {
            return Ok((&after_head[..n as usize], Next::Buffer(request.len + n as usize)));
        }
        RequestBody::Length(n) => Framing::Length(n),
        RequestBody::Chunked => Framing::Chunked(Chunk::Size),
    };
    if request.expect_continue {
        client.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        client.flush().await.map_err(|_| BodyError::Gone)?;
    }
    rest.clear();
    rest.extend_from_slice(after_head);
    chunks.clear();
    // The whole body must arrive within the client timeout, not each read of it: a client that
    // sends a byte now and then cannot hold the connection for ever.
    let mut until = None;
    loop {
        match decode(&mut framing, rest) {
            Ok(Decoded::Data(data)) if chunks.len() + data.len() > MAX_BODY => return Err(BodyError::TooLarge),
            Ok(Decoded::Data(data)) => chunks.extend_from_slice(&data),
            Ok(Decoded::End) => return Ok((chunks, Next::Rest)),
            Ok(Decoded::NeedMore) => match client.read(rest, &mut until).await {
                Ok(0) | Err(_) => return Err(BodyError::Gone),
                Ok(_) => {}
            },
            Err(_) => return Err(BodyError::Invalid),
        }
    }
}

/// The client's side of a connection: the socket, its deadline and the output buffer,
/// which holds nothing between responses.
struct Client {
    stream: ClientStream,
    deadline: Deadline,
    out: Vec<u8>,
    /// The status of the last answer sent.
    status: u16,
    /// Bytes of body in the last answer sent.
    sent: u64,
}

impl Client {
    /// Reads more into `buffer`, by `until` (now + the timeout if not set); 0 at the end.
    async fn read(&mut self, buffer: &mut BytesMut, until: &mut Option<Instant>) -> io::Result<usize> {
        buffer.reserve(READ_SIZE);
        self.deadline.bound(until, self.stream.read_buf(buffer)).await
    }

    /// Writes out and empties the output buffer.
    async fn flush(&mut self) -> io::Result<()> {
        let written = self.deadline.bound(&mut None, self.stream.write_all(&self.out)).await;
        self.out.clear();
        written
    }

    /// Sends a pod's answer on: its head (already in the output buffer) completed with the
    /// date, the framing and the connection's fate, then its body.
    async fn relay(&mut self, asked: Asked, answer: Answer, next: Next) -> Next {
        (self.status, self.sent) = (answer.status.as_u16(), 0);
        let mut keep_alive = asked.keep_alive;
        if !answer.dated {
            date_line(&mut self.out);
        }
        let bodyless = asked.head || matches!(answer.status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
        let mut chunked = false;
        match answer.length {
            Some(n) => {
                length_line(&mut self.out, n);
            }
            None if bodyless => {}
            // An HTTP/1.0 client knows no chunks: the end of the connection ends the body.
            None if asked.http10 => keep_alive = false,
            None => {
                chunked = true;
                self.out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            }
        }
        end_head(&mut self.out, keep_alive, asked.http10);
        let mut body = answer.body;
        // A whole body goes out with the head in one write; a streaming one piece by piece.
        let streaming = matches!(body, Body::Streaming(_) | Body::Http2(_));
        if streaming && self.flush().await.is_err() {
            return Next::Close { linger: false };
        }
        while let Some(piece) = body.next().await {
            let Ok(data) = piece else {
                // The pod failed mid-body: the client sees the connection close, not a hang.
                return Next::Close { linger: false };
            };
            self.sent += data.len() as u64;
            body_piece(&mut self.out, &data, chunked);
            if streaming && self.flush().await.is_err() {
                return Next::Close { linger: false };
            }
        }
        if chunked {
            // The last chunk, then the trailers an HTTP/2 pod ended with (gRPC's status).
            self.out.extend_from_slice(b"0\r\n");
            for (name, value) in body.take_trailers().iter().flatten() {
                header_line(&mut self.out, name.as_str(), value.as_bytes());
            }
            self.out.extend_from_slice(b"\r\n");
        }
        match self.flush().await {
            Ok(()) if keep_alive => next,
            _ => Next::Close { linger: false },
        }
    }

    /// Sends an answer of the router's own (a text body, or none); `next` is `None` when the
    /// request could not be read to its end, so the connection closes.
    async fn own(&mut self, asked: Asked, status: StatusCode, text: &'static str, next: Option<Next>) -> Next {
        let keep_alive = asked.keep_alive && next.is_some();
        self.status = status.as_u16();
        self.sent = if asked.head { 0 } else { text.len() as u64 };
        self.out.clear();
        status_line(&mut self.out, status, status.canonical_reason().unwrap_or_default());
        if !text.is_empty() {
            self.out.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\n");
        }
        length_line(&mut self.out, text.len() as u64);
        date_line(&mut self.out);
        end_head(&mut self.out, keep_alive, asked.http10);
        if !asked.head {
            self.out.extend_from_slice(text.as_bytes());
        }
        match (self.flush().await, next) {
            (Ok(()), Some(next)) if keep_alive => next,
            (written, next) => Next::Close { linger: written.is_ok() && next.is_none() },
        }
    }

    /// Answers a head that could not be parsed, and closes.
    async fn refuse(mut self, status: StatusCode) {
        let next = self.own(NOTHING_ASKED, status, "", None).await;
        self.close(next == Next::Close { linger: true }).await;
    }

    /// Closes the connection. Lingering, it first reads and drops what the client still sends
    /// (for a while), so that closing with unread data does not reset the connection before
    /// the client has read the answer.
    async fn close(mut self, linger: bool) {
        if !linger {
            return;
        }
        let _ = self.stream.shutdown().await;
        let mut sink = vec![0; READ_SIZE];
        let _ = tokio::time::timeout(LINGER, async { while let Ok(1..) = self.stream.read(&mut sink).await {} }).await;
    }
}

/// The host of `host:port` or `[v6]:port` (brackets dropped), as Traefik's access log records it.
fn host_without_port(addr: &str) -> &str {
    crate::rule::split_host_port(addr).map_or(addr, |(host, _)| host)
}

/// Ends a response head, saying whether the connection stays open where the client would not
/// assume it.
fn end_head(out: &mut Vec<u8>, keep_alive: bool, http10: bool) {
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn body_piece(out: &mut Vec<u8>, data: &Bytes, chunked: bool) {
    if data.is_empty() {
        // An empty chunk would end the body.
    } else if chunked {
        let _ = write!(out, "{:x}\r\n", data.len());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(data);
    }
}

/// Appends a `date` header with the current time (RFC 9110 asks a proxy to add one to a
/// response without it), formatted once a second per thread.
fn date_line(out: &mut Vec<u8>) {
    thread_local! {
        static NOW: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs());
    NOW.with_borrow_mut(|(formatted_at, text)| {
        if *formatted_at != second || text.is_empty() {
            *formatted_at = second;
            *text = httpdate::fmt_http_date(now);
        }
        header_line(out, "date", text.as_bytes());
    });
}

/// When a client that keeps the router waiting is given up on. One timer per connection,
/// moved only when it fires before the deadline in force, and not even looked at while a
/// request's I/O completes in time: a request costs no timer work.
struct Deadline {
    timer: Pin<Box<Sleep>>,
    /// When the timer fires (kept here: the timer itself lives elsewhere in memory).
    fires_at: Instant,
    timeout: Duration,
    /// The timer was polled since it was last set, so it wakes the task when it fires.
    armed: bool,
}

impl Deadline {
    fn new(timeout: Duration) -> Deadline {
        let fires_at = Instant::now() + timeout;
        Deadline { timer: Box::pin(tokio::time::sleep_until(fires_at)), fires_at, timeout, armed: false }
    }

    /// Runs one read or write of the connection, which must complete by `until` (set to now +
    /// the timeout the first time it has to wait, if not set yet).
    async fn bound<T>(
        &mut self,
        until: &mut Option<Instant>,
        io: impl Future<Output = io::Result<T>>,
    ) -> io::Result<T> {
        let mut io = pin!(io);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = io.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            let (now, until) = match *until {
                Some(until) => (None, until),
                None => {
                    let now = Instant::now();
                    (Some(now), *until.insert(now + self.timeout))
                }
            };
            if self.armed && now.map_or_else(|| !self.timer.is_elapsed(), |now| now < self.fires_at) {
                return Poll::Pending;
            }
            while self.timer.as_mut().poll(cx).is_ready() {
                if self.fires_at >= until {
                    return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                }
                self.timer.as_mut().reset(until);
                self.fires_at = until;
            }
            self.armed = true;
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proxy::Limits;
    use crate::table::{CompiledRoute, Endpoint, RouteTable, ServiceBackend, Target};
    use crate::upstream::Timeouts;
    use crate::upstream::tests::pod;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::{TcpListener, TcpStream};

    /// The client timeout the test routers give clients.
    pub(crate) const TIMEOUT: Duration = Duration::from_millis(300);

    /// A pod that answers every request with what it received, as another server (hyper)
    /// reads it: the request line, the headers and the body. Counts the requests.
    pub(crate) async fn echo_pod() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = http_body_util::BodyExt::collect(body).await?.to_bytes();
                        let mut text = format!("{} {}\n", parts.method, parts.uri);
                        for (name, value) in &parts.headers {
                            text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
                        }
                        text.push('\n');
                        text.push_str(&String::from_utf8_lossy(&body));
                        Ok::<_, hyper::Error>(hyper::Response::new(http_body_util::Full::new(Bytes::from(text))))
                    }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                tokio::spawn(connection);
            }
        });
        (addr, requests)
    }

    /// A router whose entry point `web` sends `Host(`app`)` to the pods, round robin.
    fn proxy(pods: &[SocketAddr]) -> Arc<Proxy> {
        proxy_with(pods, Limits { client_timeout: TIMEOUT, ..Limits::new(usize::MAX) })
    }

    fn proxy_with(pods: &[SocketAddr], limits: Limits) -> Arc<Proxy> {
        let proxy = Proxy::new(limits, None);
        let mut table = RouteTable::default();
        table.entrypoints.insert("web".into(), vec![route_to(&proxy, pods, "Host(`app`)", None)]);
        proxy.install(table);
        proxy
    }

    /// A route of `rule` to the pods (Service `app`, round robin), a TLS one asking for the
    /// options `tls` if given.
    pub(crate) fn route_to(proxy: &Proxy, pods: &[SocketAddr], rule: &str, tls: Option<&str>) -> CompiledRoute {
        let stats = proxy.metrics.stats("app-1", "1");
        let endpoints = pods
            .iter()
            .map(|&addr| Endpoint {
                addr,
                pod: addr.to_string(),
                revision: "1".into(),
                stats: stats.clone(),
                timeouts: Default::default(),
                service: "app".into(),
                h2c: false,
            })
            .collect();
        let target =
            Target::Service(ServiceBackend { name: "default/app".into(), endpoints, next: Default::default() });
        CompiledRoute {
            name: rule.into(),
            names: Default::default(),
            rule: crate::rule::parse(rule).unwrap(),
            priority: 0,
            target: Arc::new(target),
            tls: tls.map(Into::into),
        }
    }

    /// That router, serving on loopback.
    pub(crate) async fn router(pods: &[SocketAddr]) -> SocketAddr {
        serving(proxy(pods)).await
    }

    /// A router serving on loopback.
    pub(crate) async fn serving(proxy: Arc<Proxy>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(proxy.serve("web".into(), listener));
        addr
    }

    /// Sends the pieces (a moment apart) and reads until the router closes the connection.
    async fn talk(router: SocketAddr, pieces: &[&[u8]]) -> String {
        let mut stream = TcpStream::connect(router).await.unwrap();
        for piece in pieces {
            stream.write_all(piece).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        read_to_close(&mut stream).await
    }

    /// Everything the router sends until it closes; a router that neither answers nor
    /// closes within 5 s fails the test.
    async fn read_to_close(stream: &mut TcpStream) -> String {
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got)).await;
        assert!(read.is_ok(), "the router neither answered nor closed: {:?}", String::from_utf8_lossy(&got));
        String::from_utf8_lossy(&got).into_owned()
    }

    /// The text without its `date` lines, which change every second.
    fn undated(text: &str) -> String {
        text.split("\r\n").filter(|line| !line.starts_with("date: ")).collect::<Vec<_>>().join("\r\n")
    }

    fn parse(raw: &[u8]) -> Result<Option<RequestBody>, StatusCode> {
        let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        parse_request(raw, &mut slots).map(|request| request.map(|r| r.body))
    }

    /// How the body of a request head is framed, a `Host` line put in after its request line
    /// (so each case is refused or taken for its framing alone).
    fn framing_of(raw: &[u8]) -> Result<Option<RequestBody>, StatusCode> {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        parse(&[&raw[..line_end], b"Host: app\r\n", &raw[line_end..]].concat())
    }

    #[test]
    fn the_request_head_keeps_host_and_adds_forwarding_headers() {
        let raw = b"POST /api?x=1 HTTP/1.1\r\nHost: canary.myapp.com\r\nConnection: keep-alive, X-Private\r\nX-Private: secret\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Real-IP: 10.0.0.1\r\nForwarded: for=10.0.0.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nAccept: */*\r\n\r\n";
        let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let request = parse_request(raw, &mut slots).unwrap().unwrap();
        assert_eq!((request.body, request.expect_continue, request.keep_alive), (RequestBody::Chunked, true, true));
        assert_eq!((request.path, request.query, request.routing_host()), ("/api", "x=1", "canary.myapp.com"));
        // From a client nobody trusts, forwarding headers are the router's own.
        let mut head = Vec::new();
        encode_request_head(
            &mut head,
            &request,
            3,
            &Forwarding { client_ip: "127.0.0.1", trusted: false, secure: false, server: "router" },
        );
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "POST /api?x=1 HTTP/1.1\r\nHost: canary.myapp.com\r\nAccept: */*\r\nx-forwarded-for: 127.0.0.1\r\nx-forwarded-host: canary.myapp.com\r\nx-forwarded-proto: http\r\nx-forwarded-port: 80\r\nx-forwarded-server: router\r\nx-real-ip: 127.0.0.1\r\ncontent-length: 3\r\n\r\n"
        );
        // From a trusted proxy (--trusted-ips), its own are kept and its address appended.
        let mut head = Vec::new();
        encode_request_head(
            &mut head,
            &request,
            3,
            &Forwarding { client_ip: "127.0.0.1", trusted: true, secure: false, server: "router" },
        );
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "POST /api?x=1 HTTP/1.1\r\nHost: canary.myapp.com\r\nX-Forwarded-Proto: https\r\nX-Real-IP: 10.0.0.1\r\nForwarded: for=10.0.0.1\r\nAccept: */*\r\nx-forwarded-for: 10.0.0.1, 127.0.0.1\r\nx-forwarded-host: canary.myapp.com\r\nx-forwarded-port: 443\r\nx-forwarded-server: router\r\ncontent-length: 3\r\n\r\n"
        );
        // An HTTP/1.0 client asking a proxy: absolute-form target, no Host header.
        let raw = b"GET http://user@example.com:8080?q HTTP/1.0\r\n\r\n";
        let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let request = parse_request(raw, &mut slots).unwrap().unwrap();
        assert_eq!((request.path, request.query, request.routing_host()), ("/", "q", "example.com:8080"));
        assert!(!request.keep_alive);
        let mut head = Vec::new();
        encode_request_head(
            &mut head,
            &request,
            0,
            &Forwarding { client_ip: "::1", trusted: false, secure: false, server: "router" },
        );
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "GET /?q HTTP/1.1\r\nhost: example.com:8080\r\nx-forwarded-for: ::1\r\nx-forwarded-host: example.com:8080\r\nx-forwarded-proto: http\r\nx-forwarded-port: 8080\r\nx-forwarded-server: router\r\nx-real-ip: ::1\r\n\r\n"
        );
    }

    #[test]
    fn an_upgrade_is_asked_by_connection_and_upgrade_together_on_http_1_1_without_a_body() {
        let upgrade = |raw: &[u8]| {
            let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
            parse_request(raw, &mut slots).unwrap().unwrap().upgrade.map(<[u8]>::to_vec)
        };
        let asked = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(upgrade(asked).as_deref(), Some(&b"websocket"[..]));
        let second_line =
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n";
        assert_eq!(upgrade(second_line).as_deref(), Some(&b"h2c"[..]));
        for not_asked in [
            &b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n",
            b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\ncontent-length: 1\r\n\r\nx",
        ] {
            assert_eq!(upgrade(not_asked), None, "{}", String::from_utf8_lossy(not_asked));
        }
        // The pod gets both headers, written anew; the client's other hop-by-hop ones stay behind.
        let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let request = parse_request(asked, &mut slots).unwrap().unwrap();
        let mut head = Vec::new();
        encode_request_head(
            &mut head,
            &request,
            0,
            &Forwarding { client_ip: "127.0.0.1", trusted: false, secure: false, server: "router" },
        );
        let head = String::from_utf8(head).unwrap();
        assert!(head.contains("connection: Upgrade\r\nupgrade: websocket\r\n"), "{head}");
        assert!(!head.contains("keep-alive"), "{head}");
    }

    #[test]
    fn host_follows_rfc_9112() {
        let parse_head = |raw: &[u8]| {
            let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
            parse_request(raw, &mut slots).map(|r| {
                let r = r.unwrap();
                let mut head = Vec::new();
                encode_request_head(
                    &mut head,
                    &r,
                    0,
                    &Forwarding { client_ip: "127.0.0.1", trusted: false, secure: false, server: "router" },
                );
                (r.routing_host().to_string(), String::from_utf8(head).unwrap())
            })
        };
        let refused: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: app\r\nHost: other\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: app\r\nhost: app\r\n\r\n",
            b"GET / HTTP/1.0\r\nHost: app\r\nHost: other\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: app/admin\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            b"GET http://app/ HTTP/1.1\r\n\r\n",
            // A target's authority is held to what a Host may be, as it becomes the pod's Host.
            b"GET http@:/us/app:80/p?x=1 HTTP/1.1\r\nHost: app\r\n\r\n",
            b"GET app/admin HTTP/1.1\r\nHost: app\r\n\r\n",
            b"GET http://a{b}/x HTTP/1.1\r\nHost: app\r\n\r\n",
            b"GET #top HTTP/1.1\r\nHost: app\r\n\r\n",
            b"GET /api#frag HTTP/1.1\r\nHost: app\r\n\r\n",
            b"GET http://app/p?x=1#frag HTTP/1.1\r\nHost: app\r\n\r\n",
            b"GET http:./user@app HTTP/1.1\r\nHost: app\r\n\r\n",
        ];
        for raw in refused {
            assert_eq!(parse_head(raw).err(), Some(StatusCode::BAD_REQUEST), "{}", String::from_utf8_lossy(raw));
        }
        // An absolute-form target routes by its authority and is forwarded with it as Host.
        let (routed, head) = parse_head(b"GET http://app:8080/x HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
        assert_eq!(routed, "app:8080");
        assert!(head.starts_with("GET /x HTTP/1.1\r\nhost: app:8080\r\n") && !head.contains("other"), "{head}");
        let (routed, head) = parse_head(b"GET http://user@[::1]:80/x HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
        assert_eq!(routed, "[::1]:80");
        assert!(head.starts_with("GET /x HTTP/1.1\r\nhost: [::1]:80\r\n"), "{head}");
        // `Connection: host` cannot take Host away from the pod.
        let (routed, head) = parse_head(b"GET / HTTP/1.1\r\nHost: app\r\nConnection: host, te\r\n\r\n").unwrap();
        assert_eq!(routed, "app");
        assert!(head.starts_with("GET / HTTP/1.1\r\nHost: app\r\n"), "{head}");
        // An empty Host is valid; an HTTP/1.0 request may have none.
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost:\r\n\r\n").unwrap().0, "");
        assert_eq!(parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().0, "");
    }

    #[test]
    fn framing_that_could_smuggle_a_request_is_refused() {
        assert_eq!(
            framing_of(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
            Ok(Some(RequestBody::Length(5)))
        );
        assert_eq!(framing_of(b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n"), Ok(Some(RequestBody::Empty)));
        for bad in [
            &b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(framing_of(bad), Err(StatusCode::BAD_REQUEST), "{}", String::from_utf8_lossy(bad));
        }
    }

    proptest! {
        #[test]
        fn any_bytes_are_a_request_a_refusal_or_a_wait_for_more(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
            let mut framing = Framing::Chunked(Chunk::Size);
            let mut buffer = BytesMut::from(&bytes[..]);
            while let Ok(Decoded::Data(_)) = decode(&mut framing, &mut buffer) {}
        }

        #[test]
        fn a_request_cut_short_waits_for_more(
            method in "GET|POST|HEAD|DELETE|OPTIONS",
            target in "/[a-zA-Z0-9/?=&%._~-]{0,40}",
            headers in proptest::collection::vec(("X-[A-Za-z-]{1,12}", "[ -~]{0,30}"), 0..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: app\r\n");
            for (name, value) in &headers {
                raw.push_str(&format!("{name}: {value}\r\n"));
            }
            raw.push_str("\r\n");
            prop_assert_eq!(parse(raw.as_bytes()), Ok(Some(RequestBody::Empty)));
            let cut = cut.index(raw.len());
            prop_assert_eq!(parse(&raw.as_bytes()[..cut]), Ok(None));
        }
    }

    /// As Traefik forwards them: dot segments removed from the path, a `;` of the query (not of
    /// the path) turned into `&`.
    #[tokio::test]
    async fn cleaned_paths_and_query_semicolons_reach_the_pod_as_traefik_sends_them() {
        let (pod, _) = echo_pod().await;
        let router = router(&[pod]).await;
        for (sent, forwarded) in
            [("/a/../b?x=1;y=2", "/b?x=1&y=2"), ("/a/./b;c?q", "/a/b;c?q"), ("/x?a;b", "/x?a&b"), ("/a//b", "/a/b")]
        {
            let request = format!("GET {sent} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n");
            let answer = talk(router, &[request.as_bytes()]).await;
            assert!(answer.contains(&format!("GET {forwarded}\n")), "{sent}: {answer}");
        }
    }

    /// A pod that takes one request, answers 101 switching to `protocol` followed by `hello`,
    /// then sends back upper-cased whatever it reads.
    async fn switching_pod(protocol: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0];
                if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                    return;
                }
                head.push(byte[0]);
            }
            let switch =
                format!("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: {protocol}\r\n\r\nhello");
            stream.write_all(switch.as_bytes()).await.unwrap();
            let mut piece = [0; 64];
            while let Ok(n @ 1..) = stream.read(&mut piece).await {
                if stream.write_all(&piece[..n].to_ascii_uppercase()).await.is_err() {
                    return;
                }
            }
        });
        addr
    }

    /// Reads until `wanted` has arrived; everything read.
    async fn read_until(stream: &mut TcpStream, wanted: &str) -> String {
        let mut got = Vec::new();
        let mut piece = [0; 256];
        while !String::from_utf8_lossy(&got).contains(wanted) {
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut piece)).await.unwrap().unwrap();
            assert!(n > 0, "closed before {wanted:?}: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&piece[..n]);
        }
        String::from_utf8(got).unwrap()
    }

    #[tokio::test]
    async fn an_upgrade_turns_the_connection_into_a_tunnel_to_the_pod() {
        let router = router(&[switching_pod("websocket").await]).await;
        let mut stream = TcpStream::connect(router).await.unwrap();
        stream
            .write_all(b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly")
            .await
            .unwrap();
        let switched = read_until(&mut stream, "EARLY").await;
        assert!(switched.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{switched}");
        assert!(switched.contains("Connection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello"), "{switched}");
        assert!(!switched.contains("content-length") && !switched.contains("transfer-encoding"), "{switched}");
        // The client timeout of plain requests no longer applies.
        tokio::time::sleep(TIMEOUT * 2).await;
        stream.write_all(b"later").await.unwrap();
        read_until(&mut stream, "LATER").await;
    }

    #[tokio::test]
    async fn a_switch_to_a_protocol_nobody_asked_for_is_a_bad_gateway() {
        let other = router(&[switching_pod("h2c").await]).await;
        let handshake = b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
        let answer = talk(other, &[handshake]).await;
        assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
        let unasked = router(&[switching_pod("websocket").await]).await;
        let answer = talk(unasked, &[b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n"]).await;
        assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    }

    #[tokio::test]
    async fn pipelined_requests_are_answered_in_order_on_one_connection() {
        let (pod, requests) = echo_pod().await;
        let router = router(&[pod]).await;
        let text = talk(router, &[b"GET /one HTTP/1.1\r\nHost: app\r\n\r\nPOST /two?x=1 HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nhelloGET /three HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n"]).await;
        let positions: Vec<usize> =
            ["GET /one\n", "POST /two?x=1\n", "GET /three\n"].iter().map(|line| text.find(line).unwrap()).collect();
        assert!(positions.is_sorted(), "{text}");
        assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{text}");
        assert!(text.contains("\nx-forwarded-for: 127.0.0.1\nx-forwarded-host: app\nx-forwarded-proto: http\nx-forwarded-port: 80\nx-forwarded-server: "), "{text}");
        assert!(text.contains("\nx-real-ip: 127.0.0.1\ncontent-length: 5\n\nhello"), "{text}");
        assert_eq!(text.matches("connection: close\r\n").count(), 1, "{text}");
        assert_eq!(requests.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_chunked_body_reaches_the_pod_whole_with_its_length() {
        let (pod, _) = echo_pod().await;
        let router = router(&[pod]).await;
        let text = talk(
            router,
            &[
                b"POST /up HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nab",
                b"c\r\n2;ext=1\r\nde\r\n0\r\nTrailer-Field: x\r\n\r\n",
            ],
        )
        .await;
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.ends_with("\ncontent-length: 5\n\nabcde"), "{text}");
        assert!(!text.to_lowercase().contains("transfer-encoding"), "{text}");
    }

    #[tokio::test]
    async fn expect_100_continue_is_answered_before_the_body_is_read() {
        let (pod, _) = echo_pod().await;
        let router = router(&[pod]).await;
        let mut stream = TcpStream::connect(router).await.unwrap();
        let head =
            b"PUT /x HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n";
        stream.write_all(head).await.unwrap();
        let mut interim = [0; 25];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut interim)).await.unwrap().unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        stream.write_all(b"data").await.unwrap();
        let text = read_to_close(&mut stream).await;
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\n\ndata"), "{text}");
        assert!(!text.contains("expect"), "{text}");
    }

    #[tokio::test]
    async fn http_1_0_connections_are_kept_alive_only_when_asked() {
        let (pod, _) = echo_pod().await;
        let router = router(&[pod]).await;
        let text = talk(router, &[b"GET /a HTTP/1.0\r\nHost: app\r\n\r\n"]).await;
        assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 1, "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
        let text = talk(
            router,
            &[
                b"GET /a HTTP/1.0\r\nHost: app\r\nConnection: keep-alive\r\n\r\n",
                b"GET /b HTTP/1.0\r\nHost: app\r\n\r\n",
            ],
        )
        .await;
        assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{text}");
        assert_eq!(text.matches("\r\nconnection: keep-alive\r\n").count(), 1, "{text}");
        assert_eq!(text.matches("\r\nconnection: close\r\n").count(), 1, "{text}");
    }

    #[tokio::test]
    async fn head_requests_own_answers_and_streamed_bodies_are_framed_for_the_client() {
        let chunked: Vec<&'static [u8]> =
            vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n", b"0\r\n\r\n"];
        let (pod, _) = pod(vec![
            (vec![b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: then\r\n\r\n"], false),
            (chunked.clone(), false),
            (chunked, false),
        ])
        .await;
        let unavailable = router(&[]).await;
        let router = router(&[pod]).await;
        let text = talk(router, &[b"HEAD / HTTP/1.1\r\nHost: app\r\n\r\nGET / HTTP/1.1\r\nHost: app\r\n\r\nGET / HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"]).await;
        assert_eq!(
            undated(&text),
            "HTTP/1.1 200 OK\r\nDate: then\r\ncontent-length: 5\r\n\r\n\
             HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
             HTTP/1.1 404 Not Found\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 19\r\nconnection: close\r\n\r\n404 page not found\n"
        );
        assert_eq!(text.matches("\r\ndate: ").count(), 2, "the router dates what the pod did not: {text}");
        let text = talk(router, &[b"GET / HTTP/1.0\r\nHost: app\r\nConnection: keep-alive\r\n\r\n"]).await;
        assert_eq!(undated(&text), "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nabc", "HTTP/1.0 has no chunks");
        let text = talk(unavailable, &[b"GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n"]).await;
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n") && text.ends_with("\r\n\r\nno available server\n")
        );
    }

    #[tokio::test]
    async fn a_pod_failing_mid_response_closes_the_client_connection() {
        let (pod, _) = pod(vec![
            (vec![b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort"], true),
            (vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n"], true),
            (vec![b"SSH-2.0-OpenSSH\r\n\r\n"], true),
        ])
        .await;
        let router = router(&[pod]).await;
        let get: &[u8] = b"GET / HTTP/1.1\r\nHost: app\r\n\r\n";
        let text = talk(router, &[get]).await;
        assert_eq!(undated(&text), "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort");
        let text = talk(router, &[get]).await;
        assert_eq!(
            undated(&text),
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
            "no last chunk"
        );
        let text = talk(router, &[get, b"GET / HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"]).await;
        assert!(
            text.starts_with("HTTP/1.1 502 Bad Gateway\r\n") && text.contains("\r\n\r\nBad Gateway\nHTTP/1.1 404"),
            "{text}"
        );
    }

    /// Which requests go to another pod when their first pod fails (the first request of a
    /// new router goes to its first pod): one whose connection failed, always; one the pod
    /// closed without a byte of answer, if its method is idempotent; one whose answer had
    /// begun, never.
    #[tokio::test]
    async fn only_requests_without_an_answer_are_retried_on_another_pod() {
        let refusing = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let post: &[u8] = b"POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
        let get: &[u8] = b"GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n";
        // The first pod: refusing (None), closing at once (""), or sending these bytes and closing.
        let silent: Option<&'static [u8]> = Some(b"");
        let cases = [
            (None, post, "HTTP/1.1 200 OK", 1),
            (silent, get, "HTTP/1.1 200 OK", 1),
            (silent, post, "HTTP/1.1 502 Bad Gateway", 0),
            (Some(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nbeg"), get, "HTTP/1.1 200 OK\r\ncontent-length: 9", 0),
            (Some(b"HTTP/1.1 20"), get, "HTTP/1.1 502 Bad Gateway", 0),
        ];
        for (reply, request, answer, retries) in cases {
            let first = match reply {
                None => refusing,
                Some(b"") => pod(vec![]).await.0,
                Some(reply) => pod(vec![(vec![reply], true)]).await.0,
            };
            let (second, answered) = echo_pod().await;
            let proxy = proxy(&[first, second]);
            let text = talk(serving(proxy.clone()).await, &[request]).await;
            let case =
                format!("{:?} to {:?}", String::from_utf8_lossy(&request[..4]), reply.map(String::from_utf8_lossy));
            assert!(undated(&text).starts_with(answer), "{case}: {text}");
            assert_eq!(proxy.metrics.retries.load(Ordering::SeqCst), retries, "{case}");
            assert_eq!(answered.load(Ordering::SeqCst) as u64, retries, "{case}: the second pod's requests");
        }
    }

    #[tokio::test]
    async fn garbage_and_broken_framing_are_answered_400_and_closed() {
        let (pod, requests) = echo_pod().await;
        let router = router(&[pod]).await;
        for garbage in [
            &b"\x00\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET /\xc3\xa9 HTTP/1.1\r\nHost: app\r\n\r\n",
            b"GET / HTTP/1.1\r\nHo st: app\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            let text = talk(router, &[garbage, b"GET / HTTP/1.1\r\nHost: app\r\n\r\n"]).await;
            assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{garbage:?}: {text}");
            assert!(
                undated(&text).ends_with("\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
                "{garbage:?}: {text}"
            );
        }
        // What opens with a TLS record is TLS: a broken handshake is closed without an answer.
        let text = talk(router, &[b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"GET / HTTP/1.1\r\n\r\n"]).await;
        assert_eq!(text, "");
        assert_eq!(requests.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn oversized_heads_and_bodies_are_refused_and_closed() {
        let (pod, requests) = echo_pod().await;
        let router = router(&[pod]).await;
        let long = format!("GET / HTTP/1.1\r\nHost: app\r\nX-Long: {}\r\n\r\n", "a".repeat(70_000));
        let many = format!("GET / HTTP/1.1\r\nHost: app\r\n{}\r\n", "X-A: b\r\n".repeat(MAX_HEADERS));
        let endless = format!("GET / HTTP/1.1\r\nHost: app\r\nX-Long: {}", "a".repeat(70_000));
        for head in [long, many, endless] {
            let text = talk(router, &[head.as_bytes()]).await;
            assert!(text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{text}");
        }
        let declared =
            format!("POST / HTTP/1.1\r\nHost: app\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n", MAX_BODY + 1);
        let text = talk(router, &[declared.as_bytes()]).await;
        assert_eq!(
            undated(&text),
            "HTTP/1.1 413 Payload Too Large\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 23\r\nconnection: close\r\n\r\nrequest body too large\n"
        );
        // A chunked body that grows past the limit is cut off when it does.
        let mut stream = TcpStream::connect(router).await.unwrap();
        stream.write_all(b"POST / HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
        let chunk = format!("100000\r\n{}\r\n", "x".repeat(1 << 20));
        for _ in 0..=MAX_BODY >> 20 {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
        assert!(read_to_close(&mut stream).await.starts_with("HTTP/1.1 413 Payload Too Large\r\n"));
        assert_eq!(requests.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_client_that_closes_mid_body_has_nothing_forwarded() {
        let (pod, requests) = echo_pod().await;
        let router = router(&[pod]).await;
        let mut stream = TcpStream::connect(router).await.unwrap();
        stream.write_all(b"POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 100\r\n\r\nonly ten b").await.unwrap();
        stream.shutdown().await.unwrap();
        assert_eq!(read_to_close(&mut stream).await, "");
        assert_eq!(requests.load(Ordering::SeqCst), 0);
    }

    /// A pod that accepts connections and never reads or answers, while the test lives.
    async fn hung_pod() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_hung_pod_gets_the_client_a_504_after_the_response_header_timeout() {
        let forwarding = Timeouts { response_header: TIMEOUT, ..Timeouts::default() };
        let limits = Limits { client_timeout: Duration::from_secs(5), forwarding, ..Limits::new(usize::MAX) };
        let router = serving(proxy_with(&[hung_pod().await], limits)).await;
        let started = Instant::now();
        let text = talk(router, &[b"GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n"]).await;
        assert!(text.starts_with("HTTP/1.1 504 Gateway Timeout\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nGateway Timeout\n"), "{text}");
        assert!(started.elapsed() >= TIMEOUT && started.elapsed() < 4 * TIMEOUT, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn slow_and_idle_clients_are_disconnected() {
        let (pod, _) = echo_pod().await;
        let router = router(&[pod]).await;
        // Half a head, then nothing.
        let started = Instant::now();
        assert_eq!(talk(router, &[b"GET / HTTP/1.1\r\nHost: ap"]).await, "");
        assert!(started.elapsed() >= TIMEOUT);
        // A head trickling in still has to be complete within the timeout.
        let started = Instant::now();
        let mut stream = TcpStream::connect(router).await.unwrap();
        for byte in b"GET / HTTP/1.1\r\nHost: app\r\nX-Slow: ".iter().cycle() {
            if stream.write_all(&[*byte]).await.is_err() || started.elapsed() > 4 * TIMEOUT {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(read_to_close(&mut stream).await, "");
        assert!(started.elapsed() < 4 * TIMEOUT, "closed after {:?}", started.elapsed());
        // So does a body trickling in, and a chunked body's trailers (a line a time, endless).
        let trickles: [(&[u8], &[u8]); 2] = [
            (b"POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 100000\r\n\r\n", b"x"),
            (b"POST / HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", b"T: 1\r\n"),
        ];
        for (head, piece) in trickles {
            let started = Instant::now();
            let mut stream = TcpStream::connect(router).await.unwrap();
            stream.write_all(head).await.unwrap();
            while stream.write_all(piece).await.is_ok() && started.elapsed() < 4 * TIMEOUT {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(read_to_close(&mut stream).await, "");
            assert!(started.elapsed() < 4 * TIMEOUT, "{head:?} closed after {:?}", started.elapsed());
        }
        // An idle keep-alive connection.
        let text = talk(router, &[b"GET / HTTP/1.1\r\nHost: app\r\n\r\n"]).await;
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && !text.contains("connection: close"), "{text}");
    }

    /// Every cut of a request, broken bytes and random ones, each on a connection of its own
    /// that the client then closes: the connection loop answers or closes, and never panics.
    #[tokio::test]
    async fn no_input_makes_the_connection_loop_panic_or_hang() {
        let (pod, _) = echo_pod().await;
        let proxy = proxy(&[pod]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let request: &[u8] = b"POST /a?b HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: app\r\nContent-Length: 2\r\n\r\nhi";
        let mut inputs: Vec<Vec<u8>> = (0..=request.len()).map(|cut| request[..cut].to_vec()).collect();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let mut input = request.to_vec();
            for _ in 0..random() % 4 + 1 {
                let at = random() as usize % input.len();
                input[at] = random() as u8;
            }
            inputs.push(input);
            inputs.push((0..random() % 300).map(|_| random() as u8).collect());
        }
        for input in inputs {
            let mut client = TcpStream::connect(addr).await.unwrap();
            let (stream, peer) = listener.accept().await.unwrap();
            let connection = tokio::spawn(serve(proxy.clone(), "web".into(), ClientStream::Plain(stream), peer, None));
            let _ = client.write_all(&input).await;
            let _ = client.shutdown().await;
            read_to_close(&mut client).await;
            let ended = tokio::time::timeout(Duration::from_secs(5), connection).await;
            assert!(matches!(ended, Ok(Ok(()))), "{:?}: {ended:?}", String::from_utf8_lossy(&input));
        }
    }
}

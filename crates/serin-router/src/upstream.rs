//! HTTP/1.1 from the router to pods, carried out inside the task that serves the client.
//!
//! hyper's pooled client runs each upstream connection as a task of its own and hands every
//! request and response across channels. When pods answer in microseconds those hand-offs cost
//! as much CPU as the network itself (measured in bench/RESULTS.md). This client writes the
//! request and reads the answer on the caller's task, keeps idle keep-alive connections per
//! pod, writes the response's status line and headers straight into the client's output
//! buffer (no header map), and hands the body over as it arrives: whole when the first read
//! holds all of it (the common case), else piece by piece, decoding chunked transfer coding.

use crate::downstream::Request;
use crate::http1::{
    Chunk, Decoded, Framing, content_length, decode, header_line, is_hop_by_hop, length_line, lists, status_line,
};
use bytes::{Buf, Bytes, BytesMut};
use http::StatusCode;
use std::collections::HashMap;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A response head larger than this is refused (as hyper and nginx refuse large heads).
const MAX_HEAD: usize = 64 << 10;
const MAX_HEADERS: usize = 128;
const READ_SIZE: usize = 16 << 10;
/// Idle connections kept per pod.
const MAX_IDLE_PER_POD: usize = 1024;

/// How long the router waits on pods, as Traefik's `serversTransport.forwardingTimeouts`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeouts {
    /// To connect to a pod (Traefik's `dialTimeout`; 30 s there, 2 s here: pods are local, and
    /// a pod that does not take a connection in 2 s is better skipped for another).
    pub dial: Duration,
    /// From the first byte of the request written to the whole response head read (Traefik's
    /// `responseHeaderTimeout`, which it starts after the request is written and leaves unset
    /// by default; here it also bounds writing to a pod that reads nothing, and a hung pod
    /// holds no client for ever). Past it the client gets 504.
    pub response_header: Duration,
    /// How long an idle pooled connection is kept (Traefik's `idleConnTimeout`, 90 s there).
    pub idle_conn: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            dial: Duration::from_secs(2),
            response_header: Duration::from_secs(60),
            idle_conn: Duration::from_secs(60),
        }
    }
}

/// Why a request got no response.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be made: the pod never saw the request.
    Connect(io::Error),
    /// The request may have reached the pod, but no response began.
    NoResponse(io::Error),
    /// The pod answered something that is not an HTTP/1.x response.
    BadResponse(String),
    /// No whole response head came within the response-header timeout.
    Timeout,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(e) => write!(f, "connect: {e}"),
            SendError::NoResponse(e) => write!(f, "no response: {e}"),
            SendError::BadResponse(why) => write!(f, "bad response: {why}"),
            SendError::Timeout => f.write_str("no response head within the response-header timeout"),
        }
    }
}

/// A request ready to send: its head already encoded (see [`encode_request_head`]).
#[derive(Clone, Copy)]
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub head: &'a [u8],
    pub body: &'a [u8],
    /// The protocol the client asked to switch to (its `Upgrade` header), if it did.
    pub upgrade: Option<&'a [u8]>,
}

impl Outgoing<'_> {
    /// A HEAD request's response has no body whatever its headers say.
    fn head_method(&self) -> bool {
        self.method == "HEAD"
    }

    /// A body on a method that defines none (GET, HEAD, DELETE, OPTIONS...): a pod may answer
    /// without reading it and then read it as a request of its own, whose answer would reach
    /// the next client on the connection. Such a connection is closed after its answer.
    fn body_may_be_unread(&self) -> bool {
        !self.body.is_empty() && !matches!(self.method, "POST" | "PUT" | "PATCH")
    }

    /// Whether the request may be sent again when its pod may have received it but gave no
    /// answer (RFC 9110 section 9.2.2: idempotent methods).
    pub fn replayable(&self) -> bool {
        matches!(self.method, "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE")
    }
}

/// A pod's answer. Its status line and the headers the client is to see are already in the
/// buffer given to [`Pool::send`]; what framing the client gets is the server's to write.
pub struct Answer {
    pub status: StatusCode,
    /// The Content-Length to tell the client: the body's length when the pod gave one (for a
    /// HEAD request or a 304, the length the pod declared); `None` when the body runs until
    /// its last chunk or the end of the connection, and for a 204.
    pub length: Option<u64>,
    /// Whether the pod sent a Date header (a response without one gets the router's).
    pub dated: bool,
    /// The body; for a 101, the switched connection instead.
    pub body: Body,
}

struct Connection {
    stream: TcpStream,
    buffer: BytesMut,
    reused: bool,
}

/// Idle keep-alive connections by pod address.
#[derive(Default)]
pub struct Pool {
    idle: parking_lot::Mutex<HashMap<SocketAddr, Vec<(Connection, Instant)>>>,
    timeouts: Timeouts,
}

impl Pool {
    pub fn new() -> Arc<Pool> {
        Pool::with_timeouts(Timeouts::default())
    }

    pub fn with_timeouts(timeouts: Timeouts) -> Arc<Pool> {
        Arc::new(Pool { idle: Default::default(), timeouts })
    }

    /// Sends one request to `addr` and reads the response head, appending its status line and
    /// forwarded headers to `head`. A reused connection that gives no answer at all gets one
    /// more try on a fresh connection for a replayable request (the pod most likely closed it
    /// while idle, just as it was taken); a POST or PATCH is not sent twice, as Go's transport
    /// does not: the pod may have carried it out.
    pub async fn send(
        self: &Arc<Self>,
        addr: SocketAddr,
        request: &Outgoing<'_>,
        head: &mut Vec<u8>,
    ) -> Result<Answer, SendError> {
        self.send_with(addr, request, head, self.timeouts).await
    }

    /// [`Pool::send`] with other timeouts than the pool's (a ServersTransport's).
    pub async fn send_with(
        self: &Arc<Self>,
        addr: SocketAddr,
        request: &Outgoing<'_>,
        head: &mut Vec<u8>,
        timeouts: Timeouts,
    ) -> Result<Answer, SendError> {
        let mut connection = match self.take(addr, timeouts.idle_conn) {
            Some(connection) => connection,
            None => connect(addr, timeouts.dial).await?,
        };
        let deadline = tokio::time::Instant::now() + timeouts.response_header;
        loop {
            let exchanged = tokio::time::timeout_at(deadline, exchange(&mut connection, request, head));
            match exchanged.await.unwrap_or(Err(SendError::Timeout)) {
                Ok(parsed) => return Ok(self.answer(addr, connection, parsed, request)),
                Err(SendError::NoResponse(_)) if connection.reused && request.replayable() => {
                    connection = connect(addr, timeouts.dial).await?;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// An idle connection to `addr` that is still fit to carry a request: not idle for too
    /// long, and with nothing from the pod waiting on it. Bytes that arrived while it was idle
    /// (a second answer to one request, a body after a HEAD, 204 or 304 answer) answer no
    /// request of ours and would be read as the next client's answer; the end of the stream
    /// means the pod closed it. Either way it is closed and the next one is tried.
    fn take(&self, addr: SocketAddr, idle_conn: Duration) -> Option<Connection> {
        loop {
            let (mut connection, since) = self.idle.lock().get_mut(&addr)?.pop()?;
            if since.elapsed() < idle_conn && nothing_waiting(&connection.stream) {
                connection.reused = true;
                return Some(connection);
            }
        }
    }

    fn put(&self, addr: SocketAddr, connection: Connection) {
        let mut idle = self.idle.lock();
        let list = idle.entry(addr).or_default();
        if list.len() < MAX_IDLE_PER_POD {
            list.push((connection, Instant::now()));
        }
    }

    /// Drops idle connections to pods that are no longer routed to.
    pub fn retain(&self, keep: impl Fn(&SocketAddr) -> bool) {
        self.idle.lock().retain(|addr, _| keep(addr));
    }

    /// The answer, its body taking the connection with it.
    fn answer(self: &Arc<Self>, addr: SocketAddr, connection: Connection, head: Head, request: &Outgoing) -> Answer {
        if head.status == StatusCode::SWITCHING_PROTOCOLS {
            let Connection { stream, buffer, .. } = connection;
            let body = Body::Upgraded(Upgraded { stream, early: buffer });
            return Answer { status: head.status, length: None, dated: head.dated, body };
        }
        let no_content = head.status == StatusCode::NO_CONTENT;
        let no_body = request.head_method() || no_content || head.status == StatusCode::NOT_MODIFIED;
        let framing = if no_body { Framing::Length(0) } else { head.framing };
        let length = match framing {
            _ if no_content => None,
            _ if no_body => head.length,
            Framing::Length(n) => Some(n),
            _ => None,
        };
        let reusable = head.keep_alive && framing != Framing::UntilClose && !request.body_may_be_unread();
        let mut body = Streaming { connection: Some(connection), framing, reusable, pool: self.clone(), addr };
        let body = body.take_whole().unwrap_or(Body::Streaming(body));
        Answer { status: head.status, length, dated: head.dated, body }
    }
}

/// Writes the request and reads the final response head (skipping 100 Continue and other
/// interim responses). A 101 is final when it switches to the protocol the client asked for,
/// as Go's reverse proxy checks.
async fn exchange(connection: &mut Connection, request: &Outgoing<'_>, out: &mut Vec<u8>) -> Result<Head, SendError> {
    write_request(&mut connection.stream, request).await.map_err(SendError::NoResponse)?;
    let written_before = out.len();
    loop {
        if let Some(head) = parse_head(&mut connection.buffer, out)? {
            match head.status {
                StatusCode::SWITCHING_PROTOCOLS => {
                    let asked = request.upgrade.unwrap_or_default();
                    let given = head.upgrade.as_deref().unwrap_or_default();
                    if asked.is_empty() || !given.trim_ascii().eq_ignore_ascii_case(asked.trim_ascii()) {
                        out.truncate(written_before);
                        let (asked, given) = (String::from_utf8_lossy(asked), String::from_utf8_lossy(given));
                        return Err(SendError::BadResponse(format!(
                            "the pod switched to protocol {given:?} when {asked:?} was asked for"
                        )));
                    }
                    return Ok(head);
                }
                status if status.is_informational() => continue,
                _ => return Ok(head),
            }
        }
        if connection.buffer.len() > MAX_HEAD {
            return Err(SendError::BadResponse(format!("response head larger than {MAX_HEAD} bytes")));
        }
        let nothing_yet = connection.buffer.is_empty();
        match read_more(connection).await {
            Ok(0) if nothing_yet => return Err(SendError::NoResponse(io::ErrorKind::UnexpectedEof.into())),
            Ok(0) => return Err(SendError::BadResponse("connection closed inside the response head".into())),
            Ok(_) => {}
            Err(error) if nothing_yet => return Err(SendError::NoResponse(error)),
            Err(error) => return Err(SendError::BadResponse(error.to_string())),
        }
    }
}

/// Whether a socket has nothing to read: no bytes and no end of stream. A peek that does not
/// wait asks the kernel itself (tokio's readiness may not have seen the latest bytes yet).
fn nothing_waiting(stream: &TcpStream) -> bool {
    let mut byte = [MaybeUninit::uninit()];
    matches!(socket2::SockRef::from(stream).peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Connection, SendError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(SendError::Connect(error)),
        Err(_) => return Err(SendError::Connect(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))),
    };
    let _ = stream.set_nodelay(true);
    Ok(Connection { stream, buffer: BytesMut::with_capacity(READ_SIZE), reused: false })
}

/// Writes head and body with one system call when the socket takes them.
async fn write_request(stream: &mut TcpStream, request: &Outgoing<'_>) -> io::Result<()> {
    let (mut head, mut body) = (request.head, request.body);
    if body.is_empty() {
        return stream.write_all(head).await;
    }
    while !head.is_empty() || !body.is_empty() {
        let written = stream.write_vectored(&[IoSlice::new(head), IoSlice::new(body)]).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_head = written.min(head.len());
        head = &head[from_head..];
        body = &body[written - from_head..];
    }
    Ok(())
}

async fn read_more(connection: &mut Connection) -> io::Result<usize> {
    connection.buffer.reserve(READ_SIZE);
    std::future::poll_fn(|cx| {
        tokio_util::io::poll_read_buf(Pin::new(&mut connection.stream), cx, &mut connection.buffer)
    })
    .await
}

/// Encodes the request line and headers as sent to a pod: the client's method, target and
/// headers (Host kept, as Traefik's passHostHeader, or the absolute-form target's authority in
/// its place), without hop-by-hop headers (but with `TE: trailers` when the client takes
/// trailers, and `Connection: Upgrade` and `Upgrade` when it asks to switch protocols), plus
/// forwarding headers and the body's
/// Content-Length. Host is never taken for hop-by-hop, whatever `Connection` names.
///
/// Forwarding headers follow Traefik's `forwardedHeaders`: from a client that is not a
/// `trusted` proxy, any `X-Forwarded-*`, `X-Real-Ip` and `Forwarded` it sent are dropped and
/// the router's own written (`X-Forwarded-For` and `X-Real-Ip` its address, the host, its port,
/// the scheme, the router's host name as `X-Forwarded-Server`), so no client can pose as
/// another; a trusted proxy's are kept, its address appended to `X-Forwarded-For`.
pub fn encode_request_head(out: &mut Vec<u8>, request: &Request<'_>, body_len: usize, forwarding: &Forwarding<'_>) {
    let (client_ip, trusted) = (forwarding.client_ip, forwarding.trusted);
    out.extend_from_slice(request.method.as_bytes());
    out.push(b' ');
    if !request.target.starts_with(['/', '*']) {
        out.push(b'/');
    }
    out.extend_from_slice(request.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let target_host = request.target_host();
    let (mut forwarded_for, mut forwarded_host, mut forwarded_proto, mut real_ip) = (None, false, None, false);
    let (mut forwarded_port, mut trailers) = (false, false);
    for header in request.headers {
        let name = header.name;
        let is = |other: &str| name.eq_ignore_ascii_case(other);
        if is("content-length") || is("expect") {
            continue;
        }
        let forwarding = is("forwarded") || is("x-real-ip") || starts_with_ignore_case(name, "x-forwarded-");
        if is("host") {
            if request.authority.is_none() {
                header_line(out, name, header.value);
            }
        } else if forwarding && !trusted {
            // dropped: the router writes its own below
        } else if is("x-forwarded-for") {
            forwarded_for = Some(header.value);
        } else if is("te") {
            trailers |= lists(header.value, "trailers");
        } else if !is_hop_by_hop(name, request.connection) {
            forwarded_host |= is("x-forwarded-host");
            if is("x-forwarded-proto") {
                forwarded_proto.get_or_insert(header.value);
            }
            forwarded_port |= is("x-forwarded-port");
            real_ip |= is("x-real-ip");
            if !is("x-forwarded-server") {
                header_line(out, name, header.value);
            }
        }
    }
    if trailers {
        // Hop-by-hop, but a client that takes trailers (gRPC needs them) says so to the pod too,
        // as Go's proxy passes it on.
        out.extend_from_slice(b"te: trailers\r\n");
    }
    if let Some(protocol) = request.upgrade {
        // Hop-by-hop, yet what the pod must see to switch: written anew, as Go's proxy does.
        out.extend_from_slice(b"connection: Upgrade\r\n");
        header_line(out, "upgrade", protocol);
    }
    if request.host.is_none() || request.authority.is_some() {
        // An HTTP/1.0 client may send no Host; HTTP/1.1 needs one.
        header_line(out, "host", target_host.unwrap_or(b"localhost"));
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    if let Some(previous) = forwarded_for {
        out.extend_from_slice(previous);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(client_ip.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(host) = target_host.filter(|_| !forwarded_host) {
        header_line(out, "x-forwarded-host", host);
    }
    if forwarded_proto.is_none() {
        // A WebSocket handshake is `ws` (`wss` over TLS), as Traefik writes it.
        let websocket =
            request.upgrade.is_some_and(|protocol| protocol.trim_ascii().eq_ignore_ascii_case(b"websocket"));
        let proto: &[u8] = match (websocket, forwarding.secure) {
            (false, false) => b"http",
            (false, true) => b"https",
            (true, false) => b"ws",
            (true, true) => b"wss",
        };
        header_line(out, "x-forwarded-proto", proto);
    }
    if !forwarded_port {
        // The port the client asked for, or the scheme's (a trusted proxy's https is 443).
        let secure = forwarding.secure
            || forwarded_proto.is_some_and(|p| p.eq_ignore_ascii_case(b"https") || p.eq_ignore_ascii_case(b"wss"));
        let scheme_port: &[u8] = if secure { b"443" } else { b"80" };
        header_line(out, "x-forwarded-port", target_host.and_then(port_of).unwrap_or(scheme_port));
    }
    header_line(out, "x-forwarded-server", forwarding.server.as_bytes());
    if !real_ip {
        header_line(out, "x-real-ip", client_ip.as_bytes());
    }
    if body_len > 0 || matches!(request.method, "POST" | "PUT" | "PATCH") {
        length_line(out, body_len as u64);
    }
    out.extend_from_slice(b"\r\n");
}

/// The port of `host:port` or `[v6]:port`, when it has a non-empty one.
fn port_of(host: &[u8]) -> Option<&[u8]> {
    let (_, port) = crate::rule::split_host_port(std::str::from_utf8(host).ok()?)?;
    (!port.is_empty()).then_some(port.as_bytes())
}

/// Who a request is forwarded for, and by whom: what the forwarding headers say.
#[derive(Clone, Copy, Debug)]
pub struct Forwarding<'a> {
    /// The client's address, as `X-Forwarded-For` and `X-Real-Ip` give it.
    pub client_ip: &'a str,
    /// The client is a proxy whose forwarding headers are kept (`--trusted-ips`).
    pub trusted: bool,
    /// The client reached the router over TLS: `X-Forwarded-Proto` is https (wss for a
    /// WebSocket) and the default port 443.
    pub secure: bool,
    /// The router's host name (`X-Forwarded-Server`).
    pub server: &'a str,
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len() && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// What a response head says about the body and the connection.
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    /// The Content-Length the pod declared.
    pub(crate) length: Option<u64>,
    pub(crate) framing: Framing,
    pub(crate) keep_alive: bool,
    pub(crate) dated: bool,
    /// A 101's `Upgrade` header: the protocol the pod switched to.
    pub(crate) upgrade: Option<Box<[u8]>>,
}

/// Parses a complete response head off the front of `buffer`; `None` if more bytes are needed.
/// A final response's status line and the headers the client is to see (all but hop-by-hop
/// headers and Content-Length, whose place the server's framing takes) are appended to `out`;
/// a 101's, with its `Connection` and `Upgrade` headers, which belong to the switch.
pub(crate) fn parse_head(buffer: &mut BytesMut, out: &mut Vec<u8>) -> Result<Option<Head>, SendError> {
    let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let parser = httparse::ParserConfig::default();
    let size = match parser.parse_response_with_uninit_headers(&mut parsed, buffer, &mut slots) {
        Ok(httparse::Status::Complete(size)) => size,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(SendError::BadResponse(error.to_string())),
    };
    let bad = |why: &str| SendError::BadResponse(why.to_string());
    let status =
        parsed.code.and_then(|code| StatusCode::from_u16(code).ok()).ok_or_else(|| bad("invalid status code"))?;
    let http10 = parsed.version == Some(0);
    let (mut close, mut chunked, mut transfer_encoding, mut dated) = (http10, false, false, false);
    let (mut length, mut connection, mut upgrade) = (None, None, None);
    for header in parsed.headers.iter() {
        let is = |other: &str| header.name.eq_ignore_ascii_case(other);
        if is("content-length") {
            match (content_length(header.value), length) {
                (None, _) => return Err(bad("invalid Content-Length")),
                (Some(n), Some(seen)) if n != seen => return Err(bad("conflicting Content-Length headers")),
                (n, _) => length = n,
            }
        } else if is("transfer-encoding") {
            transfer_encoding = true;
            let last = header.value.rsplit(|&b| b == b',').next().unwrap_or_default().trim_ascii();
            chunked = last.eq_ignore_ascii_case(b"chunked");
        } else if is("connection") {
            close = if http10 { !lists(header.value, "keep-alive") } else { lists(header.value, "close") };
            connection = Some(header.value);
        } else if is("date") {
            dated = true;
        } else if is("upgrade") && status == StatusCode::SWITCHING_PROTOCOLS {
            upgrade = Some(header.value.into());
        }
    }
    let framing = match (transfer_encoding, chunked, length) {
        (true, true, _) => Framing::Chunked(Chunk::Size),
        (true, false, _) => Framing::UntilClose,
        (false, _, Some(n)) => Framing::Length(n),
        (false, _, None) => Framing::UntilClose,
    };
    let switching = status == StatusCode::SWITCHING_PROTOCOLS;
    if !status.is_informational() || switching {
        status_line(out, status, status.canonical_reason().or(parsed.reason).unwrap_or_default());
        for header in parsed.headers.iter() {
            let is = |other: &str| header.name.eq_ignore_ascii_case(other);
            let switch_header = switching && (is("connection") || is("upgrade"));
            if !is("content-length") && (switch_header || !is_hop_by_hop(header.name, connection)) {
                header_line(out, header.name, header.value);
            }
        }
    }
    buffer.advance(size);
    let length = length.filter(|_| !transfer_encoding);
    Ok(Some(Head { status, length, framing, keep_alive: !close, dated, upgrade }))
}

/// A response body: whole, or still arriving from the pod (over HTTP/1.1 or, from an h2c pod,
/// HTTP/2); or, after a 101, no body but the connection that switched protocols.
pub enum Body {
    Whole(Bytes),
    Streaming(Streaming),
    Http2(crate::upstream_h2::Http2Body),
    Upgraded(Upgraded),
}

impl Body {
    /// The next piece of the body; `None` at its end.
    pub async fn next(&mut self) -> Option<io::Result<Bytes>> {
        match self {
            Body::Whole(bytes) if bytes.is_empty() => None,
            Body::Whole(bytes) => Some(Ok(std::mem::take(bytes))),
            Body::Streaming(streaming) => std::future::poll_fn(|cx| streaming.poll_data(cx)).await,
            Body::Http2(body) => std::future::poll_fn(|cx| body.poll_data(cx)).await,
            Body::Upgraded(_) => None,
        }
    }

    /// Whether the body is known to hold nothing more (an HTTP/2 pod's stream may have ended
    /// with its headers, as gRPC's trailers-only answers do).
    pub fn is_end(&self) -> bool {
        match self {
            Body::Whole(bytes) => bytes.is_empty(),
            Body::Http2(body) => body.is_end(),
            Body::Streaming(_) | Body::Upgraded(_) => false,
        }
    }

    /// The trailers that ended the body, once it has ended (only HTTP/2 pods send them here).
    pub fn take_trailers(&mut self) -> Option<http::HeaderMap> {
        match self {
            Body::Http2(body) => body.take_trailers(),
            _ => None,
        }
    }
}

/// A connection to a pod that has switched protocols (WebSocket, ...): from now on, bytes
/// pass through untouched in both directions.
pub struct Upgraded {
    pub stream: TcpStream,
    /// What the pod sent right after its 101 head.
    pub early: BytesMut,
}

/// The rest of a response body, read from the pod's connection; the connection goes back to
/// the pool when the body ends cleanly, and is closed if the body is dropped half-read.
pub struct Streaming {
    connection: Option<Connection>,
    framing: Framing,
    reusable: bool,
    pool: Arc<Pool>,
    addr: SocketAddr,
}

impl Streaming {
    /// The whole body, when it is already in the buffer (a fixed length that has all arrived).
    fn take_whole(&mut self) -> Option<Body> {
        let Framing::Length(n) = self.framing else { return None };
        let connection = self.connection.as_mut()?;
        if (connection.buffer.len() as u64) < n {
            return None;
        }
        let bytes = connection.buffer.split_to(n as usize).freeze();
        self.framing = Framing::Length(0);
        self.finish();
        Some(Body::Whole(bytes))
    }

    /// The body ended: the connection is reused if nothing unexpected follows it.
    fn finish(&mut self) {
        if let Some(connection) = self.connection.take().filter(|c| self.reusable && c.buffer.is_empty()) {
            self.pool.put(self.addr, connection);
        }
    }

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            let Some(connection) = self.connection.as_mut() else { return Poll::Ready(None) };
            match decode(&mut self.framing, &mut connection.buffer) {
                Err(error) => {
                    self.connection = None;
                    return Poll::Ready(Some(Err(error)));
                }
                Ok(Decoded::Data(bytes)) => return Poll::Ready(Some(Ok(bytes))),
                Ok(Decoded::End) => {
                    self.finish();
                    return Poll::Ready(None);
                }
                Ok(Decoded::NeedMore) => {}
            }
            connection.buffer.reserve(READ_SIZE);
            let read =
                ready!(tokio_util::io::poll_read_buf(Pin::new(&mut connection.stream), cx, &mut connection.buffer));
            match read {
                Ok(0) if self.framing == Framing::UntilClose => {
                    self.connection = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    self.connection = None;
                    let error = io::Error::new(io::ErrorKind::UnexpectedEof, "the pod closed the connection mid-body");
                    return Poll::Ready(Some(Err(error)));
                }
                Ok(_) => {}
                Err(error) => {
                    self.connection = None;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A pod on loopback that answers each request it reads with the next scripted reply (a
    /// list of writes, each sent at once, with a short pause between them), and closes the connection after
    /// a reply marked `close`. Counts the connections it accepted.
    pub(crate) async fn pod(replies: Vec<(Vec<&'static [u8]>, bool)>) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut replies = replies.into_iter();
            'accept: while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nodelay(true); // each scripted write leaves at once, as written
                let mut seen = Vec::new();
                loop {
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        let mut chunk = [0u8; 4096];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => continue 'accept,
                            Ok(n) => seen.extend_from_slice(&chunk[..n]),
                        }
                    }
                    seen.clear();
                    let Some((writes, close)) = replies.next() else { return };
                    for write in writes {
                        stream.write_all(write).await.unwrap();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    if close {
                        continue 'accept;
                    }
                }
            }
        });
        (addr, accepted)
    }

    const GET: Outgoing<'static> =
        Outgoing { method: "GET", head: b"GET / HTTP/1.1\r\nhost: pod\r\n\r\n", body: b"", upgrade: None };

    async fn body_of(mut answer: Answer) -> Result<Vec<u8>, io::Error> {
        let mut body = Vec::new();
        while let Some(piece) = answer.body.next().await {
            body.extend_from_slice(&piece?);
        }
        Ok(body)
    }

    /// Sends GET and returns the answer and the head the client would be sent.
    async fn get(pool: &Arc<Pool>, addr: SocketAddr) -> (Answer, String) {
        let mut head = Vec::new();
        let answer = pool.send(addr, &GET, &mut head).await.unwrap();
        (answer, String::from_utf8(head).unwrap())
    }

    #[tokio::test]
    async fn keep_alive_connections_are_reused_and_framing_is_decoded() {
        let (addr, accepted) = pod(vec![
            (vec![b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"], false),
            (
                vec![
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n",
                    b"2\r\nde\r\n0\r\nt: 1\r\n\r\n",
                ],
                false,
            ),
            (vec![b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 5\r\n\r\nsp", b"lit"], false),
            (vec![b"HTTP/1.1 204 No Content\r\nDate: today\r\n\r\n"], false),
        ])
        .await;
        let pool = Pool::new();
        let (answer, head) = get(&pool, addr).await;
        assert_eq!((answer.status, answer.length, answer.dated), (StatusCode::OK, Some(5), false));
        assert_eq!(head, "HTTP/1.1 200 OK\r\n", "Content-Length is the server's to write");
        assert_eq!(body_of(answer).await.unwrap(), b"hello");
        let (answer, head) = get(&pool, addr).await;
        assert_eq!(head, "HTTP/1.1 200 OK\r\n", "hop-by-hop headers are not forwarded");
        assert_eq!(answer.length, None, "a chunked body's length is not known");
        assert_eq!(body_of(answer).await.unwrap(), b"abcde");
        let (answer, head) = get(&pool, addr).await;
        assert_eq!(head, "HTTP/1.1 201 Created\r\n", "interim 100 Continue is skipped");
        assert_eq!(body_of(answer).await.unwrap(), b"split");
        let (answer, head) = get(&pool, addr).await;
        assert_eq!((head.as_str(), answer.length), ("HTTP/1.1 204 No Content\r\nDate: today\r\n", None));
        assert!(answer.dated);
        assert_eq!(body_of(answer).await.unwrap(), b"");
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "four requests on one keep-alive connection");
    }

    #[tokio::test]
    async fn a_connection_the_pod_closed_is_replaced_and_until_close_bodies_end_at_eof() {
        let (addr, accepted) = pod(vec![
            (vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"], true),
            (vec![b"HTTP/1.0 200 OK\r\n\r\nuntil ", b"the end"], true),
            (vec![b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 4\r\n\r\nlast"], true),
        ])
        .await;
        let pool = Pool::new();
        assert_eq!(body_of(get(&pool, addr).await.0).await.unwrap(), b"ok");
        tokio::time::sleep(Duration::from_millis(20)).await; // the pod has closed the idle connection
        assert_eq!(body_of(get(&pool, addr).await.0).await.unwrap(), b"until the end");
        assert_eq!(body_of(get(&pool, addr).await.0).await.unwrap(), b"last");
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        assert!(pool.idle.lock().get(&addr).is_none_or(Vec::is_empty), "a closing connection is not pooled");
    }

    #[tokio::test]
    async fn broken_answers_are_errors_that_say_what_was_wrong() {
        let garbage: &[&'static [u8]] = &[
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
        ];
        for reply in garbage {
            let (addr, _) = pod(vec![(vec![*reply], true)]).await;
            let mut head = Vec::new();
            match Pool::new().send(addr, &GET, &mut head).await {
                Err(SendError::BadResponse(why)) => assert!(!why.is_empty()),
                other => panic!("{reply:?}: {:?}", other.map(|answer| answer.status)),
            }
            assert!(head.is_empty(), "nothing is written for the client from a broken answer");
        }
        // A body cut short is an error for the client, not a silently short answer.
        let (addr, _) = pod(vec![(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"], true)]).await;
        let error = body_of(get(&Pool::new(), addr).await.0).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        let (addr, _) = pod(vec![(vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"], true)]).await;
        let error = body_of(get(&Pool::new(), addr).await.0).await.unwrap_err();
        assert_eq!(error.to_string(), "invalid chunk size");
        // Nobody listening: a connect error, so the router may try another pod.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        assert!(matches!(Pool::new().send(closed, &GET, &mut Vec::new()).await, Err(SendError::Connect(_))));
        // The pod accepts and closes without answering: no response.
        let (addr, _) = pod(vec![]).await;
        assert!(matches!(Pool::new().send(addr, &GET, &mut Vec::new()).await, Err(SendError::NoResponse(_))));
    }

    #[tokio::test]
    async fn bytes_a_pod_sends_unasked_never_become_the_next_clients_answer() {
        // The pod answers one request twice, and a HEAD request with a body, each time after
        // the first answer was read: the stray bytes sit on the idle connection.
        let (addr, accepted) = pod(vec![
            (
                vec![
                    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst",
                    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstray",
                ],
                false,
            ),
            (vec![b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond"], false),
            (vec![b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", b"stray"], false),
            (vec![b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nthird"], false),
        ])
        .await;
        let pool = Pool::new();
        assert_eq!(body_of(get(&pool, addr).await.0).await.unwrap(), b"first");
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(body_of(get(&pool, addr).await.0).await.unwrap(), b"second", "not the pod's second answer");
        let head_request = Outgoing { method: "HEAD", head: b"HEAD / HTTP/1.1\r\nhost: pod\r\n\r\n", ..GET };
        let answer = pool.send(addr, &head_request, &mut Vec::new()).await.unwrap();
        assert_eq!((answer.length, body_of(answer).await.unwrap()), (Some(5), Vec::new()));
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(body_of(get(&pool, addr).await.0).await.unwrap(), b"third", "not the HEAD answer's body");
        assert_eq!(accepted.load(Ordering::SeqCst), 3, "each connection with stray bytes was closed");
    }

    #[tokio::test]
    async fn a_connection_whose_request_body_the_pod_may_not_have_read_is_not_reused() {
        // A pod that frames a GET without its body would read the body as a request of its own.
        let (addr, accepted) = pod(vec![
            (vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"], false),
            (vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"], false),
        ])
        .await;
        let pool = Pool::new();
        let body = b"GET /smuggled HTTP/1.1\r\nhost: pod\r\n\r\n";
        let with_body = Outgoing { body, ..GET };
        assert!(with_body.body_may_be_unread() && !Outgoing { method: "POST", ..with_body }.body_may_be_unread());
        assert_eq!(body_of(pool.send(addr, &with_body, &mut Vec::new()).await.unwrap()).await.unwrap(), b"ok");
        assert!(pool.idle.lock().get(&addr).is_none_or(Vec::is_empty), "not pooled");
        assert_eq!(body_of(get(&pool, addr).await.0).await.unwrap(), b"ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_pod_that_never_answers_is_given_up_after_the_response_header_timeout() {
        // Accepts, reads nothing, answers nothing, for as long as the test lives.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut streams = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                streams.push(stream);
            }
        });
        let timeouts = Timeouts { response_header: Duration::from_millis(200), ..Timeouts::default() };
        let started = Instant::now();
        let sent = Pool::with_timeouts(timeouts).send(addr, &GET, &mut Vec::new()).await;
        assert!(matches!(sent, Err(SendError::Timeout)), "{:?}", sent.map(|a| a.status));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(2), "{waited:?}");
        // Writing a large body to it is bounded by the same deadline.
        let body = vec![b'x'; 32 << 20];
        let post = Outgoing {
            method: "POST",
            head: b"POST / HTTP/1.1\r\nhost: pod\r\ncontent-length: 33554432\r\n\r\n",
            body: &body,
            upgrade: None,
        };
        let sent = Pool::with_timeouts(timeouts).send(addr, &post, &mut Vec::new()).await;
        assert!(matches!(sent, Err(SendError::Timeout)), "{:?}", sent.map(|a| a.status));
        held.abort();
    }

    #[tokio::test]
    async fn only_a_replayable_request_is_sent_again_when_a_reused_connection_gives_no_answer() {
        // The pod reads the second request on its kept-alive connection and closes without a
        // word: it may have carried the request out.
        let script = || {
            vec![
                (vec![&b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"[..]], false),
                (vec![], true),
                (vec![&b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nagain"[..]], false),
            ]
        };
        let (addr, accepted) = pod(script()).await;
        let pool = Pool::new();
        assert_eq!(body_of(get(&pool, addr).await.0).await.unwrap(), b"ok");
        let post =
            Outgoing { method: "POST", head: b"POST / HTTP/1.1\r\nhost: pod\r\ncontent-length: 0\r\n\r\n", ..GET };
        assert!(matches!(pool.send(addr, &post, &mut Vec::new()).await, Err(SendError::NoResponse(_))));
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "the POST was not sent again");
        let (addr, accepted) = pod(script()).await;
        assert_eq!(body_of(get(&pool, addr).await.0).await.unwrap(), b"ok");
        assert_eq!(body_of(get(&pool, addr).await.0).await.unwrap(), b"again", "a GET is, on a fresh connection");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }
}

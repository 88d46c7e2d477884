//! HTTP/1.1 from the router to pods, carried out inside the task that serves the client.
//!
//! hyper's pooled client runs each upstream connection as a task of its own and hands every
//! request and response across channels. When pods answer in microseconds those hand-offs cost
//! as much CPU as the network itself (measured in bench/RESULTS.md). This client writes the
//! request and reads the answer on the caller's task, keeps idle keep-alive connections per
//! pod, and hands the response body to the server as it arrives: whole when the first read
//! holds all of it (the common case), else frame by frame, decoding chunked transfer coding.

use bytes::{Bytes, BytesMut};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A response head larger than this is refused (as hyper and nginx refuse large heads).
const MAX_HEAD: usize = 64 << 10;
const MAX_HEADERS: usize = 128;
/// Longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;
const READ_SIZE: usize = 16 << 10;
/// Idle connections kept per pod, and how long one may wait before it is not trusted.
const MAX_IDLE_PER_POD: usize = 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

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
/// `Connection` header names.
pub fn is_hop_by_hop(name: &str, connection: Option<&HeaderValue>) -> bool {
    HOP_BY_HOP.contains(&name)
        || connection
            .and_then(|v| v.to_str().ok())
            .is_some_and(|listed| listed.split(',').any(|token| token.trim().eq_ignore_ascii_case(name)))
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
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(e) => write!(f, "connect: {e}"),
            SendError::NoResponse(e) => write!(f, "no response: {e}"),
            SendError::BadResponse(why) => write!(f, "bad response: {why}"),
        }
    }
}

/// A request ready to send: its head already encoded (see [`encode_request_head`]).
pub struct Outgoing<'a> {
    pub head: &'a [u8],
    pub body: &'a [u8],
    /// A HEAD request's response has no body whatever its headers say.
    pub head_method: bool,
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
}

impl Pool {
    pub fn new() -> Arc<Pool> {
        Arc::new(Pool::default())
    }

    /// Sends one request to `addr` and reads the response head. A reused connection that the
    /// pod had closed gets one more try on a fresh connection (the pod closed it while idle,
    /// so it never read this request).
    pub async fn send(self: &Arc<Self>, addr: SocketAddr, request: &Outgoing<'_>) -> Result<Response<Body>, SendError> {
        let mut connection = match self.take(addr) {
            Some(connection) => connection,
            None => connect(addr).await?,
        };
        loop {
            match exchange(&mut connection, request).await {
                Ok(head) => return Ok(self.response(addr, connection, head, request.head_method)),
                Err(SendError::NoResponse(_)) if connection.reused => connection = connect(addr).await?,
                Err(error) => return Err(error),
            }
        }
    }

    fn take(&self, addr: SocketAddr) -> Option<Connection> {
        let mut idle = self.idle.lock();
        let list = idle.get_mut(&addr)?;
        while let Some((mut connection, since)) = list.pop() {
            if since.elapsed() < IDLE_TIMEOUT {
                connection.reused = true;
                return Some(connection);
            }
        }
        None
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

    /// The response, its body taking the connection with it.
    fn response(
        self: &Arc<Self>,
        addr: SocketAddr,
        connection: Connection,
        head: Head,
        head_method: bool,
    ) -> Response<Body> {
        let no_body = head_method || head.status == StatusCode::NO_CONTENT || head.status == StatusCode::NOT_MODIFIED;
        let framing = if no_body { Framing::Length(0) } else { head.framing };
        let reusable = head.keep_alive && framing != Framing::UntilClose;
        let mut body = Streaming { connection: Some(connection), framing, reusable, pool: self.clone(), addr };
        let mut response = Response::new(body.take_whole().unwrap_or(Body(Inner::Streaming(body))));
        *response.status_mut() = head.status;
        *response.headers_mut() = head.headers;
        response
    }
}

/// Writes the request and reads the final response head (skipping 100 Continue and other
/// interim responses).
async fn exchange(connection: &mut Connection, request: &Outgoing<'_>) -> Result<Head, SendError> {
    write_request(&mut connection.stream, request).await.map_err(SendError::NoResponse)?;
    loop {
        if let Some(head) = parse_head(&mut connection.buffer)? {
            match head.status {
                StatusCode::SWITCHING_PROTOCOLS => {
                    return Err(SendError::BadResponse("protocol upgrades are not forwarded".into()));
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

async fn connect(addr: SocketAddr) -> Result<Connection, SendError> {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(SendError::Connect(error)),
        Err(_) => return Err(SendError::Connect(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))),
    };
    let _ = stream.set_nodelay(true);
    Ok(Connection { stream, buffer: BytesMut::with_capacity(READ_SIZE), reused: false })
}

async fn write_request(stream: &mut TcpStream, request: &Outgoing<'_>) -> io::Result<()> {
    if request.body.is_empty() {
        return stream.write_all(request.head).await;
    }
    let mut joined = Vec::with_capacity(request.head.len() + request.body.len());
    joined.extend_from_slice(request.head);
    joined.extend_from_slice(request.body);
    stream.write_all(&joined).await
}

async fn read_more(connection: &mut Connection) -> io::Result<usize> {
    connection.buffer.reserve(READ_SIZE);
    std::future::poll_fn(|cx| {
        tokio_util::io::poll_read_buf(Pin::new(&mut connection.stream), cx, &mut connection.buffer)
    })
    .await
}

/// Encodes the request line and headers as sent to a pod: the client's method, target and
/// headers (Host kept, as Traefik's passHostHeader), without hop-by-hop headers, plus
/// X-Forwarded-For/-Host/-Proto and the body's Content-Length.
pub fn encode_request_head(out: &mut Vec<u8>, parts: &hyper::http::request::Parts, body_len: usize, client_ip: IpAddr) {
    use std::io::Write;
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let connection = parts.headers.get(hyper::header::CONNECTION);
    let mut forwarded_for = None;
    for (name, value) in &parts.headers {
        let name = name.as_str();
        match name {
            "content-length" | "expect" | "x-forwarded-host" | "x-forwarded-proto" => continue,
            "x-forwarded-for" => forwarded_for = Some(value),
            _ if is_hop_by_hop(name, connection) => {}
            _ => header_line(out, name, value.as_bytes()),
        }
    }
    let host = parts.headers.get(hyper::header::HOST);
    if host.is_none() {
        // An HTTP/1.0 client may send no Host; HTTP/1.1 needs one.
        let authority = parts.uri.authority().map_or("localhost", |a| a.as_str());
        header_line(out, "host", authority.as_bytes());
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    if let Some(previous) = forwarded_for {
        out.extend_from_slice(previous.as_bytes());
        out.extend_from_slice(b", ");
    }
    let _ = write!(out, "{client_ip}\r\n");
    if let Some(host) = host {
        header_line(out, "x-forwarded-host", host.as_bytes());
    }
    out.extend_from_slice(b"x-forwarded-proto: http\r\n");
    if body_len > 0 || matches!(parts.method.as_str(), "POST" | "PUT" | "PATCH") {
        let _ = write!(out, "content-length: {body_len}\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn header_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// How the end of a response body is found.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

struct Head {
    status: StatusCode,
    headers: hyper::HeaderMap,
    framing: Framing,
    keep_alive: bool,
}

/// Parses a complete response head off the front of `buffer`; `None` if more bytes are needed.
fn parse_head(buffer: &mut BytesMut) -> Result<Option<Head>, SendError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut slots);
    let length = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(SendError::BadResponse(error.to_string())),
    };
    let status = parsed
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| SendError::BadResponse("invalid status code".into()))?;
    let http10 = parsed.version == Some(0);
    let mut connection_close = http10;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut content_length: Option<u64> = None;
    let mut content_lengths = 0;
    let bad = |why: &str| SendError::BadResponse(why.to_string());
    let offsets: Vec<(HeaderName, std::ops::Range<usize>)> = parsed
        .headers
        .iter()
        .map(|h| {
            let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad("invalid header name"))?;
            let start = h.value.as_ptr() as usize - buffer.as_ptr() as usize;
            Ok((name, start..start + h.value.len()))
        })
        .collect::<Result<_, SendError>>()?;
    let raw = buffer.split_to(length).freeze();
    let mut connection_header = None;
    let mut headers = hyper::HeaderMap::with_capacity(offsets.len());
    for (name, range) in offsets {
        let value = HeaderValue::from_maybe_shared(raw.slice(range)).map_err(|_| bad("invalid header value"))?;
        match name.as_str() {
            "content-length" => {
                content_lengths += 1;
                let n = value.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok());
                match (n, content_length) {
                    (None, _) => return Err(bad("invalid Content-Length")),
                    (Some(n), Some(seen)) if n != seen => return Err(bad("conflicting Content-Length headers")),
                    (n, _) => content_length = n,
                }
            }
            "transfer-encoding" => {
                transfer_encoding = true;
                let last = value.to_str().unwrap_or_default().rsplit(',').next().unwrap_or_default().trim();
                chunked = last.eq_ignore_ascii_case("chunked");
            }
            "connection" => {
                let text = value.to_str().unwrap_or_default();
                let has = |token: &str| text.split(',').any(|t| t.trim().eq_ignore_ascii_case(token));
                connection_close = if http10 { !has("keep-alive") } else { has("close") };
                connection_header = Some(value.clone());
            }
            _ => {}
        }
        headers.append(name, value);
    }
    let hop: Vec<HeaderName> =
        headers.keys().filter(|n| is_hop_by_hop(n.as_str(), connection_header.as_ref())).cloned().collect();
    for name in hop {
        headers.remove(name);
    }
    let framing = match (transfer_encoding, chunked, content_length) {
        (true, true, _) => Framing::Chunked(Chunk::Size),
        (true, false, _) => Framing::UntilClose,
        (false, _, Some(n)) => Framing::Length(n),
        (false, _, None) => Framing::UntilClose,
    };
    if let Some(n) = content_length.filter(|_| content_lengths > 1 && !transfer_encoding) {
        headers.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    Ok(Some(Head { status, headers, framing, keep_alive: !connection_close }))
}

/// A response body for hyper's server: whole, or still arriving from the pod.
pub struct Body(Inner);

enum Inner {
    Whole(Option<Bytes>),
    Streaming(Streaming),
}

impl Body {
    pub fn empty() -> Body {
        Body(Inner::Whole(None))
    }

    pub fn whole(bytes: Bytes) -> Body {
        Body(Inner::Whole(Some(bytes).filter(|b| !b.is_empty())))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, io::Error>>> {
        match &mut self.get_mut().0 {
            Inner::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(hyper::body::Frame::data(b)))),
            Inner::Streaming(streaming) => streaming.poll_data(cx).map(|d| d.map(|r| r.map(hyper::body::Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.0, Inner::Whole(None))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match &self.0 {
            Inner::Whole(bytes) => hyper::body::SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Streaming(Streaming { framing: Framing::Length(n), .. }) => hyper::body::SizeHint::with_exact(*n),
            Inner::Streaming(_) => hyper::body::SizeHint::default(),
        }
    }
}

/// The rest of a response body, read from the pod's connection; the connection goes back to
/// the pool when the body ends cleanly, and is closed if the body is dropped half-read.
struct Streaming {
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
        Some(Body::whole(bytes))
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

enum Decoded {
    Data(Bytes),
    NeedMore,
    End,
}

/// Takes the next piece of body out of `buffer` according to the framing.
fn decode(framing: &mut Framing, buffer: &mut BytesMut) -> io::Result<Decoded> {
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
                let Some(end) = buffer.windows(2).position(|w| w == b"\r\n") else {
                    if buffer.len() > MAX_LINE {
                        return Err(invalid("chunk line too long"));
                    }
                    return Ok(Decoded::NeedMore);
                };
                let line = buffer.split_to(end + 2);
                let line = &line[..end];
                *state = match state {
                    Chunk::Size => {
                        let digits = line.split(|&b| b == b';').next().unwrap_or_default();
                        let text = std::str::from_utf8(digits).map_err(|_| invalid("invalid chunk size"))?;
                        let size = u64::from_str_radix(text.trim(), 16).map_err(|_| invalid("invalid chunk size"))?;
                        if size == 0 { Chunk::Trailers } else { Chunk::Data(size) }
                    }
                    Chunk::DataEnd if line.is_empty() => Chunk::Size,
                    Chunk::DataEnd => return Err(invalid("chunk data longer than its size")),
                    // Trailer fields are not forwarded; an empty line ends the body.
                    Chunk::Trailers if line.is_empty() => {
                        *framing = Framing::Length(0);
                        return Ok(Decoded::End);
                    }
                    Chunk::Trailers => Chunk::Trailers,
                    Chunk::Data(_) => unreachable!("handled above"),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A pod on loopback that answers each request it reads with the next scripted reply (a
    /// list of writes, sent with a short pause between them), and closes the connection after
    /// a reply marked `close`. Counts the connections it accepted.
    async fn pod(replies: Vec<(Vec<&'static [u8]>, bool)>) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut replies = replies.into_iter();
            'accept: while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
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
        Outgoing { head: b"GET / HTTP/1.1\r\nhost: pod\r\n\r\n", body: b"", head_method: false };

    async fn body_of(response: Response<Body>) -> Result<Vec<u8>, io::Error> {
        Ok(response.into_body().collect().await?.to_bytes().to_vec())
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
            (vec![b"HTTP/1.1 204 No Content\r\n\r\n"], false),
        ])
        .await;
        let pool = Pool::new();
        let response = pool.send(addr, &GET).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(body_of(response).await.unwrap(), b"hello");
        let response = pool.send(addr, &GET).await.unwrap();
        assert!(response.headers().get("transfer-encoding").is_none(), "hop-by-hop headers are not forwarded");
        assert_eq!(body_of(response).await.unwrap(), b"abcde");
        let response = pool.send(addr, &GET).await.unwrap();
        assert_eq!(response.status(), 201, "interim 100 Continue is skipped");
        assert_eq!(body_of(response).await.unwrap(), b"split");
        let response = pool.send(addr, &GET).await.unwrap();
        assert_eq!(response.status(), 204);
        assert_eq!(body_of(response).await.unwrap(), b"");
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
        assert_eq!(body_of(pool.send(addr, &GET).await.unwrap()).await.unwrap(), b"ok");
        tokio::time::sleep(Duration::from_millis(20)).await; // the pod has closed the idle connection
        assert_eq!(body_of(pool.send(addr, &GET).await.unwrap()).await.unwrap(), b"until the end");
        assert_eq!(body_of(pool.send(addr, &GET).await.unwrap()).await.unwrap(), b"last");
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
            match Pool::new().send(addr, &GET).await {
                Err(SendError::BadResponse(why)) => assert!(!why.is_empty()),
                other => panic!("{reply:?}: {:?}", other.map(|r| r.status())),
            }
        }
        // A body cut short is an error for the client, not a silently short answer.
        let (addr, _) = pod(vec![(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"], true)]).await;
        let error = body_of(Pool::new().send(addr, &GET).await.unwrap()).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        let (addr, _) = pod(vec![(vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"], true)]).await;
        let error = body_of(Pool::new().send(addr, &GET).await.unwrap()).await.unwrap_err();
        assert_eq!(error.to_string(), "invalid chunk size");
        // Nobody listening: a connect error, so the router may try another pod.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        assert!(matches!(Pool::new().send(closed, &GET).await, Err(SendError::Connect(_))));
        // The pod accepts and closes without answering: no response.
        let (addr, _) = pod(vec![]).await;
        assert!(matches!(Pool::new().send(addr, &GET).await, Err(SendError::NoResponse(_))));
    }

    #[test]
    fn the_request_head_keeps_host_and_adds_forwarding_headers() {
        let request = hyper::Request::post("/api?x=1")
            .header("host", "canary.myapp.com")
            .header("connection", "keep-alive, x-private")
            .header("x-private", "secret")
            .header("x-forwarded-for", "10.0.0.1")
            .header("x-forwarded-proto", "https")
            .header("transfer-encoding", "chunked")
            .header("accept", "*/*")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let mut head = Vec::new();
        encode_request_head(&mut head, &parts, 3, "127.0.0.1".parse().unwrap());
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "POST /api?x=1 HTTP/1.1\r\nhost: canary.myapp.com\r\naccept: */*\r\nx-forwarded-for: 10.0.0.1, 127.0.0.1\r\nx-forwarded-host: canary.myapp.com\r\nx-forwarded-proto: http\r\ncontent-length: 3\r\n\r\n"
        );
    }
}

//! HTTP/2 from clients: over cleartext with prior knowledge (h2c: what `curl
//! --http2-prior-knowledge` and gRPC clients without TLS speak), and over TLS when ALPN chose
//! it (what browsers and `curl --http2` speak). A clear connection that opens with HTTP/2's
//! preface is handed here by [`crate::downstream`], a TLS one by [`crate::proxy`] after the
//! handshake; hyper's HTTP/2 server reads its
//! streams, and each request takes the HTTP/1.1 path's steps: its target cleaned as Traefik
//! cleans it, routed by the same rules, split by the same schedule, sent to a pod over the
//! same pooled HTTP/1.1 connections, and recorded in the same access log. HTTP/1.1 clients
//! pay nothing for it: the preface is only looked for in a head that did not parse.

use crate::downstream::{MAX_BODY, MISDIRECTED, Origin, Request, RequestBody, Routed, visible};
use crate::proxy::{Proxy, Reply};
use crate::rule::RequestInfo;
use crate::table::CompiledRoute;
use crate::tls::{ClientStream, TlsSession};
use crate::upstream::{Answer, Forwarding, Outgoing, encode_request_head};
use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderName, HeaderValue, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use std::borrow::Cow;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Streams one client may have open at once (Go's server, and so Traefik, allows 250).
const MAX_STREAMS: u32 = 100;

/// How every HTTP/2 connection begins (RFC 9113 section 3.4).
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

type ResponseBody = UnsyncBoxBody<Bytes, io::Error>;

/// Serves an HTTP/2 connection whose first bytes (`read`: the preface at least in clear, none
/// after TLS's ALPN chose HTTP/2) were already read from `stream`; `tls` holds what a TLS
/// connection agreed on.
pub(crate) async fn serve(
    proxy: Arc<Proxy>,
    entrypoint: Arc<str>,
    stream: ClientStream,
    peer: SocketAddr,
    read: BytesMut,
    tls: Option<Arc<TlsSession>>,
) {
    let io = hyper_util::rt::TokioIo::new(Rewind { read, stream });
    let idle = proxy.limits.client_timeout;
    // However many streams, a connection holds no more request body at once than an HTTP/1.1
    // one may (each body is buffered whole, so that a failed connect can be retried).
    let bodies = Arc::new(tokio::sync::Semaphore::new(MAX_BODY));
    let client = Arc::new(Peer { addr: peer, tls });
    let service = hyper::service::service_fn(move |request| {
        handle(proxy.clone(), entrypoint.clone(), client.clone(), bodies.clone(), request)
    });
    let mut connection = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    // An idle client is pinged as often as an HTTP/1.1 one may stay idle, and let go of when
    // it does not answer.
    connection
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .keep_alive_interval(Some(idle))
        .keep_alive_timeout(std::time::Duration::from_secs(20));
    let _ = connection.serve_connection(io, service).await;
}

/// Who is at the other end of a connection: the address, and for TLS the options given.
struct Peer {
    addr: SocketAddr,
    tls: Option<Arc<TlsSession>>,
}

/// One request of an HTTP/2 connection, answered by a pod or by the router.
async fn handle(
    proxy: Arc<Proxy>,
    entrypoint: Arc<str>,
    client: Arc<Peer>,
    bodies: Arc<tokio::sync::Semaphore>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<ResponseBody>, Infallible> {
    let (started, clock) = (SystemTime::now(), Instant::now());
    let (parts, body) = request.into_parts();
    let header_lines: Vec<httparse::Header> = parts
        .headers
        .iter()
        .map(|(name, value)| httparse::Header { name: name.as_str(), value: value.as_bytes() })
        .collect();
    // `:authority`, or a Host header in its place (RFC 9113 section 8.3.1).
    let authority =
        parts.uri.authority().map(|a| a.as_str()).or_else(|| parts.headers.get(http::header::HOST)?.to_str().ok());
    let Some(authority) = authority else {
        return Ok(own(StatusCode::BAD_REQUEST, ""));
    };
    let target = parts.uri.path_and_query().map_or("/", |target| target.as_str());
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let received = Request {
        method: parts.method.as_str(),
        target,
        path,
        query,
        authority: Some(authority),
        headers: &header_lines,
        host: None,
        connection: None,
        upgrade: None,
        http10: false,
        keep_alive: true,
        expect_continue: false,
        body: RequestBody::Empty,
        len: 0,
    };
    let cleaned = received.cleaned_target();
    let request = match &cleaned {
        Some(target) => received.with_target(target),
        None => received,
    };
    let path = crate::rule::routing_path(request.path).unwrap_or(Cow::Borrowed(request.path));
    let headers: Vec<(&str, &str)> = header_lines.iter().filter_map(|h| Some((h.name, visible(h.value)?))).collect();
    let peer = client.addr;
    let info = request.rule_info(&path, &headers, peer.ip());
    let table = proxy.table();
    let mut routed = None;
    let response = match table.route(&entrypoint, &info, client.tls.is_some()) {
        None => own(StatusCode::NOT_FOUND, "404 page not found\n"),
        Some(route) if route.misdirected(client.tls.as_ref().map(|t| &*t.options)) => {
            own(StatusCode::MISDIRECTED_REQUEST, MISDIRECTED)
        }
        Some(route) => {
            let names = route.names.clone();
            let (response, answered) = forward(&proxy, route, &info, &request, body, &client, &bodies).await;
            let (leaf, origin) = answered.unzip();
            routed = Some(Routed { names, leaf, origin });
            response
        }
    };
    if let Some(log) = &proxy.access_log {
        let entry = received.log_entry(peer, &entrypoint, routed.as_ref(), client.tls.as_deref());
        let length = hyper::body::Body::size_hint(response.body()).exact();
        log.record(&crate::access_log::Entry {
            start: started,
            duration: clock.elapsed(),
            request_protocol: "HTTP/2.0",
            downstream_status: response.status().as_u16(),
            downstream_content_size: length,
            ..entry
        });
    }
    Ok(response)
}

/// Reads a routed request's body (whole within the client timeout, as the HTTP/1.1 path reads
/// one; 408 past it) and sends the request to a pod of its route: the answer, and when a pod
/// gave it, the Service it was reached through and the pod.
async fn forward(
    proxy: &Arc<Proxy>,
    route: &CompiledRoute,
    info: &RequestInfo<'_>,
    request: &Request<'_>,
    body: Incoming,
    client: &Peer,
    bodies: &tokio::sync::Semaphore,
) -> (hyper::Response<ResponseBody>, Option<(Arc<str>, Origin)>) {
    // The connection's body budget: what the body declares, all of it when it does not say.
    let needed = match hyper::body::Body::size_hint(&body).exact() {
        _ if hyper::body::Body::is_end_stream(&body) => 0,
        Some(length) if length <= MAX_BODY as u64 => length as u32,
        Some(_) => return (own(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"), None),
        None => MAX_BODY as u32,
    };
    let Ok(_budget) = bodies.acquire_many(needed).await else {
        return (own(StatusCode::SERVICE_UNAVAILABLE, ""), None);
    };
    let within = proxy.limits.client_timeout;
    let body = match tokio::time::timeout(within, Limited::new(body, MAX_BODY).collect()).await {
        Err(_) => return (own(StatusCode::REQUEST_TIMEOUT, ""), None),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            return (own(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"), None);
        }
        Ok(Err(_)) => return (own(StatusCode::BAD_REQUEST, ""), None),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let client_ip = client.addr.ip().to_string();
    let trusted = proxy.limits.trusted_ips.contains(client.addr.ip());
    let secure = client.tls.is_some();
    let forwarding = Forwarding { client_ip: &client_ip, trusted, secure, server: &proxy.host_name };
    let mut wire = Vec::new();
    encode_request_head(&mut wire, request, body.len(), &forwarding);
    let outgoing = Outgoing { method: request.method, head: &wire, body: &body, upgrade: None };
    let mut head = Vec::new();
    match proxy.forward(route, info, &outgoing, &mut head).await {
        Reply::Pod(answer, endpoint) => {
            let origin = Origin::of(endpoint, answer.status);
            (from_pod(&head, answer), Some((endpoint.service.clone(), origin)))
        }
        Reply::Own(status, text) => (own(status, text), None),
    }
}

/// An answer of the router's own: a status and a plain text body.
fn own(status: StatusCode, text: &'static str) -> hyper::Response<ResponseBody> {
    let mut response =
        hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())).map_err(|e| match e {}).boxed_unsync());
    *response.status_mut() = status;
    if !text.is_empty() {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    }
    response
}

/// A pod's answer: `head` is its status line and forwarded header lines as the HTTP/1.1 path
/// writes them for its client (hop-by-hop headers already left out); the body streams on.
fn from_pod(head: &[u8], answer: Answer) -> hyper::Response<ResponseBody> {
    // The body's data, then the trailers an HTTP/2 pod ended it with (gRPC's status). A body
    // known to be empty ends the stream with the headers: gRPC reads such an answer as
    // "trailers-only", its status in the headers.
    let body = match answer.body.is_end() {
        true => http_body_util::Empty::new().map_err(|e| match e {}).boxed_unsync(),
        false => {
            let frames = futures_util::stream::unfold(Some(answer.body), |body| async move {
                let mut body = body?;
                match body.next().await {
                    Some(piece) => Some((piece.map(Frame::data), Some(body))),
                    None => body.take_trailers().map(|trailers| (Ok(Frame::trailers(trailers)), None)),
                }
            });
            BodyExt::boxed_unsync(StreamBody::new(frames))
        }
    };
    let mut response = hyper::Response::new(body);
    *response.status_mut() = answer.status;
    let headers = response.headers_mut();
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    if let Some(length) = answer.length {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}

/// A connection whose first bytes were read already: they are read again first.
struct Rewind {
    read: BytesMut,
    stream: ClientStream,
}

impl AsyncRead for Rewind {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use crate::downstream::tests::{echo_pod, router};
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use std::sync::atomic::Ordering;
    use tokio::net::TcpStream;

    /// An HTTP/2 client with prior knowledge, as `curl --http2-prior-knowledge` is.
    async fn h2c(router: std::net::SocketAddr) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
        let stream = TcpStream::connect(router).await.unwrap();
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        sender
    }

    async fn send(
        sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
        method: &str,
        uri: &str,
        body: &'static str,
    ) -> (u16, String) {
        let request = hyper::Request::builder().method(method).uri(uri).body(Full::new(Bytes::from(body))).unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn h2c_streams_take_the_http_1_1_path_to_the_pods() {
        let (pod, requests) = echo_pod().await;
        let router = router(&[pod]).await;
        let mut client = h2c(router).await;
        // The target is cleaned and the pod gets HTTP/1.1 with the authority as Host.
        let (status, seen) = send(&mut client, "GET", "http://app/a/../b?x=1;y=2", "").await;
        assert_eq!(status, 200, "{seen}");
        assert!(seen.starts_with("GET /b?x=1&y=2\n"), "{seen}");
        assert!(seen.contains("\nhost: app\n") && seen.contains("\nx-forwarded-proto: http\n"), "{seen}");
        let (status, seen) = send(&mut client, "POST", "http://app/form", "hello").await;
        assert_eq!(status, 200, "{seen}");
        assert!(seen.starts_with("POST /form\n") && seen.ends_with("\n\nhello"), "{seen}");
        assert!(seen.contains("\ncontent-length: 5\n"), "{seen}");
        // Streams of one connection are routed one by one.
        assert_eq!(send(&mut client, "GET", "http://elsewhere/", "").await, (404, "404 page not found\n".into()));
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }

    /// A body that never ends holds nothing for ever: past the client timeout it is a 408.
    #[tokio::test]
    async fn a_body_that_does_not_arrive_in_time_is_a_request_timeout() {
        let (pod, requests) = echo_pod().await;
        let router = router(&[pod]).await;
        let stream = TcpStream::connect(router).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        let (_keep_open, body) = tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::io::Error>>(1);
        let body = http_body_util::StreamBody::new(tokio_stream_of(body));
        let request = hyper::Request::post("http://app/slow").body(body).unwrap();
        let response = tokio::time::timeout(std::time::Duration::from_secs(5), sender.send_request(request));
        assert_eq!(response.await.unwrap().unwrap().status(), 408);
        assert_eq!(requests.load(Ordering::SeqCst), 0);
    }

    /// Streams share one body budget per connection (8 MiB, what one HTTP/1.1 request may
    /// hold): a stream waits while another holds it.
    #[tokio::test]
    async fn streams_of_one_connection_share_one_body_budget() {
        let (pod, _) = echo_pod().await;
        let router = router(&[pod]).await;
        let stream = TcpStream::connect(router).await.unwrap();
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        let (_keep_open, frames) = tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::io::Error>>(1);
        let whole_budget = hyper::Request::post("http://app/big")
            .header("content-length", crate::downstream::MAX_BODY)
            .body(http_body_util::Either::Left(http_body_util::StreamBody::new(tokio_stream_of(frames))))
            .unwrap();
        let started = std::time::Instant::now();
        let mut big = sender.clone();
        let big = tokio::spawn(async move { big.send_request(whole_budget).await.unwrap().status() });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let small = hyper::Request::post("http://app/small")
            .body(http_body_util::Either::Right(Full::new(Bytes::from_static(b"hello"))))
            .unwrap();
        let status = sender.clone().send_request(small).await.unwrap().status();
        // The small body got its share once the big one gave the budget back, at its timeout.
        assert_eq!((status.as_u16(), big.await.unwrap().as_u16()), (200, 408));
        assert!(started.elapsed() >= std::time::Duration::from_millis(250), "{:?}", started.elapsed());
    }

    /// The frames a channel receives, as a stream.
    fn tokio_stream_of<T>(mut receiver: tokio::sync::mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
    }

    #[tokio::test]
    async fn a_preface_cut_in_pieces_is_still_http_2_and_garbage_after_it_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (pod, _) = echo_pod().await;
        let router = router(&[pod]).await;
        let mut stream = TcpStream::connect(router).await.unwrap();
        stream.write_all(&super::PREFACE[..10]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        stream.write_all(&super::PREFACE[10..]).await.unwrap();
        stream.write_all(b"not a frame at all, not a frame at all").await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer)).await.unwrap();
        // HTTP/2 answers a broken connection with its own frames (SETTINGS, then GOAWAY), not an
        // HTTP/1.1 400.
        assert!(!answer.starts_with(b"HTTP/1.1"), "{:?}", String::from_utf8_lossy(&answer));
        assert!(!answer.is_empty());
    }
}

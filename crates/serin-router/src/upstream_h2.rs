//! HTTP/2 in clear (h2c) to the pods of a Service that a route refers to with `scheme: h2c`,
//! as Traefik speaks to such servers: gRPC servers, and others that speak only HTTP/2.
//!
//! One connection per pod carries every request to it at once (HTTP/2 multiplexes; hyper's
//! client runs it), made on first use and again when it closes. A request arrives as the
//! HTTP/1.1 path encoded it for pods (cleaned target, forwarding headers, no hop-by-hop
//! headers), is read back into HTTP/2's form (`Host` becoming `:authority`), and its answer
//! goes back in the shape the HTTP/1.1 pool gives ([`Answer`]: status line and headers in the
//! client's buffer, the body as it arrives), with the trailers gRPC needs for its status.

use crate::http1::{header_line, status_line};
use crate::upstream::{Answer, Body, Outgoing, SendError, Timeouts};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::Full;
use hyper::body::Body as _;
use hyper::client::conn::http2::SendRequest;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

/// One HTTP/2 connection per pod.
#[derive(Default)]
pub struct Http2Pool {
    connections: parking_lot::Mutex<HashMap<SocketAddr, SendRequest<Full<Bytes>>>>,
}

impl Http2Pool {
    /// Sends one request to `addr` and waits for the response head, appending its status line
    /// and headers to `head`.
    pub async fn send(
        &self,
        addr: SocketAddr,
        request: &Outgoing<'_>,
        head: &mut Vec<u8>,
        timeouts: Timeouts,
    ) -> Result<Answer, SendError> {
        if request.upgrade.is_some() {
            return Err(SendError::BadResponse("a protocol switch cannot be forwarded to an h2c pod".into()));
        }
        let outgoing = to_http2(request)?;
        let mut sender = self.sender(addr, timeouts.dial).await?;
        let sent = async {
            sender.ready().await.map_err(|e| SendError::NoResponse(io::Error::other(e)))?;
            sender.send_request(outgoing).await.map_err(|e| SendError::NoResponse(io::Error::other(e)))
        };
        let response = match tokio::time::timeout(timeouts.response_header, sent).await {
            Err(_) => return Err(SendError::Timeout),
            Ok(Err(error)) => {
                self.connections.lock().remove(&addr);
                return Err(error);
            }
            Ok(Ok(response)) => response,
        };
        let (parts, body) = response.into_parts();
        status_line(head, parts.status, parts.status.canonical_reason().unwrap_or_default());
        for (name, value) in &parts.headers {
            if name != http::header::CONTENT_LENGTH {
                header_line(head, name.as_str(), value.as_bytes());
            }
        }
        let length = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
        let no_body = request.method == "HEAD" || parts.status == StatusCode::NO_CONTENT;
        let length = if parts.status == StatusCode::NO_CONTENT { None } else { length.or(no_body.then_some(0)) };
        Ok(Answer {
            status: parts.status,
            length,
            dated: parts.headers.contains_key(http::header::DATE),
            body: Body::Http2(Http2Body { body, trailers: None }),
        })
    }

    /// The pod's connection, made if there is none or it closed.
    async fn sender(&self, addr: SocketAddr, dial: std::time::Duration) -> Result<SendRequest<Full<Bytes>>, SendError> {
        if let Some(sender) = self.connections.lock().get(&addr).filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        let stream = match tokio::time::timeout(dial, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return Err(SendError::Connect(error)),
            Err(_) => return Err(SendError::Connect(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))),
        };
        let _ = stream.set_nodelay(true);
        let handshake = hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .handshake(hyper_util::rt::TokioIo::new(stream))
            .await;
        let (sender, connection) = handshake.map_err(|e| SendError::Connect(io::Error::other(e)))?;
        tokio::spawn(connection);
        self.connections.lock().insert(addr, sender.clone());
        Ok(sender)
    }

    /// Drops the connections to pods that are no longer routed to.
    pub fn retain(&self, keep: impl Fn(&SocketAddr) -> bool) {
        self.connections.lock().retain(|addr, _| keep(addr));
    }
}

/// The request as HTTP/2 sends it: the encoded HTTP/1.1 head read back, `Host` as the
/// authority.
fn to_http2(request: &Outgoing<'_>) -> Result<hyper::Request<Full<Bytes>>, SendError> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Request::new(&mut headers);
    let bad = |why: String| SendError::BadResponse(format!("the request cannot be sent over HTTP/2: {why}"));
    parsed.parse(request.head).map_err(|e| bad(e.to_string()))?;
    let host = parsed.headers.iter().find(|h| h.name.eq_ignore_ascii_case("host")).map(|h| h.value).unwrap_or(b"");
    let host = std::str::from_utf8(host).map_err(|e| bad(e.to_string()))?;
    let uri = format!("http://{host}{}", parsed.path.unwrap_or("/"));
    let mut builder = hyper::Request::builder().method(parsed.method.unwrap_or("GET")).uri(uri);
    for header in parsed.headers.iter().filter(|h| !h.name.eq_ignore_ascii_case("host")) {
        builder = builder.header(header.name, header.value);
    }
    builder.body(Full::new(Bytes::copy_from_slice(request.body))).map_err(|e| bad(e.to_string()))
}

/// A body arriving over HTTP/2, and the trailers that end it.
pub struct Http2Body {
    body: hyper::body::Incoming,
    trailers: Option<HeaderMap>,
}

impl Http2Body {
    pub(crate) fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            let frame = match std::task::ready!(std::pin::Pin::new(&mut self.body).poll_frame(cx)) {
                None => return Poll::Ready(None),
                Some(Err(error)) => return Poll::Ready(Some(Err(io::Error::other(error)))),
                Some(Ok(frame)) => frame,
            };
            match frame.into_data() {
                Ok(data) => return Poll::Ready(Some(Ok(data))),
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        self.trailers.get_or_insert_with(HeaderMap::new).extend(trailers);
                    }
                }
            }
        }
    }

    pub(crate) fn is_end(&self) -> bool {
        self.trailers.is_none() && self.body.is_end_stream()
    }

    /// The trailers, once the body has ended.
    pub(crate) fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take()
    }
}

#[cfg(test)]
mod tests {
    use crate::downstream::tests::{TIMEOUT, route_to, serving};
    use crate::proxy::{Limits, Proxy};
    use crate::table::{RouteTable, Target};
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Frame;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use std::net::SocketAddr;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A pod that speaks only HTTP/2 in clear, as a gRPC server does: it answers what it
    /// received, then trailers with a status, as gRPC ends its answers.
    async fn h2c_pod() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let service = hyper::service::service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await?.to_bytes();
                    if &body[..] == b"deny" {
                        // gRPC's "trailers-only" answer: one HEADERS frame, ending the stream.
                        let empty = http_body_util::Empty::new().map_err(|e: std::convert::Infallible| match e {});
                        let mut response = hyper::Response::new(empty.boxed());
                        response.headers_mut().insert("grpc-status", "7".parse().unwrap());
                        return Ok(response);
                    }
                    let seen = format!(
                        "{} {} {:?} te={:?} body={}",
                        parts.method,
                        parts.uri,
                        parts.version,
                        parts.headers.get("te"),
                        String::from_utf8_lossy(&body)
                    );
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", "7".parse().unwrap());
                    trailers.insert("grpc-message", "denied".parse().unwrap());
                    let frames =
                        vec![Ok::<_, hyper::Error>(Frame::data(Bytes::from(seen))), Ok(Frame::trailers(trailers))];
                    let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
                    Ok::<_, hyper::Error>(hyper::Response::new(body.boxed()))
                });
                let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service);
                tokio::spawn(connection);
            }
        });
        addr
    }

    /// A router whose route to `Host(`app`)` reaches the pod with `scheme: h2c`.
    async fn router_to_h2c_pod() -> SocketAddr {
        let pod = h2c_pod().await;
        let proxy = Proxy::new(Limits { client_timeout: TIMEOUT, ..Limits::new(usize::MAX) }, None);
        let mut route = route_to(&proxy, &[pod], "Host(`app`)", None);
        let Some(Target::Service(service)) = Arc::get_mut(&mut route.target) else { unreachable!() };
        service.endpoints[0].h2c = true;
        let mut table = RouteTable::default();
        table.entrypoints.insert("web".into(), vec![route]);
        proxy.install(table);
        serving(proxy).await
    }

    #[tokio::test]
    async fn an_h2c_pod_gets_http_2_and_its_trailers_reach_http_2_and_http_1_1_clients() {
        let router = router_to_h2c_pod().await;
        // An HTTP/2 client (as gRPC's): the body and the trailers come through.
        let stream = tokio::net::TcpStream::connect(router).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        for call in 0..3 {
            let request = hyper::Request::post("http://app/helloworld.Greeter/SayHello")
                .header("te", "trailers")
                .header("content-type", "application/grpc")
                .body(Full::new(Bytes::from(format!("call {call}"))))
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(response.status(), 200);
            let collected = response.into_body().collect().await.unwrap();
            let trailers = collected.trailers().cloned().expect("trailers");
            let seen = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
            assert_eq!(
                seen,
                format!("POST http://app/helloworld.Greeter/SayHello HTTP/2.0 te=Some(\"trailers\") body=call {call}")
            );
            assert_eq!(trailers["grpc-status"], "7");
            assert_eq!(trailers["grpc-message"], "denied");
        }
        // gRPC's "trailers-only" answer: the status in the headers, no body.
        let request = hyper::Request::post("http://app/x").body(Full::new(Bytes::from("deny"))).unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.headers()["grpc-status"], "7");
        assert!(hyper::body::Body::is_end_stream(response.body()), "the headers end the stream");
        let collected = response.into_body().collect().await.unwrap();
        assert!(collected.to_bytes().is_empty());
        // An HTTP/1.1 client gets the answer chunked, the trailers after the last chunk.
        let mut stream = tokio::net::TcpStream::connect(router).await.unwrap();
        stream.write_all(b"GET /x HTTP/1.1\r\nHost: app\r\nTE: trailers\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.contains("transfer-encoding: chunked\r\n"),
            "{answer}"
        );
        assert!(answer.ends_with("\r\n0\r\ngrpc-status: 7\r\ngrpc-message: denied\r\n\r\n"), "{answer}");
        assert!(answer.contains("GET http://app/x HTTP/2.0 te=Some(\"trailers\") body="), "{answer}");
    }
}

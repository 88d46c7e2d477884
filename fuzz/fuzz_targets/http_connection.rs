//! Fuzzes the router's client connection loop (crates/serin-router/src/downstream.rs `serve`)
//! end to end: the input is what a client sends on one connection (any bytes: pipelined
//! requests, bodies, garbage) before it closes its side; the router routes `Host: app` to a pod
//! on loopback and answers the rest itself. Checks that the router always finishes the
//! connection, and that all it sends back is a sequence of well-formed HTTP/1.1 responses,
//! each framed so that the next starts where it ends; or, to a connection that opens with
//! HTTP/2's preface, HTTP/2 frames, its SETTINGS first; or, to one whose first byte opens a
//! TLS record (a handshake), TLS records only (an alert, for what is not a valid handshake),
//! never HTTP in clear.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serin_router::fuzzing::{BodyEnd, BodyFraming, body};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

struct Router {
    runtime: Runtime,
    addr: SocketAddr,
}

/// One runtime, pod and router for the whole run; their tasks progress while an input is sent.
fn router() -> &'static Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let addr = runtime.block_on(async {
            let pod = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let pod_addr = pod.local_addr().unwrap();
            tokio::spawn(serve_pod(pod));
            let proxy = serin_router::fuzzing::router(pod_addr, Duration::from_secs(2));
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(proxy.serve("web".into(), listener));
            addr
        });
        Router { runtime, addr }
    })
}

/// A pod answering each request with its request line; the path picks how the answer is
/// framed (`/chunked`, `/close` until the connection closes, `/empty` a 204, else a length).
async fn serve_pod(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(pod_connection(stream));
    }
}

async fn pod_connection(mut stream: TcpStream) {
    let mut buffer = Vec::new();
    loop {
        let (used, line, path) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 128];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&buffer) {
                Ok(httparse::Status::Complete(len)) => {
                    let length = request
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buffer.len() >= len + length {
                        let path = request.path.unwrap_or_default().to_string();
                        break (len + length, format!("{} {}", request.method.unwrap_or_default(), path), path);
                    }
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return,
            }
            let mut more = [0; 8192];
            match stream.read(&mut more).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&more[..n]),
            }
        };
        buffer.drain(..used);
        let answer = if path.starts_with("/chunked") {
            format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{line}\r\n0\r\n\r\n", line.len())
        } else if path.starts_with("/close") {
            format!("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{line}")
        } else if path.starts_with("/empty") {
            "HTTP/1.1 204 No Content\r\n\r\n".to_string()
        } else {
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-pod: 1\r\n\r\n{line}", line.len())
        };
        if stream.write_all(answer.as_bytes()).await.is_err() || path.starts_with("/close") {
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let router = router();
    let answer = router.runtime.block_on(async {
        let mut client = TcpStream::connect(router.addr).await.unwrap();
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "the router neither answered nor closed: {:?}", String::from_utf8_lossy(&answer));
        answer
    });
    if data.first() == Some(&0x16) {
        // TLS record types: 0x15 alert, 0x16 handshake.
        let tls = answer.first().is_some_and(|&kind| kind == 0x15 || kind == 0x16);
        assert!(answer.is_empty() || tls, "{:?} answered {:?}", data, answer);
        return;
    }
    if data.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") {
        let settings_first = answer.len() >= 9 && answer[3] == 0x4;
        assert!(answer.is_empty() || settings_first, "{:?} answered {:?}", data, answer);
        return;
    }
    check_responses(data, &answer);
});

/// The router's answer is a sequence of whole responses, each ending where the next begins.
fn check_responses(input: &[u8], answer: &[u8]) {
    let context = || format!("{:?} answered {:?}", String::from_utf8_lossy(input), String::from_utf8_lossy(answer));
    let mut rest = answer;
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 130];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(rest) {
            Ok(httparse::Status::Complete(len)) => len,
            other => panic!("not a whole response head ({other:?}) at {}: {}", answer.len() - rest.len(), context()),
        };
        assert_eq!(response.version, Some(1), "{}", context());
        let code = response.code.unwrap_or_default();
        let header = |name: &str| response.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
        let length = header("content-length").map(|v| std::str::from_utf8(v).unwrap().parse::<usize>().unwrap());
        let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case(b"chunked"));
        assert!(!(chunked && length.is_some()), "both a length and chunked: {}", context());
        let after = &rest[len..];
        rest = if (100..200).contains(&code) || code == 204 || code == 304 {
            after
        } else if chunked {
            match body(BodyFraming::Chunked, after, after.len()) {
                BodyEnd::Complete { used, .. } => &after[used..],
                other => panic!("a chunked body that does not end ({other:?}): {}", context()),
            }
        } else if let Some(length) = length {
            // The answer to a HEAD request declares the length of a body it does not carry.
            let skipped = after.get(length..);
            match skipped {
                Some(next) if next.is_empty() || next.starts_with(b"HTTP/1.1 ") => next,
                _ if after.is_empty() || after.starts_with(b"HTTP/1.1 ") => after,
                _ => panic!("a body shorter than its length {length}: {}", context()),
            }
        } else {
            // Until the connection closes: the last response.
            &[]
        };
    }
}

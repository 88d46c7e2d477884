//! `serin demo-app`: the stand-in for the seed's `ikubernetes/myapp` image. It answers like
//! that image (`Hello MyApp | Version: v1 | <a href="hostname.html">Pod Name</a>`, and the pod
//! name at `/hostname.html`), listening on `$POD_IP:$PORT` (127.0.0.1 unless `POD_IP` says
//! otherwise: the local platform's pods share loopback, a test cluster's pods have addresses of
//! their own). For tests and demos it also reads `FAIL_PERCENT` (that exact share of requests
//! answers 500) and `LATENCY_MS`, tells how many requests it answered at `/__serin/served`,
//! shows the request it received at `/__serin/request` (its line and headers, as a router
//! forwarded them), and echoes WebSocket text messages at `/ws`, each prefixed with its version
//! (`v2: hello`), so that a test sees which revision a connection reached.

use anyhow::{Context, Result};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

struct App {
    version: String,
    pod: String,
    fail_percent: u64,
    latency: Duration,
    served: AtomicU64,
}

fn env_number(name: &str) -> Result<u64> {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().with_context(|| format!("{name}={text:?} is not a whole number")),
        Err(_) => Ok(0),
    }
}

pub fn run(version: &str) -> Result<std::process::ExitCode> {
    let port: u16 =
        std::env::var("PORT").unwrap_or_else(|_| "80".into()).parse().context("PORT is not a port number")?;
    let address: std::net::IpAddr = std::env::var("POD_IP")
        .unwrap_or_else(|_| "127.0.0.1".into())
        .parse()
        .context("POD_IP is not an IP address")?;
    let app = Arc::new(App {
        version: version.to_string(),
        pod: std::env::var("POD_NAME").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_else(|_| "localhost".into()),
        fail_percent: env_number("FAIL_PERCENT")?.min(100),
        latency: Duration::from_millis(env_number("LATENCY_MS")?),
        served: AtomicU64::new(0),
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((address, port))
            .await
            .with_context(|| format!("cannot listen on {address}:{port}"))?;
        eprintln!("demo app {} listening on {address}:{port}", app.version);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _) = accepted?;
                    let app = app.clone();
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let app = app.clone();
                        async move {
                            if request.uri().path() == "/ws" {
                                return Ok(websocket(&app, request));
                            }
                            respond(app, request).await
                        }
                    });
                    let connection = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                        .into_owned();
                    let connection = graceful.watch(connection);
                    tokio::spawn(connection);
                }
                _ = terminate.recv() => break,
            }
        }
        // SIGTERM: no new connections; requests in flight finish (within the grace period).
        drop(listener);
        eprintln!("demo app {}: SIGTERM, finishing requests in flight", app.version);
        let _ = tokio::time::timeout(Duration::from_secs(25), graceful.shutdown()).await;
        Ok(std::process::ExitCode::SUCCESS)
    })
}

/// A WebSocket handshake at `/ws`: once switched, every text message comes back prefixed with
/// the app's version.
fn websocket(app: &App, mut request: Request<Incoming>) -> Response<Full<Bytes>> {
    let asked = request.headers().get("upgrade").is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let Some(key) = request.headers().get("sec-websocket-key").filter(|_| asked) else {
        let mut refused = Response::new(Full::new(Bytes::from("a WebSocket handshake is expected here\n")));
        *refused.status_mut() = StatusCode::BAD_REQUEST;
        return refused;
    };
    let accept = derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(&mut request);
    let version = app.version.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let io = hyper_util::rt::TokioIo::new(upgraded);
        let mut socket = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        while let Some(Ok(message)) = socket.next().await {
            let echo = match message {
                Message::Text(text) => Message::text(format!("{version}: {text}")),
                Message::Close(_) => break,
                _ => continue,
            };
            if socket.send(echo).await.is_err() {
                break;
            }
        }
    });
    let mut switching = Response::new(Full::new(Bytes::new()));
    *switching.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = switching.headers_mut();
    headers.insert("connection", "Upgrade".parse().expect("static header"));
    headers.insert("upgrade", "websocket".parse().expect("static header"));
    headers.insert("sec-websocket-accept", accept.parse().expect("base64 is a header value"));
    switching
}

async fn respond<B>(app: Arc<App>, request: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    if !app.latency.is_zero() {
        tokio::time::sleep(app.latency).await;
    }
    if request.uri().path() == "/__serin/served" {
        // How many requests this pod answered (benchmarks check the traffic split with it).
        return Ok(Response::new(Full::new(Bytes::from(format!("{}\n", app.served.load(Ordering::Relaxed))))));
    }
    if request.uri().path() == "/__serin/request" {
        // What reached the pod: the request line's method and target, then each header.
        let mut text = format!("{} {}\n", request.method(), request.uri());
        for (name, value) in request.headers() {
            text.push_str(&format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes())));
        }
        return Ok(Response::new(Full::new(Bytes::from(text))));
    }
    let n = app.served.fetch_add(1, Ordering::Relaxed);
    // Exactly FAIL_PERCENT of every 100 consecutive requests fail, spread evenly.
    let fails = (n + 1) * app.fail_percent / 100 > n * app.fail_percent / 100;
    let (status, body) = if fails {
        (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n".to_string())
    } else if request.uri().path() == "/hostname.html" {
        (StatusCode::OK, format!("{}\n", app.pod))
    } else {
        (StatusCode::OK, format!("Hello MyApp | Version: {} | <a href=\"hostname.html\">Pod Name</a>\n", app.version))
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", "text/html".parse().expect("static header"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(fail_percent: u64, latency_ms: u64) -> Arc<App> {
        Arc::new(App {
            version: "v1".into(),
            pod: "pod".into(),
            fail_percent,
            latency: Duration::from_millis(latency_ms),
            served: AtomicU64::new(0),
        })
    }

    async fn statuses(app: &Arc<App>, n: usize) -> Vec<u16> {
        let mut statuses = Vec::new();
        for _ in 0..n {
            let response = respond(app.clone(), Request::new(())).await.unwrap();
            statuses.push(response.status().as_u16());
        }
        statuses
    }

    #[tokio::test]
    async fn fail_percent_fails_exactly_that_many_of_every_hundred_requests() {
        for percent in [0, 1, 7, 50, 100] {
            let app = app(percent, 0);
            for hundred in 0..3 {
                let failed = statuses(&app, 100).await.iter().filter(|s| **s == 500).count() as u64;
                assert_eq!(failed, percent, "FAIL_PERCENT={percent}, requests {hundred}00..");
            }
        }
        // Spread evenly: at 50 every other request fails, at 10 one in each ten.
        assert_eq!(statuses(&app(50, 0), 4).await, [200, 500, 200, 500]);
        let tens = statuses(&app(10, 0), 20).await;
        assert_eq!(tens.chunks(10).map(|c| c.iter().filter(|s| **s == 500).count()).collect::<Vec<_>>(), [1, 1]);
    }

    #[tokio::test]
    async fn latency_ms_delays_every_answer() {
        let started = std::time::Instant::now();
        assert_eq!(statuses(&app(0, 60), 2).await, [200, 200]);
        assert!(started.elapsed() >= Duration::from_millis(120), "{:?}", started.elapsed());
        let started = std::time::Instant::now();
        statuses(&app(0, 0), 2).await;
        assert!(started.elapsed() < Duration::from_millis(60), "{:?}", started.elapsed());
    }
}

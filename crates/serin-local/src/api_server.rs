//! The API's HTTP server: axum's router served by hyper with the limits `axum::serve` does not
//! set. A request head must arrive within a deadline (an idle keep-alive connection too), and
//! at most so many connections are open at once, one more being answered `503` and closed, so
//! slow or idle clients cannot use up the server's file descriptors or tasks.

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The limits on API clients.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How many connections may be open at once (the dashboard holds one per open page).
    pub max_connections: usize,
    /// How long a client may take to send a request's head, or keep a connection idle
    /// between two.
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_connections: 512, header_read_timeout: Duration::from_secs(30) }
    }
}
/// How long a stopping server waits for requests in flight (event streams never end by
/// themselves).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 57\r\nconnection: close\r\n\r\n{\"error\":\"too many connections to the serin API at once\"}";

/// Serves `app` on `listener` within `limits` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let (mut stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to close.
                    tracing::warn!(error = %e, "the API cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are small and event streams must not wait for more bytes to fill a packet.
        let _ = stream.set_nodelay(true);
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
            });
            continue;
        };
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    async fn answer(stream: &mut TcpStream) -> String {
        let mut text = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut text)).await;
        String::from_utf8_lossy(&text).into_owned()
    }

    #[tokio::test]
    async fn one_connection_over_the_cap_is_told_so_and_the_others_are_served() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let limits = Limits { max_connections: 2, ..Limits::default() };
        tokio::spawn(serve(listener, app, limits, std::future::pending()));
        // Two idle connections take both places.
        let idle = [TcpStream::connect(addr).await.unwrap(), TcpStream::connect(addr).await.unwrap()];
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = TcpStream::connect(addr).await.unwrap();
        third.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let busy = answer(&mut third).await;
        assert!(busy.starts_with("HTTP/1.1 503 ") && busy.ends_with("at once\"}"), "{busy}");
        // When one leaves, the next client is served.
        drop(idle);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut fourth = TcpStream::connect(addr).await.unwrap();
        fourth.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
        let served = answer(&mut fourth).await;
        assert!(served.starts_with("HTTP/1.1 200 OK") && served.ends_with("ok"), "{served}");
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_head_is_cut_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let limits = Limits { header_read_timeout: Duration::from_millis(300), ..Limits::default() };
        tokio::spawn(serve(listener, app, limits, std::future::pending()));
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        let before = std::time::Instant::now();
        let said = answer(&mut slow).await;
        let waited = before.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(4),
            "cut off after {waited:?}: {said}"
        );
        // A client that sends its head in time on the same server is served.
        let mut prompt = TcpStream::connect(addr).await.unwrap();
        prompt.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
        assert!(answer(&mut prompt).await.starts_with("HTTP/1.1 200 OK"));
    }
}

//! Protocols beyond plain HTTP/1.1 through the router on the local platform, with real clients,
//! through the seed's canary split at its first step (10%): WebSocket connections (tungstenite,
//! to the demo app's echo at `/ws`), whose split is decided at the handshake and which are
//! tunnels to their pod after the 101; and HTTP/2 with prior knowledge (curl).

mod common;

use common::{SEED, Server, status};
use std::net::TcpStream;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, client};

const WAIT: Duration = Duration::from_secs(60);

/// Opens a WebSocket to the seed's host through the router, sends `text`, and returns the echo
/// (`v1: text` or `v2: text`), leaving the connection open.
fn echo(server: &Server, text: &str) -> (String, tokio_tungstenite::tungstenite::WebSocket<TcpStream>) {
    let stream = TcpStream::connect(server.web).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = "ws://canary.myapp.com/ws".into_client_request().unwrap();
    let (mut socket, response) = client(request, stream).unwrap_or_else(|e| panic!("handshake: {e}"));
    assert_eq!(response.status(), 101);
    socket.send(Message::text(text)).unwrap();
    let answer = socket.read().unwrap().into_text().unwrap().to_string();
    (answer, socket)
}

/// A server with the seed's rollout paused at its first step: 10% of requests to v2.
fn seed_at_step_one() -> Server {
    let server = Server::start(10.0);
    server.serin(&["apply", "-f", SEED]);
    server.wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10);
    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    server.wait_for("step 1 (10%)", WAIT, |t| status(t)["currentStepIndex"] == 1 && status(t)["phase"] == "Paused");
    server
}

#[test]
fn websockets_follow_the_canary_split_at_their_handshake() {
    let server = seed_at_step_one();
    // Exactly one handshake in each ten reaches the canary, as plain requests do; every
    // connection keeps talking to the pod its handshake reached.
    let mut open = Vec::new();
    for round in 0..3 {
        let versions: Vec<String> = (0..10)
            .map(|i| {
                let (answer, socket) = echo(&server, &format!("hello {round}.{i}"));
                open.push(socket);
                answer.split(':').next().unwrap().to_string()
            })
            .collect();
        assert_eq!(versions.iter().filter(|v| *v == "v2").count(), 1, "round {round}: {versions:?}");
    }
    for (i, socket) in open.iter_mut().enumerate() {
        socket.send(Message::text(format!("again {i}"))).unwrap();
        let answer = socket.read().unwrap().into_text().unwrap().to_string();
        assert!(answer.ends_with(&format!(": again {i}")), "{answer}");
    }
    let v2_again = open
        .iter_mut()
        .filter_map(|socket| {
            socket.send(Message::text("which")).unwrap();
            socket.read().unwrap().into_text().unwrap().starts_with("v2:").then_some(())
        })
        .count();
    assert_eq!(v2_again, 3, "the three canary connections still reach the canary");

    // The handshakes are counted like any request of the canary's (analysis sees them).
    let metrics = ureq::get(&format!("{}/metrics", server.api)).call().unwrap().body_mut().read_to_string().unwrap();
    let switched =
        metrics.lines().filter(|l| l.starts_with("serin_router_requests_total{") && l.contains("code=\"1xx\""));
    let count: u64 = switched.filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum();
    assert_eq!(count, 30, "{metrics}");
}

#[test]
fn h2c_requests_follow_the_canary_split() {
    let server = seed_at_step_one();
    // Thirty HTTP/2 requests with prior knowledge, one curl each (curl 7.88 cannot reuse a
    // prior-knowledge connection for a second URL, with Traefik as with serin; the router's
    // unit tests send several streams on one connection).
    let mut text = String::new();
    for _ in 0..30 {
        let output = std::process::Command::new("curl")
            .args([
                "--silent",
                "--show-error",
                "--http2-prior-knowledge",
                "--write-out",
                "[%{http_version} %{http_code}]\n",
            ])
            .args(["--connect-to", &format!("canary.myapp.com:80:{}", server.web), "http://canary.myapp.com/"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        text.push_str(&String::from_utf8_lossy(&output.stdout));
    }
    let answers: Vec<&str> = text.lines().filter(|l| l.starts_with("Hello MyApp")).collect();
    assert_eq!(text.matches("[2 200]").count(), 30, "{text}");
    for (round, window) in answers.chunks(10).enumerate() {
        assert_eq!(window.iter().filter(|a| a.contains("Version: v2")).count(), 1, "round {round}: {window:?}");
    }
    assert_eq!(answers.len(), 30, "{text}");
}

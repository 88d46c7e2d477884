//! Protocol upgrades through the router on the local platform: WebSocket connections (a real
//! client, tungstenite, and the demo app's echo at `/ws`) through the seed's canary split. The
//! split picks the backend at the handshake; after the 101 the connection is a tunnel to that pod.

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

#[test]
fn websockets_follow_the_canary_split_at_their_handshake() {
    let server = Server::start(10.0);
    server.serin(&["apply", "-f", SEED]);
    server.wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10);
    let (answer, _) = echo(&server, "before");
    assert_eq!(answer, "v1: before");

    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    server.wait_for("step 1 (10%)", WAIT, |t| status(t)["currentStepIndex"] == 1 && status(t)["phase"] == "Paused");
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
    assert_eq!(count, 31, "{metrics}");
}

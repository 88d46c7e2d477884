//! Zero failed requests: steady load (keep-alive and fresh connections mixed, over 200
//! requests a second) through a whole rollout step by step, then an update that is aborted,
//! retried and promoted fully.

mod common;

use common::{SEED, Server, replicas_of, status};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(90);
const V1: &str = "69dc9f5f56";
const V2: &str = "95d95c65";

fn pods(tree: &serde_json::Value) -> usize {
    tree["pods"].as_array().unwrap().len()
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    bad_status: AtomicU64,
    errors: AtomicU64,
}

/// Sends one request on `stream` and reads the whole response; returns its status.
fn exchange(stream: &mut BufReader<TcpStream>, keep_alive: bool) -> std::io::Result<u16> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    write!(stream.get_mut(), "GET / HTTP/1.1\r\nHost: canary.myapp.com\r\nConnection: {connection}\r\n\r\n")?;
    let mut line = String::new();
    stream.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0usize;
    loop {
        line.clear();
        stream.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((_, value)) = line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("content-length")) {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body)?;
    Ok(status)
}

fn client(addr: SocketAddr, keep_alive: bool, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut stream: Option<BufReader<TcpStream>> = None;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let result = match stream.take() {
            Some(s) => Ok(s),
            None => TcpStream::connect(addr).map(BufReader::new),
        }
        .and_then(|mut s| {
            s.get_mut().set_read_timeout(Some(Duration::from_secs(5)))?;
            let status = exchange(&mut s, keep_alive)?;
            if keep_alive {
                stream = Some(s);
            }
            Ok(status)
        });
        match result {
            Ok(200..=299) => tally.ok.fetch_add(1, Ordering::Relaxed),
            Ok(status) => {
                eprintln!("status {status}");
                tally.bad_status.fetch_add(1, Ordering::Relaxed)
            }
            Err(error) => {
                eprintln!("error {error}");
                tally.errors.fetch_add(1, Ordering::Relaxed)
            }
        };
        // About 100 requests a second per client.
        std::thread::sleep(Duration::from_millis(10).saturating_sub(started.elapsed()));
    }
}

#[test]
fn no_request_fails_through_a_rollout_then_an_abort_a_retry_and_a_full_promotion() {
    let server = Server::start(60.0);
    server.serin(&["apply", "-f", SEED]);
    server.wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10);

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = [true, true, true, false, false, false]
        .into_iter()
        .map(|keep_alive| {
            let (stop, tally, addr) = (stop.clone(), tally.clone(), server.web);
            std::thread::spawn(move || client(addr, keep_alive, stop, tally))
        })
        .collect();
    let started = Instant::now();

    // A whole rollout, step by step: 10%, 30%, 60% (the 5m, 1m and 30s pauses pass in 5s, 1s
    // and 0.5s), 100%, Healthy, v1 scaled down.
    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    for (step, weight) in [(1, 10), (3, 30), (5, 60)] {
        server.wait_for(&format!("{weight}%"), WAIT, |t| {
            status(t)["currentPodHash"] == V2 && status(t)["currentStepIndex"].as_i64() >= Some(step)
        });
    }
    server.wait_for("v2 stable, v1 gone", WAIT, |t| {
        status(t)["phase"] == "Healthy" && status(t)["stableRS"] == V2 && replicas_of(t, V1) == 0 && pods(t) == 10
    });

    // An update that is aborted at 30%, retried and promoted fully.
    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v3"]);
    let tree = server.wait_for("30% of v3", WAIT, |t| status(t)["currentStepIndex"] == 3);
    let v3 = status(&tree)["currentPodHash"].as_str().unwrap().to_string();
    server.serin(&["abort", "canary-rollout"]);
    server.wait_for("v3 scaled down after abort", WAIT, |t| {
        status(t)["phase"] == "Degraded" && replicas_of(t, &v3) == 0 && pods(t) == 10
    });
    server.serin(&["retry", "rollout", "canary-rollout"]);
    server.wait_for("step 1 again", WAIT, |t| status(t)["currentStepIndex"] == 1);
    server.serin(&["promote", "canary-rollout", "--full"]);
    server.wait_for("v3 stable, v2 gone", WAIT, |t| {
        status(t)["phase"] == "Healthy"
            && status(t)["stableRS"] == v3.as_str()
            && replicas_of(t, V2) == 0
            && pods(t) == 10
    });
    std::thread::sleep(Duration::from_millis(500));

    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let ok = tally.ok.load(Ordering::Relaxed);
    let rate = ok as f64 / seconds;
    eprintln!("{ok} requests in {seconds:.1}s ({rate:.0}/s)");
    assert_eq!(tally.bad_status.load(Ordering::Relaxed), 0, "non-2xx answers");
    assert_eq!(tally.errors.load(Ordering::Relaxed), 0, "connection errors");
    assert!(rate >= 200.0, "the load was only {rate:.0} requests a second");
}

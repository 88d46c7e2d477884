//! Chaos: the example's whole release (v1 to v2 through 10/30/60/100%) under load through the
//! router, while the server is killed with SIGKILL at random moments and restarted on the same
//! data directory, and random pods are killed. It counts what clients saw, and requires that
//! no request failed while the server was up, and that the release ends exactly where a run
//! without faults ends. `SERIN_CHAOS_SEED` replays a run; each run prints its seed and figures.

mod common;

use common::{SEED, Server, status, weights};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The example's pauses (5m, 1m, 30s) pass in 13 s.
const TIME_SCALE: f64 = 30.0;
const V2: &str = "95d95c65";
const CLIENTS: usize = 4;
const SERVER_KILLS: usize = 3;

/// One request: when it was sent and answered, and what came back (the version, or why not).
struct Outcome {
    sent: Instant,
    done: Instant,
    answer: Result<String, String>,
}

/// A small xorshift generator: the run is replayable from its seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One GET on a fresh connection: the version that answered, or what went wrong.
fn get(addr: SocketAddr) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: canary.myapp.com\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| format!("read: {e}"))?;
    match common::parse_response(&response) {
        (200, body) => Ok(body.split(" | ").nth(1).unwrap_or_default().to_string()),
        (status, body) => Err(format!("{status}: {body}")),
    }
}

/// Pod names and process ids, from the rollout tree.
fn pods(server: &Server) -> Vec<(String, String)> {
    let tree = server.tree("canary-rollout");
    let pods = tree["pods"].as_array().cloned().unwrap_or_default();
    pods.iter()
        .filter_map(|p| {
            let pid = p.pointer("/metadata/annotations/serin.dev~1pid")?.as_str()?;
            Some((p["metadata"]["name"].as_str()?.to_string(), pid.to_string()))
        })
        .collect()
}

fn done(tree: &Value) -> bool {
    let s = status(tree);
    s["phase"] == "Healthy" && s["stableRS"] == V2 && s["availableReplicas"] == 10 && s["replicas"] == 10
}

#[test]
fn a_release_survives_server_and_pod_kills_under_load() {
    let seed = std::env::var("SERIN_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    println!("SERIN_CHAOS_SEED={seed}");
    let mut random = Random(seed);
    let mut server = Server::start(TIME_SCALE);
    server.serin(&["apply", "-f", SEED]);
    server.wait_for("10 v1 pods", Duration::from_secs(60), |t| {
        status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10
    });
    let marker = std::fs::read_to_string(server.data_dir().join("marker")).unwrap();

    // Clients send GETs one after another, each to the router's current address.
    let web = Arc::new(Mutex::new(server.web));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (web, stop) = (web.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let addr = *web.lock().unwrap();
                    let sent = Instant::now();
                    let answer = get(addr);
                    outcomes.push(Outcome { sent, done: Instant::now(), answer });
                }
                outcomes
            })
        })
        .collect();

    let start = Instant::now();
    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    // Each outage: from the kill to the restarted server listening again.
    let mut outages: Vec<(Instant, Instant)> = Vec::new();
    let mut pod_kills = 0;
    let deadline = start + Duration::from_secs(120);
    loop {
        std::thread::sleep(Duration::from_millis(1_000 + random.below(2_000)));
        let tree = server.tree("canary-rollout");
        if done(&tree) && outages.len() == SERVER_KILLS {
            break;
        }
        assert!(Instant::now() < deadline, "the release did not finish: {:#}", status(&tree));
        if outages.len() < SERVER_KILLS && random.below(2) == 0 {
            let killed = Instant::now();
            server.kill_hard();
            server.spawn(TIME_SCALE);
            *web.lock().unwrap() = server.web;
            outages.push((killed, Instant::now()));
        } else {
            let pods = pods(&server);
            if !pods.is_empty() {
                let (_, pid) = &pods[random.below(pods.len() as u64) as usize];
                std::process::Command::new("kill").args(["-KILL", pid]).status().unwrap();
                pod_kills += 1;
            }
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let elapsed = start.elapsed();

    // A failure that overlaps an outage was cut by the kill; any other happened while the
    // server was up.
    let in_outage = |o: &Outcome| outages.iter().any(|(killed, back)| o.sent <= *back && o.done >= *killed);
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.answer.is_err()).collect();
    let (cut, while_up): (Vec<&Outcome>, Vec<&Outcome>) = failed.iter().partition(|o| in_outage(o));
    // Of those, the ones already sent when the server died were in flight (lost); the rest
    // found no server listening.
    let in_flight =
        cut.iter().filter(|o| outages.iter().any(|(killed, _)| o.sent < *killed && o.done >= *killed)).count();
    let since_start = outcomes.iter().filter(|o| o.sent >= start).count();
    let rate = since_start as f64 / elapsed.as_secs_f64();
    let downtime: Vec<u128> = outages.iter().map(|(killed, back)| (*back - *killed).as_millis()).collect();
    let v2 = outcomes.iter().filter(|o| o.answer.as_deref() == Ok("Version: v2")).count();
    println!(
        "chaos seed={seed}: {} requests in {:.1} s ({rate:.0}/s, {CLIENTS} clients, fresh connections), {} server kills (down {downtime:?} ms), {pod_kills} pod kills; failed while up: {}; cut by a kill: {} ({in_flight} in flight, the rest refused while down); answered by v2: {v2}",
        outcomes.len(),
        elapsed.as_secs_f64(),
        outages.len(),
        while_up.len(),
        cut.len(),
    );
    let examples: Vec<String> = while_up.iter().take(5).map(|o| format!("{:?}", o.answer)).collect();
    assert!(while_up.is_empty(), "{} requests failed while the server was up, e.g. {examples:?}", while_up.len());
    assert!(rate >= 200.0, "the load was {rate:.0} requests/s, under 200");

    // The end state is the one a release without faults reaches.
    let tree = server.wait_for("the release finished", Duration::from_secs(60), |t| {
        done(t) && t["pods"].as_array().unwrap().len() == 10
    });
    assert_eq!(status(&tree)["currentStepIndex"], 7);
    assert_eq!(weights(&server, "traefik.io"), [("canary-active".into(), 0), ("canary-preview".into(), 100)]);
    assert_eq!(weights(&server, "traefik.containo.us"), weights(&server, "traefik.io"));
    assert!(
        tree["pods"].as_array().unwrap().iter().all(|p| p["metadata"]["labels"]["rollouts-pod-template-hash"] == V2)
    );
    assert_eq!(common::marked_processes(&marker).len(), 10, "no duplicate or orphaned pod process");
    assert_eq!(server.versions(50).get("Version: v2"), Some(&50));
}

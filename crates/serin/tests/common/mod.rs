//! A real `serin server` in a temporary data directory, the real CLI against it, and plain
//! HTTP/1.1 requests through its router, for the local platform's integration tests.
#![allow(dead_code)]

pub mod git_server;
pub mod tls;

use serde_json::Value;
use std::borrow::Cow;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/argo-demo/argorollout-canary");

pub struct Server {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub api: String,
    pub web: SocketAddr,
    /// More `serin server` flags, kept for restarts.
    pub flags: Vec<String>,
    /// The soft open-file limit the server starts with (the hard one stays), when set.
    pub open_files: Option<u64>,
}

pub fn serin_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_serin"))
}

impl Server {
    pub fn start(time_scale: f64) -> Server {
        Server::start_with(time_scale, &[])
    }

    /// A server with more flags (`--app-resync 2s`).
    pub fn start_with(time_scale: f64, flags: &[&str]) -> Server {
        Server::launch(time_scale, flags, None)
    }

    /// A server started with a soft open-file limit of `soft` (as a shell's `ulimit -Sn`).
    pub fn start_with_open_files(soft: u64, flags: &[&str]) -> Server {
        Server::launch(1.0, flags, Some(soft))
    }

    fn launch(time_scale: f64, flags: &[&str], open_files: Option<u64>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let flags = flags.iter().map(|f| f.to_string()).collect();
        let web = "127.0.0.1:1".parse().unwrap();
        let mut server = Server { dir, child: None, api: String::new(), web, flags, open_files };
        server.spawn(time_scale);
        server
    }

    /// Starts (or restarts) the server process on this data directory.
    pub fn spawn(&mut self, time_scale: f64) {
        let info = self.dir.path().join("server.json");
        let _ = std::fs::remove_file(&info);
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("server.log")).unwrap();
        let mut command = match self.open_files {
            Some(soft) => {
                let mut sh = Command::new("sh");
                sh.args(["-c", "ulimit -Sn \"$0\" && exec \"$@\"", &soft.to_string()]).arg(serin_binary());
                sh
            }
            None => Command::new(serin_binary()),
        };
        let child = command
            .args([
                "server",
                "--api",
                "127.0.0.1:0",
                "--entrypoint",
                "web=127.0.0.1:0",
                "--time-scale",
                &time_scale.to_string(),
            ])
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(&self.flags)
            .env("SERIN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let written =
                std::fs::read_to_string(&info).ok().and_then(|text| serde_json::from_str::<Value>(&text).ok());
            if let Some(value) = written {
                self.api = value["api"].as_str().unwrap().to_string();
                self.web = value["entrypoints"]["web"].as_str().unwrap().parse().unwrap();
                return;
            }
            assert!(Instant::now() < deadline, "the server did not start:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the CLI against this server; panics with its output if it fails.
    pub fn serin(&self, args: &[&str]) -> String {
        let out = self.serin_output(args);
        assert!(
            out.status.success(),
            "serin {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// `serin apply -f` of `text`, written to `name` in the data directory.
    pub fn apply_text(&self, name: &str, text: &str) -> String {
        let file = self.data_dir().join(name);
        std::fs::write(&file, text).unwrap();
        self.serin(&["apply", "-f", file.to_str().unwrap()])
    }

    pub fn serin_output(&self, args: &[&str]) -> Output {
        self.serin_command(args).output().unwrap()
    }

    /// The CLI against this server, to be run as the test needs (in the background, piped).
    pub fn serin_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(serin_binary());
        command.args(args).env("SERIN_DATA_DIR", self.dir.path()).env_remove("SERIN_SERVER");
        command
    }

    /// An object from the API.
    pub fn object(&self, group: &str, kind: &str, name: &str) -> Value {
        let url = format!("{}/api/v1/object?group={group}&kind={kind}&namespace=default&name={name}", self.api);
        let mut response = ureq::get(&url).call().unwrap();
        response.body_mut().read_json().unwrap()
    }

    pub fn tree(&self, rollout: &str) -> Value {
        let url = format!("{}/api/v1/rollouts/default/{rollout}/tree", self.api);
        ureq::get(&url).call().unwrap().body_mut().read_json().unwrap()
    }

    /// Waits until `check` holds for the seed's rollout tree, or fails with the last view.
    pub fn wait_for(&self, what: &str, timeout: Duration, check: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_rollout("canary-rollout", what, timeout, check)
    }

    /// Waits until `check` holds for a rollout's tree, or fails with the last view.
    pub fn wait_for_rollout(
        &self,
        rollout: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let tree = self.tree(rollout);
            if check(&tree) {
                return tree;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; rollout status:\n{:#}\n--- server log tail:\n{}",
                    tree["rollout"]["status"],
                    tail(&self.log(), 40)
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until the store holds no pods.
    pub fn wait_for_pods_gone(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        // kubectl's "No resources found" goes to standard error, standard output stays empty.
        while !String::from_utf8_lossy(&self.serin_output(&["get", "pods"]).stderr).starts_with("No resources found") {
            assert!(Instant::now() < deadline, "pods were not removed");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server with SIGKILL (pods keep running).
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// One GET through the router on a fresh connection: (status, body).
    pub fn get(&self, host: &str, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.web).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        parse_response(&response)
    }

    /// GETs one after another, each on a fresh connection, until `stop` is set: when each was
    /// sent, and its answer.
    pub fn load(&self, host: &str, path: &str, stop: &std::sync::atomic::AtomicBool) -> Vec<(Instant, u16, String)> {
        let mut answers = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let sent = Instant::now();
            let (status, body) = self.get(host, path);
            answers.push((sent, status, body));
        }
        answers
    }

    /// `n` requests; how many answered each body.
    pub fn versions(&self, n: usize) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..n {
            let (status, body) = self.get("canary.myapp.com", "/");
            assert_eq!(status, 200, "{body}");
            let version = body.split(" | ").nth(1).unwrap_or(&body).trim().to_string();
            *counts.entry(version).or_insert(0) += 1;
        }
        counts
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Pods carry the data dir's marker in their environment; none may outlive the test.
        let marker = std::fs::read_to_string(self.dir.path().join("marker")).unwrap_or_default();
        for pid in marked_processes(&marker) {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    }
}

/// A Rollout of one pod labelled `labels` (`app: x, role: y`) whose pod spec is `pod` (YAML
/// indented by six spaces), with one canary step (which its first revision skips).
pub fn one_pod_rollout(name: &str, labels: &str, pod: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels: {{{labels}}}
  strategy:
    canary:
      steps:
      - setWeight: 50
  template:
    metadata:
      labels: {{{labels}}}
    spec:
{pod}"
    )
}

/// A one-pod Rollout of the demo app at `version` (it answers `Version: {version}`) behind a
/// Service of the same name, port 80.
pub fn app(name: &str, version: &str) -> String {
    let pod = format!("      containers:\n      - name: app\n        image: ikubernetes/myapp:{version}\n");
    let service = format!(
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: {name}\n  ports:\n  - port: 80\n---\n"
    );
    one_pod_rollout(name, &format!("app: {name}"), &pod) + "\n" + &service
}

/// `serin_router_retries_total` from the server's `/metrics`.
pub fn retries(server: &Server) -> u64 {
    let metrics = ureq::get(&format!("{}/metrics", server.api)).call().unwrap().body_mut().read_to_string().unwrap();
    let line = metrics.lines().find_map(|l| l.strip_prefix("serin_router_retries_total "));
    line.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no retry count in\n{metrics}"))
}

pub fn parse_response(response: &str) -> (u16, String) {
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
    (status, body)
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Hides what legitimately differs between runs (ages, pod name suffixes, times, ids, ports,
/// usage figures) and keeps every other character, spacing included, so layouts are compared.
pub fn mask(text: &str) -> String {
    let re = |pattern: &str| regex::Regex::new(pattern).unwrap();
    let suffix = re(r"((?:canary-rollout|bluegreen)-[0-9a-z]{8,10})-[0-9a-z]{5}\b");
    let time = re(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ");
    let uid = re(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
    let number = re(r#"(resourceVersion|serin.dev/port|serin.dev/pid|serin.dev/process-start)("?): "?\d+"?"#);
    // CPU and memory cells keep their width; the figures themselves change.
    let millicores = re(r"\b\d+m\s+\d+Mi\b");
    // An age cell and the gap after it: the age's width changes between runs, and with it the gap
    // that aligns the next column (checked separately by `columns_align`).
    let age = re(r"(\s{2,})\d+[smhd](?:\d+[smh])?(\s{2,}|\s*$)");
    let age_header = re(r"\bAGE\s{2,}(\S)");
    let port = re(r"127\.0\.0\.1(:|\s+)\d+\b");
    text.lines()
        .map(|line| {
            let line = suffix.replace_all(line, "$1-xxxxx");
            let line = time.replace_all(&line, "TIME");
            let line = uid.replace_all(&line, "UID");
            let line = number.replace_all(&line, "$1$2: N");
            let line = millicores.replace_all(&line, |c: &regex::Captures| {
                let memory = c[0].rsplit(' ').next().unwrap().len();
                format!("{:<w$}NMi", "Nm", w = c[0].len() - memory)
            });
            // Adjacent age cells share a gap, so one pass masks every other one: repeat.
            let mut line = line.to_string();
            while let Cow::Owned(masked) = age.replace(&line, |c: &regex::Captures| {
                format!("{}AGE{}", &c[1], if c[2].is_empty() { "" } else { "  " })
            }) {
                line = masked;
            }
            let line = age_header.replace_all(&line, "AGE  $1");
            let line = port.replace_all(&line, "127.0.0.1${1}PORT");
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn status(tree: &Value) -> &Value {
    &tree["rollout"]["status"]
}

/// Pod processes of a revision that are running and ready, as the tree shows them.
pub fn ready_pods_of(tree: &Value, hash: &str) -> usize {
    let ready = |pod: &Value| {
        pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    };
    tree["pods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["labels"]["rollouts-pod-template-hash"] == hash && p["status"]["phase"] == "Running")
        .filter(|p| ready(p))
        .count()
}

pub fn replicas_of(tree: &Value, hash: &str) -> i64 {
    tree["replicaSets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rs| rs["metadata"]["labels"]["rollouts-pod-template-hash"] == hash)
        .map_or(-1, |rs| rs["spec"]["replicas"].as_i64().unwrap())
}

/// Waits until the rollout's ReplicaSet of `hash` is scaled to 0 and checks when that happened:
/// not before `delay` after `since` (less half a second: `since` is when a command returned or
/// a state was seen, a little after it happened), and not more than 3 s after it.
pub fn assert_scaled_down_after(server: &Server, hash: &str, since: Instant, delay: Duration) {
    let tree =
        server.wait_for(&format!("{hash} scaled down"), delay + Duration::from_secs(30), |t| replicas_of(t, hash) == 0);
    let after = since.elapsed();
    assert!(after + Duration::from_millis(500) >= delay, "scaled down after {after:?}, before the {delay:?} delay");
    assert!(after <= delay + Duration::from_secs(3), "scaled down only after {after:?} (delay {delay:?})");
    assert_eq!(replicas_of(&tree, hash), 0);
}

pub fn weights(server: &Server, group: &str) -> Vec<(String, i64)> {
    let ts = server.object(group, "TraefikService", "canary-service");
    ts["spec"]["weighted"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["weight"].as_i64().unwrap_or(-1)))
        .collect()
}

/// Processes whose environment carries `SERIN_POD=<marker>/...`.
pub fn marked_processes(marker: &str) -> Vec<u32> {
    if marker.is_empty() {
        return Vec::new();
    }
    let needle = format!("SERIN_POD={marker}/");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| String::from_utf8_lossy(&env).contains(&needle))
        })
        .collect()
}

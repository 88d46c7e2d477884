//! `serin demo`: a release on the local platform, for real. It starts a server in a temporary
//! data directory (real pod processes, the real router), applies an example's manifests
//! unchanged, pushes v2, and at every stage shows `get rollout` and which version answered
//! 100 real requests through the router. The canary story is examples/argo-demo: 10% -> 30%
//! -> 60% -> 100%, then v1 scaled down. The blue-green story is examples/bluegreen: v2 on the
//! preview host while users stay on v1, then the switch under load, then v1 scaled down.
//! Pauses and delays run `--time-scale` times faster, and the demo says so.

use crate::client::{Client, ClientOptions};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SEED: [(&str, &str); 3] = [
    ("argorollout-canary/rollout.yaml", include_str!("../../../examples/argo-demo/argorollout-canary/rollout.yaml")),
    ("argorollout-canary/service.yaml", include_str!("../../../examples/argo-demo/argorollout-canary/service.yaml")),
    ("argorollout-canary/ingress.yaml", include_str!("../../../examples/argo-demo/argorollout-canary/ingress.yaml")),
];

const BLUE_GREEN: [(&str, &str); 3] = [
    ("bluegreen/rollout.yaml", include_str!("../../../examples/bluegreen/rollout.yaml")),
    ("bluegreen/services.yaml", include_str!("../../../examples/bluegreen/services.yaml")),
    ("bluegreen/ingressroute.yaml", include_str!("../../../examples/bluegreen/ingressroute.yaml")),
];
const ACTIVE_HOST: &str = "bluegreen.myapp.com";
const PREVIEW_HOST: &str = "preview.bluegreen.myapp.com";

/// Which example the demo releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// examples/argo-demo: the canary through 10/30/60/100%.
    Canary,
    /// examples/bluegreen: preview, then the switch of the active Service.
    Bluegreen,
}

/// The server process; stopped (gracefully, pods too) when dropped.
struct DemoServer {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

pub fn run(time_scale: f64, entrypoint: &str, strategy: Strategy) -> Result<ExitCode> {
    let dir = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let log = std::fs::File::create(dir.path().join("server.log"))?;
    let child = Command::new(std::env::current_exe()?)
        .args([
            "server",
            "--api",
            "127.0.0.1:0",
            "--entrypoint",
            &format!("web={entrypoint}"),
            "--time-scale",
            &time_scale.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start serin server")?;
    let server = DemoServer { child, dir };
    let options = ClientOptions {
        data_dir: Some(server.dir.path().to_path_buf()),
        server: None,
        token: None,
        ca_file: None,
        namespace: None,
        kube: Default::default(),
    };
    let info = wait(Duration::from_secs(20), "the server to start", || {
        serin_local::datadir::read_info(server.dir.path()).ok()
    })
    .with_context(|| server_log(&server))?;
    let web: SocketAddr = info.entrypoints["web"].parse()?;
    let client = Client::connect(&options)?;

    let demo = Demo { client, web, api: info.api.to_string(), server };
    match strategy {
        Strategy::Canary => demo.canary(time_scale)?,
        Strategy::Bluegreen => demo.blue_green(time_scale)?,
    }
    println!("Done. Stopping the server and its pods.");
    Ok(ExitCode::SUCCESS)
}

/// A running demo: the server, its API client and the router's entry point.
struct Demo {
    client: Client,
    web: SocketAddr,
    api: String,
    server: DemoServer,
}

impl Demo {
    fn canary(&self, time_scale: f64) -> Result<()> {
        println!("serin demo: the canary release of examples/argo-demo on the local platform");
        self.introduce(
            time_scale,
            &format!(
                "the example's 5m, 1m and 30s pauses take {}, {} and {}",
                secs(300.0 / time_scale),
                secs(60.0 / time_scale),
                secs(30.0 / time_scale)
            ),
        );
        println!("  try it meanwhile: curl -H 'Host: canary.myapp.com' http://{}/\n", self.web);
        self.apply(&SEED)?;
        let hosts = ["canary.myapp.com"];
        self.wait_for("canary-rollout", Duration::from_secs(60), "ten v1 pods", |tree| {
            status(tree, "phase") == "Healthy" && status(tree, "availableReplicas") == 10
        })?;
        self.show("canary-rollout", &hosts, "v1 deployed: ten pods, all traffic on v1")?;

        println!("$ serin set image canary-rollout myapp=ikubernetes/myapp:v2   (the example's git push of v2)\n");
        self.set_v2("canary-rollout")?;
        for (step, weight) in [(1, 10), (3, 30), (5, 60)] {
            self.wait_for("canary-rollout", Duration::from_secs(120), "the next pause", |tree| {
                status(tree, "currentStepIndex") == step && status(tree, "phase") == "Paused"
            })?;
            self.show("canary-rollout", &hosts, &format!("step {step}/7: {weight}% of traffic on v2, paused"))?;
        }
        self.wait_for("canary-rollout", Duration::from_secs(120), "promotion and v1 scaled down", |tree| {
            status(tree, "phase") == "Healthy"
                && status(tree, "stableRS") == "95d95c65"
                && scaled_down(tree, "69dc9f5f56")
        })?;
        self.show(
            "canary-rollout",
            &hosts,
            "step 7/7: v2 promoted to stable; v1 scaled down after scaleDownDelaySeconds",
        )
    }

    fn blue_green(&self, time_scale: f64) -> Result<()> {
        println!("serin demo: the blue-green release of examples/bluegreen on the local platform");
        self.introduce(
            time_scale,
            &format!("the example's 30s scaleDownDelaySeconds takes {}", secs(30.0 / time_scale)),
        );
        println!(
            "  try it meanwhile: curl -H 'Host: {ACTIVE_HOST}' http://{web}/ (users), -H 'Host: {PREVIEW_HOST}' (preview)\n",
            web = self.web
        );
        self.apply(&BLUE_GREEN)?;
        let v1 = self.wait_for("bluegreen", Duration::from_secs(60), "three v1 pods", |tree| {
            status(tree, "phase") == "Healthy" && status(tree, "availableReplicas") == 3
        })?["rollout"]["status"]["currentPodHash"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.show("bluegreen", &[ACTIVE_HOST], "v1 deployed: three pods behind the active Service bluegreen-active")?;

        println!("$ serin set image bluegreen myapp=ikubernetes/myapp:v2\n");
        self.set_v2("bluegreen")?;
        self.wait_for("bluegreen", Duration::from_secs(60), "the preview of v2", |tree| {
            status(tree, "message") == "BlueGreenPause" && status(tree, "replicas") == 6
        })?;
        self.show(
            "bluegreen",
            &[ACTIVE_HOST, PREVIEW_HOST],
            "v2 up behind the preview Service; users still on v1, paused for promotion",
        )?;

        println!("$ serin promote bluegreen   (while four clients keep sending requests to {ACTIVE_HOST})\n");
        let switch = self.promote_under_load("bluegreen")?;
        println!("── the switch");
        println!(
            "  {} requests during the switch, {} failed; of the {} sent after `promote` returned, {} reached v1\n",
            switch.sent, switch.failed, switch.after_return, switch.after_return_on_v1
        );
        self.wait_for("bluegreen", Duration::from_secs(60), "v2 stable", |tree| status(tree, "phase") == "Healthy")?;
        self.show("bluegreen", &[ACTIVE_HOST], "promoted: all traffic on v2; v1 stays up for scaleDownDelaySeconds")?;
        self.wait_for("bluegreen", Duration::from_secs(60), "v1 scaled down", |tree| scaled_down(tree, &v1))?;
        self.show("bluegreen", &[ACTIVE_HOST], "v1 scaled down after scaleDownDelaySeconds")
    }

    fn introduce(&self, time_scale: f64, timings: &str) {
        println!(
            "  server {} (data in {}), router entry point web on {}",
            self.api,
            self.server.dir.path().display(),
            self.web
        );
        println!("  pauses and delays run {time_scale}x faster: {timings}");
    }

    fn apply(&self, files: &[(&str, &str)]) -> Result<()> {
        let files: Vec<Value> = files.iter().map(|(name, text)| json!({"name": name, "text": text})).collect();
        let applied = self.client.post("/api/v1/apply", &json!({"files": files}))?;
        for result in applied["results"].as_array().into_iter().flatten() {
            println!(
                "{} {}",
                result["object"].as_str().unwrap_or_default(),
                result["outcome"].as_str().unwrap_or_default()
            );
        }
        Ok(())
    }

    fn set_v2(&self, rollout: &str) -> Result<()> {
        self.client.post(
            &format!("/api/v1/rollouts/default/{rollout}/set-image"),
            &json!({"container": "myapp", "image": "ikubernetes/myapp:v2"}),
        )?;
        Ok(())
    }

    /// Waits until `check` holds for the rollout's tree; on a timeout, the server log says why.
    fn wait_for(&self, rollout: &str, timeout: Duration, what: &str, check: impl Fn(&Value) -> bool) -> Result<Value> {
        let path = format!("/api/v1/rollouts/default/{rollout}/tree");
        wait(timeout, what, || self.client.get(&path).ok().filter(|tree| check(tree)))
            .with_context(|| server_log(&self.server))
    }

    /// Prints the rollout view and, per host, the versions that answered 100 requests.
    fn show(&self, rollout: &str, hosts: &[&str], title: &str) -> Result<()> {
        println!("── {title}");
        println!("$ serin get rollout {rollout}");
        let tree = self.client.get(&format!("/api/v1/rollouts/default/{rollout}/tree"))?;
        print!("{}", crate::tree::render(&tree, crate::view::Paint::detect(false))?);
        for host in hosts {
            let mut split: BTreeMap<String, usize> = BTreeMap::new();
            for _ in 0..100 {
                let body = request(self.web, host).map(|(_, body)| body)?;
                *split.entry(version(&body)).or_default() += 1;
            }
            let counts: Vec<String> = split.iter().map(|(version, n)| format!("{n} x {version}")).collect();
            println!(
                "\n$ for i in $(seq 100); do curl -s -H 'Host: {host}' http://{}/; done | sort | uniq -c",
                self.web
            );
            println!("  {}", counts.join(", "));
        }
        println!();
        Ok(())
    }

    /// `promote` while four clients send requests to the active host, until the rollout's
    /// API call has returned and half a second more.
    fn promote_under_load(&self, rollout: &str) -> Result<Switch> {
        let stop = AtomicBool::new(false);
        let (answers, returned) = std::thread::scope(|scope| -> Result<_> {
            let clients: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let mut answers = Vec::new();
                        while !stop.load(Ordering::Relaxed) {
                            let sent = Instant::now();
                            answers.push((sent, request(self.web, ACTIVE_HOST).ok()));
                        }
                        answers
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(300));
            let promoted = self.client.post(&format!("/api/v1/rollouts/default/{rollout}/promote"), &json!({}));
            let returned = Instant::now();
            std::thread::sleep(Duration::from_millis(500));
            stop.store(true, Ordering::Relaxed);
            let answers: Vec<_> = clients.into_iter().flat_map(|c| c.join().unwrap_or_default()).collect();
            promoted?;
            Ok((answers, returned))
        })?;
        let ok = |answer: &Option<(u16, String)>| matches!(answer, Some((200, _)));
        let after: Vec<_> = answers.iter().filter(|(sent, _)| *sent >= returned).collect();
        Ok(Switch {
            sent: answers.len(),
            failed: answers.iter().filter(|(_, answer)| !ok(answer)).count(),
            after_return: after.len(),
            after_return_on_v1: after
                .iter()
                .filter(|(_, answer)| answer.as_ref().is_some_and(|(_, body)| version(body) == "Version: v1"))
                .count(),
        })
    }
}

/// What the clients saw while `promote` switched the active Service.
struct Switch {
    sent: usize,
    failed: usize,
    after_return: usize,
    after_return_on_v1: usize,
}

fn status(tree: &Value, field: &str) -> Value {
    tree["rollout"]["status"][field].clone()
}

/// Whether the ReplicaSet of revision `hash` has been scaled to zero and its pods are gone.
fn scaled_down(tree: &Value, hash: &str) -> bool {
    let of_revision = |object: &&Value| object["metadata"]["labels"]["rollouts-pod-template-hash"] == hash;
    let sets = tree["replicaSets"].as_array().into_iter().flatten();
    let pods = tree["pods"].as_array().into_iter().flatten();
    sets.filter(of_revision).all(|rs| rs["spec"]["replicas"] == 0) && pods.filter(of_revision).count() == 0
}

/// The version line of the demo app's answer.
fn version(body: &str) -> String {
    body.split(" | ").nth(1).unwrap_or("unexpected answer").trim().to_string()
}

fn secs(seconds: f64) -> String {
    if seconds >= 1.0 { format!("{seconds:.0}s") } else { format!("{:.0}ms", seconds * 1000.0) }
}

fn server_log(server: &DemoServer) -> String {
    let log = std::fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    format!("server log (last lines):\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
}

fn wait<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One request to the router for `host`: the status code and the body.
fn request(web: SocketAddr, host: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(web)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((code, body.to_string()))
}

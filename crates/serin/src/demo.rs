//! `serin demo`: the seed's canary release on the local platform, for real. It starts a
//! server in a temporary data directory (real pod processes, the real router), applies the
//! seed's manifests unchanged, pushes v2, and at every step shows `get rollout` and the split
//! of 100 real requests through the router: 10% -> 30% -> 60% -> 100%, then v1 scaled down.
//! The seed's pauses (5m, 1m, 30s) run `--time-scale` times faster, and the demo says so.

use crate::client::{Client, ClientOptions};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const SEED: [(&str, &str); 3] = [
    ("argorollout-canary/rollout.yaml", include_str!("../../../examples/argo-demo/argorollout-canary/rollout.yaml")),
    ("argorollout-canary/service.yaml", include_str!("../../../examples/argo-demo/argorollout-canary/service.yaml")),
    ("argorollout-canary/ingress.yaml", include_str!("../../../examples/argo-demo/argorollout-canary/ingress.yaml")),
];

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

pub fn run(time_scale: f64, entrypoint: &str) -> Result<ExitCode> {
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

    println!("serin demo: the canary release of examples/argo-demo on the local platform");
    println!("  server {} (data in {}), router entry point web on {web}", info.api, server.dir.path().display());
    println!(
        "  pauses and delays run {time_scale}x faster: the example's 5m, 1m and 30s pauses take {}, {} and {}",
        secs(300.0 / time_scale),
        secs(60.0 / time_scale),
        secs(30.0 / time_scale)
    );
    println!("  try it meanwhile: curl -H 'Host: canary.myapp.com' http://{web}/\n");

    let files: Vec<Value> = SEED.iter().map(|(name, text)| json!({"name": name, "text": text})).collect();
    let applied = client.post("/api/v1/apply", &json!({"files": files}))?;
    for result in applied["results"].as_array().into_iter().flatten() {
        println!(
            "{} {}",
            result["object"].as_str().unwrap_or_default(),
            result["outcome"].as_str().unwrap_or_default()
        );
    }
    let tree_path = "/api/v1/rollouts/default/canary-rollout/tree";
    let status = |tree: &Value, field: &str| tree["rollout"]["status"][field].clone();
    wait(Duration::from_secs(60), "ten v1 pods", || {
        let tree = client.get(tree_path).ok()?;
        (status(&tree, "phase") == "Healthy" && status(&tree, "availableReplicas") == 10).then_some(())
    })
    .with_context(|| server_log(&server))?;
    show(&client, web, "v1 deployed: ten pods, all traffic on v1")?;

    println!("$ serin set image canary-rollout myapp=ikubernetes/myapp:v2   (the example's git push of v2)\n");
    client.post(
        "/api/v1/rollouts/default/canary-rollout/set-image",
        &json!({"container": "myapp", "image": "ikubernetes/myapp:v2"}),
    )?;
    for (step, weight) in [(1, 10), (3, 30), (5, 60)] {
        wait(Duration::from_secs(120), "the next pause", || {
            let tree = client.get(tree_path).ok()?;
            (status(&tree, "currentStepIndex") == step && status(&tree, "phase") == "Paused").then_some(())
        })
        .with_context(|| server_log(&server))?;
        show(&client, web, &format!("step {step}/7: {weight}% of traffic on v2, paused"))?;
    }
    wait(Duration::from_secs(120), "promotion and v1 scaled down", || {
        let tree = client.get(tree_path).ok()?;
        let v1_down = tree["replicaSets"].as_array()?.iter().all(|rs| {
            rs["metadata"]["labels"]["rollouts-pod-template-hash"] != "69dc9f5f56" || rs["spec"]["replicas"] == 0
        });
        (status(&tree, "phase") == "Healthy" && status(&tree, "stableRS") == "95d95c65" && v1_down).then_some(())
    })
    .with_context(|| server_log(&server))?;
    show(&client, web, "step 7/7: v2 promoted to stable; v1 scaled down after scaleDownDelaySeconds")?;
    println!("Done. Stopping the server and its pods.");
    Ok(ExitCode::SUCCESS)
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

/// Prints the rollout view and the version split of 100 requests through the router.
fn show(client: &Client, web: SocketAddr, title: &str) -> Result<()> {
    println!("── {title}");
    println!("$ serin get rollout canary-rollout");
    print!(
        "{}",
        crate::tree::render(
            &client.get("/api/v1/rollouts/default/canary-rollout/tree")?,
            crate::view::Paint::detect(false)
        )?
    );
    let mut split: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..100 {
        let body = request(web)?;
        let version = body.split(" | ").nth(1).unwrap_or("unexpected answer").trim().to_string();
        *split.entry(version).or_default() += 1;
    }
    let counts: Vec<String> = split.iter().map(|(version, n)| format!("{n} x {version}")).collect();
    println!("\n$ for i in $(seq 100); do curl -s -H 'Host: canary.myapp.com' http://{web}/; done | sort | uniq -c");
    println!("  {}\n", counts.join(", "));
    Ok(())
}

fn request(web: SocketAddr) -> Result<String> {
    let mut stream = TcpStream::connect(web)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET / HTTP/1.1\r\nHost: canary.myapp.com\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.split_once("\r\n\r\n").map_or(String::new(), |(_, body)| body.to_string()))
}

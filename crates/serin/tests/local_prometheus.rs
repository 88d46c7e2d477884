//! Analysis with a real Prometheus (Debian's package) scraping serin's `/metrics` every
//! second: a canary failing half its requests is aborted, a healthy one promoted; and bad
//! analysis input ends in Error or Inconclusive with a clear message.

mod common;
mod prometheus;

use common::{SEED, Server, status};
use prometheus::Prometheus;
use serde_json::Value;
use std::time::{Duration, Instant};

fn template(prometheus: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
spec:
  args:
  - name: canary-hash
  metrics:
  - name: success-rate
    interval: 2s
    initialDelay: 3s
    successCondition: result[0] >= 0.95
    failureLimit: 0
    inconclusiveLimit: 5
    provider:
      prometheus:
        address: {prometheus}
        query: |
          sum(rate(serin_router_requests_total{{revision=\"{{{{args.canary-hash}}}}\",code!=\"5xx\"}}[5s]))
          /
          sum(rate(serin_router_requests_total{{revision=\"{{{{args.canary-hash}}}}\"}}[5s]))
"
    )
}

fn rollout(image: &str, fail_percent: u32) -> String {
    std::fs::read_to_string(format!("{SEED}/rollout.yaml"))
        .unwrap()
        .replace(
            "      steps:  # 发布的节奏",
            "      analysis:\n        startingStep: 1\n        templates:\n        - templateName: success-rate\n        args:\n        - name: canary-hash\n          valueFrom:\n            podTemplateHashValue: Latest\n      steps:",
        )
        .replace("duration: 5m", "duration: 8s")
        .replace("duration: 1m", "duration: 2s")
        .replace("duration: 30s", "duration: 2s")
        .replace("ikubernetes/myapp:v1", image)
        .replace("        ports:\n        - name: http", &format!("        env:\n        - name: FAIL_PERCENT\n          value: \"{fail_percent}\"\n        ports:\n        - name: http"))
}

fn setup(server: &Server, prometheus: &Prometheus) -> std::path::PathBuf {
    let dir = server.dir.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["service.yaml", "ingress.yaml"] {
        std::fs::copy(format!("{SEED}/{file}"), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("template.yaml"), template(&prometheus.url)).unwrap();
    std::fs::write(dir.join("rollout.yaml"), rollout("ikubernetes/myapp:v1", 0)).unwrap();
    server.serin(&["apply", "-f", dir.to_str().unwrap()]);
    server.wait_for("v1 healthy", Duration::from_secs(60), |t| {
        status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10
    });
    dir
}

/// About 200 requests a second through the router while `f` runs.
fn under_load<T>(server: &Server, f: impl FnOnce() -> T) -> T {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (stop, server_web) = (stop.clone(), server.web);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(mut s) = std::net::TcpStream::connect(server_web) {
                        use std::io::{Read, Write};
                        let _ = write!(s, "GET / HTTP/1.1\r\nHost: canary.myapp.com\r\nConnection: close\r\n\r\n");
                        let _ = s.read_to_end(&mut Vec::new());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();
    let result = f();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    result
}

#[test]
fn prometheus_analysis_aborts_a_bad_canary_and_promotes_a_good_one() {
    let server = Server::start(1.0);
    let prometheus = Prometheus::start(server.api.trim_start_matches("http://"));
    let dir = setup(&server, &prometheus);
    std::fs::write(dir.join("rollout.yaml"), rollout("ikubernetes/myapp:v2", 50)).unwrap();
    let tree = under_load(&server, || {
        server.serin(&["apply", "-f", dir.to_str().unwrap()]);
        server.wait_for("abort by Prometheus analysis", Duration::from_secs(60), |t| status(t)["phase"] == "Degraded")
    });
    let message = status(&tree)["message"].as_str().unwrap();
    assert!(message.contains("Metric \"success-rate\" assessed Failed"), "{message}");
    assert_eq!(common::weights(&server, "traefik.io")[0], ("canary-active".to_string(), 0));
    let run = &tree["analysisRuns"][0];
    let measurements = run["status"]["metricResults"][0]["measurements"].as_array().unwrap();
    let last: f64 = measurements.last().unwrap()["value"].as_str().unwrap().trim_matches(['[', ']']).parse().unwrap();
    assert!((0.35..0.65).contains(&last), "about half the canary's requests failed: {last}");

    std::fs::write(dir.join("rollout.yaml"), rollout("ikubernetes/myapp:v3", 0)).unwrap();
    let tree = under_load(&server, || {
        server.serin(&["apply", "-f", dir.to_str().unwrap()]);
        server.wait_for("v3 promoted", Duration::from_secs(90), |t| {
            status(t)["phase"] == "Healthy"
                && status(t)["stableRS"] == status(t)["currentPodHash"]
                && status(t)["currentPodHash"] != "69dc9f5f56"
        })
    });
    let hash = status(&tree)["currentPodHash"].as_str().unwrap().to_string();
    let run = tree["analysisRuns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metadata"]["labels"]["rollouts-pod-template-hash"] == hash.as_str())
        .unwrap()
        .clone();
    let successful = run["status"]["metricResults"][0]["successful"].as_i64().unwrap_or(0);
    assert!(successful >= 1, "{run:#}");
    assert_ne!(run["status"]["phase"], "Failed");
}

fn run_manifest(name: &str, metric: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun\nmetadata:\n  name: {name}\nspec:\n  metrics:\n{metric}"
    )
}

fn wait_run(server: &Server, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = server.object("argoproj.io", "AnalysisRun", name);
        let phase = run["status"]["phase"].as_str().unwrap_or_default();
        if matches!(phase, "Successful" | "Failed" | "Error" | "Inconclusive") {
            return run;
        }
        assert!(Instant::now() < deadline, "run {name} did not finish: {run:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_analysis_input_is_an_error_or_inconclusive_with_a_clear_message() {
    let server = Server::start(1.0);
    let prometheus = Prometheus::start(server.api.trim_start_matches("http://"));
    let p = &prometheus.url;
    let cases = [
        (
            "unreachable",
            "  - name: m\n    successCondition: result >= 0.95\n    consecutiveErrorLimit: 0\n    provider:\n      prometheus:\n        address: http://127.0.0.1:9\n        query: up\n".to_string(),
            "Error",
            "cannot reach http://127.0.0.1:9",
        ),
        (
            "empty",
            format!(
                "  - name: m\n    successCondition: result[0] >= 0.95\n    provider:\n      prometheus:\n        address: {p}\n        query: up{{job=\"nope\"}}\n"
            ),
            "Inconclusive",
            "not enough data: 0 of the 1 sample needed were seen",
        ),
        (
            "nan",
            format!(
                "  - name: m\n    successCondition: result >= 0.95\n    provider:\n      prometheus:\n        address: {p}\n        query: 0/0\n"
            ),
            "Inconclusive",
            "not enough data",
        ),
        (
            "missing-arg",
            format!(
                "  - name: m\n    successCondition: result >= 0.95\n    provider:\n      prometheus:\n        address: {p}\n        query: up{{job=\"{{{{args.job}}}}\"}}\n  args:\n  - name: job\n"
            ),
            "Error",
            "argument 'job' has no value",
        ),
        (
            "garbage",
            format!(
                "  - name: m\n    successCondition: result == true\n    consecutiveErrorLimit: 0\n    provider:\n      web:\n        url: {p}/metrics\n        jsonPath: \"{{$.ok}}\"\n"
            ),
            "Error",
            "answered with something that is not JSON",
        ),
        (
            "index",
            format!(
                "  - name: m\n    successCondition: result[3] >= 0.95\n    consecutiveErrorLimit: 0\n    provider:\n      prometheus:\n        address: {p}\n        query: vector(1)\n"
            ),
            "Error",
            "index out of range",
        ),
    ];
    for (name, metric, _, _) in &cases {
        let file = server.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, run_manifest(name, metric)).unwrap();
        server.serin(&["apply", "-f", file.to_str().unwrap()]);
    }
    for (name, _, phase, message) in &cases {
        let run = wait_run(&server, name);
        assert_eq!(run["status"]["phase"], *phase, "{name}: {:#}", run["status"]);
        let text = run["status"].to_string();
        assert!(text.contains(message), "{name}: expected {message:?} in {:#}", run["status"]);
    }
}

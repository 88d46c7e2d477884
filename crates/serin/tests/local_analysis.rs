//! Analysis on the local platform: serin's native provider reads the router's own request
//! outcomes and aborts a failing canary within seconds; a healthy one passes and is promoted.
//! What people read about it: the run in the `get rollout` tree with its measurement counts,
//! `get analysisrun NAME`, and the analysis events in `describe rollout`.

mod common;

use common::{SEED, Server, mask, replicas_of, status};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TEMPLATE: &str = "apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
spec:
  args:
  - name: service
  metrics:
  - name: success-rate
    interval: 1s
    successCondition: result >= 0.95
    failureLimit: 0
    inconclusiveLimit: 2
    provider:
      serin:
        metric: success-rate
        window: 2s
        minRequests: 10
";

/// The seed's Rollout with background analysis from step 1 and the demo app's FAIL_PERCENT.
fn rollout(image: &str, fail_percent: u32) -> String {
    let text = std::fs::read_to_string(format!("{SEED}/rollout.yaml")).unwrap();
    text.replace(
        "      steps:  # 发布的节奏",
        "      analysis:\n        startingStep: 1\n        templates:\n        - templateName: success-rate\n        args:\n        - name: service\n          value: canary-active\n      steps:",
    )
    .replace("ikubernetes/myapp:v1", image)
    .replace(
        "        ports:\n        - name: http",
        &format!("        env:\n        - name: FAIL_PERCENT\n          value: \"{fail_percent}\"\n        ports:\n        - name: http"),
    )
}

fn start(server: &Server) -> std::path::PathBuf {
    let dir = server.dir.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["service.yaml", "ingress.yaml"] {
        std::fs::copy(format!("{SEED}/{file}"), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("template.yaml"), TEMPLATE).unwrap();
    std::fs::write(dir.join("rollout.yaml"), rollout("ikubernetes/myapp:v1", 0)).unwrap();
    server.serin(&["apply", "-f", dir.to_str().unwrap()]);
    server.wait_for("v1 healthy", Duration::from_secs(60), |t| {
        status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10
    });
    dir
}

/// Steady traffic (about 200 requests a second) until dropped.
struct Load(Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>);

impl Load {
    fn start(server: &Server) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..4)
            .map(|_| {
                let (stop, web) = (stop.clone(), server.web);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        if let Ok(mut stream) = std::net::TcpStream::connect(web) {
                            use std::io::{Read, Write};
                            let _ =
                                write!(stream, "GET / HTTP/1.1\r\nHost: canary.myapp.com\r\nConnection: close\r\n\r\n");
                            let _ = stream.read_to_end(&mut Vec::new());
                        }
                        std::thread::sleep(Duration::from_millis(20).saturating_sub(started.elapsed()));
                    }
                })
            })
            .collect();
        Load(stop, threads)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        for thread in self.1.drain(..) {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_failing_canary_is_aborted_by_the_native_provider_within_seconds() {
    let server = Server::start(1.0);
    let dir = start(&server);
    let _load = Load::start(&server);
    std::fs::write(dir.join("rollout.yaml"), rollout("ikubernetes/myapp:v2", 100)).unwrap();
    server.serin(&["apply", "-f", dir.to_str().unwrap()]);
    let at_step_one = server.wait_for("canary at 10%", Duration::from_secs(30), |t| status(t)["currentStepIndex"] == 1);
    let canary = status(&at_step_one)["currentPodHash"].as_str().unwrap().to_string();
    let started = Instant::now();
    let tree = server.wait_for("abort by analysis", Duration::from_secs(30), |t| status(t)["phase"] == "Degraded");
    let elapsed = started.elapsed();
    let message = status(&tree)["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("RolloutAborted: Rollout aborted update to revision 2: "), "{message}");
    assert!(message.contains("success-rate"), "{message}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}: {:#}", tree["analysisRuns"]);
    assert_eq!(common::weights(&server, "traefik.io")[0], ("canary-active".to_string(), 0));
    let run = &tree["analysisRuns"][0];
    assert_eq!(run["status"]["phase"], "Failed", "{run:#}");
    let measurements = run["status"]["metricResults"][0]["measurements"].as_array().unwrap();
    assert_eq!(measurements.last().unwrap()["phase"], "Failed", "{measurements:#?}");
    // The run sits under revision 2 beside its ReplicaSet, its INFO the non-zero counts of
    // successful, failed, inconclusive and error measurements (failureLimit 0: one failure).
    let run_name = run["metadata"]["name"].as_str().unwrap();
    assert_eq!(run_name, format!("canary-rollout-{canary}-2"));
    let view = server.serin(&["get", "rollout", "canary-rollout"]);
    let line = view.lines().find(|l| l.contains(&format!("α {run_name}"))).unwrap_or_else(|| panic!("{view}"));
    assert!(line.starts_with(&format!("│  └──α {run_name} ")), "{view}");
    let inconclusive: i64 =
        run["status"]["metricResults"].as_array().unwrap().iter().filter_map(|r| r["inconclusive"].as_i64()).sum();
    let info = if inconclusive > 0 { format!("✖ 1,? {inconclusive}") } else { "✖ 1".to_string() };
    assert!(line.contains("AnalysisRun  ✖ Failed") && line.ends_with(&format!("  {info}")), "{line:?}\n{view}");
    // Each phase the run went through is an event on the Rollout, in Argo's words.
    let described = server.serin(&["describe", "rollout", "canary-rollout"]);
    let event = |kind: &str, reason: &str, message: String| {
        let found =
            described.lines().any(|l| l.trim_start().starts_with(kind) && l.contains(reason) && l.ends_with(&message));
        assert!(found, "no {kind} {reason} event \"{message}\" in\n{described}");
    };
    let background = format!("Background Analysis Run '{run_name}' Status New:");
    event("Normal", "AnalysisRunRunning", format!("{background} 'Running' Previous: 'Pending'"));
    event("Warning", "AnalysisRunFailed", format!("{background} 'Failed' Previous: 'Running'"));
    server.wait_for("canary scaled down", Duration::from_secs(60), |t| replicas_of(t, &canary) == 0);
}

#[test]
fn a_healthy_canary_passes_and_is_promoted() {
    // Real time (the native provider's window is wall-clock); the seed's pauses shortened to 2s.
    let server = Server::start(1.0);
    let dir = start(&server);
    let _load = Load::start(&server);
    let quick = rollout("ikubernetes/myapp:v2", 0)
        .replace("duration: 5m", "duration: 2s")
        .replace("duration: 1m", "duration: 2s")
        .replace("duration: 30s", "duration: 2s");
    std::fs::write(dir.join("rollout.yaml"), quick).unwrap();
    server.serin(&["apply", "-f", dir.to_str().unwrap()]);
    let tree = server.wait_for("promoted", Duration::from_secs(90), |t| {
        let promoted = status(t)["phase"] == "Healthy" && status(t)["stableRS"] == status(t)["currentPodHash"];
        promoted
            && t["analysisRuns"]
                .as_array()
                .is_some_and(|runs| runs.iter().any(|r| r["status"]["phase"] == "Successful"))
    });
    let run = &tree["analysisRuns"][0];
    assert_eq!(run["status"]["phase"], "Successful", "{} {}", run["status"]["message"], run["status"]["runSummary"]);
    let measured = run["status"]["metricResults"][0]["count"].as_i64().unwrap();
    assert!(measured >= 3, "{run:#}");
}

#[test]
fn a_template_that_does_not_exist_is_an_error_that_aborts() {
    let server = Server::start(10.0);
    let dir = start(&server);
    server.serin(&["delete", "analysistemplate", "success-rate"]);
    std::fs::remove_file(dir.join("template.yaml")).unwrap();
    std::fs::write(dir.join("rollout.yaml"), rollout("ikubernetes/myapp:v2", 0)).unwrap();
    server.serin(&["apply", "-f", dir.to_str().unwrap()]);
    let tree = server.wait_for("abort", Duration::from_secs(30), |t| status(t)["phase"] == "Degraded");
    assert_eq!(
        status(&tree)["message"],
        "RolloutAborted: Rollout aborted update to revision 2: AnalysisTemplate 'success-rate' not found"
    );
}

#[test]
fn a_retry_after_a_failed_analysis_measures_again_in_a_new_run() {
    // The template is missing, so the analysis errs and the update is aborted; once it is
    // applied, `retry rollout` must measure afresh (a run named `.1`), not read the old verdict.
    let server = Server::start(1.0);
    let dir = start(&server);
    let _load = Load::start(&server);
    server.serin(&["delete", "analysistemplate", "success-rate"]);
    std::fs::remove_file(dir.join("template.yaml")).unwrap();
    std::fs::write(dir.join("rollout.yaml"), rollout("ikubernetes/myapp:v2", 0)).unwrap();
    server.serin(&["apply", "-f", dir.to_str().unwrap()]);
    let tree = server.wait_for("abort", Duration::from_secs(30), |t| status(t)["phase"] == "Degraded");
    let canary = status(&tree)["currentPodHash"].as_str().unwrap().to_string();
    let first = format!("canary-rollout-{canary}-2");
    server.apply_text("template.yaml", TEMPLATE);
    server.serin(&["retry", "rollout", "canary-rollout"]);
    let retried = format!("{first}.1");
    let tree = server.wait_for("the retry's run measuring", Duration::from_secs(30), |t| {
        let run = t["analysisRuns"].as_array().and_then(|runs| runs.iter().find(|r| r["metadata"]["name"] == retried));
        run.is_some_and(|r| r["status"]["metricResults"][0]["successful"].as_i64() >= Some(2))
    });
    assert_eq!(status(&tree)["phase"], "Paused", "not aborted again: {:#}", status(&tree));
    assert_eq!(status(&tree)["canary"]["currentBackgroundAnalysisRunStatus"]["name"], retried.as_str());
    let runs: Vec<&str> =
        tree["analysisRuns"].as_array().unwrap().iter().filter_map(|r| r["metadata"]["name"].as_str()).collect();
    assert!(runs.contains(&first.as_str()), "the failed run is kept for the record: {runs:?}");
    assert_eq!(common::weights(&server, "traefik.io")[0], ("canary-active".to_string(), 10));
}

#[test]
fn job_and_web_providers() {
    let server = Server::start(1.0);
    start(&server);
    let api = &server.api;
    let runs = [
        ("job-ok", "  - name: m\n    provider:\n      job:\n        spec:\n          template:\n            spec:\n              restartPolicy: Never\n              containers:\n              - name: check\n                image: busybox\n                command: [sh, -c, \"exit 0\"]\n".to_string(), "Successful", ""),
        ("job-fails", "  - name: m\n    provider:\n      job:\n        spec:\n          backoffLimit: 1\n          template:\n            spec:\n              restartPolicy: Never\n              containers:\n              - name: check\n                image: busybox\n                command: [sh, -c, \"echo broken >&2; exit 3\"]\n".to_string(), "Failed", ""),
        ("job-missing", "  - name: m\n    consecutiveErrorLimit: 0\n    provider:\n      job:\n        spec:\n          template:\n            spec:\n              restartPolicy: Never\n              containers:\n              - name: check\n                image: busybox\n                command: [serin-no-such-check]\n".to_string(), "Error", "exec: \\\"serin-no-such-check\\\": executable file not found in $PATH"),
        ("web-json-path", format!("  - name: m\n    successCondition: result == 10\n    provider:\n      web:\n        url: {api}/api/v1/object?group=argoproj.io&kind=Rollout&namespace=default&name=canary-rollout\n        jsonPath: \"{{$.spec.replicas}}\"\n"), "Successful", ""),
        ("web-missing-field", format!("  - name: m\n    successCondition: result == 10\n    consecutiveErrorLimit: 0\n    provider:\n      web:\n        url: {api}/api/v1/object?group=argoproj.io&kind=Rollout&namespace=default&name=canary-rollout\n        jsonPath: \"{{$.spec.nothing}}\"\n"), "Error", "no field \\\"nothing\\\""),
    ];
    for (name, metric, _, _) in &runs {
        let file = server.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, format!("apiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun\nmetadata:\n  name: {name}\nspec:\n  metrics:\n{metric}")).unwrap();
        server.serin(&["apply", "-f", file.to_str().unwrap()]);
    }
    for (name, _, phase, message) in &runs {
        let deadline = Instant::now() + Duration::from_secs(30);
        let run = loop {
            let run = server.object("argoproj.io", "AnalysisRun", name);
            if matches!(run["status"]["phase"].as_str(), Some("Successful" | "Failed" | "Error" | "Inconclusive")) {
                break run;
            }
            assert!(Instant::now() < deadline, "{name} did not finish: {run:#}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(run["status"]["phase"], *phase, "{name}: {:#}", run["status"]);
        assert!(run["status"].to_string().contains(message), "{name}: {message} not in {:#}", run["status"]);
    }
    // `get analysisrun NAME`: the run's phase and message, then each metric's measurements.
    let views: Vec<String> = [["get", "analysisrun", "web-json-path"], ["get", "ar", "web-missing-field"]]
        .iter()
        .map(|args| format!("$ serin {}\n{}\n", args.join(" "), mask(&server.serin(args))))
        .collect();
    insta::assert_snapshot!(views.concat());
    // Job metrics ran as one-off pods, which people can list and read.
    let pods = server.serin(&["get", "pods"]);
    let line = pods.lines().find(|l| l.starts_with("job-ok-m-")).unwrap_or_else(|| panic!("{pods}"));
    assert!(line.contains("Succeeded"), "{line}");
    let failed: Vec<&str> = pods.lines().filter(|l| l.starts_with("job-fails-m-")).collect();
    assert_eq!(failed.len(), 2, "backoffLimit 1: two attempts\n{pods}");
    let pod = failed[0].split_whitespace().next().unwrap();
    assert!(server.serin(&["logs", pod]).contains("broken"));
}

//! A blue-green release on the local platform with real traffic: the preview revision comes
//! up behind its own host while the active host still answers v1, promotion switches the
//! active Service with no failed request under load and before `promote` returns, and the old
//! ReplicaSet scales down after `scaleDownDelaySeconds`.

mod common;

use common::{Server, replicas_of, status};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

const MANIFESTS: &str = "
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: bluegreen
spec:
  replicas: 2
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: bluegreen
  template:
    metadata:
      labels:
        app: bluegreen
    spec:
      containers:
      - name: myapp
        image: ikubernetes/myapp:v1
        ports:
        - name: http
          containerPort: 80
  strategy:
    blueGreen:
      activeService: bluegreen-active
      previewService: bluegreen-preview
      autoPromotionEnabled: false
---
apiVersion: v1
kind: Service
metadata:
  name: bluegreen-active
spec:
  selector:
    app: bluegreen
  ports:
  - name: http
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: bluegreen-preview
spec:
  selector:
    app: bluegreen
  ports:
  - name: http
    port: 80
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: bluegreen
spec:
  entryPoints:
  - web
  routes:
  - match: Host(`active.bluegreen.test`)
    kind: Rule
    services:
    - name: bluegreen-active
      port: 80
  - match: Host(`preview.bluegreen.test`)
    kind: Rule
    services:
    - name: bluegreen-preview
      port: 80
";

fn wait(server: &Server, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    server.wait_for_rollout("bluegreen", what, WAIT, check)
}

/// How many of `n` requests to `host` answered each version; every one must succeed.
fn versions(server: &Server, host: &str, n: usize) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..n {
        let (code, body) = server.get(host, "/");
        assert_eq!(code, 200, "{host}: {body}");
        *counts.entry(version(&body)).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

fn version(body: &str) -> String {
    body.split(" | ").nth(1).unwrap_or(body).trim().to_string()
}

#[test]
fn set_image_previews_v2_then_promote_switches_active_without_a_failed_request() {
    let server = Server::start(10.0);
    server.apply_text("bluegreen.yaml", MANIFESTS);
    let tree = wait(&server, "v1 healthy", |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 2);
    let v1 = status(&tree)["currentPodHash"].as_str().unwrap().to_string();
    assert_eq!(versions(&server, "active.bluegreen.test", 10), [("Version: v1".to_string(), 10)]);

    server.serin(&["set", "image", "bluegreen", "myapp=ikubernetes/myapp:v2"]);
    let tree = wait(&server, "paused with the preview up", |t| {
        status(t)["phase"] == "Paused" && status(t)["message"] == "BlueGreenPause"
    });
    let v2 = status(&tree)["currentPodHash"].as_str().unwrap().to_string();
    assert_eq!(status(&tree)["blueGreen"]["activeSelector"], v1.as_str());
    assert_eq!(status(&tree)["blueGreen"]["previewSelector"], v2.as_str());
    assert_eq!(versions(&server, "active.bluegreen.test", 20), [("Version: v1".to_string(), 20)]);
    assert_eq!(versions(&server, "preview.bluegreen.test", 20), [("Version: v2".to_string(), 20)]);
    // `get rollout` as kubectl-argo-rollouts prints a paused blue-green rollout.
    let view = server.serin(&["get", "rollout", "bluegreen", "--no-color"]);
    let header: Vec<&str> =
        view.lines().filter(|l| !l.starts_with("TimeScale:")).take_while(|l| !l.is_empty()).collect();
    let expected = [
        "Name:            bluegreen",
        "Namespace:       default",
        "Status:          ॥ Paused",
        "Message:         BlueGreenPause",
        "Strategy:        BlueGreen",
        "Images:          ikubernetes/myapp:v1 (stable, active)",
        "                 ikubernetes/myapp:v2 (preview)",
        "Replicas:",
        "  Desired:       2",
        "  Current:       4",
        "  Updated:       2",
        "  Ready:         2",
        "  Available:     2",
    ];
    assert_eq!(header, expected, "{view}");
    let tags = |hash: &str| {
        let line = view.lines().find(|l| l.contains(&format!("bluegreen-{hash}")) && l.contains("ReplicaSet"));
        line.map(|l| l.split_whitespace().last().unwrap_or_default().to_string())
    };
    assert_eq!((tags(&v1), tags(&v2)), (Some("stable,active".into()), Some("preview".into())), "{view}");

    // Steady load on the active host while `serin promote` runs.
    let stop = AtomicBool::new(false);
    let (answers, returned) = std::thread::scope(|scope| {
        let load = scope.spawn(|| server.load("active.bluegreen.test", "/", &stop));
        std::thread::sleep(Duration::from_millis(300));
        server.serin(&["promote", "bluegreen"]);
        let returned = Instant::now();
        wait(&server, "active on v2", |t| status(t)["blueGreen"]["activeSelector"] == v2.as_str());
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        (load.join().unwrap(), returned)
    });
    let failed: Vec<_> = answers.iter().filter(|(_, code, _)| *code != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the switch: {:?}",
        failed.len(),
        answers.len(),
        failed.first()
    );
    assert!(answers.iter().any(|(_, _, body)| version(body) == "Version: v1"), "the load reached v1 before promote");
    // The API answers `promote` once the router serves the new revision on the active Service.
    let after: Vec<_> = answers.iter().filter(|(sent, _, _)| *sent >= returned).collect();
    assert!(after.len() >= 50, "only {} requests sent after promote returned", after.len());
    let late = after.iter().filter(|(_, _, body)| version(body) != "Version: v2").count();
    assert_eq!(late, 0, "requests sent after `serin promote` returned still reached v1");

    let tree = wait(&server, "healthy on v2", |t| status(t)["phase"] == "Healthy");
    assert_eq!(status(&tree)["stableRS"], v2.as_str());
    assert_eq!(versions(&server, "active.bluegreen.test", 20), [("Version: v2".to_string(), 20)]);
    assert_eq!(replicas_of(&tree, &v1), 2, "the old revision waits for scaleDownDelaySeconds");
    // scaleDownDelaySeconds: 30 (the default) at 10x: 3 s after the switch.
    wait(&server, "v1 scaled down", |t| replicas_of(t, &v1) == 0);
    let after = returned.elapsed();
    assert!(after >= Duration::from_millis(2_500), "v1 scaled down {after:?} after promote, before the delay");
}

/// A post-promotion analysis that measures until stopped: a job that sleeps.
const HOLD: &str = "
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: hold
spec:
  metrics:
  - name: hold
    provider:
      job:
        spec:
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: hold
                image: busybox
                command: [sleep, \"600\"]
";

/// Requests to the active host while `command` runs: which versions answered those sent after
/// it returned, and whether every request succeeded.
fn under_load(server: &Server, command: &[&str]) -> (Vec<String>, bool) {
    let stop = AtomicBool::new(false);
    let (answers, returned) = std::thread::scope(|scope| {
        let load = scope.spawn(|| server.load("active.bluegreen.test", "/", &stop));
        std::thread::sleep(Duration::from_millis(300));
        server.serin(command);
        let returned = Instant::now();
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        (load.join().unwrap(), returned)
    });
    let all_ok = answers.iter().all(|(_, code, _)| *code == 200);
    let after = answers.iter().filter(|(sent, _, _)| *sent >= returned).map(|(_, _, body)| version(body)).collect();
    (after, all_ok)
}

#[test]
fn abort_during_post_promotion_analysis_switches_active_back_before_it_returns() {
    let server = Server::start(10.0);
    let manifests = MANIFESTS.replace(
        "      autoPromotionEnabled: false\n",
        "      autoPromotionEnabled: false\n      postPromotionAnalysis:\n        templates:\n        - templateName: hold\n",
    );
    server.apply_text("bluegreen.yaml", &format!("{manifests}{HOLD}"));
    let tree = wait(&server, "v1 healthy", |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 2);
    let v1 = status(&tree)["currentPodHash"].as_str().unwrap().to_string();
    server.serin(&["set", "image", "bluegreen", "myapp=ikubernetes/myapp:v2"]);
    wait(&server, "paused", |t| status(t)["message"] == "BlueGreenPause");

    let (after, all_ok) = under_load(&server, &["promote", "bluegreen"]);
    let late = after.iter().filter(|v| *v != "Version: v2").count();
    assert!(all_ok && after.len() >= 50 && late == 0, "{late} of {} answered v1 after `promote` returned", after.len());
    let tree = wait(&server, "post-promotion analysis running", |t| {
        status(t)["blueGreen"]["postPromotionAnalysisRunStatus"]["status"] == "Running"
    });
    assert_eq!(status(&tree)["stableRS"], v1.as_str(), "not stable before the analysis passes");
    assert_eq!(status(&tree)["message"], "waiting for analysis to complete");
    assert_eq!(replicas_of(&tree, &v1), 2, "the previous active revision is still up");

    let (after, all_ok) = under_load(&server, &["abort", "bluegreen"]);
    assert!(all_ok, "a request failed while switching back");
    let late = after.iter().filter(|v| *v != "Version: v1").count();
    assert!(after.len() >= 50 && late == 0, "{late} of {} answered v2 after `abort` returned", after.len());
    let tree = wait(&server, "Degraded", |t| status(t)["phase"] == "Degraded");
    assert_eq!(status(&tree)["blueGreen"]["activeSelector"], v1.as_str());
}

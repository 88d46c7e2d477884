//! A blue-green release on the local platform with real traffic, from examples/bluegreen: the
//! preview revision comes up behind its own host while the active host still answers v1,
//! promotion switches the active Service with no failed request under load and before
//! `promote` returns, and the old ReplicaSet scales down after `scaleDownDelaySeconds`; an
//! abort before the switch leaves users on v1 and `retry` brings the preview back.

mod common;

use common::{Server, replicas_of, status};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/bluegreen");
const ACTIVE: &str = "bluegreen.myapp.com";
const PREVIEW: &str = "preview.bluegreen.myapp.com";

/// examples/bluegreen's three files as one text, `change` applied to the Rollout's.
fn manifests(change: impl Fn(String) -> String) -> String {
    let read = |file: &str| std::fs::read_to_string(format!("{EXAMPLE}/{file}")).unwrap();
    [change(read("rollout.yaml")), read("services.yaml"), read("ingressroute.yaml")].join("---\n")
}

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

/// Each revision's pods and the `role` label they carry, if they all carry the same one.
fn pod_roles(tree: &Value) -> BTreeMap<String, Option<String>> {
    let mut roles = BTreeMap::<String, std::collections::BTreeSet<Option<String>>>::new();
    for pod in tree["pods"].as_array().into_iter().flatten() {
        let labels = &pod["metadata"]["labels"];
        let hash = labels["rollouts-pod-template-hash"].as_str().unwrap_or_default().to_string();
        roles.entry(hash).or_default().insert(labels["role"].as_str().map(str::to_string));
    }
    roles
        .into_iter()
        .map(|(hash, roles)| {
            assert_eq!(roles.len(), 1, "the pods of {hash} disagree on their role: {roles:?}");
            (hash, roles.into_iter().next().flatten())
        })
        .collect()
}

/// Requests to the active host from four clients while `command` runs, and the instant it
/// returned: every answer with the instant it was sent, its status and body.
fn under_load(server: &Server, command: &[&str], after_return: Duration) -> (Vec<(Instant, u16, String)>, Instant) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..4).map(|_| scope.spawn(|| server.load(ACTIVE, "/", &stop))).collect();
        std::thread::sleep(Duration::from_millis(300));
        server.serin(command);
        let returned = Instant::now();
        std::thread::sleep(after_return);
        stop.store(true, Ordering::Relaxed);
        (clients.into_iter().flat_map(|c| c.join().unwrap()).collect(), returned)
    })
}

/// Whether every request succeeded, and the versions that answered those sent after the
/// command returned.
fn answered_after(answers: &[(Instant, u16, String)], returned: Instant) -> (bool, Vec<String>) {
    let all_ok = answers.iter().all(|(_, code, _)| *code == 200);
    let after = answers.iter().filter(|(sent, _, _)| *sent >= returned).map(|(_, _, body)| version(body)).collect();
    (all_ok, after)
}

/// `get rollout` as kubectl-argo-rollouts prints a paused blue-green rollout (its own test
/// data, `get_test.go`'s TestGetBlueGreenRollout, has the same lines for its rollout).
fn assert_matches_fixture(server: &Server, fixture: &str) {
    let view = server.serin(&["get", "rollout", "bluegreen", "--no-color"]);
    let expected = std::fs::read_to_string(format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let shown: Vec<&str> = view.lines().filter(|l| !l.starts_with("TimeScale:")).collect();
    assert_eq!(common::mask(&shown.join("\n")), common::mask(&expected), "{view}");
}

/// Applies `manifests`, waits for v1 healthy and returns its pod-template hash.
fn deployed(server: &Server, manifests: &str) -> String {
    server.apply_text("bluegreen.yaml", manifests);
    let tree = wait(server, "v1 healthy", |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 3);
    status(&tree)["currentPodHash"].as_str().unwrap().to_string()
}

/// Sets v2 and waits for the pause before the switch, the preview up: returns the tree.
fn previewing_v2(server: &Server) -> Value {
    server.serin(&["set", "image", "bluegreen", "myapp=ikubernetes/myapp:v2"]);
    wait(server, "paused with the preview up", |t| {
        status(t)["phase"] == "Paused" && status(t)["message"] == "BlueGreenPause" && status(t)["replicas"] == 6
    })
}

#[test]
fn set_image_previews_v2_then_promote_switches_active_without_a_failed_request() {
    let server = Server::start(10.0);
    let with_metadata = |rollout: String| {
        let roles = "      previewMetadata:\n        labels:\n          role: preview\n      activeMetadata:\n        labels:\n          role: active\n";
        rollout.replace("      autoPromotionEnabled: false\n", &format!("      autoPromotionEnabled: false\n{roles}"))
    };
    let v1 = deployed(&server, &manifests(with_metadata));
    assert_eq!(versions(&server, ACTIVE, 10), [("Version: v1".to_string(), 10)]);

    let tree = previewing_v2(&server);
    let v2 = status(&tree)["currentPodHash"].as_str().unwrap().to_string();
    assert_eq!(status(&tree)["blueGreen"]["activeSelector"], v1.as_str());
    assert_eq!(status(&tree)["blueGreen"]["previewSelector"], v2.as_str());
    assert_eq!(versions(&server, ACTIVE, 20), [("Version: v1".to_string(), 20)]);
    assert_eq!(versions(&server, PREVIEW, 20), [("Version: v2".to_string(), 20)]);
    assert_matches_fixture(&server, "bluegreen-paused.txt");
    assert_eq!(
        pod_roles(&tree),
        BTreeMap::from([(v1.clone(), Some("active".into())), (v2.clone(), Some("preview".into()))])
    );

    // Steady load on the active host from four clients while `serin promote` runs.
    let (answers, returned) = under_load(&server, &["promote", "bluegreen"], Duration::from_millis(700));
    let failed: Vec<_> = answers.iter().filter(|(_, code, _)| *code != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the switch: {:?}",
        failed.len(),
        answers.len(),
        failed.first()
    );
    let first = answers.iter().map(|(sent, _, _)| *sent).min().unwrap();
    let last = answers.iter().map(|(sent, _, _)| *sent).max().unwrap();
    let rate = answers.len() as f64 / last.duration_since(first).as_secs_f64();
    assert!(rate >= 200.0, "the load was {rate:.0} requests/s, below the 200 the switch must hold under");
    assert!(answers.iter().any(|(_, _, body)| version(body) == "Version: v1"), "the load reached v1 before promote");
    // The API answers `promote` once the router serves the new revision on the active Service.
    let (_, after) = answered_after(&answers, returned);
    let late = after.iter().filter(|v| *v != "Version: v2").count();
    assert!(after.len() >= 50, "only {} requests sent after promote returned", after.len());
    assert_eq!(late, 0, "requests sent after `serin promote` returned still reached v1");

    let tree = wait(&server, "healthy on v2", |t| status(t)["phase"] == "Healthy");
    assert_eq!(status(&tree)["stableRS"], v2.as_str());
    assert_eq!(versions(&server, ACTIVE, 20), [("Version: v2".to_string(), 20)]);
    // activeMetadata moved to v2's pods; v1's, waiting for the scale-down, have no role.
    let tree = wait(&server, "v2's pods active", |t| pod_roles(t).get(&v2) == Some(&Some("active".into())));
    assert_eq!(pod_roles(&tree), BTreeMap::from([(v1.clone(), None), (v2.clone(), Some("active".into()))]));
    assert_eq!(replicas_of(&tree, &v1), 3, "the old revision waits for scaleDownDelaySeconds");
    // scaleDownDelaySeconds: 30 at 10x: 3 s after the switch.
    wait(&server, "v1 scaled down", |t| replicas_of(t, &v1) == 0);
    let after = returned.elapsed();
    assert!(after >= Duration::from_millis(2_500), "v1 scaled down {after:?} after promote, before the delay");
}

/// Argo's documented abort of a blue-green update before promotion: the active Service stays
/// on the stable revision, the new ReplicaSet scales down after abortScaleDownDelaySeconds, the
/// rollout is Degraded; `retry` brings the preview back and pauses again for promotion.
#[test]
fn abort_before_the_switch_keeps_users_on_v1_and_retry_brings_the_preview_back() {
    let server = Server::start(10.0);
    let v1 = deployed(&server, &manifests(|r| r));
    let tree = previewing_v2(&server);
    let v2 = status(&tree)["currentPodHash"].as_str().unwrap().to_string();

    let (answers, returned) = under_load(&server, &["abort", "bluegreen"], Duration::from_millis(300));
    let (all_ok, after) = answered_after(&answers, returned);
    assert!(all_ok && after.iter().all(|v| v == "Version: v1"), "users left v1 or failed during the abort: {after:?}");
    let tree = wait(&server, "Degraded", |t| status(t)["phase"] == "Degraded");
    assert_eq!(status(&tree)["message"], "RolloutAborted: Rollout aborted update to revision 2");
    assert_eq!(status(&tree)["blueGreen"]["activeSelector"], v1.as_str());
    // abortScaleDownDelaySeconds: 30 (the default) at 10x.
    let aborted = Instant::now();
    wait(&server, "v2 scaled down after the abort", |t| replicas_of(t, &v2) == 0);
    assert!(aborted.elapsed() >= Duration::from_millis(2_000), "v2 scaled down before abortScaleDownDelaySeconds");
    assert_eq!(versions(&server, ACTIVE, 20), [("Version: v1".to_string(), 20)]);

    server.serin(&["retry", "rollout", "bluegreen"]);
    let tree = wait(&server, "paused again with the preview up", |t| {
        status(t)["message"] == "BlueGreenPause" && replicas_of(t, &v2) == 3 && status(t)["availableReplicas"] == 3
    });
    assert_eq!(status(&tree)["abort"], Value::Null, "retry clears the abort");
    assert_eq!(versions(&server, PREVIEW, 20), [("Version: v2".to_string(), 20)]);
    assert_eq!(versions(&server, ACTIVE, 20), [("Version: v1".to_string(), 20)]);
    server.serin(&["promote", "bluegreen"]);
    wait(&server, "healthy on v2", |t| status(t)["phase"] == "Healthy" && status(t)["stableRS"] == v2.as_str());
    assert_eq!(versions(&server, ACTIVE, 20), [("Version: v2".to_string(), 20)]);
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

#[test]
fn abort_during_post_promotion_analysis_switches_active_back_before_it_returns() {
    let server = Server::start(10.0);
    let manifests = manifests(|rollout| {
        rollout.replace(
            "      autoPromotionEnabled: false\n",
            "      autoPromotionEnabled: false\n      postPromotionAnalysis:\n        templates:\n        - templateName: hold\n",
        )
    });
    let v1 = deployed(&server, &format!("{manifests}{HOLD}"));
    previewing_v2(&server);

    let (answers, returned) = under_load(&server, &["promote", "bluegreen"], Duration::from_millis(500));
    let (all_ok, after) = answered_after(&answers, returned);
    let late = after.iter().filter(|v| *v != "Version: v2").count();
    assert!(all_ok && after.len() >= 50 && late == 0, "{late} of {} answered v1 after `promote` returned", after.len());
    let tree = wait(&server, "post-promotion analysis running", |t| {
        status(t)["blueGreen"]["postPromotionAnalysisRunStatus"]["status"] == "Running"
    });
    assert_eq!(status(&tree)["stableRS"], v1.as_str(), "not stable before the analysis passes");
    assert_eq!(status(&tree)["message"], "waiting for analysis to complete");
    assert_eq!(replicas_of(&tree, &v1), 3, "the previous active revision is still up");

    let (answers, returned) = under_load(&server, &["abort", "bluegreen"], Duration::from_millis(500));
    let (all_ok, after) = answered_after(&answers, returned);
    assert!(all_ok, "a request failed while switching back");
    let late = after.iter().filter(|v| *v != "Version: v1").count();
    assert!(after.len() >= 50 && late == 0, "{late} of {} answered v2 after `abort` returned", after.len());
    let tree = wait(&server, "Degraded", |t| status(t)["phase"] == "Degraded");
    assert_eq!(status(&tree)["blueGreen"]["activeSelector"], v1.as_str());
}

#[test]
fn the_demo_tells_the_blue_green_story() {
    let out = std::process::Command::new(common::serin_binary())
        .args(["demo", "--strategy", "bluegreen", "--time-scale", "10"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let splits: Vec<&str> = stdout.lines().filter(|l| l.contains(" x Version: ")).map(str::trim).collect();
    // v1 alone; then v1 on the active host and v2 on the preview host; then v2, twice.
    assert_eq!(
        splits,
        ["100 x Version: v1", "100 x Version: v1", "100 x Version: v2", "100 x Version: v2", "100 x Version: v2"]
    );
    let switch = stdout.lines().find(|l| l.contains("requests during the switch")).unwrap_or_default();
    let figures: Vec<usize> =
        switch.split_whitespace().filter_map(|w| w.trim_end_matches([',', ';']).parse().ok()).collect();
    assert!(
        matches!(figures[..], [sent, 0, after, 0] if sent > after && after > 0),
        "the switch failed requests or left users on v1: {switch}"
    );
    let old = stdout.lines().rev().find(|l| l.contains("└──⧉ bluegreen-7f4cb9b679 "));
    assert!(old.is_some_and(|l| l.contains("ReplicaSet  • ScaledDown")), "{stdout}");
}

/// Argo Rollouts' own examples/rollout-bluegreen.yaml, unchanged, on the local platform: its
/// `argoproj/rollouts-demo` image runs serin's demo app through an `--images` table, and an
/// IngressRoute (the example has none: Argo's docs port-forward) gives each Service a host.
#[test]
fn argos_blue_green_example_runs_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    let serin = common::serin_binary();
    std::fs::write(&images, format!("argoproj/rollouts-demo:{{tag}} {} demo-app --version {{tag}}\n", serin.display()))
        .unwrap();
    let server = Server::start_with(10.0, &["--images", images.to_str().unwrap()]);
    let example =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../serin-model/tests/accepted/argo-example-rollout-bluegreen.yaml");
    server.serin(&["apply", "-f", example]);
    let routes = std::fs::read_to_string(format!("{EXAMPLE}/ingressroute.yaml"))
        .unwrap()
        .replace("bluegreen-active", "rollout-bluegreen-active")
        .replace("bluegreen-preview", "rollout-bluegreen-preview");
    server.apply_text("routes.yaml", &routes);
    let wait =
        |what: &str, check: &dyn Fn(&Value) -> bool| server.wait_for_rollout("rollout-bluegreen", what, WAIT, check);
    wait("blue healthy", &|t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 2);
    assert_eq!(versions(&server, ACTIVE, 10), [("Version: blue".to_string(), 10)]);

    server.serin(&["set", "image", "rollout-bluegreen", "rollouts-demo=argoproj/rollouts-demo:green"]);
    wait("green previewed", &|t| status(t)["message"] == "BlueGreenPause" && status(t)["replicas"] == 4);
    assert_eq!(versions(&server, ACTIVE, 10), [("Version: blue".to_string(), 10)]);
    assert_eq!(versions(&server, PREVIEW, 10), [("Version: green".to_string(), 10)]);
    server.serin(&["promote", "rollout-bluegreen"]);
    assert_eq!(versions(&server, ACTIVE, 10), [("Version: green".to_string(), 10)]);
    wait("green stable", &|t| status(t)["phase"] == "Healthy");
}

/// As on a cluster (Argo's InvalidSpec): a Rollout applied before a Service it names waits,
/// Degraded, creating nothing, and goes on as soon as the Service is applied.
#[test]
fn a_rollout_whose_preview_service_is_missing_waits_for_it() {
    let server = Server::start(10.0);
    let read = |file: &str| std::fs::read_to_string(format!("{EXAMPLE}/{file}")).unwrap();
    let services = read("services.yaml");
    let (active, preview) = services.split_once("---\n").unwrap();
    server.apply_text("first.yaml", &format!("{}---\n{active}", read("rollout.yaml")));
    let tree = wait(&server, "InvalidSpec", |t| status(t)["phase"] == "Degraded");
    let message = "InvalidSpec: The Rollout \"bluegreen\" is invalid: spec.strategy.blueGreen.previewService: \
        Invalid value: \"bluegreen-preview\": service \"bluegreen-preview\" not found";
    assert_eq!(status(&tree)["message"], message);
    assert_eq!(tree["replicaSets"].as_array().map(Vec::len), Some(0), "nothing is created meanwhile");
    server.apply_text("preview.yaml", preview);
    wait(&server, "healthy once the Service exists", |t| {
        status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 3
    });
}

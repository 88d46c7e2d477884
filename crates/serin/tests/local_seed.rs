//! The seed's canary release on the local platform, end to end: the real server, real pod
//! processes, real HTTP through the router, the real CLI.

mod common;

use common::{SEED, Server, ready_pods_of, replicas_of, status, weights};
use std::time::{Duration, Instant};

const V1: &str = "69dc9f5f56";
const V2: &str = "95d95c65";
const WAIT: Duration = Duration::from_secs(60);

fn paused_at(step: i64) -> impl Fn(&serde_json::Value) -> bool {
    move |tree| status(tree)["currentStepIndex"] == step && status(tree)["phase"] == "Paused"
}

#[test]
fn the_seed_scenario_with_real_traffic() {
    // 10x: the seed's pauses are promoted by hand below; scaleDownDelaySeconds 30s takes 3s.
    let server = Server::start(10.0);
    let applied = server.serin(&["apply", "-f", SEED]);
    assert!(applied.contains("rollout.argoproj.io/canary-rollout created"), "{applied}");
    assert!(applied.contains("traefikservice.traefik.containo.us/canary-service created"), "{applied}");
    assert!(applied.contains("traefikservice.traefik.io/canary-service created"), "{applied}");
    let again = server.serin(&["apply", "-f", SEED]);
    assert_eq!(again.matches("unchanged").count(), 6, "{again}");

    let tree = server
        .wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10);
    assert_eq!(tree["replicaSets"][0]["metadata"]["name"], "canary-rollout-69dc9f5f56");
    assert_eq!(
        server.get("canary.myapp.com", "/"),
        (200, "Hello MyApp | Version: v1 | <a href=\"hostname.html\">Pod Name</a>\n".into())
    );
    let (_, pod) = server.get("canary.myapp.com", "/hostname.html");
    assert!(pod.starts_with("canary-rollout-69dc9f5f56-"), "{pod}");
    assert_eq!(server.get("other.example.com", "/").0, 404);

    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    let tree = server.wait_for("step 1", WAIT, paused_at(1));
    let s = status(&tree);
    assert_eq!(
        (s["replicas"].as_i64(), s["updatedReplicas"].as_i64(), s["message"].as_str()),
        (Some(11), Some(1), Some("CanaryPauseStep"))
    );
    assert_eq!((replicas_of(&tree, V1), replicas_of(&tree, V2)), (10, 1));
    let names: Vec<&str> =
        tree["replicaSets"].as_array().unwrap().iter().map(|rs| rs["metadata"]["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"canary-rollout-95d95c65") && names.contains(&"canary-rollout-69dc9f5f56"), "{names:?}");
    for group in ["traefik.io", "traefik.containo.us"] {
        assert_eq!(weights(&server, group), [("canary-active".into(), 10), ("canary-preview".into(), 90)], "{group}");
    }
    let view = server.serin(&["get", "rollout", "canary-rollout"]);
    for line in [
        "Status:          ॥ Paused",
        "Message:         CanaryPauseStep",
        "  Step:          1/7",
        "  SetWeight:     10",
        "  ActualWeight:  10",
        "  Current:       11",
        "  Updated:       1",
        "TimeScale:       10x (pauses and delays pass 10 times faster)",
    ] {
        assert!(view.contains(line), "missing {line:?} in\n{view}");
    }
    assert_eq!(server.versions(10).get("Version: v2"), Some(&1));
    assert_eq!(server.versions(100).get("Version: v2"), Some(&10));

    server.serin(&["promote", "canary-rollout"]);
    let tree = server.wait_for("step 3", WAIT, paused_at(3));
    assert_eq!((replicas_of(&tree, V2), ready_pods_of(&tree, V2)), (3, 3));
    assert_eq!(server.versions(100).get("Version: v2"), Some(&30));

    server.serin(&["promote", "canary-rollout"]);
    let tree = server.wait_for("step 5", WAIT, paused_at(5));
    assert_eq!((replicas_of(&tree, V2), ready_pods_of(&tree, V2)), (6, 6));
    assert_eq!(server.versions(100).get("Version: v2"), Some(&60));

    server.serin(&["promote", "canary-rollout"]);
    let tree = server.wait_for("v2 healthy", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["stableRS"] == V2);
    let healthy = Instant::now();
    assert_eq!(replicas_of(&tree, V1), 10, "v1 stays up for scaleDownDelaySeconds");
    assert_eq!(server.versions(100).get("Version: v2"), Some(&100));
    for group in ["traefik.io", "traefik.containo.us"] {
        assert_eq!(weights(&server, group), [("canary-active".into(), 0), ("canary-preview".into(), 100)], "{group}");
    }
    // scaleDownDelaySeconds: 30 at 10x.
    common::assert_scaled_down_after(&server, V1, healthy, Duration::from_secs(3));
    // The rollout's counts follow its ReplicaSets' status, which lags the scale-down by one
    // reconcile (as in Argo Rollouts): wait for both.
    server.wait_for("v1 scaled down after scaleDownDelaySeconds", WAIT, |t| {
        replicas_of(t, V1) == 0 && status(t)["availableReplicas"] == 10 && status(t)["replicas"] == 10
    });
    assert_eq!(server.versions(20).get("Version: v2"), Some(&20));

    let metrics = ureq::get(&format!("{}/metrics", server.api)).call().unwrap().body_mut().read_to_string().unwrap();
    let count = |needle: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        count("serin_router_requests_total{replicaset=\"canary-rollout-95d95c65\",revision=\"95d95c65\",code=\"2xx\"}")
            >= 220,
        "{metrics}"
    );
    assert!(
        metrics.contains("serin_router_request_duration_seconds_bucket{replicaset=\"canary-rollout-69dc9f5f56\""),
        "{metrics}"
    );
    assert!(metrics.contains("serin_router_retries_total 0"), "{metrics}");
    assert!(
        metrics
            .lines()
            .filter(|l| l.starts_with("serin_pod_memory_bytes{namespace=\"default\",pod=\"canary-rollout-95d95c65-"))
            .count()
            == 10,
        "{metrics}"
    );
}

#[test]
fn the_demo_runs_the_seed_story() {
    // 30x: the seed's shortest pause (30s) lasts one second, time enough for the demo to
    // print the previous step on a loaded machine before it must catch the next pause.
    let out = std::process::Command::new(common::serin_binary()).args(["demo", "--time-scale", "30"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let splits: Vec<&str> = stdout.lines().filter(|l| l.contains(" x Version: ")).map(str::trim).collect();
    assert_eq!(
        splits,
        [
            "100 x Version: v1",
            "90 x Version: v1, 10 x Version: v2",
            "70 x Version: v1, 30 x Version: v2",
            "40 x Version: v1, 60 x Version: v2",
            "100 x Version: v2"
        ]
    );
    assert!(stdout.contains("the example's 5m, 1m and 30s pauses take 10s, 2s and 1s"), "{stdout}");
    let old = stdout.lines().rev().find(|l| l.contains("└──⧉ canary-rollout-69dc9f5f56 "));
    assert!(old.is_some_and(|l| l.contains("ReplicaSet  • ScaledDown")), "{stdout}");
}

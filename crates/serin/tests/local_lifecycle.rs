//! Abort, retry and undo on the local platform, with real traffic; a pod killed with SIGKILL;
//! a server killed with SIGKILL and started again; bad input.

mod common;

use common::{SEED, Server, replicas_of, status, weights};
use std::time::{Duration, Instant};

const V1: &str = "69dc9f5f56";
const V2: &str = "95d95c65";
const WAIT: Duration = Duration::from_secs(60);

fn healthy_v1(time_scale: f64) -> Server {
    let server = Server::start(time_scale);
    server.serin(&["apply", "-f", SEED]);
    server.wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10);
    server
}

fn paused_at(step: i64) -> impl Fn(&serde_json::Value) -> bool {
    move |tree| status(tree)["currentStepIndex"] == step && status(tree)["phase"] == "Paused"
}

#[test]
fn abort_at_30_percent_then_retry_then_undo() {
    let server = healthy_v1(10.0);
    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    server.wait_for("step 1", WAIT, paused_at(1));
    server.serin(&["promote", "canary-rollout"]);
    server.wait_for("step 3", WAIT, paused_at(3));
    assert_eq!(server.versions(100).get("Version: v2"), Some(&30));

    let aborted = Instant::now();
    server.serin(&["abort", "canary-rollout"]);
    // From 100 ms after the command returned, no request may reach v2.
    std::thread::sleep(Duration::from_millis(100).saturating_sub(aborted.elapsed()));
    assert_eq!(server.versions(100).get("Version: v2"), None, "v2 still served after abort");
    let tree = server.wait_for("Degraded", WAIT, |t| status(t)["phase"] == "Degraded");
    assert_eq!(status(&tree)["message"], "RolloutAborted: Rollout aborted update to revision 2");
    assert_eq!(status(&tree)["currentStepIndex"], 0);
    assert_eq!(weights(&server, "traefik.io"), [("canary-active".into(), 0), ("canary-preview".into(), 100)]);
    assert_eq!(replicas_of(&tree, V2), 3, "the canary stays up for abortScaleDownDelaySeconds");
    server.wait_for("canary scaled down after 30s (3s at 10x)", WAIT, |t| replicas_of(t, V2) == 0);
    let view = server.serin(&["get", "rollout", "canary-rollout"]);
    assert!(view.contains("Status:          ✖ Degraded") && view.contains("  Step:          0/7"), "{view}");

    server.serin(&["retry", "rollout", "canary-rollout"]);
    let tree = server.wait_for("step 1 again", WAIT, paused_at(1));
    assert_eq!(replicas_of(&tree, V2), 1);
    assert_eq!(server.versions(10).get("Version: v2"), Some(&1));

    server.serin(&["undo", "canary-rollout"]);
    let tree =
        server.wait_for("back on v1", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["currentPodHash"] == V1);
    assert_eq!(status(&tree)["currentStepIndex"], 7, "undo to the stable revision skips the steps");
    assert_eq!(server.versions(50).get("Version: v1"), Some(&50));
}

#[test]
fn a_killed_pod_is_restarted_and_counted() {
    let server = healthy_v1(1.0);
    let pod = server.tree("canary-rollout")["pods"][0].clone();
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    let pid: i32 = pod["metadata"]["annotations"]["serin.dev/pid"].as_str().unwrap().parse().unwrap();
    let load = std::thread::scope(|scope| {
        let load =
            scope.spawn(|| (0..300).map(|_| server.get("canary.myapp.com", "/").0).filter(|s| *s != 200).count());
        std::thread::sleep(Duration::from_millis(100));
        std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
        load.join().unwrap()
    });
    assert_eq!(load, 0, "requests failed while a pod died");
    server.wait_for("the pod back, restart counted", WAIT, |t| {
        t["pods"].as_array().unwrap().iter().any(|p| {
            p["metadata"]["name"] == name.as_str()
                && p["status"]["containerStatuses"][0]["restartCount"] == 1
                && p["status"]["containerStatuses"][0]["ready"] == true
        })
    });
    let pods = server.serin(&["get", "pods"]);
    let line = pods.lines().find(|l| l.starts_with(&name)).unwrap();
    assert!(line.contains("Running") && line.split_whitespace().nth(3) == Some("1"), "{line}");
    let previous = server.serin(&["logs", &name, "--previous"]);
    assert!(previous.contains("demo app v1 listening"), "{previous}");
}

#[test]
fn a_killed_server_resumes_where_it_was() {
    let mut server = healthy_v1(1.0);
    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    let before = server.wait_for("step 1", WAIT, paused_at(1));
    let pause_start = status(&before)["pauseConditions"][0]["startTime"].clone();
    let pids = |tree: &serde_json::Value| -> Vec<String> {
        let mut pids: Vec<String> = tree["pods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["metadata"]["annotations"]["serin.dev/pid"].as_str().unwrap_or("").to_string())
            .collect();
        pids.sort();
        pids
    };
    let marker = std::fs::read_to_string(server.data_dir().join("marker")).unwrap();
    assert_eq!(common::marked_processes(&marker).len(), 11);

    server.kill_hard();
    server.spawn(1.0);
    let after = server
        .wait_for("the same pause after restart", WAIT, |t| paused_at(1)(t) && status(t)["availableReplicas"] == 11);
    assert_eq!(status(&after)["pauseConditions"][0]["startTime"], pause_start, "the timed pause keeps its start");
    assert_eq!(pids(&after), pids(&before), "pod processes were adopted, not restarted");
    assert_eq!(common::marked_processes(&marker).len(), 11, "no duplicate or orphaned pod process");
    assert_eq!(weights(&server, "traefik.io"), [("canary-active".into(), 10), ("canary-preview".into(), 90)]);
    assert_eq!(server.versions(10).get("Version: v2"), Some(&1));
    assert_eq!(server.serin(&["get", "svc"]).lines().count(), 3);

    // Killed again in the middle of a scale-up.
    server.serin(&["promote", "canary-rollout"]);
    std::thread::sleep(Duration::from_millis(30));
    server.kill_hard();
    server.spawn(1.0);
    let tree = server.wait_for("step 3 after a kill during scale-up", WAIT, paused_at(3));
    assert_eq!(replicas_of(&tree, V2), 3);
    assert_eq!(tree["pods"].as_array().unwrap().len(), 13);
    assert_eq!(common::marked_processes(&marker).len(), 13, "no duplicate or orphaned pod process");
    assert_eq!(server.versions(100).get("Version: v2"), Some(&30));
}

#[test]
fn bad_input_changes_nothing_and_says_where() {
    let server = healthy_v1(1.0);
    let broken = server.dir.path().join("broken.yaml");
    let text = std::fs::read_to_string(format!("{SEED}/rollout.yaml"))
        .unwrap()
        .replace("duration: 5m", "duration: 5x")
        .replace("ikubernetes/myapp:v1", "ikubernetes/myapp:v9");
    std::fs::write(&broken, text).unwrap();
    let out = server.serin_output(&["apply", "-f", broken.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.yaml:23:21: spec.strategy.canary.steps[1].pause.duration: invalid duration \"5x\""),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was applied"), "{stderr}");
    let rollout = server.object("argoproj.io", "Rollout", "canary-rollout");
    assert_eq!(rollout["spec"]["template"]["spec"]["containers"][0]["image"], "ikubernetes/myapp:v1");

    // Another server on the same data dir, a busy port, an unwritable data dir.
    let again = std::process::Command::new(common::serin_binary())
        .args(["server", "--api", "127.0.0.1:0", "--entrypoint", "web=127.0.0.1:0", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("another serin server is using"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let other = tempfile::tempdir().unwrap();
    let busy = std::process::Command::new(common::serin_binary())
        .args(["server", "--api", "127.0.0.1:0", "--entrypoint", &format!("web={}", server.web), "--data-dir"])
        .arg(other.path())
        .output()
        .unwrap();
    let busy = String::from_utf8_lossy(&busy.stderr);
    assert!(
        busy.contains(&format!("cannot listen on {} for entry point web", server.web)) && busy.contains("in use"),
        "{busy}"
    );
    let unwritable = std::process::Command::new(common::serin_binary())
        .args(["server", "--data-dir", "/proc/serin-data"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&unwritable.stderr).contains("cannot create the data directory /proc/serin-data"),
        "{}",
        String::from_utf8_lossy(&unwritable.stderr)
    );

    // A container whose command does not exist: one clear error on the pod, no crash loop.
    let missing = server.dir.path().join("missing.yaml");
    std::fs::write(&missing, "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: nosuch\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: nosuch}\n  template:\n    metadata:\n      labels: {app: nosuch}\n    spec:\n      containers:\n      - name: main\n        image: example/nosuch:1\n        command: [\"serin-no-such-program\"]\n  strategy:\n    canary:\n      steps:\n      - setWeight: 50\n").unwrap();
    server.serin(&["apply", "-f", missing.to_str().unwrap()]);
    let deadline = Instant::now() + WAIT;
    loop {
        let pods = server.serin(&["get", "pods"]);
        if pods.lines().any(|l| l.starts_with("nosuch-") && l.contains("RunContainerError")) {
            break;
        }
        assert!(Instant::now() < deadline, "{pods}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("{}/api/v1/objects?kind=Pod&group=&namespace=default", server.api);
    let pods: serde_json::Value = ureq::get(&url).call().unwrap().body_mut().read_json().unwrap();
    let pod = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["metadata"]["name"].as_str().unwrap().starts_with("nosuch-"))
        .unwrap()
        .clone();
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "exec: \"serin-no-such-program\": executable file not found in $PATH"
    );
}

#[test]
fn stopping_the_server_stops_its_pods() {
    let mut server = healthy_v1(1.0);
    let marker = std::fs::read_to_string(server.data_dir().join("marker")).unwrap();
    assert_eq!(common::marked_processes(&marker).len(), 10);
    let mut child = server.child.take().unwrap();
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "the server exits cleanly on SIGTERM: {status}");
    assert_eq!(common::marked_processes(&marker), Vec::<u32>::new(), "no pod outlives a stopped server");
}

//! Abort, retry and undo on the local platform, with real traffic; a pod killed with SIGKILL;
//! `logs -f` following a container until it ends; a server killed with SIGKILL and started
//! again; bad input; a pod's process as its manifest describes it.

mod common;

use common::{SEED, Server, replicas_of, status, weights};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// The name and process id of one of the rollout's pods.
fn a_pod(server: &Server) -> (String, String) {
    let pod = server.tree("canary-rollout")["pods"][0].clone();
    let text = |pointer: &str| pod.pointer(pointer).and_then(serde_json::Value::as_str).unwrap().to_string();
    (text("/metadata/name"), text("/metadata/annotations/serin.dev~1pid"))
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

    // A client keeps sending while `serin abort` runs. The issue allows 100 ms after the
    // command returned; the API answers an abort only once the router serves the canary
    // weight 0, so no request sent after it returned may reach v2.
    let stop = AtomicBool::new(false);
    let (answers, returned) = std::thread::scope(|scope| {
        let load = scope.spawn(|| server.load("canary.myapp.com", "/", &stop));
        std::thread::sleep(Duration::from_millis(300));
        server.serin(&["abort", "canary-rollout"]);
        let returned = Instant::now();
        std::thread::sleep(Duration::from_millis(600));
        stop.store(true, Ordering::Relaxed);
        (load.join().unwrap(), returned)
    });
    let v2 = |(_, status, body): &(Instant, u16, String)| *status == 200 && body.contains("Version: v2");
    let before = answers.iter().filter(|(sent, _, _)| *sent < returned);
    assert!(before.filter(|a| v2(a)).count() >= 10, "the load reached v2 before the abort");
    let after: Vec<_> = answers.iter().filter(|(sent, _, _)| *sent >= returned).collect();
    assert!(after.len() >= 50, "only {} requests sent after the abort", after.len());
    assert_eq!(after.into_iter().filter(|a| v2(a)).count(), 0, "v2 still served after `serin abort` returned");
    assert!(answers.iter().all(|(_, status, _)| *status == 200));
    let tree = server.wait_for("Degraded", WAIT, |t| status(t)["phase"] == "Degraded");
    assert_eq!(status(&tree)["message"], "RolloutAborted: Rollout aborted update to revision 2");
    assert_eq!(status(&tree)["currentStepIndex"], 0);
    assert_eq!(weights(&server, "traefik.io"), [("canary-active".into(), 0), ("canary-preview".into(), 100)]);
    assert_eq!(replicas_of(&tree, V2), 3, "the canary stays up for abortScaleDownDelaySeconds");
    // abortScaleDownDelaySeconds: 30 at 10x.
    common::assert_scaled_down_after(&server, V2, returned, Duration::from_secs(3));
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
    let (name, pid) = a_pod(&server);
    let retries_before = common::retries(&server);
    // Requests (each answered with the pod's name) run from before the kill until the pod is
    // back and serving again.
    let stop = AtomicBool::new(false);
    let (answers, killed) = std::thread::scope(|scope| {
        let load = scope.spawn(|| server.load("canary.myapp.com", "/hostname.html", &stop));
        std::thread::sleep(Duration::from_millis(200));
        let killed = Instant::now();
        std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        server.wait_for("the pod back, restart counted", WAIT, |t| {
            t["pods"].as_array().unwrap().iter().any(|p| {
                p["metadata"]["name"] == name.as_str()
                    && p["status"]["containerStatuses"][0]["restartCount"] == 1
                    && p["status"]["containerStatuses"][0]["ready"] == true
            })
        });
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        (load.join().unwrap(), killed)
    });
    let failed: Vec<_> = answers.iter().filter(|(_, status, _)| *status != 200).collect();
    assert_eq!(failed.len(), 0, "requests failed while a pod died: {failed:?}");
    let by_killed =
        |after: bool| answers.iter().filter(|(sent, _, body)| (*sent > killed) == after && body.trim() == name).count();
    assert!(by_killed(false) > 0, "the killed pod was answering before it was killed");
    assert!(by_killed(true) > 0, "the restarted pod answers again");
    assert!(answers.iter().filter(|(sent, _, _)| *sent > killed).count() > 50, "the load went on through the kill");
    eprintln!("{} requests, {} retried", answers.len(), common::retries(&server) - retries_before);
    let pods = server.serin(&["get", "pods"]);
    let line = pods.lines().find(|l| l.starts_with(&name)).unwrap();
    assert!(line.contains("Running") && line.split_whitespace().nth(3) == Some("1"), "{line}");
    let previous = server.serin(&["logs", &name, "--previous"]);
    assert!(previous.contains("demo app v1 listening"), "{previous}");
}

#[test]
fn logs_follow_a_container_until_it_ends() {
    use std::io::BufRead;
    let server = healthy_v1(1.0);
    let (name, pid) = a_pod(&server);
    let mut follow = server.serin_command(&["logs", "-f", &name]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let stdout = std::io::BufReader::new(follow.stdout.take().unwrap());
    let (send, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || stdout.lines().map_while(Result::ok).try_for_each(|l| send.send(l)));
    let first = lines.recv_timeout(Duration::from_secs(10)).expect("logs -f printed the log so far");
    assert!(first.starts_with("demo app v1 listening on 127.0.0.1:"), "{first}");
    // The container writes once more as it stops, then ends; the pod restarts it.
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let second = lines.recv_timeout(Duration::from_secs(10)).expect("logs -f printed what came after");
    assert_eq!(second, "demo app v1: SIGTERM, finishing requests in flight");
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = follow.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "logs -f went on after the container ended");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit}");
    let _ = reader.join();
    assert_eq!(lines.try_iter().collect::<Vec<_>>(), Vec::<String>::new(), "nothing of the next container");
    server.wait_for("the pod restarted", WAIT, |t| {
        t["pods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["metadata"]["name"] == name.as_str() && p["status"]["containerStatuses"][0]["restartCount"] == 1)
    });
    let now = server.serin(&["logs", &name]);
    assert!(now.starts_with("demo app v1 listening") && !now.contains("SIGTERM"), "{now}");
    let previous = server.serin(&["logs", &name, "--previous"]);
    assert!(previous.ends_with("demo app v1: SIGTERM, finishing requests in flight\n"), "{previous}");

    // A reader whose offset is past the end (the log was rotated under it) gets the log again
    // from its start, and is told so.
    let token = std::fs::read_to_string(server.data_dir().join("token")).unwrap();
    let mut answer = ureq::get(&format!("{}/api/v1/logs/default/{name}?offset=100000000", server.api))
        .header("Authorization", &format!("Bearer {}", token.trim()))
        .call()
        .unwrap();
    assert_eq!(answer.headers()["serin-log-from"], "0");
    assert_eq!(answer.body_mut().read_to_string().unwrap(), now);
}

/// Whether a process runs (and is not a zombie waiting to be reaped).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

#[test]
fn a_deleted_pod_is_stopped_and_replaced() {
    let server = healthy_v1(1.0);
    let (name, pid) = a_pod(&server);
    let log = server.data_dir().join("logs").join(format!("default_{name}.log"));
    assert!(running(&pid) && log.exists());
    assert_eq!(server.serin(&["delete", "pod", &name]), format!("pod \"{name}\" deleted\n"));
    let deadline = Instant::now() + WAIT;
    while running(&pid) {
        assert!(Instant::now() < deadline, "the deleted pod's process still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.wait_for("a replacement", WAIT, |t| {
        status(t)["availableReplicas"] == 10
            && t["pods"].as_array().unwrap().iter().all(|p| p["metadata"]["name"] != name.as_str())
    });
    assert!(!log.exists(), "the deleted pod's log is still there");
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
    let objects = object_names(&server);

    server.kill_hard();
    server.spawn(1.0);
    let after = server
        .wait_for("the same pause after restart", WAIT, |t| paused_at(1)(t) && status(t)["availableReplicas"] == 11);
    assert_eq!(object_names(&server), objects, "the same objects after the restart");
    assert_eq!(status(&after)["pauseConditions"][0]["startTime"], pause_start, "the timed pause keeps its start");
    assert_eq!(pids(&after), pids(&before), "pod processes were adopted, not restarted");
    assert_eq!(common::marked_processes(&marker).len(), 11, "no duplicate or orphaned pod process");
    assert_eq!(weights(&server, "traefik.io"), [("canary-active".into(), 10), ("canary-preview".into(), 90)]);
    assert_eq!(server.versions(10).get("Version: v2"), Some(&1));
    assert_eq!(server.serin(&["get", "svc"]).lines().count(), 3);
    let view = server.serin(&["get", "rollout", "canary-rollout"]);
    assert!(!view.contains("TimeScale:"), "no TimeScale line at 1x:\n{view}");

    // Killed again in the middle of a scale-up: the canary asked for 3 pods, not all ready.
    server.serin(&["promote", "canary-rollout"]);
    server.wait_for("the canary scaling up", WAIT, |t| {
        let ready_v2 = t["pods"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["metadata"]["labels"]["rollouts-pod-template-hash"] == V2)
            .filter(|p| p["status"]["containerStatuses"][0]["ready"] == true)
            .count();
        replicas_of(t, V2) == 3 && ready_v2 < 3
    });
    let objects = object_names(&server);
    server.kill_hard();
    server.spawn(1.0);
    let tree = server.wait_for("step 3 after a kill during scale-up", WAIT, paused_at(3));
    assert_eq!(replicas_of(&tree, V2), 3);
    assert_eq!(tree["pods"].as_array().unwrap().len(), 13);
    let lost: Vec<_> = objects.difference(&object_names(&server)).cloned().collect();
    assert_eq!(lost, Vec::<String>::new(), "objects lost in the kill");
    assert_eq!(common::marked_processes(&marker).len(), 13, "no duplicate or orphaned pod process");
    assert_eq!(server.versions(100).get("Version: v2"), Some(&30));
}

/// Every Rollout, ReplicaSet, Pod, Service, TraefikService and IngressRoute, as `Kind
/// apiVersion name`.
fn object_names(server: &Server) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for kind in ["Rollout", "ReplicaSet", "Pod", "Service", "TraefikService", "IngressRoute"] {
        let url = format!("{}/api/v1/objects?kind={kind}", server.api);
        let list: serde_json::Value = ureq::get(&url).call().unwrap().body_mut().read_json().unwrap();
        for object in list["items"].as_array().unwrap() {
            names.insert(format!("{kind} {} {}", object["apiVersion"], object["metadata"]["name"]));
        }
    }
    names
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

    // Another server on the same data dir, a busy entry point port, a busy API port, an
    // unwritable data dir: each one line on stderr and a failed exit.
    let other = tempfile::tempdir().unwrap();
    let api = server.api.trim_start_matches("http://");
    for (data_dir, api, web, expected) in [
        (server.data_dir(), "127.0.0.1:0", "127.0.0.1:0".to_string(), "another serin server is using".to_string()),
        (
            other.path(),
            "127.0.0.1:0",
            server.web.to_string(),
            format!("cannot listen on {} for entry point web", server.web),
        ),
        (other.path(), api, "127.0.0.1:0".to_string(), format!("cannot listen on {api} for the API")),
        (
            std::path::Path::new("/proc/serin-data"),
            "127.0.0.1:0",
            "127.0.0.1:0".to_string(),
            "cannot create the data directory /proc/serin-data".to_string(),
        ),
    ] {
        let out = std::process::Command::new(common::serin_binary())
            .args(["server", "--api", api, "--entrypoint", &format!("web={web}"), "--data-dir"])
            .arg(data_dir)
            .env_remove("SERIN_LOG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{expected}: the server started");
        assert_eq!(stderr.lines().count(), 1, "{expected}: one line on stderr:\n{stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(&expected), "{stderr}");
        assert!(!expected.starts_with("cannot listen") || stderr.contains("in use"), "{stderr}");
    }

    // A container whose command does not exist: one clear error on the pod, no crash loop.
    let missing = server.dir.path().join("missing.yaml");
    let pod = "      containers:\n      - name: main\n        image: example/nosuch:1\n        command: [\"serin-no-such-program\"]\n";
    std::fs::write(&missing, common::one_pod_rollout("nosuch", "app: nosuch", pod)).unwrap();
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
    // Not a silent crash loop: a second later it has not been restarted, and the server said
    // so once.
    std::thread::sleep(Duration::from_secs(1));
    let name = pod["metadata"]["name"].as_str().unwrap();
    let pods = server.serin(&["get", "pods"]);
    let line = pods.lines().find(|l| l.starts_with(name)).unwrap();
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns[2..4], ["RunContainerError", "0"], "status and restarts: {line}");
    let said = server.log().lines().filter(|l| l.contains("pod did not start") && l.contains(name)).count();
    assert_eq!(said, 1, "{}", server.log());
}

/// The script both pods of [`a_pods_process_is_what_its_manifest_says`] run: it records its
/// arguments, working directory and environment, and takes its time over SIGTERM.
const RECORDER: &str = "trap 'echo > terminated' TERM
echo '{\"level\": \"info\",  \"msg\": \"recorder up\"}'
printf '%s\n' \"$0\" \"$@\" > argv
pwd > cwd
printf '%s %s' \"$GREETING\" \"$PORT\" > env
while :; do sleep 0.05; done
";

/// A pod running [`RECORDER`] with `container`'s fields and a 2 s grace period.
fn recorder(name: &str, image: &str, container: &str) -> String {
    let pod = format!(
        "      terminationGracePeriodSeconds: 2\n      containers:\n      - name: main\n        image: {image}\n{container}"
    );
    common::one_pod_rollout(name, &format!("app: {name}"), &pod)
}

/// Waits until a file holds `expected`.
fn wait_for_file(path: &std::path::Path, expected: &str) {
    let deadline = Instant::now() + WAIT;
    while std::fs::read_to_string(path).ok().as_deref() != Some(expected) {
        assert!(Instant::now() < deadline, "{} holds {:?}", path.display(), std::fs::read_to_string(path));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_pods_process_is_what_its_manifest_says() {
    let work = tempfile::tempdir().unwrap();
    let images = work.path().join("images");
    std::fs::write(&images, "example/recorder:{tag} sh record.sh {tag}\n").unwrap();
    let server = Server::start_with(1.0, &["--images", images.to_str().unwrap()]);
    let (given, mapped) = (work.path().join("given"), work.path().join("mapped"));
    for dir in [&given, &mapped] {
        std::fs::create_dir(dir).unwrap();
        std::fs::write(dir.join("record.sh"), RECORDER).unwrap();
    }
    let given_container = format!(
        "        command: [\"sh\", \"record.sh\"]
        args: [\"first arg\", \"--flag\"]
        env:
        - {{name: GREETING, value: hello world}}
        workingDir: {}
        readinessProbe:
          exec: {{command: [\"test\", \"-f\", \"ready\"]}}
          periodSeconds: 1
",
        given.display()
    );
    let mapped_container = format!(
        "        workingDir: {}\n        readinessProbe:\n          exec: {{command: [\"true\"]}}\n",
        mapped.display()
    );
    server.apply_text(
        "recorders.yaml",
        &[
            recorder("given", "example/given:1", &given_container),
            recorder("mapped", "example/recorder:v7", &mapped_container),
        ]
        .join("---\n"),
    );

    // command and args, workingDir (record.sh is found there), env and PORT.
    wait_for_file(&given.join("argv"), "record.sh\nfirst arg\n--flag\n");
    wait_for_file(&given.join("cwd"), &format!("{}\n", given.display()));
    let pod = server.tree("given")["pods"][0].clone();
    let port = pod["metadata"]["annotations"]["serin.dev/port"].as_str().unwrap();
    wait_for_file(&given.join("env"), &format!("hello world {port}"));
    // Its log, as it wrote it (a line that reads as JSON is not reformatted).
    let log = server.serin(&["logs", pod["metadata"]["name"].as_str().unwrap()]);
    assert_eq!(log, "{\"level\": \"info\",  \"msg\": \"recorder up\"}\n");
    // --images: the image without a command runs the table's command, with its tag.
    wait_for_file(&mapped.join("argv"), "record.sh\nv7\n");
    wait_for_file(&mapped.join("cwd"), &format!("{}\n", mapped.display()));
    server.wait_for_rollout("mapped", "the mapped pod ready", WAIT, |t| status(t)["availableReplicas"] == 1);

    // The exec readiness probe: not ready (nothing listens on its port either) until `ready`
    // exists in its working directory.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.tree("given")["pods"][0]["status"]["containerStatuses"][0]["ready"], false);
    std::fs::write(given.join("ready"), "").unwrap();
    let tree = server.wait_for_rollout("given", "the probe passing", WAIT, |t| status(t)["availableReplicas"] == 1);

    // terminationGracePeriodSeconds: 2 s between SIGTERM (which the script ignores) and SIGKILL.
    let pid = tree["pods"][0]["metadata"]["annotations"]["serin.dev/pid"].as_str().unwrap().to_string();
    let alive = || running(&pid);
    server.serin(&["delete", "rollout", "given"]);
    wait_for_file(&given.join("terminated"), "\n");
    let terminated = Instant::now();
    while alive() {
        assert!(terminated.elapsed() < Duration::from_secs(10), "still running 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = terminated.elapsed();
    assert!(took >= Duration::from_millis(1700) && took <= Duration::from_secs(4), "killed {took:?} after SIGTERM");
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

//! What people read: `get rollout` in the seed's three states compared with the seed's own
//! printed blocks, every command's output as a snapshot, `--watch` under a pseudo-terminal,
//! `status` exit codes, and one clear line for every error.

mod common;

use common::{SEED, Server, status};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// Hides what legitimately differs between runs: ages, pod name suffixes, times, ids, ports.
fn mask(text: &str) -> String {
    let age = regex::Regex::new(r"^\d+(s|m|h|d)(\d+(s|m|h))?$").unwrap();
    let suffix = regex::Regex::new(r"(canary-rollout-[0-9a-z]{8,10})-[0-9a-z]{5}\b").unwrap();
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    let uid = regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let number =
        regex::Regex::new(r#"(resourceVersion|serin.dev/port|serin.dev/pid|serin.dev/process-start)("?): "?\d+"?"#)
            .unwrap();
    let millicores = regex::Regex::new(r"\b\d+m(\s+)\d+Mi\b").unwrap();
    text.lines()
        .map(|line| {
            let line = suffix.replace_all(line, "$1-xxxxx");
            let line = time.replace_all(&line, "TIME");
            let line = uid.replace_all(&line, "UID");
            let line = number.replace_all(&line, "$1$2: N");
            let line = millicores.replace_all(&line, "Nm${1}NMi");
            // Cells are separated by two or more spaces; mask the ones that are ages (indentation stays).
            let body = line.trim_start();
            let indent = &line[..line.len() - body.len()];
            let cells: Vec<String> = regex::Regex::new(r"\s{2,}")
                .unwrap()
                .split(body.trim_end())
                .map(|c| if age.is_match(c) { "AGE".to_string() } else { c.to_string() })
                .collect();
            format!("{indent}{}", cells.join("  "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// serin's view as the seed printed it: serin adds a TimeScale line only when time runs faster.
fn as_seed_prints(view: &str) -> String {
    mask(&view.lines().filter(|l| !l.starts_with("TimeScale:")).collect::<Vec<_>>().join("\n"))
}

fn seed_block(name: &str) -> String {
    let text = std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    // The seed's tree rows are in kubectl-argo-rollouts' order; pod rows differ only by suffix.
    mask(&text)
}

fn get_rollout(server: &Server) -> String {
    server.serin(&["get", "rollout", "canary-rollout", "--no-color"])
}

#[test]
fn get_rollout_matches_the_seed_in_its_three_states() {
    let server = Server::start(10.0);
    server.serin(&["apply", "-f", SEED]);
    server.wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10);
    assert_eq!(as_seed_prints(&get_rollout(&server)), seed_block("seed-healthy-v1.txt"));

    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    server.wait_for("step 1", WAIT, |t| status(t)["currentStepIndex"] == 1 && status(t)["phase"] == "Paused");
    assert_eq!(as_seed_prints(&get_rollout(&server)), seed_block("seed-paused-step1.txt"));

    server.serin(&["promote", "canary-rollout", "--full"]);
    server.wait_for("v1 scaled down", WAIT, |t| {
        status(t)["phase"] == "Healthy"
            && common::replicas_of(t, "69dc9f5f56") == 0
            && t["pods"].as_array().unwrap().len() == 10
    });
    assert_eq!(as_seed_prints(&get_rollout(&server)), seed_block("seed-promoted-v2.txt"));
}

#[test]
fn every_command_prints_what_kubectl_users_expect() {
    let server = Server::start(10.0);
    let mut transcript = String::new();
    let mut run = |args: &[&str]| {
        let out = server.serin(args);
        transcript.push_str(&format!(
            "$ serin {}\n{}\n",
            args.join(" ").replace(SEED, "examples/argo-demo/argorollout-canary"),
            mask(&out)
        ));
    };
    run(&["apply", "-f", SEED]);
    server.wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10);
    run(&["apply", "-f", SEED]);
    run(&["list", "rollouts", "--no-color"]);
    run(&["get", "svc"]);
    run(&["get", "ingressroute"]);
    run(&["get", "traefikservices", "-A"]);
    run(&["get", "rs"]);
    run(&["get", "pods"]);
    run(&["top", "pods"]);
    run(&["get", "svc", "canary-preview", "-o", "yaml"]);
    run(&["get", "traefikservice", "canary-service", "-o", "json"]);
    run(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    server.wait_for("step 1", WAIT, |t| status(t)["currentStepIndex"] == 1 && status(t)["phase"] == "Paused");
    run(&["describe", "rollout", "canary-rollout"]);
    run(&["promote", "canary-rollout"]);
    server.wait_for("step 3", WAIT, |t| status(t)["currentStepIndex"] == 3 && status(t)["phase"] == "Paused");
    run(&["abort", "canary-rollout"]);
    run(&["retry", "rollout", "canary-rollout"]);
    run(&["pause", "canary-rollout"]);
    run(&["promote", "canary-rollout", "--full"]);
    run(&["restart", "canary-rollout", "--in", "1h"]);
    run(&["undo", "canary-rollout"]);
    run(&["version"]);
    let top = server.serin(&["top", "pods"]);
    let first = top.lines().nth(1).unwrap();
    assert!(
        regex::Regex::new(r"^canary-rollout-[0-9a-z]+-[0-9a-z]{5}\s+\d+m\s+\d+Mi$").unwrap().is_match(first),
        "{top}"
    );
    let pod = first.split_whitespace().next().unwrap();
    assert!(server.serin(&["logs", pod]).contains("listening on 127.0.0.1:"));
    let completion = server.serin(&["completion", "bash"]);
    assert!(completion.contains("serin__subcmd__promote"), "{}", &completion[..200]);
    run(&["delete", "-f", SEED]);
    insta::assert_snapshot!(transcript);

    server.wait_for_pods_gone();
}

#[test]
fn watch_redraws_in_place_under_a_terminal() {
    let server = Server::start(10.0);
    server.serin(&["apply", "-f", SEED]);
    server.wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy");
    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    server.wait_for("step 1", WAIT, |t| status(t)["currentStepIndex"] == 1 && status(t)["phase"] == "Paused");
    let command =
        format!("{} get rollout canary-rollout --watch --timeout-seconds 4", common::serin_binary().display());
    let watcher = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("SERIN_DATA_DIR", server.data_dir())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    server.serin(&["promote", "canary-rollout"]);
    let out = String::from_utf8_lossy(&watcher.wait_with_output().unwrap().stdout).to_string();
    let redraws = out.matches("\x1b[H\x1b[2J").count();
    assert!(redraws >= 3, "expected several in-place redraws, got {redraws}");
    let step1 = out.find("Step:          1/7").expect("step 1 shown");
    let step3 = out.rfind("Step:          3/7").expect("step 3 shown");
    assert!(step1 < step3);
    assert!(out.contains("\x1b[33m॥ Paused\x1b[0m"), "paused is yellow on a terminal");
}

#[test]
fn status_waits_and_exits_by_outcome() {
    let server = Server::start(10.0);
    let dir = server.dir.path().join("manual");
    std::fs::create_dir(&dir).unwrap();
    for file in ["service.yaml", "ingress.yaml", "rollout.yaml"] {
        let text = std::fs::read_to_string(format!("{SEED}/{file}")).unwrap();
        std::fs::write(
            dir.join(file),
            text.replace(
                "      - pause:\n          duration: 5m # 暂停5分钟，用于监控新版本的表现。\n",
                "      - pause: {}\n",
            ),
        )
        .unwrap();
    }
    let dir = dir.to_str().unwrap();
    server.serin(&["apply", "-f", dir]);
    let healthy = server.serin_output(&["status", "canary-rollout", "--timeout", "30s"]);
    assert!(healthy.status.success(), "{}", String::from_utf8_lossy(&healthy.stdout));
    assert!(String::from_utf8_lossy(&healthy.stdout).ends_with("Healthy\n"));

    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    let paused = server.serin_output(&["status", "canary-rollout", "--timeout", "3s"]);
    assert_eq!(paused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&paused.stdout).contains("Paused - CanaryPauseStep"),
        "{}",
        String::from_utf8_lossy(&paused.stdout)
    );
    assert!(String::from_utf8_lossy(&paused.stderr).contains("timed out waiting for rollout 'canary-rollout'"));

    server.serin(&["abort", "canary-rollout"]);
    let degraded = server.serin_output(&["status", "canary-rollout", "--timeout", "10s"]);
    assert_eq!(degraded.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&degraded.stdout)
            .contains("Degraded - RolloutAborted: Rollout aborted update to revision 2")
    );

    server.serin(&["retry", "rollout", "canary-rollout"]);
    server.wait_for("paused again", WAIT, |t| status(t)["currentStepIndex"] == 1 && status(t)["phase"] == "Paused");
    server.serin(&["promote", "canary-rollout", "--full"]);
    let done = server.serin_output(&["status", "canary-rollout", "--timeout", "30s"]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stdout));
}

#[test]
fn errors_are_one_clear_line_and_a_failure_exit() {
    let server = Server::start(1.0);
    server.serin(&["apply", "-f", SEED]);
    let cases: [(&[&str], &str); 4] = [
        (&["get", "rollout", "nosuch"], "error: rollout 'nosuch' not found in namespace default\n"),
        (&["promote", "nosuch"], "error: rollout 'nosuch' not found in namespace default\n"),
        (&["set", "image", "canary-rollout", "v2"], "error: expected CONTAINER=IMAGE, got \"v2\"\n"),
        (
            &["set", "image", "canary-rollout", "web=nginx"],
            "error: rollout 'canary-rollout' has no container named \"web\"; its containers are: myapp\n",
        ),
    ];
    for (args, expected) in cases {
        let out = server.serin_output(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), expected, "{args:?}");
    }
    let wrong_token = std::process::Command::new(common::serin_binary())
        .args(["promote", "canary-rollout", "--token", "wrong"])
        .env("SERIN_DATA_DIR", server.data_dir())
        .output()
        .unwrap();
    assert_eq!(wrong_token.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&wrong_token.stderr),
        "error: this needs the API token: run on the server's machine with the same data dir, or pass --token\n"
    );
    let nowhere = tempfile::tempdir().unwrap();
    let no_server = std::process::Command::new(common::serin_binary())
        .args(["list", "rollouts"])
        .env("SERIN_DATA_DIR", nowhere.path())
        .output()
        .unwrap();
    assert_eq!(no_server.status.code(), Some(1));
    let message = String::from_utf8_lossy(&no_server.stderr);
    assert!(
        message.starts_with("error: no serin server found:")
            && message.contains("start one with `serin server`")
            && message.lines().count() == 1,
        "{message}"
    );
    let dead = std::process::Command::new(common::serin_binary())
        .args(["list", "rollouts", "--server", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&dead.stderr);
    assert!(
        dead.status.code() == Some(1)
            && message.contains("cannot reach the serin server at http://127.0.0.1:9")
            && message.contains("Start one with `serin server`")
            && message.lines().count() == 1,
        "{message}"
    );
}

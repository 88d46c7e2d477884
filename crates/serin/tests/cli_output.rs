//! What people read: `get rollout` in the seed's three states compared with the seed's own
//! printed blocks, every command's output as a snapshot, `--watch` under a pseudo-terminal,
//! `status` exit codes, and one clear line for every error.

mod common;

use common::{SEED, Server, mask, status};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// Every row of a table or tree starts its cells where the header line starts its column
/// names: the columns are aligned, whatever the ages made them.
fn columns_align(view: &str, header: &str) {
    let lines: Vec<&str> = view.lines().skip_while(|l| !l.starts_with(header)).collect();
    let head = lines.first().unwrap_or_else(|| panic!("no header {header:?} in\n{view}"));
    let chars = |l: &str| l.chars().collect::<Vec<char>>();
    let starts: Vec<usize> = chars(head)
        .windows(3)
        .enumerate()
        .filter(|(_, w)| w[0] == ' ' && w[1] == ' ' && w[2] != ' ')
        .map(|(i, _)| i + 2)
        .collect();
    for row in lines.iter().skip(1).take_while(|l| !l.is_empty()) {
        let row = chars(row);
        for &start in &starts {
            if start < row.len() && !row[start..].iter().all(|c| *c == ' ') {
                assert!(row[start - 1] == ' ' && row[start] != ' ', "column {start} misaligned in {row:?}\n{view}");
            }
        }
    }
}

/// serin's view as the seed printed it: serin adds a TimeScale line only when time runs faster.
fn as_seed_prints(view: &str) -> String {
    mask(&view.lines().filter(|l| !l.starts_with("TimeScale:")).collect::<Vec<_>>().join("\n"))
}

/// serin's `get rollout` now equals the seed's printed block apart from ages and pod name
/// suffixes, and both have their columns aligned.
fn assert_matches_seed(server: &Server, fixture: &str) {
    let view = server.serin(&["get", "rollout", "canary-rollout", "--no-color"]);
    let seed = std::fs::read_to_string(format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    columns_align(&seed, "NAME");
    columns_align(&view, "NAME");
    assert_eq!(as_seed_prints(&view), mask(&seed), "{view}");
}

#[test]
fn get_rollout_matches_the_seed_in_its_three_states() {
    let server = Server::start(10.0);
    server.serin(&["apply", "-f", SEED]);
    server.wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10);
    assert_matches_seed(&server, "seed-healthy-v1.txt");

    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    server.wait_for("step 1", WAIT, |t| status(t)["currentStepIndex"] == 1 && status(t)["phase"] == "Paused");
    assert_matches_seed(&server, "seed-paused-step1.txt");

    server.serin(&["promote", "canary-rollout", "--full"]);
    server.wait_for("v1 scaled down", WAIT, |t| {
        status(t)["phase"] == "Healthy"
            && common::replicas_of(t, "69dc9f5f56") == 0
            && t["pods"].as_array().unwrap().len() == 10
    });
    // The seed printed the tree once v1's last pod had gone; `get rollout` shows a pod as
    // Terminating while its process is still stopping (up to a second or so).
    let deadline = std::time::Instant::now() + WAIT;
    while server.serin(&["get", "rollout", "canary-rollout", "--no-color"]).contains("Terminating") {
        assert!(std::time::Instant::now() < deadline, "a v1 pod is still terminating");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_matches_seed(&server, "seed-promoted-v2.txt");
}

/// Commands and what they printed, masked: stderr and the exit code too when one fails.
struct Transcript<'a> {
    server: &'a Server,
    text: String,
}

impl Transcript<'_> {
    fn run(&mut self, args: &[&str], stdin: &str) {
        let mut child = std::process::Command::new(common::serin_binary())
            .args(args)
            .env("SERIN_DATA_DIR", self.server.data_dir())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let command = args.join(" ").replace(SEED, "examples/argo-demo/argorollout-canary");
        self.text.push_str(&mask(&format!("$ serin {command}\n{}", String::from_utf8_lossy(&out.stdout))));
        self.text.push('\n');
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) if stderr.is_empty() => {}
            Some(0) => self.text.push_str(&format!("[stderr] {stderr}")),
            code => self.text.push_str(&format!("[exit {}] {stderr}", code.unwrap_or(-1))),
        }
    }
}

#[test]
fn every_command_prints_what_kubectl_users_expect() {
    let server = Server::start(10.0);
    let mut transcript = Transcript { server: &server, text: String::new() };
    transcript.run(&["apply", "-f", SEED], "");
    server.wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10);
    transcript.run(&["apply", "-f", SEED], "");
    transcript.run(&["list", "rollouts", "--no-color"], "");
    transcript.run(&["get", "ro", "--no-color"], "");
    transcript.run(&["get", "svc"], "");
    transcript.run(&["get", "ingressroute"], "");
    transcript.run(&["get", "traefikservices", "-A"], "");
    transcript.run(&["get", "rs"], "");
    transcript.run(&["get", "pods"], "");
    transcript.run(&["get", "po", "-o", "wide"], "");
    transcript.run(&["get", "pods", "-n", "other"], "");
    transcript.run(&["get", "pods", "-n", "other", "-o", "json"], "");
    transcript.run(&["get", "rollouts", "-A", "--no-color"], "");
    transcript.run(&["get", "ar"], "");
    transcript.run(&["get", "at"], "");
    transcript.run(&["get", "app"], "");
    transcript.run(&["top", "pods"], "");
    let top = server.serin(&["top", "pods"]);
    let first = top.lines().nth(1).unwrap();
    assert!(
        regex::Regex::new(r"^canary-rollout-[0-9a-z]+-[0-9a-z]{5}\s+\d+m\s+\d+Mi$").unwrap().is_match(first),
        "{top}"
    );
    let pod = first.split_whitespace().next().unwrap();
    transcript.run(&["logs", pod], "");
    transcript.run(&["get", "svc", "canary-preview", "-o", "yaml"], "");
    transcript.run(&["get", "traefikservice", "canary-service", "-o", "json"], "");
    transcript.run(&["lint", "-f", SEED], "");
    let labelled = std::fs::read_to_string(format!("{SEED}/service.yaml")).unwrap().replacen(
        "  name: canary-active\n",
        "  name: canary-active\n  labels:\n    tier: web\n",
        1,
    );
    transcript.run(&["apply", "-f", "-"], &labelled);
    transcript.run(
        &["apply", "-f", "-", "-n", "staging"],
        &labelled.replacen("  labels:", "  namespace: prod\n  labels:", 1),
    );
    transcript.run(&["apply", "-f", "-"], "");
    transcript.run(&["set", "image", "canary-rollout", "*=ikubernetes/myapp:v2"], "");
    server.wait_for("step 1", WAIT, |t| status(t)["currentStepIndex"] == 1 && status(t)["phase"] == "Paused");
    transcript.run(&["describe", "rollout", "canary-rollout"], "");
    transcript.run(&["promote", "canary-rollout"], "");
    server.wait_for("step 3", WAIT, |t| status(t)["currentStepIndex"] == 3 && status(t)["phase"] == "Paused");
    transcript.run(&["abort", "canary-rollout"], "");
    transcript.run(&["retry", "rollout", "canary-rollout"], "");
    transcript.run(&["pause", "canary-rollout"], "");
    transcript.run(&["promote", "canary-rollout", "--full"], "");
    transcript.run(&["restart", "canary-rollout", "--in", "1h"], "");
    transcript.run(&["undo", "canary-rollout"], "");
    transcript.run(&["undo", "canary-rollout", "--to-revision", "2"], "");
    transcript.run(&["version"], "");
    transcript.run(&["--help"], "");
    for (shell, marker) in
        [("bash", "serin__subcmd__promote"), ("zsh", "#compdef serin"), ("fish", "complete -c serin")]
    {
        let completion = server.serin(&["completion", shell]);
        assert!(completion.contains(marker), "{shell}: {}", &completion[..200]);
    }
    transcript.run(&["delete", "rollout", "canary-rollout"], "");
    transcript.run(&["delete", "traefikservice", "canary-service"], "");
    transcript.run(&["delete", "-f", SEED], "");
    insta::assert_snapshot!(transcript.text);

    server.wait_for_pods_gone();
}

/// `serin ARGS` run under a pseudo-terminal (util-linux `script`).
fn in_terminal(args: &str) -> std::process::Command {
    let mut command = std::process::Command::new("script");
    command.args(["-q", "-e", "-c", &format!("{} {args}", common::serin_binary().display()), "/dev/null"]);
    command
}

/// What `command` printed while the rollout was promoted one step, 1.5 s after it started.
fn output_across_a_promote(server: &Server, mut command: std::process::Command) -> String {
    let child = command.env("SERIN_DATA_DIR", server.data_dir()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    server.serin(&["promote", "canary-rollout"]);
    String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).to_string()
}

#[test]
fn watch_redraws_in_place_under_a_terminal() {
    let server = Server::start(10.0);
    server.serin(&["apply", "-f", SEED]);
    server.wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy");
    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    server.wait_for("step 1", WAIT, |t| status(t)["currentStepIndex"] == 1 && status(t)["phase"] == "Paused");
    let out = output_across_a_promote(&server, in_terminal("get rollout canary-rollout --watch --timeout-seconds 4"));
    let redraws = out.matches("\x1b[H\x1b[2J").count();
    assert!(redraws >= 3, "expected several in-place redraws, got {redraws}");
    let step1 = out.find("Step:          1/7").expect("step 1 shown");
    let step3 = out.rfind("Step:          3/7").expect("step 3 shown");
    assert!(step1 < step3);
    assert!(out.contains("\x1b[33m॥ Paused\x1b[0m"), "paused is yellow on a terminal");

    // On a terminal with NO_COLOR set: no colours.
    let plain = in_terminal("get rollout canary-rollout")
        .env("SERIN_DATA_DIR", server.data_dir())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(plain.contains("॥ Paused") && !plain.contains("\x1b["), "{plain:?}");

    // Not a terminal: each change appends a whole view, with no escape codes.
    let mut piped = std::process::Command::new(common::serin_binary());
    piped.args(["get", "rollout", "canary-rollout", "--watch", "--timeout-seconds", "4"]);
    let out = output_across_a_promote(&server, piped);
    assert!(!out.contains('\x1b'), "{out:?}");
    let step3 = out.find("Step:          3/7").expect("step 3 shown");
    let step5 = out.rfind("Step:          5/7").expect("step 5 appended");
    assert!(step3 < step5 && out.matches("Name:            canary-rollout").count() >= 2, "{out}");

    // get KIND --watch: the listing again whenever the objects change (here the pods of a
    // new revision).
    let pods = server
        .serin_command(&["get", "pods", "--watch", "--timeout-seconds", "4"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v3"]);
    let out = String::from_utf8_lossy(&pods.wait_with_output().unwrap().stdout).to_string();
    let listings: Vec<&str> = out.split("NAME ").skip(1).collect();
    let names = |listing: &str| -> std::collections::BTreeSet<String> {
        listing.lines().skip(1).filter_map(|l| Some(l.split_whitespace().next()?.to_string())).collect()
    };
    assert!(listings.len() >= 2 && names(listings[0]) != names(listings[listings.len() - 1]), "{out}");
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
    let paused = server.serin_output(&["status", "canary-rollout", "--timeout", "5s"]);
    assert_eq!(paused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&paused.stdout).contains("Paused - CanaryPauseStep"),
        "{}",
        String::from_utf8_lossy(&paused.stdout)
    );
    assert!(String::from_utf8_lossy(&paused.stderr).contains("timed out waiting for rollout 'canary-rollout'"));

    // --timeout 0 waits for ever (as kubectl-argo-rollouts), here until the abort below.
    let mut waiting = server
        .serin_command(&["status", "canary-rollout", "--timeout", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(waiting.try_wait().unwrap().is_none(), "status --timeout 0 gave up at once");

    server.serin(&["abort", "canary-rollout"]);
    let waited = waiting.wait_with_output().unwrap();
    assert_eq!(waited.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&waited.stdout).contains("Degraded - RolloutAborted"));
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
    // A client elsewhere: the server's URL, and the token or not.
    let elsewhere = tempfile::tempdir().unwrap();
    let token = std::fs::read_to_string(server.data_dir().join("token")).unwrap();
    let remote = |extra: &[&str]| {
        std::process::Command::new(common::serin_binary())
            .args(["pause", "canary-rollout", "--server", &server.api])
            .args(extra)
            .env("SERIN_DATA_DIR", elsewhere.path())
            .output()
            .unwrap()
    };
    for (extra, expected) in [
        (
            &[][..],
            "error: this needs the API token: run on the server's machine with the same data dir, or pass --token\n",
        ),
        (
            &["--token", "wrong"][..],
            "error: the server rejected the API token: use the token in the server's data dir (file `token`)\n",
        ),
    ] {
        let out = remote(extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), expected, "{extra:?}");
    }
    // This data dir's token is its own server's: another server (--server) is not sent it.
    let other = Server::start(1.0);
    let out = server.serin_output(&["pause", "canary-rollout", "--server", &other.api]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: this needs the API token: run on the server's machine with the same data dir, or pass --token\n"
    );
    // argocd's exit codes for app diff: 1 is "differences", an error 2.
    let out = server.serin_output(&["app", "diff", "nosuch"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let allowed = remote(&["--token", token.trim()]);
    assert!(allowed.status.success(), "{}", String::from_utf8_lossy(&allowed.stderr));
    assert_eq!(server.object("argoproj.io", "Rollout", "canary-rollout")["spec"]["paused"], true);
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

/// `dashboard --open` says what came of it: nothing to open without a display, a launcher's
/// failure as a failure, and the launcher it used when it worked (given the printed address).
#[test]
fn dashboard_open_says_what_happened() {
    let server = Server::start(10.0);
    let launchers = tempfile::tempdir().unwrap();
    let opened = launchers.path().join("opened");
    let launcher = launchers.path().join("xdg-open");
    let open = |display: Option<&str>, exit: i32| {
        let script = format!("#!/bin/sh\necho \"$1\" > '{}'\nexit {exit}\n", opened.display());
        std::fs::write(&launcher, script).unwrap();
        std::fs::set_permissions(&launcher, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let _ = std::fs::remove_file(&opened);
        let mut command = server.serin_command(&["dashboard", "--open"]);
        command.env("PATH", launchers.path()).env_remove("BROWSER").env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
        if let Some(display) = display {
            command.env("DISPLAY", display);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let url = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let said = String::from_utf8_lossy(&output.stderr).trim().to_string();
        (url, said, std::fs::read_to_string(&opened).ok().map(|u| u.trim().to_string()))
    };
    let (url, said, launched) = open(None, 0);
    assert!(url.ends_with("/ui/") && said.starts_with("no display") && launched.is_none(), "{url} {said} {launched:?}");
    let (_, said, launched) = open(Some(":99"), 3);
    assert_eq!(
        (said.as_str(), launched.as_deref()),
        ("xdg-open failed (exit status: 3): open the address yourself", Some(url.as_str()))
    );
    let (_, said, launched) = open(Some(":99"), 0);
    assert_eq!((said.as_str(), launched.as_deref()), ("opened in xdg-open", Some(url.as_str())));
    assert!(!server.log().contains('\x1b'), "the server's log file holds no colour codes:\n{}", server.log());
    assert!(server.log().contains("serin server started"), "{}", server.log());
}

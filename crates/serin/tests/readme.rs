//! The README's walkthroughs run as written: every `sh` block of "The local platform" and
//! "GitOps" sections, top to bottom, in one fresh shell with `serin` on PATH and a fresh home
//! directory, as a newcomer would paste them. A README edit that breaks a step fails here.

mod common;

use std::path::Path;
use std::process::Command;

/// The `sh` blocks of the README section whose heading starts with `heading`.
fn shell_blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme.find(&format!("\n## {heading}")).unwrap_or_else(|| panic!("no section {heading:?}"));
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |end| end + 3)];
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("```").expect("an unclosed block");
        blocks.push(body[..close].to_string());
        rest = &body[close + 3..];
    }
    blocks
}

#[test]
fn the_local_platform_and_gitops_walkthroughs_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let local = shell_blocks(&readme, "The local platform");
    let gitops = shell_blocks(&readme, "GitOps");
    assert!(local.len() >= 3 && gitops.len() >= 2, "{local:?} {gitops:?}");
    // The walkthroughs use the default addresses, as a reader's first server does.
    for port in [3100, 8080] {
        if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            panic!("127.0.0.1:{port}, which the README's server uses, is taken ({e}): stop what listens there");
        }
    }

    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::symlink(root.join("examples").canonicalize().unwrap(), work.path().join("examples")).unwrap();
    // The server started in the first block is stopped (and with it its pods) when the shell ends.
    let script = format!(
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n{}\n{}",
        local.join("\n"),
        gitops.join("\n")
    );
    let bin = common::serin_binary();
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new("bash")
        .args(["-c", &script])
        .current_dir(work.path())
        .env("PATH", path)
        .env("HOME", &home)
        .env_remove("SERIN_DATA_DIR")
        .env_remove("SERIN_SERVER")
        .env_remove("SERIN_TOKEN")
        .env_remove("XDG_STATE_HOME")
        // A reader's git knows who they are.
        .env("GIT_AUTHOR_NAME", "Reader")
        .env("GIT_AUTHOR_EMAIL", "reader@example.com")
        .env("GIT_COMMITTER_NAME", "Reader")
        .env("GIT_COMMITTER_EMAIL", "reader@example.com")
        .output()
        .unwrap();
    let data_dir = home.join(".local/state/serin");
    let marker = std::fs::read_to_string(data_dir.join("marker")).unwrap_or_default();
    for pid in common::marked_processes(&marker) {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = std::fs::read_to_string(work.path().join("serin.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "the walkthrough failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{}\n--- serin.log\n{}",
        String::from_utf8_lossy(&output.stderr),
        common::tail(&log, 40)
    );

    // What the README says the reader sees, in order.
    let expected = [
        "Healthy",
        "Hello MyApp | Version: v1 |",
        "rollout 'canary-rollout' image updated",
        "rollout.argoproj.io/canary-rollout condition met",
        "Status:          ॥ Paused",
        "  Step:          1/7",
        "  ActualWeight:  10",
        "rollout 'canary-rollout' promoted",
        "rollout 'canary-rollout' aborted",
        "rollout 'canary-rollout' retried",
        "Healthy",
        "application.argoproj.io/canary created",
        "Healthy",
        "argocd/canary  https://kubernetes.default.svc  default    default  Synced  Healthy  Auto",
        "{\"refreshed\":[\"argocd/canary\"]}",
        "rollout.argoproj.io/canary-rollout condition met",
        "Health Status:",
        "Suspended",
    ];
    let mut from = 0;
    for line in expected {
        match stdout[from..].find(line) {
            Some(at) => from += at + line.len(),
            None => panic!("{line:?} not seen (in order) in:\n{stdout}"),
        }
    }
}

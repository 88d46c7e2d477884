//! The web dashboard end to end: the real server, the seed's Application synced from git, real
//! traffic through the router, and Debian's headless Chromium driven by playwright-core
//! (`tests/dashboard/drive.mjs`, installed by `scripts/test.sh`). Also what holds without a
//! browser: read-only without the token, the Content-Security-Policy, no secret in any view.
//!
//! Screenshots go to `target/dashboard-screenshots/`; with `SERIN_UPDATE_SCREENSHOTS=1` also to
//! `docs/screenshots/`, which the README shows.

mod common;

use common::git_server::{Repo, seed_application, seed_repo};
use common::{Server, status};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn token(server: &Server) -> String {
    std::fs::read_to_string(server.data_dir().join("token")).unwrap().trim().to_string()
}

fn get(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().unwrap();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    (response.status().as_u16(), headers, response.body_mut().read_to_string().unwrap())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map_or("", |(_, v)| v.as_str())
}

fn post(url: &str, token: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.post(url).header("Content-Type", "application/json");
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    request.send("{}").unwrap().status().as_u16()
}

/// Runs `node drive.mjs PHASE` against the server; returns the figures it measured. One browser
/// at a time (test runners run tests in parallel, and a second browser would be measured too).
fn drive(server: &Server, phase: &str, extra: &[(&str, &str)]) -> Value {
    let lock = std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-browser.lock")).unwrap();
    lock.lock().unwrap();
    let scripts = Path::new(ROOT).join("tests/dashboard");
    assert!(
        scripts.join("node_modules/playwright-core").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "the dashboard tests need Debian's chromium and `npm ci` in tests/dashboard: run scripts/test.sh, which installs both"
    );
    let shots = screenshot_dir();
    let out = Command::new("node")
        .arg(scripts.join("drive.mjs"))
        .arg(phase)
        .env("SERIN_UI", format!("{}/ui/", server.api))
        .env("SERIN_TOKEN", token(server))
        .env("SERIN_BIN", common::serin_binary())
        .env("SERIN_DATA_DIR", server.data_dir())
        .env_remove("SERIN_SERVER")
        .env("SCREENSHOTS", &shots)
        .envs(extra.iter().copied())
        .output()
        .expect("cannot run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "drive.mjs {phase} failed:\n{stdout}\n{stderr}\n--- server log tail:\n{}",
        common::tail(&server.log(), 30)
    );
    let figures: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("drive.mjs printed no figures ({e}):\n{stdout}"));
    println!("dashboard figures ({phase}): {figures:#}");
    figures
}

fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots")
}

/// Copies the screenshots to docs/screenshots when asked to (SERIN_UPDATE_SCREENSHOTS=1).
fn publish_screenshots() {
    if std::env::var_os("SERIN_UPDATE_SCREENSHOTS").is_none() {
        return;
    }
    let docs = Path::new(ROOT).join("docs/screenshots");
    std::fs::create_dir_all(&docs).unwrap();
    for entry in std::fs::read_dir(screenshot_dir()).unwrap().flatten() {
        std::fs::copy(entry.path(), docs.join(entry.file_name())).unwrap();
    }
}

/// Requests through the router until dropped, so the traffic charts have something to draw.
struct Traffic {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(web: std::net::SocketAddr) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // Bounded: at most 20 requests a second for ten minutes.
            for _ in 0..12_000 {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(mut stream) = std::net::TcpStream::connect(web) {
                    use std::io::{Read, Write};
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: canary.myapp.com\r\nConnection: close\r\n\r\n");
                    let _ = stream.read_to_end(&mut Vec::new());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Traffic { stop, thread: Some(thread) }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn paused_at(step: i64) -> impl Fn(&Value) -> bool {
    move |tree| status(tree)["currentStepIndex"] == step && status(tree)["phase"] == "Paused"
}

/// The seed's story as its author watched it in Argo's and Traefik's dashboards: an
/// Application synced from git, a commit of v2, the canary paused at 10%; then Promote and
/// Abort clicked in the browser.
#[test]
fn the_dashboard_shows_and_steers_the_seed_in_chromium() {
    let repo: Repo = seed_repo();
    let server = Server::start(1.0);
    server.apply_text("canary.yaml", &seed_application(&repo.file_url()));
    let deadline = std::time::Instant::now() + WAIT;
    while !server.serin_output(&["get", "rollout", "canary-rollout"]).status.success() {
        assert!(std::time::Instant::now() < deadline, "the Application was not synced:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    server.wait_for("v1 synced from git and healthy", WAIT, |t| {
        status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10
    });
    let rollout = repo.read("argorollout-canary/rollout.yaml").replace("myapp:v1", "myapp:v2");
    repo.write("argorollout-canary/rollout.yaml", &rollout);
    let commit = repo.commit_and_push("update v2");
    let synced = server.serin(&["app", "sync", "canary"]);
    assert!(synced.contains("Phase:              Succeeded"), "{synced}");
    server.wait_for("step 1", WAIT, paused_at(1));
    let _traffic = Traffic::start(server.web);

    let figures = drive(&server, "seed", &[("SERIN_COMMIT", &commit)]);
    for page in ["rollouts", "rollout", "routes", "applications"] {
        assert!(figures["loadMs"][page]["navigation"]["n"].as_u64() > Some(0), "{page} never loaded: {figures}");
    }
    record_figures("seed", &figures);
    for page in ["rollouts", "rollout", "routes", "applications", "rollout-phone"] {
        assert!(screenshot_dir().join(format!("{page}.png")).is_file(), "no screenshot of {page}");
    }
    publish_screenshots();

    // What the browser showed is what the server has.
    let tree = server.tree("canary-rollout");
    assert_eq!((status(&tree)["abort"].as_bool(), status(&tree)["phase"].as_str()), (Some(true), Some("Degraded")));
    for group in ["traefik.io", "traefik.containo.us"] {
        assert_eq!(
            common::weights(&server, group),
            [("canary-active".into(), 0), ("canary-preview".into(), 100)],
            "{group}"
        );
    }
}

/// examples/bluegreen paused before its switch: the page names the active and preview Services
/// and the revisions they select, marks the stage it waits in, and promotes by a click.
#[test]
fn the_dashboard_shows_and_promotes_a_blue_green_rollout() {
    let server = Server::start(10.0);
    server.serin(&["apply", "-f", concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/bluegreen")]);
    server.wait_for_rollout("bluegreen", "v1 healthy", WAIT, |t| status(t)["phase"] == "Healthy");
    server.serin(&["set", "image", "bluegreen", "myapp=ikubernetes/myapp:v2"]);
    server.wait_for_rollout("bluegreen", "paused before the switch", WAIT, |t| {
        status(t)["message"] == "BlueGreenPause" && status(t)["replicas"] == 6
    });
    let figures = drive(&server, "bluegreen", &[]);
    record_figures("bluegreen", &figures);
    let tree = server.tree("bluegreen");
    assert_eq!(status(&tree)["blueGreen"]["activeSelector"], status(&tree)["currentPodHash"], "the click promoted it");
    publish_screenshots();
}

/// 100 rollouts of one pod each: the list loads, redraws, filters and follows a change.
#[test]
fn a_hundred_rollouts_stay_responsive() {
    let server = Server::start(1.0);
    let manifests: Vec<String> = (0..100)
        .map(|i| {
            format!(
                "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: load-{i:03}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: load-{i:03}}}\n  strategy:\n    canary:\n      steps:\n      - setWeight: 50\n      - pause: {{}}\n  template:\n    metadata:\n      labels: {{app: load-{i:03}}}\n    spec:\n      containers:\n      - name: app\n        image: ikubernetes/myapp:v1\n"
            )
        })
        .collect();
    server.apply_text("load.yaml", &manifests.join("---\n"));
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let list = server.serin(&["list", "rollouts"]);
        if list.lines().skip(1).filter(|l| l.contains("Healthy")).count() == 100 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "100 rollouts did not become healthy:\n{list}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let figures = drive(&server, "hundred", &[]);
    for figure in ["rolloutsPageLoadMs", "redrawMs", "liveUpdateMs", "filterMs"] {
        assert!(!figures[figure].is_null(), "drive.mjs measured no {figure}: {figures}");
    }
    record_figures("hundred", &figures);
}

/// Timings are not asserted (a loaded CI machine is no measure): they are written to
/// `target/tmp/dashboard-figures/NAME.json` and printed; `bench/dashboard.sh` runs these
/// tests on a release build and reports them.
fn record_figures(name: &str, figures: &Value) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-figures");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), figures.to_string()).unwrap();
    eprintln!("dashboard figures ({name}): {figures}");
}

/// Without the token the dashboard only shows; every response carries the CSP; pages name
/// no other host than loopback; no view carries a secret value.
#[test]
fn the_dashboard_is_read_only_without_the_token_and_shows_no_secrets() {
    let server = Server::start(1.0);
    let secret = "s3cr3t-value-never-shown";
    server.apply_text(
        "secret.yaml",
        &format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: quiet\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: quiet}}\n  strategy:\n    canary: {{}}\n  template:\n    metadata:\n      labels: {{app: quiet}}\n    spec:\n      containers:\n      - name: app\n        image: ikubernetes/myapp:v1\n        env:\n        - name: PASSWORD\n          value: {secret}\n---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: private\n  namespace: argocd\nspec:\n  destination: {{server: 'https://kubernetes.default.svc', namespace: default}}\n  source: {{repoURL: 'http://bot:{secret}@127.0.0.1:9/repo.git', path: app, targetRevision: main}}\n"
        ),
    );
    server.wait_for_rollout("quiet", "quiet healthy", WAIT, |t| status(t)["phase"] == "Healthy");

    let ui = format!("{}/ui/", server.api);
    let (code, headers, html) = get(&ui, &[]);
    assert_eq!(code, 200);
    let csp = header(&headers, "content-security-policy");
    for directive in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"] {
        assert!(csp.contains(directive), "{directive} missing from {csp:?}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    let script = regex::Regex::new(r#"<script src="assets/app.js\?v=([0-9a-f]{16})" defer></script>"#).unwrap();
    let version = &script.captures(&html).unwrap_or_else(|| panic!("no versioned script in {html}"))[1];
    let (_, headers, _) = get(&format!("{ui}assets/app.js?v={version}"), &[]);
    assert!(header(&headers, "cache-control").contains("immutable"), "{headers:?}");
    let (_, headers, _) = get(&format!("{ui}assets/app.js?v=0000000000000000"), &[]);
    assert_eq!(header(&headers, "cache-control"), "no-cache", "an old version may not be cached");
    let inline = regex::Regex::new(r"<script>|<style|\son[a-z]+=|style=|javascript:").unwrap();
    assert!(!inline.is_match(&html), "inline code in {html}");
    for asset in ["app.js", "style.css", "icon.svg"] {
        let (code, headers, _) = get(&format!("{ui}assets/{asset}"), &[]);
        assert_eq!(code, 200, "{asset}");
        assert!(!header(&headers, "content-security-policy").is_empty(), "{asset} without a CSP");
    }
    let (_, headers, _) = get(&format!("{}/api/v1/objects?kind=Pod", server.api), &[]);
    assert!(!header(&headers, "content-security-policy").is_empty(), "API answers without a CSP");

    // Read-only without the token, and with a wrong one.
    let (_, _, session) = get(&format!("{ui}api/session"), &[]);
    assert!(session.contains("\"authorized\":false"), "{session}");
    let (_, _, session) = get(&format!("{ui}api/session"), &[("Authorization", "Bearer nope")]);
    assert!(session.contains("\"authorized\":false"), "{session}");
    let bearer = format!("Bearer {}", token(&server));
    let (_, _, session) = get(&format!("{ui}api/session"), &[("Authorization", &bearer)]);
    assert!(session.contains("\"authorized\":true"), "{session}");
    let pause = format!("{}/api/v1/rollouts/default/quiet/pause", server.api);
    assert_eq!(post(&pause, None), 401);
    assert_eq!(post(&pause, Some("nope")), 401);
    let sync = format!("{}/api/v1/applications/argocd/private/sync", server.api);
    assert_eq!(post(&sync, None), 401);

    // A page whose name was rebound to 127.0.0.1 cannot read the dashboard.
    let (code, _, _) = get(&ui, &[("Host", "evil.example:3100")]);
    assert_eq!(code, 403);
    let (code, _, _) = get(&ui, &[("Host", "localhost")]);
    assert_eq!(code, 200);

    // No view carries the secret: not the pod's environment, not the repository's password.
    for page in ["rollouts", "rollout&namespace=default&name=quiet", "routes", "applications"] {
        let (code, _, body) = get(&format!("{ui}api/view?page={page}"), &[]);
        assert_eq!(code, 200, "{page}: {body}");
        assert!(!body.contains(secret), "{page} shows the secret: {body}");
    }
    let (_, _, apps) = get(&format!("{ui}api/view?page=applications"), &[]);
    assert!(apps.contains("http://***@127.0.0.1:9/repo.git"), "{apps}");

    // The API is held to the same rules: on loopback it answers no other host, and its reads
    // without the token hide every secret value (container env, repository credentials, the
    // last-applied copy); logs need the token. /metrics stays open to scrapers.
    let api = &server.api;
    let objects = format!("{api}/api/v1/objects?kind=Rollout&group=argoproj.io");
    assert_eq!(get(&objects, &[("Host", "evil.example:3100")]).0, 403);
    assert_eq!(get(&format!("{api}/metrics"), &[("Host", "evil.example:3100")]).0, 200);
    let reads = [
        objects.clone(),
        format!("{api}/api/v1/objects?kind=Pod"),
        format!("{api}/api/v1/objects?kind=ReplicaSet&group=apps"),
        format!("{api}/api/v1/objects?kind=Application&group=argoproj.io"),
        format!("{api}/api/v1/object?group=argoproj.io&kind=Rollout&namespace=default&name=quiet"),
        format!("{api}/api/v1/rollouts/default/quiet/tree"),
    ];
    for url in &reads {
        let (code, _, body) = get(url, &[]);
        assert_eq!(code, 200, "{url}: {body}");
        assert!(!body.contains(secret), "{url} shows the secret: {body}");
    }
    let (_, _, pods) = get(&format!("{api}/api/v1/objects?kind=Pod"), &[]);
    assert!(pods.contains("\"value\":\"***\""), "{pods}");
    let (_, _, with_token) = get(&reads[1], &[("Authorization", &bearer)]);
    assert!(with_token.contains(secret), "with the token nothing is hidden: {with_token}");
    let pod: Value = serde_json::from_str(&pods).unwrap();
    let pod = pod["items"][0]["metadata"]["name"].as_str().unwrap();
    assert_eq!(get(&format!("{api}/api/v1/logs/default/{pod}"), &[]).0, 401);
    assert_eq!(get(&format!("{api}/api/v1/logs/default/{pod}"), &[("Authorization", &bearer)]).0, 200);
    // The CLI on the server's machine sends the token and shows everything.
    assert!(server.serin(&["get", "rollout", "quiet", "-o", "yaml"]).contains(secret));
    let (_, _, rollout) = get(&format!("{ui}api/view?page=rollout&namespace=default&name=quiet"), &[]);
    assert!(rollout.contains("\"phase\":\"Healthy\"") && rollout.contains("quiet-"), "{rollout}");

    // `serin dashboard` prints the address; with --with-token, the token after `#`.
    assert_eq!(server.serin(&["dashboard"]).trim(), ui);
    let with_token = server.serin(&["dashboard", "--with-token"]);
    assert_eq!(with_token.trim(), format!("{ui}#token={}", token(&server)));
}

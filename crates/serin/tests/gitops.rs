//! GitOps end to end: a real git server on loopback (`git http-backend` over HTTP, `git
//! daemon`, file://), the seed's Application pointed at it, the real server syncing, and
//! `git push` starting the canary.

mod common;

use common::git_server::{GitDaemon, GitHttp, Repo, example, seed_application, seed_repo};
use common::{Server, status, weights};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
/// A smaller Application: the Services and Traefik objects only (no pods), with a policy.
fn application(name: &str, url: &str, path: &str, revision: &str, automated: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\nspec:\n  project: default\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: default\n  source:\n    repoURL: {url}\n    path: {path}\n    targetRevision: {revision}\n{automated}"
    )
}

fn app(server: &Server, name: &str) -> Value {
    let url = format!("{}/api/v1/object?group=argoproj.io&kind=Application&namespace=argocd&name={name}", server.api);
    ureq::get(&url).call().unwrap().body_mut().read_json().unwrap()
}

fn wait_app(server: &Server, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let app = app(server, name);
        if check(&app) {
            return app;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; application status:\n{:#}\n--- server log tail:\n{}",
            app["status"],
            common::tail(&server.log(), 30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn synced_at(commit: &str) -> impl Fn(&Value) -> bool + '_ {
    move |app| app["status"]["sync"]["status"] == "Synced" && app["status"]["sync"]["revision"] == commit
}

fn condition(app: &Value, kind: &str) -> String {
    app["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .map(|c| c["message"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

fn webhook(server: &Server, payload: Value) -> Value {
    ureq::post(&format!("{}/api/webhook", server.api))
        .header("X-Gitlab-Event", "Push Hook")
        .send_json(payload)
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

fn service_exists(server: &Server, name: &str) -> bool {
    server.serin_output(&["get", "svc", name]).status.success()
}

fn paused_at(step: i64) -> impl Fn(&Value) -> bool {
    move |tree| status(tree)["currentStepIndex"] == step && status(tree)["phase"] == "Paused"
}

fn healthy_v1(tree: &Value) -> bool {
    status(tree)["phase"] == "Healthy" && status(tree)["availableReplicas"] == 10
}

#[test]
fn the_seed_flow_over_http_a_push_and_a_webhook_start_the_canary() {
    let repo = seed_repo();
    let http = GitHttp::serve(repo.root.path());
    let server = Server::start(10.0);
    let first = common::git_server::git(&repo.work, &["rev-parse", "HEAD"]);
    server.apply_text("canary.yaml", &seed_application(&http.url()));

    wait_app(&server, "canary", "the first sync", synced_at(&first));
    server.wait_for("10 v1 pods, synced from git", WAIT, healthy_v1);
    let synced = wait_app(&server, "canary", "Synced and Healthy", |a| {
        synced_at(&first)(a) && a["status"]["health"]["status"] == "Healthy"
    });
    assert_eq!(synced["status"]["history"].as_array().unwrap().len(), 1);
    let service = server.object("", "Service", "canary-active");
    assert_eq!(
        service["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
        "canary:/Service:default/canary-active"
    );
    let list = server.serin(&["app", "list"]);
    let row = list.lines().nth(1).unwrap();
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "argocd/canary",
            "https://kubernetes.default.svc",
            "default",
            "default",
            "Synced",
            "Healthy",
            "Auto",
            "<none>",
            http.url().as_str(),
            "argorollout-canary",
            "main"
        ],
        "{list}"
    );
    assert!(list.starts_with("NAME           CLUSTER                         NAMESPACE  PROJECT  STATUS  HEALTH   SYNCPOLICY  CONDITIONS  REPO"), "{list}");
    // `kubectl get application -n argocd`, as the seed prints it.
    assert_eq!(
        server.serin(&["get", "application", "-n", "argocd"]),
        "NAME     SYNC STATUS   HEALTH STATUS\ncanary   Synced        Healthy\n"
    );

    repo.write(
        "argorollout-canary/rollout.yaml",
        &repo.read("argorollout-canary/rollout.yaml").replace("ikubernetes/myapp:v1", "ikubernetes/myapp:v2"),
    );
    let second = repo.commit_and_push("update v2");
    let answer = webhook(
        &server,
        json!({"object_kind": "push", "ref": "refs/heads/main", "project": {"git_http_url": http.url()}}),
    );
    assert_eq!(answer["refreshed"], json!(["argocd/canary"]));
    let tree = server.wait_for("the canary at step 1", WAIT, paused_at(1));
    assert_eq!(status(&tree)["message"], "CanaryPauseStep");
    for group in ["traefik.io", "traefik.containo.us"] {
        assert_eq!(weights(&server, group), [("canary-active".into(), 10), ("canary-preview".into(), 90)], "{group}");
    }
    let suspended = wait_app(&server, "canary", "Suspended and still Synced", |a| {
        synced_at(&second)(a) && a["status"]["health"]["status"] == "Suspended"
    });
    assert_eq!(suspended["status"]["history"].as_array().unwrap().len(), 2);
    // The weights and selectors serin wrote are not drift: still Synced a while later.
    std::thread::sleep(Duration::from_millis(500));
    assert!(synced_at(&second)(&app(&server, "canary")), "{:#}", app(&server, "canary")["status"]);
    let view = server.serin(&["app", "get", "canary"]);
    for line in [
        "Name:               argocd/canary".to_string(),
        format!("Sync Status:        Synced to main ({})", &second[..7]),
        "Health Status:      Suspended".to_string(),
        "Sync Policy:        Automated".to_string(),
    ] {
        assert!(view.contains(&line), "missing {line:?} in\n{view}");
    }
    let rollout_row: Vec<&str> = view.lines().find(|l| l.contains(" Rollout ")).unwrap().split_whitespace().collect();
    assert_eq!(
        rollout_row[..6],
        ["argoproj.io", "Rollout", "default", "canary-rollout", "Synced", "Suspended"],
        "{view}"
    );
    // -n picks the namespace to look in, as NAMESPACE/NAME does.
    assert_eq!(server.serin(&["app", "get", "canary", "-n", "argocd"]), view);
    let elsewhere = server.serin_output(&["app", "get", "canary", "-n", "default"]);
    assert_eq!(
        String::from_utf8_lossy(&elsewhere.stderr),
        "error: application 'canary' not found in namespace default\n"
    );
    let history = server.serin(&["app", "history", "argocd/canary"]);
    assert!(history.contains(&format!("main ({first})")) && history.contains(&format!("main ({second})")), "{history}");
    assert_eq!(server.versions(10).get("Version: v2"), Some(&1));
}

#[test]
fn a_poll_over_git_daemon_finds_the_push_and_a_killed_server_loses_nothing() {
    let repo = seed_repo();
    let daemon = GitDaemon::serve(repo.root.path());
    // Polls every 13-20 s of server time: 1.3-2 s at 10x.
    let mut server = Server::start_with(10.0, &["--app-resync", "20s"]);
    server.apply_text("canary.yaml", &seed_application(&daemon.url()));
    let first = common::git_server::git(&repo.work, &["rev-parse", "HEAD"]);
    wait_app(&server, "canary", "the first sync", synced_at(&first));
    server.wait_for("10 v1 pods, synced from git", WAIT, healthy_v1);

    repo.write(
        "argorollout-canary/rollout.yaml",
        &repo.read("argorollout-canary/rollout.yaml").replace("ikubernetes/myapp:v1", "ikubernetes/myapp:v2"),
    );
    let second = repo.commit_and_push("update v2");
    server.wait_for("the canary at step 1 after a poll", WAIT, paused_at(1));
    let before = wait_app(&server, "canary", "Synced to v2", |a| {
        synced_at(&second)(a) && a["status"]["health"]["status"] == "Suspended"
    });

    server.kill_hard();
    server.spawn(10.0);
    server.wait_for("the same pause after restart", WAIT, paused_at(1));
    let after = wait_app(&server, "canary", "Synced after restart", synced_at(&second));
    assert_eq!(after["status"]["history"], before["status"]["history"], "no sync lost or repeated");
    assert_eq!(after["status"]["operationState"], before["status"]["operationState"]);
    assert_eq!(weights(&server, "traefik.io"), [("canary-active".into(), 10), ("canary-preview".into(), 90)]);
}

/// A repository with the seed's Services and Traefik objects (no Rollout, so no pods) under
/// `services/`, and one more Service under `keep/`.
fn services_repo() -> Repo {
    let extra = "apiVersion: v1\nkind: Service\nmetadata:\n  name: kept\nspec:\n  selector:\n    app: myapp\n  ports:\n  - name: http\n    port: 80\n";
    let service = example("argo-demo/argorollout-canary/service.yaml");
    let ingress = example("argo-demo/argorollout-canary/ingress.yaml");
    Repo::new(&[
        ("services/service.yaml", &service),
        ("services/ingress.yaml", &ingress),
        ("keep/kept.yaml", extra),
        ("keep/README.md", "not a manifest\n"),
    ])
}

fn policy(prune: bool, self_heal: bool) -> String {
    format!("  syncPolicy:\n    automated:\n      prune: {prune}\n      selfHeal: {self_heal}\n")
}

#[test]
fn prune_removes_only_what_git_dropped_and_self_heal_reverts_hand_edits() {
    let repo = services_repo();
    let server = Server::start(10.0);
    let url = repo.file_url();
    server.apply_text("apps.yaml", &application("services", &url, "services", "main", &policy(true, true)));
    server.apply_text("keep.yaml", &application("keep", &url, "keep", "main", &policy(false, false)));
    let first = common::git_server::git(&repo.work, &["rev-parse", "HEAD"]);
    wait_app(&server, "services", "services synced", synced_at(&first));
    wait_app(&server, "keep", "keep synced", synced_at(&first));
    let hand_made = "apiVersion: v1\nkind: Service\nmetadata:\n  name: hand-made\nspec:\n  selector:\n    app: myapp\n  ports:\n  - name: http\n    port: 80\n";
    server.apply_text("hand-made.yaml", hand_made);

    // prune: true deletes the Service removed from git, and nothing applied by hand.
    let service = example("argo-demo/argorollout-canary/service.yaml");
    repo.write("services/service.yaml", service.split("---").next().unwrap());
    repo.remove("keep/kept.yaml");
    let second = repo.commit_and_push("drop canary-preview and kept");
    webhook(&server, json!({"ref": "refs/heads/main", "repository": {"clone_url": url}}));
    wait_app(&server, "services", "canary-preview pruned", synced_at(&second));
    assert!(!service_exists(&server, "canary-preview"));
    assert!(service_exists(&server, "hand-made") && service_exists(&server, "canary-active"));

    // prune: false keeps it, OutOfSync, and says it requires pruning.
    let keep = wait_app(&server, "keep", "keep OutOfSync", |a| a["status"]["sync"]["status"] == "OutOfSync");
    assert!(service_exists(&server, "kept"));
    assert_eq!(keep["status"]["resources"][0]["requiresPruning"], true, "{:#}", keep["status"]);
    let diff = server.serin_output(&["app", "diff", "keep"]);
    let text = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(diff.status.code(), Some(1), "{text}");
    assert!(text.contains("===== /Service default/kept ======") && text.contains("< kind: Service"), "{text}");
    assert!(server.serin(&["app", "get", "keep"]).contains("OutOfSync (requires pruning)"));

    // selfHeal: a Service deleted by hand comes back; a hand edit of a synced field is undone.
    server.serin(&["delete", "svc", "canary-active"]);
    wait_app(&server, "services", "canary-active restored", |a| {
        synced_at(&second)(a) && a["status"]["history"].as_array().unwrap().len() >= 3
    });
    assert!(service_exists(&server, "canary-active"));
    let edited = service.split("---").next().unwrap().replace("port: 80", "port: 8080");
    server.apply_text("edited.yaml", &edited);
    let deadline = Instant::now() + WAIT;
    while server.object("", "Service", "canary-active")["spec"]["ports"][0]["port"] != 80 {
        assert!(Instant::now() < deadline, "the hand edit was not reverted:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_app(&server, "services", "Synced again", synced_at(&second));
}

/// With webhook secrets set, only a push that proves it knows its forge's secret triggers a
/// read: GitHub's signature, GitLab's token; JSON only. Refused requests change nothing.
#[test]
fn webhook_secrets_keep_out_pushes_that_cannot_prove_them() {
    let repo = services_repo();
    let server = Server::start_with(
        10.0,
        &["--app-resync", "10h", "--webhook-github-secret", "gh-s3cret", "--webhook-gitlab-secret", "gl-s3cret"],
    );
    let url = repo.file_url();
    server.apply_text("keep.yaml", &application("keep", &url, "keep", "main", &policy(false, false)));
    let first = common::git_server::git(&repo.work, &["rev-parse", "HEAD"]);
    wait_app(&server, "keep", "the first sync", synced_at(&first));
    let kept = std::fs::read_to_string(repo.work.join("keep/kept.yaml")).unwrap();
    repo.write("keep/kept.yaml", &kept.replace("port: 80", "port: 81"));
    let second = repo.commit_and_push("port 81");

    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let body = json!({"ref": "refs/heads/main", "repository": {"clone_url": url}}).to_string();
    let send = |content_type: &str, headers: &[(&str, &str)]| {
        let mut request = agent.post(&format!("{}/api/webhook", server.api)).header("Content-Type", content_type);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send(body.as_str()).unwrap();
        (response.status().as_u16(), response.body_mut().read_to_string().unwrap())
    };
    let signature = |secret: &str| {
        let mut openssl = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-hmac", secret])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(openssl.stdin.as_mut().unwrap(), body.as_bytes()).unwrap();
        let out = String::from_utf8(openssl.wait_with_output().unwrap().stdout).unwrap();
        format!("sha256={}", out.trim().rsplit(' ').next().unwrap())
    };
    let refused = [
        send("text/plain", &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &signature("gh-s3cret"))]),
        send("application/json", &[("X-GitHub-Event", "push")]),
        send("application/json", &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &signature("guess"))]),
        send("application/json", &[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "guess")]),
        send("application/json", &[]),
    ];
    let statuses: Vec<u16> = refused.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [415, 401, 401, 401, 401], "{refused:?}");
    assert!(refused[2].1.contains("x-hub-signature-256 does not match the body"), "{refused:?}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(synced_at(&first)(&app(&server, "keep")), "a refused push changed nothing");

    let (status, answer) =
        send("application/json", &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &signature("gh-s3cret"))]);
    assert_eq!((status, answer.as_str()), (200, r#"{"refreshed":["argocd/keep"]}"#));
    wait_app(&server, "keep", "synced after the signed push", synced_at(&second));
    let (status, _) =
        send("application/json; charset=utf-8", &[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "gl-s3cret")]);
    assert_eq!(status, 200);
}

/// `app diff` shows what git would change back, and none of the metadata the server sets
/// (a hand edit bumps the live generation; a sync would not write git's).
#[test]
fn app_diff_shows_a_hand_edit_and_no_server_set_metadata() {
    let repo = services_repo();
    let server = Server::start(10.0);
    server.apply_text("keep.yaml", &application("keep", &repo.file_url(), "keep", "main", &policy(false, false)));
    let first = common::git_server::git(&repo.work, &["rev-parse", "HEAD"]);
    wait_app(&server, "keep", "keep synced", synced_at(&first));
    let kept = std::fs::read_to_string(repo.work.join("keep/kept.yaml")).unwrap();
    server.apply_text("edited.yaml", &kept.replace("port: 80", "port: 8080"));
    wait_app(&server, "keep", "keep OutOfSync", |a| a["status"]["sync"]["status"] == "OutOfSync");

    let token = std::fs::read_to_string(server.data_dir().join("token")).unwrap();
    let raw: Value = ureq::get(&format!("{}/api/v1/applications/argocd/keep/diff", server.api))
        .header("Authorization", &format!("Bearer {}", token.trim()))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let item = &raw["items"][0];
    assert_ne!(item["live"]["metadata"]["generation"], item["target"]["metadata"]["generation"], "{raw:#}");

    let diff = server.serin_output(&["app", "diff", "keep"]);
    let text = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(diff.status.code(), Some(1), "{text}");
    let changed = |side: &str, line: &str| text.lines().any(|l| l.starts_with(side) && l.trim_end().ends_with(line));
    assert!(changed("<", "port: 8080") && changed(">", "port: 80"), "{text}");
    for server_set in ["generation", "resourceVersion", "uid:", "creationTimestamp"] {
        assert!(!text.contains(server_set), "{server_set} in\n{text}");
    }
}

#[test]
fn a_prune_spares_objects_marked_prune_false_and_follows_a_new_destination() {
    let service = |name: &str, annotations: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n{annotations}spec:\n  selector:\n    app: myapp\n  ports:\n  - name: http\n    port: 80\n"
        )
    };
    let protected = service("protected", "  annotations:\n    argocd.argoproj.io/sync-options: Prune=false\n");
    let repo = Repo::new(&[
        ("apps/plain.yaml", &service("plain", "")),
        ("apps/protected.yaml", &protected),
        ("apps/anchor.yaml", &service("anchor", "")),
    ]);
    // No poll during the test: what is read from git is read on a webhook or a spec change.
    let server = Server::start_with(10.0, &["--app-resync", "10h"]);
    let url = repo.file_url();
    let app_text = application("apps", &url, "apps", "main", &policy(true, false));
    server.apply_text("app.yaml", &app_text);
    let first = common::git_server::git(&repo.work, &["rev-parse", "HEAD"]);
    wait_app(&server, "apps", "synced", synced_at(&first));

    // Argo CD's sync option: the object stays, the sync says why, the app stays OutOfSync.
    repo.remove("apps/plain.yaml");
    repo.remove("apps/protected.yaml");
    let second = repo.commit_and_push("drop plain and protected");
    webhook(&server, json!({"ref": "refs/heads/main", "repository": {"clone_url": url}}));
    let app = wait_app(&server, "apps", "the pruning sync", |a| {
        a["status"]["operationState"]["syncResult"]["revision"] == second.as_str()
            && a["status"]["operationState"]["phase"] == "Succeeded"
    });
    assert!(!service_exists(&server, "plain") && service_exists(&server, "protected"));
    let results = app["status"]["operationState"]["syncResult"]["resources"].as_array().unwrap();
    assert!(
        results
            .iter()
            .any(|r| r["name"] == "protected" && r["status"] == "PruneSkipped" && r["message"] == "ignored (no prune)"),
        "{results:#?}"
    );
    let compared = wait_app(&server, "apps", "the comparison after the sync", |a| {
        a["status"]["sync"]["revision"] == second.as_str() && a["status"]["sync"]["status"] == "OutOfSync"
    });
    let protected = compared["status"]["resources"].as_array().unwrap().iter().find(|r| r["name"] == "protected");
    assert_eq!(protected.unwrap()["requiresPruning"], true, "{:#}", compared["status"]);

    // A new destination namespace is compared against at once (not at the next poll, hours
    // away): its objects are missing there; a sync puts them there.
    server.apply_text("app.yaml", &app_text.replace("namespace: default", "namespace: elsewhere"));
    wait_app(&server, "apps", "the new destination compared", |a| {
        a["status"]["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["name"] == "anchor" && r["namespace"] == "elsewhere" && r["status"] == "OutOfSync")
    });
    server.serin(&["app", "sync", "apps"]);
    assert!(server.serin_output(&["get", "svc", "anchor", "-n", "elsewhere"]).status.success());
}

#[test]
fn an_application_whose_path_holds_its_own_manifest_syncs() {
    let repo = services_repo();
    let url = repo.file_url();
    // Argo CD's app-of-apps shape: the Application is among the manifests it syncs.
    let own = application("services", &url, "services", "main", &policy(true, false));
    repo.write("services/application.yaml", &own);
    let commit = repo.commit_and_push("the application manages itself");
    let server = Server::start(10.0);
    server.apply_text("app.yaml", &own);
    let synced = wait_app(&server, "services", "synced", synced_at(&commit));
    assert_eq!(synced["status"]["operationState"]["phase"], "Succeeded", "{:#}", synced["status"]);
    assert!(service_exists(&server, "canary-active"));
    std::thread::sleep(Duration::from_millis(500));
    let later = app(&server, "services");
    assert!(synced_at(&commit)(&later), "{:#}", later["status"]);
    assert_eq!(later["status"]["history"].as_array().unwrap().len(), 1, "synced once: {:#}", later["status"]);
}

#[test]
fn bad_input_changes_nothing_and_says_why() {
    let repo = services_repo();
    let daemon = GitDaemon::serve(repo.root.path());
    let server = Server::start(10.0);
    let url = repo.file_url();
    let first = common::git_server::git(&repo.work, &["rev-parse", "HEAD"]);
    server.apply_text("services.yaml", &application("services", &url, "services", "main", &policy(true, false)));
    wait_app(&server, "services", "synced", synced_at(&first));
    let live = |server: &Server| server.object("", "Service", "canary-active")["spec"].clone();
    let before = live(&server);

    // A broken manifest: nothing of that commit is applied, and the condition says where.
    let service = repo.read("services/service.yaml");
    repo.write(
        "services/service.yaml",
        &service.replacen("  selector:", "  selectr:", 1).replacen("port: 80", "port: 81", 1),
    );
    let broken = repo.commit_and_push("typo");
    webhook(&server, json!({"ref": "refs/heads/main", "repository": {"clone_url": url}}));
    let app_state = wait_app(&server, "services", "a ComparisonError", |a| !condition(a, "ComparisonError").is_empty());
    let message = condition(&app_state, "ComparisonError");
    assert!(message.contains(&format!("invalid manifests at {}", &broken[..7])), "{message}");
    assert!(message.contains("services/service.yaml:8:3: spec.selectr: unknown field \"selectr\""), "{message}");
    assert_eq!(app_state["status"]["sync"]["status"], "Unknown");
    assert_eq!(live(&server), before);
    let list = server.serin(&["app", "list"]);
    assert!(list.lines().nth(1).unwrap().contains("ComparisonError"), "{list}");

    // Fixed: synced. Then that commit is rewritten and force-pushed: not synced
    // automatically, and said so; `app sync` accepts it.
    repo.write("services/service.yaml", &service.replacen("port: 80", "port: 81", 1));
    let fixed = repo.commit_and_push("typo fixed");
    webhook(&server, json!({"ref": "refs/heads/main", "repository": {"clone_url": url}}));
    wait_app(&server, "services", "synced to the fix", synced_at(&fixed));
    assert_eq!(live(&server)["ports"][0]["port"], 81);
    repo.write("services/service.yaml", &service.replacen("port: 80", "port: 82", 1));
    let forced = repo.amend_and_force_push("typo fixed, history rewritten");
    webhook(&server, json!({"ref": "refs/heads/main", "repository": {"clone_url": url}}));
    let held = wait_app(&server, "services", "the force-push held", |a| !condition(a, "SyncError").is_empty());
    assert!(condition(&held, "SyncError").contains("was force-pushed"), "{:#}", held["status"]);
    assert_eq!(held["status"]["sync"]["status"], "OutOfSync");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(live(&server)["ports"][0]["port"], 81);
    let synced = server.serin(&["app", "sync", "services"]);
    assert!(synced.contains("Phase:              Succeeded"), "{synced}");
    wait_app(&server, "services", "synced to the forced commit", synced_at(&forced));
    assert_eq!(live(&server)["ports"][0]["port"], 82);

    // A missing revision and an unreachable repository: conditions, nothing applied.
    server.apply_text(
        "missing.yaml",
        &application("missing", &daemon.url(), "keep", "no-such-branch", &policy(true, true)),
    );
    let missing = wait_app(&server, "missing", "revision not found", |a| !condition(a, "ComparisonError").is_empty());
    assert!(
        condition(&missing, "ComparisonError").contains("revision \"no-such-branch\" not found in git://"),
        "{:#}",
        missing["status"]
    );
    let closed = "http://127.0.0.1:9/nowhere.git";
    server.apply_text("unreachable.yaml", &application("unreachable", closed, "keep", "main", &policy(true, true)));
    let unreachable = wait_app(&server, "unreachable", "unreachable", |a| !condition(a, "ComparisonError").is_empty());
    assert!(
        condition(&unreachable, "ComparisonError").starts_with(&format!("repository {closed} is unreachable")),
        "{:#}",
        unreachable["status"]
    );
    assert!(!service_exists(&server, "kept"), "nothing was applied from the failing applications");

    // Manual sync when not automated.
    server.apply_text("manual.yaml", &application("manual", &daemon.url(), "keep", "HEAD", ""));
    let manual = wait_app(&server, "manual", "OutOfSync, Missing", |a| a["status"]["sync"]["status"] == "OutOfSync");
    assert_eq!(manual["status"]["health"]["status"], "Missing");
    assert!(!service_exists(&server, "kept"));
    server.serin(&["app", "sync", "manual"]);
    assert!(service_exists(&server, "kept"));
    wait_app(&server, "manual", "Synced", |a| a["status"]["sync"]["status"] == "Synced");
}

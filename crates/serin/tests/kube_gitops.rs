//! The seed's whole system on a cluster: its `canary.yaml` Application, pointed at a real git
//! server (`git daemon`), applied to a real kube-apiserver, synced by `serin controller
//! --gitops` with nothing of Argo CD installed. A pushed image tag starts the canary; a
//! commit unrelated to it syncs without touching what the rollout controller set; prune,
//! selfHeal, manual sync, diff and history work as `argocd app` users know them.

#[path = "common/git_server.rs"]
#[allow(dead_code)]
mod git_server;
mod kubeenv;

use git_server::{GitDaemon, Repo, seed_application, seed_repo};
use kubeenv::KubeEnv;
use kubeenv::observe::traefik_weights;
use kubeenv::seed::{ROLLOUTS, WAIT, cluster, cluster_running_pods, rollout, serin_ok, wait_phase};
use kubeenv::traefik::{Traefik, v2_in_each_ten, wait_until_traefik_routes};
use serde_json::Value as Json;

const ARGOCD: &str = "argocd";
/// The seed holds a TraefikService in each of Traefik's groups.
const TRAEFIK_GROUPS: [&str; 2] = ["traefik.io", "traefik.containo.us"];
const ROLLOUT_FILE: &str = "argorollout-canary/rollout.yaml";
const SERVICE_FILE: &str = "argorollout-canary/service.yaml";
const CONFIG_FILE: &str = "argorollout-canary/config.yaml";
/// A ConfigMap NAME that asks a sync never to prune it.
const KEPT: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: NAME
  annotations:
    argocd.argoproj.io/sync-options: Prune=false
data:
  a: b
";
/// Objects of kinds serin does not model: one namespaced, one cluster-scoped.
const CONFIG: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: myapp-config
data:
  greeting: hello
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: myapp-reader
rules:
- apiGroups: [\"\"]
  resources: [configmaps]
  verbs: [get]
";

/// A cluster with serin's CRDs (Application included), Traefik's, the `argocd` namespace, a
/// git server with the seed's repository, and `serin controller --gitops` reading it.
struct GitOpsCluster {
    env: KubeEnv,
    repo: Repo,
    daemon: GitDaemon,
    /// Where the controller serves /healthz and the push webhook.
    port: u16,
    _controller: kubeenv::Controller,
}

impl GitOpsCluster {
    /// `resync`: how long the controller waits between two reads of git (`--app-resync`).
    async fn start(resync: &str) -> GitOpsCluster {
        GitOpsCluster::on(cluster(&TRAEFIK_GROUPS).await, resync).await
    }

    /// The same on `env` (a cluster whose pods really run, say).
    async fn on(env: KubeEnv, resync: &str) -> GitOpsCluster {
        let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ARGOCD}});
        env.apply("", namespace).await;
        let repo = seed_repo();
        let daemon = GitDaemon::serve(repo.root.path());
        let cache = env.dir.path().join("git-cache");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let listen = format!("127.0.0.1:{port}");
        let flags = ["--no-leader-election", "--listen", &listen, "--gitops", "--app-resync", resync, "--git-cache"];
        let controller = env.controller("gitops", &[&flags[..], &[cache.to_str().unwrap()]].concat());
        GitOpsCluster { env, repo, daemon, port, _controller: controller }
    }

    /// The seed's Application, its policy replaced by `sync_policy` (YAML under `syncPolicy:`).
    async fn apply_application(&self, sync_policy: Option<&str>) {
        self.env.apply_yaml(ARGOCD, &self.application_text(sync_policy)).await;
    }

    /// The seed's Application for this git server, with `sync_policy` in place of its own.
    fn application_text(&self, sync_policy: Option<&str>) -> String {
        let mut text = seed_application(&self.daemon.url());
        if let Some(policy) = sync_policy {
            let start = text.find("  syncPolicy:").unwrap();
            text.replace_range(start.., &format!("  syncPolicy:\n{policy}"));
        }
        text
    }

    /// Waits until the Application has created the seed's Rollout and the Rollout is Healthy.
    async fn wait_healthy_rollout(&self) {
        let env = &self.env;
        env.eventually("the Rollout synced from git", WAIT, || {
            env.get(ROLLOUTS, "Rollout", "default", "canary-rollout")
        })
        .await;
        wait_phase(env, "canary-rollout", "Healthy", None).await;
    }

    async fn application(&self) -> Json {
        self.named_application("canary").await
    }

    async fn named_application(&self, name: &str) -> Json {
        self.env.get(ROLLOUTS, "Application", ARGOCD, name).await.expect("the Application exists")
    }

    /// Waits until the seed's Application is compared with `commit` and shows `sync` and
    /// `health`.
    async fn wait_app(&self, commit: &str, sync: &str, health: &str) -> Json {
        self.wait_named_app("canary", commit, sync, health).await
    }

    async fn wait_named_app(&self, name: &str, commit: &str, sync: &str, health: &str) -> Json {
        let what = format!("application {name} Synced={sync} Health={health} at {}", &commit[..7]);
        self.env
            .eventually(&what, WAIT, || async {
                let app = self.named_application(name).await;
                let status = &app["status"];
                (status["sync"]["revision"] == commit
                    && status["sync"]["status"] == sync
                    && status["health"]["status"] == health)
                    .then_some(app)
            })
            .await
    }

    fn serin(&self, args: &[&str]) -> String {
        serin_ok(&self.env, args)
    }

    /// A GitHub push webhook for the repository's main branch, as its host would send it;
    /// returns the controller's answer.
    fn push_webhook(&self) -> String {
        let payload =
            format!(r#"{{"ref": "refs/heads/main", "repository": {{"clone_url": "{}"}}}}"#, self.daemon.url());
        let url = format!("http://127.0.0.1:{}/api/webhook", self.port);
        let output = std::process::Command::new("curl")
            .args([
                "-sS",
                "--fail-with-body",
                &url,
                "-H",
                "X-GitHub-Event: push",
                "-H",
                "Content-Type: application/json",
            ])
            .args(["-d", &payload])
            .output()
            .unwrap();
        assert!(output.status.success(), "webhook: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    fn head(&self) -> String {
        git_server::git(&self.repo.work, &["rev-parse", "HEAD"])
    }

    /// Changes the seed's image in git and pushes it; returns the commit.
    fn push_image(&self, tag: &str) -> String {
        let text = self.repo.read(ROLLOUT_FILE);
        let current = text.lines().find_map(|l| l.trim().strip_prefix("image: ")).unwrap().to_string();
        self.repo.write(ROLLOUT_FILE, &text.replace(&current, &format!("ikubernetes/myapp:{tag}")));
        self.repo.commit_and_push(&format!("myapp {tag}"))
    }
}

async fn selector(env: &KubeEnv, service: &str) -> Json {
    env.get("v1", "Service", "default", service).await.unwrap()["spec"]["selector"].clone()
}

fn app_row<'a>(list: &'a str, name: &str) -> &'a str {
    list.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no row {name}:\n{list}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_application_syncs_the_canary_from_git_and_a_push_starts_it() {
    // Git is read only when the Application is new or a webhook says so. The pods run, and a
    // real Traefik routes to them as the seed's IngressRoute and TraefikService say.
    let gitops = GitOpsCluster::on(cluster_running_pods(&TRAEFIK_GROUPS).await, "10m").await;
    let env = &gitops.env;
    let traefik = Traefik::start(env).await;
    gitops.apply_application(None).await;
    let first = gitops.head();
    gitops.wait_healthy_rollout().await;
    gitops.wait_app(&first, "Synced", "Healthy").await;
    wait_until_traefik_routes(env, &traefik, (0, 100)).await;
    assert_eq!(v2_in_each_ten(&traefik), [0; 10], "v1 alone");
    let service = env.get("v1", "Service", "default", "canary-active").await.unwrap();
    assert_eq!(
        service["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
        "canary:/Service:default/canary-active"
    );
    let list = gitops.serin(&["app", "list"]);
    let row = app_row(&list, "argocd/canary");
    for column in
        ["https://kubernetes.default.svc", "default", "Synced", "Healthy", "Auto", "argorollout-canary", "main"]
    {
        assert!(row.contains(column), "{column} missing from:\n{list}");
    }

    // A new image tag pushed to git, and the git host's webhook, start the canary: step 1 of
    // 7, 11 pods.
    let v2 = gitops.push_image("v2");
    assert_eq!(gitops.push_webhook(), r#"{"refreshed":["argocd/canary"]}"#);
    let paused = wait_phase(env, "canary-rollout", "Paused", Some(1)).await;
    assert_eq!(paused["status"]["replicas"], 11);
    let app = gitops.wait_app(&v2, "Synced", "Suspended").await;
    assert_eq!(app["status"]["history"].as_array().unwrap().len(), 2);
    let list = gitops.serin(&["app", "list"]);
    assert!(app_row(&list, "argocd/canary").contains("Suspended"), "{list}");
    assert!(!list.contains("OutOfSync"), "{list}");
    let tree = gitops.serin(&["get", "rollout", "canary-rollout"]);
    assert!(tree.contains("Step:") && tree.contains("1/7"), "{tree}");
    wait_until_traefik_routes(env, &traefik, (10, 90)).await;
    assert_eq!(v2_in_each_ten(&traefik), [1; 10], "1 of each 10 requests through Traefik reaches v2");

    // An unrelated commit (a label on a Service) syncs without resetting what the rollout
    // controller owns: the weights (the seed's canary Service is canary-active) and the
    // pod-template-hash in both Services' selectors.
    let weights = traefik_weights(env, "traefik.io").await;
    assert_eq!(weights, (10, 90), "(canary-active, canary-preview)");
    let selectors = [selector(env, "canary-active").await, selector(env, "canary-preview").await];
    assert!(selectors.iter().all(|s| s["rollouts-pod-template-hash"].is_string()), "{selectors:?}");
    assert_ne!(selectors[0], selectors[1]);
    let services = gitops.repo.read(SERVICE_FILE);
    let labelled = services.replacen("  name: canary-active\n", "  name: canary-active\n  labels:\n    team: web\n", 1);
    gitops.repo.write(SERVICE_FILE, &labelled);
    let label_commit = gitops.repo.commit_and_push("label the canary service");
    gitops.push_webhook();
    gitops.wait_app(&label_commit, "Synced", "Suspended").await;
    let service = env.get("v1", "Service", "default", "canary-active").await.unwrap();
    assert_eq!(service["metadata"]["labels"]["team"], "web");
    assert_eq!([selector(env, "canary-active").await, selector(env, "canary-preview").await], selectors);
    assert_eq!(traefik_weights(env, "traefik.io").await, weights);
    assert_eq!(traefik_weights(env, "traefik.containo.us").await, weights);
    wait_until_traefik_routes(env, &traefik, (10, 90)).await;
    assert_eq!(v2_in_each_ten(&traefik), [1; 10], "still 10 of 100 through Traefik after the sync");
    let still = rollout(env, "canary-rollout").await;
    assert_eq!(still["status"]["currentStepIndex"], 1);

    let history = gitops.serin(&["app", "history", "canary"]);
    for commit in [&first, &v2, &label_commit] {
        assert!(history.contains(commit.as_str()), "{commit} missing from:\n{history}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_and_self_heal_and_a_manual_sync_work_on_a_cluster() {
    let gitops = GitOpsCluster::start("1s").await;
    let env = &gitops.env;
    // Kinds serin does not model go to the API server as written, namespaced or not.
    gitops.repo.write(CONFIG_FILE, CONFIG);
    let first = gitops.repo.commit_and_push("configuration");
    gitops.apply_application(Some("    automated:\n      prune: true\n      selfHeal: true\n")).await;
    gitops.wait_healthy_rollout().await;
    gitops.wait_app(&first, "Synced", "Healthy").await;
    let config = env.get("v1", "ConfigMap", "default", "myapp-config").await.expect("the ConfigMap");
    assert_eq!(config["data"]["greeting"], "hello");
    let role = env.get("rbac.authorization.k8s.io/v1", "ClusterRole", "", "myapp-reader").await;
    assert_eq!(role.expect("the ClusterRole")["rules"][0]["resources"][0], "configmaps");

    let hashed = env.get("v1", "Service", "default", "canary-preview").await.unwrap()["spec"]["selector"].clone();
    assert!(hashed["rollouts-pod-template-hash"].is_string(), "{hashed}");

    // selfHeal: a hand edit of a field git sets is reverted; one git never set stays.
    let patch = serde_json::json!({"metadata": {"annotations": {"note": "by hand"}}, "spec": {"ports": [{"name": "http", "port": 8080}]}});
    env.merge("v1", "Service", "default", "canary-preview", patch, false).await;
    let healed = env
        .eventually("selfHeal reverts the hand edit", WAIT, || async {
            let service = env.get("v1", "Service", "default", "canary-preview").await?;
            (service["spec"]["ports"][0]["port"] == 80 && service["metadata"]["annotations"]["note"] == "by hand")
                .then_some(service)
        })
        .await;
    assert_eq!(healed["spec"]["selector"], hashed, "the rollout controller's hash survives the re-apply");

    // prune: objects git no longer has are deleted.
    let ingress = gitops.repo.read("argorollout-canary/ingress.yaml");
    let without_route = ingress.split("\n---\n").filter(|d| !d.contains("kind: IngressRoute")).collect::<Vec<_>>();
    gitops.repo.write("argorollout-canary/ingress.yaml", &without_route.join("\n---\n"));
    gitops.repo.remove(CONFIG_FILE);
    let pruned = gitops.repo.commit_and_push("drop the IngressRoute and the configuration");
    gitops.wait_app(&pruned, "Synced", "Healthy").await;
    assert!(env.get("traefik.io/v1alpha1", "IngressRoute", "default", "myapp-canary").await.is_none());
    assert!(env.get("v1", "ConfigMap", "default", "myapp-config").await.is_none());
    assert!(env.get("rbac.authorization.k8s.io/v1", "ClusterRole", "", "myapp-reader").await.is_none());

    // A second Application, into a namespace that does not exist yet (CreateNamespace=true),
    // with a ConfigMap that asks not to be pruned (Prune=false).
    gitops.repo.write("extras/kept.yaml", &KEPT.replace("NAME", "kept"));
    let extras_first = gitops.repo.commit_and_push("extras");
    let extras = gitops
        .application_text(Some("    automated:\n      prune: true\n    syncOptions:\n    - CreateNamespace=true\n"))
        .replacen("  name: canary\n", "  name: extras\n", 1)
        .replace("path: argorollout-canary", "path: extras")
        .replace("    namespace: default\n", "    namespace: extras\n");
    env.apply_yaml(ARGOCD, &extras).await;
    gitops.wait_named_app("extras", &extras_first, "Synced", "Healthy").await;
    assert!(env.get("v1", "Namespace", "", "extras").await.is_some());
    let got = gitops.serin(&["app", "get", "extras"]);
    assert!(got.contains("Name:               argocd/extras") && got.contains("Namespace:          extras"), "{got}");
    assert!(got.contains("ConfigMap") && got.contains("kept") && got.contains("Synced"), "{got}");
    gitops.repo.remove("extras/kept.yaml");
    gitops.repo.write("extras/other.yaml", &KEPT.replace("NAME", "other"));
    let extras_second = gitops.repo.commit_and_push("extras: kept goes from git");
    let app = gitops.wait_named_app("extras", &extras_second, "OutOfSync", "Healthy").await;
    let results = app["status"]["operationState"]["syncResult"]["resources"].as_array().unwrap();
    let kept = results.iter().find(|r| r["name"] == "kept").expect("a result for kept");
    assert_eq!(kept["status"], "PruneSkipped", "{results:?}");
    assert!(env.get("v1", "ConfigMap", "extras", "kept").await.is_some(), "Prune=false kept it");

    // A manual Application that applies server-side: a push only shows OutOfSync, diff tells
    // what, sync applies it.
    gitops.apply_application(Some("    syncOptions:\n    - ServerSideApply=true\n")).await;
    // Replacing the Application cleared its status: once it shows again, the change is seen.
    gitops.wait_app(&gitops.head(), "Synced", "Healthy").await;
    let services = gitops.repo.read(SERVICE_FILE);
    let labelled =
        services.replacen("  name: canary-preview\n", "  name: canary-preview\n  labels:\n    team: web\n", 1);
    gitops.repo.write(SERVICE_FILE, &labelled);
    let v2 = gitops.push_image("v2");
    gitops.wait_app(&v2, "OutOfSync", "Healthy").await;
    let diff = env.serin(&["app", "diff", "canary"]);
    assert_eq!(diff.status.code(), Some(1), "{}", String::from_utf8_lossy(&diff.stderr));
    let diff = String::from_utf8(diff.stdout).unwrap();
    assert!(diff.contains("===== argoproj.io/Rollout default/canary-rollout"), "{diff}");
    assert!(diff.contains("< ") && diff.contains("ikubernetes/myapp:v1") && diff.contains("> "), "{diff}");
    assert!(diff.contains("ikubernetes/myapp:v2"), "{diff}");
    let synced = gitops.serin(&["app", "sync", "argocd/canary"]);
    assert!(synced.contains("Phase:") && synced.contains("Succeeded"), "{synced}");
    wait_phase(env, "canary-rollout", "Paused", Some(1)).await;
    // Applied server-side as Argo CD's field manager, leaving the rollout controller its hash.
    let service = env.get("v1", "Service", "default", "canary-preview").await.unwrap();
    let managers: Vec<&str> =
        service["metadata"]["managedFields"].as_array().unwrap().iter().filter_map(|m| m["manager"].as_str()).collect();
    assert!(managers.contains(&"argocd-controller"), "{managers:?}");
    assert_eq!(service["metadata"]["labels"]["team"], "web");
    assert_eq!(service["spec"]["selector"], hashed, "the stable Service still selects v1's pods");
    let diff = env.serin(&["app", "diff", "canary"]);
    assert_eq!(diff.status.code(), Some(0), "{}", String::from_utf8_lossy(&diff.stdout));
}

/// A hook Job, `phase` its hook annotation, with `extra` annotations (YAML lines).
fn hook_job(name: &str, phase: &str, extra: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  annotations:
    argocd.argoproj.io/hook: {phase}
{extra}spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: {name}
        image: busybox
        command: [sh, -c, 'exit 0']
"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn waves_and_hooks_run_in_order_and_a_failed_hook_fails_the_sync() {
    let gitops = GitOpsCluster::start("1s").await;
    let env = &gitops.env;
    gitops.repo.write("argorollout-canary/migrate.yaml", &hook_job("migrate", "PreSync", ""));
    let smoke = hook_job("smoke", "PostSync", "    argocd.argoproj.io/hook-delete-policy: HookSucceeded\n");
    gitops.repo.write("argorollout-canary/smoke.yaml", &smoke);
    let late = CONFIG.split("---").next().unwrap().replace(
        "  name: myapp-config\n",
        "  name: myapp-config\n  annotations:\n    argocd.argoproj.io/sync-wave: \"1\"\n",
    );
    gitops.repo.write(CONFIG_FILE, &late);
    let first = gitops.repo.commit_and_push("hooks and waves");
    gitops.apply_application(Some("    automated: {}\n")).await;

    // PreSync: the migration runs alone; the sync waits for it.
    let migrate = env.eventually("the PreSync Job", WAIT, || env.get("batch/v1", "Job", "default", "migrate")).await;
    let running = gitops.application().await;
    assert_eq!(running["status"]["operationState"]["phase"], "Running");
    assert_eq!(running["status"]["operationState"]["message"], "waiting for completion of hook job.batch/migrate");
    assert!(env.get(ROLLOUTS, "Rollout", "default", "canary-rollout").await.is_none());
    env.finish_job_pod(&migrate, 0).await;

    // Sync, wave 0 then wave 1 once wave 0 is healthy, then PostSync.
    gitops.wait_healthy_rollout().await;
    let smoke = env.eventually("the PostSync Job", WAIT, || env.get("batch/v1", "Job", "default", "smoke")).await;
    assert!(env.get("v1", "ConfigMap", "default", "myapp-config").await.is_some(), "wave 1 before PostSync");
    env.finish_job_pod(&smoke, 0).await;
    let app = gitops.wait_app(&first, "Synced", "Healthy").await;
    let state = &app["status"]["operationState"];
    assert_eq!(state["phase"], "Succeeded", "{state}");
    let phases: Vec<(String, String)> = state["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["hookType"].is_string())
        .map(|r| (r["name"].as_str().unwrap().to_string(), r["hookPhase"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        phases,
        [("migrate".to_string(), "Succeeded".to_string()), ("smoke".to_string(), "Succeeded".to_string())]
    );
    env.eventually("the PostSync Job deleted (HookSucceeded)", WAIT, || async {
        env.get("batch/v1", "Job", "default", "smoke").await.is_none().then_some(())
    })
    .await;
    assert!(env.get("batch/v1", "Job", "default", "migrate").await.is_some(), "no delete policy but the default");
    let resources = app["status"]["resources"].as_array().unwrap();
    assert!(!resources.iter().any(|r| r["kind"] == "Job"), "hooks are not the Application's resources: {resources:?}");

    // A failing PreSync hook (a new one: the old is deleted before it is created) fails the
    // sync before anything of the new commit is applied.
    let v2 = gitops.push_image("v2");
    let migrate = env
        .eventually("the new PreSync Job", WAIT, || async {
            let job = env.get("batch/v1", "Job", "default", "migrate").await?;
            (job["metadata"]["uid"] != migrate["metadata"]["uid"]).then_some(job)
        })
        .await;
    env.finish_job_pod(&migrate, 1).await;
    let failed = env
        .eventually("the sync failed", WAIT, || async {
            let app = gitops.application().await;
            let state = app["status"]["operationState"].clone();
            (state["phase"] == "Failed" && state["syncResult"]["revision"] == v2).then_some(state)
        })
        .await;
    assert!(failed["message"].as_str().unwrap().starts_with("job.batch/migrate failed"), "{failed}");
    let rollout = rollout(env, "canary-rollout").await;
    assert_eq!(rollout["spec"]["template"]["spec"]["containers"][0]["image"], "ikubernetes/myapp:v1");
}

//! A real Kubernetes control plane for the tests, one per test: etcd, kube-apiserver and
//! kube-controller-manager v1.20 on loopback, built from Debian's packages by
//! `scripts/kube-control-plane/build.sh` and started by its `start.sh`. The test plays
//! kubelet (kubelet.rs): every pod the ReplicaSet controller creates is marked Running and
//! Ready, as KWOK does, or, for a test that opts in, really run in a pod network. Helpers apply
//! YAML, read and patch objects, run `serin controller` as a real process, and run kubectl or
//! plain HTTPS requests.
#![allow(dead_code)] // each test file uses its own part of the harness

pub mod kubelet;
pub mod observe;
pub mod pod_network;
pub mod seed;
pub mod traefik;
pub mod web_metric;

use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use kubelet::Kubelet;
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The project's scripts that build, start and stop the control plane.
fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kube-control-plane")
}

pub struct KubeEnv {
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`, an admin bearer token and the CA that signed the API
    /// server's certificate, for plain HTTPS requests.
    pub server: String,
    pub token: String,
    pub ca: PathBuf,
    pub client: kube::Client,
    resources: Mutex<HashMap<(String, String), ApiResource>>,
    kubelet: Kubelet,
}

impl KubeEnv {
    /// Starts a fresh cluster whose kubelet marks pods Ready without running them.
    pub async fn start() -> KubeEnv {
        Self::start_with(false).await
    }

    /// Starts a fresh cluster whose kubelet runs every pod in a pod network of the test's own,
    /// which the host reaches (kubelet.rs).
    pub async fn start_running_pods() -> KubeEnv {
        Self::start_with(true).await
    }

    async fn start_with(running_pods: bool) -> KubeEnv {
        let scripts = scripts_dir();
        let dir = tempfile::Builder::new().prefix("serin-kube-").tempdir().unwrap();
        let output = Command::new("bash").arg(scripts.join("start.sh")).arg(dir.path()).output().unwrap();
        assert!(
            output.status.success(),
            "the control plane did not start (scripts/test.sh builds it; or run {}/build.sh):\n{}",
            scripts.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let kubeconfig = dir.path().join("kubeconfig");
        let vars = std::fs::read_to_string(dir.path().join("env")).unwrap();
        let var = |name: &str| {
            vars.lines()
                .find_map(|line| line.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("{name} is not in the env file start.sh wrote:\n{vars}"))
                .to_string()
        };
        let (server, token, ca) = (var("SERIN_KUBE_SERVER"), var("SERIN_KUBE_TOKEN"), var("SERIN_KUBE_CA").into());
        let client = client_for(&kubeconfig).await;
        let kubelet = if running_pods {
            Kubelet::running_pods(client.clone(), dir.path().to_path_buf()).await
        } else {
            Kubelet::marking_pods_ready(client.clone())
        };
        KubeEnv { dir, kubeconfig, server, token, ca, client, resources: Mutex::default(), kubelet }
    }

    /// Runs kubectl against this cluster, `stdin` as its input (client-side apply keeps the
    /// last-applied-configuration annotation, as users' kubectl does).
    pub fn kubectl(&self, args: &[&str], stdin: &str) -> std::process::Output {
        let mut child = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run kubectl (is it installed?): {e}"));
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// One request to the API server with nothing in between (curl): the HTTP status and the
    /// JSON answer, errors included. A PATCH is a JSON merge patch.
    pub fn request(&self, method: &str, path: &str, body: Option<&Json>) -> (u16, Json) {
        let content_type = if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
        let mut curl = Command::new("curl");
        curl.args(["--silent", "--show-error", "--request", method, "--write-out", "\n%{http_code}"])
            .arg("--cacert")
            .arg(&self.ca)
            .args(["--header", &format!("Authorization: Bearer {}", self.token)])
            .args(["--header", &format!("Content-Type: {content_type}")]);
        if let Some(body) = body {
            curl.args(["--data-binary", &body.to_string()]);
        }
        let output = curl.arg(format!("{}{path}", self.server)).output().expect("cannot run curl");
        let text = String::from_utf8_lossy(&output.stdout);
        let (answer, status) = text.rsplit_once('\n').unwrap_or_else(|| panic!("{method} {path}: {text}"));
        let status = status.parse().unwrap_or_else(|_| panic!("{method} {path}: {text}"));
        (status, serde_json::from_str(answer).unwrap_or_else(|e| panic!("{method} {path} answered {answer:?}: {e}")))
    }

    /// The API resource for an apiVersion and kind, found through discovery.
    pub async fn resource(&self, api_version: &str, kind: &str) -> ApiResource {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(found) = self.resources.lock().unwrap().get(&key) {
            return found.clone();
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, _) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .unwrap_or_else(|e| panic!("the cluster does not serve {api_version} {kind}: {e}"));
        self.resources.lock().unwrap().insert(key, resource.clone());
        resource
    }

    async fn api(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> kube::Api<DynamicObject> {
        let resource = self.resource(api_version, kind).await;
        match namespace {
            Some(ns) => kube::Api::namespaced_with(self.client.clone(), ns, &resource),
            None => kube::Api::all_with(self.client.clone(), &resource),
        }
    }

    /// Creates or replaces every object of a YAML stream, as `kubectl apply` does for new
    /// objects (server-side apply on 1.20 rejects a Service port without a protocol), in `namespace`
    /// unless an object names its own; CustomResourceDefinitions are waited for until served.
    pub async fn apply_yaml(&self, namespace: &str, text: &str) {
        for document in serin_model::yaml::parse_documents(text).unwrap() {
            let object = document.root.to_json();
            self.apply(namespace, object).await;
        }
    }

    pub async fn apply_file(&self, namespace: &str, path: &Path) {
        self.apply_yaml(namespace, &std::fs::read_to_string(path).unwrap()).await;
    }

    pub async fn apply(&self, namespace: &str, object: Json) {
        let (api_version, kind) = (object["apiVersion"].as_str().unwrap(), object["kind"].as_str().unwrap());
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        let cluster_scoped = matches!(kind, "CustomResourceDefinition" | "ClusterAnalysisTemplate" | "Namespace");
        let ns = object["metadata"]["namespace"].as_str().unwrap_or(namespace).to_string();
        let api = self.api(api_version, kind, (!cluster_scoped).then_some(ns.as_str())).await;
        let mut desired: DynamicObject = serde_json::from_value(object.clone()).unwrap();
        let result = match api.get_opt(&name).await.unwrap() {
            Some(existing) => {
                desired.metadata.resource_version = existing.metadata.resource_version;
                api.replace(&name, &Default::default(), &desired).await
            }
            None => api.create(&Default::default(), &desired).await,
        };
        result.unwrap_or_else(|e| panic!("cannot apply {kind} {name}: {e}"));
        if kind == "CustomResourceDefinition" {
            let kind = object["spec"]["names"]["kind"].as_str().unwrap().to_string();
            let group = object["spec"]["group"].as_str().unwrap();
            let version = object["spec"]["versions"][0]["name"].as_str().unwrap();
            let api_version = format!("{group}/{version}");
            self.eventually(&format!("{kind} served"), Duration::from_secs(30), || async {
                let gvk = GroupVersionKind::gvk(group, version, &kind);
                kube::discovery::pinned_kind(&self.client, &gvk).await.ok().map(|_| ())
            })
            .await;
            self.resources.lock().unwrap().remove(&(api_version, kind));
        }
    }

    /// An object by name; `namespace` empty for one of a cluster-scoped kind.
    pub async fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Json> {
        let api = self.api(api_version, kind, (!namespace.is_empty()).then_some(namespace)).await;
        api.get_opt(name).await.unwrap().map(|o| serde_json::to_value(o).unwrap())
    }

    pub async fn list(&self, api_version: &str, kind: &str, namespace: &str) -> Vec<Json> {
        let api = self.api(api_version, kind, Some(namespace)).await;
        api.list(&ListParams::default()).await.unwrap().items.iter().map(|o| serde_json::to_value(o).unwrap()).collect()
    }

    /// A JSON merge patch, of the object or (with `status`) of its status subresource.
    pub async fn merge(&self, api_version: &str, kind: &str, namespace: &str, name: &str, patch: Json, status: bool) {
        let api = self.api(api_version, kind, Some(namespace)).await;
        let params = PatchParams::default();
        let result = if status {
            api.patch_status(name, &params, &Patch::Merge(&patch)).await
        } else {
            api.patch(name, &params, &Patch::Merge(&patch)).await
        };
        result.unwrap_or_else(|e| panic!("cannot patch {kind} {name}: {e}"));
    }

    /// Polls `check` every 200 ms until it gives a value; fails the test after `timeout`.
    pub async fn eventually<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let start = Instant::now();
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for: {what}\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The logs of every controller, kubelet and Traefik this test started, for failure
    /// messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if ["controller-", "kubelet.", "traefik."].iter().any(|prefix| name.starts_with(prefix)) {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                out += &format!("--- {name} (last lines)\n");
                for line in tail.into_iter().rev() {
                    out += line;
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Plays kubelet for a Job's pod: its container ran and exited with `code`.
    pub async fn finish_job_pod(&self, job: &Json, code: i64) {
        let (uid, namespace) = (job["metadata"]["uid"].clone(), job["metadata"]["namespace"].as_str().unwrap());
        let pod = self
            .eventually("the Job's pod", Duration::from_secs(60), || async {
                let pods = self.list("v1", "Pod", namespace).await;
                pods.into_iter().find(|p| p["metadata"]["ownerReferences"][0]["uid"] == uid)
            })
            .await;
        let now = serin_kube::controller::now().to_string();
        let phase = if code == 0 { "Succeeded" } else { "Failed" };
        let container = &pod["spec"]["containers"][0];
        let status = json!({"status": {"phase": phase, "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}],
            "containerStatuses": [{"name": container["name"], "image": container["image"], "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": code, "startedAt": now, "finishedAt": now}}}]}});
        self.merge("v1", "Pod", namespace, pod["metadata"]["name"].as_str().unwrap(), status, true).await;
    }

    /// Starts `serin controller` against this cluster; `name` tells its log apart.
    pub fn controller(&self, name: &str, args: &[&str]) -> Controller {
        self.controller_with(name, &self.kubeconfig, args)
    }

    /// A controller that reaches the API server as `kubeconfig` says (through a proxy, say).
    pub fn controller_with(&self, name: &str, kubeconfig: &Path, args: &[&str]) -> Controller {
        let log = std::fs::File::create(self.dir.path().join(format!("controller-{name}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_serin"))
            .arg("controller")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .env("SERIN_LOG", "info,kube=warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Controller { child }
    }

    /// Runs the `serin` binary with this cluster's kubeconfig.
    pub fn serin(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_serin"))
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }
}

impl Drop for KubeEnv {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(scripts_dir().join("stop.sh")).arg(self.dir.path()).output();
    }
}

/// A running `serin controller`, stopped (SIGTERM, as Kubernetes stops a pod) when dropped.
pub struct Controller {
    pub child: Child,
}

impl Controller {
    /// Stops it the way Kubernetes does, letting it release its Lease.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills it without warning (a crashed node).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn client_for(kubeconfig: &Path) -> kube::Client {
    let file = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

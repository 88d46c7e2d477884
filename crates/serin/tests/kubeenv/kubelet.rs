//! The kubelet of a test cluster, which has no node of its own. Most tests judge the objects
//! serin writes and need no pod to run: for them the kubelet only marks pods Running and Ready,
//! as KWOK does. Tests that send real requests to pods (through Traefik, say) opt into a
//! kubelet that runs them: it binds each pod to one Node, gives it an address in a pod network
//! (pod_network.rs), starts its process there, reports it Ready once it accepts connections,
//! and stops it when the pod is deleted, as a kubelet does.

use super::pod_network::PodNetwork;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::{Value as Json, json};
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The Node every pod of a cluster with running pods is bound to.
pub const NODE: &str = "serin-test-node";
const POLL: Duration = Duration::from_millis(100);

pub struct Kubelet {
    task: tokio::task::JoinHandle<()>,
    /// The node of a kubelet that runs pods (None when it only marks them Ready).
    node: Option<Arc<Node>>,
}

impl Kubelet {
    /// A kubelet that marks every pod Running and Ready without running anything.
    pub fn marking_pods_ready(client: kube::Client) -> Kubelet {
        Kubelet { task: tokio::spawn(mark_pods_ready(client)), node: None }
    }

    /// A kubelet that runs every pod's process in a new pod network; each pod's output goes
    /// to `log_dir/pod-NAME.log`. The image `ikubernetes/myapp:TAG` runs `serin demo-app`, as on
    /// the local platform.
    pub async fn running_pods(client: kube::Client, log_dir: PathBuf) -> Kubelet {
        let network = PodNetwork::create();
        let nodes: kube::Api<DynamicObject> =
            kube::Api::all_with(client.clone(), &serin_kube::resources::resource("", "v1", "Node", "nodes"));
        let node_object = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}});
        nodes
            .create(&PostParams::default(), &serde_json::from_value(node_object).unwrap())
            .await
            .unwrap_or_else(|e| panic!("cannot register the Node {NODE}: {e}"));
        let node = Arc::new(Node { network, processes: Mutex::new(Some(HashMap::new())), log_dir });
        Kubelet { task: tokio::spawn(run_pods(client, node.clone())), node: Some(node) }
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(node) = &self.node {
            node.shut_down();
        }
    }
}

/// A pod's status once its containers run and are ready, at `address`.
fn running_status(pod: &Json, address: &str) -> Json {
    let now = serin_kube::controller::now().to_string();
    let containers: Vec<Json> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": true, "started": true,
                "restartCount": 0, "state": {"running": {"startedAt": now}}})
        })
        .collect();
    json!({"status": {
        "phase": "Running", "podIP": address, "podIPs": [{"ip": address}], "startTime": now,
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
        ],
        "containerStatuses": containers,
    }})
}

fn is_ready(pod: &Json) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn is_finished(pod: &Json) -> bool {
    matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

fn pods_in(client: &kube::Client, namespace: &str) -> kube::Api<DynamicObject> {
    kube::Api::namespaced_with(client.clone(), namespace, &serin_kube::resources::pods())
}

/// Marks every pod that is not Ready as Running and Ready (at a made-up address), as a kubelet
/// would once its containers started and passed their readiness probe; a pod that finished (a
/// Job's, marked Succeeded or Failed by its test) stays as it is.
async fn mark_pods_ready(client: kube::Client) {
    let pods: kube::Api<DynamicObject> = kube::Api::all_with(client.clone(), &serin_kube::resources::pods());
    loop {
        if let Ok(list) = pods.list(&ListParams::default()).await {
            for pod in list.items {
                let pod = serde_json::to_value(&pod).unwrap();
                if is_ready(&pod) || is_finished(&pod) || pod["metadata"]["deletionTimestamp"].is_string() {
                    continue;
                }
                let (namespace, name) =
                    (pod["metadata"]["namespace"].as_str().unwrap(), pod["metadata"]["name"].as_str().unwrap());
                let status = running_status(&pod, "10.1.0.7");
                let _ = pods_in(&client, namespace)
                    .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
                    .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The node of a kubelet that runs pods: its network and the processes it started, by pod uid
/// (None once shut down: no process starts after that).
struct Node {
    network: PodNetwork,
    processes: Mutex<Option<HashMap<String, PodProcess>>>,
    log_dir: PathBuf,
}

enum Stage {
    /// No process yet.
    New,
    /// Its process started, its port not yet seen accepting connections.
    Starting(SocketAddr),
    /// Reported Running and Ready.
    Running,
}

struct PodProcess {
    child: Child,
    address: Ipv4Addr,
    port: u16,
    ready: bool,
    /// The pod's `terminationGracePeriodSeconds`: how long it has between SIGTERM and SIGKILL.
    grace: Duration,
    /// When it was sent SIGTERM, its pod being deleted.
    terminated_at: Option<Instant>,
}

impl PodProcess {
    /// Sends SIGTERM once, SIGKILL after the grace period; true once the process is gone.
    fn stop(&mut self) -> bool {
        let terminated_at = *self.terminated_at.get_or_insert_with(|| {
            let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
            Instant::now()
        });
        if terminated_at.elapsed() > self.grace {
            let _ = self.child.kill();
        }
        self.child.try_wait().is_ok_and(|status| status.is_some())
    }
}

impl Node {
    /// Starts the process of `pod` at a new address; an error when its image maps to no program.
    fn start(&self, pod: &Json) -> Result<(), String> {
        let name = pod["metadata"]["name"].as_str().unwrap();
        let container = &pod["spec"]["containers"][0];
        let image = container["image"].as_str().unwrap_or_default();
        let command = serin_local::images::ImageTable::builtin(std::path::Path::new(env!("CARGO_BIN_EXE_serin")))
            .command_for(image)
            .ok_or_else(|| format!("pod {name}: no program for the image {image:?}"))?;
        let port = container["ports"][0]["containerPort"].as_u64().unwrap_or(80) as u16;
        let grace = Duration::from_secs(pod["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap_or(30));
        let mut processes = self.processes.lock().unwrap();
        let Some(processes) = processes.as_mut() else { return Ok(()) };
        let address = self.network.add_address();
        let log = std::fs::File::create(self.log_dir.join(format!("pod-{name}.log"))).unwrap();
        let child = self
            .network
            .command(&command[0])
            .args(&command[1..])
            .env("PORT", port.to_string())
            .env("POD_IP", address.to_string())
            .env("POD_NAME", name)
            .env("HOSTNAME", name)
            .env("POD_NAMESPACE", pod["metadata"]["namespace"].as_str().unwrap())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("pod {name}: cannot start {command:?}: {e}"))?;
        let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
        processes.insert(uid, PodProcess { child, address, port, ready: false, grace, terminated_at: None });
        Ok(())
    }

    /// How far the pod `uid` has come on this node.
    fn stage(&self, uid: &str) -> Stage {
        match self.processes.lock().unwrap().as_ref().and_then(|processes| processes.get(uid)) {
            None => Stage::New,
            Some(process) if process.ready => Stage::Running,
            Some(process) => Stage::Starting(SocketAddr::from((process.address, process.port))),
        }
    }

    fn mark_ready(&self, uid: &str) {
        if let Some(process) = self.processes.lock().unwrap().as_mut().and_then(|processes| processes.get_mut(uid)) {
            process.ready = true;
        }
    }

    /// Stops the process of the pod `uid`; true once it is gone (or there was none) and its
    /// address given back.
    fn stop(&self, uid: &str) -> bool {
        let mut processes = self.processes.lock().unwrap();
        let Some(processes) = processes.as_mut() else { return true };
        let Some(process) = processes.get_mut(uid) else { return true };
        if !process.stop() {
            return false;
        }
        self.network.remove_address(process.address);
        processes.remove(uid);
        true
    }

    /// Kills every process and removes the pod network.
    fn shut_down(&self) {
        for (_, mut process) in self.processes.lock().unwrap().take().into_iter().flatten() {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
        self.network.remove();
    }
}

/// Runs the pods the API server has, every 100 ms: a new pod is bound to the Node and its
/// process started; a started one is reported Running and Ready once its port accepts a
/// connection; a deleted one's process is stopped (SIGTERM, SIGKILL after the grace period),
/// then the pod object removed, as a kubelet finishes a graceful deletion. Pods that finished
/// (phase Succeeded or Failed) are left alone, and so are those whose image maps to no program
/// (kubelet.log says so). A process that exits by itself is not restarted.
async fn run_pods(client: kube::Client, node: Arc<Node>) {
    let all: kube::Api<DynamicObject> = kube::Api::all_with(client.clone(), &serin_kube::resources::pods());
    let (kubelet_log, started) = (node.log_dir.join("kubelet.log"), Instant::now());
    let say = |line: String| {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&kubelet_log).unwrap();
        let line = format!("{:7.3} s {line}\n", started.elapsed().as_secs_f64());
        std::io::Write::write_all(&mut file, line.as_bytes()).unwrap();
    };
    let mut unstartable = HashSet::new();
    loop {
        tokio::time::sleep(POLL).await;
        let Ok(list) = all.list(&ListParams::default()).await else { continue };
        let mut listed = HashSet::new();
        for pod in list.items {
            let pod = serde_json::to_value(&pod).unwrap();
            if is_finished(&pod) {
                continue;
            }
            let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
            let (namespace, name) =
                (pod["metadata"]["namespace"].as_str().unwrap(), pod["metadata"]["name"].as_str().unwrap());
            let api = pods_in(&client, namespace);
            listed.insert(uid.clone());
            if pod["metadata"]["deletionTimestamp"].is_string() {
                if !node.stop(&uid) {
                    continue;
                }
                let gone = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }),
                    ..DeleteParams::default()
                };
                if api.delete(name, &gone).await.is_ok() {
                    say(format!("pod {name}: stopped and deleted"));
                }
                continue;
            }
            match node.stage(&uid) {
                Stage::New if unstartable.contains(&uid) => {}
                Stage::New => {
                    if pod["spec"]["nodeName"].as_str().unwrap_or_default().is_empty() {
                        let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                            "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}});
                        if let Err(e) = api
                            .create_subresource::<Json, Json>("binding", name, &PostParams::default(), &binding)
                            .await
                        {
                            say(format!("pod {name}: cannot bind it to {NODE}: {e}"));
                            continue;
                        }
                    }
                    match node.start(&pod) {
                        Ok(()) => say(format!("pod {name}: started")),
                        Err(e) => {
                            say(e);
                            unstartable.insert(uid);
                        }
                    }
                }
                Stage::Starting(address) => {
                    let accepts = tokio::time::timeout(POLL, tokio::net::TcpStream::connect(address)).await;
                    if !matches!(accepts, Ok(Ok(_))) {
                        continue;
                    }
                    let status = running_status(&pod, &address.ip().to_string());
                    if api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.is_ok() {
                        node.mark_ready(&uid);
                        say(format!("pod {name}: ready at {address}"));
                    }
                }
                Stage::Running => {}
            }
        }
        // Pods removed at once (force-deleted, or deleted before they were bound): their
        // processes stop too.
        let vanished: Vec<String> = node
            .processes
            .lock()
            .unwrap()
            .iter()
            .flat_map(|processes| processes.keys())
            .filter(|uid| !listed.contains(*uid))
            .cloned()
            .collect();
        for uid in vanished {
            node.stop(&uid);
        }
    }
}

//! The pod controller, serin's kubelet: runs each Pod object as a supervised process (through
//! `serin-process`), reports its state into the Pod's status, and stops pods that are being
//! deleted (gracefully: not ready first, so the router drains them, then SIGTERM) before
//! removing them. After a server restart it adopts the pod processes still running.

use crate::clock::Clock;
use crate::images::ImageTable;
use crate::objects::{PORT_ANNOTATION, log_path, pod_port};
use crate::replicasets::{claim_port, ports_in_use};
use crate::store::{Result, Store, Stored};
use serde_json::{Value as Json, json};
use serin_process::{ContainerState, PodRuntime, PodSpec, Probe, ProbeAction, RestartPolicy, Supervisor};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const PID_ANNOTATION: &str = "serin.dev/pid";
const PROCESS_START_ANNOTATION: &str = "serin.dev/process-start";

pub struct PodController {
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    pub supervisor: Arc<Supervisor>,
    pub images: ImageTable,
    pub data_dir: PathBuf,
    /// Pods being stopped, so a stop is started once.
    stopping: parking_lot::Mutex<HashSet<String>>,
    /// Pods whose start failed, with the error, so it is reported instead of retried in a loop.
    failed: parking_lot::Mutex<std::collections::HashMap<String, String>>,
    /// Pods adopted after a restart and not yet probed: they keep their Ready condition
    /// meanwhile, so a server restart does not take them out of the router.
    adopted: parking_lot::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// How long an adopted pod keeps its old Ready condition while waiting for its first probe.
const ADOPTION_GRACE: Duration = Duration::from_secs(5);

impl PodController {
    pub fn new(
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        supervisor: Arc<Supervisor>,
        images: ImageTable,
        data_dir: PathBuf,
    ) -> Self {
        PodController {
            store,
            clock,
            supervisor,
            images,
            data_dir,
            stopping: Default::default(),
            failed: Default::default(),
            adopted: Default::default(),
        }
    }

    /// At start-up: kills pod processes of an earlier run that no Pod object owns any more.
    pub fn reap_orphans(&self) -> Result<Vec<u32>> {
        let keep: Vec<String> = self
            .store
            .list(Some(""), "Pod", None)?
            .iter()
            .filter_map(|p| p.body.pointer("/metadata/uid").and_then(Json::as_str).map(str::to_string))
            .collect();
        Ok(self.supervisor.reap_orphans(&keep))
    }

    /// Returns when an adopted pod's grace ends (virtual ms from now), if one is waiting.
    pub async fn reconcile_all(self: &Arc<Self>) -> Result<Option<i64>> {
        let pods = self.store.list(Some(""), "Pod", None)?;
        let mut ports = ports_in_use(&pods);
        for mut pod in pods {
            let uid = pod.body.pointer("/metadata/uid").and_then(Json::as_str).unwrap_or_default().to_string();
            if pod.body.pointer("/metadata/deletionTimestamp").is_some() {
                self.stop(pod, uid);
                continue;
            }
            let finished =
                matches!(pod.body.pointer("/status/phase").and_then(Json::as_str), Some("Succeeded" | "Failed"));
            let idle = !finished && self.supervisor.runtime(&uid).is_none() && !self.failed.lock().contains_key(&uid);
            if idle && pod_port(&pod.body).is_none() {
                pod = self.give_port(pod, &mut ports)?;
            }
            if let Some(Err(error)) = match idle {
                true => Some(self.launch(&pod, &uid).await),
                false => None,
            } {
                tracing::warn!(pod = %pod.key.name, %error, "pod did not start");
                self.failed.lock().insert(uid.clone(), error);
            }
            self.report(&pod, &uid)?;
        }
        let grace_left = self.adopted.lock().values().map(|since| ADOPTION_GRACE.saturating_sub(since.elapsed())).min();
        Ok(grace_left
            .filter(|left| !left.is_zero())
            .map(|left| (left.as_secs_f64() * 1000.0 * self.clock.scale()).ceil() as i64))
    }

    /// A graceful server shutdown: every pod is stopped, and forgotten by the next start (no
    /// restart is counted for it).
    pub async fn stop_all(&self) {
        let stops = self.supervisor.runtimes().into_iter().map(|r| {
            let supervisor = self.supervisor.clone();
            async move { supervisor.stop(&r.uid).await }
        });
        let _ = tokio::time::timeout(Duration::from_secs(60), futures_join_all(stops)).await;
        if let Ok(pods) = self.store.list(Some(""), "Pod", None) {
            for pod in pods {
                let mut body = serde_json::Value::clone(&pod.body);
                if let Some(annotations) = body["metadata"]["annotations"].as_object_mut() {
                    annotations.remove(PID_ANNOTATION);
                    annotations.remove(PROCESS_START_ANNOTATION);
                }
                set_ready(&mut body, false, self.clock.now());
                let _ = self.store.put(&pod.key, &body, None);
            }
        }
    }

    fn stop(self: &Arc<Self>, pod: Stored, uid: String) {
        if !self.stopping.lock().insert(uid.clone()) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            // Not ready any more: the router stops sending new requests to it before it is signalled.
            let mut body = serde_json::Value::clone(&pod.body);
            set_ready(&mut body, false, this.clock.now());
            let _ = this.store.put(&pod.key, &body, None);
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = this.supervisor.stop(&uid).await;
            if let Err(error) = this.store.delete(&pod.key) {
                tracing::error!(pod = %pod.key.name, %error, "cannot delete a stopped pod");
            }
            // Its logs go with it (a pod made again under the name starts with none).
            for previous in [false, true] {
                let _ = std::fs::remove_file(log_path(&this.data_dir, &pod.key.namespace, &pod.key.name, previous));
            }
            this.stopping.lock().remove(&uid);
            this.failed.lock().remove(&uid);
        });
    }

    /// A pod made without a port (written by hand, or by an AnalysisRun's job) gets its
    /// loopback port as a ReplicaSet's pods get theirs: the same choice among the ports no
    /// other pod holds, recorded in the same annotation before the process starts.
    fn give_port(&self, pod: Stored, ports: &mut HashSet<u16>) -> Result<Stored> {
        let mut body = serde_json::Value::clone(&pod.body);
        body["metadata"]["annotations"][PORT_ANNOTATION] = claim_port(ports).to_string().into();
        self.store.put(&pod.key, &body, Some(pod.rev))?;
        Ok(self.store.get(&pod.key)?.unwrap_or(pod))
    }

    async fn launch(&self, pod: &Stored, uid: &str) -> std::result::Result<(), String> {
        let spec = self.pod_spec(pod, uid)?;
        let annotations = &pod.body["metadata"]["annotations"];
        let pid = annotations[PID_ANNOTATION].as_str().and_then(|p| p.parse().ok());
        let start = annotations[PROCESS_START_ANNOTATION].as_str().and_then(|p| p.parse().ok());
        let restarts =
            pod.body.pointer("/status/containerStatuses/0/restartCount").and_then(Json::as_u64).unwrap_or(0) as u32;
        let result = match (pid, start) {
            (Some(pid), Some(start)) => {
                self.adopted.lock().insert(uid.to_string(), std::time::Instant::now());
                self.supervisor.adopt(spec, pid, start, restarts).await
            }
            _ => self.supervisor.start(spec).await,
        };
        result.map_err(|e| e.to_string())
    }

    /// The process for a pod's first container.
    fn pod_spec(&self, pod: &Stored, uid: &str) -> std::result::Result<PodSpec, String> {
        let body = &pod.body;
        let name = pod.key.name.clone();
        let container = body.pointer("/spec/containers/0").ok_or("the pod has no container")?;
        let image = container["image"].as_str().unwrap_or_default();
        let words = |v: &Json| -> Vec<String> {
            v.as_array().into_iter().flatten().filter_map(|w| w.as_str().map(str::to_string)).collect()
        };
        let command = match words(&container["command"]) {
            c if !c.is_empty() => c,
            _ => self.images.command_for(image).ok_or_else(|| {
                format!("no command for image {image:?}: give the container a command, or map the image with --images")
            })?,
        };
        let port = pod_port(body).ok_or("the pod has no port")?;
        // POD_IP is the pods' address here (the demo app listens on it), so that one inherited
        // from the server's own environment cannot move them off loopback.
        let mut env = vec![
            ("PORT".to_string(), port.to_string()),
            ("POD_IP".to_string(), "127.0.0.1".to_string()),
            ("POD_NAME".to_string(), name.clone()),
            ("HOSTNAME".to_string(), name.clone()),
            ("POD_NAMESPACE".to_string(), pod.key.namespace.clone()),
        ];
        for var in container["env"].as_array().into_iter().flatten() {
            let value = match (&var["value"], var.pointer("/valueFrom/fieldRef/fieldPath").and_then(Json::as_str)) {
                (Json::String(v), _) => v.clone(),
                (_, Some("metadata.name")) => name.clone(),
                (_, Some("metadata.namespace")) => pod.key.namespace.clone(),
                (_, Some("status.podIP")) => "127.0.0.1".to_string(),
                _ => String::new(),
            };
            env.push((var["name"].as_str().unwrap_or_default().to_string(), value));
        }
        let container_ports: Vec<(i64, Option<String>)> = container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| (p["containerPort"].as_i64().unwrap_or(0), p["name"].as_str().map(str::to_string)))
            .collect();
        // Every probe port that names or numbers a container port means the pod's real port.
        let probe_port = |value: &Json| -> u16 {
            match value {
                Json::Number(n) if !container_ports.iter().any(|(p, _)| Some(*p) == n.as_i64()) => {
                    n.as_u64().unwrap_or(0) as u16
                }
                _ => port,
            }
        };
        let probe = |value: &Json| -> Option<Probe> {
            let action = if let Some(http) = value.get("httpGet") {
                ProbeAction::HttpGet {
                    path: http["path"].as_str().unwrap_or("/").to_string(),
                    port: probe_port(&http["port"]),
                    host: http["host"].as_str().map(str::to_string),
                    scheme_https: http["scheme"] == "HTTPS",
                    headers: http["httpHeaders"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|h| {
                            (
                                h["name"].as_str().unwrap_or_default().to_string(),
                                h["value"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect(),
                }
            } else if let Some(tcp) = value.get("tcpSocket") {
                ProbeAction::TcpSocket { port: probe_port(&tcp["port"]) }
            } else if let Some(exec) = value.get("exec") {
                ProbeAction::Exec { command: words(&exec["command"]) }
            } else {
                return None;
            };
            let seconds = |field: &str, default: u64| Duration::from_secs(value[field].as_u64().unwrap_or(default));
            let mut probe = Probe::new(action);
            probe.initial_delay = seconds("initialDelaySeconds", 0);
            probe.period = seconds("periodSeconds", 10);
            probe.timeout = seconds("timeoutSeconds", 1);
            probe.success_threshold = value["successThreshold"].as_u64().unwrap_or(1) as u32;
            probe.failure_threshold = value["failureThreshold"].as_u64().unwrap_or(3) as u32;
            Some(probe)
        };
        let mut spec =
            PodSpec::new(uid, name.clone(), command, log_path(&self.data_dir, &pod.key.namespace, &name, false));
        spec.args = words(&container["args"]);
        spec.env = env;
        spec.working_dir = container["workingDir"].as_str().map(PathBuf::from);
        spec.port = port;
        spec.readiness = container.get("readinessProbe").and_then(probe);
        spec.liveness = container.get("livenessProbe").and_then(probe);
        spec.grace_period = Duration::from_secs(
            body.pointer("/spec/terminationGracePeriodSeconds").and_then(Json::as_u64).unwrap_or(30),
        );
        spec.restart_policy = match body.pointer("/spec/restartPolicy").and_then(Json::as_str) {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        };
        Ok(spec)
    }

    /// Copies the process state into the Pod's status, writing only on change.
    fn report(&self, pod: &Stored, uid: &str) -> Result<()> {
        let now = self.clock.now();
        let mut body = serde_json::Value::clone(&pod.body);
        let container = body.pointer("/spec/containers/0").cloned().unwrap_or_default();
        let failure = self.failed.lock().get(uid).cloned();
        let runtime = self.supervisor.runtime(uid);
        let finished = matches!(pod.body.pointer("/status/phase").and_then(Json::as_str), Some("Succeeded" | "Failed"));
        if finished && runtime.is_none() {
            return Ok(()); // a completed pod keeps the status it finished with
        }
        let probed = runtime.as_ref().is_some_and(|r| r.ready);
        let waiting_for_probe = {
            let mut adopted = self.adopted.lock();
            match adopted.get(uid) {
                Some(since) if !probed && since.elapsed() < ADOPTION_GRACE => true,
                Some(_) => {
                    adopted.remove(uid);
                    false
                }
                None => false,
            }
        };
        let ready = probed || (waiting_for_probe && crate::objects::pod_ready(&pod.body));
        let state = match (&runtime, failure) {
            (_, Some(message)) => json!({"waiting": {"reason": "RunContainerError", "message": message}}),
            (Some(PodRuntime { state: ContainerState::Waiting { reason, message }, .. }), _) => {
                json!({"waiting": {"reason": reason, "message": message}})
            }
            (Some(r), _) if matches!(r.state, ContainerState::Running | ContainerState::Terminating) => {
                let started = r.started_at.map(|t| {
                    serin_model::Time::from_millis(
                        t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64),
                    )
                });
                json!({"running": {"startedAt": started.unwrap_or(now).to_string()}})
            }
            (Some(PodRuntime { state: ContainerState::Terminated, last_exit: Some(exit), .. }), _) => {
                json!({"terminated": {"exitCode": exit.exit_code, "reason": exit.reason, "message": exit.message}})
            }
            _ => json!({"waiting": {"reason": "ContainerCreating"}}),
        };
        let running = state.get("running").is_some();
        body["status"]["phase"] = match state.pointer("/terminated/exitCode") {
            Some(code) if *code == json!(0) => "Succeeded",
            Some(_) => "Failed",
            None if running => "Running",
            None => "Pending",
        }
        .into();
        body["status"]["podIP"] = "127.0.0.1".into();
        body["status"]["containerStatuses"] = json!([{
            "name": container["name"], "image": container["image"], "ready": ready,
            "started": running, "restartCount": runtime.as_ref().map_or(0, |r| r.restarts), "state": state,
        }]);
        set_ready(&mut body, ready, now);
        if let Some(r) = &runtime {
            let annotations = &mut body["metadata"]["annotations"];
            if let (Some(pid), Some(start)) = (r.pid, r.process_start) {
                annotations[PID_ANNOTATION] = pid.to_string().into();
                annotations[PROCESS_START_ANNOTATION] = start.to_string().into();
            }
        }
        if body != *pod.body {
            self.store.put(&pod.key, &body, Some(pod.rev))?;
        }
        Ok(())
    }
}

/// Waits for every future (they run concurrently as tasks).
async fn futures_join_all<F>(futures: impl Iterator<Item = F>)
where
    F: std::future::Future + Send + 'static,
    F::Output: Send,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    for handle in handles {
        let _ = handle.await;
    }
}

/// Sets the Ready condition, keeping its transition time when it does not change.
fn set_ready(body: &mut Json, ready: bool, now: serin_model::Time) {
    let value = if ready { "True" } else { "False" };
    let conditions = body["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let previous = conditions.iter().find(|c| c["type"] == "Ready");
    if previous.is_some_and(|c| c["status"] == value) {
        return;
    }
    let mut conditions: Vec<Json> = conditions.iter().filter(|c| c["type"] != "Ready").cloned().collect();
    conditions.push(json!({"type": "Ready", "status": value, "lastTransitionTime": now.to_string()}));
    body["status"]["conditions"] = Json::Array(conditions);
}

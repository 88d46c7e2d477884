//! The Kubernetes-shaped objects the local platform creates (ReplicaSets and Pods, labelled and
//! owned exactly as Argo Rollouts and the ReplicaSet controller would, with the shapes every
//! platform shares in `serin_engine::objects`), and summaries of them for the CLI and the
//! dashboard.

use crate::store::{Result, Stored, Writer};
use serde_json::{Value as Json, json};
use serin_engine::objects as shared;
pub use serin_engine::objects::{analysis_run_state, int_at, pod_available, pod_ready, replica_set_state, time_at};
use serin_engine::state::{NewReplicaSet, POD_TEMPLATE_HASH_LABEL, ReplicaSetState, SCALE_DOWN_DEADLINE_ANNOTATION};
use serin_model::ObjectKey;
use serin_model::Time;
use serin_model::rollout::{Rollout, RolloutStatus};

/// Annotation holding the loopback port a pod listens on (its stand-in for a pod IP).
pub const PORT_ANNOTATION: &str = "serin.dev/port";

/// The loopback port a pod listens on, once it has been given one.
pub fn pod_port(pod: &Json) -> Option<u16> {
    pod["metadata"]["annotations"][PORT_ANNOTATION].as_str()?.parse().ok()
}

pub fn replica_set_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new("apps/v1", "ReplicaSet", namespace, name)
}

pub fn pod_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new("v1", "Pod", namespace, name)
}

/// Objects of `group`/`kind` in `namespace` controlled by the `owner_kind` named `owner`.
pub fn owned(
    store: &crate::store::Store,
    (group, kind): (&str, &str),
    namespace: &str,
    owner_kind: &str,
    owner: &str,
) -> Result<Vec<Stored>> {
    Ok(store
        .list(Some(group), kind, Some(namespace))?
        .into_iter()
        .filter(|o| owned_by(&o.body, owner_kind, owner))
        .collect())
}

/// `objects` grouped by the (namespace, name) of their owner of `owner_kind`: one pass over a
/// list instead of one filter per owner, so a controller pass costs O(objects), not
/// O(owners x objects).
pub fn by_owner<'a>(
    objects: &'a [crate::store::Stored],
    owner_kind: &str,
) -> std::collections::HashMap<(&'a str, &'a str), Vec<&'a crate::store::Stored>> {
    let mut groups: std::collections::HashMap<_, Vec<_>> = std::collections::HashMap::new();
    for object in objects {
        let owners = object.body.pointer("/metadata/ownerReferences").and_then(Json::as_array);
        for owner in owners.into_iter().flatten().filter(|r| r["kind"] == owner_kind) {
            if let Some(name) = owner["name"].as_str() {
                groups.entry((object.key.namespace.as_str(), name)).or_default().push(object);
            }
        }
    }
    groups
}

/// Whether `object` is controlled by the object of `kind` named `name`.
pub fn owned_by(object: &Json, kind: &str, name: &str) -> bool {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Json::as_array)
        .is_some_and(|refs| refs.iter().any(|r| r["kind"] == kind && r["name"] == name))
}

/// The ReplicaSet for a Rollout revision, with what an API server adds to a new object.
pub fn replica_set(rollout: &Rollout, rollout_json: &Json, new: &NewReplicaSet, now: Time) -> Json {
    let mut body = shared::replica_set(rollout, &rollout_json["metadata"], new);
    body["metadata"]["uid"] = new_uid().into();
    body["metadata"]["creationTimestamp"] = now.to_string().into();
    body["metadata"]["generation"] = 1.into();
    body["status"] = json!({ "replicas": 0, "readyReplicas": 0, "availableReplicas": 0 });
    body
}

/// A pod of a ReplicaSet, listening on `port`.
pub fn pod(replica_set: &Json, name: &str, port: u16, now: Time) -> Json {
    let template = &replica_set["spec"]["template"];
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": replica_set["metadata"]["namespace"],
            "uid": new_uid(),
            "creationTimestamp": now.to_string(),
            "labels": template["metadata"]["labels"],
            "annotations": { PORT_ANNOTATION: port.to_string() },
            "ownerReferences": shared::controller_reference("apps/v1", "ReplicaSet", &replica_set["metadata"]),
        },
        "spec": template["spec"],
        "status": { "phase": "Pending", "podIP": "127.0.0.1" },
    })
}

/// A unique id for a new object.
pub fn new_uid() -> String {
    let mut bytes = random_bytes::<16>();
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4: random
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// Five characters of Kubernetes' name alphabet, for pod names.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    random_bytes::<5>().iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
}

/// Bytes from the operating system's random source.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// Where a pod's container log is kept (`previous`: the log of the run before the last restart).
pub fn log_path(data_dir: &std::path::Path, namespace: &str, pod: &str, previous: bool) -> std::path::PathBuf {
    let file = data_dir.join("logs").join(format!("{namespace}_{pod}.log"));
    if previous { file.with_extension("log.previous") } else { file }
}

/// A pod as `get pods`, the rollout tree and the dashboard show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSummary {
    pub ready: usize,
    pub containers: usize,
    pub restarts: i64,
    pub terminating: bool,
    /// The first waiting container's reason (`CrashLoopBackOff`, ...).
    pub waiting: Option<String>,
    /// `status.phase`; empty before the pod controller saw the pod.
    pub phase: String,
}

impl PodSummary {
    /// The status kubectl-argo-rollouts' tree prints: Terminating, a waiting reason,
    /// ContainerCreating until the pod runs, then its phase.
    pub fn status(&self) -> String {
        if self.terminating {
            return "Terminating".to_string();
        }
        if let Some(reason) = &self.waiting {
            return reason.clone();
        }
        match self.phase.as_str() {
            "" | "Pending" => "ContainerCreating".to_string(),
            phase => phase.to_string(),
        }
    }
}

pub fn pod_summary(pod: &Json) -> PodSummary {
    let statuses = pod.pointer("/status/containerStatuses").and_then(Json::as_array).map(Vec::as_slice).unwrap_or(&[]);
    PodSummary {
        ready: statuses.iter().filter(|c| c["ready"] == true).count(),
        containers: pod.pointer("/spec/containers").and_then(Json::as_array).map_or(1, Vec::len),
        restarts: statuses.iter().map(|c| c["restartCount"].as_i64().unwrap_or(0)).sum(),
        terminating: pod.pointer("/metadata/deletionTimestamp").is_some(),
        waiting: statuses
            .iter()
            .find_map(|c| c.pointer("/state/waiting/reason").and_then(Json::as_str).map(str::to_string)),
        phase: pod.pointer("/status/phase").and_then(Json::as_str).unwrap_or_default().to_string(),
    }
}

/// The parts a revision (pod-template hash) plays in a Rollout now, as kubectl-argo-rollouts
/// tags them: `stable` or `canary`; for blue-green (whose status names the Services'
/// selectors) `stable`, then `active` or `preview`.
pub fn revision_roles(status: &RolloutStatus, hash: &str) -> Vec<&'static str> {
    let bg = &status.blue_green;
    let is = |value: &Option<String>| value.as_deref() == Some(hash);
    let mut roles = Vec::new();
    if is(&status.stable_rs) {
        roles.push("stable");
    }
    if bg.active_selector.is_some() || bg.preview_selector.is_some() {
        if is(&bg.active_selector) {
            roles.push("active");
        } else if is(&bg.preview_selector) {
            roles.push("preview");
        }
    } else if roles.is_empty() && is(&status.current_pod_hash) {
        roles.push("canary");
    }
    roles
}

/// A Rollout's ReplicaSet as the tree and the dashboard show it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaSetSummary {
    /// `Healthy`, `Progressing` or `ScaledDown`.
    pub state: &'static str,
    /// See [`revision_roles`].
    pub roles: Vec<&'static str>,
    /// When an old ReplicaSet kept up after a promotion or abort is scaled down.
    pub scale_down_deadline: Option<Time>,
}

pub fn replica_set_summary(rs: &Json, status: &RolloutStatus) -> ReplicaSetSummary {
    let hash = rs["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL].as_str().unwrap_or_default();
    let (spec, available) = (int_at(rs, "/spec/replicas"), int_at(rs, "/status/availableReplicas"));
    let state = if spec == 0 && int_at(rs, "/status/replicas") == 0 {
        "ScaledDown"
    } else if available < spec {
        "Progressing"
    } else {
        "Healthy"
    };
    ReplicaSetSummary {
        state,
        roles: revision_roles(status, hash),
        scale_down_deadline: rs["metadata"]["annotations"][SCALE_DOWN_DEADLINE_ANNOTATION]
            .as_str()
            .and_then(|t| Time::parse(t).ok()),
    }
}

/// The images a Rollout runs, oldest revision first, each with the role of its revision:
/// the `Images:` lines of `get rollout`.
pub fn rollout_images(status: &RolloutStatus, replica_sets: &[ReplicaSetState]) -> Vec<(String, Vec<&'static str>)> {
    let mut running: Vec<&ReplicaSetState> = replica_sets.iter().filter(|rs| rs.replicas > 0).collect();
    running.sort_by_key(|rs| rs.revision);
    running
        .into_iter()
        .flat_map(|rs| {
            let roles = revision_roles(status, &rs.hash);
            rs.template.images().into_iter().map(move |image| (image, roles.clone()))
        })
        .collect()
}

/// Deletes an object as `serin delete` and a prune do. A pod is only marked for deletion:
/// the pod controller stops its process, then removes it (as when a controller scales a
/// ReplicaSet down); anything else goes at once, and what it owns follows by garbage
/// collection. Whether there was such an object.
pub fn delete(w: &mut Writer<'_>, key: &ObjectKey, now: Time) -> Result<bool> {
    if key.kind != "Pod" {
        return w.delete(key);
    }
    let Some(pod) = w.get(key)? else { return Ok(false) };
    mark_for_deletion(w, &pod, now)?;
    Ok(true)
}

/// Pods are not removed at once: the pod controller drains and stops them, then deletes them.
pub fn mark_for_deletion(w: &mut Writer<'_>, pod: &Stored, now: Time) -> Result<()> {
    if pod.body.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(());
    }
    let mut body = Json::clone(&pod.body);
    body["metadata"]["deletionTimestamp"] = now.to_string().into();
    w.put(&pod.key, &body, None).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_random_uuids_as_kubernetes_gives() {
        let shape = regex::Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$").unwrap();
        let uids: std::collections::BTreeSet<String> = (0..1000).map(|_| new_uid()).collect();
        assert_eq!(uids.len(), 1000, "no two alike");
        for uid in &uids {
            assert!(shape.is_match(uid), "{uid} is not a version 4 UUID");
        }
        let suffix = random_suffix();
        assert_eq!(suffix.len(), 5);
        assert!(suffix.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)), "{suffix}");
    }
}

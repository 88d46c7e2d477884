//! The Kubernetes-shaped objects the local platform creates (ReplicaSets and Pods, labelled and
//! owned exactly as Argo Rollouts and the ReplicaSet controller would), and the engine's view
//! of them.

use serde_json::{Value as Json, json};
use serin_engine::state::{
    NewReplicaSet, POD_TEMPLATE_HASH_LABEL, PodState, REVISION_ANNOTATION, ReplicaSetState,
    SCALE_DOWN_DEADLINE_ANNOTATION,
};
use serin_model::ObjectKey;
use serin_model::Time;
use serin_model::podtemplate::PodTemplate;
use serin_model::rollout::{Rollout, RolloutStatus};

/// Annotation holding the loopback port a pod listens on (its stand-in for a pod IP).
pub const PORT_ANNOTATION: &str = "serin.dev/port";

pub fn replica_set_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new("apps/v1", "ReplicaSet", namespace, name)
}

pub fn pod_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new("v1", "Pod", namespace, name)
}

fn owner(api_version: &str, kind: &str, meta: &Json) -> Json {
    json!([{
        "apiVersion": api_version, "kind": kind,
        "name": meta["name"], "uid": meta["uid"],
        "controller": true, "blockOwnerDeletion": true,
    }])
}

/// Objects of `group`/`kind` in `namespace` controlled by the `owner_kind` named `owner`.
pub fn owned(
    store: &crate::store::Store,
    (group, kind): (&str, &str),
    namespace: &str,
    owner_kind: &str,
    owner: &str,
) -> crate::store::Result<Vec<crate::store::Stored>> {
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

/// A template with the pod-template-hash label added, as it goes into a ReplicaSet.
fn labelled_template(template: &PodTemplate, hash: &str) -> Json {
    let mut template = template.0.clone();
    template["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] = hash.into();
    template
}

/// The ReplicaSet for a Rollout revision.
pub fn replica_set(rollout: &Rollout, rollout_json: &Json, new: &NewReplicaSet, now: Time) -> Json {
    let (name, hash, template) = (&new.name, &new.hash, &new.template);
    let mut selector = serde_json::to_value(rollout.spec.selector.clone().unwrap_or_default()).unwrap_or_default();
    selector["matchLabels"][POD_TEMPLATE_HASH_LABEL] = hash.as_str().into();
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": rollout.metadata.namespace(),
            "uid": new_uid(),
            "creationTimestamp": now.to_string(),
            "generation": 1,
            "labels": labelled_template(template, hash)["metadata"]["labels"],
            "annotations": { REVISION_ANNOTATION: new.revision.to_string() },
            "ownerReferences": owner("argoproj.io/v1alpha1", "Rollout", &rollout_json["metadata"]),
        },
        "spec": {
            "replicas": new.replicas,
            "minReadySeconds": rollout.spec.min_ready_seconds.unwrap_or(0),
            "selector": selector,
            "template": labelled_template(template, hash),
        },
        "status": { "replicas": 0, "readyReplicas": 0, "availableReplicas": 0 },
    })
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
            "ownerReferences": owner("apps/v1", "ReplicaSet", &replica_set["metadata"]),
        },
        "spec": template["spec"],
        "status": { "phase": "Pending", "podIP": "127.0.0.1" },
    })
}

/// A unique id for a new object.
pub fn new_uid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:08x}-{:04x}-{:04x}-{:012x}",
        (nanos >> 32) as u32,
        std::process::id() & 0xffff,
        n & 0xffff,
        nanos as u64 & 0xffff_ffff_ffff
    )
}

/// Five characters of Kubernetes' name alphabet, for pod names.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
            ^ new_uid().bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    (0..5)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ALPHABET[(seed % 27) as usize] as char
        })
        .collect()
}

pub fn time_at(object: &Json, pointer: &str) -> Option<Time> {
    object.pointer(pointer).and_then(Json::as_str).and_then(|t| Time::parse(t).ok())
}

fn int(object: &Json, pointer: &str) -> i32 {
    object.pointer(pointer).and_then(Json::as_i64).unwrap_or(0) as i32
}

/// Whether a pod is Ready (its Ready condition is True) and not being deleted.
pub fn pod_ready(pod: &Json) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none()
        && pod
            .pointer("/status/conditions")
            .and_then(Json::as_array)
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Whether a pod has been Ready for at least `min_ready` milliseconds.
pub fn pod_available(pod: &Json, min_ready: i64, now: Time) -> bool {
    pod_ready(pod)
        && pod.pointer("/status/conditions").and_then(Json::as_array).is_some_and(|c| {
            c.iter()
                .filter(|c| c["type"] == "Ready")
                .any(|c| time_at(c, "/lastTransitionTime").is_none_or(|t| now.since(t) >= min_ready))
        })
}

/// The engine's view of a ReplicaSet and its pods.
pub fn replica_set_state(rs: &Json, pods: &[&Json]) -> ReplicaSetState {
    let meta = &rs["metadata"];
    let mut template = rs["spec"]["template"].clone();
    if let Some(labels) = template.pointer_mut("/metadata/labels").and_then(Json::as_object_mut) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    ReplicaSetState {
        name: meta["name"].as_str().unwrap_or_default().to_string(),
        hash: meta["labels"][POD_TEMPLATE_HASH_LABEL].as_str().unwrap_or_default().to_string(),
        revision: meta["annotations"][REVISION_ANNOTATION].as_str().and_then(|r| r.parse().ok()).unwrap_or(0),
        template: PodTemplate(template),
        replicas: int(rs, "/spec/replicas"),
        current: int(rs, "/status/replicas"),
        ready: int(rs, "/status/readyReplicas"),
        available: int(rs, "/status/availableReplicas"),
        created: time_at(rs, "/metadata/creationTimestamp").unwrap_or_default(),
        scale_down_deadline: meta["annotations"][SCALE_DOWN_DEADLINE_ANNOTATION]
            .as_str()
            .and_then(|t| Time::parse(t).ok()),
        pods: pods
            .iter()
            .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
            .map(|p| PodState {
                name: p["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                created: time_at(p, "/metadata/creationTimestamp").unwrap_or_default(),
                available: pod_ready(p),
            })
            .collect(),
    }
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

/// `stable` or `canary`: the part a revision (pod-template hash) plays in a Rollout now.
pub fn revision_role(status: &RolloutStatus, hash: &str) -> Option<&'static str> {
    if status.stable_rs.as_deref() == Some(hash) {
        Some("stable")
    } else if status.current_pod_hash.as_deref() == Some(hash) {
        Some("canary")
    } else {
        None
    }
}

/// A Rollout's ReplicaSet as the tree and the dashboard show it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaSetSummary {
    /// `Healthy`, `Progressing` or `ScaledDown`.
    pub state: &'static str,
    pub role: Option<&'static str>,
    /// When an old ReplicaSet kept up after a promotion or abort is scaled down.
    pub scale_down_deadline: Option<Time>,
}

pub fn replica_set_summary(rs: &Json, status: &RolloutStatus) -> ReplicaSetSummary {
    let hash = rs["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL].as_str().unwrap_or_default();
    let (spec, available) = (int(rs, "/spec/replicas"), int(rs, "/status/availableReplicas"));
    let state = if spec == 0 && int(rs, "/status/replicas") == 0 {
        "ScaledDown"
    } else if available < spec {
        "Progressing"
    } else {
        "Healthy"
    };
    ReplicaSetSummary {
        state,
        role: revision_role(status, hash),
        scale_down_deadline: rs["metadata"]["annotations"][SCALE_DOWN_DEADLINE_ANNOTATION]
            .as_str()
            .and_then(|t| Time::parse(t).ok()),
    }
}

/// The images a Rollout runs, oldest revision first, each with the role of its revision:
/// the `Images:` lines of `get rollout`.
pub fn rollout_images(status: &RolloutStatus, replica_sets: &[ReplicaSetState]) -> Vec<(String, Option<&'static str>)> {
    let mut running: Vec<&ReplicaSetState> = replica_sets.iter().filter(|rs| rs.replicas > 0).collect();
    running.sort_by_key(|rs| rs.revision);
    running
        .into_iter()
        .flat_map(|rs| {
            let role = revision_role(status, &rs.hash);
            rs.template.images().into_iter().map(move |image| (image, role))
        })
        .collect()
}

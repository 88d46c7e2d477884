//! What a Kubernetes test reads off the cluster's `default` namespace to judge a rollout, for
//! every Kubernetes test file: which revision a Service selects and which addresses its
//! Endpoints hold, how many replicas each ReplicaSet asks for, which pods of a revision are
//! Ready, the pods' uids (to prove none was replaced), the seed's TraefikService weights and
//! the Events recorded about an object.

use super::KubeEnv;
use serde_json::Value as Json;

/// The Ready pods of one revision (its `rollouts-pod-template-hash`) that are not being deleted.
async fn ready_pods_of(env: &KubeEnv, revision: &str) -> Vec<Json> {
    env.list("v1", "Pod", "default")
        .await
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["rollouts-pod-template-hash"] == revision)
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        })
        .collect()
}

/// How many pods of one revision are Ready and not being deleted.
pub async fn ready_pods(env: &KubeEnv, revision: &str) -> usize {
    ready_pods_of(env, revision).await.len()
}

/// The addresses of those pods, sorted.
pub async fn ready_pod_ips(env: &KubeEnv, revision: &str) -> Vec<String> {
    let mut ips: Vec<String> =
        ready_pods_of(env, revision).await.iter().map(|p| p["status"]["podIP"].as_str().unwrap().to_string()).collect();
    ips.sort();
    ips
}

/// The ready and the not-ready addresses of a Service's Endpoints, each sorted (kube-controller-
/// manager's endpoint controller writes them from the pods the Service selects).
pub async fn endpoint_ips(env: &KubeEnv, service: &str) -> (Vec<String>, Vec<String>) {
    let endpoints = env.get("v1", "Endpoints", "default", service).await.unwrap_or_default();
    let addresses = |field: &str| {
        let mut ips: Vec<String> = endpoints["subsets"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|subset| subset[field].as_array().into_iter().flatten())
            .map(|address| address["ip"].as_str().unwrap().to_string())
            .collect();
        ips.sort();
        ips
    };
    (addresses("addresses"), addresses("notReadyAddresses"))
}

/// (canary-active, canary-preview) weights of the seed's TraefikService in `group`.
pub async fn traefik_weights(env: &KubeEnv, group: &str) -> (i64, i64) {
    let split = env.get(&format!("{group}/v1alpha1"), "TraefikService", "default", "canary-service").await.unwrap();
    let weight = |name: &str| {
        split["spec"]["weighted"]["services"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["weight"]
            .as_i64()
            .unwrap()
    };
    (weight("canary-active"), weight("canary-preview"))
}

/// The `rollouts-pod-template-hash` a Service selects (`null` when it selects none).
pub async fn selector_hash(env: &KubeEnv, service: &str) -> Json {
    env.get("v1", "Service", "default", service).await.unwrap()["spec"]["selector"]["rollouts-pod-template-hash"]
        .clone()
}

/// Every ReplicaSet as (name, `spec.replicas`), sorted by name.
pub async fn replica_sets(env: &KubeEnv) -> Vec<(String, i64)> {
    let mut sets: Vec<(String, i64)> = env
        .list("apps/v1", "ReplicaSet", "default")
        .await
        .iter()
        .map(|rs| (rs["metadata"]["name"].as_str().unwrap().to_string(), rs["spec"]["replicas"].as_i64().unwrap()))
        .collect();
    sets.sort();
    sets
}

/// The uids of every pod, sorted: equal before and after means no pod was replaced.
pub async fn pod_uids(env: &KubeEnv) -> Vec<String> {
    let mut uids: Vec<String> = env
        .list("v1", "Pod", "default")
        .await
        .iter()
        .map(|p| p["metadata"]["uid"].as_str().unwrap().to_string())
        .collect();
    uids.sort();
    uids
}

/// The Events recorded about the `kind` object `name`, as "Reason: message", oldest first.
pub async fn events_about(env: &KubeEnv, kind: &str, name: &str) -> Vec<String> {
    let mut events: Vec<(String, String)> = env
        .list("v1", "Event", "default")
        .await
        .iter()
        .filter(|e| e["involvedObject"]["kind"] == kind && e["involvedObject"]["name"] == name)
        .map(|e| {
            let at = e["eventTime"].as_str().or(e["firstTimestamp"].as_str()).unwrap_or_default().to_string();
            (at, format!("{}: {}", e["reason"].as_str().unwrap_or_default(), e["message"].as_str().unwrap_or_default()))
        })
        .collect();
    events.sort();
    events.into_iter().map(|(_, event)| event).collect()
}

//! Moving a live Argo Rollouts installation to serin and back (#21), on a real API server
//! (kubeenv, v1.20): a canary release Argo Rollouts left paused at its first pause (its
//! ReplicaSets, Services, TraefikService weights and Rollout status written as Argo writes them)
//! is continued by `serin controller`; once serin stops, what it leaves is what Argo reads: the
//! same ReplicaSets with Argo's labels, annotations and owner, the status in Argo's field shapes
//! with Argo's step and pod-template hashes. No pod is replaced on the way.
//!
//! Argo Rollouts itself cannot run here (no Go toolchain or module proxy), so what it writes is
//! spelled out below from its source (argoproj/argo-rollouts: rollout/sync.go, rollout/canary.go,
//! utils/conditions, utils/annotations, pkg/apis/rollouts/v1alpha1/types.go).

mod kubeenv;

use kubeenv::KubeEnv;
use kubeenv::seed::{ROLLOUTS, WAIT, cluster, rollout, seed, seed_rollout, serin_ok, wait_phase};
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;
use std::time::Duration;

const V1: &str = "69dc9f5f56";
const V2: &str = "95d95c65";
/// Argo's `conditions.ComputeStepHash` of the seed's steps: FNV-1a (32 bits) of Go's JSON of
/// the steps, `[{"setWeight":10},{"pause":{"duration":"5m"}},...,{"setWeight":100}]`, in
/// decimal, each digit mapped by apimachinery's `rand.SafeEncodeString`.
const STEP_HASH: &str = "85654977b4";
const MANAGED_BY: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";

/// The ReplicaSet Argo's `createDesiredReplicaSet` makes for a revision, scaled to `replicas`.
fn argo_replica_set(rollout: &Json, hash: &str, image: &str, revision: u32, replicas: u32) -> Json {
    let mut template = rollout["spec"]["template"].clone();
    template["spec"]["containers"][0]["image"] = image.into();
    template["metadata"]["labels"]["rollouts-pod-template-hash"] = hash.into();
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": format!("canary-rollout-{hash}"),
            "labels": template["metadata"]["labels"],
            "annotations": {
                "rollout.argoproj.io/revision": revision.to_string(),
                "rollout.argoproj.io/desired-replicas": "10",
            },
            "ownerReferences": [{
                "apiVersion": ROLLOUTS, "kind": "Rollout", "name": "canary-rollout",
                "uid": rollout["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "myapp", "rollouts-pod-template-hash": hash}},
            "template": template,
        },
    })
}

/// The Rollout's status as Argo writes it paused at step 1 (`pause: 5m`) of the seed's update
/// to v2, 10% of the traffic on the canary, the pause begun at `now`.
fn argo_status(generation: &Json, now: &str) -> Json {
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": now, "lastTransitionTime": now})
    };
    json!({
        "HPAReplicas": 11, "replicas": 11, "updatedReplicas": 1, "readyReplicas": 11, "availableReplicas": 11,
        "selector": "app=myapp",
        "currentPodHash": V2, "currentStepHash": STEP_HASH, "currentStepIndex": 1, "stableRS": V1,
        "observedGeneration": generation.to_string(),
        "phase": "Paused", "message": "CanaryPauseStep",
        "controllerPause": true,
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": now}],
        "canary": {"weights": {
            "canary": {"weight": 10, "serviceName": "canary-active", "podTemplateHash": V2},
            "stable": {"weight": 90, "serviceName": "canary-preview", "podTemplateHash": V1},
        }},
        "conditions": [
            condition("Available", "True", "AvailableReason", "Rollout has minimum availability"),
            condition("Completed", "False", "RolloutCompleted", "RolloutCompleted"),
            condition("Healthy", "False", "RolloutHealthy", "Rollout is not healthy"),
            condition("Progressing", "Unknown", "RolloutPaused", "Rollout is paused"),
            condition("Paused", "True", "RolloutPaused", "Rollout is paused"),
        ],
    })
}

/// Every field path of a JSON value with the JSON type found there (array items under `[]`),
/// the shape a Go client's decoding depends on.
fn shape(value: &Json, path: &str, out: &mut BTreeSet<String>) {
    match value {
        Json::Object(fields) => {
            for (key, field) in fields {
                shape(field, &format!("{path}.{key}"), out);
            }
        }
        Json::Array(items) => {
            out.insert(format!("{path}: array"));
            for item in items {
                shape(item, &format!("{path}[]"), out);
            }
        }
        Json::String(_) => drop(out.insert(format!("{path}: string"))),
        Json::Number(_) => drop(out.insert(format!("{path}: number"))),
        Json::Bool(_) => drop(out.insert(format!("{path}: bool"))),
        Json::Null => drop(out.insert(format!("{path}: null"))),
    }
}

fn shape_of(value: &Json) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    shape(value, "", &mut out);
    out
}

/// The uids of the pods not being deleted.
async fn live_pods(env: &KubeEnv) -> BTreeSet<String> {
    env.list("v1", "Pod", "default")
        .await
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| p["metadata"]["uid"].as_str().unwrap().to_string())
        .collect()
}

async fn replica_set(env: &KubeEnv, hash: &str) -> Json {
    env.get("apps/v1", "ReplicaSet", "default", &format!("canary-rollout-{hash}")).await.unwrap()
}

/// Argo's state mid-release: the seed's Services and TraefikServices, the Rollout at v2, its
/// two ReplicaSets (10 pods of v1, 1 of v2, all Ready), Services and weights steered to them,
/// and the Rollout's status. Returns the status Argo wrote.
async fn as_argo_left_it(env: &KubeEnv) -> Json {
    for file in ["service.yaml", "ingress.yaml"] {
        env.apply_yaml("default", &seed(file)).await;
    }
    let mut desired = seed_rollout();
    desired["spec"]["template"]["spec"]["containers"][0]["image"] = "ikubernetes/myapp:v2".into();
    desired["metadata"]["annotations"] = json!({"rollout.argoproj.io/revision": "2"});
    env.apply("default", desired).await;
    let created = rollout(env, "canary-rollout").await;
    for (hash, image, revision, replicas) in [(V1, "ikubernetes/myapp:v1", 1, 10), (V2, "ikubernetes/myapp:v2", 2, 1)] {
        env.apply("default", argo_replica_set(&created, hash, image, revision, replicas)).await;
    }
    for (service, hash) in [("canary-active", V2), ("canary-preview", V1)] {
        let patch = json!({"metadata": {"annotations": {MANAGED_BY: "canary-rollout"}},
            "spec": {"selector": {"rollouts-pod-template-hash": hash}}});
        env.merge("v1", "Service", "default", service, patch, false).await;
    }
    for group in ["traefik.io", "traefik.containo.us"] {
        let weights = json!({"spec": {"weighted": {"services": [
            {"name": "canary-active", "port": 80, "weight": 10}, {"name": "canary-preview", "port": 80, "weight": 90}]}}});
        env.merge(&format!("{group}/v1alpha1"), "TraefikService", "default", "canary-service", weights, false).await;
    }
    env.eventually("11 ready pods", WAIT, || async {
        let pods = env.list("v1", "Pod", "default").await;
        let ready = pods.iter().filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        });
        (ready.count() == 11).then_some(())
    })
    .await;
    let now = serin_kube::controller::now().to_string();
    let status = argo_status(&created["metadata"]["generation"], &now);
    env.merge(ROLLOUTS, "Rollout", "default", "canary-rollout", json!({"status": status}), true).await;
    status
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_argo_left_paused_is_continued_by_serin_and_left_as_argo_reads_it() {
    let env = cluster(&["traefik.io", "traefik.containo.us"]).await;
    let argo = as_argo_left_it(&env).await;
    let pods = live_pods(&env).await;
    let argo_sets = [replica_set(&env, V1).await, replica_set(&env, V2).await];

    // serin takes over: it stays at Argo's step, pause and revision (a step or pod-template hash
    // of its own would restart the canary at step 0), then goes on when promoted.
    let mut controller = env.controller("serin", &["--no-leader-election", "--listen", "127.0.0.1:0"]);
    env.eventually("serin ready", WAIT, || async {
        let log = std::fs::read_to_string(env.dir.path().join("controller-serin.log")).ok()?;
        log.contains("controller ready").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let taken_over = rollout(&env, "canary-rollout").await["status"].clone();
    for field in ["currentStepIndex", "currentStepHash", "currentPodHash", "stableRS", "pauseConditions", "canary"] {
        assert_eq!(taken_over[field], argo[field], "{field} after serin took over:\n{}", env.logs());
    }
    serin_ok(&env, &["promote", "canary-rollout"]);
    wait_phase(&env, "canary-rollout", "Paused", Some(3)).await;
    env.eventually("13 pods ready in the status", WAIT, || async {
        let status = rollout(&env, "canary-rollout").await["status"].clone();
        (status["readyReplicas"] == 13 && status["updatedReplicas"] == 3).then_some(())
    })
    .await;
    controller.terminate();
    let exit = controller.child.wait().unwrap();
    assert!(exit.success(), "serin ends on SIGTERM: {exit}");

    // What serin leaves is what Argo reads. The status: Argo's fields with Argo's types, the
    // hashes Argo computes, the pause as Argo's pause handling writes it, at step 3.
    let left = rollout(&env, "canary-rollout").await;
    let status = &left["status"];
    assert_eq!(shape_of(status), shape_of(&argo), "the status has the fields and types Argo writes:\n{status:#}");
    for (field, count) in [
        ("replicas", 13),
        ("updatedReplicas", 3),
        ("readyReplicas", 13),
        ("availableReplicas", 13),
        ("HPAReplicas", 13),
    ] {
        assert_eq!(status[field], count, "{field}");
    }
    assert_eq!(
        (&status["currentStepHash"], &status["currentPodHash"], &status["stableRS"]),
        (&json!(STEP_HASH), &json!(V2), &json!(V1))
    );
    assert_eq!(status["currentStepIndex"], 3);
    assert_eq!(status["observedGeneration"], left["metadata"]["generation"].to_string());
    assert_eq!(status["pauseConditions"][0]["reason"], "CanaryPauseStep");
    assert_eq!(status["controllerPause"], true);
    assert_eq!(
        status["canary"]["weights"],
        json!({"canary": {"weight": 30, "serviceName": "canary-active", "podTemplateHash": V2},
            "stable": {"weight": 70, "serviceName": "canary-preview", "podTemplateHash": V1}})
    );
    let kinds: BTreeSet<&str> =
        status["conditions"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Available", "Completed", "Healthy", "Paused", "Progressing"].into(), "Argo's condition types");

    // The ReplicaSets: the very ones Argo made (same uid), with its labels, annotations and
    // owner; only the canary's replica count moved.
    for (before, replicas) in argo_sets.iter().zip([10, 3]) {
        let name = before["metadata"]["name"].as_str().unwrap();
        let after = env.get("apps/v1", "ReplicaSet", "default", name).await.unwrap();
        for field in ["uid", "labels", "annotations", "ownerReferences"] {
            assert_eq!(after["metadata"][field], before["metadata"][field], "{name}: metadata.{field}");
        }
        for field in ["selector", "template"] {
            assert_eq!(after["spec"][field], before["spec"][field], "{name}: spec.{field}");
        }
        assert_eq!(after["spec"]["replicas"], replicas, "{name}");
    }
    for (service, hash) in [("canary-active", V2), ("canary-preview", V1)] {
        let service = env.get("v1", "Service", "default", service).await.unwrap();
        assert_eq!(service["spec"]["selector"], json!({"app": "myapp", "rollouts-pod-template-hash": hash}));
        assert_eq!(service["metadata"]["annotations"][MANAGED_BY], "canary-rollout");
    }
    for group in ["traefik.io", "traefik.containo.us"] {
        let split = env.get(&format!("{group}/v1alpha1"), "TraefikService", "default", "canary-service").await.unwrap();
        let weights: Vec<(&Json, &Json)> = split["spec"]["weighted"]["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (&s["name"], &s["weight"]))
            .collect();
        assert_eq!(weights, [(&json!("canary-active"), &json!(30)), (&json!("canary-preview"), &json!(70))], "{group}");
    }

    // No pod was replaced: Argo's 11 are all there, beside the 2 new canary pods.
    let now = live_pods(&env).await;
    assert!(pods.is_subset(&now), "pods gone: {:?}", pods.difference(&now).collect::<Vec<_>>());
    assert_eq!(now.len(), 13);

    // serin's step events begin after Argo's last step: it went on, not over again.
    let events = env.list("v1", "Event", "default").await;
    let steps: Vec<&str> = events
        .iter()
        .filter(|e| e["reason"] == "RolloutStepCompleted")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps.iter().collect::<BTreeSet<_>>(),
        ["Rollout step 2/7 completed (pause: 5m)", "Rollout step 3/7 completed (setWeight: 30)"].iter().collect(),
        "the Rollout's events: {:#?}",
        events
            .iter()
            .filter(|e| e["involvedObject"]["kind"] == "Rollout")
            .map(|e| (&e["reason"], &e["message"], &e["count"]))
            .collect::<Vec<_>>()
    );
}

//! Blue-green on a real Kubernetes API server (kubeenv, v1.20), run by `serin controller` as a
//! real process: the seed's app as a blue-green Rollout with an active and a preview Service.
//! A new image comes up behind the preview Service and pauses; `promote` switches the active
//! Service and the old ReplicaSet goes to zero after `scaleDownDelaySeconds`; `abort` keeps
//! the active Service on v1 and scales the preview down after `abortScaleDownDelaySeconds`,
//! and `retry` starts again; `autoPromotionSeconds` promotes by itself once the preview has
//! been up that long; a failing pre-promotion analysis aborts before the switch and a retry
//! measures again; a Rollout applied before its preview Service is an InvalidSpec until the
//! Service exists; a paused blue-green update Argo Rollouts left half done (its
//! ReplicaSets, Services and status) is continued without replacing a pod; preview and active
//! metadata move on live pods and antiAffinity reaches the new template. Status, annotations
//! and Events are checked in Argo's words. Each test has its own cluster and plays kubelet.

mod kubeenv;

use kubeenv::KubeEnv;
use kubeenv::observe::{events_about, pod_uids, ready_pods, replica_sets, selector_hash};
use kubeenv::seed::{ROLLOUTS, WAIT, cluster, rollout, run_named, seed_rollout, serin_ok, wait_phase};
use kubeenv::web_metric::{data_ok_template, endpoint};
use serde_json::{Value as Json, json};
use serin_model::Time;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const CONTROLLER: &[&str] = &["--no-leader-election", "--listen", "127.0.0.1:0"];
const NAME: &str = "bluegreen";
const ACTIVE: &str = "bluegreen-active";
const PREVIEW: &str = "bluegreen-preview";
/// The pod-template hashes of the seed's template with `ikubernetes/myapp:v1` and `:v2`, as
/// Argo Rollouts computes them.
const V1: &str = "69dc9f5f56";
const V2: &str = "95d95c65";
const V1_RS: &str = "bluegreen-69dc9f5f56";
const V2_RS: &str = "bluegreen-95d95c65";
const REPLICAS: i64 = 3;
/// `scaleDownDelaySeconds` and `abortScaleDownDelaySeconds`, short so the tests see them pass.
const DELAY_SECONDS: i64 = 3;
/// The annotation Argo Rollouts (`DefaultReplicaSetScaleDownDeadlineAnnotationKey`) puts on a
/// ReplicaSet that waits to scale down.
const SCALE_DOWN_DEADLINE: &str = "scale-down-deadline";

/// The seed's app (template, selector) as a blue-green Rollout that waits for `promote`.
fn blue_green_rollout() -> Json {
    let mut rollout = seed_rollout();
    rollout["metadata"]["name"] = NAME.into();
    rollout["spec"]["replicas"] = REPLICAS.into();
    rollout["spec"]["strategy"] = json!({"blueGreen": {
        "activeService": ACTIVE, "previewService": PREVIEW, "autoPromotionEnabled": false,
        "scaleDownDelaySeconds": DELAY_SECONDS, "abortScaleDownDelaySeconds": DELAY_SECONDS,
    }});
    rollout
}

/// A Service for the seed's app, selecting `hash` when given (as Argo leaves it) or every pod.
fn service(name: &str, hash: Option<&str>) -> Json {
    let mut service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": {"app": "myapp"}, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}});
    if let Some(hash) = hash {
        service["spec"]["selector"]["rollouts-pod-template-hash"] = hash.into();
        service["metadata"]["annotations"] = json!({"argo-rollouts.argoproj.io/managed-by-rollouts": NAME});
    }
    service
}

/// The Services and `rollout` applied, Healthy at v1 with every v1 pod Ready.
async fn healthy_at_v1(env: &KubeEnv, rollout: Json) -> Json {
    for name in [ACTIVE, PREVIEW] {
        env.apply("default", service(name, None)).await;
    }
    env.apply("default", rollout).await;
    let healthy = wait_phase(env, NAME, "Healthy", None).await;
    env.eventually("every v1 pod Ready", WAIT, || async {
        (ready_pods(env, V1).await == REPLICAS as usize).then_some(())
    })
    .await;
    healthy
}

/// The image changed to v2 in the Rollout's spec, as kubectl or a GitOps tool changes it.
async fn update_to_v2(env: &KubeEnv) {
    let mut containers = blue_green_rollout()["spec"]["template"]["spec"]["containers"].clone();
    containers[0]["image"] = "ikubernetes/myapp:v2".into();
    let patch = json!({"spec": {"template": {"spec": {"containers": containers}}}});
    env.merge(ROLLOUTS, "Rollout", "default", NAME, patch, false).await;
}

/// v2 applied; returns the Rollout once it pauses before the switch with every v2 pod Ready.
async fn paused_with_v2_in_preview(env: &KubeEnv) -> Json {
    update_to_v2(env).await;
    let paused = wait_phase(env, NAME, "Paused", None).await;
    env.eventually("every v2 pod Ready", WAIT, || async {
        (ready_pods(env, V2).await == REPLICAS as usize).then_some(())
    })
    .await;
    paused
}

/// A ReplicaSet's `scale-down-deadline` annotation, once it has one.
async fn scale_down_deadline(env: &KubeEnv, replica_set: &str) -> Time {
    env.eventually(&format!("a scale-down deadline on {replica_set}"), WAIT, || async {
        let rs = env.get("apps/v1", "ReplicaSet", "default", replica_set).await?;
        Time::parse(rs["metadata"]["annotations"][SCALE_DOWN_DEADLINE].as_str()?).ok()
    })
    .await
}

/// Waits until `replica_set` scales to 0, checking it keeps `REPLICAS` until `deadline`.
async fn scaled_down_at_deadline(env: &KubeEnv, replica_set: &str, deadline: Time) {
    env.eventually(&format!("{replica_set} scaled to 0"), WAIT, || async {
        let replicas = replica_sets(env).await.into_iter().find(|(name, _)| name == replica_set)?.1;
        let now = serin_kube::controller::now();
        if replicas > 0 {
            assert_eq!(replicas, REPLICAS, "{replica_set} before its deadline");
            return None;
        }
        assert!(now >= deadline, "{replica_set} scaled down at {now}, before its deadline {deadline}");
        Some(())
    })
    .await;
}

/// Waits until the Events about the Rollout include every one of `expected` ("Reason: message").
async fn wait_events(env: &KubeEnv, expected: &[String]) {
    let start = Instant::now();
    loop {
        let events = events_about(env, "Rollout", NAME).await;
        if expected.iter().all(|e| events.contains(e)) {
            return;
        }
        let missing: Vec<&String> = expected.iter().filter(|e| !events.contains(e)).collect();
        assert!(start.elapsed() < WAIT, "missing events {missing:#?} among {events:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_waits_in_preview_until_promoted_then_the_old_revision_scales_down_after_the_delay() {
    let env = cluster(&[]).await;
    let _controller = env.controller("a", CONTROLLER);
    let healthy = healthy_at_v1(&env, blue_green_rollout()).await;
    assert_eq!(healthy["status"]["blueGreen"], json!({"activeSelector": V1, "previewSelector": V1}));
    assert_eq!(
        (healthy["status"]["stableRS"].clone(), healthy["status"]["currentPodHash"].clone()),
        (json!(V1), json!(V1))
    );
    assert_eq!((selector_hash(&env, ACTIVE).await, selector_hash(&env, PREVIEW).await), (json!(V1), json!(V1)));
    let managed_by = env.get("v1", "Service", "default", ACTIVE).await.unwrap()["metadata"]["annotations"]
        ["argo-rollouts.argoproj.io/managed-by-rollouts"]
        .clone();
    assert_eq!(managed_by, NAME);

    let paused = paused_with_v2_in_preview(&env).await;
    let status = &paused["status"];
    assert_eq!(status["message"], "BlueGreenPause");
    assert_eq!(status["blueGreen"], json!({"activeSelector": V1, "previewSelector": V2}));
    assert_eq!((status["stableRS"].clone(), status["currentPodHash"].clone()), (json!(V1), json!(V2)));
    assert_eq!(status["controllerPause"], true);
    let reasons: Vec<&Json> = status["pauseConditions"].as_array().unwrap().iter().map(|c| &c["reason"]).collect();
    assert_eq!(reasons, [&json!("BlueGreenPause")]);
    // Availability follows the active Service's ReplicaSet, as Argo's status does.
    assert_eq!(status["selector"], format!("app=myapp,rollouts-pod-template-hash={V1}"));
    assert_eq!((selector_hash(&env, ACTIVE).await, selector_hash(&env, PREVIEW).await), (json!(V1), json!(V2)));
    assert_eq!(replica_sets(&env).await, [(V1_RS.to_string(), REPLICAS), (V2_RS.to_string(), REPLICAS)]);

    serin_ok(&env, &["promote", NAME]);
    env.eventually("the active Service on v2", WAIT, || async {
        (selector_hash(&env, ACTIVE).await == V2).then_some(())
    })
    .await;
    let promoted = wait_phase(&env, NAME, "Healthy", None).await;
    assert_eq!(promoted["status"]["stableRS"], V2);
    assert_eq!(promoted["status"]["blueGreen"], json!({"activeSelector": V2, "previewSelector": V2}));
    assert_eq!(promoted["status"]["pauseConditions"], Json::Null);
    let deadline = scale_down_deadline(&env, V1_RS).await;
    let now = serin_kube::controller::now();
    assert!(deadline.since(now) <= DELAY_SECONDS * 1000, "deadline {deadline} is more than the delay after {now}");
    scaled_down_at_deadline(&env, V1_RS, deadline).await;
    assert_eq!(replica_sets(&env).await, [(V1_RS.to_string(), 0), (V2_RS.to_string(), REPLICAS)]);

    let switched = |service: &str, from: &str, to: &str| {
        format!("SwitchService: Switched selector for service '{service}' from '{from}' to '{to}'")
    };
    wait_events(
        &env,
        &[
            format!("NewReplicaSetCreated: Created ReplicaSet {V1_RS} (revision 1)"),
            switched(ACTIVE, "", V1),
            switched(PREVIEW, "", V1),
            "RolloutUpdated: Rollout updated to revision 2".to_string(),
            format!("NewReplicaSetCreated: Created ReplicaSet {V2_RS} (revision 2)"),
            switched(PREVIEW, V1, V2),
            "RolloutPaused: Rollout is paused (BlueGreenPause)".to_string(),
            switched(ACTIVE, V1, V2),
            format!("RolloutCompleted: Rollout completed update to revision 2 ({V2}): Completed blue-green update"),
            format!("ScalingReplicaSet: Scaled down ReplicaSet {V1_RS} (revision 1) from {REPLICAS} to 0"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abort_keeps_v1_active_and_scales_the_preview_down_after_the_delay_and_retry_starts_again() {
    let env = cluster(&[]).await;
    let _controller = env.controller("a", CONTROLLER);
    healthy_at_v1(&env, blue_green_rollout()).await;
    paused_with_v2_in_preview(&env).await;

    serin_ok(&env, &["abort", NAME]);
    let aborted = wait_phase(&env, NAME, "Degraded", None).await;
    assert_eq!(aborted["status"]["message"], "RolloutAborted: Rollout aborted update to revision 2");
    assert_eq!(aborted["status"]["abort"], true);
    assert_eq!(aborted["status"]["stableRS"], V1);
    assert_eq!(aborted["status"]["blueGreen"]["activeSelector"], V1);
    assert_eq!(selector_hash(&env, ACTIVE).await, V1);
    let deadline = scale_down_deadline(&env, V2_RS).await;
    scaled_down_at_deadline(&env, V2_RS, deadline).await;
    assert_eq!(replica_sets(&env).await, [(V1_RS.to_string(), REPLICAS), (V2_RS.to_string(), 0)]);
    assert_eq!(selector_hash(&env, ACTIVE).await, V1, "the active Service stays on v1");
    wait_events(
        &env,
        &[
            "RolloutAborted: Rollout aborted update to revision 2".to_string(),
            format!("ScalingReplicaSet: Scaled down ReplicaSet {V2_RS} (revision 2) from {REPLICAS} to 0"),
        ],
    )
    .await;

    serin_ok(&env, &["retry", "rollout", NAME]);
    env.eventually("v2 back in preview, paused", WAIT, || async {
        let status = rollout(&env, NAME).await["status"].clone();
        let paused = status["phase"] == "Paused" && status["message"] == "BlueGreenPause";
        (paused && ready_pods(&env, V2).await == REPLICAS as usize).then_some(())
    })
    .await;
    assert_eq!(replica_sets(&env).await, [(V1_RS.to_string(), REPLICAS), (V2_RS.to_string(), REPLICAS)]);
    assert_eq!((selector_hash(&env, ACTIVE).await, selector_hash(&env, PREVIEW).await), (json!(V1), json!(V2)));
    let retried = rollout(&env, NAME).await;
    assert_eq!(retried["status"]["abort"], Json::Null);
    let v2 = env.get("apps/v1", "ReplicaSet", "default", V2_RS).await.unwrap();
    assert_eq!(v2["metadata"]["annotations"][SCALE_DOWN_DEADLINE], Json::Null, "the abort's deadline is lifted");

    serin_ok(&env, &["promote", NAME]);
    let done = wait_phase(&env, NAME, "Healthy", None).await;
    assert_eq!(done["status"]["stableRS"], V2);
    assert_eq!(selector_hash(&env, ACTIVE).await, V2);
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_promotion_switches_by_itself_once_the_preview_has_been_up_for_its_seconds() {
    let env = cluster(&[]).await;
    let _controller = env.controller("a", CONTROLLER);
    let mut auto_promoted = blue_green_rollout();
    auto_promoted["spec"]["strategy"]["blueGreen"]["autoPromotionEnabled"] = true.into();
    auto_promoted["spec"]["strategy"]["blueGreen"]["autoPromotionSeconds"] = DELAY_SECONDS.into();
    healthy_at_v1(&env, auto_promoted).await;
    let paused = paused_with_v2_in_preview(&env).await;
    assert_eq!(paused["status"]["message"], "BlueGreenPause");
    let paused_at = Time::parse(paused["status"]["pauseConditions"][0]["startTime"].as_str().unwrap()).unwrap();

    let promoted = wait_phase(&env, NAME, "Healthy", None).await;
    let now = serin_kube::controller::now();
    assert!(now.since(paused_at) >= DELAY_SECONDS * 1000, "promoted at {now}, paused at {paused_at}");
    assert_eq!(promoted["status"]["stableRS"], V2);
    assert_eq!(selector_hash(&env, ACTIVE).await, V2);
    wait_events(
        &env,
        &[
            "RolloutPaused: Rollout is paused (BlueGreenPause)".to_string(),
            "RolloutResumed: Rollout is resumed".to_string(),
            format!("SwitchService: Switched selector for service '{ACTIVE}' from '{V1}' to '{V2}'"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_pre_promotion_analysis_aborts_before_the_switch_and_a_retry_measures_again() {
    let env = cluster(&[]).await;
    let _controller = env.controller("a", CONTROLLER);
    let (url, ok) = endpoint(false);
    env.apply("default", data_ok_template(&url)).await;
    let mut analysed = blue_green_rollout();
    analysed["spec"]["strategy"]["blueGreen"]["prePromotionAnalysis"] =
        json!({"templates": [{"templateName": "data-ok"}]});
    healthy_at_v1(&env, analysed).await;
    update_to_v2(&env).await;

    let aborted = wait_phase(&env, NAME, "Degraded", None).await;
    let message = aborted["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("RolloutAborted: Rollout aborted update to revision 2: "), "{message}");
    assert!(message.contains("Metric \"data-ok\" assessed Failed"), "{message}");
    let run = run_named(&env, "bluegreen-95d95c65-2-pre", "Failed").await;
    assert_eq!(run["metadata"]["ownerReferences"][0]["name"], NAME);
    assert_eq!(selector_hash(&env, ACTIVE).await, V1, "the analysis stopped the switch");
    assert_eq!(aborted["status"]["stableRS"], V1);
    let deadline = scale_down_deadline(&env, V2_RS).await;
    scaled_down_at_deadline(&env, V2_RS, deadline).await;

    // The metric recovered: the retry brings the preview back, measures again in a new run,
    // which passes, and the update waits for promotion.
    ok.store(true, Ordering::SeqCst);
    serin_ok(&env, &["retry", "rollout", NAME]);
    run_named(&env, "bluegreen-95d95c65-2-pre.1", "Successful").await;
    let paused = wait_phase(&env, NAME, "Paused", None).await;
    assert_eq!(paused["status"]["message"], "BlueGreenPause");
    let pre = &paused["status"]["blueGreen"]["prePromotionAnalysisRunStatus"];
    assert_eq!(
        (pre["name"].clone(), pre["status"].clone()),
        (json!("bluegreen-95d95c65-2-pre.1"), json!("Successful"))
    );
    assert_eq!(selector_hash(&env, ACTIVE).await, V1);
    serin_ok(&env, &["promote", NAME]);
    let promoted = wait_phase(&env, NAME, "Healthy", None).await;
    assert_eq!(promoted["status"]["stableRS"], V2);
    assert_eq!(selector_hash(&env, ACTIVE).await, V2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_applied_before_its_preview_service_is_an_invalid_spec_until_the_service_exists() {
    let env = cluster(&[]).await;
    let _controller = env.controller("a", CONTROLLER);
    env.apply("default", service(ACTIVE, None)).await;
    env.apply("default", blue_green_rollout()).await;

    let invalid = wait_phase(&env, NAME, "Degraded", None).await;
    let message = format!(
        "The Rollout \"{NAME}\" is invalid: spec.strategy.blueGreen.previewService: \
        Invalid value: \"{PREVIEW}\": service \"{PREVIEW}\" not found"
    );
    assert_eq!(invalid["status"]["message"], format!("InvalidSpec: {message}"));
    let conditions = invalid["status"]["conditions"].as_array().unwrap();
    let condition = conditions.iter().find(|c| c["type"] == "InvalidSpec").expect("an InvalidSpec condition");
    assert_eq!((condition["status"].clone(), condition["message"].clone()), (json!("True"), json!(message)));
    assert!(replica_sets(&env).await.is_empty(), "nothing is created while a Service is missing");
    assert_eq!(selector_hash(&env, ACTIVE).await, Json::Null, "nor is a Service switched");

    env.apply("default", service(PREVIEW, None)).await;
    let healthy = wait_phase(&env, NAME, "Healthy", None).await;
    let conditions = healthy["status"]["conditions"].as_array().unwrap();
    assert!(!conditions.iter().any(|c| c["type"] == "InvalidSpec"), "{conditions:#?}");
    assert_eq!((selector_hash(&env, ACTIVE).await, selector_hash(&env, PREVIEW).await), (json!(V1), json!(V1)));
}

/// A ReplicaSet as Argo Rollouts makes it for the seed's template with `image`, owned by the
/// Rollout `owner` (its metadata).
fn argo_replica_set(name: &str, hash: &str, image: &str, revision: &str, owner: &Json) -> Json {
    let mut template = seed_rollout()["spec"]["template"].clone();
    template["spec"]["containers"][0]["image"] = image.into();
    template["metadata"]["labels"]["rollouts-pod-template-hash"] = hash.into();
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "labels": template["metadata"]["labels"],
            "annotations": {"rollout.argoproj.io/revision": revision, "rollout.argoproj.io/desired-replicas": REPLICAS.to_string()},
            "ownerReferences": [{"apiVersion": ROLLOUTS, "kind": "Rollout", "name": owner["name"], "uid": owner["uid"],
                "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "myapp", "rollouts-pod-template-hash": hash}},
            "template": template}})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_blue_green_update_argo_left_is_continued_without_restarting_pods() {
    let env = cluster(&[]).await;
    // What Argo Rollouts leaves of an update to v2 that waits for promotion: the Services on
    // their revisions, the Rollout at v2 with the status Argo wrote, both ReplicaSets up.
    env.apply("default", service(ACTIVE, Some(V1))).await;
    env.apply("default", service(PREVIEW, Some(V2))).await;
    let mut spec_at_v2 = blue_green_rollout();
    spec_at_v2["spec"]["template"]["spec"]["containers"][0]["image"] = "ikubernetes/myapp:v2".into();
    env.apply("default", spec_at_v2).await;
    let created = rollout(&env, NAME).await;
    let paused_at = Time::from_millis(serin_kube::controller::now().millis() - 60_000).to_string();
    let argo_status = json!({"status": {
        "phase": "Paused", "message": "BlueGreenPause",
        "currentPodHash": V2, "stableRS": V1,
        "blueGreen": {"activeSelector": V1, "previewSelector": V2},
        "pauseConditions": [{"reason": "BlueGreenPause", "startTime": paused_at}],
        "controllerPause": true,
        "observedGeneration": created["metadata"]["generation"].to_string(),
        "replicas": 2 * REPLICAS, "updatedReplicas": REPLICAS, "readyReplicas": REPLICAS,
        "availableReplicas": REPLICAS, "HPAReplicas": REPLICAS,
        "selector": format!("app=myapp,rollouts-pod-template-hash={V1}"),
        "conditions": [{"type": "Paused", "status": "True", "reason": "RolloutPaused", "message": "Rollout is paused",
            "lastTransitionTime": paused_at, "lastUpdateTime": paused_at}],
    }});
    env.merge(ROLLOUTS, "Rollout", "default", NAME, argo_status, true).await;
    let owner = &created["metadata"];
    env.apply("default", argo_replica_set(V1_RS, V1, "ikubernetes/myapp:v1", "1", owner)).await;
    env.apply("default", argo_replica_set(V2_RS, V2, "ikubernetes/myapp:v2", "2", owner)).await;
    env.eventually("the pods of both ReplicaSets Ready", WAIT, || async {
        (ready_pods(&env, V1).await + ready_pods(&env, V2).await == 2 * REPLICAS as usize).then_some(())
    })
    .await;
    let before = pod_uids(&env).await;

    let _controller = env.controller("a", CONTROLLER);
    let continued = wait_phase(&env, NAME, "Paused", None).await;
    assert_eq!(continued["status"]["message"], "BlueGreenPause");
    assert_eq!(continued["status"]["blueGreen"], json!({"activeSelector": V1, "previewSelector": V2}));
    // A few passes later nothing has moved: still paused, nothing scaled, no pod replaced.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rollout(&env, NAME).await["status"]["phase"], "Paused");
    assert_eq!((selector_hash(&env, ACTIVE).await, selector_hash(&env, PREVIEW).await), (json!(V1), json!(V2)));
    assert_eq!(replica_sets(&env).await, [(V1_RS.to_string(), REPLICAS), (V2_RS.to_string(), REPLICAS)]);
    assert_eq!(pod_uids(&env).await, before, "no pod was replaced");

    serin_ok(&env, &["promote", NAME]);
    let promoted = wait_phase(&env, NAME, "Healthy", None).await;
    assert_eq!(promoted["status"]["stableRS"], V2);
    assert_eq!(selector_hash(&env, ACTIVE).await, V2);
    assert_eq!(pod_uids(&env).await, before, "no pod was replaced by the promotion");
    let switched = format!("SwitchService: Switched selector for service '{ACTIVE}' from '{V1}' to '{V2}'");
    wait_events(&env, std::slice::from_ref(&switched)).await;
    let switches: Vec<String> =
        events_about(&env, "Rollout", NAME).await.into_iter().filter(|e| e.starts_with("SwitchService")).collect();
    assert_eq!(switches, [switched], "the Services Argo pointed stay as they were until the promotion");
    let deadline = scale_down_deadline(&env, V1_RS).await;
    scaled_down_at_deadline(&env, V1_RS, deadline).await;
    let v2_pods: Vec<String> = env
        .list("v1", "Pod", "default")
        .await
        .iter()
        .filter(|p| p["metadata"]["labels"]["rollouts-pod-template-hash"] == V2)
        .map(|p| p["metadata"]["uid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(v2_pods.len(), REPLICAS as usize);
    assert!(v2_pods.iter().all(|uid| before.contains(uid)), "the v2 pods Argo started serve on");
}

/// The `role` labels each revision's pods carry (None for a pod with none): while the
/// controller patches them one by one a revision may show two.
async fn pod_roles(env: &KubeEnv) -> BTreeMap<String, BTreeSet<Option<String>>> {
    let mut roles: BTreeMap<String, BTreeSet<Option<String>>> = BTreeMap::new();
    for pod in env.list("v1", "Pod", "default").await {
        let labels = &pod["metadata"]["labels"];
        let hash = labels["rollouts-pod-template-hash"].as_str().unwrap_or_default().to_string();
        roles.entry(hash).or_default().insert(labels["role"].as_str().map(str::to_string));
    }
    roles
}

/// previewMetadata/activeMetadata and antiAffinity on a cluster: the pods of each revision
/// are patched in place (same uids) as its role changes, the ReplicaSets record what was
/// injected in Argo's annotation, and v2's template keeps off v1's nodes.
#[tokio::test(flavor = "multi_thread")]
async fn ephemeral_labels_follow_the_roles_on_live_pods_and_the_preview_avoids_the_active_nodes() {
    let env = cluster(&[]).await;
    let _controller = env.controller("a", CONTROLLER);
    let mut rollout = blue_green_rollout();
    let strategy = &mut rollout["spec"]["strategy"]["blueGreen"];
    strategy["previewMetadata"] = json!({"labels": {"role": "preview"}});
    strategy["activeMetadata"] = json!({"labels": {"role": "active"}});
    strategy["antiAffinity"] = json!({"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 30}});
    healthy_at_v1(&env, rollout).await;
    let roles = |expected: Vec<(&str, Option<&str>)>| -> BTreeMap<String, BTreeSet<Option<String>>> {
        expected.into_iter().map(|(h, r)| (h.to_string(), BTreeSet::from([r.map(str::to_string)]))).collect()
    };
    env.eventually("v1's pods labelled active", WAIT, || async {
        (pod_roles(&env).await == roles(vec![(V1, Some("active"))])).then_some(())
    })
    .await;

    paused_with_v2_in_preview(&env).await;
    env.eventually("v2's pods labelled preview", WAIT, || async {
        (pod_roles(&env).await == roles(vec![(V1, Some("active")), (V2, Some("preview"))])).then_some(())
    })
    .await;
    let v2_rs = env.get("apps/v1", "ReplicaSet", "default", V2_RS).await.unwrap();
    assert_eq!(
        v2_rs["metadata"]["annotations"]["rollout.argoproj.io/ephemeral-metadata"],
        r#"{"labels":{"role":"preview"}}"#
    );
    let term = &v2_rs["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        [0];
    assert_eq!(term["weight"], 30, "{v2_rs}");
    assert_eq!(term["podAffinityTerm"]["labelSelector"]["matchExpressions"][0]["values"], json!([V1]));
    assert_eq!(term["podAffinityTerm"]["topologyKey"], "kubernetes.io/hostname");
    let v2_uids = || async {
        let pods = env.list("v1", "Pod", "default").await;
        let mut uids: Vec<String> = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["rollouts-pod-template-hash"] == V2)
            .map(|p| p["metadata"]["uid"].as_str().unwrap_or_default().to_string())
            .collect();
        uids.sort();
        uids
    };
    let v2_pods = v2_uids().await;

    serin_ok(&env, &["promote", NAME]);
    env.eventually("v2's pods active, v1's without a role", WAIT, || async {
        (pod_roles(&env).await == roles(vec![(V1, None), (V2, Some("active"))])).then_some(())
    })
    .await;
    assert_eq!(v2_uids().await, v2_pods, "the labels moved without replacing a pod");
    let v1_rs = env.get("apps/v1", "ReplicaSet", "default", V1_RS).await.unwrap();
    assert!(v1_rs["metadata"]["annotations"].get("rollout.argoproj.io/ephemeral-metadata").is_none(), "{v1_rs}");
}

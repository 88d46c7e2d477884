//! The Kubernetes objects the engine's decisions turn into, as JSON: the ReplicaSet of a
//! revision, the engine's view of an observed ReplicaSet, and the edits that steer traffic
//! (a Service's selector, a TraefikService's weights). Every platform writes the same shapes,
//! so a ReplicaSet made on one machine and one made in a cluster carry the same name, labels,
//! annotations and owner, exactly as Argo Rollouts would make them.

use crate::state::{
    AnalysisPhase, AnalysisRunRequest, AnalysisRunState, Event, MANAGED_BY_ANNOTATION, NewReplicaSet,
    POD_TEMPLATE_HASH_LABEL, PodState, REVISION_ANNOTATION, ReplicaSetState, SCALE_DOWN_DEADLINE_ANNOTATION,
};
use serde_json::{Value as Json, json};
use serin_model::podtemplate::PodTemplate;
use serin_model::rollout::Rollout;
use serin_model::{ObjectKey, Time};
use std::sync::Arc;

/// The `ownerReferences` that make the object described by `meta` the controller of another.
pub fn controller_reference(api_version: &str, kind: &str, meta: &Json) -> Json {
    json!([{
        "apiVersion": api_version, "kind": kind,
        "name": meta["name"], "uid": meta["uid"],
        "controller": true, "blockOwnerDeletion": true,
    }])
}

/// The uid of an object's controlling owner (its owner reference with `controller: true`).
pub fn controller_uid(object: &Json) -> Option<&str> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .and_then(|r| r["uid"].as_str())
}

/// A template with the pod-template-hash label added, as it goes into a ReplicaSet.
fn labelled_template(template: &PodTemplate, hash: &str) -> Json {
    let mut template = template.0.clone();
    template["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] = hash.into();
    template
}

/// The ReplicaSet for a Rollout revision, owned by the Rollout whose `metadata` (with its
/// `uid`) is `rollout_meta`. The platform adds what its API server would (uid, timestamps).
pub fn replica_set(rollout: &Rollout, rollout_meta: &Json, new: &NewReplicaSet) -> Json {
    let (name, hash, template) = (&new.name, &new.hash, &new.template);
    let mut selector = serde_json::to_value(rollout.spec.selector.clone().unwrap_or_default()).unwrap_or_default();
    selector["matchLabels"][POD_TEMPLATE_HASH_LABEL] = hash.as_str().into();
    let mut template = labelled_template(template, hash);
    if let Some(affinity) = crate::antiaffinity::replica_set_affinity(rollout, new.avoid.as_deref()) {
        template["spec"]["affinity"] = affinity;
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": rollout.metadata.namespace(),
            "labels": template["metadata"]["labels"],
            "annotations": { REVISION_ANNOTATION: new.revision.to_string() },
            "ownerReferences": controller_reference("argoproj.io/v1alpha1", "Rollout", rollout_meta),
        },
        "spec": {
            "replicas": new.replicas,
            "minReadySeconds": rollout.spec.min_ready_seconds.unwrap_or(0),
            "selector": selector,
            "template": template,
        },
    })
}

pub fn time_at(object: &Json, pointer: &str) -> Option<Time> {
    object.pointer(pointer).and_then(Json::as_str).and_then(|t| Time::parse(t).ok())
}

/// An integer field, 0 when absent.
pub fn int_at(object: &Json, pointer: &str) -> i32 {
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
    let avoids = crate::antiaffinity::take_injected(&mut template);
    let ephemeral = crate::ephemeral::parse_recorded(rs);
    if let (Some(injected), Some(metadata)) = (&ephemeral, template.get_mut("metadata")) {
        crate::ephemeral::apply_metadata_patch(metadata, &crate::ephemeral::metadata_patch(Some(injected), None));
    }
    ReplicaSetState {
        name: meta["name"].as_str().unwrap_or_default().to_string(),
        hash: meta["labels"][POD_TEMPLATE_HASH_LABEL].as_str().unwrap_or_default().to_string(),
        revision: meta["annotations"][REVISION_ANNOTATION].as_str().and_then(|r| r.parse().ok()).unwrap_or(0),
        template: PodTemplate(template),
        replicas: int_at(rs, "/spec/replicas"),
        current: int_at(rs, "/status/replicas"),
        ready: int_at(rs, "/status/readyReplicas"),
        available: int_at(rs, "/status/availableReplicas"),
        created: time_at(rs, "/metadata/creationTimestamp").unwrap_or_default(),
        scale_down_deadline: meta["annotations"][SCALE_DOWN_DEADLINE_ANNOTATION]
            .as_str()
            .and_then(|t| Time::parse(t).ok()),
        ephemeral,
        avoids,
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

/// The engine's view of an observed AnalysisRun (a run not yet assessed is Pending).
pub fn analysis_run_state(run: &Json) -> AnalysisRunState {
    AnalysisRunState {
        name: run["metadata"]["name"].as_str().unwrap_or_default().to_string(),
        created: time_at(run, "/metadata/creationTimestamp").unwrap_or_default(),
        phase: run["status"]["phase"].as_str().and_then(AnalysisPhase::parse).unwrap_or(AnalysisPhase::Pending),
        message: run["status"]["message"].as_str().unwrap_or_default().to_string(),
        terminating: run["spec"]["terminate"].as_bool() == Some(true),
    }
}

/// Sets or clears a ReplicaSet's scale-down deadline annotation.
pub fn set_scale_down_deadline(replica_set: &mut Json, deadline: Option<Time>) {
    let annotations = &mut replica_set["metadata"]["annotations"];
    match deadline {
        Some(at) => annotations[SCALE_DOWN_DEADLINE_ANNOTATION] = at.to_string().into(),
        None => {
            if let Some(map) = annotations.as_object_mut() {
                map.remove(SCALE_DOWN_DEADLINE_ANNOTATION);
            }
        }
    }
}

/// Points a Service at the pods of one revision, marking it as steered by the Rollout named
/// `rollout`, as Argo does. When that changes the Service, returns the event Argo records for
/// it (`SwitchService`, naming the revision the Service selected before, empty if none).
pub fn select_revision(service: &mut Json, hash: &str, rollout: &str) -> Option<Event> {
    let before = service["spec"]["selector"][POD_TEMPLATE_HASH_LABEL].as_str().unwrap_or_default().to_string();
    let managed = service["metadata"]["annotations"][MANAGED_BY_ANNOTATION] == rollout;
    service["spec"]["selector"][POD_TEMPLATE_HASH_LABEL] = hash.into();
    service["metadata"]["annotations"][MANAGED_BY_ANNOTATION] = rollout.into();
    let name = service["metadata"]["name"].as_str().unwrap_or_default();
    (before != hash || !managed).then(|| {
        Event::normal("SwitchService", format!("Switched selector for service '{name}' from '{before}' to '{hash}'"))
    })
}

/// Sets the weights of the canary and stable Services in a weighted TraefikService (the
/// stable one gets `max_weight - canary_weight`); other entries are left alone.
pub fn set_traefik_weights(
    traefik_service: &mut Json,
    canary_service: &str,
    stable_service: &str,
    canary_weight: i32,
    max_weight: i32,
) {
    let Some(services) = traefik_service.pointer_mut("/spec/weighted/services").and_then(Json::as_array_mut) else {
        return;
    };
    for entry in services {
        if entry["name"] == canary_service {
            entry["weight"] = canary_weight.into();
        } else if entry["name"] == stable_service {
            entry["weight"] = (max_weight - canary_weight).into();
        }
    }
}

/// The canary weight a weighted TraefikService carries for `canary_service`, and the stable
/// one for `stable_service`, when it names both.
pub fn traefik_weights(traefik_service: &Json, canary_service: &str, stable_service: &str) -> Option<(i32, i32)> {
    let services = traefik_service.pointer("/spec/weighted/services").and_then(Json::as_array)?;
    let weight_of =
        |name: &str| services.iter().find(|s| s["name"] == name).map(|s| s["weight"].as_i64().unwrap_or(1) as i32);
    Some((weight_of(canary_service)?, weight_of(stable_service)?))
}

/// An AnalysisRun's spec from its templates (metrics, args, dry-run, retention), the
/// Rollout's arguments overriding the templates' defaults, and why it cannot run if a template
/// is missing. `template` looks a template up.
pub fn analysis_run_spec<E>(
    namespace: &str,
    request: &AnalysisRunRequest,
    mut template: impl FnMut(ObjectKey) -> Result<Option<Arc<Json>>, E>,
) -> Result<AnalysisRunSpec, E> {
    let mut metrics = Vec::new();
    let mut args: Vec<(String, Option<String>)> = Vec::new();
    let mut dry_run: Vec<Json> =
        serde_json::to_value(&request.analysis.dry_run).ok().and_then(|v| v.as_array().cloned()).unwrap_or_default();
    let mut retention: Vec<Json> = serde_json::to_value(&request.analysis.measurement_retention)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let mut problems = Vec::new();
    for wanted in &request.analysis.templates {
        let (kind, ns) = if wanted.cluster_scope == Some(true) {
            ("ClusterAnalysisTemplate", "")
        } else {
            ("AnalysisTemplate", namespace)
        };
        let Some(found) = template(ObjectKey::new("argoproj.io/v1alpha1", kind, ns, &wanted.template_name))? else {
            problems.push(format!("{kind} '{}' not found", wanted.template_name));
            continue;
        };
        let spec = &found["spec"];
        metrics.extend(spec["metrics"].as_array().cloned().unwrap_or_default());
        dry_run.extend(spec["dryRun"].as_array().cloned().unwrap_or_default());
        retention.extend(spec["measurementRetention"].as_array().cloned().unwrap_or_default());
        for arg in spec["args"].as_array().into_iter().flatten() {
            let name = arg["name"].as_str().unwrap_or_default().to_string();
            if !args.iter().any(|(n, _)| *n == name) {
                args.push((name, arg["value"].as_str().map(str::to_string)));
            }
        }
    }
    for (name, value) in &request.args {
        match args.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = Some(value.clone()),
            None => args.push((name.clone(), Some(value.clone()))),
        }
    }
    let args: Vec<Json> = args.into_iter().map(|(name, value)| json!({"name": name, "value": value})).collect();
    let spec = json!({"metrics": metrics, "args": args, "dryRun": dry_run, "measurementRetention": retention});
    Ok(AnalysisRunSpec { spec, problem: (!problems.is_empty()).then(|| problems.join("; ")) })
}

/// An AnalysisRun's spec, and why it cannot run (then it starts in phase Error).
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisRunSpec {
    pub spec: Json,
    pub problem: Option<String>,
}

/// The AnalysisRun a Rollout starts, owned by it and labelled with its current pod-template hash.
pub fn analysis_run(
    rollout: &Rollout,
    rollout_meta: &Json,
    request: &AnalysisRunRequest,
    spec: AnalysisRunSpec,
) -> Json {
    let status = match spec.problem {
        Some(message) => json!({"phase": "Error", "message": message}),
        None => json!({"phase": "Pending"}),
    };
    let hash = rollout.status.as_ref().and_then(|s| s.current_pod_hash.clone()).unwrap_or_default();
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {
            "name": request.name,
            "namespace": rollout.metadata.namespace(),
            "labels": { POD_TEMPLATE_HASH_LABEL: hash },
            "ownerReferences": controller_reference("argoproj.io/v1alpha1", "Rollout", rollout_meta),
        },
        "spec": spec.spec,
        "status": status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_switched_to_another_revision_says_so_in_argos_words_once() {
        let mut service = json!({"metadata": {"name": "active"}, "spec": {"selector": {"app": "myapp"}}});
        let first = select_revision(&mut service, "abc", "web").map(|e| (e.reason, e.message));
        let said = "Switched selector for service 'active' from '' to 'abc'".to_string();
        assert_eq!(first, Some(("SwitchService".to_string(), said)));
        assert_eq!(service["spec"]["selector"], json!({"app": "myapp", POD_TEMPLATE_HASH_LABEL: "abc"}));
        assert_eq!(service["metadata"]["annotations"][MANAGED_BY_ANNOTATION], "web");
        assert_eq!(select_revision(&mut service, "abc", "web"), None, "nothing changed, nothing said");
        let second = select_revision(&mut service, "def", "web").map(|e| e.message);
        assert_eq!(second.as_deref(), Some("Switched selector for service 'active' from 'abc' to 'def'"));
    }

    #[test]
    fn a_service_already_on_the_revision_but_not_yet_managed_is_taken_over_as_argo_does() {
        let mut service =
            json!({"metadata": {"name": "active"}, "spec": {"selector": {POD_TEMPLATE_HASH_LABEL: "abc"}}});
        let event = select_revision(&mut service, "abc", "web").map(|e| e.message);
        assert_eq!(event.as_deref(), Some("Switched selector for service 'active' from 'abc' to 'abc'"));
        assert_eq!(service["metadata"]["annotations"][MANAGED_BY_ANNOTATION], "web");
    }
}

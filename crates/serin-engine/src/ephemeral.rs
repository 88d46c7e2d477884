//! Ephemeral pod metadata: the labels and annotations a revision's pods carry only while the
//! revision has a role (`canaryMetadata` / `stableMetadata` of a canary, `previewMetadata` /
//! `activeMetadata` of a blue-green update), as Argo Rollouts injects them. A pod of the new
//! revision carries the canary or preview metadata until the revision is promoted, then the
//! stable or active metadata; a revision with no role carries none.
//!
//! What was injected is recorded on the ReplicaSet in Argo's annotation, so that a later
//! change removes exactly those keys and nothing another controller set (a sidecar
//! injector's annotation, a user's label), and so that Argo Rollouts and serin can take over
//! from each other. The ReplicaSet's own view of its template leaves the injected keys out
//! (see `objects::replica_set_state`): an `undo` gives back the template the user wrote.

use crate::reconcile::Output;
use crate::state::{Action, ReplicaSetState};
use serde_json::{Map, Value as Json};
use serin_model::rollout::{PodMetadata, Rollout, RolloutStatus};

/// Where Argo Rollouts records, on a ReplicaSet, the metadata it injected into its pods.
pub const EPHEMERAL_METADATA_ANNOTATION: &str = "rollout.argoproj.io/ephemeral-metadata";

/// Asks for the metadata of every ReplicaSet whose recorded metadata is not what its role
/// wants now. Nothing when the strategy sets no ephemeral metadata.
pub(crate) fn reconcile(rollout: &Rollout, status: &RolloutStatus, replica_sets: &[ReplicaSetState], out: &mut Output) {
    let strategy = &rollout.spec.strategy;
    let (new_metadata, stable_metadata) = match (&strategy.canary, &strategy.blue_green) {
        (Some(canary), _) => (canary.canary_metadata.as_ref(), canary.stable_metadata.as_ref()),
        (None, Some(blue_green)) => (blue_green.preview_metadata.as_ref(), blue_green.active_metadata.as_ref()),
        (None, None) => return,
    };
    if new_metadata.is_none() && stable_metadata.is_none() {
        return;
    }
    let new_hash = status.current_pod_hash.as_deref();
    let stable_hash = status.stable_rs.as_deref();
    let rolled_out = stable_hash.is_none() || stable_hash == new_hash;
    let deleted =
        |name: &str| out.actions.iter().any(|a| matches!(a, Action::DeleteReplicaSet { name: n } if n == name));
    let mut syncs = Vec::new();
    for rs in replica_sets.iter().filter(|rs| !deleted(&rs.name)) {
        let desired = match Some(rs.hash.as_str()) {
            hash if hash == new_hash && rolled_out => stable_metadata,
            hash if hash == new_hash => new_metadata,
            hash if hash == stable_hash => stable_metadata,
            _ => None,
        };
        if rs.ephemeral.as_ref() != desired {
            syncs.push(Action::SyncEphemeralMetadata {
                name: rs.name.clone(),
                previous: rs.ephemeral.clone(),
                desired: desired.cloned(),
            });
        }
    }
    out.actions.extend(syncs);
}

/// A JSON merge patch for an object's `metadata` (a pod's, or a ReplicaSet template's): the
/// desired labels and annotations set, those `previous` injected and `desired` drops removed.
pub fn metadata_patch(previous: Option<&PodMetadata>, desired: Option<&PodMetadata>) -> Json {
    let part = |previous: Option<&std::collections::BTreeMap<String, String>>,
                desired: Option<&std::collections::BTreeMap<String, String>>| {
        let mut patch = Map::new();
        for key in previous.into_iter().flat_map(|p| p.keys()) {
            patch.insert(key.clone(), Json::Null);
        }
        for (key, value) in desired.into_iter().flatten() {
            patch.insert(key.clone(), value.clone().into());
        }
        Json::Object(patch)
    };
    serde_json::json!({
        "labels": part(previous.map(|p| &p.labels), desired.map(|d| &d.labels)),
        "annotations": part(previous.map(|p| &p.annotations), desired.map(|d| &d.annotations)),
    })
}

/// Applies a patch from `metadata_patch` to `metadata` in place (RFC 7386 for these two maps).
pub fn apply_metadata_patch(metadata: &mut Json, patch: &Json) {
    for field in ["labels", "annotations"] {
        let Some(changes) = patch[field].as_object().filter(|c| !c.is_empty()) else { continue };
        if !metadata[field].is_object() {
            metadata[field] = Json::Object(Map::new());
        }
        let Some(target) = metadata[field].as_object_mut() else { continue };
        for (key, value) in changes {
            match value {
                Json::Null => target.remove(key),
                value => target.insert(key.clone(), value.clone()),
            };
        }
        if target.is_empty() {
            metadata.as_object_mut().map(|m| m.remove(field));
        }
    }
}

/// The annotation value that records `desired` on the ReplicaSet (null removes it), in the
/// JSON Argo Rollouts writes: `{"labels":{...},"annotations":{...}}`.
pub fn recorded(desired: Option<&PodMetadata>) -> Json {
    desired.map_or(Json::Null, |d| serde_json::to_string(d).unwrap_or_default().into())
}

/// Records `desired` on a ReplicaSet object, or removes the record when there is none.
pub fn record(replica_set: &mut Json, desired: Option<&PodMetadata>) {
    match recorded(desired) {
        Json::Null => {
            if let Some(annotations) = replica_set["metadata"]["annotations"].as_object_mut() {
                annotations.remove(EPHEMERAL_METADATA_ANNOTATION);
            }
        }
        value => replica_set["metadata"]["annotations"][EPHEMERAL_METADATA_ANNOTATION] = value,
    }
}

/// What a ReplicaSet's annotation says was injected; None when absent or unreadable (as
/// Argo, which then removes nothing it cannot name).
pub fn parse_recorded(replica_set: &Json) -> Option<PodMetadata> {
    let text = replica_set["metadata"]["annotations"][EPHEMERAL_METADATA_ANNOTATION].as_str()?;
    serde_json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> PodMetadata {
        let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        PodMetadata { labels: map(labels), annotations: map(annotations) }
    }

    #[test]
    fn a_role_change_replaces_what_was_injected_and_keeps_everything_else() {
        let canary = metadata(&[("role", "canary"), ("tier", "web")], &[("note", "new")]);
        let stable = metadata(&[("role", "stable")], &[]);
        let mut pod = json!({"labels": {"app": "web", "role": "canary", "tier": "web"},
            "annotations": {"note": "new", "sidecar.istio.io/status": "injected"}});
        let patch = metadata_patch(Some(&canary), Some(&stable));
        apply_metadata_patch(&mut pod, &patch);
        assert_eq!(
            pod,
            json!({"labels": {"app": "web", "role": "stable"}, "annotations": {"sidecar.istio.io/status": "injected"}})
        );
        // Dropping every role: the injected keys go, and an emptied map goes with them.
        apply_metadata_patch(&mut pod, &metadata_patch(Some(&stable), None));
        assert_eq!(pod, json!({"labels": {"app": "web"}, "annotations": {"sidecar.istio.io/status": "injected"}}));
        let mut bare = json!({"labels": {"role": "stable"}});
        apply_metadata_patch(&mut bare, &metadata_patch(Some(&stable), None));
        assert_eq!(bare, json!({}));
    }

    #[test]
    fn a_replica_sets_template_reads_back_without_what_was_injected() {
        let rs = json!({
            "metadata": {"name": "web-abc", "labels": {"rollouts-pod-template-hash": "abc"},
                "annotations": {EPHEMERAL_METADATA_ANNOTATION: r#"{"labels":{"role":"canary"},"annotations":{"a":"1"}}"#}},
            "spec": {"template": {"metadata": {"labels": {"app": "web", "role": "canary", "rollouts-pod-template-hash": "abc"},
                "annotations": {"a": "1", "kept": "yes"}}}},
        });
        let state = crate::objects::replica_set_state(&rs, &[]);
        assert_eq!(state.template.0["metadata"], json!({"labels": {"app": "web"}, "annotations": {"kept": "yes"}}));
        assert_eq!(state.ephemeral, Some(metadata(&[("role", "canary")], &[("a", "1")])));
    }

    #[test]
    fn the_record_reads_back_as_argo_writes_it() {
        let injected = metadata(&[("role", "preview")], &[("a", "1")]);
        let recorded = recorded(Some(&injected));
        assert_eq!(recorded, json!(r#"{"labels":{"role":"preview"},"annotations":{"a":"1"}}"#));
        let rs = json!({"metadata": {"annotations": {EPHEMERAL_METADATA_ANNOTATION: recorded}}});
        assert_eq!(parse_recorded(&rs), Some(injected));
        let garbled = json!({"metadata": {"annotations": {EPHEMERAL_METADATA_ANNOTATION: "{not json"}}});
        assert_eq!(parse_recorded(&garbled), None);
    }
}

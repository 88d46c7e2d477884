//! `antiAffinity` of a canary or blue-green strategy: the new revision's pods are scheduled
//! away from the nodes running the stable revision's pods, so a node that breaks the new
//! version (or is broken) does not take both down. As Argo Rollouts does, the rule is a pod
//! anti-affinity term on `rollouts-pod-template-hash In [stable]` with the hostname as
//! topology, added to the user's own affinity in the new ReplicaSet's template (preferred,
//! with the strategy's weight, or required), and moved when the stable revision changes.
//! The engine's view of a ReplicaSet's template leaves the rule out, so it never reaches a
//! Rollout's template through `undo`.

use crate::reconcile::Output;
use crate::state::{Action, POD_TEMPLATE_HASH_LABEL, ReplicaSetState};
use serde_json::{Value as Json, json};
use serin_model::rollout::{AntiAffinity, Rollout, RolloutStatus};

const PREFERRED: &str = "preferredDuringSchedulingIgnoredDuringExecution";
const REQUIRED: &str = "requiredDuringSchedulingIgnoredDuringExecution";

fn strategy(rollout: &Rollout) -> Option<&AntiAffinity> {
    let strategy = &rollout.spec.strategy;
    let anti_affinity = match (&strategy.canary, &strategy.blue_green) {
        (Some(canary), _) => canary.anti_affinity.as_ref(),
        (None, Some(blue_green)) => blue_green.anti_affinity.as_ref(),
        (None, None) => None,
    }?;
    let set = anti_affinity.preferred_during_scheduling_ignored_during_execution.is_some()
        || anti_affinity.required_during_scheduling_ignored_during_execution.is_some();
    set.then_some(anti_affinity)
}

/// The stable revision the new revision's pods must avoid: None without `antiAffinity`,
/// without a stable revision, or when the new revision is the stable one.
pub fn avoided(rollout: &Rollout, new_hash: &str) -> Option<String> {
    strategy(rollout)?;
    let stable = rollout.status.as_ref()?.stable_rs.as_deref()?;
    (stable != new_hash).then(|| stable.to_string())
}

/// Moves the new ReplicaSet's rule when the stable revision it avoids is no longer the stable
/// one (Argo's IfInjectedAntiAffinityRuleNeedsUpdate: only a rule already injected moves).
pub(crate) fn reconcile(rollout: &Rollout, status: &RolloutStatus, replica_sets: &[ReplicaSetState], out: &mut Output) {
    let new_hash = rollout.spec.template.hash(status.collision_count);
    let Some(new_rs) = replica_sets.iter().find(|rs| rs.hash == new_hash) else { return };
    let avoid = strategy(rollout).and(status.stable_rs.clone()).filter(|stable| *stable != new_hash);
    if new_rs.avoids.is_some() && avoid.is_some() && new_rs.avoids != avoid {
        out.actions.push(Action::SetAntiAffinity { name: new_rs.name.clone(), avoid });
    }
}

/// The `affinity` of the new revision's pod template: the template's own, plus the rule that
/// keeps its pods off the nodes of `avoid`'s pods. None when there is neither.
pub fn replica_set_affinity(rollout: &Rollout, avoid: Option<&str>) -> Option<Json> {
    let own = rollout.spec.template.0.pointer("/spec/affinity").cloned();
    let (Some(strategy), Some(avoid)) = (strategy(rollout), avoid) else { return own };
    let term = json!({
        "labelSelector": {"matchExpressions": [{"key": POD_TEMPLATE_HASH_LABEL, "operator": "In", "values": [avoid]}]},
        "namespaces": [rollout.metadata.namespace()],
        "topologyKey": "kubernetes.io/hostname",
    });
    let mut affinity = own.unwrap_or_else(|| json!({}));
    let (list, entry) = match &strategy.preferred_during_scheduling_ignored_during_execution {
        Some(preferred) => (PREFERRED, json!({"weight": preferred.weight, "podAffinityTerm": term})),
        None => (REQUIRED, term),
    };
    match affinity["podAntiAffinity"][list].as_array_mut() {
        Some(terms) => terms.push(entry),
        None => affinity["podAntiAffinity"][list] = json!([entry]),
    }
    Some(affinity)
}

/// A JSON merge patch value for a template's `affinity` that leaves it equal to
/// `replica_set_affinity`: the anti-affinity lists it does not have are removed, not merged.
pub fn affinity_merge_patch(rollout: &Rollout, avoid: Option<&str>) -> Json {
    let Some(mut affinity) = replica_set_affinity(rollout, avoid) else { return Json::Null };
    for list in [PREFERRED, REQUIRED] {
        if affinity["podAntiAffinity"].get(list).is_none() {
            affinity["podAntiAffinity"][list] = Json::Null;
        }
    }
    affinity
}

/// Which revision a ReplicaSet template's injected rule avoids, and the template without the
/// rule (its own affinity only, as the user wrote it).
pub fn take_injected(template: &mut Json) -> Option<String> {
    let anti = template.pointer_mut("/spec/affinity/podAntiAffinity")?.as_object_mut()?;
    let mut avoided = None;
    for list in [PREFERRED, REQUIRED] {
        let Some(terms) = anti.get_mut(list).and_then(Json::as_array_mut) else { continue };
        terms.retain(|entry| {
            let term = if list == PREFERRED { &entry["podAffinityTerm"] } else { entry };
            let injected = term["labelSelector"]["matchExpressions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["key"] == POD_TEMPLATE_HASH_LABEL);
            match injected {
                Some(expression) => {
                    avoided = expression["values"][0].as_str().map(str::to_string);
                    false
                }
                None => true,
            }
        });
        if terms.is_empty() {
            anti.remove(list);
        }
    }
    if anti.is_empty() {
        let affinity = template.pointer_mut("/spec/affinity").and_then(Json::as_object_mut)?;
        affinity.remove("podAntiAffinity");
        if affinity.is_empty() {
            template["spec"].as_object_mut().map(|spec| spec.remove("affinity"));
        }
    }
    avoided
}

#[cfg(test)]
mod tests {
    use super::*;
    use serin_model::object::Object;

    fn rollout(anti_affinity: &str, own_affinity: &str) -> Rollout {
        let text = format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n{own_affinity}      containers:\n      - name: web\n        image: web:v2\n  strategy:\n    canary:\n      antiAffinity:\n{anti_affinity}\nstatus:\n  stableRS: abc\n"
        );
        let loaded = serin_model::load_str("rollout.yaml", &text);
        assert!(loaded.problems().is_empty(), "{:?}", loaded.problems());
        match loaded.documents.into_iter().next().map(|d| d.object) {
            Some(Object::Rollout(r)) => *r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_preferred_rule_joins_the_templates_own_affinity_and_reads_back_out() {
        let own = "      affinity:\n        podAntiAffinity:\n          preferredDuringSchedulingIgnoredDuringExecution:\n          - weight: 1\n            podAffinityTerm:\n              topologyKey: zone\n              labelSelector:\n                matchLabels:\n                  app: db\n";
        let rollout = rollout("        preferredDuringSchedulingIgnoredDuringExecution:\n          weight: 40\n", own);
        let avoid = avoided(&rollout, "def");
        assert_eq!(avoid.as_deref(), Some("abc"));
        assert_eq!(avoided(&rollout, "abc"), None, "the stable revision avoids nothing");
        let affinity = replica_set_affinity(&rollout, avoid.as_deref()).unwrap();
        let terms = &affinity["podAntiAffinity"][PREFERRED];
        assert_eq!(terms.as_array().map(Vec::len), Some(2), "{affinity}");
        assert_eq!(
            terms[1],
            json!({"weight": 40, "podAffinityTerm": {
                "labelSelector": {"matchExpressions": [{"key": "rollouts-pod-template-hash", "operator": "In", "values": ["abc"]}]},
                "namespaces": ["shop"], "topologyKey": "kubernetes.io/hostname"}})
        );
        let mut template = rollout.spec.template.0.clone();
        template["spec"]["affinity"] = affinity;
        assert_eq!(take_injected(&mut template).as_deref(), Some("abc"));
        assert_eq!(template, rollout.spec.template.0, "the user's template, as written");
    }

    #[test]
    fn the_replica_set_written_carries_the_rule_and_reads_back_without_it() {
        let rollout = rollout("        requiredDuringSchedulingIgnoredDuringExecution: {}\n", "");
        let new = crate::state::NewReplicaSet {
            name: "web-def".into(),
            hash: "def".into(),
            revision: 2,
            template: rollout.spec.template.clone(),
            replicas: 1,
            avoid: Some("abc".into()),
        };
        let rs = crate::objects::replica_set(&rollout, &json!({"name": "web", "uid": "u"}), &new);
        let terms = &rs["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][REQUIRED];
        assert_eq!(terms[0]["labelSelector"]["matchExpressions"][0]["values"], json!(["abc"]), "{rs}");
        let state = crate::objects::replica_set_state(&rs, &[]);
        assert_eq!(state.avoids.as_deref(), Some("abc"));
        assert_eq!(state.template, rollout.spec.template);
        let patch = affinity_merge_patch(&rollout, Some("xyz"));
        assert_eq!(patch["podAntiAffinity"][PREFERRED], Json::Null, "the other list is removed, not merged");
    }

    #[test]
    fn a_required_rule_alone_leaves_no_affinity_behind() {
        let rollout = rollout("        requiredDuringSchedulingIgnoredDuringExecution: {}\n", "");
        let affinity = replica_set_affinity(&rollout, Some("abc")).unwrap();
        assert_eq!(affinity["podAntiAffinity"][REQUIRED][0]["topologyKey"], "kubernetes.io/hostname");
        let mut template = rollout.spec.template.0.clone();
        template["spec"]["affinity"] = affinity;
        assert_eq!(take_injected(&mut template).as_deref(), Some("abc"));
        assert_eq!(template, rollout.spec.template.0);
        assert_eq!(replica_set_affinity(&rollout, None), None);
    }
}

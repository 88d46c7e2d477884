//! The garbage collector: objects whose controlling owner is gone go too (a deleted Rollout
//! takes its ReplicaSets and AnalysisRuns; a deleted ReplicaSet or AnalysisRun its pods, which
//! the pod controller stops gracefully), as Kubernetes' garbage collector does.

use crate::clock::Clock;
use crate::store::{Result, Store, Stored};
use serde_json::Value as Json;
use std::collections::HashSet;

/// (kind, namespace, name) of every object that can own others.
fn owners(store: &Store) -> Result<HashSet<(String, String, String)>> {
    let mut set = HashSet::new();
    for (group, kind) in [("argoproj.io", "Rollout"), ("apps", "ReplicaSet"), ("argoproj.io", "AnalysisRun")] {
        for object in store.list(Some(group), kind, None)? {
            set.insert((kind.to_string(), object.key.namespace, object.key.name));
        }
    }
    Ok(set)
}

fn orphaned(object: &Stored, owners: &HashSet<(String, String, String)>) -> bool {
    let refs = object.body.pointer("/metadata/ownerReferences").and_then(Json::as_array);
    refs.is_some_and(|refs| {
        refs.iter().filter(|r| r["controller"] == true).any(|r| {
            let kind = r["kind"].as_str().unwrap_or_default().to_string();
            let name = r["name"].as_str().unwrap_or_default().to_string();
            !owners.contains(&(kind, object.key.namespace.clone(), name))
        })
    })
}

pub fn collect(store: &Store, clock: &dyn Clock) -> Result<()> {
    let owners = owners(store)?;
    let now = clock.now();
    for (group, kind) in [("apps", "ReplicaSet"), ("argoproj.io", "AnalysisRun")] {
        for object in store.list(Some(group), kind, None)? {
            if orphaned(&object, &owners) {
                store.delete(&object.key)?;
            }
        }
    }
    for pod in store.list(Some(""), "Pod", None)? {
        if orphaned(&pod, &owners) && pod.body.pointer("/metadata/deletionTimestamp").is_none() {
            let mut body = serde_json::Value::clone(&pod.body);
            body["metadata"]["deletionTimestamp"] = now.to_string().into();
            store.put(&pod.key, &body, Some(pod.rev))?;
        }
    }
    Ok(())
}

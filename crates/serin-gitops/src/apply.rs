//! `apply` as kubectl does it: a three-way merge of the live object, the configuration last
//! applied (kept in the `kubectl.kubernetes.io/last-applied-configuration` annotation) and the
//! new one. Fields the user never wrote (Service selector hashes, TraefikService weights,
//! status) survive a re-apply; fields the user removed are removed.
//!
//! Lists whose items all carry a merge key (`name`, a port, a mount path) merge item by item,
//! as kubectl's strategic merge does, so a weight serin set inside `weighted.services[]` and
//! a default the API server set inside a Service's port are kept.

use serde_json::{Map, Value as Json};
use serin_model::{Diagnostic, Document, ObjectKey, Time};

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What apply did to an object, in kubectl's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl Outcome {
    /// kubectl's word for it: `service/x configured`.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// Fields the server owns in `metadata`.
const SYSTEM_METADATA: [&str; 5] = ["uid", "creationTimestamp", "resourceVersion", "generation", "managedFields"];

/// A manifest as apply writes it: its key, with the namespace filled in, and its body.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub key: ObjectKey,
    pub body: Json,
}

impl Manifest {
    /// As kubectl reads a document: a namespaced object without a namespace goes into
    /// `default_namespace`.
    pub fn from_document(document: &Document, default_namespace: &str) -> Manifest {
        let mut body = document.root.to_json();
        let mut key = document.object.key();
        if !key.namespace.is_empty() {
            let namespace = document.object.metadata().namespace.as_deref().unwrap_or(default_namespace);
            key.namespace = namespace.to_string();
            body["metadata"]["namespace"] = namespace.into();
        }
        Manifest { key, body }
    }
}

impl Manifest {
    /// An object of a kind serin does not model, applied as written (where the platform is a
    /// cluster, whose API server validates it): namespaced unless the cluster says otherwise.
    pub fn from_unmodelled(object: &serin_model::Unmodelled, default_namespace: &str) -> Manifest {
        let mut body = object.body.clone();
        let namespace =
            body.pointer("/metadata/namespace").and_then(Json::as_str).unwrap_or(default_namespace).to_string();
        body["metadata"]["namespace"] = namespace.clone().into();
        let group = object.api_version.rsplit_once('/').map_or("", |(group, _)| group);
        let key =
            ObjectKey { group: group.to_string(), kind: object.kind.clone(), namespace, name: object.name.clone() };
        Manifest { key, body }
    }
}

/// Documents whose own namespace differs from the one asked for (`apply -n`): kubectl refuses
/// them rather than let either win unseen.
pub fn namespace_conflicts(documents: &[Document], given: &str) -> Vec<Diagnostic> {
    let path = serin_model::FieldPath::parse("metadata.namespace");
    documents
        .iter()
        .filter_map(|document| {
            let own = document.object.metadata().namespace.as_deref().filter(|own| *own != given)?;
            Some(Diagnostic {
                file: document.file.clone(),
                at: serin_model::load::locate(&document.root, &path),
                path: path.clone(),
                message: format!("{own:?} does not match the namespace asked for ({given:?}); pass --namespace={own}"),
            })
        })
        .collect()
}

/// Reads every document of every (file name, text) pair; any problem in any file means none
/// of them is used, and every problem is returned.
pub fn load_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Vec<Document>, Vec<Diagnostic>> {
    let mut documents = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in files {
        let loaded = serin_model::load_str(name, text);
        problems.extend(loaded.problems());
        documents.extend(loaded.documents);
    }
    if problems.is_empty() { Ok(documents) } else { Err(problems) }
}

/// Merges `applied` into `live` (absent for a new object); returns the object to store.
pub fn merge(live: Option<&Json>, applied: &Json, uid: &str, now: Time) -> (Json, Outcome) {
    let mut applied = applied.clone();
    if let Some(object) = applied.as_object_mut() {
        object.remove("status");
        if let Some(meta) = object.get_mut("metadata").and_then(Json::as_object_mut) {
            for field in SYSTEM_METADATA {
                meta.remove(field);
            }
            if let Some(annotations) = meta.get_mut("annotations").and_then(Json::as_object_mut) {
                annotations.remove(LAST_APPLIED);
            }
        }
    }
    let Some(live) = live else {
        let mut created = applied.clone();
        stamp(&mut created, &applied, |meta| {
            meta.insert("uid".into(), uid.into());
            meta.insert("creationTimestamp".into(), now.to_string().into());
            meta.insert("generation".into(), 1.into());
        });
        return (created, Outcome::Created);
    };
    let last: Json = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Json::as_str)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Json::Null);
    let mut merged = three_way(Some(live), &last, &applied);
    // Kinds whose objects have no generation (a Kubernetes Service) get none.
    let generation = live.pointer("/metadata/generation").and_then(Json::as_i64);
    let spec_changed = merged.get("spec") != live.get("spec");
    stamp(&mut merged, &applied, |meta| {
        if let Some(generation) = generation {
            meta.insert("generation".into(), (generation + i64::from(spec_changed)).into());
        }
    });
    if merged == *live { (merged, Outcome::Unchanged) } else { (merged, Outcome::Configured) }
}

/// Records the applied configuration and lets `system` set server-owned metadata.
fn stamp(object: &mut Json, applied: &Json, system: impl FnOnce(&mut Map<String, Json>)) {
    let Some(meta) = object.get_mut("metadata").and_then(Json::as_object_mut) else { return };
    system(meta);
    let annotations = meta.entry("annotations").or_insert_with(|| Json::Object(Map::new()));
    if let Some(annotations) = annotations.as_object_mut() {
        annotations.insert(LAST_APPLIED.into(), applied.to_string().into());
    }
}

/// What a server-side apply must carry over from the live object so as not to take from the
/// rollout controller what it owns and git never sets: the `rollouts-pod-template-hash` in a
/// Service's selector (a selector is one atomic field to server-side apply) and the weights in
/// a TraefikService's `weighted.services` (a list without keys, so atomic too). A three-way
/// merge keeps them by itself; an apply that owns whole fields must be told.
pub fn carry_rollout_fields(desired: &mut Json, live: &Json) {
    const HASH: &str = "rollouts-pod-template-hash";
    match desired["kind"].as_str() {
        Some("Service") => {
            let hash = live.pointer("/spec/selector").and_then(|s| s.get(HASH)).cloned();
            if let (Some(hash), Some(selector)) =
                (hash, desired.pointer_mut("/spec/selector").and_then(Json::as_object_mut))
                && !selector.contains_key(HASH)
            {
                selector.insert(HASH.to_string(), hash);
            }
        }
        Some("TraefikService") => {
            let live_services = live.pointer("/spec/weighted/services").and_then(Json::as_array);
            let services = desired.pointer_mut("/spec/weighted/services").and_then(Json::as_array_mut);
            for service in services.into_iter().flatten() {
                let weight =
                    live_services.into_iter().flatten().find(|l| l["name"] == service["name"]).map(|l| &l["weight"]);
                if let (Some(weight), Some(object)) = (weight.filter(|w| !w.is_null()), service.as_object_mut())
                    && !object.contains_key("weight")
                {
                    object.insert("weight".to_string(), weight.clone());
                }
            }
        }
        _ => {}
    }
}

fn three_way(live: Option<&Json>, last: &Json, applied: &Json) -> Json {
    match (live, applied) {
        (Some(Json::Object(live)), Json::Object(applied)) => {
            let mut out = Map::new();
            for (key, value) in applied {
                out.insert(key.clone(), three_way(live.get(key), last.get(key).unwrap_or(&Json::Null), value));
            }
            for (key, value) in live {
                let removed_by_user = last.get(key).is_some();
                if !applied.contains_key(key) && !removed_by_user {
                    out.insert(key.clone(), value.clone());
                }
            }
            Json::Object(out)
        }
        (Some(Json::Array(live)), Json::Array(applied)) => match merge_key(live, applied) {
            Some(field) => {
                let key = |v: &Json| v.get(field).cloned();
                let last_items = last.as_array().cloned().unwrap_or_default();
                let mut out: Vec<Json> = applied
                    .iter()
                    .map(|item| {
                        let live_item = live.iter().find(|l| key(l) == key(item));
                        let last_item = last_items.iter().find(|l| key(l) == key(item)).cloned().unwrap_or(Json::Null);
                        three_way(live_item, &last_item, item)
                    })
                    .collect();
                for item in live {
                    let in_applied = applied.iter().any(|a| key(a) == key(item));
                    let in_last = last_items.iter().any(|l| key(l) == key(item));
                    if !in_applied && !in_last {
                        out.push(item.clone());
                    }
                }
                Json::Array(out)
            }
            None => Json::Array(applied.clone()),
        },
        _ => applied.clone(),
    }
}

/// The fields that identify an item of a list, as Kubernetes' strategic merge keys them:
/// `name` (containers, env, volumes, weighted services), `containerPort` (a container's
/// ports), `port` (a Service's ports), `mountPath` (volume mounts), `ip` (host aliases).
const MERGE_KEYS: [&str; 5] = ["name", "containerPort", "port", "mountPath", "ip"];

/// The merge key every item of both lists has, with no value twice in either; `None` makes
/// the list atomic (git's list replaces the live one). So a server default inside an item
/// (a port's `protocol: TCP`) survives a re-apply and is no drift.
fn merge_key(live: &[Json], applied: &[Json]) -> Option<&'static str> {
    let keyed_by = |items: &[Json], field: &str| {
        let mut seen = std::collections::HashSet::new();
        items
            .iter()
            .all(|i| i.get(field).is_some_and(|v| v.is_string() || v.is_number()) && seen.insert(i[field].to_string()))
    };
    if applied.is_empty() {
        return None;
    }
    MERGE_KEYS.into_iter().find(|field| keyed_by(applied, field) && keyed_by(live, field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn traefik_service() -> Json {
        json!({"apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService", "metadata": {"name": "canary-service"},
               "spec": {"weighted": {"services": [{"name": "canary-active", "port": 80}, {"name": "canary-preview", "port": 80}]}}})
    }

    #[test]
    fn managed_fields_survive_a_reapply_and_unchanged_is_reported() {
        let (mut live, outcome) = merge(None, &traefik_service(), "u1", Time(0));
        assert_eq!(outcome, Outcome::Created);
        assert_eq!(live["metadata"]["uid"], "u1");
        // serin sets the weights.
        live["spec"]["weighted"]["services"][0]["weight"] = json!(10);
        live["spec"]["weighted"]["services"][1]["weight"] = json!(90);
        let (merged, outcome) = merge(Some(&live), &traefik_service(), "u2", Time(5));
        assert_eq!(outcome, Outcome::Unchanged);
        assert_eq!(merged["spec"]["weighted"]["services"][0]["weight"], 10);
        assert_eq!(merged["metadata"]["uid"], "u1");
    }

    #[test]
    fn removed_fields_go_and_changes_bump_the_generation() {
        let mut service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"a": "1"}},
                                 "spec": {"selector": {"app": "myapp"}, "ports": [{"name": "http", "port": 80}]}});
        let (mut live, _) = merge(None, &service, "u", Time(0));
        live["spec"]["selector"]["rollouts-pod-template-hash"] = json!("69dc9f5f56");
        service["metadata"].as_object_mut().unwrap().remove("labels");
        service["spec"]["ports"][0]["port"] = json!(8080);
        let (merged, outcome) = merge(Some(&live), &service, "u", Time(1));
        assert_eq!(outcome, Outcome::Configured);
        assert!(merged["metadata"].get("labels").is_none());
        assert_eq!(merged["spec"]["selector"]["rollouts-pod-template-hash"], "69dc9f5f56");
        assert_eq!(merged["spec"]["ports"][0]["port"], 8080);
        assert_eq!(merged["metadata"]["generation"], 2);
    }

    #[test]
    fn server_defaults_in_unnamed_ports_are_not_drift() {
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                             "spec": {"ports": [{"port": 80}, {"port": 443}]}});
        let (mut live, _) = merge(None, &service, "u", Time(0));
        for port in live["spec"]["ports"].as_array_mut().unwrap() {
            port["protocol"] = json!("TCP");
            port["targetPort"] = port["port"].clone();
        }
        assert_eq!(merge(Some(&live), &service, "u", Time(1)).1, Outcome::Unchanged);
        let mut changed = service.clone();
        changed["spec"]["ports"] = json!([{"port": 80}]);
        let (merged, outcome) = merge(Some(&live), &changed, "u", Time(1));
        assert_eq!(outcome, Outcome::Configured);
        assert_eq!(merged["spec"]["ports"], json!([{"port": 80, "protocol": "TCP", "targetPort": 80}]));
        // Items without a common key are replaced as a whole.
        let args = json!({"metadata": {"name": "a"}, "spec": {"args": ["a", "b"]}});
        let (live, _) = merge(None, &args, "u", Time(0));
        let (merged, _) =
            merge(Some(&live), &json!({"metadata": {"name": "a"}, "spec": {"args": ["c"]}}), "u", Time(1));
        assert_eq!(merged["spec"]["args"], json!(["c"]));
    }

    #[test]
    fn a_server_side_apply_carries_what_the_rollout_controller_owns() {
        let mut service = json!({"kind": "Service", "spec": {"selector": {"app": "myapp"}}});
        let live = json!({"spec": {"selector": {"app": "myapp", "rollouts-pod-template-hash": "69dc9f5f56"}}});
        carry_rollout_fields(&mut service, &live);
        assert_eq!(service["spec"]["selector"], live["spec"]["selector"]);
        let mut weighted = traefik_service();
        let mut live = traefik_service();
        live["spec"]["weighted"]["services"][0]["weight"] = json!(90);
        live["spec"]["weighted"]["services"][1]["weight"] = json!(10);
        weighted["spec"]["weighted"]["services"][1]["weight"] = json!(50);
        carry_rollout_fields(&mut weighted, &live);
        let weights: Vec<&Json> =
            weighted["spec"]["weighted"]["services"].as_array().unwrap().iter().map(|s| &s["weight"]).collect();
        assert_eq!(weights, [&json!(90), &json!(50)], "a weight git sets is git's");
    }

    #[test]
    fn status_in_a_file_is_ignored() {
        let (live, _) =
            merge(None, &json!({"metadata": {"name": "r"}, "spec": {}, "status": {"phase": "Healthy"}}), "u", Time(0));
        assert!(live.get("status").is_none());
    }
}

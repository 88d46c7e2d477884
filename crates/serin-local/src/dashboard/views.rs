//! The dashboard's pages as JSON, shaped for drawing: the rollouts list, one rollout (steps,
//! revisions with ReplicaSets, pods, weights and traffic, analysis runs, events), the routes
//! (entry points, IngressRoutes, TraefikServices, Services and their pods) and the GitOps
//! Applications with their resource trees.
//!
//! Each page is computed from the store in one go, with no spec beyond what people need to see:
//! no environment, no arguments, no annotations, and URLs without their credentials, so no
//! secret value reaches a browser.

use super::traffic::TrafficSampler;
use crate::objects::{self, owned_by, pod_summary, replica_set_state, replica_set_summary};
use crate::redact::url_credentials as redact;
use crate::store::{Result, Store, Stored};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use serin_engine::bluegreen::PAUSE_REASON_BLUE_GREEN;
use serin_engine::phase::{actual_weight, set_weight, step_progress};
use serin_engine::stages::{Stage, stages};
use serin_engine::state::{POD_TEMPLATE_HASH_LABEL, ReplicaSetState};
use serin_model::Time;
use serin_model::application::Application;
use serin_model::rollout::{Rollout, RolloutStatus, StepKind};
use serin_router::rule::{Syntax, parse_with};
use std::collections::BTreeMap;

/// Events shown on a rollout's page (the newest).
const EVENTS_SHOWN: usize = 30;
/// Measurements shown per metric (the newest).
const MEASUREMENTS_SHOWN: usize = 10;

fn text<'a>(v: &'a Json, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Json::as_str).unwrap_or_default()
}

fn number(v: &Json, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Json::as_i64).unwrap_or(0)
}

/// A timestamp as milliseconds since the epoch (what the page's clock works in).
fn millis(v: &Json, pointer: &str) -> Option<i64> {
    objects::time_at(v, pointer).map(Time::millis)
}

fn hash_of(v: &Json) -> &str {
    v["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL].as_str().unwrap_or_default()
}

/// The objects the pages are drawn from, each kind read once.
struct Snapshot {
    replica_sets: Vec<Stored>,
    pods: Vec<Stored>,
}

impl Snapshot {
    fn read(store: &Store, namespace: Option<&str>) -> Result<Snapshot> {
        Ok(Snapshot {
            replica_sets: store.list(Some("apps"), "ReplicaSet", namespace)?,
            pods: store.list(Some(""), "Pod", namespace)?,
        })
    }

    fn replica_sets_of<'a>(&'a self, namespace: &'a str, rollout: &'a str) -> impl Iterator<Item = &'a Stored> + 'a {
        self.replica_sets
            .iter()
            .filter(move |rs| rs.key.namespace == namespace && owned_by(&rs.body, "Rollout", rollout))
    }

    fn pods_of<'a>(&'a self, replica_set: &'a Stored) -> impl Iterator<Item = &'a Stored> + 'a {
        self.pods.iter().filter(move |p| {
            p.key.namespace == replica_set.key.namespace && owned_by(&p.body, "ReplicaSet", &replica_set.key.name)
        })
    }
}

fn decode_rollout(stored: &Stored) -> Option<Rollout> {
    Rollout::deserialize(&*stored.body).ok()
}

/// A revision's roles as the dashboard shows them (`stable`, `stable, active`), or null.
fn role(roles: &[&str]) -> Json {
    if roles.is_empty() { Json::Null } else { roles.join(", ").into() }
}

/// What the rollouts list shows of a rollout, and the rollout page's header.
fn rollout_summary(rollout: &Rollout, replica_sets: &[ReplicaSetState]) -> Json {
    let status = rollout.status.clone().unwrap_or_default();
    let blue_green = rollout.spec.strategy.blue_green.as_ref();
    let images: Vec<Json> = objects::rollout_images(&status, replica_sets)
        .into_iter()
        .map(|(image, roles)| json!({"image": image, "role": role(&roles)}))
        .collect();
    json!({
        "namespace": rollout.metadata.namespace(),
        "name": rollout.metadata.name(),
        "strategy": if blue_green.is_some() { "BlueGreen" } else { "Canary" },
        "phase": status.phase.as_deref().unwrap_or("Progressing"),
        "message": status.message.as_deref().unwrap_or_default(),
        "step": step_progress(rollout).map(|(index, steps)| json!([index, steps])),
        "setWeight": blue_green.is_none().then(|| set_weight(rollout)),
        "actualWeight": blue_green.is_none().then(|| actual_weight(rollout, replica_sets)),
        "services": blue_green.map(|bg| {
            let service = |name: Option<&str>, selector: &Option<String>| {
                name.map(|name| {
                    let revision = replica_sets.iter().find(|rs| Some(&rs.hash) == selector.as_ref()).map(|rs| rs.revision);
                    json!({"name": name, "selector": selector, "revision": revision})
                })
            };
            json!({
                "active": service(Some(&bg.active_service), &status.blue_green.active_selector),
                "preview": service(bg.preview_service.as_deref(), &status.blue_green.preview_selector),
            })
        }),
        "images": images,
        "desired": rollout.spec.replicas(),
        "current": status.replicas,
        "updated": status.updated_replicas,
        "ready": status.ready_replicas,
        "available": status.available_replicas,
    })
}

/// The rollouts page: every rollout, by namespace and name.
pub fn rollouts(store: &Store) -> Result<Json> {
    let snapshot = Snapshot::read(store, None)?;
    let items: Vec<Json> = store
        .list(Some("argoproj.io"), "Rollout", None)?
        .iter()
        .filter_map(|stored| {
            let rollout = decode_rollout(stored)?;
            let states: Vec<ReplicaSetState> = snapshot
                .replica_sets_of(&stored.key.namespace, &stored.key.name)
                .map(|rs| replica_set_state(&rs.body, &[]))
                .collect();
            Some(rollout_summary(&rollout, &states))
        })
        .collect();
    Ok(json!({"rollouts": items}))
}

/// Traffic weight per revision (pod-template hash): what the router serves for a routed
/// canary, the share of available pods for a basic one, all of it for the revision a
/// blue-green active Service selects.
fn revision_weights(
    rollout: &Rollout,
    status: &RolloutStatus,
    replica_sets: &[ReplicaSetState],
) -> BTreeMap<String, i64> {
    let mut weights = BTreeMap::new();
    if rollout.spec.strategy.canary.is_none() && rollout.spec.strategy.blue_green.is_some() {
        weights.extend(status.blue_green.active_selector.clone().map(|hash| (hash, 100)));
        return weights;
    }
    let routed = rollout.spec.strategy.canary.as_ref().is_some_and(|c| c.traffic_routing.is_some());
    if routed {
        let (canary, stable) = match &status.canary.weights {
            Some(w) => (
                (w.canary.pod_template_hash.clone(), w.canary.weight),
                (w.stable.pod_template_hash.clone(), w.stable.weight),
            ),
            None => {
                let actual = actual_weight(rollout, replica_sets);
                let max = rollout.spec.strategy.canary.as_ref().map_or(100, |c| c.max_weight());
                (
                    (status.current_pod_hash.clone().unwrap_or_default(), actual),
                    (status.stable_rs.clone().unwrap_or_default(), max - actual),
                )
            }
        };
        for (hash, weight) in [stable, canary] {
            if !hash.is_empty() {
                *weights.entry(hash).or_insert(0) += i64::from(weight);
            }
        }
        return weights;
    }
    let total: i64 = replica_sets.iter().map(|rs| i64::from(rs.available)).sum();
    for rs in replica_sets.iter().filter(|rs| rs.available > 0) {
        weights.insert(rs.hash.clone(), i64::from(rs.available) * 100 / total);
    }
    weights
}

/// Which commands make sense now (the page offers only these).
fn actions(rollout: &Rollout, status: &RolloutStatus, revisions: usize) -> Json {
    let updating = status.stable_rs.is_some() && status.stable_rs != status.current_pod_hash;
    let paused = rollout.spec.paused == Some(true) || !status.pause_conditions.is_empty();
    json!({
        "promote": !status.abort && (paused || updating),
        "promoteFull": !status.abort && updating,
        "abort": !status.abort && updating,
        "retry": status.abort,
        "undo": revisions > 1,
        "pause": rollout.spec.paused != Some(true) && updating && !status.abort,
    })
}

/// The steps (a canary's, or a blue-green update's stages) with the current one marked, and
/// when a timed pause ends (server time).
fn steps(rollout: &Rollout, status: &RolloutStatus, replica_sets: &[ReplicaSetState]) -> (Vec<Json>, Option<Json>) {
    let (steps, pause_duration) = match (&rollout.spec.strategy.canary, &rollout.spec.strategy.blue_green) {
        (Some(canary), _) => {
            let index = status.current_step_index.unwrap_or(0).max(0) as usize;
            let steps = marked(
                &mut canary
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(i, step)| (serin_engine::reconcile::describe_step(step), i < index)),
            );
            let duration = match canary.steps.get(index).and_then(|s| s.kind()) {
                Some(StepKind::Pause(pause)) => {
                    pause.duration.as_ref().and_then(|d| serin_model::duration::parse_pause_duration(d).ok())
                }
                _ => None,
            };
            (steps, duration.map(|d| ("CanaryPauseStep", d)))
        }
        (None, Some(blue_green)) => {
            let steps = marked(
                &mut stages(blue_green)
                    .into_iter()
                    .map(|stage| (stage.describe(blue_green), stage.reached(status, replica_sets))),
            );
            let timed = Stage::Pause.wait(blue_green).timed.filter(|_| blue_green.auto_promotion_enabled());
            (steps, timed.map(|d| (PAUSE_REASON_BLUE_GREEN, d)))
        }
        (None, None) => (Vec::new(), None),
    };
    let pause = status.pause_conditions.first().map(|condition| {
        let duration = pause_duration.filter(|(reason, _)| condition.reason == *reason).map(|(_, d)| d);
        json!({
            "reason": condition.reason,
            "startedAt": condition.start_time.millis(),
            "endsAt": duration.map(|d| condition.start_time.millis() + d),
        })
    });
    (steps, pause)
}

/// Each step's text and state: done until the first that is not, which is current; then
/// pending.
fn marked(steps: impl Iterator<Item = (String, bool)>) -> Vec<Json> {
    let mut current_seen = false;
    steps
        .map(|(text, done)| {
            let state = match (done, current_seen) {
                (true, false) => "done",
                (false, false) => "current",
                _ => "pending",
            };
            current_seen |= state == "current";
            json!({"text": text, "state": state})
        })
        .collect()
}

fn pod_view(pod: &Stored) -> Json {
    let summary = pod_summary(&pod.body);
    json!({
        "name": pod.key.name,
        "status": summary.status(),
        "ready": summary.ready,
        "containers": summary.containers,
        "restarts": summary.restarts,
        "createdAt": millis(&pod.body, "/metadata/creationTimestamp"),
    })
}

fn analysis_run_view(run: &Stored) -> Json {
    let metrics: Vec<Json> = run
        .body
        .pointer("/status/metricResults")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|result| {
            let measurements = result["measurements"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let shown = &measurements[measurements.len().saturating_sub(MEASUREMENTS_SHOWN)..];
            let measurements: Vec<Json> = shown
                .iter()
                .rev()
                .map(|m| {
                    json!({
                        "phase": text(m, "/phase"),
                        "value": text(m, "/value"),
                        "message": redact(text(m, "/message")),
                        "startedAt": millis(m, "/startedAt"),
                        "finishedAt": millis(m, "/finishedAt"),
                        "sample": m.get("sample"),
                    })
                })
                .collect();
            json!({
                "name": text(result, "/name"),
                "phase": text(result, "/phase"),
                "message": redact(text(result, "/message")),
                "count": number(result, "/count"),
                "successful": number(result, "/successful"),
                "failed": number(result, "/failed"),
                "inconclusive": number(result, "/inconclusive"),
                "error": number(result, "/error"),
                "dryRun": result["dryRun"] == true,
                "measurements": measurements,
            })
        })
        .collect();
    json!({
        "name": run.key.name,
        "revision": hash_of(&run.body),
        "phase": text(&run.body, "/status/phase"),
        "message": redact(text(&run.body, "/status/message")),
        "createdAt": millis(&run.body, "/metadata/creationTimestamp"),
        "metrics": metrics,
    })
}

/// One rollout's page, or None when there is no such rollout.
pub fn rollout(store: &Store, traffic: &TrafficSampler, namespace: &str, name: &str) -> Result<Option<Json>> {
    let key = serin_model::ObjectKey::new("argoproj.io/v1alpha1", "Rollout", namespace, name);
    let Some(stored) = store.get(&key)? else { return Ok(None) };
    let Some(rollout) = decode_rollout(&stored) else { return Ok(None) };
    let status = rollout.status.clone().unwrap_or_default();
    let snapshot = Snapshot::read(store, Some(namespace))?;
    let mut replica_sets: Vec<(&Stored, ReplicaSetState)> = snapshot
        .replica_sets_of(namespace, name)
        .map(|rs| {
            let pods: Vec<&Json> = snapshot.pods_of(rs).map(|p| &*p.body).collect();
            (rs, replica_set_state(&rs.body, &pods))
        })
        .collect();
    replica_sets.sort_by_key(|(_, state)| std::cmp::Reverse(state.revision));
    let states: Vec<ReplicaSetState> = replica_sets.iter().map(|(_, s)| s.clone()).collect();
    let weights = revision_weights(&rollout, &status, &states);
    let runs = objects::owned(store, ("argoproj.io", "AnalysisRun"), namespace, "Rollout", name)?;
    let revisions: Vec<Json> = replica_sets
        .iter()
        .map(|(rs, state)| {
            let summary = replica_set_summary(&rs.body, &status);
            let mut pods: Vec<&Stored> = snapshot.pods_of(rs).collect();
            pods.sort_by_key(|p| (millis(&p.body, "/metadata/creationTimestamp"), p.key.name.clone()));
            let analysis: Vec<&str> =
                runs.iter().filter(|r| hash_of(&r.body) == state.hash).map(|r| r.key.name.as_str()).collect();
            json!({
                "revision": state.revision,
                "hash": state.hash,
                "role": role(&summary.roles),
                "weight": weights.get(&state.hash).copied().unwrap_or(0),
                "images": state.template.images(),
                "replicaSet": {
                    "name": rs.key.name,
                    "state": summary.state,
                    "desired": state.replicas,
                    "current": state.current,
                    "ready": state.ready,
                    "available": state.available,
                    "createdAt": state.created.millis(),
                    "scaleDownAt": summary.scale_down_deadline.map(Time::millis),
                },
                "pods": pods.into_iter().map(pod_view).collect::<Vec<_>>(),
                "analysisRuns": analysis,
                "traffic": traffic.series(&rs.key.name),
            })
        })
        .collect();
    let mut runs: Vec<&Stored> = runs.iter().collect();
    runs.sort_by_key(|r| std::cmp::Reverse((millis(&r.body, "/metadata/creationTimestamp"), r.key.name.clone())));
    let events = store.events(&stored.key)?;
    let events: Vec<Json> = events
        .iter()
        .rev()
        .take(EVENTS_SHOWN)
        .map(|e| json!({"time": e.time.millis(), "type": e.kind, "reason": e.reason, "message": redact(&e.message)}))
        .collect();
    let (steps, pause) = steps(&rollout, &status, &states);
    let mut summary = rollout_summary(&rollout, &states);
    summary["createdAt"] = json!(millis(&stored.body, "/metadata/creationTimestamp"));
    summary["aborted"] = status.abort.into();
    summary["manuallyPaused"] = (rollout.spec.paused == Some(true)).into();
    Ok(Some(json!({
        "rollout": summary,
        "actions": actions(&rollout, &status, revisions.len()),
        "steps": steps,
        "pause": pause,
        "revisions": revisions,
        "analysisRuns": runs.into_iter().map(analysis_run_view).collect::<Vec<_>>(),
        "events": events,
    })))
}

/// A reference from an IngressRoute or a TraefikService to a service.
fn service_ref(reference: &Json, namespace: &str) -> Json {
    json!({
        "kind": if reference["kind"] == "TraefikService" { "TraefikService" } else { "Service" },
        "name": text(reference, "/name"),
        "namespace": reference["namespace"].as_str().unwrap_or(namespace),
        "weight": reference.get("weight").and_then(Json::as_i64),
    })
}

fn api_group(stored: &Stored) -> &str {
    stored.key.group.split('/').next().unwrap_or_default()
}

/// The routes page: what Traefik's dashboard shows, from serin's own router configuration.
pub fn routes(store: &Store, entrypoints: &BTreeMap<String, String>) -> Result<Json> {
    let entrypoints: Vec<Json> =
        entrypoints.iter().map(|(name, address)| json!({"name": name, "address": address})).collect();
    let ingress_routes: Vec<Json> = store
        .list(None, "IngressRoute", None)?
        .iter()
        .map(|route| {
            let namespace = route.key.namespace.as_str();
            let entry_points = route.body.pointer("/spec/entryPoints").cloned().unwrap_or_else(|| json!(["web"]));
            let rules: Vec<Json> = route
                .body
                .pointer("/spec/routes")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .map(|spec| {
                    let rule = text(spec, "/match");
                    let priority = spec["priority"]
                        .as_i64()
                        .filter(|p| *p != 0)
                        .unwrap_or_else(|| serin_router::rule::default_priority(rule));
                    let services: Vec<Json> =
                        spec["services"].as_array().into_iter().flatten().map(|s| service_ref(s, namespace)).collect();
                    let syntax = Syntax::of_route(api_group(route), spec["syntax"].as_str());
                    let problem = syntax.and_then(|s| parse_with(rule, s).map(drop).map_err(|e| e.to_string())).err();
                    json!({"match": rule, "priority": priority, "services": services, "problem": problem})
                })
                .collect();
            json!({
                "namespace": namespace, "name": route.key.name, "group": api_group(route),
                "entryPoints": entry_points, "routes": rules,
            })
        })
        .collect();
    let rollouts = store.list(Some("argoproj.io"), "Rollout", None)?;
    let managed_by = |namespace: &str, name: &str| {
        rollouts
            .iter()
            .find(|r| {
                r.key.namespace == namespace
                    && r.body.pointer("/spec/strategy/canary/trafficRouting/traefik/weightedTraefikServiceName")
                        == Some(&json!(name))
            })
            .map(|r| r.key.name.clone())
    };
    let traefik_services: Vec<Json> = store
        .list(None, "TraefikService", None)?
        .iter()
        .map(|ts| {
            let namespace = ts.key.namespace.as_str();
            let spec = &ts.body["spec"];
            let (kind, services) = if let Some(weighted) = spec.pointer("/weighted/services").and_then(Json::as_array) {
                ("weighted", weighted.iter().map(|s| service_ref(s, namespace)).collect::<Vec<_>>())
            } else if let Some(mirroring) = spec.get("mirroring") {
                let mut all = vec![service_ref(mirroring, namespace)];
                all.extend(mirroring["mirrors"].as_array().into_iter().flatten().map(|m| {
                    let mut mirror = service_ref(m, namespace);
                    mirror["percent"] = m["percent"].clone();
                    mirror
                }));
                ("mirroring", all)
            } else {
                ("unsupported", Vec::new())
            };
            json!({
                "namespace": namespace, "name": ts.key.name, "group": api_group(ts), "type": kind,
                "services": services, "managedBy": managed_by(namespace, &ts.key.name),
            })
        })
        .collect();
    let pods = store.list(Some(""), "Pod", None)?;
    let services: Vec<Json> = store
        .list(Some(""), "Service", None)?
        .iter()
        .map(|service| {
            let selector =
                service.body.pointer("/spec/selector").and_then(Json::as_object).cloned().unwrap_or_default();
            let endpoints: Vec<Json> = pods
                .iter()
                .filter(|p| {
                    p.key.namespace == service.key.namespace && p.body.pointer("/metadata/deletionTimestamp").is_none()
                })
                .filter(|p| {
                    !selector.is_empty() && selector.iter().all(|(k, v)| p.body["metadata"]["labels"].get(k) == Some(v))
                })
                .map(|p| json!({"pod": p.key.name, "ready": objects::pod_ready(&p.body), "revision": hash_of(&p.body)}))
                .collect();
            json!({
                "namespace": service.key.namespace, "name": service.key.name,
                "selector": selector, "endpoints": endpoints,
            })
        })
        .collect();
    Ok(json!({
        "entryPoints": entrypoints,
        "ingressRoutes": ingress_routes,
        "traefikServices": traefik_services,
        "services": services,
    }))
}

/// A resource of an Application, with the objects it owns (a Rollout's ReplicaSets and pods).
fn resource_view(resource: &serin_model::application::ResourceStatus, snapshot: &Snapshot) -> Json {
    let health = resource.health.clone().unwrap_or_default();
    let children: Vec<Json> = if resource.kind == "Rollout" {
        let mut sets: Vec<&Stored> = snapshot.replica_sets_of(&resource.namespace, &resource.name).collect();
        sets.sort_by_key(|rs| std::cmp::Reverse(replica_set_state(&rs.body, &[]).revision));
        sets.into_iter()
            .map(|rs| {
                json!({
                    "kind": "ReplicaSet", "name": rs.key.name,
                    "status": format!("{}/{}", number(&rs.body, "/status/availableReplicas"), number(&rs.body, "/spec/replicas")),
                    "children": snapshot.pods_of(rs).map(|p| {
                        json!({"kind": "Pod", "name": p.key.name, "status": pod_summary(&p.body).status(), "children": []})
                    }).collect::<Vec<_>>(),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    json!({
        "group": resource.group, "kind": resource.kind, "namespace": resource.namespace, "name": resource.name,
        "sync": resource.status, "health": health.status, "healthMessage": health.message.map(|m| redact(&m)),
        "requiresPruning": resource.requires_pruning == Some(true),
        "children": children,
    })
}

/// The applications page: each Application's sync and health, commit and resource tree.
pub fn applications(store: &Store) -> Result<Json> {
    let snapshot = Snapshot::read(store, None)?;
    let items: Vec<Json> = store
        .list(Some("argoproj.io"), "Application", None)?
        .iter()
        .filter_map(|stored| {
            let app = Application::deserialize(&*stored.body).ok()?;
            let status = app.status.clone().unwrap_or_default();
            let source = app.spec.source.clone().unwrap_or_default();
            let operation = status.operation_state.as_ref().map(|op| {
                json!({
                    "phase": op.phase,
                    "message": op.message.as_deref().map(redact),
                    "finishedAt": op.finished_at.map(Time::millis),
                })
            });
            Some(json!({
                "namespace": stored.key.namespace,
                "name": stored.key.name,
                "project": app.spec.project.clone().unwrap_or_else(|| "default".into()),
                "repo": redact(&source.repo_url),
                "path": source.path.unwrap_or_default(),
                "targetRevision": source.target_revision.unwrap_or_else(|| "HEAD".into()),
                "automated": app.spec.automated().is_some(),
                "sync": if status.sync.status.is_empty() { "Unknown" } else { status.sync.status.as_str() },
                "revision": status.sync.revision,
                "health": if status.health.status.is_empty() { "Unknown" } else { status.health.status.as_str() },
                "healthMessage": status.health.message.as_deref().map(redact),
                "conditions": status.conditions.iter().map(|c| json!({"type": c.kind, "message": redact(&c.message)})).collect::<Vec<_>>(),
                "operation": operation,
                "syncRequested": app.operation.is_some(),
                "reconciledAt": status.reconciled_at.map(Time::millis),
                "images": status.summary.images,
                "resources": status.resources.iter().map(|r| resource_view(r, &snapshot)).collect::<Vec<_>>(),
            }))
        })
        .collect();
    Ok(json!({"applications": items}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serin_model::ObjectKey;

    fn put(store: &Store, key: ObjectKey, body: Json) {
        store.put(&key, &body, None).unwrap();
    }

    fn replica_set(hash: &str, revision: &str, replicas: i64, image: &str) -> Json {
        json!({
            "metadata": {
                "name": format!("web-{hash}"), "namespace": "default",
                "creationTimestamp": "2025-01-01T00:00:00Z",
                "labels": {"app": "web", POD_TEMPLATE_HASH_LABEL: hash},
                "annotations": {"rollout.argoproj.io/revision": revision},
                "ownerReferences": [{"kind": "Rollout", "name": "web"}],
            },
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}},
            "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas},
        })
    }

    /// The seed's step 1 in miniature: a routed canary paused at 10% on a timed pause.
    fn paused_canary() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("serin.db")).unwrap();
        put(
            &store,
            ObjectKey::new("argoproj.io/v1alpha1", "Rollout", "default", "web"),
            json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2025-01-01T00:00:00Z"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:v2", "env": [{"name": "PASSWORD", "value": "hunter2"}]}]}},
                    "strategy": {"canary": {
                        "canaryService": "web-canary", "stableService": "web-stable",
                        "trafficRouting": {"traefik": {"weightedTraefikServiceName": "web"}},
                        "steps": [{"setWeight": 10}, {"pause": {"duration": "5m"}}, {"setWeight": 50}],
                    }},
                },
                "status": {
                    "phase": "Paused", "message": "CanaryPauseStep", "currentStepIndex": 1,
                    "stableRS": "aaa", "currentPodHash": "bbb",
                    "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2025-01-01T00:10:00Z"}],
                    "replicas": 3, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3,
                    "canary": {"weights": {
                        "canary": {"weight": 10, "podTemplateHash": "bbb", "serviceName": "web-canary"},
                        "stable": {"weight": 90, "podTemplateHash": "aaa", "serviceName": "web-stable"},
                    }},
                },
            }),
        );
        put(&store, objects::replica_set_key("default", "web-aaa"), replica_set("aaa", "1", 2, "web:v1"));
        put(&store, objects::replica_set_key("default", "web-bbb"), replica_set("bbb", "2", 1, "web:v2"));
        put(
            &store,
            objects::pod_key("default", "web-bbb-x1"),
            json!({
                "metadata": {
                    "name": "web-bbb-x1", "namespace": "default", "creationTimestamp": "2025-01-01T00:09:00Z",
                    "labels": {POD_TEMPLATE_HASH_LABEL: "bbb"}, "ownerReferences": [{"kind": "ReplicaSet", "name": "web-bbb"}],
                },
                "spec": {"containers": [{"name": "web"}]},
                "status": {"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 2}]},
            }),
        );
        (dir, store)
    }

    #[test]
    fn the_rollouts_list_shows_step_weights_and_images_by_role() {
        let (_dir, store) = paused_canary();
        let view = rollouts(&store).unwrap();
        let web = &view["rollouts"][0];
        assert_eq!((web["phase"].as_str(), web["step"].clone()), (Some("Paused"), json!([1, 3])));
        assert_eq!((web["setWeight"].as_i64(), web["actualWeight"].as_i64()), (Some(10), Some(10)));
        assert_eq!(
            web["images"],
            json!([{"image": "web:v1", "role": "stable"}, {"image": "web:v2", "role": "canary"}])
        );
        assert_eq!((web["ready"].as_i64(), web["desired"].as_i64()), (Some(3), Some(2)));
    }

    #[test]
    fn a_rollout_page_marks_the_step_counts_the_pause_down_and_splits_traffic_by_revision() {
        let (_dir, store) = paused_canary();
        let view = rollout(&store, &TrafficSampler::default(), "default", "web").unwrap().unwrap();
        let states: Vec<&str> =
            view["steps"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["done", "current", "pending"]);
        assert_eq!(view["steps"][1]["text"], "pause: 5m");
        let started = Time::parse("2025-01-01T00:10:00Z").unwrap().millis();
        assert_eq!(view["pause"]["endsAt"].as_i64(), Some(started + 300_000));
        let revisions: Vec<(i64, &str, i64, usize)> = view["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["revision"].as_i64().unwrap(),
                    r["role"].as_str().unwrap(),
                    r["weight"].as_i64().unwrap(),
                    r["pods"].as_array().unwrap().len(),
                )
            })
            .collect();
        assert_eq!(revisions, [(2, "canary", 10, 1), (1, "stable", 90, 0)]);
        assert_eq!(view["revisions"][0]["pods"][0]["restarts"], 2);
        assert_eq!(view["revisions"][0]["pods"][0]["status"], "Running");
        let actions = &view["actions"];
        assert_eq!(
            [&actions["promote"], &actions["abort"], &actions["retry"], &actions["undo"]],
            [&json!(true), &json!(true), &json!(false), &json!(true)]
        );
        assert!(!view.to_string().contains("hunter2"), "the pod environment reached the page: {view}");
        assert!(rollout(&store, &TrafficSampler::default(), "default", "nope").unwrap().is_none());
    }
}

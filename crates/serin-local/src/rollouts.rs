//! The rollout controller: feeds each Rollout and what the platform observed into the engine,
//! and writes its decision back (ReplicaSets, Service selectors, TraefikService weights,
//! AnalysisRuns, status, events) in one transaction, so a crash never leaves half a decision.

use crate::clock::Clock;
use crate::objects::{self, owned_by, pod_key, replica_set_key};
use crate::store::{EventRecord, Result, Store, StoreError, Stored, Writer};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use serin_engine::objects::analysis_run_spec;
use serin_engine::state::{Action, AnalysisRunState, Event, REVISION_ANNOTATION, ServedWeights, TrafficIntent, World};
use serin_engine::{antiaffinity, ephemeral};
use serin_model::ObjectKey;
use serin_model::rollout::Rollout;
use serin_model::traefik::GROUPS;
use std::collections::HashMap;
use std::sync::Arc;

/// Annotation on a TraefikService carrying the header and mirror routes the router adds.
pub const ROUTES_ANNOTATION: &str = "serin.dev/canary-routes";

/// Weights the router is serving, per (namespace, TraefikService name), reported by the router.
pub type ServedTable = parking_lot::RwLock<HashMap<(String, String), ServedWeights>>;

/// The pod-template hash each Service's selector names in the route table the router serves,
/// per (namespace, Service name), reported by the router: a blue-green promote waits for it.
pub type ServedSelectors = parking_lot::RwLock<HashMap<(String, String), String>>;

pub struct RolloutController {
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    pub served: Arc<ServedTable>,
    /// Per Rollout, the inputs of its last decision that wrote nothing, and when that decision
    /// asked to run again: a Rollout whose inputs did not change is not decided again before
    /// then (the engine is pure, so the decision would be the same). With 500 Rollouts this
    /// keeps a pass that one of them needs from re-deciding the other 499.
    pub settled: parking_lot::Mutex<HashMap<ObjectKey, Settled>>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settled {
    inputs: u64,
    due: Option<serin_model::Time>,
}

impl RolloutController {
    /// Reconciles every Rollout once; returns when the next one is due (virtual milliseconds).
    pub fn reconcile_all(&self) -> Result<Option<i64>> {
        let mut next: Option<i64> = None;
        let rollouts = self.store.list(Some("argoproj.io"), "Rollout", None)?;
        if rollouts.is_empty() {
            return Ok(None);
        }
        let replica_sets = self.store.list(Some("apps"), "ReplicaSet", None)?;
        let pods = self.store.list(Some(""), "Pod", None)?;
        let runs = self.store.list(Some("argoproj.io"), "AnalysisRun", None)?;
        let owned = Owned {
            replica_sets: objects::by_owner(&replica_sets, "Rollout"),
            pods: objects::by_owner(&pods, "ReplicaSet"),
            runs: objects::by_owner(&runs, "Rollout"),
        };
        let present: std::collections::HashSet<&ObjectKey> = rollouts.iter().map(|r| &r.key).collect();
        self.settled.lock().retain(|key, _| present.contains(key));
        for stored in &rollouts {
            match self.reconcile(stored, &owned) {
                Ok(Some(after)) => next = Some(next.map_or(after, |n| n.min(after))),
                Ok(None) => {}
                Err(StoreError::Conflict(..)) => next = Some(0),
                Err(e) => return Err(e),
            }
        }
        Ok(next)
    }

    /// A fingerprint of everything a decision about this Rollout reads, but the clock: the
    /// Rollout, its ReplicaSets, their pods, its AnalysisRuns (revisions), the Services and
    /// TraefikServices it steers (revisions), and the weights the router serves.
    /// Also returns the Services the Rollout names that the store lacks (read once, here).
    fn inputs(&self, stored: &Stored, owned: &Owned<'_>) -> (u64, Vec<String>) {
        use std::hash::{Hash, Hasher};
        let (namespace, name) = (stored.key.namespace.as_str(), stored.key.name.as_str());
        let mut hash = std::hash::DefaultHasher::new();
        stored.rev.hash(&mut hash);
        for rs in Owned::of(&owned.replica_sets, namespace, name) {
            (&rs.key.name, rs.rev).hash(&mut hash);
            for pod in Owned::of(&owned.pods, namespace, &rs.key.name) {
                (&pod.key.name, pod.rev).hash(&mut hash);
            }
        }
        for run in Owned::of(&owned.runs, namespace, name) {
            (&run.key.name, run.rev).hash(&mut hash);
        }
        let canary = &stored.body["spec"]["strategy"]["canary"];
        let blue_green = &stored.body["spec"]["strategy"]["blueGreen"];
        let services = [
            &canary["stableService"],
            &canary["canaryService"],
            &blue_green["activeService"],
            &blue_green["previewService"],
        ];
        let mut steered = Vec::new();
        for service in services.into_iter().filter_map(Json::as_str).filter(|s| !s.is_empty()) {
            steered.push(ObjectKey::new("v1", "Service", namespace, service));
        }
        if let Some(split) = canary.pointer("/trafficRouting/traefik/weightedTraefikServiceName").and_then(Json::as_str)
        {
            for group in GROUPS {
                steered.push(ObjectKey::new(&format!("{group}/v1alpha1"), "TraefikService", namespace, split));
                let served = self.served.read().get(&(namespace.to_string(), split.to_string())).copied();
                served.map(|w| (w.canary, w.stable)).hash(&mut hash);
            }
        }
        let mut missing_services = Vec::new();
        for key in steered {
            let rev = self.store.get(&key).ok().flatten().map(|o| o.rev);
            if rev.is_none() && key.kind == "Service" {
                missing_services.push(key.name);
            }
            rev.hash(&mut hash);
        }
        (hash.finish(), missing_services)
    }

    fn reconcile(&self, stored: &Stored, owned: &Owned<'_>) -> Result<Option<i64>> {
        let (inputs, missing_services) = self.inputs(stored, owned);
        let now = self.clock.now();
        if let Some(settled) = self.settled.lock().get(&stored.key).filter(|s| s.inputs == inputs) {
            match settled.due {
                None => return Ok(None),
                Some(due) if due > now => return Ok(Some(due.millis() - now.millis())),
                Some(_) => {}
            }
        }
        let Ok(rollout) = Rollout::deserialize(&*stored.body) else {
            tracing::warn!(rollout = %stored.key, "stored rollout does not decode; skipped");
            return Ok(None);
        };
        let namespace = rollout.metadata.namespace().to_string();
        let name = rollout.metadata.name().to_string();
        let replica_sets = Owned::of(&owned.replica_sets, &namespace, &name);
        let mut pods: Vec<&Stored> = Vec::new();
        let states: Vec<_> = replica_sets
            .iter()
            .map(|rs| {
                let own = Owned::of(&owned.pods, &namespace, &rs.key.name);
                pods.extend(own);
                objects::replica_set_state(&rs.body, &own.iter().map(|p| &*p.body).collect::<Vec<_>>())
            })
            .collect();
        let runs: Vec<AnalysisRunState> = Owned::of(&owned.runs, &namespace, &name)
            .iter()
            .map(|run| objects::analysis_run_state(&run.body))
            .collect();
        let traefik = rollout
            .spec
            .strategy
            .canary
            .as_ref()
            .and_then(|c| c.traffic_routing.as_ref())
            .and_then(|t| t.traefik.as_ref());
        let served = traefik.and_then(|t| {
            self.served.read().get(&(namespace.clone(), t.weighted_traefik_service_name.clone())).copied()
        });
        // A missing Service is Argo's InvalidSpec until it exists (applying it changes this
        // Rollout's inputs, so it is decided again at once).
        let decision = serin_engine::reconcile(&World {
            rollout: &rollout,
            replica_sets: &states,
            analysis_runs: &runs,
            served_weights: served,
            missing_services: &missing_services,
            now,
        });
        let status = serde_json::to_value(&decision.status).unwrap_or_default();
        let status_changed = stored.body.get("status") != Some(&status);
        let switched = self.store.write(|w| {
            let mut sets = ReplicaSetEdits::new(replica_sets);
            for action in &decision.actions {
                self.carry_out(w, &rollout, stored, &mut sets, &pods, action)?;
            }
            sets.write(w)?;
            let switched = apply_traffic(w, &rollout, &decision.traffic)?;
            if status_changed {
                let mut body = serde_json::Value::clone(&stored.body);
                body["status"] = status;
                w.put(&stored.key, &body, Some(stored.rev))?;
            }
            Ok(switched)
        })?;
        for event in decision.events.iter().chain(&switched) {
            let record = EventRecord {
                time: now,
                kind: if event.warning { "Warning" } else { "Normal" }.to_string(),
                reason: event.reason.clone(),
                message: event.message.clone(),
            };
            self.store.record_event(&stored.key, &record)?;
        }
        let due = decision.requeue_after.map(|ms| now.plus_millis(ms));
        self.settled.lock().insert(stored.key.clone(), Settled { inputs, due });
        Ok(decision.requeue_after)
    }

    fn carry_out(
        &self,
        w: &mut Writer<'_>,
        rollout: &Rollout,
        stored: &Stored,
        sets: &mut ReplicaSetEdits,
        pods: &[&Stored],
        action: &Action,
    ) -> Result<()> {
        let namespace = rollout.metadata.namespace();
        let now = self.clock.now();
        match action {
            Action::CreateReplicaSet(new) => {
                let body = objects::replica_set(rollout, &stored.body, new, now);
                sets.create(replica_set_key(namespace, &new.name), body);
            }
            Action::ScaleReplicaSet { name, to, .. } => sets.edit(name, |rs| rs["spec"]["replicas"] = (*to).into()),
            Action::SetRevision { name, revision } => {
                sets.edit(name, |rs| rs["metadata"]["annotations"][REVISION_ANNOTATION] = revision.to_string().into())
            }
            Action::SetScaleDownDeadline { name, deadline } => {
                sets.edit(name, |rs| serin_engine::objects::set_scale_down_deadline(rs, *deadline))
            }
            Action::SyncEphemeralMetadata { name, previous, desired } => {
                let patch = ephemeral::metadata_patch(previous.as_ref(), desired.as_ref());
                sets.edit(name, |rs| {
                    ephemeral::apply_metadata_patch(&mut rs["spec"]["template"]["metadata"], &patch);
                    ephemeral::record(rs, desired.as_ref());
                });
                for pod in pods.iter().filter(|p| owned_by(&p.body, "ReplicaSet", name)) {
                    let mut body = Json::clone(&pod.body);
                    ephemeral::apply_metadata_patch(&mut body["metadata"], &patch);
                    w.put(&pod.key, &body, None)?;
                }
            }
            Action::SetAntiAffinity { name, avoid } => {
                let affinity = antiaffinity::replica_set_affinity(rollout, avoid.as_deref());
                sets.edit(name, |rs| match &affinity {
                    Some(affinity) => rs["spec"]["template"]["spec"]["affinity"] = affinity.clone(),
                    None => {
                        rs["spec"]["template"]["spec"].as_object_mut().map(|spec| spec.remove("affinity"));
                    }
                });
            }
            Action::DeleteReplicaSet { name } => {
                sets.delete(name);
                w.delete(&replica_set_key(namespace, name))?;
                for pod in pods.iter().filter(|p| owned_by(&p.body, "ReplicaSet", name)) {
                    objects::mark_for_deletion(w, pod, now)?;
                }
            }
            Action::DeletePod { name } => {
                if let Some(pod) = pods.iter().find(|p| p.key == pod_key(namespace, name)) {
                    objects::mark_for_deletion(w, pod, now)?;
                }
            }
            Action::CreateAnalysisRun(request) => {
                let key = ObjectKey::new("argoproj.io/v1alpha1", "AnalysisRun", namespace, &request.name);
                let spec = analysis_run_spec(namespace, request, |key| w.get(&key).map(|t| t.map(|t| t.body)))?;
                let mut body = serin_engine::objects::analysis_run(rollout, &stored.body["metadata"], request, spec);
                body["metadata"]["uid"] = objects::new_uid().into();
                body["metadata"]["creationTimestamp"] = now.to_string().into();
                w.put(&key, &body, None)?;
            }
            Action::DeleteAnalysisRun { name } => {
                w.delete(&ObjectKey::new("argoproj.io/v1alpha1", "AnalysisRun", namespace, name))?;
            }
            Action::TerminateAnalysisRun { name } => {
                let key = ObjectKey::new("argoproj.io/v1alpha1", "AnalysisRun", namespace, name);
                if let Some(run) = w.get(&key)? {
                    let mut body = Json::clone(&run.body);
                    body["spec"]["terminate"] = true.into();
                    w.put(&key, &body, None)?;
                }
            }
        }
        Ok(())
    }
}

/// The objects every Rollout owns, listed once per pass and grouped by owner.
struct Owned<'a> {
    replica_sets: HashMap<(&'a str, &'a str), Vec<&'a Stored>>,
    /// Pods by their ReplicaSet.
    pods: HashMap<(&'a str, &'a str), Vec<&'a Stored>>,
    runs: HashMap<(&'a str, &'a str), Vec<&'a Stored>>,
}

impl Owned<'_> {
    /// The objects in one of the groups owned by `owner` in `namespace`.
    fn of<'g, 'a>(
        groups: &'g HashMap<(&'g str, &'g str), Vec<&'a Stored>>,
        namespace: &'g str,
        owner: &'g str,
    ) -> &'g [&'a Stored] {
        groups.get(&(namespace, owner)).map_or(&[], Vec::as_slice)
    }
}

/// The ReplicaSets of one decision: several actions may change the same one (scale it, then
/// clear its deadline), so edits accumulate and each changed ReplicaSet is written once.
struct ReplicaSetEdits {
    sets: Vec<(ObjectKey, Option<i64>, Json, bool)>,
}

impl ReplicaSetEdits {
    fn new(existing: &[&Stored]) -> Self {
        ReplicaSetEdits {
            sets: existing
                .iter()
                .map(|rs| (rs.key.clone(), Some(rs.rev), serde_json::Value::clone(&rs.body), false))
                .collect(),
        }
    }

    fn create(&mut self, key: ObjectKey, body: Json) {
        self.sets.push((key, None, body, true));
    }

    fn edit(&mut self, name: &str, change: impl FnOnce(&mut Json)) {
        if let Some((_, _, body, dirty)) = self.sets.iter_mut().find(|(key, ..)| key.name == name) {
            change(body);
            *dirty = true;
        }
    }

    fn delete(&mut self, name: &str) {
        self.sets.retain(|(key, ..)| key.name != name);
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<()> {
        for (key, rev, body, _) in self.sets.iter().filter(|(.., dirty)| *dirty) {
            w.put(key, body, *rev)?;
        }
        Ok(())
    }
}

/// Points the stable and canary (or active and preview) Services at their ReplicaSets and
/// sets the TraefikService weights (in every API group that has the TraefikService), writing
/// only what changed; returns Argo's `SwitchService` event for each Service switched.
fn apply_traffic(w: &mut Writer<'_>, rollout: &Rollout, traffic: &TrafficIntent) -> Result<Vec<Event>> {
    let namespace = rollout.metadata.namespace();
    let managed_by = rollout.metadata.name();
    let (stable_service, canary_service) = rollout.spec.strategy.services();
    let mut switched = Vec::new();
    for (service, hash) in [(stable_service, &traffic.stable_hash), (canary_service, &traffic.canary_hash)] {
        let (Some(service), Some(hash)) = (service, hash) else { continue };
        let key = ObjectKey::new("v1", "Service", namespace, service);
        let Some(stored) = w.get(&key)? else { continue };
        let mut body = serde_json::Value::clone(&stored.body);
        switched.extend(serin_engine::objects::select_revision(&mut body, hash, managed_by));
        if body != *stored.body {
            w.put(&key, &body, Some(stored.rev))?;
        }
    }
    let Some(canary) = &rollout.spec.strategy.canary else { return Ok(switched) };
    let Some(traefik) = canary.traffic_routing.as_ref().and_then(|t| t.traefik.as_ref()) else { return Ok(switched) };
    let Some(weight) = traffic.canary_weight else { return Ok(switched) };
    let routes = json!({
        "canaryService": canary.canary_service,
        "headerRoutes": traffic.header_routes.iter().map(|r| json!({"name": r.name, "match": r.matches})).collect::<Vec<_>>(),
        "mirrorRoutes": traffic.mirror_routes.iter().map(|r| json!({"name": r.name, "match": r.matches, "percentage": r.percentage})).collect::<Vec<_>>(),
    });
    for group in GROUPS {
        let key = ObjectKey::new(
            &format!("{group}/v1alpha1"),
            "TraefikService",
            namespace,
            &traefik.weighted_traefik_service_name,
        );
        let Some(stored) = w.get(&key)? else { continue };
        let mut body = serde_json::Value::clone(&stored.body);
        serin_engine::objects::set_traefik_weights(
            &mut body,
            canary.canary_service.as_deref().unwrap_or_default(),
            canary.stable_service.as_deref().unwrap_or_default(),
            weight,
            traffic.max_weight,
        );
        let has_routes = !traffic.header_routes.is_empty() || !traffic.mirror_routes.is_empty();
        let annotations = &mut body["metadata"]["annotations"];
        if has_routes {
            annotations[ROUTES_ANNOTATION] = routes.to_string().into();
        } else if let Some(map) = annotations.as_object_mut() {
            map.remove(ROUTES_ANNOTATION);
        }
        if body != *stored.body {
            w.put(&key, &body, Some(stored.rev))?;
        }
    }
    Ok(switched)
}

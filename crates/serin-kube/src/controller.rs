//! The Rollout controller for a cluster: for each Rollout it gathers what the cluster shows
//! (its ReplicaSets and their pods, its AnalysisRuns, the weights its routers carry), asks the
//! engine what to do, and does it through the API server: ReplicaSets created, scaled and
//! deleted with owner references, Services and routers steered, status written through the
//! status subresource, Kubernetes Events for each step. Every write is conditional on the
//! resourceVersion it was decided from, so a stale decision fails instead of winning.

use crate::cache::Caches;
use crate::events::Recorder;
use crate::resources::{self, from_json, to_json};
use crate::traffic::{Routes, merge_patch};
use kube::Client;
use kube::api::{DeleteParams, PostParams};
use kube::core::DynamicObject;
use kube::runtime::reflector::{ObjectRef, Store};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use serin_engine::objects::{self, analysis_run_spec};
use serin_engine::state::{
    Action, AnalysisRunState, Event, REVISION_ANNOTATION, ReplicaSetState, SCALE_DOWN_DEADLINE_ANNOTATION, World,
};
use serin_engine::{antiaffinity, ephemeral};
use serin_model::rollout::{Rollout, RolloutStatus};
use serin_model::{ObjectKey, Time};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The condition that says whether the Rollout's traffic routers exist.
pub const CONDITION_TRAFFIC_ROUTING: &str = "TrafficRouting";
/// A pass over every Rollout at least this often, so drift in unwatched objects (a
/// TraefikService edited by hand or by a GitOps tool) is corrected.
pub const RESYNC: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Invalid(String),
}

pub struct Controller {
    client: Client,
    caches: Arc<Caches>,
    recorder: Recorder,
}

/// The wall clock, as the engine's time.
pub fn now() -> Time {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Time::from_millis(millis as i64)
}

impl Controller {
    pub fn new(client: Client, caches: Arc<Caches>, identity: &str) -> Controller {
        Controller { recorder: Recorder::new(client.clone(), "serin-controller", identity), client, caches }
    }

    /// Decides every Rollout once; returns how soon the next pass is due.
    pub async fn pass(&self) -> Duration {
        let mut next = RESYNC;
        let owned = Owned::read(&self.caches);
        for rollout in self.caches.rollouts.state() {
            let due = match self.reconcile(&rollout, &owned).await {
                Ok(Some(after)) => Duration::from_millis(after.max(0) as u64),
                Ok(None) => continue,
                Err(error) => {
                    let name = rollout.metadata.name.as_deref().unwrap_or_default();
                    let namespace = rollout.metadata.namespace.as_deref().unwrap_or_default();
                    tracing::warn!(rollout = %format!("{namespace}/{name}"), %error, "reconcile failed; retrying");
                    // An API error may pass in a moment; a Rollout that does not decode
                    // waits for its next change (which wakes the controller) or the resync.
                    match error {
                        Error::Kube(_) => Duration::from_secs(1),
                        Error::Invalid(_) => RESYNC,
                    }
                }
            };
            next = next.min(due);
        }
        next
    }

    async fn reconcile(&self, object: &DynamicObject, owned: &Owned) -> Result<Option<i64>, Error> {
        let body = to_json(object);
        let rollout =
            Rollout::deserialize(&body).map_err(|e| Error::Invalid(format!("the Rollout does not decode: {e}")))?;
        let namespace = rollout.metadata.namespace().to_string();
        let uid = rollout.metadata.uid.clone().unwrap_or_default();
        let replica_sets = self.replica_sets_of(&rollout, &body, &uid, owned).await?;
        let states: Vec<_> = replica_sets
            .iter()
            .map(|rs| {
                let pods = Owned::of(&owned.pods, rs["metadata"]["uid"].as_str().unwrap_or_default());
                objects::replica_set_state(rs, &pods.iter().collect::<Vec<_>>())
            })
            .collect();
        let runs: Vec<AnalysisRunState> =
            Owned::of(&owned.runs, &uid).iter().map(objects::analysis_run_state).collect();
        let routes =
            Some(Routes::load(&self.client, &namespace, rollout.metadata.name(), &rollout.spec.strategy).await?);
        let now = now();
        let missing_services = routes.as_ref().map(Routes::missing_services).unwrap_or_default();
        let decision = serin_engine::reconcile(&World {
            rollout: &rollout,
            replica_sets: &states,
            analysis_runs: &runs,
            served_weights: routes.as_ref().and_then(Routes::served),
            missing_services: &missing_services,
            now,
        });
        let mut written = 0;
        for action in &decision.actions {
            written += self.carry_out(&rollout, &body, &states, action).await?;
        }
        let mut events = decision.events.clone();
        let mut status = decision.status.clone();
        if let Some(routes) = &routes {
            let mut switched = Vec::new();
            written += routes.apply(&body["metadata"], &decision.traffic, &mut switched).await?;
            // Said at once, as Argo does: the Services changed even if the status write below
            // fails, and the next pass will find nothing left to switch.
            for event in &switched {
                self.publish(object, event).await;
            }
            let missing = routes.missing();
            let had = has_condition(&status, CONDITION_TRAFFIC_ROUTING);
            if missing.is_empty() {
                status.conditions.retain(|c| c.kind != CONDITION_TRAFFIC_ROUTING);
            } else {
                let message = missing.join("; ");
                if !had {
                    events.push(Event::warning("TrafficRoutingError", message.clone()));
                }
                serin_engine::reconcile::set_condition(
                    &mut status,
                    CONDITION_TRAFFIC_ROUTING,
                    "False",
                    "TrafficRoutingError",
                    &message,
                    now,
                );
            }
        }
        if Some(&status) != rollout.status.as_ref() {
            let mut updated = body.clone();
            updated["status"] = serde_json::to_value(&status).unwrap_or_default();
            let api = resources::namespaced(&self.client, &namespace, &resources::rollouts());
            api.replace_status(
                rollout.metadata.name(),
                &PostParams::default(),
                &from_json(updated).map_err(kube::Error::SerdeError)?,
            )
            .await?;
            written += 1;
        }
        for event in &events {
            self.publish(object, event).await;
        }
        Ok(if written > 0 { Some(0) } else { decision.requeue_after })
    }

    /// The ReplicaSets the Rollout controls, adopting orphans its selector matches (a
    /// ReplicaSet left by another controller, or created by hand with Argo's name and labels).
    async fn replica_sets_of(
        &self,
        rollout: &Rollout,
        body: &Json,
        uid: &str,
        owned: &Owned,
    ) -> Result<Vec<Json>, Error> {
        let namespace = rollout.metadata.namespace();
        let selector = rollout.spec.selector.clone().unwrap_or_default();
        let mut sets = Owned::of(&owned.replica_sets, uid).to_vec();
        for orphan in Owned::of(&owned.orphans, namespace) {
            let labels = serde_json::from_value(orphan["metadata"]["labels"].clone()).unwrap_or_default();
            let hashed = orphan["metadata"]["labels"][serin_engine::state::POD_TEMPLATE_HASH_LABEL].is_string();
            let deleting = orphan["metadata"]["deletionTimestamp"].is_string();
            if !hashed || deleting || selector.match_labels.is_empty() || !selector.matches(&labels) {
                continue;
            }
            let name = orphan["metadata"]["name"].as_str().unwrap_or_default();
            let mut references = orphan["metadata"]["ownerReferences"].as_array().cloned().unwrap_or_default();
            references.extend(
                objects::controller_reference("argoproj.io/v1alpha1", "Rollout", &body["metadata"])
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            let api = resources::namespaced(&self.client, namespace, &resources::replica_sets());
            merge_patch(&api, name, json!({"metadata": {"ownerReferences": references}})).await?;
            tracing::info!(replicaset = %name, rollout = rollout.metadata.name(), "adopted ReplicaSet");
            let mut adopted = orphan.clone();
            adopted["metadata"]["ownerReferences"] = references.into();
            sets.push(adopted);
        }
        Ok(sets)
    }

    /// Carries out one action; returns how many objects it wrote.
    async fn carry_out(
        &self,
        rollout: &Rollout,
        body: &Json,
        states: &[ReplicaSetState],
        action: &Action,
    ) -> Result<usize, Error> {
        let namespace = rollout.metadata.namespace();
        let replica_sets = resources::namespaced(&self.client, namespace, &resources::replica_sets());
        let annotate = |key: &str, value: Json| json!({"metadata": {"annotations": {key: value}}});
        match action {
            Action::CreateReplicaSet(new) => {
                let rs = objects::replica_set(rollout, &body["metadata"], new);
                create(&replica_sets, rs).await?;
            }
            Action::ScaleReplicaSet { name, to, .. } => {
                merge_patch(&replica_sets, name, json!({"spec": {"replicas": to}})).await?
            }
            Action::SetRevision { name, revision } => {
                merge_patch(&replica_sets, name, annotate(REVISION_ANNOTATION, revision.to_string().into())).await?
            }
            Action::SetScaleDownDeadline { name, deadline } => {
                let value = deadline.map_or(Json::Null, |d| d.to_string().into());
                merge_patch(&replica_sets, name, annotate(SCALE_DOWN_DEADLINE_ANNOTATION, value)).await?
            }
            Action::SyncEphemeralMetadata { name, previous, desired } => {
                // The template first, so pods created meanwhile carry the new metadata; the
                // pods it has; the record last, so a failure part-way is retried whole.
                let patch = ephemeral::metadata_patch(previous.as_ref(), desired.as_ref());
                merge_patch(&replica_sets, name, json!({"spec": {"template": {"metadata": patch}}})).await?;
                let pods = resources::namespaced(&self.client, namespace, &resources::pods());
                let owned = states.iter().filter(|rs| rs.name == *name).flat_map(|rs| &rs.pods);
                let mut written = 2;
                for pod in owned {
                    merge_patch(&pods, &pod.name, json!({"metadata": patch})).await?;
                    written += 1;
                }
                let record = ephemeral::recorded(desired.as_ref());
                merge_patch(&replica_sets, name, annotate(ephemeral::EPHEMERAL_METADATA_ANNOTATION, record)).await?;
                return Ok(written);
            }
            Action::SetAntiAffinity { name, avoid } => {
                let affinity = antiaffinity::affinity_merge_patch(rollout, avoid.as_deref());
                merge_patch(&replica_sets, name, json!({"spec": {"template": {"spec": {"affinity": affinity}}}}))
                    .await?
            }
            Action::DeleteReplicaSet { name } => delete(&replica_sets, name).await?,
            Action::DeletePod { name } => {
                delete(&resources::namespaced(&self.client, namespace, &resources::pods()), name).await?
            }
            Action::CreateAnalysisRun(request) => {
                let spec =
                    analysis_run_spec(namespace, request, |key| Ok::<_, std::convert::Infallible>(self.template(&key)))
                        .unwrap_or_else(|never| match never {});
                let run = objects::analysis_run(rollout, &body["metadata"], request, spec);
                create(&resources::namespaced(&self.client, namespace, &resources::analysis_runs()), run).await?;
            }
            Action::DeleteAnalysisRun { name } => {
                delete(&resources::namespaced(&self.client, namespace, &resources::analysis_runs()), name).await?
            }
            Action::TerminateAnalysisRun { name } => {
                let runs = resources::namespaced(&self.client, namespace, &resources::analysis_runs());
                merge_patch(&runs, name, json!({"spec": {"terminate": true}})).await?
            }
        }
        Ok(1)
    }

    /// An AnalysisTemplate or ClusterAnalysisTemplate from the caches.
    fn template(&self, key: &ObjectKey) -> Option<Arc<Json>> {
        let (store, resource) = if key.kind == "ClusterAnalysisTemplate" {
            (&self.caches.cluster_analysis_templates, resources::cluster_analysis_templates())
        } else {
            (&self.caches.analysis_templates, resources::analysis_templates())
        };
        let mut reference = ObjectRef::new_with(&key.name, resource);
        if !key.namespace.is_empty() {
            reference = reference.within(&key.namespace);
        }
        store.get(&reference).map(|t| Arc::new(to_json(&t)))
    }

    /// Records an event on the Rollout; a failure to record is logged, not fatal.
    async fn publish(&self, rollout: &DynamicObject, event: &Event) {
        let reference = kube::Resource::object_ref(rollout, &resources::rollouts());
        if let Err(error) = self.recorder.publish(event, &reference).await {
            tracing::warn!(%error, reason = %event.reason, "cannot record event");
        }
    }
}

/// The objects Rollouts own, read from the caches once per pass and grouped by the uid of
/// their controlling owner, so a pass costs O(objects), not O(Rollouts x objects).
struct Owned {
    /// ReplicaSets by their Rollout's uid.
    replica_sets: HashMap<String, Vec<Json>>,
    /// ReplicaSets without a controller, by namespace: candidates for adoption.
    orphans: HashMap<String, Vec<Json>>,
    /// Pods by their ReplicaSet's uid.
    pods: HashMap<String, Vec<Json>>,
    /// AnalysisRuns by their Rollout's uid.
    runs: HashMap<String, Vec<Json>>,
}

impl Owned {
    fn read(caches: &Caches) -> Owned {
        let mut orphans: HashMap<String, Vec<Json>> = HashMap::new();
        let replica_sets = by_controller(&caches.replica_sets, |rs| {
            let namespace = rs["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
            orphans.entry(namespace).or_default().push(rs);
        });
        Owned {
            replica_sets,
            orphans,
            pods: by_controller(&caches.pods, drop),
            runs: by_controller(&caches.analysis_runs, drop),
        }
    }

    fn of<'a>(groups: &'a HashMap<String, Vec<Json>>, key: &str) -> &'a [Json] {
        groups.get(key).map_or(&[], Vec::as_slice)
    }
}

/// A cache's objects as JSON, grouped by the uid of their controller; objects without one go
/// to `orphan`.
fn by_controller(store: &Store<DynamicObject>, mut orphan: impl FnMut(Json)) -> HashMap<String, Vec<Json>> {
    let mut groups: HashMap<String, Vec<Json>> = HashMap::new();
    for object in store.state() {
        let object = to_json(&object);
        match objects::controller_uid(&object).map(str::to_string) {
            Some(uid) => groups.entry(uid).or_default().push(object),
            None => orphan(object),
        }
    }
    groups
}

fn has_condition(status: &RolloutStatus, kind: &str) -> bool {
    status.conditions.iter().any(|c| c.kind == kind)
}

/// Creates an object; one that already exists (created by an earlier pass whose result the
/// caches have not shown yet) is not an error.
async fn create(api: &kube::Api<DynamicObject>, object: Json) -> kube::Result<()> {
    match api.create(&PostParams::default(), &from_json(object).map_err(kube::Error::SerdeError)?).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes an object in the background (its dependents go with it); one already gone is fine.
pub(crate) async fn delete(api: &kube::Api<DynamicObject>, name: &str) -> kube::Result<()> {
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(e) if resources::is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

//! The Rollout controller for a cluster: for each Rollout it gathers what the cluster shows
//! (its ReplicaSets and their pods, its AnalysisRuns, the weights its routers carry), asks the
//! engine what to do, and does it through the API server: ReplicaSets created, scaled and
//! deleted with owner references, Services and routers steered, status written through the
//! status subresource, Kubernetes Events for each step. Every write is conditional on the
//! resourceVersion it was decided from, so a stale decision fails instead of winning.

use crate::cache::Caches;
use crate::resources::{self, from_json, to_json};
use crate::traffic::{Routes, merge_patch};
use kube::Client;
use kube::api::{DeleteParams, PostParams};
use kube::core::DynamicObject;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use serin_engine::objects::{self, analysis_run_spec};
use serin_engine::state::{
    Action, AnalysisPhase, AnalysisRunState, Event, REVISION_ANNOTATION, SCALE_DOWN_DEADLINE_ANNOTATION, World,
};
use serin_model::rollout::{Rollout, RolloutStatus};
use serin_model::{ObjectKey, Time};
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
        let reporter = Reporter { controller: "serin-controller".to_string(), instance: Some(identity.to_string()) };
        Controller { recorder: Recorder::new(client.clone(), reporter), client, caches }
    }

    /// Decides every Rollout once; returns how soon the next pass is due.
    pub async fn pass(&self) -> Duration {
        let mut next = RESYNC;
        for rollout in self.caches.rollouts.state() {
            let due = match self.reconcile(&rollout).await {
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

    async fn reconcile(&self, object: &DynamicObject) -> Result<Option<i64>, Error> {
        let body = to_json(object);
        let rollout =
            Rollout::deserialize(&body).map_err(|e| Error::Invalid(format!("the Rollout does not decode: {e}")))?;
        let namespace = rollout.metadata.namespace().to_string();
        let uid = rollout.metadata.uid.clone().unwrap_or_default();
        let replica_sets = self.replica_sets_of(&rollout, &body, &uid).await?;
        let rs_uids: Vec<&str> = replica_sets.iter().filter_map(|rs| rs["metadata"]["uid"].as_str()).collect();
        let pods: Vec<Json> = self
            .caches
            .pods
            .state()
            .iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(&namespace))
            .map(|p| to_json(p))
            .filter(|p| rs_uids.iter().any(|uid| controller_uid(p) == Some(uid)))
            .collect();
        let states: Vec<_> = replica_sets
            .iter()
            .map(|rs| {
                let own: Vec<&Json> =
                    pods.iter().filter(|p| controller_uid(p) == rs["metadata"]["uid"].as_str()).collect();
                objects::replica_set_state(rs, &own)
            })
            .collect();
        let runs: Vec<AnalysisRunState> = self
            .caches
            .analysis_runs
            .state()
            .iter()
            .map(|run| to_json(run))
            .filter(|run| run["metadata"]["namespace"] == namespace.as_str() && controller_uid(run) == Some(&uid))
            .map(|run| AnalysisRunState {
                name: run["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                phase: run["status"]["phase"].as_str().and_then(AnalysisPhase::parse).unwrap_or(AnalysisPhase::Pending),
                message: run["status"]["message"].as_str().unwrap_or_default().to_string(),
            })
            .collect();
        let routes = match &rollout.spec.strategy.canary {
            Some(canary) => Some(Routes::load(&self.client, &namespace, rollout.metadata.name(), canary).await?),
            None => None,
        };
        let now = now();
        let decision = serin_engine::reconcile(&World {
            rollout: &rollout,
            replica_sets: &states,
            analysis_runs: &runs,
            served_weights: routes.as_ref().and_then(Routes::served),
            now,
        });
        let mut written = 0;
        for action in &decision.actions {
            written += self.carry_out(&rollout, &body, action).await?;
        }
        let mut events = decision.events.clone();
        let mut status = decision.status.clone();
        if let Some(routes) = &routes {
            written += routes.apply(&body["metadata"], &decision.traffic).await?;
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
    async fn replica_sets_of(&self, rollout: &Rollout, body: &Json, uid: &str) -> Result<Vec<Json>, Error> {
        let namespace = rollout.metadata.namespace();
        let selector = rollout.spec.selector.clone().unwrap_or_default();
        let mut owned = Vec::new();
        for rs in self.caches.replica_sets.state() {
            if rs.metadata.namespace.as_deref() != Some(namespace) {
                continue;
            }
            let mut rs = to_json(&rs);
            match controller_uid(&rs) {
                Some(owner) if owner == uid => owned.push(rs),
                Some(_) => {}
                None => {
                    let labels = serde_json::from_value(rs["metadata"]["labels"].clone()).unwrap_or_default();
                    let hashed = rs["metadata"]["labels"][serin_engine::state::POD_TEMPLATE_HASH_LABEL].is_string();
                    let deleting = rs["metadata"]["deletionTimestamp"].is_string();
                    if !hashed || deleting || selector.match_labels.is_empty() || !selector.matches(&labels) {
                        continue;
                    }
                    let name = rs["metadata"]["name"].as_str().unwrap_or_default().to_string();
                    let mut references = rs["metadata"]["ownerReferences"].as_array().cloned().unwrap_or_default();
                    references.extend(
                        objects::controller_reference("argoproj.io/v1alpha1", "Rollout", &body["metadata"])
                            .as_array()
                            .cloned()
                            .unwrap_or_default(),
                    );
                    let api = resources::namespaced(&self.client, namespace, &resources::replica_sets());
                    merge_patch(&api, &name, json!({"metadata": {"ownerReferences": references}})).await?;
                    tracing::info!(replicaset = %name, rollout = rollout.metadata.name(), "adopted ReplicaSet");
                    rs["metadata"]["ownerReferences"] = references.into();
                    owned.push(rs);
                }
            }
        }
        Ok(owned)
    }

    /// Carries out one action; returns how many objects it wrote.
    async fn carry_out(&self, rollout: &Rollout, body: &Json, action: &Action) -> Result<usize, Error> {
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
        let event = KubeEvent {
            type_: if event.warning { EventType::Warning } else { EventType::Normal },
            reason: event.reason.clone(),
            note: Some(event.message.clone()),
            action: event.reason.clone(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(%error, reason = %event.reason, "cannot record event");
        }
    }
}

fn has_condition(status: &RolloutStatus, kind: &str) -> bool {
    status.conditions.iter().any(|c| c.kind == kind)
}

/// The uid of an object's controlling owner.
pub(crate) fn controller_uid(object: &Json) -> Option<&str> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .and_then(|r| r["uid"].as_str())
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
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

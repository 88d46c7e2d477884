//! Kubernetes Events about a Rollout, in Argo's words, one Event per distinct message.
//! kube-runtime's `Recorder` keys its repeat cache on the reason but not the message, so for six
//! minutes every event of one reason about one object was folded into the first one's series:
//! "Scaled down ReplicaSet a" showed as the count of an earlier "Scaled up ReplicaSet b". Here,
//! as client-go's event correlator does for Argo Rollouts, only the same message again counts
//! as a repeat (the Event's `series`); any other message is an Event of its own.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as KubeEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serin_engine::state::Event;
use std::collections::HashMap;
use tokio::sync::Mutex;

/// How long a published message is remembered to count its repeats (kube-runtime's and
/// client-go's window).
const REPEAT_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// What makes two events the same one, repeated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Repeat {
    regarding_uid: String,
    warning: bool,
    reason: String,
    message: String,
}

pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    recent: Mutex<HashMap<Repeat, KubeEvent>>,
}

impl Recorder {
    /// Events reported by `controller` (`reportingController`), this replica being `instance`.
    pub fn new(client: Client, controller: &str, instance: &str) -> Recorder {
        Recorder {
            client,
            controller: controller.to_string(),
            instance: instance.to_string(),
            recent: Mutex::default(),
        }
    }

    /// Records `event` about the object `regarding`: a new Event, or the next count of the
    /// Event that said the same within the repeat window.
    pub async fn publish(&self, event: &Event, regarding: &ObjectReference) -> kube::Result<()> {
        let now = Timestamp::now();
        let repeat = Repeat {
            regarding_uid: regarding.uid.clone().unwrap_or_default(),
            warning: event.warning,
            reason: event.reason.clone(),
            message: event.message.clone(),
        };
        let mut recent = self.recent.lock().await;
        recent.retain(|_, published| last_seen(published).is_some_and(|at| at + REPEAT_WINDOW > now));
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let api: Api<KubeEvent> = Api::namespaced(self.client.clone(), namespace);
        let published = match recent.get(&repeat) {
            Some(earlier) => {
                let count = earlier.series.as_ref().map_or(2, |s| s.count + 1);
                let mut repeated = earlier.clone();
                repeated.series = Some(EventSeries { count, last_observed_time: MicroTime(now) });
                let patch = serde_json::json!({"series": repeated.series});
                api.patch(&repeated.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
                repeated
            }
            None => {
                let new = self.new_event(event, regarding, now);
                api.create(&PostParams::default(), &new).await?
            }
        };
        recent.insert(repeat, published);
        Ok(())
    }

    fn new_event(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> KubeEvent {
        let object = regarding.name.clone().unwrap_or_else(|| self.controller.clone());
        KubeEvent {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                namespace: regarding.namespace.clone(),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(if event.warning { "Warning" } else { "Normal" }.to_string()),
            reason: Some(event.reason.clone()),
            action: Some(event.reason.clone()),
            note: Some(event.message.clone()),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..KubeEvent::default()
        }
    }
}

fn last_seen(event: &KubeEvent) -> Option<Timestamp> {
    match &event.series {
        Some(series) => Some(series.last_observed_time.0),
        None => event.event_time.as_ref().map(|t| t.0),
    }
}

//! Watched copies of the objects a decision reads (Rollouts, their ReplicaSets, pods and
//! AnalysisRuns, analysis templates, the Jobs of `job` metrics), kept current by kube's
//! reflectors so a pass over every Rollout reads memory, not the API server; every change
//! wakes the controller.

use crate::resources;
use futures_util::StreamExt;
use kube::Client;
use kube::core::DynamicObject;
use kube::discovery::ApiResource;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use std::sync::Arc;
use tokio::sync::Notify;

pub struct Caches {
    pub rollouts: Store<DynamicObject>,
    pub replica_sets: Store<DynamicObject>,
    /// Only pods carrying the pod-template-hash label: the ones Rollouts own.
    pub pods: Store<DynamicObject>,
    pub analysis_runs: Store<DynamicObject>,
    pub analysis_templates: Store<DynamicObject>,
    pub cluster_analysis_templates: Store<DynamicObject>,
    /// Only Jobs carrying an AnalysisRun's uid label: the ones `job` metrics create.
    pub jobs: Store<DynamicObject>,
}

impl Caches {
    /// Starts watching; `changed` is notified on every event.
    pub fn start(client: &Client, namespace: Option<&str>, changed: &Arc<Notify>) -> Caches {
        let watch = |resource: ApiResource, labels: Option<&str>, namespace: Option<&str>| {
            reflect(client, namespace, resource, labels, changed.clone())
        };
        Caches {
            rollouts: watch(resources::rollouts(), None, namespace),
            replica_sets: watch(resources::replica_sets(), None, namespace),
            pods: watch(resources::pods(), Some(serin_engine::state::POD_TEMPLATE_HASH_LABEL), namespace),
            analysis_runs: watch(resources::analysis_runs(), None, namespace),
            analysis_templates: watch(resources::analysis_templates(), None, namespace),
            cluster_analysis_templates: watch(resources::cluster_analysis_templates(), None, None),
            jobs: watch(resources::jobs(), Some(crate::analysis::RUN_UID_LABEL), namespace),
        }
    }

    /// Waits until every cache holds a complete first listing.
    pub async fn ready(&self) {
        for store in [
            &self.rollouts,
            &self.replica_sets,
            &self.pods,
            &self.analysis_runs,
            &self.analysis_templates,
            &self.cluster_analysis_templates,
            &self.jobs,
        ] {
            // The writer lives as long as the watch task, which runs for the process's life.
            let _ = store.wait_until_ready().await;
        }
    }
}

/// A watched copy of `resource` (in `namespace`, with `labels`), notifying `changed` on every event.
pub(crate) fn reflect(
    client: &Client,
    namespace: Option<&str>,
    resource: ApiResource,
    labels: Option<&str>,
    changed: Arc<Notify>,
) -> Store<DynamicObject> {
    let api = resources::scoped(client, namespace, &resource);
    let writer = reflector::store::Writer::new(resource.clone());
    let reader = writer.as_reader();
    let mut config = watcher::Config::default();
    if let Some(labels) = labels {
        config = config.labels(labels);
    }
    let kind = resource.kind.clone();
    let events = reflector::reflector(writer, watcher(api, config)).default_backoff();
    tokio::spawn(async move {
        events
            .for_each(|event| {
                match event {
                    Ok(_) => changed.notify_one(),
                    Err(error) => tracing::warn!(%kind, %error, "watch failed; retrying"),
                }
                std::future::ready(())
            })
            .await;
    });
    reader
}

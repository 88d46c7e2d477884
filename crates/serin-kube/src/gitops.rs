//! Argo CD's Application on a cluster, run by `serin controller --gitops`: the Kubernetes
//! API's adapter of `serin_gitops`, which decides everything a sync does (the local
//! platform's store is its other adapter).
//!
//! For each Application it reads `spec.source` from git (on a poll, on request), lists the
//! live objects of the kinds the Application has or had in the namespaces they live in,
//! compares, writes the status Argo CD writes, and syncs when an operation asks or the
//! automated policy says so. A sync applies as kubectl does: a three-way merge with the
//! configuration last applied, then a replace conditional on the resourceVersion merged
//! with. So a field git never set, such as the pod-template-hash the rollout controller adds
//! to a Service's selector or the weights it writes into a TraefikService, is never reset;
//! a server-side apply by Argo CD takes the whole of a Service's selector, which is atomic.

use crate::cache::reflect;
use crate::controller::{Error, now};
use crate::events::Recorder;
use crate::resources::{self, from_json, to_json};
use kube::Client;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::runtime::reflector::Store;
use serde_json::{Value as Json, json};
use serin_engine::state::Event;
use serin_git::{GitSource, load_target};
use serin_gitops::apply::{LAST_APPLIED, Manifest, Outcome, carry_rollout_fields, merge};
use serin_gitops::compare::{Comparison, Difference, compare, differences};
use serin_gitops::refresh::{Read, Refreshes};
use serin_gitops::source::{Kinds, Target, target_error};
use serin_gitops::status::{Finished, record_sync, start_sync};
use serin_gitops::sync::{Next, Step, destination_namespace, next, prune_disabled, resource_result, steps};
use serin_gitops::tracking::{application_key, instance_name, tracked_by, tracked_manifest};
use serin_gitops::waves::{self, DeletePolicy, Phase, Progress, Task, TaskState};
use serin_gitops::webhook::{Received, Refused, WebhookSecrets, concerns, read_request};
use serin_model::ObjectKey;
use serin_model::application::{Application, Operation, ResourceResult, SyncOperation};
use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// How GitOps runs on the cluster.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the bare clones of Applications' repositories are kept.
    pub git_cache: std::path::PathBuf,
    /// The longest time between two reads of an Application's repository (Argo CD's
    /// `timeout.reconciliation`); a webhook or `serin app sync` reads it at once.
    pub resync: Duration,
    /// What push webhooks (`POST /api/webhook`) must prove, per forge.
    pub webhook_secrets: WebhookSecrets,
}

/// How often live objects are compared with what git last said, between reads of git:
/// drift shows this soon, and selfHeal repairs it after its own delay.
pub const COMPARE_EVERY: Duration = Duration::from_secs(3);

/// Where serin's sync events come from, as Argo CD's come from its application controller.
const REPORTER: &str = "serin-controller";

/// The syncOptions of an Application that change how it syncs.
const CREATE_NAMESPACE: &str = "CreateNamespace=true";
const SERVER_SIDE_APPLY: &str = "ServerSideApply=true";
/// The field manager of a server-side apply, Argo CD's.
const SERVER_SIDE_MANAGER: &str = "argocd-controller";

pub struct GitOps {
    client: Client,
    applications: Store<DynamicObject>,
    changed: Arc<Notify>,
    git: Arc<dyn GitSource>,
    resync_ms: i64,
    refreshes: parking_lot::Mutex<Refreshes>,
    cluster: Cluster,
    recorder: Recorder,
    webhook_secrets: WebhookSecrets,
}

/// The cluster as a sync sees it: any kind, found by discovery once.
pub struct Cluster {
    client: Client,
    kinds: tokio::sync::Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>,
}

impl GitOps {
    /// Starts watching Applications (in `namespace`, or everywhere).
    pub fn start(client: Client, namespace: Option<&str>, options: &Options, identity: &str) -> GitOps {
        let changed = Arc::new(Notify::new());
        let applications = reflect(&client, namespace, resources::applications(), None, changed.clone());
        GitOps {
            recorder: Recorder::new(client.clone(), REPORTER, identity),
            client: client.clone(),
            applications,
            changed,
            git: Arc::new(serin_git::GitCache::new(options.git_cache.clone())),
            resync_ms: options.resync.as_millis() as i64,
            refreshes: Default::default(),
            cluster: Cluster::new(client.clone()),
            webhook_secrets: options.webhook_secrets.clone(),
        }
    }

    /// A git push webhook (its headers by lower-case name, its body): every Application the
    /// push concerns is read from git at once; answers which, as `{"refreshed": [...]}`.
    pub fn webhook<'a>(&self, header: impl Fn(&str) -> Option<&'a str>, body: &[u8]) -> Result<Json, Refused> {
        let push = match read_request(&self.webhook_secrets, header, body)? {
            Received::Push(push) => push,
            Received::Ignored(why) => return Ok(json!({"ignored": why})),
        };
        let mut refreshed = Vec::new();
        for object in self.applications.state() {
            let Ok(app) = serde_json::from_value::<Application>(to_json(&object)) else { continue };
            if app.spec.source.as_ref().is_some_and(|source| concerns(&push, source)) {
                let key = key_of(&object);
                refreshed.push(format!("{}/{}", key.namespace, key.name));
                self.refreshes.lock().request(key);
            }
        }
        self.changed.notify_one();
        Ok(json!({"refreshed": refreshed}))
    }

    /// Reconciles every Application while this replica leads, until the task is aborted.
    pub async fn run(self: Arc<Self>, leader: Arc<AtomicBool>) {
        let _ = self.applications.wait_until_ready().await;
        loop {
            let next = if leader.load(Ordering::SeqCst) { self.pass().await } else { COMPARE_EVERY };
            tokio::select! {
                _ = self.changed.notified() => tokio::time::sleep(Duration::from_millis(50)).await,
                _ = tokio::time::sleep(next) => {}
            }
        }
    }

    /// Reads git where due and reconciles every Application once; returns when to look again.
    async fn pass(&self) -> Duration {
        let apps = self.applications.state();
        let keys: Vec<ObjectKey> = apps.iter().map(|a| key_of(a)).collect();
        self.refreshes.lock().retain(|key| keys.contains(key));
        let mut next = COMPARE_EVERY;
        for (object, key) in apps.iter().zip(&keys) {
            let app: Application = match serde_json::from_value(to_json(object)) {
                Ok(app) => app,
                Err(error) => {
                    tracing::warn!(application = %key, %error, "application does not decode; skipped");
                    continue;
                }
            };
            let due = self.refreshes.lock().due(key, &app, now());
            if let Some(read) = due {
                self.refresh(key, &app, read).await;
            }
            match self.reconcile(object, key, &app).await {
                Ok(Some(after)) => next = next.min(Duration::from_millis(after.max(0) as u64)),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(application = %key, %error, "gitops reconcile failed; retrying");
                    next = next.min(Duration::from_secs(1));
                }
            }
        }
        if let Some(after) = self.refreshes.lock().next_poll(now()) {
            next = next.min(Duration::from_millis(after as u64));
        }
        next
    }

    /// Reads the source on a blocking thread (git blocks) and keeps what it found; an
    /// Application whose spec serin cannot sync is not read, and says why.
    async fn refresh(&self, key: &ObjectKey, app: &Application, read: Read) {
        let target = match spec_problems(app) {
            Some(problems) => Target::Failed { commit: None, message: problems },
            None => {
                let (git, task_read) = (self.git.clone(), read.clone());
                tokio::task::spawn_blocking(move || load_target(git.as_ref(), &task_read, Kinds::Any))
                    .await
                    .unwrap_or_else(|e| Target::Failed { commit: None, message: format!("reading git failed: {e}") })
            }
        };
        let target = self.cluster.scoped(target).await;
        if let Target::Failed { message, .. } = &target {
            tracing::warn!(application = %key, %message, "gitops refresh");
        }
        self.refreshes.lock().record(key.clone(), read, target, now(), self.resync_ms);
    }

    /// Compares one Application with the cluster, syncs when it should, writes its status;
    /// returns when it wants to be looked at again.
    async fn reconcile(
        &self,
        object: &DynamicObject,
        key: &ObjectKey,
        app: &Application,
    ) -> Result<Option<i64>, Error> {
        let Some((target, reconciled_at)) = self.refreshes.lock().target(key) else { return Ok(None) };
        let instance = instance_name(key);
        let live = self.cluster.live_objects(app, &target).await?;
        let lookup = |key: &ObjectKey| Ok::<_, Infallible>(live.get(key).cloned());
        let Ok(comparison) = compare(&instance, &target, lookup, tracked(&live, &instance));
        match next(app, &target, &comparison, reconciled_at, now()) {
            Next::Sync { prune, initiated_by } => {
                self.sync(object, key, app, &target, &comparison, &live, prune, initiated_by).await
            }
            Next::Report { status, requeue } => {
                if app.status.as_ref() != Some(&*status) {
                    let patch = json!({"status": status_patch(app, &status)});
                    self.api(object).patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
                }
                Ok(requeue)
            }
        }
    }

    /// Carries the sync one step on: starts it (a Running operation pinned to the commit),
    /// applies each wave once the one before is complete, and finishes it (history, event, the
    /// operation removed) once every wave and hook is done or one failed. A sync that waits
    /// keeps its operation on the Application and goes on in a later pass, after a restart too.
    #[allow(clippy::too_many_arguments)]
    async fn sync(
        &self,
        object: &DynamicObject,
        key: &ObjectKey,
        app: &Application,
        target: &Target,
        comparison: &Comparison,
        live: &HashMap<ObjectKey, Json>,
        prune: bool,
        initiated_by: Option<Json>,
    ) -> Result<Option<i64>, Error> {
        let mut status = app.status.clone().unwrap_or_default();
        let operation = app.operation.clone().unwrap_or_else(|| Operation {
            sync: Some(SyncOperation { prune: Some(prune), ..Default::default() }),
            initiated_by: initiated_by.clone(),
            ..Default::default()
        });
        let (commit, manifests, unreadable) = match target {
            Target::Loaded { commit, manifests, .. } => (commit.clone(), manifests.as_slice(), None),
            Target::Failed { commit, message } => (commit.clone().unwrap_or_default(), &[][..], Some(message)),
        };
        let running = status.operation_state.as_ref().filter(|s| s.phase == "Running");
        if running.and_then(|s| s.sync_result.as_ref()).is_none_or(|r| r.revision != commit) {
            status.operation_state = Some(start_sync(app, &commit, operation.clone(), now()));
        }
        let state = status.operation_state.as_mut().expect("started");
        let advanced = match unreadable {
            Some(message) => Advance::Finished(Err(format!("ComparisonError: {message}"))),
            None => {
                let results = &mut state.sync_result.get_or_insert_with(Default::default).resources;
                self.advance(app, &instance_name(key), manifests, comparison, live, prune, results).await
            }
        };
        let outcome = match advanced {
            Advance::Wait(message) => {
                state.message = Some(message);
                let patch = json!({"operation": operation, "status": status_patch(app, &status)});
                self.api(object).patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
                return Ok(Some(1000));
            }
            Advance::Finished(outcome) => outcome,
        };
        let resources = state.sync_result.as_ref().map(|r| r.resources.clone()).unwrap_or_default();
        let initiated_by = operation.initiated_by.clone();
        let Finished { phase, message } =
            record_sync(&mut status, app, &commit, (resources, outcome), initiated_by, now());
        let patch = json!({"operation": null, "status": status_patch(app, &status)});
        self.api(object).patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        let short = &commit[..commit.len().min(7)];
        let text = format!("Sync operation to {short} {}: {message}", phase.to_lowercase());
        let event = if phase == "Succeeded" {
            Event::normal("OperationCompleted", text)
        } else {
            Event { warning: true, reason: "OperationCompleted".into(), message: text }
        };
        let reference = kube::Resource::object_ref(object, &resources::applications());
        if let Err(error) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(%error, "cannot record event");
        }
        tracing::info!(application = %key, revision = %short, %phase, %message, "sync");
        Ok(Some(0))
    }

    /// Applies waves until one must be waited for, the sync is done (then prunes, when asked,
    /// what this Application created and git no longer has) or fails (then creates the
    /// SyncFail hooks). `results` are the operation's so far, and grow.
    #[allow(clippy::too_many_arguments)]
    async fn advance(
        &self,
        app: &Application,
        instance: &str,
        manifests: &[Manifest],
        comparison: &Comparison,
        live: &HashMap<ObjectKey, Json>,
        prune: bool,
        results: &mut Vec<ResourceResult>,
    ) -> Advance {
        let failed = |key: &ObjectKey, error: Error| {
            Advance::Finished(Err(format!("one or more objects failed to apply, reason: {key}: {error}")))
        };
        let (tasks, prunes) = match (waves::tasks(manifests), steps(instance, manifests, comparison, prune)) {
            (Ok(tasks), Ok(steps)) => {
                let prunes: Vec<ObjectKey> = steps
                    .into_iter()
                    .filter_map(|s| match s {
                        Step::Prune(key) => Some(key),
                        Step::Apply(_) => None,
                    })
                    .collect();
                (tasks, prunes)
            }
            (Err(refused), _) | (_, Err(refused)) => return Advance::Finished(Err(refused)),
        };
        let options = app.spec.sync_policy.as_ref().map(|p| p.sync_options.as_slice()).unwrap_or_default();
        let server_side = options.iter().any(|o| o == SERVER_SIDE_APPLY);
        if results.is_empty() && options.iter().any(|o| o == CREATE_NAMESPACE) {
            let namespace = destination_namespace(app);
            match self.create_namespace(&namespace).await {
                Ok(Some(result)) => results.push(result),
                Ok(None) => {}
                Err(error) => return failed(&ObjectKey::new("v1", "Namespace", "", &namespace), error),
            }
        }
        self.follow_hooks(&tasks, live, results).await;
        loop {
            let state = |task: &Task| task_state(task, results, live);
            match waves::progress(&tasks, state) {
                Progress::Apply(indexes) => {
                    for task in indexes.into_iter().map(|i| &tasks[i]) {
                        let key = &task.manifest.key;
                        let result = match task.hook {
                            Some(policy) => self.create_hook(task, policy).await,
                            None => self.apply(&tracked_manifest(instance, &task.manifest), server_side).await.map(
                                |outcome| Some(resource_result(key, "Synced", format!("{key} {}", outcome.word()))),
                            ),
                        };
                        match result {
                            Ok(Some(mut result)) => {
                                result.sync_phase = Some(task.phase.name().to_string());
                                results.push(result);
                            }
                            Ok(None) => return Advance::Wait(format!("waiting for the earlier {key} to be deleted")),
                            Err(error) => return failed(key, error),
                        }
                    }
                }
                Progress::Wait(message) => return Advance::Wait(message),
                Progress::Done => {
                    for key in &prunes {
                        match self.prune(app, key).await {
                            Ok(result) => results.push(result),
                            Err(error) => return failed(key, error),
                        }
                    }
                    return Advance::Finished(Ok(()));
                }
                Progress::Failed(message) => {
                    for task in tasks.iter().filter(|t| t.phase == Phase::SyncFail) {
                        match self.create_hook(task, task.hook.unwrap_or_default()).await {
                            Ok(Some(mut result)) => {
                                result.sync_phase = Some(Phase::SyncFail.name().to_string());
                                results.push(result);
                            }
                            Ok(None) => {}
                            Err(error) => {
                                tracing::warn!(hook = %task.manifest.key, %error, "SyncFail hook not created")
                            }
                        }
                    }
                    return Advance::Finished(Err(message));
                }
            }
        }
    }

    /// Notes which running hooks finished, and deletes those their delete policy says to.
    async fn follow_hooks(&self, tasks: &[Task], live: &HashMap<ObjectKey, Json>, results: &mut [ResourceResult]) {
        for task in tasks {
            let (Some(policy), key) = (task.hook, &task.manifest.key) else { continue };
            let Some(index) = waves::recorded(task, results) else { continue };
            let result = &mut results[index];
            if result.hook_phase.as_deref() != Some("Running") {
                continue;
            }
            let Some(outcome) = live.get(key).and_then(|body| waves::hook_outcome(key, body)) else { continue };
            let delete = match &outcome {
                Ok(()) => policy.on_success,
                Err(_) => policy.on_failure,
            };
            result.hook_phase = Some(if outcome.is_ok() { "Succeeded" } else { "Failed" }.to_string());
            result.message = Some(match outcome {
                Ok(()) => format!("{key} succeeded"),
                Err(why) => why,
            });
            if delete && let Err(error) = self.delete(task, key).await {
                tracing::warn!(hook = %key, %error, "finished hook not deleted");
            }
        }
    }

    /// Creates a hook, after deleting the one of an earlier sync (BeforeHookCreation); `None`
    /// while that one is still being deleted.
    async fn create_hook(&self, task: &Task, policy: DeletePolicy) -> Result<Option<ResourceResult>, Error> {
        let manifest = &task.manifest;
        let api = self.cluster.api_for(manifest.body["apiVersion"].as_str().unwrap_or_default(), &manifest.key).await?;
        if let Some(earlier) = api.get_opt(&manifest.key.name).await? {
            if earlier.metadata.deletion_timestamp.is_none() && policy.before_creation {
                self.delete(task, &manifest.key).await?;
            }
            if earlier.metadata.deletion_timestamp.is_some() || policy.before_creation {
                return Ok(None);
            }
        } else {
            let hook =
                from_json(manifest.body.clone()).map_err(|e| Error::Invalid(format!("{}: {e}", manifest.key)))?;
            api.create(&PostParams::default(), &hook).await?;
        }
        let mut result = resource_result(&manifest.key, "Synced", format!("{} created", manifest.key));
        result.hook_type = Some(task.phase.name().to_string());
        result.hook_phase = Some("Running".to_string());
        Ok(Some(result))
    }

    async fn delete(&self, task: &Task, key: &ObjectKey) -> Result<(), Error> {
        let api = self.cluster.api_for(task.manifest.body["apiVersion"].as_str().unwrap_or_default(), key).await?;
        let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
        match api.delete(&key.name, &params).await {
            Err(e) if !resources::is_not_found(&e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Applies one manifest as `kubectl apply` does, or (`server_side`, the syncOption
    /// ServerSideApply=true) as Argo CD's server-side apply does, forced, as field manager
    /// `argocd-controller`, carrying over the fields the rollout controller owns.
    async fn apply(&self, manifest: &Manifest, server_side: bool) -> Result<Outcome, Error> {
        let api_version = manifest.body["apiVersion"].as_str().unwrap_or_default();
        let api = self.cluster.api_for(api_version, &manifest.key).await?;
        let live = match api.get(&manifest.key.name).await {
            Ok(live) => Some(to_json(&live)),
            Err(e) if resources::is_not_found(&e) => None,
            Err(e) => return Err(e.into()),
        };
        let (mut merged, outcome) = merge(live.as_ref(), &manifest.body, "", now());
        if outcome == Outcome::Unchanged {
            return Ok(outcome);
        }
        if server_side {
            let mut desired = manifest.body.clone();
            // The configuration applied, where kubectl keeps it, so the next comparison's
            // three-way merge reads it as a client-side apply would have left it.
            let applied = merged.pointer(&format!("/metadata/annotations/{}", LAST_APPLIED.replace('/', "~1")));
            desired["metadata"]["annotations"][LAST_APPLIED] = applied.cloned().unwrap_or_default();
            if let Some(live) = &live {
                carry_rollout_fields(&mut desired, live);
            }
            // A Service port's protocol is part of its key to server-side apply; API servers
            // before 1.22 refuse a port without one instead of defaulting it to TCP.
            if manifest.key.group.is_empty() && manifest.key.kind == "Service" {
                let ports = desired.pointer_mut("/spec/ports").and_then(Json::as_array_mut);
                for port in ports.into_iter().flatten().filter(|p| p.get("protocol").is_none()) {
                    port["protocol"] = "TCP".into();
                }
            }
            let params = PatchParams::apply(SERVER_SIDE_MANAGER).force();
            api.patch(&manifest.key.name, &params, &Patch::Apply(&desired)).await?;
            return Ok(outcome);
        }
        if let Some(metadata) = merged["metadata"].as_object_mut() {
            // The API server sets these; managedFields left out keeps its own.
            for field in ["uid", "creationTimestamp", "generation", "managedFields"] {
                metadata.remove(field);
            }
        }
        let object = from_json(merged).map_err(|e| Error::Invalid(format!("{}: {e}", manifest.key)))?;
        match outcome {
            Outcome::Created => {
                api.create(&PostParams::default(), &object).await?;
            }
            // The merge kept the live resourceVersion: a change made since fails the write.
            Outcome::Configured => {
                api.replace(&manifest.key.name, &PostParams::default(), &object).await?;
            }
            Outcome::Unchanged => {}
        }
        Ok(outcome)
    }

    async fn prune(&self, app: &Application, key: &ObjectKey) -> Result<ResourceResult, Error> {
        let recorded =
            app.status.as_ref().and_then(|s| s.resources.iter().find(|r| r.group == key.group && r.kind == key.kind));
        let api_version = api_version(&key.group, recorded.and_then(|r| r.version.as_deref()));
        let api = self.cluster.api_for(&api_version, key).await?;
        match api.get(&key.name).await {
            Ok(live) if prune_disabled(&to_json(&live)) => {
                return Ok(resource_result(key, "PruneSkipped", "ignored (no prune)".to_string()));
            }
            Ok(_) => {}
            Err(e) if resources::is_not_found(&e) => return Ok(resource_result(key, "Pruned", "pruned".to_string())),
            Err(e) => return Err(e.into()),
        }
        let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
        match api.delete(&key.name, &params).await {
            Ok(_) => Ok(resource_result(key, "Pruned", "pruned".to_string())),
            Err(e) if resources::is_not_found(&e) => Ok(resource_result(key, "Pruned", "pruned".to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the destination namespace when it is missing (syncOption CreateNamespace).
    async fn create_namespace(&self, name: &str) -> Result<Option<ResourceResult>, Error> {
        let api: kube::Api<DynamicObject> = kube::Api::all_with(self.client.clone(), &resources::namespaces());
        if api.get_opt(name).await?.is_some() {
            return Ok(None);
        }
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let namespace = from_json(namespace).map_err(|e| Error::Invalid(e.to_string()))?;
        api.create(&PostParams::default(), &namespace).await?;
        let key = ObjectKey::new("v1", "Namespace", "", name);
        Ok(Some(resource_result(&key, "Synced", format!("{key} created"))))
    }

    fn api(&self, application: &DynamicObject) -> kube::Api<DynamicObject> {
        let namespace = application.metadata.namespace.as_deref().unwrap_or("default");
        resources::namespaced(&self.client, namespace, &resources::applications())
    }
}

impl Cluster {
    pub fn new(client: Client) -> Cluster {
        Cluster { client, kinds: Default::default() }
    }

    /// The target with each manifest of a cluster-scoped kind (a ClusterRole, say, which
    /// serin does not model) out of any namespace, as the cluster's discovery says.
    async fn scoped(&self, target: Target) -> Target {
        let Target::Loaded { commit, mut manifests, fast_forward } = target else { return target };
        for manifest in &mut manifests {
            let api_version = manifest.body["apiVersion"].as_str().unwrap_or_default().to_string();
            if let Ok(Some((_, capabilities))) = self.discover(&api_version, &manifest.key.kind).await
                && capabilities.scope == Scope::Cluster
            {
                manifest.key.namespace.clear();
                if let Some(metadata) = manifest.body["metadata"].as_object_mut() {
                    metadata.remove("namespace");
                }
            }
        }
        Target::Loaded { commit, manifests, fast_forward }
    }

    /// Every live object of the kinds the Application's manifests have or its status lists,
    /// in the namespaces they name and its destination's.
    async fn live_objects(&self, app: &Application, target: &Target) -> Result<HashMap<ObjectKey, Json>, Error> {
        let mut kinds: BTreeSet<(String, String)> = BTreeSet::new();
        let mut namespaces: BTreeSet<String> = BTreeSet::from([destination_namespace(app)]);
        if let Target::Loaded { manifests, .. } = target {
            for manifest in manifests {
                let api_version = manifest.body["apiVersion"].as_str().unwrap_or_default().to_string();
                kinds.insert((api_version, manifest.key.kind.clone()));
                namespaces.insert(manifest.key.namespace.clone());
            }
        }
        for resource in app.status.iter().flat_map(|s| &s.resources) {
            kinds.insert((api_version(&resource.group, resource.version.as_deref()), resource.kind.clone()));
            namespaces.insert(resource.namespace.clone());
        }
        namespaces.remove("");
        let mut live = HashMap::new();
        for (api_version, kind) in kinds {
            let Some((resource, capabilities)) = self.discover(&api_version, &kind).await? else { continue };
            let apis: Vec<kube::Api<DynamicObject>> = match capabilities.scope {
                Scope::Cluster => vec![kube::Api::all_with(self.client.clone(), &resource)],
                Scope::Namespaced => {
                    namespaces.iter().map(|ns| resources::namespaced(&self.client, ns, &resource)).collect()
                }
            };
            for api in apis {
                for object in api.list(&ListParams::default()).await?.items {
                    let key = ObjectKey {
                        group: resource.group.clone(),
                        kind: kind.clone(),
                        namespace: object.metadata.namespace.clone().unwrap_or_default(),
                        name: object.metadata.name.clone().unwrap_or_default(),
                    };
                    // A list's items of built-in kinds come without their type; a GET has it.
                    let mut body = to_json(&object);
                    body["apiVersion"] = resource.api_version.clone().into();
                    body["kind"] = resource.kind.clone().into();
                    live.insert(key, body);
                }
            }
        }
        Ok(live)
    }

    /// The resource of a kind, or `None` when the cluster does not serve it.
    async fn discover(&self, api_version: &str, kind: &str) -> Result<Option<(ApiResource, ApiCapabilities)>, Error> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let mut kinds = self.kinds.lock().await;
        if let Some(found) = kinds.get(&gvk) {
            return Ok(Some(found.clone()));
        }
        match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok(found) => {
                kinds.insert(gvk, found.clone());
                Ok(Some(found))
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(kube::Error::Discovery(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The API of an object, refused with the API server's words when it does not serve
    /// the kind.
    async fn api_for(&self, api_version: &str, key: &ObjectKey) -> Result<kube::Api<DynamicObject>, Error> {
        let Some((resource, capabilities)) = self.discover(api_version, &key.kind).await? else {
            return Err(Error::Invalid(format!(
                "the server could not find the requested resource: {api_version} {}",
                key.kind
            )));
        };
        Ok(match capabilities.scope {
            Scope::Cluster => kube::Api::all_with(self.client.clone(), &resource),
            Scope::Namespaced => resources::namespaced(&self.client, &key.namespace, &resource),
        })
    }
}

/// For `serin app diff` on a cluster: reads the Application's source from git here (into
/// `git_cache`) and compares it with the live objects as the controller does; the inner
/// error says why git gave nothing to compare.
pub async fn diff(
    client: &Client,
    app: &Application,
    git_cache: std::path::PathBuf,
) -> Result<Result<Vec<Difference>, String>, Error> {
    if let Some(problems) = spec_problems(app) {
        return Ok(Err(problems));
    }
    let Some(source) = app.spec.source.clone() else { return Ok(Err("the application has no source".into())) };
    let read = Read { source, namespace: destination_namespace(app), last_synced: None };
    let target =
        tokio::task::spawn_blocking(move || load_target(&serin_git::GitCache::new(git_cache), &read, Kinds::Any))
            .await
            .map_err(|e| Error::Invalid(format!("reading git failed: {e}")))?;
    let cluster = Cluster::new(client.clone());
    let target = cluster.scoped(target).await;
    let Target::Loaded { manifests, .. } = &target else { return Ok(Err(target_error(&target))) };
    let live = cluster.live_objects(app, &target).await?;
    let instance = instance_name(&key_of_app(app));
    let lookup = |key: &ObjectKey| Ok::<_, Infallible>(live.get(key).cloned());
    let Ok(found) = differences(&instance, manifests, lookup, tracked(&live, &instance));
    Ok(Ok(found))
}

/// The live objects carrying `instance`'s tracking id.
fn tracked(live: &HashMap<ObjectKey, Json>, instance: &str) -> Vec<(ObjectKey, Json)> {
    live.iter()
        .filter(|(key, body)| tracked_by(key, body) == Some(instance))
        .map(|(key, body)| (key.clone(), body.clone()))
        .collect()
}

/// Where a sync stands after a pass.
enum Advance {
    Wait(String),
    Finished(Result<(), String>),
}

/// How an applied task stands: a hook as recorded, a resource as its live object is.
fn task_state(task: &Task, results: &[ResourceResult], live: &HashMap<ObjectKey, Json>) -> TaskState {
    let Some(result) = waves::recorded(task, results).map(|i| &results[i]) else { return TaskState::Pending };
    let key = &task.manifest.key;
    match (task.hook, result.hook_phase.as_deref()) {
        (Some(_), Some("Succeeded")) => TaskState::Done,
        (Some(_), Some("Failed")) => TaskState::Failed(result.message.clone().unwrap_or_default()),
        (Some(_), _) => TaskState::Running(format!("waiting for completion of hook {key}")),
        (None, _) => waves::resource_state(key, live.get(key)),
    }
}

/// The apiVersion of a group at the version an Application's status recorded (`v1` if none).
fn api_version(group: &str, version: Option<&str>) -> String {
    let version = version.unwrap_or("v1");
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

fn key_of_app(app: &Application) -> ObjectKey {
    application_key(app.metadata.namespace(), app.metadata.name())
}

fn key_of(application: &DynamicObject) -> ObjectKey {
    let metadata = &application.metadata;
    application_key(metadata.namespace.as_deref().unwrap_or_default(), metadata.name.as_deref().unwrap_or_default())
}

/// What in an Application's spec serin cannot sync (another cluster, a Helm chart...), as
/// its lint says it, or `None`.
fn spec_problems(app: &Application) -> Option<String> {
    let issues = serin_model::validate::validate(&serin_model::Object::Application(Box::new(app.clone())));
    let problems: Vec<String> = issues.iter().map(|i| format!("{}: {}", i.path, i.message)).collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// A JSON merge patch that turns the status serin last read into `status`: changed fields
/// set, fields gone set to null. Only fields serin's model knows are compared, so what
/// another writer (Argo CD) keeps in the status beside them stays.
fn status_patch(app: &Application, status: &serin_model::application::ApplicationStatus) -> Json {
    let old = serde_json::to_value(app.status.clone().unwrap_or_default()).unwrap_or_default();
    let new = serde_json::to_value(status).unwrap_or_default();
    merge_patch_between(&old, &new)
}

fn merge_patch_between(old: &Json, new: &Json) -> Json {
    match (old, new) {
        (Json::Object(old), Json::Object(new)) => {
            let mut patch = serde_json::Map::new();
            for (key, value) in new {
                match old.get(key) {
                    Some(before) if before == value => {}
                    Some(before) if before.is_object() && value.is_object() => {
                        patch.insert(key.clone(), merge_patch_between(before, value));
                    }
                    _ => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                patch.insert(key.clone(), Json::Null);
            }
            Json::Object(patch)
        }
        _ => new.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_patch_sets_what_changed_and_clears_what_went() {
        let old = json!({"sync": {"status": "OutOfSync", "revision": "a"}, "conditions": [{"type": "SyncError"}]});
        let new = json!({"sync": {"status": "Synced", "revision": "a"}});
        assert_eq!(merge_patch_between(&old, &new), json!({"sync": {"status": "Synced"}, "conditions": null}));
    }
}

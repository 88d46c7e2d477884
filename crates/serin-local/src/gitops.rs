//! The GitOps controller: Argo CD's Application on the local platform.
//!
//! For each Application it reads the manifests of `spec.source` from git (on a poll, a
//! webhook or `serin app sync`), compares them with what the store holds, reports sync and
//! health status in Argo CD's shape, and syncs: every manifest is applied exactly as
//! `serin apply` would (the same three-way merge), in dependency order, in one transaction
//! with the Application's new status, so a killed server never leaves half a sync.
//!
//! Objects are tracked with Argo CD's `argocd.argoproj.io/tracking-id` annotation; only
//! objects carrying this Application's id are pruned. Drift is what a re-apply would change,
//! so fields git never set (TraefikService weights, the Service selector's pod-template-hash,
//! status, server metadata) are never drift: serin does not fight its rollout controller.

use crate::apply::{self, Manifest, Outcome};
use crate::clock::Clock;
use crate::git::{GitError, GitSource, Snapshot};
use crate::objects;
use crate::store::{EventRecord, Result, Store, StoreError, Stored, Writer};
use serde_json::Value as Json;
use serin_model::application::{
    Application, ApplicationCondition, ApplicationSource, ComparedTo, HealthStatus, OperationState, ResourceResult,
    ResourceStatus, RevisionHistory, SyncResult, SyncStatus,
};
use serin_model::object::KINDS;
use serin_model::{ObjectKey, Time};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Argo CD's annotation tracking: `<app>:<group>/<kind>:<namespace>/<name>`.
pub const TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
/// How long drift stays before selfHeal syncs it again (Argo CD's default).
pub const SELF_HEAL_DELAY_MS: i64 = 5_000;
/// Argo CD's namespace; Applications elsewhere are named `<namespace>_<name>` in tracking ids.
const CONTROL_NAMESPACE: &str = "argocd";
/// Syncs kept in `status.history` when the Application does not say.
const HISTORY_LIMIT: usize = 10;

/// What git says an Application should run, as of its last refresh.
#[derive(Clone, Debug)]
enum Target {
    Loaded {
        commit: String,
        manifests: Vec<Manifest>,
        /// Whether the commit descends from the last one synced from the same source (false
        /// after a force-push rewrote the branch).
        fast_forward: bool,
    },
    Failed {
        commit: Option<String>,
        message: String,
    },
}

struct Fetched {
    source: ApplicationSource,
    /// The destination namespace the manifests were read for (it fills in theirs).
    namespace: String,
    target: Target,
    at: Time,
    next_poll: Time,
}

pub struct GitOps {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    git: Arc<dyn GitSource>,
    /// The longest time between two refreshes of one Application (virtual milliseconds);
    /// each wait is drawn between two thirds of it and all of it.
    resync_ms: i64,
    fetched: parking_lot::Mutex<HashMap<ObjectKey, Fetched>>,
    requested: parking_lot::Mutex<HashSet<ObjectKey>>,
    wake: tokio::sync::Notify,
}

impl GitOps {
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>, git: Arc<dyn GitSource>, resync_ms: i64) -> GitOps {
        GitOps {
            store,
            clock,
            git,
            resync_ms: resync_ms.max(1),
            fetched: Default::default(),
            requested: Default::default(),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Reads the Application's source from git again at once (a webhook, `app sync`).
    pub fn request_refresh(&self, app: ObjectKey) {
        self.requested.lock().insert(app);
        self.wake.notify_one();
    }

    /// Runs until the task is aborted: refreshes what is due, reconciles every Application,
    /// then waits for a change in the store, a refresh request or the next due time.
    pub async fn run(self: Arc<Self>) {
        let mut changes = self.store.subscribe();
        loop {
            let due = match self.step().await {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(controller = "gitops", error = %e, "reconcile failed");
                    Some(1000)
                }
            };
            let wait = due.map_or(Duration::from_secs(3600), |ms| self.clock.real(ms).max(Duration::from_millis(5)));
            tokio::select! {
                _ = changes.changed() => tokio::time::sleep(Duration::from_millis(50)).await,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn step(&self) -> Result<Option<i64>> {
        let apps = self.store.list(Some("argoproj.io"), "Application", None)?;
        self.fetched.lock().retain(|key, _| apps.iter().any(|a| a.key == *key));
        for stored in &apps {
            let Ok(app) = serde_json::from_value::<Application>(serde_json::Value::clone(&stored.body)) else {
                continue;
            };
            if self.refresh_due(&stored.key, &app) {
                self.refresh(&stored.key, &app).await;
            }
        }
        let mut due: Option<i64> = None;
        let mut soonest = |after: i64| due = Some(due.map_or(after, |d| d.min(after)));
        for stored in &apps {
            match self.reconcile(stored) {
                Ok(Some(after)) => soonest(after),
                Ok(None) => {}
                Err(StoreError::Conflict(..)) => soonest(0),
                Err(e) => return Err(e),
            }
        }
        let now = self.clock.now();
        for fetched in self.fetched.lock().values() {
            soonest(fetched.next_poll.since(now).max(0));
        }
        Ok(due)
    }

    fn refresh_due(&self, key: &ObjectKey, app: &Application) -> bool {
        if self.requested.lock().contains(key) || app.operation.is_some() {
            return true;
        }
        match (self.fetched.lock().get(key), &app.spec.source) {
            (Some(fetched), Some(source)) => {
                fetched.source != *source
                    || fetched.namespace != destination_namespace(app)
                    || self.clock.now() >= fetched.next_poll
            }
            (None, Some(_)) => true,
            (_, None) => false,
        }
    }

    /// Fetches the source on a blocking thread and keeps what it found.
    async fn refresh(&self, key: &ObjectKey, app: &Application) {
        self.requested.lock().remove(key);
        let Some(source) = app.spec.source.clone() else { return };
        let git = self.git.clone();
        let namespace = destination_namespace(app);
        let last_synced = app
            .status
            .as_ref()
            .and_then(|s| s.history.last())
            .filter(|h| h.source.as_ref().is_none_or(|s| same_revision(s, &source)))
            .map(|h| h.revision.clone());
        let (task_source, task_namespace) = (source.clone(), namespace.clone());
        let target =
            tokio::task::spawn_blocking(move || load_target(git.as_ref(), &task_source, &task_namespace, last_synced))
                .await
                .unwrap_or_else(|e| Target::Failed { commit: None, message: format!("reading git failed: {e}") });
        if let Target::Failed { message, .. } = &target {
            tracing::warn!(application = %key, %message, "gitops refresh");
        }
        let at = self.clock.now();
        let next_poll = at.plus_millis(jittered(self.resync_ms));
        self.fetched.lock().insert(key.clone(), Fetched { source, namespace, target, at, next_poll });
    }

    /// Compares one Application with the store, syncs when it should, writes its status;
    /// returns when it wants to be looked at again.
    fn reconcile(&self, stored: &Stored) -> Result<Option<i64>> {
        let Ok(app) = serde_json::from_value::<Application>(serde_json::Value::clone(&stored.body)) else {
            tracing::warn!(application = %stored.key, "stored application does not decode; skipped");
            return Ok(None);
        };
        let (target, reconciled_at) = match self.fetched.lock().get(&stored.key) {
            Some(fetched) => (fetched.target.clone(), fetched.at),
            None => return Ok(None),
        };
        let now = self.clock.now();
        let instance = instance_name(&stored.key);
        let comparison = compare(&self.store, &instance, &target)?;
        let old = app.status.clone().unwrap_or_default();
        let mut conditions: Vec<(&str, String)> = comparison.conditions.clone();
        if let Target::Failed { message, .. } = &target {
            conditions.push(("ComparisonError", message.clone()));
        }
        let mut requeue = None;
        if let Some(operation) = app.operation.as_ref() {
            let prune = operation.sync.as_ref().and_then(|s| s.prune).unwrap_or(false);
            let initiated = operation.initiated_by.clone();
            return self.sync(stored, &app, &target, &comparison, prune, initiated, now).map(|()| Some(0));
        }
        if let (Some(policy), Target::Loaded { commit, fast_forward, .. }) = (app.spec.automated(), &target)
            && comparison.status == "OutOfSync"
        {
            match auto_sync_decision(&app, commit, *fast_forward, &comparison, now) {
                AutoSync::Run => {
                    let prune = policy.prune == Some(true);
                    let initiated = Some(serde_json::json!({"username": "serin", "automated": true}));
                    return self.sync(stored, &app, &target, &comparison, prune, initiated, now).map(|()| Some(0));
                }
                AutoSync::Hold(message) => conditions.push(("SyncError", message)),
                AutoSync::Later(after) => requeue = Some(after),
                AutoSync::Skip => {}
            }
        }
        let mut status = old.clone();
        status.sync = SyncStatus {
            status: comparison.status.to_string(),
            revision: target_commit(&target),
            compared_to: app
                .spec
                .source
                .clone()
                .map(|source| ComparedTo { source, destination: app.spec.destination.clone() }),
        };
        status.health = comparison.health.clone();
        status.resources = comparison.resources.clone();
        status.summary.images = comparison.images.clone();
        status.reconciled_at = Some(reconciled_at);
        status.source_type = Some("Directory".to_string());
        status.conditions = conditions
            .into_iter()
            .map(|(kind, message)| {
                let since = old.conditions.iter().find(|c| c.kind == kind && c.message == message);
                ApplicationCondition {
                    kind: kind.to_string(),
                    last_transition_time: since.and_then(|c| c.last_transition_time).or(Some(now)),
                    message,
                }
            })
            .collect();
        if status != old {
            let mut body = serde_json::Value::clone(&stored.body);
            body["status"] = serde_json::to_value(&status).unwrap_or_default();
            self.store.put(&stored.key, &body, Some(stored.rev))?;
        }
        Ok(requeue)
    }

    /// Applies the target in dependency order, prunes (when asked) what this Application
    /// created and git no longer has, and records the operation, all in one transaction.
    #[allow(clippy::too_many_arguments)]
    fn sync(
        &self,
        stored: &Stored,
        app: &Application,
        target: &Target,
        comparison: &Comparison,
        prune: bool,
        initiated_by: Option<Json>,
        now: Time,
    ) -> Result<()> {
        let mut status = app.status.clone().unwrap_or_default();
        let operation = app.operation.clone().unwrap_or_default();
        let source = app.spec.source.clone();
        let outcome = self.store.write(|w| {
            // What was compared must still be what is stored (else it is read again).
            let current = w.get(&stored.key)?.map_or(0, |now| now.rev);
            if current != stored.rev {
                return Err(StoreError::Conflict(stored.key.clone(), current, stored.rev));
            }
            let (commit, result) = match target {
                Target::Loaded { commit, manifests, .. } => {
                    (commit.clone(), apply_target(w, &instance_name(&stored.key), manifests, comparison, prune, now)?)
                }
                Target::Failed { commit, message } => {
                    (commit.clone().unwrap_or_default(), Err(format!("ComparisonError: {message}")))
                }
            };
            let (phase, message, resources) = match result {
                Ok(resources) => {
                    let id = status.history.last().map_or(0, |h| h.id + 1);
                    status.history.push(RevisionHistory {
                        id,
                        revision: commit.clone(),
                        deployed_at: now,
                        deploy_started_at: Some(now),
                        source: source.clone(),
                        initiated_by: initiated_by.clone(),
                    });
                    let limit = app.spec.revision_history_limit.map_or(HISTORY_LIMIT, |l| l.max(1) as usize);
                    let excess = status.history.len().saturating_sub(limit);
                    status.history.drain(..excess);
                    ("Succeeded", "successfully synced (all tasks run)".to_string(), resources)
                }
                Err(message) => ("Failed", message, Vec::new()),
            };
            status.operation_state = Some(OperationState {
                operation: Some(serin_model::application::Operation { initiated_by, ..operation.clone() }),
                phase: phase.to_string(),
                message: Some(message.clone()),
                sync_result: Some(SyncResult { revision: commit.clone(), resources, source: source.clone() }),
                started_at: Some(now),
                finished_at: Some(now),
            });
            // The sync may have applied this Application's own manifest (an application that
            // manages itself, as in app-of-apps): the status goes onto what it wrote.
            let latest = w.get(&stored.key)?.unwrap_or_else(|| stored.clone());
            let mut body = serde_json::Value::clone(&latest.body);
            if let Some(object) = body.as_object_mut() {
                object.remove("operation");
            }
            body["status"] = serde_json::to_value(&status).unwrap_or_default();
            w.put(&stored.key, &body, Some(latest.rev))?;
            Ok((phase, message, commit))
        })?;
        let (phase, message, commit) = outcome;
        let short = &commit[..commit.len().min(7)];
        let (kind, reason) =
            if phase == "Succeeded" { ("Normal", "OperationCompleted") } else { ("Warning", "OperationCompleted") };
        let event = EventRecord {
            time: now,
            kind: kind.to_string(),
            reason: reason.to_string(),
            message: format!("Sync operation to {short} {}: {message}", phase.to_lowercase()),
        };
        self.store.record_event(&stored.key, &event)?;
        tracing::info!(application = %stored.key, revision = %short, %phase, %message, "sync");
        Ok(())
    }

    /// For `serin app diff`: each object whose live state differs from git, as (key, live,
    /// what a sync would make of it); `None` for an object that is missing or would be pruned.
    pub fn diff(&self, key: &ObjectKey) -> Result<std::result::Result<Vec<Difference>, String>> {
        let target = match self.fetched.lock().get(key) {
            Some(fetched) => fetched.target.clone(),
            None => return Ok(Err("the application has not been read from git yet".to_string())),
        };
        let Target::Loaded { manifests, .. } = &target else {
            return Ok(Err(target_error(&target)));
        };
        let instance = instance_name(key);
        let now = self.clock.now();
        let mut out = Vec::new();
        for manifest in manifests {
            let desired = tracked_manifest(&instance, manifest);
            let live = self.store.get(&desired.key)?.map(|l| std::sync::Arc::unwrap_or_clone(l.body));
            let (merged, outcome) = apply::merge(live.as_ref(), &desired.body, "", now);
            if outcome != Outcome::Unchanged {
                out.push(Difference { key: desired.key, live, target: Some(merged) });
            }
        }
        for live in tracked_objects(&self.store, &instance)? {
            if !manifests.iter().any(|m| m.key == live.key) {
                out.push(Difference {
                    key: live.key,
                    live: Some(std::sync::Arc::unwrap_or_clone(live.body)),
                    target: None,
                });
            }
        }
        Ok(Ok(out))
    }
}

/// One object that git and the store disagree on.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Difference {
    pub key: ObjectKey,
    pub live: Option<Json>,
    pub target: Option<Json>,
}

/// Argo CD's name for an Application in tracking ids.
fn instance_name(key: &ObjectKey) -> String {
    if key.namespace == CONTROL_NAMESPACE { key.name.clone() } else { format!("{}_{}", key.namespace, key.name) }
}

fn tracking_id(instance: &str, key: &ObjectKey) -> String {
    format!("{instance}:{}/{}:{}/{}", key.group, key.kind, key.namespace, key.name)
}

/// The Application a live object belongs to, if its tracking id names the object itself
/// (an annotation copied onto another object does not count).
fn tracked_by(object: &Stored) -> Option<&str> {
    let id = object.body.pointer("/metadata/annotations")?.get(TRACKING_ANNOTATION)?.as_str()?;
    let (instance, rest) = id.split_once(':')?;
    let key = &object.key;
    (rest == format!("{}/{}:{}/{}", key.group, key.kind, key.namespace, key.name)).then_some(instance)
}

fn tracked_manifest(instance: &str, manifest: &Manifest) -> Manifest {
    let mut body = serde_json::Value::clone(&manifest.body);
    body["metadata"]["annotations"][TRACKING_ANNOTATION] = tracking_id(instance, &manifest.key).into();
    Manifest { key: manifest.key.clone(), body }
}

/// Every live object carrying this Application's tracking id.
fn tracked_objects(store: &Store, instance: &str) -> Result<Vec<Stored>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (api_version, kind, _) in KINDS {
        let group = serin_model::object::group_of(api_version);
        if !seen.insert((group, *kind)) {
            continue;
        }
        out.extend(store.list(Some(group), kind, None)?.into_iter().filter(|o| tracked_by(o) == Some(instance)));
    }
    Ok(out)
}

fn same_revision(a: &ApplicationSource, b: &ApplicationSource) -> bool {
    a.repo_url == b.repo_url && a.target_revision == b.target_revision
}

fn target_commit(target: &Target) -> Option<String> {
    match target {
        Target::Loaded { commit, .. } => Some(commit.clone()),
        Target::Failed { commit, .. } => commit.clone(),
    }
}

fn target_error(target: &Target) -> String {
    match target {
        Target::Loaded { .. } => String::new(),
        Target::Failed { message, .. } => message.clone(),
    }
}

/// A wait of between two thirds of `max` and `max`, so Applications do not poll in step.
fn jittered(max: i64) -> i64 {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let floor = max * 2 / 3;
    floor + (random % (max - floor + 1) as u64) as i64
}

/// Reads the source at its target revision into manifests (blocking: git).
fn load_target(
    git: &dyn GitSource,
    source: &ApplicationSource,
    namespace: &str,
    last_synced: Option<String>,
) -> Target {
    let dir = source.path.as_deref().unwrap_or(".");
    let revision = source.target_revision.as_deref().unwrap_or("HEAD");
    let snapshot = match git.snapshot(&source.repo_url, revision, dir) {
        Ok(snapshot) => snapshot,
        Err(error) => {
            let commit = match &error {
                GitError::PathNotFound { commit, .. } => Some(commit.clone()),
                _ => None,
            };
            return Target::Failed { commit, message: error.to_string() };
        }
    };
    let fast_forward = match last_synced {
        Some(previous) => git.descends_from(&source.repo_url, &snapshot.commit, &previous).unwrap_or(true),
        None => true,
    };
    match manifests(source, &snapshot, namespace) {
        Ok(manifests) => Target::Loaded { commit: snapshot.commit, manifests, fast_forward },
        Err(message) => Target::Failed { commit: Some(snapshot.commit), message },
    }
}

/// The manifests of a snapshot that the source's directory settings select, validated as
/// `serin apply` validates them; any problem in any file means none is used.
fn manifests(
    source: &ApplicationSource,
    snapshot: &Snapshot,
    namespace: &str,
) -> std::result::Result<Vec<Manifest>, String> {
    let directory = source.directory.clone().unwrap_or_default();
    let recurse = directory.recurse == Some(true);
    let include = directory.include.as_deref().filter(|p| !p.is_empty()).map(glob);
    let exclude = directory.exclude.as_deref().filter(|p| !p.is_empty()).map(glob);
    let dir = source.path.as_deref().unwrap_or(".").trim_matches('/');
    let in_repo =
        |relative: &str| if dir.is_empty() || dir == "." { relative.to_string() } else { format!("{dir}/{relative}") };
    let mut files = Vec::new();
    for (relative, bytes) in &snapshot.files {
        let extension = relative.rsplit_once('.').map(|(_, e)| e);
        let selected = matches!(extension, Some("yaml" | "yml" | "json"))
            && (recurse || !relative.contains('/'))
            && include.as_ref().is_none_or(|g| g.is_match(relative))
            && !exclude.as_ref().is_some_and(|g| g.is_match(relative));
        if !selected {
            continue;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => files.push((in_repo(relative), text)),
            Err(_) => return Err(format!("{}: not UTF-8 text", in_repo(relative))),
        }
    }
    let short = &snapshot.commit[..snapshot.commit.len().min(7)];
    let documents = apply::load_files(files.iter().map(|(name, text)| (name.as_str(), *text))).map_err(|problems| {
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        format!("invalid manifests at {short}; nothing is applied from this commit: {}", problems.join("; "))
    })?;
    let mut manifests: Vec<(String, Manifest)> = Vec::new();
    for document in &documents {
        let manifest = Manifest::from_document(document, namespace);
        if let Some((first, _)) = manifests.iter().find(|(_, m)| m.key == manifest.key) {
            return Err(format!("{} is defined twice, in {first} and in {}", manifest.key, document.file));
        }
        manifests.push((document.file.clone(), manifest));
    }
    let mut manifests: Vec<Manifest> = manifests.into_iter().map(|(_, m)| m).collect();
    manifests.sort_by_key(|m| apply_order(&m.key.kind));
    Ok(manifests)
}

/// Argo CD's include/exclude globs: `*` and `?` match any characters (`/` too), `{a,b}`
/// either alternative, `[...]` a class.
fn glob(pattern: &str) -> regex::Regex {
    let mut out = String::from("^");
    let mut in_class = false;
    for c in pattern.chars() {
        match c {
            '[' if !in_class => (in_class, out) = (true, out + "["),
            ']' if in_class => (in_class, out) = (false, out + "]"),
            _ if in_class => out.push(c),
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '{' => out.push_str("(?:"),
            '}' => out.push(')'),
            ',' => out.push('|'),
            _ => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    regex::Regex::new(&out)
        .unwrap_or_else(|_| regex::Regex::new(&format!("^{}$", regex::escape(pattern))).expect("escaped"))
}

/// Objects others refer to go first: templates, then Services (and the ServersTransports
/// they are reached with), then the TraefikServices over them, then the IngressRoutes and
/// Rollouts that use those.
fn apply_order(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "AnalysisTemplate" | "ClusterAnalysisTemplate" => 1,
        "Service" | "ServersTransport" => 2,
        "TraefikService" => 3,
        "IngressRoute" => 4,
        "Rollout" => 5,
        _ => 6,
    }
}

/// Git against the store, for one Application.
#[derive(Clone, Debug, Default)]
struct Comparison {
    status: &'static str,
    health: HealthStatus,
    resources: Vec<ResourceStatus>,
    images: Vec<String>,
    /// Desired objects some other Application tracks (never taken over).
    conditions: Vec<(&'static str, String)>,
    /// Live objects of this Application that git no longer has.
    extra: Vec<ObjectKey>,
    /// Tracking ids of objects git has that belong to another Application.
    foreign: Vec<ObjectKey>,
}

fn compare(store: &Store, instance: &str, target: &Target) -> Result<Comparison> {
    let tracked = tracked_objects(store, instance)?;
    let mut comparison = Comparison::default();
    let mut synced = true;
    // Only whether a re-apply would change something matters here, not when it would happen.
    let now = Time::default();
    let manifests: &[Manifest] = match target {
        Target::Loaded { manifests, .. } => manifests,
        Target::Failed { .. } => &[],
    };
    let mut entries: Vec<(ObjectKey, Option<Json>, &'static str, bool)> = Vec::new();
    for manifest in manifests {
        let desired = tracked_manifest(instance, manifest);
        let live = store.get(&desired.key)?;
        if let Some(owner) = live.as_ref().and_then(tracked_by).filter(|owner| *owner != instance) {
            comparison.conditions.push((
                "SharedResourceWarning",
                format!("{} is part of applications {owner} and {instance}; serin leaves it to {owner}", desired.key),
            ));
            comparison.foreign.push(desired.key.clone());
        }
        let outcome = apply::merge(live.as_ref().map(|l| &*l.body), &desired.body, "", now).1;
        let in_sync = live.is_some() && outcome == Outcome::Unchanged;
        synced &= in_sync;
        entries.push((
            desired.key,
            live.map(|l| std::sync::Arc::unwrap_or_clone(l.body)),
            if in_sync { "Synced" } else { "OutOfSync" },
            false,
        ));
    }
    for live in tracked {
        if !manifests.iter().any(|m| m.key == live.key) {
            synced = false;
            comparison.extra.push(live.key.clone());
            if matches!(target, Target::Loaded { .. }) {
                entries.push((live.key, Some(std::sync::Arc::unwrap_or_clone(live.body)), "OutOfSync", true));
            } else {
                entries.push((live.key, Some(std::sync::Arc::unwrap_or_clone(live.body)), "Unknown", false));
            }
        }
    }
    comparison.status = match target {
        Target::Failed { .. } => "Unknown",
        Target::Loaded { .. } if synced => "Synced",
        Target::Loaded { .. } => "OutOfSync",
    };
    let mut worst: Option<HealthStatus> = None;
    for (key, live, status, requires_pruning) in entries {
        let health = match &live {
            Some(body) => resource_health(&key.kind, body),
            None => HealthStatus { status: "Missing".to_string(), message: None },
        };
        if worst.as_ref().is_none_or(|w| rank(&health.status) > rank(&w.status)) {
            worst = Some(health.clone());
        }
        if let Some(body) = &live
            && key.kind == "Rollout"
        {
            let containers = body.pointer("/spec/template/spec/containers").and_then(Json::as_array);
            for image in containers.into_iter().flatten().filter_map(|c| c["image"].as_str()) {
                if !comparison.images.iter().any(|i| i == image) {
                    comparison.images.push(image.to_string());
                }
            }
        }
        comparison.resources.push(ResourceStatus {
            version: version_of(&key),
            group: key.group,
            kind: key.kind,
            namespace: key.namespace,
            name: key.name,
            status: status.to_string(),
            health: Some(health),
            requires_pruning: requires_pruning.then_some(true),
        });
    }
    comparison.health = worst.unwrap_or(HealthStatus { status: "Missing".to_string(), message: None });
    Ok(comparison)
}

/// The API version of a kind in a group (`v1`, `v1alpha1`), as serin reads it.
fn version_of(key: &ObjectKey) -> Option<String> {
    KINDS.iter().find_map(|(api_version, kind, _)| {
        let group = serin_model::object::group_of(api_version);
        (*kind == key.kind && group == key.group)
            .then(|| api_version.rsplit('/').next().unwrap_or_default().to_string())
    })
}

/// Argo CD's order of health, best first: an Application is as healthy as its worst object.
fn rank(health: &str) -> u8 {
    match health {
        "Healthy" => 0,
        "Suspended" => 1,
        "Progressing" => 2,
        "Missing" => 3,
        "Degraded" => 4,
        _ => 5,
    }
}

/// The health of one live object, as Argo CD judges it (Rollouts as its Argo Rollouts check
/// does; Services, TraefikServices, IngressRoutes and templates are healthy once they exist).
fn resource_health(kind: &str, body: &Json) -> HealthStatus {
    let health = |status: &str, message: Option<&str>| HealthStatus {
        status: status.to_string(),
        message: message.filter(|m| !m.is_empty()).map(str::to_string),
    };
    match kind {
        "Rollout" => {
            let generation = body.pointer("/metadata/generation").and_then(Json::as_i64).map(|g| g.to_string());
            let observed = body.pointer("/status/observedGeneration").and_then(Json::as_str).map(str::to_string);
            if generation != observed {
                return health("Progressing", Some("Waiting for rollout spec update to be observed"));
            }
            let message = body.pointer("/status/message").and_then(Json::as_str);
            match body.pointer("/status/phase").and_then(Json::as_str) {
                Some("Healthy") => health("Healthy", None),
                Some("Paused") => health("Suspended", message.or(Some("Rollout is paused"))),
                Some("Degraded") => health("Degraded", message),
                _ => health("Progressing", message),
            }
        }
        "AnalysisRun" => match body.pointer("/status/phase").and_then(Json::as_str) {
            Some("Successful") => health("Healthy", None),
            Some("Failed" | "Error") => health("Degraded", body.pointer("/status/message").and_then(Json::as_str)),
            Some("Inconclusive") => health("Suspended", None),
            _ => health("Progressing", None),
        },
        _ => health("Healthy", None),
    }
}

enum AutoSync {
    Run,
    /// Not now, and why (shown as a SyncError condition).
    Hold(String),
    /// selfHeal, after this many milliseconds.
    Later(i64),
    Skip,
}

/// Argo CD's rules for an automated sync of an OutOfSync Application: once per commit (a
/// failed attempt is not retried for the same commit), drift of an already synced commit
/// only with selfHeal and after its delay, never a prune of everything without allowEmpty;
/// and serin's own: never automatically after a force-push.
fn auto_sync_decision(
    app: &Application,
    commit: &str,
    fast_forward: bool,
    comparison: &Comparison,
    now: Time,
) -> AutoSync {
    let Some(policy) = app.spec.automated() else { return AutoSync::Skip };
    let short = &commit[..commit.len().min(7)];
    let state = app.status.as_ref().and_then(|s| s.operation_state.as_ref());
    let attempted = state.filter(|s| s.sync_result.as_ref().is_some_and(|r| r.revision == commit));
    if let Some(state) = attempted {
        if state.phase != "Succeeded" {
            return AutoSync::Hold(format!(
                "Failed sync attempt to {short}: {}",
                state.message.as_deref().unwrap_or_default()
            ));
        }
        if policy.self_heal != Some(true) {
            return AutoSync::Skip;
        }
        let since = state.finished_at.map_or(SELF_HEAL_DELAY_MS, |t| now.since(t));
        if since < SELF_HEAL_DELAY_MS {
            return AutoSync::Later(SELF_HEAL_DELAY_MS - since);
        }
    } else if !fast_forward {
        let target = app.spec.source.as_ref().and_then(|s| s.target_revision.as_deref()).unwrap_or("HEAD");
        let synced = app.status.as_ref().and_then(|s| s.history.last()).map(|h| h.revision.clone()).unwrap_or_default();
        return AutoSync::Hold(format!(
            "automated sync held: {target} was force-pushed ({short} does not descend from the synced {}); run `serin app sync {}` to accept it",
            &synced[..synced.len().min(7)],
            app.metadata.name()
        ));
    }
    if !comparison.foreign.is_empty() {
        return AutoSync::Skip;
    }
    let prune = policy.prune == Some(true);
    let everything_pruned = comparison.resources.iter().all(|r| r.requires_pruning == Some(true));
    if prune && policy.allow_empty != Some(true) && everything_pruned && !comparison.resources.is_empty() {
        return AutoSync::Hold(
            "auto-sync will wipe out all resources (set syncPolicy.automated.allowEmpty to allow it)".into(),
        );
    }
    let only_pruning = comparison.resources.iter().all(|r| r.status == "Synced" || r.requires_pruning == Some(true));
    if !prune && only_pruning {
        return AutoSync::Skip;
    }
    AutoSync::Run
}

/// Where an Application's manifests without a namespace go.
fn destination_namespace(app: &Application) -> String {
    app.spec.destination.namespace.clone().unwrap_or_else(|| "default".to_string())
}

/// Whether a live object asks Argo CD not to prune it
/// (`argocd.argoproj.io/sync-options: Prune=false`, among comma-separated options).
fn prune_disabled(body: &serde_json::Value) -> bool {
    body.pointer("/metadata/annotations/argocd.argoproj.io~1sync-options")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|options| options.split(',').any(|o| o.trim() == "Prune=false"))
}

/// The writes of one sync inside its transaction: every manifest applied in dependency
/// order, then (with `prune`) this Application's objects that git no longer has deleted.
/// A store error fails the whole transaction (nothing of the sync stays; it is tried again);
/// the inner error is a refusal made before anything was written, recorded as a failed sync.
fn apply_target(
    w: &mut Writer<'_>,
    instance: &str,
    manifests: &[Manifest],
    comparison: &Comparison,
    prune: bool,
    now: Time,
) -> Result<std::result::Result<Vec<ResourceResult>, String>> {
    if let Some(key) = comparison.foreign.first() {
        return Ok(Err(format!("{key} belongs to another application; nothing was applied")));
    }
    let mut results = Vec::new();
    let result = |key: &ObjectKey, status: &str, message: String| ResourceResult {
        group: key.group.clone(),
        version: None,
        kind: key.kind.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        status: Some(status.to_string()),
        message: Some(message),
        sync_phase: Some("Sync".to_string()),
    };
    for manifest in manifests {
        let desired = tracked_manifest(instance, manifest);
        let outcome = apply::apply_manifest(w, &desired, now)?;
        let word = match outcome {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        };
        results.push(result(&manifest.key, "Synced", format!("{} {word}", manifest.key)));
    }
    if prune {
        let mut extra = comparison.extra.clone();
        extra.sort_by_key(|k| std::cmp::Reverse(apply_order(&k.kind)));
        for key in &extra {
            let live = w.get(key)?;
            if live.is_some_and(|live| prune_disabled(&live.body)) {
                results.push(result(key, "PruneSkipped", "ignored (no prune)".to_string()));
                continue;
            }
            objects::delete(w, key, now)?;
            results.push(result(key, "Pruned", "pruned".to_string()));
        }
    }
    Ok(Ok(results))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use serin_model::application::{AutomatedSync, DirectorySource, SyncPolicy};

    fn source(directory: DirectorySource) -> ApplicationSource {
        ApplicationSource {
            repo_url: "r".into(),
            path: Some("app".into()),
            directory: Some(directory),
            ..Default::default()
        }
    }

    const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: NAME\nspec:\n  ports:\n  - port: 80\n";

    fn snapshot(files: &[&str]) -> Snapshot {
        let files =
            files.iter().map(|f| (f.to_string(), SERVICE.replace("NAME", &f.replace(['/', '.'], "-")).into_bytes()));
        Snapshot { commit: "0123456789abcdef".into(), files: files.collect() }
    }

    fn names(result: std::result::Result<Vec<Manifest>, String>) -> Vec<String> {
        result.unwrap().into_iter().map(|m| m.key.name).collect()
    }

    #[test]
    fn directory_settings_select_files_as_argo_cd_does() {
        let files = snapshot(&["a.yaml", "b.json", "notes.txt", "sub/c.yml"]);
        assert_eq!(names(manifests(&source(Default::default()), &files, "ns")), ["a-yaml", "b-json"]);
        let recurse = DirectorySource { recurse: Some(true), ..Default::default() };
        assert_eq!(names(manifests(&source(recurse.clone()), &files, "ns")), ["a-yaml", "b-json", "sub-c-yml"]);
        let include = DirectorySource { include: Some("{*.yml,a.*}".into()), ..recurse.clone() };
        assert_eq!(names(manifests(&source(include), &files, "ns")), ["a-yaml", "sub-c-yml"]);
        let exclude = DirectorySource { exclude: Some("sub/*".into()), ..recurse };
        assert_eq!(names(manifests(&source(exclude), &files, "ns")), ["a-yaml", "b-json"]);
        let manifest = manifests(&source(Default::default()), &files, "ns").unwrap().remove(0);
        assert_eq!(manifest.key.namespace, "ns");
    }

    #[test]
    fn a_bad_file_names_its_path_in_the_repository() {
        let mut files = snapshot(&["a.yaml"]);
        files.files.push((
            "b.yaml".into(),
            b"apiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  port: 1\n".to_vec(),
        ));
        let error = manifests(&source(Default::default()), &files, "ns").unwrap_err();
        assert!(error.starts_with("invalid manifests at 0123456; nothing is applied"), "{error}");
        assert!(error.contains("app/b.yaml:6:3: spec.port: unknown field \"port\""), "{error}");
    }

    fn automated_app(policy: AutomatedSync, state: Option<OperationState>) -> Application {
        let mut app = Application::default();
        app.spec.sync_policy = Some(SyncPolicy { automated: Some(policy), ..Default::default() });
        app.status = Some(serin_model::application::ApplicationStatus { operation_state: state, ..Default::default() });
        app
    }

    fn attempted(commit: &str, phase: &str, finished: i64) -> Option<OperationState> {
        Some(OperationState {
            phase: phase.into(),
            message: Some("boom".into()),
            sync_result: Some(SyncResult { revision: commit.into(), ..Default::default() }),
            finished_at: Some(Time(finished)),
            ..Default::default()
        })
    }

    fn out_of_sync(requires_pruning: bool) -> Comparison {
        let resource = ResourceStatus {
            status: "OutOfSync".into(),
            requires_pruning: requires_pruning.then_some(true),
            ..Default::default()
        };
        Comparison { status: "OutOfSync", resources: vec![resource], ..Default::default() }
    }

    #[test]
    fn automated_sync_follows_argo_cds_rules() {
        let plain = AutomatedSync::default();
        let heal = AutomatedSync { self_heal: Some(true), ..Default::default() };
        let prune = AutomatedSync { prune: Some(true), ..Default::default() };
        let decide = |app: &Application, fast_forward, comparison: &Comparison, now| match auto_sync_decision(
            app,
            "c2",
            fast_forward,
            comparison,
            Time(now),
        ) {
            AutoSync::Run => "run".to_string(),
            AutoSync::Hold(message) => message,
            AutoSync::Later(after) => format!("later {after}"),
            AutoSync::Skip => "skip".to_string(),
        };
        let drift = out_of_sync(false);
        assert_eq!(decide(&automated_app(plain.clone(), attempted("c1", "Succeeded", 0)), true, &drift, 0), "run");
        assert_eq!(
            decide(&automated_app(plain.clone(), attempted("c2", "Failed", 0)), true, &drift, 0),
            "Failed sync attempt to c2: boom"
        );
        assert_eq!(decide(&automated_app(plain, attempted("c2", "Succeeded", 0)), true, &drift, 60_000), "skip");
        assert_eq!(
            decide(&automated_app(heal.clone(), attempted("c2", "Succeeded", 1000)), true, &drift, 3000),
            "later 3000"
        );
        assert_eq!(decide(&automated_app(heal.clone(), attempted("c2", "Succeeded", 1000)), true, &drift, 6000), "run");
        assert!(
            decide(&automated_app(heal, attempted("c1", "Succeeded", 0)), false, &drift, 0).contains("force-pushed")
        );
        assert!(
            decide(&automated_app(prune.clone(), None), true, &out_of_sync(true), 0)
                .starts_with("auto-sync will wipe out")
        );
        let allow_empty = AutomatedSync { allow_empty: Some(true), ..prune };
        assert_eq!(decide(&automated_app(allow_empty, None), true, &out_of_sync(true), 0), "run");
        assert_eq!(decide(&automated_app(AutomatedSync::default(), None), true, &out_of_sync(true), 0), "skip");
    }

    #[test]
    fn rollout_health_as_argo_cd_reads_it() {
        let rollout = |phase: &str, observed: &str| json!({"metadata": {"generation": 2}, "status": {"phase": phase, "observedGeneration": observed, "message": "CanaryPauseStep"}});
        let status = |body: Json| resource_health("Rollout", &body).status;
        assert_eq!(status(rollout("Paused", "2")), "Suspended");
        assert_eq!(status(rollout("Degraded", "2")), "Degraded");
        assert_eq!(status(rollout("Healthy", "2")), "Healthy");
        assert_eq!(status(rollout("Healthy", "1")), "Progressing");
        assert_eq!(resource_health("Service", &json!({})).status, "Healthy");
        assert!(rank("Degraded") > rank("Missing") && rank("Missing") > rank("Suspended"));
    }
}

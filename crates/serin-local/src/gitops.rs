//! The GitOps controller: Argo CD's Application on the local platform, the store's adapter of
//! `serin_gitops` (which decides everything a sync does).
//!
//! For each Application it reads the manifests of `spec.source` from git (on a poll, a
//! webhook or `serin app sync`), compares them with what the store holds, writes the status
//! the comparison gives, and syncs when told to: the sync's steps run in one transaction with
//! the Application's new status, so a killed server never leaves half a sync.

use crate::apply::{self, Manifest};
use crate::clock::Clock;
use crate::objects;
use crate::store::{EventRecord, Result, Store, StoreError, Stored, Writer};
use serde_json::Value as Json;
use serin_git::{GitSource, load_target};
pub use serin_gitops::compare::Difference;
use serin_gitops::compare::{Comparison, compare, differences};
use serin_gitops::refresh::{Read, Refreshes};
use serin_gitops::source::{Kinds, Target, target_error};
use serin_gitops::status::{Finished, record_sync};
pub use serin_gitops::sync::SELF_HEAL_DELAY_MS;
use serin_gitops::sync::{Next, Step, next, prune_disabled, resource_result, steps};
pub use serin_gitops::tracking::TRACKING_ANNOTATION;
use serin_gitops::tracking::{instance_name, tracked_by};
use serin_model::application::{Application, ResourceResult};
use serin_model::object::KINDS;
use serin_model::{ObjectKey, Time};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

pub struct GitOps {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    git: Arc<dyn GitSource>,
    /// The longest time between two refreshes of one Application (virtual milliseconds);
    /// each wait is drawn between two thirds of it and all of it.
    resync_ms: i64,
    refreshes: parking_lot::Mutex<Refreshes>,
    wake: tokio::sync::Notify,
}

impl GitOps {
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>, git: Arc<dyn GitSource>, resync_ms: i64) -> GitOps {
        GitOps {
            store,
            clock,
            git,
            resync_ms: resync_ms.max(1),
            refreshes: Default::default(),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Reads the Application's source from git again at once (a webhook, `app sync`).
    pub fn request_refresh(&self, app: ObjectKey) {
        self.refreshes.lock().request(app);
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
        self.refreshes.lock().retain(|key| apps.iter().any(|a| a.key == *key));
        for stored in &apps {
            let Ok(app) = serde_json::from_value::<Application>(serde_json::Value::clone(&stored.body)) else {
                continue;
            };
            let due = self.refreshes.lock().due(&stored.key, &app, self.clock.now());
            if let Some(read) = due {
                self.refresh(&stored.key, read).await;
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
        if let Some(after) = self.refreshes.lock().next_poll(self.clock.now()) {
            soonest(after);
        }
        Ok(due)
    }

    /// Reads the source on a blocking thread and keeps what it found.
    async fn refresh(&self, key: &ObjectKey, read: Read) {
        let git = self.git.clone();
        let task_read = read.clone();
        let target = tokio::task::spawn_blocking(move || load_target(git.as_ref(), &task_read, Kinds::Modelled))
            .await
            .unwrap_or_else(|e| Target::Failed { commit: None, message: format!("reading git failed: {e}") });
        if let Target::Failed { message, .. } = &target {
            tracing::warn!(application = %key, %message, "gitops refresh");
        }
        self.refreshes.lock().record(key.clone(), read, target, self.clock.now(), self.resync_ms);
    }

    /// Compares one Application with the store, syncs when it should, writes its status;
    /// returns when it wants to be looked at again.
    fn reconcile(&self, stored: &Stored) -> Result<Option<i64>> {
        let Ok(app) = serde_json::from_value::<Application>(serde_json::Value::clone(&stored.body)) else {
            tracing::warn!(application = %stored.key, "stored application does not decode; skipped");
            return Ok(None);
        };
        let Some((target, reconciled_at)) = self.refreshes.lock().target(&stored.key) else { return Ok(None) };
        let now = self.clock.now();
        let instance = instance_name(&stored.key);
        let tracked = tracked_objects(&self.store, &instance)?;
        let live = |key: &ObjectKey| -> Result<Option<Json>> {
            Ok(self.store.get(key)?.map(|l| Arc::unwrap_or_clone(l.body)))
        };
        let comparison = compare(&instance, &target, live, tracked)?;
        match next(&app, &target, &comparison, reconciled_at, now) {
            Next::Sync { prune, initiated_by } => {
                self.sync(stored, &app, &target, &comparison, prune, initiated_by, now).map(|()| Some(0))
            }
            Next::Report { status, requeue } => {
                if app.status.as_ref() != Some(&*status) {
                    let mut body = serde_json::Value::clone(&stored.body);
                    body["status"] = serde_json::to_value(&*status).unwrap_or_default();
                    self.store.put(&stored.key, &body, Some(stored.rev))?;
                }
                Ok(requeue)
            }
        }
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
            let result = match result {
                Ok(resources) => (resources, Ok(())),
                Err(message) => (Vec::new(), Err(message)),
            };
            let finished = record_sync(&mut status, app, &commit, result, initiated_by, now);
            // The sync may have applied this Application's own manifest (an application that
            // manages itself, as in app-of-apps): the status goes onto what it wrote.
            let latest = w.get(&stored.key)?.unwrap_or_else(|| stored.clone());
            let mut body = serde_json::Value::clone(&latest.body);
            if let Some(object) = body.as_object_mut() {
                object.remove("operation");
            }
            body["status"] = serde_json::to_value(&status).unwrap_or_default();
            w.put(&stored.key, &body, Some(latest.rev))?;
            Ok((finished, commit))
        })?;
        let (Finished { phase, message }, commit) = outcome;
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
        let Some((target, _)) = self.refreshes.lock().target(key) else {
            return Ok(Err("the application has not been read from git yet".to_string()));
        };
        let Target::Loaded { manifests, .. } = &target else {
            return Ok(Err(target_error(&target)));
        };
        let instance = instance_name(key);
        let live = |key: &ObjectKey| -> Result<Option<Json>> {
            Ok(self.store.get(key)?.map(|l| Arc::unwrap_or_clone(l.body)))
        };
        differences(&instance, manifests, live, tracked_objects(&self.store, &instance)?).map(Ok)
    }
}

/// Every live object carrying this Application's tracking id.
fn tracked_objects(store: &Store, instance: &str) -> Result<Vec<(ObjectKey, Json)>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (api_version, kind, _) in KINDS {
        let group = serin_model::object::group_of(api_version);
        if !seen.insert((group, *kind)) {
            continue;
        }
        let objects = store.list(Some(group), kind, None)?;
        let tracked = objects.into_iter().filter(|o| tracked_by(&o.key, &o.body) == Some(instance));
        out.extend(tracked.map(|o| (o.key, Arc::unwrap_or_clone(o.body))));
    }
    Ok(out)
}

/// The writes of one sync inside its transaction (`steps`). A store error fails the whole
/// transaction (nothing of the sync stays; it is tried again); the inner error is a refusal
/// made before anything was written, recorded as a failed sync.
fn apply_target(
    w: &mut Writer<'_>,
    instance: &str,
    manifests: &[Manifest],
    comparison: &Comparison,
    prune: bool,
    now: Time,
) -> Result<std::result::Result<Vec<ResourceResult>, String>> {
    let steps = match steps(instance, manifests, comparison, prune) {
        Ok(steps) => steps,
        Err(refused) => return Ok(Err(refused)),
    };
    let mut results = Vec::new();
    for step in steps {
        results.push(match step {
            Step::Apply(manifest) => {
                let outcome = apply::apply_manifest(w, &manifest, now)?;
                resource_result(&manifest.key, "Synced", format!("{} {}", manifest.key, outcome.word()))
            }
            Step::Prune(key) => {
                if w.get(&key)?.is_some_and(|live| prune_disabled(&live.body)) {
                    resource_result(&key, "PruneSkipped", "ignored (no prune)".to_string())
                } else {
                    objects::delete(w, &key, now)?;
                    resource_result(&key, "Pruned", "pruned".to_string())
                }
            }
        });
    }
    Ok(Ok(results))
}

//! When and how an Application syncs, by Argo CD's rules: whether a sync runs now (asked for,
//! or automated: at once, after selfHeal's delay, or held, and why), where manifests without
//! a namespace go, the steps of a sync in order, and which live objects a prune must leave
//! alone.

use crate::apply::Manifest;
use crate::compare::Comparison;
use crate::source::{Target, apply_order};
use crate::tracking::tracked_manifest;
use serde_json::Value as Json;
use serin_model::application::{Application, ApplicationStatus, ResourceResult};
use serin_model::{ObjectKey, Time};

/// How long drift stays before selfHeal syncs it again (Argo CD's default).
pub const SELF_HEAL_DELAY_MS: i64 = 5_000;

/// What to do with an Application after a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    /// Sync now: an operation asked for it, or the automated policy.
    Sync { prune: bool, initiated_by: Option<Json> },
    /// No sync: show this status (written when it changed) and look again after `requeue`
    /// milliseconds, if set.
    Report { status: Box<ApplicationStatus>, requeue: Option<i64> },
}

/// Decides what follows a comparison of `app` with `target`, read from git at `reconciled_at`.
pub fn next(app: &Application, target: &Target, comparison: &Comparison, reconciled_at: Time, now: Time) -> Next {
    if let Some(operation) = app.operation.as_ref() {
        let prune = operation.sync.as_ref().and_then(|s| s.prune).unwrap_or(false);
        return Next::Sync { prune, initiated_by: operation.initiated_by.clone() };
    }
    let mut conditions: Vec<(&str, String)> = comparison.conditions.clone();
    if let Target::Failed { message, .. } = target {
        conditions.push(("ComparisonError", message.clone()));
    }
    let mut requeue = None;
    if let (Some(policy), Target::Loaded { commit, fast_forward, .. }) = (app.spec.automated(), target)
        && comparison.status == "OutOfSync"
    {
        match auto_sync_decision(app, commit, *fast_forward, comparison, now) {
            AutoSync::Run => {
                let initiated_by = Some(serde_json::json!({"username": "serin", "automated": true}));
                return Next::Sync { prune: policy.prune == Some(true), initiated_by };
            }
            AutoSync::Hold(message) => conditions.push(("SyncError", message)),
            AutoSync::Later(after) => requeue = Some(after),
            AutoSync::Skip => {}
        }
    }
    let status = crate::status::compared(app, target, comparison, conditions, reconciled_at, now);
    Next::Report { status: Box::new(status), requeue }
}

/// One write of a sync.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Apply this manifest (tracking id included).
    Apply(Manifest),
    /// Delete this object of the Application's that git no longer has, unless it asks not to
    /// be pruned (`prune_disabled`).
    Prune(ObjectKey),
}

/// The writes of a one-step sync in order: every manifest but hooks by wave and in dependency
/// order, then (with `prune`) the Application's objects that git no longer has, dependents
/// first. Refused, with the reason, when git has an object another Application owns or an
/// annotation that is not Argo CD's: nothing is applied.
pub fn steps(
    instance: &str,
    manifests: &[Manifest],
    comparison: &Comparison,
    prune: bool,
) -> Result<Vec<Step>, String> {
    if let Some(key) = comparison.foreign.first() {
        return Err(format!("{key} belongs to another application; nothing was applied"));
    }
    // In the order of their waves; hooks need a platform that runs Jobs (a cluster).
    let tasks = crate::waves::tasks(manifests)?;
    let resources = tasks.iter().filter(|t| t.hook.is_none());
    let mut steps: Vec<Step> = resources.map(|t| Step::Apply(tracked_manifest(instance, &t.manifest))).collect();
    if prune {
        let mut extra = comparison.extra.clone();
        extra.sort_by_key(|k| std::cmp::Reverse(apply_order(&k.kind)));
        steps.extend(extra.into_iter().map(Step::Prune));
    }
    Ok(steps)
}

/// A line of a sync's result, as Argo CD records it.
pub fn resource_result(key: &ObjectKey, status: &str, message: String) -> ResourceResult {
    ResourceResult {
        group: key.group.clone(),
        version: None,
        kind: key.kind.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        status: Some(status.to_string()),
        message: Some(message),
        sync_phase: Some("Sync".to_string()),
        hook_type: None,
        hook_phase: None,
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
pub fn destination_namespace(app: &Application) -> String {
    app.spec.destination.namespace.clone().unwrap_or_else(|| "default".to_string())
}

/// Whether a live object asks Argo CD not to prune it
/// (`argocd.argoproj.io/sync-options: Prune=false`, among comma-separated options).
pub fn prune_disabled(body: &Json) -> bool {
    body.pointer("/metadata/annotations/argocd.argoproj.io~1sync-options")
        .and_then(Json::as_str)
        .is_some_and(|options| options.split(',').any(|o| o.trim() == "Prune=false"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serin_model::application::{AutomatedSync, OperationState, ResourceStatus, SyncPolicy, SyncResult};

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
}

//! Argo CD's sync phases, waves and hooks: what a sync applies in which order, and when it may
//! go on. A manifest annotated `argocd.argoproj.io/hook` is a hook (typically a Job) created
//! in its phase (PreSync, Sync, PostSync, or SyncFail when the sync fails) and never part of
//! the Application's resources; every other manifest is applied in the Sync phase. Within a
//! phase, `argocd.argoproj.io/sync-wave` (an integer, 0 by default) orders the manifests, and
//! a wave starts only once the one before it is complete: its hooks succeeded and its
//! resources healthy. A hook that fails, or a resource that turns Degraded, fails the sync.
//!
//! The operation is resumable: what was already applied is read back from the results
//! recorded in the Application's `operationState`, so a sync that waits spans as many
//! reconciliations (and controller restarts) as it needs.

use crate::apply::Manifest;
use crate::compare::resource_health;
use crate::source::apply_order;
use serde_json::Value as Json;
use serin_model::ObjectKey;
use serin_model::application::ResourceResult;

pub const HOOK_ANNOTATION: &str = "argocd.argoproj.io/hook";
pub const DELETE_POLICY_ANNOTATION: &str = "argocd.argoproj.io/hook-delete-policy";
pub const WAVE_ANNOTATION: &str = "argocd.argoproj.io/sync-wave";

/// The phases of a sync, in the order they run (SyncFail only when the sync failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    PreSync,
    Sync,
    PostSync,
    SyncFail,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::PreSync => "PreSync",
            Phase::Sync => "Sync",
            Phase::PostSync => "PostSync",
            Phase::SyncFail => "SyncFail",
        }
    }
}

/// When a finished hook is deleted (Argo CD's `hook-delete-policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeletePolicy {
    /// Delete the hook of an earlier sync before creating it again (the default).
    pub before_creation: bool,
    pub on_success: bool,
    pub on_failure: bool,
}

/// One thing a sync does: apply a resource, or create a hook, in a phase and a wave.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub phase: Phase,
    pub wave: i64,
    /// `Some` for a hook.
    pub hook: Option<DeletePolicy>,
    pub manifest: Manifest,
}

/// Whether a manifest is a hook (and so not one of the Application's resources), or is
/// skipped (`hook: Skip`).
pub fn is_hook(manifest: &Manifest) -> bool {
    annotation(&manifest.body, HOOK_ANNOTATION).is_some()
}

fn annotation<'a>(body: &'a Json, name: &str) -> Option<&'a str> {
    body.pointer("/metadata/annotations")?.get(name)?.as_str()
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|v| !v.is_empty())
}

/// The tasks of a sync in the order they run: by phase, wave, kind (dependencies first) and
/// name. Refused, naming the object and the annotation, when one is not Argo CD's.
pub fn tasks(manifests: &[Manifest]) -> Result<Vec<Task>, String> {
    let mut tasks = Vec::new();
    for manifest in manifests {
        let wave = match annotation(&manifest.body, WAVE_ANNOTATION) {
            Some(text) => text
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("{}: {WAVE_ANNOTATION} must be an integer, not {text:?}", manifest.key))?,
            None => 0,
        };
        let Some(hooks) = annotation(&manifest.body, HOOK_ANNOTATION) else {
            tasks.push(Task { phase: Phase::Sync, wave, hook: None, manifest: manifest.clone() });
            continue;
        };
        let mut policy = DeletePolicy::default();
        for name in list(annotation(&manifest.body, DELETE_POLICY_ANNOTATION).unwrap_or("BeforeHookCreation")) {
            match name {
                "BeforeHookCreation" => policy.before_creation = true,
                "HookSucceeded" => policy.on_success = true,
                "HookFailed" => policy.on_failure = true,
                other => {
                    return Err(format!(
                        "{}: {DELETE_POLICY_ANNOTATION} {other:?} is not one of BeforeHookCreation, HookSucceeded, HookFailed",
                        manifest.key
                    ));
                }
            }
        }
        for name in list(hooks) {
            let phase = match name {
                "PreSync" => Phase::PreSync,
                "Sync" => Phase::Sync,
                "PostSync" => Phase::PostSync,
                "SyncFail" => Phase::SyncFail,
                "Skip" => continue,
                other => {
                    return Err(format!(
                        "{}: {HOOK_ANNOTATION} {other:?} is not one of PreSync, Sync, PostSync, SyncFail, Skip",
                        manifest.key
                    ));
                }
            };
            tasks.push(Task { phase, wave, hook: Some(policy), manifest: manifest.clone() });
        }
    }
    tasks.sort_by(|a, b| {
        (a.phase, a.wave, apply_order(&a.manifest.key.kind), &a.manifest.key.name).cmp(&(
            b.phase,
            b.wave,
            apply_order(&b.manifest.key.kind),
            &b.manifest.key.name,
        ))
    });
    Ok(tasks)
}

/// How one applied task stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Not applied in this operation yet.
    Pending,
    /// Applied, not complete: why the sync waits.
    Running(String),
    Done,
    Failed(String),
}

/// What a sync does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Apply these tasks (indexes into the task list): the next wave.
    Apply(Vec<usize>),
    /// Wait for this, then look again.
    Wait(String),
    /// Every task applied and complete.
    Done,
    Failed(String),
}

/// What comes next, given the state of each task. A wave waits for the one before it; the
/// resources of the last wave need only be applied (as in Argo CD, a sync does not wait for
/// its last resources to become healthy), its hooks must succeed.
pub fn progress(tasks: &[Task], state: impl Fn(&Task) -> TaskState) -> Progress {
    let running: Vec<(usize, &Task)> = tasks.iter().enumerate().filter(|(_, t)| t.phase != Phase::SyncFail).collect();
    let mut groups: Vec<Vec<(usize, &Task)>> = Vec::new();
    for (index, task) in running {
        match groups.last_mut() {
            Some(group) if group[0].1.phase == task.phase && group[0].1.wave == task.wave => group.push((index, task)),
            _ => groups.push(vec![(index, task)]),
        }
    }
    let count = groups.len();
    for (n, group) in groups.iter().enumerate() {
        let states: Vec<TaskState> = group.iter().map(|(_, t)| state(t)).collect();
        let pending: Vec<usize> =
            group.iter().zip(&states).filter(|(_, s)| **s == TaskState::Pending).map(|((i, _), _)| *i).collect();
        if !pending.is_empty() {
            return Progress::Apply(pending);
        }
        let last = n + 1 == count;
        for ((_, task), state) in group.iter().zip(states) {
            match state {
                TaskState::Failed(why) => return Progress::Failed(why),
                TaskState::Running(why) if task.hook.is_some() || !last => return Progress::Wait(why),
                _ => {}
            }
        }
    }
    Progress::Done
}

/// The state of an applied resource (not a hook) from its live object: complete once
/// healthy (or suspended, as a paused Rollout is), failed when Degraded.
pub fn resource_state(key: &ObjectKey, live: Option<&Json>) -> TaskState {
    let Some(live) = live else { return TaskState::Running(format!("waiting for {key} to exist")) };
    let health = resource_health(&key.kind, live);
    match health.status.as_str() {
        "Healthy" | "Suspended" => TaskState::Done,
        "Degraded" => TaskState::Failed(format!("{key} is Degraded: {}", health.message.unwrap_or_default())),
        _ => TaskState::Running(format!("waiting for healthy state of {key}")),
    }
}

/// Whether a hook's live object finished: a Job once Complete or Failed, a Pod once
/// Succeeded or Failed, anything else once it exists. `None` while it runs.
pub fn hook_outcome(key: &ObjectKey, live: &Json) -> Option<Result<(), String>> {
    match key.kind.as_str() {
        "Job" => {
            let conditions = live.pointer("/status/conditions").and_then(Json::as_array);
            let holds =
                |kind: &str| conditions.into_iter().flatten().find(|c| c["type"] == kind && c["status"] == "True");
            if holds("Complete").is_some() {
                Some(Ok(()))
            } else {
                holds("Failed").map(|c| Err(format!("{key} failed: {}", c["message"].as_str().unwrap_or_default())))
            }
        }
        "Pod" => match live.pointer("/status/phase").and_then(Json::as_str) {
            Some("Succeeded") => Some(Ok(())),
            Some("Failed") => Some(Err(format!("{key} failed"))),
            _ => None,
        },
        _ => Some(Ok(())),
    }
}

/// Where the result of `task` is among the operation's results, if it was applied.
pub fn recorded(task: &Task, results: &[ResourceResult]) -> Option<usize> {
    let key = &task.manifest.key;
    results.iter().position(|r| {
        r.group == key.group
            && r.kind == key.kind
            && r.namespace == key.namespace
            && r.name == key.name
            && r.sync_phase.as_deref() == Some(task.phase.name())
            && r.hook_type.is_some() == task.hook.is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(kind: &str, name: &str, annotations: Json) -> Manifest {
        let body = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "annotations": annotations}});
        Manifest { key: ObjectKey::new("v1", kind, "default", name), body }
    }

    fn names(tasks: &[Task]) -> Vec<String> {
        tasks.iter().map(|t| format!("{}:{}:{}", t.phase.name(), t.wave, t.manifest.key.name)).collect()
    }

    #[test]
    fn tasks_run_by_phase_then_wave_then_kind() {
        let manifests = [
            manifest("Rollout", "app", json!({})),
            manifest("Service", "svc", json!({})),
            manifest("ConfigMap", "late", json!({WAVE_ANNOTATION: "2"})),
            manifest("Job", "migrate", json!({HOOK_ANNOTATION: "PreSync"})),
            manifest("Job", "smoke", json!({HOOK_ANNOTATION: "PostSync", DELETE_POLICY_ANNOTATION: "HookSucceeded"})),
            manifest("Job", "skipped", json!({HOOK_ANNOTATION: "Skip"})),
            manifest("Job", "early", json!({HOOK_ANNOTATION: "Sync", WAVE_ANNOTATION: "-1"})),
        ];
        let ordered = tasks(&manifests).unwrap();
        assert_eq!(
            names(&ordered),
            ["PreSync:0:migrate", "Sync:-1:early", "Sync:0:svc", "Sync:0:app", "Sync:2:late", "PostSync:0:smoke"]
        );
        assert_eq!(ordered[5].hook, Some(DeletePolicy { on_success: true, ..Default::default() }));
        assert_eq!(ordered[0].hook, Some(DeletePolicy { before_creation: true, ..Default::default() }));
        assert!(is_hook(&manifests[3]) && !is_hook(&manifests[0]));
        let bad = manifest("Job", "x", json!({WAVE_ANNOTATION: "soon"}));
        assert_eq!(tasks(&[bad]).unwrap_err(), "job/x: argocd.argoproj.io/sync-wave must be an integer, not \"soon\"");
    }

    #[test]
    fn a_wave_waits_for_the_one_before_and_the_last_resources_need_not_be_healthy() {
        let manifests = [
            manifest("Job", "migrate", json!({HOOK_ANNOTATION: "PreSync"})),
            manifest("Service", "svc", json!({})),
            manifest("Rollout", "app", json!({WAVE_ANNOTATION: "1"})),
        ];
        let tasks = tasks(&manifests).unwrap();
        let with =
            |states: [TaskState; 3]| progress(&tasks, |t| states[tasks.iter().position(|x| x == t).unwrap()].clone());
        use TaskState::*;
        assert_eq!(with([Pending, Pending, Pending]), Progress::Apply(vec![0]));
        assert_eq!(with([Running("job".into()), Pending, Pending]), Progress::Wait("job".into()));
        assert_eq!(with([Done, Pending, Pending]), Progress::Apply(vec![1]));
        assert_eq!(with([Done, Running("svc".into()), Pending]), Progress::Wait("svc".into()));
        assert_eq!(with([Done, Done, Pending]), Progress::Apply(vec![2]));
        assert_eq!(with([Done, Done, Running("rollout".into())]), Progress::Done);
        assert_eq!(with([Failed("boom".into()), Pending, Pending]), Progress::Failed("boom".into()));
    }

    #[test]
    fn a_job_hook_finishes_with_its_conditions() {
        let key = ObjectKey::new("batch/v1", "Job", "default", "migrate");
        let job = |kind: &str| json!({"status": {"conditions": [{"type": kind, "status": "True", "message": "BackoffLimitExceeded"}]}});
        assert_eq!(hook_outcome(&key, &json!({"status": {}})), None);
        assert_eq!(hook_outcome(&key, &job("Complete")), Some(Ok(())));
        assert_eq!(
            hook_outcome(&key, &job("Failed")),
            Some(Err("job.batch/migrate failed: BackoffLimitExceeded".into()))
        );
    }
}

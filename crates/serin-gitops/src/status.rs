//! An Application's status in Argo CD's shape, kept the same way on every platform: what a
//! comparison reports (sync status against a commit, health, resources, images, conditions
//! that keep the time they first appeared), and what a finished sync records (the operation
//! state and, on success, a history entry trimmed to `revisionHistoryLimit`).

use crate::compare::Comparison;
use crate::source::{Target, target_commit};
use serde_json::Value as Json;
use serin_model::Time;
use serin_model::application::{
    Application, ApplicationCondition, ApplicationStatus, ComparedTo, Operation, OperationState, ResourceResult,
    RevisionHistory, SyncResult, SyncStatus,
};

/// Syncs kept in `status.history` when the Application does not say.
const HISTORY_LIMIT: usize = 10;

/// The status an Application shows after a comparison.
pub fn compared(
    app: &Application,
    target: &Target,
    comparison: &Comparison,
    conditions: Vec<(&str, String)>,
    reconciled_at: Time,
    now: Time,
) -> ApplicationStatus {
    let old = app.status.clone().unwrap_or_default();
    let mut status = old.clone();
    status.sync = SyncStatus {
        status: comparison.status.to_string(),
        revision: target_commit(target),
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
    status
}

/// How a sync ended: Succeeded or Failed, and Argo CD's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub phase: &'static str,
    pub message: String,
}

/// A sync of `commit` that has started and not finished: `Running`, with no result yet.
pub fn start_sync(app: &Application, commit: &str, operation: Operation, now: Time) -> OperationState {
    OperationState {
        operation: Some(operation),
        phase: "Running".to_string(),
        message: None,
        sync_result: Some(SyncResult {
            revision: commit.to_string(),
            resources: Vec::new(),
            source: app.spec.source.clone(),
        }),
        started_at: Some(now),
        finished_at: None,
    }
}

/// Records a sync of `commit` that touched `resources` and ended with `outcome` (or why it
/// failed) into `status`; a sync that was Running keeps the time it started.
pub fn record_sync(
    status: &mut ApplicationStatus,
    app: &Application,
    commit: &str,
    (resources, outcome): (Vec<ResourceResult>, Result<(), String>),
    initiated_by: Option<Json>,
    now: Time,
) -> Finished {
    let source = app.spec.source.clone();
    let running = status.operation_state.as_ref().filter(|s| s.phase == "Running");
    let started_at = running.and_then(|s| s.started_at).unwrap_or(now);
    let finished = match outcome {
        Ok(()) => {
            let id = status.history.last().map_or(0, |h| h.id + 1);
            status.history.push(RevisionHistory {
                id,
                revision: commit.to_string(),
                deployed_at: now,
                deploy_started_at: Some(now),
                source: source.clone(),
                initiated_by: initiated_by.clone(),
            });
            let limit = app.spec.revision_history_limit.map_or(HISTORY_LIMIT, |l| l.max(1) as usize);
            let excess = status.history.len().saturating_sub(limit);
            status.history.drain(..excess);
            Finished { phase: "Succeeded", message: "successfully synced (all tasks run)".to_string() }
        }
        Err(message) => Finished { phase: "Failed", message },
    };
    let operation = app.operation.clone().unwrap_or_default();
    status.operation_state = Some(OperationState {
        operation: Some(Operation { initiated_by, ..operation }),
        phase: finished.phase.to_string(),
        message: Some(finished.message.clone()),
        sync_result: Some(SyncResult { revision: commit.to_string(), resources, source }),
        started_at: Some(started_at),
        finished_at: Some(now),
    });
    finished
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_last_syncs_and_a_failure_records_no_entry() {
        let mut app = Application::default();
        app.spec.revision_history_limit = Some(2);
        let mut status = ApplicationStatus::default();
        for (i, commit) in ["c1", "c2", "c3"].iter().enumerate() {
            let done = record_sync(&mut status, &app, commit, (Vec::new(), Ok(())), None, Time(i as i64));
            assert_eq!(done.phase, "Succeeded");
        }
        let kept: Vec<(i64, &str)> = status.history.iter().map(|h| (h.id, h.revision.as_str())).collect();
        assert_eq!(kept, [(1, "c2"), (2, "c3")]);
        let failed = record_sync(&mut status, &app, "c4", (Vec::new(), Err("boom".into())), None, Time(9));
        assert_eq!(failed, Finished { phase: "Failed", message: "boom".into() });
        assert_eq!(status.history.len(), 2);
        let state = status.operation_state.unwrap();
        assert_eq!((state.phase.as_str(), state.sync_result.unwrap().revision.as_str()), ("Failed", "c4"));
    }

    #[test]
    fn a_condition_keeps_the_time_it_first_appeared() {
        let mut app = Application::default();
        let target = Target::Failed { commit: None, message: "unreachable".into() };
        let first =
            compared(&app, &target, &Comparison::default(), vec![("ComparisonError", "x".into())], Time(1), Time(1));
        app.status = Some(first);
        let again =
            compared(&app, &target, &Comparison::default(), vec![("ComparisonError", "x".into())], Time(5), Time(5));
        assert_eq!(again.conditions[0].last_transition_time, Some(Time(1)));
        let changed =
            compared(&app, &target, &Comparison::default(), vec![("ComparisonError", "y".into())], Time(7), Time(7));
        assert_eq!(changed.conditions[0].last_transition_time, Some(Time(7)));
    }
}

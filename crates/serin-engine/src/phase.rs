//! A Rollout's phase and message, computed from its spec and status exactly as Argo Rollouts
//! does (`CalculateRolloutPhase`, first match wins, blue-green and canary), so `get rollout`, Argo CD and scripts read the same words.

use crate::state::ReplicaSetState;
use serin_model::rollout::{Rollout, RolloutAnalysisRunStatus, RolloutStatus};

pub const PHASE_HEALTHY: &str = "Healthy";
pub const PHASE_PROGRESSING: &str = "Progressing";
pub const PHASE_PAUSED: &str = "Paused";
pub const PHASE_DEGRADED: &str = "Degraded";

/// Condition types and reasons serin writes.
pub const CONDITION_PROGRESSING: &str = "Progressing";
pub const CONDITION_INVALID_SPEC: &str = "InvalidSpec";
pub const CONDITION_PAUSED: &str = "Paused";
pub const REASON_ABORTED: &str = "RolloutAborted";
pub const REASON_DEADLINE: &str = "ProgressDeadlineExceeded";

/// `(phase, message)` for a Rollout whose status the engine just computed.
pub fn phase(rollout: &Rollout, status: &RolloutStatus) -> (&'static str, String) {
    let condition = |kind: &str| status.conditions.iter().find(|c| c.kind == kind);
    if let Some(invalid) = condition(CONDITION_INVALID_SPEC).filter(|c| c.status == "True") {
        return (PHASE_DEGRADED, format!("InvalidSpec: {}", invalid.message.as_deref().unwrap_or_default()));
    }
    let progressing = condition(CONDITION_PROGRESSING);
    if status.abort {
        let message = progressing
            .filter(|c| c.reason.as_deref() == Some(REASON_ABORTED))
            .and_then(|c| c.message.clone())
            .unwrap_or_else(|| "Rollout aborted".to_string());
        return (PHASE_DEGRADED, format!("{REASON_ABORTED}: {message}"));
    }
    if let Some(c) = progressing.filter(|c| c.reason.as_deref() == Some(REASON_DEADLINE)) {
        return (PHASE_DEGRADED, format!("{REASON_DEADLINE}: {}", c.message.as_deref().unwrap_or_default()));
    }
    let spec = &rollout.spec;
    if spec.paused == Some(true) {
        return (PHASE_PAUSED, "manually paused".to_string());
    }
    if let Some(pause) = status.pause_conditions.first() {
        return (PHASE_PAUSED, pause.reason.clone());
    }
    if spec.replicas() != status.updated_replicas {
        return (PHASE_PROGRESSING, "more replicas need to be updated".to_string());
    }
    if status.available_replicas < status.updated_replicas {
        return (PHASE_PROGRESSING, "updated replicas are still becoming available".to_string());
    }
    if let (None, Some(bg)) = (&spec.strategy.canary, &spec.strategy.blue_green) {
        let active = status.blue_green.active_selector.as_ref();
        if active.is_none() || active != status.current_pod_hash.as_ref() {
            return (PHASE_PROGRESSING, "active service cutover pending".to_string());
        }
        if status.stable_rs.is_none() || status.stable_rs != status.current_pod_hash {
            let post = status.blue_green.post_promotion_analysis_run_status.as_ref();
            let finished = |run: &RolloutAnalysisRunStatus| {
                ["Successful", "Failed", "Error", "Inconclusive"].contains(&run.status.as_str())
            };
            if bg.post_promotion_analysis.is_some() && !post.is_some_and(finished) {
                return (PHASE_PROGRESSING, "waiting for analysis to complete".to_string());
            }
            return (PHASE_PROGRESSING, "waiting for post-promotion verification to complete".to_string());
        }
    } else {
        let routed = spec.strategy.canary.as_ref().is_some_and(|c| c.traffic_routing.is_some());
        if !routed && status.replicas > status.updated_replicas {
            return (PHASE_PROGRESSING, "old replicas are pending termination".to_string());
        }
        if status.stable_rs.is_none() || status.stable_rs != status.current_pod_hash {
            return (PHASE_PROGRESSING, "waiting for all steps to complete".to_string());
        }
    }
    if spec.restart_at.is_some() && status.restarted_at != spec.restart_at {
        return (PHASE_PROGRESSING, "rollout is restarting".to_string());
    }
    (PHASE_HEALTHY, String::new())
}

/// `Step: i/n` as `get rollout` shows it (`None` without steps).
pub fn step_progress(rollout: &Rollout) -> Option<(i32, usize)> {
    let steps = rollout.spec.strategy.canary.as_ref()?.steps.len();
    if steps == 0 {
        return None;
    }
    let index = rollout.status.as_ref().and_then(|s| s.current_step_index).unwrap_or(0);
    Some((index, steps))
}

/// SetWeight: the weight the steps ask for now (0 when aborted, all past the last step).
pub fn set_weight(rollout: &Rollout) -> i32 {
    let Some(canary) = &rollout.spec.strategy.canary else { return 0 };
    let status = rollout.status.clone().unwrap_or_default();
    if status.abort {
        return 0;
    }
    let index = status.current_step_index.unwrap_or(0).max(0) as usize;
    if index >= canary.steps.len() {
        return canary.max_weight();
    }
    canary.steps[..=index].iter().rev().find_map(|s| s.set_weight).unwrap_or(0)
}

/// ActualWeight: the weight traffic really has (what the router serves; for a basic canary
/// the canary ReplicaSet's share of the available pods, as kubectl-argo-rollouts computes it);
/// all past the last step.
pub fn actual_weight(rollout: &Rollout, replica_sets: &[ReplicaSetState]) -> i32 {
    let Some(canary) = &rollout.spec.strategy.canary else { return 0 };
    let status = rollout.status.clone().unwrap_or_default();
    let index = status.current_step_index.unwrap_or(0).max(0) as usize;
    if !status.abort && index >= canary.steps.len() {
        return canary.max_weight();
    }
    if canary.traffic_routing.is_some() {
        return status.canary.weights.map_or(0, |w| w.canary.weight);
    }
    if status.available_replicas == 0 {
        return 0;
    }
    // The canary is the current template's ReplicaSet unless it is already the stable one.
    let canary_available = replica_sets
        .iter()
        .find(|rs| status.current_pod_hash.as_ref() == Some(&rs.hash) && status.stable_rs.as_ref() != Some(&rs.hash))
        .map_or(0, |rs| rs.available);
    canary_available * canary.max_weight() / status.available_replicas
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use serin_model::Time;
    use serin_model::object::Object;

    fn seed() -> Rollout {
        let text = include_str!("../../../examples/argo-demo/argorollout-canary/rollout.yaml");
        match serin_model::load_str("rollout.yaml", text).documents.into_iter().next().map(|d| d.object) {
            Some(Object::Rollout(r)) => *r,
            other => panic!("expected a Rollout, got {other:?}"),
        }
    }

    /// One status per branch of `phase`, in its order: a finished update (10 of 10 replicas
    /// updated and available, stable = current) with one thing changed. The seed's rollout has
    /// traffic routing; `basic` drops it, `manual` sets `spec.paused`, `restarting` `spec.restartAt`.
    #[test]
    fn every_phase_and_message() {
        let routed = seed();
        let mut basic = seed();
        basic.spec.strategy.canary.as_mut().unwrap().traffic_routing = None;
        let mut restarting = seed();
        restarting.spec.restart_at = Some(Time::from_millis(1_000));
        let mut manual = seed();
        manual.spec.paused = Some(true);
        let done = json!({"replicas": 10, "updatedReplicas": 10, "availableReplicas": 10,
            "stableRS": "v2", "currentPodHash": "v2"});
        let with = |extra: serde_json::Value| {
            let mut status = done.clone();
            status.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            serde_json::from_value::<RolloutStatus>(status).unwrap()
        };
        let condition = |kind: &str, status: &str, reason: &str, message: &str| {
            let condition = json!({"type": kind, "status": status, "reason": reason, "message": message});
            json!({ "conditions": [condition] })
        };
        let paused = json!({"pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2024-06-23T04:30:04Z"}]});
        let cases: Vec<(&Rollout, RolloutStatus, &str, &str)> = vec![
            (
                &routed,
                with(condition("InvalidSpec", "True", "InvalidSpec", "every step must set exactly one kind")),
                "Degraded",
                "InvalidSpec: every step must set exactly one kind",
            ),
            (&routed, with(json!({"abort": true})), "Degraded", "RolloutAborted: Rollout aborted"),
            (
                &routed,
                with(condition(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    "ReplicaSet \"x\" has timed out progressing.",
                )),
                "Degraded",
                "ProgressDeadlineExceeded: ReplicaSet \"x\" has timed out progressing.",
            ),
            (&manual, with(json!({})), "Paused", "manually paused"),
            (&routed, with(paused), "Paused", "CanaryPauseStep"),
            (&routed, with(json!({"updatedReplicas": 3})), "Progressing", "more replicas need to be updated"),
            (
                &routed,
                with(json!({"availableReplicas": 9})),
                "Progressing",
                "updated replicas are still becoming available",
            ),
            (
                &basic,
                with(json!({"replicas": 12, "availableReplicas": 12})),
                "Progressing",
                "old replicas are pending termination",
            ),
            (
                &routed,
                with(json!({"replicas": 12, "availableReplicas": 12, "stableRS": "v1"})),
                "Progressing",
                "waiting for all steps to complete",
            ),
            (&restarting, with(json!({})), "Progressing", "rollout is restarting"),
            (&routed, with(json!({})), "Healthy", ""),
        ];
        for (rollout, status, expected_phase, expected_message) in cases {
            let (got_phase, got_message) = phase(rollout, &status);
            assert_eq!((got_phase, got_message.as_str()), (expected_phase, expected_message), "{status:?}");
        }
    }
}

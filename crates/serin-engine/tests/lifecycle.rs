//! Whole rollouts in virtual time: abort, retry, undo, promote --full, a new spec mid-rollout,
//! basic canary, analysis verdicts, events and run specs, the progress deadline, and a
//! property test that no sequence of commands leaves a rollout stuck.

use proptest::prelude::*;
use serde_json::{Value as Json, json};
use serin_engine::command::{Command, apply_command};
use serin_engine::objects::{AnalysisRunSpec, analysis_run_spec, set_traefik_weights, traefik_weights};
use serin_engine::phase::actual_weight;
use serin_engine::sim::Simulator;
use serin_engine::state::AnalysisPhase;
use serin_model::Time;
use serin_model::object::{Object, ObjectKey};
use serin_model::rollout::{Rollout, StringMatch};
use std::sync::Arc;

const ROLLOUT: &str = include_str!("../../../examples/argo-demo/argorollout-canary/rollout.yaml");
const V1: &str = "69dc9f5f56";
const V2: &str = "95d95c65";

fn load(text: &str) -> Rollout {
    match serin_model::load_str("rollout.yaml", text).documents.into_iter().next().map(|d| d.object) {
        Some(Object::Rollout(r)) => *r,
        other => panic!("expected a Rollout, got {other:?}"),
    }
}

/// The seed's rollout, v1 deployed and healthy, pods ready after one second.
fn deployed(text: &str) -> Simulator {
    let mut sim = Simulator::new(load(text), Time::from_millis(1_700_000_000_000));
    sim.pod_ready_after = 1_000;
    sim.advance(5_000);
    assert_eq!(phase(&sim), ("Healthy".to_string(), String::new()));
    sim
}

fn run(sim: &mut Simulator, command: Command) {
    apply_command(&mut sim.rollout, &command, &sim.replica_sets).unwrap();
}

fn set_image(sim: &mut Simulator, tag: &str) {
    run(sim, Command::SetImage { container: "myapp".into(), image: format!("ikubernetes/myapp:{tag}") });
}

fn phase(sim: &Simulator) -> (String, String) {
    let s = sim.rollout.status.clone().unwrap_or_default();
    (s.phase.unwrap_or_default(), s.message.unwrap_or_default())
}

fn step(sim: &Simulator) -> i32 {
    sim.rollout.status.as_ref().and_then(|s| s.current_step_index).unwrap_or(-1)
}

fn replicas(sim: &Simulator, hash: &str) -> i32 {
    sim.replica_set(hash).map_or(-1, |rs| rs.replicas)
}

#[test]
fn abort_retry_and_undo() {
    let mut sim = deployed(ROLLOUT);
    set_image(&mut sim, "v2");
    sim.advance(5 * 60_000 + 5_000);
    assert_eq!((step(&sim), sim.traffic.canary_weight), (3, Some(30)));

    run(&mut sim, Command::Abort);
    sim.settle();
    assert_eq!(sim.traffic.canary_weight, Some(0), "abort takes the canary's traffic away at once");
    assert_eq!(sim.traffic.canary_hash.as_deref(), Some(V1), "the canary Service points back at stable");
    assert_eq!(phase(&sim), ("Degraded".into(), "RolloutAborted: Rollout aborted update to revision 2".into()));
    assert_eq!(step(&sim), 0);
    assert_eq!(replicas(&sim, V2), 3, "the canary keeps its pods for abortScaleDownDelaySeconds");
    sim.advance(30_000);
    assert_eq!(replicas(&sim, V2), 0);
    assert_eq!(replicas(&sim, V1), 10);
    assert!(sim.replica_set(V2).unwrap().scale_down_deadline.is_some(), "the deadline is kept on the canary");

    run(&mut sim, Command::Retry);
    sim.advance(5_000);
    assert_eq!(sim.replica_set(V2).unwrap().scale_down_deadline, None, "a retry takes the abort's deadline off");
    assert_eq!(phase(&sim), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!((step(&sim), replicas(&sim, V2), sim.traffic.canary_weight), (1, 1, Some(10)));

    run(&mut sim, Command::Undo { to_revision: None });
    sim.advance(5_000);
    assert_eq!(sim.rollout.spec.template.images(), ["ikubernetes/myapp:v1"]);
    assert_eq!(phase(&sim), ("Healthy".into(), String::new()), "undo to stable skips the steps");
    assert_eq!(step(&sim), 7);
    assert_eq!(sim.traffic.canary_weight, Some(0));
    sim.advance(60_000);
    assert_eq!((replicas(&sim, V1), replicas(&sim, V2)), (10, 0));
}

/// Argo's `Paused` condition: absent until the first pause, True while a pause step or
/// `spec.paused` holds the rollout, False once it resumes, left alone while aborted.
#[test]
fn the_paused_condition_follows_the_pauses() {
    let paused = |sim: &Simulator| {
        let status = sim.rollout.status.clone().unwrap_or_default();
        status.conditions.iter().find(|c| c.kind == "Paused").map(|c| (c.status.clone(), c.reason.clone().unwrap()))
    };
    let held = Some(("True".to_string(), "RolloutPaused".to_string()));
    let resumed = Some(("False".to_string(), "RolloutPaused".to_string()));
    let mut sim = deployed(ROLLOUT);
    assert_eq!(paused(&sim), None, "never paused yet");
    set_image(&mut sim, "v2");
    sim.advance(5_000);
    assert_eq!(paused(&sim), held, "the pause step after setWeight 10");
    run(&mut sim, Command::Promote { full: false });
    sim.advance(2_000);
    assert_eq!((step(&sim), paused(&sim)), (3, held.clone()), "the timed 5m pause after setWeight 30");
    run(&mut sim, Command::Abort);
    sim.settle();
    assert_eq!(paused(&sim), held, "an abort leaves the condition as it was");
    run(&mut sim, Command::Retry);
    sim.advance(1_000);
    run(&mut sim, Command::Promote { full: true });
    sim.advance(60_000);
    assert_eq!((phase(&sim).0.as_str(), paused(&sim)), ("Healthy", resumed.clone()));
    sim.rollout.spec.paused = Some(true);
    sim.advance(1_000);
    assert_eq!(paused(&sim), held, "spec.paused holds it too");
    sim.rollout.spec.paused = None;
    sim.advance(1_000);
    assert_eq!(paused(&sim), resumed);
}

/// The seed's rollout with `dynamicStableScale` (and `extra` canary fields), updated to v2 and
/// paused at 60%: 6 canary pods, the stable scaled down to 4. New pods take `pod_ready_after`
/// milliseconds.
fn dynamic_at_60(pod_ready_after: i64, extra: &str) -> Simulator {
    let text = ROLLOUT
        .replace("      trafficRouting:", &format!("      dynamicStableScale: true\n{extra}      trafficRouting:"));
    let mut sim = deployed(&text);
    sim.pod_ready_after = pod_ready_after;
    set_image(&mut sim, "v2");
    sim.advance(1_000);
    while (step(&sim), replicas(&sim, V2), replicas(&sim, V1)) != (5, 6, 4) {
        assert!(step(&sim) <= 5, "past the 60% pause");
        sim.advance(1_000);
    }
    assert_eq!(sim.traffic.canary_weight, Some(60));
    sim
}

/// What an abort is doing: stable pods, canary pods, canary weight, and whether the canary
/// Service still selects the canary.
type AbortState = (i32, i32, i32, bool);

/// Aborts, then every distinct state in time order with the milliseconds since the abort when
/// it was first seen (sampled every 250 ms). Checks throughout that neither side gets more
/// traffic than its available pods can serve.
fn abort_timeline(sim: &mut Simulator, millis: i64) -> Vec<(i64, AbortState)> {
    run(sim, Command::Abort);
    let mut seen: Vec<(i64, AbortState)> = Vec::new();
    for sample in 1..=millis / 250 {
        sim.advance(250);
        let weight = sim.traffic.canary_weight.unwrap_or(-1);
        for (hash, share) in [(V1, 100 - weight), (V2, weight)] {
            let available = sim.replica_set(hash).map_or(0, |rs| rs.available);
            // share% of 10 replicas, in pods.
            assert!(share * 10 <= available * 100, "{share}% of traffic on {available} pods of {hash} at {}", sim.now);
        }
        let now = (replicas(sim, V1), replicas(sim, V2), weight, sim.traffic.canary_hash.as_deref() == Some(V2));
        if seen.last().is_none_or(|(_, last)| *last != now) {
            seen.push((sample * 250, now));
        }
    }
    seen
}

fn states(timeline: &[(i64, AbortState)]) -> Vec<AbortState> {
    timeline.iter().map(|(_, state)| *state).collect()
}

#[test]
fn an_abort_with_dynamic_stable_scale_walks_the_steps_back() {
    // As Argo Rollouts does: the stable grows to the next lower setWeight step (30%: 7 pods),
    // traffic follows once those pods are available, then the canary shrinks to it, and so on
    // down through 10% to 0; the canary Service leaves the canary with its last traffic.
    let mut sim = dynamic_at_60(1_000, "");
    assert_eq!(
        states(&abort_timeline(&mut sim, 10_000)),
        [(7, 6, 60, true), (9, 3, 30, true), (10, 1, 10, true), (10, 0, 0, false)]
    );

    // An explicit abortScaleDownDelaySeconds keeps all 6 canary pods until the delay has
    // passed since the stable was complete again; the stable still comes back step by step,
    // and traffic with it.
    let explicit_delay = [(7, 6, 60, true), (9, 6, 60, true), (10, 6, 10, true), (10, 6, 0, false), (10, 0, 0, false)];
    for pod_ready_after in [1_000, 20_000] {
        let mut sim = dynamic_at_60(pod_ready_after, "      abortScaleDownDelaySeconds: 30\n");
        let timeline = abort_timeline(&mut sim, 120_000);
        assert_eq!(states(&timeline), explicit_delay, "pods ready after {pod_ready_after} ms");
        let stable_complete = timeline[3].0;
        assert_eq!(timeline[4].0 - stable_complete, 30_000, "pods ready after {pod_ready_after} ms: {timeline:?}");
    }
}

#[test]
fn promote_full_skips_the_remaining_steps() {
    let mut sim = deployed(ROLLOUT);
    set_image(&mut sim, "v2");
    sim.advance(3_000);
    assert_eq!(step(&sim), 1);
    run(&mut sim, Command::Promote { full: true });
    sim.settle();
    assert_eq!(replicas(&sim, V2), 10);
    assert_eq!(sim.traffic.canary_weight, Some(10), "weight waits for the canary to be fully available");
    sim.advance(3_000);
    assert_eq!(phase(&sim), ("Healthy".into(), String::new()));
    assert_eq!(sim.rollout.status.as_ref().unwrap().stable_rs.as_deref(), Some(V2));
}

#[test]
fn promote_ends_an_untimed_pause_and_skips_a_step_otherwise() {
    let text = ROLLOUT.replace("          duration: 5m # 暂停5分钟，用于监控新版本的表现。\n", "");
    let text = text.replace("      - pause:\n      - setWeight: 30", "      - pause: {}\n      - setWeight: 30");
    let mut sim = deployed(&text);
    set_image(&mut sim, "v2");
    sim.advance(60 * 60_000);
    assert_eq!((step(&sim), phase(&sim).0.as_str()), (1, "Paused"), "an untimed pause waits for ever");
    run(&mut sim, Command::Promote { full: false });
    sim.advance(3_000);
    assert_eq!(step(&sim), 3);
    assert_eq!(replicas(&sim, V2), 3);
}

#[test]
fn a_new_template_mid_rollout_starts_over() {
    let mut sim = deployed(ROLLOUT);
    set_image(&mut sim, "v2");
    sim.advance(5 * 60_000 + 5_000);
    assert_eq!(step(&sim), 3);
    set_image(&mut sim, "v3");
    sim.advance(3_000);
    let v3 = sim.rollout.spec.template.hash(None);
    assert_eq!(step(&sim), 1);
    assert_eq!((replicas(&sim, &v3), sim.traffic.canary_hash.as_deref()), (1, Some(v3.as_str())));
    assert_eq!(sim.replica_set(&v3).unwrap().revision, 3);
    sim.advance(30_000);
    assert_eq!(replicas(&sim, V2), 0, "the intermediate ReplicaSet goes after scaleDownDelaySeconds");
}

/// Steps edited mid-rollout (same template): Argo sees a new currentStepHash and starts the
/// steps over on the same canary ReplicaSet.
#[test]
fn new_steps_mid_rollout_start_over() {
    let mut sim = deployed(ROLLOUT);
    set_image(&mut sim, "v2");
    sim.advance(5 * 60_000 + 5_000);
    assert_eq!((step(&sim), replicas(&sim, V2)), (3, 3));
    let hash_before = sim.rollout.status.as_ref().unwrap().current_step_hash.clone();
    sim.rollout.spec.strategy.canary.as_mut().unwrap().steps[2].set_weight = Some(40);
    sim.advance(3_000);
    assert_ne!(sim.rollout.status.as_ref().unwrap().current_step_hash, hash_before);
    assert_eq!(step(&sim), 1, "back to step 0, whose setWeight: 10 completes at once");
    assert_eq!(phase(&sim), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!((replicas(&sim, V2), sim.traffic.canary_weight), (1, Some(10)));
    assert_eq!(sim.replica_sets.len(), 2, "no new ReplicaSet: the template did not change");
    sim.advance(5 * 60_000);
    assert_eq!((step(&sim), replicas(&sim, V2), sim.traffic.canary_weight), (3, 4, Some(40)), "the edited step");
}

/// progressDeadlineSeconds counts time without progress, not time paused: a 5m pause step
/// under a 60s deadline is Paused, never Degraded.
#[test]
fn a_pause_longer_than_the_progress_deadline_is_not_degraded() {
    let text = ROLLOUT.replace("  revisionHistoryLimit: 2", "  revisionHistoryLimit: 2\n  progressDeadlineSeconds: 60");
    let mut sim = deployed(&text);
    assert_eq!(sim.rollout.spec.progress_deadline_seconds(), 60);
    set_image(&mut sim, "v2");
    sim.advance(3_000);
    assert_eq!(step(&sim), 1);
    for quarter_minutes in 1..20 {
        sim.advance(15_000);
        let paused_for = 15 * quarter_minutes;
        assert_eq!(phase(&sim), ("Paused".into(), "CanaryPauseStep".into()), "{paused_for}s into the 5m pause");
    }
    sim.advance(10 * 60_000);
    assert_eq!(phase(&sim), ("Healthy".into(), String::new()));
}

/// The seed's rollout without its trafficRouting block: a basic canary, split by pod count.
fn basic(text: &str) -> String {
    let text = text.replace("      trafficRouting: # 配置加权轮循规则\n", "      trafficRoutingRemoved:\n");
    // Drop the whole trafficRouting block (its comment lines stay harmless).
    let basic: String = text
        .lines()
        .filter(|l| {
            !l.contains("trafficRoutingRemoved") && !l.contains("traefik:") && !l.contains("weightedTraefikServiceName")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!basic.contains("trafficRouting:"), "the seed's trafficRouting block moved");
    basic
}

#[test]
fn basic_canary_splits_by_pod_count() {
    let mut sim = deployed(&basic(ROLLOUT));
    set_image(&mut sim, "v2");
    sim.advance(500);
    let status = sim.rollout.status.clone().unwrap();
    assert_eq!((status.updated_replicas, status.available_replicas), (1, 9), "one canary pod, not yet ready");
    assert_eq!(actual_weight(&sim.rollout, &sim.replica_sets), 0, "a pod that is not available serves nothing");
    sim.advance(10_000);
    assert_eq!((replicas(&sim, V2), replicas(&sim, V1)), (1, 9), "Argo's basic canary at 10% of 10");
    assert_eq!(phase(&sim), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!(actual_weight(&sim.rollout, &sim.replica_sets), 10, "1 of 10 available pods");
    sim.advance(10 * 60_000);
    assert_eq!(phase(&sim), ("Healthy".into(), String::new()));
    assert_eq!((replicas(&sim, V2), replicas(&sim, V1)), (10, 0));
}

const WITH_ANALYSIS: &str =
    "      - analysis:\n          templates:\n          - templateName: success-rate\n      - setWeight: 30";

/// The seed with an analysis step after its first pause, updated to v2 and run up to that
/// step, every AnalysisRun it starts given `verdict`.
fn updated_to_the_analysis_step(verdict: AnalysisPhase) -> Simulator {
    let mut sim = deployed(&ROLLOUT.replacen("      - setWeight: 30", WITH_ANALYSIS, 1));
    sim.analysis_verdict = verdict;
    set_image(&mut sim, "v2");
    sim.advance(5 * 60_000 + 5_000);
    sim
}

#[test]
fn finished_analysis_runs_beyond_the_history_limits_are_deleted_oldest_first() {
    let limits = "spec:\n  analysis:\n    successfulRunHistoryLimit: 2\n    unsuccessfulRunHistoryLimit: 1\n";
    let mut sim = deployed(&ROLLOUT.replacen("      - setWeight: 30", WITH_ANALYSIS, 1).replacen("spec:\n", limits, 1));
    let mut started = Vec::new();
    for (tag, verdict) in
        [("v2", AnalysisPhase::Successful), ("v3", AnalysisPhase::Failed), ("v4", AnalysisPhase::Failed)]
            .into_iter()
            .chain(["v5", "v6", "v7"].map(|tag| (tag, AnalysisPhase::Successful)))
    {
        sim.analysis_verdict = verdict;
        set_image(&mut sim, tag);
        sim.advance(60 * 60_000);
        started.push(sim.analysis_requests.last().unwrap().name.clone());
    }
    let kept: Vec<&str> = sim.analysis_runs.iter().map(|run| run.name.as_str()).collect();
    // v7's run is the one the status points at, kept whatever the limits; of the other
    // successful runs (v2, v5, v6) the newest two stay, of the failed ones (v3, v4) the newest.
    assert_eq!(kept, [&started[2], &started[3], &started[4], &started[5]], "started {started:?}");
}

#[test]
fn a_failed_analysis_aborts_and_an_inconclusive_one_pauses() {
    let sim = updated_to_the_analysis_step(AnalysisPhase::Failed);
    let (phase_now, message) = phase(&sim);
    assert_eq!(phase_now, "Degraded");
    assert!(
        message.starts_with(
            "RolloutAborted: Rollout aborted update to revision 2: AnalysisRun canary-rollout-95d95c65-2-2"
        ),
        "{message}"
    );
    assert_eq!(sim.traffic.canary_weight, Some(0));

    let mut sim = updated_to_the_analysis_step(AnalysisPhase::Inconclusive);
    assert_eq!(phase(&sim), ("Paused".into(), "InconclusiveAnalysisRun".into()));
    run(&mut sim, Command::Promote { full: false });
    sim.advance(3_000);
    assert_eq!(step(&sim), 4, "promoting past an inconclusive analysis goes on");
}

#[test]
fn a_retry_after_a_failed_analysis_measures_again_in_a_new_run() {
    let mut sim = updated_to_the_analysis_step(AnalysisPhase::Failed);
    assert_eq!(phase(&sim).0, "Degraded");
    // The metric recovered: the retry's run succeeds, and the release goes on to the end.
    sim.analysis_verdict = AnalysisPhase::Successful;
    run(&mut sim, Command::Retry);
    sim.advance(60 * 60_000);
    let started: Vec<&str> = sim.analysis_requests.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(started, ["canary-rollout-95d95c65-2-2", "canary-rollout-95d95c65-2-2.1"]);
    assert_eq!(phase(&sim), ("Healthy".into(), String::new()));
    assert_eq!((replicas(&sim, V2), replicas(&sim, V1)), (10, 0));

    // A second failure and a second retry take the next name.
    let mut sim = updated_to_the_analysis_step(AnalysisPhase::Failed);
    run(&mut sim, Command::Retry);
    sim.advance(5 * 60_000 + 5_000);
    assert_eq!(phase(&sim).0, "Degraded", "the metric still fails: aborted again");
    run(&mut sim, Command::Retry);
    sim.advance(5 * 60_000 + 5_000);
    let started: Vec<&str> = sim.analysis_requests.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        started,
        ["canary-rollout-95d95c65-2-2", "canary-rollout-95d95c65-2-2.1", "canary-rollout-95d95c65-2-2.2"]
    );
}

#[test]
fn a_run_stopped_by_an_abort_is_no_verdict_for_the_retry() {
    // Aborted by hand while the step's run measures: the run is terminated (it ends
    // Successful, as Argo's terminated runs do) and must not pass the step after a retry.
    let mut sim = updated_to_the_analysis_step(AnalysisPhase::Running);
    assert_eq!(step(&sim), 2);
    run(&mut sim, Command::Abort);
    sim.advance(1_000);
    assert_eq!(sim.analysis_runs[0].phase, AnalysisPhase::Successful, "terminated");
    run(&mut sim, Command::Retry);
    sim.advance(5 * 60_000 + 5_000);
    assert_eq!(step(&sim), 2, "waiting for the new run's verdict");
    let started: Vec<&str> = sim.analysis_requests.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(started, ["canary-rollout-95d95c65-2-2", "canary-rollout-95d95c65-2-2.1"]);
}

#[test]
fn a_retry_after_a_failed_background_analysis_starts_a_new_run() {
    let mut sim = deployed(&with_background_analysis("success-rate", ""));
    sim.analysis_verdict = AnalysisPhase::Failed;
    set_image(&mut sim, "v2");
    sim.advance(10_000);
    assert_eq!(phase(&sim).0, "Degraded");
    sim.analysis_verdict = AnalysisPhase::Running;
    run(&mut sim, Command::Retry);
    sim.advance(10_000);
    assert_eq!(phase(&sim).0, "Paused", "the retry runs the steps again: {:?}", phase(&sim));
    let status = sim.rollout.status.clone().unwrap();
    let current = status.canary.current_background_analysis_run_status.unwrap();
    assert_eq!((current.name.as_str(), current.status.as_str()), ("canary-rollout-95d95c65-2.1", "Running"));
}

#[test]
fn an_analysis_run_in_error_aborts_with_its_reason_and_events_tell_each_phase() {
    let mut sim = updated_to_the_analysis_step(AnalysisPhase::Running);
    assert_eq!((step(&sim), phase(&sim).0.as_str()), (2, "Progressing"), "measuring at the analysis step");
    let reason = "Metric \"success-rate\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4): \"Error Message: connection refused\"";
    let run = &mut sim.analysis_runs[0];
    (run.phase, run.message) = (AnalysisPhase::Error, reason.to_string());
    sim.advance(1_000);
    assert_eq!(
        phase(&sim),
        ("Degraded".into(), format!("RolloutAborted: Rollout aborted update to revision 2: {reason}"))
    );
    assert_eq!(sim.traffic.canary_weight, Some(0));
    let analysis_events: Vec<(bool, &str, &str)> = sim
        .events
        .iter()
        .filter(|e| e.reason.starts_with("AnalysisRun"))
        .map(|e| (e.warning, e.reason.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        analysis_events,
        [
            (
                false,
                "AnalysisRunRunning",
                "Step Analysis Run 'canary-rollout-95d95c65-2-2' Status New: 'Running' Previous: 'Pending'"
            ),
            (
                true,
                "AnalysisRunError",
                "Step Analysis Run 'canary-rollout-95d95c65-2-2' Status New: 'Error' Previous: 'Running'"
            ),
        ]
    );
}

#[test]
fn background_analysis_starts_at_its_starting_step() {
    let background = "      analysis:\n        startingStep: 3\n        templates:\n        - templateName: success-rate\n      steps:";
    let mut sim = deployed(&ROLLOUT.replacen("      steps:", background, 1));
    sim.analysis_verdict = AnalysisPhase::Running;
    set_image(&mut sim, "v2");
    sim.settle();
    let mut steps_without_a_run = Vec::new();
    while sim.analysis_requests.is_empty() && steps_without_a_run.len() < 600 {
        steps_without_a_run.push(step(&sim));
        sim.advance(1_000);
    }
    assert!(
        steps_without_a_run.contains(&2) && steps_without_a_run.iter().all(|&s| s < 3),
        "no run before step 3, one at it: {steps_without_a_run:?}"
    );
    assert_eq!(step(&sim), 3);
    let names: Vec<&str> = sim.analysis_requests.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["canary-rollout-95d95c65-2"]);
    sim.advance(60_000);
    assert_eq!(sim.analysis_requests.len(), 1, "one background run for the revision");
}

/// The seed with background analysis of one template, `clusterScope` and the analysis's
/// dry-run and retention settings as given.
fn with_background_analysis(template: &str, extra: &str) -> String {
    let background =
        format!("      analysis:\n        templates:\n        - templateName: {template}\n{extra}      steps:");
    ROLLOUT.replacen("      steps:", &background, 1)
}

/// The spec of the first AnalysisRun the rollout starts after an update, its templates looked
/// up among `templates`.
fn first_run_spec(text: &str, templates: &[(ObjectKey, Json)]) -> AnalysisRunSpec {
    let mut sim = deployed(text);
    set_image(&mut sim, "v2");
    sim.advance(3_000);
    let request = sim.analysis_requests.first().expect("the update started an analysis run");
    let lookup = |key: ObjectKey| {
        Ok::<_, std::convert::Infallible>(templates.iter().find(|(k, _)| *k == key).map(|(_, t)| Arc::new(t.clone())))
    };
    analysis_run_spec("default", request, lookup).unwrap()
}

#[test]
fn a_cluster_scoped_template_ref_resolves_a_cluster_analysis_template() {
    let shared = json!({"spec": {"metrics": [{"name": "success-rate", "successCondition": "result >= 0.95"}]}});
    let cluster_template = ObjectKey::new("argoproj.io/v1alpha1", "ClusterAnalysisTemplate", "", "shared-success-rate");
    let templates = [(cluster_template, shared)];

    let spec =
        first_run_spec(&with_background_analysis("shared-success-rate", "          clusterScope: true\n"), &templates);
    assert_eq!(spec.problem, None);
    assert_eq!(spec.spec["metrics"][0]["name"], "success-rate", "{:#}", spec.spec);

    let spec = first_run_spec(&with_background_analysis("shared-success-rate", ""), &templates);
    assert_eq!(spec.problem.as_deref(), Some("AnalysisTemplate 'shared-success-rate' not found"));
}

#[test]
fn the_rollouts_dry_run_and_measurement_retention_reach_the_run_spec() {
    let settings = "        dryRun:\n        - metricName: latency\n        measurementRetention:\n        - metricName: \"*\"\n          limit: 5\n";
    let template = ObjectKey::new("argoproj.io/v1alpha1", "AnalysisTemplate", "default", "success-rate");
    let spec = first_run_spec(
        &with_background_analysis("success-rate", settings),
        &[(template, json!({"spec": {"metrics": [{"name": "latency"}, {"name": "success-rate"}]}}))],
    );
    assert_eq!(spec.problem, None);
    assert_eq!(spec.spec["dryRun"], json!([{"metricName": "latency"}]));
    assert_eq!(spec.spec["measurementRetention"], json!([{"metricName": "*", "limit": 5}]));
}

/// The reconcile that aborts on a failed analysis also sends all traffic back to stable: no
/// request reaches a failing canary after the abort is recorded.
#[test]
fn the_reconcile_that_aborts_on_analysis_moves_traffic_back_in_the_same_decision() {
    let background = "      analysis:\n        startingStep: 1\n        templates:\n        - templateName: success-rate\n      steps:";
    let text = ROLLOUT.replacen("      steps:", background, 1);
    assert!(text.contains("startingStep"), "the seed's steps line moved");
    let mut sim = deployed(&text);
    sim.analysis_verdict = AnalysisPhase::Failed;
    set_image(&mut sim, "v2");
    for _ in 0..1000 {
        let decision = sim.step();
        if decision.status.abort {
            assert_eq!(decision.traffic.canary_weight, Some(0), "{:?}", decision.traffic);
            assert_eq!(decision.traffic.canary_hash.as_deref(), Some(V1));
            return;
        }
        sim.now = sim.now.plus_millis(100);
    }
    panic!("the failed analysis never aborted the rollout: {:?}", phase(&sim));
}

#[test]
fn the_progress_deadline_degrades_and_can_abort() {
    let mut sim = deployed(ROLLOUT);
    sim.pod_ready_after = i64::MAX / 4; // the new version never becomes ready
    set_image(&mut sim, "v2");
    sim.advance(601_000);
    let (p, m) = phase(&sim);
    assert_eq!(p, "Degraded");
    assert_eq!(m, "ProgressDeadlineExceeded: ReplicaSet \"canary-rollout-95d95c65\" has timed out progressing.");

    let text = ROLLOUT.replace("  revisionHistoryLimit: 2", "  revisionHistoryLimit: 2\n  progressDeadlineAbort: true");
    let mut sim = deployed(&text);
    sim.pod_ready_after = i64::MAX / 4;
    set_image(&mut sim, "v2");
    sim.advance(601_000);
    assert!(phase(&sim).1.starts_with("RolloutAborted:"), "{:?}", phase(&sim));
}

#[derive(Clone, Debug)]
enum Event {
    Promote,
    PromoteFull,
    Abort,
    Retry,
    Undo,
    Pause,
    Unpause,
    NewImage(u8),
    Wait(u32),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Promote),
        Just(Event::PromoteFull),
        Just(Event::Abort),
        Just(Event::Retry),
        Just(Event::Undo),
        Just(Event::Pause),
        Just(Event::Unpause),
        (0u8..4).prop_map(Event::NewImage),
        (0u32..400).prop_map(Event::Wait),
    ]
}

/// Paused for something only a person ends: `spec.paused`, an untimed pause step, or an
/// inconclusive analysis. A timed pause is not one: time ends it.
fn waits_for_a_person(sim: &Simulator) -> bool {
    let status = sim.rollout.status.clone().unwrap_or_default();
    let steps = sim.rollout.spec.strategy.canary.as_ref().map(|c| c.steps.as_slice()).unwrap_or_default();
    let untimed_pause = steps
        .get(status.current_step_index.unwrap_or(0).max(0) as usize)
        .and_then(|s| s.pause.as_ref())
        .is_some_and(|p| p.duration.is_none());
    sim.rollout.spec.paused == Some(true)
        || status.pause_conditions.iter().any(|c| match c.reason.as_str() {
            "InconclusiveAnalysisRun" => true,
            "CanaryPauseStep" => untimed_pause,
            _ => false,
        })
}

/// Whatever people do, once they stop, time alone (and a promote where only a person can end
/// a pause) brings the rollout to Healthy or Degraded. Along the way the engine decides
/// weights within 0..=100 whose split sums to 100, and no ReplicaSet exceeds a full set.
fn never_stuck(text: &str, events: Vec<Event>) -> Result<(), TestCaseError> {
    let mut sim = deployed(text);
    let routed = sim.rollout.spec.strategy.canary.as_ref().is_some_and(|c| c.traffic_routing.is_some());
    for e in events {
        let command = match e {
            Event::Promote => Some(Command::Promote { full: false }),
            Event::PromoteFull => Some(Command::Promote { full: true }),
            Event::Abort => Some(Command::Abort),
            Event::Retry => Some(Command::Retry),
            Event::Undo => Some(Command::Undo { to_revision: None }),
            Event::Pause => Some(Command::Pause),
            Event::Unpause => {
                sim.rollout.spec.paused = None;
                None
            }
            Event::NewImage(tag) => {
                Some(Command::SetImage { container: "myapp".into(), image: format!("ikubernetes/myapp:v{tag}") })
            }
            Event::Wait(seconds) => {
                sim.advance(i64::from(seconds) * 1000);
                None
            }
        };
        if let Some(command) = command {
            let _ = apply_command(&mut sim.rollout, &command, &sim.replica_sets);
        }
        sim.settle();
        // What the engine decided, not what the simulator made of it.
        let decided = &sim.traffic;
        prop_assert_eq!(decided.max_weight, 100);
        let weights = sim.rollout.status.clone().unwrap_or_default().canary.weights;
        if routed {
            let canary = decided.canary_weight.unwrap_or(-1);
            prop_assert!((0..=100).contains(&canary), "decided canary weight {:?}", decided.canary_weight);
            let services = serde_json::json!([{"name": "canary-active"}, {"name": "canary-preview"}]);
            let mut traefik = serde_json::json!({"spec": {"weighted": {"services": services}}});
            set_traefik_weights(&mut traefik, "canary-active", "canary-preview", canary, decided.max_weight);
            let written = traefik_weights(&traefik, "canary-active", "canary-preview");
            prop_assert!(written.is_some_and(|(c, s)| c == canary && c + s == 100), "TraefikService {written:?}");
            let w = weights.expect("a routed rollout records its weights");
            prop_assert_eq!((w.canary.weight, w.canary.weight + w.stable.weight), (canary, 100), "status {:?}", w);
        } else {
            prop_assert_eq!(decided.canary_weight, None, "a basic canary sets no weights");
            prop_assert_eq!(weights, None);
        }
        // No ReplicaSet ever asks for more than the Rollout's replicas (old ones may linger
        // for scaleDownDelaySeconds, as in Argo, but none grows beyond a full set).
        for rs in &sim.replica_sets {
            prop_assert!((0..=10).contains(&rs.replicas), "{} wants {} pods", rs.name, rs.replicas);
        }
    }
    // Let it finish: time passes; only a pause that needs a person gets a promote.
    for _ in 0..20 {
        sim.advance(10 * 60_000);
        let (p, _) = phase(&sim);
        if p == "Healthy" || p == "Degraded" {
            break;
        }
        if waits_for_a_person(&sim) {
            let _ = apply_command(&mut sim.rollout, &Command::Promote { full: false }, &sim.replica_sets);
        }
    }
    let (p, m) = phase(&sim);
    prop_assert!(p == "Healthy" || p == "Degraded", "ended {p}: {m}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_commands_leaves_a_rollout_stuck(events in proptest::collection::vec(event(), 1..12)) {
        never_stuck(ROLLOUT, events)?;
    }

    #[test]
    fn no_sequence_of_commands_leaves_a_basic_canary_stuck(events in proptest::collection::vec(event(), 1..12)) {
        never_stuck(&basic(ROLLOUT), events)?;
    }
}

#[test]
fn set_canary_scale_header_and_mirror_routes() {
    let text = ROLLOUT
        .replace(
            "          weightedTraefikServiceName: canary-service # traefik加权轮循服务名",
            "          weightedTraefikServiceName: canary-service
        managedRoutes:
        - name: beta-testers
        - name: mirror-reads",
        )
        .replacen(
            "      - setWeight: 10 # 将10%的流量导向新版本",
            "      - setCanaryScale:\n          replicas: 2\n      - setHeaderRoute:\n          name: beta-testers\n          match:\n          - headerName: x-beta\n            headerValue:\n              exact: \"yes\"\n      - setMirrorRoute:\n          name: mirror-reads\n          percentage: 35\n          match:\n          - method:\n              exact: GET\n            path:\n              prefix: /api\n      - pause: {}\n      - setCanaryScale:\n          matchTrafficWeight: true\n      - setWeight: 10",
            1,
        );
    let mut sim = deployed(&text);
    set_image(&mut sim, "v2");
    sim.advance(5_000);
    assert_eq!(step(&sim), 3, "paused at the untimed pause after the routes");
    assert_eq!(replicas(&sim, V2), 2, "setCanaryScale sizes the canary without traffic");
    assert_eq!(sim.traffic.canary_weight, Some(0));
    assert_eq!(sim.traffic.header_routes.len(), 1);
    assert_eq!(sim.traffic.header_routes[0].matches[0].header_name, "x-beta");
    let mirror = &sim.traffic.mirror_routes;
    assert_eq!(mirror.len(), 1, "{mirror:?}");
    assert_eq!((mirror[0].name.as_str(), mirror[0].percentage), ("mirror-reads", 35));
    let route = &mirror[0].matches[0];
    let exact = |m: &Option<StringMatch>| m.as_ref().and_then(|m| m.exact.clone());
    let prefix = |m: &Option<StringMatch>| m.as_ref().and_then(|m| m.prefix.clone());
    assert_eq!((exact(&route.method), prefix(&route.path)), (Some("GET".into()), Some("/api".into())));
    run(&mut sim, Command::Promote { full: false });
    sim.advance(3_000);
    assert_eq!(step(&sim), 6, "paused at the first timed pause");
    assert_eq!((replicas(&sim, V2), sim.traffic.canary_weight), (1, Some(10)), "matchTrafficWeight: back to 10%");
    assert_eq!((sim.traffic.header_routes.len(), sim.traffic.mirror_routes.len()), (1, 1), "routes stay on");

    run(&mut sim, Command::Promote { full: true });
    sim.advance(60_000);
    assert_eq!(phase(&sim).0, "Healthy");
    assert_eq!(sim.traffic.header_routes, [], "managed routes are removed once the update is done");
    assert_eq!(sim.traffic.mirror_routes, []);
}

#[test]
fn a_step_may_combine_set_canary_scale_and_a_header_route_with_a_pause() {
    // As Argo allows: setCanaryScale and setHeaderRoute act while the step's pause holds it,
    // and the pause alone decides when the step is done.
    let text = ROLLOUT
        .replace(
            "          weightedTraefikServiceName: canary-service # traefik加权轮循服务名",
            "          weightedTraefikServiceName: canary-service\n        managedRoutes:\n        - name: beta-testers",
        )
        .replacen(
            "      - setWeight: 10 # 将10%的流量导向新版本",
            "      - pause: {}\n        setCanaryScale:\n          replicas: 2\n        setHeaderRoute:\n          name: beta-testers\n          match:\n          - headerName: x-beta\n            headerValue:\n              exact: \"yes\"\n      - setWeight: 10\n        setCanaryScale:\n          matchTrafficWeight: true",
            1,
        );
    let mut sim = deployed(&text);
    set_image(&mut sim, "v2");
    sim.advance(5_000);
    assert_eq!(step(&sim), 0, "held by the step's pause");
    assert_eq!(replicas(&sim, V2), 2, "the same step's setCanaryScale sizes the canary");
    assert_eq!(sim.traffic.canary_weight, Some(0));
    assert_eq!(sim.traffic.header_routes.len(), 1, "the same step's header route is on");
    run(&mut sim, Command::Promote { full: false });
    sim.advance(3_000);
    assert_eq!(step(&sim), 2, "paused at the first timed pause");
    assert_eq!((replicas(&sim, V2), sim.traffic.canary_weight), (1, Some(10)), "setWeight with matchTrafficWeight");
    run(&mut sim, Command::Promote { full: true });
    sim.advance(60_000);
    assert_eq!(phase(&sim).0, "Healthy");
}

#[test]
fn pause_restart_undo_to_revision_and_history_limit() {
    let mut sim = deployed(ROLLOUT);
    for tag in ["v2", "v3", "v4"] {
        set_image(&mut sim, tag);
        sim.settle();
        run(&mut sim, Command::Promote { full: true });
        sim.advance(60_000);
        assert_eq!(phase(&sim).0, "Healthy", "after {tag}");
    }
    // revisionHistoryLimit: 2 keeps two old ReplicaSets besides the stable one.
    let revisions: Vec<i64> = sim.replica_sets.iter().map(|rs| rs.revision).collect();
    assert_eq!(revisions, [2, 3, 4], "revision 1 was deleted");

    run(&mut sim, Command::Undo { to_revision: Some(2) });
    run(&mut sim, Command::Pause);
    sim.advance(10_000);
    assert_eq!(phase(&sim), ("Paused".into(), "manually paused".into()));
    assert_eq!(replicas(&sim, V2), 0, "a paused rollout does not scale");
    run(&mut sim, Command::Promote { full: false });
    sim.advance(10_000);
    assert_eq!(sim.rollout.spec.template.images(), ["ikubernetes/myapp:v2"]);
    assert_eq!(sim.replica_set(V2).unwrap().revision, 5, "a ReplicaSet brought back gets the next revision");
    assert_eq!((step(&sim), replicas(&sim, V2)), (1, 1), "going back to an older revision runs the steps");

    run(&mut sim, Command::Promote { full: true });
    sim.advance(60_000);
    let before: Vec<String> = sim.replica_set(V2).unwrap().pods.iter().map(|p| p.name.clone()).collect();
    let now = sim.now;
    run(&mut sim, Command::Restart { at: now });
    sim.advance(60_000);
    let after: Vec<String> = sim.replica_set(V2).unwrap().pods.iter().map(|p| p.name.clone()).collect();
    assert_eq!(after.len(), 10);
    assert!(after.iter().all(|p| !before.contains(p)), "every pod was replaced");
    let status = sim.rollout.status.clone().unwrap();
    assert_eq!(status.restarted_at, sim.rollout.spec.restart_at);
    assert_eq!(phase(&sim).0, "Healthy");
}

#[test]
fn an_inconclusive_background_analysis_holds_the_rollout_until_promoted() {
    let text = ROLLOUT.replace(
        "      steps:  # 发布的节奏",
        "      analysis:\n        templates:\n        - templateName: success-rate\n      steps:",
    );
    let mut sim = deployed(&text);
    sim.analysis_verdict = AnalysisPhase::Inconclusive;
    set_image(&mut sim, "v2");
    sim.advance(20 * 60_000);
    assert_eq!(phase(&sim), ("Paused".into(), "InconclusiveAnalysisRun".into()));
    assert_eq!(step(&sim), 0, "no step advances while the analysis is inconclusive");
    run(&mut sim, Command::Promote { full: false });
    sim.advance(20 * 60_000);
    assert_eq!(phase(&sim).0, "Healthy", "promoted past the inconclusive analysis");
}

/// The role label a revision's ReplicaSet has injected into its pods, if any.
fn injected_role(sim: &Simulator, hash: &str) -> Option<String> {
    sim.replica_set(hash).and_then(|rs| rs.ephemeral.as_ref()).map(|m| m.labels["role"].clone())
}

/// canaryMetadata and stableMetadata follow the revisions as Argo's reconcileEphemeralMetadata
/// moves them: stable on v1 alone, canary on v2 while it is the canary, stable on v2 once it is
/// promoted, nothing on v1 once it has no role.
#[test]
fn canary_and_stable_metadata_follow_the_revisions_roles() {
    let text = ROLLOUT.replace(
        "    canary: # 金丝雀发布\n",
        "    canary:\n      canaryMetadata:\n        labels:\n          role: canary\n      stableMetadata:\n        labels:\n          role: stable\n",
    );
    let mut sim = deployed(&text);
    assert_eq!(injected_role(&sim, V1).as_deref(), Some("stable"));
    set_image(&mut sim, "v2");
    sim.advance(3_000);
    assert_eq!(
        (injected_role(&sim, V2).as_deref(), injected_role(&sim, V1).as_deref()),
        (Some("canary"), Some("stable"))
    );
    run(&mut sim, Command::Promote { full: true });
    sim.advance(60_000);
    assert_eq!(phase(&sim).0, "Healthy");
    assert_eq!((injected_role(&sim, V2).as_deref(), injected_role(&sim, V1)), (Some("stable"), None));
}

/// antiAffinity as Argo keeps it: a new revision's ReplicaSet avoids the stable revision's
/// nodes, the stable one avoids nothing, and a rule already injected follows the stable
/// revision when it changes under a ReplicaSet that becomes new again.
#[test]
fn anti_affinity_keeps_a_new_revision_off_the_stable_revisions_nodes() {
    let text = ROLLOUT.replace(
        "    canary: # 金丝雀发布\n",
        "    canary:\n      antiAffinity:\n        preferredDuringSchedulingIgnoredDuringExecution:\n          weight: 50\n",
    );
    let avoids = |sim: &Simulator, hash: &str| sim.replica_set(hash).and_then(|rs| rs.avoids.clone());
    let mut sim = deployed(&text);
    assert_eq!(avoids(&sim, V1), None, "the first revision has no stable revision to avoid");
    set_image(&mut sim, "v2");
    sim.advance(3_000);
    assert_eq!(avoids(&sim, V2).as_deref(), Some(V1));
    set_image(&mut sim, "v3");
    sim.advance(3_000);
    run(&mut sim, Command::Promote { full: true });
    sim.advance(60_000);
    let v3 = sim.rollout.status.clone().unwrap().stable_rs.unwrap();
    assert_ne!(v3, V1);
    assert_eq!(avoids(&sim, &v3).as_deref(), Some(V1), "v3 was created while v1 was stable");
    // Back to v2, whose ReplicaSet still avoids v1: its rule moves to v3, the stable one now.
    set_image(&mut sim, "v2");
    sim.advance(3_000);
    assert_eq!(avoids(&sim, V2).as_deref(), Some(v3.as_str()));
}

//! Blue-green rollouts in virtual time, on the simulator: the preview comes up while the
//! active Service keeps the old revision, the pause and auto-promotion, promotion and the
//! delayed scale-down, previewReplicaCount, abort, retry, undo, promote --full, a manual
//! pause, promotion analyses, and a Rollout whose status Argo Rollouts wrote being continued.

use serin_engine::command::{Command, apply_command};
use serin_engine::sim::Simulator;
use serin_engine::state::{Action, AnalysisPhase, PodState, ReplicaSetState};
use serin_model::Time;
use serin_model::object::Object;
use serin_model::rollout::Rollout;

/// Argo's examples/rollout-bluegreen.yaml, with three replicas and `EXTRA` blue-green fields.
const ROLLOUT: &str = "
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: rollout-bluegreen
spec:
  replicas: 3
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: rollout-bluegreen
  template:
    metadata:
      labels:
        app: rollout-bluegreen
    spec:
      containers:
      - name: rollouts-demo
        image: argoproj/rollouts-demo:blue
        ports:
        - containerPort: 8080
  strategy:
    blueGreen:
      activeService: rollout-bluegreen-active
      previewService: rollout-bluegreen-preview
EXTRA
";

const START: i64 = 1_700_000_000_000;

fn load(extra: &str) -> Rollout {
    let text = ROLLOUT.replace("EXTRA", extra);
    let loaded = serin_model::load_str("rollout.yaml", &text);
    assert!(loaded.problems().is_empty(), "{:?}", loaded.problems());
    match loaded.documents.into_iter().next().map(|d| d.object) {
        Some(Object::Rollout(r)) => *r,
        other => panic!("expected a Rollout, got {other:?}"),
    }
}

fn hash_of(sim: &Simulator, image: &str) -> String {
    let mut template = sim.rollout.spec.template.clone();
    template.set_image("*", image);
    template.hash(None)
}

fn blue(sim: &Simulator) -> String {
    hash_of(sim, "argoproj/rollouts-demo:blue")
}

fn green(sim: &Simulator) -> String {
    hash_of(sim, "argoproj/rollouts-demo:green")
}

/// The blue revision deployed and healthy, pods ready after one second.
fn deployed(extra: &str) -> Simulator {
    let mut sim = Simulator::new(load(extra), Time::from_millis(START));
    sim.pod_ready_after = 1_000;
    sim.advance(5_000);
    assert_eq!(phase(&sim), ("Healthy".to_string(), String::new()));
    let blue = blue(&sim);
    assert_eq!(selectors(&sim), (Some(blue.clone()), Some(blue)));
    sim
}

fn run(sim: &mut Simulator, command: Command) {
    apply_command(&mut sim.rollout, &command, &sim.replica_sets).unwrap();
}

fn set_green(sim: &mut Simulator) {
    run(sim, Command::SetImage { container: "rollouts-demo".into(), image: "argoproj/rollouts-demo:green".into() });
}

fn phase(sim: &Simulator) -> (String, String) {
    let s = sim.rollout.status.clone().unwrap_or_default();
    (s.phase.unwrap_or_default(), s.message.unwrap_or_default())
}

/// (active, preview) as the status records them and as the engine asks the platform to set
/// the Services' selectors.
fn selectors(sim: &Simulator) -> (Option<String>, Option<String>) {
    let bg = sim.rollout.status.clone().unwrap_or_default().blue_green;
    assert_eq!((&bg.active_selector, &bg.preview_selector), (&sim.traffic.stable_hash, &sim.traffic.canary_hash));
    (bg.active_selector, bg.preview_selector)
}

fn active(sim: &Simulator) -> Option<String> {
    selectors(sim).0
}

fn replicas(sim: &Simulator, hash: &str) -> i32 {
    sim.replica_set(hash).map_or(-1, |rs| rs.replicas)
}

fn stable(sim: &Simulator) -> Option<String> {
    sim.rollout.status.as_ref().and_then(|s| s.stable_rs.clone())
}

fn events(sim: &Simulator) -> Vec<String> {
    sim.events.iter().map(|e| format!("{}: {}", e.reason, e.message)).collect()
}

#[test]
fn manual_promotion_switches_active_then_scales_the_old_revision_down_after_the_delay() {
    let mut sim = deployed("      autoPromotionEnabled: false\n");
    let (blue, green) = (blue(&sim), green(&sim));
    set_green(&mut sim);
    sim.advance(5_000);
    assert_eq!(selectors(&sim), (Some(blue.clone()), Some(green.clone())), "preview shows green, active keeps blue");
    assert_eq!((replicas(&sim, &blue), replicas(&sim, &green)), (3, 3));
    assert_eq!(phase(&sim), ("Paused".into(), "BlueGreenPause".into()));
    let status = sim.rollout.status.clone().unwrap();
    assert!(status.controller_pause);
    assert_eq!((status.available_replicas, status.updated_replicas, status.replicas), (3, 3, 6));
    assert_eq!(
        status.selector.as_deref(),
        Some(format!("app=rollout-bluegreen,rollouts-pod-template-hash={blue}").as_str())
    );
    sim.advance(10 * 60_000);
    assert_eq!(active(&sim), Some(blue.clone()), "no auto-promotion: the pause holds");

    run(&mut sim, Command::Promote { full: false });
    sim.settle();
    assert_eq!(selectors(&sim), (Some(green.clone()), Some(green.clone())));
    assert_eq!(stable(&sim), Some(green.clone()));
    assert_eq!(phase(&sim), ("Healthy".into(), String::new()));
    assert_eq!(replicas(&sim, &blue), 3, "the old revision stays up for scaleDownDelaySeconds");
    sim.advance(29_000);
    assert_eq!(replicas(&sim, &blue), 3);
    sim.advance(2_000);
    assert_eq!(replicas(&sim, &blue), 0);
    let events = events(&sim);
    for expected in [
        "RolloutUpdated: Rollout updated to revision 2".to_string(),
        format!("NewReplicaSetCreated: Created ReplicaSet rollout-bluegreen-{green} (revision 2)"),
        "RolloutPaused: Rollout is paused (BlueGreenPause)".to_string(),
        format!("RolloutCompleted: Rollout completed update to revision 2 ({green}): Completed blue-green update"),
        format!("ScalingReplicaSet: Scaled down ReplicaSet rollout-bluegreen-{blue} (revision 1) from 3 to 0"),
    ] {
        assert!(events.contains(&expected), "{expected:?} not in {events:#?}");
    }
}

#[test]
fn auto_promotion_switches_as_soon_as_the_preview_is_available() {
    let mut sim = deployed("");
    let (blue, green) = (blue(&sim), green(&sim));
    set_green(&mut sim);
    sim.advance(500);
    assert_eq!(selectors(&sim), (Some(blue.clone()), Some(green.clone())));
    // As Argo counts: the green pods exist, and availability is the active (blue) ReplicaSet's.
    assert_eq!(phase(&sim), ("Progressing".into(), "active service cutover pending".into()));
    sim.advance(1_000);
    assert_eq!(active(&sim), Some(green.clone()), "switched once all green pods are available, without a pause");
    assert_eq!(phase(&sim), ("Healthy".into(), String::new()));
    assert!(!events(&sim).iter().any(|e| e.starts_with("RolloutPaused")));
}

#[test]
fn auto_promotion_seconds_promote_after_the_pause() {
    let mut sim = deployed("      autoPromotionSeconds: 60\n");
    let (blue, green) = (blue(&sim), green(&sim));
    set_green(&mut sim);
    sim.advance(2_000);
    assert_eq!(phase(&sim), ("Paused".into(), "BlueGreenPause".into()));
    let paused_at = sim.rollout.status.clone().unwrap().pause_conditions[0].start_time;
    sim.advance(paused_at.plus_millis(59_000).since(sim.now));
    assert_eq!(active(&sim), Some(blue));
    sim.advance(1_000);
    assert_eq!(active(&sim), Some(green.clone()), "promoted 60 s after the pause began");
    assert_eq!((stable(&sim), phase(&sim).0), (Some(green), "Healthy".into()));
    let events = events(&sim);
    let pause_events: Vec<&String> =
        events.iter().filter(|e| e.starts_with("RolloutPaused") || e.starts_with("RolloutResumed")).collect();
    assert_eq!(
        pause_events,
        ["RolloutPaused: Rollout is paused (BlueGreenPause)", "RolloutResumed: Rollout is resumed"]
    );
}

#[test]
fn preview_replica_count_scales_up_only_after_promotion() {
    let mut sim = deployed("      autoPromotionEnabled: false\n      previewReplicaCount: 1\n");
    let (blue, green) = (blue(&sim), green(&sim));
    set_green(&mut sim);
    sim.advance(5_000);
    assert_eq!((replicas(&sim, &blue), replicas(&sim, &green)), (3, 1));
    assert_eq!(phase(&sim), ("Paused".into(), "BlueGreenPause".into()));
    assert!(!sim.rollout.status.clone().unwrap().blue_green.scale_up_preview_check_point);

    run(&mut sim, Command::Promote { full: false });
    sim.settle();
    assert_eq!(replicas(&sim, &green), 3, "resumed: the preview scales to all replicas before the switch");
    assert!(sim.rollout.status.clone().unwrap().blue_green.scale_up_preview_check_point);
    assert_eq!(active(&sim), Some(blue.clone()), "not switched while the new pods are not available");
    assert_eq!(phase(&sim), ("Progressing".into(), "active service cutover pending".into()));
    sim.advance(1_000);
    assert_eq!(active(&sim), Some(green.clone()));
    let status = sim.rollout.status.clone().unwrap();
    assert_eq!(status.stable_rs, Some(green));
    assert!(!status.blue_green.scale_up_preview_check_point, "the checkpoint resets once promoted");
}

#[test]
fn abort_keeps_active_on_the_old_revision_and_scales_the_new_one_down_then_retry_resumes() {
    let mut sim = deployed("      autoPromotionEnabled: false\n");
    let (blue, green) = (blue(&sim), green(&sim));
    set_green(&mut sim);
    sim.advance(5_000);
    run(&mut sim, Command::Abort);
    sim.settle();
    assert_eq!(phase(&sim), ("Degraded".into(), "RolloutAborted: Rollout aborted update to revision 2".into()));
    // As Argo: the preview Service keeps selecting the newest ReplicaSet.
    assert_eq!(selectors(&sim), (Some(blue.clone()), Some(green.clone())));
    assert_eq!(replicas(&sim, &green), 3, "kept for abortScaleDownDelaySeconds");
    sim.advance(29_000);
    assert_eq!(replicas(&sim, &green), 3);
    sim.advance(2_000);
    assert_eq!((replicas(&sim, &blue), replicas(&sim, &green)), (3, 0));

    run(&mut sim, Command::Retry);
    sim.advance(5_000);
    assert_eq!(sim.replica_set(&green).unwrap().scale_down_deadline, None, "a retry takes the abort's deadline off");
    assert_eq!(replicas(&sim, &green), 3);
    assert_eq!(phase(&sim), ("Paused".into(), "BlueGreenPause".into()));
    run(&mut sim, Command::Promote { full: false });
    sim.settle();
    assert_eq!((active(&sim), stable(&sim)), (Some(green.clone()), Some(green)));
}

#[test]
fn abort_scale_down_delay_zero_keeps_the_preview_up() {
    let mut sim = deployed("      autoPromotionEnabled: false\n      abortScaleDownDelaySeconds: 0\n");
    let green = green(&sim);
    set_green(&mut sim);
    sim.advance(5_000);
    run(&mut sim, Command::Abort);
    sim.advance(10 * 60_000);
    assert_eq!(replicas(&sim, &green), 3);
}

#[test]
fn undo_while_paused_goes_back_to_the_active_revision_at_once() {
    let mut sim = deployed("      autoPromotionEnabled: false\n");
    let (blue, green) = (blue(&sim), green(&sim));
    set_green(&mut sim);
    sim.advance(5_000);
    run(&mut sim, Command::Undo { to_revision: None });
    sim.settle();
    assert_eq!(sim.rollout.spec.template.images(), ["argoproj/rollouts-demo:blue"]);
    assert_eq!(selectors(&sim), (Some(blue.clone()), Some(blue.clone())));
    assert_eq!(phase(&sim), ("Healthy".into(), String::new()));
    sim.advance(31_000);
    assert_eq!((replicas(&sim, &blue), replicas(&sim, &green)), (3, 0));
}

#[test]
fn promote_full_skips_the_pause_and_the_preview_count() {
    let mut sim = deployed("      autoPromotionEnabled: false\n      previewReplicaCount: 1\n");
    let green = green(&sim);
    set_green(&mut sim);
    sim.advance(5_000);
    run(&mut sim, Command::Promote { full: true });
    sim.advance(2_000);
    assert_eq!(replicas(&sim, &green), 3);
    assert_eq!((active(&sim), stable(&sim)), (Some(green.clone()), Some(green.clone())));
    assert!(events(&sim).iter().any(|e| e.ends_with("Full promotion requested")), "{:#?}", events(&sim));
    assert_eq!(phase(&sim), ("Healthy".into(), String::new()));
}

#[test]
fn a_manual_pause_holds_the_switch() {
    let mut sim = deployed("");
    let (blue, green) = (blue(&sim), green(&sim));
    run(&mut sim, Command::Pause);
    set_green(&mut sim);
    sim.advance(10_000);
    assert_eq!(phase(&sim), ("Paused".into(), "manually paused".into()));
    assert_eq!(active(&sim), Some(blue));
    run(&mut sim, Command::Promote { full: false });
    sim.advance(1_000);
    assert_eq!((active(&sim), stable(&sim)), (Some(green.clone()), Some(green)));
}

#[test]
fn a_new_template_before_promotion_replaces_the_preview() {
    let mut sim = deployed("      autoPromotionEnabled: false\n");
    let (blue, green) = (blue(&sim), green(&sim));
    set_green(&mut sim);
    sim.advance(5_000);
    run(&mut sim, Command::SetImage { container: "*".into(), image: "argoproj/rollouts-demo:yellow".into() });
    sim.advance(5_000);
    let yellow = hash_of(&sim, "argoproj/rollouts-demo:yellow");
    assert_eq!(selectors(&sim), (Some(blue.clone()), Some(yellow.clone())));
    assert_eq!(phase(&sim), ("Paused".into(), "BlueGreenPause".into()));
    sim.advance(31_000);
    assert_eq!((replicas(&sim, &blue), replicas(&sim, &green), replicas(&sim, &yellow)), (3, 0, 3));
}

const PRE: &str = "      prePromotionAnalysis:\n        templates:\n        - templateName: smoke\n";
const POST: &str = "      postPromotionAnalysis:\n        templates:\n        - templateName: success-rate\n";

#[test]
fn pre_promotion_analysis_runs_before_the_pause_and_its_failure_aborts_before_the_switch() {
    let mut sim = deployed(&format!("      autoPromotionEnabled: false\n{PRE}"));
    let (blue, green) = (blue(&sim), green(&sim));
    set_green(&mut sim);
    sim.advance(5_000);
    assert_eq!(sim.analysis_requests.len(), 1);
    assert_eq!(sim.analysis_requests[0].name, format!("rollout-bluegreen-{green}-2-pre"));
    assert_eq!(phase(&sim), ("Paused".into(), "BlueGreenPause".into()), "paused after a successful run");
    let run_status = sim.rollout.status.clone().unwrap().blue_green.pre_promotion_analysis_run_status.unwrap();
    assert_eq!(run_status.status, "Successful");

    let mut sim = deployed(&format!("      autoPromotionEnabled: false\n{PRE}"));
    sim.analysis_verdict = AnalysisPhase::Failed;
    set_green(&mut sim);
    sim.advance(5_000);
    assert_eq!(active(&sim), Some(blue));
    assert_eq!(phase(&sim).0, "Degraded");
    assert!(
        phase(&sim).1.starts_with("RolloutAborted: Rollout aborted update to revision 2: AnalysisRun"),
        "{:?}",
        phase(&sim)
    );
    assert!(events(&sim).iter().any(|e| e.starts_with("AnalysisRunFailed: PrePromotion Analysis Run")));
}

#[test]
fn post_promotion_analysis_decides_stability_and_its_failure_switches_back() {
    let mut sim = deployed(POST);
    let (blue, green) = (blue(&sim), green(&sim));
    set_green(&mut sim);
    sim.advance(5_000);
    assert_eq!(sim.analysis_requests.last().unwrap().name, format!("rollout-bluegreen-{green}-2-post"));
    assert_eq!((active(&sim), stable(&sim)), (Some(green.clone()), Some(green.clone())));

    let mut sim = deployed(POST);
    sim.analysis_verdict = AnalysisPhase::Running;
    set_green(&mut sim);
    sim.advance(5_000);
    assert_eq!((active(&sim), stable(&sim)), (Some(green.clone()), Some(blue.clone())));
    assert_eq!(phase(&sim), ("Progressing".into(), "waiting for analysis to complete".into()));
    assert_eq!(replicas(&sim, &blue), 3, "the previous active revision stays up while the analysis runs");
    for run in &mut sim.analysis_runs {
        run.phase = AnalysisPhase::Failed;
    }
    sim.settle();
    assert_eq!(active(&sim), Some(blue.clone()), "rolled back to the previous active ReplicaSet");
    assert_eq!(phase(&sim).0, "Degraded");
}

/// A ReplicaSet as Argo Rollouts left it: every pod available.
fn argo_replica_set(sim: &Simulator, hash: &str, image: &str, revision: i64, replicas: i32) -> ReplicaSetState {
    let mut template = sim.rollout.spec.template.clone();
    template.set_image("*", image);
    let name = format!("rollout-bluegreen-{hash}");
    let created = Time::from_millis(START - 3_600_000 + revision * 60_000);
    ReplicaSetState {
        pods: (0..replicas).map(|i| PodState { name: format!("{name}-{i}"), created, available: true }).collect(),
        name,
        hash: hash.to_string(),
        revision,
        template,
        replicas,
        current: replicas,
        ready: replicas,
        available: replicas,
        created,
        scale_down_deadline: None,
        ephemeral: None,
        avoids: None,
    }
}

#[test]
fn a_rollout_paused_by_argo_is_continued_not_restarted() {
    let mut sim = Simulator::new(load("      autoPromotionEnabled: false\n"), Time::from_millis(START));
    let (blue, green) = (blue(&sim), green(&sim));
    set_green(&mut sim);
    sim.replica_sets = vec![
        argo_replica_set(&sim, &blue, "argoproj/rollouts-demo:blue", 1, 3),
        argo_replica_set(&sim, &green, "argoproj/rollouts-demo:green", 2, 3),
    ];
    // The status as Argo Rollouts writes it for a paused blue-green update.
    let status = serde_json::json!({
        "HPAReplicas": 3, "availableReplicas": 3, "readyReplicas": 3, "replicas": 6, "updatedReplicas": 3,
        "blueGreen": {"activeSelector": blue, "previewSelector": green},
        "canary": {},
        "collisionCount": null,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "AvailableReason", "message": "Rollout has minimum availability",
             "lastTransitionTime": "2023-11-14T21:00:00Z", "lastUpdateTime": "2023-11-14T21:00:00Z"},
            {"type": "Paused", "status": "True", "reason": "RolloutPaused", "message": "Rollout is paused",
             "lastTransitionTime": "2023-11-14T21:10:00Z", "lastUpdateTime": "2023-11-14T21:10:00Z"},
            {"type": "Progressing", "status": "True", "reason": "RolloutPaused", "message": "Rollout is paused",
             "lastTransitionTime": "2023-11-14T21:10:00Z", "lastUpdateTime": "2023-11-14T21:10:00Z"}
        ],
        "controllerPause": true,
        "currentPodHash": green,
        "observedGeneration": "2",
        "pauseConditions": [{"reason": "BlueGreenPause", "startTime": "2023-11-14T21:10:00Z"}],
        "phase": "Paused",
        "message": "BlueGreenPause",
        "selector": format!("app=rollout-bluegreen,rollouts-pod-template-hash={blue}"),
        "stableRS": blue,
    });
    sim.rollout.status = Some(serde_json::from_value(status).unwrap());
    let decision = sim.step();
    let changes: Vec<&Action> = decision
        .actions
        .iter()
        .filter(|a| {
            matches!(a, Action::CreateReplicaSet(_) | Action::ScaleReplicaSet { .. } | Action::DeletePod { .. })
        })
        .collect();
    assert_eq!(changes, Vec::<&Action>::new(), "nothing restarted");
    assert!(decision.events.is_empty(), "{:?}", decision.events);
    assert_eq!(selectors(&sim), (Some(blue.clone()), Some(green.clone())));
    assert_eq!(phase(&sim), ("Paused".into(), "BlueGreenPause".into()));

    run(&mut sim, Command::Promote { full: false });
    sim.settle();
    assert_eq!((active(&sim), stable(&sim)), (Some(green.clone()), Some(green)));
    sim.advance(31_000);
    assert_eq!(replicas(&sim, &blue), 0);
}

#[test]
fn an_update_stuck_past_the_progress_deadline_is_degraded_or_aborted() {
    for abort in [false, true] {
        let mut rollout = load("");
        rollout.spec.progress_deadline_seconds = Some(60);
        rollout.spec.progress_deadline_abort = Some(abort);
        let mut sim = Simulator::new(rollout, Time::from_millis(START));
        sim.pod_ready_after = 1_000;
        // Two hours on, so that the blue pods stay available when new pods take an hour.
        sim.advance(2 * 3_600_000);
        let (blue, green) = (blue(&sim), green(&sim));
        sim.pod_ready_after = 3_600_000; // the green pods are not ready within the test
        set_green(&mut sim);
        sim.advance(59_000);
        assert_eq!(phase(&sim), ("Progressing".into(), "active service cutover pending".into()));
        sim.advance(2_000);
        let timed_out = format!("ReplicaSet \"rollout-bluegreen-{green}\" has timed out progressing.");
        let expected = if abort {
            format!("RolloutAborted: Rollout aborted update to revision 2: {timed_out}")
        } else {
            format!("ProgressDeadlineExceeded: {timed_out}")
        };
        assert_eq!(phase(&sim), ("Degraded".into(), expected));
        assert_eq!(active(&sim), Some(blue));
    }
}

#[test]
fn the_plan_of_a_blue_green_update_waits_for_promotion_then_scales_down_after_the_delay() {
    for extra in ["", "      autoPromotionEnabled: false\n", "      autoPromotionSeconds: 45\n"] {
        let plan = serin_engine::plan::plan(&load(extra)).unwrap();
        let pause = if extra.contains("45") { 45_000 } else { 0 };
        assert_eq!((plan.promoted_at, plan.finished_at), (pause, pause + 30_000), "{extra:?}");
    }
}

#[test]
fn restart_replaces_every_pod_of_the_active_revision() {
    let mut sim = deployed("");
    let blue = blue(&sim);
    let before: Vec<String> = sim.replica_set(&blue).unwrap().pods.iter().map(|p| p.name.clone()).collect();
    let at = sim.now;
    run(&mut sim, Command::Restart { at });
    sim.advance(30_000);
    let after: Vec<String> = sim.replica_set(&blue).unwrap().pods.iter().map(|p| p.name.clone()).collect();
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|p| !before.contains(p)), "{before:?} -> {after:?}");
    assert_eq!(phase(&sim), ("Healthy".into(), String::new()));
    assert_eq!(sim.rollout.status.clone().unwrap().restarted_at, Some(at));
    assert!(events(&sim).contains(&"RolloutRestarted: Rollout restarted".to_string()));
}

/// previewMetadata and activeMetadata as Argo moves them: active on the only revision, preview
/// on the new one until the switch, then active on it and nothing on the old one while it
/// waits for its scale-down.
#[test]
fn preview_and_active_metadata_follow_the_revisions_roles() {
    let mut sim = deployed(
        "      autoPromotionEnabled: false\n      previewMetadata:\n        labels:\n          role: preview\n      activeMetadata:\n        labels:\n          role: active\n",
    );
    let role = |sim: &Simulator, hash: &str| {
        sim.replica_set(hash).and_then(|rs| rs.ephemeral.as_ref()).map(|m| m.labels["role"].clone())
    };
    let (blue, green) = (blue(&sim), green(&sim));
    assert_eq!(role(&sim, &blue).as_deref(), Some("active"));
    set_green(&mut sim);
    sim.advance(5_000);
    assert_eq!(phase(&sim).1, "BlueGreenPause");
    assert_eq!((role(&sim, &green).as_deref(), role(&sim, &blue).as_deref()), (Some("preview"), Some("active")));
    run(&mut sim, Command::Promote { full: false });
    sim.advance(5_000);
    assert_eq!(active(&sim), Some(green.clone()));
    assert_eq!(replicas(&sim, &blue), 3, "still within scaleDownDelaySeconds");
    assert_eq!((role(&sim, &green).as_deref(), role(&sim, &blue)), (Some("active"), None));
}

#[test]
fn a_retry_after_a_failed_pre_promotion_analysis_measures_again_in_a_new_run() {
    let mut sim = deployed(&format!("      autoPromotionEnabled: false\n{PRE}"));
    let (blue, green) = (blue(&sim), green(&sim));
    sim.analysis_verdict = AnalysisPhase::Failed;
    set_green(&mut sim);
    sim.advance(5_000);
    assert_eq!(phase(&sim).0, "Degraded");
    sim.advance(30_000);
    assert_eq!(replicas(&sim, &green), 0, "the preview scaled down after abortScaleDownDelaySeconds");

    sim.analysis_verdict = AnalysisPhase::Successful;
    run(&mut sim, Command::Retry);
    sim.advance(5_000);
    let names: Vec<&str> = sim.analysis_requests.iter().map(|r| r.name.as_str()).collect();
    let base = format!("rollout-bluegreen-{green}-2-pre");
    assert_eq!(names, [base.clone(), format!("{base}.1")], "the retry measures afresh");
    assert_eq!(phase(&sim), ("Paused".into(), "BlueGreenPause".into()));
    assert_eq!((replicas(&sim, &blue), replicas(&sim, &green)), (3, 3));
    let pre = sim.rollout.status.clone().unwrap().blue_green.pre_promotion_analysis_run_status.unwrap();
    assert_eq!((pre.name, pre.status), (format!("{base}.1"), "Successful".to_string()));
}

#[test]
fn a_missing_service_is_an_invalid_spec_until_it_exists() {
    let mut sim = Simulator::new(load(""), Time::from_millis(START));
    sim.missing_services = vec!["rollout-bluegreen-preview".to_string()];
    sim.advance(5_000);
    let message = "The Rollout \"rollout-bluegreen\" is invalid: spec.strategy.blueGreen.previewService: \
        Invalid value: \"rollout-bluegreen-preview\": service \"rollout-bluegreen-preview\" not found";
    assert_eq!(phase(&sim), ("Degraded".into(), format!("InvalidSpec: {message}")));
    assert!(sim.replica_sets.is_empty(), "nothing is created while a Service is missing");
    assert_eq!(selectors(&sim), (None, None));

    sim.missing_services.clear();
    sim.advance(25_000);
    assert_eq!(phase(&sim), ("Healthy".to_string(), String::new()));
    let status = sim.rollout.status.clone().unwrap();
    assert!(!status.conditions.iter().any(|c| c.kind == "InvalidSpec"), "{:?}", status.conditions);
}

/// scaleDownDelayRevisionLimit: of the old revisions waiting for their scale-down delay, only
/// the newest N stay up; an older one goes down at once, as Argo's limit does.
#[test]
fn the_revision_limit_scales_older_waiting_revisions_down_at_once() {
    let mut sim = deployed("      scaleDownDelaySeconds: 600\n      scaleDownDelayRevisionLimit: 1\n");
    let (blue, green) = (blue(&sim), green(&sim));
    set_green(&mut sim);
    sim.advance(10_000);
    assert_eq!(active(&sim), Some(green.clone()));
    assert_eq!(replicas(&sim, &blue), 3, "blue waits for its delay");
    run(
        &mut sim,
        Command::SetImage { container: "rollouts-demo".into(), image: "argoproj/rollouts-demo:yellow".into() },
    );
    sim.advance(10_000);
    let yellow = hash_of(&sim, "argoproj/rollouts-demo:yellow");
    assert_eq!(active(&sim), Some(yellow));
    assert_eq!(replicas(&sim, &green), 3, "green, the newest old revision, waits for its delay");
    assert_eq!(replicas(&sim, &blue), 0, "blue is beyond the limit of one waiting revision");
}

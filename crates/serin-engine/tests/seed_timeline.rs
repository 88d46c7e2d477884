//! The seed's story replayed in virtual time: v1 with ten pods, then v2 through 10%, 30%, 60%
//! and 100% with the seed's pauses, ending Healthy with v1 scaled down.

use serin_engine::command::{Command, apply_command};
use serin_engine::phase::{actual_weight, set_weight, step_progress};
use serin_engine::sim::Simulator;
use serin_model::Time;
use serin_model::object::Object;
use serin_model::rollout::Rollout;

const ROLLOUT: &str = include_str!("../../../examples/argo-demo/argorollout-canary/rollout.yaml");
const V1: &str = "69dc9f5f56";
const V2: &str = "95d95c65";

fn seed_rollout() -> Rollout {
    let loaded = serin_model::load_str("rollout.yaml", ROLLOUT);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    match loaded.documents.into_iter().next().map(|d| d.object) {
        Some(Object::Rollout(r)) => *r,
        other => panic!("expected a Rollout, got {other:?}"),
    }
}

/// What `get rollout` shows in its header, as one comparable line.
fn header(sim: &Simulator) -> String {
    let r = &sim.rollout;
    let s = r.status.clone().unwrap_or_default();
    let (index, steps) = step_progress(r).unwrap();
    format!(
        "{} {:?} step {index}/{steps} set {} actual {} desired {} current {} updated {} ready {} available {}",
        s.phase.unwrap_or_default(),
        s.message.unwrap_or_default(),
        set_weight(r),
        actual_weight(r, &sim.replica_sets),
        r.spec.replicas(),
        s.replicas,
        s.updated_replicas,
        s.ready_replicas,
        s.available_replicas
    )
}

fn replicas(sim: &Simulator, hash: &str) -> i32 {
    sim.replica_set(hash).map_or(-1, |rs| rs.replicas)
}

#[test]
fn the_seed_canary_release_in_virtual_time() {
    let start = Time::parse("2024-06-23T04:30:04Z").unwrap();
    let mut sim = Simulator::new(seed_rollout(), start);
    sim.pod_ready_after = 2_000;
    sim.advance(10_000);

    // v1: straight to 100%, steps skipped.
    assert_eq!(
        header(&sim),
        "Healthy \"\" step 7/7 set 100 actual 100 desired 10 current 10 updated 10 ready 10 available 10"
    );
    assert_eq!(sim.replica_set(V1).unwrap().name, "canary-rollout-69dc9f5f56");
    assert_eq!(sim.rollout.status.as_ref().unwrap().stable_rs.as_deref(), Some(V1));

    // Push v2.
    apply_command(
        &mut sim.rollout,
        &Command::SetImage { container: "myapp".into(), image: "ikubernetes/myapp:v2".into() },
        &sim.replica_sets,
    )
    .unwrap();
    sim.advance(10_000);
    assert_eq!(
        header(&sim),
        "Paused \"CanaryPauseStep\" step 1/7 set 10 actual 10 desired 10 current 11 updated 1 ready 11 available 11"
    );
    assert_eq!(sim.replica_set(V2).unwrap().name, "canary-rollout-95d95c65");
    assert_eq!(sim.replica_set(V2).unwrap().revision, 2);
    assert_eq!((replicas(&sim, V2), replicas(&sim, V1)), (1, 10));
    assert_eq!(sim.traffic.canary_weight, Some(10));
    assert_eq!(sim.traffic.canary_hash.as_deref(), Some(V2));
    assert_eq!(sim.traffic.stable_hash.as_deref(), Some(V1));

    // The 5m pause ends; 30%.
    sim.advance(5 * 60_000);
    assert_eq!(
        header(&sim),
        "Paused \"CanaryPauseStep\" step 3/7 set 30 actual 30 desired 10 current 13 updated 3 ready 13 available 13"
    );
    assert_eq!((replicas(&sim, V2), replicas(&sim, V1)), (3, 10));

    // The 1m pause ends; 60%.
    sim.advance(60_000);
    assert_eq!(
        header(&sim),
        "Paused \"CanaryPauseStep\" step 5/7 set 60 actual 60 desired 10 current 16 updated 6 ready 16 available 16"
    );

    // The 30s pause ends; 100%, promotion, then v1 scaled down after scaleDownDelaySeconds.
    sim.advance(30_000 + 10_000);
    assert_eq!(
        header(&sim),
        "Healthy \"\" step 7/7 set 100 actual 100 desired 10 current 20 updated 10 ready 20 available 20"
    );
    let status = sim.rollout.status.clone().unwrap();
    assert_eq!(status.stable_rs.as_deref(), Some(V2));
    assert_eq!(sim.traffic.canary_weight, Some(0), "fully promoted: the stable Service carries everything");
    assert_eq!(sim.traffic.stable_hash.as_deref(), Some(V2));
    assert_eq!(replicas(&sim, V1), 10, "v1 waits for scaleDownDelaySeconds");
    sim.advance(30_000);
    assert_eq!(replicas(&sim, V1), 0);
    assert_eq!(
        header(&sim),
        "Healthy \"\" step 7/7 set 100 actual 100 desired 10 current 10 updated 10 ready 10 available 10"
    );

    let messages: Vec<&str> = sim.events.iter().map(|e| e.message.as_str()).collect();
    for expected in [
        "Rollout updated to revision 2",
        "Created ReplicaSet canary-rollout-95d95c65 (revision 2)",
        "Rollout step 1/7 completed (setWeight: 10)",
        "Rollout step 2/7 completed (pause: 5m)",
        "Rollout is resumed",
        "Rollout step 7/7 completed (setWeight: 100)",
        "Rollout completed update to revision 2 (95d95c65): Completed all 7 canary steps",
        "Scaled down ReplicaSet canary-rollout-69dc9f5f56 (revision 1) from 10 to 0",
    ] {
        assert!(messages.contains(&expected), "missing event {expected:?} in {messages:#?}");
    }
}

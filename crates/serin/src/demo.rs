//! `serin demo`: the seed's canary release, replayed.
//!
//! Until the local platform (real processes and a real router) lands, the demo drives the real
//! engine against its in-memory simulator in virtual time, and says so: v1 with ten pods, an
//! update to v2, 10% -> 30% -> 60% -> 100% with the seed's own pauses, then v1 scaled down.

use crate::view::rollout_header;
use serin_engine::command::{Command, apply_command};
use serin_engine::sim::Simulator;
use serin_model::Time;
use serin_model::duration::format_duration;
use serin_model::object::Object;
use std::process::ExitCode;

const SEED_ROLLOUT: &str = include_str!("../../../examples/argo-demo/argorollout-canary/rollout.yaml");

pub fn run() -> anyhow::Result<ExitCode> {
    let loaded = serin_model::load_str("examples/argo-demo/argorollout-canary/rollout.yaml", SEED_ROLLOUT);
    let Some(Object::Rollout(rollout)) = loaded.documents.into_iter().next().map(|d| d.object) else {
        anyhow::bail!("the embedded seed rollout did not load");
    };
    let start = Time::from_millis(0);
    let mut sim = Simulator::new(*rollout, start);
    sim.pod_ready_after = 2_000;
    println!("serin demo: the seed's canary release, driven by serin's engine in virtual time");
    println!("(in-memory simulator: pods start in 2s; pauses pass instantly, as recorded below)\n");
    sim.advance(10_000);
    show(&sim, start, "v1 deployed: straight to 100%, steps skipped");
    apply_command(
        &mut sim.rollout,
        &Command::SetImage { container: "myapp".into(), image: "ikubernetes/myapp:v2".into() },
        &sim.replica_sets,
    )
    .map_err(anyhow::Error::msg)?;
    let mut last_index = None;
    while sim.advance_to_next() {
        let status = sim.rollout.status.clone().unwrap_or_default();
        let settled_step = status.current_step_index != last_index && !status.pause_conditions.is_empty();
        let done = status.stable_rs == status.current_pod_hash
            && sim
                .replica_sets
                .iter()
                .all(|rs| rs.hash == status.stable_rs.clone().unwrap_or_default() || rs.replicas == 0);
        if settled_step {
            last_index = status.current_step_index;
            show(&sim, start, "paused at a step");
        }
        if done {
            show(&sim, start, "v2 promoted; v1 scaled down after scaleDownDelaySeconds");
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(sim: &Simulator, start: Time, what: &str) {
    let weight = sim.traffic.canary_weight.unwrap_or(0);
    println!(
        "── t={} ── {what}; router: canary {weight} / stable {}",
        format_duration(sim.now.since(start)),
        sim.traffic.max_weight - weight
    );
    println!("{}", rollout_header(&sim.rollout, &sim.replica_sets));
}

//! `serin plan`: what an update will do, step by step, before anyone pushes it.
//!
//! The plan is not a second implementation of the rules: it runs the real engine against the
//! in-memory simulator, with pods that start at once and analyses that pass, and records each
//! step as it completes.

use crate::command::{Command, apply_command};
use crate::reconcile::describe_step;
use crate::sim::Simulator;
use serin_model::Time;
use serin_model::rollout::{Rollout, StepKind};

/// One completed step of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedStep {
    /// 1-based step number.
    pub number: usize,
    pub description: String,
    pub set_weight: i32,
    pub canary_replicas: i32,
    pub stable_replicas: i32,
    /// Milliseconds this step waits (a timed pause), if any.
    pub pause: Option<i64>,
    /// The step waits for `serin promote`.
    pub manual: bool,
    /// Milliseconds from the start of the update to the step's completion, not counting
    /// manual waits.
    pub completed_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub rollout: String,
    pub replicas: i32,
    pub traffic_routing: Option<String>,
    pub steps: Vec<PlannedStep>,
    /// When the new version becomes stable, from the start of the update.
    pub promoted_at: i64,
    /// When the old version has been scaled to zero.
    pub finished_at: i64,
}

/// Plans an update to `rollout`'s template from a previous stable version.
pub fn plan(rollout: &Rollout) -> Result<Plan, String> {
    let start = Time::from_millis(0);
    let mut previous = rollout.clone();
    previous.status = None;
    for container in previous.spec.template.containers().iter().map(|c| c.name.to_string()).collect::<Vec<_>>() {
        let image = format!("{}-previous", previous.spec.template.images().first().cloned().unwrap_or_default());
        previous.spec.template.set_image(&container, &image);
    }
    let mut sim = Simulator::new(previous, start);
    sim.settle();
    sim.rollout.spec.template = rollout.spec.template.clone();
    let new_hash = rollout.spec.template.hash(None);
    let steps = rollout.spec.strategy.canary.as_ref().map(|c| c.steps.clone()).unwrap_or_default();
    let mut planned = Vec::new();
    let mut promoted_at = None;
    let mut manual_waits = 0;
    let mut last_index = 0;
    for _ in 0..100_000 {
        let before = sim.rollout.status.clone();
        let decision = sim.step();
        let status = sim.rollout.status.clone().unwrap_or_default();
        let index = status.current_step_index.unwrap_or(0).max(0) as usize;
        let elapsed = sim.now.since(start) - manual_waits;
        while last_index < index.min(steps.len()) {
            let step = &steps[last_index];
            let pause = match step.kind() {
                Some(StepKind::Pause(p)) => {
                    p.duration.as_ref().and_then(|d| serin_model::duration::parse_pause_duration(d).ok())
                }
                _ => None,
            };
            let manual = matches!(step.kind(), Some(StepKind::Pause(p)) if p.duration.is_none());
            planned.push(PlannedStep {
                number: last_index + 1,
                description: describe_step(step),
                set_weight: crate::phase::set_weight(&with_index(&sim.rollout, last_index)),
                canary_replicas: sim.replica_set(&new_hash).map_or(0, |rs| rs.replicas),
                stable_replicas: stable_replicas(&sim, &new_hash),
                pause,
                manual,
                completed_at: elapsed,
            });
            last_index += 1;
        }
        if promoted_at.is_none() && status.stable_rs.as_deref() == Some(new_hash.as_str()) {
            promoted_at = Some(elapsed);
        }
        let quiet = decision.actions.is_empty() && decision.requeue_after != Some(0) && before == sim.rollout.status;
        if !quiet {
            continue;
        }
        let old_up = sim.replica_sets.iter().any(|rs| rs.hash != new_hash && rs.replicas > 0);
        if promoted_at.is_some() && !old_up {
            return Ok(Plan {
                rollout: rollout.metadata.name().to_string(),
                replicas: rollout.spec.replicas(),
                traffic_routing: traffic_routing(rollout),
                steps: planned,
                promoted_at: promoted_at.unwrap_or(elapsed),
                finished_at: elapsed,
            });
        }
        if status.abort {
            return Err(status.message.unwrap_or_else(|| "the plan ended in an abort".to_string()));
        }
        let manual = is_manual_pause(&steps, index) || waits_for_blue_green_promotion(rollout, &status);
        if status.pause_conditions.iter().any(|_| decision.requeue_after.is_none() || manual) {
            let waited_from = sim.now;
            apply_command(&mut sim.rollout, &Command::Promote { full: false }, &sim.replica_sets)?;
            manual_waits += sim.now.since(waited_from);
            continue;
        }
        match decision.requeue_after {
            Some(after) => sim.now = sim.now.plus_millis(after.max(1)),
            None => {
                return Err(format!("the rollout would stop at step {index}: {}", status.message.unwrap_or_default()));
            }
        }
    }
    Err("the plan did not finish".to_string())
}

fn is_manual_pause(steps: &[serin_model::rollout::CanaryStep], index: usize) -> bool {
    matches!(steps.get(index).and_then(|s| s.kind()), Some(StepKind::Pause(p)) if p.duration.is_none())
}

/// A blue-green Rollout without auto-promotion, paused before the switch, waits for `promote`.
fn waits_for_blue_green_promotion(rollout: &Rollout, status: &serin_model::rollout::RolloutStatus) -> bool {
    let manual = rollout.spec.strategy.blue_green.as_ref().is_some_and(|bg| !bg.auto_promotion_enabled());
    manual && status.pause_conditions.iter().any(|c| c.reason == crate::bluegreen::PAUSE_REASON_BLUE_GREEN)
}

fn with_index(rollout: &Rollout, index: usize) -> Rollout {
    let mut copy = rollout.clone();
    let status = copy.status.get_or_insert_with(Default::default);
    status.current_step_index = Some(index as i32);
    status.abort = false;
    copy
}

fn stable_replicas(sim: &Simulator, new_hash: &str) -> i32 {
    sim.replica_sets.iter().filter(|rs| rs.hash != new_hash).map(|rs| rs.replicas).sum()
}

fn traffic_routing(rollout: &Rollout) -> Option<String> {
    let routing = rollout.spec.strategy.canary.as_ref()?.traffic_routing.as_ref()?;
    if let Some(t) = &routing.traefik {
        return Some(format!("traefik TraefikService {}", t.weighted_traefik_service_name));
    }
    if let Some(n) = &routing.nginx {
        return Some(format!(
            "nginx Ingress {}",
            n.stable_ingress.clone().unwrap_or_else(|| n.stable_ingresses.join(","))
        ));
    }
    routing.plugins.keys().next().map(|p| format!("plugin {p}"))
}

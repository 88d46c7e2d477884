//! `serin plan`: what an update will do, step by step, before anyone pushes it.
//!
//! The plan is not a second implementation of the rules: it runs the real engine against the
//! in-memory simulator, with pods that start at once and analyses that pass, and records what
//! it sees happen: each canary step as it completes, or each blue-green stage (preview up,
//! analyses, the pause, the switch, the scale-down) as the status shows it.

use crate::command::{Command, apply_command};
use crate::reconcile::describe_step;
use crate::sim::Simulator;
use crate::stages::{Stage, Wait, stages, waits_for_promotion};
use serin_model::Time;
use serin_model::rollout::{BlueGreenStrategy, CanaryStep, Rollout, RolloutStatus, StepKind};

/// One completed step (canary) or stage (blue-green) of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedStep {
    /// 1-based step number.
    pub number: usize,
    pub description: String,
    /// The canary's weight after the step; None for blue-green, which switches instead.
    pub set_weight: Option<i32>,
    /// Replicas of the new version and of the older ones after the step.
    pub new_replicas: i32,
    pub old_replicas: i32,
    /// Milliseconds this step waits (a timed pause or delay), if any.
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
    /// How traffic reaches the versions: "routed by traefik TraefikService x", ...
    pub traffic: String,
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
    let mut recorder = match (&rollout.spec.strategy.canary, &rollout.spec.strategy.blue_green) {
        (None, Some(blue_green)) => Recorder::BlueGreen(Stages::of(blue_green)),
        (canary, _) => Recorder::Canary { steps: canary.as_ref().map_or(&[], |c| c.steps.as_slice()) },
    };
    let mut planned = Vec::new();
    let mut promoted_at = None;
    let mut manual_waits = 0;
    for _ in 0..100_000 {
        let before = sim.rollout.status.clone();
        let decision = sim.step();
        let status = sim.rollout.status.clone().unwrap_or_default();
        let elapsed = sim.now.since(start) - manual_waits;
        recorder.observe(&Moment { sim: &sim, status: &status, new_hash: &new_hash, elapsed }, &mut planned);
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
                traffic: traffic(rollout),
                steps: planned,
                promoted_at: promoted_at.unwrap_or(elapsed),
                finished_at: elapsed,
            });
        }
        if status.abort {
            return Err(status.message.unwrap_or_else(|| "the plan ended in an abort".to_string()));
        }
        let manual = recorder.waits_for_promotion(&status);
        if status.pause_conditions.iter().any(|_| decision.requeue_after.is_none() || manual) {
            let waited_from = sim.now;
            apply_command(&mut sim.rollout, &Command::Promote { full: false }, &sim.replica_sets)?;
            manual_waits += sim.now.since(waited_from);
            continue;
        }
        match decision.requeue_after {
            Some(after) => sim.now = sim.now.plus_millis(after.max(1)),
            None => {
                let index = status.current_step_index.unwrap_or(0);
                return Err(format!("the rollout would stop at step {index}: {}", status.message.unwrap_or_default()));
            }
        }
    }
    Err("the plan did not finish".to_string())
}

/// The simulated release at one instant, as the recorder sees it.
struct Moment<'a> {
    sim: &'a Simulator,
    status: &'a RolloutStatus,
    new_hash: &'a str,
    /// Milliseconds since the update started, manual waits left out.
    elapsed: i64,
}

impl Moment<'_> {
    fn new_replicas(&self) -> i32 {
        self.sim.replica_set(self.new_hash).map_or(0, |rs| rs.replicas)
    }

    fn old_replicas(&self) -> i32 {
        self.sim.replica_sets.iter().filter(|rs| rs.hash != self.new_hash).map(|rs| rs.replicas).sum()
    }

    fn record(&self, planned: &mut Vec<PlannedStep>, description: String, set_weight: Option<i32>, wait: Wait) {
        planned.push(PlannedStep {
            number: planned.len() + 1,
            description,
            set_weight,
            new_replicas: self.new_replicas(),
            old_replicas: self.old_replicas(),
            pause: wait.timed,
            manual: wait.manual,
            completed_at: self.elapsed,
        });
    }
}

/// What the plan writes down: the canary's steps as its step index passes them, or the
/// blue-green stages as the status reaches them.
enum Recorder<'a> {
    Canary { steps: &'a [CanaryStep] },
    BlueGreen(Stages<'a>),
}

impl Recorder<'_> {
    fn observe(&mut self, now: &Moment, planned: &mut Vec<PlannedStep>) {
        match self {
            Recorder::Canary { steps } => {
                let index = now.status.current_step_index.unwrap_or(0).max(0) as usize;
                while planned.len() < index.min(steps.len()) {
                    let number = planned.len();
                    let step = &steps[number];
                    let wait = match step.kind() {
                        Some(StepKind::Pause(p)) => Wait {
                            timed: p
                                .duration
                                .as_ref()
                                .and_then(|d| serin_model::duration::parse_pause_duration(d).ok()),
                            manual: p.duration.is_none(),
                        },
                        _ => Wait::default(),
                    };
                    let weight = crate::phase::set_weight(&with_index(&now.sim.rollout, number));
                    now.record(planned, describe_step(step), Some(weight), wait);
                }
            }
            Recorder::BlueGreen(stages) => stages.observe(now, planned),
        }
    }

    /// Whether the rollout, paused, waits for `promote` rather than for a clock.
    fn waits_for_promotion(&self, status: &RolloutStatus) -> bool {
        match self {
            Recorder::Canary { steps } => {
                let index = status.current_step_index.unwrap_or(0).max(0) as usize;
                matches!(steps.get(index).and_then(|s| s.kind()), Some(StepKind::Pause(p)) if p.duration.is_none())
            }
            Recorder::BlueGreen(stages) => waits_for_promotion(stages.strategy, status),
        }
    }
}

/// A blue-green update's stages still ahead, recorded in order as the status reaches them.
struct Stages<'a> {
    ahead: std::collections::VecDeque<Stage>,
    strategy: &'a BlueGreenStrategy,
}

impl<'a> Stages<'a> {
    fn of(strategy: &'a BlueGreenStrategy) -> Stages<'a> {
        Stages { ahead: stages(strategy).into(), strategy }
    }

    fn observe(&mut self, now: &Moment, planned: &mut Vec<PlannedStep>) {
        while let Some(&stage) = self.ahead.front() {
            if !stage.reached(now.status, &now.sim.replica_sets) {
                return;
            }
            self.ahead.pop_front();
            now.record(planned, stage.describe(self.strategy), None, stage.wait(self.strategy));
        }
    }
}

fn with_index(rollout: &Rollout, index: usize) -> Rollout {
    let mut copy = rollout.clone();
    let status = copy.status.get_or_insert_with(Default::default);
    status.current_step_index = Some(index as i32);
    status.abort = false;
    copy
}

fn traffic(rollout: &Rollout) -> String {
    if let (None, Some(blue_green)) = (&rollout.spec.strategy.canary, &rollout.spec.strategy.blue_green) {
        return match &blue_green.preview_service {
            Some(preview) => format!("switched by Service {} (preview on {preview})", blue_green.active_service),
            None => format!("switched by Service {}", blue_green.active_service),
        };
    }
    match traffic_router(rollout) {
        Some(router) => format!("routed by {router}"),
        None => "split by pod count (no traffic routing)".to_string(),
    }
}

fn traffic_router(rollout: &Rollout) -> Option<String> {
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

//! The canary reconcile (blue-green Rollouts go to `bluegreen.rs`): one pure decision from a Rollout's spec, its last status, what the
//! platform observed and the time. It follows Argo Rollouts' controller step by step (spec
//! change, scaling, traffic, steps, promotion, abort, clean-up), one step advance per call;
//! the platform calls again when `requeue_after` says so or when something it observes changes.

use crate::phase::{
    CONDITION_INVALID_SPEC, CONDITION_PAUSED, CONDITION_PROGRESSING, REASON_ABORTED, REASON_DEADLINE, phase,
};
use crate::replicas::{
    AppliedWeights, BasicCanary, ProgressThreshold, ReplicaSetCounts, Scaling, ScalingStep, StepCheck, TrafficRouted,
    WeightContext, abort_traffic_weight, at_desired_counts, basic_canary_counts, canary_replicas_or_weight,
    current_set_weight, resolve_fenceposts, traffic_routed_counts,
};
use crate::state::{
    Action, AnalysisPhase, AnalysisRunRequest, AnalysisRunState, Decision, Event, HeaderRoute, MirrorRoute,
    NewReplicaSet, ReplicaSetState, TrafficIntent, World,
};
use serin_model::Time;
use serin_model::duration::parse_pause_duration;
use serin_model::rollout::{
    CanaryStep, CanaryStrategy, PauseCondition, ProgressThresholdType, Rollout, RolloutAnalysis,
    RolloutAnalysisRunStatus, RolloutCondition, RolloutStatus, StepKind, TrafficWeights, WeightDestination,
};

pub const PAUSE_REASON_STEP: &str = "CanaryPauseStep";
pub const PAUSE_REASON_INCONCLUSIVE: &str = "InconclusiveAnalysisRun";

/// Decides what to do next for one Rollout.
pub fn reconcile(world: &World) -> Decision {
    let rollout = world.rollout;
    let mut status = rollout.status.clone().unwrap_or_default();
    status.observed_generation = rollout.metadata.generation.map(|g| g.to_string());
    let mut out = Output::default();
    if let Some(message) = missing_service(rollout, world.missing_services) {
        // Nothing is created or switched until the Service exists; looked for again soon, as
        // the Rollout may just have been applied before its Services.
        set_condition(&mut status, CONDITION_INVALID_SPEC, "True", "InvalidSpec", &message, world.now);
        out.requeue(MISSING_REFERENCE_RETRY);
        return finish(rollout, status, out, TrafficIntent::default());
    }
    if let (None, Some(blue_green)) = (&rollout.spec.strategy.canary, &rollout.spec.strategy.blue_green) {
        status.conditions.retain(|c| c.kind != CONDITION_INVALID_SPEC);
        let traffic = crate::bluegreen::reconcile(world, blue_green, &mut status, &mut out);
        crate::ephemeral::reconcile(rollout, &status, world.replica_sets, &mut out);
        crate::antiaffinity::reconcile(rollout, &status, world.replica_sets, &mut out);
        return finish(rollout, status, out, traffic);
    }
    let canary = match check_spec(rollout) {
        Ok(canary) => {
            status.conditions.retain(|c| c.kind != CONDITION_INVALID_SPEC);
            canary
        }
        Err(message) => {
            set_condition(&mut status, CONDITION_INVALID_SPEC, "True", "InvalidSpec", &message, world.now);
            return finish(rollout, status, out, TrafficIntent::default());
        }
    };
    let mut r = Reconciler::new(world, canary, &mut status, &mut out);
    let traffic = r.run();
    crate::ephemeral::reconcile(rollout, &status, world.replica_sets, &mut out);
    crate::antiaffinity::reconcile(rollout, &status, world.replica_sets, &mut out);
    finish(rollout, status, out, traffic)
}

/// How soon a Rollout whose Service is missing is looked at again (Argo's 20 s).
const MISSING_REFERENCE_RETRY: i64 = 20_000;

/// The InvalidSpec message Argo writes (`getReferencedServices`) for the first Service the
/// strategy names that is among `missing`.
fn missing_service(rollout: &Rollout, missing: &[String]) -> Option<String> {
    let strategy = &rollout.spec.strategy;
    let fields = match (&strategy.canary, &strategy.blue_green) {
        (Some(_), _) => ["spec.strategy.canary.stableService", "spec.strategy.canary.canaryService"],
        (None, Some(_)) => ["spec.strategy.blueGreen.activeService", "spec.strategy.blueGreen.previewService"],
        (None, None) => return None,
    };
    let (first, second) = strategy.services();
    fields.into_iter().zip([first, second]).find_map(|(field, name)| {
        let name = name.filter(|name| missing.iter().any(|m| m == name))?;
        Some(format!(
            "The Rollout \"{}\" is invalid: {field}: Invalid value: \"{name}\": service \"{name}\" not found",
            rollout.metadata.name()
        ))
    })
}

#[derive(Default)]
pub(crate) struct Output {
    pub(crate) actions: Vec<Action>,
    pub(crate) events: Vec<Event>,
    pub(crate) requeue_after: Option<i64>,
}

impl Output {
    pub(crate) fn requeue(&mut self, after: i64) {
        let after = after.max(0);
        self.requeue_after = Some(self.requeue_after.map_or(after, |r| r.min(after)));
    }
}

pub(crate) fn finish(
    rollout: &Rollout,
    mut status: RolloutStatus,
    mut out: Output,
    traffic: TrafficIntent,
) -> Decision {
    let was_paused = rollout.status.as_ref().is_some_and(|s| !s.pause_conditions.is_empty());
    // As Argo's `sendStateChangeEvents`, on a change between paused and not: paused, with the
    // first reason; or the controller lifted its own pause (a timed pause ran out,
    // auto-promotion), where an abort, which also clears the pauses, is no resumption.
    match status.pause_conditions.first() {
        Some(first) if !was_paused => {
            out.events.push(Event::normal("RolloutPaused", format!("Rollout is paused ({})", first.reason)))
        }
        None if was_paused && status.aborted_at.is_none() => {
            out.events.push(Event::normal("RolloutResumed", "Rollout is resumed"))
        }
        _ => {}
    }
    let (phase, message) = phase(rollout, &status);
    status.phase = Some(phase.to_string());
    status.message = Some(message);
    Decision { status, actions: out.actions, traffic, events: out.events, requeue_after: out.requeue_after }
}

fn check_spec(rollout: &Rollout) -> Result<&CanaryStrategy, String> {
    let canary = rollout.spec.strategy.canary.as_ref().ok_or("set spec.strategy.canary or spec.strategy.blueGreen")?;
    if canary.steps.iter().any(|s| s.kind().is_none()) {
        return Err(
            "every step must set one kind, and at most one of setWeight, pause, experiment and analysis".to_string()
        );
    }
    Ok(canary)
}

/// Sets a condition on a status, moving its transition time only when its value changes.
pub fn set_condition(status: &mut RolloutStatus, kind: &str, value: &str, reason: &str, message: &str, now: Time) {
    let existing = status.conditions.iter_mut().find(|c| c.kind == kind);
    match existing {
        Some(c)
            if c.status == value && c.reason.as_deref() == Some(reason) && c.message.as_deref() == Some(message) => {}
        Some(c) => {
            if c.status != value {
                c.last_transition_time = Some(now);
            }
            c.status = value.to_string();
            c.reason = Some(reason.to_string());
            c.message = Some(message.to_string());
            c.last_update_time = Some(now);
        }
        None => status.conditions.push(RolloutCondition {
            kind: kind.to_string(),
            status: value.to_string(),
            last_update_time: Some(now),
            last_transition_time: Some(now),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
        }),
    }
}

/// A short description of a step for events: `setWeight: 10`, `pause: 5m`, `pause`; a step
/// that does several things lists them (`pause, setCanaryScale: replicas 2`).
pub fn describe_step(step: &CanaryStep) -> String {
    if step.kind().is_none() {
        return "invalid step".to_string();
    }
    let describe = |kind: StepKind<'_>| match kind {
        StepKind::SetWeight(w) => format!("setWeight: {w}"),
        StepKind::Pause(p) => match &p.duration {
            Some(d) => format!("pause: {d}"),
            None => "pause".to_string(),
        },
        StepKind::SetCanaryScale(s) => match (s.replicas, s.weight) {
            (Some(r), _) => format!("setCanaryScale: replicas {r}"),
            (_, Some(w)) => format!("setCanaryScale: weight {w}"),
            _ => "setCanaryScale: matchTrafficWeight".to_string(),
        },
        StepKind::Analysis(a) => {
            let names: Vec<&str> = a.templates.iter().map(|t| t.template_name.as_str()).collect();
            format!("analysis: {}", names.join(", "))
        }
        StepKind::SetHeaderRoute(h) => format!("setHeaderRoute: {}", h.name),
        StepKind::SetMirrorRoute(m) => format!("setMirrorRoute: {}", m.name),
        StepKind::Experiment(_) => "experiment".to_string(),
        StepKind::Plugin(_) => "plugin".to_string(),
    };
    step.kinds().into_iter().map(describe).collect::<Vec<_>>().join(", ")
}

/// FNV-1a 32-bit, printed in the pod-template-hash alphabet: the identity of a step list.
pub fn steps_hash(steps: &[CanaryStep]) -> String {
    let json = serde_json::to_string(steps).unwrap_or_default();
    let mut hash: u32 = 0x811c_9dc5;
    for byte in json.bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string().bytes().map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char).collect()
}

fn counts(rs: &ReplicaSetState) -> ReplicaSetCounts {
    ReplicaSetCounts { spec: rs.replicas, available: rs.available }
}

/// Fields shared by the reconcile's phases.
struct Reconciler<'a, 'w> {
    world: &'a World<'w>,
    canary: &'a CanaryStrategy,
    status: &'a mut RolloutStatus,
    out: &'a mut Output,
    now: Time,
    replicas: i32,
    steps: &'a [CanaryStep],
    max_weight: i32,
    routed: bool,
    pod_hash: String,
    revision: i64,
    new_rs: Option<ReplicaSetState>,
    stable_rs: Option<&'a ReplicaSetState>,
    others: Vec<&'a ReplicaSetState>,
}

impl<'a, 'w> Reconciler<'a, 'w> {
    fn new(
        world: &'a World<'w>,
        canary: &'a CanaryStrategy,
        status: &'a mut RolloutStatus,
        out: &'a mut Output,
    ) -> Self {
        let rollout = world.rollout;
        let pod_hash = rollout.spec.template.hash(status.collision_count);
        let (existing_new, revision) = current_revision(world, &pod_hash);
        let stable_rs =
            status.stable_rs.as_deref().and_then(|hash| world.replica_sets.iter().find(|rs| rs.hash == hash));
        let others = world
            .replica_sets
            .iter()
            .filter(|rs| rs.hash != pod_hash && Some(rs.hash.as_str()) != status.stable_rs.as_deref())
            .collect();
        Reconciler {
            world,
            canary,
            now: world.now,
            replicas: rollout.spec.replicas(),
            steps: &canary.steps,
            max_weight: canary.max_weight(),
            routed: canary.traffic_routing.is_some(),
            new_rs: existing_new.cloned(),
            stable_rs,
            others,
            pod_hash,
            revision,
            status,
            out,
        }
    }

    fn name(&self) -> &str {
        self.world.rollout.metadata.name()
    }

    /// A stable ReplicaSet exists and differs from the current template: a canary is under way.
    fn has_distinct_stable(&self) -> bool {
        self.stable_rs.is_some() && self.status.stable_rs.as_deref() != Some(&self.pod_hash)
    }

    fn step_index(&self) -> usize {
        (self.status.current_step_index.unwrap_or(0).max(0) as usize).min(self.steps.len())
    }

    fn run(&mut self) -> TrafficIntent {
        self.observe_spec_change();
        self.ensure_new_replica_set();
        if self.status.promote_full {
            self.status.current_step_index = Some(self.steps.len() as i32);
        }
        if self.status.abort && self.status.aborted_at.is_none() {
            // Aborted by a person (`serin abort`): record it as the engine's own abort.
            self.status.abort = false;
            self.abort(&format!("Rollout aborted update to revision {}", self.revision));
        }
        let paused = self.world.rollout.spec.paused == Some(true);
        let (fenceposts, at_desired, desired_weight) = match self.scale(paused) {
            Ok(result) => result,
            Err(message) => {
                set_condition(self.status, CONDITION_INVALID_SPEC, "True", "InvalidSpec", &message, self.now);
                return TrafficIntent::default();
            }
        };
        let mut traffic = self.traffic(at_desired, desired_weight);
        self.record_served_weights(&traffic);
        let aborted_before = self.status.abort;
        if !paused {
            self.reconcile_background_analysis();
            // An inconclusive analysis holds the rollout where it is until someone promotes it.
            let held = self.status.pause_conditions.iter().any(|c| c.reason == PAUSE_REASON_INCONCLUSIVE);
            if !held {
                if !self.status.abort && self.has_distinct_stable() {
                    self.advance_step(at_desired);
                }
                self.promote_if_done();
            }
        }
        self.scale_down_others(fenceposts.1);
        restart(self.world, self.status, self.out, fenceposts.1);
        clean_up_history(self.world, self.status.stable_rs.as_deref(), &self.pod_hash, self.out);
        let canary = &self.status.canary;
        let current = [&canary.current_step_analysis_run_status, &canary.current_background_analysis_run_status];
        clean_up_analysis_runs(self.world, &current.into_iter().flatten().collect::<Vec<_>>(), self.out);
        self.update_counts();
        self.check_progress_deadline(paused);
        update_paused_condition(self.status, paused, self.now);
        if self.status.abort && !aborted_before {
            // An analysis verdict or the progress deadline aborted the update: traffic leaves
            // the canary in this very decision, not one reconcile later.
            traffic = self.traffic(at_desired, 0);
        }
        traffic
    }

    /// A new template or new steps restart the canary from step 0 (or skip the steps when
    /// going back to the stable template).
    fn observe_spec_change(&mut self) {
        let step_hash = steps_hash(self.steps);
        let pod_changed = self.status.current_pod_hash.as_deref() != Some(&self.pod_hash);
        let steps_changed = self.status.current_step_hash.as_deref() != Some(&step_hash);
        if !pod_changed && !steps_changed {
            return;
        }
        let first = self.status.current_pod_hash.is_none();
        self.status.current_pod_hash = Some(self.pod_hash.clone());
        self.status.current_step_hash = Some(step_hash);
        self.status.pause_conditions.clear();
        self.status.controller_pause = false;
        self.status.abort = false;
        self.status.aborted_at = None;
        self.status.promote_full = false;
        self.terminate_step_analysis();
        self.status.conditions.retain(|c| c.kind != CONDITION_PROGRESSING);
        let skip_steps = !self.has_distinct_stable() || self.within_rollback_window();
        self.status.current_step_index = Some(if skip_steps { self.steps.len() as i32 } else { 0 });
        if pod_changed && !first {
            self.out
                .events
                .push(Event::normal("RolloutUpdated", format!("Rollout updated to revision {}", self.revision)));
            if skip_steps && self.has_distinct_stable() {
                self.out.events.push(Event::normal("SkipSteps", "Rollback to a recent revision: skipping steps"));
            } else if self.status.stable_rs.as_deref() == Some(&self.pod_hash) {
                self.out.events.push(Event::normal("SkipSteps", "Rollback to stable ReplicaSets"));
            }
        }
    }

    /// `rollbackWindow.revisions`: going back to one of the last N revisions skips the steps.
    fn within_rollback_window(&self) -> bool {
        let Some(window) = self.world.rollout.spec.rollback_window.as_ref().and_then(|w| w.revisions) else {
            return false;
        };
        let Some(target) = &self.new_rs else { return false };
        let mut revisions: Vec<i64> = self.world.replica_sets.iter().map(|rs| rs.revision).collect();
        revisions.sort_unstable_by(|a, b| b.cmp(a));
        revisions.iter().take(window.max(0) as usize + 1).any(|r| *r == target.revision)
    }

    fn ensure_new_replica_set(&mut self) {
        match &mut self.new_rs {
            Some(rs) if rs.revision != self.revision => {
                rs.revision = self.revision;
                let name = rs.name.clone();
                self.out.actions.push(Action::SetRevision { name, revision: self.revision });
            }
            Some(_) => {}
            None => self.new_rs = Some(create_replica_set(self.world, &self.pod_hash, self.revision, self.out)),
        }
    }

    /// What the replica math needs to know of where the Rollout stands.
    fn weight_context<'s>(&self, steps: &'s [ScalingStep]) -> WeightContext<'s> {
        WeightContext {
            steps,
            step_index: self.step_index(),
            max_weight: self.max_weight,
            promote_full: self.status.promote_full,
            has_distinct_stable: self.has_distinct_stable(),
            aborted: self.status.abort,
            traffic_routed: self.routed,
            abort_scale_down_delay_seconds: self.canary.abort_scale_down_delay_seconds,
            dynamic_stable_scale: self.canary.dynamic_stable_scale(),
            replicas: self.replicas,
            new_rs: self.new_rs.as_ref().map(counts),
            stable_rs: self.stable_rs.map(counts),
        }
    }

    fn scaling_steps(&self) -> Vec<ScalingStep> {
        self.steps
            .iter()
            .map(|s| match (s.set_weight, &s.set_canary_scale) {
                (None, Some(c)) => ScalingStep::SetCanaryScale {
                    replicas: c.replicas,
                    weight: c.weight,
                    match_traffic_weight: c.match_traffic_weight,
                },
                (Some(set_weight), Some(c)) => ScalingStep::SetWeightAndCanaryScale {
                    set_weight,
                    replicas: c.replicas,
                    weight: c.weight,
                    match_traffic_weight: c.match_traffic_weight,
                },
                (Some(w), None) => ScalingStep::SetWeight(w),
                (None, None) => ScalingStep::Other,
            })
            .collect()
    }

    /// Scales the new and stable ReplicaSets; returns the resolved (maxSurge, maxUnavailable),
    /// whether the step's counts are reached, and the step's desired traffic weight.
    fn scale(&mut self, paused: bool) -> Result<((i32, i32), bool, i32), String> {
        let canary = self.canary;
        let fenceposts = resolve_fenceposts(&canary.max_surge(), &canary.max_unavailable(), self.replicas)?;
        let steps = self.scaling_steps();
        let distinct = self.has_distinct_stable();
        let index = self.step_index();
        let aborted = self.status.abort;
        let new_counts = self.new_rs.as_ref().map(counts);
        let stable_counts = self.stable_rs.map(counts);
        let (scale, weight) = canary_replicas_or_weight(&self.weight_context(&steps));
        let other_counts: Vec<ReplicaSetCounts> = self.others.iter().map(|rs| counts(rs)).collect();
        let threshold = canary.replica_progress_threshold.as_ref().map(|t| match t.kind {
            ProgressThresholdType::Percent => ProgressThreshold::Percent(t.value),
            ProgressThresholdType::Pods => ProgressThreshold::Pods(t.value),
        });
        let stable_created = self.stable_rs.map_or(0, |rs| rs.current);
        let served = self.world.served_weights.map(|w| AppliedWeights { canary: w.canary, stable: w.stable });
        let (mut desired_new, desired_stable, at_desired) = if self.routed {
            let input = TrafficRouted {
                replicas: self.replicas,
                max_weight: self.max_weight,
                weight,
                canary_scale: scale,
                dynamic_stable_scale: canary.dynamic_stable_scale(),
                min_pods_per_replica_set: canary.min_pods_per_replica_set,
                aborted,
                applied_weights: served,
            };
            let (c, s) = if distinct { traffic_routed_counts(&input) } else { (self.replicas, 0) };
            let check = StepCheck {
                scaling: Scaling::TrafficRouted { input: &input, new_rs: new_counts, stable_rs: stable_counts },
                stable_created,
                threshold,
            };
            (c, s, distinct && at_desired_counts(&check))
        } else {
            let input = BasicCanary {
                replicas: self.replicas,
                max_surge: fenceposts.0,
                max_unavailable: fenceposts.1,
                weight,
                max_weight: self.max_weight,
                new_rs: new_counts,
                stable_rs: stable_counts,
                new_is_stable: !distinct && stable_counts.is_some(),
                others: &other_counts,
            };
            let (c, s) = basic_canary_counts(&input);
            let check = StepCheck { scaling: Scaling::Basic(&input), stable_created, threshold };
            (c, s, at_desired_counts(&check))
        };
        desired_new = self.abort_scale_down(desired_new);
        if !paused {
            if let Some(new_rs) = self.new_rs.clone() {
                self.scale_to(&new_rs, desired_new);
            }
            if let Some(stable) = self.stable_rs.filter(|_| distinct) {
                self.scale_to(stable, desired_stable);
            }
        }
        let step_weight =
            if distinct { current_set_weight(&steps, index, aborted, self.max_weight) } else { self.max_weight };
        Ok((fenceposts, at_desired, step_weight))
    }

    /// Whether an aborted canary keeps its pods rather than follow the replica math
    /// (`shouldDelayScaleDownOnAbort`): with traffic routing, unless dynamicStableScale is on
    /// and no `abortScaleDownDelaySeconds` is given (then it drains with its traffic).
    fn delays_abort_scale_down(&self) -> bool {
        self.status.abort
            && self.routed
            && self.has_distinct_stable()
            && !(self.canary.dynamic_stable_scale() && self.canary.abort_scale_down_delay_seconds.is_none())
    }

    /// An aborted canary keeps its pods: for ever with `abortScaleDownDelaySeconds: 0`, else
    /// until a deadline that delay after the stable can serve everything again. As in Argo, the
    /// deadline is written on the canary ReplicaSet when the stable is complete (with
    /// dynamicStableScale that is once the abort has walked back to 0%), and taken off again
    /// when the Rollout is no longer aborted.
    fn abort_scale_down(&mut self, desired_new: i32) -> i32 {
        let Some(new_rs) = self.new_rs.clone() else { return desired_new };
        if !self.delays_abort_scale_down() {
            if new_rs.scale_down_deadline.is_some() {
                self.out.actions.push(Action::SetScaleDownDeadline { name: new_rs.name, deadline: None });
            }
            return desired_new;
        }
        let delay = i64::from(self.canary.abort_scale_down_delay_seconds()) * 1000;
        if delay == 0 {
            return new_rs.replicas;
        }
        match new_rs.scale_down_deadline {
            Some(deadline) if self.now >= deadline => 0,
            Some(deadline) => {
                self.out.requeue(deadline.since(self.now));
                new_rs.replicas
            }
            None => {
                if self.stable_rs.is_some_and(|rs| rs.available >= self.replicas) {
                    let deadline = Some(self.now.plus_millis(delay));
                    self.out.actions.push(Action::SetScaleDownDeadline { name: new_rs.name, deadline });
                    self.out.requeue(delay);
                }
                new_rs.replicas
            }
        }
    }

    fn scale_to(&mut self, rs: &ReplicaSetState, to: i32) {
        if !scale_replica_set(self.out, rs, to) {
            return;
        }
        if let Some(new_rs) = self.new_rs.as_mut().filter(|n| n.name == rs.name) {
            new_rs.replicas = to;
        }
    }

    /// Which pods the Services select and how traffic is split.
    fn traffic(&mut self, at_desired: bool, step_weight: i32) -> TrafficIntent {
        let new_available = self.new_rs.as_ref().is_some_and(|rs| rs.available > 0);
        let stable_hash = match self.stable_rs {
            Some(rs) if rs.available > 0 || !new_available => Some(rs.hash.clone()),
            Some(_) | None if new_available => Some(self.pod_hash.clone()),
            Some(rs) => Some(rs.hash.clone()),
            None => None,
        };
        let distinct = self.has_distinct_stable();
        let aborting = distinct && self.status.abort;
        let abort_weight = if aborting { self.abort_traffic_weight() } else { 0 };
        // An aborted canary still serving traffic (dynamicStableScale) keeps its Service.
        let canary_serves = if aborting { abort_weight > 0 } else { distinct && new_available };
        let canary_hash = if canary_serves { Some(self.pod_hash.clone()) } else { stable_hash.clone() };
        let served = self.world.served_weights.map_or(0, |w| w.canary);
        let canary_weight = if aborting {
            abort_weight
        } else if !distinct || !new_available {
            0
        } else if at_desired {
            step_weight
        } else {
            served.min(step_weight)
        };
        let (header_routes, mirror_routes) =
            if distinct && !self.status.abort { self.routes() } else { Default::default() };
        TrafficIntent {
            stable_hash,
            canary_hash,
            canary_weight: self.routed.then_some(canary_weight),
            max_weight: self.max_weight,
            header_routes,
            mirror_routes,
        }
    }

    /// Traffic to the canary while aborted: none, or with dynamicStableScale what the stable
    /// cannot take yet. Argo returns none when the Rollout leaves `spec.replicas` out.
    fn abort_traffic_weight(&self) -> i32 {
        if self.world.rollout.spec.replicas.is_none() {
            return 0;
        }
        let steps = self.scaling_steps();
        abort_traffic_weight(&self.weight_context(&steps), self.served_canary_weight())
    }

    /// Header and mirror routes set by the steps so far and the current one (a later step of the same name wins;
    /// one without matches removes the route).
    fn routes(&self) -> (Vec<HeaderRoute>, Vec<MirrorRoute>) {
        let mut headers: Vec<HeaderRoute> = Vec::new();
        let mut mirrors: Vec<MirrorRoute> = Vec::new();
        // The current step's routes too: Argo sets them while the step runs (a pause in the
        // same step holds it with the route on).
        for step in &self.steps[..(self.step_index() + 1).min(self.steps.len())] {
            if let Some(h) = &step.set_header_route {
                headers.retain(|r| r.name != h.name);
                if !h.r#match.is_empty() {
                    headers.push(HeaderRoute { name: h.name.clone(), matches: h.r#match.clone() });
                }
            }
            if let Some(m) = &step.set_mirror_route {
                mirrors.retain(|r| r.name != m.name);
                if !m.r#match.is_empty() {
                    mirrors.push(MirrorRoute {
                        name: m.name.clone(),
                        matches: m.r#match.clone(),
                        percentage: m.percentage.unwrap_or(100),
                    });
                }
            }
        }
        (headers, mirrors)
    }

    /// `status.canary.weights` shows what the router serves, not what was asked for.
    fn record_served_weights(&mut self, intent: &TrafficIntent) {
        let Some(served) = self.world.served_weights.filter(|_| self.routed) else {
            self.status.canary.weights = None;
            return;
        };
        let service = |name: &Option<String>| name.clone().unwrap_or_default();
        let stable_hash = self.status.stable_rs.clone().unwrap_or_default();
        // An aborted canary is still a destination while it keeps traffic (dynamicStableScale).
        let canary_destination = !self.status.abort || intent.canary_weight.is_some_and(|w| w > 0);
        let canary_hash =
            if self.has_distinct_stable() && canary_destination { self.pod_hash.clone() } else { stable_hash.clone() };
        self.status.canary.weights = Some(TrafficWeights {
            canary: WeightDestination {
                weight: served.canary,
                service_name: service(&self.canary.canary_service),
                pod_template_hash: canary_hash,
            },
            stable: WeightDestination {
                weight: served.stable,
                service_name: service(&self.canary.stable_service),
                pod_template_hash: stable_hash,
            },
            additional: Vec::new(),
            verified: None,
        });
    }

    fn served_canary_weight(&self) -> Option<i32> {
        self.world.served_weights.map(|w| w.canary)
    }

    fn advance_step(&mut self, at_desired: bool) {
        let index = self.step_index();
        let Some(step) = self.steps.get(index) else { return };
        let complete = match step.kind() {
            Some(StepKind::SetWeight(w)) => {
                at_desired && (!self.routed || self.served_canary_weight() == Some(w.min(self.max_weight)))
            }
            Some(StepKind::SetCanaryScale(_)) => at_desired,
            Some(StepKind::Pause(pause)) => self.pause_step(pause.duration.as_ref()),
            Some(StepKind::Analysis(analysis)) => self.analysis_step(index, analysis),
            Some(StepKind::SetHeaderRoute(_) | StepKind::SetMirrorRoute(_)) => true,
            Some(StepKind::Experiment(_) | StepKind::Plugin(_)) | None => false,
        };
        if complete {
            self.status.current_step_index = Some(index as i32 + 1);
            self.status.controller_pause = false;
            self.status.pause_conditions.retain(|c| c.reason != PAUSE_REASON_STEP);
            self.out.events.push(Event::normal(
                "RolloutStepCompleted",
                format!("Rollout step {}/{} completed ({})", index + 1, self.steps.len(), describe_step(step)),
            ));
            self.out.requeue(0);
        }
    }

    /// A pause step: paused until promoted, or until its duration has passed.
    fn pause_step(&mut self, duration: Option<&serin_model::IntOrString>) -> bool {
        let condition = self.status.pause_conditions.iter().find(|c| c.reason == PAUSE_REASON_STEP).cloned();
        let Some(condition) = condition else {
            if self.status.controller_pause {
                return true; // promoted: the pause condition was removed
            }
            self.pause(PAUSE_REASON_STEP);
            if let Some(d) = duration {
                self.out.requeue(parse_pause_duration(d).unwrap_or(0));
            }
            return false;
        };
        let Some(millis) = duration.and_then(|d| parse_pause_duration(d).ok()) else { return false };
        let ends = condition.start_time.plus_millis(millis);
        if self.now >= ends {
            return true;
        }
        self.out.requeue(ends.since(self.now));
        false
    }

    fn pause(&mut self, reason: &str) {
        if self.status.pause_conditions.iter().any(|c| c.reason == reason) {
            return;
        }
        self.status.pause_conditions.push(PauseCondition { reason: reason.to_string(), start_time: self.now });
        self.status.controller_pause = true;
    }

    fn analysis_run_name(&self, step: Option<usize>) -> String {
        match step {
            Some(index) => format!("{}-{}-{}-{}", self.name(), self.pod_hash, self.revision, index),
            None => format!("{}-{}-{}", self.name(), self.pod_hash, self.revision),
        }
    }

    /// A step analysis: start the run, then wait for its verdict.
    fn analysis_step(&mut self, index: usize, analysis: &RolloutAnalysis) -> bool {
        let base = self.analysis_run_name(Some(index));
        let current = self.status.canary.current_step_analysis_run_status.clone();
        if current.as_ref().is_some_and(|c| !is_run_named(&c.name, &base)) {
            self.terminate_step_analysis();
        }
        match find_run(self.world.analysis_runs, &base, self.status.canary.current_step_analysis_run_status.as_ref()) {
            RunLookup::Observed(run) => {
                self.status.canary.current_step_analysis_run_status =
                    Some(observe_analysis_run(self.out, "Step", current.as_ref(), &run));
                self.analysis_verdict(run.phase, &run.name, &run.message)
            }
            RunLookup::Created => false,
            RunLookup::Free(name) => {
                self.start_analysis(name.clone(), analysis.clone(), Some(index));
                self.status.canary.current_step_analysis_run_status =
                    Some(RolloutAnalysisRunStatus { name, status: "Pending".to_string(), message: String::new() });
                false
            }
        }
    }

    /// Acts on an analysis verdict; returns whether the analysis let the rollout go on.
    fn analysis_verdict(&mut self, phase: AnalysisPhase, name: &str, message: &str) -> bool {
        match phase {
            AnalysisPhase::Successful => true,
            AnalysisPhase::Failed | AnalysisPhase::Error => {
                let detail = if message.is_empty() {
                    format!("AnalysisRun {name} {}", phase.as_str().to_lowercase())
                } else {
                    message.to_string()
                };
                self.abort(&format!("Rollout aborted update to revision {}: {detail}", self.revision));
                false
            }
            AnalysisPhase::Inconclusive => {
                if self.status.controller_pause && self.status.pause_conditions.is_empty() {
                    return true; // promoted past an inconclusive run
                }
                self.pause(PAUSE_REASON_INCONCLUSIVE);
                false
            }
            AnalysisPhase::Pending | AnalysisPhase::Running => false,
        }
    }

    fn start_analysis(&mut self, name: String, analysis: RolloutAnalysis, step: Option<usize>) {
        let stable_hash = self.status.stable_rs.clone().unwrap_or_default();
        let request = analysis_run_request(self.world.rollout, &stable_hash, &self.pod_hash, name, analysis, step);
        self.out.actions.push(Action::CreateAnalysisRun(request));
    }

    fn terminate_step_analysis(&mut self) {
        let run = self.status.canary.current_step_analysis_run_status.take();
        self.terminate(run);
    }

    /// Stops a run that is still measuring; finished runs are left as they are.
    fn terminate(&mut self, run: Option<RolloutAnalysisRunStatus>) {
        if let Some(run) = run.filter(|r| matches!(r.status.as_str(), "Pending" | "Running")) {
            self.out.actions.push(Action::TerminateAnalysisRun { name: run.name });
        }
    }

    fn reconcile_background_analysis(&mut self) {
        let Some(background) = &self.canary.analysis else { return };
        let started = self.step_index() as i32 >= background.starting_step.unwrap_or(0);
        let wanted = self.has_distinct_stable() && !self.status.abort && started;
        let base = self.analysis_run_name(None);
        let current = self.status.canary.current_background_analysis_run_status.clone();
        if current.as_ref().is_some_and(|c| !is_run_named(&c.name, &base) || !wanted) {
            self.status.canary.current_background_analysis_run_status = None;
            self.terminate(current.clone());
        }
        if !wanted {
            return;
        }
        match find_run(
            self.world.analysis_runs,
            &base,
            self.status.canary.current_background_analysis_run_status.as_ref(),
        ) {
            RunLookup::Free(name) => {
                let analysis = RolloutAnalysis {
                    templates: background.templates.clone(),
                    args: background.args.clone(),
                    dry_run: background.dry_run.clone(),
                    measurement_retention: background.measurement_retention.clone(),
                    analysis_run_metadata: background.analysis_run_metadata.clone(),
                };
                self.start_analysis(name.clone(), analysis, None);
                self.status.canary.current_background_analysis_run_status =
                    Some(RolloutAnalysisRunStatus { name, status: "Pending".to_string(), message: String::new() });
            }
            RunLookup::Created => {}
            RunLookup::Observed(run) => {
                // Seen inconclusive before and the pause lifted since: a person promoted past it.
                let acknowledged = run.phase == AnalysisPhase::Inconclusive
                    && current.as_ref().is_some_and(|c| c.name == run.name && c.status == run.phase.as_str())
                    && !self.status.pause_conditions.iter().any(|c| c.reason == PAUSE_REASON_INCONCLUSIVE);
                self.status.canary.current_background_analysis_run_status =
                    Some(observe_analysis_run(self.out, "Background", current.as_ref(), &run));
                if !acknowledged {
                    self.analysis_verdict(run.phase, &run.name, &run.message);
                }
            }
        }
    }

    /// Stops the update: all traffic back to stable, the canary scaled down later.
    fn abort(&mut self, message: &str) {
        if self.status.abort {
            return;
        }
        self.status.abort = true;
        self.status.aborted_at = Some(self.now);
        self.status.current_step_index = Some(0);
        self.status.pause_conditions.clear();
        self.status.controller_pause = false;
        set_condition(self.status, CONDITION_PROGRESSING, "False", REASON_ABORTED, message, self.now);
        self.out.events.push(Event::warning(REASON_ABORTED, message));
        self.terminate_step_analysis();
        self.out.requeue(0);
    }

    /// Past the last step, once the new ReplicaSet carries everything, it becomes stable.
    fn promote_if_done(&mut self) {
        if self.status.abort || self.step_index() < self.steps.len() {
            return;
        }
        let Some(new_rs) = &self.new_rs else { return };
        let full = new_rs.replicas == self.replicas && new_rs.available >= self.replicas;
        let traffic_moved =
            !self.routed || !self.has_distinct_stable() || self.served_canary_weight() == Some(self.max_weight);
        if !full || !traffic_moved || self.status.stable_rs.as_deref() == Some(&self.pod_hash) {
            return;
        }
        let first = self.status.stable_rs.is_none();
        self.status.stable_rs = Some(self.pod_hash.clone());
        self.status.promote_full = false;
        self.status.pause_conditions.clear();
        self.status.controller_pause = false;
        let run = self.status.canary.current_background_analysis_run_status.take();
        self.terminate(run);
        if !first {
            self.out.events.push(Event::normal(
                "RolloutCompleted",
                format!(
                    "Rollout completed update to revision {} ({}): Completed all {} canary steps",
                    self.revision,
                    self.pod_hash,
                    self.steps.len()
                ),
            ));
        }
        self.out.requeue(0);
    }

    /// ReplicaSets that are neither new nor stable go to zero: at once for a basic canary (as
    /// availability allows), after `scaleDownDelaySeconds` with traffic routing.
    fn scale_down_others(&mut self, max_unavailable: i32) {
        let promoted_stable = self.status.stable_rs.clone();
        let others: Vec<ReplicaSetState> = self
            .world
            .replica_sets
            .iter()
            .filter(|rs| rs.hash != self.pod_hash && Some(&rs.hash) != promoted_stable.as_ref())
            .cloned()
            .collect();
        let mut up: Vec<&ReplicaSetState> = others.iter().filter(|rs| rs.replicas > 0).collect();
        up.sort_by_key(|rs| std::cmp::Reverse(rs.revision));
        if self.routed {
            let delay = i64::from(self.canary.scale_down_delay_seconds()) * 1000;
            let limit = self.canary.scale_down_delay_revision_limit.map(|l| l.max(0) as usize);
            for (position, rs) in up.iter().enumerate() {
                let over_limit = limit.is_some_and(|l| position >= l);
                match rs.scale_down_deadline {
                    _ if over_limit || delay == 0 => self.scale_to(rs, 0),
                    Some(deadline) if self.now >= deadline => {
                        self.scale_to(rs, 0);
                        self.out.actions.push(Action::SetScaleDownDeadline { name: rs.name.clone(), deadline: None });
                    }
                    Some(deadline) => self.out.requeue(deadline.since(self.now)),
                    None => {
                        let deadline = self.now.plus_millis(delay);
                        self.out
                            .actions
                            .push(Action::SetScaleDownDeadline { name: rs.name.clone(), deadline: Some(deadline) });
                        self.out.requeue(delay);
                    }
                }
            }
        } else {
            let total_available: i32 = self.world.replica_sets.iter().map(|rs| rs.available).sum();
            let mut budget = (total_available - (self.replicas - max_unavailable)).max(0);
            up.reverse(); // oldest first
            for rs in up {
                let unavailable = (rs.replicas - rs.available).max(0);
                let from_budget = budget.min(rs.replicas - unavailable);
                budget -= from_budget;
                let remove = unavailable + from_budget;
                if remove > 0 {
                    self.scale_to(rs, rs.replicas - remove);
                }
            }
        }
    }

    fn update_counts(&mut self) {
        let all = self.world.replica_sets;
        self.status.replicas = all.iter().map(|rs| rs.current).sum();
        // What a HorizontalPodAutoscaler reads through the scale subresource, as Argo sets it.
        self.status.hpa_replicas = Some(self.status.replicas);
        self.status.ready_replicas = all.iter().map(|rs| rs.ready).sum();
        self.status.available_replicas = all.iter().map(|rs| rs.available).sum();
        self.status.updated_replicas = self.new_rs.as_ref().map_or(0, |rs| rs.current);
        let selector = &self.world.rollout.spec.selector;
        self.status.selector = selector
            .as_ref()
            .map(|s| s.match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
    }

    /// `progressDeadlineSeconds` for the canary: paused time and a running step analysis do
    /// not count; past it with `progressDeadlineAbort`, the update aborts.
    fn check_progress_deadline(&mut self, paused: bool) {
        let waiting = paused
            || self.status.abort
            || !self.status.pause_conditions.is_empty()
            || self
                .status
                .canary
                .current_step_analysis_run_status
                .as_ref()
                .is_some_and(|r| r.status == "Running" || r.status == "Pending");
        let done = self.status.stable_rs.as_deref() == Some(&self.pod_hash)
            && self.new_rs.as_ref().is_some_and(|rs| rs.available >= self.replicas);
        let progress = Progress { new_rs: self.new_rs.as_ref(), done, waiting };
        if let Some(message) = check_progress_deadline(self.world, self.status, self.out, progress) {
            self.abort(&format!("Rollout aborted update to revision {}: {message}", self.revision));
        }
    }
}

/// Whether `name` is `base` or one of its collision-counted names (`base.1`, `base.2`, ...).
pub(crate) fn is_run_named(name: &str, base: &str) -> bool {
    name.strip_prefix(base).is_some_and(|rest| {
        rest.is_empty()
            || rest.strip_prefix('.').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// `valueFrom.fieldRef` for analysis arguments: `metadata.name`, `metadata.namespace`,
/// `metadata.labels['x']`, `metadata.annotations['x']`.
fn field_ref_value(rollout: &Rollout, path: &str) -> String {
    let meta = &rollout.metadata;
    let quoted = |prefix: &str| path.strip_prefix(prefix).and_then(|rest| rest.strip_suffix("']")).map(str::to_string);
    match path {
        "metadata.name" => meta.name().to_string(),
        "metadata.namespace" => meta.namespace().to_string(),
        _ => quoted("metadata.labels['")
            .and_then(|k| meta.labels.get(&k).cloned())
            .or_else(|| quoted("metadata.annotations['").and_then(|k| meta.annotations.get(&k).cloned()))
            .unwrap_or_default(),
    }
}

// ----- shared with the blue-green reconcile (`bluegreen.rs`) -----

/// The ReplicaSet of the current template if one exists, and the revision it has (or will
/// have): its own if it is the newest, else one past the newest.
pub(crate) fn current_revision<'w>(world: &World<'w>, pod_hash: &str) -> (Option<&'w ReplicaSetState>, i64) {
    let max_revision = world.replica_sets.iter().map(|rs| rs.revision).max().unwrap_or(0);
    let existing = world.replica_sets.iter().find(|rs| rs.hash == pod_hash);
    let revision = match existing {
        Some(rs) if rs.revision == max_revision => rs.revision,
        _ => max_revision + 1,
    };
    (existing, revision)
}

/// Asks for the current template's ReplicaSet, at 0 replicas, and returns it as it will be.
pub(crate) fn create_replica_set(world: &World, pod_hash: &str, revision: i64, out: &mut Output) -> ReplicaSetState {
    let name = format!("{}-{pod_hash}", world.rollout.metadata.name());
    let template = world.rollout.spec.template.clone();
    out.actions.push(Action::CreateReplicaSet(NewReplicaSet {
        name: name.clone(),
        hash: pod_hash.to_string(),
        revision,
        template: template.clone(),
        replicas: 0,
        avoid: crate::antiaffinity::avoided(world.rollout, pod_hash),
    }));
    out.events.push(Event::normal("NewReplicaSetCreated", format!("Created ReplicaSet {name} (revision {revision})")));
    ReplicaSetState {
        name,
        hash: pod_hash.to_string(),
        revision,
        template,
        replicas: 0,
        current: 0,
        ready: 0,
        available: 0,
        created: world.now,
        scale_down_deadline: None,
        ephemeral: None,
        avoids: None,
        pods: Vec::new(),
    }
}

/// Scales a ReplicaSet with Argo's event; returns whether its count changes.
pub(crate) fn scale_replica_set(out: &mut Output, rs: &ReplicaSetState, to: i32) -> bool {
    if rs.replicas == to {
        return false;
    }
    let direction = if to > rs.replicas { "up" } else { "down" };
    out.events.push(Event::normal(
        "ScalingReplicaSet",
        format!("Scaled {direction} ReplicaSet {} (revision {}) from {} to {to}", rs.name, rs.revision, rs.replicas),
    ));
    out.actions.push(Action::ScaleReplicaSet { name: rs.name.clone(), from: rs.replicas, to });
    true
}

/// What [`find_run`] found.
pub(crate) enum RunLookup {
    /// The run measuring, as last observed.
    Observed(AnalysisRunState),
    /// The status names a run not yet observed: its creation is under way.
    Created,
    /// No run measures yet; this name is free for a new one.
    Free(String),
}

/// The run that measures for `base` (a step's, the background analysis's or a promotion
/// analysis's run name). The one the status names (`current`) is the current one. Without
/// one, a new run is due: it takes the first of `base`, `base.1`, `base.2`, ... that no run of
/// this rollout holds, as Argo Rollouts' collision counter names it, so a retry after a failed
/// or aborted run measures afresh instead of reading the old verdict. A run by one of those
/// names that is still measuring, and was not asked to stop, is taken up instead (its start
/// was decided but not recorded in the status).
pub(crate) fn find_run(runs: &[AnalysisRunState], base: &str, current: Option<&RolloutAnalysisRunStatus>) -> RunLookup {
    if let Some(current) = current {
        return match runs.iter().find(|run| run.name == current.name) {
            Some(run) => RunLookup::Observed(run.clone()),
            None => RunLookup::Created,
        };
    }
    let names = std::iter::once(base.to_string()).chain((1..).map(|n| format!("{base}.{n}")));
    for name in names {
        match runs.iter().find(|run| run.name == name) {
            None => return RunLookup::Free(name),
            Some(run) if run.phase <= AnalysisPhase::Running && !run.terminating => {
                return RunLookup::Observed(run.clone());
            }
            Some(_) => {}
        }
    }
    unreachable!("the names go on for ever")
}

/// A run's phase as the Rollout's status records it, with an event when it changed since
/// `previous`, in Argo's words: reason `AnalysisRun<Phase>` (a warning when Failed or Error),
/// "Step Analysis Run 'NAME' Status New: 'Running' Previous: 'Pending'".
pub(crate) fn observe_analysis_run(
    out: &mut Output,
    kind: &str,
    previous: Option<&RolloutAnalysisRunStatus>,
    run: &AnalysisRunState,
) -> RolloutAnalysisRunStatus {
    let phase = run.phase.as_str();
    // What the status recorded of this same run: a new run has no previous phase.
    let previous = previous.filter(|p| p.name == run.name);
    if previous.is_none_or(|p| p.status != phase) {
        let reason = format!("AnalysisRun{phase}");
        let before = previous.map_or("NoPreviousStatus", |p| p.status.as_str());
        let message = format!("{kind} Analysis Run '{}' Status New: '{phase}' Previous: '{before}'", run.name);
        out.events.push(match run.phase {
            AnalysisPhase::Failed | AnalysisPhase::Error => Event::warning(&reason, message),
            _ => Event::normal(&reason, message),
        });
    }
    RolloutAnalysisRunStatus { name: run.name.clone(), status: phase.to_string(), message: run.message.clone() }
}

/// An AnalysisRun to start, its arguments resolved against the Rollout and its stable and
/// current pod-template hashes.
pub(crate) fn analysis_run_request(
    rollout: &Rollout,
    stable_hash: &str,
    pod_hash: &str,
    name: String,
    analysis: RolloutAnalysis,
    step: Option<usize>,
) -> AnalysisRunRequest {
    let args = analysis
        .args
        .iter()
        .map(|arg| {
            let value = match arg.value_from.as_ref().and_then(|v| v.pod_template_hash_value) {
                Some(serin_model::rollout::PodTemplateHashValue::Stable) => stable_hash.to_string(),
                Some(serin_model::rollout::PodTemplateHashValue::Latest) => pod_hash.to_string(),
                None => match arg.value_from.as_ref().and_then(|v| v.field_ref.as_ref()) {
                    Some(field) => field_ref_value(rollout, &field.field_path),
                    None => arg.value.clone().unwrap_or_default(),
                },
            };
            (arg.name.clone(), value)
        })
        .collect();
    AnalysisRunRequest { name, analysis, args, step }
}

/// `spec.restartAt`: replaces pods created before it, max(maxUnavailable, 1) at a time,
/// only while every pod is available.
pub(crate) fn restart(world: &World, status: &mut RolloutStatus, out: &mut Output, max_unavailable: i32) {
    let Some(restart_at) = world.rollout.spec.restart_at else { return };
    if status.restarted_at == Some(restart_at) || world.now < restart_at {
        if world.now < restart_at {
            out.requeue(restart_at.since(world.now));
        }
        return;
    }
    let pods: Vec<_> = world.replica_sets.iter().filter(|rs| rs.replicas > 0).flat_map(|rs| rs.pods.iter()).collect();
    let all_available = world.replica_sets.iter().all(|rs| rs.available >= rs.replicas);
    let old: Vec<_> = pods.iter().filter(|p| p.created < restart_at).collect();
    if old.is_empty() {
        status.restarted_at = Some(restart_at);
        out.events.push(Event::normal("RolloutRestarted", "Rollout restarted"));
        return;
    }
    if all_available {
        for pod in old.iter().take(max_unavailable.max(1) as usize) {
            out.actions.push(Action::DeletePod { name: pod.name.clone() });
        }
    }
    out.requeue(1000);
}

/// Deletes the oldest scaled-down ReplicaSets beyond `revisionHistoryLimit` (never the
/// current or stable one, nor one this decision scales).
pub(crate) fn clean_up_history(world: &World, stable: Option<&str>, pod_hash: &str, out: &mut Output) {
    let limit = world.rollout.spec.revision_history_limit().max(0) as usize;
    let mut idle: Vec<&ReplicaSetState> = world
        .replica_sets
        .iter()
        .filter(|rs| rs.hash != pod_hash && Some(rs.hash.as_str()) != stable)
        .filter(|rs| rs.replicas == 0 && rs.current == 0)
        .filter(|rs| !out.actions.iter().any(|a| matches!(a, Action::ScaleReplicaSet { name, .. } if *name == rs.name)))
        .collect();
    idle.sort_by_key(|rs| rs.revision);
    let excess = idle.len().saturating_sub(limit);
    for rs in idle.into_iter().take(excess) {
        out.actions.push(Action::DeleteReplicaSet { name: rs.name.clone() });
    }
}

/// Deletes finished AnalysisRuns beyond `analysis.successfulRunHistoryLimit` and
/// `unsuccessfulRunHistoryLimit` (5 of each by default, as Argo Rollouts keeps), oldest
/// first; the runs the status points at (`current`) stay.
pub(crate) fn clean_up_analysis_runs(world: &World, current: &[&RolloutAnalysisRunStatus], out: &mut Output) {
    let limits = world.rollout.spec.analysis.clone().unwrap_or_default();
    let current: Vec<&str> = current.iter().map(|run| run.name.as_str()).collect();
    let mut finished: Vec<&AnalysisRunState> = world
        .analysis_runs
        .iter()
        .filter(|run| run.phase >= AnalysisPhase::Successful && !current.contains(&run.name.as_str()))
        .collect();
    finished.sort_by_key(|run| run.created);
    let mut deleted = Vec::new();
    for (successful, limit) in
        [(true, limits.successful_run_history_limit), (false, limits.unsuccessful_run_history_limit)]
    {
        let runs: Vec<&&AnalysisRunState> =
            finished.iter().filter(|run| (run.phase == AnalysisPhase::Successful) == successful).collect();
        let excess = runs.len().saturating_sub(limit.unwrap_or(5).max(0) as usize);
        deleted.extend(runs.into_iter().take(excess).map(|run| run.name.clone()));
    }
    out.actions.extend(deleted.into_iter().map(|name| Action::DeleteAnalysisRun { name }));
}

/// Argo's `Paused` condition: True while `spec.paused` or a pause condition holds the
/// rollout, False once it resumes (absent until the first pause); left as it is while
/// aborted. Scripts wait on it (`serin wait --for=condition=Paused rollout/NAME`, as
/// `kubectl wait` on Argo's Rollouts).
pub(crate) fn update_paused_condition(status: &mut RolloutStatus, paused: bool, now: Time) {
    if status.abort {
        return;
    }
    let holding = paused || !status.pause_conditions.is_empty();
    let shown = status.conditions.iter().any(|c| c.kind == CONDITION_PAUSED && c.status == "True");
    if holding != shown {
        let value = if holding { "True" } else { "False" };
        set_condition(status, CONDITION_PAUSED, value, "RolloutPaused", "Rollout is paused", now);
    }
}

/// Where an update stands, for [`check_progress_deadline`].
pub(crate) struct Progress<'a> {
    pub(crate) new_rs: Option<&'a ReplicaSetState>,
    /// The update is complete.
    pub(crate) done: bool,
    /// Paused, aborted or measuring: the time does not count against the deadline.
    pub(crate) waiting: bool,
}

/// `progressDeadlineSeconds`: an update that makes no progress for that long is Degraded.
/// Returns the message when the deadline passed and `progressDeadlineAbort` asks for an
/// abort, which the caller carries out.
pub(crate) fn check_progress_deadline(
    world: &World,
    status: &mut RolloutStatus,
    out: &mut Output,
    progress: Progress,
) -> Option<String> {
    let previous = world.rollout.status.clone().unwrap_or_default();
    let progressed = previous.current_step_index != status.current_step_index
        || previous.available_replicas != status.available_replicas
        || previous.updated_replicas != status.updated_replicas
        || previous.replicas != status.replicas
        || out.actions.iter().any(|a| matches!(a, Action::ScaleReplicaSet { .. } | Action::CreateReplicaSet(_)));
    let now = world.now;
    let deadline_millis = i64::from(world.rollout.spec.progress_deadline_seconds()) * 1000;
    let condition = status.conditions.iter().find(|c| c.kind == CONDITION_PROGRESSING).cloned();
    if progress.done {
        let completed = "Rollout has completed";
        set_condition(status, CONDITION_PROGRESSING, "True", "NewReplicaSetAvailable", completed, now);
        return None;
    }
    if status.abort {
        return None;
    }
    let name = progress.new_rs.map(|rs| rs.name.clone()).unwrap_or_default();
    if progressed || progress.waiting || condition.is_none() {
        let reason = if progress.waiting { "RolloutPaused" } else { "ReplicaSetUpdated" };
        let message = format!("ReplicaSet \"{name}\" is progressing.");
        set_condition(status, CONDITION_PROGRESSING, "True", reason, &message, now);
        if let Some(c) = status.conditions.iter_mut().find(|c| c.kind == CONDITION_PROGRESSING) {
            c.last_update_time = Some(now);
        }
        out.requeue(deadline_millis);
        return None;
    }
    let since = condition.and_then(|c| c.last_update_time)?;
    let deadline = since.plus_millis(deadline_millis);
    if now < deadline {
        out.requeue(deadline.since(now));
        return None;
    }
    let message = format!("ReplicaSet \"{name}\" has timed out progressing.");
    if world.rollout.spec.progress_deadline_abort == Some(true) {
        return Some(message);
    }
    set_condition(status, CONDITION_PROGRESSING, "False", REASON_DEADLINE, &message, now);
    None
}

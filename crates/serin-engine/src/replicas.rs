//! Replica math for canary rollouts: how many pods the canary (new) and stable ReplicaSets
//! should run at a given step, and whether a step has reached those counts.
//!
//! serin promises to scale exactly as Argo Rollouts does, so this module reproduces the
//! arithmetic of Argo's `utils/replicaset/canary.go` (basic replica-weighted canary, canary
//! with traffic routing, step completion, the weights an abort with dynamicStableScale walks
//! back through) and of `resolveFenceposts` for maxSurge / maxUnavailable. Argo's own test
//! cases for it are restated in `tests/argo_replica_parity.rs`. It is plain data in, numbers out: the engine decides which weight and which
//! `setCanaryScale` are in effect (helpers for that are at the end of the public API) and
//! hands the observed ReplicaSet counts in; nothing here reads a clock or does I/O.
//!
//! Argo computes with `int32` and `float64`; here every intermediate is an `i64` (or `i128`
//! where two products are compared), so counts up to `i32::MAX / 100` cannot overflow and
//! rounding is exact. Traffic weights are fractions of `max_weight` (Argo's
//! `maxTrafficWeight`, 100 unless a router allows more) rather than of a hard-coded 100.

use serin_model::IntOrString;

/// What the engine knows of one ReplicaSet for scaling: its desired (spec) replicas and how
/// many of its pods are available.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReplicaSetCounts {
    pub spec: i32,
    pub available: i32,
}

impl ReplicaSetCounts {
    pub const fn new(spec: i32, available: i32) -> Self {
        ReplicaSetCounts { spec, available }
    }
}

/// Argo's default for an unset `spec.replicas`.
pub const DEFAULT_REPLICAS: i32 = 1;

/// The traffic weight that means "everything", unless `maxTrafficWeight` says otherwise.
pub const DEFAULT_MAX_WEIGHT: i32 = 100;

/// `spec.replicas`, or 1 when the manifest leaves it out (`GetReplicasOrDefault`).
pub fn replicas_or_default(replicas: Option<i32>) -> i32 {
    replicas.unwrap_or(DEFAULT_REPLICAS)
}

/// maxSurge / maxUnavailable resolved against the replica count: a percentage of surge rounds
/// up, of unavailable rounds down, and when both come out 0 unavailable becomes 1 so a rollout
/// can always make progress. Returns `(max_surge, max_unavailable)`.
///
/// This is the raw pair, as Argo's `resolveFenceposts` returns it; the basic canary further
/// caps maxUnavailable at the replica count (see [`basic_canary_counts`]).
pub fn resolve_fenceposts(
    max_surge: &IntOrString,
    max_unavailable: &IntOrString,
    replicas: i32,
) -> Result<(i32, i32), String> {
    let total = i64::from(replicas);
    let surge = fencepost("maxSurge", max_surge, total, true)?;
    let mut unavailable = fencepost("maxUnavailable", max_unavailable, total, false)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

fn fencepost(field: &str, value: &IntOrString, total: i64, round_up: bool) -> Result<i32, String> {
    let scaled = value.scaled(total, round_up).map_err(|e| format!("{field}: {e}"))?;
    if scaled < 0 {
        return Err(format!("{field}: {value} must not be negative"));
    }
    i32::try_from(scaled).map_err(|_| format!("{field}: {value} resolves to {scaled}, which is too large"))
}

/// Input of the basic canary (no traffic routing), where the traffic split is the pod split.
#[derive(Clone, Copy, Debug)]
pub struct BasicCanary<'a> {
    /// `spec.replicas` of the Rollout.
    pub replicas: i32,
    /// Already resolved with [`resolve_fenceposts`].
    pub max_surge: i32,
    /// Already resolved with [`resolve_fenceposts`]; capped at `replicas` here.
    pub max_unavailable: i32,
    /// The desired canary weight (see [`canary_replicas_or_weight`]).
    pub weight: i32,
    /// The weight that means 100%; a non-positive value falls back to 100.
    pub max_weight: i32,
    /// The ReplicaSet of the current pod template, if it exists yet.
    pub new_rs: Option<ReplicaSetCounts>,
    /// The stable ReplicaSet, if the Rollout has one.
    pub stable_rs: Option<ReplicaSetCounts>,
    /// The new ReplicaSet is the stable one (no canary in progress). `stable_rs` is then
    /// ignored and the new ReplicaSet plays both parts, as in Argo.
    pub new_is_stable: bool,
    /// Older ReplicaSets that are neither new nor stable; they drain before anything else
    /// scales down.
    pub others: &'a [ReplicaSetCounts],
}

/// Replica counts for a basic canary: `(new_replicas, stable_replicas)`, as Argo's
/// `CalculateReplicaCountsForBasicCanary`.
///
/// The target split is the closest replica ratio to the weight (using one surge pod if that
/// gets closer). Scaling up never takes the total spec count above `replicas + max_surge`, the
/// stable ReplicaSet first. Scaling down waits for older ReplicaSets to drain, and then removes
/// pods only as far as `max_unavailable` allows, counting the shrinking side's pods as available
/// (so crash-looping pods cannot block the rollout, as in Argo). When there is no distinct
/// stable ReplicaSet, the new one is aimed at all replicas and the stable count is 0.
pub fn basic_canary_counts(input: &BasicCanary) -> (i32, i32) {
    let replicas = i64::from(input.replicas);
    let max_surge = i64::from(input.max_surge);
    let max_unavailable = if input.replicas <= 0 { 0 } else { i64::from(input.max_unavailable).min(replicas) };
    let max_weight = effective_max_weight(input.max_weight);

    let new_rs = input.new_rs.map(Counts::from);
    // The "stable" ReplicaSet as Argo sees it for availability: the new one when they coincide.
    let (stable_rs, stable_is_distinct) = match (input.new_is_stable, new_rs) {
        (true, Some(new)) => (Some(new), false),
        _ => {
            let stable = input.stable_rs.map(Counts::from);
            (stable, stable.is_some())
        }
    };

    let (mut desired_new, mut desired_stable) =
        approximate_split(replicas, i64::from(input.weight), max_weight, max_surge);
    if !stable_is_distinct {
        desired_new = replicas;
        desired_stable = 0;
    }

    let mut new_count = new_rs.map_or(0, |rs| rs.spec);
    let mut stable_count = match stable_rs {
        Some(rs) if stable_is_distinct => rs.spec,
        _ => 0,
    };

    let max_total = replicas + max_surge;
    let others_spec: i64 = input.others.iter().map(|rs| i64::from(rs.spec)).sum();
    let current_total =
        others_spec + new_rs.map_or(0, |rs| rs.spec) + if stable_is_distinct { stable_count } else { 0 };
    let mut scale_up_budget = max_total - current_total;

    // Scale up: the stable ReplicaSet first, then the new one, within the surge budget.
    if let Some(stable) = stable_rs.filter(|_| stable_is_distinct)
        && stable.spec < desired_stable
        && scale_up_budget > 0
    {
        let missing = desired_stable - stable.spec;
        if scale_up_budget < missing {
            stable_count = stable.spec + scale_up_budget;
            scale_up_budget = 0;
        } else {
            stable_count = desired_stable;
            scale_up_budget -= missing;
        }
    }
    if let Some(new) = new_rs
        && new.spec < desired_new
        && scale_up_budget > 0
    {
        new_count = (new.spec + scale_up_budget).min(desired_new);
    }

    if others_spec > 0 {
        // Older ReplicaSets drain before the new or stable one scales down.
        return finish_basic(new_count, stable_count, stable_is_distinct);
    }

    // Scale down, keeping at least `min_available` pods available.
    let min_available = replicas - max_unavailable;
    // When the canary grows, the stable's availability may be ignored (it is the one to shrink,
    // even if its pods crash); when the canary shrinks (e.g. abort), the canary's may be.
    let increasing = new_rs.is_none_or(|new| desired_new >= new.spec);
    let counted = counted_for_scale_down(new_rs, !increasing) + counted_for_scale_down(stable_rs, increasing);
    if counted <= min_available {
        return finish_basic(new_count, stable_count, stable_is_distinct);
    }
    let scale_down_budget = counted - min_available;

    if !increasing {
        new_count = shrink_toward(new_rs, desired_new, scale_down_budget, new_count);
        (new_count, stable_count) =
            keep_within_limits(new_rs, stable_rs, new_count, stable_count, max_total, min_available);
    } else if stable_is_distinct {
        stable_count = shrink_toward(stable_rs, desired_stable, scale_down_budget, stable_count);
        (stable_count, new_count) =
            keep_within_limits(stable_rs, new_rs, stable_count, new_count, max_total, min_available);
    }
    finish_basic(new_count, stable_count, stable_is_distinct)
}

/// A ReplicaSet's counts widened for arithmetic.
#[derive(Clone, Copy, Debug)]
struct Counts {
    spec: i64,
    available: i64,
}

impl From<ReplicaSetCounts> for Counts {
    fn from(rs: ReplicaSetCounts) -> Self {
        Counts { spec: i64::from(rs.spec), available: i64::from(rs.available) }
    }
}

fn finish_basic(new_count: i64, stable_count: i64, stable_is_distinct: bool) -> (i32, i32) {
    // Without a distinct stable ReplicaSet Argo's second number is meaningless (and can even be
    // negative when the new ReplicaSet stands in for it); report 0.
    let stable = if stable_is_distinct { stable_count } else { 0 };
    (to_replicas(new_count), to_replicas(stable))
}

/// How many of a ReplicaSet's pods may be counted on while planning a scale-down
/// (`GetReplicasForScaleDown`): the spec when it is below what is available (the surplus is
/// about to go) or when availability may be ignored, else the available pods.
fn counted_for_scale_down(rs: Option<Counts>, ignore_availability: bool) -> i64 {
    match rs {
        None => 0,
        Some(rs) if rs.spec < rs.available || ignore_availability => rs.spec,
        Some(rs) => rs.available,
    }
}

/// Shrinks a ReplicaSet by up to `budget`, but not below `desired`
/// (`calculateScaleDownReplicaCount`); leaves `planned` alone if it is not above `desired`.
fn shrink_toward(rs: Option<Counts>, desired: i64, budget: i64, planned: i64) -> i64 {
    match rs {
        Some(rs) if rs.spec > desired => desired.max(rs.spec - budget),
        _ => planned,
    }
}

/// After shrinking `drained` (whose availability was ignored), trims `adjusted` so the pair fits
/// in `max_total`, gives back to `adjusted` whatever availability that trim cost below
/// `min_available`, and finally trims `drained` if the pair is still too big
/// (`adjustReplicaWithinLimits`). Returns `(drained, adjusted)`.
fn keep_within_limits(
    drained_rs: Option<Counts>,
    adjusted_rs: Option<Counts>,
    mut drained: i64,
    mut adjusted: i64,
    max_total: i64,
    min_available: i64,
) -> (i64, i64) {
    let mut over_limit = (adjusted + drained - max_total).max(0);
    let mut available = drained_rs.map_or(0, |rs| rs.available.min(drained));
    if let Some(adjusted_rs) = adjusted_rs {
        adjusted -= over_limit;
        available += adjusted_rs.available.min(adjusted);
        let availability_lost = (adjusted_rs.available - adjusted).max(0);
        let still_needed = (min_available - available).max(0);
        adjusted += availability_lost.min(still_needed);
        over_limit = (adjusted + drained - max_total).max(0);
        drained -= over_limit;
    }
    (drained, adjusted)
}

/// The canary/stable split that best approximates `weight` of `max_weight` with `replicas`
/// pods, or with one surge pod more when `max_surge` allows it and that is closer
/// (`approximateWeightedCanaryStableReplicaCounts`): the target the basic canary scales
/// towards. Returns `(canary, stable)`.
pub fn approximate_weighted_counts(replicas: i32, weight: i32, max_weight: i32, max_surge: i32) -> (i32, i32) {
    let (canary, stable) = approximate_split(
        i64::from(replicas),
        i64::from(weight),
        effective_max_weight(max_weight),
        i64::from(max_surge),
    );
    (to_replicas(canary), to_replicas(stable))
}

/// The canary/stable split that best approximates `weight` with `replicas` pods, or with one
/// surge pod more when that is allowed and closer (`approximateWeightedCanaryStableReplicaCounts`).
/// For a weight strictly between 0 and `max_weight`, neither side is rounded to 0 unless there
/// is a single replica and no surge. Returns `(canary, stable)`.
fn approximate_split(replicas: i64, weight: i64, max_weight: i64, max_surge: i64) -> (i64, i64) {
    if replicas <= 0 {
        return (0, 0);
    }
    let exact = replicas * weight;
    let ceil = div_ceil(exact, max_weight);
    let floor = exact.div_euclid(max_weight);
    // The weighted count lies exactly halfway between two integers.
    let halfway = |total: i64| 2 * (total * weight).rem_euclid(max_weight) == max_weight;
    let zero_allowed = weight == max_weight || weight == 0 || (replicas == 1 && max_surge == 0);

    // (canary, total) candidates, in Argo's order: the first of equally close ones wins.
    let mut candidates: Vec<(i64, i64)> = Vec::with_capacity(4);
    if ceil < replicas || zero_allowed {
        candidates.push((ceil, replicas));
    }
    if !halfway(replicas) && (floor != 0 || zero_allowed) {
        candidates.push((floor, replicas));
    }
    if max_surge > 0 {
        candidates.push((ceil, replicas + 1));
        if !halfway(replicas + 1) && (floor != 0 || zero_allowed) {
            candidates.push((floor, replicas + 1));
        }
    }

    let Some(&first) = candidates.first() else {
        return (0, replicas);
    };
    let best = candidates
        .iter()
        .skip(1)
        .fold(first, |best, &candidate| if closer(candidate, best, weight, max_weight) { candidate } else { best });
    (best.0, best.1 - best.0)
}

/// Whether `a` is strictly closer to `weight` than `b`, comparing
/// |canary * max_weight / total - weight| exactly.
fn closer(a: (i64, i64), b: (i64, i64), weight: i64, max_weight: i64) -> bool {
    let distance = |(canary, total): (i64, i64)| {
        (i128::from(canary) * i128::from(max_weight) - i128::from(weight) * i128::from(total)).abs()
    };
    // distance(a) / a.total < distance(b) / b.total, with positive totals.
    distance(a) * i128::from(b.1) < distance(b) * i128::from(a.1)
}

/// The effective `setCanaryScale` of the current step (chosen by the engine, see
/// [`effective_canary_scale`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanaryScale {
    /// An absolute canary pod count.
    Replicas(i32),
    /// A canary weight that may differ from the traffic weight (and may exceed `max_weight`).
    Weight(i32),
}

/// Traffic weights last applied to the router (`status.canary.weights`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppliedWeights {
    pub canary: i32,
    pub stable: i32,
}

/// Input of a canary with traffic routing, where traffic and pods are split separately.
#[derive(Clone, Copy, Debug)]
pub struct TrafficRouted {
    /// `spec.replicas` of the Rollout.
    pub replicas: i32,
    /// The weight that means 100%; a non-positive value falls back to 100.
    pub max_weight: i32,
    /// The desired canary weight (see [`canary_replicas_or_weight`]); when aborted, 0, or with
    /// `dynamic_stable_scale` the setWeight the abort is walking back through.
    pub weight: i32,
    /// The effective `setCanaryScale`, which overrides `weight` for the canary's size.
    pub canary_scale: Option<CanaryScale>,
    /// `dynamicStableScale`: shrink the stable as traffic leaves it.
    pub dynamic_stable_scale: bool,
    /// `minPodsPerReplicaSet`: a floor for every non-zero count.
    pub min_pods_per_replica_set: Option<i32>,
    /// The Rollout is aborted (`status.abort`).
    pub aborted: bool,
    /// Weights currently applied to the router, if known; only used with dynamic stable scale.
    pub applied_weights: Option<AppliedWeights>,
}

/// Replica counts with traffic routing: `(canary_replicas, stable_replicas)`, as Argo's
/// `CalculateReplicaCountsForTrafficRoutedCanary`.
///
/// The canary gets `ceil(weight × replicas / max_weight)` pods (or the `setCanaryScale`), the
/// stable keeps all replicas unless `dynamic_stable_scale`, in which case it keeps enough for the
/// larger of its desired and its currently applied share of traffic (and, while aborting, the
/// canary keeps enough for the traffic it still receives). maxSurge and maxUnavailable play no
/// part. Counts are never negative.
pub fn traffic_routed_counts(input: &TrafficRouted) -> (i32, i32) {
    let replicas = i64::from(input.replicas);
    let max_weight = effective_max_weight(input.max_weight);
    let min_pods = input.min_pods_per_replica_set.map(i64::from);
    let pods_for = |weight: i64| weight_to_replicas(replicas, weight, max_weight);

    let (fixed_canary, weight) = match input.canary_scale {
        Some(CanaryScale::Replicas(n)) => (Some(i64::from(n)), 0),
        Some(CanaryScale::Weight(w)) => (None, i64::from(w)),
        None => (None, i64::from(input.weight)),
    };
    let mut canary = fixed_canary.unwrap_or_else(|| at_least_min_pods(pods_for(weight), min_pods, replicas));

    if !input.dynamic_stable_scale {
        return (to_replicas(canary), to_replicas(replicas));
    }

    let mut stable = pods_for(max_weight - weight);
    if let Some(applied) = input.applied_weights {
        // Keep the stable big enough for the traffic it still gets (weight going up), or grow it
        // ahead of traffic coming back (weight going down).
        stable = stable.max(pods_for(i64::from(applied.stable)));
        if input.aborted {
            // Do not shrink the canary before traffic has left it.
            canary = canary.max(pods_for(i64::from(applied.canary)));
        }
    }
    (
        to_replicas(at_least_min_pods(canary, min_pods, replicas)),
        to_replicas(at_least_min_pods(stable, min_pods, replicas)),
    )
}

/// The pods that serve `weight` of `max_weight` when all `replicas` serve everything, rounded
/// up (`trafficWeightToReplicas`); never negative.
pub fn traffic_weight_to_replicas(replicas: i32, weight: i32, max_weight: i32) -> i32 {
    to_replicas(weight_to_replicas(i64::from(replicas), i64::from(weight), effective_max_weight(max_weight)))
}

/// `ceil(weight × replicas / max_weight)`, never negative.
fn weight_to_replicas(replicas: i64, weight: i64, max_weight: i64) -> i64 {
    div_ceil(weight * replicas, max_weight).max(0)
}

/// `minPodsPerReplicaSet` applied to a count (`CheckMinPodsPerReplicaSet`): 0 stays 0, and the
/// minimum is never more than `replicas`, so a ReplicaSet is not asked for pods the Rollout
/// does not have.
fn at_least_min_pods(count: i64, min_pods: Option<i64>, replicas: i64) -> i64 {
    match min_pods {
        Some(min) if count != 0 => count.max(min.min(replicas)),
        _ => count,
    }
}

/// `replicaProgressThreshold`: how much of the canary must be available for a step to complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressThreshold {
    /// At least this percentage of the step's desired canary pods.
    Percent(i32),
    /// At least this many available canary pods, capped at the step's desired count so a
    /// threshold above it cannot hold the step forever (a serin choice).
    Pods(i32),
}

/// Which calculation decides the desired counts of a step.
#[derive(Clone, Copy, Debug)]
pub enum Scaling<'a> {
    /// No traffic routing; the ReplicaSets (and older ones) are inside the input.
    Basic(&'a BasicCanary<'a>),
    /// With traffic routing; the calculation does not look at ReplicaSets, so they come here.
    TrafficRouted { input: &'a TrafficRouted, new_rs: Option<ReplicaSetCounts>, stable_rs: Option<ReplicaSetCounts> },
}

/// Input of [`at_desired_counts`].
#[derive(Clone, Copy, Debug)]
pub struct StepCheck<'a> {
    pub scaling: Scaling<'a>,
    /// `status.replicas` of the stable ReplicaSet (the new one when it is the stable): pods that
    /// exist, available or not. The stable only has to have its pods created.
    pub stable_created: i32,
    /// `replicaProgressThreshold`; `None` requires every desired canary pod to be available.
    pub threshold: Option<ProgressThreshold>,
}

/// Whether a setWeight/setCanaryScale step is complete (`AtDesiredReplicaCountsForCanary`):
/// the new ReplicaSet's spec equals its desired count and all those pods are available, or
/// enough of its pods are available for `replicaProgressThreshold` (see
/// [`replica_progress_threshold_met`]); the stable's spec and created pods equal its desired
/// count (not checked with dynamic stable scale); and, for a basic canary, older ReplicaSets
/// have no available pods left.
pub fn at_desired_counts(check: &StepCheck) -> bool {
    let (desired_new, desired_stable) = match check.scaling {
        Scaling::Basic(input) => basic_canary_counts(input),
        Scaling::TrafficRouted { input, .. } => traffic_routed_counts(input),
    };
    let (new_rs, stable_rs) = match check.scaling {
        Scaling::Basic(input) if input.new_is_stable && input.new_rs.is_some() => (input.new_rs, input.new_rs),
        Scaling::Basic(input) => (input.new_rs, input.stable_rs),
        Scaling::TrafficRouted { new_rs, stable_rs, .. } => (new_rs, stable_rs),
    };

    if !replica_progress_threshold_met(check.threshold, new_rs, desired_new) {
        return false;
    }
    let check_stable = match check.scaling {
        Scaling::Basic(_) => true,
        Scaling::TrafficRouted { input, .. } => !input.dynamic_stable_scale,
    };
    if check_stable && !stable_rs.is_some_and(|rs| rs.spec == desired_stable && check.stable_created == desired_stable)
    {
        return false;
    }
    match check.scaling {
        // Older ReplicaSets serve traffic in a basic canary, so they must be gone; with traffic
        // routing the router keeps traffic away from them.
        Scaling::Basic(input) => input.others.iter().map(|rs| i64::from(rs.available)).sum::<i64>() == 0,
        Scaling::TrafficRouted { .. } => true,
    }
}

/// Whether enough of the new ReplicaSet's pods are available for a step that wants `desired`
/// of them (`ReplicaProgressThresholdMet`). Without a threshold (or with a negative one) the
/// ReplicaSet's spec must be `desired` and all of those pods available; a threshold looks at
/// available pods only, so a canary still shrinking towards `desired` can already meet it.
/// When nothing is desired, any percentage is met.
pub fn replica_progress_threshold_met(
    threshold: Option<ProgressThreshold>,
    rs: Option<ReplicaSetCounts>,
    desired: i32,
) -> bool {
    let Some(rs) = rs else { return false };
    let (available, wanted) = (i64::from(rs.available), i64::from(desired));
    match threshold {
        Some(ProgressThreshold::Percent(percent)) if percent >= 0 => {
            wanted == 0 || available * 100 >= i64::from(percent) * wanted
        }
        Some(ProgressThreshold::Pods(pods)) if pods >= 0 => available >= i64::from(pods).min(wanted),
        _ => rs.spec == desired && rs.available == desired,
    }
}

/// What a canary step means for scaling; the engine maps its step list onto this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalingStep {
    SetWeight(i32),
    SetCanaryScale {
        replicas: Option<i32>,
        weight: Option<i32>,
        match_traffic_weight: bool,
    },
    /// A step that sets both (Argo allows it): the weight and the canary's scale.
    SetWeightAndCanaryScale {
        set_weight: i32,
        replicas: Option<i32>,
        weight: Option<i32>,
        match_traffic_weight: bool,
    },
    /// pause, analysis, experiment, routes, plugins: no effect on scale.
    Other,
}

/// The step at `index`, or `None` with no steps or past the last one (`GetCurrentCanaryStep`).
fn current_step(steps: &[ScalingStep], index: usize) -> Option<usize> {
    (index < steps.len()).then_some(index)
}

/// The weight of the nearest `setWeight` at or before the current step: 0 when aborted or when
/// there is none, `max_weight` past the last step or without steps (`GetCurrentSetWeight`).
pub fn current_set_weight(steps: &[ScalingStep], step_index: usize, aborted: bool, max_weight: i32) -> i32 {
    if aborted {
        return 0;
    }
    let Some(current) = current_step(steps, step_index) else {
        return max_weight;
    };
    steps[..=current]
        .iter()
        .rev()
        .find_map(|step| match step {
            ScalingStep::SetWeight(weight) | ScalingStep::SetWeightAndCanaryScale { set_weight: weight, .. } => {
                Some(*weight)
            }
            _ => None,
        })
        .unwrap_or(0)
}

/// The `setCanaryScale` in effect (`UseSetCanaryScale`): the nearest one at or before the current
/// step, unless it says `matchTrafficWeight`, there is no traffic routing, or the Rollout is
/// aborted and the canary is to be scaled down (any `abortScaleDownDelaySeconds` but 0).
/// A `setCanaryScale` with neither replicas nor weight changes nothing.
pub fn effective_canary_scale(
    steps: &[ScalingStep],
    step_index: usize,
    traffic_routed: bool,
    aborted: bool,
    keep_canary_on_abort: bool,
) -> Option<CanaryScale> {
    if !traffic_routed || (aborted && !keep_canary_on_abort) {
        return None;
    }
    let current = current_step(steps, step_index)?;
    let (replicas, weight, match_traffic_weight) = steps[..=current].iter().rev().find_map(|step| match *step {
        ScalingStep::SetCanaryScale { replicas, weight, match_traffic_weight }
        | ScalingStep::SetWeightAndCanaryScale { replicas, weight, match_traffic_weight, .. } => {
            Some((replicas, weight, match_traffic_weight))
        }
        _ => None,
    })?;
    if match_traffic_weight {
        return None;
    }
    match (replicas, weight) {
        (Some(n), _) => Some(CanaryScale::Replicas(n)),
        (None, Some(w)) => Some(CanaryScale::Weight(w)),
        (None, None) => None,
    }
}

/// Where a Rollout stands, for [`canary_replicas_or_weight`].
#[derive(Clone, Copy, Debug)]
pub struct WeightContext<'a> {
    pub steps: &'a [ScalingStep],
    /// `status.currentStepIndex` (0 when unset).
    pub step_index: usize,
    pub max_weight: i32,
    /// `status.promoteFull`.
    pub promote_full: bool,
    /// A stable ReplicaSet is recorded and differs from the current pod template.
    pub has_distinct_stable: bool,
    pub aborted: bool,
    pub traffic_routed: bool,
    /// `abortScaleDownDelaySeconds` as the manifest gives it (`None` when left out).
    pub abort_scale_down_delay_seconds: Option<i32>,
    pub dynamic_stable_scale: bool,
    /// `spec.replicas` (already defaulted).
    pub replicas: i32,
    /// The ReplicaSet of the current pod template and the stable one, if they exist.
    pub new_rs: Option<ReplicaSetCounts>,
    pub stable_rs: Option<ReplicaSetCounts>,
}

impl WeightContext<'_> {
    /// `abortScaleDownDelaySeconds: 0`: an aborted canary keeps its pods.
    fn keeps_canary_on_abort(&self) -> bool {
        self.traffic_routed && self.abort_scale_down_delay_seconds == Some(0)
    }

    /// `abortScaleDownDelaySeconds` set to a delay (not left out, not 0); it only means
    /// something with traffic routing.
    fn has_explicit_abort_delay(&self) -> bool {
        self.traffic_routed && self.abort_scale_down_delay_seconds.is_some_and(|delay| delay != 0)
    }
}

/// The canary's desired size as an explicit `setCanaryScale`, or else as a weight
/// (`GetCanaryReplicasOrWeight`): full weight on `promote --full` or when there is no canary;
/// otherwise the effective `setCanaryScale`, otherwise the current `setWeight`.
/// The result feeds [`BasicCanary::weight`] or [`TrafficRouted`]'s `weight` / `canary_scale`.
pub fn canary_replicas_or_weight(context: &WeightContext) -> (Option<CanaryScale>, i32) {
    if context.promote_full || !context.has_distinct_stable {
        return (None, context.max_weight);
    }
    let scale = effective_canary_scale(
        context.steps,
        context.step_index,
        context.traffic_routed,
        context.aborted,
        context.keeps_canary_on_abort(),
    );
    match scale {
        Some(CanaryScale::Replicas(_)) => (scale, 0),
        Some(CanaryScale::Weight(w)) => (scale, w),
        None => (None, desired_canary_weight(context)),
    }
}

/// The canary weight the replica counts aim at when no `setCanaryScale` applies
/// (`GetDesiredCanaryWeight`): the current setWeight, except while an abort with
/// `dynamic_stable_scale` brings the stable back.
///
/// Such an abort does not jump the stable back to full size: it walks the setWeight steps
/// down, from the last step to the first, to the largest one whose pods are fewer than the
/// canary still needs (0 below the smallest). The canary needs the pods the stable cannot yet
/// serve (`replicas` − the stable's available pods), or the canary's own available pods when
/// those are more, so the canary is not drained faster than the stable takes over. An explicit
/// non-zero `abortScaleDownDelaySeconds` keeps the canary at full size until its deadline,
/// which only starts once the stable is complete, so there the canary's size is not counted
/// (or the weight could never fall below the smallest step).
pub fn desired_canary_weight(context: &WeightContext) -> i32 {
    let walking_back = context.aborted && context.dynamic_stable_scale;
    let (true, Some(new_rs), Some(stable_rs)) = (walking_back, context.new_rs, context.stable_rs) else {
        return current_set_weight(context.steps, context.step_index, context.aborted, context.max_weight);
    };
    let replicas = i64::from(context.replicas);
    let max_weight = effective_max_weight(context.max_weight);
    let not_served_by_stable = replicas - i64::from(stable_rs.available);
    let canary_needs = if context.has_explicit_abort_delay() {
        not_served_by_stable
    } else {
        not_served_by_stable.max(i64::from(new_rs.available))
    };
    context
        .steps
        .iter()
        .rev()
        .find_map(|step| match *step {
            ScalingStep::SetWeight(weight) | ScalingStep::SetWeightAndCanaryScale { set_weight: weight, .. }
                if weight_to_replicas(replicas, i64::from(weight), max_weight) < canary_needs =>
            {
                Some(weight)
            }
            _ => None,
        })
        .unwrap_or(0)
}

/// The canary's traffic weight while an aborted Rollout returns to its stable
/// (`calculateDesiredWeightOnAbortOrStableRollback`), given the canary weight the router
/// serves now (`None` before any was applied).
///
/// 0 at once, except with `dynamic_stable_scale` (and both ReplicaSets present), where the
/// stable was scaled down and must grow back first: the canary keeps the traffic the stable's
/// available pods cannot take yet, moves down with [`desired_canary_weight`] once the stable can
/// serve the rest, and never climbs back up when the stable's availability flaps.
pub fn abort_traffic_weight(context: &WeightContext, served_canary: Option<i32>) -> i32 {
    let (true, Some(_), Some(stable_rs)) = (context.dynamic_stable_scale, context.new_rs, context.stable_rs) else {
        return 0;
    };
    if context.replicas <= 0 {
        return 0;
    }
    let max_weight = effective_max_weight(context.max_weight);
    let desired = i64::from(desired_canary_weight(context));
    // The share the stable's available pods can serve (rounded down), and the rest.
    let stable_share = max_weight * i64::from(stable_rs.available) / i64::from(context.replicas);
    let rest = (max_weight - stable_share).max(0);
    let weight = match served_canary.map(i64::from) {
        None => rest.max(desired),
        Some(served) if desired <= 0 => rest.min(served),
        // The stable cannot take its share of the desired split yet.
        Some(served) if stable_share < max_weight - desired => served,
        Some(served) => desired.min(served),
    };
    to_replicas(weight)
}

fn effective_max_weight(max_weight: i32) -> i64 {
    if max_weight > 0 { i64::from(max_weight) } else { i64::from(DEFAULT_MAX_WEIGHT) }
}

/// Ceiling division for a positive divisor.
fn div_ceil(numerator: i64, divisor: i64) -> i64 {
    let quotient = numerator.div_euclid(divisor);
    if numerator.rem_euclid(divisor) == 0 { quotient } else { quotient + 1 }
}

/// Narrows a count back to Kubernetes' `int32`, saturating instead of wrapping.
fn to_replicas(count: i64) -> i32 {
    i32::try_from(count).unwrap_or(if count < 0 { i32::MIN } else { i32::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// "25%" or "3", as a manifest would say it.
    fn int_or_percent(text: &str) -> IntOrString {
        if text.ends_with('%') { IntOrString::from(text) } else { IntOrString::Int(text.parse().expect("an integer")) }
    }

    #[derive(Clone, Debug)]
    enum Case {
        Basic {
            replicas: i32,
            weight: i32,
            max_weight: i32,
            surge: &'static str,
            unavailable: &'static str,
            new_rs: Option<ReplicaSetCounts>,
            stable_rs: Option<ReplicaSetCounts>,
            new_is_stable: bool,
            others: &'static [(i32, i32)],
        },
        Traffic(TrafficRouted),
    }

    /// One table row: inputs and the expected `(new, stable)`.
    #[derive(Clone, Debug)]
    struct Row {
        case: Case,
        expected: (i32, i32),
    }

    fn rs((spec, available): (i32, i32)) -> Option<ReplicaSetCounts> {
        Some(ReplicaSetCounts::new(spec, available))
    }

    /// Basic canary: `new` and `stable` are `(spec, available)`.
    fn basic(
        replicas: i32,
        weight: i32,
        surge: &'static str,
        unavailable: &'static str,
        new: (i32, i32),
        stable: (i32, i32),
        expected: (i32, i32),
    ) -> Row {
        Row {
            case: Case::Basic {
                replicas,
                weight,
                max_weight: 100,
                surge,
                unavailable,
                new_rs: rs(new),
                stable_rs: rs(stable),
                new_is_stable: false,
                others: &[],
            },
            expected,
        }
    }

    /// Traffic-routed canary at `weight` of 100.
    fn traffic(replicas: i32, weight: i32, expected: (i32, i32)) -> Row {
        Row {
            case: Case::Traffic(TrafficRouted {
                replicas,
                max_weight: 100,
                weight,
                canary_scale: None,
                dynamic_stable_scale: false,
                min_pods_per_replica_set: None,
                aborted: false,
                applied_weights: None,
            }),
            expected,
        }
    }

    impl Row {
        fn others(mut self, older: &'static [(i32, i32)]) -> Self {
            if let Case::Basic { others, .. } = &mut self.case {
                *others = older;
            }
            self
        }
        fn no_stable(mut self) -> Self {
            if let Case::Basic { stable_rs, .. } = &mut self.case {
                *stable_rs = None;
            }
            self
        }
        fn no_new(mut self) -> Self {
            if let Case::Basic { new_rs, .. } = &mut self.case {
                *new_rs = None;
            }
            self
        }
        fn new_is_stable(mut self) -> Self {
            if let Case::Basic { new_is_stable, .. } = &mut self.case {
                *new_is_stable = true;
            }
            self
        }
        fn max_weight(mut self, max: i32) -> Self {
            match &mut self.case {
                Case::Basic { max_weight, .. } => *max_weight = max,
                Case::Traffic(input) => input.max_weight = max,
            }
            self
        }
        fn traffic_mut(&mut self) -> &mut TrafficRouted {
            match &mut self.case {
                Case::Traffic(input) => input,
                Case::Basic { .. } => panic!("not a traffic-routed row"),
            }
        }
        fn scale(mut self, scale: CanaryScale) -> Self {
            self.traffic_mut().canary_scale = Some(scale);
            self
        }
        /// dynamicStableScale, with the applied (canary, stable) weights if any.
        fn dynamic(mut self, applied: Option<(i32, i32)>) -> Self {
            let input = self.traffic_mut();
            input.dynamic_stable_scale = true;
            input.applied_weights = applied.map(|(canary, stable)| AppliedWeights { canary, stable });
            self
        }
        fn min_pods(mut self, min: i32) -> Self {
            self.traffic_mut().min_pods_per_replica_set = Some(min);
            self
        }
        fn aborted(mut self) -> Self {
            self.traffic_mut().aborted = true;
            self
        }

        fn run(&self) -> (i32, i32) {
            match &self.case {
                Case::Traffic(input) => traffic_routed_counts(input),
                Case::Basic {
                    replicas,
                    weight,
                    max_weight,
                    surge,
                    unavailable,
                    new_rs,
                    stable_rs,
                    new_is_stable,
                    others,
                } => {
                    let (max_surge, max_unavailable) =
                        resolve_fenceposts(&int_or_percent(surge), &int_or_percent(unavailable), *replicas)
                            .expect("valid fenceposts");
                    let others: Vec<ReplicaSetCounts> =
                        others.iter().map(|&(spec, available)| ReplicaSetCounts::new(spec, available)).collect();
                    basic_canary_counts(&BasicCanary {
                        replicas: *replicas,
                        max_surge,
                        max_unavailable,
                        weight: *weight,
                        max_weight: *max_weight,
                        new_rs: *new_rs,
                        stable_rs: *stable_rs,
                        new_is_stable: *new_is_stable,
                        others: &others,
                    })
                }
            }
        }
    }

    /// Expected values come from Argo's `utils/replicaset/canary_test.go` where a Go test is
    /// named; the other rows were worked out by hand and checked against a line-by-line
    /// transcription of the Go functions.
    fn table() -> Vec<Row> {
        use CanaryScale::{Replicas, Weight};
        vec![
            // ---- Basic canary: Argo's TestCalculateReplicaCountsForCanary ----
            // "Do not add extra RSs in scaleDownCount when .Spec.Replica < AvailableReplicas"
            basic(10, 100, "3", "0", (6, 3), (7, 8), (6, 7)),
            // "Use max surge int to scale up canary"
            basic(10, 20, "2", "0", (0, 0), (10, 10), (2, 10)),
            // "Use max surge percentage to scale up canary"
            basic(10, 20, "20%", "0", (0, 0), (10, 10), (2, 10)),
            // "Scale down extra stable replicas"
            basic(10, 20, "20%", "0", (2, 2), (10, 10), (2, 8)),
            // "Do not go past max surge"
            basic(10, 30, "2", "0", (0, 0), (10, 10), (2, 10)),
            // "Use max unavailable int to scale down stableRS"
            basic(10, 20, "0", "2", (0, 0), (10, 10), (0, 8)),
            // "Use max surge percentage to scale down stableRS" (maxUnavailable 20%)
            basic(10, 20, "0", "20%", (0, 0), (10, 10), (0, 8)),
            // "Do not go past max unavailable"
            basic(10, 30, "0", "2", (0, 0), (10, 10), (0, 8)),
            // "Use Max Surge and Max Unavailable"
            basic(10, 50, "2", "1", (0, 0), (10, 10), (2, 9)),
            // "Scale canaryRS to zero on setWeight of 0%"
            basic(10, 0, "1", "1", (1, 1), (10, 10), (0, 10)),
            // "Scale stable to zero on setWeight of 100%"
            basic(10, 100, "1", "1", (10, 10), (1, 1), (10, 0)),
            // "Do not scale newRS down to zero on non-zero weight"
            basic(1, 20, "1", "0", (0, 0), (1, 1), (1, 1)),
            // "Do not scale canaryRS down to zero on non-100 weight"
            basic(1, 90, "1", "0", (0, 0), (1, 1), (1, 1)),
            // "Scale up Stable before newRS" (an older ReplicaSet still has 3 pods)
            basic(10, 30, "1", "0", (0, 0), (1, 1), (1, 7)).others(&[(3, 3)]),
            // "Scale down newRS and stable" (stable pods not all available)
            basic(10, 30, "0", "3", (4, 4), (8, 5), (3, 7)),
            // "Scale down stable and canary available"
            basic(10, 100, "1", "0", (10, 8), (10, 2), (9, 2)),
            // "Do not scale down newRS or stable when older RS count >= scaleDownCount"
            basic(10, 30, "0", "1", (4, 2), (8, 6), (4, 8)).others(&[(3, 3)]),
            // "Do not round past maxSurge with uneven setWeight divisor"
            basic(10, 5, "0", "1", (0, 0), (10, 10), (0, 9)),
            // "Do not round past maxSurge with uneven setWeight divisor (part 2)"
            basic(10, 5, "0", "1", (0, 0), (9, 9), (1, 9)),
            // "Use maxUnavailable of 1 when percentage of maxUnavailable and maxSurge result in 0 replicas"
            basic(10, 10, "0%", "0%", (0, 0), (10, 10), (0, 9)),
            // "Ignore setCanaryScale when trafficRouting is missing and use setWeight for replicas"
            basic(10, 20, "20%", "0", (0, 0), (10, 10), (2, 10)),
            // "honor maxSurge during scale up when stableRS unavailable"
            basic(4, 100, "1", "0", (0, 0), (4, 1), (1, 4)),
            // "scale down to maxunavailable without exceeding maxSurge"
            basic(3, 99, "0", "2", (0, 0), (3, 3), (0, 1)),
            // "scale down to maxunavailable without exceeding maxSurge (part 2)"
            basic(3, 99, "0", "2", (0, 0), (1, 1), (2, 1)),
            // "honor maxUnavailable during scale down stableRS unavailable"
            basic(4, 100, "1", "0", (1, 1), (4, 1), (1, 3)),
            // "honor maxUnavailable when aborting or reducing weight part 1"
            basic(4, 0, "1", "0", (4, 4), (0, 0), (4, 1)),
            // "honor maxUnavailable when aborting or reducing weight part 2"
            basic(4, 0, "1", "0", (4, 4), (1, 0), (4, 1)),
            // "honor maxUnavailable when aborting or reducing weight part 3"
            basic(4, 0, "1", "0", (4, 4), (1, 1), (3, 1)),
            // "promote full does not consider weight" (promote --full: weight = max weight)
            basic(4, 100, "4", "4", (0, 0), (4, 4), (4, 0)),
            // "promote full still honors maxSurge/maxUnavailable"
            basic(4, 100, "3", "0", (0, 0), (4, 4), (3, 4)),
            // ---- Basic canary: other Go tests ----
            // TestCalculateReplicaCountsForNewDeployment (new ReplicaSet is the stable one)
            basic(10, 10, "0", "1", (10, 0), (10, 0), (10, 0)).new_is_stable(),
            // TestCalculateReplicaCountsForCanaryStableRSdEdgeCases (no stable ReplicaSet)
            basic(10, 10, "0", "1", (9, 9), (0, 0), (10, 0)).no_stable(),
            // TestCalculateReplicaCountsForCanaryStableRSdEdgeCases (stable is the new one)
            basic(10, 10, "0", "1", (9, 9), (9, 9), (10, 0)).new_is_stable(),
            // ---- Basic canary: seed and odd replica counts ----
            // seed: R=10, setWeight 10, default 25%/25%
            basic(10, 10, "25%", "25%", (0, 0), (10, 10), (1, 9)),
            // R=1 at 50%: surge 25% of 1 rounds up to 1, so both run one pod
            basic(1, 50, "25%", "25%", (0, 0), (1, 1), (1, 1)),
            // R=3 at 33%, default fenceposts (surge 1, unavailable 0)
            basic(3, 33, "25%", "25%", (0, 0), (3, 3), (1, 3)),
            // R=3 at 33%, next reconcile: surplus stable pod goes
            basic(3, 33, "25%", "25%", (1, 1), (3, 3), (1, 2)),
            // R=3 at 50%, surge 1: 2 of 4 beats 1 or 2 of 3
            basic(3, 50, "1", "0", (0, 0), (3, 3), (1, 3)),
            // R=5 at 50%, default fenceposts (surge 2, unavailable 1)
            basic(5, 50, "25%", "25%", (0, 0), (5, 5), (2, 4)),
            // R=5 at 50%, canary scaled up, stable shrinks by maxUnavailable
            basic(5, 50, "25%", "25%", (2, 2), (5, 5), (2, 3)),
            // R=5 at 50%, 10%/10% resolve to surge 1 (up) and unavailable 0 (down)
            basic(5, 50, "10%", "10%", (0, 0), (5, 5), (1, 5)),
            // R=5, surge 0% and unavailable 10% both resolve to 0: unavailable becomes 1
            basic(5, 50, "0%", "10%", (0, 0), (5, 5), (0, 4)),
            // R=7 at 1%, surge 1 unavailable 0: at least one canary pod
            basic(7, 1, "1", "0", (0, 0), (7, 7), (1, 7)),
            // R=7 at 33%, surge 50% (4), unavailable 0
            basic(7, 33, "50%", "0", (0, 0), (7, 7), (2, 7)),
            // R=7 at 50%, both fenceposts round to 0, second reconcile
            basic(7, 50, "0%", "10%", (1, 1), (6, 6), (1, 5)),
            // R=9 at 99%, surge 0: first make room
            basic(9, 99, "0", "1", (0, 0), (9, 9), (0, 8)),
            // R=9 at 99%, surge 0: then fill it
            basic(9, 99, "0", "1", (0, 0), (8, 8), (1, 8)),
            // R=9 at 50%, canary pods crash-looping: stable still shrinks within maxUnavailable
            basic(9, 50, "2", "1", (5, 1), (5, 5), (5, 5)),
            // R=9 back to 0% (abort) with the canary's pods unavailable: canary drains first
            basic(9, 0, "1", "1", (4, 0), (6, 6), (2, 6)),
            // R=9 back to 0% (abort), all available: stable grows within surge
            basic(9, 0, "1", "0", (3, 3), (6, 6), (3, 7)),
            // R=11 at 1%, default fenceposts (surge 3, unavailable 2)
            basic(11, 1, "25%", "25%", (0, 0), (11, 11), (1, 11)),
            // R=11 at 33%, 10%/10% (surge 2, unavailable 1)
            basic(11, 33, "10%", "10%", (0, 0), (11, 11), (2, 10)),
            // R=11 at 99%, default fenceposts
            basic(11, 99, "25%", "25%", (0, 0), (11, 11), (3, 9)),
            // R=11 at 100%, stable drained: done
            basic(11, 100, "1", "0", (11, 11), (0, 0), (11, 0)),
            // R=5 at 100% midway: stable shrinks within maxUnavailable
            basic(5, 100, "25%", "25%", (3, 3), (2, 2), (5, 1)),
            // new pods not yet available: stable still shrinks (its availability is what counts)
            basic(10, 50, "25%", "25%", (3, 0), (8, 8), (5, 8)),
            // stable pods not all available while growing the canary
            basic(5, 40, "1", "1", (2, 2), (4, 2), (2, 3)),
            // an older ReplicaSet still runs pods: no scale-down of new or stable yet
            basic(5, 50, "1", "1", (1, 1), (3, 3), (1, 3)).others(&[(2, 2)]),
            // an older ReplicaSet scaled to 0 whose pods are still terminating does not block
            basic(5, 20, "1", "1", (0, 0), (5, 5), (1, 4)).others(&[(0, 2)]),
            // Argo's fallback: R=2 at 75% without surge finds no split and keeps 0 canaries
            basic(2, 75, "0", "1", (0, 0), (2, 2), (0, 2)),
            // surplus stable pods (available > spec) are not counted on when shrinking
            basic(10, 100, "2", "1", (3, 5), (7, 8), (5, 6)),
            // abort with a crashing canary: trimming the grown stable back under the surge
            // limit would cost availability, so it keeps one pod more and the canary gives way
            basic(6, 0, "2", "1", (5, 1), (3, 5), (2, 4)),
            // no stable ReplicaSet: the new one takes all replicas
            basic(9, 50, "25%", "25%", (4, 4), (0, 0), (9, 0)).no_stable(),
            // the new ReplicaSet is the stable one: all replicas
            basic(7, 33, "1", "1", (5, 5), (0, 0), (7, 0)).new_is_stable(),
            // the new ReplicaSet does not exist yet: only the stable moves
            basic(5, 20, "1", "1", (0, 0), (5, 5), (0, 4)).no_new(),
            // maxTrafficWeight 1000: weight 100 is 10%
            basic(10, 100, "25%", "25%", (0, 0), (10, 10), (1, 9)).max_weight(1000),
            // maxTrafficWeight 1000: weight 333 of 3 replicas, surge 0
            basic(3, 333, "0", "1", (0, 0), (3, 3), (0, 2)).max_weight(1000),
            // ---- Traffic routing: Argo's tests ----
            // TestCalculateReplicaCountsForCanaryTrafficRouting (also the seed: 1 canary, 10 stable)
            traffic(10, 10, (1, 10)),
            // TestCalculateReplicaCountsForCanary "For canary replicas, use setCanaryScale.replicas when specified along with trafficRouting (and ignore setWeight)"
            traffic(1, 100, (9, 1)).scale(Replicas(9)),
            // TestCalculateReplicaCountsForCanary "Use setCanaryScale.weight for canary replicas when specified with trafficRouting (and ignore setWeight)"
            traffic(4, 100, (8, 4)).scale(Weight(200)),
            // TestCalculateReplicaCountsForCanary "Ignore setCanaryScale replicas/weight when matchTrafficWeight is true"
            traffic(10, 20, (2, 10)),
            // TestCalculateReplicaCountsForCanary "aborted with abortScaleDownDelaySeconds:0 and setCanaryScale"
            traffic(1, 0, (1, 1)).scale(Replicas(1)),
            // TestCalculateReplicaCountsForCanary "aborted with abortScaleDownDelaySeconds>0 and setCanaryScale"
            traffic(1, 0, (0, 1)),
            // TestCalculateReplicaCountsForCanary "Honor MinPodsPerReplicaSet when using trafficRouting and starting canary"
            traffic(10, 5, (2, 10)).min_pods(2),
            // TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale: scale down stable
            traffic(10, 10, (1, 9)).dynamic(Some((10, 90))),
            // TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale: desired canary 20 > applied 10
            traffic(10, 20, (2, 9)).dynamic(Some((10, 90))),
            // TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale: abort keeps canary while it has traffic
            traffic(10, 0, (2, 10)).dynamic(Some((20, 80))).aborted(),
            // TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale: abort shrinks canary with its traffic
            traffic(10, 0, (1, 10)).dynamic(Some((10, 90))).aborted(),
            // ---- Traffic routing: odd counts, edges ----
            // R=1 at 1%: ceil gives one canary pod
            traffic(1, 1, (1, 1)),
            // R=3 at 33%
            traffic(3, 33, (1, 3)),
            // R=5 at 50%
            traffic(5, 50, (3, 5)),
            // R=7 at 99%
            traffic(7, 99, (7, 7)),
            // R=9 at 100%
            traffic(9, 100, (9, 9)),
            // R=11 at 0%
            traffic(11, 0, (0, 11)),
            // minPodsPerReplicaSet leaves 0 at 0
            traffic(11, 0, (0, 11)).min_pods(2),
            // minPodsPerReplicaSet lifts 1 to 3
            traffic(11, 1, (3, 11)).min_pods(3),
            // dynamicStableScale without applied weights: R=7 at 33%
            traffic(7, 33, (3, 5)).dynamic(None),
            // dynamicStableScale: stable kept for the 80% it still serves
            traffic(5, 50, (3, 4)).dynamic(Some((20, 80))),
            // dynamicStableScale abort: canary kept for the 33% it still serves
            traffic(9, 0, (3, 9)).dynamic(Some((33, 67))).aborted(),
            // dynamicStableScale not aborted: the applied canary weight does not matter
            traffic(10, 10, (1, 9)).dynamic(Some((50, 50))),
            // dynamicStableScale + minPodsPerReplicaSet lift both sides
            traffic(10, 10, (3, 9)).min_pods(3).dynamic(Some((10, 90))),
            // dynamicStableScale at 100% with 10% still on stable
            traffic(10, 100, (10, 1)).dynamic(Some((90, 10))),
            // ... and minPodsPerReplicaSet on that stable remainder
            traffic(10, 100, (10, 2)).min_pods(2).dynamic(Some((90, 10))),
            // dynamicStableScale fully shifted: stable to 0
            traffic(10, 100, (10, 0)).dynamic(Some((100, 0))),
            // setCanaryScale replicas
            traffic(11, 20, (3, 11)).scale(Replicas(3)),
            // setCanaryScale replicas 0
            traffic(11, 20, (0, 11)).scale(Replicas(0)),
            // setCanaryScale weight differs from traffic weight
            traffic(7, 10, (4, 7)).scale(Weight(50)),
            // setCanaryScale weight also sizes a dynamic stable
            traffic(11, 33, (6, 6)).scale(Weight(50)).dynamic(None),
            // setCanaryScale replicas are not lifted by minPods without dynamicStableScale (as in Argo)
            traffic(10, 10, (2, 10)).scale(Replicas(2)).min_pods(3),
            // ... but are with it
            traffic(10, 10, (3, 10)).scale(Replicas(2)).min_pods(3).dynamic(None),
            // maxTrafficWeight 1000: weight 100 is 10%
            traffic(10, 100, (1, 10)).max_weight(1000),
            // maxTrafficWeight 1000: weight 333 of 3
            traffic(3, 333, (1, 3)).max_weight(1000),
            // maxTrafficWeight 1000, dynamic: 25% canary, 75% stable
            traffic(10, 250, (3, 8)).max_weight(1000).dynamic(None),
        ]
    }

    #[test]
    fn replica_counts_table() {
        let rows = table();
        assert!(rows.len() >= 45, "only {} rows", rows.len());
        let failures: Vec<String> = rows
            .iter()
            .enumerate()
            .filter_map(|(index, row)| {
                let got = row.run();
                (got != row.expected)
                    .then(|| format!("row {index}: expected {:?}, got {got:?}\n  {:?}", row.expected, row.case))
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn weighted_split_approximation() {
        // Argo's TestApproximateWeightedNewStableReplicaCounts:
        // (replicas, weight, maxSurge, canary, stable).
        let cases: &[(i64, i64, i64, i64, i64)] = &[
            (0, 0, 0, 0, 0),
            (0, 50, 0, 0, 0),
            (0, 100, 0, 0, 0),
            (0, 0, 1, 0, 0),
            (0, 50, 1, 0, 0),
            (0, 100, 1, 0, 0),
            (1, 0, 0, 0, 1),
            (1, 1, 0, 0, 1),
            (1, 49, 0, 0, 1),
            (1, 50, 0, 1, 0),
            (1, 99, 0, 1, 0),
            (1, 100, 0, 1, 0),
            (1, 0, 1, 0, 1),
            (1, 1, 1, 1, 1),
            (1, 49, 1, 1, 1),
            (1, 50, 1, 1, 1),
            (1, 99, 1, 1, 1),
            (1, 100, 1, 1, 0),
            (2, 0, 0, 0, 2),
            (2, 1, 0, 1, 1),
            (2, 50, 0, 1, 1),
            (2, 99, 0, 1, 1),
            (2, 100, 0, 2, 0),
            (2, 0, 1, 0, 2),
            (2, 1, 1, 1, 2),
            (2, 50, 1, 1, 1),
            (2, 99, 1, 2, 1),
            (2, 100, 1, 2, 0),
            (3, 10, 0, 1, 2),
            (3, 25, 0, 1, 2),
            (3, 33, 0, 1, 2),
            (3, 34, 0, 1, 2),
            (3, 49, 0, 1, 2),
            (3, 50, 0, 2, 1),
            (3, 10, 1, 1, 3),
            (3, 25, 1, 1, 3),
            (3, 33, 1, 1, 2),
            (3, 34, 1, 1, 2),
            (3, 49, 1, 2, 2),
            (3, 50, 1, 2, 2),
            (10, 0, 1, 0, 10),
            (10, 1, 0, 1, 9),
            (10, 14, 0, 1, 9),
            (10, 15, 0, 2, 8),
            (10, 16, 0, 2, 8),
            (10, 99, 0, 9, 1),
            (10, 100, 1, 10, 0),
            (10, 0, 1, 0, 10),
            (10, 1, 1, 1, 10),
            (10, 18, 1, 2, 9),
            (10, 19, 1, 2, 9),
            (10, 20, 1, 2, 8),
            (10, 23, 1, 2, 8),
            (10, 24, 1, 3, 8),
            (10, 25, 1, 3, 8),
            (10, 99, 1, 10, 1),
            (10, 100, 1, 10, 0),
            // Not in Argo's table: at 75% of 2 with no surge, 2 canaries is ruled out (it would
            // leave no stable) and 1 is exactly as far off as 2, so no candidate is left and
            // Argo falls back to no canary at all.
            (2, 75, 0, 0, 2),
        ];
        for &(replicas, weight, surge, canary, stable) in cases {
            assert_eq!(
                approximate_split(replicas, weight, 100, surge),
                (canary, stable),
                "replicas {replicas}, weight {weight}, surge {surge}"
            );
            // The same split expressed against maxTrafficWeight 1000.
            assert_eq!(
                approximate_split(replicas, weight * 10, 1000, surge),
                (canary, stable),
                "replicas {replicas}, weight {}/1000, surge {surge}",
                weight * 10
            );
        }
    }

    #[test]
    fn fenceposts() {
        let resolve = |surge: &str, unavailable: &str, replicas| {
            resolve_fenceposts(&int_or_percent(surge), &int_or_percent(unavailable), replicas)
        };
        // Argo's defaults on 10 replicas: 25% surge rounds up, 25% unavailable down.
        assert_eq!(resolve("25%", "25%", 10), Ok((3, 2)));
        assert_eq!(resolve("25%", "25%", 1), Ok((1, 0)));
        assert_eq!(resolve("3", "0", 10), Ok((3, 0)));
        // Both resolve to 0: unavailable becomes 1.
        assert_eq!(resolve("0%", "0%", 10), Ok((0, 1)));
        assert_eq!(resolve("0%", "10%", 5), Ok((0, 1)));
        assert_eq!(resolve("0", "0", 0), Ok((0, 1)));
        assert_eq!(resolve("10%", "10%", 11), Ok((2, 1)));
        let one = IntOrString::Int(1);
        assert!(resolve_fenceposts(&IntOrString::from("x"), &one, 10).is_err());
        assert!(resolve_fenceposts(&one, &IntOrString::Int(-1), 10).is_err());
        // Large replica counts do not overflow.
        let big = i32::MAX / 100;
        assert_eq!(resolve("100%", "100%", big), Ok((big, big)));
        assert_eq!(replicas_or_default(None), 1);
        assert_eq!(replicas_or_default(Some(0)), 0);
    }

    #[test]
    fn basic_caps_max_unavailable_at_replicas() {
        // MaxUnavailable(): never more than the replica count (and 0 with no replicas).
        let input = BasicCanary {
            replicas: 2,
            max_surge: 0,
            max_unavailable: 5,
            weight: 50,
            max_weight: 100,
            new_rs: rs((0, 0)),
            stable_rs: rs((2, 2)),
            new_is_stable: false,
            others: &[],
        };
        assert_eq!(basic_canary_counts(&input), (0, 1));
    }

    fn basic_input<'a>(replicas: i32, weight: i32, new: (i32, i32), stable: (i32, i32)) -> BasicCanary<'a> {
        BasicCanary {
            replicas,
            max_surge: 1,
            max_unavailable: 1,
            weight,
            max_weight: 100,
            new_rs: rs(new),
            stable_rs: rs(stable),
            new_is_stable: false,
            others: &[],
        }
    }

    fn step_check<'a>(scaling: Scaling<'a>, stable_created: i32) -> StepCheck<'a> {
        StepCheck { scaling, stable_created, threshold: None }
    }

    #[test]
    fn step_completion_basic() {
        // Argo's TestAtDesiredReplicaCountsForCanary (basic canary, R=4, surge 1, unavailable 1).
        // "we are at desired replica counts and availability"
        let input = basic_input(4, 50, (2, 2), (2, 2));
        assert!(at_desired_counts(&step_check(Scaling::Basic(&input), 2)));
        // "new replicaset is not at desired counts or availability"
        let input = basic_input(4, 50, (2, 1), (2, 2));
        assert!(!at_desired_counts(&step_check(Scaling::Basic(&input), 2)));
        // "stable replicaset is not at desired counts or availability"
        let input = basic_input(4, 75, (3, 3), (2, 2));
        assert!(!at_desired_counts(&step_check(Scaling::Basic(&input), 2)));
        // "stable replicaset is not at desired availability but is at correct count"
        let input = basic_input(4, 75, (3, 3), (1, 0));
        assert!(at_desired_counts(&step_check(Scaling::Basic(&input), 1)));
        // "test that when status field lags behind spec.replicas we fail"
        let input = basic_input(4, 50, (2, 2), (2, 2));
        assert!(!at_desired_counts(&step_check(Scaling::Basic(&input), 3)));

        // Older ReplicaSets with available pods keep a basic step open.
        let mut input = basic_input(4, 50, (2, 2), (2, 2));
        input.others = &[ReplicaSetCounts { spec: 0, available: 1 }];
        assert!(!at_desired_counts(&step_check(Scaling::Basic(&input), 2)));
        // No new ReplicaSet: not done.
        let mut input = basic_input(4, 50, (2, 2), (2, 2));
        input.new_rs = None;
        assert!(!at_desired_counts(&step_check(Scaling::Basic(&input), 2)));
        // More available than desired is not "at" desired without a threshold.
        let input = basic_input(4, 50, (2, 3), (2, 2));
        assert!(!at_desired_counts(&step_check(Scaling::Basic(&input), 2)));
    }

    fn routed(replicas: i32, weight: i32) -> TrafficRouted {
        TrafficRouted {
            replicas,
            max_weight: 100,
            weight,
            canary_scale: None,
            dynamic_stable_scale: false,
            min_pods_per_replica_set: None,
            aborted: false,
            applied_weights: None,
        }
    }

    #[test]
    fn step_completion_traffic_routed_and_threshold() {
        // Argo's TestCheckReplicasAvailableWithReplicaProgressThreshold: R=10 at 50% wants 5
        // canary pods.
        let input = routed(10, 50);
        let check = |available: i32, threshold: Option<ProgressThreshold>| {
            at_desired_counts(&StepCheck {
                scaling: Scaling::TrafficRouted { input: &input, new_rs: rs((5, available)), stable_rs: rs((10, 10)) },
                stable_created: 10,
                threshold,
            })
        };
        // "threshold met - 80% available with 80% threshold"
        assert!(check(4, Some(ProgressThreshold::Percent(80))));
        // "threshold not met - 60% available with 80% threshold"
        assert!(!check(3, Some(ProgressThreshold::Percent(80))));
        // "nil threshold - requires 100% availability"
        assert!(!check(4, None));
        assert!(check(5, None));
        assert!(check(3, Some(ProgressThreshold::Pods(3))));
        assert!(!check(2, Some(ProgressThreshold::Pods(3))));
        // A pod threshold above the step's own count asks for no more than the step wants.
        assert!(check(5, Some(ProgressThreshold::Pods(8))));

        // Stable not fully created: not done, unless the stable scales dynamically.
        let stable_short = |input: &TrafficRouted| {
            at_desired_counts(&step_check(
                Scaling::TrafficRouted { input, new_rs: rs((5, 5)), stable_rs: rs((10, 10)) },
                9,
            ))
        };
        assert!(!stable_short(&routed(10, 50)));
        let mut dynamic = routed(10, 50);
        dynamic.dynamic_stable_scale = true;
        assert!(stable_short(&dynamic));
    }

    #[test]
    fn weight_and_scale_selection() {
        use ScalingStep::{Other, SetCanaryScale, SetWeight};
        // Argo's TestGetCurrentSetWeight: one setWeight 10 step.
        let steps = [SetWeight(10)];
        assert_eq!(current_set_weight(&steps, 1, false, 100), 100);
        assert_eq!(current_set_weight(&steps, 0, false, 100), 10);
        assert_eq!(current_set_weight(&steps, 0, true, 100), 0);
        assert_eq!(current_set_weight(&[], 0, false, 100), 100);
        assert_eq!(current_set_weight(&[Other, SetWeight(20)], 0, false, 100), 0);
        assert_eq!(current_set_weight(&[SetWeight(20), Other], 1, false, 1000), 20);

        let context = |steps, promote_full, has_distinct_stable, aborted| WeightContext {
            steps,
            step_index: 1,
            max_weight: 100,
            promote_full,
            has_distinct_stable,
            aborted,
            traffic_routed: true,
            abort_scale_down_delay_seconds: None,
            dynamic_stable_scale: false,
            replicas: 10,
            new_rs: None,
            stable_rs: None,
        };
        let scale = |replicas, weight| SetCanaryScale { replicas, weight, match_traffic_weight: false };
        // Argo's TestGetCanaryReplicasOrWeight.
        // "test full promote rollout"
        let steps = [SetWeight(10), scale(None, Some(20))];
        assert_eq!(canary_replicas_or_weight(&context(&steps, true, true, false)), (None, 100));
        // "test canary step weight"
        assert_eq!(
            canary_replicas_or_weight(&context(&steps, false, true, false)),
            (Some(CanaryScale::Weight(20)), 20)
        );
        // "test canary step replicas"
        let steps = [SetWeight(10), scale(Some(5), None)];
        assert_eq!(
            canary_replicas_or_weight(&context(&steps, false, true, false)),
            (Some(CanaryScale::Replicas(5)), 0)
        );
        // "test get current step weight" (no stable recorded)
        assert_eq!(canary_replicas_or_weight(&context(&[], false, false, true)), (None, 100));

        // matchTrafficWeight ends an earlier setCanaryScale.
        let steps = [
            scale(Some(3), None),
            SetWeight(40),
            SetCanaryScale { replicas: None, weight: None, match_traffic_weight: true },
        ];
        assert_eq!(effective_canary_scale(&steps, 1, true, false, false), Some(CanaryScale::Replicas(3)));
        assert_eq!(effective_canary_scale(&steps, 2, true, false, false), None);
        // Only with traffic routing.
        assert_eq!(effective_canary_scale(&steps, 1, false, false, false), None);
        // On abort, only with abortScaleDownDelaySeconds: 0 (TestCalculateReplicaCountsForCanary
        // "aborted with abortScaleDownDelaySeconds..." cases).
        assert_eq!(effective_canary_scale(&steps, 1, true, true, false), None);
        assert_eq!(effective_canary_scale(&steps, 1, true, true, true), Some(CanaryScale::Replicas(3)));
        // Past the last step nothing applies.
        assert_eq!(effective_canary_scale(&steps, 3, true, false, false), None);
        // Aborted: weight 0.
        let steps = [SetWeight(10), Other];
        assert_eq!(canary_replicas_or_weight(&context(&steps, false, true, true)), (None, 0));
    }

    // ---- Properties ----

    fn fencepost_value(replicas: i32) -> impl Strategy<Value = IntOrString> {
        prop_oneof![
            (0..=replicas.saturating_add(2)).prop_map(|n| IntOrString::Int(i64::from(n))),
            (0..=100i32).prop_map(|p| IntOrString::String(format!("{p}%"))),
        ]
    }

    /// A plausible moment in a basic canary: fenceposts, weights, and ReplicaSets whose spec
    /// total fits within `replicas + max_surge`.
    #[derive(Clone, Debug)]
    struct BasicState {
        replicas: i32,
        max_surge: i32,
        max_unavailable: i32,
        weight: i32,
        max_weight: i32,
        new_rs: Option<ReplicaSetCounts>,
        stable_rs: Option<ReplicaSetCounts>,
        new_is_stable: bool,
        others: Vec<ReplicaSetCounts>,
    }

    impl BasicState {
        fn input(&self) -> BasicCanary<'_> {
            BasicCanary {
                replicas: self.replicas,
                max_surge: self.max_surge,
                max_unavailable: self.max_unavailable,
                weight: self.weight,
                max_weight: self.max_weight,
                new_rs: self.new_rs,
                stable_rs: self.stable_rs,
                new_is_stable: self.new_is_stable,
                others: &self.others,
            }
        }
        fn spec_total(&self) -> i64 {
            let stable = if self.new_is_stable && self.new_rs.is_some() {
                0
            } else {
                self.stable_rs.map_or(0, |rs| i64::from(rs.spec))
            };
            self.others.iter().map(|rs| i64::from(rs.spec)).sum::<i64>()
                + self.new_rs.map_or(0, |rs| i64::from(rs.spec))
                + stable
        }
        fn capped_unavailable(&self) -> i64 {
            i64::from(self.max_unavailable.min(self.replicas.max(0)))
        }
    }

    /// A ReplicaSet with `spec <= cap` and anything from no available pods to a few more than
    /// the spec (surplus pods still running); `all_available` makes at least the spec available.
    fn replica_set(cap: i32, all_available: bool) -> impl Strategy<Value = ReplicaSetCounts> {
        (0..=cap.max(0)).prop_flat_map(move |spec| {
            let least = if all_available { spec } else { 0 };
            let available = least..=spec + 2;
            available.prop_map(move |available| ReplicaSetCounts::new(spec, available))
        })
    }

    fn basic_state(max_replicas: i32, all_available: bool) -> impl Strategy<Value = BasicState> {
        let settings = (1..=max_replicas, prop_oneof![Just(100), Just(1000), 1..=1000i32])
            .prop_flat_map(|(replicas, max_weight)| {
                (
                    Just((replicas, max_weight)),
                    fencepost_value(replicas),
                    fencepost_value(replicas),
                    prop_oneof![Just(0), Just(max_weight), 0..=max_weight],
                    any::<bool>(),
                )
            })
            .prop_filter_map(
                "fenceposts resolve",
                |((replicas, max_weight), surge, unavailable, weight, new_is_stable)| {
                    let (max_surge, max_unavailable) = resolve_fenceposts(&surge, &unavailable, replicas).ok()?;
                    Some(BasicState {
                        replicas,
                        max_surge,
                        max_unavailable,
                        weight,
                        max_weight,
                        new_rs: None,
                        stable_rs: None,
                        new_is_stable,
                        others: Vec::new(),
                    })
                },
            );
        settings
            .prop_flat_map(move |state| {
                // Up to twice the surge budget: `replicas` may just have been lowered.
                let cap = state.replicas.saturating_add(state.max_surge).saturating_mul(2);
                (
                    Just(state),
                    proptest::option::weighted(0.9, replica_set(cap, all_available)),
                    proptest::option::weighted(0.9, replica_set(cap, all_available)),
                    proptest::collection::vec(replica_set(cap / 4, all_available), 0..3),
                )
            })
            .prop_map(|(state, new_rs, stable_rs, others)| BasicState { new_rs, stable_rs, others, ..state })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn basic_never_exceeds_surge_and_is_never_negative(state in basic_state(40, false)) {
            let (new, stable) = basic_canary_counts(&state.input());
            prop_assert!(new >= 0 && stable >= 0, "negative ({new}, {stable})");
            let limit = i64::from(state.replicas) + i64::from(state.max_surge);
            let before = state.spec_total();
            let others: i64 = state.others.iter().map(|rs| i64::from(rs.spec)).sum();
            let after = i64::from(new) + i64::from(stable) + others;
            // Within the budget it stays within; above it (replicas just lowered) it never grows.
            prop_assert!(
                after <= limit.max(before),
                "({new}, {stable}) + others {others} = {after} > max({limit}, {before})"
            );
            // Once older ReplicaSets are gone, any scale-down brings the pair back within budget.
            let shrank = |rs: Option<ReplicaSetCounts>, planned: i32| rs.is_some_and(|rs| planned < rs.spec);
            let distinct_stable = state.stable_rs.filter(|_| !(state.new_is_stable && state.new_rs.is_some()));
            if others == 0 && (shrank(state.new_rs, new) || shrank(distinct_stable, stable)) {
                prop_assert!(after <= limit, "({new}, {stable}) = {after} > {limit} after scaling down");
            }
        }

        #[test]
        fn basic_keeps_min_available_when_all_pods_are_available(state in basic_state(40, true)) {
            let min_available = i64::from(state.replicas) - state.capped_unavailable();
            let distinct_stable = state.stable_rs.filter(|_| !(state.new_is_stable && state.new_rs.is_some()));
            // Pods Argo can count on: the available ones each ReplicaSet keeps (surplus pods
            // above the spec are about to go).
            let kept = |rs: Option<ReplicaSetCounts>, planned: i32| {
                rs.map_or(0, |rs| i64::from(rs.available.min(planned)))
            };
            let others_available: i64 = state.others.iter().map(|&rs| kept(Some(rs), rs.spec)).sum();
            let available_now = others_available
                + state.new_rs.map_or(0, |rs| kept(Some(rs), rs.spec))
                + distinct_stable.map_or(0, |rs| kept(Some(rs), rs.spec));
            prop_assume!(available_now >= min_available);

            let (new, stable) = basic_canary_counts(&state.input());
            let guaranteed = others_available + kept(state.new_rs, new) + kept(distinct_stable, stable);
            prop_assert!(
                guaranteed >= min_available,
                "({new}, {stable}) keeps {guaranteed} available < {min_available}"
            );
        }

        #[test]
        fn basic_full_weight_gives_new_everything_once_old_drained(
            replicas in 1..=60i32,
            max_weight in prop_oneof![Just(100), 1..=1000i32],
            surge in 0..=5i32,
            unavailable in 0..=5i32,
            new_spec_fraction in 0.0..=1.0f64,
            new_available_fraction in 0.0..=1.0f64,
            stable_gone in any::<bool>(),
        ) {
            let unavailable = if surge == 0 && unavailable == 0 { 1 } else { unavailable };
            // Truncation is intended: a spec somewhere in 0..=replicas.
            let spec = (f64::from(replicas) * new_spec_fraction) as i32;
            let available = (f64::from(spec) * new_available_fraction) as i32;
            let input = BasicCanary {
                replicas,
                max_surge: surge,
                max_unavailable: unavailable,
                weight: max_weight,
                max_weight,
                new_rs: rs((spec, available)),
                stable_rs: if stable_gone { None } else { rs((0, 0)) },
                new_is_stable: false,
                others: &[ReplicaSetCounts { spec: 0, available: 0 }],
            };
            prop_assert_eq!(basic_canary_counts(&input), (replicas, 0));
        }

        #[test]
        fn traffic_routed_canary_within_replicas(
            replicas in 0..=(i32::MAX / 100),
            max_weight in prop_oneof![Just(100), Just(1000), 1..=10_000i32],
            weight_fraction in 0.0..=1.0f64,
            scale_weight_fraction in proptest::option::of(0.0..=1.0f64),
            dynamic_stable_scale in any::<bool>(),
            aborted in any::<bool>(),
            applied_fraction in proptest::option::of(0.0..=1.0f64),
        ) {
            let weight_of = |fraction: f64| (f64::from(max_weight) * fraction) as i32;
            let input = TrafficRouted {
                replicas,
                max_weight,
                weight: weight_of(weight_fraction),
                canary_scale: scale_weight_fraction.map(|f| CanaryScale::Weight(weight_of(f))),
                dynamic_stable_scale,
                min_pods_per_replica_set: None,
                aborted,
                applied_weights: applied_fraction.map(|f| {
                    let canary = weight_of(f);
                    AppliedWeights { canary, stable: max_weight - canary }
                }),
            };
            let (canary, stable) = traffic_routed_counts(&input);
            prop_assert!((0..=replicas).contains(&canary), "canary {canary} of {replicas}");
            prop_assert!((0..=replicas).contains(&stable), "stable {stable} of {replicas}");
        }

        #[test]
        fn large_counts_do_not_overflow(
            replicas in (i32::MAX / 200)..=(i32::MAX / 100),
            weight in 0..=100i32,
            surge in fencepost_value(i32::MAX / 100),
            unavailable in fencepost_value(i32::MAX / 100),
            new_spec in 0..=(i32::MAX / 100),
            stable_spec in 0..=(i32::MAX / 100),
        ) {
            let (max_surge, max_unavailable) = resolve_fenceposts(&surge, &unavailable, replicas).unwrap();
            let others = [ReplicaSetCounts::new(i32::MAX / 100, i32::MAX / 100)];
            for others in [&others[..], &[]] {
                let input = BasicCanary {
                    replicas,
                    max_surge,
                    max_unavailable,
                    weight,
                    max_weight: 100,
                    new_rs: rs((new_spec, new_spec)),
                    stable_rs: rs((stable_spec, stable_spec / 2)),
                    new_is_stable: false,
                    others,
                };
                let (new, stable) = basic_canary_counts(&input);
                prop_assert!(new >= 0 && stable >= 0);
            }
            let mut routed = routed(replicas, weight);
            routed.dynamic_stable_scale = true;
            routed.applied_weights = Some(AppliedWeights { canary: weight, stable: 100 - weight });
            let (canary, stable) = traffic_routed_counts(&routed);
            prop_assert!(canary <= replicas && stable <= replicas);
        }
    }
}

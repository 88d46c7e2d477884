//! Argo Rollouts' replica-math cases, restated as serin's own tables.
//!
//! Every case of these tests of Argo's `utils/replicaset/canary_test.go` is here, with its
//! inputs and expected outputs (facts about Argo's behaviour) in serin's own tables and words:
//! TestCalculateReplicaCountsForCanary (40), TestApproximateWeightedNewStableReplicaCounts (57),
//! TestCalculateReplicaCountsForNewDeployment (1), TestCalculateReplicaCountsForCanaryTrafficRouting
//! (1) and its DynamicScale variant (8), TestCalculateReplicaCountsForCanaryStableRSdEdgeCases
//! (2), TestTrafficWeightToReplicas (7), TestGetCurrentSetWeight (3),
//! TestAtDesiredReplicaCountsForCanary (5), TestGetCanaryReplicasOrWeight (4),
//! TestGetDesiredCanaryWeightOnAbortWithScaleDownDelay (5), TestAllReplicaProgressThresholdMet
//! (9) and TestAllDesiredAreAvailable (5). Each table names the Argo test it restates and fails
//! once, naming every case that disagrees.
//!
//! How Argo's fixtures map onto serin's inputs:
//! - Argo's `newRollout` helper builds a single step that carries both `setWeight` and, when
//!   given, `setCanaryScale`. The tables write such a step as `[setWeight, setCanaryScale]`
//!   with the current step on the second: the nearest setWeight at or before it and the nearest
//!   setCanaryScale at or before it are the same ones Argo finds (a manifest may also combine
//!   them in one step, which the engine reads as the same pair).
//! - Argo decides "a canary is under way" from `status.stableRS != status.currentPodHash` (the
//!   rollout's hashes "stable" and "canary" in its fixtures), and "the new ReplicaSet is the
//!   stable one" from the ReplicaSet names. serin's inputs carry the two facts separately
//!   (`distinct_stable`, `new_is_stable`).
//! - A ReplicaSet is `(spec replicas, available pods)`; a missing one is `None`.

use serin_engine::replicas::{
    AppliedWeights, BasicCanary, CanaryScale, ProgressThreshold, ReplicaSetCounts, Scaling, ScalingStep, StepCheck,
    TrafficRouted, WeightContext, approximate_weighted_counts, at_desired_counts, basic_canary_counts,
    canary_replicas_or_weight, current_set_weight, desired_canary_weight, replica_progress_threshold_met,
    resolve_fenceposts, traffic_routed_counts, traffic_weight_to_replicas,
};
use serin_model::IntOrString;

use ScalingStep::{SetCanaryScale, SetWeight};

/// The Rollout side of a case: spec and status fields the replica math reads.
#[derive(Clone, Debug)]
struct Ro {
    replicas: i32,
    steps: Vec<ScalingStep>,
    step_index: usize,
    max_surge: &'static str,
    max_unavailable: &'static str,
    traffic_routed: bool,
    dynamic_stable_scale: bool,
    min_pods: Option<i32>,
    aborted: bool,
    abort_delay: Option<i32>,
    promote_full: bool,
    /// `status.stableRS` is set and differs from `status.currentPodHash`.
    distinct_stable: bool,
    /// The new ReplicaSet is the stable ReplicaSet itself.
    new_is_stable: bool,
}

/// Argo's `newRollout(replicas, setWeight, maxSurge, maxUnavailable, "canary", "stable", nil, nil)`.
fn ro(replicas: i32, set_weight: i32, max_surge: &'static str, max_unavailable: &'static str) -> Ro {
    Ro {
        replicas,
        steps: vec![SetWeight(set_weight)],
        step_index: 0,
        max_surge,
        max_unavailable,
        traffic_routed: false,
        dynamic_stable_scale: false,
        min_pods: None,
        aborted: false,
        abort_delay: None,
        promote_full: false,
        distinct_stable: true,
        new_is_stable: false,
    }
}

impl Ro {
    /// The step also sets `setCanaryScale` (see the module comment).
    fn canary_scale(mut self, replicas: Option<i32>, weight: Option<i32>, match_traffic_weight: bool) -> Self {
        self.steps.push(SetCanaryScale { replicas, weight, match_traffic_weight });
        self.step_index = self.steps.len() - 1;
        self
    }
    fn routed(mut self) -> Self {
        self.traffic_routed = true;
        self
    }
    fn dynamic(mut self) -> Self {
        self.traffic_routed = true;
        self.dynamic_stable_scale = true;
        self
    }
    fn min_pods(mut self, min: i32) -> Self {
        self.min_pods = Some(min);
        self
    }
    fn aborted(mut self, abort_delay: Option<i32>) -> Self {
        self.aborted = true;
        self.abort_delay = abort_delay;
        self
    }
    fn promote_full(mut self) -> Self {
        self.promote_full = true;
        self
    }
    fn more_steps(mut self, steps: &[ScalingStep]) -> Self {
        self.steps.extend_from_slice(steps);
        self
    }
    fn steps(mut self, steps: &[ScalingStep]) -> Self {
        self.steps = steps.to_vec();
        self
    }
    fn at_step(mut self, index: usize) -> Self {
        self.step_index = index;
        self
    }
    /// `status.stableRS` empty, or equal to the current pod hash.
    fn no_canary(mut self) -> Self {
        self.distinct_stable = false;
        self
    }
    fn new_is_stable(mut self) -> Self {
        self.new_is_stable = true;
        self
    }

    fn weight_context(&self, rs: &ReplicaSets) -> WeightContext<'_> {
        WeightContext {
            steps: &self.steps,
            step_index: self.step_index,
            max_weight: 100,
            promote_full: self.promote_full,
            has_distinct_stable: self.distinct_stable,
            aborted: self.aborted,
            traffic_routed: self.traffic_routed,
            abort_scale_down_delay_seconds: self.abort_delay,
            dynamic_stable_scale: self.dynamic_stable_scale,
            replicas: self.replicas,
            new_rs: rs.new,
            stable_rs: rs.stable,
        }
    }

    fn fenceposts(&self) -> (i32, i32) {
        resolve_fenceposts(&int_or_percent(self.max_surge), &int_or_percent(self.max_unavailable), self.replicas)
            .expect("valid fenceposts")
    }
}

/// "25%" or "3", as a manifest says it.
fn int_or_percent(text: &str) -> IntOrString {
    if text.ends_with('%') { IntOrString::from(text) } else { IntOrString::Int(text.parse().expect("an integer")) }
}

/// The ReplicaSets and router state of a case.
#[derive(Clone, Debug, Default)]
struct ReplicaSets {
    new: Option<ReplicaSetCounts>,
    stable: Option<ReplicaSetCounts>,
    older: Vec<ReplicaSetCounts>,
    /// `status.canary.weights` as `(canary, stable)`.
    applied: Option<(i32, i32)>,
}

fn counts((spec, available): (i32, i32)) -> Option<ReplicaSetCounts> {
    Some(ReplicaSetCounts::new(spec, available))
}

/// New and stable ReplicaSets as `(spec, available)`.
fn sets(new: (i32, i32), stable: (i32, i32)) -> ReplicaSets {
    ReplicaSets { new: counts(new), stable: counts(stable), ..ReplicaSets::default() }
}

/// Neither ReplicaSet passed in, as Argo's traffic-routed cases call the calculation.
fn no_sets() -> ReplicaSets {
    ReplicaSets::default()
}

impl ReplicaSets {
    fn older(mut self, spec: i32, available: i32) -> Self {
        self.older.push(ReplicaSetCounts::new(spec, available));
        self
    }
    fn applied(mut self, canary: i32, stable: i32) -> Self {
        self.applied = Some((canary, stable));
        self
    }
    fn no_stable(mut self) -> Self {
        self.stable = None;
        self
    }
}

/// The inputs of the traffic-routed calculation for a Rollout and its ReplicaSets.
fn traffic_routed(ro: &Ro, rs: &ReplicaSets) -> TrafficRouted {
    let (canary_scale, weight) = canary_replicas_or_weight(&ro.weight_context(rs));
    TrafficRouted {
        replicas: ro.replicas,
        max_weight: 100,
        weight,
        canary_scale,
        dynamic_stable_scale: ro.dynamic_stable_scale,
        min_pods_per_replica_set: ro.min_pods,
        aborted: ro.aborted,
        applied_weights: rs.applied.map(|(canary, stable)| AppliedWeights { canary, stable }),
    }
}

/// The inputs of the basic calculation for a Rollout and its ReplicaSets.
fn basic<'a>(ro: &Ro, rs: &'a ReplicaSets) -> BasicCanary<'a> {
    let (_, weight) = canary_replicas_or_weight(&ro.weight_context(rs));
    let (max_surge, max_unavailable) = ro.fenceposts();
    BasicCanary {
        replicas: ro.replicas,
        max_surge,
        max_unavailable,
        weight,
        max_weight: 100,
        new_rs: rs.new,
        stable_rs: rs.stable,
        new_is_stable: ro.new_is_stable,
        others: &rs.older,
    }
}

/// `(canary, stable)` desired replicas, by whichever calculation the Rollout uses
/// (`CalculateReplicaCountsForTrafficRoutedCanary` / `CalculateReplicaCountsForBasicCanary`).
fn desired(ro: &Ro, rs: &ReplicaSets) -> (i32, i32) {
    if ro.traffic_routed { traffic_routed_counts(&traffic_routed(ro, rs)) } else { basic_canary_counts(&basic(ro, rs)) }
}

/// Runs every `(name, got, expected)`, then fails once listing all that disagree.
fn check_all<N: std::fmt::Display, T: std::fmt::Debug + PartialEq>(
    argo_test: &str,
    results: impl IntoIterator<Item = (N, T, T)>,
) {
    let mut total = 0;
    let mut failures = Vec::new();
    for (name, got, expected) in results {
        total += 1;
        if got != expected {
            failures.push(format!("  {name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{argo_test}: {} of {total} cases disagree:\n{}", failures.len(), failures.join("\n"));
}

/// Desired `(canary, stable)` replicas.
type Pair = (i32, i32);

/// A replica-count case: its name, the Rollout, its ReplicaSets, and Argo's `(canary, stable)`.
type CountCase = (&'static str, Ro, ReplicaSets, Pair);

fn check_counts(argo_test: &str, cases: Vec<CountCase>) {
    check_all(argo_test, cases.iter().map(|(name, ro, rs, expected)| (*name, desired(ro, rs), *expected)));
}

#[test]
fn calculate_replica_counts_for_canary() {
    // Argo's fixtures pass no older ReplicaSet unless the case names one, and for the
    // traffic-routed cases pass neither the new nor the stable ReplicaSet.
    let cases: Vec<CountCase> = vec![
        (
            "spec below available is not counted as extra available pods",
            ro(10, 100, "3", "0"),
            sets((6, 3), (7, 8)),
            (6, 7),
        ),
        ("maxSurge as a number scales the canary up", ro(10, 20, "2", "0"), sets((0, 0), (10, 10)), (2, 10)),
        ("maxSurge as a percentage scales the canary up", ro(10, 20, "20%", "0"), sets((0, 0), (10, 10)), (2, 10)),
        ("extra stable replicas are scaled down", ro(10, 20, "20%", "0"), sets((2, 2), (10, 10)), (2, 8)),
        ("the canary does not go past maxSurge", ro(10, 30, "2", "0"), sets((0, 0), (10, 10)), (2, 10)),
        ("maxUnavailable as a number scales the stable down", ro(10, 20, "0", "2"), sets((0, 0), (10, 10)), (0, 8)),
        (
            "maxUnavailable as a percentage scales the stable down",
            ro(10, 20, "0", "20%"),
            sets((0, 0), (10, 10)),
            (0, 8),
        ),
        ("the stable does not go past maxUnavailable", ro(10, 30, "0", "2"), sets((0, 0), (10, 10)), (0, 8)),
        ("maxSurge and maxUnavailable together", ro(10, 50, "2", "1"), sets((0, 0), (10, 10)), (2, 9)),
        ("setWeight 0 scales the canary to zero", ro(10, 0, "1", "1"), sets((1, 1), (10, 10)), (0, 10)),
        ("setWeight 100 scales the stable to zero", ro(10, 100, "1", "1"), sets((10, 10), (1, 1)), (10, 0)),
        ("a non-zero weight never rounds the canary to zero (20%)", ro(1, 20, "1", "0"), sets((0, 0), (1, 1)), (1, 1)),
        ("a weight below 100 keeps the stable (90%)", ro(1, 90, "1", "0"), sets((0, 0), (1, 1)), (1, 1)),
        (
            "without surge, under 50% of one replica the canary gets none",
            ro(1, 49, "0", "1"),
            sets((0, 0), (1, 1)),
            (0, 1),
        ),
        (
            "without surge, from 50% of one replica the stable goes first",
            ro(1, 51, "0", "1"),
            sets((0, 0), (1, 1)),
            (0, 0),
        ),
        (
            "without surge, once the stable is gone the canary gets the replica",
            ro(1, 51, "0", "1"),
            sets((0, 0), (0, 0)),
            (1, 0),
        ),
        ("the stable is scaled up before the canary", ro(10, 30, "1", "0"), sets((0, 0), (1, 1)).older(3, 3), (1, 7)),
        ("canary and stable both scale down", ro(10, 30, "0", "3"), sets((4, 4), (8, 5)), (3, 7)),
        ("stable and canary scale down by availability", ro(10, 100, "1", "0"), sets((10, 8), (10, 2)), (9, 2)),
        (
            "an older ReplicaSet with pods holds back every scale-down",
            ro(10, 30, "0", "1"),
            sets((4, 2), (8, 6)).older(3, 3),
            (4, 8),
        ),
        ("an uneven weight does not round past maxSurge", ro(10, 5, "0", "1"), sets((0, 0), (10, 10)), (0, 9)),
        (
            "an uneven weight does not round past maxSurge, next reconcile",
            ro(10, 5, "0", "1"),
            sets((0, 0), (9, 9)),
            (1, 9),
        ),
        (
            "fenceposts that both round to 0 make maxUnavailable 1",
            ro(10, 10, "0%", "0%"),
            sets((0, 0), (10, 10)),
            (0, 9),
        ),
        (
            "setCanaryScale replicas with traffic routing (setWeight ignored)",
            ro(1, 100, "0", "0").canary_scale(Some(9), None, false).routed(),
            no_sets(),
            (9, 1),
        ),
        (
            "setCanaryScale weight with traffic routing (setWeight ignored)",
            ro(4, 100, "0", "0").canary_scale(None, Some(200), false).routed(),
            no_sets(),
            (8, 4),
        ),
        (
            "matchTrafficWeight ignores setCanaryScale replicas and weight",
            ro(10, 20, "20%", "0").canary_scale(Some(9), Some(100), true).routed(),
            no_sets(),
            (2, 10),
        ),
        (
            "without traffic routing setCanaryScale is ignored",
            ro(10, 20, "20%", "0").canary_scale(Some(9), Some(100), false),
            sets((0, 0), (10, 10)),
            (2, 10),
        ),
        ("maxSurge holds while the stable's pods are unavailable", ro(4, 100, "1", "0"), sets((0, 0), (4, 1)), (1, 4)),
        ("scale down to maxUnavailable without exceeding maxSurge", ro(3, 99, "0", "2"), sets((0, 0), (3, 3)), (0, 1)),
        (
            "scale down to maxUnavailable without exceeding maxSurge, next reconcile",
            ro(3, 99, "0", "2"),
            sets((0, 0), (1, 1)),
            (2, 1),
        ),
        (
            "maxUnavailable holds while the stable's pods are unavailable",
            ro(4, 100, "1", "0"),
            sets((1, 1), (4, 1)),
            (1, 3),
        ),
        (
            "weight going down: the stable surges before the canary shrinks",
            ro(4, 0, "1", "0"),
            sets((4, 4), (0, 0)),
            (4, 1),
        ),
        (
            "weight going down: nothing moves while the surged stable is unavailable",
            ro(4, 0, "1", "0"),
            sets((4, 4), (1, 0)),
            (4, 1),
        ),
        ("weight going down: the canary shrinks by maxUnavailable", ro(4, 0, "1", "0"), sets((4, 4), (1, 1)), (3, 1)),
        ("promote --full ignores the weight", ro(4, 1, "4", "4").promote_full(), sets((0, 0), (4, 4)), (4, 0)),
        (
            "promote --full still honours maxSurge and maxUnavailable",
            ro(4, 1, "3", "0").promote_full(),
            sets((0, 0), (4, 4)),
            (3, 4),
        ),
        (
            "aborted with abortScaleDownDelaySeconds 0 keeps setCanaryScale",
            ro(1, 0, "0", "0").canary_scale(Some(1), None, false).routed().aborted(Some(0)),
            no_sets(),
            (1, 1),
        ),
        (
            "aborted with abortScaleDownDelaySeconds 30 drops setCanaryScale",
            ro(1, 0, "0", "0").canary_scale(Some(1), None, false).routed().aborted(Some(30)),
            no_sets(),
            (0, 1),
        ),
        (
            "minPodsPerReplicaSet lifts the first canary pods",
            ro(10, 5, "0", "0").routed().min_pods(2),
            no_sets(),
            (2, 10),
        ),
        (
            "minPodsPerReplicaSet is capped at spec.replicas",
            ro(1, 100, "0", "0").routed().min_pods(2).promote_full(),
            no_sets(),
            (1, 1),
        ),
    ];
    assert_eq!(cases.len(), 40, "TestCalculateReplicaCountsForCanary has 40 cases");
    check_counts("TestCalculateReplicaCountsForCanary", cases);
}

#[test]
fn calculate_replica_counts_other_fixtures() {
    let cases: Vec<CountCase> = vec![
        // TestCalculateReplicaCountsForNewDeployment
        ("the new ReplicaSet is the stable one", ro(10, 10, "0", "1").new_is_stable(), sets((10, 0), (10, 0)), (10, 0)),
        // TestCalculateReplicaCountsForCanaryStableRSdEdgeCases (both rollout hashes empty)
        ("no stable ReplicaSet", ro(10, 10, "0", "1").no_canary(), sets((9, 9), (0, 0)).no_stable(), (10, 0)),
        (
            "the stable ReplicaSet is the new one",
            ro(10, 10, "0", "1").no_canary().new_is_stable(),
            sets((9, 9), (9, 9)),
            (10, 0),
        ),
        // TestCalculateReplicaCountsForCanaryTrafficRouting
        ("traffic routing: 10% of 10 replicas", ro(10, 10, "0", "1").routed(), no_sets(), (1, 10)),
    ];
    check_counts("TestCalculateReplicaCountsForNewDeployment / StableRSdEdgeCases / TrafficRouting", cases);
}

#[test]
fn calculate_replica_counts_for_canary_traffic_routing_dynamic_scale() {
    // Argo's fixture: `newRollout(replicas, X, ...)` makes X the first setWeight step (the
    // case's "rolloutMaxReplicas"), the case's own steps follow, and the current step is the
    // first. Its canary ReplicaSet has every pod available (the table's separate canary
    // availability column is not read by the test), and a ReplicaSet with no replicas is
    // passed as missing.
    let dynamic = |replicas, first_weight| ro(replicas, first_weight, "0", "1").dynamic();
    let cases: Vec<CountCase> = vec![
        (
            "abort: the stable grows to the next lower setWeight step",
            dynamic(10, 20).aborted(None).more_steps(&[SetWeight(60)]),
            sets((6, 6), (4, 4)).applied(60, 40),
            (6, 8),
        ),
        (
            "abort: fewer canary pods than expected, the stable grows by its own availability",
            dynamic(10, 20).aborted(None).more_steps(&[SetWeight(60)]),
            sets((1, 1), (4, 4)).applied(60, 40),
            (6, 8),
        ),
        (
            "abort: the stable grows by its available pods",
            dynamic(10, 20).aborted(None).more_steps(&[SetWeight(60)]),
            sets((2, 2), (8, 4)).applied(60, 40),
            (6, 8),
        ),
        (
            "abort without ReplicaSets: the stable grows as if the canary were gone",
            dynamic(10, 20).aborted(None).more_steps(&[SetWeight(60)]),
            no_sets().applied(60, 40),
            (6, 10),
        ),
        ("the stable scales down", dynamic(10, 10), no_sets().applied(10, 90), (1, 9)),
        ("the desired canary (20%) beats the served one (10%)", dynamic(10, 20), no_sets().applied(10, 90), (2, 9)),
        (
            "abort keeps the canary while traffic still reaches it",
            dynamic(10, 20).aborted(None),
            no_sets().applied(20, 80),
            (2, 10),
        ),
        (
            "abort shrinks the canary with its traffic",
            dynamic(10, 20).aborted(None),
            no_sets().applied(10, 90),
            (1, 10),
        ),
    ];
    assert_eq!(cases.len(), 8, "TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale has 8 cases");
    check_counts("TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale", cases);
}

#[test]
fn approximate_weighted_new_stable_replica_counts() {
    // (replicas, weight, maxSurge) → (canary, stable), weight of 100; the comment is the
    // canary's share of the pods.
    let table: &[((i32, i32, i32), Pair)] = &[
        ((0, 0, 0), (0, 0)),     // no replicas
        ((0, 50, 0), (0, 0)),    // no replicas
        ((0, 100, 0), (0, 0)),   // no replicas
        ((0, 0, 1), (0, 0)),     // no replicas
        ((0, 50, 1), (0, 0)),    // no replicas
        ((0, 100, 1), (0, 0)),   // no replicas
        ((1, 0, 0), (0, 1)),     // 0%
        ((1, 1, 0), (0, 1)),     // 0%
        ((1, 49, 0), (0, 1)),    // 0%
        ((1, 50, 0), (1, 0)),    // 100%
        ((1, 99, 0), (1, 0)),    // 100%
        ((1, 100, 0), (1, 0)),   // 100%
        ((1, 0, 1), (0, 1)),     // 0%
        ((1, 1, 1), (1, 1)),     // 50%
        ((1, 49, 1), (1, 1)),    // 50%
        ((1, 50, 1), (1, 1)),    // 50%
        ((1, 99, 1), (1, 1)),    // 50%
        ((1, 100, 1), (1, 0)),   // 100%
        ((2, 0, 0), (0, 2)),     // 0%
        ((2, 1, 0), (1, 1)),     // 50%
        ((2, 50, 0), (1, 1)),    // 50%
        ((2, 99, 0), (1, 1)),    // 50%
        ((2, 100, 0), (2, 0)),   // 100%
        ((2, 0, 1), (0, 2)),     // 0%
        ((2, 1, 1), (1, 2)),     // 33.3%
        ((2, 50, 1), (1, 1)),    // 50%
        ((2, 99, 1), (2, 1)),    // 66.6%
        ((2, 100, 1), (2, 0)),   // 100%
        ((3, 10, 0), (1, 2)),    // 33.3%
        ((3, 25, 0), (1, 2)),    // 33.3%
        ((3, 33, 0), (1, 2)),    // 33.3%
        ((3, 34, 0), (1, 2)),    // 33.3%
        ((3, 49, 0), (1, 2)),    // 33.3%
        ((3, 50, 0), (2, 1)),    // 66.6%
        ((3, 10, 1), (1, 3)),    // 25%
        ((3, 25, 1), (1, 3)),    // 25%
        ((3, 33, 1), (1, 2)),    // 33.3%
        ((3, 34, 1), (1, 2)),    // 33.3%
        ((3, 49, 1), (2, 2)),    // 50%
        ((3, 50, 1), (2, 2)),    // 50%
        ((10, 0, 1), (0, 10)),   // 0%
        ((10, 1, 0), (1, 9)),    // 10%
        ((10, 14, 0), (1, 9)),   // 10%
        ((10, 15, 0), (2, 8)),   // 20%
        ((10, 16, 0), (2, 8)),   // 20%
        ((10, 99, 0), (9, 1)),   // 90%
        ((10, 100, 1), (10, 0)), // 100%
        ((10, 0, 1), (0, 10)),   // 0%
        ((10, 1, 1), (1, 10)),   // 9.1%
        ((10, 18, 1), (2, 9)),   // 18.1%
        ((10, 19, 1), (2, 9)),   // 18.1%
        ((10, 20, 1), (2, 8)),   // 20%
        ((10, 23, 1), (2, 8)),   // 20%
        ((10, 24, 1), (3, 8)),   // 27.2%
        ((10, 25, 1), (3, 8)),   // 27.2%
        ((10, 99, 1), (10, 1)),  // 90.9%
        ((10, 100, 1), (10, 0)), // 100%
    ];
    assert_eq!(table.len(), 57, "TestApproximateWeightedNewStableReplicaCounts has 57 cases");
    let results = table.iter().map(|&((replicas, weight, surge), expected)| {
        let name = format!("replicas {replicas}, weight {weight}, maxSurge {surge}");
        (name, approximate_weighted_counts(replicas, weight, 100, surge), expected)
    });
    check_all("TestApproximateWeightedNewStableReplicaCounts", results);
}

#[test]
fn traffic_weight_to_replicas_rounds_up() {
    let results = [
        ("no weight, no pods", traffic_weight_to_replicas(10, 0, 100), 0),
        ("20% of 10", traffic_weight_to_replicas(10, 20, 100), 2),
        ("25% of 10 rounds up", traffic_weight_to_replicas(10, 25, 100), 3),
        ("33% of 10 rounds up", traffic_weight_to_replicas(10, 33, 100), 4),
        ("99% of 10 rounds up to all", traffic_weight_to_replicas(10, 99, 100), 10),
        ("100% of 10", traffic_weight_to_replicas(10, 100, 100), 10),
        ("a huge maxTrafficWeight does not overflow", traffic_weight_to_replicas(23, 100_000_000, 100_000_000), 23),
    ];
    check_all("TestTrafficWeightToReplicas", results);
}

#[test]
fn get_current_set_weight() {
    // Argo's fixture: one setWeight 10 step.
    let steps = [SetWeight(10)];
    let results = [
        ("past the last step: full weight", current_set_weight(&steps, 1, false, 100), 100),
        ("at the setWeight step", current_set_weight(&steps, 0, false, 100), 10),
        ("aborted: no weight", current_set_weight(&steps, 0, true, 100), 0),
    ];
    check_all("TestGetCurrentSetWeight", results);
}

#[test]
fn at_desired_replica_counts_for_canary() {
    // Argo's fixture: 4 replicas, maxSurge 1, maxUnavailable 1, no traffic routing (so the
    // step's setCanaryScale is ignored), no older ReplicaSets. `stable_created` is the stable's
    // `status.replicas`.
    let scaled = |weight| ro(4, weight, "1", "1").canary_scale(Some(2), Some(2), false);
    let plain = |weight| ro(4, weight, "1", "1").canary_scale(None, None, false);
    let cases: Vec<(&str, Ro, ReplicaSets, i32, bool)> = vec![
        ("new and stable at their counts, all available", scaled(50), sets((2, 2), (2, 2)), 2, true),
        ("a new pod not available", scaled(50), sets((2, 1), (2, 2)), 2, false),
        ("the stable above its count", plain(75), sets((3, 3), (2, 2)), 2, false),
        ("the stable at its count but unavailable: done", plain(75), sets((3, 3), (1, 0)), 1, true),
        ("the stable's status lags its spec", scaled(50), sets((2, 2), (2, 2)), 3, false),
    ];
    let results = cases.iter().map(|(name, ro, rs, stable_created, expected)| {
        let input = basic(ro, rs);
        let check = StepCheck { scaling: Scaling::Basic(&input), stable_created: *stable_created, threshold: None };
        (*name, at_desired_counts(&check), *expected)
    });
    check_all("TestAtDesiredReplicaCountsForCanary", results);
}

/// An explicit canary size, or else a weight.
type ScaleOrWeight = (Option<CanaryScale>, i32);

#[test]
fn get_canary_replicas_or_weight() {
    let routed_at_second =
        |second: ScalingStep| ro(10, 10, "0", "0").steps(&[SetWeight(10), second]).at_step(1).routed();
    let cases: Vec<(&str, Ro, ScaleOrWeight)> = vec![
        ("promote --full: full weight", ro(10, 10, "0", "0").steps(&[]).promote_full().no_canary(), (None, 100)),
        (
            "setCanaryScale weight",
            routed_at_second(SetCanaryScale { replicas: None, weight: Some(20), match_traffic_weight: false }),
            (Some(CanaryScale::Weight(20)), 20),
        ),
        (
            "setCanaryScale replicas",
            routed_at_second(SetCanaryScale { replicas: Some(5), weight: None, match_traffic_weight: false }),
            (Some(CanaryScale::Replicas(5)), 0),
        ),
        // Argo's case is a blue-green Rollout, aborted, with no stable recorded; serin runs
        // canaries only, and what decides the answer is the missing stable.
        (
            "no stable recorded, aborted: full weight",
            ro(10, 10, "0", "0").steps(&[]).no_canary().aborted(None),
            (None, 100),
        ),
    ];
    let results = cases
        .iter()
        .map(|(name, ro, expected)| (*name, canary_replicas_or_weight(&ro.weight_context(&no_sets())), *expected));
    check_all("TestGetCanaryReplicasOrWeight", results);
}

#[test]
fn get_desired_canary_weight_on_abort_with_scale_down_delay() {
    // Argo's fixture: 10 replicas, setWeight 10 then 50, dynamicStableScale, aborted, a canary
    // of 5 available pods and a stable whose pods are all available.
    let aborted = |delay| ro(10, 50, "1", "0").dynamic().steps(&[SetWeight(10), SetWeight(50)]).aborted(delay);
    let with_stable = |stable| sets((5, 5), (stable, stable));
    let cases: Vec<(&str, Ro, ReplicaSets, i32)> = vec![
        ("no explicit delay: the canary's size holds the weight up", aborted(None), with_stable(9), 10),
        ("explicit delay: the weight steps down while the stable grows", aborted(Some(30)), with_stable(5), 10),
        (
            "explicit delay: the weight reaches 0 once the stable nearly covers all",
            aborted(Some(30)),
            with_stable(9),
            0,
        ),
        ("explicit 0 (canary kept): the canary's size holds the weight up", aborted(Some(0)), with_stable(9), 10),
    ];
    let results =
        cases.iter().map(|(name, ro, rs, expected)| (*name, desired_canary_weight(&ro.weight_context(rs)), *expected));
    check_all("TestGetDesiredCanaryWeightOnAbortWithScaleDownDelay (weights)", results);

    // "stable scales to spec.Replicas once weight reaches zero"
    let (_, stable) = desired(&aborted(Some(30)), &with_stable(9).applied(10, 90));
    assert_eq!(stable, 10, "the stable scales to spec.replicas once the weight reaches zero");
}

#[test]
fn all_replica_progress_threshold_met_and_all_desired_available() {
    // Argo's TestAllReplicaProgressThresholdMet. Its ReplicaSets mostly leave spec.replicas
    // out, which a threshold never reads; serin's counts say 0 there.
    let percent = |p| Some(ProgressThreshold::Percent(p));
    let pods = |n| Some(ProgressThreshold::Pods(n));
    let available = |n| counts((0, n));
    let results = [
        ("90% available meets a 90% threshold", replica_progress_threshold_met(percent(90), available(9), 10), true),
        ("9 available meets a 9-pod threshold", replica_progress_threshold_met(pods(9), available(9), 10), true),
        ("80% available misses a 90% threshold", replica_progress_threshold_met(percent(90), available(8), 10), false),
        ("7 available misses an 8-pod threshold", replica_progress_threshold_met(pods(8), available(7), 10), false),
        (
            "a negative threshold wants every desired pod available",
            replica_progress_threshold_met(pods(-100), counts((10, 10)), 10),
            true,
        ),
        (
            "no threshold wants the spec at the desired count too",
            replica_progress_threshold_met(None, counts((5, 10)), 10),
            false,
        ),
        ("no ReplicaSet never meets a threshold", replica_progress_threshold_met(pods(5), None, 10), false),
        ("far above a 100% threshold meets it", replica_progress_threshold_met(percent(100), available(100), 10), true),
        (
            "nothing desired meets a percentage threshold",
            replica_progress_threshold_met(percent(90), available(0), 0),
            true,
        ),
    ];
    check_all("TestAllReplicaProgressThresholdMet", results);

    // Argo's TestAllDesiredAreAvailable (no threshold). Kubernetes defaults a ReplicaSet's
    // spec.replicas to 1, so the cases that leave it out have a spec of 1 here.
    let results = [
        ("every desired pod available", replica_progress_threshold_met(None, counts((10, 10)), 10), true),
        ("one desired pod not available", replica_progress_threshold_met(None, counts((10, 9)), 10), false),
        ("no ReplicaSet", replica_progress_threshold_met(None, None, 10), false),
        ("a defaulted spec of 1 is not 10 desired", replica_progress_threshold_met(None, counts((1, 10)), 10), false),
        ("a defaulted spec of 1 is 1 desired", replica_progress_threshold_met(None, counts((1, 1)), 1), true),
    ];
    check_all("TestAllDesiredAreAvailable", results);
}

#[test]
fn a_step_with_a_progress_threshold_checks_availability_only() {
    // Argo's AtDesiredReplicaCountsForCanary asks the threshold only: a new ReplicaSet whose
    // spec is still above the step's count (the canary shrinking to a lower setCanaryScale)
    // completes the step once enough pods are available. 10 replicas at 30% want 3 canary pods.
    let ro = ro(10, 30, "0", "0").routed();
    let rs = sets((5, 3), (10, 10));
    let input = traffic_routed(&ro, &rs);
    let check = |threshold| {
        at_desired_counts(&StepCheck {
            scaling: Scaling::TrafficRouted { input: &input, new_rs: rs.new, stable_rs: rs.stable },
            stable_created: 10,
            threshold,
        })
    };
    let results = [
        ("3 of 3 available at 100%", check(Some(ProgressThreshold::Percent(100))), true),
        ("3 available against a 3-pod threshold", check(Some(ProgressThreshold::Pods(3))), true),
        ("no threshold: the spec must come down to 3 first", check(None), false),
    ];
    check_all("AtDesiredReplicaCountsForCanary with replicaProgressThreshold", results);
}

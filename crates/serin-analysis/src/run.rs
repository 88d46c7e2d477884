//! The AnalysisRun state machine, as one pure function.
//!
//! Argo Rollouts' analysis controller measures metrics inside its reconcile loop. Here the two are
//! split so that the platform can run providers however it likes: [`reconcile`] looks at the spec,
//! the stored status and the time, and says which metrics to measure now, what the status becomes
//! (metric phases, run phase and message, summaries) and when to look again; the caller measures,
//! [`record`]s each finished measurement, and calls [`reconcile`] again straight away to assess
//! them. The status serializes exactly as Argo writes `AnalysisRun.status`.
//!
//! Semantics follow Argo's `analysis/analysis.go`: `count`/`interval` (neither: one measurement;
//! interval alone: until terminated), `initialDelay`, `failureLimit` (default 0, -1 disables),
//! `inconclusiveLimit` (0), `consecutiveErrorLimit` (4), `consecutiveSuccessLimit`, errors retried
//! after 10s, the run phase as the worst non-dry-run metric phase, termination (explicit, or
//! because a metric Failed, Errored or was Inconclusive) ending running metrics as Successful, and
//! measurement retention (10 unless `measurementRetention` says otherwise).

mod plan;

use crate::assess::{Measurement, Phase, guard_min_sample};
use plan::Plan;
use serde::{Deserialize, Serialize};
use serin_model::Time;
use serin_model::analysis::{AnalysisRunSpec, Metric};
use serin_model::rollout::{DryRun, MeasurementRetention};
use std::collections::BTreeMap;

/// Measurements kept per metric unless `measurementRetention` says otherwise.
pub const DEFAULT_MEASUREMENT_RETENTION: usize = 10;
/// Consecutive errors a metric tolerates unless `consecutiveErrorLimit` says otherwise.
pub const DEFAULT_CONSECUTIVE_ERROR_LIMIT: i64 = 4;
/// How long after an errored measurement the next one is taken.
pub const ERROR_RETRY_INTERVAL_MS: i64 = 10_000;

/// One metric of a run, with serin's additions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricSpec {
    pub metric: Metric,
    /// The fewest samples a measurement must be computed over to count as a pass or a failure;
    /// below it, the measurement is Inconclusive (see [`crate::assess::guard_min_sample`]).
    pub min_sample: Option<u64>,
}

impl From<Metric> for MetricSpec {
    fn from(metric: Metric) -> Self {
        MetricSpec { metric, min_sample: None }
    }
}

/// What an AnalysisRun asks for: its metrics (arguments already substituted), dry-run and
/// retention rules (metric names as Argo's regular expressions; `*` also means all) and whether
/// it has been told to terminate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSpec {
    pub metrics: Vec<MetricSpec>,
    pub dry_run: Vec<DryRun>,
    pub measurement_retention: Vec<MeasurementRetention>,
    pub terminate: bool,
}

impl RunSpec {
    pub fn new(metrics: impl IntoIterator<Item = Metric>) -> Self {
        RunSpec { metrics: metrics.into_iter().map(MetricSpec::from).collect(), ..RunSpec::default() }
    }

    /// The run spec of an AnalysisRun manifest (no minimum samples).
    pub fn from_analysis_run(spec: &AnalysisRunSpec) -> Self {
        RunSpec {
            metrics: spec.metrics.iter().cloned().map(MetricSpec::from).collect(),
            dry_run: spec.dry_run.clone(),
            measurement_retention: spec.measurement_retention.clone(),
            terminate: spec.terminate.unwrap_or(false),
        }
    }

    /// Marks the metrics whose names match `pattern` as dry-run.
    pub fn with_dry_run(mut self, pattern: &str) -> Self {
        self.dry_run.push(DryRun { metric_name: pattern.to_string() });
        self
    }

    /// Keeps `limit` measurements for the metrics whose names match `pattern`.
    pub fn with_retention(mut self, pattern: &str, limit: i32) -> Self {
        self.measurement_retention.push(MeasurementRetention { metric_name: pattern.to_string(), limit });
        self
    }

    /// Requires at least `min` samples per measurement of the named metric.
    pub fn with_min_sample(mut self, metric: &str, min: u64) -> Self {
        if let Some(m) = self.metrics.iter_mut().find(|m| m.metric.name == metric) {
            m.min_sample = Some(min);
        }
        self
    }
}

/// Counts of metric outcomes, Argo's `runSummary` and `dryRunSummary`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub count: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub successful: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inconclusive: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub error: i32,
}

/// One metric's measurements and counters, Argo's `MetricResult`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    pub name: String,
    #[serde(default)]
    pub phase: Phase,
    /// The most recent measurements, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Measurements that did not error: successful + failed + inconclusive.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub count: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub successful: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inconclusive: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub error: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consecutive_error: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consecutive_success: i32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl MetricResult {
    fn last(&self) -> Option<&Measurement> {
        self.measurements.last()
    }

    /// Counts a completed measurement as Argo's `runMeasurements` does.
    fn count_measurement(&mut self, phase: Phase) {
        match phase {
            Phase::Successful => {
                self.successful += 1;
                self.count += 1;
                self.consecutive_error = 0;
                self.consecutive_success += 1;
            }
            Phase::Failed | Phase::Inconclusive => {
                if phase == Phase::Failed {
                    self.failed += 1;
                } else {
                    self.inconclusive += 1;
                }
                self.count += 1;
                self.consecutive_error = 0;
                self.consecutive_success = 0;
            }
            Phase::Error => {
                self.error += 1;
                self.consecutive_error += 1;
                self.consecutive_success = 0;
            }
            Phase::Pending | Phase::Running => {}
        }
    }

    fn trim(&mut self, keep: usize) {
        let len = self.measurements.len();
        if len > keep {
            self.measurements.drain(..len - keep);
        }
    }
}

/// Argo's `AnalysisRunStatus`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStatus {
    #[serde(default)]
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_results: Vec<MetricResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default)]
    pub run_summary: RunSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run_summary: Option<RunSummary>,
}

impl RunStatus {
    pub fn result(&self, metric: &str) -> Option<&MetricResult> {
        self.metric_results.iter().find(|r| r.name == metric)
    }

    fn result_mut(&mut self, metric: &str) -> Option<&mut MetricResult> {
        self.metric_results.iter_mut().find(|r| r.name == metric)
    }

    /// Whether the run is winding down: told to terminate, or a metric that is not dry-run
    /// already Failed, Errored or was Inconclusive.
    fn is_terminating(&self, terminate: bool) -> bool {
        terminate
            || self
                .metric_results
                .iter()
                .any(|r| !r.dry_run && matches!(r.phase, Phase::Failed | Phase::Error | Phase::Inconclusive))
    }
}

/// What [`reconcile`] decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Metrics to measure now, in spec order. Measure each, [`record`] the result, then call
    /// [`reconcile`] again straight away.
    pub measure: Vec<String>,
    pub status: RunStatus,
    /// When to call [`reconcile`] next if nothing is measured now; `None` when the run is complete
    /// or only waits on in-flight measurements with no resume time.
    pub next_reconcile: Option<Time>,
}

/// Assesses the run at `now` and decides what to measure; see the module documentation.
pub fn reconcile(spec: &RunSpec, status: &RunStatus, now: Time) -> Decision {
    let mut status = status.clone();
    if status.phase.is_completed() {
        return Decision { measure: Vec::new(), status, next_reconcile: None };
    }
    let plans = match plan::plan(spec) {
        Ok(plans) => plans,
        Err(message) => {
            status.started_at.get_or_insert(now);
            status.phase = Phase::Error;
            status.message = format!("Analysis spec invalid: {message}");
            return Decision { measure: Vec::new(), status, next_reconcile: None };
        }
    };
    let started_at = *status.started_at.get_or_insert(now);

    // Assess until the run's terminating state settles: a metric that fails now ends its running
    // siblings in the same call, where Argo would need another reconcile.
    let (phase, message) = loop {
        let terminating = status.is_terminating(spec.terminate);
        if terminating {
            terminate_in_flight(&plans, &mut status, now);
        }
        let assessed = assess_run(&plans, &mut status, terminating, spec.terminate);
        if status.is_terminating(spec.terminate) == terminating {
            break assessed;
        }
    };
    if phase != status.phase {
        status.phase = phase;
        status.message = message;
    }
    for plan in &plans {
        if let Some(result) = status.result_mut(plan.name) {
            result.trim(plan.retention);
        }
    }
    if status.phase.is_completed() {
        return Decision { measure: Vec::new(), status, next_reconcile: None };
    }
    let terminating = status.is_terminating(spec.terminate);
    let measure = plans
        .iter()
        .filter(|plan| is_due(plan, &status, started_at, terminating, now))
        .map(|plan| plan.name.to_string())
        .collect();
    let next_reconcile = plans.iter().filter_map(|plan| next_time(plan, &status, started_at)).min();
    Decision { measure, status, next_reconcile }
}

/// Adds a measurement of `metric` to the status, as Argo's `runMeasurements` does once a provider
/// returns: the counters move (Error only touches the error counters), an in-flight measurement
/// is replaced rather than appended to, and old measurements beyond the retention limit are
/// dropped. The metric's minimum-sample guard applies here. Call [`reconcile`] afterwards to
/// assess the metric and the run.
///
/// A completed measurement without `finished_at` is taken to have finished when it started (or,
/// failing that, with the previous measurement or at the run's start), since nothing here reads
/// the clock.
pub fn record(status: &mut RunStatus, metric: &str, measurement: Measurement, spec: &RunSpec) {
    let metric_spec = spec.metrics.iter().find(|m| m.metric.name == metric);
    let dry_run = plan::dry_run_matches(&spec.dry_run, metric);
    let retention = plan::retention_for(&spec.measurement_retention, metric);
    let mut measurement = measurement;
    let min_sample = metric_spec.and_then(|m| m.min_sample);
    let message = Some(std::mem::take(&mut measurement.message)).filter(|m| !m.is_empty());
    let (phase, message) = guard_min_sample(measurement.phase, message, measurement.sample, min_sample);
    measurement.phase = phase;
    measurement.message = message.unwrap_or_default();

    let run_started = status.started_at;
    if status.result(metric).is_none() {
        status.metric_results.push(MetricResult {
            name: metric.to_string(),
            phase: Phase::Running,
            dry_run,
            ..MetricResult::default()
        });
    }
    let Some(result) = status.result_mut(metric) else { return };
    if measurement.phase.is_completed() && measurement.finished_at.is_none() {
        let previous = result.last().and_then(|m| m.finished_at);
        measurement.finished_at = Some(measurement.started_at.or(previous).or(run_started).unwrap_or_default());
    }
    result.count_measurement(measurement.phase);
    match result.measurements.last_mut() {
        Some(last) if last.finished_at.is_none() => *last = measurement,
        _ => result.measurements.push(measurement),
    }
    result.trim(retention);
}

/// Ends in-flight measurements of running metrics, as Argo asks providers to terminate them.
fn terminate_in_flight(plans: &[Plan], status: &mut RunStatus, now: Time) {
    for plan in plans {
        let Some(result) = status.result_mut(plan.name) else { continue };
        if result.phase.is_completed() {
            continue;
        }
        let Some(last) = result.measurements.last_mut() else { continue };
        if last.finished_at.is_some() {
            continue;
        }
        last.phase = Phase::Successful;
        last.message = "Metric Terminated".to_string();
        last.finished_at = Some(now);
        last.resume_at = None;
        result.count_measurement(Phase::Successful);
    }
}

/// Argo's `assessRunStatus`: updates each metric's phase and returns the run's phase and message.
fn assess_run(plans: &[Plan], status: &mut RunStatus, terminating: bool, terminate: bool) -> (Phase, String) {
    let mut worst: Option<Phase> = None;
    let mut worst_message = if terminate { "Run Terminated".to_string() } else { String::new() };
    let mut everything_completed = true;
    let mut run_summary = RunSummary::default();
    let mut dry_run_summary = RunSummary::default();

    for plan in plans {
        if plan.dry_run {
            dry_run_summary.count += 1;
        } else {
            run_summary.count += 1;
        }
        let Some(result) = status.result_mut(plan.name) else {
            // Not measured yet, e.g. still in its initial delay.
            everything_completed = false;
            continue;
        };
        result.dry_run = plan.dry_run;
        let metric_phase = assess_metric(plan, result, terminating);
        if result.phase != metric_phase {
            if let Some(last) = result.last() {
                result.message = last.message.clone();
            }
            result.phase = metric_phase;
        }
        if !metric_phase.is_completed() {
            everything_completed = false;
            continue;
        }
        let (limit_phase, limit_message) = plan.limit_breached(result);
        let summary = if plan.dry_run { &mut dry_run_summary } else { &mut run_summary };
        match limit_phase {
            Some(Phase::Error) => summary.error += 1,
            Some(Phase::Failed) => summary.failed += 1,
            Some(Phase::Inconclusive) => summary.inconclusive += 1,
            _ => summary.successful += 1,
        }
        if plan.dry_run {
            // A dry-run metric never decides the run, but says what it would have done.
            worst.get_or_insert(Phase::Successful);
            if let Some(reason) = limit_message {
                result.message = format!("Metric assessed {metric_phase} due to {reason}");
            }
        } else if worst.is_none_or(|w| metric_phase.is_worse_than(w)) {
            worst = Some(metric_phase);
            if let Some(reason) = limit_message {
                worst_message = format!("Metric \"{}\" assessed {metric_phase} due to {reason}", plan.name);
                if !result.message.is_empty() {
                    worst_message.push_str(&format!(": \"Error Message: {}\"", result.message));
                }
            }
        }
    }
    status.run_summary = run_summary;
    status.dry_run_summary = Some(dry_run_summary);
    let worst_message = worst_message.trim().to_string();
    if terminating {
        return (worst.unwrap_or(Phase::Successful), worst_message);
    }
    match worst {
        Some(worst) if everything_completed => (worst, worst_message),
        _ => (Phase::Running, String::new()),
    }
}

/// Argo's `assessMetricStatus`.
fn assess_metric(plan: &Plan, result: &MetricResult, terminating: bool) -> Phase {
    if result.phase.is_completed() {
        return result.phase;
    }
    let Some(last) = result.last() else {
        // Told to stop before a single measurement was taken.
        return if terminating { Phase::Successful } else { Phase::Pending };
    };
    if !last.phase.is_completed() {
        return Phase::Running;
    }
    if let (Some(phase), _) = plan.limit_breached(result) {
        return phase;
    }
    if plan.consecutive_success_limit > 0 && i64::from(result.consecutive_success) >= plan.consecutive_success_limit {
        return Phase::Successful;
    }
    if plan.count_reached(result) {
        // failureLimit and consecutiveSuccessLimit both apply but neither decided: nobody can say.
        if plan.consecutive_success_limit > 0 && plan.failure_limit >= 0 {
            return Phase::Inconclusive;
        }
        // Only consecutiveSuccessLimit applies, and it was not reached.
        if plan.consecutive_success_limit > 0 {
            return Phase::Failed;
        }
        return Phase::Successful;
    }
    // The metric runs until terminated.
    if terminating { Phase::Successful } else { Phase::Running }
}

/// Argo's `generateMetricTasks` for one metric: whether it must be measured now.
fn is_due(plan: &Plan, status: &RunStatus, started_at: Time, terminating: bool, now: Time) -> bool {
    let result = status.result(plan.name);
    if result.is_some_and(|r| r.phase.is_completed()) {
        return false;
    }
    let last = result.and_then(MetricResult::last);
    if let Some(last) = last
        && last.finished_at.is_none()
    {
        // In flight: the caller resumes it once its resume time has come.
        return last.resume_at.is_none_or(|at| at <= now);
    }
    if terminating {
        return false;
    }
    let Some(last) = last else {
        return plan.initial_delay.is_none_or(|delay| started_at.plus_millis(delay) <= now);
    };
    if result.is_some_and(|r| plan.count_reached(r)) {
        return false;
    }
    let interval = if last.phase == Phase::Error {
        ERROR_RETRY_INTERVAL_MS
    } else {
        plan.interval.unwrap_or(ERROR_RETRY_INTERVAL_MS)
    };
    last.finished_at.is_some_and(|finished| finished.plus_millis(interval) <= now)
}

/// Argo's `calculateNextReconcileTime` for one metric.
fn next_time(plan: &Plan, status: &RunStatus, started_at: Time) -> Option<Time> {
    let result = status.result(plan.name);
    if result.is_some_and(|r| r.phase.is_completed()) {
        return None;
    }
    let Some(last) = result.and_then(MetricResult::last) else {
        return plan.initial_delay.map(|delay| started_at.plus_millis(delay));
    };
    let Some(finished) = last.finished_at else {
        return last.resume_at;
    };
    if result.is_some_and(|r| plan.count_reached(r)) {
        return None;
    }
    let interval = if last.phase == Phase::Error { Some(ERROR_RETRY_INTERVAL_MS) } else { plan.interval }?;
    Some(finished.plus_millis(interval))
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests;

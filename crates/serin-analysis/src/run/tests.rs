//! Argo's analysis controller tests (named per test), the limit and timing tables, and
//! properties of the reconcile/record loop.

use super::*;
use proptest::prelude::*;
use serde_json::json;
use serin_model::IntOrString;
use serin_model::analysis::{MetricProvider, PrometheusMetric};

const T0: Time = Time(1_700_000_000_000);

fn at(seconds: i64) -> Time {
    T0.plus_millis(seconds * 1000)
}

fn metric(name: &str) -> Metric {
    Metric {
        name: name.into(),
        provider: MetricProvider {
            prometheus: Some(PrometheusMetric { query: "up".into(), ..PrometheusMetric::default() }),
            ..MetricProvider::default()
        },
        ..Metric::default()
    }
}

/// A metric with settings, written compactly: `m("rate").interval("60s").count(3)`.
trait MetricBuilder {
    fn interval(self, d: &str) -> Self;
    fn initial_delay(self, d: &str) -> Self;
    fn count(self, n: i64) -> Self;
    fn failure_limit(self, n: i64) -> Self;
    fn inconclusive_limit(self, n: i64) -> Self;
    fn consecutive_error_limit(self, n: i64) -> Self;
    fn consecutive_success_limit(self, n: i64) -> Self;
}

impl MetricBuilder for Metric {
    fn interval(mut self, d: &str) -> Self {
        self.interval = Some(d.into());
        self
    }
    fn initial_delay(mut self, d: &str) -> Self {
        self.initial_delay = Some(d.into());
        self
    }
    fn count(mut self, n: i64) -> Self {
        self.count = Some(n.into());
        self
    }
    fn failure_limit(mut self, n: i64) -> Self {
        self.failure_limit = Some(n.into());
        self
    }
    fn inconclusive_limit(mut self, n: i64) -> Self {
        self.inconclusive_limit = Some(n.into());
        self
    }
    fn consecutive_error_limit(mut self, n: i64) -> Self {
        self.consecutive_error_limit = Some(n.into());
        self
    }
    fn consecutive_success_limit(mut self, n: i64) -> Self {
        self.consecutive_success_limit = Some(n.into());
        self
    }
}

/// A finished measurement at `seconds` after T0.
fn done(phase: Phase, seconds: i64) -> Measurement {
    Measurement {
        phase,
        started_at: Some(at(seconds)),
        finished_at: Some(at(seconds)),
        value: "99".into(),
        ..Measurement::default()
    }
}

/// An in-flight measurement started at `seconds` after T0.
fn in_flight(seconds: i64) -> Measurement {
    Measurement { phase: Phase::Running, started_at: Some(at(seconds)), ..Measurement::default() }
}

fn result(name: &str, phase: Phase, measurements: Vec<Measurement>) -> MetricResult {
    MetricResult { name: name.into(), phase, measurements, ..MetricResult::default() }
}

fn running(results: Vec<MetricResult>) -> RunStatus {
    RunStatus { phase: Phase::Running, metric_results: results, started_at: Some(T0), ..RunStatus::default() }
}

fn metric_phase(plan_spec: &RunSpec, result: &MetricResult, terminating: bool) -> Phase {
    let plans = plan::plan(plan_spec).expect("valid spec");
    let plan = plans.iter().find(|p| p.name == result.name).expect("metric in spec");
    assess_metric(plan, result, terminating)
}

/// Drives a run to completion as a platform would: reconcile, measure what is due (the outcome
/// of the n-th measurement of a metric comes from `outcome`), record, reconcile again, and
/// otherwise sleep until `next_reconcile`. Returns the final status and when each metric was
/// measured.
fn drive(
    spec: &RunSpec,
    mut outcome: impl FnMut(&str, usize) -> Measurement,
    horizon: Time,
) -> (RunStatus, Vec<(String, i64)>) {
    let mut status = RunStatus::default();
    let mut now = T0;
    let mut log: Vec<(String, i64)> = Vec::new();
    for _ in 0..10_000 {
        let decision = reconcile(spec, &status, now);
        status = decision.status;
        if status.phase.is_completed() {
            assert!(decision.measure.is_empty() && decision.next_reconcile.is_none());
            break;
        }
        if !decision.measure.is_empty() {
            for name in decision.measure {
                let n = log.iter().filter(|(m, _)| *m == name).count();
                let mut measurement = outcome(&name, n);
                measurement.started_at = Some(now);
                measurement.finished_at = Some(now);
                record(&mut status, &name, measurement, spec);
                log.push((name, now.since(T0) / 1000));
            }
            continue;
        }
        let Some(next) = decision.next_reconcile else { break };
        assert!(next > now, "next reconcile {next:?} is not after now {now:?} and nothing is due");
        if next > horizon {
            break;
        }
        now = next;
    }
    (status, log)
}

fn outcome(phase: Phase) -> Measurement {
    Measurement { phase, value: "1".into(), ..Measurement::default() }
}

fn times(log: &[(String, i64)], metric: &str) -> Vec<i64> {
    log.iter().filter(|(m, _)| m == metric).map(|(_, t)| *t).collect()
}

// ---- Argo's generateMetricTasks tests ----

/// TestGenerateMetricTasksInterval
#[test]
fn tasks_respect_the_interval() {
    let spec = RunSpec::new([metric("success-rate").interval("60s")]);
    let status = running(vec![result("success-rate", Phase::Running, vec![done(Phase::Successful, 0)])]);
    assert!(reconcile(&spec, &status, at(50)).measure.is_empty());
    assert_eq!(reconcile(&spec, &status, at(61)).measure, ["success-rate"]);
    // Exactly at the interval is due: reconciling at `next_reconcile` must make progress.
    let decision = reconcile(&spec, &status, at(50));
    assert_eq!(decision.next_reconcile, Some(at(60)));
    assert_eq!(reconcile(&spec, &status, at(60)).measure, ["success-rate"]);
}

/// TestGenerateMetricTasksFailing
#[test]
fn no_tasks_once_a_metric_failed() {
    let spec = RunSpec::new([metric("success-rate"), metric("latency")]);
    let status = running(vec![result("latency", Phase::Failed, vec![])]);
    let decision = reconcile(&spec, &status, at(0));
    assert!(decision.measure.is_empty());
    assert_eq!(decision.status.phase, Phase::Failed);
    let decision = reconcile(&spec, &running(vec![]), at(0));
    assert_eq!(decision.measure, ["success-rate", "latency"]);
}

/// TestGenerateMetricTasksNoIntervalOrCount, TestCalculateNextReconcileTimeNoInterval
#[test]
fn neither_count_nor_interval_measures_once() {
    let spec = RunSpec::new([metric("success-rate")]);
    let mut measured = result("success-rate", Phase::Running, vec![done(Phase::Successful, 0)]);
    measured.count = 1;
    measured.successful = 1;
    let decision = reconcile(&spec, &running(vec![measured]), at(50));
    assert!(decision.measure.is_empty());
    assert_eq!(decision.status.phase, Phase::Successful);
    assert_eq!(decision.next_reconcile, None);
    assert_eq!(reconcile(&spec, &running(vec![]), at(50)).measure, ["success-rate"]);
}

/// TestGenerateMetricTasksIncomplete, TestReconcileAnalysisRunResumeInProgress
#[test]
fn in_flight_measurements_are_resumed() {
    let spec = RunSpec::new([metric("success-rate")]);
    let mut unfinished = done(Phase::Successful, 0);
    unfinished.finished_at = None;
    let status = running(vec![result("success-rate", Phase::Running, vec![unfinished])]);
    assert_eq!(reconcile(&spec, &status, at(50)).measure, ["success-rate"]);

    let mut status = running(vec![result("test", Phase::Running, vec![in_flight(-60)])]);
    let spec = RunSpec::new([metric("test")]);
    let decision = reconcile(&spec, &status, at(0));
    assert_eq!(decision.measure, ["test"]);
    assert_eq!(decision.status.phase, Phase::Running);
    record(&mut status, "test", done(Phase::Successful, 0), &spec);
    assert_eq!(status.metric_results[0].measurements.len(), 1, "the in-flight measurement is replaced");
    let decision = reconcile(&spec, &status, at(0));
    assert_eq!(decision.status.phase, Phase::Successful);
    assert_eq!(decision.status.metric_results[0].phase, Phase::Successful);
    assert!(decision.status.metric_results[0].measurements[0].finished_at.is_some());
}

/// TestGenerateMetricTasksHonorInitialDelay, TestCalculateNextReconcileTimeInitialDelay
#[test]
fn initial_delay_postpones_the_first_measurement() {
    let spec = RunSpec::new([metric("success-rate").initial_delay("20s")]);
    let started = |seconds| RunStatus { started_at: Some(at(seconds)), ..running(vec![]) };
    let decision = reconcile(&spec, &started(-10), at(0));
    assert!(decision.measure.is_empty());
    assert_eq!(decision.next_reconcile, Some(at(10)));
    assert_eq!(reconcile(&spec, &started(-20), at(0)).measure, ["success-rate"]);
    // A run seen for the first time starts now.
    let decision = reconcile(&spec, &RunStatus::default(), at(0));
    assert_eq!(decision.status.started_at, Some(at(0)));
    assert_eq!(decision.next_reconcile, Some(at(20)));

    let spec = RunSpec::new([
        metric("success-rate").interval("60s"),
        metric("start-delay").interval("60s").initial_delay("40s"),
    ]);
    let status = RunStatus {
        started_at: Some(at(-30)),
        ..running(vec![result("success-rate", Phase::Running, vec![done(Phase::Successful, -30)])])
    };
    assert_eq!(reconcile(&spec, &status, at(0)).next_reconcile, Some(at(10)));

    let spec = RunSpec::new([metric("success-rate").initial_delay("invalid-start-delay")]);
    let decision = reconcile(&spec, &started(-20), at(0));
    assert_eq!(decision.status.phase, Phase::Error);
    assert_eq!(
        decision.status.message,
        "Analysis spec invalid: metrics[0]: invalid startDelay string: invalid duration \"invalid-start-delay\""
    );
}

/// TestGenerateMetricTasksHonorResumeAt, TestCalculateNextReconcileHonorResumeAt
#[test]
fn resume_at_is_honoured() {
    let spec = RunSpec::new([metric("success-rate"), metric("success-rate2")]);
    let with_resume = |seconds| Measurement { resume_at: Some(at(seconds)), ..in_flight(-50) };
    let status = running(vec![
        result("success-rate", Phase::Running, vec![with_resume(10)]),
        result("success-rate2", Phase::Running, vec![with_resume(-10)]),
    ]);
    let decision = reconcile(&spec, &status, at(0));
    assert_eq!(decision.measure, ["success-rate2"]);
    assert_eq!(decision.next_reconcile, Some(at(-10)));

    let spec = RunSpec::new([metric("success-rate").interval("60s")]);
    let status = running(vec![result("success-rate", Phase::Running, vec![with_resume(10)])]);
    assert_eq!(reconcile(&spec, &status, at(0)).next_reconcile, Some(at(10)));
}

/// TestGenerateMetricTasksError, TestCalculateNextReconcileUponError
#[test]
fn errors_are_retried_after_ten_seconds() {
    for interval in [None, Some("5m")] {
        let mut m = metric("success-rate");
        m.interval = interval.map(str::to_string);
        let spec = RunSpec::new([m]);
        let mut errored = result("success-rate", Phase::Running, vec![done(Phase::Error, -120)]);
        errored.error = 1;
        errored.consecutive_error = 1;
        assert_eq!(reconcile(&spec, &running(vec![errored.clone()]), at(0)).measure, ["success-rate"]);
        errored.measurements = vec![done(Phase::Error, 0)];
        let decision = reconcile(&spec, &running(vec![errored]), at(0));
        assert!(decision.measure.is_empty());
        assert_eq!(decision.next_reconcile, Some(at(10)), "interval {interval:?}");
    }
}

// ---- Argo's assessRunStatus / assessMetricStatus tests ----

/// TestAssessRunStatus
#[test]
fn run_phase_is_the_worst_completed_metric() {
    let spec = RunSpec::new([metric("latency"), metric("success-rate")]);
    let status =
        running(vec![result("latency", Phase::Successful, vec![]), result("success-rate", Phase::Running, vec![])]);
    let decision = reconcile(&spec, &status, at(0));
    assert_eq!((decision.status.phase, decision.status.message.as_str()), (Phase::Running, ""));

    let status =
        running(vec![result("latency", Phase::Successful, vec![]), result("success-rate", Phase::Failed, vec![])]);
    let decision = reconcile(&spec, &status, at(0));
    assert_eq!((decision.status.phase, decision.status.message.as_str()), (Phase::Failed, ""));
}

/// TestAssessRunStatusUpdateResult and TestReconcileAnalysisRunTerminateSiblingAfterFail: the
/// failing metric flips to its final phase, and (where Argo needs a second reconcile) the running
/// sibling's in-flight measurement is terminated as Successful.
#[test]
fn a_failing_metric_terminates_its_siblings() {
    for phase in [Phase::Failed, Phase::Inconclusive, Phase::Error] {
        let spec = RunSpec::new([metric("run-forever"), metric("failed-metric")]);
        let mut failing = result("failed-metric", Phase::Running, vec![done(phase, -60)]);
        match phase {
            Phase::Failed => (failing.count, failing.failed) = (1, 1),
            Phase::Inconclusive => (failing.count, failing.inconclusive) = (1, 1),
            _ => (failing.error, failing.consecutive_error) = (5, 5),
        }
        let status = running(vec![result("run-forever", Phase::Running, vec![in_flight(-60)]), failing]);
        let decision = reconcile(&spec, &status, at(0));
        let s = &decision.status;
        assert_eq!(s.phase, phase);
        assert_eq!(s.metric_results[1].phase, phase);
        assert_eq!(s.metric_results[0].phase, Phase::Successful);
        assert_eq!(s.metric_results[0].measurements[0].phase, Phase::Successful);
        assert_eq!(s.metric_results[0].measurements[0].finished_at, Some(at(0)));
        assert_eq!(s.metric_results[0].measurements[0].message, "Metric Terminated");
        assert_eq!(s.metric_results[0].message, "Metric Terminated");
        assert!(decision.measure.is_empty());
    }
}

/// TestAssessMetricStatusNoMeasurements, TestAssessMetricStatusInFlightMeasurement
#[test]
fn metric_without_finished_measurements() {
    let spec = RunSpec::new([metric("success-rate")]);
    let empty = result("success-rate", Phase::Running, vec![]);
    assert_eq!(metric_phase(&spec, &empty, false), Phase::Pending);
    assert_eq!(metric_phase(&spec, &empty, true), Phase::Successful);
    let flying = result("success-rate", Phase::Running, vec![done(Phase::Successful, -60), in_flight(0)]);
    assert_eq!(metric_phase(&spec, &flying, false), Phase::Running);
    assert_eq!(metric_phase(&spec, &flying, true), Phase::Running);
}

/// TestAssessMetricStatusFailureLimit, TestAssessMetricStatusInconclusiveLimit,
/// TestAssessMetricStatusConsecutiveErrors, TestAssessMetricStatusCountReached
#[test]
fn argo_metric_limit_tests() {
    let with = |m: Metric| RunSpec::new([m]);
    let mut r = result("success-rate", Phase::Running, vec![done(Phase::Failed, -60)]);
    (r.failed, r.count) = (3, 3);
    let spec = with(metric("success-rate").interval("60s").failure_limit(2));
    assert_eq!(metric_phase(&spec, &r, false), Phase::Failed);
    assert_eq!(metric_phase(&spec, &r, true), Phase::Failed);
    let spec = with(metric("success-rate").interval("60s").failure_limit(3));
    assert_eq!(metric_phase(&spec, &r, false), Phase::Running);
    assert_eq!(metric_phase(&spec, &r, true), Phase::Successful);

    let mut r = result("success-rate", Phase::Running, vec![done(Phase::Inconclusive, -60)]);
    (r.inconclusive, r.count) = (3, 3);
    let spec = with(metric("success-rate").interval("60s").inconclusive_limit(2));
    assert_eq!(metric_phase(&spec, &r, false), Phase::Inconclusive);
    assert_eq!(metric_phase(&spec, &r, true), Phase::Inconclusive);
    let spec = with(metric("success-rate").interval("60s").inconclusive_limit(3));
    assert_eq!(metric_phase(&spec, &r, false), Phase::Running);
    assert_eq!(metric_phase(&spec, &r, true), Phase::Successful);

    let mut r = result("success-rate", Phase::Running, vec![done(Phase::Error, -60)]);
    (r.consecutive_error, r.count) = (5, 5);
    let spec = with(metric("success-rate").interval("60s"));
    assert_eq!(metric_phase(&spec, &r, false), Phase::Error);
    assert_eq!(metric_phase(&spec, &r, true), Phase::Error);
    r.consecutive_error = 4;
    assert_eq!(metric_phase(&spec, &r, true), Phase::Successful);
    assert_eq!(metric_phase(&spec, &r, false), Phase::Running);

    let mut r = result("success-rate", Phase::Running, vec![done(Phase::Successful, -60)]);
    (r.successful, r.count) = (10, 10);
    let spec = with(metric("success-rate").count(10).interval("1m"));
    assert_eq!(metric_phase(&spec, &r, false), Phase::Successful);
    (r.successful, r.inconclusive) = (5, 5);
    assert_eq!(metric_phase(&spec, &r, false), Phase::Inconclusive);
}

/// TestAssessMetricFailureInconclusiveOrError
#[test]
fn limit_messages() {
    let spec = RunSpec::new([metric("m")]);
    let plans = plan::plan(&spec).unwrap();
    let mut r = result("m", Phase::Running, vec![done(Phase::Failed, 0)]);
    r.failed = 1;
    assert_eq!(plans[0].limit_breached(&r), (Some(Phase::Failed), Some("failed (1) > failureLimit (0)".into())));
    assert_eq!(assess_metric(&plans[0], &r, true), Phase::Failed);
    let mut r = result("m", Phase::Running, vec![done(Phase::Inconclusive, 0)]);
    r.inconclusive = 1;
    assert_eq!(
        plans[0].limit_breached(&r),
        (Some(Phase::Inconclusive), Some("inconclusive (1) > inconclusiveLimit (0)".into()))
    );
    let mut r = result("m", Phase::Running, vec![done(Phase::Error, 0)]);
    r.consecutive_error = 5;
    assert_eq!(
        plans[0].limit_breached(&r),
        (Some(Phase::Error), Some("consecutiveErrors (5) > consecutiveErrorLimit (4)".into()))
    );
}

/// newTerminatingRun(Failed, dryRun) from analysis_test.go, with run-forever already Successful
/// or Failed.
fn terminating_run(dry_run: bool, run_forever: Phase) -> (RunSpec, RunStatus) {
    let mut spec = RunSpec::new([metric("run-forever"), metric("failed-metric")]);
    if dry_run {
        spec = spec.with_dry_run("run-forever").with_dry_run("failed-metric");
    }
    let mut forever = result("run-forever", run_forever, vec![in_flight(-60)]);
    forever.dry_run = dry_run;
    if run_forever == Phase::Failed {
        forever.failed = 1;
    }
    let mut failed = result("failed-metric", Phase::Failed, vec![done(Phase::Failed, -60)]);
    (failed.count, failed.failed, failed.dry_run) = (1, 1, dry_run);
    (spec, running(vec![forever, failed]))
}

/// TestAssessRunStatusErrorMessageAnalysisPhaseFail (and ...InDryRunMode)
#[test]
fn run_message_names_the_failing_metric() {
    let (spec, status) = terminating_run(false, Phase::Successful);
    let s = reconcile(&spec, &status, at(0)).status;
    assert_eq!(s.phase, Phase::Failed);
    assert_eq!(s.message, "Metric \"failed-metric\" assessed Failed due to failed (1) > failureLimit (0)");
    assert_eq!(s.dry_run_summary, Some(RunSummary::default()));
    assert_eq!(s.run_summary, RunSummary { count: 2, successful: 1, failed: 1, ..RunSummary::default() });

    let (spec, status) = terminating_run(true, Phase::Successful);
    let s = reconcile(&spec, &status, at(0)).status;
    assert_eq!((s.phase, s.message.as_str()), (Phase::Successful, ""));
    assert_eq!(s.dry_run_summary, Some(RunSummary { count: 2, successful: 1, failed: 1, ..RunSummary::default() }));
}

/// TestAssessRunStatusErrorMessageFromProvider (and ...InDryRunMode)
#[test]
fn run_message_carries_the_provider_message() {
    let (spec, mut status) = terminating_run(false, Phase::Successful);
    status.metric_results[1].message = "Provider Error".into();
    let s = reconcile(&spec, &status, at(0)).status;
    assert_eq!(
        s.message,
        "Metric \"failed-metric\" assessed Failed due to failed (1) > failureLimit (0): \"Error Message: Provider Error\""
    );

    let (spec, mut status) = terminating_run(true, Phase::Successful);
    status.metric_results[1].message = "Provider Error".into();
    let s = reconcile(&spec, &status, at(0)).status;
    assert_eq!((s.phase, s.message.as_str()), (Phase::Successful, ""));
}

/// TestAssessRunStatusMultipleFailures, TestAssessRunStatusWorstMessageInReconcileAnalysisRun
/// (and their dry-run variants)
#[test]
fn first_of_several_failures_gives_the_message() {
    let (spec, status) = terminating_run(false, Phase::Failed);
    let s = reconcile(&spec, &status, at(0)).status;
    assert_eq!(s.phase, Phase::Failed);
    assert_eq!(s.message, "Metric \"run-forever\" assessed Failed due to failed (1) > failureLimit (0)");

    let (spec, status) = terminating_run(true, Phase::Failed);
    let s = reconcile(&spec, &status, at(0)).status;
    assert_eq!((s.phase, s.message.as_str()), (Phase::Successful, ""));
    assert_eq!(s.dry_run_summary, Some(RunSummary { count: 2, failed: 2, ..RunSummary::default() }));
    assert_eq!(s.metric_results[0].message, "Metric assessed Failed due to failed (1) > failureLimit (0)");
    assert_eq!(s.metric_results[1].message, "Metric assessed Failed due to failed (1) > failureLimit (0)");
}

/// TestAssessRunStatusWithOnlyDryRunMetrics
#[test]
fn only_dry_run_metrics_end_successful() {
    let spec = RunSpec::new([metric("success-metric")]).with_dry_run("success-metric");
    let mut r = result("success-metric", Phase::Successful, vec![done(Phase::Successful, -60)]);
    (r.count, r.successful, r.dry_run) = (1, 1, true);
    assert_eq!(
        reconcile(&spec, &RunStatus { phase: Phase::Pending, ..running(vec![r]) }, at(0)).status.phase,
        Phase::Successful
    );

    // A dry-run metric that fails still leaves the run Successful, and says what happened.
    let (status, _) = drive(&spec, |_, _| outcome(Phase::Failed), at(3600));
    assert_eq!(status.phase, Phase::Successful);
    assert_eq!(status.metric_results[0].phase, Phase::Failed);
    assert!(status.metric_results[0].dry_run);
    assert_eq!(status.metric_results[0].message, "Metric assessed Failed due to failed (1) > failureLimit (0)");
    assert_eq!(status.dry_run_summary, Some(RunSummary { count: 1, failed: 1, ..RunSummary::default() }));
    assert_eq!(status.run_summary, RunSummary::default());
}

/// TestAssessRunStatusWithMixedMetrics
#[test]
fn dry_run_metrics_do_not_decide_a_mixed_run() {
    let spec = RunSpec::new([metric("run-forever"), metric("success-metric")]).with_dry_run("success-metric");
    let mut forever = result("run-forever", Phase::Running, vec![in_flight(-60)]);
    forever.inconclusive = 1;
    let mut dry = result("success-metric", Phase::Successful, vec![done(Phase::Failed, -60)]);
    (dry.count, dry.failed, dry.dry_run) = (1, 1, true);
    let mut status = running(vec![forever, dry]);
    // The provider resumes the in-flight measurement as Successful.
    record(&mut status, "run-forever", done(Phase::Successful, 0), &spec);
    let s = reconcile(&spec, &status, at(0)).status;
    assert_eq!(s.phase, Phase::Inconclusive);
    assert_eq!(
        s.message,
        "Metric \"run-forever\" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0)"
    );
}

/// TestTerminateAnalysisRun, TestTerminateAnalysisRunInDryRunMode
#[test]
fn terminate_before_any_measurement() {
    for dry_run in [false, true] {
        let mut spec = RunSpec::new([metric("success-rate").initial_delay("20s").interval("20s")]);
        spec.terminate = true;
        if dry_run {
            spec = spec.with_dry_run("success-rate");
        }
        let decision = reconcile(&spec, &running(vec![]), at(0));
        assert_eq!(decision.status.phase, Phase::Successful);
        assert_eq!(decision.status.message, "Run Terminated");
        assert!(decision.measure.is_empty());
        let expected = if dry_run { RunSummary { count: 1, ..RunSummary::default() } } else { RunSummary::default() };
        assert_eq!(decision.status.dry_run_summary, Some(expected));
    }
}

/// TestInvalidDryRunConfigThrowsError, TestInvalidMeasurementsRetentionConfigThrowsError,
/// TestReconcileAnalysisRunInvalid
#[test]
fn invalid_specs_error_the_run() {
    let base = || RunSpec::new([metric("success-rate").initial_delay("20s").interval("20s")]);
    let cases = [
        (base().with_dry_run("error-rate"), "Analysis spec invalid: dryRun[0]: Rule didn't match any metric name(s)"),
        (
            base().with_retention("error-rate", 0),
            "Analysis spec invalid: measurementRetention[0]: Rule didn't match any metric name(s)",
        ),
        (
            RunSpec::new([Metric { name: "success-rate".into(), ..Metric::default() }]),
            "Analysis spec invalid: metrics[0]: no provider specified",
        ),
        (RunSpec::default(), "Analysis spec invalid: no metrics specified"),
        (RunSpec::new([metric("a"), metric("a")]), "Analysis spec invalid: metrics[1]: duplicate name 'a'"),
        (
            RunSpec::new([metric("a").count(2)]),
            "Analysis spec invalid: metrics[0]: interval must be specified when count > 1",
        ),
        (
            RunSpec::new([metric("a").count(2).interval("1m").failure_limit(3)]),
            "Analysis spec invalid: metrics[0]: count (2) must be >= failureLimit + consecutiveSuccessLimit (3 + 0) if both >= 0",
        ),
        (
            RunSpec::new([metric("a").count(2).interval("1m").inconclusive_limit(3)]),
            "Analysis spec invalid: metrics[0]: count must be >= inconclusiveLimit",
        ),
        (
            RunSpec::new([metric("a").interval("5x")]),
            "Analysis spec invalid: metrics[0]: invalid interval string: invalid duration \"5x\": unknown unit \"x\"",
        ),
        (
            RunSpec::new([metric("a").failure_limit(-2)]),
            "Analysis spec invalid: metrics[0]: failureLimit must be >= 0, or -1 to disable it",
        ),
        (
            RunSpec::new([metric("a").inconclusive_limit(-1)]),
            "Analysis spec invalid: metrics[0]: inconclusiveLimit must be >= 0",
        ),
        (
            RunSpec::new([metric("a").consecutive_error_limit(-1)]),
            "Analysis spec invalid: metrics[0]: consecutiveErrorLimit must be >= 0",
        ),
    ];
    for (spec, message) in cases {
        let decision = reconcile(&spec, &RunStatus::default(), at(0));
        assert_eq!(decision.status.phase, Phase::Error, "{message}");
        assert_eq!(decision.status.message, message);
        assert!(decision.measure.is_empty() && decision.next_reconcile.is_none());
    }
    let mut m = metric("a");
    m.failure_limit = Some(IntOrString::String("three".into()));
    let decision = reconcile(&RunSpec::new([m]), &RunStatus::default(), at(0));
    assert_eq!(decision.status.message, "Analysis spec invalid: metrics[0]: failureLimit \"three\" is not an integer");
    let mut m = metric("a");
    m.failure_limit = Some(IntOrString::String("2".into()));
    assert_eq!(reconcile(&RunSpec::new([m]), &RunStatus::default(), at(0)).status.phase, Phase::Running);
}

/// TestRunMeasurementsResetConsecutiveErrorCounter
#[test]
fn record_counts_like_argo() {
    let spec = RunSpec::new([metric("test")]);
    for (phase, consecutive_error, error, count) in [
        (Phase::Error, 5, 5, 4),
        (Phase::Successful, 0, 4, 5),
        (Phase::Failed, 0, 4, 5),
        (Phase::Inconclusive, 0, 4, 5),
    ] {
        let mut r = result("test", Phase::Running, vec![]);
        (r.consecutive_error, r.count, r.error, r.consecutive_success) = (4, 4, 4, 2);
        let mut status = running(vec![r]);
        record(&mut status, "test", done(phase, 0), &spec);
        let r = &status.metric_results[0];
        assert_eq!((r.consecutive_error, r.error, r.count), (consecutive_error, error, count), "{phase}");
        assert_eq!(r.consecutive_success, if phase == Phase::Successful { 3 } else { 0 }, "{phase}");
    }
}

/// TestTrimMeasurementHistory
#[test]
fn retention_keeps_the_newest_measurements() {
    let values = |status: &RunStatus, i: usize| -> Vec<String> {
        status.metric_results[i].measurements.iter().map(|m| m.value.clone()).collect()
    };
    let new_run = || {
        let m = |v: &str, s| Measurement { value: v.into(), ..done(Phase::Successful, s) };
        running(vec![
            result("metric1", Phase::Running, vec![m("1", -60)]),
            result("metric2", Phase::Running, vec![m("2", -60), m("3", -30)]),
        ])
    };
    let metrics = || [metric("metric1").interval("60s"), metric("metric2").interval("60s")];
    let s = reconcile(&RunSpec::new(metrics()).with_retention("metric2", 1), &new_run(), at(0)).status;
    assert_eq!((values(&s, 0), values(&s, 1)), (vec!["1".to_string()], vec!["3".to_string()]));
    let s = reconcile(&RunSpec::new(metrics()).with_retention(".*", 2), &new_run(), at(0)).status;
    assert_eq!(values(&s, 1), ["2", "3"]);
    let s = reconcile(&RunSpec::new(metrics()).with_retention("*", 1), &new_run(), at(0)).status;
    assert_eq!((values(&s, 0), values(&s, 1)), (vec!["1".to_string()], vec!["3".to_string()]));

    // Default: ten measurements, the newest.
    let spec = RunSpec::new([metric("m").interval("10s").count(25)]);
    let (status, log) =
        drive(&spec, |_, n| Measurement { value: n.to_string(), ..outcome(Phase::Successful) }, at(3600));
    assert_eq!(log.len(), 25);
    assert_eq!(status.phase, Phase::Successful);
    let kept: Vec<&str> = status.metric_results[0].measurements.iter().map(|m| m.value.as_str()).collect();
    assert_eq!(kept, ["15", "16", "17", "18", "19", "20", "21", "22", "23", "24"]);
    assert_eq!(status.metric_results[0].count, 25);
    // A metric-specific limit applies when recording, too.
    let spec = RunSpec::new([metric("m").interval("10s").count(5)]).with_retention("^m$", 3);
    let (status, _) = drive(&spec, |_, _| outcome(Phase::Successful), at(3600));
    assert_eq!(status.metric_results[0].measurements.len(), 3);
}

// ---- limits, as tables ----

/// The run phase after the given sequence of measurement outcomes, one every 10s.
fn phase_after(metric: Metric, outcomes: &[Phase]) -> (Phase, String, usize) {
    let spec = RunSpec::new([metric]);
    let outcomes = outcomes.to_vec();
    let (status, log) = drive(
        &spec,
        |_, n| outcome(*outcomes.get(n).unwrap_or_else(|| panic!("measurement {n} was not expected"))),
        at(3600),
    );
    (status.phase, status.message, log.len())
}

#[test]
fn failure_limit_table() {
    use Phase::{Failed as F, Successful as S};
    let cases: &[(Option<i64>, &[Phase], Phase, usize)] = &[
        // failureLimit 0 (the default): the first failure fails the metric.
        (None, &[S, S, F], F, 3),
        (Some(0), &[F], F, 1),
        // failureLimit 1: one failure is tolerated, the second fails.
        (Some(1), &[F, S, S, S, S], S, 5),
        (Some(1), &[F, S, F], F, 3),
        // failureLimit -1: failures never fail the metric (Argo then requires a
        // consecutiveSuccessLimit, here 1).
        (Some(-1), &[F, F, F, F, S], S, 5),
    ];
    for (limit, outcomes, expected, measured) in cases {
        let mut m = metric("m").interval("10s").count(5);
        m.failure_limit = limit.map(Into::into);
        if *limit == Some(-1) {
            m = m.consecutive_success_limit(1);
        }
        let (phase, message, n) = phase_after(m, outcomes);
        assert_eq!((phase, n), (*expected, *measured), "failureLimit {limit:?} outcomes {outcomes:?}: {message}");
    }
    let (_, message, _) = phase_after(metric("m").interval("10s").count(5).failure_limit(1), &[F, S, F]);
    assert_eq!(message, "Metric \"m\" assessed Failed due to failed (2) > failureLimit (1)");
}

#[test]
fn inconclusive_limit_table() {
    use Phase::{Inconclusive as I, Successful as S};
    let (phase, message, n) = phase_after(metric("m").interval("10s").count(3), &[S, I]);
    assert_eq!((phase, n), (I, 2));
    assert_eq!(message, "Metric \"m\" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0)");
    assert_eq!(phase_after(metric("m").interval("10s").count(3).inconclusive_limit(1), &[I, S, S]).0, S);
    assert_eq!(phase_after(metric("m").interval("10s").count(3).inconclusive_limit(1), &[I, S, I]).0, I);
}

#[test]
fn consecutive_error_limit_table() {
    use Phase::{Error as E, Successful as S};
    // The default limit of 4 errors the metric on the fifth consecutive error.
    let (phase, message, n) = phase_after(metric("m").interval("10s").count(3), &[E, E, E, E, E]);
    assert_eq!((phase, n), (E, 5));
    assert_eq!(message, "Metric \"m\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4)");
    // Four errors then a success reset the streak; errors do not count towards `count`.
    assert_eq!(phase_after(metric("m").interval("10s").count(3), &[E, E, E, E, S, E, E, S, S]), (S, String::new(), 9));
    assert_eq!(phase_after(metric("m").interval("10s").count(3).consecutive_error_limit(0), &[E]).0, E);
    assert_eq!(phase_after(metric("m").interval("10s").count(2).consecutive_error_limit(1), &[E, S, E, S]).0, S);

    // A provider message reaches the run message.
    let spec = RunSpec::new([metric("m")]);
    let (status, _) =
        drive(&spec, |_, _| Measurement { message: "connection refused".into(), ..outcome(Phase::Error) }, at(3600));
    assert_eq!(status.phase, Phase::Error);
    assert_eq!(
        status.message,
        "Metric \"m\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4): \"Error Message: connection refused\""
    );
}

#[test]
fn consecutive_success_limit_table() {
    use Phase::{Failed as F, Inconclusive as I, Successful as S};
    // Interval alone: runs until three successes in a row, failures tolerated (failureLimit -1).
    let m = || metric("m").interval("10s").failure_limit(-1).consecutive_success_limit(3);
    assert_eq!(phase_after(m(), &[S, F, S, S, F, S, S, S]), (S, String::new(), 8));
    // With count: the limit not reached by the last measurement fails the metric...
    let m = || metric("m").interval("10s").count(4).failure_limit(-1).consecutive_success_limit(3);
    assert_eq!(phase_after(m(), &[S, S, F, S]).0, F);
    assert_eq!(phase_after(m(), &[F, S, S, S]).0, S);
    // ... unless failureLimit also applies, which leaves the outcome to a person (count must
    // then be at least failureLimit + consecutiveSuccessLimit).
    let m = || metric("m").interval("10s").count(5).failure_limit(2).consecutive_success_limit(3);
    assert_eq!(phase_after(m(), &[S, S, F, S, F]).0, I);
    assert_eq!(phase_after(m(), &[F, F, F]).0, F);
    assert_eq!(phase_after(m(), &[S, S, S]), (S, String::new(), 3));
    let r = reconcile(
        &RunSpec::new([metric("m").count(2).interval("1s").consecutive_success_limit(3)]),
        &RunStatus::default(),
        at(0),
    );
    assert_eq!(
        r.status.message,
        "Analysis spec invalid: metrics[0]: count (2) must be >= failureLimit + consecutiveSuccessLimit (0 + 3) if both >= 0"
    );
    let r = reconcile(
        &RunSpec::new([metric("m").count(2).interval("1s").failure_limit(-1).consecutive_success_limit(3)]),
        &RunStatus::default(),
        at(0),
    );
    assert_eq!(r.status.message, "Analysis spec invalid: metrics[0]: count must be >= consecutiveSuccessLimit");
    let r = reconcile(&RunSpec::new([metric("m").failure_limit(-1)]), &RunStatus::default(), at(0));
    assert_eq!(
        r.status.message,
        "Analysis spec invalid: metrics[0]: failureLimit and consecutiveSuccessLimit cannot both be disabled"
    );
}

// ---- timing ----

#[test]
fn count_and_interval_timing() {
    // count 3, interval 60s: measurements at 0, 60, 120, then Successful.
    let spec = RunSpec::new([metric("m").interval("60s").count(3)]);
    let (status, log) = drive(&spec, |_, _| outcome(Phase::Successful), at(3600));
    assert_eq!(times(&log, "m"), [0, 60, 120]);
    assert_eq!(status.phase, Phase::Successful);
    assert_eq!(status.metric_results[0].count, 3);

    // Interval alone: measures until terminated.
    let spec = RunSpec::new([metric("m").interval("5m")]);
    let (status, log) = drive(&spec, |_, _| outcome(Phase::Successful), at(3600));
    assert_eq!(times(&log, "m"), (0..=12).map(|i| i * 300).collect::<Vec<_>>());
    assert_eq!(status.phase, Phase::Running);
    let decision = reconcile(&spec, &status, at(3700));
    assert_eq!(decision.next_reconcile, Some(at(3900)));
    let terminated = reconcile(&RunSpec { terminate: true, ..spec.clone() }, &status, at(3700));
    assert_eq!(terminated.status.phase, Phase::Successful);
    assert_eq!(terminated.status.message, "Run Terminated");
    assert_eq!(terminated.status.metric_results[0].phase, Phase::Successful);
    assert!(terminated.measure.is_empty() && terminated.next_reconcile.is_none());

    // Initial delay, then interval; two metrics on different clocks, next reconcile is the earliest.
    let spec = RunSpec::new([
        metric("fast").interval("30s").count(3),
        metric("slow").interval("100s").count(2).initial_delay("45s"),
    ]);
    let (status, log) = drive(&spec, |_, _| outcome(Phase::Successful), at(3600));
    assert_eq!(times(&log, "fast"), [0, 30, 60]);
    assert_eq!(times(&log, "slow"), [45, 145]);
    assert_eq!(status.phase, Phase::Successful);

    // Errors retry after 10s whatever the interval.
    let spec = RunSpec::new([metric("m").interval("5m").count(2)]);
    let (_, log) = drive(&spec, |_, n| outcome(if n == 0 { Phase::Error } else { Phase::Successful }), at(3600));
    assert_eq!(times(&log, "m"), [0, 10, 310]);
}

#[test]
fn completed_runs_are_left_alone() {
    let spec = RunSpec::new([metric("m")]);
    let status = RunStatus { phase: Phase::Failed, message: "done".into(), ..RunStatus::default() };
    let decision = reconcile(&spec, &status, at(0));
    assert_eq!(decision.status, status);
    assert!(decision.measure.is_empty() && decision.next_reconcile.is_none());
}

#[test]
fn phase_message_only_changes_with_the_phase() {
    let spec = RunSpec::new([metric("m").interval("10s")]);
    let status = RunStatus { message: "earlier".into(), ..running(vec![]) };
    let decision = reconcile(&spec, &status, at(0));
    assert_eq!((decision.status.phase, decision.status.message.as_str()), (Phase::Running, "earlier"));
    let decision = reconcile(&spec, &RunStatus::default(), at(0));
    assert_eq!((decision.status.phase, decision.status.message.as_str()), (Phase::Running, ""));
}

// ---- minimum samples ----

#[test]
fn min_sample_guard_makes_thin_data_inconclusive() {
    let spec = RunSpec::new([metric("m").interval("10s").count(3).inconclusive_limit(1)]).with_min_sample("m", 100);
    let samples = [40, 150, 300];
    let (status, _) = drive(
        &spec,
        |_, n| Measurement {
            sample: Some(samples[n]),
            ..outcome(if n == 0 { Phase::Failed } else { Phase::Successful })
        },
        at(3600),
    );
    let r = &status.metric_results[0];
    assert_eq!(r.measurements[0].phase, Phase::Inconclusive);
    assert_eq!(
        r.measurements[0].message,
        "not enough data: 40 of the 100 samples needed were seen (the value alone would have been Failed)"
    );
    assert_eq!(r.measurements[0].sample, Some(40));
    assert_eq!((r.failed, r.inconclusive, r.successful), (0, 1, 2));
    assert_eq!(status.phase, Phase::Successful);

    // Not enough data twice, with the default inconclusiveLimit of 0, pauses for a person.
    let spec = RunSpec::new([metric("m").interval("10s").count(3)]).with_min_sample("m", 100);
    let (status, log) = drive(&spec, |_, _| Measurement { sample: Some(3), ..outcome(Phase::Successful) }, at(3600));
    assert_eq!(log.len(), 1);
    assert_eq!(status.phase, Phase::Inconclusive);
    assert_eq!(
        status.message,
        "Metric \"m\" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0): \"Error Message: not enough data: 3 of the 100 samples needed were seen (the value alone would have been Successful)\""
    );

    // A provider error (no sample size reported) stays an error; a measurement that does not
    // report its sample size is not guarded; an evaluation error on too little data is lack of data.
    let mut status = running(vec![]);
    record(&mut status, "m", done(Phase::Error, 0), &spec);
    record(&mut status, "m", done(Phase::Successful, 10), &spec);
    record(&mut status, "m", Measurement { sample: Some(0), ..done(Phase::Error, 20) }, &spec);
    let r = &status.metric_results[0];
    assert_eq!((r.error, r.successful, r.inconclusive), (1, 1, 1));
}

// ---- record details ----

#[test]
fn record_fills_in_missing_times_and_dry_run() {
    let spec = RunSpec::new([metric("m").interval("10s")]).with_dry_run("^m$");
    let mut status = running(vec![]);
    record(
        &mut status,
        "m",
        Measurement { phase: Phase::Successful, started_at: Some(at(5)), ..Measurement::default() },
        &spec,
    );
    record(&mut status, "m", Measurement { phase: Phase::Failed, ..Measurement::default() }, &spec);
    let r = &status.metric_results[0];
    assert!(r.dry_run);
    assert_eq!(r.phase, Phase::Running);
    assert_eq!(r.measurements[0].finished_at, Some(at(5)));
    assert_eq!(r.measurements[1].finished_at, Some(at(5)));
    // An in-flight measurement is recorded without counting, then replaced.
    record(&mut status, "m", in_flight(20), &spec);
    assert_eq!(status.metric_results[0].measurements.len(), 3);
    assert_eq!(status.metric_results[0].count, 2);
    record(&mut status, "m", done(Phase::Successful, 25), &spec);
    assert_eq!(status.metric_results[0].measurements.len(), 3);
    assert_eq!(status.metric_results[0].count, 3);
}

// ---- serde ----

/// The status of analysis.md's NaN example, as Argo writes it, reads and writes back unchanged
/// (apart from `runSummary`, which Argo has written since v1.2).
#[test]
fn status_round_trips_argo_json() {
    let argo = json!({
        "metricResults": [{
            "count": 1,
            "measurements": [{
                "finishedAt": "2021-02-10T00:15:26Z",
                "phase": "Successful",
                "startedAt": "2021-02-10T00:15:26Z",
                "value": "NaN"
            }],
            "name": "success-rate",
            "phase": "Successful",
            "successful": 1
        }],
        "phase": "Successful",
        "startedAt": "2021-02-10T00:15:26Z"
    });
    let status: RunStatus = serde_json::from_value(argo.clone()).unwrap();
    assert_eq!(status.phase, Phase::Successful);
    assert_eq!(status.metric_results[0].measurements[0].value, "NaN");
    assert_eq!(status.started_at, Some(Time::parse("2021-02-10T00:15:26Z").unwrap()));
    let mut expected = argo;
    expected["runSummary"] = json!({});
    assert_eq!(serde_json::to_value(&status).unwrap(), expected);
}

#[test]
fn status_serializes_with_argo_field_names() {
    let spec = RunSpec::new([metric("error-rate").interval("1m").count(2), metric("latency")]).with_dry_run("latency");
    let (status, _) = drive(
        &spec,
        |name, n| {
            if name == "latency" {
                Measurement { message: "boom".into(), ..outcome(Phase::Error) }
            } else if n == 0 {
                outcome(Phase::Error)
            } else {
                Measurement { metadata: [("query".to_string(), "up".to_string())].into(), ..outcome(Phase::Successful) }
            }
        },
        at(3600),
    );
    let json = serde_json::to_value(&status).unwrap();
    let start = at(0).to_string();
    let error_rate = &json["metricResults"][0];
    assert_eq!(error_rate["name"], "error-rate");
    assert_eq!(error_rate["phase"], "Successful");
    assert_eq!(error_rate["count"], 2);
    assert_eq!(error_rate["error"], 1);
    assert_eq!(error_rate["consecutiveSuccess"], 2);
    assert!(error_rate.get("consecutiveError").is_none(), "zero counters are omitted");
    assert_eq!(
        error_rate["measurements"][0],
        json!({"phase": "Error", "startedAt": start, "finishedAt": start, "value": "1"})
    );
    assert_eq!(error_rate["measurements"][1]["metadata"], json!({"query": "up"}));
    let latency = &json["metricResults"][1];
    assert_eq!(latency["dryRun"], true);
    assert_eq!(latency["phase"], "Error");
    assert_eq!(latency["consecutiveError"], 5);
    assert_eq!(json["phase"], "Successful");
    assert_eq!(json["startedAt"], start);
    assert_eq!(json["runSummary"], json!({"count": 1, "successful": 1}));
    assert_eq!(json["dryRunSummary"], json!({"count": 1, "error": 1}));
    let back: RunStatus = serde_json::from_value(json).unwrap();
    assert_eq!(back, status);
}

#[test]
fn from_analysis_run_manifest() {
    let run: serin_model::analysis::AnalysisRunSpec = serde_json::from_value(json!({
        "metrics": [{"name": "success-rate", "interval": "1m", "provider": {"prometheus": {"query": "up"}}}],
        "dryRun": [{"metricName": ".*"}],
        "measurementRetention": [{"metricName": "success-rate", "limit": 20}],
        "terminate": true
    }))
    .unwrap();
    let spec = RunSpec::from_analysis_run(&run);
    assert!(spec.terminate);
    assert_eq!(spec.metrics[0].metric.name, "success-rate");
    assert_eq!(spec.metrics[0].min_sample, None);
    let plans = plan::plan(&spec).unwrap();
    assert!(plans[0].dry_run);
    assert_eq!(plans[0].retention, 20);
}

proptest! {
    /// Driving a run with any outcomes keeps Argo's bookkeeping consistent.
    #[test]
    fn bookkeeping_invariants(
        outcomes in prop::collection::vec(prop::sample::select(vec![
            Phase::Successful, Phase::Failed, Phase::Inconclusive, Phase::Error,
        ]), 1..30),
        count in 0i64..6,
        failure_limit in 0i64..3,
        inconclusive_limit in 0i64..3,
        retention in 1i32..6,
    ) {
        // (failureLimit -1 needs a consecutiveSuccessLimit, which Argo requires: not drawn here.)
        prop_assume!(count == 0 || (count >= failure_limit && count >= inconclusive_limit));
        let mut m = metric("m").interval("10s").failure_limit(failure_limit).inconclusive_limit(inconclusive_limit);
        if count > 0 {
            m = m.count(count);
        }
        let spec = RunSpec::new([m]).with_retention("m", retention);
        let (status, log) = drive(&spec, |_, n| outcome(outcomes[n % outcomes.len()]), at(600));
        let r = &status.metric_results[0];
        prop_assert_eq!(r.count, r.successful + r.failed + r.inconclusive);
        prop_assert_eq!(log.len() as i32, r.count + r.error);
        prop_assert!(r.measurements.len() <= retention as usize);
        prop_assert!(i64::from(r.failed) <= failure_limit + 1 || failure_limit < 0);
        if count > 0 {
            prop_assert!(i64::from(r.count) <= count);
        }
        if r.phase.is_completed() {
            prop_assert_eq!(status.phase, r.phase);
        } else {
            prop_assert_eq!(status.phase, Phase::Running);
        }
        // Times between measurements: 10s after a success, failure or inconclusive, 10s after an
        // error too (the retry interval), never sooner.
        let times = times(&log, "m");
        prop_assert!(times.windows(2).all(|w| w[1] - w[0] == 10));
    }
}

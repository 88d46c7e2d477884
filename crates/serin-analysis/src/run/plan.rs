//! Checks a run's metrics once per reconcile and turns their string and int-or-string fields into
//! numbers, with Argo's validation messages (`interval must be specified when count > 1`, ...),
//! and resolves the dry-run and retention rules, whose metric names are regular expressions.

use super::{DEFAULT_CONSECUTIVE_ERROR_LIMIT, DEFAULT_MEASUREMENT_RETENTION, MetricResult, RunSpec};
use crate::assess::Phase;
use crate::condition::regex_search;
use serin_model::analysis::{Metric, MetricProvider, MetricSettings};
use serin_model::rollout::{DryRun, MeasurementRetention};
use std::collections::BTreeSet;

/// A metric with its settings as numbers.
#[derive(Debug)]
pub(super) struct Plan<'a> {
    pub(super) name: &'a str,
    /// Milliseconds between measurements.
    pub(super) interval: Option<i64>,
    /// Milliseconds after the run starts before the first measurement.
    pub(super) initial_delay: Option<i64>,
    /// How many measurements complete the metric; `None` runs until terminated.
    pub(super) effective_count: Option<i64>,
    /// -1 disables.
    pub(super) failure_limit: i64,
    pub(super) inconclusive_limit: i64,
    pub(super) consecutive_error_limit: i64,
    /// 0 means not set.
    pub(super) consecutive_success_limit: i64,
    pub(super) dry_run: bool,
    pub(super) retention: usize,
}

impl Plan<'_> {
    pub(super) fn count_reached(&self, result: &MetricResult) -> bool {
        self.effective_count.is_some_and(|count| i64::from(result.count) >= count)
    }

    /// Argo's `assessMetricFailureInconclusiveOrError`: the limit a metric has gone past, with the
    /// reason; when several are, the last checked (Error, then Inconclusive, then Failed) wins.
    pub(super) fn limit_breached(&self, result: &MetricResult) -> (Option<Phase>, Option<String>) {
        let mut breached = (None, None);
        let failed = i64::from(result.failed);
        if self.failure_limit >= 0 && failed > self.failure_limit {
            breached =
                (Some(Phase::Failed), Some(format!("failed ({failed}) > failureLimit ({})", self.failure_limit)));
        }
        let inconclusive = i64::from(result.inconclusive);
        if inconclusive > self.inconclusive_limit {
            breached = (
                Some(Phase::Inconclusive),
                Some(format!("inconclusive ({inconclusive}) > inconclusiveLimit ({})", self.inconclusive_limit)),
            );
        }
        let errors = i64::from(result.consecutive_error);
        if errors > self.consecutive_error_limit {
            breached = (
                Some(Phase::Error),
                Some(format!(
                    "consecutiveErrors ({errors}) > consecutiveErrorLimit ({})",
                    self.consecutive_error_limit
                )),
            );
        }
        breached
    }
}

/// Validates the spec and plans each metric, or says why the spec is invalid.
pub(super) fn plan(spec: &RunSpec) -> Result<Vec<Plan<'_>>, String> {
    if spec.metrics.is_empty() {
        return Err("no metrics specified".into());
    }
    let names: Vec<&str> = spec.metrics.iter().map(|m| m.metric.name.as_str()).collect();
    let dry_run = resolve_dry_run(&spec.dry_run, &names)?;
    let retention = resolve_retention(&spec.measurement_retention, &names)?;
    let mut seen = BTreeSet::new();
    let mut plans = Vec::with_capacity(spec.metrics.len());
    for (i, metric_spec) in spec.metrics.iter().enumerate() {
        let metric = &metric_spec.metric;
        if !seen.insert(metric.name.as_str()) {
            return Err(format!("metrics[{i}]: duplicate name '{}'", metric.name));
        }
        let mut plan = plan_metric(metric).map_err(|e| format!("metrics[{i}]: {e}"))?;
        plan.dry_run = dry_run.contains(metric.name.as_str());
        plan.retention = retention[i];
        plans.push(plan);
    }
    Ok(plans)
}

fn plan_metric(metric: &Metric) -> Result<Plan<'_>, String> {
    let (settings, problems) = metric.settings(false);
    if let Some(problem) = problems.into_iter().next() {
        return Err(problem.message);
    }
    let MetricSettings { interval, initial_delay, .. } = settings;
    let count = settings.count.unwrap_or(0);
    match provider_count(&metric.provider) {
        0 => return Err("no provider specified".into()),
        1 => {}
        _ => return Err("multiple providers specified".into()),
    }
    // Argo's EffectiveCount: neither count nor interval means one measurement; interval alone
    // means no end.
    let effective_count = match (count, interval) {
        (0, None) => Some(1),
        (0, Some(_)) => None,
        (n, _) => Some(n),
    };
    Ok(Plan {
        name: &metric.name,
        interval,
        initial_delay,
        effective_count,
        failure_limit: settings.failure_limit.unwrap_or(0),
        inconclusive_limit: settings.inconclusive_limit.unwrap_or(0),
        consecutive_error_limit: settings.consecutive_error_limit.unwrap_or(DEFAULT_CONSECUTIVE_ERROR_LIMIT),
        consecutive_success_limit: settings.consecutive_success_limit.unwrap_or(0),
        dry_run: false,
        retention: DEFAULT_MEASUREMENT_RETENTION,
    })
}

fn provider_count(provider: &MetricProvider) -> usize {
    let MetricProvider {
        prometheus,
        web,
        job,
        serin,
        datadog,
        new_relic,
        cloud_watch,
        wavefront,
        kayenta,
        graphite,
        influxdb,
        skywalking,
        plugin,
    } = provider;
    [
        prometheus.is_some(),
        web.is_some(),
        job.is_some(),
        serin.is_some(),
        datadog.is_some(),
        new_relic.is_some(),
        cloud_watch.is_some(),
        wavefront.is_some(),
        kayenta.is_some(),
        graphite.is_some(),
        influxdb.is_some(),
        skywalking.is_some(),
        !plugin.is_empty(),
    ]
    .into_iter()
    .filter(|set| *set)
    .count()
}

/// Whether a rule's metric name matches, as Go's `regexp.MatchString` (a search, not a full
/// match); a lone `*` matches everything, and an invalid expression matches nothing, as in Argo.
fn rule_matches(pattern: &str, metric: &str) -> bool {
    pattern == "*" || regex_search(pattern, metric).unwrap_or(false)
}

fn resolve_dry_run<'a>(rules: &[DryRun], names: &[&'a str]) -> Result<BTreeSet<&'a str>, String> {
    let mut dry_run = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let matched: Vec<&str> = names.iter().copied().filter(|n| rule_matches(&rule.metric_name, n)).collect();
        if matched.is_empty() {
            return Err(format!("dryRun[{i}]: Rule didn't match any metric name(s)"));
        }
        dry_run.extend(matched);
    }
    Ok(dry_run)
}

/// The retention limit of each metric, in spec order; a later matching rule wins, and a limit of
/// 0 or less keeps the default.
fn resolve_retention(rules: &[MeasurementRetention], names: &[&str]) -> Result<Vec<usize>, String> {
    let mut limits = vec![DEFAULT_MEASUREMENT_RETENTION; names.len()];
    for (i, rule) in rules.iter().enumerate() {
        let mut matched = false;
        for (limit, name) in limits.iter_mut().zip(names) {
            if rule_matches(&rule.metric_name, name) {
                matched = true;
                *limit = retention_limit(rule.limit);
            }
        }
        if !matched {
            return Err(format!("measurementRetention[{i}]: Rule didn't match any metric name(s)"));
        }
    }
    Ok(limits)
}

fn retention_limit(limit: i32) -> usize {
    usize::try_from(limit).ok().filter(|l| *l > 0).unwrap_or(DEFAULT_MEASUREMENT_RETENTION)
}

/// Whether the dry-run rules cover `metric` (invalid rules are reported by [`plan`]).
pub(super) fn dry_run_matches(rules: &[DryRun], metric: &str) -> bool {
    rules.iter().any(|rule| rule_matches(&rule.metric_name, metric))
}

/// The retention limit for `metric` (invalid rules are reported by [`plan`]).
pub(super) fn retention_for(rules: &[MeasurementRetention], metric: &str) -> usize {
    rules
        .iter()
        .rev()
        .find(|rule| rule_matches(&rule.metric_name, metric))
        .map_or(DEFAULT_MEASUREMENT_RETENTION, |rule| retention_limit(rule.limit))
}

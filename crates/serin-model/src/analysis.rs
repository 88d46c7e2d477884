//! Argo Rollouts' analysis resources: AnalysisTemplate, ClusterAnalysisTemplate (same spec,
//! cluster-scoped) and AnalysisRun.

use crate::intstr::IntOrString;
use crate::meta::ObjectMeta;
use crate::rollout::{DryRun, MeasurementRetention};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use serde_with::skip_serializing_none;
use std::collections::BTreeMap;

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplate {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: AnalysisTemplateSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateSpec {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    pub name: String,
    pub value: Option<String>,
    pub value_from: Option<Json>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    pub name: String,
    pub interval: Option<String>,
    pub initial_delay: Option<String>,
    pub count: Option<IntOrString>,
    pub success_condition: Option<String>,
    pub failure_condition: Option<String>,
    pub failure_limit: Option<IntOrString>,
    pub inconclusive_limit: Option<IntOrString>,
    pub consecutive_error_limit: Option<IntOrString>,
    pub consecutive_success_limit: Option<IntOrString>,
    pub provider: MetricProvider,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricProvider {
    pub prometheus: Option<PrometheusMetric>,
    pub web: Option<WebMetric>,
    pub job: Option<Json>,
    /// serin's own provider: the router's per-revision request metrics.
    pub serin: Option<Json>,
    pub datadog: Option<Json>,
    pub new_relic: Option<Json>,
    pub cloud_watch: Option<Json>,
    pub wavefront: Option<Json>,
    pub kayenta: Option<Json>,
    pub graphite: Option<Json>,
    pub influxdb: Option<Json>,
    pub skywalking: Option<Json>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugin: BTreeMap<String, Json>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusMetric {
    pub address: Option<String>,
    pub query: String,
    pub timeout: Option<i64>,
    pub insecure: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<WebHeader>,
    pub authentication: Option<Json>,
    pub range_query: Option<Json>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebMetric {
    pub url: String,
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<WebHeader>,
    pub body: Option<String>,
    pub json_body: Option<Json>,
    pub json_path: Option<String>,
    pub timeout_seconds: Option<i64>,
    pub insecure: Option<bool>,
    pub authentication: Option<Json>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WebHeader {
    pub key: String,
    pub value: String,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRun {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: AnalysisRunSpec,
    pub status: Option<Json>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunSpec {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    pub terminate: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
}

/// A metric's count, limits and durations as numbers (milliseconds for durations), read and
/// checked as Argo's `ValidateMetric` does. A field left `None` is unset, or holds an
/// `{{args.NAME}}` placeholder whose value is known only when a run is made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricSettings {
    pub count: Option<i64>,
    pub failure_limit: Option<i64>,
    pub inconclusive_limit: Option<i64>,
    pub consecutive_error_limit: Option<i64>,
    pub consecutive_success_limit: Option<i64>,
    pub interval: Option<i64>,
    pub initial_delay: Option<i64>,
}

/// A problem with one of a metric's settings: the field it is about, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingProblem {
    pub field: &'static str,
    pub message: String,
}

/// Whether a value holds a `{{...}}` placeholder, filled in when a run is made.
pub fn has_placeholder(text: &str) -> bool {
    text.contains("{{")
}

impl Metric {
    /// The metric's settings and every problem with them, in the order Argo's
    /// `ValidateMetric` reports them (a run reports the first). With `placeholders`, a field
    /// holding a placeholder is left unknown and the checks that need its value are skipped
    /// (`lint`, before the arguments have values); without, it is a problem like any other
    /// unreadable value.
    pub fn settings(&self, placeholders: bool) -> (MetricSettings, Vec<SettingProblem>) {
        let mut problems = Vec::new();
        let mut problem = |field: &'static str, message: String| problems.push(SettingProblem { field, message });
        let mut int = |field: &'static str, value: &Option<IntOrString>| match value {
            None => None,
            Some(IntOrString::Int(n)) => Some(*n),
            Some(IntOrString::String(s)) if placeholders && has_placeholder(s) => None,
            Some(IntOrString::String(s)) => match s.trim().parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    problem(field, format!("{field} {s:?} is not an integer"));
                    None
                }
            },
        };
        let count = int("count", &self.count);
        let failure_limit = int("failureLimit", &self.failure_limit);
        let inconclusive_limit = int("inconclusiveLimit", &self.inconclusive_limit);
        let consecutive_error_limit = int("consecutiveErrorLimit", &self.consecutive_error_limit);
        let consecutive_success_limit = int("consecutiveSuccessLimit", &self.consecutive_success_limit);
        let mut duration =
            |field: &'static str, name: &str, value: &Option<String>| match value.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(text) if placeholders && has_placeholder(text) => None,
                Some(text) => match crate::duration::parse_go_duration(text) {
                    Ok(ms) => Some(ms),
                    Err(e) => {
                        problem(field, format!("invalid {name} string: {e}"));
                        None
                    }
                },
            };
        let interval = duration("interval", "interval", &self.interval);
        let initial_delay = duration("initialDelay", "startDelay", &self.initial_delay);
        let settings = MetricSettings {
            count,
            failure_limit,
            inconclusive_limit,
            consecutive_error_limit,
            consecutive_success_limit,
            interval,
            initial_delay,
        };
        // Unset limits are 0 to Argo; an unknown one (a placeholder) skips the checks it is in.
        let known = |v: Option<i64>, raw: &Option<IntOrString>| if raw.is_none() { Some(0) } else { v };
        let (fl, csl) = (
            known(failure_limit, &self.failure_limit),
            known(consecutive_success_limit, &self.consecutive_success_limit),
        );
        let il = known(inconclusive_limit, &self.inconclusive_limit);
        let c = known(count, &self.count);
        let mut check = |ok: bool, field: &'static str, message: String| {
            if !ok {
                problems.push(SettingProblem { field, message });
            }
        };
        check(csl.is_none_or(|v| v >= 0), "consecutiveSuccessLimit", "consecutiveSuccessLimit must be >= 0".into());
        check(fl.is_none_or(|v| v >= -1), "failureLimit", "failureLimit must be >= 0, or -1 to disable it".into());
        check(
            !(csl == Some(0) && fl == Some(-1)),
            "failureLimit",
            "failureLimit and consecutiveSuccessLimit cannot both be disabled".into(),
        );
        check(il.is_none_or(|v| v >= 0), "inconclusiveLimit", "inconclusiveLimit must be >= 0".into());
        check(
            consecutive_error_limit.is_none_or(|v| v >= 0),
            "consecutiveErrorLimit",
            "consecutiveErrorLimit must be >= 0".into(),
        );
        check(count.is_none_or(|v| v >= 0), "count", "count must be >= 0".into());
        if let Some(c) = c.filter(|c| *c > 0) {
            match (fl, csl) {
                (Some(fl), Some(csl)) if csl >= 0 && fl >= 0 => check(
                    c >= fl + csl,
                    "count",
                    format!(
                        "count ({c}) must be >= failureLimit + consecutiveSuccessLimit ({fl} + {csl}) if both >= 0"
                    ),
                ),
                (Some(fl), Some(csl)) if csl >= 0 && fl < 0 => {
                    check(c >= csl, "count", "count must be >= consecutiveSuccessLimit".into())
                }
                _ => {}
            }
            check(il.is_none_or(|il| c >= il), "count", "count must be >= inconclusiveLimit".into());
        }
        let interval_set = self.interval.as_deref().is_some_and(|i| !i.trim().is_empty());
        check(c.is_none_or(|c| c <= 1) || interval_set, "interval", "interval must be specified when count > 1".into());
        check(interval.is_none_or(|ms| ms > 0), "interval", "interval must be positive".into());
        check(initial_delay.is_none_or(|ms| ms >= 0), "initialDelay", "initialDelay must not be negative".into());
        (settings, problems)
    }
}

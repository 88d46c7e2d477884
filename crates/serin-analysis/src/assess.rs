//! Turns one measured value into a measurement phase, as Argo Rollouts' `EvaluateResult` does
//! with a metric's `successCondition` and `failureCondition`, and defines the phases and the
//! measurement record that `AnalysisRun.status` stores.
//!
//! It also holds serin's minimum-sample guard: a value computed over too few requests says
//! nothing either way, so it is Inconclusive for lack of data rather than a pass or a failure.

use crate::condition::{self, MetricValue};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;
use serin_model::Time;
use serin_model::analysis::Metric;
use std::collections::BTreeMap;
use std::fmt;

/// The phase of a measurement, a metric or a whole run, with Argo's names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Phase {
    #[default]
    Pending,
    Running,
    Successful,
    Failed,
    Inconclusive,
    Error,
}

impl Phase {
    pub const ALL: [Phase; 6] =
        [Phase::Pending, Phase::Running, Phase::Successful, Phase::Failed, Phase::Inconclusive, Phase::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Successful => "Successful",
            Phase::Failed => "Failed",
            Phase::Inconclusive => "Inconclusive",
            Phase::Error => "Error",
        }
    }

    /// Successful, Failed, Inconclusive and Error are final.
    pub fn is_completed(self) -> bool {
        matches!(self, Phase::Successful | Phase::Failed | Phase::Inconclusive | Phase::Error)
    }

    /// Argo's order from best to worst: Successful, Running, Pending, Inconclusive, Error, Failed.
    pub fn severity(self) -> u8 {
        match self {
            Phase::Successful => 0,
            Phase::Running => 1,
            Phase::Pending => 2,
            Phase::Inconclusive => 3,
            Phase::Error => 4,
            Phase::Failed => 5,
        }
    }

    /// Whether `self` is a worse outcome than `other`.
    pub fn is_worse_than(self, other: Phase) -> bool {
        self.severity() > other.severity()
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Phase {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Phase {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        // A run Argo has not reconciled yet has `phase: ""`.
        if text.is_empty() {
            return Ok(Phase::Pending);
        }
        Phase::ALL.into_iter().find(|p| p.as_str() == text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown analysis phase {text:?}: expected Pending, Running, Successful, Failed, Inconclusive or Error"
            ))
        })
    }
}

/// One measurement of a metric, as Argo stores it in `status.metricResults[].measurements`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the value was collected; a measurement without it is still in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// When an in-flight measurement should be looked at again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<Time>,
    /// serin's addition: how many samples (requests, data points) the value was computed over,
    /// when the provider knows. Absent from what Argo writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<u64>,
}

impl Measurement {
    /// A finished measurement of `value`, assessed against the metric's conditions.
    pub fn assessed(metric: &Metric, value: &MetricValue, started_at: Time, finished_at: Time) -> Self {
        let (phase, message) = assess_metric_value(metric, value);
        Measurement {
            phase,
            message: message.unwrap_or_default(),
            started_at: Some(started_at),
            finished_at: Some(finished_at),
            value: value.to_measurement_value(),
            ..Measurement::default()
        }
    }

    /// A measurement whose provider failed (query error, timeout, bad response).
    pub fn error(message: impl Into<String>, started_at: Time, finished_at: Time) -> Self {
        Measurement {
            phase: Phase::Error,
            message: message.into(),
            started_at: Some(started_at),
            finished_at: Some(finished_at),
            ..Measurement::default()
        }
    }

    /// Records how many samples the value was computed over.
    pub fn with_sample(mut self, sample: u64) -> Self {
        self.sample = Some(sample);
        self
    }
}

/// Assesses a JSON value against the metric's conditions, as Argo's `EvaluateResult`:
///
/// - neither condition set: Successful;
/// - only `successCondition`: true is Successful, false is Failed;
/// - only `failureCondition`: true is Failed, false is Successful;
/// - both: failure true is Failed, else success true is Successful, else Inconclusive;
/// - a condition that fails to evaluate: Error, with the message.
pub fn assess_value(metric: &Metric, value: &Json) -> (Phase, Option<String>) {
    assess_with(metric, |expr| condition::evaluate(expr, value))
}

/// [`assess_value`] for a value that may hold NaN or infinities.
pub fn assess_metric_value(metric: &Metric, value: &MetricValue) -> (Phase, Option<String>) {
    assess_with(metric, |expr| condition::evaluate_value(expr, value))
}

fn assess_with(
    metric: &Metric,
    evaluate: impl Fn(&str) -> Result<bool, condition::ConditionError>,
) -> (Phase, Option<String>) {
    let set = |c: &Option<String>| c.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_string);
    let (success, failure) = (set(&metric.success_condition), set(&metric.failure_condition));
    let run = |name: &str, expr: &Option<String>| -> Result<bool, String> {
        match expr {
            Some(expr) => evaluate(expr).map_err(|e| format!("{name} {expr:?} failed: {e}")),
            None => Ok(false),
        }
    };
    let success_true = match run("successCondition", &success) {
        Ok(b) => b,
        Err(message) => return (Phase::Error, Some(message)),
    };
    let failure_true = match run("failureCondition", &failure) {
        Ok(b) => b,
        Err(message) => return (Phase::Error, Some(message)),
    };
    let phase = match (success.is_some(), failure.is_some()) {
        (false, false) => Phase::Successful,
        (true, false) if success_true => Phase::Successful,
        (true, false) => Phase::Failed,
        (false, true) if failure_true => Phase::Failed,
        (false, true) => Phase::Successful,
        (true, true) if failure_true => Phase::Failed,
        (true, true) if success_true => Phase::Successful,
        (true, true) => Phase::Inconclusive,
    };
    (phase, None)
}

/// serin's minimum-sample guard. A Successful, Failed or Inconclusive assessment of a value seen
/// over fewer than `min_sample` samples becomes Inconclusive, with a message saying how many were
/// seen and needed; Error, in-flight phases, an unknown sample size and an unset minimum pass
/// through unchanged.
pub fn guard_min_sample(
    phase: Phase,
    message: Option<String>,
    sample: Option<u64>,
    min_sample: Option<u64>,
) -> (Phase, Option<String>) {
    match (sample, min_sample) {
        (Some(seen), Some(needed))
            // A provider that answered with too few samples: whatever the value gave (even an
            // evaluation error on an empty value), the verdict is "not enough data".
            if seen < needed && matches!(phase, Phase::Successful | Phase::Failed | Phase::Inconclusive | Phase::Error) =>
        {
            let would = if phase == Phase::Inconclusive {
                String::new()
            } else {
                format!(" (the value alone would have been {phase})")
            };
            let noun = if needed == 1 { "sample" } else { "samples" };
            (
                Phase::Inconclusive,
                Some(format!("not enough data: {seen} of the {needed} {noun} needed were seen{would}")),
            )
        }
        _ => (phase, message),
    }
}

#[cfg(test)]
mod tests {
    //! The assessment rules of Argo's `EvaluateResult` as tables, the documented NaN cases, and
    //! the minimum-sample guard.

    use super::*;
    use serde_json::json;

    fn metric(success: Option<&str>, failure: Option<&str>) -> Metric {
        Metric {
            name: "m".into(),
            success_condition: success.map(str::to_string),
            failure_condition: failure.map(str::to_string),
            ..Metric::default()
        }
    }

    /// utils/evaluate/evaluate_test.go: TestEvaluateResultWithSuccess, ...WithFailure,
    /// ...Inconclusive, ...NoSuccessConditionAndNotFailing, ...NoFailureConditionAndNotSuccessful,
    /// ...NoFailureConditionAndNoSuccessCondition, ...WithErrorOnSuccessCondition,
    /// ...WithErrorOnFailureCondition; and the rules in the brief.
    #[test]
    fn assessment_table() {
        let cases: &[(Option<&str>, Option<&str>, Json, Phase)] = &[
            (Some("true"), Some("false"), json!(true), Phase::Successful),
            (Some("true"), Some("true"), json!(true), Phase::Failed),
            (Some("false"), Some("false"), json!(true), Phase::Inconclusive),
            (None, Some("false"), json!(true), Phase::Successful),
            (None, Some("true"), json!(true), Phase::Failed),
            (Some("false"), None, json!(true), Phase::Failed),
            (Some("true"), None, json!(true), Phase::Successful),
            (None, None, json!(true), Phase::Successful),
            (Some(""), Some("  "), json!(true), Phase::Successful),
            (Some("a == true"), Some("true"), json!(true), Phase::Error),
            (Some("true"), Some("a == true"), json!(true), Phase::Error),
            (Some("result[0] >= 0.95"), None, json!([0.99]), Phase::Successful),
            (Some("result[0] >= 0.95"), None, json!([0.5]), Phase::Failed),
            (Some("result[0] >= 0.95"), Some("result[0] < 0.5"), json!([0.7]), Phase::Inconclusive),
            (Some("result[0] >= 0.95"), Some("result[0] < 0.5"), json!([0.2]), Phase::Failed),
            (None, Some("result[0] >= 10"), json!([3]), Phase::Successful),
            (Some("result[0] >= 0.95"), None, json!([]), Phase::Error),
            (Some("result"), None, json!(1), Phase::Error),
        ];
        for (success, failure, value, expected) in cases {
            let (phase, message) = assess_value(&metric(*success, *failure), value);
            assert_eq!(phase, *expected, "success {success:?} failure {failure:?} value {value}");
            assert_eq!(message.is_some(), phase == Phase::Error, "{message:?}");
        }
    }

    #[test]
    fn error_messages_name_the_condition() {
        let (phase, message) = assess_value(&metric(Some("result[0] >= 0.95"), None), &json!([]));
        assert_eq!(phase, Phase::Error);
        assert_eq!(
            message.as_deref(),
            Some(
                "successCondition \"result[0] >= 0.95\" failed: result[0]: index out of range, result is an empty array"
            )
        );
        let (_, message) = assess_value(&metric(None, Some("result >")), &json!(1));
        assert_eq!(
            message.as_deref(),
            Some(
                "failureCondition \"result >\" failed: syntax error at column 9: unexpected end of expression, expected a value (a number, string, name, list, map or `(`)"
            )
        );
    }

    /// analysis.md, "NaN and Infinity": the three NaN examples and the two infinity examples.
    #[test]
    fn nan_and_infinity_examples() {
        let nan = MetricValue::Float(f64::NAN);
        let inf = MetricValue::Float(f64::INFINITY);
        let m = |s, f| metric(s, f);
        assert_eq!(assess_metric_value(&m(Some("isNaN(result) || result >= 0.95"), None), &nan).0, Phase::Successful);
        assert_eq!(assess_metric_value(&m(Some("result >= 0.95"), Some("result < 0.95")), &nan).0, Phase::Inconclusive);
        assert_eq!(assess_metric_value(&m(Some("result >= 0.95"), None), &nan).0, Phase::Failed);
        assert_eq!(assess_metric_value(&m(Some("result >= 0.95"), None), &inf).0, Phase::Successful);
        assert_eq!(assess_metric_value(&m(None, Some("isInf(result)")), &inf).0, Phase::Failed);
    }

    #[test]
    fn measurements_record_value_and_times() {
        let m = Measurement::assessed(&metric(Some("result > 1"), None), &json!(2).into(), Time(1000), Time(2000));
        assert_eq!(
            (m.phase, m.value.as_str(), m.started_at, m.finished_at),
            (Phase::Successful, "2", Some(Time(1000)), Some(Time(2000)))
        );
        let m = Measurement::error("connection refused", Time(1000), Time(2000)).with_sample(3);
        assert_eq!((m.phase, m.message.as_str(), m.sample), (Phase::Error, "connection refused", Some(3)));
    }

    #[test]
    fn min_sample_guard() {
        let guard = |phase, sample, min| guard_min_sample(phase, None, sample, min);
        let (phase, message) = guard(Phase::Successful, Some(12), Some(100));
        assert_eq!(phase, Phase::Inconclusive);
        assert_eq!(
            message.as_deref(),
            Some(
                "not enough data: 12 of the 100 samples needed were seen (the value alone would have been Successful)"
            )
        );
        let (phase, message) = guard(Phase::Failed, Some(0), Some(1));
        assert_eq!(phase, Phase::Inconclusive);
        assert_eq!(
            message.as_deref(),
            Some("not enough data: 0 of the 1 sample needed were seen (the value alone would have been Failed)")
        );
        assert_eq!(guard(Phase::Inconclusive, Some(5), Some(10)).0, Phase::Inconclusive);
        assert_eq!(guard(Phase::Successful, Some(100), Some(100)), (Phase::Successful, None));
        assert_eq!(guard(Phase::Failed, Some(500), Some(100)), (Phase::Failed, None));
        assert_eq!(guard(Phase::Successful, None, Some(100)), (Phase::Successful, None));
        assert_eq!(guard(Phase::Successful, Some(1), None), (Phase::Successful, None));
        // The provider answered with no data and the condition could not be evaluated on it:
        // that is lack of data too. A provider error (no sample count) stays an error.
        let (phase, _) = guard_min_sample(Phase::Error, Some("result is nil".into()), Some(0), Some(10));
        assert_eq!(phase, Phase::Inconclusive);
        let (phase, message) = guard_min_sample(Phase::Error, Some("timeout".into()), None, Some(10));
        assert_eq!((phase, message.as_deref()), (Phase::Error, Some("timeout")));
    }

    #[test]
    fn phase_strings_and_order() {
        for phase in Phase::ALL {
            let json = serde_json::to_value(phase).unwrap();
            assert_eq!(json, json!(phase.as_str()));
            assert_eq!(serde_json::from_value::<Phase>(json).unwrap(), phase);
        }
        assert_eq!(serde_json::from_value::<Phase>(json!("")).unwrap(), Phase::Pending);
        assert!(serde_json::from_value::<Phase>(json!("Done")).is_err());
        let worst_first =
            [Phase::Failed, Phase::Error, Phase::Inconclusive, Phase::Pending, Phase::Running, Phase::Successful];
        for pair in worst_first.windows(2) {
            assert!(pair[0].is_worse_than(pair[1]), "{} should be worse than {}", pair[0], pair[1]);
        }
        assert!(!Phase::Running.is_completed() && !Phase::Pending.is_completed());
    }
}

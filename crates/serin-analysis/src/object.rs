//! An AnalysisRun object as both platforms store it (JSON in Argo's shape), taken through the
//! state machine: its spec with the arguments filled in, one pass that says what to store and
//! what to measure, and the status to store once a measurement is taken.
//!
//! The local platform and the Kubernetes controller differ only in how they store a run and
//! how they take measurements; what a run's manifest means and what a pass over it decides is
//! decided here, once, and stays pure like the rest of this crate.

use crate::{Measurement, Phase, RunSpec, RunStatus};
use serde_json::{Value as Json, json};
use serin_model::Time;
use serin_model::analysis::{AnalysisRunSpec, Metric};

/// Requests serin's own provider needs in its window unless the metric says otherwise.
const NATIVE_MIN_REQUESTS: u64 = 1;

/// What one pass over a run decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Pass {
    /// The status to store, when it differs from the stored one.
    pub write: Option<Json>,
    /// The spec, arguments filled in, that measurements are recorded against (empty when the
    /// spec cannot be read: the run then ends in Error).
    pub spec: RunSpec,
    /// The run's status after the pass.
    pub status: RunStatus,
    /// Metrics to measure now, arguments filled in.
    pub measure: Vec<Metric>,
    /// When to pass over the run again if nothing changes before.
    pub next_reconcile: Option<Time>,
}

/// Decides the run at `now`; `None` when it is complete. A run whose spec cannot be read, or
/// that uses an argument without a value, ends in Error.
pub fn pass(run: &Json, now: Time) -> Option<Pass> {
    let stored = status_of(run);
    if stored.phase.is_completed() {
        return None;
    }
    let spec = match spec_of(run) {
        Ok(spec) => spec,
        Err(message) => {
            let write = json!({"phase": "Error", "message": message});
            let status = RunStatus { phase: Phase::Error, message, ..RunStatus::default() };
            return Some(Pass {
                write: Some(write),
                spec: RunSpec::default(),
                status,
                measure: Vec::new(),
                next_reconcile: None,
            });
        }
    };
    let decision = crate::reconcile(&spec, &stored, now);
    let status = serde_json::to_value(&decision.status).unwrap_or_default();
    let write = (run.get("status") != Some(&status)).then_some(status);
    let measure = decision
        .measure
        .iter()
        .filter_map(|name| spec.metrics.iter().find(|m| &m.metric.name == name))
        .map(|m| m.metric.clone())
        .collect();
    Some(Pass { write, spec, status: decision.status, measure, next_reconcile: decision.next_reconcile })
}

/// The status to store once `measurement` of `metric` is taken: the run's current status with
/// the measurement recorded, assessed at `now`.
pub fn record(run: &Json, spec: &RunSpec, metric: &str, measurement: Measurement, now: Time) -> Json {
    let mut status = status_of(run);
    crate::record(&mut status, metric, measurement, spec);
    serde_json::to_value(crate::reconcile(spec, &status, now).status).unwrap_or_default()
}

/// The run's stored status (a run nobody has looked at yet is Pending).
pub fn status_of(run: &Json) -> RunStatus {
    run.get("status").cloned().and_then(|status| serde_json::from_value(status).ok()).unwrap_or_default()
}

/// The run's spec with its arguments filled in, and serin's minimum-sample guard where the
/// provider reports samples: a Prometheus vector with no series is no data, never a pass, and
/// serin's own provider needs `minRequests` requests.
pub fn spec_of(run: &Json) -> Result<RunSpec, String> {
    let spec = substitute_args(&run["spec"])?;
    let spec: AnalysisRunSpec =
        serde_json::from_value(spec).map_err(|e| format!("the AnalysisRun's spec is not valid: {e}"))?;
    let mut run_spec = RunSpec::from_analysis_run(&spec);
    for metric in &mut run_spec.metrics {
        if let Some(native) = &metric.metric.provider.serin {
            metric.min_sample = Some(native["minRequests"].as_u64().unwrap_or(NATIVE_MIN_REQUESTS));
        } else if metric.metric.provider.prometheus.is_some() {
            metric.min_sample = Some(1);
        }
    }
    Ok(run_spec)
}

/// Fills `{{args.name}}` (spaces inside the braces allowed, as Argo trims them) in the
/// metrics with the run's argument values (JSON-escaped). Any other `{{...}}`, an argument the
/// run does not give, or one without a value, is an error, as in Argo.
fn substitute_args(spec: &Json) -> Result<Json, String> {
    let text = spec["metrics"].to_string();
    let args = spec["args"].as_array().cloned().unwrap_or_default();
    let mut filled = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("{{") {
        let end = rest[start..].find("}}").ok_or("a placeholder opens with {{ and never closes")?;
        let tag = rest[start + 2..start + end].trim();
        let name = tag.strip_prefix("args.").ok_or_else(|| format!("failed to resolve {{{{{tag}}}}}"))?;
        let arg = args
            .iter()
            .find(|a| a["name"] == name)
            .ok_or_else(|| format!("argument '{name}' is used but not given"))?;
        let value = arg["value"].as_str().ok_or_else(|| format!("argument '{name}' has no value"))?;
        let escaped = Json::String(value.to_string()).to_string();
        filled.push_str(&rest[..start]);
        filled.push_str(&escaped[1..escaped.len() - 1]);
        rest = &rest[start + end + 2..];
    }
    filled.push_str(rest);
    let mut spec = spec.clone();
    spec["metrics"] = serde_json::from_str(&filled).map_err(|e| format!("arguments made the metrics invalid: {e}"))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(metric: Json, args: Json, status: Json) -> Json {
        json!({"spec": {"metrics": [metric], "args": args}, "status": status})
    }

    fn web(url: &str) -> Json {
        json!({"name": "m", "successCondition": "result == true", "provider": {"web": {"url": url}}})
    }

    #[test]
    fn arguments_are_filled_in_json_escaped() {
        let run = run(web("http://x/{{args.q}}"), json!([{"name": "q", "value": "a\"b"}]), json!({}));
        let spec = spec_of(&run).unwrap();
        assert_eq!(spec.metrics[0].metric.provider.web.as_ref().unwrap().url, "http://x/a\"b");
    }

    #[test]
    fn a_missing_argument_ends_the_run_in_error() {
        let unset = run(web("http://x/{{args.q}}"), json!([{"name": "q"}]), json!({}));
        let pass = pass(&unset, Time::from_millis(0)).unwrap();
        assert_eq!(pass.write, Some(json!({"phase": "Error", "message": "argument 'q' has no value"})));
        assert!(pass.measure.is_empty());
        let missing = run(web("http://x/{{args.q}}"), json!([]), json!({}));
        assert_eq!(spec_of(&missing).unwrap_err(), "argument 'q' is used but not given");
    }

    #[test]
    fn substituted_values_are_checked_when_the_run_is_made() {
        // The template's placeholders pass lint; the values the run gives are checked now.
        let metric = json!({
            "name": "m", "interval": "{{ args.interval }}", "count": "{{args.count}}",
            "successCondition": "result == {{args.want}}", "provider": {"web": {"url": "http://x/"}}
        });
        let args = |interval: &str, count: &str| json!([{"name": "interval", "value": interval}, {"name": "count", "value": count}, {"name": "want", "value": "true"}]);
        let good = spec_of(&run(metric.clone(), args("5s", "3"), json!({}))).unwrap();
        assert_eq!(good.metrics[0].metric.interval.as_deref(), Some("5s"));
        assert_eq!(good.metrics[0].metric.success_condition.as_deref(), Some("result == true"));
        let now = Time::from_millis(0);
        for (interval, count, message) in [
            ("soon", "3", "Analysis spec invalid: metrics[0]: invalid interval string: invalid duration \"soon\""),
            ("5s", "three", "Analysis spec invalid: metrics[0]: count \"three\" is not an integer"),
            ("5s", "-2", "Analysis spec invalid: metrics[0]: count must be >= 0"),
        ] {
            let pass = pass(&run(metric.clone(), args(interval, count), json!({})), now).unwrap();
            assert_eq!(pass.status.phase, Phase::Error, "{interval} {count}");
            assert_eq!(pass.status.message, message);
        }
        let other = run(web("http://x/{{templates.a.podTemplateHash}}"), json!([]), json!({}));
        assert_eq!(spec_of(&other).unwrap_err(), "failed to resolve {{templates.a.podTemplateHash}}");
    }

    #[test]
    fn a_pass_starts_a_new_run_and_a_recorded_measurement_completes_it() {
        let now = Time::from_millis(1_000);
        let fresh = run(web("http://x/"), json!([]), json!({"phase": "Pending"}));
        let first = pass(&fresh, now).unwrap();
        assert_eq!(first.measure.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["m"]);
        let written = first.write.expect("the run starts");
        assert_eq!(written["phase"], "Running");
        let mut started = fresh.clone();
        started["status"] = written.clone();
        assert_eq!(pass(&started, now).unwrap().write, None, "nothing changed");

        let value = crate::MetricValue::Json(json!(true));
        let measured = Measurement::assessed(&first.measure[0], &value, now, now);
        let status = record(&started, &first.spec, "m", measured, now);
        assert_eq!(status["phase"], "Successful");
        assert_eq!(status["metricResults"][0]["measurements"][0]["value"], "true");
        started["status"] = status;
        assert_eq!(pass(&started, now), None, "a complete run is left alone");
    }

    #[test]
    fn prometheus_and_serin_metrics_need_samples() {
        let prometheus = json!({"name": "p", "provider": {"prometheus": {"address": "http://p", "query": "up"}}});
        let native = json!({"name": "n", "provider": {"serin": {"minRequests": 20}}});
        let both = json!({"spec": {"metrics": [prometheus, native, web("http://x/")]}});
        let samples: Vec<_> = spec_of(&both).unwrap().metrics.iter().map(|m| m.min_sample).collect();
        assert_eq!(samples, [Some(1), Some(20), None]);
    }
}

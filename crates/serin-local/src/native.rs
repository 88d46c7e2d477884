//! serin's own analysis provider (`provider.serin`): per-revision request outcomes of the last
//! seconds, read from the local platform's router, so a canary can be judged with no external
//! system. Kubernetes has no such router; there the provider is an error that says to use
//! Prometheus.

use serde_json::{Value as Json, json};
use serin_analysis::MetricValue;
use serin_providers::{Outcome, Reading};
use serin_router::proxy::Metrics;

/// serin's own provider: `metric` is success-rate (default), error-rate, request-count or
/// latency-pNN (milliseconds), over the last `window` (default 10s) of the revision's traffic.
pub fn measure(spec: &Json, revision: &str, metrics: &Metrics) -> Outcome {
    let window = match spec["window"].as_str() {
        Some(text) => serin_model::duration::parse_go_duration(text)?.max(100) as u64,
        None => 10_000,
    };
    let revision = spec["revision"].as_str().unwrap_or(revision);
    let summary = metrics.recent(revision, window);
    let samples = Some(summary.requests);
    let metric = spec["metric"].as_str().unwrap_or("success-rate");
    let number = |x: Option<f64>| x.map_or(MetricValue::Json(Json::Null), MetricValue::Float);
    let value = match metric {
        "request-count" => MetricValue::Json(json!(summary.requests)),
        "success-rate" => number(summary.success_rate()),
        "error-rate" => number(summary.success_rate().map(|r| 1.0 - r)),
        latency if latency.starts_with("latency-p") => {
            let percentile: f64 = latency["latency-p".len()..]
                .parse()
                .map_err(|_| format!("unknown metric {latency:?}: use latency-p50, latency-p99, ..."))?;
            number(summary.latency_quantile_ms(percentile / 100.0))
        }
        other => {
            return Err(format!(
                "unknown serin metric {other:?}: use success-rate, error-rate, request-count or latency-pNN"
            ));
        }
    };
    Ok(Reading { value, samples })
}

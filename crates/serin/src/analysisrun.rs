//! How an AnalysisRun reads on the command line: its measurement counts as the `get rollout`
//! tree shows them (`✔ 3,✖ 1`), and `get analysisrun NAME`, every metric's measurements.

use crate::view::{Paint, age, table};
use serde_json::Value;
use serin_model::Time;
use std::fmt::Write;

/// kubectl-argo-rollouts' INFO for an AnalysisRun: successful, failed, inconclusive and error
/// measurements summed over its metrics, the ones that are not zero, comma-separated.
pub fn measurement_counts(run: &Value, paint: Paint) -> String {
    let results = run.pointer("/status/metricResults").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let total = |field: &str| results.iter().filter_map(|r| r[field].as_i64()).sum::<i64>();
    [("✔", "successful"), ("✖", "failed"), ("?", "inconclusive"), ("⚠", "error")]
        .into_iter()
        .map(|(icon, field)| (icon, total(field)))
        .filter(|&(_, count)| count > 0)
        .map(|(icon, count)| paint.count(icon, count))
        .collect::<Vec<_>>()
        .join(",")
}

/// `get analysisrun NAME`: the run's phase, message and counts, then one row per measurement
/// of each metric (a metric not measured yet gets a row of its own).
pub fn render(run: &Value, now: Time, paint: Paint) -> String {
    let text = |v: &Value, pointer: &str| v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string();
    let ago = |v: &Value, pointer: &str| match Time::parse(&text(v, pointer)) {
        Ok(at) => age(now.since(at)),
        Err(_) => "-".to_string(),
    };
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<17}{value}");
    };
    line("Name:", text(run, "/metadata/name"));
    line("Namespace:", text(run, "/metadata/namespace"));
    let phase = text(run, "/status/phase");
    line("Status:", paint.analysis(if phase.is_empty() { "Pending" } else { &phase }));
    let message = text(run, "/status/message");
    if !message.is_empty() {
        line("Message:", message);
    }
    let counts = measurement_counts(run, paint);
    if !counts.is_empty() {
        line("Measurements:", counts);
    }
    out.push('\n');
    let mut rows = vec![["METRIC", "PHASE", "VALUE", "STARTED", "FINISHED", "MESSAGE"].map(String::from).to_vec()];
    let results = run.pointer("/status/metricResults").and_then(Value::as_array).cloned().unwrap_or_default();
    for metric in run.pointer("/spec/metrics").and_then(Value::as_array).into_iter().flatten() {
        let name = text(metric, "/name");
        let result = results.iter().find(|r| r["name"] == name.as_str());
        let measurements = result.and_then(|r| r["measurements"].as_array()).cloned().unwrap_or_default();
        if measurements.is_empty() {
            let phase = result.map(|r| text(r, "/phase")).filter(|p| !p.is_empty()).unwrap_or_else(|| "Pending".into());
            let message = result.map(|r| text(r, "/message")).unwrap_or_default();
            rows.push(vec![name, paint.analysis(&phase), "-".into(), "-".into(), "-".into(), message]);
            continue;
        }
        for measurement in &measurements {
            let value = text(measurement, "/value");
            rows.push(vec![
                name.clone(),
                paint.analysis(&text(measurement, "/phase")),
                if value.is_empty() { "-".into() } else { value },
                ago(measurement, "/startedAt"),
                ago(measurement, "/finishedAt"),
                text(measurement, "/message"),
            ]);
        }
    }
    out.push_str(&table(&rows));
    out
}

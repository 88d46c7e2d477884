//! The controller's own HTTP endpoints: `/healthz` (the process answers), `/readyz` (its
//! caches are filled and it can act), `/metrics` in Prometheus' text format with Argo
//! Rollouts' metric names, read straight from the caches, so a scrape costs no API call, and
//! with `--gitops` Argo CD's push webhook, `POST /api/webhook`.

use crate::cache::Caches;
use crate::gitops::GitOps;
use crate::resources::to_json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value as Json;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// What the endpoints report on.
pub struct Health {
    /// Set once the cluster serves the CRDs and the watches have started.
    pub caches: OnceLock<Arc<Caches>>,
    /// Set when the controller syncs Applications (`--gitops`): it takes push webhooks.
    pub gitops: OnceLock<Arc<GitOps>>,
    pub ready: AtomicBool,
    pub leader: Arc<AtomicBool>,
}

pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(h): State<Arc<Health>>| async move {
                if h.ready.load(Ordering::SeqCst) {
                    (StatusCode::OK, "ok")
                } else if h.caches.get().is_none() {
                    (StatusCode::SERVICE_UNAVAILABLE, "waiting for the cluster to serve argoproj.io/v1alpha1 Rollouts")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "caches are still filling")
                }
            }),
        )
        .route(
            "/metrics",
            get(|State(h): State<Arc<Health>>| async move {
                let (rollouts, runs): (Vec<Json>, Vec<Json>) = match h.caches.get() {
                    Some(caches) => (
                        caches.rollouts.state().iter().map(|r| to_json(r)).collect(),
                        caches.analysis_runs.state().iter().map(|r| to_json(r)).collect(),
                    ),
                    None => Default::default(),
                };
                let mut text = metrics(&rollouts, &runs);
                let leader = u8::from(h.leader.load(Ordering::SeqCst));
                let _ = writeln!(text, "# HELP serin_controller_leader Whether this replica holds the leader Lease.");
                let _ = writeln!(text, "# TYPE serin_controller_leader gauge\nserin_controller_leader {leader}");
                ([("content-type", "text/plain; version=0.0.4")], text)
            }),
        )
        .route("/api/webhook", post(webhook))
        .with_state(health)
}

/// A git push webhook, as `serin server` and Argo CD take it: it only ever triggers a read of
/// git, so it is open unless a secret is set for the forge.
async fn webhook(State(h): State<Arc<Health>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(gitops) = h.gitops.get() else {
        return (StatusCode::NOT_FOUND, "this controller does not sync Applications (start it with --gitops)")
            .into_response();
    };
    match gitops.webhook(|name| headers.get(name).and_then(|v| v.to_str().ok()), &body) {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(refused) => {
            (StatusCode::from_u16(refused.status).unwrap_or(StatusCode::BAD_REQUEST), refused.message).into_response()
        }
    }
}

const PHASES: [&str; 4] = ["Progressing", "Paused", "Healthy", "Degraded"];
const RUN_PHASES: [&str; 6] = ["Pending", "Running", "Successful", "Inconclusive", "Error", "Failed"];

fn str_at<'a>(object: &'a Json, pointer: &str) -> &'a str {
    object.pointer(pointer).and_then(Json::as_str).unwrap_or_default()
}

/// Escapes a label value for the text format.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Argo Rollouts' rollout and analysis metrics for these objects.
pub fn metrics(rollouts: &[Json], runs: &[Json]) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let id = |o: &Json| {
        format!(
            "name=\"{}\",namespace=\"{}\"",
            label(str_at(o, "/metadata/name")),
            label(str_at(o, "/metadata/namespace"))
        )
    };
    let router = |r: &Json| {
        let routing = r.pointer("/spec/strategy/canary/trafficRouting").and_then(Json::as_object);
        routing.map(|m| m.keys().cloned().collect::<Vec<_>>().join(",")).unwrap_or_default()
    };
    family(
        "rollout_info",
        "Information about a Rollout.",
        rollouts
            .iter()
            .map(|r| {
                let labels = format!(
                    "{},strategy=\"canary\",traffic_router=\"{}\",phase=\"{}\"",
                    id(r),
                    label(&router(r)),
                    label(str_at(r, "/status/phase"))
                );
                (labels, 1.0)
            })
            .collect(),
    );
    // A Rollout without spec.replicas runs one replica, as Kubernetes defaults it.
    for (name, pointer, default) in [
        ("rollout_info_replicas_desired", "/spec/replicas", 1.0),
        ("rollout_info_replicas_available", "/status/availableReplicas", 0.0),
        ("rollout_info_replicas_updated", "/status/updatedReplicas", 0.0),
    ] {
        let samples =
            rollouts.iter().map(|r| (id(r), r.pointer(pointer).and_then(Json::as_f64).unwrap_or(default))).collect();
        family(name, "Replicas of a Rollout.", samples);
    }
    family(
        "rollout_phase",
        "The phase of a Rollout, one series per phase (deprecated in Argo Rollouts in favour of rollout_info).",
        rollouts
            .iter()
            .flat_map(|r| {
                let current = str_at(r, "/status/phase");
                PHASES.iter().map(move |p| {
                    (format!("{},strategy=\"canary\",phase=\"{p}\"", id(r)), f64::from(u8::from(current == *p)))
                })
            })
            .collect(),
    );
    family(
        "analysis_run_info",
        "Information about an AnalysisRun.",
        runs.iter().map(|r| (format!("{},phase=\"{}\"", id(r), label(str_at(r, "/status/phase"))), 1.0)).collect(),
    );
    family(
        "analysis_run_metric_phase",
        "The phase of each metric of an AnalysisRun, one series per phase.",
        runs.iter()
            .flat_map(|run| {
                let results =
                    run.pointer("/status/metricResults").and_then(Json::as_array).cloned().unwrap_or_default();
                let metrics = run.pointer("/spec/metrics").and_then(Json::as_array).cloned().unwrap_or_default();
                metrics
                    .into_iter()
                    .flat_map(move |metric| {
                        let name = str_at(&metric, "/name").to_string();
                        let kind =
                            metric["provider"].as_object().and_then(|p| p.keys().next().cloned()).unwrap_or_default();
                        let phase = results
                            .iter()
                            .find(|m| m["name"] == name.as_str())
                            .map_or("Pending".to_string(), |m| str_at(m, "/phase").to_string());
                        let base = format!("{},metric=\"{}\",type=\"{}\"", id(run), label(&name), label(&kind));
                        RUN_PHASES
                            .iter()
                            .map(move |p| (format!("{base},phase=\"{p}\""), f64::from(u8::from(phase == *p))))
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metrics_carry_argo_rollouts_names_and_labels() {
        let rollout = json!({"metadata": {"name": "canary-rollout", "namespace": "default"},
            "spec": {"replicas": 10, "strategy": {"canary": {"trafficRouting": {"traefik": {}}}}},
            "status": {"phase": "Paused", "availableReplicas": 11, "updatedReplicas": 1}});
        let run = json!({"metadata": {"name": "run-1", "namespace": "default"},
            "spec": {"metrics": [{"name": "success", "provider": {"prometheus": {}}}]},
            "status": {"phase": "Running", "metricResults": [{"name": "success", "phase": "Running"}]}});
        let text = metrics(&[rollout], &[run]);
        for line in [
            "rollout_info{name=\"canary-rollout\",namespace=\"default\",strategy=\"canary\",traffic_router=\"traefik\",phase=\"Paused\"} 1",
            "rollout_info_replicas_desired{name=\"canary-rollout\",namespace=\"default\"} 10",
            "rollout_info_replicas_available{name=\"canary-rollout\",namespace=\"default\"} 11",
            "rollout_phase{name=\"canary-rollout\",namespace=\"default\",strategy=\"canary\",phase=\"Paused\"} 1",
            "rollout_phase{name=\"canary-rollout\",namespace=\"default\",strategy=\"canary\",phase=\"Healthy\"} 0",
            "analysis_run_info{name=\"run-1\",namespace=\"default\",phase=\"Running\"} 1",
            "analysis_run_metric_phase{name=\"run-1\",namespace=\"default\",metric=\"success\",type=\"prometheus\",phase=\"Running\"} 1",
            "analysis_run_metric_phase{name=\"run-1\",namespace=\"default\",metric=\"success\",type=\"prometheus\",phase=\"Failed\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}

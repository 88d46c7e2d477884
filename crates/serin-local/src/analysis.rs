//! The local platform's analysis controller: runs each AnalysisRun's metrics on schedule (what
//! is due and what to store is decided by `serin_analysis::object`, the flow the Kubernetes
//! controller shares), takes measurements (Prometheus and web through `serin-providers`,
//! serin's own router metrics, a `job` as a one-off local pod), and writes the run's status in
//! Argo's shape. The rollout controller reads its phase: Failed or Error aborts the rollout,
//! Inconclusive pauses it.

use crate::clock::Clock;
use crate::store::{Result, Store, StoreError, Stored};
use serde_json::json;
use serin_analysis::object::{self, Pass};
use serin_analysis::{Measurement, RunSpec};
use serin_model::ObjectKey;
use serin_model::analysis::Metric;
use serin_providers::{Http, Outcome, Reading};
use serin_router::proxy::Proxy;
use std::collections::HashSet;
use std::sync::Arc;

pub struct AnalysisController {
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    pub proxy: Arc<Proxy>,
    http: Http,
    in_flight: parking_lot::Mutex<HashSet<(ObjectKey, String)>>,
}

impl AnalysisController {
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>, proxy: Arc<Proxy>, http: Http) -> Self {
        AnalysisController { store, clock, proxy, http, in_flight: Default::default() }
    }

    /// Starts due measurements; returns when the next one is due (virtual milliseconds).
    pub fn reconcile_all(self: &Arc<Self>) -> Result<Option<i64>> {
        let now = self.clock.now();
        let mut next: Option<i64> = None;
        for run in self.store.list(Some("argoproj.io"), "AnalysisRun", None)? {
            let Some(Pass { write, spec, measure, next_reconcile, .. }) = object::pass(&run.body, now) else {
                continue;
            };
            if let Some(status) = write {
                let mut body = serde_json::Value::clone(&run.body);
                body["status"] = status;
                match self.store.put(&run.key, &body, Some(run.rev)) {
                    Ok(_) | Err(StoreError::Conflict(..)) => {}
                    Err(e) => return Err(e),
                }
            }
            for metric in measure {
                self.start_measurement(&run, &spec, metric);
            }
            if let Some(at) = next_reconcile {
                let after = at.since(now).max(0);
                next = Some(next.map_or(after, |n| n.min(after)));
            }
        }
        Ok(next)
    }

    fn start_measurement(self: &Arc<Self>, run: &Stored, spec: &RunSpec, metric: Metric) {
        let flight = (run.key.clone(), metric.name.clone());
        if !self.in_flight.lock().insert(flight.clone()) {
            return;
        }
        // The listing this pass works from may predate a measurement of this metric recorded
        // since (its flight just ended): measure only if the run as stored now still asks for it.
        let now = self.clock.now();
        let still_due = matches!(self.store.get(&run.key), Ok(Some(fresh))
            if object::pass(&fresh.body, now).is_some_and(|pass| pass.measure.iter().any(|m| m.name == metric.name)));
        if !still_due {
            self.in_flight.lock().remove(&flight);
            return;
        }
        let revision = run.body["metadata"]["labels"][serin_engine::state::POD_TEMPLATE_HASH_LABEL]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let owner = run.body["metadata"].clone();
        let this = self.clone();
        let spec = spec.clone();
        tokio::spawn(async move {
            let started = this.clock.now();
            let outcome = this.measure(&metric, &revision, &owner).await;
            // A job metric passes when its command exits 0 (as Argo's Job succeeding), unless
            // the metric states its own conditions on the result.
            let mut metric = metric;
            if metric.provider.job.is_some() && metric.success_condition.is_none() && metric.failure_condition.is_none()
            {
                metric.success_condition = Some("result == true".to_string());
            }
            let measurement = serin_providers::measurement(&metric, outcome, started, this.clock.now());
            if let Err(error) = this.record(&flight.0, &metric.name, measurement, &spec) {
                tracing::warn!(run = %flight.0.name, %error, "cannot record a measurement");
            }
            this.in_flight.lock().remove(&flight);
        });
    }

    async fn measure(&self, metric: &Metric, revision: &str, run: &serde_json::Value) -> Outcome {
        let provider = &metric.provider;
        if let Some(outcome) = self.http.measure(provider).await {
            return outcome;
        }
        if let Some(native) = &provider.serin {
            return crate::native::measure(native, revision, &self.proxy.metrics);
        }
        if let Some(job) = &provider.job {
            return self.job(run, &metric.name, job).await;
        }
        Err("this metric provider is not supported by serin yet: use prometheus, web or serin".to_string())
    }

    /// Argo's job provider on the local platform: the Job's pod template runs as a one-off Pod
    /// (restartPolicy Never, owned by the AnalysisRun, visible to `get pods` and `logs`);
    /// `true` when it succeeds within `activeDeadlineSeconds`, retried `backoffLimit` times.
    async fn job(&self, run: &serde_json::Value, metric: &str, job: &serde_json::Value) -> Outcome {
        let template = job.pointer("/spec/template").filter(|t| t.pointer("/spec/containers/0").is_some());
        let template = template.ok_or("job.spec.template.spec.containers is required")?;
        let deadline = std::time::Duration::from_secs(
            job.pointer("/spec/activeDeadlineSeconds").and_then(|v| v.as_u64()).unwrap_or(600),
        );
        let attempts = job.pointer("/spec/backoffLimit").and_then(|v| v.as_u64()).unwrap_or(0) + 1;
        let namespace = run["namespace"].as_str().unwrap_or("default");
        let slug: String =
            metric.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        for _ in 0..attempts {
            let name = format!(
                "{}-{}-{}",
                run["name"].as_str().unwrap_or_default(),
                slug.trim_matches('-'),
                crate::objects::random_suffix()
            );
            let mut spec = template["spec"].clone();
            spec["restartPolicy"] = "Never".into();
            let mut labels = template.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
            labels["analysis.serin.dev/run"] = run["name"].clone();
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": name, "namespace": namespace, "uid": crate::objects::new_uid(),
                    "creationTimestamp": self.clock.now().to_string(), "labels": labels,
                    "ownerReferences": serin_engine::objects::controller_reference("argoproj.io/v1alpha1", "AnalysisRun", run),
                },
                "spec": spec,
                "status": {"phase": "Pending"},
            });
            let key = crate::objects::pod_key(namespace, &name);
            self.store.put(&key, &pod, None).map_err(|e| e.to_string())?;
            let started = std::time::Instant::now();
            let phase = loop {
                let body = self.store.get(&key).map_err(|e| e.to_string())?.map(|p| p.body).unwrap_or_default();
                let phase = body.pointer("/status/phase").and_then(|p| p.as_str()).unwrap_or_default().to_string();
                if phase == "Succeeded" || phase == "Failed" {
                    break phase;
                }
                let waiting = body.pointer("/status/containerStatuses/0/state/waiting");
                if let Some(waiting) = waiting.filter(|w| w["reason"] == "RunContainerError") {
                    return Err(format!("job pod {name}: {}", waiting["message"].as_str().unwrap_or_default()));
                }
                if started.elapsed() > deadline {
                    return Err(format!(
                        "job pod {name} did not finish within activeDeadlineSeconds ({}s)",
                        deadline.as_secs()
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            };
            if phase == "Succeeded" {
                return Ok(Reading { value: serin_analysis::MetricValue::Json(json!(true)), samples: None });
            }
        }
        Ok(Reading { value: serin_analysis::MetricValue::Json(json!(false)), samples: None })
    }

    fn record(&self, key: &ObjectKey, metric: &str, measurement: Measurement, spec: &RunSpec) -> Result<()> {
        for _ in 0..10 {
            let Some(run) = self.store.get(key)? else { return Ok(()) };
            let mut body = serde_json::Value::clone(&run.body);
            body["status"] = object::record(&run.body, spec, metric, measurement.clone(), self.clock.now());
            match self.store.put(key, &body, Some(run.rev)) {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict(..)) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

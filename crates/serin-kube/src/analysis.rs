//! The AnalysisRun controller for a cluster: without it, the runs the Rollout controller creates
//! for step and background analysis would stay Pending and their Rollouts would wait forever.
//!
//! Each pass takes every run that is not complete through the flow the local platform uses too
//! (`serin_analysis::object`: what is due, what to store) and takes the due measurements:
//! Prometheus and web through `serin-providers`, and Argo's `job` provider as a batch/v1 Job,
//! named, labelled and owned as Argo Rollouts makes it, whose Complete or Failed condition is
//! the measurement. Status is written through the run's status subresource when its CRD has
//! one (Argo's and `serin crd`'s do not), else with a normal update; every write is
//! conditional on the resourceVersion it was decided from.
//!
//! The caches may lag behind a measurement just recorded, so a measurement starts only after
//! the run, read again from the API server, still has it due.

use crate::cache::Caches;
use crate::controller::{Error, RESYNC, delete, now};
use crate::resources::{self, from_json, to_json};
use kube::Client;
use kube::api::PostParams;
use parking_lot::Mutex;
use serde_json::{Value as Json, json};
use serin_analysis::object::{self, Pass};
use serin_analysis::{Measurement, Phase, RunSpec, RunStatus};
use serin_engine::objects::{controller_reference, controller_uid};
use serin_model::Time;
use serin_model::analysis::Metric;
use serin_providers::Http;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The label on a metric's Job that names its run's uid (Argo's; the Job cache selects on it).
pub const RUN_UID_LABEL: &str = "analysisrun.argoproj.io/uid";
/// The annotations on a metric's Job that name its run and metric (Argo's).
const RUN_NAME_ANNOTATION: &str = "analysisrun.argoproj.io/name";
const METRIC_NAME_ANNOTATION: &str = "analysisrun.argoproj.io/metric-name";
/// The measurement's metadata key that names its Job (Argo's).
const JOB_NAME_KEY: &str = "job-name";
/// What a measurement of serin's own provider says on a cluster.
const NO_ROUTER: &str = "the serin provider reads serin's own router; on Kubernetes use prometheus";

pub struct Analysis {
    caches: Arc<Caches>,
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    http: Http,
    status_subresource: bool,
    /// (namespace, run, metric) of the measurements being taken.
    in_flight: Mutex<HashSet<(String, String, String)>>,
}

/// A run as the API server has it, read again before a measurement starts or is recorded.
struct Fresh {
    run: Json,
    pass: Pass,
}

impl Analysis {
    /// Asks the API server once whether AnalysisRuns have a status subresource.
    pub async fn new(client: Client, caches: Arc<Caches>, http: Http) -> Result<Analysis, Error> {
        let resource = resources::analysis_runs();
        let served = client.list_api_group_resources(&resource.api_version).await?;
        let status_subresource = served.resources.iter().any(|r| r.name == format!("{}/status", resource.plural));
        tracing::info!(
            status_subresource,
            "AnalysisRun status is written {}",
            if status_subresource { "through the status subresource" } else { "with the object" }
        );
        let shared = Shared { client, http, status_subresource, in_flight: Mutex::default() };
        Ok(Analysis { caches, shared: Arc::new(shared) })
    }

    /// Passes over every run once; returns how soon the next pass is due.
    pub async fn pass(&self) -> Duration {
        let now = now();
        let mut jobs: HashMap<String, Vec<Json>> = HashMap::new();
        for job in self.caches.jobs.state() {
            let job = to_json(&job);
            if let Some(uid) = job["metadata"]["labels"][RUN_UID_LABEL].as_str() {
                jobs.entry(uid.to_string()).or_default().push(job);
            }
        }
        let mut next = RESYNC;
        for run in self.caches.analysis_runs.state() {
            let run = to_json(&run);
            let uid = run["metadata"]["uid"].as_str().unwrap_or_default();
            let own_jobs = jobs.get(uid).map(Vec::as_slice).unwrap_or_default();
            match self.reconcile(&run, own_jobs, now).await {
                Ok(Some(at)) => {
                    // What is due already has been started, and its write wakes the controller.
                    let after = at.since(now);
                    next = next.min(Duration::from_millis(if after > 0 { after as u64 } else { 1000 }));
                }
                Ok(None) => {}
                Err(error) => {
                    let name = run["metadata"]["name"].as_str().unwrap_or_default();
                    tracing::warn!(run = %name, %error, "analysis failed; retrying");
                    next = next.min(Duration::from_secs(1));
                }
            }
        }
        next
    }

    async fn reconcile(&self, run: &Json, jobs: &[Json], now: Time) -> Result<Option<Time>, Error> {
        let Some(pass) = object::pass(run, now) else {
            self.end_jobs(jobs).await?;
            return Ok(None);
        };
        if let Some(status) = &pass.write {
            match self.shared.write_status(run, status.clone()).await {
                Ok(()) => {}
                // The cache is behind; the newer run comes through the watch.
                Err(kube::Error::Api(status)) if status.is_conflict() => return Ok(None),
                Err(error) => return Err(error.into()),
            }
        }
        if pass.status.phase.is_completed() {
            self.end_jobs(jobs).await?;
            return Ok(None);
        }
        for metric in &pass.measure {
            if metric.provider.job.is_some()
                && let Some(job) = in_flight_job(&pass.status, &metric.name)
                && jobs.iter().any(|j| j["metadata"]["name"] == job && job_phase(j).is_none())
            {
                // Its Job is still running; the Job's next change wakes the controller.
                continue;
            }
            self.start(run, metric.clone());
        }
        Ok(pass.next_reconcile)
    }

    /// Deletes the Jobs of a complete run that are still running (a terminated run, or one
    /// that another metric decided), as Argo's job provider does when a run terminates.
    async fn end_jobs(&self, jobs: &[Json]) -> kube::Result<()> {
        for job in jobs {
            if job_phase(job).is_none() && job["metadata"]["deletionTimestamp"].is_null() {
                let namespace = job["metadata"]["namespace"].as_str().unwrap_or_default();
                let name = job["metadata"]["name"].as_str().unwrap_or_default();
                delete(&resources::namespaced(&self.shared.client, namespace, &resources::jobs()), name).await?;
                tracing::info!(job = %name, "deleted the Job of a complete analysis run");
            }
        }
        Ok(())
    }

    /// Takes a measurement of `metric` in the background, unless one is being taken.
    fn start(&self, run: &Json, metric: Metric) {
        let namespace = run["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
        let name = run["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let flight = (namespace, name, metric.name.clone());
        if !self.shared.in_flight.lock().insert(flight.clone()) {
            return;
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let (namespace, name, _) = &flight;
            if let Err(error) = shared.measure(namespace, name, &metric).await {
                tracing::warn!(run = %name, metric = %metric.name, %error, "cannot take a measurement");
            }
            shared.in_flight.lock().remove(&flight);
        });
    }
}

impl Shared {
    async fn measure(&self, namespace: &str, name: &str, metric: &Metric) -> Result<(), Error> {
        let Some(fresh) = self.fresh(namespace, name).await? else { return Ok(()) };
        if !fresh.pass.measure.iter().any(|m| m.name == metric.name) {
            return Ok(());
        }
        let started = now();
        let measurement = if metric.provider.job.is_some() {
            match self.job(&fresh, metric, started).await? {
                Some(measurement) => measurement,
                None => return Ok(()),
            }
        } else {
            let outcome = match self.http.measure(&metric.provider).await {
                Some(outcome) => outcome,
                None if metric.provider.serin.is_some() => Err(NO_ROUTER.to_string()),
                None => Err("this metric provider is not supported by serin yet: use prometheus, web or job".into()),
            };
            serin_providers::measurement(metric, outcome, started, now())
        };
        self.record(namespace, name, &fresh.pass.spec, &metric.name, measurement).await
    }

    /// Argo's job provider: a new measurement creates the metric's Job and stays in flight
    /// (Running, naming its Job); a measurement in flight ends when its Job does, Successful
    /// when it completed, Failed when it failed. `None` while the Job runs.
    async fn job(&self, fresh: &Fresh, metric: &Metric, now: Time) -> Result<Option<Measurement>, Error> {
        let namespace = fresh.run["metadata"]["namespace"].as_str().unwrap_or_default();
        let jobs = resources::namespaced(&self.client, namespace, &resources::jobs());
        if let Some(name) = in_flight_job(&fresh.pass.status, &metric.name) {
            let Some(last) = fresh.pass.status.result(&metric.name).and_then(|r| r.measurements.last()) else {
                return Ok(None);
            };
            let mut measurement = last.clone();
            match jobs.get_opt(name).await? {
                Some(job) => {
                    let Some(phase) = job_phase(&to_json(&job)) else { return Ok(None) };
                    measurement.phase = phase;
                    measurement.finished_at = Some(now);
                }
                None => {
                    measurement.phase = Phase::Error;
                    measurement.message = format!("the Job {name} of this measurement does not exist");
                    measurement.finished_at = Some(now);
                }
            }
            return Ok(Some(measurement));
        }
        let result = fresh.pass.status.result(&metric.name);
        let number = result.map_or(0, |r| r.count + r.error) + 1;
        let uid = fresh.run["metadata"]["uid"].as_str().unwrap_or_default();
        let name = format!("{uid}.{}.{number}", metric.name);
        let mut measurement = Measurement { phase: Phase::Running, started_at: Some(now), ..Measurement::default() };
        let job = from_json(job_for(&fresh.run, metric, &name)).map_err(kube::Error::SerdeError)?;
        match jobs.create(&PostParams::default(), &job).await {
            Ok(_) => tracing::info!(job = %name, "created the Job of a measurement"),
            Err(kube::Error::Api(status)) if status.is_already_exists() => {
                // Created by an earlier attempt whose measurement was not recorded.
                let existing = jobs.get(&name).await?;
                if controller_uid(&to_json(&existing)) != Some(uid) {
                    return Ok(Some(Measurement::error(
                        format!("a Job named {name} exists and is not this run's"),
                        now,
                        now,
                    )));
                }
            }
            Err(kube::Error::Api(status)) => {
                return Ok(Some(Measurement::error(
                    format!("cannot create the Job {name}: {}", status.message),
                    now,
                    now,
                )));
            }
            Err(error) => return Err(error.into()),
        }
        measurement.metadata.insert(JOB_NAME_KEY.to_string(), name);
        Ok(Some(measurement))
    }

    /// Stores `measurement`, retrying on conflicts with the run read again.
    async fn record(
        &self,
        namespace: &str,
        name: &str,
        spec: &RunSpec,
        metric: &str,
        measurement: Measurement,
    ) -> Result<(), Error> {
        for _ in 0..10 {
            let Some(run) = self.get(namespace, name).await? else { return Ok(()) };
            let status = object::record(&run, spec, metric, measurement.clone(), now());
            match self.write_status(&run, status).await {
                Ok(()) => return Ok(()),
                Err(kube::Error::Api(status)) if status.is_conflict() => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::Invalid(format!("the run {name} kept changing; the measurement of {metric} was not stored")))
    }

    async fn get(&self, namespace: &str, name: &str) -> kube::Result<Option<Json>> {
        let api = resources::namespaced(&self.client, namespace, &resources::analysis_runs());
        Ok(api.get_opt(name).await?.map(|run| to_json(&run)))
    }

    /// The run as the API server has it, and a pass over it now; `None` when it is gone or
    /// complete.
    async fn fresh(&self, namespace: &str, name: &str) -> kube::Result<Option<Fresh>> {
        let Some(run) = self.get(namespace, name).await? else { return Ok(None) };
        Ok(object::pass(&run, now()).map(|pass| Fresh { run, pass }))
    }

    async fn write_status(&self, run: &Json, status: Json) -> kube::Result<()> {
        let mut updated = run.clone();
        updated["status"] = status;
        let namespace = run["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = run["metadata"]["name"].as_str().unwrap_or_default();
        let api = resources::namespaced(&self.client, namespace, &resources::analysis_runs());
        let updated = from_json(updated).map_err(kube::Error::SerdeError)?;
        if self.status_subresource {
            api.replace_status(name, &PostParams::default(), &updated).await?;
        } else {
            api.replace(name, &PostParams::default(), &updated).await?;
        }
        Ok(())
    }
}

/// The Job of a `job` metric, as Argo's job provider makes it: the metric's Job spec, its
/// labels and annotations plus the run's uid, name and the metric's name, owned by the run.
fn job_for(run: &Json, metric: &Metric, name: &str) -> Json {
    let job = metric.provider.job.clone().unwrap_or_default();
    let object_or_empty = |value: &Json| if value.is_object() { value.clone() } else { json!({}) };
    let mut labels = object_or_empty(&job["metadata"]["labels"]);
    labels[RUN_UID_LABEL] = run["metadata"]["uid"].clone();
    let mut annotations = object_or_empty(&job["metadata"]["annotations"]);
    annotations[RUN_NAME_ANNOTATION] = run["metadata"]["name"].clone();
    annotations[METRIC_NAME_ANNOTATION] = metric.name.clone().into();
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": run["metadata"]["namespace"],
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": controller_reference("argoproj.io/v1alpha1", "AnalysisRun", &run["metadata"]),
        },
        "spec": job["spec"],
    })
}

/// The Job a metric's last measurement waits on, while it is in flight.
fn in_flight_job<'a>(status: &'a RunStatus, metric: &str) -> Option<&'a str> {
    let last = status.result(metric)?.measurements.last()?;
    last.finished_at.is_none().then(|| last.metadata.get(JOB_NAME_KEY)).flatten().map(String::as_str)
}

/// A finished Job's verdict: Successful when Complete, Failed when Failed; `None` while it runs.
fn job_phase(job: &Json) -> Option<Phase> {
    let conditions = job["status"]["conditions"].as_array()?;
    conditions.iter().filter(|c| c["status"] == "True").find_map(|c| match c["type"].as_str() {
        Some("Complete") => Some(Phase::Successful),
        Some("Failed") => Some(Phase::Failed),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_job_is_named_labelled_and_owned_as_argo_makes_it() {
        let run = json!({"metadata": {"name": "r", "namespace": "ns", "uid": "u-1"}});
        let metric: Metric = serde_json::from_value(json!({"name": "check", "provider": {"job": {
            "metadata": {"labels": {"team": "a"}, "annotations": {"note": "n"}},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}},
        }}}))
        .unwrap();
        let job = job_for(&run, &metric, "u-1.check.1");
        assert_eq!(job["metadata"]["labels"], json!({"team": "a", RUN_UID_LABEL: "u-1"}));
        assert_eq!(
            job["metadata"]["annotations"],
            json!({"note": "n", RUN_NAME_ANNOTATION: "r", METRIC_NAME_ANNOTATION: "check"})
        );
        assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "AnalysisRun");
        assert_eq!(job["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(job["spec"]["backoffLimit"], 0);
    }

    #[test]
    fn a_job_is_judged_by_its_complete_or_failed_condition() {
        let with = |kind: &str, status: &str| json!({"status": {"conditions": [{"type": kind, "status": status}]}});
        assert_eq!(job_phase(&with("Complete", "True")), Some(Phase::Successful));
        assert_eq!(job_phase(&with("Failed", "True")), Some(Phase::Failed));
        assert_eq!(job_phase(&with("Failed", "False")), None);
        assert_eq!(job_phase(&json!({"status": {"active": 1}})), None);
    }
}

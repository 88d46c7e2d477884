//! AnalysisRuns on a real Kubernetes API server (kubeenv, v1.20), run by `serin controller`
//! as a real process: a web metric as a step analysis of the seed's Rollout lets the rollout go
//! on when it passes and aborts it when it fails; a `job` metric runs as a Kubernetes Job (the
//! test plays kubelet for its pod) and a terminated run deletes its running Job; a prometheus
//! metric reads a real Prometheus; serin's own provider, which reads the local platform's
//! router, is an Error that says what to use.

mod kubeenv;
mod prometheus;

use kubeenv::KubeEnv;
use kubeenv::seed::{
    ROLLOUTS, WAIT, apply_seed_with, cluster, rollout, run_named, seed_rollout, serin_ok, set_image, wait_phase,
};
use kubeenv::web_metric::{data_ok_template, endpoint};
use prometheus::Prometheus;
use serde_json::{Value as Json, json};
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::Duration;

const CONTROLLER: &[&str] = &["--no-leader-election", "--listen", "127.0.0.1:0"];

/// The seed's canary release with a step analysis of the web metric `data-ok` after
/// `setWeight: 10`, at v1 and then updated to v2.
async fn release_with_step_analysis(env: &KubeEnv, url: &str) {
    env.apply("default", data_ok_template(url)).await;
    let mut rollout = seed_rollout();
    let steps = rollout["spec"]["strategy"]["canary"]["steps"].as_array_mut().unwrap();
    steps.insert(1, json!({"analysis": {"templates": [{"templateName": "data-ok"}]}}));
    apply_seed_with(env, &["traefik.containo.us"], rollout).await;
    wait_phase(env, "canary-rollout", "Healthy", None).await;
    set_image(env, "canary-rollout", "ikubernetes/myapp:v2");
}

/// The only AnalysisRun in the namespace, once its phase is `phase`.
async fn the_run(env: &KubeEnv, phase: &str) -> Json {
    env.eventually(&format!("the AnalysisRun {phase}"), WAIT, || async {
        let runs = env.list(ROLLOUTS, "AnalysisRun", "default").await;
        assert!(runs.len() <= 1, "one run, not {runs:#?}");
        runs.into_iter().find(|run| run["status"]["phase"] == phase)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passing_web_analysis_step_lets_the_rollout_go_on() {
    let env = cluster(&["traefik.io"]).await;
    let _controller = env.controller("a", CONTROLLER);
    release_with_step_analysis(&env, &endpoint(true).0).await;

    let paused = wait_phase(&env, "canary-rollout", "Paused", Some(2)).await;
    let run = the_run(&env, "Successful").await;
    assert_eq!(run["metadata"]["name"], "canary-rollout-95d95c65-2-1");
    assert_eq!(run["metadata"]["ownerReferences"][0]["name"], "canary-rollout");
    let result = &run["status"]["metricResults"][0];
    assert_eq!((result["name"].clone(), result["phase"].clone()), (json!("data-ok"), json!("Successful")));
    assert_eq!((result["count"].clone(), result["successful"].clone()), (json!(1), json!(1)));
    let measurements = result["measurements"].as_array().unwrap();
    assert_eq!(measurements.len(), 1, "{measurements:#?}");
    assert_eq!(
        (measurements[0]["phase"].clone(), measurements[0]["value"].clone()),
        (json!("Successful"), json!("true"))
    );
    assert!(measurements[0]["finishedAt"].is_string());
    let step_run = &paused["status"]["canary"]["currentStepAnalysisRunStatus"];
    assert_eq!(
        (step_run["name"].clone(), step_run["status"].clone()),
        (run["metadata"]["name"].clone(), json!("Successful"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_web_analysis_step_aborts_the_rollout() {
    let env = cluster(&["traefik.io"]).await;
    let _controller = env.controller("a", CONTROLLER);
    release_with_step_analysis(&env, &endpoint(false).0).await;

    let aborted = wait_phase(&env, "canary-rollout", "Degraded", None).await;
    let message = aborted["status"]["message"].as_str().unwrap();
    assert!(message.contains("RolloutAborted"), "{message}");
    assert!(message.contains("Metric \"data-ok\" assessed Failed"), "{message}");
    let run = the_run(&env, "Failed").await;
    let result = &run["status"]["metricResults"][0];
    assert_eq!((result["phase"].clone(), result["failed"].clone()), (json!("Failed"), json!(1)));
    let measurements = result["measurements"].as_array().unwrap();
    assert_eq!(measurements.len(), 1, "{measurements:#?}");
    assert_eq!((measurements[0]["phase"].clone(), measurements[0]["value"].clone()), (json!("Failed"), json!("false")));
    env.eventually("all traffic back to stable", WAIT, || async {
        let status = rollout(&env, "canary-rollout").await["status"].clone();
        (status["canary"]["weights"]["canary"]["weight"] == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_a_failed_analysis_measures_again_in_a_new_run() {
    let env = cluster(&["traefik.io"]).await;
    let _controller = env.controller("a", CONTROLLER);
    let (url, ok) = endpoint(false);
    release_with_step_analysis(&env, &url).await;
    wait_phase(&env, "canary-rollout", "Degraded", None).await;
    run_named(&env, "canary-rollout-95d95c65-2-1", "Failed").await;

    // The metric recovered: the retry measures in a new run, which passes, and the release
    // goes on to the pause after the analysis.
    ok.store(true, Ordering::SeqCst);
    serin_ok(&env, &["retry", "rollout", "canary-rollout"]);
    let run = run_named(&env, "canary-rollout-95d95c65-2-1.1", "Successful").await;
    assert_eq!(run["metadata"]["ownerReferences"][0]["name"], "canary-rollout");
    let paused = wait_phase(&env, "canary-rollout", "Paused", Some(2)).await;
    assert_eq!(paused["status"]["canary"]["currentStepAnalysisRunStatus"]["name"], "canary-rollout-95d95c65-2-1.1");
    let failed = env.get(ROLLOUTS, "AnalysisRun", "default", "canary-rollout-95d95c65-2-1").await;
    assert_eq!(failed.unwrap()["status"]["phase"], "Failed", "the failed run is kept for the record");
}

/// An AnalysisRun of one `job` metric whose pod runs `sh -c "exit 0"`.
fn job_run(name: &str) -> Json {
    json!({"apiVersion": ROLLOUTS, "kind": "AnalysisRun", "metadata": {"name": name},
        "spec": {"metrics": [{"name": "smoke", "provider": {"job": {
            "metadata": {"labels": {"team": "canary"}, "annotations": {"purpose": "smoke test"}},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "smoke", "image": "busybox", "command": ["sh", "-c", "exit 0"]}]}}}}}}]}})
}

/// The Job of run `name`'s first measurement, once it exists.
async fn job_of(env: &KubeEnv, name: &str) -> Json {
    let run = env.get(ROLLOUTS, "AnalysisRun", "default", name).await.unwrap();
    let job = format!("{}.smoke.1", run["metadata"]["uid"].as_str().unwrap());
    env.eventually(&format!("the Job {job}"), WAIT, || env.get("batch/v1", "Job", "default", &job)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn job_metrics_run_as_kubernetes_jobs() {
    let env = cluster(&[]).await;
    let _controller = env.controller("a", CONTROLLER);
    for name in ["passes", "fails", "stopped"] {
        env.apply("default", job_run(name)).await;
    }

    let job = job_of(&env, "passes").await;
    let run = env.get(ROLLOUTS, "AnalysisRun", "default", "passes").await.unwrap();
    let metadata = &job["metadata"];
    assert_eq!(metadata["labels"], json!({"team": "canary", "analysisrun.argoproj.io/uid": run["metadata"]["uid"]}));
    assert_eq!(
        metadata["annotations"],
        json!({"purpose": "smoke test", "analysisrun.argoproj.io/name": "passes", "analysisrun.argoproj.io/metric-name": "smoke"})
    );
    let owner = &metadata["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].clone(), owner["name"].clone(), owner["uid"].clone(), owner["controller"].clone()),
        (json!("AnalysisRun"), json!("passes"), run["metadata"]["uid"].clone(), json!(true))
    );
    // The Job is created before its measurement is recorded, and the run may be Running before
    // either: wait for the measurement itself.
    let running = env
        .eventually("the Job's measurement recorded", WAIT, || async {
            let run = env.get(ROLLOUTS, "AnalysisRun", "default", "passes").await?;
            let recorded = !run["status"]["metricResults"][0]["measurements"][0].is_null();
            (run["status"]["phase"] == "Running" && recorded).then_some(run)
        })
        .await;
    let measurement = &running["status"]["metricResults"][0]["measurements"][0];
    assert_eq!(measurement["phase"], "Running");
    assert_eq!(measurement["metadata"]["job-name"], metadata["name"]);
    assert!(measurement["finishedAt"].is_null());

    env.finish_job_pod(&job, 0).await;
    let passed = run_named(&env, "passes", "Successful").await;
    let result = &passed["status"]["metricResults"][0];
    assert_eq!((result["phase"].clone(), result["successful"].clone()), (json!("Successful"), json!(1)));
    assert_eq!(result["measurements"].as_array().unwrap().len(), 1);
    assert_eq!(result["measurements"][0]["metadata"]["job-name"], metadata["name"]);

    let job = job_of(&env, "fails").await;
    env.finish_job_pod(&job, 1).await;
    let failed = run_named(&env, "fails", "Failed").await;
    assert_eq!(failed["status"]["metricResults"][0]["measurements"][0]["phase"], "Failed");

    let job = job_of(&env, "stopped").await;
    run_named(&env, "stopped", "Running").await;
    env.merge(ROLLOUTS, "AnalysisRun", "default", "stopped", json!({"spec": {"terminate": true}}), false).await;
    let stopped = run_named(&env, "stopped", "Successful").await;
    assert_eq!(stopped["status"]["message"], "Run Terminated");
    assert_eq!(stopped["status"]["metricResults"][0]["measurements"][0]["message"], "Metric Terminated");
    let job_name = job["metadata"]["name"].as_str().unwrap();
    env.eventually("the terminated run's Job deleted", WAIT, || async {
        let job = env.get("batch/v1", "Job", "default", job_name).await;
        job.is_none_or(|j| j["metadata"]["deletionTimestamp"].is_string()).then_some(())
    })
    .await;
    let jobs = env.list("batch/v1", "Job", "default").await;
    assert_eq!(jobs.len(), 2, "one Job a measurement, none again: {jobs:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_serin_provider_is_an_error_on_kubernetes() {
    let env = cluster(&[]).await;
    let _controller = env.controller("a", CONTROLLER);
    env.apply(
        "default",
        json!({"apiVersion": ROLLOUTS, "kind": "AnalysisRun", "metadata": {"name": "native"},
            "spec": {"metrics": [{"name": "success-rate", "successCondition": "result >= 0.95", "consecutiveErrorLimit": 0,
                "provider": {"serin": {"metric": "success-rate"}}}]}}),
    )
    .await;
    let run = run_named(&env, "native", "Error").await;
    let measurement = &run["status"]["metricResults"][0]["measurements"][0];
    assert_eq!(measurement["phase"], "Error");
    assert_eq!(measurement["message"], "the serin provider reads serin's own router; on Kubernetes use prometheus");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prometheus_metric_reads_a_real_prometheus() {
    let env = cluster(&[]).await;
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let _controller = env.controller("a", &["--no-leader-election", "--listen", &listen]);
    // Prometheus scrapes the controller's own /metrics; the controller measures through it.
    let prometheus = Prometheus::start(&listen);
    let query = format!("{}/api/v1/query?query=serin_controller_leader", prometheus.url);
    env.eventually("Prometheus has scraped the controller", Duration::from_secs(30), || async {
        let answer: Json = ureq::get(&query).call().ok()?.body_mut().read_json().ok()?;
        answer["data"]["result"].as_array().is_some_and(|r| !r.is_empty()).then_some(())
    })
    .await;
    env.apply(
        "default",
        json!({"apiVersion": ROLLOUTS, "kind": "AnalysisRun", "metadata": {"name": "leader"},
            "spec": {"metrics": [{"name": "leader", "successCondition": "result[0] == 1",
                "provider": {"prometheus": {"address": prometheus.url, "query": "serin_controller_leader"}}}]}}),
    )
    .await;
    let run = run_named(&env, "leader", "Successful").await;
    let measurement = &run["status"]["metricResults"][0]["measurements"][0];
    assert_eq!((measurement["phase"].clone(), measurement["value"].clone()), (json!("Successful"), json!("[1]")));
}

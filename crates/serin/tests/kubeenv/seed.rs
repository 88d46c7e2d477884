//! The seed's canary release on a test cluster, for every Kubernetes test file: a cluster with
//! serin's CRDs, the seed's manifests applied, its Rollout and AnalysisRuns waited on and
//! driven through serin's CLI.

use super::KubeEnv;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const ROLLOUTS: &str = "argoproj.io/v1alpha1";
pub const WAIT: Duration = Duration::from_secs(60);

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn seed(file: &str) -> String {
    std::fs::read_to_string(repo().join("examples/argo-demo/argorollout-canary").join(file)).unwrap()
}

/// The seed's Rollout as JSON.
pub fn seed_rollout() -> Json {
    serin_model::yaml::parse_documents(&seed("rollout.yaml")).unwrap()[0].root.to_json()
}

/// A cluster with serin's CRDs and the Traefik CRDs of `traefik_groups`.
pub async fn cluster(traefik_groups: &[&str]) -> KubeEnv {
    install_crds(KubeEnv::start().await, traefik_groups).await
}

/// The same, whose pods run for real in a pod network (`KubeEnv::start_running_pods`).
pub async fn cluster_running_pods(traefik_groups: &[&str]) -> KubeEnv {
    install_crds(KubeEnv::start_running_pods().await, traefik_groups).await
}

async fn install_crds(env: KubeEnv, traefik_groups: &[&str]) -> KubeEnv {
    // `serin crd` only prints: it takes no kubeconfig.
    let crds = std::process::Command::new(env!("CARGO_BIN_EXE_serin")).arg("crd").output().unwrap();
    assert!(crds.status.success(), "serin crd failed: {}", String::from_utf8_lossy(&crds.stderr));
    env.apply_yaml("default", &String::from_utf8(crds.stdout).unwrap()).await;
    for group in traefik_groups {
        env.apply_file("default", &repo().join(format!("tests/kube/traefik-crds-{group}.yaml"))).await;
    }
    env
}

/// Applies the seed's manifests, leaving out the objects of API groups in `skip`.
pub async fn apply_seed(env: &KubeEnv, skip: &[&str]) {
    apply_seed_with(env, skip, seed_rollout()).await;
}

/// Applies the seed's Service and Ingress manifests (but the objects of API groups in `skip`)
/// and `rollout` in place of the seed's Rollout.
pub async fn apply_seed_with(env: &KubeEnv, skip: &[&str], rollout: Json) {
    for file in ["service.yaml", "ingress.yaml"] {
        for document in serin_model::yaml::parse_documents(&seed(file)).unwrap() {
            let object = document.root.to_json();
            let api_version = object["apiVersion"].as_str().unwrap_or_default();
            if !skip.iter().any(|group| api_version.starts_with(&format!("{group}/"))) {
                env.apply("default", object).await;
            }
        }
    }
    env.apply("default", rollout).await;
}

pub async fn rollout(env: &KubeEnv, name: &str) -> Json {
    env.get(ROLLOUTS, "Rollout", "default", name).await.expect("the rollout exists")
}

/// Waits until the Rollout reports `phase` at step `step` (`None`: any step).
pub async fn wait_phase(env: &KubeEnv, name: &str, phase: &str, step: Option<i64>) -> Json {
    env.eventually(&format!("rollout {name} {phase} at step {step:?}"), WAIT, || async {
        let rollout = rollout(env, name).await;
        let status = &rollout["status"];
        let at_step = step.is_none_or(|s| status["currentStepIndex"].as_i64() == Some(s));
        (status["phase"] == phase
            && at_step
            && status["observedGeneration"].as_str().and_then(|g| g.parse().ok())
                == rollout["metadata"]["generation"].as_i64())
        .then_some(rollout)
    })
    .await
}

/// Waits until the AnalysisRun `name` reports `phase`.
pub async fn run_named(env: &KubeEnv, name: &str, phase: &str) -> Json {
    env.eventually(&format!("AnalysisRun {name} {phase}"), WAIT, || async {
        env.get(ROLLOUTS, "AnalysisRun", "default", name).await.filter(|run| run["status"]["phase"] == phase)
    })
    .await
}

/// `kubectl argo rollouts set image canary-rollout myapp=ikubernetes/myapp:v2`, through serin's CLI.
pub fn set_image(env: &KubeEnv, name: &str, image: &str) {
    let container = format!("myapp={image}");
    let output = env.serin(&["set", "image", name, &container]);
    assert!(output.status.success(), "set image failed: {}", String::from_utf8_lossy(&output.stderr));
}

pub fn serin_ok(env: &KubeEnv, args: &[&str]) -> String {
    let output = env.serin(args);
    assert!(output.status.success(), "serin {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

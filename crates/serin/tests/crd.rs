//! `serin crd` against a real kube-apiserver v1.20 (kubeenv): the CRDs install with a
//! client-side `kubectl apply` and are structural; the seed's Rollout and Application and
//! the maximal manifests of serin-model's CRD tests are stored exactly as sent (nothing
//! pruned); the status and scale subresources work; a Rollout with a field of the wrong type
//! is refused by the API server itself.

mod kubeenv;

use kubeenv::KubeEnv;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn documents(text: &str) -> Vec<Value> {
    serin_model::yaml::parse_documents(text).unwrap().iter().map(|d| d.root.to_json()).collect()
}

fn repo_file(path: &str) -> (String, String) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path);
    (path.to_string(), std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Where `stored` differs from `sent`: `spec.bogus: sent 1, stored nothing`.
fn differences(sent: &Value, stored: &Value, path: &str, out: &mut Vec<String>) {
    match (sent, stored) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let (a, b) = (a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null));
                differences(a, b, &format!("{path}.{key}"), out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (a, b)) in a.iter().zip(b).enumerate() {
                differences(a, b, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a != b => {
            let shown = |v: &Value| if v.is_null() { "nothing".to_string() } else { v.to_string() };
            out.push(format!("{path}: sent {}, stored {}", shown(a), shown(b)));
        }
        _ => {}
    }
}

fn assert_stored_as_sent(sent: &Value, stored: &Value, what: &str) {
    let mut found = Vec::new();
    differences(sent, stored, what, &mut found);
    assert!(found.is_empty(), "the API server changed what it was sent:\n{}", found.join("\n"));
}

/// The API path of an object of one of the CRDs.
fn object_path(crds: &[Value], object: &Value) -> String {
    let crd = crds.iter().find(|c| c["spec"]["names"]["kind"] == object["kind"]).expect("a kind of serin crd");
    let namespace = match crd["spec"]["scope"].as_str() {
        Some("Namespaced") => format!("namespaces/{}/", object["metadata"]["namespace"].as_str().unwrap_or("default")),
        _ => String::new(),
    };
    format!(
        "/apis/argoproj.io/v1alpha1/{namespace}{}/{}",
        crd["spec"]["names"]["plural"].as_str().unwrap(),
        object["metadata"]["name"].as_str().unwrap()
    )
}

/// The stored CRD once the API server serves it (`kubectl wait` fails on a CRD whose
/// conditions are not written yet).
fn established(kube: &KubeEnv, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, stored) =
            kube.request("GET", &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"), None);
        assert_eq!(status, 200, "{stored}");
        let conditions = stored["status"]["conditions"].as_array().into_iter().flatten();
        if conditions.clone().any(|c| c["type"] == "Established" && c["status"] == "True") {
            return stored;
        }
        assert!(Instant::now() < deadline, "{name} is not Established: {}", stored["status"]);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn crds_install_on_kubernetes_1_20_and_keep_every_field() {
    let kube = KubeEnv::start().await;

    let printed = Command::new(env!("CARGO_BIN_EXE_serin")).arg("crd").output().unwrap();
    assert!(printed.status.success(), "serin crd: {}", stderr(&printed));
    let stream = String::from_utf8(printed.stdout).unwrap();
    let crds = documents(&stream);
    assert_eq!(crds.len(), 5);
    let applied = kube.kubectl(&["apply", "-f", "-"], &stream);
    assert!(applied.status.success(), "kubectl apply of serin crd: {}", stderr(&applied));
    for crd in &crds {
        let name = crd["metadata"]["name"].as_str().unwrap();
        let stored = established(&kube, name);
        let conditions = stored["status"]["conditions"].as_array().unwrap();
        assert!(
            !conditions.iter().any(|c| c["type"] == "NonStructuralSchema" && c["status"] == "True"),
            "{name}: {conditions:?}"
        );
        assert_eq!(stored["spec"]["versions"], crd["spec"]["versions"], "{name} is stored as printed");
        let annotation = &stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"];
        assert!(annotation.is_string(), "{name} was applied client-side");
    }

    // What serin reads, the API server keeps as it is (the seed's Application lives in
    // Argo CD's namespace).
    let argocd = kube.kubectl(&["create", "namespace", "argocd"], "");
    assert!(argocd.status.success(), "{}", stderr(&argocd));
    for (file, text) in [
        repo_file("examples/canary.yaml"),
        repo_file("examples/argo-demo/argorollout-canary/rollout.yaml"),
        repo_file("crates/serin-model/tests/crd/maximal-rollout.yaml"),
        repo_file("crates/serin-model/tests/crd/maximal-analysis.yaml"),
    ] {
        let applied = kube.kubectl(&["apply", "-f", "-"], &text);
        assert!(applied.status.success(), "kubectl apply -f {file}: {}", stderr(&applied));
        for sent in documents(&text) {
            let (status, stored) = kube.request("GET", &object_path(&crds, &sent), None);
            assert_eq!(status, 200, "{file}: {stored}");
            let what = format!("{file}: {} {}", sent["kind"], sent["metadata"]["name"]);
            assert_stored_as_sent(&sent["spec"], &stored["spec"], &format!("{what} spec"));
            // Argo's AnalysisRun has no status subresource: its status is kept with the object.
            if sent["kind"] == "AnalysisRun" {
                assert_stored_as_sent(&sent["status"], &stored["status"], &format!("{what} status"));
            }
        }
    }

    // The status subresource keeps a status as serin writes it, and the scale subresource
    // reads its replicas and selector.
    let rollout = "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/canary-rollout";
    let status = json!({
        "HPAReplicas": 10,
        "replicas": 10,
        "updatedReplicas": 1,
        "readyReplicas": 10,
        "availableReplicas": 10,
        "selector": "app=myapp",
        "currentPodHash": "95d95c65",
        "currentStepHash": "5b9d5d9d4b",
        "currentStepIndex": 1,
        "stableRS": "69dc9f5f56",
        "observedGeneration": "2",
        "phase": "Paused",
        "message": "CanaryPauseStep",
        "controllerPause": true,
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2024-06-23T04:30:04Z"}],
        "conditions": [{
            "type": "Paused", "status": "True", "reason": "RolloutPaused", "message": "Rollout is paused",
            "lastUpdateTime": "2024-06-23T04:30:04Z", "lastTransitionTime": "2024-06-23T04:30:04Z",
        }],
        "canary": {"weights": {
            "canary": {"weight": 10, "serviceName": "canary-active", "podTemplateHash": "95d95c65"},
            "stable": {"weight": 90, "serviceName": "canary-preview", "podTemplateHash": "69dc9f5f56"},
        }},
    });
    let (code, stored) = kube.request("PATCH", &format!("{rollout}/status"), Some(&json!({"status": status})));
    assert_eq!(code, 200, "{stored}");
    assert_stored_as_sent(&status, &stored["status"], "canary-rollout status");
    let (code, scale) = kube.request("GET", &format!("{rollout}/scale"), None);
    assert_eq!(code, 200, "{scale}");
    assert_eq!(
        (&scale["spec"]["replicas"], &scale["status"]["replicas"], &scale["status"]["selector"]),
        (&json!(10), &json!(10), &json!("app=myapp"))
    );

    // A wrong type is refused by the API server itself (kubectl would refuse it before sending).
    let bogus = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "bogus"},
        "spec": {"replicas": "ten"},
    });
    let (code, answer) = kube.request("POST", "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts", Some(&bogus));
    assert_eq!(code, 422, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("spec.replicas"), "{answer}");
}

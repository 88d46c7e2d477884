//! The manifests in `deploy/` that install serin's controller on a cluster: they parse, fit
//! together (namespace, ServiceAccount, binding, Deployment), name no wildcard in the
//! ClusterRole, install on a real kube-apiserver v1.20, and grant the controller what it
//! needs and not more (asked of the API server's own authorizer).

mod kubeenv;

use kubeenv::KubeEnv;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const FILES: [&str; 3] = ["00-namespace.yaml", "10-rbac.yaml", "20-controller.yaml"];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every document of every file in deploy/, with its file name.
fn manifests() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let documents = serin_model::yaml::parse_documents(&text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        out.extend(documents.iter().map(|d| (name.clone(), d.root.to_json())));
    }
    out
}

fn one<'a>(manifests: &'a [(String, Value)], kind: &str) -> &'a Value {
    let found: Vec<&Value> = manifests.iter().map(|(_, m)| m).filter(|m| m["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "deploy/ should hold exactly one {kind}");
    found[0]
}

#[test]
fn manifests_fit_together_and_the_cluster_role_names_no_wildcard() {
    let manifests = manifests();
    let mut files: Vec<&str> = manifests.iter().map(|(file, _)| file.as_str()).collect();
    files.dedup();
    let mut installed = FILES.to_vec();
    installed.sort();
    assert_eq!(
        files, installed,
        "every file in deploy/ is in FILES, in the order kubectl apply -f deploy/ installs them (by name)"
    );
    for (file, manifest) in &manifests {
        for field in ["apiVersion", "kind"] {
            assert!(manifest[field].is_string(), "{file}: {field} in {manifest}");
        }
        assert!(manifest["metadata"]["name"].is_string(), "{file}: {manifest}");
    }

    let role = one(&manifests, "ClusterRole");
    for rule in role["rules"].as_array().unwrap() {
        for field in ["apiGroups", "resources", "verbs"] {
            let values = rule[field].as_array().unwrap_or_else(|| panic!("{field} in {rule}"));
            assert!(!values.is_empty() && !values.contains(&json!("*")), "{field} in {rule}");
        }
        assert!(rule.get("nonResourceURLs").is_none() && rule.get("resourceNames").is_none(), "{rule}");
    }

    let namespace = one(&manifests, "Namespace")["metadata"]["name"].clone();
    let account = one(&manifests, "ServiceAccount");
    assert_eq!(account["metadata"]["namespace"], namespace);
    let binding = one(&manifests, "ClusterRoleBinding");
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"]})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": namespace}])
    );
    let deployment = one(&manifests, "Deployment");
    assert_eq!(deployment["metadata"]["namespace"], namespace);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
    let container = &pod["containers"][0];
    let ports: Vec<&Value> = container["ports"].as_array().unwrap().iter().map(|p| &p["name"]).collect();
    for probe in ["livenessProbe", "readinessProbe"] {
        assert!(ports.contains(&&container[probe]["httpGet"]["port"]), "{probe} uses a declared port");
    }
    let args: Vec<&str> = container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let listen = args.iter().find_map(|a| a.strip_prefix("--listen=")).expect("--listen in the controller's args");
    assert_eq!(listen.rsplit_once(':').unwrap().1, container["ports"][0]["containerPort"].to_string());
    // The binary takes these arguments (`--help` after them: parsed, not run).
    let parsed = Command::new(env!("CARGO_BIN_EXE_serin")).args(&args).arg("--help").output().unwrap();
    assert!(parsed.status.success(), "serin {args:?}: {}", String::from_utf8_lossy(&parsed.stderr));
    assert_eq!(args[0], "controller");
}

/// Whether the API server lets serin's ServiceAccount do `verb` on `group`/`resource`.
fn allowed(kube: &KubeEnv, verb: &str, group: &str, resource: &str) -> bool {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "system:serviceaccount:serin-system:serin",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:serin-system", "system:authenticated"],
            "resourceAttributes": {
                "namespace": "default", "verb": verb, "group": group, "resource": resource, "subresource": subresource,
            },
        },
    });
    let (status, answer) = kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", Some(&review));
    assert_eq!(status, 201, "{answer}");
    answer["status"]["allowed"] == true
}

#[tokio::test]
async fn manifests_install_and_grant_what_the_controller_needs_and_no_more() {
    let kube = KubeEnv::start().await;
    let mut args = vec!["apply".to_string()];
    for file in FILES {
        args.extend(["-f".to_string(), deploy_dir().join(file).display().to_string()]);
    }
    let applied = kube.kubectl(&args.iter().map(String::as_str).collect::<Vec<_>>(), "");
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let (status, deployment) =
        kube.request("GET", "/apis/apps/v1/namespaces/serin-system/deployments/serin-controller", None);
    assert_eq!(status, 200, "{deployment}");

    const READ: &[&str] = &["get", "list", "watch"];
    const READ_WRITE: &[&str] = &["get", "list", "watch", "update", "patch"];
    const OWN: &[&str] = &["get", "list", "watch", "create", "update", "patch", "delete"];
    let needed: &[(&str, &[&str], &[&str])] = &[
        ("argoproj.io", &["rollouts", "rollouts/status", "rollouts/finalizers"], READ_WRITE),
        ("argoproj.io", &["analysisruns", "analysisruns/finalizers"], OWN),
        ("argoproj.io", &["analysistemplates", "clusteranalysistemplates"], READ),
        ("apps", &["replicasets"], OWN),
        ("", &["pods"], &["get", "list", "watch", "patch", "delete"]),
        ("", &["services"], READ_WRITE),
        ("traefik.io", &["traefikservices"], READ_WRITE),
        ("traefik.containo.us", &["traefikservices"], READ_WRITE),
        ("networking.k8s.io", &["ingresses"], OWN),
        ("gateway.networking.k8s.io", &["httproutes"], READ_WRITE),
        ("batch", &["jobs"], &["get", "list", "watch", "create", "delete"]),
        ("", &["events"], &["create", "patch"]),
        ("events.k8s.io", &["events"], &["create", "patch"]),
        ("coordination.k8s.io", &["leases"], &["get", "create", "update"]),
        ("", &["secrets"], &["get"]),
        ("apiextensions.k8s.io", &["customresourcedefinitions"], &["get", "list"]),
    ];
    let mut refused = Vec::new();
    for (group, resources, verbs) in needed {
        for resource in *resources {
            for verb in *verbs {
                if !allowed(&kube, verb, group, resource) {
                    refused.push(format!("{verb} {group}/{resource}"));
                }
            }
        }
    }
    assert!(refused.is_empty(), "the controller may not:\n{}", refused.join("\n"));

    let beyond = [
        ("create", "argoproj.io", "rollouts"),
        ("delete", "argoproj.io", "rollouts"),
        ("update", "argoproj.io", "analysistemplates"),
        ("delete", "argoproj.io", "clusteranalysistemplates"),
        ("create", "", "pods"),
        ("delete", "", "services"),
        ("list", "", "secrets"),
        ("create", "", "secrets"),
        ("get", "", "configmaps"),
        ("create", "apps", "deployments"),
        ("update", "batch", "jobs"),
        ("delete", "coordination.k8s.io", "leases"),
        ("create", "apiextensions.k8s.io", "customresourcedefinitions"),
        ("bind", "rbac.authorization.k8s.io", "clusterroles"),
    ];
    let granted: Vec<String> = beyond
        .iter()
        .filter(|(verb, group, resource)| allowed(&kube, verb, group, resource))
        .map(|(verb, group, resource)| format!("{verb} {group}/{resource}"))
        .collect();
    assert!(granted.is_empty(), "the controller may also:\n{}", granted.join("\n"));
}

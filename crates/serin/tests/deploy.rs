//! The manifests in `deploy/` that install serin on a cluster with one command,
//! `kubectl apply -k deploy/`: the kustomizations list every file, the CRDs are `serin crd`'s
//! output, the objects fit together (namespace, ServiceAccount, binding, Deployment), the
//! ClusterRole names no wildcard, `kubectl kustomize` renders them with the image tagged as
//! scripts/image.sh tags it, and they install on a real kube-apiserver v1.20 and grant the
//! controller what it needs and not more (asked of the API server's own authorizer).

mod kubeenv;

use kubeenv::KubeEnv;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn yaml_documents(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let documents = serin_model::yaml::parse_documents(&text).unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
    documents.iter().map(|d| d.root.to_json()).collect()
}

/// The files the kustomization in `dir` lists (`resources`), then those of its `bases`, each
/// as a path relative to deploy/; and every kustomization read on the way.
fn kustomized(dir: &Path, files: &mut Vec<PathBuf>, kustomizations: &mut Vec<(PathBuf, Value)>) {
    let path = dir.join("kustomization.yaml");
    let kustomization = yaml_documents(&path).remove(0);
    let list = |field: &str| -> Vec<String> {
        kustomization[field].as_array().into_iter().flatten().map(|v| v.as_str().unwrap().to_string()).collect()
    };
    for file in list("resources") {
        let file = dir.join(file);
        assert!(file.is_file(), "{} lists {}, which is not a file", path.display(), file.display());
        files.push(file.strip_prefix(deploy_dir()).unwrap().to_path_buf());
    }
    kustomizations.push((path.strip_prefix(deploy_dir()).unwrap().to_path_buf(), kustomization.clone()));
    for base in list("bases") {
        kustomized(&dir.join(base), files, kustomizations);
    }
}

/// Every document of every file the kustomizations list, with its file's path.
fn manifests() -> Vec<(PathBuf, Value)> {
    let (mut files, mut kustomizations) = (Vec::new(), Vec::new());
    kustomized(&deploy_dir(), &mut files, &mut kustomizations);
    files.iter().flat_map(|f| yaml_documents(&deploy_dir().join(f)).into_iter().map(move |d| (f.clone(), d))).collect()
}

/// Every YAML file under `dir`, relative to deploy/.
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path.strip_prefix(deploy_dir()).unwrap().to_path_buf());
        }
    }
}

fn one<'a>(manifests: &'a [(PathBuf, Value)], kind: &str) -> &'a Value {
    let found: Vec<&Value> = manifests.iter().map(|(_, m)| m).filter(|m| m["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "deploy/ should hold exactly one {kind}");
    found[0]
}

#[test]
fn manifests_fit_together_and_the_cluster_role_names_no_wildcard() {
    let (mut listed, mut kustomizations) = (Vec::new(), Vec::new());
    kustomized(&deploy_dir(), &mut listed, &mut kustomizations);
    let mut on_disk = Vec::new();
    yaml_files(&deploy_dir(), &mut on_disk);
    let mut expected: Vec<PathBuf> =
        listed.iter().cloned().chain(kustomizations.iter().map(|(p, _)| p.clone())).collect();
    expected.sort();
    on_disk.sort();
    assert_eq!(on_disk, expected, "every YAML file in deploy/ is a kustomization or listed by one");

    let manifests = manifests();
    for (file, manifest) in &manifests {
        for field in ["apiVersion", "kind"] {
            assert!(manifest[field].is_string(), "{}: {field} in {manifest}", file.display());
        }
        assert!(manifest["metadata"]["name"].is_string(), "{}: {manifest}", file.display());
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
    // The image's entrypoint is `serin controller` (tests/image.rs checks it); the args follow
    // it, and the binary takes them (`--help` after them: parsed, not run).
    let parsed =
        Command::new(env!("CARGO_BIN_EXE_serin")).arg("controller").args(&args).arg("--help").output().unwrap();
    assert!(parsed.status.success(), "serin controller {args:?}: {}", String::from_utf8_lossy(&parsed.stderr));

    // The one `images:` entry names the Deployment's image and tags it with serin's version.
    let images: Vec<&Value> = kustomizations.iter().filter_map(|(_, k)| k.get("images")).collect();
    assert_eq!(images.len(), 1, "one kustomization sets the image");
    assert_eq!(images[0], &json!([{"name": container["image"], "newTag": env!("CARGO_PKG_VERSION")}]));
}

#[test]
fn the_committed_crds_are_what_serin_crd_prints() {
    let printed = Command::new(env!("CARGO_BIN_EXE_serin")).arg("crd").output().unwrap();
    assert!(printed.status.success(), "serin crd: {}", String::from_utf8_lossy(&printed.stderr));
    let committed = std::fs::read(deploy_dir().join("crds.yaml")).unwrap();
    assert!(
        committed == printed.stdout,
        "deploy/crds.yaml differs from what `serin crd` prints; write it anew with\n  cargo run -q -p serin -- crd > deploy/crds.yaml"
    );
}

/// `kubectl kustomize deploy/`, as objects.
fn rendered(kubectl: &Path) -> Vec<Value> {
    let output = Command::new(kubectl).arg("kustomize").arg(deploy_dir()).output().unwrap();
    assert!(output.status.success(), "kubectl kustomize deploy/: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    serin_model::yaml::parse_documents(&text).unwrap().iter().map(|d| d.root.to_json()).collect()
}

/// The kubectls whose kustomize must render deploy/: the one on PATH, and Debian's 1.20, whose
/// kustomize is older (scripts/test.sh unpacks it into the test cache).
fn kubectls() -> [PathBuf; 2] {
    let cache = std::env::var_os("SERIN_TEST_CACHE").unwrap_or_else(|| "/var/cache/serin-tests".into());
    let debian = PathBuf::from(cache).join("kubectl-1.20/usr/bin/kubectl");
    assert!(debian.is_file(), "{} is missing: scripts/test.sh unpacks Debian's kubectl there", debian.display());
    [PathBuf::from("kubectl"), debian]
}

#[test]
fn kubectl_kustomize_renders_every_object_with_the_image_of_this_version() {
    let sources: Vec<Value> = manifests().into_iter().map(|(_, m)| m).collect();
    let key = |o: &Value| format!("{}/{}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap());
    let mut expected: Vec<String> = sources.iter().map(key).collect();
    expected.sort();
    for kubectl in kubectls() {
        let rendered = rendered(&kubectl);
        let mut names: Vec<String> = rendered.iter().map(key).collect();
        names.sort();
        assert_eq!(names, expected, "{} kustomize renders each object of the listed files once", kubectl.display());
        for object in &rendered {
            let mut source = sources.iter().find(|s| key(s) == key(object)).unwrap().clone();
            if source["kind"] == "Deployment" {
                let image = format!("serin:{}", env!("CARGO_PKG_VERSION"));
                source["spec"]["template"]["spec"]["containers"][0]["image"] = image.into();
            }
            assert!(
                object == &source,
                "{} kustomize renders {} as written, but for the image tag:\n{object:#}",
                kubectl.display(),
                key(object)
            );
        }
    }
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
async fn apply_k_installs_everything_and_grants_what_the_controller_needs_and_no_more() {
    let kube = KubeEnv::start().await;
    let applied = kube.kubectl(&["apply", "-k", deploy_dir().to_str().unwrap()], "");
    assert!(applied.status.success(), "kubectl apply -k deploy/: {}", String::from_utf8_lossy(&applied.stderr));
    let (status, deployment) =
        kube.request("GET", "/apis/apps/v1/namespaces/serin-system/deployments/serin-controller", None);
    assert_eq!(status, 200, "{deployment}");
    let image = &deployment["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(image, &json!(format!("serin:{}", env!("CARGO_PKG_VERSION"))));
    for crd in ["rollouts", "analysisruns", "analysistemplates", "clusteranalysistemplates"] {
        let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}.argoproj.io");
        let (status, stored) = kube.request("GET", &path, None);
        assert_eq!(status, 200, "the CRD {crd}.argoproj.io is installed: {stored}");
    }

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

//! The manifests in `deploy/` that install serin on a cluster with one command,
//! `kubectl apply -k deploy/` (or, with GitOps, `kubectl apply -k deploy/gitops/`): the
//! kustomizations list every file, the CRDs are `serin crd`'s output, the objects fit together
//! (namespace, ServiceAccount, bindings, Deployment), no ClusterRole names a wildcard,
//! `kubectl kustomize` renders them with the image tagged as scripts/image.sh tags it, and
//! they install on a real kube-apiserver v1.20 and grant the controller what it needs and not
//! more (asked of the API server's own authorizer).

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

/// The two installs: `kubectl apply -k deploy/`, and with GitOps `kubectl apply -k deploy/gitops/`.
const INSTALLS: [&str; 2] = ["", "gitops"];

/// What one kustomization installs, as paths relative to deploy/: the files it and its bases
/// list (`resources`), the patches they apply, and every kustomization read on the way.
#[derive(Default)]
struct Install {
    files: Vec<PathBuf>,
    patches: Vec<PathBuf>,
    kustomizations: Vec<(PathBuf, Value)>,
}

fn install(root: &str) -> Install {
    let mut install = Install::default();
    kustomized(&deploy_dir().join(root), &mut install);
    install
}

fn kustomized(dir: &Path, install: &mut Install) {
    let path = dir.join("kustomization.yaml");
    let kustomization = yaml_documents(&path).remove(0);
    let listed = |field: &str| -> Vec<PathBuf> {
        let names = kustomization[field].as_array().into_iter().flatten().map(|v| v.as_str().unwrap());
        names
            .map(|name| dir.join(name).canonicalize().unwrap_or_else(|e| panic!("{}: {name}: {e}", path.display())))
            .collect()
    };
    let relative = |path: &Path| path.strip_prefix(deploy_dir().canonicalize().unwrap()).unwrap().to_path_buf();
    for (field, out) in [("resources", &mut install.files), ("patchesStrategicMerge", &mut install.patches)] {
        for file in listed(field) {
            assert!(file.is_file(), "{} lists {}, which is not a file", path.display(), file.display());
            out.push(relative(&file));
        }
    }
    install.kustomizations.push((relative(&path.canonicalize().unwrap()), kustomization.clone()));
    for base in listed("bases") {
        kustomized(&base, install);
    }
}

/// Every document of every file an install lists, with its file's path.
fn manifests(root: &str) -> Vec<(PathBuf, Value)> {
    let files = install(root).files;
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
    let mut on_disk = Vec::new();
    yaml_files(&deploy_dir(), &mut on_disk);
    let mut expected: Vec<PathBuf> = INSTALLS
        .iter()
        .map(|root| install(root))
        .flat_map(|i| i.files.into_iter().chain(i.patches).chain(i.kustomizations.into_iter().map(|(p, _)| p)))
        .collect();
    expected.sort();
    expected.dedup();
    on_disk.sort();
    assert_eq!(on_disk, expected, "every YAML file in deploy/ is a kustomization or listed by one");

    for root in INSTALLS {
        for (file, manifest) in &manifests(root) {
            for field in ["apiVersion", "kind"] {
                assert!(manifest[field].is_string(), "{}: {field} in {manifest}", file.display());
            }
            assert!(manifest["metadata"]["name"].is_string(), "{}: {manifest}", file.display());
            if manifest["kind"] == "ClusterRole" {
                for rule in manifest["rules"].as_array().unwrap() {
                    for field in ["apiGroups", "resources", "verbs"] {
                        let values = rule[field].as_array().unwrap_or_else(|| panic!("{field} in {rule}"));
                        assert!(!values.is_empty() && !values.contains(&json!("*")), "{field} in {rule}");
                    }
                    assert!(rule.get("nonResourceURLs").is_none() && rule.get("resourceNames").is_none(), "{rule}");
                }
            }
        }
    }

    let manifests = manifests("");
    let role = one(&manifests, "ClusterRole");

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
    // Both installs' controller arguments: the GitOps one patches them.
    let patched = gitops_patch();
    for container in [container, &patched["spec"]["template"]["spec"]["containers"][0]] {
        let args: Vec<&str> = container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        let listen = args.iter().find_map(|a| a.strip_prefix("--listen=")).expect("--listen in the controller's args");
        assert_eq!(listen.rsplit_once(':').unwrap().1, "8090");
        // The image's entrypoint is `serin controller` (tests/image.rs checks it); the args
        // follow it, and the binary takes them (`--help` after them: parsed, not run).
        let parsed =
            Command::new(env!("CARGO_BIN_EXE_serin")).arg("controller").args(&args).arg("--help").output().unwrap();
        assert!(parsed.status.success(), "serin controller {args:?}: {}", String::from_utf8_lossy(&parsed.stderr));
    }
    assert_eq!(container["ports"][0]["containerPort"], 8090);

    // The one `images:` entry names the Deployment's image and tags it with serin's version.
    let kustomizations = install("").kustomizations;
    let images: Vec<&Value> = kustomizations.iter().filter_map(|(_, k)| k.get("images")).collect();
    assert_eq!(images.len(), 1, "one kustomization sets the image");
    assert_eq!(images[0], &json!([{"name": container["image"], "newTag": env!("CARGO_PKG_VERSION")}]));
}

#[test]
fn the_committed_crds_are_what_serin_crd_prints() {
    let printed = Command::new(env!("CARGO_BIN_EXE_serin")).arg("crd").output().unwrap();
    assert!(printed.status.success(), "serin crd: {}", String::from_utf8_lossy(&printed.stderr));
    let committed = std::fs::read(deploy_dir().join("crds/crds.yaml")).unwrap();
    assert!(
        committed == printed.stdout,
        "deploy/crds/crds.yaml differs from what `serin crd` prints; write it anew with\n  cargo run -q -p serin -- crd > deploy/crds/crds.yaml"
    );
}

/// The Deployment patch of the GitOps install.
fn gitops_patch() -> Value {
    install("gitops").patches.iter().flat_map(|p| yaml_documents(&deploy_dir().join(p))).next().expect("a patch")
}

/// `kubectl kustomize deploy/ROOT`, as objects.
fn rendered(kubectl: &Path, root: &str) -> Vec<Value> {
    let output = Command::new(kubectl).arg("kustomize").arg(deploy_dir().join(root)).output().unwrap();
    assert!(output.status.success(), "kubectl kustomize deploy/{root}: {}", String::from_utf8_lossy(&output.stderr));
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
    let key = |o: &Value| format!("{}/{}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap());
    for root in INSTALLS {
        let sources: Vec<Value> = manifests(root).into_iter().map(|(_, m)| m).collect();
        let mut expected: Vec<String> = sources.iter().map(key).collect();
        expected.sort();
        for kubectl in kubectls() {
            let rendered = rendered(&kubectl, root);
            let mut names: Vec<String> = rendered.iter().map(key).collect();
            names.sort();
            assert_eq!(
                names,
                expected,
                "{} kustomize deploy/{root} renders each listed object once",
                kubectl.display()
            );
            for object in &rendered {
                let mut source = sources.iter().find(|s| key(s) == key(object)).unwrap().clone();
                if source["kind"] == "Deployment" {
                    let pod = &mut source["spec"]["template"]["spec"];
                    pod["containers"][0]["image"] = format!("serin:{}", env!("CARGO_PKG_VERSION")).into();
                    if root == "gitops" {
                        let patch = gitops_patch()["spec"]["template"]["spec"].clone();
                        pod["volumes"] = patch["volumes"].clone();
                        for field in ["args", "volumeMounts"] {
                            pod["containers"][0][field] = patch["containers"][0][field].clone();
                        }
                    }
                }
                assert!(
                    object == &source,
                    "{} kustomize deploy/{root} renders {} as written, but for the image tag (and the GitOps patch):\n{object:#}",
                    kubectl.display(),
                    key(object)
                );
            }
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

const READ: &[&str] = &["get", "list", "watch"];
const READ_WRITE: &[&str] = &["get", "list", "watch", "update", "patch"];
const OWN: &[&str] = &["get", "list", "watch", "create", "update", "patch", "delete"];

/// Each (group, resources, verbs) the ServiceAccount may not do, as `verb group/resource`.
fn refused(kube: &KubeEnv, needed: &[(&str, &[&str], &[&str])]) -> Vec<String> {
    let mut refused = Vec::new();
    for (group, resources, verbs) in needed {
        for resource in *resources {
            for verb in *verbs {
                if !allowed(kube, verb, group, resource) {
                    refused.push(format!("{verb} {group}/{resource}"));
                }
            }
        }
    }
    refused
}

/// Each (verb, group, resource) the ServiceAccount may do.
fn granted(kube: &KubeEnv, beyond: &[(&str, &str, &str)]) -> Vec<String> {
    let allowed = beyond.iter().filter(|(verb, group, resource)| allowed(kube, verb, group, resource));
    allowed.map(|(verb, group, resource)| format!("{verb} {group}/{resource}")).collect()
}

/// `kubectl apply -k deploy/ROOT` on a fresh cluster: the Deployment and every CRD are there.
async fn installed(root: &str) -> (KubeEnv, Value) {
    let kube = KubeEnv::start().await;
    let applied = kube.kubectl(&["apply", "-k", deploy_dir().join(root).to_str().unwrap()], "");
    assert!(applied.status.success(), "kubectl apply -k deploy/{root}: {}", String::from_utf8_lossy(&applied.stderr));
    let (status, deployment) =
        kube.request("GET", "/apis/apps/v1/namespaces/serin-system/deployments/serin-controller", None);
    assert_eq!(status, 200, "{deployment}");
    let image = &deployment["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(image, &json!(format!("serin:{}", env!("CARGO_PKG_VERSION"))));
    for crd in ["rollouts", "analysisruns", "analysistemplates", "clusteranalysistemplates", "applications"] {
        let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}.argoproj.io");
        let (status, stored) = kube.request("GET", &path, None);
        assert_eq!(status, 200, "the CRD {crd}.argoproj.io is installed: {stored}");
    }
    (kube, deployment)
}

/// What the controller needs without GitOps.
const CONTROLLER_NEEDS: &[(&str, &[&str], &[&str])] = &[
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

/// What no install grants.
const NEVER: &[(&str, &str, &str)] = &[
    ("create", "", "pods"),
    ("list", "", "secrets"),
    ("create", "", "secrets"),
    ("get", "", "configmaps"),
    ("delete", "", "namespaces"),
    ("create", "apps", "deployments"),
    ("update", "batch", "jobs"),
    ("delete", "coordination.k8s.io", "leases"),
    ("create", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("bind", "rbac.authorization.k8s.io", "clusterroles"),
];

#[tokio::test]
async fn apply_k_installs_everything_and_grants_what_the_controller_needs_and_no_more() {
    let (kube, _) = installed("").await;
    let refused = refused(&kube, CONTROLLER_NEEDS);
    assert!(refused.is_empty(), "the controller may not:\n{}", refused.join("\n"));
    let gitops_only = [
        ("create", "argoproj.io", "rollouts"),
        ("delete", "argoproj.io", "rollouts"),
        ("update", "argoproj.io", "analysistemplates"),
        ("delete", "argoproj.io", "clusteranalysistemplates"),
        ("get", "argoproj.io", "applications"),
        ("delete", "", "services"),
        ("create", "traefik.io", "ingressroutes"),
        ("create", "", "namespaces"),
    ];
    let granted = granted(&kube, &[NEVER, &gitops_only].concat());
    assert!(granted.is_empty(), "the controller may also:\n{}", granted.join("\n"));
}

#[tokio::test]
async fn apply_k_gitops_adds_the_rights_to_sync_the_seeds_application_and_no_more() {
    let (kube, deployment) = installed("gitops").await;
    let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(args.as_array().unwrap().contains(&json!("--gitops")), "{args}");
    let sync: &[(&str, &[&str], &[&str])] = &[
        ("argoproj.io", &["applications"], READ_WRITE),
        ("argoproj.io", &["rollouts", "analysistemplates", "clusteranalysistemplates"], OWN),
        ("", &["services"], OWN),
        ("traefik.io", &["traefikservices", "ingressroutes", "serverstransports"], OWN),
        ("traefik.containo.us", &["traefikservices", "ingressroutes", "serverstransports"], OWN),
        ("", &["namespaces"], &["get", "create"]),
    ];
    let refused = refused(&kube, &[CONTROLLER_NEEDS, sync].concat());
    assert!(refused.is_empty(), "the controller may not:\n{}", refused.join("\n"));
    let granted = granted(&kube, &[NEVER, &[("delete", "argoproj.io", "applications")]].concat());
    assert!(granted.is_empty(), "the controller may also:\n{}", granted.join("\n"));
}

//! A directory is read recursively, in name order, taking `.yaml`, `.yml` and `.json` files
//! and skipping everything else.

use std::fs;

#[test]
fn a_directory_is_read_recursively_and_other_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let ingress_route = "apiVersion: traefik.containo.us/v1alpha1
kind: IngressRoute
metadata:
  name: web
spec:
  entryPoints: [web]
  routes:
  - match: Host(`a.example`)
    kind: Rule
    services:
    - name: web
      port: 80
";
    let replica_set = r#"{
  "apiVersion": "apps/v1",
  "kind": "ReplicaSet",
  "metadata": {"name": "web-1"},
  "spec": {
    "replicas": 2,
    "selector": {"matchLabels": {"app": "web"}},
    "template": {
      "metadata": {"labels": {"app": "web"}},
      "spec": {"containers": [{"name": "web", "image": "web:1"}]}
    }
  }
}"#;
    let pod = "apiVersion: v1
kind: Pod
metadata:
  name: web-1-abcde
spec:
  containers:
  - name: web
    image: web:1
";
    fs::write(dir.path().join("a.yml"), ingress_route).unwrap();
    fs::write(dir.path().join("b.json"), replica_set).unwrap();
    fs::create_dir(dir.path().join("c")).unwrap();
    fs::write(dir.path().join("c/d.yaml"), pod).unwrap();
    fs::write(dir.path().join("e.txt"), "notes: [not a manifest\n").unwrap();
    let named = serin_model::load_path(&dir.path().join("e.txt"));
    assert_eq!(named.diagnostics.len(), 1, "read when named, e.txt is an error");

    let loaded = serin_model::load_path(dir.path());
    assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
    let read: Vec<(String, String)> = loaded
        .documents
        .iter()
        .map(|d| {
            let file = d.file.strip_prefix(&format!("{}/", dir.path().display())).unwrap_or(&d.file);
            (file.to_string(), d.object.key().to_string())
        })
        .collect();
    assert_eq!(
        read,
        [
            ("a.yml".to_string(), "ingressroute.traefik.containo.us/web".to_string()),
            ("b.json".to_string(), "replicaset.apps/web-1".to_string()),
            ("c/d.yaml".to_string(), "pod/web-1-abcde".to_string()),
        ]
    );
}

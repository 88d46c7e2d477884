//! Pods written by hand (no ReplicaSet, no serin annotation) run as the manifest says on the
//! local platform, and a Service routes to them, as Pods made by a ReplicaSet do.

mod common;

use common::Server;
use std::time::{Duration, Instant};

const MANIFESTS: &str = "apiVersion: v1
kind: Pod
metadata:
  name: hello
  labels: {app: hello}
spec:
  containers:
  - name: app
    image: ikubernetes/myapp:v1
    ports:
    - containerPort: 80
      name: http
    readinessProbe:
      httpGet: {path: /, port: http}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: worker
  labels: {app: worker}
spec:
  containers:
  - name: app
    image: ikubernetes/myapp:v2
---
apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  selector: {app: hello}
  ports:
  - port: 8080
    targetPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: worker
spec:
  selector: {app: worker}
  ports:
  - port: 80
    targetPort: 9000
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: pods
spec:
  entryPoints: [web]
  routes:
  - match: Host(`hello.local`)
    kind: Rule
    services:
    - name: hello
      port: 8080
  - match: Host(`worker.local`)
    kind: Rule
    services:
    - name: worker
      port: 80
";

/// Waits until the pod is Running and Ready, or fails with what it last looked like.
fn wait_ready(server: &Server, name: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pod = server.object("", "Pod", name);
        let ready = pod
            .pointer("/status/conditions")
            .and_then(|c| c.as_array())
            .is_some_and(|conditions| conditions.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        if pod.pointer("/status/phase") == Some(&"Running".into()) && ready {
            return pod;
        }
        assert!(
            Instant::now() < deadline,
            "pod {name} never became ready:\n{pod:#}\n{}",
            common::tail(&server.log(), 20)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bare_pods_run_on_a_port_of_their_own_and_services_reach_them() {
    let server = Server::start(1.0);
    server.apply_text("pods.yaml", MANIFESTS);
    let hello = wait_ready(&server, "hello");
    let worker = wait_ready(&server, "worker");
    let port = |pod: &serde_json::Value| pod["metadata"]["annotations"]["serin.dev/port"].as_str().unwrap().to_string();
    assert_ne!(port(&hello), port(&worker), "each pod listens on its own loopback port");

    let (status, body) = server.get("hello.local", "/");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Version: v1"), "{body}");
    let (status, body) = server.get("worker.local", "/");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Version: v2"), "{body}");

    // A re-apply keeps the port the pod runs on: the process is not moved.
    server.apply_text("pods.yaml", MANIFESTS);
    assert_eq!(port(&server.object("", "Pod", "hello")), port(&hello));
    assert_eq!(server.get("hello.local", "/").0, 200);
}

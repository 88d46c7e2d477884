//! Header and mirror routes (Argo's setHeaderRoute and setMirrorRoute, which Argo offers only
//! on Istio) carried out by serin's own router, and request paths cleaned of `.`/`..` segments
//! before routing and forwarding, as Traefik cleans them.

mod common;

use common::{SEED, Server, app, status};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const STEPS: &str = "      - setCanaryScale:
          replicas: 1
      - setHeaderRoute:
          name: beta-testers
          match:
          - headerName: x-beta
            headerValue:
              exact: \"yes\"
      - setMirrorRoute:
          name: shadow
          percentage: 50
          match:
          - method:
              exact: GET
      - pause: {}
      - setWeight: 10
      - pause: {}
";

fn get_with_header(server: &Server, header: &str) -> String {
    let mut stream = TcpStream::connect(server.web).unwrap();
    write!(stream, "GET / HTTP/1.1\r\nHost: canary.myapp.com\r\n{header}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    common::parse_response(&response).1
}

fn canary_requests(server: &Server) -> u64 {
    let metrics = ureq::get(&format!("{}/metrics", server.api)).call().unwrap().body_mut().read_to_string().unwrap();
    metrics
        .lines()
        .filter(|l| l.starts_with("serin_router_requests_total{replicaset=\"canary-rollout-95d95c65\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn header_routes_send_matching_requests_to_the_canary_and_mirrors_copy_them() {
    let server = Server::start(10.0);
    let dir = server.dir.path().join("routes");
    std::fs::create_dir(&dir).unwrap();
    for file in ["service.yaml", "ingress.yaml"] {
        std::fs::copy(format!("{SEED}/{file}"), dir.join(file)).unwrap();
    }
    let rollout = std::fs::read_to_string(format!("{SEED}/rollout.yaml")).unwrap();
    let start = rollout.find("      - setWeight: 10").unwrap();
    let end = rollout.find("  revisionHistoryLimit").unwrap();
    let rollout = format!("{}{STEPS}{}", &rollout[..start], &rollout[end..]).replace(
        "          weightedTraefikServiceName: canary-service # traefik加权轮循服务名",
        "          weightedTraefikServiceName: canary-service\n        managedRoutes:\n        - name: beta-testers\n        - name: shadow",
    );
    std::fs::write(dir.join("rollout.yaml"), rollout).unwrap();
    server.serin(&["apply", "-f", dir.to_str().unwrap()]);
    server.wait_for("v1 healthy", Duration::from_secs(60), |t| {
        status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10
    });
    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    server.wait_for("paused after the routes", Duration::from_secs(60), |t| {
        status(t)["currentStepIndex"] == 3 && status(t)["phase"] == "Paused" && status(t)["availableReplicas"] == 11
    });

    assert_eq!(server.versions(20).get("Version: v1"), Some(&20), "weight 0: plain requests stay on v1");
    for _ in 0..10 {
        assert!(get_with_header(&server, "x-beta: yes").contains("Version: v2"), "x-beta: yes goes to the canary");
    }
    assert!(get_with_header(&server, "x-beta: no").contains("Version: v1"));

    let before = canary_requests(&server);
    assert_eq!(server.versions(100).get("Version: v1"), Some(&100));
    std::thread::sleep(Duration::from_millis(300));
    let mirrored = canary_requests(&server) - before;
    assert_eq!(mirrored, 50, "half of the GETs are copied to the canary");

    server.serin(&["promote", "canary-rollout"]);
    server.wait_for("10%", Duration::from_secs(60), |t| {
        status(t)["currentStepIndex"] == 5 && status(t)["phase"] == "Paused"
    });
    assert_eq!(server.versions(100).get("Version: v2"), Some(&10));
}

/// A Service over two pods, one of which is ready (its probe says so) but refuses
/// connections.
fn refusing() -> String {
    let service = "apiVersion: v1
kind: Service
metadata:
  name: retry
spec:
  selector: {app: retry}
  ports:
  - port: 80
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: retry
spec:
  entryPoints: [web]
  routes:
  - match: Host(`retry.example`)
    kind: Rule
    services:
    - name: retry
      port: 80
";
    let answers = "      containers:\n      - name: main\n        image: ikubernetes/myapp:v1\n";
    let refuses = "      containers:\n      - name: main\n        image: example/refuses:1\n        command: [\"sleep\", \"600\"]\n        readinessProbe:\n          exec: {command: [\"true\"]}\n";
    [
        service.to_string(),
        common::one_pod_rollout("answers", "app: retry, role: answers", answers),
        common::one_pod_rollout("refuses", "app: retry, role: refuses", refuses),
    ]
    .join("---\n")
}

/// Requests to the pod that refuses are retried on the other one, and counted.
#[test]
fn a_request_to_a_pod_that_refuses_is_retried_on_another_pod() {
    let server = Server::start(1.0);
    server.apply_text("refusing.yaml", &refusing());
    for rollout in ["answers", "refuses"] {
        server
            .wait_for_rollout(rollout, "a ready pod", Duration::from_secs(60), |t| status(t)["availableReplicas"] == 1);
    }
    let before = common::retries(&server);
    for _ in 0..20 {
        assert_eq!(server.get("retry.example", "/").0, 200);
    }
    let retried = common::retries(&server) - before;
    // Round robin over both pods, whatever fails: every other request went to the refusing
    // pod first.
    assert_eq!(retried, 10, "requests retried");
}

/// A ServersTransport's forwardingTimeouts apply to the Services referred to with it, by name
/// or by Traefik's qualified `namespace-name@kubernetescrd`; others keep the server's own; a
/// reference to a transport that does not exist is not served, as in Traefik.
#[test]
fn a_servers_transport_sets_the_timeouts_of_the_services_that_name_it() {
    let server = Server::start(1.0);
    let slow_pod = "      containers:\n      - name: main\n        image: ikubernetes/myapp:v1\n        env:\n        - {name: LATENCY_MS, value: \"2000\"}\n";
    let route = |name: &str, transport: &str| {
        format!(
            "apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata:\n  name: {name}\nspec:\n  entryPoints: [web]\n  routes:\n  - match: Host(`{name}.example`)\n    kind: Rule\n    services:\n    - name: slow\n      port: 80\n{transport}"
        )
    };
    let manifests = [
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: slow\nspec:\n  selector: {app: slow}\n  ports:\n  - port: 80\n".to_string(),
        "apiVersion: traefik.io/v1alpha1\nkind: ServersTransport\nmetadata:\n  name: quick\nspec:\n  forwardingTimeouts:\n    dialTimeout: 1\n    responseHeaderTimeout: 300ms\n    idleConnTimeout: 1m\n".to_string(),
        route("quick", "      serversTransport: quick\n"),
        route("qualified", "      serversTransport: default-quick@kubernetescrd\n"),
        route("patient", ""),
        route("unknown", "      serversTransport: nowhere\n"),
        common::one_pod_rollout("slow", "app: slow", slow_pod),
    ];
    server.apply_text("transport.yaml", &manifests.join("---\n"));
    server.wait_for_rollout("slow", "a ready pod", Duration::from_secs(60), |t| status(t)["availableReplicas"] == 1);
    let timed = |host: &str| {
        let started = std::time::Instant::now();
        let (status, _) = server.get(host, "/");
        (status, started.elapsed())
    };
    for host in ["quick.example", "qualified.example"] {
        let (status, took) = timed(host);
        assert_eq!(status, 504, "{host}");
        assert!(took < Duration::from_millis(1500), "{host}: 504 after {took:?}, not after the transport's 300ms");
    }
    let (status, took) = timed("patient.example");
    assert_eq!(status, 200, "the server's own 60 s response-header timeout");
    assert!(took >= Duration::from_millis(2000), "{took:?}");
    assert_eq!(timed("unknown.example").0, 503);
    assert!(
        server.log().contains("ServersTransport \"nowhere\" named by Service default/slow does not exist"),
        "{}",
        common::tail(&server.log(), 20)
    );
    assert!(server.serin(&["get", "serverstransports"]).contains("quick"));
}

/// Request targets as Traefik 3.7 reads them: `/api/../admin` does not reach the `/api`
/// route's backend (routes see the cleaned path and backends receive it; before, serin routed
/// on the raw path), a target with a `#fragment` is refused, `OPTIONS *` is answered by the
/// router itself.
#[test]
fn request_targets_are_read_as_traefik_reads_them() {
    let server = Server::start(10.0);
    let routes = "apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: paths
spec:
  entryPoints: [web]
  routes:
  - match: PathPrefix(`/api`)
    kind: Rule
    services:
    - name: api
      port: 80
  - match: PathPrefix(`/`)
    kind: Rule
    services:
    - name: site
      port: 80
";
    server.apply_text("paths.yaml", &format!("{}{}{routes}", app("api", "v1"), app("site", "v2")));
    for name in ["api", "site"] {
        server.wait_for_rollout(name, "healthy", Duration::from_secs(60), |t| status(t)["availableReplicas"] == 1);
    }
    let version = |path: &str| {
        let (code, body) = server.get("paths.test", path);
        assert_eq!(code, 200, "{path}: {body}");
        body.split(" | ").nth(1).unwrap_or(&body).trim().to_string()
    };
    assert_eq!(version("/api/x"), "Version: v1");
    assert_eq!(version("//api//x"), "Version: v1");
    assert_eq!(version("/x/../api/y"), "Version: v1");
    for around in ["/api/../admin", "/api/%2e%2e/admin", "/api/./../admin", "/api/x/../../admin?q=1"] {
        assert_eq!(version(around), "Version: v2", "{around} reached the /api route");
    }
    // The backend receives the cleaned path: the demo app names its pod at /hostname.html.
    let (_, pod) = server.get("paths.test", "/api/../hostname.html");
    assert!(pod.trim().starts_with("site-"), "{pod}");
    assert_eq!(server.get("paths.test", "/api#top").0, 400);
    let mut stream = TcpStream::connect(server.web).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "OPTIONS * HTTP/1.1\r\nHost: paths.test\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert_eq!(common::parse_response(&answer), (200, String::new()), "{answer}");
}

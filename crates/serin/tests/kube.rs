//! `serin controller` on a real Kubernetes API server (kubeenv, v1.20): the seed's canary
//! release end to end, abort, one Traefik group, a missing router, a restart mid-rollout, two
//! replicas with leader election, ingress-nginx and Gateway API routing, and adoption of a
//! ReplicaSet Argo Rollouts left behind, and a cluster without the CRDs. Each test has its own
//! cluster and plays kubelet.

mod kubeenv;

use kubeenv::observe::{pod_uids, ready_pods, replica_sets, selector_hash, traefik_weights};
use kubeenv::seed::{WAIT, apply_seed, cluster, repo, rollout, seed_rollout, serin_ok, set_image, wait_phase};
use kubeenv::{KubeEnv, free_port};
use serde_json::{Value as Json, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const V1_RS: &str = "canary-rollout-69dc9f5f56";
const V2_RS: &str = "canary-rollout-95d95c65";

/// Healthy at v1 with 10 pods, then v2 paused at step 1: the state the seed prints.
async fn at_step_one(env: &KubeEnv) {
    wait_phase(env, "canary-rollout", "Healthy", None).await;
    env.eventually("10 ready v1 pods", WAIT, || async { (ready_pods(env, "69dc9f5f56").await == 10).then_some(()) })
        .await;
    set_image(env, "canary-rollout", "ikubernetes/myapp:v2");
    wait_phase(env, "canary-rollout", "Paused", Some(1)).await;
}

/// Installed as `kubectl-argo-rollouts` on PATH, serin is the plugin kubectl runs for
/// `kubectl argo rollouts`: aimed at the kubeconfig's cluster with no flag, it prints what
/// `serin get rollout --kubeconfig` prints, and says what it is.
fn as_the_kubectl_plugin(env: &KubeEnv) {
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_serin"), bin.path().join("kubectl-argo-rollouts")).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let kubectl = |args: &[&str]| {
        let output = std::process::Command::new("kubectl")
            .args(args)
            .env("PATH", &path)
            .env("KUBECONFIG", &env.kubeconfig)
            .env_remove("SERIN_SERVER")
            .output()
            .unwrap();
        assert!(output.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    // Ages may tick between the two reads.
    let ages = regex::Regex::new(r"\b\d+[smhd](\d+[smh])?\b").unwrap();
    let plugin = kubectl(&["argo", "rollouts", "get", "rollout", "canary-rollout"]);
    let serin = serin_ok(env, &["get", "rollout", "canary-rollout"]);
    assert_eq!(ages.replace_all(&plugin, "AGE"), ages.replace_all(&serin, "AGE"));
    assert!(plugin.contains("Status:          ॥ Paused") && plugin.contains("canary-rollout-95d95c65"), "{plugin}");
    let version = kubectl(&["argo", "rollouts", "version"]);
    assert!(version.starts_with("kubectl-argo-rollouts: serin v"), "{version}");
    let completion = kubectl(&["argo", "rollouts", "completion", "bash"]);
    assert!(completion.contains("kubectl-argo-rollouts"), "completion for the plugin's name");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_canary_release_runs_on_a_cluster() {
    let env = cluster(&["traefik.io", "traefik.containo.us"]).await;
    let _controller = env.controller("a", &["--no-leader-election", "--listen", "127.0.0.1:0"]);
    apply_seed(&env, &[]).await;
    at_step_one(&env).await;

    assert_eq!(replica_sets(&env).await, [(V1_RS.to_string(), 10), (V2_RS.to_string(), 1)]);
    env.eventually("11 ready pods", WAIT, || async {
        (ready_pods(&env, "69dc9f5f56").await + ready_pods(&env, "95d95c65").await == 11).then_some(())
    })
    .await;
    for group in ["traefik.io", "traefik.containo.us"] {
        assert_eq!(traefik_weights(&env, group).await, (10, 90), "{group}");
    }
    assert_eq!(selector_hash(&env, "canary-active").await, "95d95c65");
    assert_eq!(selector_hash(&env, "canary-preview").await, "69dc9f5f56");
    let status = rollout(&env, "canary-rollout").await["status"].clone();
    assert_eq!(status["canary"]["weights"]["canary"]["weight"], 10);
    assert_eq!(status["stableRS"], "69dc9f5f56");
    assert_eq!(status["currentPodHash"], "95d95c65");

    as_the_kubectl_plugin(&env);

    let events = env.list("v1", "Event", "default").await;
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "RolloutStepCompleted"
                && e["message"] == "Rollout step 1/7 completed (setWeight: 10)"),
        "no step event in {events:#?}"
    );

    for (step, weight) in [(3, 30), (5, 60)] {
        serin_ok(&env, &["promote", "canary-rollout"]);
        wait_phase(&env, "canary-rollout", "Paused", Some(step)).await;
        for group in ["traefik.io", "traefik.containo.us"] {
            assert_eq!(traefik_weights(&env, group).await, (weight, 100 - weight), "{group} at step {step}");
        }
    }
    serin_ok(&env, &["promote", "canary-rollout"]);
    let status = serin_ok(&env, &["status", "canary-rollout", "--timeout", "60s"]);
    assert_eq!(status.lines().last(), Some("Healthy"), "{status}");
    let done = wait_phase(&env, "canary-rollout", "Healthy", Some(7)).await;
    assert_eq!(done["status"]["stableRS"], "95d95c65");
    env.eventually("the stable Service on v2", WAIT, || async {
        (selector_hash(&env, "canary-preview").await == "95d95c65").then_some(())
    })
    .await;
    // The old revision goes to zero once the scale-down delay (30 s) has passed.
    env.eventually("v1 scaled to 0", Duration::from_secs(90), || async {
        (replica_sets(&env).await == [(V1_RS.to_string(), 0), (V2_RS.to_string(), 10)]).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abort_sends_all_traffic_back_to_stable() {
    let env = cluster(&["traefik.io", "traefik.containo.us"]).await;
    let _controller = env.controller("a", &["--no-leader-election", "--listen", "127.0.0.1:0"]);
    apply_seed(&env, &[]).await;
    at_step_one(&env).await;

    // Without -n the rollout commands act in the kubeconfig context's namespace, as
    // kubectl-argo-rollouts does; -n overrides it.
    let elsewhere = env.kubeconfig.with_file_name("kubeconfig-elsewhere");
    let kubeconfig = std::fs::read_to_string(&env.kubeconfig).unwrap();
    std::fs::write(&elsewhere, kubeconfig.replace("namespace: default", "namespace: elsewhere")).unwrap();
    let serin = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_serin"))
            .args(args)
            .arg("--kubeconfig")
            .arg(&elsewhere)
            .output()
            .unwrap()
    };
    let missed = serin(&["abort", "canary-rollout"]);
    let said = String::from_utf8_lossy(&missed.stderr);
    assert!(missed.status.code() == Some(1) && said.contains("elsewhere"), "{said}");
    assert_eq!(rollout(&env, "canary-rollout").await["status"]["phase"], "Paused");
    let aborted = serin(&["abort", "canary-rollout", "-n", "default"]);
    assert!(aborted.status.success(), "{}", String::from_utf8_lossy(&aborted.stderr));
    let aborted = wait_phase(&env, "canary-rollout", "Degraded", None).await;
    assert!(aborted["status"]["message"].as_str().unwrap().contains("RolloutAborted"), "{}", aborted["status"]);
    for group in ["traefik.io", "traefik.containo.us"] {
        assert_eq!(traefik_weights(&env, group).await, (0, 100), "{group}");
    }
    assert_eq!(selector_hash(&env, "canary-active").await, "69dc9f5f56");
    assert_eq!(selector_hash(&env, "canary-preview").await, "69dc9f5f56");
    env.eventually("the canary scaled to 0 after the abort delay", Duration::from_secs(90), || async {
        (replica_sets(&env).await == [(V1_RS.to_string(), 10), (V2_RS.to_string(), 0)]).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_serving_one_traefik_group_gets_its_weights() {
    let env = cluster(&["traefik.io"]).await;
    let _controller = env.controller("a", &["--no-leader-election", "--listen", "127.0.0.1:0"]);
    apply_seed(&env, &["traefik.containo.us"]).await;
    at_step_one(&env).await;
    assert_eq!(traefik_weights(&env, "traefik.io").await, (10, 90));
    let conditions = rollout(&env, "canary-rollout").await["status"]["conditions"].clone();
    assert!(!conditions.as_array().unwrap().iter().any(|c| c["type"] == "TrafficRouting"), "{conditions:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_traefik_service_is_a_condition_while_the_rest_is_reconciled() {
    let env = cluster(&[]).await;
    let _controller = env.controller("a", &["--no-leader-election", "--listen", "127.0.0.1:0"]);
    apply_seed(&env, &["traefik.io", "traefik.containo.us"]).await;
    let condition = env
        .eventually("a TrafficRouting condition", WAIT, || async {
            let status = rollout(&env, "canary-rollout").await["status"].clone();
            status["conditions"].as_array()?.iter().find(|c| c["type"] == "TrafficRouting").cloned()
        })
        .await;
    assert_eq!(condition["status"], "False");
    assert_eq!(
        condition["message"],
        "TraefikService 'canary-service' not found in traefik.io/v1alpha1 or traefik.containo.us/v1alpha1"
    );
    env.eventually("10 ready pods and the Services pointed at them", WAIT, || async {
        let ready = ready_pods(&env, "69dc9f5f56").await == 10;
        let selected = selector_hash(&env, "canary-preview").await == "69dc9f5f56";
        (ready && selected).then_some(())
    })
    .await;
    let events = env.list("v1", "Event", "default").await;
    assert!(events.iter().any(|e| e["reason"] == "TrafficRoutingError" && e["type"] == "Warning"), "{events:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_controller_resumes_from_the_status_it_wrote() {
    let env = cluster(&["traefik.io", "traefik.containo.us"]).await;
    let mut first = env.controller("first", &["--no-leader-election", "--listen", "127.0.0.1:0"]);
    apply_seed(&env, &[]).await;
    at_step_one(&env).await;
    first.kill();

    serin_ok(&env, &["promote", "canary-rollout"]);
    let _second = env.controller("second", &["--no-leader-election", "--listen", "127.0.0.1:0"]);
    wait_phase(&env, "canary-rollout", "Paused", Some(3)).await;
    assert_eq!(traefik_weights(&env, "traefik.io").await, (30, 70));
    assert_eq!(replica_sets(&env).await, [(V1_RS.to_string(), 10), (V2_RS.to_string(), 3)]);
}

/// The whole answer (status line, headers, body) of the controller on `port` to `GET path`.
fn controller_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    use std::io::{Read, Write};
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

fn leader_gauge(port: u16) -> Option<String> {
    controller_get(port, "/metrics")?.lines().find(|l| l.starts_with("serin_controller_leader ")).map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_controller_replicas_only_the_leader_acts() {
    let env = cluster(&["traefik.io", "traefik.containo.us"]).await;
    let ports = [free_port(), free_port()];
    let mut replicas: Vec<_> = ["a", "b"]
        .iter()
        .zip(ports)
        .map(|(name, port)| {
            let listen = format!("127.0.0.1:{port}");
            env.controller(name, &["--identity", name, "--lease-duration", "3s", "--listen", &listen])
        })
        .collect();
    let holder = env
        .eventually("a leader", WAIT, || async {
            let lease = env.get("coordination.k8s.io/v1", "Lease", "default", "serin-controller-lock").await?;
            lease["spec"]["holderIdentity"].as_str().map(str::to_string)
        })
        .await;
    let (leader, follower) = if holder == "a" { (0, 1) } else { (1, 0) };
    env.eventually("each replica's /metrics says who leads", WAIT, || async {
        let gauges = (leader_gauge(ports[leader])?, leader_gauge(ports[follower])?);
        (gauges == ("serin_controller_leader 1".to_string(), "serin_controller_leader 0".to_string())).then_some(())
    })
    .await;
    apply_seed(&env, &[]).await;
    at_step_one(&env).await;
    let events = env.list("events.k8s.io/v1", "Event", "default").await;
    let instances: std::collections::BTreeSet<&str> = events
        .iter()
        .filter(|e| e["regarding"]["kind"] == "Rollout")
        .filter_map(|e| e["reportingInstance"].as_str())
        .collect();
    assert_eq!(instances.into_iter().collect::<Vec<_>>(), [holder.as_str()], "only the leader reports");

    replicas[leader].kill();
    let other = ["a", "b"][follower];
    env.eventually("the other replica takes the Lease over", Duration::from_secs(30), || async {
        let lease = env.get("coordination.k8s.io/v1", "Lease", "default", "serin-controller-lock").await?;
        (lease["spec"]["holderIdentity"] == other).then_some(())
    })
    .await;
    serin_ok(&env, &["promote", "canary-rollout"]);
    wait_phase(&env, "canary-rollout", "Paused", Some(3)).await;
    assert_eq!(traefik_weights(&env, "traefik.containo.us").await, (30, 70));
}

/// A TCP relay to the API server that can be frozen: from then on it forwards nothing, in
/// either direction, and holds every connection open, as a network partition or a hung API
/// server does to the one controller that goes through it.
struct Relay {
    addr: std::net::SocketAddr,
    frozen: Arc<AtomicBool>,
}

impl Relay {
    fn to(server: &str) -> Relay {
        let upstream: std::net::SocketAddr = server.trim_start_matches("https://").parse().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (addr, frozen) = (listener.local_addr().unwrap(), Arc::new(AtomicBool::new(false)));
        let flag = frozen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(upstream) else { continue };
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    let frozen = flag.clone();
                    std::thread::spawn(move || {
                        use std::io::{Read, Write};
                        let mut buffer = [0u8; 16384];
                        while let Ok(n @ 1..) = from.read(&mut buffer) {
                            while frozen.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            if to.write_all(&buffer[..n]).is_err() {
                                break;
                            }
                        }
                    });
                }
            }
        });
        Relay { addr, frozen }
    }

    /// A copy of `kubeconfig` whose server is this relay.
    fn kubeconfig(&self, env: &KubeEnv) -> std::path::PathBuf {
        let text = std::fs::read_to_string(&env.kubeconfig).unwrap();
        assert!(text.contains(&env.server), "the kubeconfig names {}", env.server);
        let path = env.dir.path().join("kubeconfig-relayed");
        std::fs::write(&path, text.replace(&env.server, &format!("https://{}", self.addr))).unwrap();
        path
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_cut_off_from_the_api_server_stops_acting_before_another_takes_over() {
    let env = cluster(&["traefik.io", "traefik.containo.us"]).await;
    let relay = Relay::to(&env.server);
    let ports = [free_port(), free_port()];
    let listen = |i: usize| format!("127.0.0.1:{}", ports[i]);
    let lease = ["--lease-duration", "3s"];
    let _a = env.controller_with(
        "a",
        &relay.kubeconfig(&env),
        &[&["--identity", "a", "--listen", &listen(0)][..], &lease].concat(),
    );
    env.eventually("a leads", WAIT, || async {
        (leader_gauge(ports[0])? == "serin_controller_leader 1").then_some(())
    })
    .await;
    let _b = env.controller("b", &[&["--identity", "b", "--listen", &listen(1)][..], &lease].concat());
    env.eventually("b follows", WAIT, || async {
        (leader_gauge(ports[1])? == "serin_controller_leader 0").then_some(())
    })
    .await;

    relay.frozen.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let (mut a_stopped, mut b_took_over) = (None, None);
    while b_took_over.is_none() && started.elapsed() < Duration::from_secs(30) {
        let (a, b) = (leader_gauge(ports[0]), leader_gauge(ports[1]));
        let leads = |gauge: &Option<String>| gauge.as_deref() == Some("serin_controller_leader 1");
        assert!(!(leads(&a) && leads(&b)), "both replicas lead at {:?}", started.elapsed());
        if !leads(&a) && a_stopped.is_none() {
            a_stopped = Some(started.elapsed());
        }
        if leads(&b) {
            b_took_over = Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (a_stopped, b_took_over) = (a_stopped.expect("a never stopped acting"), b_took_over.expect("b never led"));
    assert!(a_stopped < Duration::from_secs(3), "a acted on for {a_stopped:?} without renewing");
    assert!(a_stopped < b_took_over, "a stopped at {a_stopped:?}, b took over at {b_took_over:?}");
    let lease = env.get("coordination.k8s.io/v1", "Lease", "default", "serin-controller-lock").await.unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "b");
}

/// The seed's Rollout under another name and app label, routed by `routing` instead of Traefik.
fn routed_rollout(name: &str, routing: Json) -> Json {
    let mut rollout = seed_rollout();
    rollout["metadata"]["name"] = name.into();
    rollout["spec"]["selector"]["matchLabels"]["app"] = name.into();
    rollout["spec"]["template"]["metadata"]["labels"]["app"] = name.into();
    rollout["spec"]["strategy"]["canary"]["trafficRouting"] = routing;
    rollout
}

#[tokio::test(flavor = "multi_thread")]
async fn ingress_nginx_and_gateway_api_carry_the_canary_weight() {
    let env = cluster(&[]).await;
    env.apply_file("default", &repo().join("tests/kube/gateway-api-crds.yaml")).await;
    let _controller = env.controller("a", &["--no-leader-election", "--listen", "127.0.0.1:0"]);
    apply_seed(&env, &["traefik.io", "traefik.containo.us"]).await;
    env.apply(
        "default",
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": "myapp.example", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "canary-preview", "port": {"number": 80}}}}]}}]}}),
    )
    .await;
    env.apply(
        "default",
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web"},
            "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{"backendRefs": [
                {"name": "canary-preview", "port": 80, "weight": 100}, {"name": "canary-active", "port": 80, "weight": 0}]}]}}),
    )
    .await;
    env.apply("default", routed_rollout("web-nginx", json!({"nginx": {"stableIngress": "web"}}))).await;
    env.apply(
        "default",
        routed_rollout(
            "web-gateway",
            json!({"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web", "namespace": "default"}}}),
        ),
    )
    .await;
    for name in ["web-nginx", "web-gateway"] {
        wait_phase(&env, name, "Healthy", None).await;
        set_image(&env, name, "ikubernetes/myapp:v2");
        wait_phase(&env, name, "Paused", Some(1)).await;
    }
    let canary =
        env.get("networking.k8s.io/v1", "Ingress", "default", "web-nginx-web-canary").await.expect("a canary Ingress");
    let annotations = &canary["metadata"]["annotations"];
    assert_eq!(annotations["nginx.ingress.kubernetes.io/canary"], "true");
    assert_eq!(annotations["nginx.ingress.kubernetes.io/canary-weight"], "10");
    let backend = &canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
    assert_eq!(backend["name"], "canary-active");
    assert_eq!(canary["metadata"]["ownerReferences"][0]["name"], "web-nginx");

    let route = env.get("gateway.networking.k8s.io/v1", "HTTPRoute", "default", "web").await.unwrap();
    let refs = &route["spec"]["rules"][0]["backendRefs"];
    assert_eq!((refs[0]["name"].clone(), refs[0]["weight"].clone()), (json!("canary-preview"), json!(90)));
    assert_eq!((refs[1]["name"].clone(), refs[1]["weight"].clone()), (json!("canary-active"), json!(10)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_set_argo_left_is_adopted_without_restarting_pods() {
    let env = cluster(&["traefik.io", "traefik.containo.us"]).await;
    // The ReplicaSet Argo Rollouts makes for the seed's v1 template, without its owner.
    let mut template = seed_rollout()["spec"]["template"].clone();
    template["metadata"]["labels"]["rollouts-pod-template-hash"] = "69dc9f5f56".into();
    env.apply(
        "default",
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": V1_RS, "labels": template["metadata"]["labels"], "annotations": {"rollout.argoproj.io/revision": "1"}},
            "spec": {"replicas": 10, "selector": {"matchLabels": {"app": "myapp", "rollouts-pod-template-hash": "69dc9f5f56"}}, "template": template}}),
    )
    .await;
    env.eventually("10 ready pods of the orphan", WAIT, || async {
        (ready_pods(&env, "69dc9f5f56").await == 10).then_some(())
    })
    .await;
    let before = pod_uids(&env).await;

    let _controller = env.controller("a", &["--no-leader-election", "--listen", "127.0.0.1:0"]);
    apply_seed(&env, &[]).await;
    let healthy = wait_phase(&env, "canary-rollout", "Healthy", None).await;
    let rs = env.get("apps/v1", "ReplicaSet", "default", V1_RS).await.unwrap();
    assert_eq!(rs["metadata"]["ownerReferences"][0]["uid"], healthy["metadata"]["uid"]);
    assert_eq!(replica_sets(&env).await, [(V1_RS.to_string(), 10)]);
    assert_eq!(pod_uids(&env).await, before, "no pod was replaced");
}

/// `kubectl apply -k deploy/` creates the CRDs and the controller together, and the API
/// server serves a new CRD a moment later: a controller that starts first waits for them, alive
/// and not ready, and goes on once they are served; one that waits in vain says how to install
/// them.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_crds_the_controller_waits_for_them_then_says_how_to_install_them() {
    let env = KubeEnv::start().await;
    let output = env.serin(&["controller", "--no-leader-election", "--listen", "127.0.0.1:0", "--crd-wait", "1s"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("the cluster does not serve argoproj.io/v1alpha1 Rollouts")
            && stderr.contains("serin crd | kubectl apply -f -"),
        "{stderr}"
    );

    let port = free_port();
    let _controller = env.controller("a", &["--no-leader-election", "--listen", &format!("127.0.0.1:{port}")]);
    env.eventually("a controller alive and waiting for the CRDs", WAIT, || async {
        let (health, ready) = (controller_get(port, "/healthz")?, controller_get(port, "/readyz")?);
        (health.starts_with("HTTP/1.0 200")
            && ready.starts_with("HTTP/1.0 503")
            && ready.ends_with("waiting for the cluster to serve argoproj.io/v1alpha1 Rollouts"))
        .then_some(())
    })
    .await;
    let crds = std::process::Command::new(env!("CARGO_BIN_EXE_serin")).arg("crd").output().unwrap();
    env.apply_yaml("default", &String::from_utf8(crds.stdout).unwrap()).await;
    env.eventually("the controller ready once the CRDs are served", WAIT, || async {
        controller_get(port, "/readyz")?.starts_with("HTTP/1.0 200").then_some(())
    })
    .await;
    for group in ["traefik.io", "traefik.containo.us"] {
        env.apply_file("default", &repo().join(format!("tests/kube/traefik-crds-{group}.yaml"))).await;
    }
    apply_seed(&env, &[]).await;
    wait_phase(&env, "canary-rollout", "Healthy", None).await;
}

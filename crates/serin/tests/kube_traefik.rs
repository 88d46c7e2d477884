//! Real requests through real Traefik while `serin controller` releases the seed on a cluster:
//! the pods run serin's demo app in a pod network (kubeenv/kubelet.rs), kube-controller-manager
//! keeps the Services' Endpoints, Traefik 3.0 reads the seed's TraefikService and IngressRoute
//! and those Endpoints (kubeenv/traefik.rs), and the test counts which version answers each
//! request at each step: what users of the release would see, not only the weights serin wrote.

mod kubeenv;

use kubeenv::KubeEnv;
use kubeenv::observe::{endpoint_ips, ready_pod_ips, selector_hash, traefik_weights};
use kubeenv::seed::{WAIT, apply_seed, cluster_running_pods, serin_ok, set_image, wait_phase};
use kubeenv::traefik::Traefik;
use std::time::Duration;

/// The seed IngressRoute's host.
const HOST: &str = "canary.myapp.com";
const SERVICES: [&str; 2] = ["canary-active", "canary-preview"];
/// The `rollouts-pod-template-hash` of the seed's v2 template.
const V2: &str = "95d95c65";

/// Waits until Traefik routes what the cluster holds: the seed's TraefikService at `weights`
/// (canary-active, canary-preview), and each of its Services' Endpoints holding exactly the
/// addresses of the Ready pods of the revision it selects, as Traefik's servers. No request
/// goes through Traefik meanwhile: Traefik builds a new balancer at each configuration it loads,
/// so the next request is the first of that balancer's cycle.
async fn wait_until_traefik_routes(env: &KubeEnv, traefik: &Traefik, weights: (i64, i64)) {
    let what = format!("Traefik routing at {weights:?} to each Service's Ready pods");
    env.eventually(&what, WAIT, || async {
        if traefik_weights(env, "traefik.io").await != weights {
            return None;
        }
        let split = traefik.service("default-canary-service@kubernetescrd")?;
        let loaded: Vec<(String, i64)> = split["weighted"]["services"]
            .as_array()?
            .iter()
            .map(|s| (s["name"].as_str().unwrap().to_string(), s["weight"].as_i64().unwrap_or(1)))
            .collect();
        let wanted: Vec<(String, i64)> =
            SERVICES.iter().map(|s| format!("default-{s}-80")).zip([weights.0, weights.1]).collect();
        if loaded != wanted {
            return None;
        }
        for service in SERVICES {
            let revision = selector_hash(env, service).await;
            let pods = ready_pod_ips(env, revision.as_str()?).await;
            if endpoint_ips(env, service).await != (pods.clone(), vec![]) {
                return None;
            }
            let servers = traefik.service(&format!("default-{service}-80@kubernetescrd"))?;
            let mut urls: Vec<&str> =
                servers["loadBalancer"]["servers"].as_array()?.iter().map(|s| s["url"].as_str().unwrap()).collect();
            urls.sort();
            let wanted: Vec<String> = pods.iter().map(|ip| format!("http://{ip}:80")).collect();
            if urls != wanted {
                return None;
            }
        }
        Some(())
    })
    .await;
}

/// How many of each 10 of 100 consecutive requests through Traefik v2 answered (the others
/// v1; any other answer fails the test).
fn v2_in_each_ten(traefik: &Traefik) -> Vec<usize> {
    let versions: Vec<&str> = (0..100)
        .map(|_| {
            let (status, body) = traefik.get(HOST, "/");
            assert_eq!(status, 200, "{body}");
            match body.as_str() {
                b if b.contains("| Version: v1 |") => "v1",
                b if b.contains("| Version: v2 |") => "v2",
                other => panic!("not the demo app's answer: {other}"),
            }
        })
        .collect();
    versions.chunks(10).map(|ten| ten.iter().filter(|v| **v == "v2").count()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn traefik_sends_each_step_its_exact_share() {
    let env = cluster_running_pods(&["traefik.io"]).await;
    let traefik = Traefik::start(&env).await;
    let _controller = env.controller("a", &["--no-leader-election", "--listen", "127.0.0.1:0"]);
    apply_seed(&env, &["traefik.containo.us"]).await;
    wait_phase(&env, "canary-rollout", "Healthy", None).await;
    wait_until_traefik_routes(&env, &traefik, (0, 100)).await;
    assert_eq!(v2_in_each_ten(&traefik), [0; 10], "v1 alone");

    set_image(&env, "canary-rollout", "ikubernetes/myapp:v2");
    wait_phase(&env, "canary-rollout", "Paused", Some(1)).await;
    wait_until_traefik_routes(&env, &traefik, (10, 90)).await;
    assert_eq!(v2_in_each_ten(&traefik), [1; 10], "setWeight 10");

    serin_ok(&env, &["promote", "canary-rollout"]);
    wait_phase(&env, "canary-rollout", "Paused", Some(3)).await;
    wait_until_traefik_routes(&env, &traefik, (30, 70)).await;
    assert_eq!(v2_in_each_ten(&traefik), [3; 10], "setWeight 30");
    let canary_at_30 = ready_pod_ips(&env, V2).await;
    assert_eq!(canary_at_30.len(), 3);

    serin_ok(&env, &["abort", "canary-rollout"]);
    wait_phase(&env, "canary-rollout", "Degraded", None).await;
    wait_until_traefik_routes(&env, &traefik, (0, 100)).await;
    assert_eq!(v2_in_each_ten(&traefik), [0; 10], "aborted");

    // Retrying goes back to step 1: two of the three canary pods are deleted, and their
    // processes stop.
    serin_ok(&env, &["retry", "rollout", "canary-rollout"]);
    wait_phase(&env, "canary-rollout", "Paused", Some(1)).await;
    wait_until_traefik_routes(&env, &traefik, (10, 90)).await;
    assert_eq!(v2_in_each_ten(&traefik), [1; 10], "setWeight 10 again");
    let canary = ready_pod_ips(&env, V2).await;
    env.eventually("the deleted canary pods gone, their processes stopped", WAIT, || async {
        let pods = env.list("v1", "Pod", "default").await;
        let left = pods.iter().filter(|p| p["metadata"]["labels"]["rollouts-pod-template-hash"] == V2).count();
        let stopped = canary_at_30.iter().filter(|ip| !canary.contains(ip)).all(|ip| {
            let address = std::net::SocketAddr::new(ip.parse().unwrap(), 80);
            std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err()
        });
        (left == 1 && stopped).then_some(())
    })
    .await;

    serin_ok(&env, &["promote", "canary-rollout", "--full"]);
    wait_phase(&env, "canary-rollout", "Healthy", None).await;
    wait_until_traefik_routes(&env, &traefik, (0, 100)).await;
    assert_eq!(v2_in_each_ten(&traefik), [10; 10], "promoted in full");
}

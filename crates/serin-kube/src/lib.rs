//! serin on Kubernetes: the same canary engine as the local platform, run as a controller
//! against a real API server. It reads Argo Rollouts' resources unchanged, owns ReplicaSets
//! the way Argo does (so it can take over from Argo without restarting a pod), steers Services
//! and Traefik / ingress-nginx / Gateway API weights, runs the AnalysisRuns it creates with the
//! same providers as the local platform, and writes status in Argo's shape.

pub mod analysis;
pub mod cache;
pub mod commands;
pub mod controller;
pub mod events;
pub mod gitops;
pub mod lease;
pub mod resources;
pub mod serve;
pub mod traffic;

use analysis::Analysis;
use cache::Caches;
use controller::Controller;
use kube::Client;
use lease::LeaseOptions;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;

/// How `serin controller` runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Watch one namespace, or every namespace.
    pub namespace: Option<String>,
    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    pub listen: SocketAddr,
    /// Leader election, or `None` to act at once (a single replica).
    pub lease: Option<LeaseOptions>,
    pub identity: String,
    /// A PEM file of certificate authorities that https metric endpoints may use, besides the
    /// system's.
    pub analysis_ca_file: Option<std::path::PathBuf>,
    /// How long to wait for the cluster to serve the Rollout CRDs before giving up.
    pub crd_wait: Duration,
    /// Sync Argo CD's Applications from git, or leave them to Argo CD.
    pub gitops: Option<gitops::Options>,
}

/// A burst of watch events (a ReplicaSet scaled, its pods created) is handled in one pass.
const SETTLE: Duration = Duration::from_millis(50);

/// Runs the controller until `shutdown` completes.
pub async fn run(
    client: Client,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<(), controller::Error> {
    let http = serin_providers::Http::new(options.analysis_ca_file.as_deref()).map_err(controller::Error::Invalid)?;
    let leader = Arc::new(AtomicBool::new(options.lease.is_none()));
    let health = Arc::new(serve::Health {
        caches: OnceLock::new(),
        gitops: OnceLock::new(),
        ready: AtomicBool::new(false),
        leader: leader.clone(),
    });
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| controller::Error::Invalid(format!("cannot listen on {}: {e}", options.listen)))?;
    tracing::info!(address = %listener.local_addr().unwrap_or(options.listen), "serving /healthz, /readyz and /metrics");
    let served = health.clone();
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, serve::router(served)).await {
            tracing::error!(%error, "health and metrics server stopped");
        }
    });
    tokio::pin!(shutdown);
    tokio::select! {
        waited = wait_for_crds(&client, options.namespace.as_deref(), options.crd_wait) => waited?,
        _ = &mut shutdown => return Ok(()),
    }
    let changed = Arc::new(Notify::new());
    let caches = Arc::new(Caches::start(&client, options.namespace.as_deref(), &changed));
    let _ = health.caches.set(caches.clone());
    let stop_lease = Arc::new(Notify::new());
    let election = options.lease.clone().map(|lease| {
        tokio::spawn(lease::elect(client.clone(), lease, leader.clone(), changed.clone(), stop_lease.clone()))
    });
    caches.ready().await;
    health.ready.store(true, Ordering::SeqCst);
    tracing::info!(rollouts = caches.rollouts.state().len(), "caches filled; controller ready");
    let analysis = Analysis::new(client.clone(), caches.clone(), http).await?;
    let gitops = options.gitops.as_ref().map(|gitops| {
        let gitops =
            Arc::new(gitops::GitOps::start(client.clone(), options.namespace.as_deref(), gitops, &options.identity));
        let _ = health.gitops.set(gitops.clone());
        tokio::spawn(gitops.run(leader.clone()))
    });
    let controller = Controller::new(client, caches.clone(), &options.identity);
    let mut next = Duration::ZERO;
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            _ = tokio::time::sleep(next) => {}
            _ = &mut shutdown => break,
        }
        tokio::time::sleep(SETTLE).await;
        next = if leader.load(Ordering::SeqCst) {
            controller.pass().await.min(analysis.pass().await)
        } else {
            controller::RESYNC
        };
    }
    if let Some(gitops) = gitops {
        gitops.abort();
    }
    if let Some(election) = election {
        stop_lease.notify_one();
        let _ = election.await;
    }
    Ok(())
}

const NO_CRDS: &str = "the cluster does not serve argoproj.io/v1alpha1 Rollouts: install the CustomResourceDefinitions with `serin crd | kubectl apply -f -`";

/// Waits until the cluster serves Rollouts, and gives up after `patience` saying what to do.
/// `kubectl apply -k deploy/` creates the CRDs and the controller together, and an API server
/// serves a new CRD a moment after it accepts it: a controller that gave up at once would
/// start its life in a crash loop.
async fn wait_for_crds(client: &Client, namespace: Option<&str>, patience: Duration) -> Result<(), controller::Error> {
    let api = resources::scoped(client, namespace, &resources::rollouts());
    let deadline = tokio::time::Instant::now() + patience;
    let mut warned = false;
    loop {
        match api.list(&kube::api::ListParams::default().limit(1)).await {
            Ok(_) => return Ok(()),
            Err(e) if resources::is_not_found(&e) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(controller::Error::Invalid(NO_CRDS.to_string()));
                }
                if !warned {
                    tracing::warn!("{NO_CRDS}; waiting up to {}s for them", patience.as_secs());
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

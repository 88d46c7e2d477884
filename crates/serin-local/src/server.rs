//! `serin server`: opens the data directory, binds the API and the entry points (one clear
//! error if any of that fails), then runs the controllers and serves until stopped.

use crate::api::{self, ApiState};
use crate::clock::{Clock, ScaledClock};
use crate::datadir::{self, ServerInfo};
use crate::images::ImageTable;
use crate::pods::PodController;
use crate::replicasets::ReplicaSetController;
use crate::rollouts::{RolloutController, ServedSelectors, ServedTable};
use crate::store::Store;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub data_dir: PathBuf,
    pub api: SocketAddr,
    pub entrypoints: Vec<(String, SocketAddr)>,
    pub images: Option<PathBuf>,
    pub time_scale: f64,
    /// The serin binary, which runs the demo app for the built-in image table.
    pub serin_binary: PathBuf,
    /// The longest time between two reads of an Application's git repository (virtual ms).
    pub app_resync_ms: i64,
    /// Threads serving the entry points (the data plane).
    pub router_threads: usize,
    /// Client connections the router keeps at once (default: half the open-file limit).
    pub max_connections: Option<usize>,
    /// How long the router waits on pods.
    pub forwarding: serin_router::upstream::Timeouts,
    /// Proxies whose forwarding headers the router keeps.
    pub trusted_ips: serin_router::rule::IpSet,
    /// Where the router records each request it answers (Traefik's JSON access log format).
    pub access_log: Option<PathBuf>,
    /// Certificate authorities (PEM) that https metric endpoints may use, besides the system's.
    pub analysis_ca_file: Option<PathBuf>,
    /// What git push webhooks must prove, per forge (none: open, as Argo CD's).
    pub webhook_secrets: crate::webhook::WebhookSecrets,
}

/// Everything the controllers share.
pub struct Platform {
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    pub served: Arc<ServedTable>,
    pub served_selectors: Arc<ServedSelectors>,
    pub images: ImageTable,
    pub data_dir: PathBuf,
}

pub async fn run(options: ServerOptions) -> Result<()> {
    if !(options.time_scale > 0.0 && options.time_scale.is_finite()) {
        anyhow::bail!("--time-scale must be a positive number, got {}", options.time_scale);
    }
    datadir::prepare(&options.data_dir)?;
    let lock_path = options.data_dir.join("server.lock");
    let mut lock = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        anyhow::bail!("another serin server is using {}", options.data_dir.display());
    }
    datadir::record_starting_server(&mut lock)?;
    let store = Arc::new(
        Store::open(&options.data_dir.join("serin.db"))
            .with_context(|| format!("cannot open the state database in {}", options.data_dir.display()))?,
    );
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::resume(&store, options.time_scale)?);
    let token = datadir::ensure_token(&options.data_dir)?;
    let mut images = ImageTable::builtin(&options.serin_binary);
    if let Some(file) = &options.images {
        images = images.with_file(file)?;
    }

    let api_listener = TcpListener::bind(options.api)
        .await
        .with_context(|| format!("cannot listen on {} for the API", options.api))?;
    let mut entrypoints = BTreeMap::new();
    let mut entry_listeners = Vec::new();
    for (name, addr) in &options.entrypoints {
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("cannot listen on {addr} for entry point {name}"))?;
        entrypoints.insert(name.clone(), listener.local_addr()?.to_string());
        entry_listeners.push((name.clone(), listener));
        if addr.ip().is_unspecified() {
            // `:80` means every interface, as in Traefik; say so, since the default is loopback.
            tracing::warn!(
                entrypoint = %name, %addr,
                "entry point listens on every interface: anyone who can reach this machine can send it requests (give an address such as 127.0.0.1:{} to keep it local)",
                addr.port()
            );
        }
    }
    let api_addr = api_listener.local_addr()?;
    let platform = Arc::new(Platform {
        store: store.clone(),
        clock: clock.clone(),
        served: Arc::new(ServedTable::default()),
        served_selectors: Arc::new(ServedSelectors::default()),
        images,
        data_dir: options.data_dir.clone(),
    });
    datadir::write_info(
        &options.data_dir,
        &ServerInfo { api: format!("http://{api_addr}"), entrypoints: entrypoints.clone(), pid: std::process::id() },
    )?;
    tracing::info!(api = %api_addr, data_dir = %options.data_dir.display(), time_scale = options.time_scale, "serin server started");

    let marker = match store.meta("marker")? {
        Some(marker) => marker,
        None => {
            let marker = crate::objects::new_uid();
            store.set_meta("marker", &marker)?;
            marker
        }
    };
    std::fs::write(options.data_dir.join("marker"), &marker)?;
    let supervisor = Arc::new(serin_process::Supervisor::new(marker));
    let pods = Arc::new(PodController::new(
        store.clone(),
        clock.clone(),
        supervisor,
        platform.images.clone(),
        options.data_dir.clone(),
    ));
    let reaped = pods.reap_orphans()?;
    if !reaped.is_empty() {
        tracing::warn!(pids = ?reaped, "stopped pod processes left over by an earlier run");
    }
    let open_files = raise_open_files_limit();
    let max_connections = options.max_connections.unwrap_or((open_files / 2) as usize).max(1);
    tracing::info!(open_files, max_connections, "router connection limit");
    let limits = serin_router::proxy::Limits {
        forwarding: options.forwarding,
        trusted_ips: options.trusted_ips.clone(),
        ..serin_router::proxy::Limits::new(max_connections)
    };
    let access_log = options.access_log.as_deref().map(serin_router::access_log::AccessLog::open).transpose()?;
    let proxy = serin_router::proxy::Proxy::new(limits, access_log);
    let http = serin_providers::Http::new(options.analysis_ca_file.as_deref()).map_err(anyhow::Error::msg)?;
    let analysis =
        Arc::new(crate::analysis::AnalysisController::new(store.clone(), clock.clone(), proxy.clone(), http));
    let (first_pass, first_pass_done) = tokio::sync::oneshot::channel();
    let controllers = tokio::spawn(control_loop(platform.clone(), pods.clone(), proxy.clone(), analysis, first_pass));
    // The entry points are bound already (clients queue); they are served once the first pass
    // has built the route table, so a restarted server never answers 404 for a known route.
    let _ = first_pass_done.await;
    let routers = proxy.start(&entry_listeners, options.router_threads).context("cannot start the router")?;
    drop(entry_listeners);
    let git = Arc::new(serin_git::GitCache::new(options.data_dir.join("git")));
    let gitops = Arc::new(crate::gitops::GitOps::new(store.clone(), clock.clone(), git, options.app_resync_ms));
    let gitops_loop = tokio::spawn(gitops.clone().run());
    let traffic = Arc::new(crate::dashboard::TrafficSampler::default());
    let sampler = tokio::spawn(traffic.clone().run(proxy.clone()));
    let state = Arc::new(ApiState {
        store,
        clock,
        token,
        data_dir: options.data_dir.clone(),
        proxy,
        gitops,
        served: platform.served.clone(),
        served_selectors: platform.served_selectors.clone(),
        webhook_secrets: options.webhook_secrets.clone(),
    });
    let dashboard =
        Arc::new(crate::dashboard::Dashboard::new(state.clone(), traffic, entrypoints, api_addr.ip().is_loopback()));
    let app = crate::dashboard::with_dashboard(api::router(state), dashboard);
    let serve = crate::api_server::serve(api_listener, app, Default::default(), shutdown_signal());
    serve.await.context("the API server failed")?;
    tracing::info!("stopping: pods get SIGTERM and their grace period");
    // Controllers first, so nothing starts a pod again while the pods are being stopped.
    controllers.abort();
    gitops_loop.abort();
    sampler.abort();
    let _ = controllers.await;
    tokio::task::spawn_blocking(move || routers.stop()).await?;
    pods.stop_all().await;
    drop(lock);
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
    }
}

/// Runs each controller when something it reads changed, or when it asked to be called again.
async fn control_loop(
    platform: Arc<Platform>,
    pods: Arc<PodController>,
    proxy: Arc<serin_router::proxy::Proxy>,
    analysis: Arc<crate::analysis::AnalysisController>,
    first_pass: tokio::sync::oneshot::Sender<()>,
) {
    let mut first_pass = Some(first_pass);
    let mut counters = crate::routing::SplitCounters::new();
    let mut problems: Vec<String> = Vec::new();
    let mut changes = platform.store.subscribe();
    let mut processes = pods.supervisor.changes();
    let replica_sets = ReplicaSetController { store: platform.store.clone(), clock: platform.clock.clone() };
    let rollouts = RolloutController {
        store: platform.store.clone(),
        clock: platform.clock.clone(),
        served: platform.served.clone(),
        settled: Default::default(),
    };
    let mut gc = Pass::reading(&["Rollout", "ReplicaSet", "AnalysisRun", "Pod"]);
    let mut replica_set_pass = Pass::reading(&["ReplicaSet", "Pod"]);
    let mut pod_pass = Pass::reading(&["Pod"]);
    let mut router = Pass::reading(&[
        "Service",
        "Pod",
        "TraefikService",
        "IngressRoute",
        "ServersTransport",
        "Secret",
        "TLSOption",
        "TLSStore",
        "Rollout",
    ]);
    let mut analysis_pass = Pass::reading(&["AnalysisRun"]);
    // The rollouts read nearly every kind (and are cheap to reconcile): they run every time.
    let mut rollout_pass = Pass::always();
    loop {
        let (store, now) = (&platform.store, platform.clock.now().millis());
        if gc.start(store, now) {
            gc.finish(now, crate::gc::collect(store, platform.clock.as_ref()).map(|()| None), "garbage collector");
        }
        if replica_set_pass.start(store, now) {
            replica_set_pass.finish(now, replica_sets.reconcile_all(), "replicasets");
        }
        if pod_pass.start(store, now) {
            pod_pass.finish(now, pods.reconcile_all().await, "pods");
        }
        if router.start(store, now) {
            router.finish(now, refresh_routes(&platform, &proxy, &mut counters, &mut problems), "router");
        }
        if analysis_pass.start(store, now) {
            analysis_pass.finish(now, analysis.reconcile_all(), "analysis");
        }
        if rollout_pass.start(store, now) {
            rollout_pass.finish(now, rollouts.reconcile_all(), "rollouts");
        }
        if router.start(store, now) {
            // The rollouts may have moved traffic (an abort, a new step): serve it in this pass.
            router.finish(now, refresh_routes(&platform, &proxy, &mut counters, &mut problems), "router");
        }
        if let Some(done) = first_pass.take() {
            let _ = done.send(());
        }
        let passes = [&gc, &replica_set_pass, &pod_pass, &router, &analysis_pass, &rollout_pass];
        let wait = match passes.iter().filter_map(|pass| pass.wake_at).min() {
            Some(at) => platform.clock.real(at - platform.clock.now().millis()).max(Duration::from_millis(5)),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            _ = changes.changed() => {}
            // A pod process started, stopped or changed readiness: its Pod's status follows.
            _ = processes.changed() => pod_pass.force(),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One controller's schedule in the control loop: it runs once at start, then when an object
/// of a kind it reads was written since its last run began, or when the time it asked to be
/// called again has come. A failed run is tried again a second later.
struct Pass {
    /// The kinds it reads; None: it runs on every turn of the loop.
    kinds: Option<&'static [&'static str]>,
    /// The store's revision when its last run began (None: run on the next turn).
    seen: Option<i64>,
    /// When it asked to run again (virtual milliseconds since the epoch).
    wake_at: Option<i64>,
}

impl Pass {
    fn reading(kinds: &'static [&'static str]) -> Pass {
        Pass { kinds: Some(kinds), seen: None, wake_at: None }
    }

    fn always() -> Pass {
        Pass { kinds: None, seen: None, wake_at: None }
    }

    /// Whether it is to run now; if so, notes the revision it starts from, so that writes
    /// made while it runs (its own included) count as changes for the next turn.
    fn start(&mut self, store: &Store, now: i64) -> bool {
        let changed = match (self.kinds, self.seen) {
            (Some(kinds), Some(seen)) => store.written_since(seen, kinds),
            _ => true,
        };
        let due = changed || self.wake_at.is_some_and(|at| at <= now);
        if due {
            self.seen = Some(store.revision());
        }
        due
    }

    /// Runs it on the next turn whatever changed.
    fn force(&mut self) {
        self.seen = None;
    }

    fn finish(&mut self, now: i64, result: crate::store::Result<Option<i64>>, what: &str) {
        let after = result.unwrap_or_else(|error| {
            tracing::error!(controller = what, %error, "reconcile failed");
            Some(1000)
        });
        self.wake_at = after.map(|ms| now + ms);
    }
}

/// Rebuilds the route table from the store, installs it, and records the weights it serves.
fn refresh_routes(
    platform: &Platform,
    proxy: &serin_router::proxy::Proxy,
    counters: &mut crate::routing::SplitCounters,
    problems: &mut Vec<String>,
) -> crate::store::Result<Option<i64>> {
    let store = &platform.store;
    let services = store.list(Some(""), "Service", None)?;
    let pods = store.list(Some(""), "Pod", None)?;
    let traefik_services = store.list(None, "TraefikService", None)?;
    let ingress_routes = store.list(None, "IngressRoute", None)?;
    let servers_transports = store.list(None, "ServersTransport", None)?;
    let secrets = store.list(Some(""), "Secret", None)?;
    let tls_options = store.list(None, "TLSOption", None)?;
    let tls_stores = store.list(None, "TLSStore", None)?;
    let objects = crate::routing::Objects {
        services: &services,
        pods: &pods,
        traefik_services: &traefik_services,
        ingress_routes: &ingress_routes,
        servers_transports: &servers_transports,
        secrets: &secrets,
        tls_options: &tls_options,
        tls_stores: &tls_stores,
    };
    let (table, report) = crate::routing::build(&objects, counters, &proxy.metrics);
    proxy.install(table);
    let hash_pointer = format!("/spec/selector/{}", serin_engine::state::POD_TEMPLATE_HASH_LABEL);
    let selectors = services.iter().filter_map(|service| {
        let hash = service.body.pointer(&hash_pointer)?.as_str()?;
        Some(((service.key.namespace.clone(), service.key.name.clone()), hash.to_string()))
    });
    *platform.served_selectors.write() = selectors.collect();
    if report.problems != *problems {
        for problem in report.problems.iter().filter(|p| !problems.contains(p)) {
            tracing::warn!(%problem, "router configuration");
        }
        *problems = report.problems;
    }
    let mut served = std::collections::HashMap::new();
    for rollout in store.list(Some("argoproj.io"), "Rollout", None)? {
        let canary = rollout.body.pointer("/spec/strategy/canary").cloned().unwrap_or_default();
        let Some(name) = canary.pointer("/trafficRouting/traefik/weightedTraefikServiceName").and_then(|n| n.as_str())
        else {
            continue;
        };
        let key = (rollout.key.namespace.clone(), name.to_string());
        let Some(weights) = report.served.get(&key) else { continue };
        let weight = |field: &str| canary[field].as_str().and_then(|s| weights.get(s)).copied().unwrap_or(0) as i32;
        served.insert(
            key,
            serin_engine::state::ServedWeights { canary: weight("canaryService"), stable: weight("stableService") },
        );
    }
    *platform.served.write() = served;
    Ok(None)
}

/// Raises the soft limit on open files to the hard limit, and returns the limit in force.
/// Every client connection, pod connection, pod log and database file takes a descriptor, and
/// the usual soft limit (1024) would let a few hundred idle clients stop the router, the API
/// and the connections to pods alike.
fn raise_open_files_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(error) => {
                tracing::warn!(%error, soft, hard, "cannot raise the open-file limit");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(error) => {
            tracing::warn!(%error, "cannot read the open-file limit");
            1024
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serin_model::ObjectKey;

    #[test]
    fn a_pass_runs_first_then_on_a_kind_it_reads_on_its_time_or_when_forced() {
        let (_dir, store) = Store::scratch();
        let put = |kind: &str| store.put(&ObjectKey::new("v1", kind, "default", "x"), &serde_json::json!({}), None);
        let mut pass = Pass::reading(&["Pod"]);
        assert!(pass.start(&store, 0), "the first turn runs every pass");
        pass.finish(0, Ok(None), "test");
        assert!(!pass.start(&store, 0), "nothing changed");
        put("Service").unwrap();
        assert!(!pass.start(&store, 0), "a kind it does not read");
        put("Pod").unwrap();
        assert!(pass.start(&store, 0));
        pass.finish(0, Ok(Some(500)), "test");
        assert!(!pass.start(&store, 499));
        assert!(pass.start(&store, 500), "the time it asked for");
        pass.finish(
            500,
            Err(crate::store::StoreError::Conflict(ObjectKey::new("v1", "Pod", "default", "x"), 2, 1)),
            "test",
        );
        assert_eq!(pass.wake_at, Some(1500), "a failed run is tried again a second later");
        assert!(!pass.start(&store, 600));
        pass.force();
        assert!(pass.start(&store, 600));
        let mut always = Pass::always();
        assert!(always.start(&store, 0) && always.start(&store, 0));
    }
}

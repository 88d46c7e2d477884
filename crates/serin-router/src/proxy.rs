//! The data plane: a reverse proxy on each entry point that matches IngressRoutes, walks the
//! target tree to one pod, and forwards the request over a pooled keep-alive connection.
//!
//! The route table is swapped atomically (`ArcSwap`), so a reconfiguration never fails a
//! request. A request whose connection to a pod could not be made (no byte reached the pod)
//! is retried on another pod; one whose response had begun never is. Counts and latencies are
//! kept per backend and revision for `/metrics` and for analysis. Clients are served by
//! [`crate::downstream`] and requests go to pods through [`crate::upstream`], both on the task
//! that accepted the client.

use crate::access_log::AccessLog;
use crate::downstream::CLIENT_TIMEOUT;
use crate::rule::{IpSet, RequestInfo};
use crate::table::{CompiledRoute, Endpoint, RequestMatch, RouteTable, Target, ValueMatch};
use crate::tls::Accepted;
use crate::upstream::{Answer, Outgoing, Pool, SendError, Timeouts};
use crate::upstream_h2::Http2Pool;
use arc_swap::ArcSwap;
use http::StatusCode;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Attempts on different pods when connecting fails.
const CONNECT_ATTEMPTS: usize = 3;
/// Mirror copies in flight at most; a copy beyond them is dropped (and counted): mirroring
/// must never cost the requests it copies.
const MIRRORS_IN_FLIGHT: usize = 64;

/// What the router allows: client connections at once, how long it waits for whom, and whose
/// forwarding headers it believes.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_connections: usize,
    /// How long a client may keep the router waiting (see [`CLIENT_TIMEOUT`]).
    pub client_timeout: Duration,
    /// How long it waits on pods.
    pub forwarding: Timeouts,
    /// Proxies in front of the router whose `X-Forwarded-*` headers are kept (Traefik's
    /// `forwardedHeaders.trustedIPs`); everyone else's are replaced.
    pub trusted_ips: IpSet,
}

impl Limits {
    /// The default timeouts, with at most `max_connections` clients at once, trusting nobody.
    pub fn new(max_connections: usize) -> Limits {
        Limits {
            max_connections,
            client_timeout: CLIENT_TIMEOUT,
            forwarding: Timeouts::default(),
            trusted_ips: IpSet::default(),
        }
    }
}

pub struct Proxy {
    table: ArcSwap<RouteTable>,
    pool: Arc<Pool>,
    /// Connections to pods that speak HTTP/2 in clear (`scheme: h2c`).
    http2_pool: Http2Pool,
    pub metrics: Metrics,
    pub(crate) limits: Limits,
    /// Client connections open now.
    open_connections: Arc<AtomicUsize>,
    /// Room for mirror copies in flight.
    mirror_room: Arc<tokio::sync::Semaphore>,
    /// Where each answered request is recorded, if anywhere (`--access-log`).
    pub(crate) access_log: Option<AccessLog>,
    /// This machine's name, which pods get as `X-Forwarded-Server`.
    pub(crate) host_name: String,
}

/// The answer to a connection beyond the limit, written without waiting, before it is closed.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 26\r\nconnection: close\r\n\r\ntoo many open connections\n";

/// One open client connection, counted while it lives.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the router answers a request with.
pub(crate) enum Reply<'t> {
    /// A pod's answer (and the endpoint that gave it); its status line and headers are already
    /// in the output buffer.
    Pod(Answer, &'t Endpoint),
    /// An answer of the router's own: a status and a plain text body.
    Own(StatusCode, &'static str),
}

impl Proxy {
    pub fn new(limits: Limits, access_log: Option<AccessLog>) -> Arc<Proxy> {
        Arc::new(Proxy {
            table: ArcSwap::from_pointee(RouteTable::default()),
            pool: Pool::with_timeouts(limits.forwarding),
            http2_pool: Http2Pool::default(),
            metrics: Metrics::default(),
            limits,
            open_connections: Arc::default(),
            mirror_room: Arc::new(tokio::sync::Semaphore::new(MIRRORS_IN_FLIGHT)),
            access_log,
            host_name: host_name(),
        })
    }

    /// The table in force; a request keeps the one it was routed by.
    pub(crate) fn table(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// Installs a new table; requests already routed finish on the old one. Idle connections
    /// to pods the table no longer names are closed.
    pub fn install(&self, table: RouteTable) {
        let mut addresses = HashSet::new();
        for route in table.entrypoints.values().flatten() {
            collect_addresses(&route.target, &mut addresses);
        }
        self.pool.retain(|addr| addresses.contains(addr));
        self.http2_pool.retain(|addr| addresses.contains(addr));
        self.table.store(Arc::new(table));
    }

    /// Serves the entry points on `threads` threads of their own, each with a single-threaded
    /// runtime accepting on every listener, so that nothing the control plane does (SQLite
    /// writes and their fsyncs, JSON, reconciles) ever delays a request.
    pub fn start(
        self: &Arc<Self>,
        listeners: &[(String, std::net::TcpListener)],
        threads: usize,
    ) -> std::io::Result<RouterThreads> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut handles = Vec::new();
        for index in 0..threads.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let mut own = Vec::new();
            for (name, listener) in listeners {
                let listener = listener.try_clone()?;
                listener.set_nonblocking(true)?;
                own.push((name.clone(), listener));
            }
            let (proxy, mut stopped) = (self.clone(), stopped.clone());
            let thread = std::thread::Builder::new().name(format!("serin-router-{index}")).spawn(move || {
                runtime.block_on(async move {
                    let mut entrypoints = tokio::task::JoinSet::new();
                    for (name, listener) in own {
                        match TcpListener::from_std(listener) {
                            Ok(listener) => drop(entrypoints.spawn(proxy.clone().serve(name, listener))),
                            Err(error) => tracing::error!(entrypoint = %name, %error, "cannot serve the entry point"),
                        }
                    }
                    let _ = stopped.wait_for(|stop| *stop).await;
                });
            })?;
            handles.push(thread);
        }
        Ok(RouterThreads { stop, threads: handles })
    }

    /// Accepts connections on one entry point until the task is dropped.
    pub async fn serve(self: Arc<Self>, entrypoint: String, listener: TcpListener) {
        let entrypoint: Arc<str> = entrypoint.into();
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%entrypoint, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if self.open_connections.fetch_add(1, Ordering::Relaxed) >= self.limits.max_connections {
                self.open_connections.fetch_sub(1, Ordering::Relaxed);
                // The socket's buffer is empty: the short answer fits without waiting.
                let _ = stream.try_write(TOO_MANY_CONNECTIONS);
                continue;
            }
            let counted = Counted(self.open_connections.clone());
            let _ = stream.set_nodelay(true);
            let (proxy, entrypoint) = (self.clone(), entrypoint.clone());
            tokio::spawn(async move {
                proxy.connection(entrypoint, stream, peer).await;
                drop(counted);
            });
        }
    }

    /// Serves one client connection: TLS or clear, then HTTP/1.1 or HTTP/2.
    async fn connection(self: Arc<Self>, entrypoint: Arc<str>, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let accepted = {
            let table = self.table();
            crate::tls::accept(&table.tls, &entrypoint, stream, self.limits.client_timeout).await
        };
        let Some(Accepted { stream, tls, http2 }) = accepted else { return };
        if http2 {
            crate::http2::serve(self, entrypoint, stream, peer, bytes::BytesMut::new(), tls).await;
        } else {
            crate::downstream::serve(self, entrypoint, stream, peer, tls).await;
        }
    }

    /// Sends a request to a pod of its route, retrying on another pod while no response has
    /// begun and the request may be sent again. The pod's status line and headers go to `out`.
    pub(crate) async fn forward<'t>(
        self: &Arc<Self>,
        route: &'t CompiledRoute,
        info: &RequestInfo<'_>,
        request: &Outgoing<'_>,
        out: &mut Vec<u8>,
    ) -> Reply<'t> {
        let mut failed: Vec<SocketAddr> = Vec::new();
        for attempt in 0..CONNECT_ATTEMPTS {
            let mut mirrors = Vec::new();
            let Some(endpoint) = pick(&route.target, info, &failed, &mut mirrors) else {
                return Reply::Own(StatusCode::SERVICE_UNAVAILABLE, "no available server\n");
            };
            // A request is mirrored once, not again on each retry; a protocol switch (a
            // WebSocket handshake) is not: its connection can have one end only.
            if attempt == 0 && request.upgrade.is_none() {
                for mirror in mirrors {
                    self.mirror(mirror.clone(), request);
                }
            }
            let started = Instant::now();
            let timeouts = endpoint.timeouts.over(self.limits.forwarding);
            match self.send(endpoint, request, out, timeouts).await {
                Ok(answer) => {
                    self.metrics.record(endpoint, answer.status, started.elapsed());
                    return Reply::Pod(answer, endpoint);
                }
                // No response had begun. A failed connect never reached the pod; an idempotent
                // request may be sent again (the pod died, or a pooled connection was closed).
                Err(error)
                    if matches!(error, SendError::Connect(_))
                        || matches!(error, SendError::NoResponse(_)) && request.replayable() =>
                {
                    self.metrics.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(pod = %endpoint.pod, %error, "connect failed; trying another pod");
                    failed.push(endpoint.addr);
                }
                Err(SendError::Timeout) => {
                    self.metrics.record(endpoint, StatusCode::GATEWAY_TIMEOUT, started.elapsed());
                    tracing::warn!(pod = %endpoint.pod, "no answer within the response-header timeout");
                    return Reply::Own(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout\n");
                }
                Err(error) => {
                    self.metrics.record(endpoint, StatusCode::BAD_GATEWAY, started.elapsed());
                    tracing::warn!(pod = %endpoint.pod, %error, "the pod failed mid-request");
                    return Reply::Own(StatusCode::BAD_GATEWAY, "Bad Gateway\n");
                }
            }
        }
        Reply::Own(StatusCode::BAD_GATEWAY, "Bad Gateway\n")
    }

    /// Sends a request to a pod in the protocol it speaks.
    async fn send(
        &self,
        endpoint: &Endpoint,
        request: &Outgoing<'_>,
        out: &mut Vec<u8>,
        timeouts: crate::upstream::Timeouts,
    ) -> Result<Answer, SendError> {
        match endpoint.h2c {
            false => self.pool.send_with(endpoint.addr, request, out, timeouts).await,
            true => self.http2_pool.send(endpoint.addr, request, out, timeouts).await,
        }
    }

    /// Sends a copy of the request to a mirror and throws the answer away (it is counted in
    /// the mirror's metrics, which is what mirroring is for). At most [`MIRRORS_IN_FLIGHT`]
    /// copies are in flight, each for at most the response-header timeout; a copy beyond them
    /// is dropped and counted in `serin_router_mirrors_dropped_total`.
    fn mirror(self: &Arc<Self>, endpoint: Endpoint, request: &Outgoing<'_>) {
        let Ok(room) = self.mirror_room.clone().try_acquire_owned() else {
            self.metrics.mirrors_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let (proxy, method, head, body) =
            (self.clone(), request.method.to_string(), request.head.to_vec(), request.body.to_vec());
        tokio::spawn(async move {
            let started = Instant::now();
            let request = Outgoing { method: &method, head: &head, body: &body, upgrade: None };
            let timeouts = endpoint.timeouts.over(proxy.limits.forwarding);
            let copy = async {
                match proxy.send(&endpoint, &request, &mut Vec::new(), timeouts).await {
                    Ok(mut answer) => {
                        proxy.metrics.record(&endpoint, answer.status, started.elapsed());
                        while let Some(Ok(_)) = answer.body.next().await {}
                    }
                    Err(_) => proxy.metrics.record(&endpoint, StatusCode::BAD_GATEWAY, started.elapsed()),
                }
            };
            let _ = tokio::time::timeout(timeouts.response_header, copy).await;
            drop(room);
        });
    }
}

/// The machine's host name, as Go's `os.Hostname` gives it to Traefik on Linux.
fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    match name.trim() {
        "" => "localhost".into(),
        name => name.into(),
    }
}

/// The router's threads; [`RouterThreads::stop`] closes the entry points and drops the
/// connections in flight.
pub struct RouterThreads {
    stop: tokio::sync::watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl RouterThreads {
    pub fn stop(self) {
        let _ = self.stop.send(true);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Walks the target tree to one endpoint, skipping endpoints that failed to connect; mirror
/// copies met on the way are added to `mirrors`. Borrows from the route table: nothing is
/// copied or allocated on the way.
pub fn pick<'t>(
    target: &'t Target,
    info: &RequestInfo<'_>,
    failed: &[SocketAddr],
    mirrors: &mut Vec<&'t Endpoint>,
) -> Option<&'t Endpoint> {
    match target {
        Target::Missing(_) => None,
        Target::Service(service) => {
            let live = service.endpoints.iter().filter(|e| !failed.contains(&e.addr)).count();
            if live == 0 {
                return None;
            }
            // A retry takes no turn of the round robin: were it to, a pod that refuses would be
            // tried first by nearly every request (the retry moving the turn back onto it).
            let n = match failed {
                [] => service.next.fetch_add(1, Ordering::Relaxed),
                _ => service.next.load(Ordering::Relaxed),
            } % live;
            service.endpoints.iter().filter(|e| !failed.contains(&e.addr)).nth(n)
        }
        Target::Weighted(weighted) => {
            for rule in &weighted.mirrors {
                if rule.matches.iter().any(|m| request_matches(m, info)) {
                    let n = rule.counter.fetch_add(1, Ordering::Relaxed);
                    let copy = share(n, rule.percentage)
                        .then(|| pick(&weighted.children[rule.child].1, info, failed, &mut Vec::new()));
                    mirrors.extend(copy.flatten());
                }
            }
            for route in &weighted.header_routes {
                if !route.headers.is_empty() && has_headers(&route.headers, info) {
                    return pick(&weighted.children[route.child].1, info, failed, mirrors);
                }
            }
            let up = |i: usize| has_endpoint(&weighted.children[i].1, failed);
            let child = weighted.schedule.next_available(&weighted.counter, up)?;
            pick(&weighted.children[child].1, info, failed, mirrors)
        }
        Target::Mirror(mirror) => {
            for (target, percent, counter) in &mirror.mirrors {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let copy = share(n, *percent).then(|| pick(target, info, failed, &mut Vec::new()));
                mirrors.extend(copy.flatten());
            }
            pick(&mirror.main, info, failed, mirrors)
        }
    }
}

/// Whether the n-th request falls in an exact `percent` share (spread evenly, no coin flips).
fn share(n: u64, percent: u64) -> bool {
    (n + 1) * percent / 100 > n * percent / 100
}

fn collect_addresses(target: &Target, into: &mut HashSet<SocketAddr>) {
    match target {
        Target::Missing(_) => {}
        Target::Service(s) => into.extend(s.endpoints.iter().map(|e| e.addr)),
        Target::Weighted(w) => w.children.iter().for_each(|(_, c)| collect_addresses(c, into)),
        Target::Mirror(m) => {
            collect_addresses(&m.main, into);
            m.mirrors.iter().for_each(|(t, _, _)| collect_addresses(t, into));
        }
    }
}

fn has_endpoint(target: &Target, failed: &[SocketAddr]) -> bool {
    match target {
        Target::Missing(_) => false,
        Target::Service(s) => s.endpoints.iter().any(|e| !failed.contains(&e.addr)),
        Target::Weighted(w) => w.children.iter().any(|(_, c)| has_endpoint(c, failed)),
        Target::Mirror(m) => has_endpoint(&m.main, failed),
    }
}

fn request_matches(m: &RequestMatch, info: &RequestInfo<'_>) -> bool {
    m.method.as_ref().is_none_or(|s| s.matches(info.method))
        && m.path.as_ref().is_none_or(|s| s.matches(info.path))
        && has_headers(&m.headers, info)
}

/// Whether the request has, for each (name, match), a header of that name whose value matches.
fn has_headers(wanted: &[(String, ValueMatch)], info: &RequestInfo<'_>) -> bool {
    wanted.iter().all(|(name, m)| info.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case(name) && m.matches(v)))
}

/// Latency bucket bounds in seconds (Prometheus `le`).
pub const LATENCY_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Requests by status class and a latency histogram, per (service, revision).
#[derive(Default)]
pub struct Metrics {
    backends: parking_lot::RwLock<HashMap<(String, String), Arc<BackendStats>>>,
    pub retries: AtomicU64,
    pub mirrors_dropped: AtomicU64,
}

#[derive(Default, Debug)]
pub struct BackendStats {
    /// The last minute, for serin's native analysis provider.
    pub recent: crate::window::Window,
    /// 1xx..5xx
    pub by_class: [AtomicU64; 5],
    /// Requests by latency bucket (each counted once; `/metrics` sums them into Prometheus's
    /// cumulative `le` buckets).
    pub buckets: [AtomicU64; 12],
    pub count: AtomicU64,
    pub sum_micros: AtomicU64,
}

impl Metrics {
    /// The counters of one ReplicaSet's revision, created on first use.
    pub fn stats(&self, replica_set: &str, revision: &str) -> Arc<BackendStats> {
        let key = (replica_set.to_string(), revision.to_string());
        let found = self.backends.read().get(&key).cloned();
        found.unwrap_or_else(|| self.backends.write().entry(key).or_default().clone())
    }

    fn record(&self, endpoint: &Endpoint, status: StatusCode, elapsed: Duration) {
        let stats = &endpoint.stats;
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        stats.by_class[class].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = LATENCY_BUCKETS.iter().position(|&bound| seconds <= bound) {
            stats.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        stats.count.fetch_add(1, Ordering::Relaxed);
        stats.recent.record(status.is_server_error(), elapsed.as_millis() as u64);
        stats.sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// The last `millis` of traffic to pods of one revision (all ReplicaSets of that hash).
    pub fn recent(&self, revision: &str, millis: u64) -> crate::window::Summary {
        let backends = self.backends.read();
        let mut total = crate::window::Summary::default();
        for ((_, rev), stats) in backends.iter() {
            if rev == revision {
                total.merge(&stats.recent.summary(millis));
            }
        }
        total
    }

    /// The last `millis` of traffic to each ReplicaSet that has been sent requests.
    pub fn recent_by_replica_set(&self, millis: u64) -> Vec<(String, crate::window::Summary)> {
        let backends = self.backends.read();
        let mut by_replica_set: HashMap<String, crate::window::Summary> = HashMap::new();
        for ((replica_set, _), stats) in backends.iter() {
            by_replica_set.entry(replica_set.clone()).or_default().merge(&stats.recent.summary(millis));
        }
        by_replica_set.into_iter().collect()
    }

    /// Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP serin_router_requests_total Requests forwarded, by ReplicaSet, revision and status class.\n# TYPE serin_router_requests_total counter\n");
        let backends = self.backends.read();
        let mut keys: Vec<_> = backends.keys().cloned().collect();
        keys.sort();
        for key in &keys {
            let stats = &backends[key];
            for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
                let n = stats.by_class[i].load(Ordering::Relaxed);
                if n > 0 {
                    out.push_str(&format!(
                        "serin_router_requests_total{{replicaset=\"{}\",revision=\"{}\",code=\"{class}\"}} {n}\n",
                        key.0, key.1
                    ));
                }
            }
        }
        out.push_str("# HELP serin_router_request_duration_seconds Time to the response head from the pod.\n# TYPE serin_router_request_duration_seconds histogram\n");
        for key in &keys {
            let stats = &backends[key];
            let labels = format!("replicaset=\"{}\",revision=\"{}\"", key.0, key.1);
            let mut cumulative = 0;
            for (bucket, bound) in stats.buckets.iter().zip(LATENCY_BUCKETS) {
                cumulative += bucket.load(Ordering::Relaxed);
                out.push_str(&format!(
                    "serin_router_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}\n"
                ));
            }
            let count = stats.count.load(Ordering::Relaxed);
            out.push_str(&format!("serin_router_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}\n"));
            out.push_str(&format!(
                "serin_router_request_duration_seconds_sum{{{labels}}} {}\n",
                stats.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            ));
            out.push_str(&format!("serin_router_request_duration_seconds_count{{{labels}}} {count}\n"));
        }
        out.push_str(&format!(
            "# HELP serin_router_retries_total Requests sent to another pod: the connection failed, or an idempotent request got no answer.\n# TYPE serin_router_retries_total counter\nserin_router_retries_total {}\n",
            self.retries.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "# HELP serin_router_mirrors_dropped_total Mirror copies not sent: too many were in flight.\n# TYPE serin_router_mirrors_dropped_total counter\nserin_router_mirrors_dropped_total {}\n",
            self.mirrors_dropped.load(Ordering::Relaxed)
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_render_cumulatively_like_prometheus() {
        let metrics = Metrics::default();
        let endpoint = Endpoint {
            addr: "127.0.0.1:1".parse().unwrap(),
            pod: "pod".into(),
            revision: "abc".into(),
            stats: metrics.stats("rs", "abc"),
            timeouts: Default::default(),
            service: "app".into(),
            h2c: false,
        };
        for (status, millis) in [(200, 0), (200, 3), (503, 30), (200, 9000)] {
            metrics.record(&endpoint, StatusCode::from_u16(status).unwrap(), Duration::from_millis(millis));
        }
        let text = metrics.render();
        let bucket = |le: &str| {
            let needle = format!(
                "serin_router_request_duration_seconds_bucket{{replicaset=\"rs\",revision=\"abc\",le=\"{le}\"}} "
            );
            let line = text.lines().find(|l| l.starts_with(&needle)).unwrap_or_else(|| panic!("{needle} in {text}"));
            line[needle.len()..].parse::<u64>().unwrap()
        };
        assert_eq!([bucket("0.0005"), bucket("0.005"), bucket("0.05"), bucket("5"), bucket("+Inf")], [1, 2, 3, 3, 4]);
        assert!(
            text.contains("serin_router_requests_total{replicaset=\"rs\",revision=\"abc\",code=\"5xx\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("serin_router_requests_total{replicaset=\"rs\",revision=\"abc\",code=\"2xx\"} 3\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn mirror_copies_are_bounded_in_number_and_time() {
        // A mirror that never answers: copies pile up to the bound, the rest are dropped, and
        // each gives its room back once the response-header timeout passes.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let forwarding = Timeouts { response_header: Duration::from_millis(300), ..Timeouts::default() };
        let proxy = Proxy::new(Limits { forwarding, ..Limits::new(usize::MAX) }, None);
        let endpoint = Endpoint {
            addr,
            pod: "mirror".into(),
            revision: "m".into(),
            stats: proxy.metrics.stats("m", "m"),
            timeouts: Default::default(),
            service: "app".into(),
            h2c: false,
        };
        let request = Outgoing { method: "GET", head: b"GET / HTTP/1.1\r\nhost: m\r\n\r\n", body: b"", upgrade: None };
        for _ in 0..MIRRORS_IN_FLIGHT + 36 {
            proxy.mirror(endpoint.clone(), &request);
        }
        assert_eq!(proxy.metrics.mirrors_dropped.load(Ordering::Relaxed), 36);
        assert!(proxy.metrics.render().contains("serin_router_mirrors_dropped_total 36\n"));
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(proxy.mirror_room.available_permits(), MIRRORS_IN_FLIGHT, "every copy gave up in time");
        proxy.mirror(endpoint, &request);
        assert_eq!(proxy.metrics.mirrors_dropped.load(Ordering::Relaxed), 36);
    }
}

//! The route table the router serves: each entry point's routes in priority order, and behind
//! each route a tree of targets (Services and their ready pods, weighted splits, mirrors). A
//! platform builds it from its objects (serin's local platform from its store) and installs it
//! with [`crate::proxy::Proxy::install`]; requests walk it without locks.

use crate::rule::{RequestInfo, Rule};
use crate::tls::TlsTable;
use crate::weighted::Schedule;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};

/// Everything the router serves.
#[derive(Default)]
pub struct RouteTable {
    pub entrypoints: HashMap<String, Vec<CompiledRoute>>,
    /// The certificates and TLS options of TLS connections; see [`RouteTable::bind_tls`].
    pub tls: TlsTable,
}

impl RouteTable {
    /// The first of an entry point's routes (they are in priority order) whose rule matches,
    /// among its TLS routes for a TLS connection (`secure`) and its others for one in clear.
    pub fn route(&self, entrypoint: &str, request: &RequestInfo<'_>, secure: bool) -> Option<&CompiledRoute> {
        self.entrypoints
            .get(entrypoint)?
            .iter()
            .find(|route| route.tls.is_some() == secure && route.rule.matches(request))
    }

    /// Settles which TLS options each TLS route and each server name get, once the routes and
    /// [`RouteTable::tls`] are in place (see [`crate::tls`]); returns a message for each route
    /// whose options gave way to the default ones.
    pub fn bind_tls(&mut self) -> Vec<String> {
        self.tls.bind(&mut self.entrypoints)
    }
}

pub struct CompiledRoute {
    /// `namespace/ingressroute#index`, for logs.
    pub name: String,
    /// The route's names in Traefik's terms, for the access log.
    pub names: Arc<TraefikNames>,
    pub rule: Rule,
    pub priority: i64,
    pub target: Arc<Target>,
    /// For a route of an IngressRoute with `spec.tls`: the TLS options it asks for (`default`,
    /// or `namespace-name` of a TLSOption), settled by [`RouteTable::bind_tls`]. It serves TLS
    /// connections only; a route without serves connections in clear only.
    pub tls: Option<Arc<str>>,
}

impl CompiledRoute {
    /// A TLS connection given other options than the route asks for: Traefik answers 421
    /// (its SNI check), so that a client cannot reach a route of strict options through a
    /// handshake under laxer ones by naming another host in SNI than in `Host`.
    pub fn misdirected(&self, connection_options: Option<&str>) -> bool {
        matches!((connection_options, self.tls.as_deref()), (Some(given), Some(asked)) if given != asked)
    }
}

/// What Traefik's Kubernetes CRD provider calls a route's router and the service it sends to,
/// so that serin's access log names them as Traefik's does.
#[derive(Debug, Default)]
pub struct TraefikNames {
    pub router: String,
    pub service: String,
}

impl TraefikNames {
    /// The router is `namespace-ingressroute-<the rule's SHA-256, first 10 bytes in hex>`; its
    /// service is the TraefikService the route names alone (`namespace-name`), else one of the
    /// router's own name. Both end in `@kubernetescrd`.
    pub fn of_route(
        namespace: &str,
        ingress_route: &str,
        rule: &str,
        lone_traefik_service: Option<&str>,
    ) -> TraefikNames {
        let digest = ring::digest::digest(&ring::digest::SHA256, rule.as_bytes());
        let hash: String = digest.as_ref()[..10].iter().map(|b| format!("{b:02x}")).collect();
        let router = traefik_normalized(&format!("{namespace}-{ingress_route}-{hash}"));
        let service = match lone_traefik_service {
            Some(name) => traefik_normalized(&format!("{namespace}-{name}")),
            None => router.clone(),
        };
        TraefikNames { router: format!("{router}@kubernetescrd"), service: format!("{service}@kubernetescrd") }
    }
}

/// Traefik's name normalization: runs of characters that are neither letters nor digits
/// become one `-`, and none is left at either end.
pub fn traefik_normalized(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric()).filter(|part| !part.is_empty()).collect::<Vec<_>>().join("-")
}

pub enum Target {
    Service(ServiceBackend),
    Weighted(WeightedBackend),
    Mirror(MirrorBackend),
    /// A reference to something that does not exist: answers 503 (and is reported).
    Missing(String),
}

/// A Service's ready pods, load-balanced round robin.
pub struct ServiceBackend {
    /// `namespace/name`
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    pub next: AtomicUsize,
}

#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub pod: String,
    /// The pod-template-hash of the pod's ReplicaSet: metrics are kept per revision.
    pub revision: String,
    /// Where this endpoint's requests are counted, found once when the table is built so the
    /// request path takes no lock and allocates nothing for metrics.
    pub stats: Arc<crate::proxy::BackendStats>,
    /// The forwarding timeouts of the ServersTransport the Service was referred to with.
    pub timeouts: TimeoutOverrides,
    /// What Traefik calls the Service this endpoint was reached through, for the access log.
    pub service: Arc<str>,
    /// The reference to the Service said `scheme: h2c`: the pod speaks HTTP/2 in clear.
    pub h2c: bool,
}

/// A ServersTransport's `forwardingTimeouts`: each one set replaces the server's own
/// (`--dial-timeout`, `--response-header-timeout`, `--idle-conn-timeout`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TimeoutOverrides {
    pub dial: Option<std::time::Duration>,
    pub response_header: Option<std::time::Duration>,
    pub idle_conn: Option<std::time::Duration>,
}

impl TimeoutOverrides {
    /// The server's timeouts with these in their place.
    pub fn over(&self, base: crate::upstream::Timeouts) -> crate::upstream::Timeouts {
        crate::upstream::Timeouts {
            dial: self.dial.unwrap_or(base.dial),
            response_header: self.response_header.unwrap_or(base.response_header),
            idle_conn: self.idle_conn.unwrap_or(base.idle_conn),
        }
    }
}

/// A weighted TraefikService: an exact split, plus the canary's header and mirror routes.
pub struct WeightedBackend {
    pub name: String,
    pub children: Vec<(String, Arc<Target>)>,
    pub schedule: Schedule,
    /// Survives rebuilds while the weights stay the same, so the split goes on where it was.
    pub counter: Arc<AtomicU64>,
    pub header_routes: Vec<HeaderRoute>,
    pub mirrors: Vec<MirrorRule>,
}

/// `setHeaderRoute`: requests carrying all these headers go to `child` (the canary).
pub struct HeaderRoute {
    pub headers: Vec<(String, ValueMatch)>,
    pub child: usize,
}

/// `setMirrorRoute`: a share of the requests matching any of `matches` is copied to `child`.
pub struct MirrorRule {
    pub matches: Vec<RequestMatch>,
    pub percentage: u64,
    pub child: usize,
    pub counter: AtomicU64,
}

/// One match of a mirror route: method, path and headers, each absent or a value match.
pub struct RequestMatch {
    pub method: Option<ValueMatch>,
    pub path: Option<ValueMatch>,
    pub headers: Vec<(String, ValueMatch)>,
}

/// An Argo string match made ready for requests when the table is built: a regex is compiled
/// once (with Go's regexp syntax, as the routers Argo drives read it), not per request.
pub enum ValueMatch {
    Exact(String),
    Prefix(String),
    Regex(regex::Regex),
    /// A match that sets nothing, or a regex that does not compile: matches no value.
    Nothing,
}

impl ValueMatch {
    pub fn matches(&self, value: &str) -> bool {
        match self {
            ValueMatch::Exact(exact) => value == exact,
            ValueMatch::Prefix(prefix) => value.starts_with(prefix.as_str()),
            ValueMatch::Regex(regex) => regex.is_match(value),
            ValueMatch::Nothing => false,
        }
    }
}

/// A mirroring TraefikService: requests go to `main`; copies go to each mirror by percent.
pub struct MirrorBackend {
    pub name: String,
    pub main: Arc<Target>,
    pub mirrors: Vec<(Arc<Target>, u64, AtomicU64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names as Traefik's Kubernetes CRD provider gives them (its own tests expect
    /// `default-test-route-6b204d94623b3df4370c` for this rule).
    #[test]
    fn routes_are_named_as_traefik_names_them() {
        let rule = "Host(`foo.com`) && PathPrefix(`/bar`)";
        let names = TraefikNames::of_route("default", "test.route", rule, None);
        assert_eq!(names.router, "default-test-route-6b204d94623b3df4370c@kubernetescrd");
        assert_eq!(names.service, names.router);
        let names =
            TraefikNames::of_route("default", "myapp-canary", "Host(`canary.myapp.com`)", Some("canary-service"));
        assert_eq!(names.router, "default-myapp-canary-314e264ecce1db156d4b@kubernetescrd");
        assert_eq!(names.service, "default-canary-service@kubernetescrd");
    }
}

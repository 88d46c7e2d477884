//! The router's configuration, built from the store: serin_router's route table, with each
//! entry point's IngressRoutes (in priority order, as Traefik orders them), and behind each
//! route a tree of targets: Services (their ready pods, with the forwarding timeouts of the
//! ServersTransport the reference names), weighted TraefikServices (an exact, precomputed
//! split) and mirrors.
//!
//! Building is pure: objects in, a table out, plus the weights it serves (which the rollout
//! controller reports as ActualWeight) and the problems it found (a missing Service, a bad
//! rule), so the table can be swapped in atomically while requests flow.

use crate::objects::{pod_port, pod_ready};
use crate::rollouts::ROUTES_ANNOTATION;
use crate::store::Stored;
use serde_json::Value as Json;
use serin_engine::state::POD_TEMPLATE_HASH_LABEL;
use serin_model::rollout::{HeaderRoutingMatch, RouteMatch, StringMatch};
use serin_router::proxy::Metrics;
use serin_router::rule::{Syntax, parse_with};
use serin_router::table::{
    CompiledRoute, Endpoint, HeaderRoute, MirrorBackend, MirrorRule, RequestMatch, RouteTable, ServiceBackend, Target,
    TimeoutOverrides, TraefikNames, ValueMatch, WeightedBackend, traefik_normalized,
};
use serin_router::weighted::Schedule;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};

/// The objects the table is built from.
pub struct Objects<'a> {
    pub services: &'a [Stored],
    pub pods: &'a [Stored],
    pub traefik_services: &'a [Stored],
    pub ingress_routes: &'a [Stored],
    pub servers_transports: &'a [Stored],
    pub secrets: &'a [Stored],
    pub tls_options: &'a [Stored],
    pub tls_stores: &'a [Stored],
}

/// Counters of weighted splits, kept across rebuilds: key = TraefikService and its weights.
pub type SplitCounters = HashMap<String, Arc<AtomicU64>>;

/// What a build produced besides the table.
#[derive(Default)]
pub struct BuildReport {
    /// (namespace, TraefikService name) -> service name -> weight now served.
    pub served: HashMap<(String, String), HashMap<String, i64>>,
    pub problems: Vec<String>,
}

pub fn build(objects: &Objects<'_>, counters: &mut SplitCounters, metrics: &Metrics) -> (RouteTable, BuildReport) {
    let mut builder = Builder {
        index: Index::new(objects),
        counters,
        metrics,
        report: BuildReport::default(),
        used_counters: Vec::new(),
    };
    let mut table = RouteTable::default();
    for route in objects.ingress_routes {
        let namespace = route.key.namespace.as_str();
        let group = route.key.group.as_str();
        let entrypoints: Vec<String> = route.body.pointer("/spec/entryPoints").and_then(Json::as_array).map_or_else(
            || vec!["web".to_string()],
            |e| e.iter().filter_map(|n| n.as_str().map(str::to_string)).collect(),
        );
        let tls = route.body.pointer("/spec/tls").filter(|tls| tls.is_object());
        let tls: Option<Arc<str>> = tls.map(|tls| crate::tls::options_id(namespace, tls).into());
        for (index, spec) in
            route.body.pointer("/spec/routes").and_then(Json::as_array).into_iter().flatten().enumerate()
        {
            let name = format!("{namespace}/{}#{index}", route.key.name);
            let rule_text = spec["match"].as_str().unwrap_or_default();
            let syntax = Syntax::of_route(group, spec["syntax"].as_str());
            let rule = match syntax.and_then(|syntax| parse_with(rule_text, syntax).map_err(|e| e.to_string())) {
                Ok(rule) => rule,
                Err(error) => {
                    builder.report.problems.push(format!("IngressRoute {name}: rule {rule_text:?}: {error}"));
                    continue;
                }
            };
            let priority = spec["priority"]
                .as_i64()
                .filter(|p| *p != 0)
                .unwrap_or_else(|| serin_router::rule::default_priority(rule_text));
            let services: Vec<&Json> = spec["services"].as_array().into_iter().flatten().collect();
            let lone_traefik_service = match services.as_slice() {
                [one] if one["kind"] == "TraefikService" => one["name"].as_str(),
                _ => None,
            };
            let names = Arc::new(TraefikNames::of_route(namespace, &route.key.name, rule_text, lone_traefik_service));
            let target = match services.as_slice() {
                // Traefik gives a route's lone Service the router's name.
                [one] if one["kind"] != "TraefikService" => builder.service_reference(namespace, one, &names.service),
                [one] => builder.reference(namespace, group, one, 0),
                many => Arc::new(builder.weighted_of(&name, namespace, group, many, &Json::Null, 0)),
            };
            for entrypoint in &entrypoints {
                table.entrypoints.entry(entrypoint.clone()).or_default().push(CompiledRoute {
                    name: name.clone(),
                    names: names.clone(),
                    rule: rule.clone(),
                    priority,
                    target: target.clone(),
                    tls: tls.clone(),
                });
            }
        }
    }
    for routes in table.entrypoints.values_mut() {
        routes.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.name.cmp(&b.name)));
    }
    let (tls, problems) = crate::tls::build(objects);
    builder.report.problems.extend(problems);
    table.tls = tls;
    let conflicts = table.bind_tls();
    builder.report.problems.extend(conflicts);
    let used = std::mem::take(&mut builder.used_counters);
    builder.counters.retain(|key, _| used.contains(key));
    (table, builder.report)
}

/// The objects a build looks up, indexed once per build, so a build costs about O(objects)
/// however many routes, Services and pods there are (500 rollouts rebuilt in milliseconds).
struct Index<'o> {
    services: HashMap<(&'o str, &'o str), &'o Stored>,
    traefik_services: HashMap<(&'o str, &'o str, &'o str), &'o Stored>,
    /// ServersTransports by (namespace, name), in either group.
    servers_transports: HashMap<(&'o str, &'o str), &'o Stored>,
    /// Ready pods under each (namespace, label, value) they carry.
    ready_pods: HashMap<(&'o str, &'o str, &'o str), Vec<&'o Stored>>,
}

impl<'o> Index<'o> {
    fn new(objects: &Objects<'o>) -> Self {
        let mut ready_pods: HashMap<_, Vec<_>> = HashMap::new();
        for pod in objects.pods.iter().filter(|p| pod_ready(&p.body)) {
            for (label, value) in pod.body["metadata"]["labels"].as_object().into_iter().flatten() {
                let Some(value) = value.as_str() else { continue };
                ready_pods.entry((pod.key.namespace.as_str(), label.as_str(), value)).or_default().push(pod);
            }
        }
        Index {
            services: objects.services.iter().map(|s| ((s.key.namespace.as_str(), s.key.name.as_str()), s)).collect(),
            traefik_services: objects
                .traefik_services
                .iter()
                .map(|t| ((t.key.group.as_str(), t.key.namespace.as_str(), t.key.name.as_str()), t))
                .collect(),
            servers_transports: objects
                .servers_transports
                .iter()
                .map(|t| ((t.key.namespace.as_str(), t.key.name.as_str()), t))
                .collect(),
            ready_pods,
        }
    }

    /// The ready pods in `namespace` whose labels hold every entry of `selector` (none for an
    /// empty selector, as Kubernetes gives a Service without one no endpoints).
    fn selected(&self, namespace: &str, selector: &serde_json::Map<String, Json>) -> Vec<&'o Stored> {
        let Some((label, value)) = selector.iter().next() else { return Vec::new() };
        let Some(candidates) = value.as_str().and_then(|v| self.ready_pods.get(&(namespace, label.as_str(), v))) else {
            return Vec::new();
        };
        candidates
            .iter()
            .copied()
            .filter(|p| selector.iter().all(|(k, v)| p.body["metadata"]["labels"].get(k) == Some(v)))
            .collect()
    }
}

/// The overrides a stored ServersTransport gives (its durations were validated on apply).
fn timeout_overrides(transport: &Json) -> TimeoutOverrides {
    let duration = |field: &str| {
        let value = transport.pointer(&format!("/spec/forwardingTimeouts/{field}"))?;
        let value: serin_model::IntOrString = serde_json::from_value(value.clone()).ok()?;
        let ms = serin_model::traefik::traefik_duration_millis(&value).ok().filter(|ms| *ms > 0)?;
        Some(std::time::Duration::from_millis(ms as u64))
    };
    TimeoutOverrides {
        dial: duration("dialTimeout"),
        response_header: duration("responseHeaderTimeout"),
        idle_conn: duration("idleConnTimeout"),
    }
}

/// An Argo string match made ready for requests: a regex compiled once, with Go's regexp
/// syntax (as the routers Argo drives read it); one that does not compile matches nothing.
fn value_match(m: &StringMatch) -> ValueMatch {
    match (&m.exact, &m.prefix, &m.regex) {
        (Some(exact), _, _) => ValueMatch::Exact(exact.clone()),
        (None, Some(prefix), _) => ValueMatch::Prefix(prefix.clone()),
        (None, None, Some(pattern)) => {
            serin_router::rule::compile_go_regex(pattern).map_or(ValueMatch::Nothing, ValueMatch::Regex)
        }
        (None, None, None) => ValueMatch::Nothing,
    }
}

fn request_match(m: &RouteMatch) -> RequestMatch {
    RequestMatch {
        method: m.method.as_ref().map(value_match),
        path: m.path.as_ref().map(value_match),
        headers: m.headers.iter().map(|(name, value)| (name.clone(), value_match(value))).collect(),
    }
}

struct Builder<'a, 'o> {
    index: Index<'o>,
    counters: &'a mut SplitCounters,
    metrics: &'a Metrics,
    report: BuildReport,
    used_counters: Vec<String>,
}

impl Builder<'_, '_> {
    /// A service reference: a Service, or a TraefikService of the referring object's group.
    fn reference(&mut self, namespace: &str, group: &str, reference: &Json, depth: usize) -> Arc<Target> {
        let name = reference["name"].as_str().unwrap_or_default();
        let namespace = reference["namespace"].as_str().unwrap_or(namespace);
        if reference["kind"] == "TraefikService" {
            return self.traefik_service(namespace, group, name, depth);
        }
        // Traefik's name for a Service reached through a weighted service: `namespace-name-port`.
        let port = match &reference["port"] {
            Json::String(port) => port.clone(),
            port => port.to_string(),
        };
        let traefik_name = format!("{}@kubernetescrd", traefik_normalized(&format!("{namespace}-{name}-{port}")));
        self.service_reference(namespace, reference, &traefik_name)
    }

    /// A reference to a Service, which the access log calls `traefik_name`.
    fn service_reference(&mut self, namespace: &str, reference: &Json, traefik_name: &str) -> Arc<Target> {
        let name = reference["name"].as_str().unwrap_or_default();
        let namespace = reference["namespace"].as_str().unwrap_or(namespace);
        let timeouts = match reference["serversTransport"].as_str().filter(|t| !t.is_empty()) {
            None => TimeoutOverrides::default(),
            Some(transport) => match self.servers_transport(namespace, transport) {
                Some(found) => timeout_overrides(&found.body),
                // As Traefik: a service whose transport does not exist is not served.
                None => {
                    self.report.problems.push(format!(
                        "ServersTransport {transport:?} named by Service {namespace}/{name} does not exist"
                    ));
                    return Arc::new(Target::Missing(format!("{namespace}/{name}")));
                }
            },
        };
        // `scheme: h2c`: the pods speak HTTP/2 in clear (validation refuses any scheme but
        // http and h2c).
        let h2c = reference["scheme"].as_str() == Some("h2c");
        Arc::new(self.service(namespace, name, timeouts, h2c, traefik_name.into()))
    }

    /// A ServersTransport as a service reference names it: `name` in the referring object's
    /// namespace, or Traefik's qualified `namespace-name@kubernetescrd`.
    fn servers_transport(&self, namespace: &str, reference: &str) -> Option<&Stored> {
        let transports = &self.index.servers_transports;
        match reference.strip_suffix("@kubernetescrd") {
            None => transports.get(&(namespace, reference)).copied(),
            Some(qualified) => transports
                .iter()
                .find(|((ns, name), _)| qualified.strip_prefix(*ns).and_then(|r| r.strip_prefix('-')) == Some(*name))
                .map(|(_, stored)| *stored),
        }
    }

    fn service(
        &mut self,
        namespace: &str,
        name: &str,
        timeouts: TimeoutOverrides,
        h2c: bool,
        traefik_name: Arc<str>,
    ) -> Target {
        let Some(service) = self.index.services.get(&(namespace, name)) else {
            self.report.problems.push(format!("Service {namespace}/{name} does not exist"));
            return Target::Missing(format!("{namespace}/{name}"));
        };
        let no_selector = serde_json::Map::new();
        let selector = service.body.pointer("/spec/selector").and_then(Json::as_object).unwrap_or(&no_selector);
        let endpoints = self
            .index
            .selected(namespace, selector)
            .into_iter()
            .filter_map(|p| {
                let port = pod_port(&p.body)?;
                let labels = &p.body["metadata"]["labels"];
                let revision = labels[POD_TEMPLATE_HASH_LABEL].as_str().unwrap_or_default().to_string();
                let replica_set = p.key.name.rsplit_once('-').map_or(p.key.name.as_str(), |(rs, _)| rs);
                Some(Endpoint {
                    addr: SocketAddr::from(([127, 0, 0, 1], port)),
                    pod: p.key.name.clone(),
                    stats: self.metrics.stats(replica_set, &revision),
                    revision,
                    timeouts,
                    service: traefik_name.clone(),
                    h2c,
                })
            })
            .collect();
        Target::Service(ServiceBackend { name: format!("{namespace}/{name}"), endpoints, next: AtomicUsize::new(0) })
    }

    fn traefik_service(&mut self, namespace: &str, group: &str, name: &str, depth: usize) -> Arc<Target> {
        let found = self.index.traefik_services.get(&(group, namespace, name)).copied();
        let Some(found) = found.filter(|_| depth < 8) else {
            self.report
                .problems
                .push(format!("TraefikService {namespace}/{name} does not exist in {group} (or nests too deep)"));
            return Arc::new(Target::Missing(format!("{namespace}/{name}")));
        };
        let spec = &found.body["spec"];
        let routes: Json = found.body["metadata"]["annotations"][ROUTES_ANNOTATION]
            .as_str()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(Json::Null);
        if let Some(services) = spec.pointer("/weighted/services").and_then(Json::as_array) {
            let label = format!("{group}/{namespace}/{name}");
            let refs: Vec<&Json> = services.iter().collect();
            let served: HashMap<String, i64> = services
                .iter()
                .map(|s| (s["name"].as_str().unwrap_or_default().to_string(), s["weight"].as_i64().unwrap_or(1)))
                .collect();
            if group == "traefik.io" || !self.report.served.contains_key(&(namespace.to_string(), name.to_string())) {
                self.report.served.insert((namespace.to_string(), name.to_string()), served);
            }
            return Arc::new(self.weighted_of(&label, namespace, group, &refs, &routes, depth));
        }
        if let Some(mirroring) = spec.get("mirroring") {
            let main = self.reference(namespace, group, mirroring, depth + 1);
            let mirrors = mirroring["mirrors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    (
                        self.reference(namespace, group, m, depth + 1),
                        m["percent"].as_u64().unwrap_or(0).min(100),
                        AtomicU64::new(0),
                    )
                })
                .collect();
            return Arc::new(Target::Mirror(MirrorBackend {
                name: format!("{group}/{namespace}/{name}"),
                main,
                mirrors,
            }));
        }
        Arc::new(Target::Missing(format!("{namespace}/{name}")))
    }

    fn weighted_of(
        &mut self,
        label: &str,
        namespace: &str,
        group: &str,
        refs: &[&Json],
        routes: &Json,
        depth: usize,
    ) -> Target {
        let children: Vec<(String, Arc<Target>)> = refs
            .iter()
            .map(|r| {
                (r["name"].as_str().unwrap_or_default().to_string(), self.reference(namespace, group, r, depth + 1))
            })
            .collect();
        let weights: Vec<(usize, u32)> = refs
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r["weight"].as_i64().unwrap_or(1).clamp(0, i64::from(u32::MAX)) as u32))
            .collect();
        let key = format!("{label}{weights:?}");
        let counter = self.counters.entry(key.clone()).or_default().clone();
        self.used_counters.push(key);
        let canary = routes["canaryService"].as_str().and_then(|c| children.iter().position(|(name, _)| name == c));
        let header_routes = match canary {
            Some(child) => routes["headerRoutes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| serde_json::from_value::<Vec<HeaderRoutingMatch>>(r["match"].clone()).ok())
                .map(|m| HeaderRoute {
                    headers: m.iter().map(|h| (h.header_name.clone(), value_match(&h.header_value))).collect(),
                    child,
                })
                .collect(),
            None => Vec::new(),
        };
        let mirrors = match canary {
            Some(child) => routes["mirrorRoutes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    let matches = serde_json::from_value::<Vec<RouteMatch>>(r["match"].clone()).ok()?;
                    Some(MirrorRule {
                        matches: matches.iter().map(request_match).collect(),
                        percentage: r["percentage"].as_u64().unwrap_or(100),
                        child,
                        counter: AtomicU64::new(0),
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        Target::Weighted(WeightedBackend {
            name: label.to_string(),
            children,
            schedule: Schedule::new(&weights),
            counter,
            header_routes,
            mirrors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::PORT_ANNOTATION;
    use serde_json::json;
    use serin_model::ObjectKey;
    use serin_router::rule::RequestInfo;
    use std::collections::BTreeMap;

    #[test]
    fn string_matches_are_made_once_with_gos_regexp_syntax() {
        let regex = |pattern: &str| value_match(&StringMatch { regex: Some(pattern.into()), ..Default::default() });
        assert!(matches!(regex("^v\\d+$"), ValueMatch::Regex(_)), "compiled when the table is built");
        assert!(regex("^v\\d+$").matches("v12") && !regex("^v\\d+$").matches("v\u{661}"), "Go's \\d is ASCII");
        assert!(regex("a{x}").matches("a{x}"), "a brace that starts no repetition is a literal in Go");
        assert!(regex("beta").matches("x-beta-y"), "unanchored, as Go's MatchString");
        assert!(matches!(regex("(unclosed"), ValueMatch::Nothing) && !regex("(unclosed").matches("(unclosed"));
        let exact = value_match(&StringMatch { exact: Some("on".into()), ..Default::default() });
        let prefix = value_match(&StringMatch { prefix: Some("/api".into()), ..Default::default() });
        assert!(exact.matches("on") && !exact.matches("one") && prefix.matches("/api/x") && !prefix.matches("/ap"));
        assert!(!value_match(&StringMatch::default()).matches(""));
    }

    fn stored(api_version: &str, kind: &str, name: &str, body: Json) -> Stored {
        Stored { key: ObjectKey::new(api_version, kind, "default", name), rev: 1, body: Arc::new(body) }
    }

    /// A Service `name` selecting one ready pod of its own, `name-pod`.
    fn service_with_pod(name: &str, port: u16) -> (Stored, Stored) {
        let service = stored("v1", "Service", name, json!({"spec": {"selector": {"app": name}}}));
        let pod = json!({
            "metadata": {"labels": {"app": name}, "annotations": {PORT_ANNOTATION: port.to_string()}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        });
        (service, stored("v1", "Pod", &format!("{name}-pod"), pod))
    }

    /// Builds the table for `traefik_services` with one IngressRoute on the TraefikService
    /// `entry`, sends it `n` requests, and counts the pods each request and each mirror copy
    /// went to.
    fn send(traefik_services: &[(&str, Json)], n: usize) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
        let (services, pods): (Vec<Stored>, Vec<Stored>) =
            ["a", "b", "c"].iter().zip(1..).map(|(name, port)| service_with_pod(name, port)).unzip();
        let traefik_services: Vec<Stored> = traefik_services
            .iter()
            .map(|(name, spec)| stored("traefik.io/v1alpha1", "TraefikService", name, json!({"spec": spec})))
            .collect();
        let route = json!({"spec": {"routes": [{"match": "Host(`app`)", "services": [{"name": "entry", "kind": "TraefikService"}]}]}});
        let ingress_routes = [stored("traefik.io/v1alpha1", "IngressRoute", "app", route)];
        let objects = Objects {
            services: &services,
            pods: &pods,
            traefik_services: &traefik_services,
            ingress_routes: &ingress_routes,
            servers_transports: &[],
            secrets: &[],
            tls_options: &[],
            tls_stores: &[],
        };
        let (table, report) = build(&objects, &mut SplitCounters::new(), &Metrics::default());
        assert_eq!(report.problems, Vec::<String>::new());
        let info = RequestInfo { host: "app", path: "/", method: "GET", headers: &[], query: "", client_ip: None };
        let route = table.route("web", &info, false).unwrap();
        let (mut served, mut mirrored) = (BTreeMap::new(), BTreeMap::new());
        for _ in 0..n {
            let mut mirrors = Vec::new();
            let endpoint = serin_router::proxy::pick(&route.target, &info, &[], &mut mirrors).unwrap();
            *served.entry(endpoint.pod.clone()).or_insert(0) += 1;
            for mirror in mirrors {
                *mirrored.entry(mirror.pod.clone()).or_insert(0) += 1;
            }
        }
        (served, mirrored)
    }

    fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
        pairs.iter().map(|(pod, n)| (pod.to_string(), *n)).collect()
    }

    #[test]
    fn a_weighted_traefik_service_of_a_weighted_one_splits_exactly() {
        let outer = json!({"weighted": {"services": [
            {"name": "inner", "kind": "TraefikService", "weight": 1},
            {"name": "c", "weight": 1},
        ]}});
        let inner = json!({"weighted": {"services": [{"name": "a", "weight": 90}, {"name": "b", "weight": 10}]}});
        // 50/50 of (90/10, c): every 20 requests, 9 to a, 1 to b and 10 to c.
        let (served, mirrored) = send(&[("entry", outer.clone()), ("inner", inner.clone())], 20);
        assert_eq!(served, counts(&[("a-pod", 9), ("b-pod", 1), ("c-pod", 10)]));
        assert!(mirrored.is_empty());
        let (served, _) = send(&[("entry", outer), ("inner", inner)], 1000);
        assert_eq!(served, counts(&[("a-pod", 450), ("b-pod", 50), ("c-pod", 500)]));
    }

    #[test]
    fn mirroring_copies_its_percentage_and_the_main_service_gets_everything() {
        let mirroring =
            json!({"mirroring": {"name": "a", "mirrors": [{"name": "b", "percent": 30}, {"name": "c", "percent": 5}]}});
        let (served, mirrored) = send(&[("entry", mirroring.clone())], 100);
        assert_eq!(served, counts(&[("a-pod", 100)]));
        assert_eq!(mirrored, counts(&[("b-pod", 30), ("c-pod", 5)]));
        // Exact over any 20 consecutive requests too: 6 and 1.
        let (_, mirrored) = send(&[("entry", mirroring)], 20);
        assert_eq!(mirrored, counts(&[("b-pod", 6), ("c-pod", 1)]));
    }
}

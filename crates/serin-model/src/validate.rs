//! Semantic rules beyond types: what Argo Rollouts, Traefik, Argo CD and Kubernetes would
//! reject (services that must differ, weights out of range, a step with two kinds, ...).
//!
//! Each rule yields an [`Issue`] naming the field; `load` turns it into a located diagnostic.

use crate::analysis::{AnalysisTemplateSpec, Metric, has_placeholder};
use crate::application::Application;
use crate::duration::parse_pause_duration;
use crate::intstr::IntOrString;
use crate::meta::ObjectMeta;
use crate::object::Object;
use crate::path::FieldPath;
use crate::rollout::{
    AntiAffinity, BlueGreenStrategy, CanaryStep, CanaryStrategy, ProgressThresholdType, Rollout, RolloutAnalysis,
    StepKind, StringMatch,
};
use crate::secret::{Secret, TLS_TYPE, check_certificates, check_private_key, decode};
use crate::service::Service;
use crate::traefik::{
    IngressRoute, ServersTransport, TlsOption, TlsStore, TraefikService, WeightedService, traefik_duration_millis,
};
use serin_rules::rule::{Syntax, parse_with};
use serin_rules::tls::{CIPHER_SUITES, CURVES, ClientAuthType, TlsVersion, Word, lookup};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub path: FieldPath,
    pub message: String,
}

/// Collects issues, each at a path given in dotted form.
#[derive(Default)]
struct Issues(Vec<Issue>);

impl Issues {
    fn at(&mut self, path: &FieldPath, message: impl Into<String>) {
        self.0.push(Issue { path: path.clone(), message: message.into() });
    }

    fn check(&mut self, ok: bool, path: &FieldPath, message: impl Into<String>) {
        if !ok {
            self.at(path, message);
        }
    }
}

pub fn validate(object: &Object) -> Vec<Issue> {
    let mut issues = Issues::default();
    metadata(&mut issues, object.metadata());
    match object {
        Object::Rollout(r) => rollout(&mut issues, r),
        Object::AnalysisTemplate(t) | Object::ClusterAnalysisTemplate(t) => {
            analysis_spec(&mut issues, &FieldPath::parse("spec"), &t.spec)
        }
        Object::AnalysisRun(run) => {
            let spec = AnalysisTemplateSpec {
                metrics: run.spec.metrics.clone(),
                args: run.spec.args.clone(),
                dry_run: run.spec.dry_run.clone(),
                measurement_retention: run.spec.measurement_retention.clone(),
            };
            analysis_spec(&mut issues, &FieldPath::parse("spec"), &spec)
        }
        Object::Application(app) => application(&mut issues, app),
        Object::Service(s) => service(&mut issues, s),
        Object::TraefikService(t) => traefik_service(&mut issues, t),
        Object::IngressRoute(r) => ingress_route(&mut issues, r),
        Object::ServersTransport(t) => servers_transport(&mut issues, t),
        Object::TlsOption(o) => tls_option(&mut issues, o),
        Object::TlsStore(s) => tls_store(&mut issues, s),
        Object::Secret(s) => secret(&mut issues, s),
        Object::ReplicaSet(rs) => {
            pod_template(&mut issues, &FieldPath::parse("spec.template"), &rs.spec.template.0, PodOwner::ReplicaSet)
        }
        Object::Pod(_) => {}
    }
    issues.0
}

fn metadata(issues: &mut Issues, meta: &ObjectMeta) {
    let path = FieldPath::parse("metadata.name");
    let generate_name = meta.generate_name.as_deref().filter(|prefix| !prefix.is_empty());
    match (meta.name.as_deref(), generate_name) {
        (None | Some(""), Some(prefix)) => issues.check(
            // As Kubernetes checks a prefix: valid once the random suffix is added.
            is_dns_subdomain(&format!("{prefix}x")),
            &FieldPath::parse("metadata.generateName"),
            format!("invalid generateName {prefix:?}: use lower-case letters, digits, '-' and '.', starting with a letter or digit"),
        ),
        (None | Some(""), None) => {
            issues.at(&path, "required: every object needs a name (or a generateName prefix)")
        }
        (Some(name), _) => issues.check(
            is_dns_subdomain(name),
            &path,
            format!("invalid name {name:?}: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"),
        ),
    }
    if let Some(ns) = meta.namespace.as_deref() {
        issues.check(
            is_dns_label(ns),
            &FieldPath::parse("metadata.namespace"),
            format!("invalid namespace {ns:?}: use lower-case letters, digits and '-', at most 63 characters"),
        );
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Which `restartPolicy` a pod template's owner allows, as Kubernetes validates it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PodOwner {
    /// A ReplicaSet (and so a Rollout): only `Always`, the default.
    ReplicaSet,
    /// A Job (an analysis job metric): `Never` or `OnFailure`, to be set.
    Job,
}

fn pod_template(issues: &mut Issues, path: &FieldPath, template: &serde_json::Value, owner: PodOwner) {
    for issue in serin_podtemplate::check(template) {
        // Analysis arguments are filled in when the run is made; their values are checked then.
        let issue_path = FieldPath::parse(&issue.path);
        if owner == PodOwner::Job
            && json_at(template, &issue_path).and_then(|v| v.as_str()).is_some_and(has_placeholder)
        {
            continue;
        }
        issues.at(&path.join(&issue.path), issue.message);
    }
    let restart = template.pointer("/spec/restartPolicy").and_then(|r| r.as_str());
    let restart_path = path.join("spec.restartPolicy");
    match owner {
        PodOwner::ReplicaSet => issues.check(
            restart.is_none_or(|r| r == "Always"),
            &restart_path,
            format!(
                "unsupported value {:?}: only \"Always\" is allowed for a ReplicaSet's pods",
                restart.unwrap_or_default()
            ),
        ),
        PodOwner::Job => issues.check(
            matches!(restart, Some("Never" | "OnFailure")) || restart.is_some_and(has_placeholder),
            &restart_path,
            format!(
                "required: a Job's pods need restartPolicy \"Never\" or \"OnFailure\"{}",
                restart.map(|r| format!(", got {r:?}")).unwrap_or_default()
            ),
        ),
    }
    let containers = template.pointer("/spec/containers").and_then(|c| c.as_array());
    match containers {
        None => issues.at(&path.join("spec.containers"), "required: a pod template needs at least one container"),
        Some(list) if list.is_empty() => {
            issues.at(&path.join("spec.containers"), "required: a pod template needs at least one container")
        }
        Some(list) => {
            let mut names = Vec::new();
            for (i, c) in list.iter().enumerate() {
                let at = path.join("spec.containers").index(i);
                match c.get("name").and_then(|n| n.as_str()) {
                    Some(name) if !name.is_empty() => {
                        issues.check(
                            !names.contains(&name),
                            &at.key("name"),
                            format!("duplicate container name {name:?}"),
                        );
                        names.push(name);
                    }
                    _ => issues.at(&at.key("name"), "required: every container needs a name"),
                }
                if c.get("image").and_then(|i| i.as_str()).is_none_or(str::is_empty) {
                    issues.at(&at.key("image"), "required: every container needs an image");
                }
            }
        }
    }
}

fn rollout(issues: &mut Issues, r: &Rollout) {
    let spec = &r.spec;
    let at = |p: &str| FieldPath::parse(p);
    if let Some(n) = spec.replicas {
        issues.check(n >= 0, &at("spec.replicas"), format!("must not be negative, got {n}"));
    }
    for (value, name) in [
        (spec.min_ready_seconds, "spec.minReadySeconds"),
        (spec.revision_history_limit, "spec.revisionHistoryLimit"),
        (spec.progress_deadline_seconds, "spec.progressDeadlineSeconds"),
    ] {
        if let Some(v) = value {
            issues.check(v >= 0, &at(name), format!("must not be negative, got {v}"));
        }
    }
    if spec.progress_deadline_seconds() <= spec.min_ready_seconds.unwrap_or(0) {
        issues.at(&at("spec.progressDeadlineSeconds"), "must be greater than minReadySeconds");
    }
    if spec.workload_ref.is_some() {
        issues.at(&at("spec.workloadRef"), "workloadRef is not supported yet: put the pod template in spec.template");
    } else {
        let template_labels = spec.template.labels();
        match &spec.selector {
            None => issues.at(&at("spec.selector"), "required: a Rollout needs a selector"),
            Some(s) if s.match_labels.is_empty() && s.match_expressions.is_empty() => {
                issues.at(&at("spec.selector"), "empty selector is invalid for a Rollout")
            }
            Some(s) => issues.check(
                s.matches(&template_labels),
                &at("spec.selector"),
                "selector does not match template labels",
            ),
        }
        pod_template(issues, &at("spec.template"), &spec.template.0, PodOwner::ReplicaSet);
    }
    let strategy = &spec.strategy;
    match (&strategy.canary, &strategy.blue_green) {
        (Some(_), Some(_)) => issues.at(&at("spec.strategy"), "set either canary or blueGreen, not both"),
        (None, Some(bg)) => blue_green_strategy(issues, &at("spec.strategy.blueGreen"), bg, spec),
        (None, None) => {
            issues.at(&at("spec.strategy"), "required: set spec.strategy.canary or spec.strategy.blueGreen")
        }
        (Some(canary), None) => canary_strategy(issues, &at("spec.strategy.canary"), canary, spec.replicas()),
    }
}

fn canary_strategy(issues: &mut Issues, at: &FieldPath, c: &CanaryStrategy, replicas: i32) {
    let routed = c.traffic_routing.is_some();
    if let (Some(canary), Some(stable)) = (&c.canary_service, &c.stable_service) {
        issues.check(
            canary != stable,
            &at.key("canaryService"),
            format!("canaryService and stableService must be different, both are {canary:?}"),
        );
    }
    if let Some(router) = router_needing_services(c) {
        for (field, value) in [("canaryService", &c.canary_service), ("stableService", &c.stable_service)] {
            issues.check(
                value.as_deref().is_some_and(|v| !v.is_empty()),
                &at.key(field),
                format!("required: {router} routes traffic between canaryService and stableService"),
            );
        }
    }
    let surge = percent_or_count(issues, &at.key("maxSurge"), c.max_surge.as_ref());
    let unavailable = percent_or_count(issues, &at.key("maxUnavailable"), c.max_unavailable.as_ref());
    if let (Some(surge), Some(unavailable)) = (surge, unavailable) {
        let s = c.max_surge().scaled(i64::from(replicas), true).unwrap_or(surge);
        let u = c.max_unavailable().scaled(i64::from(replicas), false).unwrap_or(unavailable);
        if surge == 0 && unavailable == 0 || (replicas > 0 && s == 0 && u == 0 && surge == 0) {
            issues.at(&at.key("maxUnavailable"), "maxSurge and maxUnavailable cannot both be 0");
        }
    }
    for (value, field) in [
        (c.scale_down_delay_seconds, "scaleDownDelaySeconds"),
        (c.abort_scale_down_delay_seconds, "abortScaleDownDelaySeconds"),
        (c.scale_down_delay_revision_limit, "scaleDownDelayRevisionLimit"),
    ] {
        if let Some(v) = value {
            issues.check(v >= 0, &at.key(field), format!("must not be negative, got {v}"));
        }
    }
    // abortScaleDownDelaySeconds and minPodsPerReplicaSet mean nothing without traffic
    // routing; Argo ignores them there, and so does serin.
    if !routed {
        for (set, field) in [
            (c.scale_down_delay_seconds.is_some(), "scaleDownDelaySeconds"),
            (c.dynamic_stable_scale(), "dynamicStableScale"),
        ] {
            issues.check(!set, &at.key(field), format!("{field} can only be used with trafficRouting"));
        }
    } else if c.dynamic_stable_scale() && c.scale_down_delay_seconds.is_some() {
        issues.at(&at.key("dynamicStableScale"), "dynamicStableScale cannot be used with scaleDownDelaySeconds");
    }
    if let Some(min) = c.min_pods_per_replica_set {
        issues.check(min >= 1, &at.key("minPodsPerReplicaSet"), format!("must be at least 1, got {min}"));
    }
    if let Some(t) = &c.replica_progress_threshold {
        let ok = match t.kind {
            ProgressThresholdType::Percent => (1..=100).contains(&t.value),
            ProgressThresholdType::Pods => t.value >= 1,
        };
        issues.check(ok, &at.join("replicaProgressThreshold.value"), format!("invalid value {}", t.value));
    }
    if c.ping_pong.is_some() {
        issues.at(&at.key("pingPong"), "pingPong is not supported yet");
    }
    if let Some(a) = &c.anti_affinity {
        anti_affinity(issues, &at.key("antiAffinity"), a);
    }
    let max_weight = c.max_weight();
    let managed_routes: Vec<&str> =
        c.traffic_routing.iter().flat_map(|t| t.managed_routes.iter().map(|r| r.name.as_str())).collect();
    if let Some(t) = &c.traffic_routing {
        let tr = at.key("trafficRouting");
        if let Some(w) = t.max_traffic_weight {
            issues.check(w > 0, &tr.key("maxTrafficWeight"), format!("must be positive, got {w}"));
            issues.check(
                t.nginx.is_some() || !t.plugins.is_empty(),
                &tr.key("maxTrafficWeight"),
                "maxTrafficWeight is supported only with the nginx router and router plugins",
            );
        }
        if let Some(traefik) = &t.traefik {
            issues.check(
                !traefik.weighted_traefik_service_name.is_empty(),
                &tr.join("traefik.weightedTraefikServiceName"),
                "required: the TraefikService whose weights serin sets",
            );
        }
        if let Some(nginx) = &t.nginx {
            issues.check(
                nginx.stable_ingress.is_some() == nginx.stable_ingresses.is_empty(),
                &tr.key("nginx"),
                "set exactly one of stableIngress and stableIngresses",
            );
        }
        for (name, present) in [
            ("smi", t.smi.is_some()),
            ("istio", t.istio.is_some()),
            ("alb", t.alb.is_some()),
            ("ambassador", t.ambassador.is_some()),
            ("appMesh", t.app_mesh.is_some()),
            ("apisix", t.apisix.is_some()),
        ] {
            issues.check(!present, &tr.key(name), format!("the {name} traffic router is not supported yet: serin routes with traefik, nginx or the Gateway API plugin"));
        }
        for plugin in t.plugins.keys() {
            issues.check(
                plugin == "argoproj-labs/gatewayAPI",
                &tr.join("plugins").key(plugin),
                format!("traffic router plugin {plugin:?} is not supported: serin implements argoproj-labs/gatewayAPI"),
            );
        }
        let mut seen = Vec::new();
        for (i, route) in t.managed_routes.iter().enumerate() {
            issues.check(
                !seen.contains(&route.name.as_str()),
                &tr.key("managedRoutes").index(i).key("name"),
                format!("duplicate managed route {:?}", route.name),
            );
            seen.push(&route.name);
        }
    }
    for (i, step) in c.steps.iter().enumerate() {
        canary_step(issues, &at.key("steps").index(i), step, routed, max_weight, &managed_routes);
    }
    if let Some(bg) = &c.analysis {
        let path = at.key("analysis");
        issues.check(!bg.templates.is_empty(), &path.key("templates"), "required: at least one template");
        if let Some(start) = bg.starting_step {
            issues.check(
                start >= 0 && (start as usize) < c.steps.len().max(1),
                &path.key("startingStep"),
                format!("startingStep {start} is outside the {} steps", c.steps.len()),
            );
        }
    }
}

fn anti_affinity(issues: &mut Issues, at: &FieldPath, a: &AntiAffinity) {
    let set = [
        a.preferred_during_scheduling_ignored_during_execution.is_some(),
        a.required_during_scheduling_ignored_during_execution.is_some(),
    ];
    issues.check(
        set.iter().filter(|s| **s).count() == 1,
        at,
        "set exactly one of preferredDuringSchedulingIgnoredDuringExecution and requiredDuringSchedulingIgnoredDuringExecution",
    );
    if let Some(p) = &a.preferred_during_scheduling_ignored_during_execution {
        issues.check(
            (1..=100).contains(&p.weight),
            &at.join("preferredDuringSchedulingIgnoredDuringExecution.weight"),
            format!("weight must be between 1 and 100, got {}", p.weight),
        );
    }
}

/// Checks `strategy.blueGreen` as Argo's `ValidateRolloutStrategyBlueGreen` does (distinct
/// Services, a scale-down revision limit within the history kept, one anti-affinity rule),
/// plus what serin checks of every strategy: counts and delays not negative, analyses that
/// name a template.
fn blue_green_strategy(
    issues: &mut Issues,
    at: &FieldPath,
    bg: &BlueGreenStrategy,
    spec: &crate::rollout::RolloutSpec,
) {
    if bg.active_service.is_empty() {
        issues.at(&at.key("activeService"), "required: the Service that serves the active revision");
    } else if bg.preview_service.as_deref() == Some(bg.active_service.as_str()) {
        issues.at(
            &at.key("activeService"),
            format!(
                "activeService and previewService must be different, both are {:?}: two different Services are required",
                bg.active_service
            ),
        );
    }
    for (value, field) in [
        (bg.preview_replica_count, "previewReplicaCount"),
        (bg.auto_promotion_seconds, "autoPromotionSeconds"),
        (bg.scale_down_delay_seconds, "scaleDownDelaySeconds"),
        (bg.scale_down_delay_revision_limit, "scaleDownDelayRevisionLimit"),
        (bg.abort_scale_down_delay_seconds, "abortScaleDownDelaySeconds"),
    ] {
        if let Some(v) = value {
            issues.check(v >= 0, &at.key(field), format!("must not be negative, got {v}"));
        }
    }
    if let Some(limit) = bg.scale_down_delay_revision_limit {
        let history = spec.revision_history_limit();
        issues.check(
            limit <= history,
            &at.key("scaleDownDelayRevisionLimit"),
            format!("must not be greater than revisionHistoryLimit ({history}), got {limit}"),
        );
    }
    percent_or_count(issues, &at.key("maxUnavailable"), bg.max_unavailable.as_ref());
    if let Some(a) = &bg.anti_affinity {
        anti_affinity(issues, &at.key("antiAffinity"), a);
    }
    let analyses: [(&Option<RolloutAnalysis>, &str); 2] =
        [(&bg.pre_promotion_analysis, "prePromotionAnalysis"), (&bg.post_promotion_analysis, "postPromotionAnalysis")];
    for (analysis, field) in analyses {
        if let Some(a) = analysis {
            issues.check(!a.templates.is_empty(), &at.key(field).key("templates"), "required: at least one template");
        }
    }
}

/// The router that needs both canaryService and stableService, by Argo's rules
/// (`requireCanaryStableServices`): every router but Istio at subset level (with a
/// DestinationRule), ALB and Istio with pingPong, and router plugins. serin's Gateway API
/// plugin routes between the two Services, so it needs them too (as that plugin does in Argo).
fn router_needing_services(c: &CanaryStrategy) -> Option<&'static str> {
    let t = c.traffic_routing.as_ref()?;
    let ping_pong = c.ping_pong.is_some();
    let istio_host_level =
        t.istio.as_ref().is_some_and(|i| i.get("destinationRule").is_none_or(serde_json::Value::is_null));
    [
        ("the traefik router", t.traefik.is_some()),
        ("the nginx router", t.nginx.is_some()),
        ("the smi router", t.smi.is_some()),
        ("the apisix router", t.apisix.is_some()),
        ("the ambassador router", t.ambassador.is_some()),
        ("the appMesh router", t.app_mesh.is_some()),
        ("the alb router", t.alb.is_some() && !ping_pong),
        ("the istio router at host level", istio_host_level && !ping_pong),
        ("the argoproj-labs/gatewayAPI plugin", t.plugins.contains_key("argoproj-labs/gatewayAPI")),
    ]
    .into_iter()
    .find_map(|(router, needs)| needs.then_some(router))
}

/// Checks a maxSurge/maxUnavailable value; returns its number (count or percent) when valid.
fn percent_or_count(issues: &mut Issues, path: &FieldPath, value: Option<&IntOrString>) -> Option<i64> {
    let value = value?;
    let number = match value {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(s) => s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()).filter(|p| *p <= 100),
    };
    match number {
        Some(n) if n >= 0 => Some(n),
        _ => {
            issues
                .at(path, format!("invalid value {value}: must be a non-negative integer or a percentage up to 100%"));
            None
        }
    }
}

fn canary_step(
    issues: &mut Issues,
    at: &FieldPath,
    step: &CanaryStep,
    routed: bool,
    max_weight: i32,
    managed_routes: &[&str],
) {
    // Argo: setWeight, pause, experiment and analysis exclude each other; setCanaryScale,
    // setHeaderRoute, setMirrorRoute and plugin combine with anything.
    let exclusive = step.exclusive_kind_names();
    if step.kinds().is_empty() {
        issues.at(at, "a step must set one of setWeight, pause, setCanaryScale, analysis, experiment, setHeaderRoute, setMirrorRoute, plugin; it sets none");
        return;
    }
    if exclusive.len() > 1 {
        issues.at(
            at,
            format!(
                "setWeight, pause, experiment and analysis cannot share a step; this one sets {}",
                exclusive.join(" and ")
            ),
        );
    }
    for kind in step.kinds() {
        match kind {
            StepKind::SetWeight(w) => issues.check(
                (0..=max_weight).contains(&w),
                &at.key("setWeight"),
                format!("setWeight must be between 0 and {max_weight}, got {w}"),
            ),
            StepKind::Pause(pause) => {
                if let Some(Err(e)) = pause.duration.as_ref().map(parse_pause_duration) {
                    issues.at(&at.join("pause.duration"), e);
                }
            }
            StepKind::SetCanaryScale(s) => {
                let path = at.key("setCanaryScale");
                issues.check(routed, &path, "setCanaryScale can only be used with trafficRouting");
                let set = [s.replicas.is_some(), s.weight.is_some(), s.match_traffic_weight];
                issues.check(
                    set.iter().filter(|x| **x).count() == 1,
                    &path,
                    "set exactly one of replicas, weight and matchTrafficWeight",
                );
                if let Some(w) = s.weight {
                    issues.check(
                        (0..=100).contains(&w),
                        &path.key("weight"),
                        format!("weight must be between 0 and 100, got {w}"),
                    );
                }
                if let Some(r) = s.replicas {
                    issues.check(r >= 0, &path.key("replicas"), format!("must not be negative, got {r}"));
                }
            }
            StepKind::Analysis(a) => {
                let path = at.key("analysis");
                issues.check(!a.templates.is_empty(), &path.key("templates"), "required: at least one template");
                for (i, t) in a.templates.iter().enumerate() {
                    issues.check(
                        !t.template_name.is_empty(),
                        &path.key("templates").index(i).key("templateName"),
                        "required",
                    );
                }
            }
            StepKind::Experiment(_) => issues.at(&at.key("experiment"), "experiment steps are not supported yet"),
            StepKind::Plugin(_) => issues.at(&at.key("plugin"), "plugin steps are not supported yet"),
            StepKind::SetHeaderRoute(route) => {
                let path = at.key("setHeaderRoute");
                managed_route(issues, &path, &route.name, routed, managed_routes);
                for (i, m) in route.r#match.iter().enumerate() {
                    string_match(issues, &path.key("match").index(i).key("headerValue"), &m.header_value);
                    issues.check(!m.header_name.is_empty(), &path.key("match").index(i).key("headerName"), "required");
                }
            }
            StepKind::SetMirrorRoute(route) => {
                let path = at.key("setMirrorRoute");
                managed_route(issues, &path, &route.name, routed, managed_routes);
                if let Some(p) = route.percentage {
                    issues.check(
                        (0..=100).contains(&p),
                        &path.key("percentage"),
                        format!("percentage must be between 0 and 100, got {p}"),
                    );
                }
                for (i, m) in route.r#match.iter().enumerate() {
                    let mp = path.key("match").index(i);
                    for (field, value) in [("method", &m.method), ("path", &m.path)] {
                        if let Some(v) = value {
                            string_match(issues, &mp.key(field), v);
                        }
                    }
                    for (name, v) in &m.headers {
                        string_match(issues, &mp.key("headers").key(name), v);
                    }
                }
            }
        }
    }
}

fn managed_route(issues: &mut Issues, path: &FieldPath, name: &str, routed: bool, managed_routes: &[&str]) {
    issues.check(routed, path, "header and mirror routes need trafficRouting");
    issues.check(
        managed_routes.contains(&name),
        &path.key("name"),
        format!("route {name:?} must be listed in trafficRouting.managedRoutes"),
    );
}

fn string_match(issues: &mut Issues, path: &FieldPath, m: &StringMatch) {
    let set = [m.exact.is_some(), m.prefix.is_some(), m.regex.is_some()];
    issues.check(set.iter().filter(|s| **s).count() == 1, path, "set exactly one of exact, prefix and regex");
}

fn analysis_spec(issues: &mut Issues, at: &FieldPath, spec: &AnalysisTemplateSpec) {
    issues.check(!spec.metrics.is_empty(), &at.key("metrics"), "required: at least one metric");
    let mut names = Vec::new();
    for (i, metric) in spec.metrics.iter().enumerate() {
        let path = at.key("metrics").index(i);
        issues.check(
            !names.contains(&metric.name.as_str()),
            &path.key("name"),
            format!("duplicate metric name {:?}", metric.name),
        );
        names.push(&metric.name);
        let declared: Vec<&str> = spec.args.iter().map(|a| a.name.as_str()).collect();
        analysis_metric(issues, &path, metric, &declared);
    }
}

/// Checks a metric as Argo's `ValidateMetric` does. Fields may hold `{{args.NAME}}`
/// placeholders for arguments the spec declares; a value that needs one is checked when a run
/// is made and its arguments are filled in.
fn analysis_metric(issues: &mut Issues, at: &FieldPath, m: &Metric, declared_args: &[&str]) {
    issues.check(!m.name.is_empty(), &at.key("name"), "required");
    placeholders(issues, at, &serde_json::to_value(m).unwrap_or_default(), declared_args);
    for problem in m.settings(true).1 {
        issues.at(&at.key(problem.field), problem.message);
    }
    for (value, field) in [(&m.success_condition, "successCondition"), (&m.failure_condition, "failureCondition")] {
        // A placeholder's value is not known yet: any value keeps the syntax, so 0 stands in.
        if let Some(Err(error)) = value.as_deref().map(|c| serin_expr::check_syntax(&fill_placeholders(c, "0"))) {
            issues.at(&at.key(field), error.to_string());
        }
    }
    if let Some(job) = &m.provider.job {
        let template = job.pointer("/spec/template").cloned().unwrap_or_default();
        pod_template(issues, &at.join("provider.job.spec.template"), &template, PodOwner::Job);
    }
    let p = &m.provider;
    let measured = [
        ("prometheus", p.prometheus.is_some()),
        ("web", p.web.is_some()),
        ("job", p.job.is_some()),
        ("serin", p.serin.is_some()),
    ];
    let not_yet = [
        ("datadog", p.datadog.is_some()),
        ("newRelic", p.new_relic.is_some()),
        ("cloudWatch", p.cloud_watch.is_some()),
        ("wavefront", p.wavefront.is_some()),
        ("kayenta", p.kayenta.is_some()),
        ("graphite", p.graphite.is_some()),
        ("influxdb", p.influxdb.is_some()),
        ("skywalking", p.skywalking.is_some()),
        ("plugin", !p.plugin.is_empty()),
    ];
    // Refused now rather than failing the run later, when the release is already under way.
    for (name, _) in not_yet.iter().filter(|(_, present)| *present) {
        issues.at(
            &at.key("provider").key(*name),
            format!(
                "the {name} metric provider is not supported yet: serin measures with prometheus, web, job or serin"
            ),
        );
    }
    let providers: Vec<bool> = measured.into_iter().chain(not_yet).map(|(_, present)| present).collect();
    issues.check(providers.iter().filter(|x| **x).count() == 1, &at.key("provider"), "set exactly one metric provider");
}

/// Every `{{...}}` in a metric must name an argument its spec declares (`{{args.NAME}}`), as
/// Argo fills them in when a run is made and fails on any it cannot.
fn placeholders(issues: &mut Issues, at: &FieldPath, value: &serde_json::Value, declared_args: &[&str]) {
    match value {
        serde_json::Value::String(text) => {
            let mut rest = text.as_str();
            while let Some(start) = rest.find("{{") {
                let Some(end) = rest[start..].find("}}") else {
                    issues.at(at, format!("{:?} opens a placeholder with {{{{ and never closes it", text));
                    return;
                };
                let tag = rest[start + 2..start + end].trim();
                match tag.strip_prefix("args.") {
                    Some(name) if declared_args.contains(&name) => {}
                    Some(name) => issues.at(at, format!("argument {name:?} is not declared in the spec's args")),
                    None => issues.at(at, format!("cannot resolve {{{{{tag}}}}}: only {{{{args.NAME}}}} is filled in")),
                }
                rest = &rest[start + end + 2..];
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                placeholders(issues, &at.index(i), item, declared_args);
            }
        }
        serde_json::Value::Object(fields) => {
            for (key, item) in fields {
                placeholders(issues, &at.key(key.as_str()), item, declared_args);
            }
        }
        _ => {}
    }
}

/// `text` with every `{{...}}` replaced by `with`.
fn fill_placeholders(text: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else { break };
        out.push_str(&rest[..start]);
        out.push_str(with);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// The value at `path` in a JSON tree.
fn json_at<'a>(value: &'a serde_json::Value, path: &FieldPath) -> Option<&'a serde_json::Value> {
    path.segments().iter().try_fold(value, |node, segment| match segment {
        crate::path::Segment::Key(key) => node.get(key.as_str()),
        crate::path::Segment::Index(i) => node.get(*i),
    })
}

fn service(issues: &mut Issues, s: &Service) {
    let spec = &s.spec;
    let external = spec.kind.as_deref() == Some("ExternalName");
    issues.check(
        external || !spec.ports.is_empty(),
        &FieldPath::parse("spec.ports"),
        "required: a Service needs at least one port",
    );
    for (i, port) in spec.ports.iter().enumerate() {
        issues.check(
            (1..=65535).contains(&port.port),
            &FieldPath::parse("spec.ports").index(i).key("port"),
            format!("port must be between 1 and 65535, got {}", port.port),
        );
    }
    if let Some(kind) = &spec.kind {
        issues.check(
            ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&kind.as_str()),
            &FieldPath::parse("spec.type"),
            format!(
                "unsupported Service type {kind:?}, expected one of ClusterIP, NodePort, LoadBalancer, ExternalName"
            ),
        );
    }
}

fn traefik_service(issues: &mut Issues, t: &TraefikService) {
    let spec = FieldPath::parse("spec");
    match (&t.spec.weighted, &t.spec.mirroring) {
        (Some(w), None) => {
            issues.check(!w.services.is_empty(), &spec.join("weighted.services"), "required: at least one service");
            for (i, s) in w.services.iter().enumerate() {
                service_ref(issues, &spec.join("weighted.services").index(i), s);
            }
        }
        (None, Some(m)) => {
            issues.check(!m.name.is_empty(), &spec.join("mirroring.name"), "required: the main service");
            for (i, s) in m.mirrors.iter().enumerate() {
                let path = spec.join("mirroring.mirrors").index(i);
                service_ref(issues, &path, s);
                if let Some(p) = s.percent {
                    issues.check(
                        (0..=100).contains(&p),
                        &path.key("percent"),
                        format!("percent must be between 0 and 100, got {p}"),
                    );
                }
            }
        }
        _ => issues.at(&spec, "set exactly one of weighted and mirroring"),
    }
}

fn service_ref(issues: &mut Issues, at: &FieldPath, s: &WeightedService) {
    issues.check(!s.name.is_empty(), &at.key("name"), "required");
    if let Some(kind) = &s.kind {
        issues.check(
            kind == "Service" || kind == "TraefikService",
            &at.key("kind"),
            format!("kind must be Service or TraefikService, got {kind:?}"),
        );
    }
    if let Some(w) = s.weight {
        issues.check(w >= 0, &at.key("weight"), format!("weight must not be negative, got {w}"));
    }
    if !s.is_traefik_service() {
        issues.check(s.port.is_some(), &at.key("port"), "required: the Service port to send traffic to");
    }
    if let Some(scheme) = &s.scheme {
        issues.check(
            matches!(scheme.as_str(), "http" | "h2c"),
            &at.key("scheme"),
            format!("serin speaks http and h2c (HTTP/2 in clear) to pods, not {scheme:?}"),
        );
    }
}

fn ingress_route(issues: &mut Issues, r: &IngressRoute) {
    let routes = FieldPath::parse("spec.routes");
    issues.check(!r.spec.routes.is_empty(), &routes, "required: at least one route");
    for (i, route) in r.spec.routes.iter().enumerate() {
        let at = routes.index(i);
        let syntax = Syntax::of_route(crate::object::group_of(&r.api_version), route.syntax.as_deref());
        match syntax {
            Err(e) => issues.at(&at.key("syntax"), e),
            Ok(_) if route.r#match.trim().is_empty() => {
                issues.at(&at.key("match"), "required: a rule such as Host(`example.com`)");
            }
            Ok(syntax) => {
                if let Err(e) = parse_with(&route.r#match, syntax) {
                    issues.at(&at.key("match"), format!("Traefik {} rule: {e}", syntax.name()));
                }
            }
        }
        if let Some(kind) = &route.kind {
            issues.check(kind == "Rule", &at.key("kind"), format!("kind must be Rule, got {kind:?}"));
        }
        issues.check(!route.services.is_empty(), &at.key("services"), "required: at least one service");
        for (j, s) in route.services.iter().enumerate() {
            service_ref(issues, &at.key("services").index(j), s);
        }
    }
    if let Some(tls) = &r.spec.tls {
        let at = FieldPath::parse("spec.tls");
        issues.check(
            tls.cert_resolver.is_none(),
            &at.key("certResolver"),
            "serin has no ACME resolver: give the certificate as a kubernetes.io/tls Secret in secretName",
        );
        if let Some(store) = &tls.store {
            issues.check(
                store.name == "default",
                &at.join("store.name"),
                format!("only the TLSStore named default is used (as in Traefik), got {:?}", store.name),
            );
        }
        if let Some(options) = &tls.options {
            issues.check(!options.name.is_empty(), &at.join("options.name"), "required: the TLSOption's name");
        }
    }
}

/// A TLSOption in Traefik's words (which Traefik checks when it builds the options) that
/// leaves serin something to offer: TLS 1.2 or 1.3, a cipher suite and a curve it implements.
fn tls_option(issues: &mut Issues, option: &TlsOption) {
    let spec = FieldPath::parse("spec");
    let s = &option.spec;
    let version = |issues: &mut Issues, field: &str, name: &Option<String>| {
        let name = name.as_deref()?;
        let parsed = TlsVersion::parse(name);
        issues.check(
            parsed.is_some(),
            &spec.key(field),
            format!("unknown TLS version {name:?}: expected VersionTLS10, VersionTLS11, VersionTLS12 or VersionTLS13"),
        );
        parsed
    };
    let min = version(issues, "minVersion", &s.min_version);
    let max = version(issues, "maxVersion", &s.max_version);
    if let Some(max) = max {
        issues.check(
            max.supported(),
            &spec.key("maxVersion"),
            "serin speaks TLS 1.2 and 1.3 only: a maximum below VersionTLS12 leaves nothing to speak",
        );
    }
    if let (Some(min), Some(max)) = (min, max) {
        issues.check(min <= max, &spec.key("minVersion"), "the minimum version is above the maximum");
    }
    // What a list offers, once every word in it is known (an unknown one is reported).
    let offered = |issues: &mut Issues, field: &str, what: &str, table, list: &Option<Vec<String>>| {
        let mut offered = Vec::new();
        let mut known = true;
        for (i, word) in list.iter().flatten().enumerate() {
            match lookup(table, word) {
                Word::Offered(name) => offered.push(name),
                Word::NotOffered => {}
                Word::Unknown => {
                    known = false;
                    issues.at(
                        &spec.key(field).index(i),
                        format!("unknown {what} {word:?} (Go's names, as Traefik reads them)"),
                    );
                }
            }
        }
        (known && list.is_some()).then_some(offered)
    };
    if let Some(suites) = offered(issues, "cipherSuites", "cipher suite", CIPHER_SUITES, &s.cipher_suites) {
        // TLS 1.3's suites are always on; the list chooses among TLS 1.2's.
        let tls12_only = max.is_some_and(|max| max < TlsVersion::Tls13);
        issues.check(
            !tls12_only || suites.iter().any(|name| !name.starts_with("TLS13_")),
            &spec.key("cipherSuites"),
            "none of these TLS 1.2 suites is one serin offers (ECDHE with AES-GCM or ChaCha20-Poly1305), and TLS 1.3 is off",
        );
    }
    if let Some(curves) = offered(issues, "curvePreferences", "curve", CURVES, &s.curve_preferences) {
        issues.check(
            !curves.is_empty(),
            &spec.key("curvePreferences"),
            "none of these curves is one serin offers (X25519, secp256r1 or secp384r1)",
        );
    }
    if let Some(auth) = &s.client_auth {
        let at = spec.key("clientAuth");
        let written = auth.client_auth_type.as_deref().map(|name| (name, ClientAuthType::parse(name)));
        if let Some((name, None)) = written {
            issues.at(&at.key("clientAuthType"), format!("unknown client auth type {name:?}: expected NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"));
        }
        let kind = ClientAuthType::effective(written.and_then(|(_, kind)| kind), !auth.secret_names.is_empty());
        issues.check(
            !kind.verifies() || !auth.secret_names.is_empty(),
            &at.key("secretNames"),
            "required: the Secrets holding the CAs to verify client certificates against",
        );
    }
}

/// Traefik's default store only takes certificates from Secrets; an ACME-generated default
/// needs a resolver serin does not have.
fn tls_store(issues: &mut Issues, store: &TlsStore) {
    issues.check(
        store.spec.default_generated_cert.is_none(),
        &FieldPath::parse("spec.defaultGeneratedCert"),
        "serin has no ACME resolver: give the default certificate as a kubernetes.io/tls Secret in defaultCertificate",
    );
}

/// Values Kubernetes can decode, and for a TLS Secret the certificate chain and key the router
/// will serve, in PEM.
fn secret(issues: &mut Issues, secret: &Secret) {
    let data = FieldPath::parse("data");
    for (key, value) in &secret.data {
        if let Err(e) = decode(value) {
            issues.at(&data.key(key.as_str()), e);
        }
    }
    if secret.kind_of_secret.as_deref() != Some(TLS_TYPE) {
        return;
    }
    for (key, check) in [
        ("tls.crt", (|pem: &[u8]| check_certificates(pem).map(drop)) as fn(&[u8]) -> Result<(), String>),
        ("tls.key", check_private_key),
    ] {
        let at = if secret.string_data.contains_key(key) { FieldPath::parse("stringData") } else { data.clone() };
        match secret.value(key) {
            Ok(None) => issues.at(&at.key(key), format!("required: a {TLS_TYPE} Secret holds {key}")),
            Ok(Some(pem)) => {
                if let Err(e) = check(&pem) {
                    issues.at(&at.key(key), e);
                }
            }
            // Reported above with the other values.
            Err(_) => {}
        }
    }
}

/// A ServersTransport serin can honour: positive forwarding timeouts, and no TLS to pods
/// (serin speaks plain HTTP to them).
fn servers_transport(issues: &mut Issues, t: &ServersTransport) {
    let spec = FieldPath::parse("spec");
    if let Some(timeouts) = &t.spec.forwarding_timeouts {
        let at = spec.key("forwardingTimeouts");
        for (field, value) in [
            ("dialTimeout", &timeouts.dial_timeout),
            ("responseHeaderTimeout", &timeouts.response_header_timeout),
            ("idleConnTimeout", &timeouts.idle_conn_timeout),
            ("readIdleTimeout", &timeouts.read_idle_timeout),
            ("pingTimeout", &timeouts.ping_timeout),
        ] {
            let Some(value) = value else { continue };
            match traefik_duration_millis(value) {
                Err(e) => issues.at(&at.key(field), e),
                // Traefik takes 0 as "no timeout"; serin bounds every wait on a pod.
                Ok(ms) => issues.check(
                    ms > 0,
                    &at.key(field),
                    format!("must be a positive duration such as 30s (serin bounds every wait on a pod), got {value}"),
                ),
            }
        }
    }
    if let Some(n) = t.spec.max_idle_conns_per_host {
        issues.check(n >= 0, &spec.key("maxIdleConnsPerHost"), format!("must not be negative, got {n}"));
    }
    let s = &t.spec;
    for (field, set) in [
        ("serverName", s.server_name.is_some()),
        ("insecureSkipVerify", s.insecure_skip_verify.is_some()),
        ("rootCAsSecrets", !s.root_cas_secrets.is_empty()),
        ("rootCAs", !s.root_cas.is_empty()),
        ("certificatesSecrets", !s.certificates_secrets.is_empty()),
        ("peerCertURI", s.peer_cert_uri.is_some()),
        ("spiffe", s.spiffe.is_some()),
    ] {
        issues.check(
            !set,
            &spec.key(field),
            "serin speaks plain HTTP to pods: TLS settings of a ServersTransport are not supported",
        );
    }
}

fn application(issues: &mut Issues, app: &Application) {
    let spec = FieldPath::parse("spec");
    match (&app.spec.source, app.spec.sources.is_empty()) {
        (None, true) => issues.at(&spec.key("source"), "required: the git repository to sync from"),
        (Some(source), _) => {
            issues.check(!source.repo_url.is_empty(), &spec.join("source.repoURL"), "required");
            let generators = [
                ("chart", source.chart.is_some()),
                ("helm", source.helm.is_some()),
                ("kustomize", source.kustomize.is_some()),
                ("plugin", source.plugin.is_some()),
            ];
            for (field, set) in generators {
                issues.check(
                    !set,
                    &spec.join("source").key(field),
                    "serin syncs plain directories of YAML and JSON manifests; this kind of source is not supported",
                );
            }
        }
        (None, false) => issues.at(&spec.key("sources"), "multiple sources are not supported yet: use spec.source"),
    }
    let dest = &app.spec.destination;
    let local = ["", "https://kubernetes.default.svc", "in-cluster"];
    if let Some(server) = dest.server.as_deref() {
        issues.check(
            local.contains(&server),
            &spec.join("destination.server"),
            format!("destination {server:?} is not this serin: use https://kubernetes.default.svc or leave it empty"),
        );
    }
    if let Some(name) = dest.name.as_deref() {
        issues.check(
            local.contains(&name),
            &spec.join("destination.name"),
            format!("destination {name:?} is not this serin: use in-cluster or leave it empty"),
        );
    }
}

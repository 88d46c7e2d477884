//! Steering traffic in a cluster: the stable and canary Services' selectors, and the canary
//! weight in whichever traffic routers the Rollout names: Traefik's weighted TraefikService
//! (in every API group the cluster serves, kept in step), ingress-nginx's canary Ingress, and
//! Gateway API HTTPRoute backend weights. A router object that is missing is reported, not
//! fatal: the controller turns it into an event and a condition and reconciles the rest.

use crate::resources::{self, from_json, to_json};
use kube::Client;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value as Json, json};
use serin_engine::objects;
use serin_engine::state::{Event, ServedWeights, TrafficIntent};
use serin_model::rollout::{NginxTrafficRouting, RolloutStrategy};
use serin_model::traefik::GROUPS;

/// The plugin name Argo Rollouts' Gateway API traffic router registers under.
pub const GATEWAY_API_PLUGIN: &str = "argoproj-labs/gatewayAPI";
const NGINX_ANNOTATION_PREFIX: &str = "nginx.ingress.kubernetes.io";

/// The objects that route one Rollout's traffic, read from the cluster.
pub struct Routes {
    client: Client,
    namespace: String,
    rollout: String,
    canary_service: String,
    stable_service: String,
    services: Vec<(String, Option<Json>)>,
    traefik: Option<(String, Vec<(String, Json)>)>,
    nginx: Option<Nginx>,
    http_routes: Vec<(String, Option<Json>)>,
}

struct Nginx {
    config: NginxTrafficRouting,
    stable: Option<Json>,
    canary_name: String,
    canary: Option<Json>,
}

impl Routes {
    /// Reads the Services and router objects `strategy` names in `namespace` (a blue-green
    /// Rollout names its active and preview Services and no router).
    pub async fn load(
        client: &Client,
        namespace: &str,
        rollout: &str,
        strategy: &RolloutStrategy,
    ) -> kube::Result<Routes> {
        let get = |resource: kube::discovery::ApiResource, name: String| {
            let api = resources::namespaced(client, namespace, &resource);
            async move {
                match api.get(&name).await {
                    Ok(object) => Ok(Some(to_json(&object))),
                    Err(e) if resources::is_not_found(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        };
        let mut services = Vec::new();
        let (stable_service, canary_service) = strategy.services();
        for name in [stable_service, canary_service].into_iter().flatten() {
            services.push((name.to_string(), get(resources::services(), name.to_string()).await?));
        }
        let routing = strategy.traffic_routing();
        let mut traefik = None;
        if let Some(config) = routing.and_then(|r| r.traefik.as_ref()) {
            let name = &config.weighted_traefik_service_name;
            let mut found = Vec::new();
            for group in GROUPS {
                if let Some(object) = get(resources::traefik_services(group), name.clone()).await? {
                    found.push((group.to_string(), object));
                }
            }
            traefik = Some((name.clone(), found));
        }
        let mut nginx = None;
        if let Some(config) = routing.and_then(|r| r.nginx.as_ref()) {
            let stable_name = config.stable_ingress.clone().unwrap_or_default();
            let canary_name = format!("{rollout}-{stable_name}-canary");
            nginx = Some(Nginx {
                config: config.clone(),
                stable: get(resources::ingresses(), stable_name).await?,
                canary: get(resources::ingresses(), canary_name.clone()).await?,
                canary_name,
            });
        }
        let mut http_routes = Vec::new();
        for name in routing.and_then(|r| r.plugins.get(GATEWAY_API_PLUGIN)).map(http_route_names).unwrap_or_default() {
            let object = get(resources::http_routes(), name.clone()).await?;
            http_routes.push((name, object));
        }
        Ok(Routes {
            client: client.clone(),
            namespace: namespace.to_string(),
            rollout: rollout.to_string(),
            canary_service: canary_service.unwrap_or_default().to_string(),
            stable_service: stable_service.unwrap_or_default().to_string(),
            services,
            traefik,
            nginx,
            http_routes,
        })
    }

    /// The weights the routers carry now, when every router object exists and they agree.
    pub fn served(&self) -> Option<ServedWeights> {
        let (canary, stable) = (self.canary_service.as_str(), self.stable_service.as_str());
        let mut seen: Vec<Option<(i32, i32)>> = Vec::new();
        if let Some((_, found)) = &self.traefik {
            if found.is_empty() {
                seen.push(None);
            }
            seen.extend(found.iter().map(|(_, o)| objects::traefik_weights(o, canary, stable)));
        }
        if let Some(nginx) = &self.nginx {
            let prefix = nginx.config.annotation_prefix.as_deref().unwrap_or(NGINX_ANNOTATION_PREFIX);
            seen.push(match (&nginx.stable, &nginx.canary) {
                (None, _) => None,
                (Some(_), None) => Some((0, 100)),
                (Some(_), Some(ingress)) => {
                    let annotation = |key: &str| {
                        ingress["metadata"]["annotations"][format!("{prefix}/{key}")]
                            .as_str()
                            .and_then(|v| v.parse().ok())
                    };
                    annotation("canary-weight").map(|w: i32| (w, annotation("canary-weight-total").unwrap_or(100) - w))
                }
            });
        }
        for (_, route) in &self.http_routes {
            seen.push(route.as_ref().and_then(|r| http_route_weights(r, canary, stable)));
        }
        let (first, rest) = seen.split_first()?;
        let weights = (*first)?;
        rest.iter().all(|w| *w == Some(weights)).then_some(ServedWeights { canary: weights.0, stable: weights.1 })
    }

    /// Services the Rollout names that the cluster does not have.
    pub fn missing_services(&self) -> Vec<String> {
        self.services.iter().filter(|(_, found)| found.is_none()).map(|(name, _)| name.clone()).collect()
    }

    /// Router objects the Rollout names that the cluster does not have.
    pub fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if let Some((name, found)) = &self.traefik
            && found.is_empty()
        {
            let groups: Vec<String> = GROUPS.iter().map(|g| format!("{g}/v1alpha1")).collect();
            missing.push(format!("TraefikService '{name}' not found in {}", groups.join(" or ")));
        }
        if let Some(nginx) = &self.nginx
            && nginx.stable.is_none()
        {
            missing.push(format!("Ingress '{}' not found", nginx.config.stable_ingress.as_deref().unwrap_or_default()));
        }
        for (name, route) in &self.http_routes {
            if route.is_none() {
                missing.push(format!("HTTPRoute '{name}' not found"));
            }
        }
        missing
    }

    /// Points the Services at their revisions and sets the canary weight in every router,
    /// writing only objects that change; returns how many it wrote. Each Service switched
    /// adds Argo's `SwitchService` event to `events`.
    pub async fn apply(
        &self,
        rollout_meta: &Json,
        intent: &TrafficIntent,
        events: &mut Vec<Event>,
    ) -> kube::Result<usize> {
        let mut written = 0;
        for (service, hash) in
            [(&self.stable_service, &intent.stable_hash), (&self.canary_service, &intent.canary_hash)]
        {
            let found = self.services.iter().find(|(name, _)| name == service).and_then(|(_, o)| o.as_ref());
            let (Some(found), Some(hash)) = (found, hash) else { continue };
            let mut edited = found.clone();
            let switched = objects::select_revision(&mut edited, hash, &self.rollout);
            written += self.replace_if_changed(&resources::services(), found, edited).await?;
            events.extend(switched);
        }
        let Some(weight) = intent.canary_weight else { return Ok(written) };
        let (canary, stable, max) = (self.canary_service.as_str(), self.stable_service.as_str(), intent.max_weight);
        for (group, found) in self.traefik.iter().flat_map(|(_, found)| found) {
            let mut edited = found.clone();
            objects::set_traefik_weights(&mut edited, canary, stable, weight, max);
            written += self.replace_if_changed(&resources::traefik_services(group), found, edited).await?;
        }
        if let Some(nginx) = &self.nginx
            && let Some(stable_ingress) = &nginx.stable
        {
            let wanted = self.canary_ingress(nginx, stable_ingress, rollout_meta, weight, max);
            written += match &nginx.canary {
                Some(found) => {
                    let mut edited = found.clone();
                    for key in ["metadata/annotations", "spec"] {
                        let pointer = format!("/{key}");
                        if let (Some(slot), Some(value)) = (edited.pointer_mut(&pointer), wanted.pointer(&pointer)) {
                            *slot = value.clone();
                        }
                    }
                    self.replace_if_changed(&resources::ingresses(), found, edited).await?
                }
                None => {
                    let api = resources::namespaced(&self.client, &self.namespace, &resources::ingresses());
                    api.create(&PostParams::default(), &from_json(wanted).map_err(kube::Error::SerdeError)?).await?;
                    1
                }
            };
        }
        for (_, route) in &self.http_routes {
            let Some(found) = route else { continue };
            let mut edited = found.clone();
            set_http_route_weights(&mut edited, canary, stable, weight, max);
            written += self.replace_if_changed(&resources::http_routes(), found, edited).await?;
        }
        Ok(written)
    }

    async fn replace_if_changed(
        &self,
        resource: &kube::discovery::ApiResource,
        found: &Json,
        edited: Json,
    ) -> kube::Result<usize> {
        if edited == *found {
            return Ok(0);
        }
        let api = resources::namespaced(&self.client, &self.namespace, resource);
        let name = found["metadata"]["name"].as_str().unwrap_or_default();
        // The edit carries the resourceVersion it was made from: a concurrent change is a
        // conflict, retried on the next pass, never overwritten.
        api.replace(name, &PostParams::default(), &from_json(edited).map_err(kube::Error::SerdeError)?).await?;
        Ok(1)
    }

    /// The canary Ingress ingress-nginx reads: the stable Ingress's rules pointed at the
    /// canary Service, with the canary annotations, owned by the Rollout.
    fn canary_ingress(&self, nginx: &Nginx, stable: &Json, rollout_meta: &Json, weight: i32, max: i32) -> Json {
        let prefix = nginx.config.annotation_prefix.as_deref().unwrap_or(NGINX_ANNOTATION_PREFIX);
        let mut annotations = serde_json::Map::new();
        annotations.insert(format!("{prefix}/canary"), "true".into());
        annotations.insert(format!("{prefix}/canary-weight"), weight.to_string().into());
        if max != 100 {
            annotations.insert(format!("{prefix}/canary-weight-total"), max.to_string().into());
        }
        for (key, value) in &nginx.config.additional_ingress_annotations {
            annotations.insert(format!("{prefix}/{key}"), value.clone().into());
        }
        if let Some(class) = stable["metadata"]["annotations"]["kubernetes.io/ingress.class"].as_str() {
            annotations.insert("kubernetes.io/ingress.class".to_string(), class.into());
        }
        let mut spec = stable["spec"].clone();
        if let Some(map) = spec.as_object_mut() {
            map.remove("defaultBackend");
        }
        for rule in spec["rules"].as_array_mut().into_iter().flatten() {
            if let Some(paths) = rule.pointer_mut("/http/paths").and_then(Json::as_array_mut) {
                paths.retain(|p| p.pointer("/backend/service/name") == Some(&json!(self.stable_service)));
                for path in paths {
                    path["backend"]["service"]["name"] = self.canary_service.clone().into();
                }
            }
        }
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": nginx.canary_name,
                "namespace": self.namespace,
                "annotations": annotations,
                "ownerReferences": objects::controller_reference("argoproj.io/v1alpha1", "Rollout", rollout_meta),
            },
            "spec": spec,
        })
    }
}

/// The HTTPRoutes a Gateway API plugin configuration names (`httpRoute`, or `httpRoutes[].name`).
fn http_route_names(config: &Json) -> Vec<String> {
    let single = config["httpRoute"].as_str().map(str::to_string);
    let listed =
        config["httpRoutes"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str().map(str::to_string));
    single.into_iter().chain(listed).collect()
}

/// The (canary, stable) weights of the first rule that routes to both Services.
fn http_route_weights(route: &Json, canary: &str, stable: &str) -> Option<(i32, i32)> {
    route.pointer("/spec/rules")?.as_array()?.iter().find_map(|rule| {
        let refs = rule["backendRefs"].as_array()?;
        let weight_of =
            |name: &str| refs.iter().find(|r| r["name"] == name).map(|r| r["weight"].as_i64().unwrap_or(1) as i32);
        Some((weight_of(canary)?, weight_of(stable)?))
    })
}

fn set_http_route_weights(route: &mut Json, canary: &str, stable: &str, weight: i32, max: i32) {
    let rules = route.pointer_mut("/spec/rules").and_then(Json::as_array_mut);
    for backend in rules.into_iter().flatten().filter_map(|r| r["backendRefs"].as_array_mut()).flatten() {
        if backend["name"] == canary {
            backend["weight"] = weight.into();
        } else if backend["name"] == stable {
            backend["weight"] = (max - weight).into();
        }
    }
}

/// Merge-patches an object; a missing object is not an error (it was deleted meanwhile).
pub async fn merge_patch(api: &kube::Api<kube::core::DynamicObject>, name: &str, patch: Json) -> kube::Result<()> {
    match api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        Err(e) if resources::is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_route_weights_follow_the_canary_weight_in_every_rule() {
        let mut route = json!({"spec": {"rules": [
            {"backendRefs": [{"name": "stable", "port": 80, "weight": 100}, {"name": "canary", "port": 80, "weight": 0}]},
            {"backendRefs": [{"name": "other", "port": 80}]},
        ]}});
        assert_eq!(http_route_weights(&route, "canary", "stable"), Some((0, 100)));
        set_http_route_weights(&mut route, "canary", "stable", 10, 100);
        assert_eq!(http_route_weights(&route, "canary", "stable"), Some((10, 90)));
        assert_eq!(route["spec"]["rules"][1]["backendRefs"][0].get("weight"), None);
    }

    #[test]
    fn the_gateway_plugin_names_one_route_or_several() {
        assert_eq!(http_route_names(&json!({"httpRoute": "web", "namespace": "default"})), ["web"]);
        assert_eq!(http_route_names(&json!({"httpRoutes": [{"name": "a"}, {"name": "b"}]})), ["a", "b"]);
    }
}

//! The Kubernetes resources serin reads and writes, named once: group, version, kind and
//! plural for the dynamic client, which serves custom resources (Rollouts, TraefikServices)
//! and built-in ones alike, as the JSON the shared object builders produce.

use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::{Api, Client};

pub fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub fn rollouts() -> ApiResource {
    resource("argoproj.io", "v1alpha1", "Rollout", "rollouts")
}

pub fn analysis_runs() -> ApiResource {
    resource("argoproj.io", "v1alpha1", "AnalysisRun", "analysisruns")
}

pub fn analysis_templates() -> ApiResource {
    resource("argoproj.io", "v1alpha1", "AnalysisTemplate", "analysistemplates")
}

pub fn cluster_analysis_templates() -> ApiResource {
    resource("argoproj.io", "v1alpha1", "ClusterAnalysisTemplate", "clusteranalysistemplates")
}

pub fn applications() -> ApiResource {
    resource("argoproj.io", "v1alpha1", "Application", "applications")
}

pub fn namespaces() -> ApiResource {
    resource("", "v1", "Namespace", "namespaces")
}

pub fn replica_sets() -> ApiResource {
    resource("apps", "v1", "ReplicaSet", "replicasets")
}

pub fn pods() -> ApiResource {
    resource("", "v1", "Pod", "pods")
}

pub fn jobs() -> ApiResource {
    resource("batch", "v1", "Job", "jobs")
}

pub fn services() -> ApiResource {
    resource("", "v1", "Service", "services")
}

pub fn traefik_services(group: &str) -> ApiResource {
    resource(group, "v1alpha1", "TraefikService", "traefikservices")
}

pub fn ingresses() -> ApiResource {
    resource("networking.k8s.io", "v1", "Ingress", "ingresses")
}

pub fn http_routes() -> ApiResource {
    resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")
}

/// The API for `resource` in `namespace`.
pub fn namespaced(client: &Client, namespace: &str, resource: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, resource)
}

/// The API for `resource` in `namespace`, or in every namespace.
pub fn scoped(client: &Client, namespace: Option<&str>, resource: &ApiResource) -> Api<DynamicObject> {
    match namespace {
        Some(namespace) => namespaced(client, namespace, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

/// Whether an API error means "not there": the object does not exist, or the cluster does not
/// serve its resource at all (no CRD), which the API server answers with a bare 404 page
/// rather than a Status, so kube's reason-based `is_not_found` misses it.
pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// A dynamic object as plain JSON (apiVersion, kind, metadata and the rest).
pub fn to_json(object: &DynamicObject) -> serde_json::Value {
    serde_json::to_value(object).unwrap_or_default()
}

/// Plain JSON as a dynamic object, for create and replace.
pub fn from_json(value: serde_json::Value) -> Result<DynamicObject, serde_json::Error> {
    serde_json::from_value(value)
}

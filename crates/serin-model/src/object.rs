//! Every kind serin reads, and how an object is named: by API group, kind, namespace and name,
//! so that a `TraefikService` in each of Traefik's two groups can share a name.

use crate::analysis::{AnalysisRun, AnalysisTemplate};
use crate::application::Application;
use crate::meta::ObjectMeta;
use crate::rollout::Rollout;
use crate::secret::Secret;
use crate::service::Service;
use crate::traefik::{IngressRoute, ServersTransport, TlsOption, TlsStore, TraefikService};
use crate::workload::{Pod, ReplicaSet};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Rollout(Box<Rollout>),
    AnalysisTemplate(Box<AnalysisTemplate>),
    ClusterAnalysisTemplate(Box<AnalysisTemplate>),
    AnalysisRun(Box<AnalysisRun>),
    Application(Box<Application>),
    Service(Box<Service>),
    TraefikService(Box<TraefikService>),
    IngressRoute(Box<IngressRoute>),
    ServersTransport(Box<ServersTransport>),
    TlsOption(Box<TlsOption>),
    TlsStore(Box<TlsStore>),
    Secret(Box<Secret>),
    ReplicaSet(Box<ReplicaSet>),
    Pod(Box<Pod>),
}

/// The kinds serin understands: (apiVersion, kind, namespaced).
pub const KINDS: &[(&str, &str, bool)] = &[
    ("argoproj.io/v1alpha1", "Rollout", true),
    ("argoproj.io/v1alpha1", "AnalysisTemplate", true),
    ("argoproj.io/v1alpha1", "ClusterAnalysisTemplate", false),
    ("argoproj.io/v1alpha1", "AnalysisRun", true),
    ("argoproj.io/v1alpha1", "Application", true),
    ("v1", "Service", true),
    ("v1", "Pod", true),
    ("v1", "Secret", true),
    ("apps/v1", "ReplicaSet", true),
    ("traefik.io/v1alpha1", "TraefikService", true),
    ("traefik.io/v1alpha1", "IngressRoute", true),
    ("traefik.io/v1alpha1", "ServersTransport", true),
    ("traefik.io/v1alpha1", "TLSOption", true),
    ("traefik.io/v1alpha1", "TLSStore", true),
    ("traefik.containo.us/v1alpha1", "TraefikService", true),
    ("traefik.containo.us/v1alpha1", "IngressRoute", true),
    ("traefik.containo.us/v1alpha1", "ServersTransport", true),
    ("traefik.containo.us/v1alpha1", "TLSOption", true),
    ("traefik.containo.us/v1alpha1", "TLSStore", true),
];

/// How an object is identified: `group` is empty for the core API.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(api_version: &str, kind: &str, namespace: &str, name: &str) -> Self {
        ObjectKey {
            group: group_of(api_version).to_string(),
            kind: kind.to_string(),
            namespace: if is_namespaced(kind) { namespace.to_string() } else { String::new() },
            name: name.to_string(),
        }
    }
}

/// kubectl's way of naming an object: `rollout.argoproj.io/canary-rollout`, `service/canary-active`.
impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind.to_lowercase();
        if self.group.is_empty() {
            write!(f, "{kind}/{}", self.name)
        } else {
            write!(f, "{kind}.{}/{}", self.group, self.name)
        }
    }
}

/// `traefik.io/v1alpha1` -> `traefik.io`; `v1` -> ``.
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

fn is_namespaced(kind: &str) -> bool {
    KINDS.iter().find(|(_, k, _)| *k == kind).is_none_or(|(_, _, namespaced)| *namespaced)
}

impl Object {
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Rollout(o) => &o.metadata,
            Object::AnalysisTemplate(o) | Object::ClusterAnalysisTemplate(o) => &o.metadata,
            Object::AnalysisRun(o) => &o.metadata,
            Object::Application(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::TraefikService(o) => &o.metadata,
            Object::IngressRoute(o) => &o.metadata,
            Object::ServersTransport(o) => &o.metadata,
            Object::TlsOption(o) => &o.metadata,
            Object::TlsStore(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
            Object::ReplicaSet(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
        }
    }

    pub fn api_version(&self) -> &str {
        match self {
            Object::Rollout(o) => &o.api_version,
            Object::AnalysisTemplate(o) | Object::ClusterAnalysisTemplate(o) => &o.api_version,
            Object::AnalysisRun(o) => &o.api_version,
            Object::Application(o) => &o.api_version,
            Object::Service(o) => &o.api_version,
            Object::TraefikService(o) => &o.api_version,
            Object::IngressRoute(o) => &o.api_version,
            Object::ServersTransport(o) => &o.api_version,
            Object::TlsOption(o) => &o.api_version,
            Object::TlsStore(o) => &o.api_version,
            Object::Secret(o) => &o.api_version,
            Object::ReplicaSet(o) => &o.api_version,
            Object::Pod(o) => &o.api_version,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Object::Rollout(_) => "Rollout",
            Object::AnalysisTemplate(_) => "AnalysisTemplate",
            Object::ClusterAnalysisTemplate(_) => "ClusterAnalysisTemplate",
            Object::AnalysisRun(_) => "AnalysisRun",
            Object::Application(_) => "Application",
            Object::Service(_) => "Service",
            Object::TraefikService(_) => "TraefikService",
            Object::IngressRoute(_) => "IngressRoute",
            Object::ServersTransport(_) => "ServersTransport",
            Object::TlsOption(_) => "TLSOption",
            Object::TlsStore(_) => "TLSStore",
            Object::Secret(_) => "Secret",
            Object::ReplicaSet(_) => "ReplicaSet",
            Object::Pod(_) => "Pod",
        }
    }

    pub fn key(&self) -> ObjectKey {
        let meta = self.metadata();
        ObjectKey::new(self.api_version(), self.kind(), meta.namespace(), meta.name())
    }

    /// The object as JSON, the form serin stores and serves.
    pub fn to_json(&self) -> serde_json::Value {
        let result = match self {
            Object::Rollout(o) => serde_json::to_value(o),
            Object::AnalysisTemplate(o) | Object::ClusterAnalysisTemplate(o) => serde_json::to_value(o),
            Object::AnalysisRun(o) => serde_json::to_value(o),
            Object::Application(o) => serde_json::to_value(o),
            Object::Service(o) => serde_json::to_value(o),
            Object::TraefikService(o) => serde_json::to_value(o),
            Object::IngressRoute(o) => serde_json::to_value(o),
            Object::ServersTransport(o) => serde_json::to_value(o),
            Object::TlsOption(o) => serde_json::to_value(o),
            Object::TlsStore(o) => serde_json::to_value(o),
            Object::Secret(o) => serde_json::to_value(o),
            Object::ReplicaSet(o) => serde_json::to_value(o),
            Object::Pod(o) => serde_json::to_value(o),
        };
        result.unwrap_or_default()
    }
}

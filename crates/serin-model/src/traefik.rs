//! Traefik's `TraefikService` and `IngressRoute`, in both API groups (`traefik.io/v1alpha1`
//! and the older `traefik.containo.us/v1alpha1`, which Traefik v2 users still write).

use crate::intstr::IntOrString;
use crate::meta::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use serde_with::skip_serializing_none;

pub const GROUPS: [&str; 2] = ["traefik.io", "traefik.containo.us"];

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraefikService {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: TraefikServiceSpec,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraefikServiceSpec {
    pub weighted: Option<Weighted>,
    pub mirroring: Option<Mirroring>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Weighted {
    #[serde(default)]
    pub services: Vec<WeightedService>,
    pub sticky: Option<Json>,
}

/// A service reference with Traefik's load-balancer options; `weight` counts in a weighted
/// service (default 1), `percent` in a mirror.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedService {
    pub name: String,
    pub namespace: Option<String>,
    pub kind: Option<String>,
    pub port: Option<IntOrString>,
    pub weight: Option<i64>,
    pub percent: Option<i64>,
    pub scheme: Option<String>,
    pub servers_transport: Option<String>,
    pub pass_host_header: Option<bool>,
    pub response_forwarding: Option<Json>,
    pub sticky: Option<Json>,
    pub strategy: Option<String>,
    pub health_check: Option<Json>,
    #[serde(rename = "nativeLB")]
    pub native_lb: Option<bool>,
    #[serde(rename = "nodePortLB")]
    pub node_port_lb: Option<bool>,
}

impl WeightedService {
    /// `Service` unless the reference names a `TraefikService`.
    pub fn is_traefik_service(&self) -> bool {
        self.kind.as_deref() == Some("TraefikService")
    }
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mirroring {
    pub name: String,
    pub namespace: Option<String>,
    pub kind: Option<String>,
    pub port: Option<IntOrString>,
    #[serde(default)]
    pub mirrors: Vec<WeightedService>,
    pub mirror_body: Option<bool>,
    pub max_body_size: Option<i64>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRoute {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: IngressRouteSpec,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRouteSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_points: Vec<String>,
    #[serde(default)]
    pub routes: Vec<Route>,
    pub tls: Option<Json>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub r#match: String,
    pub kind: Option<String>,
    pub priority: Option<i64>,
    pub syntax: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<WeightedService>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub middlewares: Vec<Json>,
    pub observability: Option<Json>,
}

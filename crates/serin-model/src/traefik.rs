//! Traefik's `TraefikService`, `IngressRoute`, `ServersTransport`, `TLSOption` and `TLSStore`,
//! in both API groups (`traefik.io/v1alpha1` and the older `traefik.containo.us/v1alpha1`,
//! which Traefik v2 users still write).

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
    pub tls: Option<IngressRouteTls>,
}

/// `IngressRoute.spec.tls`: its routes serve TLS connections only, with the certificate of
/// `secretName` among those the router chooses from by SNI, and the TLS options `options`
/// names (else the default ones).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRouteTls {
    pub secret_name: Option<String>,
    pub options: Option<ObjectReference>,
    pub store: Option<ObjectReference>,
    pub cert_resolver: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<Json>,
}

/// A TLSOption or TLSStore by name; the namespace defaults to the referring object's.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    pub name: String,
    pub namespace: Option<String>,
}

/// Traefik's `TLSOption`: the TLS versions, cipher suites, curves, ALPN protocols and client
/// certificates of the connections whose SNI names a host of a route that refers to it. One
/// named `default` replaces the default options.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsOption {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: TlsOptionSpec,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsOptionSpec {
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub cipher_suites: Option<Vec<String>>,
    pub curve_preferences: Option<Vec<String>>,
    pub client_auth: Option<ClientAuth>,
    pub sni_strict: Option<bool>,
    #[serde(rename = "alpnProtocols")]
    pub alpn_protocols: Option<Vec<String>>,
    pub prefer_server_cipher_suites: Option<bool>,
    pub disable_session_tickets: Option<bool>,
}

/// Client certificates: the Secrets holding the CAs (`tls.ca` or `ca.crt`) and whether a
/// certificate is asked for, required and verified.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientAuth {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_names: Vec<String>,
    pub client_auth_type: Option<String>,
}

/// Traefik's `TLSStore`: only the one named `default` is used, for its default certificate
/// (served when no other matches the SNI) and more certificates to choose from.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsStore {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: TlsStoreSpec,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsStoreSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<SecretReference>,
    pub default_certificate: Option<SecretReference>,
    pub default_generated_cert: Option<Json>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    pub secret_name: String,
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

/// Traefik's `ServersTransport`: how the router talks to the pods of a Service that names it
/// (`serversTransport` on an IngressRoute's or a TraefikService's service).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServersTransport {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ServersTransportSpec,
}

/// serin honours `forwardingTimeouts` (dial, response header, idle). It speaks HTTP/1.1 in
/// clear to pods, so the HTTP/2 timeouts and `disableHTTP2` change nothing, and the TLS fields
/// are refused by validation.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServersTransportSpec {
    pub forwarding_timeouts: Option<ForwardingTimeouts>,
    pub max_idle_conns_per_host: Option<i64>,
    #[serde(rename = "disableHTTP2")]
    pub disable_http2: Option<bool>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: Option<bool>,
    #[serde(rename = "rootCAsSecrets", default, skip_serializing_if = "Vec::is_empty")]
    pub root_cas_secrets: Vec<String>,
    #[serde(rename = "rootCAs", default, skip_serializing_if = "Vec::is_empty")]
    pub root_cas: Vec<Json>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates_secrets: Vec<String>,
    #[serde(rename = "peerCertURI")]
    pub peer_cert_uri: Option<String>,
    pub spiffe: Option<Json>,
}

/// Durations as Traefik reads them: a Go duration (`30s`, `1m30s`) or whole seconds (`30`).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardingTimeouts {
    pub dial_timeout: Option<IntOrString>,
    pub response_header_timeout: Option<IntOrString>,
    pub idle_conn_timeout: Option<IntOrString>,
    pub read_idle_timeout: Option<IntOrString>,
    pub ping_timeout: Option<IntOrString>,
}

/// A Traefik duration in milliseconds: whole seconds as a number or digits, else a Go
/// duration.
pub fn traefik_duration_millis(value: &IntOrString) -> Result<i64, String> {
    match value {
        IntOrString::Int(seconds) => seconds.checked_mul(1000).ok_or_else(|| format!("{seconds} seconds is too long")),
        IntOrString::String(text) => match text.trim().parse::<i64>() {
            Ok(seconds) => traefik_duration_millis(&IntOrString::Int(seconds)),
            Err(_) => crate::duration::parse_go_duration(text.trim()),
        },
    }
}

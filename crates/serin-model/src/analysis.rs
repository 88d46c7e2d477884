//! Argo Rollouts' analysis resources: AnalysisTemplate, ClusterAnalysisTemplate (same spec,
//! cluster-scoped) and AnalysisRun.

use crate::intstr::IntOrString;
use crate::meta::ObjectMeta;
use crate::rollout::{DryRun, MeasurementRetention};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use serde_with::skip_serializing_none;
use std::collections::BTreeMap;

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplate {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: AnalysisTemplateSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateSpec {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    pub name: String,
    pub value: Option<String>,
    pub value_from: Option<Json>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    pub name: String,
    pub interval: Option<String>,
    pub initial_delay: Option<String>,
    pub count: Option<IntOrString>,
    pub success_condition: Option<String>,
    pub failure_condition: Option<String>,
    pub failure_limit: Option<IntOrString>,
    pub inconclusive_limit: Option<IntOrString>,
    pub consecutive_error_limit: Option<IntOrString>,
    pub consecutive_success_limit: Option<IntOrString>,
    pub provider: MetricProvider,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricProvider {
    pub prometheus: Option<PrometheusMetric>,
    pub web: Option<WebMetric>,
    pub job: Option<Json>,
    /// serin's own provider: the router's per-revision request metrics.
    pub serin: Option<Json>,
    pub datadog: Option<Json>,
    pub new_relic: Option<Json>,
    pub cloud_watch: Option<Json>,
    pub wavefront: Option<Json>,
    pub kayenta: Option<Json>,
    pub graphite: Option<Json>,
    pub influxdb: Option<Json>,
    pub skywalking: Option<Json>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugin: BTreeMap<String, Json>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusMetric {
    pub address: Option<String>,
    pub query: String,
    pub timeout: Option<i64>,
    pub insecure: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<WebHeader>,
    pub authentication: Option<Json>,
    pub range_query: Option<Json>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebMetric {
    pub url: String,
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<WebHeader>,
    pub body: Option<String>,
    pub json_body: Option<Json>,
    pub json_path: Option<String>,
    pub timeout_seconds: Option<i64>,
    pub insecure: Option<bool>,
    pub authentication: Option<Json>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WebHeader {
    pub key: String,
    pub value: String,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRun {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: AnalysisRunSpec,
    pub status: Option<Json>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunSpec {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    pub terminate: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
}

//! The `argoproj.io/v1alpha1` Rollout, field for field as Argo Rollouts defines it, with its
//! status in the exact shape `kubectl argo rollouts` and Argo CD's health check read.

use crate::intstr::IntOrString;
use crate::meta::{LabelSelector, ObjectMeta};
use crate::podtemplate::PodTemplate;
use crate::time::Time;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use serde_with::skip_serializing_none;
use std::collections::BTreeMap;

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: RolloutSpec,
    pub status: Option<RolloutStatus>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    pub replicas: Option<i32>,
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub template: PodTemplate,
    pub workload_ref: Option<WorkloadRef>,
    pub min_ready_seconds: Option<i32>,
    pub revision_history_limit: Option<i32>,
    pub progress_deadline_seconds: Option<i32>,
    pub progress_deadline_abort: Option<bool>,
    pub paused: Option<bool>,
    pub restart_at: Option<Time>,
    pub rollback_window: Option<RollbackWindow>,
    pub analysis: Option<AnalysisRunStrategy>,
    #[serde(default)]
    pub strategy: RolloutStrategy,
}

impl RolloutSpec {
    pub fn replicas(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }

    pub fn revision_history_limit(&self) -> i32 {
        self.revision_history_limit.unwrap_or(10)
    }

    pub fn progress_deadline_seconds(&self) -> i32 {
        self.progress_deadline_seconds.unwrap_or(600)
    }
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub scale_down: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackWindow {
    pub revisions: Option<i32>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunStrategy {
    pub successful_run_history_limit: Option<i32>,
    pub unsuccessful_run_history_limit: Option<i32>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    pub canary: Option<CanaryStrategy>,
    pub blue_green: Option<BlueGreenStrategy>,
}

impl RolloutStrategy {
    /// The Services whose `rollouts-pod-template-hash` selector the Rollout steers: (stable,
    /// canary) for a canary, (active, preview) for blue-green, each when named. Platforms
    /// point the first at the engine's stable/active hash and the second at its canary/preview
    /// hash.
    pub fn services(&self) -> (Option<&str>, Option<&str>) {
        fn named(s: Option<&str>) -> Option<&str> {
            s.filter(|s| !s.is_empty())
        }
        match (&self.canary, &self.blue_green) {
            (Some(c), _) => (named(c.stable_service.as_deref()), named(c.canary_service.as_deref())),
            (None, Some(bg)) => (named(Some(&bg.active_service)), named(bg.preview_service.as_deref())),
            (None, None) => (None, None),
        }
    }

    /// `trafficRouting` of a canary (blue-green routes by Service selectors alone).
    pub fn traffic_routing(&self) -> Option<&TrafficRouting> {
        self.canary.as_ref().and_then(|c| c.traffic_routing.as_ref())
    }
}

/// `strategy.blueGreen`: the new revision comes up beside the active one behind the preview
/// Service, and the active Service switches to it at promotion.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    /// Required; validation reports it missing at its path.
    #[serde(default)]
    pub active_service: String,
    pub preview_service: Option<String>,
    pub preview_replica_count: Option<i32>,
    pub auto_promotion_enabled: Option<bool>,
    pub auto_promotion_seconds: Option<i32>,
    pub max_unavailable: Option<IntOrString>,
    pub scale_down_delay_seconds: Option<i32>,
    pub scale_down_delay_revision_limit: Option<i32>,
    pub pre_promotion_analysis: Option<RolloutAnalysis>,
    pub anti_affinity: Option<AntiAffinity>,
    pub post_promotion_analysis: Option<RolloutAnalysis>,
    pub preview_metadata: Option<PodMetadata>,
    pub active_metadata: Option<PodMetadata>,
    pub abort_scale_down_delay_seconds: Option<i32>,
}

impl BlueGreenStrategy {
    pub fn auto_promotion_enabled(&self) -> bool {
        self.auto_promotion_enabled.unwrap_or(true)
    }

    pub fn auto_promotion_seconds(&self) -> i32 {
        self.auto_promotion_seconds.unwrap_or(0)
    }

    pub fn scale_down_delay_seconds(&self) -> i32 {
        self.scale_down_delay_seconds.unwrap_or(30)
    }

    pub fn abort_scale_down_delay_seconds(&self) -> i32 {
        self.abort_scale_down_delay_seconds.unwrap_or(30)
    }

    pub fn max_unavailable(&self) -> IntOrString {
        self.max_unavailable.clone().unwrap_or_else(|| "25%".into())
    }
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    pub canary_service: Option<String>,
    pub stable_service: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<CanaryStep>,
    pub traffic_routing: Option<TrafficRouting>,
    pub max_surge: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
    pub analysis: Option<RolloutAnalysisBackground>,
    pub anti_affinity: Option<AntiAffinity>,
    pub canary_metadata: Option<PodMetadata>,
    pub stable_metadata: Option<PodMetadata>,
    pub scale_down_delay_seconds: Option<i32>,
    pub scale_down_delay_revision_limit: Option<i32>,
    pub abort_scale_down_delay_seconds: Option<i32>,
    pub dynamic_stable_scale: Option<bool>,
    pub min_pods_per_replica_set: Option<i32>,
    pub replica_progress_threshold: Option<ReplicaProgressThreshold>,
    pub ping_pong: Option<PingPong>,
}

impl CanaryStrategy {
    pub fn max_surge(&self) -> IntOrString {
        self.max_surge.clone().unwrap_or_else(|| "25%".into())
    }

    pub fn max_unavailable(&self) -> IntOrString {
        self.max_unavailable.clone().unwrap_or_else(|| "25%".into())
    }

    /// The highest weight a step may set (`trafficRouting.maxTrafficWeight`, default 100).
    pub fn max_weight(&self) -> i32 {
        self.traffic_routing.as_ref().and_then(|t| t.max_traffic_weight).unwrap_or(100)
    }

    pub fn scale_down_delay_seconds(&self) -> i32 {
        self.scale_down_delay_seconds.unwrap_or(30)
    }

    pub fn abort_scale_down_delay_seconds(&self) -> i32 {
        self.abort_scale_down_delay_seconds.unwrap_or(30)
    }

    pub fn dynamic_stable_scale(&self) -> bool {
        self.dynamic_stable_scale.unwrap_or(false)
    }
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PingPong {
    pub ping_service: Option<String>,
    pub pong_service: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AntiAffinity {
    pub preferred_during_scheduling_ignored_during_execution: Option<PreferredAntiAffinity>,
    pub required_during_scheduling_ignored_during_execution: Option<BTreeMap<String, Json>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreferredAntiAffinity {
    pub weight: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaProgressThreshold {
    #[serde(rename = "type")]
    pub kind: ProgressThresholdType,
    pub value: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProgressThresholdType {
    Percent,
    Pods,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRouting {
    pub traefik: Option<TraefikTrafficRouting>,
    pub nginx: Option<NginxTrafficRouting>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, Json>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_routes: Vec<ManagedRoute>,
    pub max_traffic_weight: Option<i32>,
    pub smi: Option<Json>,
    pub istio: Option<Json>,
    pub alb: Option<Json>,
    pub ambassador: Option<Json>,
    pub app_mesh: Option<Json>,
    pub apisix: Option<Json>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraefikTrafficRouting {
    pub weighted_traefik_service_name: String,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NginxTrafficRouting {
    pub stable_ingress: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stable_ingresses: Vec<String>,
    pub annotation_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_ingress_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub canary_ingress_annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagedRoute {
    pub name: String,
}

/// One canary step. Argo models a step as a struct of optional kinds: setWeight, pause,
/// experiment and analysis exclude each other; setCanaryScale, setHeaderRoute,
/// setMirrorRoute and plugin combine with any (validation checks it).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    pub set_weight: Option<i32>,
    pub pause: Option<RolloutPause>,
    pub set_canary_scale: Option<SetCanaryScale>,
    pub analysis: Option<RolloutAnalysis>,
    pub experiment: Option<Json>,
    pub set_header_route: Option<SetHeaderRoute>,
    pub set_mirror_route: Option<SetMirrorRoute>,
    pub plugin: Option<Json>,
}

/// One thing a step does; a step may do several (see [`CanaryStep`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StepKind<'a> {
    SetWeight(i32),
    Pause(&'a RolloutPause),
    SetCanaryScale(&'a SetCanaryScale),
    Analysis(&'a RolloutAnalysis),
    Experiment(&'a Json),
    SetHeaderRoute(&'a SetHeaderRoute),
    SetMirrorRoute(&'a SetMirrorRoute),
    Plugin(&'a Json),
}

impl StepKind<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::SetWeight(_) => "setWeight",
            StepKind::Pause(_) => "pause",
            StepKind::SetCanaryScale(_) => "setCanaryScale",
            StepKind::Analysis(_) => "analysis",
            StepKind::Experiment(_) => "experiment",
            StepKind::SetHeaderRoute(_) => "setHeaderRoute",
            StepKind::SetMirrorRoute(_) => "setMirrorRoute",
            StepKind::Plugin(_) => "plugin",
        }
    }
}

impl CanaryStep {
    /// Every kind this step sets, in the order Argo's controller decides whether a step is
    /// complete (`completedCurrentCanaryStep`): pause, setCanaryScale, setWeight, experiment,
    /// analysis, setHeaderRoute, setMirrorRoute, plugin.
    pub fn kinds(&self) -> Vec<StepKind<'_>> {
        let mut kinds = Vec::new();
        kinds.extend(self.pause.as_ref().map(StepKind::Pause));
        kinds.extend(self.set_canary_scale.as_ref().map(StepKind::SetCanaryScale));
        kinds.extend(self.set_weight.map(StepKind::SetWeight));
        kinds.extend(self.experiment.as_ref().map(StepKind::Experiment));
        kinds.extend(self.analysis.as_ref().map(StepKind::Analysis));
        kinds.extend(self.set_header_route.as_ref().map(StepKind::SetHeaderRoute));
        kinds.extend(self.set_mirror_route.as_ref().map(StepKind::SetMirrorRoute));
        kinds.extend(self.plugin.as_ref().map(StepKind::Plugin));
        kinds
    }

    /// The kind that decides when the step is complete: the first of [`CanaryStep::kinds`], as
    /// in Argo (a pause beside a setCanaryScale waits for the pause only). `None` for a step
    /// that sets nothing, or two of setWeight, pause, experiment and analysis (invalid).
    pub fn kind(&self) -> Option<StepKind<'_>> {
        if self.exclusive_kind_names().len() > 1 {
            return None;
        }
        self.kinds().first().copied()
    }

    /// Which of setWeight, pause, experiment and analysis the step sets (valid: at most one).
    pub fn exclusive_kind_names(&self) -> Vec<&'static str> {
        [
            ("setWeight", self.set_weight.is_some()),
            ("pause", self.pause.is_some()),
            ("experiment", self.experiment.is_some()),
            ("analysis", self.analysis.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPause {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<IntOrString>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetCanaryScale {
    pub replicas: Option<i32>,
    pub weight: Option<i32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub match_traffic_weight: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<AnalysisTemplateRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisRunArgument>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<PodMetadata>,
}

/// Background analysis: a [`RolloutAnalysis`] that starts at `startingStep`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysisBackground {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<AnalysisTemplateRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisRunArgument>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<PodMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_step: Option<i32>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateRef {
    pub template_name: String,
    pub cluster_scope: Option<bool>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunArgument {
    pub name: String,
    pub value: Option<String>,
    pub value_from: Option<ArgumentValueFrom>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgumentValueFrom {
    pub pod_template_hash_value: Option<PodTemplateHashValue>,
    pub field_ref: Option<FieldRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodTemplateHashValue {
    Stable,
    Latest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    pub field_path: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    pub metric_name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeasurementRetention {
    pub metric_name: String,
    pub limit: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetHeaderRoute {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub r#match: Vec<HeaderRoutingMatch>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderRoutingMatch {
    pub header_name: String,
    pub header_value: StringMatch,
}

/// Exactly one of exact, prefix or regex (validation checks it).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StringMatch {
    pub exact: Option<String>,
    pub prefix: Option<String>,
    pub regex: Option<String>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetMirrorRoute {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub r#match: Vec<RouteMatch>,
    pub percentage: Option<i32>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteMatch {
    pub method: Option<StringMatch>,
    pub path: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
}

// ----- status -----

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub abort: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pause_conditions: Vec<PauseCondition>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub controller_pause: bool,
    pub aborted_at: Option<Time>,
    pub current_pod_hash: Option<String>,
    pub current_step_hash: Option<String>,
    #[serde(default)]
    pub replicas: i32,
    #[serde(default)]
    pub updated_replicas: i32,
    #[serde(default)]
    pub ready_replicas: i32,
    #[serde(default)]
    pub available_replicas: i32,
    /// The replica count the `scale` subresource reports (to a HorizontalPodAutoscaler), as
    /// Argo Rollouts writes it.
    #[serde(rename = "HPAReplicas")]
    pub hpa_replicas: Option<i32>,
    pub current_step_index: Option<i32>,
    pub collision_count: Option<i32>,
    pub observed_generation: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<RolloutCondition>,
    #[serde(default)]
    pub canary: CanaryStatus,
    #[serde(default, skip_serializing_if = "BlueGreenStatus::is_empty")]
    pub blue_green: BlueGreenStatus,
    pub selector: Option<String>,
    #[serde(rename = "stableRS")]
    pub stable_rs: Option<String>,
    pub restarted_at: Option<Time>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub promote_full: bool,
    pub phase: Option<String>,
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseCondition {
    pub reason: String,
    pub start_time: Time,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutCondition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub last_update_time: Option<Time>,
    pub last_transition_time: Option<Time>,
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    pub current_step_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    pub current_background_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    pub current_experiment: Option<String>,
    pub weights: Option<TrafficWeights>,
    pub stable_ping_pong: Option<String>,
}

/// `status.blueGreen`, as Argo Rollouts writes it.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStatus {
    pub preview_selector: Option<String>,
    pub active_selector: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scale_up_preview_check_point: bool,
    pub pre_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    pub post_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
}

impl BlueGreenStatus {
    pub fn is_empty(&self) -> bool {
        *self == BlueGreenStatus::default()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysisRunStatus {
    pub name: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficWeights {
    pub canary: WeightDestination,
    pub stable: WeightDestination,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<WeightDestination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightDestination {
    #[serde(default)]
    pub weight: i32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pod_template_hash: String,
}

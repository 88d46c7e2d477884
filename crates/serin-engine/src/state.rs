//! What the engine reads and what it decides: plain data, so any platform can fill it in and
//! carry it out (processes on one machine, or a Kubernetes cluster).

use serin_model::Time;
use serin_model::podtemplate::PodTemplate;
use serin_model::rollout::{HeaderRoutingMatch, RolloutStatus, RouteMatch};

/// Label on ReplicaSets, their selectors and pods, and on Service selectors.
pub const POD_TEMPLATE_HASH_LABEL: &str = "rollouts-pod-template-hash";
/// Annotation with the revision number of a ReplicaSet.
pub const REVISION_ANNOTATION: &str = "rollout.argoproj.io/revision";
/// Annotation with the time after which a ReplicaSet is scaled to zero.
pub const SCALE_DOWN_DEADLINE_ANNOTATION: &str = "scale-down-deadline";
/// Annotation Argo puts on Services whose selector it manages.
pub const MANAGED_BY_ANNOTATION: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";

/// One ReplicaSet the Rollout owns, as the platform observed it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaSetState {
    pub name: String,
    pub hash: String,
    pub revision: i64,
    pub template: PodTemplate,
    /// `spec.replicas`.
    pub replicas: i32,
    /// Pods that exist (`status.replicas`).
    pub current: i32,
    pub ready: i32,
    pub available: i32,
    pub created: Time,
    pub scale_down_deadline: Option<Time>,
    /// The ephemeral pod metadata recorded as injected (`ephemeral::EPHEMERAL_METADATA_ANNOTATION`).
    pub ephemeral: Option<serin_model::rollout::PodMetadata>,
    /// The stable revision the template's injected anti-affinity rule avoids (`antiaffinity`).
    pub avoids: Option<String>,
    /// The ReplicaSet's pods, for `restartAt`.
    pub pods: Vec<PodState>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PodState {
    pub name: String,
    pub created: Time,
    pub available: bool,
}

/// The phase of an AnalysisRun the Rollout started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AnalysisPhase {
    Pending,
    Running,
    Successful,
    Inconclusive,
    Error,
    Failed,
}

impl AnalysisPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            AnalysisPhase::Pending => "Pending",
            AnalysisPhase::Running => "Running",
            AnalysisPhase::Successful => "Successful",
            AnalysisPhase::Inconclusive => "Inconclusive",
            AnalysisPhase::Error => "Error",
            AnalysisPhase::Failed => "Failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Running, Self::Successful, Self::Inconclusive, Self::Error, Self::Failed]
            .into_iter()
            .find(|p| p.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisRunState {
    pub name: String,
    /// When it was created (`metadata.creationTimestamp`): the oldest finished runs go first
    /// beyond the history limits.
    pub created: Time,
    pub phase: AnalysisPhase,
    pub message: String,
    /// Asked to stop (`spec.terminate`): it ends Successful without a verdict of its own, so
    /// it is never taken up as the measurement of a step.
    pub terminating: bool,
}

/// Traffic weights the router is actually serving for this Rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServedWeights {
    pub canary: i32,
    pub stable: i32,
}

/// Everything the engine needs for one decision.
#[derive(Clone, Debug)]
pub struct World<'a> {
    pub rollout: &'a serin_model::rollout::Rollout,
    pub replica_sets: &'a [ReplicaSetState],
    pub analysis_runs: &'a [AnalysisRunState],
    /// `None` when the platform cannot tell (no traffic routing, or nothing applied yet).
    pub served_weights: Option<ServedWeights>,
    /// Services the strategy names that the platform looked for and does not have (empty
    /// when it does not look).
    pub missing_services: &'a [String],
    pub now: Time,
}

/// Something the platform must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    CreateReplicaSet(NewReplicaSet),
    ScaleReplicaSet {
        name: String,
        from: i32,
        to: i32,
    },
    /// Bumps the revision annotation of a ReplicaSet that becomes current again (undo).
    SetRevision {
        name: String,
        revision: i64,
    },
    SetScaleDownDeadline {
        name: String,
        deadline: Option<Time>,
    },
    /// Moves a ReplicaSet's pods (and its template) from the ephemeral metadata `previous`
    /// injected to `desired`: see `ephemeral`.
    SyncEphemeralMetadata {
        name: String,
        previous: Option<serin_model::rollout::PodMetadata>,
        desired: Option<serin_model::rollout::PodMetadata>,
    },
    /// Points the injected anti-affinity rule of a ReplicaSet's template at another stable
    /// revision: its `affinity` becomes `antiaffinity::replica_set_affinity(rollout, avoid)`.
    SetAntiAffinity {
        name: String,
        avoid: Option<String>,
    },
    DeleteReplicaSet {
        name: String,
    },
    DeletePod {
        name: String,
    },
    CreateAnalysisRun(AnalysisRunRequest),
    TerminateAnalysisRun {
        name: String,
    },
    /// A finished run beyond `successfulRunHistoryLimit` or `unsuccessfulRunHistoryLimit`.
    DeleteAnalysisRun {
        name: String,
    },
}

/// A ReplicaSet to create for a revision of the template.
#[derive(Clone, Debug, PartialEq)]
pub struct NewReplicaSet {
    pub name: String,
    pub hash: String,
    pub revision: i64,
    pub template: PodTemplate,
    pub replicas: i32,
    /// The stable revision whose nodes its pods avoid (`antiaffinity`).
    pub avoid: Option<String>,
}

/// An AnalysisRun to start, with its arguments resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisRunRequest {
    pub name: String,
    pub analysis: serin_model::rollout::RolloutAnalysis,
    pub args: Vec<(String, String)>,
    /// `Some(step index)` for a step analysis, `None` for background analysis.
    pub step: Option<usize>,
}

/// How traffic should flow; platforms apply it idempotently (a router keeps its place in the
/// split sequence when nothing changed).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TrafficIntent {
    /// pod-template-hash the stable Service must select, if any.
    pub stable_hash: Option<String>,
    /// pod-template-hash the canary Service must select, if any.
    pub canary_hash: Option<String>,
    /// Canary weight out of `max_weight` (stable gets the rest); `None` without traffic routing.
    pub canary_weight: Option<i32>,
    pub max_weight: i32,
    pub header_routes: Vec<HeaderRoute>,
    pub mirror_routes: Vec<MirrorRoute>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HeaderRoute {
    pub name: String,
    pub matches: Vec<HeaderRoutingMatch>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MirrorRoute {
    pub name: String,
    pub matches: Vec<RouteMatch>,
    pub percentage: i32,
}

/// A Kubernetes-style event, in Argo Rollouts' words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

impl Event {
    pub fn normal(reason: &str, message: impl Into<String>) -> Self {
        Event { warning: false, reason: reason.to_string(), message: message.into() }
    }

    pub fn warning(reason: &str, message: impl Into<String>) -> Self {
        Event { warning: true, reason: reason.to_string(), message: message.into() }
    }
}

/// The engine's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub status: RolloutStatus,
    pub actions: Vec<Action>,
    pub traffic: TrafficIntent,
    pub events: Vec<Event>,
    /// Reconcile again after this many milliseconds even if nothing changes (a timed pause,
    /// a scale-down delay, a progress deadline); `Some(0)` means at once.
    pub requeue_after: Option<i64>,
}

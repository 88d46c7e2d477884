//! The stages of a blue-green update, in the order they happen: one list, so that `serin
//! plan` (which records them as a simulated release reaches them) and the dashboard (which
//! marks how far a live release has come) describe the same timeline in the same words.

use crate::bluegreen::PAUSE_REASON_BLUE_GREEN;
use crate::state::ReplicaSetState;
use serin_model::rollout::{BlueGreenStrategy, RolloutAnalysis, RolloutAnalysisRunStatus, RolloutStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    PreviewUp,
    PrePromotionAnalysis,
    Pause,
    Switch,
    PostPromotionAnalysis,
    ScaleDown,
}

/// How long a stage waits before it is done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wait {
    /// Milliseconds on the clock (autoPromotionSeconds, scaleDownDelaySeconds).
    pub timed: Option<i64>,
    /// Until someone runs `promote`.
    pub manual: bool,
}

/// The stages `strategy` goes through; those it does not use are left out.
pub fn stages(strategy: &BlueGreenStrategy) -> Vec<Stage> {
    let pauses = !strategy.auto_promotion_enabled() || strategy.auto_promotion_seconds() > 0;
    [
        Some(Stage::PreviewUp),
        strategy.pre_promotion_analysis.as_ref().map(|_| Stage::PrePromotionAnalysis),
        pauses.then_some(Stage::Pause),
        Some(Stage::Switch),
        strategy.post_promotion_analysis.as_ref().map(|_| Stage::PostPromotionAnalysis),
        Some(Stage::ScaleDown),
    ]
    .into_iter()
    .flatten()
    .collect()
}

impl Stage {
    /// Whether the update to the revision `status.currentPodHash` has got past this stage.
    pub fn reached(self, status: &RolloutStatus, replica_sets: &[ReplicaSetState]) -> bool {
        let new_hash = status.current_pod_hash.as_deref().unwrap_or_default();
        let switched = status.blue_green.active_selector.as_deref() == Some(new_hash);
        let promoted = status.stable_rs.as_deref() == Some(new_hash);
        let passed = |run: &Option<RolloutAnalysisRunStatus>| run.as_ref().is_some_and(|r| r.status == "Successful");
        match self {
            Stage::PreviewUp => {
                switched
                    || replica_sets
                        .iter()
                        .any(|rs| rs.hash == new_hash && rs.replicas > 0 && rs.available >= rs.replicas)
            }
            Stage::PrePromotionAnalysis => switched || passed(&status.blue_green.pre_promotion_analysis_run_status),
            // The controller keeps controllerPause once its pause condition is lifted: the
            // pause is over although the switch may still wait for the preview to scale up.
            Stage::Pause => switched || (status.controller_pause && !paused_for_promotion(status)),
            Stage::Switch => switched,
            Stage::PostPromotionAnalysis => promoted || passed(&status.blue_green.post_promotion_analysis_run_status),
            Stage::ScaleDown => promoted && replica_sets.iter().all(|rs| rs.hash == new_hash || rs.replicas == 0),
        }
    }

    /// What the stage does, in a line.
    pub fn describe(self, strategy: &BlueGreenStrategy) -> String {
        let templates = |analysis: &Option<RolloutAnalysis>| {
            let names: Vec<&str> =
                analysis.iter().flat_map(|a| &a.templates).map(|t| t.template_name.as_str()).collect();
            names.join(", ")
        };
        match self {
            Stage::PreviewUp => match &strategy.preview_service {
                Some(preview) => format!("preview up behind Service {preview}"),
                None => "new version up (no previewService)".to_string(),
            },
            Stage::PrePromotionAnalysis => {
                format!("prePromotionAnalysis: {}", templates(&strategy.pre_promotion_analysis))
            }
            Stage::Pause if !strategy.auto_promotion_enabled() => "pause before the switch".to_string(),
            Stage::Pause => format!("pause: autoPromotionSeconds {}", strategy.auto_promotion_seconds()),
            Stage::Switch => format!("switch Service {} to the new version", strategy.active_service),
            Stage::PostPromotionAnalysis => {
                format!("postPromotionAnalysis: {}", templates(&strategy.post_promotion_analysis))
            }
            Stage::ScaleDown => "old version scaled down".to_string(),
        }
    }

    pub fn wait(self, strategy: &BlueGreenStrategy) -> Wait {
        let seconds = |s: i32| Wait { timed: Some(i64::from(s) * 1000), manual: false };
        match self {
            Stage::Pause if !strategy.auto_promotion_enabled() => Wait { timed: None, manual: true },
            Stage::Pause => seconds(strategy.auto_promotion_seconds()),
            Stage::ScaleDown => seconds(strategy.scale_down_delay_seconds()),
            _ => Wait::default(),
        }
    }
}

/// Whether a blue-green rollout is paused before its switch, waiting for `promote`.
pub fn waits_for_promotion(strategy: &BlueGreenStrategy, status: &RolloutStatus) -> bool {
    !strategy.auto_promotion_enabled() && paused_for_promotion(status)
}

fn paused_for_promotion(status: &RolloutStatus) -> bool {
    status.pause_conditions.iter().any(|c| c.reason == PAUSE_REASON_BLUE_GREEN)
}

//! The blue-green reconcile: Argo Rollouts' other strategy, beside the canary's and on the
//! same seam (World in, Decision out, no I/O, no clock). A new template brings up its
//! ReplicaSet behind the preview Service while the active Service keeps the old one; the
//! Rollout pauses (`BlueGreenPause`) unless auto-promotion lets it through; promotion points
//! the active Service at the new ReplicaSet and the old one scales down after
//! `scaleDownDelaySeconds`. It follows Argo's `rollout/bluegreen.go`, `rollout/service.go`
//! and the blue-green parts of `utils/replicaset`, step for step, one decision per call.

use crate::phase::{CONDITION_PROGRESSING, REASON_ABORTED};
use crate::reconcile::{
    Output, PAUSE_REASON_INCONCLUSIVE, Progress, RunLookup, analysis_run_request, check_progress_deadline,
    clean_up_analysis_runs, clean_up_history, create_replica_set, current_revision, find_run, is_run_named,
    observe_analysis_run, restart, scale_replica_set, set_condition, update_paused_condition,
};
use crate::state::{Action, AnalysisPhase, Event, POD_TEMPLATE_HASH_LABEL, ReplicaSetState, TrafficIntent, World};
use serin_model::Time;
use serin_model::rollout::{
    BlueGreenStrategy, CanaryStatus, PauseCondition, RolloutAnalysis, RolloutAnalysisRunStatus, RolloutStatus,
};

pub const PAUSE_REASON_BLUE_GREEN: &str = "BlueGreenPause";

/// Decides what to do next for a blue-green Rollout; `status` starts as the last one written.
pub(crate) fn reconcile(
    world: &World,
    bg: &BlueGreenStrategy,
    status: &mut RolloutStatus,
    out: &mut Output,
) -> TrafficIntent {
    let pod_hash = world.rollout.spec.template.hash(status.collision_count);
    let (existing, revision) = current_revision(world, &pod_hash);
    let mut r = BlueGreen {
        world,
        bg,
        status,
        out,
        now: world.now,
        replicas: world.rollout.spec.replicas(),
        new_rs: existing.cloned(),
        pod_hash,
        revision,
    };
    r.run()
}

struct BlueGreen<'a, 'w> {
    world: &'a World<'w>,
    bg: &'a BlueGreenStrategy,
    status: &'a mut RolloutStatus,
    out: &'a mut Output,
    now: Time,
    replicas: i32,
    pod_hash: String,
    revision: i64,
    new_rs: Option<ReplicaSetState>,
}

impl BlueGreen<'_, '_> {
    fn run(&mut self) -> TrafficIntent {
        // Fields only a canary writes; a Rollout switched from one strategy keeps none of them.
        self.status.current_step_index = None;
        self.status.current_step_hash = None;
        self.status.canary = CanaryStatus::default();
        self.observe_spec_change();
        let new_rs = self.ensure_new_replica_set();
        if self.status.abort && self.status.aborted_at.is_none() {
            // Aborted by a person (`serin abort`): record it as the engine's own abort.
            self.status.abort = false;
            self.abort(&format!("Rollout aborted update to revision {}", self.revision));
        }
        let paused = self.world.rollout.spec.paused == Some(true);
        let halted = paused || self.has_pause(PAUSE_REASON_INCONCLUSIVE);
        if !halted && self.bg.preview_service.as_deref().is_some_and(|s| !s.is_empty()) {
            // The preview Service always selects the newest ReplicaSet, from its creation on.
            self.status.blue_green.preview_selector = Some(self.pod_hash.clone());
        }
        let fast_tracked = self.fast_tracked(&new_rs);
        let desired_new = self.scale(&new_rs);
        let new_rs = self.new_rs.clone().unwrap_or(new_rs);
        let ready_for_pause = new_rs.replicas == desired_new && new_rs.available == desired_new;
        let mut pause_done = self.completed_pause();
        if !halted && !self.status.abort && ready_for_pause && self.reconcile_pause(fast_tracked) {
            pause_done = false;
        }
        self.reconcile_analysis(&new_rs, ready_for_pause);
        let saturated = new_rs.replicas == self.replicas && new_rs.available == self.replicas;
        if !halted && ready_for_pause && saturated {
            self.switch_active(fast_tracked, pause_done);
        }
        match self.full_promotion_reason(&new_rs) {
            Some(reason) => self.promote_stable(&reason),
            None => self.status.blue_green.scale_up_preview_check_point = self.scale_up_preview_check_point(pause_done),
        }
        let max_unavailable = self.bg.max_unavailable().scaled(i64::from(self.replicas), false).unwrap_or(0) as i32;
        restart(self.world, self.status, self.out, max_unavailable);
        clean_up_history(self.world, self.status.stable_rs.as_deref(), &self.pod_hash, self.out);
        let bg_status = &self.status.blue_green;
        let current = [&bg_status.pre_promotion_analysis_run_status, &bg_status.post_promotion_analysis_run_status];
        clean_up_analysis_runs(self.world, &current.into_iter().flatten().collect::<Vec<_>>(), self.out);
        self.update_counts(&new_rs);
        self.check_progress_deadline(&new_rs, paused);
        update_paused_condition(self.status, paused, self.now);
        TrafficIntent {
            stable_hash: self.status.blue_green.active_selector.clone(),
            canary_hash: self.status.blue_green.preview_selector.clone(),
            canary_weight: None,
            max_weight: 100,
            header_routes: Vec::new(),
            mirror_routes: Vec::new(),
        }
    }

    fn has_pause(&self, reason: &str) -> bool {
        self.status.pause_conditions.iter().any(|c| c.reason == reason)
    }

    /// A new template starts a new update: pauses, abort, full promotion, the preview
    /// checkpoint and the promotion analyses of the last one are dropped.
    fn observe_spec_change(&mut self) {
        if self.status.current_pod_hash.as_deref() == Some(&self.pod_hash) {
            return;
        }
        let first = self.status.current_pod_hash.is_none();
        self.status.current_pod_hash = Some(self.pod_hash.clone());
        self.end_update_state();
        let pre = self.status.blue_green.pre_promotion_analysis_run_status.take();
        let post = self.status.blue_green.post_promotion_analysis_run_status.take();
        self.terminate(pre);
        self.terminate(post);
        self.status.conditions.retain(|c| c.kind != CONDITION_PROGRESSING);
        if !first {
            self.out
                .events
                .push(Event::normal("RolloutUpdated", format!("Rollout updated to revision {}", self.revision)));
        }
    }

    /// Drops what belongs to one update: its pauses, abort, full promotion and preview checkpoint.
    fn end_update_state(&mut self) {
        self.status.pause_conditions.clear();
        self.status.controller_pause = false;
        self.status.abort = false;
        self.status.aborted_at = None;
        self.status.promote_full = false;
        self.status.blue_green.scale_up_preview_check_point = false;
    }

    fn ensure_new_replica_set(&mut self) -> ReplicaSetState {
        match &mut self.new_rs {
            Some(rs) => {
                if rs.revision != self.revision {
                    rs.revision = self.revision;
                    self.out.actions.push(Action::SetRevision { name: rs.name.clone(), revision: self.revision });
                }
                rs.clone()
            }
            None => {
                let rs = create_replica_set(self.world, &self.pod_hash, self.revision, self.out);
                self.new_rs = Some(rs.clone());
                rs
            }
        }
    }

    fn replica_set(&self, hash: Option<&str>) -> Option<&ReplicaSetState> {
        hash.and_then(|hash| self.world.replica_sets.iter().find(|rs| rs.hash == hash))
    }

    fn stable_rs(&self) -> Option<&ReplicaSetState> {
        self.replica_set(self.status.stable_rs.as_deref())
    }

    /// Argo's `isFastRollback`: back to the stable template, or to an older revision that is
    /// still within its scale-down delay or the rollback window.
    fn fast_rollback(&self, new_rs: &ReplicaSetState) -> bool {
        let Some(stable) = self.stable_rs() else { return false };
        if stable.hash == new_rs.hash {
            return true;
        }
        if new_rs.created >= stable.created {
            return false;
        }
        let within_delay = new_rs.scale_down_deadline.is_some_and(|d| d > self.now);
        within_delay || self.rollback_within_window(new_rs, stable)
    }

    /// `rollbackWindow.revisions`: fewer than that many ReplicaSets came between the older
    /// revision being rolled back to and the stable one.
    fn rollback_within_window(&self, new_rs: &ReplicaSetState, stable: &ReplicaSetState) -> bool {
        let Some(window) = self.world.rollout.spec.rollback_window.as_ref().and_then(|w| w.revisions) else {
            return false;
        };
        let between =
            self.world.replica_sets.iter().filter(|rs| rs.created < stable.created && rs.created > new_rs.created);
        new_rs.created < stable.created && window > 0 && (between.count() as i32) < window
    }

    /// Argo's `isBlueGreenFastTracked`: the pause and the pre-promotion analysis are skipped.
    fn fast_tracked(&self, new_rs: &ReplicaSetState) -> bool {
        let active = self.status.blue_green.active_selector.as_deref();
        self.fast_rollback(new_rs) || self.status.promote_full || active.is_none_or(|a| a == self.pod_hash)
    }

    /// Argo's `NewRSNewReplicas` for blue-green: `previewReplicaCount` until the Rollout is
    /// resumed past its preview checkpoint, then all of `spec.replicas`.
    fn desired_new_replicas(&self, new_rs: &ReplicaSetState) -> i32 {
        let Some(preview) = self.bg.preview_replica_count else { return self.replicas };
        let active = self.replica_set(self.status.blue_green.active_selector.as_deref());
        if active.is_none_or(|a| a.hash == new_rs.hash) || self.status.promote_full {
            return self.replicas;
        }
        let resumed = self.world.rollout.spec.paused != Some(true) && self.status.pause_conditions.is_empty();
        if resumed && self.status.blue_green.scale_up_preview_check_point { self.replicas } else { preview }
    }

    /// Scales the stable, new and other ReplicaSets (Argo's `reconcileBlueGreenReplicaSets`);
    /// returns the new ReplicaSet's desired count before any abort delay.
    fn scale(&mut self, new_rs: &ReplicaSetState) -> i32 {
        let delays_abort = self.delays_abort_scale_down();
        if new_rs.scale_down_deadline.is_some() && !delays_abort {
            self.out.actions.push(Action::SetScaleDownDeadline { name: new_rs.name.clone(), deadline: None });
        }
        if let Some(stable) = self.stable_rs().filter(|s| s.hash != new_rs.hash).cloned() {
            if stable.scale_down_deadline.is_some() {
                self.out.actions.push(Action::SetScaleDownDeadline { name: stable.name.clone(), deadline: None });
            }
            scale_replica_set(self.out, &stable, self.replicas);
        }
        let desired = self.desired_new_replicas(new_rs);
        let to = if delays_abort { self.abort_scale_down(new_rs) } else { desired };
        if scale_replica_set(self.out, new_rs, to)
            && let Some(rs) = self.new_rs.as_mut()
        {
            rs.replicas = to;
        }
        self.scale_down_others();
        desired
    }

    /// Whether an aborted update keeps the new ReplicaSet's pods for a while (Argo's
    /// `shouldDelayScaleDownOnAbort`): with a stable ReplicaSet and a non-zero
    /// `abortScaleDownDelaySeconds`. With 0 they stay up for ever.
    fn delays_abort_scale_down(&self) -> bool {
        self.status.abort && self.stable_rs().is_some() && self.bg.abort_scale_down_delay_seconds() != 0
    }

    /// The new ReplicaSet's count while aborted: kept until a deadline that delay after the
    /// stable ReplicaSet can serve everything again, then 0.
    fn abort_scale_down(&mut self, new_rs: &ReplicaSetState) -> i32 {
        match new_rs.scale_down_deadline {
            Some(deadline) if self.now >= deadline => 0,
            Some(deadline) => {
                self.out.requeue(deadline.since(self.now));
                new_rs.replicas
            }
            None => {
                if self.stable_rs().is_some_and(|rs| rs.available >= self.replicas) {
                    let delay = i64::from(self.bg.abort_scale_down_delay_seconds()) * 1000;
                    let deadline = Some(self.now.plus_millis(delay));
                    self.out.actions.push(Action::SetScaleDownDeadline { name: new_rs.name.clone(), deadline });
                    self.out.requeue(delay);
                }
                new_rs.replicas
            }
        }
    }

    /// Old ReplicaSets no Service or status field refers to go to zero after
    /// `scaleDownDelaySeconds` (Argo's `scaleDownOldReplicaSetsForBlueGreen`); beyond
    /// `scaleDownDelayRevisionLimit` of them at once. Without a delay of its own and with
    /// post-promotion analysis, they wait for that analysis to succeed.
    fn scale_down_others(&mut self) {
        if self.has_pause(PAUSE_REASON_INCONCLUSIVE) {
            return;
        }
        let post = self.status.blue_green.post_promotion_analysis_run_status.as_ref();
        let awaiting_post = self.bg.post_promotion_analysis.is_some()
            && self.bg.scale_down_delay_seconds.is_none()
            && !self.skip_post_promotion_analysis()
            && post.is_none_or(|run| run.status != AnalysisPhase::Successful.as_str());
        if awaiting_post {
            return;
        }
        let referenced = [
            self.status.stable_rs.clone(),
            Some(self.pod_hash.clone()),
            self.status.blue_green.active_selector.clone(),
            self.status.blue_green.preview_selector.clone(),
        ];
        let mut others: Vec<ReplicaSetState> = self
            .world
            .replica_sets
            .iter()
            .filter(|rs| !referenced.contains(&Some(rs.hash.clone())) && rs.replicas > 0)
            .cloned()
            .collect();
        others.sort_by_key(|rs| std::cmp::Reverse(rs.revision));
        let delay = i64::from(self.bg.scale_down_delay_seconds()) * 1000;
        let limit = self.bg.scale_down_delay_revision_limit.map_or(usize::MAX, |l| l.max(0) as usize);
        let mut delayed = 0;
        for rs in others {
            let to = match rs.scale_down_deadline {
                None if delayed < limit && delay > 0 => {
                    delayed += 1;
                    let deadline = Some(self.now.plus_millis(delay));
                    self.out.actions.push(Action::SetScaleDownDeadline { name: rs.name.clone(), deadline });
                    self.out.requeue(delay);
                    rs.replicas
                }
                None => 0,
                Some(deadline) => {
                    delayed += 1;
                    if delayed <= limit && self.now < deadline {
                        self.out.requeue(deadline.since(self.now));
                        self.replicas
                    } else {
                        self.out.actions.push(Action::SetScaleDownDeadline { name: rs.name.clone(), deadline: None });
                        0
                    }
                }
            };
            scale_replica_set(self.out, &rs, to);
        }
    }

    /// Argo's `CompletedBlueGreenPause`, judged on the status before this decision's pause:
    /// resumed by a person, past `autoPromotionSeconds`, or never meant to pause.
    fn completed_pause(&self) -> bool {
        if self.status.blue_green.scale_up_preview_check_point {
            return true;
        }
        let condition = self.status.pause_conditions.iter().find(|c| c.reason == PAUSE_REASON_BLUE_GREEN);
        if self.bg.auto_promotion_enabled() {
            let seconds = self.bg.auto_promotion_seconds();
            return seconds == 0 || condition.is_some_and(|c| self.now >= self.auto_promotion_at(c));
        }
        self.status.controller_pause && condition.is_none()
    }

    fn auto_promotion_at(&self, pause: &PauseCondition) -> Time {
        pause.start_time.plus_millis(i64::from(self.bg.auto_promotion_seconds()) * 1000)
    }

    /// Argo's `reconcileBlueGreenPause`, once the new ReplicaSet is up: pause before the
    /// switch when auto-promotion is off or delayed, lift the pause when it has run its
    /// course. Returns whether it paused just now.
    fn reconcile_pause(&mut self, fast_tracked: bool) -> bool {
        let needs_pause = !self.bg.auto_promotion_enabled() || self.bg.auto_promotion_seconds() > 0;
        if fast_tracked || self.status.blue_green.scale_up_preview_check_point || !needs_pause {
            self.status.pause_conditions.retain(|c| c.reason != PAUSE_REASON_BLUE_GREEN);
            return false;
        }
        if !self.completed_pre_promotion_analysis() {
            return false;
        }
        let condition = self.status.pause_conditions.iter().find(|c| c.reason == PAUSE_REASON_BLUE_GREEN).cloned();
        match condition {
            Some(_) if self.completed_pause() => {
                self.status.pause_conditions.retain(|c| c.reason != PAUSE_REASON_BLUE_GREEN);
                false
            }
            Some(c) => {
                if self.bg.auto_promotion_enabled() {
                    self.out.requeue(self.auto_promotion_at(&c).since(self.now));
                }
                false
            }
            // Promoted by a person: the pause condition is gone and the controller's pause stays.
            None if self.status.controller_pause => false,
            None => {
                self.pause(PAUSE_REASON_BLUE_GREEN);
                if self.bg.auto_promotion_enabled() {
                    self.out.requeue(i64::from(self.bg.auto_promotion_seconds()) * 1000);
                }
                true
            }
        }
    }

    fn pause(&mut self, reason: &str) {
        if self.has_pause(reason) {
            return;
        }
        self.status.pause_conditions.push(PauseCondition { reason: reason.to_string(), start_time: self.now });
        self.status.controller_pause = true;
    }

    /// Argo's `reconcileActiveService`: the active Service moves to the new ReplicaSet once it
    /// is fully up and the pause and pre-promotion analysis are done (at once when fast-tracked),
    /// and back to the stable one on abort.
    fn switch_active(&mut self, fast_tracked: bool, pause_done: bool) {
        let mut target = self.status.blue_green.active_selector.clone();
        if fast_tracked || (pause_done && self.completed_pre_promotion_analysis()) {
            target = Some(self.pod_hash.clone());
        }
        if self.status.abort {
            target = self.status.stable_rs.clone();
        }
        if target.is_some() {
            self.status.blue_green.active_selector = target;
        }
    }

    /// Argo's `shouldFullPromote` for blue-green: why the new ReplicaSet becomes stable now.
    fn full_promotion_reason(&self, new_rs: &ReplicaSetState) -> Option<String> {
        if self.stable_rs().is_none() {
            return Some("Initial deploy".to_string());
        }
        let active = self.status.blue_green.active_selector.as_deref();
        if active != Some(self.pod_hash.as_str()) {
            return None;
        }
        if self.status.promote_full {
            return Some("Full promotion requested".to_string());
        }
        if self.fast_rollback(new_rs) {
            let stable = self.stable_rs()?;
            let within_window = stable.hash != new_rs.hash && self.rollback_within_window(new_rs, stable);
            return Some(if within_window { "Rollback within window" } else { "Fast rollback" }.to_string());
        }
        if self.status.abort {
            return None;
        }
        if self.bg.post_promotion_analysis.is_some() {
            let post = self.status.blue_green.post_promotion_analysis_run_status.as_ref();
            if post.is_none_or(|run| run.status != AnalysisPhase::Successful.as_str()) {
                return None;
            }
        }
        Some("Completed blue-green update".to_string())
    }

    /// Argo's `promoteStable`: the new ReplicaSet is stable; pauses, abort and the full
    /// promotion are over.
    fn promote_stable(&mut self, reason: &str) {
        self.end_update_state();
        if self.status.stable_rs.as_deref() == Some(&self.pod_hash) {
            return;
        }
        let first = self.status.stable_rs.is_none();
        self.status.stable_rs = Some(self.pod_hash.clone());
        if !first {
            self.out.events.push(Event::normal(
                "RolloutCompleted",
                format!("Rollout completed update to revision {} ({}): {reason}", self.revision, self.pod_hash),
            ));
        }
        self.out.requeue(0);
    }

    /// Argo's `calculateScaleUpPreviewCheckPoint`: with `previewReplicaCount`, a one-way
    /// switch set once the preview is up and the pause and pre-promotion analysis are done;
    /// from then on the new ReplicaSet scales to all replicas before the switch.
    fn scale_up_preview_check_point(&self, pause_done: bool) -> bool {
        let Some(preview) = self.bg.preview_replica_count else { return false };
        if self.status.blue_green.scale_up_preview_check_point {
            return true;
        }
        if !self.completed_pre_promotion_analysis() || !pause_done {
            return false;
        }
        self.new_rs.as_ref().is_some_and(|rs| rs.available == preview)
    }

    fn completed_pre_promotion_analysis(&self) -> bool {
        if self.bg.pre_promotion_analysis.is_none() {
            return true;
        }
        let run = self.status.blue_green.pre_promotion_analysis_run_status.as_ref();
        run.is_some_and(|run| self.passed(run))
    }

    /// Successful, or inconclusive and promoted past by a person.
    fn passed(&self, run: &RolloutAnalysisRunStatus) -> bool {
        run.status == AnalysisPhase::Successful.as_str()
            || (run.status == AnalysisPhase::Inconclusive.as_str()
                && self.status.controller_pause
                && self.status.pause_conditions.is_empty())
    }

    /// Argo's `skipPrePromotionAnalysisRun` once a run exists: nothing left to analyse before
    /// the switch.
    fn skip_pre_promotion_analysis(&self) -> bool {
        let active = self.status.blue_green.active_selector.as_deref();
        self.status.stable_rs.as_deref() == Some(&self.pod_hash)
            || active.is_none_or(|a| a == self.pod_hash)
            || self.status.promote_full
    }

    fn skip_post_promotion_analysis(&self) -> bool {
        self.status.stable_rs.as_deref() == Some(&self.pod_hash)
            || self.status.blue_green.active_selector.as_deref() != Some(&self.pod_hash)
    }

    /// Pre-promotion analysis once the preview is fully up, post-promotion analysis once the
    /// active Service has switched; a failed or errored run aborts, an inconclusive one pauses.
    fn reconcile_analysis(&mut self, new_rs: &ReplicaSetState, ready_for_pause: bool) {
        if self.status.abort {
            return;
        }
        let saturated = new_rs.replicas == self.replicas && new_rs.available == self.replicas;
        if let Some(analysis) = self.bg.pre_promotion_analysis.clone() {
            let skip = self.skip_pre_promotion_analysis();
            let current = self.status.blue_green.pre_promotion_analysis_run_status.clone();
            let ready = current.is_some() || ready_for_pause;
            if let Some(run) = self.promotion_analysis("pre", &analysis, current, skip, ready) {
                self.status.blue_green.pre_promotion_analysis_run_status = Some(run);
            }
        }
        if self.status.abort {
            return;
        }
        if let Some(analysis) = self.bg.post_promotion_analysis.clone() {
            let skip = self.skip_post_promotion_analysis();
            let current = self.status.blue_green.post_promotion_analysis_run_status.clone();
            let ready = current.is_some() || saturated;
            if let Some(run) = self.promotion_analysis("post", &analysis, current, skip, ready) {
                self.status.blue_green.post_promotion_analysis_run_status = Some(run);
            }
        }
    }

    /// One promotion analysis (`kind` "pre" or "post", as Argo suffixes the run's name):
    /// stopped when no longer needed, started when `ready`, its verdict acted on. Returns the
    /// run's status to record.
    fn promotion_analysis(
        &mut self,
        kind: &str,
        analysis: &RolloutAnalysis,
        current: Option<RolloutAnalysisRunStatus>,
        skip: bool,
        ready: bool,
    ) -> Option<RolloutAnalysisRunStatus> {
        if skip {
            self.terminate(current.clone());
            return current;
        }
        if self.has_pause(PAUSE_REASON_INCONCLUSIVE) && current.is_none() {
            return None;
        }
        let base = format!("{}-{}-{}-{kind}", self.world.rollout.metadata.name(), self.pod_hash, self.revision);
        // A run that failed aborted the update; recorded still while the update is no longer
        // aborted, the update was retried, and measures afresh in a new run (Argo's
        // `needsNewAnalysisRun`).
        let failed = |run: &RolloutAnalysisRunStatus| {
            matches!(AnalysisPhase::parse(&run.status), Some(AnalysisPhase::Failed | AnalysisPhase::Error))
        };
        let current = current.filter(|c| is_run_named(&c.name, &base) && !failed(c));
        let label = if kind == "pre" { "PrePromotion" } else { "PostPromotion" };
        match find_run(self.world.analysis_runs, &base, current.as_ref()) {
            RunLookup::Observed(run) => {
                let observed = observe_analysis_run(self.out, label, current.as_ref(), &run);
                self.analysis_verdict(&observed);
                Some(observed)
            }
            RunLookup::Created => current,
            RunLookup::Free(_) if !ready => None,
            RunLookup::Free(name) => {
                let stable = self.status.stable_rs.clone().unwrap_or_default();
                let request = analysis_run_request(
                    self.world.rollout,
                    &stable,
                    &self.pod_hash,
                    name.clone(),
                    analysis.clone(),
                    None,
                );
                self.out.actions.push(Action::CreateAnalysisRun(request));
                Some(RolloutAnalysisRunStatus { name, status: "Pending".to_string(), message: String::new() })
            }
        }
    }

    fn analysis_verdict(&mut self, run: &RolloutAnalysisRunStatus) {
        match AnalysisPhase::parse(&run.status) {
            Some(phase @ (AnalysisPhase::Failed | AnalysisPhase::Error)) => {
                let detail = if run.message.is_empty() {
                    format!("AnalysisRun {} {}", run.name, phase.as_str().to_lowercase())
                } else {
                    run.message.clone()
                };
                self.abort(&format!("Rollout aborted update to revision {}: {detail}", self.revision));
            }
            Some(AnalysisPhase::Inconclusive) if !self.passed(run) => self.pause(PAUSE_REASON_INCONCLUSIVE),
            _ => {}
        }
    }

    /// Stops the update: the active Service goes back to the stable ReplicaSet (on the
    /// switch below) and the new one scales down after `abortScaleDownDelaySeconds`.
    fn abort(&mut self, message: &str) {
        if self.status.abort {
            return;
        }
        self.status.abort = true;
        self.status.aborted_at = Some(self.now);
        self.status.pause_conditions.clear();
        self.status.controller_pause = false;
        set_condition(self.status, CONDITION_PROGRESSING, "False", REASON_ABORTED, message, self.now);
        self.out.events.push(Event::warning(REASON_ABORTED, message));
        let pre = self.status.blue_green.pre_promotion_analysis_run_status.take();
        let post = self.status.blue_green.post_promotion_analysis_run_status.take();
        self.terminate(pre);
        self.terminate(post);
        self.out.requeue(0);
    }

    /// Stops a run that is still measuring; finished runs are left as they are.
    fn terminate(&mut self, run: Option<RolloutAnalysisRunStatus>) {
        if let Some(run) = run.filter(|r| matches!(r.status.as_str(), "Pending" | "Running")) {
            self.out.actions.push(Action::TerminateAnalysisRun { name: run.name });
        }
    }

    /// Counts as Argo's `syncRolloutStatusBlueGreen` writes them: availability and the
    /// scale subresource follow the ReplicaSet the active Service selects.
    fn update_counts(&mut self, new_rs: &ReplicaSetState) {
        let all = self.world.replica_sets;
        self.status.replicas = all.iter().map(|rs| rs.current).sum();
        self.status.updated_replicas = new_rs.current;
        let mut labels = self.world.rollout.spec.selector.clone().unwrap_or_default().match_labels;
        let active = self.replica_set(self.status.blue_green.active_selector.as_deref()).cloned();
        match active {
            Some(active) => {
                labels.insert(POD_TEMPLATE_HASH_LABEL.to_string(), active.hash.clone());
                self.status.hpa_replicas = Some(active.current);
                self.status.available_replicas = active.available;
                self.status.ready_replicas = active.ready;
            }
            None => {
                self.status.hpa_replicas = Some(self.status.replicas);
                self.status.available_replicas = all.iter().map(|rs| rs.available).sum();
                self.status.ready_replicas = all.iter().map(|rs| rs.ready).sum();
            }
        }
        let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.status.selector = Some(selector.join(","));
    }

    /// The `Progressing` condition and `progressDeadlineSeconds`, as for the canary: paused
    /// time and a running promotion analysis do not count.
    fn check_progress_deadline(&mut self, new_rs: &ReplicaSetState, paused: bool) {
        let bg = &self.status.blue_green;
        let measuring = [&bg.pre_promotion_analysis_run_status, &bg.post_promotion_analysis_run_status]
            .into_iter()
            .flatten()
            .any(|run| run.status == "Running" || run.status == "Pending");
        let waiting = paused || self.status.abort || !self.status.pause_conditions.is_empty() || measuring;
        let current = Some(self.pod_hash.as_str());
        let done = self.status.stable_rs.as_deref() == current
            && bg.active_selector.as_deref() == current
            && new_rs.available >= self.replicas;
        let progress = Progress { new_rs: Some(new_rs), done, waiting };
        if let Some(message) = check_progress_deadline(self.world, self.status, self.out, progress) {
            self.abort(&format!("Rollout aborted update to revision {}: {message}", self.revision));
        }
    }
}

//! A deterministic in-memory platform: it carries out the engine's decisions instantly, with
//! pods that become available after a chosen delay and a router that serves weights at once.
//!
//! `serin plan` uses it to show what a rollout will do before it is pushed, and the engine's
//! tests use it to replay whole rollouts in virtual time.

use crate::reconcile::reconcile;
use crate::state::{
    Action, AnalysisPhase, AnalysisRunRequest, AnalysisRunState, Decision, Event, PodState, ReplicaSetState,
    ServedWeights, TrafficIntent, World,
};
use serin_model::Time;
use serin_model::rollout::Rollout;

#[derive(Clone, Debug)]
pub struct Simulator {
    pub rollout: Rollout,
    pub replica_sets: Vec<ReplicaSetState>,
    pub analysis_runs: Vec<AnalysisRunState>,
    pub served: Option<ServedWeights>,
    /// Services the rollout names that the simulated cluster lacks.
    pub missing_services: Vec<String>,
    pub traffic: TrafficIntent,
    pub now: Time,
    /// How long a new pod takes to become available.
    pub pod_ready_after: i64,
    /// The verdict given to every AnalysisRun the engine starts.
    pub analysis_verdict: AnalysisPhase,
    /// Every AnalysisRun the engine asked for, in order, as it asked.
    pub analysis_requests: Vec<AnalysisRunRequest>,
    pub events: Vec<Event>,
    pod_counter: u64,
}

impl Simulator {
    pub fn new(rollout: Rollout, now: Time) -> Self {
        Simulator {
            rollout,
            replica_sets: Vec::new(),
            analysis_runs: Vec::new(),
            served: None,
            missing_services: Vec::new(),
            traffic: TrafficIntent::default(),
            now,
            pod_ready_after: 0,
            analysis_verdict: AnalysisPhase::Successful,
            analysis_requests: Vec::new(),
            events: Vec::new(),
            pod_counter: 0,
        }
    }

    /// One reconcile, with its decision carried out.
    pub fn step(&mut self) -> Decision {
        self.refresh_availability();
        let decision = reconcile(&World {
            rollout: &self.rollout,
            replica_sets: &self.replica_sets,
            analysis_runs: &self.analysis_runs,
            served_weights: self.served,
            missing_services: &self.missing_services,
            now: self.now,
        });
        self.apply(&decision);
        decision
    }

    /// Reconciles until the engine has nothing more to do at this instant.
    pub fn settle(&mut self) -> Option<i64> {
        for _ in 0..1000 {
            let before = self.rollout.status.clone();
            let served_before = self.served;
            let decision = self.step();
            let quiet = decision.actions.is_empty()
                && decision.requeue_after != Some(0)
                && before == self.rollout.status
                && served_before == self.served;
            if quiet {
                return decision.requeue_after;
            }
        }
        panic!("the engine did not settle within 1000 reconciles at {}", self.now)
    }

    /// Lets virtual time pass, reconciling at each moment something is due.
    pub fn advance(&mut self, millis: i64) {
        let end = self.now.plus_millis(millis);
        loop {
            let requeue = self.settle();
            let next_pod = self.next_pod_ready();
            let next = [requeue.map(|r| self.now.plus_millis(r.max(1))), next_pod].into_iter().flatten().min();
            match next {
                Some(at) if at <= end => self.now = at,
                _ => break,
            }
        }
        self.now = end;
        self.settle();
    }

    fn next_pod_ready(&self) -> Option<Time> {
        self.replica_sets
            .iter()
            .flat_map(|rs| rs.pods.iter())
            .filter(|p| !p.available)
            .map(|p| p.created.plus_millis(self.pod_ready_after))
            .min()
    }

    fn refresh_availability(&mut self) {
        for rs in &mut self.replica_sets {
            for pod in &mut rs.pods {
                pod.available = self.now >= pod.created.plus_millis(self.pod_ready_after);
            }
            rs.current = rs.pods.len() as i32;
            rs.available = rs.pods.iter().filter(|p| p.available).count() as i32;
            rs.ready = rs.available;
        }
    }

    fn apply(&mut self, decision: &Decision) {
        self.rollout.status = Some(decision.status.clone());
        self.events.extend(decision.events.iter().cloned());
        for action in &decision.actions {
            match action {
                Action::CreateReplicaSet(new) => {
                    self.replica_sets.push(ReplicaSetState {
                        name: new.name.clone(),
                        hash: new.hash.clone(),
                        revision: new.revision,
                        template: new.template.clone(),
                        replicas: new.replicas,
                        current: 0,
                        ready: 0,
                        available: 0,
                        created: self.now,
                        scale_down_deadline: None,
                        ephemeral: None,
                        avoids: new.avoid.clone(),
                        pods: Vec::new(),
                    });
                }
                Action::ScaleReplicaSet { name, to, .. } => {
                    if let Some(rs) = self.replica_sets.iter_mut().find(|rs| rs.name == *name) {
                        rs.replicas = *to;
                    }
                }
                Action::SetRevision { name, revision } => {
                    if let Some(rs) = self.replica_sets.iter_mut().find(|rs| rs.name == *name) {
                        rs.revision = *revision;
                    }
                }
                Action::SetScaleDownDeadline { name, deadline } => {
                    if let Some(rs) = self.replica_sets.iter_mut().find(|rs| rs.name == *name) {
                        rs.scale_down_deadline = *deadline;
                    }
                }
                Action::SyncEphemeralMetadata { name, desired, .. } => {
                    if let Some(rs) = self.replica_sets.iter_mut().find(|rs| rs.name == *name) {
                        rs.ephemeral = desired.clone();
                    }
                }
                Action::SetAntiAffinity { name, avoid } => {
                    if let Some(rs) = self.replica_sets.iter_mut().find(|rs| rs.name == *name) {
                        rs.avoids = avoid.clone();
                    }
                }
                Action::DeleteReplicaSet { name } => self.replica_sets.retain(|rs| rs.name != *name),
                Action::DeletePod { name } => {
                    for rs in &mut self.replica_sets {
                        rs.pods.retain(|p| p.name != *name);
                    }
                }
                Action::CreateAnalysisRun(request) => {
                    self.analysis_runs.push(AnalysisRunState {
                        name: request.name.clone(),
                        created: self.now,
                        phase: self.analysis_verdict,
                        message: String::new(),
                        terminating: false,
                    });
                    self.analysis_requests.push(request.clone());
                }
                Action::DeleteAnalysisRun { name } => self.analysis_runs.retain(|r| r.name != *name),
                Action::TerminateAnalysisRun { name } => {
                    let run = self.analysis_runs.iter_mut().find(|r| r.name == *name);
                    if let Some(run) = run.filter(|r| r.phase <= AnalysisPhase::Running) {
                        run.terminating = true;
                        run.phase = AnalysisPhase::Successful;
                    }
                }
            }
        }
        self.sync_pods();
        self.traffic = decision.traffic.clone();
        self.served = decision
            .traffic
            .canary_weight
            .map(|canary| ServedWeights { canary, stable: decision.traffic.max_weight - canary });
    }

    /// A ReplicaSet controller: creates or removes pods to match each `spec.replicas`
    /// (removing pods that are not yet available first, then the newest).
    fn sync_pods(&mut self) {
        for rs in &mut self.replica_sets {
            while (rs.pods.len() as i32) < rs.replicas {
                self.pod_counter += 1;
                rs.pods.push(PodState {
                    name: format!("{}-{}", rs.name, pod_suffix(self.pod_counter)),
                    created: self.now,
                    available: self.pod_ready_after == 0,
                });
            }
            while (rs.pods.len() as i32) > rs.replicas.max(0) {
                let victim = rs.pods.iter().rposition(|p| !p.available).unwrap_or(rs.pods.len() - 1);
                rs.pods.remove(victim);
            }
        }
        self.refresh_availability();
    }

    pub fn replica_set(&self, hash: &str) -> Option<&ReplicaSetState> {
        self.replica_sets.iter().find(|rs| rs.hash == hash)
    }
}

/// Five characters from Kubernetes' random-name alphabet, derived from a counter.
fn pod_suffix(mut n: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % 27) as usize] as char;
            n = n / 27 + 7;
            c
        })
        .collect()
}

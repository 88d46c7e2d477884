//! The `get rollout` header block, laid out as kubectl-argo-rollouts prints it (`%-17s`
//! labels, status icons, images tagged stable/canary, the five replica counts).

use serin_engine::phase::{actual_weight, set_weight, step_progress};
use serin_engine::state::ReplicaSetState;
use serin_model::rollout::Rollout;
use std::fmt::Write;

/// The icon kubectl-argo-rollouts puts before a phase or status.
pub fn icon(status: &str) -> &'static str {
    match status {
        "Healthy" | "Running" | "Successful" | "Completed" => "✔",
        "Progressing" | "Pending" | "ContainerCreating" => "◌",
        "Paused" => "॥",
        "Degraded" | "Failed" | "Error" | "CrashLoopBackOff" => "✖",
        "ScaledDown" | "Terminating" => "•",
        _ => "?",
    }
}

fn line(out: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{label:<17}{value}");
}

pub fn rollout_header(rollout: &Rollout, replica_sets: &[ReplicaSetState]) -> String {
    let status = rollout.status.clone().unwrap_or_default();
    let phase = status.phase.clone().unwrap_or_else(|| "Progressing".to_string());
    let mut out = String::new();
    line(&mut out, "Name:", rollout.metadata.name());
    line(&mut out, "Namespace:", rollout.metadata.namespace());
    line(&mut out, "Status:", format!("{} {phase}", icon(&phase)));
    if let Some(message) = status.message.as_deref().filter(|m| !m.is_empty()) {
        line(&mut out, "Message:", message);
    }
    line(&mut out, "Strategy:", "Canary");
    if let Some((index, steps)) = step_progress(rollout) {
        line(&mut out, "  Step:", format!("{index}/{steps}"));
    }
    line(&mut out, "  SetWeight:", set_weight(rollout));
    line(&mut out, "  ActualWeight:", actual_weight(rollout));
    let mut images = Vec::new();
    let mut by_revision: Vec<&ReplicaSetState> = replica_sets.iter().filter(|rs| rs.replicas > 0).collect();
    by_revision.sort_by_key(|rs| std::cmp::Reverse(rs.revision));
    for rs in by_revision.into_iter().rev() {
        let tag = if status.stable_rs.as_deref() == Some(&rs.hash) {
            " (stable)"
        } else if status.current_pod_hash.as_deref() == Some(&rs.hash) {
            " (canary)"
        } else {
            ""
        };
        for image in rs.template.images() {
            images.push(format!("{image}{tag}"));
        }
    }
    for (i, image) in images.iter().enumerate() {
        line(&mut out, if i == 0 { "Images:" } else { "" }, image);
    }
    let _ = writeln!(out, "Replicas:");
    line(&mut out, "  Desired:", rollout.spec.replicas());
    line(&mut out, "  Current:", status.replicas);
    line(&mut out, "  Updated:", status.updated_replicas);
    line(&mut out, "  Ready:", status.ready_replicas);
    line(&mut out, "  Available:", status.available_replicas);
    out
}

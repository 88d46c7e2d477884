//! What `promote`, `abort`, `retry`, `undo`, `pause`, `restart` and `set image` change on a
//! Rollout, as kubectl-argo-rollouts patches it. The engine then acts on the changed object.

use crate::state::{POD_TEMPLATE_HASH_LABEL, ReplicaSetState};
use serin_model::Time;
use serin_model::rollout::Rollout;

/// A command on a Rollout.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Promote { full: bool },
    Abort,
    Retry,
    Undo { to_revision: Option<i64> },
    Pause,
    Restart { at: Time },
    SetImage { container: String, image: String },
}

/// A command as a client sends it: the verb in the path, its arguments in the body.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CommandRequest {
    pub full: bool,
    pub to_revision: Option<i64>,
    pub container: Option<String>,
    pub image: Option<String>,
    /// `restart --in`: milliseconds from now.
    pub in_millis: Option<i64>,
}

impl Command {
    /// The command a verb (`promote`, `abort`, `retry`, `undo`, `pause`, `restart`,
    /// `set-image`) and its arguments name, at time `now`.
    pub fn from_request(verb: &str, request: &CommandRequest, now: Time) -> Result<Command, String> {
        Ok(match verb {
            "promote" => Command::Promote { full: request.full },
            "abort" => Command::Abort,
            "retry" => Command::Retry,
            "undo" => Command::Undo { to_revision: request.to_revision },
            "pause" => Command::Pause,
            "restart" => Command::Restart { at: now.plus_millis(request.in_millis.unwrap_or(0)) },
            "set-image" => Command::SetImage {
                container: request.container.clone().unwrap_or_else(|| "*".to_string()),
                image: request.image.clone().ok_or("set-image needs an image")?,
            },
            other => return Err(format!("unknown rollout command {other:?}")),
        })
    }
}

/// Applies a command; the error says why it cannot apply, in words for the person who typed it.
pub fn apply_command(rollout: &mut Rollout, command: &Command, replica_sets: &[ReplicaSetState]) -> Result<(), String> {
    let name = rollout.metadata.name().to_string();
    let steps = rollout.spec.strategy.canary.as_ref().map_or(0, |c| c.steps.len()) as i32;
    let status = rollout.status.get_or_insert_with(Default::default);
    // Judged against the template as it is now, which the engine may not have seen yet.
    let up_to_date = status.stable_rs.as_ref() == Some(&rollout.spec.template.hash(status.collision_count));
    match command {
        Command::Promote { full } => {
            if status.abort {
                return Err(format!(
                    "rollout '{name}' is aborted: use `retry rollout {name}` to start the update again"
                ));
            }
            let manually_paused = rollout.spec.paused == Some(true);
            rollout.spec.paused = None;
            if *full {
                if up_to_date {
                    return Err(format!("rollout '{name}' is already fully promoted"));
                }
                status.promote_full = true;
                status.pause_conditions.clear();
            } else if !status.pause_conditions.is_empty() {
                status.pause_conditions.clear();
                status.controller_pause = true;
            } else if manually_paused {
            } else if status.current_step_index.unwrap_or(steps) < steps {
                status.current_step_index = Some(status.current_step_index.unwrap_or(0) + 1);
            } else {
                return Err(format!("rollout '{name}' is not paused and has no steps left to promote"));
            }
        }
        Command::Abort => {
            if up_to_date {
                return Err(format!("rollout '{name}' has no update in progress to abort"));
            }
            status.abort = true;
            status.aborted_at = None;
        }
        Command::Retry => {
            if !status.abort {
                return Err(format!("rollout '{name}' is not aborted; nothing to retry"));
            }
            status.abort = false;
            status.aborted_at = None;
            status.current_step_index = Some(0);
            status.pause_conditions.clear();
            status.controller_pause = false;
            status.conditions.retain(|c| c.kind != crate::phase::CONDITION_PROGRESSING);
        }
        Command::Undo { to_revision } => {
            let current = status.current_pod_hash.clone();
            let mut candidates: Vec<&ReplicaSetState> = replica_sets.iter().collect();
            candidates.sort_by_key(|rs| std::cmp::Reverse(rs.revision));
            let target = match to_revision {
                Some(revision) => candidates
                    .iter()
                    .find(|rs| rs.revision == *revision)
                    .ok_or_else(|| format!("rollout '{name}' has no revision {revision}"))?,
                None => candidates
                    .iter()
                    .find(|rs| Some(&rs.hash) != current.as_ref())
                    .ok_or_else(|| format!("rollout '{name}' has no previous revision to go back to"))?,
            };
            let mut template = target.template.clone();
            if let Some(labels) = template.0.pointer_mut("/metadata/labels").and_then(|l| l.as_object_mut()) {
                labels.remove(POD_TEMPLATE_HASH_LABEL);
            }
            rollout.spec.template = template;
        }
        Command::Pause => rollout.spec.paused = Some(true),
        Command::Restart { at } => rollout.spec.restart_at = Some(*at),
        Command::SetImage { container, image } => {
            if !rollout.spec.template.set_image(container, image) {
                let names: Vec<String> =
                    rollout.spec.template.containers().iter().map(|c| c.name.to_string()).collect();
                return Err(format!(
                    "rollout '{name}' has no container named {container:?}; its containers are: {}",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(())
}

//! What the CLI's rollout commands read and change in a cluster: a Rollout with the
//! ReplicaSets, pods and AnalysisRuns it owns (the tree `get rollout` draws), and `promote`,
//! `abort`, `retry`, `undo`, `pause`, `restart` and `set image` carried out the way
//! kubectl-argo-rollouts does it: the Rollout's spec and status changed through the API
//! server, the controller acting on the change.

use crate::controller::{Error, now};
use crate::resources::{self, from_json, to_json};
use kube::Client;
use kube::api::{ListParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value as Json, json};
use serin_engine::command::{Command, apply_command};
use serin_engine::objects::{controller_uid, replica_set_state};
use serin_model::rollout::Rollout;

async fn get_rollout(client: &Client, namespace: &str, name: &str) -> Result<Json, Error> {
    let api = resources::namespaced(client, namespace, &resources::rollouts());
    match api.get_opt(name).await? {
        Some(rollout) => Ok(to_json(&rollout)),
        None => Err(Error::Invalid(format!("rollout '{name}' not found in namespace {namespace}"))),
    }
}

/// The objects of `resource` in `namespace` controlled by any of `owners` (uids), in one list.
async fn owned(client: &Client, namespace: &str, resource: &ApiResource, owners: &[&str]) -> Result<Vec<Json>, Error> {
    let list = resources::namespaced(client, namespace, resource).list(&ListParams::default()).await?;
    Ok(list.items.iter().map(to_json).filter(|o| controller_uid(o).is_some_and(|uid| owners.contains(&uid))).collect())
}

/// The Rollout and what it owns, in the shape the CLI's tree view reads.
pub async fn rollout_tree(client: &Client, namespace: &str, name: &str) -> Result<Json, Error> {
    let rollout = get_rollout(client, namespace, name).await?;
    let uid = rollout["metadata"]["uid"].as_str().unwrap_or_default();
    let replica_sets = owned(client, namespace, &resources::replica_sets(), &[uid]).await?;
    let rs_uids: Vec<&str> = replica_sets.iter().filter_map(|rs| rs["metadata"]["uid"].as_str()).collect();
    let pods = owned(client, namespace, &resources::pods(), &rs_uids).await?;
    let runs = owned(client, namespace, &resources::analysis_runs(), &[uid]).await?;
    Ok(json!({
        "rollout": rollout, "replicaSets": replica_sets, "pods": pods, "analysisRuns": runs,
        "now": now().to_string(), "timeScale": 1.0,
    }))
}

/// Every Rollout in `namespace`, as `{"items": [...]}`.
pub async fn rollouts(client: &Client, namespace: &str) -> Result<Json, Error> {
    let list = resources::namespaced(client, namespace, &resources::rollouts()).list(&ListParams::default()).await?;
    Ok(json!({"items": list.items.iter().map(to_json).collect::<Vec<_>>()}))
}

/// One Rollout.
pub async fn rollout(client: &Client, namespace: &str, name: &str) -> Result<Json, Error> {
    get_rollout(client, namespace, name).await
}

/// Carries out a command on a Rollout; a concurrent change (the controller writing status)
/// is met by reading again and retrying.
pub async fn run_command(client: &Client, namespace: &str, name: &str, command: &Command) -> Result<(), Error> {
    let api = resources::namespaced(client, namespace, &resources::rollouts());
    for _ in 0..5 {
        let body = get_rollout(client, namespace, name).await?;
        let mut rollout: Rollout = serde_json::from_value(body.clone())
            .map_err(|e| Error::Invalid(format!("rollout '{name}' does not decode: {e}")))?;
        let uid = body["metadata"]["uid"].as_str().unwrap_or_default();
        let states: Vec<_> = owned(client, namespace, &resources::replica_sets(), &[uid])
            .await?
            .iter()
            .map(|rs| replica_set_state(rs, &[]))
            .collect();
        apply_command(&mut rollout, command, &states).map_err(Error::Invalid)?;
        let changed = serde_json::to_value(&rollout).map_err(kube::Error::SerdeError)?;
        let mut current = body.clone();
        let result = async {
            if current["spec"] != changed["spec"] {
                current["spec"] = changed["spec"].clone();
                let written = api
                    .replace(
                        name,
                        &PostParams::default(),
                        &from_json(current.clone()).map_err(kube::Error::SerdeError)?,
                    )
                    .await?;
                current["metadata"]["resourceVersion"] = written.metadata.resource_version.into();
            }
            if current["status"] != changed["status"] {
                current["status"] = changed["status"].clone();
                api.replace_status(name, &PostParams::default(), &from_json(current).map_err(kube::Error::SerdeError)?)
                    .await?;
            }
            Ok::<_, kube::Error>(())
        }
        .await;
        match result {
            Ok(()) => return Ok(()),
            Err(kube::Error::Api(status)) if status.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Invalid(format!("rollout '{name}' kept changing; try again")))
}

/// The Applications of a namespace, as `{"items": [...]}`.
pub async fn applications(client: &Client, namespace: &str) -> Result<Json, Error> {
    let api = resources::namespaced(client, namespace, &resources::applications());
    let list = api.list(&ListParams::default()).await?;
    Ok(json!({"items": list.items.iter().map(to_json).collect::<Vec<_>>()}))
}

/// Asks the controller to sync an Application now, as `argocd app sync` does: an
/// `operation` on the Application, which the controller carries out and removes.
pub async fn request_sync(client: &Client, namespace: &str, name: &str, prune: bool) -> Result<(), Error> {
    let api = resources::namespaced(client, namespace, &resources::applications());
    let patch = json!({"operation": {"sync": {"prune": prune}, "initiatedBy": {"username": "serin"}}});
    api.patch(name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await?;
    Ok(())
}

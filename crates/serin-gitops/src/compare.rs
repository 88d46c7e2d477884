//! An Application's desired manifests against the live objects: which are in sync (a
//! re-apply would change nothing), which are missing or would be pruned, the health of each
//! as Argo CD judges it, and the Application's own sync and health status.

use crate::apply::{Manifest, Outcome, merge};
use crate::source::Target;
use crate::tracking::{tracked_by, tracked_manifest};
use crate::waves::is_hook;
use serde_json::Value as Json;
use serin_model::application::{HealthStatus, ResourceStatus};
use serin_model::object::KINDS;
use serin_model::{ObjectKey, Time};

/// Git against the live objects, for one Application.
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    /// Synced, OutOfSync, or Unknown when git could not be read.
    pub status: &'static str,
    pub health: HealthStatus,
    pub resources: Vec<ResourceStatus>,
    /// The images of the Rollouts it runs.
    pub images: Vec<String>,
    /// Conditions to show (a desired object another Application tracks is never taken over).
    pub conditions: Vec<(&'static str, String)>,
    /// Live objects of this Application that git no longer has.
    pub extra: Vec<ObjectKey>,
    /// Objects git has that belong to another Application.
    pub foreign: Vec<ObjectKey>,
}

/// Compares `target` with the live objects: `live` looks one up by key, `tracked` are the
/// live objects carrying this Application's tracking id.
pub fn compare<E>(
    instance: &str,
    target: &Target,
    mut live: impl FnMut(&ObjectKey) -> Result<Option<Json>, E>,
    tracked: Vec<(ObjectKey, Json)>,
) -> Result<Comparison, E> {
    let mut comparison = Comparison::default();
    let mut synced = true;
    // Only whether a re-apply would change something matters here, not when it would happen.
    let now = Time::default();
    let manifests: &[Manifest] = match target {
        Target::Loaded { manifests, .. } => manifests,
        Target::Failed { .. } => &[],
    };
    // Hooks are created by a sync and are not the Application's resources.
    let manifests: Vec<&Manifest> = manifests.iter().filter(|m| !is_hook(m)).collect();
    let mut entries: Vec<(ObjectKey, Option<Json>, &'static str, bool)> = Vec::new();
    for manifest in &manifests {
        let desired = tracked_manifest(instance, manifest);
        let live = live(&desired.key)?;
        if let Some(owner) = live.as_ref().and_then(|l| tracked_by(&desired.key, l)).filter(|owner| *owner != instance)
        {
            comparison.conditions.push((
                "SharedResourceWarning",
                format!("{} is part of applications {owner} and {instance}; serin leaves it to {owner}", desired.key),
            ));
            comparison.foreign.push(desired.key.clone());
        }
        let outcome = merge(live.as_ref(), &desired.body, "", now).1;
        let in_sync = live.is_some() && outcome == Outcome::Unchanged;
        synced &= in_sync;
        entries.push((desired.key, live, if in_sync { "Synced" } else { "OutOfSync" }, false));
    }
    for (key, body) in tracked {
        if !manifests.iter().any(|m| m.key == key) {
            synced = false;
            comparison.extra.push(key.clone());
            match target {
                Target::Loaded { .. } => entries.push((key, Some(body), "OutOfSync", true)),
                Target::Failed { .. } => entries.push((key, Some(body), "Unknown", false)),
            }
        }
    }
    comparison.status = match target {
        Target::Failed { .. } => "Unknown",
        Target::Loaded { .. } if synced => "Synced",
        Target::Loaded { .. } => "OutOfSync",
    };
    let mut worst: Option<HealthStatus> = None;
    for (key, live, status, requires_pruning) in entries {
        let health = match &live {
            Some(body) => resource_health(&key.kind, body),
            None => HealthStatus { status: "Missing".to_string(), message: None },
        };
        if worst.as_ref().is_none_or(|w| rank(&health.status) > rank(&w.status)) {
            worst = Some(health.clone());
        }
        if let Some(body) = &live
            && key.kind == "Rollout"
        {
            let containers = body.pointer("/spec/template/spec/containers").and_then(Json::as_array);
            for image in containers.into_iter().flatten().filter_map(|c| c["image"].as_str()) {
                if !comparison.images.iter().any(|i| i == image) {
                    comparison.images.push(image.to_string());
                }
            }
        }
        comparison.resources.push(ResourceStatus {
            version: version_of(&key),
            group: key.group,
            kind: key.kind,
            namespace: key.namespace,
            name: key.name,
            status: status.to_string(),
            health: Some(health),
            requires_pruning: requires_pruning.then_some(true),
        });
    }
    comparison.health = worst.unwrap_or(HealthStatus { status: "Missing".to_string(), message: None });
    Ok(comparison)
}

/// One object that git and the live state disagree on.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Difference {
    pub key: ObjectKey,
    /// The live object, `None` when it is missing.
    pub live: Option<Json>,
    /// What a sync would make of it, `None` when a sync would prune it.
    pub target: Option<Json>,
}

/// For `app diff`: each object whose live state a sync would change, as kubectl's three-way
/// merge would write it, and each live object of the Application that git no longer has.
pub fn differences<E>(
    instance: &str,
    manifests: &[Manifest],
    mut live: impl FnMut(&ObjectKey) -> Result<Option<Json>, E>,
    tracked: Vec<(ObjectKey, Json)>,
) -> Result<Vec<Difference>, E> {
    let mut out = Vec::new();
    let manifests: Vec<&Manifest> = manifests.iter().filter(|m| !is_hook(m)).collect();
    for manifest in &manifests {
        let desired = tracked_manifest(instance, manifest);
        let live = live(&desired.key)?;
        let (merged, outcome) = merge(live.as_ref(), &desired.body, "", Time::default());
        if outcome != Outcome::Unchanged {
            out.push(Difference { key: desired.key, live, target: Some(merged) });
        }
    }
    for (key, live) in tracked {
        if !manifests.iter().any(|m| m.key == key) {
            out.push(Difference { key, live: Some(live), target: None });
        }
    }
    Ok(out)
}

/// The API version of a kind in a group (`v1`, `v1alpha1`), as serin reads it.
pub fn version_of(key: &ObjectKey) -> Option<String> {
    KINDS.iter().find_map(|(api_version, kind, _)| {
        let group = serin_model::object::group_of(api_version);
        (*kind == key.kind && group == key.group)
            .then(|| api_version.rsplit('/').next().unwrap_or_default().to_string())
    })
}

/// Argo CD's order of health, best first: an Application is as healthy as its worst object.
pub fn rank(health: &str) -> u8 {
    match health {
        "Healthy" => 0,
        "Suspended" => 1,
        "Progressing" => 2,
        "Missing" => 3,
        "Degraded" => 4,
        _ => 5,
    }
}

/// The health of one live object, as Argo CD judges it (Rollouts as its Argo Rollouts check
/// does; Services, TraefikServices, IngressRoutes and templates are healthy once they exist).
pub fn resource_health(kind: &str, body: &Json) -> HealthStatus {
    let health = |status: &str, message: Option<&str>| HealthStatus {
        status: status.to_string(),
        message: message.filter(|m| !m.is_empty()).map(str::to_string),
    };
    match kind {
        "Rollout" => {
            let generation = body.pointer("/metadata/generation").and_then(Json::as_i64).map(|g| g.to_string());
            let observed = body.pointer("/status/observedGeneration").and_then(Json::as_str).map(str::to_string);
            if generation != observed {
                return health("Progressing", Some("Waiting for rollout spec update to be observed"));
            }
            let message = body.pointer("/status/message").and_then(Json::as_str);
            match body.pointer("/status/phase").and_then(Json::as_str) {
                Some("Healthy") => health("Healthy", None),
                Some("Paused") => health("Suspended", message.or(Some("Rollout is paused"))),
                Some("Degraded") => health("Degraded", message),
                _ => health("Progressing", message),
            }
        }
        "AnalysisRun" => match body.pointer("/status/phase").and_then(Json::as_str) {
            Some("Successful") => health("Healthy", None),
            Some("Failed" | "Error") => health("Degraded", body.pointer("/status/message").and_then(Json::as_str)),
            Some("Inconclusive") => health("Suspended", None),
            _ => health("Progressing", None),
        },
        _ => health("Healthy", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rollout_health_as_argo_cd_reads_it() {
        let rollout = |phase: &str, observed: &str| json!({"metadata": {"generation": 2}, "status": {"phase": phase, "observedGeneration": observed, "message": "CanaryPauseStep"}});
        let status = |body: Json| resource_health("Rollout", &body).status;
        assert_eq!(status(rollout("Paused", "2")), "Suspended");
        assert_eq!(status(rollout("Degraded", "2")), "Degraded");
        assert_eq!(status(rollout("Healthy", "2")), "Healthy");
        assert_eq!(status(rollout("Healthy", "1")), "Progressing");
        assert_eq!(resource_health("Service", &json!({})).status, "Healthy");
        assert!(rank("Degraded") > rank("Missing") && rank("Missing") > rank("Suspended"));
    }
}

//! A pod template kept as the user wrote it.
//!
//! The template is stored verbatim (as JSON) rather than as typed structs: its exact content
//! decides the pod-template-hash, and the Kubernetes platform passes it through untouched.
//! `serin-podtemplate` checks it against the core/v1 schema and encodes it as Go does.

use crate::meta::Labels;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// A newtype rather than `#[serde(transparent)]` (JSON reads and writes it the same way), so
/// that the CRD generator can recognise it and describe it with the core/v1 schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PodTemplate(pub Json);

impl Default for PodTemplate {
    fn default() -> Self {
        PodTemplate(Json::Object(Default::default()))
    }
}

/// What a platform needs to know of one container.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerView<'a> {
    pub name: &'a str,
    pub image: &'a str,
}

impl PodTemplate {
    pub fn labels(&self) -> Labels {
        self.0
            .pointer("/metadata/labels")
            .and_then(Json::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default()
    }

    pub fn containers(&self) -> Vec<ContainerView<'_>> {
        self.0
            .pointer("/spec/containers")
            .and_then(Json::as_array)
            .map(|list| {
                list.iter()
                    .map(|c| ContainerView {
                        name: c.get("name").and_then(Json::as_str).unwrap_or_default(),
                        image: c.get("image").and_then(Json::as_str).unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The images of all containers, in order.
    pub fn images(&self) -> Vec<String> {
        self.containers().iter().map(|c| c.image.to_string()).collect()
    }

    /// Sets the image of the named container (`*` for all), as `set image` does; returns
    /// whether any container matched.
    pub fn set_image(&mut self, container: &str, image: &str) -> bool {
        let mut matched = false;
        if let Some(list) = self.0.pointer_mut("/spec/containers").and_then(Json::as_array_mut) {
            for c in list {
                if container == "*" || c.get("name").and_then(Json::as_str) == Some(container) {
                    c["image"] = image.into();
                    matched = true;
                }
            }
        }
        matched
    }

    /// Argo Rollouts' pod-template-hash of this template.
    pub fn hash(&self, collision_count: Option<i32>) -> String {
        serin_podtemplate::pod_template_hash(&self.0, collision_count)
    }
}

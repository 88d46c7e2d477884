//! The CustomResourceDefinitions of the argoproj.io kinds serin reads: Argo Rollouts' four
//! (Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun) and Argo CD's
//! Application, as `serin crd` prints them.
//!
//! They live in this crate rather than in the binary or a crate of their own because their
//! schemas are derived from this crate's serde types (module `shape`): a field added to the
//! model reaches the CRDs without a second edit. The pod template's part comes from the table
//! serin-podtemplate checks and hashes templates with, through [`serin_podtemplate::openapi_schema`].
//!
//! Names, short names, scopes, printer columns and subresources are Argo Rollouts' and Argo
//! CD's own, so kubectl, Argo CD and the tools written for Argo see the same resources. The schemas are structural
//! and carry no descriptions, keeping each CRD small enough for a client-side `kubectl apply`
//! (whose last-applied-configuration annotation must stay under 256 KiB), and no
//! `x-kubernetes-validations`, which API servers before 1.25 drop or reject. Plain strings
//! are `nullable`: a kube-apiserver 1.20 takes an empty string for null and refuses it where
//! null is not allowed, so a label value, an env value or a status message `""` would be
//! "must be of type string" (timestamps and enums have no valid empty value anyway).

mod shape;

use crate::analysis::{AnalysisRun, AnalysisTemplate};
use crate::application::Application;
use crate::rollout::Rollout;
use serde_json::{Map, Value, json};
use shape::{Shape, shape_of};

pub const GROUP: &str = "argoproj.io";
pub const VERSION: &str = "v1alpha1";

/// A column of `kubectl get`.
struct Column {
    name: &'static str,
    ty: &'static str,
    json_path: &'static str,
}

const AGE: Column = Column { name: "Age", ty: "date", json_path: ".metadata.creationTimestamp" };

struct Definition {
    kind: &'static str,
    plural: &'static str,
    short_name: &'static str,
    namespaced: bool,
    columns: &'static [Column],
    /// The Rollout's `status` and `scale` subresources (Argo's AnalysisRun has neither).
    subresources: Option<fn() -> Value>,
    shape: fn() -> Shape,
}

const DEFINITIONS: &[Definition] = &[
    Definition {
        kind: "Rollout",
        plural: "rollouts",
        short_name: "ro",
        namespaced: true,
        columns: &[
            Column { name: "Desired", ty: "integer", json_path: ".spec.replicas" },
            Column { name: "Current", ty: "integer", json_path: ".status.replicas" },
            Column { name: "Up-to-date", ty: "integer", json_path: ".status.updatedReplicas" },
            Column { name: "Available", ty: "integer", json_path: ".status.availableReplicas" },
            AGE,
        ],
        subresources: Some(|| {
            json!({
                "status": {},
                "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.HPAReplicas",
                    "labelSelectorPath": ".status.selector",
                },
            })
        }),
        shape: shape_of::<Rollout>,
    },
    Definition {
        kind: "AnalysisTemplate",
        plural: "analysistemplates",
        short_name: "at",
        namespaced: true,
        columns: &[AGE],
        subresources: None,
        shape: shape_of::<AnalysisTemplate>,
    },
    Definition {
        kind: "ClusterAnalysisTemplate",
        plural: "clusteranalysistemplates",
        short_name: "cat",
        namespaced: false,
        columns: &[AGE],
        subresources: None,
        shape: shape_of::<AnalysisTemplate>,
    },
    Definition {
        kind: "AnalysisRun",
        plural: "analysisruns",
        short_name: "ar",
        namespaced: true,
        columns: &[Column { name: "Status", ty: "string", json_path: ".status.phase" }, AGE],
        subresources: None,
        shape: shape_of::<AnalysisRun>,
    },
    // Argo CD's: its controller writes status on the object itself, with no subresource.
    Definition {
        kind: "Application",
        plural: "applications",
        short_name: "app",
        namespaced: true,
        columns: &[
            Column { name: "Sync Status", ty: "string", json_path: ".status.sync.status" },
            Column { name: "Health Status", ty: "string", json_path: ".status.health.status" },
        ],
        subresources: None,
        shape: shape_of::<Application>,
    },
];

/// The `apiextensions.k8s.io/v1` CustomResourceDefinitions.
pub fn definitions() -> Vec<Value> {
    DEFINITIONS.iter().map(definition).collect()
}

fn definition(d: &Definition) -> Value {
    let mut schema = openapi(&(d.shape)());
    // The API server owns the object's metadata; a CRD may say no more about it than this.
    schema["properties"]["metadata"] = json!({"type": "object"});
    let columns: Vec<Value> =
        d.columns.iter().map(|c| json!({"name": c.name, "type": c.ty, "jsonPath": c.json_path})).collect();
    let mut version = json!({
        "name": VERSION,
        "served": true,
        "storage": true,
        "schema": {"openAPIV3Schema": schema},
        "additionalPrinterColumns": columns,
    });
    if let Some(subresources) = d.subresources {
        version["subresources"] = subresources();
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{}.{GROUP}", d.plural)},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": d.kind,
                "listKind": format!("{}List", d.kind),
                "plural": d.plural,
                "singular": d.kind.to_lowercase(),
                "shortNames": [d.short_name],
            },
            "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
            "versions": [version],
        },
    })
}

/// The structural OpenAPI v3 schema of a shape.
fn openapi(shape: &Shape) -> Value {
    match shape {
        Shape::Bool => json!({"type": "boolean"}),
        Shape::Int32 => json!({"type": "integer", "format": "int32"}),
        Shape::Int64 => json!({"type": "integer", "format": "int64"}),
        Shape::Number => json!({"type": "number"}),
        Shape::String => json!({"type": "string", "nullable": true}),
        Shape::Time => json!({"type": "string", "format": "date-time"}),
        Shape::IntOrString => json!({"x-kubernetes-int-or-string": true}),
        Shape::Json => json!({"x-kubernetes-preserve-unknown-fields": true}),
        Shape::PodTemplate => serin_podtemplate::openapi_schema(),
        Shape::Enum(variants) => json!({"type": "string", "enum": variants}),
        Shape::List(item) => json!({"type": "array", "items": openapi(item)}),
        Shape::Map(value) if **value == Shape::Json => {
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
        }
        Shape::Map(value) => json!({"type": "object", "additionalProperties": openapi(value)}),
        Shape::Struct(fields) => {
            let properties: Map<String, Value> =
                fields.iter().map(|f| (f.name.to_string(), openapi(&f.shape))).collect();
            let required: Vec<&str> = fields.iter().filter(|f| f.required).map(|f| f.name).collect();
            let mut schema = json!({"type": "object", "properties": properties});
            if !required.is_empty() {
                schema["required"] = json!(required);
            }
            schema
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_of(kind: &str) -> Value {
        let crd = definitions().into_iter().find(|d| d["spec"]["names"]["kind"] == kind).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }

    #[test]
    fn rollout_schema_follows_the_model() {
        let root = schema_of("Rollout");
        assert_eq!(root["properties"]["metadata"], json!({"type": "object"}));
        let spec = &root["properties"]["spec"]["properties"];
        assert_eq!(spec["template"], serin_podtemplate::openapi_schema());
        assert_eq!(spec["restartAt"], json!({"type": "string", "format": "date-time"}));
        let canary = &spec["strategy"]["properties"]["canary"]["properties"];
        assert_eq!(canary["maxSurge"], json!({"x-kubernetes-int-or-string": true}));
        assert_eq!(
            canary["replicaProgressThreshold"]["properties"]["type"],
            json!({"type": "string", "enum": ["Percent", "Pods"]})
        );
        assert_eq!(
            canary["trafficRouting"]["properties"]["plugins"],
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
        );
        let header_route = &canary["steps"]["items"]["properties"]["setHeaderRoute"];
        assert_eq!(header_route["required"], json!(["name"]));
        let status = &root["properties"]["status"]["properties"];
        assert_eq!(status["HPAReplicas"], json!({"type": "integer", "format": "int32"}));
        assert_eq!(status["pauseConditions"]["items"]["required"], json!(["reason", "startTime"]));
    }

    #[test]
    fn analysis_providers_without_a_model_keep_what_they_are_given() {
        let metric = &schema_of("AnalysisTemplate")["properties"]["spec"]["properties"]["metrics"]["items"];
        assert_eq!(metric["required"], json!(["name", "provider"]));
        let provider = &metric["properties"]["provider"]["properties"];
        assert_eq!(provider["job"], json!({"x-kubernetes-preserve-unknown-fields": true}));
        assert_eq!(provider["prometheus"]["required"], json!(["query"]));
        assert_eq!(
            schema_of("AnalysisRun")["properties"]["status"],
            json!({"x-kubernetes-preserve-unknown-fields": true})
        );
    }
}

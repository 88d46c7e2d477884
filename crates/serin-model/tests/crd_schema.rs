//! The CRD schemas `serin crd` prints, held against the model both ways.
//!
//! - What serin reads passes the schema with nothing left over: the seed's manifests and
//!   maximal ones (`tests/crd/`) that set every field, checked by a small structural
//!   validator that calls a field the schema lacks a failure (the API server would prune it
//!   without a word).
//! - What the schema allows, serin reads: an object setting every field of a schema decodes
//!   in serin without an unknown field, its pod template passes serin-podtemplate's check.
//! - The schemas are structural, carry nothing older API servers refuse, and every path the
//!   CRDs name (printer columns, the scale subresource) is in them.

use serde_json::{Value, json};
use serin_model::analysis::{AnalysisRun, AnalysisTemplate};
use serin_model::crd::definitions;
use serin_model::decode::decode;
use serin_model::rollout::Rollout;
use serin_model::{FieldPath, Time};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const KINDS: [&str; 4] = ["Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun"];

fn crd(kind: &str) -> Value {
    static DEFINITIONS: OnceLock<Vec<Value>> = OnceLock::new();
    let definitions = DEFINITIONS.get_or_init(definitions);
    definitions
        .iter()
        .find(|d| d["spec"]["names"]["kind"] == kind)
        .unwrap_or_else(|| panic!("no CRD for {kind}"))
        .clone()
}

fn schema(kind: &str) -> Value {
    crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// Whether `value` passes `schema` as the API server would take it, with every field kept.
fn check(schema: &Value, value: &Value, path: &str, problems: &mut Vec<String>) {
    let mut problem = |message: String| problems.push(format!("{path}: {message}"));
    if path == "metadata" {
        // The object's own metadata is the API server's, whatever the CRD says.
        return;
    }
    if value.is_null() {
        // The API server drops nulls, or keeps them where the schema says nullable; Go and
        // serin read them as absent either way.
        return;
    }
    if schema["x-kubernetes-int-or-string"] == true {
        if !(value.is_i64() || value.is_string()) {
            problem(format!("expected an integer or a string, found {value}"));
        }
        return;
    }
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
    match schema["type"].as_str() {
        None if preserve => {}
        Some("object") => {
            let Some(object) = value.as_object() else { return problem(format!("expected an object, found {value}")) };
            for required in schema["required"].as_array().into_iter().flatten() {
                if !object.contains_key(required.as_str().unwrap()) {
                    problem(format!("missing required field {required}"));
                }
            }
            for (key, item) in object {
                let sub = schema["properties"].get(key).or_else(|| schema.get("additionalProperties"));
                match sub {
                    Some(sub) => check(sub, item, &join(path, key), problems),
                    None if preserve => {}
                    None => problems.push(format!("{}: unknown field, the API server would prune it", join(path, key))),
                }
            }
        }
        Some("array") => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(&schema["items"], item, &format!("{path}[{i}]"), problems);
                }
            }
            None => problem(format!("expected a list, found {value}")),
        },
        Some("string") => match value.as_str() {
            Some(text) if schema["format"] == "date-time" && Time::parse(text).is_err() => {
                problem(format!("{text:?} is not a date-time"))
            }
            Some(text) if schema.get("enum").is_some_and(|e| !e.as_array().unwrap().contains(value)) => {
                problem(format!("{text:?} is not one of {}", schema["enum"]))
            }
            Some(_) => {}
            None => problem(format!("expected a string, found {value}")),
        },
        Some("integer") => match value.as_i64() {
            Some(n) if schema["format"] == "int32" && i32::try_from(n).is_err() => {
                problem(format!("{n} is out of range for int32"))
            }
            Some(_) => {}
            None => problem(format!("expected an integer, found {value}")),
        },
        Some("number") if !value.is_number() => problem(format!("expected a number, found {value}")),
        Some("boolean") if !value.is_boolean() => problem(format!("expected a boolean, found {value}")),
        Some("number" | "boolean") => {}
        other => problem(format!("the schema has no type ({other:?})")),
    }
}

/// An object setting every field `schema` has, with a valid value for each.
fn every_field(schema: &Value) -> Value {
    if schema["x-kubernetes-int-or-string"] == true {
        return json!(1);
    }
    match schema["type"].as_str() {
        Some("object") => match (schema["properties"].as_object(), schema.get("additionalProperties")) {
            (Some(properties), _) => properties.iter().map(|(k, s)| (k.clone(), every_field(s))).collect(),
            (None, Some(values)) => json!({"key": every_field(values)}),
            (None, None) => json!({"any": "thing"}),
        },
        Some("array") => json!([every_field(&schema["items"])]),
        Some("string") if schema["format"] == "date-time" => json!("2024-06-23T04:30:04Z"),
        Some("string") => schema["enum"].get(0).cloned().unwrap_or(json!("text")),
        Some("integer") => json!(1),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        _ => json!({"any": "thing"}),
    }
}

/// Field paths of `schema` that none of `values` sets (for a list, any of its items), apart
/// from those in `skip` and below them.
fn unset(schema: &Value, values: &[&Value], path: &str, skip: &[&str], out: &mut Vec<String>) {
    if skip.contains(&path) {
        return;
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (key, sub) in properties {
            let present: Vec<&Value> = values.iter().filter_map(|v| v.get(key)).collect();
            match present.is_empty() {
                true if !skip.contains(&join(path, key).as_str()) => out.push(join(path, key)),
                true => {}
                false => unset(sub, &present, &join(path, key), skip, out),
            }
        }
    } else if let Some(sub) = schema.get("additionalProperties") {
        let present: Vec<&Value> = values.iter().filter_map(|v| v.as_object()).flat_map(|m| m.values()).collect();
        unset(sub, &present, &format!("{path}{{}}"), skip, out);
    } else if let Some(sub) = schema.get("items") {
        let present: Vec<&Value> = values.iter().filter_map(|v| v.as_array()).flatten().collect();
        unset(sub, &present, &format!("{path}[]"), skip, out);
    }
}

fn documents(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let documents = serin_model::yaml::parse_documents(&text).unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
    documents.iter().map(|d| d.root.to_json()).collect()
}

fn maximal(name: &str) -> Vec<Value> {
    documents(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crd").join(name))
}

/// Decodes `value` into `T` with serin's decoder (unknown fields are errors).
fn decodes<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, Vec<String>> {
    let documents = serin_model::yaml::parse_documents(&value.to_string()).unwrap();
    decode::<T>(&documents[0].root, &FieldPath::root())
        .map_err(|problems| problems.into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect())
}

fn assert_passes(kind: &str, document: &Value, origin: &str) {
    let mut problems = Vec::new();
    check(&schema(kind), document, "", &mut problems);
    assert!(problems.is_empty(), "{origin}: {kind} does not pass its CRD schema:\n{}", problems.join("\n"));
}

fn manifest_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            manifest_files(&entry, out);
        } else if entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(entry);
        }
    }
}

#[test]
fn the_seeds_manifests_pass_the_schemas() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // examples/ holds the example's manifests as they came, and the example Application.
    let mut files = Vec::new();
    manifest_files(&repo.join("examples"), &mut files);
    let mut checked = 0;
    for file in &files {
        for document in documents(file) {
            let kind = document["kind"].as_str().unwrap_or_default();
            if document["apiVersion"] == "argoproj.io/v1alpha1" && KINDS.contains(&kind) {
                assert_passes(kind, &document, &file.display().to_string());
                checked += 1;
            }
        }
    }
    assert!(checked >= 1, "no Rollout found in examples/");
}

#[test]
fn maximal_manifests_decode_in_serin_and_pass_the_schemas() {
    for document in maximal("maximal-rollout.yaml").iter().chain(&maximal("maximal-analysis.yaml")) {
        let kind = document["kind"].as_str().unwrap();
        let decoded = match kind {
            "Rollout" => decodes::<Rollout>(document).map(drop),
            "AnalysisRun" => decodes::<AnalysisRun>(document).map(drop),
            _ => decodes::<AnalysisTemplate>(document).map(drop),
        };
        assert_eq!(decoded, Ok(()), "{kind} {}", document["metadata"]["name"]);
        assert_passes(kind, document, "tests/crd");
    }
}

#[test]
fn maximal_manifests_set_every_field() {
    let rollouts = maximal("maximal-rollout.yaml");
    let analysis = maximal("maximal-analysis.yaml");
    let of_kind = |kind: &str| analysis.iter().filter(|d| d["kind"] == kind).collect::<Vec<_>>();
    // The pod template is the table's (checked below), the status is the controller's.
    let mut missing = Vec::new();
    unset(&schema("Rollout"), &rollouts.iter().collect::<Vec<_>>(), "", &["spec.template", "status"], &mut missing);
    unset(&schema("AnalysisTemplate"), &of_kind("AnalysisTemplate"), "", &[], &mut missing);
    // An AnalysisRun's metrics are an AnalysisTemplate's, set above.
    assert_eq!(
        schema("AnalysisRun")["properties"]["spec"]["properties"]["metrics"],
        schema("AnalysisTemplate")["properties"]["spec"]["properties"]["metrics"]
    );
    unset(&schema("AnalysisRun"), &of_kind("AnalysisRun"), "", &["spec.metrics"], &mut missing);
    assert!(missing.is_empty(), "fields no maximal manifest in tests/crd sets:\n{}", missing.join("\n"));
}

#[test]
fn an_object_with_every_field_of_a_schema_decodes_in_serin() {
    for kind in KINDS {
        let schema = schema(kind);
        let mut full = every_field(&schema);
        full["metadata"] = json!({"name": "every-field"});
        let mut problems = Vec::new();
        check(&schema, &full, "", &mut problems);
        assert!(problems.is_empty(), "{kind}: {problems:?}");
        let decoded = match kind {
            "Rollout" => decodes::<Rollout>(&full).map(drop),
            "AnalysisRun" => decodes::<AnalysisRun>(&full).map(drop),
            _ => decodes::<AnalysisTemplate>(&full).map(drop),
        };
        assert_eq!(decoded, Ok(()), "{kind}");
    }
    let template = &every_field(&schema("Rollout"))["spec"]["template"];
    assert!(template["spec"]["volumes"][0]["projected"].is_object(), "{template}");
    assert_eq!(serin_podtemplate::check(template), []);
}

#[test]
fn the_validator_finds_what_the_api_server_would_prune_or_refuse() {
    let mut rollout = maximal("maximal-rollout.yaml").remove(0);
    rollout["spec"]["strategy"]["canary"]["stepz"] = json!([]);
    rollout["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = json!("Always");
    rollout["spec"]["replicas"] = json!("ten");
    rollout["spec"]["restartAt"] = json!("yesterday");
    rollout["spec"]["strategy"]["canary"]["replicaProgressThreshold"]["type"] = json!("Most");
    rollout["spec"]["strategy"]["canary"]["steps"][6]["setHeaderRoute"]["match"][0] = json!({"headerName": "X"});
    let mut problems = Vec::new();
    check(&schema("Rollout"), &rollout, "", &mut problems);
    problems.sort();
    assert_eq!(
        problems,
        [
            "spec.replicas: expected an integer, found \"ten\"",
            "spec.restartAt: \"yesterday\" is not a date-time",
            "spec.strategy.canary.replicaProgressThreshold.type: \"Most\" is not one of [\"Percent\",\"Pods\"]",
            "spec.strategy.canary.steps[6].setHeaderRoute.match[0]: missing required field \"headerValue\"",
            "spec.strategy.canary.stepz: unknown field, the API server would prune it",
            "spec.template.spec.containers[0].imagePullPolicyy: unknown field, the API server would prune it",
        ]
    );
}

/// Walks every node of a schema with its path.
fn nodes<'a>(schema: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    out.push((path.clone(), schema));
    for (key, sub) in schema["properties"].as_object().into_iter().flatten() {
        nodes(sub, join(&path, key), out);
    }
    if let Some(sub) = schema.get("additionalProperties") {
        nodes(sub, format!("{path}{{}}"), out);
    }
    if let Some(sub) = schema.get("items") {
        nodes(sub, format!("{path}[]"), out);
    }
}

#[test]
fn schemas_are_structural_and_plain() {
    const KEYWORDS: [&str; 10] = [
        "type",
        "format",
        "enum",
        "nullable",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "x-kubernetes-int-or-string",
        "x-kubernetes-preserve-unknown-fields",
    ];
    for kind in KINDS {
        let schema = schema(kind);
        let mut all = Vec::new();
        nodes(&schema, String::new(), &mut all);
        for (path, node) in all {
            let node = node.as_object().unwrap();
            let unexpected: Vec<&String> = node.keys().filter(|k| !KEYWORDS.contains(&k.as_str())).collect();
            assert!(unexpected.is_empty(), "{kind} {path}: {unexpected:?}");
            let typed = node.contains_key("type")
                || node.contains_key("x-kubernetes-int-or-string")
                || node.contains_key("x-kubernetes-preserve-unknown-fields");
            assert!(typed, "{kind} {path} has no type");
            assert!(!(node.contains_key("properties") && node.contains_key("additionalProperties")), "{kind} {path}");
            // An empty string is null to a 1.20 API server: plain strings must allow it.
            let plain_string = node.get("type").is_some_and(|t| t == "string")
                && !node.contains_key("format")
                && !node.contains_key("enum");
            assert_eq!(plain_string, node.get("nullable") == Some(&json!(true)), "{kind} {path}: {node:?}");
            for required in node.get("required").and_then(Value::as_array).into_iter().flatten() {
                assert!(node["properties"].get(required.as_str().unwrap()).is_some(), "{kind} {path}: {required}");
            }
        }
        assert_eq!(schema["properties"]["metadata"], json!({"type": "object"}), "{kind}");
    }
}

/// The schema node a CRD's JSON path (`.status.HPAReplicas`) names, or the node that keeps
/// whatever is below it (an AnalysisRun's status).
fn at_path<'a>(schema: &'a Value, json_path: &str) -> &'a Value {
    json_path.trim_start_matches('.').split('.').fold(schema, |node, key| match node.get("properties") {
        None if node["x-kubernetes-preserve-unknown-fields"] == true => node,
        _ => &node["properties"][key],
    })
}

#[test]
fn columns_and_the_scale_subresource_name_fields_of_the_schemas() {
    for kind in KINDS {
        let crd = crd(kind);
        let version = &crd["spec"]["versions"][0];
        let schema = &version["schema"]["openAPIV3Schema"];
        for column in version["additionalPrinterColumns"].as_array().unwrap() {
            let path = column["jsonPath"].as_str().unwrap();
            if path == ".metadata.creationTimestamp" {
                continue;
            }
            let node = at_path(schema, path);
            let ty = column["type"].as_str().unwrap();
            assert!(
                node["type"] == ty || node["x-kubernetes-preserve-unknown-fields"] == true,
                "{kind} {path}: {node}"
            );
        }
        let scale = &version["subresources"]["scale"];
        if kind == "Rollout" {
            assert_eq!(at_path(schema, scale["specReplicasPath"].as_str().unwrap())["type"], "integer");
            assert_eq!(at_path(schema, scale["statusReplicasPath"].as_str().unwrap())["type"], "integer");
            assert_eq!(at_path(schema, scale["labelSelectorPath"].as_str().unwrap())["type"], "string");
        } else {
            assert!(scale.is_null(), "{kind}");
        }
    }
}

#[test]
fn a_cluster_analysis_template_is_an_analysis_template_without_a_namespace() {
    assert_eq!(schema("ClusterAnalysisTemplate"), schema("AnalysisTemplate"));
    assert_eq!(crd("ClusterAnalysisTemplate")["spec"]["scope"], "Cluster");
    assert_eq!(crd("AnalysisTemplate")["spec"]["scope"], "Namespaced");
}

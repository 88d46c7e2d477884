//! The pod template's OpenAPI v3 schema, generated from the table the checker and the encoder
//! walk (the `schema` module), so that a CustomResourceDefinition embedding a pod template (a
//! Rollout's `spec.template`) keeps exactly the fields serin checks and hashes: a field the
//! schema lacked would be pruned by the API server without a word.
//!
//! The schema is structural, as `apiextensions.k8s.io/v1` requires: every node has a type,
//! except quantities and int-or-string values (`x-kubernetes-int-or-string`) and opaque JSON
//! (`x-kubernetes-preserve-unknown-fields`). It has no descriptions, to keep the CRD small, and
//! no `required` lists: like [`crate::check`], it leaves what a pod needs to the API server's
//! validation of the pods themselves. Strings are `nullable`: a kube-apiserver 1.20 takes an
//! empty string for null and refuses it in a field that is not (`env: [{name: X, value: ""}]`
//! would be "must be of type string").

use crate::schema::{Def, POD_TEMPLATE_SPEC, Ty};
use serde_json::{Map, Value, json};

pub(crate) fn template_schema() -> Value {
    struct_schema(&POD_TEMPLATE_SPEC)
}

fn schema(ty: &Ty) -> Value {
    match *ty {
        Ty::Str => json!({"type": "string", "nullable": true}),
        Ty::I32 => json!({"type": "integer", "format": "int32"}),
        Ty::I64 => json!({"type": "integer", "format": "int64"}),
        Ty::Bool => json!({"type": "boolean"}),
        Ty::Quantity | Ty::IntOrString => json!({"x-kubernetes-int-or-string": true}),
        Ty::Time => json!({"type": "string", "format": "date-time"}),
        Ty::Raw => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        Ty::Struct(def) => struct_schema(def),
        Ty::List(item) => json!({"type": "array", "items": schema(item)}),
        Ty::Map(value) => json!({"type": "object", "additionalProperties": schema(value)}),
    }
}

fn struct_schema(def: &Def) -> Value {
    let mut properties = Map::new();
    add_properties(def, &mut properties);
    json!({"type": "object", "properties": properties})
}

/// Adds the struct's fields, splicing in those of inline (embedded) structs as Go does.
fn add_properties(def: &Def, properties: &mut Map<String, Value>) {
    for field in def.fields {
        match field.ty {
            Ty::Struct(inner) if field.name.is_empty() => add_properties(inner, properties),
            ty => {
                properties.insert(field.name.to_string(), schema(&ty));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_their_kinds() {
        let root = template_schema();
        let container = &root["properties"]["spec"]["properties"]["containers"]["items"]["properties"];
        assert_eq!(
            container["ports"]["items"]["properties"]["containerPort"],
            json!({"type": "integer", "format": "int32"})
        );
        assert_eq!(
            container["resources"]["properties"]["limits"]["additionalProperties"],
            json!({"x-kubernetes-int-or-string": true})
        );
        assert_eq!(
            container["readinessProbe"]["properties"]["httpGet"]["properties"]["port"],
            json!({"x-kubernetes-int-or-string": true})
        );
        assert_eq!(
            root["properties"]["metadata"]["properties"]["labels"],
            json!({"type": "object", "additionalProperties": {"type": "string", "nullable": true}})
        );
    }

    #[test]
    fn inline_structs_are_spliced_in() {
        let root = template_schema();
        let volume = &root["properties"]["spec"]["properties"]["volumes"]["items"]["properties"];
        assert!(volume["name"].is_object() && volume["configMap"].is_object(), "{volume}");
        let ephemeral = &root["properties"]["spec"]["properties"]["ephemeralContainers"]["items"]["properties"];
        assert!(ephemeral["image"].is_object() && ephemeral["targetContainerName"].is_object(), "{ephemeral}");
        assert!(!volume.as_object().unwrap().contains_key(""));
    }
}

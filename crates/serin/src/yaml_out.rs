//! `-o yaml`: JSON objects printed as block-style YAML, the way kubectl prints them.

use serde_json::Value;

pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    emit(value, 0, &mut out);
    out
}

fn emit(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, item) in map {
                out.push_str(&format!("{pad}{}:", scalar_text(&Value::String(key.clone()))));
                nested(item, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                match item {
                    Value::Object(map) if !map.is_empty() => {
                        // The first key goes on the dash's line.
                        let mut inner = String::new();
                        emit(item, indent + 2, &mut inner);
                        out.push(' ');
                        out.push_str(inner.trim_start());
                    }
                    _ => nested(item, indent, out),
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar_text(other));
            out.push('\n');
        }
    }
}

/// After `key:` or `-`: a scalar on the same line, a collection below.
fn nested(item: &Value, indent: usize, out: &mut String) {
    match item {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            emit(item, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            emit(item, indent, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar_text(other));
            out.push('\n');
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        Value::String(s) => {
            let plain = !s.is_empty()
                && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c))
                && !s.ends_with(' ')
                && !s.contains(": ")
                && !s.contains(" #")
                && !s.contains('\n')
                && serin_model::yaml::parse_documents(&format!("k: {s}"))
                    .ok()
                    .and_then(|d| d.first().and_then(|d| d.root.get("k").map(|n| n.value.clone())))
                    == Some(serin_model::yaml::Value::String(s.clone()));
            if plain { s.clone() } else { Value::String(s.clone()).to_string() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_serins_own_yaml_reader() {
        let value = serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "canary-active", "annotations": {"a": "x: y", "b": "10", "c": "true", "d": ""}},
            "spec": {"ports": [{"name": "http", "port": 80}, {"port": 81}], "selector": {}, "list": ["a", "-b"], "empty": []}
        });
        let yaml = to_yaml(&value);
        assert!(yaml.contains("  ports:\n  - name: http\n    port: 80\n  - port: 81\n"), "{yaml}");
        let back = serin_model::yaml::parse_documents(&yaml).unwrap()[0].root.to_json();
        assert_eq!(back, value, "{yaml}");
    }
}

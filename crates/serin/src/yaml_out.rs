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
                && !yaml_1_1_reads_otherwise(s)
                && serin_model::yaml::parse_documents(&format!("k: {s}"))
                    .ok()
                    .and_then(|d| d.first().and_then(|d| d.root.get("k").map(|n| n.value.clone())))
                    == Some(serin_model::yaml::Value::String(s.clone()));
            if plain { s.clone() } else { Value::String(s.clone()).to_string() }
        }
    }
}

/// Whether a YAML 1.1 reader (kubectl's, among others) would read this plain scalar as a
/// number where serin's reader sees a string: YAML 1.1's number forms (`1_000`, `017`,
/// `0b101`, `1:20` in base 60). Such strings are printed quoted; a few more quotes than needed
/// are harmless. YAML 1.1's booleans (`yes`, `on`, `y`...) need no list here: serin's reader
/// takes them for booleans as kubectl does, so the reading back above quotes them.
fn yaml_1_1_reads_otherwise(s: &str) -> bool {
    yaml_1_1_number(s)
}

fn yaml_1_1_number(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let all =
        |text: &str, digit: fn(char) -> bool| text.chars().any(digit) && text.chars().all(|c| digit(c) || c == '_');
    if let Some(hex) = body.strip_prefix("0x") {
        return all(hex, |c| c.is_ascii_hexdigit());
    }
    if let Some(binary) = body.strip_prefix("0b") {
        return all(binary, |c| c == '0' || c == '1');
    }
    let decimal = |text: &str| all(text, |c| c.is_ascii_digit() || c == '.') && text.matches('.').count() <= 1;
    let (mantissa, exponent) = body.split_once(['e', 'E']).map_or((body, None), |(m, e)| (m, Some(e)));
    let exponent_ok = exponent.is_none_or(|e| all(e.strip_prefix(['+', '-']).unwrap_or(e), |c| c.is_ascii_digit()));
    (decimal(mantissa) && exponent_ok) || (body.contains(':') && body.split(':').all(decimal))
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

    /// Booleans and the strings kubectl would read as booleans come back as they were.
    #[test]
    fn booleans_and_boolean_like_strings_round_trip() {
        let value = serde_json::json!({
            "on": true, "off": "no", "y": "Y", "list": [true, false, "yes", "On", "n", "OFF", "true"]
        });
        let yaml = to_yaml(&value);
        assert!(yaml.contains("\"on\": true\n") && yaml.contains("- false\n- \"yes\"\n"), "{yaml}");
        let back = serin_model::yaml::parse_documents(&yaml).unwrap()[0].root.to_json();
        assert_eq!(back, value, "{yaml}");
    }

    #[test]
    fn strings_a_yaml_1_1_reader_would_take_for_booleans_or_numbers_are_quoted() {
        for text in ["yes", "No", "on", "OFF", "y", "n", "1_000", "017", "0b101", "1:20", "0x1F", "+12", ".5", "1.5e+3"]
        {
            assert_eq!(scalar_text(&Value::String(text.into())), format!("{text:?}"), "{text}");
        }
        for text in ["canary", "v2", "yesterday", "ikubernetes/myapp:v2", "69dc9f5f56", "1.2.3", "a:1", "yEs"] {
            assert_eq!(scalar_text(&Value::String(text.into())), text, "{text}");
        }
    }
}

//! Validates a pod template against the schema table before it is hashed: fields Go would
//! silently drop (typos such as `imagePullPolicyy`), values Go could not decode into the
//! field's type, and malformed quantities or timestamps. Every problem is reported, each
//! with the path to the offending value.

use crate::SchemaIssue;
use crate::encode::int_value;
use crate::quantity;
use crate::schema::{Def, Ty};
use crate::time::Timestamp;
use serde_json::Value;

/// Checks `v` against the struct `def`, appending problems to `issues`.
pub(crate) fn check_root(def: &'static Def, v: &Value, issues: &mut Vec<SchemaIssue>) {
    let mut path = String::new();
    check_value(&Ty::Struct(def), v, &mut path, issues);
}

fn issue(issues: &mut Vec<SchemaIssue>, path: &str, message: String) {
    issues.push(SchemaIssue { path: path.to_string(), message });
}

/// "a string", "an integer", ...: what a JSON value is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a float",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn check_int(v: &Value, bits: u32, path: &str, issues: &mut Vec<SchemaIssue>) -> bool {
    let Some(n) = v.as_number() else {
        return false;
    };
    let (min, max) = if bits == 32 { (i64::from(i32::MIN), i64::from(i32::MAX)) } else { (i64::MIN, i64::MAX) };
    match int_value(v) {
        Some(i) if (min..=max).contains(&i) => {}
        Some(_) => issue(issues, path, format!("integer {n} is out of range for int{bits}")),
        None if n.is_u64() => issue(issues, path, format!("integer {n} is out of range for int{bits}")),
        None => issue(issues, path, format!("expected an integer, found a float ({n})")),
    }
    true
}

fn check_value(ty: &Ty, v: &Value, path: &mut String, issues: &mut Vec<SchemaIssue>) {
    if v.is_null() {
        // Go leaves the field at its zero value.
        return;
    }
    let expected = match ty {
        Ty::Str if v.is_string() => return,
        Ty::Str => "a string",
        Ty::Bool if v.is_boolean() => return,
        Ty::Bool => "a boolean",
        Ty::I32 | Ty::I64 => {
            let bits = if matches!(ty, Ty::I32) { 32 } else { 64 };
            if check_int(v, bits, path, issues) {
                return;
            }
            "an integer"
        }
        Ty::IntOrString => {
            if v.is_string() || check_int(v, 32, path, issues) {
                return;
            }
            "an integer or a string"
        }
        Ty::Quantity => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => {
                    issue(issues, path, format!("expected a quantity (a string or a number), found {}", kind(v)));
                    return;
                }
            };
            if quantity::canonical_value(v).is_none() {
                issue(issues, path, format!("invalid quantity {text:?}"));
            }
            return;
        }
        Ty::Time => {
            let Some(s) = v.as_str() else {
                issue(issues, path, format!("expected an RFC 3339 timestamp, found {}", kind(v)));
                return;
            };
            if Timestamp::parse(s).and_then(Timestamp::go_json).is_none() {
                issue(
                    issues,
                    path,
                    format!("invalid timestamp {s:?}, expected RFC 3339 such as \"2024-05-01T10:00:00Z\""),
                );
            }
            return;
        }
        Ty::Raw => return,
        Ty::Struct(def) => {
            if let Some(obj) = v.as_object() {
                for (key, child) in obj {
                    let len = path.len();
                    push_key(path, key);
                    match def.field(key) {
                        Some(f) => check_value(&f.ty, child, path, issues),
                        None => issue(issues, path, unknown_field(def, key)),
                    }
                    path.truncate(len);
                }
                return;
            }
            "a mapping"
        }
        Ty::Map(elem) => {
            if let Some(obj) = v.as_object() {
                for (key, child) in obj {
                    let len = path.len();
                    push_map_key(path, key);
                    check_value(elem, child, path, issues);
                    path.truncate(len);
                }
                return;
            }
            "a mapping"
        }
        Ty::List(elem) => {
            if let Some(items) = v.as_array() {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    check_value(elem, item, path, issues);
                    path.truncate(len);
                }
                return;
            }
            "a list"
        }
    };
    issue(issues, path, format!("expected {expected}, found {}", kind(v)));
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// Map keys such as label names may contain dots; those are quoted in brackets.
fn push_map_key(path: &mut String, key: &str) {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        push_key(path, key);
    } else {
        path.push_str(&format!("[{key:?}]"));
    }
}

/// `unknown field "x"`, with the closest known names when some are close enough to be a typo.
fn unknown_field(def: &Def, key: &str) -> String {
    let limit = (key.chars().count() / 4).max(1);
    let mut close: Vec<(usize, usize, &str)> = def
        .keys()
        .into_iter()
        .enumerate()
        .map(|(i, k)| (edit_distance(key, k), i, k))
        .filter(|&(d, _, _)| d <= limit)
        .collect();
    close.sort_unstable();
    if close.is_empty() {
        return format!("unknown field {key:?}");
    }
    let names: Vec<String> = close.iter().take(3).map(|(_, _, k)| format!("{k:?}")).collect();
    format!("unknown field {key:?}, expected one of {}", names.join(", "))
}

/// Levenshtein distance over characters, comparing case-insensitively so that
/// `imagepullpolicy` still finds `imagePullPolicy`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("imagePullPolicyy", "imagePullPolicy"), 1);
        assert_eq!(edit_distance("imagepullpolicy", "imagePullPolicy"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn map_keys_with_dots_are_bracketed() {
        let mut p = "metadata.labels".to_string();
        push_map_key(&mut p, "app.kubernetes.io/name");
        assert_eq!(p, r#"metadata.labels["app.kubernetes.io/name"]"#);
        let mut p = "resources.limits".to_string();
        push_map_key(&mut p, "cpu");
        assert_eq!(p, "resources.limits.cpu");
    }
}

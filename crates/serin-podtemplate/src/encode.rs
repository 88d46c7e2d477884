//! Encodes a pod template the way `json.Marshal(corev1.PodTemplateSpec)` does in Go: the
//! JSON is first "decoded" into the Go types described by [`crate::schema`] (unknown fields
//! and values of the wrong type are dropped, as they never reach a Go struct field) and then
//! printed field by field in declaration order, with Go's `omitempty`, pointer and map rules.

use crate::gojson::{push_raw, push_str};
use crate::quantity;
use crate::schema::{Def, Field, Ty};
use crate::time::Timestamp;
use serde_json::{Map, Value};

/// Encodes `v` as the Go struct `def`.
pub(crate) fn encode_root(def: &Def, v: &Value) -> String {
    let mut out = String::new();
    push_struct(&mut out, def, v.as_object());
    out
}

/// The value a Go field of type `ty` ends up holding for the JSON value `v`: `None` when the
/// field stays at its zero value (absent, `null`, or a value Go could not decode into `ty`).
fn decoded<'a>(ty: &Ty, v: Option<&'a Value>) -> Option<&'a Value> {
    let v = v?;
    let fits = match ty {
        Ty::Str => v.is_string(),
        Ty::I32 => int_value(v).is_some_and(|i| i32::try_from(i).is_ok()),
        Ty::I64 => int_value(v).is_some(),
        Ty::Bool => v.is_boolean(),
        Ty::Quantity => quantity::canonical_value(v).is_some(),
        Ty::IntOrString => v.is_string() || int_value(v).is_some_and(|i| i32::try_from(i).is_ok()),
        Ty::Time => v.as_str().and_then(Timestamp::parse).and_then(Timestamp::go_json).is_some(),
        Ty::Raw => !v.is_null(),
        Ty::Struct(_) | Ty::Map(_) => v.is_object(),
        Ty::List(_) => v.is_array(),
    };
    fits.then_some(v)
}

/// A JSON number that Go can decode into an integer field. Integral floats are accepted
/// because YAML such as `80.0` reaches the API server as the JSON number `80`.
pub(crate) fn int_value(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if n.as_u64().is_some() {
        return None;
    }
    let f = n.as_f64()?;
    let fits = f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64;
    fits.then_some(f as i64)
}

/// Whether a non-pointer `omitempty` field holding `v` is left out: Go omits empty strings,
/// zero numbers, `false`, and empty slices and maps, but never a struct value.
fn is_empty(ty: &Ty, v: Option<&Value>) -> bool {
    let Some(v) = v else {
        return !matches!(ty, Ty::Struct(_) | Ty::Quantity | Ty::IntOrString | Ty::Time);
    };
    match ty {
        Ty::Str => v.as_str() == Some(""),
        Ty::I32 | Ty::I64 => int_value(v) == Some(0),
        Ty::Bool => v.as_bool() == Some(false),
        Ty::List(_) => v.as_array().is_some_and(Vec::is_empty),
        Ty::Map(_) => v.as_object().is_some_and(Map::is_empty),
        Ty::Raw => false,
        Ty::Struct(_) | Ty::Quantity | Ty::IntOrString | Ty::Time => false,
    }
}

fn push_struct(out: &mut String, def: &Def, obj: Option<&Map<String, Value>>) {
    out.push('{');
    let mut first = true;
    push_fields(out, def, obj, &mut first);
    out.push('}');
}

fn push_fields(out: &mut String, def: &Def, obj: Option<&Map<String, Value>>, first: &mut bool) {
    for f in def.fields {
        if f.name.is_empty() {
            if let Ty::Struct(inner) = f.ty {
                push_fields(out, inner, obj, first);
            }
            continue;
        }
        let v = decoded(&f.ty, obj.and_then(|m| m.get(f.name)));
        if omitted(f, v) {
            continue;
        }
        if !*first {
            out.push(',');
        }
        *first = false;
        push_str(out, f.name);
        out.push(':');
        match (f.ptr, v) {
            (true, None) => out.push_str("null"),
            _ => push_value(out, &f.ty, v),
        }
    }
}

fn omitted(f: &Field, v: Option<&Value>) -> bool {
    if f.ptr {
        // A pointer is nil exactly when nothing was decoded into it.
        f.omitempty && v.is_none()
    } else {
        f.omitempty && is_empty(&f.ty, v)
    }
}

/// Prints the Go value of type `ty` decoded from `v` (`None` meaning the zero value).
fn push_value(out: &mut String, ty: &Ty, v: Option<&Value>) {
    match ty {
        Ty::Str => push_str(out, v.and_then(Value::as_str).unwrap_or("")),
        Ty::I32 | Ty::I64 => out.push_str(&v.and_then(int_value).unwrap_or(0).to_string()),
        Ty::Bool => out.push_str(if v.and_then(Value::as_bool).unwrap_or(false) { "true" } else { "false" }),
        Ty::Quantity => {
            // The zero Quantity prints as "0".
            let text = v.and_then(quantity::canonical_value).unwrap_or_else(|| "0".to_string());
            push_str(out, &text);
        }
        Ty::IntOrString => match v {
            Some(Value::String(s)) => push_str(out, s),
            _ => out.push_str(&v.and_then(int_value).unwrap_or(0).to_string()),
        },
        Ty::Time => {
            let text = v
                .and_then(Value::as_str)
                .and_then(Timestamp::parse)
                .and_then(Timestamp::go_json)
                .unwrap_or_else(|| "null".to_string());
            out.push_str(&text);
        }
        Ty::Raw => push_raw(out, v.unwrap_or(&Value::Null)),
        Ty::Struct(def) => push_struct(out, def, v.and_then(Value::as_object)),
        Ty::List(elem) => match v.and_then(Value::as_array) {
            None => out.push_str("null"),
            Some(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_value(out, elem, decoded(elem, Some(item)));
                }
                out.push(']');
            }
        },
        Ty::Map(elem) => match v.and_then(Value::as_object) {
            None => out.push_str("null"),
            Some(map) => {
                // Go sorts map keys by their bytes; do not rely on serde_json's map order.
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_str(out, k);
                    out.push(':');
                    push_value(out, elem, decoded(elem, map.get(k)));
                }
                out.push('}');
            }
        },
    }
}

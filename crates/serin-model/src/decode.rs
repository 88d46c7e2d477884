//! Decodes located YAML trees into typed manifests with serde.
//!
//! Kubernetes rejects unknown fields and wrong types; so does serin, and it says where. The
//! deserializer walks a [`Node`] tree, knows the field path and source position at every step,
//! reports every unknown field (not only the first), and attaches a position to serde's own
//! messages such as "missing field" or "invalid type".

use crate::path::FieldPath;
use crate::yaml::{Entry, Location, Node, Value};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use std::cell::RefCell;
use std::fmt;

/// A problem with a manifest, located by position and field path within one document.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub at: Location,
    pub path: FieldPath,
    pub message: String,
}

/// serde's error type for this deserializer; the position is attached on the way out.
#[derive(Debug)]
pub struct DecodeError {
    message: String,
    at: Option<(Location, FieldPath)>,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError { message: msg.to_string(), at: None }
    }
}

/// Decodes `node` (found at `path`) into `T`, collecting every problem found.
pub fn decode<T: DeserializeOwned>(node: &Node, path: &FieldPath) -> Result<T, Vec<Problem>> {
    match decode_with_problems(node, path) {
        (Some(value), problems) if problems.is_empty() => Ok(value),
        (_, problems) => Err(problems),
    }
}

/// Decodes `node` (found at `path`) into `T`, collecting every problem found, and keeps the
/// value when the only problems are unknown fields, so the checks that run on decoded values
/// can report their problems beside them.
pub fn decode_with_problems<T: DeserializeOwned>(node: &Node, path: &FieldPath) -> (Option<T>, Vec<Problem>) {
    let unknown = RefCell::new(Vec::new());
    let result = T::deserialize(NodeDeserializer { node, path: path.clone(), unknown: &unknown });
    let mut problems = unknown.into_inner();
    match result {
        Ok(value) => (Some(value), problems),
        Err(error) => {
            let (at, path) = error.at.unwrap_or((node.at, path.clone()));
            problems.push(Problem { at, path, message: error.message });
            problems.sort();
            (None, problems)
        }
    }
}

struct NodeDeserializer<'a> {
    node: &'a Node,
    path: FieldPath,
    unknown: &'a RefCell<Vec<Problem>>,
}

impl<'a> NodeDeserializer<'a> {
    fn child(&self, node: &'a Node, path: FieldPath) -> Self {
        NodeDeserializer { node, path, unknown: self.unknown }
    }

    fn locate(&self, error: DecodeError) -> DecodeError {
        DecodeError { at: error.at.or_else(|| Some((self.node.at, self.path.clone()))), ..error }
    }

    fn type_error(&self, expected: &str) -> DecodeError {
        self.locate(DecodeError {
            message: format!("expected {expected}, found {}", describe(&self.node.value)),
            at: None,
        })
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {s:?}"),
        Value::Int(n) => format!("the integer {n}"),
        Value::Float(x) => format!("the number {x}"),
        Value::Bool(b) => format!("the boolean {b}"),
        other => other.kind().to_string(),
    }
}

macro_rules! integer {
    ($method:ident, $ty:ty, $visit:ident, $name:literal) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            match self.node.value {
                Value::Int(n) => match <$ty>::try_from(n) {
                    Ok(v) => visitor.$visit(v).map_err(|e| self.locate(e)),
                    Err(_) => Err(self.locate(de::Error::custom(format!("{n} is out of range for {}", $name)))),
                },
                _ => Err(self.type_error($name)),
            }
        }
    };
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let result = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(n) => visitor.visit_i64(*n),
            Value::Float(x) => visitor.visit_f64(*x),
            Value::String(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(SeqAccess { de: &self, items: items.iter().enumerate() }),
            Value::Map(entries) => visitor.visit_map(MapAccess::new(&self, entries, None)),
        };
        result.map_err(|e| self.locate(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.node.value {
            Value::Bool(b) => visitor.visit_bool(b),
            _ => Err(self.type_error("a boolean")),
        }
    }

    integer!(deserialize_i8, i8, visit_i8, "an 8-bit integer");
    integer!(deserialize_i16, i16, visit_i16, "a 16-bit integer");
    integer!(deserialize_i32, i32, visit_i32, "a 32-bit integer");
    integer!(deserialize_i64, i64, visit_i64, "an integer");
    integer!(deserialize_u8, u8, visit_u8, "a non-negative 8-bit integer");
    integer!(deserialize_u16, u16, visit_u16, "a non-negative 16-bit integer");
    integer!(deserialize_u32, u32, visit_u32, "a non-negative 32-bit integer");
    integer!(deserialize_u64, u64, visit_u64, "a non-negative integer");

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.node.value {
            Value::Float(x) => visitor.visit_f64(x),
            Value::Int(n) => visitor.visit_f64(n as f64),
            _ => Err(self.type_error("a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::String(s) => visitor.visit_str(s).map_err(|e| self.locate(e)),
            _ => Err(self.type_error("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.node.value {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.type_error("null")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::Seq(items) => {
                visitor.visit_seq(SeqAccess { de: &self, items: items.iter().enumerate() }).map_err(|e| self.locate(e))
            }
            _ => Err(self.type_error("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::Map(entries) => visitor.visit_map(MapAccess::new(&self, entries, None)).map_err(|e| self.locate(e)),
            _ => Err(self.type_error("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::Map(entries) => {
                visitor.visit_map(MapAccess::new(&self, entries, Some(fields))).map_err(|e| self.locate(e))
            }
            _ => Err(self.type_error("a mapping")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::String(s) if variants.contains(&s.as_str()) => {
                visitor.visit_enum(s.as_str().into_deserializer()).map_err(|e: DecodeError| self.locate(e))
            }
            Value::String(s) => Err(self.locate(de::Error::custom(format!(
                "unsupported value {s:?}, expected one of: {}",
                variants.join(", ")
            )))),
            _ => Err(self.type_error("a string")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }
}

struct SeqAccess<'a, 'b> {
    de: &'b NodeDeserializer<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, '_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        let Some((index, node)) = self.items.next() else { return Ok(None) };
        let child = self.de.child(node, self.de.path.index(index));
        let (at, path) = (child.node.at, child.path.clone());
        seed.deserialize(child).map(Some).map_err(|e| DecodeError { at: e.at.or(Some((at, path))), ..e })
    }
}

/// Walks a mapping; for structs, keys the type does not declare are reported and skipped, and
/// null values are skipped (the field is absent).
struct MapAccess<'a, 'b> {
    de: &'b NodeDeserializer<'a>,
    entries: Vec<&'a Entry>,
    next: usize,
}

impl<'a, 'b> MapAccess<'a, 'b> {
    fn new(de: &'b NodeDeserializer<'a>, entries: &'a [Entry], fields: Option<&'static [&'static str]>) -> Self {
        let mut kept = Vec::with_capacity(entries.len());
        for entry in entries {
            match fields {
                Some(fields) if !fields.contains(&entry.key.as_str()) => {
                    de.unknown.borrow_mut().push(Problem {
                        at: entry.key_at,
                        path: de.path.key(&entry.key),
                        message: unknown_field_message(&entry.key, fields),
                    });
                }
                // A field written with no value (`labels:`) is absent, as Kubernetes reads it:
                // JSON null leaves a Go field unset.
                Some(_) if entry.value.value == Value::Null => {}
                _ => kept.push(entry),
            }
        }
        MapAccess { de, entries: kept, next: 0 }
    }
}

fn unknown_field_message(key: &str, fields: &[&str]) -> String {
    let closest = fields.iter().find(|f| f.eq_ignore_ascii_case(key) || edit_distance(f, key) <= 2);
    match closest {
        Some(suggestion) => format!("unknown field {key:?}, did you mean {suggestion:?}?"),
        None => format!("unknown field {key:?}, expected one of: {}", fields.join(", ")),
    }
}

/// Levenshtein distance, for "did you mean" hints on short field names.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, '_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        let Some(entry) = self.entries.get(self.next) else { return Ok(None) };
        seed.deserialize(entry.key.as_str().into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DecodeError> {
        let entry = self.entries[self.next];
        self.next += 1;
        let child = self.de.child(&entry.value, self.de.path.key(&entry.key));
        let (at, path) = (child.node.at, child.path.clone());
        seed.deserialize(child).map_err(|e| DecodeError { at: e.at.or(Some((at, path))), ..e })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_documents;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Outer {
        name: String,
        inner: Option<Inner>,
        #[serde(default)]
        items: Vec<Inner>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Inner {
        count: i32,
    }

    fn run(text: &str) -> Result<Outer, Vec<String>> {
        let docs = parse_documents(text).unwrap();
        decode::<Outer>(&docs[0].root, &FieldPath::root())
            .map_err(|ps| ps.into_iter().map(|p| format!("{}: {}: {}", p.at, p.path, p.message)).collect())
    }

    #[test]
    fn decodes_valid_documents() {
        let outer = run("name: a\ninner: {count: 2}\nitems:\n- count: 3\n").unwrap();
        assert_eq!(outer.items, vec![Inner { count: 3 }]);
    }

    #[test]
    fn reports_every_unknown_field_with_hints() {
        let errors = run("name: a\nnmae: b\ninner:\n  count: 1\n  colour: 2\n").unwrap_err();
        assert_eq!(
            errors,
            [
                "2:1: nmae: unknown field \"nmae\", did you mean \"name\"?",
                "5:3: inner.colour: unknown field \"colour\", expected one of: count",
            ]
        );
    }

    #[test]
    fn locates_type_errors_and_missing_fields() {
        assert_eq!(
            run("name: a\nitems:\n- count: 1\n- count: x\n").unwrap_err(),
            ["4:10: items[1].count: expected a 32-bit integer, found the string \"x\""]
        );
        assert_eq!(run("name: a\ninner: {}\n").unwrap_err(), ["2:8: inner: missing field `count`"]);
        assert_eq!(
            run("name: a\ninner: {count: 99999999999}\n").unwrap_err(),
            ["2:16: inner.count: 99999999999 is out of range for a 32-bit integer"]
        );
    }
}

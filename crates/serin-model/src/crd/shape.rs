//! The shape of a manifest type, read off its own `Deserialize` implementation.
//!
//! The CRD schemas must describe exactly what the model decodes: a field the schema lacks is
//! pruned by the API server without a word, a field the model lacks makes serin reject the
//! object. Rather than writing the schema a second time, a tracing deserializer feeds each
//! type one value of every field it asks for (serde's derive names the fields of a struct
//! when it asks for one) and records what was asked: a struct with these fields, a list of,
//! a map of, a string, an `i32`, one of these enum variants. Whether a field is required is
//! learnt the same way: the type is traced again without that one field, and the field is
//! required when the type then refuses the value.
//!
//! Four of the model's types are told apart by the type a visitor produces, since serde
//! gives them no name: [`IntOrString`] and [`serde_json::Value`] (both ask for "anything"),
//! [`Time`] (a string) and [`PodTemplate`] (which serin-podtemplate's table describes).

use crate::intstr::IntOrString;
use crate::podtemplate::PodTemplate;
use crate::time::Time;
use serde::de::value::{Error, StrDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use std::any::type_name;
use std::collections::BTreeSet;

/// What a type accepts.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Bool,
    Int32,
    Int64,
    Number,
    String,
    /// An RFC 3339 timestamp ([`Time`]).
    Time,
    IntOrString,
    /// Any JSON ([`serde_json::Value`]): a part the model keeps as written.
    Json,
    /// A core/v1 `PodTemplateSpec` ([`PodTemplate`]).
    PodTemplate,
    /// A string, one of these.
    Enum(&'static [&'static str]),
    List(Box<Shape>),
    /// A map with string keys.
    Map(Box<Shape>),
    Struct(Vec<Field>),
}

/// A struct field. `path` names it from the root (`spec.strategy.canary.steps[].setWeight`;
/// `[]` is a list's item, `{}` a map's value).
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub path: String,
    pub shape: Shape,
    pub required: bool,
}

/// The shape of `T`, with each field's requiredness.
///
/// Panics when `T` refuses the values the tracer feeds it (a type whose `Deserialize` does
/// more than serde's derive, [`IntOrString`] and [`Time`]), which the tests would show.
pub fn shape_of<T: DeserializeOwned>() -> Shape {
    let mut shape = trace::<T>(None).unwrap_or_else(|e| panic!("cannot trace {}: {e}", type_name::<T>()));
    let mut paths = Vec::new();
    field_paths(&shape, &mut paths);
    let required: BTreeSet<String> = paths.into_iter().filter(|path| trace::<T>(Some(path)).is_err()).collect();
    mark_required(&mut shape, &required);
    shape
}

fn trace<T: DeserializeOwned>(omit: Option<&str>) -> Result<Shape, Error> {
    let mut slot = None;
    T::deserialize(Tracer { slot: &mut slot, path: String::new(), omit })?;
    Ok(slot.expect("a traced type asks for a value"))
}

fn field_paths(shape: &Shape, out: &mut Vec<String>) {
    match shape {
        Shape::List(item) | Shape::Map(item) => field_paths(item, out),
        Shape::Struct(fields) => {
            for field in fields {
                out.push(field.path.clone());
                field_paths(&field.shape, out);
            }
        }
        _ => {}
    }
}

fn mark_required(shape: &mut Shape, required: &BTreeSet<String>) {
    match shape {
        Shape::List(item) | Shape::Map(item) => mark_required(item, required),
        Shape::Struct(fields) => {
            for field in fields {
                field.required = required.contains(&field.path);
                mark_required(&mut field.shape, required);
            }
        }
        _ => {}
    }
}

/// Deserializes one value of whatever is asked for, recording the request in `slot`.
struct Tracer<'a> {
    slot: &'a mut Option<Shape>,
    path: String,
    /// The path of a field to leave out of its struct.
    omit: Option<&'a str>,
}

impl Tracer<'_> {
    fn record(self, shape: Shape) {
        *self.slot = Some(shape);
    }
}

/// A valid value for every string the model has, timestamps included.
const SAMPLE_STRING: &str = "1970-01-01T00:00:00Z";

fn unsupported(what: &str, path: &str) -> Error {
    de::Error::custom(format!("{what} at {path:?} has no CRD schema"))
}

macro_rules! scalar {
    ($method:ident, $shape:expr, $visit:ident, $value:expr) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.record($shape);
            visitor.$visit($value)
        }
    };
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if type_name::<V::Value>() == type_name::<IntOrString>() {
            self.record(Shape::IntOrString);
            visitor.visit_i64(0)
        } else if type_name::<V::Value>() == type_name::<serde_json::Value>() {
            self.record(Shape::Json);
            visitor.visit_unit()
        } else {
            Err(unsupported(type_name::<V::Value>(), &self.path))
        }
    }

    scalar!(deserialize_bool, Shape::Bool, visit_bool, false);
    scalar!(deserialize_i8, Shape::Int32, visit_i8, 0);
    scalar!(deserialize_i16, Shape::Int32, visit_i16, 0);
    scalar!(deserialize_i32, Shape::Int32, visit_i32, 0);
    scalar!(deserialize_i64, Shape::Int64, visit_i64, 0);
    scalar!(deserialize_u8, Shape::Int32, visit_u8, 0);
    scalar!(deserialize_u16, Shape::Int32, visit_u16, 0);
    scalar!(deserialize_u32, Shape::Int64, visit_u32, 0);
    scalar!(deserialize_u64, Shape::Int64, visit_u64, 0);
    scalar!(deserialize_f32, Shape::Number, visit_f32, 0.0);
    scalar!(deserialize_f64, Shape::Number, visit_f64, 0.0);
    scalar!(deserialize_char, Shape::String, visit_char, 'x');

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let time = type_name::<V::Value>() == type_name::<Time>();
        self.record(if time { Shape::Time } else { Shape::String });
        visitor.visit_str(SAMPLE_STRING)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(unsupported("bytes", &self.path))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(unsupported("bytes", &self.path))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(unsupported("()", &self.path))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, _: V) -> Result<V::Value, Error> {
        Err(unsupported(name, &self.path))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        if type_name::<V::Value>() == type_name::<PodTemplate>() {
            let value =
                visitor.visit_newtype_struct(Tracer { slot: &mut None, path: self.path.clone(), omit: None })?;
            self.record(Shape::PodTemplate);
            Ok(value)
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let mut item = None;
        let value =
            visitor.visit_seq(OneItem { slot: Some(&mut item), path: format!("{}[]", self.path), omit: self.omit })?;
        let item = item.ok_or_else(|| unsupported("a list that takes no item", &self.path))?;
        self.record(Shape::List(Box::new(item)));
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Error> {
        Err(unsupported("a tuple", &self.path))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, name: &'static str, _: usize, _: V) -> Result<V::Value, Error> {
        Err(unsupported(name, &self.path))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let mut value_shape = None;
        let mut entry = OneEntry { slot: Some(&mut value_shape), path: format!("{}{{}}", self.path), omit: self.omit };
        let value = visitor.visit_map(&mut entry)?;
        let value_shape = value_shape.ok_or_else(|| unsupported("a map that takes no entry", &self.path))?;
        self.record(Shape::Map(Box::new(value_shape)));
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let prefix = if self.path.is_empty() { String::new() } else { format!("{}.", self.path) };
        let given: Vec<Given> = fields
            .iter()
            .map(|&name| Given { name, path: format!("{prefix}{name}"), shape: None })
            .filter(|given| Some(given.path.as_str()) != self.omit)
            .collect();
        let mut access = Fields { given, next: 0, omit: self.omit };
        let value = visitor.visit_map(&mut access)?;
        let fields = access
            .given
            .into_iter()
            .map(|given| {
                let shape = given.shape.ok_or_else(|| unsupported("a field that takes no value", &given.path))?;
                Ok(Field { name: given.name, path: given.path, shape, required: false })
            })
            .collect::<Result<_, Error>>()?;
        self.record(Shape::Struct(fields));
        Ok(value)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let first: StrDeserializer<'_, Error> = variants[0].into_deserializer();
        self.record(Shape::Enum(variants));
        visitor.visit_enum(first)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(unsupported("an identifier", &self.path))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// A list of one traced item.
struct OneItem<'a> {
    slot: Option<&'a mut Option<Shape>>,
    path: String,
    omit: Option<&'a str>,
}

impl<'de> de::SeqAccess<'de> for OneItem<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.slot.take() {
            Some(slot) => seed.deserialize(Tracer { slot, path: self.path.clone(), omit: self.omit }).map(Some),
            None => Ok(None),
        }
    }
}

/// A map of one entry, its value traced.
struct OneEntry<'a> {
    slot: Option<&'a mut Option<Shape>>,
    path: String,
    omit: Option<&'a str>,
}

impl<'de> de::MapAccess<'de> for OneEntry<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.slot {
            Some(_) => seed.deserialize(IntoDeserializer::<Error>::into_deserializer(SAMPLE_STRING)).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let slot = self.slot.take().expect("serde asks for a value after its key");
        seed.deserialize(Tracer { slot, path: self.path.clone(), omit: self.omit })
    }
}

/// A field of a struct being traced; `shape` is filled in when the struct asks for its value.
struct Given {
    name: &'static str,
    path: String,
    shape: Option<Shape>,
}

/// A struct's fields, each given once.
struct Fields<'a> {
    given: Vec<Given>,
    next: usize,
    omit: Option<&'a str>,
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.given.get(self.next) {
            Some(given) => seed.deserialize(IntoDeserializer::<Error>::into_deserializer(given.name)).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let given = &mut self.given[self.next];
        self.next += 1;
        seed.deserialize(Tracer { slot: &mut given.shape, path: given.path.clone(), omit: self.omit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code, reason = "only deserialized, to be traced")]
    struct Sample {
        name: String,
        count: Option<i32>,
        #[serde(default)]
        items: Vec<Item>,
        labels: BTreeMap<String, String>,
        raw: Option<serde_json::Value>,
        at: Option<Time>,
        surge: Option<IntOrString>,
        template: Option<PodTemplate>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code, reason = "only deserialized, to be traced")]
    struct Item {
        kind: Kind,
        weight: i64,
    }

    #[derive(Deserialize)]
    enum Kind {
        Percent,
        Pods,
    }

    fn field(name: &'static str, path: &str, shape: Shape, required: bool) -> Field {
        Field { name, path: path.to_string(), shape, required }
    }

    #[test]
    fn traces_fields_kinds_and_requiredness() {
        let item = Shape::Struct(vec![
            field("kind", "items[].kind", Shape::Enum(&["Percent", "Pods"]), true),
            field("weight", "items[].weight", Shape::Int64, true),
        ]);
        assert_eq!(
            shape_of::<Sample>(),
            Shape::Struct(vec![
                field("name", "name", Shape::String, true),
                field("count", "count", Shape::Int32, false),
                field("items", "items", Shape::List(Box::new(item)), false),
                field("labels", "labels", Shape::Map(Box::new(Shape::String)), true),
                field("raw", "raw", Shape::Json, false),
                field("at", "at", Shape::Time, false),
                field("surge", "surge", Shape::IntOrString, false),
                field("template", "template", Shape::PodTemplate, false),
            ])
        );
    }

    #[test]
    #[should_panic(expected = "a tuple at \"pair\" has no CRD schema")]
    fn refuses_what_a_schema_cannot_say() {
        #[derive(Deserialize)]
        #[allow(dead_code, reason = "only deserialized, to be traced")]
        struct Pair {
            pair: (i32, i32),
        }
        shape_of::<Pair>();
    }
}

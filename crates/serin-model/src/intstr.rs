//! Kubernetes' `IntOrString`: fields such as `maxSurge: 25%` or `port: http` accept either.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

impl IntOrString {
    /// Resolves an absolute count or a percentage of `total`, as Kubernetes'
    /// `GetScaledValueFromIntOrPercent` does: percentages round up or down as asked.
    pub fn scaled(&self, total: i64, round_up: bool) -> Result<i64, String> {
        match self {
            IntOrString::Int(n) => Ok(*n),
            IntOrString::String(text) => {
                let percent: i64 = text
                    .strip_suffix('%')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| format!("invalid value {text:?}: must be an integer or a percentage"))?;
                let product = percent.checked_mul(total).ok_or_else(|| format!("{text} of {total} is too large"))?;
                Ok(if round_up { (product + 99).div_euclid(100) } else { product.div_euclid(100) })
            }
        }
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrString::Int(n) => write!(f, "{n}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

impl From<i64> for IntOrString {
    fn from(n: i64) -> Self {
        IntOrString::Int(n)
    }
}

impl From<&str> for IntOrString {
    fn from(s: &str) -> Self {
        IntOrString::String(s.to_string())
    }
}

impl Serialize for IntOrString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrString::Int(n) => serializer.serialize_i64(*n),
            IntOrString::String(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = IntOrString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<IntOrString, E> {
                Ok(IntOrString::Int(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<IntOrString, E> {
                i64::try_from(n).map(IntOrString::Int).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(s.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_as_asked() {
        let quarter = IntOrString::from("25%");
        assert_eq!(quarter.scaled(10, true), Ok(3));
        assert_eq!(quarter.scaled(10, false), Ok(2));
        assert_eq!(IntOrString::Int(4).scaled(10, true), Ok(4));
        assert!(IntOrString::from("x").scaled(10, true).is_err());
    }
}

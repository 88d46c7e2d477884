//! Field paths such as `spec.strategy.canary.steps[1].pause.duration`.
//!
//! Every validation message names the field it is about; this is the one spelling of such a
//! name, shared by the YAML decoder, the semantic checks and the pod-template schema.

use std::fmt;

/// One step down into a document: a mapping key or a sequence index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the document root to a field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses the dotted form (`spec.steps[1].pause`); keys containing dots are not expressible,
    /// which is fine for the fixed schemas serin validates.
    pub fn parse(dotted: &str) -> Self {
        let mut segments = Vec::new();
        for part in dotted.split('.').filter(|p| !p.is_empty()) {
            let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
            if !key.is_empty() {
                segments.push(Segment::Key(key.to_string()));
            }
            for index in rest.split('[') {
                if let Ok(i) = index.trim_end_matches(']').parse() {
                    segments.push(Segment::Index(i));
                }
            }
        }
        Self(segments)
    }

    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.into()));
        next
    }

    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    /// `a.b.c` is `root().join("a.b.c")`; relative paths joined onto an absolute one.
    pub fn join(&self, dotted: &str) -> Self {
        let mut next = self.clone();
        next.0.extend(Self::parse(dotted).0);
        next
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub fn parent(&self) -> Option<Self> {
        let (_, head) = self.0.split_last()?;
        Some(Self(head.to_vec()))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_round_trip() {
        let text = "spec.strategy.canary.steps[1].pause.duration";
        assert_eq!(FieldPath::parse(text).to_string(), text);
        assert_eq!(FieldPath::root().key("spec").index(0).to_string(), "spec[0]");
        assert_eq!(FieldPath::parse("a[2][3].b").segments().len(), 4);
    }
}

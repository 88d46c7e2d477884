//! Reading manifests from text, files and directories into validated objects.
//!
//! Every problem becomes a [`Diagnostic`] naming file, line, column and field; a document with
//! problems yields no object, the others still load, and all problems are reported together.

use crate::decode::{Problem, decode_with_problems};
use crate::object::{KINDS, Object};
use crate::path::{FieldPath, Segment};
use crate::validate::validate;
use crate::yaml::{Location, Node, Value, parse_documents};
use std::fmt;
use std::path::{Path, PathBuf};

/// A located problem in a manifest file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub file: String,
    pub at: Location,
    pub path: FieldPath,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at.line {
            0 => write!(f, "{}: ", self.file)?,
            _ => write!(f, "{}:{}: ", self.file, self.at)?,
        }
        if !self.path.segments().is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// A valid object with the tree it came from (for locating later problems, such as a
/// conflict found when it is applied).
#[derive(Clone, Debug)]
pub struct Document {
    pub file: String,
    pub root: Node,
    pub object: Object,
}

/// A well-formed Kubernetes object of a kind serin neither manages nor reads (an Ingress, a
/// ConfigMap, a Deployment...): `lint` lists it as not checked; everything that would act on
/// it refuses it (see [`Loaded::problems`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmodelled {
    pub file: String,
    /// Where its `kind` is.
    pub at: Location,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// The object as written, for a platform that applies any kind (a cluster).
    pub body: serde_json::Value,
}

impl Unmodelled {
    /// The object `root` when it is of a kind outside serin's model and outside the API groups
    /// serin owns (a kind unknown in argoproj.io or Traefik's groups is a mistake or a feature
    /// serin lacks, and decoding says which).
    fn of(file: &str, root: &Node) -> Option<Unmodelled> {
        let field = |key: &str| root.get(key).and_then(Node::as_str).filter(|v| !v.is_empty());
        let (api_version, kind) = (field("apiVersion")?, field("kind")?);
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        let owned = ["argoproj.io", "traefik.io", "traefik.containo.us"].contains(&group);
        if owned || KINDS.iter().any(|(v, k, _)| *v == api_version && *k == kind) {
            return None;
        }
        let metadata = root.get("metadata")?;
        let name =
            ["name", "generateName"].iter().find_map(|key| metadata.get(key)?.as_str().filter(|n| !n.is_empty()))?;
        Some(Unmodelled {
            file: file.to_string(),
            at: locate(root, &FieldPath::parse("kind")),
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            body: root.to_json(),
        })
    }
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub documents: Vec<Document>,
    /// Every problem found, except objects of kinds serin does not model.
    pub diagnostics: Vec<Diagnostic>,
    pub unmodelled: Vec<Unmodelled>,
}

impl Loaded {
    /// Adds what another text held.
    pub fn extend(&mut self, other: Loaded) {
        self.documents.extend(other.documents);
        self.diagnostics.extend(other.diagnostics);
        self.unmodelled.extend(other.unmodelled);
    }

    /// Every problem for a command that acts on the objects (`apply`, a sync, `plan`): the
    /// diagnostics, and each object of a kind serin does not model.
    pub fn problems(&self) -> Vec<Diagnostic> {
        let unmodelled = self.unmodelled.iter().map(|u| Diagnostic {
            file: u.file.clone(),
            at: u.at,
            path: FieldPath::parse("kind"),
            message: unhandled_kind(&u.kind, &u.api_version),
        });
        let mut problems: Vec<Diagnostic> = self.diagnostics.iter().cloned().chain(unmodelled).collect();
        problems.sort();
        problems
    }
}

/// The largest manifest text read (a Kubernetes API server takes objects of 1.5 MiB at most;
/// a file of many objects may be larger, but not without bound).
pub const MAX_MANIFEST_BYTES: usize = 32 << 20;

/// Reads every document of one YAML (or JSON) text; `file` names it in diagnostics.
pub fn load_str(file: &str, text: &str) -> Loaded {
    let mut loaded = Loaded::default();
    if text.len() > MAX_MANIFEST_BYTES {
        loaded.diagnostics.push(Diagnostic {
            file: file.to_string(),
            at: Location { line: 1, column: 1 },
            path: FieldPath::root(),
            message: format!("{} bytes is more than the {} MiB serin reads", text.len(), MAX_MANIFEST_BYTES >> 20),
        });
        return loaded;
    }
    let documents = match parse_documents(text) {
        Ok(documents) => documents,
        Err(error) => {
            loaded.diagnostics.push(Diagnostic {
                file: file.to_string(),
                at: error.at,
                path: FieldPath::root(),
                message: format!("invalid YAML: {}", error.message),
            });
            return loaded;
        }
    };
    for document in documents {
        if let Some(unmodelled) = Unmodelled::of(file, &document.root) {
            loaded.unmodelled.push(unmodelled);
            continue;
        }
        match decode_object(&document.root) {
            Ok(object) => loaded.documents.push(Document { file: file.to_string(), root: document.root, object }),
            Err(problems) => loaded.diagnostics.extend(problems.into_iter().map(|p| Diagnostic {
                file: file.to_string(),
                at: p.at,
                path: p.path,
                message: p.message,
            })),
        }
    }
    loaded
}

/// Reads a file, or every `.yaml`, `.yml` and `.json` file under a directory (recursively,
/// in name order); `-` reads standard input.
pub fn load_path(path: &Path) -> Loaded {
    if path == Path::new("-") {
        let mut text = String::new();
        return match std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
            Ok(_) => load_str("<stdin>", &text),
            Err(e) => io_failure(path, &e),
        };
    }
    let mut files = Vec::new();
    if let Err(e) = collect_files(path, &mut files, true) {
        return io_failure(path, &e);
    }
    let mut loaded = Loaded::default();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => loaded.extend(load_str(&file.display().to_string(), &text)),
            Err(e) => loaded.extend(io_failure(&file, &e)),
        }
    }
    loaded
}

fn io_failure(path: &Path, error: &std::io::Error) -> Loaded {
    let diagnostic = Diagnostic {
        file: path.display().to_string(),
        at: Location::default(),
        path: FieldPath::root(),
        message: format!("cannot read: {error}"),
    };
    Loaded { diagnostics: vec![diagnostic], ..Loaded::default() }
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>, explicit: bool) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            collect_files(&entry, files, false)?;
        }
    } else if explicit || is_manifest(path) {
        std::fs::metadata(path)?;
        files.push(path.to_path_buf());
    }
    Ok(())
}

fn is_manifest(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Decodes one document into a typed object and runs the semantic checks on it.
pub fn decode_object(root: &Node) -> Result<Object, Vec<Problem>> {
    let problem = |path: &str, message: String| {
        let path = FieldPath::parse(path);
        vec![Problem { at: locate(root, &path), path, message }]
    };
    if !matches!(root.value, Value::Map(_)) {
        return Err(problem("", format!("expected a Kubernetes object (a mapping), found {}", root.value.kind())));
    }
    let field = |key: &str| root.get(key).and_then(Node::as_str).unwrap_or_default();
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if api_version.is_empty() {
        return Err(problem("apiVersion", "missing field `apiVersion`".to_string()));
    }
    if kind.is_empty() {
        return Err(problem("kind", "missing field `kind`".to_string()));
    }
    if !KINDS.iter().any(|(v, k, _)| *v == api_version && *k == kind) {
        let path = if KINDS.iter().any(|(_, k, _)| *k == kind) { "apiVersion" } else { "kind" };
        return Err(problem(path, unhandled_kind(kind, api_version)));
    }
    let (object, mut problems) = match kind {
        "Rollout" => decode_as(root, Object::Rollout),
        "AnalysisTemplate" => decode_as(root, Object::AnalysisTemplate),
        "ClusterAnalysisTemplate" => decode_as(root, Object::ClusterAnalysisTemplate),
        "AnalysisRun" => decode_as(root, Object::AnalysisRun),
        "Application" => decode_as(root, Object::Application),
        "Service" => decode_as(root, Object::Service),
        "TraefikService" => decode_as(root, Object::TraefikService),
        "IngressRoute" => decode_as(root, Object::IngressRoute),
        "ServersTransport" => decode_as(root, Object::ServersTransport),
        "TLSOption" => decode_as(root, Object::TlsOption),
        "TLSStore" => decode_as(root, Object::TlsStore),
        "Secret" => decode_as(root, Object::Secret),
        "ReplicaSet" => decode_as(root, Object::ReplicaSet),
        _ => decode_as(root, Object::Pod),
    };
    // The semantic checks run even beside unknown fields: every problem is reported at once.
    if let Some(object) = &object {
        problems.extend(validate(object).into_iter().map(|issue| Problem {
            at: locate(root, &issue.path),
            path: issue.path,
            message: issue.message,
        }));
    }
    match object {
        Some(object) if problems.is_empty() => Ok(object),
        _ => {
            problems.sort();
            problems.dedup();
            Err(problems)
        }
    }
}

fn unhandled_kind(kind: &str, api_version: &str) -> String {
    let known: Vec<String> = KINDS.iter().map(|(v, k, _)| format!("{v} {k}")).collect();
    format!("serin does not handle {kind} in {api_version}; it reads: {}", known.join(", "))
}

/// Decodes a whole document as one kind of object.
fn decode_as<T: serde::de::DeserializeOwned>(root: &Node, kind: fn(T) -> Object) -> (Option<Object>, Vec<Problem>) {
    let (value, problems) = decode_with_problems(root, &FieldPath::root());
    (value.map(kind), problems)
}

/// The position of the value at `path`, or of its nearest present ancestor. A mapping or list
/// is shown at its key (`blueGreen:`), a scalar at its value.
pub fn locate(root: &Node, path: &FieldPath) -> Location {
    let mut node = root;
    let mut key_at = None;
    for segment in path.segments() {
        let next = match (segment, &node.value) {
            (Segment::Key(key), Value::Map(entries)) => {
                entries.iter().find(|e| e.key == *key).map(|e| (&e.value, Some(e.key_at)))
            }
            (Segment::Index(i), Value::Seq(items)) => items.get(*i).map(|item| (item, None)),
            _ => None,
        };
        match next {
            Some((next, at)) => (node, key_at) = (next, at),
            None => break,
        }
    }
    match (&node.value, key_at) {
        (Value::Map(_) | Value::Seq(_), Some(at)) => at,
        _ => node.at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_larger_than_the_limit_is_refused_unread() {
        let text = format!("# {}\n", "x".repeat(MAX_MANIFEST_BYTES));
        let loaded = load_str("huge.yaml", &text);
        assert!(loaded.documents.is_empty());
        let messages: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].starts_with("huge.yaml:1:1") && messages[0].contains("32 MiB"), "{messages:?}");
    }
}

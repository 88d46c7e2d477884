//! A YAML reader that remembers where every value came from.
//!
//! Validation errors must name the line and column of the offending field, so manifests are
//! first read into [`Node`] trees that carry their source position, then decoded into typed
//! objects (see `decode`). Scalars resolve as YAML 1.2's core schema plus YAML 1.1's booleans
//! (`yes`, `on`...), as kubectl reads them.

use crate::reindent::{MAX_REPAIRS, Reindented};
use saphyr_parser::{Event, Parser, ScalarStyle, Span, SpannedEventReceiver};
use std::collections::HashMap;
use std::fmt;

/// A position in a source file, both 1-based, as editors show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value read from YAML, with the position where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub at: Location,
    pub value: Value,
}

/// One mapping entry: the key's own position is kept for "unknown field" messages.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_at: Location,
    pub value: Node,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

impl Value {
    /// How this value is named in type errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The entry under `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to JSON, the form stored and sent over the API.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(n) => (*n).into(),
            Value::Float(x) => serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, Into::into),
            Value::String(s) => s.clone().into(),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => {
                entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect::<serde_json::Map<_, _>>().into()
            }
        }
    }
}

/// A YAML syntax error at a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub at: Location,
    pub message: String,
}

/// One document of a multi-document stream, with the line its `---` (or first content) is on.
#[derive(Clone, Debug, PartialEq)]
pub struct YamlDocument {
    pub root: Node,
}

/// Reads every non-empty document of a YAML stream.
///
/// Indentation that go-yaml (kubectl's reader) ignores inside flow collections and quoted
/// scalars is accepted too (see `reindent`): each time the parser refuses one, the lines
/// concerned are indented and the text is read again from the start of the document that
/// failed, the documents before it being kept.
pub fn parse_documents(text: &str) -> Result<Vec<YamlDocument>, SyntaxError> {
    let mut reindented: Option<Reindented> = None;
    let mut documents = Vec::new();
    // A problem found in a document finished before a repair (a duplicate key...).
    let mut earlier_error = None;
    let mut from_line = 1;
    let mut repairs = 0;
    loop {
        let rest;
        let (current, added) = match &reindented {
            Some(r) => {
                rest = r.text_from(from_line);
                (rest.as_str(), r.added())
            }
            None => (text, &[][..]),
        };
        let mut builder = TreeBuilder { added, ..TreeBuilder::default() };
        let error = match Parser::new_from_str(current).load(&mut builder, true) {
            Ok(()) => {
                if let Some(error) = earlier_error.or(builder.error) {
                    return Err(error);
                }
                documents.extend(builder.documents);
                return Ok(documents.into_iter().filter(|d| d.root.value != Value::Null).collect());
            }
            Err(error) => error,
        };
        let open_flow = builder.outermost_open_flow(current);
        let reported = SyntaxError {
            at: builder.locate(error.marker().line(), error.marker().col()),
            message: error.info().to_string(),
        };
        // What this reading finished before the document that failed is kept, not read again.
        let TreeBuilder { document_line, documents_before, documents: mut finished, error: problem, .. } = builder;
        let reindented = reindented.get_or_insert_with(|| Reindented::new(text));
        if repairs == MAX_REPAIRS || !reindented.repair(&error, open_flow) {
            return Err(reported);
        }
        repairs += 1;
        from_line = document_line.max(from_line);
        finished.truncate(documents_before);
        documents.extend(finished);
        if let Some(problem) = problem.filter(|p| p.at.line < document_line) {
            earlier_error.get_or_insert(problem);
        }
    }
}

/// At most this many values may come from aliases in one document. Each alias copies its
/// anchor's whole tree, so ten aliases of ten aliases of ... grow a 1 KB file beyond any
/// memory ("billion laughs"); go-yaml and so kubectl refuse such documents too. Real manifests
/// copy a few hundred values this way at most.
pub const MAX_ALIASED_VALUES: usize = 100_000;

/// Collects parser events into trees.
#[derive(Default)]
struct TreeBuilder<'a> {
    stack: Vec<Open>,
    /// Where each open collection starts in the text parsed (1-based line, 0-based column).
    starts: Vec<(usize, usize)>,
    /// Spaces put before each line of the text parsed (see `reindent`), taken off columns.
    added: &'a [usize],
    /// The line the document being read starts on, and how many documents were finished
    /// before it.
    document_line: usize,
    documents_before: usize,
    /// Anchored trees by anchor id, with the number of values each holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// Values copied by aliases so far in this document.
    aliased: usize,
    documents: Vec<YamlDocument>,
    error: Option<SyntaxError>,
}

enum Open {
    Seq {
        node: Node,
        anchor: usize,
    },
    /// `merged` names the keys that came from a `<<` merge, which explicit keys may override.
    Map {
        node: Node,
        anchor: usize,
        pending_key: Option<(String, Location)>,
        merged: Vec<String>,
    },
}

impl TreeBuilder<'_> {
    /// The position in the file as written of a 1-based line and 0-based column of the text
    /// parsed.
    fn locate(&self, line: usize, column: usize) -> Location {
        let added = line.checked_sub(1).and_then(|l| self.added.get(l)).copied().unwrap_or(0);
        Location { line, column: column.saturating_sub(added) + 1 }
    }

    fn location(&self, span: &Span) -> Location {
        self.locate(span.start.line(), span.start.col())
    }

    /// The column where the outermost flow collection (`[` or `{`) still open starts.
    fn outermost_open_flow(&self, text: &str) -> Option<usize> {
        self.starts.iter().find_map(|&(line, column)| {
            let rest: String = text.lines().nth(line.checked_sub(1)?)?.chars().skip(column).collect();
            // An anchor or a tag may come first: `&name [` or `!!seq [`.
            let mut at = column;
            let mut words = rest.as_str();
            while words.starts_with(['&', '!']) {
                let word = words.find([' ', '\t']).unwrap_or(words.len());
                let blanks = words[word..].chars().take_while(|c| matches!(c, ' ' | '\t')).count();
                at += words[..word].chars().count() + blanks;
                words = &words[word + blanks..];
            }
            words.starts_with(['[', '{']).then_some(at)
        })
    }

    fn fail(&mut self, at: Location, message: String) {
        self.error.get_or_insert(SyntaxError { at, message });
    }

    /// Attaches a finished node to its parent, or ends a document.
    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), count_values(&node)));
        }
        match self.stack.last_mut() {
            None => self.documents.push(YamlDocument { root: node }),
            Some(Open::Seq { node: parent, .. }) => {
                if let Value::Seq(items) = &mut parent.value {
                    items.push(node);
                }
            }
            Some(Open::Map { node: parent, pending_key, merged, .. }) => match pending_key.take() {
                None => {
                    let key = match &node.value {
                        Value::String(s) => s.clone(),
                        Value::Int(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Float(x) => x.to_string(),
                        Value::Null => "null".to_string(),
                        Value::Seq(_) | Value::Map(_) => {
                            let at = node.at;
                            self.fail(at, "a mapping key must be a scalar".to_string());
                            return;
                        }
                    };
                    *pending_key = Some((key, node.at));
                }
                Some((key, key_at)) => {
                    let Value::Map(entries) = &mut parent.value else { return };
                    if key == "<<" {
                        merge_into(entries, merged, node);
                    } else if let Some(i) = entries.iter().position(|e| e.key == key) {
                        if let Some(m) = merged.iter().position(|m| *m == key) {
                            merged.remove(m);
                            entries[i] = Entry { key, key_at, value: node };
                        } else {
                            self.fail(key_at, format!("duplicate key {key:?}"));
                        }
                    } else {
                        entries.push(Entry { key, key_at, value: node });
                    }
                }
            },
        }
    }
}

/// How many values a tree holds, itself included.
fn count_values(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(count_values).sum(),
        Value::Map(entries) => entries.iter().map(|e| count_values(&e.value)).sum(),
        _ => 0,
    }
}

/// YAML merge keys (`<<: *defaults`): entries already present win.
fn merge_into(entries: &mut Vec<Entry>, merged: &mut Vec<String>, source: Node) {
    let sources = match source.value {
        Value::Seq(items) => items,
        other => vec![Node { at: source.at, value: other }],
    };
    for source in sources {
        if let Value::Map(extra) = source.value {
            for entry in extra {
                if !entries.iter().any(|e| e.key == entry.key) {
                    merged.push(entry.key.clone());
                    entries.push(entry);
                }
            }
        }
    }
}

impl<'input> SpannedEventReceiver<'input> for TreeBuilder<'_> {
    fn on_event(&mut self, event: Event<'input>, span: Span) {
        if let Event::DocumentStart(_) = event {
            self.document_line = span.start.line();
            self.documents_before = self.documents.len();
        }
        if self.error.is_some() {
            return; // the first problem ends the reading; nothing more is built
        }
        let at = self.location(&span);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| t.suffix.clone());
                let value = resolve_scalar(&text, style, tag.as_deref());
                match value {
                    Ok(value) => self.finish(Node { at, value }, anchor),
                    Err(message) => self.fail(at, message),
                }
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((_, values)) if self.aliased + values > MAX_ALIASED_VALUES => self.fail(
                    at,
                    format!(
                        "aliases copy more than {MAX_ALIASED_VALUES} values in this document; refused as an alias bomb"
                    ),
                ),
                Some((node, values)) => {
                    self.aliased += values;
                    let node = node.clone();
                    self.finish(Node { at, ..node }, 0);
                }
                None => self.fail(at, "alias to an unknown anchor".to_string()),
            },
            Event::SequenceStart(anchor, _) => {
                self.starts.push((span.start.line(), span.start.col()));
                self.stack.push(Open::Seq { node: Node { at, value: Value::Seq(Vec::new()) }, anchor });
            }
            Event::MappingStart(anchor, _) => {
                self.starts.push((span.start.line(), span.start.col()));
                self.stack.push(Open::Map {
                    node: Node { at, value: Value::Map(Vec::new()) },
                    anchor,
                    pending_key: None,
                    merged: Vec::new(),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.starts.pop();
                if let Some(Open::Seq { node, anchor } | Open::Map { node, anchor, .. }) = self.stack.pop() {
                    self.finish(node, anchor);
                }
            }
            Event::DocumentEnd => {
                self.anchors.clear();
                self.aliased = 0;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::Nothing => {}
        }
    }
}

/// YAML 1.2 core schema resolution of a scalar, with YAML 1.1's booleans; quoted and block
/// scalars are always strings.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Result<Value, String> {
    let plain = style == ScalarStyle::Plain;
    match tag {
        Some("str") => return Ok(Value::String(text.to_string())),
        Some("int") => return parse_int(text).map(Value::Int).ok_or_else(|| format!("invalid !!int {text:?}")),
        Some("float") => return parse_float(text).map(Value::Float).ok_or_else(|| format!("invalid !!float {text:?}")),
        Some("bool") => return parse_bool(text).map(Value::Bool).ok_or_else(|| format!("invalid !!bool {text:?}")),
        Some("null") => return Ok(Value::Null),
        _ => {}
    }
    if !plain {
        return Ok(Value::String(text.to_string()));
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Ok(Value::Null);
    }
    if let Some(b) = parse_bool(text) {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = parse_int(text) {
        return Ok(Value::Int(n));
    }
    if let Some(x) = parse_float(text) {
        return Ok(Value::Float(x));
    }
    Ok(Value::String(text.to_string()))
}

/// YAML 1.1's booleans in the spellings go-yaml v2 resolves, as kubectl reads manifests
/// through it (sigs.k8s.io/yaml): `yes`, `on`, `y` and their opposites are booleans there, so
/// `value: yes` is refused for a string field by Kubernetes as by serin. `-o yaml` quotes such
/// strings, so what serin writes reads back the same both ways.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" | "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "false" | "False" | "FALSE" | "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(octal) = text.strip_prefix("0o") {
        return i64::from_str_radix(octal, 8).ok();
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = body.split_once(['e', 'E']).unwrap_or((body, ""));
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_empty() && !body.contains(['e', 'E'])
        || (!exponent.is_empty() && digits(exponent.strip_prefix(['-', '+']).unwrap_or(exponent)));
    let mantissa_ok = (!whole.is_empty() || !fraction.is_empty()) && digits(whole) && digits(fraction);
    if mantissa_ok && exponent_ok { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_and_resolves_scalars() {
        let docs = parse_documents("a: 1\nb:\n  - x\n  - 'true'\n  - true\n  - 2.5\n  - ~\n---\n---\nc: d\n").unwrap();
        assert_eq!(docs.len(), 2);
        let root = &docs[0].root;
        let Value::Map(entries) = &root.value else { panic!() };
        assert_eq!(entries[1].key_at, Location { line: 2, column: 1 });
        let Value::Seq(items) = &root.get("b").unwrap().value else { panic!() };
        assert_eq!(items[0].at, Location { line: 3, column: 5 });
        let values: Vec<_> = items.iter().map(|n| n.value.clone()).collect();
        assert_eq!(
            values,
            [
                Value::String("x".into()),
                Value::String("true".into()),
                Value::Bool(true),
                Value::Float(2.5),
                Value::Null
            ]
        );
        assert_eq!(docs[1].root.get("c").unwrap().as_str(), Some("d"));
    }

    #[test]
    fn reports_syntax_errors_and_duplicate_keys_with_position() {
        let err = parse_documents("a: [1, 2\n").unwrap_err();
        assert!(err.at.line >= 1, "{err:?}");
        let err = parse_documents("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((err.at, err.message.as_str()), (Location { line: 3, column: 1 }, "duplicate key \"a\""));
    }

    #[test]
    fn anchors_and_merge_keys() {
        let docs = parse_documents("base: &b {p: 1, q: 2}\nuse:\n  <<: *b\n  q: 3\n").unwrap();
        let used = docs[0].root.get("use").unwrap();
        assert_eq!(used.get("p").unwrap().value, Value::Int(1));
        assert_eq!(used.get("q").unwrap().value, Value::Int(3));
    }

    #[test]
    fn an_alias_bomb_is_refused_at_its_line_without_expanding_it() {
        // Nine levels of ten aliases: 10^9 values from 1 KB.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..=9 {
            let previous = format!("*a{}", level - 1);
            text.push_str(&format!("a{level}: &a{level} [{}]\n", [previous.as_str(); 10].join(", ")));
        }
        let started = std::time::Instant::now();
        let err = parse_documents(&text).unwrap_err();
        assert!(err.message.contains("alias bomb"), "{err:?}");
        assert_eq!(err.at.line, 5, "the first alias past the budget: {err:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
        // The budget is per document: modest copying in many documents is fine.
        let modest = "base: &b {x: 1, y: 2}\nuse: [*b, *b, *b]\n";
        assert_eq!(parse_documents(&[modest; 3].join("---\n")).unwrap().len(), 3);
    }

    /// What go-yaml (kubectl's reader) takes and a strict YAML 1.2 reader refuses: a flow
    /// collection whose `]` sits at its key's indentation, or whose items sit left of it.
    #[test]
    fn a_flow_collection_may_close_at_its_keys_indentation() {
        let text = "containers:\n- name: a\n  command: [sh, -c,\n    \"sleep 30; exit 1\"\n  ]\n  image: x\n";
        let docs = parse_documents(text).unwrap();
        let Value::Seq(containers) = &docs[0].root.get("containers").unwrap().value else { panic!() };
        let Value::Seq(items) = &containers[0].get("command").unwrap().value else { panic!() };
        let words: Vec<_> = items.iter().map(|n| n.as_str().unwrap()).collect();
        assert_eq!(words, ["sh", "-c", "sleep 30; exit 1"]);
        // Positions are those of the file as written.
        assert_eq!(items[2].at, Location { line: 4, column: 5 });
        assert_eq!(containers[0].get("image").unwrap().at, Location { line: 6, column: 10 });
        let text = "a:\n  b: &x [one, {c: 1,\nd: [2,\n3]},\n # a comment\n'four',\n  five\n  ]\n  e: [f,\ng]\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(
            docs[0].root.to_json(),
            serde_json::json!({"a": {"b": ["one", {"c": 1, "d": [2, 3]}, "four", "five"], "e": ["f", "g"]}})
        );
        let b = docs[0].root.get("a").unwrap().get("b").unwrap();
        let Value::Seq(items) = &b.value else { panic!() };
        assert_eq!(items[2].at, Location { line: 6, column: 1 });
        // A real error after a repaired line is still reported where it is.
        let err = parse_documents("a:\n  b: [x,\n  ]\n  b: 2\n").unwrap_err();
        assert_eq!((err.at, err.message.as_str()), (Location { line: 4, column: 3 }, "duplicate key \"b\""));
        let err = parse_documents("a:\n  b: [x,\ny\n  c: 2\n").unwrap_err();
        assert_eq!(err.at.line, 4, "{err:?}");
    }

    /// Argo's test/e2e/crds/istio.yaml: a quoted scalar's continuation lines indented less than
    /// its key. Indentation is never part of a folded quoted scalar, so kubectl reads it.
    #[test]
    fn a_quoted_scalars_continuation_lines_may_be_indented_less_than_its_key() {
        let text = "items:\n    - description: 'CreationTimestamp is a timestamp\n      representing the server time\n    when this object was created.'\n      jsonPath: .metadata.creationTimestamp\n";
        let docs = parse_documents(text).unwrap();
        let Value::Seq(items) = &docs[0].root.get("items").unwrap().value else { panic!() };
        assert_eq!(
            items[0].get("description").unwrap().as_str(),
            Some("CreationTimestamp is a timestamp representing the server time when this object was created.")
        );
        assert_eq!(items[0].get("jsonPath").unwrap().at, Location { line: 5, column: 17 });
        let text = "a:\n  b: \"one\n two \\\n three\"\n  c: 1\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs[0].root.to_json(), serde_json::json!({"a": {"b": "one two three", "c": 1}}));
        // Content at column 1 is part of the scalar too; a document marker inside it is refused,
        // as go-yaml refuses it.
        let docs = parse_documents("a:\n  b: 'one\nc: two'\n").unwrap();
        assert_eq!(docs[0].root.to_json(), serde_json::json!({"a": {"b": "one c: two"}}));
        let err = parse_documents("a:\n  b: 'one\n---\n'\n").unwrap_err();
        assert_eq!(err.at, Location { line: 2, column: 6 }, "{err:?}");
    }

    /// A repair reads the text again from the document that failed; the documents before it
    /// are kept, and so are the problems found in them.
    #[test]
    fn repairs_keep_earlier_documents_and_their_problems() {
        let text = "a: 1\n---\nb: [x,\nw]\nc: 'one\ntwo'\n---\n# c\nd: [z,\n]\n";
        let docs = parse_documents(text).unwrap();
        let json: Vec<_> = docs.iter().map(|d| d.root.to_json()).collect();
        assert_eq!(
            json,
            [
                serde_json::json!({"a": 1}),
                serde_json::json!({"b": ["x", "w"], "c": "one two"}),
                serde_json::json!({"d": ["z"]})
            ]
        );
        assert_eq!(docs[2].root.get("d").unwrap().at, Location { line: 9, column: 4 });
        let err = parse_documents("a: 1\na: 2\n---\nb: [x,\ny]\n").unwrap_err();
        assert_eq!((err.at, err.message.as_str()), (Location { line: 2, column: 1 }, "duplicate key \"a\""));
        let err = parse_documents("a: [x,\ny]\n---\nb: [x,\ny]\nb: 2\n").unwrap_err();
        assert_eq!((err.at, err.message.as_str()), (Location { line: 6, column: 1 }, "duplicate key \"b\""));
    }

    /// YAML 1.1's booleans, as go-yaml v2 (sigs.k8s.io/yaml, so kubectl) resolves them, and
    /// the words in other cases stay strings as there.
    #[test]
    fn yaml_1_1_booleans_read_as_kubectl_reads_them() {
        for (text, expected) in [
            ("y", true),
            ("Y", true),
            ("yes", true),
            ("Yes", true),
            ("YES", true),
            ("on", true),
            ("On", true),
            ("ON", true),
            ("n", false),
            ("N", false),
            ("no", false),
            ("No", false),
            ("NO", false),
            ("off", false),
            ("Off", false),
            ("OFF", false),
        ] {
            assert_eq!(resolve_scalar(text, ScalarStyle::Plain, None), Ok(Value::Bool(expected)), "{text}");
            assert_eq!(resolve_scalar(text, ScalarStyle::Plain, Some("bool")), Ok(Value::Bool(expected)), "{text}");
            assert_eq!(resolve_scalar(text, ScalarStyle::SingleQuoted, None), Ok(Value::String(text.into())));
        }
        for text in ["yEs", "oN", "oFF", "nO", "yes!", "enabled"] {
            assert_eq!(resolve_scalar(text, ScalarStyle::Plain, None), Ok(Value::String(text.into())), "{text}");
        }
        // A boolean key is named as sigs.k8s.io/yaml turns go-yaml's key into JSON: `on` and
        // `y` become "true", `off` "false".
        let docs = parse_documents("on: push\ny: 1\noff: 2\n").unwrap_err();
        assert_eq!(docs.message, "duplicate key \"true\"");
        let docs = parse_documents("on: push\noff: 2\n").unwrap();
        assert_eq!(docs[0].root.to_json(), serde_json::json!({"true": "push", "false": 2}));
    }

    #[test]
    fn numbers_follow_the_core_schema() {
        assert_eq!(resolve_scalar("0x1f", ScalarStyle::Plain, None), Ok(Value::Int(31)));
        assert_eq!(resolve_scalar("1e3", ScalarStyle::Plain, None), Ok(Value::Float(1000.0)));
        assert_eq!(resolve_scalar("5m", ScalarStyle::Plain, None), Ok(Value::String("5m".into())));
        assert_eq!(resolve_scalar("1.2.3", ScalarStyle::Plain, None), Ok(Value::String("1.2.3".into())));
        assert_eq!(resolve_scalar("-7", ScalarStyle::Plain, None), Ok(Value::Int(-7)));
    }
}

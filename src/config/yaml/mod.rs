//! A serde deserializer over saphyr's span-keeping YAML tree.
//!
//! serde_norway reports positions for syntax and type errors only; semantic checks
//! (an undefined property group, a bad regex, a default of the wrong type) need the
//! position of any key path after the fact. So the file is parsed once by saphyr, which
//! keeps a span on every node; the typed structs are deserialized straight from that
//! tree, every error carrying the key path and position of the node that failed; and
//! [`Spans`] maps key paths back to positions for the checks that run afterwards.
//!
//! Error wording is chosen here rather than left to serde's defaults, so that a person
//! reads `expected a number, found "zero"` instead of `invalid type: string, expected f64`.

use std::collections::HashMap;
use std::fmt;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde::de::{self, DeserializeOwned, Expected, Unexpected};

use node::Node;

mod node;

/// A problem at a key path and position (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Located {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

/// The deserializer's error: a reason, located by the innermost node that saw it.
#[derive(Debug)]
pub(crate) struct DeError {
    reason: String,
    pub(super) at: Option<(String, usize, usize)>,
}

impl DeError {
    pub(super) fn new(reason: String) -> Self {
        Self { reason, at: None }
    }

    fn into_located(self) -> Located {
        let (path, line, column) = self.at.unwrap_or_default();
        Located {
            path,
            line,
            column,
            reason: self.reason,
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Self::new(format!(
            "expected {exp}, found {}",
            describe_unexpected(&unexp)
        ))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Self::new(format!(
            "expected {exp}, found {}",
            describe_unexpected(&unexp)
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::new(unknown("key", field, expected))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(unknown("value", variant, expected))
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(format!("missing required key \"{field}\""))
    }
}

/// `unknown key "unitt" (did you mean "unit"?)`, or the list of what is allowed.
pub(crate) fn unknown(what: &str, word: &str, expected: &[&str]) -> String {
    match crate::text::did_you_mean(word, expected.iter().copied(), 3) {
        Some(best) => format!("unknown {what} \"{word}\" (did you mean \"{best}\"?)"),
        None if expected.is_empty() => format!("unknown {what} \"{word}\""),
        None => format!(
            "unknown {what} \"{word}\" (expected one of: {})",
            expected.join(", ")
        ),
    }
}

fn describe_unexpected(u: &Unexpected<'_>) -> String {
    match u {
        Unexpected::Str(s) => format!("{s:?}"),
        Unexpected::Signed(i) => i.to_string(),
        Unexpected::Unsigned(i) => i.to_string(),
        Unexpected::Float(x) => x.to_string(),
        Unexpected::Bool(b) => b.to_string(),
        Unexpected::Unit => "null".to_owned(),
        Unexpected::Seq => "a list".to_owned(),
        Unexpected::Map => "a mapping".to_owned(),
        other => other.to_string(),
    }
}

/// Key path → position of the node at that path, for checks after deserialization.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Spans {
    at: HashMap<String, (usize, usize)>,
}

impl Spans {
    fn index(node: &MarkedYaml<'_>, path: &str, at: &mut HashMap<String, (usize, usize)>) {
        at.insert(path.to_owned(), position(node));
        match &node.data {
            YamlData::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    Self::index(item, &format!("{path}[{i}]"), at);
                }
            }
            YamlData::Mapping(map) => {
                for (k, v) in map {
                    Self::index(v, &join(path, &key_text(k)), at);
                }
            }
            YamlData::Tagged(_, inner) => Self::index(inner, path, at),
            _ => {}
        }
    }

    /// The position of `path`, or of its nearest ancestor that exists.
    pub fn position(&self, path: &str) -> (usize, usize) {
        let mut p = path;
        loop {
            if let Some(&pos) = self.at.get(p) {
                return pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return self.at.get("").copied().unwrap_or((1, 1)),
            }
        }
    }

    /// A [`Located`] problem at `path`.
    pub fn locate(&self, path: impl Into<String>, reason: impl Into<String>) -> Located {
        let path = path.into();
        let (line, column) = self.position(&path);
        Located {
            path,
            line,
            column,
            reason: reason.into(),
        }
    }
}

/// `a.b` from `a` and `b`; the top level has the empty path.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn position(node: &MarkedYaml<'_>) -> (usize, usize) {
    (node.span.start.line(), node.span.start.col() + 1)
}

pub(super) fn resolve<'a, 'i>(mut node: &'a MarkedYaml<'i>) -> &'a MarkedYaml<'i> {
    while let YamlData::Tagged(_, inner) = &node.data {
        node = inner;
    }
    node
}

/// A scalar as text, for mapping keys (`404:` is a key like any other).
pub(super) fn key_text(node: &MarkedYaml<'_>) -> String {
    match &resolve(node).data {
        YamlData::Value(Scalar::String(s)) => s.to_string(),
        YamlData::Value(Scalar::Integer(i)) => i.to_string(),
        YamlData::Value(Scalar::FloatingPoint(x)) => x.to_string(),
        YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
        YamlData::Value(Scalar::Null) => "null".to_owned(),
        YamlData::Representation(s, ..) => s.to_string(),
        _ => "?".to_owned(),
    }
}

/// Loads one YAML document, keeping spans.
pub(crate) fn load(text: &str) -> Result<MarkedYaml<'_>, Located> {
    let mut docs = MarkedYaml::load_from_str(text).map_err(|e| Located {
        path: String::new(),
        line: e.marker().line(),
        column: e.marker().col() + 1,
        reason: format!("not valid YAML: {}", e.info()),
    })?;
    match docs.len() {
        0 => Err(Located {
            path: String::new(),
            line: 1,
            column: 1,
            reason: "the file is empty".to_owned(),
        }),
        1 => Ok(docs.remove(0)),
        _ => {
            let (line, column) = position(&docs[1]);
            Err(Located {
                path: String::new(),
                line,
                column,
                reason: "expected one YAML document, found several".to_owned(),
            })
        }
    }
}

/// Deserializes `node`, found at key path `path`, into `T`.
pub(crate) fn deserialize_at<T: DeserializeOwned>(
    node: &MarkedYaml<'_>,
    path: &str,
) -> Result<T, Located> {
    T::deserialize(Node::new(node, path.to_owned(), false)).map_err(DeError::into_located)
}

/// One entry of a mapping: the key as text, the key's position, the value.
pub(crate) type Entry<'a, 'i> = (String, (usize, usize), &'a MarkedYaml<'i>);

/// The entries of a mapping node (keys as text, in file order) with the position of
/// each key; `None` if the node is not a mapping.
pub(crate) fn entries<'a, 'i>(node: &'a MarkedYaml<'i>) -> Option<Vec<Entry<'a, 'i>>> {
    match &resolve(node).data {
        YamlData::Mapping(map) => Some(
            map.iter()
                .map(|(k, v)| (key_text(k), position(k), v))
                .collect(),
        ),
        _ => None,
    }
}

/// The key-path index of a loaded document.
pub(crate) fn spans(root: &MarkedYaml<'_>) -> Spans {
    let mut at = HashMap::new();
    Spans::index(root, "", &mut at);
    Spans { at }
}

/// Parses one YAML document into `T`, with spans for later checks.
pub(crate) fn parse<T: DeserializeOwned>(text: &str) -> Result<(T, Spans), Located> {
    let root = load(text)?;
    let value = deserialize_at::<T>(&root, "")?;
    Ok((value, spans(&root)))
}

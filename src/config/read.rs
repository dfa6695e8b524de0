//! Typed reading of the YAML tree: every accessor reports what is wrong with a field (with its
//! line and dotted path) into a [`Sink`] and returns `None`, so loading goes on and collects every
//! problem. Keys that nobody asked for become debug notes ("ignored").

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::problem::Problem;
use super::syntax;
use super::yaml::{Entry, Node, Value};

/// Where reports about one object go: its file and its `Kind/name`.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub file: Arc<str>,
    pub object: String,
}

/// Everything reported while loading.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub problems: Vec<Problem>,
    pub notes: Vec<Problem>,
    /// Files named by the configuration that were read (see `Config::referenced_files`).
    pub referenced: Vec<std::path::PathBuf>,
}

impl Sink {
    pub fn error(&mut self, origin: &Origin, line: usize, field: &str, reason: impl Into<String>) {
        self.problems
            .push(problem(origin, line, field, reason.into()));
    }

    pub fn note(&mut self, origin: &Origin, line: usize, field: &str, reason: impl Into<String>) {
        self.notes.push(problem(origin, line, field, reason.into()));
    }
}

fn problem(origin: &Origin, line: usize, field: &str, reason: String) -> Problem {
    Problem {
        file: origin.file.to_string(),
        line,
        object: origin.object.clone(),
        field: if field.is_empty() {
            "-".into()
        } else {
            field.into()
        },
        reason,
    }
}

/// A place in a document: line and dotted field path, kept for reports made after loading.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Loc {
    pub line: usize,
    pub path: String,
}

/// The reading context of one document.
pub(crate) struct Cx<'s> {
    pub sink: &'s mut Sink,
    pub origin: Origin,
}

impl Cx<'_> {
    pub fn error(&mut self, line: usize, field: &str, reason: impl Into<String>) {
        self.sink.error(&self.origin, line, field, reason);
    }

    pub fn error_at(&mut self, loc: &Loc, reason: impl Into<String>) {
        self.sink.error(&self.origin, loc.line, &loc.path, reason);
    }

    pub fn note(&mut self, line: usize, field: &str, reason: impl Into<String>) {
        self.sink.note(&self.origin, line, field, reason);
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The entries of one mapping, with a record of which ones were read.
pub(crate) struct Fields<'n> {
    entries: &'n [Entry],
    used: Vec<bool>,
    pub path: String,
    pub line: usize,
}

static EMPTY: [Entry; 0] = [];

impl<'n> Fields<'n> {
    /// The mapping at `node` (null reads as an empty mapping); reports anything else.
    pub fn of(cx: &mut Cx, node: &'n Node, line: usize, path: String) -> Option<Fields<'n>> {
        let entries: &'n [Entry] = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => &EMPTY,
            other => {
                cx.error(
                    line,
                    &path,
                    format!("expected a mapping, found {}", other.type_name()),
                );
                return None;
            }
        };
        Some(Fields {
            entries,
            used: vec![false; entries.len()],
            path,
            line,
        })
    }

    /// The value of `key`, marking it read. A null value counts as absent.
    pub fn get(&mut self, key: &str) -> Option<At<'n>> {
        let i = self.entries.iter().position(|e| e.key == key)?;
        self.used[i] = true;
        let e = &self.entries[i];
        if e.value.value == Value::Null {
            return None;
        }
        Some(At {
            line: e.key_line,
            node: &e.value,
            path: join(&self.path, &e.key),
        })
    }

    /// Like [`get`](Self::get), reporting a missing field.
    pub fn req(&mut self, cx: &mut Cx, key: &str) -> Option<At<'n>> {
        let f = self.get(key);
        if f.is_none() {
            cx.error(
                self.line,
                &join(&self.path, key),
                "required field is missing",
            );
        }
        f
    }

    /// Marks `key` read without using it (for fields that are deliberately and silently skipped).
    pub fn skip(&mut self, key: &str) {
        if let Some(i) = self.entries.iter().position(|e| e.key == key) {
            self.used[i] = true;
        }
    }

    /// Reports a field that h2edge refuses (it would change behaviour if silently ignored).
    /// An empty list or mapping is accepted. Returns whether it reported.
    pub fn refuse(&mut self, cx: &mut Cx, key: &str, reason: &str) -> bool {
        if let Some(f) = self.get(key) {
            let empty = match &f.node.value {
                Value::Seq(v) => v.is_empty(),
                Value::Map(m) => m.is_empty(),
                _ => false,
            };
            if !empty {
                cx.error(f.line, &f.path, reason);
                return true;
            }
        }
        false
    }

    /// Notes every key that was not read.
    pub fn finish(self, cx: &mut Cx) {
        for (e, used) in self.entries.iter().zip(&self.used) {
            if !used {
                cx.note(
                    e.key_line,
                    &join(&self.path, &e.key),
                    "ignored (not used by h2edge)",
                );
            }
        }
    }
}

/// A field value together with its full path, ready for typed reading.
pub(crate) struct At<'n> {
    pub line: usize,
    pub node: &'n Node,
    pub path: String,
}

impl<'n> At<'n> {
    pub fn loc(&self) -> Loc {
        Loc {
            line: self.line,
            path: self.path.clone(),
        }
    }

    fn wrong(&self, cx: &mut Cx, expected: &str) {
        let found = self.node.value.type_name();
        let hint = match (&self.node.value, expected) {
            (Value::Int(_) | Value::Float(_) | Value::Bool(_), "a string") => {
                " (quote it to make it a string)"
            }
            (Value::Str(_), "an integer") => " (remove the quotes)",
            _ => "",
        };
        cx.error(
            self.line,
            &self.path,
            format!("expected {expected}, found {found}{hint}"),
        );
    }

    pub fn str(&self, cx: &mut Cx) -> Option<String> {
        match &self.node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.wrong(cx, "a string");
                None
            }
        }
    }

    /// A string that must not be empty.
    pub fn nonempty(&self, cx: &mut Cx) -> Option<String> {
        let s = self.str(cx)?;
        if s.is_empty() {
            cx.error(self.line, &self.path, "must not be empty");
            return None;
        }
        Some(s)
    }

    pub fn int(&self, cx: &mut Cx, min: i64, max: i64) -> Option<i64> {
        match &self.node.value {
            Value::Int(i) if (min..=max).contains(i) => Some(*i),
            Value::Int(i) => {
                cx.error(
                    self.line,
                    &self.path,
                    format!("{i} is out of range {min}..={max}"),
                );
                None
            }
            Value::BigInt(s) => {
                cx.error(
                    self.line,
                    &self.path,
                    format!("{s} is out of range {min}..={max}"),
                );
                None
            }
            _ => {
                self.wrong(cx, "an integer");
                None
            }
        }
    }

    pub fn u32(&self, cx: &mut Cx, min: u32, max: u32) -> Option<u32> {
        self.int(cx, min.into(), max.into())
            .and_then(|i| u32::try_from(i).ok())
    }

    pub fn port(&self, cx: &mut Cx) -> Option<u16> {
        self.int(cx, 1, 65535).and_then(|i| u16::try_from(i).ok())
    }

    pub fn bool(&self, cx: &mut Cx) -> Option<bool> {
        match &self.node.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.wrong(cx, "a boolean (true or false)");
                None
            }
        }
    }

    pub fn map(&self, cx: &mut Cx) -> Option<Fields<'n>> {
        Fields::of(cx, self.node, self.line, self.path.clone())
    }

    /// The items of a list, each with its `path[i]`.
    pub fn seq(&self, cx: &mut Cx) -> Option<Vec<At<'n>>> {
        match &self.node.value {
            Value::Seq(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, node)| At {
                        line: node.line,
                        node,
                        path: format!("{}[{i}]", self.path),
                    })
                    .collect(),
            ),
            _ => {
                self.wrong(cx, "a list");
                None
            }
        }
    }

    /// A list with at most `max` items.
    pub fn seq_max(&self, cx: &mut Cx, max: usize) -> Option<Vec<At<'n>>> {
        let items = self.seq(cx)?;
        if items.len() > max {
            cx.error(
                self.line,
                &self.path,
                format!("at most {max} items are allowed, found {}", items.len()),
            );
        }
        Some(items)
    }

    /// A list of strings.
    pub fn strings(&self, cx: &mut Cx) -> Option<Vec<(String, Loc)>> {
        let items = self.seq(cx)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(s) = item.str(cx) {
                out.push((s, item.loc()));
            }
        }
        Some(out)
    }

    /// A `string: string` mapping, such as labels.
    pub fn string_map(&self, cx: &mut Cx) -> Option<BTreeMap<String, String>> {
        let Value::Map(entries) = &self.node.value else {
            self.wrong(cx, "a mapping");
            return None;
        };
        let mut out = BTreeMap::new();
        for e in entries {
            let at = At {
                line: e.key_line,
                node: &e.value,
                path: join(&self.path, &e.key),
            };
            if let Some(v) = at.str(cx) {
                out.insert(e.key.clone(), v);
            }
        }
        Some(out)
    }

    /// A Gateway API `Duration` (`^([0-9]{1,5}(h|m|s|ms)){1,4}$`).
    pub fn gateway_duration(&self, cx: &mut Cx) -> Option<Duration> {
        let s = self.str(cx)?;
        match syntax::gateway_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.error(self.line, &self.path, e);
                None
            }
        }
    }

    /// An Istio (protobuf/Go) duration such as `10s`, `1.5s`, `1h30m`, `100ms`.
    pub fn istio_duration(&self, cx: &mut Cx) -> Option<Duration> {
        let s = self.str(cx)?;
        match syntax::go_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.error(self.line, &self.path, e);
                None
            }
        }
    }
}

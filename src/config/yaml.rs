//! A small YAML tree with line numbers, built from `saphyr-parser` events.
//!
//! We build our own tree (instead of using a DOM crate) for four reasons: every mapping key keeps
//! its own line, so errors point at the offending field; duplicate keys are reported instead of
//! silently overwritten; alias expansion is bounded (no "billion laughs"); and nesting depth is
//! bounded, so neither building nor dropping the tree can overflow the stack.
//!
//! Plain scalars are resolved with the YAML 1.2 core schema (`null`, `true`, `42`, `0x2a`, `1.5`);
//! quoted and block scalars are always strings, as is anything tagged `!!str`.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

/// Deeper nesting than this is refused (real configs nest about 10 levels).
pub const MAX_DEPTH: usize = 128;
/// At most this many nodes per file, counting the copies that aliases make.
pub const MAX_NODES: usize = 1_000_000;

/// One YAML node and the line (1-based) where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer that does not fit in 64 bits (kept as written).
    BigInt(String),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A mapping entry: the key (always a scalar, kept as text) with its line, and the value.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_line: usize,
    pub value: Node,
}

impl Value {
    /// What a user would call this kind of value, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::BigInt(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// One document of a multi-document stream.
#[derive(Debug)]
pub struct Document {
    /// 1-based index in its file.
    pub index: usize,
    /// Line of the document's first content (its root node).
    pub line: usize,
    pub root: Node,
}

/// A problem found while reading the YAML text itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    /// 1-based index of the document it is in.
    pub document: usize,
    pub message: String,
}

/// Every complete document, plus the problems found on the way. A scanner error ends the stream
/// (documents completed before it are kept); tree problems (duplicate key, complex key) do not.
#[derive(Debug, Default)]
pub struct Parsed {
    pub documents: Vec<Document>,
    pub errors: Vec<SyntaxError>,
    /// True when the stream could not be read to its end.
    pub truncated: bool,
}

enum Frame {
    Seq {
        line: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        line: usize,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, usize)>,
        seen: HashSet<String>,
    },
}

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    doc_index: usize,
    doc_line: usize,
    root: Option<Node>,
    parsed: Parsed,
}

/// Parses a whole file.
pub fn parse(src: &str) -> Parsed {
    // The parser is third-party code fed by users: a panic in it becomes a reported problem.
    match std::panic::catch_unwind(|| parse_inner(src)) {
        Ok(parsed) => parsed,
        Err(_) => Parsed {
            documents: Vec::new(),
            errors: vec![SyntaxError {
                line: 1,
                document: 1,
                message: "YAML parser failed on this file (internal error)".into(),
            }],
            truncated: true,
        },
    }
}

fn parse_inner(src: &str) -> Parsed {
    let mut b = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        doc_index: 0,
        doc_line: 1,
        root: None,
        parsed: Parsed::default(),
    };
    let mut parser = Parser::new_from_str(src);
    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                b.fail(
                    e.marker().line().max(1),
                    format!("YAML syntax error: {}", e.info()),
                );
                break;
            }
        };
        let line = span.start.line().max(1);
        let ok = match event {
            Event::StreamStart | Event::Nothing => true,
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                b.doc_index += 1;
                b.doc_line = line;
                b.stack.clear();
                b.anchors.clear();
                b.root = None;
                true
            }
            Event::DocumentEnd => {
                if let Some(root) = b.root.take() {
                    // A document "starts" at its first content line (not at a `---` above it).
                    let line = if root.value == Value::Null {
                        b.doc_line
                    } else {
                        root.line
                    };
                    b.parsed.documents.push(Document {
                        index: b.doc_index,
                        line,
                        root,
                    });
                }
                true
            }
            Event::Alias(id) => match b.anchors.get(&id) {
                Some(node) => {
                    let size = count_nodes(node);
                    if b.nodes.saturating_add(size) > MAX_NODES {
                        b.fail(
                            line,
                            format!("aliases expand to more than {MAX_NODES} nodes"),
                        );
                        false
                    } else {
                        b.nodes += size;
                        let node = Node {
                            line,
                            value: node.value.clone(),
                        };
                        b.add(node, 0)
                    }
                }
                None => {
                    b.fail(line, "alias refers to an unknown anchor".into());
                    false
                }
            },
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve_scalar(&text, style, tag.as_deref());
                b.add(Node { line, value }, anchor)
            }
            Event::SequenceStart(anchor, _) => b.open(Frame::Seq {
                line,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => b.open(Frame::Map {
                line,
                anchor,
                entries: Vec::new(),
                key: None,
                seen: HashSet::new(),
            }),
            Event::SequenceEnd | Event::MappingEnd => match b.stack.pop() {
                Some(Frame::Seq {
                    line,
                    anchor,
                    items,
                }) => b.add(
                    Node {
                        line,
                        value: Value::Seq(items),
                    },
                    anchor,
                ),
                Some(Frame::Map {
                    line,
                    anchor,
                    entries,
                    ..
                }) => b.add(
                    Node {
                        line,
                        value: Value::Map(entries),
                    },
                    anchor,
                ),
                None => true,
            },
        };
        if !ok {
            break;
        }
    }
    b.parsed
}

impl Builder {
    fn fail(&mut self, line: usize, message: String) {
        self.parsed.errors.push(SyntaxError {
            line,
            document: self.doc_index.max(1),
            message,
        });
        self.parsed.truncated = true;
    }

    fn open(&mut self, frame: Frame) -> bool {
        if self.stack.len() >= MAX_DEPTH {
            let line = match &frame {
                Frame::Seq { line, .. } | Frame::Map { line, .. } => *line,
            };
            self.fail(line, format!("nesting deeper than {MAX_DEPTH} levels"));
            return false;
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.fail(1, format!("more than {MAX_NODES} nodes"));
            return false;
        }
        self.stack.push(frame);
        true
    }

    /// Adds a finished node to its parent (or makes it the document root).
    fn add(&mut self, node: Node, anchor: usize) -> bool {
        if !matches!(node.value, Value::Seq(_) | Value::Map(_)) {
            self.nodes += 1;
            if self.nodes > MAX_NODES {
                self.fail(node.line, format!("more than {MAX_NODES} nodes"));
                return false;
            }
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let doc = self.doc_index.max(1);
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries, key, seen, ..
            }) => match key.take() {
                Some((k, key_line)) => entries.push(Entry {
                    key: k,
                    key_line,
                    value: node,
                }),
                None => {
                    let text = match node.value {
                        Value::Null => String::new(),
                        Value::Bool(b) => b.to_string(),
                        Value::Int(i) => i.to_string(),
                        Value::BigInt(s) | Value::Str(s) => s,
                        Value::Float(f) => f.to_string(),
                        Value::Seq(_) | Value::Map(_) => {
                            self.parsed.errors.push(SyntaxError {
                                line: node.line,
                                document: doc,
                                message:
                                    "a mapping key must be a plain value, not a list or a mapping"
                                        .into(),
                            });
                            // Keep the structure consistent: the value that follows is dropped.
                            "\u{0}complex".into()
                        }
                    };
                    if !seen.insert(text.clone()) && !text.starts_with('\u{0}') {
                        self.parsed.errors.push(SyntaxError {
                            line: node.line,
                            document: doc,
                            message: format!("duplicate key {text:?}"),
                        });
                    }
                    *key = Some((text, node.line));
                }
            },
        }
        true
    }
}

/// Nodes in a subtree (iterative, so deep trees cannot overflow the stack).
fn count_nodes(node: &Node) -> usize {
    let mut n = 0usize;
    let mut todo = vec![node];
    while let Some(node) = todo.pop() {
        n += 1;
        match &node.value {
            Value::Seq(items) => todo.extend(items.iter()),
            Value::Map(entries) => todo.extend(entries.iter().map(|e| &e.value)),
            _ => {}
        }
    }
    n
}

fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag {
        if tag.is_yaml_core_schema() || tag.handle == "!!" {
            match tag.suffix.as_str() {
                "str" => return Value::Str(text.to_string()),
                "null" => return Value::Null,
                _ => {}
            }
        }
    }
    if style != ScalarStyle::Plain {
        return Value::Str(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(v) = parse_int(text) {
        return v;
    }
    if is_float(text) {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text.to_string())
}

fn parse_int(text: &str) -> Option<Value> {
    let (digits, radix) = if let Some(h) = text.strip_prefix("0x") {
        (h, 16)
    } else if let Some(o) = text.strip_prefix("0o") {
        (o, 8)
    } else {
        (text, 10)
    };
    let body = if radix == 10 {
        digits.strip_prefix(['-', '+']).unwrap_or(digits)
    } else {
        digits
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(match i64::from_str_radix(digits, radix) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::BigInt(text.to_string()),
    })
}

/// YAML 1.2 core schema float: `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_float(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - s;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Node {
        let p = parse(src);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        p.documents
            .into_iter()
            .next()
            .map(|d| d.root)
            .unwrap_or(Node {
                line: 0,
                value: Value::Null,
            })
    }

    #[test]
    fn lines_of_keys_and_values() {
        let n = one("a: 1\nb:\n  c: x\n  d: [1, 2]\n");
        let Value::Map(e) = n.value else { panic!() };
        assert_eq!((e[0].key.as_str(), e[0].key_line), ("a", 1));
        assert_eq!((e[1].key.as_str(), e[1].key_line), ("b", 2));
        let Value::Map(inner) = &e[1].value.value else {
            panic!()
        };
        assert_eq!(inner[1].key_line, 4);
        assert_eq!(e[1].value.line, 3);
    }

    #[test]
    fn core_schema_scalars() {
        let n = one("[1, '1', 0x10, 1.5, true, ~, -7, 99999999999999999999999, abc, !!str 5]");
        let Value::Seq(v) = n.value else { panic!() };
        let vals: Vec<_> = v.into_iter().map(|n| n.value).collect();
        assert_eq!(vals[0], Value::Int(1));
        assert_eq!(vals[1], Value::Str("1".into()));
        assert_eq!(vals[2], Value::Int(16));
        assert_eq!(vals[3], Value::Float(1.5));
        assert_eq!(vals[4], Value::Bool(true));
        assert_eq!(vals[5], Value::Null);
        assert_eq!(vals[6], Value::Int(-7));
        assert!(matches!(vals[7], Value::BigInt(_)));
        assert_eq!(vals[8], Value::Str("abc".into()));
        assert_eq!(vals[9], Value::Str("5".into()));
    }

    #[test]
    fn documents_and_lines() {
        let p = parse("a: 1\n---\nb: 2\n---\n# empty\n---\nc: 3\n");
        assert!(p.errors.is_empty());
        let lines: Vec<_> = p.documents.iter().map(|d| (d.index, d.line)).collect();
        assert_eq!(lines[0], (1, 1));
        assert_eq!(lines[1], (2, 3));
        assert_eq!(*lines.last().unwrap(), (4, 7));
    }

    #[test]
    fn duplicate_keys_and_syntax_errors() {
        let p = parse("a: 1\na: 2\n");
        assert_eq!(p.errors[0].line, 2);
        assert!(p.errors[0].message.contains("duplicate key"));
        let p = parse("a: 1\n---\nb: [1, 2\nc: 3\n");
        assert_eq!(p.documents.len(), 1);
        assert!(p.truncated);
        assert!(p.errors[0].message.starts_with("YAML syntax error"));
    }

    #[test]
    fn bounded_aliases_and_depth() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let p = parse(&s);
        assert!(
            p.errors
                .iter()
                .any(|e| e.message.contains("aliases expand"))
        );
        let deep = "[".repeat(100_000);
        let p = parse(&deep);
        assert!(!p.errors.is_empty());
        let mut block = String::new();
        for i in 0..300 {
            block.push_str(&" ".repeat(i));
            block.push_str("k:\n");
        }
        let p = parse(&block);
        assert!(p.errors.iter().any(|e| e.message.contains("nesting")));
    }
}

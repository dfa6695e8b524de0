//! One problem (or debug note) found in the configuration, printed as
//! `file:line: Kind/name: field.path: reason`.

use std::fmt;

/// A configuration problem, or (in [`crate::config::Config::notes`]) a debug note about something
/// ignored.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Problem {
    /// The file, as given on the command line (or as found in a given directory).
    pub file: String,
    /// 1-based line of the offending field; for a missing field, the line of the mapping that
    /// should hold it (the document start for top-level fields).
    pub line: usize,
    /// `Kind/name` (`Kind/namespace/name` outside the `default` namespace), `Kind/?` when the
    /// name is missing, or `document N` when even the kind is unknown; `-` for a whole file.
    pub object: String,
    /// Dotted field path such as `spec.listeners[0].port`; `-` for the whole document or file.
    pub field: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}: {}",
            self.file, self.line, self.object, self.field, self.reason
        )
    }
}

impl std::error::Error for Problem {}

/// The object name used in problems: `Kind/name`, or `Kind/namespace/name` outside `default`.
pub fn object_name(kind: &str, namespace: &str, name: &str) -> String {
    if namespace == "default" || namespace.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{namespace}/{name}")
    }
}

//! Configuration: Kubernetes Gateway API and Istio YAML, read without Kubernetes.
//!
//! [`load`] reads files (or directories of `*.yaml` / `*.yml`), each possibly holding several
//! documents, and returns the validated, immutable [`Config`] or every [`Problem`] found, each
//! printed as `file:line: Kind/name: field.path: reason`. [`check`] does the same and returns a
//! short [`Summary`]. See `docs/config.md` for the supported kinds and fields.
//!
//! Layout: [`yaml`] builds a positioned tree from parser events; `read` gives typed access that
//! reports problems; `load/` has one reader per kind; `validate` resolves references across
//! objects; [`model`] is the result; [`compile`] turns it into every runtime setting (route table,
//! balancers, listeners, upstream clusters), the one place where config becomes runtime.

pub mod compile;
mod load;
pub mod model;
mod problem;
mod read;
pub mod syntax;
mod validate;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use model::Config;
pub use problem::Problem;

use load::Loaded;
use read::Sink;

/// Reads and validates the configuration in `paths` (files or directories).
pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Config, Vec<Problem>> {
    let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
    let mut sink = Sink::default();
    let loaded = load::load_paths(&paths, &mut sink);
    finish(loaded, sink)
}

/// Reads and validates configuration text, as if it were the file `name` (relative file
/// references resolve against `name`'s directory).
pub fn load_str(name: &str, text: &str) -> Result<Config, Vec<Problem>> {
    let mut sink = Sink::default();
    let mut loaded = Loaded::default();
    let file: Arc<str> = Arc::from(name);
    let dir = Path::new(name)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    load::load_text(&file, &dir, text, &mut sink, &mut loaded);
    loaded.files.push(PathBuf::from(name));
    finish(loaded, sink)
}

/// Like [`load`], returning a summary of what was read.
pub fn check<P: AsRef<Path>>(paths: &[P]) -> Result<Summary, Vec<Problem>> {
    load(paths).map(|c| Summary::of(&c))
}

fn finish(loaded: Loaded, mut sink: Sink) -> Result<Config, Vec<Problem>> {
    let order: Vec<String> = loaded
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    // Files in the order read, lines in order; the same problem once.
    let rank = |f: &str| order.iter().position(|o| o == f).unwrap_or(usize::MAX);
    let tidy = |list: &mut Vec<Problem>| {
        list.sort_by_key(|p| (rank(&p.file), p.line));
        let mut seen = std::collections::HashSet::new();
        list.retain(|p| seen.insert(p.clone()));
    };
    let mut config = validate::resolve(loaded, &mut sink);
    if sink.problems.is_empty() {
        tidy(&mut config.notes);
        return Ok(config);
    }
    let mut problems = sink.problems;
    tidy(&mut problems);
    Err(problems)
}

/// What a valid configuration holds, for `h2edge check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub gateways: usize,
    pub listeners: usize,
    pub http_routes: usize,
    pub grpc_routes: usize,
    pub clusters: usize,
    /// Static endpoints over all clusters (DNS clusters count as zero).
    pub endpoints: usize,
    pub dns_clusters: usize,
    /// Notes (fields read but not acted on, ignored fields, deprecated spellings).
    pub notes: usize,
}

impl Summary {
    pub fn of(c: &Config) -> Summary {
        let mut endpoints = 0;
        let mut dns_clusters = 0;
        for cl in &c.clusters {
            match &cl.endpoints {
                model::Endpoints::Static(e) => endpoints += e.len(),
                model::Endpoints::Dns { .. } => dns_clusters += 1,
            }
        }
        Summary {
            files: c.files.len(),
            gateways: c.gateways.len(),
            listeners: c.gateways.iter().map(|g| g.listeners.len()).sum(),
            http_routes: c.http_routes.len(),
            grpc_routes: c.grpc_routes.len(),
            clusters: c.clusters.len(),
            endpoints,
            dns_clusters,
            notes: c.notes.len(),
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ok: {}, {} ({}), {}, {}, {} ({}",
            plural(self.files, "file", "files"),
            plural(self.gateways, "gateway", "gateways"),
            plural(self.listeners, "listener", "listeners"),
            plural(self.http_routes, "HTTPRoute", "HTTPRoutes"),
            plural(self.grpc_routes, "GRPCRoute", "GRPCRoutes"),
            plural(self.clusters, "cluster", "clusters"),
            plural(self.endpoints, "endpoint", "endpoints"),
        )?;
        if self.dns_clusters > 0 {
            write!(f, ", {} by DNS", self.dns_clusters)?;
        }
        write!(f, ")")?;
        if self.notes > 0 {
            write!(f, "; {} (below)", plural(self.notes, "note", "notes"))?;
        }
        Ok(())
    }
}

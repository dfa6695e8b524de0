//! The subcommands that read a configuration. Each `run` takes the arguments after its name and
//! returns the exit status, or a [`Usage`] error that `main` prints with the usage text.

pub mod check;
pub mod route;
pub mod run;

use h2edge::config::Problem;

/// A command line that cannot be run (exit status 2).
pub struct Usage(pub String);

/// Every problem on its own line, then how many there were in `paths`.
fn problems_report(problems: &[Problem], paths: &[String]) -> String {
    let mut out: String = problems.iter().map(|p| format!("{p}\n")).collect();
    let n = problems.len();
    out.push_str(&format!(
        "h2edge: {n} problem{} in {}",
        if n == 1 { "" } else { "s" },
        paths.join(" ")
    ));
    out
}

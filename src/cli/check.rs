//! `h2edge check CONFIG...`: validates a configuration without running it.

use std::process::ExitCode;

use h2edge::config;

use super::{Usage, problems_report};

pub fn run(args: &[String]) -> Result<ExitCode, Usage> {
    if let Some(flag) = args.iter().find(|a| a.starts_with('-')) {
        return Err(Usage(format!("check: unknown option {flag}")));
    }
    if args.is_empty() {
        return Err(Usage("check: no CONFIG given".into()));
    }
    match config::load(args) {
        Ok(config) => {
            println!("{}", config::Summary::of(&config));
            for note in &config.notes {
                println!("note: {note}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            eprintln!("{}", problems_report(&problems, args));
            Ok(ExitCode::FAILURE)
        }
    }
}

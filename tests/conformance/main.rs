//! HTTP/2 conformance suite for h2edge: every h2spec case (generic, http2, hpack groups), written
//! from RFC 9113 / RFC 7541, plus extra RFC cases and abuse-limit (DoS) cases.
//!
//! Each case is a libtest-mimic trial named `group::section::n description`, e.g.
//! `http2::6.5.3::1 Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE`, so
//! `cargo test --test conformance -- http2::6.5` runs one section and `-- --list` lists them all.
//!
//! By default every case drives `h2edge::h2::conn::Connection` in process. Set
//! `H2EDGE_CONFORMANCE_TARGET=host:port` to run the same cases against a live server over TCP
//! (h2c with prior knowledge); see `target.rs` for the other variables.
//! `H2EDGE_CONFORMANCE_TRACE=1` prints every case's frame trace (run with `--test-threads 1`);
//! `H2EDGE_CONFORMANCE_STRICT=1` also runs the cases that check a SHOULD (listed as ignored
//! otherwise).

mod cases;
mod expect;
mod hpack;
mod monitor;
mod peer;
mod selftest;
mod target;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use crate::peer::{CaseError, Peer, R};
use crate::target::Target;

fn main() {
    let args = Arguments::from_args();
    let target = Target::from_env();
    if !args.list {
        eprintln!("conformance target: {}", target.describe());
    }
    let mut trials = Vec::new();
    let strict = std::env::var("H2EDGE_CONFORMANCE_STRICT").is_ok_and(|v| v == "1");
    for case in cases::all() {
        let skip_here =
            (case.in_process_only && !target.is_in_process()) || (case.strict && !strict);
        let t = target.clone();
        let run = case.run;
        trials.push(
            Trial::ignorable_test(case.name(), move || run_case(&t, run))
                .with_ignored_flag(skip_here),
        );
    }
    trials.extend(selftest::trials());
    libtest_mimic::run(&args, trials).exit();
}

fn run_case(target: &Target, run: fn(&mut Peer) -> R) -> Result<Completion, Failed> {
    let transport = target.connect().map_err(Failed::from)?;
    let mut peer = Peer::new(
        transport,
        target.timeout,
        target.is_in_process(),
        target.authority(),
        target.scheme(),
    );
    let result = run(&mut peer);
    if std::env::var("H2EDGE_CONFORMANCE_TRACE").is_ok_and(|v| v == "1") {
        println!("\n    trace:{}", peer.trace_text());
    }
    // Whatever the case concluded, the server must not have broken the sender's rules.
    let violations = peer.violations();
    let broke = if violations.is_empty() {
        String::new()
    } else {
        let mut s = String::from("\n    the server violated RFC 9113 in its own frames:");
        for v in violations {
            s.push_str("\n      - ");
            s.push_str(v);
        }
        s
    };
    match result {
        Ok(()) if broke.is_empty() => Ok(Completion::Completed),
        Ok(()) => match peer.fail(broke.trim_start()) {
            CaseError::Fail(m) | CaseError::Skip(m) => Err(m.into()),
        },
        Err(CaseError::Skip(reason)) => Ok(Completion::ignored_with(reason)),
        Err(CaseError::Fail(msg)) => Err(format!("{msg}{broke}").into()),
    }
}

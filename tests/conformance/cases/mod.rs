//! The case registry. One file per group (or group of sections); each exports `cases()`.
//!
//! Groups:
//! - `generic`, `http2`, `hpack`: every h2spec case, same numbering as h2spec
//!   (`http2/6.5.3/1` is `http2::6.5.3::1`), expectations per RFC 9113 / RFC 7541 where they
//!   differ from h2spec (noted on the case).
//! - `rfc9113`, `rfc7541`: further RFC requirements h2spec does not check.
//! - `dos`: abuse limits (rapid reset, CONTINUATION flood, control-frame floods, empty frames,
//!   HPACK bomb, header list size).

use crate::peer::{Peer, R};

mod dos;
mod generic;
mod hpack_cases;
mod http2_frames;
mod http2_semantics;
mod http2_settings_flow;
mod http2_streams;
mod rfc_edge;
mod rfc_extra;

/// One conformance case.
pub struct Case {
    pub group: &'static str,
    pub section: &'static str,
    pub num: u32,
    pub desc: &'static str,
    pub run: fn(&mut Peer) -> R,
    /// Needs the in-process target (virtual clock, exact limits); ignored over sockets.
    pub in_process_only: bool,
    /// Checks a SHOULD, not a MUST (like h2spec's strict mode): ignored unless
    /// `H2EDGE_CONFORMANCE_STRICT=1`.
    pub strict: bool,
}

impl Case {
    pub fn name(&self) -> String {
        format!(
            "{}::{}::{} {}",
            self.group, self.section, self.num, self.desc
        )
    }

    pub fn in_process_only(mut self) -> Case {
        self.in_process_only = true;
        self
    }

    pub fn strict(mut self) -> Case {
        self.strict = true;
        self
    }
}

pub fn case(
    group: &'static str,
    section: &'static str,
    num: u32,
    desc: &'static str,
    run: fn(&mut Peer) -> R,
) -> Case {
    Case {
        group,
        section,
        num,
        desc,
        run,
        in_process_only: false,
        strict: false,
    }
}

pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(generic::cases());
    v.extend(http2_frames::cases());
    v.extend(http2_streams::cases());
    v.extend(http2_settings_flow::cases());
    v.extend(http2_semantics::cases());
    v.extend(hpack_cases::cases());
    v.extend(rfc_extra::cases());
    v.extend(rfc_edge::cases());
    v.extend(dos::cases());
    v
}
